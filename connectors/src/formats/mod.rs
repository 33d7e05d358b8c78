//! File formats. Each reader turns one local file (or a decompressed stream
//! of one) into batches, in bounded memory.
//!
//! Readers of text formats yield `Utf8` columns holding the values as
//! delivered, decoded to UTF-8, with an absent value as null; they never
//! guess types (the contract check does that, with the contract's formats).
//! Column names are as in the input; duplicates and blanks get a suffix or a
//! generated name (`coluna_3`) so that every column can be addressed.

mod blast;
pub mod csv;
pub mod dbf;
pub mod json;
pub mod parquet;
pub mod spreadsheet;

use crate::SourceError;
use arrow::array::RecordBatch;
use serde::Deserialize;
use std::path::Path;

/// Field metadata key set by readers on text columns whose values were
/// rendered from typed storage (spreadsheet numbers and dates, DBF `N`/`D`
/// fields, JSON numbers): `.` decimals and ISO or `YYYYMMDD` dates, whatever
/// the provider's locale. The contract check falls back to that canonical
/// form when the contract's own formats do not parse such a value.
pub const CANONICAL_TEXT: &str = "lagoa:canonical_text";

/// A text field marked as holding canonical renderings of typed values.
pub fn canonical_text_field(name: &str) -> arrow::datatypes::Field {
    arrow::datatypes::Field::new(name, arrow::datatypes::DataType::Utf8, true).with_metadata(
        std::collections::HashMap::from([(CANONICAL_TEXT.to_owned(), "true".to_owned())]),
    )
}

/// A batch and the position of its first row in the delivery.
#[derive(Debug)]
pub struct SourceBatch {
    pub batch: RecordBatch,
    /// 1-based number of the batch's first data row in the delivery (header
    /// rows not counted). Errors about row `i` of the batch name row
    /// `first_row + i`.
    pub first_row: u64,
    /// Rows of this stretch of input that could not be split into the
    /// header's columns (ragged, over-long, undecodable). They are not in
    /// `batch`; the contract check sends them to quarantine, so a few bad
    /// lines do not cost the whole delivery.
    pub rejects: Vec<RowReject>,
    /// For line-based formats: the input line each row of `batch` starts
    /// on, so that messages say `line 1234` as the provider's editor does.
    pub lines: Option<Vec<u64>>,
    /// The archive member the rows come from, when a delivery is a zip of
    /// several files: messages say `obitos_02.csv line 12`.
    pub member: Option<String>,
}

impl SourceBatch {
    pub fn new(batch: RecordBatch, first_row: u64) -> Self {
        SourceBatch {
            batch,
            first_row,
            rejects: Vec::new(),
            lines: None,
            member: None,
        }
    }

    /// Where row `i` of the batch is, in the provider's terms.
    pub fn location(&self, i: usize) -> String {
        let at = match &self.lines {
            Some(lines) if i < lines.len() => format!("line {}", lines[i]),
            _ => format!("row {}", self.first_row + i as u64),
        };
        match &self.member {
            Some(member) => format!("{member} {at}"),
            None => at,
        }
    }
}

/// A row the reader could not turn into columns.
#[derive(Clone, Debug)]
pub struct RowReject {
    /// Where it is: `line 12`, `record 40`, `row 7 of sheet Plan1`.
    pub location: String,
    /// Why, naming no value.
    pub reason: String,
    /// The row as delivered (decoded as far as possible, at most a few KiB):
    /// it goes to quarantine, encrypted, never to logs.
    pub content: String,
}

/// A stream of batches. Sync by design: parsing is CPU work that runs on a
/// blocking thread, beside the encoder; async sources (databases, APIs)
/// feed it through a bounded channel.
pub type Batches = Box<dyn Iterator<Item = Result<SourceBatch, SourceError>> + Send>;

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Tsv,
    Json,
    Ndjson,
    Xlsx,
    Xls,
    Ods,
    Dbf,
    Dbc,
    Parquet,
}

