//! The catalog as analysts browse it: every dataset with its description,
//! level, provider, columns (personal ones marked), freshness against its
//! agreement, and what the caller may read of it. Metadata is not secret:
//! an analyst finds an `especial` dataset here and files a request for it.

use crate::caller::Caller;
use crate::{Api, ApiError};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use lagoa_governance::{Categorisation, Principal};
use lagoa_governance::{ColumnAccess, DatasetMeta, table_access};
use lagoa_lake::AsOf;
use lagoa_lake::catalog::model::DatasetInfo;
use lagoa_lake::catalog::now_micros;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Deserialize)]
pub(crate) struct Search {
    /// Words to find in the name, description or column names.
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    level: Option<String>,
    /// The purpose to judge access under (else the `Lagoa-Purpose` header).
    #[serde(default)]
    purpose: Option<String>,
}

/// `?purpose=` of a dataset's page.
#[derive(Deserialize)]
pub(crate) struct PurposeParam {
    #[serde(default)]
    purpose: Option<String>,
}

/// The purpose a catalog call is judged under: the parameter, else the
/// `Lagoa-Purpose` header (as a query declares it).
fn purpose_of(
    param: Option<String>,
    headers: &axum::http::HeaderMap,
) -> Result<Option<String>, ApiError> {
    if param.is_some() {
        return Ok(param);
    }
    headers
        .get("lagoa-purpose")
        .map(|v| {
            String::from_utf8(v.as_bytes().to_vec())
                .map_err(|_| ApiError::bad_request("the Lagoa-Purpose header is not UTF-8"))
        })
        .transpose()
}

#[derive(Serialize)]
pub(crate) struct ColumnView {
    name: String,
    #[serde(rename = "type")]
    data_type: String,
    personal: bool,
    /// `clear`, `pseudonymised`, `generalised (<rule>)` or `hidden` for the
    /// caller, under the purpose it declared.
    access: String,
}

#[derive(Serialize)]
pub(crate) struct FreshnessView {
    sources: Vec<String>,
    last_delivery: Option<String>,
    expected_every_seconds: Option<u64>,
    late: bool,
}

#[derive(Serialize)]
pub(crate) struct DatasetView {
    name: String,
    description: String,
    level: String,
    provider: Option<String>,
    schema_version: i64,
    columns: Vec<ColumnView>,
    freshness: Option<FreshnessView>,
    /// Whether the caller can query it now (under the purpose declared),
    /// and if not, why.
    readable: bool,
    reason: Option<String>,
    /// The purposes of the caller's live grants on it: what to declare.
    grant_purposes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    categorisation_history: Option<Vec<Categorisation>>,
}

