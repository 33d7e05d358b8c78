//! The contract check: delivered columns are matched to the contract's,
//! values are parsed into the contract's types and checked against its
//! constraints; failing rows leave the batch with their column and reason.
//!
//! Matching is by the column's `source` name if the contract gives one,
//! else by normalised name (`Código Município` matches `codigo_municipio`).
//! Drift (a delivered column the contract lacks, a contract column the
//! delivery lacks, a typed column that cannot become the contract's type)
//! is found on the first batch and handled per the contract's policy.

mod values;

use crate::quality::QualityBuilder;
use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, StringArray, UInt32Array};
use arrow::compute::{CastOptions, cast_with_options, filter_record_batch, take};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use lagoa_connectors::SourceBatch;
pub use lagoa_core::quality::Drift;
use lagoa_schemas::validators::Validator;
use lagoa_schemas::values::ValueParser;
use lagoa_schemas::{ColumnSpec, Contract, DriftPolicy, normalize_column_name, parse_type};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use values::{check_constraints, convert, convertible};

/// A delivered row that did not pass, with where and why.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct RejectedRow {
    /// `line 12`, `row 40`.
    pub location: String,
    /// The contract column at fault, if one is.
    pub column: Option<String>,
    pub reason: String,
    /// The row as delivered, as text, by delivered column name.
    pub row: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The delivery's columns differ from the contract and the policy says
    /// stop (`reject`) or wait (`hold`).
    #[error("the delivered columns differ from the contract ({} policy): {}", .policy.name(), describe(.drift))]
    Drift {
        policy: DriftPolicy,
        drift: Vec<Drift>,
    },
    #[error("{0}")]
    Internal(String),
}

fn describe(drift: &[Drift]) -> String {
    drift
        .iter()
        .map(|d| format!("{} {} ({})", d.kind.replace('_', " "), d.column, d.detail))
        .collect::<Vec<_>>()
        .join("; ")
}

/// One contract column's rules, compiled.
struct Rule {
    spec: ColumnSpec,
    data_type: DataType,
    min: Option<f64>,
    max: Option<f64>,
    pattern: Option<regex::Regex>,
    values: Option<HashSet<String>>,
    validator: Option<Validator>,
}

/// Per contract column its input column; the drift; the delivered columns
/// the contract lacks (index, normalised name).
type Matched = (Vec<Option<usize>>, Vec<Drift>, Vec<(usize, String)>);

/// Where each output column comes from, for one input schema.
struct Mapping {
    input_schema: SchemaRef,
    /// Per output column: the input column index, if delivered.
    sources: Vec<Option<usize>>,
}

pub struct Checker {
    rules: Vec<Rule>,
    parser: ValueParser,
    /// For text rendered from typed storage (see `CANONICAL_TEXT`).
    canonical: ValueParser,
    policy: DriftPolicy,
    output_schema: SchemaRef,
    mapping: Option<Mapping>,
    pub drift: Vec<Drift>,
    pub quality: QualityBuilder,
}

pub struct Checked {
    pub batch: RecordBatch,
    pub rejected: Vec<RejectedRow>,
}

impl Checker {
    pub fn new(contract: &Contract) -> Self {
        let rules: Vec<Rule> = contract.columns.iter().map(compile_rule).collect();
        let output_schema = Arc::new(contract.arrow_schema());
        let personal: HashSet<String> = contract
            .personal_columns()
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        Checker {
            parser: ValueParser::new(&contract.parse),
            canonical: ValueParser::new(&canonical_options()),
            policy: contract.dataset.drift,
            quality: QualityBuilder::new(
                &output_schema,
                &personal,
                contract.dataset.reference_column.clone(),
            ),
            output_schema,
            rules,
            mapping: None,
            drift: Vec::new(),
        }
    }

    /// The schema of the batches [`Checker::check`] returns (the contract's
    /// columns, plus new ones under the `evolve` policy once the first
    /// batch has been seen).
    pub fn output_schema(&self) -> SchemaRef {
        Arc::clone(&self.output_schema)
    }

    /// Maps the first batch's columns (and finds drift) without checking
    /// rows: call it before opening the writer, which needs the final schema.
    pub fn prepare(&mut self, input: &Schema) -> Result<(), CheckError> {
        if self.mapping.is_none() {
            self.map_columns(input)?;
        }
        Ok(())
    }

