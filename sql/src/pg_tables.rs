//! `datafusion-pg-catalog`'s `pg_catalog` schema as a session serves it:
//! the crate's tables, with two corrections clients need. Its array and
//! vector columns hold their text (`pg_index.indkey` is `'1 2'`), so they
//! are served as the lists they are (see `pg_arrays`); columns clients read
//! that the crate lacks are served as NULL; and `pg_settings`
//! lists the session's settings (see `pg_settings`), where the crate has
//! one row.

use crate::pg_arrays::as_array;
use crate::pg_oids::{LearnsOids, StableOids, oid_columns};
use crate::pg_settings::Settings;
use crate::session::ViewAsTable;
use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::common::{Column, Result};
use datafusion::datasource::{ViewTable, provider_as_source};
use datafusion::logical_expr::{Expr, LogicalPlanBuilder};
use std::sync::Arc;

/// The catalog's columns that are arrays in PostgreSQL, with their
/// element type (an OID is an `Int32` in the crate's tables).
const ARRAY_COLUMNS: &[(&str, &str, DataType)] = &[
    ("pg_index", "indkey", DataType::Int16),
    ("pg_index", "indoption", DataType::Int16),
    ("pg_index", "indclass", DataType::Int32),
    ("pg_index", "indcollation", DataType::Int32),
    ("pg_constraint", "conkey", DataType::Int16),
    ("pg_constraint", "confkey", DataType::Int16),
    ("pg_constraint", "conpfeqop", DataType::Int32),
    ("pg_constraint", "conppeqop", DataType::Int32),
    ("pg_constraint", "conffeqop", DataType::Int32),
    ("pg_constraint", "conexclop", DataType::Int32),
    ("pg_proc", "proargtypes", DataType::Int32),
    ("pg_proc", "proallargtypes", DataType::Int32),
    ("pg_proc", "proargmodes", DataType::Utf8),
    ("pg_proc", "proargnames", DataType::Utf8),
    ("pg_trigger", "tgattr", DataType::Int16),
    ("pg_statistic_ext", "stxkeys", DataType::Int16),
    ("pg_statistic_ext", "stxkind", DataType::Utf8),
    ("pg_policy", "polroles", DataType::Int32),
    ("pg_publication_rel", "prattrs", DataType::Int16),
    ("pg_partitioned_table", "partattrs", DataType::Int16),
];

/// Columns PostgreSQL's catalog has and the crate's tables lack, which
/// clients select (SQLAlchemy's `get_indexes` reads `pg_class.reloptions`):
/// served as NULL, PostgreSQL's value for an object without them.
fn missing_columns() -> [(&'static str, &'static str, DataType); 1] {
    [(
        "pg_class",
        "reloptions",
        DataType::new_list(DataType::Utf8, true),
    )]
}

#[derive(Debug)]
pub(crate) struct CatalogTables {
    inner: Arc<dyn SchemaProvider>,
    settings: Arc<Settings>,
    oids: Arc<StableOids>,
}

impl CatalogTables {
    pub(crate) fn new(
        inner: Arc<dyn SchemaProvider>,
        settings: Arc<Settings>,
        oids: Arc<StableOids>,
    ) -> Self {
        Self {
            inner,
            settings,
            oids,
        }
    }
}

#[async_trait::async_trait]
impl SchemaProvider for CatalogTables {
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if name == "pg_settings" {
            return Ok(Some(Arc::new(crate::pg_settings::table(&self.settings)?)));
        }
        let Some(table) = self.inner.table(name).await? else {
            return Ok(None);
        };
        if name == "pg_roles"
            && let Some(user) = self.settings.get(crate::pg_settings::SESSION_USER)
        {
            return Ok(Some(Arc::new(own_role(&table.schema(), user)?)));
        }
        let schema = table.schema();
        let retyped: Vec<&(&str, &str, DataType)> = ARRAY_COLUMNS
            .iter()
            .filter(|(t, c, _)| {
                *t == name
                    && schema
                        .field_with_name(c)
                        .is_ok_and(|f| f.data_type() == &DataType::Utf8)
            })
            .collect();
        let missing: Vec<(&str, DataType)> = missing_columns()
            .into_iter()
            .filter(|(t, c, _)| *t == name && schema.field_with_name(c).is_err())
            .map(|(_, c, data_type)| (c, data_type))
            .collect();
        let oid_columns: Vec<&str> = oid_columns(name)
            .iter()
            .copied()
            .filter(|c| {
                schema
                    .field_with_name(c)
                    .is_ok_and(|f| f.data_type() == &DataType::Int32)
            })
            .collect();
        if retyped.is_empty() && missing.is_empty() && oid_columns.is_empty() {
            return Ok(Some(table));
        }
        let learns = !oid_columns.is_empty();
        let stable_oid = self.oids.udf();
        let mut columns: Vec<Expr> = schema
            .fields()
            .iter()
            .map(|f| {
                let column = Expr::Column(Column::new_unqualified(f.name()));
                if oid_columns.contains(&f.name().as_str()) {
                    return stable_oid.call(vec![column]).alias(f.name());
                }
                match retyped.iter().find(|(_, c, _)| c == f.name()) {
                    Some((_, c, element)) => as_array(column, element.clone()).alias(*c),
                    None => column,
                }
            })
            .collect();
        for (column, data_type) in missing {
            let null = datafusion::common::ScalarValue::try_from(&data_type)?;
            columns.push(Expr::Literal(null, None).alias(column));
        }
        let plan = LogicalPlanBuilder::scan(name, provider_as_source(table), None)?
            .project(columns)?
            .build()?;
        let view = Arc::new(ViewAsTable(ViewTable::new(plan, None)));
        if !learns {
            return Ok(Some(view));
        }
        Ok(Some(Arc::new(LearnsOids {
            table: view,
            catalog: Arc::clone(&self.inner),
            oids: Arc::clone(&self.oids),
        })))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
    }
}

/// The OID of the session's role in `pg_roles` (PostgreSQL's first
/// ordinary OID minus one: below the crate's, above PostgreSQL's own).
const ROLE_OID: i32 = 16383;

/// `pg_roles` with one row, the session's own role, in the crate's
/// columns: it may sign in and inherit, and nothing more (no superuser,
/// no role creation: the port only reads).
fn own_role(
    schema: &datafusion::arrow::datatypes::SchemaRef,
    user: &str,
) -> Result<datafusion::datasource::MemTable> {
    use datafusion::common::ScalarValue;
    let columns = schema
        .fields()
        .iter()
        .map(|f| {
            let value = match (f.name().as_str(), f.data_type()) {
                ("rolname", _) => ScalarValue::Utf8(Some(user.to_owned())),
                ("rolcanlogin" | "rolinherit", _) => ScalarValue::Boolean(Some(true)),
                (_, DataType::Boolean) => ScalarValue::Boolean(Some(false)),
                ("rolconnlimit", _) => ScalarValue::Int32(Some(-1)),
                ("rolpassword", _) => ScalarValue::Utf8(Some("********".to_owned())),
                ("oid", DataType::Int32) => ScalarValue::Int32(Some(ROLE_OID)),
                (_, other) => ScalarValue::try_from(other)?,
            };
            value.to_array_of_size(1)
        })
        .collect::<Result<Vec<_>>>()?;
    let batch = datafusion::arrow::record_batch::RecordBatch::try_new(Arc::clone(schema), columns)?;
    datafusion::datasource::MemTable::try_new(Arc::clone(schema), vec![vec![batch]])
}
