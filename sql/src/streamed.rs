//! A governed query whose rows are handed out as the client asks for them:
//! the PostgreSQL port's server-side cursors (`DECLARE ... CURSOR`, then
//! `FETCH` page by page), as psycopg's named cursors and
//! `pandas.read_sql(chunksize=)` read a large answer.
//!
//! The query is admitted, checked, planned and started exactly as
//! [`QueryService::run`] does; then, instead of collecting the answer, its
//! batches wait in a channel of [`PAGES_AHEAD`] until the client fetches
//! them, so memory stays flat however many rows the cursor yields. While
//! it is open the query keeps its place among `query.max_concurrent`.
//!
//! ```text
//!  DECLARE ─► admitted ─► guard, policy, plan ─► audit "query" (opened) ─► DECLARE answered
//!                                   │
//!  FETCH n ◄── channel (PAGES_AHEAD batches) ◄── execution, paused while the channel is full
//!                                   │
//!  last row │ CLOSE │ cursor_idle_seconds without a FETCH │ cursor_timeout_seconds │ error
//!                                   ▼
//!                    audit "cursor_closed" (rows handed out, outcome)
//! ```
//!
//! Two entries in the audit trail: the opening one is written before any
//! row leaves (a cursor whose entry cannot be written yields nothing); the
//! closing one says how many rows were handed out and how it ended. An
//! error after the opening (a timeout, memory, a stopped idle cursor) is
//! what the next fetch gets once the rows computed before it are out:
//! a cursor never ends short without saying so.

use crate::engine::{CANCELLED_BY_CLIENT, QueryThreads};
use crate::query::{QueryError, QueryRequest, QueryService, execution_error};
use crate::record::Record;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::physical_plan::SendableRecordBatchStream;
use futures::StreamExt;
use lagoa_governance::Principal;
use lagoa_lake::AsOf;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::{CancellationToken, DropGuard};

/// Batches computed ahead of the client's fetches.
pub const PAGES_AHEAD: usize = 2;

/// Limits of server-side cursors, from `[query]` (`cursor_*`).
#[derive(Clone, Debug)]
pub struct CursorLimits {
    /// Most rows one cursor may yield.
    pub max_rows: u64,
    /// Longest from `DECLARE` to the last row.
    pub timeout: Duration,
    /// Longest the query waits for the client to fetch.
    pub idle: Duration,
    /// Most cursors one principal may hold open at once, on all its
    /// connections: each holds a place among the running queries, and a
    /// principal's last places stay for plain queries.
    pub max_per_principal: usize,
}

/// Server-side cursors open now, per principal.
#[derive(Debug, Default)]
pub(crate) struct OpenCursors(Mutex<HashMap<String, usize>>);

/// One open cursor's place among its principal's; given back when dropped.
struct CursorPlace {
    open: Arc<OpenCursors>,
    principal: String,
}

impl OpenCursors {
    /// A place for one more cursor of `principal`, if it has fewer than `max`.
    fn take(self: &Arc<Self>, principal: &str, max: usize) -> Option<CursorPlace> {
        let mut open = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(principal.to_owned()).or_default();
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(CursorPlace {
            open: Arc::clone(self),
            principal: principal.to_owned(),
        })
    }
}

impl Drop for CursorPlace {
    fn drop(&mut self) {
        let mut open = self.open.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.principal) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.principal);
            }
        }
    }
}

/// An open cursor's rows, as the client fetches them.
pub struct Streamed {
    pub schema: SchemaRef,
    rows: mpsc::Receiver<RecordBatch>,
    /// How the query ended, once its last batch is in `rows`.
    ended: Option<oneshot::Receiver<Result<(), QueryError>>>,
    handed_out: Arc<HandedOut>,
    /// Dropped when nothing more is handed out (the last row or an error
    /// went out, or the cursor was closed): the query stops if it still
    /// runs, its closing entry is written, and its principal's place is
    /// free at once for the next `DECLARE`.
    released: Option<Released>,
}

/// What the client's handle lets go of when it hands out nothing more.
struct Released {
    _query: DropGuard,
    _place: CursorPlace,
}

