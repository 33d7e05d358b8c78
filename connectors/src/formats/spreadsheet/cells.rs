//! Cells as text, and the rows of a sheet: streamed from XLSX, walked over
//! an in-memory range for XLS and ODS.

use super::workbook::describe_xlsx_error;
use super::{LAST_COLUMN, LAST_ROW, Place, cell_name};
use crate::SourceError;
use calamine::{Data, DataRef, ExcelDateTime, Range, XlsxCellReader, XlsxError};
use std::fs::File;
use std::io::BufReader;

/// A cell with a value.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum CellValue {
    Text(String),
    /// A number, date, time or boolean, rendered as text.
    Scalar(String),
    /// An error value such as `#REF!`.
    Error(String),
}

impl CellValue {
    pub(super) fn as_str(&self) -> &str {
        match self {
            CellValue::Text(s) | CellValue::Scalar(s) | CellValue::Error(s) => s,
        }
    }
}

/// A row with at least one value: its 0-based index in the sheet and its
/// cells with values, by ascending 0-based column.
#[derive(Debug)]
pub(super) struct SheetRow {
    pub(super) index: u32,
    pub(super) cells: Vec<(u32, CellValue)>,
}

impl SheetRow {
    pub(super) fn first_col(&self) -> u32 {
        self.cells.first().map_or(0, |c| c.0)
    }

    pub(super) fn last_col(&self) -> u32 {
        self.cells.last().map_or(0, |c| c.0)
    }

    pub(super) fn value_at(&self, col: u32) -> Option<&CellValue> {
        self.cells
            .binary_search_by_key(&col, |c| c.0)
            .ok()
            .map(|i| &self.cells[i].1)
    }
}

fn cell_value(data: DataRef<'_>) -> Option<CellValue> {
    let text = |s: String| (!s.trim().is_empty()).then_some(CellValue::Text(s));
    match data {
        DataRef::Empty => None,
        DataRef::String(s) => text(s),
        DataRef::SharedString(s) => text(s.to_owned()),
        DataRef::Int(i) => Some(CellValue::Scalar(i.to_string())),
        DataRef::Float(f) => Some(CellValue::Scalar(number_text(f))),
        DataRef::Bool(b) => Some(CellValue::Scalar(b.to_string())),
        DataRef::DateTime(dt) => Some(CellValue::Scalar(datetime_text(&dt))),
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => Some(CellValue::Scalar(s)),
        DataRef::Error(e) => Some(CellValue::Error(e.to_string())),
    }
}

/// calamine's owned cell as the borrowed kind, so one function converts both.
fn data_as_ref(data: Data) -> DataRef<'static> {
    match data {
        Data::Int(i) => DataRef::Int(i),
        Data::Float(f) => DataRef::Float(f),
        Data::String(s) => DataRef::String(s),
        Data::Bool(b) => DataRef::Bool(b),
        Data::DateTime(dt) => DataRef::DateTime(dt),
        Data::DateTimeIso(s) => DataRef::DateTimeIso(s),
        Data::DurationIso(s) => DataRef::DurationIso(s),
        Data::Error(e) => DataRef::Error(e),
        Data::Empty => DataRef::Empty,
    }
}

/// The shortest text that reads back as the same number, never with a
/// trailing `.0` (spreadsheets store every number as a float, so the code
/// 3550308 arrives as 3550308.0) nor an exponent.
pub(super) fn number_text(f: f64) -> String {
    if f == 0.0 {
        // Also -0.0.
        return "0".to_owned();
    }
    // Rust's `Display` for f64 is the shortest round-trip form and prints
    // integral values without a fraction.
    f.to_string()
}

/// ISO 8601 text for a spreadsheet date, date-time, time or duration.
pub(super) fn datetime_text(dt: &ExcelDateTime) -> String {
    if dt.is_duration() {
        return duration_text(dt.as_f64());
    }
    let (year, month, day, hour, minute, second, milli) = dt.to_ymd_hms_milli();
    let time = if milli > 0 {
        format!("{hour:02}:{minute:02}:{second:02}.{milli:03}")
    } else {
        format!("{hour:02}:{minute:02}:{second:02}")
    };
    let serial = dt.as_f64();
    if (0.0..1.0).contains(&serial) {
        // A time of day with no date.
        return time;
    }
    let date = format!("{year:04}-{month:02}-{day:02}");
    if (hour, minute, second, milli) == (0, 0, 0, 0) {
        date
    } else {
        format!("{date}T{time}")
    }
}

