//! Console sessions opened through the state's identity provider; nothing
//! of them is kept in the console's memory.
//!
//! The session lives in the browser, in a signed, HttpOnly cookie
//! (`lagoa_sso`): the principal's name, the digest that links the person
//! to it, the session's end and a random id, with an HMAC-SHA256 under a
//! key derived from the lake's `console_session` secret, so it survives a
//! restart of the console and cannot be forged or stretched. Every request
//! checks the signature and the end here, and the catalog again: the
//! person still linked to that principal, the principal enabled, the
//! session not signed out (`lagoa_console_signout`).
//!
//! While the browser is at the provider, the sign-in's `state`, PKCE
//! verifier, nonce and the page asked for travel in a second cookie
//! (`lagoa_signin`, SameSite=Lax so it comes back with the provider's
//! redirect), sealed with AES-256-GCM: a flood of started sign-ins costs
//! the console nothing, and cannot push anyone's sign-in out.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lagoa_governance::oidc::Started;
use rand::RngCore;
use ring::{aead, hmac};
use std::time::Duration;
use zeroize::Zeroizing;

pub const PROVIDER_COOKIE: &str = "lagoa_sso";
pub(crate) const SIGNIN_COOKIE: &str = "lagoa_signin";
/// A sign-in must come back from the provider within this.
pub(crate) const SIGNIN_TTL: Duration = Duration::from_secs(600);
/// The least secret the cookies are keyed with.
pub(crate) const MIN_SECRET: usize = 32;

/// A sign-in back from the provider.
pub(crate) struct Pending {
    pub(crate) nonce: String,
    pub(crate) verifier: Zeroizing<String>,
    pub(crate) next: String,
}

/// A checked session cookie.
#[derive(Debug)]
pub(crate) struct Signed {
    pub(crate) principal: String,
    pub(crate) digest: String,
    pub(crate) id: String,
    /// Unix seconds.
    pub(crate) until: i64,
}

pub(crate) struct ProviderSessions {
    mac: hmac::Key,
    seal: aead::LessSafeKey,
    ttl: Duration,
}

/// Exactly `N` newline-separated fields of a cookie's text.
fn fields<const N: usize>(text: &str) -> Option<[&str; N]> {
    text.split('\n').collect::<Vec<_>>().try_into().ok()
}

/// A key for one use, derived from the console's secret.
fn derive(secret: &[u8], purpose: &str) -> [u8; 32] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut out = [0u8; 32];
    out.copy_from_slice(hmac::sign(&key, purpose.as_bytes()).as_ref());
    out
}

