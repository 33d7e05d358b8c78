//! Master keys inside a PKCS#11 token: a hardware security module, or
//! SoftHSM2 on a test machine. Each master key is generated in the token as
//! a non-extractable, sensitive AES-256 key whose label is its id
//! (`lagoa.<dataset>.<purpose>.vN`); its bytes never leave the token.
//! Wrapping and unwrapping a data key is AES-GCM inside the token with the
//! full key id as additional authenticated data, so a key wrapped for one
//! personal column (`…pessoal.vN#cpf`) never opens as another column's.
//!
//! Wrapped keys read `p11:1:<base64(nonce(12) || ciphertext || tag(16))>`.
//! Shredding destroys the dataset's key objects and leaves a data object
//! `lagoa.shredded.<dataset>` saying when, so a later read is told the
//! dataset was shredded rather than that a key is unknown.
//!
//! Two processes creating a dataset's first keys at the same moment may
//! leave two objects under one label; both are kept, new files use the one
//! found first, and unwrapping tries each (GCM authentication tells which).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as P11Error, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use lagoa_core::DatasetName;
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::error::{KeyError, Result};
use crate::{DatasetKeyIds, KeyProvider, MasterKeyInfo, parse_master_key_id, split_column_scope};

const WRAP_PREFIX: &str = "p11:1:";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const SHREDDED_PREFIX: &str = "lagoa.shredded.";
/// How long a dataset's newest key version is trusted before the token is
/// asked again (a rotation or a shredding by another process shows then).
const VERSION_LIFETIME: Duration = Duration::from_secs(60);

/// Where the token is and how to sign in to it.
#[derive(Clone)]
pub struct Pkcs11Settings {
    /// The vendor's PKCS#11 module (a shared library).
    pub module: String,
    /// The token's label.
    pub token: String,
    /// The user PIN.
    pub pin: Zeroizing<String>,
}

impl std::fmt::Debug for Pkcs11Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Settings")
            .field("module", &self.module)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

/// Master keys held by one PKCS#11 token.
pub struct Pkcs11Keys {
    token: String,
    /// One logged-in session; calls are few (a key-encryption key is
    /// unwrapped once per process and cached by the Parquet key tools), so
    /// they take turns.
    session: Mutex<Session>,
    /// Key objects found so far, by label.
    handles: Mutex<HashMap<String, Vec<ObjectHandle>>>,
    /// Each dataset's newest key version, and when it was read from the
    /// token: files are written with it without listing the token's keys
    /// each time.
    versions: Mutex<HashMap<String, (Instant, u32)>>,
    rng: SystemRandom,
}

impl std::fmt::Debug for Pkcs11Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Keys")
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

impl Pkcs11Keys {
    /// Loads the module, finds the token by its label and signs in.
    pub fn open(settings: &Pkcs11Settings) -> Result<Self> {
        let module = &settings.module;
        let token = &settings.token;
        let context = Pkcs11::new(module).map_err(|e| {
            KeyError::Refused(format!("the PKCS#11 module {module} cannot be loaded: {e}"))
        })?;
        match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(P11Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => return Err(unavailable(token, "initialising the module", &e)),
        }
        let slots = context
            .get_slots_with_token()
            .map_err(|e| unavailable(token, "listing slots", &e))?;
        let slot = slots
            .into_iter()
            .find(|slot| {
                context
                    .get_token_info(*slot)
                    .is_ok_and(|info| info.label().trim_end() == token)
            })
            .ok_or_else(|| {
                KeyError::Refused(format!(
                    "no PKCS#11 token labelled {token:?} in module {module}"
                ))
            })?;
        let session = context
            .open_rw_session(slot)
            .map_err(|e| unavailable(token, "opening a session", &e))?;
        let pin = AuthPin::from(settings.pin.as_str());
        match session.login(UserType::User, Some(&pin)) {
            Ok(()) | Err(P11Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(P11Error::Pkcs11(RvError::PinIncorrect | RvError::PinInvalid, _)) => {
                return Err(KeyError::Refused(format!(
                    "the PIN for PKCS#11 token {token:?} was refused"
                )));
            }
            Err(P11Error::Pkcs11(RvError::PinLocked, _)) => {
                return Err(KeyError::Refused(format!(
                    "PKCS#11 token {token:?} is locked after wrong PINs"
                )));
            }
            Err(e) => return Err(unavailable(token, "signing in", &e)),
        }
        Ok(Self {
            token: token.clone(),
            session: Mutex::new(session),
            handles: Mutex::new(HashMap::new()),
            versions: Mutex::new(HashMap::new()),
            rng: SystemRandom::new(),
        })
    }

    fn session(&self) -> std::sync::MutexGuard<'_, Session> {
        crate::lock(&self.session)
    }

