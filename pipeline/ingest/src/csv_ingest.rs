use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use lagoa_core::{DatasetName, PersonalTag, SharingLevel};
use lagoa_lake::catalog::model::{
    ColumnDef, CommitOutcome, CommitRequest, DatasetSpec, RawDelivery, WriteMode,
};
use lagoa_lake::raw::{RawObject, RawWriter};
use lagoa_lake::writer::WriteTarget;
use lagoa_lake::{AsOf, Lake, LakeError};
use lagoa_schemas::{
    Contract, ContractError, infer_csv_schema, normalize_column_name, sniff_delimiter,
};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Rows sampled to infer types when there is no contract.
const INFER_SAMPLE_ROWS: usize = 20_000;
const BATCH_ROWS: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error(transparent)]
    Contract(#[from] ContractError),
    #[error("{path}: {message}")]
    Input { path: String, message: String },
    #[error("{0}")]
    Usage(String),
}

/// What to ingest and how.
#[derive(Clone, Debug)]
pub struct CsvIngest {
    pub path: PathBuf,
    pub dataset: DatasetName,
    pub contract: Option<Contract>,
    /// Without a contract: the columns holding personal data.
    pub personal: Vec<String>,
    /// Without a contract: the sharing level (needed for a new dataset).
    pub level: Option<SharingLevel>,
    pub partition: Option<String>,
    pub description: Option<String>,
    pub mode: WriteMode,
    pub delimiter: Option<u8>,
}

#[derive(Debug, serde::Serialize)]
pub struct IngestReport {
    pub dataset: String,
    pub outcome: CommitOutcome,
    pub rows: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub files: usize,
    pub elapsed: Duration,
    /// The delivery's record in the raw zone (none for a rerun that did nothing).
    pub raw_id: Option<String>,
}

/// Called with the number of input bytes read so far.
pub type Progress = Arc<dyn Fn(u64) + Send + Sync>;

/// The columns to read from the file, in file order, with their types.
struct Plan {
    read_schema: SchemaRef,
    columns: Vec<ColumnDef>,
    level: SharingLevel,
    partition: Option<String>,
    description: String,
}

