//! The last stage: the run's report and counts, the drift it saw, and then
//! either the commit (the delivery's files, raw-zone record, quarantine,
//! watermark, contract and the run's `committed` status in one catalog
//! transaction) or the record of why nothing landed.

use super::input::Delivered;
use super::process::{Processed, Stop};
use super::{RunContext, lifecycle, prepare::upsert_rule, raw_zone};
use crate::IngestError;
use arrow::datatypes::SchemaRef;
use lagoa_core::quality::{QualityReport, UpsertSummary};
use lagoa_core::{FailureClass, PersonalTag, RunStatus};
use lagoa_lake::catalog::model::{
    ColumnDef, CommitOutcome, CommitRequest, ContractToRegister, DatasetSpec, ObjectDigest,
    RawDelivery, Watermark, WriteMode,
};
use lagoa_lake::catalog::{DriftEvent, QuarantineRecord, now_micros};
use lagoa_lake::raw::RawObject;
use lagoa_schemas::Contract;

/// A report naming the run and its delivery, to be filled in.
pub(super) fn report_header(ctx: &RunContext<'_>, delivery: &str) -> QualityReport {
    QualityReport {
        run_id: ctx.run.run_id.clone(),
        dataset: ctx.request.dataset.to_string(),
        source: ctx.request.source.clone(),
        delivery: delivery.to_owned(),
        ..Default::default()
    }
}

pub(super) async fn land(
    ctx: &mut RunContext<'_>,
    delivered: Delivered,
) -> Result<QualityReport, IngestError> {
    let Delivered {
        name,
        raw,
        fingerprint,
        watermark,
        replayed_raw,
        processed,
    } = delivered;
    let mut report = counted_report(ctx, &name, &raw, &processed);
    record_drift(ctx, &processed).await?;
    let landing = Landing {
        quarantine: quarantine_record(ctx, &processed),
        digests: kept_objects(&processed, &raw, replayed_raw.is_none()),
        name,
        raw,
        fingerprint,
        replayed_raw,
    };
    match (&processed.stop, processed.output_schema.clone()) {
        (Some(stop), _) => landing.stopped(ctx, &processed, stop).await?,
        (None, Some(schema)) => {
            landing
                .commit(ctx, processed, &schema, watermark, &mut report)
                .await?
        }
        (None, None) => {
            let stop = Stop {
                status: RunStatus::Failed,
                class: Some(FailureClass::ContractViolation),
                message: "the delivery holds no rows and no columns".into(),
            };
            landing.unlanded(ctx, &stop).await?;
        }
    }
    if let Some(raw_id) = &landing.replayed_raw {
        ctx.run.raw_id = Some(raw_id.clone());
    }
    report.status = ctx.run.status;
    Ok(report)
}

/// The report of what was read, and the run's counts.
fn counted_report(
    ctx: &mut RunContext<'_>,
    name: &str,
    raw: &RawObject,
    processed: &Processed,
) -> QualityReport {
    let header = report_header(ctx, name);
    let report = QualityReport {
        run_id: header.run_id,
        dataset: header.dataset,
        source: header.source,
        delivery: header.delivery,
        contract_version: processed.contract.dataset.version.or(Some(1)),
        max_rejected_share: processed.contract.max_rejected_share(),
        drift: processed.drift.clone(),
        ..processed.report.clone()
    };
    let run = &mut ctx.run;
    run.rows_read = report.rows_read as i64;
    run.rows_rejected = report.rows_rejected as i64;
    run.bytes_read = raw.size_bytes as i64;
    run.contract_version = Some(processed.contract.version() as i64);
    report
}

async fn record_drift(ctx: &RunContext<'_>, processed: &Processed) -> Result<(), IngestError> {
    if processed.drift.is_empty() {
        return Ok(());
    }
    let events: Vec<DriftEvent> = processed
        .drift
        .iter()
        .map(|d| DriftEvent {
            run_id: ctx.run.run_id.clone(),
            dataset: ctx.request.dataset.to_string(),
            kind: d.kind.clone(),
            column: d.column.clone(),
            detail: d.detail.clone(),
            policy: processed.contract.dataset.drift.name().into(),
            at: now_micros(),
        })
        .collect();
    Ok(ctx.lake.catalog.record_drift(&events).await?)
}

fn quarantine_record(ctx: &RunContext<'_>, processed: &Processed) -> Option<QuarantineRecord> {
    processed
        .quarantine
        .as_ref()
        .map(|(object, rows)| QuarantineRecord {
            run_id: ctx.run.run_id.clone(),
            dataset: ctx.request.dataset.to_string(),
            path: object.path.clone(),
            row_count: *rows as i64,
            stored_bytes: object.stored_bytes as i64,
            created_at: now_micros(),
            released_at: None,
            released_by_run: None,
        })
}

