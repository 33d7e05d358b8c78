//! A catalog that does not slow down with history (issue 22's benchmark).
//!
//! On the embedded SQLite catalog and on PostgreSQL, one lake's catalog is
//! grown to 10, 1 000 and 100 000 deliveries. Each delivery replaces one
//! partition (a month) of one of ten datasets with ten files, as a
//! municipality re-delivering a period does: the files it replaces end at
//! its snapshot and stay in the catalog for time travel, so history grows
//! (1 M files and 100 k snapshots at the largest size) while each dataset
//! keeps 120 live files. At each size:
//!
//! - opening the lake's session, and that plus planning a query on one
//!   dataset (the physical plan: files pruned, scan built);
//! - the same through a reader's governed session;
//! - the same as of a time in the middle of the history;
//! - a commit of one more delivery through the catalog's real commit path.
//!
//! The first ten deliveries are real commits; the rest are written in bulk
//! with SQL into the same tables (snapshots, files, their statistics, the
//! deliveries' fingerprints) as the commit path would leave them. No data
//! file exists: planning reads only the catalog. Prints a markdown report
//! and writes `results.json` in the work folder.

use anyhow::{Context, Result, bail};
use clap::Parser;
use lagoa_lake::catalog::model::{
    ColumnDef, ColumnStats, CommitRequest, DatasetSpec, NewDataFile, WriteMode,
};
use lagoa_lake::{AsOf, Lake};
use sqlx::Connection;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Datasets the deliveries go to, and months each is partitioned into.
const DATASETS: i64 = 10;
const MONTHS: i64 = 12;
const QUERY: &str = "SELECT count(*), sum(valor) FROM ds_3 WHERE mes = 5";

#[derive(Parser)]
struct Args {
    /// Work folder (emptied first).
    #[arg(long, default_value = "bench-data/catalog")]
    workdir: PathBuf,
    /// Catalog sizes, in deliveries, measured in turn.
    #[arg(long, value_delimiter = ',', default_value = "10,1000,100000")]
    sizes: Vec<i64>,
    /// Files each delivery writes.
    #[arg(long, default_value_t = 10)]
    files_per_delivery: i64,
    /// Timed runs of each measurement at each size.
    #[arg(long, default_value_t = 20)]
    iterations: usize,
    /// The PostgreSQL server whose catalog is measured (a database is
    /// created on it and dropped at the end); `none` measures SQLite only.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    postgres: String,
    /// Keep the PostgreSQL database afterwards (its name is printed), to
    /// look into the generated catalog.
    #[arg(long)]
    keep_database: bool,
}

#[derive(Clone, Copy, serde::Serialize)]
struct Latency {
    median_ms: f64,
    p95_ms: f64,
}

impl Latency {
    fn of(mut samples: Vec<Duration>) -> Latency {
        samples.sort();
        let at = |q: f64| {
            let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
            samples.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        };
        Latency {
            median_ms: at(0.5),
            p95_ms: at(0.95),
        }
    }
}

#[derive(serde::Serialize)]
struct Measured {
    backend: &'static str,
    deliveries: i64,
    snapshots: i64,
    files: i64,
    live_files_of_queried: i64,
    session_open: Latency,
    session_open_and_plan: Latency,
    governed_open_and_plan: Latency,
    time_travel_open_and_plan: Latency,
    /// Data-file rows one open and plan reads from the catalog.
    file_rows_per_plan: u64,
    commit: Latency,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if args.workdir.exists() {
        std::fs::remove_dir_all(&args.workdir)?;
    }
    std::fs::create_dir_all(&args.workdir)?;
    let mut results = Vec::new();
    results.extend(measure_backend(&args, None).await?);
    if args.postgres != "none" {
        let database = format!("lagoa_bench_catalog_{}", std::process::id());
        let mut admin = sqlx::PgConnection::connect(&args.postgres)
            .await
            .with_context(|| format!("PostgreSQL at {}", args.postgres))?;
        sqlx::query(&format!("CREATE DATABASE {database}"))
            .execute(&mut admin)
            .await?;
        let base = args.postgres.rsplit_once('/').map_or("", |(b, _)| b);
        let measured = measure_backend(&args, Some(format!("{base}/{database}"))).await;
        if args.keep_database {
            eprintln!("kept the PostgreSQL database {database}");
        } else {
            sqlx::query(&format!("DROP DATABASE {database} WITH (FORCE)"))
                .execute(&mut admin)
                .await?;
        }
        results.extend(measured?);
    }
    print_report(&args, &results);
    std::fs::write(
        args.workdir.join("results.json"),
        serde_json::to_string_pretty(&results)?,
    )?;
    Ok(())
}

