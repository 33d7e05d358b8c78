//! The sharing model's decisions, each made by a named principal and
//! recorded in the audit trail, whether it is allowed or refused: the one
//! place the CLI and the HTTP API both call.
//!
//! - categorising a dataset: stewards of its provider (any steward for a
//!   first categorisation), and admins;
//! - filing a request: any principal, for itself or its institution;
//! - deciding a request and revoking a grant: stewards of the dataset's
//!   provider, and admins;
//! - seeing requests: one's own, those on one's institution's datasets for
//!   its stewards, all for coordinators and admins;
//! - a provider's consumption report: its stewards, coordinators, admins.

use lagoa_core::{DatasetName, InstitutionRole, Role};
use lagoa_lake::catalog::{
    AccessRequest, AuditEntry, Categorisation, Grant, NewCategorisation, NewRequest, Principal,
};
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
        principal: who.name.clone(),
        institution: who.institution.clone(),
        action: action.to_owned(),
        datasets: vec![dataset.to_owned()],
        subject: Some(subject.to_owned()),
        outcome: outcome.to_owned(),
        reason: reason.map(str::to_owned),
        ..Default::default()
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
    Ok(lake
        .catalog
        .institution(&who.institution)
        .await?
        .is_some_and(|i| i.role == InstitutionRole::Coordinator))
}

/// Stewards of the dataset's provider, and admins, decide for it.
pub async fn may_decide(lake: &Lake, who: &Principal, dataset: &str) -> Result<bool> {
    if who.role == Role::Admin {
        return Ok(true);
    }
    let provider = lake
        .catalog
        .categorisation(dataset)
        .await?
        .map(|c| c.provider);
    Ok(who.role == Role::Steward && provider.as_deref() == Some(who.institution.as_str()))
}

pub async fn categorise(
    lake: &Lake,
    who: &Principal,
    dataset: &str,
    change: &NewCategorisation,
) -> Result<Categorisation> {
    let name = DatasetName::new(dataset.to_owned())
        .map_err(|e| StewardshipError::Invalid(e.to_string()))?;
    let first = lake.catalog.categorisation(dataset).await?.is_none();
    let allowed = who.role == Role::Admin
        || (who.role == Role::Steward && (first || may_decide(lake, who, dataset).await?));
    if !allowed {
        return refuse(
            lake,
            who,
            "categorise",
            dataset,
            dataset,
            "not a steward of the provider",
            format!(
                "{} may not categorise {dataset}: stewards of its provider institution and admins do",
                who.name
            ),
        )
        .await;
    }
    match lake.catalog.categorise(&name, change, &who.name).await {
        Ok(c) => {
            record(
                lake,
                who,
                "categorise",
                dataset,
                &format!("v{} {}", c.version, c.level),
                "ok",
                Some(&change.reason),
            )
            .await?;
            Ok(c)
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

pub async fn file_request(
    lake: &Lake,
    who: &Principal,
    request: &NewRequest,
) -> Result<AccessRequest> {
    let filed = lake
        .catalog
        .file_request(&who.name, &who.institution, request)
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
    let request = lake
        .catalog
        .request(request_id)
        .await?
        .ok_or_else(|| StewardshipError::NotFound(format!("no request {request_id}")))?;
    let action = if approve {
        "request_approved"
    } else {
        "request_denied"
    };
    if !may_decide(lake, who, &request.dataset).await? {
        return refuse(
            lake,
            who,
            action,
            &request.dataset,
            request_id,
            "not a steward of the provider",
            format!(
                "{} may not decide requests for {}: stewards of its provider institution and admins do",
                who.name, request.dataset
            ),
        )
        .await;
    }
    let decided = lake
        .catalog
        .decide_request(request_id, approve, &who.name, reason)
        .await?;
    record(
        lake,
        who,
        action,
        &request.dataset,
        request_id,
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
    let grant = lake
        .catalog
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
    if !lake.catalog.revoke_grant(grant_id, &who.name).await? {
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
    let all = lake.catalog.requests().await?;
    if who.role == Role::Admin || is_coordinator(lake, who).await? {
        return Ok(all);
    }
    let mut out = Vec::new();
    for r in all {
        let mine = r.principal == who.name;
        if mine || may_decide(lake, who, &r.dataset).await? {
            out.push(r);
        }
    }
    Ok(out)
}

/// The grants the principal may see: its own and its institution's, those
/// on datasets it decides for, all for coordinators and admins.
pub async fn visible_grants(lake: &Lake, who: &Principal) -> Result<Vec<Grant>> {
    let all = lake.catalog.grants().await?;
    if who.role == Role::Admin || is_coordinator(lake, who).await? {
        return Ok(all);
    }
    let mut out = Vec::new();
    for g in all {
        let mine = (g.grantee_kind == "principal" && g.grantee == who.name)
            || (g.grantee_kind == "institution" && g.grantee == who.institution);
        if mine || may_decide(lake, who, &g.dataset).await? {
            out.push(g);
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
