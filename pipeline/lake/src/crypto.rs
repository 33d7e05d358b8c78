//! Parquet Modular Encryption for the lake, in the Parquet
//! key-management-tools format (envelope encryption, double wrapping,
//! internal key material), so PyArrow and parquet-java read our files with
//! the same master keys.
//!
//! - every file gets fresh data keys: one per column, the footer's and the
//!   ordinary columns' wrapped under the dataset's `data` master key, the
//!   each personal-data column's under a key of its own derived from the
//!   dataset's `pessoal` master key (see `keys`);
//! - the file's identity (`lagoa:v1:<object path>`) is its AAD prefix. It
//!   is stored in the file for other readers, and Lagoa supplies the prefix
//!   the catalog expects, so a file swapped or replayed onto another path
//!   fails authentication instead of being read;
//! - reading is synchronous (Parquet's key retriever has no `.await`); the
//!   key tools cache unwrapped key-encryption keys for a bounded time, and
//!   [`LakeCrypto::forget_cached_keys`] drops them (after a shred).

use crate::error::{LakeError, Result};
use crate::keys::{KeyProvider, column_key_id};
use datafusion::common::config::EncryptionFactoryOptions;
use datafusion::execution::parquet_encryption::EncryptionFactory;
use lagoa_core::DatasetName;
use object_store::path::Path as ObjectPath;
use parquet::encryption::decrypt::{FileDecryptionProperties, KeyRetriever};
use parquet::encryption::encrypt::FileEncryptionProperties;
use parquet::errors::ParquetError;
use parquet_key_management::crypto_factory::{
    CryptoFactory, DecryptionConfiguration, EncryptionConfigurationBuilder,
};
use parquet_key_management::key_unwrapper::KeyUnwrapper;
use parquet_key_management::kms::{
    KmsClient, KmsClientRef, KmsConnectionConfig, KmsConnectionInfo,
};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// How long unwrapped key-encryption keys stay in memory.
const KEY_CACHE_LIFETIME: Duration = Duration::from_secs(600);

pub fn aad_prefix(path: &ObjectPath) -> Vec<u8> {
    format!("lagoa:v1:{path}").into_bytes()
}

/// Lets the key tools call our [`KeyProvider`] as their KMS.
struct KmsBridge(Arc<dyn KeyProvider>);

impl KmsClient for KmsBridge {
    fn wrap_key(
        &self,
        key_bytes: &[u8],
        master_key_identifier: &str,
    ) -> parquet_key_management::errors::Result<String> {
        self.0
            .wrap(key_bytes, master_key_identifier)
            .map_err(|e| parquet_key_management::errors::Error::External(Box::new(e)))
    }

    fn unwrap_key(
        &self,
        wrapped_key: &str,
        master_key_identifier: &str,
    ) -> parquet_key_management::errors::Result<Vec<u8>> {
        self.0
            .unwrap(wrapped_key, master_key_identifier)
            .map(|k| k.to_vec())
            .map_err(|e| parquet_key_management::errors::Error::External(Box::new(e)))
    }
}

pub struct LakeCrypto {
    keys: Arc<dyn KeyProvider>,
    factory: RwLock<Arc<CryptoFactory>>,
    kms_config: Arc<KmsConnectionConfig>,
    enabled: bool,
}

impl std::fmt::Debug for LakeCrypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LakeCrypto")
            .field("keys", &self.keys)
            .field("enabled", &self.enabled)
            .finish()
    }
}

fn new_factory(keys: &Arc<dyn KeyProvider>) -> Arc<CryptoFactory> {
    let keys = Arc::clone(keys);
    Arc::new(CryptoFactory::new(
        move |_info: &KmsConnectionInfo| -> parquet_key_management::errors::Result<KmsClientRef> {
            Ok(Arc::new(KmsBridge(Arc::clone(&keys))))
        },
    ))
}

