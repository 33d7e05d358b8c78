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
        if let Some(c) = lagoa_governance::GovernanceStore::of(&lake.catalog)
            .categorisation(d.name.as_str())
            .await?
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

/// The first and last-plus-one microsecond of `month` (`YYYY-MM`) in the
/// time zone `zone`.
pub fn month_range(month: &str, zone: &str) -> Result<(i64, i64), String> {
    use chrono::TimeZone;
    let zone: chrono_tz::Tz = zone
        .parse()
        .map_err(|_| format!("{zone:?} is not a time zone"))?;
    let first = chrono::NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d")
        .map_err(|_| "write the month as YYYY-MM".to_owned())?;
    let next = first
        .checked_add_months(chrono::Months::new(1))
        .ok_or_else(|| "the month is out of range".to_owned())?;
    let start = |d: chrono::NaiveDate| {
        zone.from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default())
            .earliest()
            .map(|t| t.timestamp_micros())
            .ok_or_else(|| format!("no midnight on {d} in {zone}"))
    };
    Ok((start(first)?, start(next)?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_month_is_its_local_days() {
        let (from, to) = super::month_range("2026-02", "America/Recife").unwrap();
        // 28 days; Recife is UTC-3 without daylight saving.
        assert_eq!(to - from, 28 * 86_400 * 1_000_000);
        assert_eq!(from % (86_400 * 1_000_000), 3 * 3_600 * 1_000_000);
        assert!(super::month_range("2026-13", "America/Recife").is_err());
        assert!(super::month_range("2026-01", "Mars/Olympus").is_err());
    }
}
