//! XLSX, XLS and ODS. PLACEHOLDER: being written; the signatures are the contract.

use crate::formats::Format;
use crate::{Batches, SourceError};
use serde::Deserialize;
use std::path::Path;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SheetOptions {
    /// Sheet name; none: every sheet.
    pub sheet: Option<String>,
    /// 1-based row holding the header (INEP files have 8–10 rows above it).
    pub header_row: Option<u32>,
}

impl SheetOptions {
    pub fn problems(&self) -> Vec<String> {
        Vec::new()
    }
}

pub fn read_spreadsheet(
    _path: &Path,
    name: &str,
    _format: Format,
    _options: &SheetOptions,
    _batch_rows: usize,
) -> Result<Batches, SourceError> {
    Err(SourceError::input(name, "spreadsheet reading is not available yet"))
}
