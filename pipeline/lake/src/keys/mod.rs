//! Master keys, as the lake uses them: the providers and key names come
//! from `lagoa-keys`; the lake adds the gate a governed query session reads
//! through ([`PersonalKeyGate`]).

pub use lagoa_keys::*;

use lagoa_core::DatasetName;
use zeroize::Zeroizing;

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

    fn refuse(&self, what: &str) -> KeyError {
        KeyError::Refused(format!("{what} is not possible from a query session"))
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
                return Err(KeyError::Refused(format!(
                    "{what} {NOT_RELEASED}: no grant of yours gives that personal column"
                )));
            }
        }
        self.inner.unwrap(wrapped, master_key_id)
    }

    fn rotate(&self, _dataset: &DatasetName) -> Result<DatasetKeyIds> {
        Err(self.refuse("rotating keys"))
    }

    fn continue_after(&self, _dataset: &DatasetName, _version: u32) -> Result<DatasetKeyIds> {
        Err(self.refuse("creating keys"))
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
