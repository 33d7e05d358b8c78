//! Commands about deliveries: ingest a file, run a configured source,
//! contracts, runs and their quality reports, replay, quarantine.

use anyhow::{Context, Result, anyhow, bail};
use arrow::array::Array;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use lagoa_connectors::Delivery;
use lagoa_connectors::file::FileSourceConfig;
use lagoa_connectors::formats::{Format, FormatOptions};
use lagoa_core::RunStatus;
use lagoa_core::{DatasetName, SharingLevel};
use lagoa_daemon::{RunObserver, SourceFile};
use lagoa_ingest::{InferenceHints, QualityReport, RunOutcome, RunRequest};
use lagoa_lake::Lake;
use lagoa_lake::catalog::model::WriteMode;
use lagoa_lake::catalog::{format_micros, now_micros};
use lagoa_schemas::Contract;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How to read a file given on the command line.
#[derive(Args, Clone, Debug, Default)]
pub struct ReadOptions {
    /// csv, tsv, json, ndjson, xlsx, xls, ods, dbf, dbc, parquet (default: from the extension).
    #[arg(long)]
    pub format: Option<String>,
    /// auto, utf-8, latin1, windows-1252 (CSV, DBF).
    #[arg(long)]
    pub encoding: Option<String>,
    /// CSV field delimiter (sniffed when absent); `tab` for tabs.
    #[arg(long)]
    pub delimiter: Option<String>,
    /// CSV: lines to skip before the header.
    #[arg(long)]
    pub skip_lines: Option<usize>,
    /// CSV: the first line is data, not names.
    #[arg(long)]
    pub no_header: bool,
    /// Spreadsheets: the sheet to read (default: every sheet).
    #[arg(long)]
    pub sheet: Option<String>,
    /// Spreadsheets: 1-based row of the header (default: detected).
    #[arg(long)]
    pub header_row: Option<u32>,
    /// JSON: dotted path to the array of records.
    #[arg(long)]
    pub record_path: Option<String>,
}

impl ReadOptions {
    fn format(&self) -> Result<Option<Format>> {
        self.format
            .as_deref()
            .map(|f| {
                serde_json::from_value::<Format>(serde_json::Value::String(f.to_ascii_lowercase()))
                    .map_err(|_| anyhow!("--format {f:?}: expected csv, tsv, json, ndjson, xlsx, xls, ods, dbf, dbc or parquet"))
            })
            .transpose()
    }

    fn options(&self) -> FormatOptions {
        let mut o = FormatOptions::default();
        o.csv.encoding = self.encoding.clone();
        o.csv.delimiter = self.delimiter.clone();
        o.csv.skip_lines = self.skip_lines.unwrap_or(0);
        if self.no_header {
            o.csv.header = Some(false);
        }
        o.dbf.encoding = self.encoding.clone().filter(|e| e != "auto");
        o.sheet.sheet = self.sheet.clone();
        o.sheet.header_row = self.header_row;
        o.json.record_path = self.record_path.clone();
        o
    }
}

/// What goes into a dataset and how, for a file on the command line.
#[derive(Args, Clone, Debug)]
pub struct IngestArgs {
    pub file: PathBuf,
    #[arg(long)]
    pub dataset: String,
    /// Contract file (else the registered contract in force, else the
    /// dataset's columns, else inference).
    #[arg(long)]
    pub contract: Option<PathBuf>,
    /// The delivery's reference date (YYYY-MM-DD): picks the contract version in force.
    #[arg(long)]
    pub reference_date: Option<String>,
    /// Without a contract: columns holding personal data (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub personal: Vec<String>,
    /// Without a contract: sharing level of a new dataset.
    #[arg(long)]
    pub level: Option<String>,
    /// Without a contract: partition column.
    #[arg(long)]
    pub partition: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
    /// The institution delivering the file: the dataset's provider, whose
    /// stewards categorise it (else the contract's, when it names one).
    #[arg(long)]
    pub provider: Option<String>,
    /// append, replace-partition, full-refresh or upsert (rows replace
    /// the current rows with the same primary key).
    #[arg(long, default_value = "append")]
    pub mode: String,
    /// Upsert: the key's columns, when the contract declares no primary_key
    /// (when it does, they must agree).
    #[arg(long, value_delimiter = ',')]
    pub key: Vec<String>,
    /// Upsert: a column whose value marks the row's key deleted at the
    /// source (true, non-zero, S/sim, or any non-null time).
    #[arg(long)]
    pub delete_column: Option<String>,
    #[command(flatten)]
    pub read: ReadOptions,
}

