//! Source configuration: a closed, `type`-tagged set of connectors.
//!
//! ```toml
//! [source]
//! type = "file"          # or "postgres", "mysql", "http_api"
//! path = "/srv/entregas/obitos/*.csv"
//! ```

use crate::{Delivery, ExtractContext, SourceError, database, file, http_api};
use serde::Deserialize;

/// Read once per source file, so the size of its largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SourceConfig {
    File(file::FileSourceConfig),
    Postgres(database::DatabaseConfig),
    Mysql(database::DatabaseConfig),
    HttpApi(http_api::HttpApiConfig),
}

impl SourceConfig {
    /// The columns that identify a row at the source, when the source says
    /// (a database source's `incremental.primary_key`).
    pub fn primary_key(&self) -> Vec<String> {
        match self {
            SourceConfig::Postgres(c) | SourceConfig::Mysql(c) => c
                .incremental
                .as_ref()
                .map(|i| i.primary_key.clone())
                .unwrap_or_default(),
            SourceConfig::File(_) | SourceConfig::HttpApi(_) => Vec::new(),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            SourceConfig::File(_) => "file",
            SourceConfig::Postgres(_) => "postgres",
            SourceConfig::Mysql(_) => "mysql",
            SourceConfig::HttpApi(_) => "http_api",
        }
    }

    /// Every problem of the configuration (empty when it can run).
    pub fn problems(&self) -> Vec<String> {
        match self {
            SourceConfig::File(c) => c.problems(),
            SourceConfig::Postgres(c) => c.problems(database::Engine::Postgres),
            SourceConfig::Mysql(c) => c.problems(database::Engine::Mysql),
            SourceConfig::HttpApi(c) => c.problems(),
        }
    }

    /// Does the real thing on a small scale: opens the file, connects and
    /// runs the query with no rows, calls the API's first page.
    pub async fn healthcheck(&self) -> Result<(), SourceError> {
        validate_all(self)?;
        match self {
            SourceConfig::File(c) => c.healthcheck().await,
            SourceConfig::Postgres(c) => c.healthcheck(database::Engine::Postgres).await,
            SourceConfig::Mysql(c) => c.healthcheck(database::Engine::Mysql).await,
            SourceConfig::HttpApi(c) => c.healthcheck().await,
        }
    }

    /// The deliveries waiting: the files a path, glob or folder holds, or
    /// one extraction of a database or API.
    pub async fn deliveries(&self, ctx: &ExtractContext) -> Result<Vec<Delivery>, SourceError> {
        validate_all(self)?;
        match self {
            SourceConfig::File(c) => c.deliveries().await,
            SourceConfig::Postgres(c) => Ok(vec![Delivery::Rows(
                c.extract(database::Engine::Postgres, ctx).await?,
            )]),
            SourceConfig::Mysql(c) => Ok(vec![Delivery::Rows(
                c.extract(database::Engine::Mysql, ctx).await?,
            )]),
            SourceConfig::HttpApi(c) => Ok(vec![Delivery::Rows(c.extract(ctx).await?)]),
        }
    }
}

/// Fails with every problem at once.
pub fn validate_all(config: &SourceConfig) -> Result<(), SourceError> {
    let problems = config.problems();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(SourceError::Config(problems))
    }
}
