//! JSON and NDJSON. PLACEHOLDER: being written; the signatures are the contract.

use crate::{Batches, SourceError};
use serde::Deserialize;
use std::io::Read;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonOptions {
    /// Dotted path to the array of records (`data.items`); none: the document is the array.
    pub record_path: Option<String>,
}

impl JsonOptions {
    pub fn problems(&self) -> Vec<String> {
        Vec::new()
    }
}

pub fn read_json(
    _input: Box<dyn Read + Send>,
    name: &str,
    _options: &JsonOptions,
    _ndjson: bool,
    _batch_rows: usize,
) -> Result<Batches, SourceError> {
    Err(SourceError::input(name, "JSON reading is not available yet"))
}
