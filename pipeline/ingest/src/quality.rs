//! The quality report of a delivery: what came in, what passed, what did
//! not and why, and what the accepted columns look like. It goes back to
//! the municipality, so it holds counts and ranges, never a personal value:
//! personal columns get counts only, text columns no ranges.

use crate::check::RejectedRow;
use arrow::array::{Array, ArrayRef, RecordBatch};
use arrow::datatypes::{DataType, Schema};
use lagoa_core::quality::{ColumnQuality, QualityReport, ReasonCount};
use std::collections::{BTreeMap, HashSet};

/// Distinct values are counted exactly up to this many per column.
const DISTINCT_CAP: usize = 100_000;
/// Values sampled per untagged text column to spot CPF or CNS numbers.
const IDENTIFIER_SAMPLE: usize = 1_000;

struct ColumnState {
    name: String,
    data_type: DataType,
    personal: bool,
    nulls: u64,
    /// Hashes of the values seen (already hashed: the set need not rehash
    /// with SipHash, which cost ~9 % of an ingest).
    seen: HashSet<u64, ahash::RandomState>,
    capped: bool,
    min: Option<f64>,
    max: Option<f64>,
    sampled: usize,
    cpf_like: usize,
    cns_like: usize,
}

pub struct QualityBuilder {
    columns: Vec<ColumnState>,
    personal: HashSet<String>,
    reference: Option<String>,
    hasher: ahash::RandomState,
    rows_read: u64,
    rows_accepted: u64,
    reasons: BTreeMap<(String, String), (u64, Vec<String>)>,
}

impl QualityBuilder {
    pub fn new(schema: &Schema, personal: &HashSet<String>, reference: Option<String>) -> Self {
        let mut builder = QualityBuilder {
            columns: Vec::new(),
            personal: personal.clone(),
            reference,
            hasher: ahash::RandomState::with_seeds(1, 2, 3, 4),
            rows_read: 0,
            rows_accepted: 0,
            reasons: BTreeMap::new(),
        };
        builder.add_columns(schema);
        builder
    }

    /// Tracks columns of `schema` not yet tracked (added by drift).
    pub fn add_columns(&mut self, schema: &Schema) {
        for field in schema.fields().iter().skip(self.columns.len()) {
            self.columns.push(ColumnState {
                name: field.name().clone(),
                data_type: field.data_type().clone(),
                personal: self.personal.contains(field.name()),
                nulls: 0,
                seen: HashSet::with_hasher(ahash::RandomState::with_seeds(5, 6, 7, 8)),
                capped: false,
                min: None,
                max: None,
                sampled: 0,
                cpf_like: 0,
                cns_like: 0,
            });
        }
    }

    pub fn observe(&mut self, accepted: &RecordBatch, rows_read: u64, rejected: &[RejectedRow]) {
        self.rows_read += rows_read;
        self.rows_accepted += accepted.num_rows() as u64;
        for reject in rejected {
            let key = (
                reject.column.clone().unwrap_or_else(|| "-".into()),
                reject.reason.clone(),
            );
            let entry = self.reasons.entry(key).or_insert((0, Vec::new()));
            entry.0 += 1;
            if entry.1.len() < 5 {
                entry.1.push(reject.location.clone());
            }
        }
        for (state, array) in self.columns.iter_mut().zip(accepted.columns()) {
            observe_column(state, array, &self.hasher);
        }
    }

