//! CSV and TSV as municipalities export them: UTF-8 (with or without BOM),
//! Latin-1 or Windows-1252; `;`, `,`, tab or `|`; a header line or none.
//!
//! The reader works on `csv-core` directly so that it controls every buffer:
//! a record larger than `max_record_bytes` (an unclosed quote, a 1 GiB line)
//! is rejected without being held, and a row with the wrong number of
//! fields becomes a [`RowReject`] naming its line instead of failing the
//! delivery.

use crate::formats::{NextBatch, RowReject, SourceBatch, UntilError, unique_names};
use crate::{Batches, SourceError};
use arrow::array::{ArrayRef, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use csv_core::{ReadRecordResult, Reader as CoreReader, ReaderBuilder};
use encoding_rs::{Encoding, UTF_8, WINDOWS_1252};
use serde::Deserialize;
use std::io::Read;
use std::sync::Arc;

mod sniff;

use sniff::{detect_encoding, read_sample, skip_lines, sniff_quote};
pub use sniff::{looks_like_header, sniff, sniff_delimiter};

/// Bytes looked at to detect the encoding, delimiter, quote and header.
const SAMPLE_BYTES: usize = 64 * 1024;
const DEFAULT_MAX_RECORD_BYTES: usize = 16 << 20;
const MAX_FIELDS: usize = 16 * 1024;
/// How much of a rejected row quarantine keeps.
const REJECT_CONTENT_BYTES: usize = 4096;
/// A batch ends at this many bytes of values, whatever its row count.
const BATCH_BYTES: usize = 64 << 20;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvOptions {
    /// `auto` (default: BOM, then UTF-8 if the sample is valid UTF-8, else
    /// Windows-1252), `utf-8`, `latin1` (read as Windows-1252, its superset
    /// for printable characters) or `windows-1252`.
    pub encoding: Option<String>,
    /// One character, or `tab`. Default: sniffed among `;` `,` tab `|`.
    pub delimiter: Option<String>,
    /// One character. Default: `"` unless the sample quotes with `'`.
    pub quote: Option<String>,
    /// Whether the first line (after `skip_lines`) names the columns.
    /// Default: yes unless one of its fields looks like a number or a date.
    pub header: Option<bool>,
    /// Lines to skip before the header (titles above the table).
    #[serde(default)]
    pub skip_lines: usize,
    /// A record longer than this is rejected (default 16 MiB).
    pub max_record_bytes: Option<usize>,
}

impl CsvOptions {
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(e) = &self.encoding
            && e != "auto"
            && encoding_for(e).is_none()
        {
            problems.push(format!(
                "csv.encoding {e:?}: expected auto, utf-8, latin1 or windows-1252"
            ));
        }
        if let Some(d) = &self.delimiter
            && single_byte(d).is_none()
        {
            problems.push(format!(
                "csv.delimiter {d:?}: expected one ASCII character or \"tab\""
            ));
        }
        if let Some(q) = &self.quote
            && single_byte(q).is_none()
        {
            problems.push(format!("csv.quote {q:?}: expected one ASCII character"));
        }
        if self.max_record_bytes == Some(0) {
            problems.push("csv.max_record_bytes must be positive".into());
        }
        problems
    }
}

fn encoding_for(label: &str) -> Option<&'static Encoding> {
    match label.to_ascii_lowercase().replace('_', "-").as_str() {
        "utf-8" | "utf8" => Some(UTF_8),
        "latin1" | "latin-1" | "iso-8859-1" | "windows-1252" | "cp1252" => Some(WINDOWS_1252),
        "utf-16le" | "utf-16" => Some(encoding_rs::UTF_16LE),
        "utf-16be" => Some(encoding_rs::UTF_16BE),
        _ => None,
    }
}

fn single_byte(text: &str) -> Option<u8> {
    match text {
        "tab" | "\\t" | "\t" => Some(b'\t'),
        t if t.len() == 1 && t.is_ascii() => Some(t.as_bytes()[0]),
        _ => None,
    }
}

/// What the first bytes of a file say about it.
#[derive(Debug, PartialEq)]
pub struct Sniffed {
    pub encoding: &'static str,
    pub delimiter: u8,
    pub quote: u8,
    pub header: bool,
}

