//! The rules of a dataset's categorisation, decided here and recorded by
//! the store ([`crate::GovernanceStore::record_categorisation`]):
//!
//! - a change says why;
//! - treatments (pseudonymise, remove, generalise) apply to personal
//!   columns only, one per column, and a generalisation must fit the
//!   column's type;
//! - a dataset with an untreated personal column stays `especial`;
//! - a dataset has a provider, an institution of the agreement.
//!
//! A request is decided within [`DECISION_DAYS`] of being filed.

use crate::store::{Categorisation, NewCategorisation};
use lagoa_core::{DatasetName, SharingLevel};
use lagoa_lake::catalog::Catalog;
use lagoa_lake::catalog::model::DatasetInfo;
use lagoa_lake::{AsOf, LakeError};

/// Days the provider has to decide a request (the decree gives 30).
pub const DECISION_DAYS: i64 = 30;

/// Records a new version of a dataset's categorisation after checking
/// it against the rules above; a refusal is `LakeError::Invalid` naming
/// what to change.
pub async fn categorise(
    catalog: &Catalog,
    name: &DatasetName,
    change: &NewCategorisation,
    by: &str,
) -> Result<Categorisation, LakeError> {
    if change.reason.trim().is_empty() {
        return Err(LakeError::Invalid(
            "say why the categorisation changes (--reason)".into(),
        ));
    }
    let latest = catalog.resolve(&AsOf::Latest).await?;
    let info = catalog
        .dataset(name, latest)
        .await?
        .ok_or_else(|| LakeError::UnknownDataset(name.to_string()))?;
    let store = crate::GovernanceStore::of(catalog);
    let previous = store.categorisation(name.as_str()).await?;
    let next = decide(&info, previous.as_ref(), change, by).map_err(LakeError::Invalid)?;
    if store.institution(&next.provider).await?.is_none() {
        return Err(LakeError::Invalid(format!(
            "institution {} does not exist (add it with `lagoa institution add`)",
            next.provider
        )));
    }
    store.record_categorisation(next).await
}