    pub fn check(&mut self, source: &SourceBatch) -> Result<Checked, CheckError> {
        let input = &source.batch;
        match &self.mapping {
            None => self.map_columns(&input.schema())?,
            Some(m) if m.input_schema.as_ref() != input.schema().as_ref() => {
                self.remap(&input.schema())?
            }
            Some(_) => {}
        }
        let mapping = self.mapping.as_ref().expect("mapped above");
        let rows = input.num_rows();
        // The first failure of each row: (column index, reason).
        let mut failures: Vec<Option<(usize, String)>> = vec![None; rows];
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.output_schema.fields().len());
        for (i, field) in self.output_schema.fields().iter().enumerate() {
            let array = match mapping.sources[i] {
                Some(j) => {
                    let delivered = input.column(j);
                    match self.rules.get(i) {
                        Some(rule) => {
                            let canonical = input
                                .schema()
                                .field(j)
                                .metadata()
                                .contains_key(lagoa_connectors::formats::CANONICAL_TEXT);
                            let parsers = Parsers {
                                contract: &self.parser,
                                canonical: canonical.then_some(&self.canonical),
                            };
                            convert(delivered, rule, &parsers, i, &mut failures)
                                .map_err(CheckError::Internal)?
                        }
                        // A column added under `evolve`: kept as delivered.
                        None => Arc::clone(delivered),
                    }
                }
                None => arrow::array::new_null_array(field.data_type(), rows),
            };
            if let Some(rule) = self.rules.get(i) {
                check_constraints(&array, rule, i, &mut failures);
            }
            columns.push(array);
        }
        // Rows with a missing required value are still here: assemble with
        // every column nullable, drop the failures, then apply the contract's
        // schema.
        let loose = Arc::new(Schema::new(
            self.output_schema
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(true))
                .collect::<Vec<_>>(),
        ));
        let typed = RecordBatch::try_new(loose, columns)
            .map_err(|e| CheckError::Internal(format!("assembling checked rows: {e}")))?;
        let typed = if failures.iter().all(Option::is_none) {
            typed
        } else {
            let keep = BooleanArray::from(failures.iter().map(|f| f.is_none()).collect::<Vec<_>>());
            filter_record_batch(&typed, &keep)
                .map_err(|e| CheckError::Internal(format!("filtering rejected rows: {e}")))?
        };
        let batch = RecordBatch::try_new(Arc::clone(&self.output_schema), typed.columns().to_vec())
            .map_err(|e| CheckError::Internal(format!("assembling checked rows: {e}")))?;
        let mut rejected =
            rejected_rows(source, &failures, &self.output_schema).map_err(CheckError::Internal)?;
        for reject in &source.rejects {
            let mut row = serde_json::Map::new();
            row.insert("_conteudo".into(), reject.content.clone().into());
            rejected.push(RejectedRow {
                location: reject.location.clone(),
                column: None,
                reason: reject.reason.clone(),
                row,
            });
        }
        self.quality
            .observe(&batch, rows as u64 + source.rejects.len() as u64, &rejected);
        Ok(Checked { batch, rejected })
    }

    fn map_columns(&mut self, input: &Schema) -> Result<(), CheckError> {
        let (sources, drift, added) = self.match_columns(input);
        let blocking: Vec<Drift> = match self.policy {
            DriftPolicy::Evolve => drift
                .iter()
                .filter(|d| {
                    d.kind == "retyped_column"
                        || (d.kind == "missing_column"
                            && self
                                .rules
                                .iter()
                                .any(|r| r.spec.name == d.column && !r.spec.nullable))
                })
                .cloned()
                .collect(),
            _ => drift.clone(),
        };
        self.drift = drift;
        if !blocking.is_empty() {
            return Err(CheckError::Drift {
                policy: self.policy,
                drift: blocking,
            });
        }
        let mut sources = sources;
        if self.policy == DriftPolicy::Evolve && !added.is_empty() {
            let mut fields: Vec<Field> = self
                .output_schema
                .fields()
                .iter()
                .map(|f| f.as_ref().clone())
                .collect();
            for (j, name) in added {
                let data_type = match input.field(j).data_type() {
                    DataType::LargeUtf8 | DataType::Utf8View => DataType::Utf8,
                    other => other.clone(),
                };
                fields.push(Field::new(name, data_type, true));
                sources.push(Some(j));
            }
            self.output_schema = Arc::new(Schema::new(fields));
            self.quality.add_columns(&self.output_schema);
        }
        self.mapping = Some(Mapping {
            input_schema: Arc::new(input.clone()),
            sources,
        });
        Ok(())
    }

    /// A later batch with other columns (JSON keys first seen late, zip
    /// members with their own headers): same columns by name, or drift.
    fn remap(&mut self, input: &Schema) -> Result<(), CheckError> {
        let (mut sources, drift, added) = self.match_columns(input);
        let known: HashSet<&str> = self.drift.iter().map(|d| d.column.as_str()).collect();
        let fresh: Vec<Drift> = drift
            .into_iter()
            .filter(|d| !known.contains(d.column.as_str()) && d.kind != "missing_column")
            .collect();
        if !fresh.is_empty() {
            let mut fresh = fresh;
            for d in &mut fresh {
                d.detail = format!("{}; first seen after the first batch", d.detail);
            }
            self.drift.extend(fresh.clone());
            return Err(CheckError::Drift {
                policy: DriftPolicy::Reject,
                drift: fresh,
            });
        }
        // Columns added under `evolve` keep their place by name.
        for field in self.output_schema.fields().iter().skip(self.rules.len()) {
            sources.push(
                added
                    .iter()
                    .find(|(_, name)| name == field.name())
                    .map(|(j, _)| *j),
            );
        }
        self.mapping = Some(Mapping {
            input_schema: Arc::new(input.clone()),
            sources,
        });
        Ok(())
    }

    fn match_columns(&self, input: &Schema) -> Matched {
        let mut by_name: HashMap<String, usize> = HashMap::new();
        for (j, field) in input.fields().iter().enumerate() {
            by_name.entry(field.name().clone()).or_insert(j);
            by_name
                .entry(normalize_column_name(field.name()))
                .or_insert(j);
        }
        let mut used = HashSet::new();
        let mut drift = Vec::new();
        let sources: Vec<Option<usize>> = self
            .rules
            .iter()
            .map(|rule| {
                let found = rule
                    .spec
                    .source
                    .as_ref()
                    .and_then(|s| {
                        by_name
                            .get(s)
                            .or_else(|| by_name.get(&normalize_column_name(s)))
                    })
                    .or_else(|| by_name.get(&rule.spec.name))
                    .copied();
                match found {
                    Some(j) => {
                        used.insert(j);
                        let delivered = input.field(j).data_type();
                        if !convertible(delivered, &rule.data_type) {
                            drift.push(Drift {
                                kind: "retyped_column".into(),
                                column: rule.spec.name.clone(),
                                detail: format!(
                                    "delivered as {delivered}, the contract says {}",
                                    rule.spec.data_type
                                ),
                            });
                        }
                    }
                    None => drift.push(Drift {
                        kind: "missing_column".into(),
                        column: rule.spec.name.clone(),
                        detail: if rule.spec.nullable {
                            "not delivered; optional".into()
                        } else {
                            "not delivered; required".into()
                        },
                    }),
                }
                found
            })
            .collect();
        let mut added = Vec::new();
        for (j, field) in input.fields().iter().enumerate() {
            if !used.contains(&j) {
                let name = normalize_column_name(field.name());
                drift.push(Drift {
                    kind: "new_column".into(),
                    column: name.clone(),
                    detail: format!("delivered as {}", field.name()),
                });
                added.push((j, name));
            }
        }
        (sources, drift, added)
    }
}

