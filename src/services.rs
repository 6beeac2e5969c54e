//! The managed services' registry: which `service:<name>` targets exist, where they came
//! from, and their actors (BOOTSTRAP.md, "Words").
//!
//! Services come from the config file (`[[services]]`) and from the API; the rules they are
//! kept by (stored registrations win, replace by name, one change at a time) are the
//! [`Registry`]'s. Every service starts with att, except in a candidate release of att, which
//! must not touch the services the running att runs: it starts them once promoted
//! ([`Services::start_deferred`]). Replacing or removing a service stops its process (its
//! whole group) before anything else starts. No cap bounds their number (see
//! todo/decisions.md, "One registry for upstreams and services").
//!
//! API registrations are kept behind the [`ServiceStore`] port. A service registered over
//! the API belongs to the node (the att of a cluster) that registered it: only that node
//! runs it — the others leave it alone, and a release run of it asked of them is stored for
//! that node to start ([`Services::owner_elsewhere`], [`crate::run_route`]). Registering it on another node moves
//! it there (its old node stops it when it hears of the change).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use att_gateway::tree::AttTree;
use att_release::service::actor::{ServiceActor, ServiceArgs, ServiceHandle};
use att_release::service::spec::ServiceSpec;
use att_runtime::events::EventSink;
use att_runtime::store::StoreError;
use att_runtime::supervisor::{ChildSpec, RestartPolicy, SupervisorError};

use crate::registry::{Registered, Registry, RegistryError, Source};

/// Durable registry of services registered over the API (config-file services are not
/// stored: the file is their source of truth).
#[async_trait::async_trait]
pub trait ServiceStore: Send + Sync + 'static {
    /// Inserts or replaces the service called `spec.name`.
    async fn save_service(&self, spec: &ServiceSpec) -> Result<(), StoreError>;
    /// Removes it; `false` when there was none.
    async fn delete_service(&self, name: &str) -> Result<bool, StoreError>;
    /// Every stored service of this store's node (and of no node), by name: what this
    /// node runs.
    async fn list_services(&self) -> Result<Vec<ServiceSpec>, StoreError>;
    /// The node a stored service belongs to (`""`: none named); `None` when not stored.
    async fn service_node(&self, name: &str) -> Result<Option<String>, StoreError>;
    /// The stored services of the other nodes, by name, each with its node: at most
    /// [`MAX_ELSEWHERE`] (none when this store names no node).
    async fn services_elsewhere(&self) -> Result<Vec<(ServiceSpec, String)>, StoreError>;
}

/// Other nodes' services [`ServiceStore::services_elsewhere`] returns at most.
pub const MAX_ELSEWHERE: u32 = 1000;

/// The managed services of one att instance.
pub struct Services {
    tree: Arc<AttTree>,
    registry: Registry<ServiceProcesses>,
}

/// How services are run (an actor under the `services` supervisor, which runs the process)
/// and stored.
struct ServiceProcesses {
    tree: Arc<AttTree>,
    store: Arc<dyn ServiceStore>,
    data_dir: PathBuf,
    restart: RestartPolicy,
    /// Seals the environment values in the services' state files.
    sealer: Option<Arc<dyn att_runtime::secret::Sealer>>,
}

impl ServiceProcesses {
    /// Where att keeps what it knows of one service.
    fn dir(&self, name: &str) -> PathBuf {
        self.data_dir.join("services").join(name)
    }

    /// Its log file: the spec's, or `<data_dir>/services/<name>/service.log`.
    fn log_file(&self, spec: &ServiceSpec) -> PathBuf {
        spec.log_file
            .clone()
            .unwrap_or_else(|| self.dir(&spec.name).join("service.log"))
    }
}

#[async_trait::async_trait]
impl Registered for ServiceProcesses {
    type Spec = ServiceSpec;
    const KIND: &'static str = "service";

    fn name(spec: &ServiceSpec) -> &str {
        &spec.name
    }

    fn check(spec: &ServiceSpec) -> Result<(), String> {
        spec.validate()
    }

