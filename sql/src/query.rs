//! One governed query: admitted by the engine (`engine.rs`), then the
//! guard, the policy, the session, planning and execution, and the audit
//! entry, in that order. Every query, refused or not, leaves an entry; a
//! query whose entry cannot be written returns nothing; a query whose
//! client went away is recorded as `cancelled`.
//!
//! Where each step runs: the guard, planning and execution on the query's
//! own threads (deep statements recurse; the engine ends them all at the
//! deadline); the catalog reads and the audit write on the caller's
//! runtime, which owns the catalog's connections.

use crate::engine::{EngineLimits, QueryEngine, QueryThreads};
use crate::guard::{self, GuardLimits};
pub use crate::query_error::QueryError;
use crate::record::{Record, entry_of};
use crate::session::GovernedSession;
use datafusion::arrow::array::RecordBatch;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{DataFrame, SQLOptions};
use futures::StreamExt;
use lagoa_governance::Principal;
use lagoa_governance::policy::Reader;
use lagoa_lake::catalog::{AuditEntry, now_micros};
use lagoa_lake::{AsOf, Lake, LakeError};
use std::collections::BTreeSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Limits of governed queries, from `[query]` in `lagoa.toml`.
#[derive(Clone, Debug)]
pub struct QueryLimits {
    pub max_rows: usize,
    pub max_sql_bytes: usize,
    pub max_depth: usize,
    pub max_expression_nodes: usize,
    pub max_relations: u64,
    /// Largest value or batch one function may produce.
    pub max_value_bytes: usize,
    pub engine: EngineLimits,
    /// Server-side cursors' (see `streamed.rs`).
    pub cursor: crate::streamed::CursorLimits,
}

impl QueryLimits {
    pub fn from_config(config: &lagoa_lake::config::QueryConfig) -> Self {
        let memory = lagoa_lake::config::parse_size(&config.memory_limit).unwrap_or(4 << 30);
        Self {
            max_rows: config.max_rows,
            max_sql_bytes: config.max_sql_bytes,
            max_depth: config.max_depth,
            max_expression_nodes: config.max_expression_nodes,
            max_relations: config.max_relations,
            max_value_bytes: memory / 4,
            engine: EngineLimits {
                timeout: Duration::from_secs(config.timeout_seconds),
                max_concurrent: config.max_concurrent,
                max_per_principal: config.max_per_principal,
                max_queued: config.max_queued,
                queue_timeout: Duration::from_secs(config.queue_timeout_seconds),
                background_after: Duration::from_millis(config.background_after_ms),
            },
            cursor: crate::streamed::CursorLimits {
                max_rows: config.cursor_max_rows,
                timeout: Duration::from_secs(config.cursor_timeout_seconds),
                idle: Duration::from_secs(config.cursor_idle_seconds),
                max_per_principal: config.cursor_max_per_principal,
            },
        }
    }

    /// The guard's limits, for a reader who may (or may not) read the catalog schemas.
    pub fn guard(&self, catalog_schemas: bool) -> GuardLimits {
        GuardLimits {
            max_sql_bytes: self.max_sql_bytes,
            catalog_schemas,
            max_depth: self.max_depth,
            max_nodes: self.max_expression_nodes,
            max_relations: self.max_relations,
        }
    }
}

impl Default for QueryLimits {
    fn default() -> Self {
        Self::from_config(&lagoa_lake::config::QueryConfig::default())
    }
}

pub struct Answer {
    pub schema: datafusion::arrow::datatypes::SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub rows: usize,
    pub datasets: Vec<String>,
    pub columns: Vec<String>,
    pub grants: Vec<String>,
}

/// What a statement returns and the types of its parameters, without
/// running it: for clients that ask before they execute (the PostgreSQL
/// protocol's Describe). A refusal is audited like a refused query.
#[derive(Debug)]
pub struct Description {
    pub schema: datafusion::arrow::datatypes::SchemaRef,
    /// `$1, $2...`: the type each place takes, when the query says.
    pub params: Vec<Option<datafusion::arrow::datatypes::DataType>>,
}

