//! The overview: what ran in the last 24 hours, what failed, which
//! datasets are late, which sources are paused.

use crate::Console;
use crate::auth::Viewer;
use crate::i18n::Lang;
use crate::layout::{PageResult, Section, shell, status_badge};
use axum::extract::State;
use lagoa_core::RunStatus;
use lagoa_lake::catalog::RunFilter;
use maud::html;
use std::time::Duration;

const DAY_MICROS: i64 = 86_400_000_000;

pub(crate) async fn page(
    State(console): State<Console>,
    Viewer(viewer): Viewer,
    lang: Lang,
) -> PageResult {
    let now = console.now();
    let since = now.timestamp_micros() - DAY_MICROS;
    let catalog = &console.lake().catalog;
    let counts = catalog.run_counts_since(since).await?;
    let count = |status: RunStatus| {
        counts
            .iter()
            .filter(|c| c.status == status)
            .map(|c| c.runs)
            .sum::<i64>()
    };
    let total: i64 = counts.iter().map(|c| c.runs).sum();
    let rows: i64 = counts.iter().map(|c| c.rows_written).sum();
    let failed = count(RunStatus::Failed) + count(RunStatus::Rejected);
    let mut failures = catalog
        .find_runs(&RunFilter {
            status: Some(RunStatus::Failed),
            since: Some(since),
            limit: 20,
            ..Default::default()
        })
        .await?;
    failures.extend(
        catalog
            .find_runs(&RunFilter {
                status: Some(RunStatus::Rejected),
                since: Some(since),
                limit: 20,
                ..Default::default()
            })
            .await?,
    );
    failures.sort_by_key(|r| std::cmp::Reverse(r.started_at));
    failures.truncate(20);
    let freshness = super::freshness(&console).await?;
    let late: Vec<_> = freshness.iter().filter(|f| f.late).collect();
    let paused: Vec<_> = catalog
        .source_states()
        .await?
        .into_iter()
        .filter(|s| s.paused && console.source(&s.source).is_some())
        .collect();
    let recent = catalog
        .find_runs(&RunFilter {
            limit: 10,
            ..Default::default()
        })
        .await?;
    let zone = console.options().timezone;
    let body = html! {
        p.muted { (lang.t("Últimas 24 horas, até ", "The last 24 hours, up to ")) (lang.time(now, zone)) "." }
        div.cards {
            div.card { div.n data-count="runs" { (lang.count(total)) } div.l { (lang.t("execuções", "runs")) } }
            div.card.ok { div.n data-count="committed" { (lang.count(count(RunStatus::Committed))) } div.l { (lang.t("concluídas", "committed")) } }
            div.card.fail { div.n data-count="failed" { (lang.count(failed)) } div.l { (lang.t("falhas", "failures")) } }
            div.card.run { div.n data-count="running" { (lang.count(count(RunStatus::Running))) } div.l { (lang.t("em execução", "running")) } }
            div.card.warn { div.n data-count="late" { (lang.count(late.len() as i64)) } div.l { (lang.t("conjuntos atrasados", "late datasets")) } }
            div.card { div.n data-count="rows" { (lang.count(rows)) } div.l { (lang.t("linhas gravadas", "rows written")) } }
        }
        h2 { (lang.t("Falhas", "Failures")) }
        @if failures.is_empty() {
            p.muted id="no-failures" { (lang.t("Nenhuma falha nas últimas 24 horas.", "No failures in the last 24 hours.")) }
        } @else {
            table id="failures" {
                tr { th { (lang.t("Início", "Started")) } th { (lang.t("Fonte", "Source")) } th { (lang.t("Conjunto", "Dataset")) } th { (lang.t("Situação", "Status")) } th { (lang.t("Erro", "Error")) } }
                @for r in &failures {
                    tr {
                        td { a href={ "/runs/" (r.run_id) } { (lang.micros(r.started_at, zone)) } }
                        td { (r.source) }
                        td { a href={ "/datasets/" (r.dataset) } { (r.dataset) } }
                        td { (status_badge(lang, r.status)) }
                        td {
                            @if let Some(class) = r.error_class { strong { (lang.error_class(class)) } ": " }
                            span.error { (truncate(r.error.as_deref().unwrap_or(""), 240)) }
                        }
                    }
                }
            }
        }
        h2 { (lang.t("Conjuntos atrasados", "Late datasets")) }
        @if late.is_empty() {
            p.muted id="no-late" { (lang.t("Todos os conjuntos estão em dia com seus acordos.", "Every dataset is on time with its agreement.")) }
        } @else {
            table id="late" {
                tr { th { (lang.t("Conjunto", "Dataset")) } th { (lang.t("Última entrega", "Last delivery")) } th { (lang.t("Acordo", "Agreement")) } th { (lang.t("Fontes", "Sources")) } }
                @for f in &late {
                    tr {
                        td { a href={ "/datasets/" (f.dataset) } { (f.dataset) } }
                        td { @if let Some(at) = f.last_commit { (lang.time(at, zone)) " (" (lang.ago(f.age(now).unwrap_or_default())) ")" } }
                        td { @if let Some(e) = f.expected { (lang.t("a cada ", "every ")) (lang.span(e)) } }
                        td { (f.sources.join(", ")) }
                    }
                }
            }
        }
        @if !paused.is_empty() {
            h2 { (lang.t("Fontes pausadas", "Paused sources")) }
            ul id="paused" {
                @for s in &paused {
                    li { a href="/sources" { (s.source) } " " span.muted { (s.updated_by.as_deref().unwrap_or("")) " · " (lang.micros(s.updated_at, zone)) } }
                }
            }
        }
        h2 { (lang.t("Execuções recentes", "Recent runs")) }
        (super::runs::table(lang, zone, &recent, now))
    };
    Ok(shell(
        lang,
        &viewer,
        Section::Overview,
        "/",
        lang.t("Visão geral", "Overview"),
        body,
    ))
}

/// At most `max` characters, with an ellipsis when cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

/// A run's duration, or the time it has been going.
pub(crate) fn duration(
    lang: Lang,
    started: i64,
    ended: Option<i64>,
    now: chrono::DateTime<chrono::Utc>,
) -> String {
    let end = ended.unwrap_or(now.timestamp_micros());
    lang.span(Duration::from_micros((end - started).max(0) as u64))
}
