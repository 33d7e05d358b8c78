//! JSON HTTP APIs (`type = "http_api"`).
//!
//! ```toml
//! [source]
//! type = "http_api"
//! url = "https://dados.exemplo.gov.br/api/v1/obitos"
//! query = { uf = "PE", ano = 2024 }
//! record_path = "data.items"
//! pagination = { kind = "page", page_param = "page", size_param = "per_page", page_size = 500 }
//! auth = { kind = "bearer", token_env = "OBITOS_API_TOKEN" }
//! rate_limit_per_second = 2.0
//! incremental = { param = "atualizado_desde", cursor_field = "atualizado_em" }
//! ```
//!
//! A tokio task fetches the pages one after the other, flattens their
//! records exactly as JSON files are flattened ([`crate::flatten`]: nested
//! objects as `parent.child` columns, every column `Utf8`, columns growing
//! as new keys appear) and sends batches through a bounded channel. The
//! [`crate::Batches`] side receives them with `blocking_recv`, so it must be
//! consumed on a blocking thread (`spawn_blocking`), never on the runtime.
//! `extract` fetches the first page itself, so that a wrong URL or a refused
//! token fails the extraction at once.
//!
//! Paging stops at an empty page, at a page with fewer records than
//! `page_size` (kinds `page` and `offset`), or at a page naming no next
//! cursor or link. An API that misbehaves is stopped with an error naming
//! the URL (scheme, host and path only: never the query, which may carry a
//! key) and the page, never showing the body: an HTML or XML answer, a body
//! that is not JSON, the same cursor or link twice, the same page twice, a
//! next link to another host, more than `max_pages` pages.
//!
//! Requests that fail in a way that may pass (connection errors, timeouts,
//! HTTP 408, 429 and 5xx but 501) are retried `retries` times, waiting
//! `retry_backoff` seconds doubled at each retry, with jitter, at least what
//! `Retry-After` asks (seconds or an HTTP date), at most `max_retry_wait`.
//! After the last retry the source is [`SourceError::Unreachable`]; 401 and
//! 403 make it [`SourceError::Refused`] at once.
//!
//! Secrets (tokens, passwords, API keys) come from an environment variable
//! or a file named in `auth`, never from the configuration itself; they are
//! held in a type whose `Debug` shows nothing, sent as sensitive headers,
//! and never appear in messages. Redirects are followed only within the
//! API's own host, so credentials never leave it.

use crate::flatten::{self, RecordBatcher, WalkError};
use crate::formats::SourceBatch;
use crate::http::auth::Credentials;
pub use crate::http::auth::{AuthConfig, AuthKind};
use crate::http::{client_builder, is_loopback, shown_url};
use crate::{DEFAULT_BATCH_ROWS, ExtractContext, Extraction, SourceError};
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::{BTreeMap, HashSet};
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use url::Url;

const DEFAULT_MAX_PAGES: u64 = 10_000;
const DEFAULT_RETRIES: u32 = 5;
const MAX_RETRIES: u32 = 20;
const DEFAULT_RETRY_BACKOFF_SECONDS: f64 = 1.0;
const DEFAULT_MAX_RETRY_WAIT_SECONDS: f64 = 60.0;
const DEFAULT_TIMEOUT_SECONDS: f64 = 60.0;
const MAX_TIMEOUT_SECONDS: f64 = 3600.0;
const DEFAULT_MAX_PAGE_BYTES: u64 = 64 << 20;
/// Batches waiting in the channel.
const CHANNEL_BATCHES: usize = 2;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpApiConfig {
    /// The endpoint listing the records (`https://...`). It may carry fixed
    /// query parameters; never credentials (see `auth`).
    pub url: String,
    /// `GET` (the default) or `POST`.
    #[serde(default)]
    pub method: HttpMethod,
    /// Query parameters sent with every request, beside the paging ones
    /// (`query = { uf = "PE", ano = 2024 }`). Not for secrets.
    #[serde(default)]
    pub query: BTreeMap<String, QueryValue>,
    /// JSON body sent with `POST` requests.
    pub body: Option<serde_json::Value>,
    /// Extra request headers (`Accept`, a version header). Not for secrets:
    /// credentials go in `auth`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Dotted path to the array of records in each response (`data.items`).
    /// None: the response is the array, or an object holding exactly one
    /// array.
    pub record_path: Option<String>,
    /// How the API splits the records into pages (default: one request).
    /// Boxed to keep [`crate::SourceConfig`] small.
    #[serde(default)]
    pub pagination: Box<PaginationConfig>,
    /// Most pages fetched in one extraction: a safety stop for APIs that
    /// never end (default 10 000). Reaching it with pages left is an error.
    #[serde(default = "default_max_pages")]
    pub max_pages: u64,
    /// How requests authenticate; none: they do not.
    pub auth: Option<AuthConfig>,
    /// Most requests per second (retries included); none: no limit.
    pub rate_limit_per_second: Option<f64>,
    /// Retries of a request that failed in a way that may pass (default 5,
    /// at most 20).
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Seconds before the first retry, doubled at each next one (default 1).
    #[serde(default = "default_retry_backoff")]
    pub retry_backoff: f64,
    /// Longest wait before a retry, in seconds, whatever `Retry-After` asks
    /// (default 60).
    #[serde(default = "default_max_retry_wait")]
    pub max_retry_wait: f64,
    /// Seconds a request may take, from connecting to the end of the body
    /// (default 60).
    #[serde(default = "default_timeout")]
    pub timeout: f64,
    /// Largest response body accepted (default 64 MiB).
    #[serde(default = "default_max_page_bytes")]
    pub max_page_bytes: u64,
    /// Fetch only what changed since the last run.
    pub incremental: Option<IncrementalConfig>,
}