pub async fn ingest_csv(
    lake: &Lake,
    request: CsvIngest,
    progress: Progress,
) -> Result<IngestReport, IngestError> {
    let started = Instant::now();
    let shown = request.path.display().to_string();
    let input_err = |message: String| IngestError::Input {
        path: shown.clone(),
        message,
    };

    let (header, delimiter) = {
        let file = File::open(&request.path).map_err(|e| input_err(format!("cannot open: {e}")))?;
        let mut line = String::new();
        BufReader::new(file)
            .read_line(&mut line)
            .map_err(|e| input_err(format!("cannot read the header: {e}")))?;
        let line = line.trim_start_matches('\u{feff}').trim_end().to_owned();
        if line.is_empty() {
            return Err(input_err("the file is empty: no header line".into()));
        }
        let delimiter = request.delimiter.unwrap_or_else(|| sniff_delimiter(&line));
        (line, delimiter)
    };

    let latest = lake.catalog.resolve(&AsOf::Latest).await?;
    let existing = lake.catalog.dataset(&request.dataset, latest).await?;
    if let Some(at) = existing.as_ref().and_then(|d| d.shredded_at) {
        return Err(LakeError::Shredded {
            dataset: request.dataset.to_string(),
            at: lagoa_lake::catalog::format_micros(at),
        }
        .into());
    }

    // A rerun (same file name and size as a committed delivery) is
    // fingerprinted first, so it stops here without work. Anything else is
    // fingerprinted on the raw-copy thread, beside parsing; a duplicate under
    // another name is then caught by the commit and its files removed.
    let size = std::fs::metadata(&request.path)
        .map_err(|e| input_err(format!("cannot read: {e}")))?
        .len();
    if lake
        .catalog
        .has_committed_delivery_like(&request.dataset, &source_name(&request), size as i64)
        .await?
    {
        let path = request.path.clone();
        let fingerprint = tokio::task::spawn_blocking(move || fingerprint(&path))
            .await
            .map_err(|e| IngestError::Usage(format!("fingerprinting failed: {e}")))?
            .map_err(|e| input_err(format!("cannot read: {e}")))?;
        if let Some(snapshot) = lake
            .catalog
            .find_delivery(&request.dataset, &fingerprint)
            .await?
        {
            return Ok(already_ingested(&request, snapshot, started));
        }
    }

    // Keep the original bytes, encrypted, on a thread of their own beside
    // parsing; the copy completes even when the delivery is rejected.
    let raw_copy = {
        let (store, keys, dataset, path) = (
            Arc::clone(&lake.store.store),
            Arc::clone(lake.crypto.keys()),
            request.dataset.clone(),
            request.path.clone(),
        );
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || keep_original(store, &keys, &dataset, &path, handle))
    };

    let written = write_files(
        lake,
        &request,
        &header,
        delimiter,
        existing.as_ref(),
        progress,
    )
    .await;

    let (raw, fingerprint) = raw_copy
        .await
        .map_err(|e| IngestError::Usage(format!("the raw-zone thread failed: {e}")))?
        .map_err(|e| match e {
            IngestError::Input { message, .. } => input_err(message),
            other => other,
        })?;
    let loaded = match written {
        Ok(written) => commit(lake, &request, written, &fingerprint).await,
        Err(e) => Err(e),
    }
    .map_err(|e| match e {
        IngestError::Input { message, .. } => input_err(message),
        other => other,
    });

    let (status, snapshot, error) = match &loaded {
        Ok(l) => match l.outcome {
            CommitOutcome::Committed { snapshot, .. } => ("committed", Some(snapshot), None),
            CommitOutcome::AlreadyIngested { snapshot } => {
                // The same bytes arrived under another name: drop this copy.
                forget(lake, l.paths.iter().chain([&raw.path])).await;
                return Ok(already_ingested(&request, snapshot, started));
            }
        },
        Err(e) => ("failed", None, Some(e.to_string())),
    };
    let raw_id = uuid::Uuid::now_v7().to_string();
    lake.catalog
        .record_raw(&RawDelivery {
            raw_id: raw_id.clone(),
            dataset: request.dataset.to_string(),
            path: raw.path.clone(),
            source: source_name(&request),
            fingerprint,
            size_bytes: raw.size_bytes as i64,
            stored_bytes: raw.stored_bytes as i64,
            received_at: lagoa_lake::catalog::now_micros(),
            status: status.into(),
            snapshot_id: snapshot,
            error,
        })
        .await?;
    let loaded = loaded?;
    tracing::info!(dataset = %request.dataset, outcome = ?loaded.outcome, rows = loaded.rows, raw_id, "delivery ingested");
    Ok(IngestReport {
        dataset: request.dataset.to_string(),
        outcome: loaded.outcome,
        rows: loaded.rows,
        bytes_read: loaded.bytes_read,
        bytes_written: loaded.bytes_written,
        files: loaded.paths.len(),
        elapsed: started.elapsed(),
        raw_id: Some(raw_id),
    })
}

fn already_ingested(request: &CsvIngest, snapshot: i64, started: Instant) -> IngestReport {
    IngestReport {
        dataset: request.dataset.to_string(),
        outcome: CommitOutcome::AlreadyIngested { snapshot },
        rows: 0,
        bytes_read: 0,
        bytes_written: 0,
        files: 0,
        elapsed: started.elapsed(),
        raw_id: None,
    }
}

/// Deletes objects nothing refers to; what fails stays for vacuum.
async fn forget(lake: &Lake, paths: impl Iterator<Item = &String>) {
    use object_store::ObjectStoreExt;
    for path in paths {
        if let Err(e) = lake
            .store
            .store
            .delete(&object_store::path::Path::from(path.as_str()))
            .await
        {
            tracing::warn!(path, error = %e, "could not delete an unneeded object; vacuum will");
        }
    }
}

