//! The embedded default key provider: a JSON file of AES-256 master keys,
//! mode 0600, on this machine, each sealed under a key that lives outside
//! the lake (`seal`: a key file or a passphrase). Fine for one machine; a
//! warning says so.
//!
//! Format 2 is sealed. Format 1 (the keys in base64, in clear) is still
//! read, with a warning, until `lagoa keys seal` rewrites it.
//!
//! Wrap format (shared with `tests/py/read_encrypted.py`, see
//! docs/interfaces.md): base64(nonce(12) || AES-256-GCM(ciphertext || tag))
//! with the master key id as AAD, so a wrapped key cannot be replayed under
//! another master key.

use crate::error::{KeyError, Result};
use crate::seal::{Seal, SealHeader, SealSource};
use crate::{
    DatasetKeyIds, KeyProvider, MasterKeyInfo, column_key, parse_master_key_id, split_column_scope,
};
use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use lagoa_core::DatasetName;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use zeroize::{Zeroize, Zeroizing};

const FORMAT_SEALED: &str = "lagoa-local-keystore/2";
const FORMAT_UNSEALED: &str = "lagoa-local-keystore/1";

pub const LOCAL_KEYSTORE_WARNING: &str = "WARNING: this lake keeps its master keys in a local key file. \
Anyone who can read that file and the storage can read every dataset. \
This default is for a single machine; keep the keys in an HSM in production (lagoa init --keys pkcs11).";

#[derive(Default, Serialize, Deserialize)]
struct KeyStoreFile {
    format: String,
    /// How the keys are sealed (format 2); never the seal key itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seal: Option<SealHeader>,
    keys: BTreeMap<String, StoredKey>,
    #[serde(default)]
    shredded: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, Clone)]
struct StoredKey {
    /// Format 1 only: the key in base64, in clear.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    key: String,
    /// Format 2: the key sealed under the seal key, bound to its id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    sealed: String,
    created_at: String,
}

