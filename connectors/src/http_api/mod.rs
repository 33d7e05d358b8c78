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

use crate::flatten::{self, RecordBatcher};
pub use crate::http::auth::{AuthConfig, AuthKind};
use crate::http::is_loopback;
use crate::{DEFAULT_BATCH_ROWS, ExtractContext, Extraction, SourceError};
use fetch::Api;
use page::{PageSpec, parse_page};
use pager::Pager;
use reqwest::header::{HeaderName, HeaderValue};
use run::{ApiBatches, Run};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use url::Url;

mod fetch;
mod page;
mod pager;
mod run;
#[cfg(test)]
mod tests;

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
