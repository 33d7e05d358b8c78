//! JSON records as rows of text columns, shared by JSON files
//! ([`crate::formats::json`]) and HTTP APIs ([`crate::http_api`]).
//!
//! A record is a JSON object. Nested objects become `parent.child` columns
//! (down to [`MAX_NESTING`] levels; deeper objects are kept as JSON text);
//! arrays are kept as their compact JSON text; strings as their text;
//! numbers exactly as written (`1.50` stays `1.50`, big integers keep every
//! digit); booleans as `true`/`false`; `null` and `""` as null. Every column
//! is `Utf8`.
//!
//! Columns are the union of the keys seen, in first-seen order. Batches are
//! streamed, so a key first seen after a batch went out becomes a new column
//! of the *later* batches: each batch holds every column seen so far, in the
//! same order, and may add columns at its end (earlier batches lack them).
//!
//! The other half is [`walk_records`]: it walks a JSON document as it is
//! read, to the array of records at a dotted path, and hands the records
//! over one by one, so that a document of any size is read in bounded memory.

use crate::SourceError;
use crate::formats::{RowReject, SourceBatch};
use arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions, StringBuilder};
use arrow::datatypes::Schema;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

/// Longest record (or object key) read from a stream; longer ones fail the
/// read instead of growing a buffer without end.
pub const MAX_RECORD_BYTES: u64 = 16 << 20;
/// Most columns a delivery may have; a record that would add more is
/// rejected (a document keyed by data, e.g. by CPF, would otherwise make a
/// column per row).
pub const MAX_COLUMNS: usize = 10_000;
/// Objects nested deeper than this are kept as JSON text.
pub const MAX_NESTING: usize = 16;
/// How much of a rejected record goes to quarantine.
pub const REJECT_CONTENT_BYTES: usize = 4096;
/// A batch is cut before `batch_rows` when it holds this many cells (wide
/// records) or this many bytes of values (long values).
const MAX_BATCH_CELLS: usize = 1 << 24;
const MAX_BATCH_BYTES: usize = 64 << 20;

/// One record's columns: the dotted path of each field and its value
/// (`None`: null), in the record's order.
pub type Fields = Vec<(String, Option<String>)>;

/// Splits a dotted path (`data.items`) into its keys.
pub fn parse_path(path: &str) -> Result<Vec<String>, String> {
    if path.trim().is_empty() {
        return Err("is empty".into());
    }
    let keys: Vec<String> = path.split('.').map(str::to_owned).collect();
    if keys.iter().any(|key| key.is_empty()) {
        return Err(format!(
            "`{path}` has an empty key (two dots in a row, or a dot at an end)"
        ));
    }
    Ok(keys)
}

/// Flattens one record (a JSON text already known to be valid). `Err` is
/// the reason to reject it, naming no value.
pub fn flatten_record(raw: &str) -> Result<Fields, String> {
    if first_byte(raw) != Some(b'{') {
        return Err(format!(
            "the record is {}, not a JSON object",
            describe(raw)
        ));
    }
    let mut fields = Vec::new();
    flatten_object(raw, None, 1, &mut fields)?;
    Ok(fields)
}

fn flatten_object(
    raw: &str,
    prefix: Option<&str>,
    depth: usize,
    fields: &mut Fields,
) -> Result<(), String> {
    let Entries(entries) =
        serde_json::from_str(raw).map_err(|_| "the record is not valid JSON".to_owned())?;
    for (key, value) in entries {
        let path = match prefix {
            Some(prefix) => format!("{prefix}.{key}"),
            None => key,
        };
        let text = value.get();
        match first_byte(text) {
            Some(b'{') if depth < MAX_NESTING => {
                flatten_object(text, Some(&path), depth + 1, fields)?
            }
            Some(b'{' | b'[') => fields.push((path, Some(compact(text)))),
            Some(b'"') => {
                let value: String = serde_json::from_str(text)
                    .map_err(|_| "the record holds a malformed string".to_owned())?;
                fields.push((path, (!value.is_empty()).then_some(value)));
            }
            Some(b'n') => fields.push((path, None)),
            // Numbers exactly as written; `true` and `false`.
            _ => fields.push((path, Some(text.trim().to_owned()))),
        }
    }
    Ok(())
}

