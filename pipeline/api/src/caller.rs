//! Who calls: the principal of the bearer token, checked against the
//! catalog on every call (a revoked or expired token, or a disabled user,
//! is refused at once). Refusals are counted, recorded once per address
//! and window, and throttled past a bound (`lagoa_governance::signin`).

use crate::{Api, ApiError};
use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use lagoa_governance::Principal;
use lagoa_governance::{Door, SignInError};

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

pub(crate) struct Caller(pub Principal);

impl FromRequestParts<Api> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &Api) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let from = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        match api.signins().authenticate(Door::Api, from, token).await {
            Ok(p) => Ok(Caller(p)),
            Err(SignInError::Missing) => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "send an API token: Authorization: Bearer <token> (see `lagoa token create`)",
            )),
            Err(SignInError::Throttled { retry_after }) => Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                SignInError::Throttled { retry_after }.to_string(),
            )
            .retry_after(retry_after)),
            Err(SignInError::Unavailable(m)) => {
                tracing::error!(error = %m, "cannot check an API token");
                Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the catalog did not answer; try again",
                ))
            }
            Err(refused) => Err(ApiError::new(StatusCode::UNAUTHORIZED, refused.to_string())),
        }
    }
}

/// `GET /api/v1/me`: the caller's principal.
pub(crate) async fn me(State(_api): State<Api>, Caller(who): Caller) -> Json<Principal> {
    Json(who)
}
