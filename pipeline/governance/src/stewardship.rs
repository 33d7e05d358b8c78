//! The sharing model's decisions, each made by a named principal and
//! recorded in the audit trail, whether it is allowed or refused: the one
//! place the CLI and the HTTP API both call.
//!
//! - categorising a dataset: stewards of its provider, and admins. The
//!   first categorisation names the provider that delivers the data (as
//!   its source, command or contract named it); without one on record only
//!   an admin may name it. Only admins move a dataset to another provider;
//! - filing a request: any principal, for itself or its institution;
//! - deciding a request and revoking a grant: stewards of the dataset's
//!   provider, and admins, but nobody decides a request they filed or one
//!   filed by their own institution; the record names both people;
//! - seeing requests: one's own, those on one's institution's datasets for
//!   its stewards, all for coordinators and admins;
//! - a provider's consumption report: its stewards, coordinators, admins.

use crate::store::{
    AccessRequest, Categorisation, Grant, NewCategorisation, NewRequest, Principal,
};
use lagoa_core::{DatasetName, InstitutionRole, Role};
use lagoa_lake::catalog::AuditEntry;
use lagoa_lake::{Lake, LakeError};

#[derive(Debug, thiserror::Error)]
pub enum StewardshipError {
    /// The principal may not do it; recorded as denied.
    #[error("{0}")]
    Denied(String),
    #[error("{0}")]
    NotFound(String),
    /// Refused by the catalog's rules (a level the data cannot have, an
    /// unknown institution...).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Lake(LakeError),
}

impl From<LakeError> for StewardshipError {
    fn from(e: LakeError) -> Self {
        match e {
            LakeError::Invalid(m) => Self::Invalid(m),
            LakeError::UnknownDataset(d) => Self::NotFound(format!("no dataset {d}")),
            e => Self::Lake(e),
        }
    }
}

type Result<T> = std::result::Result<T, StewardshipError>;

async fn record(
    lake: &Lake,
    who: &Principal,
    action: &str,
    dataset: &str,
    subject: &str,
    outcome: &str,
    reason: Option<&str>,
) -> Result<()> {
    lake.audit(&AuditEntry {
        datasets: vec![dataset.to_owned()],
        reason: reason.map(str::to_owned),
        ..who.audit_entry(action, subject, outcome)
    })
    .await?;
    Ok(())
}

/// Records the refusal and returns it.
async fn refuse<T>(
    lake: &Lake,
    who: &Principal,
    action: &str,
    dataset: &str,
    subject: &str,
    why: &str,
    message: String,
) -> Result<T> {
    record(lake, who, action, dataset, subject, "denied", Some(why)).await?;
    Err(StewardshipError::Denied(message))
}

/// Whether the principal's institution coordinates the agreement.
pub async fn is_coordinator(lake: &Lake, who: &Principal) -> Result<bool> {
    Ok(crate::GovernanceStore::of(&lake.catalog)
        .institution(&who.institution)
        .await?
        .is_some_and(|i| i.role == InstitutionRole::Coordinator))
}

/// Stewards of the dataset's provider, and admins, decide for it.
pub async fn may_decide(lake: &Lake, who: &Principal, dataset: &str) -> Result<bool> {
    if who.role == Role::Admin {
        return Ok(true);
    }
    let provider = crate::GovernanceStore::of(&lake.catalog)
        .categorisation(dataset)
        .await?
        .map(|c| c.provider);
    Ok(who.role == Role::Steward && provider.as_deref() == Some(who.institution.as_str()))
}

/// A categorisation made, with what it leaves exposed (quasi-identifiers
/// that give a treated column back, columns whose pseudonyms hide little).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Categorised {
    #[serde(flatten)]
    pub categorisation: Categorisation,
    pub warnings: Vec<String>,
}

