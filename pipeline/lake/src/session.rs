//! A DataFusion session over one snapshot of the lake: every dataset valid
//! at that snapshot as a table, and the `system` schema. Analyst SQL goes
//! through [`LakeSession::sql`], which refuses DDL, DML and statements.

use crate::catalog::model::{DataFileInfo, DatasetInfo};
use crate::catalog::{Catalog, format_micros};
use crate::error::Result;
use crate::store::LakeStore;
use crate::system::OnScan;
use crate::table::{LakeTable, ShreddedTable, arrow_schema, scan_schema};
use crate::{AsOf, Lake, system};
use datafusion::catalog::{MemorySchemaProvider, SchemaProvider};
use datafusion::dataframe::DataFrame;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use std::sync::Arc;

/// A DataFusion context as every Lagoa query runs: the lake's object
/// store, the query memory limit, no spill files (they would put plaintext
/// on local disk), and no tables yet.
pub fn new_context(lake: &Lake, information_schema: bool) -> Result<SessionContext> {
    let mut config = SessionConfig::new().with_information_schema(information_schema);
    // Row-level filtering while decoding (late materialization); row
    // groups and pages are pruned by the predicate either way.
    config.options_mut().execution.parquet.pushdown_filters = lake.config.query.filter_pushdown;
    config.options_mut().execution.parquet.reorder_filters = true;
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_limit(lake.config.query_memory_limit(), 1.0)
        .with_disk_manager_builder(
            DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
        )
        .build_arc()?;
    runtime.register_object_store(
        LakeStore::datafusion_url().as_ref(),
        Arc::clone(&lake.store.store),
    );
    Ok(SessionContext::new_with_config_rt(config, runtime))
}

pub struct LakeSession {
    pub ctx: SessionContext,
    /// The snapshot every table of this session reads.
    pub snapshot: i64,
}

impl LakeSession {
    pub async fn open(lake: &Lake, as_of: &AsOf) -> Result<Self> {
        let snapshot = lake.catalog.resolve(as_of).await?;
        let ctx = new_context(lake, true)?;

        let datasets = lake.catalog.datasets(snapshot).await?;
        for dataset in &datasets {
            let name = dataset.name.as_str();
            match dataset.shredded_at {
                Some(at) => {
                    let table = ShreddedTable {
                        dataset: name.to_owned(),
                        at: format_micros(at),
                        schema: scan_schema(&arrow_schema(dataset)?),
                    };
                    ctx.register_table(name, Arc::new(table))?;
                }
                None => {
                    let table = LakeTable::at_snapshot(
                        dataset.clone(),
                        (lake.catalog.clone(), snapshot),
                        Arc::clone(&lake.crypto),
                        Arc::clone(&lake.store.store),
                    )?;
                    ctx.register_table(name, Arc::new(table))?;
                }
            }
        }

        // The system tables are read when a query scans them: opening a
        // session costs the same after ten years of deliveries as after one.
        let system_schema = Arc::new(MemorySchemaProvider::new());
        let register =
            |name: &str, table: OnScan| system_schema.register_table(name.into(), Arc::new(table));
        let catalog = &lake.catalog;
        register(
            "datasets",
            OnScan::from_catalog(system::datasets(&[], &[])?, catalog, move |c| async move {
                let datasets = c.datasets(snapshot).await?;
                system::datasets(&datasets, &files_of(&c, &datasets, snapshot).await?)
            }),
        )?;
        register(
            "snapshots",
            OnScan::from_catalog(system::snapshots(&[])?, catalog, |c| async move {
                system::snapshots(&c.snapshots(None).await?)
            }),
        )?;
        register(
            "files",
            OnScan::from_catalog(system::files(&[])?, catalog, move |c| async move {
                let datasets = c.datasets(snapshot).await?;
                system::files(&files_of(&c, &datasets, snapshot).await?)
            }),
        )?;
        register(
            "runs",
            OnScan::from_catalog(system::runs(&[])?, catalog, |c| async move {
                system::runs(&c.runs(None, i64::MAX).await?)
            }),
        )?;
        register(
            "indicator_runs",
            OnScan::from_catalog(system::indicator_runs(&[])?, catalog, |c| async move {
                system::indicator_runs(&c.indicator_runs(None, i64::MAX).await?)
            }),
        )?;
        if let Some(catalog) = ctx.catalog("datafusion") {
            catalog.register_schema("system", system_schema)?;
        }
        Ok(Self { ctx, snapshot })
    }

    /// Plans read-only SQL: DDL, DML and statements (`SET`, `COPY`, ...) are refused.
    pub async fn sql(&self, sql: &str) -> Result<DataFrame> {
        let options = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        Ok(self.ctx.sql_with_options(sql, options).await?)
    }
}

/// Every file of `datasets` live at `snapshot`.
async fn files_of(
    catalog: &Catalog,
    datasets: &[DatasetInfo],
    snapshot: i64,
) -> Result<Vec<DataFileInfo>> {
    let mut all = Vec::new();
    for dataset in datasets {
        all.extend(catalog.files(dataset, snapshot).await?);
    }
    Ok(all)
}

impl std::fmt::Debug for LakeSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LakeSession")
            .field("snapshot", &self.snapshot)
            .finish_non_exhaustive()
    }
}
