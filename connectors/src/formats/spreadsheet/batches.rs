//! Rows collected into Arrow batches for the consumer.

use super::{BATCH_MAX_BYTES, BatchResult};
use crate::SourceError;
use crate::formats::{RowReject, SourceBatch};
use arrow::array::{ArrayRef, RecordBatch, StringBuilder};
use arrow::datatypes::{Field, Schema, SchemaRef};
use std::sync::Arc;
use std::sync::mpsc::SyncSender;

/// Collects rows into batches and sends them to the consumer.
pub(super) struct BatchSink {
    tx: SyncSender<BatchResult>,
    batch_rows: usize,
    schema: Option<SchemaRef>,
    builders: Vec<StringBuilder>,
    rows: usize,
    bytes: usize,
    rejects: Vec<RowReject>,
    /// Number of the next data row (1-based, across the delivery).
    next_row: u64,
    /// Number of the first row of the batch being built.
    batch_first_row: u64,
    sent: bool,
}

impl BatchSink {
    pub(super) fn new(tx: SyncSender<BatchResult>, batch_rows: usize) -> Self {
        BatchSink {
            tx,
            batch_rows,
            schema: None,
            builders: Vec::new(),
            rows: 0,
            bytes: 0,
            rejects: Vec::new(),
            next_row: 1,
            batch_first_row: 1,
            sent: false,
        }
    }

    pub(super) fn set_columns(&mut self, names: Vec<String>) {
        let fields: Vec<Field> = names
            .into_iter()
            .map(|n| crate::formats::canonical_text_field(&n))
            .collect();
        self.builders = fields.iter().map(|_| StringBuilder::new()).collect();
        self.schema = Some(Arc::new(Schema::new(fields)));
    }

    pub(super) fn push(&mut self, values: Vec<Option<String>>) -> Result<(), SourceError> {
        for (builder, value) in self.builders.iter_mut().zip(values) {
            self.bytes += value.as_ref().map_or(0, String::len);
            builder.append_option(value);
        }
        self.rows += 1;
        self.next_row += 1;
        self.flush_if_full()
    }

    pub(super) fn reject(&mut self, reject: RowReject) -> Result<(), SourceError> {
        self.bytes += reject.content.len() + reject.reason.len();
        self.rejects.push(reject);
        self.flush_if_full()
    }

    fn flush_if_full(&mut self) -> Result<(), SourceError> {
        if self.rows >= self.batch_rows
            || self.rejects.len() >= self.batch_rows
            || self.bytes >= BATCH_MAX_BYTES
        {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SourceError> {
        let Some(schema) = self.schema.clone() else {
            return Ok(());
        };
        let columns: Vec<ArrayRef> = self
            .builders
            .iter_mut()
            .map(|b| Arc::new(b.finish()) as ArrayRef)
            .collect();
        let batch = RecordBatch::try_new(schema, columns)
            .map_err(|e| SourceError::Internal(format!("cannot build a batch: {e}")))?;
        let mut source_batch = SourceBatch::new(batch, self.batch_first_row);
        source_batch.rejects = std::mem::take(&mut self.rejects);
        self.batch_first_row = self.next_row;
        self.rows = 0;
        self.bytes = 0;
        self.sent = true;
        self.tx
            .send(Ok(source_batch))
            .map_err(|_| SourceError::Internal("the batch consumer went away".to_owned()))
    }

    /// Sends what is left; a header with no rows still yields one empty
    /// batch, so the delivery's columns are known.
    pub(super) fn finish(mut self) -> Result<(), SourceError> {
        if self.rows > 0 || !self.rejects.is_empty() || !self.sent {
            self.flush()?;
        }
        Ok(())
    }
}
