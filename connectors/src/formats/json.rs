//! JSON and NDJSON files.
//!
//! NDJSON (`.ndjson`, `.jsonl`): one record per line. Blank lines are
//! skipped. A line that is not a JSON object (malformed, an array, longer
//! than 16 MiB) is a reject (`line N`, to quarantine), not a failed
//! delivery. Each batch carries the line of each of its rows.
//!
//! JSON: one document whose records are the array at `record_path`
//! (`data.items`). Without `record_path` the document is the array, or an
//! object holding exactly one array (its other members, such as totals or
//! paging links, are skipped; a second array is an error, since the records
//! would be ambiguous). The document is read as a stream on a thread of its
//! own, which hands batches over through a small channel: whatever the
//! file's size, memory holds one batch being built, one or two finished
//! batches and one record (at most 16 MiB). An element of the array that is
//! not an object is a reject (`record N`); malformed JSON fails the
//! delivery, naming the line and column.
//!
//! Records become rows as [`crate::flatten`] describes: nested objects as
//! `parent.child` columns, arrays as JSON text, every column `Utf8`. The
//! columns are those seen so far, so a key first seen in a later batch adds
//! a column to that batch and the ones after it (earlier batches lack it).
//! Rows are numbered by accepted record (`first_row`).

use crate::flatten::{self, MAX_RECORD_BYTES, RecordBatcher, WalkError};
use crate::formats::SourceBatch;
use crate::{Batches, SourceError};
use encoding_rs_io::DecodeReaderBytesBuilder;
use serde::Deserialize;
use serde_json::error::Category;
use serde_json::value::RawValue;
use std::cell::Cell;
use std::io::{self, BufRead, BufReader, Read};
use std::rc::Rc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// Longest NDJSON line; a longer one is rejected without being held.
const MAX_LINE_BYTES: u64 = MAX_RECORD_BYTES;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonOptions {
    /// Dotted path to the array of records in a JSON document
    /// (`data.items`). None: the document is the array, or an object
    /// holding exactly one array. Not for NDJSON, which has a record per
    /// line.
    pub record_path: Option<String>,
    /// The file's character encoding when it is not UTF-8, as a WHATWG label
    /// (`windows-1252`, `latin1`, `utf-16le`). None: UTF-8, with or without
    /// a byte-order mark (a UTF-16 mark is honoured too).
    pub encoding: Option<String>,
}

impl JsonOptions {
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(path) = &self.record_path
            && let Err(problem) = flatten::parse_path(path)
        {
            problems.push(format!("json.record_path {problem}"));
        }
        if let Some(label) = &self.encoding
            && encoding_rs::Encoding::for_label(label.as_bytes()).is_none()
        {
            problems.push(format!(
                "json.encoding `{label}` is not a known encoding (try `utf-8`, `windows-1252`, `latin1`)"
            ));
        }
        problems
    }
}

/// Reads a JSON document (`ndjson = false`) or an NDJSON file. `name` names
/// the file in messages.
pub fn read_json(
    input: Box<dyn Read + Send>,
    name: &str,
    options: &JsonOptions,
    ndjson: bool,
    batch_rows: usize,
) -> Result<Batches, SourceError> {
    let mut problems = options.problems();
    if ndjson && options.record_path.is_some() {
        problems.push(format!(
            "json.record_path applies to JSON documents; {name} is NDJSON, one record per line"
        ));
    }
    if !problems.is_empty() {
        return Err(SourceError::Config(problems));
    }
    let input = decode(input, options.encoding.as_deref());
    if ndjson {
        return Ok(Box::new(NdjsonBatches::new(input, name, batch_rows)));
    }
    let path = match &options.record_path {
        Some(path) => flatten::parse_path(path)
            .map_err(|problem| SourceError::Config(vec![format!("json.record_path {problem}")]))?,
        None => Vec::new(),
    };
    read_document_on_a_thread(input, name, path, batch_rows)
}

/// UTF-8 out: a byte-order mark dropped, another encoding transcoded.
fn decode(input: Box<dyn Read + Send>, encoding: Option<&str>) -> Box<dyn Read + Send> {
    let encoding = encoding.and_then(|label| encoding_rs::Encoding::for_label(label.as_bytes()));
    Box::new(
        DecodeReaderBytesBuilder::new()
            .encoding(encoding)
            .bom_override(true)
            .utf8_passthru(true)
            .strip_bom(true)
            .build(input),
    )
}