pub fn read_csv(
    mut input: Box<dyn Read + Send>,
    name: &str,
    options: &CsvOptions,
    delimiter: Option<u8>,
    batch_rows: usize,
) -> Result<Batches, SourceError> {
    let problems = options.problems();
    if !problems.is_empty() {
        return Err(SourceError::Config(problems));
    }
    let sample = read_sample(&mut input, name)?;
    let (encoding, bom) = detect_encoding(&sample, options.encoding.as_deref());
    let sample_text = encoding.decode_without_bom_handling(&sample[bom..]).0;
    let sample_text = skip_lines(&sample_text, options.skip_lines);
    let delimiter = delimiter
        .or_else(|| options.delimiter.as_deref().and_then(single_byte))
        .unwrap_or_else(|| sniff_delimiter(sample_text));
    let quote = options
        .quote
        .as_deref()
        .and_then(single_byte)
        .unwrap_or_else(|| sniff_quote(sample_text, delimiter));

    let rest = std::io::Cursor::new(sample).chain(input);
    let decoded: Box<dyn Read + Send> = if encoding == UTF_8 {
        Box::new(Skip::new(rest, bom))
    } else {
        Box::new(Transcoder::new(Skip::new(rest, bom), encoding))
    };
    let mut records = Records::new(
        decoded,
        name,
        delimiter,
        quote,
        options.max_record_bytes.unwrap_or(DEFAULT_MAX_RECORD_BYTES),
        encoding == UTF_8,
    );
    for _ in 0..options.skip_lines {
        if records.next_record()?.is_none() {
            return Err(SourceError::input(
                name,
                format!(
                    "the file ends within the {} lines to skip",
                    options.skip_lines
                ),
            ));
        }
    }
    let first_line = records.next_line();
    let first = match records.next_record()? {
        None => return Err(SourceError::input(name, "the file is empty: no rows")),
        Some(Record::Fields(fields)) => fields,
        Some(Record::Rejected(reject)) => {
            return Err(SourceError::input(
                format!("{name} {}", reject.location),
                format!("the first row cannot be read: {}", reject.reason),
            ));
        }
    };
    let header = options.header.unwrap_or_else(|| looks_like_header(&first));
    let names = if header {
        unique_names(first.iter().cloned())
    } else {
        (1..=first.len()).map(|i| format!("coluna_{i}")).collect()
    };
    let schema = Arc::new(Schema::new(
        names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let field = Field::new(n, DataType::Utf8, true);
                match first.get(i).filter(|_| header) {
                    Some(original) => crate::formats::mark_repeated(field, original),
                    None => field,
                }
            })
            .collect::<Vec<_>>(),
    ));
    let pending = if header {
        None
    } else {
        Some((first, first_line))
    };
    Ok(Box::new(UntilError::new(CsvBatches {
        records,
        schema,
        batch_rows: batch_rows.max(1),
        pending,
        rows_yielded: 0,
    })))
}

enum Record {
    Fields(Vec<String>),
    Rejected(RowReject),
}

/// Records out of a UTF-8 byte stream, in bounded memory.
struct Records {
    input: Box<dyn Read + Send>,
    name: String,
    core: CoreReader,
    inbuf: Box<[u8]>,
    in_start: usize,
    in_end: usize,
    eof: bool,
    out: Vec<u8>,
    ends: Vec<usize>,
    max_record_bytes: usize,
    /// Input already validated as UTF-8 by a transcoder, or to validate here.
    validate_utf8: bool,
    quote: u8,
    /// Quote characters seen so far: odd at the end means a quoted field
    /// never closed and swallowed the rest of the file.
    quotes_seen: u64,
    /// Where the last record started, and whether a value of it spans
    /// lines (what an unclosed quote does).
    record_line: u64,
    record_multiline: bool,
}

/// One record's fields as byte ranges into `out`, or why it was refused.
enum RawRecord {
    Ok { fields: usize, len: usize },
    TooLong,
    TooManyFields,
}

