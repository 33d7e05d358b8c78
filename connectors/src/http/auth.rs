//! Credentials for HTTP sources (APIs, remote files): how they are
//! configured, read (from an environment variable or a file, never from
//! the configuration itself), held (a type whose `Debug` shows nothing) and
//! sent (as sensitive headers).

use crate::SourceError;
use reqwest::header::{self, HeaderName, HeaderValue};
use serde::Deserialize;
use std::fmt;
use url::Url;

/// Largest secret file read (a token, not a document).
const MAX_SECRET_FILE_BYTES: u64 = 64 << 10;

/// Credentials, read when the source runs from an environment variable or
/// a file (its content, trimmed). Set one of `token_env`/`token_file`
/// (`bearer`, `api_key`) or `password_env`/`password_file` (`basic`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// `bearer` (`Authorization: Bearer <token>`), `basic` (user and
    /// password) or `api_key` (a header or a query parameter).
    pub kind: AuthKind,
    /// `bearer`, `api_key`: the environment variable holding the token.
    pub token_env: Option<String>,
    /// `bearer`, `api_key`: the file holding the token.
    pub token_file: Option<String>,
    /// `basic`: the user name (not secret).
    pub username: Option<String>,
    /// `basic`: the environment variable holding the password.
    pub password_env: Option<String>,
    /// `basic`: the file holding the password.
    pub password_file: Option<String>,
    /// `api_key`: the header carrying the key (default `X-API-Key`).
    pub header: Option<String>,
    /// `api_key`: carry the key in this query parameter instead of a header.
    pub query_param: Option<String>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    Bearer,
    Basic,
    ApiKey,
}

impl AuthKind {
    fn name(self) -> &'static str {
        match self {
            AuthKind::Bearer => "bearer",
            AuthKind::Basic => "basic",
            AuthKind::ApiKey => "api_key",
        }
    }
}

impl AuthConfig {
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let kind = self.kind;
        let keys: [(&str, bool, &[AuthKind]); 7] = [
            (
                "token_env",
                self.token_env.is_some(),
                &[AuthKind::Bearer, AuthKind::ApiKey],
            ),
            (
                "token_file",
                self.token_file.is_some(),
                &[AuthKind::Bearer, AuthKind::ApiKey],
            ),
            ("username", self.username.is_some(), &[AuthKind::Basic]),
            (
                "password_env",
                self.password_env.is_some(),
                &[AuthKind::Basic],
            ),
            (
                "password_file",
                self.password_file.is_some(),
                &[AuthKind::Basic],
            ),
            ("header", self.header.is_some(), &[AuthKind::ApiKey]),
            (
                "query_param",
                self.query_param.is_some(),
                &[AuthKind::ApiKey],
            ),
        ];
        for (key, set, kinds) in keys {
            if set && !kinds.contains(&kind) {
                problems.push(format!(
                    "auth.{key} does not apply to kind = \"{}\"",
                    kind.name()
                ));
            }
        }
        let (secret, env, file) = match kind {
            AuthKind::Bearer | AuthKind::ApiKey => ("token", &self.token_env, &self.token_file),
            AuthKind::Basic => ("password", &self.password_env, &self.password_file),
        };
        match (env, file) {
            (Some(_), Some(_)) => {
                problems.push(format!("auth: set {secret}_env or {secret}_file, not both"))
            }
            (None, None) => problems.push(format!(
                "auth kind = \"{}\" needs {secret}_env or {secret}_file",
                kind.name()
            )),
            _ => {}
        }
        if env.as_deref().is_some_and(|name| name.trim().is_empty()) {
            problems.push(format!("auth.{secret}_env is empty"));
        }
        if file.as_deref().is_some_and(|path| path.trim().is_empty()) {
            problems.push(format!("auth.{secret}_file is empty"));
        }
        if kind == AuthKind::Basic && self.username.as_deref().is_none_or(str::is_empty) {
            problems.push("auth kind = \"basic\" needs username".into());
        }
        if self.header.is_some() && self.query_param.is_some() {
            problems.push("auth: set header or query_param, not both".into());
        }
        if let Some(name) = &self.header
            && HeaderName::from_bytes(name.as_bytes()).is_err()
        {
            problems.push(format!("auth.header `{name}` is not a valid header name"));
        }
        if self
            .query_param
            .as_deref()
            .is_some_and(|name| name.trim().is_empty())
        {
            problems.push("auth.query_param is empty".into());
        }
        problems
    }
}

