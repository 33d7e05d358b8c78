use super::cells::{datetime_text, number_text};
use super::limits::{OdsExpansion, XmlTagScanner};

use super::*;
use arrow::array::{Array, StringArray};
use calamine::ExcelDateTime;
use rust_xlsxwriter as xw;
use std::fs::File;
use std::io::{Read, Write};
use std::path::PathBuf;

type Rows = Vec<Vec<Option<String>>>;

fn read(
    path: &Path,
    format: Format,
    options: &SheetOptions,
    batch_rows: usize,
) -> Result<Vec<SourceBatch>, SourceError> {
    read_spreadsheet(path, "entrega.xlsx", format, options, batch_rows)?.collect()
}

fn names(batch: &SourceBatch) -> Vec<String> {
    let schema = batch.batch.schema();
    schema.fields().iter().map(|f| f.name().clone()).collect()
}

fn rows(batches: &[SourceBatch]) -> Rows {
    let mut out = Vec::new();
    for b in batches {
        for i in 0..b.batch.num_rows() {
            let row = b
                .batch
                .columns()
                .iter()
                .map(|c| {
                    let c = c.as_any().downcast_ref::<StringArray>().unwrap();
                    (!c.is_null(i)).then(|| c.value(i).to_owned())
                })
                .collect();
            out.push(row);
        }
    }
    out
}

fn s(v: &str) -> Option<String> {
    Some(v.to_owned())
}

fn save(workbook: &mut xw::Workbook, dir: &tempfile::TempDir, name: &str) -> PathBuf {
    let path = dir.path().join(name);
    workbook.save(&path).unwrap();
    path
}

/// An INEP-like indicator file: 9 title rows, a header of codes, data
/// with `--`, codes stored as numbers, dates, formulas with cached
/// values (one an error), a blank row and six footer notes.
fn inep_workbook(dir: &tempfile::TempDir) -> PathBuf {
    let mut wb = xw::Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("Municípios").unwrap();
    let title = xw::Format::new().set_bold();
    ws.merge_range(0, 0, 0, 7, "Ministério da Educação", &title)
        .unwrap();
    ws.write_string(
        1,
        0,
        "Instituto Nacional de Estudos e Pesquisas Educacionais Anísio Teixeira",
    )
    .unwrap();
    ws.write_string(3, 0, "Taxas de Rendimento Escolar 2023")
        .unwrap();
    ws.write_string(5, 0, "Municípios").unwrap();
    ws.write_string(7, 0, "Atualizado em 2024").unwrap();
    let header = [
        "NU_ANO_CENSO",
        "NO_REGIAO",
        "SG_UF",
        "CO_MUNICIPIO",
        "NO_MUNICIPIO",
        "DT_REFERENCIA",
        "TX_APROVACAO",
        "TX_CALCULADA",
    ];
    for (c, h) in header.iter().enumerate() {
        ws.write_string(9, c as u16, *h).unwrap();
    }
    let date = xw::Format::new().set_num_format("yyyy-mm-dd");
    let datetime = xw::Format::new().set_num_format("yyyy-mm-dd hh:mm");
    let day = xw::ExcelDateTime::from_ymd(2023, 5, 31).unwrap();
    // Row 11: every kind of value.
    ws.write_number(10, 0, 2023).unwrap();
    ws.write_string(10, 1, "Sudeste").unwrap();
    ws.write_string(10, 2, "SP").unwrap();
    ws.write_number(10, 3, 3550308).unwrap();
    ws.write_string(10, 4, "São Paulo").unwrap();
    ws.write_datetime_with_format(10, 5, &day, &date).unwrap();
    ws.write_number(10, 6, 95.5).unwrap();
    ws.write_formula(10, 7, xw::Formula::new("=G11/100").set_result("0.955"))
        .unwrap();
    // Row 12: a formula whose cached value is an error.
    ws.write_number(11, 0, 2023).unwrap();
    ws.write_string(11, 1, "Norte").unwrap();
    ws.write_string(11, 2, "RO").unwrap();
    ws.write_number(11, 3, 1100015).unwrap();
    ws.write_string(11, 4, "Alta Floresta D'Oeste").unwrap();
    ws.write_datetime_with_format(11, 5, &day, &date).unwrap();
    ws.write_number(11, 6, 12).unwrap();
    ws.write_formula(11, 7, xw::Formula::new("=1/0").set_result("#DIV/0!"))
        .unwrap();
    // Row 13: `--`, a date-time and a formula with no cached value.
    ws.write_number(12, 0, 2023).unwrap();
    ws.write_string(12, 1, "Centro-Oeste").unwrap();
    ws.write_string(12, 2, "DF").unwrap();
    ws.write_number(12, 3, 5300108).unwrap();
    ws.write_string(12, 4, "Brasília").unwrap();
    let moment = day.clone().and_hms(14, 30, 0).unwrap();
    ws.write_datetime_with_format(12, 5, &moment, &datetime)
        .unwrap();
    ws.write_string(12, 6, "--").unwrap();
    ws.write_formula(12, 7, "=G13/100").unwrap();
    // Row 14 blank, then the footer.
    let notes = [
        "Fonte: MEC/Inep/DEED",
        "Notas:",
        "1 - Dados referentes à rede municipal",
        "2 - (--) indica que não houve matrícula",
        "3 - Taxas calculadas sobre a matrícula final",
        "(*) Dados preliminares",
    ];
    for (i, note) in notes.iter().enumerate() {
        ws.write_string(14 + i as u32, 0, *note).unwrap();
    }
    let path = save(&mut wb, dir, "inep.xlsx");
    // rust_xlsxwriter caches 0 for a formula with no result; take the
    // cached value out, as a workbook never recalculated has none.
    rewrite_zip_part(&path, "xl/worksheets/sheet1.xml", |xml| {
        xml.replace("<f>G13/100</f><v>0</v>", "<f>G13/100</f>")
    });
    path
}

