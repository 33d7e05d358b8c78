//! Governance's tables in the catalog database: institutions, principals
//! and tokens (`identity.rs`); categorisations, providers, requests and
//! grants (`sharing.rs`). The lake's migrations create them with the rest
//! of the catalog (one migration sequence per database); only this store
//! reads and writes them.

mod identity;
mod sharing;

pub use identity::{AuthError, Institution, IssuedToken, Principal, SignedIn, TokenInfo};
pub use sharing::{
    AccessRequest, Categorisation, Grant, NewCategorisation, NewRequest, Treatments,
};

use lagoa_lake::catalog::Catalog;
use lagoa_lake::{LakeError, Result};
use sqlx::Row;
use sqlx::any::AnyRow;

/// Governance's view of the catalog database: a borrow of the catalog,
/// made where it is used.
#[derive(Clone, Copy, Debug)]
pub struct GovernanceStore<'a> {
    catalog: &'a Catalog,
}

impl<'a> GovernanceStore<'a> {
    /// The store on the database of `catalog`.
    pub fn of(catalog: &'a Catalog) -> Self {
        GovernanceStore { catalog }
    }

    fn pool(&self) -> &sqlx::AnyPool {
        self.catalog.pool()
    }
}

fn get<'r, T>(row: &'r AnyRow, column: &str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(column)
        .map_err(LakeError::catalog(format!("reading column {column}")))
}