/// An object's entries in document order, values left as JSON text.
struct Entries<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for Entries<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;
        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = Entries<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries<'de>, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, &'de RawValue>()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        deserializer.deserialize_map(EntriesVisitor)
    }
}

fn first_byte(json: &str) -> Option<u8> {
    json.trim_start().bytes().next()
}

/// What kind of JSON value a text is, for messages.
fn describe(json: &str) -> &'static str {
    match first_byte(json) {
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        Some(_) => "a number",
        None => "empty",
    }
}

/// Valid JSON text without the whitespace between tokens.
fn compact(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in json.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            out.push(c);
        }
    }
    out
}

/// The start of a rejected record, for quarantine.
pub fn reject_content(bytes: &[u8]) -> String {
    let end = bytes.len().min(REJECT_CONTENT_BYTES);
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

const NO_FIELD: usize = usize::MAX;

/// Gathers flattened records into batches of `Utf8` columns whose set only
/// grows (see the module docs).
#[derive(Debug)]
pub struct RecordBatcher {
    batch_rows: usize,
    names: Vec<String>,
    name_set: HashSet<String>,
    column_of_path: HashMap<String, usize>,
    builders: Vec<StringBuilder>,
    /// Per column: which field of the record being added fills it.
    slots: Vec<usize>,
    rows: usize,
    value_bytes: usize,
    lines: Vec<u64>,
    rejects: Vec<RowReject>,
    reject_bytes: usize,
    next_row: u64,
}

impl RecordBatcher {
    pub fn new(batch_rows: usize) -> Self {
        RecordBatcher {
            batch_rows: batch_rows.max(1),
            names: Vec::new(),
            name_set: HashSet::new(),
            column_of_path: HashMap::new(),
            builders: Vec::new(),
            slots: Vec::new(),
            rows: 0,
            value_bytes: 0,
            lines: Vec::new(),
            rejects: Vec::new(),
            reject_bytes: 0,
            next_row: 1,
        }
    }

    /// Adds a record as a row. `line`: the input line it starts on, for
    /// line-based inputs (NDJSON). `Err` is the reason to reject the record
    /// (nothing was added).
    pub fn push(&mut self, fields: Fields, line: Option<u64>) -> Result<(), String> {
        let new_fields = match self.claim_slots(&fields) {
            Ok(new_fields) => new_fields,
            Err(reason) => {
                self.slots.fill(NO_FIELD);
                return Err(reason);
            }
        };
        for i in new_fields {
            let column = self.add_column(&fields[i].0);
            self.slots[column] = i;
        }
        for (column, builder) in self.builders.iter_mut().enumerate() {
            let slot = std::mem::replace(&mut self.slots[column], NO_FIELD);
            match fields.get(slot).and_then(|(_, value)| value.as_deref()) {
                Some(value) => {
                    self.value_bytes += value.len();
                    builder.append_value(value);
                }
                None => builder.append_null(),
            }
        }
        if let Some(line) = line {
            self.lines.push(line);
        }
        self.rows += 1;
        Ok(())
    }

    /// Points each known column at the field that fills it; returns the
    /// fields that need a new column.
    fn claim_slots(&mut self, fields: &Fields) -> Result<Vec<usize>, String> {
        let mut new_fields = Vec::new();
        let mut new_paths = HashSet::new();
        for (i, (path, _)) in fields.iter().enumerate() {
            let repeated = match self.column_of_path.get(path.as_str()) {
                Some(&column) => {
                    let taken = self.slots[column] != NO_FIELD;
                    self.slots[column] = i;
                    taken
                }
                None => {
                    new_fields.push(i);
                    !new_paths.insert(path.as_str())
                }
            };
            if repeated {
                return Err(format!(
                    "two fields of the record make the same column `{path}`"
                ));
            }
        }
        if self.names.len() + new_fields.len() > MAX_COLUMNS {
            return Err(format!(
                "the record would bring the delivery past {MAX_COLUMNS} columns \
                 (are its keys data, such as ids?)"
            ));
        }
        Ok(new_fields)
    }

    /// A new column, null in the rows already in the batch. Named as
    /// `formats::unique_names` names columns: trimmed, a blank one
    /// `coluna_<n>`, a repeat suffixed `_2`, `_3`...
    fn add_column(&mut self, path: &str) -> usize {
        let base = match path.trim() {
            "" => format!("coluna_{}", self.names.len() + 1),
            trimmed => trimmed.to_owned(),
        };
        let mut name = base.clone();
        let mut suffix = 2;
        while self.name_set.contains(&name) {
            name = format!("{base}_{suffix}");
            suffix += 1;
        }
        let mut builder = StringBuilder::new();
        builder.append_nulls(self.rows);
        self.builders.push(builder);
        self.slots.push(NO_FIELD);
        self.name_set.insert(name.clone());
        self.names.push(name);
        let column = self.names.len() - 1;
        self.column_of_path.insert(path.to_owned(), column);
        column
    }

    /// Sets a record aside for quarantine.
    pub fn reject(&mut self, location: String, reason: String, content: &[u8]) {
        let content = reject_content(content);
        self.reject_bytes += content.len();
        self.rejects.push(RowReject {
            location,
            reason,
            content,
        });
    }

    /// Whether the batch should go out now.
    pub fn is_full(&self) -> bool {
        self.rows >= self.batch_rows
            || self.rows.saturating_mul(self.builders.len()) >= MAX_BATCH_CELLS
            || self.value_bytes >= MAX_BATCH_BYTES
            || self.rejects.len() >= self.batch_rows
            || self.reject_bytes >= MAX_BATCH_BYTES
    }

    /// Rows added so far, in every batch.
    pub fn total_rows(&self) -> u64 {
        self.next_row - 1 + self.rows as u64
    }

    /// The batch built so far (`None` when it holds no row and no reject);
    /// the next one starts empty, with the same columns.
    pub fn take_batch(&mut self) -> Result<Option<SourceBatch>, SourceError> {
        if self.rows == 0 && self.rejects.is_empty() {
            return Ok(None);
        }
        let schema = Schema::new(
            self.names
                .iter()
                .map(|name| crate::formats::canonical_text_field(name))
                .collect::<Vec<_>>(),
        );
        let columns: Vec<ArrayRef> = self
            .builders
            .iter_mut()
            .map(|builder| Arc::new(builder.finish()) as ArrayRef)
            .collect();
        let options = RecordBatchOptions::new().with_row_count(Some(self.rows));
        let batch = RecordBatch::try_new_with_options(Arc::new(schema), columns, &options)
            .map_err(|e| SourceError::Internal(format!("cannot assemble a JSON batch: {e}")))?;
        let mut out = SourceBatch::new(batch, self.next_row);
        out.rejects = std::mem::take(&mut self.rejects);
        let lines = std::mem::take(&mut self.lines);
        if !lines.is_empty() && lines.len() == self.rows {
            out.lines = Some(lines);
        }
        self.next_row += self.rows as u64;
        self.rows = 0;
        self.value_bytes = 0;
        self.reject_bytes = 0;
        Ok(Some(out))
    }
}

/// Why [`walk_records`] stopped before the end of the records.
#[derive(Debug)]
pub enum WalkError<E> {
    /// The record sink asked to stop.
    Sink(E),
    /// The document is valid JSON but not shaped as expected (no array at
    /// the path, two arrays at the root...). The message names keys only.
    Shape(String),
    /// The document is not valid JSON, or reading it failed.
    Json(serde_json::Error),
}

/// Walks a JSON document to its array of records and hands each record to
/// `sink` as it is read, never holding more than one record.
///
/// `path` leads to the array through nested objects; an empty path means
/// the document is the array, or an object holding exactly one array (other
/// members of that object are skipped; a second array is an error, as it
/// leaves the records ambiguous).
///
/// `budget`, when given, is the remaining byte allowance of the reader
/// under `deserializer` (see `json::CappedReader`): the walk arms it with
/// [`MAX_RECORD_BYTES`] while reading a record or a key, and disarms it
/// (`None`) while skipping other values, which needs no memory.
///
/// The caller checks the end of the document (`Deserializer::end`).
pub fn walk_records<'de, D, E>(
    deserializer: D,
    path: &[String],
    budget: Option<&Cell<Option<u64>>>,
    sink: &mut dyn FnMut(Box<RawValue>) -> Result<(), E>,
) -> Result<(), WalkError<E>>
where
    D: Deserializer<'de, Error = serde_json::Error>,
{
    let mut walk = Walk {
        path,
        budget,
        sink,
        stopped: None,
        found: false,
        root_array_key: None,
    };
    let result = AtDepth {
        walk: &mut walk,
        depth: 0,
    }
    .deserialize(deserializer);
    if let Some(stop) = walk.stopped.take() {
        return Err(stop);
    }
    result.map_err(WalkError::Json)?;
    if !walk.found {
        return Err(WalkError::Shape(if path.is_empty() {
            "the document's root object holds no array of records; set record_path".into()
        } else {
            format!("the document has no `{}`", path.join("."))
        }));
    }
    Ok(())
}

