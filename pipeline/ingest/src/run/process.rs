//! Reads on one thread, checks on another and writes on a third: the
//! source's batches cross a bounded channel to the checker, accepted rows
//! another to the encrypting writer (`writing`), rejected ones go to
//! quarantine. Drift, too many rejected rows, or an empty delivery stop the
//! run without a commit.

use super::quarantine::Quarantine;
use super::raw_zone::IpcTee;
use super::writing::WriterThread;
use super::{Progress, RunContext, RunRequest};
use crate::IngestError;
use crate::check::{CheckError, Checker, Drift};
use crate::contract_source::{contract_from_dataset, inferred_contract, text_sample};
use arrow::datatypes::SchemaRef;
use lagoa_connectors::{Batches, SourceBatch, SourceError};
use lagoa_core::QualityReport;
use lagoa_core::{FailureClass, RunStatus};
use lagoa_lake::catalog::model::{DatasetInfo, NewDataFile};
use lagoa_lake::raw::RawObject;
use lagoa_lake::sorting::default_sort_column;
use lagoa_lake::writer::{DatasetWriter, WriteTarget};
use lagoa_schemas::{Contract, DriftPolicy};
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex};

/// What the reading, checking and writing threads produced.
pub(super) struct Processed {
    pub contract: Contract,
    pub files: Vec<NewDataFile>,
    pub output_schema: Option<SchemaRef>,
    pub report: QualityReport,
    pub quarantine: Option<(RawObject, u64)>,
    pub drift: Vec<Drift>,
    /// Why nothing is committed, if so.
    pub stop: Option<Stop>,
}

/// A run that ends without a commit, and why.
pub(super) struct Stop {
    pub status: RunStatus,
    /// None for a run with nothing to take (`empty`).
    pub class: Option<FailureClass>,
    pub message: String,
}

/// Reads `batches` on a thread of its own (copying them into `tee` when
/// given), and checks and writes them on another.
pub(super) async fn process(
    ctx: &RunContext<'_>,
    batches: Batches,
    tee: Option<Arc<Mutex<IpcTee>>>,
    allow_empty: bool,
) -> Result<Processed, IngestError> {
    let (tx, rx) = sync_channel::<Result<SourceBatch, SourceError>>(2);
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

    let lake = ctx.lake;
    // Readers compute pseudonyms under this lake-wide key: make it with the
    // first delivery, before any reader needs it (once per process).
    lake.pseudonym_key().await?;
    let job = CheckJob {
        store: Arc::clone(&lake.store.store),
        crypto: Arc::clone(&lake.crypto),
        writer_config: lake.config.writer.clone(),
        request: ctx.request.clone(),
        contract: ctx.contract.clone(),
        existing: ctx.existing.clone(),
        allow_empty,
        progress: Arc::clone(&ctx.progress),
        handle: tokio::runtime::Handle::current(),
    };
    let result = tokio::task::spawn_blocking(move || job.run(rx))
        .await
        .map_err(|e| IngestError::Usage(format!("the writer thread failed: {e}")))?;
    let _ = tokio::task::spawn_blocking(move || reader.join()).await;
    result
}

/// What the checking and writing thread needs.
struct CheckJob {
    store: Arc<dyn object_store::ObjectStore>,
    crypto: Arc<lagoa_lake::crypto::LakeCrypto>,
    writer_config: lagoa_lake::config::WriterConfig,
    request: RunRequest,
    contract: Option<Contract>,
    existing: Option<DatasetInfo>,
    allow_empty: bool,
    progress: Progress,
    handle: tokio::runtime::Handle,
}

