//! Bridges synchronous encoders (the Parquet writer, the raw-zone
//! encryptor), which run on blocking threads, to an asynchronous multipart
//! upload: bytes leave in 8 MiB parts, so memory stays bounded.

use object_store::ObjectStore;
use object_store::buffered::BufWriter;
use object_store::path::Path as ObjectPath;
use std::io::Write;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::runtime::Handle;

pub(crate) const UPLOAD_PART: usize = 8 * 1024 * 1024;

pub(crate) struct UploadSink {
    upload: Option<BufWriter>,
    buffer: Vec<u8>,
    written: u64,
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
        self.buffer = part;
        self.buffer.clear();
        Ok(())
    }

    /// Sends what is left and completes the upload; returns the bytes written.
    pub(crate) fn complete(&mut self) -> std::io::Result<u64> {
        self.flush_part()?;
        if let Some(mut upload) = self.upload.take() {
            self.handle.block_on(upload.shutdown())?;
        }
        Ok(self.written)
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