/// Refuses pseudonyms that would hide nothing; returns the warnings (`Ok`)
/// or the reason for the refusal (`Err`).
async fn check_treatments(
    lake: &Lake,
    name: &DatasetName,
    previous: Option<&Categorisation>,
    change: &NewCategorisation,
) -> Result<std::result::Result<Vec<String>, String>> {
    use crate::treatments::{derivable, distinct_values};
    let Some(info) = crate::treatments::dataset_now(lake, name).await? else {
        return Err(StewardshipError::NotFound(format!("no dataset {name}")));
    };
    if info.shredded_at.is_some() {
        return Ok(Ok(Vec::new()));
    }
    let pick = |new: &Option<Vec<String>>, old: Option<&Vec<String>>| {
        new.clone().or_else(|| old.cloned()).unwrap_or_default()
    };
    let pseudonymised = pick(&change.pseudonymised, previous.map(|p| &p.pseudonymised));
    let removed = pick(&change.removed, previous.map(|p| &p.removed));
    let generalised = change
        .generalised
        .clone()
        .or_else(|| previous.map(|p| p.generalised.clone()))
        .unwrap_or_default();
    let minimum = lake.config.governance.min_pseudonym_distinct;
    let mut warnings = Vec::new();
    for column in info.personal_columns() {
        if removed.contains(&column) || generalised.contains_key(&column) {
            continue;
        }
        let n = distinct_values(lake, &info, &column).await?;
        if n >= minimum || n == 0 {
            continue;
        }
        let hint = format!(
            "{name}.{column} has {n} distinct values: its pseudonyms would be matched to them by frequency alone"
        );
        // Refused when this categorisation pseudonymises it; a pseudonym
        // kept from an earlier version is warned about (its data changed).
        let newly = change
            .pseudonymised
            .as_ref()
            .is_some_and(|l| l.contains(&column))
            && !previous.is_some_and(|p| p.pseudonymised.contains(&column));
        if newly {
            return Ok(Err(format!(
                "{hint}, so it cannot be pseudonymised (governance.min_pseudonym_distinct = {minimum}); remove it (--remove {column}) or generalise it (--generalise {column}=prefix:1, month, year or band:10)"
            )));
        }
        warnings.push(if pseudonymised.contains(&column) {
            format!("{hint}; remove or generalise it")
        } else {
            format!(
                "{hint} when a grant gives it without its personal columns; remove or generalise it"
            )
        });
    }
    let treated: std::collections::BTreeSet<String> = pseudonymised
        .iter()
        .chain(&removed)
        .chain(generalised.keys())
        .cloned()
        .collect();
    let columns: Vec<String> = info.columns.iter().map(|c| c.name.clone()).collect();
    warnings.extend(derivable(&columns, &treated));
    Ok(Ok(warnings))
}

pub async fn categorise(
    lake: &Lake,
    who: &Principal,
    dataset: &str,
    change: &NewCategorisation,
) -> Result<Categorised> {
    let name = DatasetName::new(dataset.to_owned())
        .map_err(|e| StewardshipError::Invalid(e.to_string()))?;
    let previous = crate::GovernanceStore::of(&lake.catalog)
        .categorisation(dataset)
        .await?;
    let refused = |why: &'static str, message: String| {
        refuse::<Categorised>(lake, who, "categorise", dataset, dataset, why, message)
    };
    let provider = match &previous {
        None => {
            let delivered = crate::GovernanceStore::of(&lake.catalog)
                .dataset_provider(dataset)
                .await?;
            match (delivered, &change.provider) {
                (Some(d), Some(named)) if *named != d => {
                    return refused(
                        "the provider named is not the one that delivers the data",
                        format!(
                            "{dataset} is delivered by {d}, not {named}: its first categorisation names {d} as the provider"
                        ),
                    )
                    .await;
                }
                (Some(d), _) => d,
                (None, Some(named)) if who.role == Role::Admin => named.clone(),
                (None, _) => {
                    return refused(
                        "no delivering provider on record",
                        format!(
                            "no provider is on record as delivering {dataset} (its source, `lagoa ingest --provider` or its contract names one): an admin makes its first categorisation and names the provider (--provider)"
                        ),
                    )
                    .await;
                }
            }
        }
        Some(p) => match &change.provider {
            Some(named) if *named != p.provider && who.role != Role::Admin => {
                return refused(
                    "only admins move a dataset to another provider",
                    format!(
                        "{dataset} is {}'s: only an admin moves it to another provider",
                        p.provider
                    ),
                )
                .await;
            }
            Some(named) => named.clone(),
            None => p.provider.clone(),
        },
    };
    let allowed =
        who.role == Role::Admin || (who.role == Role::Steward && who.institution == provider);
    if !allowed {
        return refused(
            "not a steward of the provider",
            format!(
                "{} may not categorise {dataset}: stewards of its provider ({provider}) and admins do",
                who.name
            ),
        )
        .await;
    }
    let change = NewCategorisation {
        provider: Some(provider),
        ..change.clone()
    };
    let change = &change;
    let warnings = match check_treatments(lake, &name, previous.as_ref(), change).await? {
        Ok(warnings) => warnings,
        Err(why) => {
            return refused("a treatment that does not protect", why).await;
        }
    };
    match crate::categorisation::categorise(&lake.catalog, &name, change, &who.name).await {
        Ok(c) => {
            let mut said = change.reason.clone();
            for w in &warnings {
                said.push_str(&format!(" [warning: {w}]"));
            }
            record(
                lake,
                who,
                "categorise",
                dataset,
                &format!("v{} {}", c.version, c.level),
                "ok",
                Some(&said),
            )
            .await?;
            Ok(Categorised {
                categorisation: c,
                warnings,
            })
        }
        Err(e) => {
            record(
                lake,
                who,
                "categorise",
                dataset,
                dataset,
                "denied",
                Some(&e.to_string()),
            )
            .await?;
            Err(e.into())
        }
    }
}

