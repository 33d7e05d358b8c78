//! The console's two languages: Portuguese (the default) and English,
//! chosen with the `lagoa_lang` cookie (the links at the top of each page
//! set it). Every text sits at its call site in both languages:
//! `lang.t("Fontes", "Sources")`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use lagoa_core::{FailureClass, RunStatus};
use std::convert::Infallible;
use std::time::Duration;

pub(crate) const LANG_COOKIE: &str = "lagoa_lang";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Lang {
    #[default]
    Pt,
    En,
}

impl Lang {
    pub fn from_code(code: &str) -> Option<Lang> {
        match code {
            "pt" | "pt-BR" => Some(Lang::Pt),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Pt => "pt-BR",
            Lang::En => "en",
        }
    }

    /// The text in this language.
    pub fn t(self, pt: &'static str, en: &'static str) -> &'static str {
        match self {
            Lang::Pt => pt,
            Lang::En => en,
        }
    }

    /// A time in the console's zone: `22/11/2026 10:15` or `2026-11-22 10:15`.
    pub fn time(self, at: DateTime<Utc>, zone: Tz) -> String {
        let local = at.with_timezone(&zone);
        match self {
            Lang::Pt => local.format("%d/%m/%Y %H:%M:%S").to_string(),
            Lang::En => local.format("%Y-%m-%d %H:%M:%S").to_string(),
        }
    }

    pub fn micros(self, micros: i64, zone: Tz) -> String {
        DateTime::<Utc>::from_timestamp_micros(micros)
            .map(|t| self.time(t, zone))
            .unwrap_or_else(|| "-".to_owned())
    }

    /// A span of time, short: `45 s`, `12 min`, `3 h`, `2 d`.
    pub fn span(self, d: Duration) -> String {
        let s = d.as_secs();
        if d.as_millis() < 10_000 {
            self.decimal(d.as_secs_f64(), 1) + " s"
        } else if s < 120 {
            format!("{s} s")
        } else if s < 2 * 3600 {
            format!("{} min", s / 60)
        } else if s < 2 * 86400 {
            format!("{} h", s / 3600)
        } else {
            format!("{} d", s / 86400)
        }
    }

    /// `há 3 h` / `3 h ago`.
    pub fn ago(self, d: Duration) -> String {
        match self {
            Lang::Pt => format!("há {}", self.span(d)),
            Lang::En => format!("{} ago", self.span(d)),
        }
    }

    /// A number with the language's separators: `1.234.567` / `1,234,567`.
    pub fn count(self, n: i64) -> String {
        let digits = n.unsigned_abs().to_string();
        let sep = match self {
            Lang::Pt => '.',
            Lang::En => ',',
        };
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(sep);
            }
            out.push(c);
        }
        if n < 0 { format!("-{out}") } else { out }
    }

    pub fn decimal(self, x: f64, places: usize) -> String {
        let text = format!("{x:.places$}");
        match self {
            Lang::Pt => text.replace('.', ","),
            Lang::En => text,
        }
    }

    /// A run's status in words.
    pub fn status(self, status: RunStatus) -> &'static str {
        match status {
            RunStatus::Committed => self.t("concluída", "committed"),
            RunStatus::AlreadyIngested => self.t("já recebida", "already ingested"),
            RunStatus::Empty => self.t("nada novo", "nothing new"),
            RunStatus::Failed => self.t("falhou", "failed"),
            RunStatus::Rejected => self.t("rejeitada", "rejected"),
            RunStatus::Held => self.t("retida (deriva)", "held (drift)"),
            RunStatus::Running => self.t("em execução", "running"),
        }
    }

    pub fn error_class(self, class: FailureClass) -> &'static str {
        match class {
            FailureClass::SourceUnreachable => self.t("fonte inacessível", "source unreachable"),
            FailureClass::ContractViolation => self.t("violação do contrato", "contract violation"),
            FailureClass::Storage => self.t("armazenamento", "storage"),
            FailureClass::Internal => self.t("interno", "internal"),
            FailureClass::Abandoned => {
                self.t("abandonada (processo parou)", "abandoned (process stopped)")
            }
            FailureClass::ConcurrentChange => {
                self.t("outra escrita veio antes", "another write came first")
            }
            FailureClass::Keys => self.t("chaves", "keys"),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(crate::auth::cookie(&parts.headers, LANG_COOKIE)
            .and_then(|c| Lang::from_code(&c))
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_spans_follow_the_language() {
        assert_eq!(Lang::Pt.count(1234567), "1.234.567");
        assert_eq!(Lang::En.count(-1234), "-1,234");
        assert_eq!(Lang::Pt.count(12), "12");
        assert_eq!(Lang::Pt.decimal(2.5, 1), "2,5");
        assert_eq!(Lang::Pt.ago(Duration::from_secs(3 * 3600)), "há 3 h");
        assert_eq!(Lang::En.span(Duration::from_millis(2400)), "2.4 s");
        assert_eq!(Lang::En.span(Duration::from_secs(600)), "10 min");
        let t = DateTime::<Utc>::from_timestamp(1_763_812_800, 0).unwrap();
        // 2025-11-22 12:00 UTC is 09:00 in São Paulo.
        assert_eq!(
            Lang::Pt.time(t, chrono_tz::America::Sao_Paulo),
            "22/11/2025 09:00:00"
        );
    }
}
