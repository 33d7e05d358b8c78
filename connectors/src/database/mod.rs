//! PostgreSQL and MySQL/MariaDB sources: one table or one read-only query,
//! streamed into typed Arrow batches, fully or incrementally.
//!
//! ```toml
//! [source]
//! type = "postgres"                       # or "mysql" (MariaDB too)
//! url = "postgres://lagoa_leitura@db.saude.local:5432/sim"   # no password here
//! password_env = "SIM_DB_PASSWORD"        # or password_file = "/run/secrets/sim"
//! table = "saude.obitos"                  # or query = "SELECT ... FROM ..."
//! chunk_rows = 50000                      # rows per batch (default: the run's batch size)
//! connect_timeout = "30s"
//! incremental = { cursor = "atualizado_em", primary_key = ["id"], lag = "5m", time_zone = "-03:00" }
//! ```
//!
//! Layout: this file holds the configuration, its validation, the
//! incremental watermark, error classification and the streaming loop
//! shared by both engines; `postgres.rs` and `mysql.rs` connect, describe
//! the result and write the SQL; `types.rs` turns wire bytes into Arrow
//! values.
//!
//! How an extraction runs:
//! 1. connect (bounded by `connect_timeout`) and open a READ ONLY
//!    transaction (PostgreSQL: `REPEATABLE READ`, MySQL: `WITH CONSISTENT
//!    SNAPSHOT`), so a custom query cannot write, and all rows come from one
//!    snapshot;
//! 2. prepare the table's `SELECT *` or the query, and decide every column's
//!    Arrow type from the result metadata, before reading any row;
//! 3. wrap it in our own outer `SELECT` (the table or query is a subquery:
//!    a second statement cannot hide in it) that adds the incremental filter
//!    and order;
//! 4. stream the rows (sqlx `fetch`, never `fetch_all`) in a tokio task that
//!    builds batches of `chunk_rows` rows (or 64 MiB of variable-size
//!    values, whichever comes first) and sends them through a channel of 2;
//!    the [`Batches`](crate::Batches) iterator receives them on the
//!    consumer's blocking thread (`blocking_recv`: do not iterate it on an
//!    async worker thread).
//!
//! Identifiers: `table` is `name` or `schema.name`, each part taken exactly
//! as written (case included) and quoted (`"…"` / `` `…` ``, doubling
//! quotes), so any name is safe. Custom queries must be one `SELECT` or
//! `WITH` statement with no `;` (a trailing one is dropped); on MySQL their
//! column names must be distinct (the derived table requires it).
//!
//! Incremental extraction. Rows are read with `cursor >= saved cursor`,
//! ordered by the cursor; rows whose cursor is NULL are never taken. The
//! watermark is JSON: `{"cursor": "<last cursor value>", "keys_at_cursor":
//! [["<pk1>", ...], ...]}`, the primary keys of every row seen at exactly
//! that cursor value; on the next run rows at that cursor whose key is in
//! the list are skipped, so rows that share a cursor value with the last
//! run's last rows, committed later, are taken exactly once. The list is
//! capped at 1 MiB of key text: if more rows share the last cursor value,
//! the run fails with a message asking for a finer cursor (a duplicate-free
//! watermark could not be written). An operator may seed the watermark with
//! a plain cursor value (`2024-01-01 00:00:00`). The new watermark is
//! published in [`Extraction::next_watermark`] only when the stream ended
//! without error; the caller saves it with the committed snapshot, so a
//! failed run re-reads. The cursor must be an integer, a decimal with
//! declared precision, a date or a timestamp. `lag` (timestamps only) takes
//! only rows with `cursor <= now - lag` on the database's clock, to let
//! late commits settle; for a cursor without a time zone (PostgreSQL
//! `timestamp`, MySQL `DATETIME`) `time_zone` must say which UTC offset
//! the application writes it in.
//!
//! Adding an engine: a module with `healthcheck` and `extract` like
//! `postgres.rs`, a type mapping to [`types::Kind`]/[`types::Wire`], and an
//! error classification; the streaming loop ([`pump`]) is shared.

mod engine;
mod mysql;
mod postgres;
mod types;

use crate::formats::SourceBatch;
use crate::{ExtractContext, Extraction, SourceError};
use arrow::array::RecordBatch;
use arrow::datatypes::{Field, Schema, SchemaRef};
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use types::{ColumnBuilder, Kind, Value, Wire};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Postgres,
    Mysql,
}

impl Engine {
    fn name(self) -> &'static str {
        match self {
            Engine::Postgres => "postgres",
            Engine::Mysql => "mysql",
        }
    }

    fn schemes(self) -> &'static [&'static str] {
        match self {
            Engine::Postgres => &["postgres", "postgresql"],
            Engine::Mysql => &["mysql", "mariadb"],
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Engine::Postgres => 5432,
            Engine::Mysql => 3306,
        }
    }

    /// Longer names are truncated (PostgreSQL) or refused (MySQL) by the
    /// server; a truncated name could point at another table.
    fn max_identifier_bytes(self) -> usize {
        match self {
            Engine::Postgres => 63,
            Engine::Mysql => 64,
        }
    }

    /// URL parameters passed on to the driver: TLS only. Others could
    /// carry a password (`?password=`), change the session's time zone or
    /// character set that decoding relies on, or be logged with their value
    /// by the driver.
    fn url_parameters(self) -> &'static [&'static str] {
        match self {
            Engine::Postgres => &[
                "sslmode",
                "ssl-mode",
                "sslrootcert",
                "ssl-root-cert",
                "ssl-ca",
                "sslcert",
                "ssl-cert",
                "sslkey",
                "ssl-key",
                "application_name",
            ],
            Engine::Mysql => &[
                "ssl-mode", "sslmode", "ssl-ca", "sslca", "ssl-cert", "sslcert", "ssl-key",
                "sslkey",
            ],
        }
    }
}

/// Rows per batch allowed in `chunk_rows`.
const MAX_CHUNK_ROWS: usize = 1 << 20;
/// A batch is sent early once its text and binary values reach this size.
const MAX_BATCH_BYTES: usize = 64 << 20;
/// Larger single values are refused (Arrow's 32-bit offsets, and memory).
const MAX_VALUE_BYTES: usize = 1 << 30;
/// Cap on the primary-key text kept in the watermark.
const MAX_KEYS_AT_CURSOR_BYTES: usize = 1 << 20;
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// A `type = "postgres"` or `type = "mysql"` source.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://user@host:5432/database` or `mysql://user@host:3306/database`,
    /// without a password; TLS parameters (`?sslmode=require`) allowed.
    pub url: String,
    /// Environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// File holding the password (one trailing newline is ignored).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The table or view to read: `name` or `schema.name`, exactly as in the
    /// catalog (case-sensitive, no quotes needed).
    #[serde(default)]
    pub table: Option<String>,
    /// Instead of `table`: one read-only `SELECT` (or `WITH … SELECT`).
    #[serde(default)]
    pub query: Option<String>,
    /// Read only what changed since the last committed run.
    #[serde(default)]
    pub incremental: Option<IncrementalConfig>,
    /// Rows per batch; default: the run's batch size.
    #[serde(default)]
    pub chunk_rows: Option<usize>,
    /// How long connecting may take (`30s`, `2m`); default 30 seconds.
    #[serde(default)]
    pub connect_timeout: Option<String>,
}

