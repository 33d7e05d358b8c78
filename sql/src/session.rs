//! The session a principal's query runs in: only the datasets it may read,
//! each as a view of only the columns it may see, over a key provider that
//! releases a personal column's key only for the columns the view serves
//! (in clear, generalised or pseudonymised); a hidden column's key and
//! those of datasets the reader may not open stay locked.
//!
//! A personal column without such a grant shows its pseudonym under the
//! column's own name: a keyed hash computed in the view, above the query's
//! filters (see `lagoa_lake::pseudonym`), so joins across datasets still
//! work and the value never leaves in clear. The pseudonym function is not
//! registered in the session: a query cannot call it on values of its own.

use datafusion::catalog::view::ViewTable;
use datafusion::common::{Column, TableReference};
use datafusion::datasource::provider_as_source;
use datafusion::logical_expr::{Expr, LogicalPlanBuilder};
use datafusion::prelude::SessionContext;
use lagoa_core::Generalisation;
use lagoa_governance::Grant;
use lagoa_governance::policy::{ColumnAccess, DatasetMeta, Reader, TableAccess, table_access};

use lagoa_lake::crypto::LakeCrypto;
use lagoa_lake::keys::PersonalKeyGate;
use lagoa_lake::pseudonym::pseudonym_udf;
use lagoa_lake::table::LakeTable;
use lagoa_lake::{AsOf, Lake, LakeError};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

pub struct GovernedSession {
    pub ctx: SessionContext,
    /// Every dataset of the lake: what the reader sees of it, or why not.
    pub access: BTreeMap<String, Result<TableAccess, String>>,
    pub snapshot: i64,
    /// What its queries may read, for an engine that runs them elsewhere.
    pub allowed: crate::remote::Allowed,
}

impl GovernedSession {
    /// The session of `reader`, holding `grants`; no function or batch in
    /// it may produce more than `max_value_bytes`.
    ///
    /// `as_of` reads the data as it was then, under the policy in force
    /// now: what the reader may see is decided on the datasets as they are
    /// categorised today and the grants live today, so a grant revoked or
    /// a column hidden since stays hidden in the past too; a column the
    /// dataset no longer has is not served, nor a dataset it no longer has.
    pub async fn open(
        lake: &Lake,
        reader: &Reader,
        grants: &[Grant],
        max_value_bytes: usize,
        (as_of, pg_catalog): (AsOf, Option<Arc<crate::pg_settings::Settings>>),
    ) -> Result<Self, LakeError> {
        let now = lake.catalog.resolve(&AsOf::Latest).await?;
        let snapshot = match as_of {
            AsOf::Latest => now,
            earlier => lake.catalog.resolve(&earlier).await?,
        };
        // information_schema lists only what this session holds, so SHOW TABLES,
        // SHOW COLUMNS and DESCRIBE show the reader its own tables and columns.
        let ctx = crate::bounded::bound_context(
            &lagoa_lake::session::new_context(lake, true)?,
            max_value_bytes,
        );
        let datasets = lake.catalog.datasets(now).await?;
        let treatments = lagoa_governance::GovernanceStore::of(&lake.catalog)
            .treatments()
            .await?;
        let mut access = BTreeMap::new();
        let mut released = HashSet::new();
        for d in &datasets {
            let meta = DatasetMeta::of(d, &treatments);
            let seen = table_access(reader, &meta, grants);
            if let Ok(a) = &seen {
                for (c, personal) in &meta.columns {
                    if *personal && a.access(c).decrypts_value() {
                        released.insert((meta.name.clone(), c.clone()));
                    }
                }
            }
            access.insert(meta.name, seen);
        }
        let pseudonymise = if access.values().flatten().any(|a| {
            a.columns
                .iter()
                .any(|(_, x)| *x == ColumnAccess::Pseudonymised)
        }) {
            Some(pseudonym_udf(lake.pseudonym_key().await?))
        } else {
            None
        };
        let mut allowed = crate::remote::Allowed {
            released: released.iter().cloned().collect(),
            pseudonyms: pseudonymise.is_some(),
            ..Default::default()
        };
        let gate = PersonalKeyGate::new(Arc::clone(lake.crypto.keys()), released);
        let crypto = Arc::new(LakeCrypto::new(Arc::new(gate), lake.crypto.enabled()));
        let shredded_now: HashSet<&str> = datasets
            .iter()
            .filter(|d| d.shredded_at.is_some())
            .map(|d| d.name.as_str())
            .collect();
        let then = if snapshot == now {
            datasets.clone()
        } else {
            lake.catalog.datasets(snapshot).await?
        };
        for d in &then {
            let Some(Ok(a)) = access.get(d.name.as_str()) else {
                continue;
            };
            if d.shredded_at.is_some() || shredded_now.contains(d.name.as_str()) {
                continue;
            }
            // The files are read when a query first scans the table.
            let table = LakeTable::at_snapshot(
                d.clone(),
                (lake.catalog.clone(), snapshot),
                Arc::clone(&crypto),
                Arc::clone(&lake.store.store),
            )?;
            let name = d.name.as_str();
            let column = |c: &str| Expr::Column(Column::new(Some(TableReference::bare(name)), c));
            let columns: Vec<Expr> = a
                .columns
                .iter()
                // Today's columns that the data of then has.
                .filter(|(c, _)| d.columns.iter().any(|def| &def.name == c))
                .filter_map(|(c, x)| match x {
                    ColumnAccess::Clear => Some(column(c)),
                    ColumnAccess::Pseudonymised => pseudonymise
                        .as_ref()
                        .map(|udf| udf.call(vec![column(c)]).alias(c.as_str())),
                    ColumnAccess::Generalised(g) => {
                        let data_type = d
                            .columns
                            .iter()
                            .find(|def| &def.name == c)
                            .map_or("", |def| def.data_type.as_str());
                        Some(generalised(column(c), *g, data_type).alias(c.as_str()))
                    }
                    ColumnAccess::Hidden => None,
                })
                .collect();
            if columns.is_empty() {
                continue;
            }
            let plan = LogicalPlanBuilder::scan(name, provider_as_source(Arc::new(table)), None)?
                .project(columns)?
                .build()?;
            ctx.register_table(name, Arc::new(ViewAsTable(ViewTable::new(plan, None))))?;
            let read: std::collections::BTreeSet<String> = a
                .columns
                .iter()
                .filter(|(c, x)| {
                    *x != ColumnAccess::Hidden && d.columns.iter().any(|def| &def.name == c)
                })
                .map(|(c, _)| c.clone())
                .collect();
            allowed.datasets.insert(name.to_owned(), read);
        }
        if reader.coordinator {
            register_audit(lake, &ctx)?;
        }
        let catalog = pg_catalog.is_some();
        if let Some(settings) = pg_catalog {
            crate::pg_functions::setup_catalog(&ctx, settings).await?;
        }
        crate::pg_functions::register(&ctx, &reader.principal);
        if catalog {
            crate::pg_functions::qualify(&ctx);
        }
        Ok(GovernedSession {
            ctx,
            access,
            snapshot,
            allowed,
        })
    }
}

