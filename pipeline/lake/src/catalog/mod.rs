//! The catalog database: which files form which snapshot of which dataset.
//!
//! Table state lives here, never in listing the bucket (the DuckLake
//! approach). Files are written first under unique names; [`Catalog::commit`]
//! makes them visible in one transaction that creates a new lake-wide
//! snapshot. A concurrent commit loses the race for the next snapshot id
//! (primary-key violation on PostgreSQL, the write lock on SQLite), is rolled
//! back whole and retried against the new state, so both writers succeed or
//! the loser gets a retryable [`LakeError::CommitConflict`].
//!
//! The same SQL runs on SQLite (embedded default) and PostgreSQL
//! (production): sqlx's `Any` driver, `$N` placeholders, portable DDL in
//! `migrations.rs`.

mod audit;
mod commit;
mod deletes;
mod deliveries;
mod indicators;
mod migrations;
pub mod model;
mod objects;
mod runs;
mod sources;

pub use audit::{AuditCheck, AuditEntry, AuditKey, AuditRecord};
pub use commit::merge_columns;
pub use indicators::{IndicatorInput, IndicatorRun};
pub use runs::{
    ContractVersion, DURATION_BUCKETS, DriftEvent, QuarantineRecord, RunFilter, RunRecord,
    RunStats, StatusCount, save_watermark,
};
pub use sources::{Claim, SourceState};

use crate::error::{LakeError, Result};
use lagoa_core::{DatasetName, PersonalTag, SharingLevel, SnapshotId};
use model::*;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The files of dataset `$1` live at snapshot `$2`, as two range scans of
/// the `lagoa_data_file_live` index: those still live, and those ended
/// after `$2`. Written as one `OR`, SQLite reads every file the dataset
/// ever had; this way the latest snapshot costs only its live files
/// however long the history.
const FILES_AT: &str = "SELECT file_id, dataset_id, path, partition_value, row_count, size_bytes, schema_version, master_key_id, begin_snapshot, end_snapshot
       FROM lagoa_data_file WHERE dataset_id = $1 AND begin_snapshot <= $2 AND end_snapshot IS NULL
     UNION ALL
     SELECT file_id, dataset_id, path, partition_value, row_count, size_bytes, schema_version, master_key_id, begin_snapshot, end_snapshot
       FROM lagoa_data_file WHERE dataset_id = $1 AND begin_snapshot <= $2 AND end_snapshot > $2";

#[derive(Clone, Debug)]
pub struct Catalog {
    pool: AnyPool,
    backend: Backend,
    /// The URL without credentials, for messages.
    location: String,
    /// Data-file rows read by [`Catalog::files`] since connecting: what a
    /// query session costs the catalog (a session touches only the files
    /// of the datasets its queries scan).
    file_rows_read: Arc<AtomicU64>,
}

/// Which state of the lake to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AsOf {
    Latest,
    Snapshot(i64),
    /// Microseconds since the epoch: the last snapshot committed at or before.
    Time(i64),
}

impl AsOf {
    /// A snapshot number (`12`) or an RFC 3339 time
    /// (`2026-11-22T10:00:00-03:00`), as every door takes it.
    pub fn parse(text: &str) -> std::result::Result<AsOf, String> {
        let text = text.trim();
        if let Ok(id) = text.parse::<i64>() {
            return Ok(AsOf::Snapshot(id));
        }
        chrono::DateTime::parse_from_rfc3339(text)
            .map(|t| AsOf::Time(t.timestamp_micros()))
            .map_err(|_| {
                format!(
                    "{text:?} is neither a snapshot number nor an RFC 3339 time like 2026-11-22T10:00:00-03:00"
                )
            })
    }
}

pub fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

fn is_conflict(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            matches!(db.kind(), sqlx::error::ErrorKind::UniqueViolation)
                || matches!(
                    db.code().as_deref(),
                    // PostgreSQL: serialization failure, deadlock, unique violation.
                    Some("40001") | Some("40P01") | Some("23505")
                    // SQLite: BUSY, LOCKED, BUSY_SNAPSHOT, BUSY_RECOVERY, constraint PK/unique.
                    | Some("5") | Some("6") | Some("517") | Some("261") | Some("1555") | Some("2067")
                )
        }
        _ => false,
    }
}

