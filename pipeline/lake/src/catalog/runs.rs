//! Runs, quarantine, contract versions, drift and watermarks: what the
//! ingestion path records beside the snapshots.

use super::{Catalog, get, now_micros};
use crate::catalog::model::Watermark;
use crate::error::{LakeError, Result};
use crate::run_holder::{self, RunHolder};
use lagoa_core::{FailureClass, RunStatus};
use serde::Serialize;
use sqlx::any::AnyRow;

/// One attempt to bring a delivery into the lake.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RunRecord {
    pub run_id: String,
    /// The source's name (a configured source, or the file name).
    pub source: String,
    pub dataset: String,
    /// `manual`, `schedule`, `replay`, `release`.
    pub trigger: String,
    pub status: RunStatus,
    pub attempts: i64,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub rows_read: i64,
    pub rows_written: i64,
    pub rows_rejected: i64,
    pub bytes_read: i64,
    pub bytes_written: i64,
    pub snapshot_id: Option<i64>,
    pub raw_id: Option<String>,
    pub contract_version: Option<i64>,
    pub replay_of: Option<String>,
    /// Never holds data values.
    pub error: Option<String>,
    pub error_class: Option<FailureClass>,
    /// The quality report, as JSON.
    pub report: Option<String>,
}

/// Which runs to list; unset fields match every run.
#[derive(Clone, Debug, Default)]
pub struct RunFilter {
    pub dataset: Option<String>,
    pub source: Option<String>,
    pub status: Option<RunStatus>,
    /// Started at or after (microseconds).
    pub since: Option<i64>,
    pub limit: i64,
}

/// Runs with one status, and the rows they wrote.
#[derive(Clone, Debug, Serialize)]
pub struct StatusCount {
    pub status: RunStatus,
    pub runs: i64,
    pub rows_written: i64,
}

/// Upper bounds (seconds) of the run-duration histogram buckets.
pub const DURATION_BUCKETS: [f64; 8] = [1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 21600.0];

