//! `system.datasets`, `system.snapshots`, `system.files`, `system.runs`:
//! what the catalog holds, queryable in SQL like any table.

use crate::catalog::model::{DataFileInfo, DatasetInfo, SnapshotInfo};
use crate::catalog::{AuditRecord, Catalog, RunRecord};
use crate::error::Result;
use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::SchemaRef;
use arrow::datatypes::{Field, Schema};
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::{MemTable, TableType};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use futures::future::BoxFuture;
use lagoa_core::FailureClass;
use std::sync::Arc;

type Loader = dyn Fn() -> BoxFuture<'static, Result<Arc<MemTable>>> + Send + Sync;

/// A system table read from the catalog when a query scans it, not when a
/// session opens: `system.runs` grows with every firing of the daemon, and
/// most queries never look at it.
pub struct OnScan {
    schema: SchemaRef,
    load: Box<Loader>,
    /// The runtime that owns the catalog's connections: the rows are read
    /// there, whichever runtime plans the query (a governed query plans on
    /// threads of its own, which end with it).
    io: Option<tokio::runtime::Handle>,
}

impl OnScan {
    /// `empty` gives the schema; `load` the rows, at scan time, on the
    /// runtime this is made on.
    fn new(
        empty: Arc<MemTable>,
        load: impl Fn() -> BoxFuture<'static, Result<Arc<MemTable>>> + Send + Sync + 'static,
    ) -> Self {
        OnScan {
            schema: empty.schema(),
            load: Box::new(load),
            io: tokio::runtime::Handle::try_current().ok(),
        }
    }
}

impl OnScan {
    /// A system table whose rows `read` gets from `catalog` when a query
    /// scans it.
    pub fn from_catalog<F, Fut>(empty: Arc<MemTable>, catalog: &Catalog, read: F) -> Self
    where
        F: Fn(Catalog) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Arc<MemTable>>> + Send + 'static,
    {
        let catalog = catalog.clone();
        Self::new(empty, move || Box::pin(read(catalog.clone())))
    }
}

impl std::fmt::Debug for OnScan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnScan")
            .field("schema", &self.schema)
            .finish()
    }
}

#[async_trait::async_trait]
impl TableProvider for OnScan {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let table = on_catalog_runtime(self.io.as_ref(), (self.load)()).await?;
        table.scan(state, projection, filters, limit).await
    }
}

/// Runs a catalog read on `io`, the runtime that owns the catalog's
/// connections, whichever runtime plans the query (a governed query plans
/// on threads of its own, which end with it); here when there is none.
pub(crate) async fn on_catalog_runtime<T: Send + 'static>(
    io: Option<&tokio::runtime::Handle>,
    read: impl Future<Output = Result<T>> + Send + 'static,
) -> DfResult<T> {
    match io {
        Some(io) => io
            .spawn(read)
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?,
        None => read.await,
    }
    .map_err(|e| DataFusionError::External(Box::new(e)))
}

fn table(columns: Vec<(&str, ArrayRef)>) -> Result<Arc<MemTable>> {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, array)| Field::new(*name, array.data_type().clone(), true))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        columns.into_iter().map(|(_, a)| a).collect(),
    )?;
    Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
}

fn strings<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(values.collect::<StringArray>())
}

fn ints(values: impl Iterator<Item = Option<i64>>) -> ArrayRef {
    Arc::new(values.collect::<Int64Array>())
}

fn times(values: impl Iterator<Item = Option<i64>>) -> ArrayRef {
    Arc::new(
        values
            .collect::<TimestampMicrosecondArray>()
            .with_timezone("UTC"),
    )
}

pub fn datasets(datasets: &[DatasetInfo], files: &[DataFileInfo]) -> Result<Arc<MemTable>> {
    let per = |d: &DatasetInfo, f: fn(&DataFileInfo) -> i64| {
        files
            .iter()
            .filter(|x| x.dataset == d.name.as_str())
            .map(f)
            .sum::<i64>()
    };
    let personal: Vec<String> = datasets
        .iter()
        .map(|d| d.personal_columns().join(","))
        .collect();
    table(vec![
        (
            "name",
            strings(datasets.iter().map(|d| Some(d.name.as_str()))),
        ),
        (
            "level",
            strings(datasets.iter().map(|d| Some(d.level.as_str()))),
        ),
        (
            "description",
            strings(datasets.iter().map(|d| Some(d.description.as_str()))),
        ),
        (
            "partition_column",
            strings(datasets.iter().map(|d| d.partition_column.as_deref())),
        ),
        (
            "schema_version",
            ints(datasets.iter().map(|d| Some(d.schema_version))),
        ),
        (
            "columns",
            ints(datasets.iter().map(|d| Some(d.columns.len() as i64))),
        ),
        (
            "personal_columns",
            strings(personal.iter().map(|p| Some(p.as_str()))),
        ),
        ("files", ints(datasets.iter().map(|d| Some(per(d, |_| 1))))),
        (
            "rows",
            ints(datasets.iter().map(|d| Some(per(d, |f| f.live_rows())))),
        ),
        (
            "bytes",
            ints(datasets.iter().map(|d| Some(per(d, |f| f.size_bytes)))),
        ),
        (
            "created_snapshot",
            ints(datasets.iter().map(|d| Some(d.created_snapshot.0))),
        ),
        ("shredded_at", times(datasets.iter().map(|d| d.shredded_at))),
    ])
}

