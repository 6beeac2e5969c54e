//! Per-principal limits (`[limits]`): calls per second with a burst ([`bucket`]) and calls in
//! flight ([`in_flight`]), for each principal, by its name.
//!
//! A call is one `/api/v1` request (health excepted) or one `/mcp` request that does work on
//! att's or an upstream's side: `tools/call`, `resources/read`, `prompts/get`,
//! `completion/complete`, `resources/subscribe` (see README, "Limits"). A principal is the
//! authenticated [`Principal`]'s name; while att is open (no token, no key), every caller is
//! `anonymous` and each client address is a principal of its own. Metrics label principals by
//! name only, never by address.
//!
//! Limits are off unless configured: with none, [`Limits::admit`] returns at once and no
//! state is kept. Otherwise the state lives in [`table::PrincipalTable`]s, bounded by
//! `max_principals`, split into shards by key so that callers of different principals do not
//! wait on one lock.

pub mod bucket;
pub mod in_flight;
pub mod table;

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use crate::auth::Principal;
use crate::config::{LimitsConfig, PrincipalLimits};
use bucket::Rate;
use table::{Allowance, PrincipalTable, Refusal};

/// Shards of the principal table.
const SHARDS: usize = 16;
/// Distinct principal labels metrics keep; more share the label `other`.
const MAX_LABELS: usize = 256;

/// The labels of a refusal counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusalLabels {
    /// `rate`, `concurrent` or `principals`.
    pub limit: &'static str,
    /// The principal's name.
    pub principal: String,
}

/// One principal's limits, where configured: the default and the overrides by name.
#[derive(Debug)]
struct Allowances {
    default: Option<Allowance>,
    by_name: HashMap<String, Allowance>,
}

impl Allowances {
    /// What `name` may do and whether an override says so; `None`: no limit at all.
    fn of(&self, name: &str) -> Option<(Allowance, bool)> {
        if self.by_name.is_empty() {
            return self.default.map(|a| (a, false));
        }
        match self.by_name.get(name) {
            Some(a) => Some((*a, true)),
            None => self.default.map(|a| (a, false)),
        }
    }
}

fn allowance(l: &PrincipalLimits, base: Option<&PrincipalLimits>) -> Allowance {
    let rate = l.rate.or(base.and_then(|b| b.rate));
    let burst = l.burst.or(base.and_then(|b| b.burst));
    Allowance {
        rate: rate.map(|r| Rate::new(r, burst.unwrap_or_else(|| default_burst(r)))),
        concurrent: l.concurrent.or(base.and_then(|b| b.concurrent)),
    }
}

/// A rate's burst when none is given: one second's worth of calls (at least one).
pub fn default_burst(rate: f64) -> u32 {
    rate.ceil().clamp(1.0, f64::from(u32::MAX)) as u32
}

/// The limits and the state of the principals they apply to.
pub struct Limits {
    allowances: Allowances,
    shards: Box<[Mutex<PrincipalTable>]>,
    hasher: RandomState,
    refusals: Family<RefusalLabels, Counter>,
    labels: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits")
            .field("allowances", &self.allowances)
            .finish_non_exhaustive()
    }
}

/// A call admitted under a limit: it is in flight until this is dropped.
pub struct Permit {
    limits: Arc<Limits>,
    shard: usize,
    key: Arc<str>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.limits.shard(self.shard).leave(&self.key);
    }
}

/// A refused call: which limit, whose, and when to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The principal's name.
    pub principal: String,
    /// The configuration key of the limit that refused it.
    pub key: String,
    /// Why.
    pub refusal: Refusal,
}

