use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use lagoa_core::{DatasetName, PersonalTag, SharingLevel};
use serde::Deserialize;
use std::path::Path;

/// A contract file (`schemas/<dataset>.toml`):
///
/// ```toml
/// [dataset]
/// name = "obitos"
/// description = "Declarações de óbito (SIM) entregues pelos municípios"
/// level = "especial"
/// partition = "ano"
///
/// [[columns]]
/// name = "cpf"
/// type = "string"
/// nullable = false
/// personal = "pessoal"
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contract {
    pub dataset: DatasetSection,
    pub columns: Vec<ColumnSpec>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSection {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub level: String,
    pub partition: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: String,
    #[serde(default = "default_true")]
    pub nullable: bool,
    pub personal: Option<String>,
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

impl Contract {
    pub fn load(path: &Path) -> Result<Self, ContractError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ContractError::Read {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        let contract: Contract = toml::from_str(&text).map_err(|e| ContractError::Read {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        let problems = contract.problems();
        if problems.is_empty() {
            Ok(contract)
        } else {
            Err(ContractError::Invalid {
                path: shown,
                problems,
            })
        }
    }

    /// Every problem of the contract at once.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(e) = DatasetName::new(&self.dataset.name) {
            problems.push(e.to_string());
        }
        let level = self.dataset.level.parse::<SharingLevel>();
        if let Err(e) = &level {
            problems.push(e.to_string());
        }
        if self.columns.is_empty() {
            problems.push("no columns".into());
        }
        let mut seen = std::collections::HashSet::new();
        for column in &self.columns {
            if !seen.insert(column.name.as_str()) {
                problems.push(format!("column {} appears twice", column.name));
            }
            if let Err(e) = parse_type(&column.data_type) {
                problems.push(format!("column {}: {e}", column.name));
            }
            if let Some(tag) = &column.personal
                && tag.parse::<PersonalTag>().is_err()
            {
                problems.push(format!(
                    "column {}: personal = {tag:?}, expected \"pessoal\" or \"sensivel\"",
                    column.name
                ));
            }
        }
        if let Some(partition) = &self.dataset.partition
            && !self.columns.iter().any(|c| &c.name == partition)
        {
            problems.push(format!(
                "partition column {partition} is not among the columns"
            ));
        }
        if matches!(level, Ok(SharingLevel::Amplo | SharingLevel::Corporativo))
            && self.columns.iter().any(|c| c.personal.is_some())
        {
            problems.push(format!(
                "level {} is not allowed for a dataset with personal-data columns: make it especial, or remove or pseudonymise those columns",
                self.dataset.level
            ));
        }
        problems
    }

    pub fn name(&self) -> DatasetName {
        DatasetName::new(&self.dataset.name).expect("validated on load")
    }

    pub fn level(&self) -> SharingLevel {
        self.dataset.level.parse().expect("validated on load")
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
    }

    #[test]
    fn the_example_contract_is_valid() {
        let c = Contract::load(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/obitos.toml"
        )))
        .unwrap();
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
[[columns]]
name = "cpf"
type = "strng"
personal = "pessoal"
"#,
        );
        let err = Contract::load(&path).unwrap_err().to_string();
        for expected in [
            "invalid dataset name",
            "unknown type",
            "partition column mes",
            "not allowed for a dataset with personal-data",
        ] {
            assert!(err.contains(expected), "missing {expected:?} in {err}");
        }
    }
}
