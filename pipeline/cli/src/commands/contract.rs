//! `lagoa contract`: check, infer, register, list and diff dataset contracts.

use super::ingest::{ReadOptions, display_name};
use anyhow::{Result, anyhow, bail};
use clap::Subcommand;
use lagoa_connectors::Delivery;
use lagoa_connectors::file::FileSourceConfig;
use lagoa_core::{DatasetName, SharingLevel};
use lagoa_lake::Lake;
use lagoa_schemas::Contract;
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub(super) enum ContractCommand {
    /// Validate a contract file; every problem is named.
    Check {
        /// The contract file (TOML).
        file: PathBuf,
    },
    /// Draft a contract from a sample of a delivery (printed as TOML).
    Infer {
        /// A delivered file to learn the columns and types from.
        file: PathBuf,
        /// The dataset the contract is for.
        #[arg(long)]
        dataset: String,
        /// The draft's sharing level: amplo, corporativo or especial.
        #[arg(long, default_value = "especial")]
        level: String,
        #[command(flatten)]
        read: ReadOptions,
    },
    /// Register a contract version in the catalog (announce it ahead of its effective date).
    Register {
        /// The contract file (TOML), with its version and effective date.
        file: PathBuf,
    },
    /// The registered versions of a dataset's contract, with their effective dates.
    List {
        /// The dataset's name.
        dataset: String,
    },
    /// What changes: between two contract files, or between a dataset's
    /// version in force and the next registered one.
    Diff {
        /// A dataset name, or a contract file.
        first: String,
        /// A second contract file (with a file as first).
        second: Option<PathBuf>,
    },
}

impl ContractCommand {
    /// Whether the command reads the lake's catalog.
    pub(super) fn needs_lake(&self) -> bool {
        match self {
            ContractCommand::Register { .. } | ContractCommand::List { .. } => true,
            ContractCommand::Diff { second, .. } => second.is_none(),
            ContractCommand::Check { .. } | ContractCommand::Infer { .. } => false,
        }
    }
}

pub(super) async fn contract(lake: Option<&Lake>, command: ContractCommand) -> Result<()> {
    let lake = || lake.ok_or_else(|| anyhow!("no lake"));
    match command {
        ContractCommand::Check { file } => check(&file),
        ContractCommand::Infer {
            file,
            dataset,
            level,
            read,
        } => infer(&file, &dataset, &level, &read).await,
        ContractCommand::Register { file } => register(lake()?, &file).await,
        ContractCommand::List { dataset } => list(lake()?, &dataset).await,
        ContractCommand::Diff { first, second } => {
            let (old, new) = match second {
                Some(second) => (Contract::load(Path::new(&first))?, Contract::load(&second)?),
                None => in_force_and_next(lake()?, &first).await?,
            };
            diff(&old, &new);
            Ok(())
        }
    }
}

fn check(file: &Path) -> Result<()> {
    let c = Contract::load(file)?;
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

async fn infer(file: &Path, dataset: &str, level: &str, read: &ReadOptions) -> Result<()> {
    let dataset = DatasetName::new(dataset)?;
    let level = level.parse::<SharingLevel>()?;
    let config = FileSourceConfig::single(file, read.format()?, read.options());
    let Some(Delivery::File(delivery)) = config.local_deliveries()?.into_iter().next() else {
        bail!("no file at {}", file.display());
    };
    let sample = tokio::task::spawn_blocking(move || -> Result<_> {
        let mut batches = delivery.batches(1000)?;
        Ok(batches.next().transpose()?)
    })
    .await??
    .ok_or_else(|| anyhow!("{} holds no rows", file.display()))?;
    let draft = lagoa_ingest::contract_source::draft_contract(&dataset, level, &sample.batch);
    println!(
        "# Draft contract inferred from {} ({} sample rows).",
        display_name(file),
        sample.batch.num_rows()
    );
    println!("# Review every column: types, nullability, constraints, personal data.");
    print!("{}", draft.to_toml());
    Ok(())
}

async fn register(lake: &Lake, file: &Path) -> Result<()> {
    let c = Contract::load(file)?;
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

async fn list(lake: &Lake, dataset: &str) -> Result<()> {
    let today = chrono::Utc::now().date_naive();
    let versions = registered(lake, dataset).await?;
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

/// A dataset's contract in force today and the next registered version.
async fn in_force_and_next(lake: &Lake, dataset: &str) -> Result<(Contract, Contract)> {
    let today = chrono::Utc::now().date_naive();
    let versions = registered(lake, dataset).await?;
    let current = lagoa_schemas::version_in_force(&versions, today)
        .ok_or_else(|| anyhow!("no version of {dataset} is in force today"))?
        .clone();
    let next = versions
        .iter()
        .filter(|c| c.version() > current.version())
        .min_by_key(|c| c.version())
        .ok_or_else(|| {
            anyhow!(
                "no version of {dataset} after v{} is registered",
                current.version()
            )
        })?
        .clone();
    Ok((current, next))
}

fn diff(old: &Contract, new: &Contract) {
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
    let changes = lagoa_schemas::diff(old, new);
    if changes.is_empty() {
        println!("  no changes");
    }
    for change in changes {
        println!("  - {change}");
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
