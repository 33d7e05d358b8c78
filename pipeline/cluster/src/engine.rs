//! The query service's side: a governed statement, planned in the reader's
//! session, runs on the cluster with a release ticket for what that session
//! allows (`[query] engine = "ballista"`).

use crate::codec::{LakeLogicalCodec, Node};
use crate::ticket::{ReleaseTicket, TicketKey, now_seconds};
use crate::tls::ClusterTls;
use ballista_core::extension::{SessionConfigExt, SessionStateExt};
use datafusion::dataframe::DataFrame;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SessionState;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::{SendableRecordBatchStream, execute_stream};
use lagoa_lake::Lake;
use lagoa_lake::config::LakeConfig;
use lagoa_lake::table::LakeTable;
use lagoa_sql::remote::{Allowed, RemoteEngine, tables_scanned};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The scheduler plans are submitted to, and how it is reached.
#[derive(Clone, Debug)]
pub struct Scheduler {
    pub address: SocketAddr,
    /// Mutual TLS, when the cluster has it.
    pub tls: Option<Arc<ClusterTls>>,
}

impl Scheduler {
    /// `query.scheduler`, reached as `[cluster]` says; refused in clear
    /// beyond loopback unless `cluster.allow_plaintext`.
    pub fn of(config: &LakeConfig) -> Result<Self, crate::ClusterError> {
        let address = config
            .scheduler_address()
            .map_err(|e| crate::ClusterError::Ballista(format!("query.scheduler: {e}")))?;
        let tls = ClusterTls::from_config(&config.cluster)?;
        crate::tls::refuse_plaintext_beyond_loopback(tls.as_ref(), &config.cluster, &[address])?;
        Ok(Scheduler { address, tls })
    }
}

/// Runs governed statements on the cluster whose scheduler is `scheduler`.
pub struct ClusterEngine {
    scheduler: Scheduler,
    /// Run here when the scheduler cannot be reached.
    local_fallback: bool,
    tickets: TicketKey,
    /// How long a ticket stays valid: the query timeout and a minute.
    ticket_lifetime: i64,
}

impl std::fmt::Debug for ClusterEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterEngine")
            .field("scheduler", &self.scheduler.address)
            .field("local_fallback", &self.local_fallback)
            .finish_non_exhaustive()
    }
}

impl ClusterEngine {
    /// The engine of `lake`'s query service (`[query] scheduler`,
    /// `scheduler_fallback`, `[cluster]`), with the lake's ticket key.
    pub async fn of(lake: &Lake) -> Result<Self, crate::ClusterError> {
        Ok(ClusterEngine {
            scheduler: Scheduler::of(&lake.config)?,
            local_fallback: lake.config.query.scheduler_fallback,
            tickets: TicketKey::new(&lake.secret(crate::TICKET_SECRET).await?),
            ticket_lifetime: lake.config.query.timeout_seconds.saturating_add(60) as i64,
        })
    }

    /// Whether the scheduler answers a connection.
    async fn scheduler_reachable(&self) -> bool {
        tokio::time::timeout(
            Duration::from_secs(3),
            tokio::net::TcpStream::connect(self.scheduler.address),
        )
        .await
        .is_ok_and(|c| c.is_ok())
    }
}

#[async_trait::async_trait]
impl RemoteEngine for ClusterEngine {
    async fn execute(&self, df: DataFrame, allowed: &Allowed) -> Result<SendableRecordBatchStream> {
        // The reader's own tables (information_schema, system.audit) are
        // the catalog's, not the lake's files: such a plan runs here, with
        // the scheduler up or down.
        if !reads_only_datasets(df.logical_plan()).await? {
            return df.execute_stream().await;
        }
        if !self.scheduler_reachable().await {
            if self.local_fallback {
                tracing::warn!(scheduler = %self.scheduler.address, "the cluster's scheduler cannot be reached; the query runs here");
                return df.execute_stream().await;
            }
            return Err(DataFusionError::Execution(format!(
                "the cluster's scheduler at {} cannot be reached; try again later, or set query.scheduler_fallback = true to run queries locally meanwhile",
                self.scheduler.address
            )));
        }
        let (state, plan) = df.into_parts();
        let ticket = ReleaseTicket {
            query: uuid::Uuid::new_v4().to_string(),
            expires_at: now_seconds().saturating_add(self.ticket_lifetime),
            datasets: allowed.datasets.clone(),
            released: allowed.released.clone(),
            pseudonyms: allowed.pseudonyms,
        };
        let signed = self.tickets.sign(&ticket);
        submit(&self.scheduler, (state, &plan), signed).await
    }
}

/// Submits `plan`, planned in `state`, to `scheduler` with the release
/// ticket `ticket` (as signed); its rows as they come, fetched from the
/// executors (over mutual TLS when the cluster has it). The lake's tables
/// `plan` scans must have read their files already.
pub async fn submit(
    scheduler: &Scheduler,
    (state, plan): (SessionState, &LogicalPlan),
    ticket: String,
) -> Result<SendableRecordBatchStream> {
    let codec = Arc::new(LakeLogicalCodec::new(Node::Client { ticket }));
    let mut config = state
        .config()
        .clone()
        .with_ballista_logical_extension_codec(codec);
    if let Some(tls) = &scheduler.tls {
        config = config
            .with_ballista_use_tls(true)
            .with_ballista_override_create_grpc_client_endpoint(tls.endpoint_override());
    }
    let url = format!(
        "{}://{}",
        crate::tls::scheme(scheduler.tls.as_ref()),
        scheduler.address
    );
    let state = SessionStateBuilder::new_from_existing(state)
        .with_config(config)
        .build()
        .upgrade_for_ballista(url)?;
    let physical = state.create_physical_plan(plan).await?;
    execute_stream(physical, state.task_ctx())
}

/// Whether `plan` scans datasets of the lake and nothing else; if so, reads
/// their file lists: they travel in the plan, and encoding it cannot wait
/// on the catalog.
async fn reads_only_datasets(plan: &LogicalPlan) -> Result<bool> {
    let tables = tables_scanned(plan);
    let lake_tables: Vec<&LakeTable> = tables
        .iter()
        .filter_map(|provider| {
            let any: &dyn std::any::Any = provider.as_ref();
            any.downcast_ref::<LakeTable>()
        })
        .collect();
    if lake_tables.is_empty() || lake_tables.len() < tables.len() {
        return Ok(false);
    }
    for table in lake_tables {
        table.files().await?;
    }
    Ok(true)
}
