//! One request at a time: the client, the rate limit, retries with backoff
//! and `Retry-After`, and failures described without the URL's query.

use super::{
    DEFAULT_MAX_RETRY_WAIT_SECONDS, DEFAULT_RETRY_BACKOFF_SECONDS, DEFAULT_TIMEOUT_SECONDS,
    HttpApiConfig, HttpMethod,
};
use crate::SourceError;
use crate::http::auth::Credentials;
use crate::http::{client_builder, shown_url};
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use std::hash::{BuildHasher, Hash, Hasher};
use std::time::Duration;
use tokio::time::Instant;
use url::Url;

pub(super) fn seconds(value: f64, fallback: f64) -> Duration {
    Duration::try_from_secs_f64(value)
        .or_else(|_| Duration::try_from_secs_f64(fallback))
        .unwrap_or(Duration::from_secs(1))
}

/// The client side of one API: what every request needs.
#[derive(Debug)]
pub(super) struct Api {
    client: reqwest::Client,
    method: reqwest::Method,
    /// The configured URL with the fixed query parameters (and the
    /// incremental one), without paging parameters or credentials.
    pub(super) base: Url,
    /// Method and URL as messages show them.
    pub(super) shown: String,
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
    pub(super) fn new(config: &HttpApiConfig, watermark: Option<&str>) -> Result<Api, SourceError> {
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
    pub(super) async fn fetch(&mut self, url: &Url, page: u64) -> Result<FetchedPage, SourceError> {
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
    pub(super) fn wait_before_retry(
        &self,
        retried: u32,
        retry_after: Option<Duration>,
    ) -> Duration {
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
pub(super) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
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
pub(super) fn next_link(value: &str) -> Option<String> {
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
pub(super) fn fingerprint(bytes: &[u8]) -> u64 {
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
pub(super) struct FetchedPage {
    pub(super) body: Vec<u8>,
    pub(super) link_next: Option<String>,
    pub(super) content_type: String,
}
