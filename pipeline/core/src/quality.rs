//! The quality report of a delivery, as the run records it and every
//! reader (the console, the API, the CLI, the provider) reads it back. It
//! holds counts, ranges and locations, never a personal value.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct QualityReport {
    pub run_id: String,
    pub dataset: String,
    pub source: String,
    pub delivery: String,
    pub contract_version: Option<u32>,
    pub rows_read: u64,
    pub rows_accepted: u64,
    pub rows_rejected: u64,
    pub rejected_share: f64,
    pub max_rejected_share: f64,
    /// `(column, reason) -> rows`; column `-` for rows that could not be
    /// split into columns.
    pub rejected_by_reason: Vec<ReasonCount>,
    /// The first few rejected rows' locations, per reason, for the provider
    /// to find them.
    pub columns: Vec<ColumnQuality>,
    /// Earliest and latest value of the contract's reference column.
    pub period: Option<(String, String)>,
    pub drift: Vec<Drift>,
    pub warnings: Vec<String>,
    pub status: crate::RunStatus,
    /// An upsert's effect on the rows already in the dataset.
    #[serde(default)]
    pub upsert: Option<UpsertSummary>,
}

/// What an upsert did besides adding the delivery's rows.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct UpsertSummary {
    /// Older rows the delivery's rows replaced.
    pub rows_replaced: u64,
    /// Older rows the delivery's deletion marks removed.
    pub rows_deleted: u64,
    /// Rows of the delivery that mark their key deleted.
    pub deletion_marks: u64,
    /// Rows of the delivery a later row with the same key superseded.
    pub repeated_keys: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReasonCount {
    pub column: String,
    pub reason: String,
    pub rows: u64,
    /// Up to five locations (`line 12`).
    pub examples: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ColumnQuality {
    pub name: String,
    pub data_type: String,
    pub personal: bool,
    pub nulls: u64,
    /// Exact up to 100 000; `distinct_capped` says when it stopped counting.
    pub distinct: u64,
    pub distinct_capped: bool,
    pub min: Option<String>,
    pub max: Option<String>,
}

/// A difference between a delivery and its contract, found on its first
/// batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    /// `new_column`, `missing_column`, `retyped_column`.
    pub kind: String,
    pub column: String,
    pub detail: String,
}
