//! The rollback policy (BOOTSTRAP.md, "Rollback policy"): whether a failed run may roll its
//! target back, and why — a pure function of the failure, the request's switches and
//! context, and the release ids `resolve` found. The reason strings are part of the API.
//!
//! Rules, first match wins:
//!
//! | # | condition | allowed | reason | target_valid |
//! |---|---|---|---|---|
//! | 1 | rollback switched off for this class | no | `rollback_disabled_for_<class>` | null |
//! | 2 | no rollback executor for the target | no | `rollback_executor_missing` | null |
//! | 3 | context `external` and no rollback target | no | `rollback_target_required_for_external_context` | false |
//! | 4 | no rollback target (context `self_hosted`) | yes | `rollback_target_unspecified` | null |
//! | 5 | target equals the deployed release | no | `rollback_target_same_as_deployed` | false |
//! | 6 | otherwise | yes | `rollback_target_validated` | true |
//!
//! The classes: `deploy_failure`, `restart_watchdog_failure`, `health_failure`, and
//! `guard_failure` (the post-deploy guard: the release did not hold after its gates).
//!
//! On top of the table, att caps consecutive automatic rollbacks of one target
//! ([`RollbackLimit`]): a target that keeps failing is left `failed` instead of being rolled
//! back forever.

use serde::{Deserialize, Serialize};

/// What failed, as the policy sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// Stopping the live release or starting the new one failed.
    DeployFailure,
    /// The new process did not stay up through the watch window.
    RestartWatchdogFailure,
    /// The health probe did not pass before the progress deadline.
    HealthFailure,
    /// After a passed health gate, the release did not hold through the post-deploy guard:
    /// it exited more often than allowed, crash-looped, or failed its probe too often in a
    /// row.
    GuardFailure,
}

impl FailureClass {
    /// `deploy_failure`, `restart_watchdog_failure`, `health_failure`, `guard_failure`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DeployFailure => "deploy_failure",
            Self::RestartWatchdogFailure => "restart_watchdog_failure",
            Self::HealthFailure => "health_failure",
            Self::GuardFailure => "guard_failure",
        }
    }
}

/// Where the target runs, for the policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeploymentContext {
    /// att manages the target: without a named release, it may restart the previous live one.
    #[default]
    SelfHosted,
    /// Someone else runs it: a rollback needs a named release.
    External,
}

/// The per-class switches of a request, with BOOTSTRAP.md's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct RollbackSwitches {
    /// Roll back after a `deploy_failure` (default false).
    pub rollback_on_deploy_failure: bool,
    /// Roll back after a `restart_watchdog_failure` (default true).
    pub rollback_on_restart_watchdog_failure: bool,
    /// Roll back after a `health_failure` (default true).
    pub rollback_on_health_failure: bool,
    /// Roll back after a `guard_failure` (default true).
    pub rollback_on_guard_failure: bool,
}

impl Default for RollbackSwitches {
    fn default() -> Self {
        Self {
            rollback_on_deploy_failure: false,
            rollback_on_restart_watchdog_failure: true,
            rollback_on_health_failure: true,
            rollback_on_guard_failure: true,
        }
    }
}

impl RollbackSwitches {
    /// The switch for `class`.
    pub fn allows(&self, class: FailureClass) -> bool {
        match class {
            FailureClass::DeployFailure => self.rollback_on_deploy_failure,
            FailureClass::RestartWatchdogFailure => self.rollback_on_restart_watchdog_failure,
            FailureClass::HealthFailure => self.rollback_on_health_failure,
            FailureClass::GuardFailure => self.rollback_on_guard_failure,
        }
    }
}

/// Everything the policy looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyInput<'a> {
    /// What failed.
    pub failure: FailureClass,
    /// The request's switches.
    pub switches: RollbackSwitches,
    /// Whether the target has a way to roll back (a process manager, the launcher).
    pub executor: bool,
    /// The request's context.
    pub context: DeploymentContext,
    /// The release that was being deployed.
    pub deployed: Option<&'a str>,
    /// The release to roll back to.
    pub target: Option<&'a str>,
}

