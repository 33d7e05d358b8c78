//! Files that live elsewhere: one file at an HTTP(S) URL, or every object
//! under an S3 prefix (a municipality's bucket, a portal's export).
//!
//! ```toml
//! [source]
//! type = "file"
//! url = "https://dados.exemplo.gov.br/entregas/obitos_2026_10.csv"
//! auth = { kind = "bearer", token_env = "ENTREGAS_TOKEN" }
//! ```
//!
//! ```toml
//! [source]
//! type = "file"
//! url = "s3://entregas-municipio/obitos/"   # every object under the prefix
//! pattern = "*.csv"
//! [source.s3]
//! endpoint = "https://s3.exemplo.gov.br"
//! access_key_id_env = "ENTREGAS_KEY_ID"
//! secret_access_key_env = "ENTREGAS_SECRET"
//! ```
//!
//! Nothing is spooled to local disk: the lake streams the bytes straight
//! into its raw zone (encrypted, fingerprinted), and reads the delivery back
//! from there. So only streaming formats (CSV, TSV, JSON, NDJSON, DBF, DBC,
//! optionally `.gz`) can come from a remote source.

use crate::formats::{Format, FormatOptions};
use crate::http::auth::{AuthConfig, Credentials};
use crate::http::{is_loopback, shown_url};
use crate::{Delivery, SourceError};
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// How to reach an S3-compatible bucket that is not the lake's own.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3SourceConfig {
    /// The S3 endpoint (MinIO, Ceph RGW, a state cloud); default AWS.
    pub endpoint: Option<String>,
    /// Default `us-east-1`.
    pub region: Option<String>,
    /// Plain `http://` endpoints only when this is true (trusted network).
    #[serde(default)]
    pub allow_http: bool,
    /// The environment variables holding the key pair; default the usual
    /// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`.
    pub access_key_id_env: Option<String>,
    pub secret_access_key_env: Option<String>,
}

/// Where a remote source points.
#[derive(Clone, Debug)]
pub enum RemoteUrl {
    Http(Url),
    S3 { bucket: String, prefix: String },
}

impl RemoteUrl {
    pub fn parse(text: &str) -> Result<RemoteUrl, String> {
        let url = Url::parse(text).map_err(|e| format!("url is not a valid URL: {e}"))?;
        match url.scheme() {
            "http" | "https" => {
                if url.host_str().is_none_or(str::is_empty) {
                    return Err("url has no host".into());
                }
                if !url.username().is_empty() || url.password().is_some() {
                    return Err(
                        "url carries credentials; put them in auth (token_env, password_env)"
                            .into(),
                    );
                }
                if url.path().ends_with('/') {
                    return Err(
                        "an http(s) url names one file; it ends in `/` (a listing is not read)"
                            .into(),
                    );
                }
                Ok(RemoteUrl::Http(url))
            }
            "s3" => {
                let bucket = url.host_str().unwrap_or("").to_owned();
                if bucket.is_empty() {
                    return Err("s3 url needs a bucket: s3://bucket/prefix/".into());
                }
                let prefix = url.path().trim_start_matches('/').to_owned();
                Ok(RemoteUrl::S3 { bucket, prefix })
            }
            other => Err(format!(
                "url scheme {other}:// is not supported (https://, http:// or s3://)"
            )),
        }
    }
}

/// Everything a remote file source needs from the source configuration.
#[derive(Clone, Debug)]
pub struct RemoteSource {
    pub url: RemoteUrl,
    pub auth: Option<AuthConfig>,
    pub s3: S3SourceConfig,
    pub pattern: Option<String>,
    pub settle: Duration,
    /// Longest wait for the next bytes of a download.
    pub read_timeout: Duration,
    pub format: Option<Format>,
    pub options: FormatOptions,
}

