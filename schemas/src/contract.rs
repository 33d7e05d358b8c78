use crate::validators::Validator;
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use chrono::NaiveDate;
use lagoa_core::{DatasetName, PersonalTag, SharingLevel};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A contract file (`schemas/<dataset>.toml`): what a provider agreed to
/// deliver, from which date, and what the office does with what differs.
///
/// ```toml
/// [dataset]
/// name = "obitos"
/// provider = "Secretaria Municipal de Saúde de Rio Branco"
/// description = "Declarações de óbito (SIM) por município de residência"
/// frequency = "monthly"
/// level = "especial"
/// justification = "Dados de saúde: dado pessoal sensível (LGPD art. 5º, II)"
/// conditions = "Uso restrito à vigilância do óbito"
/// partition = "ano"
/// primary_key = ["numero_do"]
/// max_rejected_share = 0.02
/// drift = "reject"
/// version = 2
/// effective_from = "2027-01-01"
/// reference_column = "data_obito"
///
/// [parse]
/// decimal = ","
/// date_formats = ["%d%m%Y"]
/// null_values = ["", "--"]
///
/// [[columns]]
/// name = "cpf"
/// type = "string"
/// nullable = false
/// personal = "pessoal"
/// validator = "cpf"
/// ```
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Contract {
    pub dataset: DatasetSection,
    #[serde(default)]
    pub parse: ParseOptions,
    pub columns: Vec<ColumnSpec>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DatasetSection {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The institution that delivers the data.
    #[serde(default)]
    pub provider: String,
    /// How often the agreement expects a delivery: `daily`, `weekly`,
    /// `monthly`, `quarterly`, `yearly`, or `<n>d`.
    pub frequency: Option<String>,
    pub level: String,
    /// Why the data has this sharing level.
    #[serde(default)]
    pub justification: String,
    /// Conditions of use that come with the data.
    #[serde(default)]
    pub conditions: String,
    pub partition: Option<String>,
    #[serde(default)]
    pub primary_key: Vec<String>,
    /// The share of rows that may be rejected before the whole delivery
    /// fails (0.0–1.0, default 0.05).
    pub max_rejected_share: Option<f64>,
    /// What to do with new, missing or retyped columns.
    #[serde(default)]
    pub drift: DriftPolicy,
    /// Contract version (default 1); a later version takes over from its
    /// `effective_from` date.
    pub version: Option<u32>,
    /// First reference date (YYYY-MM-DD) the version applies to.
    pub effective_from: Option<String>,
    /// The date column that says which period a delivery covers.
    pub reference_column: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DriftPolicy {
    /// Any drift fails the delivery.
    #[default]
    Reject,
    /// New columns are added to the dataset; missing nullable columns are
    /// filled with nulls. Retyped or missing required columns still fail.
    Evolve,
    /// The delivery is kept in the raw zone but nothing is committed until
    /// a steward reviews it (fix the contract, then `lagoa replay`).
    Hold,
}

impl DriftPolicy {
    pub fn name(self) -> &'static str {
        match self {
            DriftPolicy::Reject => "reject",
            DriftPolicy::Evolve => "evolve",
            DriftPolicy::Hold => "hold",
        }
    }
}

/// How delivered text becomes typed values.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ParseOptions {
    /// Decimal separator: "." (default) or ",".
    #[serde(default = "default_decimal")]
    pub decimal: String,
    /// Thousands separator to ignore ("." with decimal commas), if any.
    pub thousands: Option<String>,
    /// chrono formats tried in order for `date` columns.
    #[serde(default = "default_date_formats")]
    pub date_formats: Vec<String>,
    /// chrono formats tried in order for `timestamp` columns.
    #[serde(default = "default_timestamp_formats")]
    pub timestamp_formats: Vec<String>,
    /// Values that mean "absent" (compared after trimming).
    #[serde(default = "default_null_values")]
    pub null_values: Vec<String>,
    #[serde(default = "default_true_values")]
    pub true_values: Vec<String>,
    #[serde(default = "default_false_values")]
    pub false_values: Vec<String>,
}