/// One statement, as a principal sends it.
#[derive(Clone, Copy, Debug)]
pub struct QueryRequest<'a> {
    pub principal: &'a Principal,
    pub purpose: Option<&'a str>,
    pub sql: &'a str,
    /// `$1, $2...` as text (as the PostgreSQL protocol sends them; `None`
    /// is NULL), each read as the type the query gives its place.
    pub params: &'a [Option<String>],
    /// The types the client declared for `$1, $2...` (the PostgreSQL
    /// protocol's Parse), for the places the query leaves open
    /// (`pg_get_constraintdef(oid, $2)`); the query's own types come first.
    pub param_types: &'a [Option<datafusion::arrow::datatypes::DataType>],
    /// Which state of the lake to read: the data as it was then, under the
    /// policy in force now (see `GovernedSession::open`).
    pub as_of: AsOf,
    /// The rows leave as an export (the PostgreSQL port's `COPY ... TO
    /// STDOUT`, in the format named here): the audit entry says so.
    pub export: Option<&'a str>,
    /// The client's session settings (the PostgreSQL port's, `SET` by the
    /// client), for `current_setting` and `pg_settings`; `None`: the
    /// defaults (`pg_settings::defaults`).
    pub settings: Option<&'a crate::pg_settings::Settings>,
}

impl<'a> QueryRequest<'a> {
    pub fn new(principal: &'a Principal, purpose: Option<&'a str>, sql: &'a str) -> Self {
        QueryRequest {
            principal,
            purpose,
            sql,
            params: &[],
            param_types: &[],
            as_of: AsOf::Latest,
            export: None,
            settings: None,
        }
    }

    /// The same request, reading the lake as it was at `as_of`.
    pub fn as_of(self, as_of: AsOf) -> Self {
        QueryRequest { as_of, ..self }
    }
}

/// The governed query service of one process: the lake, the engine and
/// the limits. Cheap to clone; clones share the engine.
#[derive(Clone)]
pub struct QueryService {
    lake: Arc<Lake>,
    engine: QueryEngine,
    limits: QueryLimits,
    /// Server-side cursors open now, per principal.
    pub(crate) cursors: Arc<crate::streamed::OpenCursors>,
    /// Where planned statements run when not here (`[query] engine`).
    remote: Option<Arc<dyn crate::remote::RemoteEngine>>,
    metrics: Arc<crate::metrics::QueryMetrics>,
}

impl std::fmt::Debug for QueryService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryService")
            .field("engine", &self.engine)
            .field("limits", &self.limits)
            .finish()
    }
}

impl QueryService {
    /// With the limits of the lake's `[query]` configuration.
    pub fn new(lake: Arc<Lake>) -> Self {
        let limits = QueryLimits::from_config(&lake.config.query);
        Self::with_limits(lake, limits)
    }

    pub fn with_limits(lake: Arc<Lake>, limits: QueryLimits) -> Self {
        QueryService {
            engine: QueryEngine::new(limits.engine.clone()),
            cursors: Arc::default(),
            remote: None,
            metrics: Arc::default(),
            lake,
            limits,
        }
    }

    /// Its queries counted by outcome and latency (`/metrics`).
    pub fn metrics(&self) -> &Arc<crate::metrics::QueryMetrics> {
        &self.metrics
    }

    /// The service running its planned statements on `remote`.
    pub fn with_remote(mut self, remote: Arc<dyn crate::remote::RemoteEngine>) -> Self {
        self.remote = Some(remote);
        self
    }

    pub fn lake(&self) -> &Arc<Lake> {
        &self.lake
    }

    pub fn engine(&self) -> &QueryEngine {
        &self.engine
    }

    pub fn limits(&self) -> &QueryLimits {
        &self.limits
    }

    /// Runs one statement until its answer, its deadline or `cancel`.
    pub async fn run(
        &self,
        request: &QueryRequest<'_>,
        cancel: impl Future<Output = ()>,
    ) -> Result<Answer, QueryError> {
        let record = Record::new((&self.lake, &self.metrics), request, true);
        let result = self
            .engine
            .run(&request.principal.name, cancel, |threads| {
                self.answer(threads, request, &record)
            })
            .await;
        record
            .finish(&result, |a| {
                (
                    a.rows,
                    a.batches.iter().map(|b| b.get_array_memory_size()).sum(),
                )
            })
            .await?;
        result
    }

