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
    /// Where shuffle files go: on tmpfs, with swap off.
    pub work_dir: PathBuf,
    /// Tasks it runs at once (0: one per core).
    pub slots: usize,
}

/// Serves until the process ends.
pub async fn run(lake_dir: &Path, options: ExecutorOptions) -> Result<(), ClusterError> {
    crate::workdir::prepare(&options.work_dir)?;
    let lake = Lake::open(lake_dir).await?;
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
    let work_dir = options.work_dir.display().to_string();
    let config = ExecutorProcessConfig {
        bind_host: options.bind.ip().to_string(),
        external_host: Some(options.bind.ip().to_string()),
        port: options.bind.port(),
        grpc_port: options.bind.port().saturating_add(1),
        scheduler_host: options.scheduler.ip().to_string(),
        scheduler_port: options.scheduler.port(),
        vcores: options.slots,
        work_dir: Some(work_dir),
        // A finished job's shuffle files go as soon as the scheduler says so,
        // and anything left behind within a minute.
        job_data_ttl_seconds: 60,
        job_data_clean_up_interval_seconds: 10,
        // Every task gets a runtime of its own: no decrypted footer or
        // object cached by one query is seen by another.
        session_runtime_cache_capacity: 0,
        override_logical_codec: Some(Arc::new(LakeLogicalCodec::new(node.clone()))),
        override_physical_codec: Some(Arc::new(LakePhysicalCodec::new(node))),
        override_runtime_producer: Some(Arc::new(move |_config: &SessionConfig| {
            let runtime = RuntimeEnvBuilder::new()
                .with_memory_limit(memory_limit, 1.0)
                // Spill files would hold plaintext on disk.
                .with_disk_manager_builder(
                    DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
                )
                .with_cache_manager(CacheManagerConfig::default().with_metadata_cache_limit(0))
                .build_arc()?;
            runtime.register_object_store(LakeStore::datafusion_url().as_ref(), Arc::clone(&store));
            Ok(runtime)
        })),
        ..ExecutorProcessConfig::default()
    };
    tracing::info!(bind = %options.bind, scheduler = %options.scheduler, "cluster executor starting");
    start_executor_process(Arc::new(config))
        .await
        .map_err(|e| ClusterError::Ballista(e.to_string()))
}