fn default_max_pages() -> u64 {
    DEFAULT_MAX_PAGES
}
fn default_retries() -> u32 {
    DEFAULT_RETRIES
}
fn default_retry_backoff() -> f64 {
    DEFAULT_RETRY_BACKOFF_SECONDS
}
fn default_max_retry_wait() -> f64 {
    DEFAULT_MAX_RETRY_WAIT_SECONDS
}
fn default_timeout() -> f64 {
    DEFAULT_TIMEOUT_SECONDS
}
fn default_max_page_bytes() -> u64 {
    DEFAULT_MAX_PAGE_BYTES
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub enum HttpMethod {
    #[default]
    #[serde(rename = "GET", alias = "get")]
    Get,
    #[serde(rename = "POST", alias = "post")]
    Post,
}

/// A query parameter's value as written in TOML.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum QueryValue {
    Text(String),
    Integer(i64),
    Number(f64),
    Boolean(bool),
}

impl QueryValue {
    fn to_text(&self) -> String {
        match self {
            QueryValue::Text(text) => text.clone(),
            QueryValue::Integer(n) => n.to_string(),
            QueryValue::Number(n) => n.to_string(),
            QueryValue::Boolean(b) => b.to_string(),
        }
    }
}

/// Paging. Each kind uses its own keys; setting another kind's key is a
/// configuration problem.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaginationConfig {
    /// `none` (one request, the default), `page`, `offset`, `cursor` or
    /// `next_link`.
    #[serde(default)]
    pub kind: PaginationKind,
    /// `page`: the query parameter holding the page number.
    pub page_param: Option<String>,
    /// `page`: the query parameter holding the page size (needs `page_size`).
    pub size_param: Option<String>,
    /// `page`, `offset`: records per page. Sent in `size_param` or
    /// `limit_param`; a page with fewer records is the last one.
    pub page_size: Option<u64>,
    /// `page`: the first page's number (default 1).
    pub start_page: Option<u64>,
    /// `offset`: the query parameter holding the number of records to skip
    /// (0, then the records received so far).
    pub offset_param: Option<String>,
    /// `offset`: the query parameter holding the page size (needs
    /// `page_size`).
    pub limit_param: Option<String>,
    /// `cursor`: the query parameter that carries the cursor to the API.
    pub cursor_param: Option<String>,
    /// `cursor`: dotted path of the next cursor in each response
    /// (`meta.next_cursor`); absent, null or empty: the last page.
    pub cursor_path: Option<String>,
    /// `next_link`: dotted path of the next page's URL in each response
    /// (`links.next`; relative URLs are resolved). None: the `Link` header's
    /// `rel="next"`.
    pub next_link_path: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PaginationKind {
    #[default]
    None,
    Page,
    Offset,
    Cursor,
    NextLink,
}

impl PaginationKind {
    fn name(self) -> &'static str {
        match self {
            PaginationKind::None => "none",
            PaginationKind::Page => "page",
            PaginationKind::Offset => "offset",
            PaginationKind::Cursor => "cursor",
            PaginationKind::NextLink => "next_link",
        }
    }
}

/// Incremental extraction: the API filters by a parameter, Lagoa remembers
/// the highest value of a field.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncrementalConfig {
    /// The query parameter that receives the watermark saved by the last
    /// run (not sent on the first run).
    pub param: String,
    /// The record field (flattened name, `meta.atualizado_em`) whose highest
    /// value becomes the next watermark: compared as numbers when both are
    /// numbers, else as text (ISO dates compare right as text).
    pub cursor_field: String,
}

