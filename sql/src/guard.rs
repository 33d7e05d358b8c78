//! The SQL guard: what an analyst may send, decided on the parsed
//! statement before DataFusion plans anything.
//!
//! One statement only, and only reads: `SELECT`/`WITH` queries (including
//! `VALUES` and set operations), `EXPLAIN` of such a query, `SHOW TABLES`,
//! `SHOW COLUMNS` and `DESCRIBE`. Refused, with the reason: DDL, DML,
//! `COPY`, `SET`, transactions, `CREATE`/`ATTACH` anything; table
//! functions and anything that names a file or URL; the `system` schema
//! unless the caller may read it (coordinators and admins); statements
//! longer than the limit. `information_schema` and `pg_catalog` are open to
//! everyone: they are built from the caller's own session, so they list
//! only the tables and columns the caller may read. The planner then runs the
//! statement with DDL, DML and statements disabled as a second fence.
//!
//! The statement's shape is bounded here too, before anything plans it:
//! how deeply expressions, subqueries and set operations nest (the
//! planner and optimizer recurse on them, and a chain of `1+1+…` a few
//! hundred terms long once overflowed a thread's stack), how many
//! expression nodes it has, and how many table references it expands to
//! once every CTE reference is inlined (a chain of CTEs that each read the
//! previous one twice doubles at every step). The walk stops descending
//! as soon as a bound is crossed, so measuring is itself bounded; callers
//! run it on a thread with a known stack (the query engine's).

use datafusion::sql::sqlparser::ast::{
    Expr, ObjectName, Query, SetExpr, Statement, TableFactor, Visit, Visitor,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use std::collections::BTreeSet;
use std::collections::HashMap;
use std::ops::ControlFlow;

/// Limits of the guard.
#[derive(Clone, Debug)]
pub struct GuardLimits {
    /// Longest statement accepted, in bytes.
    pub max_sql_bytes: usize,
    /// May read the `system` schema (coordinators and admins).
    pub catalog_schemas: bool,
    /// Deepest nesting of expressions, subqueries and set operations.
    pub max_depth: usize,
    /// Most expression nodes in the statement.
    pub max_nodes: usize,
    /// Most table references once every CTE reference is expanded.
    pub max_relations: u64,
}

impl Default for GuardLimits {
    fn default() -> Self {
        Self {
            max_sql_bytes: 64 * 1024,
            catalog_schemas: false,
            max_depth: 128,
            max_nodes: 20_000,
            max_relations: 256,
        }
    }
}

/// What a statement is, once it passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatementKind {
    Query,
    Explain,
    ShowTables,
    ShowColumns,
    Describe,
}

/// A statement that passed the guard.
#[derive(Clone, Debug)]
pub struct CheckedSql {
    pub kind: StatementKind,
    /// Tables the statement names (lowercase, as written: `obitos`,
    /// `system.runs`), without its own CTE names.
    pub tables: BTreeSet<String>,
}

/// Why a statement was refused. Messages name the construct, never data.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    #[error("the statement is empty")]
    Empty,
    #[error("the statement is {len} bytes long; the limit is {max}")]
    TooLong { len: usize, max: usize },
    #[error("the statement does not parse: {0}")]
    Parse(String),
    #[error("send one statement at a time ({0} were sent)")]
    Multiple(usize),
    #[error("{0} statements are not allowed: only SELECT, WITH, EXPLAIN, SHOW and DESCRIBE")]
    NotRead(String),
    #[error("table functions are not allowed ({0})")]
    TableFunction(String),
    #[error("reading files or URLs is not allowed ({0}); query the catalog's tables")]
    Path(String),
    #[error("the {0} schema is not available to you")]
    CatalogSchema(String),
    #[error("{0} is not allowed in analyst SQL")]
    Construct(&'static str),
    #[error(
        "the statement nests {what} more than {max} levels deep; flatten it (an IN list instead of a chain of OR, a join instead of nested subqueries)"
    )]
    TooDeep { what: &'static str, max: usize },
    #[error("the statement has more than {max} expression nodes; split it into smaller queries")]
    TooManyNodes { max: usize },
    #[error(
        "the statement reads more than {max} tables once its CTEs are expanded; a CTE read several times is planned once per reference"
    )]
    TooManyRelations { max: u64 },
}

