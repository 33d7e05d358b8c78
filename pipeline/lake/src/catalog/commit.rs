//! The commit protocol: how written files become visible.
//!
//! Files are written first, under unique names nothing refers to. A commit
//! then records them, and everything that must land with them, in one
//! catalog transaction:
//!
//! ```text
//!  writer                    catalog transaction                     readers
//!  ──────                    ───────────────────                     ───────
//!  write files ──┐
//!                ├─ BEGIN
//!                │   1. take snapshot N+1          (the lock point)
//!                │   2. open the dataset           new, or merge its schema;
//!                │                                 a delivery seen before ends here
//!                │   3. check an upsert's plan     still against the same state?
//!                │   4. end what it replaces       full refresh, partition, compaction
//!                │   5. record files, statistics, deletion vectors
//!                │   6. record the delivery        fingerprint, raw zone, quarantine,
//!                │                                 digests, first contract
//!                │   7. close the run              `committed`; a released quarantine
//!                │   8. save the watermark, summarise snapshot N+1
//!                └─ COMMIT ──────────────────────────────────────────► see N+1
//! ```
//!
//! Two writers race for step 1: the loser fails there (primary key on
//! PostgreSQL, the write lock on SQLite), is rolled back whole and tries
//! again against the new state, up to [`COMMIT_ATTEMPTS`] times; then it
//! gets a retryable [`LakeError::CommitConflict`]. Anything else that fails
//! rolls back whole: nothing half-committed is ever visible, and the files
//! already written are orphans for `vacuum`.

use super::deliveries::insert_raw;
use super::model::*;
use super::objects::insert_digests;
use super::{
    Catalog, dataset_from_row, deletes, format_micros, get, is_conflict, new_snapshot, now_micros,
    runs, save_watermark,
};
use crate::error::{LakeError, Result};
use lagoa_core::DatasetName;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// Attempts of one commit before a conflict is returned.
pub(super) const COMMIT_ATTEMPTS: u32 = 8;

type Tx<'c> = sqlx::Transaction<'c, sqlx::Any>;

/// Commit failures: conflicts are retried, everything else returned.
pub(super) enum Attempt {
    Conflict,
    Failed(LakeError),
}

impl From<LakeError> for Attempt {
    fn from(e: LakeError) -> Self {
        match &e {
            LakeError::Catalog { source, .. } if is_conflict(source) => Attempt::Conflict,
            _ => Attempt::Failed(e),
        }
    }
}

/// The dataset a commit writes to, as step 2 left it.
struct Target {
    dataset_id: i64,
    schema_version: i64,
    columns: Vec<ColumnDef>,
}

/// What step 2 found.
enum Opened {
    Target(Target),
    /// The delivery was committed before, in this snapshot.
    Seen(i64),
}

fn context(request: &CommitRequest) -> impl Fn(&str) -> String + '_ {
    move |what: &str| format!("committing to {}: {what}", request.spec.name)
}

