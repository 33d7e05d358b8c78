//! Values: delivered columns turned into the contract's types (text
//! parsed the Brazilian way, typed columns cast), and the contract's
//! constraints checked row by row. A failing row is noted with its column
//! and reason; the batch keeps the rest.

use super::{Parsers, Rule};
use arrow::array::{
    Array, ArrayRef, BooleanBuilder, Date32Builder, Decimal128Builder, Float64Builder,
    Int32Builder, Int64Builder, StringArray, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, TimeUnit};
use std::sync::Arc;

fn is_text(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

/// Whether delivered values of this type can become the contract's type
/// row by row (text always can; the rows that do not parse are rejected).
pub(super) fn convertible(from: &DataType, to: &DataType) -> bool {
    if from == to || is_text(from) || is_text(to) || from == &DataType::Null {
        return true;
    }
    let numeric = |t: &DataType| t.is_numeric();
    match to {
        DataType::Int64 | DataType::Int32 | DataType::Float64 | DataType::Decimal128(..) => {
            numeric(from)
        }
        DataType::Date32 => matches!(
            from,
            DataType::Date32 | DataType::Date64 | DataType::Timestamp(..)
        ),
        DataType::Timestamp(..) => {
            matches!(
                from,
                DataType::Date32 | DataType::Date64 | DataType::Timestamp(..)
            )
        }
        DataType::Boolean => matches!(from, DataType::Boolean),
        _ => false,
    }
}

fn fail(
    failures: &mut [Option<(usize, String)>],
    row: usize,
    column: usize,
    reason: impl Into<String>,
) {
    if failures[row].is_none() {
        failures[row] = Some((column, reason.into()));
    }
}

/// The delivered column in the contract's type; values that do not parse
/// become nulls and failures.
pub(super) fn convert(
    delivered: &ArrayRef,
    rule: &Rule,
    parser: &Parsers,
    column: usize,
    failures: &mut [Option<(usize, String)>],
) -> Result<ArrayRef, String> {
    if is_text(delivered.data_type()) {
        let text = cast_with_options(delivered, &DataType::Utf8, &CastOptions::default())
            .map_err(|e| format!("reading column {}: {e}", rule.spec.name))?;
        let text = text
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| "text column is not UTF-8".to_string())?;
        return Ok(parse_text(text, rule, parser, column, failures));
    }
    if delivered.data_type() == &rule.data_type {
        return Ok(Arc::clone(delivered));
    }
    let target = match &rule.data_type {
        DataType::Timestamp(unit, _) => DataType::Timestamp(*unit, None),
        other => other.clone(),
    };
    let cast = cast_with_options(
        delivered,
        &target,
        &CastOptions {
            safe: true,
            ..Default::default()
        },
    )
    .map_err(|e| format!("converting column {}: {e}", rule.spec.name))?;
    // A cast that rounds or truncates (34.7 into an integer, 1.234 into
    // decimal(10,2)) does not come back equal: such values are refused,
    // as their text would be.
    let back = if delivered.data_type().is_numeric() && target.is_numeric() {
        cast_with_options(&cast, delivered.data_type(), &CastOptions::default()).ok()
    } else {
        None
    };
    let unequal = back
        .as_ref()
        .and_then(|b| arrow::compute::kernels::cmp::distinct(delivered, b).ok());
    for row in 0..cast.len() {
        if delivered.is_valid(row)
            && (cast.is_null(row) || unequal.as_ref().is_some_and(|u| u.value(row)))
        {
            fail(
                failures,
                row,
                column,
                format!(
                    "cannot be represented as {} without loss",
                    rule.spec.data_type
                ),
            );
        }
    }
    Ok(cast)
}

