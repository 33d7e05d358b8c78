//! Every delivery format through the real binary, and a hostile corpus.
//!
//! The same SIM-like rows, delivered in each format a municipality or
//! DATASUS sends, must land as the same data under one contract. Malformed
//! deliveries must end in a message naming the file and the line, record or
//! cell (never a value), with exit code 1 and no panic, the original kept in
//! the raw zone. A drop folder takes each file once; an HTTP API source pages
//! with a bearer token that never shows.

use crate::support::*;
use lagoa_connectors::formats::dbf::fixtures::{Container, write_dbc, write_dbf, write_table};
use lagoa_schemas::validators::cpf_from_base;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

// ----------------------------------------------------------------------
// Helpers

pub(crate) fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

fn file_name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

fn write_bytes(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("writing fixture");
    path
}

fn texts(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `lagoa ingest FILE --dataset DATASET --contract CONTRACT EXTRA...`,
/// whatever its outcome.
fn try_ingest(lake: &Path, file: &Path, dataset: &str, contract: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "ingest",
        path_str(file),
        "--dataset",
        dataset,
        "--contract",
        path_str(contract),
    ];
    args.extend_from_slice(extra);
    lagoa(lake, &args)
}

/// A query's rows (`--format csv`), or why it failed.
pub(crate) fn query(lake: &Path, sql: &str) -> Result<Vec<Vec<String>>, String> {
    let out = lagoa(lake, &["query", sql, "--format", "csv"]);
    let (stdout, stderr) = texts(&out);
    if out.status.success() {
        Ok(csv_rows(&stdout))
    } else {
        Err(format!("query {sql:?} failed: {}", stderr.trim()))
    }
}

/// Asserts that lagoa stopped with exit code 1 and a message rather than a
/// panic; returns stderr.
pub(crate) fn failed_cleanly(out: &Output, what: &str) -> String {
    let (stdout, stderr) = texts(out);
    assert!(
        !stderr.contains("panicked") && !stdout.contains("panicked"),
        "{what}: lagoa panicked:\n{stderr}"
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{what}: expected exit code 1\nstdout: {stdout}\nstderr: {stderr}"
    );
    assert!(
        stderr.trim().len() > 10,
        "{what}: lagoa failed without saying why"
    );
    stderr
}

/// Each line of a `--json` listing.
pub(crate) fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The raw-zone entries of a delivered file (by its name).
pub(crate) fn raw_entries(lake: &Path, name: &str) -> Vec<serde_json::Value> {
    json_lines(&lagoa_ok(lake, &["raw", "list", "--json"]))
        .into_iter()
        .filter(|d| d["source"] == name)
        .collect()
}

/// Asserts that the raw zone kept the delivery, marked failed.
fn assert_kept_as_failed(lake: &Path, name: &str) {
    let entries = raw_entries(lake, name);
    assert!(
        entries.iter().any(|d| d["status"] == "failed"),
        "{name}: the raw zone should keep the failed delivery (raw list --json shows it with status failed); it lists: {entries:?}"
    );
}

/// The runs of a source (for a file on the command line: its name).
pub(crate) fn runs_of(lake: &Path, source: &str) -> Vec<serde_json::Value> {
    json_lines(&lagoa_ok(lake, &["runs", "--json"]))
        .into_iter()
        .filter(|r| r["source"] == source)
        .collect()
}

/// The one run of a delivered file.
fn run_of(lake: &Path, name: &str) -> serde_json::Value {
    let runs = runs_of(lake, name);
    assert_eq!(runs.len(), 1, "{name}: expected one run, got {runs:?}");
    runs.into_iter().next().unwrap()
}

/// The quarantined rows of a run.
fn quarantined(lake: &Path, run: &str) -> Vec<serde_json::Value> {
    json_lines(&lagoa_ok(lake, &["quarantine", "show", run, "--json"]))
}

/// Asserts that no message lagoa shows about the lake holds these values:
/// the given outputs, the runs, the raw-zone listing and every quality
/// report.
pub(crate) fn assert_no_values_shown(lake: &Path, shown: &[&str], values: &[&str]) {
    let mut texts: Vec<(String, String)> = shown
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("output {i}"), (*t).to_owned()))
        .collect();
    let runs = lagoa_ok(lake, &["runs", "--json"]);
    for run in json_lines(&runs) {
        let id = run["run_id"].as_str().unwrap().to_owned();
        let out = lagoa(lake, &["report", &id, "--format", "json"]);
        texts.push((format!("report of {id}"), texts_of(&out)));
    }
    texts.push(("runs --json".into(), runs));
    texts.push((
        "raw list --json".into(),
        lagoa_ok(lake, &["raw", "list", "--json"]),
    ));
    for (what, text) in &texts {
        for value in values {
            assert!(
                !text.contains(value),
                "{what} shows the personal value {value:?}:\n{text}"
            );
        }
    }
}

pub(crate) fn texts_of(out: &Output) -> String {
    let (stdout, stderr) = texts(out);
    stdout + &stderr
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn zip_of(path: &Path, members: &[(&str, &[u8])]) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in members {
        zip.start_file(*name, options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
}

fn latin1(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).expect("a Latin-1 character"))
        .collect()
}

// ----------------------------------------------------------------------
// 1. The same rows in every format

const SIM_ROWS: usize = 50;
const SIM_HEADER: [&str; 6] = ["NUMERODO", "CODMUNRES", "DTOBITO", "IDADE", "NOME", "VALOR"];
const MUNICIPIOS: [&str; 5] = ["120040", "260005", "355030", "110001", "530010"];
const PRENOMES: [&str; 8] = [
    "José",
    "Maria da Conceição",
    "Antônio",
    "Inês",
    "Sebastião",
    "Júlia",
    "Ângela",
    "João",
];
const SOBRENOMES: [&str; 7] = [
    "Araújo",
    "Gonçalves",
    "Nóbrega",
    "Assunção",
    "Brandão",
    "Magalhães",
    "Simões",
];

/// One death record of a SIM-like extraction.
struct SimRow {
    numerodo: String,
    codmunres: &'static str,
    dtobito: chrono::NaiveDate,
    idade: u32,
    nome: String,
    /// R$, in cents.
    valor_cents: i64,
}

impl SimRow {
    fn ddmmyyyy(&self) -> String {
        self.dtobito.format("%d%m%Y").to_string()
    }

    fn valor(&self, decimal: char) -> String {
        format!(
            "{}{decimal}{:02}",
            self.valor_cents / 100,
            self.valor_cents % 100
        )
    }

    /// The row as `lagoa query --format csv` gives it back.
    fn expected(&self) -> Vec<String> {
        vec![
            self.numerodo.clone(),
            self.codmunres.to_owned(),
            self.dtobito.format("%Y-%m-%d").to_string(),
            self.idade.to_string(),
            self.nome.clone(),
            self.valor('.'),
        ]
    }
}

