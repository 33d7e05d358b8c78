//! What can go wrong with keys. Messages name the key, the file or the
//! provider involved, never key material.

/// Errors of the key providers.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A key that cannot be had or used, for good: unknown, disabled,
    /// corrupt in its store, or refused to this caller.
    #[error("{0}")]
    Refused(String),

    /// A wrapped key that fails authentication under the master key it
    /// names: what holds it (a file's key material, a raw copy's header)
    /// was altered or swapped. Damage, not a key problem.
    #[error("{0}")]
    Tampered(String),

    #[error(
        "dataset {dataset} was crypto-shredded at {at}: its keys were destroyed and none of its files can be decrypted"
    )]
    Shredded { dataset: String, at: String },

    /// The provider could not be reached or could not do it now (device
    /// error, lost session, network): worth trying again later.
    #[error("{provider} is unavailable: {message}")]
    Unavailable { provider: String, message: String },

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = KeyError> = std::result::Result<T, E>;

/// How a reader's error says that the key provider, not the file, is why a
/// file cannot be read (a missing, disabled, shredded or unreachable key);
/// the words survive the Parquet reader's error wrapping.
pub const PROVIDER_CANNOT_GIVE: &str = "the key provider cannot give its key";

impl KeyError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> KeyError {
        let context = context.into();
        move |source| KeyError::Io { context, source }
    }
}
