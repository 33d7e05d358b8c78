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

use crate::formats::{Format, RowReject, SourceBatch, unique_names};
use crate::{Batches, SourceError};
use arrow::array::{ArrayRef, RecordBatch, StringBuilder};
use arrow::datatypes::{Field, Schema, SchemaRef};
use calamine::{
    Data, DataRef, Dimensions, ExcelDateTime, Ods, OdsError, Range, Reader, SheetType, Xls,
    XlsError, Xlsx, XlsxCellReader, XlsxError,
};
use serde::Deserialize;
use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

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

// ------------------------------------------------------------ limits

fn check_file_size(path: &Path, name: &str, max_bytes: u64) -> Result<(), SourceError> {
    let size = std::fs::metadata(path)
        .map_err(|e| SourceError::input(name, format!("cannot open: {}", e.kind())))?
        .len();
    if size > max_bytes {
        return Err(SourceError::input(
            name,
            format!(
                "the file has {size} bytes, over the limit of {max_bytes} for spreadsheets \
                 (sheet.max_bytes); split the delivery or deliver it as CSV"
            ),
        ));
    }
    Ok(())
}

fn format_label(format: Format) -> &'static str {
    match format {
        Format::Xlsx => "XLSX",
        Format::Xls => "XLS",
        Format::Ods => "ODS",
        _ => "spreadsheet",
    }
}

/// Refuses XLSX/ODS files that are not zip containers or whose parts
/// declare more uncompressed bytes than `max_bytes`, before any is
/// inflated. The zip reader enforces the declared sizes while reading.
fn check_zip_sizes(
    path: &Path,
    name: &str,
    format: Format,
    max_bytes: u64,
) -> Result<(), SourceError> {
    let label = format_label(format);
    let file = File::open(path)
        .map_err(|e| SourceError::input(name, format!("cannot open: {}", e.kind())))?;
    let archive = zip::ZipArchive::new(BufReader::new(file)).map_err(|e| {
        SourceError::input(
            name,
            format!(
                "is not a readable {label} file: it is not a zip container ({e}); \
                 a password-protected workbook also looks like this"
            ),
        )
    })?;
    let metadata = archive.metadata();
    let mut declared: u64 = 0;
    for index in 0..archive.len() {
        let entry = metadata.entry(index).map_err(|e| {
            SourceError::input(
                name,
                format!("broken zip directory in the {label} file ({e})"),
            )
        })?;
        declared = declared.saturating_add(entry.size());
    }
    if declared > max_bytes {
        return Err(SourceError::input(
            name,
            format!(
                "its zip parts declare {declared} bytes once uncompressed, over the limit of \
                 {max_bytes} (sheet.max_bytes): a zip bomb, or a workbook too large to read \
                 in memory"
            ),
        ));
    }
    Ok(())
}

// ------------------------------------------------------------ workbook

enum Workbook {
    Xlsx(Xlsx<BufReader<File>>),
    Xls(Xls<BufReader<File>>),
    Ods(Ods<BufReader<File>>),
}

impl Workbook {
    fn open(path: &Path, name: &str, format: Format) -> Result<Workbook, SourceError> {
        let file = File::open(path)
            .map_err(|e| SourceError::input(name, format!("cannot open: {}", e.kind())))?;
        let reader = BufReader::new(file);
        let label = format_label(format);
        let unreadable = |why: String| {
            SourceError::input(name, format!("is not a readable {label} file: {why}"))
        };
        match format {
            Format::Xlsx => Xlsx::new(reader)
                .map(Workbook::Xlsx)
                .map_err(|e| unreadable(describe_xlsx_error(&e))),
            Format::Xls => Xls::new(reader)
                .map(Workbook::Xls)
                .map_err(|e| unreadable(describe_xls_error(&e))),
            Format::Ods => Ods::new(reader)
                .map(Workbook::Ods)
                .map_err(|e| unreadable(describe_ods_error(&e))),
            other => Err(SourceError::Internal(format!(
                "{name}: the spreadsheet reader was given a {} file",
                other.name()
            ))),
        }
    }

    /// The worksheets, in workbook order (chart and macro sheets left out).
    fn sheet_names(&self) -> Vec<String> {
        let sheets = match self {
            Workbook::Xlsx(wb) => wb.sheets_metadata(),
            Workbook::Xls(wb) => wb.sheets_metadata(),
            Workbook::Ods(wb) => wb.sheets_metadata(),
        };
        sheets
            .iter()
            .filter(|s| s.typ == SheetType::WorkSheet)
            .map(|s| s.name.clone())
            .collect()
    }
}

fn select_sheets(
    available: Vec<String>,
    file: &str,
    wanted: Option<&str>,
) -> Result<Vec<String>, SourceError> {
    let Some(wanted) = wanted else {
        return Ok(available);
    };
    if available.iter().any(|s| s == wanted) {
        return Ok(vec![wanted.to_owned()]);
    }
    let listed = available
        .iter()
        .map(|s| format!("{s:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    Err(SourceError::input(
        file,
        format!("has no worksheet named {wanted:?} (sheet.sheet); its worksheets are: {listed}"),
    ))
}

/// The name of an error's variant (`Xml`, `ParseFloat`), without the
/// payload, which may quote the workbook's content.
fn variant_name(debug: &str) -> &str {
    let end = debug
        .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .unwrap_or(debug.len());
    &debug[..end]
}

fn describe_io(e: &std::io::Error) -> String {
    format!("read error ({})", e.kind())
}

fn describe_xlsx_error(e: &XlsxError) -> String {
    match e {
        XlsxError::Io(e) => describe_io(e),
        XlsxError::Zip(e) => format!("broken zip container ({e})"),
        XlsxError::Password => "the workbook is password protected".to_owned(),
        XlsxError::FileNotFound(part) => format!("its part {part} is missing"),
        XlsxError::XmlEof(tag) => format!("its XML ends inside <{tag}>"),
        other => format!(
            "malformed content ({})",
            variant_name(&format!("{other:?}"))
        ),
    }
}

fn describe_xls_error(e: &XlsError) -> String {
    match e {
        XlsError::Io(e) => describe_io(e),
        XlsError::Password => "the workbook is password protected".to_owned(),
        other => format!(
            "malformed content ({})",
            variant_name(&format!("{other:?}"))
        ),
    }
}

fn describe_ods_error(e: &OdsError) -> String {
    match e {
        OdsError::Io(e) => describe_io(e),
        OdsError::Zip(e) => format!("broken zip container ({e})"),
        OdsError::Password => "the workbook is password protected".to_owned(),
        OdsError::InvalidMime(_) => "its mimetype is not an OpenDocument spreadsheet's".to_owned(),
        OdsError::FileNotFound(part) => format!("its part {part} is missing"),
        OdsError::CellLimitExceeded { max, .. } => {
            format!("a sheet expands to more than {max} cells")
        }
        other => format!(
            "malformed content ({})",
            variant_name(&format!("{other:?}"))
        ),
    }
}

// ------------------------------------------------------------ ODS expansion

/// Estimates, from `content.xml`, the memory calamine will take to hold
/// every sheet of an ODS file once rows and cells marked as repeated are
/// expanded, and refuses the file when it passes `budget` bytes.
///
/// The estimate follows calamine: trailing empty cells and trailing empty
/// rows (LibreOffice's "repeat to the end of the sheet" filler) cost
/// nothing; empty rows between rows with values cost a full row each.
fn check_ods_expansion(path: &Path, name: &str, budget: u64) -> Result<(), SourceError> {
    let file = File::open(path)
        .map_err(|e| SourceError::input(name, format!("cannot open: {}", e.kind())))?;
    let mut archive = zip::ZipArchive::new(BufReader::new(file))
        .map_err(|e| SourceError::input(name, format!("is not a readable ODS file ({e})")))?;
    let content = match archive.by_name("content.xml") {
        Ok(content) => content,
        // Ods::new names what is missing.
        Err(_) => return Ok(()),
    };
    let mut estimate = OdsExpansion::default();
    let mut scanner = XmlTagScanner::default();
    let mut buf = vec![0u8; 64 * 1024];
    let mut reader = content;
    loop {
        let n = reader.read(&mut buf).map_err(|e| {
            SourceError::input(name, format!("cannot read content.xml ({})", e.kind()))
        })?;
        if n == 0 {
            break;
        }
        scanner.feed(&buf[..n], &mut estimate);
        if estimate.bytes() > budget {
            return Err(SourceError::input(
                name,
                format!(
                    "its sheets would take more than {budget} bytes in memory once repeated \
                     rows and cells are expanded ({ODS_EXPANSION_FACTOR} × sheet.max_bytes); \
                     deliver it as XLSX or CSV"
                ),
            ));
        }
    }
    Ok(())
}

