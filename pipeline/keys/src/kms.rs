//! Master keys in a key management service that speaks the AWS KMS API
//! (AWS itself, government-cloud providers and KMS appliances that offer
//! the same API; moto's server in tests). Each master key is a symmetric
//! customer master key reached through an alias,
//! `alias/<prefix><dataset>/<purpose>/v<N>`; its bytes never leave the
//! service. A data key is wrapped with `Encrypt` and unwrapped with
//! `Decrypt`, the full key id (column included) bound as encryption
//! context. Rotation creates new keys and aliases; shredding schedules the
//! deletion of every key of the dataset, after which the provider refuses
//! them (it checks the key's state itself: some servers still decrypt with
//! a key pending deletion).
//!
//! Requests are signed with AWS Signature Version 4 (the `aws-sigv4`
//! crate) with the credentials of `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`, as for storage. Each
//! call runs on a short-lived thread of its own, so the provider can be
//! called from the Parquet reader inside an async runtime.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use lagoa_core::DatasetName;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::error::{KeyError, Result};
use crate::{
    DatasetKeyIds, KeyProvider, MasterKeyInfo, PURPOSE_DATA, master_key_id, parse_master_key_id,
    split_column_scope,
};

const WRAP_PREFIX: &str = "kms:1:";
/// How long a key's state (enabled, pending deletion) is trusted.
const STATE_LIFETIME: Duration = Duration::from_secs(60);
const ATTEMPTS: u32 = 3;
/// How long an unwrapped key-encryption key is kept, as the Parquet key
/// tools keep theirs; a shredded or disabled key stops being served from
/// the cache when its state is next asked (within `STATE_LIFETIME`).
const UNWRAPPED_LIFETIME: Duration = Duration::from_secs(600);
/// Most unwrapped keys kept at once.
const UNWRAPPED_MAX: usize = 4096;

/// Where the service is and how keys are named there.
#[derive(Clone, Debug)]
pub struct KmsSettings {
    pub endpoint: String,
    pub region: String,
    /// Aliases are `alias/<prefix><dataset>/<purpose>/v<N>`.
    pub alias_prefix: String,
    /// Days a shredded key waits before the service deletes it (7 to 30).
    pub deletion_days: u32,
    pub timeout: Duration,
}

/// A key-encryption key unwrapped lately, and when.
type Unwrapped = (Instant, Zeroizing<Vec<u8>>);

/// A master key id and the alias that names its key in the service.
type MasterAlias = (String, String);

/// What the service said of one key.
#[derive(Clone, Debug)]
struct KeyState {
    key_id: String,
    enabled: bool,
    deletion_date: Option<String>,
    created: String,
    seen: Instant,
}

/// Master keys held by a KMS.
pub struct KmsKeys {
    settings: KmsSettings,
    access_key: String,
    secret_key: Zeroizing<String>,
    session_token: Option<Zeroizing<String>>,
    states: Mutex<HashMap<String, KeyState>>,
    /// Lagoa's aliases in the service, as last listed.
    aliases: Mutex<Option<(Instant, Vec<MasterAlias>)>>,
    /// Serialises creating keys within this process.
    creating: Mutex<()>,
    /// Keys unwrapped lately, by (key id, wrapped key): every governed
    /// query opens a session of its own, and would otherwise ask the
    /// service again for each key-encryption key it reads.
    unwrapped: Mutex<HashMap<(String, String), Unwrapped>>,
}

impl std::fmt::Debug for KmsKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsKeys")
            .field("endpoint", &self.settings.endpoint)
            .finish_non_exhaustive()
    }
}

impl KmsKeys {
    /// Reads the credentials from the environment; no call is made yet.
    pub fn open(settings: KmsSettings) -> Result<Self> {
        let access_key = std::env::var("AWS_ACCESS_KEY_ID").map_err(|_| {
            KeyError::Refused("the KMS needs credentials: AWS_ACCESS_KEY_ID is not set".into())
        })?;
        let secret_key = Zeroizing::new(std::env::var("AWS_SECRET_ACCESS_KEY").map_err(|_| {
            KeyError::Refused("the KMS needs credentials: AWS_SECRET_ACCESS_KEY is not set".into())
        })?);
        let session_token = std::env::var("AWS_SESSION_TOKEN").ok().map(Zeroizing::new);
        let _ = rustls::crypto::ring::default_provider().install_default();
        Ok(Self {
            settings,
            access_key,
            secret_key,
            session_token,
            states: Mutex::new(HashMap::new()),
            aliases: Mutex::new(None),
            creating: Mutex::new(()),
            unwrapped: Mutex::new(HashMap::new()),
        })
    }

