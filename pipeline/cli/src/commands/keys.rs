//! `lagoa keys`: rotation, crypto-shredding and the list of master keys.
//! Rotation and shredding are administrative: they need an admin's token,
//! or none on the lake's machine, and each is recorded in the audit trail
//! with who did it and what the key provider says of it.

use anyhow::{Result, bail};
use clap::Subcommand;
use lagoa_core::DatasetName;
use lagoa_lake::Lake;
use lagoa_lake::catalog::AuditEntry;

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

pub(super) async fn keys(lake: &Lake, token: Option<&str>, command: KeysCommand) -> Result<()> {
    match command {
        KeysCommand::Rotate { dataset } => {
            let actor = super::access::admin_actor(lake, token).await?;
            let dataset = dataset.map(DatasetName::new).transpose()?;
            let rotated = lake.rotate_keys(dataset.as_ref()).await?;
            if rotated.is_empty() {
                println!("No datasets to rotate.");
            }
            for (name, ids) in rotated {
                lake.audit(&AuditEntry {
                    action: "keys_rotated".into(),
                    datasets: vec![name.to_string()],
                    subject: Some(format!(
                        "{} and {} in {}",
                        ids.data,
                        ids.personal,
                        lake.config.keys.describe()
                    )),
                    ..actor.clone()
                })
                .await?;
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
            let actor = super::access::admin_actor(lake, token).await?;
            let snapshot = lake.shred(&dataset).await?;
            let destroyed = lake
                .crypto
                .keys()
                .shredded_at(&dataset)
                .unwrap_or_else(|| "now".into());
            lake.audit(&AuditEntry {
                action: "dataset_shredded".into(),
                datasets: vec![dataset.to_string()],
                subject: Some(format!(
                    "keys shredded in {} at {destroyed}",
                    lake.config.keys.describe()
                )),
                ..actor
            })
            .await?;
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
