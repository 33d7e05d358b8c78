//! PostgreSQL idioms BI drivers send to the catalog that the engine does
//! not plan as written, rewritten into what it does plan, meaning the same:
//!
//! - `(expr).field`, a field of a composite value (pgJDBC's
//!   `(result.KEYS).x`): `get_field(expr, 'field')`.
//! - `information_schema._pg_expandarray(a)`, a set-returning function in
//!   the select list (one row per element, with its position):
//!   `unnest(_pg_expandarray(a))`, the elements as `{x, n}` records; and
//!   `generate_subscripts(a, 1)` likewise, as `unnest(_pg_subscripts(a, 1))`.
//! - `FROM pg_catalog.generate_series(...)`: the engine names a table
//!   function by its first word, so the schema is dropped.
//! - `ARRAY(SELECT x FROM <catalog> ...)` (psql's `\du`): the engine has
//!   no array constructor over a subquery, so it is `(SELECT array_agg(x)
//!   ...)`, an aggregated subquery the engine decorrelates (NULL where
//!   PostgreSQL gives an empty array). Only over the catalog.
//! - A scalar subquery over the catalog that looks one row up by key
//!   without aggregating (`(SELECT c.relkind = 'c' FROM pg_class c WHERE
//!   c.oid = t.typrelid)`, in getTypeInfo): the engine only decorrelates
//!   aggregated subqueries, so its value is taken with `max`, which is the
//!   value itself for one row and NULL for none. Only over the catalog's
//!   own tables: a subquery over a dataset is left as written.
//!
//! Applied only to statements that use the catalog (see
//! `query::postgres_compatible`), after `datafusion-pg-catalog`'s own
//! rewrites, before the guard checks the text. One goes before the crate's
//! ([`procedure_names`]), which would turn the cast into a lookup by OID.

use datafusion::sql::sqlparser::ast::{
    AccessExpr, BinaryOperator, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList,
    FunctionArguments, Ident, ObjectName, Query, SelectItem, SetExpr, Statement, TableFactor,
    Value, VisitMut, VisitorMut, visit_expressions_mut, visit_relations,
};
use std::ops::ControlFlow;

/// Rewrites `statement` in place.
pub(crate) fn rewrite(statement: &mut Statement) {
    let _ = statement.visit(&mut TableFunctions);
    let _ = visit_expressions_mut(statement, |expr| {
        if let Some(rewritten) = field_access(expr)
            .or_else(|| array_of_subquery(expr))
            .or_else(|| expand_array(expr))
            .or_else(|| catalog_lookup(expr))
        {
            *expr = rewritten;
        }
        ControlFlow::<()>::Continue(())
    });
}

/// Drops `pg_catalog.` from the table functions a statement calls.
struct TableFunctions;

impl VisitorMut for TableFunctions {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table {
            name,
            args: Some(_),
            ..
        } = factor
            && name.0.len() == 2
            && name.0[0]
                .as_ident()
                .is_some_and(|i| i.value.eq_ignore_ascii_case("pg_catalog"))
        {
            name.0.remove(0);
        }
        ControlFlow::Continue(())
    }
}

/// The procedure columns of `pg_type`, which `datafusion-pg-catalog`
/// holds as the procedure's name (PostgreSQL's `regproc` shows so).
const TYPE_PROCEDURES: [&str; 8] = [
    "typinput",
    "typoutput",
    "typreceive",
    "typsend",
    "typmodin",
    "typmodout",
    "typanalyze",
    "typsubscript",
];

/// `typinput = 'pg_catalog.array_in'::regproc` (DBeaver, pgJDBC) as
/// `typinput = 'array_in'`: the column holds the name. `None` when `sql`
/// has no such comparison (or does not parse: the guard says so later).
pub(crate) fn procedure_names(sql: &str) -> Option<String> {
    if !sql.to_ascii_lowercase().contains("regproc") {
        return None;
    }
    let dialect = datafusion::sql::sqlparser::dialect::PostgreSqlDialect {};
    let mut statements =
        datafusion::sql::sqlparser::parser::Parser::parse_sql(&dialect, sql).ok()?;
    let mut changed = false;
    for statement in &mut statements {
        let _ = visit_expressions_mut(statement, |expr| {
            if let Expr::BinaryOp { left, op, right } = expr
                && matches!(op, BinaryOperator::Eq | BinaryOperator::NotEq)
            {
                if let Some(name) = procedure_compared(left, right) {
                    **right = Expr::Value(Value::SingleQuotedString(name).into());
                    changed = true;
                } else if let Some(name) = procedure_compared(right, left) {
                    **left = Expr::Value(Value::SingleQuotedString(name).into());
                    changed = true;
                }
            }
            ControlFlow::<()>::Continue(())
        });
    }
    changed.then(|| {
        statements
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    })
}

