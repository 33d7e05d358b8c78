//! One run: a delivery from a source, kept in the raw zone, checked against
//! its contract, written encrypted, committed as one snapshot, and recorded
//! with its quality report; rejected rows go to quarantine.
//!
//! Threads: the source's reader (parsing, and for database and API rows the
//! raw zone's Arrow IPC copy) feeds a bounded channel; the checker and the
//! encrypting writer drain it; a third thread copies a delivered file into
//! the raw zone and fingerprints it. Nothing becomes visible before the
//! commit, and a run that fails leaves only orphans for `vacuum`.

use crate::IngestError;
use crate::check::{CheckError, Checker, RejectedRow};
use crate::contract_source::{
    InferenceHints, check_against_dataset, contract_from_dataset, inferred_contract,
    registered_contract,
};
use crate::quality::QualityReport;
use arrow::array::{Array, StringArray};
use arrow::datatypes::SchemaRef;
use chrono::NaiveDate;
use lagoa_connectors::{Batches, Delivery, Extraction, FileDelivery, SourceBatch, SourceError};
use lagoa_core::{DatasetName, PersonalTag};
use lagoa_lake::catalog::model::{
    ColumnDef, CommitOutcome, CommitRequest, ContractToRegister, DatasetInfo, DatasetSpec,
    NewDataFile, ObjectDigest, RawDelivery, Watermark, WriteMode,
};
use lagoa_lake::catalog::{DriftEvent, QuarantineRecord, RunRecord, now_micros};
use lagoa_lake::raw::{RawObject, RawWriter};
use lagoa_lake::run_holder::RunHolder;
use lagoa_lake::writer::WriteTarget;
use lagoa_lake::{AsOf, Lake};
use lagoa_schemas::{Contract, DriftPolicy};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use tracing::Instrument;

/// Called with the number of rows read so far.
pub type Progress = Arc<dyn Fn(u64) + Send + Sync>;

#[derive(Clone, Debug)]
pub struct RunRequest {
    /// The source's name: a configured source, or the delivered file's name.
    pub source: String,
    pub dataset: DatasetName,
    /// A contract given explicitly (else the registered one, else the
    /// dataset's columns, else inference).
    pub contract: Option<Contract>,
    /// The date that picks the contract version in force (default today).
    pub reference_date: Option<NaiveDate>,
    pub mode: WriteMode,
    /// `manual`, `schedule`, `replay`, `release`.
    pub trigger: String,
    pub replay_of: Option<String>,
    pub hints: InferenceHints,
    pub batch_rows: usize,
    /// Incremental sources: the key their watermark is saved under.
    pub watermark_key: Option<String>,
    /// Which attempt of a scheduled run this is (1 = the first).
    pub attempt: u32,
    /// The institution delivering (a source's `provider`, `--provider`);
    /// else the contract's provider when it names an institution.
    pub provider: Option<String>,
    /// `lagoa quarantine release`: the run whose quarantined rows this
    /// run re-admits, marked released in the commit's transaction.
    pub releases_quarantine_of: Option<String>,
    /// Upsert: the key's columns when the contract declares no
    /// `primary_key` (`--key`, a database source's
    /// `incremental.primary_key`); when it does, they must agree.
    pub key: Vec<String>,
    /// Upsert: the column whose value marks a row deleted at the source.
    pub delete_column: Option<String>,
}

impl RunRequest {
    pub fn new(source: &str, dataset: DatasetName) -> Self {
        RunRequest {
            source: source.to_owned(),
            dataset,
            contract: None,
            reference_date: None,
            mode: WriteMode::Append,
            trigger: "manual".into(),
            replay_of: None,
            hints: InferenceHints::default(),
            batch_rows: lagoa_connectors::DEFAULT_BATCH_ROWS,
            watermark_key: None,
            attempt: 1,
            provider: None,
            releases_quarantine_of: None,
            key: Vec::new(),
            delete_column: None,
        }
    }
}

/// What a run did. `run.status` says whether the delivery became visible.
#[derive(Debug)]
pub struct RunOutcome {
    pub run: RunRecord,
    pub report: QualityReport,
}

impl RunOutcome {
    pub fn succeeded(&self) -> bool {
        matches!(
            self.run.status.as_str(),
            "committed" | "already_ingested" | "empty"
        )
    }
}

/// What the reading, checking and writing threads produced.
struct Processed {
    contract: Contract,
    files: Vec<NewDataFile>,
    output_schema: Option<SchemaRef>,
    report: QualityReport,
    quarantine: Option<(RawObject, u64)>,
    drift: Vec<crate::check::Drift>,
    /// Why nothing is committed, if so: (status, error class, message).
    stop: Option<(&'static str, &'static str, String)>,
}

/// What a run reads: a new delivery, or one the raw zone already holds.
pub enum RunInput {
    New(Delivery),
    /// A delivery read back from the raw zone (`lagoa replay`).
    Replay {
        raw: RawDelivery,
        batches: Batches,
    },
}

pub async fn run_delivery(
    lake: &Lake,
    request: &RunRequest,
    delivery: Delivery,
    progress: Progress,
) -> Result<RunOutcome, IngestError> {
    run_input(lake, request, RunInput::New(delivery), progress).await
}

