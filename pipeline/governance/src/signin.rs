//! Sign-in at the doors that face the network (the HTTP API, the
//! PostgreSQL port, the console's form), with one rule for refusals.
//!
//! A refused token is recorded in the audit trail, but not every one: an
//! address that sends hundreds of bad tokens would grow the trail without
//! bound (500 requests in 8 s once added 500 rows). So refusals are counted
//! per address in windows of [`SignInLimits::window`]: the first of a window
//! is recorded (saying how many the address had in its last window), the
//! others are only counted, in the process's metrics; past
//! [`SignInLimits::max_failures`] in a window the address's bad tokens get
//! "too many requests" with the time to wait (a good token still passes:
//! people behind the same address are not locked out). A refusal of
//! another kind than those already recorded in the window (an expired
//! token after an unknown one, say) is recorded too: the kinds are few, so
//! the trail stays bounded, and each kind of attack is on the record.
//!
//! A token is one of Lagoa's (`lagoa_…`) or, when `[oidc]` names a
//! provider, an access token (JWT) of the state's identity provider
//! ([`crate::oidc`]); both give the same principal, and the audit trail
//! records which one signed in.

use crate::oidc::{OidcError, Provider, looks_like_jwt};
use crate::store::{AuthError, GovernanceStore, Principal, SignedIn};
use lagoa_lake::Lake;
use lagoa_lake::catalog::{AuditEntry, now_micros};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where a sign-in comes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Door {
    Api,
    Postgres,
    Console,
}

impl Door {
    pub const ALL: [Door; 3] = [Door::Api, Door::Postgres, Door::Console];

    pub fn name(self) -> &'static str {
        match self {
            Door::Api => "api",
            Door::Postgres => "postgres",
            Door::Console => "console",
        }
    }
}

#[derive(Clone, Debug)]
pub struct SignInLimits {
    pub window: Duration,
    /// Refused sign-ins one address may have in a window.
    pub max_failures: u32,
}

impl Default for SignInLimits {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(60),
            max_failures: 20,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// The token was refused; the reason is for the caller.
    #[error("the token was refused: {0}")]
    Refused(AuthError),
    /// An access token of the identity provider was refused.
    #[error("the identity provider's token was refused: {0}")]
    Provider(OidcError),
    #[error("no token was sent")]
    Missing,
    /// A valid token of someone else than the user named (PostgreSQL).
    #[error("the token is {owner}'s, not {claimed}'s")]
    NotYours { owner: String, claimed: String },
    #[error(
        "too many refused sign-ins from your address; try again in {} s",
        .retry_after.as_secs().max(1)
    )]
    Throttled { retry_after: Duration },
    /// The catalog could not be asked.
    #[error("the catalog could not check the token: {0}")]
    Unavailable(String),
}

impl SignInError {
    /// The kind of refusal: one of a few, recorded once per window each.
    fn kind(&self) -> &'static str {
        match self {
            SignInError::Refused(AuthError::Malformed) => "malformed",
            SignInError::Refused(AuthError::Unknown) => "unknown",
            SignInError::Refused(AuthError::Expired { .. }) => "expired",
            SignInError::Refused(AuthError::Revoked { .. }) => "revoked",
            SignInError::Refused(AuthError::Disabled { .. }) => "disabled",
            SignInError::Refused(AuthError::Catalog(_)) => "catalog",
            SignInError::Provider(e) => match e {
                OidcError::Malformed(_) => "provider-malformed",
                OidcError::Unsigned => "provider-unsigned",
                OidcError::Algorithm(_) => "provider-algorithm",
                OidcError::UnknownKey(_) => "provider-unknown-key",
                OidcError::Signature => "provider-signature",
                OidcError::Expired => "provider-expired",
                OidcError::NotYet => "provider-not-yet",
                OidcError::Issuer => "provider-issuer",
                OidcError::Audience => "provider-audience",
                OidcError::Nonce => "provider-nonce",
                OidcError::NotAccessToken => "provider-not-access-token",
                OidcError::Party => "provider-party",
                OidcError::NoPersonClaim(_) => "provider-no-person",
                OidcError::UnknownPerson(_) => "provider-unknown-person",
                OidcError::NotCreated(_) => "provider-not-created",
                OidcError::Disabled(_) => "provider-disabled",
                OidcError::Provider(_) | OidcError::Catalog(_) => "provider-unavailable",
            },
            SignInError::Missing => "missing",
            SignInError::NotYours { .. } => "not-yours",
            SignInError::Throttled { .. } => "throttled",
            SignInError::Unavailable(_) => "unavailable",
        }
    }

    /// How the refused caller tried to sign in at `door`.
    fn signed_in(&self, door: Door) -> Option<SignedIn> {
        match self {
            SignInError::Provider(_) if door == Door::Console => Some(SignedIn::ProviderSession),
            SignInError::Provider(_) => Some(SignedIn::ProviderToken),
            SignInError::Refused(_) => Some(SignedIn::LagoaToken),
            _ => None,
        }
    }
}

