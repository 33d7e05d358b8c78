//! `lagoa cluster scheduler`: Ballista's scheduler with Lagoa's codecs.
//!
//! It plans the stages of the plans the query service sends: a dataset's
//! scan is planned from the files the plan carries, against the lake's
//! object store, with the same bounds as a local governed session. It holds
//! no key and never opens the catalog. Ballista's REST API is not built
//! in (the workspace takes `ballista-scheduler` without default features).

use crate::ClusterError;
use crate::codec::{LakeLogicalCodec, LakePhysicalCodec, Node};
use crate::tls::ClusterTls;
use ballista_core::config::TaskSchedulingPolicy;
use ballista_core::extension::SessionConfigExt;
use ballista_core::serde::protobuf::scheduler_grpc_server::SchedulerGrpcServer;
use ballista_core::utils::{GrpcServerConfig, create_grpc_server};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::create_scheduler;
use datafusion::execution::SessionState;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use lagoa_lake::config::LakeConfig;
use lagoa_lake::store::LakeStore;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

/// How long a finished job's results stay on the executors: the client
/// fetches them partition after partition, a cursor for as long as it may
/// stay open.
pub fn results_kept_seconds(config: &LakeConfig) -> u64 {
    config
        .query
        .timeout_seconds
        .max(config.query.cursor_timeout_seconds)
        .saturating_add(60)
}

/// Serves until the process ends; a finished job's results are dropped
/// `results_kept` seconds after it ends ([`results_kept_seconds`] unless
/// given). With `[cluster]`'s certificates it serves over mutual TLS and
/// talks to executors the same way.
pub async fn run(
    lake_dir: &Path,
    bind: SocketAddr,
    results_kept: Option<u64>,
) -> Result<(), ClusterError> {
    let lake_config = LakeConfig::load(lake_dir)?;
    let tls = ClusterTls::from_config(&lake_config.cluster)?;
    crate::tls::refuse_plaintext_beyond_loopback(tls.as_ref(), &lake_config.cluster, &[bind])?;
    let store = LakeStore::open(&lake_config.storage, lake_dir)?;
    let max_bytes = lagoa_sql::QueryLimits::from_config(&lake_config.query).max_value_bytes;
    let node = Node::Scheduler {
        store: Arc::clone(&store.store),
    };
    let executor_timeout = lake_config.cluster.executor_timeout_seconds;
    let config = SchedulerConfig {
        bind_host: bind.ip().to_string(),
        external_host: bind.ip().to_string(),
        bind_port: bind.port(),
        override_logical_codec: Some(Arc::new(LakeLogicalCodec::new(node.clone()))),
        override_physical_codec: Some(Arc::new(LakePhysicalCodec::new(node))),
        override_session_builder: Some(Arc::new(move |config: SessionConfig| {
            Ok(bounded_session(config, max_bytes))
        })),
        // The executors drop a finished job's files once its client has
        // had time to fetch them all.
        finished_job_data_clean_up_interval_seconds: results_kept
            .unwrap_or_else(|| results_kept_seconds(&lake_config)),
        // A killed executor's tasks run elsewhere once it is missed.
        executor_timeout_seconds: executor_timeout,
        expire_dead_executor_interval_seconds: (executor_timeout / 4).clamp(1, 15),
        override_create_grpc_client_endpoint: tls.as_ref().map(ClusterTls::endpoint_override),
        use_tls: tls.is_some(),
        // Executors ask for tasks: the scheduler never connects to them,
        // and they open no port but their Flight service.
        scheduling_policy: TaskSchedulingPolicy::PullStaged,
        ..SchedulerConfig::default()
    };
    config
        .validate()
        .map_err(|e| ClusterError::Ballista(e.to_string()))?;
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(|e| ClusterError::Ballista(e.to_string()))?;
    let config = Arc::new(config);
    let scheduler =
        create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, Arc::clone(&config))
            .await
            .map_err(|e| ClusterError::Ballista(e.to_string()))?;
    // Ballista's gRPC service alone: no REST API, no Flight proxy.
    let service = SchedulerGrpcServer::new(scheduler)
        .max_encoding_message_size(config.grpc_server_max_encoding_message_size as usize)
        .max_decoding_message_size(config.grpc_server_max_decoding_message_size as usize);
    let mut server = create_grpc_server(&GrpcServerConfig::default());
    if let Some(tls) = &tls {
        server = server
            .tls_config(tls.server())
            .map_err(|e| ClusterError::Tls(format!("the scheduler's certificate: {e}")))?;
    }
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|e| ClusterError::Ballista(format!("cannot listen on {bind}: {e}")))?;
    tracing::info!(%bind, tls = tls.is_some(), "cluster scheduler listening");
    let connections = crate::listen::incoming(listener, crate::listen::MAX_CONNECTIONS);
    server
        .add_service(service)
        .serve_with_incoming(connections)
        .await
        .map_err(|e| ClusterError::Ballista(format!("serving on {bind}: {e}")))
}

/// The session a plan is planned in: Ballista's, with every function and
/// growing operator bounded as in a reader's local session.
fn bounded_session(config: SessionConfig, max_bytes: usize) -> SessionState {
    let config = config.upgrade_for_ballista();
    let base = SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .build();
    let bounded =
        lagoa_sql::bounded::bound_context(&SessionContext::new_with_state(base), max_bytes);
    let state = bounded.state();
    let rules = ballista_core::optimizer::with_ballista_optimizer_rules(state.optimizers());
    SessionStateBuilder::new_from_existing(state)
        .with_optimizer_rules(rules)
        .build()
}
