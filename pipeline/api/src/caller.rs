//! Who calls: the principal of the bearer token, checked against the
//! catalog on every call (a revoked or expired token, or a disabled user,
//! is refused at once). A refused token is recorded in the audit trail.

use crate::{Api, ApiError};
use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use lagoa_lake::catalog::{AuditEntry, Principal, now_micros};

pub struct Caller(pub Principal);

impl FromRequestParts<Api> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &Api) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let call = format!("{} {}", parts.method, parts.uri.path());
        let refused = |reason: String| async move {
            let entry = AuditEntry {
                principal: "unknown".into(),
                institution: "-".into(),
                action: "api_call".into(),
                subject: Some(call),
                outcome: "denied".into(),
                reason: Some(reason.clone()),
                ..Default::default()
            };
            api.lake().audit(&entry).await?;
            Err(ApiError::new(StatusCode::UNAUTHORIZED, reason))
        };
        let Some(token) = token else {
            return refused(
                "send an API token: Authorization: Bearer <token> (see `lagoa token create`)"
                    .into(),
            )
            .await;
        };
        match api.lake().catalog.authenticate(token, now_micros()).await {
            Ok(p) => Ok(Caller(p)),
            Err(e) => refused(format!("the token was refused: {e}")).await,
        }
    }
}

/// `GET /api/v1/me`: the caller's principal.
pub async fn me(State(_api): State<Api>, Caller(who): Caller) -> Json<Principal> {
    Json(who)
}