/// A view presented as the table it stands for, planned as the view: a
/// dataset as a reader's session serves it (the columns the reader may
/// see; catalogs list it among the tables, where BI tools look), or a
/// catalog table with its columns retyped (`pg_arrays`).
#[derive(Debug)]
pub(crate) struct ViewAsTable(pub(crate) ViewTable);

#[async_trait::async_trait]
impl datafusion::catalog::TableProvider for ViewAsTable {
    fn schema(&self) -> datafusion::arrow::datatypes::SchemaRef {
        self.0.schema()
    }

    fn table_type(&self) -> datafusion::logical_expr::TableType {
        datafusion::logical_expr::TableType::Base
    }

    fn get_logical_plan(
        &self,
    ) -> Option<std::borrow::Cow<'_, datafusion::logical_expr::LogicalPlan>> {
        self.0.get_logical_plan()
    }

    async fn scan(
        &self,
        state: &dyn datafusion::catalog::Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::common::Result<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        self.0.scan(state, projection, filters, limit).await
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> datafusion::common::Result<Vec<datafusion::logical_expr::TableProviderFilterPushDown>>
    {
        self.0.supports_filters_pushdown(filters)
    }
}

/// The expression a generalised column is served as: dates to the first
/// day of their month or year (same type), numbers to the multiple of the
/// band below, codes to their prefix.
fn generalised(value: Expr, rule: Generalisation, data_type: &str) -> Expr {
    use datafusion::arrow::datatypes::DataType;
    use datafusion::functions::expr_fn::{date_trunc, floor, left};
    use datafusion::logical_expr::{cast, lit};
    let original: Option<DataType> = data_type.parse().ok();
    let truncate = |unit: &str| {
        let truncated = date_trunc(lit(unit), value.clone());
        match &original {
            Some(t) => cast(truncated, t.clone()),
            None => truncated,
        }
    };
    match rule {
        Generalisation::Month => truncate("month"),
        Generalisation::Year => truncate("year"),
        Generalisation::Band(n) => {
            let n = i64::from(n);
            let banded = floor(cast(value, DataType::Float64) / lit(n as f64)) * lit(n as f64);
            match &original {
                Some(t) => cast(banded, t.clone()),
                None => banded,
            }
        }
        Generalisation::Prefix(n) => left(value, lit(i64::from(n))),
    }
}

/// `system.audit` for coordinators: the whole trail, read when scanned.
fn register_audit(lake: &Lake, ctx: &SessionContext) -> Result<(), LakeError> {
    let schema = Arc::new(datafusion::catalog::MemorySchemaProvider::new());
    let empty = lagoa_lake::system::audit(&[])?;
    let table =
        lagoa_lake::system::OnScan::from_catalog(empty, &lake.catalog, |catalog| async move {
            let mut all = Vec::new();
            loop {
                let after = all
                    .last()
                    .map_or(0, |r: &lagoa_lake::catalog::AuditRecord| r.seq);
                let page = catalog.audit_records(after, 10_000).await?;
                if page.is_empty() {
                    break;
                }
                all.extend(page);
            }
            lagoa_lake::system::audit(&all)
        });
    datafusion::catalog::SchemaProvider::register_table(
        schema.as_ref(),
        "audit".into(),
        Arc::new(table),
    )?;
    if let Some(catalog) = ctx.catalog("datafusion") {
        catalog.register_schema("system", schema)?;
    }
    Ok(())
}

/// A crypto handle that releases no personal-data key at all: what a
/// session without personal grants decrypts with (used by the tests that
/// build plans by hand).
pub fn crypto_without_personal_keys(lake: &Lake) -> Arc<LakeCrypto> {
    let gate = PersonalKeyGate::new(Arc::clone(lake.crypto.keys()), HashSet::new());
    Arc::new(LakeCrypto::new(Arc::new(gate), lake.crypto.enabled()))
}

impl std::fmt::Debug for GovernedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GovernedSession")
            .field("snapshot", &self.snapshot)
            .field("access", &self.access)
            .finish_non_exhaustive()
    }
}