/// The next version of a dataset's categorisation: what `change` sets,
/// the rest as `previous` had it. Its snapshot and time are the catalog's
/// to fill in.
pub fn decide(
    info: &DatasetInfo,
    previous: Option<&Categorisation>,
    change: &NewCategorisation,
    by: &str,
) -> Result<Categorisation, String> {
    let name = &info.name;
    let level = change.level.unwrap_or(info.level);
    let personal = info.personal_columns();
    let pseudonymised = change
        .pseudonymised
        .clone()
        .or_else(|| previous.map(|p| p.pseudonymised.clone()))
        .unwrap_or_default();
    let removed = change
        .removed
        .clone()
        .or_else(|| previous.map(|p| p.removed.clone()))
        .unwrap_or_default();
    let generalised = change
        .generalised
        .clone()
        .or_else(|| previous.map(|p| p.generalised.clone()))
        .unwrap_or_default();
    for column in pseudonymised
        .iter()
        .chain(&removed)
        .chain(generalised.keys())
    {
        if !personal.contains(column) {
            return Err(format!(
                "{name}.{column} is not a personal column of the dataset (its personal columns: {})",
                personal.join(", ")
            ));
        }
    }
    for column in &personal {
        let treatments = [
            pseudonymised.contains(column),
            removed.contains(column),
            generalised.contains_key(column),
        ];
        if treatments.iter().filter(|t| **t).count() > 1 {
            return Err(format!(
                "{name}.{column} has more than one treatment: pseudonymise, remove or generalise it"
            ));
        }
    }
    for (column, rule) in &generalised {
        let data_type = info
            .columns
            .iter()
            .find(|c| &c.name == column)
            .map_or("", |c| c.data_type.as_str());
        if let Err(fits) = rule.fits(data_type) {
            return Err(format!(
                "{name}.{column} is {data_type}: the generalisation {rule} is for {fits}"
            ));
        }
    }
    let untreated: Vec<&str> = personal
        .iter()
        .filter(|c| {
            !pseudonymised.contains(c) && !removed.contains(c) && !generalised.contains_key(*c)
        })
        .map(String::as_str)
        .collect();
    if level != SharingLevel::Especial && !untreated.is_empty() {
        return Err(format!(
            "dataset {name} has personal columns ({}): it can be {level} only once they are removed, pseudonymised or generalised (--remove, --pseudonymise, --generalise); it stays especial",
            untreated.join(", ")
        ));
    }
    let provider = match (&change.provider, previous) {
        (Some(p), _) => p.clone(),
        (None, Some(prev)) => prev.provider.clone(),
        (None, None) => {
            return Err(format!(
                "dataset {name} has no provider yet: name the institution that delivers it (--provider)"
            ));
        }
    };
    let keep = |new: &Option<String>, old: Option<&String>| {
        new.clone().or_else(|| old.cloned()).unwrap_or_default()
    };
    Ok(Categorisation {
        dataset: name.to_string(),
        version: previous.map_or(1, |p| p.version + 1),
        level,
        provider,
        justification: keep(&change.justification, previous.map(|p| &p.justification)),
        conditions: keep(&change.conditions, previous.map(|p| &p.conditions)),
        restrictions: keep(&change.restrictions, previous.map(|p| &p.restrictions)),
        pseudonymised,
        removed,
        generalised,
        changed_by: by.to_owned(),
        changed_at: 0,
        reason: change.reason.clone(),
        snapshot_id: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lagoa_core::{Generalisation, PersonalTag, SnapshotId};
    use lagoa_lake::catalog::model::ColumnDef;

    fn dataset() -> DatasetInfo {
        let column = |name: &str, data_type: &str, personal: Option<PersonalTag>| ColumnDef {
            name: name.into(),
            data_type: data_type.into(),
            nullable: true,
            personal,
        };
        DatasetInfo {
            dataset_id: 1,
            name: DatasetName::new("obitos").expect("a name"),
            level: SharingLevel::Especial,
            description: String::new(),
            partition_column: None,
            created_snapshot: SnapshotId(1),
            schema_version: 1,
            columns: vec![
                column("cpf", "string", Some(PersonalTag::Pessoal)),
                column("nascimento", "date", Some(PersonalTag::Pessoal)),
                column("ano", "int64", None),
            ],
            shredded_at: None,
        }
    }

    fn change(level: SharingLevel) -> NewCategorisation {
        NewCategorisation {
            level: Some(level),
            provider: Some("saude".into()),
            reason: "abrir".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_dataset_with_an_untreated_personal_column_stays_especial() {
        let refused = decide(&dataset(), None, &change(SharingLevel::Amplo), "maria").unwrap_err();
        assert!(
            refused.contains("personal columns (cpf, nascimento)"),
            "{refused}"
        );
        let treated = NewCategorisation {
            pseudonymised: Some(vec!["cpf".into()]),
            removed: Some(vec!["nascimento".into()]),
            ..change(SharingLevel::Amplo)
        };
        let next = decide(&dataset(), None, &treated, "maria").expect("treated");
        assert_eq!((next.version, next.level), (1, SharingLevel::Amplo));
        assert_eq!(next.provider, "saude");
    }

    #[test]
    fn treatments_apply_once_to_personal_columns_and_fit_their_type() {
        let not_personal = NewCategorisation {
            removed: Some(vec!["ano".into()]),
            ..change(SharingLevel::Especial)
        };
        let e = decide(&dataset(), None, &not_personal, "maria").unwrap_err();
        assert!(e.contains("obitos.ano is not a personal column"), "{e}");
        let twice = NewCategorisation {
            removed: Some(vec!["cpf".into()]),
            pseudonymised: Some(vec!["cpf".into()]),
            ..change(SharingLevel::Especial)
        };
        let e = decide(&dataset(), None, &twice, "maria").unwrap_err();
        assert!(e.contains("more than one treatment"), "{e}");
        let month = "month".parse::<Generalisation>().expect("a generalisation");
        let misfit = NewCategorisation {
            generalised: Some([("cpf".to_owned(), month)].into()),
            ..change(SharingLevel::Especial)
        };
        let e = decide(&dataset(), None, &misfit, "maria").unwrap_err();
        assert!(e.contains("obitos.cpf is string"), "{e}");
    }

    #[test]
    fn a_new_version_keeps_what_the_change_does_not_set() {
        let first =
            decide(&dataset(), None, &change(SharingLevel::Especial), "maria").expect("first");
        let reason_only = NewCategorisation {
            reason: "revisão".into(),
            ..Default::default()
        };
        let second = decide(&dataset(), Some(&first), &reason_only, "joao").expect("second");
        assert_eq!(second.version, 2);
        assert_eq!(second.provider, "saude");
        assert_eq!(second.level, SharingLevel::Especial);
        assert_eq!(second.changed_by, "joao");
        let no_provider = NewCategorisation {
            provider: None,
            ..change(SharingLevel::Especial)
        };
        let e = decide(&dataset(), None, &no_provider, "maria").unwrap_err();
        assert!(e.contains("no provider yet"), "{e}");
    }
}
