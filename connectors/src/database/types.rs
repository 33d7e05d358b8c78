//! From a result column's binary wire value to an Arrow value.
//!
//! Both engines are read through their binary (prepared statement)
//! protocols, and every value is taken as the raw bytes the server sent;
//! this module decodes them. Decoding the bytes ourselves keeps it exact
//! (numerics arrive as text and become `i128`), total (PostgreSQL
//! `infinity` dates and MySQL zero dates become null instead of a panic
//! in a date library) and free of per-value allocation.
//!
//! A column's [`Kind`] (its Arrow type) and [`Wire`] (how its bytes look)
//! are decided once, from the result's column metadata, before any row is
//! read; see `postgres.rs` and `mysql.rs` for the mapping tables.

use arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder,
    Float64Builder, Int8Builder, Int16Builder, Int32Builder, Int64Builder, StringBuilder,
    Time64MicrosecondBuilder, TimestampMicrosecondBuilder, UInt8Builder, UInt16Builder,
    UInt32Builder, UInt64Builder,
};
use arrow::datatypes::{DataType, TimeUnit};
use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Timelike};
use std::borrow::Cow;
use std::sync::Arc;

/// The Arrow type a column becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Boolean,
    Int8,
    Int16,
    Int32,
    Int64,
    UInt8,
    UInt16,
    UInt32,
    UInt64,
    Float32,
    Float64,
    Decimal {
        precision: u8,
        scale: i8,
    },
    Utf8,
    Binary,
    Date32,
    /// Microseconds; `utc` for instants (PG `timestamptz`, MySQL
    /// `TIMESTAMP`), without a zone for wall-clock values.
    Timestamp {
        utc: bool,
    },
    /// Time of day, microseconds.
    Time64,
}

impl Kind {
    pub(super) fn data_type(self) -> DataType {
        match self {
            Kind::Boolean => DataType::Boolean,
            Kind::Int8 => DataType::Int8,
            Kind::Int16 => DataType::Int16,
            Kind::Int32 => DataType::Int32,
            Kind::Int64 => DataType::Int64,
            Kind::UInt8 => DataType::UInt8,
            Kind::UInt16 => DataType::UInt16,
            Kind::UInt32 => DataType::UInt32,
            Kind::UInt64 => DataType::UInt64,
            Kind::Float32 => DataType::Float32,
            Kind::Float64 => DataType::Float64,
            Kind::Decimal { precision, scale } => DataType::Decimal128(precision, scale),
            Kind::Utf8 => DataType::Utf8,
            Kind::Binary => DataType::Binary,
            Kind::Date32 => DataType::Date32,
            Kind::Timestamp { utc: false } => DataType::Timestamp(TimeUnit::Microsecond, None),
            Kind::Timestamp { utc: true } => {
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
            }
            Kind::Time64 => DataType::Time64(TimeUnit::Microsecond),
        }
    }

    /// The Decimal128 kind for a declared `(precision, scale)`, when Arrow
    /// can hold it exactly; `None` means "keep it as exact text".
    pub(super) fn decimal(precision: i64, scale: i64) -> Option<Kind> {
        let precision = u8::try_from(precision).ok()?;
        let scale = i8::try_from(scale).ok()?;
        let fits = (1..=38).contains(&precision) && (0..=precision as i8).contains(&scale);
        fits.then_some(Kind::Decimal { precision, scale })
    }
}

/// How a column's value bytes look on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Wire {
    /// PostgreSQL binary formats (big-endian).
    PgBool,
    PgInt,
    PgFloat4,
    PgFloat8,
    /// Text of a native text type.
    PgText,
    /// Text of any other type, cast `::text` by the extraction query.
    PgCastText,
    /// `numeric` cast to text by the query, read as a decimal.
    PgNumericText,
    /// Days since 2000-01-01.
    PgDate,
    /// Microseconds since 2000-01-01 (both `timestamp` and `timestamptz`).
    PgTimestamp,
    /// Microseconds since midnight.
    PgTime,
    PgUuid,
    PgBytes,
    /// MySQL binary formats (little-endian).
    MyInt {
        signed: bool,
    },
    MyFloat,
    MyDouble,
    MyText,
    /// `DECIMAL`, sent as text.
    MyDecimalText,
    /// `DATE`, `DATETIME`, `TIMESTAMP`: a length byte, then the parts.
    MyDateTime,
    /// `TIME`: a duration of up to ±838 hours, kept as MySQL's text.
    MyTime,
    /// `BIT(n)`: big-endian bytes.
    MyBit,
    MyBytes,
}