/// `incremental = { cursor = "atualizado_em", primary_key = ["id"], lag = "5m" }`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncrementalConfig {
    /// Column that grows with every insert or update: an integer, a decimal,
    /// a date or a timestamp.
    pub cursor: String,
    /// Columns that identify a row, to take rows sharing the last cursor
    /// value exactly once.
    pub primary_key: Vec<String>,
    /// Only rows with `cursor <= now - lag` are taken (`30s`, `5m`, `1h`,
    /// `1d`); timestamp cursors only.
    #[serde(default)]
    pub lag: Option<String>,
    /// The UTC offset (`-03:00`, `UTC`) in which the application writes a
    /// cursor without time zone (PostgreSQL `timestamp`, MySQL
    /// `DATETIME`); needed with `lag` on such a cursor.
    #[serde(default)]
    pub time_zone: Option<String>,
}

impl fmt::Debug for DatabaseConfig {
    /// The URL is shown without any password it should not have had.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &redacted_url(&self.url))
            .field("password_env", &self.password_env)
            .field("password_file", &self.password_file)
            .field("table", &self.table)
            .field("query", &self.query)
            .field("incremental", &self.incremental)
            .field("chunk_rows", &self.chunk_rows)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

fn redacted_url(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return "<not a valid URL>".into();
    };
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("***"));
    }
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, v)| {
            let secret = k.to_ascii_lowercase().contains("pass");
            (
                k.into_owned(),
                if secret { "***".into() } else { v.into_owned() },
            )
        })
        .collect();
    if !pairs.is_empty() {
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

impl DatabaseConfig {
    /// Every problem of the configuration (empty when it can run). Checks
    /// the text only; the password is read when connecting.
    pub fn problems(&self, engine: Engine) -> Vec<String> {
        let mut problems = url_problems(&self.url, engine);
        match (&self.password_env, &self.password_file) {
            (Some(_), Some(_)) => {
                problems.push("set password_env or password_file, not both".into())
            }
            (Some(name), None) if name.trim().is_empty() => {
                problems.push("password_env is empty: name an environment variable".into())
            }
            _ => {}
        }
        match (&self.table, &self.query) {
            (Some(_), Some(_)) => problems.push("set table or query, not both".into()),
            (None, None) => problems.push("set table (a table or view) or query".into()),
            (Some(table), None) => {
                if let Err(problem) = parse_table(table, engine) {
                    problems.push(problem);
                }
            }
            (None, Some(query)) => problems.extend(query_problems(query, engine)),
        }
        if let Some(incremental) = &self.incremental {
            problems.extend(incremental_problems(incremental));
        }
        if let Some(rows) = self.chunk_rows
            && !(1..=MAX_CHUNK_ROWS).contains(&rows)
        {
            problems.push(format!("chunk_rows must be between 1 and {MAX_CHUNK_ROWS}"));
        }
        if let Some(timeout) = &self.connect_timeout
            && let Err(problem) = parse_duration(timeout)
        {
            problems.push(format!("connect_timeout: {problem}"));
        }
        problems
    }

    /// Connects, opens the read-only transaction and runs the extraction
    /// query with `LIMIT 0`: proves the password, the permissions, the
    /// table or query, and the incremental columns.
    pub async fn healthcheck(&self, engine: Engine) -> Result<(), SourceError> {
        let settings = self.settings(engine, DEFAULT_BATCH, env_var)?;
        match engine {
            Engine::Postgres => engine::healthcheck::<postgres::PostgresDialect>(&settings).await,
            Engine::Mysql => engine::healthcheck::<mysql::MysqlDialect>(&settings).await,
        }
    }

    /// Starts the extraction. Connection, permission and planning errors
    /// come back here; errors while reading rows come through the batches.
    pub async fn extract(
        &self,
        engine: Engine,
        ctx: &ExtractContext,
    ) -> Result<Extraction, SourceError> {
        let settings = self.settings(engine, ctx.batch_rows, env_var)?;
        let watermark = match &settings.incremental {
            Some(_) => Watermark::parse(ctx.watermark.as_deref(), &settings.errors.source_name)?,
            None => None,
        };
        match engine {
            Engine::Postgres => {
                engine::extract::<postgres::PostgresDialect>(settings, watermark).await
            }
            Engine::Mysql => engine::extract::<mysql::MysqlDialect>(settings, watermark).await,
        }
    }

    /// The runtime settings: validated, with the password read.
    fn settings(
        &self,
        engine: Engine,
        batch_rows: usize,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, SourceError> {
        let problems = self.problems(engine);
        if !problems.is_empty() {
            return Err(SourceError::Config(problems));
        }
        let url = url::Url::parse(&self.url)
            .map_err(|_| SourceError::Config(vec!["url is not a valid URL".into()]))?;
        let relation = match (&self.table, &self.query) {
            (Some(table), _) => {
                let (schema, name) =
                    parse_table(table, engine).map_err(|p| SourceError::Config(vec![p]))?;
                Relation::Table {
                    schema,
                    name,
                    written: table.clone(),
                }
            }
            (None, Some(query)) => Relation::Query(query_body(query).to_string()),
            (None, None) => return Err(SourceError::Config(vec!["set table or query".into()])),
        };
        let subject = match &relation {
            Relation::Table { written, .. } => format!("table {written}"),
            Relation::Query(_) => "custom query".to_string(),
        };
        let host = url.host_str().unwrap_or_default().to_string();
        let port = url.port().unwrap_or(engine.default_port());
        let user = url.username().to_string();
        let database = url.path().trim_start_matches('/').to_string();
        let shown_user = if user.is_empty() {
            "(default user)"
        } else {
            &user
        };
        let source_name = format!(
            "{} {shown_user}@{host}:{port}/{database}, {subject}",
            engine.name()
        );
        let password = self.read_password(&source_name, env)?;
        Ok(Settings {
            url: self.url.clone(),
            relation,
            incremental: self
                .incremental
                .as_ref()
                .map(Incremental::from_config)
                .transpose()?,
            chunk_rows: self
                .chunk_rows
                .unwrap_or(batch_rows)
                .clamp(1, MAX_CHUNK_ROWS),
            connect_timeout: match &self.connect_timeout {
                Some(text) => parse_duration(text).map_err(|p| SourceError::Config(vec![p]))?,
                None => DEFAULT_CONNECT_TIMEOUT,
            },
            errors: ErrorContext {
                engine,
                source_name,
                host,
                port,
                user,
                database,
                password,
            },
        })
    }

    fn read_password(
        &self,
        source_name: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Secret>, SourceError> {
        if let Some(name) = &self.password_env {
            return match env(name) {
                Some(value) => Ok(Some(Secret(value))),
                None => Err(SourceError::Config(vec![format!(
                    "{source_name}: password_env names {name}, which is not set in the environment"
                )])),
            };
        }
        if let Some(path) = &self.password_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                SourceError::Config(vec![format!(
                    "{source_name}: cannot read password_file {}: {}",
                    path.display(),
                    e.kind()
                )])
            })?;
            let text = text.strip_suffix('\n').unwrap_or(&text);
            let text = text.strip_suffix('\r').unwrap_or(text);
            return Ok(Some(Secret(text.to_string())));
        }
        Ok(None)
    }
}

