//! The audit trail: who did what, when, for which purpose, to which
//! datasets and columns, with what outcome.
//!
//! Append-only and chained: entry `n` carries the MAC of entry `n - 1`,
//! and its own MAC is an HMAC-SHA256 over its sequence number, time, the
//! previous MAC and its content, under an audit key that the catalog
//! database does not hold (it is wrapped by a master key of the key
//! provider; see [`crate::Lake::audit_key`]). Whoever can edit the
//! database can still not forge a MAC, so [`Catalog::verify_audit`] finds
//! an edited entry, a deleted one (a gap, or a broken link), and an
//! inserted one. Removing the newest entries leaves a shorter but valid
//! chain: the head `lagoa audit verify` prints is the anchor to keep
//! elsewhere and check later (`--expect-head`).

use super::{Catalog, get, is_conflict};
use crate::error::{LakeError, Result};
use ring::hmac;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use zeroize::Zeroizing;

/// What is recorded: never data values, never tokens.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub principal: String,
    pub institution: String,
    /// The purpose the principal declared, if any.
    pub purpose: Option<String>,
    /// `query`, `cursor_closed` (a server-side cursor's rows handed out), `export`, `sign_in`, `token_issued`, `token_revoked`,
    /// `principal_added`, `principal_disabled`, `institution_added`,
    /// `source_triggered`, `source_paused`, `source_resumed`, ...
    pub action: String,
    pub datasets: Vec<String>,
    pub columns: Vec<String>,
    /// Grants that allowed the access.
    pub grants: Vec<String>,
    pub rows: i64,
    pub bytes: i64,
    pub duration_ms: i64,
    /// `ok`, `denied` or `error`.
    pub outcome: String,
    pub reason: Option<String>,
    /// What the action was about: a token id, a source, a principal.
    pub subject: Option<String>,
    /// How the principal signed in: `lagoa_token`, `provider_token` (an
    /// access token of the identity provider) or `provider_session` (the
    /// console, through the provider). Left out of the MAC's text when
    /// absent, so entries written before it existed still verify.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_in: Option<String>,
}

/// An entry as stored, with its place in the chain.
#[derive(Clone, Debug, Serialize)]
pub struct AuditRecord {
    pub seq: i64,
    /// Microseconds since the epoch.
    pub at: i64,
    pub entry: AuditEntry,
    pub prev_mac: String,
    pub mac: String,
}

/// The key the chain's MACs are made with.
pub struct AuditKey(Zeroizing<Vec<u8>>);

impl AuditKey {
    pub fn new(bytes: Zeroizing<Vec<u8>>) -> Self {
        AuditKey(bytes)
    }

    /// HMAC-SHA256 of `message` with the audit key, hex.
    pub(crate) fn sign(&self, message: &[u8]) -> String {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.0);
        hex::encode(hmac::sign(&key, message).as_ref())
    }

    fn mac(&self, seq: i64, at: i64, prev: &str, entry: &AuditEntry) -> Result<String> {
        let body = serde_json::to_string(entry)
            .map_err(|e| LakeError::Invalid(format!("encoding an audit entry: {e}")))?;
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.0);
        let tag = hmac::sign(&key, format!("{seq}\n{at}\n{prev}\n{body}").as_bytes());
        Ok(hex::encode(tag.as_ref()))
    }
}

/// What [`Catalog::verify_audit`] found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AuditCheck {
    pub entries: u64,
    /// The newest entry: `(seq, mac)`, the anchor to keep.
    pub head: Option<(i64, String)>,
    /// Every break found, oldest first.
    pub problems: Vec<String>,
}

/// MAC of the entry before the first.
const GENESIS: &str = "genesis";
const COLUMNS: &str = "seq, at, principal, institution, purpose, action, datasets, columns_read, grants, rows_returned, bytes_returned, duration_ms, outcome, reason, subject, prev_mac, mac, signed_in";

impl Catalog {
    /// Appends an entry at `at` (microseconds); returns its sequence number.
    pub async fn append_audit(&self, key: &AuditKey, entry: &AuditEntry, at: i64) -> Result<i64> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_append_audit(key, entry, at).await {
                Ok(seq) => return Ok(seq),
                Err(LakeError::Catalog { source, .. }) if is_conflict(&source) && attempt < 50 => {
                    // Another entry took this sequence number: chain after it.
                    tokio::time::sleep(std::time::Duration::from_millis(attempt.min(20))).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn try_append_audit(&self, key: &AuditKey, entry: &AuditEntry, at: i64) -> Result<i64> {
        let context = "appending to the audit trail";
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(LakeError::catalog(context))?;
        let last = sqlx::query("SELECT seq, mac FROM lagoa_audit ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *tx)
            .await
            .map_err(LakeError::catalog(context))?;
        let (seq, prev) = match &last {
            Some(row) => (get::<i64>(row, "seq")? + 1, get::<String>(row, "mac")?),
            None => (1, GENESIS.to_owned()),
        };
        let mac = key.mac(seq, at, &prev, entry)?;
        let list = |v: &Vec<String>| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
        sqlx::query(&format!(
            "INSERT INTO lagoa_audit ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
        ))
        .bind(seq)
        .bind(at)
        .bind(&entry.principal)
        .bind(&entry.institution)
        .bind(entry.purpose.clone())
        .bind(&entry.action)
        .bind(list(&entry.datasets))
        .bind(list(&entry.columns))
        .bind(list(&entry.grants))
        .bind(entry.rows)
        .bind(entry.bytes)
        .bind(entry.duration_ms)
        .bind(&entry.outcome)
        .bind(entry.reason.clone())
        .bind(entry.subject.clone())
        .bind(&prev)
        .bind(&mac)
        .bind(entry.signed_in.clone())
        .execute(&mut *tx)
        .await
        .map_err(LakeError::catalog(context))?;
        tx.commit().await.map_err(LakeError::catalog(context))?;
        Ok(seq)
    }

    /// Entries with `seq > after`, oldest first, at most `limit`.
    pub async fn audit_records(&self, after: i64, limit: i64) -> Result<Vec<AuditRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM lagoa_audit WHERE seq > $1 ORDER BY seq LIMIT $2"
        ))
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(LakeError::catalog("reading the audit trail"))?;
        rows.iter().map(record_from_row).collect()
    }