fn default_decimal() -> String {
    ".".into()
}
fn default_date_formats() -> Vec<String> {
    ["%Y-%m-%d", "%d/%m/%Y", "%Y%m%d", "%d%m%Y"]
        .map(String::from)
        .to_vec()
}
fn default_timestamp_formats() -> Vec<String> {
    [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%d/%m/%Y %H:%M:%S",
        "%d/%m/%Y %H:%M",
    ]
    .map(String::from)
    .to_vec()
}
fn default_null_values() -> Vec<String> {
    ["", "--", "NA", "N/A", "NULL", "null"]
        .map(String::from)
        .to_vec()
}
fn default_true_values() -> Vec<String> {
    ["true", "t", "1", "s", "sim", "y", "yes"]
        .map(String::from)
        .to_vec()
}
fn default_false_values() -> Vec<String> {
    ["false", "f", "0", "n", "nao", "não", "no"]
        .map(String::from)
        .to_vec()
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            decimal: default_decimal(),
            thousands: None,
            date_formats: default_date_formats(),
            timestamp_formats: default_timestamp_formats(),
            null_values: default_null_values(),
            true_values: default_true_values(),
            false_values: default_false_values(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: String,
    /// The column's name in deliveries, when it differs (`CODMUNRES`).
    /// Without it, delivered names match after normalisation
    /// (`Código Município` matches `codigo_municipio`).
    pub source: Option<String>,
    #[serde(default = "default_true")]
    pub nullable: bool,
    pub personal: Option<String>,
    #[serde(default)]
    pub description: String,
    /// Smallest allowed value (numbers, or dates as YYYY-MM-DD).
    pub min: Option<toml::Value>,
    pub max: Option<toml::Value>,
    /// A regular expression the whole text must match.
    pub pattern: Option<String>,
    /// The allowed values (as delivered text).
    pub values: Option<Vec<String>>,
    /// A check-digit validator: cpf, cns, cnpj, ibge_municipio,
    /// datasus_municipio.
    pub validator: Option<String>,
}

impl ColumnSpec {
    /// A column of `data_type` that may be empty, with no constraint: what
    /// inference and a dataset's own columns start from.
    pub fn new(name: &str, data_type: &str) -> Self {
        ColumnSpec {
            name: name.to_owned(),
            data_type: data_type.to_owned(),
            source: None,
            nullable: true,
            personal: None,
            description: String::new(),
            min: None,
            max: None,
            pattern: None,
            values: None,
            validator: None,
        }
    }
}

fn default_true() -> bool {
    true
}

#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    #[error("contract {path}: {message}")]
    Read { path: String, message: String },
    #[error("contract {path} has problems:\n{}", problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid { path: String, problems: Vec<String> },
}

/// Contract type names: `string`, `integer`, `int32`, `float`,
/// `decimal(p,s)`, `date`, `timestamp`, `boolean`.
pub fn parse_type(name: &str) -> Result<DataType, String> {
    let name = name.trim().to_ascii_lowercase();
    Ok(match name.as_str() {
        "string" | "text" => DataType::Utf8,
        "integer" | "int" | "int64" | "bigint" => DataType::Int64,
        "int32" => DataType::Int32,
        "float" | "float64" | "double" => DataType::Float64,
        "date" => DataType::Date32,
        "timestamp" => DataType::Timestamp(TimeUnit::Microsecond, None),
        "boolean" | "bool" => DataType::Boolean,
        other => {
            if let Some(args) = other
                .strip_prefix("decimal(")
                .and_then(|r| r.strip_suffix(')'))
            {
                let (p, s) = args
                    .split_once(',')
                    .ok_or_else(|| format!("type {other:?}: write decimal(precision,scale)"))?;
                let p: u8 = p
                    .trim()
                    .parse()
                    .map_err(|_| format!("type {other:?}: precision must be 1..38"))?;
                let s: i8 = s
                    .trim()
                    .parse()
                    .map_err(|_| format!("type {other:?}: bad scale"))?;
                if !(1..=38).contains(&p) || s < 0 || s as u8 > p {
                    return Err(format!(
                        "type {other:?}: precision must be 1..38 and scale 0..precision"
                    ));
                }
                DataType::Decimal128(p, s)
            } else {
                return Err(format!(
                    "unknown type {other:?}: expected string, integer, int32, float, decimal(p,s), date, timestamp or boolean"
                ));
            }
        }
    })
}