const DEFAULT_BATCH: usize = crate::DEFAULT_BATCH_ROWS;

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn url_problems(url: &str, engine: Engine) -> Vec<String> {
    let Ok(parsed) = url::Url::parse(url) else {
        return vec![format!(
            "url is not a valid URL (expected {}://user@host:port/database)",
            engine.schemes()[0]
        )];
    };
    let mut problems = Vec::new();
    if !engine.schemes().contains(&parsed.scheme()) {
        problems.push(format!(
            "url must start with {}:// for a {} source",
            engine.schemes()[0],
            engine.name()
        ));
    }
    if parsed.password().is_some() {
        problems.push(
            "url must not contain a password: remove it and use password_env or password_file"
                .into(),
        );
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        problems.push("url names no host".into());
    }
    if parsed.path().trim_start_matches('/').is_empty() {
        problems.push("url names no database (…:port/database)".into());
    }
    for (key, _) in parsed.query_pairs() {
        if key.to_ascii_lowercase().contains("pass") {
            problems.push(format!(
                "url must not carry a password (parameter {key}): use password_env or password_file"
            ));
        } else if !engine.url_parameters().contains(&key.as_ref()) {
            problems.push(format!(
                "url parameter {key} is not supported (allowed: {})",
                engine.url_parameters().join(", ")
            ));
        }
    }
    problems
}

/// `name` or `schema.name` → (schema, name).
fn parse_table(table: &str, engine: Engine) -> Result<(Option<String>, String), String> {
    let parts: Vec<&str> = table.split('.').collect();
    if parts.len() > 2 {
        return Err(format!(
            "table {table:?} has more than one '.': write schema.name"
        ));
    }
    for part in &parts {
        if part.is_empty() {
            return Err(format!("table {table:?} has an empty name part"));
        }
        if part.chars().any(char::is_control) {
            return Err(format!("table {table:?} contains a control character"));
        }
        if part.len() > engine.max_identifier_bytes() {
            return Err(format!(
                "table {table:?}: a name part is longer than {} bytes",
                engine.max_identifier_bytes()
            ));
        }
    }
    Ok(match parts.as_slice() {
        [schema, name] => (Some(schema.to_string()), name.to_string()),
        _ => (None, table.to_string()),
    })
}

/// The query without surrounding blanks and one trailing `;`.
fn query_body(query: &str) -> &str {
    let trimmed = query.trim();
    trimmed.strip_suffix(';').unwrap_or(trimmed).trim_end()
}

fn query_problems(query: &str, engine: Engine) -> Vec<String> {
    let body = query_body(query);
    if body.is_empty() {
        return vec!["query is empty".into()];
    }
    let mut problems = Vec::new();
    if body.contains(';') {
        problems.push(
            "query must be a single statement: it contains ';' (also refused inside literals \
             and comments; use chr(59) or CHAR(59) for a literal semicolon)"
                .into(),
        );
    }
    let first_word: String = skip_leading_comments(body)
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_lowercase();
    if first_word != "select" && first_word != "with" {
        problems.push(
            "query must be a SELECT (or WITH … SELECT); it runs in a read-only transaction".into(),
        );
    }
    if engine == Engine::Mysql {
        let lower = body.to_ascii_lowercase();
        if ["outfile", "dumpfile"]
            .iter()
            .any(|w| contains_word(&lower, w))
        {
            problems.push("query must not write files (INTO OUTFILE / INTO DUMPFILE)".into());
        }
    }
    problems
}

fn skip_leading_comments(mut text: &str) -> &str {
    loop {
        text = text.trim_start();
        if let Some(rest) = text.strip_prefix("--").or_else(|| text.strip_prefix('#')) {
            text = rest.split_once('\n').map_or("", |(_, after)| after);
        } else if let Some(rest) = text.strip_prefix("/*") {
            text = rest.split_once("*/").map_or("", |(_, after)| after);
        } else {
            return text;
        }
    }
}

fn contains_word(text: &str, word: &str) -> bool {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(is_word) && !after.is_some_and(is_word)
    })
}

fn incremental_problems(incremental: &IncrementalConfig) -> Vec<String> {
    let mut problems = Vec::new();
    if incremental.cursor.trim().is_empty() {
        problems.push("incremental.cursor is empty: name the column that grows".into());
    }
    if incremental.primary_key.is_empty() {
        problems
            .push("incremental.primary_key is empty: name the columns that identify a row".into());
    }
    if incremental.primary_key.iter().any(|c| c.trim().is_empty()) {
        problems.push("incremental.primary_key has an empty column name".into());
    }
    if let Some(lag) = &incremental.lag
        && let Err(problem) = parse_duration(lag)
    {
        problems.push(format!("incremental.lag: {problem}"));
    }
    if let Some(zone) = &incremental.time_zone
        && let Err(problem) = parse_utc_offset(zone)
    {
        problems.push(format!("incremental.time_zone: {problem}"));
    }
    problems
}

/// `30s`, `5m`, `2h`, `1d`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let invalid = || format!("{text:?} is not a duration like 30s, 5m, 2h or 1d");
    let number: u64 = number.parse().map_err(|_| invalid())?;
    let seconds = match unit.trim() {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(invalid()),
    };
    number
        .checked_mul(seconds)
        .filter(|s| *s <= 365 * 86_400)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{text:?} is longer than a year"))
}

