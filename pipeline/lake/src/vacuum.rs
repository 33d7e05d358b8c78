//! Removing what nothing needs: files of snapshots past retention, and
//! orphans, objects a crashed or aborted run wrote in any zone the lake
//! writes (`tables/`, `raw/`, `quarantine/`, `_lagoa/healthcheck/`) that no
//! snapshot, raw-zone record or quarantine record names, and the partial
//! uploads a killed process leaves in a local store (`<name>#<n>`).
//!
//! The catalog forgets expired files before their objects are deleted, so a
//! crash in between leaves orphans for the next vacuum, never a catalog that
//! names missing files. Orphans younger than `orphan_min_age`, or than
//! the oldest run still going, are left: a run may be writing them now. On S3, an upload a killed process
//! never completed is invisible to listing; the bucket's lifecycle rule
//! `AbortIncompleteMultipartUpload` removes it (docs/daemon.md).

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

    // What a run still going may be writing is not an orphan, however
    // old: runs whose process died are closed first, then nothing written
    // since the oldest running one started (less a minute for clocks) is
    // touched. Read before the catalog's paths, so that a run committing
    // in between has its objects named or newer than the cutoff.
    let now = now_micros();
    lake.catalog.close_abandoned_runs(None, None, now).await?;
    let oldest_running = lake.catalog.oldest_running_start().await?;
    let mut cutoff =
        chrono::Utc::now() - chrono::Duration::from_std(orphan_min_age).unwrap_or_default();
    if let Some(started) = oldest_running
        .and_then(|micros| chrono::DateTime::from_timestamp_micros(micros - 60_000_000))
    {
        cutoff = cutoff.min(started);
    }
    let known = lake.catalog.known_paths().await?;
    for zone in ZONES {
        let prefix = ObjectPath::from(*zone);
        let listed: Vec<_> = lake
            .store
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(LakeError::store(format!("{zone}/")))?;
        for object in listed {
            let path = object.location.to_string();
            if !known.contains(&path) && object.last_modified < cutoff {
                report.bytes += object.size;
                report.orphan_files.push(path);
            }
        }
    }
    if let Some(root) = &lake.store.local_root {
        let cutoff = std::time::SystemTime::from(cutoff);
        for (path, size) in partial_uploads(root, cutoff)? {
            report.bytes += size;
            report.partial_uploads.push(path);
        }
    }

    if dry_run {
        return Ok(report);
    }
    if let Some(boundary) = boundary
        && (!expired.is_empty() || lake.catalog.ended_deletes_up_to(boundary).await? > 0)
    {
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
    if let Some(root) = &lake.store.local_root {
        for path in &report.partial_uploads {
            match std::fs::remove_file(root.join(path)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(LakeError::io(format!("removing {path}"))(e)),
            }
        }
    }
    Ok(report)
}

/// Every prefix the lake writes objects under, except `audit/` (the
/// anchor, which the catalog does not list and vacuum must never touch).
const ZONES: &[&str] = &["tables", "raw", "quarantine", "_lagoa/healthcheck"];

/// Staged files of uploads that never completed in a local store: the
/// store writes `<name>#<n>` and renames it when the upload completes, and
/// hides such names from listing. Paths are relative to the root.
fn partial_uploads(
    root: &std::path::Path,
    older_than: std::time::SystemTime,
) -> Result<Vec<(String, u64)>> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(LakeError::io(format!("listing {}", dir.display()))(e)),
        };
        for entry in entries {
            let entry = entry.map_err(LakeError::io(format!("listing {}", dir.display())))?;
            let file_type = entry
                .file_type()
                .map_err(LakeError::io(format!("listing {}", dir.display())))?;
            if file_type.is_dir() {
                pending.push(entry.path());
                continue;
            }
            let name = entry.file_name();
            let Some((_, suffix)) = name.to_str().and_then(|n| n.rsplit_once('#')) else {
                continue;
            };
            if suffix.is_empty() || !suffix.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let meta = entry
                .metadata()
                .map_err(LakeError::io(format!("reading {}", entry.path().display())))?;
            if meta.modified().is_ok_and(|m| m < older_than) {
                let relative = entry
                    .path()
                    .strip_prefix(root)
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if !relative.is_empty() {
                    found.push((relative, meta.len()));
                }
            }
        }
    }
    found.sort();
    Ok(found)
}
