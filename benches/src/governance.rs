//! Governance overhead and query throughput (issue 5's benchmark).
//!
//! 1. In process, the same small query on a bare DataFusion session over
//!    the lake's table, and through `lagoa_sql::run` (guard, policy, a
//!    governed session opened per query, the audit entry): median and p95
//!    of each, and the median added latency. Also the audit append alone.
//!    Twice: on an `amplo` table, and on an `especial` one read through a
//!    grant with a declared purpose, its personal column pseudonymised
//!    (the masking path).
//! 2. `lagoa serve` with concurrent clients on loopback: queries per second
//!    through the HTTP API and through the PostgreSQL port, and the same
//!    query on the PostgreSQL server of this machine as the reference a
//!    user would otherwise pick.
//!
//! Prints a markdown report and writes `results.json` in the work folder.

use anyhow::{Context, Result, anyhow, bail};
use clap::Parser;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const SQL: &str = "SELECT sum(habitantes) AS h FROM populacao WHERE municipio = '260005'";
/// The especial variant: a personal column, pseudonymised for the analyst.
const SQL_ESPECIAL: &str =
    "SELECT count(DISTINCT cpf) AS pessoas FROM obitos WHERE municipio = '260005'";
const PURPOSE: &str = "vigilância do óbito";

#[derive(Parser)]
struct Args {
    /// The lagoa binary (a release build).
    #[arg(long)]
    lagoa: PathBuf,
    /// Work folder (emptied first).
    #[arg(long, default_value = "bench-data/governance")]
    workdir: PathBuf,
    /// Municipalities × years of the table queried.
    #[arg(long, default_value_t = 5570)]
    municipalities: u32,
    #[arg(long, default_value_t = 10)]
    years: u32,
    /// Timed runs of each in-process variant.
    #[arg(long, default_value_t = 300)]
    iterations: usize,
    /// Concurrent clients for the throughput runs.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Seconds of each throughput run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// The reference PostgreSQL server.
    #[arg(
        long,
        default_value = "host=127.0.0.1 port=5432 user=postgres dbname=test"
    )]
    postgres: String,
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn lagoa(args: &Args, lake: &Path, rest: &[&str]) -> Result<String> {
    lagoa_as(args, lake, None, rest)
}

/// `lagoa` as the principal of `token`, if any.
fn lagoa_as(args: &Args, lake: &Path, token: Option<&str>, rest: &[&str]) -> Result<String> {
    let mut cmd = Command::new(&args.lagoa);
    cmd.arg("--lake")
        .arg(lake)
        .args(rest)
        .env_remove("LAGOA_LAKE");
    match token {
        Some(t) => cmd.env("LAGOA_TOKEN", t),
        None => cmd.env_remove("LAGOA_TOKEN"),
    };
    let out = cmd
        .output()
        .with_context(|| format!("running {}", args.lagoa.display()))?;
    if !out.status.success() {
        bail!(
            "lagoa {rest:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn rows(args: &Args) -> Vec<(String, u32, u64)> {
    let mut out = Vec::new();
    for m in 0..args.municipalities {
        for y in 0..args.years {
            let code = format!("{:06}", 260005 + m * 50);
            out.push((
                code,
                2015 + y,
                1000 + u64::from((m * 7919 + y * 104_729) % 500_000),
            ));
        }
    }
    out
}

fn stats(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.95))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs `clients` loops of `one` for `seconds`; returns (queries/s, median ms).
async fn throughput<F, Fut>(clients: usize, seconds: u64, one: F) -> Result<(f64, f64)>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send,
{
    let one = Arc::new(one);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (one, stop, done) = (Arc::clone(&one), Arc::clone(&stop), Arc::clone(&done));
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                one(c).await?;
                latencies.push(ms(t.elapsed()));
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (median, _) = stats(all);
    Ok((done.load(Ordering::Relaxed) as f64 / elapsed, median))
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let _ = std::fs::remove_dir_all(&args.workdir);
    std::fs::create_dir_all(&args.workdir)?;
    let lake = args.workdir.join("lake");
    let data = rows(&args);

    let analyst = prepare_lake(&args, &lake, &data)?;
    let in_process = measure_in_process(&args, &lake, &analyst).await?;
    let served = measure_served(&args, &lake, &analyst).await?;
    let reference = measure_postgres(&args, &data).await?;
    write_report(&args, data.len(), &in_process, &served, &reference)
}

/// Writes `rows` as a CSV with `header`, one line per row from `line`.
fn write_csv<T>(
    path: &Path,
    header: &str,
    rows: &[T],
    line: impl Fn(usize, &T) -> String,
) -> Result<String> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(f, "{header}")?;
    for (i, row) in rows.iter().enumerate() {
        writeln!(f, "{}", line(i, row))?;
    }
    f.flush()?;
    Ok(path.to_string_lossy().into_owned())
}

