//! Institutions, principals and their API tokens.
//!
//! A token is `lagoa_<id>_<secret>`: the id names it (to list and revoke
//! it), the secret is 256 random bits. Only the SHA-256 of the whole token
//! is stored; the token itself is shown once, when it is issued, and never
//! appears in an error or a log.

use super::{GovernanceStore, get};
use base64::Engine;
use lagoa_core::{InstitutionRole, Role};
use lagoa_lake::catalog::{AuditEntry, now_micros};
use lagoa_lake::{LakeError, Result};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use zeroize::Zeroizing;

#[derive(Clone, Debug, Serialize)]
pub struct Institution {
    pub name: String,
    pub role: InstitutionRole,
    pub description: String,
    pub created_at: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Principal {
    pub name: String,
    pub institution: String,
    pub role: Role,
    /// `person` or `service`.
    pub kind: String,
    pub created_at: i64,
    pub disabled_at: Option<i64>,
    /// How this principal signed in, where it did (not stored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_in: Option<SignedIn>,
}

/// How a principal signed in, recorded with what it does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignedIn {
    /// One of Lagoa's own tokens (`lagoa token create`).
    LagoaToken,
    /// An access token of the identity provider.
    ProviderToken,
    /// The console's sign-in through the identity provider.
    ProviderSession,
}

impl SignedIn {
    pub fn as_str(self) -> &'static str {
        match self {
            SignedIn::LagoaToken => "lagoa_token",
            SignedIn::ProviderToken => "provider_token",
            SignedIn::ProviderSession => "provider_session",
        }
    }
}

impl Principal {
    /// An audit entry for `action` by this principal about `subject`, with
    /// its outcome; the other fields empty, to be set where they apply.
    pub fn audit_entry(&self, action: &str, subject: &str, outcome: &str) -> AuditEntry {
        AuditEntry {
            principal: self.name.clone(),
            institution: self.institution.clone(),
            action: action.to_owned(),
            subject: Some(subject.to_owned()),
            outcome: outcome.to_owned(),
            signed_in: self.signed_in.map(|s| s.as_str().to_owned()),
            ..Default::default()
        }
    }
}

/// A token as the catalog knows it: never the secret.
#[derive(Clone, Debug, Serialize)]
pub struct TokenInfo {
    pub token_id: String,
    pub principal: String,
    pub label: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// A token just issued: `token` is shown to its owner once and not kept.
pub struct IssuedToken {
    pub info: TokenInfo,
    pub token: Zeroizing<String>,
}

/// Why a token was refused. The messages never include the token.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the token is not a Lagoa token (expected lagoa_<id>_<secret>)")]
    Malformed,
    #[error("unknown token")]
    Unknown,
    #[error("token {token_id} expired")]
    Expired { token_id: String },
    #[error("token {token_id} was revoked")]
    Revoked { token_id: String },
    #[error("principal {principal} is disabled")]
    Disabled { principal: String },
    #[error(transparent)]
    Catalog(#[from] LakeError),
}

const TOKEN_PREFIX: &str = "lagoa_";
/// `last_used_at` is written at most this often per token (microseconds).
const LAST_USED_RESOLUTION: i64 = 60_000_000;

fn check_name(kind: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(LakeError::Invalid(format!(
            "{kind} name {name:?}: use 1 to 64 lowercase letters, digits, '.', '_', '-' or '@'"
        )))
    }
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The id part of a well-formed token.
fn token_id_of(token: &str) -> Option<&str> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let id_ok = id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit());
    (id_ok && secret.len() >= 40).then_some(id)
}

fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl GovernanceStore<'_> {
    pub async fn add_institution(
        &self,
        name: &str,
        role: InstitutionRole,
        description: &str,
    ) -> Result<Institution> {
        check_name("institution", name)?;
        if self.institution(name).await?.is_some() {
            return Err(LakeError::Invalid(format!(
                "institution {name} exists already"
            )));
        }
        let institution = Institution {
            name: name.to_owned(),
            role,
            description: description.to_owned(),
            created_at: now_micros(),
        };
        sqlx::query(
            "INSERT INTO lagoa_institution (name, role, description, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&institution.name)
        .bind(role.as_str())
        .bind(&institution.description)
        .bind(institution.created_at)
        .execute(self.pool())
        .await
        .map_err(LakeError::catalog("adding an institution"))?;
        Ok(institution)
    }

    pub async fn institution(&self, name: &str) -> Result<Option<Institution>> {
        let row = sqlx::query(
            "SELECT name, role, description, created_at FROM lagoa_institution WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(self.pool())
        .await
        .map_err(LakeError::catalog("reading institutions"))?;
        row.as_ref().map(institution_from_row).transpose()
    }

    pub async fn institutions(&self) -> Result<Vec<Institution>> {
        let rows = sqlx::query(
            "SELECT name, role, description, created_at FROM lagoa_institution ORDER BY name",
        )
        .fetch_all(self.pool())
        .await
        .map_err(LakeError::catalog("reading institutions"))?;
        rows.iter().map(institution_from_row).collect()
    }

    /// Adds a person (`service = false`) or a service account.
    pub async fn add_principal(
        &self,
        name: &str,
        institution: &str,
        role: Role,
        service: bool,
    ) -> Result<Principal> {
        check_name("principal", name)?;
        // Names the audit trail uses for no one.
        if name == "unknown" {
            return Err(LakeError::Invalid(format!(
                "principal name {name:?} is reserved"
            )));
        }
        if self.institution(institution).await?.is_none() {
            return Err(LakeError::Invalid(format!(
                "institution {institution} does not exist (add it with `lagoa institution add`)"
            )));
        }
        if self.principal(name).await?.is_some() {
            return Err(LakeError::Invalid(format!(
                "principal {name} exists already"
            )));
        }
        let principal = Principal {
            name: name.to_owned(),
            institution: institution.to_owned(),
            role,
            kind: if service { "service" } else { "person" }.to_owned(),
            created_at: now_micros(),
            disabled_at: None,
            signed_in: None,
        };
        sqlx::query(
            "INSERT INTO lagoa_principal (name, institution, role, kind, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&principal.name)
        .bind(&principal.institution)
        .bind(role.as_str())
        .bind(&principal.kind)
        .bind(principal.created_at)
        .execute(self.pool())
        .await
        .map_err(LakeError::catalog("adding a principal"))?;
        Ok(principal)
    }

    pub async fn principal(&self, name: &str) -> Result<Option<Principal>> {
        let row = sqlx::query(&format!(
            "SELECT {PRINCIPAL_COLUMNS} FROM lagoa_principal WHERE name = $1"
        ))
        .bind(name)
        .fetch_optional(self.pool())
        .await
        .map_err(LakeError::catalog("reading principals"))?;
        row.as_ref().map(principal_from_row).transpose()
    }

    pub async fn principals(&self) -> Result<Vec<Principal>> {
        let rows = sqlx::query(&format!(
            "SELECT {PRINCIPAL_COLUMNS} FROM lagoa_principal ORDER BY name"
        ))
        .fetch_all(self.pool())
        .await
        .map_err(LakeError::catalog("reading principals"))?;
        rows.iter().map(principal_from_row).collect()
    }

    /// Disables a principal: its tokens stop working at once.
    pub async fn disable_principal(&self, name: &str) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE lagoa_principal SET disabled_at = $2 WHERE name = $1 AND disabled_at IS NULL",
        )
        .bind(name)
        .bind(now_micros())
        .execute(self.pool())
        .await
        .map_err(LakeError::catalog("disabling a principal"))?
        .rows_affected();
        Ok(n == 1)
    }

    /// Issues a token for `principal`, valid until `expires_at`
    /// (microseconds; `None`: until revoked).
    pub async fn issue_token(
        &self,
        principal: &str,
        label: &str,
        expires_at: Option<i64>,
    ) -> Result<IssuedToken> {
        let Some(p) = self.principal(principal).await? else {
            return Err(LakeError::Invalid(format!(
                "principal {principal} does not exist (add it with `lagoa user add`)"
            )));
        };
        if p.disabled_at.is_some() {
            return Err(LakeError::Invalid(format!(
                "principal {principal} is disabled"
            )));
        }
        let mut id = [0u8; 6];
        let mut secret = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(&mut id);
        rand::rng().fill_bytes(secret.as_mut());
        let token_id = hex::encode(id);
        let token = Zeroizing::new(format!(
            "{TOKEN_PREFIX}{token_id}_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret.as_ref())
        ));
        let info = TokenInfo {
            token_id,
            principal: principal.to_owned(),
            label: label.to_owned(),
            created_at: now_micros(),
            expires_at,
            revoked_at: None,
            last_used_at: None,
        };
        sqlx::query(
            "INSERT INTO lagoa_token (token_id, principal, token_hash, label, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&info.token_id)
        .bind(&info.principal)
        .bind(token_hash(&token))
        .bind(&info.label)
        .bind(info.created_at)
        .bind(info.expires_at)
        .execute(self.pool())
        .await
        .map_err(LakeError::catalog("issuing a token"))?;
        Ok(IssuedToken { info, token })
    }

    /// Tokens, newest first; one principal's if given.
    pub async fn tokens(&self, principal: Option<&str>) -> Result<Vec<TokenInfo>> {
        let rows = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM lagoa_token WHERE $1 = '' OR principal = $1 ORDER BY created_at DESC"
        ))
        .bind(principal.unwrap_or(""))
        .fetch_all(self.pool())
        .await
        .map_err(LakeError::catalog("reading tokens"))?;
        rows.iter().map(token_from_row).collect()
    }

    /// Revokes a token by id; false when there is no such live token.
    pub async fn revoke_token(&self, token_id: &str) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE lagoa_token SET revoked_at = $2 WHERE token_id = $1 AND revoked_at IS NULL",
        )
        .bind(token_id)
        .bind(now_micros())
        .execute(self.pool())
        .await
        .map_err(LakeError::catalog("revoking a token"))?
        .rows_affected();
        Ok(n == 1)
    }

    /// The principal a token stands for, at `now` (microseconds).
    pub async fn authenticate(&self, token: &str, now: i64) -> Result<Principal, AuthError> {
        let token_id = token_id_of(token.trim()).ok_or(AuthError::Malformed)?;
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS}, token_hash FROM lagoa_token WHERE token_id = $1"
        ))
        .bind(token_id)
        .fetch_optional(self.pool())
        .await
        .map_err(LakeError::catalog("checking a token"))?
        .ok_or(AuthError::Unknown)?;
        let stored: String = get(&row, "token_hash")?;
        if !same(stored.as_bytes(), token_hash(token.trim()).as_bytes()) {
            return Err(AuthError::Unknown);
        }
        let info = token_from_row(&row)?;
        if info.revoked_at.is_some() {
            return Err(AuthError::Revoked {
                token_id: info.token_id,
            });
        }
        if info.expires_at.is_some_and(|e| e <= now) {
            return Err(AuthError::Expired {
                token_id: info.token_id,
            });
        }
        let principal = self
            .principal(&info.principal)
            .await?
            .ok_or(AuthError::Unknown)?;
        if principal.disabled_at.is_some() {
            return Err(AuthError::Disabled {
                principal: principal.name,
            });
        }
        if info
            .last_used_at
            .is_none_or(|t| now - t >= LAST_USED_RESOLUTION)
        {
            sqlx::query("UPDATE lagoa_token SET last_used_at = $2 WHERE token_id = $1")
                .bind(&info.token_id)
                .bind(now)
                .execute(self.pool())
                .await
                .map_err(LakeError::catalog("recording a token's use"))?;
        }
        Ok(Principal {
            signed_in: Some(SignedIn::LagoaToken),
            ..principal
        })
    }

    /// The principal a person of the identity provider is linked to, by
    /// the keyed digest of their identifier there.
    pub async fn linked_principal(&self, digest: &str) -> Result<Option<Principal>> {
        let row = sqlx::query(&format!(
            "SELECT {PRINCIPAL_COLUMNS} FROM lagoa_principal WHERE name = (SELECT principal FROM lagoa_principal_identity WHERE digest = $1)"
        ))
        .bind(digest)
        .fetch_optional(self.pool())
        .await
        .map_err(LakeError::catalog("reading linked identities"))?;
        row.as_ref().map(principal_from_row).transpose()
    }

    /// When the link `digest` names was made (microseconds), if it exists.
    pub async fn linked_at(&self, digest: &str) -> Result<Option<i64>> {
        let row = sqlx::query("SELECT linked_at FROM lagoa_principal_identity WHERE digest = $1")
            .bind(digest)
            .fetch_optional(self.pool())
            .await
            .map_err(LakeError::catalog("reading linked identities"))?;
        row.as_ref().map(|r| get(r, "linked_at")).transpose()
    }

    /// Links a person of the identity provider (the digest of their
    /// identifier) to `principal`; `by` says who decided it. A person
    /// linked to another principal stays so: unlink them first.
    pub async fn link_identity(&self, principal: &str, digest: &str, by: &str) -> Result<()> {
        match self.principal(principal).await? {
            None => {
                return Err(LakeError::Invalid(format!(
                    "principal {principal} does not exist"
                )));
            }
            Some(p) if p.kind != "person" => {
                return Err(LakeError::Invalid(format!(
                    "{principal} is a service account: only people sign in through the identity provider"
                )));
            }
            Some(_) => {}
        }
        if let Some(other) = self.linked_principal(digest).await? {
            return if other.name == principal {
                Ok(())
            } else {
                Err(LakeError::Invalid(format!(
                    "this person is linked to {} already (unlink them first)",
                    other.name
                )))
            };
        }
        sqlx::query(
            "INSERT INTO lagoa_principal_identity (digest, principal, linked_at, linked_by) VALUES ($1, $2, $3, $4)",
        )
        .bind(digest)
        .bind(principal)
        .bind(now_micros())
        .bind(by)
        .execute(self.pool())
        .await
        .map_err(LakeError::catalog("linking an identity"))?;
        Ok(())
    }

    /// Records that the console session `session_id` was signed out; it
    /// would have ended at `ends_at` (microseconds), when the record goes.
    pub async fn end_console_session(&self, session_id: &str, ends_at: i64) -> Result<()> {
        let context = "recording a sign-out";
        sqlx::query("DELETE FROM lagoa_console_signout WHERE ends_at < $1")
            .bind(now_micros())
            .execute(self.pool())
            .await
            .map_err(LakeError::catalog(context))?;
        sqlx::query(
            "INSERT INTO lagoa_console_signout (session_id, ends_at) VALUES ($1, $2) ON CONFLICT (session_id) DO NOTHING",
        )
        .bind(session_id)
        .bind(ends_at)
        .execute(self.pool())
        .await
        .map_err(LakeError::catalog(context))?;
        Ok(())
    }

    /// Ends every session and connection `principal` opened through the
    /// identity provider before `at` (microseconds).
    pub async fn sign_out_everywhere(&self, principal: &str, at: i64) -> Result<()> {
        let context = "signing a principal out everywhere";
        sqlx::query("DELETE FROM lagoa_principal_signout WHERE principal = $1")
            .bind(principal)
            .execute(self.pool())
            .await
            .map_err(LakeError::catalog(context))?;
        sqlx::query("INSERT INTO lagoa_principal_signout (principal, after) VALUES ($1, $2)")
            .bind(principal)
            .bind(at)
            .execute(self.pool())
            .await
            .map_err(LakeError::catalog(context))?;
        Ok(())
    }

    /// When `principal` was last signed out everywhere (microseconds).
    pub async fn signed_out_after(&self, principal: &str) -> Result<Option<i64>> {
        let row = sqlx::query("SELECT after FROM lagoa_principal_signout WHERE principal = $1")
            .bind(principal)
            .fetch_optional(self.pool())
            .await
            .map_err(LakeError::catalog("reading sign-outs"))?;
        row.as_ref().map(|r| get(r, "after")).transpose()
    }

    /// Whether the console session `session_id` was signed out.
    pub async fn console_session_ended(&self, session_id: &str) -> Result<bool> {
        Ok(
            sqlx::query("SELECT 1 AS one FROM lagoa_console_signout WHERE session_id = $1")
                .bind(session_id)
                .fetch_optional(self.pool())
                .await
                .map_err(LakeError::catalog("reading sign-outs"))?
                .is_some(),
        )
    }

    /// Removes a principal made a moment ago (its first sign-in could not
    /// be recorded): its links and itself; it has no tokens or grants yet.
    /// Only the principal made at `created_at` goes (not one another
    /// sign-in made meanwhile under the same name).
    pub async fn forget_new_principal(&self, name: &str, created_at: i64) -> Result<()> {
        for sql in [
            "DELETE FROM lagoa_principal_identity WHERE principal = $1 AND EXISTS (SELECT 1 FROM lagoa_principal WHERE name = $1 AND created_at = $2)",
            "DELETE FROM lagoa_principal WHERE name = $1 AND created_at = $2",
        ] {
            sqlx::query(sql)
                .bind(name)
                .bind(created_at)
                .execute(self.pool())
                .await
                .map_err(LakeError::catalog("undoing a new principal"))?;
        }
        Ok(())
    }

    /// Removes every link of `principal` to the identity provider; how many.
    pub async fn unlink_identities(&self, principal: &str) -> Result<u64> {
        Ok(
            sqlx::query("DELETE FROM lagoa_principal_identity WHERE principal = $1")
                .bind(principal)
                .execute(self.pool())
                .await
                .map_err(LakeError::catalog("unlinking identities"))?
                .rows_affected(),
        )
    }
}