/// The running memory estimate of an ODS `content.xml`.
#[derive(Default)]
struct OdsExpansion {
    /// Sheets already closed.
    done_bytes: u64,
    // The sheet being read.
    sheet_rows: u64,
    sheet_width: u64,
    sheet_text: u64,
    empty_rows_pending: u64,
    // The row being read.
    row_repeat: u64,
    row_cells: u64,
    row_width: u64,
    row_text: u64,
    // The cell being read.
    cell_repeat: u64,
    cell_has_value: bool,
    cell_text: u64,
    in_cell: bool,
}

impl OdsExpansion {
    fn bytes(&self) -> u64 {
        let open_sheet = self
            .sheet_rows
            .saturating_mul(self.sheet_width)
            .saturating_mul(ODS_CELL_BYTES)
            .saturating_add(self.sheet_text);
        self.done_bytes.saturating_add(open_sheet)
    }

    fn start_row(&mut self, repeat: u64) {
        self.row_repeat = repeat.max(1);
        self.row_cells = 0;
        self.row_width = 0;
        self.row_text = 0;
    }

    fn start_cell(&mut self, repeat: u64, has_value: bool) {
        self.cell_repeat = repeat.max(1);
        self.cell_has_value = has_value;
        self.cell_text = 0;
        self.in_cell = true;
    }

    fn end_cell(&mut self) {
        if !self.in_cell {
            return;
        }
        self.in_cell = false;
        let start = self.row_cells;
        self.row_cells = self
            .row_cells
            .saturating_add(self.cell_repeat)
            .min(MAX_COLUMNS);
        if self.cell_has_value || self.cell_text > 0 {
            self.row_width = self.row_cells;
            let copies = self.row_cells - start;
            self.row_text = self
                .row_text
                .saturating_add(copies.saturating_mul(self.cell_text));
        }
    }

    fn end_row(&mut self) {
        if self.row_width == 0 {
            self.empty_rows_pending = self.empty_rows_pending.saturating_add(self.row_repeat);
            return;
        }
        self.sheet_rows = self
            .sheet_rows
            .saturating_add(self.empty_rows_pending)
            .saturating_add(self.row_repeat);
        self.empty_rows_pending = 0;
        self.sheet_width = self.sheet_width.max(self.row_width);
        self.sheet_text = self
            .sheet_text
            .saturating_add(self.row_repeat.saturating_mul(self.row_text));
    }

    fn end_sheet(&mut self) {
        self.done_bytes = self.bytes();
        self.sheet_rows = 0;
        self.sheet_width = 0;
        self.sheet_text = 0;
        self.empty_rows_pending = 0;
    }

    fn text(&mut self, len: u64) {
        if self.in_cell {
            self.cell_text = self.cell_text.saturating_add(len);
        }
    }
}

/// Splits XML bytes, fed in pieces, into tags and text, enough to find the
/// table elements of `content.xml` and their repeat attributes. calamine
/// matches the same literal `table:` names.
#[derive(Default)]
struct XmlTagScanner {
    in_tag: bool,
    quote: Option<u8>,
    tag: Vec<u8>,
}

/// Tags longer than this are cut; the attributes looked for come early.
const TAG_KEEP_BYTES: usize = 4096;

impl XmlTagScanner {
    fn feed(&mut self, bytes: &[u8], estimate: &mut OdsExpansion) {
        let mut text_run: u64 = 0;
        for &b in bytes {
            if !self.in_tag {
                if b == b'<' {
                    estimate.text(text_run);
                    text_run = 0;
                    self.in_tag = true;
                    self.tag.clear();
                } else {
                    text_run += 1;
                }
                continue;
            }
            match (self.quote, b) {
                (Some(q), _) if b == q => self.quote = None,
                (None, b'"' | b'\'') => self.quote = Some(b),
                (None, b'>') => {
                    self.in_tag = false;
                    handle_tag(&self.tag, estimate);
                    continue;
                }
                _ => {}
            }
            if self.tag.len() < TAG_KEEP_BYTES {
                self.tag.push(b);
            }
        }
        estimate.text(text_run);
    }
}