/// Rewrites one part of a zip file, which must change.
fn rewrite_zip_part(path: &Path, part: &str, edit: impl Fn(&str) -> String) {
    let mut archive = zip::ZipArchive::new(File::open(path).unwrap()).unwrap();
    let mut parts = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let name = entry.name().unwrap().into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        if name == part {
            let text = String::from_utf8(bytes).unwrap();
            let edited = edit(&text);
            assert_ne!(edited, text, "the edit changes {part}");
            bytes = edited.into_bytes();
        }
        parts.push((name, bytes));
    }
    let mut zip = zip::ZipWriter::new(File::create(path).unwrap());
    for (name, bytes) in parts {
        zip.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(&bytes).unwrap();
    }
    zip.finish().unwrap();
}

#[test]
fn inep_file_skips_titles_and_footer() {
    let dir = tempfile::tempdir().unwrap();
    let path = inep_workbook(&dir);
    let batches = read(&path, Format::Xlsx, &SheetOptions::default(), 1000).unwrap();
    assert_eq!(batches.len(), 1);
    assert_eq!(
        names(&batches[0]),
        [
            "NU_ANO_CENSO",
            "NO_REGIAO",
            "SG_UF",
            "CO_MUNICIPIO",
            "NO_MUNICIPIO",
            "DT_REFERENCIA",
            "TX_APROVACAO",
            "TX_CALCULADA",
            "planilha"
        ]
    );
    assert_eq!(batches[0].first_row, 1);
    let rows = rows(&batches);
    assert_eq!(
        rows,
        vec![
            vec![
                s("2023"),
                s("Sudeste"),
                s("SP"),
                s("3550308"),
                s("São Paulo"),
                s("2023-05-31"),
                s("95.5"),
                s("0.955"),
                s("Municípios")
            ],
            vec![
                s("2023"),
                s("Centro-Oeste"),
                s("DF"),
                s("5300108"),
                s("Brasília"),
                s("2023-05-31T14:30:00"),
                None,
                None,
                s("Municípios")
            ],
        ]
    );
    let rejects = &batches[0].rejects;
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0].location, "row 12 of sheet Municípios");
    assert_eq!(rejects[0].reason, "cell H12 holds an error value #DIV/0!");
    assert!(rejects[0].content.contains("Alta Floresta"));
    assert!(!rejects[0].reason.contains("Alta"));
}

