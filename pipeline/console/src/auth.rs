//! Signing in to the console. A principal signs in once with an API token
//! (`lagoa token create`); the console keeps the token in memory under a
//! random session id, and the browser holds only that id, in an HttpOnly,
//! SameSite=Strict cookie. Every request checks the token against the
//! catalog again, so a revoked or expired token, or a disabled principal,
//! is out on the next click. Programs may send `Authorization: Bearer`.

use crate::Console;
use axum::extract::FromRequestParts;
use axum::http::header::{AUTHORIZATION, COOKIE, HOST, ORIGIN};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Redirect, Response};
use lagoa_governance::{AuthError, Principal};

use rand::RngCore;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

pub const SESSION_COOKIE: &str = "lagoa_session";
/// A session lasts this long after sign-in (the token may end it sooner).
pub(crate) const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

struct Session {
    token: Zeroizing<String>,
    until: Instant,
}

/// Sessions of this console process (a restart signs everyone out).
#[derive(Default)]
pub(crate) struct Sessions {
    by_id: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// Opens a session for a token already checked; returns its id.
    pub(crate) fn open(&self, token: &str) -> String {
        let mut id = [0u8; 32];
        rand::rng().fill_bytes(&mut id);
        let id = hex::encode(id);
        let mut map = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        map.retain(|_, s| s.until > now);
        map.insert(
            id.clone(),
            Session {
                token: Zeroizing::new(token.to_owned()),
                until: now + SESSION_TTL,
            },
        );
        id
    }

    fn token(&self, id: &str) -> Option<Zeroizing<String>> {
        let map = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        map.get(id)
            .filter(|s| s.until > Instant::now())
            .map(|s| s.token.clone())
    }

    pub(crate) fn close(&self, id: &str) {
        let mut map = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(id);
    }
}

/// A cookie's value from the request's `Cookie` headers; none when the
/// name comes twice (a cookie planted by a sibling site beside ours).
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut found = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned());
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

/// A cookie's name as the console sets and reads it: over HTTPS with the
/// `__Host-` prefix, so the browser takes it only from this very host,
/// Secure and for the whole site (a sibling site under the same domain
/// cannot plant one); over plain HTTP (loopback) as it is.
pub(crate) fn cookie_name(base: &str, secure: bool) -> String {
    if secure {
        format!("__Host-{base}")
    } else {
        base.to_owned()
    }
}

