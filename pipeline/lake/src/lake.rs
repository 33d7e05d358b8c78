use crate::catalog::model::{DataFileInfo, DatasetInfo, VacuumReport};
use crate::catalog::{AuditEntry, AuditKey, Backend, Catalog};
use crate::config::{CONFIG_FILE, LakeConfig, render_documented};
use crate::crypto::LakeCrypto;
use crate::error::{LakeError, Result};
use crate::keys::{DatasetKeyIds, KeyProvider};
use crate::pseudonym::PseudonymKey;
use crate::session::LakeSession;
use crate::store::LakeStore;
use crate::table::LakeTable;
use crate::writer::{DatasetWriter, WriteTarget};
use crate::{AsOf, vacuum};
use lagoa_core::DatasetName;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zeroize::Zeroizing;

/// Where a new lake keeps things; `None` means the embedded default.
#[derive(Clone, Debug, Default)]
pub struct InitOptions {
    pub catalog_url: Option<String>,
    pub storage_url: Option<String>,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub allow_http: bool,
    /// Benchmarks only: write plaintext Parquet.
    pub insecure_no_encryption: bool,
    /// Overwrite an existing `lagoa.toml` (never the key store).
    pub force: bool,
    /// Who holds the master keys (default: the local key file).
    pub keys: Option<crate::config::KeysConfig>,
}

/// An open lake: configuration, catalog, object store and keys.
#[derive(Debug)]
pub struct Lake {
    pub dir: PathBuf,
    pub config: LakeConfig,
    pub catalog: Catalog,
    pub store: LakeStore,
    pub crypto: Arc<LakeCrypto>,
    /// When this process last moved the audit trail's anchor.
    anchored_at: std::sync::Mutex<Option<std::time::Instant>>,
    /// The pseudonym key, unwrapped once per process.
    pseudonym_key: tokio::sync::OnceCell<Arc<PseudonymKey>>,
    /// The audit trail's key, unwrapped once per process: with a KMS or an
    /// HSM every audited query would otherwise cost a call to it.
    audit_key: tokio::sync::OnceCell<Arc<AuditKey>>,
}

/// What `lagoa check` found.
#[derive(Debug)]
pub struct CheckReport {
    pub catalog: String,
    pub latest_snapshot: i64,
    pub store: String,
    pub keys: String,
}

impl Lake {
    /// Creates a lake in `dir`: documented `lagoa.toml`, key store, catalog
    /// tables, and a round trip through the object store.
    pub async fn init(dir: &Path, options: &InitOptions) -> Result<Lake> {
        std::fs::create_dir_all(dir)
            .map_err(LakeError::io(format!("creating {}", dir.display())))?;
        let config_path = dir.join(CONFIG_FILE);
        if config_path.exists() && !options.force {
            return Err(LakeError::Invalid(format!(
                "{} already exists; use --force to rewrite it (keys and data are kept)",
                config_path.display()
            )));
        }
        let mut config = LakeConfig::default();
        if let Some(url) = &options.catalog_url {
            config.catalog.url = url.clone();
        }
        if let Some(url) = &options.storage_url {
            config.storage.url = url.clone();
        }
        config.storage.endpoint = options.endpoint.clone();
        config.storage.region = options.region.clone();
        config.storage.allow_http = options.allow_http;
        config.encryption.enabled = !options.insecure_no_encryption;
        if let Some(keys) = &options.keys {
            config.keys = keys.clone();
        }
        config.validate().map_err(LakeError::Config)?;
        std::fs::write(&config_path, render_documented(&config))
            .map_err(LakeError::io(format!("writing {}", config_path.display())))?;

        lagoa_keys::prepare(dir, &config.keys)?;
        // Where `lagoa sources` and the daemon look for source files.
        let sources = dir.join(&config.daemon.sources);
        std::fs::create_dir_all(&sources)
            .map_err(LakeError::io(format!("creating {}", sources.display())))?;
        let lake = Self::open(dir).await?;
        lake.catalog.migrate().await?;
        lake.store.check().await?;
        Ok(lake)
    }

    pub async fn open(dir: &Path) -> Result<Lake> {
        let config = LakeConfig::load(dir)?;
        Self::open_with(dir, config).await
    }

    pub async fn open_with(dir: &Path, config: LakeConfig) -> Result<Lake> {
        let keys: Arc<dyn KeyProvider> = lagoa_keys::open(dir, &config.keys)?;
        let store = LakeStore::open(&config.storage, dir)?;
        let catalog = Catalog::connect(&config.catalog.url, dir).await?;
        if catalog.backend() == Backend::Sqlite {
            // The embedded catalog belongs to this lake: keep it current.
            catalog.migrate().await?;
        }
        let keys = if config.keys.moved_from.is_empty() {
            keys
        } else {
            crate::key_move::with_moved_keys(&catalog, keys).await?
        };
        let crypto = Arc::new(LakeCrypto::new(keys, config.encryption.enabled));
        Ok(Lake {
            dir: dir.to_owned(),
            config,
            catalog,
            store,
            crypto,
            anchored_at: std::sync::Mutex::new(None),
            pseudonym_key: tokio::sync::OnceCell::new(),
            audit_key: tokio::sync::OnceCell::new(),
        })
    }