#[test]
fn header_row_and_skip_footer_can_be_given() {
    let dir = tempfile::tempdir().unwrap();
    let path = inep_workbook(&dir);
    let options = SheetOptions {
        sheet: Some("Municípios".into()),
        header_row: Some(10),
        skip_footer: Some(7),
        missing_values: Some(vec![]),
        ..SheetOptions::default()
    };
    let batches = read(&path, Format::Xlsx, &options, 1000).unwrap();
    let rows = rows(&batches);
    // No `planilha` column for a named sheet; the last 7 non-blank rows
    // (6 notes and the Brasília row) are gone; `--` is kept as text.
    assert_eq!(names(&batches[0]).len(), 8);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][3], s("3550308"));
    assert_eq!(batches[0].rejects.len(), 1);

    let options = SheetOptions {
        header_row: Some(10),
        skip_footer: Some(0),
        ..SheetOptions::default()
    };
    let all = rows_of(read(&path, Format::Xlsx, &options, 1000).unwrap());
    assert_eq!(all.len(), 8, "two data rows and six notes");
    assert_eq!(all[2][0], s("Fonte: MEC/Inep/DEED"));
    assert_eq!(all[2][1], None);
}

fn rows_of(batches: Vec<SourceBatch>) -> Rows {
    rows(&batches)
}

#[test]
fn header_row_pointing_at_a_blank_row_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = inep_workbook(&dir);
    let options = SheetOptions {
        header_row: Some(9),
        ..SheetOptions::default()
    };
    let err = read(&path, Format::Xlsx, &options, 1000)
        .unwrap_err()
        .to_string();
    assert!(err.contains("sheet \"Municípios\""), "{err}");
    assert!(err.contains("row 9"), "{err}");
}

#[test]
fn note_like_rows_followed_by_data_are_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut wb = xw::Workbook::new();
    let ws = wb.add_worksheet();
    ws.write_row(0, 0, ["nome", "idade"]).unwrap();
    ws.write_row(1, 0, ["Ana", "30"]).unwrap();
    // Blank row 3, then a row with only a name, then a full row.
    ws.write_string(3, 0, "Bruno").unwrap();
    ws.write_row(4, 0, ["Carla", "41"]).unwrap();
    ws.write_string(6, 0, "Fonte: secretaria").unwrap();
    let path = save(&mut wb, &dir, "x.xlsx");
    let rows = rows_of(read(&path, Format::Xlsx, &SheetOptions::default(), 10).unwrap());
    let names: Vec<_> = rows.iter().map(|r| r[0].clone()).collect();
    assert_eq!(names, [s("Ana"), s("Bruno"), s("Carla")]);
}

#[test]
fn batches_have_the_right_first_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut wb = xw::Workbook::new();
    let ws = wb.add_worksheet();
    ws.write_row(0, 0, ["n", "dobro"]).unwrap();
    for i in 1..=5u32 {
        ws.write_number(i, 0, i).unwrap();
        ws.write_number(i, 1, f64::from(i) * 2.0).unwrap();
    }
    let path = save(&mut wb, &dir, "x.xlsx");
    let batches = read(&path, Format::Xlsx, &SheetOptions::default(), 2).unwrap();
    let firsts: Vec<u64> = batches.iter().map(|b| b.first_row).collect();
    assert_eq!(firsts, [1, 3, 5]);
    let sizes: Vec<usize> = batches.iter().map(|b| b.batch.num_rows()).collect();
    assert_eq!(sizes, [2, 2, 1]);
    assert_eq!(rows(&batches)[4][..2], [s("5"), s("10")]);
}

