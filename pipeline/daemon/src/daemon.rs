//! `lagoa daemon`: runs configured sources on their cron schedules.
//!
//! - Each source's firings queue in its [`Plan`]; a source runs one firing
//!   at a time in this daemon, and at most `concurrency` sources run at
//!   once.
//! - Before running, a firing is claimed in the catalog
//!   ([`lagoa_lake::catalog::Claim`]): the claim takes the source's lease
//!   and records the firing, so daemons sharing a catalog run each firing
//!   once and never one source twice at a time. The lease is renewed while
//!   the run goes; a daemon killed mid-run stops renewing, its lease
//!   expires, and whoever claims next closes the abandoned run as failed.
//! - Transient failures (network, timeouts, storage, catalog connection)
//!   are retried with exponential backoff and jitter; others are not.
//! - On shutdown no new firing starts; runs under way get `shutdown_grace`
//!   to finish, then are stopped. A run's commit is one catalog
//!   transaction, so stopping it never leaves half a commit.

use crate::DaemonError;
use crate::alerts::{Alert, Alerter};
use crate::clock::Clock;
use crate::run_source::{Quiet, RunObserver, run_source};
use crate::schedule::Schedule;
use crate::source_file::{MissedPolicy, SourceFile};
use chrono::{DateTime, Utc};
use lagoa_lake::Lake;
use lagoa_lake::catalog::Claim;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Most missed firings a `catch_up` source runs after a pause in service.
const MAX_CATCH_UP: usize = 100;

#[derive(Clone, Debug)]
pub struct DaemonOptions {
    /// Sources running at once.
    pub concurrency: usize,
    /// How long a lease lasts without renewal (renewed every third of it).
    pub lease: Duration,
    /// On shutdown, how long runs under way may take to finish.
    pub shutdown_grace: Duration,
    /// Longest sleep between looks at the clock.
    pub max_sleep: Duration,
    /// A dataset is late when no delivery was committed for its agreement's
    /// interval plus this.
    pub late_grace: Duration,
    /// How often lateness is checked.
    pub late_check_every: Duration,
    /// Alert when a source fails this many firings in a row.
    pub repeated_failures: u32,
    /// How often every object of the lake is read in full and verified
    /// (`check --deep`); none: never.
    pub deep_check_every: Option<Duration>,
    /// How often every dataset is compacted (`lagoa compact`); none: never.
    pub compact_every: Option<Duration>,
}

impl Default for DaemonOptions {
    fn default() -> Self {
        DaemonOptions {
            concurrency: 4,
            lease: Duration::from_secs(120),
            shutdown_grace: Duration::from_secs(300),
            max_sleep: Duration::from_secs(60),
            late_grace: Duration::from_secs(24 * 3600),
            late_check_every: Duration::from_secs(300),
            repeated_failures: 3,
            deep_check_every: None,
            compact_every: None,
        }
    }
}

#[derive(Debug)]
pub struct Daemon {
    lake: Arc<Lake>,
    sources: Vec<Arc<SourceFile>>,
    clock: Arc<dyn Clock>,
    options: DaemonOptions,
    owner: String,
    /// Firings finished so far (run, skipped or failed): what tests and
    /// the console wait on.
    finished: tokio::sync::watch::Sender<u64>,
    /// Set once the plans are made (the clock was read).
    ready: tokio::sync::watch::Sender<bool>,
    alerter: Arc<Alerter>,
}

/// One source's firings: those due and waiting, and the next one.
struct Plan {
    source: Arc<SourceFile>,
    schedule: Schedule,
    missed: MissedPolicy,
    queue: VecDeque<DateTime<Utc>>,
    next: Option<DateTime<Utc>>,
    running: bool,
    /// Scheduled firings failed in a row.
    failures_in_a_row: u32,
}

impl Plan {
    /// Moves the firings due at `now` into the queue.
    fn advance(&mut self, now: DateTime<Utc>) {
        while let Some(next) = self.next.filter(|n| *n <= now) {
            self.queue.push_back(next);
            self.next = self.schedule.next_after(next);
        }
        self.trim();
    }

