//! Governance and the query service: the SQL guard every analyst statement
//! passes before DataFusion sees it, the policy that decides which tables
//! and columns a principal sees and how, the governed session and query
//! path (limits, audit), the stewards' decisions, consumption reports and
//! open-data publication, and the policy indicators computed from the lake.

pub mod guard;
pub mod indicators;
pub mod opendata;
pub mod policy;
pub mod query;
pub mod report;
pub mod session;
pub mod stewardship;

pub use guard::{CheckedSql, Denial, GuardLimits, StatementKind, check};
pub use policy::{ColumnAccess, DatasetMeta, Reader, TableAccess, table_access};
pub use query::{Answer, Description, QueryError, QueryLimits, describe, reader, run, run_bound};
pub use session::GovernedSession;
