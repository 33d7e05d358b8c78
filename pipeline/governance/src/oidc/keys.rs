//! The provider's published metadata (discovery) and signing keys (JWKS),
//! fetched lazily and cached: a key id the cache does not know fetches the
//! set again (the provider rotated its keys), at most every
//! [`MIN_REFETCH`], so a flood of tokens with made-up key ids cannot turn
//! Lagoa into a flood of requests to the provider.

use super::OidcError;
use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::JwkSet;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// The least time between two fetches of the key set.
pub(super) const MIN_REFETCH: Duration = Duration::from_secs(10);
/// The most a provider's document may weigh.
pub(super) const MAX_DOCUMENT: usize = 1 << 20;
/// Keys fetched longer ago than this are not used, even while the
/// provider cannot be reached (a key it withdrew must stop some day).
const MAX_STALE: Duration = Duration::from_secs(24 * 3600);

/// What the provider publishes at `/.well-known/openid-configuration`.
#[derive(Clone, Debug, Deserialize)]
pub struct Metadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
}

/// One published key.
pub(super) struct Key {
    pub(super) key: DecodingKey,
    /// The algorithm the key is published for, if it says.
    pub(super) algorithm: Option<String>,
}

#[derive(Default)]
struct Cache {
    metadata: Option<Arc<Metadata>>,
    /// When the discovery document was last asked for and not had.
    metadata_failed: Option<Instant>,
    keys: HashMap<String, Arc<Key>>,
    fetched: Option<Instant>,
    attempted: Option<Instant>,
}

/// Metadata and keys of one provider. The lock is never held across a
/// request to the provider: a provider that hangs delays the one sign-in
/// that asked it, not every other.
pub(super) struct Published {
    issuer: String,
    http: reqwest::Client,
    max_age: Duration,
    cache: Mutex<Cache>,
    /// Held while the key set is fetched: others wait for that fetch
    /// rather than find the key missing.
    fetching: Mutex<()>,
}

impl Published {
    pub(super) fn new(issuer: &str, http: reqwest::Client, max_age: Duration) -> Self {
        Self {
            issuer: issuer.trim_end_matches('/').to_owned(),
            http,
            max_age,
            cache: Mutex::new(Cache::default()),
            fetching: Mutex::new(()),
        }
    }

    /// The provider's metadata (fetched once, then kept; after a failure,
    /// asked again at most every [`MIN_REFETCH`]).
    pub(super) async fn metadata(&self) -> Result<Arc<Metadata>, OidcError> {
        {
            let mut cache = self.cache.lock().await;
            if let Some(m) = &cache.metadata {
                return Ok(Arc::clone(m));
            }
            if cache
                .metadata_failed
                .is_some_and(|at| at.elapsed() < MIN_REFETCH)
            {
                return Err(OidcError::Provider(
                    "its discovery document could not be had a moment ago".into(),
                ));
            }
            // Others wait out this attempt rather than start their own.
            cache.metadata_failed = Some(Instant::now());
        }
        let fetched = self.fetch_metadata().await;
        let mut cache = self.cache.lock().await;
        match fetched {
            Ok(m) => {
                cache.metadata_failed = None;
                let m = Arc::new(m);
                cache.metadata = Some(Arc::clone(&m));
                Ok(m)
            }
            Err(e) => Err(e),
        }
    }

    async fn fetch_metadata(&self) -> Result<Metadata, OidcError> {
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        let metadata: Metadata = serde_json::from_slice(&self.get(&url).await?)
            .map_err(|e| OidcError::Provider(format!("{url}: not a discovery document: {e}")))?;
        // A document naming another issuer is not this provider's
        // (OpenID Connect Discovery 1.0, section 4.3).
        if metadata.issuer.trim_end_matches('/') != self.issuer {
            return Err(OidcError::Provider(format!(
                "{url} names the issuer {:?}, not {:?}",
                metadata.issuer, self.issuer
            )));
        }
        for (name, endpoint) in [
            (
                "authorization_endpoint",
                Some(&metadata.authorization_endpoint),
            ),
            ("token_endpoint", Some(&metadata.token_endpoint)),
            ("jwks_uri", Some(&metadata.jwks_uri)),
            (
                "end_session_endpoint",
                metadata.end_session_endpoint.as_ref(),
            ),
        ] {
            if let Some(endpoint) = endpoint {
                lagoa_lake::config::check_provider_url(name, endpoint)
                    .map_err(|e| OidcError::Provider(format!("{url}: {e}")))?;
            }
        }
        Ok(metadata)
    }

    /// The issuer as the provider writes it in its tokens.
    pub(super) async fn issuer(&self) -> Result<String, OidcError> {
        Ok(self.metadata().await?.issuer.clone())
    }