/// `UTC`, `Z`, `-03:00`, `+05:30`, `-03` → seconds east of UTC.
fn parse_utc_offset(text: &str) -> Result<i64, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("utc") || text == "Z" {
        return Ok(0);
    }
    let invalid = || format!("{text:?} is not a UTC offset like -03:00 or UTC");
    let (sign, rest) = match text.as_bytes().first() {
        Some(b'+') => (1, &text[1..]),
        Some(b'-') => (-1, &text[1..]),
        _ => return Err(invalid()),
    };
    let (hours, minutes) = rest.split_once(':').unwrap_or((rest, "0"));
    let hours: i64 = hours.parse().map_err(|_| invalid())?;
    let minutes: i64 = minutes.parse().map_err(|_| invalid())?;
    if hours > 14 || minutes > 59 {
        return Err(invalid());
    }
    Ok(sign * (hours * 3600 + minutes * 60))
}

/// A password; never printed.
#[derive(Clone)]
pub(super) struct Secret(String);

impl Secret {
    fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// What to read.
#[derive(Clone, Debug)]
pub(super) enum Relation {
    Table {
        schema: Option<String>,
        name: String,
        /// As configured, for messages.
        written: String,
    },
    Query(String),
}

#[derive(Clone, Debug)]
pub(super) struct Incremental {
    cursor: String,
    primary_key: Vec<String>,
    lag: Option<Duration>,
    utc_offset_seconds: Option<i64>,
}

impl Incremental {
    fn from_config(config: &IncrementalConfig) -> Result<Incremental, SourceError> {
        let config_error = |p: String| SourceError::Config(vec![p]);
        Ok(Incremental {
            cursor: config.cursor.clone(),
            primary_key: config.primary_key.clone(),
            lag: config
                .lag
                .as_deref()
                .map(parse_duration)
                .transpose()
                .map_err(config_error)?,
            utc_offset_seconds: config
                .time_zone
                .as_deref()
                .map(parse_utc_offset)
                .transpose()
                .map_err(config_error)?,
        })
    }
}

/// A validated configuration, ready to connect.
#[derive(Debug)]
pub(super) struct Settings {
    url: String,
    relation: Relation,
    incremental: Option<Incremental>,
    chunk_rows: usize,
    connect_timeout: Duration,
    errors: ErrorContext,
}

impl Settings {
    fn password(&self) -> Option<&str> {
        self.errors.password.as_ref().map(Secret::expose)
    }

    /// The table's `SELECT *` or the custom query.
    fn base_sql(&self, quote: fn(&str) -> String) -> String {
        match &self.relation {
            Relation::Table {
                schema: Some(schema),
                name,
                ..
            } => {
                format!("SELECT * FROM {}.{}", quote(schema), quote(name))
            }
            Relation::Table {
                schema: None, name, ..
            } => format!("SELECT * FROM {}", quote(name)),
            Relation::Query(query) => query.clone(),
        }
    }

    fn timed_out(&self) -> SourceError {
        self.errors.unreachable(format!(
            "no connection to {}:{} within {} s",
            self.errors.host,
            self.errors.port,
            self.connect_timeout.as_secs()
        ))
    }
}

/// What error messages may name: the server, database, user and subject;
/// the password only to scrub it.
#[derive(Clone, Debug)]
pub(super) struct ErrorContext {
    engine: Engine,
    /// `postgres user@host:port/db, table saude.obitos`.
    source_name: String,
    host: String,
    port: u16,
    user: String,
    database: String,
    password: Option<Secret>,
}

/// How a failure should be reported.
pub(super) enum Failure {
    Unreachable(String),
    Refused(String),
    Config(String),
    Internal(String),
}

impl ErrorContext {
    /// Classifies a driver error. Messages are built from the error's kind
    /// and code, and the server's text only where it names SQL objects
    /// (never for data errors, whose text can quote a value).
    pub(super) fn map(&self, error: sqlx::Error) -> SourceError {
        let failure = match error {
            sqlx::Error::Database(db) => match self.engine {
                Engine::Postgres => postgres::classify(db.as_ref(), self),
                Engine::Mysql => mysql::classify(db.as_ref(), self),
            },
            sqlx::Error::Io(io) => {
                Failure::Unreachable(format!("cannot talk to {}:{}: {io}", self.host, self.port))
            }
            sqlx::Error::Tls(tls) => Failure::Unreachable(format!("TLS failed: {tls}")),
            sqlx::Error::Protocol(message) => Failure::Refused(format!(
                "the server's answer broke the protocol (is this a {} server, and does the user \
                 need a password?): {message}",
                self.engine.name()
            )),
            sqlx::Error::Configuration(e) => Failure::Config(format!("url: {e}")),
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => {
                Failure::Unreachable("the connection was lost".into())
            }
            other => Failure::Internal(format!("database driver error ({})", error_kind(&other))),
        };
        self.report(failure)
    }

    fn report(&self, failure: Failure) -> SourceError {
        let source_name = self.source_name.clone();
        match failure {
            Failure::Unreachable(message) => SourceError::Unreachable {
                source_name,
                message: self.scrub(message),
            },
            Failure::Refused(message) => SourceError::Refused {
                source_name,
                message: self.scrub(message),
            },
            Failure::Config(message) => {
                SourceError::Config(vec![self.scrub(format!("{source_name}: {message}"))])
            }
            Failure::Internal(message) => {
                SourceError::Internal(self.scrub(format!("{source_name}: {message}")))
            }
        }
    }

    fn unreachable(&self, message: String) -> SourceError {
        self.report(Failure::Unreachable(message))
    }

    fn refused(&self, message: String) -> SourceError {
        self.report(Failure::Refused(message))
    }

    fn config(&self, message: String) -> SourceError {
        self.report(Failure::Config(message))
    }

    /// Last line of defence: no message carries the password, even if a
    /// server or library were to echo it.
    fn scrub(&self, message: String) -> String {
        match &self.password {
            Some(secret) if !secret.expose().is_empty() => {
                let encoded: String =
                    url::form_urlencoded::byte_serialize(secret.expose().as_bytes()).collect();
                message
                    .replace(secret.expose(), "***")
                    .replace(&encoded, "***")
            }
            _ => message,
        }
    }
}

fn error_kind(error: &sqlx::Error) -> &'static str {
    match error {
        sqlx::Error::RowNotFound => "row not found",
        sqlx::Error::TypeNotFound { .. } => "type not found",
        sqlx::Error::ColumnIndexOutOfBounds { .. } => "column index out of bounds",
        sqlx::Error::ColumnNotFound(_) => "column not found",
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => "decoding failed",
        sqlx::Error::Encode(_) => "encoding a parameter failed",
        _ => "unexpected error",
    }
}

/// The saved state of an incremental source (see the module docs).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Watermark {
    cursor: String,
    #[serde(default)]
    keys_at_cursor: Vec<Vec<Option<String>>>,
}