    fn trim(&mut self) {
        let keep = match self.missed {
            MissedPolicy::Skip => 1,
            MissedPolicy::CatchUp => MAX_CATCH_UP,
        };
        while self.queue.len() > keep {
            let dropped = self.queue.pop_front();
            tracing::info!(source = %self.source.name, firing = ?dropped, "firing skipped: a later one stands for it (missed = skip)");
        }
    }
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

impl Daemon {
    pub fn new(
        lake: Arc<Lake>,
        sources: Vec<SourceFile>,
        clock: Arc<dyn Clock>,
        options: DaemonOptions,
    ) -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "lagoa".into());
        let owner = format!(
            "{host}:{}:{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        Daemon {
            lake,
            sources: sources.into_iter().map(Arc::new).collect(),
            clock,
            options,
            owner,
            finished: tokio::sync::watch::Sender::new(0),
            ready: tokio::sync::watch::Sender::new(false),
            alerter: Arc::new(Alerter::none()),
        }
    }

    /// Sends alerts through `alerter` (by default they are only logged).
    pub fn with_alerter(mut self, alerter: Alerter) -> Self {
        self.alerter = Arc::new(alerter);
        self
    }

    pub fn sources(&self) -> &[Arc<SourceFile>] {
        &self.sources
    }

    /// Returns once the daemon has read the clock and made its plans.
    pub async fn wait_ready(&self) {
        let mut ready = self.ready.subscribe();
        let _ = ready.wait_for(|r| *r).await;
    }

    /// Counts the firings finished so far.
    pub fn watch_finished(&self) -> tokio::sync::watch::Receiver<u64> {
        self.finished.subscribe()
    }

    /// This daemon's name on the leases it holds.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The plans at start: the next firing of each scheduled source, and
    /// the firings missed since the last one claimed (per its policy).
    async fn plans(&self) -> Result<Vec<Plan>, DaemonError> {
        let now = self.clock.now();
        let mut plans = Vec::new();
        for source in &self.sources {
            let (Some(schedule), Some(config)) = (source.schedule(), source.schedule.as_ref())
            else {
                continue;
            };
            let mut plan = Plan {
                source: Arc::clone(source),
                next: schedule.next_after(now),
                missed: config.missed,
                schedule,
                queue: VecDeque::new(),
                running: false,
                failures_in_a_row: 0,
            };
            let last = self
                .lake
                .catalog
                .source_state(&source.name)
                .await?
                .and_then(|s| s.last_fire_at)
                .and_then(DateTime::<Utc>::from_timestamp_micros);
            if let Some(last) = last {
                let missed = plan.schedule.firings_between(last, now, MAX_CATCH_UP);
                if !missed.is_empty() {
                    tracing::info!(source = %source.name, missed = missed.len(), policy = ?plan.missed, "firings missed while no daemon ran");
                }
                plan.queue.extend(missed);
                plan.trim();
            }
            plans.push(plan);
        }
        Ok(plans)
    }

    /// Runs until `shutdown` is cancelled.
    pub async fn run(&self, shutdown: CancellationToken) -> Result<(), DaemonError> {
        let mut plans = self.plans().await?;
        self.ready.send_replace(true);
        tracing::info!(owner = %self.owner, sources = plans.len(), concurrency = self.options.concurrency, "daemon started");
        let permits = Arc::new(Semaphore::new(self.options.concurrency.max(1)));
        let stop_retries = shutdown.child_token();
        let mut tasks: JoinSet<(usize, FiringResult)> = JoinSet::new();
        let mut late_alerted: std::collections::BTreeSet<String> =
            std::collections::BTreeSet::new();
        let mut next_late_check = self.clock.now();
        // The audit anchor last sent to the webhook (its entry number).
        let mut anchor_pushed: Option<i64> = None;
        let mut deep_check = Periodic::new(
            "deep check",
            self.options.deep_check_every,
            self.clock.now(),
        );
        let mut compaction =
            Periodic::new("compaction", self.options.compact_every, self.clock.now());
        loop {
            let now = self.clock.now();
            for (i, plan) in plans.iter_mut().enumerate() {
                plan.advance(now);
                if plan.running {
                    continue;
                }
                let Some(fire_at) = plan.queue.pop_front() else {
                    continue;
                };
                plan.running = true;
                let firing = Firing {
                    lake: Arc::clone(&self.lake),
                    source: Arc::clone(&plan.source),
                    clock: Arc::clone(&self.clock),
                    owner: self.owner.clone(),
                    lease: self.options.lease,
                    stop_retries: stop_retries.clone(),
                    observer: Arc::new(Quiet),
                };
                let permits = Arc::clone(&permits);
                let span = tracing::info_span!("firing", source = %plan.source.name, dataset = %plan.source.dataset, trigger = "schedule");
                tasks.spawn(
                    async move {
                        let Ok(_permit) = permits.acquire_owned().await else {
                            return (i, FiringResult::CatalogError);
                        };
                        (i, firing.run(Some(fire_at), "schedule").await)
                    }
                    .instrument(span),
                );
            }
            if now >= next_late_check {
                self.check_lateness(now, &mut late_alerted).await;
                self.push_audit_anchor(&mut anchor_pushed).await;
                next_late_check = now
                    + chrono::Duration::from_std(self.options.late_check_every).unwrap_or_default();
            }
            deep_check.start_if_due(now, || {
                deep_check_and_alert(Arc::clone(&self.lake), Arc::clone(&self.alerter))
                    .instrument(tracing::info_span!("deep_check"))
            });
            compaction.start_if_due(now, || {
                compact(Arc::clone(&self.lake)).instrument(tracing::info_span!("compaction"))
            });
            let wake = plans
                .iter()
                .filter(|p| !p.running)
                .filter_map(|p| p.next)
                .min()
                .unwrap_or(now + self.options.max_sleep)
                .min(now + self.options.max_sleep)
                .min(next_late_check)
                .min(deep_check.next().unwrap_or(next_late_check))
                .min(compaction.next().unwrap_or(next_late_check));
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.clock.sleep_until(wake) => {}
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    self.finished(&mut plans, done).await;
                }
            }
        }
        // A compaction or check cut short commits nothing: its files are
        // orphans for vacuum.
        deep_check.abort();
        compaction.abort();
        self.shut_down(&mut plans, tasks).await;
        Ok(())
    }

    /// Moves the audit trail's anchor to its head and, when the anchor is
    /// further than the one last sent (whoever moved it), sends it to the
    /// alert webhook: a copy of the head held outside the lake altogether.
    async fn push_audit_anchor(&self, pushed: &mut Option<i64>) {
        match self.lake.anchor_audit().await {
            Ok(Some(anchor)) if pushed.is_none_or(|p| anchor.seq > p) => {
                *pushed = Some(anchor.seq);
                self.alerter
                    .send(&Alert::AuditAnchor {
                        seq: anchor.seq,
                        mac: anchor.mac,
                        at: lagoa_lake::catalog::format_micros(anchor.at),
                    })
                    .await;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot move the audit trail's anchor"),
        }
    }

    /// Alerts for datasets that became late since the last check.
    async fn check_lateness(
        &self,
        now: DateTime<Utc>,
        alerted: &mut std::collections::BTreeSet<String>,
    ) {
        let fresh = match crate::metrics::freshness(
            &self.lake,
            &self.sources,
            now,
            self.options.late_grace,
        )
        .await
        {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(error = %e, "cannot check lateness; the catalog is unreachable");
                return;
            }
        };
        for f in fresh {
            if !f.late {
                alerted.remove(&f.dataset);
                continue;
            }
            if alerted.insert(f.dataset.clone()) {
                let alert = Alert::Late {
                    last_commit: f.last_commit.map(|t| t.to_rfc3339()).unwrap_or_default(),
                    expected_days: f.expected.map(|e| e.as_secs() / 86_400).unwrap_or(0),
                    dataset: f.dataset,
                    sources: f.sources,
                };
                self.alerter.send(&alert).await;
            }
        }
    }

    /// A firing ended: the source may run again; failures alert.
    async fn finished(
        &self,
        plans: &mut [Plan],
        done: Result<(usize, FiringResult), tokio::task::JoinError>,
    ) {
        self.finished.send_modify(|n| *n += 1);
        let (i, result) = match done {
            Ok(d) => d,
            Err(e) => {
                // A panicking run: its plan stays marked running, so this
                // daemon does not run the source again; the lease expires.
                tracing::error!(error = %e, "a run's task failed");
                return;
            }
        };
        let Some(plan) = plans.get_mut(i) else { return };
        plan.running = false;
        match result {
            FiringResult::Succeeded { .. } => plan.failures_in_a_row = 0,
            FiringResult::Failed { attempts } => {
                plan.failures_in_a_row += 1;
                let (source, dataset) = (plan.source.name.clone(), plan.source.dataset.clone());
                let error = self
                    .lake
                    .catalog
                    .last_runs()
                    .await
                    .ok()
                    .and_then(|runs| runs.into_iter().find(|r| r.source == source))
                    .map(|r| {
                        format!(
                            "{}: {}",
                            r.error_class.map_or(r.status.as_str(), |c| c.as_str()),
                            r.error.unwrap_or_default()
                        )
                    })
                    .unwrap_or_default();
                self.alerter
                    .send(&Alert::RunFailed {
                        source: source.clone(),
                        dataset: dataset.clone(),
                        attempts,
                        error,
                    })
                    .await;
                if plan.failures_in_a_row == self.options.repeated_failures {
                    self.alerter
                        .send(&Alert::RepeatedFailures {
                            source,
                            dataset,
                            failures: plan.failures_in_a_row,
                        })
                        .await;
                }
            }
            FiringResult::NotClaimed(_) | FiringResult::CatalogError => {}
        }
    }

    async fn shut_down(&self, plans: &mut [Plan], mut tasks: JoinSet<(usize, FiringResult)>) {
        let running = plans.iter().filter(|p| p.running).count();
        tracing::info!(
            running,
            grace_seconds = self.options.shutdown_grace.as_secs(),
            "shutting down: no new runs; waiting for those under way"
        );
        let waited = tokio::time::timeout(self.options.shutdown_grace, async {
            while let Some(done) = tasks.join_next().await {
                self.finished(plans, done).await;
            }
        })
        .await;
        if waited.is_err() {
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
            let now = self.clock.now();
            for plan in plans.iter().filter(|p| p.running) {
                let name = &plan.source.name;
                tracing::warn!(source = %name, "run stopped at shutdown; nothing of it became visible");
                let closed = self
                    .lake
                    .catalog
                    .fail_unfinished_runs(
                        name,
                        micros(now),
                        "stopped: the daemon shut down during the run",
                        "internal",
                        micros(now),
                    )
                    .await;
                let released = self.lake.catalog.release_lease(name, &self.owner).await;
                if let Err(e) = closed.and(released) {
                    tracing::error!(source = %name, error = %e, "could not close the stopped run; its lease will expire");
                }
            }
        }
        tracing::info!("daemon stopped");
    }
}