/// Schemas only coordinators and admins read (the lake's runs, files and
/// audit trail), whatever their grants.
const RESTRICTED_SCHEMAS: [&str; 1] = ["system"];

/// Checks one analyst statement.
pub fn check(sql: &str, limits: &GuardLimits) -> Result<CheckedSql, Denial> {
    if sql.len() > limits.max_sql_bytes {
        return Err(Denial::TooLong {
            len: sql.len(),
            max: limits.max_sql_bytes,
        });
    }
    let statements = Parser::parse_sql(&GenericDialect {}, sql)
        .map_err(|e| Denial::Parse(crate::redact::redact(&e.to_string())))?;
    let statement = match statements.len() {
        0 => return Err(Denial::Empty),
        1 => &statements[0],
        n => return Err(Denial::Multiple(n)),
    };
    measure_shape(statement, limits)?;
    let kind = match statement {
        Statement::Query(q) => {
            check_query_shape(q)?;
            StatementKind::Query
        }
        Statement::Explain { statement, .. } => match statement.as_ref() {
            Statement::Query(q) => {
                check_query_shape(q)?;
                StatementKind::Explain
            }
            other => return Err(Denial::NotRead(kind_name(other))),
        },
        Statement::ShowTables { .. } => StatementKind::ShowTables,
        Statement::ShowColumns { .. } => StatementKind::ShowColumns,
        Statement::ExplainTable { .. } => StatementKind::Describe,
        other => return Err(Denial::NotRead(kind_name(other))),
    };
    let mut walk = Walk {
        tables: BTreeSet::new(),
        ctes: BTreeSet::new(),
        generator_call: false,
        denial: None,
        limits,
    };
    let _ = statement.visit(&mut walk);
    if let Some(denial) = walk.denial {
        return Err(denial);
    }
    let tables = walk
        .tables
        .into_iter()
        .filter(|t| !walk.ctes.contains(t))
        .collect();
    Ok(CheckedSql { kind, tables })
}

/// Bounds the shape of `sql` and nothing else: for the lake's owner, who
/// may run any read but must not overflow the planner either.
pub fn check_shape(sql: &str, limits: &GuardLimits) -> Result<(), Denial> {
    if sql.len() > limits.max_sql_bytes {
        return Err(Denial::TooLong {
            len: sql.len(),
            max: limits.max_sql_bytes,
        });
    }
    let statements = Parser::parse_sql(&GenericDialect {}, sql)
        .map_err(|e| Denial::Parse(crate::redact::redact(&e.to_string())))?;
    statements
        .iter()
        .try_for_each(|statement| measure_shape(statement, limits))
}

/// `SELECT … INTO` creates a table; refuse it here.
fn check_query_shape(query: &Query) -> Result<(), Denial> {
    fn body(set: &SetExpr) -> Result<(), Denial> {
        match set {
            SetExpr::Select(s) if s.into.is_some() => Err(Denial::Construct("SELECT INTO")),
            SetExpr::SetOperation { left, right, .. } => {
                body(left)?;
                body(right)
            }
            SetExpr::Query(q) => body(&q.body),
            SetExpr::Insert(_) | SetExpr::Update(_) | SetExpr::Delete(_) | SetExpr::Merge(_) => {
                Err(Denial::NotRead("INSERT/UPDATE/DELETE/MERGE".into()))
            }
            _ => Ok(()),
        }
    }
    body(&query.body)
}

/// The statement's kind in words, for the refusal.
fn kind_name(statement: &Statement) -> String {
    let text = statement.to_string();
    let words: Vec<&str> = text.split_whitespace().take(2).collect();
    match words.as_slice() {
        [first, second]
            if matches!(
                first.to_ascii_uppercase().as_str(),
                "CREATE" | "DROP" | "ALTER" | "SHOW"
            ) =>
        {
            format!(
                "{} {}",
                first.to_ascii_uppercase(),
                second.to_ascii_uppercase()
            )
        }
        [first, ..] => first.to_ascii_uppercase(),
        [] => "empty".into(),
    }
}

