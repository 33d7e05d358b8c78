//! Where governed queries run, and the limits that hold for everyone.
//!
//! ```text
//!  door (HTTP, PostgreSQL, CLI)
//!    │ QueryEngine::run(principal, cancel, work)
//!    ▼
//!  admission ── full: wait in the queue (max_queued, queue_timeout), else refused
//!    │ a place: at most max_concurrent in all, max_per_principal each
//!    ▼
//!  QueryThreads: a runtime of the query's own ── guard, planning, execution
//!    │  (known stack; after background_after its threads yield the CPU)
//!    ▼
//!  first of: the answer │ the deadline │ the client's cancel │ shutdown
//!    → the query's runtime is shut down: every task of it ends
//! ```
//!
//! Every query gets threads of its own: a small tokio runtime (one worker
//! per core) whose threads have a stack of [`STACK_BYTES`], so no
//! statement can overflow a thread the server needs, and whose shutdown
//! ends every task of the query at once (its memory goes with them). The
//! catalog and the object store are not touched from these threads: the
//! door's runtime does that I/O, so a query's end never breaks a pooled
//! connection.
//!
//! The deadline covers the whole query: checking, planning, execution and
//! collecting. A query that has run longer than `background_after` moves
//! to the background: its threads go to the kernel's idle class
//! (`SCHED_IDLE` on Linux), so a small query arriving while heavy ones run
//! still gets the CPU at once, and the heavy ones use what is left.

use crate::query::QueryError;
use futures::FutureExt;
use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The stack of every thread a query runs on. Planning and optimizing
/// recurse on the plan; the guard keeps nesting under `query.max_depth`,
/// and the nasty-SQL corpus (tests/it/hostile_sql.rs) checks that this
/// budget holds at that depth with room to spare.
pub const STACK_BYTES: usize = 64 << 20;

/// Limits of the engine, from `[query]` in `lagoa.toml`.
#[derive(Clone, Debug)]
pub struct EngineLimits {
    /// Longest a query may take, from admission to its last row.
    pub timeout: Duration,
    pub max_concurrent: usize,
    pub max_per_principal: usize,
    /// Queries waiting for a place; more are refused at once.
    pub max_queued: usize,
    /// Longest a query may wait for a place.
    pub queue_timeout: Duration,
    /// A query running longer than this yields the CPU to younger ones.
    pub background_after: Duration,
}

impl Default for EngineLimits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(300),
            max_concurrent: 8,
            max_per_principal: 4,
            max_queued: 64,
            queue_timeout: Duration::from_secs(30),
            background_after: Duration::from_secs(1),
        }
    }
}

/// Why a query ended before its answer.
pub const CANCELLED_BY_CLIENT: &str = "the client cancelled it";
pub const CANCELLED_BY_SHUTDOWN: &str = "the server is shutting down";

/// The governed queries of one process: admission and per-query threads.
/// Cheap to clone; clones share the admission and the shutdown.
#[derive(Clone)]
pub struct QueryEngine(Arc<Inner>);

struct Inner {
    limits: EngineLimits,
    admission: Admission,
    shutdown: CancellationToken,
    /// Runtimes of queries that ended cleanly, kept for the next ones:
    /// starting threads costs more than a small query.
    idle: Mutex<Vec<QueryRuntime>>,
}

impl std::fmt::Debug for QueryEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryEngine")
            .field("limits", &self.0.limits)
            .finish()
    }
}

impl QueryEngine {
    pub fn new(limits: EngineLimits) -> Self {
        QueryEngine(Arc::new(Inner {
            limits,
            admission: Admission::default(),
            shutdown: CancellationToken::new(),
            idle: Mutex::new(Vec::new()),
        }))
    }

    pub fn limits(&self) -> &EngineLimits {
        &self.0.limits
    }

    /// Ends every running and waiting query, now and from now on: the
    /// server is stopping.
    pub fn shut_down(&self) {
        self.0.shutdown.cancel();
    }

    /// Resolves when the engine shuts down.
    pub async fn shutting_down(&self) {
        self.0.shutdown.cancelled().await;
    }

