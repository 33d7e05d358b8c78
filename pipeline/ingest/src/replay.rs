//! Reprocessing what the lake already holds: a delivery from the raw zone
//! (`lagoa replay`, after a contract fix) and rejected rows from quarantine
//! (`lagoa quarantine release`, after a fix at the source or in the
//! contract). Nothing is decrypted to disk: bytes stream from the object
//! store through a bounded pipe into the readers.

use crate::IngestError;
use crate::run::{
    Progress, RunInput, RunOutcome, RunRequest, decrypting_stream, read_quarantine, run_input,
};
use arrow::array::{ArrayRef, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema};
use lagoa_connectors::formats::{Format, FormatOptions, read_stream};
use lagoa_connectors::{Batches, SourceBatch, SourceError};
use lagoa_core::DatasetName;
use lagoa_lake::Lake;
use lagoa_lake::catalog::model::RawDelivery;
use std::io::Read;
use std::sync::Arc;

/// Runs a recorded delivery again from its raw-zone copy. The run is
/// checked against the contract in force now (or `request.contract`).
pub async fn replay(
    lake: &Lake,
    run_id: &str,
    options: &FormatOptions,
    mut request: RunRequest,
    progress: Progress,
) -> Result<RunOutcome, IngestError> {
    let original = recorded_run(lake, run_id).await?;
    let raw_id = original.raw_id.clone().ok_or_else(|| {
        IngestError::Usage(format!(
            "run {} kept no delivery in the raw zone (it stopped before reading)",
            original.run_id
        ))
    })?;
    let raw = lake
        .catalog
        .raw_delivery(&raw_id)
        .await?
        .ok_or_else(|| IngestError::Usage(format!("raw delivery {raw_id} is not recorded")))?;
    let stream = decrypting_stream(lake, &raw.path);
    let batches = if is_arrow_ipc(&original.source, &raw) {
        ipc_batches(stream, &raw.source)
    } else {
        let format = Format::from_file_name(&raw.source).ok_or_else(|| {
            IngestError::Usage(format!(
                "cannot tell the format of {} from its name",
                raw.source
            ))
        })?;
        let name = raw.source.clone();
        let options = options.clone();
        let rows = request.batch_rows;
        tokio::task::spawn_blocking(move || read_stream(stream, &name, format, &options, rows))
            .await
            .map_err(|e| IngestError::Usage(format!("the reader thread failed: {e}")))??
    };
    request.dataset =
        DatasetName::new(&original.dataset).map_err(|e| IngestError::Usage(e.to_string()))?;
    request.source = original.source.clone();
    written_as(&mut request, &raw)?;
    request.trigger = "replay".into();
    request.replay_of = Some(original.run_id.clone());
    run_input(lake, &request, RunInput::Replay { raw, batches }, progress).await
}

/// Writes a replayed or released delivery as the original was written.
fn written_as(request: &mut RunRequest, raw: &RawDelivery) -> Result<(), IngestError> {
    request.mode = raw
        .write_mode
        .parse()
        .map_err(|e: String| IngestError::Usage(format!("raw delivery {}: {e}", raw.raw_id)))?;
    request.key = raw.write_key.clone();
    request.delete_column = raw.delete_column.clone();
    Ok(())
}

async fn recorded_run(
    lake: &Lake,
    run_id: &str,
) -> Result<lagoa_lake::catalog::RunRecord, IngestError> {
    lake.catalog
        .run(run_id)
        .await?
        .ok_or_else(|| IngestError::Usage(format!("no run {run_id}")))
}

/// Database and API extractions are kept as Arrow IPC streams; files keep
/// their name (with its extension).
fn is_arrow_ipc(_source: &str, raw: &RawDelivery) -> bool {
    Format::from_file_name(&raw.source).is_none()
}