struct Walk<'w, E> {
    path: &'w [String],
    budget: Option<&'w Cell<Option<u64>>>,
    sink: &'w mut dyn FnMut(Box<RawValue>) -> Result<(), E>,
    stopped: Option<WalkError<E>>,
    found: bool,
    /// With no path: the key of the root object's array, once seen.
    root_array_key: Option<String>,
}

impl<E> Walk<'_, E> {
    fn arm(&self) {
        if let Some(budget) = self.budget {
            budget.set(Some(MAX_RECORD_BYTES));
        }
    }

    fn disarm(&self) {
        if let Some(budget) = self.budget {
            budget.set(None);
        }
    }

    /// Records why the walk stops; the returned error only unwinds serde.
    fn stop<Er: de::Error>(&mut self, why: WalkError<E>) -> Er {
        self.stopped = Some(why);
        Er::custom("walk stopped")
    }

    fn shape<Er: de::Error>(&mut self, message: String) -> Er {
        self.stop(WalkError::Shape(message))
    }

    /// `the document` or `` `data.items` ``: what is at a depth of the path.
    fn name_at(&self, depth: usize) -> String {
        if depth == 0 {
            "the document".into()
        } else {
            format!("`{}`", self.path[..depth].join("."))
        }
    }

    fn next_key<'de, A: MapAccess<'de>>(&self, map: &mut A) -> Result<Option<String>, A::Error> {
        self.arm();
        let key = map.next_key::<String>();
        self.disarm();
        key
    }

    fn stream_records<'de, A: SeqAccess<'de>>(&mut self, mut seq: A) -> Result<(), A::Error> {
        self.found = true;
        loop {
            self.arm();
            let record = seq.next_element::<Box<RawValue>>();
            self.disarm();
            let Some(record) = record? else {
                return Ok(());
            };
            if let Err(e) = (self.sink)(record) {
                return Err(self.stop(WalkError::Sink(e)));
            }
        }
    }
}