    fn provider(&self) -> String {
        format!("the KMS at {}", self.settings.endpoint)
    }

    fn alias(&self, id: &str) -> Result<String> {
        let (dataset, purpose, version) = parse_master_key_id(id)
            .ok_or_else(|| KeyError::Refused(format!("{id} is not a master key id")))?;
        Ok(format!(
            "alias/{}{dataset}/{purpose}/v{version}",
            self.settings.alias_prefix
        ))
    }

    /// The master key id an alias stands for, if it is one of Lagoa's.
    fn id_of_alias(&self, alias: &str) -> Option<String> {
        let rest = alias
            .strip_prefix("alias/")?
            .strip_prefix(&self.settings.alias_prefix)?;
        let mut parts = rest.split('/');
        let (dataset, purpose, version) = (parts.next()?, parts.next()?, parts.next()?);
        let version: u32 = version.strip_prefix('v')?.parse().ok()?;
        if parts.next().is_some() {
            return None;
        }
        Some(master_key_id(dataset, purpose, version))
    }

    /// One signed request, retried while the service is unavailable.
    fn call(&self, operation: &str, body: &Value) -> Result<Value> {
        let mut wait = Duration::from_millis(100);
        let mut attempt = 1;
        loop {
            match self.call_once(operation, body) {
                Err(KeyError::Unavailable { .. }) if attempt < ATTEMPTS => {
                    std::thread::sleep(wait);
                    wait *= 4;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    fn call_once(&self, operation: &str, body: &Value) -> Result<Value> {
        let url = self.settings.endpoint.trim_end_matches('/').to_owned() + "/";
        let bytes = serde_json::to_vec(body)
            .map_err(|e| KeyError::Refused(format!("KMS {operation} request: {e}")))?;
        let headers = self.signed_headers(operation, &url, &bytes)?;
        let timeout = self.settings.timeout;
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("lagoa-kms".into())
            .spawn(move || {
                let answer = post(&url, headers, bytes, timeout);
                let _ = sender.send(answer);
            })
            .map_err(|e| self.unavailable(operation, &e.to_string()))?;
        let started = Instant::now();
        let (status, text) = receiver
            .recv_timeout(timeout + Duration::from_secs(1))
            .map_err(|_| self.unavailable(operation, "no answer in time"))?
            .map_err(|reason| self.unavailable(operation, &reason))?;
        // One line per request (`LAGOA_LOG=lagoa_keys=debug`): what was
        // asked and how it went, never a body.
        tracing::debug!(
            operation,
            status,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "kms request"
        );
        if status == 200 {
            return serde_json::from_str(&text)
                .map_err(|_| self.unavailable(operation, "an answer that is not JSON"));
        }
        Err(self.refusal(operation, status, &text))
    }

    fn signed_headers(
        &self,
        operation: &str,
        url: &str,
        body: &[u8],
    ) -> Result<Vec<(String, String)>> {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
        let host = url::Url::parse(url)
            .ok()
            .and_then(|u| {
                u.host_str()
                    .map(|h| u.port().map_or(h.to_owned(), |p| format!("{h}:{p}")))
            })
            .ok_or_else(|| {
                KeyError::Refused(format!(
                    "keys.kms_endpoint {:?} is not a URL",
                    self.settings.endpoint
                ))
            })?;
        let mut headers = vec![
            ("host".to_owned(), host),
            (
                "content-type".to_owned(),
                "application/x-amz-json-1.1".to_owned(),
            ),
            (
                "x-amz-target".to_owned(),
                format!("TrentService.{operation}"),
            ),
        ];
        let identity = aws_credential_types::Credentials::new(
            self.access_key.clone(),
            self.secret_key.as_str(),
            self.session_token.as_ref().map(|t| t.to_string()),
            None,
            "lagoa",
        )
        .into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.settings.region)
            .name("kms")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| KeyError::Refused(format!("signing a KMS request: {e}")))?
            .into();
        let signable = SignableRequest::new(
            "POST",
            url,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(body),
        )
        .map_err(|e| KeyError::Refused(format!("signing a KMS request: {e}")))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| KeyError::Refused(format!("signing a KMS request: {e}")))?
            .into_parts();
        let (signed, _) = instructions.into_parts();
        for header in signed {
            headers.push((header.name().to_owned(), header.value().to_owned()));
        }
        Ok(headers)
    }

    fn unavailable(&self, operation: &str, reason: &str) -> KeyError {
        KeyError::Unavailable {
            provider: self.provider(),
            message: format!("{operation}: {reason}"),
        }
    }

    /// An error answer: the service's own words (never a request body).
    fn refusal(&self, operation: &str, status: u16, text: &str) -> KeyError {
        let answer: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        let kind = answer["__type"]
            .as_str()
            .map(|t| t.rsplit('#').next().unwrap_or(t).to_owned())
            .unwrap_or_else(|| format!("HTTP {status}"));
        let message = answer["message"]
            .as_str()
            .or_else(|| answer["Message"].as_str())
            .unwrap_or("")
            .chars()
            .take(300)
            .collect::<String>();
        let passing = status >= 500
            || matches!(
                kind.as_str(),
                "ThrottlingException"
                    | "KMSInternalException"
                    | "DependencyTimeoutException"
                    | "KeyUnavailableException"
            );
        if passing {
            return self.unavailable(operation, &format!("{kind} {message}"));
        }
        KeyError::Refused(format!(
            "{} refused {operation}: {kind} {message}",
            self.provider()
        ))
    }

    /// Every alias of Lagoa's in the service, as master key ids with their
    /// aliases; listed at most once a minute (a file written meanwhile uses
    /// the version seen then), and again after this process makes or
    /// shreds keys.
    fn master_ids(&self) -> Result<Vec<(String, String)>> {
        if let Some((listed, ids)) = crate::lock(&self.aliases).as_ref()
            && listed.elapsed() < STATE_LIFETIME
        {
            return Ok(ids.clone());
        }
        let ids = self.list_aliases()?;
        *crate::lock(&self.aliases) = Some((Instant::now(), ids.clone()));
        Ok(ids)
    }

    fn forget_aliases(&self) {
        *crate::lock(&self.aliases) = None;
    }

    fn list_aliases(&self) -> Result<Vec<(String, String)>> {
        let mut found = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let mut request = json!({ "Limit": 100 });
            if let Some(m) = &marker {
                request["Marker"] = json!(m);
            }
            let page = self.call("ListAliases", &request)?;
            for alias in page["Aliases"].as_array().into_iter().flatten() {
                let name = alias["AliasName"].as_str().unwrap_or("");
                if let Some(id) = self.id_of_alias(name) {
                    found.push((id, name.to_owned()));
                }
            }
            match page["NextMarker"].as_str() {
                Some(m) if page["Truncated"].as_bool() == Some(true) => marker = Some(m.into()),
                _ => return Ok(found),
            }
        }
    }