#[derive(Subcommand)]
pub enum SourceCommand {
    /// Validate a source file (every problem at once) and do a real healthcheck.
    Check { file: PathBuf },
    /// Take every waiting delivery of a source into the lake now.
    Run { file: PathBuf },
}

#[derive(Subcommand)]
pub enum ContractCommand {
    /// Validate a contract file; every problem is named.
    Check { file: PathBuf },
    /// Draft a contract from a sample of a delivery (printed as TOML).
    Infer {
        file: PathBuf,
        #[arg(long)]
        dataset: String,
        #[arg(long, default_value = "especial")]
        level: String,
        #[command(flatten)]
        read: ReadOptions,
    },
    /// Register a contract version in the catalog (announce it ahead of its effective date).
    Register { file: PathBuf },
    /// The registered versions of a dataset's contract, with their effective dates.
    List { dataset: String },
    /// What changes: between two contract files, or between a dataset's
    /// version in force and the next registered one.
    Diff {
        /// A dataset name, or a contract file.
        first: String,
        /// A second contract file (with a file as first).
        second: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum QuarantineCommand {
    /// Runs with rejected rows in quarantine.
    List {
        #[arg(long)]
        dataset: Option<String>,
    },
    /// The rejected rows of a run, with location and reason (decrypted; personal data).
    Show {
        run: String,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Check a run's quarantined rows again (after a contract fix) and admit those that pass.
    Release {
        run: String,
        /// Check against this contract instead of the registered one.
        #[arg(long)]
        contract: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
    Html,
}

pub async fn ingest(lake: &Lake, args: IngestArgs) -> Result<()> {
    let contract = args.contract.as_deref().map(Contract::load).transpose()?;
    if contract.is_some()
        && (!args.personal.is_empty() || args.level.is_some() || args.partition.is_some())
    {
        bail!(
            "--personal, --level and --partition come from the contract when --contract is given"
        );
    }
    let config = FileSourceConfig::single(&args.file, args.read.format()?, args.read.options());
    let deliveries = config.local_deliveries()?;
    let mut request = RunRequest::new(&display_name(&args.file), DatasetName::new(&args.dataset)?);
    request.contract = contract;
    request.provider = args.provider.clone();
    request.reference_date = parse_date(args.reference_date.as_deref())?;
    request.mode = args.mode.parse::<WriteMode>().map_err(|e| anyhow!(e))?;
    if request.mode != WriteMode::Upsert && (!args.key.is_empty() || args.delete_column.is_some()) {
        bail!("--key and --delete-column apply to --mode upsert only");
    }
    request.key = args
        .key
        .iter()
        .map(|k| lagoa_schemas::normalize_column_name(k))
        .collect();
    request.delete_column = args
        .delete_column
        .as_deref()
        .map(lagoa_schemas::normalize_column_name);
    request.hints = InferenceHints {
        level: args.level.map(|l| l.parse::<SharingLevel>()).transpose()?,
        personal: args.personal,
        partition: args.partition,
        description: args.description,
    };
    let mut failed = 0;
    for delivery in deliveries {
        if !run_one(lake, &request, delivery).await? {
            failed += 1;
        }
    }
    if failed > 0 {
        bail!(
            "the delivery was not taken into the lake (see above; `lagoa report <run>` has the details)"
        );
    }
    Ok(())
}

pub async fn source(lake: Option<&Lake>, command: SourceCommand) -> Result<()> {
    match command {
        SourceCommand::Check { file } => {
            let source = SourceFile::load(&file)?;
            if let Some(c) = &source.contract {
                Contract::load(c)?;
            }
            source.source.healthcheck().await?;
            println!("source {} ({}) ok", source.name, source.source.kind());
            Ok(())
        }
        SourceCommand::Run { file } => {
            let lake = lake.ok_or_else(|| anyhow!("no lake"))?;
            let source = SourceFile::load(&file)?;
            let observer = CliObserver::default();
            let run = lagoa_daemon::run_source(lake, &source, "manual", 1, &observer).await?;
            if run.outcomes.is_empty() && run.failures.is_empty() {
                println!("source {}: nothing waiting", source.name);
            }
            let failed =
                run.failures.len() + run.outcomes.iter().filter(|o| !o.succeeded()).count();
            if failed > 0 {
                bail!(
                    "{failed} delivery(ies) of source {} were not taken into the lake",
                    source.name
                );
            }
            Ok(())
        }
    }
}

/// Shows each delivery of a source run: a spinner while it reads, then
/// its outcome.
#[derive(Default)]
pub struct CliObserver {
    bars: std::sync::Mutex<Vec<(String, ProgressBar, std::time::Instant)>>,
}

impl RunObserver for CliObserver {
    fn delivery_started(&self, name: &str) -> lagoa_ingest::Progress {
        let bar = spinner(name);
        let progress_bar = bar.clone();
        if let Ok(mut bars) = self.bars.lock() {
            bars.push((name.to_owned(), bar, std::time::Instant::now()));
        }
        Arc::new(move |rows| progress_bar.set_position(rows))
    }

    fn delivery_finished(
        &self,
        name: &str,
        result: std::result::Result<&RunOutcome, &lagoa_ingest::IngestError>,
    ) {
        let started = self.bars.lock().ok().and_then(|mut bars| {
            let i = bars.iter().position(|(n, _, _)| n == name)?;
            let (_, bar, started) = bars.remove(i);
            bar.finish_and_clear();
            Some(started)
        });
        let elapsed = started.map(|s| s.elapsed()).unwrap_or_default();
        match result {
            Ok(outcome) => print_outcome(name, outcome, elapsed),
            Err(e) => eprintln!("{name}: failed: {e}"),
        }
    }
}

/// Runs one delivery with a progress spinner; prints the outcome. False
/// when the delivery did not become visible.
async fn run_one(lake: &Lake, request: &RunRequest, delivery: Delivery) -> Result<bool> {
    let name = delivery.name().to_owned();
    let bar = spinner(&name);
    let progress_bar = bar.clone();
    let started = std::time::Instant::now();
    let outcome = lagoa_ingest::run_delivery(
        lake,
        request,
        delivery,
        Arc::new(move |rows| progress_bar.set_position(rows)),
    )
    .await;
    bar.finish_and_clear();
    let outcome = outcome?;
    print_outcome(&name, &outcome, started.elapsed());
    Ok(outcome.succeeded())
}

pub fn print_outcome(name: &str, outcome: &RunOutcome, elapsed: std::time::Duration) {
    let run = &outcome.run;
    let secs = elapsed.as_secs_f64().max(1e-9);
    match run.status {
        RunStatus::Committed if outcome.report.upsert.is_some() => {
            let upsert = outcome.report.upsert.clone().unwrap_or_default();
            println!(
                "{name}: upserted {} rows into {} as snapshot {} ({} rejected to quarantine): {} row(s) replaced, {} deleted ({} deletion mark(s), {} repeated key(s) in the delivery) in {:.2}s; run {}",
                run.rows_written,
                run.dataset,
                run.snapshot_id.unwrap_or_default(),
                run.rows_rejected,
                upsert.rows_replaced,
                upsert.rows_deleted,
                upsert.deletion_marks,
                upsert.repeated_keys,
                secs,
                run.run_id
            );
        }
        RunStatus::Committed => println!(
            "{name}: ingested {} rows into {} as snapshot {} ({} rejected to quarantine) in {:.2}s ({:.0} rows/s, {:.1} MB/s); run {}",
            run.rows_written,
            run.dataset,
            run.snapshot_id.unwrap_or_default(),
            run.rows_rejected,
            secs,
            run.rows_read as f64 / secs,
            run.bytes_read as f64 / 1e6 / secs,
            run.run_id
        ),
        RunStatus::AlreadyIngested => println!(
            "{name}: already ingested: this exact delivery was committed to {} in snapshot {}; nothing to do.",
            run.dataset,
            run.snapshot_id.unwrap_or_default()
        ),
        RunStatus::Empty => println!("{name}: nothing new to take into {}", run.dataset),
        status => {
            eprintln!(
                "{name}: {status}: {}; run {}",
                run.error.as_deref().unwrap_or("see the report"),
                run.run_id
            );
            for reason in outcome.report.rejected_by_reason.iter().take(10) {
                eprintln!(
                    "  {} rows: column {}: {} (e.g. {})",
                    reason.rows,
                    reason.column,
                    reason.reason,
                    reason.examples.join(", ")
                );
            }
        }
    }
    for warning in &outcome.report.warnings {
        eprintln!("  warning: {warning}");
    }
}

pub async fn contract(lake: Option<&Lake>, command: ContractCommand) -> Result<()> {
    match command {
        ContractCommand::Check { file } => {
            let c = Contract::load(&file)?;
            println!(
                "contract {} v{} ok: {} columns, level {}, {} personal column(s)",
                c.dataset.name,
                c.version(),
                c.columns.len(),
                c.dataset.level,
                c.personal_columns().len()
            );
            Ok(())
        }
        ContractCommand::Infer {
            file,
            dataset,
            level,
            read,
        } => {
            let config = FileSourceConfig::single(&file, read.format()?, read.options());
            let Some(Delivery::File(delivery)) = config.local_deliveries()?.into_iter().next()
            else {
                bail!("no file at {}", file.display());
            };
            let sample = tokio::task::spawn_blocking(move || -> Result<_> {
                let mut batches = delivery.batches(1000)?;
                Ok(batches.next().transpose()?)
            })
            .await??
            .ok_or_else(|| anyhow!("{} holds no rows", file.display()))?;
            let columns: Vec<(String, Vec<Option<String>>)> = sample
                .batch
                .schema()
                .fields()
                .iter()
                .zip(sample.batch.columns())
                .map(|(f, c)| {
                    let text = arrow::compute::cast(c, &arrow::datatypes::DataType::Utf8)?;
                    let text = text
                        .as_any()
                        .downcast_ref::<arrow::array::StringArray>()
                        .ok_or_else(|| anyhow!("cast to text failed"))?;
                    Ok((
                        f.name().clone(),
                        (0..text.len())
                            .map(|i| text.is_valid(i).then(|| text.value(i).to_owned()))
                            .collect(),
                    ))
                })
                .collect::<Result<_>>()?;
            let borrowed: Vec<(String, Vec<Option<&str>>)> = columns
                .iter()
                .map(|(n, v)| (n.clone(), v.iter().map(|x| x.as_deref()).collect()))
                .collect();
            let (specs, parse) = lagoa_schemas::infer_columns(&borrowed);
            let mut draft = lagoa_ingest::contract_source::contract_from_parts(
                &DatasetName::new(&dataset)?,
                level.parse::<SharingLevel>()?,
                specs,
                parse,
            );
            for column in &mut draft.columns {
                let sample: Vec<&str> = columns
                    .iter()
                    .find(|(n, _)| lagoa_schemas::normalize_column_name(n) == column.name)
                    .map(|(_, v)| v.iter().flatten().map(String::as_str).collect())
                    .unwrap_or_default();
                if !sample.is_empty()
                    && sample
                        .iter()
                        .filter(|v| lagoa_schemas::validators::looks_like_cpf(v))
                        .count()
                        * 2
                        > sample.len()
                {
                    column.personal = Some("pessoal".into());
                    column.validator = Some("cpf".into());
                } else if !sample.is_empty()
                    && sample
                        .iter()
                        .filter(|v| lagoa_schemas::validators::looks_like_cns(v))
                        .count()
                        * 2
                        > sample.len()
                {
                    column.personal = Some("pessoal".into());
                    column.validator = Some("cns".into());
                }
            }
            println!(
                "# Draft contract inferred from {} ({} sample rows).",
                display_name(&file),
                sample.batch.num_rows()
            );
            println!("# Review every column: types, nullability, constraints, personal data.");
            print!("{}", draft.to_toml());
            Ok(())
        }
        ContractCommand::Register { file } => {
            let lake = lake.ok_or_else(|| anyhow!("no lake"))?;
            let c = Contract::load(&file)?;
            lake.catalog
                .register_contract(
                    &c.dataset.name,
                    c.version() as i64,
                    c.dataset.effective_from.as_deref(),
                    &c.to_toml(),
                )
                .await?;
            println!(
                "registered contract {} v{} (in force from {})",
                c.dataset.name,
                c.version(),
                c.dataset.effective_from.as_deref().unwrap_or("now")
            );
            Ok(())
        }
        ContractCommand::List { dataset } => {
            let lake = lake.ok_or_else(|| anyhow!("no lake"))?;
            let today = chrono::Utc::now().date_naive();
            let versions = registered(lake, &dataset).await?;
            let in_force = lagoa_schemas::version_in_force(&versions, today).map(|c| c.version());
            println!("{:>7}  {:<12}  state", "version", "from");
            for c in &versions {
                let from = c.effective_from();
                let state = if Some(c.version()) == in_force {
                    "in force"
                } else if from.is_some_and(|f| f > today) {
                    "announced"
                } else {
                    "superseded"
                };
                println!(
                    "{:>7}  {:<12}  {state}",
                    c.version(),
                    c.dataset.effective_from.as_deref().unwrap_or("-")
                );
            }
            Ok(())
        }
        ContractCommand::Diff { first, second } => {
            let (old, new) = match second {
                Some(second) => (Contract::load(Path::new(&first))?, Contract::load(&second)?),
                None => {
                    let lake = lake.ok_or_else(|| anyhow!("no lake"))?;
                    let today = chrono::Utc::now().date_naive();
                    let versions = registered(lake, &first).await?;
                    let current = lagoa_schemas::version_in_force(&versions, today)
                        .ok_or_else(|| anyhow!("no version of {first} is in force today"))?
                        .clone();
                    let next = versions
                        .iter()
                        .filter(|c| c.version() > current.version())
                        .min_by_key(|c| c.version())
                        .ok_or_else(|| {
                            anyhow!(
                                "no version of {first} after v{} is registered",
                                current.version()
                            )
                        })?
                        .clone();
                    (current, next)
                }
            };
            println!(
                "{} v{} -> v{}{}",
                new.dataset.name,
                old.version(),
                new.version(),
                new.dataset
                    .effective_from
                    .as_deref()
                    .map(|d| format!(" (from {d})"))
                    .unwrap_or_default()
            );
            let changes = lagoa_schemas::diff(&old, &new);
            if changes.is_empty() {
                println!("  no changes");
            }
            for change in changes {
                println!("  - {change}");
            }
            Ok(())
        }
    }
}

async fn registered(lake: &Lake, dataset: &str) -> Result<Vec<Contract>> {
    let versions = lake.catalog.contract_versions(dataset).await?;
    if versions.is_empty() {
        bail!("no contract is registered for {dataset}");
    }
    versions
        .iter()
        .map(|v| {
            Ok(Contract::parse(
                &v.body,
                &format!("{dataset} v{}", v.version),
            )?)
        })
        .collect()
}

pub async fn runs(lake: &Lake, dataset: Option<String>, limit: i64, json: bool) -> Result<()> {
    // A run whose process died is closed before it is listed as running.
    match lake
        .catalog
        .close_abandoned_runs(dataset.as_deref(), None, now_micros())
        .await
    {
        Ok(closed) if !closed.is_empty() => eprintln!(
            "Closed {} run(s) whose process stopped as abandoned.",
            closed.len()
        ),
        Ok(_) => {}
        // A catalog this user may only read still lists.
        Err(e) => tracing::warn!(error = %e, "could not close abandoned runs"),
    }
    let runs = lake.catalog.runs(dataset.as_deref(), limit).await?;
    if json {
        for r in &runs {
            let mut r = r.clone();
            r.report = None;
            println!("{}", serde_json::to_string(&r)?);
        }
        return Ok(());
    }
    println!(
        "{:<36}  {:<20}  {:<16}  {:<16}  {:<9}  {:>9}  {:>9}  {:>8}",
        "run", "started", "source", "dataset", "status", "written", "rejected", "snapshot"
    );
    for r in &runs {
        println!(
            "{:<36}  {:<20}  {:<16}  {:<16}  {:<9}  {:>9}  {:>9}  {:>8}",
            r.run_id,
            format_micros(r.started_at),
            truncate(&r.source, 16),
            truncate(&r.dataset, 16),
            r.status,
            r.rows_written,
            r.rows_rejected,
            r.snapshot_id.map(|s| s.to_string()).unwrap_or_default()
        );
    }
    Ok(())
}

pub async fn report(
    lake: &Lake,
    run: &str,
    format: ReportFormat,
    output: Option<&Path>,
) -> Result<()> {
    let record = lake
        .catalog
        .run(run)
        .await?
        .ok_or_else(|| anyhow!("no run {run}"))?;
    let report: QualityReport = match &record.report {
        Some(json) => serde_json::from_str(json).context("reading the stored report")?,
        None => bail!(
            "run {} has no quality report (status {}: {})",
            record.run_id,
            record.status,
            record.error.as_deref().unwrap_or("")
        ),
    };
    let text = match format {
        ReportFormat::Json => serde_json::to_string_pretty(&report)? + "\n",
        ReportFormat::Html => report.to_html(),
        ReportFormat::Text => report_text(&record, &report),
    };
    match output {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
            println!(
                "wrote the report of run {} to {}",
                record.run_id,
                path.display()
            );
        }
        None => print!("{text}"),
    }
    Ok(())
}

fn report_text(run: &lagoa_lake::catalog::RunRecord, r: &QualityReport) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "run {}  {}  source {}  delivery {}\nstatus {}{}\ncontract v{}  rows read {}  accepted {}  rejected {} ({:.2}%, limit {:.2}%)\n",
        r.run_id,
        r.dataset,
        r.source,
        r.delivery,
        run.status,
        run.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default(),
        r.contract_version.unwrap_or(1),
        r.rows_read,
        r.rows_accepted,
        r.rows_rejected,
        r.rejected_share * 100.0,
        r.max_rejected_share * 100.0
    ));
    if let Some((from, to)) = &r.period {
        out.push_str(&format!("period {from} .. {to}\n"));
    }
    if !r.rejected_by_reason.is_empty() {
        out.push_str("rejected rows by reason:\n");
        for reason in &r.rejected_by_reason {
            out.push_str(&format!(
                "  {:>8}  {}: {} (e.g. {})\n",
                reason.rows,
                reason.column,
                reason.reason,
                reason.examples.join(", ")
            ));
        }
    }
    for d in &r.drift {
        out.push_str(&format!("drift: {} {} ({})\n", d.kind, d.column, d.detail));
    }
    for w in &r.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    out.push_str("columns:\n");
    for c in &r.columns {
        out.push_str(&format!(
            "  {:<24} {:<14} nulls {:>8}  distinct {:>7}{}{}\n",
            c.name,
            c.data_type,
            c.nulls,
            c.distinct,
            if c.distinct_capped { "+" } else { "" },
            match (&c.min, &c.max) {
                (Some(a), Some(b)) => format!("  range {a} .. {b}"),
                _ => String::new(),
            }
        ));
    }
    out
}

