//! What the catalog records, as plain Rust values.

use lagoa_core::{DatasetName, PersonalTag, SharingLevel, SnapshotId};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnDef {
    pub name: String,
    /// Arrow data type in its `Display` form (`Int64`, `Utf8`, `Date32`, `Decimal128(12, 2)`).
    pub data_type: String,
    pub nullable: bool,
    pub personal: Option<PersonalTag>,
}

impl ColumnDef {
    /// The catalog's description of an Arrow field.
    pub fn of_field(field: &arrow::datatypes::Field, personal: Option<PersonalTag>) -> Self {
        ColumnDef {
            name: field.name().clone(),
            data_type: field.data_type().to_string(),
            nullable: field.is_nullable(),
            personal,
        }
    }
}

/// A dataset as valid at some snapshot.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DatasetInfo {
    pub dataset_id: i64,
    pub name: DatasetName,
    pub level: SharingLevel,
    pub description: String,
    pub partition_column: Option<String>,
    pub created_snapshot: SnapshotId,
    pub schema_version: i64,
    pub columns: Vec<ColumnDef>,
    /// Microseconds since the epoch, when its keys were destroyed.
    pub shredded_at: Option<i64>,
}

impl DatasetInfo {
    pub fn personal_columns(&self) -> Vec<String> {
        self.columns
            .iter()
            .filter(|c| c.personal.is_some())
            .map(|c| c.name.clone())
            .collect()
    }
}

/// Per-column statistics of one file. `min`/`max` are absent for
/// personal-data columns: nothing of their values is kept in clear.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnStats {
    pub column: String,
    pub null_count: Option<i64>,
    pub min: Option<String>,
    pub max: Option<String>,
}

/// A file written but not yet committed.
#[derive(Clone, Debug)]
pub struct NewDataFile {
    pub file_id: String,
    pub path: String,
    pub partition_value: Option<String>,
    pub row_count: i64,
    pub size_bytes: i64,
    /// SHA-256 of the stored (encrypted) bytes, `sha256:<hex>`.
    pub sha256: String,
    pub master_key_id: Option<String>,
    pub stats: Vec<ColumnStats>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DataFileInfo {
    pub file_id: String,
    pub dataset: String,
    pub path: String,
    pub partition_value: Option<String>,
    pub row_count: i64,
    pub size_bytes: i64,
    pub schema_version: i64,
    pub master_key_id: Option<String>,
    pub begin_snapshot: i64,
    pub end_snapshot: Option<i64>,
    pub stats: Vec<ColumnStats>,
    /// Rows of this file that later upserts replaced or deleted, as of the
    /// snapshot the file was read at.
    #[serde(skip)]
    pub deletes: Option<FileDeletes>,
}

impl DataFileInfo {
    /// Rows of the file that belong to the state read.
    pub fn live_rows(&self) -> i64 {
        self.row_count - self.deletes.as_ref().map_or(0, |d| d.vector.len() as i64)
    }
}

/// The deletion vector of a file valid at some snapshot.
#[derive(Clone, Debug)]
pub struct FileDeletes {
    /// The snapshot that recorded this version of the vector.
    pub since: i64,
    pub vector: std::sync::Arc<crate::deletion::DeletionVector>,
}

/// A commit's new deletion vector for a file: the file's whole vector
/// after the commit, and the version it was computed from (`None` when the
/// file had none). The commit fails when the file or its vector changed
/// meanwhile, so positions computed from an older state never land.
#[derive(Clone, Debug)]
pub struct NewDeletes {
    pub file_id: String,
    pub based_on: Option<i64>,
    pub vector: crate::deletion::DeletionVector,
}

/// A file a compaction replaces, with the version of its deletion vector
/// the compaction read.
#[derive(Clone, Debug)]
pub struct ReplacedFile {
    pub file_id: String,
    pub based_on: Option<i64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SnapshotInfo {
    pub snapshot_id: i64,
    pub created_at: i64,
    pub dataset: Option<String>,
    pub operation: String,
    pub summary: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteMode {
    /// Add the delivery's rows to what is there.
    Append,
    /// Replace every partition the delivery contains (a municipality
    /// re-delivers corrected data for one period).
    ReplacePartition,
    /// Replace the whole dataset.
    FullRefresh,
    /// Insert or replace rows by the dataset's primary key: the delivery's
    /// rows become the current version of their keys, and the older
    /// versions are marked deleted (deletion vectors).
    Upsert,
    /// `lagoa compact`: the same rows in fewer files, deletes folded.
    Compact,
}

impl WriteMode {
    pub fn as_str(&self) -> &'static str {
        match self {
            WriteMode::Append => "append",
            WriteMode::ReplacePartition => "replace_partition",
            WriteMode::FullRefresh => "full_refresh",
            WriteMode::Upsert => "upsert",
            WriteMode::Compact => "compact",
        }
    }
}

impl std::str::FromStr for WriteMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "append" => Ok(WriteMode::Append),
            "replace-partition" | "replace_partition" => Ok(WriteMode::ReplacePartition),
            "full-refresh" | "full_refresh" => Ok(WriteMode::FullRefresh),
            "upsert" => Ok(WriteMode::Upsert),
            other => Err(format!(
                "unknown write mode {other:?}: expected append, replace-partition, full-refresh or upsert"
            )),
        }
    }
}