impl HttpApiConfig {
    /// Every problem of the configuration, at once.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        self.url_problems(&mut problems);
        for name in self.query.keys() {
            if name.trim().is_empty() {
                problems.push("query has a parameter with no name".into());
            } else if looks_like_a_credential(name) {
                problems.push(format!(
                    "query.{name} looks like a credential; secrets go in [auth] \
                     (kind = \"api_key\", query_param = \"{name}\"), read from the environment or a file"
                ));
            }
        }
        self.header_problems(&mut problems);
        if self.body.is_some() && self.method != HttpMethod::Post {
            problems.push("body is sent only with method = \"POST\"".into());
        }
        if let Some(key) = self.body.as_ref().and_then(credential_key) {
            problems.push(format!(
                "body.{key} looks like a credential; secrets go in [auth], read from the \
                 environment or a file"
            ));
        }
        if let Some(path) = &self.record_path
            && let Err(problem) = flatten::parse_path(path)
        {
            problems.push(format!("record_path {problem}"));
        }
        problems.extend(self.pagination.problems());
        if self.max_pages == 0 {
            problems.push("max_pages must be at least 1".into());
        }
        if let Some(rate) = self.rate_limit_per_second
            && !(rate.is_finite() && rate > 0.0)
        {
            problems.push("rate_limit_per_second must be a positive number".into());
        }
        if self.retries > MAX_RETRIES {
            problems.push(format!("retries must be at most {MAX_RETRIES}"));
        }
        for (name, seconds) in [
            ("retry_backoff", self.retry_backoff),
            ("max_retry_wait", self.max_retry_wait),
            ("timeout", self.timeout),
        ] {
            if !(seconds.is_finite() && seconds > 0.0 && seconds <= MAX_TIMEOUT_SECONDS) {
                problems.push(format!(
                    "{name} must be a number of seconds above 0 and at most {MAX_TIMEOUT_SECONDS}"
                ));
            }
        }
        if self.max_page_bytes == 0 {
            problems.push("max_page_bytes must be at least 1".into());
        }
        if let Some(auth) = &self.auth {
            problems.extend(auth.problems());
        }
        if let Some(incremental) = &self.incremental {
            if incremental.param.trim().is_empty() {
                problems.push("incremental.param is empty".into());
            }
            if incremental.cursor_field.trim().is_empty() {
                problems.push("incremental.cursor_field is empty".into());
            }
        }
        problems
    }

    fn url_problems(&self, problems: &mut Vec<String>) {
        let url = match Url::parse(&self.url) {
            Ok(url) => url,
            Err(e) => {
                problems.push(format!("url is not a valid URL ({e})"));
                return;
            }
        };
        if !matches!(url.scheme(), "http" | "https") {
            problems.push("url must start with https:// (or http://)".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            problems.push(
                "url holds credentials; secrets go in [auth], read from the environment or a file"
                    .into(),
            );
        }
        for (name, _) in url.query_pairs() {
            if looks_like_a_credential(&name) {
                problems.push(format!(
                    "url's query parameter `{name}` looks like a credential; secrets go in [auth] \
                     (kind = \"api_key\", query_param = \"{name}\")"
                ));
            }
        }
        if url.scheme() == "http" && self.auth.is_some() && !is_loopback(&url) {
            problems.push(
                "url is plain http: the credentials in [auth] would travel in clear; use https"
                    .into(),
            );
        }
    }

    fn header_problems(&self, problems: &mut Vec<String>) {
        for (name, value) in &self.headers {
            if HeaderName::from_bytes(name.as_bytes()).is_err() {
                problems.push(format!("headers: `{name}` is not a valid header name"));
            } else if is_credential_header(name) {
                problems.push(format!(
                    "headers.{name} would keep credentials in the configuration; use [auth]"
                ));
            }
            if HeaderValue::from_str(value).is_err() {
                problems.push(format!(
                    "headers.{name} holds characters not allowed in a header"
                ));
            }
        }
    }

    /// Does the real thing once: fetches the first page and reads its
    /// records.
    pub async fn healthcheck(&self) -> Result<(), SourceError> {
        let mut api = Api::new(self, None)?;
        let pager = Pager::new(self);
        let spec = Arc::new(PageSpec::new(self)?);
        let url = pager.first_url(&api.base);
        let page = api.fetch(&url, 1).await?;
        let shown = api.shown.clone();
        let batcher = RecordBatcher::new(DEFAULT_BATCH_ROWS);
        tokio::task::spawn_blocking(move || parse_page(&page, 1, &spec, &shown, batcher, None))
            .await
            .map_err(|e| SourceError::Internal(format!("reading the first page stopped: {e}")))??;
        Ok(())
    }

    /// Starts an extraction: fetches the first page (so that errors such as
    /// a refused token come out here), then leaves the rest to a task.
    pub async fn extract(&self, ctx: &ExtractContext) -> Result<Extraction, SourceError> {
        let mut api = Api::new(self, ctx.watermark.as_deref())?;
        let pager = Pager::new(self);
        let spec = Arc::new(PageSpec::new(self)?);
        let first_url = pager.first_url(&api.base);
        let first = api.fetch(&first_url, 1).await?;
        let (sender, receiver) = mpsc::channel(CHANNEL_BATCHES);
        let next_watermark = Arc::new(Mutex::new(None));
        let name = api.shown.clone();
        let run = Run {
            api,
            pager,
            spec,
            batcher: Some(RecordBatcher::new(ctx.batch_rows)),
            watermark: ctx.watermark.clone(),
            incremental: self.incremental.is_some(),
            sender,
            next_watermark: Arc::clone(&next_watermark),
        };
        tracing::info!(source = %name, "API extraction started");
        let task = tokio::spawn(run.run(first_url, first));
        Ok(Extraction {
            name,
            batches: Box::new(ApiBatches {
                receiver,
                finished: false,
                task: task.abort_handle(),
            }),
            next_watermark,
        })
    }
}