pub fn snapshots(snapshots: &[SnapshotInfo]) -> Result<Arc<MemTable>> {
    table(vec![
        (
            "snapshot_id",
            ints(snapshots.iter().map(|s| Some(s.snapshot_id))),
        ),
        (
            "created_at",
            times(snapshots.iter().map(|s| Some(s.created_at))),
        ),
        (
            "dataset",
            strings(snapshots.iter().map(|s| s.dataset.as_deref())),
        ),
        (
            "operation",
            strings(snapshots.iter().map(|s| Some(s.operation.as_str()))),
        ),
        (
            "summary",
            strings(snapshots.iter().map(|s| Some(s.summary.as_str()))),
        ),
    ])
}

pub fn files(files: &[DataFileInfo]) -> Result<Arc<MemTable>> {
    table(vec![
        (
            "dataset",
            strings(files.iter().map(|f| Some(f.dataset.as_str()))),
        ),
        (
            "file_id",
            strings(files.iter().map(|f| Some(f.file_id.as_str()))),
        ),
        ("path", strings(files.iter().map(|f| Some(f.path.as_str())))),
        (
            "partition_value",
            strings(files.iter().map(|f| f.partition_value.as_deref())),
        ),
        ("row_count", ints(files.iter().map(|f| Some(f.row_count)))),
        (
            "deleted_rows",
            ints(files.iter().map(|f| Some(f.row_count - f.live_rows()))),
        ),
        ("size_bytes", ints(files.iter().map(|f| Some(f.size_bytes)))),
        (
            "schema_version",
            ints(files.iter().map(|f| Some(f.schema_version))),
        ),
        (
            "master_key_id",
            strings(files.iter().map(|f| f.master_key_id.as_deref())),
        ),
        (
            "begin_snapshot",
            ints(files.iter().map(|f| Some(f.begin_snapshot))),
        ),
    ])
}

/// Every run: source, dataset, trigger, attempts, times, status, counts,
/// snapshot and error with its class (never a data value). Not the quality
/// report (`lagoa report <run>`).
pub fn runs(runs: &[RunRecord]) -> Result<Arc<MemTable>> {
    table(vec![
        (
            "run_id",
            strings(runs.iter().map(|r| Some(r.run_id.as_str()))),
        ),
        (
            "source",
            strings(runs.iter().map(|r| Some(r.source.as_str()))),
        ),
        (
            "dataset",
            strings(runs.iter().map(|r| Some(r.dataset.as_str()))),
        ),
        (
            "trigger",
            strings(runs.iter().map(|r| Some(r.trigger.as_str()))),
        ),
        (
            "status",
            strings(runs.iter().map(|r| Some(r.status.as_str()))),
        ),
        ("attempt", ints(runs.iter().map(|r| Some(r.attempts)))),
        ("started_at", times(runs.iter().map(|r| Some(r.started_at)))),
        ("ended_at", times(runs.iter().map(|r| r.ended_at))),
        ("rows_read", ints(runs.iter().map(|r| Some(r.rows_read)))),
        (
            "rows_written",
            ints(runs.iter().map(|r| Some(r.rows_written))),
        ),
        (
            "rows_rejected",
            ints(runs.iter().map(|r| Some(r.rows_rejected))),
        ),
        ("bytes_read", ints(runs.iter().map(|r| Some(r.bytes_read)))),
        (
            "bytes_written",
            ints(runs.iter().map(|r| Some(r.bytes_written))),
        ),
        ("snapshot_id", ints(runs.iter().map(|r| r.snapshot_id))),
        (
            "contract_version",
            ints(runs.iter().map(|r| r.contract_version)),
        ),
        (
            "replay_of",
            strings(runs.iter().map(|r| r.replay_of.as_deref())),
        ),
        (
            "error_class",
            strings(runs.iter().map(|r| r.error_class.map(FailureClass::as_str))),
        ),
        ("error", strings(runs.iter().map(|r| r.error.as_deref()))),
    ])
}

