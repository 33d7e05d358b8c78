//! Arrow results as PostgreSQL rows (text, or binary for the columns a
//! client asks so), and query errors as SQLSTATEs.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Schema};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use bytes::BytesMut;
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

/// The Arrow type of a parameter type a client declares; `None` for one
/// the query must say (or text).
pub(crate) fn arrow_type(t: &Type) -> Option<DataType> {
    use arrow::datatypes::TimeUnit::Microsecond;
    Some(match *t {
        Type::BOOL => DataType::Boolean,
        Type::INT2 => DataType::Int16,
        Type::INT4 => DataType::Int32,
        Type::INT8 => DataType::Int64,
        Type::FLOAT4 => DataType::Float32,
        Type::FLOAT8 => DataType::Float64,
        Type::DATE => DataType::Date32,
        Type::TIMESTAMP => DataType::Timestamp(Microsecond, None),
        Type::TIMESTAMPTZ => DataType::Timestamp(Microsecond, Some("+00:00".into())),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => DataType::Utf8,
        _ => return None,
    })
}

pub(crate) fn fields(schema: &Schema, format: &Format) -> PgWireResult<Vec<FieldInfo>> {
    schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let wire = if format.is_binary(i) {
                FieldFormat::Binary
            } else {
                FieldFormat::Text
            };
            Ok(FieldInfo::new(
                f.name().clone(),
                None,
                None,
                pg_type(f.data_type()),
                wire,
            ))
        })
        .collect()
}

/// How values are written as text: timestamps with a space, as PostgreSQL.
pub(crate) fn text_options() -> FormatOptions<'static> {
    FormatOptions::new()
        .with_timestamp_format(Some("%Y-%m-%d %H:%M:%S%.f"))
        .with_timestamp_tz_format(Some("%Y-%m-%d %H:%M:%S%.f%:z"))
}

/// One formatter per column of `batch`.
pub(crate) fn formatters<'a>(
    batch: &'a RecordBatch,
    options: &'a FormatOptions<'a>,
) -> PgWireResult<Vec<ArrayFormatter<'a>>> {
    batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), options))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| user_error("XX000", e.to_string()))
}

/// A value in PostgreSQL's text form (`t`/`f`, bytea as `\x...`); `None`
/// for NULL.
pub(crate) fn text_value(
    column: &dyn Array,
    row: usize,
    formatter: &ArrayFormatter<'_>,
) -> Option<String> {
    if column.is_null(row) {
        return None;
    }
    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = write_text(&mut text, column, row, formatter);
    Some(text)
}

/// A non-null value's PostgreSQL text form, written into `out`.
fn write_text(
    out: &mut impl std::fmt::Write,
    column: &dyn Array,
    row: usize,
    formatter: &ArrayFormatter<'_>,
) -> std::fmt::Result {
    match column.data_type() {
        DataType::Boolean => out.write_str(if column.as_boolean().value(row) {
            "t"
        } else {
            "f"
        }),
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => write!(out, "\\x{}", formatter.value(row)),
        _ => write!(out, "{}", formatter.value(row)),
    }
}