    /// Queries running and waiting now.
    pub fn load(&self) -> (usize, usize) {
        let state = self.0.admission.state.lock().expect("admission lock");
        (state.running, state.queued)
    }

    /// Waits until no query runs or waits (for tests and shutdown).
    pub async fn idle(&self) {
        while self.load() != (0, 0) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Runs `work` as one query of `principal`: admitted, on threads of its
    /// own, until it answers, the deadline passes, `cancel` fires or the
    /// engine shuts down, whichever comes first. A panic anywhere in the
    /// query is this query's [`QueryError::Internal`], nobody else's.
    pub async fn run<T, Fut>(
        &self,
        principal: &str,
        cancel: impl Future<Output = ()>,
        work: impl FnOnce(QueryThreads) -> Fut,
    ) -> Result<T, QueryError>
    where
        Fut: Future<Output = Result<T, QueryError>>,
    {
        self.run_within(principal, self.0.limits.timeout, cancel, work)
            .await
    }

    /// [`QueryEngine::run`] with a deadline of its own (a cursor's, which
    /// lasts while the client fetches).
    pub async fn run_within<T, Fut>(
        &self,
        principal: &str,
        timeout: Duration,
        cancel: impl Future<Output = ()>,
        work: impl FnOnce(QueryThreads) -> Fut,
    ) -> Result<T, QueryError>
    where
        Fut: Future<Output = Result<T, QueryError>>,
    {
        let limits = &self.0.limits;
        let shutdown = self.0.shutdown.clone();
        tokio::pin!(cancel);
        let place = tokio::select! {
            biased;
            _ = shutdown.cancelled() => return Err(QueryError::Cancelled(CANCELLED_BY_SHUTDOWN.into())),
            _ = &mut cancel => return Err(QueryError::Cancelled(CANCELLED_BY_CLIENT.into())),
            place = Admission::admit(&self.0, principal) => place?,
        };
        // The place goes with the threads: it is freed when they have
        // really stopped, not when the answer (or the deadline) comes.
        let threads = QueryThreads::start(&self.0, place)?;
        let background = {
            let threads = threads.clone();
            let after = limits.background_after;
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                threads.to_background().await;
            })
        };
        let (result, finished) = tokio::select! {
            biased;
            _ = shutdown.cancelled() => (Err(QueryError::Cancelled(CANCELLED_BY_SHUTDOWN.into())), false),
            _ = &mut cancel => (Err(QueryError::Cancelled(CANCELLED_BY_CLIENT.into())), false),
            _ = tokio::time::sleep(timeout) => (Err(QueryError::Timeout(timeout)), false),
            answer = AssertUnwindSafe(work(threads.clone())).catch_unwind() => {
                (answer.unwrap_or_else(|panic| Err(QueryError::internal(panic))), true)
            }
        };
        background.abort();
        // A query that ended by itself leaves nothing running on its threads:
        // they serve the next query. Any other end stops them.
        let reusable = finished && !matches!(result, Err(QueryError::Internal(_)));
        threads.end(reusable);
        result
    }
}

/// The threads of one query: a tokio runtime of its own.
#[derive(Clone)]
pub struct QueryThreads(Arc<Threads>);

struct Threads {
    /// The runtime and the query's admission place, until the query ends.
    running: Mutex<Option<(QueryRuntime, Place)>>,
    handle: tokio::runtime::Handle,
    /// The native ids of the runtime's live threads; `None` once stopped
    /// (from then on they may exit, and their ids must not be used).
    ids: Arc<Mutex<Option<Vec<NativeThread>>>>,
    /// Moved to the idle class: never reused (an unprivileged thread
    /// cannot come back).
    demoted: std::sync::atomic::AtomicBool,
    engine: Arc<Inner>,
}

/// A runtime for queries, with the registry of its threads.
struct QueryRuntime {
    /// Taken out when it is stopped.
    runtime: Option<tokio::runtime::Runtime>,
    ids: Arc<Mutex<Option<Vec<NativeThread>>>>,
}

impl QueryRuntime {
    fn handle(&self) -> tokio::runtime::Handle {
        self.runtime
            .as_ref()
            .expect("a live query runtime")
            .handle()
            .clone()
    }
}

