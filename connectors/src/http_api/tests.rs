use super::fetch::{Api, next_link, retry_after};
use super::page::raise_watermark;

use super::*;
use crate::formats::SourceBatch;
use arrow::array::{Array, AsArray};
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use reqwest::header::{self, HeaderMap};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

const TOKEN: &str = "s3cr3t-T0KEN-do-teste";
/// `user:pass` in base64.
const BASIC: &str = "Basic dXNlcjpwYXNz";
const TOTAL: u64 = 5;

/// What the test server received: route, query and arrival time.
#[derive(Default)]
struct Hits(Mutex<Vec<(&'static str, String, std::time::Instant)>>);

impl Hits {
    /// Notes a request; returns how many the route has had.
    fn note(&self, route: &'static str, query: &Option<String>) -> usize {
        let mut log = self.0.lock().unwrap();
        log.push((
            route,
            query.clone().unwrap_or_default(),
            std::time::Instant::now(),
        ));
        log.iter().filter(|(r, _, _)| *r == route).count()
    }

    fn count(&self, route: &str) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(r, _, _)| *r == route)
            .count()
    }

    fn queries(&self, route: &str) -> Vec<String> {
        let log = self.0.lock().unwrap();
        log.iter()
            .filter(|(r, _, _)| *r == route)
            .map(|(_, q, _)| q.clone())
            .collect()
    }

    fn times(&self, route: &str) -> Vec<std::time::Instant> {
        let log = self.0.lock().unwrap();
        log.iter()
            .filter(|(r, _, _)| *r == route)
            .map(|(_, _, t)| *t)
            .collect()
    }
}

type Shared = State<Arc<Hits>>;

