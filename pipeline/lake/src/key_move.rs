//! `lagoa keys migrate`: a lake started on the local key store moves its
//! master keys into an HSM or a KMS, and the key store can then be
//! destroyed without losing a file.
//!
//! What moves (see `lagoa_keys::moved`): every local master key is wrapped
//! by the new provider, under its dataset's new key of the same purpose,
//! and kept in the catalog's wrapped secrets (`moved-key:<id>`). Nothing in
//! the bucket is rewritten: data files, raw copies, quarantines and the
//! catalog's own secrets keep naming their old key, and are read through
//! the moved one. `[keys]` in `lagoa.toml` then names the new provider,
//! with `moved_from = "local"`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use crate::Lake;
use crate::catalog::Catalog;
use crate::config::{CONFIG_FILE, KeysConfig, LakeConfig, render_documented};
use crate::error::{LakeError, Result};
use crate::keys::{
    KeyProvider, LocalKeyStore, MOVED_KEY_PREFIX, MovedKey, WithMovedKeys, move_local_keys,
};

/// What a move did.
#[derive(Clone, Debug, Serialize)]
pub struct KeyMigration {
    /// Master keys moved.
    pub moved: usize,
    /// Datasets (the lake's own secrets' holders included) they belong to.
    pub datasets: usize,
    /// Where the keys are now, for people.
    pub to: String,
    /// The local key store, no longer needed.
    pub local_store: PathBuf,
    /// Its seal key file, no longer needed either (none for a passphrase).
    pub seal_key_file: Option<String>,
}

/// The lake's provider with the keys moved into it, as the catalog keeps
/// them.
pub async fn with_moved_keys(
    catalog: &Catalog,
    keys: Arc<dyn KeyProvider>,
) -> Result<Arc<dyn KeyProvider>> {
    let moved = moved_keys(catalog).await?;
    Ok(Arc::new(WithMovedKeys::new(keys, moved)))
}

async fn moved_keys(catalog: &Catalog) -> Result<Vec<MovedKey>> {
    Ok(catalog
        .secrets_named(MOVED_KEY_PREFIX)
        .await?
        .into_iter()
        .map(|(name, wrapped_by, wrapped, at)| MovedKey {
            id: name[MOVED_KEY_PREFIX.len()..].to_owned(),
            wrapped_by,
            wrapped,
            created_at: chrono::DateTime::from_timestamp_micros(at)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default(),
        })
        .collect())
}

impl Lake {
    /// Moves the local key store's master keys into the provider `to`
    /// names and makes it the lake's provider. Run it with the daemon and
    /// the server stopped: they keep the configuration they started with.
    /// Each moved key is unwrapped again from the catalog and compared
    /// before `lagoa.toml` changes, so an interrupted or failed move leaves
    /// the lake on its local keys, and running it again completes it.
    pub async fn migrate_keys(&self, to: KeysConfig) -> Result<KeyMigration> {
        if self.config.keys.provider != "local" {
            return Err(LakeError::Invalid(format!(
                "only a lake on the local key store can move its keys; this one's are in {}",
                self.config.keys.describe()
            )));
        }
        if to.provider == "local" {
            return Err(LakeError::Invalid(
                "the keys are already local: move them --to pkcs11 or --to kms".into(),
            ));
        }
        let store_path = self.dir.join(&self.config.keys.path);
        let local = LocalKeyStore::open(&store_path, &self.config.keys.seal_source(&self.dir))?;
        lagoa_keys::prepare(&self.dir, &to)?;
        let target = lagoa_keys::open(&self.dir, &to)?;
        let moved = move_local_keys(&local, target.as_ref())?;
        for key in &moved {
            self.catalog
                .store_secret(
                    &format!("{MOVED_KEY_PREFIX}{}", key.id),
                    &key.wrapped_by,
                    &key.wrapped,
                )
                .await?;
        }
        // What the catalog now holds is what readers will use: each must
        // open under the new provider to the very key it replaces (a move
        // interrupted earlier towards another provider would not).
        for stored in moved_keys(&self.catalog).await? {
            let opened = target.unwrap(&stored.wrapped, &stored.wrapped_by)?;
            if opened.as_slice() != local.export(&stored.id)?.as_slice() {
                return Err(LakeError::Keys(format!(
                    "the catalog's moved copy of {} does not open to the same key under {}; an earlier move to another provider left it (remove the catalog's moved-key:{} secret and run the move again)",
                    stored.id,
                    to.describe(),
                    stored.id
                )));
            }
        }
        // The file as written, not as this process sees it: overrides from
        // the environment (`LAGOA__…`) stay out of it.
        let path = self.dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path)
            .map_err(LakeError::io(format!("reading {}", path.display())))?;
        let mut config = LakeConfig::from_toml_with_env(&text, std::iter::empty())
            .map_err(|e| LakeError::Config(format!("{}: {e}", path.display())))?;
        config.keys = KeysConfig {
            moved_from: "local".into(),
            ..to
        };
        config.validate().map_err(LakeError::Config)?;
        let tmp = self.dir.join(format!("{CONFIG_FILE}.moving"));
        std::fs::write(&tmp, render_documented(&config))
            .map_err(LakeError::io(format!("writing {}", tmp.display())))?;
        std::fs::rename(&tmp, &path)
            .map_err(LakeError::io(format!("replacing {}", path.display())))?;
        let datasets: BTreeSet<&str> = moved
            .iter()
            .filter_map(|m| lagoa_keys::parse_master_key_id(&m.id).map(|(d, _, _)| d))
            .collect();
        Ok(KeyMigration {
            moved: moved.len(),
            datasets: datasets.len(),
            to: config.keys.describe(),
            seal_key_file: LocalKeyStore::named_seal_key_file(&store_path),
            local_store: store_path,
        })
    }
}
