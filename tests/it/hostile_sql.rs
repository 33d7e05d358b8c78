//! Hostile SQL against a live `lagoa serve`, through the HTTP API and the
//! PostgreSQL port: a generated corpus of nasty statements (deep nesting of
//! every kind, CTE and UNION chains, long IN lists, amplifying functions,
//! malformed text) that the server answers one by one and survives; and the
//! limits that hold for everyone, measured: a bystander's latency while two
//! heavy queries run, the queue, the time from a deadline or a cancel to the
//! CPU going quiet, the peak memory against the limit, SIGTERM with queries
//! running.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

struct People {
    ana: String,
    bia: String,
}

fn setup(dir: &Path, lake: &Path) -> People {
    ingest_obitos_especial(dir, lake);
    ingest_populacao_amplo(dir, lake);
    let mut tokens = agreement(
        lake,
        &[("seplag", "coordinator"), ("educ", "consumer")],
        &[("ana", "educ", "analyst"), ("bia", "educ", "analyst")],
    );
    People {
        ana: tokens.remove("ana").unwrap(),
        bia: tokens.remove("bia").unwrap(),
    }
}

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// One governed query over HTTP: its status and body.
async fn query(http: &reqwest::Client, base: &str, token: &str, sql: &str) -> (StatusCode, Value) {
    let r = http
        .post(format!("{base}/api/v1/query"))
        .bearer_auth(token)
        .json(&json!({ "sql": sql }))
        .send()
        .await
        .expect("the server answers");
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// CPU seconds the process has used so far (user + system).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the server runs");
    // Fields after the command name, which ends at the last ')'.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// The process's peak resident memory, in bytes.
fn peak_memory(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 1024
}

/// CPU the process burns over `window`.
fn cpu_over(pid: u32, window: Duration) -> f64 {
    let before = cpu_seconds(pid);
    std::thread::sleep(window);
    cpu_seconds(pid) - before
}

/// How long until the process uses less than a fifth of a core over a
/// quarter of a second (the end of that quarter), if within `limit`.
fn quiet_within(pid: u32, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if cpu_over(pid, Duration::from_millis(250)) < 0.05 {
            return Some(started.elapsed());
        }
    }
    None
}