impl Refused {
    /// `rate`, `concurrent` or `principals`.
    pub fn limit(&self) -> &'static str {
        match self.refusal {
            Refusal::Rate { .. } => "rate",
            Refusal::Concurrent { .. } => "concurrent",
            Refusal::Crowded { .. } => "principals",
        }
    }

    /// When a retry may succeed: when the next token is there, or in a second for a limit
    /// whose end cannot be known (a call in flight ending).
    pub fn retry_after(&self) -> Duration {
        match self.refusal {
            Refusal::Rate { retry_after } => retry_after.max(Duration::from_millis(1)),
            _ => Duration::from_secs(1),
        }
    }

    /// [`Refused::retry_after`] in whole milliseconds, at least 1.
    pub fn retry_after_ms(&self) -> u64 {
        let d = self.retry_after();
        u64::try_from(d.as_micros().div_ceil(1000))
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// [`Refused::retry_after`] in whole seconds (`Retry-After`), at least 1.
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after_ms().div_ceil(1000).max(1)
    }

    /// What happened and what to do, for the error's message.
    pub fn message(&self) -> String {
        match self.refusal {
            Refusal::Rate { .. } => format!(
                "`{}` is over its call rate ({}): retry after {} ms",
                self.principal,
                self.key,
                self.retry_after_ms()
            ),
            Refusal::Concurrent { max } => format!(
                "`{}` has {max} calls in flight, its most ({}): retry when one ends",
                self.principal, self.key
            ),
            Refusal::Crowded { cap } => format!(
                "att tracks {cap} principals with calls in flight, its most ({}): retry shortly",
                self.key
            ),
        }
    }

    /// The error's structured detail: `message`, `limit`, `key`, `principal`, `retry_after_ms`.
    pub fn detail(&self) -> serde_json::Value {
        serde_json::json!({
            "message": self.message(),
            "limit": self.limit(),
            "key": self.key,
            "principal": self.principal,
            "retry_after_ms": self.retry_after_ms(),
        })
    }
}

impl Limits {
    /// The limits of `config` (off when it sets none).
    pub fn new(config: &LimitsConfig) -> Arc<Self> {
        let base = config.per_principal.as_ref();
        let allowances = Allowances {
            default: base.map(|b| allowance(b, None)),
            by_name: config
                .principals
                .iter()
                .map(|o| (o.name.clone(), allowance(&o.limits(), base)))
                .collect(),
        };
        let per_shard = config.max_principals.div_ceil(SHARDS).max(1);
        Arc::new(Self {
            allowances,
            shards: (0..SHARDS)
                .map(|_| Mutex::new(PrincipalTable::new(per_shard)))
                .collect(),
            hasher: RandomState::new(),
            refusals: Family::default(),
            labels: Mutex::new(HashSet::new()),
        })
    }

    /// No limits.
    pub fn off() -> Arc<Self> {
        Self::new(&LimitsConfig::default())
    }

    fn shard(&self, i: usize) -> MutexGuard<'_, PrincipalTable> {
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Admits a call of `principal` from `client` (its address: the principal of an open att),
    /// or says which limit refuses it. `Ok(None)`: no limit applies, nothing is kept.
    pub fn admit(
        self: &Arc<Self>,
        principal: &Principal,
        client: Option<IpAddr>,
    ) -> Result<Option<Permit>, Refused> {
        let Some((allowance, named)) = self.allowances.of(&principal.name) else {
            return Ok(None);
        };
        let key: Arc<str> = match client {
            Some(ip) if !principal.key && principal.name == "anonymous" => {
                Arc::from(format!("anonymous@{ip}"))
            }
            _ => Arc::from(principal.name.as_str()),
        };
        let shard = (self.hasher.hash_one(&*key) as usize) % SHARDS;
        let label: Arc<str> = Arc::from(principal.name.as_str());
        let admitted = self
            .shard(shard)
            .admit(&key, &label, &allowance, Instant::now());
        match admitted {
            Ok(()) => Ok(Some(Permit {
                limits: self.clone(),
                shard,
                key,
            })),
            Err(refusal) => {
                let field = match refusal {
                    Refusal::Rate { .. } => "rate",
                    Refusal::Concurrent { .. } => "concurrent",
                    Refusal::Crowded { .. } => "max_principals",
                };
                let key = match (refusal, named) {
                    (Refusal::Crowded { .. }, _) => "limits.max_principals".to_owned(),
                    (_, true) => format!("limits.principals.{}.{field}", principal.name),
                    (_, false) => format!("limits.per_principal.{field}"),
                };
                let refused = Refused {
                    principal: principal.name.clone(),
                    key,
                    refusal,
                };
                self.count(&refused);
                Err(refused)
            }
        }
    }

