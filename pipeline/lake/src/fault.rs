//! Fault points: named places in a run where a test can make the process
//! die as `kill -9` would, to check that nothing is lost or left behind.
//!
//! `LAGOA_FAULT_POINT=<name>` kills the process the first time it reaches
//! that point: no destructor runs, no buffer is flushed, no catalog row is
//! written after it. `LAGOA_FAULT_PAUSE=<name>=<millis>` instead waits there
//! once, so that a test can make two writers race deterministically. Unset
//! (always, outside tests), a point costs one comparison with a value read
//! once.

use std::sync::OnceLock;

/// The environment variable naming the point to die at.
pub const FAULT_POINT_ENV: &str = "LAGOA_FAULT_POINT";

fn armed() -> Option<&'static str> {
    static ARMED: OnceLock<Option<String>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            std::env::var(FAULT_POINT_ENV)
                .ok()
                .filter(|v| !v.is_empty())
        })
        .as_deref()
}

/// The environment variable naming a point to wait at, and for how long.
pub const FAULT_PAUSE_ENV: &str = "LAGOA_FAULT_PAUSE";

fn paused() -> Option<&'static (String, u64)> {
    static PAUSED: OnceLock<Option<(String, u64)>> = OnceLock::new();
    PAUSED
        .get_or_init(|| {
            let value = std::env::var(FAULT_PAUSE_ENV).ok()?;
            let (name, millis) = value.rsplit_once('=')?;
            Some((name.to_owned(), millis.parse().ok()?))
        })
        .as_ref()
}

/// Waits here the first time, when this is the paused point.
pub async fn pause(name: &str) {
    static DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if let Some((point, millis)) = paused()
        && point == name
        && !DONE.swap(true, std::sync::atomic::Ordering::SeqCst)
    {
        eprintln!("lagoa: fault point {name} reached, waiting {millis} ms");
        tokio::time::sleep(std::time::Duration::from_millis(*millis)).await;
    }
}

/// Dies here, as by SIGKILL, when this is the armed point.
pub fn point(name: &str) {
    if armed() == Some(name) {
        eprintln!("lagoa: fault point {name} reached, killing the process");
        let _ = nix::sys::signal::kill(nix::unistd::Pid::this(), nix::sys::signal::Signal::SIGKILL);
        // SIGKILL cannot be caught; should the call fail, abort still
        // stops the process without running destructors.
        std::process::abort();
    }
}