    /// Plans one statement and says what it returns; a refusal or failure
    /// is audited (a statement that runs is audited when it runs).
    pub async fn describe(
        &self,
        request: &QueryRequest<'_>,
        cancel: impl Future<Output = ()>,
    ) -> Result<Description, QueryError> {
        let record = Record::new((&self.lake, &self.metrics), request, false);
        let recording = &record;
        let result = self
            .engine
            .run(&request.principal.name, cancel, |threads| async move {
                let opened = self.open(&threads, request, recording).await?;
                let entry = recording.shared();
                threads
                    .run(async move {
                        let (df, _) = opened.plan(&entry).await?;
                        let types = df
                            .logical_plan()
                            .get_parameter_types()
                            .map_err(QueryError::failed)?;
                        let params = (1..=types.len())
                            .map(|i| types.get(&format!("${i}")).cloned().flatten())
                            .collect();
                        Ok(Description {
                            schema: df.schema().inner().clone(),
                            params,
                        })
                    })
                    .await
            })
            .await;
        record.finish(&result, |_| (0, 0)).await?;
        result
    }

    /// A statement checked (on the query's threads) and the reader's
    /// session opened (here, where the catalog's connections live).
    pub(crate) async fn open(
        &self,
        threads: &QueryThreads,
        request: &QueryRequest<'_>,
        record: &Record,
    ) -> Result<Opened, QueryError> {
        let lake = &self.lake;
        let principal = request.principal;
        let reader = reader(lake, principal, request.purpose).await?;
        let guard_limits = self.limits.guard(reader.coordinator);
        // Too long a statement is not parsed for rewriting: the guard
        // refuses it as it came.
        let sql = if request.sql.len() <= guard_limits.max_sql_bytes {
            postgres_compatible(request.sql)
        } else {
            request.sql.to_owned()
        };
        let checked_sql = sql.clone();
        let checked = threads
            .run(async move { guard::check(&checked_sql, &guard_limits).map_err(QueryError::from) })
            .await?;
        let named: BTreeSet<String> = checked
            .tables
            .iter()
            .map(|t| dataset_of(t).to_owned())
            .collect();
        record.update(|e| e.datasets = named.iter().cloned().collect());
        let grants = lagoa_governance::GovernanceStore::of(&lake.catalog)
            .live_grants(&principal.name, &principal.institution, now_micros())
            .await?;
        let session = GovernedSession::open(
            lake,
            &reader,
            &grants,
            self.limits.max_value_bytes,
            (
                request.as_of,
                asks_pg_catalog(request.sql).then(|| {
                    let mut settings = request
                        .settings
                        .cloned()
                        .unwrap_or_else(crate::pg_settings::defaults);
                    settings.insert(
                        crate::pg_settings::SESSION_USER.to_owned(),
                        principal.name.clone(),
                    );
                    Arc::new(settings)
                }),
            ),
        )
        .await?;
        let mut subject = Vec::new();
        if let Some(format) = request.export {
            subject.push(format!("exported: COPY TO STDOUT ({format})"));
        }
        if request.as_of != AsOf::Latest {
            subject.push(format!("as of snapshot {}", session.snapshot));
        }
        if !subject.is_empty() {
            record.update(|e| e.subject = Some(subject.join("; ")));
        }
        for table in &named {
            if let Some(Err(reason)) = session.access.get(table) {
                return Err(QueryError::Denied(reason.clone()));
            }
        }
        Ok(Opened {
            session,
            named,
            sql,
            memory_limit: lake.config.query.memory_limit.clone(),
            remote: self.remote.clone(),
        })
    }

