//! A database source's configuration (`type = "postgres"` or `"mysql"`):
//! what a source file says, every problem of it at once, and the settings
//! an extraction runs with (credentials only from the environment).

use super::*;

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

pub(super) fn redacted_url(url: &str) -> String {
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
    pub(super) fn settings(
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

    pub(super) fn read_password(
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

pub(super) const DEFAULT_BATCH: usize = crate::DEFAULT_BATCH_ROWS;

pub(super) fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

pub(super) fn url_problems(url: &str, engine: Engine) -> Vec<String> {
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
pub(super) fn parse_table(table: &str, engine: Engine) -> Result<(Option<String>, String), String> {
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
pub(super) fn query_body(query: &str) -> &str {
    let trimmed = query.trim();
    trimmed.strip_suffix(';').unwrap_or(trimmed).trim_end()
}

pub(super) fn query_problems(query: &str, engine: Engine) -> Vec<String> {
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

pub(super) fn skip_leading_comments(mut text: &str) -> &str {
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

pub(super) fn contains_word(text: &str, word: &str) -> bool {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(is_word) && !after.is_some_and(is_word)
    })
}

pub(super) fn incremental_problems(incremental: &IncrementalConfig) -> Vec<String> {
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
pub(super) fn parse_duration(text: &str) -> Result<Duration, String> {
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
pub(super) fn parse_utc_offset(text: &str) -> Result<i64, String> {
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
