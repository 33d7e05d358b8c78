//! Rejected rows, as JSON lines, encrypted under the dataset's personal
//! key in `quarantine/<dataset>/`: kept for the provider to fix and for
//! `lagoa quarantine release`, never in a log or a report.

use crate::IngestError;
use crate::check::RejectedRow;
use lagoa_core::DatasetName;
use lagoa_lake::Lake;
use lagoa_lake::keys::KeyProvider;
use lagoa_lake::raw::{RawObject, RawWriter};
use std::sync::Arc;

pub(super) struct Quarantine {
    store: Arc<dyn object_store::ObjectStore>,
    keys: Arc<dyn KeyProvider>,
    dataset: DatasetName,
    handle: tokio::runtime::Handle,
    writer: Option<RawWriter>,
    rows: u64,
}

impl Quarantine {
    pub(super) fn new(
        store: Arc<dyn object_store::ObjectStore>,
        keys: Arc<dyn KeyProvider>,
        dataset: &DatasetName,
        handle: tokio::runtime::Handle,
    ) -> Self {
        Quarantine {
            store,
            keys,
            dataset: dataset.clone(),
            handle,
            writer: None,
            rows: 0,
        }
    }

    pub(super) fn add(&mut self, rows: &[RejectedRow]) -> Result<(), IngestError> {
        if rows.is_empty() {
            return Ok(());
        }
        let writer = match &mut self.writer {
            Some(writer) => writer,
            None => self.writer.insert(RawWriter::create_in(
                "quarantine",
                Arc::clone(&self.store),
                &self.keys,
                &self.dataset,
                self.handle.clone(),
                lagoa_lake::raw::DEFAULT_CHUNK,
            )?),
        };
        let mut line = Vec::with_capacity(256);
        for row in rows {
            line.clear();
            serde_json::to_writer(&mut line, row)
                .map_err(|e| IngestError::Usage(format!("encoding a quarantined row: {e}")))?;
            line.push(b'\n');
            writer.write(&line)?;
            self.rows += 1;
        }
        Ok(())
    }

    /// The quarantine object and its row count, if any row was rejected.
    pub(super) fn finish(self) -> Result<Option<(RawObject, u64)>, IngestError> {
        match self.writer {
            Some(w) => Ok(Some((w.finish()?, self.rows))),
            None => Ok(None),
        }
    }

    pub(super) fn abort(self) {
        if let Some(w) = self.writer {
            w.abort();
        }
    }
}

/// Reads a quarantine back: its rows, as they were rejected.
pub async fn read_quarantine(lake: &Lake, path: &str) -> Result<Vec<RejectedRow>, IngestError> {
    let mut bytes = Vec::new();
    lagoa_lake::raw::read_raw(&lake.store.store, lake.crypto.keys(), path, &mut bytes).await?;
    bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            serde_json::from_slice(l)
                .map_err(|e| IngestError::Usage(format!("quarantine {path} is unreadable: {e}")))
        })
        .collect()
}
