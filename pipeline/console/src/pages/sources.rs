//! The configured sources: schedule, state, last run, next run, and for
//! operators the buttons to trigger, pause and resume.

use crate::Console;
use crate::auth::Viewer;
use crate::i18n::Lang;
use crate::layout::{PageResult, Section, shell, status_badge};
use axum::extract::{Query, State};
use maud::html;
use serde::Deserialize;

#[derive(Deserialize)]
pub(crate) struct Notice {
    notice: Option<String>,
    source: Option<String>,
}

/// The message after an action, from a fixed list (the query never puts
/// its own text on the page).
fn notice_text(lang: Lang, notice: &str) -> Option<(&'static str, bool)> {
    Some(match notice {
        "triggered" => (lang.t("Execução iniciada:", "Run started:"), false),
        "busy" => (lang.t("Já está em execução:", "Already running:"), true),
        "paused" => (lang.t("Agendamento pausado:", "Schedule paused:"), false),
        "resumed" => (lang.t("Agendamento retomado:", "Schedule resumed:"), false),
        "forbidden" => (
            lang.t(
                "Apenas operadores podem executar, pausar ou retomar fontes:",
                "Only operators may trigger, pause or resume sources:",
            ),
            true,
        ),
        "unknown" => (lang.t("Fonte desconhecida:", "Unknown source:"), true),
        "unavailable" => (
            lang.t(
                "O catálogo não respondeu; tente de novo:",
                "The catalog did not answer; try again:",
            ),
            true,
        ),
        _ => return None,
    })
}

pub(crate) async fn page(
    State(console): State<Console>,
    Viewer(viewer): Viewer,
    lang: Lang,
    Query(notice): Query<Notice>,
) -> PageResult {
    let catalog = &console.lake().catalog;
    let states = catalog.source_states().await?;
    let last_runs = catalog.last_runs().await?;
    let now = console.now();
    let zone = console.options().timezone;
    let operates = viewer.role.operates();
    let sources = console.sources();
    let body = html! {
        @if let Some((text, bad)) = notice.notice.as_deref().and_then(|n| notice_text(lang, n)) {
            div.notice.bad[bad] role="status" { (text) " " strong { (notice.source.as_deref().unwrap_or("")) } }
        }
        @if sources.is_empty() {
            p.muted { (lang.t("Nenhuma fonte configurada (arquivos *.source.toml na pasta de fontes do lago).", "No sources configured (*.source.toml files in the lake's sources folder).")) }
        } @else {
            table id="sources" {
                tr {
                    th { (lang.t("Fonte", "Source")) }
                    th { (lang.t("Agendamento", "Schedule")) }
                    th { (lang.t("Estado", "State")) }
                    th { (lang.t("Última execução", "Last run")) }
                    th { (lang.t("Próxima execução", "Next run")) }
                    @if operates { th { (lang.t("Ações", "Actions")) } }
                }
                @for s in sources.iter() {
                    @let state = states.iter().find(|x| x.source == s.name);
                    @let paused = state.is_some_and(|x| x.paused);
                    @let running = state.filter(|x| x.lease_until.is_some_and(|u| u > now.timestamp_micros())).and_then(|x| x.lease_owner.clone());
                    @let last = last_runs.iter().find(|r| r.source == s.name);
                    @let next = if paused { None } else { s.schedule().and_then(|sch| sch.next_after(now)) };
                    tr data-source=(s.name) {
                        td {
                            strong { (s.name) } br;
                            span.muted { (s.source.kind()) " → " a href={ "/datasets/" (s.dataset) } { (s.dataset) } }
                        }
                        td {
                            @if let Some(c) = &s.schedule { code { (c.cron) } br; span.muted { (c.timezone) } }
                            @else { span.muted { (lang.t("sem agendamento", "no schedule")) } }
                        }
                        td.state {
                            @if let Some(owner) = &running {
                                span.badge.running { (lang.t("em execução", "running")) } br; span.muted { (owner) }
                            } @else if paused {
                                span.badge.paused { (lang.t("pausada", "paused")) }
                                @if let Some(by) = state.and_then(|x| x.updated_by.as_deref()) { br; span.muted { (by) } }
                            } @else {
                                span.badge.idle { (lang.t("ativa", "active")) }
                            }
                        }
                        td {
                            @if let Some(r) = last {
                                (status_badge(lang, r.status)) " "
                                a href={ "/runs/" (r.run_id) } { (lang.micros(r.started_at, zone)) }
                            } @else { span.muted { (lang.t("nunca executada", "never run")) } }
                        }
                        td { @if let Some(n) = next { (lang.time(n, zone)) } @else { span.muted { "—" } } }
                        @if operates {
                            td {
                                form.inline method="post" action={ "/sources/" (s.name) "/trigger" } {
                                    button.action.primary type="submit" name="trigger" { (lang.t("Executar agora", "Run now")) }
                                }
                                " "
                                @if paused {
                                    form.inline method="post" action={ "/sources/" (s.name) "/resume" } {
                                        button.action type="submit" name="resume" { (lang.t("Retomar", "Resume")) }
                                    }
                                } @else if s.schedule.is_some() {
                                    form.inline method="post" action={ "/sources/" (s.name) "/pause" } {
                                        button.action type="submit" name="pause" { (lang.t("Pausar", "Pause")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if !operates {
                p.muted { (lang.t("Executar, pausar e retomar fontes cabe a operadores.", "Triggering, pausing and resuming sources is for operators.")) }
            }
        }
    };
    Ok(shell(
        lang,
        &viewer,
        Section::Sources,
        "/sources",
        lang.t("Fontes", "Sources"),
        body,
    ))
}