impl Drop for QueryRuntime {
    fn drop(&mut self) {
        // Kept idle until the engine went away (often inside the server's
        // runtime, where a runtime may not block to shut down).
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl QueryRuntime {
    fn build() -> Result<Self, QueryError> {
        let ids: Arc<Mutex<Option<Vec<NativeThread>>>> = Arc::new(Mutex::new(Some(Vec::new())));
        let (started, stopping) = (Arc::clone(&ids), Arc::clone(&ids));
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("lagoa-query")
            .thread_stack_size(STACK_BYTES)
            .enable_all()
            .on_thread_start(move || {
                if let Some(ids) = started.lock().expect("thread ids").as_mut() {
                    ids.push(this_thread());
                }
            })
            .on_thread_stop(move || {
                let me = this_thread();
                if let Some(ids) = stopping.lock().expect("thread ids").as_mut()
                    && let Some(at) = ids.iter().position(|id| *id == me)
                {
                    ids.swap_remove(at);
                }
            })
            .build()
            .map_err(|e| QueryError::Busy(format!("cannot start the query's threads: {e}")))?;
        Ok(QueryRuntime {
            runtime: Some(runtime),
            ids,
        })
    }
}

#[cfg(target_os = "linux")]
type NativeThread = thread_priority::unix::ThreadId;
#[cfg(not(target_os = "linux"))]
type NativeThread = ();

#[cfg(target_os = "linux")]
fn this_thread() -> NativeThread {
    thread_priority::unix::thread_native_id()
}
#[cfg(not(target_os = "linux"))]
fn this_thread() -> NativeThread {}

impl QueryThreads {
    fn start(engine: &Arc<Inner>, place: Place) -> Result<Self, QueryError> {
        let pooled = engine.idle.lock().expect("idle runtimes").pop();
        let runtime = match pooled {
            Some(r) => r,
            None => QueryRuntime::build()?,
        };
        Ok(QueryThreads(Arc::new(Threads {
            handle: runtime.handle(),
            ids: Arc::clone(&runtime.ids),
            running: Mutex::new(Some((runtime, place))),
            demoted: std::sync::atomic::AtomicBool::new(false),
            engine: Arc::clone(engine),
        })))
    }

    /// Runs `work` on the query's threads. A panic there is this query's
    /// internal error.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, QueryError>> + Send + 'static,
    ) -> Result<T, QueryError> {
        match self.0.handle.spawn(work).await {
            Ok(answer) => answer,
            Err(e) if e.is_panic() => Err(QueryError::internal(e.into_panic())),
            Err(_) => Err(QueryError::Cancelled(
                "the query's threads were stopped".into(),
            )),
        }
    }

    /// Moves the query's threads to the kernel's idle class: they run only
    /// when no other thread wants the CPU.
    async fn to_background(&self) {
        self.0
            .demoted
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let ids = Arc::clone(&self.0.ids);
        let _ = tokio::task::spawn_blocking(move || {
            let ids = ids.lock().expect("thread ids");
            for id in ids.iter().flatten() {
                yield_cpu(*id);
            }
        })
        .await;
    }

    /// The query is over: its threads serve the next query when `reusable`
    /// (it ended by itself, at normal priority), else every task of it ends
    /// and its threads go.
    fn end(&self, reusable: bool) {
        if reusable && !self.0.demoted.load(std::sync::atomic::Ordering::SeqCst) {
            let Some((runtime, place)) = self.0.running.lock().expect("query runtime").take()
            else {
                return;
            };
            let mut idle = self.0.engine.idle.lock().expect("idle runtimes");
            if idle.len() < self.0.engine.limits.max_concurrent {
                idle.push(runtime);
                drop(idle);
                drop(place);
                return;
            }
            drop(idle);
            *self.0.running.lock().expect("query runtime") = Some((runtime, place));
        }
        self.0.stop();
    }
}

/// Longest a stopped query's thread may take to reach its next yield (a
/// plan being optimized cannot be interrupted; the guard bounds how long
/// that takes) before its place is freed anyway.
const STOP_WAIT: Duration = Duration::from_secs(600);

impl Threads {
    fn stop(&self) {
        // A runtime already back in the pool is the next query's: its
        // thread registry must stay, or that query could never be moved
        // to the background.
        let Some((mut query_runtime, place)) = self.running.lock().expect("query runtime").take()
        else {
            return;
        };
        // No more priority changes: from here the threads may exit.
        // A poisoned registry is only a list of thread ids: clear it all the same.
        *self
            .ids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        let Some(runtime) = query_runtime.runtime.take() else {
            return;
        };
        // Every task is dropped at its next yield; the place is freed when
        // the threads are gone, so a statement that keeps a thread busy
        // past its deadline still counts against its principal.
        let waited = std::thread::Builder::new()
            .name("lagoa-query-end".into())
            .spawn(move || {
                runtime.shutdown_timeout(STOP_WAIT);
                drop(place);
            });
        if let Err(e) = waited {
            tracing::warn!(error = %e, "cannot wait for a query's threads; its place is freed now");
        }
    }
}

impl Drop for Threads {
    fn drop(&mut self) {
        // The door's future was dropped (an HTTP client went away).
        self.stop();
    }
}

#[cfg(target_os = "linux")]
fn yield_cpu(id: NativeThread) {
    use thread_priority::unix::{
        NormalThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy,
    };
    // `set_thread_priority_and_policy` also sets the calling thread's nice
    // value to the policy's priority (0 for the idle class): harmless on
    // the blocking pool's threads, which run at 0.
    if let Err(e) = set_thread_priority_and_policy(
        id,
        thread_priority::ThreadPriority::Min,
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle),
    ) {
        tracing::debug!(error = ?e, "a long query's thread could not move to the idle class");
    }
}

