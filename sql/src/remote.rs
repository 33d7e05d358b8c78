//! A governed query run elsewhere (a Ballista cluster): the same guard,
//! session, policy and audit; only the execution of the planned statement
//! moves, with what the reader's session allows.

use datafusion::dataframe::DataFrame;
use datafusion::error::Result;
use datafusion::physical_plan::SendableRecordBatchStream;
use std::collections::BTreeSet;

/// What a reader's session allows its queries to read: the engine running
/// them elsewhere passes it on, authenticated, to where files are read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Allowed {
    /// The datasets the session holds.
    pub datasets: BTreeSet<String>,
    /// `(dataset, column)`: the personal columns it decrypts.
    pub released: BTreeSet<(String, String)>,
    /// Whether it serves a column pseudonymised.
    pub pseudonyms: bool,
}

/// An engine that runs a planned governed statement somewhere else.
#[async_trait::async_trait]
pub trait RemoteEngine: Send + Sync + std::fmt::Debug {
    /// Starts `df` (planned and optimized in the reader's session).
    async fn execute(&self, df: DataFrame, allowed: &Allowed) -> Result<SendableRecordBatchStream>;
}
