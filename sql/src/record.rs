//! The audit entry of one governed statement, filled in as it is checked,
//! planned and run, and written once when it ends (or, if the caller
//! drops it, as cancelled).

use crate::engine::CANCELLED_BY_CLIENT;
use crate::metrics::QueryMetrics;
use crate::query::{QueryError, QueryRequest};
use lagoa_lake::catalog::AuditEntry;
use lagoa_lake::{Lake, LakeError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

/// The audit entry of one statement as it goes. Written when the statement
/// ends; if the caller's future is dropped first (an HTTP client went
/// away), written as `cancelled` from a task of its own.
pub(crate) struct Record {
    lake: Arc<Lake>,
    /// Counts the statement when it ends (`/metrics`).
    metrics: Arc<QueryMetrics>,
    entry: Arc<Mutex<AuditEntry>>,
    started: Instant,
    /// Also record a statement that succeeded (a run, not a describe).
    success_too: bool,
    written: std::sync::atomic::AtomicBool,
}

impl Record {
    pub(crate) fn new(
        (lake, metrics): (&Arc<Lake>, &Arc<QueryMetrics>),
        request: &QueryRequest<'_>,
        success_too: bool,
    ) -> Self {
        Record {
            lake: Arc::clone(lake),
            metrics: Arc::clone(metrics),
            entry: Arc::new(Mutex::new(AuditEntry {
                principal: request.principal.name.clone(),
                institution: request.principal.institution.clone(),
                purpose: request.purpose.map(str::to_owned),
                action: "query".into(),
                signed_in: request.principal.signed_in.map(|s| s.as_str().to_owned()),
                ..Default::default()
            })),
            started: Instant::now(),
            success_too,
            written: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub(crate) fn update(&self, change: impl FnOnce(&mut AuditEntry)) {
        change(&mut entry_of(&self.entry));
    }

    pub(crate) fn entry(&self) -> AuditEntry {
        entry_of(&self.entry).clone()
    }

    /// The entry, for the query's threads to fill in as they plan.
    pub(crate) fn shared(&self) -> Arc<Mutex<AuditEntry>> {
        Arc::clone(&self.entry)
    }

    /// Writes an entry now, the statement still going (a cursor's
    /// opening), with `change` applied; the entry written when it ends
    /// goes on from what it was.
    pub(crate) async fn write_now(
        &self,
        change: impl FnOnce(&mut AuditEntry),
    ) -> Result<(), LakeError> {
        let mut entry = self.entry();
        entry.duration_ms = self.started.elapsed().as_millis() as i64;
        change(&mut entry);
        self.lake.audit(&entry).await.map(|_| ())
    }

    /// Writes the entry for `result`; `size` gives an answer's rows and bytes.
    pub(crate) async fn finish<T: Sync>(
        &self,
        result: &Result<T, QueryError>,
        size: impl Fn(&T) -> (usize, usize) + Send,
    ) -> Result<(), LakeError> {
        self.written
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let mut entry = self.entry();
        entry.duration_ms = self.started.elapsed().as_millis() as i64;
        match result {
            Ok(answer) => {
                if !self.success_too {
                    return Ok(());
                }
                self.metrics.ended("ok", self.started.elapsed());
                let (rows, bytes) = size(answer);
                entry.outcome = "ok".into();
                entry.rows = rows as i64;
                entry.bytes = bytes as i64;
            }
            Err(e) => {
                self.metrics.ended(e.outcome(), self.started.elapsed());
                entry.outcome = e.outcome().into();
                entry.reason = Some(e.to_string());
            }
        }
        self.lake.audit(&entry).await.map(|_| ())
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        if self.written.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let mut entry = self.entry();
        entry.duration_ms = self.started.elapsed().as_millis() as i64;
        entry.outcome = "cancelled".into();
        self.metrics.ended("cancelled", self.started.elapsed());
        entry.reason = Some(format!(
            "the query was stopped: {CANCELLED_BY_CLIENT} (a cancel request, or the connection closed)"
        ));
        let lake = Arc::clone(&self.lake);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = lake.audit(&entry).await {
                    tracing::error!(error = %e, "a cancelled query could not be audited");
                }
            });
        }
    }
}

/// The entry as filled in so far: plain data, usable even after a panic
/// elsewhere in the query (which the entry then records).
pub(crate) fn entry_of(entry: &Mutex<AuditEntry>) -> MutexGuard<'_, AuditEntry> {
    entry.lock().unwrap_or_else(PoisonError::into_inner)
}