impl CheckJob {
    fn run(self, rx: Receiver<Result<SourceBatch, SourceError>>) -> Result<Processed, IngestError> {
        let mut incoming = rx.into_iter();
        // The first batch with rows decides inference and the writer's schema.
        let mut pending: Vec<SourceBatch> = Vec::new();
        for batch in incoming.by_ref() {
            let batch = batch?;
            let has_rows = batch.batch.num_rows() > 0;
            pending.push(batch);
            if has_rows {
                break;
            }
        }
        let no_rows = pending
            .iter()
            .all(|b| b.batch.num_rows() == 0 && b.rejects.is_empty());
        if no_rows && !self.allow_empty {
            return Err(IngestError::Input {
                path: self.request.source.clone(),
                message: "the delivery is empty: no rows".into(),
            });
        }
        let Some(first_schema) = pending.last().map(|b| b.batch.schema()) else {
            return self.nothing_new();
        };
        let header_warnings = self.repeated_columns(&first_schema)?;
        let contract = self.contract_for(&pending)?;
        let mut checker = Checker::new(&contract);
        let mut quarantine = Quarantine::new(
            Arc::clone(&self.store),
            Arc::clone(self.crypto.keys()),
            &self.request.dataset,
            self.handle.clone(),
        );
        if let Err(e) = checker.prepare(&first_schema) {
            return stopped(checker, contract, quarantine, e);
        }
        let mut writer = WriterThread::start(self.writer(&contract, checker.output_schema())?)?;
        let all = pending.into_iter().map(Ok).chain(incoming);
        match self.check_and_write(all, &mut checker, &mut writer, &mut quarantine) {
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
        let mut report = checker.quality.finish();
        report.warnings.extend(header_warnings);
        let stop = too_many_rejected(&report, &contract);
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

    /// An incremental extraction with nothing new: a run with no commit.
    fn nothing_new(self) -> Result<Processed, IngestError> {
        let contract = self
            .contract
            .or_else(|| self.existing.as_ref().map(contract_from_dataset))
            .ok_or_else(|| IngestError::Usage("the delivery is empty: no rows".into()))?;
        let checker = Checker::new(&contract);
        Ok(Processed {
            output_schema: None,
            drift: Vec::new(),
            report: checker.quality.finish(),
            quarantine: None,
            contract,
            files: Vec::new(),
            stop: Some(Stop {
                status: RunStatus::Empty,
                class: None,
                message: "nothing new to take".into(),
            }),
        })
    }

    /// A header naming a column twice: the repeat was renamed (`a_2`). The
    /// report says so; under a contract it is refused, since which of the
    /// two the contract means cannot be told.
    fn repeated_columns(&self, schema: &SchemaRef) -> Result<Vec<String>, IngestError> {
        let repeated = lagoa_connectors::formats::repeated_columns(schema);
        if !repeated.is_empty() && self.contract.is_some() {
            return Err(IngestError::Input {
                path: self.request.source.clone(),
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
        Ok(repeated
            .iter()
            .map(|(given, original)| {
                format!(
                    "the header names column {original} more than once; the repeat was kept as {given}"
                )
            })
            .collect())
    }

    /// The contract given or registered; else the dataset's columns; else
    /// one inferred from the first rows.
    fn contract_for(&self, pending: &[SourceBatch]) -> Result<Contract, IngestError> {
        if let Some(contract) = &self.contract {
            return Ok(contract.clone());
        }
        if let Some(info) = &self.existing {
            return Ok(contract_from_dataset(info));
        }
        let sample = pending
            .iter()
            .rev()
            .find(|b| b.batch.num_rows() > 0)
            .or(pending.last())
            .ok_or_else(|| IngestError::Input {
                path: self.request.source.clone(),
                message: "the delivery is empty: no rows".into(),
            })?;
        let columns = text_sample(&sample.batch, 1000);
        let borrowed: Vec<(String, Vec<Option<&str>>)> = columns
            .iter()
            .map(|(name, values)| (name.clone(), values.iter().map(|v| v.as_deref()).collect()))
            .collect();
        inferred_contract(&self.request.dataset, &borrowed, &self.request.hints)
            .map_err(IngestError::Usage)
    }

    fn writer(&self, contract: &Contract, schema: SchemaRef) -> Result<DatasetWriter, IngestError> {
        let personal_columns = contract
            .personal_columns()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        // The contract's reference date, else the first date column: the
        // column periods are asked on.
        let sort_column = contract
            .dataset
            .reference_column
            .clone()
            .filter(|c| schema.index_of(c).is_ok())
            .or_else(|| default_sort_column(&schema));
        Ok(DatasetWriter::new(
            WriteTarget {
                dataset: self.request.dataset.clone(),
                schema,
                personal_columns,
                partition_column: contract.dataset.partition.clone(),
                sort_column,
            },
            Arc::clone(&self.store),
            Arc::clone(&self.crypto),
            self.writer_config.clone(),
            self.handle.clone(),
        )?)
    }

    /// Checks every batch, writing accepted rows and quarantining rejected
    /// ones; returns the drift that stopped it, if any.
    fn check_and_write(
        &self,
        batches: impl Iterator<Item = Result<SourceBatch, SourceError>>,
        checker: &mut Checker,
        writer: &mut WriterThread,
        quarantine: &mut Quarantine,
    ) -> Result<Option<CheckError>, IngestError> {
        let mut rows_seen = 0u64;
        for batch in batches {
            let batch = batch?;
            rows_seen += batch.batch.num_rows() as u64 + batch.rejects.len() as u64;
            (self.progress)(rows_seen);
            let checked = match checker.check(&batch) {
                Ok(c) => c,
                Err(e) => return Ok(Some(e)),
            };
            quarantine.add(&checked.rejected)?;
            if checked.batch.num_rows() > 0 {
                writer.write(checked.batch)?;
            }
        }
        Ok(None)
    }
}

/// More rejected rows than the contract allows: nothing is committed.
fn too_many_rejected(report: &QualityReport, contract: &Contract) -> Option<Stop> {
    let max = contract.max_rejected_share();
    if report.rows_rejected == 0 || report.rejected_share <= max {
        return None;
    }
    let reasons = report
        .rejected_by_reason
        .iter()
        .take(3)
        .map(|r| {
            format!(
                "column {}: {} ({} rows, e.g. {})",
                r.column,
                r.reason,
                r.rows,
                r.examples.first().map(String::as_str).unwrap_or("-")
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    Some(Stop {
        status: RunStatus::Rejected,
        class: Some(FailureClass::ContractViolation),
        message: format!(
            "{} of {} rows rejected ({:.2}%), over the contract's limit of {:.2}%; the rows are in quarantine and nothing was committed; {reasons}",
            report.rows_rejected,
            report.rows_read,
            report.rejected_share * 100.0,
            max * 100.0,
        ),
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
        } => RunStatus::Held,
        CheckError::Drift { .. } => RunStatus::Failed,
        CheckError::Internal(e) => return Err(IngestError::Usage(e.clone())),
    };
    Ok(Processed {
        output_schema: None,
        drift: checker.drift.clone(),
        report: checker.quality.finish(),
        quarantine: quarantine.finish()?,
        contract,
        files: Vec::new(),
        stop: Some(Stop {
            status,
            class: Some(FailureClass::ContractViolation),
            message: error.to_string(),
        }),
    })
}
