//! A governed query run elsewhere (a Ballista cluster): the same guard,
//! session, policy and audit; only the execution of the planned statement
//! moves, with what the reader's session allows.

use datafusion::catalog::TableProvider;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::dataframe::DataFrame;
use datafusion::datasource::source_as_provider;
use datafusion::error::Result;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::SendableRecordBatchStream;
use lagoa_lake::table::LakeTable;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// What a reader's session allows its queries to read: the engine running
/// them elsewhere passes it on, authenticated, to where files are read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Allowed {
    /// The datasets the session holds, each with the columns its view
    /// reads (hidden ones left out).
    pub datasets: BTreeMap<String, BTreeSet<String>>,
    /// `(dataset, column)`: the personal columns it decrypts.
    pub released: BTreeSet<(String, String)>,
    /// Whether it serves a column pseudonymised.
    pub pseudonyms: bool,
}

impl Allowed {
    /// Everything `plan` reads, its personal columns included: for the
    /// lake's own computations (indicators), which read as the owner.
    pub fn everything_read_by(plan: &LogicalPlan) -> Allowed {
        let mut allowed = Allowed::default();
        for provider in tables_scanned(plan) {
            let any: &dyn std::any::Any = provider.as_ref();
            if let Some(table) = any.downcast_ref::<LakeTable>() {
                let dataset = table.dataset();
                allowed.datasets.insert(
                    dataset.name.to_string(),
                    dataset.columns.iter().map(|c| c.name.clone()).collect(),
                );
                for column in dataset.personal_columns() {
                    allowed.released.insert((dataset.name.to_string(), column));
                }
            }
        }
        allowed
    }
}

/// Every table `plan` scans, its subqueries' included.
pub fn tables_scanned(plan: &LogicalPlan) -> Vec<Arc<dyn TableProvider>> {
    let mut tables = Vec::new();
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && let Ok(provider) = source_as_provider(&scan.source)
        {
            tables.push(provider);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    tables
}

/// An engine that runs a planned governed statement somewhere else.
#[async_trait::async_trait]
pub trait RemoteEngine: Send + Sync + std::fmt::Debug {
    /// Starts `df` (planned and optimized in the reader's session).
    async fn execute(&self, df: DataFrame, allowed: &Allowed) -> Result<SendableRecordBatchStream>;
}