impl PaginationConfig {
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let kind = self.kind;
        let keys: [(&str, bool, &[PaginationKind]); 9] = [
            (
                "page_param",
                self.page_param.is_some(),
                &[PaginationKind::Page],
            ),
            (
                "size_param",
                self.size_param.is_some(),
                &[PaginationKind::Page],
            ),
            (
                "page_size",
                self.page_size.is_some(),
                &[PaginationKind::Page, PaginationKind::Offset],
            ),
            (
                "start_page",
                self.start_page.is_some(),
                &[PaginationKind::Page],
            ),
            (
                "offset_param",
                self.offset_param.is_some(),
                &[PaginationKind::Offset],
            ),
            (
                "limit_param",
                self.limit_param.is_some(),
                &[PaginationKind::Offset],
            ),
            (
                "cursor_param",
                self.cursor_param.is_some(),
                &[PaginationKind::Cursor],
            ),
            (
                "cursor_path",
                self.cursor_path.is_some(),
                &[PaginationKind::Cursor],
            ),
            (
                "next_link_path",
                self.next_link_path.is_some(),
                &[PaginationKind::NextLink],
            ),
        ];
        for (key, set, kinds) in keys {
            if set && !kinds.contains(&kind) {
                problems.push(format!(
                    "pagination.{key} does not apply to kind = \"{}\"",
                    kind.name()
                ));
            }
        }
        let required: &[(&str, &Option<String>)] = match kind {
            PaginationKind::Page => &[("page_param", &self.page_param)],
            PaginationKind::Offset => &[("offset_param", &self.offset_param)],
            PaginationKind::Cursor => &[
                ("cursor_param", &self.cursor_param),
                ("cursor_path", &self.cursor_path),
            ],
            PaginationKind::None | PaginationKind::NextLink => &[],
        };
        for (key, value) in required {
            if value.is_none() {
                problems.push(format!(
                    "pagination kind = \"{}\" needs pagination.{key}",
                    kind.name()
                ));
            }
        }
        for (key, value) in [
            ("page_param", &self.page_param),
            ("size_param", &self.size_param),
            ("offset_param", &self.offset_param),
            ("limit_param", &self.limit_param),
            ("cursor_param", &self.cursor_param),
        ] {
            if value.as_deref().is_some_and(|name| name.trim().is_empty()) {
                problems.push(format!("pagination.{key} is empty"));
            }
        }
        for (key, value) in [
            ("cursor_path", &self.cursor_path),
            ("next_link_path", &self.next_link_path),
        ] {
            if let Some(path) = value
                && let Err(problem) = flatten::parse_path(path)
            {
                problems.push(format!("pagination.{key} {problem}"));
            }
        }
        for (key, value) in [
            ("size_param", &self.size_param),
            ("limit_param", &self.limit_param),
        ] {
            if value.is_some() && self.page_size.is_none() {
                problems.push(format!("pagination.{key} needs pagination.page_size"));
            }
        }
        if self.page_size == Some(0) {
            problems.push("pagination.page_size must be at least 1".into());
        }
        problems
    }
}

/// A query parameter or header name that usually carries a secret.
fn looks_like_a_credential(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "token", "secret", "password", "senha", "apikey", "api_key", "api-key",
    ]
    .iter()
    .any(|word| name.contains(word))
}

/// The first key of a JSON body, at any depth, that looks like a credential.
fn credential_key(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::Object(members) => members.iter().find_map(|(key, value)| {
            if looks_like_a_credential(key) {
                Some(key.clone())
            } else {
                credential_key(value)
            }
        }),
        serde_json::Value::Array(items) => items.iter().find_map(credential_key),
        _ => None,
    }
}

fn is_credential_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    matches!(
        name.as_str(),
        "authorization" | "proxy-authorization" | "cookie"
    ) || looks_like_a_credential(&name)
}

fn seconds(value: f64, fallback: f64) -> Duration {
    Duration::try_from_secs_f64(value)
        .or_else(|_| Duration::try_from_secs_f64(fallback))
        .unwrap_or(Duration::from_secs(1))
}

/// The client side of one API: what every request needs.
#[derive(Debug)]
struct Api {
    client: reqwest::Client,
    method: reqwest::Method,
    /// The configured URL with the fixed query parameters (and the
    /// incremental one), without paging parameters or credentials.
    base: Url,
    /// Method and URL as messages show them.
    shown: String,
    body: Option<serde_json::Value>,
    headers: HeaderMap,
    credentials: Credentials,
    retries: u32,
    retry_backoff: Duration,
    max_retry_wait: Duration,
    timeout: Duration,
    max_page_bytes: u64,
    min_interval: Option<Duration>,
    next_request_at: Option<Instant>,
}

