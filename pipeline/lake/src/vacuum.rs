//! Removing files no snapshot needs: files of snapshots past retention, and
//! orphans (files a crashed or aborted run wrote but never committed).
//!
//! The catalog forgets expired files before their objects are deleted, so a
//! crash in between leaves orphans for the next vacuum, never a catalog that
//! names missing files. Orphans younger than `orphan_min_age` are left: a
//! run may be writing them right now.

use crate::Lake;
use crate::catalog::model::VacuumReport;
use crate::catalog::now_micros;
use crate::error::{LakeError, Result};
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;
use std::time::Duration;

pub async fn vacuum(
    lake: &Lake,
    dry_run: bool,
    retention: Duration,
    orphan_min_age: Duration,
) -> Result<VacuumReport> {
    let mut report = VacuumReport {
        dry_run,
        ..Default::default()
    };

    let (boundary, expired) = lake
        .catalog
        .expirable_files(now_micros() - retention.as_micros() as i64)
        .await?;
    report.expired_files = expired.iter().map(|(_, path, _)| path.clone()).collect();
    report.bytes += expired.iter().map(|(_, _, size)| *size as u64).sum::<u64>();

    let known = lake.catalog.known_paths().await?;
    let cutoff =
        chrono::Utc::now() - chrono::Duration::from_std(orphan_min_age).unwrap_or_default();
    let prefix = ObjectPath::from("tables");
    let listed: Vec<_> = lake
        .store
        .store
        .list(Some(&prefix))
        .try_collect()
        .await
        .map_err(LakeError::store("tables/"))?;
    for object in listed {
        let path = object.location.to_string();
        if !known.contains(&path) && object.last_modified < cutoff {
            report.bytes += object.size;
            report.orphan_files.push(path);
        }
    }

    if dry_run {
        return Ok(report);
    }
    if let (Some(boundary), false) = (boundary, expired.is_empty()) {
        let ids: Vec<String> = expired.iter().map(|(id, _, _)| id.clone()).collect();
        lake.catalog.forget_files(&ids, boundary).await?;
    }
    for path in report
        .expired_files
        .iter()
        .chain(report.orphan_files.iter())
    {
        let location = ObjectPath::from(path.as_str());
        match lake.store.store.delete(&location).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(LakeError::store(path)(e)),
        }
    }
    Ok(report)
}
