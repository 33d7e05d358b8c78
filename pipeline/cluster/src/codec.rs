//! How Lagoa's parts of a plan cross to the scheduler and the executors.
//!
//! Ballista encodes plans with DataFusion's protobuf codec; what it does
//! not know goes through these codecs:
//!
//! - a dataset's table ([`TableOnWire`]): its files, statistics and
//!   deletion vectors, with the query's release ticket;
//! - its scan ([`ScanOnWire`]): DataFusion encodes the Parquet scan, this
//!   adds the deletion vectors and the ticket; the executor sets its own
//!   decryption, through a [`PersonalKeyGate`] that opens exactly the
//!   columns a valid ticket names (no file at all without one);
//! - the pseudonym function: its key never travels; an executor builds it
//!   from the lake's pseudonym key when the ticket allows pseudonyms;
//! - the bounded functions and operator (`lagoa_sql::bounded::wire`).
//!
//! Everything else is Ballista's own, passed to its codecs.

use crate::refused::KeylessPseudonym;
use crate::ticket::{TicketKey, now_seconds};
use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::{DataFusionError, Result, TableReference};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Extension, LogicalPlan, ScalarUDF};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use lagoa_lake::crypto::LakeCrypto;
use lagoa_lake::keys::{KeyProvider, PersonalKeyGate};
use lagoa_lake::pseudonym::{PseudonymKey, pseudonym_udf};
use lagoa_lake::remote::{ScanOnWire, ScanReads, TableOnWire};
use lagoa_lake::table::{LakeScanExec, LakeTable};
use lagoa_sql::bounded::wire as bounded;
use object_store::ObjectStore;
use std::sync::Arc;

const PSEUDONYM: &str = "lagoa_pseudonym";
/// The first byte of a physical node's encoding: whose node it is.
const BALLISTA_NODE: u8 = 0;
const LAKE_SCAN: u8 = 1;
const BOUNDED_EXEC: u8 = 2;
/// What a pseudonym function's encoding starts with (then the ticket).
const PSEUDONYM_TAG: &[u8] = b"lagoa-pseudonym:";

/// What a node of the cluster holds to decode plans.
#[derive(Clone)]
pub enum Node {
    /// The query service: encodes the reader's plan with its ticket.
    Client { ticket: String },
    /// The scheduler: plans scans, holds no key.
    Scheduler { store: Arc<dyn ObjectStore> },
    /// An executor: decrypts what a valid ticket allows.
    Executor(Arc<ExecutorKeys>),
}

/// An executor's keys: the lake's key provider, the ticket key and the
/// pseudonym key.
pub struct ExecutorKeys {
    pub keys: Arc<dyn KeyProvider>,
    pub encrypted: bool,
    pub tickets: TicketKey,
    pub pseudonyms: Arc<PseudonymKey>,
    pub store: Arc<dyn ObjectStore>,
}

impl std::fmt::Debug for ExecutorKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecutorKeys")
            .field("keys", &self.keys)
            .field("encrypted", &self.encrypted)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Node::Client { .. } => "Node::Client",
            Node::Scheduler { .. } => "Node::Scheduler",
            Node::Executor(_) => "Node::Executor",
        })
    }
}

/// The logical codec: tables and functions of the reader's plan.
#[derive(Debug)]
pub struct LakeLogicalCodec {
    node: Node,
    ballista: BallistaLogicalExtensionCodec,
}

impl LakeLogicalCodec {
    pub fn new(node: Node) -> Self {
        LakeLogicalCodec {
            node,
            ballista: BallistaLogicalExtensionCodec::default(),
        }
    }
}

fn plan_error(message: impl Into<String>) -> DataFusionError {
    DataFusionError::Plan(message.into())
}