impl Watermark {
    /// JSON as this module writes it, or a bare cursor value an operator
    /// wrote; none for a first run.
    fn parse(text: Option<&str>, source_name: &str) -> Result<Option<Watermark>, SourceError> {
        let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
            return Ok(None);
        };
        if !text.starts_with('{') {
            return Ok(Some(Watermark {
                cursor: text.to_string(),
                keys_at_cursor: Vec::new(),
            }));
        }
        serde_json::from_str(text).map(Some).map_err(|e| {
            SourceError::Config(vec![format!(
                "{source_name}: the saved watermark is not one this connector wrote \
                 (JSON error at line {}, column {})",
                e.line(),
                e.column()
            )])
        })
    }

    fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Tracks the incremental position while rows stream by, ordered by the
/// cursor: skips rows the last run took, and remembers the keys at the
/// newest cursor value for the next watermark.
#[derive(Debug, Default)]
pub(super) struct CursorTracker {
    previous: Option<Watermark>,
    previous_keys: HashSet<Vec<Option<String>>>,
    last_cursor: Option<String>,
    keys_at_last: Vec<Vec<Option<String>>>,
    keys_bytes: usize,
    overflowed: bool,
}

impl CursorTracker {
    fn new(previous: Option<Watermark>) -> CursorTracker {
        let previous_keys = previous
            .as_ref()
            .map(|w| w.keys_at_cursor.iter().cloned().collect())
            .unwrap_or_default();
        CursorTracker {
            previous,
            previous_keys,
            ..CursorTracker::default()
        }
    }

    /// Records a row; false when the last run already took it.
    fn take(&mut self, cursor: String, keys: Vec<Option<String>>) -> bool {
        let taken_before = self
            .previous
            .as_ref()
            .is_some_and(|w| w.cursor == cursor && self.previous_keys.contains(&keys));
        if self.last_cursor.as_deref() != Some(cursor.as_str()) {
            self.last_cursor = Some(cursor);
            self.keys_at_last.clear();
            self.keys_bytes = 0;
            self.overflowed = false;
        }
        if !self.overflowed {
            self.keys_bytes += keys
                .iter()
                .map(|k| k.as_ref().map_or(4, |k| k.len() + 3))
                .sum::<usize>();
            if self.keys_bytes > MAX_KEYS_AT_CURSOR_BYTES {
                self.overflowed = true;
                self.keys_at_last = Vec::new();
            } else {
                self.keys_at_last.push(keys);
            }
        }
        !taken_before
    }

    /// The watermark to save once every row was read.
    fn next_watermark(self) -> Result<Option<String>, String> {
        let Some(cursor) = self.last_cursor else {
            return Ok(self.previous.map(|w| w.to_text()));
        };
        if self.overflowed {
            return Err(format!(
                "more than {} KiB of primary keys share the last cursor value: the next run \
                 could not tell which of them it already took; use a finer cursor column",
                MAX_KEYS_AT_CURSOR_BYTES / 1024
            ));
        }
        Ok(Some(
            Watermark {
                cursor,
                keys_at_cursor: self.keys_at_last,
            }
            .to_text(),
        ))
    }
}

/// What a column can be as an incremental cursor.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum CursorUse {
    /// Not usable: comparing text or floats could split equal values.
    No,
    /// Numbers and dates, compared with `CAST(<watermark> AS <sql type>)`.
    Plain(String),
    /// Timestamps, which `lag` applies to.
    Timestamp { cast: String, utc: bool },
}

/// A result column and how to read it.
#[derive(Clone, Debug)]
pub(super) struct PlannedColumn {
    /// As the server names it (made unique for the Arrow schema).
    name: String,
    /// The database's type name, for messages.
    source_type: String,
    kind: Kind,
    wire: Wire,
    cursor_use: CursorUse,
}

/// The incremental columns, resolved against the result.
#[derive(Clone, Debug)]
pub(super) struct CursorChoice {
    index: usize,
    keys: Vec<usize>,
    cast: String,
    /// `cursor <= utc_now + seconds` (the lag, shifted by the cursor's UTC
    /// offset for wall-clock cursors), when `lag` is set.
    upper_bound: Option<UpperBound>,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct UpperBound {
    /// The cursor is an instant (PostgreSQL `timestamptz`, MySQL `TIMESTAMP`).
    utc: bool,
    seconds_from_utc_now: i64,
}

/// Finds the cursor and key columns and checks they can do their job.
fn choose_cursor(
    columns: &[PlannedColumn],
    incremental: &Incremental,
    errors: &ErrorContext,
) -> Result<CursorChoice, SourceError> {
    let find = |setting: &str, name: &str| -> Result<usize, SourceError> {
        let matches: Vec<usize> = columns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.name == name)
            .map(|(i, _)| i)
            .collect();
        match matches.as_slice() {
            [index] => Ok(*index),
            [] => Err(errors.config(format!(
                "{setting}: column {name:?} is not in the result (columns: {})",
                column_list(columns)
            ))),
            _ => Err(errors.config(format!(
                "{setting}: the result has more than one column named {name:?}"
            ))),
        }
    };
    let index = find("incremental.cursor", &incremental.cursor)?;
    let keys = incremental
        .primary_key
        .iter()
        .map(|name| find("incremental.primary_key", name))
        .collect::<Result<Vec<_>, _>>()?;
    let column = &columns[index];
    let (cast, timestamp_utc) = match &column.cursor_use {
        CursorUse::No => {
            return Err(errors.config(format!(
                "incremental.cursor: column {:?} is of type {}; a cursor must be an integer, a \
                 decimal with declared precision, a date or a timestamp",
                column.name, column.source_type
            )));
        }
        CursorUse::Plain(cast) => (cast.clone(), None),
        CursorUse::Timestamp { cast, utc } => (cast.clone(), Some(*utc)),
    };
    let upper_bound = match (incremental.lag, timestamp_utc) {
        (None, _) => None,
        (Some(_), None) => {
            return Err(errors.config(format!(
                "incremental.lag applies to timestamp cursors; column {:?} is of type {}",
                column.name, column.source_type
            )));
        }
        (Some(lag), Some(utc)) => {
            let offset = match (utc, incremental.utc_offset_seconds) {
                (true, _) => 0,
                (false, Some(offset)) => offset,
                (false, None) => {
                    return Err(errors.config(format!(
                        "incremental.lag on column {:?} ({}, without time zone) needs \
                         incremental.time_zone: the UTC offset its values are written in, \
                         e.g. \"-03:00\"",
                        column.name, column.source_type
                    )));
                }
            };
            Some(UpperBound {
                utc,
                seconds_from_utc_now: offset - lag.as_secs() as i64,
            })
        }
    };
    Ok(CursorChoice {
        index,
        keys,
        cast,
        upper_bound,
    })
}

