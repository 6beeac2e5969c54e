//! The federated catalog: what att's own MCP endpoint lists — the union of every upstream's
//! tools, resources, resource templates and prompts — and how an exposed name routes back.
//!
//! Built from a routing snapshot (a pure function of it) and cached per snapshot version, so
//! `tools/list` on att's endpoint never waits on an upstream. Rules (GATEWAY.md, "The
//! federated MCP endpoint"):
//! - a tool name offered by several upstreams with one input schema is one entry, routed by
//!   the plan among all of them (they are replicas);
//! - the same name with different schemas is a collision: every variant is exposed as
//!   `<server>__<name>` (kept within `[A-Za-z0-9_-]{1,64}`) and routed to that server only,
//!   through a reverse map — never by parsing the name;
//! - resources (by URI), resource templates (by URI template) and prompts (by name) are
//!   listed once, described by the first server in `(priority, name)` order, and routed by
//!   the plan.
//!
//! The tool rules depend on the [`PrefixMode`]: the above is `conflicts` (the default);
//! `always` exposes every tool as `<server>__<name>`, pinned to its server (no replicas);
//! `never` exposes plain names only, and on a collision keeps the first server's variant in
//! `(priority, name)` order and reports the others in [`Federated::conflicts`].
//!
//! Only usable servers are listed: an unreachable one (`unreachable_after` failures in a row,
//! see `crate::health`) is left out — its entries are gone from the lists, and the names
//! it alone offered with them — until proof of service makes it healthy again; a degraded
//! one (fewer failures) stays listed, so that one failed call does not make its tools
//! flicker for every client. Both changes reach clients as `list_changed` (a status change
//! is a new snapshot). A plain tool name that only unreachable servers offer still routes
//! (to the plan, which tries a server whose retry window is open, or answers that none is
//! available) rather than being unknown.

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rmcp::model::{Prompt, Resource, ResourceTemplate, Tool};

use crate::router::{RouterHandle, RoutingSnapshot};

/// How upstream tool names are exposed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PrefixMode {
    /// Plain names; `<server>__<name>` only for names offered with different schemas.
    #[default]
    Conflicts,
    /// `<server>__<name>` for every tool, each pinned to its server.
    Always,
    /// Plain names only; a collision keeps the first server's variant (see
    /// [`Federated::conflicts`]).
    Never,
}

/// A tool name offered with different input schemas, under [`PrefixMode::Never`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The tool name.
    pub name: String,
    /// The server whose variant is exposed.
    pub kept: String,
    /// The servers whose variants are hidden.
    pub hidden: Vec<String>,
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "tool `{}` has different input schemas on {} and {}",
            self.name,
            self.kept,
            self.hidden.join(", ")
        )
    }
}

/// Where an exposed tool name goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolRoute {
    /// The tool's name on the upstream(s).
    pub name: String,
    /// `Some(server)` for a prefixed collision variant: only that server may serve it.
    pub only: Option<String>,
}

/// The federated catalog of one routing snapshot.
#[derive(Debug, Default)]
pub struct Federated {
    /// The snapshot version it was built from.
    pub version: u64,
    /// Tools as exposed (collision variants renamed).
    pub tools: Vec<Tool>,
    /// Concrete resources.
    pub resources: Vec<Resource>,
    /// Resource templates.
    pub resource_templates: Vec<ResourceTemplate>,
    /// Prompts.
    pub prompts: Vec<Prompt>,
    routes: HashMap<String, ToolRoute>,
    /// Under [`PrefixMode::Never`], the tool names offered with different schemas.
    pub conflicts: Vec<Conflict>,
    /// Hashes of the tool, resource (with templates) and prompt lists: a change of one is a
    /// `list_changed` for that kind.
    pub hashes: [u64; 3],
}

const MAX_NAME: usize = 64;

/// `<server>__<name>`, with characters outside `[A-Za-z0-9_-]` replaced by `_`, and cut to
/// 64 characters with a hash suffix when longer (so distinct inputs stay distinct).
pub fn prefixed(server: &str, name: &str) -> String {
    let raw = format!("{server}__{name}");
    let clean: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.len() <= MAX_NAME && clean == raw {
        return clean;
    }
    let mut h = DefaultHasher::new();
    raw.hash(&mut h);
    let suffix = format!("_{:08x}", h.finish() as u32);
    let keep = clean.len().min(MAX_NAME - suffix.len());
    format!("{}{suffix}", &clean[..keep])
}