impl Drop for StoredKey {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

pub struct LocalKeyStore {
    path: PathBuf,
    state: RwLock<KeyStoreFile>,
    /// `None` only for a format-1 store, whose keys are in clear.
    seal: Option<Seal>,
    rng: SystemRandom,
}

impl std::fmt::Debug for LocalKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalKeyStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl LocalKeyStore {
    /// Creates an empty key store (mode 0600 in a 0700 directory), sealed
    /// as `seal` says (a key file is made if it does not exist).
    pub fn create(path: &Path, seal: &SealSource) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(KeyError::io(format!("creating {}", dir.display())))?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(KeyError::io(format!("restricting {}", dir.display())))?;
        }
        if path.exists() {
            return Err(KeyError::Refused(format!(
                "{} already exists; refusing to overwrite master keys",
                path.display()
            )));
        }
        let (seal, header) = Seal::create(seal)?;
        let store = Self {
            path: path.to_owned(),
            state: RwLock::new(KeyStoreFile {
                format: FORMAT_SEALED.into(),
                seal: Some(header),
                ..Default::default()
            }),
            seal: Some(seal),
            rng: SystemRandom::new(),
        };
        store.persist(&crate::read(&store.state))?;
        Ok(store)
    }

    /// Opens a key store; its seal must open with what `seal` names.
    pub fn open(path: &Path, seal: &SealSource) -> Result<Self> {
        let state = read_file(path)?;
        let seal = match &state.seal {
            Some(header) => Some(Seal::open(seal, header, path)?),
            None => {
                tracing::warn!(
                    key_store = %path.display(),
                    "the local key store keeps its master keys unsealed (format 1): run `lagoa keys seal`"
                );
                None
            }
        };
        Ok(Self {
            path: path.to_owned(),
            state: RwLock::new(state),
            seal,
            rng: SystemRandom::new(),
        })
    }

    /// The seal key file the store at `path` names, read without opening
    /// it (what `lagoa init` tells the user to keep).
    pub fn named_seal_key_file(path: &Path) -> Option<String> {
        read_file(path).ok()?.seal?.key_file()
    }

    /// Seals a format-1 store in place: every key is sealed under `seal`
    /// and the clear copies leave the file. Returns how many keys were
    /// sealed (none when the store was already sealed).
    pub fn seal_in_place(path: &Path, seal: &SealSource) -> Result<usize> {
        let store = Self::open(path, seal)?;
        if store.seal.is_some() {
            return Ok(0);
        }
        let (new_seal, header) = Seal::create(seal)?;
        store.modify(|state, _| {
            if state.seal.is_some() {
                return Ok(0);
            }
            let mut sealed = 0;
            for (id, entry) in state.keys.iter_mut() {
                let clear = Zeroizing::new(BASE64_STANDARD.decode(&entry.key).map_err(|_| {
                    KeyError::Refused(format!("master key {id} is corrupt in {}", path.display()))
                })?);
                entry.sealed = new_seal.seal_key(&clear, id)?;
                entry.key.zeroize();
                entry.key.clear();
                sealed += 1;
            }
            state.seal = Some(header);
            state.format = FORMAT_SEALED.into();
            Ok(sealed)
        })
    }

    /// Runs `change` on the freshest on-disk state under an exclusive file
    /// lock, then writes it back atomically; two processes creating keys at
    /// once never lose one.
    fn modify<T>(
        &self,
        change: impl FnOnce(&mut KeyStoreFile, &SystemRandom) -> Result<T>,
    ) -> Result<T> {
        let lock_path = self.path.with_extension("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(KeyError::io(format!("opening {}", lock_path.display())))?;
        lock.lock()
            .map_err(KeyError::io(format!("locking {}", lock_path.display())))?;
        let mut fresh = read_file(&self.path)?;
        if fresh.seal.is_some() && self.seal.is_none() && fresh.format == FORMAT_SEALED {
            // Sealed by another process since this one opened it.
            return Err(KeyError::Refused(format!(
                "key store {} was sealed meanwhile; run the command again",
                self.path.display()
            )));
        }
        let out = change(&mut fresh, &self.rng)?;
        self.persist(&fresh)?;
        *crate::write(&self.state) = fresh;
        drop(lock);
        Ok(out)
    }

    fn persist(&self, state: &KeyStoreFile) -> Result<()> {
        let tmp = self
            .path
            .with_extension(format!("tmp{}", std::process::id()));
        let mut json = Zeroizing::new(
            serde_json::to_vec_pretty(state).map_err(|e| KeyError::Refused(e.to_string()))?,
        );
        {
            let mut file = OpenOptions::new()
                .create(true)
                .truncate(true)
                .write(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(KeyError::io(format!("writing {}", tmp.display())))?;
            file.write_all(&json)
                .map_err(KeyError::io(format!("writing {}", tmp.display())))?;
            file.sync_all()
                .map_err(KeyError::io(format!("syncing {}", tmp.display())))?;
        }
        json.zeroize();
        std::fs::rename(&tmp, &self.path)
            .map_err(KeyError::io(format!("replacing {}", self.path.display())))?;
        if let Some(dir) = self.path.parent()
            && let Ok(d) = File::open(dir)
        {
            let _ = d.sync_all();
        }
        Ok(())
    }

    fn key_bytes(&self, master_key_id: &str) -> Result<Option<Zeroizing<Vec<u8>>>> {
        let lookup = |state: &KeyStoreFile| -> Result<Option<Zeroizing<Vec<u8>>>> {
            let Some(k) = state.keys.get(master_key_id) else {
                return Ok(None);
            };
            if !k.sealed.is_empty() {
                let seal = self.seal.as_ref().ok_or_else(|| {
                    KeyError::Refused(format!(
                        "key store {} was sealed by another process; open it again",
                        self.path.display()
                    ))
                })?;
                return seal.open_key(&k.sealed, master_key_id).map(Some);
            }
            BASE64_STANDARD
                .decode(&k.key)
                .map(|b| Some(Zeroizing::new(b)))
                .map_err(|_| {
                    KeyError::Refused(format!(
                        "master key {master_key_id} is corrupt in {}",
                        self.path.display()
                    ))
                })
        };
        if let Some(k) = lookup(&crate::read(&self.state))? {
            return Ok(Some(k));
        }
        // Another process may have created or shredded it since we loaded.
        let fresh = read_file(&self.path)?;
        let found = lookup(&fresh)?;
        *crate::write(&self.state) = fresh;
        Ok(found)
    }

    /// The master key's bytes, or why they cannot be had. A column-scoped
    /// id (`<master>#<column>`) gives the column's own key, derived from
    /// its master key.
    fn master_key(&self, master_key_id: &str) -> Result<Zeroizing<Vec<u8>>> {
        let (stored_id, column) = split_column_scope(master_key_id);
        let master = self
            .key_bytes(stored_id)?
            .ok_or_else(|| self.missing_key_error(stored_id))?;
        Ok(match column {
            Some(column) => column_key(&master, column),
            None => master,
        })
    }

    /// A stored master key's bytes, to be moved into another provider
    /// (`lagoa keys migrate`); never written anywhere in clear.
    pub fn export(&self, master_key_id: &str) -> Result<Zeroizing<Vec<u8>>> {
        self.key_bytes(master_key_id)?
            .ok_or_else(|| self.missing_key_error(master_key_id))
    }

    fn missing_key_error(&self, master_key_id: &str) -> KeyError {
        if let Some((dataset, _, _)) = parse_master_key_id(master_key_id)
            && let Some(at) = crate::read(&self.state).shredded.get(dataset)
        {
            return KeyError::Shredded {
                dataset: dataset.to_owned(),
                at: at.clone(),
            };
        }
        KeyError::Refused(format!(
            "master key {master_key_id} is not in the key store {}",
            self.path.display()
        ))
    }
}

fn aes_key(master: &[u8], master_key_id: &str) -> Result<LessSafeKey> {
    UnboundKey::new(&AES_256_GCM, master)
        .map(LessSafeKey::new)
        .map_err(|_| KeyError::Refused(format!("master key {master_key_id} has a bad length")))
}

/// Wraps `key` in the local format (docs/interfaces.md): base64 of nonce,
/// AES-256-GCM ciphertext and tag, the master key id as AAD.
fn wrap_with(master: &[u8], key: &[u8], master_key_id: &str, rng: &SystemRandom) -> Result<String> {
    let sealing = aes_key(master, master_key_id)?;
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut nonce)
        .map_err(|_| KeyError::Refused("system random generator failed".into()))?;
    let mut out = Vec::with_capacity(NONCE_LEN + key.len() + 16);
    out.extend_from_slice(&nonce);
    let mut sealed = key.to_vec();
    sealing
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(master_key_id.as_bytes()),
            &mut sealed,
        )
        .map_err(|_| KeyError::Refused(format!("wrapping under {master_key_id} failed")))?;
    out.extend_from_slice(&sealed);
    Ok(BASE64_STANDARD.encode(out))
}

