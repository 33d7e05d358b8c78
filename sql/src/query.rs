//! One governed query: the guard, the policy, the session, the limits and
//! the audit entry, in that order. Every query, refused or not, leaves an
//! entry; a query whose entry cannot be written returns nothing.

use crate::guard::{self, GuardLimits};
use crate::policy::Reader;
use crate::session::GovernedSession;
use datafusion::arrow::array::RecordBatch;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SQLOptions;
use futures::StreamExt;
use lagoa_lake::catalog::{AuditEntry, Principal, now_micros};
use lagoa_lake::{Lake, LakeError};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// Limits of one query.
#[derive(Clone, Debug)]
pub struct QueryLimits {
    pub max_rows: usize,
    pub timeout: Duration,
    pub max_sql_bytes: usize,
}

impl QueryLimits {
    pub fn from_config(config: &lagoa_lake::config::QueryConfig) -> Self {
        Self {
            max_rows: config.max_rows,
            timeout: Duration::from_secs(config.timeout_seconds),
            max_sql_bytes: config.max_sql_bytes,
        }
    }
}

impl Default for QueryLimits {
    fn default() -> Self {
        Self {
            max_rows: 100_000,
            timeout: Duration::from_secs(300),
            max_sql_bytes: 64 * 1024,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// Refused by the guard or the policy; the reason is for the analyst.
    #[error("denied: {0}")]
    Denied(String),
    #[error("the query failed: {0}")]
    Failed(String),
    #[error("the query ran longer than {0:?} and was stopped")]
    Timeout(Duration),
    #[error("the result has more than {0} rows; narrow the query or add LIMIT")]
    TooManyRows(usize),
    /// The query's memory pool (`query.memory_limit`) ran out.
    #[error(
        "the query needs more memory than query.memory_limit ({0}); narrow it or aggregate first"
    )]
    OutOfMemory(String),
    #[error(transparent)]
    Lake(#[from] LakeError),
}

pub struct Answer {
    pub schema: datafusion::arrow::datatypes::SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub rows: usize,
    pub datasets: Vec<String>,
    pub columns: Vec<String>,
    pub grants: Vec<String>,
}

/// Runs `sql` for `principal`, declaring `purpose`.
pub async fn run(
    lake: &Lake,
    principal: &Principal,
    purpose: Option<&str>,
    sql: &str,
    limits: &QueryLimits,
) -> Result<Answer, QueryError> {
    run_bound(lake, principal, purpose, sql, &[], limits).await
}

/// Runs `sql` with its `$1, $2...` parameters given as text (as the
/// PostgreSQL protocol sends them; `None` is NULL), each read as the type
/// the query gives its place.
pub async fn run_bound(
    lake: &Lake,
    principal: &Principal,
    purpose: Option<&str>,
    sql: &str,
    params: &[Option<String>],
    limits: &QueryLimits,
) -> Result<Answer, QueryError> {
    let started = Instant::now();
    let mut entry = query_entry(principal, purpose);
    let result = answer(lake, principal, purpose, sql, params, limits, &mut entry).await;
    entry.duration_ms = started.elapsed().as_millis() as i64;
    match &result {
        Ok(a) => {
            entry.outcome = "ok".into();
            entry.rows = a.rows as i64;
            entry.bytes = a
                .batches
                .iter()
                .map(|b| b.get_array_memory_size() as i64)
                .sum();
        }
        Err(QueryError::Denied(reason)) => {
            entry.outcome = "denied".into();
            entry.reason = Some(reason.clone());
        }
        Err(e) => {
            entry.outcome = "error".into();
            entry.reason = Some(e.to_string());
        }
    }
    lake.audit(&entry).await?;
    result
}

/// What a statement returns and the types of its parameters, without
/// running it: for clients that ask before they execute (the PostgreSQL
/// protocol's Describe). A refusal is audited like a refused query.
pub struct Description {
    pub schema: datafusion::arrow::datatypes::SchemaRef,
    /// `$1, $2...`: the type each place takes, when the query says.
    pub params: Vec<Option<datafusion::arrow::datatypes::DataType>>,
}

pub async fn describe(
    lake: &Lake,
    principal: &Principal,
    purpose: Option<&str>,
    sql: &str,
    limits: &QueryLimits,
) -> Result<Description, QueryError> {
    let mut entry = query_entry(principal, purpose);
    let prepared = prepare(lake, principal, purpose, sql, limits, &mut entry).await;
    let described = prepared.and_then(|p| {
        let types =
            p.df.logical_plan()
                .get_parameter_types()
                .map_err(|e| QueryError::Failed(e.to_string()))?;
        let params = (1..=types.len())
            .map(|i| types.get(&format!("${i}")).cloned().flatten())
            .collect();
        Ok(Description {
            schema: p.df.schema().inner().clone(),
            params,
        })
    });
    if let Err(e) = &described {
        entry.outcome = if matches!(e, QueryError::Denied(_)) {
            "denied".into()
        } else {
            "error".into()
        };
        entry.reason = Some(e.to_string());
        lake.audit(&entry).await?;
    }
    described
}

/// The audit entry of one query, before it runs.
fn query_entry(principal: &Principal, purpose: Option<&str>) -> AuditEntry {
    AuditEntry {
        principal: principal.name.clone(),
        institution: principal.institution.clone(),
        purpose: purpose.map(str::to_owned),
        action: "query".into(),
        ..Default::default()
    }
}

/// A statement checked, authorised and planned in the reader's session.
struct Prepared {
    df: datafusion::prelude::DataFrame,
    session: GovernedSession,
    tables: BTreeSet<String>,
}

async fn prepare(
    lake: &Lake,
    principal: &Principal,
    purpose: Option<&str>,
    sql: &str,
    limits: &QueryLimits,
    entry: &mut AuditEntry,
) -> Result<Prepared, QueryError> {
    let reader = reader(lake, principal, purpose).await?;
    let coordinator = reader.coordinator;
    let guard_limits = GuardLimits {
        max_sql_bytes: limits.max_sql_bytes,
        catalog_schemas: coordinator,
    };
    let checked =
        guard::check(sql, &guard_limits).map_err(|d| QueryError::Denied(d.to_string()))?;
    let named: BTreeSet<String> = checked
        .tables
        .iter()
        .map(|t| dataset_of(t).to_owned())
        .collect();
    entry.datasets = named.iter().cloned().collect();
    let grants = lake
        .catalog
        .live_grants(&principal.name, &principal.institution, now_micros())
        .await?;
    let session = GovernedSession::open(lake, &reader, &grants).await?;
    for table in &named {
        if let Some(Err(reason)) = session.access.get(table) {
            return Err(QueryError::Denied(reason.clone()));
        }
    }
    let options = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    let df = match session.ctx.sql_with_options(sql, options).await {
        Ok(df) => df,
        Err(e) => {
            return Err(explain_planning_error(&e.to_string(), &named, &session));
        }
    };
    // What the record says was read comes from the plan, not from the
    // statement's text: a CTE that shadows a table's name, a qualified
    // name or a subquery cannot hide a read from the provider's report.
    let tables = tables_scanned(df.logical_plan());
    entry.datasets = tables.iter().cloned().collect();
    entry.grants = tables
        .iter()
        .filter_map(|t| session.access.get(t).and_then(|a| a.as_ref().ok()))
        .flat_map(|a| a.grants.iter().cloned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    Ok(Prepared {
        df,
        session,
        tables,
    })
}

/// The dataset a table reference names: `obitos`, `public.obitos` and
/// `datafusion.public.obitos` are the same table.
fn dataset_of(table: &str) -> &str {
    table
        .strip_prefix("datafusion.public.")
        .or_else(|| table.strip_prefix("public."))
        .unwrap_or(table)
}

/// Every table the plan scans, subqueries included (`system.audit` keeps its schema).
fn tables_scanned(plan: &LogicalPlan) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            out.insert(dataset_of(&scan.table_name.to_string()).to_owned());
        }
        Ok(TreeNodeRecursion::Continue)
    });
    out
}