/// Refuses a statement whose shape crosses a bound of `limits`.
pub fn measure_shape(statement: &Statement, limits: &GuardLimits) -> Result<(), Denial> {
    let mut shape = Shape {
        limits,
        depth: 0,
        nodes: 0,
        frames: vec![Frame::default()],
        cte_bodies: HashMap::new(),
        ctes: HashMap::new(),
        denial: None,
    };
    let _ = statement.visit(&mut shape);
    match shape.denial {
        Some(d) => Err(d),
        None => Ok(()),
    }
}

/// The walk that measures a statement's shape: nesting depth, expression
/// nodes, and table references with CTE references expanded.
struct Shape<'a> {
    limits: &'a GuardLimits,
    depth: usize,
    nodes: usize,
    /// One frame per query being walked.
    frames: Vec<Frame>,
    /// The CTE bodies of the queries being walked, by address, with their
    /// names: when such a body is finished, its count becomes the CTE's weight.
    cte_bodies: HashMap<usize, String>,
    /// Each CTE finished so far: what reading it weighs.
    ctes: HashMap<String, Frame>,
    denial: Option<Denial>,
}

impl Shape<'_> {
    fn deny(&mut self, denial: Denial) -> ControlFlow<()> {
        self.denial.get_or_insert(denial);
        ControlFlow::Break(())
    }

    fn enter(&mut self, what: &'static str) -> ControlFlow<()> {
        self.depth += 1;
        if self.depth > self.limits.max_depth {
            return self.deny(Denial::TooDeep {
                what,
                max: self.limits.max_depth,
            });
        }
        ControlFlow::Continue(())
    }

    fn count(&mut self, weight: u64) -> ControlFlow<()> {
        let frame = self.frames.last_mut().expect("a frame per query");
        frame.relations = frame.relations.saturating_add(weight);
        let total = self
            .frames
            .iter()
            .fold(0u64, |a, f| a.saturating_add(f.relations));
        if total > self.limits.max_relations {
            return self.deny(Denial::TooManyRelations {
                max: self.limits.max_relations,
            });
        }
        ControlFlow::Continue(())
    }
}

/// What a query (or a CTE, once walked) weighs: the table references it
/// expands to, and how long the chain of CTEs it reads is.
#[derive(Clone, Copy, Debug, Default)]
struct Frame {
    relations: u64,
    chain: usize,
}

/// How many set operations (`UNION`, `EXCEPT`, `INTERSECT`) chain in a
/// query body, walked without recursion.
fn set_operation_depth(body: &SetExpr) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(body, 0usize)];
    while let Some((set, depth)) = stack.pop() {
        deepest = deepest.max(depth);
        if let SetExpr::SetOperation { left, right, .. } = set {
            stack.push((left, depth + 1));
            stack.push((right, depth + 1));
        }
    }
    deepest
}