/// A `Set-Cookie` value for the session id (or, with `None`, one that
/// clears it).
pub(crate) fn session_cookie(id: Option<&str>, secure: bool) -> String {
    let name = cookie_name(SESSION_COOKIE, secure);
    let secure = if secure { "; Secure" } else { "" };
    match id {
        Some(id) => format!(
            "{name}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            SESSION_TTL.as_secs()
        ),
        None => format!("{name}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    }
}

/// A form sent from another site is refused: the `Origin` header, when
/// the browser sends one, must name this console's host.
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(ORIGIN).and_then(|o| o.to_str().ok()) else {
        // No Origin: not a cross-site browser form (browsers send one on
        // every cross-site POST); the SameSite cookie guards the rest.
        return true;
    };
    let host = headers.get(HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .split_once("://")
        .map(|(_, rest)| rest.trim_end_matches('/'));
    matches!((origin_host, host), (Some(o), Some(h)) if o == h)
}

/// The signed-in principal of a request.
pub(crate) struct Viewer(pub Principal);

/// Why a request has no viewer.
pub(crate) enum NotSignedIn {
    /// A page: go and sign in, then come back.
    SignIn { next: String },
    /// Cross-site form.
    Forbidden,
    /// The catalog did not answer.
    Unavailable,
}

impl IntoResponse for NotSignedIn {
    fn into_response(self) -> Response {
        match self {
            NotSignedIn::SignIn { next } => {
                Redirect::to(&format!("/login?next={}", encode_component(&next))).into_response()
            }
            NotSignedIn::Forbidden => (
                axum::http::StatusCode::FORBIDDEN,
                "cross-site request refused\n",
            )
                .into_response(),
            NotSignedIn::Unavailable => (
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "the catalog is unreachable; try again shortly\n",
            )
                .into_response(),
        }
    }
}

impl FromRequestParts<Console> for Viewer {
    type Rejection = NotSignedIn;

    async fn from_request_parts(parts: &mut Parts, console: &Console) -> Result<Self, NotSignedIn> {
        if parts.method != Method::GET && !same_origin(&parts.headers) {
            return Err(NotSignedIn::Forbidden);
        }
        let next = if parts.method == Method::GET {
            parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_else(|| "/".to_owned())
        } else {
            "/".to_owned()
        };
        let bearer = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| Zeroizing::new(t.trim().to_owned()));
        let token = match bearer {
            Some(t) => t,
            None => match cookie(&parts.headers, &console.cookie_name(SESSION_COOKIE))
                .and_then(|id| console.sessions().token(&id))
            {
                Some(t) => t,
                None => return provider_session(console, &parts.headers, next).await,
            },
        };
        match console.authenticate(&token).await {
            Ok(principal) => Ok(Viewer(principal)),
            Err(AuthError::Catalog(e)) => {
                tracing::error!(error = %e, "cannot check a console session");
                Err(NotSignedIn::Unavailable)
            }
            Err(refused) => {
                tracing::info!(reason = %refused, "console session refused");
                Err(NotSignedIn::SignIn { next })
            }
        }
    }
}

/// The viewer of a session opened through the identity provider: the
/// signed cookie, and the principal still enabled and linked.
async fn provider_session(
    console: &Console,
    headers: &HeaderMap,
    next: String,
) -> Result<Viewer, NotSignedIn> {
    let Some(session) =
        cookie(headers, &console.cookie_name(crate::PROVIDER_COOKIE)).and_then(|value| {
            console
                .provider_sessions()?
                .check(&value, console.now().timestamp())
        })
    else {
        return Err(NotSignedIn::SignIn { next });
    };
    let store = lagoa_governance::GovernanceStore::of(&console.lake().catalog);
    let unavailable = |e: lagoa_lake::LakeError| {
        tracing::error!(error = %e, "cannot check a console session");
        NotSignedIn::Unavailable
    };
    if store
        .console_session_ended(&session.id)
        .await
        .map_err(unavailable)?
    {
        return Err(NotSignedIn::SignIn { next });
    }
    // Still this person's principal (not unlinked, nor linked to another
    // since), enabled, and by a link older than the session (an unlink
    // and a new link end the sessions opened before).
    let linked_at = store
        .linked_at(&session.digest)
        .await
        .map_err(unavailable)?;
    let issued = session
        .until
        .saturating_sub(console.provider_session_seconds());
    // `lagoa user signout` ends the sessions opened before it.
    if store
        .signed_out_after(&session.principal)
        .await
        .map_err(unavailable)?
        .is_some_and(|after| after >= issued.saturating_mul(1_000_000))
    {
        return Err(NotSignedIn::SignIn { next });
    }
    let principal = store
        .linked_principal(&session.digest)
        .await
        .map_err(unavailable)?
        .filter(|p| p.name == session.principal && p.disabled_at.is_none())
        // (the session's times are whole seconds: one of slack)
        .filter(|_| linked_at.is_some_and(|at| at < (issued + 1).saturating_mul(1_000_000)));
    match principal {
        Some(p) => Ok(Viewer(Principal {
            signed_in: Some(lagoa_governance::SignedIn::ProviderSession),
            ..p
        })),
        None => {
            tracing::info!(principal = %session.principal, "a console session ended: the principal is disabled or no longer linked to the person");
            Err(NotSignedIn::SignIn { next })
        }
    }
}

/// Percent-encodes a query component.
pub(crate) fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Where to go after signing in: a path of this console only, in
/// printable ASCII (a browser drops tabs and newlines from a URL, so
/// `/\t/evil.example` would be `//evil.example`), at most 2 KiB.
pub(crate) fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && n.len() <= 2048
                && n.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') =>
        {
            n.to_owned()
        }
        _ => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn cookies_origins_and_next_paths() {
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_static("a=1; lagoa_session=abc; b=2"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "c"), None);
        h.insert(HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(same_origin(&h));
        h.insert(ORIGIN, HeaderValue::from_static("http://127.0.0.1:8080"));
        assert!(same_origin(&h));
        h.insert(ORIGIN, HeaderValue::from_static("https://evil.example"));
        assert!(!same_origin(&h));
        assert_eq!(
            safe_next(Some("/runs?status=failed")),
            "/runs?status=failed"
        );
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\t/evil.example")), "/");
        assert_eq!(safe_next(Some("/\n/evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(Some(&format!("/{}", "a".repeat(3000)))), "/");
        let mut twice = HeaderMap::new();
        twice.insert(COOKIE, HeaderValue::from_static("lagoa_sso=a; lagoa_sso=b"));
        assert_eq!(cookie(&twice, "lagoa_sso"), None);
        assert_eq!(encode_component("/runs?a=b c"), "/runs%3Fa%3Db%20c");
        let sessions = Sessions::default();
        let id = sessions.open("lagoa_x");
        assert_eq!(
            sessions.token(&id).as_deref().map(|t| t.as_str()),
            Some("lagoa_x")
        );
        sessions.close(&id);
        assert!(sessions.token(&id).is_none());
    }
}