    /// Entries recorded in `[from, to)` (microseconds), oldest first, at
    /// most `limit` after sequence number `after`.
    pub async fn audit_between(
        &self,
        from: i64,
        to: i64,
        after: i64,
        limit: i64,
    ) -> Result<Vec<AuditRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM lagoa_audit WHERE at >= $1 AND at < $2 AND seq > $3 ORDER BY seq LIMIT $4"
        ))
        .bind(from)
        .bind(to)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(LakeError::catalog("reading the audit trail"))?;
        rows.iter().map(record_from_row).collect()
    }

    /// The newest entries, newest first.
    pub async fn latest_audit(&self, limit: i64) -> Result<Vec<AuditRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM lagoa_audit ORDER BY seq DESC LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(LakeError::catalog("reading the audit trail"))?;
        rows.iter().map(record_from_row).collect()
    }

    /// Walks the whole chain, page by page, and reports every break.
    pub async fn verify_audit(&self, key: &AuditKey) -> Result<AuditCheck> {
        let mut check = AuditCheck::default();
        let (mut last_seq, mut last_mac) = (0i64, GENESIS.to_owned());
        loop {
            let page = self.audit_records(last_seq, 10_000).await?;
            if page.is_empty() {
                break;
            }
            for r in page {
                check.entries += 1;
                if r.seq != last_seq + 1 {
                    check.problems.push(format!(
                        "entries {} to {} are missing (deleted)",
                        last_seq + 1,
                        r.seq - 1
                    ));
                } else if r.prev_mac != last_mac {
                    check.problems.push(format!(
                        "entry {} does not follow entry {} (the chain was rewritten)",
                        r.seq, last_seq
                    ));
                }
                if key.mac(r.seq, r.at, &r.prev_mac, &r.entry)? != r.mac {
                    check.problems.push(format!(
                        "entry {} was altered (its MAC does not match its content)",
                        r.seq
                    ));
                }
                last_seq = r.seq;
                last_mac = r.mac;
            }
        }
        if check.entries > 0 {
            check.head = Some((last_seq, last_mac));
        }
        Ok(check)
    }

    /// Every secret whose name starts with `prefix`: name, master key id,
    /// wrapped form and when it was stored (microseconds), by name.
    pub async fn secrets_named(&self, prefix: &str) -> Result<Vec<(String, String, String, i64)>> {
        let rows = sqlx::query(
            "SELECT name, master_key_id, wrapped, created_at FROM lagoa_secret WHERE name LIKE $1 ESCAPE '\\' ORDER BY name",
        )
        .bind(format!(
            "{}%",
            prefix
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(LakeError::catalog("reading secrets"))?;
        rows.iter()
            .map(|r| {
                Ok((
                    get(r, "name")?,
                    get(r, "master_key_id")?,
                    get(r, "wrapped")?,
                    get(r, "created_at")?,
                ))
            })
            .collect()
    }

    /// A named secret of the lake, wrapped by a master key: its wrapped
    /// form and master key id, if stored.
    pub async fn secret(&self, name: &str) -> Result<Option<(String, String)>> {
        let row = sqlx::query("SELECT master_key_id, wrapped FROM lagoa_secret WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(LakeError::catalog("reading a secret"))?;
        row.map(|r| Ok((get(&r, "master_key_id")?, get(&r, "wrapped")?)))
            .transpose()
    }

    /// Stores a wrapped secret unless one of that name exists (the first
    /// writer wins; read it back with [`Catalog::secret`]).
    pub async fn store_secret(&self, name: &str, master_key_id: &str, wrapped: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO lagoa_secret (name, master_key_id, wrapped, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(master_key_id)
        .bind(wrapped)
        .bind(super::now_micros())
        .execute(&self.pool)
        .await
        .map_err(LakeError::catalog("storing a secret"))?;
        Ok(())
    }
}

fn record_from_row(r: &AnyRow) -> Result<AuditRecord> {
    let list = |column: &str| -> Result<Vec<String>> {
        let text: String = get(r, column)?;
        serde_json::from_str(&text)
            .map_err(|e| LakeError::Invalid(format!("audit column {column}: {e}")))
    };
    Ok(AuditRecord {
        seq: get(r, "seq")?,
        at: get(r, "at")?,
        entry: AuditEntry {
            principal: get(r, "principal")?,
            institution: get(r, "institution")?,
            purpose: get(r, "purpose")?,
            action: get(r, "action")?,
            datasets: list("datasets")?,
            columns: list("columns_read")?,
            grants: list("grants")?,
            rows: get(r, "rows_returned")?,
            bytes: get(r, "bytes_returned")?,
            duration_ms: get(r, "duration_ms")?,
            outcome: get(r, "outcome")?,
            reason: get(r, "reason")?,
            subject: get(r, "subject")?,
            signed_in: get(r, "signed_in")?,
        },
        prev_mac: get(r, "prev_mac")?,
        mac: get(r, "mac")?,
    })
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(<redacted>)")
    }
}
