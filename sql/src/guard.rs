//! The SQL guard: what an analyst may send, decided on the parsed
//! statement before DataFusion plans anything.
//!
//! One statement only, and only reads: `SELECT`/`WITH` queries (including
//! `VALUES` and set operations), `EXPLAIN` of such a query, `SHOW TABLES`,
//! `SHOW COLUMNS` and `DESCRIBE`. Refused, with the reason: DDL, DML,
//! `COPY`, `SET`, transactions, `CREATE`/`ATTACH` anything; table
//! functions and anything that names a file or URL; the catalog schemas
//! (`information_schema`, `pg_catalog`, `system`) unless the caller may
//! read them; statements longer than the limit. The planner then runs the
//! statement with DDL, DML and statements disabled as a second fence.

use datafusion::sql::sqlparser::ast::{
    ObjectName, Query, SetExpr, Statement, TableFactor, Visit, Visitor,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use std::collections::BTreeSet;
use std::ops::ControlFlow;

/// Limits of the guard.
#[derive(Clone, Debug)]
pub struct GuardLimits {
    /// Longest statement accepted, in bytes.
    pub max_sql_bytes: usize,
    /// May read `information_schema`, `pg_catalog` and `system`
    /// (coordinators and admins).
    pub catalog_schemas: bool,
}

impl Default for GuardLimits {
    fn default() -> Self {
        Self {
            max_sql_bytes: 64 * 1024,
            catalog_schemas: false,
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
}

const CATALOG_SCHEMAS: [&str; 3] = ["information_schema", "pg_catalog", "system"];

/// Checks one analyst statement.
pub fn check(sql: &str, limits: &GuardLimits) -> Result<CheckedSql, Denial> {
    if sql.len() > limits.max_sql_bytes {
        return Err(Denial::TooLong {
            len: sql.len(),
            max: limits.max_sql_bytes,
        });
    }
    let statements =
        Parser::parse_sql(&GenericDialect {}, sql).map_err(|e| Denial::Parse(e.to_string()))?;
    let statement = match statements.len() {
        0 => return Err(Denial::Empty),
        1 => &statements[0],
        n => return Err(Denial::Multiple(n)),
    };
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

struct Walk<'a> {
    tables: BTreeSet<String>,
    ctes: BTreeSet<String>,
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
            if CATALOG_SCHEMAS.contains(&schema.as_str()) && !self.limits.catalog_schemas {
                return self.deny(Denial::CatalogSchema(schema));
            }
        }
        self.tables.insert(lower);
        ControlFlow::Continue(())
    }
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
        self.relation(relation)
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        match factor {
            TableFactor::Table {
                name,
                args: Some(_),
                ..
            } => self.deny(Denial::TableFunction(name.to_string())),
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
            (
                "SELECT * FROM '/lake/store/obitos/x.parquet'",
                "reading files",
            ),
            ("SELECT * FROM \"s3://bucket/x.parquet\"", "reading files"),
            (
                "SELECT * FROM information_schema.columns",
                "information_schema schema",
            ),
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
    }
}
