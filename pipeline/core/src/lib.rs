//! Domain types shared by every Lagoa crate: dataset names, sharing levels,
//! personal-data tags, snapshot ids, the error class that separates
//! transient failures (retry) from permanent ones (fix the input), and the
//! catalog of messages in the languages people read them in.
//!
//! This crate has no I/O. Anything that talks to storage, a database or the
//! network lives above it (`lagoa-lake`, `lagoa-ingest`, ...).

mod dataset;
mod error_class;
mod generalisation;
mod identity;
mod level;
pub mod messages;
pub mod quality;
mod run;

pub use dataset::{DatasetName, InvalidDatasetName, SnapshotId};
pub use error_class::{ErrorClass, Retryable};
pub use generalisation::{Generalisation, UnknownGeneralisation};
pub use identity::{InstitutionRole, Role, UnknownRole};
pub use level::{PersonalTag, SharingLevel, UnknownLevel};
pub use quality::QualityReport;
pub use run::{FailureClass, RunStatus, UnknownRunWord};
