use lagoa_core::{ErrorClass, Retryable};

/// Errors of the lake: storage, keys, catalog and reading.
///
/// Messages name the dataset, file or setting involved and never include key
/// material or data values.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("configuration: {0}")]
    Config(String),

    #[error(
        "no lake at {path}: run `lagoa init {path}` first, or point --lake / LAGOA_LAKE at an existing lake"
    )]
    NoLake { path: String },

    #[error("object store ({path}): {source}")]
    Store {
        path: String,
        #[source]
        source: object_store::Error,
    },

    #[error("catalog database: {context}: {source}")]
    Catalog {
        context: String,
        #[source]
        source: sqlx::Error,
    },

    #[error(
        "commit conflict on dataset {dataset}: another writer committed at the same time; the commit was retried {attempts} times and can be retried again"
    )]
    CommitConflict { dataset: String, attempts: u32 },

    #[error(
        "dataset {dataset} changed while this write was prepared (another upsert or compaction committed first); nothing was written, and the write can be prepared again"
    )]
    ConcurrentChange { dataset: String },

    #[error("dataset {0} does not exist (see `lagoa datasets`)")]
    UnknownDataset(String),

    #[error("snapshot {0} does not exist (see `lagoa snapshots <dataset>`)")]
    UnknownSnapshot(String),

    #[error(
        "dataset {dataset} was crypto-shredded at {at}: its keys were destroyed and none of its files can be decrypted"
    )]
    Shredded { dataset: String, at: String },

    #[error("keys: {0}")]
    Keys(String),

    /// The key provider could not be reached or could not answer now; a
    /// run failing on it is retried like a storage outage.
    #[error("key provider: {0}")]
    KeysUnavailable(String),

    #[error("encryption of {path}: {message}")]
    Encryption { path: String, message: String },

    #[error("schema of dataset {dataset}: {message}")]
    Schema { dataset: String, message: String },

    #[error("writing {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: parquet::errors::ParquetError,
    },

    #[error("{0}")]
    Invalid(String),

    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),

    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = LakeError> = std::result::Result<T, E>;

impl From<lagoa_keys::KeyError> for LakeError {
    fn from(error: lagoa_keys::KeyError) -> Self {
        match error {
            lagoa_keys::KeyError::Refused(message) => LakeError::Keys(message),
            lagoa_keys::KeyError::Tampered(message) => LakeError::Keys(message),
            lagoa_keys::KeyError::Shredded { dataset, at } => LakeError::Shredded { dataset, at },
            lagoa_keys::KeyError::Io { context, source } => LakeError::Io { context, source },
            unavailable @ lagoa_keys::KeyError::Unavailable { .. } => {
                LakeError::KeysUnavailable(unavailable.to_string())
            }
        }
    }
}

impl LakeError {
    /// A catalog error with what was being done.
    pub fn catalog(context: impl Into<String>) -> impl FnOnce(sqlx::Error) -> LakeError {
        let context = context.into();
        move |source| LakeError::Catalog { context, source }
    }

    pub(crate) fn store(path: impl ToString) -> impl FnOnce(object_store::Error) -> LakeError {
        let path = path.to_string();
        move |source| LakeError::Store { path, source }
    }

    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> LakeError {
        let context = context.into();
        move |source| LakeError::Io { context, source }
    }
}

impl LakeError {
    /// The object-store error behind this one, if any: directly, or
    /// carried through an upload's `io::Error` or the Parquet writer.
    pub fn store_error(&self) -> Option<&object_store::Error> {
        let mut next: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(e) = next {
            if let Some(store) = e.downcast_ref::<object_store::Error>() {
                return Some(store);
            }
            // `io::Error::source` skips the error it wraps: look inside.
            if let Some(inner) = e
                .downcast_ref::<std::io::Error>()
                .and_then(std::io::Error::get_ref)
                .and_then(|inner| inner.downcast_ref::<object_store::Error>())
            {
                return Some(inner);
            }
            next = e.source();
        }
        None
    }
}

fn store_class(source: &object_store::Error) -> ErrorClass {
    match source {
        object_store::Error::NotFound { .. }
        | object_store::Error::InvalidPath { .. }
        | object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. }
        | object_store::Error::NotSupported { .. } => ErrorClass::Permanent,
        _ => ErrorClass::Transient,
    }
}

impl Retryable for LakeError {
    fn class(&self) -> ErrorClass {
        match self {
            LakeError::CommitConflict { .. }
            | LakeError::ConcurrentChange { .. }
            | LakeError::KeysUnavailable(_) => ErrorClass::Transient,
            LakeError::Store { source, .. } => store_class(source),
            // An upload failing inside a write: the store's own class.
            LakeError::Io { .. } | LakeError::Write { .. } if self.store_error().is_some() => self
                .store_error()
                .map_or(ErrorClass::Permanent, store_class),
            LakeError::Catalog {
                source:
                    sqlx::Error::Io(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::WorkerCrashed,
                ..
            } => ErrorClass::Transient,
            _ => ErrorClass::Permanent,
        }
    }
}

#[cfg(test)]
mod store_error_tests {
    use super::*;

    #[test]
    fn a_store_failure_inside_an_upload_keeps_its_class() {
        let failed = object_store::Error::Generic {
            store: "S3",
            source: "connection reset".into(),
        };
        let upload = LakeError::Io {
            context: "uploading x".into(),
            source: std::io::Error::from(failed),
        };
        assert!(upload.store_error().is_some());
        assert!(upload.is_retryable());
        let denied = LakeError::Io {
            context: "uploading x".into(),
            source: std::io::Error::from(object_store::Error::PermissionDenied {
                path: "x".into(),
                source: "no".into(),
            }),
        };
        assert!(!denied.is_retryable());
        let disk = LakeError::Io {
            context: "reading".into(),
            source: std::io::Error::other("disk"),
        };
        assert!(disk.store_error().is_none() && !disk.is_retryable());
    }
}