    async fn answer(
        &self,
        threads: QueryThreads,
        request: &QueryRequest<'_>,
        record: &Record,
    ) -> Result<Answer, QueryError> {
        let opened = self.open(&threads, request, record).await?;
        let entry = record.shared();
        let params = (request.params.to_vec(), request.param_types.to_vec());
        let max_rows = self.limits.max_rows;
        let memory_limit = self.lake.config.query.memory_limit.clone();
        // Planning, optimizing and running in one visit to the query's
        // threads: each visit is a wake-up of another thread.
        threads
            .run(async move {
                let started = opened.start(&entry, &params).await?;
                let Started {
                    schema,
                    mut stream,
                    datasets,
                    columns,
                } = started;
                let (mut batches, mut rows) = (Vec::new(), 0usize);
                while let Some(batch) = stream.next().await {
                    let batch = batch.map_err(|e| execution_error(e, &memory_limit))?;
                    rows += batch.num_rows();
                    if rows > max_rows {
                        return Err(QueryError::TooManyRows(max_rows));
                    }
                    batches.push(batch);
                }
                let grants = entry_of(&entry).grants.clone();
                Ok(Answer {
                    schema,
                    batches,
                    rows,
                    datasets,
                    columns,
                    grants,
                })
            })
            .await
    }
}

/// A statement planned and started: its rows to be read from `stream`.
pub(crate) struct Started {
    pub schema: datafusion::arrow::datatypes::SchemaRef,
    pub stream: datafusion::physical_plan::SendableRecordBatchStream,
    /// The lake's datasets it reads (not `system.audit`).
    pub datasets: Vec<String>,
    pub columns: Vec<String>,
}

/// A statement that passed the guard, and the session it runs in.
pub(crate) struct Opened {
    session: GovernedSession,
    /// The datasets its text names.
    named: BTreeSet<String>,
    /// The statement as checked and planned (PostgreSQL's catalog idioms
    /// rewritten, see `postgres_compatible`).
    sql: String,
    /// `query.memory_limit`, for the error that says it ran out.
    memory_limit: String,
    remote: Option<Arc<dyn crate::remote::RemoteEngine>>,
}

impl Opened {
    /// Plans the statement with its parameters bound, records what it
    /// reads, and starts it; on the query's threads.
    pub(crate) async fn start(
        &self,
        entry: &Mutex<AuditEntry>,
        (params, declared): &(
            Vec<Option<String>>,
            Vec<Option<datafusion::arrow::datatypes::DataType>>,
        ),
    ) -> Result<Started, QueryError> {
        let memory_limit = &self.memory_limit;
        let (df, tables) = self.plan(entry).await?;
        let df = bind(df, params, declared)?;
        let plan = df
            .clone()
            .into_optimized_plan()
            .map_err(QueryError::failed)?;
        let columns = columns_read(&plan);
        entry_of(entry).columns = columns.clone();
        let schema = df.schema().inner().clone();
        let stream = match &self.remote {
            Some(remote) => remote.execute(df, &self.session.allowed).await,
            None => df.execute_stream().await,
        }
        .map_err(|e| execution_error(e, memory_limit))?;
        let datasets = tables
            .into_iter()
            .filter(|t| self.session.access.contains_key(t))
            .collect();
        Ok(Started {
            schema,
            stream,
            datasets,
            columns,
        })
    }