fn sim_rows() -> Vec<SimRow> {
    let first = chrono::NaiveDate::from_ymd_opt(2023, 1, 2).unwrap();
    (0..SIM_ROWS)
        .map(|i| SimRow {
            numerodo: format!("{:08}", 1_000 + i),
            codmunres: MUNICIPIOS[i % MUNICIPIOS.len()],
            dtobito: first + chrono::Days::new(7 * i as u64),
            idade: (i as u32 * 13) % 101,
            nome: format!(
                "{} {}",
                PRENOMES[i % PRENOMES.len()],
                SOBRENOMES[i % SOBRENOMES.len()]
            ),
            valor_cents: 1_000 + i as i64 * 137,
        })
        .collect()
}

/// The extraction as the municipality's system exports it: DDMMYYYY dates,
/// decimal commas.
fn sim_text(rows: &[SimRow], delimiter: &str, newline: &str) -> String {
    let mut text = SIM_HEADER.join(delimiter) + newline;
    for r in rows {
        let fields = [
            r.numerodo.clone(),
            r.codmunres.to_owned(),
            r.ddmmyyyy(),
            r.idade.to_string(),
            r.nome.clone(),
            r.valor(','),
        ];
        text.push_str(&fields.join(delimiter));
        text.push_str(newline);
    }
    text
}

/// The one contract every format is checked against (only the dataset's
/// name changes): the municipality's conventions, decimal commas and
/// DDMMYYYY dates.
fn sim_contract(dir: &Path, dataset: &str) -> PathBuf {
    write_file(
        dir,
        &format!("{dataset}.toml"),
        &format!(
            r#"[dataset]
name = "{dataset}"
description = "Declarações de óbito (SIM), a mesma extração em cada formato"
level = "especial"
reference_column = "dtobito"

[parse]
decimal = ","
date_formats = ["%d%m%Y"]

[[columns]]
name = "numerodo"
type = "string"
nullable = false
pattern = "^[0-9]{{8}}$"

[[columns]]
name = "codmunres"
type = "string"
nullable = false
pattern = "^[0-9]{{6}}$"

[[columns]]
name = "dtobito"
type = "date"
nullable = false

[[columns]]
name = "idade"
type = "integer"

[[columns]]
name = "nome"
type = "string"
personal = "pessoal"

[[columns]]
name = "valor"
type = "decimal(12,2)"
"#
        ),
    )
}

/// Ingests one file under the SIM contract (named for `dataset`) and
/// returns every way in which what came back differs from the rows the
/// file was made from.
fn land(
    lake: &Path,
    dir: &Path,
    file: &Path,
    dataset: &str,
    extra: &[&str],
    rows: &[SimRow],
) -> Vec<String> {
    let name = file_name(file);
    let contract = sim_contract(dir, dataset);
    let out = try_ingest(lake, file, dataset, &contract, extra);
    let (stdout, stderr) = texts(&out);
    if !out.status.success() {
        return vec![format!("{name}: ingest failed:\n{}", stderr.trim())];
    }
    let mut problems = Vec::new();
    let wanted = format!("ingested {} rows into {dataset}", rows.len());
    if !stdout.contains(&wanted) || !stdout.contains("(0 rejected") {
        problems.push(format!(
            "{name}: expected `{wanted}` with 0 rejected, got: {} {}",
            stdout.trim(),
            stderr.trim()
        ));
    }
    problems.extend(compare(lake, dataset, &name, rows));
    problems
}

/// What differs between a dataset and the rows: every value, the count, the
/// decimal sum, the date range and the accented names.
fn compare(lake: &Path, dataset: &str, name: &str, rows: &[SimRow]) -> Vec<String> {
    let mut problems = Vec::new();
    let sql = format!(
        "SELECT numerodo, codmunres, dtobito, idade, nome, valor FROM {dataset} ORDER BY numerodo"
    );
    let got = match query(lake, &sql) {
        Ok(got) => got,
        Err(e) => return vec![format!("{name}: {e}")],
    };
    if got.len() != rows.len() {
        problems.push(format!(
            "{name}: {} rows came back, {} were delivered",
            got.len(),
            rows.len()
        ));
    }
    let expected: Vec<Vec<String>> = rows.iter().map(SimRow::expected).collect();
    for (g, e) in got.iter().zip(&expected).filter(|(g, e)| g != e).take(3) {
        problems.push(format!(
            "{name}: a row came back as {g:?}, delivered as {e:?}"
        ));
    }

    let cents: i64 = rows.iter().map(|r| r.valor_cents).sum();
    let first = rows.iter().map(|r| r.dtobito).min().unwrap();
    let last = rows.iter().map(|r| r.dtobito).max().unwrap();
    let conceicao = rows.iter().filter(|r| r.nome.contains("Conceição")).count();
    let totals = format!(
        "SELECT count(*), sum(valor), min(dtobito), max(dtobito), \
         sum(CASE WHEN nome LIKE '%Conceição%' THEN 1 ELSE 0 END) FROM {dataset}"
    );
    let wanted = vec![
        rows.len().to_string(),
        format!("{}.{:02}", cents / 100, cents % 100),
        first.format("%Y-%m-%d").to_string(),
        last.format("%Y-%m-%d").to_string(),
        conceicao.to_string(),
    ];
    match query(lake, &totals) {
        Ok(got) if got.first() == Some(&wanted) => {}
        Ok(got) => problems.push(format!(
            "{name}: count, sum(valor), date range, names with Conceição: got {:?}, expected {wanted:?}",
            got.first()
        )),
        Err(e) => problems.push(format!("{name}: {e}")),
    }
    problems
}

fn assert_no_problems(problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n---\n")
    );
}

#[test]
fn a_latin1_semicolon_csv_with_decimal_commas_lands_the_sim_rows() {
    let (dir, lake) = new_lake();
    let rows = sim_rows();
    let file = write_bytes(
        dir.path(),
        "DOAC2023.csv",
        &latin1(&sim_text(&rows, ";", "\r\n")),
    );
    let problems = land(
        &lake,
        dir.path(),
        &file,
        "sim_csv",
        &["--encoding", "latin1", "--delimiter", ";"],
        &rows,
    );
    assert_no_problems(&problems);
}

#[test]
fn a_utf8_bom_tsv_a_gzip_and_a_zip_land_the_same_rows() {
    let (dir, lake) = new_lake();
    let rows = sim_rows();
    let latin1_csv = latin1(&sim_text(&rows, ";", "\r\n"));
    let tsv = format!("\u{feff}{}", sim_text(&rows, "\t", "\n"));
    let tsv = write_file(dir.path(), "DOAC2023.tsv", &tsv);
    let gz = write_bytes(dir.path(), "DOAC2023.csv.gz", &gzip(&latin1_csv));
    let zip = dir.path().join("DOAC2023.zip");
    zip_of(&zip, &[("DOAC2023.csv", latin1_csv.as_slice())]);

    // Encodings and delimiters are detected.
    let mut problems = land(&lake, dir.path(), &tsv, "sim_tsv", &[], &rows);
    problems.extend(land(&lake, dir.path(), &gz, "sim_gz", &[], &rows));
    problems.extend(land(&lake, dir.path(), &zip, "sim_zip", &[], &rows));
    assert_no_problems(&problems);
}