impl Format {
    /// The format a file name's extension says (ignoring `.gz`).
    pub fn from_file_name(name: &str) -> Option<Format> {
        let lower = name.to_ascii_lowercase();
        let lower = lower.strip_suffix(".gz").unwrap_or(&lower);
        let ext = lower.rsplit_once('.')?.1;
        Some(match ext {
            "csv" | "txt" => Format::Csv,
            "tsv" | "tab" => Format::Tsv,
            "json" => Format::Json,
            "ndjson" | "jsonl" => Format::Ndjson,
            "xlsx" | "xlsm" => Format::Xlsx,
            "xls" => Format::Xls,
            "ods" => Format::Ods,
            "dbf" => Format::Dbf,
            "dbc" => Format::Dbc,
            "parquet" | "pq" => Format::Parquet,
            _ => return None,
        })
    }

    /// Can be read front to back as bytes arrive (spreadsheets and Parquet
    /// need the whole file).
    pub fn streams(self) -> bool {
        !matches!(
            self,
            Format::Xlsx | Format::Xls | Format::Ods | Format::Parquet
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Tsv => "tsv",
            Format::Json => "json",
            Format::Ndjson => "ndjson",
            Format::Xlsx => "xlsx",
            Format::Xls => "xls",
            Format::Ods => "ods",
            Format::Dbf => "dbf",
            Format::Dbc => "dbc",
            Format::Parquet => "parquet",
        }
    }
}

/// Options per format; each reader reads its own table.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormatOptions {
    #[serde(default)]
    pub csv: csv::CsvOptions,
    #[serde(default)]
    pub sheet: spreadsheet::SheetOptions,
    #[serde(default)]
    pub json: json::JsonOptions,
    #[serde(default)]
    pub dbf: dbf::DbfOptions,
}

impl FormatOptions {
    pub fn problems(&self) -> Vec<String> {
        let mut problems = self.csv.problems();
        problems.extend(self.dbf.problems());
        problems.extend(self.sheet.problems());
        problems.extend(self.json.problems());
        problems
    }
}

/// Reads one local file. `name` is how messages name it (the delivered
/// file's name, never a full path with a user's home in it).
pub fn read_file(
    path: &Path,
    name: &str,
    format: Format,
    options: &FormatOptions,
    batch_rows: usize,
) -> Result<Batches, SourceError> {
    let open = || open_stream(path, name);
    if crate::file::is_zip(name)
        && matches!(
            format,
            Format::Xlsx | Format::Xls | Format::Ods | Format::Parquet
        )
    {
        return Err(SourceError::input(
            name,
            format!(
                "a {} inside a zip cannot be streamed; deliver it unzipped",
                format.name()
            ),
        ));
    }
    if crate::file::is_zip(name) {
        let members = crate::file::zip_member_names(path, name, None)?;
        if members.len() > 1 {
            return Ok(Box::new(ZipMembers::new(
                path, name, format, options, batch_rows, members,
            )));
        }
    }
    read_stream_format(open()?, Some(path), name, format, options, batch_rows)
}

/// Reads `input` in `format`; spreadsheets and Parquet need the whole
/// file, so only with its `path`.
fn read_stream_format(
    input: Box<dyn std::io::Read + Send>,
    path: Option<&Path>,
    name: &str,
    format: Format,
    options: &FormatOptions,
    batch_rows: usize,
) -> Result<Batches, SourceError> {
    match (format, path) {
        (Format::Csv, _) => csv::read_csv(input, name, &options.csv, None, batch_rows),
        (Format::Tsv, _) => csv::read_csv(input, name, &options.csv, Some(b'\t'), batch_rows),
        (Format::Json, _) => json::read_json(input, name, &options.json, false, batch_rows),
        (Format::Ndjson, _) => json::read_json(input, name, &options.json, true, batch_rows),
        (Format::Dbf, _) => dbf::read_dbf(input, name, &options.dbf, batch_rows),
        (Format::Dbc, _) => dbf::read_dbc(input, name, &options.dbf, batch_rows),
        (Format::Xlsx | Format::Xls | Format::Ods, Some(path)) => {
            spreadsheet::read_spreadsheet(path, name, format, &options.sheet, batch_rows)
        }
        (Format::Parquet, Some(path)) => parquet::read_parquet(path, name, batch_rows),
        (other, None) => Err(SourceError::input(
            name,
            format!("a {} delivery cannot be read as a stream", other.name()),
        )),
    }
}