impl Api {
    fn new(config: &HttpApiConfig, watermark: Option<&str>) -> Result<Api, SourceError> {
        let problems = config.problems();
        if !problems.is_empty() {
            return Err(SourceError::Config(problems));
        }
        let mut base = Url::parse(&config.url)
            .map_err(|e| SourceError::Config(vec![format!("url is not a valid URL ({e})")]))?;
        let mut pairs: Vec<(String, String)> = config
            .query
            .iter()
            .map(|(name, value)| (name.clone(), value.to_text()))
            .collect();
        if let (Some(incremental), Some(watermark)) = (&config.incremental, watermark) {
            pairs.push((incremental.param.clone(), watermark.to_owned()));
        }
        if !pairs.is_empty() {
            base.query_pairs_mut().extend_pairs(pairs);
        }
        let method = match config.method {
            HttpMethod::Get => reqwest::Method::GET,
            HttpMethod::Post => reqwest::Method::POST,
        };
        let mut headers = HeaderMap::new();
        for (name, value) in &config.headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                SourceError::Config(vec![format!(
                    "headers: `{name}` is not a valid header name"
                )])
            })?;
            let value = HeaderValue::from_str(value).map_err(|_| {
                SourceError::Config(vec![format!(
                    "headers.{name} holds characters not allowed in a header"
                )])
            })?;
            headers.insert(name, value);
        }
        headers
            .entry(header::ACCEPT)
            .or_insert(HeaderValue::from_static("application/json"));
        let timeout = seconds(config.timeout, DEFAULT_TIMEOUT_SECONDS);
        Ok(Api {
            client: build_client(timeout)?,
            shown: format!("{} {}", method, shown_url(&base)),
            method,
            base,
            body: config.body.clone(),
            headers,
            credentials: Credentials::load(config.auth.as_ref())?,
            retries: config.retries,
            retry_backoff: seconds(config.retry_backoff, DEFAULT_RETRY_BACKOFF_SECONDS),
            max_retry_wait: seconds(config.max_retry_wait, DEFAULT_MAX_RETRY_WAIT_SECONDS),
            timeout,
            max_page_bytes: config.max_page_bytes,
            min_interval: config
                .rate_limit_per_second
                .and_then(|rate| Duration::try_from_secs_f64(1.0 / rate).ok()),
            next_request_at: None,
        })
    }

    /// One page, retried as the module docs say.
    async fn fetch(&mut self, url: &Url, page: u64) -> Result<FetchedPage, SourceError> {
        let url = self.credentials.add_to(url);
        let mut retried = 0;
        loop {
            self.wait_for_rate_limit().await;
            let failure = match self.attempt(&url, page).await {
                Ok(fetched) => return Ok(fetched),
                Err(Attempt::Fail(e)) => return Err(e),
                Err(Attempt::Retry(failure)) => failure,
            };
            if retried >= self.retries {
                return Err(SourceError::Unreachable {
                    source_name: self.shown.clone(),
                    message: format!(
                        "{} on page {page} (tried {} times)",
                        failure.reason,
                        retried + 1
                    ),
                });
            }
            let wait = self.wait_before_retry(retried, failure.retry_after);
            tracing::warn!(
                source = %self.shown,
                page,
                retry = retried + 1,
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                reason = %failure.reason,
                "API request failed; retrying"
            );
            tokio::time::sleep(wait).await;
            retried += 1;
        }
    }

    async fn wait_for_rate_limit(&mut self) {
        let Some(interval) = self.min_interval else {
            return;
        };
        if let Some(at) = self.next_request_at
            && at > Instant::now()
        {
            tokio::time::sleep_until(at).await;
        }
        self.next_request_at = Some(Instant::now() + interval);
    }

    /// Exponential backoff with jitter, at least what the API asked, capped.
    fn wait_before_retry(&self, retried: u32, retry_after: Option<Duration>) -> Duration {
        let exponential = self
            .retry_backoff
            .saturating_mul(2u32.saturating_pow(retried))
            .min(self.max_retry_wait);
        let jittered = exponential.mul_f64(0.5 + 0.5 * random_fraction());
        retry_after
            .map_or(jittered, |asked| asked.max(jittered))
            .min(self.max_retry_wait)
    }

    async fn attempt(&self, url: &Url, page: u64) -> Result<FetchedPage, Attempt> {
        let mut request = self
            .client
            .request(self.method.clone(), url.clone())
            .headers(self.headers.clone());
        request = self.credentials.apply(request);
        if let Some(body) = &self.body {
            request = request.json(body);
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| self.request_failed(&e, page))?;
        let status = response.status();
        if !status.is_success() {
            return Err(self.status_failed(status, response.headers(), page));
        }
        let content_type = content_type(response.headers());
        if content_type.contains("html") || content_type.contains("xml") {
            return Err(Attempt::Fail(self.bad_page(
                page,
                format!(
                    "the API answered with {content_type} instead of JSON (body not shown); \
                     check the URL and the credentials"
                ),
            )));
        }
        if response
            .content_length()
            .is_some_and(|length| length > self.max_page_bytes)
        {
            return Err(Attempt::Fail(self.too_large(page)));
        }
        let link_next = next_link_from_headers(response.headers());
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.request_failed(&e, page))?
        {
            if (body.len() + chunk.len()) as u64 > self.max_page_bytes {
                return Err(Attempt::Fail(self.too_large(page)));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(FetchedPage {
            body,
            link_next,
            content_type,
        })
    }

    fn bad_page(&self, page: u64, message: String) -> SourceError {
        SourceError::input(format!("{}, page {page}", self.shown), message)
    }

    fn too_large(&self, page: u64) -> SourceError {
        self.bad_page(
            page,
            format!(
                "the response is larger than max_page_bytes ({} bytes); ask for smaller pages \
                 (pagination.page_size) or raise max_page_bytes",
                self.max_page_bytes
            ),
        )
    }

    fn request_failed(&self, error: &reqwest::Error, page: u64) -> Attempt {
        if error.is_builder() {
            return Attempt::Fail(SourceError::Internal(format!(
                "{}: cannot build the request for page {page}",
                self.shown
            )));
        }
        if error.is_redirect() {
            return Attempt::Fail(SourceError::Refused {
                source_name: self.shown.clone(),
                message: format!("too many redirects on page {page}"),
            });
        }
        let what = if error.is_timeout() {
            format!("no complete answer within {} s", self.timeout.as_secs_f64())
        } else if error.is_connect() {
            "cannot connect".to_owned()
        } else if error.is_body() || error.is_decode() {
            "the connection broke while reading the answer".to_owned()
        } else {
            "the request failed".to_owned()
        };
        let reason = match io_error_kind(error) {
            Some(kind) if kind != std::io::ErrorKind::Other => format!("{what} ({kind})"),
            _ => what,
        };
        Attempt::Retry(Failure {
            reason,
            retry_after: None,
        })
    }

    fn status_failed(
        &self,
        status: reqwest::StatusCode,
        headers: &HeaderMap,
        page: u64,
    ) -> Attempt {
        let refused = |message: String| {
            Attempt::Fail(SourceError::Refused {
                source_name: self.shown.clone(),
                message,
            })
        };
        match status.as_u16() {
            401 | 403 => refused(format!(
                "answered HTTP {status} on page {page}: check the credentials ([auth]) \
                 and what they are allowed to read"
            )),
            408 | 429 | 500 | 502..=599 => Attempt::Retry(Failure {
                reason: format!("answered HTTP {status}"),
                retry_after: retry_after(headers),
            }),
            300..=399 => refused(format!(
                "answered HTTP {status} on page {page}, a redirect to another host, which is \
                 not followed (credentials must not leave the API's host); configure the final URL"
            )),
            _ => refused(format!("answered HTTP {status} on page {page}")),
        }
    }
}

