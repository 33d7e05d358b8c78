//! Consumption reports for providers: which institution read which of
//! their datasets, how often, how many rows, for which purpose. Counted
//! from the audit trail's successful queries.

use lagoa_lake::catalog::now_micros;
use lagoa_lake::{AsOf, Lake, LakeError};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConsumptionLine {
    pub institution: String,
    pub dataset: String,
    pub purpose: String,
    pub queries: i64,
    /// Rows the queries returned (a query over two of the provider's
    /// datasets counts for both).
    pub rows: i64,
    pub principals: Vec<String>,
}

/// The consumption of `provider`'s datasets between `from` and `to`
/// (microseconds), by institution, dataset and purpose.
pub async fn consumption(
    lake: &Lake,
    provider: &str,
    from: i64,
    to: i64,
) -> Result<Vec<ConsumptionLine>, LakeError> {
    let latest = lake.catalog.resolve(&AsOf::Latest).await?;
    let mut theirs = BTreeSet::new();
    for d in lake.catalog.datasets(latest).await? {
        if let Some(c) = lake.catalog.categorisation(d.name.as_str()).await?
            && c.provider == provider
        {
            theirs.insert(d.name.to_string());
        }
    }
    let mut lines: BTreeMap<(String, String, String), ConsumptionLine> = BTreeMap::new();
    let mut after = 0;
    loop {
        let page = lake
            .catalog
            .audit_between(from, to.min(now_micros() + 1), after, 10_000)
            .await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for r in &page {
            let e = &r.entry;
            if e.action != "query" || e.outcome != "ok" {
                continue;
            }
            for dataset in e.datasets.iter().filter(|d| theirs.contains(*d)) {
                let purpose = e.purpose.clone().unwrap_or_default();
                let key = (e.institution.clone(), dataset.clone(), purpose.clone());
                let line = lines.entry(key).or_insert_with(|| ConsumptionLine {
                    institution: e.institution.clone(),
                    dataset: dataset.clone(),
                    purpose,
                    queries: 0,
                    rows: 0,
                    principals: Vec::new(),
                });
                line.queries += 1;
                line.rows += e.rows;
                if !line.principals.contains(&e.principal) {
                    line.principals.push(e.principal.clone());
                }
            }
        }
    }
    Ok(lines.into_values().collect())
}
