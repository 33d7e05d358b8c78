/// Whether retrying the same operation may succeed. Every crate's error type
/// implements [`Retryable`] so that callers (the ingest retry loop, the
/// daemon) decide without string matching.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// A conflict with a concurrent writer, a timeout, a dropped connection.
    Transient,
    /// Bad input, missing keys, corrupt files: retrying changes nothing.
    Permanent,
}

pub trait Retryable {
    fn class(&self) -> ErrorClass;

    fn is_retryable(&self) -> bool {
        self.class() == ErrorClass::Transient
    }
}