pub async fn run_input(
    lake: &Lake,
    request: &RunRequest,
    delivery: RunInput,
    progress: Progress,
) -> Result<RunOutcome, IngestError> {
    let mut run = RunRecord {
        run_id: uuid::Uuid::now_v7().to_string(),
        source: request.source.clone(),
        dataset: request.dataset.to_string(),
        trigger: request.trigger.clone(),
        status: "running".into(),
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
    let _heartbeat =
        lagoa_lake::run_holder::Heartbeat::start(lake.catalog.clone(), run.run_id.clone());
    let span = tracing::info_span!("run", run_id = %run.run_id, source = %run.source, dataset = %run.dataset);
    let result = execute(lake, request, delivery, progress, &mut run)
        .instrument(span)
        .await;
    run.ended_at = Some(now_micros());
    match result {
        Ok(report) => {
            run.report = serde_json::to_string(&report).ok();
            lake.catalog.save_run(&run).await?;
            tracing::info!(run_id = %run.run_id, source = %run.source, dataset = %run.dataset, status = %run.status, rows = run.rows_written, rejected = run.rows_rejected, "run finished");
            Ok(RunOutcome { run, report })
        }
        Err(e) => {
            run.status = "failed".into();
            run.error = Some(e.to_string());
            run.error_class = Some(error_class(&e).into());
            if let Err(save) = lake.catalog.save_run(&run).await {
                tracing::error!(run_id = %run.run_id, error = %save, "could not record the failed run");
            }
            tracing::warn!(run_id = %run.run_id, source = %run.source, dataset = %run.dataset, error = %e, "run failed");
            Err(e)
        }
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

/// Who delivers: the institution the source (or the command) names, else
/// the contract's provider when it names an institution of the agreement;
/// with where it was named. A delivery naming another provider than the
/// dataset's is refused before anything is read.
async fn delivering_provider(
    lake: &Lake,
    request: &RunRequest,
    contract: Option<&Contract>,
) -> Result<Option<(String, String)>, IngestError> {
    let named = match (&request.provider, contract) {
        (Some(p), _) => {
            if lake.catalog.institution(p).await?.is_none() {
                return Err(IngestError::Usage(format!(
                    "institution {p}, named as the provider of this delivery, does not exist (add it with `lagoa institution add`)"
                )));
            }
            (p.clone(), format!("source {}", request.source))
        }
        (None, Some(c)) => {
            let p = c.dataset.provider.trim();
            if p.is_empty() || lake.catalog.institution(p).await?.is_none() {
                return Ok(None);
            }
            (p.to_owned(), format!("contract of {}", c.dataset.name))
        }
        (None, None) => return Ok(None),
    };
    if let Some(known) = lake
        .catalog
        .dataset_provider(request.dataset.as_str())
        .await?
        && known != named.0
    {
        return Err(IngestError::Usage(format!(
            "dataset {} is delivered by institution {known}; this delivery names {} ({}): one provider per dataset",
            request.dataset, named.0, named.1
        )));
    }
    Ok(Some(named))
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
        status: "failed".into(),
        attempts: i64::from(request.attempt.max(1)),
        started_at: now,
        ended_at: Some(now),
        error: Some(error.to_string()),
        error_class: Some(error_class(error).into()),
        ..Default::default()
    };
    if let Err(e) = lake.catalog.save_run(&run).await {
        tracing::error!(run_id = %run.run_id, error = %e, "could not record the failed run");
    }
    tracing::warn!(run_id = %run.run_id, source = %run.source, dataset = %run.dataset, error = %error, "run failed before reading a delivery");
}

fn error_class(e: &IngestError) -> &'static str {
    match e {
        IngestError::Source(SourceError::Unreachable { .. } | SourceError::Refused { .. }) => {
            "source_unreachable"
        }
        IngestError::Source(_) | IngestError::Input { .. } | IngestError::Contract(_) => {
            "contract_violation"
        }
        IngestError::Lake(e) if e.store_error().is_some() => "storage",
        _ => "internal",
    }
}

async fn execute(
    lake: &Lake,
    request: &RunRequest,
    delivery: RunInput,
    progress: Progress,
    run: &mut RunRecord,
) -> Result<QualityReport, IngestError> {
    let latest = lake.catalog.resolve(&AsOf::Latest).await?;
    let existing = lake.catalog.dataset(&request.dataset, latest).await?;
    if let Some(at) = existing.as_ref().and_then(|d| d.shredded_at) {
        return Err(lagoa_lake::LakeError::Shredded {
            dataset: request.dataset.to_string(),
            at: lagoa_lake::catalog::format_micros(at),
        }
        .into());
    }
    let contract = match &request.contract {
        Some(c) => Some(c.clone()),
        None => registered_contract(lake, &request.dataset, request.reference_date).await?,
    };
    if let Some(contract) = &contract {
        if contract.name() != request.dataset {
            return Err(IngestError::Usage(format!(
                "the contract describes dataset {}, not {}",
                contract.dataset.name, request.dataset
            )));
        }
        if let Some(info) = &existing {
            check_against_dataset(contract, info).map_err(IngestError::Usage)?;
        }
        if request.mode == WriteMode::Upsert {
            upsert_rule(request, contract).map_err(IngestError::Usage)?;
        }
    }

    let provider = delivering_provider(lake, request, contract.as_ref()).await?;

    let mut replayed_raw = None;
    let (raw, fingerprint, processed) = match delivery {
        RunInput::Replay { raw, batches } => {
            let processed = process(
                lake,
                request,
                batches,
                contract,
                existing.clone(),
                None,
                false,
                progress,
            )
            .await?;
            let object = RawObject {
                path: raw.path.clone(),
                size_bytes: raw.size_bytes as u64,
                stored_bytes: raw.stored_bytes as u64,
                // Recorded with the original delivery, not again.
                sha256: String::new(),
            };
            let fingerprint = raw.fingerprint.clone();
            let name = raw.source.clone();
            replayed_raw = Some(raw.raw_id);
            ((name, object, None), fingerprint, processed)
        }
        RunInput::New(Delivery::File(file)) => {
            if let Some(snapshot) = rerun_of(lake, request, &file).await? {
                return Ok(already_ingested(request, run, &file.name, snapshot));
            }
            run_file(
                lake,
                request,
                &file,
                contract,
                existing.clone(),
                progress,
                run,
            )
            .await?
        }
        RunInput::New(Delivery::Remote(remote)) => {
            let (object, fingerprint) = fetch_into_raw(lake, request, &remote).await?;
            if let Some(snapshot) = lake
                .catalog
                .find_delivery(&request.dataset, &fingerprint)
                .await?
            {
                forget(lake, [&object.path].into_iter()).await;
                return Ok(already_ingested(request, run, &remote.name, snapshot));
            }
            let processed = run_remote(
                lake,
                request,
                &remote,
                &object,
                contract,
                existing.clone(),
                progress,
            )
            .await;
            let processed = kept_even_if_unread(
                lake,
                request,
                (&remote.name, &object, &fingerprint),
                processed,
                run,
            )
            .await?;
            ((remote.name.clone(), object, None), fingerprint, processed)
        }
        RunInput::New(Delivery::Rows(extraction)) => {
            run_rows(
                lake,
                request,
                extraction,
                contract,
                existing.clone(),
                progress,
                run,
            )
            .await?
        }
    };
    let delivery_name = raw.0.clone();
    let (raw_object, watermark) = (raw.1, raw.2);
    let mut report = processed.report.clone();
    let header = report_header(request, run, &delivery_name);
    report.run_id = header.run_id;
    report.dataset = header.dataset;
    report.source = header.source;
    report.delivery = header.delivery;
    report.contract_version = processed.contract.dataset.version.or(Some(1));
    report.max_rejected_share = processed.contract.max_rejected_share();
    report.drift = processed.drift.clone();
    run.rows_read = report.rows_read as i64;
    run.rows_rejected = report.rows_rejected as i64;
    run.bytes_read = raw_object.size_bytes as i64;
    run.contract_version = Some(processed.contract.version() as i64);

    let quarantine = processed
        .quarantine
        .as_ref()
        .map(|(object, rows)| QuarantineRecord {
            run_id: run.run_id.clone(),
            dataset: request.dataset.to_string(),
            path: object.path.clone(),
            row_count: *rows as i64,
            stored_bytes: object.stored_bytes as i64,
            created_at: now_micros(),
            released_at: None,
            released_by_run: None,
        });
    if !processed.drift.is_empty() {
        let events: Vec<DriftEvent> = processed
            .drift
            .iter()
            .map(|d| DriftEvent {
                run_id: run.run_id.clone(),
                dataset: request.dataset.to_string(),
                kind: d.kind.clone(),
                column: d.column.clone(),
                detail: d.detail.clone(),
                policy: processed.contract.dataset.drift.name().into(),
                at: now_micros(),
            })
            .collect();
        lake.catalog.record_drift(&events).await?;
    }
    // What each object this run wrote was, for `check --deep`.
    let digest = |path: &str, size: u64, sha256: &str| ObjectDigest {
        path: path.to_owned(),
        size_bytes: size as i64,
        sha256: sha256.to_owned(),
    };
    let mut digests: Vec<ObjectDigest> = processed
        .quarantine
        .iter()
        .map(|(object, _)| digest(&object.path, object.stored_bytes, &object.sha256))
        .collect();
    if replayed_raw.is_none() {
        digests.push(digest(
            &raw_object.path,
            raw_object.stored_bytes,
            &raw_object.sha256,
        ));
    }
    // The delivery's raw-zone record, unless it is a replay of one the raw
    // zone already holds.
    let raw_record = |status: &str, error: Option<String>| {
        replayed_raw.is_none().then(|| {
            raw_delivery_record(
                request,
                &delivery_name,
                &raw_object,
                &fingerprint,
                status,
                error,
            )
        })
    };

    match (&processed.stop, processed.output_schema.as_ref()) {
        (Some((status, class, message)), _) => {
            forget(lake, processed.files.iter().map(|f| &f.path)).await;
            run.status = (*status).into();
            if *status == "empty" {
                // An extraction that found nothing new delivered nothing:
                // no original to keep.
                if replayed_raw.is_none() {
                    forget(lake, [&raw_object.path].into_iter()).await;
                }
            } else {
                run.error_class = Some((*class).into());
                run.error = Some(message.clone());
                let raw = raw_record("failed", run.error.clone());
                run.raw_id = raw.as_ref().map(|r| r.raw_id.clone());
                lake.catalog
                    .record_unlanded(raw.as_ref(), quarantine.as_ref(), &digests, Some(run))
                    .await?;
                lagoa_lake::fault::point("run.after_unlanded");
            }
        }
        (None, Some(schema)) => {
            let rows_written: i64 = processed.files.iter().map(|f| f.row_count).sum();
            let bytes_written: i64 = processed.files.iter().map(|f| f.size_bytes).sum();
            let paths: Vec<String> = processed.files.iter().map(|f| f.path.clone()).collect();
            let raw = raw_record("committed", None);
            let file_digests = processed
                .files
                .iter()
                .map(|f| digest(&f.path, f.size_bytes as u64, &f.sha256));
            let commit_digests: Vec<ObjectDigest> =
                digests.iter().cloned().chain(file_digests).collect();
            let commit = CommitRequest {
                spec: spec_for(&processed.contract, schema),
                mode: request.mode.clone(),
                files: processed.files,
                fingerprint: Some(fingerprint.clone()),
                source: delivery_name.clone(),
                watermark: match (&request.watermark_key, watermark) {
                    (Some(key), Some(value)) => Some(Watermark {
                        source: key.clone(),
                        value,
                    }),
                    _ => None,
                },
                raw: raw.clone(),
                quarantine: quarantine.clone(),
                run_id: Some(run.run_id.clone()),
                release_of: request.releases_quarantine_of.clone(),
                digests: commit_digests,
                contract: Some(ContractToRegister {
                    version: processed.contract.version() as i64,
                    effective_from: processed.contract.dataset.effective_from.clone(),
                    body: processed.contract.to_toml(),
                }),
                // An upsert's deletion vectors are worked out just before
                // the commit (`commit_delivery`).
                deletes: Vec::new(),
                replaces: Vec::new(),
                planned_at: None,
            };
            let mut commit = commit;
            lagoa_lake::fault::point("run.before_commit");
            let outcome =
                match commit_delivery(lake, request, &processed.contract, &mut commit, &mut report)
                    .await
                {
                    Ok(outcome) => outcome,
                    Err(e) => {
                        // Nothing became visible; the delivery stays on record.
                        forget(lake, paths.iter()).await;
                        let failed = raw_record("failed", Some(e.to_string()));
                        run.status = "failed".into();
                        run.error = Some(e.to_string());
                        run.error_class = Some(error_class(&e).into());
                        run.raw_id = failed.as_ref().map(|r| r.raw_id.clone());
                        lake.catalog
                            .record_unlanded(
                                failed.as_ref(),
                                quarantine.as_ref(),
                                &digests,
                                Some(run),
                            )
                            .await?;
                        return Err(e);
                    }
                };
            lagoa_lake::fault::point("run.after_commit");
            match outcome {
                CommitOutcome::Committed { snapshot, .. } => {
                    run.status = "committed".into();
                    run.snapshot_id = Some(snapshot);
                    run.raw_id = raw.map(|r| r.raw_id).or(replayed_raw.clone());
                    if let Some((provider, from)) = &provider
                        && let Err(e) = lake
                            .catalog
                            .name_provider(request.dataset.as_str(), provider, from)
                            .await
                    {
                        tracing::warn!(error = %e, "the delivery's provider could not be recorded");
                    }
                    run.rows_written = rows_written;
                    run.bytes_written = bytes_written;
                }
                CommitOutcome::AlreadyIngested { snapshot } => {
                    // The same bytes under another name: drop this copy's
                    // files, its quarantine and its raw copy if it made one
                    // (a replay reads the original, which stays).
                    forget(lake, paths.iter()).await;
                    forget(lake, quarantine.iter().map(|q| &q.path)).await;
                    if replayed_raw.is_none() {
                        forget(lake, [&raw_object.path].into_iter()).await;
                    }
                    run.status = "already_ingested".into();
                    run.snapshot_id = Some(snapshot);
                }
            }
        }
        (None, None) => {
            run.status = "failed".into();
            run.error_class = Some("contract_violation".into());
            run.error = Some("the delivery holds no rows and no columns".into());
            let raw = raw_record("failed", run.error.clone());
            run.raw_id = raw.as_ref().map(|r| r.raw_id.clone());
            lake.catalog
                .record_unlanded(raw.as_ref(), quarantine.as_ref(), &digests, Some(run))
                .await?;
        }
    }
    if let Some(raw_id) = replayed_raw {
        run.raw_id = Some(raw_id);
    }
    report.status = run.status.clone();
    Ok(report)
}

/// Commits a delivery; an upsert first works out which rows it replaces
/// or deletes, and does so again when another writer changed the dataset
/// in between.
async fn commit_delivery(
    lake: &Lake,
    request: &RunRequest,
    contract: &Contract,
    commit: &mut CommitRequest,
    report: &mut QualityReport,
) -> Result<CommitOutcome, IngestError> {
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
                report.upsert = Some(crate::quality::UpsertSummary {
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

/// The key and delete column of an upsert into the dataset `contract`
/// describes: the contract's primary key; when it declares none, `--key`
/// or the source's key. Both given, they must agree.
pub fn upsert_rule(
    request: &RunRequest,
    contract: &Contract,
) -> Result<lagoa_lake::upsert::UpsertRule, String> {
    let declared = &contract.dataset.primary_key;
    let key = match (declared.is_empty(), request.key.is_empty()) {
        (true, true) => {
            return Err(format!(
                "an upsert into {} needs a primary key: declare primary_key in the dataset's contract, or give --key",
                request.dataset
            ));
        }
        (true, false) => request.key.clone(),
        (false, true) => declared.clone(),
        (false, false) if declared == &request.key => declared.clone(),
        (false, false) => {
            return Err(format!(
                "the contract of {} declares primary key ({}), and the upsert was given ({}): make them agree",
                request.dataset,
                declared.join(", "),
                request.key.join(", ")
            ));
        }
    };
    let known =
        |name: &str| contract.columns.is_empty() || contract.columns.iter().any(|c| c.name == name);
    for column in key.iter().chain(request.delete_column.iter()) {
        if !known(column) {
            return Err(format!(
                "an upsert into {} names column {column}, which the contract does not have",
                request.dataset
            ));
        }
    }
    Ok(lagoa_lake::upsert::UpsertRule {
        key,
        delete_column: request.delete_column.clone(),
    })
}

fn report_header(request: &RunRequest, run: &RunRecord, delivery: &str) -> QualityReport {
    QualityReport {
        run_id: run.run_id.clone(),
        dataset: request.dataset.to_string(),
        source: request.source.clone(),
        delivery: delivery.to_owned(),
        ..Default::default()
    }
}

/// A file whose name and size match a committed delivery is fingerprinted
/// first: an unchanged rerun stops here without work.
async fn rerun_of(
    lake: &Lake,
    request: &RunRequest,
    file: &FileDelivery,
) -> Result<Option<i64>, IngestError> {
    let size = std::fs::metadata(&file.path)
        .map_err(|e| IngestError::Input {
            path: file.name.clone(),
            message: format!("cannot read: {}", e.kind()),
        })?
        .len();
    if request.replay_of.is_some()
        || !lake
            .catalog
            .has_committed_delivery_like(&request.dataset, &file.name, size as i64)
            .await?
    {
        return Ok(None);
    }
    let path = file.path.clone();
    let fingerprint = tokio::task::spawn_blocking(move || fingerprint_file(&path))
        .await
        .map_err(|e| IngestError::Usage(format!("fingerprinting failed: {e}")))?
        .map_err(|e| IngestError::Input {
            path: file.name.clone(),
            message: format!("cannot read: {}", e.kind()),
        })?;
    Ok(lake
        .catalog
        .find_delivery(&request.dataset, &fingerprint)
        .await?)
}

type RawCopy = (String, RawObject, Option<String>);

async fn run_file(
    lake: &Lake,
    request: &RunRequest,
    file: &FileDelivery,
    contract: Option<Contract>,
    existing: Option<DatasetInfo>,
    progress: Progress,
    run: &mut RunRecord,
) -> Result<(RawCopy, String, Processed), IngestError> {
    // The original bytes go to the raw zone on a thread of their own, and
    // the copy completes even when the delivery is rejected.
    let raw_copy = {
        let (store, keys, dataset, path, name) = (
            Arc::clone(&lake.store.store),
            Arc::clone(lake.crypto.keys()),
            request.dataset.clone(),
            file.path.clone(),
            file.name.clone(),
        );
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            keep_original(store, &keys, &dataset, &path, &name, handle)
        })
    };
    let batches = {
        let file = file.clone();
        let rows = request.batch_rows;
        tokio::task::spawn_blocking(move || file.batches(rows))
            .await
            .map_err(|e| IngestError::Usage(format!("the reader thread failed: {e}")))?
    };
    let processed = match batches {
        Ok(batches) => {
            process(
                lake, request, batches, contract, existing, None, false, progress,
            )
            .await
        }
        Err(e) => Err(IngestError::Source(e)),
    };
    let (raw, fingerprint) = raw_copy
        .await
        .map_err(|e| IngestError::Usage(format!("the raw-zone thread failed: {e}")))??;
    lagoa_lake::fault::point("run.raw_kept");
    let processed = kept_even_if_unread(
        lake,
        request,
        (&file.name, &raw, &fingerprint),
        processed,
        run,
    )
    .await?;
    Ok(((file.name.clone(), raw, None), fingerprint, processed))
}

/// The run of a delivery the lake already holds: nothing to do.
fn already_ingested(
    request: &RunRequest,
    run: &mut RunRecord,
    name: &str,
    snapshot: i64,
) -> QualityReport {
    run.status = "already_ingested".into();
    run.snapshot_id = Some(snapshot);
    QualityReport {
        status: run.status.clone(),
        ..report_header(request, run, name)
    }
}

/// Reads a remote delivery back from its raw-zone copy and checks it.
async fn run_remote(
    lake: &Lake,
    request: &RunRequest,
    remote: &lagoa_connectors::remote::RemoteFile,
    object: &RawObject,
    contract: Option<Contract>,
    existing: Option<DatasetInfo>,
    progress: Progress,
) -> Result<Processed, IngestError> {
    if let Some(reason) = &remote.refused {
        return Err(SourceError::input(&remote.name, reason).into());
    }
    let stream = decrypting_stream(lake, &object.path);
    let (name, format, options, rows) = (
        remote.name.clone(),
        remote.format,
        remote.options.clone(),
        request.batch_rows,
    );
    let batches = tokio::task::spawn_blocking(move || {
        lagoa_connectors::formats::read_stream(stream, &name, format, &options, rows)
    })
    .await
    .map_err(|e| IngestError::Usage(format!("the reader thread failed: {e}")))??;
    process(
        lake, request, batches, contract, existing, None, false, progress,
    )
    .await
}

/// A delivery that could not even be opened is still kept in the raw zone
/// and recorded, with the run's end (so `lagoa replay <run>` finds its
/// original); the run fails with the reader's error.
async fn kept_even_if_unread(
    lake: &Lake,
    request: &RunRequest,
    (name, raw, fingerprint): (&str, &RawObject, &str),
    processed: Result<Processed, IngestError>,
    run: &mut RunRecord,
) -> Result<Processed, IngestError> {
    let e = match processed {
        Ok(p) => return Ok(p),
        Err(e) => e,
    };
    let record = failed_raw(request, name, raw, fingerprint, &e);
    run.status = "failed".into();
    run.error = Some(e.to_string());
    run.error_class = Some(error_class(&e).into());
    run.raw_id = Some(record.raw_id.clone());
    run.bytes_read = raw.size_bytes as i64;
    lake.catalog
        .record_unlanded(
            Some(&record),
            None,
            &[ObjectDigest {
                path: raw.path.clone(),
                size_bytes: raw.stored_bytes as i64,
                sha256: raw.sha256.clone(),
            }],
            Some(run),
        )
        .await?;
    Err(e)
}

/// The raw-zone record of a delivery kept although its run failed.
fn failed_raw(
    request: &RunRequest,
    name: &str,
    raw: &RawObject,
    fingerprint: &str,
    error: &dyn std::fmt::Display,
) -> RawDelivery {
    raw_delivery_record(
        request,
        name,
        raw,
        fingerprint,
        "failed",
        Some(error.to_string()),
    )
}

/// A delivery's raw-zone record (`committed` or `failed`); the commit
/// fills in its snapshot.
fn raw_delivery_record(
    request: &RunRequest,
    name: &str,
    raw: &RawObject,
    fingerprint: &str,
    status: &str,
    error: Option<String>,
) -> RawDelivery {
    RawDelivery {
        raw_id: uuid::Uuid::now_v7().to_string(),
        dataset: request.dataset.to_string(),
        path: raw.path.clone(),
        source: name.to_owned(),
        fingerprint: fingerprint.to_owned(),
        size_bytes: raw.size_bytes as i64,
        stored_bytes: raw.stored_bytes as i64,
        received_at: now_micros(),
        status: status.into(),
        snapshot_id: None,
        error,
        write_mode: request.mode.as_str().to_owned(),
        write_key: request.key.clone(),
        delete_column: request.delete_column.clone(),
    }
}

/// Streams a remote file into the raw zone, encrypted, fingerprinting it
/// on the way. Nothing of it touches local disk.
async fn fetch_into_raw(
    lake: &Lake,
    request: &RunRequest,
    remote: &lagoa_connectors::remote::RemoteFile,
) -> Result<(RawObject, String), IngestError> {
    let mut stream = remote.stream().await?;
    let (store, keys, dataset) = (
        Arc::clone(&lake.store.store),
        Arc::clone(lake.crypto.keys()),
        request.dataset.clone(),
    );
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let chunks = std::iter::from_fn(|| {
            handle
                .block_on(futures::StreamExt::next(&mut stream))
                .map(|chunk| chunk.map_err(IngestError::Source))
        });
        keep_chunks(store, &keys, &dataset, handle.clone(), chunks)
    })
    .await
    .map_err(|e| IngestError::Usage(format!("the download thread failed: {e}")))?
}

