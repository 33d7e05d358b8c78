//! `lagoa serve`: the operators' console. Server-rendered HTML (maud), no
//! JavaScript and no build step; Portuguese by default, English on request.
//!
//! Pages: the overview (runs of the last 24 hours, failures, late
//! datasets), the sources with their schedules and the buttons to trigger,
//! pause and resume them (operators and admins only), the runs with each
//! run's timeline, counts, error and quality report, and the datasets with
//! their freshness against the agreement and a chart of rows per run, and
//! the indicators: each one's formula and sources, a ranking, a time series
//! per municipality, suppressed cells marked, CSV and JSON downloads.
//!
//! Data flows one way: the catalog and the source files are read on each
//! request; the only writes are the operators' actions, which go through
//! the same lease and run path as the daemon (`lagoa_daemon::Firing`).

mod actions;
mod auth;
mod chart;
mod i18n;
mod layout;
mod pages;
mod provider_sessions;

pub use auth::SESSION_COOKIE;
use auth::Sessions;
pub use i18n::Lang;
use lagoa_governance::{AuthError, Principal};
pub use provider_sessions::PROVIDER_COOKIE;
use provider_sessions::ProviderSessions;

use axum::Router;
use axum::routing::{get, post};
use chrono_tz::Tz;
use lagoa_daemon::{Clock, SourceFile, Triggers};
use lagoa_lake::Lake;
use std::sync::Arc;
use std::time::Duration;

/// How the console behaves; `lagoa serve` fills it from `lagoa.toml`.
#[derive(Clone, Debug)]
pub struct ConsoleOptions {
    /// The lease a run triggered from the console holds (`daemon.lease_seconds`).
    pub lease: Duration,
    /// A dataset is late after its agreement's interval plus this.
    pub late_grace: Duration,
    /// Times are shown in this zone.
    pub timezone: Tz,
    /// Mark the session cookie `Secure` (behind HTTPS).
    pub secure_cookie: bool,
}

impl Default for ConsoleOptions {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(120),
            late_grace: Duration::from_secs(24 * 3600),
            timezone: chrono_tz::America::Sao_Paulo,
            secure_cookie: false,
        }
    }
}

/// The console's shared state: cheap to clone.
#[derive(Clone)]
pub struct Console(Arc<Inner>);

struct Inner {
    lake: Arc<Lake>,
    signins: Arc<lagoa_governance::SignIns>,
    /// Read again when a source file appears, changes or disappears.
    sources: Arc<lagoa_daemon::SourceDir>,
    clock: Arc<dyn Clock>,
    options: ConsoleOptions,
    sessions: Sessions,
    /// Sessions signed in through the identity provider, when the
    /// console offers that (`oidc.redirect_uri`).
    provider_sessions: Option<ProviderSessions>,
    /// Runs started from the console, through the daemon's trigger API.
    triggers: Triggers,
}

impl Console {
    /// `session_secret` signs the sessions opened through the identity
    /// provider (the lake's `console_session` secret).
    pub fn new(
        lake: Arc<Lake>,
        signins: Arc<lagoa_governance::SignIns>,
        sources: Arc<lagoa_daemon::SourceDir>,
        clock: Arc<dyn Clock>,
        options: ConsoleOptions,
        session_secret: &[u8],
    ) -> Self {
        let provider_sessions = signins
            .provider()
            .filter(|p| p.config().console_enabled())
            .and_then(|p| {
                let sessions = ProviderSessions::new(
                    session_secret,
                    Duration::from_secs(p.config().session_minutes.saturating_mul(60)),
                );
                if sessions.is_none() {
                    tracing::error!("the console's session secret is too short: no sign-in through the identity provider");
                }
                sessions
            });
        Console(Arc::new(Inner {
            provider_sessions,
            signins,
            sources,
            triggers: Triggers::new(Arc::clone(&lake), Arc::clone(&clock), options.lease),
            lake,
            clock,
            options,
            sessions: Sessions::default(),
        }))
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/", get(pages::overview::page))
            .route("/sources", get(pages::sources::page))
            .route("/sources/{name}/trigger", post(actions::trigger))
            .route("/sources/{name}/pause", post(actions::pause))
            .route("/sources/{name}/resume", post(actions::resume))
            .route("/runs", get(pages::runs::list))
            .route("/runs/{id}", get(pages::runs::page))
            .route("/datasets", get(pages::datasets::list))
            .route("/datasets/{name}", get(pages::datasets::page))
            .route("/indicators", get(pages::indicators::list))
            .route("/indicators/{name}", get(pages::indicators::page))
            .route(
                "/indicators/{name}/{file}",
                get(pages::indicators::download),
            )
            .route("/login", get(pages::login::form).post(pages::login::submit))
            .route("/login/oidc", get(pages::sso::start))
            .route("/login/oidc/callback", get(pages::sso::callback))
            .route("/logout", post(pages::login::logout))
            .route("/lang/{code}", get(pages::login::language))
            .route("/static/console.css", get(layout::stylesheet))
            .route("/healthz", get(|| async { "ok\n" }))
            .with_state(self.clone())
    }

    /// Stops retrying runs started from the console and waits up to
    /// `grace` for them to end.
    pub async fn shutdown(&self, grace: Duration) {
        if !self.0.triggers.shutdown(grace).await {
            tracing::warn!("runs started from the console were still going at shutdown");
        }
    }

    fn lake(&self) -> &Lake {
        &self.0.lake
    }

    /// The configured sources as the folder holds them now.
    fn sources(&self) -> Arc<Vec<Arc<SourceFile>>> {
        self.0.sources.current()
    }

    fn source(&self, name: &str) -> Option<Arc<SourceFile>> {
        self.0.sources.named(name)
    }

    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.clock.now()
    }

    fn options(&self) -> &ConsoleOptions {
        &self.0.options
    }

    /// A cookie's name as this console sets it (`__Host-` over HTTPS).
    fn cookie_name(&self, base: &str) -> String {
        auth::cookie_name(base, self.0.options.secure_cookie)
    }

    fn sessions(&self) -> &Sessions {
        &self.0.sessions
    }

    fn signins(&self) -> &lagoa_governance::SignIns {
        &self.0.signins
    }

    fn provider(&self) -> Option<&lagoa_governance::oidc::Provider> {
        self.0.signins.provider().map(|p| p.as_ref())
    }

    /// How long a session through the provider lasts, in seconds.
    fn provider_session_seconds(&self) -> i64 {
        self.0
            .provider_sessions
            .as_ref()
            .map_or(0, |s| s.ttl().as_secs() as i64)
    }

    fn provider_sessions(&self) -> Option<&ProviderSessions> {
        self.0.provider_sessions.as_ref()
    }

    /// Records what a principal did in the audit trail; an error means it
    /// could not be recorded (and the action must not happen).
    async fn audit(
        &self,
        who: &Principal,
        action: &str,
        subject: &str,
        outcome: &str,
    ) -> Result<(), lagoa_lake::LakeError> {
        self.0
            .lake
            .audit(&who.audit_entry(action, subject, outcome))
            .await
            .map(|_| ())
    }

    async fn authenticate(&self, token: &str) -> Result<Principal, AuthError> {
        lagoa_governance::GovernanceStore::of(&self.0.lake.catalog)
            .authenticate(token, self.now().timestamp_micros())
            .await
    }
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console").finish_non_exhaustive()
    }
}
