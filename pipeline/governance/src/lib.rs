//! Governance: who may see what, and who decided it.
//!
//! - [`signin`]: one `authenticate` for every door (console, HTTP API,
//!   PostgreSQL port), with refusals counted, audited once per window and
//!   throttled.
//! - [`categorisation`]: the rules a dataset's categorisation must keep
//!   (personal columns treated before a level below `especial`, one
//!   treatment per column, generalisations that fit the column's type).
//! - [`stewardship`]: requests, decisions and grants, decided by the
//!   stewards of the delivering institution within [`DECISION_DAYS`].
//! - [`policy`]: what a reader sees of each dataset, column by column.
//! - [`treatments`]: pseudonyms and generalisations that would not protect.
//!
//! The query path (`lagoa-sql`) applies the policy; the doors call
//! sign-in; the CLI and the API call stewardship. The catalog tables these
//! decisions are recorded in live in the lake's catalog database.

pub mod categorisation;
pub mod policy;
pub mod signin;
pub mod stewardship;
pub mod treatments;

pub use categorisation::DECISION_DAYS;
pub use policy::{ColumnAccess, DatasetMeta, Reader, TableAccess, table_access};
pub use signin::{Door, SignInError, SignInLimits, SignIns};
