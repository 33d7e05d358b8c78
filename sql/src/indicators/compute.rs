//! One run of an indicator: read its sources at one lake snapshot, run its
//! SQL, suppress small cells, write the published cells as the lake table
//! `ind_<name>` (a new snapshot: the history), and record the run with its
//! inputs and derivation. `verify` recomputes a past run from its inputs
//! and compares.

use super::counts::Shape;
use super::definition::{Indicator, results_dataset};
use super::suppress::{Cell, Known, Protection, Published, Summary, WITHHELD, publish};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use lagoa_core::{DatasetName, SharingLevel};
use lagoa_lake::catalog::model::{ColumnDef, CommitOutcome, CommitRequest, DatasetSpec, WriteMode};
use lagoa_lake::catalog::{AuditEntry, IndicatorInput, IndicatorRun, now_micros};
use lagoa_lake::writer::WriteTarget;
use lagoa_lake::{AsOf, Lake, LakeError};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum IndicatorError {
    #[error(transparent)]
    Definition(#[from] super::definition::DefinitionError),
    #[error("indicator {indicator}: {message}")]
    Failed { indicator: String, message: String },
    #[error(transparent)]
    Lake(#[from] LakeError),
}

/// How a run was asked for.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub parameters: BTreeMap<String, String>,
    /// `manual`, `after_sources`, `schedule`, `demo`.
    pub trigger: String,
    /// Who asked (for the audit trail).
    pub actor: String,
    /// Where its SQL runs when not here (`[query] engine`).
    pub remote: Option<Arc<dyn crate::remote::RemoteEngine>>,
}

/// The columns every indicator table has.
pub fn results_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("municipio", DataType::Utf8, false),
        Field::new("ano", DataType::Int64, false),
        Field::new("numerador", DataType::Int64, true),
        Field::new("denominador", DataType::Int64, true),
        Field::new("valor", DataType::Float64, true),
        Field::new("supressao", DataType::Utf8, true),
        Field::new("total_estado", DataType::Boolean, false),
        Field::new("execucao", DataType::Utf8, false),
    ]))
}

fn failed(indicator: &Indicator, message: impl Into<String>) -> IndicatorError {
    IndicatorError::Failed {
        indicator: indicator.name.clone(),
        message: message.into(),
    }
}

/// Each source as it stands at `snapshot`.
async fn inputs(
    lake: &Lake,
    indicator: &Indicator,
    snapshot: i64,
) -> Result<Vec<IndicatorInput>, IndicatorError> {
    let mut out = Vec::new();
    for source in &indicator.sources {
        let name = DatasetName::new(source.clone())
            .map_err(|e| failed(indicator, format!("source {source:?}: {e}")))?;
        let info = lake.catalog.dataset(&name, snapshot).await?.ok_or_else(|| {
            failed(
                indicator,
                format!("its source {source} is not in the lake yet (run the source that delivers it first)"),
            )
        })?;
        if info.shredded_at.is_some() {
            return Err(failed(
                indicator,
                format!("its source {source} was crypto-shredded"),
            ));
        }
        let last_change = lake
            .catalog
            .snapshots(Some(&name))
            .await?
            .iter()
            .map(|s| s.snapshot_id)
            .filter(|&s| s <= snapshot)
            .max()
            .unwrap_or(snapshot);
        out.push(IndicatorInput {
            dataset: source.clone(),
            level: info.level.as_str().to_owned(),
            snapshot: last_change,
        });
    }
    Ok(out)
}

/// The level the results may be published at, and why, in words.
fn derivation(inputs: &[IndicatorInput], rule: &Protection) -> (SharingLevel, String) {
    let strictest = inputs
        .iter()
        .filter_map(|i| i.level.parse::<SharingLevel>().ok())
        .max_by_key(|l| match l {
            SharingLevel::Amplo => 0,
            SharingLevel::Corporativo => 1,
            SharingLevel::Especial => 2,
        })
        .unwrap_or(SharingLevel::Amplo);
    let from: Vec<String> = inputs
        .iter()
        .map(|i| format!("{} ({})", i.dataset, i.level))
        .collect();
    if rule.min_cell > 0 {
        (
            SharingLevel::Amplo,
            format!(
                "amplo: aggregated by municipality and year from {}, with counts from 1 to {} suppressed (primary) and further counts withheld until an attacker's audit of everything published leaves each of them at least {} values wide, reaching {}",
                from.join(", "),
                rule.min_cell - 1,
                rule.width,
                rule.min_cell
            ),
        )
    } else {
        (
            strictest,
            format!(
                "{strictest}: no small-cell suppression (min_cell 0), so it keeps the strictest level of its sources: {}",
                from.join(", ")
            ),
        )
    }
}

