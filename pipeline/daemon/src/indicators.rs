//! Indicators on their triggers: every `check` interval the daemon runs the
//! indicators of the lake's folder whose sources got a new snapshot since
//! their last run (`trigger: after-sources`) and those whose cron firing
//! came. A catalog lease per indicator (`indicator:<name>`, the same lease
//! table as sources) means daemons sharing a catalog run each once; a cron
//! firing is claimed once, however many daemons see it.

use crate::{Clock, Schedule};
use chrono::{DateTime, Utc};
use lagoa_lake::Lake;
use lagoa_lake::catalog::{Claim, IndicatorRun};
use lagoa_sql::indicators::{self, Indicator, RunOptions, Trigger};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Debug)]
pub struct IndicatorWatcher {
    pub lake: Arc<Lake>,
    pub dir: PathBuf,
    pub every: Duration,
    pub clock: Arc<dyn Clock>,
    /// This daemon, in the leases.
    pub owner: String,
    pub lease: Duration,
    /// Where indicators' SQL runs when not here (`[query] engine`).
    pub remote: Option<Arc<dyn lagoa_sql::remote::RemoteEngine>>,
}

/// Why an indicator is due now, if it is: `(trigger, cron firing)`.
async fn due(
    lake: &Lake,
    indicator: &Indicator,
    now: DateTime<Utc>,
) -> Result<Option<(&'static str, Option<DateTime<Utc>>)>, indicators::IndicatorError> {
    match &indicator.trigger {
        Trigger::Manual => Ok(None),
        Trigger::AfterSources => Ok(indicators::stale(lake, indicator)
            .await?
            .then_some(("after_sources", None))),
        Trigger::Cron(expression) => {
            let Ok(schedule) = Schedule::parse(expression, crate::schedule::DEFAULT_TIME_ZONE)
            else {
                return Ok(None);
            };
            let last = lake
                .catalog
                .indicator_runs(Some(&indicator.name), 1)
                .await?
                .first()
                .map(|r| r.started_at);
            let since = last
                .and_then(DateTime::<Utc>::from_timestamp_micros)
                .unwrap_or(now - chrono::Duration::days(1));
            Ok(schedule
                .firings_between(since, now, 1)
                .last()
                .map(|f| ("schedule", Some(*f))))
        }
    }
}

impl IndicatorWatcher {
    /// Checks until `shutdown`; a failure is logged and checked again later.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            for run in self.check_once().await {
                tracing::info!(
                    indicator = %run.indicator,
                    run_id = %run.run_id,
                    status = %run.status,
                    cells = run.cells,
                    suppressed = run.suppressed_primary + run.suppressed_secondary,
                    "indicator run"
                );
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(self.every) => {}
            }
        }
    }

    /// Runs every indicator that is due now; returns the runs made.
    pub async fn check_once(&self) -> Vec<IndicatorRun> {
        let all = match indicators::load_dir(&self.dir) {
            Ok(all) => all,
            Err(e) => {
                tracing::error!(error = %e, "indicator definitions do not load");
                return Vec::new();
            }
        };
        let mut runs = Vec::new();
        for indicator in &all {
            let now = self.clock.now();
            let (trigger, firing) = match due(&self.lake, indicator, now).await {
                Ok(Some(d)) => d,
                Ok(None) => continue,
                Err(e) => {
                    tracing::error!(indicator = %indicator.name, error = %e, "cannot tell whether an indicator is due");
                    continue;
                }
            };
            let key = format!("indicator:{}", indicator.name);
            let micros = now.timestamp_micros();
            let lease_until = micros + self.lease.as_micros() as i64;
            let claim = self
                .lake
                .catalog
                .claim_source(
                    &key,
                    &self.owner,
                    firing.map(|f| f.timestamp_micros()),
                    lease_until,
                    micros,
                )
                .await;
            match claim {
                Ok(Claim::Taken { .. }) => {}
                Ok(_) => continue,
                Err(e) => {
                    tracing::error!(indicator = %indicator.name, error = %e, "cannot claim an indicator");
                    continue;
                }
            }
            let options = RunOptions {
                parameters: Default::default(),
                trigger: trigger.into(),
                actor: format!("daemon:{}", self.owner),
                remote: self.remote.clone(),
            };
            match indicators::run(&self.lake, indicator, &options).await {
                Ok(run) => runs.push(run),
                Err(e) => {
                    tracing::error!(indicator = %indicator.name, error = %e, "indicator run failed")
                }
            }
            if let Err(e) = self.lake.catalog.release_lease(&key, &self.owner).await {
                tracing::warn!(indicator = %indicator.name, error = %e, "cannot release an indicator's lease");
            }
        }
        runs
    }
}
