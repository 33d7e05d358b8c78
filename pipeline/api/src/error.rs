//! Errors as HTTP answers: a status and `{"error": "..."}`. Messages name
//! what was refused and why, never a token or a data value.
//!
//! Every error leaves as JSON, including those the framework answers
//! before a handler runs (a body that is not JSON, a missing field, a wrong
//! content type, an unknown route, a wrong method): [`as_json`] rewrites
//! them, their text redacted of anything quoted from the request.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lagoa_governance::stewardship::StewardshipError;
use lagoa_lake::LakeError;
use lagoa_sql::QueryError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// Sent as `Retry-After` (throttled sign-ins, a full query service).
    pub retry_after: Option<std::time::Duration>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn retry_after(mut self, after: std::time::Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"lagoa\""),
            );
        }
        if let Some(after) = self.retry_after {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(after.as_secs().max(1)),
            );
        }
        response
    }
}

/// An unknown route: 404 in JSON.
pub(crate) async fn unknown_route(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no such route {}; the routes are in /api/v1/openapi.json",
            uri.path()
        ),
    )
}

/// A known route asked with another method: 405 in JSON.
pub(crate) async fn wrong_method(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{method} is not allowed on {}; see /api/v1/openapi.json",
            uri.path()
        ),
    )
}

/// The longest framework error text kept (they are a line or two).
const MAX_FRAMEWORK_ERROR: usize = 4096;

/// Rewrites an error answer that is not JSON (the framework's own, for a
/// request its extractors refused) as `{"error": ...}`, keeping its status
/// and headers; literals the request carried are redacted out of the text.
pub(crate) async fn as_json(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_FRAMEWORK_ERROR)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("the request was refused")
            .to_owned()
    } else {
        lagoa_sql::redact::redact(&text)
    };
    let json = serde_json::json!({ "error": message }).to_string();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(json))
}

impl From<LakeError> for ApiError {
    fn from(e: LakeError) -> Self {
        match e {
            LakeError::Invalid(m) => Self::bad_request(m),
            LakeError::UnknownDataset(d) => {
                Self::new(StatusCode::NOT_FOUND, format!("no dataset {d}"))
            }
            e => {
                tracing::error!(error = %e, "the lake failed an API call");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
            }
        }
    }
}

impl From<StewardshipError> for ApiError {
    fn from(e: StewardshipError) -> Self {
        match e {
            StewardshipError::Denied(m) => Self::forbidden(m),
            StewardshipError::NotFound(m) => Self::new(StatusCode::NOT_FOUND, m),
            StewardshipError::Invalid(m) => Self::bad_request(m),
            StewardshipError::Lake(e) => e.into(),
        }
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        let status = match &e {
            QueryError::Denied(_) => StatusCode::FORBIDDEN,
            QueryError::Invalid(_) => StatusCode::BAD_REQUEST,
            QueryError::Failed(_) => StatusCode::BAD_REQUEST,
            QueryError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            QueryError::Busy(_) => {
                return Self::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
                    .retry_after(std::time::Duration::from_secs(5));
            }
            QueryError::Cancelled(_) => StatusCode::SERVICE_UNAVAILABLE,
            QueryError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            QueryError::TooManyRows(_) => StatusCode::PAYLOAD_TOO_LARGE,
            QueryError::OutOfMemory(_) => StatusCode::UNPROCESSABLE_ENTITY,
            QueryError::Lake(_) => {
                let QueryError::Lake(e) = e else {
                    unreachable!("matched just above")
                };
                return e.into();
            }
        };
        Self::new(status, e.to_string())
    }
}