fn column_list(columns: &[PlannedColumn]) -> String {
    let mut names: Vec<&str> = columns.iter().take(30).map(|c| c.name.as_str()).collect();
    if columns.len() > 30 {
        names.push("…");
    }
    names.join(", ")
}

/// A statement parameter.
#[derive(Clone, Debug)]
pub(super) enum Bind {
    Text(String),
    Int(i64),
    Float(f64),
}

/// The extraction SQL and how to read its result.
#[derive(Clone, Debug)]
pub(super) struct Plan {
    columns: Vec<PlannedColumn>,
    sql: String,
    binds: Vec<Bind>,
    cursor: Option<CursorChoice>,
}

impl Plan {
    fn schema(&self) -> SchemaRef {
        let names = crate::formats::unique_names(self.columns.iter().map(|c| c.name.clone()));
        let fields: Vec<Field> = names
            .into_iter()
            .zip(&self.columns)
            .map(|(name, c)| Field::new(name, c.kind.data_type(), true))
            .collect();
        Arc::new(Schema::new(fields))
    }
}

/// Access to a row's raw value bytes, whatever the engine.
pub(super) trait RawRow {
    fn raw(&self, index: usize) -> Result<Option<&[u8]>, sqlx::Error>;
}

type BatchSender = mpsc::Sender<Result<SourceBatch, SourceError>>;

/// Why the streaming loop stopped early.
pub(super) enum Stop {
    /// The consumer dropped the batches: nothing left to do.
    ConsumerGone,
    Failed(SourceError),
}

/// One extraction in progress: the batch being built and the cursor state.
pub(super) struct Job {
    plan: Plan,
    schema: SchemaRef,
    builders: Vec<ColumnBuilder>,
    chunk_rows: usize,
    rows_in_batch: usize,
    bytes_in_batch: usize,
    rows_sent: u64,
    /// Incremental rows skipped because their cursor has no value.
    rows_without_cursor: u64,
    tracker: Option<CursorTracker>,
    errors: ErrorContext,
    next_watermark: Arc<Mutex<Option<String>>>,
}

impl Job {
    fn new(plan: Plan, settings: &Settings, watermark: Option<Watermark>) -> Job {
        let schema = plan.schema();
        let builders = plan
            .columns
            .iter()
            .map(|c| ColumnBuilder::new(c.kind))
            .collect();
        let tracker = plan.cursor.as_ref().map(|_| CursorTracker::new(watermark));
        Job {
            plan,
            schema,
            builders,
            chunk_rows: settings.chunk_rows,
            rows_in_batch: 0,
            bytes_in_batch: 0,
            rows_sent: 0,
            rows_without_cursor: 0,
            tracker,
            errors: settings.errors.clone(),
            next_watermark: Arc::new(Mutex::new(None)),
        }
    }

    fn location(&self, column: usize) -> String {
        let row = self.rows_sent + self.rows_in_batch as u64 + 1;
        format!(
            "{} row {row}, column {:?}",
            self.errors.source_name, self.plan.columns[column].name
        )
    }

    fn decode<'r>(&self, row: &'r impl RawRow, column: usize) -> Result<Value<'r>, SourceError> {
        let planned = &self.plan.columns[column];
        let raw = row.raw(column).map_err(|e| self.errors.map(e))?;
        let value = types::decode(planned.wire, planned.kind, raw)
            .map_err(|message| SourceError::input(self.location(column), message))?;
        if value.heap_size() > MAX_VALUE_BYTES {
            return Err(SourceError::input(
                self.location(column),
                format!("value larger than {} MiB", MAX_VALUE_BYTES >> 20),
            ));
        }
        Ok(value)
    }

    /// Whether the row is new to the incremental source (always for full
    /// extractions).
    fn is_new(&mut self, row: &impl RawRow) -> Result<bool, SourceError> {
        let Some(choice) = &self.plan.cursor else {
            return Ok(true);
        };
        let key_text = |column: usize| -> Result<Option<String>, SourceError> {
            let value = self.decode(row, column)?;
            Ok(types::key_text(self.plan.columns[column].kind, &value))
        };
        // NULL never passes the filter; a MySQL zero date or a PostgreSQL
        // infinity does, and has no value to compare: never taken either.
        let Some(cursor) = key_text(choice.index)? else {
            self.rows_without_cursor += 1;
            return Ok(false);
        };
        let keys = choice
            .keys
            .iter()
            .map(|&k| key_text(k))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self.tracker.as_mut().is_none_or(|t| t.take(cursor, keys)))
    }

    fn append(&mut self, row: &impl RawRow) -> Result<(), SourceError> {
        for column in 0..self.builders.len() {
            let value = self.decode(row, column)?;
            self.bytes_in_batch += value.heap_size();
            self.builders[column]
                .append(value)
                .map_err(|message| SourceError::input(self.location(column), message))?;
        }
        self.rows_in_batch += 1;
        Ok(())
    }

    fn batch_is_full(&self) -> bool {
        self.rows_in_batch >= self.chunk_rows || self.bytes_in_batch >= MAX_BATCH_BYTES
    }

    fn take_batch(&mut self) -> Result<SourceBatch, SourceError> {
        let internal =
            |e: String| SourceError::Internal(format!("{}: {e}", self.errors.source_name));
        let arrays = self
            .builders
            .iter_mut()
            .map(ColumnBuilder::finish)
            .collect::<Result<Vec<_>, _>>()
            .map_err(internal)?;
        let batch = RecordBatch::try_new(self.schema.clone(), arrays)
            .map_err(|e| internal(format!("building a batch: {e}")))?;
        let first_row = self.rows_sent + 1;
        self.rows_sent += self.rows_in_batch as u64;
        self.rows_in_batch = 0;
        self.bytes_in_batch = 0;
        Ok(SourceBatch::new(batch, first_row))
    }

    async fn send_batch(&mut self, tx: &BatchSender) -> Result<(), Stop> {
        let batch = self.take_batch().map_err(Stop::Failed)?;
        tx.send(Ok(batch)).await.map_err(|_| Stop::ConsumerGone)
    }

    /// Ends the job: publishes the watermark after a complete read, or
    /// sends the error.
    async fn conclude(self, result: Result<(), Stop>, tx: &BatchSender) {
        if self.rows_without_cursor > 0 {
            tracing::warn!(
                source = %self.errors.source_name,
                rows = self.rows_without_cursor,
                "incremental rows skipped: their cursor is a zero date or infinity"
            );
        }
        let error = match result {
            Ok(()) => match self.tracker.map(CursorTracker::next_watermark) {
                None => None,
                Some(Ok(watermark)) => {
                    let mut slot = match self.next_watermark.lock() {
                        Ok(slot) => slot,
                        Err(poisoned) => poisoned.into_inner(),
                    };
                    *slot = watermark;
                    None
                }
                Some(Err(message)) => Some(self.errors.refused(message)),
            },
            Err(Stop::ConsumerGone) => None,
            Err(Stop::Failed(error)) => Some(error),
        };
        if let Some(error) = error {
            let _ = tx.send(Err(error)).await;
        }
    }
}