impl ProviderSessions {
    /// `None` for a secret too short to key the cookies with.
    pub(crate) fn new(secret: &[u8], ttl: Duration) -> Option<Self> {
        if secret.len() < MIN_SECRET {
            return None;
        }
        let seal = aead::UnboundKey::new(
            &aead::AES_256_GCM,
            &derive(secret, "lagoa console sign-in cookie"),
        )
        .ok()?;
        Some(Self {
            mac: hmac::Key::new(
                hmac::HMAC_SHA256,
                &derive(secret, "lagoa console session cookie"),
            ),
            seal: aead::LessSafeKey::new(seal),
            ttl,
        })
    }

    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The sealed cookie value of a sign-in sent to the provider at `now`
    /// (Unix seconds).
    pub(crate) fn seal_signin(&self, started: &Started, next: &str, now: i64) -> Option<String> {
        let plain = Zeroizing::new(format!(
            "{}\n{}\n{}\n{}\n{now}",
            started.state,
            started.nonce,
            started.verifier.as_str(),
            next
        ));
        let mut nonce = [0u8; aead::NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let mut sealed = plain.as_bytes().to_vec();
        self.seal
            .seal_in_place_append_tag(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::empty(),
                &mut sealed,
            )
            .ok()?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Some(URL_SAFE_NO_PAD.encode(out))
    }

    /// The sign-in a sealed cookie holds, if it is this console's, not
    /// older than [`SIGNIN_TTL`], and for `state`.
    pub(crate) fn open_signin(&self, value: &str, state: &str, now: i64) -> Option<Pending> {
        let bytes = URL_SAFE_NO_PAD.decode(value).ok()?;
        if bytes.len() <= aead::NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(aead::NONCE_LEN);
        let nonce = aead::Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut sealed = Zeroizing::new(sealed.to_vec());
        let plain = self
            .seal
            .open_in_place(nonce, aead::Aad::empty(), &mut sealed)
            .ok()?;
        let [s, n, v, next, at] = fields(std::str::from_utf8(plain).ok()?)?;
        let at: i64 = at.parse().ok()?;
        let fresh = now >= at && now - at < SIGNIN_TTL.as_secs() as i64;
        if !fresh || s != state {
            return None;
        }
        Some(Pending {
            nonce: n.to_owned(),
            verifier: Zeroizing::new(v.to_owned()),
            next: next.to_owned(),
        })
    }

    /// A new session of `principal` (linked by `digest`) from `now` (Unix
    /// seconds): the cookie's value.
    pub(crate) fn open(&self, principal: &str, digest: &str, now: i64) -> String {
        let mut id = [0u8; 16];
        rand::rng().fill_bytes(&mut id);
        let until = now + self.ttl.as_secs() as i64;
        let payload = URL_SAFE_NO_PAD.encode(format!(
            "{principal}\n{digest}\n{until}\n{}",
            hex::encode(id)
        ));
        let tag = hmac::sign(&self.mac, payload.as_bytes());
        format!("{payload}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// The session a cookie's value holds, if its signature holds and it
    /// has not ended (the catalog says whether it was signed out).
    pub(crate) fn check(&self, value: &str, now: i64) -> Option<Signed> {
        let (payload, tag) = value.split_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        hmac::verify(&self.mac, payload.as_bytes(), &tag).ok()?;
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        let [principal, digest, until, id] = fields(&text)?;
        let until: i64 = until.parse().ok()?;
        if until <= now {
            return None;
        }
        Some(Signed {
            principal: principal.to_owned(),
            digest: digest.to_owned(),
            id: id.to_owned(),
            until,
        })
    }
}

/// `Set-Cookie` for a provider session (or, with `None`, one that clears it).
pub(crate) fn provider_cookie(value: Option<&str>, ttl: Duration, secure: bool) -> String {
    let name = crate::auth::cookie_name(PROVIDER_COOKIE, secure);
    let secure = if secure { "; Secure" } else { "" };
    match value {
        Some(v) => format!(
            "{name}={v}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            ttl.as_secs()
        ),
        None => format!("{name}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    }
}

/// `Set-Cookie` carrying a sealed sign-in to the callback (or clearing it).
/// Over HTTPS its name has the `__Host-` prefix, which needs `Path=/`.
pub(crate) fn signin_cookie(sealed: Option<&str>, secure: bool) -> String {
    let name = crate::auth::cookie_name(SIGNIN_COOKIE, secure);
    let (path, secure) = if secure {
        ("/", "; Secure")
    } else {
        ("/login/oidc", "")
    };
    match sealed {
        Some(s) => format!(
            "{name}={s}; Path={path}; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            SIGNIN_TTL.as_secs()
        ),
        None => format!("{name}=; Path={path}; HttpOnly; SameSite=Lax; Max-Age=0{secure}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn a_session_cookie_cannot_be_forged_or_stretched() {
        let sessions = ProviderSessions::new(SECRET, Duration::from_secs(60)).unwrap();
        let value = sessions.open("ana", "d1g3st", 1000);
        let s = sessions.check(&value, 1010).unwrap();
        assert_eq!((s.principal.as_str(), s.digest.as_str()), ("ana", "d1g3st"));
        assert_eq!(s.until, 1060);
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
            ProviderSessions::new(b"another secret of thirty-two by!", Duration::from_secs(60))
                .unwrap();
        assert!(other.check(&value, 1010).is_none(), "another lake's key");
        assert!(sessions.check("garbage", 1010).is_none());
        assert!(sessions.check("a.b.c", 1010).is_none());
        assert!(ProviderSessions::new(b"short", Duration::from_secs(60)).is_none());
    }

    #[test]
    fn over_https_every_cookie_is_a_host_cookie_set_and_cleared_under_one_name() {
        let ttl = Duration::from_secs(60);
        let built = [
            (PROVIDER_COOKIE, provider_cookie(Some("v"), ttl, true)),
            (PROVIDER_COOKIE, provider_cookie(None, ttl, true)),
            (SIGNIN_COOKIE, signin_cookie(Some("v"), true)),
            (SIGNIN_COOKIE, signin_cookie(None, true)),
            (
                crate::SESSION_COOKIE,
                crate::auth::session_cookie(Some("v"), true),
            ),
            (
                crate::SESSION_COOKIE,
                crate::auth::session_cookie(None, true),
            ),
        ];
        for (base, cookie) in built {
            let name = crate::auth::cookie_name(base, true);
            assert!(cookie.starts_with(&format!("{name}=")), "{cookie}");
            assert!(name.starts_with("__Host-"), "{name}");
            assert!(
                cookie.contains("; Path=/;") && cookie.contains("; Secure"),
                "{cookie}"
            );
            assert!(!cookie.to_ascii_lowercase().contains("domain="), "{cookie}");
        }
        // Over plain HTTP (loopback) the names are bare.
        assert!(signin_cookie(Some("v"), false).starts_with("lagoa_signin=v; Path=/login/oidc;"));
        assert!(provider_cookie(Some("v"), ttl, false).starts_with("lagoa_sso=v; Path=/;"));
    }

    #[test]
    fn a_sealed_sign_in_opens_once_for_its_state_and_not_after_ten_minutes() {
        let sessions = ProviderSessions::new(SECRET, Duration::from_secs(60)).unwrap();
        let started = Started {
            authorize_url: "https://sso.example/auth".into(),
            state: "st4te".into(),
            nonce: "n0nce".into(),
            verifier: Zeroizing::new("v3rifier".into()),
        };
        let sealed = sessions.seal_signin(&started, "/runs", 1000).unwrap();
        assert!(!sealed.contains("v3rifier"));
        let p = sessions.open_signin(&sealed, "st4te", 1100).unwrap();
        assert_eq!((p.nonce.as_str(), p.next.as_str()), ("n0nce", "/runs"));
        assert_eq!(p.verifier.as_str(), "v3rifier");
        assert!(sessions.open_signin(&sealed, "other", 1100).is_none());
        assert!(sessions.open_signin(&sealed, "st4te", 1600).is_none());
        let mut tampered = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        let tampered = URL_SAFE_NO_PAD.encode(tampered);
        assert!(sessions.open_signin(&tampered, "st4te", 1100).is_none());
    }
}
