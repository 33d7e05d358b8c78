//! How large a function's output would be, estimated from its arguments
//! before it runs: repeated strings, padded text, series of numbers,
//! dates and times, and arrays. An estimate over the bound refuses the
//! call; one that cannot be made lets it run under the batch bound.

use super::*;

/// An upper bound of the bytes a function whose output can outgrow its
/// input will produce, from its arguments; `None` for the others (they are
/// measured after they run).
pub(super) fn estimate_output(name: &str, args: &[ColumnarValue], rows: usize) -> Option<u128> {
    let rows = rows.max(1);
    let arg = |i: usize| args.get(i);
    let sum = |per_row: &dyn Fn(usize) -> u128| (0..rows).map(per_row).sum::<u128>();
    match name {
        "repeat" => {
            let (text, times) = (Lengths::of(arg(0)?, rows), Ints::of(arg(1)?, rows)?);
            Some(sum(&|r| text.at(r) * times.count_at(r)))
        }
        // The length is in characters, up to 4 bytes each.
        "lpad" | "rpad" => {
            let times = Ints::of(arg(1)?, rows)?;
            Some(sum(&|r| 4 * times.count_at(r)))
        }
        "array_repeat" | "list_repeat" => {
            let (element, times) = (Lengths::of(arg(0)?, rows), Ints::of(arg(1)?, rows)?);
            Some(sum(&|r| (element.at(r) + 16) * times.count_at(r)))
        }
        "array_resize" | "list_resize" => {
            let times = Ints::of(arg(1)?, rows)?;
            Some(sum(&|r| 16 * times.count_at(r)))
        }
        "range" | "generate_series" | "gen_series" => series_elements(args, rows).map(|n| n * 8),
        "replace" => {
            let (text, from, to) = (
                Lengths::of(arg(0)?, rows),
                Lengths::of(arg(1)?, rows),
                Lengths::of(arg(2)?, rows),
            );
            Some(sum(&|r| text.at(r) * (to.at(r) / from.at(r).max(1) + 1)))
        }
        "regexp_replace" => {
            let (text, with) = (Lengths::of(arg(0)?, rows), Lengths::of(arg(2)?, rows));
            Some(sum(&|r| (text.at(r) + 1) * (with.at(r) + 1)))
        }
        _ => None,
    }
}

/// How many elements `range`/`generate_series` will make, over all rows:
/// integers, or dates and timestamps stepped by an interval.
fn series_elements(args: &[ColumnarValue], rows: usize) -> Option<u128> {
    let (start, stop) = match args.len() {
        1 => (None, &args[0]),
        _ => (Some(&args[0]), &args[1]),
    };
    let integer = |v: &ColumnarValue| v.data_type().is_integer();
    if integer(stop) {
        let stop = Ints::of(stop, rows)?;
        let start = match start {
            Some(s) => Some(Ints::of(s, rows)?),
            None => None,
        };
        let step = match args.get(2) {
            Some(s) => Some(Ints::of(s, rows)?),
            None => None,
        };
        return Some(
            (0..rows)
                .map(|r| {
                    let from = start.as_ref().map_or(0, |s| s.at(r));
                    let by = step.as_ref().map_or(1, |s| s.at(r)).unsigned_abs().max(1);
                    (stop.at(r).abs_diff(from) / by) as u128 + 1
                })
                .sum(),
        );
    }
    // Dates and timestamps: the span in nanoseconds over the step's.
    let start = Nanos::of(start?, rows)?;
    let stop = Nanos::of(stop, rows)?;
    let step = match args.get(2) {
        Some(ColumnarValue::Scalar(ScalarValue::IntervalMonthDayNano(Some(i)))) => {
            interval_nanos(i)
        }
        Some(ColumnarValue::Scalar(ScalarValue::IntervalDayTime(Some(i)))) => {
            i.days as i128 * DAY + i.milliseconds as i128 * 1_000_000
        }
        Some(ColumnarValue::Scalar(ScalarValue::IntervalYearMonth(Some(m)))) => {
            *m as i128 * 30 * DAY
        }
        // A step per row, or none (a day): assume the smallest, a second.
        _ => 1_000_000_000,
    }
    .unsigned_abs()
    .max(1);
    Some(
        (0..rows)
            .map(|r| (stop.at(r) - start.at(r)).unsigned_abs() / step + 1)
            .sum(),
    )
}

const DAY: i128 = 86_400 * 1_000_000_000;