/// The procedure's bare name when `column` is a `pg_type` procedure column
/// and `other` is `'name'::regproc`.
fn procedure_compared(column: &Expr, other: &Expr) -> Option<String> {
    let last = match column {
        Expr::Identifier(i) => &i.value,
        Expr::CompoundIdentifier(parts) => &parts.last()?.value,
        _ => return None,
    };
    if !TYPE_PROCEDURES.contains(&last.to_lowercase().as_str()) {
        return None;
    }
    let Expr::Cast {
        expr, data_type, ..
    } = other
    else {
        return None;
    };
    let regproc = data_type.to_string().to_lowercase();
    if regproc != "regproc" && regproc != "pg_catalog.regproc" {
        return None;
    }
    let Expr::Value(v) = expr.as_ref() else {
        return None;
    };
    let Value::SingleQuotedString(name) = &v.value else {
        return None;
    };
    Some(name.strip_prefix("pg_catalog.").unwrap_or(name).to_owned())
}

/// `(root).a.b` as `get_field(get_field(root, 'a'), 'b')`.
fn field_access(expr: &Expr) -> Option<Expr> {
    let Expr::CompoundFieldAccess { root, access_chain } = expr else {
        return None;
    };
    let mut out = match root.as_ref() {
        Expr::Nested(inner) => inner.as_ref().clone(),
        other => other.clone(),
    };
    for access in access_chain {
        let AccessExpr::Dot(Expr::Identifier(field)) = access else {
            return None;
        };
        // An unquoted name folds to lower case, as PostgreSQL's does.
        let name = match field.quote_style {
            Some(_) => field.value.clone(),
            None => field.value.to_lowercase(),
        };
        out = call(
            "get_field",
            vec![out, Expr::Value(Value::SingleQuotedString(name).into())],
        );
    }
    Some(out)
}

/// `[information_schema.]_pg_expandarray(a)` as `unnest(_pg_expandarray(a))`
/// and `generate_subscripts(a, 1)` as `unnest(_pg_subscripts(a, 1))`.
fn expand_array(expr: &Expr) -> Option<Expr> {
    let Expr::Function(f) = expr else {
        return None;
    };
    let parts: Vec<String> = f
        .name
        .0
        .iter()
        .map(|p| p.to_string().to_lowercase())
        .collect();
    let replacement = match parts.as_slice() {
        [name] if name == "_pg_expandarray" => crate::pg_arrays::EXPAND_ARRAY,
        [schema, name] if schema == "information_schema" && name == "_pg_expandarray" => {
            crate::pg_arrays::EXPAND_ARRAY
        }
        [name] if name == "generate_subscripts" => crate::pg_arrays::SUBSCRIPTS,
        [schema, name] if schema == "pg_catalog" && name == "generate_subscripts" => {
            crate::pg_arrays::SUBSCRIPTS
        }
        _ => return None,
    };
    let inner = Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(replacement)]),
        ..f.clone()
    });
    Some(call("unnest", vec![inner]))
}

/// `ARRAY(subquery)` over the catalog as `(SELECT array_agg(...) ...)`.
fn array_of_subquery(expr: &Expr) -> Option<Expr> {
    let Expr::Function(f) = expr else {
        return None;
    };
    let FunctionArguments::Subquery(query) = &f.args else {
        return None;
    };
    if !f.name.to_string().eq_ignore_ascii_case("array") || !reads_only_the_catalog(query) {
        return None;
    }
    let mut query = query.clone();
    let SetExpr::Select(select) = query.body.as_mut() else {
        return None;
    };
    if select.projection.len() != 1 || query.order_by.is_some() || query.limit_clause.is_some() {
        return None;
    }
    let value = match &select.projection[0] {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e.clone(),
        _ => return None,
    };
    select.projection[0] = SelectItem::UnnamedExpr(call("array_agg", vec![value]));
    Some(Expr::Subquery(query))
}

/// A non-aggregated scalar subquery over the catalog, its value taken with
/// `max` (see the module's documentation).
fn catalog_lookup(expr: &Expr) -> Option<Expr> {
    let Expr::Subquery(query) = expr else {
        return None;
    };
    let SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    let plain = query.limit_clause.is_none()
        && query.order_by.is_none()
        && select.projection.len() == 1
        && select.having.is_none()
        && matches!(
            &select.group_by,
            datafusion::sql::sqlparser::ast::GroupByExpr::Expressions(e, _) if e.is_empty()
        );
    if !plain || !reads_only_the_catalog(query) {
        return None;
    }
    let (value, alias) = match &select.projection[0] {
        SelectItem::UnnamedExpr(e) => (e, None),
        SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias)),
        _ => return None,
    };
    if calls_a_function(value) {
        // Maybe an aggregate already, at any depth (`count(*) > 0`); a
        // function of a looked-up row is rare in client catalog queries
        // and is left as written.
        return None;
    }
    let mut query = query.clone();
    if let SetExpr::Select(select) = query.body.as_mut() {
        let aggregated = call("max", vec![value.clone()]);
        select.projection[0] = match alias {
            Some(alias) => SelectItem::ExprWithAlias {
                expr: aggregated,
                alias: alias.clone(),
            },
            None => SelectItem::UnnamedExpr(aggregated),
        };
    }
    Some(Expr::Subquery(query))
}

