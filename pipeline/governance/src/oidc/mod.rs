//! Signing in through the state's identity provider (OpenID Connect).
//!
//! - [`keys`]: the provider's discovery document and signing keys, cached
//!   and fetched again when the provider rotates them;
//! - [`token`]: checking a token it signed (access or ID token);
//! - [`people`]: who a checked token is: the principal linked to the
//!   person (by a keyed digest of their identifier), or one created on
//!   first sign-in when the configuration says so;
//! - [`flow`]: the console's authorization code flow (PKCE, state, nonce).
//!
//! Lagoa's own tokens (`lagoa_…`) are not JWTs; [`looks_like_jwt`] tells
//! the two apart at the doors.

mod flow;
mod keys;
mod people;
mod token;

pub use flow::{SignInStart, Started};
pub use keys::Metadata;
pub use people::Person;
pub use token::Claims;

use lagoa_lake::config::OidcConfig;
use std::time::Duration;
use zeroize::Zeroizing;

/// Why a token of the provider, or a sign-in through it, was refused. The
/// texts name no claim's value: they go to the audit trail.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("the token is malformed: {0}")]
    Malformed(String),
    #[error("the token is unsigned (alg none)")]
    Unsigned,
    #[error("the token's algorithm {0:?} is not accepted")]
    Algorithm(String),
    #[error("the token is signed by a key the provider does not publish (kid {0:?})")]
    UnknownKey(String),
    #[error("the token's signature does not verify")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYet,
    #[error("the token was issued by another provider")]
    Issuer,
    #[error("the token is meant for another audience")]
    Audience,
    #[error("the ID token's nonce is not this sign-in's")]
    Nonce,
    #[error("the token is not an access token (its typ, or an ID token)")]
    NotAccessToken,
    #[error("the token was issued to a client not in oidc.authorized_parties")]
    Party,
    #[error("the token has no {0} claim to name the person")]
    NoPersonClaim(String),
    #[error(
        "the person (identity {0}) is not linked to a principal of the lake: an admin links them with `lagoa user link`"
    )]
    UnknownPerson(String),
    #[error("{0}")]
    NotCreated(String),
    #[error("principal {0} is disabled")]
    Disabled(String),
    #[error("the identity provider did not answer as expected: {0}")]
    Provider(String),
    #[error("the catalog could not be asked: {0}")]
    Catalog(String),
}

impl OidcError {
    /// Whether the fault is Lagoa's or the provider's rather than the
    /// token's (the caller may try again later).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, OidcError::Provider(_) | OidcError::Catalog(_))
    }
}

/// Whether a presented secret is a JWT (three base64url parts, a JSON
/// header) rather than one of Lagoa's tokens.
pub fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ") && token.bytes().filter(|b| *b == b'.').count() == 2
}

/// The identity provider of this lake.
pub struct Provider {
    config: OidcConfig,
    published: keys::Published,
    http: reqwest::Client,
    /// Key of the digests that link people to principals.
    link_key: ring::hmac::Key,
    client_secret: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("issuer", &self.config.issuer)
            .finish_non_exhaustive()
    }
}

