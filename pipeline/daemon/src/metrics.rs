//! What operators watch: `/metrics` in the Prometheus text format, and
//! which datasets are late against their agreement.
//!
//! Counts come from the catalog at each scrape, so every daemon sharing a
//! catalog reports the same totals and a restart loses nothing.

use crate::DaemonError;
use crate::source_file::SourceFile;
use chrono::{DateTime, Utc};
use lagoa_lake::Lake;
use lagoa_lake::catalog::{DURATION_BUCKETS, RunStats};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;

/// A dataset's last good delivery against the interval its agreement
/// expects.
#[derive(Clone, Debug, PartialEq)]
pub struct Freshness {
    pub dataset: String,
    /// The sources feeding it (names).
    pub sources: Vec<String>,
    pub expected: Option<Duration>,
    pub last_commit: Option<DateTime<Utc>>,
    /// No delivery committed for longer than `expected` plus the grace.
    pub late: bool,
}

impl Freshness {
    pub fn age(&self, now: DateTime<Utc>) -> Option<Duration> {
        self.last_commit.and_then(|t| (now - t).to_std().ok())
    }
}

/// Freshness of every dataset a configured source feeds. A dataset that
/// never had a delivery has no age and is not counted late (there is no
/// agreement date to count from).
pub async fn freshness(
    lake: &Lake,
    sources: &[Arc<SourceFile>],
    now: DateTime<Utc>,
    grace: Duration,
) -> Result<Vec<Freshness>, DaemonError> {
    let commits: BTreeMap<String, i64> = lake.catalog.last_commits().await?.into_iter().collect();
    let mut by_dataset: BTreeMap<String, Freshness> = BTreeMap::new();
    for source in sources {
        let entry = by_dataset
            .entry(source.dataset.clone())
            .or_insert_with(|| Freshness {
                dataset: source.dataset.clone(),
                sources: Vec::new(),
                expected: None,
                last_commit: commits
                    .get(&source.dataset)
                    .and_then(|t| DateTime::<Utc>::from_timestamp_micros(*t)),
                late: false,
            });
        entry.sources.push(source.name.clone());
        // Several sources of one dataset: the tightest agreement counts.
        if let Some(expected) = source.expected_interval() {
            entry.expected = Some(entry.expected.map_or(expected, |e| e.min(expected)));
        }
    }
    let mut out: Vec<Freshness> = by_dataset.into_values().collect();
    for f in &mut out {
        f.late = match (f.expected, f.age(now)) {
            (Some(expected), Some(age)) => age > expected + grace,
            _ => false,
        };
    }
    Ok(out)
}

/// The `/metrics` page.
pub async fn render(
    lake: &Lake,
    sources: &[Arc<SourceFile>],
    now: DateTime<Utc>,
    grace: Duration,
) -> Result<String, DaemonError> {
    let stats = lake.catalog.run_stats().await?;
    let failures = lake.catalog.failure_classes().await?;
    let fresh = freshness(lake, sources, now, grace).await?;
    let states = lake.catalog.source_states().await?;
    let mut out = String::new();
    render_runs(&mut out, &stats);
    family(
        &mut out,
        "lagoa_run_failures_total",
        "counter",
        "Failed runs, by source, dataset and error class (source_unreachable, contract_violation, storage, keys, concurrent_change, abandoned, internal).",
    );
    for (source, dataset, class, runs) in &failures {
        sample(
            &mut out,
            "lagoa_run_failures_total",
            &[("source", source), ("dataset", dataset), ("class", class)],
            *runs as f64,
        );
    }
    family(
        &mut out,
        "lagoa_dataset_last_commit_timestamp_seconds",
        "gauge",
        "When the dataset last had a delivery committed (Unix time).",
    );
    for f in &fresh {
        if let Some(t) = f.last_commit {
            sample(
                &mut out,
                "lagoa_dataset_last_commit_timestamp_seconds",
                &[("dataset", &f.dataset)],
                t.timestamp() as f64,
            );
        }
    }
    family(
        &mut out,
        "lagoa_dataset_freshness_seconds",
        "gauge",
        "Time since the dataset's last committed delivery.",
    );
    for f in &fresh {
        if let Some(age) = f.age(now) {
            sample(
                &mut out,
                "lagoa_dataset_freshness_seconds",
                &[("dataset", &f.dataset)],
                age.as_secs_f64(),
            );
        }
    }
    family(
        &mut out,
        "lagoa_dataset_expected_interval_seconds",
        "gauge",
        "How often the dataset's agreement expects a delivery.",
    );
    for f in &fresh {
        if let Some(e) = f.expected {
            sample(
                &mut out,
                "lagoa_dataset_expected_interval_seconds",
                &[("dataset", &f.dataset)],
                e.as_secs_f64(),
            );
        }
    }
    family(
        &mut out,
        "lagoa_dataset_late",
        "gauge",
        "1 when no delivery was committed for longer than the agreement's interval plus the grace.",
    );
    for f in &fresh {
        sample(
            &mut out,
            "lagoa_dataset_late",
            &[("dataset", &f.dataset)],
            f64::from(u8::from(f.late)),
        );
    }
    family(
        &mut out,
        "lagoa_source_paused",
        "gauge",
        "1 when the source's scheduled runs are paused.",
    );
    for s in sources {
        let paused = states.iter().any(|x| x.source == s.name && x.paused);
        sample(
            &mut out,
            "lagoa_source_paused",
            &[("source", &s.name)],
            f64::from(u8::from(paused)),
        );
    }
    Ok(out)
}