impl Catalog {
    /// Makes written files visible as one new snapshot, retrying on conflict.
    pub async fn commit(&self, request: &CommitRequest) -> Result<CommitOutcome> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_commit(request).await {
                Ok(outcome) => return Ok(outcome),
                Err(Attempt::Failed(e)) => return Err(e),
                Err(Attempt::Conflict) if attempt >= COMMIT_ATTEMPTS => {
                    return Err(LakeError::CommitConflict {
                        dataset: request.spec.name.to_string(),
                        attempts: attempt,
                    });
                }
                Err(Attempt::Conflict) => {
                    let jitter = rand::random_range(0..20u64);
                    tracing::debug!(dataset = %request.spec.name, attempt, "commit conflict, retrying");
                    tokio::time::sleep(Duration::from_millis(10 * (1 << attempt.min(6)) + jitter))
                        .await;
                }
            }
        }
    }

    /// One attempt: the steps of the module's diagram, in one transaction.
    async fn try_commit(
        &self,
        request: &CommitRequest,
    ) -> std::result::Result<CommitOutcome, Attempt> {
        let ctx = context(request);
        let name = request.spec.name.as_str();
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(LakeError::catalog(ctx("begin")))?;
        let snapshot = new_snapshot(&mut tx, None, request.mode.as_str(), "").await?;
        let target = match self.open_dataset(&mut tx, request, snapshot).await? {
            Opened::Target(target) => target,
            Opened::Seen(snapshot) => {
                tx.rollback()
                    .await
                    .map_err(LakeError::catalog(ctx("rollback")))?;
                return Ok(CommitOutcome::AlreadyIngested { snapshot });
            }
        };
        if let Some(planned_at) = request.planned_at {
            deletes::unchanged_since(&mut tx, name, target.dataset_id, planned_at).await?;
        }
        let removed = end_replaced(&mut tx, request, target.dataset_id, snapshot).await?;
        let rows = record_files(&mut tx, request, &target, snapshot).await?;
        let rows_deleted =
            deletes::record(&mut tx, name, target.dataset_id, snapshot, &request.deletes).await?;
        record_delivery(&mut tx, request, target.dataset_id, snapshot, rows).await?;
        close_run(&mut tx, request, snapshot, rows).await?;
        if let Some(watermark) = &request.watermark {
            save_watermark(&mut tx, watermark, snapshot)
                .await
                .map_err(LakeError::catalog(ctx("saving the watermark")))?;
        }
        let summary = serde_json::json!({
            "rows_added": rows,
            "files_added": request.files.len(),
            "files_removed": removed,
            "rows_deleted": rows_deleted,
            "schema_version": target.schema_version,
            "source": request.source,
        })
        .to_string();
        sqlx::query(
            "UPDATE lagoa_snapshot SET dataset_id = $1, summary = $2 WHERE snapshot_id = $3",
        )
        .bind(target.dataset_id)
        .bind(summary)
        .bind(snapshot)
        .execute(&mut *tx)
        .await
        .map_err(LakeError::catalog(ctx("summarising the snapshot")))?;
        tx.commit()
            .await
            .map_err(LakeError::catalog(ctx("commit")))?;
        Ok(CommitOutcome::Committed {
            snapshot,
            rows,
            files_added: request.files.len(),
            files_removed: removed as usize,
        })
    }

    /// Step 2: the dataset as of this snapshot, created or with its schema
    /// merged with the delivery's (a new schema version when it changes).
    async fn open_dataset(
        &self,
        tx: &mut Tx<'_>,
        request: &CommitRequest,
        snapshot: i64,
    ) -> std::result::Result<Opened, Attempt> {
        let (spec, ctx) = (&request.spec, context(request));
        let existing = sqlx::query(
            "SELECT dataset_id, name, level, description, partition_column, begin_snapshot, shredded_at,
                    (SELECT MAX(schema_version) FROM lagoa_schema_version v WHERE v.dataset_id = d.dataset_id) AS schema_version
               FROM lagoa_dataset d WHERE name = $1 AND end_snapshot IS NULL",
        )
        .bind(spec.name.as_str())
        .fetch_optional(&mut **tx)
        .await
        .map_err(LakeError::catalog(ctx("reading the dataset")))?;
        let Some(row) = existing else {
            return Ok(Opened::Target(
                self.create_dataset(tx, request, snapshot).await?,
            ));
        };
        let info = dataset_from_row(&row)?;
        if let Some(at) = info.shredded_at {
            return Err(Attempt::Failed(LakeError::Shredded {
                dataset: spec.name.to_string(),
                at: format_micros(at),
            }));
        }
        if let Some(fingerprint) = &request.fingerprint {
            let seen: Option<i64> = sqlx::query_scalar(
                "SELECT snapshot_id FROM lagoa_delivery WHERE dataset_id = $1 AND fingerprint = $2",
            )
            .bind(info.dataset_id)
            .bind(fingerprint)
            .fetch_optional(&mut **tx)
            .await
            .map_err(LakeError::catalog(ctx("reading deliveries")))?;
            if let Some(snapshot) = seen {
                return Ok(Opened::Seen(snapshot));
            }
        }
        let current = self.live_columns(tx, info.dataset_id).await?;
        let merged = merge_columns(&spec.name, &current, &spec.columns)?;
        if request.mode == WriteMode::ReplacePartition && info.partition_column.is_none() {
            return Err(Attempt::Failed(LakeError::Invalid(format!(
                "dataset {} has no partition column, so replace-partition cannot apply; use append or full-refresh",
                spec.name
            ))));
        }
        let mut schema_version = info.schema_version;
        if merged != current {
            schema_version += 1;
            self.write_schema(tx, info.dataset_id, schema_version, snapshot, &merged, true)
                .await?;
        }
        Ok(Opened::Target(Target {
            dataset_id: info.dataset_id,
            schema_version,
            columns: merged,
        }))
    }

    /// Step 2 for a dataset's first delivery.
    async fn create_dataset(
        &self,
        tx: &mut Tx<'_>,
        request: &CommitRequest,
        snapshot: i64,
    ) -> std::result::Result<Target, Attempt> {
        let spec = &request.spec;
        if request.mode == WriteMode::ReplacePartition && spec.partition_column.is_none() {
            return Err(Attempt::Failed(LakeError::Invalid(format!(
                "replace-partition needs a partition column for new dataset {}",
                spec.name
            ))));
        }
        let dataset_id: i64 = sqlx::query_scalar(
            "INSERT INTO lagoa_dataset (dataset_id, name, level, description, partition_column, begin_snapshot)
             SELECT COALESCE(MAX(dataset_id), 0) + 1, $1, $2, $3, $4, $5 FROM lagoa_dataset
             RETURNING dataset_id",
        )
        .bind(spec.name.as_str())
        .bind(spec.level.as_str())
        .bind(&spec.description)
        .bind(spec.partition_column.clone())
        .bind(snapshot)
        .fetch_one(&mut **tx)
        .await
        .map_err(LakeError::catalog(context(request)("creating the dataset")))?;
        self.write_schema(tx, dataset_id, 1, snapshot, &spec.columns, false)
            .await?;
        Ok(Target {
            dataset_id,
            schema_version: 1,
            columns: spec.columns.clone(),
        })
    }

    async fn live_columns(&self, tx: &mut Tx<'_>, dataset_id: i64) -> Result<Vec<ColumnDef>> {
        let rows = sqlx::query(
            "SELECT name, data_type, nullable, personal FROM lagoa_column WHERE dataset_id = $1 AND end_snapshot IS NULL ORDER BY position",
        )
        .bind(dataset_id)
        .fetch_all(&mut **tx)
        .await
        .map_err(LakeError::catalog("reading columns"))?;
        rows.iter()
            .map(|row| {
                let personal: Option<String> = get(row, "personal")?;
                Ok(ColumnDef {
                    name: get(row, "name")?,
                    data_type: get(row, "data_type")?,
                    nullable: get::<i64>(row, "nullable")? != 0,
                    personal: personal.and_then(|p| p.parse().ok()),
                })
            })
            .collect()
    }

    /// Records a schema version: ends the previous version and its columns
    /// (when `replaces`) and inserts the new column rows. Column ids are
    /// positions, stable because columns are only ever appended.
    async fn write_schema(
        &self,
        tx: &mut Tx<'_>,
        dataset_id: i64,
        version: i64,
        snapshot: i64,
        columns: &[ColumnDef],
        replaces: bool,
    ) -> Result<()> {
        if replaces {
            for table in ["lagoa_schema_version", "lagoa_column"] {
                sqlx::query(&format!("UPDATE {table} SET end_snapshot = $1 WHERE dataset_id = $2 AND end_snapshot IS NULL"))
                    .bind(snapshot)
                    .bind(dataset_id)
                    .execute(&mut **tx)
                    .await
                    .map_err(LakeError::catalog("ending the previous schema"))?;
            }
        }
        sqlx::query("INSERT INTO lagoa_schema_version (dataset_id, schema_version, begin_snapshot) VALUES ($1, $2, $3)")
            .bind(dataset_id)
            .bind(version)
            .bind(snapshot)
            .execute(&mut **tx)
            .await
            .map_err(LakeError::catalog("recording the schema version"))?;
        for (position, column) in columns.iter().enumerate() {
            sqlx::query(
                "INSERT INTO lagoa_column (dataset_id, column_id, position, name, data_type, nullable, personal, begin_snapshot)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(dataset_id)
            .bind(position as i64)
            .bind(position as i64)
            .bind(&column.name)
            .bind(&column.data_type)
            .bind(column.nullable as i64)
            .bind(column.personal.map(|p| p.as_str()))
            .bind(snapshot)
            .execute(&mut **tx)
            .await
            .map_err(LakeError::catalog("recording columns"))?;
        }
        Ok(())
    }
}

