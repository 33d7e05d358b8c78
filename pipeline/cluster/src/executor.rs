//! `lagoa cluster executor`: Ballista's executor with Lagoa's codecs and
//! runtime. It opens the lake (catalog, object store, key provider) to
//! read and decrypt the files its tasks scan, through the gate each
//! query's release ticket allows; its shuffle files stay in memory
//! ([`crate::workdir`]).

use crate::ClusterError;
use crate::codec::{ExecutorKeys, LakeLogicalCodec, LakePhysicalCodec, Node};
use crate::ticket::TicketKey;
use crate::tls::ClusterTls;
use arrow_flight::flight_service_server::FlightServiceServer;
use ballista_core::config::TaskSchedulingPolicy;
use ballista_core::error::BallistaError;
use ballista_core::extension::SessionConfigExt;
use ballista_core::utils::{GrpcServerConfig, create_grpc_server};
use ballista_core::{ConfigProducer, RuntimeProducer};
use ballista_executor::ArrowFlightServerProvider;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_executor::flight_service::BallistaFlightService;
use ballista_executor::shutdown::Shutdown;
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
use std::time::Duration;

/// Where an executor listens and whom it serves.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler's gRPC address.
    pub scheduler: SocketAddr,
    /// Its Arrow Flight address (results and shuffle files), the one port
    /// it opens: it asks the scheduler for tasks.
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

/// How often an executor checks again that its work directory is in
/// memory and the machine has no swap.
const WORK_DIR_CHECK: Duration = Duration::from_secs(30);

/// Serves until the process ends, or until its work directory could reach
/// a disk (swap turned on, the directory remounted): then its shuffle
/// files are removed and it stops with the reason.
pub async fn run(lake_dir: &Path, options: ExecutorOptions) -> Result<(), ClusterError> {
    keep_memory_off_disk()?;
    let lake = Lake::open(lake_dir).await?;
    let tls = ClusterTls::from_config(&lake.config.cluster)?;
    crate::tls::refuse_plaintext_beyond_loopback(
        tls.as_ref(),
        &lake.config.cluster,
        &[options.bind, options.scheduler],
    )?;
    let work_dir = options.work_dir.clone().unwrap_or_else(|| {
        PathBuf::from(format!("/dev/shm/lagoa-executor-{}", options.bind.port()))
    });
    crate::workdir::prepare(&work_dir)?;
    let results_kept = crate::scheduler::results_kept_seconds(&lake.config);
    let keys = Arc::new(ExecutorKeys {
        keys: Arc::clone(lake.crypto.keys()),
        encrypted: lake.crypto.enabled(),
        tickets: TicketKey::new(&lake.secret(crate::TICKET_SECRET).await?),
        pseudonyms: lake.pseudonym_key().await?,
        store: Arc::clone(&lake.store.store),
    });
    let node = Node::Executor(keys);
    let config = ExecutorProcessConfig {
        bind_host: options.bind.ip().to_string(),
        external_host: Some(options.bind.ip().to_string()),
        port: options.bind.port(),
        // It asks the scheduler for tasks (over mutual TLS when the cluster
        // has it) and opens no port but its Flight service.
        task_scheduling_policy: TaskSchedulingPolicy::PullStaged,
        grpc_port: options.bind.port().saturating_add(1),
        scheduler_host: options.scheduler.ip().to_string(),
        scheduler_port: options.scheduler.port(),
        vcores: options.slots,
        work_dir: Some(work_dir.display().to_string()),
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
        override_runtime_producer: Some(task_runtime(
            Arc::clone(&lake.store.store),
            lake.config.query_memory_limit(),
        )),
        override_config_producer: Some(task_config(tls.clone())),
        override_arrow_flight_service: Some(flight_service(tls.clone())),
        override_create_grpc_client_endpoint: tls.as_ref().map(ClusterTls::endpoint_override),
        ..ExecutorProcessConfig::default()
    };
    tracing::info!(bind = %options.bind, scheduler = %options.scheduler, tls = tls.is_some(), "cluster executor starting");
    let stopped = tokio::select! {
        served = start_executor_process(Arc::new(config)) => {
            served.map_err(|e| ClusterError::Ballista(e.to_string()))
        }
        lost = crate::workdir::watch(&work_dir, WORK_DIR_CHECK) => Err(ClusterError::from(lost)),
    };
    if stopped.is_err() {
        // Whatever the reason, no shuffle file outlives the executor here.
        let _ = crate::workdir::wipe(&work_dir);
    }
    stopped
}

/// The runtime each task runs in: the lake's store and nothing else (no
/// local file of the executor's machine is reachable from a plan), no
/// spill, no metadata cache.
fn task_runtime(store: Arc<dyn object_store::ObjectStore>, memory_limit: usize) -> RuntimeProducer {
    Arc::new(move |_config: &SessionConfig| {
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
    })
}

/// Each task's session: Ballista's, and when the cluster has TLS, its
/// shuffle reads from other executors over mutual TLS.
fn task_config(tls: Option<Arc<ClusterTls>>) -> ConfigProducer {
    let secured = tls.as_ref().map(ClusterTls::endpoint_override);
    Arc::new(move || {
        let config = SessionConfig::new_with_ballista();
        match &secured {
            Some(secured) => config
                .with_ballista_use_tls(true)
                .with_ballista_override_create_grpc_client_endpoint(Arc::clone(secured)),
            None => config,
        }
    })
}

/// The executor's Arrow Flight service, where the query service fetches
/// results and other executors shuffle files: Ballista's, served with
/// mutual TLS when the cluster has it.
fn flight_service(tls: Option<Arc<ClusterTls>>) -> Arc<ArrowFlightServerProvider> {
    const MAX_MESSAGE: usize = 16 << 20;
    Arc::new(
        move |work_dir: String,
              address: SocketAddr,
              mut shutdown: Shutdown,
              grpc: GrpcServerConfig| {
            let tls = tls.clone();
            tokio::spawn(async move {
                let mut server = create_grpc_server(&grpc);
                if let Some(tls) = &tls {
                    server = server
                        .tls_config(tls.server())
                        .map_err(BallistaError::TonicError)?;
                }
                let flight = FlightServiceServer::new(BallistaFlightService::new(work_dir))
                    .max_decoding_message_size(MAX_MESSAGE)
                    .max_encoding_message_size(MAX_MESSAGE);
                let listener = tokio::net::TcpListener::bind(address)
                    .await
                    .map_err(BallistaError::IoError)?;
                let connections = crate::listen::incoming(listener, crate::listen::MAX_CONNECTIONS);
                server
                    .add_service(flight)
                    .serve_with_incoming_shutdown(connections, shutdown.recv())
                    .await
                    .map_err(BallistaError::TonicError)
            })
        },
    )
}
