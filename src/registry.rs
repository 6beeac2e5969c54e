//! A registry of named things att runs as actors: what is registered, where each came from,
//! and the rules that keep the registrations, the store and the running actors agreeing. The
//! gateway's upstreams ([`crate::gateway`]) and the managed services ([`crate::services`])
//! are each one; what differs between them is the [`Registered`] trait.
//!
//! - Registrations come from the config file and from the API. API registrations are stored
//!   and come back after a restart; a stored registration wins over a config entry of the
//!   same name (it is the later intent).
//! - Registering a name that exists replaces it: the supervisor stops the old actor before
//!   the new one starts. Removing one stops its actor and forgets its stored registration.
//! - Changes run one at a time, each from its store write to its actor's start or stop, so
//!   that concurrent requests for one name cannot leave the store, the registry and the
//!   running actors disagreeing. That is the serialization a registry actor's mailbox would
//!   give, without an actor on the read path: listing reads a map.
//! - A [`Cap`] bounds how many there are: a new name beyond it is refused, naming the config
//!   key. Registrations restored beyond it (after the cap was lowered) all start.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use att_runtime::store::StoreError;
use att_runtime::supervisor::SupervisorError;

/// Where a registration came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The config file (or `--mcp-config`).
    Config,
    /// The HTTP API (stored).
    Api,
}

/// The most registrations a registry keeps, and the config key that sets it.
#[derive(Debug, Clone, Copy)]
pub struct Cap {
    /// The limit.
    pub max: usize,
    /// Its dotted config key, e.g. `gateway.max_upstreams`.
    pub key: &'static str,
}

/// Why a registry change failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The spec is not valid.
    #[error("{0}")]
    Invalid(String),
    /// The actor could not start.
    #[error("could not start {kind} `{name}`: {reason}")]
    Start {
        /// What the registry keeps (`upstream`, `service`).
        kind: &'static str,
        /// The registration.
        name: String,
        /// Why.
        reason: String,
    },
    /// The store refused.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The supervisor could not be reached.
    #[error("{0}")]
    Supervisor(String),
    /// As many as allowed are registered.
    #[error(
        "att already has {limit} {kind}s, its limit: remove one, or raise {} to register more",
        setting(key)
    )]
    Full {
        /// What the registry keeps.
        kind: &'static str,
        /// The limit.
        limit: usize,
        /// The config key that sets it.
        key: &'static str,
    },
}

/// How a config key is named to a user: `[gateway] max_upstreams` (ATT_GATEWAY__MAX_UPSTREAMS).
fn setting(key: &str) -> String {
    let env = format!("ATT_{}", key.to_ascii_uppercase().replace('.', "__"));
    match key.split_once('.') {
        Some((section, field)) => format!("`[{section}] {field}` ({env})"),
        None => format!("`{key}` ({env})"),
    }
}

/// One kind of registration: its name, how its spec is checked, how an actor is started and
/// stopped for it, and how it is stored.
#[async_trait::async_trait]
pub trait Registered: Send + Sync + 'static {
    /// What one registration is.
    type Spec: Clone + Send + Sync + 'static;
    /// What the registry keeps, in messages (`upstream`, `service`).
    const KIND: &'static str;

    /// Its name, unique in the registry.
    fn name(spec: &Self::Spec) -> &str;
    /// Rules the spec's own parsing does not enforce; checked before anything is stored.
    fn check(_spec: &Self::Spec) -> Result<(), String> {
        Ok(())
    }
    /// Starts its actor, replacing a running one of the same name.
    async fn start(&self, spec: &Self::Spec) -> Result<(), SupervisorError>;
    /// Stops its actor for good; `false` when none ran.
    async fn stop(&self, name: &str) -> Result<bool, SupervisorError>;
    /// Stores an API registration (inserting or replacing).
    async fn save(&self, spec: &Self::Spec) -> Result<(), StoreError>;
    /// Forgets a stored registration; `false` when none was stored.
    async fn forget(&self, name: &str) -> Result<bool, StoreError>;
    /// Every stored registration.
    async fn stored(&self) -> Result<Vec<Self::Spec>, StoreError>;
}

