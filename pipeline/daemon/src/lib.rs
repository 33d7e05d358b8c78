//! Scheduled ingestion: configured sources (`*.source.toml`), their cron
//! schedules on an injected clock, catalog leases so that daemons sharing a
//! catalog never run one source twice, retries of transient failures, and
//! graceful shutdown; and the indicators on their triggers.

pub mod alerts;
pub mod clock;
pub mod daemon;
pub mod http;
pub mod indicators;
pub mod metrics;
pub mod run_source;
pub mod schedule;
pub mod source_dir;
pub mod source_file;
pub mod trigger;

pub use alerts::{Alert, Alerter};
pub use clock::{Clock, SystemClock, TestClock};
pub use daemon::{Daemon, DaemonOptions, Firing, FiringResult};
pub use indicators::IndicatorWatcher;
pub use run_source::{Quiet, RunObserver, SourceRun, run_source};
pub use schedule::Schedule;
pub use source_dir::SourceDir;
pub use source_file::SourceFile;
pub use trigger::{Started, Triggers};

use lagoa_ingest::IngestError;
use lagoa_lake::LakeError;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// A source file or the daemon's configuration is wrong.
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error(transparent)]
    Ingest(#[from] IngestError),
}
