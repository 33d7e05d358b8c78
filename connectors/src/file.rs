//! File sources: a path, a glob, or a drop folder.
use crate::{Delivery, SourceError};
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    pub path: String,
}

impl FileSourceConfig {
    pub fn problems(&self) -> Vec<String> {
        Vec::new()
    }

    pub async fn healthcheck(&self) -> Result<(), SourceError> {
        Ok(())
    }

    pub fn deliveries(&self) -> Result<Vec<Delivery>, SourceError> {
        Ok(Vec::new())
    }
}