/// Every row of `batches` in PostgreSQL's text forms (see [`text_value`]),
/// or its binary forms for the columns whose field says binary. Values are
/// written straight into one buffer, each row a slice of it: no allocation
/// per value.
pub(crate) fn rows(
    fields: &Arc<Vec<FieldInfo>>,
    batches: &[RecordBatch],
) -> PgWireResult<Vec<DataRow>> {
    use bytes::BufMut;
    let options = text_options();
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let mut out = Vec::with_capacity(rows);
    let mut buf = BytesMut::new();
    let written = |e: std::fmt::Error| user_error("XX000", format!("encoding a value: {e}"));
    for batch in batches {
        let formatters = formatters(batch, &options)?;
        let columns = batch.columns();
        buf.reserve(ROW_GUESS * columns.len() * batch.num_rows().min(ROWS_PER_BUFFER));
        for row in 0..batch.num_rows() {
            for (i, column) in columns.iter().enumerate() {
                if column.is_null(row) {
                    buf.put_i32(-1);
                    continue;
                }
                let start = buf.len();
                buf.put_i32(0);
                if fields[i].format() == FieldFormat::Binary {
                    // Bytes are written as they are: the binary form itself.
                    let value = formatters[i].value(row);
                    binary_value(column.as_ref(), row, &value, &mut buf);
                } else {
                    write_text(&mut buf, column.as_ref(), row, &formatters[i]).map_err(written)?;
                }
                let length = (buf.len() - start - 4) as i32;
                buf[start..start + 4].copy_from_slice(&length.to_be_bytes());
            }
            out.push(DataRow::new(buf.split(), columns.len() as i16));
        }
    }
    Ok(out)
}

/// Bytes reserved per value, and rows per reservation, when encoding.
const ROW_GUESS: usize = 16;
const ROWS_PER_BUFFER: usize = 4096;

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

/// A column's value in PostgreSQL's binary form for the type
/// [`pg_type`] gives it (what pgJDBC asks for after five executions of a
/// statement, and psycopg with `binary=True`).
fn binary_value(column: &dyn Array, row: usize, text: &dyn std::fmt::Display, out: &mut BytesMut) {
    use DataType::*;
    use arrow::datatypes::{
        Date32Type, Date64Type, Float16Type, Float32Type, Float64Type, Int8Type, Int16Type,
        Int32Type, Int64Type, Time32MillisecondType, Time32SecondType, Time64MicrosecondType,
        Time64NanosecondType, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
        TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type, UInt32Type,
    };
    use bytes::BufMut;
    /// 2000-01-01, PostgreSQL's epoch, in Unix days and microseconds.
    const PG_EPOCH_DAYS: i64 = 10_957;
    const PG_EPOCH_MICROS: i64 = PG_EPOCH_DAYS * 86_400_000_000;
    let micros = |value: i64, unit: &TimeUnit| match unit {
        TimeUnit::Second => value.saturating_mul(1_000_000),
        TimeUnit::Millisecond => value.saturating_mul(1_000),
        TimeUnit::Microsecond => value,
        TimeUnit::Nanosecond => value / 1_000,
    };
    match column.data_type() {
        Boolean => out.put_u8(u8::from(column.as_boolean().value(row))),
        Int8 => out.put_i16(i16::from(column.as_primitive::<Int8Type>().value(row))),
        Int16 => out.put_i16(column.as_primitive::<Int16Type>().value(row)),
        UInt8 => out.put_i16(i16::from(column.as_primitive::<UInt8Type>().value(row))),
        Int32 => out.put_i32(column.as_primitive::<Int32Type>().value(row)),
        UInt16 => out.put_i32(i32::from(column.as_primitive::<UInt16Type>().value(row))),
        Int64 => out.put_i64(column.as_primitive::<Int64Type>().value(row)),
        UInt32 => out.put_i64(i64::from(column.as_primitive::<UInt32Type>().value(row))),
        Float32 => out.put_f32(column.as_primitive::<Float32Type>().value(row)),
        Float64 => out.put_f64(column.as_primitive::<Float64Type>().value(row)),
        Float16 => out.put_f32(f32::from(column.as_primitive::<Float16Type>().value(row))),
        Date32 => {
            let days = i64::from(column.as_primitive::<Date32Type>().value(row)) - PG_EPOCH_DAYS;
            out.put_i32(days as i32);
        }
        Date64 => {
            let days = column
                .as_primitive::<Date64Type>()
                .value(row)
                .div_euclid(86_400_000)
                - PG_EPOCH_DAYS;
            out.put_i32(days as i32);
        }
        Timestamp(unit, _) => {
            let value = match unit {
                TimeUnit::Second => column.as_primitive::<TimestampSecondType>().value(row),
                TimeUnit::Millisecond => {
                    column.as_primitive::<TimestampMillisecondType>().value(row)
                }
                TimeUnit::Microsecond => {
                    column.as_primitive::<TimestampMicrosecondType>().value(row)
                }
                TimeUnit::Nanosecond => column.as_primitive::<TimestampNanosecondType>().value(row),
            };
            out.put_i64(micros(value, unit) - PG_EPOCH_MICROS);
        }
        Time32(unit) => {
            let value = match unit {
                TimeUnit::Second => i64::from(column.as_primitive::<Time32SecondType>().value(row)),
                _ => i64::from(column.as_primitive::<Time32MillisecondType>().value(row)),
            };
            out.put_i64(micros(value, unit));
        }
        Time64(unit) => {
            let value = match unit {
                TimeUnit::Nanosecond => column.as_primitive::<Time64NanosecondType>().value(row),
                _ => column.as_primitive::<Time64MicrosecondType>().value(row),
            };
            out.put_i64(micros(value, unit));
        }
        Binary => out.put_slice(column.as_binary::<i32>().value(row)),
        LargeBinary => out.put_slice(column.as_binary::<i64>().value(row)),
        BinaryView => out.put_slice(column.as_binary_view().value(row)),
        FixedSizeBinary(_) => out.put_slice(column.as_fixed_size_binary().value(row)),
        UInt64 | Decimal32(..) | Decimal64(..) | Decimal128(..) | Decimal256(..) => {
            out.put_slice(&numeric_binary(&text.to_string()))
        }
        _ => {
            use std::fmt::Write;
            // Writing into memory cannot fail.
            let _ = write!(out, "{text}");
        }
    }
}