/// How a new dataset is categorised when a commit creates it.
#[derive(Clone, Debug)]
pub struct DatasetSpec {
    pub name: DatasetName,
    pub level: SharingLevel,
    pub description: String,
    pub partition_column: Option<String>,
    pub columns: Vec<ColumnDef>,
}

#[derive(Clone, Debug)]
pub struct CommitRequest {
    pub spec: DatasetSpec,
    pub mode: WriteMode,
    pub files: Vec<NewDataFile>,
    /// Identity of the extraction (e.g. SHA-256 of the delivered bytes):
    /// the same fingerprint is never committed twice to a dataset.
    pub fingerprint: Option<String>,
    /// Where the delivery came from (a file name, a source id).
    pub source: String,
    /// An incremental source's new watermark, saved in the same
    /// transaction as the snapshot so that it never runs ahead of the data.
    pub watermark: Option<Watermark>,
    /// The delivery's raw-zone record, written in the snapshot's
    /// transaction (its `snapshot_id` is filled in there): a delivery is
    /// never committed without its original on record.
    pub raw: Option<RawDelivery>,
    /// The rows this delivery quarantined, recorded in the same
    /// transaction: a rerun after a crash never quarantines them twice.
    pub quarantine: Option<super::runs::QuarantineRecord>,
    /// The run delivering this: marked committed in the same transaction,
    /// so a process killed right after the commit leaves a run that says
    /// what became of it.
    pub run_id: Option<String>,
    /// A quarantine release: the run whose quarantine this commit
    /// re-admits, marked released by `run_id` in the same transaction (the
    /// commit fails if someone released it first).
    pub release_of: Option<String>,
    /// Size and SHA-256 of every object this delivery wrote (data files,
    /// raw copy, quarantine), recorded with the commit for `check --deep`.
    pub digests: Vec<ObjectDigest>,
    /// The contract this delivery was checked against, registered in the
    /// same transaction when the dataset has none yet: whatever the door
    /// (a source, a contract file, inference), the first delivery leaves
    /// the dataset's contract in the catalog for every later one.
    pub contract: Option<ContractToRegister>,
    /// Upsert: the new deletion vectors of the files whose rows this
    /// delivery replaces or deletes (and of its own files, for rows a later
    /// row of the same delivery replaced or that mark a deletion).
    pub deletes: Vec<NewDeletes>,
    /// Compaction: the files the new ones replace.
    pub replaces: Vec<ReplacedFile>,
    /// Upsert: the snapshot its deletion vectors were worked out from. The
    /// commit fails when the dataset gained or lost files or vectors since
    /// (another writer may have added a key this delivery also carries).
    pub planned_at: Option<i64>,
}

/// An object the catalog names, as `check --deep` verifies it.
#[derive(Clone, Debug, Serialize)]
pub struct StoredObject {
    /// `data file`, `raw delivery` or `quarantine`.
    pub kind: String,
    pub dataset: String,
    pub path: String,
    /// Bytes on the store, as recorded at commit.
    pub size_bytes: i64,
    /// The snapshot that added a data file or committed a delivery.
    pub snapshot_id: Option<i64>,
    /// `sha256:<hex>` recorded when written (none for older objects).
    pub sha256: Option<String>,
}

/// What an object was when written: `check --deep` compares it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ObjectDigest {
    pub path: String,
    pub size_bytes: i64,
    /// `sha256:<hex>` of the stored bytes.
    pub sha256: String,
}

#[derive(Clone, Debug)]
pub struct ContractToRegister {
    pub version: i64,
    pub effective_from: Option<String>,
    /// The contract as TOML.
    pub body: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Watermark {
    pub source: String,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum CommitOutcome {
    Committed {
        snapshot: i64,
        rows: i64,
        files_added: usize,
        files_removed: usize,
    },
    AlreadyIngested {
        snapshot: i64,
    },
}

/// What vacuum found and did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct VacuumReport {
    pub expired_files: Vec<String>,
    pub orphan_files: Vec<String>,
    /// Staged files of uploads a killed process never completed (local
    /// stores), relative to the store's root.
    pub partial_uploads: Vec<String>,
    pub bytes: u64,
    pub dry_run: bool,
}

/// A delivery as received, kept encrypted in the raw zone.
#[derive(Clone, Debug, Serialize)]
pub struct RawDelivery {
    pub raw_id: String,
    pub dataset: String,
    pub path: String,
    pub source: String,
    pub fingerprint: String,
    pub size_bytes: i64,
    pub stored_bytes: i64,
    pub received_at: i64,
    /// `committed` or `failed`.
    pub status: String,
    pub snapshot_id: Option<i64>,
    /// Why it failed; never holds data values.
    pub error: Option<String>,
    /// How the delivery was to be written (`append`, `upsert`, ...), with
    /// an upsert's key and delete column: a replay or a quarantine release
    /// writes it the same way.
    pub write_mode: String,
    pub write_key: Vec<String>,
    pub delete_column: Option<String>,
}
