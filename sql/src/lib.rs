//! Governance and the query service. So far: the SQL guard that every
//! analyst statement passes before DataFusion sees it, and the policy that
//! decides which tables and columns a principal sees, and how.

pub mod guard;
pub mod policy;
pub mod query;
pub mod report;
pub mod session;

pub use guard::{CheckedSql, Denial, GuardLimits, StatementKind, check};
pub use policy::{ColumnAccess, DatasetMeta, Reader, TableAccess, table_access};
pub use query::{Answer, QueryError, QueryLimits, run};
pub use session::GovernedSession;