#[test]
fn an_xlsx_with_title_rows_above_the_header_lands_the_same_rows() {
    use rust_xlsxwriter as xw;
    let (dir, lake) = new_lake();
    let rows = sim_rows();
    let mut workbook = xw::Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name("Óbitos").unwrap();
    sheet
        .write_string(0, 0, "Secretaria Municipal de Saúde")
        .unwrap();
    sheet
        .write_string(
            1,
            0,
            "Declarações de óbito por município de residência, 2023",
        )
        .unwrap();
    for (c, h) in SIM_HEADER.iter().enumerate() {
        sheet.write_string(3, c as u16, *h).unwrap();
    }
    // As an office suite stores them: dates as date cells, numbers as
    // numbers, codes as text.
    let date = xw::Format::new().set_num_format("dd/mm/yyyy");
    let money = xw::Format::new().set_num_format("#,##0.00");
    for (i, r) in rows.iter().enumerate() {
        let row = 4 + i as u32;
        use chrono::Datelike;
        let day = xw::ExcelDateTime::from_ymd(
            r.dtobito.year() as u16,
            r.dtobito.month() as u8,
            r.dtobito.day() as u8,
        )
        .unwrap();
        sheet.write_string(row, 0, &r.numerodo).unwrap();
        sheet.write_string(row, 1, r.codmunres).unwrap();
        sheet
            .write_datetime_with_format(row, 2, &day, &date)
            .unwrap();
        sheet.write_number(row, 3, r.idade).unwrap();
        sheet.write_string(row, 4, &r.nome).unwrap();
        sheet
            .write_number_with_format(row, 5, r.valor_cents as f64 / 100.0, &money)
            .unwrap();
    }
    let file = dir.path().join("obitos_2023.xlsx");
    workbook.save(&file).unwrap();

    let problems = land(
        &lake,
        dir.path(),
        &file,
        "sim_xlsx",
        &["--sheet", "Óbitos"],
        &rows,
    );
    assert_no_problems(&problems);
}

/// The SIM layout: dates are 8-character text fields (DDMMYYYY), the age
/// and the value numeric fields.
const SIM_DBF_FIELDS: [(&str, char, u8); 6] = [
    ("NUMERODO", 'C', 8),
    ("CODMUNRES", 'C', 6),
    ("DTOBITO", 'C', 8),
    ("IDADE", 'N', 3),
    ("NOME", 'C', 40),
    ("VALOR", 'N', 10),
];

fn sim_dbf_rows(rows: &[SimRow]) -> Vec<Vec<Option<String>>> {
    rows.iter()
        .map(|r| {
            vec![
                Some(r.numerodo.clone()),
                Some(r.codmunres.to_owned()),
                Some(r.ddmmyyyy()),
                Some(r.idade.to_string()),
                Some(r.nome.clone()),
                // A DBF numeric field always has a decimal point.
                Some(r.valor('.')),
            ]
        })
        .collect()
}

#[test]
fn a_dbf_and_a_dbc_land_the_same_rows() {
    let (dir, lake) = new_lake();
    let rows = sim_rows();
    let records = sim_dbf_rows(&rows);
    let dbf = dir.path().join("DOAC2023.dbf");
    write_dbf(
        &mut std::fs::File::create(&dbf).unwrap(),
        &SIM_DBF_FIELDS,
        &records,
    )
    .unwrap();
    let dbc = dir.path().join("DOAC2023.dbc");
    write_dbc(
        &mut std::fs::File::create(&dbc).unwrap(),
        &SIM_DBF_FIELDS,
        &records,
    )
    .unwrap();

    let mut problems = land(&lake, dir.path(), &dbf, "sim_dbf", &[], &rows);
    problems.extend(land(&lake, dir.path(), &dbc, "sim_dbc", &[], &rows));
    assert_no_problems(&problems);
}

fn sim_json_record(r: &SimRow) -> String {
    // Codes and dates as strings, the age and the value as JSON numbers.
    format!(
        r#"{{"numerodo":"{}","codmunres":"{}","dtobito":"{}","idade":{},"nome":{},"valor":{}}}"#,
        r.numerodo,
        r.codmunres,
        r.ddmmyyyy(),
        r.idade,
        serde_json::to_string(&r.nome).unwrap(),
        r.valor('.')
    )
}

#[test]
fn ndjson_and_json_with_a_record_path_land_the_same_rows() {
    let (dir, lake) = new_lake();
    let rows = sim_rows();
    let ndjson: String = rows.iter().map(|r| sim_json_record(r) + "\n").collect();
    let ndjson = write_file(dir.path(), "obitos_2023.ndjson", &ndjson);
    let records: Vec<String> = rows.iter().map(sim_json_record).collect();
    let json = format!(
        r#"{{"fonte":"SIM","gerado_em":"2024-01-10","dados":{{"total":{},"registros":[{}]}}}}"#,
        rows.len(),
        records.join(",")
    );
    let json = write_file(dir.path(), "obitos_2023.json", &json);

    let mut problems = land(&lake, dir.path(), &ndjson, "sim_ndjson", &[], &rows);
    problems.extend(land(
        &lake,
        dir.path(),
        &json,
        "sim_json",
        &["--record-path", "dados.registros"],
        &rows,
    ));
    assert_no_problems(&problems);
}

#[test]
fn a_typed_parquet_file_lands_the_same_rows() {
    use arrow::array::{
        ArrayRef, Date32Array, Decimal128Array, Int32Array, RecordBatch, StringArray,
    };
    let (dir, lake) = new_lake();
    let rows = sim_rows();
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    let columns: Vec<(&str, ArrayRef)> = vec![
        (
            "numerodo",
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.numerodo.clone()),
            )),
        ),
        (
            "codmunres",
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.codmunres),
            )),
        ),
        (
            "dtobito",
            Arc::new(Date32Array::from_iter_values(
                rows.iter().map(|r| (r.dtobito - epoch).num_days() as i32),
            )),
        ),
        (
            "idade",
            Arc::new(Int32Array::from_iter_values(
                rows.iter().map(|r| r.idade as i32),
            )),
        ),
        (
            "nome",
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.nome.clone()),
            )),
        ),
        (
            "valor",
            Arc::new(
                Decimal128Array::from_iter_values(rows.iter().map(|r| r.valor_cents as i128))
                    .with_precision_and_scale(12, 2)
                    .unwrap(),
            ),
        ),
    ];
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let file = dir.path().join("obitos_2023.parquet");
    let mut writer = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(&file).unwrap(),
        batch.schema(),
        None,
    )
    .unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();

    let problems = land(&lake, dir.path(), &file, "sim_parquet", &[], &rows);
    assert_no_problems(&problems);
}

// ----------------------------------------------------------------------
// 2. A hostile corpus

const HOSTILE_HEADER: &str = "NUMERODO;CPF;NOME;VALOR";

/// Every row's name: no message may ever show it.
pub(crate) const NAME: &str = "Severina Quitéria Albuquerque";