/// The contract's parser, and for canonical text a second chance in the
/// canonical form.
struct Parsers<'a> {
    contract: &'a ValueParser,
    canonical: Option<&'a ValueParser>,
}

impl Parsers<'_> {
    /// Canonical text is read canonically first (`14.16` from a DBF `N`
    /// field is 14.16 even when the contract's text uses `.` for
    /// thousands); the contract's form is the fallback (a text cell typed
    /// the provider's way).
    fn parse<T>(
        &self,
        f: impl Fn(&ValueParser) -> Result<T, &'static str>,
    ) -> Result<T, &'static str> {
        match self.canonical {
            None => f(self.contract),
            Some(canonical) => f(canonical).or_else(|_| f(self.contract)),
        }
    }
}

/// `.` decimals, ISO and `YYYYMMDD` dates: how readers render typed values.
fn canonical_options() -> lagoa_schemas::ParseOptions {
    lagoa_schemas::ParseOptions {
        date_formats: vec!["%Y-%m-%d".into(), "%Y%m%d".into()],
        timestamp_formats: vec!["%Y-%m-%dT%H:%M:%S%.f".into(), "%Y-%m-%d %H:%M:%S%.f".into()],
        ..Default::default()
    }
}

fn compile_rule(spec: &ColumnSpec) -> Rule {
    let number = |v: &Option<toml::Value>, data_type: &DataType| -> Option<f64> {
        match (v.as_ref()?, data_type) {
            (toml::Value::Integer(i), _) => Some(*i as f64),
            (toml::Value::Float(f), _) => Some(*f),
            (toml::Value::String(s), DataType::Date32) => {
                chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .ok()
                    .map(|d| lagoa_schemas::values::days_since_epoch(d) as f64)
            }
            (toml::Value::String(s), DataType::Timestamp(..)) => {
                chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .ok()
                    .map(|d| lagoa_schemas::values::days_since_epoch(d) as f64 * 86_400_000_000.0)
            }
            (toml::Value::Datetime(d), DataType::Date32 | DataType::Timestamp(..)) => {
                let date = d.date?;
                let day = chrono::NaiveDate::from_ymd_opt(
                    date.year as i32,
                    date.month as u32,
                    date.day as u32,
                )?;
                let days = lagoa_schemas::values::days_since_epoch(day) as f64;
                Some(if matches!(data_type, DataType::Date32) {
                    days
                } else {
                    days * 86_400_000_000.0
                })
            }
            _ => None,
        }
    };
    let data_type = parse_type(&spec.data_type).unwrap_or(DataType::Utf8);
    Rule {
        min: number(&spec.min, &data_type),
        max: number(&spec.max, &data_type),
        pattern: spec
            .pattern
            .as_deref()
            .and_then(|p| regex::Regex::new(p).ok()),
        values: spec.values.as_ref().map(|v| v.iter().cloned().collect()),
        validator: spec.validator.as_deref().and_then(|v| v.parse().ok()),
        data_type,
        spec: spec.clone(),
    }
}

