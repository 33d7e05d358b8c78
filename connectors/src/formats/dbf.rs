//! DBF (dBase III, as DATASUS and SI-PNI deliver) and DATASUS DBC.
//! PLACEHOLDER: being written; the signatures below are the contract.

use crate::{Batches, SourceError};
use serde::Deserialize;
use std::io::Read;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbfOptions {
    /// Character encoding of text fields: "latin1" (default), "windows-1252", "utf-8".
    pub encoding: Option<String>,
}

pub fn read_dbf(
    _input: Box<dyn Read + Send>,
    name: &str,
    _options: &DbfOptions,
    _batch_rows: usize,
) -> Result<Batches, SourceError> {
    Err(SourceError::input(name, "DBF reading is not available yet"))
}

pub fn read_dbc(
    _input: Box<dyn Read + Send>,
    name: &str,
    _options: &DbfOptions,
    _batch_rows: usize,
) -> Result<Batches, SourceError> {
    Err(SourceError::input(name, "DBC reading is not available yet"))
}