async fn measure_backend(args: &Args, postgres: Option<String>) -> Result<Vec<Measured>> {
    let backend = if postgres.is_some() {
        "postgresql"
    } else {
        "sqlite"
    };
    let dir = args.workdir.join(backend);
    let lake = Lake::init(
        &dir,
        &lagoa_lake::InitOptions {
            catalog_url: postgres.clone(),
            ..Default::default()
        },
    )
    .await?;
    lake.catalog.migrate().await?;
    let url = postgres.unwrap_or_else(|| sqlite_url(&lake, &dir));
    let sql = sqlx::AnyPool::connect(&url).await?;
    let mut results = Vec::new();
    for &size in &args.sizes {
        let now = deliveries(&sql).await?;
        if size < now || size < DATASETS {
            bail!("sizes must grow, from {DATASETS} on: {size} after {now}");
        }
        let seeded = now.min(DATASETS);
        for _ in seeded..DATASETS.min(size) {
            commit_next(&lake, &sql, args.files_per_delivery).await?;
        }
        generate(
            &sql,
            size - deliveries(&sql).await?,
            args.files_per_delivery,
        )
        .await?;
        eprintln!("{backend}: {size} deliveries, measuring");
        results.push(measure_size(args, &lake, &sql, backend, size).await?);
    }
    Ok(results)
}

fn sqlite_url(lake: &Lake, dir: &Path) -> String {
    let url = &lake.config.catalog.url;
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let file = if rest.starts_with('/') {
        PathBuf::from(rest)
    } else {
        dir.join(rest)
    };
    format!("sqlite://{}", file.display())
}

async fn scalar(sql: &sqlx::AnyPool, query: &str) -> Result<i64> {
    Ok(sqlx::query_scalar::<_, i64>(query).fetch_one(sql).await?)
}

/// Deliveries so far: one snapshot each.
async fn deliveries(sql: &sqlx::AnyPool) -> Result<i64> {
    scalar(
        sql,
        "SELECT COALESCE(MAX(snapshot_id), 0) FROM lagoa_snapshot",
    )
    .await
}

/// Where snapshot `s`'s delivery goes: a dataset and a month, so that the
/// next delivery of the same month of the same dataset is `s + 120`.
fn target_of(snapshot: i64) -> (i64, i64) {
    (snapshot % DATASETS, (snapshot / DATASETS) % MONTHS + 1)
}

fn spec(dataset: i64) -> Result<DatasetSpec> {
    let column = |name: &str, data_type: &str| ColumnDef {
        name: name.into(),
        data_type: data_type.into(),
        nullable: true,
        personal: None,
    };
    Ok(DatasetSpec {
        name: lagoa_core::DatasetName::new(format!("ds_{dataset}"))?,
        level: lagoa_core::SharingLevel::Amplo,
        description: "catalog benchmark".into(),
        partition_column: Some("mes".into()),
        columns: vec![
            column("municipio", "Utf8"),
            column("ano", "Int64"),
            column("mes", "Int64"),
            column("valor", "Float64"),
        ],
    })
}

/// Statistics as a writer records them (the same values the bulk rows get).
fn stats(month: i64) -> Vec<ColumnStats> {
    let stat = |column: &str, min: String, max: String| ColumnStats {
        column: column.into(),
        null_count: Some(0),
        min: Some(min),
        max: Some(max),
    };
    vec![
        stat("municipio", "260005".into(), "269999".into()),
        stat("ano", "2015".into(), "2024".into()),
        stat("mes", month.to_string(), month.to_string()),
        stat("valor", "0.5".into(), "99.5".into()),
    ]
}

/// One delivery through the catalog's commit path: the next snapshot's
/// month of its dataset, replacing what that month held. Returns how long
/// the commit took.
async fn commit_next(lake: &Lake, sql: &sqlx::AnyPool, files: i64) -> Result<Duration> {
    let snapshot = deliveries(sql).await? + 1;
    let (dataset, month) = target_of(snapshot);
    let files = (0..files)
        .map(|j| {
            let id = uuid::Uuid::now_v7().to_string();
            NewDataFile {
                path: format!("tables/ds_{dataset}/mes={month}/{id}.parquet"),
                file_id: id,
                partition_value: Some(month.to_string()),
                row_count: 1000,
                size_bytes: 100_000 + j,
                sha256: String::new(),
                master_key_id: Some(format!("lagoa.ds_{dataset}.data.v1")),
                stats: stats(month),
            }
        })
        .collect();
    let request = CommitRequest {
        spec: spec(dataset)?,
        mode: WriteMode::ReplacePartition,
        files,
        fingerprint: Some(format!("sha256:commit-{snapshot}")),
        source: format!("entrega-{snapshot}.csv"),
        watermark: None,
        raw: None,
        quarantine: None,
        run_id: None,
        release_of: None,
        contract: None,
        digests: Vec::new(),
        deletes: Vec::new(),
        replaces: Vec::new(),
        planned_at: None,
    };
    let started = Instant::now();
    lake.catalog.commit(&request).await?;
    let took = started.elapsed();
    if deliveries(sql).await? != snapshot {
        bail!("another writer committed during the benchmark");
    }
    Ok(took)
}