/// One claimed run of a source, with its lease, retries and timeout.
#[derive(Debug)]
pub struct Firing {
    pub lake: Arc<Lake>,
    pub source: Arc<SourceFile>,
    pub clock: Arc<dyn Clock>,
    pub owner: String,
    pub lease: Duration,
    /// Cancelled: no further attempt starts.
    pub stop_retries: CancellationToken,
    /// Sees each delivery go by (the daemon logs; `lagoa run` shows progress).
    pub observer: Arc<dyn RunObserver>,
}

/// What became of a firing.
#[derive(Debug, PartialEq, Eq)]
pub enum FiringResult {
    Succeeded { attempts: u32 },
    Failed { attempts: u32 },
    NotClaimed(Claim),
    CatalogError,
}

impl Firing {
    fn lease_until(&self) -> i64 {
        micros(self.clock.now() + chrono::Duration::from_std(self.lease).unwrap_or_default())
    }

    pub async fn run(&self, fire_at: Option<DateTime<Utc>>, trigger: &str) -> FiringResult {
        let name = &self.source.name;
        let now = micros(self.clock.now());
        let claim = self
            .lake
            .catalog
            .claim_source(
                name,
                &self.owner,
                fire_at.map(micros),
                self.lease_until(),
                now,
            )
            .await;
        match claim {
            Ok(Claim::Taken { abandoned_by }) => {
                // With the lease ours, a run of this source still marked
                // running has no one left to finish it: a daemon died (its
                // lease expired) or the catalog was unreachable when the
                // run ended.
                match self
                    .lake
                    .catalog
                    .fail_unfinished_runs(
                        name,
                        now,
                        "abandoned: the run stopped without recording its end (its daemon stopped, or the catalog was unreachable)",
                        "abandoned",
                        now,
                    )
                    .await
                {
                    Ok(0) => {}
                    Ok(closed) => {
                        tracing::warn!(source = %name, closed, previous_owner = ?abandoned_by, "closed runs left unfinished")
                    }
                    Err(e) => tracing::warn!(source = %name, error = %e, "could not close runs left unfinished"),
                }
            }
            Ok(other) => {
                match &other {
                    Claim::AlreadyClaimed => {
                        tracing::debug!(source = %name, "firing already claimed by another daemon")
                    }
                    Claim::Busy { owner } => {
                        tracing::info!(source = %name, holder = %owner, "firing skipped: a run of this source is still under way")
                    }
                    Claim::Paused => {
                        tracing::info!(source = %name, "firing skipped: source paused")
                    }
                    Claim::Taken { .. } => {}
                }
                return FiringResult::NotClaimed(other);
            }
            Err(e) => {
                tracing::error!(source = %name, error = %e, "cannot claim the source; the catalog is unreachable");
                return FiringResult::CatalogError;
            }
        }
        let heartbeat = self.heartbeat();
        let result = self.attempts(trigger).await;
        heartbeat.abort();
        if let Err(e) = self.lake.catalog.release_lease(name, &self.owner).await {
            tracing::warn!(source = %name, error = %e, "could not release the lease; it will expire");
        }
        result
    }

