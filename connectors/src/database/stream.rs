//! The extraction's streaming: rows read by the engine's task become
//! batches of bounded size, sent through a bounded channel to the reader
//! on the other side, with the watermark and the keys at the cursor kept
//! as they go.

use super::*;

/// Access to a row's raw value bytes, whatever the engine.
pub(super) trait RawRow {
    fn raw(&self, index: usize) -> Result<Option<&[u8]>, sqlx::Error>;
}

pub(super) type BatchSender = mpsc::Sender<Result<SourceBatch, SourceError>>;

/// Why the streaming loop stopped early.
pub(super) enum Stop {
    /// The consumer dropped the batches: nothing left to do.
    ConsumerGone,
    Failed(SourceError),
}

/// One extraction in progress: the batch being built and the cursor state.
pub(super) struct Job {
    pub(super) plan: Plan,
    pub(super) schema: SchemaRef,
    pub(super) builders: Vec<ColumnBuilder>,
    pub(super) chunk_rows: usize,
    pub(super) rows_in_batch: usize,
    pub(super) bytes_in_batch: usize,
    pub(super) rows_sent: u64,
    /// Incremental rows skipped because their cursor has no value.
    pub(super) rows_without_cursor: u64,
    pub(super) tracker: Option<CursorTracker>,
    pub(super) errors: ErrorContext,
    pub(super) next_watermark: Arc<Mutex<Option<String>>>,
}

impl Job {
    pub(super) fn new(plan: Plan, settings: &Settings, watermark: Option<Watermark>) -> Job {
        let schema = plan.schema();
        let builders = plan
            .columns
            .iter()
            .map(|c| ColumnBuilder::new(c.kind))
            .collect();
        let tracker = plan.cursor.as_ref().map(|_| CursorTracker::new(watermark));
        Job {
            plan,
            schema,
            builders,
            chunk_rows: settings.chunk_rows,
            rows_in_batch: 0,
            bytes_in_batch: 0,
            rows_sent: 0,
            rows_without_cursor: 0,
            tracker,
            errors: settings.errors.clone(),
            next_watermark: Arc::new(Mutex::new(None)),
        }
    }

    pub(super) fn location(&self, column: usize) -> String {
        let row = self.rows_sent + self.rows_in_batch as u64 + 1;
        format!(
            "{} row {row}, column {:?}",
            self.errors.source_name, self.plan.columns[column].name
        )
    }