/// Visitor methods for every JSON scalar, each calling
/// `self.on_scalar(kind)`. Spelled out so that serde's default messages,
/// which quote the value, never appear.
macro_rules! visit_scalars {
    () => {
        fn visit_bool<Er: de::Error>(self, _: bool) -> Result<(), Er> {
            self.on_scalar("a boolean")
        }
        fn visit_i64<Er: de::Error>(self, _: i64) -> Result<(), Er> {
            self.on_scalar("a number")
        }
        fn visit_u64<Er: de::Error>(self, _: u64) -> Result<(), Er> {
            self.on_scalar("a number")
        }
        fn visit_f64<Er: de::Error>(self, _: f64) -> Result<(), Er> {
            self.on_scalar("a number")
        }
        fn visit_str<Er: de::Error>(self, _: &str) -> Result<(), Er> {
            self.on_scalar("a string")
        }
        fn visit_unit<Er: de::Error>(self) -> Result<(), Er> {
            self.on_scalar("null")
        }
    };
}

/// The value at `depth` of the path: an object on the way, or the array.
struct AtDepth<'a, 'w, E> {
    walk: &'a mut Walk<'w, E>,
    depth: usize,
}

impl<'de, E> DeserializeSeed<'de> for AtDepth<'_, '_, E> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        if self.depth == self.walk.path.len() {
            deserializer.deserialize_any(RecordsVisitor {
                at_root: self.depth == 0,
                walk: self.walk,
            })
        } else {
            deserializer.deserialize_any(OnPathVisitor {
                walk: self.walk,
                depth: self.depth,
            })
        }
    }
}

