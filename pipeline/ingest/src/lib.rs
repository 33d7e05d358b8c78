//! One delivery: read a CSV file, type it by its contract (or by inference
//! plus flags), write encrypted files, commit them as one snapshot.
//!
//! The full connector and contract work (encodings, quarantine, raw zone,
//! drift) builds on this path; it exists to exercise the lake end to end.

mod csv_ingest;

pub use csv_ingest::{CsvIngest, IngestError, IngestReport, Progress, ingest_csv};