/// What a cursor handed out, for its closing audit entry, and when the
/// client last fetched (for `query.cursor_idle_seconds`).
struct HandedOut {
    rows: AtomicU64,
    bytes: AtomicU64,
    last_fetch: Mutex<Instant>,
}

impl Default for HandedOut {
    fn default() -> Self {
        HandedOut {
            rows: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            last_fetch: Mutex::new(Instant::now()),
        }
    }
}

impl HandedOut {
    fn since_last_fetch(&self) -> Duration {
        self.last_fetch
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .elapsed()
    }
}

impl Streamed {
    /// An answer already in memory, handed out the same way.
    pub fn of_batches(schema: SchemaRef, batches: Vec<RecordBatch>) -> Self {
        let (tx, rows) = mpsc::channel(batches.len().max(1));
        for batch in batches {
            // The channel holds them all.
            let _ = tx.try_send(batch);
        }
        Streamed {
            schema,
            rows,
            ended: None,
            handed_out: Arc::default(),
            released: None,
        }
    }

    /// The next batch; `None` after the last; an error once, when the
    /// query ended with one: then the batches it computed before are not
    /// handed out (its closing entry counts what went out).
    pub async fn next(&mut self) -> Option<Result<RecordBatch, QueryError>> {
        if let Some(e) = self.fetching() {
            return Some(Err(e));
        }
        if let Some(batch) = self.rows.recv().await {
            self.handed_out
                .bytes
                .fetch_add(batch.get_array_memory_size() as u64, Ordering::Relaxed);
            return Some(Ok(batch));
        }
        let ended = match self.ended.take() {
            Some(ended) => ended.await,
            None => Ok(Ok(())),
        };
        match ended {
            Ok(Ok(())) => {
                self.rows.close();
                self.released = None;
                None
            }
            Ok(Err(e)) => Some(Err(self.stop(e))),
            Err(_) => Some(Err(self.stop(unsaid()))),
        }
    }

    /// The client fetches (the idle clock starts again): the query's
    /// error, if it has ended with one; from then on nothing more is handed
    /// out, not even rows already computed.
    pub fn fetching(&mut self) -> Option<QueryError> {
        *self
            .handed_out
            .last_fetch
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
        let ended = self.ended.as_mut()?;
        match ended.try_recv() {
            Ok(Ok(())) => {
                self.ended = None;
                None
            }
            Ok(Err(e)) => Some(self.stop(e)),
            Err(oneshot::error::TryRecvError::Empty) => None,
            Err(oneshot::error::TryRecvError::Closed) => Some(self.stop(unsaid())),
        }
    }

    /// Nothing more is handed out: the cursor's task may write its
    /// closing entry.
    fn stop(&mut self, e: QueryError) -> QueryError {
        self.ended = None;
        self.rows.close();
        while self.rows.try_recv().is_ok() {}
        self.released = None;
        e
    }

    /// `rows` went to the client (a `FETCH`, not a `MOVE`).
    pub fn handed_out(&self, rows: usize) {
        self.handed_out
            .rows
            .fetch_add(rows as u64, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Streamed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streamed")
            .field("columns", &self.schema.fields().len())
            .field("handed_out", &self.handed_out.rows.load(Ordering::Relaxed))
            .finish()
    }
}

fn unsaid() -> QueryError {
    QueryError::Internal("the cursor's query stopped without saying how".into())
}

/// A request the cursor's task owns (it outlives the `DECLARE`).
struct OwnedRequest {
    principal: Principal,
    purpose: Option<String>,
    sql: String,
    params: Vec<Option<String>>,
    param_types: Vec<Option<DataType>>,
    as_of: AsOf,
    settings: Option<crate::pg_settings::Settings>,
}

impl OwnedRequest {
    fn of(request: &QueryRequest<'_>) -> Self {
        OwnedRequest {
            principal: request.principal.clone(),
            purpose: request.purpose.map(str::to_owned),
            sql: request.sql.to_owned(),
            params: request.params.to_vec(),
            param_types: request.param_types.to_vec(),
            as_of: request.as_of,
            settings: request.settings.cloned(),
        }
    }

    fn request(&self) -> QueryRequest<'_> {
        QueryRequest {
            principal: &self.principal,
            purpose: self.purpose.as_deref(),
            sql: &self.sql,
            params: &self.params,
            param_types: &self.param_types,
            as_of: self.as_of,
            export: None,
            settings: self.settings.as_ref(),
        }
    }
}