/// Reads every row of the stream into batches sent through `tx`.
pub(super) async fn pump<R, S>(job: &mut Job, mut rows: S, tx: &BatchSender) -> Result<(), Stop>
where
    R: RawRow,
    S: Stream<Item = Result<R, sqlx::Error>> + Unpin,
{
    while let Some(row) = rows.next().await {
        let row = row.map_err(|e| Stop::Failed(job.errors.map(e)))?;
        if !job.is_new(&row).map_err(Stop::Failed)? {
            continue;
        }
        job.append(&row).map_err(Stop::Failed)?;
        if job.batch_is_full() {
            job.send_batch(tx).await?;
        }
    }
    if job.rows_in_batch > 0 {
        job.send_batch(tx).await?;
    }
    Ok(())
}

/// The consumer's side of the channel.
struct ReceivedBatches(mpsc::Receiver<Result<SourceBatch, SourceError>>);

impl Iterator for ReceivedBatches {
    type Item = Result<SourceBatch, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.0.blocking_recv()
    }
}

/// Starts `run` (which streams the rows into the job) on the runtime and
/// returns the extraction the consumer reads.
fn spawn_extraction<F, Fut>(job: Job, run: F) -> Extraction
where
    F: FnOnce(Job, BatchSender) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(2);
    let name = job.errors.source_name.clone();
    let next_watermark = job.next_watermark.clone();
    tokio::spawn(run(job, tx));
    Extraction {
        name,
        batches: Box::new(ReceivedBatches(rx)),
        next_watermark,
    }
}

#[cfg(test)]
pub(super) mod test_support {
    //! Helpers for the tests that run against real servers.
    use super::*;
    use crate::ExtractContext;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A table or role name no other test (or test run) uses.
    pub(crate) fn unique_name(prefix: &str) -> String {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        format!("{prefix}_{}_{n}_{nanos}", std::process::id())
    }