/// Decrypts a raw-zone object into a bounded pipe on a thread of its own.
pub(crate) fn decrypting_stream(lake: &Lake, path: &str) -> Box<dyn Read + Send> {
    let (mut writer, reader) = lagoa_connectors::pipe::pipe(4);
    let store = Arc::clone(&lake.store.store);
    let keys = Arc::clone(lake.crypto.keys());
    let path = path.to_owned();
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let result = handle.block_on(lagoa_lake::raw::read_raw(&store, &keys, &path, &mut writer));
        if let Err(e) = result {
            writer.fail(std::io::Error::other(e.to_string()));
        }
    });
    Box::new(reader)
}

async fn run_rows(
    lake: &Lake,
    request: &RunRequest,
    extraction: Extraction,
    contract: Option<Contract>,
    existing: Option<DatasetInfo>,
    progress: Progress,
    _run: &RunRecord,
) -> Result<(RawCopy, String, Processed), IngestError> {
    let tee = Arc::new(Mutex::new(IpcTee::default()));
    // The raw writer uploads by blocking on the runtime: never on a worker.
    let raw = {
        let (store, keys, dataset) = (
            Arc::clone(&lake.store.store),
            Arc::clone(lake.crypto.keys()),
            request.dataset.clone(),
        );
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            RawWriter::create(
                store,
                &keys,
                &dataset,
                handle,
                lagoa_lake::raw::DEFAULT_CHUNK,
            )
        })
        .await
        .map_err(|e| IngestError::Usage(format!("the raw-zone thread failed: {e}")))??
    };
    tee.lock().expect("fresh").raw = Some(HashingWriter {
        inner: raw,
        hasher: Sha256::new(),
    });
    let processed = process(
        lake,
        request,
        extraction.batches,
        contract,
        existing,
        Some(Arc::clone(&tee)),
        true,
        progress,
    )
    .await;
    let tee = Arc::try_unwrap(tee)
        .map_err(|_| IngestError::Usage("the raw copy is still in use".into()))?
        .into_inner()
        .map_err(|_| IngestError::Usage("the raw copy's lock was poisoned".into()))?;
    let (object, fingerprint) = tokio::task::spawn_blocking(move || tee.finish())
        .await
        .map_err(|e| IngestError::Usage(format!("the raw-zone thread failed: {e}")))??;
    let processed = processed?;
    let watermark = extraction
        .next_watermark
        .lock()
        .ok()
        .and_then(|w| w.clone());
    Ok(((extraction.name, object, watermark), fingerprint, processed))
}

