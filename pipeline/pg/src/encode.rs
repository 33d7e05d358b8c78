//! Arrow results as PostgreSQL text rows, and query errors as SQLSTATEs.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Schema};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use lagoa_sql::QueryError;
use pgwire::api::Type;
use pgwire::api::portal::Format;
use pgwire::api::results::{DataRowEncoder, FieldFormat, FieldInfo, QueryResponse, Response};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::data::DataRow;
use std::sync::Arc;

pub(crate) fn user_error(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        code.into(),
        message,
    )))
}

/// The SQLSTATE a client sees for a query error.
pub(crate) fn error_info(e: &QueryError) -> ErrorInfo {
    let code = match e {
        QueryError::Denied(_) => "42501",
        QueryError::Invalid(_) => "42601",
        QueryError::Failed(_) => "42000",
        QueryError::Timeout(_) | QueryError::Cancelled(_) => "57014",
        QueryError::Busy(_) => "53000",
        QueryError::Internal(_) => "XX000",
        QueryError::TooManyRows(_) => "54000",
        QueryError::OutOfMemory(_) => "53200",
        QueryError::Lake(_) => "XX000",
    };
    ErrorInfo::new("ERROR".into(), code.into(), e.to_string())
}

pub(crate) fn pg_type(t: &DataType) -> Type {
    use DataType::*;
    match t {
        Boolean => Type::BOOL,
        Int8 | Int16 | UInt8 => Type::INT2,
        Int32 | UInt16 => Type::INT4,
        Int64 | UInt32 => Type::INT8,
        UInt64 | Decimal32(..) | Decimal64(..) | Decimal128(..) | Decimal256(..) => Type::NUMERIC,
        Float16 | Float32 => Type::FLOAT4,
        Float64 => Type::FLOAT8,
        Binary | LargeBinary | BinaryView | FixedSizeBinary(_) => Type::BYTEA,
        Date32 | Date64 => Type::DATE,
        Timestamp(_, None) => Type::TIMESTAMP,
        Timestamp(_, Some(_)) => Type::TIMESTAMPTZ,
        Time32(_) | Time64(_) => Type::TIME,
        _ => Type::TEXT,
    }
}

pub(crate) fn fields(schema: &Schema, format: &Format) -> PgWireResult<Vec<FieldInfo>> {
    schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            if format.is_binary(i) {
                return Err(user_error(
                    "0A000",
                    "binary result columns are not supported; ask for text".into(),
                ));
            }
            Ok(FieldInfo::new(
                f.name().clone(),
                None,
                None,
                pg_type(f.data_type()),
                FieldFormat::Text,
            ))
        })
        .collect()
}

/// Every row of `batches` in PostgreSQL's text forms (`t`/`f`, timestamps
/// with a space, bytea as `\x...`).
pub(crate) fn rows(
    fields: &Arc<Vec<FieldInfo>>,
    batches: &[RecordBatch],
) -> PgWireResult<Vec<DataRow>> {
    let options = FormatOptions::new()
        .with_timestamp_format(Some("%Y-%m-%d %H:%M:%S%.f"))
        .with_timestamp_tz_format(Some("%Y-%m-%d %H:%M:%S%.f%:z"));
    let mut encoder = DataRowEncoder::new(Arc::clone(fields));
    let mut out = Vec::new();
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| user_error("XX000", e.to_string()))?;
        for row in 0..batch.num_rows() {
            for (i, column) in batch.columns().iter().enumerate() {
                if column.is_null(row) {
                    encoder.encode_field(&None::<&str>)?;
                    continue;
                }
                match column.data_type() {
                    DataType::Boolean => {
                        encoder.encode_field(&column.as_boolean().value(row))?;
                    }
                    DataType::Binary
                    | DataType::LargeBinary
                    | DataType::BinaryView
                    | DataType::FixedSizeBinary(_) => {
                        encoder.encode_field(&format!("\\x{}", formatters[i].value(row)))?;
                    }
                    _ => encoder.encode_field(&formatters[i].value(row).to_string())?,
                }
            }
            out.push(encoder.take_row());
        }
    }
    Ok(out)
}

pub(crate) fn single_text_fields(name: &str) -> Vec<FieldInfo> {
    vec![FieldInfo::new(
        name.to_owned(),
        None,
        None,
        Type::TEXT,
        FieldFormat::Text,
    )]
}

/// A one-row, one-column answer (`SHOW lagoa.purpose`).
pub(crate) fn single_text(name: &str, value: Option<String>) -> Response {
    let fields = Arc::new(single_text_fields(name));
    let mut encoder = DataRowEncoder::new(Arc::clone(&fields));
    let row = encoder
        .encode_field(&value.as_deref())
        .map(|_| encoder.take_row());
    Response::Query(QueryResponse::new(fields, futures::stream::iter([row])))
}