/// One decoded value, borrowing the row's bytes where it can.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Value<'a> {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    /// Unscaled, at the column's scale.
    Decimal(i128),
    Text(Cow<'a, str>),
    Bytes(&'a [u8]),
    /// Days since 1970-01-01.
    Date(i32),
    /// Microseconds since 1970-01-01 UTC (timestamps) or since midnight
    /// (times of day).
    Micros(i64),
}

impl Value<'_> {
    /// Bytes a variable-size value adds to a batch (for the batch size cap).
    pub(super) fn heap_size(&self) -> usize {
        match self {
            Value::Text(text) => text.len(),
            Value::Bytes(bytes) => bytes.len(),
            _ => 0,
        }
    }
}

/// PostgreSQL's epoch (2000-01-01) in days and microseconds after Unix's.
const PG_EPOCH_DAYS: i32 = 10_957;
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// Decodes one value. Errors name what is wrong, never the value.
pub(super) fn decode(wire: Wire, kind: Kind, bytes: Option<&[u8]>) -> Result<Value<'_>, String> {
    let Some(bytes) = bytes else {
        return Ok(Value::Null);
    };
    match wire {
        Wire::PgBool => Ok(Value::Bool(fixed::<1>(bytes)?[0] != 0)),
        Wire::PgInt => pg_int(bytes),
        Wire::PgFloat4 => Ok(Value::Float(f32::from_be_bytes(fixed(bytes)?) as f64)),
        Wire::PgFloat8 => Ok(Value::Float(f64::from_be_bytes(fixed(bytes)?))),
        Wire::PgText | Wire::PgCastText | Wire::MyText => {
            Ok(Value::Text(Cow::Borrowed(utf8(bytes)?)))
        }
        Wire::PgNumericText | Wire::MyDecimalText => numeric_text(kind, utf8(bytes)?),
        Wire::PgDate => Ok(pg_date(i32::from_be_bytes(fixed(bytes)?))),
        Wire::PgTimestamp => Ok(pg_timestamp(i64::from_be_bytes(fixed(bytes)?))),
        Wire::PgTime => Ok(Value::Micros(i64::from_be_bytes(fixed(bytes)?))),
        Wire::PgUuid => Ok(Value::Text(Cow::Owned(
            sqlx::types::Uuid::from_bytes(fixed(bytes)?).to_string(),
        ))),
        Wire::PgBytes | Wire::MyBytes => Ok(Value::Bytes(bytes)),
        Wire::MyInt { signed } => my_int(bytes, signed),
        Wire::MyFloat => Ok(Value::Float(f32::from_le_bytes(fixed(bytes)?) as f64)),
        Wire::MyDouble => Ok(Value::Float(f64::from_le_bytes(fixed(bytes)?))),
        Wire::MyDateTime => my_date_time(kind, bytes),
        Wire::MyTime => Ok(Value::Text(Cow::Owned(my_time(bytes)?))),
        Wire::MyBit => my_bit(bytes),
    }
}

fn fixed<const N: usize>(bytes: &[u8]) -> Result<[u8; N], String> {
    bytes
        .try_into()
        .map_err(|_| format!("expected {N} bytes from the server, got {}", bytes.len()))
}

fn utf8(bytes: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(bytes).map_err(|_| "text is not valid UTF-8".to_string())
}

fn pg_int(bytes: &[u8]) -> Result<Value<'static>, String> {
    let value = match bytes.len() {
        2 => i16::from_be_bytes(fixed(bytes)?) as i64,
        4 => i32::from_be_bytes(fixed(bytes)?) as i64,
        8 => i64::from_be_bytes(fixed(bytes)?),
        n => return Err(format!("expected a 2, 4 or 8 byte integer, got {n} bytes")),
    };
    Ok(Value::Int(value))
}

