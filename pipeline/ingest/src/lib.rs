//! One run: a delivery from a source (`lagoa-connectors`), kept in the raw
//! zone, checked against its contract (`lagoa-schemas`), written encrypted
//! and committed as one snapshot (`lagoa-lake`), with its quality report,
//! its rejected rows in quarantine, and a run record.

pub mod check;
pub mod contract_source;
pub mod quality;
pub mod replay;
pub mod run;

use lagoa_connectors::SourceError;
use lagoa_lake::LakeError;
use lagoa_schemas::ContractError;

pub use contract_source::InferenceHints;
pub use lagoa_core::QualityReport;
pub use quality::report_html;
pub use run::{Progress, RunOutcome, RunRequest, read_quarantine, record_failed_run, run_delivery};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error(transparent)]
    Contract(#[from] ContractError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("{path}: {message}")]
    Input { path: String, message: String },
    #[error("{0}")]
    Usage(String),
}
