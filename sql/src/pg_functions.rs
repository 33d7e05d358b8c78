//! What PostgreSQL clients ask a server about itself as soon as they
//! connect: `version()` (SQLAlchemy reads "PostgreSQL X.Y" from it),
//! `current_database()`, `current_schema()`, `current_user` and
//! `session_user`. Registered in every governed session; each answers a
//! constant of the session, reads nothing and reveals nothing of the data.
//!
//! PostgreSQL's functions all live in `pg_catalog`, and clients call them
//! so (`pg_catalog.version()`): [`qualify`] makes every function of a
//! session answer to that name too.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

/// The version string clients parse: PostgreSQL's major.minor first.
pub fn version_text() -> String {
    format!(
        "PostgreSQL {} on {}-linux, a governed data lake",
        crate::pg_settings::server_version().replace("lagoa", "Lagoa"),
        std::env::consts::ARCH
    )
}

/// PostgreSQL's catalog in `ctx`, built from the session's own tables: what
/// BI tools browse, listing only what the reader may read.
///
/// OIDs must be the same from one statement to the next (psql's `\d t`
/// finds the table's OID, then asks for the columns of that OID in another
/// statement, which is another session here), and from one reader to the
/// next. The crate numbers objects in the order it first meets them: the
/// session's catalog is listed in sorted order and `pg_class` read first
/// (when a statement first reads a table holding OIDs), so its numbers
/// agree within the session, and `pg_oids` replaces them by OIDs that
/// depend on the objects' names alone.
pub async fn setup_catalog(
    ctx: &SessionContext,
    settings: std::sync::Arc<crate::pg_settings::Settings>,
) -> Result<(), lagoa_lake::LakeError> {
    use datafusion_pg_catalog::pg_catalog::PgCatalogSchemaProvider;
    use datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
    let fail = |e: &dyn std::fmt::Display| {
        lagoa_lake::LakeError::Invalid(format!("the PostgreSQL catalog: {e}"))
    };
    datafusion_pg_catalog::setup_pg_catalog(ctx, "datafusion", EmptyContextProvider)
        .map_err(|e| fail(&e))?;
    for name in [
        "pg_type_is_visible",
        "pg_function_is_visible",
        "pg_collation_is_visible",
    ] {
        ctx.register_udf(AboutObject::udf(name, Says::Visible));
    }
    // psql's \df describes the functions outside pg_catalog: Lagoa has
    // none of its users', so nothing is listed and these describe nothing.
    for name in [
        "pg_get_function_result",
        "pg_get_function_arguments",
        "pg_get_function_identity_arguments",
        // pgJDBC's getIndexInfo asks for the definition of each index of a
        // table; a lake's tables have none.
        "pg_get_indexdef",
    ] {
        ctx.register_udf(AboutObject::udf(name, Says::Nothing));
    }
    ctx.register_udf(ScalarUDF::new_from_impl(ToRegtype {
        signature: Signature::string(1, Volatility::Stable),
    }));
    ctx.register_udf(crate::pg_arrays::ExpandArray::udf());
    ctx.register_udf(crate::pg_arrays::Subscripts::udf());
    ctx.register_udf(crate::pg_settings::current_setting(std::sync::Arc::clone(
        &settings,
    )));
    let oids = std::sync::Arc::new(crate::pg_oids::StableOids::default());
    let sorted = SortedCatalog(ctx.state().catalog_list().clone());
    let provider = PgCatalogSchemaProvider::try_new(sorted, static_tables()?, EmptyContextProvider)
        .map_err(|e| fail(&e))?;
    ctx.catalog("datafusion")
        .ok_or_else(|| fail(&"no datafusion catalog"))?
        .register_schema(
            "pg_catalog",
            std::sync::Arc::new(crate::pg_tables::CatalogTables::new(
                std::sync::Arc::new(provider),
                settings,
                std::sync::Arc::clone(&oids),
            )),
        )
        .map_err(|e| fail(&e))?;
    Ok(())
}

/// PostgreSQL's own catalog rows, decoded once per process.
fn static_tables() -> Result<
    std::sync::Arc<datafusion_pg_catalog::pg_catalog::PgCatalogStaticTables>,
    lagoa_lake::LakeError,
