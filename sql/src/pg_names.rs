//! The names PostgreSQL gives a query's result columns, for clients of the
//! PostgreSQL port: a column keeps its name, a function call is named after
//! the function (`count(*)` is `count`), a cast after what it casts (or,
//! for a constant, after the type: `int4`), and anything else unnamed is
//! `?column?`. DataFusion names them after their whole expression
//! (`count(*)`, `Int64(1)`), which tools that read columns by name (pandas,
//! BI tools) do not expect.

use datafusion::arrow::datatypes::Schema;
use datafusion::sql::sqlparser::ast::{
    CastKind, DataType, Expr, FunctionArguments, Query, SelectItem, SetExpr, Statement,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// The result's column names as PostgreSQL would give them; the engine's
/// own where the statement cannot be read that way (a `*`, several
/// statements, not a query).
pub fn column_names(sql: &str, schema: &Schema) -> Vec<String> {
    let engine: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let Ok(statements) = Parser::parse_sql(&PostgreSqlDialect {}, sql) else {
        return engine;
    };
    let [Statement::Query(query)] = statements.as_slice() else {
        return engine;
    };
    let Some(items) = projection(query) else {
        return engine;
    };
    if items.len() != engine.len() {
        return engine;
    }
    items
        .iter()
        .zip(engine)
        .map(|(item, engine)| match item {
            SelectItem::UnnamedExpr(e) => pg_name(e).unwrap_or(engine),
            _ => engine,
        })
        .collect()
}

/// The select list of the query's first SELECT (its columns name the
/// result), `None` when it has a `*`.
fn projection(query: &Query) -> Option<&[SelectItem]> {
    let mut body = query.body.as_ref();
    loop {
        match body {
            SetExpr::Select(select) => {
                let items = select.projection.as_slice();
                let wildcard = items.iter().any(|i| {
                    matches!(
                        i,
                        SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
                    )
                });
                return (!wildcard).then_some(items);
            }
            SetExpr::SetOperation { left, .. } => body = left.as_ref(),
            SetExpr::Query(q) => body = q.body.as_ref(),
            _ => return None,
        }
    }
}

/// PostgreSQL's name for an unaliased expression; `None` keeps the
/// engine's.
fn pg_name(e: &Expr) -> Option<String> {
    Some(match e {
        Expr::Identifier(column) => folded(column),
        Expr::CompoundIdentifier(parts) => folded(parts.last()?),
        Expr::Nested(inner) => return pg_name(inner),
        Expr::Function(f) if !matches!(f.args, FunctionArguments::Subquery(_)) => {
            f.name
                .0
                .last()
                .map(|part| part.to_string().trim_matches('"').to_lowercase())?
        }
        Expr::Cast {
            expr,
            data_type,
            kind,
            ..
        } if !matches!(kind, CastKind::TryCast | CastKind::SafeCast) => match expr.as_ref() {
            Expr::Identifier(_)
            | Expr::CompoundIdentifier(_)
            | Expr::Function(_)
            | Expr::Nested(_)
            | Expr::Cast { .. } => pg_name(expr)?,
            _ => type_name(data_type),
        },
        Expr::Case { .. } => "case".into(),
        Expr::Exists { .. } => "exists".into(),
        _ => "?column?".into(),
    })
}

/// A column's name as written: folded to lowercase unless quoted.
fn folded(name: &datafusion::sql::sqlparser::ast::Ident) -> String {
    if name.quote_style.is_some() {
        name.value.clone()
    } else {
        name.value.to_lowercase()
    }
}

/// PostgreSQL's internal name of a type, as it names a cast constant.
fn type_name(t: &DataType) -> String {
    let written = t.to_string().to_ascii_lowercase();
    let base = written.split('(').next().unwrap_or_default().trim();
    match base {
        "int" | "integer" | "int4" => "int4",
        "bigint" | "int8" => "int8",
        "smallint" | "int2" => "int2",
        "double precision" | "double" | "float8" | "float" => "float8",
        "real" | "float4" => "float4",
        "boolean" | "bool" => "bool",
        "decimal" | "numeric" => "numeric",
        "character varying" | "varchar" => "varchar",
        "character" | "char" => "bpchar",
        "timestamp with time zone" | "timestamptz" => "timestamptz",
        "timestamp" | "timestamp without time zone" => "timestamp",
        other => return other.to_owned(),
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{DataType as Arrow, Field};

    fn named(sql: &str, engine: &[&str]) -> Vec<String> {
        let schema = Schema::new(
            engine
                .iter()
                .map(|n| Field::new(*n, Arrow::Int64, true))
                .collect::<Vec<_>>(),
        );
        column_names(sql, &schema)
    }

    #[test]
    fn unnamed_columns_are_named_as_postgresql_names_them() {
        assert_eq!(named("SELECT 1", &["Int64(1)"]), ["?column?"]);
        assert_eq!(
            named(
                "SELECT municipio, count(*), max(o.ano) AS ultimo, 1 + 1, pg_catalog.version() FROM obitos o",
                &[
                    "municipio",
                    "count(*)",
                    "ultimo",
                    "Int64(1) + Int64(1)",
                    "version()"
                ]
            ),
            ["municipio", "count", "ultimo", "?column?", "version"]
        );
        assert_eq!(
            named(
                "SELECT CAST(ano AS BIGINT), 1::int, CAST('2024-01-01' AS DATE), count(*)::int8, (habitantes) FROM populacao",
                &["a", "b", "c", "d", "habitantes"]
            ),
            ["ano", "int4", "date", "count", "habitantes"]
        );
        assert_eq!(
            named(
                "SELECT CASE WHEN x THEN 1 END, sum(n) FROM t UNION ALL SELECT 2, 3",
                &["a", "b"]
            ),
            ["case", "sum"]
        );
        // The engine's names where the statement does not say.
        assert_eq!(named("SELECT * FROM t", &["a", "b"]), ["a", "b"]);
        assert_eq!(
            named(
                r#"SELECT p.Municipio, "Ano" FROM p"#,
                &["p.municipio", "Ano"]
            ),
            ["municipio", "Ano"]
        );
        assert_eq!(named("SELEC 1", &["x"]), ["x"]);
        assert_eq!(named("SELECT 1, 2", &["x"]), ["x"]);
    }
}