    /// The key behind an alias and its state, asked at most once a minute.
    fn state(&self, alias: &str) -> Result<KeyState> {
        if let Some(state) = crate::lock(&self.states)
            .get(alias)
            .filter(|s| s.seen.elapsed() < STATE_LIFETIME)
        {
            return Ok(state.clone());
        }
        let answer = self.call("DescribeKey", &json!({ "KeyId": alias }))?;
        let meta = &answer["KeyMetadata"];
        let date = |v: &Value| {
            v.as_f64()
                .and_then(|s| chrono::DateTime::from_timestamp(s as i64, 0))
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        };
        let key_state = meta["KeyState"].as_str().unwrap_or("");
        let state = KeyState {
            key_id: meta["KeyId"].as_str().unwrap_or(alias).to_owned(),
            enabled: key_state == "Enabled",
            deletion_date: (key_state == "PendingDeletion")
                .then(|| date(&meta["DeletionDate"]).unwrap_or_else(|| "an unknown date".into())),
            created: date(&meta["CreationDate"]).unwrap_or_default(),
            seen: Instant::now(),
        };
        crate::lock(&self.states).insert(alias.to_owned(), state.clone());
        Ok(state)
    }

    /// The alias of a master key that may be used now, or why not.
    fn usable(&self, master_key_id: &str) -> Result<String> {
        let alias = self.alias(master_key_id)?;
        let state = match self.state(&alias) {
            Err(KeyError::Refused(message)) if message.contains("NotFoundException") => {
                return Err(KeyError::Refused(format!(
                    "master key {master_key_id} ({alias}) is not in {}",
                    self.provider()
                )));
            }
            other => other?,
        };
        if let Some(at) = state.deletion_date {
            let dataset = parse_master_key_id(master_key_id).map_or("", |(d, _, _)| d);
            return Err(KeyError::Shredded {
                dataset: dataset.to_owned(),
                at: format!("{at} (keys scheduled for deletion)"),
            });
        }
        if !state.enabled {
            return Err(KeyError::Refused(format!(
                "master key {master_key_id} ({alias}) is disabled in {}",
                self.provider()
            )));
        }
        Ok(alias)
    }

