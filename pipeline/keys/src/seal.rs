//! The local key store's seal: master keys are written to the key file only
//! encrypted (AES-256-GCM) under a seal key that does not live in the lake.
//!
//! The seal key comes from one of two places:
//! - a **key file** (the default): 32 random bytes, mode 0600, made at
//!   `lagoa init` outside the lake directory (under the user's
//!   configuration directory unless `keys.seal_key_file` says otherwise);
//! - a **passphrase** (`keys.seal = "passphrase"`), stretched with Argon2id
//!   (64 MiB, 3 passes) and a random salt kept in the key store.
//!
//! Each sealed key carries its id as associated data, so entries cannot be
//! swapped inside the file; a check value tells a wrong passphrase or key
//! file apart from a damaged store.
//!
//! What this protects against: a copy of the lake directory, a backup of it
//! or of the bucket, read without the seal key file or the passphrase. What
//! it does not: anyone who can read the seal key file (or the environment
//! holding the passphrase) on the same machine, or the memory of a running
//! Lagoa process. Keys that must never exist outside hardware belong in an
//! HSM or a KMS (`keys.provider`).

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{KeyError, Result};
use crate::local::require_private;

/// Argon2id cost for a passphrase: OWASP's first recommended setting is
/// 19 MiB × 2 passes; this spends more (about a quarter of a second here),
/// once per process.
const ARGON2_MEMORY_KIB: u32 = 64 * 1024;
const ARGON2_ITERATIONS: u32 = 3;
const ARGON2_PARALLELISM: u32 = 1;

/// What the check value encrypts; its AAD keeps it apart from key entries.
const CHECK_PLAINTEXT: &[u8] = b"lagoa key store seal";
const CHECK_AAD: &[u8] = b"lagoa-seal-check";

/// Where the seal key comes from, as configured.
#[derive(Clone, Debug)]
pub enum SealSource {
    /// The key file; `None` means the file named in the key store.
    KeyFile(Option<PathBuf>),
    /// A passphrase from the environment variable, or else from the file.
    Passphrase { env: String, file: Option<PathBuf> },
}

/// The seal as recorded in the key store (never the key itself).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct SealHeader {
    /// `key-file` or `passphrase`.
    kind: String,
    /// The key file chosen at creation (key-file seals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key_file: Option<String>,
    /// The passphrase's stretching (passphrase seals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kdf: Option<KdfParams>,
    /// [`CHECK_PLAINTEXT`] sealed: opens only under the right seal key.
    check: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct KdfParams {
    algorithm: String,
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
    salt: String,
}

impl SealHeader {
    /// The key file named at creation, for a key-file seal.
    pub(crate) fn key_file(&self) -> Option<String> {
        self.key_file.clone()
    }
}

/// An open seal: encrypts master keys for the key file and decrypts them.
pub(crate) struct Seal {
    key: LessSafeKey,
    rng: SystemRandom,
    /// Names the seal in errors (the key file's path, or "the passphrase").
    what: String,
}

impl std::fmt::Debug for Seal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Seal")
            .field("what", &self.what)
            .finish_non_exhaustive()
    }
}

impl Seal {
    /// A new seal for a new key store: the key file is made if it does not
    /// exist yet (an existing one is used as it is, so several lakes may
    /// share one), a passphrase gets a fresh salt.
    pub(crate) fn create(source: &SealSource) -> Result<(Seal, SealHeader)> {
        let rng = SystemRandom::new();
        match source {
            SealSource::KeyFile(None) => Err(KeyError::Refused(
                "a new key store needs its seal key file named (keys.seal_key_file)".into(),
            )),
            SealSource::KeyFile(Some(path)) => {
                if !path.exists() {
                    write_new_key_file(path, &rng)?;
                }
                let seal = Self::from_key_file(path)?;
                let header = SealHeader {
                    kind: "key-file".into(),
                    key_file: Some(path.display().to_string()),
                    kdf: None,
                    check: seal.seal(CHECK_PLAINTEXT, CHECK_AAD)?,
                };
                Ok((seal, header))
            }
            SealSource::Passphrase { env, file } => {
                let mut salt = [0u8; 16];
                rng.fill(&mut salt)
                    .map_err(|_| KeyError::Refused("system random generator failed".into()))?;
                let kdf = KdfParams {
                    algorithm: "argon2id".into(),
                    memory_kib: ARGON2_MEMORY_KIB,
                    iterations: ARGON2_ITERATIONS,
                    parallelism: ARGON2_PARALLELISM,
                    salt: BASE64_STANDARD.encode(salt),
                };
                let seal = Self::from_passphrase(&read_passphrase(env, file.as_deref())?, &kdf)?;
                let header = SealHeader {
                    kind: "passphrase".into(),
                    key_file: None,
                    check: seal.seal(CHECK_PLAINTEXT, CHECK_AAD)?,
                    kdf: Some(kdf),
                };
                Ok((seal, header))
            }
        }
    }

