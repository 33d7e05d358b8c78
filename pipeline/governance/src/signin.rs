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
//! people behind the same address are not locked out).

use crate::store::{AuthError, Principal};
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

/// The sign-ins of one process: windows per address, counters per door.
pub struct SignIns {
    lake: Arc<Lake>,
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

#[derive(Clone, Copy, Debug)]
struct Window {
    started: Instant,
    failures: u32,
    /// Failures of the window before, not recorded one by one.
    previous: u32,
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
            limits,
            windows: Mutex::new(HashMap::new()),
            refused: Default::default(),
            throttled: Default::default(),
        }
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
            Some(token) => match crate::GovernanceStore::of(&self.lake.catalog)
                .authenticate(token, now_micros())
                .await
            {
                Ok(p) => return Ok(p),
                Err(AuthError::Catalog(e)) => return Err(SignInError::Unavailable(e.to_string())),
                Err(e) => SignInError::Refused(e),
            },
        };
        self.refuse(door, from, refused).await
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
        match self.judge(from) {
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

    fn judge(&self, from: IpAddr) -> Verdict {
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
        });
        if now.duration_since(w.started) >= self.limits.window {
            w.previous = w.failures.saturating_sub(1);
            w.started = now;
            w.failures = 0;
        }
        w.failures += 1;
        if w.failures > self.limits.max_failures {
            Verdict::Throttle {
                retry_after: self.limits.window - now.duration_since(w.started),
            }
        } else if w.failures == 1 {
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