/// The policy's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Decision {
    /// Whether to roll back.
    pub allowed: bool,
    /// Why (part of the API: see the module's table).
    pub reason: String,
    /// Whether the rollback target was checked and found usable (`None`: not checked).
    pub target_valid: Option<bool>,
}

impl Decision {
    fn new(allowed: bool, reason: impl Into<String>, target_valid: Option<bool>) -> Self {
        Self {
            allowed,
            reason: reason.into(),
            target_valid,
        }
    }
}

/// Evaluates the policy table, first match wins.
pub fn evaluate(input: &PolicyInput<'_>) -> Decision {
    // An empty id is no id (a request field sent as "").
    let target = input.target.filter(|t| !t.is_empty());
    let deployed = input.deployed.filter(|d| !d.is_empty());
    if !input.switches.allows(input.failure) {
        return Decision::new(
            false,
            format!("rollback_disabled_for_{}", input.failure.as_str()),
            None,
        );
    }
    if !input.executor {
        return Decision::new(false, "rollback_executor_missing", None);
    }
    match (target, input.context) {
        (None, DeploymentContext::External) => Decision::new(
            false,
            "rollback_target_required_for_external_context",
            Some(false),
        ),
        (None, DeploymentContext::SelfHosted) => {
            Decision::new(true, "rollback_target_unspecified", None)
        }
        (Some(t), _) if Some(t) == deployed => {
            Decision::new(false, "rollback_target_same_as_deployed", Some(false))
        }
        (Some(_), _) => Decision::new(true, "rollback_target_validated", Some(true)),
    }
}

/// Caps consecutive automatic rollbacks of one target: after `max` in a row without a
/// successful run in between, the next failure is not rolled back (reason
/// `rollback_limit_reached`) and the target is left `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollbackLimit {
    /// Automatic rollbacks allowed in a row.
    pub max: u32,
}

impl Default for RollbackLimit {
    fn default() -> Self {
        Self { max: 3 }
    }
}