/// The last moment of a day written YYYY-MM-DD (23:59:59 UTC), in
/// microseconds: a request's `until`. `None` when it is not such a date.
pub fn end_of_day(date: &str) -> Option<i64> {
    let day = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    Some(day.and_hms_opt(23, 59, 59)?.and_utc().timestamp_micros())
}

pub async fn file_request(
    lake: &Lake,
    who: &Principal,
    request: &NewRequest,
) -> Result<AccessRequest> {
    let filed = crate::GovernanceStore::of(&lake.catalog)
        .file_request(
            &who.name,
            &who.institution,
            request,
            crate::categorisation::DECISION_DAYS,
        )
        .await?;
    record(
        lake,
        who,
        "request_filed",
        &request.dataset,
        &filed.request_id,
        "ok",
        None,
    )
    .await?;
    Ok(filed)
}

/// Approves (a grant follows) or denies a pending request.
pub async fn decide(
    lake: &Lake,
    who: &Principal,
    request_id: &str,
    approve: bool,
    reason: &str,
) -> Result<AccessRequest> {
    let request = crate::GovernanceStore::of(&lake.catalog)
        .request(request_id)
        .await?
        .ok_or_else(|| StewardshipError::NotFound(format!("no request {request_id}")))?;
    let action = if approve {
        "request_approved"
    } else {
        "request_denied"
    };
    // Both people, on every decision's record.
    let subject = format!(
        "{request_id} filed by {} of {}",
        request.principal, request.institution
    );
    if request.principal == who.name || request.institution == who.institution {
        return refuse(
            lake,
            who,
            action,
            &request.dataset,
            &subject,
            "one's own request",
            format!(
                "{} may not decide request {request_id}: it was filed by {} of {}, and nobody decides a request they filed or one of their own institution",
                who.name, request.principal, request.institution
            ),
        )
        .await;
    }
    if !may_decide(lake, who, &request.dataset).await? {
        return refuse(
            lake,
            who,
            action,
            &request.dataset,
            &subject,
            "not a steward of the provider",
            format!(
                "{} may not decide requests for {}: stewards of its provider institution and admins do",
                who.name, request.dataset
            ),
        )
        .await;
    }
    let decided = crate::GovernanceStore::of(&lake.catalog)
        .decide_request(request_id, approve, &who.name, reason)
        .await?;
    record(
        lake,
        who,
        action,
        &request.dataset,
        &subject,
        "ok",
        Some(reason),
    )
    .await?;
    Ok(decided)
}

