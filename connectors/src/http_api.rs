//! JSON HTTP APIs. PLACEHOLDER: being written; the signatures are the contract.

use crate::{ExtractContext, Extraction, SourceError};
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpApiConfig {
    pub url: String,
}

impl HttpApiConfig {
    pub fn problems(&self) -> Vec<String> {
        Vec::new()
    }

    pub async fn healthcheck(&self) -> Result<(), SourceError> {
        Err(SourceError::Internal("HTTP API sources are not available yet".into()))
    }

    pub async fn extract(&self, _ctx: &ExtractContext) -> Result<Extraction, SourceError> {
        Err(SourceError::Internal("HTTP API sources are not available yet".into()))
    }
}