impl Provider {
    /// The provider `config` names; `link_secret` keys the digests of
    /// people's identifiers (the lake's secret `identity`). No request is
    /// made yet: the provider is asked when the first token comes.
    pub fn new(config: &OidcConfig, link_secret: &[u8]) -> Result<Self, OidcError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none());
        if !config.ca_file.trim().is_empty() {
            let pem = std::fs::read(&config.ca_file).map_err(|e| {
                OidcError::Provider(format!("oidc.ca_file {}: {e}", config.ca_file))
            })?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| OidcError::Provider(format!("oidc.ca_file {}: {e}", config.ca_file)))?
            {
                http = http.add_root_certificate(cert);
            }
        }
        let http = http
            .build()
            .map_err(|e| OidcError::Provider(format!("an HTTP client: {e}")))?;
        let client_secret = std::env::var(&config.client_secret_env)
            .ok()
            .filter(|s| !s.is_empty())
            .map(Zeroizing::new);
        Ok(Self {
            published: keys::Published::new(
                &config.issuer,
                http.clone(),
                Duration::from_secs(config.keys_max_age_seconds.max(60)),
            ),
            http,
            link_key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, link_secret),
            client_secret,
            config: config.clone(),
        })
    }

    /// The provider of `lake`'s `[oidc]` section, if it names one.
    pub async fn of_lake(lake: &lagoa_lake::Lake) -> Result<Option<Self>, OidcError> {
        if !lake.config.oidc.enabled() {
            return Ok(None);
        }
        let secret = lake
            .secret("identity")
            .await
            .map_err(|e| OidcError::Catalog(e.to_string()))?;
        Self::new(&lake.config.oidc, &secret).map(Some)
    }

    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    /// The provider's discovery document.
    pub async fn metadata(&self) -> Result<std::sync::Arc<Metadata>, OidcError> {
        self.published.metadata().await
    }

    /// The claims of an access token presented to the API or the
    /// PostgreSQL port.
    pub async fn check_access_token(&self, token: &str) -> Result<Claims, OidcError> {
        self.access_token(token, false).await
    }

    /// The claims of an access token checked before, on a connection it
    /// opened: all but its expiry checked again (a key the provider no
    /// longer publishes ends the connection).
    pub async fn recheck_access_token(&self, token: &str) -> Result<Claims, OidcError> {
        self.access_token(token, true).await
    }

    async fn access_token(&self, token: &str, allow_expired: bool) -> Result<Claims, OidcError> {
        token::check(
            &self.published,
            token,
            &token::Expect {
                audience: &self.config.audience,
                algorithms: &self.config.algorithms,
                leeway_seconds: self.config.leeway_seconds,
                kind: token::Kind::Access {
                    types: &self.config.access_token_types,
                    parties: &self.config.authorized_parties,
                    allow_expired,
                },
            },
        )
        .await
    }

    /// The claims of the ID token of a console sign-in.
    pub(crate) async fn check_id_token(
        &self,
        token: &str,
        nonce: &str,
    ) -> Result<Claims, OidcError> {
        token::check(
            &self.published,
            token,
            &token::Expect {
                audience: &self.config.client_id,
                algorithms: &self.config.algorithms,
                leeway_seconds: self.config.leeway_seconds,
                kind: token::Kind::Id { nonce },
            },
        )
        .await
    }

    /// The digest the catalog links a person by: HMAC-SHA256, under the
    /// lake's `identity` secret, of the issuer, the claim's name and its
    /// value, so the value itself (a CPF, say) is never stored and cannot
    /// be guessed from the catalog alone.
    /// A value of digits and the separators `. - / space` (a CPF written
    /// `529.982.247-25`) counts by its digits alone, as in pseudonyms.
    pub fn digest(&self, claim: &str, value: &str) -> String {
        let text = format!(
            "{}\n{claim}\n{}",
            self.config.issuer.trim_end_matches('/'),
            lagoa_lake::pseudonym::normalise(value, &mut String::new())
        );
        hex::encode(ring::hmac::sign(&self.link_key, text.as_bytes()).as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cpf_counts_by_its_digits_and_a_subject_as_written() {
        let config = OidcConfig {
            issuer: "https://sso.example.gov.br".into(),
            ..Default::default()
        };
        let p = Provider::new(&config, b"0123456789abcdef0123456789abcdef").unwrap();
        assert_eq!(
            p.digest("cpf", "529.982.247-25"),
            p.digest("cpf", "52998224725")
        );
        assert_ne!(
            p.digest("cpf", "52998224725"),
            p.digest("sub", "52998224725")
        );
        assert_eq!(p.digest("cpf", "1").len(), 64);
    }
}