/// The contract name of an Arrow type (the inverse of [`parse_type`]).
pub fn type_name(data_type: &DataType) -> String {
    match data_type {
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => "integer".into(),
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::UInt8 | DataType::UInt16 => {
            "int32".into()
        }
        DataType::Float16 | DataType::Float32 | DataType::Float64 => "float".into(),
        DataType::Decimal128(p, s) => format!("decimal({p},{s})"),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(_, _) => "timestamp".into(),
        DataType::Boolean => "boolean".into(),
        _ => "string".into(),
    }
}

impl Contract {
    pub fn load(path: &Path) -> Result<Self, ContractError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ContractError::Read {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        Self::parse(&text, &shown)
    }

    /// Parses and validates a contract's text; `shown` names it in errors.
    pub fn parse(text: &str, shown: &str) -> Result<Self, ContractError> {
        let contract: Contract = toml::from_str(text).map_err(|e| ContractError::Read {
            path: shown.to_owned(),
            message: e.to_string(),
        })?;
        let problems = contract.problems();
        if problems.is_empty() {
            Ok(contract)
        } else {
            Err(ContractError::Invalid {
                path: shown.to_owned(),
                problems,
            })
        }
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// Every problem of the contract at once.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let d = &self.dataset;
        if let Err(e) = DatasetName::new(&d.name) {
            problems.push(e.to_string());
        }
        let level = d.level.parse::<SharingLevel>();
        if let Err(e) = &level {
            problems.push(e.to_string());
        }
        if let Some(f) = &d.frequency
            && frequency_days(f).is_none()
        {
            problems.push(format!(
                "frequency {f:?}: expected daily, weekly, monthly, quarterly, yearly or <n>d"
            ));
        }
        if let Some(share) = d.max_rejected_share
            && !(0.0..=1.0).contains(&share)
        {
            problems.push(format!(
                "max_rejected_share {share} must be between 0 and 1"
            ));
        }
        if d.version == Some(0) {
            problems.push("version must be 1 or more".into());
        }
        if let Some(date) = &d.effective_from
            && NaiveDate::parse_from_str(date, "%Y-%m-%d").is_err()
        {
            problems.push(format!("effective_from {date:?}: expected YYYY-MM-DD"));
        }
        if self.columns.is_empty() {
            problems.push("no columns".into());
        }
        let mut seen = std::collections::HashSet::new();
        for column in &self.columns {
            if !seen.insert(column.name.as_str()) {
                problems.push(format!("column {} appears twice", column.name));
            }
            problems.extend(column_problems(column));
        }
        let names: std::collections::HashSet<&str> =
            self.columns.iter().map(|c| c.name.as_str()).collect();
        if let Some(partition) = &d.partition
            && !names.contains(partition.as_str())
        {
            problems.push(format!(
                "partition column {partition} is not among the columns"
            ));
        }
        for key in &d.primary_key {
            if !names.contains(key.as_str()) {
                problems.push(format!("primary key column {key} is not among the columns"));
            }
        }
        if let Some(reference) = &d.reference_column {
            match self.columns.iter().find(|c| &c.name == reference) {
                None => problems.push(format!(
                    "reference column {reference} is not among the columns"
                )),
                Some(c)
                    if !matches!(
                        parse_type(&c.data_type),
                        Ok(DataType::Date32 | DataType::Timestamp(..))
                    ) =>
                {
                    problems.push(format!(
                        "reference column {reference} must be a date or timestamp"
                    ))
                }
                Some(_) => {}
            }
        }
        if matches!(level, Ok(SharingLevel::Amplo | SharingLevel::Corporativo))
            && self.columns.iter().any(|c| c.personal.is_some())
        {
            problems.push(format!(
                "level {} is not allowed for a dataset with personal-data columns: make it especial, or remove or pseudonymise those columns",
                d.level
            ));
        }
        let p = &self.parse;
        if p.decimal != "." && p.decimal != "," {
            problems.push(format!(
                "parse.decimal {:?}: expected \".\" or \",\"",
                p.decimal
            ));
        }
        if p.thousands.as_deref() == Some(p.decimal.as_str()) {
            problems.push("parse.thousands cannot equal parse.decimal".into());
        }
        for f in p.date_formats.iter().chain(&p.timestamp_formats) {
            if chrono::format::StrftimeItems::new(f)
                .any(|item| matches!(item, chrono::format::Item::Error))
            {
                problems.push(format!("format {f:?} is not a valid chrono format"));
            }
        }
        problems
    }

