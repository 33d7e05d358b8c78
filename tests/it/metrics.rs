//! `lagoa serve`'s `/metrics`, as Prometheus scrapes it: governed queries
//! by outcome and latency from the HTTP API and the PostgreSQL port alike,
//! the port's connections, the API's requests by status class, the
//! version; and no token, statement or value in it.

use crate::pg::{psql, setup};
use crate::support::*;
use std::collections::BTreeMap;
use std::process::Command;

/// Each sample line's value, by its name and labels.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_owned(), value.parse().ok()?))
        })
        .collect()
}

#[test]
fn serve_counts_every_door_s_queries_by_outcome_and_latency() {
    let test = "serve_counts_every_door_s_queries_by_outcome_and_latency";
    if Command::new("psql").arg("--version").output().is_err() {
        skip(test, "no psql: run scripts/bootstrap (postgresql-client)");
        return;
    }
    let (dir, lake) = new_lake();
    let s = setup(dir.path(), &lake);
    let port = free_port();
    let (_server, base) = serve(&lake, Some(port));
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let http = reqwest::Client::new();
    let post = |sql: &str| {
        runtime.block_on(async {
            http.post(format!("{base}/api/v1/query"))
                .bearer_auth(&s.joao)
                .json(&serde_json::json!({ "sql": sql }))
                .send()
                .await
                .expect("the API answers")
                .status()
        })
    };
    assert!(post("SELECT count(*) AS n FROM populacao").is_success());
    assert!(post("DROP TABLE populacao").is_client_error());
    let through_port = psql(port, "joao", &s.joao, &["SELECT count(*) FROM populacao"]);
    assert!(
        through_port.status.success(),
        "{}",
        String::from_utf8_lossy(&through_port.stderr)
    );

    let scrape = || {
        runtime.block_on(async {
            http.get(format!("{base}/metrics"))
                .send()
                .await
                .expect("/metrics answers")
                .text()
                .await
                .expect("a body")
        })
    };
    // psql has gone: its connection closes as the server notices.
    let mut text = scrape();
    wait_for(
        "the port's connection to close",
        std::time::Duration::from_secs(10),
        || {
            text = scrape();
            samples(&text).get("lagoa_pg_connections") == Some(&0.0)
        },
    );
    let got = samples(&text);
    let value = |name: &str| got.get(name).copied().unwrap_or(0.0);
    assert!(
        value("lagoa_queries_total{outcome=\"ok\"}") >= 2.0,
        "{text}"
    );
    let refused = value("lagoa_queries_total{outcome=\"denied\"}")
        + value("lagoa_queries_total{outcome=\"invalid\"}");
    assert!(refused >= 1.0, "the DROP refused: {text}");
    let ended = value("lagoa_query_duration_seconds_count");
    assert!(ended >= 3.0, "{text}");
    assert_eq!(
        value("lagoa_query_duration_seconds_bucket{le=\"+Inf\"}"),
        ended,
        "{text}"
    );
    assert!(value("lagoa_query_duration_seconds_sum") > 0.0, "{text}");
    assert!(
        value("lagoa_pg_connections_accepted_total") >= 1.0,
        "{text}"
    );
    assert!(
        value("lagoa_api_requests_total{class=\"2xx\"}") >= 1.0,
        "{text}"
    );
    assert!(
        value("lagoa_api_requests_total{class=\"4xx\"}") >= 1.0,
        "{text}"
    );
    assert!(
        got.keys()
            .any(|k| k.starts_with("lagoa_build_info{version=")),
        "{text}"
    );
    for secret in [s.joao.as_str(), "DROP", "populacao", "joao"] {
        assert!(!text.contains(secret), "{secret} in /metrics");
    }
}
