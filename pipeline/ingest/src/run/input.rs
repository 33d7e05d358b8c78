//! The delivery's kind decides how it is read and how its original reaches
//! the raw zone: a local file is copied there while it is read, a remote
//! file is streamed there first and read back, database and API rows are
//! copied there as Arrow IPC while they are checked, and a replay reads an
//! original the raw zone already holds. A delivery seen before stops here.

use super::process::{Processed, process};
use super::raw_zone::{self, IpcTee};
use super::{RunContext, RunInput, RunRequest, lifecycle};
use crate::IngestError;
use lagoa_connectors::{Delivery, Extraction, FileDelivery, SourceError};
use lagoa_core::QualityReport;
use lagoa_core::RunStatus;
use lagoa_lake::Lake;
use lagoa_lake::catalog::model::ObjectDigest;
use lagoa_lake::raw::RawObject;
use std::io::Read;
use std::sync::{Arc, Mutex};

/// What the input stage found. Made once per run, so its size is no cost.
#[allow(clippy::large_enum_variant)]
pub(super) enum Taken {
    /// The lake already holds these bytes: the run ends here.
    AlreadyIngested(QualityReport),
    Read(Delivered),
}

/// A delivery read and checked, its original in the raw zone.
pub(super) struct Delivered {
    /// The delivery's name (a file name, an extraction's name).
    pub name: String,
    pub raw: RawObject,
    /// SHA-256 of the delivered bytes: the same delivery is taken once.
    pub fingerprint: String,
    /// An incremental extraction's next watermark.
    pub watermark: Option<String>,
    /// A replay: the raw-zone record it read (no new one is made).
    pub replayed_raw: Option<String>,
    pub processed: Processed,
}

pub(super) async fn take(ctx: &mut RunContext<'_>, input: RunInput) -> Result<Taken, IngestError> {
    match input {
        RunInput::Replay { raw, batches } => {
            let processed = process(ctx, batches, None, false).await?;
            let object = RawObject {
                path: raw.path.clone(),
                size_bytes: raw.size_bytes as u64,
                stored_bytes: raw.stored_bytes as u64,
                // Recorded with the original delivery, not again.
                sha256: String::new(),
            };
            Ok(Taken::Read(Delivered {
                name: raw.source,
                raw: object,
                fingerprint: raw.fingerprint,
                watermark: None,
                replayed_raw: Some(raw.raw_id),
                processed,
            }))
        }
        RunInput::New(Delivery::File(file)) => {
            if let Some(snapshot) = rerun_of(ctx.lake, ctx.request, &file).await? {
                return Ok(already_ingested(ctx, &file.name, snapshot));
            }
            from_file(ctx, &file).await.map(Taken::Read)
        }
        RunInput::New(Delivery::Remote(remote)) => from_remote(ctx, &remote).await,
        RunInput::New(Delivery::Rows(extraction)) => {
            from_rows(ctx, extraction).await.map(Taken::Read)
        }
    }
}

/// A file whose name and size match a committed delivery is fingerprinted
/// first: an unchanged rerun stops here without work.
async fn rerun_of(
    lake: &Lake,
    request: &RunRequest,
    file: &FileDelivery,
) -> Result<Option<i64>, IngestError> {
    let size = std::fs::metadata(&file.path)
        .map_err(|e| IngestError::Input {
            path: file.name.clone(),
            message: format!("cannot read: {}", e.kind()),
        })?
        .len();
    if request.replay_of.is_some()
        || !lake
            .catalog
            .has_committed_delivery_like(&request.dataset, &file.name, size as i64)
            .await?
    {
        return Ok(None);
    }
    let path = file.path.clone();
    let fingerprint = tokio::task::spawn_blocking(move || raw_zone::fingerprint_file(&path))
        .await
        .map_err(|e| IngestError::Usage(format!("fingerprinting failed: {e}")))?
        .map_err(|e| IngestError::Input {
            path: file.name.clone(),
            message: format!("cannot read: {}", e.kind()),
        })?;
    Ok(lake
        .catalog
        .find_delivery(&request.dataset, &fingerprint)
        .await?)
}

