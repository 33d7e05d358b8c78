//! Shared test fixtures: temporary lakes, the real `lagoa` binary, a real
//! PostgreSQL database per test, a real S3-protocol server (moto), and the
//! project's Python virtualenv for PyArrow.
//!
//! A fixture whose server is missing fails loudly when `CI=true`; locally it
//! prints why the test is skipped.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Returns false (and says why) when a test cannot run here; panics in CI.
pub fn skip(test: &str, reason: &str) -> bool {
    if in_ci() {
        panic!(
            "{test}: {reason} (CI=true: a missing server or tool is a failure; run scripts/bootstrap)"
        );
    }
    eprintln!("SKIPPED {test}: {reason}");
    false
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

pub fn lagoa_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_lagoa"))
}

/// Runs `lagoa --lake <lake> <args>` with extra environment.
pub fn lagoa_env(lake: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(lagoa_bin());
    cmd.arg("--lake")
        .arg(lake)
        .args(args)
        .env_remove("LAGOA_LAKE")
        // `lagoa init` seals the local key store by a key file under the
        // user's configuration directory: the test's own, beside its lake.
        .env("XDG_CONFIG_HOME", seal_home(lake))
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("running lagoa")
}

/// The configuration directory the test's `lagoa` processes see: beside
/// the lake, inside the test's scratch directory.
pub fn seal_home(lake: &Path) -> PathBuf {
    lake.with_extension("config")
}

pub fn lagoa(lake: &Path, args: &[&str]) -> Output {
    lagoa_env(lake, args, &[])
}

