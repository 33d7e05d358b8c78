//! Stable OIDs for what a session's `pg_catalog` lists: the same relation,
//! schema or database has the same OID whoever asks and whatever else they
//! may read.
//!
//! `datafusion-pg-catalog` numbers objects from 16384 in the order it meets
//! them, so an analyst who may read one table more than a colleague sees
//! every later table under another OID, and a grant given between two of a
//! BI tool's statements moves the OIDs it cached. Here each crate-assigned
//! OID is replaced, in the columns that hold one, by an OID derived from
//! the object's names (SHA-256 of its kind and names, into PostgreSQL's
//! range of ordinary OIDs, 16384 to 2³¹ − 1), learnt when a statement first
//! reads one of those columns. Two visible objects whose
//! names land on the same OID are told apart by probing upward in the
//! order of their names; with hundreds of tables in a 2³¹ range that is
//! about one catalog in ten thousand, and only those two objects' OIDs then
//! depend on which of them is visible.
//!
//! Fixed OIDs below 16384 (PostgreSQL's own, `pg_catalog`'s 11) are kept.

use datafusion::arrow::array::{Array, Int32Array};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::catalog::{SchemaProvider, Session, TableProvider};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, OnceLock};

/// PostgreSQL's first OID for objects users create (`FirstNormalObjectId`).
const FIRST_ORDINARY: i64 = 16384;

/// The catalog columns that hold an OID the crate assigns.
const OID_COLUMNS: &[(&str, &[&str])] = &[
    ("pg_class", &["oid", "relnamespace", "relfilenode"]),
    ("pg_namespace", &["oid"]),
    ("pg_database", &["oid"]),
    ("pg_attribute", &["attrelid"]),
];

/// The columns of `table` whose OIDs are replaced.
pub(crate) fn oid_columns(table: &str) -> &'static [&'static str] {
    OID_COLUMNS
        .iter()
        .find(|(t, _)| *t == table)
        .map_or(&[], |(_, columns)| columns)
}

/// The crate's OIDs of one session and the stable OIDs that replace them.
/// Empty until [`StableOids::learn`] has read the crate's catalog: the
/// statements that read it see the crate's own numbers.
#[derive(Debug, Default)]
pub(crate) struct StableOids {
    map: OnceLock<HashMap<i32, i32>>,
}