    /// Every key object under `label`, oldest lookup first.
    fn key_objects(&self, session: &Session, label: &str) -> Result<Vec<ObjectHandle>> {
        if let Some(found) = crate::lock(&self.handles).get(label).cloned() {
            return Ok(found);
        }
        let found = session
            .find_objects(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::Label(label.as_bytes().to_vec()),
            ])
            .map_err(|e| unavailable(&self.token, &format!("looking up {label}"), &e))?;
        if !found.is_empty() {
            crate::lock(&self.handles).insert(label.to_owned(), found.clone());
        }
        Ok(found)
    }

    /// The labels of every Lagoa master key in the token, with their handles.
    fn all_keys(&self, session: &Session) -> Result<Vec<(String, ObjectHandle)>> {
        let handles = session
            .find_objects(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
            ])
            .map_err(|e| unavailable(&self.token, "listing keys", &e))?;
        let mut keys = Vec::new();
        for handle in handles {
            let label = label_of(session, handle)
                .map_err(|e| unavailable(&self.token, "reading a key's label", &e))?;
            if parse_master_key_id(&label).is_some() {
                keys.push((label, handle));
            }
        }
        Ok(keys)
    }

    fn version_of(keys: &[(String, ObjectHandle)], dataset: &str) -> Option<u32> {
        crate::latest_version(keys.iter().map(|(label, _)| label.as_str()), dataset)
    }

    fn generate(&self, session: &Session, id: &str) -> Result<()> {
        // The object's id: when it was made (seconds, big-endian), then
        // random bytes; `list` reads the date back from it.
        let mut object_id = [0u8; 16];
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        object_id[..8].copy_from_slice(&now.to_be_bytes());
        self.rng
            .fill(&mut object_id[8..])
            .map_err(|_| KeyError::Refused("the system random generator failed".into()))?;
        let handle = session
            .generate_key(
                &Mechanism::AesKeyGen,
                &[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::AES),
                    Attribute::ValueLen(32.into()),
                    Attribute::Token(true),
                    Attribute::Private(true),
                    Attribute::Sensitive(true),
                    Attribute::Extractable(false),
                    Attribute::Encrypt(true),
                    Attribute::Decrypt(true),
                    Attribute::Wrap(false),
                    Attribute::Unwrap(false),
                    Attribute::Sign(false),
                    Attribute::Verify(false),
                    Attribute::Derive(false),
                    Attribute::Label(id.as_bytes().to_vec()),
                    Attribute::Id(object_id.to_vec()),
                ],
            )
            .map_err(|e| unavailable(&self.token, &format!("creating {id}"), &e))?;
        crate::lock(&self.handles).insert(id.to_owned(), vec![handle]);
        Ok(())
    }

    fn add_version(&self, session: &Session, dataset: &str, version: u32) -> Result<DatasetKeyIds> {
        let ids = DatasetKeyIds::of(dataset, version);
        self.generate(session, &ids.data)?;
        self.generate(session, &ids.personal)?;
        crate::lock(&self.versions).insert(dataset.to_owned(), (Instant::now(), version));
        Ok(ids)
    }

    /// The dataset's newest key version as the token has it, refusing a
    /// shredded dataset.
    fn newest_version(&self, session: &Session, dataset: &str) -> Result<Option<u32>> {
        self.refuse_if_shredded(session, dataset)?;
        let version = Self::version_of(&self.all_keys(session)?, dataset);
        if let Some(version) = version {
            crate::lock(&self.versions).insert(dataset.to_owned(), (Instant::now(), version));
        }
        Ok(version)
    }

    fn shredded_marker(&self, session: &Session, dataset: &str) -> Result<Option<String>> {
        let found = session
            .find_objects(&[
                Attribute::Class(ObjectClass::DATA),
                Attribute::Label(format!("{SHREDDED_PREFIX}{dataset}").into_bytes()),
            ])
            .map_err(|e| unavailable(&self.token, "looking up shredded datasets", &e))?;
        let Some(handle) = found.first() else {
            return Ok(None);
        };
        let attributes = session
            .get_attributes(*handle, &[AttributeType::Value])
            .map_err(|e| unavailable(&self.token, "reading a shredding record", &e))?;
        Ok(attributes.into_iter().find_map(|a| match a {
            Attribute::Value(at) => Some(String::from_utf8_lossy(&at).into_owned()),
            _ => None,
        }))
    }

    fn refuse_if_shredded(&self, session: &Session, dataset: &str) -> Result<()> {
        match self.shredded_marker(session, dataset)? {
            Some(at) => Err(KeyError::Shredded {
                dataset: dataset.to_owned(),
                at,
            }),
            None => Ok(()),
        }
    }

    /// Runs `attempt` (`None`: a cached handle of `label` no longer names
    /// an object, destroyed by another process or the token's officer) and,
    /// on a stale handle, once more after looking the key up again: a key
    /// that is gone is then refused as missing or shredded, never taken for
    /// an outage.
    fn with_fresh_handles<T>(
        &self,
        label: &str,
        attempt: impl Fn() -> Result<Option<T>>,
    ) -> Result<T> {
        if let Some(done) = attempt()? {
            return Ok(done);
        }
        crate::lock(&self.handles).remove(label);
        attempt()?.ok_or_else(|| {
            KeyError::Refused(format!(
                "master key {label} changed in PKCS#11 token {:?} while in use",
                self.token
            ))
        })
    }

    /// One wrap with the key's handles as cached (see [`Self::with_fresh_handles`]).
    fn wrap_once(&self, key: &[u8], master_key_id: &str) -> Result<Option<String>> {
        let (stored_id, _) = split_column_scope(master_key_id);
        let session = self.session();
        let handle = self.master(&session, stored_id)?[0];
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| KeyError::Refused("the system random generator failed".into()))?;
        let mut iv = nonce;
        let params = GcmParams::new(&mut iv, master_key_id.as_bytes(), 128.into())
            .map_err(|e| KeyError::Refused(format!("wrapping under {master_key_id}: {e}")))?;
        tracing::debug!(operation = "encrypt", key = master_key_id, "pkcs11 call");
        let sealed = match session.encrypt(&Mechanism::AesGcm(params), handle, key) {
            Ok(sealed) => sealed,
            Err(e) if stale(&e) => return Ok(None),
            Err(e) => {
                return Err(unavailable(
                    &self.token,
                    &format!("wrapping under {master_key_id}"),
                    &e,
                ));
            }
        };
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(Some(format!(
            "{WRAP_PREFIX}{}",
            BASE64_STANDARD.encode(out)
        )))
    }

    /// One unwrap with the key's handles as cached (see [`Self::with_fresh_handles`]).
    fn unwrap_once(
        &self,
        wrapped: &str,
        master_key_id: &str,
    ) -> Result<Option<Zeroizing<Vec<u8>>>> {
        let refused = |what: &str| {
            KeyError::Refused(format!("a data key wrapped under {master_key_id} {what}"))
        };
        let raw = wrapped
            .strip_prefix(WRAP_PREFIX)
            .ok_or_else(|| refused("was not wrapped by a PKCS#11 token"))
            .and_then(|b64| {
                BASE64_STANDARD
                    .decode(b64)
                    .map_err(|_| refused("is not base64"))
            })?;
        if raw.len() < NONCE_LEN + TAG_LEN {
            return Err(refused("is too short"));
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let (stored_id, _) = split_column_scope(master_key_id);
        let session = self.session();
        for handle in self.master(&session, stored_id)? {
            let mut iv = [0u8; NONCE_LEN];
            iv.copy_from_slice(nonce);
            let params = GcmParams::new(&mut iv, master_key_id.as_bytes(), 128.into())
                .map_err(|e| refused(&format!("cannot be opened: {e}")))?;
            tracing::debug!(operation = "decrypt", key = master_key_id, "pkcs11 call");
            match session.decrypt(&Mechanism::AesGcm(params), handle, sealed) {
                Ok(plain) => return Ok(Some(Zeroizing::new(plain))),
                Err(e) if stale(&e) => return Ok(None),
                // SoftHSM reports a failed tag as a general error.
                Err(P11Error::Pkcs11(
                    RvError::EncryptedDataInvalid
                    | RvError::EncryptedDataLenRange
                    | RvError::GeneralError,
                    _,
                )) => continue,
                Err(e) => {
                    return Err(unavailable(
                        &self.token,
                        &format!("unwrapping under {master_key_id}"),
                        &e,
                    ));
                }
            }
        }
        Err(KeyError::Tampered(format!(
            "a data key wrapped under {master_key_id} failed authentication"
        )))
    }

    /// The key objects of a master key, or why there are none.
    fn master(&self, session: &Session, master_key_id: &str) -> Result<Vec<ObjectHandle>> {
        let found = self.key_objects(session, master_key_id)?;
        if !found.is_empty() {
            return Ok(found);
        }
        if let Some((dataset, _, _)) = parse_master_key_id(master_key_id) {
            self.refuse_if_shredded(session, dataset)?;
        }
        Err(KeyError::Refused(format!(
            "master key {master_key_id} is not in PKCS#11 token {:?}",
            self.token
        )))
    }
}

