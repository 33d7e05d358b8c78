//! `lagoa cluster scheduler`: Ballista's scheduler with Lagoa's codecs.
//!
//! It plans the stages of the plans the query service sends: a dataset's
//! scan is planned from the files the plan carries, against the lake's
//! object store, with the same bounds as a local governed session. It holds
//! no key and never opens the catalog. Ballista's REST API is not built
//! in (the workspace takes `ballista-scheduler` without default features).

use crate::ClusterError;
use crate::codec::{LakeLogicalCodec, LakePhysicalCodec, Node};
use ballista_core::extension::SessionConfigExt;
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;
use datafusion::execution::SessionState;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
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
/// given).
pub async fn run(
    lake_dir: &Path,
    bind: SocketAddr,
    results_kept: Option<u64>,
) -> Result<(), ClusterError> {
    let lake_config = LakeConfig::load(lake_dir)?;
    let store = LakeStore::open(&lake_config.storage, lake_dir)?;
    let max_bytes = lagoa_sql::QueryLimits::from_config(&lake_config.query).max_value_bytes;
    let node = Node::Scheduler {
        store: Arc::clone(&store.store),
    };
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
        ..SchedulerConfig::default()
    };
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(|e| ClusterError::Ballista(e.to_string()))?;
    tracing::info!(%bind, "cluster scheduler listening");
    start_server(cluster, bind, Arc::new(config))
        .await
        .map_err(|e| ClusterError::Ballista(e.to_string()))
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
