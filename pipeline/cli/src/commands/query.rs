//! `lagoa query`, `datasets`, `snapshots`, `files` and `tag`: reading the
//! lake. With `--token` a query goes through governance (see
//! `governance.rs`); without, the lake's owner reads everything, bounded
//! in shape all the same.

use crate::output::{self, Format};
use anyhow::{Result, anyhow, bail};
use clap::Args;
use lagoa_core::DatasetName;
use lagoa_lake::{AsOf, Lake, LakeError};
use std::path::PathBuf;

#[derive(Args)]
pub(super) struct QueryArgs {
    /// The statement: read-only SQL.
    sql: String,
    /// How to print the rows: table, csv, json (lines) or parquet (with --output).
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Write the result to a file instead of stdout.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Read an earlier state: a snapshot number or an RFC 3339 time. With
    /// --token, the data of then under the policy in force now.
    #[arg(long)]
    as_of: Option<String>,
    /// The purpose of this query (with --token; required for especial data).
    #[arg(long)]
    purpose: Option<String>,
}

pub(super) async fn query(lake: Lake, token: Option<&str>, args: QueryArgs) -> Result<()> {
    let as_of = args
        .as_of
        .as_deref()
        .map(parse_as_of)
        .transpose()?
        .unwrap_or(AsOf::Latest);
    if let Some(token) = token {
        let lake = std::sync::Arc::new(lake);
        return super::governance::query(
            &lake,
            token,
            args.purpose.as_deref(),
            (&args.sql, as_of),
            args.format,
            args.output.as_deref(),
        )
        .await;
    }
    // The lake's owner reads everything, but the statement's shape is
    // bounded all the same: a deep one would overflow the planner.
    let limits = lagoa_sql::QueryLimits::from_config(&lake.config.query);
    lagoa_sql::guard::check_shape(&args.sql, &limits.guard(true)).map_err(|d| anyhow!("{d}"))?;
    let session = lake.session(&as_of).await?;
    let df = session
        .sql(&args.sql)
        .await
        .map_err(|e| with_suggestion(&session, e))?;
    output::write(df, args.format, args.output.as_deref())
        .await
        .map_err(|e| {
            if format!("{e:#}").contains("Resources exhausted") {
                e.context(format!(
                    "the query needs more memory than query.memory_limit ({}); narrow it, or raise the limit in lagoa.toml or with LAGOA__QUERY__MEMORY_LIMIT",
                    lake.config.query.memory_limit
                ))
            } else {
                e
            }
        })?;
    Ok(())
}

/// A statement naming a dataset the lake lacks: the error, and the
/// nearest dataset's name when it looks like a slip.
fn with_suggestion(session: &lagoa_lake::session::LakeSession, e: LakeError) -> anyhow::Error {
    let message = e.to_string();
    let tables = session
        .ctx
        .catalog("datafusion")
        .and_then(|c| c.schema("public"))
        .map(|s| s.table_names())
        .unwrap_or_default();
    match lagoa_sql::suggest::for_missing_table(&message, tables.iter().map(String::as_str)) {
        Some(name) => anyhow!("{message}; did you mean {name}?"),
        None => e.into(),
    }
}

pub(super) async fn datasets(lake: &Lake, format: Format) -> Result<()> {
    system_table(
        lake,
        "SELECT name, level, rows, files, bytes, schema_version, personal_columns, partition_column, shredded_at FROM system.datasets ORDER BY name",
        format,
    )
    .await
}

pub(super) async fn snapshots(lake: &Lake, dataset: String, format: Format) -> Result<()> {
    let dataset = known_dataset(lake, dataset).await?;
    let sql = format!(
        "SELECT snapshot_id, created_at, operation, summary FROM system.snapshots WHERE dataset = '{dataset}' ORDER BY snapshot_id DESC"
    );
    system_table(lake, &sql, format).await
}

pub(super) async fn files(lake: &Lake, dataset: String, format: Format) -> Result<()> {
    let dataset = known_dataset(lake, dataset).await?;
    let sql = format!(
        "SELECT path, partition_value, row_count, size_bytes, begin_snapshot, master_key_id FROM system.files WHERE dataset = '{dataset}' ORDER BY begin_snapshot, path"
    );
    system_table(lake, &sql, format).await
}

/// Sets tags on a dataset (KEY=VALUE), or lists them when none are given.
pub(super) async fn tag(lake: &Lake, dataset: String, tags: Vec<String>) -> Result<()> {
    let dataset = DatasetName::new(dataset)?;
    for tag in &tags {
        let (key, value) = tag
            .split_once('=')
            .ok_or_else(|| anyhow!("tag {tag:?}: write KEY=VALUE"))?;
        let snapshot = lake
            .catalog
            .set_tag(&dataset, key.trim(), value.trim())
            .await?;
        println!("{dataset}: {key} = {value} (snapshot {snapshot})");
    }
    if tags.is_empty() {
        let latest = lake.catalog.resolve(&AsOf::Latest).await?;
        for (key, value) in lake.catalog.tags(&dataset, latest).await? {
            println!("{key} = {value}");
        }
    }
    Ok(())
}

/// A dataset name the latest snapshot knows (a valid name is also safe to
/// quote in the system tables' SQL).
async fn known_dataset(lake: &Lake, name: String) -> Result<DatasetName> {
    let dataset = DatasetName::new(name)?;
    let latest = lake.catalog.resolve(&AsOf::Latest).await?;
    if lake.catalog.dataset(&dataset, latest).await?.is_none() {
        bail!(lagoa_lake::LakeError::UnknownDataset(dataset.to_string()));
    }
    Ok(dataset)
}

async fn system_table(lake: &Lake, sql: &str, format: Format) -> Result<()> {
    let session = lake.session(&AsOf::Latest).await?;
    output::write(session.sql(sql).await?, format, None).await?;
    Ok(())
}

fn parse_as_of(text: &str) -> Result<AsOf> {
    AsOf::parse(text).map_err(|e| anyhow!("--as-of: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_of_is_a_snapshot_number_or_an_rfc3339_time() {
        assert!(matches!(parse_as_of("12").unwrap(), AsOf::Snapshot(12)));
        match parse_as_of("2026-11-22T10:00:00-03:00").unwrap() {
            AsOf::Time(micros) => assert_eq!(micros, 1_795_352_400_000_000),
            other => panic!("{other:?}"),
        }
        let error = parse_as_of("ontem").unwrap_err().to_string();
        assert!(error.contains("RFC 3339"), "{error}");
    }
}
