//! Runs: the list (filtered by status, source or dataset) and one run's
//! page with its timeline, counts, error and quality report.

use super::overview::{duration, truncate};
use crate::Console;
use crate::auth::Viewer;
use crate::i18n::Lang;
use crate::layout::{PageError, PageResult, Section, shell, status_badge};
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use lagoa_core::QualityReport;
use lagoa_core::{DatasetName, RunStatus};
use lagoa_lake::catalog::model::{RawDelivery, SnapshotInfo};
use lagoa_lake::catalog::{DriftEvent, QuarantineRecord, RunFilter, RunRecord};
use maud::{Markup, html};
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub(crate) struct Filter {
    status: Option<String>,
    source: Option<String>,
    dataset: Option<String>,
}

const STATUSES: [RunStatus; 6] = [
    RunStatus::Committed,
    RunStatus::Failed,
    RunStatus::Rejected,
    RunStatus::Held,
    RunStatus::AlreadyIngested,
    RunStatus::Running,
];

/// The 200 most recent runs the filter selects.
async fn find(
    console: &Console,
    status: Option<RunStatus>,
    filter: &Filter,
) -> Result<Vec<RunRecord>, PageError> {
    let nonempty = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    Ok(console
        .lake()
        .catalog
        .find_runs(&RunFilter {
            status,
            source: nonempty(&filter.source),
            dataset: nonempty(&filter.dataset),
            limit: 200,
            ..Default::default()
        })
        .await?)
}

pub(crate) async fn list(
    State(console): State<Console>,
    Viewer(viewer): Viewer,
    lang: Lang,
    Query(filter): Query<Filter>,
) -> PageResult {
    let nonempty = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    // A status no run can have lists no runs.
    let status = nonempty(&filter.status).map(|s| s.parse::<RunStatus>());
    let runs = match status {
        Some(Err(_)) => Vec::new(),
        Some(Ok(status)) => find(&console, Some(status), &filter).await?,
        None => find(&console, None, &filter).await?,
    };
    let zone = console.options().timezone;
    let body = html! {
        p.filters {
            (lang.t("Situação: ", "Status: "))
            a href="/runs" { (lang.t("todas", "all")) }
            @for s in STATUSES {
                a href={ "/runs?status=" (s) } { (lang.status(s)) }
            }
        }
        (table(lang, zone, &runs, console.now()))
        @if runs.len() == 200 { p.muted { (lang.t("As 200 mais recentes.", "The 200 most recent.")) } }
    };
    Ok(shell(
        lang,
        &viewer,
        Section::Runs,
        "/runs",
        lang.t("Execuções", "Runs"),
        body,
    ))
}

/// A table of runs, newest first.
pub(crate) fn table(lang: Lang, zone: Tz, runs: &[RunRecord], now: DateTime<Utc>) -> Markup {
    html! {
        @if runs.is_empty() {
            p.muted { (lang.t("Nenhuma execução.", "No runs.")) }
        } @else {
            table.runs {
                tr {
                    th { (lang.t("Início", "Started")) }
                    th { (lang.t("Fonte", "Source")) }
                    th { (lang.t("Conjunto", "Dataset")) }
                    th { (lang.t("Disparo", "Trigger")) }
                    th { (lang.t("Situação", "Status")) }
                    th.num { (lang.t("Lidas", "Read")) }
                    th.num { (lang.t("Gravadas", "Written")) }
                    th.num { (lang.t("Rejeitadas", "Rejected")) }
                    th.num { (lang.t("Duração", "Duration")) }
                }
                @for r in runs {
                    tr data-run=(r.run_id) {
                        td { a href={ "/runs/" (r.run_id) } { (lang.micros(r.started_at, zone)) } }
                        td { (r.source) }
                        td { a href={ "/datasets/" (r.dataset) } { (r.dataset) } }
                        td { (trigger(lang, &r.trigger)) @if r.attempts > 1 { " · " (lang.t("tentativa ", "attempt ")) (r.attempts) } }
                        td { (status_badge(lang, r.status)) }
                        td.num { (lang.count(r.rows_read)) }
                        td.num { (lang.count(r.rows_written)) }
                        td.num { (lang.count(r.rows_rejected)) }
                        td.num { (duration(lang, r.started_at, r.ended_at, now)) }
                    }
                }
            }
        }
    }
}

fn trigger(lang: Lang, kind: &str) -> &'static str {
    match kind {
        "schedule" => lang.t("agendamento", "schedule"),
        "manual" => lang.t("manual", "manual"),
        "replay" => lang.t("reprocessamento", "replay"),
        "release" => lang.t("liberação", "release"),
        _ => lang.t("outro", "other"),
    }
}