/// The nasty SQL: (what it is, the statement).
fn corpus() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut add = |kind: &str, n: usize, sql: String| out.push((format!("{kind} x{n}"), sql));
    let join = |parts: Vec<String>, sep: &str| parts.join(sep);
    for n in [10, 100, 1_000, 5_000] {
        add(
            "arithmetic chain",
            n,
            format!("SELECT {}", vec!["1"; n].join("+")),
        );
        add(
            "AND chain",
            n,
            format!(
                "SELECT count(*) FROM populacao WHERE {}",
                join((0..n).map(|i| format!("ano > {i}")).collect(), " AND ")
            ),
        );
        add(
            "OR chain",
            n,
            format!(
                "SELECT count(*) FROM populacao WHERE {}",
                join((0..n).map(|i| format!("ano = {i}")).collect(), " OR ")
            ),
        );
        add(
            "flat CASE",
            n,
            format!(
                "SELECT CASE {} ELSE 0 END FROM populacao",
                join(
                    (0..n).map(|i| format!("WHEN ano = {i} THEN {i}")).collect(),
                    " "
                )
            ),
        );
        add(
            "nested CASE",
            n,
            format!(
                "SELECT {}1{} FROM populacao",
                "CASE WHEN ano > 0 THEN ".repeat(n),
                " END".repeat(n)
            ),
        );
        add(
            "nested function calls",
            n,
            format!("SELECT {}1{}", "abs(".repeat(n), ")".repeat(n)),
        );
        add(
            "nested parentheses",
            n,
            format!("SELECT {}1{}", "(".repeat(n), ")".repeat(n)),
        );
        add(
            "nested subqueries",
            n.min(2_000),
            format!(
                "SELECT count(*) FROM {}populacao{}",
                "(SELECT * FROM ".repeat(n.min(2_000)),
                (0..n.min(2_000))
                    .map(|i| format!(") t{i}"))
                    .collect::<String>()
            ),
        );
        add(
            "nested scalar subqueries",
            n,
            format!("SELECT {}1{}", "(SELECT ".repeat(n), ")".repeat(n)),
        );
        let ctes: Vec<String> = (1..n.min(2_000))
            .map(|i| format!("c{i} AS (SELECT * FROM c{})", i - 1))
            .collect();
        add(
            "CTE chain",
            n.min(2_000),
            format!(
                "WITH c0 AS (SELECT * FROM populacao), {} SELECT count(*) FROM c{}",
                ctes.join(", "),
                n.min(2_000) - 1
            ),
        );
        add(
            "UNION chain",
            n,
            join(
                (0..n).map(|i| format!("SELECT {i}")).collect(),
                " UNION ALL ",
            ),
        );
        add(
            "IN list",
            n,
            format!(
                "SELECT count(*) FROM populacao WHERE ano IN ({})",
                join((0..n).map(|i| i.to_string()).collect(), ",")
            ),
        );
        add("cast chain", n, format!("SELECT 1{}", "::bigint".repeat(n)));
        add("|| chain", n, format!("SELECT 'a'{}", " || 'a'".repeat(n)));
        add("NOT chain", n, format!("SELECT {}true", "NOT ".repeat(n)));
        add(
            "nested arrays",
            n,
            format!("SELECT {}1{}", "[".repeat(n), "]".repeat(n)),
        );
    }
    for n in [5, 12, 30] {
        let mut sql = String::from("WITH c0 AS (SELECT * FROM populacao)");
        for i in 1..=n {
            sql.push_str(&format!(
                ", c{i} AS (SELECT * FROM c{p} UNION ALL SELECT * FROM c{p})",
                p = i - 1
            ));
        }
        sql.push_str(&format!(" SELECT count(*) FROM c{n}"));
        add("doubling CTE chain", n, sql);
    }
    for n in [3, 20, 200] {
        add(
            "join chain",
            n,
            format!(
                "SELECT count(*) FROM populacao p0 {}",
                (1..n)
                    .map(|i| format!("JOIN populacao p{i} ON true"))
                    .collect::<String>()
            ),
        );
    }
    let mut add1 = |kind: &str, sql: &str| out.push((kind.to_owned(), sql.to_owned()));
    add1("repeat", "SELECT length(repeat('x', CAST(1e9 AS BIGINT)))");
    add1("lpad", "SELECT length(lpad('x', 1000000000))");
    add1(
        "generate_series unnested",
        "SELECT count(*) FROM (SELECT unnest(generate_series(1, 100000000)))",
    );
    add1(
        "unnest cross join",
        "SELECT count(*) FROM (SELECT unnest(range(1, 1000000)) a) x, (SELECT unnest(range(1, 1000000)) b) y ORDER BY 1 LIMIT 1",
    );
    add1(
        "array_repeat",
        "SELECT cardinality(array_repeat(1, 500000000))",
    );
    add1(
        "string_agg of a series",
        "SELECT length(string_agg(repeat('x', 1000), ',')) FROM (SELECT unnest(range(1, 5000000)))",
    );
    add1(
        "doubling strings",
        "WITH a AS (SELECT repeat(cast(municipio AS varchar), 10000000) AS s FROM populacao), b AS (SELECT s || s AS s FROM a), c AS (SELECT s || s AS s FROM b), d AS (SELECT s || s AS s FROM c), e AS (SELECT s || s AS s FROM d) SELECT length(s) FROM e",
    );
    add1(
        "endless recursion",
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r",
    );
    add1("unbalanced parentheses", "SELECT ((((1");
    add1("unterminated string", "SELECT 'never ends");
    add1("only a comment", "/* nothing */");
    add1("empty", "");
    add1("blank", "   \n\t ");
    add1("two statements", "SELECT 1; SELECT 2");
    add1("dangling FROM", "SELECT * FROM");
    add1("NUL byte", "SELECT '\u{0}'");
    add1(
        "bidirectional text",
        "SELECT 'ção \u{202e}etiruces' AS \"\u{202e}x\"",
    );
    add1("huge identifier", &format!("SELECT {}", "a".repeat(60_000)));
    add1(
        "huge string literal",
        &format!("SELECT length('{}')", "x".repeat(60_000)),
    );
    add1("too long", &format!("SELECT 1 {}", " ".repeat(70 * 1024)));
    add1("DDL", "CREATE TABLE x AS SELECT 1");
    add1("file read", "SELECT * FROM '/etc/passwd'");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corpus_of_nasty_sql_never_takes_the_server_down() {
    let (dir, lake) = new_lake();
    let p = setup(dir.path(), &lake);
    let pg_port = free_port();
    let (server, base) = serve_with(
        &lake,
        Some(pg_port),
        &[
            ("LAGOA__QUERY__TIMEOUT_SECONDS", "3"),
            ("LAGOA__QUERY__MEMORY_LIMIT", "256MiB"),
        ],
    );
    let pid = server.0.id();
    let audited_before = audit_entries(&lake);
    let http = client();
    let corpus = corpus();
    let mut outcomes: std::collections::BTreeMap<u16, usize> = Default::default();
    let mut slowest = (Duration::ZERO, String::new());
    for (kind, sql) in &corpus {
        let started = Instant::now();
        let (status, body) = query(&http, &base, &p.ana, sql).await;
        let took = started.elapsed();
        if took > slowest.0 {
            slowest = (took, kind.clone());
        }
        *outcomes.entry(status.as_u16()).or_default() += 1;
        assert!(
            [200, 400, 403, 413, 422, 503, 504].contains(&status.as_u16()),
            "{kind}: {status} {body}"
        );
        if !status.is_success() {
            let error = body["error"].as_str().unwrap_or_default();
            assert!(
                !error.is_empty(),
                "{kind}: a refusal without a reason: {body}"
            );
        }
        assert!(took < Duration::from_secs(10), "{kind} took {took:?}");
    }
    eprintln!(
        "corpus over HTTP: {} statements, answers by status {outcomes:?}, slowest {:?} ({})",
        corpus.len(),
        slowest.0,
        slowest.1
    );
    // The same corpus through the PostgreSQL port, one psql each.
    if std::process::Command::new("psql")
        .arg("--version")
        .output()
        .is_ok()
    {
        let mut refused = 0;
        for (kind, sql) in corpus.iter().filter(|(_, s)| !s.contains('\u{0}')) {
            // On stdin: some statements are longer than one argument may be.
            let mut psql = std::process::Command::new("psql")
                .args([
                    "-X",
                    "-q",
                    "-A",
                    "-t",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-h",
                    "127.0.0.1",
                    "-p",
                ])
                .arg(pg_port.to_string())
                .args(["-U", "ana", "-d", "lagoa", "-f", "-"])
                .env("PGPASSWORD", &p.ana)
                .env("PGCONNECT_TIMEOUT", "10")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("psql runs");
            {
                use std::io::Write;
                let mut stdin = psql.stdin.take().unwrap();
                let _ = stdin.write_all(sql.as_bytes());
            }
            let out = psql.wait_with_output().expect("psql ends");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                !stderr.contains("server closed the connection")
                    && !stderr.contains("could not connect"),
                "{kind}: the PostgreSQL port went away: {stderr}"
            );
            if !out.status.success() {
                refused += 1;
            }
        }
        eprintln!(
            "corpus over the PostgreSQL port: {} statements, {refused} refused",
            corpus.len()
        );
    } else {
        skip(
            "corpus over the PostgreSQL port",
            "no psql: run scripts/bootstrap",
        );
    }
    // Still up, still right, and every statement on the record.
    let (status, body) = query(
        &http,
        &base,
        &p.bia,
        "SELECT sum(habitantes) AS s FROM populacao",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["rows"][0]["s"], 3000);
    assert!(
        http.get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    assert!(
        std::fs::metadata(format!("/proc/{pid}")).is_ok(),
        "the server is gone"
    );
    let audited = audit_entries(&lake) - audited_before;
    assert!(
        audited >= corpus.len(),
        "{audited} audit entries for {} statements over HTTP",
        corpus.len()
    );
}