/// An object on the way to the records: follows the path's key.
struct OnPathVisitor<'a, 'w, E> {
    walk: &'a mut Walk<'w, E>,
    depth: usize,
}

impl<E> OnPathVisitor<'_, '_, E> {
    fn on_scalar<Er: de::Error>(self, kind: &str) -> Result<(), Er> {
        let message = format!(
            "{} is {kind}, not an object holding `{}`",
            self.walk.name_at(self.depth),
            self.walk.path[self.depth]
        );
        Err(self.walk.shape(message))
    }
}

impl<'de, E> Visitor<'de> for OnPathVisitor<'_, '_, E> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    visit_scalars!();
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        self.on_scalar("an array")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut matched = false;
        while let Some(key) = self.walk.next_key(&mut map)? {
            if key != self.walk.path[self.depth] {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            if matched {
                let message = format!(
                    "`{}` appears twice",
                    self.walk.path[..=self.depth].join(".")
                );
                return Err(self.walk.shape(message));
            }
            matched = true;
            map.next_value_seed(AtDepth {
                walk: &mut *self.walk,
                depth: self.depth + 1,
            })?;
        }
        Ok(())
    }
}

/// The value at the end of the path: the array of records (or, at the root
/// with no path, an object holding it).
struct RecordsVisitor<'a, 'w, E> {
    walk: &'a mut Walk<'w, E>,
    at_root: bool,
}

impl<E> RecordsVisitor<'_, '_, E> {
    fn on_scalar<Er: de::Error>(self, kind: &str) -> Result<(), Er> {
        let message = if self.at_root {
            format!("the document is {kind}, not an array of records")
        } else {
            format!(
                "{} is {kind}, not an array of records",
                self.walk.name_at(self.walk.path.len())
            )
        };
        Err(self.walk.shape(message))
    }
}

impl<'de, E> Visitor<'de> for RecordsVisitor<'_, '_, E> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON array of records")
    }
    visit_scalars!();
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        self.walk.stream_records(seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if !self.at_root {
            return self.on_scalar("an object");
        }
        while let Some(key) = self.walk.next_key(&mut map)? {
            map.next_value_seed(RootMember {
                walk: &mut *self.walk,
                key,
            })?;
        }
        Ok(())
    }
}

/// A member of the root object when no path is set: an array is the
/// records; anything else is skipped.
struct RootMember<'a, 'w, E> {
    walk: &'a mut Walk<'w, E>,
    key: String,
}

impl<E> RootMember<'_, '_, E> {
    fn on_scalar<Er: de::Error>(self, _kind: &str) -> Result<(), Er> {
        Ok(())
    }
}