/// Copies the extraction's batches, as Arrow IPC, into the raw zone.
#[derive(Default)]
struct IpcTee {
    raw: Option<HashingWriter>,
    ipc: Option<arrow::ipc::writer::StreamWriter<HashingWriter>>,
    ipc_schema: Option<SchemaRef>,
    failed: Option<String>,
}

struct HashingWriter {
    inner: RawWriter,
    hasher: Sha256,
}

impl Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.hasher.update(buf);
        self.inner.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl IpcTee {
    fn write(&mut self, batch: &arrow::array::RecordBatch) {
        if self.failed.is_some() {
            return;
        }
        let result = (|| -> Result<(), String> {
            if self.ipc.is_some() && self.ipc_schema.as_ref() != Some(&batch.schema()) {
                // A new schema (API keys seen late): a new IPC stream follows.
                let mut writer = self.ipc.take().expect("checked");
                writer.finish().map_err(|e| e.to_string())?;
                let inner = writer.into_inner().map_err(|e| e.to_string())?;
                self.raw = Some(inner);
            }
            if self.ipc.is_none() {
                let raw = self.raw.take().ok_or("the raw copy is closed")?;
                self.ipc = Some(
                    arrow::ipc::writer::StreamWriter::try_new(raw, &batch.schema())
                        .map_err(|e| e.to_string())?,
                );
                self.ipc_schema = Some(batch.schema());
            }
            self.ipc
                .as_mut()
                .expect("opened above")
                .write(batch)
                .map_err(|e| e.to_string())
        })();
        if let Err(e) = result {
            self.failed = Some(e);
        }
    }

    fn finish(mut self) -> Result<(RawObject, String), IngestError> {
        if let Some(e) = self.failed {
            if let Some(raw) = self.raw.take() {
                raw.inner.abort();
            }
            return Err(IngestError::Usage(format!("writing the raw copy: {e}")));
        }
        let raw = match self.ipc.take() {
            Some(mut w) => {
                w.finish()
                    .map_err(|e| IngestError::Usage(format!("closing the raw copy: {e}")))?;
                w.into_inner()
                    .map_err(|e| IngestError::Usage(format!("closing the raw copy: {e}")))?
            }
            None => self
                .raw
                .take()
                .ok_or_else(|| IngestError::Usage("the raw copy is gone".into()))?,
        };
        let fingerprint = format!("sha256:{}", hex::encode(raw.hasher.finalize()));
        Ok((raw.inner.finish()?, fingerprint))
    }
}