/// Whether `expr` calls any function, however deep.
fn calls_a_function(expr: &Expr) -> bool {
    let mut found = false;
    let _ = datafusion::sql::sqlparser::ast::visit_expressions(expr, |e| {
        if matches!(e, Expr::Function(_)) {
            found = true;
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    found
}

/// Whether every table `query` reads is one of the catalog's.
fn reads_only_the_catalog(query: &Query) -> bool {
    let mut only = true;
    let mut any = false;
    let _ = visit_relations(query, |name| {
        any = true;
        let first = name
            .0
            .first()
            .map(|p| p.to_string().to_lowercase())
            .unwrap_or_default();
        if name.0.len() < 2 || !(first == "pg_catalog" || first == "information_schema") {
            only = false;
        }
        ControlFlow::<()>::Continue(())
    });
    any && only
}

fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|a| FunctionArg::Unnamed(FunctionArgExpr::Expr(a)))
                .collect(),
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn rewritten(sql: &str) -> String {
        let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap();
        rewrite(&mut statements[0]);
        statements[0].to_string()
    }

    #[test]
    fn composite_fields_and_expanded_arrays_become_what_the_engine_plans() {
        assert_eq!(
            rewritten("SELECT (r.keys).x FROM t r"),
            "SELECT get_field(r.keys, 'x') FROM t r"
        );
        assert_eq!(
            rewritten("SELECT (r.keys).\"Nome\" FROM t r"),
            "SELECT get_field(r.keys, 'Nome') FROM t r"
        );
        assert_eq!(
            rewritten(
                "SELECT (information_schema._pg_expandarray(i.indkey)).n FROM pg_catalog.pg_index i"
            ),
            "SELECT get_field(unnest(_pg_expandarray(i.indkey)), 'n') FROM pg_catalog.pg_index i"
        );
    }

    #[test]
    fn an_array_of_a_catalog_subquery_is_aggregated() {
        assert_eq!(
            rewritten(
                "SELECT ARRAY(SELECT b.rolname FROM pg_catalog.pg_roles b WHERE b.oid = r.oid) AS memberof FROM pg_catalog.pg_roles r"
            ),
            "SELECT (SELECT array_agg(b.rolname) FROM pg_catalog.pg_roles b WHERE b.oid = r.oid) AS memberof FROM pg_catalog.pg_roles r"
        );
        let over_data = "SELECT ARRAY(SELECT o.cpf FROM obitos o) AS v";
        assert_eq!(rewritten(over_data), over_data);
    }

    #[test]
    fn table_functions_are_called_by_their_bare_name() {
        assert_eq!(
            rewritten("SELECT word FROM pg_catalog.pg_get_keywords() k, pg_catalog.pg_class c"),
            "SELECT word FROM pg_get_keywords() k, pg_catalog.pg_class c"
        );
    }

    #[test]
    fn a_type_s_procedures_are_compared_by_name() {
        assert_eq!(
            procedure_names(
                "SELECT typinput='pg_catalog.array_in'::regproc AS is_array FROM pg_catalog.pg_type"
            )
            .as_deref(),
            Some("SELECT typinput = 'array_in' AS is_array FROM pg_catalog.pg_type")
        );
        assert_eq!(procedure_names("SELECT 'array_in'::regproc"), None);
        assert_eq!(
            procedure_names("SELECT p.oid = 'array_in'::regproc FROM pg_catalog.pg_proc p"),
            None
        );
    }

    #[test]
    fn only_catalog_lookups_are_aggregated() {
        assert_eq!(
            rewritten(
                "SELECT t.typname FROM pg_catalog.pg_type t WHERE t.typrelid = 0 OR (SELECT c.relkind = 'c' FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid)"
            ),
            "SELECT t.typname FROM pg_catalog.pg_type t WHERE t.typrelid = 0 OR (SELECT max(c.relkind = 'c') FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid)"
        );
        // Over a dataset, a subquery keeps PostgreSQL's meaning (and the
        // engine's refusal when it is correlated and not aggregated).
        let over_data = "SELECT a FROM t WHERE (SELECT b FROM obitos o WHERE o.a = t.a) > 1";
        assert_eq!(rewritten(over_data), over_data);
        let mixed =
            "SELECT (SELECT o.b FROM obitos o, pg_catalog.pg_class c WHERE o.a = c.oid) AS v";
        assert_eq!(rewritten(mixed), mixed);
        // Already aggregated, however deep: left as written.
        let counted = "SELECT (SELECT CAST(count(*) AS INT) FROM pg_catalog.pg_class) AS n";
        assert_eq!(rewritten(counted), counted);
    }
}
