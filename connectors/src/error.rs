use lagoa_core::{ErrorClass, Retryable};

/// Why a source could not deliver.
///
/// Messages name the file, line, record or column, never a value: a value
/// may be personal data, and errors end up in logs and run records.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The configuration is wrong; every problem is listed.
    #[error("source configuration has problems:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Config(Vec<String>),
    /// The delivered bytes are malformed. `location` names the file and,
    /// where known, the line, record or column.
    #[error("{location}: {message}")]
    Input { location: String, message: String },
    /// The system holding the data could not be reached or answered with an
    /// error that may pass (network, timeout, 5xx, 429).
    #[error("{source_name} is unreachable: {message}")]
    Unreachable {
        source_name: String,
        message: String,
    },
    /// The system answered but refused (authentication, permissions, a
    /// missing table).
    #[error("{source_name}: {message}")]
    Refused {
        source_name: String,
        message: String,
    },
    #[error("{0}")]
    Internal(String),
}

impl SourceError {
    pub fn input(location: impl Into<String>, message: impl Into<String>) -> Self {
        SourceError::Input {
            location: location.into(),
            message: message.into(),
        }
    }
}

impl Retryable for SourceError {
    fn class(&self) -> ErrorClass {
        match self {
            SourceError::Unreachable { .. } => ErrorClass::Transient,
            SourceError::Config(_) | SourceError::Refused { .. } => ErrorClass::Permanent,
            SourceError::Input { .. } => ErrorClass::Permanent,
            SourceError::Internal(_) => ErrorClass::Permanent,
        }
    }
}
