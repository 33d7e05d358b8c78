//! The ingestion daemon: schedules on a test clock (no sleeps), leases in
//! the catalog shared by two daemons on PostgreSQL, retries of transient
//! failures only, missed-run policies, an abandoned lease taken over, and
//! the real binary killed mid-run and stopped with SIGTERM.

use crate::formats::{hostile_contract, hostile_csv_from as delivery, read_request_head};
use crate::support::*;
use chrono::{DateTime, Utc};
use lagoa_core::{FailureClass, RunStatus};
use lagoa_daemon::{Clock, Daemon, DaemonOptions, SourceFile, TestClock};
use lagoa_lake::Lake;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Writes `<name>.source.toml` (hourly in UTC, `extra` lines after the
/// schedule, then `[source]`) and its contract into `sources`.
fn write_source(sources: &Path, name: &str, extra: &str, source: &str) {
    std::fs::create_dir_all(sources).unwrap();
    hostile_contract(sources, name);
    write_file(
        sources,
        &format!("{name}.source.toml"),
        &format!(
            r#"name = "{name}"
dataset = "{name}"
contract = "{name}.toml"

[schedule]
cron = "0 * * * *"
timezone = "UTC"
{extra}

[source]
{source}
"#
        ),
    );
}

/// A drop-folder source on an hourly schedule (UTC), its contract beside it.
fn folder_source(dir: &Path, name: &str, extra: &str) -> (PathBuf, PathBuf) {
    let sources = dir.join("sources");
    let folder = dir.join(format!("entregas_{name}"));
    std::fs::create_dir_all(&folder).unwrap();
    write_source(
        &sources,
        name,
        extra,
        &format!(
            "type = \"file\"\ndrop_folder = \"{}\"\nsettle_seconds = 0",
            folder.display()
        ),
    );
    (sources, folder)
}

struct Running {
    daemon: Arc<Daemon>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

async fn start(lake: Arc<Lake>, sources: &Path, clock: Arc<TestClock>) -> Running {
    start_with(lake, sources, clock, lagoa_daemon::Alerter::none(), 3).await
}

async fn start_with(
    lake: Arc<Lake>,
    sources: &Path,
    clock: Arc<TestClock>,
    alerter: lagoa_daemon::Alerter,
    repeated_failures: u32,
) -> Running {
    start_checking(lake, sources, clock, alerter, repeated_failures, None, None).await
}

async fn start_checking(
    lake: Arc<Lake>,
    sources: &Path,
    clock: Arc<TestClock>,
    alerter: lagoa_daemon::Alerter,
    repeated_failures: u32,
    deep_check_every: Option<Duration>,
    compact_every: Option<Duration>,
) -> Running {
    let daemon = Arc::new(
        Daemon::new(
            lake,
            SourceFile::load_dir(sources).unwrap(),
            clock,
            DaemonOptions {
                concurrency: 2,
                lease: Duration::from_secs(60),
                shutdown_grace: Duration::from_secs(30),
                max_sleep: Duration::from_secs(3600),
                late_grace: Duration::from_secs(3600),
                late_check_every: Duration::from_secs(600),
                repeated_failures,
                deep_check_every,
                compact_every,
            },
        )
        .with_alerter(alerter),
    );
    let stop = CancellationToken::new();
    let task = {
        let (daemon, stop) = (Arc::clone(&daemon), stop.clone());
        tokio::spawn(async move { daemon.run(stop).await.unwrap() })
    };
    tokio::time::timeout(Duration::from_secs(30), daemon.wait_ready())
        .await
        .expect("the daemon made its plans");
    Running { daemon, stop, task }
}

impl Running {
    /// Waits (real time, bounded) until `n` firings have finished.
    async fn finished(&self, n: u64) {
        let mut rx = self.daemon.watch_finished();
        tokio::time::timeout(Duration::from_secs(60), rx.wait_for(|f| *f >= n))
            .await
            .unwrap_or_else(|_| panic!("{n} firings did not finish within 60 s"))
            .unwrap();
    }

    async fn stop(self) {
        self.stop.cancel();
        self.task.await.unwrap();
    }
}

async fn rows(lake: &Lake, dataset: &str) -> i64 {
    let session = lake.session(&lagoa_lake::AsOf::Latest).await.unwrap();
    let batches = session
        .sql(&format!("SELECT count(*) FROM {dataset}"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<arrow::array::Int64Array>()
        .unwrap()
        .value(0)
}

async fn runs(lake: &Lake, source: &str) -> Vec<lagoa_lake::catalog::RunRecord> {
    let mut runs: Vec<_> = lake
        .catalog
        .runs(None, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.source == source)
        .collect();
    runs.sort_by(|a, b| {
        a.started_at
            .cmp(&b.started_at)
            .then(a.run_id.cmp(&b.run_id))
    });
    runs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firings_follow_the_cron_on_a_test_clock_and_pause_skips_them() {
    let (dir, lake_dir) = new_lake();
    let (sources, folder) = folder_source(dir.path(), "obitos_hora", "");
    let lake = Arc::new(Lake::open(&lake_dir).await.unwrap());
    let clock = Arc::new(TestClock::new(utc("2026-01-01T00:30:00Z")));
    let daemon = start(Arc::clone(&lake), &sources, Arc::clone(&clock)).await;
    write_file(&folder, "obitos_01.csv", &delivery(1, 10));

    // Nothing before 01:00.
    clock.set(utc("2026-01-01T00:59:59Z"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(runs(&lake, "obitos_hora").await.is_empty());

    clock.set(utc("2026-01-01T01:00:00Z"));
    daemon.finished(1).await;
    assert_eq!(rows(&lake, "obitos_hora").await, 10);
    let state = lake
        .catalog
        .source_state("obitos_hora")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        state.last_fire_at,
        Some(utc("2026-01-01T01:00:00Z").timestamp_micros())
    );
    assert_eq!(
        state.lease_owner, None,
        "the lease is released after the run"
    );

    // 02:00: only the new file is taken; the first is already in.
    write_file(&folder, "obitos_02.csv", &delivery(11, 5));
    clock.set(utc("2026-01-01T02:00:00Z"));
    daemon.finished(2).await;
    assert_eq!(rows(&lake, "obitos_hora").await, 15);
    let statuses: Vec<RunStatus> = runs(&lake, "obitos_hora")
        .await
        .into_iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(
        statuses,
        vec![
            RunStatus::Committed,
            RunStatus::AlreadyIngested,
            RunStatus::Committed
        ]
    );
    assert!(
        runs(&lake, "obitos_hora")
            .await
            .iter()
            .all(|r| r.trigger == "schedule")
    );

    // Paused: 03:00 passes without a run.
    lake.catalog
        .set_paused("obitos_hora", true, "test", 0)
        .await
        .unwrap();
    write_file(&folder, "obitos_03.csv", &delivery(16, 5));
    clock.set(utc("2026-01-01T03:00:00Z"));
    daemon.finished(3).await;
    assert_eq!(runs(&lake, "obitos_hora").await.len(), 3);
    assert_eq!(rows(&lake, "obitos_hora").await, 15);

    // Resumed: 04:00 runs.
    lake.catalog
        .set_paused("obitos_hora", false, "test", 0)
        .await
        .unwrap();
    clock.set(utc("2026-01-01T04:00:00Z"));
    daemon.finished(4).await;
    assert_eq!(rows(&lake, "obitos_hora").await, 20);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missed_firings_are_caught_up_or_skipped_by_policy() {
    for (policy, expected_runs) in [("catch_up", 5usize), ("skip", 1)] {
        let (dir, lake_dir) = new_lake();
        let name = format!("obitos_{policy}");
        let (sources, folder) = folder_source(dir.path(), &name, &format!("missed = \"{policy}\""));
        let lake = Arc::new(Lake::open(&lake_dir).await.unwrap());
        write_file(&folder, "obitos_01.csv", &delivery(1, 4));
        // A daemon claimed 00:00, then none ran until 05:30.
        lake.catalog
            .claim_source(
                &name,
                "old",
                Some(utc("2026-01-01T00:00:00Z").timestamp_micros()),
                0,
                0,
            )
            .await
            .unwrap();
        lake.catalog.release_lease(&name, "old").await.unwrap();
        let clock = Arc::new(TestClock::new(utc("2026-01-01T05:30:00Z")));
        let daemon = start(Arc::clone(&lake), &sources, Arc::clone(&clock)).await;
        daemon.finished(expected_runs as u64).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let runs = runs(&lake, &name).await;
        assert_eq!(runs.len(), expected_runs, "{policy}: {runs:?}");
        assert_eq!(rows(&lake, &name).await, 4, "{policy}: each delivery once");
        let state = lake.catalog.source_state(&name).await.unwrap().unwrap();
        assert_eq!(
            state.last_fire_at,
            Some(utc("2026-01-01T05:00:00Z").timestamp_micros())
        );
        daemon.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_sharing_a_postgres_catalog_run_each_firing_once() {
    let Some(pg) = postgres("two_daemons_sharing_a_postgres_catalog_run_each_firing_once").await
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let lake_dir = dir.path().join("lake");
    lagoa_ok(&lake_dir, &["init", "--catalog", &pg.url]);
    let (sources, folder) = folder_source(dir.path(), "obitos_pg", "");
    let one = Arc::new(Lake::open(&lake_dir).await.unwrap());
    let two = Arc::new(Lake::open(&lake_dir).await.unwrap());
    let clock = Arc::new(TestClock::new(utc("2026-01-01T00:30:00Z")));
    let a = start(Arc::clone(&one), &sources, Arc::clone(&clock)).await;
    let b = start(Arc::clone(&two), &sources, Arc::clone(&clock)).await;
    for hour in 1..=4u64 {
        write_file(
            &folder,
            &format!("obitos_{hour:02}.csv"),
            &delivery(hour as usize * 100, 7),
        );
        clock.set(utc(&format!("2026-01-01T{hour:02}:00:00Z")));
        a.finished(hour).await;
        b.finished(hour).await;
    }
    let all = runs(&one, "obitos_pg").await;
    let committed = all
        .iter()
        .filter(|r| r.status == RunStatus::Committed)
        .count();
    assert_eq!(committed, 4, "each delivery committed once: {all:?}");
    // Four firings, each run by one daemon: 1 + 2 + 3 + 4 deliveries seen.
    assert_eq!(all.len(), 10, "{all:?}");
    assert_eq!(rows(&one, "obitos_pg").await, 28);
    a.stop().await;
    b.stop().await;
}

/// Serves one file: 503 for the first `failures` requests, then the file.
/// Notes the test clock's time of each request.
fn flaky_server(
    body: String,
    failures: usize,
    status_after: u16,
    clock: Arc<TestClock>,
) -> (u16, Arc<std::sync::Mutex<Vec<DateTime<Utc>>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = Arc::clone(&requests);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            if read_request_head(&mut stream).is_none() {
                continue;
            }
            let n = {
                let mut seen = seen.lock().unwrap();
                seen.push(clock.now());
                seen.len() - 1
            };
            let (status, body) = if n < failures {
                (503, "indisponivel".to_owned())
            } else {
                (status_after, body.clone())
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, requests)
}

fn url_source(dir: &Path, name: &str, port: u16, attempts: u32) -> PathBuf {
    let sources = dir.join(format!("sources_{name}"));
    write_source(
        &sources,
        name,
        &format!(
            "[retry]\nattempts = {attempts}\ninitial_backoff_seconds = 60\nmax_backoff_seconds = 600"
        ),
        &format!("type = \"file\"\nurl = \"http://127.0.0.1:{port}/entregas/obitos.csv\""),
    );
    sources
}

/// Moves the test clock forward 10 s at a time until `n` firings end.
async fn drive(clock: &TestClock, daemon: &Running, n: u64) {
    let mut rx = daemon.daemon.watch_finished();
    for _ in 0..3000 {
        if *rx.borrow_and_update() >= n {
            return;
        }
        clock.advance(chrono::Duration::seconds(10));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{n} firings did not finish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried_with_backoff_and_permanent_ones_are_not() {
    let (dir, lake_dir) = new_lake();
    let lake = Arc::new(Lake::open(&lake_dir).await.unwrap());

    // 503, 503, then the file: three attempts, the last commits.
    let clock = Arc::new(TestClock::new(utc("2026-01-01T00:59:00Z")));
    let (port, requests) = flaky_server(delivery(1, 6), 2, 200, Arc::clone(&clock));
    let sources = url_source(dir.path(), "obitos_instavel", port, 3);
    let daemon = start(Arc::clone(&lake), &sources, Arc::clone(&clock)).await;
    drive(&clock, &daemon, 1).await;
    let all = runs(&lake, "obitos_instavel").await;
    let seen: Vec<(i64, RunStatus)> = all.iter().map(|r| (r.attempts, r.status)).collect();
    assert_eq!(
        seen,
        vec![
            (1, RunStatus::Failed),
            (2, RunStatus::Failed),
            (3, RunStatus::Committed)
        ],
        "{all:?}"
    );
    assert_eq!(all[0].error_class, Some(FailureClass::SourceUnreachable));
    // Backoff on the test clock: 60 s then 120 s, with jitter in the upper
    // half (at least 30 s, then at least 60 s; the clock moves in 10 s
    // steps while a run goes, so only the lower bounds are exact).
    let at = requests.lock().unwrap().clone();
    assert_eq!(at.len(), 3);
    let gap = |i: usize| (at[i + 1] - at[i]).num_seconds();
    assert!(
        gap(0) >= 30 && gap(1) >= 60,
        "gaps {} s, {} s",
        gap(0),
        gap(1)
    );
    assert_eq!(rows(&lake, "obitos_instavel").await, 6);
    daemon.stop().await;

    // 404: refused, one attempt only.
    let clock = Arc::new(TestClock::new(utc("2026-01-01T00:59:00Z")));
    let (port, requests) = flaky_server(String::new(), 0, 404, Arc::clone(&clock));
    let sources = url_source(dir.path(), "obitos_sumiu", port, 3);
    let daemon = start(Arc::clone(&lake), &sources, Arc::clone(&clock)).await;
    drive(&clock, &daemon, 1).await;
    let all = runs(&lake, "obitos_sumiu").await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].attempts, 1);
    assert_eq!(requests.lock().unwrap().len(), 1);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_lease_is_taken_over_and_its_abandoned_run_closed() {
    let (dir, lake_dir) = new_lake();
    let (sources, folder) = folder_source(dir.path(), "obitos_orfao", "");
    let lake = Arc::new(Lake::open(&lake_dir).await.unwrap());
    write_file(&folder, "obitos_01.csv", &delivery(1, 3));
    // A daemon died during a run: its lease (until 00:40) and its run stay.
    let t = |s: &str| utc(s).timestamp_micros();
    lake.catalog
        .claim_source(
            "obitos_orfao",
            "morto:1",
            None,
            t("2026-01-01T00:40:00Z"),
            t("2026-01-01T00:20:00Z"),
        )
        .await
        .unwrap();
    lake.catalog
        .save_run(&lagoa_lake::catalog::RunRecord {
            run_id: "0000-abandonado".into(),
            source: "obitos_orfao".into(),
            dataset: "obitos_orfao".into(),
            trigger: "schedule".into(),
            status: RunStatus::Running,
            attempts: 1,
            started_at: t("2026-01-01T00:20:00Z"),
            ..Default::default()
        })
        .await
        .unwrap();
    let clock = Arc::new(TestClock::new(utc("2026-01-01T00:30:00Z")));
    let daemon = start(Arc::clone(&lake), &sources, Arc::clone(&clock)).await;
    clock.set(utc("2026-01-01T01:00:00Z"));
    daemon.finished(1).await;
    let all = runs(&lake, "obitos_orfao").await;
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[0].status, RunStatus::Failed);
    assert!(
        all[0].error.as_deref().unwrap_or("").contains("abandoned"),
        "{all:?}"
    );
    assert_eq!(all[1].status, RunStatus::Committed);
    assert_eq!(rows(&lake, "obitos_orfao").await, 3);
    daemon.stop().await;
}

fn spawn_daemon(lake: &Path, log: &Path, listen: &str) -> std::process::Child {
    std::process::Command::new(lagoa_bin())
        .args(["--lake", lake.to_str().unwrap(), "daemon"])
        .env("LAGOA__DAEMON__LISTEN", listen)
        .env("LAGOA__DAEMON__LEASE_SECONDS", "3")
        .env("LAGOA__DAEMON__SHUTDOWN_GRACE_SECONDS", "20")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("starting lagoa daemon")
}

#[test]
fn a_daemon_killed_mid_run_leaves_each_delivery_once_and_sigterm_stops_it_cleanly() {
    let (dir, lake) = new_lake();
    let sources = lake.join("sources");
    let folder = dir.path().join("entregas");
    std::fs::create_dir_all(&sources).unwrap();
    std::fs::create_dir_all(&folder).unwrap();
    hostile_contract(&sources, "obitos_kill");
    write_file(
        &sources,
        "obitos_kill.source.toml",
        &format!(
            r#"name = "obitos_kill"
dataset = "obitos_kill"
contract = "obitos_kill.toml"

[schedule]
cron = "*/2 * * * * *"
timezone = "UTC"

[source]
type = "file"
drop_folder = "{}"
settle_seconds = 0
"#,
            folder.display()
        ),
    );
    const ROWS: usize = 150_000;
    write_file(&folder, "obitos_grande.csv", &delivery(1, ROWS));

    // First daemon: killed (SIGKILL) while its run is under way.
    let log1 = dir.path().join("daemon1.log");
    let mut first = spawn_daemon(&lake, &log1, "");
    wait_for("a run under way", Duration::from_secs(60), || {
        source_runs(&lake, &[], "obitos_kill")
            .iter()
            .any(|r| r["status"] == "running")
    });
    first.kill().unwrap();
    first.wait().unwrap();
    // Listing the runs is a command touching them: the killed daemon's run
    // is closed as abandoned there and then, its process being gone.
    let killed: Vec<String> = source_runs(&lake, &[], "obitos_kill")
        .iter()
        .filter(|r| r["error_class"] == "abandoned")
        .map(|r| r["run_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(killed.len(), 1);

    // Second daemon: takes over once the lease expires and completes.
    let log2 = dir.path().join("daemon2.log");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut second = spawn_daemon(&lake, &log2, &format!("127.0.0.1:{port}"));
    wait_for("a committed run", Duration::from_secs(120), || {
        source_runs(&lake, &[], "obitos_kill")
            .iter()
            .any(|r| r["status"] == "committed")
    });

    // What operators' tools read while it runs.
    let (status, body) = http_get(port, "/healthz");
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, body) = http_get(port, "/readyz");
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("catalog ok") && body.contains("keys ok"),
        "{body}"
    );
    let (status, page) = http_get(port, "/metrics");
    assert_eq!(status, 200, "{page}");
    let samples = parse_metrics(&page);
    let value = |name: &str, labels: &[(&str, &str)]| -> Option<f64> {
        samples
            .iter()
            .find(|s| s["name"] == name && labels.iter().all(|(k, v)| s["labels"][*k] == *v))
            .and_then(|s| s["value"].as_f64())
    };
    let labels = [("source", "obitos_kill"), ("dataset", "obitos_kill")];
    assert_eq!(
        value(
            "lagoa_runs_total",
            &[labels[0], labels[1], ("status", "committed")]
        ),
        Some(1.0),
        "{page}"
    );
    assert!(
        value(
            "lagoa_runs_total",
            &[labels[0], labels[1], ("status", "failed")]
        ) >= Some(1.0),
        "{page}"
    );
    // The run the killed daemon left is failed with its class.
    assert!(
        value(
            "lagoa_run_failures_total",
            &[labels[0], labels[1], ("class", "abandoned")]
        ) >= Some(1.0),
        "{page}"
    );
    assert_eq!(
        value("lagoa_rows_ingested_total", &[labels[1]]),
        Some(ROWS as f64),
        "{page}"
    );
    assert!(
        value("lagoa_run_duration_seconds_count", &labels) >= Some(2.0),
        "{page}"
    );
    assert!(
        value("lagoa_dataset_freshness_seconds", &[labels[1]])
            .is_some_and(|f| (0.0..600.0).contains(&f)),
        "{page}"
    );
    assert_eq!(
        value("lagoa_dataset_late", &[labels[1]]),
        Some(0.0),
        "{page}"
    );
    assert_eq!(
        value("lagoa_source_paused", &[labels[0]]),
        Some(0.0),
        "{page}"
    );
    // SIGTERM: the daemon finishes what runs and exits 0.
    let term = std::process::Command::new("kill")
        .args(["-TERM", &second.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let mut exited = None;
    wait_for(
        "the daemon to exit after SIGTERM",
        Duration::from_secs(60),
        || {
            exited = second.try_wait().unwrap();
            exited.is_some()
        },
    );
    assert!(exited.unwrap().success(), "exit status {exited:?}");

    let count = lagoa_ok(
        &lake,
        &[
            "query",
            "SELECT count(*) FROM obitos_kill",
            "--format",
            "csv",
        ],
    );
    assert_eq!(
        csv_rows(&count)[0][0],
        ROWS.to_string(),
        "each row exactly once"
    );
    let runs = source_runs(&lake, &[], "obitos_kill");
    let committed = runs.iter().filter(|r| r["status"] == "committed").count();
    assert_eq!(committed, 1, "{runs:?}");
    let abandoned = runs
        .iter()
        .find(|r| r["run_id"] == killed[0].as_str())
        .unwrap();
    assert_eq!(abandoned["status"], "failed", "{abandoned}");
    assert!(
        abandoned["error"].as_str().unwrap().contains("abandoned"),
        "{abandoned}"
    );
    assert!(runs.iter().all(|r| r["status"] != "running"), "{runs:?}");

    // Logs: JSON lines (stderr is not a terminal), the run's lines carry
    // run_id, source and dataset; no personal value.
    let log = std::fs::read_to_string(&log2).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["message"] == "daemon stopped"),
        "{log}"
    );
    let finished = lines
        .iter()
        .find(|l| l["message"] == "run finished" && l["status"] == "committed")
        .unwrap_or_else(|| panic!("no 'run finished' line:\n{log}"));
    assert_eq!(finished["source"], "obitos_kill");
    assert_eq!(finished["dataset"], "obitos_kill");
    assert!(finished["run_id"].as_str().is_some_and(|id| !id.is_empty()));
    assert!(
        !log.contains(crate::formats::NAME),
        "a personal value in the log"
    );
}

#[test]
fn sources_are_listed_paused_resumed_and_run_by_hand_and_runs_are_in_sql() {
    let (dir, lake) = new_lake();
    let sources = lake.join("sources");
    std::fs::create_dir_all(&sources).unwrap();
    let folder = dir.path().join("entregas");
    std::fs::create_dir_all(&folder).unwrap();
    hostile_contract(&sources, "obitos_manual");
    write_file(
        &sources,
        "obitos_manual.source.toml",
        &format!(
            r#"name = "obitos_manual"
dataset = "obitos_manual"
contract = "obitos_manual.toml"

[schedule]
cron = "0 6 * * Mon-Fri"

[source]
type = "file"
drop_folder = "{}"
settle_seconds = 0
"#,
            folder.display()
        ),
    );
    write_file(&folder, "obitos_01.csv", &delivery(1, 12));
    let listed = |lake: &Path| -> serde_json::Value {
        let out = lagoa_ok(lake, &["sources", "list", "--json"]);
        let rows: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(rows.len(), 1, "{out}");
        rows.into_iter().next().unwrap()
    };
    let row = listed(&lake);
    assert_eq!(row["name"], "obitos_manual");
    assert_eq!(row["type"], "file");
    assert_eq!(row["schedule"], "0 6 * * Mon-Fri (America/Sao_Paulo)");
    assert_eq!(row["paused"], false);
    // 06:00 in São Paulo is 09:00 UTC, on a weekday.
    let next = DateTime::parse_from_rfc3339(row["next_run_at"].as_str().unwrap()).unwrap();
    assert_eq!(
        next.with_timezone(&Utc).format("%H:%M").to_string(),
        "09:00"
    );
    assert!(!matches!(
        chrono::Datelike::weekday(&next.with_timezone(&Utc)),
        chrono::Weekday::Sat | chrono::Weekday::Sun
    ));

    lagoa_ok(&lake, &["sources", "pause", "obitos_manual"]);
    let row = listed(&lake);
    assert_eq!(row["paused"], true);
    assert!(row["next_run_at"].is_null());

    // By hand, a paused source runs all the same.
    let out = lagoa_ok(&lake, &["run", "obitos_manual"]);
    assert!(out.contains("obitos_01.csv: ingested 12 rows"), "{out}");
    lagoa_ok(&lake, &["sources", "resume", "obitos_manual"]);
    let row = listed(&lake);
    assert_eq!(row["paused"], false);
    assert_eq!(row["last_status"], "committed");

    let runs = lagoa_ok(
        &lake,
        &[
            "query",
            "SELECT source, dataset, trigger, status, attempt, rows_written, error_class FROM system.runs",
            "--format",
            "csv",
        ],
    );
    assert_eq!(
        csv_rows(&runs),
        vec![vec![
            "obitos_manual",
            "obitos_manual",
            "manual",
            "committed",
            "1",
            "12",
            ""
        ]],
        "{runs}"
    );

    let err = lagoa_err(&lake, &["run", "obitos_outro"]);
    assert!(
        err.contains("no source named \"obitos_outro\"") && err.contains("obitos_manual"),
        "{err}"
    );
}

/// A GET on 127.0.0.1: (status, body).
fn http_get(port: u16, path: &str) -> (u16, String) {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// The samples of a Prometheus page, parsed by the reference parser
/// (prometheus-client, in .venv).
fn parse_metrics(page: &str) -> Vec<serde_json::Value> {
    use std::io::Write as _;
    let python = python().expect("no .venv python: run scripts/bootstrap");
    let mut child = std::process::Command::new(python)
        .arg(repo_root().join("tests/py/parse_metrics.py"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(page.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the Prometheus parser refused the page:\n{}\n{page}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Collects the JSON bodies POSTed to it.
fn webhook() -> (u16, Arc<std::sync::Mutex<Vec<serde_json::Value>>>) {
    use std::io::Read;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = Arc::clone(&got);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let Some(head) = read_request_head(&mut stream) else {
                continue;
            };
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            let mut body = vec![0u8; length];
            if stream.read_exact(&mut body).is_ok()
                && let Ok(v) = serde_json::from_slice(&body)
            {
                seen.lock().unwrap().push(v);
            }
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
            );
        }
    });
    (port, got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_runs_repeated_failures_and_late_datasets_alert_a_webhook() {
    let (dir, lake_dir) = new_lake();
    let lake = Arc::new(Lake::open(&lake_dir).await.unwrap());
    let (hook, alerts) = webhook();

    // A source whose file is gone (404): each firing fails, the second in
    // a row is "repeated".
    let clock = Arc::new(TestClock::new(utc("2026-01-01T00:59:00Z")));
    let (port, _) = flaky_server(String::new(), 0, 404, Arc::clone(&clock));
    let sources = url_source(dir.path(), "obitos_quebrado", port, 1);
    let daemon = start_with(
        Arc::clone(&lake),
        &sources,
        Arc::clone(&clock),
        lagoa_daemon::Alerter::to(&format!("http://127.0.0.1:{hook}/hooks/lagoa")),
        2,
    )
    .await;
    clock.set(utc("2026-01-01T01:00:00Z"));
    daemon.finished(1).await;
    clock.set(utc("2026-01-01T02:00:00Z"));
    daemon.finished(2).await;
    daemon.stop().await;
    let got = alerts.lock().unwrap().clone();
    let kinds: Vec<&str> = got
        .iter()
        .map(|a| a["lagoa"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        vec!["run_failed", "run_failed", "repeated_failures"],
        "{got:?}"
    );
    assert_eq!(got[0]["lagoa"]["source"], "obitos_quebrado");
    let text = got[0]["text"].as_str().unwrap();
    assert!(
        text.contains("obitos_quebrado") && text.contains("404"),
        "{text}"
    );
    assert!(
        got[2]["text"]
            .as_str()
            .unwrap()
            .contains("2 vezes seguidas"),
        "{got:?}"
    );

    // A daily dataset whose last delivery is three days old is late: one
    // alert, not one per check.
    alerts.lock().unwrap().clear();
    let (sources, folder) = folder_source(dir.path(), "obitos_diario", "");
    let file = sources.join("obitos_diario.source.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replace("contract = ", "expected_frequency = \"daily\"\ncontract = "),
    )
    .unwrap();
    write_file(&folder, "obitos_01.csv", &delivery(1, 3));
    lagoa_ok(&lake_dir, &["source", "run", file.to_str().unwrap()]);
    // Something on the audit trail, whose head the daemon will send.
    lagoa_ok(
        &lake_dir,
        &["institution", "add", "recife", "--role", "provider"],
    );
    let clock = Arc::new(TestClock::new(Utc::now() + chrono::Duration::days(3)));
    let daemon = start_with(
        Arc::clone(&lake),
        &sources,
        Arc::clone(&clock),
        lagoa_daemon::Alerter::to(&format!("http://127.0.0.1:{hook}/hooks/lagoa")),
        3,
    )
    .await;
    for _ in 0..3 {
        clock.advance(chrono::Duration::minutes(11));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    daemon.stop().await;
    let got = alerts.lock().unwrap().clone();
    let late: Vec<_> = got
        .iter()
        .filter(|a| a["lagoa"]["kind"] == "late")
        .collect();
    assert_eq!(late.len(), 1, "{got:?}");
    assert_eq!(late[0]["lagoa"]["dataset"], "obitos_diario");
    assert_eq!(late[0]["lagoa"]["expected_days"], 1);
    assert!(
        late[0]["text"].as_str().unwrap().contains("atrasado"),
        "{got:?}"
    );
    // The audit trail's head goes to the webhook too, for safekeeping
    // outside the lake, once per new head.
    let anchors: Vec<_> = got
        .iter()
        .filter(|a| a["lagoa"]["kind"] == "audit_anchor")
        .collect();
    let head = lagoa_ok(&lake_dir, &["audit", "verify"]);
    let head = word_after(&head, "head ");
    assert_eq!(anchors.len(), 1, "{got:?}");
    assert_eq!(
        format!(
            "{}:{}",
            anchors[0]["lagoa"]["seq"],
            anchors[0]["lagoa"]["mac"].as_str().unwrap()
        ),
        head,
        "{got:?}"
    );
    assert!(
        anchors[0]["text"]
            .as_str()
            .unwrap()
            .contains("--expect-head"),
        "{got:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_reads_every_object_on_its_schedule_and_alerts_on_damage() {
    let (hook, alerts) = webhook();
    let (dir, lake_dir) = new_lake();
    let (sources, folder) = folder_source(dir.path(), "obitos_verificados", "");
    write_file(&folder, "obitos_01.csv", &delivery(1, 30));
    let file = sources.join("obitos_verificados.source.toml");
    lagoa_ok(&lake_dir, &["source", "run", file.to_str().unwrap()]);
    // Bit rot in the data file, in bytes no query selects.
    let parquet = &parquet_files(&lake_dir)[0];
    let mut bytes = std::fs::read(parquet).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    std::fs::write(parquet, &bytes).unwrap();

    let lake = Arc::new(Lake::open(&lake_dir).await.unwrap());
    let clock = Arc::new(TestClock::new(Utc::now()));
    let daemon = start_checking(
        Arc::clone(&lake),
        &sources,
        Arc::clone(&clock),
        lagoa_daemon::Alerter::to(&format!("http://127.0.0.1:{hook}/hooks/lagoa")),
        3,
        Some(Duration::from_secs(24 * 3600)),
        None,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let damaged = |alerts: &Arc<std::sync::Mutex<Vec<serde_json::Value>>>| {
        alerts
            .lock()
            .unwrap()
            .iter()
            .filter(|a| a["lagoa"]["kind"] == "damaged")
            .cloned()
            .collect::<Vec<_>>()
    };
    assert!(damaged(&alerts).is_empty(), "not before its interval");
    clock.advance(chrono::Duration::hours(25));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while damaged(&alerts).is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    daemon.stop().await;
    let got = damaged(&alerts);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["lagoa"]["damaged"], 1, "{got:?}");
    let example = got[0]["lagoa"]["examples"][0].as_str().unwrap();
    assert!(
        example.contains("data file") && example.contains("obitos_verificados"),
        "{example}"
    );
    assert!(
        got[0]["text"].as_str().unwrap().contains("danificado"),
        "{got:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_compacts_on_its_schedule() {
    let (dir, lake_dir) = new_lake();
    let (sources, folder) = folder_source(dir.path(), "obitos_compactados", "");
    let file = sources.join("obitos_compactados.source.toml");
    write_file(&folder, "obitos_01.csv", &delivery(1, 30));
    lagoa_ok(&lake_dir, &["source", "run", file.to_str().unwrap()]);
    write_file(&folder, "obitos_02.csv", &delivery(2, 20));
    lagoa_ok(&lake_dir, &["source", "run", file.to_str().unwrap()]);

    let lake = Arc::new(Lake::open(&lake_dir).await.unwrap());
    let files = |lake: Arc<Lake>| async move {
        let (_, files) = dataset_and_files(&lake, "obitos_compactados").await;
        (files.len(), files.iter().map(|f| f.row_count).sum::<i64>())
    };
    assert_eq!(files(Arc::clone(&lake)).await, (2, 50));
    let clock = Arc::new(TestClock::new(Utc::now()));
    let daemon = start_checking(
        Arc::clone(&lake),
        &sources,
        Arc::clone(&clock),
        lagoa_daemon::Alerter::none(),
        3,
        None,
        Some(Duration::from_secs(3600)),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        files(Arc::clone(&lake)).await.0,
        2,
        "not before its interval"
    );
    clock.advance(chrono::Duration::hours(2));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while files(Arc::clone(&lake)).await.0 != 1 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    daemon.stop().await;
    assert_eq!(
        files(Arc::clone(&lake)).await,
        (1, 50),
        "two small files became one"
    );
}