fn hash_of<T: serde::Serialize>(items: &[T]) -> u64 {
    let mut h = DefaultHasher::new();
    serde_json::to_string(items)
        .unwrap_or_default()
        .hash(&mut h);
    h.finish()
}

impl Federated {
    /// The hashes (as [`Federated::hashes`]) of the part of the catalog the filters keep —
    /// tools by name, resources by URI (templates by URI template), prompts by name: a
    /// profile's view changed when these did.
    pub fn hashes_of_view(
        &self,
        tool: impl Fn(&str) -> bool,
        resource: impl Fn(&str) -> bool,
        prompt: impl Fn(&str) -> bool,
    ) -> [u64; 3] {
        let tools: Vec<&Tool> = self.tools.iter().filter(|t| tool(&t.name)).collect();
        let resources: Vec<&Resource> =
            self.resources.iter().filter(|r| resource(&r.uri)).collect();
        let templates: Vec<&ResourceTemplate> = self
            .resource_templates
            .iter()
            .filter(|t| resource(&t.uri_template))
            .collect();
        let prompts: Vec<&Prompt> = self.prompts.iter().filter(|p| prompt(&p.name)).collect();
        [
            hash_of(&tools),
            hash_of(&resources) ^ hash_of(&templates).rotate_left(1),
            hash_of(&prompts),
        ]
    }

    /// The federated catalog of `snapshot`, tools named by `mode`.
    pub fn build(snapshot: &RoutingSnapshot, mode: PrefixMode) -> Self {
        // name → [(server, tool)] in (priority, name) order: the snapshot's order.
        let mut by_name: BTreeMap<&str, Vec<(&str, &Tool)>> = BTreeMap::new();
        let mut resources: BTreeMap<&str, &Resource> = BTreeMap::new();
        let mut templates: BTreeMap<&str, &ResourceTemplate> = BTreeMap::new();
        let mut prompts: BTreeMap<&str, &Prompt> = BTreeMap::new();
        for server in &snapshot.servers {
            let Some(catalog) = &server.entries else {
                continue;
            };
            if !server.status.is_listed() {
                continue;
            }
            for t in &catalog.tools {
                by_name
                    .entry(t.name.as_ref())
                    .or_default()
                    .push((server.name.as_str(), t));
            }
            for r in &catalog.resources {
                resources.entry(r.uri.as_str()).or_insert(r);
            }
            for t in &catalog.resource_templates {
                templates.entry(t.uri_template.as_str()).or_insert(t);
            }
            for p in &catalog.prompts {
                prompts.entry(p.name.as_str()).or_insert(p);
            }
        }

        let mut tools = Vec::new();
        let mut routes = HashMap::new();
        let mut conflicts = Vec::new();
        for (name, offers) in by_name {
            let schema = &offers[0].1.input_schema;
            let replicas = offers.iter().all(|(_, t)| t.input_schema == *schema);
            if mode == PrefixMode::Never && !replicas {
                let (kept, tool) = offers[0];
                tools.push(tool.clone());
                routes.insert(
                    name.to_owned(),
                    ToolRoute {
                        name: name.to_owned(),
                        only: Some(kept.to_owned()),
                    },
                );
                let mut hidden: Vec<String> = offers
                    .iter()
                    .filter(|(_, t)| t.input_schema != *schema)
                    .map(|(s, _)| (*s).to_owned())
                    .collect();
                hidden.dedup();
                conflicts.push(Conflict {
                    name: name.to_owned(),
                    kept: kept.to_owned(),
                    hidden,
                });
            } else if replicas && mode != PrefixMode::Always {
                tools.push(offers[0].1.clone());
                routes.insert(
                    name.to_owned(),
                    ToolRoute {
                        name: name.to_owned(),
                        only: None,
                    },
                );
            } else {
                for (server, tool) in offers {
                    let exposed = prefixed(server, name);
                    let mut t = tool.clone();
                    t.name = exposed.clone().into();
                    tools.push(t);
                    routes.insert(
                        exposed,
                        ToolRoute {
                            name: name.to_owned(),
                            only: Some(server.to_owned()),
                        },
                    );
                }
            }
        }
        // Names only resting (unlisted) servers offer: not listed, but a call still routes.
        for server in snapshot.servers.iter().filter(|s| !s.status.is_listed()) {
            for t in server.entries.iter().flat_map(|c| c.tools.iter()) {
                routes
                    .entry(t.name.to_string())
                    .or_insert_with(|| ToolRoute {
                        name: t.name.to_string(),
                        only: None,
                    });
            }
        }
        // A prefixed variant may equal a plain name another server offers: each exposed name
        // is listed once (the route map kept the last writer; both go to a server offering
        // that name under the same route key).
        let mut seen = std::collections::HashSet::new();
        tools.retain(|t| seen.insert(t.name.to_string()));
        tools.sort_by(|a, b| a.name.cmp(&b.name));

        let resources: Vec<Resource> = resources.into_values().cloned().collect();
        let resource_templates: Vec<ResourceTemplate> = templates.into_values().cloned().collect();
        let prompts: Vec<Prompt> = prompts.into_values().cloned().collect();
        let hashes = [
            hash_of(&tools),
            hash_of(&resources) ^ hash_of(&resource_templates).rotate_left(1),
            hash_of(&prompts),
        ];
        Self {
            version: snapshot.version,
            tools,
            resources,
            resource_templates,
            prompts,
            routes,
            conflicts,
            hashes,
        }
    }

