//! Failures the daemon must survive, injected with a small TCP proxy in
//! front of the real servers: the object store (moto S3) cutting
//! connections mid-run, down for a whole attempt, and the catalog database
//! (PostgreSQL) going away and coming back under a running daemon.

use crate::formats::hostile_csv_from as delivery;
use crate::support::*;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// A TCP proxy on 127.0.0.1 in front of `target`.
/// - `down`: every connection is cut, new ones are closed at once (a
///   server restarting, a network partition).
/// - `cut_next(n)`: the next `n` connections are cut after forwarding a
///   few hundred bytes of the request (a failure mid-request).
struct FaultProxy {
    port: u16,
    down: Arc<AtomicBool>,
    cut_next: Arc<AtomicUsize>,
    cut: Arc<AtomicUsize>,
}

impl FaultProxy {
    fn start(target: u16) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = Arc::new(AtomicBool::new(false));
        let cut_next = Arc::new(AtomicUsize::new(0));
        let cut = Arc::new(AtomicUsize::new(0));
        let (d, c, k) = (Arc::clone(&down), Arc::clone(&cut_next), Arc::clone(&cut));
        // Detached: ends with the test process.
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if d.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let limit = c
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .ok()
                    .map(|_| {
                        k.fetch_add(1, Ordering::SeqCst);
                        300usize
                    });
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                let (d1, d2) = (Arc::clone(&d), Arc::clone(&d));
                let (c1, s1) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || pump(client, server, limit, d1));
                std::thread::spawn(move || pump(s1, c1, None, d2));
            }
        });
        FaultProxy {
            port,
            down,
            cut_next,
            cut,
        }
    }

    fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }
}