impl RemoteSource {
    /// Problems of the remote part of a configuration (the URL already
    /// parsed).
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        match &self.url {
            RemoteUrl::Http(url) => {
                if let Some(auth) = &self.auth {
                    problems.extend(auth.problems());
                    if url.scheme() == "http" && !is_loopback(url) {
                        problems.push(
                            "auth over plain http:// would send the credentials in clear; use https://"
                                .into(),
                        );
                    }
                }
                if self.pattern.is_some() {
                    problems.push("pattern applies to drop_folder or an s3:// prefix".into());
                }
            }
            RemoteUrl::S3 { .. } => {
                if self.auth.is_some() {
                    problems.push(
                        "auth applies to http(s) urls; an s3:// source takes [source.s3]".into(),
                    );
                }
                if let Some(endpoint) = &self.s3.endpoint
                    && endpoint.starts_with("http://")
                    && !self.s3.allow_http
                {
                    problems.push(format!(
                        "s3.endpoint {endpoint:?} is plain HTTP: set s3.allow_http = true only for a server on a trusted network"
                    ));
                }
                if self.s3.access_key_id_env.is_some() != self.s3.secret_access_key_env.is_some() {
                    problems.push(
                        "s3: set both access_key_id_env and secret_access_key_env, or neither"
                            .into(),
                    );
                }
            }
        }
        if let Some(format) = self.format
            && !format.streams()
        {
            problems.push(format!(
                "a {} cannot come from a remote source (it is read back as a stream); \
                 deliver CSV, TSV, JSON, NDJSON, DBF or DBC",
                format.name()
            ));
        }
        problems
    }

    /// The files waiting: the one URL, or the objects under the prefix.
    pub async fn deliveries(&self) -> Result<Vec<Delivery>, SourceError> {
        let files = match &self.url {
            RemoteUrl::Http(url) => vec![self.http_file(url)?],
            RemoteUrl::S3 { bucket, prefix } => self.s3_files(bucket, prefix).await?,
        };
        Ok(files
            .into_iter()
            .map(|f| Delivery::Remote(Box::new(f)))
            .collect())
    }

    /// Lists the prefix, or fetches the URL's first bytes.
    pub async fn healthcheck(&self) -> Result<(), SourceError> {
        let files = self.deliveries().await?;
        if let Some(Delivery::Remote(first)) = files.into_iter().next() {
            let mut stream = first.stream().await?;
            if let Some(chunk) = stream.next().await {
                chunk?;
            }
        }
        Ok(())
    }

    fn http_file(&self, url: &Url) -> Result<RemoteFile, SourceError> {
        let name = url
            .path_segments()
            .and_then(|mut s| s.next_back())
            .map(|s| {
                percent_decode(s)
                    .unwrap_or_else(|| s.to_owned())
                    .replace(['/', '\\'], "_")
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "download".into());
        let credentials = Arc::new(Credentials::load(self.auth.as_ref())?);
        let client = download_client(self.read_timeout)?;
        Ok(self.file(
            name,
            shown_url(url),
            Fetch::Http {
                client,
                url: url.clone(),
                credentials,
            },
        ))
    }

    async fn s3_files(&self, bucket: &str, prefix: &str) -> Result<Vec<RemoteFile>, SourceError> {
        let shown = format!("s3://{bucket}/{prefix}");
        let store: Arc<dyn ObjectStore> = Arc::new(self.s3_store(bucket)?);
        let pattern = crate::file::name_pattern(self.pattern.as_deref())?;
        let listed_prefix = (!prefix.is_empty()).then(|| object_store::path::Path::from(prefix));
        let objects: Vec<object_store::ObjectMeta> = store
            .list(listed_prefix.as_ref())
            .try_collect()
            .await
            .map_err(|e| store_error(&shown, e))?;
        let now = chrono::Utc::now();
        let mut files = Vec::new();
        for object in objects {
            let key = object.location.to_string();
            // A prefix without a trailing slash matches keys, not folders.
            let relative = key.strip_prefix(prefix).unwrap_or(&key);
            let relative = relative.trim_start_matches('/').to_owned();
            let file_name = relative.rsplit('/').next().unwrap_or("").to_owned();
            if file_name.is_empty() || file_name.starts_with('.') {
                continue;
            }
            if pattern.as_ref().is_some_and(|p| !p.matches(&file_name)) {
                continue;
            }
            let age = (now - object.last_modified).to_std().unwrap_or_default();
            if age < self.settle {
                tracing::debug!(object = %key, "left for the next run: still settling");
                continue;
            }
            files.push(self.file(
                relative,
                format!("s3://{bucket}/{key}"),
                Fetch::S3 {
                    store: Arc::clone(&store),
                    location: object.location,
                },
            ));
        }
        files.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(files)
    }

    fn s3_store(&self, bucket: &str) -> Result<object_store::aws::AmazonS3, SourceError> {
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Some(endpoint) = &self.s3.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        builder = builder
            .with_region(self.s3.region.as_deref().unwrap_or("us-east-1"))
            .with_allow_http(self.s3.allow_http);
        if let (Some(id_env), Some(secret_env)) =
            (&self.s3.access_key_id_env, &self.s3.secret_access_key_env)
        {
            builder = builder
                .with_access_key_id(env_secret(id_env, "access key id")?)
                .with_secret_access_key(env_secret(secret_env, "secret access key")?);
        }
        builder.build().map_err(|e| {
            SourceError::Config(vec![format!(
                "s3://{bucket}: cannot set up the client: {e}"
            )])
        })
    }

    fn file(&self, name: String, origin: String, fetch: Fetch) -> RemoteFile {
        let format = self
            .format
            .or_else(|| Format::from_file_name(&name))
            .ok_or_else(|| {
                "cannot tell the format from the name; set format in the source file".to_owned()
            })
            .and_then(|f| {
                if crate::file::is_zip(&name) {
                    Err("a .zip cannot come from a remote source; deliver the file itself or a .gz".into())
                } else if f.streams() {
                    Ok(f)
                } else {
                    Err(format!(
                        "a {} cannot come from a remote source; deliver CSV, TSV, JSON, NDJSON, DBF or DBC",
                        f.name()
                    ))
                }
            });
        let (format, refused) = match format {
            Ok(f) => (f, None),
            Err(reason) => (Format::Csv, Some(reason)),
        };
        RemoteFile {
            name,
            origin,
            format,
            options: self.options.clone(),
            refused,
            fetch,
        }
    }
}

