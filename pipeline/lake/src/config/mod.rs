//! `lagoa.toml`: defaults, then the file, then `LAGOA__SECTION__KEY`
//! environment variables. Validation reports every problem at once.

use crate::error::{LakeError, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;

mod cluster;
mod documented;
pub use cluster::ClusterConfig;
mod oidc;
pub use documented::render_documented;
pub use lagoa_keys::KeysConfig;
pub use oidc::{ASYMMETRIC_ALGORITHMS, OidcConfig, UnknownPeople, check_provider_url};

pub const CONFIG_FILE: &str = "lagoa.toml";

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LakeConfig {
    pub catalog: CatalogConfig,
    pub storage: StorageConfig,
    pub keys: KeysConfig,
    pub encryption: EncryptionConfig,
    pub retention: RetentionConfig,
    pub writer: WriterConfig,
    pub query: QueryConfig,
    pub daemon: DaemonConfig,
    pub console: ConsoleConfig,
    pub tls: TlsConfig,
    pub oidc: OidcConfig,
    pub indicators: IndicatorsConfig,
    pub audit: AuditConfig,
    pub governance: GovernanceConfig,
    pub cluster: ClusterConfig,
}

/// The sharing model's checks.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct GovernanceConfig {
    /// A personal column with fewer distinct values than this is not
    /// pseudonymised (its pseudonyms would be matched to its values by
    /// frequency): it is removed or generalised instead.
    pub min_pseudonym_distinct: u64,
}

impl Default for GovernanceConfig {
    fn default() -> Self {
        Self {
            min_pseudonym_distinct: 50,
        }
    }
}

/// The audit trail.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// A process moves the trail's anchor in the object store at most this
    /// often (seconds): entries deleted from the trail's end after the last
    /// move cannot be told from entries never written.
    pub anchor_interval_seconds: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            anchor_interval_seconds: 10,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogConfig {
    /// `sqlite://catalog.db` (relative to the lake directory) or `postgres://...`.
    pub url: String,
}

impl Default for CatalogConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://catalog.db".into(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// `file://store` (relative to the lake directory), `file:///abs/path`,
    /// `memory://`, or `s3://bucket/prefix`.
    pub url: String,
    /// S3 endpoint for S3-compatible servers (MinIO, Ceph RGW, a government cloud).
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// Plain HTTP to the endpoint: only for a server on a trusted network.
    pub allow_http: bool,
    /// S3: retries of a failed request (connection cut, 5xx, throttling).
    pub max_retries: usize,
    /// S3: give up retrying a request after this long.
    pub retry_timeout_seconds: u64,
    /// S3: one request may take this long.
    pub timeout_seconds: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            url: "file://store".into(),
            endpoint: None,
            region: None,
            allow_http: false,
            max_retries: 10,
            retry_timeout_seconds: 180,
            timeout_seconds: 30,
        }
    }
}

/// `lagoa daemon`, `lagoa run`, `lagoa sources`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonConfig {
    /// The folder of `*.source.toml` files, relative to the lake directory.
    pub sources: String,
    /// Sources running at once.
    pub concurrency: usize,
    /// A run's lease in the catalog lasts this long without renewal (it is
    /// renewed every third of it); a crashed daemon's sources wait this
    /// long before another daemon takes them.
    pub lease_seconds: u64,
    /// On SIGTERM/SIGINT, how long runs under way may take to finish.
    pub shutdown_grace_seconds: u64,
    /// Address of `/metrics`, `/healthz` and `/readyz`; empty: none.
    pub listen: String,
    /// The environment variable holding the alert webhook's URL (it
    /// carries a token, so it never sits in this file).
    pub alert_webhook_env: String,
    /// Alert when a source fails this many scheduled runs in a row.
    pub repeated_failures: u32,
    /// A dataset is late when nothing was committed for its agreement's
    /// interval plus this many hours.
    pub late_grace_hours: u64,
    /// Every this many hours the daemon reads every object of the lake in
    /// full, as `lagoa check --deep` does, and alerts on any damage; 0
    /// turns that off. The first check runs one interval after start.
    pub deep_check_hours: u64,
    /// Every this many hours the daemon compacts every dataset, as
    /// `lagoa compact` does (small files merged, upserts' deleted rows
    /// folded away); 0 turns that off. The first runs one interval after
    /// start.
    pub compact_hours: u64,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        Self {
            sources: "sources".into(),
            concurrency: 4,
            lease_seconds: 120,
            shutdown_grace_seconds: 300,
            listen: "127.0.0.1:9464".into(),
            alert_webhook_env: "LAGOA_ALERT_WEBHOOK".into(),
            repeated_failures: 3,
            late_grace_hours: 24,
            deep_check_hours: 168,
            compact_hours: 24,
        }
    }
}