/// Reads on one thread, checks and writes on another.
async fn process(
    lake: &Lake,
    request: &RunRequest,
    batches: Batches,
    contract: Option<Contract>,
    existing: Option<DatasetInfo>,
    tee: Option<Arc<Mutex<IpcTee>>>,
    allow_empty: bool,
    progress: Progress,
) -> Result<Processed, IngestError> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<SourceBatch, SourceError>>(2);
    let reader = std::thread::Builder::new()
        .name("lagoa-read".into())
        .spawn(move || {
            let mut checking = true;
            for batch in batches {
                if let (Ok(b), Some(tee)) = (&batch, &tee)
                    && let Ok(mut tee) = tee.lock()
                {
                    tee.write(&b.batch);
                }
                if batch.is_err() {
                    let _ = tx.send(batch);
                    break;
                }
                if checking && tx.send(batch).is_err() {
                    // The check stopped early (drift, an error). An
                    // extraction's raw copy must still be whole, so that a
                    // replay sees every row: keep reading into it.
                    if tee.is_none() {
                        break;
                    }
                    checking = false;
                }
            }
        })
        .map_err(|e| IngestError::Usage(format!("cannot start the reader thread: {e}")))?;

    let lake_writer = LakeHandles {
        store: Arc::clone(&lake.store.store),
        keys: Arc::clone(lake.crypto.keys()),
        crypto: Arc::clone(&lake.crypto),
        writer_config: lake.config.writer.clone(),
        pseudonyms: lagoa_lake::pseudonym::PseudonymKey::new(&lake.secret("pseudonym").await?),
    };
    let request = request.clone();
    let handle = tokio::runtime::Handle::current();
    let result = tokio::task::spawn_blocking(move || {
        check_and_write(
            &lake_writer,
            &request,
            rx,
            contract,
            existing,
            allow_empty,
            progress,
            handle,
        )
    })
    .await
    .map_err(|e| IngestError::Usage(format!("the writer thread failed: {e}")))?;
    let _ = tokio::task::spawn_blocking(move || reader.join()).await;
    result
}