#[test]
fn merged_header_cells_are_filled() {
    let dir = tempfile::tempdir().unwrap();
    let mut wb = xw::Workbook::new();
    let ws = wb.add_worksheet();
    let plain = xw::Format::new();
    // Two header rows: A and B merged down, C:D merged across.
    ws.merge_range(0, 0, 1, 0, "Ano", &plain).unwrap();
    ws.merge_range(0, 1, 1, 1, "Município", &plain).unwrap();
    ws.merge_range(0, 2, 0, 3, "Taxa de aprovação", &plain)
        .unwrap();
    ws.write_row(1, 2, ["1º ano", "2º ano"]).unwrap();
    ws.write_row(2, 0, ["2023", "Rio Branco", "90", "91"])
        .unwrap();
    // A merged data cell: only its top-left holds the value.
    ws.merge_range(3, 0, 4, 0, "2024", &plain).unwrap();
    ws.write_row(3, 1, ["Xapuri", "80", "81"]).unwrap();
    ws.write_row(4, 1, ["Bujari", "70", "71"]).unwrap();
    let path = save(&mut wb, &dir, "x.xlsx");

    let options = SheetOptions {
        header_row: Some(2),
        ..SheetOptions::default()
    };
    let batches = read(&path, Format::Xlsx, &options, 10).unwrap();
    assert_eq!(
        names(&batches[0]),
        ["Ano", "Município", "1º ano", "2º ano", "planilha"]
    );
    let rows = rows(&batches);
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[1][0], s("2024"));
    assert_eq!(rows[2][0], None, "merged data cells are not copied");

    // Detected, the first row is the header; across a merge, the
    // range's name is repeated and made unique.
    let batches = read(&path, Format::Xlsx, &SheetOptions::default(), 10).unwrap();
    assert_eq!(
        names(&batches[0]),
        [
            "Ano",
            "Município",
            "Taxa de aprovação",
            "Taxa de aprovação_2",
            "planilha"
        ]
    );
}

fn two_sheet_workbook(dir: &tempfile::TempDir, second_header: [&str; 2]) -> PathBuf {
    let mut wb = xw::Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("2022").unwrap();
    ws.write_row(0, 0, ["codigo", "obitos"]).unwrap();
    ws.write_row(1, 0, ["120001", "3"]).unwrap();
    ws.write_row(2, 0, ["120010", "5"]).unwrap();
    wb.add_worksheet().set_name("vazia").unwrap();
    let ws = wb.add_worksheet();
    ws.set_name("2023").unwrap();
    ws.write_row(0, 0, second_header).unwrap();
    ws.write_row(1, 0, ["120001", "4"]).unwrap();
    save(&mut wb, dir, "x.xlsx")
}

#[test]
fn every_sheet_is_read_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = two_sheet_workbook(&dir, ["codigo", "obitos"]);
    let batches = read(&path, Format::Xlsx, &SheetOptions::default(), 2).unwrap();
    assert_eq!(names(&batches[0]), ["codigo", "obitos", "planilha"]);
    assert_eq!(
        rows(&batches),
        vec![
            vec![s("120001"), s("3"), s("2022")],
            vec![s("120010"), s("5"), s("2022")],
            vec![s("120001"), s("4"), s("2023")],
        ]
    );
    let firsts: Vec<u64> = batches.iter().map(|b| b.first_row).collect();
    assert_eq!(firsts, [1, 3]);

    let one = SheetOptions {
        sheet: Some("2023".into()),
        ..SheetOptions::default()
    };
    let batches = read(&path, Format::Xlsx, &one, 10).unwrap();
    assert_eq!(rows(&batches), vec![vec![s("120001"), s("4")]]);
}

#[test]
fn sheets_with_different_headers_are_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = two_sheet_workbook(&dir, ["codigo", "nascimentos"]);
    let err = read(&path, Format::Xlsx, &SheetOptions::default(), 10)
        .unwrap_err()
        .to_string();
    assert!(err.contains("sheet \"2023\""), "{err}");
    assert!(err.contains("\"2022\""), "{err}");
    assert!(err.contains("column 2"), "{err}");
}

#[test]
fn an_unknown_sheet_lists_the_sheets() {
    let dir = tempfile::tempdir().unwrap();
    let path = two_sheet_workbook(&dir, ["codigo", "obitos"]);
    let options = SheetOptions {
        sheet: Some("2024".into()),
        ..SheetOptions::default()
    };
    let err = read(&path, Format::Xlsx, &options, 10)
        .unwrap_err()
        .to_string();
    assert!(err.contains("\"2024\""), "{err}");
    assert!(err.contains("\"2022\", \"vazia\", \"2023\""), "{err}");

    let empty = SheetOptions {
        sheet: Some("vazia".into()),
        ..SheetOptions::default()
    };
    let err = read(&path, Format::Xlsx, &empty, 10)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no rows"), "{err}");
}

