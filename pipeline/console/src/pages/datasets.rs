//! Datasets: freshness against the agreement, and for each one a chart of
//! rows delivered per run over time.

use super::{freshness, freshness_badge};
use crate::Console;
use crate::auth::Viewer;
use crate::chart;
use crate::i18n::Lang;
use crate::layout::{PageError, PageResult, Section, shell};
use axum::extract::{Path, State};
use lagoa_lake::AsOf;
use lagoa_lake::catalog::RunFilter;
use maud::html;

pub(crate) async fn list(
    State(console): State<Console>,
    Viewer(viewer): Viewer,
    lang: Lang,
) -> PageResult {
    let catalog = &console.lake().catalog;
    let latest = catalog.resolve(&AsOf::Latest).await?;
    let datasets = catalog.datasets(latest).await?;
    let fresh = freshness(&console).await?;
    let now = console.now();
    let zone = console.options().timezone;
    // Every dataset in the catalog, and those a source will feed but that
    // have no delivery yet.
    let mut names: Vec<String> = datasets.iter().map(|d| d.name.to_string()).collect();
    names.extend(fresh.iter().map(|f| f.dataset.clone()));
    names.sort();
    names.dedup();
    let body = html! {
        table id="datasets" {
            tr {
                th { (lang.t("Conjunto", "Dataset")) }
                th { (lang.t("Nível", "Level")) }
                th { (lang.t("Frescor", "Freshness")) }
                th { (lang.t("Última entrega", "Last delivery")) }
                th { (lang.t("Acordo", "Agreement")) }
                th { (lang.t("Fontes", "Sources")) }
            }
            @for name in &names {
                @let info = datasets.iter().find(|d| d.name.as_str() == name);
                @let f = fresh.iter().find(|f| &f.dataset == name);
                tr data-dataset=(name) {
                    td { a href={ "/datasets/" (name) } { (name) } }
                    td { @if let Some(i) = info { (i.level.as_str()) } }
                    td { @match f { Some(f) => (freshness_badge(lang, f)), None => span.muted { (lang.t("sem fonte", "no source")) } } }
                    td { @if let Some(at) = f.and_then(|f| f.last_commit) { (lang.time(at, zone)) " (" (lang.ago((now - at).to_std().unwrap_or_default())) ")" } }
                    td { @if let Some(e) = f.and_then(|f| f.expected) { (lang.t("a cada ", "every ")) (lang.span(e)) } }
                    td { @if let Some(f) = f { (f.sources.join(", ")) } }
                }
            }
        }
    };
    Ok(shell(
        lang,
        &viewer,
        Section::Datasets,
        "/datasets",
        lang.t("Conjuntos de dados", "Datasets"),
        body,
    ))
}

pub(crate) async fn page(
    State(console): State<Console>,
    Viewer(viewer): Viewer,
    lang: Lang,
    Path(name): Path<String>,
) -> PageResult {
    let catalog = &console.lake().catalog;
    let latest = catalog.resolve(&AsOf::Latest).await?;
    let info = match lagoa_core::DatasetName::new(name.clone()) {
        Ok(n) => catalog.dataset(&n, latest).await?,
        Err(_) => None,
    };
    let fresh = freshness(&console).await?;
    let f = fresh.iter().find(|f| f.dataset == name);
    if info.is_none() && f.is_none() {
        return Err(PageError::not_found(format!("no dataset {name}")));
    }
    let runs = catalog
        .find_runs(&RunFilter {
            dataset: Some(name.clone()),
            limit: 200,
            ..Default::default()
        })
        .await?;
    let now = console.now();
    let zone = console.options().timezone;
    let body = html! {
        dl.facts {
            @if let Some(i) = &info {
                dt { (lang.t("Nível", "Level")) } dd { (i.level.as_str()) }
                @if !i.description.is_empty() { dt { (lang.t("Descrição", "Description")) } dd { (i.description) } }
            }
            @if let Some(f) = f {
                dt { (lang.t("Frescor", "Freshness")) } dd id="freshness" { (freshness_badge(lang, f)) }
                dt { (lang.t("Última entrega", "Last delivery")) }
                dd { @match f.last_commit { Some(at) => { (lang.time(at, zone)) " (" (lang.ago((now - at).to_std().unwrap_or_default())) ")" }, None => "—" } }
                dt { (lang.t("Acordo", "Agreement")) }
                dd { @match f.expected { Some(e) => { (lang.t("uma entrega a cada ", "one delivery every ")) (lang.span(e)) }, None => "—" } }
                dt { (lang.t("Fontes", "Sources")) } dd { (f.sources.join(", ")) }
            }
        }
        h2 { (lang.t("Linhas gravadas por execução", "Rows written per run")) }
        div { (chart::rows_per_run(lang, zone, &runs)) }
        h2 { (lang.t("Execuções", "Runs")) }
        (super::runs::table(lang, zone, &runs, now))
    };
    let here = format!("/datasets/{name}");
    Ok(shell(lang, &viewer, Section::Datasets, &here, &name, body))
}