/// `count` more deliveries written in bulk, in batches, as the commit path
/// would have left them.
async fn generate(sql: &sqlx::AnyPool, count: i64, files: i64) -> Result<()> {
    const BATCH: i64 = 10_000;
    let mut left = count;
    while left > 0 {
        let n = left.min(BATCH);
        generate_batch(sql, n, files).await?;
        left -= n;
    }
    if sql.connect_options().database_url.scheme() == "postgres" {
        // What autovacuum does in a catalog that grew over years; right
        // after a bulk update, the live-files index still points at every
        // row version the update replaced.
        sqlx::query("VACUUM ANALYZE").execute(sql).await?;
    }
    Ok(())
}

async fn generate_batch(sql: &sqlx::AnyPool, n: i64, files: i64) -> Result<()> {
    let first = deliveries(sql).await? + 1;
    let last = first + n - 1;
    let created = lagoa_lake::catalog::now_micros() - n;
    let cycle = DATASETS * MONTHS;
    // The integers from..to (excluded), as rows `n(i)`.
    let numbers = |from: i64, to: i64| {
        format!(
            "WITH RECURSIVE n(i) AS (SELECT {from} UNION ALL SELECT i + 1 FROM n WHERE i + 1 < {to})"
        )
    };
    // Dataset ids are 1..=10 in creation order (snapshot 10 created ds_0).
    let dataset_id = |s: &str| {
        format!("(CASE WHEN {s} % {DATASETS} = 0 THEN {DATASETS} ELSE {s} % {DATASETS} END)")
    };
    let month = |s: &str| format!("(({s} / {DATASETS}) % {MONTHS} + 1)");
    // File i belongs to snapshot i / files + 1.
    let file_snapshot = format!("(i / {files} + 1)");
    let mode = WriteMode::ReplacePartition.as_str();
    let statements = [
        format!(
            "INSERT INTO lagoa_snapshot (snapshot_id, created_at, dataset_id, operation, summary)
             {} SELECT i, {created} + i - {first}, {}, '{mode}', '{{\"files_added\":{files}}}' FROM n",
            numbers(first, last + 1),
            dataset_id("i"),
        ),
        format!(
            "INSERT INTO lagoa_delivery (dataset_id, fingerprint, snapshot_id, source, rows_written, created_at)
             {} SELECT {}, 'sha256:bulk-' || i, i, 'entrega.csv', {}, {created} + i - {first} FROM n",
            numbers(first, last + 1),
            dataset_id("i"),
            1000 * files,
        ),
        format!(
            "INSERT INTO lagoa_data_file (file_id, dataset_id, path, partition_value, row_count, size_bytes, schema_version, master_key_id, begin_snapshot)
             {} SELECT 'bulk-' || i, {}, 'tables/bulk/' || i || '.parquet', CAST({} AS TEXT), 1000, 100000, 1, 'lagoa.bulk.data.v1', {file_snapshot} FROM n",
            numbers((first - 1) * files, last * files),
            dataset_id(&file_snapshot),
            month(&file_snapshot),
        ),
        // What a replace-partition commit does to the month it replaces.
        format!(
            "UPDATE lagoa_data_file SET end_snapshot = begin_snapshot + {cycle}
              WHERE end_snapshot IS NULL AND begin_snapshot + {cycle} BETWEEN {first} AND {last}"
        ),
        format!(
            "INSERT INTO lagoa_file_column_stats (file_id, column_id, null_count, min_value, max_value)
             SELECT f.file_id, c.column_id, 0,
                    CASE c.name WHEN 'municipio' THEN '260005' WHEN 'ano' THEN '2015' WHEN 'mes' THEN f.partition_value ELSE '0.5' END,
                    CASE c.name WHEN 'municipio' THEN '269999' WHEN 'ano' THEN '2024' WHEN 'mes' THEN f.partition_value ELSE '99.5' END
               FROM lagoa_data_file f
               JOIN lagoa_column c ON c.dataset_id = f.dataset_id AND c.end_snapshot IS NULL
              WHERE f.begin_snapshot BETWEEN {first} AND {last}"
        ),
    ];
    let mut tx = sql.begin().await?;
    for statement in &statements {
        sqlx::query(statement)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("generating: {statement}"))?;
    }
    tx.commit().await?;
    Ok(())
}