    pub fn finish(&self) -> QualityReport {
        let rows_rejected = self.rows_read - self.rows_accepted;
        let mut warnings = Vec::new();
        let columns = self
            .columns
            .iter()
            .map(|c| {
                if !c.personal && c.sampled >= 20 {
                    if c.cpf_like * 2 > c.sampled {
                        warnings.push(format!(
                            "column {} holds what look like CPF numbers but is not tagged personal in the contract",
                            c.name
                        ));
                    } else if c.cns_like * 2 > c.sampled {
                        warnings.push(format!(
                            "column {} holds what look like CNS numbers but is not tagged personal in the contract",
                            c.name
                        ));
                    }
                }
                let show_range = !c.personal;
                ColumnQuality {
                    name: c.name.clone(),
                    data_type: lagoa_schemas::type_name(&c.data_type),
                    personal: c.personal,
                    nulls: c.nulls,
                    distinct: c.seen.len() as u64,
                    distinct_capped: c.capped,
                    min: c.min.filter(|_| show_range).map(|v| render(&c.data_type, v)),
                    max: c.max.filter(|_| show_range).map(|v| render(&c.data_type, v)),
                }
            })
            .collect::<Vec<_>>();
        let period = self.reference.as_ref().and_then(|r| {
            // A personal date (a birth date) never leaves as a range.
            let c = self.columns.iter().find(|c| &c.name == r && !c.personal)?;
            Some((render(&c.data_type, c.min?), render(&c.data_type, c.max?)))
        });
        QualityReport {
            rows_read: self.rows_read,
            rows_accepted: self.rows_accepted,
            rows_rejected,
            rejected_share: if self.rows_read == 0 {
                0.0
            } else {
                rows_rejected as f64 / self.rows_read as f64
            },
            rejected_by_reason: self
                .reasons
                .iter()
                .map(|((column, reason), (rows, examples))| ReasonCount {
                    column: column.clone(),
                    reason: reason.clone(),
                    rows: *rows,
                    examples: examples.clone(),
                })
                .collect(),
            columns,
            period,
            warnings,
            ..Default::default()
        }
    }
}

fn observe_column(state: &mut ColumnState, array: &ArrayRef, hasher: &ahash::RandomState) {
    state.nulls += array.null_count() as u64;
    let numeric = cast_f64(array);
    if let Some(values) = &numeric {
        // The kernels skip nulls and run vectorised.
        if let Some(v) = arrow::compute::min(values) {
            state.min = Some(state.min.map_or(v, |m| m.min(v)));
        }
        if let Some(v) = arrow::compute::max(values) {
            state.max = Some(state.max.map_or(v, |m| m.max(v)));
        }
    }
    if let Some(text) = array.as_any().downcast_ref::<arrow::array::StringArray>() {
        for row in 0..text.len() {
            if text.is_null(row) {
                continue;
            }
            let v = text.value(row);
            if !state.capped {
                state.seen.insert(hasher.hash_one(v));
            }
            if !state.personal && state.sampled < IDENTIFIER_SAMPLE {
                state.sampled += 1;
                if lagoa_schemas::validators::looks_like_cpf(v) {
                    state.cpf_like += 1;
                } else if lagoa_schemas::validators::looks_like_cns(v) {
                    state.cns_like += 1;
                }
            }
        }
    } else if let Some(values) = &numeric
        && !state.capped
    {
        for row in 0..values.len() {
            if values.is_valid(row) {
                state.seen.insert(values.value(row).to_bits());
            }
        }
    }
    if state.seen.len() > DISTINCT_CAP {
        state.capped = true;
        state.seen.shrink_to_fit();
    }
}

/// Numbers, dates (days) and timestamps (microseconds) as f64, for ranges.
fn cast_f64(array: &ArrayRef) -> Option<arrow::array::Float64Array> {
    use arrow::compute::cast;
    let as_number = match array.data_type() {
        DataType::Date32 => cast(array, &DataType::Int32).ok()?,
        DataType::Timestamp(..) => cast(array, &DataType::Int64).ok()?,
        t if t.is_numeric() => Clone::clone(array),
        _ => return None,
    };
    cast(&as_number, &DataType::Float64)
        .ok()?
        .as_any()
        .downcast_ref::<arrow::array::Float64Array>()
        .cloned()
}

fn render(data_type: &DataType, v: f64) -> String {
    match data_type {
        DataType::Date32 => lagoa_schemas::values::date_from_days(v as i32)
            .map(|d| d.to_string())
            .unwrap_or_default(),
        DataType::Timestamp(..) => chrono::DateTime::from_timestamp_micros(v as i64)
            .map(|t| t.naive_utc().to_string())
            .unwrap_or_default(),
        // The cast to f64 has already applied the scale.
        DataType::Decimal128(_, s) => format!("{:.*}", *s as usize, v),
        _ => {
            if v.fract() == 0.0 && v.abs() < 1e15 {
                format!("{}", v as i64)
            } else {
                format!("{v}")
            }
        }
    }
}