struct NdjsonBatches {
    reader: BufReader<Box<dyn Read + Send>>,
    name: String,
    batcher: RecordBatcher,
    /// The line last read (1-based).
    line: u64,
    buffer: Vec<u8>,
    finished: bool,
}

impl NdjsonBatches {
    fn new(input: Box<dyn Read + Send>, name: &str, batch_rows: usize) -> Self {
        NdjsonBatches {
            reader: BufReader::with_capacity(1 << 16, input),
            name: name.to_owned(),
            batcher: RecordBatcher::new(batch_rows),
            line: 0,
            buffer: Vec::new(),
            finished: false,
        }
    }

    /// Reads lines until the batch is full or the file ends.
    fn fill_batch(&mut self) -> Result<(), SourceError> {
        while !self.batcher.is_full() {
            let Some(fits) = self.read_line()? else {
                self.finished = true;
                return Ok(());
            };
            self.line += 1;
            self.add_line(fits);
        }
        Ok(())
    }

    /// The next line into `buffer`: `None` at the end of the file,
    /// `Some(false)` when it is longer than the limit (only its start is
    /// held; the rest is skipped).
    fn read_line(&mut self) -> Result<Option<bool>, SourceError> {
        self.buffer.clear();
        let read = (&mut self.reader)
            .take(MAX_LINE_BYTES + 1)
            .read_until(b'\n', &mut self.buffer)
            .map_err(|e| self.read_error(&e))?;
        if read == 0 {
            return Ok(None);
        }
        if self.buffer.last() == Some(&b'\n') || read as u64 <= MAX_LINE_BYTES {
            return Ok(Some(true));
        }
        self.skip_rest_of_line()?;
        Ok(Some(false))
    }

    fn skip_rest_of_line(&mut self) -> Result<(), SourceError> {
        loop {
            let available = match self.reader.fill_buf() {
                Ok(available) => available,
                Err(e) => return Err(self.read_error(&e)),
            };
            if available.is_empty() {
                return Ok(());
            }
            match available.iter().position(|&b| b == b'\n') {
                Some(end) => {
                    self.reader.consume(end + 1);
                    return Ok(());
                }
                None => {
                    let length = available.len();
                    self.reader.consume(length);
                }
            }
        }
    }

    fn read_error(&self, error: &io::Error) -> SourceError {
        SourceError::input(
            format!("{}, line {}", self.name, self.line + 1),
            format!("cannot read: {error}"),
        )
    }

    fn add_line(&mut self, fits: bool) {
        let location = format!("line {}", self.line);
        if !fits {
            let reason = format!("the line is longer than {} MiB", MAX_LINE_BYTES >> 20);
            self.batcher.reject(location, reason, &self.buffer);
            return;
        }
        let text = self.buffer.trim_ascii();
        if text.is_empty() {
            return;
        }
        let added = parse_line(text).and_then(|fields| self.batcher.push(fields, Some(self.line)));
        if let Err(reason) = added {
            let text = self.buffer.trim_ascii();
            self.batcher.reject(location, reason, text);
        }
    }
}

/// One NDJSON line as a record's fields, or the reason to reject it.
fn parse_line(text: &[u8]) -> Result<flatten::Fields, String> {
    let raw: Box<RawValue> = serde_json::from_slice(text).map_err(|e| match e.classify() {
        Category::Syntax | Category::Eof => {
            format!(
                "malformed JSON at column {}: {}",
                e.column(),
                without_position(&e)
            )
        }
        Category::Io | Category::Data => "malformed JSON".to_owned(),
    })?;
    flatten::flatten_record(raw.get())
}

impl Iterator for NdjsonBatches {
    type Item = Result<SourceBatch, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        if let Err(e) = self.fill_batch() {
            self.finished = true;
            return Some(Err(e));
        }
        self.batcher.take_batch().transpose()
    }
}

/// What the document thread sends.
enum Message {
    Batch(SourceBatch),
    Failed(SourceError),
    Done,
}

/// Why the document thread stopped early.
enum Stop {
    /// The batches were dropped: nobody wants the rest.
    ConsumerGone,
    Failed(SourceError),
}

