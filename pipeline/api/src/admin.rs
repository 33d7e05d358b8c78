//! Administration over HTTP, for admins only: the same as `lagoa
//! institution|user|token`, each change recorded in the audit trail under
//! the admin's name. A token's secret is in the answer that issues it and
//! nowhere else.

use crate::caller::Caller;
use crate::{Api, ApiError};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use lagoa_core::{InstitutionRole, Role};
use lagoa_governance::{Institution, Principal, TokenInfo};
use lagoa_lake::catalog::{AuditEntry, now_micros};
use serde::Deserialize;

async fn admin_only(api: &Api, who: &Principal, action: &str) -> Result<(), ApiError> {
    if who.role == Role::Admin {
        return Ok(());
    }
    record(api, who, action, "-", "denied", Some("not an admin")).await?;
    Err(ApiError::forbidden(format!(
        "{} may not {}: admins do",
        who.name,
        action.replace('_', " ")
    )))
}

async fn record(
    api: &Api,
    who: &Principal,
    action: &str,
    subject: &str,
    outcome: &str,
    reason: Option<&str>,
) -> Result<(), ApiError> {
    api.lake()
        .audit(&AuditEntry {
            reason: reason.map(str::to_owned),
            ..who.audit_entry(action, subject, outcome)
        })
        .await?;
    Ok(())
}

fn parse<T: std::str::FromStr>(what: &str, value: &str) -> Result<T, ApiError>
where
    T::Err: std::fmt::Display,
{
    value
        .parse()
        .map_err(|e| ApiError::bad_request(format!("{what} {value:?}: {e}")))
}

pub(crate) async fn institutions(
    State(api): State<Api>,
    Caller(who): Caller,
) -> Result<Json<Vec<Institution>>, ApiError> {
    admin_only(&api, &who, "list_institutions").await?;
    Ok(Json(
        lagoa_governance::GovernanceStore::of(&api.lake().catalog)
            .institutions()
            .await?,
    ))
}

#[derive(Deserialize)]
pub(crate) struct NewInstitution {
    name: String,
    /// `provider`, `consumer` or `coordinator`.
    role: String,
    #[serde(default)]
    description: String,
}

pub(crate) async fn add_institution(
    State(api): State<Api>,
    Caller(who): Caller,
    Json(body): Json<NewInstitution>,
) -> Result<(StatusCode, Json<Institution>), ApiError> {
    admin_only(&api, &who, "add_institution").await?;
    let role: InstitutionRole = parse("role", &body.role)?;
    let added = lagoa_governance::GovernanceStore::of(&api.lake().catalog)
        .add_institution(&body.name, role, &body.description)
        .await?;
    record(&api, &who, "institution_added", &body.name, "ok", None).await?;
    Ok((StatusCode::CREATED, Json(added)))
}

pub(crate) async fn users(
    State(api): State<Api>,
    Caller(who): Caller,
) -> Result<Json<Vec<Principal>>, ApiError> {
    admin_only(&api, &who, "list_users").await?;
    Ok(Json(
        lagoa_governance::GovernanceStore::of(&api.lake().catalog)
            .principals()
            .await?,
    ))
}

#[derive(Deserialize)]
pub(crate) struct NewUser {
    name: String,
    institution: String,
    /// `admin`, `steward`, `operator` or `analyst`.
    role: String,
    /// A service account rather than a person.
    #[serde(default)]
    service: bool,
}

pub(crate) async fn add_user(
    State(api): State<Api>,
    Caller(who): Caller,
    Json(body): Json<NewUser>,
) -> Result<(StatusCode, Json<Principal>), ApiError> {
    admin_only(&api, &who, "add_user").await?;
    let role: Role = parse("role", &body.role)?;
    let added = lagoa_governance::GovernanceStore::of(&api.lake().catalog)
        .add_principal(&body.name, &body.institution, role, body.service)
        .await?;
    record(&api, &who, "user_added", &body.name, "ok", None).await?;
    Ok((StatusCode::CREATED, Json(added)))
}

pub(crate) async fn disable_user(
    State(api): State<Api>,
    Caller(who): Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    admin_only(&api, &who, "disable_user").await?;
    if !lagoa_governance::GovernanceStore::of(&api.lake().catalog)
        .disable_principal(&name)
        .await?
    {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no enabled user {name}"),
        ));
    }
    record(&api, &who, "user_disabled", &name, "ok", None).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub(crate) struct TokenFilter {
    #[serde(default)]
    principal: Option<String>,
}

pub(crate) async fn tokens(
    State(api): State<Api>,
    Caller(who): Caller,
    Query(filter): Query<TokenFilter>,
) -> Result<Json<Vec<TokenInfo>>, ApiError> {
    admin_only(&api, &who, "list_tokens").await?;
    Ok(Json(
        lagoa_governance::GovernanceStore::of(&api.lake().catalog)
            .tokens(filter.principal.as_deref())
            .await?,
    ))
}

#[derive(Deserialize)]
pub(crate) struct NewToken {
    principal: String,
    /// Days until it expires; 0 or absent: until revoked.
    #[serde(default)]
    expires_days: u32,
    #[serde(default)]
    label: String,
}

pub(crate) async fn issue_token(
    State(api): State<Api>,
    Caller(who): Caller,
    Json(body): Json<NewToken>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    admin_only(&api, &who, "issue_token").await?;
    let expires_at = (body.expires_days > 0)
        .then(|| now_micros() + i64::from(body.expires_days) * 86_400_000_000);
    let issued = lagoa_governance::GovernanceStore::of(&api.lake().catalog)
        .issue_token(&body.principal, &body.label, expires_at)
        .await?;
    record(
        &api,
        &who,
        "token_issued",
        &format!("{} for {}", issued.info.token_id, body.principal),
        "ok",
        None,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({
            "token": issued.token.as_str(),
            "info": issued.info,
        })),
    ))
}

pub(crate) async fn revoke_token(
    State(api): State<Api>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    admin_only(&api, &who, "revoke_token").await?;
    if !lagoa_governance::GovernanceStore::of(&api.lake().catalog)
        .revoke_token(&id)
        .await?
    {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no live token with id {id}"),
        ));
    }
    record(&api, &who, "token_revoked", &id, "ok", None).await?;
    Ok(StatusCode::NO_CONTENT)
}