pub(super) fn column(
    batch: &RecordBatch,
    name: &str,
    as_type: &DataType,
) -> Result<ArrayRef, String> {
    let array = batch
        .column_by_name(name)
        .ok_or_else(|| format!("its SQL returns no column {name}"))?;
    cast(array, as_type).map_err(|e| format!("column {name}: {e}"))
}

/// Runs the indicator's SQL at `snapshot` (here, or on `remote`) and reads
/// its cells, with the named counts of `shape`.
async fn compute(
    lake: &Lake,
    (indicator, sql): (&Indicator, &str),
    snapshot: i64,
    shape: &Shape,
    remote: Option<&Arc<dyn crate::remote::RemoteEngine>>,
) -> Result<Vec<Cell>, IndicatorError> {
    let session = lagoa_lake::session::LakeSession::open(lake, &AsOf::Snapshot(snapshot)).await?;
    let df = session
        .sql(sql)
        .await
        .map_err(|e| failed(indicator, format!("its SQL does not plan: {e}")))?;
    let batches = match remote {
        Some(remote) => {
            let allowed = crate::remote::Allowed::everything_read_by(df.logical_plan());
            match remote.execute(df, &allowed).await {
                Ok(stream) => datafusion::physical_plan::common::collect(stream).await,
                Err(e) => Err(e),
            }
        }
        None => df.collect().await,
    }
    .map_err(|e| failed(indicator, format!("its SQL failed: {e}")))?;
    let mut cells = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for batch in &batches {
        read_cells(batch, shape, &mut seen, &mut cells).map_err(|e| failed(indicator, e))?;
    }
    Ok(cells)
}

/// A column of the result the indicator needs, cast to `as_type`.
fn needed(batch: &RecordBatch, name: &str, as_type: &DataType) -> Result<ArrayRef, String> {
    column(batch, name, as_type).map_err(|e| {
        format!("{e}; it must return municipio, ano, numerador and denominador, and a column for each name a count adds up")
    })
}

/// The cells of one batch of the indicator's result: every row's counts
/// never negative, each declared sum adding up.
fn read_cells(
    batch: &RecordBatch,
    shape: &Shape,
    seen: &mut std::collections::HashSet<(String, i64)>,
    cells: &mut Vec<Cell>,
) -> Result<(), String> {
    let int = |name: &str| needed(batch, name, &DataType::Int64);
    let m = needed(batch, "municipio", &DataType::Utf8)?;
    let (a, n, d) = (int("ano")?, int("numerador")?, int("denominador")?);
    let columns = shape.columns();
    let named: Vec<ArrayRef> = columns
        .iter()
        .map(|name| int(name))
        .collect::<Result<_, _>>()?;
    // Cast above to exactly these types.
    let m = m.as_string::<i32>();
    let ints: Vec<&datafusion::arrow::array::Int64Array> = [&a, &n, &d]
        .into_iter()
        .chain(&named)
        .map(|c| c.as_primitive::<Int64Type>())
        .collect();
    let value = |col: usize, i: usize| {
        let c = ints[col];
        if c.is_null(i) { 0 } else { c.value(i) }
    };
    for i in 0..batch.num_rows() {
        if m.is_null(i) || ints[0].is_null(i) {
            return Err("a row has no municipio or ano".into());
        }
        let key = (m.value(i).to_owned(), ints[0].value(i));
        let at = format!("municipio {} ano {}", key.0, key.1);
        let counts = [value(1, i), value(2, i)];
        let parts: Vec<i64> = (0..shape.atoms.len())
            .map(
                |atom| match columns.iter().position(|c| *c == shape.atoms[atom]) {
                    Some(c) => value(3 + c, i),
                    // A count of one name is that count.
                    None => (0..2)
                        .find(|&k| shape.kinds[k] == [atom])
                        .map_or(0, |k| counts[k]),
                },
            )
            .collect();
        if counts.iter().chain(&parts).any(|&c| c < 0) {
            return Err(format!("{at}: counts are never negative"));
        }
        for (kind, what) in ["numerador", "denominador"].into_iter().enumerate() {
            let sum: i64 = shape.kinds[kind].iter().map(|&a| parts[a]).sum();
            if sum != counts[kind] {
                let names: Vec<&str> = shape.kinds[kind]
                    .iter()
                    .map(|&a| shape.atoms[a].as_str())
                    .collect();
                return Err(format!(
                    "{at}: {what} is {}, but its names add up to {sum} ({})",
                    counts[kind],
                    names.join(" + ")
                ));
            }
        }
        if shape.proportion && counts[0] > counts[1] {
            return Err(format!(
                "{at}: numerador {} is above denominador {}, but the definition says it is a proportion",
                counts[0], counts[1]
            ));
        }
        if !seen.insert(key.clone()) {
            return Err(format!("its SQL returns {at} twice"));
        }
        cells.push(Cell {
            municipio: key.0,
            ano: key.1,
            numerador: counts[0],
            denominador: counts[1],
            parts,
        });
    }
    Ok(())
}