/// `infinity` and `-infinity` (the extreme values) have no Arrow date.
fn pg_date(days: i32) -> Value<'static> {
    if days == i32::MAX || days == i32::MIN {
        return Value::Null;
    }
    days.checked_add(PG_EPOCH_DAYS)
        .map_or(Value::Null, Value::Date)
}

fn pg_timestamp(micros: i64) -> Value<'static> {
    if micros == i64::MAX || micros == i64::MIN {
        return Value::Null;
    }
    micros
        .checked_add(PG_EPOCH_MICROS)
        .map_or(Value::Null, Value::Micros)
}

fn numeric_text(kind: Kind, text: &str) -> Result<Value<'_>, String> {
    match kind {
        // NaN is allowed in a constrained PostgreSQL numeric; Decimal128
        // has no NaN.
        Kind::Decimal { .. } if text == "NaN" => Ok(Value::Null),
        Kind::Decimal { scale, .. } => parse_decimal(text, scale).map(Value::Decimal),
        _ => Ok(Value::Text(Cow::Borrowed(text))),
    }
}

/// `-123.45` at `scale` 3 is `-123450`. No exponents (neither engine
/// writes them for decimals); fails rather than round.
pub(super) fn parse_decimal(text: &str, scale: i8) -> Result<i128, String> {
    let invalid = || "not a decimal number".to_string();
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !all_digits(whole) || !all_digits(fraction) {
        return Err(invalid());
    }
    let fraction = fraction.trim_end_matches('0');
    if fraction.len() > scale.max(0) as usize {
        return Err("has more decimal places than the column's scale".into());
    }
    let overflow = || "does not fit the column's precision".to_string();
    let mut unscaled: i128 = 0;
    for b in whole.bytes().chain(fraction.bytes()) {
        unscaled = unscaled
            .checked_mul(10)
            .and_then(|v| v.checked_add((b - b'0') as i128))
            .ok_or_else(overflow)?;
    }
    let shift = scale as i32 - fraction.len() as i32;
    unscaled = unscaled
        .checked_mul(10i128.checked_pow(shift as u32).ok_or_else(overflow)?)
        .ok_or_else(overflow)?;
    Ok(if negative { -unscaled } else { unscaled })
}

/// Formats an unscaled decimal as text (the inverse of [`parse_decimal`]).
pub(super) fn format_decimal(unscaled: i128, scale: i8) -> String {
    let digits = unscaled.unsigned_abs().to_string();
    let sign = if unscaled < 0 { "-" } else { "" };
    let scale = scale.max(0) as usize;
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (whole, fraction) = padded.split_at(padded.len() - scale);
    format!("{sign}{whole}.{fraction}")
}

fn my_int(bytes: &[u8], signed: bool) -> Result<Value<'static>, String> {
    let value = match (bytes.len(), signed) {
        (1, true) => Value::Int(i8::from_le_bytes(fixed(bytes)?) as i64),
        (2, true) => Value::Int(i16::from_le_bytes(fixed(bytes)?) as i64),
        (4, true) => Value::Int(i32::from_le_bytes(fixed(bytes)?) as i64),
        (8, true) => Value::Int(i64::from_le_bytes(fixed(bytes)?)),
        (1, false) => Value::UInt(bytes[0] as u64),
        (2, false) => Value::UInt(u16::from_le_bytes(fixed(bytes)?) as u64),
        (4, false) => Value::UInt(u32::from_le_bytes(fixed(bytes)?) as u64),
        (8, false) => Value::UInt(u64::from_le_bytes(fixed(bytes)?)),
        (n, _) => {
            return Err(format!(
                "expected a 1, 2, 4 or 8 byte integer, got {n} bytes"
            ));
        }
    };
    Ok(value)
}

