//! The managed services' registry: which `service:<name>` targets exist, where they came
//! from, and their actors (BOOTSTRAP.md, "Words"; issue 5, "Service targets and a process
//! manager").
//!
//! Services come from the config file (`[[services]]`) and from the API; API registrations
//! are stored and come back after a restart (a stored registration wins over a config entry
//! of the same name). Every service starts with att. Registering a name that exists replaces
//! it: the old process is stopped (its whole group) before the new one starts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use att_gateway::tree::AttTree;
use att_release::service::actor::{ServiceActor, ServiceArgs, ServiceHandle};
use att_release::service::spec::ServiceSpec;
use att_runtime::events::EventSink;
use att_runtime::supervisor::{ChildSpec, RestartPolicy};

use crate::gateway::Source;
use crate::store::SqliteStore;

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ServicesError {
    /// The spec is not valid.
    #[error("{0}")]
    Invalid(String),
    /// The actor could not start.
    #[error("could not start service `{0}`: {1}")]
    Start(String, String),
    /// The store refused.
    #[error(transparent)]
    Store(#[from] att_runtime::store::StoreError),
    /// The supervisor could not be reached.
    #[error("{0}")]
    Supervisor(String),
}

/// The managed services of one att instance.
pub struct Services {
    tree: Arc<AttTree>,
    store: SqliteStore,
    data_dir: PathBuf,
    restart: RestartPolicy,
    registered: Mutex<BTreeMap<String, (ServiceSpec, Source)>>,
    /// Registrations and removals run one at a time (as in the gateway).
    changes: tokio::sync::Mutex<()>,
}

impl Services {
    /// Starts every configured and stored service; with `defer`, only reads and checks them
    /// (a candidate release of att must not touch the services the running att runs):
    /// [`Services::start_deferred`] starts them later.
    pub async fn start(
        tree: Arc<AttTree>,
        store: SqliteStore,
        data_dir: &Path,
        configured: Vec<ServiceSpec>,
        restart: RestartPolicy,
        defer: bool,
    ) -> Result<Arc<Self>, ServicesError> {
        let services = Arc::new(Self {
            tree,
            store,
            data_dir: data_dir.to_owned(),
            restart,
            registered: Mutex::new(BTreeMap::new()),
            changes: tokio::sync::Mutex::new(()),
        });
        let mut all: BTreeMap<String, (ServiceSpec, Source)> = configured
            .into_iter()
            .map(|s| (s.name.clone(), (s, Source::Config)))
            .collect();
        for spec in services.store.list_services().await? {
            all.insert(spec.name.clone(), (spec, Source::Api));
        }
        for (spec, source) in all.into_values() {
            spec.validate().map_err(ServicesError::Invalid)?;
            if defer {
                services.lock().insert(spec.name.clone(), (spec, source));
            } else {
                services.start_actor(spec, source).await?;
            }
        }
        Ok(services)
    }

    /// Starts the services a deferred [`Services::start`] read.
    pub async fn start_deferred(&self) -> Result<(), ServicesError> {
        let _one_at_a_time = self.changes.lock().await;
        let all: Vec<(ServiceSpec, Source)> = self.lock().values().cloned().collect();
        for (spec, source) in all {
            self.start_actor(spec, source).await?;
        }
        Ok(())
    }

    /// Its log file: the spec's, or `<data_dir>/services/<name>/service.log`.
    fn log_file(&self, spec: &ServiceSpec) -> PathBuf {
        spec.log_file.clone().unwrap_or_else(|| {
            self.data_dir
                .join("services")
                .join(&spec.name)
                .join("service.log")
        })
    }

    async fn start_actor(&self, spec: ServiceSpec, source: Source) -> Result<(), ServicesError> {
        let name = spec.name.clone();
        let events: Arc<dyn EventSink> = Arc::new(self.tree.events.clone());
        let log_file = self.log_file(&spec);
        let state_file = self
            .data_dir
            .join("services")
            .join(&spec.name)
            .join("state.json");
        let child_spec = spec.clone();
        // The supervisor restarts a failed actor; the process is started again by it.
        let child = ChildSpec::new(ServiceHandle::actor_name(&name), self.restart, move || {
            let args = ServiceArgs {
                spec: child_spec.clone(),
                log_file: log_file.clone(),
                events: events.clone(),
                autostart: true,
                state_file: Some(state_file.clone()),
            };
            (ServiceActor, args)
        });
        self.tree
            .services
            .start_child(child)
            .await
            .map_err(|e| ServicesError::Start(name.clone(), e.to_string()))?;
        self.lock().insert(name, (spec, source));
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, (ServiceSpec, Source)>> {
        self.registered.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers (or replaces) a service over the API; it is stored first, then started.
    pub async fn register(&self, spec: ServiceSpec) -> Result<(), ServicesError> {
        spec.validate().map_err(ServicesError::Invalid)?;
        let _one_at_a_time = self.changes.lock().await;
        self.store.save_service(&spec).await?;
        self.start_actor(spec, Source::Api).await
    }

    /// Stops a service (its process group) and forgets it; `false` when there was none.
    pub async fn remove(&self, name: &str) -> Result<bool, ServicesError> {
        let _one_at_a_time = self.changes.lock().await;
        let Some((_, source)) = self.get(name) else {
            return Ok(false);
        };
        if source == Source::Api {
            self.store.delete_service(name).await?;
        }
        self.tree
            .services
            .stop_child(&ServiceHandle::actor_name(name))
            .await
            .map_err(|e| ServicesError::Supervisor(e.to_string()))?;
        self.lock().remove(name);
        Ok(true)
    }

    /// Every registered service.
    pub fn list(&self) -> Vec<(ServiceSpec, Source)> {
        self.lock().values().cloned().collect()
    }

    /// One registered service.
    pub fn get(&self, name: &str) -> Option<(ServiceSpec, Source)> {
        self.lock().get(name).cloned()
    }

    /// The handle of a service's actor.
    pub fn handle(&self, name: &str) -> ServiceHandle {
        ServiceHandle::new(self.tree.directory.clone(), name)
    }

    /// How long a stop of `spec` may take, with room for the mailbox.
    pub fn stop_limit(spec: &ServiceSpec) -> Duration {
        spec.stop_grace.saturating_add(Duration::from_secs(5))
    }
}