/// An object the crate numbered, by kind and names.
type Named = (&'static str, Vec<String>);

impl StableOids {
    /// Reads the crate's `pg_class`, `pg_namespace` and `pg_database` from
    /// `catalog` (the crate's own schema, not the wrapped one) and fixes
    /// the stable OID of each object they list; once per session, when a
    /// statement first reads a column holding an OID. `pg_class` is read
    /// first, so the crate numbers tables before anything else asks.
    pub(crate) async fn learn(
        &self,
        catalog: &dyn SchemaProvider,
        state: &dyn Session,
    ) -> Result<()> {
        if self.map.get().is_some() {
            return Ok(());
        }
        let mut objects: BTreeMap<Named, i32> = BTreeMap::new();
        let classes = rows(
            catalog,
            state,
            "pg_class",
            &["oid", "relnamespace"],
            "relname",
        )
        .await?;
        let namespaces = rows(catalog, state, "pg_namespace", &["oid"], "nspname").await?;
        let namespace_names: HashMap<i32, &str> = namespaces
            .iter()
            .map(|(oids, name)| (oids[0], name.as_str()))
            .collect();
        for (oids, name) in &namespaces {
            objects.insert(("schema", vec![name.clone()]), oids[0]);
        }
        for (oids, name) in &classes {
            let schema = namespace_names.get(&oids[1]).copied().unwrap_or_default();
            objects.insert(("relation", vec![schema.to_owned(), name.clone()]), oids[0]);
        }
        for (oids, name) in rows(catalog, state, "pg_database", &["oid"], "datname").await? {
            objects.insert(("database", vec![name]), oids[0]);
        }
        let _ = self.map.set(assign(objects));
        Ok(())
    }

    fn stable(&self, oid: i32) -> i32 {
        self.map
            .get()
            .and_then(|m| m.get(&oid))
            .copied()
            .unwrap_or(oid)
    }

    /// `lagoa_stable_oid(oid)`: the column's OIDs made stable, the column's
    /// field (and the OID kind the crate's planner reads from its
    /// metadata) kept.
    pub(crate) fn udf(self: &Arc<Self>) -> ScalarUDF {
        ScalarUDF::new_from_impl(StableOid {
            oids: Arc::clone(self),
            signature: Signature::exact(vec![DataType::Int32], Volatility::Immutable),
        })
    }
}

/// Stable OIDs for the objects, in the order of their names, probing
/// upward past an OID already given.
fn assign(objects: BTreeMap<Named, i32>) -> HashMap<i32, i32> {
    assign_by(objects, name_hash)
}

/// SHA-256 of an object's kind and names, its first eight bytes.
fn name_hash((kind, names): &Named) -> u64 {
    let mut digest = Sha256::new();
    digest.update(kind.as_bytes());
    for name in names {
        digest.update([0]);
        digest.update(name.as_bytes());
    }
    let hash = digest.finalize();
    let mut start = [0u8; 8];
    start.copy_from_slice(&hash[..8]);
    u64::from_le_bytes(start)
}

fn assign_by(objects: BTreeMap<Named, i32>, hash: impl Fn(&Named) -> u64) -> HashMap<i32, i32> {
    let span = i64::from(i32::MAX) - FIRST_ORDINARY + 1;
    let mut given: HashSet<i64> = HashSet::new();
    let mut map = HashMap::new();
    for (object, crate_oid) in objects {
        if i64::from(crate_oid) < FIRST_ORDINARY {
            continue;
        }
        let mut slot = (hash(&object) % span as u64) as i64;
        while !given.insert(slot) {
            slot = (slot + 1) % span;
        }
        map.insert(crate_oid, (FIRST_ORDINARY + slot) as i32);
    }
    map
}

/// Each row's OID columns and its name column, read from the crate's
/// table.
async fn rows(
    catalog: &dyn SchemaProvider,
    state: &dyn Session,
    table: &str,
    oid_columns: &[&str],
    name_column: &str,
) -> Result<Vec<(Vec<i32>, String)>> {
    let Some(provider) = catalog.table(table).await? else {
        return Ok(Vec::new());
    };
    let schema = provider.schema();
    let projection = oid_columns
        .iter()
        .chain([&name_column])
        .map(|c| schema.index_of(c))
        .collect::<std::result::Result<Vec<usize>, _>>()?;
    let plan = provider.scan(state, Some(&projection), &[], None).await?;
    let batches = datafusion::physical_plan::collect(plan, state.task_ctx()).await?;
    let mut out = Vec::new();
    for batch in batches {
        let oids: Vec<Vec<i32>> = (0..oid_columns.len())
            .map(|i| {
                let column = datafusion::arrow::compute::cast(batch.column(i), &DataType::Int32)?;
                let values = column
                    .as_any()
                    .downcast_ref::<Int32Array>()
                    .map(|a| a.iter().map(|v| v.unwrap_or_default()).collect())
                    .unwrap_or_default();
                Ok(values)
            })
            .collect::<Result<_>>()?;
        let names =
            datafusion::arrow::compute::cast(batch.column(oid_columns.len()), &DataType::Utf8)?;
        let names = names
            .as_any()
            .downcast_ref::<datafusion::arrow::array::StringArray>()
            .map(|a| {
                a.iter()
                    .map(|v| v.unwrap_or_default().to_owned())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        for (row, name) in names.into_iter().enumerate() {
            out.push((
                oids.iter()
                    .map(|c| c.get(row).copied().unwrap_or_default())
                    .collect(),
                name,
            ));
        }
    }
    Ok(out)
}

/// A catalog table holding OIDs: its first scan in a session has the
/// session's stable OIDs learnt, so statements that read none of these
/// tables (a `SELECT version()`, a `SHOW`) pay nothing for them.
#[derive(Debug)]
pub(crate) struct LearnsOids {
    pub(crate) table: Arc<dyn TableProvider>,
    pub(crate) catalog: Arc<dyn SchemaProvider>,
    pub(crate) oids: Arc<StableOids>,
}

#[async_trait::async_trait]
impl TableProvider for LearnsOids {
    fn schema(&self) -> SchemaRef {
        self.table.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.oids.learn(self.catalog.as_ref(), state).await?;
        self.table.scan(state, projection, filters, limit).await
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        self.table.supports_filters_pushdown(filters)
    }
}

#[derive(Debug)]
struct StableOid {
    oids: Arc<StableOids>,
    signature: Signature,
}

impl PartialEq for StableOid {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.oids, &other.oids)
    }
}

impl Eq for StableOid {}

impl std::hash::Hash for StableOid {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        Arc::as_ptr(&self.oids).hash(state);
    }
}

