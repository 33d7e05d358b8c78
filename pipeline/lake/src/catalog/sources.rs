//! What the daemon keeps per configured source: paused or not, who holds
//! its lease, and the last scheduled firing claimed. The lease lives in the
//! catalog database, so daemons sharing a PostgreSQL catalog never run one
//! source at once, and a crashed daemon's lease simply expires.

use super::{Catalog, get};
use crate::error::{LakeError, Result};
use serde::Serialize;
use sqlx::any::AnyRow;

#[derive(Clone, Debug, Default, Serialize)]
pub struct SourceState {
    pub source: String,
    pub paused: bool,
    pub lease_owner: Option<String>,
    /// Microseconds since the epoch.
    pub lease_until: Option<i64>,
    /// The last scheduled firing a daemon claimed (microseconds).
    pub last_fire_at: Option<i64>,
    pub updated_at: i64,
    /// Who last paused or resumed it.
    pub updated_by: Option<String>,
}

/// What became of an attempt to claim a run of a source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The lease is ours. `abandoned_by`: a daemon whose lease had
    /// expired (it stopped during a run).
    Taken {
        abandoned_by: Option<String>,
    },
    /// This firing was claimed already (by another daemon).
    AlreadyClaimed,
    /// Another run of the source holds the lease.
    Busy {
        owner: String,
    },
    Paused,
}

const STATE_COLUMNS: &str =
    "source, paused, lease_owner, lease_until, last_fire_at, updated_at, updated_by";

impl Catalog {
    async fn ensure_source(&self, source: &str, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO lagoa_source (source, paused, updated_at) VALUES ($1, 0, $2) ON CONFLICT (source) DO NOTHING",
        )
        .bind(source)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(LakeError::catalog("recording a source"))?;
        Ok(())
    }

    pub async fn source_state(&self, source: &str) -> Result<Option<SourceState>> {
        let row = sqlx::query(&format!(
            "SELECT {STATE_COLUMNS} FROM lagoa_source WHERE source = $1"
        ))
        .bind(source)
        .fetch_optional(&self.pool)
        .await
        .map_err(LakeError::catalog("reading a source's state"))?;
        row.as_ref().map(state_from_row).transpose()
    }

    pub async fn source_states(&self) -> Result<Vec<SourceState>> {
        let rows = sqlx::query(&format!(
            "SELECT {STATE_COLUMNS} FROM lagoa_source ORDER BY source"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(LakeError::catalog("reading the sources' state"))?;
        rows.iter().map(state_from_row).collect()
    }

    /// Claims a run of `source`: takes its lease until `lease_until` when
    /// it is free, expired at `now`, or already `owner`'s (a release that
    /// failed while the catalog was unreachable). With `fire_at` (a scheduled firing)
    /// the claim also requires that the source is not paused and that no
    /// daemon claimed that firing yet, and records it: each firing runs once
    /// whichever daemons see it. Without (a run by hand), a paused source
    /// runs all the same.
    pub async fn claim_source(
        &self,
        source: &str,
        owner: &str,
        fire_at: Option<i64>,
        lease_until: i64,
        now: i64,
    ) -> Result<Claim> {
        self.ensure_source(source, now).await?;
        let before = self.source_state(source).await?.unwrap_or_default();
        let claimed = sqlx::query(
            "UPDATE lagoa_source SET lease_owner = $2, lease_until = $3, \
             last_fire_at = CASE WHEN $4 < 0 THEN last_fire_at ELSE $4 END, updated_at = $5 \
             WHERE source = $1 AND (paused = 0 OR $4 < 0) \
             AND (lease_owner IS NULL OR lease_until < $5 OR lease_owner = $2) \
             AND ($4 < 0 OR last_fire_at IS NULL OR last_fire_at < $4)",
        )
        .bind(source)
        .bind(owner)
        .bind(lease_until)
        .bind(fire_at.unwrap_or(-1))
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(LakeError::catalog("claiming a source"))?
        .rows_affected();
        if claimed == 1 {
            let abandoned_by = before
                .lease_owner
                .filter(|o| o != owner && before.lease_until.is_some_and(|u| u < now));
            return Ok(Claim::Taken { abandoned_by });
        }
        let after = self.source_state(source).await?.unwrap_or_default();
        Ok(if after.paused && fire_at.is_some() {
            Claim::Paused
        } else if fire_at.is_some_and(|f| after.last_fire_at.is_some_and(|l| l >= f)) {
            Claim::AlreadyClaimed
        } else {
            Claim::Busy {
                owner: after.lease_owner.unwrap_or_default(),
            }
        })
    }

    /// Extends a lease we hold; false when it is no longer ours.
    pub async fn renew_lease(&self, source: &str, owner: &str, lease_until: i64) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE lagoa_source SET lease_until = $3 WHERE source = $1 AND lease_owner = $2",
        )
        .bind(source)
        .bind(owner)
        .bind(lease_until)
        .execute(&self.pool)
        .await
        .map_err(LakeError::catalog("renewing a lease"))?
        .rows_affected();
        Ok(n == 1)
    }

    pub async fn release_lease(&self, source: &str, owner: &str) -> Result<()> {
        sqlx::query(
            "UPDATE lagoa_source SET lease_owner = NULL, lease_until = NULL WHERE source = $1 AND lease_owner = $2",
        )
        .bind(source)
        .bind(owner)
        .execute(&self.pool)
        .await
        .map_err(LakeError::catalog("releasing a lease"))?;
        Ok(())
    }

    /// Pauses or resumes scheduled runs of a source; `by` names who did.
    pub async fn set_paused(&self, source: &str, paused: bool, by: &str, now: i64) -> Result<()> {
        self.ensure_source(source, now).await?;
        sqlx::query(
            "UPDATE lagoa_source SET paused = $2, updated_at = $3, updated_by = $4 WHERE source = $1",
        )
        .bind(source)
        .bind(i64::from(paused))
        .bind(now)
        .bind(by)
            .execute(&self.pool)
            .await
            .map_err(LakeError::catalog("pausing a source"))?;
        Ok(())
    }

    /// Marks the source's runs still `running` that began before `before`
    /// as failed (a daemon stopped during them, or they timed out): their
    /// files never became visible.
    pub async fn fail_unfinished_runs(
        &self,
        source: &str,
        before: i64,
        error: &str,
        error_class: &str,
        now: i64,
    ) -> Result<u64> {
        let n = sqlx::query(
            "UPDATE lagoa_run SET status = 'failed', error = $3, error_class = $4, ended_at = $5 \
             WHERE source = $1 AND status = 'running' AND started_at <= $2",
        )
        .bind(source)
        .bind(before)
        .bind(error)
        .bind(error_class)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(LakeError::catalog("closing unfinished runs"))?
        .rows_affected();
        sqlx::query(
            "DELETE FROM lagoa_run_holder WHERE run_id NOT IN (SELECT run_id FROM lagoa_run WHERE status = 'running')",
        )
        .execute(&self.pool)
        .await
        .map_err(LakeError::catalog("closing unfinished runs"))?;
        Ok(n)
    }
}

fn state_from_row(r: &AnyRow) -> Result<SourceState> {
    Ok(SourceState {
        source: get(r, "source")?,
        paused: get::<i64>(r, "paused")? != 0,
        lease_owner: get(r, "lease_owner")?,
        lease_until: get(r, "lease_until")?,
        last_fire_at: get(r, "last_fire_at")?,
        updated_at: get(r, "updated_at")?,
        updated_by: get(r, "updated_by")?,
    })
}
