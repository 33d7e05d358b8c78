//! `lagoa keys`: rotation, crypto-shredding and the list of master keys.

use anyhow::{Result, bail};
use clap::Subcommand;
use lagoa_core::DatasetName;
use lagoa_lake::Lake;

#[derive(Subcommand)]
pub(super) enum KeysCommand {
    /// Start new master-key versions (new files use them; old files stay readable).
    Rotate {
        /// Only this dataset's keys (default: every dataset's).
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

pub(super) async fn keys(lake: &Lake, command: KeysCommand) -> Result<()> {
    match command {
        KeysCommand::Rotate { dataset } => {
            let dataset = dataset.map(DatasetName::new).transpose()?;
            let rotated = lake.rotate_keys(dataset.as_ref()).await?;
            if rotated.is_empty() {
                println!("No datasets to rotate.");
            }
            for (name, ids) in rotated {
                println!(
                    "{name}: new files use {} and {}; earlier versions stay to read existing files",
                    ids.data, ids.personal
                );
            }
        }
        KeysCommand::Shred { dataset, yes } => {
            let dataset = DatasetName::new(dataset)?;
            if !yes {
                bail!(
                    "crypto-shredding destroys every key of {dataset}: none of its data can ever be read again. Re-run with --yes to confirm"
                );
            }
            let snapshot = lake.shred(&dataset).await?;
            println!(
                "Shredded {dataset} (snapshot {snapshot}): its master keys are destroyed and its files can no longer be decrypted."
            );
        }
        KeysCommand::List => {
            for key in lake.crypto.keys().list()? {
                println!(
                    "{}  dataset={} purpose={} version={} created={}",
                    key.id, key.dataset, key.purpose, key.version, key.created_at
                );
            }
        }
    }
    Ok(())
}