    /// Opens the seal a key store was written with; a wrong passphrase or
    /// key file is refused here, naming what was tried.
    pub(crate) fn open(source: &SealSource, header: &SealHeader, store: &Path) -> Result<Seal> {
        let seal = match (header.kind.as_str(), source) {
            ("key-file", SealSource::KeyFile(configured)) => {
                let path = match (configured, &header.key_file) {
                    (Some(p), _) => p.clone(),
                    (None, Some(p)) => PathBuf::from(p),
                    (None, None) => {
                        return Err(KeyError::Refused(format!(
                            "key store {} is sealed by a key file it does not name; set keys.seal_key_file",
                            store.display()
                        )));
                    }
                };
                Self::from_key_file(&path)?
            }
            ("passphrase", SealSource::Passphrase { env, file }) => {
                let kdf = header.kdf.as_ref().ok_or_else(|| {
                    KeyError::Refused(format!(
                        "key store {} is sealed by a passphrase but records no key derivation",
                        store.display()
                    ))
                })?;
                Self::from_passphrase(&read_passphrase(env, file.as_deref())?, kdf)?
            }
            (kind, _) => {
                return Err(KeyError::Refused(format!(
                    "key store {} is sealed by a {kind}, not what keys.seal says; set keys.seal = {kind:?}",
                    store.display()
                )));
            }
        };
        seal.open_value(&header.check, CHECK_AAD).map_err(|_| {
            KeyError::Refused(format!(
                "{} does not open the key store {} (wrong key file or passphrase)",
                seal.what,
                store.display()
            ))
        })?;
        Ok(seal)
    }

    fn from_key_file(path: &Path) -> Result<Seal> {
        let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                KeyError::Refused(format!(
                    "the seal key file {} is missing: the local master keys cannot be opened without it",
                    path.display()
                ))
            } else {
                KeyError::io(format!("reading the seal key file {}", path.display()))(e)
            }
        })?);
        require_private(
            path,
            &format!("the seal key file {}", path.display()),
            "chmod 600",
        )?;
        let raw = Zeroizing::new(
            BASE64_STANDARD
                .decode(String::from_utf8_lossy(&bytes).trim())
                .ok()
                .filter(|k| k.len() == 32)
                .ok_or_else(|| {
                    KeyError::Refused(format!(
                        "the seal key file {} does not hold a 32-byte key in base64",
                        path.display()
                    ))
                })?,
        );
        Self::with_key(&raw, format!("the seal key file {}", path.display()))
    }

    fn from_passphrase(passphrase: &[u8], kdf: &KdfParams) -> Result<Seal> {
        if kdf.algorithm != "argon2id" {
            return Err(KeyError::Refused(format!(
                "key store passphrase: unknown key derivation {:?}",
                kdf.algorithm
            )));
        }
        let salt = BASE64_STANDARD.decode(&kdf.salt).map_err(|_| {
            KeyError::Refused("key store passphrase: the salt is not base64".into())
        })?;
        let params = argon2::Params::new(kdf.memory_kib, kdf.iterations, kdf.parallelism, Some(32))
            .map_err(|e| KeyError::Refused(format!("key store passphrase: {e}")))?;
        let mut key = Zeroizing::new([0u8; 32]);
        argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
            .hash_password_into(passphrase, &salt, key.as_mut())
            .map_err(|e| KeyError::Refused(format!("key store passphrase: {e}")))?;
        Self::with_key(key.as_ref(), "the passphrase".into())
    }

    fn with_key(key: &[u8], what: String) -> Result<Seal> {
        let key = UnboundKey::new(&AES_256_GCM, key)
            .map_err(|_| KeyError::Refused(format!("{what} is not an AES-256 key")))?;
        Ok(Seal {
            key: LessSafeKey::new(key),
            rng: SystemRandom::new(),
            what,
        })
    }

    /// A master key sealed for the key file, bound to its id.
    pub(crate) fn seal_key(&self, key: &[u8], id: &str) -> Result<String> {
        self.seal(key, &entry_aad(id))
    }

    /// A master key from the key file.
    pub(crate) fn open_key(&self, sealed: &str, id: &str) -> Result<Zeroizing<Vec<u8>>> {
        self.open_value(sealed, &entry_aad(id)).map_err(|_| {
            KeyError::Refused(format!(
                "master key {id} does not open under {} (the key store was altered)",
                self.what
            ))
        })
    }

    fn seal(&self, plain: &[u8], aad: &[u8]) -> Result<String> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| KeyError::Refused("system random generator failed".into()))?;
        let mut buf = Zeroizing::new(plain.to_vec());
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut *buf,
            )
            .map_err(|_| KeyError::Refused("sealing a master key failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(BASE64_STANDARD.encode(out))
    }

    fn open_value(&self, sealed: &str, aad: &[u8]) -> std::result::Result<Zeroizing<Vec<u8>>, ()> {
        let raw = BASE64_STANDARD.decode(sealed).map_err(drop)?;
        if raw.len() < NONCE_LEN + 16 {
            return Err(());
        }
        let (nonce, body) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(drop)?;
        let mut buf = Zeroizing::new(body.to_vec());
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(aad), &mut buf)
            .map_err(drop)?;
        Ok(Zeroizing::new(plain.to_vec()))
    }
}