pub async fn replay(
    lake: &Lake,
    run: &str,
    contract: Option<PathBuf>,
    read: ReadOptions,
) -> Result<()> {
    let placeholder = DatasetName::new("replay").expect("valid");
    let mut request = RunRequest::new("replay", placeholder);
    request.contract = contract.as_deref().map(Contract::load).transpose()?;
    let started = std::time::Instant::now();
    let outcome =
        lagoa_ingest::replay::replay(lake, run, &read.options(), request, Arc::new(|_| {})).await?;
    print_outcome(&format!("replay of {run}"), &outcome, started.elapsed());
    if !outcome.succeeded() {
        bail!("the replay did not take the delivery into the lake");
    }
    Ok(())
}

pub async fn quarantine(lake: &Lake, command: QuarantineCommand) -> Result<()> {
    match command {
        QuarantineCommand::List { dataset } => {
            let list = lake.catalog.quarantines(dataset.as_deref()).await?;
            println!(
                "{:<36}  {:<16}  {:<20}  {:>8}  released",
                "run", "dataset", "when", "rows"
            );
            for q in &list {
                println!(
                    "{:<36}  {:<16}  {:<20}  {:>8}  {}",
                    q.run_id,
                    truncate(&q.dataset, 16),
                    format_micros(q.created_at),
                    q.row_count,
                    q.released_by_run
                        .as_deref()
                        .map(|r| format!("by run {r}"))
                        .unwrap_or_else(|| "no".into())
                );
            }
            Ok(())
        }
        QuarantineCommand::Show { run, limit, json } => {
            let record = lake
                .catalog
                .run(&run)
                .await?
                .ok_or_else(|| anyhow!("no run {run}"))?;
            let q = lake
                .catalog
                .quarantines(Some(&record.dataset))
                .await?
                .into_iter()
                .find(|q| q.run_id == record.run_id)
                .ok_or_else(|| anyhow!("run {run} has no quarantined rows"))?;
            let rows = lagoa_ingest::read_quarantine(lake, &q.path).await?;
            for row in rows.iter().take(limit) {
                if json {
                    println!("{}", serde_json::to_string(row)?);
                } else {
                    println!(
                        "{}: {}{}  {}",
                        row.location,
                        row.column
                            .as_deref()
                            .map(|c| format!("column {c}: "))
                            .unwrap_or_default(),
                        row.reason,
                        serde_json::Value::Object(row.row.clone())
                    );
                }
            }
            if rows.len() > limit {
                eprintln!("({} more; --limit to see them)", rows.len() - limit);
            }
            Ok(())
        }
        QuarantineCommand::Release { run, contract } => {
            let placeholder = DatasetName::new("release").expect("valid");
            let mut request = RunRequest::new("release", placeholder);
            request.contract = contract.as_deref().map(Contract::load).transpose()?;
            let started = std::time::Instant::now();
            let outcome =
                lagoa_ingest::replay::release_quarantine(lake, &run, request, Arc::new(|_| {}))
                    .await?;
            print_outcome(&format!("quarantine of {run}"), &outcome, started.elapsed());
            if !outcome.succeeded() {
                bail!("no quarantined rows were admitted");
            }
            Ok(())
        }
    }
}

fn parse_date(text: Option<&str>) -> Result<Option<chrono::NaiveDate>> {
    text.map(|t| {
        chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .map_err(|_| anyhow!("--reference-date {t:?}: expected YYYY-MM-DD"))
    })
    .transpose()
}

fn display_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_owned()
    } else {
        text.chars().take(width - 1).collect::<String>() + "…"
    }
}

fn spinner(name: &str) -> ProgressBar {
    let bar = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        ProgressBar::new_spinner()
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}: {pos} rows ({per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(name.to_owned());
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}