pub(crate) fn hostile_contract(dir: &Path, dataset: &str) -> PathBuf {
    write_file(
        dir,
        &format!("{dataset}.toml"),
        &format!(
            r#"[dataset]
name = "{dataset}"
level = "especial"
max_rejected_share = 0.05

[[columns]]
name = "numerodo"
type = "string"
nullable = false
pattern = "^[0-9]{{8}}$"

[[columns]]
name = "cpf"
type = "string"
personal = "pessoal"
validator = "cpf"

[[columns]]
name = "nome"
type = "string"
personal = "pessoal"

[[columns]]
name = "valor"
type = "decimal(12,2)"
"#
        ),
    )
}

fn cpf(i: usize) -> String {
    cpf_from_base(200_000_000 + i as u32)
}

fn name(i: usize) -> String {
    format!("{NAME} {i}")
}

/// Data row `i` (1-based; it is on line `i + 1`).
pub(crate) fn hostile_row(i: usize) -> String {
    format!("{i:08};{};{};{}.{:02}", cpf(i), name(i), 10 + i, i % 100)
}

pub(crate) fn hostile_csv(rows: usize) -> String {
    hostile_csv_from(1, rows)
}

/// A hostile-corpus CSV of `rows` rows numbered from `first`.
pub(crate) fn hostile_csv_from(first: usize, rows: usize) -> String {
    let mut text = format!("{HOSTILE_HEADER}\n");
    for i in first..first + rows {
        text.push_str(&hostile_row(i));
        text.push('\n');
    }
    text
}

/// Ingests a hostile file under the hostile contract; it must fail
/// cleanly. Returns stderr.
fn ingest_must_fail(lake: &Path, dir: &Path, file: &Path, dataset: &str, extra: &[&str]) -> String {
    let contract = hostile_contract(dir, dataset);
    let out = try_ingest(lake, file, dataset, &contract, extra);
    let stderr = failed_cleanly(&out, &file_name(file));
    assert!(
        stderr.contains(&file_name(file)),
        "the message names the file {}:\n{stderr}",
        file_name(file)
    );
    stderr
}

#[test]
fn an_unclosed_quote_fails_naming_its_line_and_the_quote() {
    let (dir, lake) = new_lake();
    // Line 10 (row 9) opens a quote in the name field and never closes it:
    // the rest of the file reads as that one field.
    let mut text = format!("{HOSTILE_HEADER}\n");
    for i in 1..=30 {
        if i == 9 {
            text.push_str(&format!("{i:08};{};\"{};19.09\n", cpf(i), name(i)));
        } else {
            text.push_str(&hostile_row(i));
            text.push('\n');
        }
    }
    let file = write_file(dir.path(), "aspas.csv", &text);
    let stderr = ingest_must_fail(&lake, dir.path(), &file, "aspas", &[]);
    assert!(
        stderr.contains("line 10"),
        "the message names line 10:\n{stderr}"
    );
    assert!(
        stderr.to_lowercase().contains("quote"),
        "the message says a quote is left open (the provider must know what to fix):\n{stderr}"
    );
    // Either the line waits in quarantine, or the whole delivery failed on it.
    let run = run_of(&lake, "aspas.csv");
    if run["status"] == "rejected" {
        let rows = quarantined(&lake, run["run_id"].as_str().unwrap());
        assert!(
            rows.iter().any(|r| r["location"] == "line 10"),
            "quarantine holds line 10: {rows:?}"
        );
    } else {
        assert_eq!(run["status"], "failed", "{run}");
        assert!(run["error"].as_str().unwrap().contains("line 10"), "{run}");
    }
    assert_kept_as_failed(&lake, "aspas.csv");
    assert_no_values_shown(&lake, &[&stderr], &[&cpf(9), NAME, "Quitéria"]);
}

#[test]
fn an_unclosed_quote_near_the_end_loses_no_row_silently() {
    let (dir, lake) = new_lake();
    // 200 rows; row 195 opens a quote that never closes, so rows 195 to 200
    // are one field. One bad "row" of 195 is under the 5% limit: if the run
    // commits, the five rows after the quote must not vanish unaccounted.
    let mut text = format!("{HOSTILE_HEADER}\n");
    for i in 1..=200 {
        if i == 195 {
            text.push_str(&format!("{i:08};{};\"{};205.95\n", cpf(i), name(i)));
        } else {
            text.push_str(&hostile_row(i));
            text.push('\n');
        }
    }
    let file = write_file(dir.path(), "aspas_no_fim.csv", &text);
    let contract = hostile_contract(dir.path(), "aspas_no_fim");
    let out = try_ingest(&lake, &file, "aspas_no_fim", &contract, &[]);
    let (stdout, stderr) = texts(&out);
    assert!(!stderr.contains("panicked"), "{stderr}");
    if out.status.success() {
        let run = run_of(&lake, "aspas_no_fim.csv");
        assert_eq!(
            run["rows_read"], 200,
            "the delivery holds 200 rows; a committed run must account for each of them \
             (read and accepted, or rejected), not swallow rows 196-200 into the unclosed quote's field:\n{stdout}\n{run}"
        );
    } else {
        assert!(stderr.contains("line 196"), "{stderr}");
    }
}

#[test]
fn ragged_rows_over_the_limit_reject_the_run_and_wait_in_quarantine_by_line() {
    let (dir, lake) = new_lake();
    // 3 of 20 rows have the wrong number of fields: 15%, over the 5% limit.
    let mut text = format!("{HOSTILE_HEADER}\n");
    for i in 1..=20 {
        let line = match i {
            4 => format!("{}; campo a mais", hostile_row(i)),
            8 => format!("{i:08};{};{}", cpf(i), name(i)),
            13 => format!("{};;;", hostile_row(i)),
            _ => hostile_row(i),
        };
        text.push_str(&line);
        text.push('\n');
    }
    let file = write_file(dir.path(), "irregular.csv", &text);
    let stderr = ingest_must_fail(&lake, dir.path(), &file, "irregular", &[]);
    assert!(
        stderr.contains("3 of 20 rows rejected") && stderr.contains("line 5"),
        "{stderr}"
    );
    let run = run_of(&lake, "irregular.csv");
    assert_eq!(run["status"], "rejected", "{run}");
    let rows = quarantined(&lake, run["run_id"].as_str().unwrap());
    let lines: Vec<&str> = rows
        .iter()
        .map(|r| r["location"].as_str().unwrap())
        .collect();
    assert_eq!(lines, ["line 5", "line 9", "line 14"], "{rows:?}");
    for r in &rows {
        let reason = r["reason"].as_str().unwrap();
        assert!(reason.contains("fields, expected 4"), "{reason}");
    }
    // Nothing became visible; the original is kept.
    assert!(query(&lake, "SELECT count(*) FROM irregular").is_err());
    assert_kept_as_failed(&lake, "irregular.csv");
    let report = lagoa_ok(
        &lake,
        &[
            "report",
            run["run_id"].as_str().unwrap(),
            "--format",
            "json",
        ],
    );
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["rows_rejected"], 3, "{report}");
    assert_no_values_shown(&lake, &[&stderr], &[&cpf(4), &cpf(8), &cpf(13), NAME]);
}