> {
    static TABLES: std::sync::OnceLock<
        std::sync::Arc<datafusion_pg_catalog::pg_catalog::PgCatalogStaticTables>,
    > = std::sync::OnceLock::new();
    if let Some(t) = TABLES.get() {
        return Ok(std::sync::Arc::clone(t));
    }
    let built = datafusion_pg_catalog::pg_catalog::PgCatalogStaticTables::try_new()
        .map_err(|e| lagoa_lake::LakeError::Invalid(format!("the PostgreSQL catalog: {e}")))?;
    Ok(std::sync::Arc::clone(
        TABLES.get_or_init(|| std::sync::Arc::new(built)),
    ))
}

/// A session's catalogs, schemas and tables listed in sorted order.
#[derive(Clone, Debug)]
struct SortedCatalog(std::sync::Arc<dyn datafusion::catalog::CatalogProviderList>);

#[async_trait::async_trait]
impl datafusion_pg_catalog::pg_catalog::catalog_info::CatalogInfo for SortedCatalog {
    async fn catalog_names(&self) -> Result<Vec<String>> {
        let mut names: Vec<String> = self
            .0
            .catalog_names()
            .await?
            .into_iter()
            .map(|n| {
                if n == ENGINE_CATALOG {
                    DATABASE.to_owned()
                } else {
                    n
                }
            })
            .collect();
        names.sort();
        Ok(names)
    }

    async fn schema_names(&self, catalog: &str) -> Result<Option<Vec<String>>> {
        let mut names = self.0.schema_names(engine_name(catalog)).await?;
        if let Some(n) = names.as_mut() {
            n.sort();
        }
        Ok(names)
    }

    async fn table_names(&self, catalog: &str, schema: &str) -> Result<Option<Vec<String>>> {
        let mut names = self.0.table_names(engine_name(catalog), schema).await?;
        if let Some(n) = names.as_mut() {
            n.sort();
        }
        Ok(names)
    }

    async fn table_schema(
        &self,
        catalog: &str,
        schema: &str,
        table: &str,
    ) -> Result<Option<datafusion::arrow::datatypes::SchemaRef>> {
        self.0
            .table_schema(engine_name(catalog), schema, table)
            .await
    }

    async fn table_type(
        &self,
        catalog: &str,
        schema: &str,
        table: &str,
    ) -> Result<Option<datafusion::logical_expr::TableType>> {
        self.0.table_type(engine_name(catalog), schema, table).await
    }
}

/// The database clients connect to (`current_database()`, psql's `\l`),
/// which the engine calls by its own name.
const DATABASE: &str = "lagoa";
const ENGINE_CATALOG: &str = "datafusion";

fn engine_name(catalog: &str) -> &str {
    if catalog == DATABASE {
        ENGINE_CATALOG
    } else {
        catalog
    }
}

/// Makes every scalar function of `ctx` answer to `pg_catalog.<name>` as
/// well, as PostgreSQL's built-in functions do (table functions: see
/// `pg_rewrite`).
pub fn qualify(ctx: &SessionContext) {
    let functions: Vec<_> = ctx.state().scalar_functions().values().cloned().collect();
    for udf in functions {
        let qualified = interned(format!("pg_catalog.{}", udf.name()));
        if udf.aliases().iter().any(|a| a == qualified) {
            continue;
        }
        ctx.register_udf(udf.as_ref().clone().with_aliases([qualified]));
    }
}

/// A qualified function name for the whole process: aliases must be
/// `'static`, and there are as many as there are function names (a few
/// hundred), each made once.
fn interned(name: String) -> &'static str {
    static NAMES: std::sync::OnceLock<std::sync::Mutex<std::collections::HashSet<&'static str>>> =
        std::sync::OnceLock::new();
    let mut names = NAMES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(known) = names.get(name.as_str()) {
        return known;
    }
    let leaked: &'static str = Box::leak(name.into_boxed_str());
    names.insert(leaked);
    leaked
}

