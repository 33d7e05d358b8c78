//! One run of a configured source: list what it has waiting, and take each
//! delivery through the ingest pipeline. Shared by the daemon, `lagoa run`
//! and `lagoa source run`.

use crate::DaemonError;
use crate::source_file::SourceFile;
use lagoa_connectors::{Delivery, ExtractContext};
use lagoa_core::Retryable;
use lagoa_ingest::record_failed_run;
use lagoa_ingest::{IngestError, Progress, RunOutcome, RunRequest};
use lagoa_lake::Lake;
use lagoa_lake::catalog::model::WriteMode;
use lagoa_schemas::Contract;

/// What one run of a source did, delivery by delivery.
#[derive(Debug, Default)]
pub struct SourceRun {
    pub outcomes: Vec<RunOutcome>,
    /// Deliveries (or the listing) that failed, with their error; each is
    /// also on record as a failed run.
    pub failures: Vec<(String, IngestError)>,
}

impl SourceRun {
    /// Nothing failed (rejected or held deliveries count as failures: they
    /// did not become visible).
    pub fn succeeded(&self) -> bool {
        self.failures.is_empty() && self.outcomes.iter().all(RunOutcome::succeeded)
    }

    /// Worth another attempt: something failed, and every failure is of a
    /// kind that may pass (network, timeout, storage, catalog connection).
    pub fn transient(&self) -> bool {
        !self.failures.is_empty() && self.failures.iter().all(|(_, e)| is_transient(e))
    }

    pub fn rows_written(&self) -> i64 {
        self.outcomes.iter().map(|o| o.run.rows_written).sum()
    }
}

pub fn is_transient(e: &IngestError) -> bool {
    match e {
        IngestError::Source(s) => s.is_retryable(),
        IngestError::Lake(l) => l.is_retryable(),
        _ => false,
    }
}

/// How the caller watches deliveries go by.
pub trait RunObserver: Send + Sync + std::fmt::Debug {
    /// A delivery starts; returns the progress callback for its rows.
    fn delivery_started(&self, name: &str) -> Progress;
    fn delivery_finished(&self, name: &str, result: Result<&RunOutcome, &IngestError>);
}

/// An observer that shows nothing (the daemon logs instead).
#[derive(Debug)]
pub struct Quiet;

impl RunObserver for Quiet {
    fn delivery_started(&self, _name: &str) -> Progress {
        std::sync::Arc::new(|_| {})
    }
    fn delivery_finished(&self, _name: &str, _result: Result<&RunOutcome, &IngestError>) {}
}

pub async fn run_source(
    lake: &Lake,
    source: &SourceFile,
    trigger: &str,
    attempt: u32,
    observer: &dyn RunObserver,
) -> Result<SourceRun, DaemonError> {
    let mut request = RunRequest::new(&source.name, source.dataset_name()?);
    request.provider = source.provider.clone();
    request.contract = source
        .contract
        .as_deref()
        .map(Contract::load)
        .transpose()
        .map_err(|e| DaemonError::Config(e.to_string()))?;
    request.mode = source
        .mode
        .parse::<WriteMode>()
        .map_err(DaemonError::Config)?;
    if request.mode == WriteMode::Upsert {
        request.key = source.source.primary_key();
    }
    request.delete_column = source.delete_column.clone();
    request.trigger = trigger.into();
    request.attempt = attempt;
    if source.incremental() {
        request.watermark_key = Some(source.name.clone());
    }
    let ctx = ExtractContext {
        watermark: if source.incremental() {
            lake.catalog.watermark(&source.name).await?
        } else {
            None
        },
        ..Default::default()
    };
    let mut run = SourceRun::default();
    let deliveries: Vec<Delivery> = match source.source.deliveries(&ctx).await {
        Ok(d) => d,
        Err(e) => {
            // Nothing could be listed: on record as a failed run all the same.
            let e = IngestError::Source(e);
            record_failed_run(lake, &request, &e).await;
            observer.delivery_finished(&source.name, Err(&e));
            run.failures.push((source.name.clone(), e));
            return Ok(run);
        }
    };
    for delivery in deliveries {
        let name = delivery.name().to_owned();
        let progress = observer.delivery_started(&name);
        match lagoa_ingest::run_delivery(lake, &request, delivery, progress).await {
            Ok(outcome) => {
                observer.delivery_finished(&name, Ok(&outcome));
                run.outcomes.push(outcome);
            }
            Err(e) => {
                observer.delivery_finished(&name, Err(&e));
                run.failures.push((name, e));
            }
        }
    }
    Ok(run)
}