    pub fn name(&self) -> DatasetName {
        DatasetName::new(&self.dataset.name).expect("validated on load")
    }

    pub fn level(&self) -> SharingLevel {
        self.dataset.level.parse().expect("validated on load")
    }

    pub fn version(&self) -> u32 {
        self.dataset.version.unwrap_or(1)
    }

    pub fn effective_from(&self) -> Option<NaiveDate> {
        self.dataset
            .effective_from
            .as_deref()
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
    }

    pub fn max_rejected_share(&self) -> f64 {
        self.dataset.max_rejected_share.unwrap_or(0.05)
    }

    pub fn personal_columns(&self) -> Vec<(String, PersonalTag)> {
        self.columns
            .iter()
            .filter_map(|c| Some((c.name.clone(), c.personal.as_ref()?.parse().ok()?)))
            .collect()
    }

    pub fn arrow_schema(&self) -> Schema {
        Schema::new(
            self.columns
                .iter()
                .map(|c| {
                    Field::new(
                        &c.name,
                        parse_type(&c.data_type).expect("validated on load"),
                        c.nullable,
                    )
                })
                .collect::<Vec<_>>(),
        )
    }
}

fn column_problems(column: &ColumnSpec) -> Vec<String> {
    let mut problems = Vec::new();
    let name = &column.name;
    let data_type = parse_type(&column.data_type);
    if let Err(e) = &data_type {
        problems.push(format!("column {name}: {e}"));
    }
    if crate::normalize_column_name(name) != *name {
        problems.push(format!(
            "column {name}: names are lowercase ASCII letters, digits and _ (try {})",
            crate::normalize_column_name(name)
        ));
    }
    if let Some(tag) = &column.personal
        && tag.parse::<PersonalTag>().is_err()
    {
        problems.push(format!(
            "column {name}: personal = {tag:?}, expected \"pessoal\" or \"sensivel\""
        ));
    }
    if let Some(pattern) = &column.pattern
        && let Err(e) = regex::Regex::new(pattern)
    {
        problems.push(format!("column {name}: pattern is not a valid regex: {e}"));
    }
    if let Some(v) = &column.validator
        && v.parse::<Validator>().is_err()
    {
        problems.push(format!(
            "column {name}: validator {v:?}, expected cpf, cns, cnpj, ibge_municipio or datasus_municipio"
        ));
    }
    for (which, bound) in [("min", &column.min), ("max", &column.max)] {
        let Some(bound) = bound else { continue };
        let ok = match (&data_type, bound) {
            (Ok(DataType::Date32 | DataType::Timestamp(..)), toml::Value::String(s)) => {
                NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
            }
            (Ok(DataType::Date32 | DataType::Timestamp(..)), toml::Value::Datetime(_)) => true,
            (
                Ok(
                    DataType::Int64
                    | DataType::Int32
                    | DataType::Float64
                    | DataType::Decimal128(..),
                ),
                toml::Value::Integer(_) | toml::Value::Float(_),
            ) => true,
            _ => false,
        };
        if !ok {
            problems.push(format!(
                "column {name}: {which} must be a number for numeric columns or a YYYY-MM-DD date for date columns"
            ));
        }
    }
    problems
}

