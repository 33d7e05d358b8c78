//! One sheet: its header found or given, its data rows checked against it,
//! and footer notes left out.

use super::batches::BatchSink;
use super::cells::{CellValue, RowSource, SheetRow};
use super::{
    FOOTER_MAX_ROWS, HEADER_SEARCH_ROWS, LAST_COLUMN, MERGE_LOOKBACK_ROWS, Place,
    REJECT_CONTENT_MAX, ReadPlan, SHEET_COLUMN, cell_name, column_name,
};
use crate::SourceError;
use crate::formats::{RowReject, unique_names};
use calamine::Dimensions;
use std::collections::{BTreeMap, VecDeque};

/// A sheet's header: its row, its columns and their names.
struct Header {
    index: u32,
    first_col: u32,
    last_col: u32,
    names: Vec<String>,
}

impl Header {
    fn columns(&self) -> String {
        format!(
            "{}:{}",
            column_name(self.first_col),
            column_name(self.last_col)
        )
    }

    fn width(&self) -> u32 {
        self.last_col - self.first_col + 1
    }
}

/// Finds the header and returns it with the data rows read past it, or
/// `None` when the sheet has no values at all.
fn find_header(
    rows: &mut dyn RowSource,
    merges: &[Dimensions],
    header_row: Option<u32>,
    place: Place<'_>,
) -> Result<Option<(Header, VecDeque<SheetRow>)>, SourceError> {
    match header_row {
        Some(number) => find_numbered_header(rows, merges, number, place),
        None => detect_header(rows, merges, place),
    }
}

fn find_numbered_header(
    rows: &mut dyn RowSource,
    merges: &[Dimensions],
    number: u32,
    place: Place<'_>,
) -> Result<Option<(Header, VecDeque<SheetRow>)>, SourceError> {
    let target = number.saturating_sub(1);
    let mut above: VecDeque<SheetRow> = VecDeque::new();
    loop {
        let Some(row) = rows.next_row()? else {
            if above.is_empty() {
                return Ok(None);
            }
            return Err(place.error(format!(
                "the sheet ends before row {number}, which sheet.header_row names"
            )));
        };
        if row.index < target {
            above.push_back(row);
            if above.len() > MERGE_LOOKBACK_ROWS {
                above.pop_front();
            }
            continue;
        }
        if row.index > target {
            return Err(place.error(format!(
                "row {number} (sheet.header_row) is blank; the next row with values is {}",
                u64::from(row.index) + 1
            )));
        }
        let header = build_header(&row, above.make_contiguous(), merges);
        return Ok(Some((header, VecDeque::new())));
    }
}

fn detect_header(
    rows: &mut dyn RowSource,
    merges: &[Dimensions],
    place: Place<'_>,
) -> Result<Option<(Header, VecDeque<SheetRow>)>, SourceError> {
    let mut buffered: Vec<SheetRow> = Vec::new();
    while buffered.len() < HEADER_SEARCH_ROWS {
        match rows.next_row()? {
            Some(row) => buffered.push(row),
            None => break,
        }
    }
    if buffered.is_empty() {
        return Ok(None);
    }
    let first = buffered.iter().map(SheetRow::first_col).min().unwrap_or(0);
    let last = buffered.iter().map(SheetRow::last_col).max().unwrap_or(0);
    let width = last - first + 1;
    let Some(at) = buffered.iter().position(|r| looks_like_header(r, width)) else {
        return Err(place.error(format!(
            "no row among the first {} with values looks like a header (text in at least \
             half of the columns); set sheet.header_row",
            buffered.len()
        )));
    };
    let after: VecDeque<SheetRow> = buffered.split_off(at + 1).into();
    let header_row = buffered.pop();
    let Some(header_row) = header_row else {
        return Err(SourceError::Internal("header row vanished".to_owned()));
    };
    let header = build_header(&header_row, &buffered, merges);
    Ok(Some((header, after)))
}

/// A header row holds only text, in at least half of the sheet's width
/// (all of it when the sheet is one or two columns wide), at least two
/// cells when it can.
fn looks_like_header(row: &SheetRow, sheet_width: u32) -> bool {
    let needed = if sheet_width <= 2 {
        sheet_width
    } else {
        sheet_width.div_ceil(2).max(2)
    };
    row.cells.len() >= needed as usize
        && row
            .cells
            .iter()
            .all(|(_, v)| matches!(v, CellValue::Text(_)))
}

