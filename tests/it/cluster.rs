//! Governed queries on a Ballista cluster started from the real binary: a
//! scheduler and two executors on 127.0.0.1, the query service submitting
//! to it (`[query] engine = "ballista"`), over mutual TLS in the main test
//! (the network's own checks are in `cluster_tls.rs`). The answers are the local ones,
//! refusals are refused and audited the same way, personal keys are
//! released only through the query service's ticket, and no decrypted
//! value is left in an executor's work directory.

use crate::bypass;
use crate::support::*;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

pub(crate) struct Cluster {
    _scheduler: Killed,
    executors: Vec<Killed>,
    pub(crate) scheduler: String,
    /// Each executor's Flight address.
    pub(crate) binds: Vec<String>,
    work_dir: tempfile::TempDir,
}

/// Everything the cluster's processes logged, for the leak check.
fn logs() -> &'static std::sync::Mutex<String> {
    static LOGS: std::sync::OnceLock<std::sync::Mutex<String>> = std::sync::OnceLock::new();
    LOGS.get_or_init(Default::default)
}

fn spawn(lake: &Path, name: &str, args: &[&str], env: &[(&str, &str)]) -> Killed {
    let mut child = Command::new(lagoa_bin())
        .arg("--lake")
        .arg(lake)
        .args(args)
        .envs(env.iter().copied())
        .env_remove("LAGOA_LAKE")
        // Verbose, so that the leak check below reads what an operator
        // debugging the cluster would see.
        .env("LAGOA_LOG", "debug")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {name}: {e}"));
    let stderr = child.stderr.take().unwrap();
    let name = name.to_owned();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("{name}: {line}");
            if let Ok(mut all) = logs().lock() {
                all.push_str(&line);
                all.push('\n');
            }
        }
    });
    Killed(child)
}