pub async fn revoke_grant(
    lake: &Lake,
    who: &Principal,
    grant_id: &str,
    reason: &str,
) -> Result<Grant> {
    let grant = crate::GovernanceStore::of(&lake.catalog)
        .grants()
        .await?
        .into_iter()
        .find(|g| g.grant_id == grant_id)
        .ok_or_else(|| StewardshipError::NotFound(format!("no grant {grant_id}")))?;
    if !may_decide(lake, who, &grant.dataset).await? {
        return refuse(
            lake,
            who,
            "grant_revoked",
            &grant.dataset,
            grant_id,
            "not a steward of the provider",
            format!(
                "{} may not revoke grants on {}: stewards of its provider institution and admins do",
                who.name, grant.dataset
            ),
        )
        .await;
    }
    if !crate::GovernanceStore::of(&lake.catalog)
        .revoke_grant(grant_id, &who.name)
        .await?
    {
        return Err(StewardshipError::Invalid(format!(
            "grant {grant_id} was revoked already"
        )));
    }
    record(
        lake,
        who,
        "grant_revoked",
        &grant.dataset,
        grant_id,
        "ok",
        Some(reason),
    )
    .await?;
    Ok(grant)
}

/// The requests the principal may see.
pub async fn visible_requests(lake: &Lake, who: &Principal) -> Result<Vec<AccessRequest>> {
    let all = crate::GovernanceStore::of(&lake.catalog).requests().await?;
    visible(
        lake,
        who,
        all,
        |r| r.principal == who.name,
        |r| r.dataset.as_str(),
    )
    .await
}

/// The grants the principal may see: its own and its institution's, those
/// on datasets it decides for, all for coordinators and admins.
pub async fn visible_grants(lake: &Lake, who: &Principal) -> Result<Vec<Grant>> {
    let all = crate::GovernanceStore::of(&lake.catalog).grants().await?;
    let mine = |g: &Grant| {
        (g.grantee_kind == "principal" && g.grantee == who.name)
            || (g.grantee_kind == "institution" && g.grantee == who.institution)
    };
    visible(lake, who, all, mine, |g| g.dataset.as_str()).await
}

/// Of `all`, what the principal may see: everything for admins and
/// coordinators; otherwise its own (`mine`) and those on datasets it
/// decides for.
async fn visible<T>(
    lake: &Lake,
    who: &Principal,
    all: Vec<T>,
    mine: impl Fn(&T) -> bool,
    dataset: impl Fn(&T) -> &str,
) -> Result<Vec<T>> {
    if who.role == Role::Admin || is_coordinator(lake, who).await? {
        return Ok(all);
    }
    let mut out = Vec::new();
    for item in all {
        if mine(&item) || may_decide(lake, who, dataset(&item)).await? {
            out.push(item);
        }
    }
    Ok(out)
}

/// Checks that the principal may see `provider`'s consumption; a refusal is
/// recorded.
pub async fn may_see_consumption(lake: &Lake, who: &Principal, provider: &str) -> Result<()> {
    let allowed = who.role == Role::Admin
        || is_coordinator(lake, who).await?
        || (who.role == Role::Steward && who.institution == provider);
    if allowed {
        return Ok(());
    }
    refuse(
        lake,
        who,
        "consumption_report",
        "-",
        provider,
        "not a steward of the provider, a coordinator or an admin",
        format!(
            "{} may not see {provider}'s consumption: its stewards, coordinators and admins do",
            who.name
        ),
    )
    .await
}

/// Records that a consumption report was read.
pub async fn record_consumption_read(
    lake: &Lake,
    who: &Principal,
    provider: &str,
    month: &str,
) -> Result<()> {
    record(
        lake,
        who,
        "consumption_report",
        "-",
        &format!("{provider} {month}"),
        "ok",
        None,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::end_of_day;

    #[test]
    fn until_a_day_means_its_last_second_in_utc() {
        assert_eq!(end_of_day("2026-12-31"), Some(1_798_761_599_000_000));
        assert_eq!(end_of_day("31/12/2026"), None);
        assert_eq!(end_of_day("2026-02-30"), None);
    }
}