fn build_client(timeout: Duration) -> Result<reqwest::Client, SourceError> {
    client_builder(timeout.min(Duration::from_secs(30)))
        .timeout(timeout)
        .build()
        .map_err(|e| SourceError::Internal(format!("cannot set up the HTTP client: {e}")))
}

/// The content type's media type, lowercased and cut to printable text.
fn content_type(headers: &HeaderMap) -> String {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return "no content type".into();
    };
    let text = String::from_utf8_lossy(value.as_bytes());
    let media_type = text
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    media_type
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(80)
        .collect()
}

fn io_error_kind(error: &reqwest::Error) -> Option<std::io::ErrorKind> {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        source = cause.source();
    }
    None
}

/// `Retry-After` as seconds or as an HTTP date (in the past: no wait).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = date.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// The `rel="next"` target of the `Link` headers.
fn next_link_from_headers(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::LINK)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(next_link)
}

/// Parses `<https://api/x?page=2>; rel="next", <...>; rel="last"`.
fn next_link(value: &str) -> Option<String> {
    let mut rest = value;
    while let Some(start) = rest.find('<') {
        let after = &rest[start + 1..];
        let end = after.find('>')?;
        let target = after[..end].trim();
        let tail = &after[end + 1..];
        let params_end = tail.find('<').unwrap_or(tail.len());
        if tail[..params_end].split([';', ',']).any(is_rel_next) {
            return Some(target.to_owned());
        }
        rest = &tail[params_end..];
    }
    None
}

fn is_rel_next(param: &str) -> bool {
    let Some((key, value)) = param.split_once('=') else {
        return false;
    };
    key.trim().eq_ignore_ascii_case("rel")
        && value
            .trim()
            .trim_matches('"')
            .split_ascii_whitespace()
            .any(|rel| rel.eq_ignore_ascii_case("next"))
}

/// A number in [0, 1) for jitter, from std's randomly keyed hasher.
fn random_fraction() -> f64 {
    let bits = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// A cursor's or a body's fingerprint, to notice repeats without keeping
/// them (a collision between two of at most `max_pages` values is
/// negligible).
fn fingerprint(bytes: &[u8]) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut hasher);
    hasher.finish()
}

enum Attempt {
    /// May pass: retry.
    Retry(Failure),
    /// Will not pass.
    Fail(SourceError),
}

struct Failure {
    reason: String,
    retry_after: Option<Duration>,
}

/// A response body, read whole (at most `max_page_bytes`).
struct FetchedPage {
    body: Vec<u8>,
    link_next: Option<String>,
    content_type: String,
}

/// Where things are in a page.
struct PageSpec {
    record_path: Vec<String>,
    cursor_path: Option<Vec<String>>,
    next_link_path: Option<Vec<String>>,
    cursor_field: Option<String>,
}

impl PageSpec {
    fn new(config: &HttpApiConfig) -> Result<PageSpec, SourceError> {
        let path =
            |key: &str, value: &Option<String>| -> Result<Option<Vec<String>>, SourceError> {
                value
                    .as_deref()
                    .map(flatten::parse_path)
                    .transpose()
                    .map_err(|problem| SourceError::Config(vec![format!("{key} {problem}")]))
            };
        Ok(PageSpec {
            record_path: path("record_path", &config.record_path)?.unwrap_or_default(),
            cursor_path: path("pagination.cursor_path", &config.pagination.cursor_path)?,
            next_link_path: path(
                "pagination.next_link_path",
                &config.pagination.next_link_path,
            )?,
            cursor_field: config.incremental.as_ref().map(|i| i.cursor_field.clone()),
        })
    }
}

/// What paging needs to know of a page.
struct PageSummary {
    records: u64,
    cursor: Option<String>,
    next_link: Option<String>,
    body_fingerprint: u64,
}

struct ParsedPage {
    batcher: RecordBatcher,
    batches: Vec<SourceBatch>,
    watermark: Option<String>,
    summary: PageSummary,
}

/// Flattens a page's records into `batcher` (full batches come out in
/// `batches`) and finds the next cursor or link. CPU work: runs on a
/// blocking thread.
fn parse_page(
    page: &FetchedPage,
    number: u64,
    spec: &PageSpec,
    shown: &str,
    mut batcher: RecordBatcher,
    mut watermark: Option<String>,
) -> Result<ParsedPage, SourceError> {
    let location = format!("{shown}, page {number}");
    let mut batches = Vec::new();
    let mut records = 0u64;
    let walked = {
        let mut sink = |raw: Box<RawValue>| -> Result<(), SourceError> {
            records += 1;
            let reject_at = format!("page {number}, record {records}");
            let fields = match flatten::flatten_record(raw.get()) {
                Ok(fields) => fields,
                Err(reason) => {
                    batcher.reject(reject_at, reason, raw.get().as_bytes());
                    return Ok(());
                }
            };
            let cursor_value = spec.cursor_field.as_deref().and_then(|field| {
                fields
                    .iter()
                    .find(|(path, _)| path == field)
                    .and_then(|(_, value)| value.clone())
            });
            match batcher.push(fields, None) {
                Ok(()) => {
                    if let Some(value) = cursor_value {
                        raise_watermark(&mut watermark, value);
                    }
                }
                Err(reason) => batcher.reject(reject_at, reason, raw.get().as_bytes()),
            }
            if batcher.is_full()
                && let Some(batch) = batcher.take_batch()?
            {
                batches.push(batch);
            }
            Ok(())
        };
        let mut deserializer = serde_json::Deserializer::from_slice(&page.body);
        flatten::walk_records(&mut deserializer, &spec.record_path, None, &mut sink)
            .and_then(|()| deserializer.end().map_err(WalkError::Json))
    };
    match walked {
        Ok(()) => {}
        Err(WalkError::Sink(e)) => return Err(e),
        Err(WalkError::Shape(message)) => return Err(SourceError::input(location, message)),
        Err(WalkError::Json(e)) => {
            return Err(SourceError::input(
                location,
                format!(
                    "the response ({}) is not valid JSON: the fault is at line {}, column {} \
                     (body not shown)",
                    page.content_type,
                    e.line(),
                    e.column()
                ),
            ));
        }
    }
    let find = |key: &str, path: &Option<Vec<String>>| -> Result<Option<String>, SourceError> {
        match path {
            Some(path) => flatten::find_scalar(&page.body, path)
                .map_err(|problem| SourceError::input(&location, format!("{key}: {problem}"))),
            None => Ok(None),
        }
    };
    let cursor = find("pagination.cursor_path", &spec.cursor_path)?;
    let next_link = match &spec.next_link_path {
        Some(_) => find("pagination.next_link_path", &spec.next_link_path)?,
        None => page.link_next.clone(),
    };
    Ok(ParsedPage {
        batcher,
        batches,
        watermark,
        summary: PageSummary {
            records,
            cursor,
            next_link,
            body_fingerprint: fingerprint(&page.body),
        },
    })
}