/// Opens a key wrapped in the local format by `master` (the column's own
/// key for a column-scoped id).
pub(crate) fn unwrap_with(
    master: &[u8],
    wrapped: &str,
    master_key_id: &str,
) -> Result<Zeroizing<Vec<u8>>> {
    let opening = aes_key(master, master_key_id)?;
    let raw = BASE64_STANDARD.decode(wrapped).map_err(|_| {
        KeyError::Refused(format!("wrapped key under {master_key_id} is not base64"))
    })?;
    if raw.len() < NONCE_LEN + 16 {
        return Err(KeyError::Refused(format!(
            "wrapped key under {master_key_id} is too short"
        )));
    }
    let (nonce, sealed) = raw.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce)
        .map_err(|_| KeyError::Refused("bad nonce".into()))?;
    let mut buf = Zeroizing::new(sealed.to_vec());
    let plain = opening
        .open_in_place(nonce, Aad::from(master_key_id.as_bytes()), &mut buf)
        .map_err(|_| {
            KeyError::Tampered(format!(
                "a data key wrapped under {master_key_id} failed authentication"
            ))
        })?;
    Ok(Zeroizing::new(plain.to_vec()))
}

fn read_file(path: &Path) -> Result<KeyStoreFile> {
    let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            KeyError::Refused(format!("key store {} not found", path.display()))
        } else {
            KeyError::io(format!("reading {}", path.display()))(e)
        }
    })?);
    require_private(path, &format!("key store {}", path.display()), "chmod 600")?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        require_private(
            dir,
            &format!("the key directory {}", dir.display()),
            "chmod 700",
        )?;
    }
    let state: KeyStoreFile = serde_json::from_slice(&bytes).map_err(|e| {
        KeyError::Refused(format!("key store {} is not valid: {e}", path.display()))
    })?;
    if state.format != FORMAT_SEALED && state.format != FORMAT_UNSEALED {
        return Err(KeyError::Refused(format!(
            "key store {} has unknown format {:?}",
            path.display(),
            state.format
        )));
    }
    Ok(state)
}