impl Visitor for Shape<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        self.enter("subqueries")?;
        if set_operation_depth(&query.body) > self.limits.max_depth {
            return self.deny(Denial::TooDeep {
                what: "set operations (UNION, EXCEPT, INTERSECT)",
                max: self.limits.max_depth,
            });
        }
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                let address = std::ptr::from_ref::<Query>(&cte.query) as usize;
                self.cte_bodies
                    .insert(address, cte.alias.name.value.to_lowercase());
            }
        }
        self.frames.push(Frame::default());
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        self.depth -= 1;
        let frame = self.frames.pop().unwrap_or_default();
        let address = std::ptr::from_ref(query) as usize;
        match self.cte_bodies.remove(&address) {
            // A CTE costs nothing where it is defined, and its whole
            // weight wherever it is read; each CTE that reads another is
            // planned one level deeper.
            Some(name) => {
                let chain = frame.chain + 1;
                if chain > self.limits.max_depth {
                    return self.deny(Denial::TooDeep {
                        what: "CTEs that read each other",
                        max: self.limits.max_depth,
                    });
                }
                self.ctes.insert(
                    name,
                    Frame {
                        relations: frame.relations.max(1),
                        chain,
                    },
                );
                ControlFlow::Continue(())
            }
            None => {
                let parent = self.frames.last_mut().expect("the statement's frame");
                parent.chain = parent.chain.max(frame.chain);
                self.count(frame.relations)
            }
        }
    }

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<()> {
        let name = relation.to_string().trim_matches('"').to_lowercase();
        let read = self.ctes.get(&name).copied().unwrap_or(Frame {
            relations: 1,
            chain: 0,
        });
        let frame = self.frames.last_mut().expect("a frame per query");
        frame.chain = frame.chain.max(read.chain);
        self.count(read.relations)
    }

    fn pre_visit_expr(&mut self, _expr: &Expr) -> ControlFlow<()> {
        self.nodes += 1;
        if self.nodes > self.limits.max_nodes {
            return self.deny(Denial::TooManyNodes {
                max: self.limits.max_nodes,
            });
        }
        self.enter("expressions")
    }

    fn post_visit_expr(&mut self, _expr: &Expr) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }
}

struct Walk<'a> {
    tables: BTreeSet<String>,
    ctes: BTreeSet<String>,
    /// The table factor being walked calls a generator ([`GENERATORS`]):
    /// its name, visited next, is no table.
    generator_call: bool,
    denial: Option<Denial>,
    limits: &'a GuardLimits,
}

impl Walk<'_> {
    fn deny(&mut self, denial: Denial) -> ControlFlow<()> {
        self.denial.get_or_insert(denial);
        ControlFlow::Break(())
    }

    fn relation(&mut self, name: &ObjectName) -> ControlFlow<()> {
        let parts: Vec<String> = name
            .0
            .iter()
            .map(|p| p.to_string().trim_matches('"').to_owned())
            .collect();
        let joined = parts.join(".");
        if parts
            .iter()
            .any(|p| p.contains('/') || p.contains("://") || p.contains('\\') || looks_like_file(p))
        {
            return self.deny(Denial::Path(joined));
        }
        let lower = joined.to_lowercase();
        if parts.len() > 1 {
            let schema = parts[parts.len() - 2].to_lowercase();
            if RESTRICTED_SCHEMAS.contains(&schema.as_str()) && !self.limits.catalog_schemas {
                return self.deny(Denial::CatalogSchema(schema));
            }
        }
        self.tables.insert(lower);
        ControlFlow::Continue(())
    }
}

/// The table functions a statement may call in `FROM`: they compute rows
/// from their arguments and read nothing (BI tools call them while
/// browsing: DBeaver's `generate_series` over the search path,
/// `pg_get_keywords()`). What they make is bounded like any other rows,
/// by the query's memory limit, timeout and row limit. Every other table
/// function (a file reader above all) is refused.
const GENERATORS: [&str; 3] = ["generate_series", "range", "pg_get_keywords"];

fn is_generator(name: &ObjectName) -> bool {
    let lower = name.to_string().to_lowercase();
    let bare = lower.strip_prefix("pg_catalog.").unwrap_or(&lower);
    GENERATORS.contains(&bare)
}

fn looks_like_file(part: &str) -> bool {
    let lower = part.to_lowercase();
    [
        ".parquet", ".csv", ".json", ".ndjson", ".avro", ".arrow", ".tsv", ".gz", ".db",
    ]
    .iter()
    .any(|ext| lower.ends_with(ext))
}

