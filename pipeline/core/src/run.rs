//! What a run ended as, and why a failed one failed: the words the catalog
//! stores in `lagoa_run.status` and `lagoa_run.error_class`, and that the
//! console, the API, the metrics and the CLI read back.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The state of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Reading, checking or writing; nothing of it is visible yet.
    #[default]
    Running,
    /// The delivery is visible in a snapshot.
    Committed,
    /// The same bytes were committed before: nothing to do.
    AlreadyIngested,
    /// An incremental extraction found nothing new.
    Empty,
    /// Nothing became visible; `error` and the class say why.
    Failed,
    /// Too many rows broke the contract; they are in quarantine.
    Rejected,
    /// Drift under the `hold` policy: kept for a person to review.
    Held,
}

impl RunStatus {
    pub const ALL: [RunStatus; 7] = [
        RunStatus::Running,
        RunStatus::Committed,
        RunStatus::AlreadyIngested,
        RunStatus::Empty,
        RunStatus::Failed,
        RunStatus::Rejected,
        RunStatus::Held,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Committed => "committed",
            RunStatus::AlreadyIngested => "already_ingested",
            RunStatus::Empty => "empty",
            RunStatus::Failed => "failed",
            RunStatus::Rejected => "rejected",
            RunStatus::Held => "held",
        }
    }

    /// Whether the run did its job: the delivery is (or already was) in
    /// the lake, or there was nothing to take.
    pub fn succeeded(self) -> bool {
        matches!(
            self,
            RunStatus::Committed | RunStatus::AlreadyIngested | RunStatus::Empty
        )
    }
}

/// Why a run failed, for operators: where to look first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// The source could not be reached or refused the request.
    SourceUnreachable,
    /// The delivery broke its contract (or could not be read as one).
    ContractViolation,
    /// The object store failed.
    Storage,
    /// Anything else, including a run stopped at shutdown.
    Internal,
    /// The process running it died; the next command closed it.
    Abandoned,
    /// Another writer changed the dataset first (compaction gives way).
    ConcurrentChange,
    /// The key provider (key file, HSM token) refused or could not answer.
    Keys,
}

impl FailureClass {
    pub const ALL: [FailureClass; 7] = [
        FailureClass::SourceUnreachable,
        FailureClass::ContractViolation,
        FailureClass::Storage,
        FailureClass::Internal,
        FailureClass::Abandoned,
        FailureClass::ConcurrentChange,
        FailureClass::Keys,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::SourceUnreachable => "source_unreachable",
            FailureClass::ContractViolation => "contract_violation",
            FailureClass::Storage => "storage",
            FailureClass::Internal => "internal",
            FailureClass::Abandoned => "abandoned",
            FailureClass::ConcurrentChange => "concurrent_change",
            FailureClass::Keys => "keys",
        }
    }
}

/// A word the catalog holds that names no status or class.
#[derive(Debug, thiserror::Error)]
#[error("unknown run {kind} {word:?}")]
pub struct UnknownRunWord {
    pub kind: &'static str,
    pub word: String,
}

impl FromStr for RunStatus {
    type Err = UnknownRunWord;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RunStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownRunWord {
                kind: "status",
                word: s.to_owned(),
            })
    }
}

impl FromStr for FailureClass {
    type Err = UnknownRunWord;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FailureClass::ALL
            .into_iter()
            .find(|class| class.as_str() == s)
            .ok_or_else(|| UnknownRunWord {
                kind: "error class",
                word: s.to_owned(),
            })
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl fmt::Display for FailureClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_reads_back_as_itself() {
        for status in RunStatus::ALL {
            assert_eq!(status.as_str().parse::<RunStatus>().unwrap(), status);
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{status}\""));
        }
        for class in FailureClass::ALL {
            assert_eq!(class.as_str().parse::<FailureClass>().unwrap(), class);
            let json = serde_json::to_string(&class).unwrap();
            assert_eq!(json, format!("\"{class}\""));
        }
        assert!("commited".parse::<RunStatus>().is_err());
        assert!("".parse::<FailureClass>().is_err());
    }

    #[test]
    fn only_landed_or_empty_runs_succeed() {
        let succeeded: Vec<_> = RunStatus::ALL
            .into_iter()
            .filter(|s| s.succeeded())
            .collect();
        assert_eq!(
            succeeded,
            [
                RunStatus::Committed,
                RunStatus::AlreadyIngested,
                RunStatus::Empty
            ]
        );
    }
}