/// Copies `from` to `to` until either ends, the proxy goes down, or
/// `limit` bytes passed (then both are cut).
fn pump(mut from: TcpStream, mut to: TcpStream, limit: Option<usize>, down: Arc<AtomicBool>) {
    let _ = from.set_read_timeout(Some(Duration::from_millis(100)));
    let mut buf = [0u8; 16 * 1024];
    let mut passed = 0usize;
    loop {
        if down.load(Ordering::SeqCst) || limit.is_some_and(|l| passed >= l) {
            break;
        }
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let n = limit.map_or(n, |l| n.min(l - passed));
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
                passed += n;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

fn count(lake: &Path, env: &[(&str, &str)], dataset: &str) -> Result<String, String> {
    let out = lagoa_env(
        lake,
        &[
            "query",
            &format!("SELECT count(*) FROM {dataset}"),
            "--format",
            "csv",
        ],
        env,
    );
    if out.status.success() {
        Ok(csv_rows(&String::from_utf8_lossy(&out.stdout))[0][0].clone())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn the_object_store_failing_mid_run_is_retried_or_fails_cleanly_with_nothing_visible() {
    let Some(s3) =
        s3("the_object_store_failing_mid_run_is_retried_or_fails_cleanly_with_nothing_visible")
    else {
        return;
    };
    let moto_port: u16 = s3.endpoint.rsplit(':').next().unwrap().parse().unwrap();
    let proxy = FaultProxy::start(moto_port);
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let mut env = s3_env();
    // Give up on a store request quickly, so that an outage fails the
    // attempt instead of waiting out object_store's default 3 minutes.
    env.extend([
        ("LAGOA__STORAGE__MAX_RETRIES", "2"),
        ("LAGOA__STORAGE__RETRY_TIMEOUT_SECONDS", "3"),
        ("LAGOA__STORAGE__TIMEOUT_SECONDS", "5"),
    ]);
    let storage = format!(
        "s3://{}/faults-{}",
        s3.bucket,
        uuid::Uuid::new_v4().simple()
    );
    let endpoint = format!("http://127.0.0.1:{}", proxy.port);
    let out = lagoa_env(
        &lake,
        &[
            "init",
            "--storage",
            &storage,
            "--endpoint",
            &endpoint,
            "--allow-http",
        ],
        &env,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let folder = dir.path().join("entregas");
    std::fs::create_dir_all(&folder).unwrap();
    drop_folder_source(
        &lake,
        "obitos_s3",
        &folder,
        "0 6 * * *",
        "",
        "attempts = 3\ninitial_backoff_seconds = 2\nmax_backoff_seconds = 2",
    );

    // 1. Connections cut in the middle of requests: object_store's own
    //    retries absorb them and the run commits once.
    write_file(&folder, "obitos_01.csv", &delivery(1, 2000));
    proxy.cut_next.store(3, Ordering::SeqCst);
    let run = lagoa_env(&lake, &["run", "obitos_s3"], &env);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(
        proxy.cut.load(Ordering::SeqCst),
        3,
        "the proxy cut three requests"
    );
    assert_eq!(count(&lake, &env, "obitos_s3").unwrap(), "2000");

    // 2. The store down for a whole attempt: the attempt fails as
    //    `storage`, nothing of it is visible, and the retry commits once
    //    the store is back.
    write_file(&folder, "obitos_02.csv", &delivery(5000, 500));
    down_for_an_attempt(&proxy, (&lake, &env), "obitos_s3", ("storage", "2500"));
}

/// Runs `source` with `proxy` down until one attempt has failed, checks
/// that nothing of it is visible, brings the proxy back and checks that a
/// retry committed: every failed attempt of class `class`, `count` rows in
/// the end, no run left running.
fn down_for_an_attempt(
    proxy: &FaultProxy,
    (lake, env): (&Path, &[(&str, &str)]),
    source: &str,
    (class, count_after): (&str, &str),
) {
    proxy.set_down(true);
    let child = std::process::Command::new(lagoa_bin())
        .args(["--lake", lake.to_str().unwrap(), "run", source])
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("a failed attempt", Duration::from_secs(120), || {
        source_runs(lake, env, source)
            .iter()
            .any(|r| r["status"] == "failed")
    });
    // While it is down, nothing of the failed attempt is visible (the
    // catalog still answers; a count needs the service that is down, so
    // check the snapshots instead).
    let snapshots = lagoa_env(lake, &["snapshots", source, "--format", "csv"], env);
    let snapshots = csv_rows(&String::from_utf8_lossy(&snapshots.stdout));
    assert_eq!(
        snapshots.len(),
        1,
        "only the first delivery's snapshot: {snapshots:?}"
    );
    proxy.set_down(false);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the retry commits once the service is back:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(count(lake, env, source).unwrap(), count_after);
    let runs = source_runs(lake, env, source);
    let failed: Vec<_> = runs.iter().filter(|r| r["status"] == "failed").collect();
    assert!(!failed.is_empty(), "{runs:?}");
    assert!(
        failed.iter().all(|r| r["error_class"] == class),
        "{failed:?}"
    );
    let committed: Vec<_> = runs
        .iter()
        .filter(|r| r["status"] == "committed")
        .map(|r| r["attempts"].as_i64().unwrap())
        .collect();
    assert_eq!(committed.len(), 2, "{runs:?}");
    assert!(
        committed[1] >= 2,
        "the second delivery committed on a retry: {runs:?}"
    );
    assert!(runs.iter().all(|r| r["status"] != "running"), "{runs:?}");
}

#[test]
fn the_daemon_survives_its_catalog_database_going_away_and_coming_back() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(pg) = rt.block_on(postgres(
        "the_daemon_survives_its_catalog_database_going_away_and_coming_back",
    )) else {
        return;
    };
    let proxy = FaultProxy::start(5432);
    let url = pg
        .url
        .replace("127.0.0.1:5432", &format!("127.0.0.1:{}", proxy.port));
    assert_ne!(url, pg.url, "the catalog goes through the proxy");
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    lagoa_ok(&lake, &["init", "--catalog", &url]);
    let folder = dir.path().join("entregas");
    std::fs::create_dir_all(&folder).unwrap();
    drop_folder_source(
        &lake,
        "obitos_pg",
        &folder,
        "*/2 * * * * *",
        "",
        "attempts = 3\ninitial_backoff_seconds = 1\nmax_backoff_seconds = 1",
    );
    write_file(&folder, "obitos_01.csv", &delivery(1, 100));
    let log = dir.path().join("daemon.log");
    let mut daemon = std::process::Command::new(lagoa_bin())
        .args(["--lake", lake.to_str().unwrap(), "daemon"])
        .env("LAGOA__DAEMON__LISTEN", "")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let committed = |lake: &Path| {
        source_runs(lake, &[], "obitos_pg")
            .iter()
            .filter(|r| r["status"] == "committed")
            .count()
    };
    wait_for("the first commit", Duration::from_secs(60), || {
        committed(&lake) == 1
    });

    // The database goes away for 6 s (every connection cut, new ones
    // refused), then comes back.
    proxy.set_down(true);
    std::thread::sleep(Duration::from_secs(6));
    proxy.set_down(false);
    write_file(&folder, "obitos_02.csv", &delivery(1000, 50));
    wait_for("a commit after the outage", Duration::from_secs(90), || {
        committed(&lake) == 2
    });
    assert!(
        daemon.try_wait().unwrap().is_none(),
        "the daemon kept running through the outage"
    );
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status();
    let status = daemon.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(count(&lake, &[], "obitos_pg").unwrap(), "150");
    let runs = source_runs(&lake, &[], "obitos_pg");
    assert!(runs.iter().all(|r| r["status"] != "running"), "{runs:?}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("catalog is unreachable") || text.contains("source run could not start"),
        "the outage shows in the log:\n{text}"
    );
}

/// The KMS holding the keys down for a whole attempt: the attempt fails as
/// `keys`, nothing of it is visible, and the retry commits once the KMS is
/// back, as a storage outage is handled.
#[test]
fn a_kms_down_for_an_attempt_fails_it_as_keys_and_the_retry_commits() {
    let Some(s3) = s3("a_kms_down_for_an_attempt_fails_it_as_keys_and_the_retry_commits") else {
        return;
    };
    let moto_port: u16 = s3.endpoint.rsplit(':').next().unwrap().parse().unwrap();
    let proxy = FaultProxy::start(moto_port);
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let mut env = s3_env();
    env.push(("LAGOA__KEYS__KMS_TIMEOUT_SECONDS", "2"));
    let endpoint = format!("http://127.0.0.1:{}", proxy.port);
    let prefix = format!("t{}/", uuid::Uuid::now_v7().simple());
    let out = lagoa_env(
        &lake,
        &[
            "init",
            "--keys",
            "kms",
            "--kms-endpoint",
            &endpoint,
            "--kms-allow-http",
            "--kms-alias-prefix",
            &prefix,
        ],
        &env,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let folder = dir.path().join("entregas");
    std::fs::create_dir_all(&folder).unwrap();
    drop_folder_source(
        &lake,
        "obitos_kms",
        &folder,
        "0 6 * * *",
        "",
        "attempts = 3\ninitial_backoff_seconds = 2\nmax_backoff_seconds = 2",
    );
    write_file(&folder, "obitos_01.csv", &delivery(1, 500));
    let run = lagoa_env(&lake, &["run", "obitos_kms"], &env);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(count(&lake, &env, "obitos_kms").unwrap(), "500");

    write_file(&folder, "obitos_02.csv", &delivery(5000, 300));
    down_for_an_attempt(&proxy, (&lake, &env), "obitos_kms", ("keys", "800"));
}
