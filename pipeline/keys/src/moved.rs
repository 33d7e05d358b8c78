//! Master keys moved out of the local key store into an HSM or a KMS
//! (`lagoa keys migrate`), so that the key store can be destroyed without
//! losing a file.
//!
//! Every object of a lake names the master key that wraps its data keys
//! (a file's key material, a raw copy's header, a catalog secret). Moving
//! does not rewrite those objects: each old master key is itself wrapped by
//! the new provider, under the new `data` or `pessoal` key of its own
//! dataset, and kept beside the lake's other wrapped secrets. A data key
//! wrapped by an old key is then opened by first asking the new provider
//! for the old key. Consequences, said plainly in docs/configuration.md:
//! - nothing in the bucket is rewritten; a moved key costs one catalog row;
//! - shredding a dataset in the new provider destroys the keys that wrap
//!   its old keys, so the old files become unreadable with it;
//! - the old files keep their data keys: a copy of the old key store taken
//!   before the move (and its seal) still opens them. Rotating and
//!   rewriting the data is the answer to a key store that leaked.
//!
//! New keys in the provider continue the old numbering
//! ([`KeyProvider::continue_after`]), so an id names one key only.

use std::collections::BTreeMap;
use std::sync::Arc;

use lagoa_core::DatasetName;
use zeroize::Zeroizing;

use crate::error::{KeyError, Result};
use crate::local::{LocalKeyStore, unwrap_with};
use crate::{
    DatasetKeyIds, KeyProvider, MasterKeyInfo, PURPOSE_PERSONAL, column_key, parse_master_key_id,
    split_column_scope,
};

/// The name a moved key is kept under among the lake's wrapped secrets.
pub const MOVED_KEY_PREFIX: &str = "moved-key:";

/// One old master key, wrapped by the provider it moved to.
#[derive(Clone, Debug)]
pub struct MovedKey {
    /// The old key's id, as the objects it wraps name it.
    pub id: String,
    /// The new provider's key that wraps it (same dataset, same purpose).
    pub wrapped_by: String,
    /// The old key's bytes wrapped by `wrapped_by`.
    pub wrapped: String,
    /// When the old key was made.
    pub created_at: String,
}

/// Wraps every key of `local` in `to`: each dataset gets keys in `to` at a
/// version after its newest local one, and each old key is wrapped under
/// the new key of its purpose, then unwrapped again and compared, so a
/// move that would lose a key fails before anything is kept.
pub fn move_local_keys(local: &LocalKeyStore, to: &dyn KeyProvider) -> Result<Vec<MovedKey>> {
    let mut newest: BTreeMap<String, u32> = BTreeMap::new();
    let keys = local.list()?;
    for key in &keys {
        let v = newest.entry(key.dataset.clone()).or_insert(0);
        *v = (*v).max(key.version);
    }
    let mut new_ids: BTreeMap<String, DatasetKeyIds> = BTreeMap::new();
    for (dataset, version) in &newest {
        let name = DatasetName::new(dataset.clone())
            .map_err(|e| KeyError::Refused(format!("key store dataset {dataset:?}: {e}")))?;
        new_ids.insert(dataset.clone(), to.continue_after(&name, *version)?);
    }
    let mut moved = Vec::with_capacity(keys.len());
    for key in keys {
        let ids = &new_ids[&key.dataset];
        let wrapped_by = if key.purpose == PURPOSE_PERSONAL {
            ids.personal.clone()
        } else {
            ids.data.clone()
        };
        let bytes = local.export(&key.id)?;
        let wrapped = to.wrap(&bytes, &wrapped_by)?;
        if to.unwrap(&wrapped, &wrapped_by)?.as_slice() != bytes.as_slice() {
            return Err(KeyError::Refused(format!(
                "moving {}: the new provider returned a different key for it",
                key.id
            )));
        }
        moved.push(MovedKey {
            id: key.id,
            wrapped_by,
            wrapped,
            created_at: key.created_at,
        });
    }
    Ok(moved)
}

/// The provider of a lake whose local keys were moved: the new provider
/// for everything, plus the old keys, each opened through it.
#[derive(Debug)]
pub struct WithMovedKeys {
    current: Arc<dyn KeyProvider>,
    moved: BTreeMap<String, MovedKey>,
}

impl WithMovedKeys {
    pub fn new(current: Arc<dyn KeyProvider>, moved: Vec<MovedKey>) -> Self {
        Self {
            current,
            moved: moved.into_iter().map(|m| (m.id.clone(), m)).collect(),
        }
    }

    /// An old key's bytes, asked of the new provider each time (it keeps
    /// its own bounded cache, and refuses a shredded dataset's keys).
    fn old_key(&self, moved: &MovedKey) -> Result<Zeroizing<Vec<u8>>> {
        self.current.unwrap(&moved.wrapped, &moved.wrapped_by)
    }
}

/// A data key wrapped by the local key store: plain base64, where the
/// token's and the KMS's carry a `p11:1:` or `kms:1:` prefix.
fn wrapped_locally(wrapped: &str) -> bool {
    !wrapped.contains(':')
}

impl KeyProvider for WithMovedKeys {
    fn current_keys(&self, dataset: &DatasetName) -> Result<DatasetKeyIds> {
        self.current.current_keys(dataset)
    }

    fn wrap(&self, key: &[u8], master_key_id: &str) -> Result<String> {
        self.current.wrap(key, master_key_id)
    }

    fn unwrap(&self, wrapped: &str, master_key_id: &str) -> Result<Zeroizing<Vec<u8>>> {
        let (stored_id, column) = split_column_scope(master_key_id);
        match self.moved.get(stored_id) {
            Some(moved) if wrapped_locally(wrapped) => {
                let master = self.old_key(moved)?;
                let key = match column {
                    Some(column) => column_key(&master, column),
                    None => master,
                };
                unwrap_with(&key, wrapped, master_key_id)
            }
            _ => self.current.unwrap(wrapped, master_key_id),
        }
    }

    fn rotate(&self, dataset: &DatasetName) -> Result<DatasetKeyIds> {
        self.current.rotate(dataset)
    }

    fn continue_after(&self, dataset: &DatasetName, version: u32) -> Result<DatasetKeyIds> {
        self.current.continue_after(dataset, version)
    }

    /// Shreds the dataset in the new provider: the keys wrapping its moved
    /// keys go with it.
    fn shred(&self, dataset: &DatasetName) -> Result<()> {
        self.current.shred(dataset)
    }

    fn shredded_at(&self, dataset: &DatasetName) -> Option<String> {
        self.current.shredded_at(dataset)
    }

    /// The provider's keys, then the moved ones (which the provider holds,
    /// wrapped).
    fn list(&self) -> Result<Vec<MasterKeyInfo>> {
        let mut keys = self.current.list()?;
        keys.extend(self.moved.values().filter_map(|m| {
            parse_master_key_id(&m.id).map(|(d, p, v)| MasterKeyInfo {
                id: m.id.clone(),
                dataset: d.to_owned(),
                purpose: p.to_owned(),
                version: v,
                created_at: format!("{} (moved, wrapped by {})", m.created_at, m.wrapped_by),
            })
        }));
        Ok(keys)
    }

    /// The provider's own check, then every moved key opened once, except
    /// those of datasets shredded since.
    fn check(&self) -> Result<()> {
        self.current.check()?;
        for moved in self.moved.values() {
            match self.old_key(moved) {
                Ok(_) | Err(KeyError::Shredded { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
