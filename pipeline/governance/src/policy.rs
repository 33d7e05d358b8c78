//! Who may read what: the sharing model as one pure function from a
//! principal, a dataset and the principal's live grants (and the purpose
//! it declared) to the table it may see.
//!
//! - `amplo`: any authenticated principal.
//! - `corporativo`: analysts, stewards and admins of the agreement's
//!   institutions.
//! - `especial`: only through a live grant whose purpose is the one
//!   declared; the grant's columns, the others hidden.
//! - Personal columns are in clear only under a grant that gives them
//!   (`personal`) for the declared purpose; otherwise they are
//!   pseudonymised (keyed hashing: equal values stay equal, so joins
//!   across datasets still work), or generalised when the categorisation
//!   says so (a month, an age band, a code's prefix), and never returned
//!   in clear.

use crate::store::{Grant, Treatments};
use lagoa_core::{Generalisation, Role, SharingLevel};

use std::collections::BTreeMap;

/// How one column reaches the principal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnAccess {
    Clear,
    Pseudonymised,
    /// Coarser: computed from the clear value, which never leaves.
    Generalised(Generalisation),
    Hidden,
}

impl ColumnAccess {
    /// In words, for the catalog's listings.
    pub fn name(&self) -> String {
        match self {
            ColumnAccess::Clear => "clear".into(),
            ColumnAccess::Pseudonymised => "pseudonymised".into(),
            ColumnAccess::Generalised(g) => format!("generalised ({g})"),
            ColumnAccess::Hidden => "hidden".into(),
        }
    }

    /// The session must decrypt the column to serve it this way: its clear
    /// value, or a generalisation or pseudonym computed from it in the
    /// session (the clear value never leaves). Only a hidden column is
    /// never decrypted.
    pub fn decrypts_value(&self) -> bool {
        !matches!(self, ColumnAccess::Hidden)
    }
}

/// A dataset as the policy needs it.
#[derive(Clone, Debug)]
pub struct DatasetMeta {
    pub name: String,
    pub level: SharingLevel,
    /// `(column, personal)` in table order.
    pub columns: Vec<(String, bool)>,
    /// Personal columns its categorisation removes: hidden from every
    /// reader but one whose grant gives them in clear.
    pub removed: Vec<String>,
    /// Personal columns its categorisation generalises (instead of
    /// pseudonyms) for every reader but one whose grant gives them in clear.
    pub generalised: BTreeMap<String, Generalisation>,
}

impl DatasetMeta {
    /// `treatments`: what the categorisations in force do with personal
    /// columns (`Catalog::treatments`).
    pub fn of(
        dataset: &lagoa_lake::catalog::model::DatasetInfo,
        treatments: &std::collections::HashMap<String, Treatments>,
    ) -> Self {
        let treated = treatments.get(dataset.name.as_str());
        Self {
            name: dataset.name.to_string(),
            level: dataset.level,
            columns: dataset
                .columns
                .iter()
                .map(|c| (c.name.clone(), c.personal.is_some()))
                .collect(),
            removed: treated.map(|t| t.removed.clone()).unwrap_or_default(),
            generalised: treated.map(|t| t.generalised.clone()).unwrap_or_default(),
        }
    }
}

/// The reader.
#[derive(Clone, Debug)]
pub struct Reader {
    pub principal: String,
    pub institution: String,
    pub role: Role,
    /// The purpose declared for this query, if any.
    pub purpose: Option<String>,
    /// Of the coordinating institution (or an admin): may read `system.audit`.
    pub coordinator: bool,
}

/// What the reader sees of a dataset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableAccess {
    pub dataset: String,
    pub columns: Vec<(String, ColumnAccess)>,
    /// The grants that allowed it.
    pub grants: Vec<String>,
}

impl TableAccess {
    pub fn access(&self, column: &str) -> ColumnAccess {
        self.columns
            .iter()
            .find(|(c, _)| c == column)
            .map_or(ColumnAccess::Hidden, |(_, a)| *a)
    }
}