    /// Plans the statement (read-only) and records, from the plan, what it
    /// reads; on the query's threads.
    async fn plan(
        &self,
        entry: &Mutex<AuditEntry>,
    ) -> Result<(DataFrame, BTreeSet<String>), QueryError> {
        let sql = self.sql.as_str();
        let options = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        let df = self
            .session
            .ctx
            .sql_with_options(sql, options)
            .await
            .map_err(|e| explain_planning_error(&e.to_string(), &self.named, &self.session))?;
        // What the record says was read comes from the plan, not from the
        // statement's text: a CTE that shadows a table's name, a qualified
        // name or a subquery cannot hide a read from the provider's report.
        let tables = tables_scanned(df.logical_plan());
        let mut e = entry_of(entry);
        e.datasets = tables.iter().cloned().collect();
        e.grants = tables
            .iter()
            .filter_map(|t| self.session.access.get(t).and_then(|a| a.as_ref().ok()))
            .flat_map(|a| a.grants.iter().cloned())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        Ok((df, tables))
    }
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

/// A statement that uses PostgreSQL's catalog, with PostgreSQL's idioms
/// BI tools send (`'t'::regclass`, `OPERATOR(pg_catalog.~)`, psql's and
/// DBeaver's catalog queries) rewritten by `datafusion-pg-catalog` into
/// what the engine plans, and its unqualified `pg_…` tables read from
/// `pg_catalog`, which PostgreSQL searches first; any other statement as
/// it came. The guard checks the rewritten text, so it decides on what
/// runs.
fn postgres_compatible(sql: &str) -> String {
    use datafusion::sql::sqlparser::ast::{Ident, ObjectNamePart, visit_relations_mut};
    static PARSER: std::sync::OnceLock<datafusion_pg_catalog::sql::PostgresCompatibilityParser> =
        std::sync::OnceLock::new();
    if !asks_pg_catalog(sql) && !sql.contains("::reg") {
        return sql.to_owned();
    }
    let parser = PARSER.get_or_init(datafusion_pg_catalog::sql::PostgresCompatibilityParser::new);
    let by_name = crate::pg_rewrite::procedure_names(sql);
    let sql = by_name.as_deref().unwrap_or(sql);
    match parser.parse(sql) {
        Ok(mut statements) if statements.len() == 1 => {
            let _ = visit_relations_mut(&mut statements[0], |name| {
                let unqualified_pg = name.0.len() == 1
                    && name.0[0]
                        .as_ident()
                        .is_some_and(|i| i.value.to_ascii_lowercase().starts_with("pg_"));
                if unqualified_pg {
                    name.0
                        .insert(0, ObjectNamePart::Identifier(Ident::new("pg_catalog")));
                }
                std::ops::ControlFlow::<()>::Continue(())
            });
            crate::pg_rewrite::rewrite(&mut statements[0]);
            statements[0].to_string()
        }
        // Several statements or none: the guard says so on the original.
        _ => sql.to_owned(),
    }
}

/// Whether a statement uses PostgreSQL's catalog (its tables or the
/// functions clients call with them): only then is it set up, as it costs
/// a few milliseconds a session.
fn asks_pg_catalog(sql: &str) -> bool {
    let lower = sql.to_ascii_lowercase();
    [
        "pg_",
        "_privilege",
        "format_type",
        "quote_ident",
        "parse_ident",
        "current_schemas",
        "array_upper",
        "array_lower",
        "current_setting",
        "generate_subscripts",
    ]
    .iter()
    .any(|word| lower.contains(word))
}

/// The type each placeholder is directly cast to in `plan`, subqueries
/// included (`CAST($1 AS DATE)` gives `$1` the type DATE).
fn placeholder_casts(
    plan: &LogicalPlan,
) -> std::collections::HashMap<String, datafusion::arrow::datatypes::DataType> {
    use datafusion::common::tree_node::TreeNode;
    use datafusion::logical_expr::{Cast, Expr, TryCast};
    let mut found = std::collections::HashMap::new();
    let _ = plan.apply_with_subqueries(|node| {
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                let (inner, to) = match e {
                    Expr::Cast(Cast { expr, field }) => (expr, field.data_type()),
                    Expr::TryCast(TryCast { expr, field }) => (expr, field.data_type()),
                    _ => return Ok(TreeNodeRecursion::Continue),
                };
                if let Expr::Placeholder(p) = inner.as_ref() {
                    found.entry(p.id.clone()).or_insert_with(|| to.clone());
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    });
    found
}

/// A parameter's text as the engine parses it for `data_type`: a date may
/// come with a time zone, as pgJDBC sends `java.sql.Date` (`2024-01-02
/// +00`), which PostgreSQL's date input ignores.
fn as_typed_text(text: &str, data_type: &datafusion::arrow::datatypes::DataType) -> String {
    use datafusion::arrow::datatypes::DataType;
    if matches!(data_type, DataType::Date32 | DataType::Date64)
        && let Some((date, zone)) = text.trim().split_once(' ')
        && zone.starts_with(['+', '-'])
        && zone[1..].chars().all(|c| c.is_ascii_digit() || c == ':')
    {
        return date.to_owned();
    }
    text.to_owned()
}

fn bind(
    df: DataFrame,
    params: &[Option<String>],
    declared: &[Option<datafusion::arrow::datatypes::DataType>],
) -> Result<DataFrame, QueryError> {
    use datafusion::arrow::datatypes::DataType;
    use datafusion::scalar::ScalarValue;
    if params.is_empty() {
        return Ok(df);
    }
    let types = df
        .logical_plan()
        .get_parameter_types()
        .map_err(QueryError::failed)?;
    let cast_to = placeholder_casts(df.logical_plan());
    let values = params
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let place = format!("${}", i + 1);
            // The type the query gives the place; for a place the planner
            // leaves open, the type it is cast to (`CAST($1 AS DATE)`), as
            // PostgreSQL resolves an untyped parameter from its context;
            // then the type the client declared; text when nobody says.
            let data_type = types
                .get(&place)
                .cloned()
                .flatten()
                .or_else(|| cast_to.get(&place).cloned())
                .or_else(|| declared.get(i).cloned().flatten())
                .unwrap_or(DataType::Utf8);
            match text {
                None => ScalarValue::try_from(&data_type),
                Some(t) => ScalarValue::try_from_string(as_typed_text(t, &data_type), &data_type),
            }
            .map_err(|e| QueryError::failed(format!("parameter {place}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    df.with_param_values(values).map_err(QueryError::failed)
}

/// The principal as the policy sees it, declaring `purpose`.
pub async fn reader(
    lake: &Lake,
    principal: &Principal,
    purpose: Option<&str>,
) -> Result<Reader, LakeError> {
    let coordinator = principal.role == lagoa_core::Role::Admin
        || lagoa_governance::GovernanceStore::of(&lake.catalog)
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
            if *seen != lagoa_governance::policy::ColumnAccess::Clear && named {
                return QueryError::Denied(format!(
                    "{table}.{column} is not available to you: no grant of yours gives it for this purpose"
                ));
            }
        }
    }
    // A misspelt dataset: the nearest of those the reader may read.
    let readable = session
        .access
        .iter()
        .filter(|(_, access)| access.is_ok())
        .map(|(name, _)| name.as_str());
    if let Some(name) = crate::suggest::for_missing_table(message, readable) {
        return QueryError::Failed(format!(
            "{}; did you mean {name}?",
            crate::redact::redact(message)
        ));
    }
    QueryError::failed(message)
}

/// A failure while the query runs; running out of the memory pool, or a
/// value over its bound, says so.
pub(crate) fn execution_error(
    e: datafusion::error::DataFusionError,
    memory_limit: &str,
) -> QueryError {
    let message = e.to_string();
    if message.contains("Resources exhausted") {
        QueryError::OutOfMemory(memory_limit.to_owned())
    } else {
        QueryError::failed(message)
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

/// What was read and how much: never the rows.
impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answer")
            .field("rows", &self.rows)
            .field("datasets", &self.datasets)
            .field("columns", &self.columns)
            .field("grants", &self.grants)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::DataType;

    #[test]
    fn a_date_parameter_may_carry_a_time_zone_as_pgjdbc_sends_it() {
        assert_eq!(
            as_typed_text("2024-01-02 +00", &DataType::Date32),
            "2024-01-02"
        );
        assert_eq!(
            as_typed_text("2024-01-02 -03:00", &DataType::Date32),
            "2024-01-02"
        );
        assert_eq!(as_typed_text("2024-01-02", &DataType::Date32), "2024-01-02");
        // Only dates: a text parameter is left as it is.
        assert_eq!(
            as_typed_text("2024-01-02 +00", &DataType::Utf8),
            "2024-01-02 +00"
        );
        assert_eq!(
            as_typed_text("2024-01-02 ab", &DataType::Date32),
            "2024-01-02 ab"
        );
    }

    #[tokio::test]
    async fn a_placeholder_left_open_takes_the_type_it_is_cast_to() {
        let ctx = datafusion::prelude::SessionContext::new();
        let df = ctx
            .sql("SELECT CAST($1 AS DATE) AS d, $2 + 1 AS n")
            .await
            .unwrap();
        let casts = placeholder_casts(df.logical_plan());
        assert_eq!(casts.get("$1"), Some(&DataType::Date32));
        let bound = bind(df, &[Some("2024-01-02 +00".into()), Some("41".into())], &[]).unwrap();
        let text = crate::test_support::answer_text(bound).await;
        assert!(text.contains("2024-01-02") && text.contains("42"), "{text}");
    }
}
