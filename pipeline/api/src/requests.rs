//! The API's requests for `/metrics`: how many were answered, by status
//! class, and how many are being answered now. No path, principal or
//! parameter is counted: only the class of the answer.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// The counters of one API.
#[derive(Debug, Default)]
pub(crate) struct ApiRequests {
    in_flight: AtomicU64,
    /// Answered with a status of class 1xx … 5xx.
    answered: [AtomicU64; 5],
}

impl ApiRequests {
    fn answered(&self, status: u16) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.answered[class].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn render(&self) -> String {
        let mut out = format!(
            "# HELP lagoa_api_requests_in_flight HTTP API requests being answered now.\n# TYPE lagoa_api_requests_in_flight gauge\nlagoa_api_requests_in_flight {}\n# HELP lagoa_api_requests_total HTTP API requests answered, by status class.\n# TYPE lagoa_api_requests_total counter\n",
            self.in_flight.load(Ordering::Relaxed)
        );
        for (i, n) in self.answered.iter().enumerate() {
            let _ = writeln!(
                out,
                "lagoa_api_requests_total{{class=\"{}xx\"}} {}",
                i + 1,
                n.load(Ordering::Relaxed)
            );
        }
        out
    }
}

/// Counts one request while it is answered, and its answer's class.
pub(crate) async fn count(State(api): State<crate::Api>, request: Request, next: Next) -> Response {
    let requests = &api.0.requests;
    requests.in_flight.fetch_add(1, Ordering::Relaxed);
    let response = next.run(request).await;
    requests.in_flight.fetch_sub(1, Ordering::Relaxed);
    requests.answered(response.status().as_u16());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_counted_by_class() {
        let requests = ApiRequests::default();
        for status in [200, 204, 401, 403, 404, 500] {
            requests.answered(status);
        }
        let text = requests.render();
        for line in [
            "lagoa_api_requests_total{class=\"2xx\"} 2",
            "lagoa_api_requests_total{class=\"4xx\"} 3",
            "lagoa_api_requests_total{class=\"5xx\"} 1",
            "lagoa_api_requests_in_flight 0",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
    }
}
