//! What other publications already state about a run's counts: every
//! committed run of any indicator (this one's earlier runs included: time
//! travel keeps them public) that publishes a named count this run adds up,
//! or one such a publication adds up with it (`a + b` beside `b` gives `a`
//! away), read back from its results table as it was published.
//!
//! Everything read is stated as it was published; the audit keeps what
//! holds of this run's values ([`super::year`]): a different value is
//! another version of the data, and pins nothing of this one.
//!
//! A results table whose snapshot the lake no longer keeps (vacuumed past
//! retention) cannot be read back: it is left out, with a warning.

use super::compute::IndicatorError;
use super::counts::atoms_of;
use super::period::Span;
use super::published::Value;
use super::suppress::{Known, Protection, Withheld};
use lagoa_lake::session::LakeSession;
use lagoa_lake::{AsOf, Lake};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// Most runs looked at (the catalog's newest first).
const RUNS_READ: i64 = 100_000;

/// One publication: a results table as published, the counts it names
/// (numerator, denominator) and the protection its run asked.
#[derive(Debug)]
pub struct Publication<'a> {
    pub counts: [Option<&'a str>; 2],
    /// How many years each of its rows adds up (`-- period:`).
    pub period: i64,
    pub protection: Protection,
    pub values: &'a [Value],
}

/// The names linked to `names`: theirs, and every name a publication
/// adds up with a linked one, until none is added.
fn linked(names: &[Option<String>; 2], declared: &[[Option<&str>; 2]]) -> BTreeSet<String> {
    let mut linked: BTreeSet<String> = names.iter().flatten().flat_map(|n| atoms_of(n)).collect();
    loop {
        let before = linked.len();
        for name in declared.iter().flatten().flatten() {
            let atoms = atoms_of(name);
            if atoms.iter().any(|a| linked.contains(a)) {
                linked.extend(atoms);
            }
        }
        if linked.len() == before {
            return linked;
        }
    }
}

/// What publications committed at or before `snapshot` state about the
/// counts named `names` (numerator, denominator), and what they withhold.
pub(super) async fn known(
    lake: &Lake,
    names: &[Option<String>; 2],
    snapshot: i64,
) -> Result<Known, IndicatorError> {
    if names.iter().all(Option::is_none) {
        return Ok(Known::default());
    }
    let runs: Vec<_> = lake
        .catalog
        .indicator_runs(None, RUNS_READ)
        .await?
        .into_iter()
        .filter(|r| r.output_snapshot.is_some_and(|s| s <= snapshot))
        .collect();
    let declared: Vec<[Option<&str>; 2]> = runs
        .iter()
        .map(|r| [r.numerator_count.as_deref(), r.denominator_count.as_deref()])
        .collect();
    let linked = linked(names, &declared);
    let mut read = HashSet::new();
    let mut tables = Vec::new();
    for run in runs {
        // Any run with an output snapshot committed its table, even one
        // that failed after the commit.
        let Some(output) = run.output_snapshot else {
            continue;
        };
        let theirs = [&run.numerator_count, &run.denominator_count];
        let shared = theirs
            .iter()
            .filter_map(|t| t.as_deref())
            .any(|t| atoms_of(t).iter().any(|a| linked.contains(a)));
        if !shared || !read.insert((run.dataset.clone(), output)) {
            continue;
        }
        let session = match LakeSession::open(lake, &AsOf::Snapshot(output)).await {
            Ok(session) => session,
            Err(e) => {
                tracing::warn!(
                    run = %run.run_id,
                    dataset = %run.dataset,
                    snapshot = output,
                    error = %e,
                    "an earlier publication cannot be read back: the audit leaves it out"
                );
                continue;
            }
        };
        let values = super::published::read(&session, &run.dataset).await?;
        let protection = Protection {
            min_cell: run.min_cell.max(0) as u64,
            // Runs from before the audit recorded no width: their minimum.
            width: run.protection.max(run.min_cell).max(0) as u64,
        };
        tables.push((
            run.numerator_count,
            run.denominator_count,
            run.period_years,
            protection,
            values,
        ));
    }
    let publications: Vec<Publication> = tables
        .iter()
        .map(|(n, d, period, protection, values)| Publication {
            counts: [n.as_deref(), d.as_deref()],
            period: *period,
            protection: *protection,
            values,
        })
        .collect();
    Ok(known_from(&publications, names))
}

/// What `publications` state and withhold of the counts named `names`
/// and of every count linked to them.
pub fn known_from(publications: &[Publication], names: &[Option<String>; 2]) -> Known {
    let declared: Vec<[Option<&str>; 2]> = publications.iter().map(|p| p.counts).collect();
    let linked = linked(names, &declared);
    let mut known = Known::default();
    for publication in publications {
        add(&mut known, publication, &linked);
    }
    known
}

/// What one publication states and withholds of the linked counts.
fn add(known: &mut Known, publication: &Publication, linked: &BTreeSet<String>) {
    let mut places: BTreeMap<i64, Vec<&str>> = BTreeMap::new();
    for v in publication.values.iter().filter(|v| !v.total_estado) {
        places.entry(v.ano).or_default().push(v.municipio.as_str());
    }
    for (kind, name) in publication.counts.iter().enumerate() {
        let Some(name) = name else {
            continue;
        };
        let atoms = atoms_of(name);
        if !atoms.iter().any(|a| linked.contains(a)) {
            continue;
        }
        let count_of = |v: &Value| {
            if kind == 0 {
                v.numerador
            } else {
                v.denominador
            }
        };
        let totals: BTreeSet<i64> = publication
            .values
            .iter()
            .filter(|v| v.total_estado && count_of(v).is_some())
            .map(|v| v.ano)
            .collect();
        for v in publication.values {
            let span = Span::ending(v.ano, publication.period);
            let value = if kind == 0 {
                v.numerador
            } else {
                v.denominador
            };
            match (v.total_estado, value) {
                (true, Some(total)) => {
                    let over = places.get(&v.ano).map_or(&[][..], Vec::as_slice);
                    let asks = publication.protection;
                    known.state_asking(span, over.iter().copied(), &atoms, total, asks);
                }
                (true, None) => {}
                (false, Some(count)) => {
                    let asks = publication.protection;
                    known.state_asking(span, [v.municipio.as_str()], &atoms, count, asks);
                }
                (false, None) => {
                    let given = Withheld {
                        asks: publication.protection,
                        nonzero: totals.contains(&v.ano),
                    };
                    known.withhold(span, &v.municipio, &atoms, given);
                }
            }
        }
    }
}
