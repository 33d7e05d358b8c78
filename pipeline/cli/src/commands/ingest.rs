//! `lagoa ingest` and `lagoa source`: take a delivered file, or every
//! waiting delivery of a configured source, into the lake.

use anyhow::{Result, anyhow, bail};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use lagoa_connectors::Delivery;
use lagoa_connectors::file::FileSourceConfig;
use lagoa_connectors::formats::{Format, FormatOptions};
use lagoa_core::{DatasetName, RunStatus, SharingLevel};
use lagoa_daemon::{RunObserver, SourceFile};
use lagoa_ingest::{InferenceHints, RunOutcome, RunRequest};
use lagoa_lake::Lake;
use lagoa_lake::catalog::model::WriteMode;
use lagoa_schemas::Contract;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How to read a file given on the command line.
#[derive(Args, Clone, Debug, Default)]
pub(super) struct ReadOptions {
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
    pub(super) fn format(&self) -> Result<Option<Format>> {
        self.format
            .as_deref()
            .map(|f| {
                serde_json::from_value::<Format>(serde_json::Value::String(f.to_ascii_lowercase()))
                    .map_err(|_| anyhow!("--format {f:?}: expected csv, tsv, json, ndjson, xlsx, xls, ods, dbf, dbc or parquet"))
            })
            .transpose()
    }

    pub(super) fn options(&self) -> FormatOptions {
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
pub(super) struct IngestArgs {
    /// The delivered file (compressed or not; the format from its name).
    pub file: PathBuf,
    /// The dataset it goes into (created by its first delivery).
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
    /// Without a contract: what a new dataset holds, in a sentence.
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
pub(super) enum SourceCommand {
    /// Validate a source file (every problem at once) and do a real healthcheck.
    Check {
        /// The source's *.source.toml file.
        file: PathBuf,
    },
    /// Take every waiting delivery of a source into the lake now.
    Run {
        /// The source's *.source.toml file.
        file: PathBuf,
    },
}

impl SourceCommand {
    /// Whether the command reads or writes the lake.
    pub(super) fn needs_lake(&self) -> bool {
        match self {
            SourceCommand::Run { .. } => true,
            SourceCommand::Check { .. } => false,
        }
    }
}

pub(super) async fn ingest(lake: &Lake, args: IngestArgs) -> Result<()> {
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

pub(super) async fn source(lake: Option<&Lake>, command: SourceCommand) -> Result<()> {
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
#[derive(Debug, Default)]
pub(super) struct CliObserver {
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

pub(super) fn print_outcome(name: &str, outcome: &RunOutcome, elapsed: std::time::Duration) {
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

fn parse_date(text: Option<&str>) -> Result<Option<chrono::NaiveDate>> {
    text.map(|t| {
        chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .map_err(|_| anyhow!("--reference-date {t:?}: expected YYYY-MM-DD"))
    })
    .transpose()
}

pub(super) fn display_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
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
