//! The page shell (header, navigation, language links), the stylesheet and
//! the small pieces every page uses: status badges, error pages.

use crate::i18n::Lang;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use lagoa_governance::Principal;

use maud::{DOCTYPE, Markup, html};

const STYLESHEET: &str = include_str!("../assets/console.css");

pub(crate) async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        STYLESHEET,
    )
}

/// The sections of the navigation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Overview,
    Sources,
    Runs,
    Datasets,
    Indicators,
}

/// A whole page. `here` is the page's own path (the language links come
/// back to it).
pub(crate) fn shell(
    lang: Lang,
    viewer: &Principal,
    section: Section,
    here: &str,
    title: &str,
    body: Markup,
) -> Markup {
    let nav = [
        (Section::Overview, "/", lang.t("Visão geral", "Overview")),
        (Section::Sources, "/sources", lang.t("Fontes", "Sources")),
        (Section::Runs, "/runs", lang.t("Execuções", "Runs")),
        (
            Section::Datasets,
            "/datasets",
            lang.t("Conjuntos de dados", "Datasets"),
        ),
        (
            Section::Indicators,
            "/indicators",
            lang.t("Indicadores", "Indicators"),
        ),
    ];
    let next = crate::auth::encode_component(here);
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Lagoa" }
                link rel="stylesheet" href="/static/console.css";
            }
            body {
                header {
                    span.brand { "Lagoa" }
                    nav {
                        @for (s, href, label) in nav {
                            a href=(href) class=[(s == section).then_some("active")] { (label) }
                        }
                    }
                    div.who {
                        span title=(lang.t("Sessão", "Signed in")) {
                            (viewer.name) " · " (viewer.institution) " · " (viewer.role.as_str())
                        }
                        @if lang == Lang::Pt {
                            a href={ "/lang/en?next=" (next) } lang="en" { "English" }
                        } @else {
                            a href={ "/lang/pt?next=" (next) } lang="pt-BR" { "Português" }
                        }
                        form method="post" action="/logout" {
                            button type="submit" { (lang.t("Sair", "Sign out")) }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// A run's status as a coloured badge.
pub(crate) fn status_badge(lang: Lang, status: lagoa_core::RunStatus) -> Markup {
    html! { span class={ "badge " (status) } data-status=(status) { (lang.status(status)) } }
}

/// A page that could not be built (the catalog did not answer, or the
/// thing asked for does not exist).
pub(crate) struct PageError {
    pub status: StatusCode,
    pub message: String,
}

impl PageError {
    pub(crate) fn not_found(what: String) -> Self {
        PageError {
            status: StatusCode::NOT_FOUND,
            message: what,
        }
    }
}

impl<E: std::fmt::Display> From<E> for PageError {
    fn from(e: E) -> Self {
        tracing::error!(error = %e, "console page failed");
        PageError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: format!("{e}"),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let body = html! {
            (DOCTYPE)
            html {
                head { meta charset="utf-8"; title { "Lagoa" } link rel="stylesheet" href="/static/console.css"; }
                body { main {
                    h1 { "Lagoa" }
                    p.error { (self.message) }
                    p { a href="/" { "←" } }
                } }
            }
        };
        (self.status, body).into_response()
    }
}

pub(crate) type PageResult = Result<Markup, PageError>;