/// The cells as published, suppressed until the audit is satisfied: an
/// integer program per year, minutes for a large state, so off the
/// runtime that serves requests.
async fn audited(
    indicator: &Indicator,
    cells: Vec<Cell>,
    shape: Shape,
    known: Known,
) -> Result<(Vec<Published>, Summary), IndicatorError> {
    let (rule, per) = (protection(indicator), indicator.per);
    tokio::task::spawn_blocking(move || {
        publish(&cells, &shape, &rule, &known, per, &total_code(&cells))
    })
    .await
    .map_err(|e| failed(indicator, format!("the audit stopped: {e}")))
}

/// The code of the state's total: the UF part (2 digits) of IBGE codes.
fn total_code(cells: &[Cell]) -> String {
    cells
        .first()
        .map(|c| c.municipio.chars().take(2).collect::<String>())
        .filter(|uf| uf.len() == 2 && uf.chars().all(|c| c.is_ascii_digit()))
        .filter(|uf| cells.iter().all(|c| c.municipio.starts_with(uf.as_str())))
        .unwrap_or_else(|| "total".into())
}

fn to_batch(published: &[Published], run_id: &str) -> Result<RecordBatch, LakeError> {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            published.iter().map(|p| p.municipio.as_str()),
        )),
        Arc::new(Int64Array::from_iter_values(
            published.iter().map(|p| p.ano),
        )),
        Arc::new(Int64Array::from_iter(published.iter().map(|p| p.numerador))),
        Arc::new(Int64Array::from_iter(
            published.iter().map(|p| p.denominador),
        )),
        Arc::new(Float64Array::from_iter(published.iter().map(|p| p.valor))),
        Arc::new(StringArray::from_iter(
            published.iter().map(|p| p.suppressed.then_some(WITHHELD)),
        )),
        Arc::new(BooleanArray::from_iter(
            published.iter().map(|p| Some(p.total)),
        )),
        Arc::new(StringArray::from_iter_values(
            published.iter().map(|_| run_id),
        )),
    ];
    Ok(RecordBatch::try_new(results_schema(), columns)?)
}

fn sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The protection `indicator` asks of its withheld small counts.
fn protection(indicator: &Indicator) -> Protection {
    Protection {
        min_cell: indicator.min_cell,
        width: indicator.protection,
    }
}

/// Runs `indicator` now. A run whose SQL, parameters and inputs are those
/// of the results already published ends as `unchanged` and writes nothing.
pub async fn run(
    lake: &Lake,
    indicator: &Indicator,
    options: &RunOptions,
) -> Result<IndicatorRun, IndicatorError> {
    let parameters = indicator.parameters(&options.parameters)?;
    let sql = indicator.sql_with(&parameters);
    let snapshot = lake.catalog.resolve(&AsOf::Latest).await?;
    let dataset = results_dataset(&indicator.name);
    let mut record = IndicatorRun {
        run_id: uuid::Uuid::now_v7().to_string(),
        indicator: indicator.name.clone(),
        dataset: dataset.clone(),
        trigger: options.trigger.clone(),
        status: "running".into(),
        started_at: now_micros(),
        input_snapshot: snapshot,
        parameters: parameters.clone(),
        sql_sha256: sha256(&sql),
        min_cell: indicator.min_cell as i64,
        protection: indicator.protection as i64,
        period_years: indicator.period,
        ..Default::default()
    };
    let result = run_recorded(
        lake,
        (indicator, &sql),
        &mut record,
        options.remote.as_ref(),
    )
    .await;
    record.ended_at = Some(now_micros());
    if let Err(e) = &result {
        record.status = "failed".into();
        record.error = Some(e.to_string());
    }
    lake.catalog.save_indicator_run(&record).await?;
    let mut datasets = indicator.sources.clone();
    datasets.push(dataset);
    lake.audit(&AuditEntry {
        principal: options.actor.clone(),
        institution: "-".into(),
        action: "indicator_run".into(),
        subject: Some(format!("{} ({})", indicator.name, record.run_id)),
        datasets,
        rows: record.cells,
        outcome: if result.is_ok() { "ok" } else { "error" }.into(),
        reason: record.error.clone(),
        duration_ms: (record.ended_at.unwrap_or(record.started_at) - record.started_at) / 1000,
        ..Default::default()
    })
    .await?;
    result.map(|()| record)
}