/// Policy indicators (`lagoa indicator`, and the daemon's runs of them).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct IndicatorsConfig {
    /// The folder of indicator definitions (`*.sql` with a header),
    /// relative to the lake directory.
    pub dir: String,
    /// How often `lagoa daemon` looks for indicators whose sources changed
    /// (and cron-triggered ones that are due); 0 turns that off.
    pub check_seconds: u64,
}

impl Default for IndicatorsConfig {
    fn default() -> Self {
        Self {
            dir: "indicators".into(),
            check_seconds: 60,
        }
    }
}

/// TLS for the doors `lagoa serve` opens: the console, the API and the
/// PostgreSQL port.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// The server's certificate chain (PEM, leaf first); "" for no TLS.
    pub cert_file: String,
    /// The certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_file: String,
    /// Serve without TLS beyond loopback: a door on a non-loopback address
    /// without a certificate, and plaintext PostgreSQL connections from
    /// other hosts when there is one, are refused unless this is true.
    pub allow_plaintext: bool,
}

impl TlsConfig {
    /// Whether a certificate is configured.
    pub fn enabled(&self) -> bool {
        !self.cert_file.trim().is_empty()
    }
}

/// `lagoa serve`: the operators' web console.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// Address the console listens on.
    pub listen: String,
    /// Times on the console's pages are shown in this zone.
    pub timezone: String,
    /// Mark the session cookie `Secure` (set when the console is served
    /// behind HTTPS, as it should be beyond localhost).
    pub secure_cookie: bool,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            timezone: "America/Sao_Paulo".into(),
            secure_cookie: false,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct EncryptionConfig {
    /// Always true in a real lake. False only for benchmarks measuring the
    /// cost of encryption (`lagoa init --insecure-no-encryption`).
    pub enabled: bool,
}

