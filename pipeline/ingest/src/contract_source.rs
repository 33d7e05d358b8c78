//! Which contract a delivery is checked against: the one given, else the
//! registered version in force on the delivery's reference date, else the
//! dataset's current columns, else a draft inferred from the delivery.

use crate::IngestError;
use arrow::array::{Array, RecordBatch, StringArray};
use arrow::datatypes::DataType;
use chrono::NaiveDate;
use lagoa_core::{DatasetName, PersonalTag, SharingLevel};
use lagoa_lake::Lake;
use lagoa_lake::catalog::model::DatasetInfo;
use lagoa_schemas::{ColumnSpec, Contract, DatasetSection, DriftPolicy, ParseOptions};

/// What to use when a dataset has neither contract nor history.
#[derive(Clone, Debug, Default)]
pub struct InferenceHints {
    pub level: Option<SharingLevel>,
    /// Columns (normalised names) holding personal data.
    pub personal: Vec<String>,
    pub partition: Option<String>,
    pub description: Option<String>,
}

/// The registered version in force on `date` (today if none).
pub async fn registered_contract(
    lake: &Lake,
    dataset: &DatasetName,
    date: Option<NaiveDate>,
) -> Result<Option<Contract>, IngestError> {
    let versions = lake.catalog.contract_versions(dataset.as_str()).await?;
    if versions.is_empty() {
        return Ok(None);
    }
    let parsed = versions
        .iter()
        .map(|v| {
            Contract::parse(&v.body, &format!("{} v{} (catalog)", v.dataset, v.version))
                .map_err(IngestError::from)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let date = date.unwrap_or_else(|| chrono::Utc::now().date_naive());
    Ok(lagoa_schemas::version_in_force(&parsed, date).cloned())
}

/// A contract that keeps what the lake already holds: its columns, types,
/// personal tags, level and partition; new columns evolve the dataset.
pub fn contract_from_dataset(info: &DatasetInfo) -> Contract {
    Contract {
        dataset: section(
            info.name.as_str(),
            info.level,
            info.partition_column.clone(),
            info.description.clone(),
            DriftPolicy::Evolve,
        ),
        parse: ParseOptions::default(),
        columns: info
            .columns
            .iter()
            .map(|c| {
                let data_type = c
                    .data_type
                    .parse::<DataType>()
                    .map(|t| lagoa_schemas::type_name(&t))
                    .unwrap_or_else(|_| "string".into());
                let mut spec = ColumnSpec::new(&c.name, &data_type);
                spec.personal = c.personal.map(|p| p.as_str().to_owned());
                // A column the lake holds as required stays required: a
                // delivery without its values goes to quarantine, never
                // into files every later query would fail on.
                spec.nullable = c.nullable;
                spec
            })
            .collect(),
    }
}

/// A draft from the first batch's text and the caller's hints.
pub fn inferred_contract(
    dataset: &DatasetName,
    columns: &[(String, Vec<Option<&str>>)],
    hints: &InferenceHints,
) -> Result<Contract, String> {
    let (mut specs, parse) = lagoa_schemas::infer_columns(columns);
    for wanted in &hints.personal {
        // Named as in the header (`CPF`, `Nome da mãe`) or as normalised.
        let normalised = lagoa_schemas::normalize_column_name(wanted);
        let Some(spec) = specs.iter_mut().find(|c| c.name == normalised) else {
            return Err(format!(
                "--personal names column {wanted}, which the delivery does not have (columns: {})",
                specs
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        };
        // Identifiers keep their zeros: personal columns stay text.
        spec.personal = Some(PersonalTag::Pessoal.as_str().to_owned());
        spec.data_type = "string".into();
    }
    let has_personal = specs.iter().any(|c| c.personal.is_some());
    let level = match hints.level {
        Some(level) => level,
        None if has_personal => SharingLevel::Especial,
        None => {
            return Err(
                "a new dataset needs a sharing level: pass --level amplo|corporativo|especial or a contract"
                    .into(),
            );
        }
    };
    let contract = Contract {
        dataset: section(
            dataset.as_str(),
            level,
            hints
                .partition
                .as_deref()
                .map(lagoa_schemas::normalize_column_name),
            hints.description.clone().unwrap_or_default(),
            DriftPolicy::Evolve,
        ),
        parse,
        columns: specs,
    };
    let problems = contract.problems();
    if problems.is_empty() {
        Ok(contract)
    } else {
        Err(problems.join("; "))
    }
}

/// A contract from drafted columns (`lagoa contract infer`).
pub fn contract_from_parts(
    dataset: &DatasetName,
    level: SharingLevel,
    columns: Vec<ColumnSpec>,
    parse: ParseOptions,
) -> Contract {
    Contract {
        dataset: section(
            dataset.as_str(),
            level,
            None,
            String::new(),
            DriftPolicy::Reject,
        ),
        parse,
        columns,
    }
}

/// A draft contract from a sample of a delivery (`lagoa contract infer`):
/// the columns as inferred, and those whose values mostly look like CPF or
/// CNS numbers marked personal with that validator. Its drift policy is
/// `reject`: a draft is a starting point for a person to review.
pub fn draft_contract(
    dataset: &DatasetName,
    level: SharingLevel,
    sample: &RecordBatch,
) -> Contract {
    let columns = text_sample(sample, sample.num_rows());
    let borrowed: Vec<(String, Vec<Option<&str>>)> = columns
        .iter()
        .map(|(n, v)| (n.clone(), v.iter().map(|x| x.as_deref()).collect()))
        .collect();
    let (specs, parse) = lagoa_schemas::infer_columns(&borrowed);
    let mut draft = contract_from_parts(dataset, level, specs, parse);
    for column in &mut draft.columns {
        let values: Vec<&str> = columns
            .iter()
            .find(|(n, _)| lagoa_schemas::normalize_column_name(n) == column.name)
            .map(|(_, v)| v.iter().flatten().map(String::as_str).collect())
            .unwrap_or_default();
        let mostly = |looks: fn(&str) -> bool| {
            !values.is_empty() && values.iter().filter(|v| looks(v)).count() * 2 > values.len()
        };
        let validator = if mostly(lagoa_schemas::validators::looks_like_cpf) {
            "cpf"
        } else if mostly(lagoa_schemas::validators::looks_like_cns) {
            "cns"
        } else {
            continue;
        };
        column.personal = Some(PersonalTag::Pessoal.as_str().to_owned());
        column.validator = Some(validator.into());
    }
    draft
}

/// Up to `rows` values of each column of `batch`, as text, for inference.
pub fn text_sample(batch: &RecordBatch, rows: usize) -> Vec<(String, Vec<Option<String>>)> {
    let n = batch.num_rows().min(rows);
    batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(field, column)| {
            let text = arrow::compute::cast(&column.slice(0, n), &DataType::Utf8).ok();
            let values = match text
                .as_ref()
                .and_then(|t| t.as_any().downcast_ref::<StringArray>())
            {
                Some(t) => (0..t.len())
                    .map(|i| t.is_valid(i).then(|| t.value(i).to_owned()))
                    .collect(),
                None => Vec::new(),
            };
            (field.name().clone(), values)
        })
        .collect()
}

/// Refuses a contract that would silently change what the lake holds: a
/// different level or partitioning is a governance decision, not an ingest.
pub fn check_against_dataset(contract: &Contract, info: &DatasetInfo) -> Result<(), String> {
    if contract.level() != info.level {
        return Err(format!(
            "dataset {} is categorised {}; this delivery's contract says {}. Changing a dataset's level is a governance decision, not part of an ingest",
            info.name,
            info.level,
            contract.level()
        ));
    }
    if contract.dataset.partition != info.partition_column {
        return Err(format!(
            "dataset {} is partitioned by {}; the contract asks for {}",
            info.name,
            info.partition_column.as_deref().unwrap_or("nothing"),
            contract.dataset.partition.as_deref().unwrap_or("nothing")
        ));
    }
    for known in &info.columns {
        if known.personal.is_some()
            && contract
                .columns
                .iter()
                .any(|c| c.name == known.name && c.personal.is_none())
        {
            return Err(format!(
                "column {} holds personal data in the lake; the contract must tag it personal too",
                known.name
            ));
        }
    }
    Ok(())
}

fn section(
    name: &str,
    level: SharingLevel,
    partition: Option<String>,
    description: String,
    drift: DriftPolicy,
) -> DatasetSection {
    DatasetSection {
        name: name.to_owned(),
        description,
        provider: String::new(),
        frequency: None,
        level: level.to_string(),
        justification: String::new(),
        conditions: String::new(),
        partition,
        primary_key: Vec::new(),
        max_rejected_share: None,
        drift,
        version: None,
        effective_from: None,
        reference_column: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn batch(columns: &[(&str, Vec<&str>)]) -> RecordBatch {
        let fields: Vec<arrow::datatypes::Field> = columns
            .iter()
            .map(|(name, _)| arrow::datatypes::Field::new(*name, DataType::Utf8, true))
            .collect();
        let arrays: Vec<arrow::array::ArrayRef> = columns
            .iter()
            .map(|(_, values)| {
                Arc::new(StringArray::from(values.clone())) as arrow::array::ArrayRef
            })
            .collect();
        RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), arrays)
            .expect("a batch")
    }

    #[test]
    fn a_draft_marks_columns_of_cpf_numbers_personal_with_their_validator() {
        let sample = batch(&[
            ("CPF", vec!["52998224725", "11144477735", "39053344705"]),
            ("ano", vec!["2024", "2024", "2023"]),
        ]);
        let name = DatasetName::new("obitos").expect("a name");
        let draft = draft_contract(&name, SharingLevel::Especial, &sample);
        let cpf = draft
            .columns
            .iter()
            .find(|c| c.name == "cpf")
            .expect("the cpf column, normalised");
        assert_eq!(cpf.personal.as_deref(), Some("pessoal"));
        assert_eq!(cpf.validator.as_deref(), Some("cpf"));
        let ano = draft.columns.iter().find(|c| c.name == "ano").expect("ano");
        assert_eq!(
            (ano.personal.as_deref(), ano.validator.as_deref()),
            (None, None)
        );
        assert!(draft.problems().is_empty(), "{:?}", draft.problems());
    }

    #[test]
    fn a_text_sample_takes_at_most_the_rows_asked_for_and_keeps_nulls() {
        let sample = text_sample(&batch(&[("a", vec!["1", "2", "3"])]), 2);
        assert_eq!(
            sample,
            vec![(
                "a".to_owned(),
                vec![Some("1".to_owned()), Some("2".to_owned())]
            )]
        );
        let with_null = RecordBatch::try_new(
            Arc::new(arrow::datatypes::Schema::new(vec![
                arrow::datatypes::Field::new("n", DataType::Int64, true),
            ])),
            vec![Arc::new(arrow::array::Int64Array::from(vec![
                Some(7),
                None,
            ]))],
        )
        .expect("a batch");
        assert_eq!(
            text_sample(&with_null, 10),
            vec![("n".to_owned(), vec![Some("7".to_owned()), None])]
        );
    }
}