#[cfg(not(target_os = "linux"))]
fn yield_cpu(_id: NativeThread) {}

/// Places for running queries: in all, per principal, and a bounded queue.
#[derive(Default)]
struct Admission {
    state: Mutex<AdmissionState>,
    freed: Notify,
}

#[derive(Default)]
struct AdmissionState {
    running: usize,
    queued: usize,
    per_principal: HashMap<String, usize>,
}

/// A query's place; freed when dropped.
struct Place {
    engine: Arc<Inner>,
    principal: String,
}

impl Drop for Place {
    fn drop(&mut self) {
        let admission = &self.engine.admission;
        let mut state = admission.state.lock().expect("admission lock");
        state.running -= 1;
        if let Some(n) = state.per_principal.get_mut(&self.principal) {
            *n -= 1;
            if *n == 0 {
                state.per_principal.remove(&self.principal);
            }
        }
        drop(state);
        admission.freed.notify_waiters();
    }
}

/// A query waiting in the queue; leaves it when dropped.
struct Waiting<'a>(&'a Admission);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.state.lock().expect("admission lock").queued -= 1;
    }
}

impl Admission {
    async fn admit(engine: &Arc<Inner>, principal: &str) -> Result<Place, QueryError> {
        let this = &engine.admission;
        let limits = &engine.limits;
        let deadline = tokio::time::Instant::now() + limits.queue_timeout;
        let mut waiting: Option<Waiting> = None;
        loop {
            let freed = this.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            {
                let mut state = this.state.lock().expect("admission lock");
                let mine = state.per_principal.get(principal).copied().unwrap_or(0);
                if state.running < limits.max_concurrent && mine < limits.max_per_principal {
                    state.running += 1;
                    *state.per_principal.entry(principal.to_owned()).or_default() += 1;
                    drop(state);
                    drop(waiting);
                    return Ok(Place {
                        engine: Arc::clone(engine),
                        principal: principal.to_owned(),
                    });
                }
                if waiting.is_none() {
                    if state.queued >= limits.max_queued {
                        return Err(QueryError::Busy(format!(
                            "the query service is full: {} queries are running and {} waiting; try again in a moment",
                            state.running, state.queued
                        )));
                    }
                    state.queued += 1;
                    waiting = Some(Waiting(this));
                }
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                let state = this.state.lock().expect("admission lock");
                let mine = state.per_principal.get(principal).copied().unwrap_or(0);
                return Err(QueryError::Busy(if mine >= limits.max_per_principal {
                    format!(
                        "your query waited {}s for a place: {mine} of your queries are running (query.max_per_principal = {}); wait for them or cancel one",
                        limits.queue_timeout.as_secs(),
                        limits.max_per_principal
                    )
                } else {
                    format!(
                        "your query waited {}s for a place: {} queries are running (query.max_concurrent = {}); try again in a moment",
                        limits.queue_timeout.as_secs(),
                        state.running,
                        limits.max_concurrent
                    )
                }));
            }
        }
    }
}