/// Days between expected deliveries.
pub fn frequency_days(frequency: &str) -> Option<u32> {
    Some(match frequency {
        "daily" => 1,
        "weekly" => 7,
        "monthly" => 31,
        "quarterly" => 92,
        "yearly" | "annual" => 366,
        other => other.strip_suffix('d')?.parse().ok().filter(|&n| n > 0)?,
    })
}

/// The version in force on `date` among several versions of one contract:
/// the highest version whose `effective_from` is on or before `date`.
pub fn version_in_force(versions: &[Contract], date: NaiveDate) -> Option<&Contract> {
    versions
        .iter()
        .filter(|c| c.effective_from().is_none_or(|from| from <= date))
        .max_by_key(|c| c.version())
}

/// What changes from one contract version to the next, in words a provider
/// and a consumer both read.
pub fn diff(old: &Contract, new: &Contract) -> Vec<String> {
    let mut changes = Vec::new();
    let (a, b) = (&old.dataset, &new.dataset);
    let mut field = |what: &str, x: String, y: String| {
        if x != y {
            changes.push(format!("{what}: {x} -> {y}"));
        }
    };
    field("level", a.level.clone(), b.level.clone());
    field(
        "frequency",
        format!("{:?}", a.frequency),
        format!("{:?}", b.frequency),
    );
    field(
        "partition",
        format!("{:?}", a.partition),
        format!("{:?}", b.partition),
    );
    field(
        "primary key",
        a.primary_key.join(","),
        b.primary_key.join(","),
    );
    field("drift policy", a.drift.name().into(), b.drift.name().into());
    field(
        "max rejected share",
        old.max_rejected_share().to_string(),
        new.max_rejected_share().to_string(),
    );
    if old.parse != new.parse {
        changes.push("parsing options changed (decimal, date formats or null values)".into());
    }
    for column in &old.columns {
        match new.columns.iter().find(|c| c.name == column.name) {
            None => changes.push(format!("column {} removed", column.name)),
            Some(c) => {
                if c.data_type != column.data_type {
                    changes.push(format!(
                        "column {}: type {} -> {}",
                        column.name, column.data_type, c.data_type
                    ));
                }
                if c.nullable != column.nullable {
                    changes.push(format!(
                        "column {}: {}",
                        column.name,
                        if c.nullable {
                            "may now be empty"
                        } else {
                            "now required"
                        }
                    ));
                }
                if c.personal != column.personal {
                    changes.push(format!(
                        "column {}: personal {:?} -> {:?}",
                        column.name, column.personal, c.personal
                    ));
                }
                if (&c.min, &c.max, &c.pattern, &c.values, &c.validator)
                    != (
                        &column.min,
                        &column.max,
                        &column.pattern,
                        &column.values,
                        &column.validator,
                    )
                {
                    changes.push(format!("column {}: constraints changed", column.name));
                }
                if c.source != column.source {
                    changes.push(format!(
                        "column {}: delivered as {:?} -> {:?}",
                        column.name, column.source, c.source
                    ));
                }
            }
        }
    }
    for column in &new.columns {
        if !old.columns.iter().any(|c| c.name == column.name) {
            changes.push(format!(
                "column {} added ({}{})",
                column.name,
                column.data_type,
                if column.nullable { "" } else { ", required" }
            ));
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn loads_a_contract() {
        let (_d, path) = write(
            r#"
[dataset]
name = "obitos"
level = "especial"
partition = "ano"
[[columns]]
name = "cpf"
type = "string"
nullable = false
personal = "pessoal"
[[columns]]
name = "ano"
type = "integer"
[[columns]]
name = "valor"
type = "decimal(12,2)"
"#,
        );
        let c = Contract::load(&path).unwrap();
        assert_eq!(
            c.personal_columns(),
            vec![("cpf".to_string(), PersonalTag::Pessoal)]
        );
        assert_eq!(
            c.arrow_schema().field(2).data_type(),
            &DataType::Decimal128(12, 2)
        );
        assert_eq!(c.version(), 1);
        assert_eq!(c.dataset.drift, DriftPolicy::Reject);
        assert_eq!(c.max_rejected_share(), 0.05);
    }

    #[test]
    fn the_example_contracts_are_valid() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
        let mut count = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                Contract::load(&path).unwrap();
                count += 1;
            }
        }
        assert!(count >= 2);
        let c = Contract::load(Path::new(&format!("{dir}/obitos.toml"))).unwrap();
        assert_eq!(c.level(), SharingLevel::Especial);
        assert_eq!(c.personal_columns().len(), 3);
    }

    #[test]
    fn reports_every_problem() {
        let (_d, path) = write(
            r#"
[dataset]
name = "Obitos"
level = "amplo"
partition = "mes"
frequency = "sometimes"
max_rejected_share = 2.0
effective_from = "01/02/2027"
primary_key = ["id"]
reference_column = "cpf"
[parse]
decimal = ";"
[[columns]]
name = "cpf"
type = "strng"
personal = "pessoal"
pattern = "(["
validator = "rg"
min = "x"
[[columns]]
name = "Idade"
type = "integer"
"#,
        );
        let err = Contract::load(&path).unwrap_err().to_string();
        for expected in [
            "invalid dataset name",
            "unknown type",
            "partition column mes",
            "not allowed for a dataset with personal-data",
            "frequency \"sometimes\"",
            "max_rejected_share 2",
            "effective_from",
            "primary key column id",
            "reference column cpf must be a date",
            "parse.decimal",
            "pattern is not a valid regex",
            "validator \"rg\"",
            "column cpf: min must be",
            "column Idade: names are lowercase",
        ] {
            assert!(err.contains(expected), "missing {expected:?} in {err}");
        }
    }

    fn version(v: u32, from: Option<&str>, extra: &str) -> Contract {
        Contract::parse(
            &format!(
                "[dataset]\nname=\"x\"\nlevel=\"amplo\"\nversion={v}\n{}\n[[columns]]\nname=\"a\"\ntype=\"integer\"\n{extra}",
                from.map(|f| format!("effective_from=\"{f}\"")).unwrap_or_default()
            ),
            "x",
        )
        .unwrap()
    }

    #[test]
    fn the_version_in_force_follows_the_reference_date() {
        let v1 = version(1, None, "");
        let v2 = version(
            2,
            Some("2027-03-01"),
            "[[columns]]\nname=\"b\"\ntype=\"string\"\nnullable=false\n",
        );
        let versions = vec![v1, v2];
        let day = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(
            version_in_force(&versions, day("2027-02-28"))
                .unwrap()
                .version(),
            1
        );
        assert_eq!(
            version_in_force(&versions, day("2027-03-01"))
                .unwrap()
                .version(),
            2
        );
        let changes = diff(&versions[0], &versions[1]);
        assert_eq!(changes, vec!["column b added (string, required)"]);
    }

    #[test]
    fn a_contract_round_trips_through_toml() {
        let c = version(3, Some("2027-01-01"), "validator=\"cpf\"\n");
        let again = Contract::parse(&c.to_toml(), "again").unwrap();
        assert_eq!(c, again);
    }

    #[test]
    fn frequencies() {
        assert_eq!(frequency_days("monthly"), Some(31));
        assert_eq!(frequency_days("15d"), Some(15));
        assert_eq!(frequency_days("0d"), None);
    }
}
