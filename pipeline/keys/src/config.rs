//! `[keys]` in `lagoa.toml`: which provider holds the master keys, and how
//! to reach it. Every option is documented in docs/configuration.md.

use std::path::Path;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{KeyError, Result};
use crate::pkcs11::Pkcs11Settings;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeysConfig {
    /// `local`: a key file beside the lake (one machine, not production);
    /// `pkcs11`: keys generated and kept inside a PKCS#11 token (an HSM);
    /// `kms`: keys kept by a service speaking the AWS KMS API.
    pub provider: String,
    /// local: the key store file, relative to the lake directory.
    pub path: String,
    /// local: what seals the key store's keys: `key-file` (a random key in
    /// a file outside the lake) or `passphrase` (stretched with Argon2id).
    pub seal: String,
    /// local, key-file seal: the seal key file (absolute, or relative to
    /// the lake directory). Empty: the file the key store names, chosen at
    /// `lagoa init` under `$XDG_CONFIG_HOME/lagoa/seal/` (`~/.config`).
    pub seal_key_file: String,
    /// local, passphrase seal: the environment variable holding it.
    pub seal_passphrase_env: String,
    /// local, passphrase seal: a file holding it (mode 0600), read when the
    /// variable is not set; relative to the lake directory.
    pub seal_passphrase_file: String,
    /// pkcs11: the token vendor's module, a shared library.
    pub pkcs11_module: String,
    /// pkcs11: the label of the token holding the keys.
    pub pkcs11_token: String,
    /// pkcs11: the environment variable holding the user PIN.
    pub pkcs11_pin_env: String,
    /// pkcs11: a file holding the user PIN (mode 0600 or 0400), read when
    /// the variable is not set; relative to the lake directory.
    pub pkcs11_pin_file: String,
    /// kms: the service's address (`https://kms.sa-east-1.amazonaws.com`).
    pub kms_endpoint: String,
    /// kms: the region requests are signed for.
    pub kms_region: String,
    /// kms: allow a plain `http://` endpoint (a server on a trusted network).
    pub kms_allow_http: bool,
    /// kms: aliases are `alias/<prefix><dataset>/<purpose>/v<N>`.
    pub kms_alias_prefix: String,
    /// kms: days a shredded key waits before the service deletes it (7-30).
    pub kms_deletion_days: u32,
    /// kms: the longest one request may take.
    pub kms_timeout_seconds: u64,
    /// Set by `lagoa keys migrate` (`"local"`): the lake's earlier master
    /// keys moved into this provider and are kept, wrapped by it, in the
    /// catalog; files written before the move are read through them.
    pub moved_from: String,
}

impl Default for KeysConfig {
    fn default() -> Self {
        Self {
            provider: "local".into(),
            path: "keys/keystore.json".into(),
            seal: "key-file".into(),
            seal_key_file: String::new(),
            seal_passphrase_env: "LAGOA_KEYSTORE_PASSPHRASE".into(),
            seal_passphrase_file: String::new(),
            pkcs11_module: String::new(),
            pkcs11_token: String::new(),
            pkcs11_pin_env: "LAGOA_PKCS11_PIN".into(),
            pkcs11_pin_file: String::new(),
            kms_endpoint: String::new(),
            kms_region: "us-east-1".into(),
            kms_allow_http: false,
            kms_alias_prefix: "lagoa/".into(),
            kms_deletion_days: 7,
            kms_timeout_seconds: 10,
            moved_from: String::new(),
        }
    }
}

