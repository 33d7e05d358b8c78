//! Compaction: the same current rows in fewer files, deletion vectors
//! folded in.
//!
//! Per dataset and partition value, the files worth rewriting are those
//! with deleted rows and those under half the writer's target size. When a
//! partition has at least one file with deleted rows, or at least two small
//! files, its candidates are read as the current state reads them (deleted
//! rows skipped), written again as new encrypted files, and committed in
//! one snapshot that ends the old files. Earlier snapshots still name the
//! old files and their vectors, so time travel inside the retention window
//! reads exactly what it read before; `lagoa vacuum` removes the old files
//! once no retained snapshot needs them.
//!
//! The commit names the version of each old file's deletion vector it
//! read: an upsert committed meanwhile makes it fail, the new files are
//! removed, and the dataset is left for the next compaction.
//!
//! Each dataset's compaction is a run (`lagoa runs`: source `lagoa
//! compact`, trigger `compact`), held by this process like an ingest run:
//! `vacuum` never takes the files it is writing for orphans, and one killed
//! is closed as abandoned by the next command, its files left for vacuum.
//! A dataset that cannot be compacted is reported, and the others are.

use crate::catalog::model::{
    CommitOutcome, CommitRequest, DataFileInfo, DatasetInfo, DatasetSpec, ObjectDigest,
    ReplacedFile, WriteMode,
};
use crate::catalog::{RunRecord, now_micros};
use crate::error::{LakeError, Result};
use crate::run_holder::{Heartbeat, RunHolder};
use crate::writer::WriteTarget;
use crate::{AsOf, Lake};
use arrow::datatypes::SchemaRef;
use futures::StreamExt;
use lagoa_core::{DatasetName, FailureClass, RunStatus};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// What compaction did (or, dry, would do) to one dataset.
#[derive(Clone, Debug, Serialize)]
pub struct Compaction {
    pub dataset: String,
    pub files_before: usize,
    pub files_after: usize,
    /// Current rows rewritten.
    pub rows: i64,
    /// Deleted rows folded away.
    pub deleted_rows: i64,
    pub bytes_before: i64,
    pub bytes_after: i64,
    /// The snapshot that made it visible (none when dry or skipped).
    pub snapshot: Option<i64>,
    /// Why nothing was committed, when another writer changed the files.
    pub skipped: Option<String>,
    /// Why nothing was committed, when the compaction failed.
    pub error: Option<String>,
    /// The compaction's run (none when dry).
    pub run_id: Option<String>,
}

/// Compacts every live dataset, or only `only`.
pub async fn compact(
    lake: &Lake,
    only: Option<&DatasetName>,
    dry_run: bool,
) -> Result<Vec<Compaction>> {
    let snapshot = lake.catalog.resolve(&AsOf::Latest).await?;
    let datasets = match only {
        Some(name) => vec![
            lake.catalog
                .dataset(name, snapshot)
                .await?
                .ok_or_else(|| LakeError::UnknownDataset(name.to_string()))?,
        ],
        None => lake.catalog.datasets(snapshot).await?,
    };
    let mut done = Vec::new();
    for dataset in datasets.into_iter().filter(|d| d.shredded_at.is_none()) {
        let files = lake.catalog.files(&dataset, snapshot).await?;
        let candidates = candidates(&files, lake.config.writer.target_file_rows);
        if candidates.is_empty() {
            continue;
        }
        let mut report = Compaction {
            dataset: dataset.name.to_string(),
            files_before: candidates.len(),
            files_after: 0,
            rows: candidates.iter().map(|f| f.live_rows()).sum(),
            deleted_rows: candidates.iter().map(|f| f.row_count - f.live_rows()).sum(),
            bytes_before: candidates.iter().map(|f| f.size_bytes).sum(),
            bytes_after: 0,
            snapshot: None,
            skipped: None,
            error: None,
            run_id: None,
        };
        if !dry_run {
            as_run(lake, &dataset, candidates, &mut report).await?;
        }
        done.push(report);
    }
    Ok(done)
}

/// The files of each partition worth rewriting together.
fn candidates(files: &[DataFileInfo], target_rows: usize) -> Vec<DataFileInfo> {
    let small = (target_rows / 2) as i64;
    let mut by_partition: BTreeMap<Option<&str>, Vec<&DataFileInfo>> = BTreeMap::new();
    for file in files {
        let deleted = file.live_rows() < file.row_count;
        if deleted || file.row_count < small {
            by_partition
                .entry(file.partition_value.as_deref())
                .or_default()
                .push(file);
        }
    }
    by_partition
        .into_values()
        .filter(|group| group.iter().any(|f| f.live_rows() < f.row_count) || group.len() >= 2)
        .flatten()
        .cloned()
        .collect()
}