/// A secret's text. `Debug` shows nothing; there is no `Display`.
pub(crate) struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Secret {
    /// Reads a secret from an environment variable or a file; messages name
    /// the variable or the file, never the content.
    fn load(env: Option<&str>, file: Option<&str>, what: &str) -> Result<Secret, SourceError> {
        let problem = |message: String| SourceError::Config(vec![message]);
        let text = match (env, file) {
            (Some(name), _) => std::env::var(name).map_err(|e| match e {
                std::env::VarError::NotPresent => problem(format!(
                    "auth: environment variable {name} ({what}) is not set"
                )),
                std::env::VarError::NotUnicode(_) => problem(format!(
                    "auth: environment variable {name} ({what}) is not valid UTF-8"
                )),
            })?,
            (None, Some(path)) => read_secret_file(path, what).map_err(problem)?,
            (None, None) => return Err(problem(format!("auth: no source for the {what}"))),
        };
        let text = text.trim();
        if text.is_empty() {
            return Err(problem(format!("auth: the {what} is empty")));
        }
        Ok(Secret(text.to_owned()))
    }
}

fn read_secret_file(path: &str, what: &str) -> Result<String, String> {
    let cannot = |e: std::io::Error| format!("auth: cannot read {path} ({what}): {}", e.kind());
    let size = std::fs::metadata(path).map_err(cannot)?.len();
    if size > MAX_SECRET_FILE_BYTES {
        return Err(format!(
            "auth: {path} ({what}) is larger than {} KiB; it should hold only the {what}",
            MAX_SECRET_FILE_BYTES >> 10
        ));
    }
    let bytes = std::fs::read(path).map_err(cannot)?;
    String::from_utf8(bytes).map_err(|_| format!("auth: {path} ({what}) is not UTF-8 text"))
}

/// How requests carry the credentials.
#[derive(Debug)]
pub(crate) enum Credentials {
    None,
    /// `Authorization: Bearer` or an API key header; the value is marked
    /// sensitive (its `Debug` shows nothing).
    Header(HeaderName, HeaderValue),
    Basic {
        username: String,
        password: Secret,
    },
    Query {
        param: String,
        key: Secret,
    },
}

impl Credentials {
    pub(crate) fn load(auth: Option<&AuthConfig>) -> Result<Credentials, SourceError> {
        let Some(auth) = auth else {
            return Ok(Credentials::None);
        };
        match auth.kind {
            AuthKind::Bearer => {
                let token = load_token(auth)?;
                let value = sensitive_header(&format!("Bearer {}", token.0))?;
                Ok(Credentials::Header(header::AUTHORIZATION, value))
            }
            AuthKind::Basic => Ok(Credentials::Basic {
                username: auth.username.clone().unwrap_or_default(),
                password: Secret::load(
                    auth.password_env.as_deref(),
                    auth.password_file.as_deref(),
                    "password",
                )?,
            }),
            AuthKind::ApiKey => {
                let key = load_token(auth)?;
                if let Some(param) = &auth.query_param {
                    return Ok(Credentials::Query {
                        param: param.clone(),
                        key,
                    });
                }
                let name = auth.header.as_deref().unwrap_or("X-API-Key");
                let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                    SourceError::Config(vec![format!(
                        "auth.header `{name}` is not a valid header name"
                    )])
                })?;
                Ok(Credentials::Header(name, sensitive_header(&key.0)?))
            }
        }
    }

    pub(crate) fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Credentials::Header(name, value) => request.header(name.clone(), value.clone()),
            Credentials::Basic { username, password } => {
                request.basic_auth(username, Some(&password.0))
            }
            Credentials::None | Credentials::Query { .. } => request,
        }
    }

    /// The URL to request: with the key in its query parameter, when that
    /// is where it goes (replacing one a next link may carry).
    pub(crate) fn add_to(&self, url: &Url) -> Url {
        let Credentials::Query { param, key } = self else {
            return url.clone();
        };
        let mut url = url.clone();
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(name, _)| name != param)
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect();
        url.set_query(None);
        url.query_pairs_mut()
            .extend_pairs(kept)
            .append_pair(param, &key.0);
        url
    }
}

pub(crate) fn load_token(auth: &AuthConfig) -> Result<Secret, SourceError> {
    Secret::load(
        auth.token_env.as_deref(),
        auth.token_file.as_deref(),
        "token",
    )
}

pub(crate) fn sensitive_header(text: &str) -> Result<HeaderValue, SourceError> {
    let mut value = HeaderValue::from_str(text).map_err(|_| {
        SourceError::Config(vec![
            "auth: the token holds characters not allowed in an HTTP header".into(),
        ])
    })?;
    value.set_sensitive(true);
    Ok(value)
}
