//! Size limits checked before a workbook is opened: the file's size, the
//! uncompressed sizes its zip parts declare, and an ODS file's sheets once
//! repeated rows and cells are expanded.

use super::{MAX_COLUMNS, ODS_CELL_BYTES, ODS_EXPANSION_FACTOR};
use crate::SourceError;
use crate::formats::Format;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

pub(super) fn check_file_size(path: &Path, name: &str, max_bytes: u64) -> Result<(), SourceError> {
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

pub(super) fn format_label(format: Format) -> &'static str {
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
pub(super) fn check_zip_sizes(
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

// ------------------------------------------------------------ ODS expansion

/// Estimates, from `content.xml`, the memory calamine will take to hold
/// every sheet of an ODS file once rows and cells marked as repeated are
/// expanded, and refuses the file when it passes `budget` bytes.
///
/// The estimate follows calamine: trailing empty cells and trailing empty
/// rows (LibreOffice's "repeat to the end of the sheet" filler) cost
/// nothing; empty rows between rows with values cost a full row each.
pub(super) fn check_ods_expansion(path: &Path, name: &str, budget: u64) -> Result<(), SourceError> {
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
pub(super) struct OdsExpansion {
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
    pub(super) fn bytes(&self) -> u64 {
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
pub(super) struct XmlTagScanner {
    in_tag: bool,
    quote: Option<u8>,
    tag: Vec<u8>,
}

/// Tags longer than this are cut; the attributes looked for come early.
const TAG_KEEP_BYTES: usize = 4096;

impl XmlTagScanner {
    pub(super) fn feed(&mut self, bytes: &[u8], estimate: &mut OdsExpansion) {
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