impl KeysConfig {
    /// What is wrong with these settings, each naming its option.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        match self.provider.as_str() {
            "local" => {
                if self.path.trim().is_empty() {
                    problems.push("keys.path: the local key store needs a file".into());
                }
                match self.seal.as_str() {
                    "key-file" => {}
                    "passphrase" => {
                        if self.seal_passphrase_env.trim().is_empty()
                            && self.seal_passphrase_file.trim().is_empty()
                        {
                            problems.push(
                                "keys.seal_passphrase_env / keys.seal_passphrase_file: say where the passphrase comes from"
                                    .into(),
                            );
                        }
                    }
                    other => problems.push(format!(
                        "keys.seal {other:?}: expected \"key-file\" or \"passphrase\""
                    )),
                }
            }
            "pkcs11" => {
                if self.pkcs11_module.trim().is_empty() {
                    problems.push(
                        "keys.pkcs11_module: the PKCS#11 provider needs the module's path".into(),
                    );
                }
                if self.pkcs11_token.trim().is_empty() {
                    problems.push(
                        "keys.pkcs11_token: the PKCS#11 provider needs the token's label".into(),
                    );
                }
                if self.pkcs11_pin_env.trim().is_empty() && self.pkcs11_pin_file.trim().is_empty() {
                    problems.push(
                        "keys.pkcs11_pin_env / keys.pkcs11_pin_file: say where the PIN comes from"
                            .into(),
                    );
                }
            }
            "kms" => problems.extend(self.kms_problems()),
            other => problems.push(format!(
                "keys.provider {other:?}: expected \"local\", \"pkcs11\" or \"kms\""
            )),
        }
        problems
    }

    fn kms_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        match url::Url::parse(&self.kms_endpoint) {
            Ok(u) if u.scheme() == "https" => {}
            Ok(u) if u.scheme() == "http" && self.kms_allow_http => {}
            Ok(u) if u.scheme() == "http" => problems.push(format!(
                "keys.kms_endpoint {:?} is plain HTTP: set keys.kms_allow_http = true only for a server on a trusted network",
                self.kms_endpoint
            )),
            _ => problems.push(format!(
                "keys.kms_endpoint {:?}: the KMS provider needs the service's https:// address",
                self.kms_endpoint
            )),
        }
        if !(7..=30).contains(&self.kms_deletion_days) {
            problems.push(format!(
                "keys.kms_deletion_days {}: the KMS API takes 7 to 30 days",
                self.kms_deletion_days
            ));
        }
        let prefix_ok = self
            .kms_alias_prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-'));
        if !prefix_ok || self.kms_alias_prefix.starts_with("aws/") {
            problems.push(format!(
                "keys.kms_alias_prefix {:?}: letters, digits, '/', '_' and '-' only, not aws/",
                self.kms_alias_prefix
            ));
        }
        if self.kms_timeout_seconds == 0 {
            problems.push("keys.kms_timeout_seconds: at least 1".into());
        }
        problems
    }

    /// What seals the local key store, paths resolved against the lake.
    pub fn seal_source(&self, lake_dir: &Path) -> crate::SealSource {
        let resolve = |p: &str| (!p.trim().is_empty()).then(|| lake_dir.join(p));
        if self.seal == "passphrase" {
            crate::SealSource::Passphrase {
                env: self.seal_passphrase_env.trim().to_owned(),
                file: resolve(&self.seal_passphrase_file),
            }
        } else {
            crate::SealSource::KeyFile(resolve(&self.seal_key_file))
        }
    }

    /// A local key store sealed by `key_file` (tests and tools that make
    /// lakes in a scratch directory and keep the seal beside them).
    pub fn local_sealed_by(key_file: &Path) -> Self {
        Self {
            seal_key_file: key_file.display().to_string(),
            ..Self::default()
        }
    }

    /// The service settings of the `kms` provider.
    pub fn kms_settings(&self) -> crate::kms::KmsSettings {
        crate::kms::KmsSettings {
            endpoint: self.kms_endpoint.clone(),
            region: self.kms_region.clone(),
            alias_prefix: self.kms_alias_prefix.clone(),
            deletion_days: self.kms_deletion_days,
            timeout: std::time::Duration::from_secs(self.kms_timeout_seconds),
        }
    }

    /// Where the keys are, for people: `local (keys/keystore.json)`,
    /// `pkcs11 (token "lagoa" in /usr/lib/softhsm/libsofthsm2.so)`.
    pub fn describe(&self) -> String {
        match self.provider.as_str() {
            "pkcs11" => format!(
                "pkcs11 (token {:?} in {})",
                self.pkcs11_token, self.pkcs11_module
            ),
            "kms" => format!(
                "kms ({}, aliases alias/{}…)",
                self.kms_endpoint, self.kms_alias_prefix
            ),
            other => format!(
                "{other} ({}, sealed by {})",
                self.path,
                self.seal_description()
            ),
        }
    }

    fn seal_description(&self) -> String {
        match (self.seal.as_str(), self.seal_key_file.as_str()) {
            ("passphrase", _) => "a passphrase".into(),
            (_, "") => "the key file it names".into(),
            (_, file) => format!("the key file {file}"),
        }
    }

    /// The token settings, the PIN read from the environment or its file.
    pub fn pkcs11_settings(&self, lake_dir: &Path) -> Result<Pkcs11Settings> {
        Ok(Pkcs11Settings {
            module: self.pkcs11_module.clone(),
            token: self.pkcs11_token.clone(),
            pin: self.pin(lake_dir)?,
        })
    }

    fn pin(&self, lake_dir: &Path) -> Result<Zeroizing<String>> {
        let variable = self.pkcs11_pin_env.trim();
        if !variable.is_empty()
            && let Ok(pin) = std::env::var(variable)
        {
            return Ok(Zeroizing::new(pin));
        }
        if self.pkcs11_pin_file.trim().is_empty() {
            return Err(KeyError::Refused(format!(
                "no PIN for PKCS#11 token {:?}: set {variable} or keys.pkcs11_pin_file",
                self.pkcs11_token
            )));
        }
        let path = lake_dir.join(&self.pkcs11_pin_file);
        crate::local::require_private(
            &path,
            &format!("the PIN file {}", path.display()),
            "chmod 600",
        )?;
        let text = Zeroizing::new(
            std::fs::read_to_string(&path)
                .map_err(KeyError::io(format!("reading {}", path.display())))?,
        );
        Ok(Zeroizing::new(
            text.trim_end_matches(['\n', '\r']).to_owned(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn each_provider_names_what_it_misses() {
        assert!(KeysConfig::default().problems().is_empty());
        let pkcs11 = KeysConfig {
            provider: "pkcs11".into(),
            pkcs11_pin_env: String::new(),
            ..KeysConfig::default()
        };
        let problems = pkcs11.problems().join("\n");
        for option in [
            "keys.pkcs11_module",
            "keys.pkcs11_token",
            "keys.pkcs11_pin_file",
        ] {
            assert!(
                problems.contains(option),
                "{option} missing from {problems}"
            );
        }
        let unknown = KeysConfig {
            provider: "vault".into(),
            ..KeysConfig::default()
        };
        assert!(unknown.problems()[0].contains("\"vault\""));
    }

    #[test]
    fn a_pin_file_others_can_read_is_refused_and_a_private_one_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pin");
        std::fs::write(&file, "1234\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let config = KeysConfig {
            provider: "pkcs11".into(),
            pkcs11_pin_env: "LAGOA_TEST_PIN_THAT_IS_NEVER_SET".into(),
            pkcs11_pin_file: "pin".into(),
            ..KeysConfig::default()
        };
        let refused = config.pkcs11_settings(dir.path()).unwrap_err().to_string();
        assert!(refused.contains("chmod 600"), "{refused}");
        assert!(!refused.contains("1234"), "the PIN never shows: {refused}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let settings = config.pkcs11_settings(dir.path()).unwrap();
        assert_eq!(settings.pin.as_str(), "1234");
        assert!(!format!("{settings:?}").contains("1234"));
    }
}