/// Refuses a file or directory other users can read or enter: `what` names
/// it in the error, `fix` is the command that puts it right.
pub(crate) fn require_private(path: &Path, what: &str, fix: &str) -> Result<()> {
    let mode = std::fs::metadata(path)
        .map_err(KeyError::io(format!("reading {}", path.display())))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(KeyError::Refused(format!(
            "{what} is open to other users (mode {:o}); run {fix} on it",
            mode & 0o777
        )));
    }
    Ok(())
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A shredded dataset gets no keys, new or old.
fn refuse_shredded(state: &KeyStoreFile, dataset: &str) -> Result<()> {
    match state.shredded.get(dataset) {
        Some(at) => Err(KeyError::Shredded {
            dataset: dataset.to_owned(),
            at: at.clone(),
        }),
        None => Ok(()),
    }
}

fn current_version(state: &KeyStoreFile, dataset: &str) -> Option<u32> {
    crate::latest_version(state.keys.keys().map(String::as_str), dataset)
}

/// A fresh master key, sealed when the store is (format 1 keeps writing
/// clear keys until it is sealed).
fn new_key(rng: &SystemRandom, seal: Option<&Seal>, id: &str) -> Result<StoredKey> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    rng.fill(bytes.as_mut())
        .map_err(|_| KeyError::Refused("system random generator failed".into()))?;
    Ok(match seal {
        Some(seal) => StoredKey {
            key: String::new(),
            sealed: seal.seal_key(bytes.as_ref(), id)?,
            created_at: now(),
        },
        None => StoredKey {
            key: BASE64_STANDARD.encode(bytes.as_ref()),
            sealed: String::new(),
            created_at: now(),
        },
    })
}

fn add_version(
    state: &mut KeyStoreFile,
    rng: &SystemRandom,
    seal: Option<&Seal>,
    dataset: &str,
    version: u32,
) -> Result<DatasetKeyIds> {
    let ids = DatasetKeyIds::of(dataset, version);
    state
        .keys
        .insert(ids.data.clone(), new_key(rng, seal, &ids.data)?);
    state
        .keys
        .insert(ids.personal.clone(), new_key(rng, seal, &ids.personal)?);
    Ok(ids)
}

impl KeyProvider for LocalKeyStore {
    fn current_keys(&self, dataset: &DatasetName) -> Result<DatasetKeyIds> {
        let name = dataset.as_str();
        let existing = |state: &KeyStoreFile| -> Result<Option<DatasetKeyIds>> {
            refuse_shredded(state, name)?;
            Ok(current_version(state, name).map(|v| DatasetKeyIds::of(name, v)))
        };
        if let Some(ids) = existing(&crate::read(&self.state))? {
            return Ok(ids);
        }
        self.modify(|state, rng| match existing(state)? {
            Some(ids) => Ok(ids),
            None => add_version(state, rng, self.seal.as_ref(), name, 1),
        })
    }

