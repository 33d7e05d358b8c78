//! The sharing model in the catalog: each dataset's categorisation
//! (versioned: level, provider, justification, conditions, restrictions,
//! who changed it, when and why), consumers' requests for datasets, and the
//! grants approved requests become.
//!
//! `especial` data is read only through a grant; a grant comes only from
//! an approved request, decided by a steward of the dataset's provider
//! within the deadline (the decree gives 30 days).

use super::{GovernanceStore, get};
use lagoa_core::{DatasetName, Generalisation, SharingLevel};
use lagoa_lake::catalog::now_micros;
use lagoa_lake::{AsOf, LakeError, Result};
use serde::Serialize;
use sqlx::any::AnyRow;
use std::collections::BTreeMap;

const DAY_MICROS: i64 = 86_400_000_000;

/// One version of a dataset's categorisation.
#[derive(Clone, Debug, Serialize)]
pub struct Categorisation {
    pub dataset: String,
    pub version: i64,
    pub level: SharingLevel,
    /// The institution that delivers the dataset (decides its requests).
    pub provider: String,
    pub justification: String,
    pub conditions: String,
    pub restrictions: String,
    /// Personal columns served only as their pseudonyms at this level.
    pub pseudonymised: Vec<String>,
    /// Personal columns no reader sees at this level (but through a grant
    /// that gives them in clear).
    pub removed: Vec<String>,
    /// Personal columns served coarser (a month, an age band, a code's
    /// prefix) instead of as pseudonyms.
    pub generalised: BTreeMap<String, Generalisation>,
    pub changed_by: String,
    pub changed_at: i64,
    pub reason: String,
    pub snapshot_id: i64,
}

/// What a categorisation does with personal columns, besides pseudonyms.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Treatments {
    pub removed: Vec<String>,
    pub generalised: BTreeMap<String, Generalisation>,
}

