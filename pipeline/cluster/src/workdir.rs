//! An executor's work directory holds the shuffle files of the stages it
//! runs: decrypted rows, in Arrow IPC. Ballista writes them in plaintext,
//! so Lagoa keeps them off every disk: the directory must be on a memory
//! filesystem (tmpfs or ramfs) and the machine must have no swap a page of
//! it could be written to. An executor refuses to start otherwise.

use std::path::Path;

/// Why a work directory may not hold shuffle files.
#[derive(Debug, thiserror::Error)]
pub enum WorkDirError {
    #[error("work directory {0}: {1}")]
    Unreadable(String, String),
    #[error(
        "work directory {0} is on a disk filesystem: shuffle files hold decrypted rows, so it must be on tmpfs (for example under /dev/shm, or a tmpfs mount of its own)"
    )]
    OnDisk(String),
    #[error(
        "this machine has swap enabled ({0}): a memory page of the shuffle files could be written to it in clear; turn swap off (swapoff -a) for executors"
    )]
    Swap(String),
}

const TMPFS_MAGIC: i64 = 0x0102_1994;
const RAMFS_MAGIC: i64 = 0x8584_58f6;

/// Creates `dir` if needed, checks that what lands in it stays in memory,
/// and removes what an earlier executor left there (one killed mid-query
/// leaves its shuffle files behind).
pub fn prepare(dir: &Path) -> Result<(), WorkDirError> {
    check(dir)?;
    wipe(dir)
}

/// Removes everything in `dir`.
pub fn wipe(dir: &Path) -> Result<(), WorkDirError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| WorkDirError::Unreadable(dir.display().to_string(), e.to_string()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(|e| WorkDirError::Unreadable(path.display().to_string(), e.to_string()))?;
    }
    Ok(())
}

/// Checks `dir` again every `every`, for as long as the executor runs;
/// returns the first reason it no longer holds shuffle files safely (swap
/// turned on since the executor started, the directory moved to a disk).
pub async fn watch(dir: &Path, every: std::time::Duration) -> WorkDirError {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if let Err(reason) = check(dir) {
            tracing::error!(%reason, "the executor stops: its shuffle files could reach a disk");
            return reason;
        }
    }
}

/// Creates `dir` if needed and checks that what lands in it stays in memory.
pub fn check(dir: &Path) -> Result<(), WorkDirError> {
    let shown = dir.display().to_string();
    std::fs::create_dir_all(dir)
        .map_err(|e| WorkDirError::Unreadable(shown.clone(), e.to_string()))?;
    let stat = nix::sys::statfs::statfs(dir)
        .map_err(|e| WorkDirError::Unreadable(shown.clone(), e.to_string()))?;
    let kind = stat.filesystem_type().0 as i64;
    if kind != TMPFS_MAGIC && kind != RAMFS_MAGIC {
        return Err(WorkDirError::OnDisk(shown));
    }
    let swaps = std::fs::read_to_string("/proc/swaps")
        .map_err(|e| WorkDirError::Unreadable("/proc/swaps".into(), e.to_string()))?;
    let active: Vec<&str> = swaps
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    if !active.is_empty() {
        return Err(WorkDirError::Swap(active.join(", ")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_watch_stops_at_the_first_check_that_fails() {
        let disk = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).expect("tempdir");
        let stopped = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            watch(disk.path(), std::time::Duration::from_millis(10)),
        )
        .await
        .expect("the watch returns a reason");
        assert!(matches!(stopped, WorkDirError::OnDisk(_)), "{stopped}");
    }

    #[test]
    fn a_disk_directory_is_refused_and_dev_shm_is_taken() {
        let disk = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).expect("tempdir");
        let err = check(disk.path()).expect_err("a directory on disk is refused");
        assert!(matches!(err, WorkDirError::OnDisk(_)), "{err}");
        let shm = Path::new("/dev/shm");
        if shm.exists() {
            let dir = tempfile::tempdir_in(shm).expect("tempdir in /dev/shm");
            let left = dir.path().join("job-1/2/0");
            std::fs::create_dir_all(&left).expect("a job's directory");
            std::fs::write(left.join("data-0.arrow"), b"left behind").expect("a file");
            match prepare(dir.path()) {
                Ok(()) => assert_eq!(
                    std::fs::read_dir(dir.path()).expect("listing").count(),
                    0,
                    "what an earlier executor left is removed"
                ),
                // A machine with swap refuses every directory; say so.
                Err(WorkDirError::Swap(devices)) => assert!(!devices.is_empty()),
                Err(other) => panic!("/dev/shm refused: {other}"),
            }
        }
    }
}
