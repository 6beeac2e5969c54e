//! The bootstrap actor on its own: a phase whose work panics fails that phase with the panic's
//! text, and the actor survives to take the next run.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use att_release::bootstrap::{BootstrapActor, BootstrapArgs, BootstrapHandle, NAME};
use att_release::model::{Release, ReleaseStore, RunRecord, RunRequest, RunStatus, TargetLock};
use att_release::policy::RollbackLimit;
use att_release::service::actor::{ServiceActor, ServiceArgs, ServiceHandle};
use att_runtime::directory::ActorDirectory;
use att_runtime::events::{EventSink, NewEvent};
use att_runtime::store::StoreError;

/// A store whose release listing panics while `explode` is set.
#[derive(Default)]
struct Exploding {
    explode: AtomicBool,
    runs: Mutex<Vec<RunRecord>>,
}

#[async_trait::async_trait]
impl ReleaseStore for Exploding {
    async fn save_release(&self, _: &Release) -> Result<(), StoreError> {
        Ok(())
    }
    async fn list_releases(&self, _: &str) -> Result<Vec<Release>, StoreError> {
        assert!(!self.explode.load(Ordering::SeqCst), "the store exploded");
        Ok(Vec::new())
    }
    async fn save_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        self.runs.lock().expect("lock").push(run.clone());
        Ok(())
    }
    async fn get_run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        Ok(self
            .runs
            .lock()
            .expect("lock")
            .iter()
            .rev()
            .find(|r| r.id == id)
            .cloned())
    }
    async fn list_runs(&self, _: u32) -> Result<Vec<RunRecord>, StoreError> {
        Ok(Vec::new())
    }
    async fn open_run(&self, run: &RunRecord, _: &str) -> Result<Result<(), String>, StoreError> {
        self.save_run(run).await.map(Ok)
    }
    async fn close_run(&self, run: &RunRecord, _: &str) -> Result<(), StoreError> {
        self.save_run(run).await
    }
    async fn target_locks(&self) -> Result<Vec<TargetLock>, StoreError> {
        Ok(Vec::new())
    }
    async fn claim_lock(&self, _: &TargetLock, _: &str) -> Result<bool, StoreError> {
        Ok(false)
    }
}

struct Nowhere;
impl EventSink for Nowhere {
    fn emit(&self, _: NewEvent) {}
}

async fn finished(store: &Exploding, id: &str) -> RunRecord {
    for _ in 0..1000 {
        if let Ok(Some(r)) = store.get_run(id).await
            && r.status != RunStatus::Running
        {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("run {id} did not end");
}

#[tokio::test]
async fn a_panicking_phase_fails_with_its_reason_and_the_actor_takes_the_next_run() {
    let directory = ActorDirectory::new(64);
    let data = tempfile::tempdir().expect("temp dir");
    let spec = serde_json::from_value(serde_json::json!({"name": "web", "command": "true"}))
        .expect("spec");
    let args = ServiceArgs {
        spec,
        log_file: data.path().join("web.log"),
        events: Arc::new(Nowhere),
        autostart: false,
        state_file: None,
        sealer: None,
    };
    let name = ServiceHandle::actor_name("web");
    att_runtime::trace::spawn(&directory, &name, None, ServiceActor, args)
        .await
        .expect("service actor");
    let store = Arc::new(Exploding::default());
    store.explode.store(true, Ordering::SeqCst);
    let args = BootstrapArgs {
        store: store.clone(),
        directory: directory.clone(),
        events: Arc::new(Nowhere),
        limit: RollbackLimit::default(),
        data_dir: std::env::temp_dir(),
        launcher: None,
        self_build: None,
        node: "node-0000000000000000".into(),
        live_within: Duration::from_secs(15),
    };
    att_runtime::trace::spawn(&directory, NAME, None, BootstrapActor, args)
        .await
        .expect("bootstrap actor");
    let handle = BootstrapHandle::new(directory.clone());
    let request: RunRequest = serde_json::from_value(
        serde_json::json!({"target": "service:web", "requested_release_id": "r1"}),
    )
    .expect("request");

    let id = handle
        .start(request.clone())
        .await
        .expect("mailbox")
        .expect("started");
    let r = finished(&store, &id).await;
    assert_eq!(r.status, RunStatus::Failed);
    let message = r.phases[0].message.clone().unwrap_or_default();
    assert!(
        message.contains("the resolve phase's worker failed")
            && message.contains("the store exploded"),
        "{message}"
    );

    // The actor is still there and takes the next run (which fails for an ordinary reason).
    store.explode.store(false, Ordering::SeqCst);
    let id = handle
        .start(request)
        .await
        .expect("mailbox")
        .expect("started");
    let r = finished(&store, &id).await;
    let message = r.phases[0].message.clone().unwrap_or_default();
    assert!(
        message.contains("release `r1` of `service:web` is not registered"),
        "{message}"
    );
}
