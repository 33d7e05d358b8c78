//! Governance and the query service. For now: the SQL guard that every
//! analyst statement passes before DataFusion sees it.

pub mod guard;

pub use guard::{CheckedSql, Denial, GuardLimits, StatementKind, check};