/// The failing rows, as delivered (text), with their location and reason.
fn rejected_rows(
    source: &SourceBatch,
    failures: &[Option<(usize, String)>],
    output: &Schema,
) -> Result<Vec<RejectedRow>, String> {
    let indices: Vec<u32> = failures
        .iter()
        .enumerate()
        .filter(|(_, f)| f.is_some())
        .map(|(i, _)| i as u32)
        .collect();
    if indices.is_empty() {
        return Ok(Vec::new());
    }
    let picked = UInt32Array::from(indices.clone());
    let input = &source.batch;
    let mut text_columns = Vec::with_capacity(input.num_columns());
    for column in input.columns() {
        let taken =
            take(column, &picked, None).map_err(|e| format!("picking rejected rows: {e}"))?;
        let text = cast_with_options(&taken, &DataType::Utf8, &CastOptions::default())
            .map_err(|e| format!("rendering rejected rows: {e}"))?;
        text_columns.push(text);
    }
    let schema = input.schema();
    Ok(indices
        .iter()
        .enumerate()
        .map(|(k, &row)| {
            let (column, reason) = failures[row as usize].clone().expect("filtered above");
            let mut values = serde_json::Map::new();
            for (field, text) in schema.fields().iter().zip(&text_columns) {
                let text = text
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .expect("cast to Utf8");
                let value = if text.is_null(k) {
                    serde_json::Value::Null
                } else {
                    text.value(k).into()
                };
                values.insert(field.name().clone(), value);
            }
            RejectedRow {
                location: source.location(row as usize),
                column: Some(output.field(column).name().clone()),
                reason,
                row: values,
            }
        })
        .collect())
}

/// Counts only: the rows are data.
impl std::fmt::Debug for Checked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checked")
            .field("rows", &self.batch.num_rows())
            .field("rejected", &self.rejected.len())
            .finish()
    }
}

impl std::fmt::Debug for Checker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checker")
            .field("columns", &self.rules.len())
            .field("policy", &self.policy)
            .field("drift", &self.drift)
            .finish_non_exhaustive()
    }
}
