//! Why a governed query gave no answer: for the analyst (each door turns
//! it into its own status or SQLSTATE) and for the audit trail's outcome.

use crate::guard;
use crate::redact::redact;
use lagoa_lake::LakeError;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// Refused by the guard or the policy; the reason is for the analyst.
    #[error("denied: {0}")]
    Denied(String),
    /// Not a statement at all (it does not parse, or is empty): a mistake
    /// to fix, not a refusal.
    #[error("invalid: {0}")]
    Invalid(String),
    /// The engine refused or failed the statement; the message is
    /// redacted (no value from a row or the statement is in it).
    #[error("the query failed: {0}")]
    Failed(String),
    #[error("the query ran longer than {0:?} and was stopped")]
    Timeout(Duration),
    #[error("the query was stopped: {0}")]
    Cancelled(String),
    /// No place for the query now (`query.max_concurrent`, `max_per_principal`).
    #[error("{0}")]
    Busy(String),
    #[error("the result has more than {0} rows; narrow the query or add LIMIT")]
    TooManyRows(usize),
    /// The query's memory pool (`query.memory_limit`) ran out, or one
    /// value or batch would have been larger than its share.
    #[error(
        "the query needs more memory than query.memory_limit ({0}); narrow it or aggregate first"
    )]
    OutOfMemory(String),
    /// A panic inside the query: it ends this query only.
    #[error("an internal error stopped the query ({0}); it was recorded and the service goes on")]
    Internal(String),
    #[error(transparent)]
    Lake(#[from] LakeError),
}

impl From<guard::Denial> for QueryError {
    /// A statement that does not parse is a mistake (`Invalid`); anything
    /// else the guard stops is a refusal (`Denied`).
    fn from(denial: guard::Denial) -> Self {
        match denial {
            guard::Denial::Empty | guard::Denial::Parse(_) => {
                QueryError::Invalid(denial.to_string())
            }
            other => QueryError::Denied(other.to_string()),
        }
    }
}

impl QueryError {
    /// An engine error, with its literals taken out.
    pub fn failed(e: impl std::fmt::Display) -> Self {
        QueryError::Failed(redact(&e.to_string()))
    }

    /// A panic's payload, redacted, as this query's error.
    pub fn internal(panic: Box<dyn std::any::Any + Send>) -> Self {
        let message = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("a panic");
        let message = redact(message);
        tracing::error!(panic = %message, "a query panicked; it alone was stopped");
        QueryError::Internal(message)
    }

    /// The same error once more (told to the client, and recorded).
    pub(crate) fn again(&self) -> Self {
        match self {
            QueryError::Denied(m) => QueryError::Denied(m.clone()),
            QueryError::Invalid(m) => QueryError::Invalid(m.clone()),
            QueryError::Failed(m) => QueryError::Failed(m.clone()),
            QueryError::Timeout(d) => QueryError::Timeout(*d),
            QueryError::Cancelled(m) => QueryError::Cancelled(m.clone()),
            QueryError::Busy(m) => QueryError::Busy(m.clone()),
            QueryError::TooManyRows(n) => QueryError::TooManyRows(*n),
            QueryError::OutOfMemory(m) => QueryError::OutOfMemory(m.clone()),
            QueryError::Internal(m) => QueryError::Internal(m.clone()),
            QueryError::Lake(e) => QueryError::failed(e),
        }
    }

    /// The audit trail's outcome for this error.
    pub fn outcome(&self) -> &'static str {
        match self {
            QueryError::Denied(_) => "denied",
            QueryError::Invalid(_) => "invalid",
            QueryError::Timeout(_) => "timeout",
            QueryError::Cancelled(_) => "cancelled",
            QueryError::Busy(_) => "busy",
            QueryError::Internal(_) => "internal",
            QueryError::Failed(_)
            | QueryError::TooManyRows(_)
            | QueryError::OutOfMemory(_)
            | QueryError::Lake(_) => "error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard::Denial;
    use lagoa_core::messages::{Lang, in_language};

    /// Every refusal the guard and the query service give is in the
    /// message catalog, so a Portuguese caller reads it in Portuguese: a
    /// message changed here without its entry fails this test.
    #[test]
    fn every_refusal_of_a_query_reads_in_portuguese() {
        let denials = [
            Denial::Empty,
            Denial::TooLong { len: 9, max: 8 },
            Denial::Parse("sql parser error".into()),
            Denial::Multiple(2),
            Denial::NotRead("DROP TABLE".into()),
            Denial::TableFunction("generate_series".into()),
            Denial::Path("'/etc/passwd'".into()),
            Denial::CatalogSchema("system".into()),
            Denial::Construct("a prepared statement"),
            Denial::TooDeep {
                what: "subqueries",
                max: 64,
            },
            Denial::TooManyNodes { max: 10_000 },
            Denial::TooManyRelations { max: 64 },
        ];
        let mut errors: Vec<QueryError> = denials.into_iter().map(QueryError::from).collect();
        errors.extend([
            QueryError::Timeout(Duration::from_secs(30)),
            QueryError::TooManyRows(1000),
            QueryError::OutOfMemory("512MiB".into()),
            QueryError::Internal("a panic".into()),
            QueryError::failed("Schema error: No field named x"),
        ]);
        for error in errors {
            let english = error.to_string();
            let (portuguese, found) = in_language(Lang::Pt, &english);
            assert!(found, "not in the catalog: {english}");
            assert_ne!(portuguese, english);
        }
    }
}