/// How many entries the audit trail holds.
fn audit_entries(lake: &Path) -> usize {
    let out = lagoa_ok(lake, &["audit", "list", "--json", "--limit", "1"]);
    let newest: Value = serde_json::from_str(out.trim()).unwrap_or(Value::Null);
    newest["seq"].as_u64().unwrap_or(0) as usize
}

/// A query that keeps both cores busy until it is stopped.
const HEAVY: &str = "SELECT count(*) FROM (SELECT unnest(range(1, 20000)) AS a) x, (SELECT unnest(range(1, 1000000)) AS b) y WHERE (a * b) % 7 = 3";

/// The median time of `n` small queries by `token`.
async fn small_query_latency(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    n: usize,
) -> Duration {
    let mut times = Vec::new();
    for _ in 0..n {
        let started = Instant::now();
        let (status, body) = query(
            http,
            base,
            token,
            "SELECT count(*) AS n, sum(habitantes) AS s FROM populacao",
        )
        .await;
        times.push(started.elapsed());
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    times.sort();
    times[n / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heavy_queries_leave_room_for_others_and_end_when_their_client_goes() {
    let (dir, lake) = new_lake();
    let p = setup(dir.path(), &lake);
    let (server, base) = serve_with(
        &lake,
        None,
        &[
            ("LAGOA__QUERY__TIMEOUT_SECONDS", "60"),
            ("LAGOA__QUERY__MAX_PER_PRINCIPAL", "2"),
            ("LAGOA__QUERY__QUEUE_TIMEOUT_SECONDS", "2"),
            ("LAGOA__QUERY__BACKGROUND_AFTER_MS", "1000"),
        ],
    );
    let pid = server.0.id();
    let http = client();
    let idle = small_query_latency(&http, &base, &p.bia, 9).await;

    // Two heavy queries of ana's: both cores busy.
    let heavy: Vec<_> = (0..2)
        .map(|_| {
            let (http, base, token) = (http.clone(), base.clone(), p.ana.clone());
            tokio::spawn(async move { query(&http, &base, &token, HEAVY).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert!(
        heavy.iter().all(|h| !h.is_finished()),
        "the heavy queries are not running"
    );
    let busy = small_query_latency(&http, &base, &p.bia, 9).await;
    let ratio = busy.as_secs_f64() / idle.as_secs_f64();
    eprintln!("bystander: idle {idle:?}, with two heavy queries {busy:?} ({ratio:.2}x)");
    // The goal is 2x, met on a quiet machine (1.25-1.5x with the release
    // build, benches/README.md); here other tests run beside this one and
    // load the two cores unevenly, so this guards against starvation (the
    // bystander once waited 49 s) with room for their noise.
    assert!(
        busy < (idle * 3).max(idle + Duration::from_millis(150)),
        "idle {idle:?}, busy {busy:?}"
    );

    // A third of ana's waits for a place, then is refused with the reason.
    let started = Instant::now();
    let (status, body) = query(&http, &base, &p.ana, "SELECT 1").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("2 of your queries are running"),
        "{body}"
    );
    assert!(started.elapsed() >= Duration::from_secs(2));

    // Their client goes away: the queries end, the CPU goes quiet.
    for h in &heavy {
        h.abort();
    }
    let quiet = quiet_within(pid, Duration::from_secs(5))
        .expect("the cancelled queries still burn CPU after 5s");
    eprintln!("client gone -> CPU quiet in {quiet:?}");
    let trail = lagoa_ok(&lake, &["audit", "list", "--json", "--limit", "20"]);
    let cancelled = trail
        .lines()
        .filter(|l| l.contains("\"outcome\":\"cancelled\""))
        .count();
    assert!(cancelled >= 2, "no cancelled entries:\n{trail}");
    let busy_entry = trail.lines().find(|l| l.contains("\"outcome\":\"busy\""));
    assert!(
        busy_entry.is_some(),
        "the refused third query is not on the record:\n{trail}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_ends_the_query_and_memory_stays_under_the_limit() {
    let (dir, lake) = new_lake();
    let p = setup(dir.path(), &lake);
    let (server, base) = serve_with(
        &lake,
        None,
        &[
            ("LAGOA__QUERY__TIMEOUT_SECONDS", "2"),
            ("LAGOA__QUERY__MEMORY_LIMIT", "512MiB"),
        ],
    );
    let pid = server.0.id();
    let http = client();
    let baseline = peak_memory(pid);
    for sql in [
        "SELECT length(repeat('x', CAST(1e9 AS BIGINT)))",
        "SELECT count(*) FROM (SELECT unnest(generate_series(1, 100000000)))",
        "WITH a AS (SELECT repeat(cast(municipio AS varchar), 10000000) AS s FROM populacao), b AS (SELECT s || s AS s FROM a), c AS (SELECT s || s AS s FROM b), d AS (SELECT s || s AS s FROM c) SELECT length(s) FROM d",
    ] {
        let (status, body) = query(&http, &base, &p.ana, sql).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{sql}: {body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("query.memory_limit (512MiB)"),
            "{body}"
        );
    }
    let grown = peak_memory(pid).saturating_sub(baseline);
    eprintln!(
        "memory: peak grew {} MiB over a {} MiB baseline under a 512 MiB limit",
        grown >> 20,
        baseline >> 20
    );
    assert!(grown < 512 << 20, "the peak grew by {} MiB", grown >> 20);

    // Sorting a cross join that never ends: stopped at the deadline.
    let sql = "SELECT a, b FROM (SELECT unnest(range(1, 20000)) AS a) x, (SELECT unnest(range(1, 1000000)) AS b) y ORDER BY (a * b) % 7919 DESC LIMIT 3";
    let started = Instant::now();
    let (status, body) = query(&http, &base, &p.ana, sql).await;
    let answered = started.elapsed();
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert!(body["error"].as_str().unwrap().contains("longer than 2s"));
    let quiet = quiet_within(pid, Duration::from_secs(5))
        .expect("the query still burns CPU 5s after its deadline");
    eprintln!("deadline 2s: answered after {answered:?}, CPU quiet {quiet:?} later");
    assert!(answered < Duration::from_millis(2_900), "{answered:?}");
    let entry: Value =
        serde_json::from_str(lagoa_ok(&lake, &["audit", "list", "--json", "--limit", "1"]).trim())
            .unwrap();
    assert_eq!(entry["entry"]["outcome"], "timeout", "{entry}");
}

#[test]
fn a_postgresql_cancel_request_ends_the_query_and_the_connection_goes_on() {
    let Some(python) = python() else {
        skip(
            "a_postgresql_cancel_request_ends_the_query_and_the_connection_goes_on",
            "no .venv/bin/python: run scripts/bootstrap",
        );
        return;
    };
    let (dir, lake) = new_lake();
    let p = setup(dir.path(), &lake);
    let port = free_port();
    let (server, _base) = serve(&lake, Some(port));
    let pid = server.0.id();
    let script = r#"
import json, sys, threading, time, psycopg
port, token, heavy = sys.argv[1], sys.argv[2], sys.argv[3]
out = {}
with psycopg.connect(host="127.0.0.1", port=port, user="ana", password=token,
                     dbname="lagoa", connect_timeout=10, autocommit=True) as conn:
    threading.Timer(1.5, conn.cancel).start()
    started = time.monotonic()
    try:
        conn.execute(heavy).fetchall()
        out["heavy"] = "finished"
    except psycopg.errors.QueryCanceled as e:
        out["heavy"] = "cancelled"
    out["seconds"] = time.monotonic() - started
    out["after"] = conn.execute("SELECT sum(habitantes) FROM populacao").fetchone()[0]
print(json.dumps(out))
"#;
    let out = std::process::Command::new(python)
        .args(["-c", script, &port.to_string(), &p.ana, HEAVY])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["heavy"], "cancelled", "{result}");
    assert!(result["seconds"].as_f64().unwrap() < 4.0, "{result}");
    assert_eq!(result["after"], 3000, "{result}");
    let quiet = quiet_within(pid, Duration::from_secs(5))
        .expect("the cancelled query still burns CPU 5s later");
    eprintln!("PostgreSQL cancel -> CPU quiet in {quiet:?}");
    let trail = lagoa_ok(&lake, &["audit", "list", "--json", "--limit", "5"]);
    assert!(trail.contains("\"outcome\":\"cancelled\""), "{trail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_server_promptly_with_queries_running() {
    let (dir, lake) = new_lake();
    let p = setup(dir.path(), &lake);
    let (mut server, base) = serve_with(
        &lake,
        Some(free_port()),
        &[("LAGOA__DAEMON__SHUTDOWN_GRACE_SECONDS", "5")],
    );
    let http = client();
    let heavy: Vec<_> = [&p.ana, &p.bia]
        .into_iter()
        .map(|token| {
            let (http, base, token) = (http.clone(), base.clone(), token.clone());
            tokio::spawn(async move { query(&http, &base, &token, HEAVY).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let pid = server.0.id();
    let signalled = Instant::now();
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let status = loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(8),
            "the server still runs 8s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    eprintln!(
        "SIGTERM with two heavy queries running: exited in {:?}",
        signalled.elapsed()
    );
    assert!(status.success(), "{status:?}");
    for h in heavy {
        let (status, body) = h.await.unwrap();
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(
            body["error"].as_str().unwrap().contains("shutting down"),
            "{body}"
        );
    }
}

const PURPOSE: &str = "investigação de óbito infantil";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_value_from_a_row_reaches_an_error_a_log_or_the_audit_trail() {
    let (dir, lake) = new_lake();
    ingest_obitos_especial(dir.path(), &lake);
    let tokens = agreement(
        &lake,
        &[
            ("saude", "provider"),
            ("educ", "consumer"),
            ("seplag", "coordinator"),
        ],
        &[
            ("maria", "saude", "steward"),
            ("joao", "educ", "analyst"),
            ("carla", "seplag", "operator"),
        ],
    );
    grant_through_request(
        &lake,
        &tokens["maria"],
        &tokens["joao"],
        "obitos",
        "saude",
        PURPOSE,
        &["--columns", "ano,municipio,cpf", "--personal"],
    );
    let pg_port = free_port();
    let (_server, base, log) = serve_logged(&lake, Some(pg_port), &[("LAGOA_LOG", "debug")]);
    // Casting a CPF to a 32-bit integer fails on the value, which the
    // engine quotes in its error.
    let sql = "SELECT CAST(cpf AS INT) FROM obitos";
    let mut errors = Vec::new();
    let out = lagoa_env(
        &lake,
        &["query", sql, "--purpose", PURPOSE],
        &[("LAGOA_TOKEN", &tokens["joao"])],
    );
    assert!(!out.status.success());
    errors.push(String::from_utf8_lossy(&out.stderr).into_owned());
    let http = client();
    let r = http
        .post(format!("{base}/api/v1/query"))
        .bearer_auth(&tokens["joao"])
        .header(
            "Lagoa-Purpose",
            reqwest::header::HeaderValue::from_bytes(PURPOSE.as_bytes()).unwrap(),
        )
        .json(&json!({ "sql": sql }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    errors.push(r.text().await.unwrap());
    if std::process::Command::new("psql")
        .arg("--version")
        .output()
        .is_ok()
    {
        let out = std::process::Command::new("psql")
            .args([
                "-X",
                "-h",
                "127.0.0.1",
                "-p",
                &pg_port.to_string(),
                "-U",
                "joao",
                "-d",
                "lagoa",
            ])
            .args(["-c", &format!("SET lagoa.purpose = '{PURPOSE}'"), "-c", sql])
            .env("PGPASSWORD", &tokens["joao"])
            .output()
            .unwrap();
        errors.push(String::from_utf8_lossy(&out.stderr).into_owned());
    } else {
        skip(
            "psql door of no_value_from_a_row",
            "no psql: run scripts/bootstrap",
        );
    }
    for e in &errors {
        assert!(
            e.contains("Cannot cast string") || e.contains("cast"),
            "{e}"
        );
    }
    // The coordinator's operator reads the trail back.
    let trail = lagoa_env(
        &lake,
        &[
            "query",
            "SELECT reason FROM system.audit WHERE outcome = 'error'",
            "--format",
            "csv",
        ],
        &[("LAGOA_TOKEN", &tokens["carla"])],
    );
    assert!(
        trail.status.success(),
        "{}",
        String::from_utf8_lossy(&trail.stderr)
    );
    let reasons = String::from_utf8_lossy(&trail.stdout).into_owned();
    assert!(reasons.lines().count() >= 3, "{reasons}");
    let log = log.lock().unwrap().clone();
    assert!(log.contains("serving the PostgreSQL protocol"), "{log}");
    let mut places = errors.clone();
    places.push(reasons);
    places.push(log);
    for (cpf, _) in PEOPLE {
        for place in &places {
            assert!(!place.contains(cpf), "{cpf} in:\n{place}");
        }
    }
    // Nor in the catalog's files (the trail lives there), WAL included.
    for file in all_files(&lake) {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("catalog.db") {
            continue;
        }
        let bytes = std::fs::read(&file).unwrap();
        for (cpf, _) in PEOPLE {
            assert!(
                !bytes.windows(cpf.len()).any(|w| w == cpf.as_bytes()),
                "{cpf} in {name}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_bad_tokens_is_counted_and_throttled_not_written_row_by_row() {
    let (dir, lake) = new_lake();
    let p = setup(dir.path(), &lake);
    let pg_port = free_port();
    let (_server, base) = serve(&lake, Some(pg_port));
    let before = audit_entries(&lake);
    let http = client();
    let mut statuses = std::collections::BTreeMap::new();
    let mut retry_after = None;
    for i in 0..100 {
        let r = http
            .get(format!("{base}/api/v1/me"))
            .bearer_auth(format!("lagoa_notatoken{i:04}_secret"))
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            retry_after = r.headers().get("retry-after").cloned();
        }
        *statuses.entry(r.status().as_u16()).or_insert(0) += 1;
    }
    assert_eq!(statuses.get(&401), Some(&20), "{statuses:?}");
    assert_eq!(statuses.get(&429), Some(&80), "{statuses:?}");
    assert!(retry_after.is_some());
    // A good token from the same address still gets in.
    let (status, _) = query(&http, &base, &p.bia, "SELECT 1").await;
    assert_eq!(status, StatusCode::OK);
    // The PostgreSQL port shares the count: a bad password is throttled too.
    if std::process::Command::new("psql")
        .arg("--version")
        .output()
        .is_ok()
    {
        let out = std::process::Command::new("psql")
            .args([
                "-X",
                "-h",
                "127.0.0.1",
                "-p",
                &pg_port.to_string(),
                "-U",
                "ana",
                "-d",
                "lagoa",
                "-c",
                "SELECT 1",
            ])
            .env("PGPASSWORD", "lagoa_wrong_wrong")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("too many refused sign-ins"), "{stderr}");
    }
    let added = audit_entries(&lake) - before;
    // One refusal on the record, and the good query.
    assert!(added <= 3, "{added} audit entries for a flood of 100");
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("lagoa_signin_refused_total{door=\"api\"} 100"),
        "{metrics}"
    );
    assert!(
        metrics.contains("lagoa_signin_throttled_total{door=\"api\"} 80"),
        "{metrics}"
    );
    assert!(metrics.contains("lagoa_queries_running 0"), "{metrics}");
}