fn digest(path: &str, size: u64, sha256: &str) -> ObjectDigest {
    ObjectDigest {
        path: path.to_owned(),
        size_bytes: size as i64,
        sha256: sha256.to_owned(),
    }
}

/// What each object this run wrote besides data files was, for
/// `check --deep`: its quarantine and, unless replayed, its original.
fn kept_objects(processed: &Processed, raw: &RawObject, new_original: bool) -> Vec<ObjectDigest> {
    let mut digests: Vec<ObjectDigest> = processed
        .quarantine
        .iter()
        .map(|(object, _)| digest(&object.path, object.stored_bytes, &object.sha256))
        .collect();
    if new_original {
        digests.push(digest(&raw.path, raw.stored_bytes, &raw.sha256));
    }
    digests
}

/// Everything the run leaves besides its data files.
struct Landing {
    name: String,
    raw: RawObject,
    fingerprint: String,
    replayed_raw: Option<String>,
    quarantine: Option<QuarantineRecord>,
    digests: Vec<ObjectDigest>,
}

impl Landing {
    /// The delivery's raw-zone record, unless it is a replay of one the
    /// raw zone already holds.
    fn raw_record(&self, ctx: &RunContext<'_>, error: Option<String>) -> Option<RawDelivery> {
        self.replayed_raw.is_none().then(|| {
            raw_zone::delivery_record(ctx.request, &self.name, &self.raw, &self.fingerprint, error)
        })
    }

    /// Records a run that landed nothing, with its delivery and quarantine.
    async fn unlanded(&self, ctx: &mut RunContext<'_>, stop: &Stop) -> Result<(), IngestError> {
        ctx.run.status = stop.status;
        ctx.run.error_class = stop.class;
        ctx.run.error = Some(stop.message.clone());
        let raw = self.raw_record(ctx, ctx.run.error.clone());
        ctx.run.raw_id = raw.as_ref().map(|r| r.raw_id.clone());
        ctx.lake
            .catalog
            .record_unlanded(
                raw.as_ref(),
                self.quarantine.as_ref(),
                &self.digests,
                Some(&ctx.run),
            )
            .await?;
        Ok(())
    }

    /// Drift, rejected rows or nothing new: nothing is committed.
    async fn stopped(
        &self,
        ctx: &mut RunContext<'_>,
        processed: &Processed,
        stop: &Stop,
    ) -> Result<(), IngestError> {
        let lake = ctx.lake;
        lake.forget_objects(processed.files.iter().map(|f| f.path.as_str()))
            .await;
        if stop.status != RunStatus::Empty {
            self.unlanded(ctx, stop).await?;
            lagoa_lake::fault::point("run.after_unlanded");
            return Ok(());
        }
        ctx.run.status = stop.status;
        // An extraction that found nothing new delivered nothing: no
        // original to keep.
        if self.replayed_raw.is_none() {
            lake.forget_objects([self.raw.path.as_str()].into_iter())
                .await;
        }
        Ok(())
    }

    async fn commit(
        &self,
        ctx: &mut RunContext<'_>,
        processed: Processed,
        schema: &SchemaRef,
        watermark: Option<String>,
        report: &mut QualityReport,
    ) -> Result<(), IngestError> {
        let lake = ctx.lake;
        let rows_written: i64 = processed.files.iter().map(|f| f.row_count).sum();
        let bytes_written: i64 = processed.files.iter().map(|f| f.size_bytes).sum();
        let paths: Vec<String> = processed.files.iter().map(|f| f.path.clone()).collect();
        let raw = self.raw_record(ctx, None);
        let mut commit = self.commit_request(
            ctx,
            processed.files,
            &processed.contract,
            schema,
            watermark,
            raw.clone(),
        );
        lagoa_lake::fault::point("run.before_commit");
        let outcome = match commit_delivery(ctx, &processed.contract, &mut commit, report).await {
            Ok(outcome) => outcome,
            Err(e) => {
                // Nothing became visible; the delivery stays on record.
                lake.forget_objects(paths.iter().map(String::as_str)).await;
                let failed = self.raw_record(ctx, Some(e.to_string()));
                lifecycle::fail(&mut ctx.run, &e);
                ctx.run.raw_id = failed.as_ref().map(|r| r.raw_id.clone());
                lake.catalog
                    .record_unlanded(
                        failed.as_ref(),
                        self.quarantine.as_ref(),
                        &self.digests,
                        Some(&ctx.run),
                    )
                    .await?;
                return Err(e);
            }
        };
        lagoa_lake::fault::point("run.after_commit");
        match outcome {
            CommitOutcome::Committed { snapshot, .. } => {
                ctx.run.status = RunStatus::Committed;
                ctx.run.snapshot_id = Some(snapshot);
                ctx.run.raw_id = raw.map(|r| r.raw_id).or(self.replayed_raw.clone());
                if let Some((provider, from)) = &ctx.provider
                    && let Err(e) = lagoa_governance::GovernanceStore::of(&lake.catalog)
                        .name_provider(ctx.request.dataset.as_str(), provider, from)
                        .await
                {
                    tracing::warn!(error = %e, "the delivery's provider could not be recorded");
                }
                ctx.run.rows_written = rows_written;
                ctx.run.bytes_written = bytes_written;
            }
            CommitOutcome::AlreadyIngested { snapshot } => {
                // The same bytes under another name: drop this copy's
                // files, its quarantine and its raw copy if it made one
                // (a replay reads the original, which stays).
                lake.forget_objects(paths.iter().map(String::as_str)).await;
                lake.forget_objects(self.quarantine.iter().map(|q| q.path.as_str()))
                    .await;
                if self.replayed_raw.is_none() {
                    lake.forget_objects([self.raw.path.as_str()].into_iter())
                        .await;
                }
                ctx.run.status = RunStatus::AlreadyIngested;
                ctx.run.snapshot_id = Some(snapshot);
            }
        }
        Ok(())
    }

