//! The lake: object store, keys and encryption, the catalog database,
//! encrypted Parquet writing, snapshots, and DataFusion tables over them.
//!
//! Layout:
//! - `config`: `lagoa.toml` and its validation;
//! - `store`: one factory for `file://`, `memory://`, `s3://`;
//! - `keys`: master keys (the `lagoa-keys` crate) and the gate of a query session;
//! - `crypto`: Parquet Modular Encryption in the key-tools format;
//! - `catalog`: snapshots, datasets, schemas, files, statistics (SQLite or PostgreSQL);
//! - `writer`: encrypted Parquet files, streamed to the store;
//! - `table`, `system`, `session`: what DataFusion sees;
//! - `raw`: the raw zone, original deliveries encrypted in chunks;
//! - `deep_check`: every object read in full, hashed and authenticated;
//! - `deletion`, `upsert`, `compact`: the current state of a table (deletion vectors);
//! - `vacuum`: removing what no snapshot, delivery or quarantine needs;
//! - `run_holder`, `fault`: which process holds a run, and fault points for crash tests;
//! - `lake`: [`Lake`], which ties them together.
//!
//! Data flows one way: batches -> `writer` -> files on the store ->
//! `catalog::Catalog::commit` -> visible to `session`.

pub mod audit_anchor;
pub mod catalog;
pub mod compact;
pub mod config;
pub mod crypto;
pub mod deep_check;
pub mod deletion;
pub mod error;
pub mod fault;
pub mod key_move;
pub mod keys;
mod lake;
pub mod pseudonym;
pub mod raw;
pub mod remote;
pub mod run_holder;
pub mod session;
pub mod sorting;
pub mod store;
pub mod system;
pub mod table;
mod upload;
pub mod upsert;
pub mod vacuum;
pub mod writer;

pub use catalog::AsOf;
pub use error::{LakeError, Result};
pub use keys::LOCAL_KEYSTORE_WARNING;
pub use lake::{CheckReport, InitOptions, Lake};
