//! Indicator runs: what each computation of a policy indicator read (the
//! lake snapshot and each source's last change before it), with which
//! parameters and SQL, what small-cell suppression removed, and what it
//! published at which level. This is the record of the derivation that lets
//! an indicator computed from `especial` microdata be `amplo`, and what
//! makes any published value recomputable.

use super::{Catalog, get};
use crate::error::{LakeError, Result};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;

/// One source of a run, as read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndicatorInput {
    pub dataset: String,
    pub level: String,
    /// The dataset's last change at or before the run's input snapshot.
    pub snapshot: i64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct IndicatorRun {
    pub run_id: String,
    pub indicator: String,
    /// The lake dataset its results go to (`ind_<indicator>`).
    pub dataset: String,
    /// `manual`, `after_sources`, `schedule`, `demo`.
    pub trigger: String,
    /// `running`, `committed`, `unchanged` (same inputs, parameters and
    /// SQL as the published results), `failed`.
    pub status: String,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    /// The lake snapshot every source was read at.
    pub input_snapshot: i64,
    pub inputs: Vec<IndicatorInput>,
    /// Parameter values, by name.
    pub parameters: std::collections::BTreeMap<String, String>,
    pub sql_sha256: String,
    pub min_cell: i64,
    /// The snapshot holding the results (for `unchanged`, the earlier one).
    pub output_snapshot: Option<i64>,
    pub output_level: Option<String>,
    pub cells: i64,
    pub suppressed_primary: i64,
    pub suppressed_secondary: i64,
    /// How many values wide a withheld small count had to stay.
    pub protection: i64,
    /// The narrowest range the attacker's audit left a withheld small
    /// count (`None`: nothing withheld was small, or nothing published
    /// bounds any).
    pub smallest_width: Option<i64>,
    /// The names of the counts its numerator and denominator are (shared
    /// by every indicator publishing the same count), if declared.
    pub numerator_count: Option<String>,
    pub denominator_count: Option<String>,
    /// How many years each published row adds up (`-- period:`; 1 for
    /// runs from before periods).
    pub period_years: i64,
    /// In words: from which levels to which, and through what.
    pub derivation: String,
    /// Never holds data values.
    pub error: Option<String>,
}

const COLUMNS: &str = "run_id, indicator, dataset, trigger_kind, status, started_at, ended_at, input_snapshot, inputs, parameters, sql_sha256, min_cell, output_snapshot, output_level, cells, suppressed_primary, suppressed_secondary, derivation, error, protection, smallest_width, numerator_count, denominator_count, period_years";

impl Catalog {
    /// Records an indicator run (insert or update by id).
    pub async fn save_indicator_run(&self, run: &IndicatorRun) -> Result<()> {
        let context = "recording an indicator run";
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(LakeError::catalog(context))?;
        sqlx::query("DELETE FROM lagoa_indicator_run WHERE run_id = $1")
            .bind(&run.run_id)
            .execute(&mut *tx)
            .await
            .map_err(LakeError::catalog(context))?;
        sqlx::query(&format!(
            "INSERT INTO lagoa_indicator_run ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)"
        ))
        .bind(&run.run_id)
        .bind(&run.indicator)
        .bind(&run.dataset)
        .bind(&run.trigger)
        .bind(&run.status)
        .bind(run.started_at)
        .bind(run.ended_at)
        .bind(run.input_snapshot)
        .bind(serde_json::to_string(&run.inputs).expect("plain values"))
        .bind(serde_json::to_string(&run.parameters).expect("plain values"))
        .bind(&run.sql_sha256)
        .bind(run.min_cell)
        .bind(run.output_snapshot)
        .bind(run.output_level.as_deref())
        .bind(run.cells)
        .bind(run.suppressed_primary)
        .bind(run.suppressed_secondary)
        .bind(&run.derivation)
        .bind(run.error.as_deref())
        .bind(run.protection)
        .bind(run.smallest_width)
        .bind(run.numerator_count.as_deref())
        .bind(run.denominator_count.as_deref())
        .bind(run.period_years)
        .execute(&mut *tx)
        .await
        .map_err(LakeError::catalog(context))?;
        tx.commit().await.map_err(LakeError::catalog(context))
    }

    /// Runs of one indicator (or all), newest first.
    pub async fn indicator_runs(
        &self,
        indicator: Option<&str>,
        limit: i64,
    ) -> Result<Vec<IndicatorRun>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM lagoa_indicator_run WHERE ($1 = '' OR indicator = $1) ORDER BY started_at DESC, run_id DESC LIMIT $2"
        ))
        .bind(indicator.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(LakeError::catalog("reading indicator runs"))?;
        rows.iter().map(run_from_row).collect()
    }

    pub async fn indicator_run(&self, run_id: &str) -> Result<Option<IndicatorRun>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM lagoa_indicator_run WHERE run_id = $1"
        ))
        .bind(run_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(LakeError::catalog("reading an indicator run"))?;
        row.as_ref().map(run_from_row).transpose()
    }
}

fn run_from_row(r: &AnyRow) -> Result<IndicatorRun> {
    let json = |column: &str| -> Result<String> { get(r, column) };
    Ok(IndicatorRun {
        run_id: get(r, "run_id")?,
        indicator: get(r, "indicator")?,
        dataset: get(r, "dataset")?,
        trigger: get(r, "trigger_kind")?,
        status: get(r, "status")?,
        started_at: get(r, "started_at")?,
        ended_at: get(r, "ended_at")?,
        input_snapshot: get(r, "input_snapshot")?,
        inputs: serde_json::from_str(&json("inputs")?)
            .map_err(|e| LakeError::Invalid(format!("indicator run inputs: {e}")))?,
        parameters: serde_json::from_str(&json("parameters")?)
            .map_err(|e| LakeError::Invalid(format!("indicator run parameters: {e}")))?,
        sql_sha256: get(r, "sql_sha256")?,
        min_cell: get(r, "min_cell")?,
        output_snapshot: get(r, "output_snapshot")?,
        output_level: get(r, "output_level")?,
        cells: get(r, "cells")?,
        suppressed_primary: get(r, "suppressed_primary")?,
        suppressed_secondary: get(r, "suppressed_secondary")?,
        derivation: get(r, "derivation")?,
        error: get(r, "error")?,
        protection: get(r, "protection")?,
        smallest_width: get(r, "smallest_width")?,
        numerator_count: get(r, "numerator_count")?,
        denominator_count: get(r, "denominator_count")?,
        period_years: get(r, "period_years")?,
    })
}
