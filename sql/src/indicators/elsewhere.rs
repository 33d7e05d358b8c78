//! What other publications already state about a run's counts: every
//! committed run of any indicator (this one's earlier runs included: time
//! travel keeps them public) whose numerator or denominator is a count of
//! the same name, read back from its results table as it was published.
//!
//! A published value counts only where it equals the value this run
//! computes (a different value is another version of the data, and pins
//! nothing of this one); a total counts as a sum over its municipalities
//! where they are all among this run's and add up to it.
//!
//! A results table whose snapshot the lake no longer keeps (vacuumed past
//! retention) cannot be read back: it is left out, with a warning.

use super::compute::IndicatorError;
use super::published::Value;
use super::suppress::{Cell, Known, Protection};
use lagoa_lake::session::LakeSession;
use lagoa_lake::{AsOf, Lake};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// Most runs looked at (the catalog's newest first).
const RUNS_READ: i64 = 100_000;

/// One publication: a results table as published, the counts it names
/// (numerator, denominator) and the protection its run asked.
#[derive(Debug)]
pub struct Publication<'a> {
    pub counts: [Option<&'a str>; 2],
    pub protection: Protection,
    pub values: &'a [Value],
}

/// A published total: over which municipalities, and its value.
type StatedTotal = (BTreeSet<String>, i64);

/// What the publications state, by this run's kind (0 numerator, 1
/// denominator), municipality and year.
#[derive(Default)]
struct Statements {
    counts: HashMap<(usize, String, i64), BTreeSet<i64>>,
    totals: HashMap<(usize, i64), Vec<StatedTotal>>,
    withheld: HashMap<(usize, String, i64), Protection>,
}

/// What publications committed at or before `snapshot` state about the
/// counts named `names` (numerator, denominator) whose values are `cells`.
pub(super) async fn known(
    lake: &Lake,
    names: &[Option<String>; 2],
    cells: &[Cell],
    snapshot: i64,
) -> Result<Known, IndicatorError> {
    if names.iter().all(Option::is_none) {
        return Ok(Known::default());
    }
    let mut read = HashSet::new();
    let mut tables = Vec::new();
    for run in lake.catalog.indicator_runs(None, RUNS_READ).await? {
        let Some(output) = run.output_snapshot.filter(|&s| s <= snapshot) else {
            continue;
        };
        // Any run with an output snapshot committed its table, even one
        // that failed after the commit.
        let theirs = [&run.numerator_count, &run.denominator_count];
        let shared = theirs.iter().any(|t| t.is_some() && names.contains(t));
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
            protection,
            values,
        ));
    }
    let publications: Vec<Publication> = tables
        .iter()
        .map(|(n, d, protection, values)| Publication {
            counts: [n.as_deref(), d.as_deref()],
            protection: *protection,
            values,
        })
        .collect();
    Ok(known_from(&publications, names, cells))
}

/// What `publications` state about the counts named `names` whose values
/// are `cells`.
pub fn known_from(
    publications: &[Publication],
    names: &[Option<String>; 2],
    cells: &[Cell],
) -> Known {
    let mut statements = Statements::default();
    for publication in publications {
        statements.add(publication, names);
    }
    statements.against(cells)
}

impl Statements {
    /// What one publication states.
    fn add(&mut self, publication: &Publication, names: &[Option<String>; 2]) {
        let (asks, values) = (publication.protection, publication.values);
        let mut places: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
        for v in values.iter().filter(|v| !v.total_estado) {
            places.entry(v.ano).or_default().insert(v.municipio.clone());
        }
        for (their_kind, their_name) in publication.counts.iter().enumerate() {
            let Some(their_name) = their_name else {
                continue;
            };
            for kind in (0..2).filter(|&k| names[k].as_deref() == Some(*their_name)) {
                for v in values {
                    let value = if their_kind == 0 {
                        v.numerador
                    } else {
                        v.denominador
                    };
                    match (v.total_estado, value) {
                        (true, Some(total)) => {
                            let over = places.get(&v.ano).cloned().unwrap_or_default();
                            self.totals
                                .entry((kind, v.ano))
                                .or_default()
                                .push((over, total));
                        }
                        (true, None) => {}
                        (false, Some(count)) => {
                            self.counts
                                .entry((kind, v.municipio.clone(), v.ano))
                                .or_default()
                                .insert(count);
                        }
                        (false, None) => {
                            let key = (kind, v.municipio.clone(), v.ano);
                            let strictest =
                                Protection::strictest(self.withheld.get(&key).copied(), Some(asks));
                            if let Some(p) = strictest {
                                self.withheld.insert(key, p);
                            }
                        }
                    }
                }
            }
        }
    }

    /// The statements that hold of `cells` as this run computes them.
    fn against(self, cells: &[Cell]) -> Known {
        let mut known = Known {
            withheld: self.withheld,
            ..Known::default()
        };
        let mut years: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
        let mut values: HashMap<(usize, String, i64), i64> = HashMap::new();
        for c in cells {
            let counts = [c.numerador, c.denominador];
            years.entry(c.ano).or_default().insert(c.municipio.clone());
            for (kind, count) in counts.into_iter().enumerate() {
                values.insert((kind, c.municipio.clone(), c.ano), count);
                let key = (kind, c.municipio.clone(), c.ano);
                if self.counts.get(&key).is_some_and(|v| v.contains(&count)) {
                    known.counts.insert(key);
                }
            }
        }
        let value =
            |kind: usize, m: &String, ano: i64| values.get(&(kind, m.clone(), ano)).copied();
        for (ano, places) in years {
            for kind in 0..2 {
                let stated = self.totals.get(&(kind, ano)).into_iter().flatten();
                for (over, total) in stated {
                    let ours: Option<i64> = over.iter().map(|m| value(kind, m, ano)).sum();
                    if over.is_subset(&places) && ours == Some(*total) {
                        known
                            .sums
                            .entry((kind, ano))
                            .or_default()
                            .push(over.clone());
                    }
                }
            }
        }
        known
    }
}
