//! Master keys. Every data file gets fresh data keys (see `crypto`); those
//! are wrapped by master keys that a [`KeyProvider`] holds. The writer and
//! the reader only see this trait, so an external KMS (Vault Transit, a cloud
//! KMS) is one more implementation, not a change to the data path.
//!
//! Each dataset has two master keys, each versioned:
//! `lagoa.<dataset>.data.vN` wraps the footer and ordinary columns,
//! `lagoa.<dataset>.pessoal.vN` wraps the personal-data columns, so access to
//! them can be granted, audited and destroyed on its own.
//!
//! Personal columns go one step further: each is wrapped under a key of its
//! own, named `lagoa.<dataset>.pessoal.vN#<column>` and derived by the key
//! provider from the dataset's `pessoal` master key and the column's name
//! ([`column_key`]). A query session is released the keys of exactly the
//! columns its grants give in clear ([`PersonalKeyGate`]); shredding or
//! rotating the `pessoal` master key covers every column.

pub(crate) mod local;

/// How a key withheld from a query session is refused; the words survive
/// the Parquet reader's error wrapping, so that a withheld key is never
/// reported as a damaged file.
pub const NOT_RELEASED: &str = "is not released to this session";

pub use local::LocalKeyStore;

use crate::error::Result;
use lagoa_core::DatasetName;
use zeroize::Zeroizing;

/// The master keys new files of a dataset are written with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatasetKeyIds {
    pub data: String,
    pub personal: String,
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

    /// Destroys every version of the dataset's master keys (crypto-shredding).
    fn shred(&self, dataset: &DatasetName) -> Result<()>;

    /// When the dataset was shredded, if it was.
    fn shredded_at(&self, dataset: &DatasetName) -> Option<String>;

    fn list(&self) -> Result<Vec<MasterKeyInfo>>;

    /// Round-trips a key through wrap and unwrap.
    fn check(&self) -> Result<()>;
}

/// A personal column's key: `(dataset, column)`.
pub type ColumnRef = (String, String);

/// The key provider of one governed query session: it unwraps the key of a
/// personal column only for the `(dataset, column)` pairs the session's
/// grants give in clear. A plan built by hand in such a session still cannot
/// decrypt any other personal column, not even another column of the same
/// dataset. Everything else passes through; keys are never created, rotated
/// or destroyed through it.
#[derive(Debug)]
pub struct PersonalKeyGate {
    inner: std::sync::Arc<dyn KeyProvider>,
    released: std::collections::HashSet<ColumnRef>,
}

impl PersonalKeyGate {
    pub fn new(
        inner: std::sync::Arc<dyn KeyProvider>,
        released: std::collections::HashSet<ColumnRef>,
    ) -> Self {
        Self { inner, released }
    }

    fn refuse(&self, what: &str) -> crate::error::LakeError {
        crate::error::LakeError::Keys(format!("{what} is not possible from a query session"))
    }
}

impl KeyProvider for PersonalKeyGate {
    fn current_keys(&self, _dataset: &DatasetName) -> Result<DatasetKeyIds> {
        Err(self.refuse("choosing keys to write with"))
    }

    fn wrap(&self, _key: &[u8], _master_key_id: &str) -> Result<String> {
        Err(self.refuse("wrapping a key"))
    }

    fn unwrap(&self, wrapped: &str, master_key_id: &str) -> Result<Zeroizing<Vec<u8>>> {
        let (master, column) = split_column_scope(master_key_id);
        if let Some((dataset, PURPOSE_PERSONAL, _)) = parse_master_key_id(master) {
            let released =
                column.is_some_and(|c| self.released.contains(&(dataset.to_owned(), c.to_owned())));
            if !released {
                let what = column.map_or_else(
                    || format!("the personal-data key of {dataset}"),
                    |c| format!("the key of {dataset}.{c}"),
                );
                return Err(crate::error::LakeError::Keys(format!(
                    "{what} {NOT_RELEASED}: no grant of yours gives that personal column"
                )));
            }
        }
        self.inner.unwrap(wrapped, master_key_id)
    }

    fn rotate(&self, _dataset: &DatasetName) -> Result<DatasetKeyIds> {
        Err(self.refuse("rotating keys"))
    }

    fn shred(&self, _dataset: &DatasetName) -> Result<()> {
        Err(self.refuse("shredding keys"))
    }

    fn shredded_at(&self, dataset: &DatasetName) -> Option<String> {
        self.inner.shredded_at(dataset)
    }

    fn list(&self) -> Result<Vec<MasterKeyInfo>> {
        self.inner.list()
    }

    fn check(&self) -> Result<()> {
        self.inner.check()
    }
}

pub(crate) fn master_key_id(dataset: &str, purpose: &str, version: u32) -> String {
    format!("lagoa.{dataset}.{purpose}.v{version}")
}

/// Splits `lagoa.<dataset>.<purpose>.v<N>`.
pub(crate) fn parse_master_key_id(id: &str) -> Option<(&str, &str, u32)> {
    let rest = id.strip_prefix("lagoa.")?;
    let (rest, version) = rest.rsplit_once(".v")?;
    let (dataset, purpose) = rest.rsplit_once('.')?;
    Some((dataset, purpose, version.parse().ok()?))
}

/// The id of the key that wraps one personal column's data keys.
pub fn column_key_id(personal_master_key_id: &str, column: &str) -> String {
    format!("{personal_master_key_id}#{column}")
}

/// Splits `<master key id>#<column>` into the master key id and the column.
pub fn split_column_scope(id: &str) -> (&str, Option<&str>) {
    match id.split_once('#') {
        Some((master, column)) => (master, Some(column)),
        None => (id, None),
    }
}

/// A column's own key-encryption key, derived from the master key:
/// HMAC-SHA256(master, "lagoa column key\0" || column). One-way, so holding
/// one column's key says nothing of the master key or of the other columns'.
pub fn column_key(master: &[u8], column: &str) -> Zeroizing<Vec<u8>> {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, master);
    let mut context = ring::hmac::Context::with_key(&key);
    context.update(b"lagoa column key\0");
    context.update(column.as_bytes());
    Zeroizing::new(context.sign().as_ref().to_vec())
}

pub(crate) const PURPOSE_DATA: &str = "data";
pub(crate) const PURPOSE_PERSONAL: &str = "pessoal";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_key_ids_round_trip() {
        let id = master_key_id("obitos_pe", PURPOSE_PERSONAL, 3);
        assert_eq!(id, "lagoa.obitos_pe.pessoal.v3");
        assert_eq!(parse_master_key_id(&id), Some(("obitos_pe", "pessoal", 3)));
        assert_eq!(parse_master_key_id("other"), None);
    }

    #[test]
    fn column_keys_are_scoped_and_distinct() {
        let id = column_key_id("lagoa.obitos_pe.pessoal.v1", "cpf");
        assert_eq!(
            split_column_scope(&id),
            ("lagoa.obitos_pe.pessoal.v1", Some("cpf"))
        );
        assert_eq!(
            split_column_scope("lagoa.x.data.v1"),
            ("lagoa.x.data.v1", None)
        );
        let master = [7u8; 32];
        assert_ne!(*column_key(&master, "cpf"), *column_key(&master, "cns"));
        assert_ne!(column_key(&master, "cpf").as_slice(), master.as_slice());
        assert_eq!(column_key(&master, "cpf").len(), 32);
    }
}