fn label_of(session: &Session, handle: ObjectHandle) -> cryptoki::error::Result<String> {
    let attributes = session.get_attributes(handle, &[AttributeType::Label])?;
    Ok(attributes
        .into_iter()
        .find_map(|a| match a {
            Attribute::Label(label) => Some(String::from_utf8_lossy(&label).into_owned()),
            _ => None,
        })
        .unwrap_or_default())
}

/// When a key object was made, from its id (see `generate`).
fn created_at(session: &Session, handle: ObjectHandle) -> String {
    let Ok(attributes) = session.get_attributes(handle, &[AttributeType::Id]) else {
        return String::new();
    };
    attributes
        .into_iter()
        .find_map(|a| match a {
            Attribute::Id(id) if id.len() >= 8 => {
                let seconds = u64::from_be_bytes(id[..8].try_into().ok()?);
                chrono::DateTime::from_timestamp(i64::try_from(seconds).ok()?, 0)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            }
            _ => None,
        })
        .unwrap_or_default()
}

/// A handle this process cached that no longer names an object: the key
/// was destroyed meanwhile (by another process's shredding, or the token's
/// officer).
fn stale(error: &P11Error) -> bool {
    matches!(
        error,
        P11Error::Pkcs11(RvError::KeyHandleInvalid | RvError::ObjectHandleInvalid, _)
    )
}