/// The lake: `populacao` (amplo) and the same rows as deaths with a
/// personal column (`obitos`, especial), granted for one purpose to an
/// analyst of a consumer institution by the provider's steward. Returns
/// the analyst's token.
fn prepare_lake(args: &Args, lake: &Path, data: &[(String, u32, u64)]) -> Result<String> {
    lagoa(args, lake, &["init"])?;
    let csv = write_csv(
        &args.workdir.join("populacao.csv"),
        "municipio,ano,habitantes",
        data,
        |_, (m, y, h)| format!("{m},{y},{h}"),
    )?;
    lagoa(
        args,
        lake,
        &["ingest", &csv, "--dataset", "populacao", "--level", "amplo"],
    )?;
    let obitos = write_csv(
        &args.workdir.join("obitos.csv"),
        "municipio,ano,cpf",
        data,
        |i, (m, y, _)| format!("{m},{y},{:011}", (i as u64 * 7_919) % 20_000),
    )?;
    lagoa(
        args,
        lake,
        &[
            "ingest",
            &obitos,
            "--dataset",
            "obitos",
            "--level",
            "especial",
            "--personal",
            "cpf",
        ],
    )?;
    for (name, role) in [("saude", "provider"), ("educ", "consumer")] {
        lagoa(args, lake, &["institution", "add", name, "--role", role])?;
    }
    for (user, institution, role) in [("maria", "saude", "steward"), ("ana", "educ", "analyst")] {
        lagoa(
            args,
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
        )?;
    }
    let analyst = lagoa(args, lake, &["token", "create", "ana"])?
        .trim()
        .to_owned();
    let steward = lagoa(args, lake, &["token", "create", "maria"])?
        .trim()
        .to_owned();
    // The file was ingested without naming its provider: name it, so that
    // its steward may categorise it.
    lagoa(args, lake, &["dataset", "provider", "obitos", "saude"])?;
    lagoa_as(
        args,
        lake,
        Some(&steward),
        &[
            "dataset",
            "categorise",
            "obitos",
            "--provider",
            "saude",
            "--reason",
            "bench",
        ],
    )?;
    let filed = lagoa_as(
        args,
        lake,
        Some(&analyst),
        &[
            "request",
            "file",
            "obitos",
            "--purpose",
            PURPOSE,
            "--legal-basis",
            "LGPD art. 11, II, b",
        ],
    )?;
    let request = filed
        .split("request ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .ok_or_else(|| anyhow!("no request id in {filed:?}"))?
        .to_owned();
    lagoa_as(
        args,
        lake,
        Some(&steward),
        &["request", "approve", &request, "--reason", "bench"],
    )?;
    Ok(analyst)
}

/// Median and 95th percentile, in milliseconds.
#[derive(Clone, Copy)]
struct Latency {
    median: f64,
    p95: f64,
}

impl Latency {
    fn of(samples: Vec<f64>) -> Latency {
        let (median, p95) = stats(samples);
        Latency { median, p95 }
    }
}

/// Part 1: the same queries in process, bare and governed.
struct InProcess {
    bare: Latency,
    governed: Latency,
    bare_especial: Latency,
    governed_especial: Latency,
    audit_append: Latency,
    session_open: Latency,
}

/// A bare session over `obitos` with the pseudonym function registered,
/// so that the query computes what the governed view serves as `cpf`.
async fn bare_especial_session(
    lake: &lagoa_lake::Lake,
) -> Result<datafusion::prelude::SessionContext> {
    let session = lagoa_lake::session::new_context(lake, false)?;
    let snapshot = lake.catalog.resolve(&lagoa_lake::AsOf::Latest).await?;
    let name = lagoa_core::DatasetName::new("obitos")?;
    let info = lake
        .catalog
        .dataset(&name, snapshot)
        .await?
        .ok_or_else(|| anyhow!("no obitos"))?;
    let files = lake.catalog.files(&info, snapshot).await?;
    let table = lake.table(&info, files)?;
    session.register_table("obitos", Arc::new(table))?;
    let pseudonym = lagoa_lake::pseudonym::pseudonym_udf(lake.pseudonym_key().await?);
    session.register_udf(pseudonym.as_ref().clone());
    Ok(session)
}

async fn measure_in_process(args: &Args, lake: &Path, token: &str) -> Result<InProcess> {
    let opened = Arc::new(lagoa_lake::Lake::open(lake).await?);
    let principal = lagoa_governance::GovernanceStore::of(&opened.catalog)
        .authenticate(token, lagoa_lake::catalog::now_micros())
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let bare = lagoa_lake::session::LakeSession::open(&opened, &lagoa_lake::AsOf::Latest).await?;
    let queries = lagoa_sql::QueryService::new(Arc::clone(&opened));
    let run_bare = || async {
        let batches = bare.sql(SQL).await?.collect().await?;
        anyhow::ensure!(batches.iter().map(|b| b.num_rows()).sum::<usize>() == 1);
        Ok::<_, anyhow::Error>(())
    };
    let run_governed = || async {
        let request = lagoa_sql::QueryRequest::new(&principal, None, SQL);
        let a = queries.run(&request, std::future::pending()).await?;
        anyhow::ensure!(a.rows == 1);
        Ok::<_, anyhow::Error>(())
    };
    let bare_especial = bare_especial_session(&opened).await?;
    let bare_especial_sql = SQL_ESPECIAL.replace("DISTINCT cpf", "DISTINCT lagoa_pseudonym(cpf)");
    let run_bare_especial = || async {
        let batches = bare_especial
            .sql(&bare_especial_sql)
            .await?
            .collect()
            .await?;
        anyhow::ensure!(batches.iter().map(|b| b.num_rows()).sum::<usize>() == 1);
        Ok::<_, anyhow::Error>(())
    };
    let run_governed_especial = || async {
        let request = lagoa_sql::QueryRequest::new(&principal, Some(PURPOSE), SQL_ESPECIAL);
        let a = queries.run(&request, std::future::pending()).await?;
        anyhow::ensure!(a.rows == 1 && !a.grants.is_empty());
        Ok::<_, anyhow::Error>(())
    };
    for _ in 0..20 {
        run_bare().await?;
        run_governed().await?;
        run_bare_especial().await?;
        run_governed_especial().await?;
    }
    let mut samples: [Vec<f64>; 6] = Default::default();
    for _ in 0..args.iterations {
        let t = Instant::now();
        run_bare().await?;
        samples[0].push(ms(t.elapsed()));
        let t = Instant::now();
        run_governed().await?;
        samples[1].push(ms(t.elapsed()));
        let t = Instant::now();
        run_bare_especial().await?;
        samples[2].push(ms(t.elapsed()));
        let t = Instant::now();
        run_governed_especial().await?;
        samples[3].push(ms(t.elapsed()));
        let t = Instant::now();
        opened
            .audit(&lagoa_lake::catalog::AuditEntry {
                principal: "bench".into(),
                institution: "seplag".into(),
                action: "bench".into(),
                outcome: "ok".into(),
                ..Default::default()
            })
            .await?;
        samples[4].push(ms(t.elapsed()));
        let t = Instant::now();
        lagoa_lake::session::LakeSession::open(&opened, &lagoa_lake::AsOf::Latest).await?;
        samples[5].push(ms(t.elapsed()));
    }
    let [
        bare,
        governed,
        bare_especial,
        governed_especial,
        audit_append,
        session_open,
    ] = samples.map(Latency::of);
    Ok(InProcess {
        bare,
        governed,
        bare_especial,
        governed_especial,
        audit_append,
        session_open,
    })
}

/// Queries per second and median latency of a throughput run.
struct Throughput {
    qps: f64,
    median: f64,
}

/// Part 2: through `lagoa serve`, over HTTP and the PostgreSQL port.
struct Served {
    http: Throughput,
    pg: Throughput,
}

/// Starts `lagoa serve` with the PostgreSQL port on `pg_port`; returns the
/// process (killed when dropped) and the console's base URL.
fn start_server(args: &Args, lake: &Path, pg_port: u16) -> Result<(Killed, String)> {
    let mut child = Command::new(&args.lagoa)
        .arg("--lake")
        .arg(lake)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("LAGOA_LAKE")
        .env("LAGOA__QUERY__PG_LISTEN", format!("127.0.0.1:{pg_port}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take().expect("piped");
    let server = Killed(child);
    // Keep reading the server's stderr (a closed pipe would stop it).
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("Console: ") {
                let _ = tx.send(url.trim_end_matches('/').to_owned());
            }
        }
    });
    let base = rx
        .recv_timeout(Duration::from_secs(30))
        .map_err(|_| anyhow!("lagoa serve did not print its address"))?;
    Ok((server, base))
}

