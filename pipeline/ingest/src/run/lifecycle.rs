//! The run's record: written as `running` and held by this process before
//! anything is read, kept alive by a heartbeat, and written again with how
//! it ended, however it ended.

use super::{RunContext, RunInput, RunOutcome, RunRequest, input, land, prepare};
use crate::IngestError;
use lagoa_connectors::{Delivery, SourceError};
use lagoa_core::QualityReport;
use lagoa_core::{FailureClass, RunStatus};
use lagoa_lake::catalog::{RunRecord, now_micros};
use lagoa_lake::run_holder::{Heartbeat, RunHolder};
use lagoa_lake::{Lake, LakeError};
use tracing::Instrument;

pub async fn run_delivery(
    lake: &Lake,
    request: &RunRequest,
    delivery: Delivery,
    progress: super::Progress,
) -> Result<RunOutcome, IngestError> {
    run_input(lake, request, RunInput::New(delivery), progress).await
}

pub async fn run_input(
    lake: &Lake,
    request: &RunRequest,
    delivery: RunInput,
    progress: super::Progress,
) -> Result<RunOutcome, IngestError> {
    let run = RunRecord {
        run_id: uuid::Uuid::now_v7().to_string(),
        source: request.source.clone(),
        dataset: request.dataset.to_string(),
        trigger: request.trigger.clone(),
        status: RunStatus::Running,
        attempts: i64::from(request.attempt.max(1)),
        started_at: now_micros(),
        replay_of: request.replay_of.clone(),
        ..Default::default()
    };
    close_abandoned_runs(lake, request).await;
    lake.catalog.save_run(&run).await?;
    lake.catalog
        .hold_run(&run.run_id, &RunHolder::this_process(), run.started_at)
        .await?;
    lagoa_lake::fault::point("run.started");
    // Ends with this function, however it ends (a daemon's timeout drops
    // the run's future).
    let _heartbeat = Heartbeat::start(lake.catalog.clone(), run.run_id.clone());
    let span = tracing::info_span!("run", run_id = %run.run_id, source = %run.source, dataset = %run.dataset);
    let mut ctx = RunContext {
        lake,
        request,
        progress,
        run,
        contract: None,
        existing: None,
        provider: None,
    };
    let result = stages(&mut ctx, delivery).instrument(span).await;
    let mut run = ctx.run;
    run.ended_at = Some(now_micros());
    match result {
        Ok(report) => {
            run.report = serde_json::to_string(&report).ok();
            lake.catalog.save_run(&run).await?;
            tracing::info!(run_id = %run.run_id, source = %run.source, dataset = %run.dataset, status = %run.status, rows = run.rows_written, rejected = run.rows_rejected, "run finished");
            Ok(RunOutcome { run, report })
        }
        Err(e) => {
            run.status = RunStatus::Failed;
            run.error = Some(e.to_string());
            run.error_class = Some(failure_class(&e));
            if let Err(save) = lake.catalog.save_run(&run).await {
                tracing::error!(run_id = %run.run_id, error = %save, "could not record the failed run");
            }
            tracing::warn!(run_id = %run.run_id, source = %run.source, dataset = %run.dataset, error = %e, "run failed");
            Err(e)
        }
    }
}

/// The stages between the run's start and its end.
async fn stages(
    ctx: &mut RunContext<'_>,
    delivery: RunInput,
) -> Result<QualityReport, IngestError> {
    prepare::prepare(ctx).await?;
    match input::take(ctx, delivery).await? {
        input::Taken::AlreadyIngested(report) => Ok(report),
        input::Taken::Read(delivered) => land::land(ctx, delivered).await,
    }
}

/// Closes the runs of this source or dataset whose process died: the next
/// run is the next command touching them.
async fn close_abandoned_runs(lake: &Lake, request: &RunRequest) {
    match lake
        .catalog
        .close_abandoned_runs(
            Some(request.dataset.as_str()),
            Some(&request.source),
            now_micros(),
        )
        .await
    {
        Ok(closed) if closed.is_empty() => {}
        Ok(closed) => {
            tracing::warn!(dataset = %request.dataset, source = %request.source, runs = ?closed, "closed runs whose process stopped as abandoned")
        }
        Err(e) => tracing::warn!(error = %e, "could not close abandoned runs"),
    }
}

/// Records a run that failed before it had a delivery (the source could
/// not even be listed). A failure to record is logged, not returned: the
/// caller reports the first error.
pub async fn record_failed_run(lake: &Lake, request: &RunRequest, error: &IngestError) {
    let now = now_micros();
    let run = RunRecord {
        run_id: uuid::Uuid::now_v7().to_string(),
        source: request.source.clone(),
        dataset: request.dataset.to_string(),
        trigger: request.trigger.clone(),
        status: RunStatus::Failed,
        attempts: i64::from(request.attempt.max(1)),
        started_at: now,
        ended_at: Some(now),
        error: Some(error.to_string()),
        error_class: Some(failure_class(error)),
        ..Default::default()
    };
    if let Err(e) = lake.catalog.save_run(&run).await {
        tracing::error!(run_id = %run.run_id, error = %e, "could not record the failed run");
    }
    tracing::warn!(run_id = %run.run_id, source = %run.source, dataset = %run.dataset, error = %error, "run failed before reading a delivery");
}

/// Marks the run failed with `error`, classified.
pub(super) fn fail(run: &mut RunRecord, error: &IngestError) {
    run.status = RunStatus::Failed;
    run.error = Some(error.to_string());
    run.error_class = Some(failure_class(error));
}

pub(super) fn failure_class(e: &IngestError) -> FailureClass {
    match e {
        IngestError::Source(SourceError::Unreachable { .. } | SourceError::Refused { .. }) => {
            FailureClass::SourceUnreachable
        }
        IngestError::Source(_) | IngestError::Input { .. } | IngestError::Contract(_) => {
            FailureClass::ContractViolation
        }
        IngestError::Lake(e) if e.store_error().is_some() => FailureClass::Storage,
        IngestError::Lake(
            LakeError::Keys(_) | LakeError::KeysUnavailable(_) | LakeError::Shredded { .. },
        ) => FailureClass::Keys,
        _ => FailureClass::Internal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lagoa_core::Retryable;

    #[test]
    fn a_key_provider_failure_is_classed_keys_and_only_an_outage_is_retried() {
        let outage = LakeError::from(lagoa_lake::keys::KeyError::Unavailable {
            provider: "PKCS#11 token \"t\"".into(),
            message: "opening a session: DeviceRemoved".into(),
        });
        assert!(outage.is_retryable());
        assert_eq!(
            failure_class(&IngestError::Lake(outage)),
            FailureClass::Keys
        );
        let refused = LakeError::from(lagoa_lake::keys::KeyError::Refused(
            "the PIN for PKCS#11 token \"t\" was refused".into(),
        ));
        assert!(!refused.is_retryable());
        assert_eq!(
            failure_class(&IngestError::Lake(refused)),
            FailureClass::Keys
        );
    }
}