fn parse_text(
    text: &StringArray,
    rule: &Rule,
    parser: &Parsers,
    column: usize,
    failures: &mut [Option<(usize, String)>],
) -> ArrayRef {
    let n = text.len();
    let value = |row: usize| -> Option<&str> {
        if text.is_null(row) {
            return None;
        }
        let v = lagoa_schemas::values::trim(text.value(row));
        if parser.contract.is_null_trimmed(v) {
            None
        } else {
            Some(v)
        }
    };
    macro_rules! parse_into {
        ($builder:expr, $parse:expr) => {{
            let mut builder = $builder;
            for row in 0..n {
                match value(row) {
                    None => builder.append_null(),
                    Some(v) => match $parse(v) {
                        Ok(x) => builder.append_value(x),
                        Err(reason) => {
                            builder.append_null();
                            fail(failures, row, column, reason);
                        }
                    },
                }
            }
            Arc::new(builder.finish()) as ArrayRef
        }};
    }
    match &rule.data_type {
        DataType::Int64 => parse_into!(Int64Builder::with_capacity(n), |v| parser
            .parse(|p| p.integer(v))),
        DataType::Int32 => parse_into!(Int32Builder::with_capacity(n), |v| parser
            .parse(|p| p.integer(v))
            .and_then(|i| i32::try_from(i).map_err(|_| "out of range for int32"))),
        DataType::Float64 => parse_into!(Float64Builder::with_capacity(n), |v| parser
            .parse(|p| p.float(v))),
        DataType::Decimal128(p, s) => {
            let (p, s) = (*p, *s);
            let array = parse_into!(Decimal128Builder::with_capacity(n), |v| parser
                .parse(|x| x.decimal(v, p, s)));
            let decimal = array
                .as_any()
                .downcast_ref::<arrow::array::Decimal128Array>()
                .expect("built above")
                .clone()
                .with_precision_and_scale(p, s)
                .expect("validated by the contract");
            Arc::new(decimal)
        }
        DataType::Date32 => parse_into!(Date32Builder::with_capacity(n), |v| parser
            .parse(|p| p.date(v))),
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            parse_into!(TimestampMicrosecondBuilder::with_capacity(n), |v| parser
                .parse(|p| p.timestamp(v)))
        }
        DataType::Boolean => parse_into!(BooleanBuilder::with_capacity(n), |v| parser
            .parse(|p| p.boolean(v))),
        _ => {
            // Text that needs no trimming and holds no null marker is kept
            // as delivered, without a copy.
            let unchanged = (0..n).all(|row| match value(row) {
                None => text.is_null(row),
                Some(v) => v.len() == text.value(row).len(),
            });
            if unchanged {
                return Arc::new(text.clone());
            }
            let mut builder = StringBuilder::with_capacity(n, text.value_data().len());
            for row in 0..n {
                match value(row) {
                    None => builder.append_null(),
                    Some(v) => builder.append_value(v),
                }
            }
            Arc::new(builder.finish())
        }
    }
}

pub(super) fn check_constraints(
    array: &ArrayRef,
    rule: &Rule,
    column: usize,
    failures: &mut [Option<(usize, String)>],
) {
    if !rule.spec.nullable {
        for row in 0..array.len() {
            if array.is_null(row) && failures[row].is_none() {
                fail(failures, row, column, "required value is missing");
            }
        }
    }
    if rule.min.is_some() || rule.max.is_some() {
        let as_f64 = cast_with_options(array, &DataType::Float64, &CastOptions::default()).ok();
        let days = matches!(rule.data_type, DataType::Date32)
            .then(|| cast_with_options(array, &DataType::Int32, &CastOptions::default()).ok())
            .flatten();
        let stamps = matches!(rule.data_type, DataType::Timestamp(..))
            .then(|| cast_with_options(array, &DataType::Int64, &CastOptions::default()).ok())
            .flatten();
        for row in 0..array.len() {
            if array.is_null(row) {
                continue;
            }
            let v = if let Some(d) = &days {
                d.as_any()
                    .downcast_ref::<arrow::array::Int32Array>()
                    .map(|a| a.value(row) as f64)
            } else if let Some(t) = &stamps {
                t.as_any()
                    .downcast_ref::<arrow::array::Int64Array>()
                    .map(|a| a.value(row) as f64)
            } else {
                as_f64
                    .as_ref()
                    .and_then(|a| a.as_any().downcast_ref::<arrow::array::Float64Array>())
                    .map(|a| a.value(row))
            };
            let Some(v) = v else { continue };
            if rule.min.is_some_and(|m| v < m) {
                fail(failures, row, column, "below the contract's minimum");
            } else if rule.max.is_some_and(|m| v > m) {
                fail(failures, row, column, "above the contract's maximum");
            }
        }
    }
    if rule.pattern.is_none() && rule.values.is_none() && rule.validator.is_none() {
        return;
    }
    // Patterns, enumerations and validators apply to the value's text,
    // whatever its type (an integer municipality code has check digits too).
    let rendered = cast_with_options(array, &DataType::Utf8, &CastOptions::default()).ok();
    let Some(text) = rendered
        .as_ref()
        .and_then(|r| r.as_any().downcast_ref::<StringArray>())
    else {
        return;
    };
    for row in 0..text.len() {
        if text.is_null(row) {
            continue;
        }
        let v = text.value(row);
        if let Some(values) = &rule.values
            && !values.contains(v)
        {
            fail(failures, row, column, "not one of the contract's values");
        } else if let Some(p) = &rule.pattern
            && !p.is_match(v)
        {
            fail(
                failures,
                row,
                column,
                "does not match the contract's pattern",
            );
        } else if let Some(validator) = &rule.validator
            && !validator.check(v)
        {
            fail(
                failures,
                row,
                column,
                format!("not a valid {} (check digits)", validator.name()),
            );
        }
    }
}
