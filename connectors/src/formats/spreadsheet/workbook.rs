//! The three kinds of workbook calamine opens, their worksheets, and their
//! errors described without quoting the workbook's content.

use super::limits::format_label;
use crate::SourceError;
use crate::formats::Format;
use calamine::{Ods, OdsError, Reader, SheetType, Xls, XlsError, Xlsx, XlsxError};
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

pub(super) enum Workbook {
    Xlsx(Xlsx<BufReader<File>>),
    Xls(Xls<BufReader<File>>),
    Ods(Ods<BufReader<File>>),
}

impl Workbook {
    pub(super) fn open(path: &Path, name: &str, format: Format) -> Result<Workbook, SourceError> {
        let file = File::open(path)
            .map_err(|e| SourceError::input(name, format!("cannot open: {}", e.kind())))?;
        let reader = BufReader::new(file);
        let label = format_label(format);
        let unreadable = |why: String| {
            SourceError::input(name, format!("is not a readable {label} file: {why}"))
        };
        match format {
            Format::Xlsx => Xlsx::new(reader)
                .map(Workbook::Xlsx)
                .map_err(|e| unreadable(describe_xlsx_error(&e))),
            Format::Xls => Xls::new(reader)
                .map(Workbook::Xls)
                .map_err(|e| unreadable(describe_xls_error(&e))),
            Format::Ods => Ods::new(reader)
                .map(Workbook::Ods)
                .map_err(|e| unreadable(describe_ods_error(&e))),
            other => Err(SourceError::Internal(format!(
                "{name}: the spreadsheet reader was given a {} file",
                other.name()
            ))),
        }
    }

    /// The worksheets, in workbook order (chart and macro sheets left out).
    pub(super) fn sheet_names(&self) -> Vec<String> {
        let sheets = match self {
            Workbook::Xlsx(wb) => wb.sheets_metadata(),
            Workbook::Xls(wb) => wb.sheets_metadata(),
            Workbook::Ods(wb) => wb.sheets_metadata(),
        };
        sheets
            .iter()
            .filter(|s| s.typ == SheetType::WorkSheet)
            .map(|s| s.name.clone())
            .collect()
    }
}

pub(super) fn select_sheets(
    available: Vec<String>,
    file: &str,
    wanted: Option<&str>,
) -> Result<Vec<String>, SourceError> {
    let Some(wanted) = wanted else {
        return Ok(available);
    };
    if available.iter().any(|s| s == wanted) {
        return Ok(vec![wanted.to_owned()]);
    }
    let listed = available
        .iter()
        .map(|s| format!("{s:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    Err(SourceError::input(
        file,
        format!("has no worksheet named {wanted:?} (sheet.sheet); its worksheets are: {listed}"),
    ))
}

/// The name of an error's variant (`Xml`, `ParseFloat`), without the
/// payload, which may quote the workbook's content.
fn variant_name(debug: &str) -> &str {
    let end = debug
        .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .unwrap_or(debug.len());
    &debug[..end]
}

fn describe_io(e: &std::io::Error) -> String {
    format!("read error ({})", e.kind())
}

pub(super) fn describe_xlsx_error(e: &XlsxError) -> String {
    match e {
        XlsxError::Io(e) => describe_io(e),
        XlsxError::Zip(e) => format!("broken zip container ({e})"),
        XlsxError::Password => "the workbook is password protected".to_owned(),
        XlsxError::FileNotFound(part) => format!("its part {part} is missing"),
        XlsxError::XmlEof(tag) => format!("its XML ends inside <{tag}>"),
        other => format!(
            "malformed content ({})",
            variant_name(&format!("{other:?}"))
        ),
    }
}

pub(super) fn describe_xls_error(e: &XlsError) -> String {
    match e {
        XlsError::Io(e) => describe_io(e),
        XlsError::Password => "the workbook is password protected".to_owned(),
        other => format!(
            "malformed content ({})",
            variant_name(&format!("{other:?}"))
        ),
    }
}

pub(super) fn describe_ods_error(e: &OdsError) -> String {
    match e {
        OdsError::Io(e) => describe_io(e),
        OdsError::Zip(e) => format!("broken zip container ({e})"),
        OdsError::Password => "the workbook is password protected".to_owned(),
        OdsError::InvalidMime(_) => "its mimetype is not an OpenDocument spreadsheet's".to_owned(),
        OdsError::FileNotFound(part) => format!("its part {part} is missing"),
        OdsError::CellLimitExceeded { max, .. } => {
            format!("a sheet expands to more than {max} cells")
        }
        other => format!(
            "malformed content ({})",
            variant_name(&format!("{other:?}"))
        ),
    }
}