fn read_document_on_a_thread(
    input: Box<dyn Read + Send>,
    name: &str,
    path: Vec<String>,
    batch_rows: usize,
) -> Result<Batches, SourceError> {
    // One batch in the channel, one being sent, one being built.
    let (sender, receiver) = sync_channel(1);
    let file_name = name.to_owned();
    std::thread::Builder::new()
        .name("lagoa-json".into())
        .spawn(move || {
            let last = match read_document(input, &file_name, &path, batch_rows, &sender) {
                Ok(()) => Message::Done,
                Err(Stop::Failed(e)) => Message::Failed(e),
                Err(Stop::ConsumerGone) => return,
            };
            // A send error means the consumer is gone: nobody left to tell.
            let _ = sender.send(last);
        })
        .map_err(|e| SourceError::Internal(format!("cannot start a thread to read {name}: {e}")))?;
    Ok(Box::new(DocumentBatches {
        receiver,
        finished: false,
    }))
}

fn read_document(
    input: Box<dyn Read + Send>,
    name: &str,
    path: &[String],
    batch_rows: usize,
    sender: &SyncSender<Message>,
) -> Result<(), Stop> {
    let progress = Rc::new(ReadProgress::default());
    let reader = CappedReader {
        inner: BufReader::with_capacity(1 << 16, input),
        progress: Rc::clone(&progress),
    };
    let mut deserializer = serde_json::Deserializer::from_reader(reader);
    let mut batcher = RecordBatcher::new(batch_rows);
    let mut records = 0u64;
    let walked = {
        let mut sink = |raw: Box<RawValue>| -> Result<(), Stop> {
            records += 1;
            let added =
                flatten::flatten_record(raw.get()).and_then(|fields| batcher.push(fields, None));
            if let Err(reason) = added {
                batcher.reject(format!("record {records}"), reason, raw.get().as_bytes());
            }
            if batcher.is_full() {
                send_batch(&mut batcher, sender)?;
            }
            Ok(())
        };
        flatten::walk_records(&mut deserializer, path, Some(&progress.budget), &mut sink)
    };
    match walked {
        Ok(()) => {}
        Err(WalkError::Sink(stop)) => return Err(stop),
        Err(WalkError::Shape(message)) => {
            return Err(Stop::Failed(SourceError::input(name, message)));
        }
        Err(WalkError::Json(e)) => {
            return Err(Stop::Failed(malformed(name, &e, &progress, records)));
        }
    }
    deserializer.end().map_err(|e| {
        Stop::Failed(SourceError::input(
            format!("{name}, line {}, column {}", e.line(), e.column()),
            "the document goes on after its end; if it holds one record per line, \
             deliver it as NDJSON (.ndjson or .jsonl)",
        ))
    })?;
    send_batch(&mut batcher, sender)
}

fn send_batch(batcher: &mut RecordBatcher, sender: &SyncSender<Message>) -> Result<(), Stop> {
    match batcher.take_batch() {
        Ok(Some(batch)) => sender
            .send(Message::Batch(batch))
            .map_err(|_| Stop::ConsumerGone),
        Ok(None) => Ok(()),
        Err(e) => Err(Stop::Failed(e)),
    }
}

/// The error for a document that is not valid JSON (or cannot be read),
/// naming where, never what.
fn malformed(
    name: &str,
    error: &serde_json::Error,
    progress: &ReadProgress,
    records: u64,
) -> SourceError {
    let location = if error.line() > 0 {
        format!("{name}, line {}, column {}", error.line(), error.column())
    } else {
        format!("{name}, byte {}", progress.bytes.get())
    };
    let what = match error.classify() {
        Category::Io => error.to_string(),
        Category::Syntax => format!("malformed JSON: {}", without_position(error)),
        Category::Eof => format!("{} (is the file cut short?)", without_position(error)),
        Category::Data => "malformed JSON".to_owned(),
    };
    SourceError::input(
        location,
        format!("{what}; {records} records read before it"),
    )
}

/// serde_json's message without its ` at line L column C` tail. Syntax
/// messages name the expected token, never the input's text.
fn without_position(error: &serde_json::Error) -> String {
    let message = error.to_string();
    match message.rfind(" at line ") {
        Some(end) => message[..end].to_owned(),
        None => message,
    }
}

/// Bytes read so far, and the bytes the current record may still take
/// (`None`: no limit, while skipping values that need no memory).
#[derive(Default)]
struct ReadProgress {
    bytes: Cell<u64>,
    budget: Cell<Option<u64>>,
}

/// Counts what serde_json reads and fails a read past the budget, so that
/// one endless record cannot grow serde_json's buffer without bound.
struct CappedReader<R> {
    inner: R,
    progress: Rc<ReadProgress>,
}