async fn run_recorded(
    lake: &Lake,
    (indicator, sql): (&Indicator, &str),
    record: &mut IndicatorRun,
    remote: Option<&Arc<dyn crate::remote::RemoteEngine>>,
) -> Result<(), IndicatorError> {
    record.inputs = inputs(lake, indicator, record.input_snapshot).await?;
    let (level, derivation) = derivation(&record.inputs, &protection(indicator));
    record.derivation = derivation;
    lake.catalog.save_indicator_run(record).await?;
    // The same SQL, parameters and inputs as what is published, audited
    // for the same protection (runs from before the audit have 0):
    // nothing to compute, audit or write; the run says what was published.
    let names = indicator.count_names(&record.parameters);
    [record.numerator_count, record.denominator_count] = names.clone();
    let previous = lake
        .catalog
        .indicator_runs(Some(&indicator.name), 50)
        .await?
        .into_iter()
        .find(|r| r.status == "committed" || r.status == "unchanged");
    if let Some(p) = previous
        && p.sql_sha256 == record.sql_sha256
        && p.parameters == record.parameters
        && p.inputs == record.inputs
        && p.protection == record.protection
        && p.output_snapshot.is_some()
    {
        record.status = "unchanged".into();
        record.output_snapshot = p.output_snapshot;
        record.output_level = p.output_level;
        record.cells = p.cells;
        record.suppressed_primary = p.suppressed_primary;
        record.suppressed_secondary = p.suppressed_secondary;
        record.smallest_width = p.smallest_width;
        record.derivation = p.derivation;
        return Ok(());
    }
    let shape = Shape::of(&names)
        .proportion(indicator.proportion)
        .period(indicator.period);
    let cells = compute(
        lake,
        (indicator, sql),
        record.input_snapshot,
        &shape,
        remote,
    )
    .await?;
    enough_years(indicator, &cells)?;
    let known = super::elsewhere::known(lake, &names, record.input_snapshot).await?;
    let (published, summary) = audited(indicator, cells, shape, known).await?;
    let caveats = [
        (
            summary.disclosed_elsewhere,
            "small count(s) withheld here were already published by another indicator with a lower min_cell",
        ),
        (
            summary.unprotected,
            "small count(s) withheld here stay narrower than the protection: other tables published what pins them",
        ),
    ];
    for (counts, caveat) in caveats.into_iter().filter(|(n, _)| *n > 0) {
        tracing::warn!(indicator = %indicator.name, counts, "{caveat}");
        record.derivation.push_str(&format!("; {counts} {caveat}"));
    }
    record.cells = summary.cells as i64;
    record.suppressed_primary = summary.primary as i64;
    record.suppressed_secondary = summary.complementary as i64;
    record.smallest_width = summary.smallest_width;

    let name = DatasetName::new(record.dataset.clone())
        .map_err(|e| failed(indicator, format!("results dataset: {e}")))?;
    let batch = to_batch(&published, &record.run_id)?;
    let schema = results_schema();
    let mut writer = lake.writer(WriteTarget {
        dataset: name.clone(),
        schema: Arc::clone(&schema),
        personal_columns: vec![],
        partition_column: None,
        sort_column: None,
    })?;
    let files = tokio::task::spawn_blocking(move || {
        writer.write(&batch)?;
        writer.finish()
    })
    .await
    .map_err(|e| failed(indicator, format!("the writer stopped: {e}")))??;
    let digests = files
        .iter()
        .map(|f| lagoa_lake::catalog::model::ObjectDigest {
            path: f.path.clone(),
            size_bytes: f.size_bytes,
            sha256: f.sha256.clone(),
        })
        .collect();
    let commit = CommitRequest {
        spec: DatasetSpec {
            name,
            level,
            description: format!(
                "{} ({}), indicador publicado por município e {}",
                indicator.title,
                indicator.unit,
                published_per(indicator.period)
            ),
            partition_column: None,
            columns: schema
                .fields()
                .iter()
                .map(|f| ColumnDef::of_field(f, None))
                .collect(),
        },
        mode: WriteMode::FullRefresh,
        files,
        fingerprint: None,
        source: format!("indicador:{}:{}", indicator.name, record.run_id),
        watermark: None,
        raw: None,
        quarantine: None,
        run_id: None,
        release_of: None,
        contract: None,
        digests,
        deletes: Vec::new(),
        replaces: Vec::new(),
        planned_at: None,
    };
    match lake.catalog.commit(&commit).await? {
        CommitOutcome::Committed { snapshot, .. } | CommitOutcome::AlreadyIngested { snapshot } => {
            record.status = "committed".into();
            record.output_snapshot = Some(snapshot);
        }
    }
    let info = lake
        .catalog
        .dataset(
            &commit.spec.name,
            record.output_snapshot.unwrap_or(i64::MAX),
        )
        .await?;
    record.output_level = Some(info.map_or(level, |d| d.level).as_str().to_owned());
    categorise_published(lake, indicator, &commit.spec.name, level, record).await?;
    Ok(())
}