fn render_runs(out: &mut String, stats: &[RunStats]) {
    family(
        out,
        "lagoa_runs_total",
        "counter",
        "Runs recorded in the catalog, by source, dataset and status.",
    );
    for s in stats {
        sample(
            out,
            "lagoa_runs_total",
            &[
                ("source", &s.source),
                ("dataset", &s.dataset),
                ("status", s.status.as_str()),
            ],
            s.runs as f64,
        );
    }
    // Per source and dataset, whatever the status.
    let mut per: BTreeMap<(&str, &str), (Vec<i64>, i64, i64)> = BTreeMap::new();
    for s in stats {
        let e = per
            .entry((&s.source, &s.dataset))
            .or_insert_with(|| (vec![0; DURATION_BUCKETS.len()], 0, 0));
        for (acc, n) in e.0.iter_mut().zip(&s.duration_le) {
            *acc += n;
        }
        e.1 += s.ended;
        e.2 += s.duration_micros;
    }
    family(
        out,
        "lagoa_run_duration_seconds",
        "histogram",
        "How long ended runs took.",
    );
    for ((source, dataset), (le, count, micros)) in &per {
        let labels = [("source", *source), ("dataset", *dataset)];
        for (bound, n) in DURATION_BUCKETS.iter().zip(le) {
            let le = format!("{bound}");
            let mut with_le = labels.to_vec();
            with_le.push(("le", &le));
            sample(
                out,
                "lagoa_run_duration_seconds_bucket",
                &with_le,
                *n as f64,
            );
        }
        let mut inf = labels.to_vec();
        inf.push(("le", "+Inf"));
        sample(
            out,
            "lagoa_run_duration_seconds_bucket",
            &inf,
            *count as f64,
        );
        sample(
            out,
            "lagoa_run_duration_seconds_sum",
            &labels,
            *micros as f64 / 1e6,
        );
        sample(
            out,
            "lagoa_run_duration_seconds_count",
            &labels,
            *count as f64,
        );
    }
    let per_dataset = |f: fn(&RunStats) -> i64, only_committed: bool| {
        let mut m: BTreeMap<&str, i64> = BTreeMap::new();
        for s in stats
            .iter()
            .filter(|s| !only_committed || s.status == lagoa_core::RunStatus::Committed)
        {
            *m.entry(&s.dataset).or_default() += f(s);
        }
        m
    };
    family(
        out,
        "lagoa_rows_ingested_total",
        "counter",
        "Rows committed into the dataset.",
    );
    for (dataset, n) in per_dataset(|s| s.rows_written, true) {
        sample(
            out,
            "lagoa_rows_ingested_total",
            &[("dataset", dataset)],
            n as f64,
        );
    }
    family(
        out,
        "lagoa_bytes_ingested_total",
        "counter",
        "Bytes of the deliveries committed into the dataset (as delivered).",
    );
    for (dataset, n) in per_dataset(|s| s.bytes_read, true) {
        sample(
            out,
            "lagoa_bytes_ingested_total",
            &[("dataset", dataset)],
            n as f64,
        );
    }
    family(
        out,
        "lagoa_rows_rejected_total",
        "counter",
        "Rows rejected to quarantine, whatever became of their run.",
    );
    for (dataset, n) in per_dataset(|s| s.rows_rejected, false) {
        sample(
            out,
            "lagoa_rows_rejected_total",
            &[("dataset", dataset)],
            n as f64,
        );
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"{}\"", escape(v));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// Label values: backslash, double quote and newline escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();
        sample(&mut out, "m", &[("a", "x\"y\\z\nw")], 1.5);
        assert_eq!(out, "m{a=\"x\\\"y\\\\z\\nw\"} 1.5\n");
    }
}