/// Runs of one source and dataset with one status.
#[derive(Clone, Debug, Serialize)]
pub struct RunStats {
    pub source: String,
    pub dataset: String,
    pub status: RunStatus,
    pub runs: i64,
    pub rows_written: i64,
    pub rows_rejected: i64,
    pub bytes_read: i64,
    /// Runs that ended (the duration figures count these).
    pub ended: i64,
    pub duration_micros: i64,
    /// Ended runs that took at most each of [`DURATION_BUCKETS`].
    pub duration_le: Vec<i64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct QuarantineRecord {
    pub run_id: String,
    pub dataset: String,
    pub path: String,
    pub row_count: i64,
    pub stored_bytes: i64,
    pub created_at: i64,
    pub released_at: Option<i64>,
    pub released_by_run: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ContractVersion {
    pub dataset: String,
    pub version: i64,
    pub effective_from: Option<String>,
    pub body: String,
    pub registered_at: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct DriftEvent {
    pub run_id: String,
    pub dataset: String,
    /// `new_column`, `missing_column`, `retyped_column`.
    pub kind: String,
    pub column: String,
    pub detail: String,
    /// What the contract's policy did: `reject`, `evolve`, `hold`.
    pub policy: String,
    pub at: i64,
}

const RUN_COLUMNS: &str = "run_id, source, dataset, trigger_kind, status, attempts, started_at, ended_at, rows_read, rows_written, rows_rejected, bytes_read, bytes_written, snapshot_id, raw_id, contract_version, replay_of, error, error_class, report";

impl Catalog {
    /// Records a run (insert or update by id).
    pub async fn save_run(&self, run: &RunRecord) -> Result<()> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(LakeError::catalog("recording a run"))?;
        write_run(&mut tx, run)
            .await
            .map_err(LakeError::catalog("recording a run"))?;
        tx.commit()
            .await
            .map_err(LakeError::catalog("recording a run"))?;
        Ok(())
    }

    /// A run by id, or by a unique prefix of its id.
    pub async fn run(&self, run_id: &str) -> Result<Option<RunRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM lagoa_run WHERE run_id = $1 OR run_id LIKE $2 ORDER BY run_id LIMIT 2"
        ))
        .bind(run_id)
        .bind(format!("{}%", run_id.replace(['%', '_'], "")))
        .fetch_all(&self.pool)
        .await
        .map_err(LakeError::catalog("reading runs"))?;
        if let Some(exact) = rows
            .iter()
            .find(|r| get::<String>(r, "run_id").ok().as_deref() == Some(run_id))
        {
            return run_from_row(exact).map(Some);
        }
        match rows.len() {
            1 => run_from_row(&rows[0]).map(Some),
            0 => Ok(None),
            _ => Err(LakeError::Invalid(format!(
                "run id prefix {run_id} is ambiguous; give more of it"
            ))),
        }
    }

    /// Runs, newest first; one dataset's if given.
    pub async fn runs(&self, dataset: Option<&str>, limit: i64) -> Result<Vec<RunRecord>> {
        self.find_runs(&RunFilter {
            dataset: dataset.map(str::to_owned),
            limit,
            ..Default::default()
        })
        .await
    }

    /// Runs matching `filter`, newest first.
    pub async fn find_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM lagoa_run WHERE ($1 = '' OR dataset = $1) AND ($2 = '' OR source = $2) \
             AND ($3 = '' OR status = $3) AND started_at >= $4 ORDER BY started_at DESC, run_id DESC LIMIT $5"
        ))
        .bind(filter.dataset.as_deref().unwrap_or(""))
        .bind(filter.source.as_deref().unwrap_or(""))
        .bind(filter.status.map(RunStatus::as_str).unwrap_or(""))
        .bind(filter.since.unwrap_or(i64::MIN))
        .bind(filter.limit)
        .fetch_all(&self.pool)
        .await
        .map_err(LakeError::catalog("reading runs"))?;
        rows.iter().map(run_from_row).collect()
    }

    /// Runs started since `since` (microseconds), counted by status.
    pub async fn run_counts_since(&self, since: i64) -> Result<Vec<StatusCount>> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS runs, CAST(SUM(rows_written) AS BIGINT) AS rows_written \
             FROM lagoa_run WHERE started_at >= $1 GROUP BY status ORDER BY status",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await
        .map_err(LakeError::catalog("counting runs"))?;
        rows.iter()
            .map(|r| {
                Ok(StatusCount {
                    status: word(r, "status")?,
                    runs: get(r, "runs")?,
                    rows_written: get(r, "rows_written")?,
                })
            })
            .collect()
    }

    /// Runs counted by source, dataset and status, with their rows, bytes
    /// and durations: what the daemon's `/metrics` shows. Counted in the
    /// catalog, so every daemon sharing it reports the same totals.
    pub async fn run_stats(&self) -> Result<Vec<RunStats>> {
        let buckets: String = DURATION_BUCKETS
            .iter()
            .enumerate()
            .map(|(i, le)| {
                format!(
                    ", CAST(SUM(CASE WHEN ended_at IS NOT NULL AND ended_at - started_at <= {} THEN 1 ELSE 0 END) AS BIGINT) AS le_{i}",
                    (*le * 1e6) as i64
                )
            })
            .collect();
        let rows = sqlx::query(&format!(
            "SELECT source, dataset, status, COUNT(*) AS runs, \
             CAST(SUM(rows_written) AS BIGINT) AS rows_written, \
             CAST(SUM(rows_rejected) AS BIGINT) AS rows_rejected, \
             CAST(SUM(bytes_read) AS BIGINT) AS bytes_read, \
             CAST(SUM(CASE WHEN ended_at IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT) AS ended, \
             CAST(SUM(CASE WHEN ended_at IS NOT NULL THEN ended_at - started_at ELSE 0 END) AS BIGINT) AS duration_micros \
             {buckets} FROM lagoa_run GROUP BY source, dataset, status ORDER BY source, dataset, status"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(LakeError::catalog("counting runs"))?;
        rows.iter()
            .map(|r| {
                let mut le = Vec::with_capacity(DURATION_BUCKETS.len());
                for i in 0..DURATION_BUCKETS.len() {
                    le.push(get::<i64>(r, &format!("le_{i}"))?);
                }
                Ok(RunStats {
                    source: get(r, "source")?,
                    dataset: get(r, "dataset")?,
                    status: word(r, "status")?,
                    runs: get(r, "runs")?,
                    rows_written: get(r, "rows_written")?,
                    rows_rejected: get(r, "rows_rejected")?,
                    bytes_read: get(r, "bytes_read")?,
                    ended: get(r, "ended")?,
                    duration_micros: get(r, "duration_micros")?,
                    duration_le: le,
                })
            })
            .collect()
    }

    /// Failed runs by source, dataset and error class (`unclassified`
    /// for runs recorded before classes were).
    pub async fn failure_classes(&self) -> Result<Vec<(String, String, String, i64)>> {
        let rows = sqlx::query(
            "SELECT source, dataset, COALESCE(error_class, 'unclassified') AS class, COUNT(*) AS runs \
             FROM lagoa_run WHERE status = 'failed' \
             GROUP BY source, dataset, COALESCE(error_class, 'unclassified') ORDER BY 1, 2, 3",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(LakeError::catalog("counting failed runs"))?;
        rows.iter()
            .map(|r| {
                Ok((
                    get(r, "source")?,
                    get(r, "dataset")?,
                    get(r, "class")?,
                    get(r, "runs")?,
                ))
            })
            .collect()
    }

    /// When each dataset last had a delivery committed (microseconds).
    pub async fn last_commits(&self) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT dataset, MAX(ended_at) AS at FROM lagoa_run WHERE status = 'committed' AND ended_at IS NOT NULL GROUP BY dataset ORDER BY dataset",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(LakeError::catalog("reading the last commits"))?;
        rows.iter()
            .map(|r| Ok((get(r, "dataset")?, get(r, "at")?)))
            .collect()
    }

    /// The latest run of each source.
    pub async fn last_runs(&self) -> Result<Vec<RunRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM lagoa_run r WHERE started_at = (SELECT max(started_at) FROM lagoa_run x WHERE x.source = r.source) ORDER BY source"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(LakeError::catalog("reading the last runs"))?;
        rows.iter().map(run_from_row).collect()
    }

    pub async fn record_quarantine(&self, q: &QuarantineRecord) -> Result<()> {
        insert_quarantine(&self.pool, q)
            .await
            .map_err(LakeError::catalog("recording quarantined rows"))
    }

    /// Quarantined deliveries, newest first; one dataset's if given.
    pub async fn quarantines(&self, dataset: Option<&str>) -> Result<Vec<QuarantineRecord>> {
        let rows = sqlx::query(
            "SELECT run_id, dataset, path, row_count, stored_bytes, created_at, released_at, released_by_run
               FROM lagoa_quarantine WHERE $1 = '' OR dataset = $1 ORDER BY created_at DESC, run_id DESC",
        )
        .bind(dataset.unwrap_or(""))
        .fetch_all(&self.pool)
        .await
        .map_err(LakeError::catalog("reading quarantine"))?;
        rows.iter()
            .map(|r| {
                Ok(QuarantineRecord {
                    run_id: get(r, "run_id")?,
                    dataset: get(r, "dataset")?,
                    path: get(r, "path")?,
                    row_count: get(r, "row_count")?,
                    stored_bytes: get(r, "stored_bytes")?,
                    created_at: get(r, "created_at")?,
                    released_at: get(r, "released_at")?,
                    released_by_run: get(r, "released_by_run")?,
                })
            })
            .collect()
    }

    /// Registers a contract version; a version number is registered once.
    pub async fn register_contract(
        &self,
        dataset: &str,
        version: i64,
        effective_from: Option<&str>,
        body: &str,
    ) -> Result<()> {
        let existing: Option<String> = sqlx::query_scalar(
            "SELECT body FROM lagoa_contract WHERE dataset = $1 AND version = $2",
        )
        .bind(dataset)
        .bind(version)
        .fetch_optional(&self.pool)
        .await
        .map_err(LakeError::catalog("reading contracts"))?;
        match existing {
            Some(b) if b == body => return Ok(()),
            Some(_) => {
                return Err(LakeError::Invalid(format!(
                    "contract {dataset} version {version} is already registered with other content; register it as a new version"
                )));
            }
            None => {}
        }
        sqlx::query(
            "INSERT INTO lagoa_contract (dataset, version, effective_from, body, registered_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(dataset)
        .bind(version)
        .bind(effective_from.map(str::to_owned))
        .bind(body)
        .bind(now_micros())
        .execute(&self.pool)
        .await
        .map_err(LakeError::catalog("registering a contract"))?;
        Ok(())
    }

    /// Every registered version of a dataset's contract, oldest first.
    pub async fn contract_versions(&self, dataset: &str) -> Result<Vec<ContractVersion>> {
        let rows = sqlx::query(
            "SELECT dataset, version, effective_from, body, registered_at FROM lagoa_contract WHERE dataset = $1 ORDER BY version",
        )
        .bind(dataset)
        .fetch_all(&self.pool)
        .await
        .map_err(LakeError::catalog("reading contracts"))?;
        rows.iter()
            .map(|r| {
                Ok(ContractVersion {
                    dataset: get(r, "dataset")?,
                    version: get(r, "version")?,
                    effective_from: get(r, "effective_from")?,
                    body: get(r, "body")?,
                    registered_at: get(r, "registered_at")?,
                })
            })
            .collect()
    }

    pub async fn record_drift(&self, events: &[DriftEvent]) -> Result<()> {
        for e in events {
            sqlx::query(
                "INSERT INTO lagoa_drift (run_id, dataset, kind, column_name, detail, policy, at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&e.run_id)
            .bind(&e.dataset)
            .bind(&e.kind)
            .bind(&e.column)
            .bind(&e.detail)
            .bind(&e.policy)
            .bind(e.at)
            .execute(&self.pool)
            .await
            .map_err(LakeError::catalog("recording drift"))?;
        }
        Ok(())
    }

    pub async fn drift(&self, dataset: &str) -> Result<Vec<DriftEvent>> {
        let rows = sqlx::query(
            "SELECT run_id, dataset, kind, column_name, detail, policy, at FROM lagoa_drift WHERE dataset = $1 ORDER BY at",
        )
        .bind(dataset)
        .fetch_all(&self.pool)
        .await
        .map_err(LakeError::catalog("reading drift"))?;
        rows.iter()
            .map(|r| {
                Ok(DriftEvent {
                    run_id: get(r, "run_id")?,
                    dataset: get(r, "dataset")?,
                    kind: get(r, "kind")?,
                    column: get(r, "column_name")?,
                    detail: get(r, "detail")?,
                    policy: get(r, "policy")?,
                    at: get(r, "at")?,
                })
            })
            .collect()
    }

    /// The watermark an incremental source saved with its last commit.
    /// Records the process holding a running run; its heartbeat starts now.
    pub async fn hold_run(&self, run_id: &str, holder: &RunHolder, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO lagoa_run_holder (run_id, host, pid, process_started, heartbeat_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(run_id)
        .bind(&holder.host)
        .bind(holder.pid)
        .bind(&holder.started)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(LakeError::catalog("recording who runs a run"))?;
        Ok(())
    }

    /// When the oldest run still marked running started, if any.
    pub async fn oldest_running_start(&self) -> Result<Option<i64>> {
        sqlx::query_scalar("SELECT MIN(started_at) FROM lagoa_run WHERE status = 'running'")
            .fetch_one(&self.pool)
            .await
            .map_err(LakeError::catalog("reading running runs"))
    }

    /// The holder of a running run says it is alive.
    pub async fn heartbeat_run(&self, run_id: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE lagoa_run_holder SET heartbeat_at = $1 WHERE run_id = $2")
            .bind(now)
            .bind(run_id)
            .execute(&self.pool)
            .await
            .map_err(LakeError::catalog("recording a run's heartbeat"))?;
        Ok(())
    }

    /// Closes as abandoned the running runs of this dataset or source (of
    /// every one when both are `None`) whose process died (see
    /// [`crate::run_holder`]); returns their ids. What they wrote stays,
    /// unreferenced, for `vacuum`.
    pub async fn close_abandoned_runs(
        &self,
        dataset: Option<&str>,
        source: Option<&str>,
        now: i64,
    ) -> Result<Vec<String>> {
        let every = dataset.is_none() && source.is_none();
        let rows = sqlx::query(
            "SELECT r.run_id, r.started_at, h.host, h.pid, h.process_started, h.heartbeat_at
               FROM lagoa_run r LEFT JOIN lagoa_run_holder h ON h.run_id = r.run_id
              WHERE r.status = 'running' AND ($3 = 1 OR r.dataset = $1 OR r.source = $2)",
        )
        .bind(dataset.unwrap_or(""))
        .bind(source.unwrap_or(""))
        .bind(i64::from(every))
        .fetch_all(&self.pool)
        .await
        .map_err(LakeError::catalog("reading running runs"))?;
        let mut closed = Vec::new();
        for row in &rows {
            let run_id: String = get(row, "run_id")?;
            let host: Option<String> = get(row, "host")?;
            let holder = match host {
                Some(host) => Some(RunHolder {
                    host,
                    pid: get(row, "pid")?,
                    started: get(row, "process_started")?,
                }),
                None => None,
            };
            let heartbeat: Option<i64> = get(row, "heartbeat_at")?;
            let heartbeat = heartbeat.unwrap_or(get(row, "started_at")?);
            if !run_holder::abandoned(holder.as_ref(), heartbeat, now) {
                continue;
            }
            let by = holder
                .as_ref()
                .map(|h| format!("process {} on {}", h.pid, h.host))
                .unwrap_or_else(|| "its process".into());
            let error = format!(
                "abandoned: {by} stopped before recording the run's end; nothing it wrote became visible, and `lagoa vacuum` removes its files"
            );
            let mut tx = self
                .pool
                .begin()
                .await
                .map_err(LakeError::catalog("closing an abandoned run"))?;
            // Not if its heartbeat moved since it was read: alive after all.
            let updated = sqlx::query(
                "UPDATE lagoa_run SET status = 'failed', error = $1, error_class = 'abandoned', ended_at = $2
                  WHERE run_id = $3 AND status = 'running'
                    AND NOT EXISTS (SELECT 1 FROM lagoa_run_holder h WHERE h.run_id = $3 AND h.heartbeat_at > $4)",
            )
            .bind(&error)
            .bind(now)
            .bind(&run_id)
            .bind(heartbeat)
            .execute(&mut *tx)
            .await
            .map_err(LakeError::catalog("closing an abandoned run"))?
            .rows_affected();
            sqlx::query("DELETE FROM lagoa_run_holder WHERE run_id = $1")
                .bind(&run_id)
                .execute(&mut *tx)
                .await
                .map_err(LakeError::catalog("closing an abandoned run"))?;
            tx.commit()
                .await
                .map_err(LakeError::catalog("closing an abandoned run"))?;
            if updated == 1 {
                closed.push(run_id);
            }
        }
        Ok(closed)
    }

    pub async fn watermark(&self, source: &str) -> Result<Option<String>> {
        sqlx::query_scalar("SELECT value FROM lagoa_watermark WHERE source = $1")
            .bind(source)
            .fetch_optional(&self.pool)
            .await
            .map_err(LakeError::catalog("reading the watermark"))
    }
}

/// Inside a commit's transaction.
pub async fn save_watermark(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    watermark: &Watermark,
    snapshot: i64,
) -> std::result::Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM lagoa_watermark WHERE source = $1")
        .bind(&watermark.source)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO lagoa_watermark (source, value, snapshot_id, updated_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(&watermark.source)
    .bind(&watermark.value)
    .bind(snapshot)
    .bind(now_micros())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Writes a run's row (insert or replace by id) inside `tx`; a run no
/// longer running has no holder.
pub(crate) async fn write_run(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    run: &RunRecord,
) -> std::result::Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM lagoa_run WHERE run_id = $1")
        .bind(&run.run_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query(&format!(
        "INSERT INTO lagoa_run ({RUN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"
    ))
    .bind(&run.run_id)
    .bind(&run.source)
    .bind(&run.dataset)
    .bind(&run.trigger)
    .bind(run.status.as_str())
    .bind(run.attempts)
    .bind(run.started_at)
    .bind(run.ended_at)
    .bind(run.rows_read)
    .bind(run.rows_written)
    .bind(run.rows_rejected)
    .bind(run.bytes_read)
    .bind(run.bytes_written)
    .bind(run.snapshot_id)
    .bind(run.raw_id.clone())
    .bind(run.contract_version)
    .bind(run.replay_of.clone())
    .bind(run.error.clone())
    .bind(run.error_class.map(FailureClass::as_str))
    .bind(run.report.clone())
    .execute(&mut **tx)
    .await?;
    if run.status != RunStatus::Running {
        sqlx::query("DELETE FROM lagoa_run_holder WHERE run_id = $1")
            .bind(&run.run_id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Records quarantined rows, alone or inside a commit's transaction.
pub(crate) async fn insert_quarantine<'e, E>(
    executor: E,
    q: &QuarantineRecord,
) -> std::result::Result<(), sqlx::Error>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "INSERT INTO lagoa_quarantine (run_id, dataset, path, row_count, stored_bytes, created_at, released_at, released_by_run) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&q.run_id)
    .bind(&q.dataset)
    .bind(&q.path)
    .bind(q.row_count)
    .bind(q.stored_bytes)
    .bind(q.created_at)
    .bind(q.released_at)
    .bind(q.released_by_run.clone())
    .execute(executor)
    .await?;
    Ok(())
}

fn run_from_row(r: &AnyRow) -> Result<RunRecord> {
    Ok(RunRecord {
        run_id: get(r, "run_id")?,
        source: get(r, "source")?,
        dataset: get(r, "dataset")?,
        trigger: get(r, "trigger_kind")?,
        status: word(r, "status")?,
        attempts: get(r, "attempts")?,
        started_at: get(r, "started_at")?,
        ended_at: get(r, "ended_at")?,
        rows_read: get(r, "rows_read")?,
        rows_written: get(r, "rows_written")?,
        rows_rejected: get(r, "rows_rejected")?,
        bytes_read: get(r, "bytes_read")?,
        bytes_written: get(r, "bytes_written")?,
        snapshot_id: get(r, "snapshot_id")?,
        raw_id: get(r, "raw_id")?,
        contract_version: get(r, "contract_version")?,
        replay_of: get(r, "replay_of")?,
        error: get(r, "error")?,
        error_class: get::<Option<String>>(r, "error_class")?
            .map(|w| w.parse().map_err(unknown_word))
            .transpose()?,
        report: get(r, "report")?,
    })
}

/// A status column read back as its enum.
fn word(r: &AnyRow, column: &str) -> Result<RunStatus> {
    get::<String>(r, column)?.parse().map_err(unknown_word)
}

fn unknown_word(e: lagoa_core::UnknownRunWord) -> LakeError {
    LakeError::Invalid(format!("the catalog holds an {e}"))
}