#[test]
fn a_file_cut_in_the_middle_of_a_row_is_caught() {
    let (dir, lake) = new_lake();
    // Cut inside the name of row 12 (line 13), as an interrupted upload.
    let full = hostile_csv(12);
    let cut = full.rfind(NAME).unwrap() + "Severina Qui".len();
    let file = write_file(dir.path(), "cortado.csv", &full[..cut]);
    let stderr = ingest_must_fail(&lake, dir.path(), &file, "cortado", &[]);
    assert!(stderr.contains("line 13"), "{stderr}");
    let run = run_of(&lake, "cortado.csv");
    let rows = quarantined(&lake, run["run_id"].as_str().unwrap());
    assert!(rows.iter().any(|r| r["location"] == "line 13"), "{rows:?}");
    assert_kept_as_failed(&lake, "cortado.csv");

    // A compressed delivery cut short fails as a whole, naming where.
    let gz = gzip(hostile_csv(5_000).as_bytes());
    let file = write_bytes(dir.path(), "cortado.csv.gz", &gz[..gz.len() / 2]);
    let stderr = ingest_must_fail(&lake, dir.path(), &file, "cortado_gz", &[]);
    assert!(stderr.contains("cortado.csv.gz line "), "{stderr}");
    assert!(query(&lake, "SELECT count(*) FROM cortado_gz").is_err());
    assert_kept_as_failed(&lake, "cortado.csv.gz");
    assert_no_values_shown(&lake, &[&stderr], &[&cpf(12), NAME]);
}

#[test]
fn invalid_utf8_in_a_file_declared_utf8_is_named_by_line_and_field() {
    let (dir, lake) = new_lake();
    // Rows 3 and 7 were pasted from a Latin-1 system: é is the byte 0xE9.
    let mut bytes = format!("{HOSTILE_HEADER}\n").into_bytes();
    for i in 1..=20 {
        let row = hostile_row(i);
        if i == 3 || i == 7 {
            bytes.extend(latin1(&row));
        } else {
            bytes.extend(row.as_bytes());
        }
        bytes.push(b'\n');
    }
    let file = write_bytes(dir.path(), "utf8_invalido.csv", &bytes);
    let stderr = ingest_must_fail(
        &lake,
        dir.path(),
        &file,
        "utf8_invalido",
        &["--encoding", "utf-8"],
    );
    assert!(
        stderr.contains("line 4") && stderr.contains("UTF-8"),
        "{stderr}"
    );
    let run = run_of(&lake, "utf8_invalido.csv");
    let rows = quarantined(&lake, run["run_id"].as_str().unwrap());
    let lines: Vec<&str> = rows
        .iter()
        .map(|r| r["location"].as_str().unwrap())
        .collect();
    assert_eq!(lines, ["line 4", "line 8"], "{rows:?}");
    assert!(
        rows[0]["reason"].as_str().unwrap().contains("field 3"),
        "the reason names the field: {rows:?}"
    );
    assert_kept_as_failed(&lake, "utf8_invalido.csv");
    assert_no_values_shown(&lake, &[&stderr], &[&cpf(3), &cpf(7), "Quit"]);
}

#[test]
fn a_row_missing_a_required_value_goes_to_quarantine_alone() {
    let (dir, lake) = new_lake();
    // Row 4 (line 5) lacks its required NUMERODO: 1 of 40 rows, within
    // the 5% limit.
    let mut text = format!("{HOSTILE_HEADER}\n");
    for i in 1..=40 {
        let row = hostile_row(i);
        text.push_str(if i == 4 { &row[8..] } else { &row });
        text.push('\n');
    }
    let file = write_file(dir.path(), "sem_numero.csv", &text);
    let contract = hostile_contract(dir.path(), "sem_numero");
    let out = try_ingest(&lake, &file, "sem_numero", &contract, &[]);
    let (stdout, stderr) = texts(&out);
    assert!(
        out.status.success()
            && stdout.contains("ingested 39 rows")
            && stdout.contains("1 rejected"),
        "{stdout}\n{stderr}"
    );
    let run = run_of(&lake, "sem_numero.csv");
    let rows = quarantined(&lake, run["run_id"].as_str().unwrap());
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["location"], "line 5");
    assert_eq!(rows[0]["column"], "numerodo");
    assert_eq!(rows[0]["reason"], "required value is missing");
}

#[test]
fn a_row_with_an_impossible_required_date_goes_to_quarantine_alone() {
    let (dir, lake) = new_lake();
    // The SIM extraction with an impossible date (31 February) in the
    // required DTOBITO of row 7 (line 8).
    let sim = sim_rows();
    let text = sim_text(&sim, ";", "\n").replacen(&sim[6].ddmmyyyy(), "31022023", 1);
    let file = write_file(dir.path(), "data_impossivel.csv", &text);
    let contract = sim_contract(dir.path(), "data_impossivel");
    let out = try_ingest(&lake, &file, "data_impossivel", &contract, &[]);
    let (stdout, stderr) = texts(&out);
    assert!(
        out.status.success()
            && stdout.contains("ingested 49 rows")
            && stdout.contains("1 rejected"),
        "{stdout}\n{stderr}"
    );
    let run = run_of(&lake, "data_impossivel.csv");
    let rows = quarantined(&lake, run["run_id"].as_str().unwrap());
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["location"], "line 8");
    assert_eq!(rows[0]["column"], "dtobito");
}

#[test]
fn a_40_mib_line_is_refused_as_too_long() {
    // 40 MiB rather than gigabytes, to keep the suite fast: the CSV reader's
    // own tests cover that a longer line is never held in memory.
    let (dir, lake) = new_lake();
    let file = dir.path().join("linha_longa.csv");
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
        writeln!(out, "{HOSTILE_HEADER}\n{}", hostile_row(1)).unwrap();
        write!(out, "00000002;{};", cpf(2)).unwrap();
        let chunk = vec![b'A'; 1 << 20];
        for _ in 0..40 {
            out.write_all(&chunk).unwrap();
        }
        out.flush().unwrap();
    }
    let stderr = ingest_must_fail(&lake, dir.path(), &file, "linha_longa", &[]);
    assert!(
        stderr.contains("line 3") && stderr.contains("longer than 16 MiB"),
        "{stderr}"
    );
    let run = run_of(&lake, "linha_longa.csv");
    let rows = quarantined(&lake, run["run_id"].as_str().unwrap());
    assert_eq!(rows.len(), 1, "{}", rows.len());
    assert_eq!(rows[0]["location"], "line 3");
    assert!(
        rows[0]["row"].to_string().len() < 64 * 1024,
        "quarantine keeps the head of the line, not 40 MiB"
    );
    assert_kept_as_failed(&lake, "linha_longa.csv");
    assert_no_values_shown(&lake, &[&stderr], &[&cpf(2), "AAAAAAAA"]);
}