impl ScalarUDFImpl for StableOid {
    fn name(&self) -> &str {
        "lagoa_stable_oid"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int32)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let field = args
            .arg_fields
            .first()
            .map(|f| f.as_ref().clone().with_name(self.name()))
            .unwrap_or_else(|| Field::new(self.name(), DataType::Int32, true));
        Ok(Arc::new(field))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let stable = |v: Option<i32>| v.map(|oid| self.oids.stable(oid));
        match args.args.first() {
            Some(ColumnarValue::Array(array)) => {
                let oids = array
                    .as_any()
                    .downcast_ref::<Int32Array>()
                    .map(|a| a.iter().map(stable).collect::<Int32Array>())
                    .unwrap_or_else(|| Int32Array::new_null(array.len()));
                Ok(ColumnarValue::Array(Arc::new(oids)))
            }
            Some(ColumnarValue::Scalar(ScalarValue::Int32(v))) => {
                Ok(ColumnarValue::Scalar(ScalarValue::Int32(stable(*v))))
            }
            _ => Ok(ColumnarValue::Scalar(ScalarValue::Int32(None))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(kind: &'static str, names: &[&str]) -> Named {
        (kind, names.iter().map(|n| (*n).to_owned()).collect())
    }

    #[test]
    fn an_object_keeps_its_oid_whatever_else_is_listed() {
        let few = assign(BTreeMap::from([(
            named("relation", &["public", "b"]),
            16390,
        )]));
        let many = assign(BTreeMap::from([
            (named("relation", &["public", "a"]), 16390),
            (named("relation", &["public", "b"]), 16391),
            (named("schema", &["public"]), 16385),
        ]));
        assert_eq!(few[&16390], many[&16391]);
        assert_ne!(many[&16390], many[&16391]);
        assert!(many.values().all(|oid| i64::from(*oid) >= FIRST_ORDINARY));
    }

    #[test]
    fn fixed_oids_are_kept_and_a_schema_and_a_table_of_one_name_differ() {
        let map = assign(BTreeMap::from([
            (named("schema", &["pg_catalog"]), 11),
            (named("schema", &["x"]), 16384),
            (named("relation", &["x", "x"]), 16385),
        ]));
        assert!(!map.contains_key(&11));
        assert_ne!(map[&16384], map[&16385]);
    }

    #[test]
    fn names_landing_on_one_oid_are_told_apart_in_the_order_of_their_names() {
        let top = (i64::from(i32::MAX) - FIRST_ORDINARY) as u64;
        let objects = BTreeMap::from([
            (named("relation", &["public", "b"]), 16391),
            (named("relation", &["public", "a"]), 16390),
            (named("relation", &["public", "c"]), 16392),
        ]);
        let map = assign_by(objects, |_| top);
        assert_eq!(map[&16390], i32::MAX);
        assert_eq!(
            i64::from(map[&16391]),
            FIRST_ORDINARY,
            "probing wraps around"
        );
        assert_eq!(i64::from(map[&16392]), FIRST_ORDINARY + 1);
    }
}