impl Visitor for Walk<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                self.ctes.insert(cte.alias.name.value.to_lowercase());
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<()> {
        if std::mem::take(&mut self.generator_call) {
            return ControlFlow::Continue(());
        }
        self.relation(relation)
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        match factor {
            TableFactor::Table {
                name,
                args: Some(_),
                ..
            } => {
                if is_generator(name) {
                    self.generator_call = true;
                    ControlFlow::Continue(())
                } else {
                    self.deny(Denial::TableFunction(name.to_string()))
                }
            }
            TableFactor::TableFunction { expr, .. } => {
                self.deny(Denial::TableFunction(expr.to_string()))
            }
            TableFactor::Function { name, .. } => {
                self.deny(Denial::TableFunction(name.to_string()))
            }
            _ => ControlFlow::Continue(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(sql: &str) -> CheckedSql {
        check(sql, &GuardLimits::default()).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    fn denied(sql: &str) -> Denial {
        match check(sql, &GuardLimits::default()) {
            Ok(c) => panic!("{sql} passed: {c:?}"),
            Err(d) => d,
        }
    }

    #[test]
    fn reads_pass_and_name_their_tables() {
        let c = ok("SELECT ano, count(*) FROM obitos WHERE ano > 2020 GROUP BY ano");
        assert_eq!(c.kind, StatementKind::Query);
        assert_eq!(c.tables.into_iter().collect::<Vec<_>>(), ["obitos"]);
        let c = ok("WITH t AS (SELECT * FROM Obitos) SELECT * FROM t JOIN nascidos n ON true");
        assert_eq!(
            c.tables.into_iter().collect::<Vec<_>>(),
            ["nascidos", "obitos"]
        );
        assert_eq!(ok("EXPLAIN SELECT 1").kind, StatementKind::Explain);
        assert_eq!(ok("SHOW TABLES").kind, StatementKind::ShowTables);
        assert_eq!(ok("DESCRIBE obitos").kind, StatementKind::Describe);
        ok("SELECT * FROM (SELECT 1 AS x) s UNION ALL SELECT 2");
        ok("SELECT 1; ");
        // Generators are not tables: nothing to grant, nothing named.
        let c = ok("SELECT s FROM generate_series(1, 3) AS s(r), obitos");
        assert_eq!(c.tables.into_iter().collect::<Vec<_>>(), ["obitos"]);
        // A dataset named like a generator is still a table.
        let c = ok("SELECT * FROM range(1, 2) g, range");
        assert_eq!(c.tables.into_iter().collect::<Vec<_>>(), ["range"]);
        assert!(
            ok("SELECT word FROM pg_catalog.pg_get_keywords()")
                .tables
                .is_empty()
        );
    }

    #[test]
    fn everything_else_is_refused_with_its_reason() {
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("DROP TABLE obitos", "DROP TABLE statements are not allowed"),
            ("CREATE TABLE x AS SELECT 1", "CREATE TABLE"),
            (
                "CREATE EXTERNAL TABLE x STORED AS PARQUET LOCATION '/etc'",
                "not allowed",
            ),
            ("INSERT INTO obitos VALUES (1)", "INSERT"),
            ("DELETE FROM obitos", "DELETE"),
            ("COPY obitos TO '/tmp/x.csv'", "COPY"),
            ("SET datafusion.execution.batch_size = 1", "SET"),
            ("SELECT 1; SELECT 2", "one statement at a time (2"),
            (
                "SELECT * FROM read_parquet('/etc/passwd')",
                "table functions",
            ),
            ("SELECT * FROM public.range(1, 3)", "table functions"),
            (
                "SELECT * FROM '/lake/store/obitos/x.parquet'",
                "reading files",
            ),
            ("SELECT * FROM \"s3://bucket/x.parquet\"", "reading files"),
            ("SELECT * FROM system.audit", "system schema"),
            ("SELECT * INTO copia FROM obitos", "SELECT INTO"),
            ("EXPLAIN DELETE FROM obitos", "DELETE"),
            ("SELEC 1", "does not parse"),
        ];
        for (sql, expected) in cases {
            let d = denied(sql).to_string();
            assert!(d.contains(expected), "{sql}: {d}");
        }
        let long = format!("SELECT 1 {}", " ".repeat(70 * 1024));
        assert!(matches!(denied(&long), Denial::TooLong { .. }));
        let coordinator = GuardLimits {
            catalog_schemas: true,
            ..Default::default()
        };
        assert!(check("SELECT * FROM system.audit", &coordinator).is_ok());
        // The session's own catalog is everyone's.
        let analyst = GuardLimits::default();
        assert!(check("SELECT * FROM information_schema.columns", &analyst).is_ok());
        assert!(check("SELECT relname FROM pg_catalog.pg_class", &analyst).is_ok());
    }

    /// Runs `f` on a thread with a large stack, as the query engine does:
    /// dropping a statement tens of thousands of levels deep recurses.
    fn on_big_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn(f)
            .expect("a thread")
            .join()
            .expect("no panic")
    }

    #[test]
    fn deep_and_exploding_shapes_are_refused_before_planning() {
        let chain = |op: &str, n: usize| {
            let terms: Vec<String> = (0..n).map(|i| format!("x{i}")).collect();
            format!("SELECT {} FROM t", terms.join(op))
        };
        on_big_stack(move || {
            let limits = GuardLimits::default();
            // A chain a bit under the bound passes; one over it is refused.
            assert!(check(&chain(" + ", 100), &limits).is_ok());
            for op in [" + ", " AND ", " OR ", " || "] {
                let d = check(&chain(op, 2_000), &limits).unwrap_err();
                assert!(matches!(d, Denial::TooDeep { .. }), "{op}: {d}");
            }
            // The longest chain the size limit lets through, refused
            // without walking all of it.
            let longest = format!("SELECT 1{}", "+1".repeat(30_000));
            assert!(matches!(
                check(&longest, &limits).unwrap_err(),
                Denial::TooDeep { .. }
            ));
            let casts = format!("SELECT 1{}", "::int".repeat(500));
            assert!(matches!(
                check(&casts, &limits).unwrap_err(),
                Denial::TooDeep { .. }
            ));
            let unions = vec!["SELECT 1"; 500].join(" UNION ALL ");
            assert!(matches!(
                check(&unions, &limits).unwrap_err(),
                Denial::TooDeep { what, .. } if what.contains("UNION")
            ));
            // Each CTE reads the previous one twice: 2^n scans once inlined.
            let doubling = |n: usize| {
                let mut sql = String::from("WITH c0 AS (SELECT 1 AS x)");
                for i in 1..=n {
                    sql.push_str(&format!(
                        ", c{i} AS (SELECT * FROM c{p} UNION ALL SELECT * FROM c{p})",
                        p = i - 1
                    ));
                }
                sql + &format!(" SELECT count(*) FROM c{n}")
            };
            assert!(matches!(
                check(&doubling(20), &limits).unwrap_err(),
                Denial::TooManyRelations { .. }
            ));
            assert!(check(&doubling(5), &limits).is_ok());
            // A long chain of CTEs, each reading the one before: deep plans.
            let chain = |n: usize| {
                let ctes: Vec<String> = (1..n)
                    .map(|i| format!("c{i} AS (SELECT * FROM c{})", i - 1))
                    .collect();
                format!(
                    "WITH c0 AS (SELECT * FROM t), {} SELECT * FROM c{}",
                    ctes.join(", "),
                    n - 1
                )
            };
            assert!(check(&chain(50), &limits).is_ok());
            assert!(matches!(
                check(&chain(500), &limits).unwrap_err(),
                Denial::TooDeep { what, .. } if what.contains("CTEs")
            ));
            // Many nodes, none deep: a long IN list passes up to the bound.
            let list: Vec<String> = (0..5_000).map(|i| i.to_string()).collect();
            let in_list = format!("SELECT * FROM t WHERE x IN ({})", list.join(","));
            assert!(check(&in_list, &limits).is_ok());
            let list: Vec<String> = (0..25_000).map(|i| i.to_string()).collect();
            let in_list = format!("SELECT * FROM t WHERE x IN ({})", list.join(","));
            let big = GuardLimits {
                max_sql_bytes: 1 << 20,
                ..GuardLimits::default()
            };
            assert!(matches!(
                check(&in_list, &big).unwrap_err(),
                Denial::TooManyNodes { .. }
            ));
        });
    }
}
