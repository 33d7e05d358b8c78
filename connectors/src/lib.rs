//! Sources of municipal deliveries.
//!
//! A source yields Arrow record batches in bounded memory, whatever the input
//! size. Text formats (CSV, JSON, spreadsheets, DBF) yield their values as
//! delivered, in `Utf8` columns named as in the input; the contract check
//! (`lagoa-ingest`) turns them into typed columns. Typed inputs (Parquet,
//! databases) yield typed columns.
//!
//! A connector knows no catalog: what it needs from earlier runs (the
//! incremental watermark) comes in through [`ExtractContext`], and what the
//! next run needs (the new watermark) goes out through the [`Delivery`].

pub mod config;
pub mod error;
pub mod formats;

pub use config::{SourceConfig, validate_all};
pub use error::SourceError;
pub use formats::{Batches, SourceBatch};

/// Rows per batch a source yields, unless configured otherwise.
pub const DEFAULT_BATCH_ROWS: usize = 64 * 1024;

pub mod database;
pub mod file;
pub mod flatten;
pub mod http;
pub mod http_api;
pub mod pipe;
pub mod remote;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// What the lake remembers of earlier runs of a source and hands to the
/// next one.
#[derive(Clone, Debug)]
pub struct ExtractContext {
    /// The incremental cursor's value saved with the last committed run
    /// (as text, in the form the source wrote it).
    pub watermark: Option<String>,
    pub batch_rows: usize,
}

impl Default for ExtractContext {
    fn default() -> Self {
        ExtractContext {
            watermark: None,
            batch_rows: DEFAULT_BATCH_ROWS,
        }
    }
}

/// One delivery a source has for the lake.
#[derive(Debug)]
pub enum Delivery {
    /// A file as received. The raw zone keeps its bytes; its rows come from
    /// [`formats::read_file`].
    File(Box<FileDelivery>),
    /// Rows extracted from a system (database, API). The raw zone keeps them
    /// as Arrow IPC.
    Rows(Extraction),
    /// A file fetched from an HTTP(S) URL or an S3 bucket. The lake streams
    /// it into the raw zone, then reads it back from there.
    Remote(Box<remote::RemoteFile>),
}

impl Delivery {
    /// The delivery's name as messages and the catalog show it.
    pub fn name(&self) -> &str {
        match self {
            Delivery::File(f) => &f.name,
            Delivery::Rows(x) => &x.name,
            Delivery::Remote(r) => &r.name,
        }
    }
}

#[derive(Clone, Debug)]
pub struct FileDelivery {
    /// The file's name as delivered (what messages and the catalog show).
    pub name: String,
    pub path: PathBuf,
    pub format: formats::Format,
    pub options: formats::FormatOptions,
    /// Why the file cannot be read at all (unknown format, a zip bomb),
    /// found while listing. The delivery still goes through a run, so its
    /// bytes are kept and the refusal is on record.
    pub refused: Option<String>,
}

impl FileDelivery {
    pub fn batches(&self, batch_rows: usize) -> Result<Batches, SourceError> {
        if let Some(reason) = &self.refused {
            return Err(SourceError::input(&self.name, reason));
        }
        formats::read_file(
            &self.path,
            &self.name,
            self.format,
            &self.options,
            batch_rows,
        )
    }
}

/// Rows streaming out of a database or an API.
pub struct Extraction {
    /// What was read, for messages and the catalog (no credentials).
    pub name: String,
    pub batches: Batches,
    /// Once `batches` is exhausted: the watermark to save with the commit
    /// (incremental sources), or `None`.
    pub next_watermark: Arc<Mutex<Option<String>>>,
}

/// The name only: the batches are the rows themselves.
impl std::fmt::Debug for Extraction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extraction")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}
