//! What one finished invocation counts for the call metrics, read from its record's phases
//! ([`crate::invocation`]) in the event writer's task — never on the caller's path.
//!
//! | phases (in order)                              | counts                                   |
//! |------------------------------------------------|------------------------------------------|
//! | `invoke_start` … `invoke_success` on S         | one call on S, timed start to end        |
//! | `invoke_start` … `invoke_failure` on S         | one call on S, timed; an error on S      |
//! | `initialize_failure` on S                      | an error on S (no call: nothing was sent)|
//! | `busy` on S                                    | an error `busy` on S                     |
//! | `invoke_start` on S after any failure          | a retry on S (a failover or a new session)|
//! | `invoke_success` on S after a failure on T ≠ S | a failover to S                          |
//! | `invoke_start` on S with no end                | an error `abandoned` on S (caller left)  |
//!
//! An error's category is the failure's ([`crate::health::ErrorCategory`]), except a caller's
//! mistake (`caller_error`: the call would fail everywhere, the server is not to blame) and a
//! forgotten session (`session_expired`: att retries it on a new session by design).
//! Durations come from the phases' timestamps (wall clock); a clock stepped backwards gives 0.

use std::time::Duration;

use crate::invocation::Invocation;
use crate::upstream::CallFailure;

/// What one invocation counts, per server (names borrowed from the record).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally<'a> {
    /// Each call that reached a server and ended, with how long it took.
    pub calls: Vec<(&'a str, Duration)>,
    /// Each failure, with its category label.
    pub errors: Vec<(&'a str, &'static str)>,
    /// Each call made after an earlier failure of the same invocation, by the server called.
    pub retries: Vec<&'a str>,
    /// The server that answered after another one failed the call.
    pub failover: Option<&'a str>,
}

/// The category label of `failure`.
pub fn error_label(failure: &CallFailure) -> &'static str {
    match failure {
        f if f.is_caller_error() => "caller_error",
        CallFailure::SessionExpired => "session_expired",
        f => f.category().as_str(),
    }
}

