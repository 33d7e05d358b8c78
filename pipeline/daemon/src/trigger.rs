//! Runs started from outside the scheduler: the console's "run now", the
//! CLI's `lagoa run` and the demo. They go through the same [`Firing`] as
//! a scheduled run: the source's lease (one run of a source at a time,
//! whoever starts it), its retries and its timeout.

use crate::daemon::{Firing, FiringResult};
use crate::{Clock, RunObserver, SourceFile};
use lagoa_lake::Lake;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Starts runs of configured sources on demand, and stops them at
/// shutdown.
#[derive(Debug)]
pub struct Triggers {
    lake: Arc<Lake>,
    clock: Arc<dyn Clock>,
    lease: Duration,
    /// Runs started in the background, waited for at shutdown.
    runs: TaskTracker,
    stop_retries: CancellationToken,
}

/// What became of a request to start a run in the background.
#[derive(Debug, PartialEq, Eq)]
pub enum Started {
    /// The run goes on in the background.
    Started,
    /// Another process holds the source's lease: a run is going on.
    Busy,
    /// The catalog did not answer.
    Unavailable,
}

impl Triggers {
    pub fn new(lake: Arc<Lake>, clock: Arc<dyn Clock>, lease: Duration) -> Self {
        Triggers {
            lake,
            clock,
            lease,
            runs: TaskTracker::new(),
            stop_retries: CancellationToken::new(),
        }
    }

    /// A run of `source` now, on behalf of `owner` (`console:maria`), in
    /// the background; refused at once when the source is running.
    pub async fn start(&self, source: Arc<SourceFile>, owner: &str) -> Started {
        let now = self.clock.now().timestamp_micros();
        match self.lake.catalog.source_state(&source.name).await {
            Ok(Some(state))
                if state.lease_owner.is_some() && state.lease_until.is_some_and(|u| u > now) =>
            {
                return Started::Busy;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(source = %source.name, error = %e, "cannot read the source's state");
                return Started::Unavailable;
            }
        }
        let firing = self.firing(source, owner, Arc::new(crate::Quiet));
        self.runs.spawn(async move {
            match firing.run(None, "manual").await {
                FiringResult::Succeeded { attempts } => {
                    tracing::info!(source = %firing.source.name, attempts, "triggered run succeeded")
                }
                other => {
                    tracing::warn!(source = %firing.source.name, result = ?other, "triggered run did not succeed")
                }
            }
        });
        Started::Started
    }

    /// A run of `source` now, waited for; `observer` sees each delivery.
    pub async fn run(
        &self,
        source: Arc<SourceFile>,
        owner: &str,
        observer: Arc<dyn RunObserver>,
    ) -> FiringResult {
        self.firing(source, owner, observer)
            .run(None, "manual")
            .await
    }

    /// Stops retrying the runs started here and waits up to `grace` for
    /// them to end; whether they all did.
    pub async fn shutdown(&self, grace: Duration) -> bool {
        self.stop_retries.cancel();
        self.runs.close();
        tokio::time::timeout(grace, self.runs.wait()).await.is_ok()
    }

    fn firing(
        &self,
        source: Arc<SourceFile>,
        owner: &str,
        observer: Arc<dyn RunObserver>,
    ) -> Firing {
        Firing {
            lake: Arc::clone(&self.lake),
            source,
            clock: Arc::clone(&self.clock),
            owner: owner.to_owned(),
            lease: self.lease,
            stop_retries: self.stop_retries.clone(),
            observer,
        }
    }
}