/// Rows, and at least one whole period of them.
fn enough_years(indicator: &Indicator, cells: &[Cell]) -> Result<(), IndicatorError> {
    if cells.is_empty() {
        return Err(failed(
            indicator,
            "its SQL returned no row: are its sources empty?",
        ));
    }
    let first = cells.iter().map(|c| c.ano).min().unwrap_or(0);
    let last = cells.iter().map(|c| c.ano).max().unwrap_or(0);
    if last - first + 1 < indicator.period {
        return Err(failed(
            indicator,
            format!(
                "its period is {} years, but its SQL returned {first} to {last} only: no period is whole",
                indicator.period
            ),
        ));
    }
    Ok(())
}

/// What a row of the results adds up, in words.
fn published_per(period: i64) -> String {
    if period > 1 {
        format!(
            "período de {period} anos (o ano da linha e os {} anteriores)",
            period - 1
        )
    } else {
        "ano".into()
    }
}

/// A published table has a categorisation of its own: the coordinating
/// institution (the office computes it) as provider, the level its
/// derivation allows, and the derivation as its justification. A new
/// version only when the level changes.
async fn categorise_published(
    lake: &Lake,
    indicator: &Indicator,
    name: &DatasetName,
    level: SharingLevel,
    record: &IndicatorRun,
) -> Result<(), IndicatorError> {
    let current = lagoa_governance::GovernanceStore::of(&lake.catalog)
        .categorisation(name.as_str())
        .await?;
    if current.as_ref().is_some_and(|c| c.level == level) {
        return Ok(());
    }
    let provider = match &current {
        Some(c) => c.provider.clone(),
        None => {
            let office = lagoa_governance::GovernanceStore::of(&lake.catalog)
                .institutions()
                .await?
                .into_iter()
                .find(|i| i.role == lagoa_core::InstitutionRole::Coordinator);
            let Some(office) = office else {
                tracing::warn!(
                    indicator = %indicator.name,
                    "no coordinating institution: the published table is not categorised (add one with `lagoa institution add <name> --role coordinator`)"
                );
                return Ok(());
            };
            lagoa_governance::GovernanceStore::of(&lake.catalog)
                .name_provider(name.as_str(), &office.name, "indicator")
                .await?;
            office.name
        }
    };
    lagoa_governance::categorisation::categorise(
        &lake.catalog,
        name,
        &lagoa_governance::NewCategorisation {
            level: Some(level),
            provider: Some(provider),
            justification: Some(record.derivation.clone()),
            reason: format!("published by indicator run {}", record.run_id),
            ..Default::default()
        },
        &format!("indicator:{}", indicator.name),
    )
    .await?;
    Ok(())
}

/// What recomputing a run found.
#[derive(Clone, Debug)]
pub struct Verification {
    pub run: IndicatorRun,
    pub cells: usize,
    /// Cells (published values) that differ, as `municipio/ano`.
    pub differences: Vec<String>,
}