    fn unwrapped_cache(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Unwrapped>> {
        crate::lock(&self.unwrapped)
    }

    fn decrypt(&self, alias: &str, blob: &str, master_key_id: &str) -> Result<Zeroizing<Vec<u8>>> {
        let answer = self.call(
            "Decrypt",
            &json!({
                "KeyId": alias,
                "CiphertextBlob": blob,
                "EncryptionContext": { "lagoa:key": master_key_id },
            }),
        );
        let answer = match answer {
            Err(KeyError::Refused(message)) if message.contains("InvalidCiphertext") => {
                return Err(KeyError::Tampered(format!(
                    "a data key wrapped under {master_key_id} failed authentication"
                )));
            }
            other => other?,
        };
        let plain = answer["Plaintext"]
            .as_str()
            .ok_or_else(|| self.unavailable("Decrypt", "no Plaintext in the answer"))?;
        BASE64_STANDARD
            .decode(plain)
            .map(Zeroizing::new)
            .map_err(|_| self.unavailable("Decrypt", "a Plaintext that is not base64"))
    }

    fn versions_of(ids: &[(String, String)], dataset: &str) -> Option<u32> {
        crate::latest_version(ids.iter().map(|(id, _)| id.as_str()), dataset)
    }

    /// Runs `then` with the dataset's newest key version, one process at a
    /// time, refusing a shredded dataset.
    fn with_latest_version<T>(
        &self,
        dataset: &str,
        then: impl FnOnce(Option<u32>) -> Result<T>,
    ) -> Result<T> {
        let _creating = crate::lock(&self.creating);
        let ids = self.master_ids()?;
        let latest = Self::versions_of(&ids, dataset);
        if let Some(version) = latest {
            self.usable(&master_key_id(dataset, PURPOSE_DATA, version))?;
        }
        then(latest)
    }

    fn create(&self, id: &str) -> Result<()> {
        self.forget_aliases();
        let alias = self.alias(id)?;
        let made = self.call(
            "CreateKey",
            &json!({
                "Description": format!("Lagoa master key {id}"),
                "KeyUsage": "ENCRYPT_DECRYPT",
                "KeySpec": "SYMMETRIC_DEFAULT",
                "Tags": [{ "TagKey": "lagoa:key", "TagValue": id }],
            }),
        )?;
        let key_id = made["KeyMetadata"]["KeyId"]
            .as_str()
            .ok_or_else(|| self.unavailable("CreateKey", "no KeyId in the answer"))?
            .to_owned();
        match self.call(
            "CreateAlias",
            &json!({ "AliasName": alias, "TargetKeyId": key_id }),
        ) {
            Ok(_) => Ok(()),
            // Another process named its key first: use that one, retire ours.
            Err(KeyError::Refused(message)) if message.contains("AlreadyExistsException") => {
                let _ = self.call(
                    "ScheduleKeyDeletion",
                    &json!({ "KeyId": key_id, "PendingWindowInDays": 7 }),
                );
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    fn add_version(&self, dataset: &str, version: u32) -> Result<DatasetKeyIds> {
        let ids = DatasetKeyIds::of(dataset, version);
        self.create(&ids.data)?;
        self.create(&ids.personal)?;
        Ok(ids)
    }
}

/// Sends one request from a thread of its own: the status and the text.
fn post(
    url: &str,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    timeout: Duration,
) -> std::result::Result<(u16, String), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| e.to_string())?;
        let mut request = client.post(url).body(body);
        for (name, value) in headers {
            if name != "host" {
                request = request.header(name, value);
            }
        }
        let response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                "no answer in time".to_owned()
            } else if e.is_connect() {
                "cannot connect".to_owned()
            } else {
                "the connection failed".to_owned()
            }
        })?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|_| "the answer was cut".to_owned())?;
        Ok((status, text))
    })
}

