//! The console's sign-in through the provider: the authorization code
//! flow with PKCE (S256), a `state` bound to the browser and a `nonce`
//! bound to the ID token. The console keeps a [`Started`] sign-in until
//! the provider sends the browser back, then [`Provider::finish_sign_in`]
//! exchanges the code and checks the ID token.

use super::{OidcError, Person, Provider};
use crate::store::SignedIn;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lagoa_lake::Lake;
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// A sign-in sent to the provider: the browser goes to `authorize_url`;
/// the rest stays with the console until it comes back.
pub struct Started {
    pub authorize_url: String,
    pub state: String,
    pub nonce: String,
    pub verifier: Zeroizing<String>,
}

impl std::fmt::Debug for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Started")
            .field("authorize_url", &self.authorize_url)
            .finish_non_exhaustive()
    }
}

/// What the console needs to finish a sign-in.
pub struct SignInStart<'a> {
    pub code: &'a str,
    pub verifier: &'a str,
    pub nonce: &'a str,
}

impl std::fmt::Debug for SignInStart<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignInStart(..)")
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    id_token: Option<String>,
}

/// 32 random bytes, base64url.
fn random() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

impl Provider {
    /// A new sign-in: where to send the browser, and what to keep.
    pub async fn start_sign_in(&self) -> Result<Started, OidcError> {
        let metadata = self.metadata().await?;
        let (state, nonce, verifier) = (random(), random(), Zeroizing::new(random()));
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let scope = std::iter::once("openid")
            .chain(
                self.config
                    .scopes
                    .iter()
                    .map(String::as_str)
                    .filter(|s| *s != "openid"),
            )
            .collect::<Vec<_>>()
            .join(" ");
        let mut url = url::Url::parse(&metadata.authorization_endpoint).map_err(|e| {
            OidcError::Provider(format!("authorization_endpoint is not a URL: {e}"))
        })?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.config.client_id)
            .append_pair("redirect_uri", &self.config.redirect_uri)
            .append_pair("scope", &scope)
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        Ok(Started {
            authorize_url: url.into(),
            state,
            nonce,
            verifier,
        })
    }

    /// Exchanges the code the provider sent back, checks the ID token
    /// (signature, issuer, audience, expiry, nonce) and finds the person
    /// (made a principal when the configuration says so).
    pub async fn finish_sign_in(
        &self,
        lake: &Lake,
        start: SignInStart<'_>,
    ) -> Result<Person, OidcError> {
        let metadata = self.metadata().await?;
        let secret = self.client_secret.as_ref().ok_or_else(|| {
            OidcError::Provider(format!(
                "the client secret is not set (environment variable {})",
                self.config.client_secret_env
            ))
        })?;
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "authorization_code")
            .append_pair("code", start.code)
            .append_pair("redirect_uri", &self.config.redirect_uri)
            .append_pair("code_verifier", start.verifier)
            .finish();
        // client_secret_basic: both parts form-encoded first (RFC 6749, 2.3.1).
        let encode =
            |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let basic = Zeroizing::new(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                encode(&self.config.client_id),
                encode(secret)
            ))
        ));
        let unreachable =
            |e: reqwest::Error| OidcError::Provider(format!("the token endpoint: {e}"));
        let response = self
            .http
            .post(&metadata.token_endpoint)
            .header(reqwest::header::AUTHORIZATION, basic.as_str())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        let bytes = super::keys::bounded_body(response, "the token endpoint").await?;
        if !status.is_success() {
            // The provider's error code only (its description may echo input).
            let code = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
                .unwrap_or_default();
            return Err(OidcError::Provider(format!(
                "the token endpoint refused the code ({status} {code})"
            )));
        }
        let tokens: TokenResponse = serde_json::from_slice(&bytes)
            .map_err(|e| OidcError::Provider(format!("the token endpoint's answer: {e}")))?;
        let id_token =
            Zeroizing::new(tokens.id_token.ok_or_else(|| {
                OidcError::Provider("the token endpoint sent no ID token".into())
            })?);
        let claims = self.check_id_token(&id_token, start.nonce).await?;
        self.person(lake, &claims, SignedIn::ProviderSession, true)
            .await
    }

    /// Where to send the browser to sign out at the provider too, if it
    /// publishes an end-session endpoint. No `id_token_hint`: the ID token
    /// would sit in the browser's history and the provider's logs; the
    /// provider asks the person to confirm instead.
    pub async fn sign_out_url(&self, back_to: &str) -> Option<String> {
        let metadata = self.metadata().await.ok()?;
        let mut url = url::Url::parse(metadata.end_session_endpoint.as_deref()?).ok()?;
        url.query_pairs_mut()
            .append_pair("client_id", &self.config.client_id)
            .append_pair("post_logout_redirect_uri", back_to);
        Some(url.into())
    }
}