    pub(super) fn decode<'r>(
        &self,
        row: &'r impl RawRow,
        column: usize,
    ) -> Result<Value<'r>, SourceError> {
        let planned = &self.plan.columns[column];
        let raw = row.raw(column).map_err(|e| self.errors.map(e))?;
        let value = types::decode(planned.wire, planned.kind, raw)
            .map_err(|message| SourceError::input(self.location(column), message))?;
        if value.heap_size() > MAX_VALUE_BYTES {
            return Err(SourceError::input(
                self.location(column),
                format!("value larger than {} MiB", MAX_VALUE_BYTES >> 20),
            ));
        }
        Ok(value)
    }

    /// Whether the row is new to the incremental source (always for full
    /// extractions).
    pub(super) fn is_new(&mut self, row: &impl RawRow) -> Result<bool, SourceError> {
        let Some(choice) = &self.plan.cursor else {
            return Ok(true);
        };
        let key_text = |column: usize| -> Result<Option<String>, SourceError> {
            let value = self.decode(row, column)?;
            Ok(types::key_text(self.plan.columns[column].kind, &value))
        };
        // NULL never passes the filter; a MySQL zero date or a PostgreSQL
        // infinity does, and has no value to compare: never taken either.
        let Some(cursor) = key_text(choice.index)? else {
            self.rows_without_cursor += 1;
            return Ok(false);
        };
        let keys = choice
            .keys
            .iter()
            .map(|&k| key_text(k))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self.tracker.as_mut().is_none_or(|t| t.take(cursor, keys)))
    }

    pub(super) fn append(&mut self, row: &impl RawRow) -> Result<(), SourceError> {
        for column in 0..self.builders.len() {
            let value = self.decode(row, column)?;
            self.bytes_in_batch += value.heap_size();
            self.builders[column]
                .append(value)
                .map_err(|message| SourceError::input(self.location(column), message))?;
        }
        self.rows_in_batch += 1;
        Ok(())
    }

    pub(super) fn batch_is_full(&self) -> bool {
        self.rows_in_batch >= self.chunk_rows || self.bytes_in_batch >= MAX_BATCH_BYTES
    }

    pub(super) fn take_batch(&mut self) -> Result<SourceBatch, SourceError> {
        let internal =
            |e: String| SourceError::Internal(format!("{}: {e}", self.errors.source_name));
        let arrays = self
            .builders
            .iter_mut()
            .map(ColumnBuilder::finish)
            .collect::<Result<Vec<_>, _>>()
            .map_err(internal)?;
        let batch = RecordBatch::try_new(self.schema.clone(), arrays)
            .map_err(|e| internal(format!("building a batch: {e}")))?;
        let first_row = self.rows_sent + 1;
        self.rows_sent += self.rows_in_batch as u64;
        self.rows_in_batch = 0;
        self.bytes_in_batch = 0;
        Ok(SourceBatch::new(batch, first_row))
    }

    pub(super) async fn send_batch(&mut self, tx: &BatchSender) -> Result<(), Stop> {
        let batch = self.take_batch().map_err(Stop::Failed)?;
        tx.send(Ok(batch)).await.map_err(|_| Stop::ConsumerGone)
    }

    /// Ends the job: publishes the watermark after a complete read, or
    /// sends the error.
    pub(super) async fn conclude(self, result: Result<(), Stop>, tx: &BatchSender) {
        if self.rows_without_cursor > 0 {
            tracing::warn!(
                source = %self.errors.source_name,
                rows = self.rows_without_cursor,
                "incremental rows skipped: their cursor is a zero date or infinity"
            );
        }
        let error = match result {
            Ok(()) => match self.tracker.map(CursorTracker::next_watermark) {
                None => None,
                Some(Ok(watermark)) => {
                    let mut slot = match self.next_watermark.lock() {
                        Ok(slot) => slot,
                        Err(poisoned) => poisoned.into_inner(),
                    };
                    *slot = watermark;
                    None
                }
                Some(Err(message)) => Some(self.errors.refused(message)),
            },
            Err(Stop::ConsumerGone) => None,
            Err(Stop::Failed(error)) => Some(error),
        };
        if let Some(error) = error {
            let _ = tx.send(Err(error)).await;
        }
    }
}

/// Reads every row of the stream into batches sent through `tx`.
pub(super) async fn pump<R, S>(job: &mut Job, mut rows: S, tx: &BatchSender) -> Result<(), Stop>
where
    R: RawRow,
    S: Stream<Item = Result<R, sqlx::Error>> + Unpin,
{
    while let Some(row) = rows.next().await {
        let row = row.map_err(|e| Stop::Failed(job.errors.map(e)))?;
        if !job.is_new(&row).map_err(Stop::Failed)? {
            continue;
        }
        job.append(&row).map_err(Stop::Failed)?;
        if job.batch_is_full() {
            job.send_batch(tx).await?;
        }
    }
    if job.rows_in_batch > 0 {
        job.send_batch(tx).await?;
    }
    Ok(())
}

/// The consumer's side of the channel.
pub(super) struct ReceivedBatches(mpsc::Receiver<Result<SourceBatch, SourceError>>);

impl Iterator for ReceivedBatches {
    type Item = Result<SourceBatch, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.0.blocking_recv()
    }
}

/// Starts `run` (which streams the rows into the job) on the runtime and
/// returns the extraction the consumer reads.
pub(super) fn spawn_extraction<F, Fut>(job: Job, run: F) -> Extraction
where
    F: FnOnce(Job, BatchSender) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(2);
    let name = job.errors.source_name.clone();
    let next_watermark = job.next_watermark.clone();
    tokio::spawn(run(job, tx));
    Extraction {
        name,
        batches: Box::new(ReceivedBatches(rx)),
        next_watermark,
    }
}
