//! Population: IBGE's yearly estimates as the spreadsheet IBGE publishes
//! (`estimativa_populacao.xlsx`), one sheet per year named after it, title
//! rows above the header, notes below the table, and the municipality code
//! split in two with its leading zeros lost (`COD. UF` 26, `COD. MUNIC`
//! 54 for 2600054).

use crate::territory::Territory;
use rust_xlsxwriter::{DocProperties, ExcelDateTime, Workbook, XlsxError};
use std::path::Path;

pub const HEADER: &[&str] = &[
    "UF",
    "COD. UF",
    "COD. MUNIC",
    "NOME DO MUNICÍPIO",
    "POPULAÇÃO ESTIMADA",
];

/// Rows of notes below each sheet's table.
pub const FOOTER_ROWS: u32 = 2;

/// The workbook; returns the rows written (all sheets).
pub fn write(t: &Territory, path: &Path) -> Result<u64, XlsxError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut book = Workbook::new();
    // A fixed creation date: the same state gives the same bytes, so a
    // delivery made again is recognised as already in the lake.
    let created = ExcelDateTime::from_ymd((t.last_year + 1) as u16, 1, 15)?;
    book.set_properties(&DocProperties::new().set_creation_datetime(&created));
    let mut rows = 0u64;
    for year in t.years() {
        let sheet = book.add_worksheet();
        sheet.set_name(year.to_string())?;
        sheet.write_string(
            0,
            0,
            format!(
                "ESTIMATIVAS DA POPULAÇÃO RESIDENTE NOS MUNICÍPIOS BRASILEIROS COM DATA DE REFERÊNCIA EM 1º DE JULHO DE {year}"
            ),
        )?;
        sheet.write_string(1, 0, format!("{} ({})", t.uf_name, t.uf_sigla))?;
        for (c, h) in HEADER.iter().enumerate() {
            sheet.write_string(3, c as u16, *h)?;
        }
        let mut r = 4u32;
        for (m, city) in t.municipalities.iter().enumerate() {
            let tail: u32 = city.code7[2..].parse().expect("digits");
            sheet.write_string(r, 0, t.uf_sigla)?;
            sheet.write_number(r, 1, f64::from(t.uf))?;
            sheet.write_number(r, 2, f64::from(tail))?;
            sheet.write_string(r, 3, &city.name)?;
            sheet.write_number(r, 4, t.counts(m, year).population as f64)?;
            r += 1;
            rows += 1;
        }
        sheet.write_string(
            r + 1,
            0,
            "Fonte: IBGE, Diretoria de Pesquisas - DPE - Coordenação de População e Indicadores Sociais - COPIS (dados sintéticos).",
        )?;
        sheet.write_string(
            r + 2,
            0,
            "(1) População estimada com data de referência em 1º de julho.",
        )?;
    }
    book.save(path)?;
    Ok(rows)
}