/// A token that could not do what was asked, for a reason that may pass
/// (device error, session lost): the caller may try again later.
fn unavailable(token: &str, doing: &str, error: &P11Error) -> KeyError {
    let reason = match error {
        P11Error::Pkcs11(rv, _) => format!("{rv:?}"),
        other => other.to_string(),
    };
    KeyError::Unavailable {
        provider: format!("PKCS#11 token {token:?}"),
        message: format!("{doing}: {reason}"),
    }
}

impl KeyProvider for Pkcs11Keys {
    fn current_keys(&self, dataset: &DatasetName) -> Result<DatasetKeyIds> {
        let name = dataset.as_str();
        let known = crate::lock(&self.versions)
            .get(name)
            .filter(|(seen, _)| seen.elapsed() < VERSION_LIFETIME)
            .map(|(_, version)| *version);
        if let Some(version) = known {
            return Ok(DatasetKeyIds::of(name, version));
        }
        let session = self.session();
        match self.newest_version(&session, name)? {
            Some(version) => Ok(DatasetKeyIds::of(name, version)),
            None => self.add_version(&session, name, 1),
        }
    }

    fn wrap(&self, key: &[u8], master_key_id: &str) -> Result<String> {
        let (stored_id, _) = split_column_scope(master_key_id);
        self.with_fresh_handles(stored_id, || self.wrap_once(key, master_key_id))
    }

