//! One factory for every storage URL (`file://`, `memory://`, `s3://`).
//! All paths handed around are relative to the lake's storage root, so the
//! same catalog works wherever the bytes live.

use crate::config::StorageConfig;
use crate::error::{LakeError, Result};
use datafusion::execution::object_store::ObjectStoreUrl;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt};
use std::path::Path;
use std::sync::Arc;

/// The URL under which the lake's store is registered with DataFusion.
pub const STORE_URL: &str = "lagoa://store/";

#[derive(Clone, Debug)]
pub struct LakeStore {
    pub store: Arc<dyn ObjectStore>,
    /// Human-readable description of where the bytes are (no credentials).
    pub location: String,
    /// The directory of a `file://` store, where vacuum finds the partial
    /// uploads the store hides from listing.
    pub local_root: Option<std::path::PathBuf>,
}

impl LakeStore {
    pub fn open(config: &StorageConfig, lake_dir: &Path) -> Result<Self> {
        let url = config.url.as_str();
        let mut local_root = None;
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| LakeError::Config(format!("storage.url {url:?} has no scheme")))?;
        let store: Arc<dyn ObjectStore> = match scheme {
            "file" => {
                let dir = if rest.starts_with('/') {
                    Path::new(rest).to_path_buf()
                } else {
                    lake_dir.join(rest)
                };
                std::fs::create_dir_all(&dir)
                    .map_err(LakeError::io(format!("creating {}", dir.display())))?;
                let fs = LocalFileSystem::new_with_prefix(&dir)
                    .map_err(LakeError::store(dir.display()))?
                    .with_automatic_cleanup(true);
                local_root = Some(dir);
                Arc::new(fs)
            }
            "memory" => Arc::new(InMemory::new()),
            "s3" => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
                if let Some(endpoint) = &config.endpoint {
                    builder = builder.with_endpoint(endpoint);
                }
                if let Some(region) = &config.region {
                    builder = builder.with_region(region);
                }
                // One ClientOptions for everything client-side: setting it
                // replaces what `with_allow_http` would have set.
                builder = builder
                    .with_client_options(
                        object_store::ClientOptions::new()
                            .with_allow_http(config.allow_http)
                            .with_timeout(std::time::Duration::from_secs(
                                config.timeout_seconds.max(1),
                            )),
                    )
                    .with_retry(object_store::RetryConfig {
                        max_retries: config.max_retries,
                        retry_timeout: std::time::Duration::from_secs(config.retry_timeout_seconds),
                        ..Default::default()
                    });
                // HTTP connections live on the runtime that opens the lake:
                // a governed query runs on threads that end with it, and a
                // pooled connection made there would die with them.
                if let Ok(io) = tokio::runtime::Handle::try_current() {
                    builder = builder.with_http_connector(
                        object_store::client::SpawnedReqwestConnector::new(io),
                    );
                }
                let s3 = builder.build().map_err(LakeError::store(url))?;
                let prefix = prefix.trim_matches('/');
                if prefix.is_empty() {
                    Arc::new(s3)
                } else {
                    Arc::new(PrefixStore::new(s3, prefix))
                }
            }
            other => {
                return Err(LakeError::Config(format!(
                    "storage.url scheme {other:?} is not supported"
                )));
            }
        };
        Ok(Self {
            store,
            location: redact_url(url),
            local_root,
        })
    }

    pub fn datafusion_url() -> ObjectStoreUrl {
        ObjectStoreUrl::parse(STORE_URL).expect("constant URL is valid")
    }

    /// Healthcheck that does the real thing: write, read back and delete a
    /// small object.
    pub async fn check(&self) -> Result<()> {
        let path = ObjectPath::from(format!("_lagoa/healthcheck/{}", uuid::Uuid::now_v7()));
        self.store
            .put(&path, "ok".into())
            .await
            .map_err(LakeError::store(&path))?;
        let bytes = self
            .store
            .get(&path)
            .await
            .map_err(LakeError::store(&path))?
            .bytes()
            .await
            .map_err(LakeError::store(&path))?;
        self.store
            .delete(&path)
            .await
            .map_err(LakeError::store(&path))?;
        if bytes.as_ref() != b"ok" {
            return Err(LakeError::Invalid(format!(
                "object store at {} returned different bytes than written",
                self.location
            )));
        }
        Ok(())
    }
}

fn redact_url(url: &str) -> String {
    // Credentials never belong in a storage URL, but never echo them if present.
    match url.split_once('@') {
        Some((before, after)) if before.contains("://") => {
            let scheme = before.split("://").next().unwrap_or("");
            format!("{scheme}://<redacted>@{after}")
        }
        _ => url.to_owned(),
    }
}