/// A parameter sent in binary, as the text the query engine reads it
/// from. The types clients send binary by default (psycopg: integers,
/// floats, booleans, dates, decimals) are known; others must come as text.
pub(crate) fn binary_param(t: &Type, bytes: &[u8]) -> Result<String, String> {
    let fixed = |n: usize| -> Result<&[u8], String> {
        (bytes.len() == n)
            .then_some(bytes)
            .ok_or_else(|| format!("a binary {t} parameter of {} bytes", bytes.len()))
    };
    Ok(match *t {
        Type::INT2 => i16::from_be_bytes(fixed(2)?.try_into().expect("2 bytes")).to_string(),
        Type::INT4 => i32::from_be_bytes(fixed(4)?.try_into().expect("4 bytes")).to_string(),
        Type::INT8 => i64::from_be_bytes(fixed(8)?.try_into().expect("8 bytes")).to_string(),
        Type::FLOAT4 => f32::from_be_bytes(fixed(4)?.try_into().expect("4 bytes")).to_string(),
        Type::FLOAT8 => f64::from_be_bytes(fixed(8)?.try_into().expect("8 bytes")).to_string(),
        Type::BOOL => (fixed(1)?[0] != 0).to_string(),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
            String::from_utf8(bytes.to_vec()).map_err(|_| "a text parameter that is not UTF-8")?
        }
        Type::DATE => {
            // Days since 2000-01-01, which is day 10 957 of the Unix epoch.
            let days = i32::from_be_bytes(fixed(4)?.try_into().expect("4 bytes"));
            chrono::DateTime::from_timestamp(i64::from(days + 10_957) * 86_400, 0)
                .ok_or("a date out of range")?
                .format("%Y-%m-%d")
                .to_string()
        }
        Type::NUMERIC => numeric(bytes)?,
        _ => {
            return Err(format!(
                "binary {t} parameters are not supported; send them as text"
            ));
        }
    })
}

/// PostgreSQL's binary NUMERIC: digit count, weight, sign, scale, then
/// base-10000 digits.
fn numeric(bytes: &[u8]) -> Result<String, String> {
    let word = |i: usize| -> Result<u16, String> {
        bytes
            .get(2 * i..2 * i + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "a truncated binary numeric parameter".to_owned())
    };
    let ndigits = usize::from(word(0)?);
    let weight = word(1)? as i16;
    let sign = word(2)?;
    let scale = usize::from(word(3)?);
    if sign == 0xC000 {
        return Err("NaN is not a number this service reads".into());
    }
    let digits = (0..ndigits)
        .map(|i| word(4 + i))
        .collect::<Result<Vec<_>, _>>()?;
    let mut integer = String::new();
    for k in 0..=i32::from(weight).max(-1) {
        let d = usize::try_from(k)
            .ok()
            .and_then(|k| digits.get(k))
            .copied()
            .unwrap_or(0);
        if integer.is_empty() {
            integer = d.to_string();
        } else {
            integer.push_str(&format!("{d:04}"));
        }
    }
    if integer.is_empty() {
        integer.push('0');
    }
    let mut fraction = String::new();
    let first_fraction = i32::from(weight) + 1;
    let mut k = first_fraction;
    while fraction.len() < scale {
        let d = if k < 0 {
            0
        } else {
            usize::try_from(k)
                .ok()
                .and_then(|k| digits.get(k))
                .copied()
                .unwrap_or(0)
        };
        fraction.push_str(&format!("{d:04}"));
        k += 1;
    }
    fraction.truncate(scale);
    let sign = if sign == 0x4000 { "-" } else { "" };
    Ok(if scale > 0 {
        format!("{sign}{integer}.{fraction}")
    } else {
        format!("{sign}{integer}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric_bytes(words: &[u16]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_be_bytes()).collect()
    }

    #[test]
    fn binary_parameters_read_as_text() {
        assert_eq!(
            binary_param(&Type::INT8, &2024i64.to_be_bytes()).unwrap(),
            "2024"
        );
        assert_eq!(
            binary_param(&Type::INT2, &(-7i16).to_be_bytes()).unwrap(),
            "-7"
        );
        assert_eq!(
            binary_param(&Type::FLOAT8, &1.5f64.to_be_bytes()).unwrap(),
            "1.5"
        );
        assert_eq!(binary_param(&Type::BOOL, &[1]).unwrap(), "true");
        assert_eq!(
            binary_param(&Type::DATE, &0i32.to_be_bytes()).unwrap(),
            "2000-01-01"
        );
        assert_eq!(
            binary_param(&Type::DATE, &366i32.to_be_bytes()).unwrap(),
            "2001-01-01"
        );
        assert!(binary_param(&Type::INT4, &[0, 1]).is_err());
        // 12345.678: digits 1, 2345, 6780; weight 1; scale 3.
        let n = numeric_bytes(&[3, 1, 0, 3, 1, 2345, 6780]);
        assert_eq!(binary_param(&Type::NUMERIC, &n).unwrap(), "12345.678");
        // -0.05: one digit 500 at weight -1, scale 2.
        let n = numeric_bytes(&[1, 0xFFFF, 0x4000, 2, 500]);
        assert_eq!(binary_param(&Type::NUMERIC, &n).unwrap(), "-0.05");
        // 260005: digits 26, 5 at weight 1.
        let n = numeric_bytes(&[2, 1, 0, 0, 26, 5]);
        assert_eq!(binary_param(&Type::NUMERIC, &n).unwrap(), "260005");
    }
}
