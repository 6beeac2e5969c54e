//! `plan(snapshot, request, now)`: the ordered candidates for one request.
//!
//! A pure, deterministic function (GATEWAY.md, "Routing: the plan"): the same snapshot,
//! request and instant give the same list on every replica. It allocates one small vector
//! and looks names up in the snapshot's indexes, so its cost grows with the number of
//! servers that offer the name, not with the number of servers.
//!
//! 1. Eligible: servers whose catalog offers the name (a template matching the URI for
//!    resources), plus servers whose catalog is not known yet. None → [`Plan::Unknown`].
//! 2. Base order: `preferred` first as given (unknown names ignored, duplicates dropped),
//!    then `(priority, name)`. Preference reorders, never restricts.
//! 3. Tiers: healthy; degraded with an open window; unreachable with an open window — each in
//!    base order. Closed windows are left out. Nothing left → [`Plan::Unavailable`] with the
//!    earliest instant a window opens.

use time::OffsetDateTime;

use super::RoutingSnapshot;
use crate::health::Status;

/// What is being asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// `tools/call` of this tool.
    Tool(&'a str),
    /// `resources/read` of this URI.
    Resource(&'a str),
    /// `prompts/get` of this prompt.
    Prompt(&'a str),
}

impl Target<'_> {
    /// The MCP method.
    pub fn method(&self) -> &'static str {
        match self {
            Self::Tool(_) => "tools/call",
            Self::Resource(_) => "resources/read",
            Self::Prompt(_) => "prompts/get",
        }
    }
}

/// The outcome of planning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Try these servers (indexes into `snapshot.servers`) in this order.
    Candidates(Vec<usize>),
    /// No server offers the name; these servers were checked (404).
    Unknown {
        /// Every server whose catalog was consulted, by name.
        checked: Vec<String>,
    },
    /// Servers offer it, but every one is inside its retry window (503).
    Unavailable {
        /// The earliest instant one of them may be tried again.
        retry_at: Option<OffsetDateTime>,
    },
}

impl Plan {
    /// No server offers the name.
    pub fn is_unknown(&self) -> bool {
        matches!(self, Self::Unknown { .. })
    }
}

