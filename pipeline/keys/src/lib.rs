//! Master keys: where they live and what may be done with them.
//!
//! Every data file gets fresh data keys (the lake's `crypto`); those are
//! wrapped by master keys that a [`KeyProvider`] holds. The lake's writer
//! and reader only see this trait, so a key held in a hardware security
//! module or a KMS is one more implementation, not a change to the data
//! path.
//!
//! Each dataset has two master keys, each versioned:
//! `lagoa.<dataset>.data.vN` wraps the footer and ordinary columns,
//! `lagoa.<dataset>.pessoal.vN` wraps the personal-data columns, so access to
//! them can be granted, audited and destroyed on its own.
//!
//! Personal columns go one step further: each is wrapped under a key of its
//! own, named `lagoa.<dataset>.pessoal.vN#<column>`, which the provider
//! derives from the dataset's `pessoal` master key and the column's name. A
//! query session is released the keys of exactly the columns its grants give
//! in clear (the lake's `PersonalKeyGate`); shredding or rotating the
//! `pessoal` master key covers every column.
//!
//! Modules: `ids` (key names), `error`, `config` (`[keys]`), and the
//! providers: `local` (the embedded key file, sealed by `seal`), `pkcs11`
//! (an HSM token) and `kms` (a service speaking the AWS KMS API); `moved`
//! keeps a lake's old local keys readable once they moved into one of the
//! others.

pub mod config;
pub mod error;
pub mod ids;
pub mod kms;
pub mod local;
pub mod moved;
pub mod pkcs11;
pub mod seal;

pub use config::KeysConfig;
pub use error::{KeyError, PROVIDER_CANNOT_GIVE, Result};
pub use ids::{
    PURPOSE_DATA, PURPOSE_PERSONAL, column_key, column_key_id, latest_version, master_key_id,
    parse_master_key_id, split_column_scope,
};
pub use kms::KmsKeys;
pub use local::{LOCAL_KEYSTORE_WARNING, LocalKeyStore};
pub use moved::{MOVED_KEY_PREFIX, MovedKey, WithMovedKeys, move_local_keys};
pub use pkcs11::Pkcs11Keys;
pub use seal::{SealSource, default_key_file};

use std::path::Path;
use std::sync::Arc;

use lagoa_core::DatasetName;
use zeroize::Zeroizing;

/// How a key withheld from a query session is refused; the words survive
/// the Parquet reader's error wrapping, so that a withheld key is never
/// reported as a damaged file.
pub const NOT_RELEASED: &str = "is not released to this session";

/// The master keys new files of a dataset are written with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatasetKeyIds {
    pub data: String,
    pub personal: String,
}

impl DatasetKeyIds {
    /// The ids of version `version` of a dataset's keys.
    pub fn of(dataset: &str, version: u32) -> Self {
        Self {
            data: master_key_id(dataset, PURPOSE_DATA, version),
            personal: master_key_id(dataset, PURPOSE_PERSONAL, version),
        }
    }
}

/// What a key provider can tell about one master key (never its bytes).
#[derive(Clone, Debug)]
pub struct MasterKeyInfo {
    pub id: String,
    pub dataset: String,
    pub purpose: String,
    pub version: u32,
    pub created_at: String,
}

pub trait KeyProvider: Send + Sync + std::fmt::Debug {
    /// The current master keys of a dataset, created on first use.
    fn current_keys(&self, dataset: &DatasetName) -> Result<DatasetKeyIds>;

    /// Encrypts a data key under a master key; the result is stored in the
    /// Parquet key material.
    fn wrap(&self, key: &[u8], master_key_id: &str) -> Result<String>;

    /// Synchronous on purpose: Parquet's key retriever calls it while
    /// decoding a footer, where there is no `.await`.
    fn unwrap(&self, wrapped: &str, master_key_id: &str) -> Result<Zeroizing<Vec<u8>>>;

    /// Starts a new version of the dataset's master keys. New files use it;
    /// old versions stay to read old files.
    fn rotate(&self, dataset: &DatasetName) -> Result<DatasetKeyIds>;

    /// The dataset's keys at a version after `version`, created when the
    /// provider has none that recent: keys moved here from another
    /// provider (`lagoa keys migrate`) keep their ids, and this one's
    /// continue the numbering instead of reusing them.
    fn continue_after(&self, dataset: &DatasetName, version: u32) -> Result<DatasetKeyIds>;

    /// Destroys every version of the dataset's master keys (crypto-shredding).
    fn shred(&self, dataset: &DatasetName) -> Result<()>;

    /// When the dataset was shredded, if it was.
    fn shredded_at(&self, dataset: &DatasetName) -> Option<String>;

    fn list(&self) -> Result<Vec<MasterKeyInfo>>;

    /// Round-trips a key through wrap and unwrap.
    fn check(&self) -> Result<()>;
}

/// Makes a new lake's provider ready: the local key file is created (never
/// overwritten), sealed by a new key file outside the lake unless
/// `[keys]` names one or a passphrase; a token is signed in to and a KMS
/// asked for its keys, so a wrong PIN, label, address or credential shows
/// at `lagoa init` rather than at the first ingest.
pub fn prepare(lake_dir: &Path, config: &KeysConfig) -> Result<()> {
    if config.provider == "local" {
        let path = lake_dir.join(&config.path);
        if !path.exists() {
            let seal = match config.seal_source(lake_dir) {
                SealSource::KeyFile(None) => SealSource::KeyFile(Some(default_key_file(lake_dir)?)),
                other => other,
            };
            LocalKeyStore::create(&path, &seal)?;
        }
        return Ok(());
    }
    open(lake_dir, config)?.list().map(drop)
}

/// The provider `[keys]` names, opened.
pub fn open(lake_dir: &Path, config: &KeysConfig) -> Result<Arc<dyn KeyProvider>> {
    if let Some(problem) = config.problems().into_iter().next() {
        return Err(KeyError::Refused(problem));
    }
    Ok(match config.provider.as_str() {
        "pkcs11" => Arc::new(Pkcs11Keys::open(&config.pkcs11_settings(lake_dir)?)?),
        "kms" => Arc::new(KmsKeys::open(config.kms_settings())?),
        _ => Arc::new(LocalKeyStore::open(
            &lake_dir.join(&config.path),
            &config.seal_source(lake_dir),
        )?),
    })
}

/// Wraps a probe under `id` and unwraps it again (`lagoa check`): the
/// provider must give back exactly what it was given.
pub(crate) fn round_trip(provider: &dyn KeyProvider, id: &str, who: &str) -> Result<()> {
    let probe = [7u8; 16];
    let wrapped = provider.wrap(&probe, id)?;
    if provider.unwrap(&wrapped, id)?.as_slice() != probe {
        return Err(KeyError::Refused(format!(
            "{who}: a wrap/unwrap round trip under {id} returned a different key"
        )));
    }
    Ok(())
}

/// A provider's in-process state: a panic elsewhere while it was held
/// leaves caches that are still consistent, so poisoning is ignored.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// [`lock`] for state read more often than written.
pub(crate) fn read<T>(lock: &std::sync::RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// [`lock`] for state read more often than written, to change it.
pub(crate) fn write<T>(lock: &std::sync::RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
