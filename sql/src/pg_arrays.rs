//! PostgreSQL's array and vector values in the catalog, as clients use
//! them: `pg_index.indkey` (an `int2vector`), `pg_proc.proargtypes` (an
//! `oidvector`), `pg_constraint.conkey` (an `int2[]`). `datafusion-pg-catalog`
//! keeps them as their text (`1 2`, `{1,2}` or `[1, 2]`), so `indkey[1]`,
//! `unnest(conkey)` and `proargtypes::regtype[]` fail to plan; [`as_array`]
//! reads such a text as the list it is; [`ExpandArray`] is PostgreSQL's
//! `information_schema._pg_expandarray` and [`Subscripts`] its
//! `generate_subscripts(a, 1)`, each as a list the statement `unnest`s.

use datafusion::arrow::array::{
    Array, ArrayBuilder, ArrayRef, AsArray, Int16Builder, Int32Array, Int32Builder, ListArray,
    ListBuilder, StringBuilder, StructArray,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use std::sync::Arc;

/// The name `_pg_expandarray` calls are rewritten to (see `pg_rewrite`).
pub(crate) const EXPAND_ARRAY: &str = "_pg_expandarray";

/// The name `generate_subscripts` calls are rewritten to.
pub(crate) const SUBSCRIPTS: &str = "_pg_subscripts";

/// `text` (a column of the catalog holding an array's text) as a list of
/// `element`s: `Int16`, `Int32` or `Utf8`.
pub(crate) fn as_array(text: Expr, element: DataType) -> Expr {
    ScalarUDF::new_from_impl(TextArray {
        signature: Signature::any(1, Volatility::Immutable),
        element,
    })
    .call(vec![text])
}

/// An array's text read as a list (see [`as_array`]).
#[derive(Debug, PartialEq, Eq, Hash)]
struct TextArray {
    signature: Signature,
    element: DataType,
}

/// The elements of an array's text: PostgreSQL's `{a,b}`, a vector's
/// `a b`, or the `[a, b]` / `['a', 'b']` the catalog was exported with.
fn elements(text: &str) -> Vec<&str> {
    let t = text.trim();
    let inner = t
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .or_else(|| t.strip_prefix('[').and_then(|r| r.strip_suffix(']')));
    let parts: Vec<&str> = match inner {
        Some(inner) => inner.split(',').collect(),
        None => t.split_whitespace().collect(),
    };
    parts
        .into_iter()
        .map(|p| p.trim().trim_matches(|c| c == '\'' || c == '"'))
        .filter(|p| !p.is_empty())
        .collect()
}

impl ScalarUDFImpl for TextArray {
    fn name(&self) -> &str {
        "pg_array_of_text"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::new_list(self.element.clone(), true))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let array = args.args[0].to_array(args.number_rows)?;
        let text = datafusion::arrow::compute::cast(&array, &DataType::Utf8)?;
        let text = text.as_string::<i32>();
        let rows = text.iter().map(|v| v.map(elements));
        let list: ArrayRef = match &self.element {
            DataType::Int16 => list_of(rows, Int16Builder::new(), |b, v| {
                b.append_option(v.parse::<i16>().ok());
            }),
            DataType::Int32 => list_of(rows, Int32Builder::new(), |b, v| {
                b.append_option(v.parse::<i32>().ok());
            }),
            DataType::Utf8 => list_of(rows, StringBuilder::new(), |b, v| b.append_value(v)),
            other => return exec_err!("no catalog arrays of {other}"),
        };
        Ok(ColumnarValue::Array(list))
    }
}

/// One list per row (NULL for `None`), each element pushed by `push`.
fn list_of<'a, B: ArrayBuilder>(
    rows: impl Iterator<Item = Option<Vec<&'a str>>>,
    values: B,
    push: impl Fn(&mut B, &'a str),
) -> ArrayRef {
    let mut b = ListBuilder::new(values);
    for row in rows {
        match row {
            Some(items) => {
                for item in items {
                    push(b.values(), item);
                }
                b.append(true);
            }
            None => b.append(false),
        }
    }
    Arc::new(b.finish())
}

/// `_pg_expandarray(a)`: each element of `a` as a record `{x, n}`, the
/// element and its position from 1, all in one list (the statement
/// `unnest`s it, which gives PostgreSQL's one row per element).
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct ExpandArray {
    signature: Signature,
}

