//! Errors as HTTP answers: a status and `{"error": "..."}`. Messages name
//! what was refused and why, never a token or a data value.

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
