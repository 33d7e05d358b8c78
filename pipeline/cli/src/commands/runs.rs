//! `lagoa runs`, `report`, `replay` and `quarantine`: what became of the
//! deliveries, the quality report to send back, and the second chances.

use super::ingest::{ReadOptions, print_outcome};
use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use lagoa_core::DatasetName;
use lagoa_ingest::{QualityReport, RunRequest};
use lagoa_lake::Lake;
use lagoa_lake::catalog::{format_micros, now_micros};
use lagoa_schemas::Contract;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Args)]
pub(super) struct RunsArgs {
    /// Only the runs of this dataset.
    #[arg(long)]
    dataset: Option<String>,
    /// How many runs, newest first.
    #[arg(long, default_value_t = 50)]
    limit: i64,
    /// One JSON object per line.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub(super) struct ReportArgs {
    /// A run id, or `consumption`.
    pub run: String,
    /// text for the terminal, json for scripts, html to send the provider.
    #[arg(long, value_enum, default_value = "text")]
    pub format: ReportFormat,
    /// Write the report to this file instead of stdout.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// consumption: the provider institution.
    #[arg(long)]
    pub provider: Option<String>,
    /// consumption: the month, YYYY-MM (in console.timezone).
    #[arg(long)]
    pub month: Option<String>,
}

#[derive(Args)]
pub(super) struct ReplayArgs {
    /// The run whose delivery to take again.
    run: String,
    /// Check against this contract instead of the registered one.
    #[arg(long)]
    contract: Option<PathBuf>,
    #[command(flatten)]
    read: ReadOptions,
}

#[derive(Subcommand)]
pub(super) enum QuarantineCommand {
    /// Runs with rejected rows in quarantine.
    List {
        /// Only the runs of this dataset.
        #[arg(long)]
        dataset: Option<String>,
    },
    /// The rejected rows of a run, with location and reason (decrypted; personal data).
    Show {
        /// The run's id (from `lagoa quarantine list`).
        run: String,
        /// At most this many rows.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Check a run's quarantined rows again (after a contract fix) and admit those that pass.
    Release {
        /// The run whose quarantined rows to check again.
        run: String,
        /// Check against this contract instead of the registered one.
        #[arg(long)]
        contract: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub(super) enum ReportFormat {
    Text,
    Json,
    Html,
}

pub(super) async fn runs(lake: &Lake, args: RunsArgs) -> Result<()> {
    let RunsArgs {
        dataset,
        limit,
        json,
    } = args;
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

pub(super) async fn report(lake: &Lake, args: &ReportArgs) -> Result<()> {
    let (run, format, output) = (args.run.as_str(), args.format, args.output.as_deref());
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
        ReportFormat::Html => lagoa_ingest::report_html(&report),
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

pub(super) async fn replay(lake: &Lake, args: ReplayArgs) -> Result<()> {
    let ReplayArgs {
        run,
        contract,
        read,
    } = args;
    // The replay names the dataset of the run it replays.
    let mut request = RunRequest::new("replay", DatasetName::new("replay")?);
    request.contract = contract.as_deref().map(Contract::load).transpose()?;
    let started = std::time::Instant::now();
    let outcome =
        lagoa_ingest::replay::replay(lake, &run, &read.options(), request, Arc::new(|_| {}))
            .await?;
    print_outcome(&format!("replay of {run}"), &outcome, started.elapsed());
    if !outcome.succeeded() {
        bail!("the replay did not take the delivery into the lake");
    }
    Ok(())
}

pub(super) async fn quarantine(lake: &Lake, command: QuarantineCommand) -> Result<()> {
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
            // The release names the dataset of the run it releases.
            let mut request = RunRequest::new("release", DatasetName::new("release")?);
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

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_owned()
    } else {
        text.chars().take(width - 1).collect::<String>() + "…"
    }
}