    /// With CI=true a missing server fails the test; elsewhere the test
    /// returns early with a note.
    pub(crate) fn server_unavailable(server: &str, error: &dyn fmt::Display) {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{server} is not reachable, and CI=true requires it: {error}");
        }
        eprintln!("skipping: {server} is not reachable: {error}");
    }

    pub(crate) fn config(url: &str) -> DatabaseConfig {
        DatabaseConfig {
            url: url.into(),
            password_env: None,
            password_file: None,
            table: None,
            query: None,
            incremental: None,
            chunk_rows: None,
            connect_timeout: None,
        }
    }

    /// What a consumer got out of an extraction.
    pub(crate) struct Collected {
        pub batches: Vec<SourceBatch>,
        pub error: Option<SourceError>,
        pub watermark: Option<String>,
    }

    impl Collected {
        pub(crate) fn rows(&self) -> usize {
            self.batches.iter().map(|b| b.batch.num_rows()).sum()
        }

        /// Every batch in one (panics on no batch: use `rows` first).
        pub(crate) fn all(&self) -> RecordBatch {
            let schema = self.batches[0].batch.schema();
            arrow::compute::concat_batches(&schema, self.batches.iter().map(|b| &b.batch)).unwrap()
        }
    }

    /// Reads the batches on a blocking thread, as the pipeline does.
    pub(crate) async fn collect(extraction: Extraction) -> Collected {
        let Extraction {
            batches,
            next_watermark,
            ..
        } = extraction;
        let (batches, error) = tokio::task::spawn_blocking(move || {
            let mut got = Vec::new();
            for batch in batches {
                match batch {
                    Ok(batch) => got.push(batch),
                    Err(error) => return (got, Some(error)),
                }
            }
            (got, None)
        })
        .await
        .unwrap();
        let watermark = next_watermark.lock().unwrap().clone();
        Collected {
            batches,
            error,
            watermark,
        }
    }

    /// One extraction, start to end; panics if it cannot start.
    pub(crate) async fn run(
        config: &DatabaseConfig,
        engine: Engine,
        watermark: Option<String>,
    ) -> Collected {
        let ctx = ExtractContext {
            watermark,
            batch_rows: 1000,
        };
        match config.extract(engine, &ctx).await {
            Ok(extraction) => collect(extraction).await,
            Err(error) => panic!("the extraction did not start: {error}"),
        }
    }

    /// A local port nothing listens on.
    pub(crate) fn free_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(toml_text: &str) -> DatabaseConfig {
        toml::from_str(toml_text).unwrap()
    }

    fn valid() -> DatabaseConfig {
        config(
            r#"
            url = "postgres://leitor@db.local:5432/sim"
            password_env = "SIM_PASSWORD"
            table = "saude.obitos"
            incremental = { cursor = "atualizado_em", primary_key = ["id"], lag = "5m", time_zone = "-03:00" }
            "#,
        )
    }

    #[test]
    fn a_valid_config_has_no_problems_and_parses_through_source_config() {
        assert_eq!(valid().problems(Engine::Postgres), Vec::<String>::new());
        let source: crate::SourceConfig = toml::from_str(
            "type = \"mysql\"\nurl = \"mysql://root@127.0.0.1/test\"\ntable = \"t\"\nchunk_rows = 10\n",
        )
        .unwrap();
        assert!(source.problems().is_empty(), "{:?}", source.problems());
        let unknown = toml::from_str::<crate::SourceConfig>(
            "type = \"postgres\"\nurl = \"postgres://u@h/d\"\ntable = \"t\"\npassword = \"x\"\n",
        );
        assert!(unknown.is_err(), "unknown keys are refused");
    }

    #[test]
    fn every_problem_is_reported_at_once_without_echoing_a_password() {
        let c = config(
            r#"
            url = "mysql://leitor:Segredo123@db.local/sim?password=Outro456&timezone=%2B03:00"
            password_env = "X"
            password_file = "/run/x"
            table = "a.b.c"
            query = "select 1"
            chunk_rows = 0
            connect_timeout = "soon"
            incremental = { cursor = "", primary_key = [], lag = "5 minutes", time_zone = "Brasil" }
            "#,
        );
        let problems = c.problems(Engine::Postgres);
        let all = problems.join("\n");
        assert!(
            !all.contains("Segredo123") && !all.contains("Outro456"),
            "{all}"
        );
        for expected in [
            "must start with postgres://",
            "must not contain a password",
            "parameter password",
            "parameter timezone is not supported",
            "not both",
            "chunk_rows",
            "connect_timeout",
            "incremental.cursor",
            "incremental.primary_key",
            "incremental.lag",
            "incremental.time_zone",
        ] {
            assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
        }
        let debug = format!("{c:?}");
        assert!(
            !debug.contains("Segredo123") && !debug.contains("Outro456"),
            "{debug}"
        );
        assert!(debug.contains("***"));
    }

    #[test]
    fn queries_must_be_one_select() {
        let problems = |q: &str| query_problems(q, Engine::Mysql);
        assert!(problems("SELECT 1;").is_empty());
        assert!(
            problems("  -- comentário\n/* x */ WITH a AS (SELECT 1) SELECT * FROM a").is_empty()
        );
        assert!(
            problems("select 1; drop table t")
                .iter()
                .any(|p| p.contains("';'"))
        );
        assert!(
            problems("DELETE FROM t")
                .iter()
                .any(|p| p.contains("must be a SELECT"))
        );
        assert!(
            problems("SELECT * FROM t INTO OUTFILE '/tmp/x'")
                .iter()
                .any(|p| p.contains("OUTFILE"))
        );
        assert!(problems("SELECT outfile_id FROM t").is_empty());
        assert!(problems(" ; ").iter().any(|p| p.contains("empty")));
    }

    #[test]
    fn table_names_are_validated_not_split_inside_quotes() {
        assert_eq!(
            parse_table("saude.obitos", Engine::Postgres),
            Ok((Some("saude".into()), "obitos".into()))
        );
        assert_eq!(
            parse_table("Óbitos 2024", Engine::Postgres),
            Ok((None, "Óbitos 2024".into()))
        );
        assert!(parse_table("a..b", Engine::Postgres).is_err());
        assert!(parse_table("a\u{0}b", Engine::Postgres).is_err());
        assert!(parse_table(&"x".repeat(64), Engine::Postgres).is_err());
        assert!(parse_table(&"x".repeat(64), Engine::Mysql).is_ok());
    }

    #[test]
    fn durations_and_offsets() {
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("-5m").is_err());
        assert!(parse_duration("99999999999999999d").is_err());
        assert_eq!(parse_utc_offset("-03:00"), Ok(-10_800));
        assert_eq!(parse_utc_offset("+05:30"), Ok(19_800));
        assert_eq!(parse_utc_offset("UTC"), Ok(0));
        assert!(parse_utc_offset("America/Sao_Paulo").is_err());
    }

    #[test]
    fn password_comes_from_the_environment_or_a_file_and_never_prints() {
        let c = valid();
        let settings = c
            .settings(Engine::Postgres, 100, |name| {
                (name == "SIM_PASSWORD").then(|| "pw-Ax9".into())
            })
            .unwrap();
        assert_eq!(settings.password(), Some("pw-Ax9"));
        assert!(!format!("{settings:?}").contains("pw-Ax9"));
        assert_eq!(settings.chunk_rows, 100);
        let missing = c.settings(Engine::Postgres, 100, |_| None).unwrap_err();
        assert!(missing.to_string().contains("SIM_PASSWORD"), "{missing}");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("senha");
        std::fs::write(&path, "de-arquivo\n").unwrap();
        let mut from_file = valid();
        from_file.password_env = None;
        from_file.password_file = Some(path);
        let settings = from_file.settings(Engine::Postgres, 100, |_| None).unwrap();
        assert_eq!(settings.password(), Some("de-arquivo"));
        let scrubbed = settings
            .errors
            .refused("echo de-arquivo".into())
            .to_string();
        assert!(!scrubbed.contains("de-arquivo"), "{scrubbed}");
    }

    #[test]
    fn watermarks_round_trip_and_accept_a_bare_cursor() {
        let w = Watermark {
            cursor: "2024-01-01 00:00:00.000000".into(),
            keys_at_cursor: vec![vec![Some("1".into())], vec![None]],
        };
        assert_eq!(Watermark::parse(Some(&w.to_text()), "s").unwrap(), Some(w));
        assert_eq!(
            Watermark::parse(Some("42"), "s").unwrap().unwrap().cursor,
            "42"
        );
        assert_eq!(Watermark::parse(Some("  "), "s").unwrap(), None);
        assert!(Watermark::parse(Some("{\"cursor\": 1"), "s").is_err());
    }

    #[test]
    fn the_tracker_skips_rows_taken_at_the_last_cursor_and_keeps_new_ones() {
        let key = |k: &str| vec![Some(k.to_string())];
        let mut first = CursorTracker::new(None);
        assert!(first.take("1".into(), key("a")));
        assert!(first.take("2".into(), key("b")));
        assert!(first.take("2".into(), key("c")));
        let saved = first.next_watermark().unwrap().unwrap();
        let previous = Watermark::parse(Some(&saved), "s").unwrap();
        assert_eq!(
            previous.as_ref().unwrap().keys_at_cursor,
            vec![key("b"), key("c")]
        );

        let mut second = CursorTracker::new(previous.clone());
        assert!(!second.take("2".into(), key("b")));
        assert!(
            second.take("2".into(), key("d")),
            "a late row at the same cursor is new"
        );
        assert!(!second.take("2".into(), key("c")));
        let saved = Watermark::parse(second.next_watermark().unwrap().as_deref(), "s")
            .unwrap()
            .unwrap();
        assert_eq!(saved.keys_at_cursor, vec![key("b"), key("d"), key("c")]);

        // No rows: the previous watermark stays.
        let idle = CursorTracker::new(previous.clone());
        assert_eq!(
            idle.next_watermark().unwrap(),
            previous.map(|w| w.to_text())
        );
    }

    #[test]
    fn too_many_keys_at_the_last_cursor_fail_but_not_at_earlier_ones() {
        let mut tracker = CursorTracker::new(None);
        let long = "k".repeat(1000);
        for i in 0..2000 {
            tracker.take("1".into(), vec![Some(format!("{long}{i}"))]);
        }
        assert!(
            tracker.keys_at_last.is_empty(),
            "memory is released on overflow"
        );
        tracker.take("2".into(), vec![Some("x".into())]);
        assert!(tracker.next_watermark().is_ok());

        let mut tracker = CursorTracker::new(None);
        for i in 0..2000 {
            tracker.take("1".into(), vec![Some(format!("{long}{i}"))]);
        }
        assert!(
            tracker
                .next_watermark()
                .unwrap_err()
                .contains("finer cursor")
        );
    }
}