/// A report-contained HTML page the office can send to the municipality.
/// The report as a page to send back to the provider.
pub fn report_html(report: &QualityReport) -> String {
    let e = html_escape;
    let mut out = String::new();
    out.push_str("<!doctype html><html lang=\"pt-BR\"><head><meta charset=\"utf-8\"><title>Relatório de qualidade</title>");
    out.push_str("<style>body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}th{background:#f2f2f2}.bad{color:#a00}.ok{color:#070}</style></head><body>");
    out.push_str(&format!(
        "<h1>Relatório de qualidade da entrega</h1><p>Conjunto <b>{}</b> · fonte {} · entrega {} · execução <code>{}</code> · contrato v{}</p>",
        e(&report.dataset),
        e(&report.source),
        e(&report.delivery),
        e(&report.run_id),
        report.contract_version.map(|v| v.to_string()).unwrap_or_else(|| "-".into()),
    ));
    let class = if report.status == lagoa_core::RunStatus::Committed {
        "ok"
    } else {
        "bad"
    };
    out.push_str(&format!(
        "<p>Situação: <b class=\"{class}\">{}</b></p><table><tr><th>Linhas lidas</th><th>Aceitas</th><th>Rejeitadas</th><th>Proporção rejeitada</th><th>Limite do contrato</th></tr><tr><td>{}</td><td>{}</td><td>{}</td><td>{:.2}%</td><td>{:.2}%</td></tr></table>",
        e(report.status.as_str()),
        report.rows_read,
        report.rows_accepted,
        report.rows_rejected,
        report.rejected_share * 100.0,
        report.max_rejected_share * 100.0
    ));
    if let Some((from, to)) = &report.period {
        out.push_str(&format!("<p>Período coberto: {} a {}</p>", e(from), e(to)));
    }
    if !report.rejected_by_reason.is_empty() {
        out.push_str("<h2>Linhas rejeitadas por motivo</h2><table><tr><th>Coluna</th><th>Motivo</th><th>Linhas</th><th>Exemplos</th></tr>");
        for r in &report.rejected_by_reason {
            out.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                e(&r.column),
                e(&r.reason),
                r.rows,
                e(&r.examples.join(", "))
            ));
        }
        out.push_str("</table>");
    }
    if !report.drift.is_empty() {
        out.push_str("<h2>Mudanças de estrutura</h2><ul>");
        for d in &report.drift {
            out.push_str(&format!(
                "<li>{} <b>{}</b>: {}</li>",
                e(&d.kind),
                e(&d.column),
                e(&d.detail)
            ));
        }
        out.push_str("</ul>");
    }
    if !report.warnings.is_empty() {
        out.push_str("<h2>Avisos</h2><ul>");
        for w in &report.warnings {
            out.push_str(&format!("<li>{}</li>", e(w)));
        }
        out.push_str("</ul>");
    }
    out.push_str("<h2>Colunas aceitas</h2><table><tr><th>Coluna</th><th>Tipo</th><th>Nulos</th><th>Distintos</th><th>Mínimo</th><th>Máximo</th></tr>");
    for c in &report.columns {
        out.push_str(&format!(
            "<tr><td>{}{}</td><td>{}</td><td>{}</td><td>{}{}</td><td>{}</td><td>{}</td></tr>",
            e(&c.name),
            if c.personal { " (pessoal)" } else { "" },
            e(&c.data_type),
            c.nulls,
            c.distinct,
            if c.distinct_capped { "+" } else { "" },
            e(c.min.as_deref().unwrap_or("")),
            e(c.max.as_deref().unwrap_or(""))
        ));
    }
    out.push_str("</table></body></html>\n");
    out
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Which columns are followed: the examples it keeps are data.
impl std::fmt::Debug for QualityBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QualityBuilder")
            .field("columns", &self.columns.len())
            .field("reference", &self.reference)
            .finish_non_exhaustive()
    }
}