/// A length byte (0, 4, 7 or 11), then year (2 bytes), month, day, hour,
/// minute, second, microseconds (4 bytes). Zero dates (`0000-00-00`) and
/// dates with zero parts (`2024-00-10`) have no calendar date: null.
fn my_date_time(kind: Kind, bytes: &[u8]) -> Result<Value<'static>, String> {
    let (&len, parts) = bytes.split_first().ok_or("empty date value")?;
    if parts.len() != len as usize || !matches!(len, 0 | 4 | 7 | 11) {
        return Err(format!("unexpected date value of {len} bytes"));
    }
    if len == 0 {
        return Ok(Value::Null);
    }
    let year = u16::from_le_bytes([parts[0], parts[1]]) as i32;
    let Some(date) = NaiveDate::from_ymd_opt(year, parts[2] as u32, parts[3] as u32) else {
        return Ok(Value::Null);
    };
    let (hour, minute, second) = if len >= 7 {
        (parts[4] as u32, parts[5] as u32, parts[6] as u32)
    } else {
        (0, 0, 0)
    };
    let micros = if len == 11 {
        u32::from_le_bytes([parts[7], parts[8], parts[9], parts[10]])
    } else {
        0
    };
    if kind == Kind::Date32 {
        return Ok(Value::Date(days_since_unix_epoch(date)));
    }
    let time = NaiveTime::from_hms_micro_opt(hour, minute, second, micros)
        .ok_or("invalid time of day in a date-time value")?;
    Ok(Value::Micros(
        date.and_time(time).and_utc().timestamp_micros(),
    ))
}

fn days_since_unix_epoch(date: NaiveDate) -> i32 {
    date.num_days_from_ce() - 719_163
}

/// A length byte (0, 8 or 12), then sign, days (4 bytes), hour, minute,
/// second, microseconds (4 bytes); written as MySQL does: `-838:59:59`.
fn my_time(bytes: &[u8]) -> Result<String, String> {
    let (&len, parts) = bytes.split_first().ok_or("empty time value")?;
    if parts.len() != len as usize || !matches!(len, 0 | 8 | 12) {
        return Err(format!("unexpected time value of {len} bytes"));
    }
    if len == 0 {
        return Ok("00:00:00".into());
    }
    let sign = if parts[0] == 1 { "-" } else { "" };
    let days = u32::from_le_bytes([parts[1], parts[2], parts[3], parts[4]]) as u64;
    let hours = days * 24 + parts[5] as u64;
    let (minute, second) = (parts[6], parts[7]);
    let micros = if len == 12 {
        u32::from_le_bytes([parts[8], parts[9], parts[10], parts[11]])
    } else {
        0
    };
    if micros == 0 {
        Ok(format!("{sign}{hours:02}:{minute:02}:{second:02}"))
    } else {
        Ok(format!(
            "{sign}{hours:02}:{minute:02}:{second:02}.{micros:06}"
        ))
    }
}

fn my_bit(bytes: &[u8]) -> Result<Value<'static>, String> {
    if bytes.len() > 8 {
        return Err(format!(
            "BIT value of {} bytes is wider than 64 bits",
            bytes.len()
        ));
    }
    Ok(Value::UInt(
        bytes.iter().fold(0u64, |acc, b| (acc << 8) | *b as u64),
    ))
}

/// The value as text, for the incremental cursor and primary keys: the
/// form the database reads back (`CAST('…' AS timestamp)`), stable between
/// runs. `None` for null.
pub(super) fn key_text(kind: Kind, value: &Value<'_>) -> Option<String> {
    Some(match value {
        Value::Null => return None,
        Value::Bool(b) => b.to_string(),
        Value::Int(v) => v.to_string(),
        Value::UInt(v) => v.to_string(),
        Value::Float(v) => v.to_string(),
        Value::Decimal(v) => match kind {
            Kind::Decimal { scale, .. } => format_decimal(*v, scale),
            _ => v.to_string(),
        },
        Value::Text(text) => text.to_string(),
        Value::Bytes(bytes) => bytes.iter().map(|b| format!("{b:02x}")).collect(),
        Value::Date(days) => days
            .checked_add(719_163)
            .and_then(NaiveDate::from_num_days_from_ce_opt)
            .map_or_else(|| days.to_string(), |d| d.format("%Y-%m-%d").to_string()),
        Value::Micros(micros) if kind == Kind::Time64 => time_text(*micros),
        Value::Micros(micros) => DateTime::from_timestamp_micros(*micros).map_or_else(
            || micros.to_string(),
            |t| t.naive_utc().format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
        ),
    })
}