impl KeyProvider for KmsKeys {
    fn current_keys(&self, dataset: &DatasetName) -> Result<DatasetKeyIds> {
        let name = dataset.as_str();
        self.with_latest_version(name, |latest| match latest {
            Some(version) => Ok(DatasetKeyIds::of(name, version)),
            None => self.add_version(name, 1),
        })
    }

    fn wrap(&self, key: &[u8], master_key_id: &str) -> Result<String> {
        let (stored_id, _) = split_column_scope(master_key_id);
        let alias = self.usable(stored_id)?;
        let answer = self.call(
            "Encrypt",
            &json!({
                "KeyId": alias,
                "Plaintext": BASE64_STANDARD.encode(key),
                "EncryptionContext": { "lagoa:key": master_key_id },
            }),
        )?;
        let blob = answer["CiphertextBlob"]
            .as_str()
            .ok_or_else(|| self.unavailable("Encrypt", "no CiphertextBlob in the answer"))?;
        Ok(format!("{WRAP_PREFIX}{blob}"))
    }

    fn unwrap(&self, wrapped: &str, master_key_id: &str) -> Result<Zeroizing<Vec<u8>>> {
        let blob = wrapped.strip_prefix(WRAP_PREFIX).ok_or_else(|| {
            KeyError::Refused(format!(
                "a data key wrapped under {master_key_id} was not wrapped by a KMS"
            ))
        })?;
        let (stored_id, _) = split_column_scope(master_key_id);
        let alias = self.usable(stored_id)?;
        let cache_key = (master_key_id.to_owned(), blob.to_owned());
        if let Some((at, key)) = self.unwrapped_cache().get(&cache_key)
            && at.elapsed() < UNWRAPPED_LIFETIME
        {
            return Ok(key.clone());
        }
        let key = self.decrypt(&alias, blob, master_key_id)?;
        let mut cache = self.unwrapped_cache();
        if cache.len() >= UNWRAPPED_MAX {
            cache.clear();
        }
        cache.insert(cache_key, (Instant::now(), key.clone()));
        Ok(key)
    }

    fn rotate(&self, dataset: &DatasetName) -> Result<DatasetKeyIds> {
        let name = dataset.as_str();
        self.with_latest_version(name, |latest| {
            self.add_version(name, latest.unwrap_or(0) + 1)
        })
    }

    fn continue_after(&self, dataset: &DatasetName, version: u32) -> Result<DatasetKeyIds> {
        let name = dataset.as_str();
        self.with_latest_version(name, |latest| match latest {
            Some(newest) if newest > version => Ok(DatasetKeyIds::of(name, newest)),
            _ => self.add_version(name, version + 1),
        })
    }

    fn shred(&self, dataset: &DatasetName) -> Result<()> {
        let name = dataset.as_str();
        self.forget_aliases();
        self.unwrapped_cache().retain(|(id, _), _| {
            parse_master_key_id(split_column_scope(id).0).is_none_or(|(d, _, _)| d != name)
        });
        for (id, alias) in self.master_ids()? {
            if parse_master_key_id(&id).is_none_or(|(d, _, _)| d != name) {
                continue;
            }
            let state = self.state(&alias)?;
            if state.deletion_date.is_none() {
                self.call(
                    "ScheduleKeyDeletion",
                    &json!({
                        "KeyId": state.key_id,
                        "PendingWindowInDays": self.settings.deletion_days,
                    }),
                )?;
            }
            crate::lock(&self.states).remove(&alias);
        }
        Ok(())
    }

