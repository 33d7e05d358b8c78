//! The extraction task: fetches pages one after the other and sends their
//! batches through a bounded channel to the blocking consumer.

use super::fetch::{Api, FetchedPage};
use super::page::{PageSpec, PageSummary, parse_page};
use super::pager::Pager;
use crate::SourceError;
use crate::flatten::RecordBatcher;
use crate::formats::SourceBatch;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use url::Url;

/// What the extraction task sends.
pub(super) enum Message {
    Batch(SourceBatch),
    Failed(SourceError),
    Done,
}

/// Why the extraction task stopped early.
enum Stop {
    /// The batches were dropped: nobody wants the rest.
    ConsumerGone,
    Failed(SourceError),
}

impl From<SourceError> for Stop {
    fn from(error: SourceError) -> Self {
        Stop::Failed(error)
    }
}

/// The extraction task's state.
pub(super) struct Run {
    pub(super) api: Api,
    pub(super) pager: Pager,
    pub(super) spec: Arc<PageSpec>,
    /// Lent to the blocking parse of each page.
    pub(super) batcher: Option<RecordBatcher>,
    /// The highest cursor value so far (starting from the saved one).
    pub(super) watermark: Option<String>,
    pub(super) incremental: bool,
    pub(super) sender: mpsc::Sender<Message>,
    pub(super) next_watermark: Arc<Mutex<Option<String>>>,
}

impl Run {
    pub(super) async fn run(mut self, url: Url, first: FetchedPage) {
        let last = match self.fetch_all(url, first).await {
            Ok(()) => Message::Done,
            Err(Stop::Failed(e)) => Message::Failed(e),
            Err(Stop::ConsumerGone) => return,
        };
        // A send error means the consumer is gone: nobody left to tell.
        let _ = self.sender.send(last).await;
    }

    async fn fetch_all(&mut self, mut url: Url, mut page: FetchedPage) -> Result<(), Stop> {
        let mut number = 1;
        loop {
            let summary = self.take_page(page, number).await?;
            let next = self
                .pager
                .next(&self.api.base, &url, number, &summary, &self.api.shown)?;
            let Some(next) = next else {
                break;
            };
            number += 1;
            page = self.api.fetch(&next, number).await?;
            url = next;
        }
        let mut batcher = self.batcher.take().ok_or_else(lost_batcher)?;
        if let Some(batch) = batcher.take_batch()? {
            self.send(batch).await?;
        }
        if self.incremental {
            let mut slot = match self.next_watermark.lock() {
                Ok(slot) => slot,
                Err(poisoned) => poisoned.into_inner(),
            };
            *slot = self.watermark.clone();
        }
        tracing::info!(
            source = %self.api.shown,
            pages = number,
            rows = batcher.total_rows(),
            "API extraction finished"
        );
        Ok(())
    }

    /// Flattens a page on a blocking thread and sends its full batches.
    async fn take_page(&mut self, page: FetchedPage, number: u64) -> Result<PageSummary, Stop> {
        let batcher = self.batcher.take().ok_or_else(lost_batcher)?;
        let spec = Arc::clone(&self.spec);
        let shown = self.api.shown.clone();
        let watermark = self.watermark.take();
        let parsed = tokio::task::spawn_blocking(move || {
            parse_page(&page, number, &spec, &shown, batcher, watermark)
        })
        .await
        .map_err(|e| SourceError::Internal(format!("reading page {number} stopped: {e}")))??;
        self.batcher = Some(parsed.batcher);
        self.watermark = parsed.watermark;
        for batch in parsed.batches {
            self.send(batch).await?;
        }
        Ok(parsed.summary)
    }

    async fn send(&self, batch: SourceBatch) -> Result<(), Stop> {
        self.sender
            .send(Message::Batch(batch))
            .await
            .map_err(|_| Stop::ConsumerGone)
    }
}

fn lost_batcher() -> SourceError {
    SourceError::Internal("the API extraction lost its batch builder".into())
}

/// The consumer's side of the extraction task. Blocking: use it from a
/// blocking thread.
pub(super) struct ApiBatches {
    pub(super) receiver: mpsc::Receiver<Message>,
    pub(super) finished: bool,
    pub(super) task: tokio::task::AbortHandle,
}

impl Iterator for ApiBatches {
    type Item = Result<SourceBatch, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        match self.receiver.blocking_recv() {
            Some(Message::Batch(batch)) => Some(Ok(batch)),
            Some(Message::Failed(e)) => {
                self.finished = true;
                Some(Err(e))
            }
            Some(Message::Done) => {
                self.finished = true;
                None
            }
            None => {
                self.finished = true;
                Some(Err(SourceError::Internal(
                    "the API extraction stopped before its end (was the runtime shut down?)".into(),
                )))
            }
        }
    }
}

impl Drop for ApiBatches {
    fn drop(&mut self) {
        self.task.abort();
    }
}
