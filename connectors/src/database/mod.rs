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

mod config;
mod engine;
mod mysql;
mod postgres;
mod stream;
mod types;

use config::*;
pub use config::{DatabaseConfig, IncrementalConfig};
use stream::*;

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

    /// Waits for `connecting` at most `connect_timeout`; its errors
    /// classified as every other database error is.
    async fn connect_within<C>(
        &self,
        connecting: impl std::future::Future<Output = Result<C, sqlx::Error>>,
    ) -> Result<C, SourceError> {
        match tokio::time::timeout(self.connect_timeout, connecting).await {
            Ok(connected) => connected.map_err(|e| self.errors.map(e)),
            Err(_) => Err(self.errors.unreachable(format!(
                "no connection to {}:{} within {} s",
                self.errors.host,
                self.errors.port,
                self.connect_timeout.as_secs()
            ))),
        }
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

#[cfg(test)]
pub(super) mod test_support {
    //! Helpers for the tests that run against real servers.
    use super::*;
    use crate::ExtractContext;
    use arrow::array::AsArray;
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

    /// A source reading the whole of `table`.
    pub(crate) fn table_source(url: &str, table: &str) -> DatabaseConfig {
        let mut c = config(url);
        c.table = Some(table.into());
        c
    }

    /// The `id` column of everything extracted, as sorted integers.
    pub(crate) fn ids(collected: &Collected) -> Vec<i64> {
        if collected.rows() == 0 {
            return Vec::new();
        }
        let all = collected.all();
        let column = all.column_by_name("id").expect("an id column");
        let column = arrow::compute::cast(column, &arrow::datatypes::DataType::Int64).unwrap();
        let mut ids: Vec<i64> = column
            .as_primitive::<arrow::datatypes::Int64Type>()
            .values()
            .to_vec();
        ids.sort_unstable();
        ids
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