/// The header's names, blank cells inside a merged range taking the
/// range's top-left value (from the header row or a row above it).
fn build_header(row: &SheetRow, above: &[SheetRow], merges: &[Dimensions]) -> Header {
    let mut cells: BTreeMap<u32, String> = row
        .cells
        .iter()
        .map(|(c, v)| (*c, v.as_str().to_owned()))
        .collect();
    for merge in merges {
        let (top, left) = merge.start;
        let (bottom, right) = merge.end;
        let right = right.min(LAST_COLUMN);
        if !(top <= row.index && row.index <= bottom) {
            continue;
        }
        let source = if top == row.index {
            row.value_at(left)
        } else {
            above
                .iter()
                .find(|r| r.index == top)
                .and_then(|r| r.value_at(left))
        };
        let Some(source) = source else { continue };
        for col in left..=right {
            cells
                .entry(col)
                .or_insert_with(|| source.as_str().to_owned());
        }
    }
    let first_col = cells.first_key_value().map_or(0, |c| *c.0);
    let last_col = cells.last_key_value().map_or(0, |c| *c.0);
    let mut texts = vec![String::new(); (last_col - first_col + 1) as usize];
    for (col, text) in cells {
        texts[(col - first_col) as usize] = text;
    }
    Header {
        index: row.index,
        first_col,
        last_col,
        names: unique_names(texts),
    }
}

// ------------------------------------------------------------ data rows

/// Reads one sheet into the sink. Returns whether the sheet had any values.
pub(super) fn read_sheet(
    rows: &mut dyn RowSource,
    merges: &[Dimensions],
    plan: &ReadPlan,
    place: Place<'_>,
    sink: &mut BatchSink,
    first_layout: &mut Option<(String, Vec<String>)>,
) -> Result<bool, SourceError> {
    let Some((header, mut ahead)) = find_header(rows, merges, plan.header_row, place)? else {
        tracing::debug!(
            file = place.file,
            sheet = place.sheet,
            "empty sheet skipped"
        );
        return Ok(false);
    };
    match first_layout {
        None => {
            let mut names = header.names.clone();
            if plan.with_sheet_column {
                names.push(SHEET_COLUMN.to_owned());
            }
            sink.set_columns(unique_names(names));
            *first_layout = Some((place.sheet.to_owned(), header.names.clone()));
        }
        Some((first_sheet, first_names)) => {
            if let Some(difference) = header_difference(first_names, &header.names) {
                return Err(place.error(format!(
                    "its header differs from sheet {first_sheet:?}'s ({difference}); name one \
                     sheet with sheet.sheet, or give every sheet the same header"
                )));
            }
        }
    }
    let mut emitter = RowEmitter {
        header: &header,
        place,
        plan,
    };
    let mut footer = FooterRule::new(plan.skip_footer);
    let mut previous = header.index;
    loop {
        let row = match ahead.pop_front() {
            Some(row) => row,
            None => match rows.next_row()? {
                Some(row) => row,
                None => break,
            },
        };
        let after_blank = row.index > previous.saturating_add(1);
        previous = row.index;
        for ready in footer.take(row, after_blank, &header) {
            emitter.emit(ready, sink)?;
        }
    }
    let dropped = footer.finish();
    if dropped > 0 {
        tracing::debug!(
            file = place.file,
            sheet = place.sheet,
            rows = dropped,
            "footer rows left out"
        );
    }
    Ok(true)
}

fn header_difference(expected: &[String], found: &[String]) -> Option<String> {
    if expected.len() != found.len() {
        return Some(format!(
            "{} columns instead of {}",
            found.len(),
            expected.len()
        ));
    }
    let (i, (e, f)) = expected
        .iter()
        .zip(found)
        .enumerate()
        .find(|(_, (e, f))| e != f)?;
    Some(format!("column {} is {f:?}, not {e:?}", i + 1))
}

/// Which rows at the end of a sheet are footer, not data.
enum FooterRule {
    /// Note rows after a blank row, held until a data row proves them data
    /// or the sheet ends.
    Detect {
        after_blank: bool,
        notes: Vec<SheetRow>,
    },
    /// The last `n` rows, held until more rows push them out.
    LastRows { n: usize, held: VecDeque<SheetRow> },
}

