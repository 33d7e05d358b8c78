//! `lagoa indicator`: the lake's policy indicators (`<lake>/indicators/*.sql`):
//! list them, run them, their runs, and recompute a past run to check it.

use anyhow::{Result, anyhow, bail};
use lagoa_lake::Lake;
use lagoa_lake::catalog::format_micros;
use lagoa_sql::indicators::{self, Indicator, RunOptions};
use std::collections::BTreeMap;

#[derive(clap::Subcommand)]
pub(super) enum IndicatorCommand {
    /// Copy Lagoa's reference indicators into the lake's indicators folder
    /// (files already there are kept).
    Init,
    /// Every indicator: title, unit, sources, trigger, minimum cell size,
    /// and whether its sources changed since its last run.
    List,
    /// One indicator: its header, parameters and latest runs.
    Show {
        /// The indicator's name (from `lagoa indicator list`).
        name: String,
    },
    /// Run indicators now: the named ones, or all of them.
    Run {
        /// The indicators to run, by name.
        names: Vec<String>,
        /// Every indicator of the lake's indicators folder.
        #[arg(long)]
        all: bool,
        /// Only those whose sources changed since their last run.
        #[arg(long)]
        stale: bool,
        /// A parameter's value (NAME=VALUE; repeat for more).
        #[arg(long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
    },
    /// Runs: when, what was read, what was suppressed and published.
    Runs {
        /// Only this indicator's runs.
        name: Option<String>,
        /// At most this many runs, newest first.
        #[arg(long, default_value_t = 20)]
        limit: i64,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Recompute a run from the inputs it recorded and compare with what it published.
    Verify {
        /// The run's id (from `lagoa indicator runs`).
        run_id: String,
    },
}

fn load(lake: &Lake) -> Result<Vec<Indicator>> {
    let dir = indicators::dir_of(lake);
    let all = indicators::load_dir(&dir)?;
    if all.is_empty() {
        bail!(
            "no indicator in {} (copy Lagoa's reference set there with `lagoa indicator init`, or write your own: docs/data-office.md)",
            dir.display()
        );
    }
    Ok(all)
}

fn find<'a>(all: &'a [Indicator], name: &str) -> Result<&'a Indicator> {
    all.iter().find(|i| i.name == name).ok_or_else(|| {
        let names: Vec<&str> = all.iter().map(|i| i.name.as_str()).collect();
        anyhow!("no indicator {name:?} (indicators: {})", names.join(", "))
    })
}

fn parse_params(params: &[String]) -> Result<BTreeMap<String, String>> {
    params
        .iter()
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .ok_or_else(|| anyhow!("--param {p:?}: write NAME=VALUE"))
        })
        .collect()
}

/// Who runs indicators from the command line, for the audit trail.
fn actor() -> String {
    super::access::cli_actor().principal
}

/// Runs `indicators`, printing a line each; an error names every failure.
pub(super) async fn run_all(
    lake: &Lake,
    selected: &[&Indicator],
    parameters: &BTreeMap<String, String>,
    trigger: &str,
) -> Result<Vec<lagoa_lake::catalog::IndicatorRun>> {
    let mut runs = Vec::new();
    let mut failures = Vec::new();
    let remote = super::cluster::remote_engine(lake).await?;
    for indicator in selected {
        let options = RunOptions {
            parameters: parameters.clone(),
            trigger: trigger.into(),
            actor: actor(),
            remote: remote.clone(),
        };
        match indicators::run(lake, indicator, &options).await {
            Ok(run) => {
                println!("{}", indicators::describe(&run));
                runs.push(run);
            }
            Err(e) => {
                eprintln!("{}: failed: {e}", indicator.name);
                failures.push(indicator.name.clone());
            }
        }
    }
    if !failures.is_empty() {
        bail!(
            "{} indicator(s) failed: {}",
            failures.len(),
            failures.join(", ")
        );
    }
    Ok(runs)
}

pub(super) async fn command(lake: &Lake, command: IndicatorCommand) -> Result<()> {
    match command {
        IndicatorCommand::Init => init(lake),
        IndicatorCommand::List => list(lake).await,
        IndicatorCommand::Show { name } => show(lake, &name).await,
        IndicatorCommand::Run {
            names,
            all,
            stale,
            params,
        } => run(lake, &names, all, stale, &params).await,
        IndicatorCommand::Runs { name, limit, json } => runs(lake, name, limit, json).await,
        IndicatorCommand::Verify { run_id } => verify(lake, &run_id).await,
    }
}

fn init(lake: &Lake) -> Result<()> {
    let dir = indicators::dir_of(lake);
    let written = indicators::init(&dir)?;
    println!(
        "{} indicator(s) written to {}{}",
        written.len(),
        dir.display(),
        if written.is_empty() {
            String::new()
        } else {
            format!(": {}", written.join(", "))
        }
    );
    Ok(())
}