/// One file to fetch.
pub struct RemoteFile {
    /// The file's name (for an S3 prefix: the key below the prefix).
    pub name: String,
    /// Where it comes from, as messages show it (no query, no credentials).
    pub origin: String,
    pub format: Format,
    pub options: FormatOptions,
    /// Why the file cannot be read at all, found while listing; the run
    /// still keeps its bytes and records the refusal.
    pub refused: Option<String>,
    fetch: Fetch,
}

impl std::fmt::Debug for RemoteFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteFile")
            .field("name", &self.name)
            .field("origin", &self.origin)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

enum Fetch {
    Http {
        client: reqwest::Client,
        url: Url,
        credentials: Arc<Credentials>,
    },
    S3 {
        store: Arc<dyn ObjectStore>,
        location: object_store::path::Path,
    },
}

impl RemoteFile {
    /// The file's bytes as they arrive. Errors name the origin, never a
    /// credential.
    pub async fn stream(
        &self,
    ) -> Result<BoxStream<'static, Result<Bytes, SourceError>>, SourceError> {
        let origin = self.origin.clone();
        match &self.fetch {
            Fetch::Http {
                client,
                url,
                credentials,
            } => {
                let request = credentials.apply(client.get(credentials.add_to(url)));
                let response = request.send().await.map_err(|e| unreachable(&origin, &e))?;
                let status = response.status();
                if !status.is_success() {
                    let message = format!("answered HTTP {}", status.as_u16());
                    return Err(if status.is_server_error() || status.as_u16() == 429 {
                        SourceError::Unreachable {
                            source_name: origin,
                            message,
                        }
                    } else {
                        SourceError::Refused {
                            source_name: origin,
                            message,
                        }
                    });
                }
                Ok(response
                    .bytes_stream()
                    .map_err(move |e| unreachable(&origin, &e))
                    .boxed())
            }
            Fetch::S3 { store, location } => {
                let result = store
                    .get(location)
                    .await
                    .map_err(|e| store_error(&origin, e))?;
                Ok(result
                    .into_stream()
                    .map_err(move |e| store_error(&origin, e))
                    .boxed())
            }
        }
    }
}