impl FooterRule {
    fn new(skip_footer: Option<u32>) -> Self {
        match skip_footer {
            Some(n) => FooterRule::LastRows {
                n: n as usize,
                held: VecDeque::new(),
            },
            None => FooterRule::Detect {
                after_blank: false,
                notes: Vec::new(),
            },
        }
    }

    /// Takes the next row; returns the rows now known to be data.
    fn take(&mut self, row: SheetRow, follows_blank: bool, header: &Header) -> Vec<SheetRow> {
        match self {
            FooterRule::LastRows { n, held } => {
                held.push_back(row);
                if held.len() > *n {
                    held.pop_front().into_iter().collect()
                } else {
                    Vec::new()
                }
            }
            FooterRule::Detect { after_blank, notes } => {
                *after_blank |= follows_blank;
                if *after_blank && is_note_row(&row, header) {
                    notes.push(row);
                    if notes.len() > FOOTER_MAX_ROWS {
                        *after_blank = false;
                        return std::mem::take(notes);
                    }
                    return Vec::new();
                }
                *after_blank = false;
                let mut ready = std::mem::take(notes);
                ready.push(row);
                ready
            }
        }
    }

    /// The number of rows left out at the end of the sheet.
    fn finish(self) -> usize {
        match self {
            FooterRule::LastRows { held, .. } => held.len(),
            FooterRule::Detect { notes, .. } => notes.len(),
        }
    }
}

/// A footer note: one text cell, in the header's first column, in a table
/// of two columns or more.
fn is_note_row(row: &SheetRow, header: &Header) -> bool {
    header.width() >= 2
        && row.cells.len() == 1
        && row.cells[0].0 == header.first_col
        && matches!(row.cells[0].1, CellValue::Text(_))
}

/// Turns a sheet's data rows into batch rows or rejects.
struct RowEmitter<'a> {
    header: &'a Header,
    place: Place<'a>,
    plan: &'a ReadPlan,
}

impl RowEmitter<'_> {
    fn emit(&mut self, row: SheetRow, sink: &mut BatchSink) -> Result<(), SourceError> {
        match self.values(&row) {
            Ok(values) => sink.push(values),
            Err(reason) => sink.reject(RowReject {
                location: format!(
                    "row {} of sheet {}",
                    u64::from(row.index) + 1,
                    self.place.sheet
                ),
                reason,
                content: self.row_content(&row),
            }),
        }
    }

    /// The row's values, or why it is rejected (naming cells, never values).
    fn values(&self, row: &SheetRow) -> Result<Vec<Option<String>>, String> {
        let header = self.header;
        let mut values: Vec<Option<String>> = vec![None; header.width() as usize];
        let mut problems: Vec<String> = Vec::new();
        for (col, value) in &row.cells {
            let cell = cell_name(row.index, *col);
            if *col < header.first_col || *col > header.last_col {
                problems.push(format!(
                    "cell {cell} lies outside the header's columns {}",
                    header.columns()
                ));
                continue;
            }
            let text = match value {
                CellValue::Error(code) => {
                    problems.push(format!("cell {cell} holds an error value {code}"));
                    continue;
                }
                CellValue::Text(s) | CellValue::Scalar(s) => s,
            };
            if self.plan.missing_values.iter().any(|m| m == text.trim()) {
                continue;
            }
            values[(col - header.first_col) as usize] = Some(text.clone());
        }
        match problems.len() {
            0 => {
                if self.plan.with_sheet_column {
                    values.push(Some(self.place.sheet.to_owned()));
                }
                Ok(values)
            }
            1 => Err(problems.swap_remove(0)),
            n => Err(format!(
                "{} (and {} more problems in the row)",
                problems[0],
                n - 1
            )),
        }
    }

    /// The row as delivered, tab-separated, for quarantine.
    fn row_content(&self, row: &SheetRow) -> String {
        let first = row.first_col().min(self.header.first_col);
        let last = row.last_col().max(self.header.last_col);
        let mut content = String::new();
        for col in first..=last {
            if col > first {
                content.push('\t');
            }
            if let Some(value) = row.value_at(col) {
                content.push_str(value.as_str());
            }
            if content.len() >= REJECT_CONTENT_MAX {
                break;
            }
        }
        truncate_at_char(&mut content, REJECT_CONTENT_MAX);
        content
    }
}

fn truncate_at_char(s: &mut String, max: usize) {
    if s.len() <= max {
        return;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
}