async fn connect(conninfo: String) -> Result<Arc<tokio_postgres::Client>> {
    let (client, connection) = tokio_postgres::connect(&conninfo, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(Arc::new(client))
}

async fn measure_served(args: &Args, lake: &Path, token: &str) -> Result<Served> {
    let pg_port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let (_server, base) = start_server(args, lake, pg_port)?;

    let http = reqwest::Client::new();
    let url = format!("{base}/api/v1/query");
    let token_http = token.to_owned();
    let (qps, median) = throughput(args.clients, args.seconds, move |_| {
        let (http, url, token) = (http.clone(), url.clone(), token_http.clone());
        async move {
            let r = http
                .post(&url)
                .bearer_auth(&token)
                .json(&serde_json::json!({ "sql": SQL }))
                .send()
                .await?;
            anyhow::ensure!(r.status().is_success(), "HTTP {}", r.status());
            r.bytes().await?;
            Ok(())
        }
    })
    .await?;
    let http = Throughput { qps, median };

    let mut clients = Vec::new();
    for _ in 0..args.clients {
        clients.push(
            connect(format!(
                "host=127.0.0.1 port={pg_port} user=ana password={token} dbname=lagoa"
            ))
            .await?,
        );
    }
    let clients = Arc::new(clients);
    let (qps, median) = throughput(args.clients, args.seconds, move |c| {
        let client = Arc::clone(&clients[c]);
        async move {
            let rows = client.simple_query(SQL).await?;
            anyhow::ensure!(!rows.is_empty());
            Ok(())
        }
    })
    .await?;
    Ok(Served {
        http,
        pg: Throughput { qps, median },
    })
}

/// The reference: the same table and query on PostgreSQL.
struct Reference {
    throughput: Throughput,
    version: String,
}

async fn measure_postgres(args: &Args, data: &[(String, u32, u64)]) -> Result<Reference> {
    let setup = connect(args.postgres.clone()).await?;
    setup
        .batch_execute(
            "DROP TABLE IF EXISTS bench_populacao; CREATE TABLE bench_populacao (municipio text, ano int, habitantes bigint)",
        )
        .await?;
    for chunk in data.chunks(5000) {
        let values: Vec<String> = chunk
            .iter()
            .map(|(m, y, h)| format!("('{m}',{y},{h})"))
            .collect();
        setup
            .batch_execute(&format!(
                "INSERT INTO bench_populacao VALUES {}",
                values.join(",")
            ))
            .await?;
    }
    setup.batch_execute("ANALYZE bench_populacao").await?;
    let reference_sql = SQL.replace("populacao", "bench_populacao");
    let mut clients = Vec::new();
    for _ in 0..args.clients {
        clients.push(connect(args.postgres.clone()).await?);
    }
    let clients = Arc::new(clients);
    let (qps, median) = throughput(args.clients, args.seconds, move |c| {
        let (client, sql) = (Arc::clone(&clients[c]), reference_sql.clone());
        async move {
            client.simple_query(&sql).await?;
            Ok(())
        }
    })
    .await?;
    setup.batch_execute("DROP TABLE bench_populacao").await?;
    let version: String = setup.query_one("SHOW server_version", &[]).await?.get(0);
    Ok(Reference {
        throughput: Throughput { qps, median },
        version,
    })
}

/// Prints the markdown report and writes it with `results.json`.
fn write_report(
    args: &Args,
    rows: usize,
    p: &InProcess,
    served: &Served,
    reference: &Reference,
) -> Result<()> {
    let (http, pg, pg_ref) = (&served.http, &served.pg, &reference.throughput);
    let report = format!(
        "## Governance overhead and throughput\n\n\
Tables `populacao` (amplo) and `obitos` (especial, `cpf` personal): {rows} rows each, encrypted. \
Queries: `{SQL}`; `{SQL_ESPECIAL}` as an analyst of a consumer institution.\n\n\
| in process ({n} runs each) | median ms | p95 ms |\n|---|---|---|\n\
| bare DataFusion session (table registered once) | {:.2} | {:.2} |\n\
| governed: guard, policy, session per query, audit | {:.2} | {:.2} |\n\
| **added by governance** | **{added:.2}** | |\n\
| especial, bare session (`count(DISTINCT lagoa_pseudonym(cpf))`) | {:.2} | {:.2} |\n\
| especial, governed: grant, purpose, `cpf` pseudonymised | {:.2} | {:.2} |\n\
| **added by governance, especial** | **{added_esp:.2}** | |\n\
| of which: one audit append (HMAC chain, catalog write) | {:.2} | |\n\
| of which about: opening a session over the catalog | {:.2} | |\n\n\
| throughput, {clients} clients, {secs} s, loopback | queries/s | median ms | ratio to PostgreSQL |\n|---|---|---|---|\n\
| lagoa HTTP API (JSON) | {:.0} | {:.2} | {r_http:.2} |\n\
| lagoa PostgreSQL port (simple query) | {:.0} | {:.2} | {r_pg:.2} |\n\
| PostgreSQL {pgv} (same table, no index) | {:.0} | {:.2} | 1.00 |\n",
        p.bare.median,
        p.bare.p95,
        p.governed.median,
        p.governed.p95,
        p.bare_especial.median,
        p.bare_especial.p95,
        p.governed_especial.median,
        p.governed_especial.p95,
        p.audit_append.median,
        p.session_open.median,
        http.qps,
        http.median,
        pg.qps,
        pg.median,
        pg_ref.qps,
        pg_ref.median,
        n = args.iterations,
        added = p.governed.median - p.bare.median,
        added_esp = p.governed_especial.median - p.bare_especial.median,
        clients = args.clients,
        secs = args.seconds,
        r_http = http.qps / pg_ref.qps,
        r_pg = pg.qps / pg_ref.qps,
        pgv = reference.version,
    );
    println!("{report}");
    let json = serde_json::json!({
        "rows": rows, "iterations": args.iterations, "clients": args.clients, "seconds": args.seconds,
        "bare_median_ms": p.bare.median, "bare_p95_ms": p.bare.p95,
        "governed_median_ms": p.governed.median, "governed_p95_ms": p.governed.p95,
        "added_median_ms": p.governed.median - p.bare.median,
        "audit_append_median_ms": p.audit_append.median,
        "session_open_median_ms": p.session_open.median,
        "especial_bare_median_ms": p.bare_especial.median,
        "especial_governed_median_ms": p.governed_especial.median,
        "especial_added_median_ms": p.governed_especial.median - p.bare_especial.median,
        "http_qps": http.qps, "http_median_ms": http.median,
        "pg_qps": pg.qps, "pg_median_ms": pg.median,
        "postgres_qps": pg_ref.qps, "postgres_median_ms": pg_ref.median,
    });
    std::fs::write(
        args.workdir.join("results.json"),
        serde_json::to_string_pretty(&json)?,
    )?;
    std::fs::write(args.workdir.join("report.md"), report)?;
    Ok(())
}
