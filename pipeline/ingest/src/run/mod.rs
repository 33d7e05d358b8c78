//! One run: a delivery from a source, kept in the raw zone, checked against
//! its contract, written encrypted, committed as one snapshot, and recorded
//! with its quality report; rejected rows go to quarantine.
//!
//! A run is a sequence of stages, each in its own file, passing one
//! [`RunContext`]:
//!
//! ```text
//! lifecycle    record the run as running, hold it, heartbeat, record its end
//!   prepare    the dataset, its contract in force, who delivers
//!   input      the delivery's kind: a file, a remote file, database or API
//!              rows, or a replay; its original kept in the raw zone
//!   process    read on one thread, check and write encrypted on another
//!              (rejected rows to quarantine)
//!   land       the commit with its bookkeeping, or the record of why not
//! ```
//!
//! Threads: the source's reader (parsing, and for database and API rows the
//! raw zone's Arrow IPC copy) feeds a bounded channel; the checker and the
//! encrypting writer drain it; a third thread copies a delivered file into
//! the raw zone and fingerprints it. Nothing becomes visible before the
//! commit, and a run that fails leaves only orphans for `vacuum`.

mod input;
mod land;
mod lifecycle;
mod prepare;
mod process;
mod quarantine;
mod raw_zone;
mod writing;

use crate::contract_source::InferenceHints;
use chrono::NaiveDate;
use lagoa_connectors::{Batches, Delivery};
use lagoa_core::DatasetName;
use lagoa_core::QualityReport;
use lagoa_lake::Lake;
use lagoa_lake::catalog::RunRecord;
use lagoa_lake::catalog::model::{DatasetInfo, RawDelivery, WriteMode};
use lagoa_schemas::Contract;
use std::sync::Arc;

pub(crate) use input::decrypting_stream;
pub use lifecycle::{record_failed_run, run_delivery, run_input};
pub use prepare::upsert_rule;
pub use quarantine::read_quarantine;

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
        self.run.status.succeeded()
    }
}

/// What a run reads: a new delivery, or one the raw zone already holds.
/// Made once per run, so its size is no cost.
#[allow(clippy::large_enum_variant)]
pub enum RunInput {
    New(Delivery),
    /// A delivery read back from the raw zone (`lagoa replay`).
    Replay {
        raw: RawDelivery,
        batches: Batches,
    },
}

/// What every stage of one run reads, and the run's record they fill in.
pub(crate) struct RunContext<'a> {
    pub lake: &'a Lake,
    pub request: &'a RunRequest,
    pub progress: Progress,
    /// The run's record, saved when the run starts and when it ends.
    pub run: RunRecord,
    /// The contract in force, when one is registered or given; set by
    /// `prepare`.
    pub contract: Option<Contract>,
    /// The dataset as the latest snapshot has it, if it exists yet.
    pub existing: Option<DatasetInfo>,
    /// The institution delivering, and where it was named.
    pub provider: Option<(String, String)>,
}

impl std::fmt::Debug for RunInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunInput::New(delivery) => f.debug_tuple("New").field(delivery).finish(),
            RunInput::Replay { raw, .. } => f
                .debug_struct("Replay")
                .field("raw_id", &raw.raw_id)
                .finish_non_exhaustive(),
        }
    }
}