/// The principal of a token given on the command line (`--token`): one of
/// Lagoa's, or an access token of the lake's identity provider. The
/// command line is not a network door: nothing is throttled or recorded
/// here; the reason of a refusal is for the person at the terminal.
pub async fn command_line_principal(lake: &Lake, token: &str) -> Result<Principal, String> {
    let token = token.trim();
    if looks_like_jwt(token) {
        let provider = Provider::of_lake(lake)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("this is not a Lagoa token, and no identity provider is configured ([oidc])")?;
        let claims = provider
            .check_access_token(token)
            .await
            .map_err(|e| format!("the identity provider's token was refused: {e}"))?;
        return provider
            .person(lake, &claims, SignedIn::ProviderToken, false)
            .await
            .map(|p| p.principal)
            .map_err(|e| format!("the identity provider's token was refused: {e}"));
    }
    GovernanceStore::of(&lake.catalog)
        .authenticate(token, now_micros())
        .await
        .map_err(|e| format!("the token was refused: {e}"))
}

/// The sign-ins of one process: windows per address, counters per door.
pub struct SignIns {
    lake: Arc<Lake>,
    provider: Option<Arc<Provider>>,
    limits: SignInLimits,
    windows: Mutex<HashMap<IpAddr, Window>>,
    refused: [AtomicU64; 3],
    throttled: [AtomicU64; 3],
}

impl std::fmt::Debug for SignIns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignIns")
            .field("limits", &self.limits)
            .finish()
    }
}

#[derive(Clone, Debug)]
struct Window {
    started: Instant,
    failures: u32,
    /// Failures of the window before, not recorded one by one.
    previous: u32,
    /// The kinds of refusal recorded in this window.
    recorded: Vec<&'static str>,
}

/// What to do with one refusal.
enum Verdict {
    /// Record it; `earlier` refusals of the address went unrecorded.
    Record {
        earlier: u32,
    },
    Count,
    Throttle {
        retry_after: Duration,
    },
}

impl SignIns {
    pub fn new(lake: Arc<Lake>, limits: SignInLimits) -> Self {
        SignIns {
            lake,
            provider: None,
            limits,
            windows: Mutex::new(HashMap::new()),
            refused: Default::default(),
            throttled: Default::default(),
        }
    }

    /// Accepts the identity provider's access tokens too.
    pub fn with_provider(mut self, provider: Arc<Provider>) -> Self {
        self.provider = Some(provider);
        self
    }

    /// The identity provider, when `[oidc]` names one.
    pub fn provider(&self) -> Option<&Arc<Provider>> {
        self.provider.as_ref()
    }

    /// The principal of `token`, presented at `door` from `from`.
    pub async fn authenticate(
        &self,
        door: Door,
        from: IpAddr,
        token: Option<&str>,
    ) -> Result<Principal, SignInError> {
        // A good token always passes, so a flood from an address (a NAT,
        // say) does not lock out the people behind it.
        let refused = match token {
            None => SignInError::Missing,
            Some(token) => match (&self.provider, looks_like_jwt(token)) {
                (Some(provider), true) => match self.provider_token(provider, door, token).await {
                    Ok(p) => return Ok(p),
                    Err(e) if e.is_unavailable() => {
                        return Err(SignInError::Unavailable(e.to_string()));
                    }
                    Err(e) => SignInError::Provider(e),
                },
                _ => match GovernanceStore::of(&self.lake.catalog)
                    .authenticate(token, now_micros())
                    .await
                {
                    Ok(p) => return Ok(p),
                    Err(AuthError::Catalog(e)) => {
                        return Err(SignInError::Unavailable(e.to_string()));
                    }
                    Err(e) => SignInError::Refused(e),
                },
            },
        };
        self.refuse(door, from, refused).await
    }

    /// The principal of an access token of the provider; a person made a
    /// principal by it is on the record.
    async fn provider_token(
        &self,
        provider: &Provider,
        door: Door,
        token: &str,
    ) -> Result<Principal, OidcError> {
        let claims = provider.check_access_token(token).await?;
        let person = provider
            .person(&self.lake, &claims, SignedIn::ProviderToken, true)
            .await?;
        if person.created {
            tracing::info!(principal = %person.principal.name, door = door.name(), "a person was made a principal on first sign-in");
        }
        Ok(person.principal)
    }