/// One event of a run's timeline.
struct Event {
    at: i64,
    class: &'static str,
    what: String,
}

pub(crate) async fn page(
    State(console): State<Console>,
    Viewer(viewer): Viewer,
    lang: Lang,
    Path(id): Path<String>,
) -> PageResult {
    let catalog = &console.lake().catalog;
    let run = catalog
        .run(&id)
        .await?
        .filter(|r| r.run_id == id)
        .ok_or_else(|| PageError::not_found(format!("no run {id}")))?;
    let report: Option<QualityReport> = run
        .report
        .as_deref()
        .and_then(|json| serde_json::from_str(json).ok());
    let raw = match &run.raw_id {
        Some(raw_id) => catalog.raw_delivery(raw_id).await?,
        None => None,
    };
    let drift: Vec<_> = catalog
        .drift(&run.dataset)
        .await?
        .into_iter()
        .filter(|d| d.run_id == run.run_id)
        .collect();
    let quarantine = catalog
        .quarantines(Some(&run.dataset))
        .await?
        .into_iter()
        .find(|q| q.run_id == run.run_id);
    let snapshot = match (run.snapshot_id, DatasetName::new(run.dataset.clone())) {
        (Some(id), Ok(name)) => catalog
            .snapshots(Some(&name))
            .await?
            .into_iter()
            .find(|s| s.snapshot_id == id),
        _ => None,
    };
    let zone = console.options().timezone;
    let now = console.now();

    let events = timeline(
        lang,
        &run,
        raw.as_ref(),
        &drift,
        quarantine.as_ref(),
        snapshot.as_ref(),
    );

    let body = html! {
        dl.facts {
            dt { (lang.t("Situação", "Status")) } dd id="status" { (status_badge(lang, run.status)) }
            dt { (lang.t("Fonte", "Source")) } dd { (run.source) }
            dt { (lang.t("Conjunto", "Dataset")) } dd { a href={ "/datasets/" (run.dataset) } { (run.dataset) } }
            dt { (lang.t("Execução", "Run")) } dd { code { (run.run_id) } }
            dt { (lang.t("Duração", "Duration")) } dd { (duration(lang, run.started_at, run.ended_at, now)) }
            dt { (lang.t("Linhas lidas / gravadas / rejeitadas", "Rows read / written / rejected")) }
            dd id="counts" { (lang.count(run.rows_read)) " / " (lang.count(run.rows_written)) " / " (lang.count(run.rows_rejected)) }
            dt { (lang.t("Bytes lidos / gravados", "Bytes read / written")) }
            dd { (lang.count(run.bytes_read)) " / " (lang.count(run.bytes_written)) }
            @if let Some(v) = run.contract_version { dt { (lang.t("Contrato", "Contract")) } dd { "v" (v) } }
            @if let Some(of) = &run.replay_of { dt { (lang.t("Reprocessa", "Replays")) } dd { a href={ "/runs/" (of) } { (of) } } }
        }
        @if let Some(error) = &run.error {
            h2 { (lang.t("Erro", "Error")) }
            p id="error" {
                @if let Some(class) = run.error_class { strong { (lang.error_class(class)) } br; }
                span.error { (error) }
            }
        }
        h2 { (lang.t("Linha do tempo", "Timeline")) }
        ol.timeline id="timeline" {
            @for e in &events {
                li class=(e.class) { span.t { (lang.micros(e.at, zone)) } (e.what) }
            }
        }
        h2 { (lang.t("Relatório de qualidade", "Quality report")) }
        @match &report {
            Some(r) => (quality(lang, r)),
            None => p.muted { (lang.t("Esta execução não tem relatório de qualidade.", "This run has no quality report.")) },
        }
    };
    let here = format!("/runs/{}", run.run_id);
    Ok(shell(
        lang,
        &viewer,
        Section::Runs,
        &here,
        &format!(
            "{} {}",
            lang.t("Execução", "Run"),
            truncate(&run.run_id, 13)
        ),
        body,
    ))
}

