//! The daemon's HTTP side for machines: `/metrics` (Prometheus),
//! `/healthz` (the process answers) and `/readyz` (the catalog, the object
//! store and the key provider answer, checked for real at each call).

use crate::metrics;
use crate::source_file::SourceFile;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use lagoa_lake::Lake;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct HttpState {
    pub lake: Arc<Lake>,
    pub sources: Arc<Vec<Arc<SourceFile>>>,
    pub late_grace: Duration,
}

pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/metrics", get(metrics_page))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .with_state(state)
}

async fn metrics_page(State(state): State<HttpState>) -> impl IntoResponse {
    match metrics::render(
        &state.lake,
        &state.sources,
        chrono::Utc::now(),
        state.late_grace,
    )
    .await
    {
        Ok(text) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        ),
        Err(e) => {
            tracing::error!(error = %e, "cannot render /metrics");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "the catalog is unreachable\n".to_owned(),
            )
        }
    }
}

async fn ready(State(state): State<HttpState>) -> impl IntoResponse {
    match state.lake.check().await {
        Ok(report) => (
            StatusCode::OK,
            format!(
                "catalog ok (latest snapshot {})\nstorage ok\nkeys ok\n",
                report.latest_snapshot
            ),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}\n"))
        }
    }
}