impl<'de, E> DeserializeSeed<'de> for RootMember<'_, '_, E> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, E> Visitor<'de> for RootMember<'_, '_, E> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    visit_scalars!();
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        if let Some(first) = &self.walk.root_array_key {
            let message = format!(
                "the document's root object holds more than one array (`{first}` and `{}`); \
                 set record_path",
                self.key
            );
            return Err(self.walk.shape(message));
        }
        self.walk.root_array_key = Some(self.key);
        self.walk.stream_records(seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while self.walk.next_key(&mut map)?.is_some() {
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
}

/// The text of the scalar at `path` in a JSON document held in memory (an
/// API's next cursor or next link): a string unescaped, a number as
/// written. `None` when the path is absent, null or an empty string. `Err`
/// (naming keys only) when the document is not JSON or the value is an
/// object or array.
pub fn find_scalar(json: &[u8], path: &[String]) -> Result<Option<String>, String> {
    let mut found = ScalarSearch {
        path,
        value: None,
        problem: None,
    };
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    let result = ScalarAt {
        search: &mut found,
        depth: 0,
    }
    .deserialize(&mut deserializer);
    if let Some(problem) = found.problem {
        return Err(problem);
    }
    result.map_err(|e| format!("not valid JSON (line {}, column {})", e.line(), e.column()))?;
    Ok(found.value)
}

struct ScalarSearch<'p> {
    path: &'p [String],
    value: Option<String>,
    problem: Option<String>,
}

struct ScalarAt<'a, 'p> {
    search: &'a mut ScalarSearch<'p>,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for ScalarAt<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        if self.depth < self.search.path.len() {
            return deserializer.deserialize_any(self);
        }
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        let text = raw.get();
        match first_byte(text) {
            Some(b'{' | b'[') => {
                self.search.problem = Some(format!(
                    "`{}` is {}, not a text or a number",
                    self.search.path.join("."),
                    describe(text)
                ));
                Err(de::Error::custom("not a scalar"))
            }
            Some(b'"') => {
                let value: String = serde_json::from_str(text)
                    .map_err(|_| de::Error::custom("malformed string"))?;
                self.search.value = (!value.is_empty()).then_some(value);
                Ok(())
            }
            Some(b'n') | None => Ok(()),
            Some(_) => {
                self.search.value = Some(text.trim().to_owned());
                Ok(())
            }
        }
    }
}

impl ScalarAt<'_, '_> {
    fn on_scalar<Er: de::Error>(self, _kind: &str) -> Result<(), Er> {
        Ok(())
    }
}