/// Indicator runs: what each computation read, suppressed and published
/// (inputs as `dataset@snapshot` and parameters as `name=value`, comma-separated).
pub fn indicator_runs(runs: &[crate::catalog::IndicatorRun]) -> Result<Arc<MemTable>> {
    let inputs: Vec<String> = runs
        .iter()
        .map(|r| {
            r.inputs
                .iter()
                .map(|i| format!("{}@{}", i.dataset, i.snapshot))
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    let parameters: Vec<String> = runs
        .iter()
        .map(|r| {
            r.parameters
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    table(vec![
        (
            "run_id",
            strings(runs.iter().map(|r| Some(r.run_id.as_str()))),
        ),
        (
            "indicator",
            strings(runs.iter().map(|r| Some(r.indicator.as_str()))),
        ),
        (
            "dataset",
            strings(runs.iter().map(|r| Some(r.dataset.as_str()))),
        ),
        (
            "trigger",
            strings(runs.iter().map(|r| Some(r.trigger.as_str()))),
        ),
        (
            "status",
            strings(runs.iter().map(|r| Some(r.status.as_str()))),
        ),
        ("started_at", times(runs.iter().map(|r| Some(r.started_at)))),
        ("ended_at", times(runs.iter().map(|r| r.ended_at))),
        (
            "input_snapshot",
            ints(runs.iter().map(|r| Some(r.input_snapshot))),
        ),
        ("inputs", strings(inputs.iter().map(|s| Some(s.as_str())))),
        (
            "parameters",
            strings(parameters.iter().map(|s| Some(s.as_str()))),
        ),
        (
            "sql_sha256",
            strings(runs.iter().map(|r| Some(r.sql_sha256.as_str()))),
        ),
        ("min_cell", ints(runs.iter().map(|r| Some(r.min_cell)))),
        (
            "output_snapshot",
            ints(runs.iter().map(|r| r.output_snapshot)),
        ),
        (
            "output_level",
            strings(runs.iter().map(|r| r.output_level.as_deref())),
        ),
        ("cells", ints(runs.iter().map(|r| Some(r.cells)))),
        (
            "suppressed_primary",
            ints(runs.iter().map(|r| Some(r.suppressed_primary))),
        ),
        (
            "suppressed_secondary",
            ints(runs.iter().map(|r| Some(r.suppressed_secondary))),
        ),
        ("protection", ints(runs.iter().map(|r| Some(r.protection)))),
        (
            "smallest_width",
            ints(runs.iter().map(|r| r.smallest_width)),
        ),
        (
            "numerator_count",
            strings(runs.iter().map(|r| r.numerator_count.as_deref())),
        ),
        (
            "denominator_count",
            strings(runs.iter().map(|r| r.denominator_count.as_deref())),
        ),
        (
            "period_years",
            ints(runs.iter().map(|r| Some(r.period_years))),
        ),
        (
            "derivation",
            strings(runs.iter().map(|r| Some(r.derivation.as_str()))),
        ),
        ("error", strings(runs.iter().map(|r| r.error.as_deref()))),
    ])
}

/// The audit trail, for coordinators: every entry with its place in the
/// chain (lists are comma-separated).
pub fn audit(records: &[AuditRecord]) -> Result<Arc<MemTable>> {
    let joined = |f: fn(&AuditRecord) -> &Vec<String>| -> Vec<String> {
        records.iter().map(|r| f(r).join(",")).collect()
    };
    let (datasets, columns, grants) = (
        joined(|r| &r.entry.datasets),
        joined(|r| &r.entry.columns),
        joined(|r| &r.entry.grants),
    );
    table(vec![
        ("seq", ints(records.iter().map(|r| Some(r.seq)))),
        ("at", times(records.iter().map(|r| Some(r.at)))),
        (
            "principal",
            strings(records.iter().map(|r| Some(r.entry.principal.as_str()))),
        ),
        (
            "institution",
            strings(records.iter().map(|r| Some(r.entry.institution.as_str()))),
        ),
        (
            "purpose",
            strings(records.iter().map(|r| r.entry.purpose.as_deref())),
        ),
        (
            "action",
            strings(records.iter().map(|r| Some(r.entry.action.as_str()))),
        ),
        (
            "datasets",
            strings(datasets.iter().map(|d| Some(d.as_str()))),
        ),
        ("columns", strings(columns.iter().map(|d| Some(d.as_str())))),
        ("grants", strings(grants.iter().map(|d| Some(d.as_str())))),
        ("rows", ints(records.iter().map(|r| Some(r.entry.rows)))),
        ("bytes", ints(records.iter().map(|r| Some(r.entry.bytes)))),
        (
            "duration_ms",
            ints(records.iter().map(|r| Some(r.entry.duration_ms))),
        ),
        (
            "outcome",
            strings(records.iter().map(|r| Some(r.entry.outcome.as_str()))),
        ),
        (
            "reason",
            strings(records.iter().map(|r| r.entry.reason.as_deref())),
        ),
        (
            "subject",
            strings(records.iter().map(|r| r.entry.subject.as_deref())),
        ),
        ("mac", strings(records.iter().map(|r| Some(r.mac.as_str())))),
    ])
}
