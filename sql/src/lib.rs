//! Governance and the query service: the SQL guard every analyst statement
//! passes before DataFusion sees it, the policy that decides which tables
//! and columns a principal sees and how, the governed session and query
//! path (limits, audit), the stewards' decisions, consumption reports and
//! open-data publication, and the policy indicators computed from the lake.

pub mod bounded;
pub mod engine;
pub mod guard;
pub mod indicators;
pub mod metrics;
pub mod opendata;
mod pg_arrays;
pub mod pg_functions;
pub mod pg_names;
mod pg_oids;
mod pg_rewrite;
pub mod pg_settings;
mod pg_tables;
pub mod query;
mod query_error;
mod record;
pub mod redact;
pub mod remote;
pub mod report;
pub mod session;
pub mod streamed;
pub mod suggest;
#[cfg(test)]
mod test_support;

pub use engine::{EngineLimits, QueryEngine};
pub use guard::{CheckedSql, Denial, GuardLimits, StatementKind, check};
pub use query::{Answer, Description, QueryError, QueryLimits, QueryRequest, QueryService, reader};
pub use session::GovernedSession;