fn duration_text(days: f64) -> String {
    let total_ms = (days * 86_400_000.0).round();
    let sign = if total_ms < 0.0 { "-" } else { "" };
    // Saturating cast: absurd durations stay finite.
    let total_ms = total_ms.abs() as u64;
    let (hours, rest) = (total_ms / 3_600_000, total_ms % 3_600_000);
    let (minutes, rest) = (rest / 60_000, rest % 60_000);
    let (seconds, milli) = (rest / 1000, rest % 1000);
    if milli > 0 {
        format!("{sign}PT{hours}H{minutes}M{seconds}.{milli:03}S")
    } else {
        format!("{sign}PT{hours}H{minutes}M{seconds}S")
    }
}

/// Rows of a sheet, in order, each with at least one value.
pub(super) trait RowSource {
    fn next_row(&mut self) -> Result<Option<SheetRow>, SourceError>;
}

/// XLSX rows, streamed from the sheet's XML one cell at a time.
pub(super) struct XlsxRows<'a> {
    cells: XlsxCellReader<'a, BufReader<File>>,
    place: Place<'a>,
    /// The first cell of the next row, read ahead.
    pending: Option<(u32, u32, CellValue)>,
    /// Position of the last cell read, for order checks and messages.
    last: Option<(u32, u32)>,
    /// The sheet's data has ended (the XML must not be read past it).
    done: bool,
}

impl<'a> XlsxRows<'a> {
    pub(super) fn new(cells: XlsxCellReader<'a, BufReader<File>>, place: Place<'a>) -> Self {
        XlsxRows {
            cells,
            place,
            pending: None,
            last: None,
            done: false,
        }
    }

    fn read_error(&self, e: &XlsxError) -> SourceError {
        let why = describe_xlsx_error(e);
        match self.last {
            Some((row, col)) => self
                .place
                .error(format!("after cell {}: {why}", cell_name(row, col))),
            None => self.place.error(why),
        }
    }
}

impl RowSource for XlsxRows<'_> {
    fn next_row(&mut self) -> Result<Option<SheetRow>, SourceError> {
        let mut row: Option<SheetRow> = self.pending.take().map(|(index, col, value)| SheetRow {
            index,
            cells: vec![(col, value)],
        });
        if self.done {
            return Ok(row);
        }
        loop {
            let cell = match self.cells.next_cell() {
                Ok(Some(cell)) => cell,
                Ok(None) => {
                    self.done = true;
                    return Ok(row);
                }
                Err(e) => return Err(self.read_error(&e)),
            };
            let (r, c) = cell.get_position();
            if self.last.is_some_and(|last| (r, c) <= last) {
                return Err(self.place.cell_error(
                    r,
                    c,
                    "cells are out of order in the sheet's XML; re-save the file".to_owned(),
                ));
            }
            if r > LAST_ROW || c > LAST_COLUMN {
                return Err(self.place.error(format!(
                    "a cell lies past the sheet's last cell XFD1048576 (after cell {})",
                    self.last
                        .map_or_else(|| "A1".to_owned(), |(r, c)| cell_name(r, c))
                )));
            }
            self.last = Some((r, c));
            let Some(value) = cell_value(cell.get_value().clone()) else {
                continue;
            };
            match &mut row {
                None => {
                    row = Some(SheetRow {
                        index: r,
                        cells: vec![(c, value)],
                    })
                }
                Some(current) if current.index == r => current.cells.push((c, value)),
                Some(_) => {
                    self.pending = Some((r, c, value));
                    return Ok(row);
                }
            }
        }
    }
}

/// XLS and ODS rows, from the sheet calamine has loaded.
pub(super) struct RangeRows {
    range: Range<Data>,
    next: usize,
}

impl RangeRows {
    pub(super) fn new(range: Range<Data>) -> Self {
        RangeRows { range, next: 0 }
    }
}

impl RowSource for RangeRows {
    fn next_row(&mut self) -> Result<Option<SheetRow>, SourceError> {
        let Some((row0, col0)) = self.range.start() else {
            return Ok(None);
        };
        let height = self.range.height();
        while self.next < height {
            let i = self.next;
            self.next += 1;
            let cells: Vec<(u32, CellValue)> = self.range[i]
                .iter_mut()
                .enumerate()
                .filter_map(|(j, data)| {
                    let value = cell_value(data_as_ref(std::mem::take(data)))?;
                    Some((col0.saturating_add(j as u32), value))
                })
                .collect();
            if !cells.is_empty() {
                return Ok(Some(SheetRow {
                    index: row0.saturating_add(i as u32),
                    cells,
                }));
            }
        }
        Ok(None)
    }
}