fn redact(url: &str) -> String {
    match (url.split_once("://"), url.rsplit_once('@')) {
        (Some((scheme, _)), Some((_, host))) => format!("{scheme}://<credentials>@{host}"),
        _ => url.to_owned(),
    }
}

/// The embedded catalog holds the audit trail, grants and the lake's
/// wrapped secrets: it is created readable by its owner only (SQLite gives
/// its `-wal` and `-shm` files the database file's mode), and a catalog
/// others can read is refused at open, as the key store is.
fn private_database_file(file: &Path) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if !file.exists() {
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir)
                .map_err(LakeError::io(format!("creating {}", dir.display())))?;
        }
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(file)
        {
            Ok(_) => return Ok(()),
            // Another process made it first: check it like any other.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(LakeError::io(format!("creating {}", file.display()))(e)),
        }
    }
    for suffix in ["", "-wal", "-shm"] {
        let path = PathBuf::from(format!("{}{suffix}", file.display()));
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(LakeError::Config(format!(
                "the catalog {} is readable by other users (mode {:o}); run chmod 600 on it and on its -wal and -shm files",
                path.display(),
                mode & 0o777
            )));
        }
    }
    Ok(())
}

impl Catalog {
    /// Connects to `sqlite://<file>` (relative to `lake_dir`) or `postgres://...`.
    pub async fn connect(url: &str, lake_dir: &Path) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let (backend, connect_url) = if let Some(rest) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            let file = if rest.starts_with('/') {
                Path::new(rest).to_path_buf()
            } else {
                lake_dir.join(rest)
            };
            private_database_file(&file)?;
            (
                Backend::Sqlite,
                format!("sqlite://{}?mode=rwc", file.display()),
            )
        } else {
            (Backend::Postgres, url.to_owned())
        };
        let location = redact(url);
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 8 })
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        sqlx::query("PRAGMA busy_timeout = 10000")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA synchronous = NORMAL")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(&connect_url)
            .await
            .map_err(LakeError::catalog(format!("connecting to {location}")))?;
        if backend == Backend::Sqlite {
            // WAL lets readers work while a writer commits; it is a property
            // of the database file, set once.
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await
                .map_err(LakeError::catalog("enabling WAL"))?;
        }
        Ok(Self {
            pool,
            backend,
            location,
            file_rows_read: Arc::new(AtomicU64::new(0)),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn location(&self) -> &str {
        &self.location
    }

    /// The catalog database, for the crates that own tables in it
    /// (governance: identity, categorisations, requests, grants). The lake's
    /// own tables are changed only through its methods.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Opens the transaction of a change of a dataset's sharing level: the
    /// level is set and a `categorise` snapshot taken in it; the caller
    /// records why in the same transaction and commits it.
    pub async fn begin_level_change(
        &self,
        name: &DatasetName,
        level: SharingLevel,
        by: &str,
    ) -> Result<(sqlx::Transaction<'static, sqlx::Any>, i64)> {
        let context = "changing a dataset's level";
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(LakeError::catalog(context))?;
        let dataset_id = live_dataset_id(&mut tx, name).await?;
        let summary = serde_json::json!({ "level": level.as_str(), "by": by }).to_string();
        let snapshot = new_snapshot(&mut tx, Some(dataset_id), "categorise", &summary).await?;
        sqlx::query("UPDATE lagoa_dataset SET level = $1 WHERE dataset_id = $2")
            .bind(level.as_str())
            .bind(dataset_id)
            .execute(&mut *tx)
            .await
            .map_err(LakeError::catalog(context))?;
        Ok((tx, snapshot))
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Applies pending migrations; safe to run from several processes.
    pub async fn migrate(&self) -> Result<()> {
        sqlx::query("CREATE TABLE IF NOT EXISTS lagoa_migration (version BIGINT PRIMARY KEY, description TEXT NOT NULL, applied_at BIGINT NOT NULL)")
            .execute(&self.pool)
            .await
            .map_err(LakeError::catalog("creating lagoa_migration"))?;
        for (version, description, statements) in migrations::MIGRATIONS {
            let mut tx = self
                .pool
                .begin()
                .await
                .map_err(LakeError::catalog("starting migration"))?;
            let done: Option<i64> =
                sqlx::query_scalar("SELECT version FROM lagoa_migration WHERE version = $1")
                    .bind(*version)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(LakeError::catalog("reading lagoa_migration"))?;
            if done.is_some() {
                continue;
            }
            for statement in *statements {
                sqlx::query(statement)
                    .execute(&mut *tx)
                    .await
                    .map_err(LakeError::catalog(format!(
                        "migration {version} ({description})"
                    )))?;
            }
            sqlx::query("INSERT INTO lagoa_migration (version, description, applied_at) VALUES ($1, $2, $3)")
                .bind(*version)
                .bind(*description)
                .bind(now_micros())
                .execute(&mut *tx)
                .await
                .map_err(LakeError::catalog("recording migration"))?;
            tx.commit().await.map_err(LakeError::catalog(format!(
                "committing migration {version}"
            )))?;
        }
        Ok(())
    }

    /// Opens the database with a query: the healthcheck.
    pub async fn check(&self) -> Result<i64> {
        Ok(self.latest_snapshot().await?.unwrap_or(0))
    }

    pub async fn latest_snapshot(&self) -> Result<Option<i64>> {
        sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(snapshot_id) FROM lagoa_snapshot")
            .fetch_one(&self.pool)
            .await
            .map_err(LakeError::catalog("reading the latest snapshot"))
    }

    /// The snapshot to read for `as_of`; 0 means the empty lake.
    pub async fn resolve(&self, as_of: &AsOf) -> Result<i64> {
        let expired_before = self
            .metadata("expired_before_snapshot")
            .await?
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0);
        let snapshot = match as_of {
            AsOf::Latest => return Ok(self.latest_snapshot().await?.unwrap_or(0)),
            AsOf::Snapshot(id) => {
                let found: Option<i64> = sqlx::query_scalar(
                    "SELECT snapshot_id FROM lagoa_snapshot WHERE snapshot_id = $1",
                )
                .bind(*id)
                .fetch_optional(&self.pool)
                .await
                .map_err(LakeError::catalog("reading snapshots"))?;
                found.ok_or_else(|| LakeError::UnknownSnapshot(id.to_string()))?
            }
            AsOf::Time(micros) => {
                let found: Option<i64> = sqlx::query_scalar(
                    "SELECT MAX(snapshot_id) FROM lagoa_snapshot WHERE created_at <= $1",
                )
                .bind(*micros)
                .fetch_one(&self.pool)
                .await
                .map_err(LakeError::catalog("reading snapshots"))?;
                found.ok_or_else(|| {
                    LakeError::UnknownSnapshot(format!("at or before {}", format_micros(*micros)))
                })?
            }
        };
        if snapshot < expired_before {
            return Err(LakeError::Invalid(format!(
                "snapshot {snapshot} has expired: vacuum removed the files it needed (snapshots before {expired_before} are gone; see retention.snapshots)"
            )));
        }
        Ok(snapshot)
    }

    async fn metadata(&self, key: &str) -> Result<Option<String>> {
        sqlx::query_scalar("SELECT value FROM lagoa_metadata WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(LakeError::catalog("reading lagoa_metadata"))
    }

    /// Datasets valid at `snapshot`, with their columns.
    pub async fn datasets(&self, snapshot: i64) -> Result<Vec<DatasetInfo>> {
        let rows = sqlx::query(
            "SELECT d.dataset_id, d.name, d.level, d.description, d.partition_column, d.begin_snapshot, d.shredded_at,
                    (SELECT MAX(v.schema_version) FROM lagoa_schema_version v
                      WHERE v.dataset_id = d.dataset_id AND v.begin_snapshot <= $1) AS schema_version
               FROM lagoa_dataset d
              WHERE d.begin_snapshot <= $1 AND (d.end_snapshot IS NULL OR d.end_snapshot > $1)
              ORDER BY d.name",
        )
        .bind(snapshot)
        .fetch_all(&self.pool)
        .await
        .map_err(LakeError::catalog("reading datasets"))?;
        let columns = self.columns_at(snapshot).await?;
        rows.into_iter()
            .map(|row| {
                let mut info = dataset_from_row(&row)?;
                info.columns = columns.get(&info.dataset_id).cloned().unwrap_or_default();
                Ok(info)
            })
            .collect()
    }

    pub async fn dataset(&self, name: &DatasetName, snapshot: i64) -> Result<Option<DatasetInfo>> {
        Ok(self
            .datasets(snapshot)
            .await?
            .into_iter()
            .find(|d| &d.name == name))
    }

    async fn columns_at(&self, snapshot: i64) -> Result<HashMap<i64, Vec<ColumnDef>>> {
        let rows = sqlx::query(
            "SELECT dataset_id, name, data_type, nullable, personal FROM lagoa_column
              WHERE begin_snapshot <= $1 AND (end_snapshot IS NULL OR end_snapshot > $1)
              ORDER BY dataset_id, position",
        )
        .bind(snapshot)
        .fetch_all(&self.pool)
        .await
        .map_err(LakeError::catalog("reading columns"))?;
        let mut out: HashMap<i64, Vec<ColumnDef>> = HashMap::new();
        for row in rows {
            let personal: Option<String> = get(&row, "personal")?;
            out.entry(get(&row, "dataset_id")?)
                .or_default()
                .push(ColumnDef {
                    name: get(&row, "name")?,
                    data_type: get(&row, "data_type")?,
                    nullable: get::<i64>(&row, "nullable")? != 0,
                    personal: personal.and_then(|p| p.parse::<PersonalTag>().ok()),
                });
        }
        Ok(out)
    }

    /// Files of a dataset valid at `snapshot`, with their statistics.
    pub async fn files(&self, dataset: &DatasetInfo, snapshot: i64) -> Result<Vec<DataFileInfo>> {
        let rows = sqlx::query(&format!(
            "SELECT f.file_id, f.path, f.partition_value, f.row_count, f.size_bytes, f.schema_version, f.master_key_id,
                    f.begin_snapshot, f.end_snapshot, d.begin_snapshot AS deletes_since, d.positions
               FROM ({FILES_AT}) f
               LEFT JOIN lagoa_file_deletes d ON d.file_id = f.file_id
                    AND d.begin_snapshot <= $2 AND (d.end_snapshot IS NULL OR d.end_snapshot > $2)
              ORDER BY f.begin_snapshot, f.path",
        ))
        .bind(dataset.dataset_id)
        .bind(snapshot)
        .fetch_all(&self.pool)
        .await
        .map_err(LakeError::catalog(format!("reading files of {}", dataset.name)))?;
        let stat_rows = sqlx::query(&format!(
            "SELECT s.file_id, c.name, s.null_count, s.min_value, s.max_value
               FROM ({FILES_AT}) f
               JOIN lagoa_file_column_stats s ON s.file_id = f.file_id
               JOIN lagoa_column c ON c.dataset_id = f.dataset_id AND c.column_id = s.column_id
                    AND c.begin_snapshot <= $2 AND (c.end_snapshot IS NULL OR c.end_snapshot > $2)",
        ))
        .bind(dataset.dataset_id)
        .bind(snapshot)
        .fetch_all(&self.pool)
        .await
        .map_err(LakeError::catalog(format!(
            "reading statistics of {}",
            dataset.name
        )))?;
        let mut stats: HashMap<String, Vec<ColumnStats>> = HashMap::new();
        for row in stat_rows {
            stats
                .entry(get(&row, "file_id")?)
                .or_default()
                .push(ColumnStats {
                    column: get(&row, "name")?,
                    null_count: get(&row, "null_count")?,
                    min: get(&row, "min_value")?,
                    max: get(&row, "max_value")?,
                });
        }
        self.file_rows_read
            .fetch_add(rows.len() as u64, Ordering::Relaxed);
        rows.into_iter()
            .map(|row| {
                let file_id: String = get(&row, "file_id")?;
                let since: Option<i64> = get(&row, "deletes_since")?;
                let positions: Option<String> = get(&row, "positions")?;
                let deletes = match (since, positions) {
                    (Some(since), Some(text)) => Some(deletes::vector(&file_id, since, &text)?),
                    _ => None,
                };
                Ok(DataFileInfo {
                    stats: stats.remove(&file_id).unwrap_or_default(),
                    deletes,
                    file_id,
                    dataset: dataset.name.to_string(),
                    path: get(&row, "path")?,
                    partition_value: get(&row, "partition_value")?,
                    row_count: get(&row, "row_count")?,
                    size_bytes: get(&row, "size_bytes")?,
                    schema_version: get(&row, "schema_version")?,
                    master_key_id: get(&row, "master_key_id")?,
                    begin_snapshot: get(&row, "begin_snapshot")?,
                    end_snapshot: get(&row, "end_snapshot")?,
                })
            })
            .collect()
    }

    /// Data-file rows [`Catalog::files`] has read since this catalog
    /// connected (clones share the count).
    pub fn file_rows_read(&self) -> u64 {
        self.file_rows_read.load(Ordering::Relaxed)
    }

    /// Snapshots, newest first; only those touching `dataset` if given.
    pub async fn snapshots(&self, dataset: Option<&DatasetName>) -> Result<Vec<SnapshotInfo>> {
        let rows = sqlx::query(
            "SELECT s.snapshot_id, s.created_at, d.name AS dataset, s.operation, s.summary
               FROM lagoa_snapshot s LEFT JOIN lagoa_dataset d ON d.dataset_id = s.dataset_id
              WHERE $1 = '' OR d.name = $1
              ORDER BY s.snapshot_id DESC",
        )
        .bind(dataset.map(|d| d.as_str()).unwrap_or(""))
        .fetch_all(&self.pool)
        .await
        .map_err(LakeError::catalog("reading snapshots"))?;
        rows.into_iter()
            .map(|row| {
                Ok(SnapshotInfo {
                    snapshot_id: get(&row, "snapshot_id")?,
                    created_at: get(&row, "created_at")?,
                    dataset: get(&row, "dataset")?,
                    operation: get(&row, "operation")?,
                    summary: get(&row, "summary")?,
                })
            })
            .collect()
    }

    /// The snapshot a delivery with this fingerprint was committed in, if any.
    pub async fn find_delivery(
        &self,
        dataset: &DatasetName,
        fingerprint: &str,
    ) -> Result<Option<i64>> {
        sqlx::query_scalar(
            "SELECT v.snapshot_id FROM lagoa_delivery v JOIN lagoa_dataset d ON d.dataset_id = v.dataset_id
              WHERE d.name = $1 AND d.end_snapshot IS NULL AND v.fingerprint = $2",
        )
        .bind(dataset.as_str())
        .bind(fingerprint)
        .fetch_optional(&self.pool)
        .await
        .map_err(LakeError::catalog("reading deliveries"))
    }

    /// Marks a dataset crypto-shredded in a new snapshot and deletes the
    /// statistics of its files: they are derived from the data.
    pub async fn mark_shredded(&self, name: &DatasetName) -> Result<i64> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(LakeError::catalog("begin"))?;
        let dataset_id = live_dataset_id(&mut tx, name).await?;
        let snapshot = new_snapshot(&mut tx, Some(dataset_id), "shred", "{}").await?;
        sqlx::query("UPDATE lagoa_dataset SET shredded_at = $1 WHERE dataset_id = $2")
            .bind(now_micros())
            .bind(dataset_id)
            .execute(&mut *tx)
            .await
            .map_err(LakeError::catalog("marking the dataset shredded"))?;
        sqlx::query("DELETE FROM lagoa_file_column_stats WHERE file_id IN (SELECT file_id FROM lagoa_data_file WHERE dataset_id = $1)")
            .bind(dataset_id)
            .execute(&mut *tx)
            .await
            .map_err(LakeError::catalog("deleting statistics"))?;
        tx.commit()
            .await
            .map_err(LakeError::catalog("committing the shred"))?;
        Ok(snapshot)
    }

    /// Sets a tag on a dataset as a new version of that tag.
    pub async fn set_tag(&self, name: &DatasetName, key: &str, value: &str) -> Result<i64> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(LakeError::catalog("begin"))?;
        let dataset_id = live_dataset_id(&mut tx, name).await?;
        let summary = serde_json::json!({ "key": key }).to_string();
        let snapshot = new_snapshot(&mut tx, Some(dataset_id), "tag", &summary).await?;
        sqlx::query("UPDATE lagoa_tag SET end_snapshot = $1 WHERE dataset_id = $2 AND key = $3 AND end_snapshot IS NULL")
            .bind(snapshot)
            .bind(dataset_id)
            .bind(key)
            .execute(&mut *tx)
            .await
            .map_err(LakeError::catalog("ending the previous tag"))?;
        sqlx::query("INSERT INTO lagoa_tag (dataset_id, key, value, begin_snapshot) VALUES ($1, $2, $3, $4)")
            .bind(dataset_id)
            .bind(key)
            .bind(value)
            .bind(snapshot)
            .execute(&mut *tx)
            .await
            .map_err(LakeError::catalog("recording the tag"))?;
        tx.commit()
            .await
            .map_err(LakeError::catalog("committing the tag"))?;
        Ok(snapshot)
    }

    pub async fn tags(
        &self,
        name: &DatasetName,
        snapshot: i64,
    ) -> Result<BTreeMap<String, String>> {
        let rows = sqlx::query(
            "SELECT t.key, t.value FROM lagoa_tag t JOIN lagoa_dataset d ON d.dataset_id = t.dataset_id
              WHERE d.name = $1 AND d.end_snapshot IS NULL AND t.begin_snapshot <= $2 AND (t.end_snapshot IS NULL OR t.end_snapshot > $2)",
        )
        .bind(name.as_str())
        .bind(snapshot)
        .fetch_all(&self.pool)
        .await
        .map_err(LakeError::catalog("reading tags"))?;
        rows.iter()
            .map(|r| Ok((get(r, "key")?, get(r, "value")?)))
            .collect()
    }
}