impl Records {
    fn new(
        input: Box<dyn Read + Send>,
        name: &str,
        delimiter: u8,
        quote: u8,
        max_record_bytes: usize,
        validate_utf8: bool,
    ) -> Self {
        Records {
            input,
            name: name.to_owned(),
            core: ReaderBuilder::new()
                .delimiter(delimiter)
                .quote(quote)
                .build(),
            inbuf: vec![0u8; 256 * 1024].into_boxed_slice(),
            in_start: 0,
            in_end: 0,
            eof: false,
            out: vec![0u8; 64 * 1024],
            ends: vec![0usize; 256],
            max_record_bytes,
            validate_utf8,
            quote,
            quotes_seen: 0,
            record_line: 1,
            record_multiline: false,
        }
    }

    /// The line (1-based) the next record starts on (csv-core counts
    /// from 1, plus the newlines consumed).
    fn next_line(&self) -> u64 {
        self.core.line()
    }

    fn fill(&mut self) -> Result<(), SourceError> {
        if self.in_start == self.in_end && !self.eof {
            let n = loop {
                match self.input.read(&mut self.inbuf) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        return Err(SourceError::input(
                            format!("{} line {}", self.name, self.next_line()),
                            format!("cannot read: {e}"),
                        ));
                    }
                }
            };
            self.in_start = 0;
            self.in_end = n;
            self.eof = n == 0;
            let quote = self.quote;
            self.quotes_seen += self.inbuf[..n].iter().filter(|&&b| b == quote).count() as u64;
        }
        Ok(())
    }

    /// Reads one record into `out`/`ends`. `None` at the end of input.
    fn read_raw(&mut self) -> Result<Option<RawRecord>, SourceError> {
        let (mut out_len, mut ends_len) = (0usize, 0usize);
        let mut too_long = false;
        let starts_at = self.core.line();
        let mut too_many = false;
        loop {
            self.fill()?;
            let input = &self.inbuf[self.in_start..self.in_end];
            let (result, nin, nout, nend) =
                self.core
                    .read_record(input, &mut self.out[out_len..], &mut self.ends[ends_len..]);
            self.in_start += nin;
            out_len += nout;
            ends_len += nend;
            match result {
                ReadRecordResult::InputEmpty => {}
                ReadRecordResult::OutputFull => {
                    if self.out.len() >= self.max_record_bytes {
                        // Keep the head for quarantine, drop the rest.
                        too_long = true;
                        out_len = out_len.min(REJECT_CONTENT_BYTES);
                        ends_len = 0;
                    } else {
                        let grown = (self.out.len() * 2).min(self.max_record_bytes);
                        self.out.resize(grown, 0);
                    }
                }
                ReadRecordResult::OutputEndsFull => {
                    if self.ends.len() >= MAX_FIELDS {
                        too_many = true;
                        ends_len = 0;
                    } else {
                        let grown = self.ends.len() * 2;
                        self.ends.resize(grown, 0);
                    }
                }
                ReadRecordResult::Record => {
                    self.record_line = starts_at;
                    self.record_multiline = too_long || self.out[..out_len].contains(&b'\n');
                    return Ok(Some(if too_long {
                        RawRecord::TooLong
                    } else if too_many {
                        RawRecord::TooManyFields
                    } else {
                        RawRecord::Ok {
                            fields: ends_len,
                            len: out_len,
                        }
                    }));
                }
                ReadRecordResult::End => {
                    if self.quotes_seen % 2 == 1 && self.record_multiline {
                        // Nothing of the delivery may pass silently: the
                        // open field hid every line after it.
                        return Err(SourceError::input(
                            format!("{} line {}", self.name, self.record_line),
                            format!(
                                "a quoted field opened on or after line {} never closes, so every line after it was read as one value; fix the quoting (or set csv.quote)",
                                self.record_line
                            ),
                        ));
                    }
                    return Ok(None);
                }
            }
        }
    }

    /// The next record as owned strings (used for the header and skipped
    /// lines; data rows go straight into builders).
    fn next_record(&mut self) -> Result<Option<Record>, SourceError> {
        let line = self.next_line();
        let Some(raw) = self.read_raw()? else {
            return Ok(None);
        };
        Ok(Some(match self.fields_of(raw, line) {
            Ok(fields) => Record::Fields(fields.iter().map(|f| f.to_string()).collect()),
            Err(reject) => Record::Rejected(reject),
        }))
    }

    /// The record's fields as text, or a reject naming its line.
    fn fields_of(&self, raw: RawRecord, line: u64) -> Result<Vec<&str>, RowReject> {
        let reject = |reason: String, content: String| RowReject {
            location: format!("line {line}"),
            reason,
            content,
        };
        let (fields, len) = match raw {
            RawRecord::Ok { fields, len } => (fields, len),
            RawRecord::TooLong => {
                return Err(reject(
                    format!(
                        "the row is longer than {} MiB (an unclosed quote, or not a CSV file?)",
                        self.max_record_bytes >> 20
                    ),
                    String::from_utf8_lossy(&self.out[..REJECT_CONTENT_BYTES.min(self.out.len())])
                        .into_owned(),
                ));
            }
            RawRecord::TooManyFields => {
                return Err(reject(
                    format!("the row has more than {MAX_FIELDS} fields"),
                    String::new(),
                ));
            }
        };
        let bytes = &self.out[..len];
        let text = if self.validate_utf8 {
            match std::str::from_utf8(bytes) {
                Ok(text) => text,
                Err(e) => {
                    let column = self.ends[..fields]
                        .iter()
                        .position(|&end| end > e.valid_up_to())
                        .map(|i| i + 1)
                        .unwrap_or(fields);
                    return Err(reject(
                        format!(
                            "invalid UTF-8 byte sequence in field {column}; if the file is Latin-1, declare csv.encoding = \"latin1\""
                        ),
                        String::from_utf8_lossy(&bytes[..bytes.len().min(REJECT_CONTENT_BYTES)])
                            .into_owned(),
                    ));
                }
            }
        } else {
            // The transcoder produced UTF-8.
            std::str::from_utf8(bytes)
                .map_err(|_| reject("the decoder produced invalid text".into(), String::new()))?
        };
        let mut start = 0;
        Ok(self.ends[..fields]
            .iter()
            .map(|&end| {
                let field = &text[start..end];
                start = end;
                field
            })
            .collect())
    }
}

