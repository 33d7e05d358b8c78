//! Bridges synchronous encoders (the Parquet writer, the raw-zone
//! encryptor), which run on blocking threads, to an asynchronous multipart
//! upload: bytes leave in 8 MiB parts, so memory stays bounded.

use object_store::ObjectStore;
use object_store::buffered::BufWriter;
use object_store::path::Path as ObjectPath;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::runtime::Handle;

pub(crate) const UPLOAD_PART: usize = 8 * 1024 * 1024;

pub(crate) struct UploadSink {
    upload: Option<BufWriter>,
    buffer: Vec<u8>,
    written: u64,
    /// Of the bytes as stored (encrypted): what `check --deep` compares.
    hasher: Sha256,
    parts: u32,
    handle: Handle,
    path: ObjectPath,
}

impl UploadSink {
    /// `handle` must belong to a running Tokio runtime; calls block on it,
    /// so use the sink from a blocking thread only.
    pub(crate) fn new(store: Arc<dyn ObjectStore>, path: ObjectPath, handle: Handle) -> Self {
        Self {
            upload: Some(BufWriter::with_capacity(store, path.clone(), UPLOAD_PART)),
            buffer: Vec::with_capacity(UPLOAD_PART + 1024 * 1024),
            written: 0,
            hasher: Sha256::new(),
            parts: 0,
            handle,
            path,
        }
    }

    fn flush_part(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let upload = self
            .upload
            .as_mut()
            .ok_or_else(|| std::io::Error::other("upload already closed"))?;
        let part = std::mem::take(&mut self.buffer);
        self.handle.block_on(upload.write_all(&part))?;
        self.parts += 1;
        if self.parts == 2 {
            // By the second part, a multipart upload is under way.
            crate::fault::point("upload.part_sent");
        }
        self.buffer = part;
        self.buffer.clear();
        Ok(())
    }

    /// Sends what is left and completes the upload; returns the bytes
    /// written and their SHA-256 (`sha256:<hex>`).
    pub(crate) fn complete(&mut self) -> std::io::Result<(u64, String)> {
        self.flush_part()?;
        if let Some(mut upload) = self.upload.take() {
            self.handle.block_on(upload.shutdown())?;
        }
        let digest = std::mem::take(&mut self.hasher).finalize();
        Ok((self.written, format!("sha256:{}", hex::encode(digest))))
    }

    /// Abandons the upload; nothing becomes visible at the path (a local
    /// store may leave a temporary file that vacuum removes).
    pub(crate) fn abort(mut self) {
        if let Some(mut upload) = self.upload.take()
            && let Err(e) = self.handle.block_on(upload.abort())
        {
            tracing::warn!(path = %self.path, error = %e, "could not abort an upload");
        }
    }
}

impl Write for UploadSink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(data);
        self.hasher.update(data);
        self.written += data.len() as u64;
        if self.buffer.len() >= UPLOAD_PART {
            self.flush_part()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        // Parts go out when full; `complete` sends the rest.
        Ok(())
    }
}