/// What happened to a run, in order: its start, the raw copy, drift,
/// quarantine, the snapshot and its end.
fn timeline(
    lang: Lang,
    run: &RunRecord,
    raw: Option<&RawDelivery>,
    drift: &[DriftEvent],
    quarantine: Option<&QuarantineRecord>,
    snapshot: Option<&SnapshotInfo>,
) -> Vec<Event> {
    let mut events = vec![Event {
        at: run.started_at,
        class: "run",
        what: format!(
            "{} ({}{})",
            lang.t("Início", "Started"),
            trigger(lang, &run.trigger),
            if run.attempts > 1 {
                format!(", {}{}", lang.t("tentativa ", "attempt "), run.attempts)
            } else {
                String::new()
            }
        ),
    }];
    if let Some(raw) = raw {
        events.push(Event {
            at: raw.received_at,
            class: "ok",
            what: format!(
                "{} {} ({} bytes, SHA-256 {}…)",
                lang.t(
                    "Entrega guardada na zona bruta:",
                    "Delivery kept in the raw zone:"
                ),
                raw.path,
                lang.count(raw.size_bytes),
                short_fingerprint(&raw.fingerprint)
            ),
        });
    }
    for d in drift {
        events.push(Event {
            at: d.at,
            class: "warn",
            what: format!(
                "{} {} {} ({}: {})",
                lang.t("Deriva de esquema:", "Schema drift:"),
                d.kind,
                d.column,
                lang.t("política", "policy"),
                d.policy
            ),
        });
    }
    if let Some(q) = quarantine {
        events.push(Event {
            at: q.created_at,
            class: "warn",
            what: format!(
                "{} {}",
                lang.count(q.row_count),
                lang.t(
                    "linhas rejeitadas em quarentena",
                    "rejected rows quarantined"
                )
            ),
        });
    }
    if let Some(s) = snapshot {
        events.push(Event {
            at: s.created_at,
            class: "ok",
            what: format!(
                "{} {} ({})",
                lang.t("Snapshot confirmado", "Snapshot committed"),
                s.snapshot_id,
                s.operation
            ),
        });
    }
    if let Some(end) = run.ended_at {
        events.push(Event {
            at: end,
            class: match run.status {
                RunStatus::Committed | RunStatus::AlreadyIngested => "ok",
                RunStatus::Failed | RunStatus::Rejected => "fail",
                _ => "warn",
            },
            what: format!("{}: {}", lang.t("Fim", "Ended"), lang.status(run.status)),
        });
    }
    events.sort_by_key(|e| e.at);
    events
}

fn quality(lang: Lang, r: &QualityReport) -> Markup {
    html! {
        dl.facts id="quality" {
            dt { (lang.t("Entrega", "Delivery")) } dd { (r.delivery) }
            dt { (lang.t("Linhas aceitas", "Rows accepted")) } dd { (lang.count(r.rows_accepted as i64)) }
            dt { (lang.t("Rejeitadas", "Rejected")) }
            dd { (lang.count(r.rows_rejected as i64)) " (" (lang.decimal(r.rejected_share * 100.0, 2)) " %, "
                 (lang.t("limite ", "limit ")) (lang.decimal(r.max_rejected_share * 100.0, 2)) " %)" }
            @if let Some((from, to)) = &r.period { dt { (lang.t("Período", "Period")) } dd { (from) " – " (to) } }
        }
        @if !r.rejected_by_reason.is_empty() {
            h2 { (lang.t("Rejeições por motivo", "Rejections by reason")) }
            table {
                tr { th { (lang.t("Coluna", "Column")) } th { (lang.t("Motivo", "Reason")) } th.num { (lang.t("Linhas", "Rows")) } th { (lang.t("Onde", "Where")) } }
                @for reason in &r.rejected_by_reason {
                    tr { td { (reason.column) } td { (reason.reason) } td.num { (lang.count(reason.rows as i64)) } td { (reason.examples.join(", ")) } }
                }
            }
        }
        @if !r.warnings.is_empty() {
            h2 { (lang.t("Avisos", "Warnings")) }
            ul { @for w in &r.warnings { li { (w) } } }
        }
        @if !r.columns.is_empty() {
            h2 { (lang.t("Colunas", "Columns")) }
            table {
                tr { th { (lang.t("Coluna", "Column")) } th { (lang.t("Tipo", "Type")) } th.num { (lang.t("Nulos", "Nulls")) } th.num { (lang.t("Distintos", "Distinct")) } th { "Min" } th { "Max" } }
                @for c in &r.columns {
                    tr {
                        td { (c.name) @if c.personal { " " span.badge.held { (lang.t("pessoal", "personal")) } } }
                        td { code { (c.data_type) } }
                        td.num { (lang.count(c.nulls as i64)) }
                        td.num { (lang.count(c.distinct as i64)) @if c.distinct_capped { "+" } }
                        td { (c.min.as_deref().unwrap_or("")) }
                        td { (c.max.as_deref().unwrap_or("")) }
                    }
                }
            }
        }
    }
}

/// The first hex digits of a `sha256:<hex>` fingerprint.
fn short_fingerprint(fingerprint: &str) -> &str {
    let hex = fingerprint.strip_prefix("sha256:").unwrap_or(fingerprint);
    &hex[..hex.len().min(12)]
}