/// The registrations of one kind and the one-at-a-time rule for changing them.
pub struct Registry<K: Registered> {
    kind: K,
    cap: Option<Cap>,
    entries: Mutex<BTreeMap<String, (K::Spec, Source)>>,
    /// Held by each change from its store write to its actor's start or stop.
    changes: tokio::sync::Mutex<()>,
}

impl<K: Registered> Registry<K> {
    /// The configured and the stored registrations (a stored one wins over a config entry of
    /// its name), all checked; none is started yet ([`Registry::start_all`]).
    pub async fn restore(
        kind: K,
        configured: Vec<K::Spec>,
        cap: Option<Cap>,
    ) -> Result<Self, RegistryError> {
        let mut all: BTreeMap<String, (K::Spec, Source)> = configured
            .into_iter()
            .map(|s| (K::name(&s).to_owned(), (s, Source::Config)))
            .collect();
        for spec in kind.stored().await? {
            all.insert(K::name(&spec).to_owned(), (spec, Source::Api));
        }
        for (spec, _) in all.values() {
            K::check(spec).map_err(RegistryError::Invalid)?;
        }
        if let Some(cap) = cap
            && all.len() > cap.max
        {
            tracing::warn!(
                kind = K::KIND,
                registered = all.len(),
                limit = cap.max,
                key = cap.key,
                "more are registered than the limit allows: all start, none can be added"
            );
        }
        Ok(Self {
            kind,
            cap,
            entries: Mutex::new(all),
            changes: tokio::sync::Mutex::new(()),
        })
    }

    /// Starts the actor of every registration.
    pub async fn start_all(&self) -> Result<(), RegistryError> {
        let _one_at_a_time = self.changes.lock().await;
        let specs: Vec<K::Spec> = self.entries().values().map(|(s, _)| s.clone()).collect();
        for spec in &specs {
            self.start(spec).await?;
        }
        Ok(())
    }

    /// Registers (or replaces) over the API: checked, stored, then started. A new name beyond
    /// the cap is refused ([`RegistryError::Full`]).
    pub async fn register(&self, spec: K::Spec) -> Result<(), RegistryError> {
        K::check(&spec).map_err(RegistryError::Invalid)?;
        let _one_at_a_time = self.changes.lock().await;
        let name = K::name(&spec).to_owned();
        self.check_room(&name)?;
        self.kind.save(&spec).await?;
        self.start(&spec).await?;
        self.entries().insert(name, (spec, Source::Api));
        Ok(())
    }

    /// Forgets a registration and stops its actor; `false` when there was none of either.
    pub async fn remove(&self, name: &str) -> Result<bool, RegistryError> {
        let _one_at_a_time = self.changes.lock().await;
        let known = self.entries().contains_key(name);
        let stored = self.kind.forget(name).await?;
        let stopped = self
            .kind
            .stop(name)
            .await
            .map_err(|e| RegistryError::Supervisor(e.to_string()))?;
        self.entries().remove(name);
        Ok(known || stored || stopped)
    }

    /// Brings the registrations in line with the store after another att sharing it changed
    /// them: stored ones that are new or differ are started (replacing), API registrations
    /// no longer stored are stopped. Config entries stay. How many changed.
    pub async fn sync(&self) -> Result<usize, RegistryError>
    where
        K::Spec: PartialEq,
    {
        let _one_at_a_time = self.changes.lock().await;
        let stored: BTreeMap<String, K::Spec> = self
            .kind
            .stored()
            .await?
            .into_iter()
            .map(|s| (K::name(&s).to_owned(), s))
            .collect();
        let current = self.entries().clone();
        let mut changed = 0;
        for (name, spec) in &stored {
            if matches!(current.get(name), Some((s, Source::Api)) if s == spec) {
                continue;
            }
            if let Err(reason) = K::check(spec) {
                tracing::warn!(kind = K::KIND, %name, %reason, "stored by another att, refused here");
                continue;
            }
            self.start(spec).await?;
            self.entries()
                .insert(name.clone(), (spec.clone(), Source::Api));
            changed += 1;
        }
        for (name, (_, source)) in &current {
            if *source == Source::Api && !stored.contains_key(name) {
                self.kind
                    .stop(name)
                    .await
                    .map_err(|e| RegistryError::Supervisor(e.to_string()))?;
                self.entries().remove(name);
                changed += 1;
            }
        }
        Ok(changed)
    }