/// PostgreSQL's OIDs of the types a lake's columns and clients' probes
/// name (`pg_type` holds the same); `to_regtype` of any other name is NULL,
/// as on a server without that type (psycopg asks for `hstore`).
const TYPE_OIDS: &[(&str, i32)] = &[
    ("bool", 16),
    ("boolean", 16),
    ("bytea", 17),
    ("int8", 20),
    ("bigint", 20),
    ("int2", 21),
    ("smallint", 21),
    ("int4", 23),
    ("integer", 23),
    ("text", 25),
    ("oid", 26),
    ("json", 114),
    ("float4", 700),
    ("real", 700),
    ("float8", 701),
    ("double precision", 701),
    ("varchar", 1043),
    ("character varying", 1043),
    ("date", 1082),
    ("time", 1083),
    ("timestamp", 1114),
    ("timestamp without time zone", 1114),
    ("timestamptz", 1184),
    ("timestamp with time zone", 1184),
    ("interval", 1186),
    ("numeric", 1700),
    ("uuid", 2950),
    ("jsonb", 3802),
];

/// `to_regtype(name)`: the type's OID, or NULL when there is no such type.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ToRegtype {
    signature: Signature,
}

impl ScalarUDFImpl for ToRegtype {
    fn name(&self) -> &str {
        "to_regtype"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int32)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        use datafusion::arrow::array::{Array, Int32Array};
        let lookup = |name: Option<&str>| {
            name.and_then(|n| {
                let n = n
                    .trim()
                    .trim_start_matches("pg_catalog.")
                    .to_ascii_lowercase();
                TYPE_OIDS.iter().find(|(t, _)| *t == n).map(|(_, oid)| *oid)
            })
        };
        match &args.args[0] {
            ColumnarValue::Scalar(value) => {
                let name = match value {
                    ScalarValue::Utf8(s) | ScalarValue::LargeUtf8(s) | ScalarValue::Utf8View(s) => {
                        s.as_deref()
                    }
                    _ => None,
                };
                Ok(ColumnarValue::Scalar(ScalarValue::Int32(lookup(name))))
            }
            ColumnarValue::Array(array) => {
                let text = datafusion::arrow::compute::cast(array, &DataType::Utf8)?;
                let text = datafusion::common::cast::as_string_array(&text)?;
                let oids: Int32Array = (0..text.len())
                    .map(|i| lookup((!text.is_null(i)).then(|| text.value(i))))
                    .collect();
                Ok(ColumnarValue::Array(std::sync::Arc::new(oids)))
            }
        }
    }
}

/// A function about a catalog object, answered without looking it up.
#[derive(Debug, PartialEq, Eq, Hash)]
struct AboutObject {
    name: &'static str,
    signature: Signature,
    says: Says,
}

#[derive(Debug, PartialEq, Eq, Hash, Clone, Copy)]
enum Says {
    /// `pg_type_is_visible(oid)` and its kin: true for any object, since
    /// everything a session holds is on its search path (it holds only
    /// what the reader may read).
    Visible,
    /// `pg_get_function_result(oid)` and its kin, describing what Lagoa
    /// does not define: NULL.
    Nothing,
}

impl AboutObject {
    fn udf(name: &'static str, says: Says) -> ScalarUDF {
        ScalarUDF::new_from_impl(AboutObject {
            name,
            signature: Signature::variadic_any(Volatility::Stable),
            says,
        })
    }
}