/// Keeps the highest value: as numbers when both are numbers, else as text.
fn raise_watermark(watermark: &mut Option<String>, value: String) {
    let higher = match watermark.as_deref() {
        None => true,
        Some(current) => match (current.parse::<f64>(), value.parse::<f64>()) {
            (Ok(current), Ok(candidate)) => candidate > current,
            _ => value.as_str() > current,
        },
    };
    if higher {
        *watermark = Some(value);
    }
}

/// Where the next page is.
struct Pager {
    config: PaginationConfig,
    max_pages: u64,
    /// `offset`: records received so far.
    offset: u64,
    /// Fingerprints of the cursors or links seen.
    seen: HashSet<u64>,
    previous_body: Option<u64>,
}

impl Pager {
    fn new(config: &HttpApiConfig) -> Pager {
        Pager {
            config: (*config.pagination).clone(),
            max_pages: config.max_pages,
            offset: 0,
            seen: HashSet::new(),
            previous_body: None,
        }
    }

    fn first_url(&self, base: &Url) -> Url {
        self.url_for(base, 1, None)
    }

    /// `base` with the paging parameters of page `number`.
    fn url_for<'a>(&'a self, base: &Url, number: u64, cursor: Option<&str>) -> Url {
        let config = &self.config;
        let mut pairs: Vec<(&str, String)> = Vec::new();
        let size = |param: &'a Option<String>| -> Option<(&'a str, String)> {
            Some((param.as_deref()?, config.page_size?.to_string()))
        };
        match config.kind {
            PaginationKind::Page => {
                if let Some(param) = &config.page_param {
                    let first = config.start_page.unwrap_or(1);
                    let page = first.saturating_add(number.saturating_sub(1));
                    pairs.push((param, page.to_string()));
                }
                pairs.extend(size(&config.size_param));
            }
            PaginationKind::Offset => {
                if let Some(param) = &config.offset_param {
                    pairs.push((param, self.offset.to_string()));
                }
                pairs.extend(size(&config.limit_param));
            }
            PaginationKind::Cursor => {
                if let (Some(param), Some(cursor)) = (&config.cursor_param, cursor) {
                    pairs.push((param, cursor.to_owned()));
                }
            }
            PaginationKind::None | PaginationKind::NextLink => {}
        }
        let mut url = base.clone();
        if !pairs.is_empty() {
            url.query_pairs_mut().extend_pairs(pairs);
        }
        url
    }

    /// After page `number`, fetched from `current`: the next page's URL, or
    /// `None` when this was the last page.
    fn next(
        &mut self,
        base: &Url,
        current: &Url,
        number: u64,
        page: &PageSummary,
        shown: &str,
    ) -> Result<Option<Url>, SourceError> {
        let fail = |message: String| SourceError::input(format!("{shown}, page {number}"), message);
        if page.records == 0 {
            return Ok(None);
        }
        let next = match self.config.kind {
            PaginationKind::None => None,
            PaginationKind::Page | PaginationKind::Offset => {
                if self.previous_body == Some(page.body_fingerprint) {
                    return Err(fail(format!(
                        "the API returned the same page twice (pages {} and {number}); \
                         does it read the paging parameters?",
                        number - 1
                    )));
                }
                self.previous_body = Some(page.body_fingerprint);
                self.offset = self.offset.saturating_add(page.records);
                let short = self
                    .config
                    .page_size
                    .is_some_and(|size| page.records < size);
                (!short).then(|| self.url_for(base, number + 1, None))
            }
            PaginationKind::Cursor => match &page.cursor {
                None => None,
                Some(cursor) => {
                    if !self.seen.insert(fingerprint(cursor.as_bytes())) {
                        return Err(fail(format!(
                            "the API returned the same cursor twice (page {number})"
                        )));
                    }
                    Some(self.url_for(base, number + 1, Some(cursor)))
                }
            },
            PaginationKind::NextLink => match &page.next_link {
                None => None,
                Some(link) => Some(self.follow_link(base, current, link, number, shown)?),
            },
        };
        if next.is_some() && number >= self.max_pages {
            return Err(fail(format!(
                "the API still has pages after max_pages = {}; raise max_pages if it is \
                 really that large",
                self.max_pages
            )));
        }
        Ok(next)
    }

    fn follow_link(
        &mut self,
        base: &Url,
        current: &Url,
        link: &str,
        number: u64,
        shown: &str,
    ) -> Result<Url, SourceError> {
        let location = format!("{shown}, page {number}");
        let next = current
            .join(link)
            .map_err(|_| SourceError::input(&location, "the API's next link is not a valid URL"))?;
        if next.origin() != base.origin() {
            return Err(SourceError::Refused {
                source_name: shown.to_owned(),
                message: format!(
                    "the next link of page {number} points to another host, which is not \
                     followed (credentials must not leave the API's host)"
                ),
            });
        }
        self.seen.insert(fingerprint(current.as_str().as_bytes()));
        if !self.seen.insert(fingerprint(next.as_str().as_bytes())) {
            return Err(SourceError::input(
                location,
                format!("the API returned the same next link twice (page {number})"),
            ));
        }
        Ok(next)
    }
}

