//! XLSX/XLSM, XLS and ODS workbooks, read with `calamine`.
//!
//! Every column comes out as `Utf8`, holding the cell's stored value as text
//! (the contract check types it later):
//!
//! | cell | text |
//! |---|---|
//! | text | as is; empty or blank-only text is null |
//! | number | shortest exact form: `12`, `12.5`, `3550308` (never `12.0`); the cell's display format (%, decimals, thousands) is not applied |
//! | date, date-time | `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SS` (`.mmm` when there are milliseconds); a time of day alone is `HH:MM:SS`; a duration is `PT{h}H{m}M{s}S` |
//! | boolean | `true` / `false` |
//! | formula | its cached value, as above; a formula with no cached value is null |
//! | error (`#DIV/0!`, `#REF!`, ...) | the whole row goes to `rejects` ("cell B12 holds an error value #REF!"): a computed value is missing, so the row is not what the provider meant to deliver |
//! | one of `missing_values` (default `--`), after trimming | null |
//!
//! **Layout.** Unless `header_row` names it, the header is the first of
//! the sheet's first 50 non-blank rows whose cells are all text and fill at
//! least half of the sheet's width (all of it for sheets one or two columns
//! wide): the 8–10 title rows of INEP files hold a single cell each and are
//! skipped. The columns are the header's, from its first to its last
//! non-blank cell; a data row with a value outside them is rejected. A blank
//! header cell inside a merged range takes the range's value (merged ranges
//! are known for XLSX and XLS, not ODS); elsewhere calamine gives only the
//! top-left cell of a merged range, so the other cells of a merged range in
//! the data are null, never copied.
//!
//! **Footer.** Blank rows are skipped. After a blank row, rows that hold one
//! text cell in the first column and nothing else are footer notes (INEP's
//! "Fonte: ...", "Notas: ..."): those at the end of the sheet are left out.
//! If a row of any other shape comes after them, they were data after all
//! and are kept, so a blank row never silently ends the data. Setting
//! `skip_footer = n` replaces this rule: the last `n` non-blank rows of each
//! sheet are left out.
//!
//! **Sheets.** With `sheet` unset every worksheet is read, a `planilha`
//! column names the sheet of each row, empty sheets are skipped, and every
//! sheet must have the same header. Data rows are numbered from 1 across the
//! delivery (`first_row`); rejected rows are named by sheet and spreadsheet
//! row instead and take no number.
//!
//! **Memory.** XLSX sheets are streamed cell by cell. calamine holds XLS and
//! ODS workbooks in memory whole. Files over `max_bytes` are refused, and so
//! are XLSX/ODS files whose zip parts declare more than `max_bytes`
//! uncompressed (zip bombs; the zip reader fails on a part that outgrows its
//! declared size). ODS can also repeat a row or cell many times in a few
//! bytes, so the size of its sheets once expanded is estimated from
//! `content.xml` before opening and must stay under
//! `ODS_EXPANSION_FACTOR × max_bytes`. XLS has no such estimate: its size in
//! memory can exceed the file's when many cells share one long string.
//!
//! Errors name the file, sheet and cell (A1 notation), never a cell's value.

use crate::formats::{Format, SourceBatch};
use crate::{Batches, SourceError};
use batches::BatchSink;
use calamine::{Data, Reader};
use cells::{RangeRows, XlsxRows};
use limits::{check_file_size, check_ods_expansion, check_zip_sizes};
use serde::Deserialize;
use sheet::read_sheet;
use std::path::Path;
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;
use workbook::{
    Workbook, describe_ods_error, describe_xls_error, describe_xlsx_error, select_sheets,
};

mod batches;
mod cells;
mod limits;
mod sheet;
#[cfg(test)]
mod tests;
mod workbook;

/// Name of the column that says which sheet a row came from, when every
/// sheet is read.
pub const SHEET_COLUMN: &str = "planilha";
/// Files (and, for XLSX/ODS, declared uncompressed content) larger than
/// this are refused unless `max_bytes` says otherwise.
pub const DEFAULT_MAX_BYTES: u64 = 256 * 1024 * 1024;
/// ODS sheets expanded in memory may take this many times `max_bytes`.
pub const ODS_EXPANSION_FACTOR: u64 = 8;
/// Non-blank rows searched for the header when `header_row` is unset.
const HEADER_SEARCH_ROWS: usize = 50;
/// Rows above the header kept to fill merged header cells from.
const MERGE_LOOKBACK_ROWS: usize = 20;
/// Footer notes held back at most; past this they are data.
const FOOTER_MAX_ROWS: usize = 100;
/// Largest `skip_footer` accepted (those rows are held in memory).
const MAX_SKIP_FOOTER: u32 = 10_000;
/// A batch is sent early once its text takes this much memory.
const BATCH_MAX_BYTES: usize = 64 * 1024 * 1024;
/// A rejected row's content is cut at this many bytes.
const REJECT_CONTENT_MAX: usize = 4096;
/// calamine's in-memory cost of one ODS cell: its value and its formula.
const ODS_CELL_BYTES: u64 = (std::mem::size_of::<Data>() + std::mem::size_of::<String>()) as u64;
/// Largest sheet width calamine reads (XFD).
const MAX_COLUMNS: u64 = 16_384;
/// The last column (XFD) and row a spreadsheet can have, 0-based.
const LAST_COLUMN: u32 = 16_383;
const LAST_ROW: u32 = 1_048_575;