    /// The principal of a PostgreSQL connection, checked again before one
    /// of its statements: a Lagoa token is checked in full (revoked or
    /// expired, it stops); an access token of the provider is checked in
    /// full but for its expiry (its ten minutes would otherwise end a
    /// connection mid-session; the port ends it after
    /// `oidc.session_minutes`), and the person must still be linked to
    /// this principal, and the principal enabled.
    /// `signed_in_at` (microseconds): a `lagoa user signout` since ends it.
    pub async fn recheck(
        &self,
        user: &str,
        token: &str,
        signed_in_at: i64,
    ) -> Result<Principal, String> {
        let store = GovernanceStore::of(&self.lake.catalog);
        if let Some(provider) = self.provider.as_ref().filter(|_| looks_like_jwt(token)) {
            let longest = provider
                .config()
                .connection_minutes
                .saturating_mul(60_000_000) as i64;
            if now_micros().saturating_sub(signed_in_at) > longest {
                return Err("the connection signed in with the identity provider's token is over: connect again with a new token".into());
            }
            match store.signed_out_after(user).await {
                Ok(Some(after)) if after >= signed_in_at => {
                    return Err(format!("{user} was signed out everywhere"));
                }
                Ok(_) => {}
                Err(e) => return Err(format!("the catalog could not be asked: {e}")),
            }
            let refused = |e: OidcError| format!("the identity provider's token was refused: {e}");
            let claims = provider
                .recheck_access_token(token)
                .await
                .map_err(refused)?;
            let person = provider
                .person(&self.lake, &claims, SignedIn::ProviderToken, false)
                .await
                .map_err(refused)?;
            return if person.principal.name == user {
                Ok(person.principal)
            } else {
                Err(format!("the person is no longer linked to {user}"))
            };
        }
        match store.authenticate(token, now_micros()).await {
            Ok(p) if p.name == user => Ok(p),
            Ok(_) => Err("the token no longer names this user".to_owned()),
            Err(e) => Err(format!("the token was refused: {e}")),
        }
    }

    /// Counts (and, once a window, records) a refusal at `door` that the
    /// door decided itself (a token of another user, say).
    pub async fn refuse<T>(
        &self,
        door: Door,
        from: IpAddr,
        refused: SignInError,
    ) -> Result<T, SignInError> {
        self.refused[door as usize].fetch_add(1, Ordering::Relaxed);
        match self.judge(from, refused.kind()) {
            Verdict::Throttle { retry_after } => {
                self.throttled[door as usize].fetch_add(1, Ordering::Relaxed);
                Err(SignInError::Throttled { retry_after })
            }
            Verdict::Count => Err(refused),
            Verdict::Record { earlier } => {
                let mut reason = refused.to_string();
                if earlier > 0 {
                    reason.push_str(&format!(
                        " ({earlier} more refused sign-ins from this address in its last window were counted, not recorded)"
                    ));
                }
                let entry = AuditEntry {
                    principal: "unknown".into(),
                    institution: "-".into(),
                    action: "sign_in".into(),
                    subject: Some(format!("{} from {from}", door.name())),
                    outcome: "denied".into(),
                    reason: Some(reason),
                    signed_in: refused.signed_in(door).map(|s| s.as_str().to_owned()),
                    ..Default::default()
                };
                if let Err(e) = self.lake.audit(&entry).await {
                    tracing::error!(error = %e, "a refused sign-in could not be audited");
                    return Err(SignInError::Unavailable(e.to_string()));
                }
                Err(refused)
            }
        }
    }

    fn judge(&self, from: IpAddr, kind: &'static str) -> Verdict {
        let mut windows = self.windows.lock().expect("sign-in windows");
        let now = Instant::now();
        // Forget addresses quiet for a whole window.
        if windows.len() > 10_000 {
            let window = self.limits.window;
            windows.retain(|_, w| now.duration_since(w.started) < window * 2);
        }
        let w = windows.entry(from).or_insert(Window {
            started: now,
            failures: 0,
            previous: 0,
            recorded: Vec::new(),
        });
        if now.duration_since(w.started) >= self.limits.window {
            w.previous = w.failures.saturating_sub(w.recorded.len() as u32);
            w.started = now;
            w.failures = 0;
            w.recorded.clear();
        }
        w.failures += 1;
        if w.failures > self.limits.max_failures {
            Verdict::Throttle {
                retry_after: self.limits.window - now.duration_since(w.started),
            }
        } else if !w.recorded.contains(&kind) {
            w.recorded.push(kind);
            Verdict::Record {
                earlier: std::mem::take(&mut w.previous),
            }
        } else {
            Verdict::Count
        }
    }

    /// The counters in the Prometheus text format.
    pub fn metrics(&self) -> String {
        let mut out = String::from(
            "# HELP lagoa_signin_refused_total Sign-ins refused (bad, expired or revoked tokens), by door.\n# TYPE lagoa_signin_refused_total counter\n",
        );
        for door in Door::ALL {
            out.push_str(&format!(
                "lagoa_signin_refused_total{{door=\"{}\"}} {}\n",
                door.name(),
                self.refused[door as usize].load(Ordering::Relaxed)
            ));
        }
        out.push_str("# HELP lagoa_signin_throttled_total Sign-ins refused at once: too many refusals from the address.\n# TYPE lagoa_signin_throttled_total counter\n");
        for door in Door::ALL {
            out.push_str(&format!(
                "lagoa_signin_throttled_total{{door=\"{}\"}} {}\n",
                door.name(),
                self.throttled[door as usize].load(Ordering::Relaxed)
            ));
        }
        out
    }
}
