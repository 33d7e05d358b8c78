//! Checking a token the provider signed (an access token on the API and
//! the PostgreSQL port, an ID token at the console's sign-in): its header
//! read by hand first, so an unsigned token (`alg: none`), a symmetric
//! algorithm or a malformed time claim is refused with its own reason
//! before any key is looked up; then the signature against the provider's
//! published key, the issuer, the audience, the expiry and not-before.

use super::OidcError;
use super::keys::Published;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};

/// The longest token read (providers' tokens are 1 to 4 KiB).
pub(super) const MAX_TOKEN: usize = 16 * 1024;

/// The claims of a checked token.
#[derive(Clone, Debug)]
pub struct Claims(pub(super) Map<String, Value>);

impl Claims {
    /// A claim that is a text, and only a text.
    pub fn string(&self, name: &str) -> Option<String> {
        match self.0.get(name)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            _ => None,
        }
    }

    /// A claim as text (a number is written out; a list is not text).
    pub fn text(&self, name: &str) -> Option<String> {
        match self.0.get(name)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// A claim as a list of texts (a lone text is a list of one).
    pub fn texts(&self, name: &str) -> Vec<String> {
        match self.0.get(name) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            Some(Value::String(s)) => vec![s.clone()],
            _ => Vec::new(),
        }
    }
}

/// What a token must be, besides well signed.
pub(super) struct Expect<'a> {
    pub(super) audience: &'a str,
    pub(super) algorithms: &'a [String],
    pub(super) leeway_seconds: u64,
    pub(super) kind: Kind<'a>,
}

/// An access token or an ID token: each is refused where the other is
/// expected (an ID token is not a credential for the API).
pub(super) enum Kind<'a> {
    Access {
        /// Its `typ` header is one of these (RFC 9068: `at+jwt`).
        types: &'a [String],
        /// When not empty: its `azp` or `client_id` is one of these.
        parties: &'a [String],
        /// Checked again on an open connection: its expiry is past.
        allow_expired: bool,
    },
    /// The ID token of a sign-in that sent this nonce.
    Id { nonce: &'a str },
}

/// Checks `token` against the provider's keys and `expect`.
pub(super) async fn check(
    published: &Published,
    token: &str,
    expect: &Expect<'_>,
) -> Result<Claims, OidcError> {
    if token.len() > MAX_TOKEN {
        return Err(OidcError::Malformed("longer than 16 KiB".into()));
    }
    let (header, payload) = parts(token)?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or_else(|| OidcError::Malformed("its header names no algorithm".into()))?;
    if alg.eq_ignore_ascii_case("none") {
        return Err(OidcError::Unsigned);
    }
    if !expect.algorithms.iter().any(|a| a == alg) {
        return Err(OidcError::Algorithm(alg.chars().take(16).collect()));
    }
    let algorithm: Algorithm = alg
        .parse()
        .map_err(|_| OidcError::Algorithm(alg.chars().take(16).collect()))?;
    if let Kind::Access { types, .. } = &expect.kind {
        let typ = header.get("typ").and_then(Value::as_str).unwrap_or("");
        let an_id_token = ["nonce", "at_hash", "c_hash"]
            .iter()
            .any(|c| payload.contains_key(*c))
            || payload.get("typ").and_then(Value::as_str) == Some("ID");
        if an_id_token || !types.iter().any(|t| t.eq_ignore_ascii_case(typ)) {
            return Err(OidcError::NotAccessToken);
        }
    }
    // Times must be numbers: a text `exp` or `nbf` is refused here rather
    // than trusted to the library (CVE-2026-25537 skipped such claims).
    for name in ["exp", "nbf", "iat"] {
        if let Some(v) = payload.get(name)
            && !v.is_number()
        {
            return Err(OidcError::Malformed(format!("its {name} is not a number")));
        }
    }
    let kid = header.get("kid").and_then(Value::as_str);
    let key = published.key(kid).await?;
    if let Some(published_for) = &key.algorithm
        && published_for != alg
    {
        return Err(OidcError::Algorithm(alg.to_owned()));
    }
    let issuer = published.issuer().await?;
    let mut validation = Validation::new(algorithm);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[expect.audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.validate_nbf = true;
    validation.leeway = expect.leeway_seconds;
    if let Kind::Access {
        allow_expired: true,
        ..
    } = expect.kind
    {
        validation.validate_exp = false;
    }
    let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation)
        .map_err(refusal)?;
    let claims = Claims(data.claims);
    match expect.kind {
        Kind::Id { nonce } if claims.text("nonce").as_deref() != Some(nonce) => {
            return Err(OidcError::Nonce);
        }
        Kind::Access { parties, .. } if !parties.is_empty() => {
            let party = claims.text("azp").or_else(|| claims.text("client_id"));
            if !party.is_some_and(|p| parties.contains(&p)) {
                return Err(OidcError::Party);
            }
        }
        _ => {}
    }
    Ok(claims)
}

/// A JSON object of a token (its header or its payload).
type Object = Map<String, Value>;

/// The header and payload of a compact JWS, decoded without trusting them.
fn parts(token: &str) -> Result<(Object, Object), OidcError> {
    let mut segments = token.split('.');
    let (Some(header), Some(payload), Some(_), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err(OidcError::Malformed("not three dot-separated parts".into()));
    };
    let decode = |part: &str, what: &str| -> Result<Object, OidcError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| OidcError::Malformed(format!("its {what} is not base64url")))?;
        serde_json::from_slice(&bytes)
            .map_err(|_| OidcError::Malformed(format!("its {what} is not a JSON object")))
    };
    Ok((decode(header, "header")?, decode(payload, "payload")?))
}

fn refusal(e: jsonwebtoken::errors::Error) -> OidcError {
    use jsonwebtoken::errors::ErrorKind;
    match e.kind() {
        ErrorKind::InvalidSignature => OidcError::Signature,
        ErrorKind::ExpiredSignature => OidcError::Expired,
        ErrorKind::ImmatureSignature => OidcError::NotYet,
        ErrorKind::InvalidIssuer => OidcError::Issuer,
        ErrorKind::InvalidAudience => OidcError::Audience,
        ErrorKind::MissingRequiredClaim(c) => OidcError::Malformed(format!("it has no {c}")),
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            OidcError::Algorithm("mismatched".into())
        }
        // Other errors may quote the token's own text: not for the trail.
        _ => OidcError::Malformed("it could not be read".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_read_without_trusting_them() {
        let enc = |v: &str| URL_SAFE_NO_PAD.encode(v);
        let token = format!("{}.{}.", enc(r#"{"alg":"none"}"#), enc(r#"{"sub":"x"}"#));
        let (h, p) = parts(&token).unwrap();
        assert_eq!(h["alg"], "none");
        assert_eq!(p["sub"], "x");
        assert!(matches!(parts("a.b"), Err(OidcError::Malformed(_))));
        assert!(matches!(parts("a.b.c.d"), Err(OidcError::Malformed(_))));
        assert!(matches!(parts("!!.b.c"), Err(OidcError::Malformed(_))));
        let claims = Claims(
            serde_json::from_str(r#"{"groups":["a","b"],"role":"x","n":7,"empty":""}"#).unwrap(),
        );
        assert_eq!(claims.texts("groups"), ["a", "b"]);
        assert_eq!(claims.texts("role"), ["x"]);
        assert_eq!(claims.text("n").as_deref(), Some("7"));
        assert_eq!(claims.text("empty"), None);
        assert!(claims.texts("missing").is_empty());
    }
}