struct CsvBatches {
    records: Records,
    schema: SchemaRef,
    batch_rows: usize,
    /// The first line, when it held data rather than names.
    pending: Option<(Vec<String>, u64)>,
    rows_yielded: u64,
}

impl CsvBatches {}

fn append(builder: &mut StringBuilder, value: &str) {
    if value.is_empty() {
        builder.append_null();
    } else {
        builder.append_value(value);
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// Skips the first `n` bytes (a byte-order mark).
struct Skip<R> {
    inner: R,
    remaining: usize,
}

impl<R: Read> Skip<R> {
    fn new(inner: R, remaining: usize) -> Self {
        Skip { inner, remaining }
    }
}

impl<R: Read> Read for Skip<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.remaining > 0 {
            let mut skip = [0u8; 4];
            let n = self.inner.read(&mut skip[..self.remaining.min(4)])?;
            if n == 0 {
                return Ok(0);
            }
            self.remaining -= n;
        }
        self.inner.read(buf)
    }
}

/// Decodes a single-byte encoding to UTF-8 as it streams.
struct Transcoder<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    raw: Box<[u8]>,
    raw_start: usize,
    raw_end: usize,
    eof: bool,
    decoded: Box<[u8]>,
    decoded_start: usize,
    decoded_end: usize,
}

impl<R: Read> Transcoder<R> {
    fn new(inner: R, encoding: &'static Encoding) -> Self {
        Transcoder {
            inner,
            decoder: encoding.new_decoder_without_bom_handling(),
            raw: vec![0u8; 128 * 1024].into_boxed_slice(),
            raw_start: 0,
            raw_end: 0,
            eof: false,
            // A single-byte character becomes at most three UTF-8 bytes.
            decoded: vec![0u8; 3 * 128 * 1024 + 16].into_boxed_slice(),
            decoded_start: 0,
            decoded_end: 0,
        }
    }
}

impl<R: Read> Read for Transcoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.decoded_start == self.decoded_end {
            if self.raw_start == self.raw_end {
                if self.eof {
                    return Ok(0);
                }
                let n = self.inner.read(&mut self.raw)?;
                self.raw_start = 0;
                self.raw_end = n;
                self.eof = n == 0;
            }
            let (_, read, written, _) = self.decoder.decode_to_utf8(
                &self.raw[self.raw_start..self.raw_end],
                &mut self.decoded,
                self.eof,
            );
            self.raw_start += read;
            self.decoded_start = 0;
            self.decoded_end = written;
            if self.eof && written == 0 {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.decoded_end - self.decoded_start);
        buf[..n].copy_from_slice(&self.decoded[self.decoded_start..self.decoded_start + n]);
        self.decoded_start += n;
        Ok(n)
    }
}