fn params(query: &Option<String>) -> HashMap<String, String> {
    url::form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn number(params: &HashMap<String, String>, name: &str, default: u64) -> u64 {
    params
        .get(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn person(i: u64) -> Value {
    json!({"id": i, "nome": format!("pessoa {i}"), "end": {"uf": "PE"}})
}

fn people(from: u64, to: u64) -> Vec<Value> {
    (from..=to.min(TOTAL)).map(person).collect()
}

async fn by_page(State(hits): Shared, RawQuery(query): RawQuery) -> Json<Value> {
    hits.note("page", &query);
    let p = params(&query);
    let (page, size) = (number(&p, "page", 1), number(&p, "size", 2));
    Json(json!({"total": TOTAL, "data": {"items": people((page - 1) * size + 1, page * size)}}))
}

async fn by_offset(State(hits): Shared, RawQuery(query): RawQuery) -> Json<Value> {
    hits.note("offset", &query);
    let p = params(&query);
    let (offset, limit) = (number(&p, "offset", 0), number(&p, "limit", 2));
    Json(json!(people(offset + 1, offset + limit)))
}

async fn by_cursor(State(hits): Shared, RawQuery(query): RawQuery) -> Json<Value> {
    hits.note("cursor", &query);
    let (items, next) = match params(&query).get("cursor").map(String::as_str) {
        None => (people(1, 2), json!("b")),
        Some("b") => (people(3, 4), json!("c")),
        _ => (people(5, 5), Value::Null),
    };
    Json(json!({"items": items, "meta": {"next": next}}))
}

async fn by_link_header(State(hits): Shared, RawQuery(query): RawQuery) -> Response {
    hits.note("link", &query);
    let p = number(&params(&query), "p", 1);
    let body = Json(json!(people(2 * p - 1, 2 * p)));
    if p < 3 {
        let link = format!(
            "</link?p={}>; rel=\"next\", </link?p=3>; rel=\"last\"",
            p + 1
        );
        ([("link", link)], body).into_response()
    } else {
        body.into_response()
    }
}

async fn by_link_body(State(hits): Shared, RawQuery(query): RawQuery) -> Json<Value> {
    hits.note("link_body", &query);
    let p = number(&params(&query), "p", 1);
    let next = if p < 3 {
        json!(format!("/link_body?p={}", p + 1))
    } else {
        Value::Null
    };
    Json(json!({"items": people(2 * p - 1, 2 * p), "links": {"next": next}}))
}

fn require(headers: &axum::http::HeaderMap, name: &str, expected: &str) -> Response {
    match headers.get(name).and_then(|v| v.to_str().ok()) {
        Some(value) if value == expected => Json(json!([person(1)])).into_response(),
        _ => (StatusCode::UNAUTHORIZED, "no").into_response(),
    }
}

async fn bearer(State(hits): Shared, headers: axum::http::HeaderMap) -> Response {
    hits.note("bearer", &None);
    require(&headers, "authorization", &format!("Bearer {TOKEN}"))
}

async fn basic(State(hits): Shared, headers: axum::http::HeaderMap) -> Response {
    hits.note("basic", &None);
    require(&headers, "authorization", BASIC)
}

async fn api_key(State(hits): Shared, headers: axum::http::HeaderMap) -> Response {
    hits.note("api_key", &None);
    require(&headers, "x-api-key", TOKEN)
}

async fn api_key_query(State(hits): Shared, RawQuery(query): RawQuery) -> Response {
    hits.note("api_key_query", &query);
    if params(&query).get("chave").map(String::as_str) == Some(TOKEN) {
        Json(json!([person(1)])).into_response()
    } else {
        (StatusCode::FORBIDDEN, "no").into_response()
    }
}

async fn asks_to_wait(State(hits): Shared) -> Response {
    if hits.note("retry_after", &None) == 1 {
        (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            "slow down",
        )
            .into_response()
    } else {
        Json(json!([person(1)])).into_response()
    }
}

async fn flaky(State(hits): Shared) -> Response {
    if hits.note("flaky", &None) <= 2 {
        StatusCode::SERVICE_UNAVAILABLE.into_response()
    } else {
        Json(json!([person(1)])).into_response()
    }
}

const HTML: &str = "<html><body>Erro interno: CPF 123.456.789-00</body></html>";

async fn html_500(State(hits): Shared, RawQuery(query): RawQuery) -> Response {
    hits.note("html_500", &query);
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [("content-type", "text/html")],
        HTML,
    )
        .into_response()
}

async fn html_200(State(hits): Shared) -> Response {
    hits.note("html_200", &None);
    ([("content-type", "text/html; charset=utf-8")], HTML).into_response()
}

async fn not_json(State(hits): Shared) -> Response {
    hits.note("not_json", &None);
    (
        [("content-type", "application/json")],
        "Erro: CPF 123.456.789-00",
    )
        .into_response()
}

async fn looping_cursor(State(hits): Shared, RawQuery(query): RawQuery) -> Json<Value> {
    let n = hits.note("loop", &query) as u64;
    Json(json!({"items": [person(n)], "meta": {"next": "same"}}))
}

async fn endless(State(hits): Shared, RawQuery(query): RawQuery) -> Json<Value> {
    hits.note("endless", &query);
    Json(json!([person(number(&params(&query), "page", 1))]))
}

async fn same_page(State(hits): Shared) -> Json<Value> {
    hits.note("same_page", &None);
    Json(json!(people(1, 2)))
}

async fn offsite(State(hits): Shared) -> Response {
    hits.note("offsite", &None);
    let link = "<http://example.invalid/next>; rel=\"next\"";
    ([("link", link)], Json(json!([person(1)]))).into_response()
}

async fn always_503(State(hits): Shared) -> StatusCode {
    hits.note("always_503", &None);
    StatusCode::SERVICE_UNAVAILABLE
}

async fn search(State(hits): Shared, Json(body): Json<Value>) -> Json<Value> {
    hits.note("search", &Some(body.to_string()));
    Json(json!({"result": [person(1), person(2)]}))
}

async fn changes(State(hits): Shared, RawQuery(query): RawQuery) -> Json<Value> {
    hits.note("changes", &query);
    if params(&query).contains_key("desde") {
        return Json(json!([]));
    }
    Json(json!([
        {"id": 1, "meta": {"atualizado_em": "2024-01-02T10:00:00Z"}},
        {"id": 2, "meta": {"atualizado_em": "2024-03-01T08:00:00Z"}},
        {"id": 3, "meta": {"atualizado_em": "2024-02-10T00:00:00Z"}},
    ]))
}

async fn serve() -> (String, Arc<Hits>) {
    let hits = Arc::new(Hits::default());
    let app = Router::new()
        .route("/page", get(by_page))
        .route("/offset", get(by_offset))
        .route("/cursor", get(by_cursor))
        .route("/link", get(by_link_header))
        .route("/link_body", get(by_link_body))
        .route("/bearer", get(bearer))
        .route("/basic", get(basic))
        .route("/api_key", get(api_key))
        .route("/api_key_query", get(api_key_query))
        .route("/retry_after", get(asks_to_wait))
        .route("/flaky", get(flaky))
        .route("/html_500", get(html_500))
        .route("/html_200", get(html_200))
        .route("/not_json", get(not_json))
        .route("/loop", get(looping_cursor))
        .route("/endless", get(endless))
        .route("/same_page", get(same_page))
        .route("/offsite", get(offsite))
        .route("/always_503", get(always_503))
        .route("/search", post(search))
        .route("/changes", get(changes))
        .with_state(Arc::clone(&hits));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}"), hits)
}

fn config(toml_text: &str) -> HttpApiConfig {
    toml::from_str(toml_text).expect("a valid configuration")
}

fn token_file(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "{text}").unwrap();
    file
}