/// Step 4: ends the files this commit replaces; how many.
async fn end_replaced(
    tx: &mut Tx<'_>,
    request: &CommitRequest,
    dataset_id: i64,
    snapshot: i64,
) -> std::result::Result<u64, Attempt> {
    let name = request.spec.name.as_str();
    let ctx = context(request);
    Ok(match request.mode {
        WriteMode::Append | WriteMode::Upsert => 0,
        WriteMode::Compact => {
            deletes::end_replaced(tx, name, dataset_id, snapshot, &request.replaces).await?
        }
        WriteMode::FullRefresh => sqlx::query(
            "UPDATE lagoa_data_file SET end_snapshot = $1 WHERE dataset_id = $2 AND end_snapshot IS NULL",
        )
        .bind(snapshot)
        .bind(dataset_id)
        .execute(&mut **tx)
        .await
        .map_err(LakeError::catalog(ctx("ending replaced files")))?
        .rows_affected(),
        WriteMode::ReplacePartition => {
            let values: HashSet<Option<&String>> = request
                .files
                .iter()
                .map(|f| f.partition_value.as_ref())
                .collect();
            let mut n = 0;
            for value in values {
                n += match value {
                    Some(v) => sqlx::query(
                        "UPDATE lagoa_data_file SET end_snapshot = $1 WHERE dataset_id = $2 AND end_snapshot IS NULL AND partition_value = $3",
                    )
                    .bind(snapshot)
                    .bind(dataset_id)
                    .bind(v.as_str()),
                    None => sqlx::query(
                        "UPDATE lagoa_data_file SET end_snapshot = $1 WHERE dataset_id = $2 AND end_snapshot IS NULL AND partition_value IS NULL",
                    )
                    .bind(snapshot)
                    .bind(dataset_id),
                }
                .execute(&mut **tx)
                .await
                .map_err(LakeError::catalog(ctx("ending replaced partition files")))?
                .rows_affected();
            }
            n
        }
    })
}

