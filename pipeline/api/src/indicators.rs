//! Indicators over HTTP: the list, one indicator with its runs, and its
//! published values (JSON or CSV), the same as the console shows. Every
//! read is audited; a value withheld by small-cell suppression is `null`
//! with its `supressao`.

use crate::caller::Caller;
use crate::{Api, ApiError};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use lagoa_governance::Principal;
use lagoa_lake::catalog::{AuditEntry, IndicatorRun};
use lagoa_sql::indicators::published::{self, Value};
use lagoa_sql::indicators::{self, Indicator, IndicatorError};
use serde::{Deserialize, Serialize};

impl From<IndicatorError> for ApiError {
    fn from(e: IndicatorError) -> Self {
        match e {
            IndicatorError::Lake(e) => e.into(),
            other => Self::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
        }
    }
}

#[derive(Serialize)]
pub(crate) struct ParamView {
    name: String,
    default: String,
    choices: Vec<String>,
    description: String,
}

#[derive(Serialize)]
pub(crate) struct IndicatorView {
    name: String,
    title: String,
    description: String,
    unit: String,
    formula: String,
    sources: Vec<String>,
    trigger: String,
    min_cell: u64,
    per: f64,
    /// How many years each published row adds up: the year it names and
    /// those before (1: one year).
    period_years: i64,
    parameters: Vec<ParamView>,
    results_dataset: String,
    last_run: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    runs: Option<Vec<serde_json::Value>>,
}

/// A run as anyone who may see the indicator sees it: how many cells were
/// withheld, not how many of them were small (with the labels all alike,
/// that split would tell which are below the minimum).
fn public_run(run: IndicatorRun) -> serde_json::Value {
    let withheld = run.suppressed_primary + run.suppressed_secondary;
    let mut view = serde_json::to_value(run).unwrap_or_default();
    if let Some(fields) = view.as_object_mut() {
        fields.remove("suppressed_primary");
        fields.remove("suppressed_secondary");
        fields.insert("withheld".into(), withheld.into());
    }
    view
}

async fn view(api: &Api, i: &Indicator, with_runs: bool) -> Result<IndicatorView, ApiError> {
    Ok(IndicatorView {
        name: i.name.clone(),
        title: i.title.clone(),
        description: i.description.clone(),
        unit: i.unit.clone(),
        formula: i.formula.clone(),
        sources: i.sources.clone(),
        trigger: i.trigger.to_string(),
        min_cell: i.min_cell,
        per: i.per,
        period_years: i.period,
        parameters: i
            .params
            .iter()
            .map(|p| ParamView {
                name: p.name.clone(),
                default: p.default.clone(),
                choices: p.choices.clone(),
                description: p.description.clone(),
            })
            .collect(),
        results_dataset: indicators::results_dataset(&i.name),
        last_run: published::last_published(api.lake(), i)
            .await?
            .map(public_run),
        runs: if with_runs {
            let runs = api.lake().catalog.indicator_runs(Some(&i.name), 20).await?;
            Some(runs.into_iter().map(public_run).collect())
        } else {
            None
        },
    })
}

fn load(api: &Api) -> Result<Vec<Indicator>, ApiError> {
    indicators::load_dir(&indicators::dir_of(api.lake()))
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

fn find(api: &Api, name: &str) -> Result<Indicator, ApiError> {
    load(api)?
        .into_iter()
        .find(|i| i.name == name)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no indicator {name}")))
}

async fn record(
    api: &Api,
    who: &Principal,
    action: &str,
    subject: &str,
    outcome: &str,
    reason: Option<String>,
    rows: usize,
) -> Result<(), ApiError> {
    api.lake()
        .audit(&AuditEntry {
            reason,
            rows: rows as i64,
            ..who.audit_entry(action, subject, outcome)
        })
        .await?;
    Ok(())
}

/// `GET /api/v1/indicators`.
pub(crate) async fn list(
    State(api): State<Api>,
    Caller(who): Caller,
) -> Result<Json<Vec<IndicatorView>>, ApiError> {
    let mut out = Vec::new();
    for i in load(&api)? {
        out.push(view(&api, &i, false).await?);
    }
    record(&api, &who, "indicator_list", "-", "ok", None, out.len()).await?;
    Ok(Json(out))
}

/// `GET /api/v1/indicators/{name}`.
pub(crate) async fn one(
    State(api): State<Api>,
    Caller(who): Caller,
    Path(name): Path<String>,
) -> Result<Json<IndicatorView>, ApiError> {
    let i = find(&api, &name)?;
    let v = view(&api, &i, true).await?;
    record(&api, &who, "indicator_view", &name, "ok", None, 0).await?;
    Ok(Json(v))
}

#[derive(Deserialize)]
pub(crate) struct ValueFilter {
    /// A 7-digit municipality code (or the state's 2-digit code).
    municipio: Option<String>,
    ano: Option<i64>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// `GET /api/v1/indicators/{name}/values`.
pub(crate) async fn values(
    State(api): State<Api>,
    Caller(who): Caller,
    Path(name): Path<String>,
    Query(filter): Query<ValueFilter>,
) -> Result<Response, ApiError> {
    let i = find(&api, &name)?;
    if let Err(reason) = published::may_see(api.lake(), &who, &i).await? {
        record(
            &api,
            &who,
            "indicator_export",
            &name,
            "denied",
            Some(reason.clone()),
            0,
        )
        .await?;
        return Err(ApiError::forbidden(reason));
    }
    let values: Vec<Value> = published::values(api.lake(), &i)
        .await?
        .into_iter()
        .filter(|v| filter.municipio.as_ref().is_none_or(|m| &v.municipio == m))
        .filter(|v| filter.ano.is_none_or(|a| v.ano == a))
        .collect();
    record(
        &api,
        &who,
        "indicator_export",
        &name,
        "ok",
        None,
        values.len(),
    )
    .await?;
    match filter.format.as_deref().unwrap_or("json") {
        "json" => Ok(Json(values).into_response()),
        "csv" => Ok((
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            published::to_csv(&values),
        )
            .into_response()),
        other => Err(ApiError::bad_request(format!(
            "format {other:?}: json or csv"
        ))),
    }
}