/// Compacts one dataset as a run of its own: recorded, held by this
/// process, ended by the commit or as failed.
async fn as_run(
    lake: &Lake,
    dataset: &DatasetInfo,
    old: Vec<DataFileInfo>,
    report: &mut Compaction,
) -> Result<()> {
    let mut run = RunRecord {
        run_id: uuid::Uuid::now_v7().to_string(),
        source: "lagoa compact".into(),
        dataset: dataset.name.to_string(),
        trigger: "compact".into(),
        status: RunStatus::Running,
        attempts: 1,
        started_at: now_micros(),
        rows_read: report.rows,
        bytes_read: report.bytes_before,
        ..Default::default()
    };
    lake.catalog.save_run(&run).await?;
    lake.catalog
        .hold_run(&run.run_id, &RunHolder::this_process(), run.started_at)
        .await?;
    let _heartbeat = Heartbeat::start(lake.catalog.clone(), run.run_id.clone());
    report.run_id = Some(run.run_id.clone());
    let outcome = rewrite(lake, dataset, old, &run.run_id, report).await;
    let failure = match (&outcome, &report.skipped) {
        (Err(e), _) => Some((e.to_string(), FailureClass::Internal)),
        (Ok(()), Some(why)) => Some((why.clone(), FailureClass::ConcurrentChange)),
        (Ok(()), None) => None,
    };
    if let Some((message, class)) = failure {
        // The commit did not happen, so the run is still `running`.
        run.status = RunStatus::Failed;
        run.error = Some(message.clone());
        run.error_class = Some(class);
        run.ended_at = Some(now_micros());
        lake.catalog.save_run(&run).await?;
        if outcome.is_err() {
            tracing::warn!(dataset = %dataset.name, error = %message, "compaction failed");
            report.error = Some(message);
        }
    }
    Ok(())
}

/// Every column cast to the type the catalog declares for it.
fn as_declared(schema: &SchemaRef) -> Vec<datafusion::prelude::Expr> {
    schema
        .fields()
        .iter()
        .map(|f| {
            let column = datafusion::common::Column::from_name(f.name());
            datafusion::prelude::cast(column.into(), f.data_type().clone()).alias(f.name())
        })
        .collect()
}