/// Counts `invocation`'s phases (see the table in the module header).
pub fn tally(invocation: &Invocation) -> Tally<'_> {
    let mut out = Tally::default();
    let mut started: Option<(&str, time::OffsetDateTime)> = None;
    let mut failed_on: Option<&str> = None;
    let mut failed_elsewhere = false;
    for p in &invocation.phases {
        let server = p.server.as_str();
        let failure_label = p.failure.as_ref().map(error_label);
        match p.phase {
            "invoke_start" => {
                if let Some((left, _)) = started.take() {
                    out.errors.push((left, "abandoned"));
                }
                if failed_on.is_some() {
                    out.retries.push(server);
                }
                started = Some((server, p.at));
            }
            "invoke_success" | "invoke_failure" => {
                if let Some((s, at)) = started.take() {
                    let elapsed = Duration::try_from(p.at - at).unwrap_or(Duration::ZERO);
                    out.calls.push((s, elapsed));
                }
                if p.phase == "invoke_success" {
                    if failed_elsewhere || failed_on.is_some_and(|f| f != server) {
                        out.failover = Some(server);
                    }
                } else {
                    out.errors
                        .push((server, failure_label.unwrap_or("unknown")));
                    failed_elsewhere |= failed_on.is_some_and(|f| f != server);
                    failed_on = Some(server);
                }
            }
            "initialize_failure" => {
                out.errors
                    .push((server, failure_label.unwrap_or("initialize_error")));
                failed_elsewhere |= failed_on.is_some_and(|f| f != server);
                failed_on = Some(server);
            }
            "busy" => out.errors.push((server, "busy")),
            _ => {}
        }
    }
    if let Some((left, _)) = started {
        out.errors.push((left, "abandoned"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invocation::Phase;
    use crate::upstream::ErrorCategory;

    fn record(phases: &[(&str, &'static str, Option<CallFailure>, i64)]) -> Invocation {
        let t0 = time::OffsetDateTime::UNIX_EPOCH;
        let mut r = Invocation::new("tools/call", "r1", "echo");
        r.phases = phases
            .iter()
            .map(|(server, phase, failure, ms)| Phase {
                at: t0 + time::Duration::milliseconds(*ms),
                server: (*server).to_owned(),
                phase,
                failure: failure.clone(),
            })
            .collect();
        r
    }

    #[test]
    fn each_row_of_the_header_table_counts_what_it_says() {
        let rpc = || {
            Some(CallFailure::Rpc {
                code: -32603,
                message: "sick".into(),
            })
        };
        let invalid = || {
            Some(CallFailure::Rpc {
                code: -32602,
                message: "bad".into(),
            })
        };
        let refused = || {
            Some(CallFailure::NotSent {
                message: "refused".into(),
                category: ErrorCategory::InitializeError,
            })
        };
        let ms = Duration::from_millis;
        type Row = (
            &'static str,
            Vec<(&'static str, &'static str, Option<CallFailure>, i64)>,
            Tally<'static>,
        );
        let rows: Vec<Row> = vec![
            (
                "a call answered first time",
                vec![
                    ("a", "invoke_start", None, 0),
                    ("a", "invoke_success", None, 7),
                ],
                Tally {
                    calls: vec![("a", ms(7))],
                    ..Tally::default()
                },
            ),
            (
                "a failure on a, answered by b: a retry and a failover to b",
                vec![
                    ("a", "invoke_start", None, 0),
                    ("a", "invoke_failure", rpc(), 3),
                    ("b", "invoke_start", None, 4),
                    ("b", "invoke_success", None, 9),
                ],
                Tally {
                    calls: vec![("a", ms(3)), ("b", ms(5))],
                    errors: vec![("a", "rpc_error")],
                    retries: vec!["b"],
                    failover: Some("b"),
                },
            ),
            (
                "a handshake refused on a, answered by b",
                vec![
                    ("a", "initialize_start", None, 0),
                    ("a", "initialize_failure", refused(), 1),
                    ("b", "invoke_start", None, 2),
                    ("b", "invoke_success", None, 3),
                ],
                Tally {
                    calls: vec![("b", ms(1))],
                    errors: vec![("a", "initialize_error")],
                    retries: vec!["b"],
                    failover: Some("b"),
                },
            ),
            (
                "a forgotten session renewed on the same server: a retry, no failover",
                vec![
                    ("a", "invoke_start", None, 0),
                    ("a", "invoke_failure", Some(CallFailure::SessionExpired), 1),
                    ("a", "initialize_start", None, 1),
                    ("a", "initialize_success", None, 2),
                    ("a", "invoke_start", None, 2),
                    ("a", "invoke_success", None, 4),
                ],
                Tally {
                    calls: vec![("a", ms(1)), ("a", ms(2))],
                    errors: vec![("a", "session_expired")],
                    retries: vec!["a"],
                    failover: None,
                },
            ),
            (
                "a caller's mistake",
                vec![
                    ("a", "invoke_start", None, 0),
                    ("a", "invoke_failure", invalid(), 2),
                ],
                Tally {
                    calls: vec![("a", ms(2))],
                    errors: vec![("a", "caller_error")],
                    ..Tally::default()
                },
            ),
            (
                "busy, and a caller that went away mid-call",
                vec![("b", "invoke_start", None, 0), ("a", "busy", None, 1)],
                Tally {
                    errors: vec![("a", "busy"), ("b", "abandoned")],
                    ..Tally::default()
                },
            ),
            (
                "a clock stepped backwards times the call as 0",
                vec![
                    ("a", "invoke_start", None, 5),
                    ("a", "invoke_success", None, 2),
                ],
                Tally {
                    calls: vec![("a", Duration::ZERO)],
                    ..Tally::default()
                },
            ),
        ];
        for (name, phases, want) in rows {
            let r = record(&phases);
            assert_eq!(tally(&r), want, "{name}");
        }
    }
}