/// Binds text parameters to the places of a planned statement.
fn bind(
    df: datafusion::prelude::DataFrame,
    params: &[Option<String>],
) -> Result<datafusion::prelude::DataFrame, QueryError> {
    use datafusion::arrow::datatypes::DataType;
    use datafusion::scalar::ScalarValue;
    if params.is_empty() {
        return Ok(df);
    }
    let types = df
        .logical_plan()
        .get_parameter_types()
        .map_err(|e| QueryError::Failed(e.to_string()))?;
    let values = params
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let place = format!("${}", i + 1);
            let data_type = types
                .get(&place)
                .cloned()
                .flatten()
                .unwrap_or(DataType::Utf8);
            match text {
                None => ScalarValue::try_from(&data_type),
                Some(t) => ScalarValue::try_from_string(t.clone(), &data_type),
            }
            .map_err(|e| QueryError::Failed(format!("parameter {place}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    df.with_param_values(values)
        .map_err(|e| QueryError::Failed(e.to_string()))
}

async fn answer(
    lake: &Lake,
    principal: &Principal,
    purpose: Option<&str>,
    sql: &str,
    params: &[Option<String>],
    limits: &QueryLimits,
    entry: &mut AuditEntry,
) -> Result<Answer, QueryError> {
    let Prepared {
        df,
        session,
        tables,
    } = prepare(lake, principal, purpose, sql, limits, entry).await?;
    let df = bind(df, params)?;
    let plan = df
        .clone()
        .into_optimized_plan()
        .map_err(|e| QueryError::Failed(e.to_string()))?;
    entry.columns = columns_read(&plan);
    let schema = df.schema().inner().clone();
    let collect = async {
        let mut stream = df
            .execute_stream()
            .await
            .map_err(|e| execution_error(lake, e))?;
        let (mut batches, mut rows) = (Vec::new(), 0usize);
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| execution_error(lake, e))?;
            rows += batch.num_rows();
            if rows > limits.max_rows {
                return Err(QueryError::TooManyRows(limits.max_rows));
            }
            batches.push(batch);
        }
        Ok((batches, rows))
    };
    let (batches, rows) = tokio::time::timeout(limits.timeout, collect)
        .await
        .map_err(|_| QueryError::Timeout(limits.timeout))??;
    // Only the lake's datasets (not `system.audit`).
    let datasets: Vec<String> = tables
        .iter()
        .filter(|t| session.access.contains_key(*t))
        .cloned()
        .collect();
    entry.datasets = tables.into_iter().collect();
    Ok(Answer {
        schema,
        batches,
        rows,
        datasets,
        columns: entry.columns.clone(),
        grants: entry.grants.clone(),
    })
}

/// The principal as the policy sees it, declaring `purpose`.
pub async fn reader(
    lake: &Lake,
    principal: &Principal,
    purpose: Option<&str>,
) -> Result<Reader, LakeError> {
    let coordinator = principal.role == lagoa_core::Role::Admin
        || lake
            .catalog
            .institution(&principal.institution)
            .await?
            .is_some_and(|i| i.role == lagoa_core::InstitutionRole::Coordinator);
    Ok(Reader {
        principal: principal.name.clone(),
        institution: principal.institution.clone(),
        role: principal.role,
        purpose: purpose.map(str::to_owned),
        coordinator,
    })
}

/// A column the reader may not see is missing from its view, so planning
/// fails with "no field named …": say why instead.
fn explain_planning_error(
    message: &str,
    tables: &BTreeSet<String>,
    session: &GovernedSession,
) -> QueryError {
    for table in tables {
        let Some(Ok(access)) = session.access.get(table) else {
            continue;
        };
        for (column, seen) in &access.columns {
            let named = message.contains(&format!("named {column}"))
                || message.contains(&format!("named {table}.{column}"))
                || message.contains(&format!("\"{column}\""));
            if *seen != crate::policy::ColumnAccess::Clear && named {
                return QueryError::Denied(format!(
                    "{table}.{column} is not available to you: no grant of yours gives it for this purpose"
                ));
            }
        }
    }
    QueryError::Failed(message.to_owned())
}

/// A failure while the query runs; running out of the memory pool says so.
fn execution_error(lake: &Lake, e: datafusion::error::DataFusionError) -> QueryError {
    let message = e.to_string();
    if message.contains("Resources exhausted") {
        QueryError::OutOfMemory(lake.config.query.memory_limit.clone())
    } else {
        QueryError::Failed(message)
    }
}

/// `dataset.column` for every column the plan reads from storage.
fn columns_read(plan: &LogicalPlan) -> Vec<String> {
    let mut out = BTreeSet::new();
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            for field in scan.projected_schema.fields() {
                out.insert(format!("{}.{}", scan.table_name, field.name()));
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    out.into_iter().collect()
}
