//! The catalog side of deletion vectors (see `crate::deletion`): one row
//! per version of a file's vector, valid over `[begin_snapshot,
//! end_snapshot)` like every versioned row, so time travel reads each file
//! with the vector it had then.

use super::commit::Attempt;
use super::get;
use super::model::{FileDeletes, NewDeletes, ReplacedFile};
use crate::deletion::DeletionVector;
use crate::error::{LakeError, Result};
use std::sync::Arc;

/// A file's vector as the catalog read it (`positions`, valid since the
/// snapshot `since`).
pub(super) fn vector(file_id: &str, since: i64, positions: &str) -> Result<FileDeletes> {
    let vector = DeletionVector::decode(positions).map_err(|e| {
        LakeError::Invalid(format!(
            "the catalog's deletion vector of file {file_id}: {e}"
        ))
    })?;
    Ok(FileDeletes {
        since,
        vector: Arc::new(vector),
    })
}

/// The file is live in `dataset_id` and its vector is still the version
/// `based_on` names (otherwise another commit changed it meanwhile);
/// returns the rows that version deletes.
async fn unchanged(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    dataset: &str,
    dataset_id: i64,
    file_id: &str,
    based_on: Option<i64>,
) -> std::result::Result<i64, Attempt> {
    let row = sqlx::query(
        "SELECT d.begin_snapshot, d.deleted_rows
           FROM lagoa_data_file f
           LEFT JOIN lagoa_file_deletes d ON d.file_id = f.file_id AND d.end_snapshot IS NULL
          WHERE f.file_id = $1 AND f.dataset_id = $2 AND f.end_snapshot IS NULL",
    )
    .bind(file_id)
    .bind(dataset_id)
    .fetch_optional(&mut **tx)
    .await
    .map_err(LakeError::catalog(
        "reading files and their deletion vectors",
    ))?;
    let changed = || {
        Attempt::Failed(LakeError::ConcurrentChange {
            dataset: dataset.to_owned(),
        })
    };
    let row = row.ok_or_else(changed)?;
    if get::<Option<i64>>(&row, "begin_snapshot")? != based_on {
        return Err(changed());
    }
    Ok(get::<Option<i64>>(&row, "deleted_rows")?.unwrap_or(0))
}

/// Nothing of `dataset_id` changed after snapshot `planned_at` (before
/// this commit's own rows): no file added or ended, no vector recorded.
pub(super) async fn unchanged_since(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    dataset: &str,
    dataset_id: i64,
    planned_at: i64,
) -> std::result::Result<(), Attempt> {
    let files: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM lagoa_data_file WHERE dataset_id = $1 AND (begin_snapshot > $2 OR end_snapshot > $2)",
    )
    .bind(dataset_id)
    .bind(planned_at)
    .fetch_one(&mut **tx)
    .await
    .map_err(LakeError::catalog("reading files"))?;
    let vectors: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM lagoa_file_deletes WHERE dataset_id = $1 AND begin_snapshot > $2",
    )
    .bind(dataset_id)
    .bind(planned_at)
    .fetch_one(&mut **tx)
    .await
    .map_err(LakeError::catalog("reading deletion vectors"))?;
    if files + vectors > 0 {
        return Err(Attempt::Failed(LakeError::ConcurrentChange {
            dataset: dataset.to_owned(),
        }));
    }
    Ok(())
}

/// Records each file's new vector in `snapshot`, ending the version it
/// replaces. Returns the rows newly deleted.
pub(super) async fn record(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    dataset: &str,
    dataset_id: i64,
    snapshot: i64,
    deletes: &[NewDeletes],
) -> std::result::Result<i64, Attempt> {
    let mut newly = 0;
    for d in deletes {
        let before = unchanged(tx, dataset, dataset_id, &d.file_id, d.based_on).await?;
        sqlx::query(
            "UPDATE lagoa_file_deletes SET end_snapshot = $1 WHERE file_id = $2 AND end_snapshot IS NULL",
        )
        .bind(snapshot)
        .bind(&d.file_id)
        .execute(&mut **tx)
        .await
        .map_err(LakeError::catalog("ending a deletion vector"))?;
        sqlx::query(
            "INSERT INTO lagoa_file_deletes (file_id, dataset_id, begin_snapshot, deleted_rows, positions) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&d.file_id)
        .bind(dataset_id)
        .bind(snapshot)
        .bind(d.vector.len() as i64)
        .bind(d.vector.encode())
        .execute(&mut **tx)
        .await
        .map_err(LakeError::catalog("recording a deletion vector"))?;
        newly += d.vector.len() as i64 - before;
    }
    Ok(newly)
}

/// Ends the files a compaction replaces, each only if it is as the
/// compaction read it. Returns how many were ended.
pub(super) async fn end_replaced(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    dataset: &str,
    dataset_id: i64,
    snapshot: i64,
    replaced: &[ReplacedFile],
) -> std::result::Result<u64, Attempt> {
    for file in replaced {
        unchanged(tx, dataset, dataset_id, &file.file_id, file.based_on).await?;
        for statement in [
            "UPDATE lagoa_data_file SET end_snapshot = $1 WHERE file_id = $2",
            "UPDATE lagoa_file_deletes SET end_snapshot = $1 WHERE file_id = $2 AND end_snapshot IS NULL",
        ] {
            sqlx::query(statement)
                .bind(snapshot)
                .bind(&file.file_id)
                .execute(&mut **tx)
                .await
                .map_err(LakeError::catalog("ending compacted files"))?;
        }
    }
    Ok(replaced.len() as u64)
}