async fn rewrite(
    lake: &Lake,
    dataset: &DatasetInfo,
    old: Vec<DataFileInfo>,
    run_id: &str,
    report: &mut Compaction,
) -> Result<()> {
    let personal_columns = dataset.personal_columns();
    let table = lake.table(dataset, old.clone())?;
    // Written back with the catalog's types (queries read text as views).
    let schema = crate::table::arrow_schema(dataset)?;
    let ctx = crate::session::new_context(lake, false)?;
    // One stream, the files in catalog order: rows keep their order, so the
    // new files' key ranges (and the pruning they allow) stay as narrow as
    // the old ones'.
    ctx.state_ref()
        .write()
        .config_mut()
        .options_mut()
        .execution
        .target_partitions = 1;
    ctx.register_table("compacted", Arc::new(table))?;
    let mut stream = ctx
        .table("compacted")
        .await?
        .select(as_declared(&schema))?
        .execute_stream()
        .await?;

    let mut writer = lake.writer(WriteTarget {
        dataset: dataset.name.clone(),
        sort_column: crate::sorting::default_sort_column(&schema),
        schema,
        personal_columns,
        partition_column: dataset.partition_column.clone(),
    })?;
    // Encoding and encryption off the async threads; batches cross a
    // bounded channel so memory stays flat.
    let (send, mut receive) = tokio::sync::mpsc::channel(4);
    let writing = tokio::task::spawn_blocking(move || {
        while let Some(batch) = receive.blocking_recv() {
            if let Err(e) = writer.write(&batch) {
                writer.abort();
                return Err(e);
            }
        }
        writer.finish()
    });
    let mut read_error = None;
    while let Some(batch) = stream.next().await {
        match batch {
            Ok(batch) => {
                if send.send(batch).await.is_err() {
                    break;
                }
            }
            Err(e) => {
                read_error = Some(LakeError::from(e));
                break;
            }
        }
    }
    drop(send);
    let written = writing
        .await
        .map_err(|e| LakeError::Invalid(format!("the compaction's writer stopped: {e}")))?;
    let files = match (read_error, written) {
        (None, Ok(files)) => files,
        (Some(e), Ok(files)) => {
            lake.forget_objects(files.iter().map(|f| f.path.as_str()))
                .await;
            return Err(e);
        }
        (_, Err(e)) => return Err(e),
    };
    let written_rows: i64 = files.iter().map(|f| f.row_count).sum();
    if written_rows != report.rows {
        lake.forget_objects(files.iter().map(|f| f.path.as_str()))
            .await;
        return Err(LakeError::Invalid(format!(
            "compacting {}: read {written_rows} rows where the catalog counts {}; nothing was changed",
            dataset.name, report.rows
        )));
    }
    report.files_after = files.len();
    report.bytes_after = files.iter().map(|f| f.size_bytes).sum();
    let digests = files
        .iter()
        .map(|f| ObjectDigest {
            path: f.path.clone(),
            size_bytes: f.size_bytes,
            sha256: f.sha256.clone(),
        })
        .collect();
    let paths: Vec<String> = files.iter().map(|f| f.path.clone()).collect();
    let commit = CommitRequest {
        spec: DatasetSpec {
            name: dataset.name.clone(),
            level: dataset.level,
            description: dataset.description.clone(),
            partition_column: dataset.partition_column.clone(),
            columns: dataset.columns.clone(),
        },
        mode: WriteMode::Compact,
        files,
        fingerprint: None,
        source: "lagoa compact".into(),
        watermark: None,
        raw: None,
        quarantine: None,
        run_id: Some(run_id.to_owned()),
        release_of: None,
        digests,
        contract: None,
        deletes: Vec::new(),
        replaces: old
            .iter()
            .map(|f| ReplacedFile {
                file_id: f.file_id.clone(),
                based_on: f.deletes.as_ref().map(|d| d.since),
            })
            .collect(),
        planned_at: None,
    };
    crate::fault::point("compact.before_commit");
    match lake.catalog.commit(&commit).await {
        Ok(CommitOutcome::Committed { snapshot, .. }) => {
            report.snapshot = Some(snapshot);
            Ok(())
        }
        Ok(CommitOutcome::AlreadyIngested { .. }) => Ok(()),
        Err(LakeError::ConcurrentChange { .. }) => {
            lake.forget_objects(paths.iter().map(String::as_str)).await;
            report.skipped =
                Some("an upsert or another compaction changed these files meanwhile".into());
            Ok(())
        }
        Err(e) => {
            lake.forget_objects(paths.iter().map(String::as_str)).await;
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::model::FileDeletes;
    use crate::deletion::DeletionVector;

    fn file(id: &str, partition: Option<&str>, rows: i64, deleted: usize) -> DataFileInfo {
        DataFileInfo {
            file_id: id.into(),
            dataset: "d".into(),
            path: format!("tables/d/{id}.parquet"),
            partition_value: partition.map(str::to_owned),
            row_count: rows,
            size_bytes: rows * 10,
            schema_version: 1,
            master_key_id: None,
            begin_snapshot: 1,
            end_snapshot: None,
            stats: vec![],
            deletes: (deleted > 0).then(|| FileDeletes {
                since: 2,
                vector: Arc::new(DeletionVector::new((0..deleted as u64).collect())),
            }),
        }
    }

    fn ids(files: Vec<DataFileInfo>) -> Vec<String> {
        files.into_iter().map(|f| f.file_id).collect()
    }

    #[test]
    fn small_files_are_rewritten_together_and_a_lone_one_is_left() {
        let files = [
            file("a", Some("2024"), 10, 0),
            file("b", Some("2024"), 20, 0),
            file("big", Some("2024"), 1_000, 0),
            file("lone", Some("2025"), 10, 0),
        ];
        assert_eq!(ids(candidates(&files, 1_000)), ["a", "b"]);
    }

    #[test]
    fn a_file_with_deleted_rows_is_rewritten_whatever_its_size() {
        let files = [file("big", None, 1_000, 3), file("other", None, 2_000, 0)];
        assert_eq!(ids(candidates(&files, 1_000)), ["big"]);
        assert!(candidates(&[file("clean", None, 2_000, 0)], 1_000).is_empty());
    }
}