/// Recomputes `run_id` from the inputs it recorded (the lake as it was at
/// its input snapshot), suppresses again, and compares with what it
/// published (the results table at its output snapshot).
pub async fn verify(
    lake: &Lake,
    indicator: &Indicator,
    run_id: &str,
    remote: Option<&Arc<dyn crate::remote::RemoteEngine>>,
) -> Result<Verification, IndicatorError> {
    let run = lake
        .catalog
        .indicator_run(run_id)
        .await?
        .ok_or_else(|| failed(indicator, format!("no run {run_id}")))?;
    let (Some(output), true) = (run.output_snapshot, run.indicator == indicator.name) else {
        return Err(failed(
            indicator,
            format!("run {run_id} published nothing to verify"),
        ));
    };
    let sql = indicator.sql_with(&run.parameters);
    if sha256(&sql) != run.sql_sha256 {
        return Err(failed(
            indicator,
            format!(
                "its definition changed since run {run_id}: the SQL it ran is not the SQL in the folder now"
            ),
        ));
    }
    let names = [run.numerator_count.clone(), run.denominator_count.clone()];
    let shape = Shape::of(&names)
        .proportion(indicator.proportion)
        .period(indicator.period);
    let cells = compute(lake, (indicator, &sql), run.input_snapshot, &shape, remote).await?;
    // What was public when it ran: publications up to its input snapshot.
    let known = super::elsewhere::known(lake, &names, run.input_snapshot).await?;
    let (again, _) = audited(indicator, cells, shape, known).await?;
    let session = lagoa_lake::session::LakeSession::open(lake, &AsOf::Snapshot(output)).await?;
    let mut published: BTreeMap<(String, i64), Published> =
        super::published::read(&session, &run.dataset)
            .await?
            .into_iter()
            .map(|v| {
                let cell = Published {
                    municipio: v.municipio.clone(),
                    ano: v.ano,
                    numerador: v.numerador,
                    denominador: v.denominador,
                    valor: v.valor,
                    suppressed: v.supressao.is_some(),
                    total: v.total_estado,
                };
                ((v.municipio, v.ano), cell)
            })
            .collect();
    let mut differences = Vec::new();
    for p in &again {
        let key = (p.municipio.clone(), p.ano);
        if published.remove(&key).as_ref() != Some(p) {
            differences.push(format!("{}/{}", key.0, key.1));
        }
    }
    differences.extend(
        published
            .keys()
            .map(|(m, a)| format!("{m}/{a} (not recomputed)")),
    );
    Ok(Verification {
        run,
        cells: again.len(),
        differences,
    })
}

/// Whether any source changed since the indicator's last published run
/// (or it never ran).
pub async fn stale(lake: &Lake, indicator: &Indicator) -> Result<bool, IndicatorError> {
    let last = lake
        .catalog
        .indicator_runs(Some(&indicator.name), 50)
        .await?
        .into_iter()
        .find(|r| r.status == "committed" || r.status == "unchanged");
    let Some(last) = last else {
        return Ok(true);
    };
    let snapshot = lake.catalog.resolve(&AsOf::Latest).await?;
    match inputs(lake, indicator, snapshot).await {
        Ok(now) => Ok(now != last.inputs),
        // A source gone (or shredded): running says why.
        Err(IndicatorError::Failed { .. }) => Ok(true),
        Err(e) => Err(e),
    }
}

/// A summary line of a run, for people.
pub fn describe(run: &IndicatorRun) -> String {
    match run.status.as_str() {
        "failed" => format!(
            "{}: failed: {}",
            run.indicator,
            run.error.as_deref().unwrap_or("")
        ),
        status => format!(
            "{}: {status}, {} cells ({} suppressed, {} of them complementary; {}), {} in snapshot {}",
            run.indicator,
            run.cells,
            run.suppressed_primary + run.suppressed_secondary,
            run.suppressed_secondary,
            match run.smallest_width {
                Some(w) => format!("narrowest a withheld small count can be pinned: {w} values"),
                None if run.suppressed_primary > 0 =>
                    "no withheld count bounded by what is published".into(),
                None => "nothing small withheld".into(),
            },
            run.output_level.as_deref().unwrap_or("-"),
            run.output_snapshot.map_or("-".into(), |s| s.to_string()),
        ),
    }
}

/// The summary of a suppression, for tests and reports.
pub fn summary_of(run: &IndicatorRun) -> Summary {
    Summary {
        cells: run.cells as usize,
        primary: run.suppressed_primary as usize,
        complementary: run.suppressed_secondary as usize,
        smallest_width: run.smallest_width,
        // Said in the run's derivation, not counted on record.
        disclosed_elsewhere: 0,
        unprotected: 0,
    }
}
