//! The encrypting writer on a thread of its own. Accepted batches reach it
//! through a short bounded channel, so Parquet encoding, compression and
//! encryption of one batch overlap with checking the next. Measured on the
//! benchmark's 3 M rows (issue 17): the thread that did both spent about
//! 0.6 s checking and 1.0 s writing, one after the other, and was the
//! ingest's critical path.
//!
//! When the writer sorts rows, it takes batches in at once and then spends
//! a while sorting and encoding a whole run; the queue then holds up to a
//! run's worth of bytes, so checking goes on meanwhile instead of waiting.

use crate::IngestError;
use arrow::array::RecordBatch;
use lagoa_lake::LakeError;
use lagoa_lake::catalog::model::NewDataFile;
use lagoa_lake::writer::DatasetWriter;
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

/// Batches the queue always accepts besides the one being written: enough
/// to keep the writer busy while the next batch is checked.
const QUEUED_BATCHES: usize = 2;

/// What waits in the queue, and how much may.
#[derive(Debug)]
struct Queue {
    state: Mutex<Queued>,
    taken: Condvar,
    /// Bytes allowed beyond [`QUEUED_BATCHES`] batches.
    max_bytes: usize,
}

#[derive(Debug, Default)]
struct Queued {
    batches: usize,
    bytes: usize,
    /// The writer stopped: nothing will be taken any more.
    closed: bool,
}

impl Queue {
    /// Waits until a batch of `bytes` fits, then counts it in.
    fn enter(&self, bytes: usize) {
        let mut queued = self.state.lock().unwrap_or_else(|e| e.into_inner());
        while !queued.closed
            && queued.batches > QUEUED_BATCHES
            && queued.bytes + bytes > self.max_bytes
        {
            queued = self.taken.wait(queued).unwrap_or_else(|e| e.into_inner());
        }
        queued.batches += 1;
        queued.bytes += bytes;
    }

    /// The writer is done with a batch of `bytes`.
    fn leave(&self, bytes: usize) {
        let mut queued = self.state.lock().unwrap_or_else(|e| e.into_inner());
        queued.batches = queued.batches.saturating_sub(1);
        queued.bytes = queued.bytes.saturating_sub(bytes);
        self.taken.notify_all();
    }

    fn close(&self) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).closed = true;
        self.taken.notify_all();
    }
}

/// Closes the queue when the writer thread ends, however it ends.
struct CloseOnExit(Arc<Queue>);

impl Drop for CloseOnExit {
    fn drop(&mut self) {
        self.0.close();
    }
}

enum Order {
    /// A batch and the bytes it was counted for in the queue.
    Write(RecordBatch, usize),
    Finish,
    Abort,
}

type Written = Result<Vec<NewDataFile>, LakeError>;

pub(super) struct WriterThread {
    orders: Sender<Order>,
    queue: Arc<Queue>,
    /// `None` once joined (after the writer stopped on an error).
    thread: Option<JoinHandle<Written>>,
}

impl WriterThread {
    pub(super) fn start(mut writer: DatasetWriter) -> Result<Self, IngestError> {
        let (orders, incoming) = channel::<Order>();
        let queue = Arc::new(Queue {
            state: Mutex::new(Queued::default()),
            taken: Condvar::new(),
            max_bytes: writer.sort_memory(),
        });
        let exit = CloseOnExit(Arc::clone(&queue));
        let thread = std::thread::Builder::new()
            .name("lagoa-write".into())
            .spawn(move || {
                let exit = exit;
                for order in incoming {
                    match order {
                        Order::Write(batch, bytes) => {
                            let written = writer.write(&batch);
                            exit.0.leave(bytes);
                            if let Err(e) = written {
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
            queue,
            thread: Some(thread),
        })
    }

    /// Queues `batch`; waits while the writer is behind. An error is the
    /// writer's own, from this batch or an earlier one.
    pub(super) fn write(&mut self, batch: RecordBatch) -> Result<(), IngestError> {
        let bytes = batch.get_array_memory_size();
        self.queue.enter(bytes);
        if self.orders.send(Order::Write(batch, bytes)).is_ok() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};
    use lagoa_core::DatasetName;
    use lagoa_lake::writer::WriteTarget;
    use lagoa_lake::{InitOptions, Lake};
    use std::sync::Arc;

    fn batch(rows: i64) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        RecordBatch::try_new(
            schema,
            vec![Arc::new(Int64Array::from_iter_values(0..rows))],
        )
        .unwrap()
    }

    /// A lake in a scratch directory, its key store sealed by a key file
    /// beside it.
    fn scratch(dir: &std::path::Path) -> InitOptions {
        InitOptions {
            keys: Some(lagoa_lake::config::KeysConfig::local_sealed_by(
                &dir.join("seal.key"),
            )),
            ..InitOptions::default()
        }
    }

    async fn writer(lake: &Lake) -> DatasetWriter {
        lake.writer(WriteTarget {
            dataset: DatasetName::new("contagens").unwrap(),
            schema: batch(0).schema(),
            personal_columns: Vec::new(),
            partition_column: None,
            sort_column: None,
        })
        .unwrap()
    }

    fn tables_in(dir: &std::path::Path) -> usize {
        fn walk(p: &std::path::Path) -> usize {
            std::fs::read_dir(p).map_or(0, |entries| {
                entries
                    .flatten()
                    .map(|e| {
                        let path = e.path();
                        if path.is_dir() {
                            walk(&path)
                        } else {
                            usize::from(path.extension().is_some_and(|x| x == "parquet"))
                        }
                    })
                    .sum()
            })
        }
        walk(dir)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queued_batches_are_all_written_and_an_abort_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::init(&dir.path().join("lake"), &scratch(dir.path()))
            .await
            .unwrap();
        let mut thread = WriterThread::start(writer(&lake).await).unwrap();
        let files = tokio::task::spawn_blocking(move || {
            for _ in 0..5 {
                thread.write(batch(1000))?;
            }
            thread.finish()
        })
        .await
        .unwrap()
        .unwrap();
        assert_eq!(files.iter().map(|f| f.row_count).sum::<i64>(), 5000);
        let written = tables_in(dir.path());
        assert_eq!(written, files.len());

        let mut thread = WriterThread::start(writer(&lake).await).unwrap();
        tokio::task::spawn_blocking(move || {
            thread.write(batch(1000)).unwrap();
            thread.abort();
        })
        .await
        .unwrap();
        assert_eq!(tables_in(dir.path()), written, "the aborted file is gone");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_store_that_fails_is_the_writer_s_error_at_finish() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("lake");
        let lake = Lake::init(&root, &scratch(dir.path())).await.unwrap();
        let mut thread = WriterThread::start(writer(&lake).await).unwrap();
        // The store's folder becomes a file: every upload fails.
        let store = root.join("store");
        std::fs::remove_dir_all(&store).unwrap();
        std::fs::write(&store, b"not a folder").unwrap();
        let result = tokio::task::spawn_blocking(move || {
            thread.write(batch(1000))?;
            thread.finish()
        })
        .await
        .unwrap();
        let error = result.expect_err("the upload cannot succeed");
        let message = error.to_string();
        assert!(
            message.contains("uploading tables/contagens/"),
            "the error names the file it could not upload: {message}"
        );
    }
}