impl std::fmt::Debug for QueryThreads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryThreads").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn limits() -> EngineLimits {
        EngineLimits {
            timeout: Duration::from_secs(5),
            max_concurrent: 3,
            max_per_principal: 2,
            max_queued: 1,
            queue_timeout: Duration::from_millis(300),
            background_after: Duration::from_secs(60),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_principal_over_its_cap_waits_and_is_refused_with_the_reason() {
        let engine = QueryEngine::new(limits());
        let hold = |engine: QueryEngine, who: &'static str| {
            tokio::spawn(async move {
                engine
                    .run(who, std::future::pending(), |_| async {
                        tokio::time::sleep(Duration::from_millis(800)).await;
                        Ok(())
                    })
                    .await
            })
        };
        let a1 = hold(engine.clone(), "ana");
        let a2 = hold(engine.clone(), "ana");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(engine.load(), (2, 0));
        // A third of ana's waits in the queue, then is refused.
        let started = Instant::now();
        let third = engine
            .run("ana", std::future::pending(), |_| async { Ok(()) })
            .await;
        let e = third.unwrap_err().to_string();
        assert!(e.contains("2 of your queries are running"), "{e}");
        assert!(started.elapsed() >= Duration::from_millis(250));
        // Someone else gets a place at once.
        let started = Instant::now();
        engine
            .run("bia", std::future::pending(), |_| async { Ok(()) })
            .await
            .unwrap();
        assert!(started.elapsed() < Duration::from_millis(200));
        a1.await.unwrap().unwrap();
        a2.await.unwrap().unwrap();
        tokio::time::timeout(Duration::from_secs(5), engine.idle())
            .await
            .expect("every place is freed once the threads stop");
    }

    /// The scheduling policy of the calling thread (Linux: 5 is SCHED_IDLE).
    #[cfg(target_os = "linux")]
    fn this_thread_policy() -> u32 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..]
            .split_whitespace()
            .collect();
        // Field 41 of stat, counted from the state (field 3).
        fields[41 - 3].parse().unwrap()
    }

    #[cfg(target_os = "linux")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_long_query_moves_to_the_background_on_fresh_and_on_reused_threads() {
        let engine = QueryEngine::new(EngineLimits {
            background_after: Duration::from_millis(100),
            ..limits()
        });
        let long = || {
            engine.run("ana", std::future::pending(), |threads| async move {
                threads
                    .run(async {
                        tokio::time::sleep(Duration::from_millis(400)).await;
                        Ok(this_thread_policy())
                    })
                    .await
            })
        };
        assert_eq!(long().await.unwrap(), 5, "fresh threads go to SCHED_IDLE");
        // A short query's threads go back to the pool; the next long query
        // on them must still move to the background.
        let short = engine
            .run("ana", std::future::pending(), |threads| async move {
                threads.run(async { Ok(this_thread_policy()) }).await
            })
            .await
            .unwrap();
        assert_eq!(short, 0, "a short query runs at normal priority");
        assert_eq!(
            engine.0.idle.lock().unwrap().len(),
            1,
            "its threads are pooled"
        );
        assert_eq!(
            long().await.unwrap(),
            5,
            "reused threads go to SCHED_IDLE too"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_refuses_at_once() {
        let engine = QueryEngine::new(limits());
        let mut running = Vec::new();
        for who in ["a", "b", "c"] {
            let engine = engine.clone();
            running.push(tokio::spawn(async move {
                engine
                    .run(who, std::future::pending(), |_| async {
                        tokio::time::sleep(Duration::from_millis(600)).await;
                        Ok(())
                    })
                    .await
            }));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let queued = {
            let engine = engine.clone();
            tokio::spawn(async move {
                engine
                    .run("d", std::future::pending(), |_| async { Ok(()) })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(engine.load(), (3, 1));
        let e = engine
            .run("e", std::future::pending(), |_| async { Ok(()) })
            .await
            .unwrap_err();
        assert!(
            matches!(e, QueryError::Busy(ref m) if m.contains("full")),
            "{e}"
        );
        // The queued one got its place when the first ones ended... or
        // waited past its own limit; either way it left the queue.
        let _ = queued.await.unwrap();
        for r in running {
            r.await.unwrap().unwrap();
        }
        tokio::time::timeout(Duration::from_secs(5), engine.idle())
            .await
            .expect("every place is freed once the threads stop");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_deadline_ends_the_query_and_its_tasks() {
        let engine = QueryEngine::new(EngineLimits {
            timeout: Duration::from_millis(300),
            ..limits()
        });
        let spinning = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = Arc::clone(&spinning);
        let started = Instant::now();
        let e = engine
            .run("ana", std::future::pending(), |threads| async move {
                threads
                    .run::<()>(async move {
                        loop {
                            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            tokio::task::yield_now().await;
                        }
                    })
                    .await
            })
            .await
            .unwrap_err();
        assert!(matches!(e, QueryError::Timeout(_)), "{e}");
        assert!(started.elapsed() < Duration::from_secs(2));
        tokio::time::sleep(Duration::from_millis(100)).await;
        let after = spinning.load(std::sync::atomic::Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            spinning.load(std::sync::atomic::Ordering::Relaxed),
            after,
            "the query's task still runs after its deadline"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_threads_of_a_query_that_ended_by_itself_serve_the_next() {
        let engine = QueryEngine::new(EngineLimits {
            timeout: Duration::from_millis(200),
            ..limits()
        });
        let idle = |e: &QueryEngine| e.0.idle.lock().unwrap().len();
        let thread_of = |engine: QueryEngine| async move {
            engine
                .run("ana", std::future::pending(), |threads| async move {
                    threads.run(async { Ok(std::thread::current().id()) }).await
                })
                .await
        };
        let first = thread_of(engine.clone()).await.unwrap();
        assert_eq!(idle(&engine), 1);
        let mut seen = vec![first];
        for _ in 0..5 {
            seen.push(thread_of(engine.clone()).await.unwrap());
        }
        // One runtime of two workers served them all.
        seen.sort_by_key(|t| format!("{t:?}"));
        seen.dedup();
        assert!(seen.len() <= 2, "{seen:?}");
        assert_eq!(idle(&engine), 1);
        // A query stopped at its deadline does not give its threads back.
        let e = engine
            .run::<(), _>("ana", std::future::pending(), |_| std::future::pending())
            .await
            .unwrap_err();
        assert!(matches!(e, QueryError::Timeout(_)));
        assert_eq!(idle(&engine), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panic_is_the_query_s_internal_error_and_a_cancel_ends_it() {
        let engine = QueryEngine::new(limits());
        let e = engine
            .run("ana", std::future::pending(), |threads| async move {
                threads
                    .run(async {
                        let v: Vec<i32> = Vec::new();
                        Ok(v[3])
                    })
                    .await
            })
            .await
            .unwrap_err();
        assert!(matches!(e, QueryError::Internal(_)), "{e}");
        let e = engine
            .run::<(), _>("ana", async {}, |_| std::future::pending())
            .await
            .unwrap_err();
        assert!(matches!(e, QueryError::Cancelled(_)), "{e}");
        engine.shut_down();
        let e = engine
            .run("ana", std::future::pending(), |_| async { Ok(()) })
            .await
            .unwrap_err();
        assert!(e.to_string().contains("shutting down"), "{e}");
        tokio::time::timeout(Duration::from_secs(5), engine.idle())
            .await
            .expect("every place is freed once the threads stop");
    }
}