/// The run of a delivery the lake already holds: nothing to do.
fn already_ingested(ctx: &mut RunContext<'_>, name: &str, snapshot: i64) -> Taken {
    ctx.run.status = RunStatus::AlreadyIngested;
    ctx.run.snapshot_id = Some(snapshot);
    Taken::AlreadyIngested(QualityReport {
        status: ctx.run.status,
        ..super::land::report_header(ctx, name)
    })
}

async fn from_file(
    ctx: &mut RunContext<'_>,
    file: &FileDelivery,
) -> Result<Delivered, IngestError> {
    // The original bytes go to the raw zone on a thread of their own, and
    // the copy completes even when the delivery is rejected.
    let raw_copy = {
        let (store, keys, dataset, path, name) = (
            Arc::clone(&ctx.lake.store.store),
            Arc::clone(ctx.lake.crypto.keys()),
            ctx.request.dataset.clone(),
            file.path.clone(),
            file.name.clone(),
        );
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            raw_zone::keep_original(store, &keys, &dataset, &path, &name, handle)
        })
    };
    let batches = {
        let file = file.clone();
        let rows = ctx.request.batch_rows;
        tokio::task::spawn_blocking(move || file.batches(rows))
            .await
            .map_err(|e| IngestError::Usage(format!("the reader thread failed: {e}")))?
    };
    let processed = match batches {
        Ok(batches) => process(ctx, batches, None, false).await,
        Err(e) => Err(IngestError::Source(e)),
    };
    let (raw, fingerprint) = raw_copy
        .await
        .map_err(|e| IngestError::Usage(format!("the raw-zone thread failed: {e}")))??;
    lagoa_lake::fault::point("run.raw_kept");
    let processed = kept_even_if_unread(ctx, (&file.name, &raw, &fingerprint), processed).await?;
    Ok(Delivered {
        name: file.name.clone(),
        raw,
        fingerprint,
        watermark: None,
        replayed_raw: None,
        processed,
    })
}

/// A remote file is streamed into the raw zone first, then read back from
/// there and checked.
async fn from_remote(
    ctx: &mut RunContext<'_>,
    remote: &lagoa_connectors::remote::RemoteFile,
) -> Result<Taken, IngestError> {
    let (lake, request) = (ctx.lake, ctx.request);
    let (object, fingerprint) = fetch_into_raw(lake, request, remote).await?;
    if let Some(snapshot) = lake
        .catalog
        .find_delivery(&request.dataset, &fingerprint)
        .await?
    {
        lake.forget_objects([object.path.as_str()].into_iter())
            .await;
        return Ok(already_ingested(ctx, &remote.name, snapshot));
    }
    let processed = read_remote(ctx, remote, &object).await;
    let processed =
        kept_even_if_unread(ctx, (&remote.name, &object, &fingerprint), processed).await?;
    Ok(Taken::Read(Delivered {
        name: remote.name.clone(),
        raw: object,
        fingerprint,
        watermark: None,
        replayed_raw: None,
        processed,
    }))
}

/// Reads a remote delivery back from its raw-zone copy and checks it.
async fn read_remote(
    ctx: &RunContext<'_>,
    remote: &lagoa_connectors::remote::RemoteFile,
    object: &RawObject,
) -> Result<Processed, IngestError> {
    if let Some(reason) = &remote.refused {
        return Err(SourceError::input(&remote.name, reason).into());
    }
    let stream = decrypting_stream(ctx.lake, &object.path);
    let (name, format, options, rows) = (
        remote.name.clone(),
        remote.format,
        remote.options.clone(),
        ctx.request.batch_rows,
    );
    let batches = tokio::task::spawn_blocking(move || {
        lagoa_connectors::formats::read_stream(stream, &name, format, &options, rows)
    })
    .await
    .map_err(|e| IngestError::Usage(format!("the reader thread failed: {e}")))??;
    process(ctx, batches, None, false).await
}

