//! Indicators: every indicator with its latest state value, and for each
//! one its formula and sources, a ranking of municipalities in the latest
//! year, a time series per municipality, suppressed cells marked, and the
//! published values as CSV and JSON. Every view and download is audited.

use crate::Console;
use crate::auth::Viewer;
use crate::chart;
use crate::i18n::Lang;
use crate::layout::{PageError, PageResult, Section, shell};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use lagoa_sql::indicators::published::{self, Value};
use lagoa_sql::indicators::{self, Indicator};
use maud::html;
use serde::Deserialize;

fn load(console: &Console) -> Result<Vec<Indicator>, PageError> {
    Ok(indicators::load_dir(&indicators::dir_of(console.lake()))?)
}

fn find(console: &Console, name: &str) -> Result<Indicator, PageError> {
    load(console)?
        .into_iter()
        .find(|i| i.name == name)
        .ok_or_else(|| PageError::not_found(format!("no indicator {name}")))
}

/// The values `viewer` may see, or a refusal page; the view is audited.
async fn visible(
    console: &Console,
    viewer: &lagoa_governance::Principal,
    indicator: &Indicator,
    action: &str,
) -> Result<Vec<Value>, PageError> {
    if let Err(reason) = published::may_see(console.lake(), viewer, indicator).await? {
        console
            .audit(viewer, action, &indicator.name, "denied")
            .await?;
        return Err(PageError {
            status: axum::http::StatusCode::FORBIDDEN,
            message: reason,
        });
    }
    console.audit(viewer, action, &indicator.name, "ok").await?;
    Ok(published::values(console.lake(), indicator).await?)
}

fn number(lang: Lang, v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), |v| lang.decimal(v, 2))
}

fn count(lang: Lang, v: Option<i64>) -> String {
    v.map_or_else(|| "—".into(), |v| lang.count(v))
}

pub(crate) async fn list(
    State(console): State<Console>,
    Viewer(viewer): Viewer,
    lang: Lang,
) -> PageResult {
    let all = load(&console)?;
    let zone = console.options().timezone;
    let mut rows = Vec::new();
    for i in &all {
        let run = published::last_published(console.lake(), i).await?;
        let values = match published::may_see(console.lake(), &viewer, i).await? {
            Ok(()) => published::values(console.lake(), i).await?,
            Err(_) => Vec::new(),
        };
        let latest = values
            .iter()
            .filter(|v| v.total_estado)
            .max_by_key(|v| v.ano)
            .cloned();
        let suppressed = latest.as_ref().map_or(0, |l| {
            values
                .iter()
                .filter(|v| v.ano == l.ano && !v.total_estado && v.supressao.is_some())
                .count()
        });
        rows.push((i, run, latest, suppressed));
    }
    console.audit(&viewer, "indicator_list", "-", "ok").await?;
    let body = html! {
        @if all.is_empty() {
            p.muted { (lang.t("Nenhum indicador nesta lagoa. `lagoa indicator init` copia os indicadores de referência.",
                              "No indicator in this lake. `lagoa indicator init` copies the reference set.")) }
        }
        table id="indicators" {
            tr {
                th { (lang.t("Indicador", "Indicator")) }
                th { (lang.t("Unidade", "Unit")) }
                th { (lang.t("Ano", "Year")) }
                th { (lang.t("Estado", "State")) }
                th { (lang.t("Células suprimidas", "Suppressed cells")) }
                th { (lang.t("Nível", "Level")) }
                th { (lang.t("Última execução", "Last run")) }
            }
            @for (i, run, latest, suppressed) in &rows {
                tr data-indicator=(i.name) {
                    td { a href={ "/indicators/" (i.name) } { (i.title) } }
                    td { (i.unit) }
                    td { @if let Some(l) = latest { (l.ano) } }
                    td.num { @if let Some(l) = latest { (number(lang, l.valor)) } }
                    td.num { (suppressed) }
                    td { @if let Some(r) = run { (r.output_level.as_deref().unwrap_or("")) } }
                    td { @match run { Some(r) => (lang.micros(r.started_at, zone)), None => span.muted { (lang.t("nunca", "never")) } } }
                }
            }
        }
    };
    Ok(shell(
        lang,
        &viewer,
        Section::Indicators,
        "/indicators",
        lang.t("Indicadores", "Indicators"),
        body,
    ))
}