    /// Where the exposed tool `name` goes; `None` if no upstream offers it.
    pub fn tool(&self, name: &str) -> Option<&ToolRoute> {
        self.routes.get(name)
    }
}

/// The federated catalog of the latest snapshot, rebuilt only when the snapshot changed.
#[derive(Debug)]
pub struct FederationCache {
    router: RouterHandle,
    mode: PrefixMode,
    cached: ArcSwap<Federated>,
}

impl FederationCache {
    /// A cache over `router`'s snapshots, tools named by `mode`.
    pub fn new(router: RouterHandle, mode: PrefixMode) -> Self {
        Self {
            router,
            mode,
            cached: ArcSwap::from_pointee(Federated::default()),
        }
    }

    /// The router this cache reads.
    pub fn router(&self) -> &RouterHandle {
        &self.router
    }

    /// The federated catalog of the current snapshot.
    pub fn get(&self) -> Arc<Federated> {
        let snapshot = self.router.snapshot();
        let cached = self.cached.load_full();
        if cached.version == snapshot.version && snapshot.version != 0 {
            return cached;
        }
        let fresh = Arc::new(Federated::build(&snapshot, self.mode));
        for c in &fresh.conflicts {
            if !cached.conflicts.contains(c) {
                tracing::warn!(tool = %c.name, kept = %c.kept, hidden = ?c.hidden, "tool name conflict (tool_prefix = \"never\"): {c}");
            }
        }
        self.cached.store(fresh.clone());
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::router::ServerView;
    use crate::upstream::Status;
    use serde_json::json;

    fn tool(name: &str, schema: serde_json::Value) -> Tool {
        Tool::new(
            name.to_owned(),
            "d",
            schema.as_object().cloned().unwrap_or_default(),
        )
    }

    fn server(name: &str, priority: i32, tools: Vec<Tool>, prompts: &[&str]) -> ServerView {
        let catalog = Catalog::new(
            tools,
            vec![],
            vec![],
            prompts
                .iter()
                .map(|p| Prompt::new(*p, None::<String>, None))
                .collect(),
        );
        ServerView {
            name: name.into(),
            priority,
            status: Status::Healthy,
            next_retry_at: None,
            catalog: Some(Arc::new(catalog.names())),
            entries: Some(Arc::new(catalog)),
            live: Default::default(),
            ready: Default::default(),
            gate: Default::default(),
        }
    }

    #[test]
    fn replicas_merge_collisions_are_prefixed_and_route_back_through_the_map() {
        let a = json!({"type": "object", "properties": {"x": {"type": "string"}}});
        let b = json!({"type": "object", "properties": {"y": {"type": "number"}}});
        let snap = RoutingSnapshot::build(
            7,
            vec![
                server(
                    "alpha",
                    1,
                    vec![tool("echo", a.clone()), tool("search", a.clone())],
                    &["p"],
                ),
                server(
                    "beta",
                    2,
                    vec![tool("echo", a.clone()), tool("search", b)],
                    &["p", "q"],
                ),
                server("gamma.v2", 3, vec![tool("search", a)], &[]),
            ],
        );
        let f = Federated::build(&snap, PrefixMode::Conflicts);
        let names: Vec<&str> = f.tools.iter().map(|t| t.name.as_ref()).collect();
        let gamma = prefixed("gamma.v2", "search");
        assert_eq!(
            names,
            ["alpha__search", "beta__search", "echo", gamma.as_str()]
        );
        assert_eq!(
            f.tool("echo"),
            Some(&ToolRoute {
                name: "echo".into(),
                only: None
            })
        );
        assert_eq!(
            f.tool("beta__search"),
            Some(&ToolRoute {
                name: "search".into(),
                only: Some("beta".into())
            })
        );
        assert_eq!(f.tool("search"), None, "a collision has no plain entry");
        assert!(gamma.starts_with("gamma_v2__search_"), "{gamma}");
        assert_eq!(
            f.tool(&gamma).and_then(|r| r.only.as_deref()),
            Some("gamma.v2")
        );
        let prompts: Vec<&str> = f.prompts.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(prompts, ["p", "q"]);
        assert_eq!(f.version, 7);
    }

    #[test]
    fn unreachable_servers_are_left_out_and_degraded_ones_stay_listed() {
        let a = json!({"type": "object", "properties": {"x": {"type": "string"}}});
        let b = json!({"type": "object", "properties": {"y": {"type": "number"}}});
        let with = |mut s: ServerView, status| {
            s.status = status;
            s
        };
        // (beta's status, tools listed, where `search` routes, where `only_beta` routes)
        let table = [
            (
                Status::Healthy,
                vec!["alpha__search", "beta__search", "only_beta"],
                None,
                Some(None),
            ),
            (
                Status::Degraded,
                vec!["alpha__search", "beta__search", "only_beta"],
                None,
                Some(None),
            ),
            (Status::Unreachable, vec!["search"], Some(None), Some(None)),
        ];
        for (status, listed, search, only_beta) in table {
            let snap = RoutingSnapshot::build(
                1,
                vec![
                    server("alpha", 1, vec![tool("search", a.clone())], &["pa"]),
                    with(
                        server(
                            "beta",
                            2,
                            vec![tool("search", b.clone()), tool("only_beta", a.clone())],
                            &["pb"],
                        ),
                        status,
                    ),
                ],
            );
            let f = Federated::build(&snap, PrefixMode::Conflicts);
            let names: Vec<&str> = f.tools.iter().map(|t| t.name.as_ref()).collect();
            assert_eq!(names, listed, "{status:?}");
            assert_eq!(
                f.tool("search").map(|r| r.only.clone()),
                search,
                "{status:?}"
            );
            assert_eq!(
                f.tool("only_beta").map(|r| r.only.clone()),
                only_beta,
                "{status:?}"
            );
            let prompts: Vec<&str> = f.prompts.iter().map(|p| p.name.as_str()).collect();
            let want: &[&str] = if status == Status::Unreachable {
                &["pa"]
            } else {
                &["pa", "pb"]
            };
            assert_eq!(prompts, want, "{status:?}");
        }
    }

    #[test]
    fn prefixed_names_stay_within_the_allowed_alphabet_and_length() {
        assert_eq!(prefixed("srv", "tool-1_x"), "srv__tool-1_x");
        let long = prefixed("s", &"t".repeat(100));
        assert!(long.len() <= 64);
        assert_ne!(long, prefixed("s", &"t".repeat(99)));
        let odd = prefixed("a.b", "c d/é");
        assert!(odd.len() <= 64);
        assert!(
            odd.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        );
    }

    #[test]
    fn a_changed_list_changes_its_hash_only() {
        let a = json!({"type": "object"});
        let one =
            RoutingSnapshot::build(1, vec![server("s", 1, vec![tool("t", a.clone())], &["p"])]);
        let two = RoutingSnapshot::build(
            2,
            vec![server(
                "s",
                1,
                vec![tool("t", a.clone()), tool("u", a)],
                &["p"],
            )],
        );
        let (f1, f2) = (
            Federated::build(&one, PrefixMode::Conflicts),
            Federated::build(&two, PrefixMode::Conflicts),
        );
        assert_ne!(f1.hashes[0], f2.hashes[0]);
        assert_eq!(f1.hashes[1], f2.hashes[1]);
        assert_eq!(f1.hashes[2], f2.hashes[2]);
    }

    #[test]
    fn a_view_changes_only_when_what_it_keeps_changes() {
        let a = json!({"type": "object"});
        let build = |tools: &[&str], prompts: &[&str]| {
            let tools = tools.iter().map(|t| tool(t, a.clone())).collect();
            Federated::build(
                &RoutingSnapshot::build(1, vec![server("s", 1, tools, prompts)]),
                PrefixMode::Conflicts,
            )
        };
        let view = |f: &Federated| {
            f.hashes_of_view(
                |t| t.starts_with("ext") || t == "echo",
                |_| false,
                |p| p == "p",
            )
        };
        let base = build(&["echo", "stats"], &["p"]);
        let cases = [
            (
                "a tool outside the view",
                build(&["echo", "stats", "other"], &["p"]),
                false,
            ),
            (
                "a prompt outside the view",
                build(&["echo", "stats"], &["p", "q"]),
                false,
            ),
            (
                "a tool inside the view",
                build(&["echo", "stats", "extra"], &["p"]),
                true,
            ),
            ("a tool leaving the view", build(&["stats"], &["p"]), true),
            (
                "a prompt leaving the view",
                build(&["echo", "stats"], &[]),
                true,
            ),
        ];
        for (what, next, changed) in cases {
            assert_ne!(
                base.hashes, next.hashes,
                "{what}: the whole catalog changed"
            );
            assert_eq!(view(&base) != view(&next), changed, "{what}");
        }
    }

    #[test]
    fn always_prefixes_every_tool_and_never_keeps_the_first_variant() {
        let a = json!({"type": "object", "properties": {"x": {"type": "string"}}});
        let b = json!({"type": "object", "properties": {"y": {"type": "number"}}});
        let snap = RoutingSnapshot::build(
            3,
            vec![
                server(
                    "alpha",
                    1,
                    vec![tool("echo", a.clone()), tool("search", a.clone())],
                    &[],
                ),
                server(
                    "beta",
                    2,
                    vec![tool("echo", a.clone()), tool("search", b)],
                    &[],
                ),
            ],
        );
        let always = Federated::build(&snap, PrefixMode::Always);
        let names: Vec<&str> = always.tools.iter().map(|t| t.name.as_ref()).collect();
        assert_eq!(
            names,
            ["alpha__echo", "alpha__search", "beta__echo", "beta__search"]
        );
        assert_eq!(
            always.tool("beta__echo").and_then(|r| r.only.as_deref()),
            Some("beta")
        );
        assert!(always.conflicts.is_empty());

        let never = Federated::build(&snap, PrefixMode::Never);
        let names: Vec<&str> = never.tools.iter().map(|t| t.name.as_ref()).collect();
        assert_eq!(names, ["echo", "search"]);
        assert_eq!(never.tool("echo").and_then(|r| r.only.as_deref()), None);
        assert_eq!(
            never.tool("search"),
            Some(&ToolRoute {
                name: "search".into(),
                only: Some("alpha".into())
            })
        );
        assert_eq!(
            never.conflicts,
            [Conflict {
                name: "search".into(),
                kept: "alpha".into(),
                hidden: vec!["beta".into()]
            }]
        );
        assert_eq!(
            never.tools[1].input_schema.get("properties"),
            a.get("properties")
        );
    }
}