/// Database and API rows: checked as they arrive, and copied as Arrow IPC
/// into the raw zone on the way (whole even when the check stops early).
async fn from_rows(
    ctx: &mut RunContext<'_>,
    extraction: Extraction,
) -> Result<Delivered, IngestError> {
    let tee = Arc::new(Mutex::new(
        IpcTee::open(ctx.lake, &ctx.request.dataset).await?,
    ));
    let processed = process(ctx, extraction.batches, Some(Arc::clone(&tee)), true).await;
    let tee = Arc::try_unwrap(tee)
        .map_err(|_| IngestError::Usage("the raw copy is still in use".into()))?
        .into_inner()
        .map_err(|_| IngestError::Usage("the raw copy's lock was poisoned".into()))?;
    let (raw, fingerprint) = tokio::task::spawn_blocking(move || tee.finish())
        .await
        .map_err(|e| IngestError::Usage(format!("the raw-zone thread failed: {e}")))??;
    let processed = processed?;
    let watermark = extraction
        .next_watermark
        .lock()
        .ok()
        .and_then(|w| w.clone());
    Ok(Delivered {
        name: extraction.name,
        raw,
        fingerprint,
        watermark,
        replayed_raw: None,
        processed,
    })
}

/// A delivery that could not even be opened is still kept in the raw zone
/// and recorded, with the run's end (so `lagoa replay <run>` finds its
/// original); the run fails with the reader's error.
async fn kept_even_if_unread(
    ctx: &mut RunContext<'_>,
    (name, raw, fingerprint): (&str, &RawObject, &str),
    processed: Result<Processed, IngestError>,
) -> Result<Processed, IngestError> {
    let e = match processed {
        Ok(p) => return Ok(p),
        Err(e) => e,
    };
    let record =
        raw_zone::delivery_record(ctx.request, name, raw, fingerprint, Some(e.to_string()));
    lifecycle::fail(&mut ctx.run, &e);
    ctx.run.raw_id = Some(record.raw_id.clone());
    ctx.run.bytes_read = raw.size_bytes as i64;
    ctx.lake
        .catalog
        .record_unlanded(
            Some(&record),
            None,
            &[ObjectDigest {
                path: raw.path.clone(),
                size_bytes: raw.stored_bytes as i64,
                sha256: raw.sha256.clone(),
            }],
            Some(&ctx.run),
        )
        .await?;
    Err(e)
}

/// Streams a remote file into the raw zone, encrypted, fingerprinting it
/// on the way. Nothing of it touches local disk.
async fn fetch_into_raw(
    lake: &Lake,
    request: &RunRequest,
    remote: &lagoa_connectors::remote::RemoteFile,
) -> Result<(RawObject, String), IngestError> {
    let mut stream = remote.stream().await?;
    let (store, keys, dataset) = (
        Arc::clone(&lake.store.store),
        Arc::clone(lake.crypto.keys()),
        request.dataset.clone(),
    );
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let chunks = std::iter::from_fn(|| {
            handle
                .block_on(futures::StreamExt::next(&mut stream))
                .map(|chunk| chunk.map_err(IngestError::Source))
        });
        raw_zone::keep_chunks(store, &keys, &dataset, handle.clone(), chunks)
    })
    .await
    .map_err(|e| IngestError::Usage(format!("the download thread failed: {e}")))?
}

/// Decrypts a raw-zone object into a bounded pipe on a thread of its own.
pub(crate) fn decrypting_stream(lake: &Lake, path: &str) -> Box<dyn Read + Send> {
    let (mut writer, reader) = lagoa_connectors::pipe::pipe(4);
    let store = Arc::clone(&lake.store.store);
    let keys = Arc::clone(lake.crypto.keys());
    let path = path.to_owned();
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let result = handle.block_on(lagoa_lake::raw::read_raw(&store, &keys, &path, &mut writer));
        if let Err(e) = result {
            writer.fail(std::io::Error::other(e.to_string()));
        }
    });
    Box::new(reader)
}