/// What the writing thread needs of the lake.
struct LakeHandles {
    store: Arc<dyn object_store::ObjectStore>,
    keys: Arc<dyn lagoa_lake::keys::KeyProvider>,
    crypto: Arc<lagoa_lake::crypto::LakeCrypto>,
    writer_config: lagoa_lake::config::WriterConfig,
    pseudonyms: lagoa_lake::pseudonym::PseudonymKey,
}

fn check_and_write(
    lake: &LakeHandles,
    request: &RunRequest,
    rx: std::sync::mpsc::Receiver<Result<SourceBatch, SourceError>>,
    contract: Option<Contract>,
    existing: Option<DatasetInfo>,
    allow_empty: bool,
    progress: Progress,
    handle: tokio::runtime::Handle,
) -> Result<Processed, IngestError> {
    let mut incoming = rx.into_iter();
    // The first batch with rows decides inference and the writer's schema.
    let mut pending: Vec<SourceBatch> = Vec::new();
    let first = loop {
        match incoming.next() {
            None => break None,
            Some(batch) => {
                let batch = batch?;
                let has_rows = batch.batch.num_rows() > 0;
                pending.push(batch);
                if has_rows {
                    break pending.last().map(|b| b.batch.schema());
                }
            }
        }
    };
    let first = first.or_else(|| pending.last().map(|b| b.batch.schema()));
    let no_rows = pending
        .iter()
        .all(|b| b.batch.num_rows() == 0 && b.rejects.is_empty());
    if no_rows && !allow_empty {
        return Err(IngestError::Input {
            path: request.source.clone(),
            message: "the delivery is empty: no rows".into(),
        });
    }
    let Some(first_schema) = first else {
        // An incremental extraction with nothing new: a run with no commit.
        let contract = contract
            .or_else(|| existing.as_ref().map(contract_from_dataset))
            .ok_or_else(|| IngestError::Usage("the delivery is empty: no rows".into()))?;
        let checker = Checker::new(&contract);
        return Ok(Processed {
            output_schema: None,
            drift: Vec::new(),
            report: checker.quality.finish(),
            quarantine: None,
            contract,
            files: Vec::new(),
            stop: Some(("empty", "", "nothing new to take".into())),
        });
    };
    // A header naming a column twice: the repeat was renamed (`a_2`). The
    // report says so; under a contract it is refused, since which of the
    // two the contract means cannot be told.
    let repeated = lagoa_connectors::formats::repeated_columns(&first_schema);
    if !repeated.is_empty() && contract.is_some() {
        return Err(IngestError::Input {
            path: request.source.clone(),
            message: format!(
                "the header names {} more than once; a delivery under a contract names each column once",
                repeated
                    .iter()
                    .map(|(_, original)| original.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    let header_warnings: Vec<String> = repeated
        .iter()
        .map(|(given, original)| {
            format!(
                "the header names column {original} more than once; the repeat was kept as {given}"
            )
        })
        .collect();
    let contract = match contract {
        Some(c) => c,
        None => match &existing {
            Some(info) => contract_from_dataset(info),
            None => {
                let sample = pending
                    .iter()
                    .rev()
                    .find(|b| b.batch.num_rows() > 0)
                    .or(pending.last())
                    .expect("at least one batch");
                let columns = text_sample(&sample.batch);
                let borrowed: Vec<(String, Vec<Option<&str>>)> = columns
                    .iter()
                    .map(|(name, values)| {
                        (name.clone(), values.iter().map(|v| v.as_deref()).collect())
                    })
                    .collect();
                inferred_contract(&request.dataset, &borrowed, &request.hints)
                    .map_err(IngestError::Usage)?
            }
        },
    };
    let mut checker = Checker::new(&contract);
    let mut quarantine = Quarantine::new(lake, &request.dataset, handle.clone());
    if let Err(e) = checker.prepare(&first_schema) {
        return stopped(checker, contract, quarantine, e);
    }
    let personal_columns: Vec<String> = contract
        .personal_columns()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let mut writer = lagoa_lake::writer::DatasetWriter::new(
        WriteTarget {
            dataset: request.dataset.clone(),
            schema: checker.output_schema(),
            personal_columns,
            partition_column: contract.dataset.partition.clone(),
            pseudonyms: Some(lake.pseudonyms.clone()),
        },
        Arc::clone(&lake.store),
        Arc::clone(&lake.crypto),
        lake.writer_config.clone(),
        handle.clone(),
    )?;
    let mut rows_seen = 0u64;
    let mut step = |batch: SourceBatch,
                    checker: &mut Checker,
                    writer: &mut lagoa_lake::writer::DatasetWriter,
                    quarantine: &mut Quarantine|
     -> Result<Option<CheckError>, IngestError> {
        rows_seen += batch.batch.num_rows() as u64 + batch.rejects.len() as u64;
        progress(rows_seen);
        let checked = match checker.check(&batch) {
            Ok(c) => c,
            Err(e) => return Ok(Some(e)),
        };
        quarantine.add(&checked.rejected)?;
        if checked.batch.num_rows() > 0 {
            writer.write(&checked.batch)?;
        }
        Ok(None)
    };
    let all = pending.into_iter().map(Ok).chain(incoming);
    for batch in all {
        let batch = match batch {
            Ok(b) => b,
            Err(e) => {
                writer.abort();
                quarantine.abort();
                return Err(e.into());
            }
        };
        match step(batch, &mut checker, &mut writer, &mut quarantine) {
            Ok(None) => {}
            Ok(Some(drift)) => {
                writer.abort();
                return stopped(checker, contract, quarantine, drift);
            }
            Err(e) => {
                writer.abort();
                quarantine.abort();
                return Err(e);
            }
        }
    }
    let mut report = checker.quality.finish();
    report.warnings.extend(header_warnings);
    let max = contract.max_rejected_share();
    let stop = (report.rows_rejected > 0 && report.rejected_share > max).then(|| {
        (
            "rejected",
            "contract_violation",
            format!(
                "{} of {} rows rejected ({:.2}%), over the contract's limit of {:.2}%; the rows are in quarantine and nothing was committed; {}",
                report.rows_rejected,
                report.rows_read,
                report.rejected_share * 100.0,
                max * 100.0,
                report
                    .rejected_by_reason
                    .iter()
                    .take(3)
                    .map(|r| format!(
                        "column {}: {} ({} rows, e.g. {})",
                        r.column,
                        r.reason,
                        r.rows,
                        r.examples.first().map(String::as_str).unwrap_or("-")
                    ))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        )
    });
    let files = if stop.is_some() {
        writer.abort();
        Vec::new()
    } else {
        writer.finish()?
    };
    Ok(Processed {
        output_schema: Some(checker.output_schema()),
        drift: checker.drift.clone(),
        report,
        quarantine: quarantine.finish()?,
        contract,
        files,
        stop,
    })
}

/// A run stopped by drift: nothing written is kept, the report says why.
fn stopped(
    checker: Checker,
    contract: Contract,
    quarantine: Quarantine,
    error: CheckError,
) -> Result<Processed, IngestError> {
    let status = match &error {
        CheckError::Drift {
            policy: DriftPolicy::Hold,
            ..
        } => "held",
        CheckError::Drift { .. } => "failed",
        CheckError::Internal(e) => return Err(IngestError::Usage(e.clone())),
    };
    Ok(Processed {
        output_schema: None,
        drift: checker.drift.clone(),
        report: checker.quality.finish(),
        quarantine: quarantine.finish()?,
        contract,
        files: Vec::new(),
        stop: Some((status, "contract_violation", error.to_string())),
    })
}

/// Up to 1 000 values per column, as text, for inference.
fn text_sample(batch: &arrow::array::RecordBatch) -> Vec<(String, Vec<Option<String>>)> {
    let n = batch.num_rows().min(1000);
    batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(field, column)| {
            let text =
                arrow::compute::cast(&column.slice(0, n), &arrow::datatypes::DataType::Utf8).ok();
            let values = match text
                .as_ref()
                .and_then(|t| t.as_any().downcast_ref::<StringArray>())
            {
                Some(t) => (0..t.len())
                    .map(|i| t.is_valid(i).then(|| t.value(i).to_owned()))
                    .collect(),
                None => Vec::new(),
            };
            (field.name().clone(), values)
        })
        .collect()
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

/// Rejected rows, as JSON lines, encrypted under the dataset's personal
/// key in `quarantine/<dataset>/`.
struct Quarantine {
    store: Arc<dyn object_store::ObjectStore>,
    keys: Arc<dyn lagoa_lake::keys::KeyProvider>,
    dataset: DatasetName,
    handle: tokio::runtime::Handle,
    writer: Option<RawWriter>,
    rows: u64,
}

impl Quarantine {
    fn new(lake: &LakeHandles, dataset: &DatasetName, handle: tokio::runtime::Handle) -> Self {
        Quarantine {
            store: Arc::clone(&lake.store),
            keys: Arc::clone(&lake.keys),
            dataset: dataset.clone(),
            handle,
            writer: None,
            rows: 0,
        }
    }

    fn add(&mut self, rows: &[RejectedRow]) -> Result<(), IngestError> {
        if rows.is_empty() {
            return Ok(());
        }
        if self.writer.is_none() {
            self.writer = Some(RawWriter::create_in(
                "quarantine",
                Arc::clone(&self.store),
                &self.keys,
                &self.dataset,
                self.handle.clone(),
                lagoa_lake::raw::DEFAULT_CHUNK,
            )?);
        }
        let writer = self.writer.as_mut().expect("created above");
        let mut line = Vec::with_capacity(256);
        for row in rows {
            line.clear();
            serde_json::to_writer(&mut line, row)
                .map_err(|e| IngestError::Usage(format!("encoding a quarantined row: {e}")))?;
            line.push(b'\n');
            writer.write(&line)?;
            self.rows += 1;
        }
        Ok(())
    }

    fn finish(self) -> Result<Option<(RawObject, u64)>, IngestError> {
        match self.writer {
            Some(w) => Ok(Some((w.finish()?, self.rows))),
            None => Ok(None),
        }
    }

    fn abort(self) {
        if let Some(w) = self.writer {
            w.abort();
        }
    }
}

/// Reads a quarantine back: its rows, as they were rejected.
pub async fn read_quarantine(lake: &Lake, path: &str) -> Result<Vec<RejectedRow>, IngestError> {
    let mut bytes = Vec::new();
    lagoa_lake::raw::read_raw(&lake.store.store, lake.crypto.keys(), path, &mut bytes).await?;
    bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            serde_json::from_slice(l)
                .map_err(|e| IngestError::Usage(format!("quarantine {path} is unreadable: {e}")))
        })
        .collect()
}

/// Deletes objects nothing refers to; what fails stays for vacuum.
async fn forget<'a>(lake: &Lake, paths: impl Iterator<Item = &'a String>) {
    lake.forget_objects(paths.map(String::as_str)).await;
}

/// Copies a delivered file into the raw zone, encrypted, and fingerprints
/// it (SHA-256) on the way.
fn keep_original(
    store: Arc<dyn object_store::ObjectStore>,
    keys: &Arc<dyn lagoa_lake::keys::KeyProvider>,
    dataset: &DatasetName,
    path: &std::path::Path,
    name: &str,
    handle: tokio::runtime::Handle,
) -> Result<(RawObject, String), IngestError> {
    let input_err = |e: std::io::Error| IngestError::Input {
        path: name.to_owned(),
        message: format!("cannot read: {}", e.kind()),
    };
    let mut file = std::fs::File::open(path).map_err(input_err)?;
    let mut buf = vec![0u8; 1 << 20];
    let chunks = std::iter::from_fn(move || match file.read(&mut buf) {
        Ok(0) => None,
        Ok(n) => Some(Ok(buf[..n].to_vec())),
        Err(e) => Some(Err(input_err(e))),
    });
    keep_chunks(store, keys, dataset, handle, chunks)
}

/// Writes chunks of a delivery into the raw zone, encrypted, and
/// fingerprints them (SHA-256). A failing chunk aborts the copy.
fn keep_chunks<B: AsRef<[u8]>>(
    store: Arc<dyn object_store::ObjectStore>,
    keys: &Arc<dyn lagoa_lake::keys::KeyProvider>,
    dataset: &DatasetName,
    handle: tokio::runtime::Handle,
    chunks: impl Iterator<Item = Result<B, IngestError>>,
) -> Result<(RawObject, String), IngestError> {
    let mut writer =
        RawWriter::create(store, keys, dataset, handle, lagoa_lake::raw::DEFAULT_CHUNK)?;
    let mut hasher = Sha256::new();
    for chunk in chunks {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                writer.abort();
                return Err(e);
            }
        };
        hasher.update(chunk.as_ref());
        if let Err(e) = writer.write(chunk.as_ref()) {
            writer.abort();
            return Err(e.into());
        }
    }
    Ok((
        writer.finish()?,
        format!("sha256:{}", hex::encode(hasher.finalize())),
    ))
}

fn fingerprint_file(path: &std::path::Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
}