fn same_purpose(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// What `reader` may see of `dataset`, given its live `grants` (any
/// dataset's; the function picks this one's). `Err` says why not.
pub fn table_access(
    reader: &Reader,
    dataset: &DatasetMeta,
    grants: &[Grant],
) -> Result<TableAccess, String> {
    let mine: Vec<&Grant> = grants
        .iter()
        .filter(|g| g.dataset == dataset.name)
        .collect();
    let declared = reader.purpose.as_deref().filter(|p| !p.trim().is_empty());
    let usable: Vec<&Grant> = match declared {
        Some(p) => mine
            .iter()
            .copied()
            .filter(|g| same_purpose(&g.purpose, p))
            .collect(),
        None => Vec::new(),
    };
    if dataset.level != SharingLevel::Amplo && reader.role == Role::Operator {
        return Err(format!(
            "{} is {}: operators run ingestion and read only amplo data; reading it takes an analyst's role",
            dataset.name, dataset.level
        ));
    }
    if dataset.level == SharingLevel::Especial {
        if mine.is_empty() {
            return Err(format!(
                "{} is especial: it is read only through a grant (file a request for it)",
                dataset.name
            ));
        }
        let Some(purpose) = declared else {
            return Err(format!(
                "{} is especial: declare the purpose of this query (one of your grants' purposes)",
                dataset.name
            ));
        };
        if usable.is_empty() {
            let purposes: Vec<&str> = mine.iter().map(|g| g.purpose.as_str()).collect();
            return Err(format!(
                "{}: no live grant of yours is for the purpose {purpose:?} (your grants are for: {})",
                dataset.name,
                purposes.join("; ")
            ));
        }
    }
    if dataset.level == SharingLevel::Corporativo
        && !matches!(reader.role, Role::Analyst | Role::Steward | Role::Admin)
    {
        return Err(format!(
            "{} is corporativo: analysts of the agreement's institutions read it",
            dataset.name
        ));
    }
    let covers =
        |g: &Grant, column: &str| g.columns.is_empty() || g.columns.iter().any(|c| c == column);
    let columns = dataset
        .columns
        .iter()
        .map(|(column, personal)| {
            let access = if *personal {
                if usable.iter().any(|g| g.personal && covers(g, column)) {
                    ColumnAccess::Clear
                } else if dataset.removed.contains(column)
                    || (dataset.level == SharingLevel::Especial
                        && !usable.iter().any(|g| covers(g, column)))
                {
                    ColumnAccess::Hidden
                } else if let Some(g) = dataset.generalised.get(column) {
                    ColumnAccess::Generalised(*g)
                } else {
                    ColumnAccess::Pseudonymised
                }
            } else if dataset.level == SharingLevel::Especial {
                if usable.iter().any(|g| covers(g, column)) {
                    ColumnAccess::Clear
                } else {
                    ColumnAccess::Hidden
                }
            } else {
                ColumnAccess::Clear
            };
            (column.clone(), access)
        })
        .collect();
    Ok(TableAccess {
        dataset: dataset.name.clone(),
        columns,
        grants: usable.iter().map(|g| g.grant_id.clone()).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ColumnAccess::*;

    fn dataset(level: SharingLevel) -> DatasetMeta {
        DatasetMeta {
            name: "obitos".into(),
            level,
            columns: vec![
                ("ano".into(), false),
                ("causa".into(), false),
                ("cpf".into(), true),
                ("nome".into(), true),
            ],
            removed: vec![],
            generalised: BTreeMap::new(),
        }
    }

    fn reader(role: Role, purpose: Option<&str>) -> Reader {
        Reader {
            principal: "ana".into(),
            institution: "saude".into(),
            role,
            purpose: purpose.map(str::to_owned),
            coordinator: false,
        }
    }

    fn grant(id: &str, purpose: &str, columns: &[&str], personal: bool) -> Grant {
        Grant {
            grant_id: id.into(),
            request_id: "r".into(),
            dataset: "obitos".into(),
            grantee_kind: "principal".into(),
            grantee: "ana".into(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            personal,
            purpose: purpose.into(),
            legal_basis: "LGPD art. 7 III".into(),
            expires_at: None,
            granted_by: "steward".into(),
            granted_at: 0,
            revoked_at: None,
            revoked_by: None,
        }
    }

    fn seen(a: &TableAccess) -> Vec<ColumnAccess> {
        a.columns.iter().map(|(_, x)| *x).collect()
    }

    #[test]
    fn the_sharing_model_table() {
        use SharingLevel::*;
        let vigilancia = grant("g1", "vigilância do óbito", &[], false);
        let nominal = grant(
            "g2",
            "investigação de óbito infantil",
            &["ano", "cpf"],
            true,
        );
        let other = Grant {
            dataset: "nascidos".into(),
            ..grant("g3", "vigilância do óbito", &[], true)
        };
        // (level, role, purpose, grants, expected columns or refusal text)
        type Case<'a> = (
            SharingLevel,
            Role,
            Option<&'a str>,
            Vec<Grant>,
            Result<Vec<ColumnAccess>, &'a str>,
        );
        let cases: Vec<Case> = vec![
            (
                Amplo,
                Role::Analyst,
                None,
                vec![],
                Ok(vec![Clear, Clear, Pseudonymised, Pseudonymised]),
            ),
            (
                Amplo,
                Role::Operator,
                None,
                vec![],
                Ok(vec![Clear, Clear, Pseudonymised, Pseudonymised]),
            ),
            (
                Corporativo,
                Role::Operator,
                None,
                vec![],
                Err("operators run ingestion and read only amplo data"),
            ),
            (
                Especial,
                Role::Operator,
                Some("vigilância do óbito"),
                vec![vigilancia.clone()],
                Err("operators run ingestion"),
            ),
            (
                Corporativo,
                Role::Analyst,
                None,
                vec![],
                Ok(vec![Clear, Clear, Pseudonymised, Pseudonymised]),
            ),
            (
                Corporativo,
                Role::Analyst,
                Some("investigação de óbito infantil"),
                vec![nominal.clone()],
                Ok(vec![Clear, Clear, Clear, Pseudonymised]),
            ),
            (
                Especial,
                Role::Analyst,
                None,
                vec![],
                Err("only through a grant"),
            ),
            (
                Especial,
                Role::Analyst,
                None,
                vec![other.clone()],
                Err("only through a grant"),
            ),
            (
                Especial,
                Role::Analyst,
                None,
                vec![vigilancia.clone()],
                Err("declare the purpose"),
            ),
            (
                Especial,
                Role::Analyst,
                Some("pesquisa"),
                vec![vigilancia.clone()],
                Err("no live grant of yours is for the purpose \"pesquisa\""),
            ),
            (
                Especial,
                Role::Analyst,
                Some("Vigilância do óbito "),
                vec![vigilancia.clone()],
                Ok(vec![Clear, Clear, Pseudonymised, Pseudonymised]),
            ),
            (
                Especial,
                Role::Analyst,
                Some("investigação de óbito infantil"),
                vec![vigilancia.clone(), nominal.clone()],
                Ok(vec![Clear, Hidden, Clear, Hidden]),
            ),
        ];
        for (i, (level, role, purpose, grants, expected)) in cases.into_iter().enumerate() {
            let got = table_access(&reader(role, purpose), &dataset(level), &grants);
            match (got, expected) {
                (Ok(a), Ok(want)) => assert_eq!(seen(&a), want, "case {i}"),
                (Err(e), Err(want)) => assert!(e.contains(want), "case {i}: {e}"),
                (got, want) => panic!("case {i}: got {got:?}, want {want:?}"),
            }
        }
        // A categorisation that removes `nome` hides it at a lower level,
        // but a grant that gives it in clear still does.
        let removed = DatasetMeta {
            removed: vec!["nome".into()],
            ..dataset(Corporativo)
        };
        let a = table_access(&reader(Role::Analyst, None), &removed, &[]).unwrap();
        assert_eq!(seen(&a), [Clear, Clear, Pseudonymised, Hidden]);
        let full = grant("g4", "investigação de óbito infantil", &[], true);
        let a = table_access(
            &reader(Role::Analyst, Some("investigação de óbito infantil")),
            &removed,
            &[full],
        )
        .unwrap();
        assert_eq!(seen(&a), [Clear, Clear, Clear, Clear]);
        // A generalised column is served coarser instead of as a pseudonym,
        // and in clear through a grant that gives it.
        let generalised = DatasetMeta {
            generalised: BTreeMap::from([("nome".into(), Generalisation::Prefix(1))]),
            ..dataset(Corporativo)
        };
        let a = table_access(&reader(Role::Analyst, None), &generalised, &[]).unwrap();
        assert_eq!(
            seen(&a),
            [
                Clear,
                Clear,
                Pseudonymised,
                Generalised(Generalisation::Prefix(1))
            ]
        );
        let a = table_access(
            &reader(Role::Analyst, Some("investigação de óbito infantil")),
            &generalised,
            &[grant("g5", "investigação de óbito infantil", &[], true)],
        )
        .unwrap();
        assert_eq!(seen(&a), [Clear, Clear, Clear, Clear]);
        let a = table_access(
            &reader(Role::Analyst, Some("investigação de óbito infantil")),
            &dataset(Especial),
            &[nominal],
        )
        .unwrap();
        assert_eq!(a.grants, ["g2"]);
        assert_eq!(a.access("causa"), Hidden);
        assert_eq!(a.access("cpf"), Clear);
    }
}