    /// What runs the registrations.
    pub fn kind(&self) -> &K {
        &self.kind
    }

    /// Every registration, by name.
    pub fn list(&self) -> Vec<(K::Spec, Source)> {
        self.entries().values().cloned().collect()
    }

    /// One registration.
    pub fn get(&self, name: &str) -> Option<(K::Spec, Source)> {
        self.entries().get(name).cloned()
    }

    fn check_room(&self, name: &str) -> Result<(), RegistryError> {
        let Some(cap) = self.cap else {
            return Ok(());
        };
        let entries = self.entries();
        if entries.contains_key(name) || entries.len() < cap.max {
            return Ok(());
        }
        Err(RegistryError::Full {
            kind: K::KIND,
            limit: cap.max,
            key: cap.key,
        })
    }

    async fn start(&self, spec: &K::Spec) -> Result<(), RegistryError> {
        self.kind
            .start(spec)
            .await
            .map_err(|e| RegistryError::Start {
                kind: K::KIND,
                name: K::name(spec).to_owned(),
                reason: e.to_string(),
            })
    }

    fn entries(&self) -> MutexGuard<'_, BTreeMap<String, (K::Spec, Source)>> {
        // A panic while the map was held cannot leave it half-written: each change is one
        // insert or remove.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Thing {
        name: String,
        version: u32,
    }

    fn thing(name: &str, version: u32) -> Thing {
        Thing {
            name: name.into(),
            version,
        }
    }

    /// An in-memory store and set of running actors; each step yields, so that concurrent
    /// changes interleave wherever the registry lets them.
    #[derive(Default)]
    struct World {
        stored: Mutex<BTreeMap<String, Thing>>,
        running: Mutex<BTreeMap<String, Thing>>,
    }

    #[derive(Clone, Default)]
    struct Things(Arc<World>);

    impl Things {
        fn stored(&self, name: &str) -> Option<Thing> {
            self.0
                .stored
                .lock()
                .expect("not poisoned")
                .get(name)
                .cloned()
        }
        fn running(&self, name: &str) -> Option<Thing> {
            self.0
                .running
                .lock()
                .expect("not poisoned")
                .get(name)
                .cloned()
        }
    }

    #[async_trait::async_trait]
    impl Registered for Things {
        type Spec = Thing;
        const KIND: &'static str = "thing";

        fn name(spec: &Thing) -> &str {
            &spec.name
        }
        fn check(spec: &Thing) -> Result<(), String> {
            if spec.version == 0 {
                return Err(format!("`{}`: version 0 is not a version", spec.name));
            }
            Ok(())
        }
        async fn start(&self, spec: &Thing) -> Result<(), SupervisorError> {
            tokio::task::yield_now().await;
            if spec.name == "broken" {
                return Err(SupervisorError::StartFailed {
                    name: spec.name.clone(),
                    reason: "pre_start failed".into(),
                });
            }
            let mut running = self.0.running.lock().expect("not poisoned");
            running.insert(spec.name.clone(), spec.clone());
            Ok(())
        }
        async fn stop(&self, name: &str) -> Result<bool, SupervisorError> {
            tokio::task::yield_now().await;
            let mut running = self.0.running.lock().expect("not poisoned");
            Ok(running.remove(name).is_some())
        }
        async fn save(&self, spec: &Thing) -> Result<(), StoreError> {
            tokio::task::yield_now().await;
            let mut stored = self.0.stored.lock().expect("not poisoned");
            stored.insert(spec.name.clone(), spec.clone());
            Ok(())
        }
        async fn forget(&self, name: &str) -> Result<bool, StoreError> {
            tokio::task::yield_now().await;
            let mut stored = self.0.stored.lock().expect("not poisoned");
            Ok(stored.remove(name).is_some())
        }
        async fn stored(&self) -> Result<Vec<Thing>, StoreError> {
            let stored = self.0.stored.lock().expect("not poisoned");
            Ok(stored.values().cloned().collect())
        }
    }

    const CAP: Cap = Cap {
        max: 2,
        key: "gateway.max_upstreams",
    };

    #[tokio::test]
    async fn a_stored_registration_wins_over_a_config_entry_of_its_name_and_none_runs_before_start_all()
     {
        let things = Things::default();
        things.save(&thing("a", 2)).await.expect("saved");
        let registry = Registry::restore(things.clone(), vec![thing("a", 1), thing("b", 1)], None)
            .await
            .expect("restored");
        assert_eq!(registry.get("a"), Some((thing("a", 2), Source::Api)));
        assert_eq!(registry.get("b"), Some((thing("b", 1), Source::Config)));
        assert_eq!(things.running("a"), None);
        registry.start_all().await.expect("started");
        assert_eq!(things.running("a"), Some(thing("a", 2)));
        assert_eq!(things.running("b"), Some(thing("b", 1)));
    }

    #[tokio::test]
    async fn registering_a_name_replaces_it_in_the_store_the_registry_and_the_running_actor() {
        let things = Things::default();
        let registry = Registry::restore(things.clone(), vec![thing("a", 1)], None)
            .await
            .expect("restored");
        registry.start_all().await.expect("started");
        registry.register(thing("a", 2)).await.expect("replaced");
        assert_eq!(registry.list(), vec![(thing("a", 2), Source::Api)]);
        assert_eq!(things.stored("a"), Some(thing("a", 2)));
        assert_eq!(things.running("a"), Some(thing("a", 2)));
    }

    #[tokio::test]
    async fn removing_stops_the_actor_and_forgets_the_stored_registration() {
        let things = Things::default();
        let registry = Registry::restore(things.clone(), vec![thing("c", 1)], None)
            .await
            .expect("restored");
        registry.start_all().await.expect("started");
        registry.register(thing("a", 1)).await.expect("registered");
        assert!(registry.remove("a").await.expect("removed"));
        assert!(registry.remove("c").await.expect("removed"));
        assert_eq!(registry.list(), vec![]);
        assert_eq!((things.stored("a"), things.running("a")), (None, None));
        assert_eq!(things.running("c"), None);
        assert!(!registry.remove("a").await.expect("nothing to remove"));
    }

    #[tokio::test]
    async fn the_cap_refuses_a_new_name_naming_the_key_but_not_a_replacement() {
        let things = Things::default();
        let registry = Registry::restore(things.clone(), vec![], Some(CAP))
            .await
            .expect("restored");
        registry.register(thing("a", 1)).await.expect("first");
        registry.register(thing("b", 1)).await.expect("second");
        let full = registry.register(thing("c", 1)).await.expect_err("full");
        assert!(
            matches!(full, RegistryError::Full { limit: 2, .. }),
            "{full:?}"
        );
        assert_eq!(
            full.to_string(),
            "att already has 2 things, its limit: remove one, or raise `[gateway] max_upstreams` (ATT_GATEWAY__MAX_UPSTREAMS) to register more"
        );
        assert_eq!(things.stored("c"), None);
        registry
            .register(thing("b", 2))
            .await
            .expect("a replacement");
        assert_eq!(things.running("b"), Some(thing("b", 2)));
    }

    #[tokio::test]
    async fn registrations_restored_beyond_a_lowered_cap_all_start() {
        let things = Things::default();
        let configured = vec![thing("a", 1), thing("b", 1), thing("c", 1)];
        let registry = Registry::restore(things.clone(), configured, Some(CAP))
            .await
            .expect("restored");
        registry.start_all().await.expect("started");
        assert_eq!(things.running("c"), Some(thing("c", 1)));
        assert!(matches!(
            registry.register(thing("d", 1)).await,
            Err(RegistryError::Full { .. })
        ));
    }

    #[tokio::test]
    async fn an_invalid_spec_is_refused_before_it_is_stored_and_a_stored_one_stops_the_restore() {
        let things = Things::default();
        let registry = Registry::restore(things.clone(), vec![], None)
            .await
            .expect("restored");
        let e = registry.register(thing("a", 0)).await.expect_err("invalid");
        assert!(
            matches!(e, RegistryError::Invalid(ref m) if m.contains("version 0")),
            "{e:?}"
        );
        assert_eq!(things.stored("a"), None);
        things.save(&thing("z", 0)).await.expect("saved");
        let restored = Registry::restore(things.clone(), vec![], None).await;
        assert!(matches!(restored, Err(RegistryError::Invalid(_))));
    }

    #[tokio::test]
    async fn a_failed_start_names_the_registration() {
        let registry = Registry::restore(Things::default(), vec![], None)
            .await
            .expect("restored");
        let e = registry
            .register(thing("broken", 1))
            .await
            .expect_err("fails");
        assert!(
            e.to_string()
                .starts_with("could not start thing `broken`: could not start `broken`"),
            "{e}"
        );
        assert_eq!(registry.get("broken"), None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_changes_to_one_name_leave_registry_store_and_actors_agreeing() {
        for round in 0..20u32 {
            let things = Things::default();
            let registry = Arc::new(
                Registry::restore(things.clone(), vec![], None)
                    .await
                    .expect("restored"),
            );
            let changes: Vec<_> = (0..12u32)
                .map(|i| {
                    let registry = registry.clone();
                    tokio::spawn(async move {
                        if (i + round) % 3 == 2 {
                            registry.remove("racy").await.map(|_| ())
                        } else {
                            registry.register(thing("racy", i + 1)).await
                        }
                    })
                })
                .collect();
            for change in changes {
                change.await.expect("joined").expect("each change succeeds");
            }
            let registered = registry.get("racy").map(|(spec, _)| spec);
            assert_eq!(things.running("racy"), registered, "round {round}");
            assert_eq!(things.stored("racy"), registered, "round {round}");
        }
    }

    /// Another att wrote the store: `sync` starts what is new or changed, stops the API
    /// registrations no longer stored, leaves config entries and unchanged ones alone.
    #[tokio::test]
    async fn sync_applies_what_another_att_stored() {
        let things = Things::default();
        things.save(&thing("same", 1)).await.expect("saved");
        things.save(&thing("changed", 1)).await.expect("saved");
        things.save(&thing("gone", 1)).await.expect("saved");
        let registry = Registry::restore(things.clone(), vec![thing("config", 1)], None)
            .await
            .expect("restored");
        registry.start_all().await.expect("started");
        assert_eq!(registry.sync().await.expect("nothing new"), 0);
        // What the other att did.
        things.save(&thing("changed", 2)).await.expect("saved");
        things.forget("gone").await.expect("forgot");
        things.save(&thing("new", 1)).await.expect("saved");
        things.save(&thing("invalid", 0)).await.expect("saved");
        assert_eq!(registry.sync().await.expect("synced"), 3);
        let listed: Vec<(String, u32, Source)> = registry
            .list()
            .into_iter()
            .map(|(t, s)| (t.name, t.version, s))
            .collect();
        assert_eq!(
            listed,
            [
                ("changed".into(), 2, Source::Api),
                ("config".into(), 1, Source::Config),
                ("new".into(), 1, Source::Api),
                ("same".into(), 1, Source::Api),
            ]
        );
        assert_eq!(things.running("changed"), Some(thing("changed", 2)));
        assert_eq!(things.running("new"), Some(thing("new", 1)));
        assert_eq!(
            (things.running("gone"), things.running("invalid")),
            (None, None)
        );
        assert_eq!(registry.sync().await.expect("again"), 0);
    }

    #[test]
    fn a_setting_is_named_by_its_section_and_its_environment_variable() {
        assert_eq!(
            setting("gateway.max_upstreams"),
            "`[gateway] max_upstreams` (ATT_GATEWAY__MAX_UPSTREAMS)"
        );
        assert_eq!(setting("listen"), "`listen` (ATT_LISTEN)");
    }
}