    pub fn uses_local_keystore(&self) -> bool {
        self.config.keys.provider == "local"
    }

    /// A table over `files` of `dataset`, read with the lake's own keys
    /// (every column; a governed session builds its own over a key gate).
    pub fn table(&self, dataset: &DatasetInfo, files: Vec<DataFileInfo>) -> Result<LakeTable> {
        LakeTable::new(
            dataset.clone(),
            files,
            Arc::clone(&self.crypto),
            Arc::clone(&self.store.store),
        )
    }

    /// A writer for one delivery; run it on a blocking thread.
    pub fn writer(&self, target: WriteTarget) -> Result<DatasetWriter> {
        DatasetWriter::new(
            target,
            Arc::clone(&self.store.store),
            Arc::clone(&self.crypto),
            self.config.writer.clone(),
            tokio::runtime::Handle::current(),
        )
    }

    /// A secret of the lake (the audit key, later the pseudonymisation
    /// key): 32 random bytes made once, kept in the catalog wrapped by the
    /// `data` master key of the pseudo-dataset `lagoa_<name>` of the key
    /// provider, so the catalog database alone never holds it in clear.
    pub async fn secret(&self, name: &str) -> Result<Zeroizing<Vec<u8>>> {
        if let Some((master_key_id, wrapped)) = self.catalog.secret(name).await? {
            return Ok(self.crypto.keys().unwrap(&wrapped, &master_key_id)?);
        }
        let holder = DatasetName::new(format!("lagoa_{name}"))
            .map_err(|e| LakeError::Invalid(format!("secret {name}: {e}")))?;
        let master_key_id = self.crypto.keys().current_keys(&holder)?.data;
        let mut fresh = Zeroizing::new(vec![0u8; 32]);
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut fresh)
            .map_err(|_| LakeError::Keys("the system random generator failed".into()))?;
        let wrapped = self.crypto.keys().wrap(&fresh, &master_key_id)?;
        self.catalog
            .store_secret(name, &master_key_id, &wrapped)
            .await?;
        // Another process may have stored its own first: use what won.
        let (master_key_id, wrapped) = self
            .catalog
            .secret(name)
            .await?
            .ok_or_else(|| LakeError::Invalid(format!("secret {name} vanished")))?;
        Ok(self.crypto.keys().unwrap(&wrapped, &master_key_id)?)
    }

    /// The key pseudonyms are computed with (see `pseudonym`); made with
    /// the lake's first personal data, unwrapped once per process.
    pub async fn pseudonym_key(&self) -> Result<Arc<PseudonymKey>> {
        self.pseudonym_key
            .get_or_try_init(|| async {
                Ok(Arc::new(PseudonymKey::new(
                    &self.secret("pseudonym").await?,
                )))
            })
            .await
            .cloned()
    }

    /// The key of the audit trail's chain.
    pub async fn audit_key(&self) -> Result<Arc<AuditKey>> {
        self.audit_key
            .get_or_try_init(|| async { Ok(Arc::new(AuditKey::new(self.secret("audit").await?))) })
            .await
            .cloned()
    }

    /// Records an entry in the audit trail, now; moves the trail's anchor
    /// when this process's last move is older than
    /// `audit.anchor_interval_seconds` (a failed move is logged: the entry
    /// is recorded either way, and the next one tries again).
    pub async fn audit(&self, entry: &AuditEntry) -> Result<i64> {
        let key = self.audit_key().await?;
        let seq = self
            .catalog
            .append_audit(&key, entry, crate::catalog::now_micros())
            .await?;
        let due = {
            let mut last = self.anchored_at.lock().expect("anchor clock");
            let interval =
                std::time::Duration::from_secs(self.config.audit.anchor_interval_seconds);
            let due = last.is_none_or(|t| t.elapsed() >= interval);
            if due {
                *last = Some(std::time::Instant::now());
            }
            due
        };
        if due && let Err(e) = self.anchor_with(&key).await {
            tracing::warn!(error = %e, "the audit trail's anchor could not be moved");
            *self.anchored_at.lock().expect("anchor clock") = None;
        }
        Ok(seq)
    }

    /// Moves the audit trail's anchor to the trail's head, if it is
    /// behind; returns the anchor in the object store now (moved by this
    /// call or by any other process).
    pub async fn anchor_audit(&self) -> Result<Option<crate::audit_anchor::Anchor>> {
        let key = self.audit_key().await?;
        self.anchor_with(&key).await?;
        crate::audit_anchor::current(self.store.store.as_ref()).await
    }

    async fn anchor_with(&self, key: &AuditKey) -> Result<Option<crate::audit_anchor::Anchor>> {
        let Some(head) = self.catalog.latest_audit(1).await?.into_iter().next() else {
            return Ok(None);
        };
        crate::audit_anchor::advance(
            self.store.store.as_ref(),
            key,
            &head,
            crate::catalog::now_micros(),
        )
        .await
    }

    /// What the anchor in the object store says of the trail: problems
    /// (entries deleted from its end, a rewritten head, a missing or forged
    /// anchor) and the anchor itself.
    pub async fn check_audit_anchor(
        &self,
        entries: u64,
    ) -> Result<(Vec<String>, Option<crate::audit_anchor::Anchor>)> {
        let key = self.audit_key().await?;
        crate::audit_anchor::check(self.store.store.as_ref(), &key, entries, async |seq| {
            Ok(self
                .catalog
                .audit_records(seq - 1, 1)
                .await?
                .into_iter()
                .find(|r| r.seq == seq))
        })
        .await
    }

    pub async fn session(&self, as_of: &AsOf) -> Result<LakeSession> {
        LakeSession::open(self, as_of).await
    }

    /// Deletes objects a write left that will never be committed; one that
    /// cannot be deleted now stays for `vacuum`.
    pub async fn forget_objects<'a>(&self, paths: impl Iterator<Item = &'a str>) {
        use object_store::ObjectStoreExt;
        for path in paths {
            let location = object_store::path::Path::from(path);
            if let Err(e) = self.store.store.delete(&location).await {
                tracing::warn!(path, error = %e, "could not delete an unneeded object; vacuum will");
            }
        }
    }

    pub async fn vacuum(
        &self,
        dry_run: bool,
        orphan_min_age: Option<std::time::Duration>,
    ) -> Result<VacuumReport> {
        vacuum::vacuum(
            self,
            dry_run,
            self.config.snapshot_retention(),
            orphan_min_age.unwrap_or_else(|| self.config.orphan_min_age()),
        )
        .await
    }

    /// New master-key versions for one dataset or all; old versions stay so
    /// existing files remain readable.
    pub async fn rotate_keys(
        &self,
        dataset: Option<&DatasetName>,
    ) -> Result<Vec<(DatasetName, DatasetKeyIds)>> {
        let names: Vec<DatasetName> = match dataset {
            Some(d) => vec![d.clone()],
            None => {
                let snapshot = self.catalog.resolve(&AsOf::Latest).await?;
                self.catalog
                    .datasets(snapshot)
                    .await?
                    .into_iter()
                    .filter(|d| d.shredded_at.is_none())
                    .map(|d| d.name)
                    .collect()
            }
        };
        let mut out = Vec::new();
        for name in names {
            let ids = self.crypto.keys().rotate(&name)?;
            out.push((name, ids));
        }
        Ok(out)
    }

    /// Crypto-shredding: destroys every master key of the dataset, then
    /// records it in the catalog. Keys go first, so a crash in between
    /// still leaves nothing decryptable; running it again completes it.
    pub async fn shred(&self, dataset: &DatasetName) -> Result<i64> {
        let snapshot = self.catalog.resolve(&AsOf::Latest).await?;
        let info = self
            .catalog
            .dataset(dataset, snapshot)
            .await?
            .ok_or_else(|| LakeError::UnknownDataset(dataset.to_string()))?;
        if info.shredded_at.is_some() {
            return Err(LakeError::Invalid(format!(
                "dataset {dataset} is already shredded"
            )));
        }
        self.crypto.keys().shred(dataset)?;
        self.crypto.forget_cached_keys();
        self.catalog.mark_shredded(dataset).await
    }

    /// Streams the original bytes of a delivery kept in the raw zone.
    pub async fn read_raw(
        &self,
        raw_id: &str,
        out: &mut (dyn std::io::Write + Send),
    ) -> Result<u64> {
        let delivery = self.catalog.raw_delivery(raw_id).await?.ok_or_else(|| {
            LakeError::Invalid(format!(
                "no delivery {raw_id} in the raw zone (see `lagoa raw list`)"
            ))
        })?;
        crate::raw::read_raw(&self.store.store, self.crypto.keys(), &delivery.path, out).await
    }

    /// Healthchecks that do the real thing: a catalog query, an object
    /// written and read back, a key wrapped and unwrapped.
    pub async fn check(&self) -> Result<CheckReport> {
        let latest_snapshot = self.catalog.check().await?;
        self.store.check().await?;
        self.crypto.keys().check()?;
        Ok(CheckReport {
            catalog: self.catalog.location().to_owned(),
            latest_snapshot,
            store: self.store.location.clone(),
            keys: self.config.keys.describe(),
        })
    }
}
