//! Whether what a categorisation does with personal columns protects them.
//!
//! Two ways a treated column comes back:
//!
//! - **A pseudonym of a column with few values is a relabelling.** The six
//!   pseudonyms of a race/colour code are matched to the six codes by their
//!   frequencies alone (everyone knows roughly how a population divides).
//!   So pseudonymising a column with fewer than
//!   `governance.min_pseudonym_distinct` distinct values is refused, and a
//!   column left to be served as a pseudonym by default is warned about;
//!   generalising (a code to its prefix) or removing it is what protects.
//!   The distinct count is read from the pseudonyms themselves, so no clear
//!   value is decrypted to decide.
//! - **Quasi-identifiers give a treated column back.** Of a birth date, an
//!   age and the date of the event (a death, a vaccination, a visit), any
//!   two give the third, within a day or a year: treating `dtnasc` while
//!   `idade` and `dtobito` stay in clear protects nothing. The
//!   categorisation warns when it leaves such a pair in clear; the
//!   documentation (`docs/access.md`) lists the pairs.

use datafusion::functions_aggregate::expr_fn::count_distinct;
use datafusion::prelude::ident;
use lagoa_core::DatasetName;
use lagoa_lake::catalog::model::DatasetInfo;
use lagoa_lake::pseudonym::pseudonym_udf;
use lagoa_lake::{AsOf, Lake, LakeError};
use std::collections::BTreeSet;
use std::sync::Arc;

/// What a column is, among the quasi-identifiers that derive each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum QuasiIdentifier {
    BirthDate,
    Age,
    EventDate,
}

impl QuasiIdentifier {
    fn name(self) -> &'static str {
        match self {
            QuasiIdentifier::BirthDate => "a birth date",
            QuasiIdentifier::Age => "an age",
            QuasiIdentifier::EventDate => "the event's date",
        }
    }
}

/// The role of a column by its name, in the layouts of DATASUS, e-SUS and
/// the state systems (`dtnasc`, `data_nascimento`, `idade`,
/// `numero_idade_paciente`, `dtobito`, `data_vacina`, `data_atendimento`...).
pub fn quasi_identifier(column: &str) -> Option<QuasiIdentifier> {
    let c = column.to_lowercase();
    let words: Vec<&str> = c.split(|ch: char| !ch.is_alphanumeric()).collect();
    let has = |w: &str| words.contains(&w);
    if c.contains("nasc") && (c.starts_with("dt") || has("data") || has("dt")) {
        return Some(QuasiIdentifier::BirthDate);
    }
    if has("idade") || c == "idade" || c.starts_with("idade_") || c.ends_with("_idade") {
        return Some(QuasiIdentifier::Age);
    }
    let dated = c.starts_with("dt") || has("data") || has("dt");
    let event = [
        "obito",
        "vacina",
        "atendimento",
        "ocorrencia",
        "internacao",
        "notificacao",
        "evento",
        "fato",
        "registro",
    ];
    if dated && event.iter().any(|e| c.contains(e)) {
        return Some(QuasiIdentifier::EventDate);
    }
    None
}

/// Warnings for treated columns that the columns left in clear give back.
pub fn derivable(columns: &[String], treated: &BTreeSet<String>) -> Vec<String> {
    let roles: Vec<(&String, QuasiIdentifier)> = columns
        .iter()
        .filter_map(|c| quasi_identifier(c).map(|q| (c, q)))
        .collect();
    let mut warnings = Vec::new();
    for (column, role) in roles.iter().filter(|(c, _)| treated.contains(*c)) {
        // The other two roles, each with a column in clear.
        let others: Vec<&String> = [
            QuasiIdentifier::BirthDate,
            QuasiIdentifier::Age,
            QuasiIdentifier::EventDate,
        ]
        .into_iter()
        .filter(|q| q != role)
        .filter_map(|q| {
            roles
                .iter()
                .find(|(c, r)| *r == q && !treated.contains(*c))
                .map(|(c, _)| *c)
        })
        .collect();
        if others.len() == 2 {
            warnings.push(format!(
                "{column} ({}) is treated, but {} and {} stay in clear: together they give it back; treat one of them too",
                role.name(),
                others[0],
                others[1]
            ));
        }
    }
    warnings
}

/// How many distinct values `column` has, counted on its pseudonyms (so
/// that `123.456.789-09` and `12345678909` count once, as they would be
/// served).
pub async fn distinct_values(
    lake: &Lake,
    dataset: &DatasetInfo,
    column: &str,
) -> Result<u64, LakeError> {
    let snapshot = lake.catalog.resolve(&AsOf::Latest).await?;
    let files = lake.catalog.files(dataset, snapshot).await?;
    let ctx = lagoa_lake::session::new_context(lake, false)?;
    let table = lake.table(dataset, files)?;
    let pseudonym = pseudonym_udf(lake.pseudonym_key().await?);
    let batches = ctx
        .read_table(Arc::new(table))?
        .aggregate(
            vec![],
            vec![count_distinct(pseudonym.call(vec![ident(column)])).alias("n")],
        )?
        .collect()
        .await?;
    let n = batches
        .first()
        .and_then(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<datafusion::arrow::array::Int64Array>()
                .map(|a| a.value(0))
        })
        .unwrap_or(0);
    Ok(n.max(0) as u64)
}

/// The dataset, as the catalog holds it now.
pub async fn dataset_now(
    lake: &Lake,
    name: &DatasetName,
) -> Result<Option<DatasetInfo>, LakeError> {
    let snapshot = lake.catalog.resolve(&AsOf::Latest).await?;
    lake.catalog.dataset(name, snapshot).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_columns_that_give_each_other_back() {
        use QuasiIdentifier::*;
        for (column, role) in [
            ("dtnasc", Some(BirthDate)),
            ("data_nascimento", Some(BirthDate)),
            ("DTNASC", Some(BirthDate)),
            ("idade", Some(Age)),
            ("numero_idade_paciente", Some(Age)),
            ("dtobito", Some(EventDate)),
            ("data_vacina", Some(EventDate)),
            ("data_atendimento", Some(EventDate)),
            ("racacor", None),
            ("municipio", None),
            ("nascidos_vivos", None),
        ] {
            assert_eq!(quasi_identifier(column), role, "{column}");
        }
        let columns: Vec<String> = ["dtnasc", "idade", "dtobito", "racacor"]
            .iter()
            .map(|c| c.to_string())
            .collect();
        let treated = BTreeSet::from(["dtnasc".to_string()]);
        let w = derivable(&columns, &treated);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("dtnasc") && w[0].contains("idade") && w[0].contains("dtobito"));
        // Treating the age too closes it.
        let treated = BTreeSet::from(["dtnasc".to_string(), "idade".to_string()]);
        assert!(derivable(&columns, &treated).is_empty());
    }
}