async fn list(lake: &Lake) -> Result<()> {
    println!(
        "{:<30} {:<14} {:>8}  {:<6} {:<26} SOURCES",
        "INDICATOR", "TRIGGER", "MIN_CELL", "STALE", "LAST RUN"
    );
    for i in load(lake)? {
        let last = lake.catalog.indicator_runs(Some(&i.name), 1).await?;
        let stale = indicators::stale(lake, &i).await?;
        println!(
            "{:<30} {:<14} {:>8}  {:<6} {:<26} {}",
            i.name,
            i.trigger.to_string(),
            i.min_cell,
            if stale { "yes" } else { "no" },
            last.first()
                .map(|r| format!("{} {}", format_micros(r.started_at), r.status))
                .unwrap_or_else(|| "never".into()),
            i.sources.join(", ")
        );
    }
    Ok(())
}

async fn show(lake: &Lake, name: &str) -> Result<()> {
    let all = load(lake)?;
    let i = find(&all, name)?;
    println!("{} — {}", i.name, i.title);
    println!("  {}", i.description);
    println!("  unit:     {}", i.unit);
    println!("  formula:  {}", i.formula);
    println!("  sources:  {}", i.sources.join(", "));
    println!("  trigger:  {}", i.trigger);
    if i.period > 1 {
        println!(
            "  period:   {} years (each row adds up its year and the {} before)",
            i.period,
            i.period - 1
        );
    }
    println!(
        "  min_cell: {} ({})",
        i.min_cell,
        if i.min_cell == 0 {
            "no suppression".to_owned()
        } else {
            format!("counts from 1 to {} are suppressed", i.min_cell - 1)
        }
    );
    println!("  results:  {}", indicators::results_dataset(&i.name));
    for p in &i.params {
        println!(
            "  param {} = {}{}: {}",
            p.name,
            p.default,
            if p.choices.is_empty() {
                String::new()
            } else {
                format!(" ({})", p.choices.join(" | "))
            },
            p.description
        );
    }
    for r in lake.catalog.indicator_runs(Some(&i.name), 5).await? {
        println!(
            "  run {} {} — {}",
            r.run_id,
            format_micros(r.started_at),
            indicators::describe(&r)
        );
    }
    Ok(())
}

async fn run(
    lake: &Lake,
    names: &[String],
    all: bool,
    stale: bool,
    params: &[String],
) -> Result<()> {
    let every = load(lake)?;
    let mut selected: Vec<&Indicator> = if all || (stale && names.is_empty()) {
        every.iter().collect()
    } else if names.is_empty() {
        bail!("name the indicators to run, or --all, or --stale");
    } else {
        names
            .iter()
            .map(|n| find(&every, n))
            .collect::<Result<_>>()?
    };
    if stale {
        let mut kept = Vec::new();
        for i in selected {
            if indicators::stale(lake, i).await? {
                kept.push(i);
            }
        }
        selected = kept;
        if selected.is_empty() {
            println!("every indicator is up to date with its sources");
        }
    }
    let parameters = parse_params(params)?;
    if !parameters.is_empty() && selected.len() > 1 {
        bail!("--param applies to one indicator at a time");
    }
    run_all(lake, &selected, &parameters, "manual").await?;
    Ok(())
}

async fn runs(lake: &Lake, name: Option<String>, limit: i64, json: bool) -> Result<()> {
    for r in lake.catalog.indicator_runs(name.as_deref(), limit).await? {
        if json {
            println!("{}", serde_json::to_string(&r)?);
        } else {
            println!(
                "{}  {}  {:<9} in@{:<5} {}",
                r.run_id,
                format_micros(r.started_at),
                r.trigger,
                r.input_snapshot,
                indicators::describe(&r)
            );
        }
    }
    Ok(())
}

async fn verify(lake: &Lake, run_id: &str) -> Result<()> {
    let run = lake
        .catalog
        .indicator_run(run_id)
        .await?
        .ok_or_else(|| anyhow!("no indicator run {run_id}"))?;
    let all = load(lake)?;
    let i = find(&all, &run.indicator)?;
    let remote = super::cluster::remote_engine(lake).await?;
    let v = indicators::verify(lake, i, run_id, remote.as_ref()).await?;
    if v.differences.is_empty() {
        println!(
            "run {run_id} of {}: recomputed from snapshot {} ({}), {} cells identical to what it published in snapshot {}",
            v.run.indicator,
            v.run.input_snapshot,
            v.run
                .inputs
                .iter()
                .map(|i| format!("{}@{}", i.dataset, i.snapshot))
                .collect::<Vec<_>>()
                .join(", "),
            v.cells,
            v.run.output_snapshot.unwrap_or_default()
        );
    } else {
        bail!(
            "run {run_id} of {}: {} cell(s) differ from what it published: {}",
            v.run.indicator,
            v.differences.len(),
            v.differences
                .iter()
                .take(10)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}