impl LakeCrypto {
    pub fn new(keys: Arc<dyn KeyProvider>, enabled: bool) -> Self {
        let factory = RwLock::new(new_factory(&keys));
        let kms_config = Arc::new(
            KmsConnectionConfig::builder()
                .set_kms_instance_id("lagoa".into())
                .build(),
        );
        Self {
            keys,
            factory,
            kms_config,
            enabled,
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn keys(&self) -> &Arc<dyn KeyProvider> {
        &self.keys
    }

    /// Drops every cached unwrapped key; the next read asks the key provider.
    pub fn forget_cached_keys(&self) {
        *self.factory.write().expect("crypto lock") = new_factory(&self.keys);
    }

    fn factory(&self) -> Arc<CryptoFactory> {
        Arc::clone(&self.factory.read().expect("crypto lock"))
    }

    /// Encryption properties for one new file (fresh keys for every column)
    /// and the id of the `data` master key that wraps them.
    pub fn file_encryption(
        &self,
        dataset: &DatasetName,
        path: &ObjectPath,
        columns: &[String],
        personal_columns: &[String],
    ) -> Result<Option<(Arc<FileEncryptionProperties>, String)>> {
        if !self.enabled {
            return Ok(None);
        }
        let err = |message: String| LakeError::Encryption {
            path: path.to_string(),
            message,
        };
        let ids = self.keys.current_keys(dataset)?;
        let (personal, ordinary): (Vec<String>, Vec<String>) = columns
            .iter()
            .cloned()
            .partition(|c| personal_columns.contains(c));
        let mut config =
            EncryptionConfigurationBuilder::new(ids.data.clone()).set_double_wrapping(true);
        if !ordinary.is_empty() {
            config = config.add_column_key(ids.data.clone(), ordinary);
        }
        for column in personal {
            // Each personal column under its own key, so a session can be
            // given one personal column and not the others.
            config = config.add_column_key(column_key_id(&ids.personal, &column), vec![column]);
        }
        let config = config.build().map_err(|e| err(e.to_string()))?;
        let keys = self
            .factory()
            .file_encryption_keys(Arc::clone(&self.kms_config), &config)
            .map_err(|e| match e {
                // The key provider's own failure keeps its class (an
                // unreachable token or KMS is retried like storage).
                parquet_key_management::errors::Error::External(inner) => {
                    match inner.downcast::<lagoa_keys::KeyError>() {
                        Ok(key_error) => LakeError::from(*key_error),
                        Err(other) => err(other.to_string()),
                    }
                }
                other => err(other.to_string()),
            })?;
        let footer = keys.footer_key();
        let mut builder = FileEncryptionProperties::builder(footer.key().to_vec())
            .with_footer_key_metadata(footer.metadata().to_vec())
            .with_aad_prefix(aad_prefix(path))
            .with_aad_prefix_storage(true);
        for (column, key) in keys.column_keys() {
            builder = builder.with_column_key_and_metadata(
                column,
                key.key().to_vec(),
                key.metadata().to_vec(),
            );
        }
        let properties = builder.build().map_err(|e| err(e.to_string()))?;
        Ok(Some((properties, ids.data)))
    }

    /// Decryption properties for a file the catalog names at `path`.
    pub fn file_decryption(
        &self,
        path: &ObjectPath,
    ) -> Result<Option<Arc<FileDecryptionProperties>>> {
        if !self.enabled {
            return Ok(None);
        }
        let err = |message: String| LakeError::Encryption {
            path: path.to_string(),
            message,
        };
        let unwrapper = self
            .factory()
            .key_unwrapper(
                Arc::clone(&self.kms_config),
                DecryptionConfiguration::builder()
                    .set_cache_lifetime(Some(KEY_CACHE_LIFETIME))
                    .build(),
            )
            .map_err(|e| err(e.to_string()))?;
        FileDecryptionProperties::with_key_retriever(Arc::new(Retriever {
            unwrapper,
            path: path.to_string(),
        }))
        .with_aad_prefix(aad_prefix(path))
        .build()
        .map(Some)
        .map_err(|e| err(e.to_string()))
    }
}

struct Retriever {
    unwrapper: KeyUnwrapper,
    path: String,
}

impl KeyRetriever for Retriever {
    fn retrieve_key(&self, key_metadata: &[u8]) -> parquet::errors::Result<Vec<u8>> {
        self.unwrapper.unwrap_key(key_metadata).map_err(|e| {
            // A key the provider will not or cannot give is said so, in
            // words a reader's caller finds (`PROVIDER_CANNOT_GIVE`); only a
            // wrapped key that fails authentication is the file's fault.
            let provider_refusal = match &e {
                parquet_key_management::errors::Error::External(inner) => inner
                    .downcast_ref::<lagoa_keys::KeyError>()
                    .is_some_and(|k| !matches!(k, lagoa_keys::KeyError::Tampered(_))),
                _ => false,
            };
            if provider_refusal {
                ParquetError::General(format!(
                    "{} of {} ({e})",
                    lagoa_keys::PROVIDER_CANNOT_GIVE,
                    self.path
                ))
            } else {
                ParquetError::General(format!("cannot unwrap a data key of {}: {e}", self.path))
            }
        })
    }
}

/// Hands DataFusion's Parquet reader the decryption properties of each file.
/// Lagoa writes through its own writer, never through DataFusion's `COPY`.
#[derive(Debug)]
pub struct LakeEncryptionFactory(pub Arc<LakeCrypto>);

#[async_trait::async_trait]
impl EncryptionFactory for LakeEncryptionFactory {
    async fn get_file_encryption_properties(
        &self,
        _config: &EncryptionFactoryOptions,
        _schema: &arrow::datatypes::SchemaRef,
        file_path: &ObjectPath,
    ) -> datafusion::error::Result<Option<Arc<FileEncryptionProperties>>> {
        Err(datafusion::error::DataFusionError::Plan(format!(
            "writing {file_path} through SQL is not allowed: data enters the lake through `lagoa ingest`"
        )))
    }

    async fn get_file_decryption_properties(
        &self,
        _config: &EncryptionFactoryOptions,
        file_path: &ObjectPath,
    ) -> datafusion::error::Result<Option<Arc<FileDecryptionProperties>>> {
        self.0
            .file_decryption(file_path)
            .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))
    }
}