#[test]
fn values_outside_the_header_reject_the_row() {
    let dir = tempfile::tempdir().unwrap();
    let mut wb = xw::Workbook::new();
    let ws = wb.add_worksheet();
    ws.write_row(0, 0, ["cpf", "nome"]).unwrap();
    ws.write_row(1, 0, ["52998224725", "Ana"]).unwrap();
    ws.write_row(2, 0, ["11144477735", "Bia", "SEGREDO"])
        .unwrap();
    let path = save(&mut wb, &dir, "x.xlsx");
    let batches = read(&path, Format::Xlsx, &SheetOptions::default(), 10).unwrap();
    assert_eq!(rows(&batches).len(), 1);
    let reject = &batches[0].rejects[0];
    assert_eq!(
        reject.reason,
        "cell C3 lies outside the header's columns A:B"
    );
    assert_eq!(reject.content, "11144477735\tBia\tSEGREDO");
    assert!(!reject.reason.contains("SEGREDO") && !reject.location.contains("Bia"));
}

#[test]
fn a_sheet_without_a_header_like_row_asks_for_header_row() {
    let dir = tempfile::tempdir().unwrap();
    let mut wb = xw::Workbook::new();
    let ws = wb.add_worksheet();
    for r in 0..3u32 {
        ws.write_number(r, 0, r).unwrap();
        ws.write_number(r, 1, r).unwrap();
    }
    let path = save(&mut wb, &dir, "x.xlsx");
    let err = read(&path, Format::Xlsx, &SheetOptions::default(), 10)
        .unwrap_err()
        .to_string();
    assert!(err.contains("sheet.header_row"), "{err}");
    let options = SheetOptions {
        header_row: Some(1),
        ..SheetOptions::default()
    };
    let batches = read(&path, Format::Xlsx, &options, 10).unwrap();
    assert_eq!(names(&batches[0]), ["0", "0_2", "planilha"]);
    assert_eq!(rows(&batches).len(), 2);
}

#[test]
fn cells_past_the_last_column_are_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut wb = xw::Workbook::new();
    wb.add_worksheet().write_row(0, 0, ["a", "b"]).unwrap();
    let path = save(&mut wb, &dir, "x.xlsx");
    rewrite_zip_part(&path, "xl/worksheets/sheet1.xml", |xml| {
        xml.replace("r=\"B1\"", "r=\"XFE1\"")
    });
    let err = read(&path, Format::Xlsx, &SheetOptions::default(), 10)
        .unwrap_err()
        .to_string();
    assert!(err.contains("past the sheet's last cell"), "{err}");
    assert!(err.contains("after cell A1"), "{err}");
}

#[test]
fn a_header_without_rows_yields_an_empty_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut wb = xw::Workbook::new();
    wb.add_worksheet().write_row(0, 0, ["a", "b"]).unwrap();
    let path = save(&mut wb, &dir, "x.xlsx");
    let batches = read(&path, Format::Xlsx, &SheetOptions::default(), 10).unwrap();
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].batch.num_rows(), 0);
    assert_eq!(names(&batches[0]), ["a", "b", "planilha"]);
}

#[test]
fn files_over_the_limit_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = inep_workbook(&dir);
    let options = SheetOptions {
        max_bytes: Some(1000),
        ..SheetOptions::default()
    };
    let err = read(&path, Format::Xlsx, &options, 10)
        .unwrap_err()
        .to_string();
    assert!(err.contains("over the limit of 1000"), "{err}");
}

/// A small zip whose one part inflates to 4 MiB: past a 1 MiB limit.
#[test]
fn zip_bombs_are_refused_before_inflating() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bomba.xlsx");
    let mut zip = zip::ZipWriter::new(File::create(&path).unwrap());
    let deflated = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("xl/worksheets/sheet1.xml", deflated)
        .unwrap();
    let chunk = vec![b' '; 1024 * 1024];
    for _ in 0..4 {
        zip.write_all(&chunk).unwrap();
    }
    zip.finish().unwrap();
    let file_size = std::fs::metadata(&path).unwrap().len();
    assert!(file_size < 64 * 1024, "{file_size}");
    let options = SheetOptions {
        max_bytes: Some(1024 * 1024),
        ..SheetOptions::default()
    };
    let err = read(&path, Format::Xlsx, &options, 10)
        .unwrap_err()
        .to_string();
    assert!(err.contains("zip bomb"), "{err}");
    assert!(err.contains("4194304"), "{err}");
}

