//! Requests, grants and consumption reports over HTTP: the same decisions
//! as `lagoa request|grant|report`, through `lagoa_governance::stewardship`.

use crate::caller::Caller;
use crate::{Api, ApiError};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use lagoa_governance::stewardship;
use lagoa_governance::{AccessRequest, Grant, NewCategorisation, NewRequest};

use lagoa_sql::report::ConsumptionLine;
use serde::Deserialize;

#[derive(Deserialize)]
pub(crate) struct CategorisationBody {
    #[serde(default)]
    level: Option<String>,
    #[serde(default)]
    provider: Option<String>,
    #[serde(default)]
    justification: Option<String>,
    #[serde(default)]
    conditions: Option<String>,
    #[serde(default)]
    restrictions: Option<String>,
    /// Personal columns served only as pseudonyms (absent: unchanged).
    #[serde(default)]
    pseudonymised: Option<Vec<String>>,
    /// Personal columns no reader sees but through a grant (absent: unchanged).
    #[serde(default)]
    removed: Option<Vec<String>>,
    /// Personal columns served coarser, by column: `month`, `year`,
    /// `band:<n>`, `prefix:<n>` (absent: unchanged).
    #[serde(default)]
    generalised: Option<std::collections::BTreeMap<String, lagoa_core::Generalisation>>,
    reason: String,
}

/// `POST /api/v1/datasets/{name}/categorisation`: a new version.
pub(crate) async fn categorise(
    State(api): State<Api>,
    Caller(who): Caller,
    Path(name): Path<String>,
    Json(body): Json<CategorisationBody>,
) -> Result<(StatusCode, Json<stewardship::Categorised>), ApiError> {
    let level = body
        .level
        .map(|l| {
            l.parse::<lagoa_core::SharingLevel>()
                .map_err(|e| ApiError::bad_request(format!("level {l:?}: {e}")))
        })
        .transpose()?;
    let change = NewCategorisation {
        level,
        provider: body.provider,
        justification: body.justification,
        conditions: body.conditions,
        restrictions: body.restrictions,
        pseudonymised: body.pseudonymised,
        removed: body.removed,
        generalised: body.generalised,
        reason: body.reason,
    };
    let c = stewardship::categorise(api.lake(), &who, &name, &change).await?;
    Ok((StatusCode::CREATED, Json(c)))
}

/// `GET /api/v1/requests`: the caller's own, those it decides, or all
/// (coordinators and admins). `?overdue=true` keeps pending ones past
/// their deadline.
#[derive(Deserialize)]
pub(crate) struct RequestFilter {
    #[serde(default)]
    overdue: bool,
}

pub(crate) async fn requests(
    State(api): State<Api>,
    Caller(who): Caller,
    Query(filter): Query<RequestFilter>,
) -> Result<Json<Vec<AccessRequest>>, ApiError> {
    let now = lagoa_lake::catalog::now_micros();
    let all = stewardship::visible_requests(api.lake(), &who).await?;
    Ok(Json(
        all.into_iter()
            .filter(|r| !filter.overdue || (r.status == "pending" && r.deadline_at < now))
            .collect(),
    ))
}

#[derive(Deserialize)]
pub(crate) struct RequestBody {
    dataset: String,
    purpose: String,
    legal_basis: String,
    #[serde(default)]
    columns: Vec<String>,
    #[serde(default)]
    personal: bool,
    #[serde(default)]
    for_institution: bool,
    /// Last day of the grant asked for (`YYYY-MM-DD`).
    #[serde(default)]
    until: Option<String>,
}

/// `POST /api/v1/requests`
pub(crate) async fn file_request(
    State(api): State<Api>,
    Caller(who): Caller,
    Json(body): Json<RequestBody>,
) -> Result<(StatusCode, Json<AccessRequest>), ApiError> {
    let until = body
        .until
        .map(|d| {
            stewardship::end_of_day(&d)
                .ok_or_else(|| ApiError::bad_request(format!("until {d:?}: write YYYY-MM-DD")))
        })
        .transpose()?;
    let new = NewRequest {
        dataset: body.dataset,
        columns: body.columns,
        personal: body.personal,
        for_institution: body.for_institution,
        purpose: body.purpose,
        legal_basis: body.legal_basis,
        until,
    };
    let filed = stewardship::file_request(api.lake(), &who, &new).await?;
    Ok((StatusCode::CREATED, Json(filed)))
}

#[derive(Deserialize)]
pub(crate) struct Reason {
    reason: String,
}

/// `POST /api/v1/requests/{id}/approve`
pub(crate) async fn approve(
    State(api): State<Api>,
    Caller(who): Caller,
    Path(id): Path<String>,
    Json(body): Json<Reason>,
) -> Result<Json<AccessRequest>, ApiError> {
    Ok(Json(
        stewardship::decide(api.lake(), &who, &id, true, &body.reason).await?,
    ))
}

/// `POST /api/v1/requests/{id}/deny`
pub(crate) async fn deny(
    State(api): State<Api>,
    Caller(who): Caller,
    Path(id): Path<String>,
    Json(body): Json<Reason>,
) -> Result<Json<AccessRequest>, ApiError> {
    Ok(Json(
        stewardship::decide(api.lake(), &who, &id, false, &body.reason).await?,
    ))
}

/// `GET /api/v1/grants`
pub(crate) async fn grants(
    State(api): State<Api>,
    Caller(who): Caller,
) -> Result<Json<Vec<Grant>>, ApiError> {
    Ok(Json(stewardship::visible_grants(api.lake(), &who).await?))
}

/// `POST /api/v1/grants/{id}/revoke`
pub(crate) async fn revoke(
    State(api): State<Api>,
    Caller(who): Caller,
    Path(id): Path<String>,
    Json(body): Json<Reason>,
) -> Result<Json<Grant>, ApiError> {
    Ok(Json(
        stewardship::revoke_grant(api.lake(), &who, &id, &body.reason).await?,
    ))
}

#[derive(Deserialize)]
pub(crate) struct ConsumptionParams {
    provider: String,
    /// `YYYY-MM`, in the console's time zone.
    month: String,
}

/// `GET /api/v1/reports/consumption?provider=&month=`
pub(crate) async fn consumption(
    State(api): State<Api>,
    Caller(who): Caller,
    Query(p): Query<ConsumptionParams>,
) -> Result<Json<Vec<ConsumptionLine>>, ApiError> {
    stewardship::may_see_consumption(api.lake(), &who, &p.provider).await?;
    let (from, to) = lagoa_sql::report::month_range(&p.month, &api.0.timezone)
        .map_err(|e| ApiError::bad_request(format!("month {:?}: {e}", p.month)))?;
    let lines = lagoa_sql::report::consumption(api.lake(), &p.provider, from, to).await?;
    stewardship::record_consumption_read(api.lake(), &who, &p.provider, &p.month).await?;
    Ok(Json(lines))
}