    fn shredded_at(&self, dataset: &DatasetName) -> Option<String> {
        let ids = self.master_ids().ok()?;
        let version = Self::versions_of(&ids, dataset.as_str())?;
        let alias = self
            .alias(&master_key_id(dataset.as_str(), PURPOSE_DATA, version))
            .ok()?;
        self.state(&alias)
            .ok()?
            .deletion_date
            .map(|at| format!("{at} (the service deletes the keys then)"))
    }

    fn list(&self) -> Result<Vec<MasterKeyInfo>> {
        let mut infos = Vec::new();
        for (id, alias) in self.master_ids()? {
            let Some((dataset, purpose, version)) = parse_master_key_id(&id) else {
                continue;
            };
            infos.push(MasterKeyInfo {
                dataset: dataset.to_owned(),
                purpose: purpose.to_owned(),
                version,
                created_at: self.state(&alias)?.created,
                id,
            });
        }
        infos.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(infos)
    }

    fn check(&self) -> Result<()> {
        let usable = self
            .master_ids()?
            .into_iter()
            .find(|(id, _)| self.usable(id).is_ok());
        let Some((id, _)) = usable else {
            return Ok(());
        };
        crate::round_trip(self, &id, &self.provider())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> KmsKeys {
        KmsKeys {
            settings: KmsSettings {
                endpoint: "http://127.0.0.1:1".into(),
                region: "us-east-1".into(),
                alias_prefix: "lagoa/".into(),
                deletion_days: 7,
                timeout: Duration::from_secs(1),
            },
            access_key: "AKID".into(),
            secret_key: Zeroizing::new("secret".into()),
            session_token: None,
            states: Mutex::new(HashMap::new()),
            aliases: Mutex::new(None),
            creating: Mutex::new(()),
            unwrapped: Mutex::new(HashMap::new()),
        }
    }

    #[test]
    fn aliases_and_master_key_ids_map_both_ways() {
        let kms = keys();
        let alias = kms.alias("lagoa.obitos_pe.pessoal.v3").unwrap();
        assert_eq!(alias, "alias/lagoa/obitos_pe/pessoal/v3");
        assert_eq!(
            kms.id_of_alias(&alias).as_deref(),
            Some("lagoa.obitos_pe.pessoal.v3")
        );
        assert_eq!(kms.id_of_alias("alias/aws/s3"), None);
        assert_eq!(kms.id_of_alias("alias/lagoa/x/data/v1/extra"), None);
    }

    #[test]
    fn service_errors_are_classed_and_never_carry_more_than_the_message() {
        let kms = keys();
        let throttled = kms.refusal(
            "Decrypt",
            400,
            r#"{"__type":"com.amazonaws.kms#ThrottlingException","message":"slow down"}"#,
        );
        assert!(
            matches!(throttled, KeyError::Unavailable { .. }),
            "{throttled}"
        );
        let down = kms.refusal("Encrypt", 503, "<html>gateway</html>");
        assert!(matches!(down, KeyError::Unavailable { .. }), "{down}");
        let invalid = kms.refusal(
            "Decrypt",
            400,
            r#"{"__type":"KMSInvalidStateException","message":"pending deletion"}"#,
        );
        let text = invalid.to_string();
        assert!(matches!(invalid, KeyError::Refused(_)));
        assert!(text.contains("KMSInvalidStateException") && text.contains("Decrypt"));
    }

    #[test]
    fn a_service_that_cannot_be_reached_is_an_outage_after_retries() {
        let kms = keys();
        let error = kms.call("ListAliases", &json!({})).unwrap_err();
        assert!(matches!(error, KeyError::Unavailable { .. }), "{error}");
        assert!(error.to_string().contains("127.0.0.1:1"), "{error}");
    }
}
