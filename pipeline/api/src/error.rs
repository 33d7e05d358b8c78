//! Errors as HTTP answers: a status and `{"error": "..."}`. Messages name
//! what was refused and why, never a token or a data value.
//!
//! Every error leaves as JSON in the caller's language, including those
//! the framework answers before a handler runs (a body that is not JSON, a
//! missing field, a wrong content type, an unknown route, a wrong method):
//! [`localised`] rewrites them, their text redacted of anything quoted from
//! the request, and translates every error's text.

use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use lagoa_core::messages::{Lang, in_language};
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

/// The longest error body read back (they are a line or two).
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Every answer passes here: an error leaves as `{"error": ...}` in the
/// caller's language (`Accept-Language`: Portuguese or English, English
/// by default), with `Content-Language` saying which. The framework's own
/// refusals (a request its extractors refused) are rewritten as JSON, their
/// status and headers kept and literals the request carried redacted out.
pub(crate) async fn localised(request: Request, next: Next) -> Response {
    let lang = request
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map(Lang::from_accept_language)
        .unwrap_or_default();
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_ERROR_BODY)
        .await
        .unwrap_or_default();
    let text = if is_json {
        serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or_default()
    } else {
        lagoa_sql::redact::redact(String::from_utf8_lossy(&bytes).trim())
    };
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("the request was refused")
            .to_owned()
    } else {
        text
    };
    let json = serde_json::json!({ "error": in_callers_language(lang, status, &message) });
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.insert(
        header::CONTENT_LANGUAGE,
        HeaderValue::from_static(lang.tag()),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(json.to_string()))
}

/// An error's text in `lang`. One the catalog does not hold (an engine's
/// or the framework's own words) keeps its English after a headline in
/// the caller's language, so the caller still reads what went wrong.
fn in_callers_language(lang: Lang, status: StatusCode, message: &str) -> String {
    let (text, translated) = in_language(lang, message);
    if translated {
        return text;
    }
    let headline = match status {
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => "pedido inválido",
        StatusCode::UNAUTHORIZED => "não autenticado",
        StatusCode::FORBIDDEN => "negado",
        StatusCode::NOT_FOUND => "não encontrado",
        StatusCode::METHOD_NOT_ALLOWED => "método não permitido",
        StatusCode::PAYLOAD_TOO_LARGE => "resultado grande demais",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "tipo de conteúdo não aceito",
        StatusCode::TOO_MANY_REQUESTS => "tentativas demais",
        StatusCode::SERVICE_UNAVAILABLE => "serviço indisponível",
        StatusCode::GATEWAY_TIMEOUT => "tempo esgotado",
        s if s.is_server_error() => "erro interno",
        _ => "pedido recusado",
    };
    format!("{headline}: {text}")
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
