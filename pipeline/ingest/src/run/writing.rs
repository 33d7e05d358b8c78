//! The encrypting writer on a thread of its own. Accepted batches reach it
//! through a short bounded channel, so Parquet encoding, compression and
//! encryption of one batch overlap with checking the next. Measured on the
//! benchmark's 3 M rows (issue 17): the thread that did both spent about
//! 0.6 s checking and 1.0 s writing, one after the other, and was the
//! ingest's critical path.

use crate::IngestError;
use arrow::array::RecordBatch;
use lagoa_lake::LakeError;
use lagoa_lake::catalog::model::NewDataFile;
use lagoa_lake::writer::DatasetWriter;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

/// Batches waiting for the writer: enough to keep it busy while the next
/// batch is checked, few enough to keep memory flat.
const QUEUED_BATCHES: usize = 2;

enum Order {
    Write(RecordBatch),
    Finish,
    Abort,
}

type Written = Result<Vec<NewDataFile>, LakeError>;

pub(super) struct WriterThread {
    orders: SyncSender<Order>,
    /// `None` once joined (after the writer stopped on an error).
    thread: Option<JoinHandle<Written>>,
}

impl WriterThread {
    pub(super) fn start(mut writer: DatasetWriter) -> Result<Self, IngestError> {
        let (orders, incoming) = sync_channel::<Order>(QUEUED_BATCHES);
        let thread = std::thread::Builder::new()
            .name("lagoa-write".into())
            .spawn(move || {
                for order in incoming {
                    match order {
                        Order::Write(batch) => {
                            if let Err(e) = writer.write(&batch) {
                                writer.abort();
                                return Err(e);
                            }
                        }
                        Order::Finish => return writer.finish(),
                        Order::Abort => break,
                    }
                }
                // Aborted, or the checking side went away without a word.
                writer.abort();
                Ok(Vec::new())
            })
            .map_err(|e| IngestError::Usage(format!("cannot start the writer thread: {e}")))?;
        Ok(Self {
            orders,
            thread: Some(thread),
        })
    }

    /// Queues `batch`; waits while the writer is behind. An error is the
    /// writer's own, from this batch or an earlier one.
    pub(super) fn write(&mut self, batch: RecordBatch) -> Result<(), IngestError> {
        if self.orders.send(Order::Write(batch)).is_ok() {
            return Ok(());
        }
        // The writer stopped: it failed on an earlier batch.
        match self.join() {
            Some(Err(e)) => Err(e),
            _ => Err(IngestError::Usage(
                "the writer thread stopped before the delivery ended".into(),
            )),
        }
    }

    /// Writes what is queued and closes every file: the files to commit.
    pub(super) fn finish(mut self) -> Result<Vec<NewDataFile>, IngestError> {
        let _ = self.orders.send(Order::Finish);
        self.join().unwrap_or_else(|| {
            Err(IngestError::Usage(
                "the writer thread had already stopped".into(),
            ))
        })
    }

    /// Drops what was written: nothing of it becomes visible.
    pub(super) fn abort(mut self) {
        let _ = self.orders.send(Order::Abort);
        let _ = self.join();
    }

    fn join(&mut self) -> Option<Result<Vec<NewDataFile>, IngestError>> {
        let thread = self.thread.take()?;
        Some(match thread.join() {
            Ok(written) => written.map_err(IngestError::from),
            Err(_) => Err(IngestError::Usage("the writer thread panicked".into())),
        })
    }
}

impl std::fmt::Debug for WriterThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriterThread")
            .field("running", &self.thread.is_some())
            .finish()
    }
}