impl NextBatch for CsvBatches {
    fn next_batch(&mut self) -> Result<Option<SourceBatch>, SourceError> {
        let ncols = self.schema.fields().len();
        let mut builders: Vec<StringBuilder> = (0..ncols)
            .map(|_| StringBuilder::with_capacity(self.batch_rows, self.batch_rows * 8))
            .collect();
        let mut lines = Vec::with_capacity(self.batch_rows);
        let mut rejects = Vec::new();
        if let Some((first, line)) = self.pending.take() {
            for (builder, value) in builders.iter_mut().zip(&first) {
                append(builder, value);
            }
            lines.push(line);
        }
        // Rows and rejects are also capped by bytes: 64k rows of long
        // values, or a file of nothing but ragged lines, stay bounded.
        let mut bytes = 0usize;
        while lines.len() < self.batch_rows && bytes < BATCH_BYTES {
            let line = self.records.next_line();
            let Some(raw) = self.records.read_raw()? else {
                break;
            };
            match self.records.fields_of(raw, line) {
                Ok(fields) if fields.len() == ncols => {
                    for (builder, value) in builders.iter_mut().zip(fields) {
                        bytes += value.len();
                        append(builder, value);
                    }
                    lines.push(line);
                }
                // A trailing delimiter on every line of a header-less export.
                Ok(fields) if fields.len() == ncols + 1 && fields[ncols].is_empty() => {
                    for (builder, value) in builders.iter_mut().zip(fields) {
                        append(builder, value);
                    }
                    lines.push(line);
                }
                Ok(fields) => {
                    let content = truncate(&fields.join("\u{1f}"), REJECT_CONTENT_BYTES);
                    bytes += content.len() + 64;
                    rejects.push(RowReject {
                        location: format!("line {line}"),
                        reason: format!("{} fields, expected {ncols}", fields.len()),
                        content,
                    })
                }
                Err(reject) => {
                    bytes += reject.content.len() + 64;
                    rejects.push(reject)
                }
            }
        }
        if lines.is_empty() && rejects.is_empty() {
            return Ok(None);
        }
        let columns: Vec<ArrayRef> = builders
            .iter_mut()
            .map(|b| Arc::new(b.finish()) as ArrayRef)
            .collect();
        let batch = RecordBatch::try_new(Arc::clone(&self.schema), columns)
            .map_err(|e| SourceError::Internal(format!("building a batch: {e}")))?;
        let first_row = self.rows_yielded + 1;
        self.rows_yielded += batch.num_rows() as u64;
        Ok(Some(SourceBatch {
            batch,
            first_row,
            rejects,
            lines: Some(lines),
            member: None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};

    fn read(bytes: &[u8], options: &CsvOptions, batch_rows: usize) -> Vec<SourceBatch> {
        read_csv(
            Box::new(std::io::Cursor::new(bytes.to_vec())),
            "t.csv",
            options,
            None,
            batch_rows,
        )
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
    }

    fn column(batch: &SourceBatch, name: &str) -> Vec<Option<String>> {
        let array = batch.batch.column_by_name(name).unwrap().as_string::<i32>();
        (0..array.len())
            .map(|i| array.is_valid(i).then(|| array.value(i).to_owned()))
            .collect()
    }

    #[test]
    fn latin1_semicolons_and_decimal_commas_are_read_as_delivered() {
        // "José" and "São Paulo" in Latin-1.
        let bytes = b"nome;municipio;valor\nJos\xe9;S\xe3o Paulo;14,16\nAna;;,09\n";
        let batches = read(bytes, &CsvOptions::default(), 100);
        assert_eq!(batches.len(), 1);
        assert_eq!(
            column(&batches[0], "nome"),
            vec![Some("José".into()), Some("Ana".into())]
        );
        assert_eq!(column(&batches[0], "municipio")[1], None);
        assert_eq!(
            column(&batches[0], "valor"),
            vec![Some("14,16".into()), Some(",09".into())]
        );
        assert_eq!(batches[0].lines, Some(vec![2, 3]));
    }

    #[test]
    fn utf16_with_or_without_a_bom_is_decoded() {
        let text = "Nome;Município\nJosé;São Paulo\nAna;Óbidos\n";
        let le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
        for (label, bytes) in [
            ("LE with BOM", [&[0xFF, 0xFE][..], &le].concat()),
            ("BE with BOM", [&[0xFE, 0xFF][..], &be].concat()),
            ("LE without BOM", le.clone()),
            ("BE without BOM", be.clone()),
        ] {
            let batches = read(&bytes, &CsvOptions::default(), 10);
            let batch = &batches[0].batch;
            let names: Vec<&str> = batch
                .schema_ref()
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect();
            assert_eq!(names, ["Nome", "Município"], "{label}");
            let city = batch.column(1).as_string::<i32>();
            assert_eq!(city.value(0), "São Paulo", "{label}");
            assert_eq!(city.value(1), "Óbidos", "{label}");
            assert_eq!(batch.num_rows(), 2, "{label}");
        }
    }

    #[test]
    fn a_bom_is_dropped_and_quotes_hold_delimiters_and_newlines() {
        let bytes = "\u{feff}a,b\n\"x,1\",\"two\nlines\"\n3,4\n".as_bytes();
        let batches = read(bytes, &CsvOptions::default(), 100);
        let b = &batches[0];
        assert_eq!(b.batch.schema().field(0).name(), "a");
        assert_eq!(column(b, "a"), vec![Some("x,1".into()), Some("3".into())]);
        assert_eq!(column(b, "b")[0].as_deref(), Some("two\nlines"));
        assert_eq!(b.lines, Some(vec![2, 4]));
    }

    #[test]
    fn ragged_rows_become_rejects_naming_their_line() {
        let bytes = b"a;b;c\n1;2;3\n1;2\n4;5;6\n7;8;9;10\n";
        let batches = read(bytes, &CsvOptions::default(), 100);
        let b = &batches[0];
        assert_eq!(b.batch.num_rows(), 2);
        let where_: Vec<_> = b.rejects.iter().map(|r| r.location.as_str()).collect();
        assert_eq!(where_, vec!["line 3", "line 5"]);
        assert_eq!(b.rejects[0].reason, "2 fields, expected 3");
    }

    #[test]
    fn invalid_utf8_after_the_sample_is_a_reject_with_advice() {
        let mut bytes = b"a;b\n".to_vec();
        for i in 0..10_000 {
            bytes.extend_from_slice(format!("{i};ok\n").as_bytes());
        }
        bytes.extend_from_slice(b"x;Jos\xe9\n");
        let batches = read(&bytes, &CsvOptions::default(), 100_000);
        let rejects: Vec<_> = batches.iter().flat_map(|b| &b.rejects).collect();
        assert_eq!(rejects.len(), 1);
        assert_eq!(rejects[0].location, "line 10002");
        assert!(
            rejects[0].reason.contains("field 2"),
            "{}",
            rejects[0].reason
        );
        assert!(rejects[0].reason.contains("latin1"));
    }

    #[test]
    fn an_overlong_record_is_rejected_in_bounded_memory() {
        // A 40 MiB line, then an ordinary one: the long one becomes a reject
        // holding only its head, and reading goes on.
        struct Endless(usize);
        impl Read for Endless {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = buf.len().min(self.0);
                buf[..n].fill(b'x');
                self.0 -= n;
                Ok(n)
            }
        }
        let input = std::io::Cursor::new(b"a;b\n1;".to_vec())
            .chain(Endless(40 << 20))
            .chain(std::io::Cursor::new(b"\n2;ok\n".to_vec()));
        let options = CsvOptions {
            max_record_bytes: Some(1 << 20),
            ..Default::default()
        };
        let batches: Vec<_> = read_csv(Box::new(input), "t.csv", &options, None, 10)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let rejects: Vec<_> = batches.iter().flat_map(|b| &b.rejects).collect();
        assert_eq!(rejects.len(), 1);
        assert!(rejects[0].reason.contains("longer than 1 MiB"));
        assert!(rejects[0].content.len() <= REJECT_CONTENT_BYTES);
        assert_eq!(batches.iter().map(|b| b.batch.num_rows()).sum::<usize>(), 1);

        // An unclosed quote that swallows 40 MiB fails the whole delivery.
        let input = std::io::Cursor::new(b"a;b\n1;\"".to_vec())
            .chain(Endless(20 << 20))
            .chain(std::io::Cursor::new(b"\n2;x\n".to_vec()))
            .chain(Endless(20 << 20));
        let result: Result<Vec<_>, _> = read_csv(Box::new(input), "t.csv", &options, None, 10)
            .unwrap()
            .collect();
        assert!(result.unwrap_err().to_string().contains("never closes"));
    }

    #[test]
    fn an_unclosed_quote_fails_the_delivery_naming_its_line() {
        let mut bytes = b"a;b\n".to_vec();
        for i in 0..20 {
            bytes.extend_from_slice(format!("{i};ok\n").as_bytes());
        }
        bytes.extend_from_slice(b"20;\"aberta\n21;x\n22;y\n");
        let result: Result<Vec<_>, _> = read_csv(
            Box::new(std::io::Cursor::new(bytes)),
            "t.csv",
            &CsvOptions::default(),
            None,
            100,
        )
        .unwrap()
        .collect();
        let err = result.unwrap_err().to_string();
        assert!(err.starts_with("t.csv line 22: a quoted field"), "{err}");
        // A stray quote inside a one-line value is data, not an error.
        let batches = read(b"a;b\n1;Joana D\"Arc\n2;x\n", &CsvOptions::default(), 10);
        assert_eq!(batches[0].batch.num_rows(), 2);
    }

    #[test]
    fn batches_are_bounded_and_numbered() {
        let mut bytes = b"n\n".to_vec();
        for i in 0..25 {
            bytes.extend_from_slice(format!("v{i}\n").as_bytes());
        }
        let batches = read(&bytes, &CsvOptions::default(), 10);
        let sizes: Vec<_> = batches.iter().map(|b| b.batch.num_rows()).collect();
        assert_eq!(sizes, vec![10, 10, 5]);
        assert_eq!(batches[2].first_row, 21);
        assert_eq!(batches[2].location(0), "line 22");
    }

    #[test]
    fn a_file_without_a_header_gets_numbered_columns() {
        let batches = read(
            b"120040;01012016;432\n120050;02012016;401\n",
            &CsvOptions::default(),
            10,
        );
        let b = &batches[0];
        assert_eq!(b.batch.schema().field(2).name(), "coluna_3");
        assert_eq!(b.batch.num_rows(), 2);
        assert_eq!(column(b, "coluna_1")[0].as_deref(), Some("120040"));
    }

    #[test]
    fn sniffing_picks_the_consistent_delimiter_and_skips_title_lines() {
        assert_eq!(sniff_delimiter("a,b;c,d\n1,2;3,4\n"), b',');
        assert_eq!(sniff_delimiter("a;b;c\n\"1,5\";2;3\n"), b';');
        assert_eq!(sniff_delimiter("a\tb\n1\t2\n"), b'\t');
        let bytes = b"Secretaria de Saude\nExtracao 2024\nx;y\n1;2\n";
        let options = CsvOptions {
            skip_lines: 2,
            ..Default::default()
        };
        let batches = read(bytes, &options, 10);
        assert_eq!(batches[0].batch.schema().field(1).name(), "y");
        assert_eq!(batches[0].lines, Some(vec![4]));
    }

    #[test]
    fn declared_options_are_checked() {
        let options = CsvOptions {
            encoding: Some("ebcdic".into()),
            delimiter: Some(";;".into()),
            ..Default::default()
        };
        assert_eq!(options.problems().len(), 2);
    }

    #[test]
    fn an_empty_file_is_a_clear_error() {
        let err = read_csv(
            Box::new(std::io::Cursor::new(Vec::new())),
            "vazio.csv",
            &CsvOptions::default(),
            None,
            10,
        )
        .err()
        .unwrap();
        assert!(
            err.to_string().starts_with("vazio.csv: the file is empty"),
            "{err}"
        );
    }
}