fn handle_tag(tag: &[u8], estimate: &mut OdsExpansion) {
    let self_closing = tag.last() == Some(&b'/');
    // A closing tag's name starts after its `/`.
    let name_end = tag
        .iter()
        .skip(1)
        .position(|b| b.is_ascii_whitespace() || *b == b'/')
        .map_or(tag.len(), |i| i + 1);
    match &tag[..name_end] {
        b"table:table-row" => {
            estimate.start_row(repeat_attribute(tag, b"table:number-rows-repeated"));
            if self_closing {
                estimate.end_row();
            }
        }
        b"/table:table-row" => estimate.end_row(),
        b"table:table-cell" | b"table:covered-table-cell" => {
            let has_value = contains(tag, b"office:value-type") || contains(tag, b"table:formula");
            estimate.start_cell(
                repeat_attribute(tag, b"table:number-columns-repeated"),
                has_value,
            );
            if self_closing {
                estimate.end_cell();
            }
        }
        b"/table:table-cell" | b"/table:covered-table-cell" => estimate.end_cell(),
        b"/table:table" => estimate.end_sheet(),
        _ => {}
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The number in `name="123"` inside a tag, or 1.
fn repeat_attribute(tag: &[u8], name: &[u8]) -> u64 {
    let Some(at) = tag.windows(name.len()).position(|w| w == name) else {
        return 1;
    };
    let rest = &tag[at + name.len()..];
    let digits = rest
        .iter()
        .skip_while(|b| matches!(b, b'=' | b'"' | b'\'' | b' '))
        .take_while(|b| b.is_ascii_digit());
    let mut value: u64 = 0;
    for d in digits {
        value = value.saturating_mul(10).saturating_add(u64::from(d - b'0'));
    }
    value.max(1)
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

// ------------------------------------------------------------ cells and rows

/// A cell with a value.
#[derive(Clone, Debug, PartialEq)]
enum CellValue {
    Text(String),
    /// A number, date, time or boolean, rendered as text.
    Scalar(String),
    /// An error value such as `#REF!`.
    Error(String),
}

impl CellValue {
    fn as_str(&self) -> &str {
        match self {
            CellValue::Text(s) | CellValue::Scalar(s) | CellValue::Error(s) => s,
        }
    }
}

/// A row with at least one value: its 0-based index in the sheet and its
/// cells with values, by ascending 0-based column.
#[derive(Debug)]
struct SheetRow {
    index: u32,
    cells: Vec<(u32, CellValue)>,
}

impl SheetRow {
    fn first_col(&self) -> u32 {
        self.cells.first().map_or(0, |c| c.0)
    }

    fn last_col(&self) -> u32 {
        self.cells.last().map_or(0, |c| c.0)
    }

    fn value_at(&self, col: u32) -> Option<&CellValue> {
        self.cells
            .binary_search_by_key(&col, |c| c.0)
            .ok()
            .map(|i| &self.cells[i].1)
    }
}

fn cell_value(data: DataRef<'_>) -> Option<CellValue> {
    let text = |s: String| (!s.trim().is_empty()).then_some(CellValue::Text(s));
    match data {
        DataRef::Empty => None,
        DataRef::String(s) => text(s),
        DataRef::SharedString(s) => text(s.to_owned()),
        DataRef::Int(i) => Some(CellValue::Scalar(i.to_string())),
        DataRef::Float(f) => Some(CellValue::Scalar(number_text(f))),
        DataRef::Bool(b) => Some(CellValue::Scalar(b.to_string())),
        DataRef::DateTime(dt) => Some(CellValue::Scalar(datetime_text(&dt))),
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => Some(CellValue::Scalar(s)),
        DataRef::Error(e) => Some(CellValue::Error(e.to_string())),
    }
}

/// calamine's owned cell as the borrowed kind, so one function converts both.
fn data_as_ref(data: Data) -> DataRef<'static> {
    match data {
        Data::Int(i) => DataRef::Int(i),
        Data::Float(f) => DataRef::Float(f),
        Data::String(s) => DataRef::String(s),
        Data::Bool(b) => DataRef::Bool(b),
        Data::DateTime(dt) => DataRef::DateTime(dt),
        Data::DateTimeIso(s) => DataRef::DateTimeIso(s),
        Data::DurationIso(s) => DataRef::DurationIso(s),
        Data::Error(e) => DataRef::Error(e),
        Data::Empty => DataRef::Empty,
    }
}

/// The shortest text that reads back as the same number, never with a
/// trailing `.0` (spreadsheets store every number as a float, so the code
/// 3550308 arrives as 3550308.0) nor an exponent.
fn number_text(f: f64) -> String {
    if f == 0.0 {
        // Also -0.0.
        return "0".to_owned();
    }
    // Rust's `Display` for f64 is the shortest round-trip form and prints
    // integral values without a fraction.
    f.to_string()
}

/// ISO 8601 text for a spreadsheet date, date-time, time or duration.
fn datetime_text(dt: &ExcelDateTime) -> String {
    if dt.is_duration() {
        return duration_text(dt.as_f64());
    }
    let (year, month, day, hour, minute, second, milli) = dt.to_ymd_hms_milli();
    let time = if milli > 0 {
        format!("{hour:02}:{minute:02}:{second:02}.{milli:03}")
    } else {
        format!("{hour:02}:{minute:02}:{second:02}")
    };
    let serial = dt.as_f64();
    if (0.0..1.0).contains(&serial) {
        // A time of day with no date.
        return time;
    }
    let date = format!("{year:04}-{month:02}-{day:02}");
    if (hour, minute, second, milli) == (0, 0, 0, 0) {
        date
    } else {
        format!("{date}T{time}")
    }
}

fn duration_text(days: f64) -> String {
    let total_ms = (days * 86_400_000.0).round();
    let sign = if total_ms < 0.0 { "-" } else { "" };
    // Saturating cast: absurd durations stay finite.
    let total_ms = total_ms.abs() as u64;
    let (hours, rest) = (total_ms / 3_600_000, total_ms % 3_600_000);
    let (minutes, rest) = (rest / 60_000, rest % 60_000);
    let (seconds, milli) = (rest / 1000, rest % 1000);
    if milli > 0 {
        format!("{sign}PT{hours}H{minutes}M{seconds}.{milli:03}S")
    } else {
        format!("{sign}PT{hours}H{minutes}M{seconds}S")
    }
}

/// Rows of a sheet, in order, each with at least one value.
trait RowSource {
    fn next_row(&mut self) -> Result<Option<SheetRow>, SourceError>;
}

/// XLSX rows, streamed from the sheet's XML one cell at a time.
struct XlsxRows<'a> {
    cells: XlsxCellReader<'a, BufReader<File>>,
    place: Place<'a>,
    /// The first cell of the next row, read ahead.
    pending: Option<(u32, u32, CellValue)>,
    /// Position of the last cell read, for order checks and messages.
    last: Option<(u32, u32)>,
    /// The sheet's data has ended (the XML must not be read past it).
    done: bool,
}

impl<'a> XlsxRows<'a> {
    fn new(cells: XlsxCellReader<'a, BufReader<File>>, place: Place<'a>) -> Self {
        XlsxRows {
            cells,
            place,
            pending: None,
            last: None,
            done: false,
        }
    }

    fn read_error(&self, e: &XlsxError) -> SourceError {
        let why = describe_xlsx_error(e);
        match self.last {
            Some((row, col)) => self
                .place
                .error(format!("after cell {}: {why}", cell_name(row, col))),
            None => self.place.error(why),
        }
    }
}

impl RowSource for XlsxRows<'_> {
    fn next_row(&mut self) -> Result<Option<SheetRow>, SourceError> {
        let mut row: Option<SheetRow> = self.pending.take().map(|(index, col, value)| SheetRow {
            index,
            cells: vec![(col, value)],
        });
        if self.done {
            return Ok(row);
        }
        loop {
            let cell = match self.cells.next_cell() {
                Ok(Some(cell)) => cell,
                Ok(None) => {
                    self.done = true;
                    return Ok(row);
                }
                Err(e) => return Err(self.read_error(&e)),
            };
            let (r, c) = cell.get_position();
            if self.last.is_some_and(|last| (r, c) <= last) {
                return Err(self.place.cell_error(
                    r,
                    c,
                    "cells are out of order in the sheet's XML; re-save the file".to_owned(),
                ));
            }
            if r > LAST_ROW || c > LAST_COLUMN {
                return Err(self.place.error(format!(
                    "a cell lies past the sheet's last cell XFD1048576 (after cell {})",
                    self.last
                        .map_or_else(|| "A1".to_owned(), |(r, c)| cell_name(r, c))
                )));
            }
            self.last = Some((r, c));
            let Some(value) = cell_value(cell.get_value().clone()) else {
                continue;
            };
            match &mut row {
                None => {
                    row = Some(SheetRow {
                        index: r,
                        cells: vec![(c, value)],
                    })
                }
                Some(current) if current.index == r => current.cells.push((c, value)),
                Some(_) => {
                    self.pending = Some((r, c, value));
                    return Ok(row);
                }
            }
        }
    }
}

/// XLS and ODS rows, from the sheet calamine has loaded.
struct RangeRows {
    range: Range<Data>,
    next: usize,
}

impl RangeRows {
    fn new(range: Range<Data>) -> Self {
        RangeRows { range, next: 0 }
    }
}

impl RowSource for RangeRows {
    fn next_row(&mut self) -> Result<Option<SheetRow>, SourceError> {
        let Some((row0, col0)) = self.range.start() else {
            return Ok(None);
        };
        let height = self.range.height();
        while self.next < height {
            let i = self.next;
            self.next += 1;
            let cells: Vec<(u32, CellValue)> = self.range[i]
                .iter_mut()
                .enumerate()
                .filter_map(|(j, data)| {
                    let value = cell_value(data_as_ref(std::mem::take(data)))?;
                    Some((col0.saturating_add(j as u32), value))
                })
                .collect();
            if !cells.is_empty() {
                return Ok(Some(SheetRow {
                    index: row0.saturating_add(i as u32),
                    cells,
                }));
            }
        }
        Ok(None)
    }
}

// ------------------------------------------------------------ header

/// A sheet's header: its row, its columns and their names.
struct Header {
    index: u32,
    first_col: u32,
    last_col: u32,
    names: Vec<String>,
}

impl Header {
    fn columns(&self) -> String {
        format!(
            "{}:{}",
            column_name(self.first_col),
            column_name(self.last_col)
        )
    }

    fn width(&self) -> u32 {
        self.last_col - self.first_col + 1
    }
}

/// Finds the header and returns it with the data rows read past it, or
/// `None` when the sheet has no values at all.
fn find_header(
    rows: &mut dyn RowSource,
    merges: &[Dimensions],
    header_row: Option<u32>,
    place: Place<'_>,
) -> Result<Option<(Header, VecDeque<SheetRow>)>, SourceError> {
    match header_row {
        Some(number) => find_numbered_header(rows, merges, number, place),
        None => detect_header(rows, merges, place),
    }
}

fn find_numbered_header(
    rows: &mut dyn RowSource,
    merges: &[Dimensions],
    number: u32,
    place: Place<'_>,
) -> Result<Option<(Header, VecDeque<SheetRow>)>, SourceError> {
    let target = number.saturating_sub(1);
    let mut above: VecDeque<SheetRow> = VecDeque::new();
    loop {
        let Some(row) = rows.next_row()? else {
            if above.is_empty() {
                return Ok(None);
            }
            return Err(place.error(format!(
                "the sheet ends before row {number}, which sheet.header_row names"
            )));
        };
        if row.index < target {
            above.push_back(row);
            if above.len() > MERGE_LOOKBACK_ROWS {
                above.pop_front();
            }
            continue;
        }
        if row.index > target {
            return Err(place.error(format!(
                "row {number} (sheet.header_row) is blank; the next row with values is {}",
                u64::from(row.index) + 1
            )));
        }
        let header = build_header(&row, above.make_contiguous(), merges);
        return Ok(Some((header, VecDeque::new())));
    }
}