    fn commit_request(
        &self,
        ctx: &RunContext<'_>,
        files: Vec<lagoa_lake::catalog::model::NewDataFile>,
        contract: &Contract,
        schema: &SchemaRef,
        watermark: Option<String>,
        raw: Option<RawDelivery>,
    ) -> CommitRequest {
        let request = ctx.request;
        let file_digests = files
            .iter()
            .map(|f| digest(&f.path, f.size_bytes as u64, &f.sha256));
        let digests: Vec<ObjectDigest> = self.digests.iter().cloned().chain(file_digests).collect();
        CommitRequest {
            spec: spec_for(contract, schema),
            mode: request.mode.clone(),
            files,
            fingerprint: Some(self.fingerprint.clone()),
            source: self.name.clone(),
            watermark: match (&request.watermark_key, watermark) {
                (Some(key), Some(value)) => Some(Watermark {
                    source: key.clone(),
                    value,
                }),
                _ => None,
            },
            raw,
            quarantine: self.quarantine.clone(),
            run_id: Some(ctx.run.run_id.clone()),
            release_of: request.releases_quarantine_of.clone(),
            digests,
            contract: Some(ContractToRegister {
                version: contract.version() as i64,
                effective_from: contract.dataset.effective_from.clone(),
                body: contract.to_toml(),
            }),
            // An upsert's deletion vectors are worked out just before the
            // commit (`commit_delivery`).
            deletes: Vec::new(),
            replaces: Vec::new(),
            planned_at: None,
        }
    }
}

/// Commits a delivery; an upsert first works out which rows it replaces
/// or deletes, and does so again when another writer changed the dataset
/// in between.
async fn commit_delivery(
    ctx: &RunContext<'_>,
    contract: &Contract,
    commit: &mut CommitRequest,
    report: &mut QualityReport,
) -> Result<CommitOutcome, IngestError> {
    let (lake, request) = (ctx.lake, ctx.request);
    if request.mode != WriteMode::Upsert {
        return Ok(lake.catalog.commit(commit).await?);
    }
    let rule = upsert_rule(request, contract).map_err(IngestError::Usage)?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let plan = lagoa_lake::upsert::plan(lake, &request.dataset, &commit.files, &rule).await?;
        commit.deletes = plan.deletes;
        commit.planned_at = Some(plan.planned_at);
        lagoa_lake::fault::pause("upsert.planned").await;
        match lake.catalog.commit(commit).await {
            Err(lagoa_lake::LakeError::ConcurrentChange { .. }) if attempt < 5 => {
                tracing::debug!(dataset = %request.dataset, attempt, "the dataset changed while the upsert was prepared; preparing again");
            }
            Err(e) => return Err(e.into()),
            Ok(outcome @ CommitOutcome::AlreadyIngested { .. }) => return Ok(outcome),
            Ok(outcome) => {
                report.upsert = Some(UpsertSummary {
                    rows_replaced: plan.rows_replaced,
                    rows_deleted: plan.rows_deleted,
                    deletion_marks: plan.deletion_marks,
                    repeated_keys: plan.repeated_keys,
                });
                return Ok(outcome);
            }
        }
    }
}

fn spec_for(contract: &Contract, schema: &SchemaRef) -> DatasetSpec {
    let personal: std::collections::HashMap<String, PersonalTag> =
        contract.personal_columns().into_iter().collect();
    DatasetSpec {
        name: contract.name(),
        level: contract.level(),
        description: contract.dataset.description.clone(),
        partition_column: contract.dataset.partition.clone(),
        columns: schema
            .fields()
            .iter()
            .map(|f| ColumnDef::of_field(f, personal.get(f.name()).copied()))
            .collect(),
    }
}