/// A zip of several files read as one delivery: each member with its own
/// reader (its own header, its own end mark), in name order, its rows
/// numbered after the previous member's and located by member name. Every
/// member must have the first member's columns.
struct ZipMembers {
    path: std::path::PathBuf,
    name: String,
    format: Format,
    options: FormatOptions,
    batch_rows: usize,
    pending: std::collections::VecDeque<String>,
    current: Option<(String, Batches)>,
    /// The first member and its column names.
    columns: Option<(String, Vec<String>)>,
    /// Whether the current member's first batch was checked.
    checked: bool,
    rows_before: u64,
    rows_in_member: u64,
    failed: bool,
}

impl ZipMembers {
    fn new(
        path: &Path,
        name: &str,
        format: Format,
        options: &FormatOptions,
        batch_rows: usize,
        members: Vec<String>,
    ) -> Self {
        ZipMembers {
            path: path.to_owned(),
            name: name.to_owned(),
            format,
            options: options.clone(),
            batch_rows,
            pending: members.into(),
            current: None,
            columns: None,
            checked: false,
            rows_before: 0,
            rows_in_member: 0,
            failed: false,
        }
    }

    fn open_next(&mut self) -> Option<Result<(), SourceError>> {
        let member = self.pending.pop_front()?;
        let shown = format!("{}:{member}", self.name);
        let opened = crate::file::open_zip_members(&self.path, &self.name, vec![member.clone()])
            .and_then(|input| {
                read_stream_format(
                    input,
                    Some(&self.path),
                    &shown,
                    self.format,
                    &self.options,
                    self.batch_rows,
                )
            });
        Some(opened.map(|batches| {
            self.rows_before += self.rows_in_member;
            self.rows_in_member = 0;
            self.checked = false;
            self.current = Some((member, batches));
        }))
    }

    fn check_columns(&mut self, member: &str, batch: &SourceBatch) -> Result<(), SourceError> {
        let names: Vec<String> = batch
            .batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        match &self.columns {
            None => {
                self.columns = Some((member.to_owned(), names));
                Ok(())
            }
            Some((first, expected)) if *expected != names => {
                // Positions and counts only: a member without a header would
                // show its first row, data, as names.
                let differs = expected
                    .iter()
                    .zip(&names)
                    .position(|(a, b)| a != b)
                    .unwrap_or(expected.len().min(names.len()))
                    + 1;
                Err(SourceError::input(
                    format!("{}:{member}", self.name),
                    format!(
                        "has {} column(s) where {first} has {}, differing from column {differs} on; every file of an archive must have the same columns, each with its header",
                        names.len(),
                        expected.len()
                    ),
                ))
            }
            Some(_) => Ok(()),
        }
    }
}

/// A reader that makes one batch at a time; `None` at the end.
pub(crate) trait NextBatch {
    fn next_batch(&mut self) -> Result<Option<SourceBatch>, SourceError>;
}

/// The batches of a [`NextBatch`] reader, ending after its first error
/// (a reader that failed mid-record cannot be trusted to go on).
pub(crate) struct UntilError<R> {
    reader: R,
    failed: bool,
}

impl<R> UntilError<R> {
    pub(crate) fn new(reader: R) -> Self {
        UntilError {
            reader,
            failed: false,
        }
    }
}

impl<R: NextBatch> Iterator for UntilError<R> {
    type Item = Result<SourceBatch, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.reader.next_batch() {
            Ok(batch) => batch.map(Ok),
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

impl Iterator for ZipMembers {
    type Item = Result<SourceBatch, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            if self.current.is_none() {
                match self.open_next()? {
                    Ok(()) => {}
                    Err(e) => {
                        self.failed = true;
                        return Some(Err(e));
                    }
                }
            }
            let Some((member, batches)) = self.current.as_mut() else {
                continue;
            };
            let member = member.clone();
            match batches.next() {
                None => self.current = None,
                Some(Err(e)) => {
                    self.failed = true;
                    return Some(Err(e));
                }
                Some(Ok(mut batch)) => {
                    if !self.checked && batch.batch.num_columns() > 0 {
                        if let Err(e) = self.check_columns(&member, &batch) {
                            self.failed = true;
                            return Some(Err(e));
                        }
                        self.checked = true;
                    }
                    let last = (batch.first_row + batch.batch.num_rows() as u64).saturating_sub(1);
                    self.rows_in_member = self.rows_in_member.max(last);
                    batch.first_row += self.rows_before;
                    for reject in &mut batch.rejects {
                        reject.location = format!("{member} {}", reject.location);
                    }
                    batch.member = Some(member);
                    return Some(Ok(batch));
                }
            }
        }
    }
}