impl RollbackLimit {
    /// `decision`, denied when `consecutive` automatic rollbacks already happened in a row.
    pub fn apply(&self, decision: Decision, consecutive: u32) -> Decision {
        if decision.allowed && consecutive >= self.max {
            Decision::new(false, "rollback_limit_reached", decision.target_valid)
        } else {
            decision
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DeploymentContext::{External, SelfHosted};
    use FailureClass::{DeployFailure, GuardFailure, HealthFailure, RestartWatchdogFailure};

    fn switches(deploy: bool, watchdog: bool, health: bool) -> RollbackSwitches {
        RollbackSwitches {
            rollback_on_deploy_failure: deploy,
            rollback_on_restart_watchdog_failure: watchdog,
            rollback_on_health_failure: health,
            rollback_on_guard_failure: true,
        }
    }

    /// One row: the input, then the expected (allowed, reason, target_valid).
    type Row = (
        &'static str,
        FailureClass,
        RollbackSwitches,
        bool,
        DeploymentContext,
        Option<&'static str>,
        Option<&'static str>,
        (bool, &'static str, Option<bool>),
    );

    #[test]
    fn every_rule_of_the_table_and_the_reference_scenarios() {
        let on = switches(true, true, true);
        let defaults = RollbackSwitches::default();
        let no_guard = RollbackSwitches {
            rollback_on_guard_failure: false,
            ..defaults
        };
        let rows: Vec<Row> = vec![
            // Rule 1, for each class; checked before the executor (reference §4.2 notes).
            (
                "1 guard switched off",
                GuardFailure,
                no_guard,
                false,
                SelfHosted,
                Some("r2"),
                Some("r1"),
                (false, "rollback_disabled_for_guard_failure", None),
            ),
            (
                "6 guard on by default",
                GuardFailure,
                defaults,
                true,
                SelfHosted,
                Some("r2"),
                Some("r1"),
                (true, "rollback_target_validated", Some(true)),
            ),
            (
                "5 guard: the target is the release that failed its guard",
                GuardFailure,
                defaults,
                true,
                SelfHosted,
                Some("r2"),
                Some("r2"),
                (false, "rollback_target_same_as_deployed", Some(false)),
            ),
            (
                "1 deploy off by default (scenario 10)",
                DeployFailure,
                defaults,
                true,
                SelfHosted,
                Some("r2"),
                Some("r1"),
                (false, "rollback_disabled_for_deploy_failure", None),
            ),
            (
                "1 watchdog switched off (scenario 18)",
                RestartWatchdogFailure,
                switches(false, false, true),
                true,
                SelfHosted,
                Some("r2"),
                Some("r1"),
                (
                    false,
                    "rollback_disabled_for_restart_watchdog_failure",
                    None,
                ),
            ),
            (
                "1 health switched off (scenario 25)",
                HealthFailure,
                switches(false, true, false),
                true,
                SelfHosted,
                None,
                None,
                (false, "rollback_disabled_for_health_failure", None),
            ),
            (
                "1 before 2: off and no executor",
                DeployFailure,
                defaults,
                false,
                External,
                None,
                None,
                (false, "rollback_disabled_for_deploy_failure", None),
            ),
            // Rule 2.
            (
                "2 no executor, health (scenario 26)",
                HealthFailure,
                defaults,
                false,
                SelfHosted,
                Some("r2"),
                Some("r1"),
                (false, "rollback_executor_missing", None),
            ),
            (
                "2 no executor, watchdog (scenario 26)",
                RestartWatchdogFailure,
                defaults,
                false,
                External,
                None,
                None,
                (false, "rollback_executor_missing", None),
            ),
            // Rule 3.
            (
                "3 external without target, deploy (scenario 12)",
                DeployFailure,
                on,
                true,
                External,
                Some("r2"),
                None,
                (
                    false,
                    "rollback_target_required_for_external_context",
                    Some(false),
                ),
            ),
            (
                "3 external without any id, health (scenario 24)",
                HealthFailure,
                defaults,
                true,
                External,
                None,
                None,
                (
                    false,
                    "rollback_target_required_for_external_context",
                    Some(false),
                ),
            ),
            (
                "3 an empty id is no id",
                HealthFailure,
                defaults,
                true,
                External,
                Some("r2"),
                Some(""),
                (
                    false,
                    "rollback_target_required_for_external_context",
                    Some(false),
                ),
            ),
            // Rule 4.
            (
                "4 self-hosted blind, deploy (scenario 11)",
                DeployFailure,
                on,
                true,
                SelfHosted,
                None,
                None,
                (true, "rollback_target_unspecified", None),
            ),
            (
                "4 self-hosted blind, watchdog (scenario 15)",
                RestartWatchdogFailure,
                defaults,
                true,
                SelfHosted,
                Some("r2"),
                None,
                (true, "rollback_target_unspecified", None),
            ),
            (
                "4 self-hosted blind, health (scenario 20)",
                HealthFailure,
                defaults,
                true,
                SelfHosted,
                None,
                None,
                (true, "rollback_target_unspecified", None),
            ),
            // Rule 5, in both contexts.
            (
                "5 same as deployed (scenario 23)",
                HealthFailure,
                defaults,
                true,
                SelfHosted,
                Some("release-5"),
                Some("release-5"),
                (false, "rollback_target_same_as_deployed", Some(false)),
            ),
            (
                "5 same as deployed, external",
                RestartWatchdogFailure,
                defaults,
                true,
                External,
                Some("r1"),
                Some("r1"),
                (false, "rollback_target_same_as_deployed", Some(false)),
            ),
            // Rule 6.
            (
                "6 explicit target, external (scenario 13)",
                DeployFailure,
                on,
                true,
                External,
                Some("r2"),
                Some("r1"),
                (true, "rollback_target_validated", Some(true)),
            ),
            (
                "6 watchdog with explicit rollback id (scenario 19)",
                RestartWatchdogFailure,
                defaults,
                true,
                SelfHosted,
                Some("r9"),
                Some("r7"),
                (true, "rollback_target_validated", Some(true)),
            ),
            (
                "6 health with previous id (scenario 22)",
                HealthFailure,
                defaults,
                true,
                SelfHosted,
                Some("release-2"),
                Some("release-1"),
                (true, "rollback_target_validated", Some(true)),
            ),
            (
                "6 nothing deployed is known: any target validates",
                HealthFailure,
                defaults,
                true,
                External,
                None,
                Some("r1"),
                (true, "rollback_target_validated", Some(true)),
            ),
            (
                "6 external with a target from metadata (scenario 31)",
                HealthFailure,
                defaults,
                true,
                External,
                Some("head"),
                Some("prev"),
                (true, "rollback_target_validated", Some(true)),
            ),
        ];
        for (name, failure, switches, executor, context, deployed, target, want) in rows {
            let got = evaluate(&PolicyInput {
                failure,
                switches,
                executor,
                context,
                deployed,
                target,
            });
            assert_eq!(
                (got.allowed, got.reason.as_str(), got.target_valid),
                want,
                "row `{name}`"
            );
        }
    }

    /// Every class × context × switch combination, checked against the rules read as a
    /// whole: a switched-off class is never rolled back; with a switch on and an executor,
    /// self-hosted always may (blind or validated), external only with a target.
    #[test]
    fn class_context_switch_combinations() {
        for failure in [
            DeployFailure,
            RestartWatchdogFailure,
            HealthFailure,
            GuardFailure,
        ] {
            for context in [SelfHosted, External] {
                for switch in [false, true] {
                    for target in [None, Some("prev")] {
                        let mut s = RollbackSwitches::default();
                        match failure {
                            DeployFailure => s.rollback_on_deploy_failure = switch,
                            RestartWatchdogFailure => {
                                s.rollback_on_restart_watchdog_failure = switch
                            }
                            HealthFailure => s.rollback_on_health_failure = switch,
                            GuardFailure => s.rollback_on_guard_failure = switch,
                        }
                        let d = evaluate(&PolicyInput {
                            failure,
                            switches: s,
                            executor: true,
                            context,
                            deployed: Some("new"),
                            target,
                        });
                        let expected = switch && (context == SelfHosted || target.is_some());
                        assert_eq!(
                            d.allowed, expected,
                            "{failure:?} {context:?} {switch} {target:?}: {d:?}"
                        );
                        if !switch {
                            assert_eq!(
                                d.reason,
                                format!("rollback_disabled_for_{}", failure.as_str())
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn consecutive_automatic_rollbacks_are_capped() {
        let allowed = Decision::new(true, "rollback_target_validated", Some(true));
        let limit = RollbackLimit { max: 2 };
        assert_eq!(limit.apply(allowed.clone(), 0), allowed);
        assert_eq!(limit.apply(allowed.clone(), 1), allowed);
        let capped = limit.apply(allowed, 2);
        assert!(!capped.allowed);
        assert_eq!(capped.reason, "rollback_limit_reached");
        let denied = Decision::new(false, "rollback_executor_missing", None);
        assert_eq!(limit.apply(denied.clone(), 5), denied);
    }

    #[test]
    fn switches_default_as_documented_and_read_from_json() {
        let s: RollbackSwitches = serde_json::from_str("{}").expect("json");
        assert_eq!(s, switches(false, true, true));
        let s: RollbackSwitches =
            serde_json::from_str(r#"{"rollback_on_deploy_failure": true}"#).expect("json");
        assert_eq!(s, switches(true, true, true));
        let c: DeploymentContext = serde_json::from_str(r#""external""#).expect("json");
        assert_eq!(c, External);
    }
}