/// Re-admits a run's quarantined rows: they are checked again against the
/// contract in force (fixed since, or given in `request.contract`); those
/// that pass are written as their delivery was (appended, or upserted as
/// the current version of their keys: release before a newer delivery of
/// the same keys, or the older rows win), those that still fail go to a new
/// quarantine.
pub async fn release_quarantine(
    lake: &Lake,
    run_id: &str,
    mut request: RunRequest,
    progress: Progress,
) -> Result<RunOutcome, IngestError> {
    let original = recorded_run(lake, run_id).await?;
    let quarantine = lake
        .catalog
        .quarantines(Some(&original.dataset))
        .await?
        .into_iter()
        .find(|q| q.run_id == original.run_id)
        .ok_or_else(|| IngestError::Usage(format!("run {run_id} has no quarantined rows")))?;
    if let Some(by) = &quarantine.released_by_run {
        return Err(IngestError::Usage(format!(
            "the rows of run {} were already released by run {by}",
            original.run_id
        )));
    }
    let rows = read_quarantine(lake, &quarantine.path).await?;
    let batch = rows_to_batch(&rows)?;
    // Rows that never split into columns cannot be re-checked: they move to
    // the new run's quarantine with their reason, not out of sight.
    let unsplit: Vec<lagoa_connectors::formats::RowReject> = rows
        .iter()
        .filter_map(|r| {
            Some(lagoa_connectors::formats::RowReject {
                location: r.location.clone(),
                reason: r.reason.clone(),
                content: r.row.get("_conteudo")?.as_str()?.to_owned(),
            })
        })
        .collect();
    let raw = RawDelivery {
        raw_id: original.raw_id.clone().unwrap_or_default(),
        dataset: original.dataset.clone(),
        path: quarantine.path.clone(),
        source: format!("quarantine of {}", original.run_id),
        fingerprint: format!("quarantine:{}", original.run_id),
        size_bytes: quarantine.stored_bytes,
        stored_bytes: quarantine.stored_bytes,
        received_at: quarantine.created_at,
        status: "quarantine".into(),
        snapshot_id: None,
        error: None,
        write_mode: String::new(),
        write_key: Vec::new(),
        delete_column: None,
    };
    // Released rows are written as their delivery was (an upsert's become
    // the current version of their keys).
    if let Some(raw_id) = &original.raw_id
        && let Some(delivered) = lake.catalog.raw_delivery(raw_id).await?
    {
        written_as(&mut request, &delivered)?;
    }
    let mut source_batch = SourceBatch::new(batch, 1);
    source_batch.rejects = unsplit;
    let batches: Batches = Box::new(std::iter::once(Ok(source_batch)));
    request.dataset =
        DatasetName::new(&original.dataset).map_err(|e| IngestError::Usage(e.to_string()))?;
    request.source = original.source.clone();
    request.trigger = "release".into();
    request.replay_of = Some(original.run_id.clone());
    // Marked released in the commit's own transaction: a crash cannot
    // leave the rows admitted and the quarantine open, and two stewards
    // releasing at once cannot admit them twice.
    request.releases_quarantine_of = Some(original.run_id.clone());
    run_input(lake, &request, RunInput::Replay { raw, batches }, progress).await
}

/// Quarantined rows back into one text batch with their delivered columns
/// (rows that could not be split into columns cannot be re-admitted).
fn rows_to_batch(rows: &[crate::check::RejectedRow]) -> Result<RecordBatch, IngestError> {
    let mut names: Vec<String> = Vec::new();
    for row in rows {
        for key in row.row.keys() {
            if key != "_conteudo" && !names.contains(key) {
                names.push(key.clone());
            }
        }
    }
    if names.is_empty() {
        return Err(IngestError::Usage(
            "none of the quarantined rows could be split into columns; ask the provider for a corrected delivery".into(),
        ));
    }
    let usable: Vec<_> = rows
        .iter()
        .filter(|r| !r.row.contains_key("_conteudo"))
        .collect();
    let columns: Vec<ArrayRef> = names
        .iter()
        .map(|name| {
            let mut b = StringBuilder::new();
            for row in &usable {
                match row.row.get(name).and_then(|v| v.as_str()) {
                    Some(v) => b.append_value(v),
                    None => b.append_null(),
                }
            }
            Arc::new(b.finish()) as ArrayRef
        })
        .collect();
    let schema = Schema::new(
        names
            .iter()
            .map(|n| Field::new(n, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    );
    RecordBatch::try_new(Arc::new(schema), columns)
        .map_err(|e| IngestError::Usage(format!("rebuilding quarantined rows: {e}")))
}

/// One reader shared by the IPC streams written one after another.
#[derive(Clone)]
struct SharedReader(Arc<std::sync::Mutex<std::io::BufReader<Box<dyn Read + Send>>>>);

impl Read for SharedReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("reader lock poisoned"))?
            .read(buf)
    }
}

impl SharedReader {
    fn at_end(&self) -> bool {
        match self.0.lock() {
            Ok(mut r) => std::io::BufRead::fill_buf(&mut *r)
                .map(|b| b.is_empty())
                .unwrap_or(true),
            Err(_) => true,
        }
    }
}

/// Batches of one or more Arrow IPC streams written one after another.
fn ipc_batches(input: Box<dyn Read + Send>, name: &str) -> Batches {
    let name = name.to_owned();
    let shared = SharedReader(Arc::new(std::sync::Mutex::new(std::io::BufReader::new(
        input,
    ))));
    let mut current: Option<arrow::ipc::reader::StreamReader<SharedReader>> = None;
    let mut next_row = 1u64;
    let mut done = false;
    Box::new(std::iter::from_fn(move || {
        loop {
            if done {
                return None;
            }
            if current.is_none() {
                if shared.at_end() {
                    return None;
                }
                match arrow::ipc::reader::StreamReader::try_new(shared.clone(), None) {
                    Ok(r) => current = Some(r),
                    Err(e) => {
                        done = true;
                        return Some(Err(SourceError::input(
                            &name,
                            format!("the raw copy is not a readable Arrow stream: {e}"),
                        )));
                    }
                }
            }
            let stream = current.as_mut().expect("opened above");
            match stream.next() {
                Some(Ok(batch)) => {
                    let first = next_row;
                    next_row += batch.num_rows() as u64;
                    return Some(Ok(SourceBatch::new(batch, first)));
                }
                Some(Err(e)) => {
                    done = true;
                    return Some(Err(SourceError::input(
                        &name,
                        format!("the raw copy is damaged: {e}"),
                    )));
                }
                None => current = None,
            }
        }
    }))
}