impl ExpandArray {
    pub(crate) fn udf() -> ScalarUDF {
        ScalarUDF::new_from_impl(ExpandArray {
            signature: Signature::any(1, Volatility::Immutable),
        })
    }
}

fn record_fields(element: &DataType) -> Fields {
    Fields::from(vec![
        Field::new("x", element.clone(), true),
        Field::new("n", DataType::Int32, false),
    ])
}

fn element_of(list: &DataType) -> Result<DataType> {
    match list {
        DataType::List(f) => Ok(f.data_type().clone()),
        DataType::Null => Ok(DataType::Int32),
        other => exec_err!("_pg_expandarray takes an array, not {other}"),
    }
}

impl ScalarUDFImpl for ExpandArray {
    fn name(&self) -> &str {
        EXPAND_ARRAY
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        let element = element_of(&args[0])?;
        Ok(DataType::new_list(
            DataType::Struct(record_fields(&element)),
            true,
        ))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let array = args.args[0].to_array(args.number_rows)?;
        let list = match array.data_type() {
            DataType::List(_) => array.as_list::<i32>().clone(),
            DataType::Null => ListArray::new_null(
                Arc::new(Field::new("item", DataType::Int32, true)),
                array.len(),
            ),
            other => return exec_err!("_pg_expandarray takes an array, not {other}"),
        };
        let element = element_of(list.data_type())?;
        let offsets = list.offsets();
        let mut positions = Vec::with_capacity(list.values().len());
        for w in offsets.windows(2) {
            let len = usize::try_from(w[1] - w[0]).unwrap_or(0);
            positions.extend((1..=len).map(|n| i32::try_from(n).unwrap_or(i32::MAX)));
        }
        let start = usize::try_from(offsets[0]).unwrap_or(0);
        let values = list.values().slice(start, positions.len());
        let records = StructArray::try_new(
            record_fields(&element),
            vec![values, Arc::new(Int32Array::from(positions))],
            None,
        )?;
        let rebased: Vec<i32> = offsets.iter().map(|o| o - offsets[0]).collect();
        let out = ListArray::try_new(
            Arc::new(Field::new(
                "item",
                DataType::Struct(record_fields(&element)),
                true,
            )),
            OffsetBuffer::new(rebased.into()),
            Arc::new(records),
            list.nulls().cloned(),
        )?;
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// `_pg_subscripts(a)`: the positions of `a`'s elements, `[1, ..., n]`
/// (PostgreSQL's `generate_subscripts(a, 1)`, unnested by the statement).
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct Subscripts {
    signature: Signature,
}

impl Subscripts {
    pub(crate) fn udf() -> ScalarUDF {
        ScalarUDF::new_from_impl(Subscripts {
            signature: Signature::variadic_any(Volatility::Immutable),
        })
    }
}

impl ScalarUDFImpl for Subscripts {
    fn name(&self) -> &str {
        SUBSCRIPTS
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        element_of(args.first().unwrap_or(&DataType::Null))?;
        Ok(DataType::new_list(DataType::Int32, true))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some(first) = args.args.first() else {
            return exec_err!("generate_subscripts takes an array and a dimension");
        };
        if let Some(dimension) = args.args.get(1)
            && let ColumnarValue::Scalar(d) = dimension
            && !d.is_null()
            && d.to_string() != "1"
        {
            return exec_err!("generate_subscripts: only dimension 1 (one-dimensional arrays)");
        }
        let array = first.to_array(args.number_rows)?;
        let mut b = ListBuilder::new(Int32Builder::new());
        match array.data_type() {
            DataType::List(_) => {
                let list = array.as_list::<i32>();
                for i in 0..list.len() {
                    if list.is_null(i) {
                        b.append(false);
                        continue;
                    }
                    let n = list.value_length(i);
                    for p in 1..=n {
                        b.values().append_value(p);
                    }
                    b.append(true);
                }
            }
            DataType::Null => (0..array.len()).for_each(|_| b.append(false)),
            other => return exec_err!("generate_subscripts takes an array, not {other}"),
        }
        Ok(ColumnarValue::Array(Arc::new(b.finish())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_text_form_of_an_array_gives_its_elements() {
        assert_eq!(elements("1 2"), ["1", "2"]);
        assert_eq!(elements("{1,2}"), ["1", "2"]);
        assert_eq!(elements("[2, 20, 3]"), ["2", "20", "3"]);
        assert_eq!(elements("['v', 'i']"), ["v", "i"]);
        assert!(elements("").is_empty());
        assert!(elements("{}").is_empty());
    }
}