fn time_text(micros: i64) -> String {
    let seconds = micros.div_euclid(1_000_000);
    let fraction = micros.rem_euclid(1_000_000) as u32;
    NaiveTime::from_num_seconds_from_midnight_opt(seconds as u32, fraction * 1000).map_or_else(
        || micros.to_string(),
        |t| {
            format!(
                "{:02}:{:02}:{:02}.{fraction:06}",
                t.hour(),
                t.minute(),
                t.second()
            )
        },
    )
}

/// An Arrow builder for one column of a batch.
pub(super) enum ColumnBuilder {
    Boolean(BooleanBuilder),
    Int8(Int8Builder),
    Int16(Int16Builder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    UInt8(UInt8Builder),
    UInt16(UInt16Builder),
    UInt32(UInt32Builder),
    UInt64(UInt64Builder),
    Float32(Float32Builder),
    Float64(Float64Builder),
    Decimal(Decimal128Builder, u8, i8),
    Utf8(StringBuilder),
    Binary(BinaryBuilder),
    Date32(Date32Builder),
    Timestamp(TimestampMicrosecondBuilder, bool),
    Time64(Time64MicrosecondBuilder),
}

macro_rules! for_each_builder {
    ($self:expr, $b:ident => $body:expr) => {
        match $self {
            ColumnBuilder::Boolean($b) => $body,
            ColumnBuilder::Int8($b) => $body,
            ColumnBuilder::Int16($b) => $body,
            ColumnBuilder::Int32($b) => $body,
            ColumnBuilder::Int64($b) => $body,
            ColumnBuilder::UInt8($b) => $body,
            ColumnBuilder::UInt16($b) => $body,
            ColumnBuilder::UInt32($b) => $body,
            ColumnBuilder::UInt64($b) => $body,
            ColumnBuilder::Float32($b) => $body,
            ColumnBuilder::Float64($b) => $body,
            ColumnBuilder::Decimal($b, _, _) => $body,
            ColumnBuilder::Utf8($b) => $body,
            ColumnBuilder::Binary($b) => $body,
            ColumnBuilder::Date32($b) => $body,
            ColumnBuilder::Timestamp($b, _) => $body,
            ColumnBuilder::Time64($b) => $body,
        }
    };
}

/// An integer value into a narrower builder; the server declared the
/// column's width, so a miss means the metadata lied.
fn narrow<T: TryFrom<i64> + TryFrom<u64>>(value: &Value<'_>) -> Result<T, String> {
    let out_of_range = || "integer out of the column type's range".to_string();
    match value {
        Value::Int(v) => T::try_from(*v).map_err(|_| out_of_range()),
        Value::UInt(v) => T::try_from(*v).map_err(|_| out_of_range()),
        _ => Err("the server sent a value that is not an integer".into()),
    }
}

impl ColumnBuilder {
    pub(super) fn new(kind: Kind) -> ColumnBuilder {
        match kind {
            Kind::Boolean => ColumnBuilder::Boolean(BooleanBuilder::new()),
            Kind::Int8 => ColumnBuilder::Int8(Int8Builder::new()),
            Kind::Int16 => ColumnBuilder::Int16(Int16Builder::new()),
            Kind::Int32 => ColumnBuilder::Int32(Int32Builder::new()),
            Kind::Int64 => ColumnBuilder::Int64(Int64Builder::new()),
            Kind::UInt8 => ColumnBuilder::UInt8(UInt8Builder::new()),
            Kind::UInt16 => ColumnBuilder::UInt16(UInt16Builder::new()),
            Kind::UInt32 => ColumnBuilder::UInt32(UInt32Builder::new()),
            Kind::UInt64 => ColumnBuilder::UInt64(UInt64Builder::new()),
            Kind::Float32 => ColumnBuilder::Float32(Float32Builder::new()),
            Kind::Float64 => ColumnBuilder::Float64(Float64Builder::new()),
            Kind::Decimal { precision, scale } => {
                ColumnBuilder::Decimal(Decimal128Builder::new(), precision, scale)
            }
            Kind::Utf8 => ColumnBuilder::Utf8(StringBuilder::new()),
            Kind::Binary => ColumnBuilder::Binary(BinaryBuilder::new()),
            Kind::Date32 => ColumnBuilder::Date32(Date32Builder::new()),
            Kind::Timestamp { utc } => {
                ColumnBuilder::Timestamp(TimestampMicrosecondBuilder::new(), utc)
            }
            Kind::Time64 => ColumnBuilder::Time64(Time64MicrosecondBuilder::new()),
        }
    }

