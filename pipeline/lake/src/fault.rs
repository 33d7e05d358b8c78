//! Fault points: named places in a run where a test can make the process
//! die as `kill -9` would, to check that nothing is lost or left behind.
//!
//! `LAGOA_FAULT_POINT=<name>` kills the process the first time it reaches
//! that point: no destructor runs, no buffer is flushed, no catalog row is
//! written after it. Unset (always, outside tests), a point costs one
//! comparison with a value read once.

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