    fn unwrap(&self, wrapped: &str, master_key_id: &str) -> Result<Zeroizing<Vec<u8>>> {
        let (stored_id, _) = split_column_scope(master_key_id);
        self.with_fresh_handles(stored_id, || self.unwrap_once(wrapped, master_key_id))
    }

    fn rotate(&self, dataset: &DatasetName) -> Result<DatasetKeyIds> {
        let name = dataset.as_str();
        let session = self.session();
        let next = self.newest_version(&session, name)?.unwrap_or(0) + 1;
        self.add_version(&session, name, next)
    }

    fn continue_after(&self, dataset: &DatasetName, version: u32) -> Result<DatasetKeyIds> {
        let name = dataset.as_str();
        let session = self.session();
        match self.newest_version(&session, name)? {
            Some(newest) if newest > version => Ok(DatasetKeyIds::of(name, newest)),
            _ => self.add_version(&session, name, version + 1),
        }
    }

    fn shred(&self, dataset: &DatasetName) -> Result<()> {
        let name = dataset.as_str();
        let session = self.session();
        for (label, handle) in self.all_keys(&session)? {
            if parse_master_key_id(&label).is_some_and(|(d, _, _)| d == name) {
                session
                    .destroy_object(handle)
                    .map_err(|e| unavailable(&self.token, &format!("destroying {label}"), &e))?;
            }
        }
        crate::lock(&self.handles)
            .retain(|label, _| parse_master_key_id(label).is_none_or(|(d, _, _)| d != name));
        crate::lock(&self.versions).remove(name);
        if self.shredded_marker(&session, name)?.is_none() {
            let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            session
                .create_object(&[
                    Attribute::Class(ObjectClass::DATA),
                    Attribute::Token(true),
                    Attribute::Private(true),
                    Attribute::Label(format!("{SHREDDED_PREFIX}{name}").into_bytes()),
                    Attribute::Value(at.into_bytes()),
                ])
                .map_err(|e| unavailable(&self.token, "recording the shredding", &e))?;
        }
        Ok(())
    }

    fn shredded_at(&self, dataset: &DatasetName) -> Option<String> {
        let session = self.session();
        self.shredded_marker(&session, dataset.as_str())
            .ok()
            .flatten()
    }

    fn list(&self) -> Result<Vec<MasterKeyInfo>> {
        let session = self.session();
        let mut infos: Vec<MasterKeyInfo> = Vec::new();
        for (label, handle) in self.all_keys(&session)? {
            if infos.iter().any(|i| i.id == label) {
                continue;
            }
            if let Some((dataset, purpose, version)) = parse_master_key_id(&label) {
                infos.push(MasterKeyInfo {
                    dataset: dataset.to_owned(),
                    purpose: purpose.to_owned(),
                    version,
                    created_at: created_at(&session, handle),
                    id: label,
                });
            }
        }
        infos.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(infos)
    }

    fn check(&self) -> Result<()> {
        let first = {
            let session = self.session();
            self.all_keys(&session)?.into_iter().next()
        };
        let Some((id, _)) = first else {
            return Ok(());
        };
        crate::round_trip(self, &id, &format!("PKCS#11 token {:?}", self.token))
    }
}