async fn view(
    api: &Api,
    (who, purpose): (&Principal, Option<&str>),
    d: &DatasetInfo,
    fresh: &BTreeMap<String, FreshnessView>,
    grants: &[lagoa_governance::Grant],
) -> Result<DatasetView, ApiError> {
    let reader = lagoa_sql::reader(api.lake(), who, purpose).await?;
    let treatments = lagoa_governance::GovernanceStore::of(&api.lake().catalog)
        .treatments()
        .await?;
    let seen = table_access(&reader, &DatasetMeta::of(d, &treatments), grants);
    let access = |c: &str| match &seen {
        Ok(a) => a.access(c).name(),
        Err(_) => ColumnAccess::Hidden.name(),
    };
    let provider = lagoa_governance::GovernanceStore::of(&api.lake().catalog)
        .categorisation(d.name.as_str())
        .await?
        .map(|c| c.provider);
    Ok(DatasetView {
        name: d.name.to_string(),
        description: d.description.clone(),
        level: d.level.to_string(),
        provider,
        schema_version: d.schema_version,
        columns: d
            .columns
            .iter()
            .map(|c| ColumnView {
                name: c.name.clone(),
                data_type: c.data_type.clone(),
                personal: c.personal.is_some(),
                access: access(&c.name),
            })
            .collect(),
        freshness: fresh.get(d.name.as_str()).map(|f| FreshnessView {
            sources: f.sources.clone(),
            last_delivery: f.last_delivery.clone(),
            expected_every_seconds: f.expected_every_seconds,
            late: f.late,
        }),
        readable: seen.is_ok(),
        reason: seen.err(),
        grant_purposes: grants
            .iter()
            .filter(|g| g.dataset == d.name.as_str())
            .map(|g| g.purpose.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect(),
        categorisation_history: None,
    })
}

async fn freshness(api: &Api) -> Result<BTreeMap<String, FreshnessView>, ApiError> {
    let all = lagoa_daemon::metrics::freshness(
        api.lake(),
        &api.0.sources.current(),
        chrono::Utc::now(),
        api.0.late_grace,
    )
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(all
        .into_iter()
        .map(|f| {
            (
                f.dataset.clone(),
                FreshnessView {
                    sources: f.sources,
                    last_delivery: f.last_commit.map(|t| t.to_rfc3339()),
                    expected_every_seconds: f.expected.map(|d| d.as_secs()),
                    late: f.late,
                },
            )
        })
        .collect())
}

fn matches(d: &DatasetInfo, search: &Search) -> bool {
    if let Some(level) = &search.level
        && !d.level.to_string().eq_ignore_ascii_case(level.trim())
    {
        return false;
    }
    let Some(q) = search.q.as_deref().map(str::to_lowercase) else {
        return true;
    };
    let text = format!(
        "{} {} {}",
        d.name,
        d.description,
        d.columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    )
    .to_lowercase();
    q.split_whitespace().all(|word| text.contains(word))
}

/// `GET /api/v1/datasets?q=&level=`
pub(crate) async fn list(
    State(api): State<Api>,
    Caller(who): Caller,
    headers: axum::http::HeaderMap,
    Query(search): Query<Search>,
) -> Result<Json<Vec<DatasetView>>, ApiError> {
    let purpose = purpose_of(search.purpose.clone(), &headers)?;
    if let Some(level) = &search.level
        && level
            .trim()
            .to_lowercase()
            .parse::<lagoa_core::SharingLevel>()
            .is_err()
    {
        return Err(ApiError::bad_request(
            "the level parameter is not a sharing level: amplo, corporativo or especial",
        ));
    }
    let latest = api.lake().catalog.resolve(&AsOf::Latest).await?;
    let fresh = freshness(&api).await?;
    let grants = lagoa_governance::GovernanceStore::of(&api.lake().catalog)
        .live_grants(&who.name, &who.institution, now_micros())
        .await?;
    let mut out = Vec::new();
    for d in api.lake().catalog.datasets(latest).await? {
        if matches(&d, &search) {
            out.push(view(&api, (&who, purpose.as_deref()), &d, &fresh, &grants).await?);
        }
    }
    Ok(Json(out))
}

/// `GET /api/v1/datasets/{name}`: with its categorisation history.
pub(crate) async fn one(
    State(api): State<Api>,
    Caller(who): Caller,
    Path(name): Path<String>,
    headers: axum::http::HeaderMap,
    Query(param): Query<PurposeParam>,
) -> Result<Json<DatasetView>, ApiError> {
    let purpose = purpose_of(param.purpose, &headers)?;
    let latest = api.lake().catalog.resolve(&AsOf::Latest).await?;
    let dataset = lagoa_core::DatasetName::new(name.clone())
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let d = api
        .lake()
        .catalog
        .dataset(&dataset, latest)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no dataset {name}")))?;
    let fresh = freshness(&api).await?;
    let grants = lagoa_governance::GovernanceStore::of(&api.lake().catalog)
        .live_grants(&who.name, &who.institution, now_micros())
        .await?;
    let mut v = view(&api, (&who, purpose.as_deref()), &d, &fresh, &grants).await?;
    v.categorisation_history = Some(
        lagoa_governance::GovernanceStore::of(&api.lake().catalog)
            .categorisations(&name)
            .await?,
    );
    Ok(Json(v))
}