    pub(super) fn append(&mut self, value: Value<'_>) -> Result<(), String> {
        if value == Value::Null {
            for_each_builder!(self, b => b.append_null());
            return Ok(());
        }
        let mismatch = || "the server sent a value of another type than announced".to_string();
        match (self, &value) {
            (ColumnBuilder::Boolean(b), Value::Bool(v)) => b.append_value(*v),
            (ColumnBuilder::Int8(b), _) => b.append_value(narrow(&value)?),
            (ColumnBuilder::Int16(b), _) => b.append_value(narrow(&value)?),
            (ColumnBuilder::Int32(b), _) => b.append_value(narrow(&value)?),
            (ColumnBuilder::Int64(b), _) => b.append_value(narrow(&value)?),
            (ColumnBuilder::UInt8(b), _) => b.append_value(narrow(&value)?),
            (ColumnBuilder::UInt16(b), _) => b.append_value(narrow(&value)?),
            (ColumnBuilder::UInt32(b), _) => b.append_value(narrow(&value)?),
            (ColumnBuilder::UInt64(b), _) => b.append_value(narrow(&value)?),
            (ColumnBuilder::Float32(b), Value::Float(v)) => b.append_value(*v as f32),
            (ColumnBuilder::Float64(b), Value::Float(v)) => b.append_value(*v),
            (ColumnBuilder::Decimal(b, _, _), Value::Decimal(v)) => b.append_value(*v),
            (ColumnBuilder::Utf8(b), Value::Text(v)) => b.append_value(v),
            (ColumnBuilder::Binary(b), Value::Bytes(v)) => b.append_value(v),
            (ColumnBuilder::Date32(b), Value::Date(v)) => b.append_value(*v),
            (ColumnBuilder::Timestamp(b, _), Value::Micros(v)) => b.append_value(*v),
            (ColumnBuilder::Time64(b), Value::Micros(v)) => b.append_value(*v),
            _ => return Err(mismatch()),
        }
        Ok(())
    }