/// An interval's length in nanoseconds, a month taken as its shortest (28 days).
fn interval_nanos(i: &IntervalMonthDayNano) -> i128 {
    i.months as i128 * 28 * DAY + i.days as i128 * DAY + i.nanoseconds as i128
}

/// An integer argument, per row.
enum Ints {
    Scalar(i64),
    Rows(Vec<i64>),
}

impl Ints {
    fn of(value: &ColumnarValue, rows: usize) -> Option<Ints> {
        match value {
            ColumnarValue::Scalar(s) => match s.cast_to(&DataType::Int64).ok()? {
                ScalarValue::Int64(v) => Some(Ints::Scalar(v.unwrap_or(0))),
                _ => None,
            },
            ColumnarValue::Array(a) => {
                let cast = datafusion::arrow::compute::cast(a, &DataType::Int64).ok()?;
                let ints = cast.as_primitive_opt::<datafusion::arrow::datatypes::Int64Type>()?;
                let _ = rows;
                Some(Ints::Rows(
                    (0..ints.len())
                        .map(|i| if ints.is_null(i) { 0 } else { ints.value(i) })
                        .collect(),
                ))
            }
        }
    }

    fn at(&self, row: usize) -> i64 {
        match self {
            Ints::Scalar(v) => *v,
            Ints::Rows(v) => v.get(row).copied().unwrap_or(0),
        }
    }

    /// As a count: negative counts make nothing.
    fn count_at(&self, row: usize) -> u128 {
        self.at(row).max(0) as u128
    }
}

/// A date or timestamp argument in nanoseconds since the epoch, per row.
struct Nanos(Ints);

impl Nanos {
    fn of(value: &ColumnarValue, rows: usize) -> Option<Nanos> {
        let as_nanos = DataType::Timestamp(TimeUnit::Nanosecond, None);
        let value = match value {
            ColumnarValue::Scalar(s) => {
                let s = s.cast_to(&as_nanos).ok()?;
                ColumnarValue::Scalar(s.cast_to(&DataType::Int64).ok()?)
            }
            ColumnarValue::Array(a) => {
                let a = datafusion::arrow::compute::cast(a, &as_nanos).ok()?;
                ColumnarValue::Array(datafusion::arrow::compute::cast(&a, &DataType::Int64).ok()?)
            }
        };
        Ints::of(&value, rows).map(Nanos)
    }

    fn at(&self, row: usize) -> i128 {
        self.0.at(row) as i128
    }
}

/// The byte length of a text or binary argument per row (16 for other types).
enum Lengths {
    Scalar(u128),
    Rows(Vec<u128>),
}

impl Lengths {
    fn of(value: &ColumnarValue, rows: usize) -> Lengths {
        let _ = rows;
        match value {
            ColumnarValue::Scalar(s) => Lengths::Scalar(match s {
                ScalarValue::Utf8(v) | ScalarValue::LargeUtf8(v) | ScalarValue::Utf8View(v) => {
                    v.as_ref().map_or(0, |t| t.len() as u128)
                }
                ScalarValue::Binary(v)
                | ScalarValue::LargeBinary(v)
                | ScalarValue::BinaryView(v) => v.as_ref().map_or(0, |b| b.len() as u128),
                other => other.size() as u128,
            }),
            ColumnarValue::Array(a) => Lengths::Rows(array_lengths(a)),
        }
    }

    fn at(&self, row: usize) -> u128 {
        match self {
            Lengths::Scalar(v) => *v,
            Lengths::Rows(v) => v.get(row).copied().unwrap_or(0),
        }
    }
}

fn array_lengths(a: &ArrayRef) -> Vec<u128> {
    let len = |i: usize, n: usize| if a.is_null(i) { 0 } else { n as u128 };
    match a.data_type() {
        DataType::Utf8 => {
            let s = a.as_string::<i32>();
            (0..s.len()).map(|i| len(i, s.value(i).len())).collect()
        }
        DataType::LargeUtf8 => {
            let s = a.as_string::<i64>();
            (0..s.len()).map(|i| len(i, s.value(i).len())).collect()
        }
        DataType::Utf8View => {
            let s = a.as_string_view();
            (0..s.len()).map(|i| len(i, s.value(i).len())).collect()
        }
        DataType::Binary => {
            let s = a.as_binary::<i32>();
            (0..s.len()).map(|i| len(i, s.value(i).len())).collect()
        }
        _ => {
            let per_row = (a.get_array_memory_size() / a.len().max(1)) as u128;
            vec![per_row.max(16); a.len()]
        }
    }
}