/// Step 5: the files and their column statistics; the rows they hold.
async fn record_files(
    tx: &mut Tx<'_>,
    request: &CommitRequest,
    target: &Target,
    snapshot: i64,
) -> std::result::Result<i64, Attempt> {
    let ctx = context(request);
    let column_ids: HashMap<&str, (i64, bool)> = target
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.as_str(), (i as i64, c.personal.is_some())))
        .collect();
    let mut rows = 0;
    for file in &request.files {
        rows += file.row_count;
        sqlx::query(
            "INSERT INTO lagoa_data_file (file_id, dataset_id, path, partition_value, row_count, size_bytes, schema_version, master_key_id, begin_snapshot)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&file.file_id)
        .bind(target.dataset_id)
        .bind(&file.path)
        .bind(file.partition_value.clone())
        .bind(file.row_count)
        .bind(file.size_bytes)
        .bind(target.schema_version)
        .bind(file.master_key_id.clone())
        .bind(snapshot)
        .execute(&mut **tx)
        .await
        .map_err(LakeError::catalog(ctx("recording a file")))?;
        for stat in &file.stats {
            let Some(&(column_id, personal)) = column_ids.get(stat.column.as_str()) else {
                continue;
            };
            // Never keep values of personal-data columns in clear, whatever the writer sent.
            let (min, max) = if personal {
                (None, None)
            } else {
                (stat.min.clone(), stat.max.clone())
            };
            sqlx::query(
                "INSERT INTO lagoa_file_column_stats (file_id, column_id, null_count, min_value, max_value) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&file.file_id)
            .bind(column_id)
            .bind(stat.null_count)
            .bind(min)
            .bind(max)
            .execute(&mut **tx)
            .await
            .map_err(LakeError::catalog(ctx("recording statistics")))?;
        }
    }
    Ok(rows)
}

/// Step 6: the delivery's fingerprint, its raw-zone record, its
/// quarantine, the digests of what it wrote, and its contract when the
/// dataset has none yet.
async fn record_delivery(
    tx: &mut Tx<'_>,
    request: &CommitRequest,
    dataset_id: i64,
    snapshot: i64,
    rows: i64,
) -> std::result::Result<(), Attempt> {
    let (name, ctx) = (request.spec.name.as_str(), context(request));
    if let Some(fingerprint) = &request.fingerprint {
        sqlx::query("INSERT INTO lagoa_delivery (dataset_id, fingerprint, snapshot_id, source, rows_written, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(dataset_id)
            .bind(fingerprint)
            .bind(snapshot)
            .bind(&request.source)
            .bind(rows)
            .bind(now_micros())
            .execute(&mut **tx)
            .await
            .map_err(LakeError::catalog(ctx("recording the delivery")))?;
    }
    if let Some(raw) = &request.raw {
        insert_raw(&mut **tx, raw, Some(snapshot))
            .await
            .map_err(LakeError::catalog(ctx("recording the raw delivery")))?;
    }
    if let Some(quarantine) = &request.quarantine {
        runs::insert_quarantine(&mut **tx, quarantine)
            .await
            .map_err(LakeError::catalog(ctx("recording quarantined rows")))?;
    }
    insert_digests(tx, &request.digests)
        .await
        .map_err(LakeError::catalog(ctx("recording object digests")))?;
    let Some(contract) = &request.contract else {
        return Ok(());
    };
    let registered: i64 =
        sqlx::query_scalar("SELECT count(*) FROM lagoa_contract WHERE dataset = $1")
            .bind(name)
            .fetch_one(&mut **tx)
            .await
            .map_err(LakeError::catalog(ctx("reading contracts")))?;
    if registered == 0 {
        sqlx::query(
            "INSERT INTO lagoa_contract (dataset, version, effective_from, body, registered_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(name)
        .bind(contract.version)
        .bind(contract.effective_from.clone())
        .bind(&contract.body)
        .bind(now_micros())
        .execute(&mut **tx)
        .await
        .map_err(LakeError::catalog(ctx("registering the contract")))?;
    }
    Ok(())
}

/// Step 7: the run that wrote the files ends `committed`, and the
/// quarantine it re-admits is marked released, unless another run did so
/// first.
async fn close_run(
    tx: &mut Tx<'_>,
    request: &CommitRequest,
    snapshot: i64,
    rows: i64,
) -> std::result::Result<(), Attempt> {
    let ctx = context(request);
    if let Some(run_id) = &request.run_id {
        let bytes: i64 = request.files.iter().map(|f| f.size_bytes).sum();
        sqlx::query(
            "UPDATE lagoa_run SET status = $1, snapshot_id = $2, raw_id = $3, rows_written = $4, bytes_written = $5, ended_at = $6
              WHERE run_id = $7",
        )
        .bind(lagoa_core::RunStatus::Committed.as_str())
        .bind(snapshot)
        .bind(request.raw.as_ref().map(|r| r.raw_id.clone()))
        .bind(rows)
        .bind(bytes)
        .bind(now_micros())
        .bind(run_id)
        .execute(&mut **tx)
        .await
        .map_err(LakeError::catalog(ctx("recording the run")))?;
        sqlx::query("DELETE FROM lagoa_run_holder WHERE run_id = $1")
            .bind(run_id)
            .execute(&mut **tx)
            .await
            .map_err(LakeError::catalog(ctx("recording the run")))?;
    }
    let Some(released) = &request.release_of else {
        return Ok(());
    };
    let marked = sqlx::query(
        "UPDATE lagoa_quarantine SET released_at = $1, released_by_run = $2 WHERE run_id = $3 AND released_at IS NULL",
    )
    .bind(now_micros())
    .bind(request.run_id.clone().unwrap_or_default())
    .bind(released)
    .execute(&mut **tx)
    .await
    .map_err(LakeError::catalog(ctx("releasing the quarantine")))?
    .rows_affected();
    if marked != 1 {
        return Err(Attempt::Failed(LakeError::Invalid(format!(
            "the quarantined rows of run {released} were released by another run meanwhile; nothing was admitted twice"
        ))));
    }
    Ok(())
}

/// The dataset's schema after a delivery: existing columns keep their
/// position; personal tags are only ever added; a column becomes nullable
/// when the delivery's contract says so, never required again; new columns
/// are appended.
/// Retyping a column is refused (the full drift policy is the contract's).
pub fn merge_columns(
    dataset: &DatasetName,
    current: &[ColumnDef],
    delivered: &[ColumnDef],
) -> Result<Vec<ColumnDef>> {
    let mut merged = current.to_vec();
    for column in delivered {
        match merged.iter_mut().find(|c| c.name == column.name) {
            Some(existing) => {
                if existing.data_type != column.data_type {
                    return Err(LakeError::Schema {
                        dataset: dataset.to_string(),
                        message: format!(
                            "column {} is {} in the lake but {} in this delivery; retyping a column is not allowed",
                            column.name, existing.data_type, column.data_type
                        ),
                    });
                }
                if existing.personal.is_none() && column.personal.is_some() {
                    existing.personal = column.personal;
                }
                // A contract that lets a required column be empty relaxes
                // it (a new schema version): the files it writes may hold
                // nulls there, and reads must accept them.
                if column.nullable && !existing.nullable {
                    existing.nullable = true;
                }
            }
            None => {
                let mut added = column.clone();
                added.nullable = true; // earlier files do not have it
                merged.push(added);
            }
        }
    }
    for column in current {
        if !column.nullable && !delivered.iter().any(|d| d.name == column.name) {
            return Err(LakeError::Schema {
                dataset: dataset.to_string(),
                message: format!(
                    "column {} is required (not nullable) but missing from this delivery",
                    column.name
                ),
            });
        }
    }
    Ok(merged)
}