/// `[source.sheet]`: how to read a workbook. Every key is optional.
///
/// ```toml
/// [source.sheet]
/// sheet = "Municípios"        # one sheet; unset: all, with a `planilha` column
/// header_row = 10             # 1-based; unset: detected
/// skip_footer = 6             # drop the last 6 non-blank rows; unset: detected
/// missing_values = ["--", "..."]
/// max_bytes = 104857600       # 100 MiB
/// ```
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SheetOptions {
    /// Sheet name (exact); none: every worksheet, with a `planilha` column.
    pub sheet: Option<String>,
    /// 1-based row holding the header (INEP files have 8–10 rows above it);
    /// none: the first row that looks like a header (see the module doc).
    pub header_row: Option<u32>,
    /// Number of non-blank rows at the end of each sheet to leave out;
    /// none: footer notes after a blank row are detected and left out.
    pub skip_footer: Option<u32>,
    /// Cell texts (compared trimmed) that mean "no value" and become null;
    /// none: `["--"]`, INEP's marker.
    pub missing_values: Option<Vec<String>>,
    /// Largest file, and largest declared uncompressed content of an
    /// XLSX/ODS file, in bytes; none: 256 MiB.
    pub max_bytes: Option<u64>,
}

impl SheetOptions {
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.sheet.as_deref().is_some_and(|s| s.is_empty()) {
            problems.push("sheet.sheet is empty; leave it out to read every sheet".to_owned());
        }
        if self.header_row == Some(0) {
            problems.push("sheet.header_row is 1-based; 0 names no row".to_owned());
        }
        if self.skip_footer.is_some_and(|n| n > MAX_SKIP_FOOTER) {
            problems.push(format!(
                "sheet.skip_footer is at most {MAX_SKIP_FOOTER} rows"
            ));
        }
        if self.max_bytes == Some(0) {
            problems.push("sheet.max_bytes must be more than 0".to_owned());
        }
        problems
    }

    fn max_bytes(&self) -> u64 {
        self.max_bytes.unwrap_or(DEFAULT_MAX_BYTES)
    }

    fn missing_values(&self) -> Vec<String> {
        match &self.missing_values {
            Some(values) => values.iter().map(|v| v.trim().to_owned()).collect(),
            None => vec!["--".to_owned()],
        }
    }
}

/// Reads a workbook: the chosen sheet, or every worksheet with a
/// `planilha` column. Size limits and the sheet's existence are checked
/// before this returns; the rows stream from a reader thread.
pub fn read_spreadsheet(
    path: &Path,
    name: &str,
    format: Format,
    options: &SheetOptions,
    batch_rows: usize,
) -> Result<Batches, SourceError> {
    let problems = options.problems();
    if !problems.is_empty() {
        return Err(SourceError::Config(problems));
    }
    let max_bytes = options.max_bytes();
    check_file_size(path, name, max_bytes)?;
    if matches!(format, Format::Xlsx | Format::Ods) {
        check_zip_sizes(path, name, format, max_bytes)?;
    }
    if format == Format::Ods {
        check_ods_expansion(path, name, max_bytes.saturating_mul(ODS_EXPANSION_FACTOR))?;
    }
    let workbook = Workbook::open(path, name, format)?;
    let sheets = select_sheets(workbook.sheet_names(), name, options.sheet.as_deref())?;
    let plan = ReadPlan {
        file: name.to_owned(),
        sheets,
        with_sheet_column: options.sheet.is_none(),
        header_row: options.header_row,
        skip_footer: options.skip_footer,
        missing_values: options.missing_values(),
        batch_rows: batch_rows.max(1),
    };
    spawn_reader(workbook, plan)
}

// ------------------------------------------------------------ reader thread

/// What the reader thread needs, owned.
struct ReadPlan {
    file: String,
    sheets: Vec<String>,
    with_sheet_column: bool,
    header_row: Option<u32>,
    skip_footer: Option<u32>,
    missing_values: Vec<String>,
    batch_rows: usize,
}

type BatchResult = Result<SourceBatch, SourceError>;

