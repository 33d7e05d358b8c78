//! PostgreSQL and MySQL/MariaDB. PLACEHOLDER: being written; the signatures are the contract.

use crate::{ExtractContext, Extraction, SourceError};
use serde::Deserialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Postgres,
    Mysql,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    pub url: String,
}

impl DatabaseConfig {
    pub fn problems(&self, _engine: Engine) -> Vec<String> {
        Vec::new()
    }

    pub async fn healthcheck(&self, _engine: Engine) -> Result<(), SourceError> {
        Err(SourceError::Internal("database sources are not available yet".into()))
    }

    pub async fn extract(
        &self,
        _engine: Engine,
        _ctx: &ExtractContext,
    ) -> Result<Extraction, SourceError> {
        Err(SourceError::Internal("database sources are not available yet".into()))
    }
}
