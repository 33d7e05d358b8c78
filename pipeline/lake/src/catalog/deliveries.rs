//! Deliveries: the raw zone's records of what each provider delivered,
//! landed or not, and the lookups that recognise a delivery seen before.

use super::model::*;
use super::objects::insert_digests;
use super::{Catalog, QuarantineRecord, RunRecord, get, now_micros, runs};
use crate::error::{LakeError, Result};
use lagoa_core::DatasetName;

impl Catalog {
    /// Records a delivery kept in the raw zone that did not become visible
    /// (rejected, held, failed), with the rows it quarantined and the run's
    /// end, in one transaction. A committed delivery's records go with its
    /// commit.
    pub async fn record_unlanded(
        &self,
        raw: Option<&RawDelivery>,
        quarantine: Option<&QuarantineRecord>,
        digests: &[ObjectDigest],
        run: Option<&RunRecord>,
    ) -> Result<()> {
        let what = "recording a delivery that did not land";
        let mut tx = self.pool.begin().await.map_err(LakeError::catalog(what))?;
        if let Some(run) = run {
            // The run's end goes with what it kept: killed after this, it
            // is not mistaken for an abandoned run that kept nothing.
            let mut ended = run.clone();
            ended.ended_at.get_or_insert_with(now_micros);
            runs::write_run(&mut tx, &ended)
                .await
                .map_err(LakeError::catalog(what))?;
        }
        insert_digests(&mut tx, digests)
            .await
            .map_err(LakeError::catalog(what))?;
        if let Some(raw) = raw {
            insert_raw(&mut *tx, raw, raw.snapshot_id)
                .await
                .map_err(LakeError::catalog(what))?;
        }
        if let Some(q) = quarantine {
            runs::insert_quarantine(&mut *tx, q)
                .await
                .map_err(LakeError::catalog(what))?;
        }
        tx.commit().await.map_err(LakeError::catalog(what))
    }

    /// Whether a delivery with this file name and size was already
    /// committed to the dataset: a likely rerun, worth fingerprinting first.
    pub async fn has_committed_delivery_like(
        &self,
        dataset: &DatasetName,
        source: &str,
        size_bytes: i64,
    ) -> Result<bool> {
        let found: Option<String> = sqlx::query_scalar(
            "SELECT raw_id FROM lagoa_raw_delivery WHERE dataset = $1 AND source = $2 AND size_bytes = $3 AND status = 'committed' LIMIT 1",
        )
        .bind(dataset.as_str())
        .bind(source)
        .bind(size_bytes)
        .fetch_optional(&self.pool)
        .await
        .map_err(LakeError::catalog("reading raw deliveries"))?;
        Ok(found.is_some())
    }

    /// Deliveries in the raw zone, newest first; one dataset's if given.
    pub async fn raw_deliveries(&self, dataset: Option<&DatasetName>) -> Result<Vec<RawDelivery>> {
        self.select_raw(
            "WHERE $1 = '' OR dataset = $1",
            dataset.map(|d| d.as_str()).unwrap_or(""),
        )
        .await
    }

    /// One delivery of the raw zone.
    pub async fn raw_delivery(&self, raw_id: &str) -> Result<Option<RawDelivery>> {
        Ok(self
            .select_raw("WHERE raw_id = $1", raw_id)
            .await?
            .into_iter()
            .next())
    }

    async fn select_raw(&self, filter: &str, value: &str) -> Result<Vec<RawDelivery>> {
        let rows = sqlx::query(&format!(
            "SELECT raw_id, dataset, path, source, fingerprint, size_bytes, stored_bytes, received_at, status, snapshot_id, error,
                    write_mode, write_key, delete_column
               FROM lagoa_raw_delivery {filter} ORDER BY received_at DESC, raw_id DESC"
        ))
        .bind(value)
        .fetch_all(&self.pool)
        .await
        .map_err(LakeError::catalog("reading raw deliveries"))?;
        rows.iter()
            .map(|r| {
                Ok(RawDelivery {
                    raw_id: get(r, "raw_id")?,
                    dataset: get(r, "dataset")?,
                    path: get(r, "path")?,
                    source: get(r, "source")?,
                    fingerprint: get(r, "fingerprint")?,
                    size_bytes: get(r, "size_bytes")?,
                    stored_bytes: get(r, "stored_bytes")?,
                    received_at: get(r, "received_at")?,
                    status: get(r, "status")?,
                    snapshot_id: get(r, "snapshot_id")?,
                    error: get(r, "error")?,
                    write_mode: get(r, "write_mode")?,
                    write_key: get::<String>(r, "write_key")?
                        .split(',')
                        .filter(|k| !k.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    delete_column: get(r, "delete_column")?,
                })
            })
            .collect()
    }
}

/// Records a raw-zone delivery, alone or inside a commit's transaction.
pub(super) async fn insert_raw<'e, E>(
    executor: E,
    raw: &RawDelivery,
    snapshot: Option<i64>,
) -> std::result::Result<(), sqlx::Error>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "INSERT INTO lagoa_raw_delivery (raw_id, dataset, path, source, fingerprint, size_bytes, stored_bytes, received_at, status, snapshot_id, error,
                                         write_mode, write_key, delete_column)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(&raw.raw_id)
    .bind(&raw.dataset)
    .bind(&raw.path)
    .bind(&raw.source)
    .bind(&raw.fingerprint)
    .bind(raw.size_bytes)
    .bind(raw.stored_bytes)
    .bind(raw.received_at)
    .bind(&raw.status)
    .bind(snapshot)
    .bind(raw.error.clone())
    .bind(&raw.write_mode)
    .bind(raw.write_key.join(","))
    .bind(raw.delete_column.clone())
    .execute(executor)
    .await?;
    Ok(())
}
