//! What an indicator has published, as the console and the HTTP API show
//! it: every cell of its results table at the latest snapshot, with the
//! municipality's name when the lake has IBGE's population table
//! (`ibge_populacao`, the office's municipality register), and who may see
//! it.

use super::compute::IndicatorError;
use super::compute::column;
use super::definition::{Indicator, results_dataset};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use lagoa_core::{DatasetName, SharingLevel};
use lagoa_governance::Principal;
use lagoa_governance::policy::{DatasetMeta, table_access};
use lagoa_lake::catalog::{IndicatorRun, now_micros};
use lagoa_lake::{AsOf, Lake};
use serde::Serialize;
use std::collections::HashMap;

/// One published cell.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Value {
    pub municipio: String,
    pub nome: Option<String>,
    pub ano: i64,
    pub numerador: Option<i64>,
    pub denominador: Option<i64>,
    pub valor: Option<f64>,
    /// `suprimido` when something of it is withheld (runs before the
    /// attacker's audit said `primaria` or `complementar`).
    pub supressao: Option<String>,
    pub total_estado: bool,
}

/// Names of municipalities by 7-digit code, from `ibge_populacao` if the
/// lake holds it with IBGE's columns; empty otherwise.
async fn names(session: &lagoa_lake::session::LakeSession) -> HashMap<String, String> {
    let sql = "SELECT DISTINCT CAST(cod_uf * 100000 + cod_munic AS VARCHAR) AS municipio, nome_do_municipio FROM ibge_populacao";
    let Ok(df) = session.sql(sql).await else {
        return HashMap::new();
    };
    let Ok(batches) = df.collect().await else {
        return HashMap::new();
    };
    let mut out = HashMap::new();
    for b in &batches {
        // `CAST(.. AS VARCHAR)` gives a string view, a Parquet column plain
        // strings: read both as plain strings.
        let as_utf8 = |k: usize| cast(b.column(k), &DataType::Utf8).ok();
        let (Some(m), Some(n)) = (as_utf8(0), as_utf8(1)) else {
            continue;
        };
        let (m, n) = (m.as_string::<i32>(), n.as_string::<i32>());
        for i in 0..b.num_rows() {
            if !m.is_null(i) && !n.is_null(i) {
                out.insert(m.value(i).to_owned(), n.value(i).to_owned());
            }
        }
    }
    out
}

/// Every published cell of `indicator`, years then municipalities in code
/// order, each year's state total last; empty when it never ran.
pub async fn values(lake: &Lake, indicator: &Indicator) -> Result<Vec<Value>, IndicatorError> {
    let dataset = results_dataset(&indicator.name);
    let snapshot = lake.catalog.resolve(&AsOf::Latest).await?;
    let name = DatasetName::new(dataset.clone()).map_err(|e| IndicatorError::Failed {
        indicator: indicator.name.clone(),
        message: e.to_string(),
    })?;
    if lake.catalog.dataset(&name, snapshot).await?.is_none() {
        return Ok(Vec::new());
    }
    let session = lagoa_lake::session::LakeSession::open(lake, &AsOf::Snapshot(snapshot)).await?;
    let names = names(&session).await;
    let mut out = read(&session, &dataset).await?;
    for v in &mut out {
        v.nome = names.get(&v.municipio).cloned();
    }
    Ok(out)
}