impl<R: Read> Read for CappedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        let progress = &self.progress;
        progress.bytes.set(progress.bytes.get() + read as u64);
        if let Some(left) = progress.budget.get() {
            let left = left.checked_sub(read as u64).ok_or_else(|| {
                io::Error::other(format!(
                    "a record (or key) is longer than {} MiB",
                    MAX_RECORD_BYTES >> 20
                ))
            })?;
            progress.budget.set(Some(left));
        }
        Ok(read)
    }
}

/// The consumer's side of the document thread.
struct DocumentBatches {
    receiver: Receiver<Message>,
    finished: bool,
}

impl Iterator for DocumentBatches {
    type Item = Result<SourceBatch, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        match self.receiver.recv() {
            Ok(Message::Batch(batch)) => Some(Ok(batch)),
            Ok(Message::Failed(e)) => {
                self.finished = true;
                Some(Err(e))
            }
            Ok(Message::Done) => {
                self.finished = true;
                None
            }
            Err(_) => {
                self.finished = true;
                Some(Err(SourceError::Internal(
                    "the JSON reader thread stopped before the end of the document".into(),
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    fn options(record_path: Option<&str>) -> JsonOptions {
        JsonOptions {
            record_path: record_path.map(str::to_owned),
            encoding: None,
        }
    }

    fn read(
        text: impl Into<Vec<u8>>,
        options: &JsonOptions,
        ndjson: bool,
        batch_rows: usize,
    ) -> Result<Vec<SourceBatch>, SourceError> {
        let input: Box<dyn Read + Send> = Box::new(io::Cursor::new(text.into()));
        read_json(input, "entrega.json", options, ndjson, batch_rows)?.collect()
    }

    fn column(batch: &SourceBatch, name: &str) -> Vec<Option<String>> {
        let index = batch.batch.schema().index_of(name).expect("the column");
        let array = batch.batch.column(index).as_string::<i32>();
        (0..array.len())
            .map(|i| (!array.is_null(i)).then(|| array.value(i).to_owned()))
            .collect()
    }

    fn names(batch: &SourceBatch) -> Vec<String> {
        batch
            .batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    fn message(error: SourceError) -> String {
        error.to_string()
    }

    #[test]
    fn ndjson_lines_become_rows_and_bad_lines_rejects() {
        let text = "{\"id\": 1, \"end\": {\"uf\": \"PE\"}}\r\n\n   \n{\"id\": 2,\n[1, 2]\n\"CPF 123\"\n{\"id\": 3.0}";
        let batches = read(text, &options(None), true, 100).unwrap();
        assert_eq!(batches.len(), 1);
        let batch = &batches[0];
        assert_eq!(names(batch), vec!["id", "end.uf"]);
        assert_eq!(
            column(batch, "id"),
            vec![Some("1".to_owned()), Some("3.0".to_owned())]
        );
        assert_eq!(batch.lines, Some(vec![1, 7]));
        let rejects: Vec<(&str, &str)> = batch
            .rejects
            .iter()
            .map(|r| (r.location.as_str(), r.reason.as_str()))
            .collect();
        assert_eq!(rejects.len(), 3);
        assert_eq!(rejects[0].0, "line 4");
        assert!(
            rejects[0].1.starts_with("malformed JSON at column"),
            "{}",
            rejects[0].1
        );
        assert_eq!(
            rejects[1],
            ("line 5", "the record is an array, not a JSON object")
        );
        assert_eq!(
            rejects[2],
            ("line 6", "the record is a string, not a JSON object")
        );
        assert!(!rejects[2].1.contains("123"));
        assert_eq!(batch.rejects[2].content, "\"CPF 123\"");
    }

    #[test]
    fn ndjson_batches_number_their_rows() {
        let text: String = (1..=5).map(|i| format!("{{\"n\": {i}}}\n")).collect();
        let batches = read(text, &options(None), true, 2).unwrap();
        let firsts: Vec<u64> = batches.iter().map(|b| b.first_row).collect();
        assert_eq!(firsts, vec![1, 3, 5]);
        assert_eq!(column(&batches[2], "n"), vec![Some("5".to_owned())]);
    }

    #[test]
    fn an_over_long_ndjson_line_is_rejected_and_skipped() {
        let long = io::Cursor::new(b"{\"a\": \"".to_vec())
            .chain(io::repeat(b'x').take(MAX_LINE_BYTES + 10))
            .chain(io::Cursor::new(b"\"}\n{\"a\": \"ok\"}\n".to_vec()));
        let batches: Vec<SourceBatch> =
            read_json(Box::new(long), "big.ndjson", &options(None), true, 10)
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
        assert_eq!(batches.len(), 1);
        assert_eq!(column(&batches[0], "a"), vec![Some("ok".to_owned())]);
        assert_eq!(batches[0].lines, Some(vec![2]));
        let reject = &batches[0].rejects[0];
        assert_eq!(reject.location, "line 1");
        assert!(reject.reason.contains("longer than 16 MiB"));
        assert_eq!(reject.content.len(), flatten::REJECT_CONTENT_BYTES);
    }

    #[test]
    fn record_path_is_not_for_ndjson() {
        let error = read("{}", &options(Some("data")), true, 10).unwrap_err();
        assert!(matches!(error, SourceError::Config(_)));
    }

    #[test]
    fn json_records_come_from_the_record_path() {
        let text = r#"{"meta": {"total": 3, "items": ["not these"]},
            "data": {"items": [
                {"id": 1, "nome": "Ana", "end": {"uf": "PE", "geo": {"lat": -8.0}}, "tel": ["1", "2"]},
                {"id": 2, "nome": null},
                7,
                {"id": 3, "extra": true}
            ], "next": null}}"#;
        let batches = read(text, &options(Some("data.items")), false, 2).unwrap();
        assert_eq!(batches.len(), 2);
        assert_eq!(
            names(&batches[0]),
            vec!["id", "nome", "end.uf", "end.geo.lat", "tel"]
        );
        assert_eq!(
            column(&batches[0], "tel")[0].as_deref(),
            Some(r#"["1","2"]"#)
        );
        assert_eq!(column(&batches[0], "nome")[1], None);
        // `extra` first appears in the second batch: the schema grows.
        assert_eq!(
            names(&batches[1]),
            vec!["id", "nome", "end.uf", "end.geo.lat", "tel", "extra"]
        );
        assert_eq!(batches[1].first_row, 3);
        assert_eq!(column(&batches[1], "id"), vec![Some("3".to_owned())]);
        assert_eq!(batches[1].rejects[0].location, "record 3");
        assert_eq!(batches[1].rejects[0].content, "7");
    }

    #[test]
    fn a_root_array_or_a_root_object_with_one_array() {
        let array = read(r#"[{"a": 1}, {"a": 2}]"#, &options(None), false, 10).unwrap();
        assert_eq!(array[0].batch.num_rows(), 2);
        let wrapped = read(
            r#"{"total": 2, "page": {"n": 1}, "rows": [{"a": 1}, {"a": 2}], "ok": true}"#,
            &options(None),
            false,
            10,
        )
        .unwrap();
        assert_eq!(column(&wrapped[0], "a").len(), 2);
        let two = read(r#"{"a": [{}], "b": [{}]}"#, &options(None), false, 10).unwrap_err();
        assert!(message(two).contains("more than one array"));
        let empty = read("[]", &options(None), false, 10).unwrap();
        assert!(empty.is_empty());
    }

    #[test]
    fn malformed_json_names_line_and_column_but_no_value() {
        let text = "[\n{\"cpf\": \"12345678900\"},\n{\"cpf\": \"98765432100\" \"x\"}\n]";
        let error = read(text, &options(None), false, 10).unwrap_err();
        let text = message(error);
        assert!(text.starts_with("entrega.json, line 3, column"), "{text}");
        assert!(text.contains("1 records read before it"), "{text}");
        assert!(
            !text.contains("98765432100") && !text.contains("12345678900"),
            "{text}"
        );

        let cut = message(read("[{\"a\": 1}, {\"a\"", &options(None), false, 10).unwrap_err());
        assert!(cut.contains("cut short"), "{cut}");
    }

    #[test]
    fn shape_and_trailing_content_errors_say_what_to_do() {
        let missing = read(r#"{"data": {}}"#, &options(Some("data.items")), false, 10);
        assert_eq!(
            message(missing.unwrap_err()),
            "entrega.json: the document has no `data.items`"
        );
        let lines = read("{\"a\": [1]}\n{\"a\": [2]}\n", &options(None), false, 10).unwrap_err();
        assert!(message(lines).contains("NDJSON"));
    }

    #[test]
    fn an_endless_record_fails_without_being_held() {
        let endless = io::Cursor::new(b"[{\"a\": \"".to_vec()).chain(io::repeat(b'x'));
        let error = read_json(Box::new(endless), "big.json", &options(None), false, 10)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap_err();
        assert!(message(error).contains("longer than 16 MiB"));
    }

    #[test]
    fn latin1_and_bom_are_decoded() {
        let latin1 = JsonOptions {
            record_path: None,
            encoding: Some("latin1".into()),
        };
        let batches = read(b"[{\"nome\": \"Jo\xe3o\"}]".to_vec(), &latin1, false, 10).unwrap();
        assert_eq!(column(&batches[0], "nome"), vec![Some("João".to_owned())]);
        let bom = b"\xef\xbb\xbf{\"a\": \"\xc3\xa9\"}\n".to_vec();
        let batches = read(bom, &options(None), true, 10).unwrap();
        assert_eq!(column(&batches[0], "a"), vec![Some("é".to_owned())]);
    }

    #[test]
    fn options_report_every_problem() {
        let bad = JsonOptions {
            record_path: Some("data..items".into()),
            encoding: Some("klingon".into()),
        };
        assert_eq!(bad.problems().len(), 2);
        assert!(options(Some("data.items")).problems().is_empty());
    }

    /// A JSON document of `records` records made on the fly, counting the
    /// bytes handed out.
    struct GeneratedDocument {
        records: u64,
        next: u64,
        pending: Vec<u8>,
        handed_out: Arc<AtomicU64>,
    }

    impl Read for GeneratedDocument {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.pending.is_empty() {
                if self.next > self.records {
                    return Ok(0);
                }
                let n = self.next;
                self.pending = match n {
                    0 => br#"{"total": 0, "data": ["#.to_vec(),
                    n if n == self.records => {
                        format!(r#"{{"id": {n}, "nome": "pessoa {n}"}}]}}"#).into_bytes()
                    }
                    n => format!(r#"{{"id": {n}, "nome": "pessoa {n}"}},"#).into_bytes(),
                };
                self.next += 1;
            }
            let size = buf.len().min(self.pending.len());
            buf[..size].copy_from_slice(&self.pending[..size]);
            self.pending.drain(..size);
            self.handed_out.fetch_add(size as u64, Ordering::Relaxed);
            Ok(size)
        }
    }

    #[test]
    fn a_large_document_streams() {
        let records = 200_000;
        let handed_out = Arc::new(AtomicU64::new(0));
        let document = GeneratedDocument {
            records,
            next: 0,
            pending: Vec::new(),
            handed_out: Arc::clone(&handed_out),
        };
        let mut batches = read_json(
            Box::new(document),
            "grande.json",
            &options(Some("data")),
            false,
            10_000,
        )
        .unwrap();
        let first = batches.next().unwrap().unwrap();
        assert_eq!(first.batch.num_rows(), 10_000);
        // The reader is at most a few batches ahead, not at the end.
        let read_so_far = handed_out.load(Ordering::Relaxed);
        assert!(read_so_far < 2_000_000, "read {read_so_far} bytes ahead");
        let mut rows = first.batch.num_rows() as u64;
        let mut last_first_row = first.first_row;
        for batch in batches {
            let batch = batch.unwrap();
            assert_eq!(batch.first_row, rows + 1);
            last_first_row = batch.first_row;
            rows += batch.batch.num_rows() as u64;
        }
        assert_eq!(rows, records);
        assert_eq!(last_first_row, records - 10_000 + 1);
        assert!(handed_out.load(Ordering::Relaxed) > 6_000_000);
    }

    #[test]
    fn dropping_the_batches_stops_the_reader() {
        let handed_out = Arc::new(AtomicU64::new(0));
        let document = GeneratedDocument {
            records: 10_000_000,
            next: 0,
            pending: Vec::new(),
            handed_out: Arc::clone(&handed_out),
        };
        let mut batches = read_json(
            Box::new(document),
            "grande.json",
            &options(None),
            false,
            1_000,
        )
        .unwrap();
        assert!(batches.next().unwrap().is_ok());
        drop(batches);
        std::thread::sleep(std::time::Duration::from_millis(200));
        let after_drop = handed_out.load(Ordering::Relaxed);
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert_eq!(handed_out.load(Ordering::Relaxed), after_drop);
    }
}
