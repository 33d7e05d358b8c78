//! Dataset contracts: what a delivery must look like.
//!
//! This is the minimal contract the lake core needs (columns, types,
//! nullability, personal-data tags, sharing level, partition column), plus
//! schema inference for files delivered without a contract. Constraints,
//! validators, versions and drift policies extend [`Contract`].

mod contract;
mod infer;

pub use contract::{ColumnSpec, Contract, ContractError, DatasetSection, parse_type};
pub use infer::{InferredColumn, infer_csv_schema, normalize_column_name, sniff_delimiter};