fn entry_aad(id: &str) -> Vec<u8> {
    format!("lagoa-seal:{id}").into_bytes()
}

/// Where `lagoa init` puts a new lake's seal key file when none is named:
/// the user's configuration directory (`$XDG_CONFIG_HOME`, else
/// `~/.config`), under `lagoa/seal/`, named after the lake and a random tag.
pub fn default_key_file(lake_dir: &Path) -> Result<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".config"))
        })
        .ok_or_else(|| {
            KeyError::Refused(
                "neither XDG_CONFIG_HOME nor HOME is set: name the seal key file with keys.seal_key_file"
                    .into(),
            )
        })?;
    let name = std::path::absolute(lake_dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "lake".into());
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut tag = [0u8; 6];
    SystemRandom::new()
        .fill(&mut tag)
        .map_err(|_| KeyError::Refused("system random generator failed".into()))?;
    let tag: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    Ok(base.join("lagoa/seal").join(format!("{name}-{tag}.key")))
}

fn write_new_key_file(path: &Path, rng: &SystemRandom) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let existed = dir.exists();
        std::fs::create_dir_all(dir)
            .map_err(KeyError::io(format!("creating {}", dir.display())))?;
        if !existed {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(KeyError::io(format!("restricting {}", dir.display())))?;
        }
    }
    let mut key = Zeroizing::new([0u8; 32]);
    rng.fill(key.as_mut())
        .map_err(|_| KeyError::Refused("system random generator failed".into()))?;
    let text = Zeroizing::new(format!("{}\n", BASE64_STANDARD.encode(key.as_ref())));
    let mut file = std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .map_err(KeyError::io(format!(
            "creating the seal key file {}",
            path.display()
        )))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(KeyError::io(format!(
            "writing the seal key file {}",
            path.display()
        )))
}

fn read_passphrase(env: &str, file: Option<&Path>) -> Result<Zeroizing<Vec<u8>>> {
    if !env.is_empty()
        && let Some(value) = std::env::var_os(env).filter(|v| !v.is_empty())
    {
        return Ok(Zeroizing::new(value.into_encoded_bytes()));
    }
    if let Some(path) = file {
        require_private(
            path,
            &format!("the passphrase file {}", path.display()),
            "chmod 600",
        )?;
        let text = Zeroizing::new(std::fs::read(path).map_err(KeyError::io(format!(
            "reading the passphrase file {}",
            path.display()
        )))?);
        let trimmed = text.trim_ascii_end();
        if !trimmed.is_empty() {
            return Ok(Zeroizing::new(trimmed.to_vec()));
        }
    }
    Err(KeyError::Refused(format!(
        "the local key store is sealed by a passphrase: set {env} or keys.seal_passphrase_file"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_seal_opens_only_with_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("seal/a.key");
        let (seal, header) = Seal::create(&SealSource::KeyFile(Some(file.clone()))).unwrap();
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&file).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        let sealed = seal.seal_key(&[9u8; 32], "lagoa.x.data.v1").unwrap();
        let store = dir.path().join("keystore.json");
        let again = Seal::open(&SealSource::KeyFile(None), &header, &store).unwrap();
        assert_eq!(
            again
                .open_key(&sealed, "lagoa.x.data.v1")
                .unwrap()
                .as_slice(),
            &[9u8; 32]
        );
        // Bound to its id: the same entry under another id does not open.
        assert!(again.open_key(&sealed, "lagoa.x.pessoal.v1").is_err());
        // Another key file is refused by the check value, naming the file.
        let other = dir.path().join("other.key");
        Seal::create(&SealSource::KeyFile(Some(other.clone()))).unwrap();
        let err = Seal::open(&SealSource::KeyFile(Some(other)), &header, &store).unwrap_err();
        assert!(err.to_string().contains("other.key"), "{err}");
        assert!(
            err.to_string().contains("wrong key file or passphrase"),
            "{err}"
        );
    }

    #[test]
    fn a_passphrase_seal_refuses_another_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good");
        let bad = dir.path().join("bad");
        for (p, text) in [(&good, "correct horse\n"), (&bad, "wrong horse\n")] {
            std::fs::write(p, text).unwrap();
            std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .unwrap();
        }
        let source = |file: &Path| SealSource::Passphrase {
            env: String::new(),
            file: Some(file.to_owned()),
        };
        let store = dir.path().join("keystore.json");
        let (seal, header) = Seal::create(&source(&good)).unwrap();
        let sealed = seal.seal_key(&[3u8; 32], "k").unwrap();
        let again = Seal::open(&source(&good), &header, &store).unwrap();
        assert_eq!(again.open_key(&sealed, "k").unwrap().as_slice(), &[3u8; 32]);
        let err = Seal::open(&source(&bad), &header, &store).unwrap_err();
        assert!(
            err.to_string().contains("the passphrase does not open"),
            "{err}"
        );
    }
}