fn source_name(request: &CsvIngest) -> String {
    request
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Files written for a delivery, not yet committed.
struct Written {
    plan: Plan,
    files: Vec<lagoa_lake::catalog::model::NewDataFile>,
    rows: u64,
    bytes_read: u64,
}

/// What committing a delivery produced.
struct Loaded {
    outcome: CommitOutcome,
    rows: u64,
    bytes_read: u64,
    bytes_written: u64,
    paths: Vec<String>,
}

async fn write_files(
    lake: &Lake,
    request: &CsvIngest,
    header: &str,
    delimiter: u8,
    existing: Option<&lagoa_lake::catalog::model::DatasetInfo>,
    progress: Progress,
) -> Result<Written, IngestError> {
    let input_err = |message: String| IngestError::Input {
        path: String::new(),
        message,
    };
    let plan = plan(request, header, delimiter, existing).map_err(input_err)?;
    let personal_columns: Vec<String> = plan
        .columns
        .iter()
        .filter(|c| c.personal.is_some())
        .map(|c| c.name.clone())
        .collect();
    let target = WriteTarget {
        dataset: request.dataset.clone(),
        schema: Arc::clone(&plan.read_schema),
        personal_columns,
        partition_column: plan.partition.clone(),
    };
    let mut writer = lake.writer(target)?;
    let read_schema = Arc::clone(&plan.read_schema);
    let path = request.path.clone();
    let (files, rows, bytes_read) = tokio::task::spawn_blocking(move || {
        match read_and_write(&path, read_schema, delimiter, &mut writer, progress) {
            Ok((rows, bytes)) => writer
                .finish()
                .map(|files| (files, rows, bytes))
                .map_err(IngestError::from),
            Err(e) => {
                writer.abort();
                Err(e)
            }
        }
    })
    .await
    .map_err(|e| IngestError::Usage(format!("the writer thread failed: {e}")))??;
    Ok(Written {
        plan,
        files,
        rows,
        bytes_read,
    })
}

async fn commit(
    lake: &Lake,
    request: &CsvIngest,
    written: Written,
    fingerprint: &str,
) -> Result<Loaded, IngestError> {
    let Written {
        plan,
        files,
        rows,
        bytes_read,
    } = written;
    let bytes_written = files.iter().map(|f| f.size_bytes as u64).sum();
    let paths = files.iter().map(|f| f.path.clone()).collect();
    let commit = CommitRequest {
        spec: DatasetSpec {
            name: request.dataset.clone(),
            level: plan.level,
            description: plan.description,
            partition_column: plan.partition,
            columns: plan.columns,
        },
        mode: request.mode.clone(),
        files,
        fingerprint: Some(fingerprint.to_owned()),
        source: source_name(request),
    };
    let outcome = lake.catalog.commit(&commit).await?;
    Ok(Loaded {
        outcome,
        rows,
        bytes_read,
        bytes_written,
        paths,
    })
}

/// Copies the delivered file into the raw zone, encrypted, and fingerprints
/// it (SHA-256) on the way.
fn keep_original(
    store: Arc<dyn object_store::ObjectStore>,
    keys: &Arc<dyn lagoa_lake::keys::KeyProvider>,
    dataset: &DatasetName,
    path: &std::path::Path,
    handle: tokio::runtime::Handle,
) -> Result<(RawObject, String), IngestError> {
    let mut file = File::open(path).map_err(|e| IngestError::Input {
        path: String::new(),
        message: format!("cannot open: {e}"),
    })?;
    let mut writer =
        RawWriter::create(store, keys, dataset, handle, lagoa_lake::raw::DEFAULT_CHUNK)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match file.read(&mut buf) {
            Ok(n) => n,
            Err(e) => {
                writer.abort();
                return Err(IngestError::Input {
                    path: String::new(),
                    message: format!("cannot read: {e}"),
                });
            }
        };
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        if let Err(e) = writer.write(&buf[..n]) {
            writer.abort();
            return Err(e.into());
        }
    }
    Ok((
        writer.finish()?,
        format!("sha256:{}", hex::encode(hasher.finalize())),
    ))
}