#[test]
fn a_text_file_named_xlsx_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("planilha.xlsx");
    std::fs::write(&path, "cpf;nome\n52998224725;Ana\n").unwrap();
    let err = read(&path, Format::Xlsx, &SheetOptions::default(), 10)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("entrega.xlsx: is not a readable XLSX file"),
        "{err}"
    );
    assert!(err.contains("not a zip container"), "{err}");
    assert!(!err.contains("52998224725"));

    // A zip that is not a workbook.
    let path = dir.path().join("outro.xlsx");
    let mut zip = zip::ZipWriter::new(File::create(&path).unwrap());
    zip.start_file("leia-me.txt", zip::write::SimpleFileOptions::default())
        .unwrap();
    zip.write_all(b"nada").unwrap();
    zip.finish().unwrap();
    let err = read(&path, Format::Xlsx, &SheetOptions::default(), 10)
        .unwrap_err()
        .to_string();
    assert!(err.contains("is not a readable XLSX file"), "{err}");

    // The same bytes read as XLS (a CFB container is expected).
    let err = read(&path, Format::Xls, &SheetOptions::default(), 10)
        .unwrap_err()
        .to_string();
    assert!(err.contains("is not a readable XLS file"), "{err}");
}

fn ods_file(dir: &tempfile::TempDir, table_rows: &str) -> PathBuf {
    let path = dir.path().join("x.ods");
    let mut zip = zip::ZipWriter::new(File::create(&path).unwrap());
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let deflated = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("mimetype", stored).unwrap();
    zip.write_all(b"application/vnd.oasis.opendocument.spreadsheet")
        .unwrap();
    zip.start_file("META-INF/manifest.xml", deflated).unwrap();
    zip.write_all(
        br#"<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>"#,
    )
    .unwrap();
    zip.start_file("content.xml", deflated).unwrap();
    write!(
        zip,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body><office:spreadsheet><table:table table:name="Dados">{table_rows}</table:table></office:spreadsheet></office:body></office:document-content>"#
    )
    .unwrap();
    zip.finish().unwrap();
    path
}

fn ods_text(t: &str) -> String {
    format!(
        r#"<table:table-cell office:value-type="string"><text:p>{t}</text:p></table:table-cell>"#
    )
}

#[test]
fn ods_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let table = [
        format!("<table:table-row>{}</table:table-row>", ods_text("Secretaria de Saúde")),
        format!(
            "<table:table-row>{}{}{}</table:table-row>",
            ods_text("codigo"),
            ods_text("taxa"),
            ods_text("data")
        ),
        r#"<table:table-row><table:table-cell office:value-type="float" office:value="3550308"><text:p>3550308</text:p></table:table-cell><table:table-cell office:value-type="float" office:value="12.5"><text:p>12,5</text:p></table:table-cell><table:table-cell office:value-type="date" office:date-value="2023-05-31"><text:p>31/05/2023</text:p></table:table-cell></table:table-row>"#.to_owned(),
        format!(
            r#"<table:table-row table:number-rows-repeated="2">{}{}</table:table-row>"#,
            ods_text("1200401"),
            ods_text("--")
        ),
        // LibreOffice's filler to the end of the sheet.
        r#"<table:table-row table:number-rows-repeated="1048570"><table:table-cell table:number-columns-repeated="1024"/></table:table-row>"#.to_owned(),
    ]
    .concat();
    let path = ods_file(&dir, &table);
    let batches = read(&path, Format::Ods, &SheetOptions::default(), 10).unwrap();
    assert_eq!(names(&batches[0]), ["codigo", "taxa", "data", "planilha"]);
    assert_eq!(
        rows(&batches),
        vec![
            vec![s("3550308"), s("12.5"), s("2023-05-31"), s("Dados")],
            vec![s("1200401"), None, None, s("Dados")],
            vec![s("1200401"), None, None, s("Dados")],
        ]
    );
}

#[test]
fn ods_repetition_bombs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    // A few hundred bytes that expand to 16,384 × 1,000,000 cells.
    let table = format!(
        r#"<table:table-row>{}{}</table:table-row><table:table-row table:number-rows-repeated="1000000"><table:table-cell office:value-type="string" table:number-columns-repeated="16384"><text:p>x</text:p></table:table-cell></table:table-row>"#,
        ods_text("a"),
        ods_text("b")
    );
    let path = ods_file(&dir, &table);
    let err = read(&path, Format::Ods, &SheetOptions::default(), 10)
        .unwrap_err()
        .to_string();
    assert!(err.contains("repeated"), "{err}");
}