const PRINCIPAL_COLUMNS: &str = "name, institution, role, kind, created_at, disabled_at";
const TOKEN_COLUMNS: &str =
    "token_id, principal, label, created_at, expires_at, revoked_at, last_used_at";

fn institution_from_row(r: &AnyRow) -> Result<Institution> {
    let role: String = get(r, "role")?;
    Ok(Institution {
        name: get(r, "name")?,
        role: role
            .parse()
            .map_err(|e| LakeError::Invalid(format!("catalog holds {e}")))?,
        description: get(r, "description")?,
        created_at: get(r, "created_at")?,
    })
}

fn principal_from_row(r: &AnyRow) -> Result<Principal> {
    let role: String = get(r, "role")?;
    Ok(Principal {
        name: get(r, "name")?,
        institution: get(r, "institution")?,
        role: role
            .parse()
            .map_err(|e| LakeError::Invalid(format!("catalog holds {e}")))?,
        kind: get(r, "kind")?,
        created_at: get(r, "created_at")?,
        disabled_at: get(r, "disabled_at")?,
        signed_in: None,
    })
}

fn token_from_row(r: &AnyRow) -> Result<TokenInfo> {
    Ok(TokenInfo {
        token_id: get(r, "token_id")?,
        principal: get(r, "principal")?,
        label: get(r, "label")?,
        created_at: get(r, "created_at")?,
        expires_at: get(r, "expires_at")?,
        revoked_at: get(r, "revoked_at")?,
        last_used_at: get(r, "last_used_at")?,
    })
}

/// The token's record, never the token.
impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("info", &self.info)
            .field("token", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_tokens_have_an_id() {
        let good = format!("lagoa_0123456789ab_{}", "x".repeat(43));
        assert_eq!(token_id_of(&good), Some("0123456789ab"));
        assert_eq!(token_id_of("lagoa_0123456789ab_short"), None);
        assert_eq!(
            token_id_of(&format!("other_0123456789ab_{}", "x".repeat(43))),
            None
        );
        assert_eq!(
            token_id_of(&format!("lagoa_0123456789zz_{}", "x".repeat(43))),
            None
        );
        assert!(same(b"abc", b"abc") && !same(b"abc", b"abd") && !same(b"ab", b"abc"));
    }
}
