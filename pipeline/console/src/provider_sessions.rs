//! Console sessions opened through the state's identity provider.
//!
//! The session lives in the browser, in a signed, HttpOnly cookie
//! (`lagoa_sso`): the principal's name, the session's end and a random id,
//! with an HMAC-SHA256 under the lake's `console_session` secret, so it
//! survives a restart of the console and cannot be forged or stretched.
//! Every request checks the signature and the end, and the principal
//! against the catalog again (disabled or unlinked, they are out at once).
//! Signing out ends the id here, until the cookie would have ended anyway.
//!
//! While the browser is at the provider, the sign-in's PKCE verifier and
//! nonce wait here under its `state`, which a short-lived cookie
//! (`lagoa_signin`, SameSite=Lax so it comes back with the provider's
//! redirect) binds to the browser that started it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lagoa_governance::oidc::Started;
use rand::RngCore;
use ring::hmac;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

pub const PROVIDER_COOKIE: &str = "lagoa_sso";
pub(crate) const SIGNIN_COOKIE: &str = "lagoa_signin";
/// A sign-in must come back from the provider within this.
pub(crate) const SIGNIN_TTL: Duration = Duration::from_secs(600);
/// Sign-ins waiting at once, at most (each is a few hundred bytes).
const MAX_PENDING: usize = 10_000;

/// A sign-in waiting for the provider's answer.
pub(crate) struct Pending {
    pub(crate) nonce: String,
    pub(crate) verifier: Zeroizing<String>,
    pub(crate) next: String,
    at: Instant,
}

/// A checked session cookie.
#[derive(Debug)]
pub(crate) struct Signed {
    pub(crate) principal: String,
    pub(crate) id: String,
    /// Unix seconds.
    pub(crate) until: i64,
}

pub(crate) struct ProviderSessions {
    key: hmac::Key,
    ttl: Duration,
    pending: Mutex<HashMap<String, Pending>>,
    /// Sessions signed out before their end: id to end (Unix seconds).
    ended: Mutex<HashMap<String, i64>>,
    /// ID tokens of open sessions (the hint for signing out at the provider).
    hints: Mutex<HashMap<String, Zeroizing<String>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ProviderSessions {
    pub(crate) fn new(secret: &[u8], ttl: Duration) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            ttl,
            pending: Mutex::new(HashMap::new()),
            ended: Mutex::new(HashMap::new()),
            hints: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Keeps a sign-in sent to the provider. When too many wait, the
    /// oldest is forgotten: a flood of started sign-ins cannot lock the
    /// next person out, only slow the flood's own.
    pub(crate) fn begin(&self, started: Started, next: String) {
        let mut pending = lock(&self.pending);
        pending.retain(|_, p| p.at.elapsed() < SIGNIN_TTL);
        if pending.len() >= MAX_PENDING
            && let Some(oldest) = pending
                .iter()
                .min_by_key(|(_, p)| p.at)
                .map(|(state, _)| state.clone())
        {
            pending.remove(&oldest);
        }
        pending.insert(
            started.state,
            Pending {
                nonce: started.nonce,
                verifier: started.verifier,
                next,
                at: Instant::now(),
            },
        );
    }

    /// The sign-in `state` names, once.
    pub(crate) fn take(&self, state: &str) -> Option<Pending> {
        lock(&self.pending)
            .remove(state)
            .filter(|p| p.at.elapsed() < SIGNIN_TTL)
    }

    /// A new session of `principal` from `now` (Unix seconds): the cookie's value.
    pub(crate) fn open(&self, principal: &str, id_token: Zeroizing<String>, now: i64) -> String {
        let mut id = [0u8; 16];
        rand::rng().fill_bytes(&mut id);
        let id = hex::encode(id);
        let until = now + self.ttl.as_secs() as i64;
        let payload = URL_SAFE_NO_PAD.encode(format!("{principal}\n{until}\n{id}"));
        let tag = hmac::sign(&self.key, payload.as_bytes());
        let mut hints = lock(&self.hints);
        if hints.len() >= MAX_PENDING {
            hints.clear();
        }
        hints.insert(id, id_token);
        format!("{payload}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// The session a cookie's value holds, if its signature holds, it has
    /// not ended, and nobody signed it out.
    pub(crate) fn check(&self, value: &str, now: i64) -> Option<Signed> {
        let (payload, tag) = value.split_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        hmac::verify(&self.key, payload.as_bytes(), &tag).ok()?;
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        let mut parts = text.split('\n');
        let (Some(principal), Some(until), Some(id), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let until: i64 = until.parse().ok()?;
        if until <= now || lock(&self.ended).contains_key(id) {
            return None;
        }
        Some(Signed {
            principal: principal.to_owned(),
            id: id.to_owned(),
            until,
        })
    }

    /// Signs a session out; its ID token, if this process still has it.
    pub(crate) fn end(&self, session: &Signed, now: i64) -> Option<Zeroizing<String>> {
        let mut ended = lock(&self.ended);
        ended.retain(|_, until| *until > now);
        ended.insert(session.id.clone(), session.until);
        lock(&self.hints).remove(&session.id)
    }
}

/// `Set-Cookie` for a provider session (or, with `None`, one that clears it).
pub(crate) fn provider_cookie(value: Option<&str>, ttl: Duration, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match value {
        Some(v) => format!(
            "{PROVIDER_COOKIE}={v}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            ttl.as_secs()
        ),
        None => format!("{PROVIDER_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    }
}

/// `Set-Cookie` binding a sign-in's state to this browser (or clearing it).
pub(crate) fn signin_cookie(state: Option<&str>, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match state {
        Some(s) => format!(
            "{SIGNIN_COOKIE}={s}; Path=/login/oidc; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            SIGNIN_TTL.as_secs()
        ),
        None => {
            format!("{SIGNIN_COOKIE}=; Path=/login/oidc; HttpOnly; SameSite=Lax; Max-Age=0{secure}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_cookie_cannot_be_forged_stretched_or_reused_after_sign_out() {
        let sessions =
            ProviderSessions::new(b"0123456789abcdef0123456789abcdef", Duration::from_secs(60));
        let value = sessions.open("ana", Zeroizing::new("id-token".into()), 1000);
        let s = sessions.check(&value, 1010).unwrap();
        assert_eq!(s.principal, "ana");
        assert!(sessions.check(&value, 1060).is_none(), "ended");
        // Another name, or a later end, under the same signature.
        let (payload, tag) = value.split_once('.').unwrap();
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        for forged in [
            text.replace("ana", "admin"),
            text.replace("1060", "9999999999"),
        ] {
            let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(forged));
            assert!(sessions.check(&forged, 1010).is_none());
        }
        let other =
            ProviderSessions::new(b"another secret of thirty-two by", Duration::from_secs(60));
        assert!(other.check(&value, 1010).is_none(), "another lake's key");
        assert!(sessions.check("garbage", 1010).is_none());
        assert!(sessions.check("a.b.c", 1010).is_none());
        assert_eq!(
            sessions.end(&s, 1020).as_deref().map(|t| t.as_str()),
            Some("id-token")
        );
        assert!(sessions.check(&value, 1020).is_none(), "signed out");
    }
}