/// Reads a delivery from a byte stream (a raw-zone copy being decrypted).
/// Only streaming formats can: spreadsheets and Parquet need the whole file.
pub fn read_stream(
    input: Box<dyn std::io::Read + Send>,
    name: &str,
    format: Format,
    options: &FormatOptions,
    batch_rows: usize,
) -> Result<Batches, SourceError> {
    let input: Box<dyn std::io::Read + Send> = if name.to_ascii_lowercase().ends_with(".gz") {
        Box::new(flate2::read::MultiGzDecoder::new(std::io::BufReader::new(
            input,
        )))
    } else {
        input
    };
    read_stream_format(input, None, name, format, options, batch_rows)
}

/// Opens a file for streaming, decompressing `.gz` and `.zip` on the fly.
pub fn open_stream(path: &Path, name: &str) -> Result<Box<dyn std::io::Read + Send>, SourceError> {
    if crate::file::is_zip(name) {
        return crate::file::open_zip_stream(path, name, None);
    }
    let file = std::fs::File::open(path)
        .map_err(|e| SourceError::input(name, format!("cannot open: {}", e.kind())))?;
    let reader = std::io::BufReader::with_capacity(1 << 20, file);
    if name.to_ascii_lowercase().ends_with(".gz") {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(reader)))
    } else {
        Ok(Box::new(reader))
    }
}

/// Field metadata on a column whose header name repeats an earlier
/// column's: the name as the header wrote it. The run's report warns, and
/// a delivery under a contract is refused.
pub const REPEATS_COLUMN: &str = "lagoa.repeats_column";

/// `field`, marked as repeating `original` when `unique_names` had to
/// rename it.
pub fn mark_repeated(field: arrow::datatypes::Field, original: &str) -> arrow::datatypes::Field {
    let original = original.trim();
    if original.is_empty() || field.name() == original {
        return field;
    }
    let mut metadata = field.metadata().clone();
    metadata.insert(REPEATS_COLUMN.to_owned(), original.to_owned());
    field.with_metadata(metadata)
}

/// The columns of `schema` renamed because their header name repeats an
/// earlier one: (name given, name in the header).
pub fn repeated_columns(schema: &arrow::datatypes::Schema) -> Vec<(String, String)> {
    schema
        .fields()
        .iter()
        .filter_map(|f| {
            f.metadata()
                .get(REPEATS_COLUMN)
                .map(|original| (f.name().clone(), original.clone()))
        })
        .collect()
}

/// Column names for a header: trimmed, blanks named `coluna_<n>` (1-based),
/// repeats suffixed `_2`, `_3`, ...
pub fn unique_names<I: IntoIterator<Item = String>>(names: I) -> Vec<String> {
    let mut seen = std::collections::HashMap::<String, usize>::new();
    names
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let name = name.trim().to_owned();
            let name = if name.is_empty() {
                format!("coluna_{}", i + 1)
            } else {
                name
            };
            let count = seen.entry(name.clone()).or_insert(0);
            *count += 1;
            if *count == 1 {
                name
            } else {
                format!("{name}_{count}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_from_names() {
        assert_eq!(Format::from_file_name("DOAC2016.dbc"), Some(Format::Dbc));
        assert_eq!(Format::from_file_name("x.CSV.gz"), Some(Format::Csv));
        assert_eq!(Format::from_file_name("x.jsonl"), Some(Format::Ndjson));
        assert_eq!(Format::from_file_name("README"), None);
    }

    #[test]
    fn names_are_unique_and_never_blank() {
        assert_eq!(
            unique_names(["a".into(), " ".into(), "a".into(), "b ".into()]),
            vec!["a", "coluna_2", "a_2", "b"]
        );
    }
}
