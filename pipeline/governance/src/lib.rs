//! Governance: who may see what, and who decided it.
//!
//! - [`oidc`]: the state's identity provider: its access tokens checked
//!   against its published keys, people linked to principals, the
//!   console's sign-in flow.
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
//! - [`store`]: its tables (identity, categorisations, providers,
//!   requests, grants) on the catalog's database.
//!
//! The query path (`lagoa-sql`) applies the policy; the doors call
//! sign-in; the CLI and the API call stewardship.

pub mod categorisation;
pub mod oidc;
pub mod policy;
pub mod signin;
pub mod stewardship;
pub mod store;
pub mod treatments;

pub use categorisation::DECISION_DAYS;
pub use policy::{ColumnAccess, DatasetMeta, Reader, TableAccess, table_access};
pub use signin::{Door, SignInError, SignInLimits, SignIns, command_line_principal};
pub use store::{
    AccessRequest, AuthError, Categorisation, GovernanceStore, Grant, Institution, IssuedToken,
    NewCategorisation, NewRequest, Principal, SignedIn, TokenInfo, Treatments,
};