fn detect_header(
    rows: &mut dyn RowSource,
    merges: &[Dimensions],
    place: Place<'_>,
) -> Result<Option<(Header, VecDeque<SheetRow>)>, SourceError> {
    let mut buffered: Vec<SheetRow> = Vec::new();
    while buffered.len() < HEADER_SEARCH_ROWS {
        match rows.next_row()? {
            Some(row) => buffered.push(row),
            None => break,
        }
    }
    if buffered.is_empty() {
        return Ok(None);
    }
    let first = buffered.iter().map(SheetRow::first_col).min().unwrap_or(0);
    let last = buffered.iter().map(SheetRow::last_col).max().unwrap_or(0);
    let width = last - first + 1;
    let Some(at) = buffered.iter().position(|r| looks_like_header(r, width)) else {
        return Err(place.error(format!(
            "no row among the first {} with values looks like a header (text in at least \
             half of the columns); set sheet.header_row",
            buffered.len()
        )));
    };
    let after: VecDeque<SheetRow> = buffered.split_off(at + 1).into();
    let header_row = buffered.pop();
    let Some(header_row) = header_row else {
        return Err(SourceError::Internal("header row vanished".to_owned()));
    };
    let header = build_header(&header_row, &buffered, merges);
    Ok(Some((header, after)))
}

/// A header row holds only text, in at least half of the sheet's width
/// (all of it when the sheet is one or two columns wide), at least two
/// cells when it can.
fn looks_like_header(row: &SheetRow, sheet_width: u32) -> bool {
    let needed = if sheet_width <= 2 {
        sheet_width
    } else {
        sheet_width.div_ceil(2).max(2)
    };
    row.cells.len() >= needed as usize
        && row
            .cells
            .iter()
            .all(|(_, v)| matches!(v, CellValue::Text(_)))
}

/// The header's names, blank cells inside a merged range taking the
/// range's top-left value (from the header row or a row above it).
fn build_header(row: &SheetRow, above: &[SheetRow], merges: &[Dimensions]) -> Header {
    let mut cells: BTreeMap<u32, String> = row
        .cells
        .iter()
        .map(|(c, v)| (*c, v.as_str().to_owned()))
        .collect();
    for merge in merges {
        let (top, left) = merge.start;
        let (bottom, right) = merge.end;
        let right = right.min(LAST_COLUMN);
        if !(top <= row.index && row.index <= bottom) {
            continue;
        }
        let source = if top == row.index {
            row.value_at(left)
        } else {
            above
                .iter()
                .find(|r| r.index == top)
                .and_then(|r| r.value_at(left))
        };
        let Some(source) = source else { continue };
        for col in left..=right {
            cells
                .entry(col)
                .or_insert_with(|| source.as_str().to_owned());
        }
    }
    let first_col = cells.first_key_value().map_or(0, |c| *c.0);
    let last_col = cells.last_key_value().map_or(0, |c| *c.0);
    let mut texts = vec![String::new(); (last_col - first_col + 1) as usize];
    for (col, text) in cells {
        texts[(col - first_col) as usize] = text;
    }
    Header {
        index: row.index,
        first_col,
        last_col,
        names: unique_names(texts),
    }
}

// ------------------------------------------------------------ data rows

/// Reads one sheet into the sink. Returns whether the sheet had any values.
fn read_sheet(
    rows: &mut dyn RowSource,
    merges: &[Dimensions],
    plan: &ReadPlan,
    place: Place<'_>,
    sink: &mut BatchSink,
    first_layout: &mut Option<(String, Vec<String>)>,
) -> Result<bool, SourceError> {
    let Some((header, mut ahead)) = find_header(rows, merges, plan.header_row, place)? else {
        tracing::debug!(
            file = place.file,
            sheet = place.sheet,
            "empty sheet skipped"
        );
        return Ok(false);
    };
    match first_layout {
        None => {
            let mut names = header.names.clone();
            if plan.with_sheet_column {
                names.push(SHEET_COLUMN.to_owned());
            }
            sink.set_columns(unique_names(names));
            *first_layout = Some((place.sheet.to_owned(), header.names.clone()));
        }
        Some((first_sheet, first_names)) => {
            if let Some(difference) = header_difference(first_names, &header.names) {
                return Err(place.error(format!(
                    "its header differs from sheet {first_sheet:?}'s ({difference}); name one \
                     sheet with sheet.sheet, or give every sheet the same header"
                )));
            }
        }
    }
    let mut emitter = RowEmitter {
        header: &header,
        place,
        plan,
    };
    let mut footer = FooterRule::new(plan.skip_footer);
    let mut previous = header.index;
    loop {
        let row = match ahead.pop_front() {
            Some(row) => row,
            None => match rows.next_row()? {
                Some(row) => row,
                None => break,
            },
        };
        let after_blank = row.index > previous.saturating_add(1);
        previous = row.index;
        for ready in footer.take(row, after_blank, &header) {
            emitter.emit(ready, sink)?;
        }
    }
    let dropped = footer.finish();
    if dropped > 0 {
        tracing::debug!(
            file = place.file,
            sheet = place.sheet,
            rows = dropped,
            "footer rows left out"
        );
    }
    Ok(true)
}

fn header_difference(expected: &[String], found: &[String]) -> Option<String> {
    if expected.len() != found.len() {
        return Some(format!(
            "{} columns instead of {}",
            found.len(),
            expected.len()
        ));
    }
    let (i, (e, f)) = expected
        .iter()
        .zip(found)
        .enumerate()
        .find(|(_, (e, f))| e != f)?;
    Some(format!("column {} is {f:?}, not {e:?}", i + 1))
}

/// Which rows at the end of a sheet are footer, not data.
enum FooterRule {
    /// Note rows after a blank row, held until a data row proves them data
    /// or the sheet ends.
    Detect {
        after_blank: bool,
        notes: Vec<SheetRow>,
    },
    /// The last `n` rows, held until more rows push them out.
    LastRows { n: usize, held: VecDeque<SheetRow> },
}

impl FooterRule {
    fn new(skip_footer: Option<u32>) -> Self {
        match skip_footer {
            Some(n) => FooterRule::LastRows {
                n: n as usize,
                held: VecDeque::new(),
            },
            None => FooterRule::Detect {
                after_blank: false,
                notes: Vec::new(),
            },
        }
    }

    /// Takes the next row; returns the rows now known to be data.
    fn take(&mut self, row: SheetRow, follows_blank: bool, header: &Header) -> Vec<SheetRow> {
        match self {
            FooterRule::LastRows { n, held } => {
                held.push_back(row);
                if held.len() > *n {
                    held.pop_front().into_iter().collect()
                } else {
                    Vec::new()
                }
            }
            FooterRule::Detect { after_blank, notes } => {
                *after_blank |= follows_blank;
                if *after_blank && is_note_row(&row, header) {
                    notes.push(row);
                    if notes.len() > FOOTER_MAX_ROWS {
                        *after_blank = false;
                        return std::mem::take(notes);
                    }
                    return Vec::new();
                }
                *after_blank = false;
                let mut ready = std::mem::take(notes);
                ready.push(row);
                ready
            }
        }
    }

    /// The number of rows left out at the end of the sheet.
    fn finish(self) -> usize {
        match self {
            FooterRule::LastRows { held, .. } => held.len(),
            FooterRule::Detect { notes, .. } => notes.len(),
        }
    }
}

/// A footer note: one text cell, in the header's first column, in a table
/// of two columns or more.
fn is_note_row(row: &SheetRow, header: &Header) -> bool {
    header.width() >= 2
        && row.cells.len() == 1
        && row.cells[0].0 == header.first_col
        && matches!(row.cells[0].1, CellValue::Text(_))
}

/// Turns a sheet's data rows into batch rows or rejects.
struct RowEmitter<'a> {
    header: &'a Header,
    place: Place<'a>,
    plan: &'a ReadPlan,
}

impl RowEmitter<'_> {
    fn emit(&mut self, row: SheetRow, sink: &mut BatchSink) -> Result<(), SourceError> {
        match self.values(&row) {
            Ok(values) => sink.push(values),
            Err(reason) => sink.reject(RowReject {
                location: format!(
                    "row {} of sheet {}",
                    u64::from(row.index) + 1,
                    self.place.sheet
                ),
                reason,
                content: self.row_content(&row),
            }),
        }
    }

    /// The row's values, or why it is rejected (naming cells, never values).
    fn values(&self, row: &SheetRow) -> Result<Vec<Option<String>>, String> {
        let header = self.header;
        let mut values: Vec<Option<String>> = vec![None; header.width() as usize];
        let mut problems: Vec<String> = Vec::new();
        for (col, value) in &row.cells {
            let cell = cell_name(row.index, *col);
            if *col < header.first_col || *col > header.last_col {
                problems.push(format!(
                    "cell {cell} lies outside the header's columns {}",
                    header.columns()
                ));
                continue;
            }
            let text = match value {
                CellValue::Error(code) => {
                    problems.push(format!("cell {cell} holds an error value {code}"));
                    continue;
                }
                CellValue::Text(s) | CellValue::Scalar(s) => s,
            };
            if self.plan.missing_values.iter().any(|m| m == text.trim()) {
                continue;
            }
            values[(col - header.first_col) as usize] = Some(text.clone());
        }
        match problems.len() {
            0 => {
                if self.plan.with_sheet_column {
                    values.push(Some(self.place.sheet.to_owned()));
                }
                Ok(values)
            }
            1 => Err(problems.swap_remove(0)),
            n => Err(format!(
                "{} (and {} more problems in the row)",
                problems[0],
                n - 1
            )),
        }
    }

    /// The row as delivered, tab-separated, for quarantine.
    fn row_content(&self, row: &SheetRow) -> String {
        let first = row.first_col().min(self.header.first_col);
        let last = row.last_col().max(self.header.last_col);
        let mut content = String::new();
        for col in first..=last {
            if col > first {
                content.push('\t');
            }
            if let Some(value) = row.value_at(col) {
                content.push_str(value.as_str());
            }
            if content.len() >= REJECT_CONTENT_MAX {
                break;
            }
        }
        truncate_at_char(&mut content, REJECT_CONTENT_MAX);
        content
    }
}

