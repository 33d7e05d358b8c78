//! `lagoa cluster executor`: Ballista's executor with Lagoa's codecs and
//! runtime. It opens the lake (catalog, object store, key provider) to
//! read and decrypt the files its tasks scan, through the gate each
//! query's release ticket allows; its shuffle files stay in memory
//! ([`crate::workdir`]).

use crate::ClusterError;
use crate::codec::{ExecutorKeys, LakeLogicalCodec, LakePhysicalCodec, Node};
use crate::ticket::TicketKey;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::object_store::{
    DefaultObjectStoreRegistry, ObjectStoreRegistry, ObjectStoreUrl,
};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::SessionConfig;
use lagoa_lake::Lake;
use lagoa_lake::store::LakeStore;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where an executor listens and whom it serves.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler's gRPC address.
    pub scheduler: SocketAddr,
    /// Its Arrow Flight address (results and shuffle); its gRPC port is the next one.
    pub bind: SocketAddr,
    /// Where shuffle files go: on tmpfs, with swap off; by default
    /// `/dev/shm/lagoa-executor-<port>`, one per executor of a machine.
    pub work_dir: Option<PathBuf>,
    /// Tasks it runs at once (0: one per core).
    pub slots: usize,
}

/// No core dump: one would write the decrypted rows and the unwrapped
/// keys in this process's memory to disk.
fn keep_memory_off_disk() -> Result<(), ClusterError> {
    use nix::sys::resource::{Resource, setrlimit};
    setrlimit(Resource::RLIMIT_CORE, 0, 0)
        .map_err(|e| ClusterError::Ballista(format!("turning core dumps off: {e}")))?;
    nix::sys::prctl::set_dumpable(false)
        .map_err(|e| ClusterError::Ballista(format!("turning core dumps off: {e}")))
}

/// Serves until the process ends.
pub async fn run(lake_dir: &Path, options: ExecutorOptions) -> Result<(), ClusterError> {
    keep_memory_off_disk()?;
    let work_dir = options.work_dir.clone().unwrap_or_else(|| {
        PathBuf::from(format!("/dev/shm/lagoa-executor-{}", options.bind.port()))
    });
    crate::workdir::prepare(&work_dir)?;
    let lake = Lake::open(lake_dir).await?;
    let results_kept = crate::scheduler::results_kept_seconds(&lake.config);
    let keys = Arc::new(ExecutorKeys {
        keys: Arc::clone(lake.crypto.keys()),
        encrypted: lake.crypto.enabled(),
        tickets: TicketKey::new(&lake.secret(crate::TICKET_SECRET).await?),
        pseudonyms: lake.pseudonym_key().await?,
        store: Arc::clone(&lake.store.store),
    });
    let memory_limit = lake.config.query_memory_limit();
    let store = Arc::clone(&lake.store.store);
    let node = Node::Executor(keys);
    let work_dir = work_dir.display().to_string();
    let config = ExecutorProcessConfig {
        bind_host: options.bind.ip().to_string(),
        external_host: Some(options.bind.ip().to_string()),
        port: options.bind.port(),
        grpc_port: options.bind.port().saturating_add(1),
        scheduler_host: options.scheduler.ip().to_string(),
        scheduler_port: options.scheduler.port(),
        vcores: options.slots,
        work_dir: Some(work_dir),
        // A finished job's files go when the scheduler says so; what a lost
        // scheduler never asks to remove goes once nothing touched it for
        // as long as a cursor may read it.
        job_data_ttl_seconds: results_kept,
        job_data_clean_up_interval_seconds: 60,
        // Every task gets a runtime of its own: no decrypted footer or
        // object cached by one query is seen by another.
        session_runtime_cache_capacity: 0,
        override_logical_codec: Some(Arc::new(LakeLogicalCodec::new(node.clone()))),
        override_physical_codec: Some(Arc::new(LakePhysicalCodec::new(node))),
        override_runtime_producer: Some(Arc::new(move |_config: &SessionConfig| {
            // The lake's store and nothing else: no local file of the
            // executor's machine is reachable from a plan.
            let stores = Arc::new(DefaultObjectStoreRegistry::new());
            stores.deregister_store(ObjectStoreUrl::local_filesystem().as_ref())?;
            stores.register_store(LakeStore::datafusion_url().as_ref(), Arc::clone(&store));
            let runtime = RuntimeEnvBuilder::new()
                .with_object_store_registry(stores)
                .with_memory_limit(memory_limit, 1.0)
                // Spill files would hold plaintext on disk.
                .with_disk_manager_builder(
                    DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
                )
                .with_cache_manager(CacheManagerConfig::default().with_metadata_cache_limit(0))
                .build_arc()?;
            Ok(runtime)
        })),
        ..ExecutorProcessConfig::default()
    };
    tracing::info!(bind = %options.bind, scheduler = %options.scheduler, "cluster executor starting");
    start_executor_process(Arc::new(config))
        .await
        .map_err(|e| ClusterError::Ballista(e.to_string()))
}
