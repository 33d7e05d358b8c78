//! `lagoa cluster`: the scheduler and the executors of a Ballista cluster
//! that runs governed queries (`[query] engine = "ballista"`), and the
//! query service that submits to it.

use anyhow::{Context, Result};
use clap::Subcommand;
use lagoa_lake::Lake;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Subcommand)]
pub(crate) enum ClusterCommand {
    /// Run the cluster's scheduler: it plans the stages of governed queries
    /// and hands their tasks to executors. It holds no key.
    Scheduler {
        /// Where it listens (host:port); default: query.scheduler.
        #[arg(long)]
        bind: Option<SocketAddr>,
        /// Seconds a finished job's results stay on the executors for its
        /// client to fetch; default: the longest a query or cursor may run,
        /// and a minute.
        #[arg(long)]
        results_kept_seconds: Option<u64>,
    },
    /// Run an executor: it reads and decrypts the files its tasks scan, only
    /// as far as each query's release ticket allows.
    Executor {
        /// The scheduler (host:port); default: query.scheduler.
        #[arg(long)]
        scheduler: Option<SocketAddr>,
        /// Its Arrow Flight address (host:port), where results and shuffle
        /// files are fetched: the one port it opens (it asks the scheduler
        /// for tasks).
        #[arg(long, default_value = "127.0.0.1:50051")]
        bind: SocketAddr,
        /// Where shuffle files go: a directory on tmpfs (swap must be off);
        /// default: /dev/shm/lagoa-executor-<port>.
        #[arg(long)]
        work_dir: Option<PathBuf>,
        /// Tasks run at once (0: one per core).
        #[arg(long, default_value_t = 0)]
        slots: usize,
    },
}

pub(crate) async fn cluster(dir: &Path, command: ClusterCommand) -> Result<()> {
    let config = lagoa_lake::config::LakeConfig::load(dir)?;
    let default_scheduler = || {
        config
            .scheduler_address()
            .map_err(anyhow::Error::msg)
            .context("query.scheduler")
    };
    match command {
        ClusterCommand::Scheduler {
            bind,
            results_kept_seconds,
        } => {
            let bind = match bind {
                Some(bind) => bind,
                None => default_scheduler()?,
            };
            Ok(lagoa_cluster::scheduler::run(dir, bind, results_kept_seconds).await?)
        }
        ClusterCommand::Executor {
            scheduler,
            bind,
            work_dir,
            slots,
        } => {
            let scheduler = match scheduler {
                Some(scheduler) => scheduler,
                None => default_scheduler()?,
            };
            let options = lagoa_cluster::executor::ExecutorOptions {
                scheduler,
                bind,
                work_dir,
                slots,
            };
            Ok(lagoa_cluster::executor::run(dir, options).await?)
        }
    }
}

/// The lake's governed query service, running its queries where
/// `[query] engine` says.
pub(crate) async fn query_service(lake: &Arc<Lake>) -> Result<lagoa_sql::QueryService> {
    let service = lagoa_sql::QueryService::new(Arc::clone(lake));
    Ok(match remote_engine(lake).await? {
        Some(remote) => service.with_remote(remote),
        None => service,
    })
}

/// The cluster queries run on, if `[query] engine = "ballista"`.
pub(crate) async fn remote_engine(
    lake: &Lake,
) -> Result<Option<Arc<dyn lagoa_sql::remote::RemoteEngine>>> {
    if lake.config.query.engine != "ballista" {
        return Ok(None);
    }
    let engine = lagoa_cluster::ClusterEngine::of(lake)
        .await
        .context("the cluster's query engine")?;
    Ok(Some(Arc::new(engine)))
}