    fn wrap(&self, key: &[u8], master_key_id: &str) -> Result<String> {
        wrap_with(
            &self.master_key(master_key_id)?,
            key,
            master_key_id,
            &self.rng,
        )
    }

    fn unwrap(&self, wrapped: &str, master_key_id: &str) -> Result<Zeroizing<Vec<u8>>> {
        unwrap_with(&self.master_key(master_key_id)?, wrapped, master_key_id)
    }

    fn rotate(&self, dataset: &DatasetName) -> Result<DatasetKeyIds> {
        let name = dataset.as_str();
        self.modify(|state, rng| {
            refuse_shredded(state, name)?;
            let next = current_version(state, name).unwrap_or(0) + 1;
            add_version(state, rng, self.seal.as_ref(), name, next)
        })
    }

    fn continue_after(&self, dataset: &DatasetName, version: u32) -> Result<DatasetKeyIds> {
        let name = dataset.as_str();
        self.modify(|state, rng| {
            refuse_shredded(state, name)?;
            match current_version(state, name) {
                Some(newest) if newest > version => Ok(DatasetKeyIds::of(name, newest)),
                _ => add_version(state, rng, self.seal.as_ref(), name, version + 1),
            }
        })
    }

    fn shred(&self, dataset: &DatasetName) -> Result<()> {
        let name = dataset.as_str();
        self.modify(|state, _| {
            state
                .keys
                .retain(|id, _| parse_master_key_id(id).is_none_or(|(d, _, _)| d != name));
            state.shredded.insert(name.to_owned(), now());
            Ok(())
        })
    }

    fn shredded_at(&self, dataset: &DatasetName) -> Option<String> {
        if let Some(at) = crate::read(&self.state).shredded.get(dataset.as_str()) {
            return Some(at.clone());
        }
        read_file(&self.path)
            .ok()
            .and_then(|s| s.shredded.get(dataset.as_str()).cloned())
    }

    fn list(&self) -> Result<Vec<MasterKeyInfo>> {
        let state = read_file(&self.path)?;
        Ok(state
            .keys
            .iter()
            .filter_map(|(id, k)| {
                parse_master_key_id(id).map(|(d, p, v)| MasterKeyInfo {
                    id: id.clone(),
                    dataset: d.to_owned(),
                    purpose: p.to_owned(),
                    version: v,
                    created_at: k.created_at.clone(),
                })
            })
            .collect())
    }

