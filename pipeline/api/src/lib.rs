//! The analysts' HTTP API, under `/api/v1`: governed SQL whose results
//! stream as JSON, CSV or Arrow IPC; the catalog to browse and search;
//! requests, grants and consumption reports; the published indicators;
//! and, for administrators,
//! institutions, users and tokens. Every call carries an API token
//! (`Authorization: Bearer …`); every query, decision and refusal lands in
//! the audit trail through the same code the CLI uses (`lagoa_sql`).
//!
//! The contract is `openapi.json` (OpenAPI 3.1), served at
//! `/api/v1/openapi.json`; a test checks that every route is in it.

mod admin;
mod caller;
mod catalog;
mod error;
mod governance;
mod indicators;
mod query;
mod requests;

pub use error::ApiError;

use axum::Router;
use axum::routing::{get, post};
use lagoa_daemon::SourceDir;
use lagoa_governance::SignIns;
use lagoa_lake::Lake;
use lagoa_sql::QueryService;
use std::sync::Arc;
use std::time::Duration;

/// The OpenAPI document of this API.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// The API's shared state: cheap to clone.
#[derive(Clone)]
pub struct Api(Arc<Inner>);

struct Inner {
    queries: QueryService,
    signins: Arc<SignIns>,
    /// Read again when a source file appears, changes or disappears.
    sources: Arc<SourceDir>,
    late_grace: Duration,
    /// Months of consumption reports are counted in this zone.
    timezone: String,
    requests: requests::ApiRequests,
}

impl Api {
    pub fn new(
        queries: QueryService,
        signins: Arc<SignIns>,
        sources: Arc<SourceDir>,
        late_grace: Duration,
        timezone: String,
    ) -> Self {
        Api(Arc::new(Inner {
            queries,
            signins,
            sources,
            late_grace,
            timezone,
            requests: requests::ApiRequests::default(),
        }))
    }

    fn lake(&self) -> &Lake {
        self.0.queries.lake()
    }

    fn queries(&self) -> &QueryService {
        &self.0.queries
    }

    fn signins(&self) -> &SignIns {
        &self.0.signins
    }

    /// `GET /metrics`: the serving process's counters (Prometheus text):
    /// its version, sign-ins refused and throttled, queries running and
    /// waiting, queries ended by outcome and their latency, the PostgreSQL
    /// port's connections and the API's requests.
    async fn metrics(
        axum::extract::State(api): axum::extract::State<Api>,
    ) -> impl axum::response::IntoResponse {
        let (running, queued) = api.queries().engine().load();
        let text = format!(
            "# HELP lagoa_build_info The serving lagoa's version.\n# TYPE lagoa_build_info gauge\nlagoa_build_info{{version=\"{}\"}} 1\n{}# HELP lagoa_queries_running Governed queries running now.\n# TYPE lagoa_queries_running gauge\nlagoa_queries_running {running}\n# HELP lagoa_queries_queued Governed queries waiting for a place.\n# TYPE lagoa_queries_queued gauge\nlagoa_queries_queued {queued}\n{}{}",
            env!("CARGO_PKG_VERSION"),
            api.signins().metrics(),
            api.queries().metrics().render(),
            api.0.requests.render(),
        );
        ([("content-type", "text/plain; version=0.0.4")], text)
    }

    /// Every route, with its method: what the OpenAPI document must list.
    pub const ROUTES: &[(&str, &str)] = &[
        ("get", "/api/v1/openapi.json"),
        ("get", "/api/v1/me"),
        ("post", "/api/v1/query"),
        ("get", "/api/v1/datasets"),
        ("get", "/api/v1/datasets/{name}"),
        ("post", "/api/v1/datasets/{name}/categorisation"),
        ("get", "/api/v1/requests"),
        ("post", "/api/v1/requests"),
        ("post", "/api/v1/requests/{id}/approve"),
        ("post", "/api/v1/requests/{id}/deny"),
        ("get", "/api/v1/grants"),
        ("post", "/api/v1/grants/{id}/revoke"),
        ("get", "/api/v1/reports/consumption"),
        ("get", "/api/v1/institutions"),
        ("post", "/api/v1/institutions"),
        ("get", "/api/v1/users"),
        ("post", "/api/v1/users"),
        ("post", "/api/v1/users/{name}/disable"),
        ("get", "/api/v1/tokens"),
        ("post", "/api/v1/tokens"),
        ("post", "/api/v1/tokens/{id}/revoke"),
        ("get", "/api/v1/indicators"),
        ("get", "/api/v1/indicators/{name}"),
        ("get", "/api/v1/indicators/{name}/values"),
    ];

    pub fn router(&self) -> Router {
        Router::new()
            .route(
                "/api/v1/openapi.json",
                get(|| async { ([("content-type", "application/json")], OPENAPI) }),
            )
            .route("/metrics", get(Api::metrics))
            .route("/api/v1/me", get(caller::me))
            .route("/api/v1/query", post(query::submit))
            .route("/api/v1/datasets", get(catalog::list))
            .route("/api/v1/datasets/{name}", get(catalog::one))
            .route(
                "/api/v1/datasets/{name}/categorisation",
                post(governance::categorise),
            )
            .route(
                "/api/v1/requests",
                get(governance::requests).post(governance::file_request),
            )
            .route("/api/v1/requests/{id}/approve", post(governance::approve))
            .route("/api/v1/requests/{id}/deny", post(governance::deny))
            .route("/api/v1/grants", get(governance::grants))
            .route("/api/v1/grants/{id}/revoke", post(governance::revoke))
            .route("/api/v1/reports/consumption", get(governance::consumption))
            .route(
                "/api/v1/institutions",
                get(admin::institutions).post(admin::add_institution),
            )
            .route("/api/v1/users", get(admin::users).post(admin::add_user))
            .route("/api/v1/users/{name}/disable", post(admin::disable_user))
            .route(
                "/api/v1/tokens",
                get(admin::tokens).post(admin::issue_token),
            )
            .route("/api/v1/tokens/{id}/revoke", post(admin::revoke_token))
            .route("/api/v1/indicators", get(indicators::list))
            .route("/api/v1/indicators/{name}", get(indicators::one))
            .route("/api/v1/indicators/{name}/values", get(indicators::values))
            .fallback(error::unknown_route)
            .method_not_allowed_fallback(error::wrong_method)
            .layer(axum::middleware::from_fn(error::localised))
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                requests::count,
            ))
            .with_state(self.clone())
    }
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_document_lists_every_route_and_only_those() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("openapi.json parses");
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().expect("paths");
        for (method, path) in Api::ROUTES {
            assert!(
                paths.get(*path).and_then(|p| p.get(*method)).is_some(),
                "{method} {path} is not in openapi.json"
            );
        }
        let documented: usize = paths
            .values()
            .map(|p| p.as_object().map_or(0, |m| m.len()))
            .sum();
        assert_eq!(
            documented,
            Api::ROUTES.len(),
            "openapi.json has routes the API lacks"
        );
    }
}