#[test]
fn ods_estimate_ignores_trailing_filler_but_counts_gaps() {
    let mut estimate = OdsExpansion::default();
    let mut scanner = XmlTagScanner::default();
    let filler = r#"<table:table-row table:number-rows-repeated="1048000"><table:table-cell table:number-columns-repeated="1024"/></table:table-row>"#;
    let row = format!(
        "<table:table-row>{}{}</table:table-row>",
        ods_text("a"),
        ods_text("b")
    );
    scanner.feed(format!("{row}{filler}").as_bytes(), &mut estimate);
    assert_eq!(estimate.bytes(), 2 * ODS_CELL_BYTES + 2);
    // The same filler between two rows with values costs full rows.
    scanner.feed(row.as_bytes(), &mut estimate);
    assert!(estimate.bytes() > 1_048_000 * 2 * ODS_CELL_BYTES);
    // Fed in pieces, the scanner gives the same estimate.
    let mut pieces = OdsExpansion::default();
    let mut scanner = XmlTagScanner::default();
    let text = format!("{row}{filler}{row}");
    for chunk in text.as_bytes().chunks(7) {
        scanner.feed(chunk, &mut pieces);
    }
    assert_eq!(pieces.bytes(), estimate.bytes());
}

#[test]
fn numbers_print_shortest_and_without_dot_zero() {
    assert_eq!(number_text(12.0), "12");
    assert_eq!(number_text(12.5), "12.5");
    assert_eq!(number_text(3_550_308.0), "3550308");
    assert_eq!(number_text(-0.0), "0");
    assert_eq!(number_text(0.1), "0.1");
    assert_eq!(number_text(-7.25), "-7.25");
    assert_eq!(number_text(1e16), "10000000000000000");
    assert_eq!(number_text(0.000001), "0.000001");
}

#[test]
fn dates_print_as_iso_8601() {
    use calamine::ExcelDateTimeType::{DateTime, TimeDelta};
    let at = |v: f64| datetime_text(&ExcelDateTime::new(v, DateTime, false));
    assert_eq!(at(45077.0), "2023-05-31");
    assert_eq!(at(45077.5), "2023-05-31T12:00:00");
    assert_eq!(at(0.75), "18:00:00");
    assert_eq!(at(45077.0 + 1.5 / 86_400.0), "2023-05-31T00:00:01.500");
    let span = |v: f64| datetime_text(&ExcelDateTime::new(v, TimeDelta, false));
    assert_eq!(span(1.5), "PT36H0M0S");
    assert_eq!(span(-0.25), "-PT6H0M0S");
}

#[test]
fn column_names_follow_a1_notation() {
    assert_eq!(cell_name(0, 0), "A1");
    assert_eq!(cell_name(11, 25), "Z12");
    assert_eq!(cell_name(0, 26), "AA1");
    assert_eq!(cell_name(0, 16_383), "XFD1");
}

#[test]
fn options_are_checked() {
    let options: SheetOptions = toml::from_str(
        "sheet = \"Municípios\"\nheader_row = 10\nskip_footer = 6\nmissing_values = [\"--\", \"...\"]\nmax_bytes = 1048576\n",
    )
    .unwrap();
    assert!(options.problems().is_empty());
    assert_eq!(options.missing_values(), ["--", "..."]);
    assert!(toml::from_str::<SheetOptions>("planilha = \"x\"").is_err());
    let bad = SheetOptions {
        sheet: Some(String::new()),
        header_row: Some(0),
        skip_footer: Some(MAX_SKIP_FOOTER + 1),
        max_bytes: Some(0),
        ..SheetOptions::default()
    };
    assert_eq!(bad.problems().len(), 4);
    assert!(matches!(
        read_spreadsheet(Path::new("/nao/existe.xlsx"), "x.xlsx", Format::Xlsx, &bad, 10),
        Err(SourceError::Config(p)) if p.len() == 4
    ));
    assert_eq!(SheetOptions::default().missing_values(), ["--"]);
}