/// What the extraction task sends.
enum Message {
    Batch(SourceBatch),
    Failed(SourceError),
    Done,
}

/// Why the extraction task stopped early.
enum Stop {
    /// The batches were dropped: nobody wants the rest.
    ConsumerGone,
    Failed(SourceError),
}

impl From<SourceError> for Stop {
    fn from(error: SourceError) -> Self {
        Stop::Failed(error)
    }
}

/// The extraction task's state.
struct Run {
    api: Api,
    pager: Pager,
    spec: Arc<PageSpec>,
    /// Lent to the blocking parse of each page.
    batcher: Option<RecordBatcher>,
    /// The highest cursor value so far (starting from the saved one).
    watermark: Option<String>,
    incremental: bool,
    sender: mpsc::Sender<Message>,
    next_watermark: Arc<Mutex<Option<String>>>,
}

impl Run {
    async fn run(mut self, url: Url, first: FetchedPage) {
        let last = match self.fetch_all(url, first).await {
            Ok(()) => Message::Done,
            Err(Stop::Failed(e)) => Message::Failed(e),
            Err(Stop::ConsumerGone) => return,
        };
        // A send error means the consumer is gone: nobody left to tell.
        let _ = self.sender.send(last).await;
    }

    async fn fetch_all(&mut self, mut url: Url, mut page: FetchedPage) -> Result<(), Stop> {
        let mut number = 1;
        loop {
            let summary = self.take_page(page, number).await?;
            let next = self
                .pager
                .next(&self.api.base, &url, number, &summary, &self.api.shown)?;
            let Some(next) = next else {
                break;
            };
            number += 1;
            page = self.api.fetch(&next, number).await?;
            url = next;
        }
        let mut batcher = self.batcher.take().ok_or_else(lost_batcher)?;
        if let Some(batch) = batcher.take_batch()? {
            self.send(batch).await?;
        }
        if self.incremental {
            let mut slot = match self.next_watermark.lock() {
                Ok(slot) => slot,
                Err(poisoned) => poisoned.into_inner(),
            };
            *slot = self.watermark.clone();
        }
        tracing::info!(
            source = %self.api.shown,
            pages = number,
            rows = batcher.total_rows(),
            "API extraction finished"
        );
        Ok(())
    }

    /// Flattens a page on a blocking thread and sends its full batches.
    async fn take_page(&mut self, page: FetchedPage, number: u64) -> Result<PageSummary, Stop> {
        let batcher = self.batcher.take().ok_or_else(lost_batcher)?;
        let spec = Arc::clone(&self.spec);
        let shown = self.api.shown.clone();
        let watermark = self.watermark.take();
        let parsed = tokio::task::spawn_blocking(move || {
            parse_page(&page, number, &spec, &shown, batcher, watermark)
        })
        .await
        .map_err(|e| SourceError::Internal(format!("reading page {number} stopped: {e}")))??;
        self.batcher = Some(parsed.batcher);
        self.watermark = parsed.watermark;
        for batch in parsed.batches {
            self.send(batch).await?;
        }
        Ok(parsed.summary)
    }

    async fn send(&self, batch: SourceBatch) -> Result<(), Stop> {
        self.sender
            .send(Message::Batch(batch))
            .await
            .map_err(|_| Stop::ConsumerGone)
    }
}

fn lost_batcher() -> SourceError {
    SourceError::Internal("the API extraction lost its batch builder".into())
}

/// The consumer's side of the extraction task. Blocking: use it from a
/// blocking thread.
struct ApiBatches {
    receiver: mpsc::Receiver<Message>,
    finished: bool,
    task: tokio::task::AbortHandle,
}

impl Iterator for ApiBatches {
    type Item = Result<SourceBatch, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        match self.receiver.blocking_recv() {
            Some(Message::Batch(batch)) => Some(Ok(batch)),
            Some(Message::Failed(e)) => {
                self.finished = true;
                Some(Err(e))
            }
            Some(Message::Done) => {
                self.finished = true;
                None
            }
            None => {
                self.finished = true;
                Some(Err(SourceError::Internal(
                    "the API extraction stopped before its end (was the runtime shut down?)".into(),
                )))
            }
        }
    }
}

impl Drop for ApiBatches {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use axum::extract::{RawQuery, State};
    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Response};
    use axum::routing::{get, post};
    use axum::{Json, Router};
    use serde_json::{Value, json};
    use std::collections::HashMap;
    use std::io::Write;

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
        let unknown: Result<HttpApiConfig, _> =
            toml::from_str("url = \"https://x\"\ntoken = \"t\"");
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
            error.to_string().contains(
                "environment variable LAGOA_TEST_TOKEN_THAT_IS_NOT_SET (token) is not set"
            )
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
}