/// What a steward sets.
#[derive(Clone, Debug, Default)]
pub struct NewCategorisation {
    pub level: Option<SharingLevel>,
    pub provider: Option<String>,
    pub justification: Option<String>,
    pub conditions: Option<String>,
    pub restrictions: Option<String>,
    /// `None` keeps what the previous version said.
    pub pseudonymised: Option<Vec<String>>,
    pub removed: Option<Vec<String>>,
    pub generalised: Option<BTreeMap<String, Generalisation>>,
    pub reason: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct AccessRequest {
    pub request_id: String,
    pub dataset: String,
    /// Columns asked for; empty: every column the level allows.
    pub columns: Vec<String>,
    /// The dataset's personal columns are asked for in clear.
    pub personal: bool,
    pub principal: String,
    pub institution: String,
    pub purpose: String,
    pub legal_basis: String,
    /// Access until (microseconds); `None`: until revoked.
    pub until: Option<i64>,
    /// `pending`, `approved`, `denied`.
    pub status: String,
    pub filed_at: i64,
    pub deadline_at: i64,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub decision_reason: Option<String>,
    pub grant_id: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Grant {
    pub grant_id: String,
    pub request_id: String,
    pub dataset: String,
    /// `principal` or `institution`.
    pub grantee_kind: String,
    pub grantee: String,
    pub columns: Vec<String>,
    pub personal: bool,
    pub purpose: String,
    pub legal_basis: String,
    pub expires_at: Option<i64>,
    pub granted_by: String,
    pub granted_at: i64,
    pub revoked_at: Option<i64>,
    pub revoked_by: Option<String>,
}

impl Grant {
    /// In force at `now` (microseconds).
    pub fn live(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }
}

/// A request as filed.
#[derive(Clone, Debug, Default)]
pub struct NewRequest {
    pub dataset: String,
    pub columns: Vec<String>,
    pub personal: bool,
    /// Grant it to the whole institution rather than the principal.
    pub for_institution: bool,
    pub purpose: String,
    pub legal_basis: String,
    pub until: Option<i64>,
}

fn json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn parse_list(r: &AnyRow, column: &str) -> Result<Vec<String>> {
    let text: String = get(r, column)?;
    serde_json::from_str(&text).map_err(|e| LakeError::Invalid(format!("{column}: {e}")))
}

const CATEGORISATION_COLUMNS: &str = "dataset, version, level, provider, justification, conditions, restrictions, changed_by, changed_at, reason, snapshot_id, pseudonymised, removed, generalised";
const REQUEST_COLUMNS: &str = "request_id, dataset, columns_asked, personal, principal, institution, for_institution, purpose, legal_basis, until_at, status, filed_at, deadline_at, decided_by, decided_at, decision_reason, grant_id";
const GRANT_COLUMNS: &str = "grant_id, request_id, dataset, grantee_kind, grantee, columns_granted, personal, purpose, legal_basis, expires_at, granted_by, granted_at, revoked_at, revoked_by";

impl GovernanceStore<'_> {
    /// The categorisation in force (the newest version), if any was set.
    pub async fn categorisation(&self, dataset: &str) -> Result<Option<Categorisation>> {
        Ok(self.categorisations(dataset).await?.into_iter().last())
    }

    /// The personal columns each dataset's categorisation in force removes.
    pub async fn removed_columns(&self) -> Result<std::collections::HashMap<String, Vec<String>>> {
        Ok(self
            .treatments()
            .await?
            .into_iter()
            .map(|(d, t)| (d, t.removed))
            .collect())
    }

    /// What the categorisation in force of each dataset does with its
    /// personal columns.
    pub async fn treatments(&self) -> Result<std::collections::HashMap<String, Treatments>> {
        let rows = sqlx::query(
            "SELECT c.dataset, c.removed, c.generalised FROM lagoa_categorisation c
             WHERE c.version = (SELECT max(v.version) FROM lagoa_categorisation v WHERE v.dataset = c.dataset)",
        )
        .fetch_all(self.pool())
        .await
        .map_err(LakeError::catalog("reading categorisations"))?;
        rows.iter()
            .map(|r| {
                let generalised: String = get(r, "generalised")?;
                Ok((
                    get(r, "dataset")?,
                    Treatments {
                        removed: parse_list(r, "removed")?,
                        generalised: serde_json::from_str(&generalised).map_err(|e| {
                            LakeError::Invalid(format!("catalog holds a bad generalisation: {e}"))
                        })?,
                    },
                ))
            })
            .collect()
    }

    /// Every version of a dataset's categorisation, oldest first.
    pub async fn categorisations(&self, dataset: &str) -> Result<Vec<Categorisation>> {
        let rows = sqlx::query(&format!(
            "SELECT {CATEGORISATION_COLUMNS} FROM lagoa_categorisation WHERE dataset = $1 ORDER BY version"
        ))
        .bind(dataset)
        .fetch_all(self.pool())
        .await
        .map_err(LakeError::catalog("reading categorisations"))?;
        rows.iter().map(categorisation_from_row).collect()
    }

    /// The institution that delivers `dataset`, as its deliveries named it.
    pub async fn dataset_provider(&self, dataset: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT provider FROM lagoa_dataset_provider WHERE dataset = $1")
            .bind(dataset)
            .fetch_optional(self.pool())
            .await
            .map_err(LakeError::catalog("reading a dataset's provider"))?;
        row.map(|r| get(&r, "provider")).transpose()
    }

    /// Records that `provider` delivers `dataset` (from `named_from`: a
    /// source, a contract, a command), unless it is recorded already; a
    /// delivery naming another provider is refused: a dataset has one.
    pub async fn name_provider(
        &self,
        dataset: &str,
        provider: &str,
        named_from: &str,
    ) -> Result<()> {
        if let Some(known) = self.dataset_provider(dataset).await? {
            if known == provider {
                return Ok(());
            }
            return Err(LakeError::Invalid(format!(
                "dataset {dataset} is delivered by institution {known}; this delivery names {provider} (one provider per dataset: deliver it as another dataset, or ask an admin)"
            )));
        }
        if self.institution(provider).await?.is_none() {
            return Err(LakeError::Invalid(format!(
                "institution {provider}, named as the provider of {dataset}, does not exist (add it with `lagoa institution add`)"
            )));
        }
        sqlx::query(
            "INSERT INTO lagoa_dataset_provider (dataset, provider, named_from, named_at) VALUES ($1, $2, $3, $4) ON CONFLICT (dataset) DO NOTHING",
        )
        .bind(dataset)
        .bind(provider)
        .bind(named_from)
        .bind(now_micros())
        .execute(self.pool())
        .await
        .map_err(LakeError::catalog("recording a dataset's provider"))?;
        // Another process may have named another one first.
        match self.dataset_provider(dataset).await? {
            Some(known) if known != provider => Err(LakeError::Invalid(format!(
                "dataset {dataset} is delivered by institution {known}; this delivery names {provider}"
            ))),
            _ => Ok(()),
        }
    }

    /// Records a version of a dataset's categorisation, decided by
    /// [`crate::categorisation`], in the snapshot of the dataset's level
    /// change: both land in one transaction, or neither.
    pub async fn record_categorisation(
        &self,
        mut record: Categorisation,
    ) -> Result<Categorisation> {
        let name = DatasetName::new(record.dataset.clone())
            .map_err(|e| LakeError::Invalid(e.to_string()))?;
        let context = "recording a categorisation";
        let (mut tx, snapshot) = self
            .catalog
            .begin_level_change(&name, record.level, &record.changed_by)
            .await?;
        record.changed_at = now_micros();
        record.snapshot_id = snapshot;
        sqlx::query(&format!(
            "INSERT INTO lagoa_categorisation ({CATEGORISATION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        ))
        .bind(&record.dataset)
        .bind(record.version)
        .bind(record.level.as_str())
        .bind(&record.provider)
        .bind(&record.justification)
        .bind(&record.conditions)
        .bind(&record.restrictions)
        .bind(&record.changed_by)
        .bind(record.changed_at)
        .bind(&record.reason)
        .bind(record.snapshot_id)
        .bind(serde_json::to_string(&record.pseudonymised).expect("a list of names"))
        .bind(serde_json::to_string(&record.removed).expect("a list of names"))
        .bind(serde_json::to_string(&record.generalised).expect("a map of names"))
        .execute(&mut *tx)
        .await
        .map_err(LakeError::catalog(context))?;
        tx.commit().await.map_err(LakeError::catalog(context))?;
        Ok(record)
    }

    /// Files a request for `principal` of `institution`, to be decided
    /// within `decision_days` (governance's rule).
    pub async fn file_request(
        &self,
        principal: &str,
        institution: &str,
        request: &NewRequest,
        decision_days: i64,
    ) -> Result<AccessRequest> {
        let name = DatasetName::new(request.dataset.clone())
            .map_err(|e| LakeError::Invalid(e.to_string()))?;
        let latest = self.catalog.resolve(&AsOf::Latest).await?;
        let info = self
            .catalog
            .dataset(&name, latest)
            .await?
            .ok_or_else(|| LakeError::UnknownDataset(name.to_string()))?;
        let unknown: Vec<&String> = request
            .columns
            .iter()
            .filter(|c| !info.columns.iter().any(|d| &d.name == *c))
            .collect();
        if !unknown.is_empty() {
            return Err(LakeError::Invalid(format!(
                "dataset {name} has no column {}",
                unknown
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        if request.purpose.trim().is_empty() || request.legal_basis.trim().is_empty() {
            return Err(LakeError::Invalid(
                "a request states its purpose and its legal basis".into(),
            ));
        }
        if self.categorisation(name.as_str()).await?.is_none() {
            return Err(LakeError::Invalid(format!(
                "dataset {name} has no provider on record yet; its steward must categorise it first (`lagoa dataset categorise`)"
            )));
        }
        let now = now_micros();
        let record = AccessRequest {
            request_id: uuid::Uuid::now_v7().to_string(),
            dataset: name.to_string(),
            columns: request.columns.clone(),
            personal: request.personal,
            principal: principal.to_owned(),
            institution: institution.to_owned(),
            purpose: request.purpose.clone(),
            legal_basis: request.legal_basis.clone(),
            until: request.until,
            status: "pending".into(),
            filed_at: now,
            deadline_at: now + decision_days * DAY_MICROS,
            decided_by: None,
            decided_at: None,
            decision_reason: None,
            grant_id: None,
        };
        sqlx::query(&format!(
            "INSERT INTO lagoa_request ({REQUEST_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, NULL, NULL, NULL, NULL)"
        ))
        .bind(&record.request_id)
        .bind(&record.dataset)
        .bind(json_list(&record.columns))
        .bind(i64::from(record.personal))
        .bind(&record.principal)
        .bind(&record.institution)
        .bind(i64::from(request.for_institution))
        .bind(&record.purpose)
        .bind(&record.legal_basis)
        .bind(record.until)
        .bind(&record.status)
        .bind(record.filed_at)
        .bind(record.deadline_at)
        .execute(self.pool())
        .await
        .map_err(LakeError::catalog("filing a request"))?;
        Ok(record)
    }

    pub async fn request(&self, request_id: &str) -> Result<Option<AccessRequest>> {
        let row = sqlx::query(&format!(
            "SELECT {REQUEST_COLUMNS} FROM lagoa_request WHERE request_id = $1"
        ))
        .bind(request_id)
        .fetch_optional(self.pool())
        .await
        .map_err(LakeError::catalog("reading requests"))?;
        row.as_ref().map(request_from_row).transpose()
    }

    /// Requests, newest first.
    pub async fn requests(&self) -> Result<Vec<AccessRequest>> {
        let rows = sqlx::query(&format!(
            "SELECT {REQUEST_COLUMNS} FROM lagoa_request ORDER BY filed_at DESC"
        ))
        .fetch_all(self.pool())
        .await
        .map_err(LakeError::catalog("reading requests"))?;
        rows.iter().map(request_from_row).collect()
    }

    /// Decides a pending request. Approval creates its grant, for the
    /// principal or (if asked) its institution. The caller checks that
    /// `by` may decide (a steward of the provider, or an admin).
    pub async fn decide_request(
        &self,
        request_id: &str,
        approve: bool,
        by: &str,
        reason: &str,
    ) -> Result<AccessRequest> {
        if reason.trim().is_empty() {
            return Err(LakeError::Invalid("a decision states its reason".into()));
        }
        let context = "deciding a request";
        let mut tx = self
            .pool()
            .begin()
            .await
            .map_err(LakeError::catalog(context))?;
        let row = sqlx::query(&format!(
            "SELECT {REQUEST_COLUMNS} FROM lagoa_request WHERE request_id = $1"
        ))
        .bind(request_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(LakeError::catalog(context))?
        .ok_or_else(|| LakeError::Invalid(format!("no request {request_id}")))?;
        let request = request_from_row(&row)?;
        let for_institution = get::<i64>(&row, "for_institution")? != 0;
        if request.status != "pending" {
            return Err(LakeError::Invalid(format!(
                "request {request_id} was {} already",
                request.status
            )));
        }
        let now = now_micros();
        let grant_id = approve.then(|| uuid::Uuid::now_v7().to_string());
        let n = sqlx::query(
            "UPDATE lagoa_request SET status = $2, decided_by = $3, decided_at = $4, decision_reason = $5, grant_id = $6 WHERE request_id = $1 AND status = 'pending'",
        )
        .bind(request_id)
        .bind(if approve { "approved" } else { "denied" })
        .bind(by)
        .bind(now)
        .bind(reason)
        .bind(grant_id.clone())
        .execute(&mut *tx)
        .await
        .map_err(LakeError::catalog(context))?
        .rows_affected();
        if n != 1 {
            return Err(LakeError::Invalid(format!(
                "request {request_id} was decided meanwhile"
            )));
        }
        if let Some(grant_id) = &grant_id {
            let (kind, grantee) = if for_institution {
                ("institution", request.institution.clone())
            } else {
                ("principal", request.principal.clone())
            };
            sqlx::query(&format!(
                "INSERT INTO lagoa_grant ({GRANT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, NULL, NULL)"
            ))
            .bind(grant_id)
            .bind(request_id)
            .bind(&request.dataset)
            .bind(kind)
            .bind(grantee)
            .bind(json_list(&request.columns))
            .bind(i64::from(request.personal))
            .bind(&request.purpose)
            .bind(&request.legal_basis)
            .bind(request.until)
            .bind(by)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(LakeError::catalog(context))?;
        }
        tx.commit().await.map_err(LakeError::catalog(context))?;
        self.request(request_id)
            .await?
            .ok_or_else(|| LakeError::Invalid(format!("request {request_id} vanished")))
    }

    /// Every grant, newest first.
    pub async fn grants(&self) -> Result<Vec<Grant>> {
        let rows = sqlx::query(&format!(
            "SELECT {GRANT_COLUMNS} FROM lagoa_grant ORDER BY granted_at DESC"
        ))
        .fetch_all(self.pool())
        .await
        .map_err(LakeError::catalog("reading grants"))?;
        rows.iter().map(grant_from_row).collect()
    }

    /// Grants in force at `now` for a principal, directly or through its
    /// institution.
    pub async fn live_grants(
        &self,
        principal: &str,
        institution: &str,
        now: i64,
    ) -> Result<Vec<Grant>> {
        let rows = sqlx::query(&format!(
            "SELECT {GRANT_COLUMNS} FROM lagoa_grant WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $3) \
             AND ((grantee_kind = 'principal' AND grantee = $1) OR (grantee_kind = 'institution' AND grantee = $2))"
        ))
        .bind(principal)
        .bind(institution)
        .bind(now)
        .fetch_all(self.pool())
        .await
        .map_err(LakeError::catalog("reading grants"))?;
        rows.iter().map(grant_from_row).collect()
    }

    /// Revokes a grant; it stops working on the next query.
    pub async fn revoke_grant(&self, grant_id: &str, by: &str) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE lagoa_grant SET revoked_at = $2, revoked_by = $3 WHERE grant_id = $1 AND revoked_at IS NULL",
        )
        .bind(grant_id)
        .bind(now_micros())
        .bind(by)
        .execute(self.pool())
        .await
        .map_err(LakeError::catalog("revoking a grant"))?
        .rows_affected();
        Ok(n == 1)
    }
}

fn categorisation_from_row(r: &AnyRow) -> Result<Categorisation> {
    let level: String = get(r, "level")?;
    Ok(Categorisation {
        dataset: get(r, "dataset")?,
        version: get(r, "version")?,
        level: level
            .parse()
            .map_err(|e| LakeError::Invalid(format!("catalog holds {e}")))?,
        provider: get(r, "provider")?,
        justification: get(r, "justification")?,
        conditions: get(r, "conditions")?,
        restrictions: get(r, "restrictions")?,
        pseudonymised: parse_list(r, "pseudonymised")?,
        removed: parse_list(r, "removed")?,
        generalised: {
            let text: String = get(r, "generalised")?;
            serde_json::from_str(&text).map_err(|e| {
                LakeError::Invalid(format!("catalog holds a bad generalisation: {e}"))
            })?
        },
        changed_by: get(r, "changed_by")?,
        changed_at: get(r, "changed_at")?,
        reason: get(r, "reason")?,
        snapshot_id: get(r, "snapshot_id")?,
    })
}

fn request_from_row(r: &AnyRow) -> Result<AccessRequest> {
    Ok(AccessRequest {
        request_id: get(r, "request_id")?,
        dataset: get(r, "dataset")?,
        columns: parse_list(r, "columns_asked")?,
        personal: get::<i64>(r, "personal")? != 0,
        principal: get(r, "principal")?,
        institution: get(r, "institution")?,
        purpose: get(r, "purpose")?,
        legal_basis: get(r, "legal_basis")?,
        until: get(r, "until_at")?,
        status: get(r, "status")?,
        filed_at: get(r, "filed_at")?,
        deadline_at: get(r, "deadline_at")?,
        decided_by: get(r, "decided_by")?,
        decided_at: get(r, "decided_at")?,
        decision_reason: get(r, "decision_reason")?,
        grant_id: get(r, "grant_id")?,
    })
}

fn grant_from_row(r: &AnyRow) -> Result<Grant> {
    Ok(Grant {
        grant_id: get(r, "grant_id")?,
        request_id: get(r, "request_id")?,
        dataset: get(r, "dataset")?,
        grantee_kind: get(r, "grantee_kind")?,
        grantee: get(r, "grantee")?,
        columns: parse_list(r, "columns_granted")?,
        personal: get::<i64>(r, "personal")? != 0,
        purpose: get(r, "purpose")?,
        legal_basis: get(r, "legal_basis")?,
        expires_at: get(r, "expires_at")?,
        granted_by: get(r, "granted_by")?,
        granted_at: get(r, "granted_at")?,
        revoked_at: get(r, "revoked_at")?,
        revoked_by: get(r, "revoked_by")?,
    })
}