/// The cells of an indicator's results table as `session` sees it
/// (without names).
pub(super) async fn read(
    session: &lagoa_lake::session::LakeSession,
    dataset: &str,
) -> Result<Vec<Value>, IndicatorError> {
    let batches = session
        .sql(&format!(
            "SELECT municipio, ano, numerador, denominador, valor, supressao, total_estado FROM \"{dataset}\" ORDER BY ano, total_estado, municipio"
        ))
        .await?
        .collect()
        .await
        .map_err(lagoa_lake::LakeError::from)?;
    let mut out = Vec::new();
    for b in &batches {
        let read = || -> Result<_, String> {
            Ok((
                column(b, "municipio", &DataType::Utf8)?,
                column(b, "ano", &DataType::Int64)?,
                column(b, "numerador", &DataType::Int64)?,
                column(b, "denominador", &DataType::Int64)?,
                column(b, "valor", &DataType::Float64)?,
                column(b, "supressao", &DataType::Utf8)?,
                column(b, "total_estado", &DataType::Boolean)?,
            ))
        };
        let (m, a, n, d, v, s, t) = read().map_err(|e| IndicatorError::Failed {
            indicator: dataset.to_owned(),
            message: format!("its results table does not read back: {e}"),
        })?;
        // Cast above to exactly these types.
        let (m, s) = (m.as_string::<i32>(), s.as_string::<i32>());
        let (a, n, d) = (
            a.as_primitive::<Int64Type>(),
            n.as_primitive::<Int64Type>(),
            d.as_primitive::<Int64Type>(),
        );
        let (v, t) = (v.as_primitive::<Float64Type>(), t.as_boolean());
        for i in 0..b.num_rows() {
            out.push(Value {
                nome: None,
                municipio: m.value(i).to_owned(),
                ano: a.value(i),
                numerador: (!n.is_null(i)).then(|| n.value(i)),
                denominador: (!d.is_null(i)).then(|| d.value(i)),
                valor: (!v.is_null(i)).then(|| v.value(i)),
                supressao: (!s.is_null(i)).then(|| s.value(i).to_owned()),
                total_estado: t.value(i),
            });
        }
    }
    Ok(out)
}

/// Whether `who` may see what `indicator` published, and if not, why: an
/// `amplo` result is for every principal; another level follows the
/// sharing policy like any table.
pub async fn may_see(
    lake: &Lake,
    who: &Principal,
    indicator: &Indicator,
) -> Result<Result<(), String>, IndicatorError> {
    let snapshot = lake.catalog.resolve(&AsOf::Latest).await?;
    let Ok(name) = DatasetName::new(results_dataset(&indicator.name)) else {
        return Ok(Err("not a dataset name".into()));
    };
    let Some(info) = lake.catalog.dataset(&name, snapshot).await? else {
        return Ok(Ok(()));
    };
    if info.level == SharingLevel::Amplo {
        return Ok(Ok(()));
    }
    let reader = crate::query::reader(lake, who, None).await?;
    let grants = lagoa_governance::GovernanceStore::of(&lake.catalog)
        .live_grants(&who.name, &who.institution, now_micros())
        .await?;
    let treatments = lagoa_governance::GovernanceStore::of(&lake.catalog)
        .treatments()
        .await?;
    Ok(table_access(&reader, &DatasetMeta::of(&info, &treatments), &grants).map(|_| ()))
}

/// The latest run that published something, if any.
pub async fn last_published(
    lake: &Lake,
    indicator: &Indicator,
) -> Result<Option<IndicatorRun>, IndicatorError> {
    Ok(lake
        .catalog
        .indicator_runs(Some(&indicator.name), 50)
        .await?
        .into_iter()
        .find(|r| r.status == "committed" || r.status == "unchanged"))
}

/// CSV of published cells (UTF-8, `,`; empty fields for withheld counts).
pub fn to_csv(values: &[Value]) -> String {
    let mut out =
        String::from("municipio,nome,ano,numerador,denominador,valor,supressao,total_estado\n");
    let opt = |x: Option<i64>| x.map_or(String::new(), |v| v.to_string());
    for v in values {
        let nome = v.nome.as_deref().unwrap_or("");
        let nome = if nome.contains([',', '"']) {
            format!("\"{}\"", nome.replace('"', "\"\""))
        } else {
            nome.to_owned()
        };
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{}\n",
            v.municipio,
            nome,
            v.ano,
            opt(v.numerador),
            opt(v.denominador),
            v.valor.map_or(String::new(), |x| x.to_string()),
            v.supressao.as_deref().unwrap_or(""),
            v.total_estado
        ));
    }
    out
}