    /// Renews the lease every third of its length while the run goes.
    fn heartbeat(&self) -> tokio::task::JoinHandle<()> {
        let (lake, clock, owner, name, lease) = (
            Arc::clone(&self.lake),
            Arc::clone(&self.clock),
            self.owner.clone(),
            self.source.name.clone(),
            self.lease,
        );
        tokio::spawn(async move {
            let step = chrono::Duration::from_std(lease / 3).unwrap_or_default();
            loop {
                clock.sleep_until(clock.now() + step).await;
                let until =
                    micros(clock.now() + chrono::Duration::from_std(lease).unwrap_or_default());
                match lake.catalog.renew_lease(&name, &owner, until).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::error!(source = %name, "lost the lease during the run");
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(source = %name, error = %e, "could not renew the lease")
                    }
                }
            }
        })
    }

    async fn attempts(&self, trigger: &str) -> FiringResult {
        let name = &self.source.name;
        let retry = &self.source.retry;
        let timeout = self.source.timeout();
        let mut attempt = 1;
        loop {
            let started = micros(self.clock.now());
            let outcome = tokio::time::timeout(
                timeout,
                run_source(&self.lake, &self.source, trigger, attempt, &*self.observer),
            )
            .await;
            let transient = match outcome {
                Ok(Ok(run)) if run.succeeded() => {
                    tracing::info!(source = %name, attempt, deliveries = run.outcomes.len(), rows = run.rows_written(), "source run succeeded");
                    return FiringResult::Succeeded { attempts: attempt };
                }
                Ok(Ok(run)) => {
                    let first = run.failures.first().map(|(d, e)| format!("{d}: {e}"));
                    tracing::warn!(source = %name, attempt, failures = run.failures.len(), first = ?first, "source run failed");
                    run.transient()
                }
                Ok(Err(e)) => {
                    tracing::error!(source = %name, attempt, error = %e, "source run could not start");
                    matches!(e, DaemonError::Lake(ref l) if lagoa_core::Retryable::is_retryable(l))
                }
                Err(_) => {
                    let now = micros(self.clock.now());
                    let message = format!("timed out after {} s", timeout.as_secs());
                    let _ = self
                        .lake
                        .catalog
                        .fail_unfinished_runs(name, now.max(started), &message, "internal", now)
                        .await;
                    tracing::error!(source = %name, attempt, timeout_seconds = timeout.as_secs(), "source run timed out");
                    true
                }
            };
            if !transient || attempt >= retry.attempts || self.stop_retries.is_cancelled() {
                return FiringResult::Failed { attempts: attempt };
            }
            let jitter = uuid::Uuid::new_v4().as_u128() as f64 / u128::MAX as f64;
            let wait = retry.backoff(attempt, jitter);
            tracing::info!(source = %name, attempt, wait_seconds = wait.as_secs_f64(), "transient failure: retrying");
            let at = self.clock.now() + chrono::Duration::from_std(wait).unwrap_or_default();
            tokio::select! {
                _ = self.clock.sleep_until(at) => {}
                _ = self.stop_retries.cancelled() => return FiringResult::Failed { attempts: attempt },
            }
            if let Err(e) = self
                .lake
                .catalog
                .renew_lease(name, &self.owner, self.lease_until())
                .await
            {
                tracing::warn!(source = %name, error = %e, "could not renew the lease before retrying");
            }
            attempt += 1;
        }
    }
}