    fn check(&self) -> Result<()> {
        let state = read_file(&self.path)?;
        let Some(id) = state.keys.keys().next().cloned() else {
            return Ok(());
        };
        drop(state);
        crate::round_trip(self, &id, &format!("key store {}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, LocalKeyStore) {
        let dir = tempfile::tempdir().unwrap();
        let ks = LocalKeyStore::create(
            &dir.path().join("keys/keystore.json"),
            &SealSource::KeyFile(Some(dir.path().join("seal.key"))),
        )
        .unwrap();
        (dir, ks)
    }

    #[test]
    fn the_key_file_holds_no_key_in_clear() {
        let (dir, ks) = store();
        let ds = DatasetName::new("obitos").unwrap();
        let ids = ks.current_keys(&ds).unwrap();
        let wrapped = ks.wrap(b"0123456789abcdef", &ids.data).unwrap();
        let text = std::fs::read_to_string(dir.path().join("keys/keystore.json")).unwrap();
        assert!(text.contains(FORMAT_SEALED), "{text}");
        assert!(!text.contains("\"key\""), "no clear key entry: {text}");
        let seal_file = dir.path().join("seal.key").display().to_string();
        assert!(
            text.contains(&seal_file),
            "the store names its seal file: {text}"
        );
        // The key store copied without its seal file opens nothing.
        let copy = tempfile::tempdir().unwrap();
        let moved = copy.path().join("keystore.json");
        std::fs::copy(dir.path().join("keys/keystore.json"), &moved).unwrap();
        std::fs::set_permissions(&moved, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::set_permissions(copy.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::remove_file(dir.path().join("seal.key")).unwrap();
        let err = LocalKeyStore::open(&moved, &SealSource::KeyFile(None)).unwrap_err();
        assert!(err.to_string().contains("seal key file"), "{err}");
        assert!(err.to_string().contains("is missing"), "{err}");
        drop(wrapped);
    }

    #[test]
    fn an_unsealed_store_is_read_and_then_sealed_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        std::fs::create_dir(&keys).unwrap();
        std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o700)).unwrap();
        let path = keys.join("keystore.json");
        let clear = BASE64_STANDARD.encode([5u8; 32]);
        std::fs::write(
            &path,
            format!(
                r#"{{"format":"{FORMAT_UNSEALED}","keys":{{"lagoa.obitos.data.v1":{{"key":"{clear}","created_at":"2026-01-01T00:00:00Z"}}}}}}"#
            ),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let seal = SealSource::KeyFile(Some(dir.path().join("seal.key")));
        let old = LocalKeyStore::open(&path, &seal).unwrap();
        let wrapped = old
            .wrap(b"0123456789abcdef", "lagoa.obitos.data.v1")
            .unwrap();
        assert_eq!(LocalKeyStore::seal_in_place(&path, &seal).unwrap(), 1);
        assert_eq!(LocalKeyStore::seal_in_place(&path, &seal).unwrap(), 0);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains(&clear),
            "the clear key left the file: {text}"
        );
        let sealed = LocalKeyStore::open(&path, &SealSource::KeyFile(None)).unwrap();
        assert_eq!(
            sealed
                .unwrap(&wrapped, "lagoa.obitos.data.v1")
                .unwrap()
                .as_slice(),
            b"0123456789abcdef",
            "what was wrapped before sealing still unwraps"
        );
    }

    #[test]
    fn key_file_is_private() {
        let (dir, _ks) = store();
        let mode = std::fs::metadata(dir.path().join("keys/keystore.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn wrap_unwrap_binds_the_master_key_id() {
        let (_dir, ks) = store();
        let ds = DatasetName::new("obitos").unwrap();
        let ids = ks.current_keys(&ds).unwrap();
        let wrapped = ks.wrap(b"0123456789abcdef", &ids.data).unwrap();
        assert_eq!(
            ks.unwrap(&wrapped, &ids.data).unwrap().as_slice(),
            b"0123456789abcdef"
        );
        // The same ciphertext presented as wrapped by the other key fails.
        assert!(ks.unwrap(&wrapped, &ids.personal).is_err());
    }

    #[test]
    fn rotation_keeps_old_versions_and_shred_removes_all() {
        let (_dir, ks) = store();
        let ds = DatasetName::new("obitos").unwrap();
        let v1 = ks.current_keys(&ds).unwrap();
        let wrapped = ks.wrap(b"0123456789abcdef", &v1.data).unwrap();
        let v2 = ks.rotate(&ds).unwrap();
        assert_ne!(v1, v2);
        assert_eq!(ks.current_keys(&ds).unwrap(), v2);
        assert!(
            ks.unwrap(&wrapped, &v1.data).is_ok(),
            "old files stay readable after rotation"
        );
        ks.shred(&ds).unwrap();
        match ks.unwrap(&wrapped, &v1.data) {
            Err(KeyError::Shredded { dataset, .. }) => assert_eq!(dataset, "obitos"),
            other => panic!("expected Shredded, got {other:?}"),
        }
        assert!(ks.list().unwrap().is_empty());
        assert!(
            ks.current_keys(&ds).is_err(),
            "a shredded dataset gets no new keys"
        );
    }
}