    /// The column so far, leaving the builder empty for the next batch.
    pub(super) fn finish(&mut self) -> Result<ArrayRef, String> {
        let array: ArrayRef = match self {
            ColumnBuilder::Decimal(b, precision, scale) => Arc::new(
                b.finish()
                    .with_precision_and_scale(*precision, *scale)
                    .map_err(|e| format!("decimal column: {e}"))?,
            ),
            ColumnBuilder::Timestamp(b, true) => Arc::new(b.finish().with_timezone("UTC")),
            _ => for_each_builder!(self, b => Arc::new(b.finish())),
        };
        Ok(array)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Array;

    #[test]
    fn decimals_parse_exactly_and_format_back() {
        assert_eq!(parse_decimal("-123.45", 3), Ok(-123_450));
        assert_eq!(parse_decimal("0.10", 2), Ok(10));
        assert_eq!(parse_decimal("42", 0), Ok(42));
        assert!(parse_decimal("1.5", 0).is_err());
        assert!(parse_decimal("1e5", 2).is_err());
        assert!(parse_decimal("", 2).is_err());
        assert!(parse_decimal("-", 2).is_err());
        // 38 nines fit; 39 digits do not.
        let nines = "9".repeat(38);
        assert_eq!(parse_decimal(&nines, 0).unwrap().to_string(), nines);
        assert!(parse_decimal(&"9".repeat(40), 0).is_err());
        assert_eq!(format_decimal(-123_450, 3), "-123.450");
        assert_eq!(format_decimal(5, 2), "0.05");
        assert_eq!(format_decimal(-5, 2), "-0.05");
        assert_eq!(format_decimal(7, 0), "7");
    }

    #[test]
    fn postgres_infinities_become_null_and_epochs_shift() {
        let inf = i64::MAX.to_be_bytes();
        assert_eq!(
            decode(Wire::PgTimestamp, Kind::Timestamp { utc: true }, Some(&inf)),
            Ok(Value::Null)
        );
        let zero = 0i64.to_be_bytes();
        assert_eq!(
            decode(
                Wire::PgTimestamp,
                Kind::Timestamp { utc: false },
                Some(&zero)
            ),
            Ok(Value::Micros(PG_EPOCH_MICROS))
        );
        let day = 1i32.to_be_bytes();
        assert_eq!(
            decode(Wire::PgDate, Kind::Date32, Some(&day)),
            Ok(Value::Date(10_958))
        );
        assert_eq!(
            decode(Wire::PgDate, Kind::Date32, Some(&i32::MIN.to_be_bytes())),
            Ok(Value::Null)
        );
        assert!(decode(Wire::PgInt, Kind::Int32, Some(&[1, 2, 3])).is_err());
    }

    #[test]
    fn mysql_zero_dates_are_null_and_times_keep_their_range() {
        assert_eq!(
            decode(Wire::MyDateTime, Kind::Date32, Some(&[0])),
            Ok(Value::Null)
        );
        // 2024-00-10: a zero month.
        let zero_month = [4, 0xe8, 0x07, 0, 10];
        assert_eq!(
            decode(Wire::MyDateTime, Kind::Date32, Some(&zero_month)),
            Ok(Value::Null)
        );
        let dt = [7, 0xe8, 0x07, 2, 29, 13, 5, 9];
        let Ok(Value::Micros(micros)) =
            decode(Wire::MyDateTime, Kind::Timestamp { utc: false }, Some(&dt))
        else {
            panic!("expected a timestamp");
        };
        assert_eq!(
            key_text(Kind::Timestamp { utc: false }, &Value::Micros(micros)).unwrap(),
            "2024-02-29 13:05:09.000000"
        );
        // -34 days 22:59:59 = -838:59:59.
        let time = [8, 1, 34, 0, 0, 0, 22, 59, 59];
        assert_eq!(
            decode(Wire::MyTime, Kind::Utf8, Some(&time)),
            Ok(Value::Text("-838:59:59".into()))
        );
        assert!(decode(Wire::MyDateTime, Kind::Date32, Some(&[4, 1])).is_err());
        assert_eq!(
            decode(Wire::MyBit, Kind::UInt64, Some(&[1, 2])),
            Ok(Value::UInt(258))
        );
    }

    #[test]
    fn builders_reject_values_of_the_wrong_type_and_range() {
        let mut b = ColumnBuilder::new(Kind::Int8);
        assert!(b.append(Value::Int(300)).is_err());
        assert!(b.append(Value::Text("x".into())).is_err());
        b.append(Value::Int(-5)).unwrap();
        b.append(Value::Null).unwrap();
        let array = b.finish().unwrap();
        assert_eq!(array.len(), 2);
        assert_eq!(array.null_count(), 1);
        let mut d = ColumnBuilder::new(Kind::Decimal {
            precision: 10,
            scale: 2,
        });
        d.append(Value::Decimal(12345)).unwrap();
        assert_eq!(
            d.finish().unwrap().data_type(),
            &DataType::Decimal128(10, 2)
        );
        assert_eq!(Kind::decimal(39, 2), None);
        assert_eq!(Kind::decimal(5, 6), None);
    }
}