/// Counts the files that land in the executors' work directories
/// (Ballista's shuffle and result files), so that "nothing left" is not
/// "nothing ever written" and a query is known to have run there.
struct Watcher {
    seen: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    watching: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watcher {
    fn start(root: &Path) -> Watcher {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let seen = std::sync::Arc::new(AtomicUsize::new(0));
        let watching = std::sync::Arc::new(AtomicBool::new(true));
        let (counted, running, root) = (seen.clone(), watching.clone(), root.to_owned());
        let thread = std::thread::spawn(move || {
            let mut files = std::collections::BTreeSet::new();
            while running.load(Ordering::Relaxed) {
                files.extend(files_now(&root));
                counted.store(files.len(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        Watcher {
            seen,
            watching,
            thread: Some(thread),
        }
    }

    /// Stops watching: how many distinct files were seen.
    fn files_seen(mut self) -> usize {
        use std::sync::atomic::Ordering;
        self.watching.store(false, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("the watcher");
        }
        self.seen.load(Ordering::Relaxed)
    }
}

/// Whether this machine lacks /dev/shm, where the executors' work
/// directories go (a failure in CI, a skip elsewhere).
pub(crate) fn no_memory_filesystem() -> bool {
    if Path::new("/dev/shm").exists() {
        return false;
    }
    skip("cluster", "no /dev/shm for the executors' work directories");
    true
}

/// The environment that sends a process's queries to the cluster.
pub(crate) fn on_cluster(scheduler: &str) -> [(&'static str, &str); 2] {
    [
        ("LAGOA__QUERY__ENGINE", "ballista"),
        ("LAGOA__QUERY__SCHEDULER", scheduler),
    ]
}

/// The files under `dir` now. Ballista removes a job's directories while
/// this walks, so one that vanishes is skipped, not an error.
fn files_now(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for path in entries.flatten().map(|e| e.path()) {
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

fn listening(address: &str) -> bool {
    std::net::TcpStream::connect(address).is_ok()
}

/// A scheduler and two executors on 127.0.0.1, started with `env` (the
/// cluster's certificates, its settings).
pub(crate) fn start_cluster(lake: &Path, env: &[(&str, &str)]) -> Cluster {
    let scheduler = format!("127.0.0.1:{}", free_port());
    let scheduler_process = spawn(
        lake,
        "scheduler",
        // Results go two seconds after a job: these clients fetch at once.
        &[
            "cluster",
            "scheduler",
            "--bind",
            &scheduler,
            "--results-kept-seconds",
            "2",
        ],
        env,
    );
    wait_for("the scheduler", Duration::from_secs(60), || {
        listening(&scheduler)
    });
    let work_dir = tempfile::tempdir_in("/dev/shm").expect("a work directory in /dev/shm");
    let binds: Vec<String> = (0..2)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    let executors = binds
        .iter()
        .enumerate()
        .map(|(i, bind)| {
            let dir = work_dir.path().join(format!("executor-{i}"));
            let process = spawn(
                lake,
                &format!("executor-{i}"),
                &[
                    "cluster",
                    "executor",
                    "--scheduler",
                    &scheduler,
                    "--bind",
                    bind,
                    "--work-dir",
                    dir.to_str().unwrap(),
                    "--slots",
                    "2",
                ],
                env,
            );
            wait_for("an executor", Duration::from_secs(60), || listening(bind));
            process
        })
        .collect();
    Cluster {
        _scheduler: scheduler_process,
        executors,
        scheduler,
        binds,
        work_dir,
    }
}

fn query(
    lake: &Path,
    env: &[(&str, &str)],
    token: &str,
    purpose: Option<&str>,
    sql: &str,
) -> std::process::Output {
    bypass::query_in(lake, env, (token, purpose, sql))
}

/// The CPFs of the generated deaths.
fn cpfs_of_2021() -> Vec<String> {
    csv_rows(&obitos_csv(2021, 3))
        .into_iter()
        .skip(1)
        .filter_map(|row| row.get(6).cloned())
        .collect()
}

/// The CPFs of every year the main test ingests.
fn every_cpf() -> Vec<String> {
    (2019..2023)
        .flat_map(|year| csv_rows(&obitos_csv(year, 3)).into_iter().skip(1))
        .filter_map(|row| row.get(6).cloned())
        .collect()
}

/// Sorted lines: the cluster may return rows in another order where the
/// statement does not fix one.
fn sorted(out: &std::process::Output) -> Vec<String> {
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

#[test]
fn governed_queries_run_on_a_two_executor_cluster_with_the_local_answers() {
    if no_memory_filesystem() {
        return;
    }
    let (dir, lake) = new_lake();
    let p = bypass::setup(dir.path(), &lake);
    // More rows, over several files, so that stages shuffle; and the same
    // rows as an amplo dataset for the benchmark's query shapes.
    for year in 2019..2023 {
        let csv = write_file(
            dir.path(),
            &format!("obitos-{year}.csv"),
            &obitos_csv(year, 3),
        );
        ingest(&lake, &csv, "mortes", &["--level", "amplo"]);
        ingest(
            &lake,
            &csv,
            "obitos",
            &["--personal", "cpf,nome", "--level", "especial"],
        );
    }
    // Over mutual TLS, as beyond one machine; a lost executor is missed
    // after ten seconds.
    let member = crate::cluster_tls::Member::issued(dir.path(), "cluster");
    let mut cluster_env = member.env().to_vec();
    cluster_env.push(("LAGOA__CLUSTER__EXECUTOR_TIMEOUT_SECONDS", "10"));
    let mut cluster = start_cluster(&lake, &cluster_env);
    let scheduler = cluster.scheduler.clone();
    let mut env = on_cluster(scheduler.as_str()).to_vec();
    env.extend(member.env());

    let watcher = Watcher::start(cluster.work_dir.path());

    // The executors register with the scheduler shortly after they listen.
    let warm = "SELECT count(*) AS n FROM populacao";
    wait_for("the cluster to answer", Duration::from_secs(90), || {
        query(&lake, &env, &p.ana, None, warm).status.success()
    });

    let queries: Vec<(&str, Option<&str>, &str)> = vec![
        (&p.ana, None, "SELECT * FROM populacao ORDER BY municipio"),
        (
            &p.ana,
            None,
            "SELECT municipio, sum(habitantes) AS h FROM populacao GROUP BY municipio ORDER BY municipio",
        ),
        (
            &p.joao,
            Some(bypass::PURPOSE),
            "SELECT ano, count(*) AS n, count(DISTINCT cpf) AS pessoas FROM obitos GROUP BY ano ORDER BY ano",
        ),
        (
            &p.joao,
            Some(bypass::PURPOSE),
            "SELECT o.municipio, count(*) AS n FROM obitos o JOIN obitos p ON o.cpf = p.cpf GROUP BY o.municipio ORDER BY 1",
        ),
        (
            &p.joao,
            Some(bypass::PURPOSE),
            "SELECT cpf FROM obitos WHERE ano = 2021 ORDER BY cpf",
        ),
        (
            &p.joao,
            Some(bypass::PURPOSE),
            "SELECT municipio || '-' || ano AS k FROM obitos ORDER BY k LIMIT 5",
        ),
    ];
    // The benchmark's query shapes (benches/compare.py), on these columns.
    let benchmark = [
        "SELECT municipio, date_part('month', data_obito) AS mes, count(*) AS n, avg(idade) AS idade_media FROM mortes GROUP BY 1, 2 ORDER BY 1, 2",
        "SELECT count(*) AS n, avg(idade) AS idade_media FROM mortes WHERE data_obito >= DATE '2021-01-01' AND data_obito <= DATE '2021-06-30'",
        "SELECT causa_cid, count(*) AS n FROM mortes WHERE causa_cid LIKE 'A0%' GROUP BY causa_cid ORDER BY causa_cid",
        "SELECT ano, count(DISTINCT municipio) AS municipios, count(*) AS n FROM mortes GROUP BY ano ORDER BY ano",
        "SELECT municipio, sum(valor) AS total FROM mortes WHERE ano = 2021 GROUP BY municipio ORDER BY total DESC, municipio LIMIT 10",
        "SELECT count(*) AS n, sum(valor) AS total FROM mortes",
    ];
    let queries: Vec<(&str, Option<&str>, &str)> = queries
        .into_iter()
        .chain(benchmark.iter().map(|sql| (p.ana.as_str(), None, *sql)))
        .collect();
    for (token, purpose, sql) in &queries {
        let local = query(&lake, &[], token, *purpose, sql);
        let remote = query(&lake, &env, token, *purpose, sql);
        assert!(
            local.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&local.stderr)
        );
        assert!(
            remote.status.success(),
            "{sql} on the cluster: {}",
            String::from_utf8_lossy(&remote.stderr)
        );
        assert_eq!(sorted(&local), sorted(&remote), "{sql}");
        assert!(sorted(&remote).len() > 1, "{sql}: no rows");
    }

    // The bypass suite's cases, refusals and hidden columns included, hold
    // on the cluster, each on the audit trail.
    let long = bypass::long_statement();
    let denied = bypass::run_cases(&lake, &bypass::cases(&p, &long), &env);
    assert!(denied > 10, "{denied} refusals");

    // Through the HTTP API of `lagoa serve`: on the cluster as here.
    let (_here, here) = serve(&lake, None);
    let (_there, there) = serve_with(&lake, None, &env);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let http = reqwest::Client::new();
    let answer = |base: &str, sql: &str| {
        runtime.block_on(async {
            let response = http
                .post(format!("{base}/api/v1/query?format=csv"))
                .bearer_auth(&p.ana)
                .json(&serde_json::json!({ "sql": sql }))
                .send()
                .await
                .expect("the API answers");
            assert!(
                response.status().is_success(),
                "{sql}: {}",
                response.status()
            );
            let mut lines: Vec<String> = response
                .text()
                .await
                .expect("a body")
                .lines()
                .map(str::to_owned)
                .collect();
            lines.sort();
            lines
        })
    };
    for sql in benchmark {
        assert_eq!(
            answer(&here, sql),
            answer(&there, sql),
            "{sql} through the API"
        );
    }

    assert!(
        watcher.files_seen() > 0,
        "the queries ran on the executors: their work directories held files"
    );

    // An executor lost: its tasks go to the other, or the query fails
    // with Ballista's error; never a wrong answer.
    let lost = &mut cluster.executors[0].0;
    lost.kill().expect("killing an executor");
    lost.wait().expect("the executor ends");
    let (token, purpose, sql) = &queries[2];
    let local = sorted(&query(&lake, &[], token, *purpose, sql));
    // Twice: a task sent to the lost executor waits out the executor
    // timeout (ten seconds here) before it is rescheduled.
    for attempt in 0..2 {
        let remote = query(&lake, &env, token, *purpose, sql);
        if remote.status.success() {
            assert_eq!(
                sorted(&remote),
                local,
                "attempt {attempt} after an executor was lost"
            );
        } else {
            let stderr = String::from_utf8_lossy(&remote.stderr);
            assert!(!stderr.trim().is_empty(), "a failure says why");
            assert!(
                remote.stdout.is_empty(),
                "a failed query returns no rows: {stderr}"
            );
        }
    }

    // Restarted on its work directory, it drops what it left there and
    // serves again.
    let restarted = spawn(
        &lake,
        "executor-0 again",
        &[
            "cluster",
            "executor",
            "--scheduler",
            &scheduler,
            "--bind",
            &cluster.binds[0],
            "--work-dir",
            cluster.work_dir.path().join("executor-0").to_str().unwrap(),
            "--slots",
            "2",
        ],
        &cluster_env,
    );
    cluster.executors[0] = restarted;
    wait_for("the executor again", Duration::from_secs(60), || {
        listening(&cluster.binds[0])
    });

    // A personal value in a statement reaches no log of the cluster's
    // processes, at `debug`.
    let cpf_asked = &cpfs_of_2021()[0];
    let by_value = format!("SELECT count(*) AS n FROM obitos WHERE cpf = '{cpf_asked}'");
    let (token, purpose) = (&p.joao, Some(bypass::PURPOSE));
    let counted = query(&lake, &env, token, purpose, &by_value);
    assert_eq!(
        sorted(&counted),
        sorted(&query(&lake, &[], token, purpose, &by_value))
    );
    // Nor does a value the engine chokes on: the failed task's error
    // quotes it, and Ballista logs some failures with their reason.
    let choked = query(
        &lake,
        &env,
        token,
        purpose,
        "SELECT CAST(cpf AS DATE) AS d FROM obitos",
    );
    assert!(!choked.status.success(), "a CPF is no date");
    let logged = logs().lock().map(|l| l.clone()).unwrap_or_default();
    assert!(!logged.is_empty(), "the cluster's processes log");
    assert!(
        logged.contains("Job failed"),
        "the scheduler logged the failed job"
    );
    for cpf in std::iter::once(cpf_asked).chain(&every_cpf()) {
        assert!(
            !logged.contains(cpf.as_str()),
            "a CPF in the cluster's logs"
        );
    }

    // No decrypted value is left in the executors' work directories.
    let cpfs = cpfs_of_2021();
    assert!(!cpfs.is_empty());
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while !files_now(cluster.work_dir.path()).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "shuffle files left: {:?}",
            files_now(cluster.work_dir.path())
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    for file in files_now(cluster.work_dir.path()) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        for cpf in &cpfs {
            assert!(
                !bytes.windows(cpf.len()).any(|w| w == cpf.as_bytes()),
                "{} holds a CPF in clear",
                file.display()
            );
        }
    }
}

#[test]
fn a_scheduler_that_is_down_gives_a_clear_error_or_the_local_answer() {
    let (dir, lake) = new_lake();
    ingest_populacao_amplo(dir.path(), &lake);
    let token = admin_token(&lake, &[]);
    let down = format!("127.0.0.1:{}", free_port());
    let sql = "SELECT count(*) AS n FROM populacao";
    let env = on_cluster(down.as_str());
    let out = query(&lake, &env, &token, None, sql);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The address is the operator's to read in lagoa.toml: the query path
    // says no value back to the reader.
    assert!(
        stderr.contains("the cluster's scheduler at") && stderr.contains("cannot be reached"),
        "{stderr}"
    );
    // A plan over the session's own tables runs here, scheduler or not.
    let catalog = "SELECT table_name FROM information_schema.tables WHERE table_name = 'populacao'";
    let out = query(&lake, &env, &token, None, catalog);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("populacao"));
    let mut with_fallback = env.to_vec();
    with_fallback.push(("LAGOA__QUERY__SCHEDULER_FALLBACK", "true"));
    let out = query(&lake, &with_fallback, &token, None, sql);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().next(),
        Some("n")
    );
}

#[test]
fn an_executor_refuses_a_work_directory_on_disk() {
    let (_dir, lake) = new_lake();
    let on_disk = lake.join("shuffle");
    let out = lagoa(
        &lake,
        &[
            "cluster",
            "executor",
            "--scheduler",
            "127.0.0.1:9",
            "--work-dir",
            on_disk.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is on a disk filesystem"), "{stderr}");
}

/// Runs `df` on the cluster with `ticket`, as a hand-built plan submitted
/// straight to the scheduler would: the rows, or the error's text.
async fn straight_to_the_scheduler(
    scheduler: &str,
    df: datafusion::prelude::DataFrame,
    ticket: String,
) -> Result<usize, String> {
    let (state, plan) = df.into_parts();
    let scheduler = lagoa_cluster::engine::Scheduler {
        address: scheduler.parse().expect("an address"),
        tls: None,
    };
    let stream = lagoa_cluster::engine::submit(&scheduler, (state, &plan), ticket)
        .await
        .map_err(|e| e.to_string())?;
    let batches = datafusion::physical_plan::common::collect(stream)
        .await
        .map_err(|e| e.to_string())?;
    Ok(batches.iter().map(|b| b.num_rows()).sum())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_submitted_straight_to_the_scheduler_reads_only_what_a_ticket_allows() {
    use lagoa_cluster::ticket::{ReleaseTicket, TicketKey, now_seconds};
    if no_memory_filesystem() {
        return;
    }
    let (dir, lake_dir) = new_lake();
    ingest_obitos_especial(dir.path(), &lake_dir);
    ingest_populacao_amplo(dir.path(), &lake_dir);
    let cluster = start_cluster(&lake_dir, &[]);
    let lake = lagoa_lake::Lake::open(&lake_dir).await.expect("the lake");
    let (dataset, files) = dataset_and_files(&lake, "obitos").await;
    let rows: usize = files.iter().map(|f| f.row_count as usize).sum();
    let table: std::sync::Arc<dyn datafusion::catalog::TableProvider> =
        std::sync::Arc::new(lake.table(&dataset, files).expect("a table"));
    // A session of its own for each plan: submitting takes it over.
    let session = || {
        let ctx = datafusion::prelude::SessionContext::new();
        ctx.register_table("obitos", table.clone())
            .expect("registered");
        ctx
    };
    let key = TicketKey::new(
        &lake
            .secret(lagoa_cluster::TICKET_SECRET)
            .await
            .expect("secret"),
    );
    // Every column of the dataset, or all but those left out.
    let columns: Vec<String> = dataset.columns.iter().map(|c| c.name.clone()).collect();
    let all_but = |hidden: &[&str]| -> std::collections::BTreeSet<String> {
        columns
            .iter()
            .filter(|c| !hidden.contains(&c.as_str()))
            .cloned()
            .collect()
    };
    let ticket = |datasets: &[&str], released: &[&str], pseudonyms: bool| ReleaseTicket {
        query: "hand-built".into(),
        expires_at: now_seconds() + 600,
        datasets: datasets
            .iter()
            .map(|d| (d.to_string(), all_but(&[])))
            .collect(),
        released: released
            .iter()
            .map(|c| ("obitos".to_owned(), c.to_string()))
            .collect(),
        pseudonyms,
    };
    let sql = |q: &'static str| {
        let ctx = session();
        async move { ctx.sql(q).await.expect("planned") }
    };
    let run = |df, ticket| straight_to_the_scheduler(&cluster.scheduler, df, ticket);

    // The executors register shortly after they listen.
    let valid = key.sign(&ticket(&["obitos"], &["cpf"], false));
    let mut answered = Err(String::new());
    for _ in 0..60 {
        answered = run(sql("SELECT cpf FROM obitos").await, valid.clone()).await;
        if answered.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert_eq!(answered, Ok(rows), "a valid ticket releasing cpf reads it");

    // No ticket, another lake's, or an altered one: nothing is read.
    let other = TicketKey::new(&[9u8; 32]).sign(&ticket(&["obitos"], &["cpf", "nome"], true));
    let widened = {
        let (_, tag) = valid.split_once('.').expect("body.tag");
        let (body, _) = other.split_once('.').expect("body.tag");
        format!("{body}.{tag}")
    };
    for (forged, why) in [
        (String::new(), "malformed"),
        (other, "not issued by this lake's query service"),
        (widened, "not issued by this lake's query service"),
    ] {
        for q in ["SELECT cpf FROM obitos", "SELECT municipio FROM obitos"] {
            let err = run(sql(q).await, forged.clone()).await.expect_err(q);
            assert!(err.contains(why), "{q} with a bad ticket: {err}");
        }
    }

    // A valid ticket releases what it names and nothing more.
    let no_personal = key.sign(&ticket(&["obitos"], &[], false));
    assert_eq!(
        run(
            sql("SELECT municipio FROM obitos").await,
            no_personal.clone()
        )
        .await,
        Ok(rows)
    );
    let err = run(sql("SELECT nome FROM obitos").await, valid.clone())
        .await
        .expect_err("nome is not released");
    assert!(err.contains("obitos.nome"), "{err}");
    let err = run(sql("SELECT cpf FROM obitos").await, no_personal)
        .await
        .expect_err("cpf is not released");
    assert!(err.contains("obitos.cpf"), "{err}");
    // A column the reader's view hides is neither read nor filtered on.
    let mut narrower = ticket(&["obitos"], &["cpf"], false);
    narrower
        .datasets
        .insert("obitos".into(), all_but(&["causa_cid"]));
    let narrower = key.sign(&narrower);
    assert_eq!(
        run(
            sql("SELECT municipio, cpf FROM obitos").await,
            narrower.clone()
        )
        .await,
        Ok(rows)
    );
    for q in [
        "SELECT causa_cid FROM obitos",
        "SELECT count(*) FROM obitos WHERE causa_cid = 'A01'",
    ] {
        let err = run(sql(q).await, narrower.clone()).await.expect_err(q);
        assert!(
            err.contains("column obitos.causa_cid is not read on this cluster"),
            "{q}: {err}"
        );
    }
    let elsewhere = key.sign(&ticket(&["populacao"], &[], false));
    let err = run(sql("SELECT municipio FROM obitos").await, elsewhere)
        .await
        .expect_err("a ticket for another dataset");
    assert!(err.contains("does not name it"), "{err}");

    // A plan that reads files other than through a dataset's scan (here
    // a file of the executor's own machine) reads nothing, ticket or not.
    let local = write_file(
        dir.path(),
        "local-secret.csv",
        "secret\nnot for the cluster\n",
    );
    let hostile = datafusion::prelude::SessionContext::new();
    hostile
        .register_csv(
            "host",
            local.to_str().expect("a UTF-8 path"),
            datafusion::prelude::CsvReadOptions::new(),
        )
        .await
        .expect("a CSV table");
    let df = hostile.sql("SELECT * FROM host").await.expect("planned");
    assert!(
        run(df, valid.clone()).await.is_err(),
        "a file read outside a dataset's scan"
    );
    // Ballista reports it only as a failed task: the executor's log says why.
    let refused = "a plan that reads files other than through a dataset's scan is refused";
    let mut said = false;
    for _ in 0..50 {
        said = logs().lock().map(|l| l.contains(refused)).unwrap_or(false);
        if said {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(said, "the executor refused the bare file scan");

    // The pseudonym function is computed only for a ticket that allows it.
    let pseudonym = lagoa_lake::pseudonym::pseudonym_udf(lake.pseudonym_key().await.expect("key"));
    let pseudonymised = || async {
        session()
            .table("obitos")
            .await
            .expect("table")
            .select(vec![
                pseudonym
                    .call(vec![datafusion::prelude::col("cpf")])
                    .alias("p"),
            ])
            .expect("select")
    };
    let err = run(pseudonymised().await, valid)
        .await
        .expect_err("this ticket allows no pseudonym");
    assert!(err.contains("allows no pseudonym"), "{err}");
    let with_pseudonyms = key.sign(&ticket(&["obitos"], &["cpf"], true));
    assert_eq!(run(pseudonymised().await, with_pseudonyms).await, Ok(rows));
}

#[test]
fn the_reference_indicators_publish_the_golden_results_from_the_cluster() {
    if no_memory_filesystem() {
        return;
    }
    let (dir, lake) = new_lake();
    crate::indicators::golden_state(dir.path(), &lake);
    lagoa_ok(&lake, &["indicator", "init"]);
    crate::indicators::keep_golden_indicators(&lake);
    let cluster = start_cluster(&lake, &[]);
    let env = on_cluster(cluster.scheduler.as_str());
    let indicators = [
        "mortalidade_infantil",
        "pre_natal_7_consultas",
        "homicidios",
    ];
    let watcher = Watcher::start(cluster.work_dir.path());
    let mut args = vec!["indicator", "run"];
    args.extend(indicators);
    // The executors register shortly after they listen.
    let mut out = lagoa_env(&lake, &args, &env);
    for _ in 0..60 {
        if out.status.success() {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
        out = lagoa_env(&lake, &args, &env);
    }
    let printed = ok(out, &args);
    assert_eq!(
        printed.matches(": committed, 6 cells").count(),
        3,
        "{printed}"
    );
    assert!(
        watcher.files_seen() > 0,
        "the indicators ran on the executors"
    );
    // Recomputed on the cluster, each gives what it published.
    let watcher = Watcher::start(cluster.work_dir.path());
    let runs = lagoa_ok(&lake, &["indicator", "runs", "--json"]);
    let committed: Vec<String> = runs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["status"] == "committed")
        .filter_map(|r| r["run_id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(committed.len(), 3, "{runs}");
    for run in &committed {
        let args = ["indicator", "verify", run.as_str()];
        let printed = ok(lagoa_env(&lake, &args, &env), &args);
        assert!(printed.contains("identical"), "{printed}");
    }
    assert!(
        watcher.files_seen() > 0,
        "verify recomputed on the executors"
    );
    for indicator in indicators {
        let golden = std::fs::read_to_string(
            repo_root().join(format!("sql/indicators/golden/{indicator}.csv")),
        )
        .unwrap();
        assert_eq!(
            crate::indicators::published(&lake, indicator),
            golden,
            "{indicator} from the cluster"
        );
    }
}