impl ScalarUDFImpl for AboutObject {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(match self.says {
            Says::Visible => DataType::Boolean,
            Says::Nothing => DataType::Utf8,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if self.says == Says::Nothing {
            return Ok(ColumnarValue::Array(
                ScalarValue::Utf8(None).to_array_of_size(args.number_rows)?,
            ));
        }
        let Some(object) = args.args.first() else {
            return Ok(ColumnarValue::Scalar(ScalarValue::Boolean(None)));
        };
        Ok(match object {
            ColumnarValue::Scalar(v) => {
                ColumnarValue::Scalar(ScalarValue::Boolean((!v.is_null()).then_some(true)))
            }
            ColumnarValue::Array(a) => {
                let visible: datafusion::arrow::array::BooleanArray = (0..a.len())
                    .map(|i| (!a.is_null(i)).then_some(true))
                    .collect();
                ColumnarValue::Array(std::sync::Arc::new(visible))
            }
        })
    }
}

/// Registers the functions in `ctx`, answering for `user`.
pub fn register(ctx: &SessionContext, user: &str) {
    for (name, value) in [
        ("version", version_text()),
        ("current_database", DATABASE.to_owned()),
        ("current_schema", "public".to_owned()),
        ("current_user", user.to_owned()),
        ("session_user", user.to_owned()),
    ] {
        ctx.register_udf(ScalarUDF::new_from_impl(SessionConstant::new(name, value)));
    }
}

/// A function of no arguments answering one text of the session.
#[derive(Debug, PartialEq, Eq, Hash)]
struct SessionConstant {
    name: &'static str,
    value: String,
    signature: Signature,
}

impl SessionConstant {
    fn new(name: &'static str, value: String) -> Self {
        Self {
            name,
            value,
            signature: Signature::nullary(Volatility::Stable),
        }
    }
}

impl ScalarUDFImpl for SessionConstant {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(
            self.value.clone(),
        ))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn clients_get_a_postgresql_version_and_who_they_are() {
        let ctx = SessionContext::new();
        setup_catalog(&ctx, std::sync::Arc::new(crate::pg_settings::defaults()))
            .await
            .unwrap();
        register(&ctx, "joao");
        qualify(&ctx);
        let text = crate::test_support::answer_text(
            ctx.sql("SELECT pg_catalog.version() AS v, current_user AS u, current_schema() AS s, pg_catalog.current_database() AS d, pg_catalog.lower('A') AS l")
                .await
                .unwrap(),
        )
        .await;
        assert!(text.contains("PostgreSQL 16.0 (Lagoa"), "{text}");
        assert!(text.contains("joao"), "{text}");
        assert!(text.contains("public") && text.contains("lagoa"), "{text}");
        assert!(text.contains("| a "), "{text}");
        let types = crate::test_support::answer_text(
            ctx.sql("SELECT to_regtype('int4') AS i, to_regtype('hstore') AS h")
                .await
                .unwrap(),
        )
        .await;
        assert!(types.contains("| 23 |"), "{types}");
    }

    /// A session over an empty table of each name, with PostgreSQL's catalog.
    async fn catalog_of(tables: &[&str]) -> SessionContext {
        use datafusion::arrow::datatypes::{Field, Schema};
        let ctx = SessionContext::new();
        for table in tables {
            let schema = std::sync::Arc::new(Schema::new(vec![
                Field::new("municipio", DataType::Utf8, true),
                Field::new("n", DataType::Int64, true),
            ]));
            let empty = datafusion::datasource::MemTable::try_new(schema, vec![vec![]]).unwrap();
            ctx.register_table(*table, std::sync::Arc::new(empty))
                .unwrap();
        }
        setup_catalog(&ctx, std::sync::Arc::new(crate::pg_settings::defaults()))
            .await
            .unwrap();
        ctx
    }

    async fn one_number(ctx: &SessionContext, sql: &str) -> String {
        let text = crate::test_support::answer_text(ctx.sql(sql).await.unwrap()).await;
        let line = text.lines().nth(3).unwrap_or_default();
        line.trim_matches(|c: char| c == '|' || c.is_whitespace())
            .to_owned()
    }

    #[tokio::test]
    async fn a_table_keeps_its_oid_whatever_else_the_reader_may_read() {
        let few = catalog_of(&["obitos"]).await;
        let many = catalog_of(&["alunos", "nascimentos", "obitos"]).await;
        let oid_of = "SELECT c.oid FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relname = 'obitos' AND n.nspname = 'public'";
        let oid = one_number(&few, oid_of).await;
        assert!(oid.parse::<i64>().is_ok_and(|o| o >= 16384), "{oid}");
        assert_eq!(oid, one_number(&many, oid_of).await);
        let columns_of = format!(
            "SELECT count(*) FROM pg_catalog.pg_attribute WHERE attrelid = {oid} AND attnum > 0"
        );
        assert_eq!(one_number(&many, &columns_of).await, "2");
        let schema_of = "SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = 'public'";
        assert_eq!(
            one_number(&few, schema_of).await,
            one_number(&many, schema_of).await
        );
        let other = one_number(
            &many,
            "SELECT oid FROM pg_catalog.pg_class WHERE relname = 'alunos'",
        )
        .await;
        assert_ne!(other, oid);
    }
}