fn fingerprint(path: &std::path::Path) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
}

/// Decides the file's columns and types, the level and the partition, from
/// the contract or from inference and flags, checked against what the lake
/// already holds for this dataset.
fn plan(
    request: &CsvIngest,
    header: &str,
    delimiter: u8,
    existing: Option<&lagoa_lake::catalog::model::DatasetInfo>,
) -> Result<Plan, String> {
    let header_names: Vec<String> = csv_fields(header, delimiter)
        .iter()
        .map(|h| normalize_column_name(h))
        .collect();

    let (mut columns, level, partition, description) = match &request.contract {
        Some(contract) => {
            if contract.name() != request.dataset {
                return Err(format!(
                    "the contract describes dataset {}, not {}",
                    contract.dataset.name, request.dataset
                ));
            }
            let by_name: std::collections::HashMap<&str, &lagoa_schemas::ColumnSpec> = contract
                .columns
                .iter()
                .map(|c| (c.name.as_str(), c))
                .collect();
            let missing: Vec<&str> = contract
                .columns
                .iter()
                .map(|c| c.name.as_str())
                .filter(|n| !header_names.iter().any(|h| h == n))
                .collect();
            let unexpected: Vec<&str> = header_names
                .iter()
                .map(String::as_str)
                .filter(|h| !by_name.contains_key(h))
                .collect();
            if !missing.is_empty() || !unexpected.is_empty() {
                return Err(format!(
                    "the header does not match contract {}: missing columns [{}], unexpected columns [{}]",
                    contract.dataset.name,
                    missing.join(", "),
                    unexpected.join(", ")
                ));
            }
            let columns = header_names
                .iter()
                .map(|h| {
                    let spec = by_name[h.as_str()];
                    let data_type =
                        lagoa_schemas::parse_type(&spec.data_type).expect("validated on load");
                    ColumnDef {
                        name: h.clone(),
                        data_type: data_type.to_string(),
                        nullable: spec.nullable,
                        personal: spec
                            .personal
                            .as_ref()
                            .and_then(|p| p.parse::<PersonalTag>().ok()),
                    }
                })
                .collect::<Vec<_>>();
            (
                columns,
                Some(contract.level()),
                contract.dataset.partition.clone(),
                contract.dataset.description.clone(),
            )
        }
        None => {
            let file = File::open(&request.path).map_err(|e| format!("cannot open: {e}"))?;
            let inferred = infer_csv_schema(
                strip_bom(BufReader::new(file)),
                delimiter,
                INFER_SAMPLE_ROWS,
            )?;
            for wanted in &request.personal {
                if !inferred.iter().any(|c| &c.name == wanted) {
                    return Err(format!(
                        "--personal names column {wanted}, which the file does not have (columns: {})",
                        header_names.join(", ")
                    ));
                }
            }
            let columns = inferred
                .into_iter()
                .map(|c| {
                    let personal = request.personal.contains(&c.name);
                    // Personal values are kept as text: identifiers keep their zeros.
                    let data_type = if personal {
                        DataType::Utf8
                    } else {
                        c.data_type
                    };
                    ColumnDef {
                        name: c.name,
                        data_type: data_type.to_string(),
                        nullable: true,
                        personal: personal.then_some(PersonalTag::Pessoal),
                    }
                })
                .collect::<Vec<_>>();
            (
                columns,
                request.level,
                request.partition.clone(),
                request.description.clone().unwrap_or_default(),
            )
        }
    };

    let (level, partition, description) = match existing {
        Some(existing) => {
            if let Some(level) = level
                && level != existing.level
            {
                return Err(format!(
                    "dataset {} is categorised {}; this delivery says {level}. Changing a dataset's level is a governance decision, not part of an ingest",
                    existing.name, existing.level
                ));
            }
            if partition.is_some() && partition != existing.partition_column {
                return Err(format!(
                    "dataset {} is partitioned by {}; this delivery asks for {}",
                    existing.name,
                    existing.partition_column.as_deref().unwrap_or("nothing"),
                    partition.as_deref().unwrap_or("nothing")
                ));
            }
            // Columns the lake already holds as personal stay personal, and
            // keep the type the lake has when inference guessed otherwise.
            for column in columns.iter_mut() {
                if let Some(known) = existing.columns.iter().find(|c| c.name == column.name) {
                    if known.personal.is_some() && column.personal.is_none() {
                        column.personal = known.personal;
                        column.data_type = known.data_type.clone();
                    }
                    if request.contract.is_none() {
                        column.data_type = known.data_type.clone();
                    }
                }
            }
            (
                existing.level,
                existing.partition_column.clone(),
                existing.description.clone(),
            )
        }
        None => {
            let has_personal = columns.iter().any(|c| c.personal.is_some());
            let level = match level {
                Some(level) => level,
                None if has_personal => SharingLevel::Especial,
                None => return Err("a new dataset needs a sharing level: pass --level amplo|corporativo|especial or a contract".into()),
            };
            (level, partition, description)
        }
    };
    if level != SharingLevel::Especial && columns.iter().any(|c| c.personal.is_some()) {
        return Err(format!(
            "level {level} is not allowed for a dataset with personal-data columns: make it especial, or remove or pseudonymise those columns"
        ));
    }
    if let Some(p) = &partition
        && !columns.iter().any(|c| &c.name == p)
    {
        return Err(format!(
            "partition column {p} is not a column of the file (columns: {})",
            header_names.join(", ")
        ));
    }

    let fields = columns
        .iter()
        .map(|c| {
            let data_type: DataType = c
                .data_type
                .parse()
                .map_err(|e| format!("column {}: {e}", c.name))?;
            Ok(Field::new(&c.name, data_type, c.nullable))
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Plan {
        read_schema: Arc::new(Schema::new(fields)),
        columns,
        level,
        partition,
        description,
    })
}

fn csv_fields(line: &str, delimiter: u8) -> Vec<String> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .from_reader(line.as_bytes());
    reader
        .records()
        .next()
        .and_then(|r| r.ok())
        .map(|r| r.iter().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Skips a UTF-8 byte-order mark at the start of the input.
fn strip_bom<R: BufRead>(mut reader: R) -> impl Read {
    if let Ok(buf) = reader.fill_buf()
        && buf.starts_with(&[0xEF, 0xBB, 0xBF])
    {
        reader.consume(3);
    }
    reader
}

struct CountingReader<R> {
    inner: R,
    read: u64,
    reported: u64,
    progress: Progress,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read - self.reported >= 4 << 20 || n == 0 {
            (self.progress)(self.read);
            self.reported = self.read;
        }
        Ok(n)
    }
}

/// Batches in flight between the parser and the writer: bounds memory.
const PIPELINE_DEPTH: usize = 4;

/// Parses on one thread and encodes/encrypts/uploads on the calling one, so
/// both cores work; the bounded channel keeps memory flat whatever the
/// file size. An error on either side stops both.
fn read_and_write(
    path: &std::path::Path,
    schema: SchemaRef,
    delimiter: u8,
    writer: &mut lagoa_lake::writer::DatasetWriter,
    progress: Progress,
) -> Result<(u64, u64), IngestError> {
    let input = |message: String| IngestError::Input {
        path: String::new(),
        message,
    };
    let file = File::open(path).map_err(|e| input(format!("cannot open: {e}")))?;
    let counting = CountingReader {
        inner: file,
        read: 0,
        reported: 0,
        progress: Arc::clone(&progress),
    };
    let reader = strip_bom(BufReader::with_capacity(1 << 20, counting));
    let csv = arrow::csv::ReaderBuilder::new(Arc::clone(&schema))
        .with_header(true)
        .with_delimiter(delimiter)
        .with_batch_size(BATCH_ROWS)
        .build(reader)
        .map_err(|e| input(sanitize_csv_error(&e.to_string(), &schema, 0)))?;

    let (sender, receiver) =
        std::sync::mpsc::sync_channel::<Result<RecordBatch, String>>(PIPELINE_DEPTH);
    let parser_schema = Arc::clone(&schema);
    let parser = std::thread::Builder::new()
        .name("lagoa-csv-parser".into())
        .spawn(move || {
            let mut rows = 0u64;
            for batch in csv {
                let item =
                    batch.map_err(|e| sanitize_csv_error(&e.to_string(), &parser_schema, rows));
                let failed = item.is_err();
                if let Ok(b) = &item {
                    rows += b.num_rows() as u64;
                }
                // The writer hung up: it failed and will report why.
                if sender.send(item).is_err() || failed {
                    return;
                }
            }
        })
        .map_err(|e| input(format!("cannot start the parser thread: {e}")))?;

    let mut rows = 0u64;
    let mut outcome = Ok(());
    for item in receiver.iter() {
        match item {
            Ok(batch) => {
                rows += batch.num_rows() as u64;
                if let Err(e) = writer.write(&batch) {
                    outcome = Err(IngestError::from(e));
                    break;
                }
            }
            Err(message) => {
                outcome = Err(input(message));
                break;
            }
        }
    }
    drop(receiver);
    parser
        .join()
        .map_err(|_| input("the CSV parser thread panicked".into()))?;
    outcome?;
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    progress(bytes);
    Ok((rows, bytes))
}

/// Arrow's CSV errors quote the offending value and the whole row; either
/// may be personal data, so only the line, the column and the expected type
/// are kept.
fn sanitize_csv_error(message: &str, schema: &Schema, rows_before: u64) -> String {
    let parse = regex::Regex::new(r"as type '([^']+)' for column (\d+) at line (\d+)")
        .expect("valid regex");
    if let Some(c) = parse.captures(message) {
        let column: usize = c[2].parse().unwrap_or(0);
        let name = schema
            .fields()
            .get(column)
            .map(|f| f.name().as_str())
            .unwrap_or("?");
        // Arrow counts lines from 0 (the header is line 0); people count from 1.
        let line: u64 = c[3].parse::<u64>().unwrap_or(0) + 1;
        return format!("line {line}, column {name}: value is not a valid {}", &c[1]);
    }
    if let Some(rest) = message.split("declared as non-nullable").next()
        && message.contains("declared as non-nullable")
    {
        let column = rest.split('\'').nth(1).unwrap_or("?");
        return format!(
            "column {column} is required (nullable = false) but is empty in a row between lines {} and {}",
            rows_before + 2,
            rows_before + 1 + BATCH_ROWS as u64
        );
    }
    if message.contains("incorrect number of fields") || message.contains("found record with") {
        let line = regex::Regex::new(r"line (\d+)")
            .expect("valid regex")
            .captures(message)
            .map(|c| c[1].to_owned());
        return format!(
            "line {}: wrong number of fields for the header",
            line.unwrap_or_else(|| "?".into())
        );
    }
    if message.contains("UTF-8") || message.contains("utf-8") || message.contains("utf8") {
        return "the file is not valid UTF-8 (declare its encoding in the contract; Latin-1 support comes with the connectors)".into();
    }
    // Unknown shape: keep only the part before any quoted data.
    let safe = message.split(['\'', '"']).next().unwrap_or("").trim();
    format!("cannot read CSV after {rows_before} rows: {safe}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_errors_never_quote_values() {
        let schema = Schema::new(vec![
            Field::new("cpf", DataType::Utf8, true),
            Field::new("idade", DataType::Int64, true),
        ]);
        let raw = "Parser error: Error while parsing value 'Maria da Silva' as type 'Int64' for column 1 at line 7. Row data: '[12345678901,Maria da Silva]'";
        let clean = sanitize_csv_error(raw, &schema, 0);
        assert_eq!(clean, "line 8, column idade: value is not a valid Int64");
        assert!(!clean.contains("Maria") && !clean.contains("12345678901"));
    }
}
