//! Governed queries on an Apache DataFusion Ballista cluster.
//!
//! - [`scheduler`] and [`executor`]: Ballista's processes, embedded in the
//!   `lagoa` binary (`lagoa cluster scheduler|executor`), with Lagoa's
//!   [`codec`]s and, on executors, the lake's keys and object store;
//! - [`engine`]: the query service's side; the guard, the reader's session,
//!   the policy and the audit stay in the query service, only the
//!   execution of the planned statement moves;
//! - [`ticket`]: what lets an executor release a personal column's key;
//! - [`tls`]: mutual TLS among the cluster's members;
//! - [`workdir`]: shuffle files never reach a disk.

pub mod codec;
pub mod engine;
pub mod executor;
pub mod listen;
mod refused;
pub mod scheduler;
pub mod ticket;
pub mod tls;
pub mod workdir;

pub use engine::ClusterEngine;

/// The lake secret release tickets are signed with.
pub const TICKET_SECRET: &str = "cluster_ticket";

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(transparent)]
    Lake(#[from] lagoa_lake::LakeError),
    #[error(transparent)]
    WorkDir(#[from] crate::workdir::WorkDirError),
    #[error("the cluster: {0}")]
    Ballista(String),
    #[error("the cluster's TLS: {0}")]
    Tls(String),
}
