//! The `lagoa` command line: parses arguments and calls the libraries.
//! Everything it does is available to tests through those libraries; the
//! end-to-end tests run this binary itself.

mod access;
mod delivery;
mod demo;
mod governance;
mod indicators;
mod output;
mod schedule;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Parser, Subcommand};
use lagoa_core::DatasetName;
use lagoa_lake::catalog::format_micros;
use lagoa_lake::{AsOf, InitOptions, LOCAL_KEYSTORE_WARNING, Lake};
use output::Format;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "lagoa",
    version,
    about = "Lagoa: a secure data lake for public-sector data offices"
)]
struct Cli {
    /// The lake's directory (holds lagoa.toml).
    #[arg(
        long,
        global = true,
        env = "LAGOA_LAKE",
        default_value = ".",
        hide_env_values = true
    )]
    lake: PathBuf,

    /// Act as the principal of this token (decisions: categorise, request, approve, revoke).
    #[arg(long, global = true, env = "LAGOA_TOKEN", hide_env_values = true)]
    token: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a lake: lagoa.toml, catalog, object store and key store.
    Init {
        /// Directory of the new lake (default: --lake).
        dir: Option<PathBuf>,
        /// Catalog database: sqlite://catalog.db (default) or postgres://user@host/db.
        #[arg(long)]
        catalog: Option<String>,
        /// Object store: file://store (default), memory:// or s3://bucket/prefix.
        #[arg(long)]
        storage: Option<String>,
        /// S3 endpoint for S3-compatible servers.
        #[arg(long)]
        endpoint: Option<String>,
        #[arg(long)]
        region: Option<String>,
        /// Allow a plain http:// S3 endpoint (trusted networks only).
        #[arg(long)]
        allow_http: bool,
        /// Rewrite an existing lagoa.toml (keys and data are kept).
        #[arg(long)]
        force: bool,
        /// Benchmarks only: write unencrypted Parquet.
        #[arg(long, hide = true)]
        insecure_no_encryption: bool,
    },
    /// Take one delivered file into a dataset: CSV/TSV, JSON/NDJSON, XLSX/XLS/ODS,
    /// DBF/DBC or Parquet (also .gz, .zip), checked against its contract.
    Ingest(delivery::IngestArgs),
    /// Configured sources (files, PostgreSQL, MySQL, HTTP APIs).
    Source {
        #[command(subcommand)]
        command: delivery::SourceCommand,
    },
    /// Dataset contracts: check, infer, register versions, diff.
    Contract {
        #[command(subcommand)]
        command: delivery::ContractCommand,
    },
    /// Runs: what was delivered, when, and what became of it.
    Runs {
        #[arg(long)]
        dataset: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// The quality report of a run (to send back to the provider); or
    /// `report consumption --provider P --month YYYY-MM`: who read P's datasets.
    Report {
        /// A run id, or `consumption`.
        run: String,
        #[arg(long, value_enum, default_value = "text")]
        format: delivery::ReportFormat,
        #[arg(long)]
        output: Option<PathBuf>,
        /// consumption: the provider institution.
        #[arg(long)]
        provider: Option<String>,
        /// consumption: the month, YYYY-MM (in console.timezone).
        #[arg(long)]
        month: Option<String>,
    },
    /// Reprocess a run's delivery from the raw zone (after a contract fix).
    Replay {
        run: String,
        /// Check against this contract instead of the registered one.
        #[arg(long)]
        contract: Option<PathBuf>,
        #[command(flatten)]
        read: delivery::ReadOptions,
    },
    /// Rejected rows: list, show, re-admit.
    Quarantine {
        #[command(subcommand)]
        command: delivery::QuarantineCommand,
    },
    /// Publish an amplo dataset as open data: CSV and Parquet files plus
    /// DCAT-AP metadata (catalog.jsonld) for a CKAN portal to harvest.
    Publish {
        dataset: String,
        /// The folder the files go to (served as --base-url).
        #[arg(long)]
        out: PathBuf,
        /// The URL the folder is served under.
        #[arg(long, default_value = "https://dados.example.gov.br/lagoa")]
        base_url: String,
        /// The publisher named in the metadata.
        #[arg(long, default_value = "Escritório de dados")]
        publisher: String,
        /// The licence of the data.
        #[arg(long, default_value = "http://creativecommons.org/licenses/by/4.0/")]
        license: String,
    },
    /// Run read-only SQL over the lake.
    Query {
        sql: String,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// Write the result to a file instead of stdout.
        #[arg(long)]
        output: Option<PathBuf>,
        /// Read an earlier state: a snapshot number or an RFC 3339 time.
        #[arg(long)]
        as_of: Option<String>,
        /// The purpose of this query (with --token; required for especial data).
        #[arg(long)]
        purpose: Option<String>,
    },
    /// List datasets.
    Datasets {
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// List the snapshots of a dataset.
    Snapshots {
        dataset: String,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// List the data files of a dataset.
    Files {
        dataset: String,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Set tags on a dataset (KEY=VALUE ...), or list them when none are given.
    Tag { dataset: String, tags: Vec<String> },
    /// Remove files no snapshot needs: expired snapshots' files and orphans.
    Vacuum {
        #[arg(long)]
        dry_run: bool,
        /// Only remove orphans older than this (default: retention.orphan_min_age).
        #[arg(long)]
        min_age: Option<String>,
    },
    /// Rewrite small files and files with deleted rows (upserts) into
    /// fewer files; earlier snapshots still read the old ones.
    Compact {
        /// Only this dataset (default: every dataset).
        dataset: Option<String>,
        /// Say what would be rewritten, and rewrite nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Master keys: rotation and crypto-shredding.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Deliveries kept in the raw zone (original bytes, encrypted).
    Raw {
        #[command(subcommand)]
        command: RawCommand,
    },
    /// Check the catalog, the object store and the key provider for real.
    Check {
        /// Also read every data file, raw-zone delivery and quarantine in
        /// full: sizes and SHA-256 against the catalog, every encrypted
        /// module authenticated. Exits non-zero naming anything damaged.
        #[arg(long)]
        deep: bool,
    },
    /// Run the configured sources on their schedules until SIGTERM/SIGINT.
    Daemon {
        /// The folder of *.source.toml files (default: daemon.sources in lagoa.toml).
        #[arg(long)]
        sources: Option<PathBuf>,
    },
    /// Run one configured source now, by hand (with its lease and retries).
    Run {
        /// The source's name.
        source: String,
        #[arg(long)]
        sources: Option<PathBuf>,
    },
    /// Configured sources: list with last and next runs, pause, resume.
    Sources {
        #[command(subcommand)]
        command: Option<schedule::SourcesCommand>,
        #[arg(long, global = true)]
        sources: Option<PathBuf>,
    },
    /// Serve the operators' web console (runs, sources, datasets).
    Serve {
        /// Address to listen on (default: console.listen in lagoa.toml).
        #[arg(long)]
        listen: Option<String>,
        #[arg(long)]
        sources: Option<PathBuf>,
    },
    /// Institutions of the agreement (providers, consumers, coordinator).
    Institution {
        #[command(subcommand)]
        command: access::InstitutionCommand,
    },
    /// People and service accounts, with their roles.
    User {
        #[command(subcommand)]
        command: access::UserCommand,
    },
    /// API tokens: issue, list, revoke.
    Token {
        #[command(subcommand)]
        command: access::TokenCommand,
    },
    /// A dataset's categorisation: level, provider, justification (versioned).
    Dataset {
        #[command(subcommand)]
        command: governance::DatasetCommand,
    },
    /// Requests for datasets: file, list (with deadlines), approve, deny.
    Request {
        #[command(subcommand)]
        command: governance::RequestCommand,
    },
    /// Grants from approved requests: list, revoke.
    Grant {
        #[command(subcommand)]
        command: governance::GrantCommand,
    },
    /// The audit trail: verify its chain, list entries.
    Audit {
        #[command(subcommand)]
        command: access::AuditCommand,
    },
    /// Policy indicators: list, run, their runs, verify a run by recomputing it.
    Indicator {
        #[command(subcommand)]
        command: indicators::IndicatorCommand,
    },
    /// A synthetic state: generate its deliveries, or run the whole story on a lake.
    Demo {
        #[command(subcommand)]
        command: demo::DemoCommand,
    },
}

#[derive(Subcommand)]
enum RawCommand {
    /// List deliveries received: when, from which file, and what became of them.
    List {
        #[arg(long)]
        dataset: Option<String>,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Write the original bytes of a delivery to a file.
    Get {
        raw_id: String,
        #[arg(long)]
        output: PathBuf,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Start new master-key versions (new files use them; old files stay readable).
    Rotate {
        #[arg(long)]
        dataset: Option<String>,
    },
    /// Destroy a dataset's master keys: none of its files can be decrypted again.
    Shred {
        dataset: String,
        /// Confirm: this cannot be undone.
        #[arg(long)]
        yes: bool,
    },
    /// List master keys (ids and dates, never key material).
    List,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let long_running = matches!(cli.command, Command::Daemon { .. } | Command::Serve { .. });
    init_logging(long_running);
    std::panic::set_hook(Box::new(move |info| log_panic(info, long_running)));
    // Every thread of the command, the main one included, has the stack a
    // query's threads have: planning recurses on the statement.
    let stack = lagoa_sql::engine::STACK_BYTES;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(stack)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let main = std::thread::Builder::new()
        .name("lagoa".into())
        .stack_size(stack)
        .spawn(move || {
            let outcome = runtime.block_on(run(cli));
            // Blocking work still going (a cancelled query's last batch) does
            // not hold the exit.
            runtime.shutdown_timeout(std::time::Duration::from_secs(2));
            outcome
        });
    match main.map(|t| t.join()) {
        Ok(Ok(Ok(()))) => ExitCode::SUCCESS,
        Ok(Ok(Err(e))) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
        Ok(Err(_)) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: cannot start the main thread: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Panics are logged without their values: the message goes through the
/// same redaction as a query's errors (it could quote a row).
fn log_panic(info: &std::panic::PanicHookInfo<'_>, long_running: bool) {
    let message = info
        .payload()
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| info.payload().downcast_ref::<&str>().copied())
        .unwrap_or("a panic");
    if !long_running
        && message.starts_with("failed printing to stdout")
        && message.contains("Broken pipe")
    {
        // `lagoa runs | head`: the reader closed the pipe. End quietly, as
        // other command-line tools do, with the shell's status for SIGPIPE.
        std::process::exit(141);
    }
    let at = info
        .location()
        .map(|l| format!("{}:{}", l.file(), l.line()))
        .unwrap_or_default();
    let thread = std::thread::current()
        .name()
        .unwrap_or("unnamed")
        .to_owned();
    tracing::error!(%thread, %at, panic = %lagoa_sql::redact::redact(message), "a thread panicked");
}

/// Logs to stderr: human-readable on a terminal, JSON lines otherwise
/// (the daemon under systemd or a container). `LAGOA_LOG` sets the filter
/// (default `info` for the daemon, `warn` for commands).
///
/// Whatever the filter, the query engine's own logs stop at `info`: at
/// `debug` DataFusion and sqlparser print plans and statements with their
/// literals, which may be personal values.
fn init_logging(daemon: bool) {
    use tracing_subscriber::Layer;
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let default = if daemon { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("LAGOA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let engine = Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_target("datafusion", LevelFilter::INFO)
        .with_target("sqlparser", LevelFilter::INFO)
        .with_target("arrow", LevelFilter::INFO)
        .with_target("parquet", LevelFilter::INFO)
        .with_target("sqlx", LevelFilter::WARN);
    let format = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let format = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        format.boxed()
    } else {
        format
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .boxed()
    };
    let _ = tracing_subscriber::registry()
        .with(format.with_filter(filter).with_filter(engine))
        .try_init();
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Init { dir, catalog, storage, endpoint, region, allow_http, force, insecure_no_encryption } => {
            let dir = dir.unwrap_or(cli.lake);
            let options = InitOptions {
                catalog_url: catalog,
                storage_url: storage,
                endpoint,
                region,
                allow_http,
                insecure_no_encryption,
                force,
            };
            let lake = Lake::init(&dir, &options).await?;
            println!("Created a lake in {}", dir.display());
            println!("  configuration  {}", dir.join("lagoa.toml").display());
            println!("  catalog        {}", lake.catalog.location());
            println!("  storage        {}", lake.store.location);
            println!("  keys           {}", dir.join(&lake.config.keys.path).display());
            if lake.uses_local_keystore() {
                eprintln!("\n{}\n", loud(LOCAL_KEYSTORE_WARNING));
            }
            if insecure_no_encryption {
                eprintln!("{}", loud("WARNING: encryption is OFF in this lake. It exists only to measure the cost of encryption."));
            }
            println!("Next: lagoa --lake {} ingest <file.csv> --dataset <name> --level <amplo|corporativo|especial>", dir.display());
            Ok(())
        }
        Command::Ingest(args) => {
            let lake = open(&cli.lake).await?;
            delivery::ingest(&lake, args).await
        }
        Command::Daemon { sources } => {
            let lake = open(&cli.lake).await?;
            let dir = schedule::sources_dir(&cli.lake, &lake, sources);
            schedule::daemon(lake, &dir).await
        }
        Command::Run { source, sources } => {
            let lake = open(&cli.lake).await?;
            let dir = schedule::sources_dir(&cli.lake, &lake, sources);
            schedule::run_now(lake, &dir, &source).await
        }
        Command::Sources { command, sources } => {
            let lake = open(&cli.lake).await?;
            let dir = schedule::sources_dir(&cli.lake, &lake, sources);
            let command = command.unwrap_or(schedule::SourcesCommand::List { json: false });
            schedule::sources(lake, &dir, command).await
        }
        Command::Serve { listen, sources } => {
            let lake = open(&cli.lake).await?;
            let dir = schedule::sources_dir(&cli.lake, &lake, sources);
            schedule::serve(lake, &dir, listen).await
        }
        Command::Institution { command } => access::institution(&open(&cli.lake).await?, cli.token.as_deref(), command).await,
        Command::User { command } => access::user(&open(&cli.lake).await?, cli.token.as_deref(), command).await,
        Command::Token { command } => access::token(&open(&cli.lake).await?, cli.token.as_deref(), command).await,
        Command::Audit { command } => access::audit(&open(&cli.lake).await?, command).await,
        Command::Indicator { command } => indicators::command(&open(&cli.lake).await?, command).await,
        Command::Demo { command } => demo::command(&cli.lake, command).await,
        Command::Dataset { command } => governance::dataset(&open(&cli.lake).await?, cli.token.as_deref(), command).await,
        Command::Request { command } => governance::request(&open(&cli.lake).await?, cli.token.as_deref(), command).await,
        Command::Grant { command } => governance::grant(&open(&cli.lake).await?, cli.token.as_deref(), command).await,
        Command::Source { command } => {
            let lake = match &command {
                delivery::SourceCommand::Run { .. } => Some(open(&cli.lake).await?),
                delivery::SourceCommand::Check { .. } => None,
            };
            delivery::source(lake.as_ref(), command).await
        }
        Command::Contract { command } => {
            let needs_lake = match &command {
                delivery::ContractCommand::Register { .. } | delivery::ContractCommand::List { .. } => true,
                delivery::ContractCommand::Diff { second, .. } => second.is_none(),
                _ => false,
            };
            let lake = if needs_lake { Some(open(&cli.lake).await?) } else { None };
            delivery::contract(lake.as_ref(), command).await
        }
        Command::Runs { dataset, limit, json } => {
            let lake = open(&cli.lake).await?;
            delivery::runs(&lake, dataset, limit, json).await
        }
        Command::Report { run, format, output, provider, month } => {
            let lake = open(&cli.lake).await?;
            if run == "consumption" {
                return governance::consumption(&lake, cli.token.as_deref(), provider, month, format).await;
            }
            delivery::report(&lake, &run, format, output.as_deref()).await
        }
        Command::Replay { run, contract, read } => {
            let lake = open(&cli.lake).await?;
            delivery::replay(&lake, &run, contract, read).await
        }
        Command::Quarantine { command } => {
            let lake = open(&cli.lake).await?;
            delivery::quarantine(&lake, command).await
        }
        Command::Publish { dataset, out, base_url, publisher, license } => {
            let lake = open(&cli.lake).await?;
            governance::publish(&lake, cli.token.as_deref(), &dataset, &out, &lagoa_sql::opendata::PublishOptions {
                base_url: &base_url,
                publisher: &publisher,
                license: &license,
            })
            .await
        }
        Command::Query { sql, format, output, as_of, purpose } => {
            let lake = open(&cli.lake).await?;
            if let Some(token) = cli.token.as_deref() {
                if as_of.is_some() {
                    bail!("--as-of is not available to governed queries yet; drop it or --token");
                }
                let lake = std::sync::Arc::new(lake);
                return governance::query(&lake, token, purpose.as_deref(), &sql, format, output.as_deref()).await;
            }
            // The lake's owner reads everything, but the statement's shape is
            // bounded all the same: a deep one would overflow the planner.
            lagoa_sql::guard::check_shape(&sql, &lagoa_sql::QueryLimits::from_config(&lake.config.query).guard(true))
                .map_err(|d| anyhow!("{d}"))?;
            let as_of = as_of.as_deref().map(parse_as_of).transpose()?.unwrap_or(AsOf::Latest);
            let session = lake.session(&as_of).await?;
            let df = session.sql(&sql).await?;
            output::write(df, format, output.as_deref()).await.map_err(|e| {
                if format!("{e:#}").contains("Resources exhausted") {
                    e.context(format!(
                        "the query needs more memory than query.memory_limit ({}); narrow it, or raise the limit in lagoa.toml or with LAGOA__QUERY__MEMORY_LIMIT",
                        lake.config.query.memory_limit
                    ))
                } else {
                    e
                }
            })?;
            Ok(())
        }
        Command::Datasets { format } => {
            list(&cli.lake, "SELECT name, level, rows, files, bytes, schema_version, personal_columns, partition_column, shredded_at FROM system.datasets ORDER BY name", format).await
        }
        Command::Snapshots { dataset, format } => {
            let dataset = DatasetName::new(dataset)?;
            let lake = open(&cli.lake).await?;
            ensure_dataset_known(&lake, &dataset).await?;
            let sql = format!("SELECT snapshot_id, created_at, operation, summary FROM system.snapshots WHERE dataset = '{dataset}' ORDER BY snapshot_id DESC");
            let session = lake.session(&AsOf::Latest).await?;
            output::write(session.sql(&sql).await?, format, None).await?;
            Ok(())
        }
        Command::Files { dataset, format } => {
            let dataset = DatasetName::new(dataset)?;
            let lake = open(&cli.lake).await?;
            ensure_dataset_known(&lake, &dataset).await?;
            let sql = format!(
                "SELECT path, partition_value, row_count, size_bytes, begin_snapshot, master_key_id FROM system.files WHERE dataset = '{dataset}' ORDER BY begin_snapshot, path"
            );
            let session = lake.session(&AsOf::Latest).await?;
            output::write(session.sql(&sql).await?, format, None).await?;
            Ok(())
        }
        Command::Tag { dataset, tags } => {
            let dataset = DatasetName::new(dataset)?;
            let lake = open(&cli.lake).await?;
            for tag in &tags {
                let (key, value) = tag.split_once('=').ok_or_else(|| anyhow!("tag {tag:?}: write KEY=VALUE"))?;
                let snapshot = lake.catalog.set_tag(&dataset, key.trim(), value.trim()).await?;
                println!("{dataset}: {key} = {value} (snapshot {snapshot})");
            }
            if tags.is_empty() {
                let latest = lake.catalog.resolve(&AsOf::Latest).await?;
                for (key, value) in lake.catalog.tags(&dataset, latest).await? {
                    println!("{key} = {value}");
                }
            }
            Ok(())
        }
        Command::Vacuum { dry_run, min_age } => {
            let lake = open(&cli.lake).await?;
            let min_age = min_age.map(|m| lagoa_lake::config::parse_duration(&m)).transpose().map_err(|e| anyhow!(e))?;
            let report = lake.vacuum(dry_run, min_age).await?;
            let verb = if dry_run { "Would remove" } else { "Removed" };
            for path in &report.expired_files {
                println!("{verb} expired  {path}");
            }
            for path in &report.orphan_files {
                println!("{verb} orphan   {path}");
            }
            for path in &report.partial_uploads {
                println!("{verb} partial  {path}");
            }
            println!(
                "{verb} {} expired and {} orphan file(s) and {} partial upload(s), {}",
                report.expired_files.len(),
                report.orphan_files.len(),
                report.partial_uploads.len(),
                human_bytes(report.bytes)
            );
            Ok(())
        }
        Command::Compact { dataset, dry_run } => {
            let lake = open(&cli.lake).await?;
            let dataset = dataset.map(DatasetName::new).transpose()?;
            let done = lagoa_lake::compact::compact(&lake, dataset.as_ref(), dry_run).await?;
            if done.is_empty() {
                println!("Nothing to compact.");
            }
            let failed = done.iter().filter(|c| c.error.is_some()).count();
            for c in done {
                let what = format!(
                    "{}: {} file(s), {} rows ({} deleted row(s) folded), {}",
                    c.dataset,
                    c.files_before,
                    c.rows,
                    c.deleted_rows,
                    human_bytes(c.bytes_before as u64)
                );
                match (dry_run, c.snapshot, c.skipped, c.error) {
                    (true, ..) => println!("Would compact {what}"),
                    (false, _, _, Some(error)) => eprintln!("Could not compact {what}: {error}"),
                    (false, _, Some(why), None) => println!("Left {what} as is: {why}"),
                    (false, snapshot, None, None) => println!(
                        "Compacted {what} into {} file(s), {} (snapshot {})",
                        c.files_after,
                        human_bytes(c.bytes_after as u64),
                        snapshot.unwrap_or_default()
                    ),
                }
            }
            if failed > 0 {
                bail!("{failed} dataset(s) could not be compacted (see above); nothing of them changed");
            }
            Ok(())
        }
        Command::Keys { command } => {
            let lake = open(&cli.lake).await?;
            match command {
                KeysCommand::Rotate { dataset } => {
                    let dataset = dataset.map(DatasetName::new).transpose()?;
                    let rotated = lake.rotate_keys(dataset.as_ref()).await?;
                    if rotated.is_empty() {
                        println!("No datasets to rotate.");
                    }
                    for (name, ids) in rotated {
                        println!("{name}: new files use {} and {}; earlier versions stay to read existing files", ids.data, ids.personal);
                    }
                    Ok(())
                }
                KeysCommand::Shred { dataset, yes } => {
                    let dataset = DatasetName::new(dataset)?;
                    if !yes {
                        bail!("crypto-shredding destroys every key of {dataset}: none of its data can ever be read again. Re-run with --yes to confirm");
                    }
                    let snapshot = lake.shred(&dataset).await?;
                    println!("Shredded {dataset} (snapshot {snapshot}): its master keys are destroyed and its files can no longer be decrypted.");
                    Ok(())
                }
                KeysCommand::List => {
                    for key in lake.crypto.keys().list()? {
                        println!("{}  dataset={} purpose={} version={} created={}", key.id, key.dataset, key.purpose, key.version, key.created_at);
                    }
                    Ok(())
                }
            }
        }
        Command::Raw { command } => {
            let lake = open(&cli.lake).await?;
            match command {
                RawCommand::List { dataset, json } => {
                    let dataset = dataset.map(DatasetName::new).transpose()?;
                    let deliveries = lake.catalog.raw_deliveries(dataset.as_ref()).await?;
                    if json {
                        for d in &deliveries {
                            println!("{}", serde_json::to_string(d)?);
                        }
                    } else {
                        println!("{:<36}  {:<16}  {:<20}  {:>10}  {:<9}  {:>8}  source / error", "raw_id", "dataset", "received", "bytes", "status", "snapshot");
                        for d in &deliveries {
                            let snapshot = d.snapshot_id.map(|s| s.to_string()).unwrap_or_default();
                            let note = d.error.as_deref().map(|e| format!("{} ({e})", d.source)).unwrap_or_else(|| d.source.clone());
                            println!(
                                "{:<36}  {:<16}  {:<20}  {:>10}  {:<9}  {:>8}  {note}",
                                d.raw_id,
                                d.dataset,
                                format_micros(d.received_at),
                                d.size_bytes,
                                d.status,
                                snapshot
                            );
                        }
                    }
                    Ok(())
                }
                RawCommand::Get { raw_id, output } => {
                    if lake.catalog.raw_delivery(&raw_id).await?.is_none() {
                        bail!("no delivery {raw_id} in the raw zone (see `lagoa raw list`)");
                    }
                    // Written beside the output (readable by its owner only:
                    // it holds the delivery in clear) and moved into place
                    // when complete, so a failure leaves an existing file as
                    // it was. A device or a pipe (/dev/stdout) is written
                    // directly.
                    let special = std::fs::metadata(&output).is_ok_and(|m| !m.is_file());
                    let partial = if special {
                        output.clone()
                    } else {
                        let mut partial = output.clone().into_os_string();
                        partial.push(".partial");
                        PathBuf::from(partial)
                    };
                    let written = async {
                        let file = if special {
                            std::fs::OpenOptions::new().write(true).open(&partial)
                        } else {
                            use std::os::unix::fs::OpenOptionsExt;
                            std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&partial)
                        };
                        let mut file = std::io::BufWriter::new(file.with_context(|| format!("creating {}", partial.display()))?);
                        let bytes = lake.read_raw(&raw_id, &mut file).await?;
                        std::io::Write::flush(&mut file)?;
                        if !special {
                            std::fs::rename(&partial, &output).with_context(|| format!("moving the delivery to {}", output.display()))?;
                        }
                        anyhow::Ok(bytes)
                    }
                    .await;
                    let bytes = written.inspect_err(|_| {
                        if !special {
                            let _ = std::fs::remove_file(&partial);
                        }
                    })?;
                    println!("Wrote {} of delivery {raw_id} to {}", human_bytes(bytes), output.display());
                    Ok(())
                }
            }
        }
        Command::Check { deep } => {
            let lake = open(&cli.lake).await?;
            let report = lake.check().await?;
            println!("catalog  ok  {} (latest snapshot {})", report.catalog, report.latest_snapshot);
            println!("storage  ok  {}", report.store);
            println!("keys     ok  {}", report.keys);
            if deep {
                deep_check(&lake).await?;
            }
            Ok(())
        }
    }
}

/// `check --deep`, with a progress bar on a terminal.
async fn deep_check(lake: &Lake) -> Result<()> {
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} verifying {pos}/{len} objects {wide_bar} {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let progress = {
        let bar = bar.clone();
        move |done: u64, total: u64| {
            bar.set_length(total);
            bar.set_position(done);
        }
    };
    let report = lagoa_lake::deep_check::deep_check(lake, &progress).await?;
    bar.finish_and_clear();
    for d in &report.damaged {
        let snapshot = d
            .snapshot_id
            .map(|s| format!(", snapshot {s}"))
            .unwrap_or_default();
        println!(
            "DAMAGED  {} of dataset {}{snapshot}: {} {}",
            d.kind, d.dataset, d.path, d.problem
        );
    }
    if !report.damaged.is_empty() {
        bail!(
            "{} of {} object(s) damaged: restore them from a backup of the store, or replay the deliveries from the raw zone",
            report.damaged.len(),
            report.objects
        );
    }
    println!(
        "deep     ok  {} object(s), {} read, sizes, SHA-256 and every encrypted module verified",
        report.objects,
        human_bytes(report.bytes)
    );
    Ok(())
}

async fn open(dir: &Path) -> Result<Lake> {
    Ok(Lake::open(dir).await?)
}

async fn ensure_dataset_known(lake: &Lake, dataset: &DatasetName) -> Result<()> {
    let latest = lake.catalog.resolve(&AsOf::Latest).await?;
    if lake.catalog.dataset(dataset, latest).await?.is_none() {
        bail!(lagoa_lake::LakeError::UnknownDataset(dataset.to_string()));
    }
    Ok(())
}

async fn list(dir: &Path, sql: &str, format: Format) -> Result<()> {
    let lake = open(dir).await?;
    let session = lake.session(&AsOf::Latest).await?;
    output::write(session.sql(sql).await?, format, None).await?;
    Ok(())
}

fn parse_as_of(text: &str) -> Result<AsOf> {
    if let Ok(id) = text.parse::<i64>() {
        return Ok(AsOf::Snapshot(id));
    }
    let time = chrono::DateTime::parse_from_rfc3339(text)
        .map_err(|_| anyhow!("--as-of {text:?}: give a snapshot number or an RFC 3339 time like 2026-11-22T10:00:00-03:00"))?;
    Ok(AsOf::Time(time.timestamp_micros()))
}

fn loud(text: &str) -> String {
    let line = "!".repeat(78);
    format!("{line}\n{text}\n{line}")
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