impl Default for EncryptionConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Snapshots older than this can be expired by `lagoa vacuum`; files
    /// only they need are deleted. Time travel reaches back this far.
    pub snapshots: String,
    /// Files not named by the catalog are deleted only when older than this,
    /// so a run still writing is never disturbed.
    pub orphan_min_age: String,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            snapshots: "30d".into(),
            orphan_min_age: "1h".into(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WriterConfig {
    /// A data file is closed after this many rows and a new one started.
    pub target_file_rows: usize,
    /// Rows per Parquet row group.
    pub row_group_rows: usize,
    /// Memory the writer may hold rows in to sort them by the dataset's
    /// reference date before writing (`64MiB`; `0` writes rows as they
    /// come). Sorted rows give each row group a narrow range of dates, so
    /// a query over a period reads only the row groups of that period.
    #[serde(deserialize_with = "size_or_zero")]
    pub sort_memory: String,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self {
            target_file_rows: 4_000_000,
            row_group_rows: 256 * 1024,
            sort_memory: "64MiB".into(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueryConfig {
    /// Memory one query may use (`512MiB`, `4GiB`). Queries never spill to
    /// local disk (spill files would hold plaintext), so a query that needs
    /// more fails with a clear error instead.
    pub memory_limit: String,
    /// Filter rows while decoding Parquet (late materialization). Off by
    /// default: measured 17-37 % slower on the benchmark queries; row groups
    /// and pages are pruned by the predicate either way.
    pub filter_pushdown: bool,
    /// Governed queries (CLI with a token, HTTP, PostgreSQL port): most
    /// rows one query may return, and one `FETCH` of a cursor.
    pub max_rows: usize,
    /// ... longest a query may run.
    pub timeout_seconds: u64,
    /// Server-side cursors (the PostgreSQL port's `DECLARE ... CURSOR`)
    /// stream their rows as the client fetches them: most rows one cursor
    /// may hand out in all (`max_rows` holds for each `FETCH`).
    pub cursor_max_rows: u64,
    /// ... longest a cursor stays open, from `DECLARE` to its last row
    /// (instead of `timeout_seconds`).
    pub cursor_timeout_seconds: u64,
    /// ... longest a cursor waits for the next `FETCH`; then its query is
    /// stopped and its place freed.
    pub cursor_idle_seconds: u64,
    /// ... most cursors one principal may hold open at once, on all its
    /// connections (each holds one of its `max_per_principal` places).
    pub cursor_max_per_principal: usize,
    /// ... longest SQL text accepted.
    pub max_sql_bytes: usize,
    /// ... deepest nesting of expressions, subqueries or set operations.
    pub max_depth: usize,
    /// ... most expression nodes in one statement.
    pub max_expression_nodes: usize,
    /// ... most table references once every CTE reference is expanded.
    pub max_relations: u64,
    /// ... queries running at once, in all.
    pub max_concurrent: usize,
    /// ... queries of one principal running at once.
    pub max_per_principal: usize,
    /// ... queries waiting for a place; more are refused at once.
    pub max_queued: usize,
    /// ... longest a query waits for a place before it is refused.
    pub queue_timeout_seconds: u64,
    /// ... a query running longer than this yields the CPU to younger ones.
    pub background_after_ms: u64,
    /// The PostgreSQL wire protocol port `lagoa serve` opens for analysts'
    /// tools (psql, DBeaver, Metabase, Power BI); "" for none.
    pub pg_listen: String,
    /// Where governed queries run: `local` (in the query service's
    /// process) or `ballista` (on the cluster whose scheduler is
    /// `scheduler`; see `lagoa cluster`).
    pub engine: String,
    /// The cluster's scheduler, `host:port` (`lagoa cluster scheduler
    /// --bind`); with `engine = "ballista"`, and where `lagoa cluster
    /// executor` registers.
    pub scheduler: String,
    /// With `engine = "ballista"`: when the scheduler cannot be reached,
    /// run the query locally (true) instead of failing with a clear error.
    pub scheduler_fallback: bool,
}

impl Default for QueryConfig {
    fn default() -> Self {
        Self {
            memory_limit: "4GiB".into(),
            filter_pushdown: false,
            max_rows: 100_000,
            timeout_seconds: 300,
            cursor_max_rows: 10_000_000,
            cursor_timeout_seconds: 3_600,
            cursor_idle_seconds: 300,
            cursor_max_per_principal: 2,
            max_sql_bytes: 64 * 1024,
            max_depth: 128,
            max_expression_nodes: 20_000,
            max_relations: 256,
            max_concurrent: 8,
            max_per_principal: 4,
            max_queued: 64,
            queue_timeout_seconds: 30,
            background_after_ms: 1_000,
            pg_listen: "127.0.0.1:5433".into(),
            engine: "local".into(),
            scheduler: "127.0.0.1:50050".into(),
            scheduler_fallback: false,
        }
    }
}

impl LakeConfig {
    /// Reads `<lake>/lagoa.toml`, applies `LAGOA__SECTION__KEY` overrides
    /// from the environment, and validates.
    pub fn load(lake_dir: &Path) -> Result<Self> {
        let path = lake_dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                LakeError::NoLake {
                    path: lake_dir.display().to_string(),
                }
            } else {
                LakeError::io(format!("reading {}", path.display()))(e)
            }
        })?;
        Self::from_toml_with_env(&text, std::env::vars())
            .map_err(|e| LakeError::Config(format!("{}: {e}", path.display())))
    }

    pub fn from_toml_with_env(
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> std::result::Result<Self, String> {
        let mut table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
        for (key, value) in env {
            let Some(rest) = key.strip_prefix("LAGOA__") else {
                continue;
            };
            let parts: Vec<String> = rest.split("__").map(|p| p.to_ascii_lowercase()).collect();
            set_path(&mut table, &parts, parse_env_value(&value))
                .map_err(|e| format!("environment variable {key}: {e}"))?;
        }
        let config: LakeConfig = table
            .try_into()
            .map_err(|e: toml::de::Error| e.to_string())?;
        config.validate()?;
        Ok(config)
    }

    /// Every problem at once, one per line.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let mut problems = Vec::new();
        let catalog = &self.catalog.url;
        if !(catalog.starts_with("sqlite:")
            || catalog.starts_with("postgres://")
            || catalog.starts_with("postgresql://"))
        {
            problems.push(format!(
                "catalog.url {catalog:?}: expected sqlite://<file> or postgres://..."
            ));
        }
        let storage = &self.storage.url;
        match storage.split_once("://") {
            Some(("file" | "memory", _)) => {}
            Some(("s3", rest)) => {
                if rest.split('/').next().unwrap_or("").is_empty() {
                    problems.push(format!(
                        "storage.url {storage:?}: s3:// needs a bucket (s3://bucket/prefix)"
                    ));
                }
                if let Some(endpoint) = &self.storage.endpoint
                    && endpoint.starts_with("http://")
                    && !self.storage.allow_http
                {
                    problems.push(format!(
                        "storage.endpoint {endpoint:?} is plain HTTP: set storage.allow_http = true only for a server on a trusted network"
                    ));
                }
            }
            _ => problems.push(format!(
                "storage.url {storage:?}: expected file://, memory:// or s3://bucket/prefix"
            )),
        }
        problems.extend(self.keys.problems());
        problems.extend(self.oidc.problems());
        for (name, value) in [
            ("retention.snapshots", &self.retention.snapshots),
            ("retention.orphan_min_age", &self.retention.orphan_min_age),
        ] {
            if let Err(e) = parse_duration(value) {
                problems.push(format!("{name}: {e}"));
            }
        }
        if self.storage.timeout_seconds == 0 {
            problems.push("storage.timeout_seconds must be at least 1".into());
        }
        for (name, value) in [
            ("query.max_depth", self.query.max_depth),
            (
                "query.max_expression_nodes",
                self.query.max_expression_nodes,
            ),
            ("query.max_concurrent", self.query.max_concurrent),
            ("query.max_per_principal", self.query.max_per_principal),
            ("query.timeout_seconds", self.query.timeout_seconds as usize),
            ("query.cursor_max_rows", self.query.cursor_max_rows as usize),
            (
                "query.cursor_timeout_seconds",
                self.query.cursor_timeout_seconds as usize,
            ),
            (
                "query.cursor_idle_seconds",
                self.query.cursor_idle_seconds as usize,
            ),
            (
                "query.cursor_max_per_principal",
                self.query.cursor_max_per_principal,
            ),
        ] {
            if value == 0 {
                problems.push(format!("{name} must be at least 1"));
            }
        }
        if self.query.max_depth > 512 {
            problems.push(format!(
                "query.max_depth {} is more than the query threads' stack is measured for (512)",
                self.query.max_depth
            ));
        }
        if !["local", "ballista"].contains(&self.query.engine.as_str()) {
            problems.push(format!(
                "query.engine: {:?} is neither \"local\" nor \"ballista\"",
                self.query.engine
            ));
        }
        if let Err(e) = self.scheduler_address() {
            problems.push(format!("query.scheduler: {e}"));
        }
        problems.extend(self.cluster.problems());
        if let Err(e) = parse_size(&self.query.memory_limit) {
            problems.push(format!("query.memory_limit: {e}"));
        }
        if self.writer.target_file_rows == 0 {
            problems.push("writer.target_file_rows must be positive".into());
        }
        if self.writer.row_group_rows == 0 {
            problems.push("writer.row_group_rows must be positive".into());
        }
        if self.writer.sort_memory.trim() != "0"
            && let Err(e) = parse_size(&self.writer.sort_memory)
        {
            problems.push(format!("writer.sort_memory: {e}"));
        }
        if self.daemon.concurrency == 0 {
            problems.push("daemon.concurrency must be at least 1".into());
        }
        if self.daemon.lease_seconds < 3 {
            problems.push("daemon.lease_seconds must be at least 3".into());
        }
        if self.console.timezone.parse::<chrono_tz::Tz>().is_err() {
            problems.push(format!(
                "console.timezone {:?} is not an IANA time zone (e.g. America/Sao_Paulo)",
                self.console.timezone
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n"))
        }
    }

    pub fn snapshot_retention(&self) -> Duration {
        parse_duration(&self.retention.snapshots).unwrap_or(Duration::from_secs(30 * 86400))
    }

    pub fn orphan_min_age(&self) -> Duration {
        parse_duration(&self.retention.orphan_min_age).unwrap_or(Duration::from_secs(3600))
    }
}

impl LakeConfig {
    /// The cluster's scheduler (`query.scheduler`), resolved.
    pub fn scheduler_address(&self) -> std::result::Result<std::net::SocketAddr, String> {
        use std::net::ToSocketAddrs;
        self.query
            .scheduler
            .to_socket_addrs()
            .map_err(|e| format!("{:?} is not a host:port ({e})", self.query.scheduler))?
            .next()
            .ok_or_else(|| format!("{:?} resolves to no address", self.query.scheduler))
    }

    pub fn query_memory_limit(&self) -> usize {
        parse_size(&self.query.memory_limit).unwrap_or(4 << 30)
    }
}

impl WriterConfig {
    /// Bytes of rows held for sorting; 0 when rows are written as they come.
    pub fn sort_memory_bytes(&self) -> usize {
        match self.sort_memory.trim() {
            "0" => 0,
            text => parse_size(text).unwrap_or(64 << 20),
        }
    }
}

/// A size written as text (`64MiB`) or as a number of bytes (`0`, which
/// the environment's `LAGOA__WRITER__SORT_MEMORY=0` also gives).
fn size_or_zero<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        Text(String),
        Bytes(u64),
    }
    Ok(match Size::deserialize(deserializer)? {
        Size::Text(text) => text,
        Size::Bytes(n) => n.to_string(),
    })
}

/// The leading digits and what follows them: `("512", "MiB")`.
fn number_and_unit(text: &str) -> (&str, &str) {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    text.split_at(split)
}

/// `512MiB`, `4GiB`, `1GB`, `1000000` (bytes).
pub fn parse_size(text: &str) -> std::result::Result<usize, String> {
    let text = text.trim();
    let (number, unit) = number_and_unit(text);
    let n: usize = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size like 512MiB or 4GiB"))?;
    let factor: usize = match unit.trim() {
        "" | "B" => 1,
        "KB" => 1_000,
        "KiB" => 1 << 10,
        "MB" => 1_000_000,
        "MiB" => 1 << 20,
        "GB" => 1_000_000_000,
        "GiB" => 1 << 30,
        _ => return Err(format!("{text:?} is not a size like 512MiB or 4GiB")),
    };
    n.checked_mul(factor)
        .filter(|v| *v > 0)
        .ok_or_else(|| format!("{text:?} is out of range"))
}

fn parse_env_value(value: &str) -> toml::Value {
    if let Ok(b) = value.parse::<bool>() {
        toml::Value::Boolean(b)
    } else if let Ok(i) = value.parse::<i64>() {
        toml::Value::Integer(i)
    } else {
        toml::Value::String(value.to_owned())
    }
}

fn set_path(
    table: &mut toml::Table,
    parts: &[String],
    value: toml::Value,
) -> std::result::Result<(), String> {
    match parts {
        [] => Err("empty key".into()),
        [last] => {
            table.insert(last.clone(), value);
            Ok(())
        }
        [first, rest @ ..] => {
            let entry = table
                .entry(first.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match entry {
                toml::Value::Table(t) => set_path(t, rest, value),
                _ => Err(format!("{first} is not a section")),
            }
        }
    }
}

/// `90s`, `15m`, `1h`, `30d`.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = number_and_unit(text);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 90s, 15m, 1h or 30d"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86400,
        _ => {
            return Err(format!(
                "{text:?} is not a duration like 90s, 15m, 1h or 30d"
            ));
        }
    };
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorting_is_turned_off_with_a_zero_from_the_file_or_the_environment() {
        let config = LakeConfig::from_toml_with_env("[writer]\nsort_memory = 0\n", []).unwrap();
        assert_eq!(config.writer.sort_memory_bytes(), 0);
        let config =
            LakeConfig::from_toml_with_env("", [("LAGOA__WRITER__SORT_MEMORY".into(), "0".into())])
                .unwrap();
        assert_eq!(config.writer.sort_memory_bytes(), 0);
        let config = LakeConfig::from_toml_with_env("", []).unwrap();
        assert_eq!(config.writer.sort_memory_bytes(), 64 << 20);
        let bad = LakeConfig::from_toml_with_env("[writer]\nsort_memory = \"lots\"\n", []);
        assert!(bad.unwrap_err().to_string().contains("writer.sort_memory"));
    }

    #[test]
    fn documented_default_parses_back() {
        let text = render_documented(&LakeConfig::default());
        let config = LakeConfig::from_toml_with_env(&text, []).unwrap();
        assert_eq!(config.catalog.url, "sqlite://catalog.db");
        assert!(config.encryption.enabled);
    }

    #[test]
    fn environment_overrides_file() {
        let env = [(
            "LAGOA__CATALOG__URL".to_string(),
            "postgres://x@h/db".to_string(),
        )];
        let config = LakeConfig::from_toml_with_env("", env).unwrap();
        assert_eq!(config.catalog.url, "postgres://x@h/db");
    }

    #[test]
    fn all_problems_reported_at_once() {
        let text = r#"
[catalog]
url = "mysql://x"
[storage]
url = "s3://b/p"
endpoint = "http://127.0.0.1:9000"
[retention]
snapshots = "soon"
"#;
        let err = LakeConfig::from_toml_with_env(text, []).unwrap_err();
        assert!(err.contains("catalog.url"), "{err}");
        assert!(err.contains("allow_http"), "{err}");
        assert!(err.contains("retention.snapshots"), "{err}");
    }

    #[test]
    fn the_example_in_infra_parses() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../infra/lagoa.example.toml"
        );
        let text = std::fs::read_to_string(path).unwrap();
        let config = LakeConfig::from_toml_with_env(&text, []).unwrap();
        assert!(config.catalog.url.starts_with("postgres://"));
        assert_eq!(config.snapshot_retention(), Duration::from_secs(90 * 86400));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(
            parse_duration("30d").unwrap(),
            Duration::from_secs(30 * 86400)
        );
        assert!(parse_duration("1w").is_err());
        assert_eq!(parse_size("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_size("2GB").unwrap(), 2_000_000_000);
        assert!(parse_size("lots").is_err());
    }
}
