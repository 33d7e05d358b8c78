//! `lagoa keys`: rotation, crypto-shredding, sealing the local key store
//! and the list of master keys.
//! Rotation and shredding are administrative: they need an admin's token,
//! or none on the lake's machine, and each is recorded in the audit trail
//! with who did it and what the key provider says of it.

use anyhow::{Result, bail};
use clap::Subcommand;
use lagoa_core::DatasetName;
use lagoa_lake::Lake;
use lagoa_lake::catalog::AuditEntry;
use lagoa_lake::keys::{LocalKeyStore, SealSource};

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
        /// The dataset whose keys to destroy (its data becomes unreadable).
        dataset: String,
        /// Confirm: this cannot be undone.
        #[arg(long)]
        yes: bool,
    },
    /// List master keys (ids and dates, never key material).
    List,
    /// Seal a local key store written before sealing existed: its keys are
    /// encrypted under the seal key file or passphrase that `[keys]` names
    /// (a new key file under ~/.config/lagoa/seal/ when it names none).
    Seal,
    /// Move a lake's local master keys into an HSM or a KMS: each is
    /// wrapped there, no data file is rewritten, and the local key store
    /// can then be destroyed. Stop the daemon and the server first.
    Migrate {
        /// Where the keys go.
        #[arg(long, value_parser = ["pkcs11", "kms"])]
        to: String,
        #[command(flatten)]
        provider: super::lake::KeyProviderArgs,
    },
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
        KeysCommand::Seal => {
            if !lake.uses_local_keystore() {
                bail!(
                    "only the local key store is sealed; this lake's keys are in {}",
                    lake.config.keys.describe()
                );
            }
            let actor = super::access::admin_actor(lake, token).await?;
            let store = lake.dir.join(&lake.config.keys.path);
            let seal = match lake.config.keys.seal_source(&lake.dir) {
                SealSource::KeyFile(None) => {
                    SealSource::KeyFile(Some(lagoa_lake::keys::default_key_file(&lake.dir)?))
                }
                other => other,
            };
            let sealed = LocalKeyStore::seal_in_place(&store, &seal)?;
            if sealed == 0 {
                println!("The key store {} is already sealed.", store.display());
                return Ok(());
            }
            let by =
                LocalKeyStore::named_seal_key_file(&store).unwrap_or_else(|| "a passphrase".into());
            lake.audit(&AuditEntry {
                action: "keys_sealed".into(),
                subject: Some(format!(
                    "{sealed} master key(s) in {} sealed by {by}",
                    store.display()
                )),
                ..actor
            })
            .await?;
            println!(
                "Sealed {sealed} master key(s) in {} by {by}.",
                store.display()
            );
        }
        KeysCommand::Migrate { to, provider } => {
            let actor = super::access::admin_actor(lake, token).await?;
            let moved = lake.migrate_keys(provider.keys_config(to)).await?;
            // Recorded through the lake as it now is: with the keys where
            // they moved (an entry written with the local store now would
            // make a key there that nothing moved).
            let lake = Lake::open(&lake.dir).await?;
            lake.audit(&AuditEntry {
                action: "keys_migrated".into(),
                subject: Some(format!(
                    "{} master key(s) of {} dataset(s) moved from the local key store into {}",
                    moved.moved, moved.datasets, moved.to
                )),
                ..actor
            })
            .await?;
            println!(
                "Moved {} master key(s) of {} dataset(s) into {}; lagoa.toml now names it.",
                moved.moved, moved.datasets, moved.to
            );
            println!(
                "No file was rewritten: files written before read through the moved keys, new files use the provider's own."
            );
            let seal = moved
                .seal_key_file
                .map(|f| format!(" and its seal key file {f}"))
                .unwrap_or_default();
            println!(
                "The local key store {}{seal} are no longer needed: destroy them (shred -u).",
                moved.local_store.display()
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