/// A decimal's text (`-123.4500`) as PostgreSQL's binary NUMERIC: digit
/// count, weight, sign, display scale, then base-10000 digits.
fn numeric_binary(text: &str) -> Vec<u8> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (integer, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let integer = integer.trim_start_matches('0');
    let scale = fraction.len();
    // Group the integer part in fours from the right, the fraction from the left.
    let pad_left = (4 - integer.len() % 4) % 4;
    let integer = format!("{}{integer}", "0".repeat(pad_left));
    let pad_right = (4 - fraction.len() % 4) % 4;
    let fraction = format!("{fraction}{}", "0".repeat(pad_right));
    let groups = |s: &str| -> Vec<i16> {
        s.as_bytes()
            .chunks(4)
            .map(|c| {
                std::str::from_utf8(c)
                    .unwrap_or("0")
                    .parse::<i16>()
                    .unwrap_or(0)
            })
            .collect()
    };
    let int_groups = groups(&integer);
    let mut digits: Vec<i16> = int_groups.clone();
    digits.extend(groups(&fraction));
    let mut weight = int_groups.len() as i16 - 1;
    // No leading zero groups (a value below 1 has a negative weight).
    while digits.first() == Some(&0) {
        digits.remove(0);
        weight -= 1;
    }
    while digits.last() == Some(&0) {
        digits.pop();
    }
    if digits.is_empty() {
        weight = 0;
    }
    let mut out = Vec::with_capacity(8 + 2 * digits.len());
    out.extend_from_slice(&(digits.len() as i16).to_be_bytes());
    out.extend_from_slice(&weight.to_be_bytes());
    let sign: u16 = if negative && !digits.is_empty() {
        0x4000
    } else {
        0
    };
    out.extend_from_slice(&sign.to_be_bytes());
    out.extend_from_slice(&(scale as i16).to_be_bytes());
    for d in digits {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out
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
    fn numeric_results_in_binary_read_back_as_written() {
        for text in [
            "123.4500",
            "-0.0012",
            "0",
            "10000",
            "1.5",
            "-987654321.12",
            "0.00",
        ] {
            assert_eq!(numeric(&numeric_binary(text)).unwrap(), text, "{text}");
        }
    }

    /// Rows as pgwire's own encoder writes them, from the text forms.
    fn encoded_by_pgwire(fields: &Arc<Vec<FieldInfo>>, batch: &RecordBatch) -> Vec<Vec<u8>> {
        let options = text_options();
        let formatters = formatters(batch, &options).unwrap();
        let mut encoder = DataRowEncoder::new(Arc::clone(fields));
        (0..batch.num_rows())
            .map(|row| {
                for (i, column) in batch.columns().iter().enumerate() {
                    encoder
                        .encode_field(&text_value(column.as_ref(), row, &formatters[i]))
                        .unwrap();
                }
                encoder.take_row().data.to_vec()
            })
            .collect()
    }

    fn sample() -> RecordBatch {
        use arrow::array::{BinaryArray, BooleanArray, Date32Array, Int64Array, StringViewArray};
        RecordBatch::try_from_iter(vec![
            (
                "n",
                Arc::new(Int64Array::from(vec![Some(42), None, Some(-7)])) as _,
            ),
            (
                "municipio",
                Arc::new(StringViewArray::from(vec![
                    Some("São José do Rio Preto, a name longer than twelve bytes"),
                    Some(""),
                    None,
                ])) as _,
            ),
            (
                "vivo",
                Arc::new(BooleanArray::from(vec![Some(true), Some(false), None])) as _,
            ),
            (
                "dia",
                Arc::new(Date32Array::from(vec![Some(10_957), Some(0), None])) as _,
            ),
            (
                "bytes",
                Arc::new(BinaryArray::from(vec![
                    Some(&[0xde, 0xad][..]),
                    None,
                    Some(&[][..]),
                ])) as _,
            ),
        ])
        .unwrap()
    }

    #[test]
    fn text_rows_are_written_as_pgwire_writes_them() {
        let batch = sample();
        let fields = Arc::new(fields(&batch.schema(), &Format::UnifiedText).unwrap());
        let ours: Vec<Vec<u8>> = rows(&fields, &[batch.clone(), batch.slice(1, 2)])
            .unwrap()
            .into_iter()
            .map(|r| {
                assert_eq!(r.field_count, 5);
                r.data.to_vec()
            })
            .collect();
        let mut expected = encoded_by_pgwire(&fields, &batch);
        expected.extend(encoded_by_pgwire(&fields, &batch.slice(1, 2)));
        assert_eq!(ours, expected);
        // The date and the bytes as PostgreSQL writes them.
        let first = String::from_utf8_lossy(&ours[0]).into_owned();
        assert!(
            first.contains("2000-01-01") && first.contains("\\xdead"),
            "{first}"
        );
    }

    #[test]
    fn binary_rows_hold_each_value_in_its_binary_form() {
        let batch = sample();
        let fields = Arc::new(fields(&batch.schema(), &Format::UnifiedBinary).unwrap());
        let ours = rows(&fields, &[batch]).unwrap();
        let mut first = Vec::new();
        first.extend_from_slice(&8i32.to_be_bytes());
        first.extend_from_slice(&42i64.to_be_bytes());
        let name = "São José do Rio Preto, a name longer than twelve bytes".as_bytes();
        first.extend_from_slice(&(name.len() as i32).to_be_bytes());
        first.extend_from_slice(name);
        first.extend_from_slice(&[0, 0, 0, 1, 1]);
        first.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0]);
        first.extend_from_slice(&[0, 0, 0, 2, 0xde, 0xad]);
        assert_eq!(ours[0].data.to_vec(), first);
        let mut last = Vec::new();
        last.extend_from_slice(&8i32.to_be_bytes());
        last.extend_from_slice(&(-7i64).to_be_bytes());
        for _ in 0..3 {
            last.extend_from_slice(&(-1i32).to_be_bytes());
        }
        last.extend_from_slice(&0i32.to_be_bytes());
        assert_eq!(ours[2].data.to_vec(), last);
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