/// No total timeout: a large file takes as long as it takes, but a
/// stalled one fails.
fn download_client(read_timeout: Duration) -> Result<reqwest::Client, SourceError> {
    crate::http::client_builder(read_timeout.min(Duration::from_secs(30)))
        .read_timeout(read_timeout)
        .build()
        .map_err(|e| SourceError::Internal(format!("cannot set up the HTTP client: {e}")))
}

fn unreachable(origin: &str, e: &reqwest::Error) -> SourceError {
    // reqwest's message can hold the URL with its query; name the kind only.
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "the download broke off"
    } else {
        "request failed"
    };
    SourceError::Unreachable {
        source_name: origin.to_owned(),
        message: kind.into(),
    }
}

fn store_error(origin: &str, e: object_store::Error) -> SourceError {
    match e {
        object_store::Error::NotFound { .. } => SourceError::Refused {
            source_name: origin.to_owned(),
            message: "no such object".into(),
        },
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => SourceError::Refused {
            source_name: origin.to_owned(),
            message: "access denied".into(),
        },
        other => SourceError::Unreachable {
            source_name: origin.to_owned(),
            message: other.to_string(),
        },
    }
}

fn env_secret(name: &str, what: &str) -> Result<String, SourceError> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => Ok(v.trim().to_owned()),
        Ok(_) => Err(SourceError::Config(vec![format!(
            "s3: environment variable {name} ({what}) is empty"
        )])),
        Err(_) => Err(SourceError::Config(vec![format!(
            "s3: environment variable {name} ({what}) is not set"
        )])),
    }
}

/// `%XX` escapes of a URL path segment, as UTF-8 (None if malformed).
fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = segment.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(url: &str) -> RemoteSource {
        RemoteSource {
            url: RemoteUrl::parse(url).unwrap(),
            auth: None,
            s3: S3SourceConfig::default(),
            pattern: None,
            settle: Duration::ZERO,
            read_timeout: Duration::from_secs(5),
            format: None,
            options: FormatOptions::default(),
        }
    }

    #[test]
    fn urls_are_checked() {
        assert!(
            RemoteUrl::parse("ftp://x/y.csv")
                .unwrap_err()
                .contains("ftp")
        );
        assert!(
            RemoteUrl::parse("https://u:p@x/y.csv")
                .unwrap_err()
                .contains("credentials")
        );
        assert!(
            RemoteUrl::parse("https://x/dir/")
                .unwrap_err()
                .contains("one file")
        );
        assert!(RemoteUrl::parse("s3:///p").is_err());
        match RemoteUrl::parse("s3://b/obitos/2026/").unwrap() {
            RemoteUrl::S3 { bucket, prefix } => {
                assert_eq!((bucket.as_str(), prefix.as_str()), ("b", "obitos/2026/"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn credentials_never_go_over_plain_http() {
        let mut s = source("http://x/y.csv");
        s.auth = Some(AuthConfig {
            kind: crate::http::auth::AuthKind::Bearer,
            token_env: Some("T".into()),
            token_file: None,
            username: None,
            password_env: None,
            password_file: None,
            header: None,
            query_param: None,
        });
        assert!(
            s.problems().iter().any(|p| p.contains("in clear")),
            "{:?}",
            s.problems()
        );
    }

    #[test]
    fn an_http_file_takes_its_name_and_format_from_the_path() {
        let s = source("https://x/entregas/%C3%B3bitos%202026.csv.gz?token=abc");
        let f = s.http_file(match &s.url {
            RemoteUrl::Http(u) => u,
            _ => unreachable!(),
        });
        let f = f.unwrap();
        assert_eq!(f.name, "óbitos 2026.csv.gz");
        assert_eq!(f.format, Format::Csv);
        assert!(f.refused.is_none());
        assert!(!f.origin.contains("abc"), "{}", f.origin);

        let s = source("https://x/planilha.xlsx");
        let RemoteUrl::Http(u) = &s.url else {
            unreachable!()
        };
        let f = s.http_file(u).unwrap();
        assert!(
            f.refused
                .unwrap()
                .contains("cannot come from a remote source")
        );
    }
}