/// Extracts and consumes the batches on a blocking thread, as the
/// pipeline does.
async fn extract(
    config: &HttpApiConfig,
    watermark: Option<&str>,
) -> Result<(Vec<SourceBatch>, Option<String>), SourceError> {
    let ctx = ExtractContext {
        watermark: watermark.map(str::to_owned),
        batch_rows: 2,
    };
    let extraction = config.extract(&ctx).await?;
    let batches = extraction.batches;
    let batches = tokio::task::spawn_blocking(move || batches.collect::<Result<Vec<_>, _>>())
        .await
        .unwrap()?;
    let next_watermark = extraction.next_watermark.lock().unwrap().clone();
    Ok((batches, next_watermark))
}

fn ids(batches: &[SourceBatch]) -> Vec<String> {
    batches
        .iter()
        .flat_map(|batch| {
            let index = batch.batch.schema().index_of("id").unwrap();
            let ids = batch.batch.column(index).as_string::<i32>().clone();
            (0..ids.len()).map(move |i| ids.value(i).to_owned())
        })
        .collect()
}

fn expect_ids(result: Result<(Vec<SourceBatch>, Option<String>), SourceError>, count: u64) {
    let (batches, _) = result.expect("an extraction");
    let expected: Vec<String> = (1..=count).map(|i| i.to_string()).collect();
    assert_eq!(ids(&batches), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_pagination_reads_every_page() {
    let (base, hits) = serve().await;
    let api = config(&format!(
        r#"url = "{base}/page"
           record_path = "data.items"
           query = {{ uf = "PE", ano = 2024 }}
           pagination = {{ kind = "page", page_param = "page", size_param = "size", page_size = 2 }}"#
    ));
    let (batches, watermark) = extract(&api, None).await.unwrap();
    assert_eq!(ids(&batches), vec!["1", "2", "3", "4", "5"]);
    assert_eq!(watermark, None);
    // The last page held fewer than page_size records: no fourth request.
    assert_eq!(
        hits.queries("page"),
        vec![
            "ano=2024&uf=PE&page=1&size=2",
            "ano=2024&uf=PE&page=2&size=2",
            "ano=2024&uf=PE&page=3&size=2"
        ]
    );
    let schema = batches[0].batch.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    // In document order (the test server's serde_json writes keys sorted).
    assert_eq!(names, vec!["end.uf", "id", "nome"]);
    let firsts: Vec<u64> = batches.iter().map(|b| b.first_row).collect();
    assert_eq!(firsts, vec![1, 3, 5]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offset_cursor_and_link_pagination() {
    let (base, hits) = serve().await;
    let offset = config(&format!(
        r#"url = "{base}/offset"
           pagination = {{ kind = "offset", offset_param = "offset", limit_param = "limit", page_size = 2 }}"#
    ));
    expect_ids(extract(&offset, None).await, 5);
    assert_eq!(
        hits.queries("offset"),
        vec!["offset=0&limit=2", "offset=2&limit=2", "offset=4&limit=2"]
    );

    let cursor = config(&format!(
        r#"url = "{base}/cursor"
           pagination = {{ kind = "cursor", cursor_param = "cursor", cursor_path = "meta.next" }}"#
    ));
    expect_ids(extract(&cursor, None).await, 5);
    assert_eq!(hits.queries("cursor"), vec!["", "cursor=b", "cursor=c"]);

    let link = config(&format!(
        r#"url = "{base}/link"
           pagination = {{ kind = "next_link" }}"#
    ));
    expect_ids(extract(&link, None).await, 5);
    assert_eq!(hits.count("link"), 3);

    let link_body = config(&format!(
        r#"url = "{base}/link_body"
           pagination = {{ kind = "next_link", next_link_path = "links.next" }}"#
    ));
    expect_ids(extract(&link_body, None).await, 5);
    assert_eq!(hits.queries("link_body"), vec!["", "p=2", "p=3"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_come_from_files() {
    let (base, hits) = serve().await;
    let token = token_file(TOKEN);
    let token_path = token.path().display();
    let password = token_file("pass");
    let password_path = password.path().display();

    let bearer = config(&format!(
        r#"url = "{base}/bearer"
           auth = {{ kind = "bearer", token_file = "{token_path}" }}"#
    ));
    expect_ids(extract(&bearer, None).await, 1);

    let basic = config(&format!(
        r#"url = "{base}/basic"
           auth = {{ kind = "basic", username = "user", password_file = "{password_path}" }}"#
    ));
    expect_ids(extract(&basic, None).await, 1);

    let header = config(&format!(
        r#"url = "{base}/api_key"
           auth = {{ kind = "api_key", token_file = "{token_path}" }}"#
    ));
    expect_ids(extract(&header, None).await, 1);

    let query = config(&format!(
        r#"url = "{base}/api_key_query"
           auth = {{ kind = "api_key", token_file = "{token_path}", query_param = "chave" }}"#
    ));
    expect_ids(extract(&query, None).await, 1);
    assert_eq!(
        hits.count("bearer") + hits.count("basic") + hits.count("api_key"),
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_refused_and_never_shown() {
    let (base, hits) = serve().await;
    let wrong = token_file(&format!("{TOKEN}-errado"));
    let api = config(&format!(
        r#"url = "{base}/bearer"
           auth = {{ kind = "bearer", token_file = "{}" }}"#,
        wrong.path().display()
    ));
    let error = extract(&api, None).await.unwrap_err();
    assert!(matches!(error, SourceError::Refused { .. }), "{error:?}");
    let text = format!("{error} {error:?}");
    assert!(text.contains("401") && text.contains("/bearer"), "{text}");
    assert!(!text.contains(TOKEN), "{text}");
    // Refusals are not retried.
    assert_eq!(hits.count("bearer"), 1);

    let api = Api::new(&api, None).unwrap();
    let debug = format!("{api:?}");
    assert!(!debug.contains(TOKEN), "{debug}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_in_the_query_never_shows_in_errors() {
    let (base, hits) = serve().await;
    let token = token_file(TOKEN);
    let api = config(&format!(
        r#"url = "{base}/html_500"
           retries = 1
           retry_backoff = 0.01
           auth = {{ kind = "api_key", token_file = "{}", query_param = "chave" }}"#,
        token.path().display()
    ));
    let error = extract(&api, None).await.unwrap_err();
    assert!(
        matches!(error, SourceError::Unreachable { .. }),
        "{error:?}"
    );
    let text = format!("{error} {error:?}");
    assert!(
        text.contains("/html_500") && text.contains("page 1"),
        "{text}"
    );
    assert!(text.contains("500"), "{text}");
    assert!(!text.contains(TOKEN) && !text.contains("chave"), "{text}");
    assert!(!text.contains("<html") && !text.contains("CPF"), "{text}");
    // The key did reach the server, in the query.
    assert_eq!(hits.queries("html_500")[0], format!("chave={TOKEN}"));
    assert_eq!(hits.count("html_500"), 2);
    let debug = format!("{:?}", Api::new(&api, None).unwrap());
    assert!(!debug.contains(TOKEN), "{debug}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured() {
    let (base, hits) = serve().await;
    let api = config(&format!(
        r#"url = "{base}/retry_after"
           retries = 3
           retry_backoff = 0.01"#
    ));
    expect_ids(extract(&api, None).await, 1);
    let times = hits.times("retry_after");
    assert_eq!(times.len(), 2);
    // The backoff alone would have waited about 10 ms.
    assert!(times[1] - times[0] >= Duration::from_millis(900));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_twice_then_ok() {
    let (base, hits) = serve().await;
    let api = config(&format!(
        r#"url = "{base}/flaky"
           retry_backoff = 0.01"#
    ));
    expect_ids(extract(&api, None).await, 1);
    assert_eq!(hits.count("flaky"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_for_good_is_unreachable() {
    let (base, hits) = serve().await;
    let api = config(&format!(
        r#"url = "{base}/always_503"
           retries = 2
           retry_backoff = 0.01"#
    ));
    let error = extract(&api, None).await.unwrap_err();
    assert!(
        matches!(error, SourceError::Unreachable { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("tried 3 times"), "{error}");
    assert_eq!(hits.count("always_503"), 3);

    // Nothing listens on a port just released.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let closed = config(&format!(
        r#"url = "http://127.0.0.1:{port}/x"
           retries = 1
           retry_backoff = 0.01"#
    ));
    let error = extract(&closed, None).await.unwrap_err();
    assert!(
        matches!(error, SourceError::Unreachable { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("cannot connect"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_and_garbage_bodies_are_named_not_shown() {
    let (base, _hits) = serve().await;
    let html = config(&format!(r#"url = "{base}/html_200""#));
    let error = extract(&html, None).await.unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, SourceError::Input { .. }), "{error:?}");
    assert!(
        text.contains("/html_200, page 1") && text.contains("text/html"),
        "{text}"
    );
    assert!(!text.contains("<html") && !text.contains("CPF"), "{text}");

    let garbage = config(&format!(r#"url = "{base}/not_json""#));
    let text = extract(&garbage, None).await.unwrap_err().to_string();
    assert!(
        text.contains("/not_json, page 1") && text.contains("not valid JSON"),
        "{text}"
    );
    assert!(!text.contains("CPF") && !text.contains("Erro"), "{text}");

    assert!(html.healthcheck().await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_paging_is_stopped() {
    let (base, hits) = serve().await;
    let looping = config(&format!(
        r#"url = "{base}/loop"
           pagination = {{ kind = "cursor", cursor_param = "cursor", cursor_path = "meta.next" }}"#
    ));
    let error = extract(&looping, None).await.unwrap_err();
    assert!(
        error
            .to_string()
            .contains("the API returned the same cursor twice (page 2)"),
        "{error}"
    );
    assert_eq!(hits.count("loop"), 2);

    let endless = config(&format!(
        r#"url = "{base}/endless"
           max_pages = 3
           pagination = {{ kind = "page", page_param = "page" }}"#
    ));
    let error = extract(&endless, None).await.unwrap_err();
    assert!(error.to_string().contains("max_pages = 3"), "{error}");
    assert_eq!(hits.count("endless"), 3);

    let same = config(&format!(
        r#"url = "{base}/same_page"
           pagination = {{ kind = "page", page_param = "page" }}"#
    ));
    let error = extract(&same, None).await.unwrap_err();
    assert!(error.to_string().contains("same page twice"), "{error}");

    let offsite = config(&format!(
        r#"url = "{base}/offsite"
           pagination = {{ kind = "next_link" }}"#
    ));
    let error = extract(&offsite, None).await.unwrap_err();
    assert!(matches!(error, SourceError::Refused { .. }), "{error:?}");
    assert!(error.to_string().contains("another host"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_with_a_body() {
    let (base, hits) = serve().await;
    let api = config(&format!(
        r#"url = "{base}/search"
           method = "POST"
           body = {{ filtro = {{ uf = "PE" }} }}"#
    ));
    expect_ids(extract(&api, None).await, 2);
    assert_eq!(hits.queries("search"), vec![r#"{"filtro":{"uf":"PE"}}"#]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_sends_and_raises_the_watermark() {
    let (base, hits) = serve().await;
    let api = config(&format!(
        r#"url = "{base}/changes"
           incremental = {{ param = "desde", cursor_field = "meta.atualizado_em" }}"#
    ));
    let (_, watermark) = extract(&api, None).await.unwrap();
    assert_eq!(watermark.as_deref(), Some("2024-03-01T08:00:00Z"));
    // Nothing new: the saved watermark stays.
    let (batches, watermark) = extract(&api, Some("2024-03-01T08:00:00Z")).await.unwrap();
    assert!(batches.is_empty());
    assert_eq!(watermark.as_deref(), Some("2024-03-01T08:00:00Z"));
    assert_eq!(
        hits.queries("changes"),
        vec!["", "desde=2024-03-01T08%3A00%3A00Z"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_reads_the_first_page() {
    let (base, hits) = serve().await;
    let api = config(&format!(
        r#"url = "{base}/page"
           record_path = "data.items"
           pagination = {{ kind = "page", page_param = "page", page_size = 2 }}"#
    ));
    api.healthcheck().await.unwrap();
    assert_eq!(hits.count("page"), 1);
    let wrong_path = config(&format!(
        r#"url = "{base}/page"
           record_path = "data.rows""#
    ));
    let error = wrong_path.healthcheck().await.unwrap_err();
    assert!(error.to_string().contains("no `data.rows`"), "{error}");
}

#[test]
fn problems_are_listed_at_once() {
    let api = config(
        r#"url = "http://user:pw@dados.example.gov.br/api?token=x"
           query = { api_key = "literal" }
           headers = { Authorization = "Bearer literal" }
           body = { filtro = { senha = "x" } }
           record_path = "data..items"
           max_pages = 0
           rate_limit_per_second = -1.0
           timeout = 0.0
           pagination = { kind = "cursor", page_param = "page" }
           auth = { kind = "bearer", token_env = "T", token_file = "/t", username = "u" }
           incremental = { param = "", cursor_field = "x" }"#,
    );
    let problems = api.problems();
    let expected = [
        "url holds credentials",
        "`token` looks like a credential",
        "plain http",
        "query.api_key looks like a credential",
        "headers.Authorization would keep credentials",
        "body is sent only with method",
        "body.senha looks like a credential",
        "record_path `data..items`",
        "pagination.page_param does not apply",
        "needs pagination.cursor_param",
        "needs pagination.cursor_path",
        "max_pages",
        "rate_limit_per_second",
        "timeout must be",
        "auth.username does not apply",
        "not both",
        "incremental.param is empty",
    ];
    for fragment in expected {
        assert!(
            problems.iter().any(|p| p.contains(fragment)),
            "no problem mentions `{fragment}`: {problems:#?}"
        );
    }
    assert_eq!(problems.len(), expected.len(), "{problems:#?}");
    let unknown: Result<HttpApiConfig, _> = toml::from_str("url = \"https://x\"\ntoken = \"t\"");
    assert!(unknown.is_err());
    assert!(
        config(r#"url = "https://dados.example.gov.br/api""#)
            .problems()
            .is_empty()
    );
}

#[tokio::test]
async fn a_missing_secret_names_the_variable() {
    let api = config(
        r#"url = "https://dados.example.gov.br/api"
           auth = { kind = "bearer", token_env = "LAGOA_TEST_TOKEN_THAT_IS_NOT_SET" }"#,
    );
    let Err(error) = api.extract(&ExtractContext::default()).await else {
        panic!("the extraction should fail");
    };
    assert!(matches!(error, SourceError::Config(_)));
    assert!(
        error
            .to_string()
            .contains("environment variable LAGOA_TEST_TOKEN_THAT_IS_NOT_SET (token) is not set")
    );
}

#[test]
fn retry_after_and_link_headers_are_read() {
    let mut headers = HeaderMap::new();
    headers.insert(header::RETRY_AFTER, HeaderValue::from_static("7"));
    assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
    let later = chrono::Utc::now() + chrono::Duration::seconds(30);
    let date = later.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    headers.insert(header::RETRY_AFTER, HeaderValue::from_str(&date).unwrap());
    let wait = retry_after(&headers).unwrap();
    assert!(
        wait > Duration::from_secs(25) && wait <= Duration::from_secs(30),
        "{wait:?}"
    );
    headers.insert(
        header::RETRY_AFTER,
        HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
    );
    assert_eq!(retry_after(&headers), Some(Duration::ZERO));

    assert_eq!(
        next_link(r#"<https://a/x?page=1>; rel="prev", <https://a/x?page=3>; rel="next""#),
        Some("https://a/x?page=3".into())
    );
    assert_eq!(
        next_link(r#"</x?p=2>; rel="next last""#),
        Some("/x?p=2".into())
    );
    assert_eq!(next_link(r#"<https://a/x>; rel="last""#), None);
    assert_eq!(next_link("garbage <unclosed"), None);
}

#[test]
fn backoff_grows_and_is_capped() {
    let mut api = config(r#"url = "https://dados.example.gov.br/api""#);
    api.retry_backoff = 1.0;
    api.max_retry_wait = 5.0;
    let api = Api::new(&api, None).unwrap();
    let first = api.wait_before_retry(0, None);
    assert!(first >= Duration::from_millis(500) && first <= Duration::from_secs(1));
    let third = api.wait_before_retry(2, None);
    assert!(third >= Duration::from_secs(2) && third <= Duration::from_secs(4));
    assert!(api.wait_before_retry(30, None) <= Duration::from_secs(5));
    assert_eq!(
        api.wait_before_retry(0, Some(Duration::from_secs(3))),
        Duration::from_secs(3)
    );
    assert_eq!(
        api.wait_before_retry(0, Some(Duration::from_secs(3600))),
        Duration::from_secs(5)
    );
}

#[test]
fn watermarks_compare_numbers_as_numbers() {
    let mut watermark = None;
    for value in ["9", "10", "2"] {
        raise_watermark(&mut watermark, value.to_owned());
    }
    assert_eq!(watermark.as_deref(), Some("10"));
    let mut watermark = Some("2024-01-31".to_owned());
    raise_watermark(&mut watermark, "2024-01-05".to_owned());
    assert_eq!(watermark.as_deref(), Some("2024-01-31"));
}