impl LogicalExtensionCodec for LakeLogicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> Result<Extension> {
        self.ballista.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        self.ballista.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        _schema: SchemaRef,
        _ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        let Node::Scheduler { store } = &self.node else {
            return Err(plan_error("only a scheduler plans a dataset's scan"));
        };
        let wire: TableOnWire = serde_json::from_slice(buf)
            .map_err(|e| plan_error(format!("table {table_ref} on the wire: {e}")))?;
        // The scheduler decrypts nothing: its scans are rebuilt by the
        // executors with their own keys.
        let crypto = Arc::new(LakeCrypto::new(Arc::new(NoKeys), wire.encrypted()));
        let table = wire
            .into_table(crypto, Arc::clone(store))
            .map_err(|e| plan_error(e.to_string()))?;
        Ok(Arc::new(table))
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        let Node::Client { ticket } = &self.node else {
            return Err(plan_error("only the query service sends a dataset's table"));
        };
        let any: &dyn std::any::Any = node.as_ref();
        let table = any.downcast_ref::<LakeTable>().ok_or_else(|| {
            plan_error(format!(
                "table {table_ref} cannot be read on the cluster (only the lake's datasets can)"
            ))
        })?;
        let wire = TableOnWire::of(table)
            .map_err(|e| plan_error(e.to_string()))?
            .with_release(Some(ticket.clone()));
        serde_json::to_writer(buf, &wire).map_err(|e| plan_error(e.to_string()))
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        decode_udf(&self.node, name, buf)
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        encode_udf(&self.node, node, buf)
    }
}

/// The physical codec: scans, functions and the bounded operator of a
/// stage's plan.
#[derive(Debug)]
pub struct LakePhysicalCodec {
    node: Node,
    ballista: BallistaPhysicalExtensionCodec,
}

impl LakePhysicalCodec {
    pub fn new(node: Node) -> Self {
        LakePhysicalCodec {
            node,
            ballista: BallistaPhysicalExtensionCodec::default(),
        }
    }
}

impl PhysicalExtensionCodec for LakePhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let (kind, rest) = buf
            .split_first()
            .ok_or_else(|| plan_error("an empty plan node"))?;
        match *kind {
            BALLISTA_NODE => {
                if let Node::Executor(_) = &self.node {
                    // Ballista logs a task's failure with its reason
                    // redacted whole: the reason is said here.
                    inputs
                        .iter()
                        .try_for_each(no_bare_file_scan)
                        .inspect_err(|reason| tracing::warn!(%reason, "a stage is refused"))?;
                }
                self.ballista.try_decode(rest, inputs, ctx, proto_converter)
            }
            LAKE_SCAN => {
                let inner = only_input(inputs)?;
                let wire: ScanOnWire = serde_json::from_slice(rest)
                    .map_err(|e| plan_error(format!("lake scan on the wire: {e}")))?;
                let Node::Executor(keys) = &self.node else {
                    return Err(plan_error("only an executor reads a dataset's files"));
                };
                // A refusal decodes into a scan that fails with its reason:
                // Ballista reports a task's execution error, not a decoding one.
                let reads = ScanOnWire::reads(inner, wire.dataset());
                match executor_crypto(keys, (wire.dataset(), reads), wire.release()) {
                    Ok(crypto) => Ok(Arc::new(wire.into_exec(
                        inner,
                        crypto,
                        Arc::clone(&keys.store),
                    )?)),
                    Err(reason) => {
                        tracing::warn!(dataset = wire.dataset(), %reason, "a scan is refused");
                        Ok(Arc::new(crate::refused::RefusedScan::new(inner, reason)))
                    }
                }
            }
            BOUNDED_EXEC => {
                let max_bytes: usize = serde_json::from_slice(rest)
                    .map_err(|e| plan_error(format!("bounded operator on the wire: {e}")))?;
                Ok(bounded::bounded_exec(
                    Arc::clone(only_input(inputs)?),
                    max_bytes,
                ))
            }
            other => Err(plan_error(format!("unknown plan node kind {other}"))),
        }
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        let any: &dyn std::any::Any = node.as_ref();
        if let Some(scan) = any.downcast_ref::<LakeScanExec>() {
            buf.push(LAKE_SCAN);
            return serde_json::to_writer(buf, &ScanOnWire::of(scan))
                .map_err(|e| plan_error(e.to_string()));
        }
        if let Some(max_bytes) = bounded::exec_bound(node.as_ref()) {
            buf.push(BOUNDED_EXEC);
            return serde_json::to_writer(buf, &max_bytes).map_err(|e| plan_error(e.to_string()));
        }
        buf.push(BALLISTA_NODE);
        self.ballista.try_encode(node, buf, proto_converter)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        decode_udf(&self.node, name, buf)
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        encode_udf(&self.node, node, buf)
    }
}