/// Opens a session, plans [`QUERY`], and returns the time each took.
async fn open_and_plan(
    lake: &Lake,
    as_of: &AsOf,
    reader: Option<&lagoa_governance::policy::Reader>,
) -> Result<(Duration, Duration)> {
    let started = Instant::now();
    let ctx = match reader {
        None => {
            lagoa_lake::session::LakeSession::open(lake, as_of)
                .await?
                .ctx
        }
        Some(reader) => {
            lagoa_sql::session::GovernedSession::open(lake, reader, &[], 1 << 20, (*as_of, None))
                .await?
                .ctx
        }
    };
    let opened = started.elapsed();
    let plan = ctx.sql(QUERY).await?.create_physical_plan().await?;
    let planned = started.elapsed();
    if !format!(
        "{}",
        datafusion::physical_plan::displayable(plan.as_ref()).indent(false)
    )
    .contains("LakeScanExec")
    {
        bail!("the plan does not scan the lake");
    }
    Ok((opened, planned))
}

async fn measure_size(
    args: &Args,
    lake: &Lake,
    sql: &sqlx::AnyPool,
    backend: &'static str,
    size: i64,
) -> Result<Measured> {
    let reader = lagoa_governance::policy::Reader {
        principal: "bench".into(),
        institution: "educ".into(),
        role: lagoa_core::Role::Analyst,
        purpose: None,
        coordinator: false,
    };
    // A time in the middle of the history.
    let middle = scalar(
        sql,
        &format!(
            "SELECT created_at FROM lagoa_snapshot WHERE snapshot_id = {}",
            (size / 2).max(1)
        ),
    )
    .await?;
    let then = AsOf::Time(middle);
    for _ in 0..3 {
        open_and_plan(lake, &AsOf::Latest, None).await?;
        open_and_plan(lake, &AsOf::Latest, Some(&reader)).await?;
    }
    let live_files_of_queried = scalar(
        sql,
        "SELECT count(*) FROM lagoa_data_file f JOIN lagoa_dataset d ON d.dataset_id = f.dataset_id
          WHERE d.name = 'ds_3' AND f.end_snapshot IS NULL",
    )
    .await?;
    let read_before = lake.catalog.file_rows_read();
    open_and_plan(lake, &AsOf::Latest, None).await?;
    let file_rows_per_plan = lake.catalog.file_rows_read() - read_before;
    let mut samples: [Vec<Duration>; 5] = Default::default();
    for _ in 0..args.iterations {
        let (opened, planned) = open_and_plan(lake, &AsOf::Latest, None).await?;
        samples[0].push(opened);
        samples[1].push(planned);
        samples[2].push(open_and_plan(lake, &AsOf::Latest, Some(&reader)).await?.1);
        samples[3].push(open_and_plan(lake, &then, None).await?.1);
        samples[4].push(commit_next(lake, sql, args.files_per_delivery).await?);
    }
    let [open, plan, governed, travel, commit] = samples.map(Latency::of);
    Ok(Measured {
        backend,
        deliveries: deliveries(sql).await?,
        snapshots: scalar(sql, "SELECT count(*) FROM lagoa_snapshot").await?,
        files: scalar(sql, "SELECT count(*) FROM lagoa_data_file").await?,
        live_files_of_queried,
        session_open: open,
        session_open_and_plan: plan,
        governed_open_and_plan: governed,
        time_travel_open_and_plan: travel,
        file_rows_per_plan,
        commit,
    })
}

fn print_report(args: &Args, results: &[Measured]) {
    println!("## Catalog against history\n");
    println!(
        "{} deliveries of {} files each over {DATASETS} datasets, each replacing one month; \
         median (p95) of {} runs, milliseconds. The query: `{QUERY}`.\n",
        args.sizes
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(" / "),
        args.files_per_delivery,
        args.iterations,
    );
    println!(
        "| catalog | deliveries | snapshots | files | live files of ds_3 | files read per plan | open | open + plan | governed open + plan | as of a past time | commit |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let cell = |l: &Latency| format!("{:.1} ({:.1})", l.median_ms, l.p95_ms);
    for m in results {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            m.backend,
            m.deliveries,
            m.snapshots,
            m.files,
            m.live_files_of_queried,
            m.file_rows_per_plan,
            cell(&m.session_open),
            cell(&m.session_open_and_plan),
            cell(&m.governed_open_and_plan),
            cell(&m.time_travel_open_and_plan),
            cell(&m.commit),
        );
    }
}