impl<'de> Visitor<'de> for ScalarAt<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    visit_scalars!();
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == self.search.path[self.depth] {
                map.next_value_seed(ScalarAt {
                    search: &mut *self.search,
                    depth: self.depth + 1,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};

    fn fields(json: &str) -> Fields {
        flatten_record(json).expect("a record")
    }

    fn pairs(fields: &Fields) -> Vec<(&str, Option<&str>)> {
        fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_deref()))
            .collect()
    }

    #[test]
    fn records_flatten_with_values_as_written() {
        let f = fields(
            r#"{"id": 12345678901234567890123, "valor": 1.50, "ok": true, "nada": null,
                "vazio": "", "nome": "Jo\u00e3o \"J\"",
                "end": {"cidade": "Recife", "geo": {"lat": -8.05}},
                "tags": [1, "a b", {"x": null}], "obj_vazio": {}}"#,
        );
        assert_eq!(
            pairs(&f),
            vec![
                ("id", Some("12345678901234567890123")),
                ("valor", Some("1.50")),
                ("ok", Some("true")),
                ("nada", None),
                ("vazio", None),
                ("nome", Some("João \"J\"")),
                ("end.cidade", Some("Recife")),
                ("end.geo.lat", Some("-8.05")),
                ("tags", Some(r#"[1,"a b",{"x":null}]"#)),
            ]
        );
    }

    #[test]
    fn non_objects_are_refused_without_their_value() {
        let reason = flatten_record(r#""12345678900""#).unwrap_err();
        assert_eq!(reason, "the record is a string, not a JSON object");
        assert!(flatten_record("[1]").unwrap_err().contains("an array"));
    }

    #[test]
    fn deep_objects_are_kept_as_text() {
        let mut json = String::from("1");
        for _ in 0..(MAX_NESTING + 2) {
            json = format!("{{\"a\": {json}}}");
        }
        let f = fields(&json);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].0.split('.').count(), MAX_NESTING);
        assert!(f[0].1.as_deref().unwrap_or("").starts_with("{\"a\":"));
    }

    #[test]
    fn paths_are_checked() {
        assert_eq!(parse_path("data.items").unwrap(), vec!["data", "items"]);
        assert!(parse_path("").is_err());
        assert!(parse_path("data..items").is_err());
        assert!(parse_path(".data").is_err());
    }

    #[test]
    fn batches_grow_columns_and_keep_first_seen_order() {
        let mut batcher = RecordBatcher::new(2);
        batcher
            .push(fields(r#"{"b": "1", "a": "2"}"#), None)
            .unwrap();
        batcher.push(fields(r#"{"a": "3"}"#), None).unwrap();
        assert!(batcher.is_full());
        let first = batcher.take_batch().unwrap().unwrap();
        batcher
            .push(fields(r#"{"c": "4", "b": "5"}"#), None)
            .unwrap();
        let second = batcher.take_batch().unwrap().unwrap();
        assert!(batcher.take_batch().unwrap().is_none());

        let names = |b: &SourceBatch| -> Vec<String> {
            b.batch
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect()
        };
        assert_eq!(names(&first), vec!["b", "a"]);
        assert_eq!(names(&second), vec!["b", "a", "c"]);
        assert_eq!((first.first_row, second.first_row), (1, 3));
        let b = first.batch.column(0).as_string::<i32>();
        assert_eq!((b.value(0), b.is_null(1)), ("1", true));
        let second_a = second.batch.column(1).as_string::<i32>();
        assert!(second_a.is_null(0));
        assert_eq!(second.batch.column(2).as_string::<i32>().value(0), "4");
    }

    #[test]
    fn a_column_added_mid_batch_is_null_in_earlier_rows() {
        let mut batcher = RecordBatcher::new(10);
        batcher.push(fields(r#"{"a": "1"}"#), Some(1)).unwrap();
        batcher
            .push(fields(r#"{"a": "2", "b": "x"}"#), Some(3))
            .unwrap();
        let batch = batcher.take_batch().unwrap().unwrap();
        let b = batch.batch.column(1).as_string::<i32>();
        assert!(b.is_null(0));
        assert_eq!(b.value(1), "x");
        assert_eq!(batch.lines, Some(vec![1, 3]));
    }

    #[test]
    fn clashing_fields_reject_the_record_and_leave_no_trace() {
        let mut batcher = RecordBatcher::new(10);
        batcher.push(fields(r#"{"a": "1"}"#), None).unwrap();
        let reason = batcher
            .push(fields(r#"{"x": "1", "a.b": "1", "a": {"b": "2"}}"#), None)
            .unwrap_err();
        assert!(reason.contains("`a.b`"), "{reason}");
        batcher.push(fields(r#"{"a": "2"}"#), None).unwrap();
        let batch = batcher.take_batch().unwrap().unwrap();
        assert_eq!(batch.batch.num_columns(), 1);
        assert_eq!(batch.batch.num_rows(), 2);
    }

    #[test]
    fn blank_and_repeated_names_become_unique() {
        let mut batcher = RecordBatcher::new(10);
        batcher
            .push(fields(r#"{"a": "1", " a ": "2", "": "3"}"#), None)
            .unwrap();
        let batch = batcher.take_batch().unwrap().unwrap();
        let schema = batch.batch.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, vec!["a", "a_2", "coluna_3"]);
    }

    #[test]
    fn too_many_columns_reject_the_record() {
        let mut batcher = RecordBatcher::new(10);
        let wide: Fields = (0..=MAX_COLUMNS)
            .map(|i| (format!("k{i}"), Some("v".into())))
            .collect();
        assert!(batcher.push(wide, None).unwrap_err().contains("columns"));
        assert!(batcher.take_batch().unwrap().is_none());
    }

    #[test]
    fn rejects_alone_make_a_batch_with_no_rows() {
        let mut batcher = RecordBatcher::new(10);
        batcher.reject("line 1".into(), "bad".into(), b"{oops");
        let batch = batcher.take_batch().unwrap().unwrap();
        assert_eq!(batch.batch.num_rows(), 0);
        assert_eq!(batch.rejects.len(), 1);
        assert_eq!(batch.rejects[0].content, "{oops");
    }

    fn walk(json: &str, path: &[&str]) -> Result<Vec<String>, WalkError<()>> {
        let path: Vec<String> = path.iter().map(|s| s.to_string()).collect();
        let mut records = Vec::new();
        let mut sink = |raw: Box<RawValue>| -> Result<(), ()> {
            records.push(raw.get().to_owned());
            Ok(())
        };
        let mut de = serde_json::Deserializer::from_str(json);
        walk_records(&mut de, &path, None, &mut sink)?;
        de.end().map_err(WalkError::Json)?;
        Ok(records)
    }

    fn shape(result: Result<Vec<String>, WalkError<()>>) -> String {
        match result {
            Err(WalkError::Shape(message)) => message,
            other => panic!("expected a shape error, got {other:?}"),
        }
    }

    #[test]
    fn walks_to_the_records() {
        let doc = r#"{"meta": {"items": [9]}, "data": {"total": 2, "items": [{"a":1}, {"a":2}]}}"#;
        assert_eq!(
            walk(doc, &["data", "items"]).unwrap(),
            vec![r#"{"a":1}"#, r#"{"a":2}"#]
        );
        assert_eq!(walk("[{}, 3]", &[]).unwrap(), vec!["{}", "3"]);
        assert_eq!(
            walk(
                r#"{"total": 1, "info": {"x": [1]}, "rows": [{"a":1}]}"#,
                &[]
            )
            .unwrap(),
            vec![r#"{"a":1}"#]
        );
    }

    #[test]
    fn misshapen_documents_are_named_by_keys() {
        assert_eq!(
            shape(walk(
                r#"{"data": {"items": "CPF 123"}}"#,
                &["data", "items"]
            )),
            "`data.items` is a string, not an array of records"
        );
        assert_eq!(
            shape(walk(r#"{"data": [1]}"#, &["data", "items"])),
            "`data` is an array, not an object holding `items`"
        );
        assert_eq!(
            shape(walk(r#"{"other": []}"#, &["data"])),
            "the document has no `data`"
        );
        assert!(shape(walk(r#"{"a": [], "b": []}"#, &[])).contains("`a` and `b`"));
        assert!(shape(walk(r#"{"a": 1}"#, &[])).contains("no array"));
        assert!(shape(walk(r#""x""#, &[])).contains("the document is a string"));
        assert!(shape(walk(r#"{"d": [], "d": []}"#, &["d"])).contains("appears twice"));
    }

    #[test]
    fn the_sink_can_stop_the_walk() {
        let path = vec!["d".to_string()];
        let mut seen = 0;
        let mut sink = |_: Box<RawValue>| -> Result<(), &'static str> {
            seen += 1;
            if seen == 2 { Err("enough") } else { Ok(()) }
        };
        let mut de = serde_json::Deserializer::from_str(r#"{"d": [{}, {}, {}]}"#);
        let result = walk_records(&mut de, &path, None, &mut sink);
        assert!(matches!(result, Err(WalkError::Sink("enough"))));
        assert_eq!(seen, 2);
    }

    #[test]
    fn scalars_are_found_by_path() {
        let doc = br#"{"items": [], "paging": {"next": "abc\"d", "n": 10, "none": null, "o": {}}}"#;
        let path = |p: &str| parse_path(p).unwrap();
        assert_eq!(
            find_scalar(doc, &path("paging.next")).unwrap().as_deref(),
            Some("abc\"d")
        );
        assert_eq!(
            find_scalar(doc, &path("paging.n")).unwrap().as_deref(),
            Some("10")
        );
        assert_eq!(find_scalar(doc, &path("paging.none")).unwrap(), None);
        assert_eq!(find_scalar(doc, &path("paging.missing")).unwrap(), None);
        assert!(
            find_scalar(doc, &path("paging.o"))
                .unwrap_err()
                .contains("an object")
        );
        assert!(find_scalar(b"<html>", &path("a")).is_err());
    }
}