/// Plans one request. See the module documentation for the rules.
pub fn plan(
    snapshot: &RoutingSnapshot,
    target: Target<'_>,
    preferred: &[String],
    now: OffsetDateTime,
) -> Plan {
    let eligible = snapshot.eligible(target);
    if eligible.is_empty() {
        return Plan::Unknown {
            checked: snapshot.servers.iter().map(|s| s.name.clone()).collect(),
        };
    }
    // Base order: preferred (eligible, first occurrence) then the rest, already sorted by
    // (priority, name) because `eligible` is ascending over the sorted server list.
    let mut base: Vec<usize> = Vec::with_capacity(eligible.len());
    for name in preferred {
        if let Some(&i) = snapshot.index.by_name.get(name.as_str())
            && eligible.binary_search(&i).is_ok()
            && !base.contains(&i)
        {
            base.push(i);
        }
    }
    let preferred_count = base.len();
    for &i in &eligible {
        if !base[..preferred_count].contains(&i) {
            base.push(i);
        }
    }

    let mut out = Vec::with_capacity(base.len());
    for tier in [Status::Healthy, Status::Degraded, Status::Unreachable] {
        out.extend(base.iter().copied().filter(|&i| {
            let s = &snapshot.servers[i];
            s.status == tier
                && (tier == Status::Healthy || s.next_retry_at.is_none_or(|t| now >= t))
        }));
    }
    if out.is_empty() {
        let retry_at = base
            .iter()
            .filter_map(|&i| snapshot.servers[i].next_retry_at)
            .min();
        return Plan::Unavailable { retry_at };
    }
    Plan::Candidates(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use proptest::prelude::*;

    use super::*;
    use crate::catalog::CatalogNames;
    use crate::router::ServerView;

    fn now() -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + Duration::from_secs(1_000_000)
    }

    fn server(
        name: &str,
        priority: i32,
        status: Status,
        retry_in: Option<i64>,
        tools: Option<&[&str]>,
    ) -> ServerView {
        ServerView {
            name: name.into(),
            priority,
            status,
            next_retry_at: retry_in.map(|s| now() + time::Duration::seconds(s)),
            catalog: tools.map(|t| {
                Arc::new(CatalogNames {
                    tools: t.iter().map(|s| (*s).to_owned()).collect(),
                    ..CatalogNames::default()
                })
            }),
            entries: None,
            live: Default::default(),
            ready: Default::default(),
            gate: Default::default(),
        }
    }

    fn names(s: &RoutingSnapshot, p: &Plan) -> Vec<String> {
        match p {
            Plan::Candidates(c) => c.iter().map(|&i| s.servers[i].name.clone()).collect(),
            other => panic!("expected candidates, got {other:?}"),
        }
    }

    #[test]
    fn mixed_cluster_is_ordered_by_tier_then_preference_then_priority_and_name() {
        use Status::*;
        let s = RoutingSnapshot::build(
            1,
            vec![
                server("zeta", 1, Healthy, None, Some(&["t"])),
                server("alpha", 5, Healthy, None, Some(&["t"])),
                server("beta", 1, Degraded, Some(-1), Some(&["t"])), // window open
                server("gamma", 1, Degraded, Some(3), Some(&["t"])), // window closed
                server("delta", 0, Unreachable, Some(0), Some(&["t"])), // opens exactly now
                server("eps", 0, Healthy, None, Some(&["other"])),   // not eligible
                server("fresh", 9, Healthy, None, None),             // catalog unknown
            ],
        );
        let p = plan(&s, Target::Tool("t"), &[], now());
        assert_eq!(names(&s, &p), ["zeta", "alpha", "fresh", "beta", "delta"]);
        let preferred = vec![
            "beta".to_owned(),
            "alpha".to_owned(),
            "nope".to_owned(),
            "alpha".to_owned(),
        ];
        let p = plan(&s, Target::Tool("t"), &preferred, now());
        // Tier beats preference: a degraded preferred server comes after every healthy one.
        assert_eq!(names(&s, &p), ["alpha", "zeta", "fresh", "beta", "delta"]);
    }

    #[test]
    fn a_name_nobody_offers_is_unknown_and_names_the_servers_checked() {
        let s =
            RoutingSnapshot::build(1, vec![server("a", 1, Status::Healthy, None, Some(&["x"]))]);
        assert_eq!(
            plan(&s, Target::Tool("y"), &[], now()),
            Plan::Unknown {
                checked: vec!["a".into()]
            }
        );
    }

    #[test]
    fn all_windows_closed_is_unavailable_with_the_earliest_retry() {
        use Status::*;
        let s = RoutingSnapshot::build(
            1,
            vec![
                server("a", 1, Degraded, Some(4), Some(&["x"])),
                server("b", 1, Unreachable, Some(2), Some(&["x"])),
            ],
        );
        assert_eq!(
            plan(&s, Target::Tool("x"), &[], now()),
            Plan::Unavailable {
                retry_at: Some(now() + time::Duration::seconds(2))
            }
        );
    }

    #[test]
    fn resources_are_eligible_by_uri_or_template_and_prompts_by_name() {
        let mut a = server("a", 1, Status::Healthy, None, Some(&[]));
        a.catalog = Some(Arc::new(CatalogNames {
            resources: vec!["mem://exact".into()],
            resource_templates: vec!["file:///{path}".into()],
            prompts: vec!["greet".into()],
            ..CatalogNames::default()
        }));
        let s = RoutingSnapshot::build(1, vec![a]);
        for t in [
            Target::Resource("mem://exact"),
            Target::Resource("file:///x/y"),
            Target::Prompt("greet"),
        ] {
            assert_eq!(plan(&s, t, &[], now()), Plan::Candidates(vec![0]), "{t:?}");
        }
        assert!(matches!(
            plan(&s, Target::Resource("mem://other"), &[], now()),
            Plan::Unknown { .. }
        ));
        assert!(matches!(
            plan(&s, Target::Tool("greet"), &[], now()),
            Plan::Unknown { .. }
        ));
    }

    const POOL: [&str; 8] = ["a", "b", "c", "d", "e", "f", "g", "h"];
    const TOOLS: [&str; 3] = ["t1", "t2", "t3"];

    fn arb_server(name: &'static str) -> impl Strategy<Value = ServerView> {
        (
            0i32..3,
            prop_oneof![
                Just(Status::Healthy),
                Just(Status::Degraded),
                Just(Status::Unreachable)
            ],
            proptest::option::of(-3i64..4),
            proptest::option::of(proptest::sample::subsequence(TOOLS.to_vec(), 0..=3)),
        )
            .prop_map(move |(priority, status, retry, tools)| {
                let retry = if status == Status::Healthy {
                    None
                } else {
                    retry
                };
                server(name, priority, status, retry, tools.as_deref())
            })
    }

    fn arb_cluster() -> impl Strategy<Value = Vec<ServerView>> {
        proptest::sample::subsequence(POOL.to_vec(), 0..=8)
            .prop_flat_map(|names| names.into_iter().map(arb_server).collect::<Vec<_>>())
            .prop_shuffle()
    }

    fn arb_preferred() -> impl Strategy<Value = Vec<String>> {
        proptest::collection::vec(
            prop_oneof![proptest::sample::select(POOL.to_vec()), Just("unknown")],
            0..5,
        )
        .prop_map(|v| v.into_iter().map(str::to_owned).collect())
    }

    fn candidate_names(s: &RoutingSnapshot, p: &Plan) -> Option<Vec<String>> {
        match p {
            Plan::Candidates(c) => Some(c.iter().map(|&i| s.servers[i].name.clone()).collect()),
            _ => None,
        }
    }

    proptest! {
        #[test]
        fn plans_are_deterministic_whatever_order_servers_were_registered_in(
            mut cluster in arb_cluster(), tool in proptest::sample::select(TOOLS.to_vec()), preferred in arb_preferred()
        ) {
            let a = RoutingSnapshot::build(1, cluster.clone());
            cluster.reverse();
            let b = RoutingSnapshot::build(1, cluster);
            let pa = plan(&a, Target::Tool(tool), &preferred, now());
            let pb = plan(&b, Target::Tool(tool), &preferred, now());
            prop_assert_eq!(candidate_names(&a, &pa), candidate_names(&b, &pb));
            prop_assert_eq!(pa, plan(&a, Target::Tool(tool), &preferred, now()));
        }

        #[test]
        fn preference_reorders_but_never_restricts(
            cluster in arb_cluster(), tool in proptest::sample::select(TOOLS.to_vec()), preferred in arb_preferred()
        ) {
            let s = RoutingSnapshot::build(1, cluster);
            let with = plan(&s, Target::Tool(tool), &preferred, now());
            let without = plan(&s, Target::Tool(tool), &[], now());
            match (&with, &without) {
                (Plan::Candidates(w), Plan::Candidates(wo)) => {
                    let (mut w, mut wo) = (w.clone(), wo.clone());
                    prop_assert_eq!(w.len(), wo.len());
                    w.sort_unstable();
                    wo.sort_unstable();
                    prop_assert_eq!(w, wo);
                }
                _ => prop_assert_eq!(&with, &without),
            }
        }

        #[test]
        fn closed_windows_and_ineligible_servers_are_never_candidates_and_tiers_are_ordered(
            cluster in arb_cluster(), tool in proptest::sample::select(TOOLS.to_vec()), preferred in arb_preferred()
        ) {
            let s = RoutingSnapshot::build(1, cluster);
            if let Plan::Candidates(c) = plan(&s, Target::Tool(tool), &preferred, now()) {
                let mut last_tier = Status::Healthy;
                for &i in &c {
                    let v = &s.servers[i];
                    prop_assert!(v.status == Status::Healthy || v.next_retry_at.is_none_or(|t| now() >= t));
                    prop_assert!(v.catalog.as_ref().is_none_or(|c| c.tools.iter().any(|t| t == tool)));
                    prop_assert!(v.status >= last_tier, "tiers out of order");
                    last_tier = v.status;
                }
                let mut dedup = c.clone();
                dedup.sort_unstable();
                dedup.dedup();
                prop_assert_eq!(dedup.len(), c.len(), "a server appears twice");
                // Within a tier: preferred first (in the order given), then (priority, name).
                for tier in [Status::Healthy, Status::Degraded, Status::Unreachable] {
                    let in_tier: Vec<&ServerView> = c.iter().map(|&i| s.servers[i].as_ref()).filter(|v| v.status == tier).collect();
                    let mut seen_pref = Vec::new();
                    for p in &preferred {
                        if in_tier.iter().any(|v| &v.name == p) && !seen_pref.contains(p) {
                            seen_pref.push(p.clone());
                        }
                    }
                    let head: Vec<String> = in_tier.iter().take(seen_pref.len()).map(|v| v.name.clone()).collect();
                    prop_assert_eq!(&head, &seen_pref);
                    let tail: Vec<(i32, String)> = in_tier.iter().skip(seen_pref.len()).map(|v| (v.priority, v.name.clone())).collect();
                    let mut sorted = tail.clone();
                    sorted.sort();
                    prop_assert_eq!(tail, sorted);
                }
            }
        }

        #[test]
        fn unknown_exactly_when_no_server_could_serve_the_name(
            cluster in arb_cluster(), tool in proptest::sample::select(TOOLS.to_vec())
        ) {
            let s = RoutingSnapshot::build(1, cluster);
            let could = s.servers.iter().any(|v| v.catalog.as_ref().is_none_or(|c| c.tools.iter().any(|t| t == tool)));
            let unknown = matches!(plan(&s, Target::Tool(tool), &[], now()), Plan::Unknown { .. });
            prop_assert_eq!(could, !unknown);
        }
    }
}