    async fn start(&self, spec: &ServiceSpec) -> Result<(), SupervisorError> {
        let events: Arc<dyn EventSink> = Arc::new(self.tree.events.clone());
        let log_file = self.log_file(spec);
        let state_file = self.dir(&spec.name).join("state.json");
        let child_spec = spec.clone();
        let sealer = self.sealer.clone();
        // The supervisor restarts a failed actor; the process is started again by it.
        let child = ChildSpec::new(
            ServiceHandle::actor_name(&spec.name),
            self.restart,
            move || {
                let args = ServiceArgs {
                    spec: child_spec.clone(),
                    log_file: log_file.clone(),
                    events: events.clone(),
                    autostart: true,
                    state_file: Some(state_file.clone()),
                    sealer: sealer.clone(),
                };
                (ServiceActor, args)
            },
        );
        self.tree.services.start_child(child).await
    }

    async fn stop(&self, name: &str) -> Result<bool, SupervisorError> {
        self.tree
            .services
            .stop_child(&ServiceHandle::actor_name(name))
            .await
    }

    async fn save(&self, spec: &ServiceSpec) -> Result<(), StoreError> {
        self.store.save_service(spec).await
    }

    async fn forget(&self, name: &str) -> Result<bool, StoreError> {
        self.store.delete_service(name).await
    }

    async fn stored(&self) -> Result<Vec<ServiceSpec>, StoreError> {
        self.store.list_services().await
    }
}

impl Services {
    /// Starts every configured and stored service; with `defer`, only reads and checks them
    /// (a candidate release of att must not touch the services the running att runs):
    /// [`Services::start_deferred`] starts them later.
    pub async fn start(
        tree: Arc<AttTree>,
        store: Arc<dyn ServiceStore>,
        data_dir: &Path,
        configured: Vec<ServiceSpec>,
        restart: RestartPolicy,
        defer: bool,
        sealer: Option<Arc<dyn att_runtime::secret::Sealer>>,
    ) -> Result<Arc<Self>, RegistryError> {
        let processes = ServiceProcesses {
            tree: tree.clone(),
            store,
            data_dir: data_dir.to_owned(),
            restart,
            sealer,
        };
        let registry = Registry::restore(processes, configured, None).await?;
        if !defer {
            registry.start_all().await?;
        }
        Ok(Arc::new(Self { tree, registry }))
    }

    /// Starts the services a deferred [`Services::start`] read.
    pub async fn start_deferred(&self) -> Result<(), RegistryError> {
        self.registry.start_all().await
    }

    /// Registers (or replaces) a service over the API; it is checked, stored, then started.
    pub async fn register(&self, spec: ServiceSpec) -> Result<(), RegistryError> {
        self.registry.register(spec).await
    }

    /// Stops a service (its process group) and forgets it; `false` when there was none.
    pub async fn remove(&self, name: &str) -> Result<bool, RegistryError> {
        self.registry.remove(name).await
    }

    /// Brings this node's services in line with the store after another att changed them:
    /// a service registered (or taken over) elsewhere is stopped here, a removed one too.
    pub async fn sync(&self) -> Result<usize, RegistryError> {
        self.registry.sync().await
    }

    /// The node that runs `target`'s service when it is not this one: a run of it belongs
    /// there. `None` when this node runs it, or nobody does (not a service target, no
    /// such service).
    pub async fn owner_elsewhere(&self, target: &str) -> Result<Option<String>, StoreError> {
        let Some(name) = target.strip_prefix("service:") else {
            return Ok(None);
        };
        if self.registry.get(name).is_some() {
            return Ok(None);
        }
        let store = self.registry.kind().store.clone();
        Ok(store.service_node(name).await?.filter(|n| !n.is_empty()))
    }

    /// The services other nodes of the cluster run (stored over the API there), each with
    /// its node; none on a lone att.
    pub async fn elsewhere(&self) -> Result<Vec<(ServiceSpec, String)>, StoreError> {
        self.registry.kind().store.services_elsewhere().await
    }

    /// Every registered service.
    pub fn list(&self) -> Vec<(ServiceSpec, Source)> {
        self.registry.list()
    }

    /// One registered service.
    pub fn get(&self, name: &str) -> Option<(ServiceSpec, Source)> {
        self.registry.get(name)
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