/// Takes the next lake-wide snapshot id inside `tx`. This insert is the lock
/// point of every catalog change: of two concurrent writers, the second
/// fails here (primary key on PostgreSQL, write lock on SQLite).
async fn new_snapshot(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    dataset_id: Option<i64>,
    operation: &str,
    summary: &str,
) -> Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO lagoa_snapshot (snapshot_id, created_at, dataset_id, operation, summary)
         SELECT COALESCE(MAX(snapshot_id), 0) + 1, $1, $2, $3, $4 FROM lagoa_snapshot
         RETURNING snapshot_id",
    )
    .bind(now_micros())
    .bind(dataset_id)
    .bind(operation)
    .bind(summary)
    .fetch_one(&mut **tx)
    .await
    .map_err(LakeError::catalog(format!(
        "recording a {operation} snapshot"
    )))
}

/// The id of the live dataset called `name`.
async fn live_dataset_id(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    name: &DatasetName,
) -> Result<i64> {
    let id: Option<i64> = sqlx::query_scalar(
        "SELECT dataset_id FROM lagoa_dataset WHERE name = $1 AND end_snapshot IS NULL",
    )
    .bind(name.as_str())
    .fetch_optional(&mut **tx)
    .await
    .map_err(LakeError::catalog("reading the dataset"))?;
    id.ok_or_else(|| LakeError::UnknownDataset(name.to_string()))
}

fn get<'r, T>(row: &'r AnyRow, column: &str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(column)
        .map_err(LakeError::catalog(format!("reading column {column}")))
}

fn dataset_from_row(row: &AnyRow) -> Result<DatasetInfo> {
    let name: String = get(row, "name")?;
    let level: String = get(row, "level")?;
    Ok(DatasetInfo {
        dataset_id: get(row, "dataset_id")?,
        name: DatasetName::new(name.clone())
            .map_err(|e| LakeError::Invalid(format!("catalog holds {e}")))?,
        level: level
            .parse::<SharingLevel>()
            .map_err(|e| LakeError::Invalid(format!("dataset {name}: {e}")))?,
        description: get(row, "description")?,
        partition_column: get(row, "partition_column")?,
        created_snapshot: SnapshotId(get(row, "begin_snapshot")?),
        schema_version: get::<Option<i64>>(row, "schema_version")?.unwrap_or(1),
        columns: Vec::new(),
        shredded_at: get(row, "shredded_at")?,
    })
}

pub fn format_micros(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| micros.to_string())
}