    fn count(&self, refused: &Refused) {
        let mut labels = self.labels.lock().unwrap_or_else(|p| p.into_inner());
        let principal = if labels.contains(&refused.principal) || labels.len() < MAX_LABELS {
            labels.insert(refused.principal.clone());
            refused.principal.clone()
        } else {
            "other".to_owned()
        };
        drop(labels);
        self.refusals
            .get_or_create(&RefusalLabels {
                limit: refused.limit(),
                principal,
            })
            .inc();
    }

    /// Refusals by limit and principal (registered by [`crate::metrics`]).
    pub fn refusals(&self) -> Family<RefusalLabels, Counter> {
        self.refusals.clone()
    }

    /// Calls in flight by principal name, for the principals being limited (metrics).
    pub fn in_flight(&self) -> Vec<(String, u64)> {
        let mut by: HashMap<String, u64> = self
            .allowances
            .by_name
            .keys()
            .map(|n| (n.clone(), 0))
            .collect();
        for i in 0..SHARDS {
            let shard = self.shard(i);
            for (label, n) in shard.in_flight() {
                if n > 0 || by.contains_key(&**label) {
                    *by.entry(label.to_string()).or_default() += u64::from(n);
                }
            }
        }
        let mut out: Vec<(String, u64)> = by.into_iter().collect();
        out.sort();
        out.truncate(MAX_LABELS);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;

    fn who(name: &str, key: bool) -> Principal {
        Principal {
            name: name.into(),
            role: Role::Operator,
            key,
            expires_at: None,
        }
    }

    fn config(toml_text: &str) -> LimitsConfig {
        toml::from_str(toml_text).expect("limits config")
    }

    #[test]
    fn overrides_inherit_what_they_leave_out_and_refusals_name_their_key() {
        let limits = Limits::new(&config(
            "per_principal = { rate = 1, concurrent = 5 }\n[[principals]]\nname = \"ci\"\nburst = 3\n",
        ));
        let ci = who("ci", true);
        let held: Vec<_> = (0..3)
            .map(|_| limits.admit(&ci, None).expect("within ci's burst"))
            .collect();
        let e = limits.admit(&ci, None).err().expect("past ci's burst");
        assert_eq!(e.key, "limits.principals.ci.rate");
        assert_eq!((e.limit(), e.retry_after_secs()), ("rate", 1));
        let other = who("other", true);
        let _one = limits.admit(&other, None).expect("first call");
        let e = limits.admit(&other, None).err().expect("burst of one");
        assert_eq!(e.key, "limits.per_principal.rate");
        drop(held);
    }

    #[test]
    fn without_limits_nothing_is_kept() {
        let limits = Limits::off();
        for _ in 0..1000 {
            assert!(
                limits
                    .admit(&who("a", true), None)
                    .expect("no limit")
                    .is_none()
            );
        }
        assert!(limits.in_flight().is_empty());
    }

    #[test]
    fn an_open_att_limits_each_client_address_apart_under_one_label() {
        let limits = Limits::new(&config("per_principal = { rate = 1 }"));
        let anon = who("anonymous", false);
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let _pa = limits.admit(&anon, Some(a)).expect("a's first");
        assert!(limits.admit(&anon, Some(a)).is_err(), "a's second");
        let _pb = limits.admit(&anon, Some(b)).expect("b's first");
        assert_eq!(limits.in_flight(), vec![("anonymous".to_owned(), 2)]);
        // A key that happens to be called `anonymous` is one principal.
        let named = who("anonymous", true);
        let _k = limits.admit(&named, Some(a)).expect("key's first");
        assert!(limits.admit(&named, Some(b)).is_err());
    }

    #[test]
    fn a_dropped_permit_frees_its_place() {
        let limits = Limits::new(&config("per_principal = { concurrent = 1 }"));
        let p = who("p", true);
        let first = limits.admit(&p, None).expect("first");
        let e = limits
            .admit(&p, None)
            .err()
            .expect("second while first runs");
        assert_eq!(
            (e.limit(), e.key.as_str(), e.retry_after_secs()),
            ("concurrent", "limits.per_principal.concurrent", 1)
        );
        drop(first);
        assert!(limits.admit(&p, None).is_ok());
    }
}