/// A background job the daemon starts every `every` (the first one
/// interval after start), never two of them at once.
struct Periodic {
    name: &'static str,
    every: Option<chrono::Duration>,
    next: Option<chrono::DateTime<chrono::Utc>>,
    running: Option<tokio::task::JoinHandle<()>>,
}

impl Periodic {
    fn new(
        name: &'static str,
        every: Option<Duration>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Self {
        let every = every.and_then(|d| chrono::Duration::from_std(d).ok());
        Periodic {
            name,
            every,
            next: every.map(|e| now + e),
            running: None,
        }
    }

    fn next(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.next
    }

    fn start_if_due<F>(&mut self, now: chrono::DateTime<chrono::Utc>, job: impl FnOnce() -> F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let (Some(at), Some(every)) = (self.next, self.every) else {
            return;
        };
        if now < at {
            return;
        }
        if self.running.as_ref().is_none_or(|h| h.is_finished()) {
            self.running = Some(tokio::spawn(job()));
        } else {
            tracing::warn!(
                job = self.name,
                "the previous run is still going; this one is skipped"
            );
        }
        self.next = Some(now + every);
    }

    fn abort(self) {
        if let Some(running) = self.running {
            running.abort();
        }
    }
}

/// Compacts every dataset (`lagoa compact`).
async fn compact(lake: Arc<Lake>) {
    match lagoa_lake::compact::compact(&lake, None, false).await {
        Ok(done) => {
            for c in done {
                tracing::info!(
                    dataset = %c.dataset,
                    files_before = c.files_before,
                    files_after = c.files_after,
                    rows = c.rows,
                    deleted_rows = c.deleted_rows,
                    snapshot = c.snapshot,
                    skipped = c.skipped,
                    error = c.error,
                    "compacted"
                );
            }
        }
        Err(e) => tracing::warn!(error = %e, "the compaction could not run"),
    }
}

/// Reads every object of the lake in full (`lagoa check --deep`) and
/// alerts when anything is not as written.
async fn deep_check_and_alert(lake: Arc<Lake>, alerter: Arc<Alerter>) {
    tracing::info!("deep check started");
    match lagoa_lake::deep_check::deep_check(&lake, &|_, _| {}).await {
        Ok(report) if report.damaged.is_empty() => {
            tracing::info!(
                objects = report.objects,
                bytes = report.bytes,
                "deep check: every object is as written"
            );
        }
        Ok(report) => {
            alerter
                .send(&Alert::Damaged {
                    damaged: report.damaged.len() as u64,
                    objects: report.objects,
                    examples: report
                        .damaged
                        .iter()
                        .take(5)
                        .map(|d| format!("{} {} ({}): {}", d.kind, d.path, d.dataset, d.problem))
                        .collect(),
                })
                .await;
        }
        Err(e) => tracing::warn!(error = %e, "the deep check could not run"),
    }
}