fn truncate_at_char(s: &mut String, max: usize) {
    if s.len() <= max {
        return;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
}

// ------------------------------------------------------------ batches

/// Collects rows into batches and sends them to the consumer.
struct BatchSink {
    tx: SyncSender<BatchResult>,
    batch_rows: usize,
    schema: Option<SchemaRef>,
    builders: Vec<StringBuilder>,
    rows: usize,
    bytes: usize,
    rejects: Vec<RowReject>,
    /// Number of the next data row (1-based, across the delivery).
    next_row: u64,
    /// Number of the first row of the batch being built.
    batch_first_row: u64,
    sent: bool,
}

impl BatchSink {
    fn new(tx: SyncSender<BatchResult>, batch_rows: usize) -> Self {
        BatchSink {
            tx,
            batch_rows,
            schema: None,
            builders: Vec::new(),
            rows: 0,
            bytes: 0,
            rejects: Vec::new(),
            next_row: 1,
            batch_first_row: 1,
            sent: false,
        }
    }

    fn set_columns(&mut self, names: Vec<String>) {
        let fields: Vec<Field> = names
            .into_iter()
            .map(|n| crate::formats::canonical_text_field(&n))
            .collect();
        self.builders = fields.iter().map(|_| StringBuilder::new()).collect();
        self.schema = Some(Arc::new(Schema::new(fields)));
    }

    fn push(&mut self, values: Vec<Option<String>>) -> Result<(), SourceError> {
        for (builder, value) in self.builders.iter_mut().zip(values) {
            self.bytes += value.as_ref().map_or(0, String::len);
            builder.append_option(value);
        }
        self.rows += 1;
        self.next_row += 1;
        self.flush_if_full()
    }

    fn reject(&mut self, reject: RowReject) -> Result<(), SourceError> {
        self.bytes += reject.content.len() + reject.reason.len();
        self.rejects.push(reject);
        self.flush_if_full()
    }

    fn flush_if_full(&mut self) -> Result<(), SourceError> {
        if self.rows >= self.batch_rows
            || self.rejects.len() >= self.batch_rows
            || self.bytes >= BATCH_MAX_BYTES
        {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SourceError> {
        let Some(schema) = self.schema.clone() else {
            return Ok(());
        };
        let columns: Vec<ArrayRef> = self
            .builders
            .iter_mut()
            .map(|b| Arc::new(b.finish()) as ArrayRef)
            .collect();
        let batch = RecordBatch::try_new(schema, columns)
            .map_err(|e| SourceError::Internal(format!("cannot build a batch: {e}")))?;
        let mut source_batch = SourceBatch::new(batch, self.batch_first_row);
        source_batch.rejects = std::mem::take(&mut self.rejects);
        self.batch_first_row = self.next_row;
        self.rows = 0;
        self.bytes = 0;
        self.sent = true;
        self.tx
            .send(Ok(source_batch))
            .map_err(|_| SourceError::Internal("the batch consumer went away".to_owned()))
    }

    /// Sends what is left; a header with no rows still yields one empty
    /// batch, so the delivery's columns are known.
    fn finish(mut self) -> Result<(), SourceError> {
        if self.rows > 0 || !self.rejects.is_empty() || !self.sent {
            self.flush()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, StringArray};
    use rust_xlsxwriter as xw;
    use std::io::Write;
    use std::path::PathBuf;

    type Rows = Vec<Vec<Option<String>>>;

    fn read(
        path: &Path,
        format: Format,
        options: &SheetOptions,
        batch_rows: usize,
    ) -> Result<Vec<SourceBatch>, SourceError> {
        read_spreadsheet(path, "entrega.xlsx", format, options, batch_rows)?.collect()
    }

    fn names(batch: &SourceBatch) -> Vec<String> {
        let schema = batch.batch.schema();
        schema.fields().iter().map(|f| f.name().clone()).collect()
    }

    fn rows(batches: &[SourceBatch]) -> Rows {
        let mut out = Vec::new();
        for b in batches {
            for i in 0..b.batch.num_rows() {
                let row = b
                    .batch
                    .columns()
                    .iter()
                    .map(|c| {
                        let c = c.as_any().downcast_ref::<StringArray>().unwrap();
                        (!c.is_null(i)).then(|| c.value(i).to_owned())
                    })
                    .collect();
                out.push(row);
            }
        }
        out
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_owned())
    }

    fn save(workbook: &mut xw::Workbook, dir: &tempfile::TempDir, name: &str) -> PathBuf {
        let path = dir.path().join(name);
        workbook.save(&path).unwrap();
        path
    }

    /// An INEP-like indicator file: 9 title rows, a header of codes, data
    /// with `--`, codes stored as numbers, dates, formulas with cached
    /// values (one an error), a blank row and six footer notes.
    fn inep_workbook(dir: &tempfile::TempDir) -> PathBuf {
        let mut wb = xw::Workbook::new();
        let ws = wb.add_worksheet();
        ws.set_name("Municípios").unwrap();
        let title = xw::Format::new().set_bold();
        ws.merge_range(0, 0, 0, 7, "Ministério da Educação", &title)
            .unwrap();
        ws.write_string(
            1,
            0,
            "Instituto Nacional de Estudos e Pesquisas Educacionais Anísio Teixeira",
        )
        .unwrap();
        ws.write_string(3, 0, "Taxas de Rendimento Escolar 2023")
            .unwrap();
        ws.write_string(5, 0, "Municípios").unwrap();
        ws.write_string(7, 0, "Atualizado em 2024").unwrap();
        let header = [
            "NU_ANO_CENSO",
            "NO_REGIAO",
            "SG_UF",
            "CO_MUNICIPIO",
            "NO_MUNICIPIO",
            "DT_REFERENCIA",
            "TX_APROVACAO",
            "TX_CALCULADA",
        ];
        for (c, h) in header.iter().enumerate() {
            ws.write_string(9, c as u16, *h).unwrap();
        }
        let date = xw::Format::new().set_num_format("yyyy-mm-dd");
        let datetime = xw::Format::new().set_num_format("yyyy-mm-dd hh:mm");
        let day = xw::ExcelDateTime::from_ymd(2023, 5, 31).unwrap();
        // Row 11: every kind of value.
        ws.write_number(10, 0, 2023).unwrap();
        ws.write_string(10, 1, "Sudeste").unwrap();
        ws.write_string(10, 2, "SP").unwrap();
        ws.write_number(10, 3, 3550308).unwrap();
        ws.write_string(10, 4, "São Paulo").unwrap();
        ws.write_datetime_with_format(10, 5, &day, &date).unwrap();
        ws.write_number(10, 6, 95.5).unwrap();
        ws.write_formula(10, 7, xw::Formula::new("=G11/100").set_result("0.955"))
            .unwrap();
        // Row 12: a formula whose cached value is an error.
        ws.write_number(11, 0, 2023).unwrap();
        ws.write_string(11, 1, "Norte").unwrap();
        ws.write_string(11, 2, "RO").unwrap();
        ws.write_number(11, 3, 1100015).unwrap();
        ws.write_string(11, 4, "Alta Floresta D'Oeste").unwrap();
        ws.write_datetime_with_format(11, 5, &day, &date).unwrap();
        ws.write_number(11, 6, 12).unwrap();
        ws.write_formula(11, 7, xw::Formula::new("=1/0").set_result("#DIV/0!"))
            .unwrap();
        // Row 13: `--`, a date-time and a formula with no cached value.
        ws.write_number(12, 0, 2023).unwrap();
        ws.write_string(12, 1, "Centro-Oeste").unwrap();
        ws.write_string(12, 2, "DF").unwrap();
        ws.write_number(12, 3, 5300108).unwrap();
        ws.write_string(12, 4, "Brasília").unwrap();
        let moment = day.clone().and_hms(14, 30, 0).unwrap();
        ws.write_datetime_with_format(12, 5, &moment, &datetime)
            .unwrap();
        ws.write_string(12, 6, "--").unwrap();
        ws.write_formula(12, 7, "=G13/100").unwrap();
        // Row 14 blank, then the footer.
        let notes = [
            "Fonte: MEC/Inep/DEED",
            "Notas:",
            "1 - Dados referentes à rede municipal",
            "2 - (--) indica que não houve matrícula",
            "3 - Taxas calculadas sobre a matrícula final",
            "(*) Dados preliminares",
        ];
        for (i, note) in notes.iter().enumerate() {
            ws.write_string(14 + i as u32, 0, *note).unwrap();
        }
        let path = save(&mut wb, dir, "inep.xlsx");
        // rust_xlsxwriter caches 0 for a formula with no result; take the
        // cached value out, as a workbook never recalculated has none.
        rewrite_zip_part(&path, "xl/worksheets/sheet1.xml", |xml| {
            xml.replace("<f>G13/100</f><v>0</v>", "<f>G13/100</f>")
        });
        path
    }

    /// Rewrites one part of a zip file, which must change.
    fn rewrite_zip_part(path: &Path, part: &str, edit: impl Fn(&str) -> String) {
        let mut archive = zip::ZipArchive::new(File::open(path).unwrap()).unwrap();
        let mut parts = Vec::new();
        for i in 0..archive.len() {
            let mut entry = archive.by_index(i).unwrap();
            let name = entry.name().unwrap().into_owned();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            if name == part {
                let text = String::from_utf8(bytes).unwrap();
                let edited = edit(&text);
                assert_ne!(edited, text, "the edit changes {part}");
                bytes = edited.into_bytes();
            }
            parts.push((name, bytes));
        }
        let mut zip = zip::ZipWriter::new(File::create(path).unwrap());
        for (name, bytes) in parts {
            zip.start_file(name, zip::write::SimpleFileOptions::default())
                .unwrap();
            zip.write_all(&bytes).unwrap();
        }
        zip.finish().unwrap();
    }

    #[test]
    fn inep_file_skips_titles_and_footer() {
        let dir = tempfile::tempdir().unwrap();
        let path = inep_workbook(&dir);
        let batches = read(&path, Format::Xlsx, &SheetOptions::default(), 1000).unwrap();
        assert_eq!(batches.len(), 1);
        assert_eq!(
            names(&batches[0]),
            [
                "NU_ANO_CENSO",
                "NO_REGIAO",
                "SG_UF",
                "CO_MUNICIPIO",
                "NO_MUNICIPIO",
                "DT_REFERENCIA",
                "TX_APROVACAO",
                "TX_CALCULADA",
                "planilha"
            ]
        );
        assert_eq!(batches[0].first_row, 1);
        let rows = rows(&batches);
        assert_eq!(
            rows,
            vec![
                vec![
                    s("2023"),
                    s("Sudeste"),
                    s("SP"),
                    s("3550308"),
                    s("São Paulo"),
                    s("2023-05-31"),
                    s("95.5"),
                    s("0.955"),
                    s("Municípios")
                ],
                vec![
                    s("2023"),
                    s("Centro-Oeste"),
                    s("DF"),
                    s("5300108"),
                    s("Brasília"),
                    s("2023-05-31T14:30:00"),
                    None,
                    None,
                    s("Municípios")
                ],
            ]
        );
        let rejects = &batches[0].rejects;
        assert_eq!(rejects.len(), 1);
        assert_eq!(rejects[0].location, "row 12 of sheet Municípios");
        assert_eq!(rejects[0].reason, "cell H12 holds an error value #DIV/0!");
        assert!(rejects[0].content.contains("Alta Floresta"));
        assert!(!rejects[0].reason.contains("Alta"));
    }

    #[test]
    fn header_row_and_skip_footer_can_be_given() {
        let dir = tempfile::tempdir().unwrap();
        let path = inep_workbook(&dir);
        let options = SheetOptions {
            sheet: Some("Municípios".into()),
            header_row: Some(10),
            skip_footer: Some(7),
            missing_values: Some(vec![]),
            ..SheetOptions::default()
        };
        let batches = read(&path, Format::Xlsx, &options, 1000).unwrap();
        let rows = rows(&batches);
        // No `planilha` column for a named sheet; the last 7 non-blank rows
        // (6 notes and the Brasília row) are gone; `--` is kept as text.
        assert_eq!(names(&batches[0]).len(), 8);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0][3], s("3550308"));
        assert_eq!(batches[0].rejects.len(), 1);

        let options = SheetOptions {
            header_row: Some(10),
            skip_footer: Some(0),
            ..SheetOptions::default()
        };
        let all = rows_of(read(&path, Format::Xlsx, &options, 1000).unwrap());
        assert_eq!(all.len(), 8, "two data rows and six notes");
        assert_eq!(all[2][0], s("Fonte: MEC/Inep/DEED"));
        assert_eq!(all[2][1], None);
    }

    fn rows_of(batches: Vec<SourceBatch>) -> Rows {
        rows(&batches)
    }

    #[test]
    fn header_row_pointing_at_a_blank_row_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = inep_workbook(&dir);
        let options = SheetOptions {
            header_row: Some(9),
            ..SheetOptions::default()
        };
        let err = read(&path, Format::Xlsx, &options, 1000)
            .unwrap_err()
            .to_string();
        assert!(err.contains("sheet \"Municípios\""), "{err}");
        assert!(err.contains("row 9"), "{err}");
    }

    #[test]
    fn note_like_rows_followed_by_data_are_data() {
        let dir = tempfile::tempdir().unwrap();
        let mut wb = xw::Workbook::new();
        let ws = wb.add_worksheet();
        ws.write_row(0, 0, ["nome", "idade"]).unwrap();
        ws.write_row(1, 0, ["Ana", "30"]).unwrap();
        // Blank row 3, then a row with only a name, then a full row.
        ws.write_string(3, 0, "Bruno").unwrap();
        ws.write_row(4, 0, ["Carla", "41"]).unwrap();
        ws.write_string(6, 0, "Fonte: secretaria").unwrap();
        let path = save(&mut wb, &dir, "x.xlsx");
        let rows = rows_of(read(&path, Format::Xlsx, &SheetOptions::default(), 10).unwrap());
        let names: Vec<_> = rows.iter().map(|r| r[0].clone()).collect();
        assert_eq!(names, [s("Ana"), s("Bruno"), s("Carla")]);
    }

    #[test]
    fn batches_have_the_right_first_rows() {
        let dir = tempfile::tempdir().unwrap();
        let mut wb = xw::Workbook::new();
        let ws = wb.add_worksheet();
        ws.write_row(0, 0, ["n", "dobro"]).unwrap();
        for i in 1..=5u32 {
            ws.write_number(i, 0, i).unwrap();
            ws.write_number(i, 1, f64::from(i) * 2.0).unwrap();
        }
        let path = save(&mut wb, &dir, "x.xlsx");
        let batches = read(&path, Format::Xlsx, &SheetOptions::default(), 2).unwrap();
        let firsts: Vec<u64> = batches.iter().map(|b| b.first_row).collect();
        assert_eq!(firsts, [1, 3, 5]);
        let sizes: Vec<usize> = batches.iter().map(|b| b.batch.num_rows()).collect();
        assert_eq!(sizes, [2, 2, 1]);
        assert_eq!(rows(&batches)[4][..2], [s("5"), s("10")]);
    }

    #[test]
    fn merged_header_cells_are_filled() {
        let dir = tempfile::tempdir().unwrap();
        let mut wb = xw::Workbook::new();
        let ws = wb.add_worksheet();
        let plain = xw::Format::new();
        // Two header rows: A and B merged down, C:D merged across.
        ws.merge_range(0, 0, 1, 0, "Ano", &plain).unwrap();
        ws.merge_range(0, 1, 1, 1, "Município", &plain).unwrap();
        ws.merge_range(0, 2, 0, 3, "Taxa de aprovação", &plain)
            .unwrap();
        ws.write_row(1, 2, ["1º ano", "2º ano"]).unwrap();
        ws.write_row(2, 0, ["2023", "Rio Branco", "90", "91"])
            .unwrap();
        // A merged data cell: only its top-left holds the value.
        ws.merge_range(3, 0, 4, 0, "2024", &plain).unwrap();
        ws.write_row(3, 1, ["Xapuri", "80", "81"]).unwrap();
        ws.write_row(4, 1, ["Bujari", "70", "71"]).unwrap();
        let path = save(&mut wb, &dir, "x.xlsx");

        let options = SheetOptions {
            header_row: Some(2),
            ..SheetOptions::default()
        };
        let batches = read(&path, Format::Xlsx, &options, 10).unwrap();
        assert_eq!(
            names(&batches[0]),
            ["Ano", "Município", "1º ano", "2º ano", "planilha"]
        );
        let rows = rows(&batches);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1][0], s("2024"));
        assert_eq!(rows[2][0], None, "merged data cells are not copied");

        // Detected, the first row is the header; across a merge, the
        // range's name is repeated and made unique.
        let batches = read(&path, Format::Xlsx, &SheetOptions::default(), 10).unwrap();
        assert_eq!(
            names(&batches[0]),
            [
                "Ano",
                "Município",
                "Taxa de aprovação",
                "Taxa de aprovação_2",
                "planilha"
            ]
        );
    }

    fn two_sheet_workbook(dir: &tempfile::TempDir, second_header: [&str; 2]) -> PathBuf {
        let mut wb = xw::Workbook::new();
        let ws = wb.add_worksheet();
        ws.set_name("2022").unwrap();
        ws.write_row(0, 0, ["codigo", "obitos"]).unwrap();
        ws.write_row(1, 0, ["120001", "3"]).unwrap();
        ws.write_row(2, 0, ["120010", "5"]).unwrap();
        wb.add_worksheet().set_name("vazia").unwrap();
        let ws = wb.add_worksheet();
        ws.set_name("2023").unwrap();
        ws.write_row(0, 0, second_header).unwrap();
        ws.write_row(1, 0, ["120001", "4"]).unwrap();
        save(&mut wb, dir, "x.xlsx")
    }

    #[test]
    fn every_sheet_is_read_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = two_sheet_workbook(&dir, ["codigo", "obitos"]);
        let batches = read(&path, Format::Xlsx, &SheetOptions::default(), 2).unwrap();
        assert_eq!(names(&batches[0]), ["codigo", "obitos", "planilha"]);
        assert_eq!(
            rows(&batches),
            vec![
                vec![s("120001"), s("3"), s("2022")],
                vec![s("120010"), s("5"), s("2022")],
                vec![s("120001"), s("4"), s("2023")],
            ]
        );
        let firsts: Vec<u64> = batches.iter().map(|b| b.first_row).collect();
        assert_eq!(firsts, [1, 3]);

        let one = SheetOptions {
            sheet: Some("2023".into()),
            ..SheetOptions::default()
        };
        let batches = read(&path, Format::Xlsx, &one, 10).unwrap();
        assert_eq!(rows(&batches), vec![vec![s("120001"), s("4")]]);
    }

    #[test]
    fn sheets_with_different_headers_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = two_sheet_workbook(&dir, ["codigo", "nascimentos"]);
        let err = read(&path, Format::Xlsx, &SheetOptions::default(), 10)
            .unwrap_err()
            .to_string();
        assert!(err.contains("sheet \"2023\""), "{err}");
        assert!(err.contains("\"2022\""), "{err}");
        assert!(err.contains("column 2"), "{err}");
    }

    #[test]
    fn an_unknown_sheet_lists_the_sheets() {
        let dir = tempfile::tempdir().unwrap();
        let path = two_sheet_workbook(&dir, ["codigo", "obitos"]);
        let options = SheetOptions {
            sheet: Some("2024".into()),
            ..SheetOptions::default()
        };
        let err = read(&path, Format::Xlsx, &options, 10)
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"2024\""), "{err}");
        assert!(err.contains("\"2022\", \"vazia\", \"2023\""), "{err}");

        let empty = SheetOptions {
            sheet: Some("vazia".into()),
            ..SheetOptions::default()
        };
        let err = read(&path, Format::Xlsx, &empty, 10)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no rows"), "{err}");
    }

    #[test]
    fn values_outside_the_header_reject_the_row() {
        let dir = tempfile::tempdir().unwrap();
        let mut wb = xw::Workbook::new();
        let ws = wb.add_worksheet();
        ws.write_row(0, 0, ["cpf", "nome"]).unwrap();
        ws.write_row(1, 0, ["52998224725", "Ana"]).unwrap();
        ws.write_row(2, 0, ["11144477735", "Bia", "SEGREDO"])
            .unwrap();
        let path = save(&mut wb, &dir, "x.xlsx");
        let batches = read(&path, Format::Xlsx, &SheetOptions::default(), 10).unwrap();
        assert_eq!(rows(&batches).len(), 1);
        let reject = &batches[0].rejects[0];
        assert_eq!(
            reject.reason,
            "cell C3 lies outside the header's columns A:B"
        );
        assert_eq!(reject.content, "11144477735\tBia\tSEGREDO");
        assert!(!reject.reason.contains("SEGREDO") && !reject.location.contains("Bia"));
    }

    #[test]
    fn a_sheet_without_a_header_like_row_asks_for_header_row() {
        let dir = tempfile::tempdir().unwrap();
        let mut wb = xw::Workbook::new();
        let ws = wb.add_worksheet();
        for r in 0..3u32 {
            ws.write_number(r, 0, r).unwrap();
            ws.write_number(r, 1, r).unwrap();
        }
        let path = save(&mut wb, &dir, "x.xlsx");
        let err = read(&path, Format::Xlsx, &SheetOptions::default(), 10)
            .unwrap_err()
            .to_string();
        assert!(err.contains("sheet.header_row"), "{err}");
        let options = SheetOptions {
            header_row: Some(1),
            ..SheetOptions::default()
        };
        let batches = read(&path, Format::Xlsx, &options, 10).unwrap();
        assert_eq!(names(&batches[0]), ["0", "0_2", "planilha"]);
        assert_eq!(rows(&batches).len(), 2);
    }

    #[test]
    fn cells_past_the_last_column_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut wb = xw::Workbook::new();
        wb.add_worksheet().write_row(0, 0, ["a", "b"]).unwrap();
        let path = save(&mut wb, &dir, "x.xlsx");
        rewrite_zip_part(&path, "xl/worksheets/sheet1.xml", |xml| {
            xml.replace("r=\"B1\"", "r=\"XFE1\"")
        });
        let err = read(&path, Format::Xlsx, &SheetOptions::default(), 10)
            .unwrap_err()
            .to_string();
        assert!(err.contains("past the sheet's last cell"), "{err}");
        assert!(err.contains("after cell A1"), "{err}");
    }

    #[test]
    fn a_header_without_rows_yields_an_empty_batch() {
        let dir = tempfile::tempdir().unwrap();
        let mut wb = xw::Workbook::new();
        wb.add_worksheet().write_row(0, 0, ["a", "b"]).unwrap();
        let path = save(&mut wb, &dir, "x.xlsx");
        let batches = read(&path, Format::Xlsx, &SheetOptions::default(), 10).unwrap();
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0].batch.num_rows(), 0);
        assert_eq!(names(&batches[0]), ["a", "b", "planilha"]);
    }

    #[test]
    fn files_over_the_limit_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = inep_workbook(&dir);
        let options = SheetOptions {
            max_bytes: Some(1000),
            ..SheetOptions::default()
        };
        let err = read(&path, Format::Xlsx, &options, 10)
            .unwrap_err()
            .to_string();
        assert!(err.contains("over the limit of 1000"), "{err}");
    }

    /// A small zip whose one part inflates to 4 MiB: past a 1 MiB limit.
    #[test]
    fn zip_bombs_are_refused_before_inflating() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bomba.xlsx");
        let mut zip = zip::ZipWriter::new(File::create(&path).unwrap());
        let deflated = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        zip.start_file("xl/worksheets/sheet1.xml", deflated)
            .unwrap();
        let chunk = vec![b' '; 1024 * 1024];
        for _ in 0..4 {
            zip.write_all(&chunk).unwrap();
        }
        zip.finish().unwrap();
        let file_size = std::fs::metadata(&path).unwrap().len();
        assert!(file_size < 64 * 1024, "{file_size}");
        let options = SheetOptions {
            max_bytes: Some(1024 * 1024),
            ..SheetOptions::default()
        };
        let err = read(&path, Format::Xlsx, &options, 10)
            .unwrap_err()
            .to_string();
        assert!(err.contains("zip bomb"), "{err}");
        assert!(err.contains("4194304"), "{err}");
    }

    #[test]
    fn a_text_file_named_xlsx_is_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("planilha.xlsx");
        std::fs::write(&path, "cpf;nome\n52998224725;Ana\n").unwrap();
        let err = read(&path, Format::Xlsx, &SheetOptions::default(), 10)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("entrega.xlsx: is not a readable XLSX file"),
            "{err}"
        );
        assert!(err.contains("not a zip container"), "{err}");
        assert!(!err.contains("52998224725"));

        // A zip that is not a workbook.
        let path = dir.path().join("outro.xlsx");
        let mut zip = zip::ZipWriter::new(File::create(&path).unwrap());
        zip.start_file("leia-me.txt", zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(b"nada").unwrap();
        zip.finish().unwrap();
        let err = read(&path, Format::Xlsx, &SheetOptions::default(), 10)
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not a readable XLSX file"), "{err}");

        // The same bytes read as XLS (a CFB container is expected).
        let err = read(&path, Format::Xls, &SheetOptions::default(), 10)
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not a readable XLS file"), "{err}");
    }

    fn ods_file(dir: &tempfile::TempDir, table_rows: &str) -> PathBuf {
        let path = dir.path().join("x.ods");
        let mut zip = zip::ZipWriter::new(File::create(&path).unwrap());
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        let deflated = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        zip.start_file("mimetype", stored).unwrap();
        zip.write_all(b"application/vnd.oasis.opendocument.spreadsheet")
            .unwrap();
        zip.start_file("META-INF/manifest.xml", deflated).unwrap();
        zip.write_all(
            br#"<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>"#,
        )
        .unwrap();
        zip.start_file("content.xml", deflated).unwrap();
        write!(
            zip,
            r#"<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body><office:spreadsheet><table:table table:name="Dados">{table_rows}</table:table></office:spreadsheet></office:body></office:document-content>"#
        )
        .unwrap();
        zip.finish().unwrap();
        path
    }

    fn ods_text(t: &str) -> String {
        format!(
            r#"<table:table-cell office:value-type="string"><text:p>{t}</text:p></table:table-cell>"#
        )
    }

    #[test]
    fn ods_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let table = [
            format!("<table:table-row>{}</table:table-row>", ods_text("Secretaria de Saúde")),
            format!(
                "<table:table-row>{}{}{}</table:table-row>",
                ods_text("codigo"),
                ods_text("taxa"),
                ods_text("data")
            ),
            r#"<table:table-row><table:table-cell office:value-type="float" office:value="3550308"><text:p>3550308</text:p></table:table-cell><table:table-cell office:value-type="float" office:value="12.5"><text:p>12,5</text:p></table:table-cell><table:table-cell office:value-type="date" office:date-value="2023-05-31"><text:p>31/05/2023</text:p></table:table-cell></table:table-row>"#.to_owned(),
            format!(
                r#"<table:table-row table:number-rows-repeated="2">{}{}</table:table-row>"#,
                ods_text("1200401"),
                ods_text("--")
            ),
            // LibreOffice's filler to the end of the sheet.
            r#"<table:table-row table:number-rows-repeated="1048570"><table:table-cell table:number-columns-repeated="1024"/></table:table-row>"#.to_owned(),
        ]
        .concat();
        let path = ods_file(&dir, &table);
        let batches = read(&path, Format::Ods, &SheetOptions::default(), 10).unwrap();
        assert_eq!(names(&batches[0]), ["codigo", "taxa", "data", "planilha"]);
        assert_eq!(
            rows(&batches),
            vec![
                vec![s("3550308"), s("12.5"), s("2023-05-31"), s("Dados")],
                vec![s("1200401"), None, None, s("Dados")],
                vec![s("1200401"), None, None, s("Dados")],
            ]
        );
    }

    #[test]
    fn ods_repetition_bombs_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        // A few hundred bytes that expand to 16,384 × 1,000,000 cells.
        let table = format!(
            r#"<table:table-row>{}{}</table:table-row><table:table-row table:number-rows-repeated="1000000"><table:table-cell office:value-type="string" table:number-columns-repeated="16384"><text:p>x</text:p></table:table-cell></table:table-row>"#,
            ods_text("a"),
            ods_text("b")
        );
        let path = ods_file(&dir, &table);
        let err = read(&path, Format::Ods, &SheetOptions::default(), 10)
            .unwrap_err()
            .to_string();
        assert!(err.contains("repeated"), "{err}");
    }

    #[test]
    fn ods_estimate_ignores_trailing_filler_but_counts_gaps() {
        let mut estimate = OdsExpansion::default();
        let mut scanner = XmlTagScanner::default();
        let filler = r#"<table:table-row table:number-rows-repeated="1048000"><table:table-cell table:number-columns-repeated="1024"/></table:table-row>"#;
        let row = format!(
            "<table:table-row>{}{}</table:table-row>",
            ods_text("a"),
            ods_text("b")
        );
        scanner.feed(format!("{row}{filler}").as_bytes(), &mut estimate);
        assert_eq!(estimate.bytes(), 2 * ODS_CELL_BYTES + 2);
        // The same filler between two rows with values costs full rows.
        scanner.feed(row.as_bytes(), &mut estimate);
        assert!(estimate.bytes() > 1_048_000 * 2 * ODS_CELL_BYTES);
        // Fed in pieces, the scanner gives the same estimate.
        let mut pieces = OdsExpansion::default();
        let mut scanner = XmlTagScanner::default();
        let text = format!("{row}{filler}{row}");
        for chunk in text.as_bytes().chunks(7) {
            scanner.feed(chunk, &mut pieces);
        }
        assert_eq!(pieces.bytes(), estimate.bytes());
    }

    #[test]
    fn numbers_print_shortest_and_without_dot_zero() {
        assert_eq!(number_text(12.0), "12");
        assert_eq!(number_text(12.5), "12.5");
        assert_eq!(number_text(3_550_308.0), "3550308");
        assert_eq!(number_text(-0.0), "0");
        assert_eq!(number_text(0.1), "0.1");
        assert_eq!(number_text(-7.25), "-7.25");
        assert_eq!(number_text(1e16), "10000000000000000");
        assert_eq!(number_text(0.000001), "0.000001");
    }

    #[test]
    fn dates_print_as_iso_8601() {
        use calamine::ExcelDateTimeType::{DateTime, TimeDelta};
        let at = |v: f64| datetime_text(&ExcelDateTime::new(v, DateTime, false));
        assert_eq!(at(45077.0), "2023-05-31");
        assert_eq!(at(45077.5), "2023-05-31T12:00:00");
        assert_eq!(at(0.75), "18:00:00");
        assert_eq!(at(45077.0 + 1.5 / 86_400.0), "2023-05-31T00:00:01.500");
        let span = |v: f64| datetime_text(&ExcelDateTime::new(v, TimeDelta, false));
        assert_eq!(span(1.5), "PT36H0M0S");
        assert_eq!(span(-0.25), "-PT6H0M0S");
    }

    #[test]
    fn column_names_follow_a1_notation() {
        assert_eq!(cell_name(0, 0), "A1");
        assert_eq!(cell_name(11, 25), "Z12");
        assert_eq!(cell_name(0, 26), "AA1");
        assert_eq!(cell_name(0, 16_383), "XFD1");
    }

    #[test]
    fn options_are_checked() {
        let options: SheetOptions = toml::from_str(
            "sheet = \"Municípios\"\nheader_row = 10\nskip_footer = 6\nmissing_values = [\"--\", \"...\"]\nmax_bytes = 1048576\n",
        )
        .unwrap();
        assert!(options.problems().is_empty());
        assert_eq!(options.missing_values(), ["--", "..."]);
        assert!(toml::from_str::<SheetOptions>("planilha = \"x\"").is_err());
        let bad = SheetOptions {
            sheet: Some(String::new()),
            header_row: Some(0),
            skip_footer: Some(MAX_SKIP_FOOTER + 1),
            max_bytes: Some(0),
            ..SheetOptions::default()
        };
        assert_eq!(bad.problems().len(), 4);
        assert!(matches!(
            read_spreadsheet(Path::new("/nao/existe.xlsx"), "x.xlsx", Format::Xlsx, &bad, 10),
            Err(SourceError::Config(p)) if p.len() == 4
        ));
        assert_eq!(SheetOptions::default().missing_values(), ["--"]);
    }
}