/// Refuses a plan that reads files other than through a dataset's scan (a
/// hand-built Parquet or CSV scan of the lake's objects), or writes any:
/// such a scan would go around the release ticket, such a sink would
/// overwrite the lake's files. Every stage an executor runs hangs under
/// one of Ballista's shuffle nodes, so their inputs are checked whole.
fn no_bare_file_scan(plan: &Arc<dyn ExecutionPlan>) -> Result<()> {
    let any: &dyn std::any::Any = plan.as_ref();
    if any.is::<LakeScanExec>() || any.is::<crate::refused::RefusedScan>() {
        return Ok(());
    }
    if ScanOnWire::is_file_scan(plan) {
        return Err(plan_error(
            "a plan that reads files other than through a dataset's scan is refused",
        ));
    }
    // Nor does a stage write anywhere: a query's plan has no sink.
    if plan.name() == "DataSinkExec" {
        return Err(plan_error("a plan that writes files is refused"));
    }
    plan.children().into_iter().try_for_each(no_bare_file_scan)
}

fn only_input(inputs: &[Arc<dyn ExecutionPlan>]) -> Result<&Arc<dyn ExecutionPlan>> {
    match inputs {
        [one] => Ok(one),
        _ => Err(plan_error(format!(
            "a plan node with {} inputs where one was expected",
            inputs.len()
        ))),
    }
}

/// What an executor decrypts a scan of `dataset` with: the personal
/// columns a valid ticket names, and never another. Without a valid ticket
/// for that dataset, or for a column the scan reads or filters on (`read`),
/// nothing: a plan submitted straight to the scheduler reads no file, and
/// a ticket seen on the network opens no column its reader could not see.
fn executor_crypto(
    keys: &ExecutorKeys,
    (dataset, reads): (&str, Option<ScanReads>),
    release: Option<&str>,
) -> std::result::Result<Arc<LakeCrypto>, String> {
    let ticket = keys
        .tickets
        .verify(release, now_seconds())
        .map_err(|e| format!("dataset {dataset} is not read on this cluster: {e}"))?;
    let Some(allowed) = ticket.datasets.get(dataset) else {
        return Err(format!(
            "dataset {dataset} is not read on this cluster: the release ticket of query {} does not name it",
            ticket.query
        ));
    };
    let reads =
        reads.ok_or_else(|| format!("the scan of dataset {dataset} arrived without its files"))?;
    if let Some(path) = reads.foreign_files.first() {
        return Err(format!(
            "the scan of dataset {dataset} names {path}, a file of another dataset"
        ));
    }
    if let Some(column) = reads.columns.iter().find(|c| !allowed.contains(*c)) {
        return Err(format!(
            "column {dataset}.{column} is not read on this cluster: the release ticket of query {} does not give it",
            ticket.query
        ));
    }
    let gate = PersonalKeyGate::new(
        Arc::clone(&keys.keys),
        ticket.released.into_iter().collect(),
    );
    Ok(Arc::new(LakeCrypto::new(Arc::new(gate), keys.encrypted)))
}