#[derive(Deserialize)]
pub(crate) struct Selection {
    /// The municipality of the time series (7-digit code; default: the state).
    municipio: Option<String>,
}

/// The places of a time series, `(code, label)`: the state first, then
/// municipalities in code order.
fn places(values: &[Value], state: Option<&String>, lang: Lang) -> Vec<(String, String)> {
    let mut places: Vec<(String, String)> = Vec::new();
    for v in values {
        if !places.iter().any(|(m, _)| m == &v.municipio) {
            let label = if v.total_estado {
                lang.t("Total do estado", "State total").to_owned()
            } else {
                v.nome.clone().unwrap_or_else(|| v.municipio.clone())
            };
            places.push((v.municipio.clone(), label));
        }
    }
    places.sort_by_key(|(m, _)| (Some(m) != state, m.clone()));
    places
}

pub(crate) async fn page(
    State(console): State<Console>,
    Viewer(viewer): Viewer,
    lang: Lang,
    Path(name): Path<String>,
    Query(selection): Query<Selection>,
) -> PageResult {
    let i = find(&console, &name)?;
    let values = visible(&console, &viewer, &i, "indicator_view").await?;
    let run = published::last_published(console.lake(), &i).await?;
    let zone = console.options().timezone;
    let latest_year = values.iter().map(|v| v.ano).max();
    let mut ranking: Vec<&Value> = values
        .iter()
        .filter(|v| Some(v.ano) == latest_year && !v.total_estado)
        .collect();
    ranking.sort_by(|a, b| {
        b.valor
            .is_some()
            .cmp(&a.valor.is_some())
            .then(b.valor.unwrap_or(0.0).total_cmp(&a.valor.unwrap_or(0.0)))
            .then(a.municipio.cmp(&b.municipio))
    });
    let state = values
        .iter()
        .find(|v| v.total_estado)
        .map(|v| v.municipio.clone());
    let chosen = selection.municipio.or(state.clone()).unwrap_or_default();
    let places = places(&values, state.as_ref(), lang);
    let points: Vec<(i64, Option<f64>)> = values
        .iter()
        .filter(|v| v.municipio == chosen)
        .map(|v| (v.ano, v.valor))
        .collect();
    let chosen_label = places
        .iter()
        .find(|(m, _)| *m == chosen)
        .map(|(_, l)| l.clone())
        .unwrap_or_default();
    let body = html! {
        p { (i.description) }
        dl.facts {
            dt { (lang.t("Unidade", "Unit")) } dd { (i.unit) }
            dt { (lang.t("Fórmula", "Formula")) } dd id="formula" { (i.formula) }
            (period(lang, i.period))
            dt { (lang.t("Fontes", "Sources")) }
            dd id="sources" {
                @match &run {
                    Some(r) => { @for (k, input) in r.inputs.iter().enumerate() {
                        @if k > 0 { ", " }
                        a href={ "/datasets/" (input.dataset) } { (input.dataset) } " (" (input.level) ", " (lang.t("snapshot ", "snapshot ")) (input.snapshot) ")"
                    } }
                    None => (i.sources.join(", ")),
                }
            }
            dt { (lang.t("Atualização", "Trigger")) } dd { (i.trigger.to_string()) }
            dt { (lang.t("Célula mínima", "Minimum cell")) }
            dd { @if i.min_cell == 0 { (lang.t("sem supressão", "no suppression")) } @else { (i.min_cell) } }
            @for p in &i.params {
                dt { (lang.t("Parâmetro ", "Parameter ")) (p.name) }
                dd { @if let Some(r) = &run { (r.parameters.get(&p.name).cloned().unwrap_or_default()) } " — " (p.description) }
            }
            @if let Some(r) = &run {
                dt { (lang.t("Células suprimidas", "Withheld cells")) }
                // How many were small is not shown here: with the count of
                // withheld cells it would tell which are below the minimum
                // (operators see it in `lagoa indicator runs`).
                dd id="protection" {
                    (r.suppressed_primary + r.suppressed_secondary)
                    @if let Some(w) = r.smallest_width {
                        (lang.t("; a menor faixa que um atacante consegue dar a uma contagem suprimida: ",
                                "; the narrowest range an attacker can give a withheld count: "))
                        (w) (lang.t(" valores (mínimo ", " values (at least ")) (i.protection) ")"
                    }
                }
                dt { (lang.t("Publicado como", "Published as")) } dd id="derivation" { (r.derivation) }
                dt { (lang.t("Última execução", "Last run")) }
                dd { (lang.micros(r.started_at, zone)) " · " (r.run_id) " · " (lang.t("snapshot de entrada ", "input snapshot ")) (r.input_snapshot) }
            }
        }
        p.downloads {
            a href={ "/indicators/" (i.name) "/valores.csv" } { "CSV" }
            a href={ "/indicators/" (i.name) "/valores.json" } { "JSON" }
            a href={ "/api/v1/indicators/" (i.name) "/values" } { "API" }
        }
        h2 { (lang.t("Série histórica: ", "Time series: ")) (chosen_label) }
        form method="get" action={ "/indicators/" (i.name) } {
            select name="municipio" {
                @for (m, label) in &places {
                    option value=(m) selected[*m == chosen] { (label) }
                }
            }
            " "
            button type="submit" { (lang.t("Mostrar", "Show")) }
        }
        div { (chart::series(lang, &points, &i.unit)) }
        @if let Some(year) = latest_year {
            h2 { (lang.t("Ranking dos municípios em ", "Municipalities ranked, ")) (year) }
            table id="ranking" {
                tr {
                    th { "#" }
                    th { (lang.t("Município", "Municipality")) }
                    th { (lang.t("Valor", "Value")) }
                    th { (lang.t("Numerador", "Numerator")) }
                    th { (lang.t("Denominador", "Denominator")) }
                    th {}
                }
                @for (k, v) in ranking.iter().enumerate() {
                    tr data-municipio=(v.municipio) data-suppressed=[v.supressao.as_deref()] {
                        td.num { @if v.valor.is_some() { (k + 1) } }
                        td { a href={ "/indicators/" (i.name) "?municipio=" (v.municipio) } { (v.nome.clone().unwrap_or_else(|| v.municipio.clone())) } }
                        td.num { (number(lang, v.valor)) }
                        td.num { (count(lang, v.numerador)) }
                        td.num { (count(lang, v.denominador)) }
                        td { @if let Some(s) = &v.supressao {
                            // Older runs labelled why (`primaria`, `complementar`): one word for all.
                            span class={ "badge " (s) } { (lang.t("suprimido", "suppressed")) }
                        } }
                    }
                }
                @if let Some(total) = values.iter().find(|v| v.total_estado && Some(v.ano) == latest_year) {
                    tr.total data-municipio=(total.municipio) {
                        td {} td { strong { (lang.t("Total do estado", "State total")) } }
                        td.num { (number(lang, total.valor)) }
                        td.num { (count(lang, total.numerador)) }
                        td.num { (count(lang, total.denominador)) }
                        td {}
                    }
                }
            }
            p.muted { (lang.t(
                "— : valor suprimido antes da publicação (contagem abaixo da célula mínima, ou suprimida em complemento para que não possa ser deduzida do total).",
                "— : withheld before publication (a count below the minimum cell, or withheld in complement so that it cannot be worked out from the total)."
            )) }
        }
    };
    let here = format!("/indicators/{name}");
    Ok(shell(
        lang,
        &viewer,
        Section::Indicators,
        &here,
        &i.title,
        body,
    ))
}

/// `/indicators/{name}/valores.csv` and `.json`.
pub(crate) async fn download(
    State(console): State<Console>,
    Viewer(viewer): Viewer,
    Path((name, file)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let i = find(&console, &name)?;
    let values = visible(&console, &viewer, &i, "indicator_export").await?;
    match file.as_str() {
        "valores.csv" => Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}.csv\""),
                ),
            ],
            published::to_csv(&values),
        )
            .into_response()),
        "valores.json" => Ok(axum::Json(values).into_response()),
        _ => Err(PageError::not_found(format!("no file {file}"))),
    }
}

/// How many years a row adds up, when more than one.
fn period(lang: Lang, years: i64) -> maud::Markup {
    html! {
        @if years > 1 {
            dt { (lang.t("Período", "Period")) }
            dd id="period" {
                (years) " " (lang.t("anos: cada ano soma o próprio e os", "years: each year adds up its own and the"))
                " " (years - 1) " " (lang.t("anteriores", "before"))
            }
        }
    }
}
