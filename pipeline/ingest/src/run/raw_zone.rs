//! The raw zone keeps every delivery's original bytes, encrypted, so that
//! a run can be replayed and a provider's file returned as delivered. Each
//! copy is fingerprinted (SHA-256) on the way: the fingerprint is how the
//! same delivery is recognised and taken once.

use super::RunRequest;
use crate::IngestError;
use arrow::datatypes::SchemaRef;
use lagoa_core::DatasetName;
use lagoa_lake::Lake;
use lagoa_lake::catalog::model::RawDelivery;
use lagoa_lake::catalog::now_micros;
use lagoa_lake::keys::KeyProvider;
use lagoa_lake::raw::{RawObject, RawWriter};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::sync::Arc;

/// A delivery's raw-zone record: `committed` (the commit fills in its
/// snapshot) or, with the error, `failed`.
pub(super) fn delivery_record(
    request: &RunRequest,
    name: &str,
    raw: &RawObject,
    fingerprint: &str,
    error: Option<String>,
) -> RawDelivery {
    RawDelivery {
        raw_id: uuid::Uuid::now_v7().to_string(),
        dataset: request.dataset.to_string(),
        path: raw.path.clone(),
        source: name.to_owned(),
        fingerprint: fingerprint.to_owned(),
        size_bytes: raw.size_bytes as i64,
        stored_bytes: raw.stored_bytes as i64,
        received_at: now_micros(),
        status: if error.is_some() {
            "failed"
        } else {
            "committed"
        }
        .into(),
        snapshot_id: None,
        error,
        write_mode: request.mode.as_str().to_owned(),
        write_key: request.key.clone(),
        delete_column: request.delete_column.clone(),
    }
}

/// Copies a delivered file into the raw zone, encrypted, and fingerprints
/// it on the way.
pub(super) fn keep_original(
    store: Arc<dyn object_store::ObjectStore>,
    keys: &Arc<dyn KeyProvider>,
    dataset: &DatasetName,
    path: &std::path::Path,
    name: &str,
    handle: tokio::runtime::Handle,
) -> Result<(RawObject, String), IngestError> {
    let input_err = |e: std::io::Error| IngestError::Input {
        path: name.to_owned(),
        message: format!("cannot read: {}", e.kind()),
    };
    let mut file = std::fs::File::open(path).map_err(input_err)?;
    let mut buf = vec![0u8; 1 << 20];
    let chunks = std::iter::from_fn(move || match file.read(&mut buf) {
        Ok(0) => None,
        Ok(n) => Some(Ok(buf[..n].to_vec())),
        Err(e) => Some(Err(input_err(e))),
    });
    keep_chunks(store, keys, dataset, handle, chunks)
}

/// Writes chunks of a delivery into the raw zone, encrypted, and
/// fingerprints them. A failing chunk aborts the copy.
pub(super) fn keep_chunks<B: AsRef<[u8]>>(
    store: Arc<dyn object_store::ObjectStore>,
    keys: &Arc<dyn KeyProvider>,
    dataset: &DatasetName,
    handle: tokio::runtime::Handle,
    chunks: impl Iterator<Item = Result<B, IngestError>>,
) -> Result<(RawObject, String), IngestError> {
    let mut writer =
        RawWriter::create(store, keys, dataset, handle, lagoa_lake::raw::DEFAULT_CHUNK)?;
    let mut hasher = Sha256::new();
    for chunk in chunks {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                writer.abort();
                return Err(e);
            }
        };
        hasher.update(chunk.as_ref());
        if let Err(e) = writer.write(chunk.as_ref()) {
            writer.abort();
            return Err(e.into());
        }
    }
    Ok((writer.finish()?, fingerprint_of(hasher)))
}

pub(super) fn fingerprint_file(path: &std::path::Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(fingerprint_of(hasher))
}

fn fingerprint_of(hasher: Sha256) -> String {
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

/// Copies an extraction's batches, as Arrow IPC, into the raw zone.
pub(super) struct IpcTee {
    raw: Option<HashingWriter>,
    ipc: Option<arrow::ipc::writer::StreamWriter<HashingWriter>>,
    ipc_schema: Option<SchemaRef>,
    failed: Option<String>,
}

struct HashingWriter {
    inner: RawWriter,
    hasher: Sha256,
}

impl Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.hasher.update(buf);
        self.inner.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl IpcTee {
    /// Opens the raw-zone object. The raw writer uploads by blocking on the
    /// runtime: it is created, and used, off the runtime's workers.
    pub(super) async fn open(lake: &Lake, dataset: &DatasetName) -> Result<Self, IngestError> {
        let (store, keys, dataset) = (
            Arc::clone(&lake.store.store),
            Arc::clone(lake.crypto.keys()),
            dataset.clone(),
        );
        let handle = tokio::runtime::Handle::current();
        let raw = tokio::task::spawn_blocking(move || {
            RawWriter::create(
                store,
                &keys,
                &dataset,
                handle,
                lagoa_lake::raw::DEFAULT_CHUNK,
            )
        })
        .await
        .map_err(|e| IngestError::Usage(format!("the raw-zone thread failed: {e}")))??;
        Ok(IpcTee {
            raw: Some(HashingWriter {
                inner: raw,
                hasher: Sha256::new(),
            }),
            ipc: None,
            ipc_schema: None,
            failed: None,
        })
    }

    pub(super) fn write(&mut self, batch: &arrow::array::RecordBatch) {
        if self.failed.is_some() {
            return;
        }
        if let Err(e) = self.try_write(batch) {
            self.failed = Some(e);
        }
    }

    fn try_write(&mut self, batch: &arrow::array::RecordBatch) -> Result<(), String> {
        if self.ipc_schema.as_ref() != Some(&batch.schema())
            && let Some(mut writer) = self.ipc.take()
        {
            // A new schema (API keys seen late): a new IPC stream follows.
            writer.finish().map_err(|e| e.to_string())?;
            let inner = writer.into_inner().map_err(|e| e.to_string())?;
            self.raw = Some(inner);
        }
        let writer = match &mut self.ipc {
            Some(writer) => writer,
            None => {
                let raw = self.raw.take().ok_or("the raw copy is closed")?;
                self.ipc_schema = Some(batch.schema());
                self.ipc.insert(
                    arrow::ipc::writer::StreamWriter::try_new(raw, &batch.schema())
                        .map_err(|e| e.to_string())?,
                )
            }
        };
        writer.write(batch).map_err(|e| e.to_string())
    }

    pub(super) fn finish(mut self) -> Result<(RawObject, String), IngestError> {
        if let Some(e) = self.failed {
            if let Some(raw) = self.raw.take() {
                raw.inner.abort();
            }
            return Err(IngestError::Usage(format!("writing the raw copy: {e}")));
        }
        let raw = match self.ipc.take() {
            Some(mut w) => {
                w.finish()
                    .map_err(|e| IngestError::Usage(format!("closing the raw copy: {e}")))?;
                w.into_inner()
                    .map_err(|e| IngestError::Usage(format!("closing the raw copy: {e}")))?
            }
            None => self
                .raw
                .take()
                .ok_or_else(|| IngestError::Usage("the raw copy is gone".into()))?,
        };
        let HashingWriter { inner, hasher } = raw;
        Ok((inner.finish()?, fingerprint_of(hasher)))
    }
}
