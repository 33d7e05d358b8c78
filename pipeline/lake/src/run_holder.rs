//! Which process holds a running run, and whether it is still alive: the
//! next command touching the run's source or dataset closes the runs of
//! processes that died (`kill -9`, a crash, a lost machine) as abandoned.
//!
//! On the holder's own machine the answer is exact: the process id is
//! looked up, with its start time so that a reused id is not mistaken for
//! the holder. From another machine the holder's heartbeat decides: a run
//! whose heartbeat is older than [`STALE_AFTER`] has no one left.

use std::time::Duration;

/// How often a running run's holder says it is alive.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(15);

/// A heartbeat older than this means the holder is gone (seen from
/// another machine, or for a run recorded before holders were).
pub const STALE_AFTER: Duration = Duration::from_secs(120);

/// The process running a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunHolder {
    pub host: String,
    pub pid: i64,
    /// The process's start time in clock ticks since boot and its pid
    /// namespace (`<ticks>@<namespace>`, Linux), so that a reused pid, or a
    /// process in another container under the same host name, is told
    /// apart; empty where unknown.
    pub started: String,
}

/// What is known of a holder from here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    Alive,
    Dead,
    /// On another machine: only the heartbeat can tell.
    Unknown,
}

impl RunHolder {
    /// This process.
    pub fn this_process() -> Self {
        let pid = i64::from(std::process::id());
        RunHolder {
            host: host_name(),
            pid,
            started: match (process_start(pid), pid_namespace()) {
                (Some(ticks), Some(ns)) => format!("{ticks}@{ns}"),
                _ => String::new(),
            },
        }
    }

    /// Whether this holder is alive, as seen from this process's machine.
    pub fn liveness(&self) -> Liveness {
        if self.host != host_name() {
            return Liveness::Unknown;
        }
        let Some((ticks, namespace)) = self.started.split_once('@') else {
            // Nothing to tell a reused pid or another container by.
            return Liveness::Unknown;
        };
        if pid_namespace().as_deref() != Some(namespace) {
            // Another container with the same host name: its pids are not
            // ours to look up.
            return Liveness::Unknown;
        }
        match process_start(self.pid) {
            Some(started) if started == ticks => Liveness::Alive,
            _ => Liveness::Dead,
        }
    }
}

/// Whether a run whose holder is `holder` (none recorded: a run from
/// before holders, or whose holder row was never written) and whose last
/// heartbeat (or start) was at `heartbeat_at` is abandoned at `now`.
pub fn abandoned(holder: Option<&RunHolder>, heartbeat_at: i64, now: i64) -> bool {
    let stale = now - heartbeat_at > STALE_AFTER.as_micros() as i64;
    match holder.map(RunHolder::liveness) {
        Some(Liveness::Alive) => false,
        Some(Liveness::Dead) => true,
        Some(Liveness::Unknown) | None => stale,
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// This process's pid namespace, e.g. `pid:[4026531836]`.
fn pid_namespace() -> Option<String> {
    std::fs::read_link("/proc/self/ns/pid")
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// Field 22 of `/proc/<pid>/stat`: the start time, after the command name
/// (which may hold spaces and parentheses, hence the last `)`).
fn process_start(pid: i64) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19).map(str::to_owned)
}

/// Tells the catalog, while it lives, that this process still holds
/// `run_id`: a heartbeat every [`HEARTBEAT_EVERY`], stopped when dropped
/// (however the run ends, a timeout dropping its future included).
#[derive(Debug)]
pub struct Heartbeat(tokio::task::JoinHandle<()>);

impl Heartbeat {
    pub fn start(catalog: crate::catalog::Catalog, run_id: String) -> Self {
        Heartbeat(tokio::spawn(async move {
            let mut every = tokio::time::interval(HEARTBEAT_EVERY);
            every.tick().await;
            loop {
                every.tick().await;
                let now = crate::catalog::now_micros();
                if let Err(e) = catalog.heartbeat_run(&run_id, now).await {
                    tracing::warn!(run_id, error = %e, "could not record the run's heartbeat");
                }
            }
        }))
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_finished_one_is_dead() {
        let me = RunHolder::this_process();
        assert!(!me.started.is_empty(), "start time read from /proc");
        assert_eq!(me.liveness(), Liveness::Alive);

        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = i64::from(child.id());
        child.wait().unwrap();
        let gone = RunHolder { pid, ..me.clone() };
        assert_eq!(gone.liveness(), Liveness::Dead);

        let namespace = me.started.split_once('@').unwrap().1.to_owned();
        let reused = RunHolder {
            started: format!("1@{namespace}"),
            ..me.clone()
        };
        assert_eq!(
            reused.liveness(),
            Liveness::Dead,
            "same pid, other start time"
        );
        let other_container = RunHolder {
            started: "1@pid:[1]".into(),
            ..me.clone()
        };
        assert_eq!(
            other_container.liveness(),
            Liveness::Unknown,
            "same host name, another pid namespace"
        );

        let elsewhere = RunHolder {
            host: "another-machine".into(),
            ..me
        };
        assert_eq!(elsewhere.liveness(), Liveness::Unknown);
        let now = 1_000_000_000_000;
        assert!(!abandoned(Some(&elsewhere), now - 1_000_000, now));
        assert!(abandoned(Some(&elsewhere), now - 200_000_000, now));
        assert!(abandoned(None, now - 200_000_000, now));
        assert!(!abandoned(None, now, now));
    }
}