/// Runs a client program that prints one JSON object: it must succeed
/// (its stderr shown if not); the object is returned.
pub fn json_printed_by(command: &mut Command) -> serde_json::Value {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Runs lagoa and returns stdout, failing the test with stderr otherwise.
pub fn lagoa_ok(lake: &Path, args: &[&str]) -> String {
    ok(lagoa(lake, args), args)
}

pub fn ok(out: Output, args: &[&str]) -> String {
    assert!(
        out.status.success(),
        "lagoa {args:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Runs lagoa expecting failure; returns stderr.
pub fn lagoa_err(lake: &Path, args: &[&str]) -> String {
    let out = lagoa(lake, args);
    assert!(
        !out.status.success(),
        "lagoa {args:?} should have failed; stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).expect("utf-8 output")
}

/// Ingests every file into `dataset` with one `lagoa` process each, all at
/// once, and asserts that every one succeeded.
pub fn ingest_concurrently(
    lake: &Path,
    files: &[PathBuf],
    dataset: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) {
    let children: Vec<_> = files
        .iter()
        .map(|f| {
            let mut cmd = Command::new(lagoa_bin());
            cmd.arg("--lake")
                .arg(lake)
                .args([
                    "ingest",
                    f.to_str().expect("utf-8 path"),
                    "--dataset",
                    dataset,
                ])
                .args(extra);
            for (k, v) in env {
                cmd.env(k, v);
            }
            cmd.stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("starting lagoa")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("waiting for lagoa");
        assert!(
            out.status.success(),
            "a concurrent ingest failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `lagoa ingest FILE --dataset DATASET EXTRA...`, which must succeed.
pub fn ingest(lake: &Path, file: &Path, dataset: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "ingest",
        file.to_str().expect("utf-8 path"),
        "--dataset",
        dataset,
    ];
    args.extend_from_slice(extra);
    lagoa_ok(lake, &args)
}

/// A fresh embedded-default lake in a temporary directory.
pub fn new_lake() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    lagoa_ok(&lake, &["init"]);
    (dir, lake)
}

pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("writing fixture");
    path
}

/// Parses `--format csv` output into rows of strings (no quoting in fixtures).
pub fn csv_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect()
}

/// Known personal values used by security tests; fixtures embed them.
pub const PEOPLE: &[(&str, &str)] = &[
    ("52998224725", "Severina Quitéria Albuquerque"),
    ("11144477735", "Josué Raimundo Cavalcanti"),
    ("01234567890", "Maria Aparecida Nóbrega"),
];

/// A small municipal delivery with personal columns.
pub fn obitos_csv(year: i32, rows_per_person: usize) -> String {
    let mut s = String::from("municipio,data_obito,ano,causa_cid,idade,valor,cpf,nome\n");
    for i in 0..rows_per_person {
        for (j, (cpf, nome)) in PEOPLE.iter().enumerate() {
            let municipio = 260005 + (j as i32) * 50;
            let month = 1 + (i % 12);
            s.push_str(&format!(
                "{municipio},{year}-{month:02}-15,{year},A0{j},{},{}.50,{cpf},{nome}\n",
                20 + i % 60,
                100 + i
            ));
        }
    }
    s
}

/// The project's virtualenv Python (scripts/bootstrap makes it).
pub fn python() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("LAGOA_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let p = repo_root().join(".venv/bin/python");
    p.exists().then_some(p)
}

/// A fresh PostgreSQL database for one test; `None` if the server is not
/// reachable (and not in CI).
pub struct Postgres {
    pub url: String,
}

const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/test";

pub async fn postgres(test: &str) -> Option<Postgres> {
    use sqlx::Connection;
    let admin_url = std::env::var("LAGOA_TEST_POSTGRES").unwrap_or_else(|_| PG_ADMIN.to_owned());
    let mut admin = match sqlx::PgConnection::connect(&admin_url).await {
        Ok(c) => c,
        Err(e) => {
            skip(
                test,
                &format!("PostgreSQL is not reachable at {admin_url}: {e}"),
            );
            return None;
        }
    };
    let name = format!("lagoa_it_{}", uuid::Uuid::now_v7().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("creating a test database");
    let base = admin_url
        .rsplit_once('/')
        .map(|(b, _)| b)
        .unwrap_or(&admin_url)
        .to_owned();
    Some(Postgres {
        url: format!("{base}/{name}"),
    })
}

/// A moto S3 server shared by the tests of this run, with one bucket.
pub struct S3 {
    pub endpoint: String,
    pub bucket: String,
}

static S3_SERVER: OnceLock<Option<S3>> = OnceLock::new();

pub fn s3(test: &str) -> Option<&'static S3> {
    let server = S3_SERVER.get_or_init(start_moto);
    if server.is_none() {
        skip(
            test,
            "no S3 test server: run scripts/bootstrap to install moto into .venv",
        );
    }
    server.as_ref()
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("binding a port")
        .local_addr()
        .expect("address")
        .port()
}

fn start_moto() -> Option<S3> {
    let (endpoint, port) = start_moto_server(&[])?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let bucket = "lagoa-test".to_owned();
    loop {
        if http_put(port, &format!("/{bucket}")).is_ok() {
            return Some(S3 { endpoint, bucket });
        }
        if Instant::now() > deadline {
            panic!("moto_server did not start on port {port} within 30s");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Starts a moto server of its own (with `env`), stopped when this test
/// process exits: its endpoint and port, once it accepts connections.
pub fn start_moto_server(env: &[(&str, &str)]) -> Option<(String, u16)> {
    let moto = repo_root().join(".venv/bin/moto_server");
    if !moto.exists() {
        return None;
    }
    let port = free_port();
    // The shell watches the test process and stops moto when it exits.
    let script = format!(
        "'{}' -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; while kill -0 {} 2>/dev/null; do sleep 1; done; kill $m",
        moto.display(),
        std::process::id()
    );
    let mut command = Command::new("sh");
    command.arg("-c").arg(script).stdin(Stdio::null());
    for (k, v) in env {
        command.env(k, v);
    }
    // Not waited on: the shell ends with this process (see the script).
    #[allow(clippy::zombie_processes)]
    command.spawn().expect("starting moto_server");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            panic!("moto_server did not start on port {port} within 30s");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Some((format!("http://127.0.0.1:{port}"), port))
}

/// Creates a bucket with a bare HTTP request (moto accepts unsigned ones).
fn http_put(port: u16, path: &str) -> std::io::Result<()> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    write!(
        stream,
        "PUT {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    if response.starts_with("HTTP/1.1 200") || response.contains("BucketAlreadyOwnedByYou") {
        Ok(())
    } else {
        Err(std::io::Error::other(
            response.lines().next().unwrap_or("").to_owned(),
        ))
    }
}

pub fn s3_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
    ]
}

/// Every regular file under `dir`, recursively.
pub fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("reading dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

pub fn parquet_files(lake: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = all_files(&lake.join("store"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    files
}

/// Polls `done` until it holds; fails naming `what` after `limit`.
pub fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The runs of one source (`lagoa runs --json`), oldest first.
pub fn source_runs(lake: &Path, env: &[(&str, &str)], source: &str) -> Vec<serde_json::Value> {
    let out = lagoa_env(lake, &["runs", "--json", "--limit", "100000"], env);
    assert!(
        out.status.success(),
        "lagoa runs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut runs: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("runs --json prints JSON lines"))
        .filter(|r: &serde_json::Value| r["source"] == source)
        .collect();
    runs.sort_by_key(|r| r["started_at"].as_i64());
    runs
}

/// Writes `<lake>/sources/<name>.source.toml`: a drop folder feeding
/// dataset `name` under the hostile contract (written beside it), on `cron`
/// in UTC. `top` goes before `[schedule]` (e.g. `expected_frequency`),
/// `retry` into `[retry]`.
pub fn drop_folder_source(
    lake: &Path,
    name: &str,
    folder: &Path,
    cron: &str,
    top: &str,
    retry: &str,
) {
    let sources = lake.join("sources");
    std::fs::create_dir_all(&sources).unwrap();
    crate::formats::hostile_contract(&sources, name);
    write_file(
        &sources,
        &format!("{name}.source.toml"),
        &format!(
            r#"name = "{name}"
dataset = "{name}"
contract = "{name}.toml"
{top}

[schedule]
cron = "{cron}"
timezone = "UTC"

[retry]
{retry}

[source]
type = "file"
drop_folder = "{}"
settle_seconds = 0
"#,
            folder.display()
        ),
    );
}

/// The first word after `marker` in a command's output (an id, a head).
pub fn word_after(text: &str, marker: &str) -> String {
    text.split(marker)
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no {marker:?} in:\n{text}"))
        .to_owned()
}

/// The secret part of a `lagoa_<id>_<secret>` token (the secret, base64url,
/// may hold '_' itself).
pub fn token_secret(token: &str) -> &str {
    &token["lagoa_".len() + 13..]
}

/// The same token with the last character of its secret changed: the right
/// shape, the wrong secret.
pub fn forged(token: &str) -> String {
    let mut text = token.to_owned();
    let last = text.pop().expect("a token");
    text.push(if last == 'A' { 'B' } else { 'A' });
    text
}

/// The first word of a listing's first row (after its header): an id.
pub fn first_id(listing: &str) -> String {
    listing
        .lines()
        .nth(1)
        .and_then(|row| row.split_whitespace().next())
        .unwrap_or_else(|| panic!("no row in:\n{listing}"))
        .to_owned()
}

/// Ingests the generated deaths file into an `especial` dataset `obitos`
/// whose `cpf` and `nome` are personal.
pub fn ingest_obitos_especial(dir: &Path, lake: &Path) {
    let file = write_file(dir, "obitos_2024.csv", &obitos_csv(2024, 2));
    ingest(
        lake,
        &file,
        "obitos",
        &["--personal", "cpf,nome", "--level", "especial"],
    );
}

/// A child process killed when the test ends, however it ends.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `lagoa serve` on a free port; returns the process and the base URL.
/// The PostgreSQL port is closed unless `pg_port` is given.
pub fn serve(lake: &Path, pg_port: Option<u16>) -> (Killed, String) {
    serve_with(lake, pg_port, &[])
}

/// `lagoa serve` as [`serve`] does, with extra environment (`LAGOA__...`).
pub fn serve_with(lake: &Path, pg_port: Option<u16>, env: &[(&str, &str)]) -> (Killed, String) {
    let (server, url, _log) = serve_logged(lake, pg_port, env);
    (server, url)
}

/// `lagoa serve` as [`serve_with`] does; its log (stderr) is also kept.
pub fn serve_logged(
    lake: &Path,
    pg_port: Option<u16>,
    env: &[(&str, &str)],
) -> (Killed, String, std::sync::Arc<std::sync::Mutex<String>>) {
    serve_on(lake, "127.0.0.1:0", pg_port, env)
}

/// `lagoa serve` with its console on `listen` (a port known beforehand,
/// as an identity provider's redirect URI needs); its log is also kept.
pub fn serve_on(
    lake: &Path,
    listen: &str,
    pg_port: Option<u16>,
    env: &[(&str, &str)],
) -> (Killed, String, std::sync::Arc<std::sync::Mutex<String>>) {
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let pg_listen = pg_port.map_or(String::new(), |p| format!("127.0.0.1:{p}"));
    let mut command = Command::new(lagoa_bin());
    command
        .arg("--lake")
        .arg(lake)
        .args(["serve", "--listen", listen])
        .env_remove("LAGOA_LAKE")
        .env("LAGOA__QUERY__PG_LISTEN", pg_listen);
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting lagoa serve");
    let stderr = child.stderr.take().unwrap();
    let child = Killed(child);
    let (tx, rx) = std::sync::mpsc::channel();
    let kept = std::sync::Arc::clone(&log);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("Console: ") {
                let _ = tx.send(url.trim_end_matches('/').to_owned());
            }
            kept.lock().unwrap().push_str(&format!("{line}\n"));
            // The server's log, shown when the test fails.
            eprintln!("lagoa serve: {line}");
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("lagoa serve prints its address");
    (child, url, log)
}

/// Runs one statement on the lake's SQLite catalog, as someone with write
/// access to the database file (and not to the keys) could, or as time
/// would; it must change something.
pub async fn tamper(lake: &Path, sql: &str) {
    let url = format!("sqlite://{}", lake.join("catalog.db").display());
    let pool = sqlx::sqlite::SqlitePool::connect(&url).await.unwrap();
    let n = sqlx::query(sql)
        .execute(&pool)
        .await
        .unwrap()
        .rows_affected();
    assert!(n > 0, "{sql} changed nothing");
    pool.close().await;
}

/// The institutions `(name, role)` and people `(name, institution, role)`
/// of an agreement; returns a token for each person, by name.
pub fn agreement(
    lake: &Path,
    institutions: &[(&str, &str)],
    people: &[(&str, &str, &str)],
) -> std::collections::HashMap<String, String> {
    for (name, role) in institutions {
        lagoa_ok(lake, &["institution", "add", name, "--role", role]);
    }
    people
        .iter()
        .map(|(user, institution, role)| {
            lagoa_ok(
                lake,
                &[
                    "user",
                    "add",
                    user,
                    "--institution",
                    institution,
                    "--role",
                    role,
                ],
            );
            let token = lagoa_ok(lake, &["token", "create", user]).trim().to_owned();
            (user.to_string(), token)
        })
        .collect()
}

/// An `amplo` population table of two municipalities.
pub fn ingest_populacao_amplo(dir: &Path, lake: &Path) {
    let pop = write_file(
        dir,
        "populacao.csv",
        "municipio,ano,habitantes\n260005,2024,1000\n260055,2024,2000\n",
    );
    ingest(lake, &pop, "populacao", &["--level", "amplo"]);
}

/// A moment (RFC 3339), then a second delivery of `populacao` (one more
/// municipality, three rows in all): reading as of that moment gives the
/// first delivery's two rows.
pub fn populacao_grows(dir: &Path, lake: &Path) -> String {
    std::thread::sleep(Duration::from_millis(20));
    let then = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    std::thread::sleep(Duration::from_millis(20));
    let more = write_file(
        dir,
        "populacao-2.csv",
        "municipio,ano,habitantes\n260105,2024,3000\n",
    );
    ingest(lake, &more, "populacao", &[]);
    then
}

/// The provider's steward categorises `dataset` (provider `provider`),
/// the analyst files a request for `purpose` (plus `request_args`, such as
/// `--columns` or `--personal`), and the steward approves it.
pub fn grant_through_request(
    lake: &Path,
    steward: &str,
    analyst: &str,
    dataset: &str,
    provider: &str,
    purpose: &str,
    request_args: &[&str],
) {
    let as_ =
        |token: &str, args: &[&str]| ok(lagoa_env(lake, args, &[("LAGOA_TOKEN", token)]), args);
    // The data was ingested without naming its provider: the lake's owner
    // names it, so the provider's steward may categorise it.
    if lagoa_ok(lake, &["dataset", "history", dataset])
        .trim()
        .is_empty()
    {
        lagoa_ok(lake, &["dataset", "provider", dataset, provider]);
    }
    as_(
        steward,
        &[
            "dataset",
            "categorise",
            dataset,
            "--provider",
            provider,
            "--reason",
            "primeira",
        ],
    );
    let mut file = vec![
        "request",
        "file",
        dataset,
        "--purpose",
        purpose,
        "--legal-basis",
        "LGPD art. 11, II, b",
    ];
    file.extend_from_slice(request_args);
    let filed = as_(analyst, &file);
    as_(
        steward,
        &[
            "request",
            "approve",
            &word_after(&filed, "request "),
            "--reason",
            "ok",
        ],
    );
}

/// A dataset as the catalog holds it at the latest snapshot, with its files.
pub async fn dataset_and_files(
    lake: &lagoa_lake::Lake,
    dataset: &str,
) -> (
    lagoa_lake::catalog::model::DatasetInfo,
    Vec<lagoa_lake::catalog::model::DataFileInfo>,
) {
    dataset_and_files_at(lake, dataset, lagoa_lake::AsOf::Latest).await
}

/// A dataset as the catalog holds it at `as_of`, with its files.
pub async fn dataset_and_files_at(
    lake: &lagoa_lake::Lake,
    dataset: &str,
    as_of: lagoa_lake::AsOf,
) -> (
    lagoa_lake::catalog::model::DatasetInfo,
    Vec<lagoa_lake::catalog::model::DataFileInfo>,
) {
    let snapshot = lake.catalog.resolve(&as_of).await.unwrap();
    let name = lagoa_core::DatasetName::new(dataset.to_owned()).unwrap();
    let info = lake
        .catalog
        .dataset(&name, snapshot)
        .await
        .unwrap()
        .unwrap();
    let files = lake.catalog.files(&info, snapshot).await.unwrap();
    (info, files)
}

/// The newest entry of the lake's audit trail.
pub fn last_audit(lake: &Path) -> serde_json::Value {
    let line = lagoa_ok(lake, &["audit", "list", "--json", "--limit", "1"]);
    serde_json::from_str::<serde_json::Value>(line.trim()).expect("one audit entry")["entry"]
        .clone()
}

/// Audit entries (newest first), as `lagoa audit list --json` gives them.
pub fn audit_entries(lake: &Path, limit: usize) -> Vec<serde_json::Value> {
    lagoa_ok(
        lake,
        &["audit", "list", "--json", "--limit", &limit.to_string()],
    )
    .lines()
    .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["entry"].clone())
    .collect()
}

/// An admin (`root` of the coordinating `seplag`) made in `lake` with
/// `env` (a key provider's settings), and its API token.
pub fn admin_token(lake: &Path, env: &[(&str, &str)]) -> String {
    for args in [
        &["institution", "add", "seplag", "--role", "coordinator"][..],
        &[
            "user",
            "add",
            "root",
            "--institution",
            "seplag",
            "--role",
            "admin",
        ],
    ] {
        ok(lagoa_env(lake, args, env), args);
    }
    let args = ["token", "create", "root"];
    ok(lagoa_env(lake, &args, env), &args).trim().to_owned()
}
