//! Dataset contracts: what a delivery must look like.
//!
//! A contract names the provider, the expected frequency, the sharing level
//! and its justification, the columns (types, nullability, constraints,
//! check-digit validators, personal-data tags), the primary key, the
//! partition column, how many rejected rows are tolerated, and what to do
//! when the delivered columns drift. Contracts are versioned with an
//! effective date. [`values`] turns delivered text into typed values;
//! [`infer`] drafts a contract from a sample.

mod contract;
mod infer;
pub mod validators;
pub mod values;

pub use contract::{
    ColumnSpec, Contract, ContractError, DatasetSection, DriftPolicy, ParseOptions, diff,
    frequency_days, parse_type, type_name, version_in_force,
};
pub use infer::{
    InferredColumn, infer_columns, infer_csv_schema, normalize_column_name, sniff_delimiter,
    without_accent,
};