/// calamine's XLSX cell reader borrows the workbook, so the rows are read
/// on a thread that owns it and handed over through a channel of one batch.
fn spawn_reader(workbook: Workbook, plan: ReadPlan) -> Result<Batches, SourceError> {
    let (tx, rx) = sync_channel::<BatchResult>(1);
    let file = plan.file.clone();
    let handle = std::thread::Builder::new()
        .name("lagoa-planilha".to_owned())
        .spawn(move || {
            let mut sink = BatchSink::new(tx.clone(), plan.batch_rows);
            let outcome = read_workbook(workbook, &plan, &mut sink).and_then(|()| sink.finish());
            if let Err(e) = outcome {
                // The consumer may be gone; then no one is waiting.
                let _ = tx.send(Err(e));
            }
        })
        .map_err(|e| SourceError::Internal(format!("{file}: cannot start the reader: {e}")))?;
    Ok(Box::new(ReaderBatches {
        rx,
        handle: Some(handle),
        file,
    }))
}

struct ReaderBatches {
    rx: Receiver<BatchResult>,
    handle: Option<JoinHandle<()>>,
    file: String,
}

impl Iterator for ReaderBatches {
    type Item = BatchResult;

    fn next(&mut self) -> Option<BatchResult> {
        match self.rx.recv() {
            Ok(item) => Some(item),
            // The thread is done; a panic must not pass for the end of data.
            Err(_) => match self.handle.take()?.join() {
                Ok(()) => None,
                Err(_) => Some(Err(SourceError::Internal(format!(
                    "{}: the spreadsheet reader stopped unexpectedly",
                    self.file
                )))),
            },
        }
    }
}

fn read_workbook(
    mut workbook: Workbook,
    plan: &ReadPlan,
    sink: &mut BatchSink,
) -> Result<(), SourceError> {
    let mut first_layout: Option<(String, Vec<String>)> = None;
    for sheet in &plan.sheets {
        let place = Place {
            file: &plan.file,
            sheet,
        };
        let found = match &mut workbook {
            Workbook::Xlsx(wb) => {
                // A second pass over the sheet's XML (merged ranges come
                // after the cells), streamed like the first.
                let merges = wb.merge_cells_by_sheet_name(sheet).map_err(|e| {
                    place.error(format!(
                        "cannot read merged cells: {}",
                        describe_xlsx_error(&e)
                    ))
                })?;
                let cells = wb
                    .worksheet_cells_reader(sheet)
                    .map_err(|e| place.error(describe_xlsx_error(&e)))?;
                let mut rows = XlsxRows::new(cells, place);
                read_sheet(&mut rows, &merges, plan, place, sink, &mut first_layout)?
            }
            Workbook::Xls(wb) => {
                let merges = wb.merge_cells_by_sheet_name(sheet).map_err(|e| {
                    place.error(format!(
                        "cannot read merged cells: {}",
                        describe_xls_error(&e)
                    ))
                })?;
                let range = wb
                    .worksheet_range(sheet)
                    .map_err(|e| place.error(describe_xls_error(&e)))?;
                let mut rows = RangeRows::new(range);
                read_sheet(&mut rows, &merges, plan, place, sink, &mut first_layout)?
            }
            Workbook::Ods(wb) => {
                let range = wb
                    .worksheet_range(sheet)
                    .map_err(|e| place.error(describe_ods_error(&e)))?;
                let mut rows = RangeRows::new(range);
                read_sheet(&mut rows, &[], plan, place, sink, &mut first_layout)?
            }
        };
        if !found && !plan.with_sheet_column {
            return Err(place.error("the sheet has no rows with values".to_owned()));
        }
    }
    if first_layout.is_none() {
        return Err(SourceError::input(
            plan.file.as_str(),
            "no worksheet has rows with values",
        ));
    }
    Ok(())
}

/// Where an error happened, for messages.
#[derive(Clone, Copy)]
struct Place<'a> {
    file: &'a str,
    sheet: &'a str,
}

impl Place<'_> {
    fn error(&self, message: String) -> SourceError {
        SourceError::input(format!("{}, sheet {:?}", self.file, self.sheet), message)
    }

    fn cell_error(&self, row: u32, col: u32, message: String) -> SourceError {
        SourceError::input(
            format!(
                "{}, sheet {:?}, cell {}",
                self.file,
                self.sheet,
                cell_name(row, col)
            ),
            message,
        )
    }
}

/// `A1` notation for 0-based row and column.
fn cell_name(row: u32, col: u32) -> String {
    format!("{}{}", column_name(col), u64::from(row) + 1)
}

/// `A`, `Z`, `AA`, ... for a 0-based column.
fn column_name(col: u32) -> String {
    let mut n = u64::from(col) + 1;
    let mut letters = Vec::new();
    while n > 0 {
        let rem = ((n - 1) % 26) as u8;
        letters.push(char::from(b'A' + rem));
        n = (n - 1) / 26;
    }
    letters.iter().rev().collect()
}
