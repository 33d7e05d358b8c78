//! What `lagoa serve`'s `/metrics` says about governed queries: how many
//! ended, by outcome (`ok`, and each refusal or failure: `denied`,
//! `invalid`, `busy`, `timeout`, `cancelled`, `error`, `internal`), how
//! long they took, and the PostgreSQL port's connections. Queries are
//! counted where each one's audit entry is written ([`crate::record`]), so
//! every door (HTTP API, PostgreSQL port, cursors) counts alike. Nothing
//! here names a principal, a dataset or a value.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The latency histogram's upper bounds, in seconds: from a cached
/// lookup to a query near its default timeout.
const BOUNDS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The counters of one query service.
#[derive(Debug, Default)]
pub struct QueryMetrics {
    /// Queries ended, by outcome.
    outcomes: Mutex<BTreeMap<&'static str, u64>>,
    /// Queries ended within each bound (not cumulative; summed when shown).
    within: [AtomicU64; BOUNDS.len()],
    ended: AtomicU64,
    micros: AtomicU64,
    pg_open: AtomicU64,
    pg_accepted: AtomicU64,
}

/// An open connection of the PostgreSQL port: counted until dropped.
#[derive(Debug)]
pub struct PgConnection(Arc<QueryMetrics>);

impl Drop for PgConnection {
    fn drop(&mut self) {
        self.0.pg_open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl QueryMetrics {
    /// A query ended with `outcome` after `took`.
    pub(crate) fn ended(&self, outcome: &'static str, took: Duration) {
        *self
            .outcomes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(outcome)
            .or_default() += 1;
        let seconds = took.as_secs_f64();
        if let Some(bucket) = BOUNDS.iter().position(|b| seconds <= *b) {
            self.within[bucket].fetch_add(1, Ordering::Relaxed);
        }
        self.ended.fetch_add(1, Ordering::Relaxed);
        self.micros.fetch_add(
            u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Counts a connection the PostgreSQL port accepted, open until the
    /// returned guard is dropped.
    pub fn pg_connection(self: &Arc<Self>) -> PgConnection {
        self.pg_open.fetch_add(1, Ordering::Relaxed);
        self.pg_accepted.fetch_add(1, Ordering::Relaxed);
        PgConnection(Arc::clone(self))
    }

    /// The counters in Prometheus' text format.
    pub fn render(&self) -> String {
        let mut out = String::from(
            "# HELP lagoa_queries_total Governed queries ended, by outcome (ok, or why refused or failed).\n# TYPE lagoa_queries_total counter\n",
        );
        let outcomes = self
            .outcomes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for (outcome, n) in &outcomes {
            let _ = writeln!(out, "lagoa_queries_total{{outcome=\"{outcome}\"}} {n}");
        }
        out.push_str("# HELP lagoa_query_duration_seconds Time from a governed query's arrival to its end (answer, refusal or failure).\n# TYPE lagoa_query_duration_seconds histogram\n");
        let mut cumulative = 0u64;
        for (bound, within) in BOUNDS.iter().zip(&self.within) {
            cumulative += within.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "lagoa_query_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        let ended = self.ended.load(Ordering::Relaxed);
        let seconds = self.micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = write!(
            out,
            "lagoa_query_duration_seconds_bucket{{le=\"+Inf\"}} {ended}\nlagoa_query_duration_seconds_sum {seconds}\nlagoa_query_duration_seconds_count {ended}\n"
        );
        let _ = write!(
            out,
            "# HELP lagoa_pg_connections PostgreSQL port connections open now.\n# TYPE lagoa_pg_connections gauge\nlagoa_pg_connections {}\n# HELP lagoa_pg_connections_accepted_total PostgreSQL port connections accepted.\n# TYPE lagoa_pg_connections_accepted_total counter\nlagoa_pg_connections_accepted_total {}\n",
            self.pg_open.load(Ordering::Relaxed),
            self.pg_accepted.load(Ordering::Relaxed)
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_latencies_and_connections_are_counted() {
        let metrics = Arc::new(QueryMetrics::default());
        metrics.ended("ok", Duration::from_millis(3));
        metrics.ended("ok", Duration::from_millis(70));
        metrics.ended("denied", Duration::from_millis(1));
        metrics.ended("timeout", Duration::from_secs(400));
        let open = metrics.pg_connection();
        let closed = metrics.pg_connection();
        drop(closed);
        let text = metrics.render();
        for line in [
            "lagoa_queries_total{outcome=\"ok\"} 2",
            "lagoa_queries_total{outcome=\"denied\"} 1",
            "lagoa_queries_total{outcome=\"timeout\"} 1",
            "lagoa_query_duration_seconds_bucket{le=\"0.005\"} 2",
            "lagoa_query_duration_seconds_bucket{le=\"0.1\"} 3",
            "lagoa_query_duration_seconds_bucket{le=\"30\"} 3",
            "lagoa_query_duration_seconds_bucket{le=\"+Inf\"} 4",
            "lagoa_query_duration_seconds_count 4",
            "lagoa_pg_connections 1",
            "lagoa_pg_connections_accepted_total 2",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        drop(open);
        assert!(metrics.render().contains("lagoa_pg_connections 0"));
    }
}
