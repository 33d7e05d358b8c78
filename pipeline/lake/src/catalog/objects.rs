//! Objects: what the store holds according to the catalog, for
//! `check --deep` (sizes and digests recorded when written) and for
//! `vacuum` (what no snapshot needs any more).

use super::model::*;
use super::{Catalog, get, now_micros};
use crate::error::{LakeError, Result};
use std::collections::HashSet;

impl Catalog {
    /// Every object `check --deep` verifies: the data files the catalog
    /// names (live or kept for time travel), the raw-zone deliveries and
    /// the quarantines, with what they were when written. Shredded
    /// datasets are left out: their keys are gone by design.
    pub async fn objects_to_verify(&self) -> Result<Vec<StoredObject>> {
        let rows = sqlx::query(
            "SELECT 'data file' AS kind, d.name AS dataset, f.path, f.size_bytes, f.begin_snapshot AS snapshot_id, g.sha256
               FROM lagoa_data_file f JOIN lagoa_dataset d ON d.dataset_id = f.dataset_id
               LEFT JOIN lagoa_object_digest g ON g.path = f.path
              WHERE d.shredded_at IS NULL
             UNION ALL
             SELECT 'raw delivery', r.dataset, r.path, r.stored_bytes, r.snapshot_id, g.sha256
               FROM lagoa_raw_delivery r LEFT JOIN lagoa_object_digest g ON g.path = r.path
              WHERE r.dataset NOT IN (SELECT name FROM lagoa_dataset WHERE shredded_at IS NOT NULL)
             UNION ALL
             SELECT 'quarantine', q.dataset, q.path, q.stored_bytes, NULL, g.sha256
               FROM lagoa_quarantine q LEFT JOIN lagoa_object_digest g ON g.path = q.path
              WHERE q.dataset NOT IN (SELECT name FROM lagoa_dataset WHERE shredded_at IS NOT NULL)
             ORDER BY 1, 2, 3",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(LakeError::catalog("reading the objects to verify"))?;
        rows.iter()
            .map(|r| {
                Ok(StoredObject {
                    kind: get(r, "kind")?,
                    dataset: get(r, "dataset")?,
                    path: get(r, "path")?,
                    size_bytes: get(r, "size_bytes")?,
                    snapshot_id: get(r, "snapshot_id")?,
                    sha256: get(r, "sha256")?,
                })
            })
            .collect()
    }

    /// Every object the catalog names, in any state (data files, raw-zone
    /// deliveries, quarantines): vacuum never touches these as orphans.
    pub async fn known_paths(&self) -> Result<HashSet<String>> {
        let paths: Vec<String> = sqlx::query_scalar(
            "SELECT path FROM lagoa_data_file
             UNION SELECT path FROM lagoa_raw_delivery
             UNION SELECT path FROM lagoa_quarantine",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(LakeError::catalog("reading object paths"))?;
        Ok(paths.into_iter().collect())
    }

    /// Files no retained snapshot needs: ended at or before the last
    /// snapshot older than `before_micros` (the state time travel must still
    /// reach stays intact).
    pub async fn expirable_files(
        &self,
        before_micros: i64,
    ) -> Result<(Option<i64>, Vec<(String, String, i64)>)> {
        let boundary: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(snapshot_id) FROM lagoa_snapshot WHERE created_at <= $1",
        )
        .bind(before_micros)
        .fetch_one(&self.pool)
        .await
        .map_err(LakeError::catalog("reading snapshots"))?;
        let Some(boundary) = boundary else {
            return Ok((None, vec![]));
        };
        let rows = sqlx::query("SELECT file_id, path, size_bytes FROM lagoa_data_file WHERE end_snapshot IS NOT NULL AND end_snapshot <= $1")
            .bind(boundary)
            .fetch_all(&self.pool)
            .await
            .map_err(LakeError::catalog("reading expired files"))?;
        let files = rows
            .iter()
            .map(|r| Ok((get(r, "file_id")?, get(r, "path")?, get(r, "size_bytes")?)))
            .collect::<Result<Vec<_>>>()?;
        Ok((Some(boundary), files))
    }

    /// Versions of deletion vectors ended at or before `boundary`: a
    /// vacuum forgets them with the expired files.
    pub async fn ended_deletes_up_to(&self, boundary: i64) -> Result<i64> {
        sqlx::query_scalar(
            "SELECT count(*) FROM lagoa_file_deletes WHERE end_snapshot IS NOT NULL AND end_snapshot <= $1",
        )
        .bind(boundary)
        .fetch_one(&self.pool)
        .await
        .map_err(LakeError::catalog("reading deletion vectors"))
    }

    /// Forgets expired files and records that snapshots before `boundary`
    /// can no longer be read.
    pub async fn forget_files(&self, file_ids: &[String], boundary: i64) -> Result<()> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(LakeError::catalog("begin"))?;
        for id in file_ids {
            for statement in [
                "DELETE FROM lagoa_file_column_stats WHERE file_id = $1",
                "DELETE FROM lagoa_file_deletes WHERE file_id = $1",
                "DELETE FROM lagoa_object_digest WHERE path IN (SELECT path FROM lagoa_data_file WHERE file_id = $1)",
                "DELETE FROM lagoa_data_file WHERE file_id = $1",
            ] {
                sqlx::query(statement)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(LakeError::catalog("forgetting expired files"))?;
            }
        }
        // Versions of deletion vectors no retained snapshot reads.
        sqlx::query(
            "DELETE FROM lagoa_file_deletes WHERE end_snapshot IS NOT NULL AND end_snapshot <= $1",
        )
        .bind(boundary)
        .execute(&mut *tx)
        .await
        .map_err(LakeError::catalog("forgetting expired deletion vectors"))?;
        let previous: Option<String> = sqlx::query_scalar(
            "SELECT value FROM lagoa_metadata WHERE key = 'expired_before_snapshot'",
        )
        .fetch_optional(&mut *tx)
        .await
        .map_err(LakeError::catalog("reading lagoa_metadata"))?;
        let keep = previous
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0)
            .max(boundary);
        sqlx::query("DELETE FROM lagoa_metadata WHERE key = 'expired_before_snapshot'")
            .execute(&mut *tx)
            .await
            .map_err(LakeError::catalog("writing lagoa_metadata"))?;
        sqlx::query(
            "INSERT INTO lagoa_metadata (key, value) VALUES ('expired_before_snapshot', $1)",
        )
        .bind(keep.to_string())
        .execute(&mut *tx)
        .await
        .map_err(LakeError::catalog("writing lagoa_metadata"))?;
        tx.commit()
            .await
            .map_err(LakeError::catalog("committing vacuum"))
    }
}

/// Records what objects were when written.
pub(super) async fn insert_digests(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    digests: &[ObjectDigest],
) -> std::result::Result<(), sqlx::Error> {
    let now = now_micros();
    for digest in digests.iter().filter(|d| !d.sha256.is_empty()) {
        sqlx::query("DELETE FROM lagoa_object_digest WHERE path = $1")
            .bind(&digest.path)
            .execute(&mut **tx)
            .await?;
        sqlx::query(
            "INSERT INTO lagoa_object_digest (path, size_bytes, sha256, recorded_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&digest.path)
        .bind(digest.size_bytes)
        .bind(&digest.sha256)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