#[test]
fn a_zip_bomb_is_refused_before_expanding() {
    let (dir, lake) = new_lake();
    // 100 MiB of zeros compress to about 100 KiB: over 200-fold and over
    // 64 MiB once expanded.
    let file = dir.path().join("bomba.zip");
    {
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&file).unwrap());
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        zip.start_file("dados.csv", options).unwrap();
        zip.write_all(format!("{HOSTILE_HEADER}\n").as_bytes())
            .unwrap();
        let zeros = vec![b'0'; 1 << 20];
        for _ in 0..100 {
            zip.write_all(&zeros).unwrap();
        }
        zip.finish().unwrap();
    }
    let size = std::fs::metadata(&file).unwrap().len();
    assert!(size < (100 << 20) / 200, "the bomb is {size} bytes");
    let started = std::time::Instant::now();
    let stderr = ingest_must_fail(&lake, dir.path(), &file, "bomba", &[]);
    assert!(
        stderr.contains("zip bomb") && stderr.contains("refused"),
        "{stderr}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "refused without expanding 100 MiB"
    );
    assert_kept_as_failed(&lake, "bomba.zip");
}

#[test]
fn an_xlsx_error_cell_sends_its_row_to_quarantine_naming_the_cell() {
    use rust_xlsxwriter as xw;
    let (dir, lake) = new_lake();
    let mut workbook = xw::Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name("Entregas").unwrap();
    let bold = xw::Format::new().set_bold();
    // A merged title above the header.
    sheet
        .merge_range(0, 0, 0, 3, "Secretaria Municipal de Saúde — óbitos", &bold)
        .unwrap();
    for (c, h) in HOSTILE_HEADER.split(';').enumerate() {
        sheet.write_string(2, c as u16, h).unwrap();
    }
    // Rows 1..=30 on spreadsheet rows 4..=33; row 10 (spreadsheet row 13)
    // holds a division by zero; rows 20 and 21 share one merged name cell.
    for i in 1..=30usize {
        let row = 2 + i as u32;
        sheet.write_string(row, 0, format!("{i:08}")).unwrap();
        sheet.write_string(row, 1, cpf(i)).unwrap();
        if i != 21 {
            sheet.write_string(row, 2, name(i)).unwrap();
        }
        if i == 10 {
            sheet
                .write_formula(row, 3, xw::Formula::new("=1/0").set_result("#DIV/0!"))
                .unwrap();
        } else {
            sheet.write_number(row, 3, 10.5 + i as f64).unwrap();
        }
    }
    let plain = xw::Format::new();
    sheet.merge_range(22, 2, 23, 2, &name(20), &plain).unwrap();
    let file = dir.path().join("entregas.xlsx");
    workbook.save(&file).unwrap();

    let contract = hostile_contract(dir.path(), "entregas");
    let out = try_ingest(
        &lake,
        &file,
        "entregas",
        &contract,
        &["--sheet", "Entregas"],
    );
    let (stdout, stderr) = texts(&out);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        out.status.success()
            && stdout.contains("ingested 29 rows")
            && stdout.contains("1 rejected"),
        "one bad row of 30 is within the 5% limit:\n{stdout}\n{stderr}"
    );
    let run = run_of(&lake, "entregas.xlsx");
    let rows = quarantined(&lake, run["run_id"].as_str().unwrap());
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["location"], "row 13 of sheet Entregas", "{rows:?}");
    assert_eq!(
        rows[0]["reason"], "cell D13 holds an error value #DIV/0!",
        "{rows:?}"
    );
    let report = lagoa_ok(
        &lake,
        &[
            "report",
            run["run_id"].as_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert!(report.contains("row 13 of sheet Entregas"), "{report}");
    // The merged name cell: its first row has it, the second is null.
    assert_eq!(
        query(&lake, "SELECT numerodo FROM entregas WHERE nome IS NULL").unwrap(),
        vec![vec!["00000021"]]
    );
    assert_eq!(
        query(
            &lake,
            "SELECT count(*) FROM entregas WHERE numerodo = '00000020' AND nome LIKE 'Severina%'"
        )
        .unwrap(),
        vec![vec!["1"]]
    );
    assert_no_values_shown(&lake, &[&stdout, &stderr], &[&cpf(10), NAME]);
}

#[test]
fn a_dbf_announcing_more_records_than_it_holds_fails_naming_both_counts() {
    let (dir, lake) = new_lake();
    let fields = [
        ("NUMERODO", 'C', 8),
        ("CPF", 'C', 11),
        ("NOME", 'C', 40),
        ("VALOR", 'N', 10),
    ];
    let records: Vec<(bool, Vec<Option<String>>)> = (1..=20)
        .map(|i| {
            (
                false,
                vec![
                    Some(format!("{i:08}")),
                    Some(cpf(i)),
                    Some(name(i)),
                    Some(format!("{}.50", 10 + i)),
                ],
            )
        })
        .collect();
    for (container, file_name) in [
        (Container::Dbf, "DOPE2023.dbf"),
        (Container::Dbc, "DOPE2023.dbc"),
    ] {
        let file = dir.path().join(file_name);
        write_table(
            &mut std::fs::File::create(&file).unwrap(),
            container,
            &fields,
            30,
            records.iter().cloned(),
        )
        .unwrap();
        let dataset = file_name.replace('.', "_").to_lowercase();
        let stderr = ingest_must_fail(&lake, dir.path(), &file, &dataset, &[]);
        assert!(
            stderr.contains("announces 30 records but the file holds 20"),
            "{stderr}"
        );
        assert!(query(&lake, &format!("SELECT count(*) FROM {dataset}")).is_err());
        assert_kept_as_failed(&lake, file_name);
        assert_no_values_shown(&lake, &[&stderr], &[&cpf(1), &cpf(20), NAME]);
    }
}

#[test]
fn a_file_of_unknown_extension_says_how_to_set_the_format() {
    let (dir, lake) = new_lake();
    let file = write_file(dir.path(), "entrega.dat", &hostile_csv(5));
    let stderr = ingest_must_fail(&lake, dir.path(), &file, "entrega", &[]);
    assert!(
        stderr.contains("--format"),
        "`lagoa ingest` is told the format with --format; the message should say so:\n{stderr}"
    );
    assert_kept_as_failed(&lake, "entrega.dat");
    // Following the advice works.
    let contract = hostile_contract(dir.path(), "entrega");
    let out = try_ingest(&lake, &file, "entrega", &contract, &["--format", "csv"]);
    assert!(out.status.success(), "{}", texts_of(&out));
    assert_eq!(
        query(&lake, "SELECT count(*) FROM entrega").unwrap(),
        vec![vec!["5"]]
    );
}

#[test]
fn an_empty_file_fails_cleanly() {
    let (dir, lake) = new_lake();
    for (file_name, dataset) in [("vazio.csv", "vazio"), ("vazio.ndjson", "vazio_nd")] {
        let file = write_bytes(dir.path(), file_name, b"");
        let stderr = ingest_must_fail(&lake, dir.path(), &file, dataset, &[]);
        assert!(stderr.contains("empty"), "{stderr}");
        assert_kept_as_failed(&lake, file_name);
    }
}

// ----------------------------------------------------------------------
// 3. A drop folder

#[test]
fn a_drop_folder_takes_each_file_once() {
    let (dir, lake) = new_lake();
    let folder = dir.path().join("entregas");
    std::fs::create_dir(&folder).unwrap();
    hostile_contract(dir.path(), "obitos_pasta");
    let source = write_file(
        dir.path(),
        "obitos_pasta.source.toml",
        &format!(
            r#"name = "obitos_pasta"
dataset = "obitos_pasta"
contract = "obitos_pasta.toml"

[source]
type = "file"
drop_folder = "{}"
settle_seconds = 0
"#,
            folder.display()
        ),
    );
    let source = path_str(&source);
    let count =
        |lake: &Path| query(lake, "SELECT count(*) FROM obitos_pasta").unwrap()[0][0].clone();
    let write_delivery = |name: &str, first: usize, rows: usize| {
        let mut text = format!("{HOSTILE_HEADER}\n");
        for i in first..first + rows {
            text.push_str(&hostile_row(i));
            text.push('\n');
        }
        write_file(&folder, name, &text);
    };
    write_delivery("obitos_2024_01.csv", 1, 10);
    write_delivery("obitos_2024_02.csv", 11, 7);

    let out = lagoa_ok(&lake, &["source", "run", source]);
    assert!(
        out.contains("obitos_2024_01.csv: ingested 10 rows")
            && out.contains("obitos_2024_02.csv: ingested 7 rows"),
        "{out}"
    );
    assert_eq!(count(&lake), "17");

    // Again: nothing new.
    let out = lagoa_ok(&lake, &["source", "run", source]);
    assert!(
        out.contains("obitos_2024_01.csv: already ingested")
            && out.contains("obitos_2024_02.csv: already ingested")
            && !out.contains("ingested 10 rows"),
        "{out}"
    );
    assert_eq!(count(&lake), "17");

    // A third file: only it is taken.
    write_delivery("obitos_2024_03.csv", 18, 5);
    let out = lagoa_ok(&lake, &["source", "run", source]);
    assert!(
        out.contains("obitos_2024_03.csv: ingested 5 rows")
            && out.contains("obitos_2024_01.csv: already ingested")
            && out.contains("obitos_2024_02.csv: already ingested"),
        "{out}"
    );
    assert_eq!(count(&lake), "22");
    let snapshots = lagoa_ok(&lake, &["snapshots", "obitos_pasta", "--format", "csv"]);
    assert_eq!(csv_rows(&snapshots).len(), 3, "{snapshots}");
    // The folder is never modified.
    assert_eq!(std::fs::read_dir(&folder).unwrap().count(), 3);
}

#[test]
fn source_check_lists_every_problem_at_once() {
    let (dir, lake) = new_lake();
    let source = write_file(
        dir.path(),
        "ruim.source.toml",
        r#"name = "ruim"
dataset = "Óbitos do Município"
mode = "de-lado"

[source]
type = "file"
path = "/srv/entregas/*.csv"
drop_folder = "/srv/entregas"
pattern = "[obitos"

[source.csv]
encoding = "klingon"
delimiter = ";;"
"#,
    );
    let out = lagoa(&lake, &["source", "check", path_str(&source)]);
    let stderr = failed_cleanly(&out, "source check");
    for expected in [
        "ruim.source.toml",
        "set one of path, drop_folder and url",
        "pattern \"[obitos\" is not a valid glob",
        "csv.encoding \"klingon\"",
        "csv.delimiter \";;\"",
        "Óbitos do Município",
        "de-lado",
    ] {
        assert!(
            stderr.contains(expected),
            "source check names {expected:?} among the problems:\n{stderr}"
        );
    }
}

// ----------------------------------------------------------------------
// 4. A JSON HTTP API

const API_TOKEN: &str = "tok-Lagoa-7f3c9e2a-segredo";

/// A tiny HTTP/1.1 server on 127.0.0.1: `GET /api/obitos?page=N` answers
/// `pages[N-1]` (an empty page past the end) to requests bearing the token,
/// 401 to others. Counts what it answered.
struct ApiServer {
    port: u16,
    answered: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
}

fn serve_api(pages: Vec<String>) -> ApiServer {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let answered = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let (a, r) = (Arc::clone(&answered), Arc::clone(&refused));
    // Detached: it ends with the test process.
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let Some(head) = read_request_head(&mut stream) else {
                continue;
            };
            let authorized = head.lines().any(|l| {
                l.to_ascii_lowercase().starts_with("authorization:")
                    && l.ends_with(&format!("Bearer {API_TOKEN}"))
            });
            let (status, body) = if !authorized {
                r.fetch_add(1, Ordering::SeqCst);
                (
                    "401 Unauthorized",
                    r#"{"erro":"token inválido"}"#.to_owned(),
                )
            } else {
                a.fetch_add(1, Ordering::SeqCst);
                let page: usize = head
                    .split_whitespace()
                    .nth(1)
                    .and_then(|target| target.split_once('?'))
                    .and_then(|(_, query)| {
                        query
                            .split('&')
                            .find_map(|p| p.strip_prefix("page="))
                            .and_then(|n| n.parse().ok())
                    })
                    .unwrap_or(1);
                let body = pages
                    .get(page.wrapping_sub(1))
                    .cloned()
                    .unwrap_or_else(|| r#"{"data":{"items":[]}}"#.to_owned());
                ("200 OK", body)
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    ApiServer {
        port,
        answered,
        refused,
    }
}

/// The request line and headers (a GET has no body).
pub(crate) fn read_request_head(stream: &mut std::net::TcpStream) -> Option<String> {
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .ok()?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 {
        if stream.read(&mut byte).ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    String::from_utf8(head).ok()
}

fn api_record(i: usize) -> String {
    format!(
        r#"{{"id":"{i:06}","municipio":{{"codigo":"{}","nome":"{}"}},"data_obito":"2024-03-{:02}","valor":{}.{:02},"nome":"{}"}}"#,
        MUNICIPIOS[i % MUNICIPIOS.len()],
        [
            "Rio Branco",
            "Recife",
            "São Paulo",
            "Porto Velho",
            "Brasília"
        ][i % 5],
        i,
        100 + i,
        i * 7 % 100,
        name(i)
    )
}

fn api_page(records: std::ops::RangeInclusive<usize>) -> String {
    let items: Vec<String> = records.map(api_record).collect();
    format!(
        r#"{{"data":{{"items":[{}]}},"meta":{{"por_pagina":3}}}}"#,
        items.join(",")
    )
}

#[test]
fn an_http_api_source_pages_with_a_bearer_token_that_never_shows() {
    let (dir, lake) = new_lake();
    let server = serve_api(vec![api_page(1..=3), api_page(4..=5)]);
    write_file(
        dir.path(),
        "obitos_api.toml",
        r#"[dataset]
name = "obitos_api"
level = "especial"
reference_column = "data_obito"

[[columns]]
name = "id"
type = "string"
nullable = false

[[columns]]
name = "municipio_codigo"
type = "string"
source = "municipio.codigo"

[[columns]]
name = "municipio_nome"
type = "string"
source = "municipio.nome"

[[columns]]
name = "data_obito"
type = "date"

[[columns]]
name = "valor"
type = "decimal(12,2)"

[[columns]]
name = "nome"
type = "string"
personal = "pessoal"
"#,
    );
    let source = write_file(
        dir.path(),
        "obitos_api.source.toml",
        &format!(
            r#"name = "obitos_api"
dataset = "obitos_api"
contract = "obitos_api.toml"

[source]
type = "http_api"
url = "http://127.0.0.1:{}/api/obitos"
record_path = "data.items"
pagination = {{ kind = "page", page_param = "page", size_param = "por_pagina", page_size = 3 }}
auth = {{ kind = "bearer", token_env = "LAGOA_IT_API_TOKEN" }}
retries = 0
"#,
            server.port
        ),
    );
    let source = path_str(&source);
    let env = [
        ("LAGOA_IT_API_TOKEN", API_TOKEN),
        ("NO_PROXY", "127.0.0.1,localhost"),
        ("no_proxy", "127.0.0.1,localhost"),
    ];

    let check = lagoa_env(&lake, &["source", "check", source], &env);
    let check_out = texts_of(&check);
    assert!(check.status.success(), "{check_out}");
    let run = lagoa_env(&lake, &["source", "run", source], &env);
    let run_out = texts_of(&run);
    assert!(
        run.status.success() && run_out.contains("ingested 5 rows into obitos_api"),
        "{run_out}"
    );
    // The check's first page, then pages 1 and 2 (2 records < 3: the last).
    assert_eq!(
        server.answered.load(Ordering::SeqCst),
        3,
        "each page asked for once, with the token"
    );
    assert_eq!(server.refused.load(Ordering::SeqCst), 0);

    let rows = query(
        &lake,
        "SELECT id, municipio_codigo, municipio_nome, data_obito, valor FROM obitos_api ORDER BY id",
    )
    .unwrap();
    let expected: Vec<Vec<String>> = (1..=5)
        .map(|i| {
            vec![
                format!("{i:06}"),
                MUNICIPIOS[i % MUNICIPIOS.len()].to_owned(),
                [
                    "Rio Branco",
                    "Recife",
                    "São Paulo",
                    "Porto Velho",
                    "Brasília",
                ][i % 5]
                    .to_owned(),
                format!("2024-03-{i:02}"),
                format!("{}.{:02}", 100 + i, i * 7 % 100),
            ]
        })
        .collect();
    assert_eq!(rows, expected);

    // A wrong token is refused, and neither token shows anywhere.
    let wrong = lagoa_env(
        &lake,
        &["source", "run", source],
        &[
            ("LAGOA_IT_API_TOKEN", "tok-errado-0000"),
            ("NO_PROXY", "127.0.0.1,localhost"),
            ("no_proxy", "127.0.0.1,localhost"),
        ],
    );
    let wrong_out = failed_cleanly(&wrong, "a refused token");
    assert!(wrong_out.contains("401"), "{wrong_out}");
    assert!(server.refused.load(Ordering::SeqCst) >= 1);
    assert_no_values_shown(
        &lake,
        &[&check_out, &run_out, &wrong_out],
        &[API_TOKEN, "tok-errado-0000", NAME],
    );
    for file in all_files(&lake) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !bytes
                .windows(API_TOKEN.len())
                .any(|w| w == API_TOKEN.as_bytes()),
            "{} holds the token",
            file.display()
        );
    }
}

#[test]
fn a_zip_of_several_files_is_one_delivery_each_file_with_its_header() {
    let (dir, lake) = new_lake();
    let jan = "CPF,NOME,VALOR\n52998224725,Severina,1\n11144477735,Josué,2\n";
    let feb = "CPF,NOME,VALOR\n01234567890,Maria,3\n";
    let zip = dir.path().join("entregas_2026.zip");
    zip_of(
        &zip,
        &[
            ("2026_01.csv", jan.as_bytes()),
            ("2026_02.csv", feb.as_bytes()),
        ],
    );
    // Column names given as the header writes them.
    let out = ingest(
        &lake,
        &zip,
        "entregas",
        &["--personal", "CPF,NOME", "--level", "especial"],
    );
    assert!(out.contains("ingested 3 rows"), "{out}");
    let rows = lagoa_ok(
        &lake,
        &[
            "query",
            "SELECT sum(valor) FROM entregas",
            "--format",
            "csv",
        ],
    );
    assert_eq!(csv_rows(&rows), vec![vec!["6"]], "no header became a row");
    let personal = lagoa_ok(
        &lake,
        &[
            "query",
            "SELECT personal_columns FROM system.datasets WHERE name = 'entregas'",
            "--format",
            "json",
        ],
    );
    assert!(
        personal.contains("cpf") && personal.contains("nome"),
        "{personal}"
    );

    // Members with other columns are refused, naming the member.
    let mixed = dir.path().join("mistura.zip");
    zip_of(
        &mixed,
        &[
            ("a.csv", jan.as_bytes()),
            ("b.csv", b"CPF,VALOR\n52998224725,1\n".as_slice()),
        ],
    );
    let err = lagoa_err(
        &lake,
        &[
            "ingest",
            mixed.to_str().unwrap(),
            "--dataset",
            "mistura",
            "--level",
            "amplo",
        ],
    );
    assert!(
        err.contains("mistura.zip:b.csv") && err.contains("same columns"),
        "{err}"
    );
}

#[test]
fn a_utf16_export_from_windows_lands_with_its_names_and_accents() {
    let (dir, lake) = new_lake();
    let text = "Município;Óbitos\r\nSão José;3\r\nCaruaru;4\r\n";
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    let file = write_bytes(dir.path(), "obitos_utf16.csv", &bytes);
    ingest(&lake, &file, "obitos_utf16", &["--level", "amplo"]);
    let rows = lagoa_ok(
        &lake,
        &[
            "query",
            "SELECT municipio, obitos FROM obitos_utf16 ORDER BY obitos",
            "--format",
            "csv",
        ],
    );
    assert_eq!(
        csv_rows(&rows),
        vec![vec!["São José", "3"], vec!["Caruaru", "4"]]
    );
}

#[test]
fn a_header_naming_a_column_twice_is_reported_and_refused_under_a_contract() {
    let (dir, lake) = new_lake();
    let file = write_file(
        dir.path(),
        "repetida.csv",
        "municipio,valor,valor\n260005,1,2\n260055,3,4\n",
    );
    ingest(&lake, &file, "repetida", &["--level", "amplo"]);
    let runs = lagoa_ok(&lake, &["runs", "--json"]);
    let run: serde_json::Value = serde_json::from_str(runs.lines().next().unwrap()).unwrap();
    let report = lagoa_ok(&lake, &["report", run["run_id"].as_str().unwrap()]);
    assert!(
        report.contains(
            "the header names column valor more than once; the repeat was kept as valor_2"
        ),
        "{report}"
    );
    // The first delivery left its contract: the next one with the same
    // header is refused, naming the column.
    let again = write_file(
        dir.path(),
        "repetida_2.csv",
        "municipio,valor,valor\n260005,5,6\n",
    );
    let err = lagoa_err(
        &lake,
        &["ingest", again.to_str().unwrap(), "--dataset", "repetida"],
    );
    assert!(err.contains("names valor more than once"), "{err}");
}