fn encode_udf(node: &Node, udf: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
    if udf.name() == PSEUDONYM {
        let ticket = match node {
            Node::Client { ticket } => ticket.as_str(),
            Node::Scheduler { .. } | Node::Executor(_) => {
                let keyless = udf.inner().downcast_ref::<KeylessPseudonym>();
                keyless.map(|p| p.ticket.as_str()).ok_or_else(|| {
                    plan_error("a pseudonym function that did not come from the query service")
                })?
            }
        };
        buf.extend_from_slice(PSEUDONYM_TAG);
        buf.extend_from_slice(ticket.as_bytes());
        return Ok(());
    }
    if let Some(bytes) = bounded::encode_udf(udf) {
        buf.extend_from_slice(&bytes);
    }
    Ok(())
}

fn decode_udf(node: &Node, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
    if let Some(ticket) = buf.strip_prefix(PSEUDONYM_TAG) {
        let ticket = String::from_utf8(ticket.to_vec())
            .map_err(|_| plan_error("a pseudonym function with a malformed ticket"))?;
        return match node {
            Node::Executor(keys) => match keys.tickets.verify(Some(&ticket), now_seconds()) {
                Ok(t) if t.pseudonyms => Ok(pseudonym_udf(Arc::clone(&keys.pseudonyms))),
                Ok(_) => Ok(KeylessPseudonym::udf(
                    ticket,
                    "the release ticket of this query allows no pseudonym".into(),
                )),
                Err(e) => Ok(KeylessPseudonym::udf(
                    ticket,
                    format!("no pseudonym is computed: {e}"),
                )),
            },
            // Planned with the ticket, computed only where a ticket is checked.
            Node::Scheduler { .. } | Node::Client { .. } => Ok(KeylessPseudonym::udf(
                ticket,
                "pseudonyms are computed on the executors only".into(),
            )),
        };
    }
    bounded::decode_udf(name, buf)?
        .ok_or_else(|| plan_error(format!("function {name} is not available on the cluster")))
}

/// The scheduler's key provider: it holds no key and gives none.
#[derive(Debug)]
struct NoKeys;

impl KeyProvider for NoKeys {
    fn current_keys(
        &self,
        _dataset: &lagoa_core::DatasetName,
    ) -> lagoa_lake::keys::Result<lagoa_lake::keys::DatasetKeyIds> {
        Err(no_keys())
    }

    fn wrap(&self, _key: &[u8], _master_key_id: &str) -> lagoa_lake::keys::Result<String> {
        Err(no_keys())
    }

    fn unwrap(
        &self,
        _wrapped: &str,
        _master_key_id: &str,
    ) -> lagoa_lake::keys::Result<zeroize::Zeroizing<Vec<u8>>> {
        Err(no_keys())
    }

    fn rotate(
        &self,
        _dataset: &lagoa_core::DatasetName,
    ) -> lagoa_lake::keys::Result<lagoa_lake::keys::DatasetKeyIds> {
        Err(no_keys())
    }

    fn continue_after(
        &self,
        _dataset: &lagoa_core::DatasetName,
        _version: u32,
    ) -> lagoa_lake::keys::Result<lagoa_lake::keys::DatasetKeyIds> {
        Err(no_keys())
    }

    fn shred(&self, _dataset: &lagoa_core::DatasetName) -> lagoa_lake::keys::Result<()> {
        Err(no_keys())
    }

    fn shredded_at(&self, _dataset: &lagoa_core::DatasetName) -> Option<String> {
        None
    }

    fn list(&self) -> lagoa_lake::keys::Result<Vec<lagoa_lake::keys::MasterKeyInfo>> {
        Ok(Vec::new())
    }

    fn check(&self) -> lagoa_lake::keys::Result<()> {
        Ok(())
    }
}

fn no_keys() -> lagoa_lake::keys::KeyError {
    lagoa_lake::keys::KeyError::Refused("the cluster's scheduler holds no key".into())
}