/// Where the cursor's task says it is open (or why it is not).
type Ready = Mutex<Option<oneshot::Sender<Result<(SchemaRef, CursorPlace), QueryError>>>>;

/// The cursor's task's ends of what it shares with the door's [`Streamed`].
struct Ends {
    ready: Ready,
    rows: mpsc::Sender<RecordBatch>,
    ended: oneshot::Sender<Result<(), QueryError>>,
    handed_out: Arc<HandedOut>,
    released: CancellationToken,
}

impl QueryService {
    /// Opens `request` as a server-side cursor: returns once its rows can
    /// be fetched (the opening audit entry written), or with the reason it
    /// cannot run (audited like any refused or failed query).
    pub async fn stream(&self, request: &QueryRequest<'_>) -> Result<Streamed, QueryError> {
        let owned = OwnedRequest::of(request);
        let (ready_tx, ready_rx) = oneshot::channel();
        let (rows_tx, rows) = mpsc::channel(PAGES_AHEAD);
        let (ended_tx, ended) = oneshot::channel();
        let handed_out = Arc::new(HandedOut::default());
        let released = CancellationToken::new();
        // Dropped with the DECLARE if it goes away before the cursor opens.
        let guard = released.clone().drop_guard();
        let service = self.clone();
        let ends = Ends {
            ready: Mutex::new(Some(ready_tx)),
            rows: rows_tx,
            ended: ended_tx,
            handed_out: Arc::clone(&handed_out),
            released,
        };
        tokio::spawn(async move { service.cursor(owned, ends).await });
        match ready_rx.await {
            Ok(Ok((schema, place))) => Ok(Streamed {
                schema,
                rows,
                ended: Some(ended),
                handed_out,
                released: Some(Released {
                    _query: guard,
                    _place: place,
                }),
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(QueryError::Internal(
                "the cursor's query stopped before it opened".into(),
            )),
        }
    }

    /// The cursor's whole life, on the caller's runtime (which owns the
    /// catalog's connections); the query itself on its own threads.
    async fn cursor(self, owned: OwnedRequest, ends: Ends) {
        let Ends {
            ready,
            rows,
            ended,
            handed_out,
            released,
        } = ends;
        let request = owned.request();
        let record = Record::new((self.lake(), self.metrics()), &request, true);
        let limits = self.limits().cursor.clone();
        // The cursor released (CLOSE, the connection closed): the query
        // stops, whatever it is doing.
        let closed = released.clone().cancelled_owned();
        // The place goes to the client's handle once the cursor opens;
        // a cursor that does not open gives it back here.
        let place = self
            .cursors
            .take(&owned.principal.name, limits.max_per_principal);
        let result = match place {
            Some(place) => {
                self.engine()
                    .run_within(&owned.principal.name, limits.timeout, closed, |threads| {
                        let sent = (rows, &handed_out);
                        self.cursor_rows(threads, &request, &record, (&ready, place), sent)
                    })
                    .await
            }
            None => Err(QueryError::Busy(format!(
                "at most {} cursors may be open at once for one principal \
                 (query.cursor_max_per_principal): close one first",
                limits.max_per_principal
            ))),
        };
        let not_opened = ready.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(ready) = not_opened {
            let written = record.finish(&result, |_| (0, 0)).await;
            let error = match (result, written) {
                (_, Err(e)) => e.into(),
                (Err(e), Ok(())) => e,
                (Ok(()), Ok(())) => {
                    QueryError::Internal("the cursor's query ended before it opened".into())
                }
            };
            let _ = ready.send(Err(error));
            return;
        }
        // Closed by the client before its last row: the cursor's normal end.
        let early =
            matches!(&result, Err(QueryError::Cancelled(why)) if why == CANCELLED_BY_CLIENT);
        let outcome = if early { Ok(()) } else { result };
        let _ = ended.send(match &outcome {
            Ok(()) => Ok(()),
            Err(e) => Err(e.again()),
        });
        // What went out is known once the client holds nothing more of it:
        // it read the last row or the error, or closed the cursor (or the
        // server is stopping: what went out so far is recorded).
        tokio::select! {
            _ = released.cancelled() => {}
            _ = self.engine().shutting_down() => {}
        }
        let (rows, bytes) = (
            handed_out.rows.load(Ordering::Relaxed),
            handed_out.bytes.load(Ordering::Relaxed),
        );
        record.update(|e| {
            e.action = "cursor_closed".into();
            e.rows = rows as i64;
            e.bytes = bytes as i64;
            e.subject = Some(noted(
                e.subject.take(),
                if early {
                    "server-side cursor, closed by the client before its last row"
                } else {
                    "server-side cursor"
                },
            ));
        });
        let written = record
            .finish(&outcome, |_| (rows as usize, bytes as usize))
            .await;
        if let Err(e) = written {
            tracing::error!(error = %e, "a cursor's closing audit entry could not be written");
        }
    }

    /// Checks, plans and starts the query, writes the opening entry, says
    /// the cursor is open, then feeds the client's fetches.
    async fn cursor_rows(
        &self,
        threads: QueryThreads,
        request: &QueryRequest<'_>,
        record: &Record,
        (ready, place): (&Ready, CursorPlace),
        (rows, handed_out): (mpsc::Sender<RecordBatch>, &Arc<HandedOut>),
    ) -> Result<(), QueryError> {
        let opened = self.open(&threads, request, record).await?;
        let entry = record.shared();
        let params = (request.params.to_vec(), request.param_types.to_vec());
        let (started, opened) = threads
            .run(async move {
                let started = opened.start(&entry, &params).await?;
                Ok((started, opened))
            })
            .await?;
        record
            .write_now(|e| {
                e.outcome = "ok".into();
                e.subject = Some(noted(
                    e.subject.take(),
                    "server-side cursor opened; the rows it hands out are in its cursor_closed entry",
                ));
            })
            .await?;
        let Some(ready) = ready.lock().unwrap_or_else(PoisonError::into_inner).take() else {
            return Ok(());
        };
        if ready.send(Ok((started.schema, place))).is_err() {
            // The DECLARE's client went away.
            return Ok(());
        }
        let limits = self.limits().cursor.clone();
        let memory_limit = self.lake().config.query.memory_limit.clone();
        let handed_out = Arc::clone(handed_out);
        threads
            .run(async move {
                let fed = feed(started.stream, (rows, &handed_out), &limits, &memory_limit).await;
                drop(opened);
                fed
            })
            .await
    }
}

/// Moves the query's batches into the cursor's channel, as the client
/// makes room; ends at the last batch, when the cursor is closed, or with
/// the limit that stopped it (a client that has not fetched for
/// `idle`, however full the channel).
async fn feed(
    mut stream: SendableRecordBatchStream,
    (rows, handed_out): (mpsc::Sender<RecordBatch>, &HandedOut),
    limits: &CursorLimits,
    memory_limit: &str,
) -> Result<(), QueryError> {
    let mut count = 0u64;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|e| execution_error(e, memory_limit))?;
        if batch.num_rows() == 0 {
            continue;
        }
        count += batch.num_rows() as u64;
        if count > limits.max_rows {
            return Err(QueryError::TooManyRows(limits.max_rows as usize));
        }
        let sending = rows.send(batch);
        tokio::pin!(sending);
        loop {
            let left = limits.idle.saturating_sub(handed_out.since_last_fetch());
            match tokio::time::timeout(left, &mut sending).await {
                Ok(Ok(())) => break,
                Ok(Err(_)) => return Ok(()),
                Err(_) if handed_out.since_last_fetch() >= limits.idle => {
                    return Err(QueryError::Cancelled(format!(
                        "the cursor waited more than {} s for a FETCH (query.cursor_idle_seconds) \
                         and its query was stopped; declare it again",
                        limits.idle.as_secs()
                    )));
                }
                // The client fetched from what it holds: wait on.
                Err(_) => {}
            }
        }
    }
    Ok(())
}

/// `subject` with `note` after it.
fn noted(subject: Option<String>, note: &str) -> String {
    match subject {
        Some(s) if !s.is_empty() => format!("{s}; {note}"),
        _ => note.to_owned(),
    }
}