    /// The key `kid` names (or the only key, when the token names none).
    pub(super) async fn key(&self, kid: Option<&str>) -> Result<Arc<Key>, OidcError> {
        let (key, fresh) = self.cached_key(kid).await;
        let _fetching = match (key, fresh) {
            (Some(key), true) => return Ok(key),
            // Known but old: one caller fetches the set again, the others
            // go on with the key had (nobody waits for a slow provider).
            (Some(key), false) => match self.fetching.try_lock() {
                Ok(guard) => guard,
                Err(_) => return Ok(key),
            },
            // Unknown: wait for a fetch under way, or make one.
            (None, _) => self.fetching.lock().await,
        };
        {
            // Another caller may have fetched while this one waited.
            let mut cache = self.cache.lock().await;
            let fresh = cache.fetched.is_some_and(|at| at.elapsed() < self.max_age);
            if fresh && let Some(key) = find(&cache.keys, kid) {
                return Ok(key);
            }
            if cache.attempted.is_some_and(|at| at.elapsed() < MIN_REFETCH) {
                return find(&cache.keys, kid).ok_or_else(|| unknown(kid));
            }
            cache.attempted = Some(Instant::now());
        }
        let fetched = self.fetch_keys().await;
        let mut cache = self.cache.lock().await;
        match fetched {
            Ok(keys) => {
                cache.keys = keys;
                cache.fetched = Some(Instant::now());
            }
            Err(e) if cache.fetched.is_none_or(|at| at.elapsed() >= MAX_STALE) => {
                cache.keys.clear();
                return Err(e);
            }
            // Keys had lately stay in use while the provider is unreachable.
            Err(e) => {
                tracing::warn!(error = %e, "the identity provider's keys could not be fetched again")
            }
        }
        find(&cache.keys, kid).ok_or_else(|| unknown(kid))
    }

    /// The key `kid` names, if the cache has it (and not older than
    /// [`MAX_STALE`]), and whether it is younger than `max_age`.
    async fn cached_key(&self, kid: Option<&str>) -> (Option<Arc<Key>>, bool) {
        let cache = self.cache.lock().await;
        let age = cache.fetched.map(|at| at.elapsed());
        match age {
            Some(age) if age < MAX_STALE => (find(&cache.keys, kid), age < self.max_age),
            _ => (None, false),
        }
    }

    async fn fetch_keys(&self) -> Result<HashMap<String, Arc<Key>>, OidcError> {
        let metadata = self.metadata().await?;
        let set: JwkSet =
            serde_json::from_slice(&self.get(&metadata.jwks_uri).await?).map_err(|e| {
                OidcError::Provider(format!("{}: not a key set: {e}", metadata.jwks_uri))
            })?;
        let mut keys = HashMap::new();
        for (i, jwk) in set.keys.iter().enumerate() {
            // Encryption keys are not for checking signatures.
            if matches!(
                jwk.common.public_key_use,
                Some(jsonwebtoken::jwk::PublicKeyUse::Encryption)
            ) {
                continue;
            }
            let Ok(key) = DecodingKey::from_jwk(jwk) else {
                tracing::warn!(kid = ?jwk.common.key_id, "a key of the identity provider could not be read; skipped");
                continue;
            };
            let algorithm = jwk.common.key_algorithm.map(|a| a.to_string());
            let kid = jwk.common.key_id.clone().unwrap_or_else(|| format!("#{i}"));
            keys.insert(kid, Arc::new(Key { key, algorithm }));
        }
        tracing::info!(
            keys = keys.len(),
            "fetched the identity provider's signing keys"
        );
        Ok(keys)
    }

    /// A GET of one of the provider's documents, bounded in time and size.
    async fn get(&self, url: &str) -> Result<Vec<u8>, OidcError> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| OidcError::Provider(format!("{url}: {e}")))?;
        if !response.status().is_success() {
            return Err(OidcError::Provider(format!(
                "{url} answered {}",
                response.status()
            )));
        }
        bounded_body(response, url).await
    }
}

/// A response's body, at most [`MAX_DOCUMENT`] bytes.
pub(super) async fn bounded_body(
    mut response: reqwest::Response,
    what: &str,
) -> Result<Vec<u8>, OidcError> {
    let unreachable = |e: reqwest::Error| OidcError::Provider(format!("{what}: {e}"));
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
        if body.len() + chunk.len() > MAX_DOCUMENT {
            return Err(OidcError::Provider(format!(
                "{what} sent more than {MAX_DOCUMENT} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn unknown(kid: Option<&str>) -> OidcError {
    OidcError::UnknownKey(kid.unwrap_or("").chars().take(64).collect())
}

fn find(keys: &HashMap<String, Arc<Key>>, kid: Option<&str>) -> Option<Arc<Key>> {
    match kid {
        Some(kid) => keys.get(kid).cloned(),
        None if keys.len() == 1 => keys.values().next().cloned(),
        None => None,
    }
}
