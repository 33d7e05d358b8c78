//! Alerts to a webhook: a generic JSON body with a `text` field, which
//! Slack, Microsoft Teams and Mattermost incoming webhooks accept, plus the
//! details under `lagoa`. The URL (it holds a token) comes from an
//! environment variable and never shows in logs. No data value is ever in
//! an alert: run errors name files, lines and columns only.

use serde::Serialize;
use std::time::Duration;

#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Alert {
    /// A scheduled firing failed after its attempts.
    RunFailed {
        source: String,
        dataset: String,
        attempts: u32,
        error: String,
    },
    /// A source failed this many firings in a row.
    RepeatedFailures {
        source: String,
        dataset: String,
        failures: u32,
    },
    /// No delivery committed for longer than the agreement expects.
    Late {
        dataset: String,
        sources: Vec<String>,
        last_commit: String,
        expected_days: u64,
    },
    /// The audit trail's head, for safekeeping outside the lake: a later
    /// `lagoa audit verify --expect-head SEQ:MAC` checks it is still there.
    AuditAnchor { seq: i64, mac: String, at: String },
    /// The deep check found objects that are not as written (bit rot,
    /// tampering, a lost object).
    Damaged {
        damaged: u64,
        objects: u64,
        /// Up to five, each naming kind, path, dataset and problem.
        examples: Vec<String>,
    },
}

impl Alert {
    /// The message, in Portuguese (the offices' language).
    pub fn text(&self) -> String {
        match self {
            Alert::RunFailed {
                source,
                dataset,
                attempts,
                error,
            } => format!(
                "Lagoa: a fonte {source} ({dataset}) falhou após {attempts} tentativa(s): {error}"
            ),
            Alert::RepeatedFailures {
                source,
                dataset,
                failures,
            } => format!("Lagoa: a fonte {source} ({dataset}) falhou {failures} vezes seguidas"),
            Alert::Late {
                dataset,
                sources,
                last_commit,
                expected_days,
            } => format!(
                "Lagoa: o conjunto {dataset} está atrasado: última entrega em {last_commit}, o acordo prevê uma a cada {expected_days} dia(s) (fontes: {})",
                sources.join(", ")
            ),
            Alert::AuditAnchor { seq, mac, at } => format!(
                "Lagoa: âncora da trilha de auditoria em {at}: entrada {seq}, {seq}:{mac} (guarde-a; `lagoa audit verify --expect-head {seq}:{mac}` confere)"
            ),
            Alert::Damaged {
                damaged,
                objects,
                examples,
            } => format!(
                "Lagoa: a verificação profunda encontrou {damaged} de {objects} objeto(s) danificado(s) (`lagoa check --deep` lista todos): {}",
                examples.join("; ")
            ),
        }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    text: String,
    lagoa: &'a Alert,
}

/// Sends alerts, or only logs them when no webhook is configured.
#[derive(Debug)]
pub struct Alerter {
    webhook: Option<(reqwest::Client, String)>,
}

impl Alerter {
    /// `env`: the variable holding the webhook URL (unset: log only).
    pub fn from_env(env: &str) -> Alerter {
        let url = std::env::var(env).ok().filter(|u| !u.trim().is_empty());
        let _ = rustls::crypto::ring::default_provider().install_default();
        let webhook = url.and_then(|url| {
            reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .ok()
                .map(|c| (c, url.trim().to_owned()))
        });
        Alerter { webhook }
    }

    /// Sends to this URL.
    pub fn to(url: &str) -> Alerter {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Alerter {
            webhook: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .ok()
                .map(|c| (c, url.to_owned())),
        }
    }

    pub fn none() -> Alerter {
        Alerter { webhook: None }
    }

    pub async fn send(&self, alert: &Alert) {
        if matches!(alert, Alert::AuditAnchor { .. }) {
            tracing::info!(alert = %alert.text(), "audit anchor");
        } else {
            tracing::warn!(alert = %alert.text(), "alert");
        }
        let Some((client, url)) = &self.webhook else {
            return;
        };
        let body = Body {
            text: alert.text(),
            lagoa: alert,
        };
        match client.post(url).json(&body).send().await {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => tracing::error!(
                status = r.status().as_u16(),
                "the alert webhook refused the alert"
            ),
            // The error's text may hold the URL (and its token): not logged.
            Err(e) => tracing::error!(
                timeout = e.is_timeout(),
                connect = e.is_connect(),
                "the alert webhook is unreachable"
            ),
        }
    }
}
