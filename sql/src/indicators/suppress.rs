//! Small-cell suppression, audited: what an indicator may publish.
//!
//! A cell is one municipality in one year, with two counts. With a minimum
//! cell size `k` and a protection width `w` (`-- protection:`, `k` unless
//! the definition says otherwise):
//!
//! - **primary**: a count above zero and below `k` is sensitive and
//!   withheld (the numerator, the denominator or both), and so is the
//!   value; so is, where a count is declared a sum of named counts
//!   ([`super::counts`]), each of its names below `k`: it must not be
//!   told by differencing published sums;
//! - **the state's total** of each year is published, unless it is itself
//!   below `k` or the year has a single municipality and it is withheld;
//! - **the audit**: every published number (each count, each total) is a
//!   linear fact about the counts; the attacker's audit
//!   ([`super::audit`], an integer program per group of withheld counts)
//!   gives the values each withheld count can still take. A sensitive
//!   count is protected when those values reach `k` (nobody can tell it
//!   is small) and span at least `w`;
//! - **complementary**: while a sensitive count is not protected, a count
//!   of its municipality adding up the same names is withheld (the one
//!   that leaves it the widest range), else the smallest published count
//!   above zero that shares a published total with it, and the audit runs
//!   again ([`super::year`]); when nothing is left to withhold beside it,
//!   the total goes (never otherwise);
//! - every withheld cell carries one label, `suprimido`: a label per rule
//!   would tell anyone that a primary count is below `k`;
//! - a value is published only when both of its counts are.
//!
//! `k = 0` publishes everything.

use super::audit::Interval;
use super::counts::Shape;
use super::period::{Group, Span};
use super::years::{Rule, Years};
use std::collections::{BTreeMap, HashMap};

/// The label of every withheld cell.
pub const WITHHELD: &str = "suprimido";

/// One computed cell.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    pub municipio: String,
    pub ano: i64,
    pub numerador: i64,
    pub denominador: i64,
    /// The value of each named count of the run's [`Shape`], in its order.
    pub parts: Vec<i64>,
}

impl Cell {
    /// A cell of [`Shape::plain`] (or any shape of one name per count).
    pub fn plain(municipio: &str, ano: i64, numerador: i64, denominador: i64) -> Cell {
        Cell {
            municipio: municipio.to_owned(),
            ano,
            numerador,
            denominador,
            parts: vec![numerador, denominador],
        }
    }

    /// Its numerator (kind 0) or denominator (kind 1).
    pub fn count(&self, kind: usize) -> i64 {
        if kind == 0 {
            self.numerador
        } else {
            self.denominador
        }
    }
}

/// A cell as published.
#[derive(Clone, Debug, PartialEq)]
pub struct Published {
    pub municipio: String,
    pub ano: i64,
    pub numerador: Option<i64>,
    pub denominador: Option<i64>,
    pub valor: Option<f64>,
    /// Something of it is withheld.
    pub suppressed: bool,
    /// The state's total of the year.
    pub total: bool,
}

/// How much a run withheld, and how well it protects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub cells: usize,
    /// Cells with a count below the minimum.
    pub primary: usize,
    /// Cells withheld only to protect others.
    pub complementary: usize,
    /// The narrowest range of values the audit leaves a sensitive count
    /// (`None`: nothing sensitive, or nothing published bounds any).
    pub smallest_width: Option<i64>,
    /// Small counts another publication had already published (one with
    /// a lower minimum): withheld here, beyond any protection.
    pub disclosed_elsewhere: usize,
    /// Small counts withheld here that what other tables published still
    /// pins narrower than the protection: nothing this run withholds can
    /// help (said in the run's derivation).
    pub unprotected: usize,
}

/// The protection asked of each sensitive count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Protection {
    /// Counts from 1 to `min_cell - 1` are sensitive (0: none is).
    pub min_cell: u64,
    /// How many values wide a sensitive count's range must stay.
    pub width: u64,
}

impl Protection {
    /// Nothing asked.
    pub const NONE: Protection = Protection {
        min_cell: 0,
        width: 0,
    };

    pub(super) fn k(&self) -> i64 {
        i64::try_from(self.min_cell).unwrap_or(i64::MAX)
    }

    pub(super) fn sensitive(&self, count: i64) -> bool {
        count > 0 && count < self.k()
    }

    /// The stricter of two asks, field by field.
    pub(super) fn strictest(a: Option<Protection>, b: Option<Protection>) -> Option<Protection> {
        match (a, b) {
            (Some(a), Some(b)) => Some(Protection {
                min_cell: a.min_cell.max(b.min_cell),
                width: a.width.max(b.width),
            }),
            (a, b) => a.or(b),
        }
    }

    /// The attacker can neither tell the count is small nor narrow it
    /// below the width.
    pub(super) fn holds(&self, interval: &Interval) -> bool {
        let width = i64::try_from(self.width).unwrap_or(i64::MAX);
        interval
            .high
            .is_none_or(|high| high >= self.k() && high - interval.low >= width)
    }
}

/// A number another publication states: the sum of named counts of
/// municipalities over its years (a count: one municipality; a total: all
/// of its municipalities; a sum declared `a + b`: both names; a period:
/// each of its years).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stated {
    pub span: Span,
    /// `(municipio, count name)`, sorted.
    pub terms: Vec<(String, String)>,
    pub value: i64,
}

/// What other publications (other indicators publishing the same named
/// counts, and earlier runs of this one, all still public) state and
/// withhold. The audit keeps what holds of this run's counts.
#[derive(Clone, Debug, Default)]
pub struct Known {
    /// With the strictest protection a publication stating it asked: a
    /// small name the sum gives away with this run's counts is protected
    /// as its publication would.
    pub stated: BTreeMap<Stated, Protection>,
    /// Counts another publication withholds, `(years, municipio, names
    /// sorted)`: this run must not give them away.
    pub withheld: HashMap<(Span, String, Vec<String>), Withheld>,
}

/// What is known of a count other publications withhold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Withheld {
    /// The strictest protection they asked.
    pub asks: Protection,
    /// One withheld it beside a published total of its year: Lagoa never
    /// withholds a zero then, so anyone knows it is at least 1.
    pub nonzero: bool,
}

impl Known {
    /// Another publication states that `names` of `municipios` in `ano`
    /// add up to `value`.
    pub fn state<'m>(
        &mut self,
        ano: i64,
        municipios: impl IntoIterator<Item = &'m str>,
        names: &[String],
        value: i64,
    ) {
        self.state_asking(Span::year(ano), municipios, names, value, Protection::NONE);
    }

    /// The same over the years of `span`, by a publication asking `asks`
    /// of its counts.
    pub fn state_asking<'m>(
        &mut self,
        span: Span,
        municipios: impl IntoIterator<Item = &'m str>,
        names: &[String],
        value: i64,
        asks: Protection,
    ) {
        let mut terms: Vec<(String, String)> = municipios
            .into_iter()
            .flat_map(|m| names.iter().map(move |n| (m.to_owned(), n.clone())))
            .collect();
        terms.sort();
        let stated = Stated { span, terms, value };
        let asks = Protection::strictest(self.stated.get(&stated).copied(), Some(asks));
        self.stated.insert(stated, asks.unwrap_or(Protection::NONE));
    }

    /// Another publication withholds the sum of `names` of `municipio`
    /// over the years of `span` (`nonzero`: beside a published total).
    pub fn withhold(&mut self, span: Span, municipio: &str, names: &[String], given: Withheld) {
        let mut names = names.to_vec();
        names.sort();
        let entry = self
            .withheld
            .entry((span, municipio.to_owned(), names))
            .or_insert(given);
        entry.asks =
            Protection::strictest(Some(entry.asks), Some(given.asks)).unwrap_or(given.asks);
        entry.nonzero |= given.nonzero;
    }
}

/// The cells as published, years in order, each year's municipalities in
/// code order followed by its total (coded `total_code`). With a period
/// of more than a year ([`Shape::period`]), a cell adds up the years of
/// its window ([`super::period`]).
pub fn publish(
    cells: &[Cell],
    shape: &Shape,
    rule: &Protection,
    known: &Known,
    per: f64,
    total_code: &str,
) -> (Vec<Published>, Summary) {
    let rows = super::period::rows(cells, shape.period);
    let groups = super::period::groups(&rows, shape.period, known);
    let value = |num: i64, den: i64| (den != 0).then(|| num as f64 * per / den as f64);
    let mut out = Vec::with_capacity(cells.len() + 16);
    let mut summary = Summary::default();
    for (audited, (width, unprotected)) in audit_groups(&rows, groups, shape, rule, known) {
        summary.cells += audited.cells.len();
        summary.disclosed_elsewhere += audited.disclosed;
        summary.unprotected += unprotected;
        summary.smallest_width = [width, summary.smallest_width].into_iter().flatten().min();
        let [num, den] = &audited.kinds;
        for (slot, &ano) in audited.years.iter().enumerate() {
            let mut sums = [0i64; 2];
            for (i, c) in audited.cells.iter().enumerate() {
                if audited.slot[i] != slot {
                    continue;
                }
                sums[0] += c.numerador;
                sums[1] += c.denominador;
                let marks = [num.withheld[i], den.withheld[i]];
                if marks.contains(&Some(Rule::Primary)) {
                    summary.primary += 1;
                } else if marks.iter().any(Option::is_some) {
                    summary.complementary += 1;
                }
                let (n, d) = (
                    marks[0].is_none().then_some(c.numerador),
                    marks[1].is_none().then_some(c.denominador),
                );
                out.push(Published {
                    municipio: c.municipio.clone(),
                    ano: c.ano,
                    numerador: n,
                    denominador: d,
                    valor: n.zip(d).and_then(|(n, d)| value(n, d)),
                    suppressed: n.is_none() || d.is_none(),
                    total: false,
                });
            }
            let (n, d) = (
                num.total[slot].then_some(sums[0]),
                den.total[slot].then_some(sums[1]),
            );
            out.push(Published {
                municipio: total_code.to_owned(),
                ano,
                numerador: n,
                denominador: d,
                valor: n.zip(d).and_then(|(n, d)| value(n, d)),
                suppressed: n.is_none() || d.is_none(),
                total: true,
            });
        }
    }
    // Groups hold whole years; a stable sort keeps each year's order.
    out.sort_by_key(|p| p.ano);
    (out, summary)
}

/// Each group of years audited and protected, with the narrowest width
/// and how many stay unprotected. Groups share no count, so they are
/// solved on every core at once.
fn audit_groups<'a>(
    rows: &'a [Cell],
    groups: Vec<Group>,
    shape: &'a Shape,
    rule: &Protection,
    known: &Known,
) -> Vec<(Years<'a>, (Option<i64>, usize))> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = groups.len().div_ceil(cores.max(1)).max(1);
    let mut chunks: Vec<Vec<Group>> = Vec::new();
    for group in groups {
        match chunks.last_mut() {
            Some(last) if last.len() < chunk => last.push(group),
            _ => chunks.push(vec![group]),
        }
    }
    std::thread::scope(|scope| {
        let workers: Vec<_> = chunks
            .into_iter()
            .map(|some| {
                scope.spawn(move || {
                    some.into_iter()
                        .map(|group| {
                            let own: Vec<&Cell> = group.rows.iter().map(|&r| &rows[r]).collect();
                            let mut audited = Years::new(own, group.windows, shape, rule, known);
                            let outcome = audited.protect();
                            (audited, outcome)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| {
                w.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(m: &str, ano: i64, num: i64, den: i64) -> Cell {
        Cell::plain(m, ano, num, den)
    }

    /// Counts named as other indicators publish them.
    fn named() -> Shape {
        Shape::of(&[Some("obitos".into()), Some("nascidos".into())])
    }

    fn names(kind: usize) -> Vec<String> {
        vec![["obitos", "nascidos"][kind].to_owned()]
    }

    fn find<'a>(p: &'a [Published], m: &str, ano: i64) -> &'a Published {
        p.iter().find(|c| c.municipio == m && c.ano == ano).unwrap()
    }

    const K5: Protection = Protection {
        min_cell: 5,
        width: 5,
    };

    /// The numerators of `year` as published (`None`: withheld).
    fn numerators(p: &[Published], year: i64) -> Vec<Option<i64>> {
        p.iter()
            .filter(|c| c.ano == year && !c.total)
            .map(|c| c.numerador)
            .collect()
    }

    /// The denominators of `year` as published (`None`: withheld).
    fn denominators(p: &[Published], year: i64) -> Vec<Option<i64>> {
        p.iter()
            .filter(|c| c.ano == year && !c.total)
            .map(|c| c.denominador)
            .collect()
    }

    #[test]
    fn a_lone_small_count_takes_the_next_smallest_with_it() {
        let cells = [
            cell("2600054", 2024, 3, 400),
            cell("2600104", 2024, 9, 900),
            cell("2600203", 2024, 40, 5000),
            cell("2600302", 2024, 7, 800),
        ];
        let (p, s) = publish(
            &cells,
            &Shape::plain(),
            &K5,
            &Known::default(),
            1000.0,
            "26",
        );
        assert_eq!(
            s,
            Summary {
                cells: 4,
                primary: 1,
                complementary: 1,
                smallest_width: Some(8),
                disclosed_elsewhere: 0,
                unprotected: 0,
            }
        );
        let a = find(&p, "2600054", 2024);
        assert_eq!((a.numerador, a.valor, a.suppressed), (None, None, true));
        assert_eq!(a.denominador, Some(400), "a large denominator stays");
        assert_eq!(numerators(&p, 2024), [None, Some(9), Some(40), None]);
        let c = find(&p, "2600104", 2024);
        assert_eq!((c.numerador, c.valor), (Some(9), Some(10.0)));
        let total = find(&p, "26", 2024);
        assert!(total.total && !total.suppressed);
        assert_eq!((total.numerador, total.denominador), (Some(59), Some(7100)));
    }

    #[test]
    fn small_counts_whose_sum_stays_small_take_a_larger_one_with_them() {
        // Withholding 1 and 2 alone leaves their sum, 3: both known below 5.
        let cells = [
            cell("2600054", 2024, 1, 400),
            cell("2600104", 2024, 2, 900),
            cell("2600203", 2024, 30, 5000),
            cell("2600302", 2024, 50, 800),
        ];
        let (p, s) = publish(
            &cells,
            &Shape::plain(),
            &K5,
            &Known::default(),
            1000.0,
            "26",
        );
        assert_eq!(numerators(&p, 2024), [None, None, None, Some(50)]);
        assert_eq!((s.primary, s.complementary), (2, 1));
        assert_eq!(
            s.smallest_width,
            Some(30),
            "each is anything from 1 to 31: a withheld count is never 0"
        );
    }

    #[test]
    fn a_wider_protection_withholds_until_the_withheld_sum_reaches_it() {
        let cells = [
            cell("2600054", 2024, 3, 400),
            cell("2600104", 2024, 40, 900),
            cell("2600203", 2024, 60, 5000),
            cell("2600302", 2024, 100, 800),
        ];
        let wide = Protection {
            min_cell: 5,
            width: 50,
        };
        let (p, s) = publish(
            &cells,
            &Shape::plain(),
            &wide,
            &Known::default(),
            1000.0,
            "26",
        );
        assert_eq!(numerators(&p, 2024), [None, None, None, Some(100)]);
        // 1 … 100: none withheld exceeds the 100 left published.
        assert_eq!(s.smallest_width, Some(99));
        assert_eq!(find(&p, "26", 2024).numerador, Some(203));
    }

    #[test]
    fn the_total_goes_only_when_nothing_else_can_protect() {
        let cells = [cell("2600054", 2024, 3, 400), cell("2600104", 2024, 6, 900)];
        let wide = Protection {
            min_cell: 5,
            width: 20,
        };
        let (p, s) = publish(
            &cells,
            &Shape::plain(),
            &wide,
            &Known::default(),
            1000.0,
            "26",
        );
        assert_eq!(numerators(&p, 2024), [None, None]);
        let total = find(&p, "26", 2024);
        assert_eq!((total.numerador, total.denominador), (None, Some(1300)));
        assert!(total.suppressed);
        assert_eq!(s.smallest_width, None, "nothing published bounds them");
        // A year whose total is small goes whole, zeros too.
        let cells = [
            cell("2600054", 2024, 3, 400),
            cell("2600104", 2024, 0, 900),
            cell("2600203", 2024, 1, 900),
        ];
        let (p, s) = publish(
            &cells,
            &Shape::plain(),
            &K5,
            &Known::default(),
            1000.0,
            "26",
        );
        assert_eq!(numerators(&p, 2024), [None, None, None]);
        assert_eq!(find(&p, "26", 2024).numerador, None);
        assert_eq!((s.smallest_width, s.unprotected), (None, 0));
    }

    #[test]
    fn zeros_are_published_and_small_denominators_hide_the_value() {
        let cells = [
            cell("2600054", 2023, 0, 300),
            cell("2600104", 2023, 0, 3),
            cell("2600203", 2023, 12, 4),
            cell("2600302", 2023, 8, 700),
        ];
        let (p, s) = publish(&cells, &Shape::plain(), &K5, &Known::default(), 100.0, "26");
        assert_eq!(find(&p, "2600054", 2023).valor, Some(0.0));
        let b = find(&p, "2600104", 2023);
        assert_eq!((b.numerador, b.denominador, b.valor), (Some(0), None, None));
        let c = find(&p, "2600203", 2023);
        assert_eq!((c.numerador, c.denominador), (Some(12), None));
        assert_eq!(s.primary, 2);
        assert_eq!(
            s.complementary, 0,
            "two withheld denominators summing to 7 cover each other"
        );
        assert_eq!(s.smallest_width, Some(5), "each is one of 1 … 6");
    }

    #[test]
    fn without_a_minimum_everything_is_published_and_a_lone_municipality_hides_its_total() {
        let cells = [cell("2600054", 2024, 1, 2), cell("2600054", 2023, 2, 1)];
        let none = Protection {
            min_cell: 0,
            width: 0,
        };
        let (p, s) = publish(
            &cells,
            &Shape::plain(),
            &none,
            &Known::default(),
            100.0,
            "26",
        );
        assert_eq!(
            s,
            Summary {
                cells: 2,
                ..Summary::default()
            }
        );
        assert_eq!(find(&p, "26", 2024).valor, Some(50.0));
        let (p, _) = publish(
            &cells[..1],
            &Shape::plain(),
            &K5,
            &Known::default(),
            100.0,
            "26",
        );
        let total = find(&p, "26", 2024);
        assert_eq!((total.numerador, total.valor), (None, None));
    }

    #[test]
    fn a_count_published_elsewhere_is_no_partner() {
        // Another indicator publishes 2600302's 7: withholding it here would
        // hide nothing, so 9 goes with the 3.
        let cells = [
            cell("2600054", 2024, 3, 400),
            cell("2600104", 2024, 9, 900),
            cell("2600203", 2024, 40, 5000),
            cell("2600302", 2024, 7, 800),
        ];
        let mut known = Known::default();
        known.state(2024, ["2600302"], &names(0), 7);
        let (p, s) = publish(&cells, &named(), &K5, &known, 1000.0, "26");
        assert_eq!(numerators(&p, 2024), [None, None, Some(40), Some(7)]);
        assert_eq!(s.smallest_width, Some(10));
    }

    #[test]
    fn a_count_another_publication_withholds_stays_protected_here() {
        // This indicator has no minimum, but another withheld 2600104's
        // denominator of 3 with the next smallest: publishing either here
        // would give it away.
        let cells = [
            cell("2600054", 2024, 10, 400),
            cell("2600104", 2024, 2, 3),
            cell("2600203", 2024, 40, 5000),
        ];
        let mut known = Known::default();
        known.state(2024, ["2600054", "2600104", "2600203"], &names(1), 5403);
        let given = Withheld {
            asks: K5,
            nonzero: false,
        };
        known.withhold(Span::year(2024), "2600104", &names(1), given);
        let none = Protection {
            min_cell: 0,
            width: 0,
        };
        let (p, s) = publish(&cells, &named(), &none, &known, 100.0, "26");
        let dens = denominators(&p, 2024);
        assert_eq!(dens, [None, None, Some(5000)]);
        assert_eq!(numerators(&p, 2024), [Some(10), Some(2), Some(40)]);
        assert_eq!(s.smallest_width, Some(401));
        assert_eq!(find(&p, "26", 2024).denominador, Some(5403));
    }

    #[test]
    fn a_small_count_already_published_elsewhere_is_withheld_and_said() {
        let cells = [cell("2600054", 2024, 3, 400), cell("2600104", 2024, 9, 900)];
        let mut known = Known::default();
        known.state(2024, ["2600054"], &names(0), 3);
        let (p, s) = publish(&cells, &named(), &K5, &known, 1000.0, "26");
        assert_eq!(numerators(&p, 2024), [None, Some(9)]);
        assert_eq!((s.disclosed_elsewhere, s.complementary), (1, 0));
    }

    #[test]
    fn an_earlier_total_over_fewer_municipalities_is_a_fact_too() {
        // An earlier table covered 2600054 … 2600302 (total 79, its 3 and 6
        // withheld); a fifth municipality arrived since. Publishing 6 now
        // would give the 3 away: 79 − 20 − 50 − 6.
        let cells = [
            cell("2600054", 2024, 3, 400),
            cell("2600104", 2024, 6, 900),
            cell("2600203", 2024, 20, 5000),
            cell("2600302", 2024, 50, 800),
            cell("2600401", 2024, 5, 800),
        ];
        let mut known = Known::default();
        known.state(
            2024,
            ["2600054", "2600104", "2600203", "2600302"],
            &names(0),
            79,
        );
        known.state(2024, ["2600203"], &names(0), 20);
        known.state(2024, ["2600302"], &names(0), 50);
        let (p, s) = publish(&cells, &named(), &K5, &known, 1000.0, "26");
        let nums = numerators(&p, 2024);
        assert_eq!(nums[0], None);
        assert_eq!(nums[1], None, "the 6 stays withheld: {nums:?}");
        assert_eq!(s.unprotected, 0);
    }

    #[test]
    fn partners_going_smallest_first_is_known_to_the_attacker() {
        // 3 withheld with 5 beside a published 5: both withheld counts are
        // at most 5 (the rule would have taken a smaller one), so the 3 is
        // one of 3 … 5. Another partner goes.
        let cells = [
            cell("2600054", 2024, 3, 400),
            cell("2600104", 2024, 5, 900),
            cell("2600203", 2024, 5, 5000),
            cell("2600302", 2024, 50, 800),
        ];
        let (p, s) = publish(
            &cells,
            &Shape::plain(),
            &K5,
            &Known::default(),
            1000.0,
            "26",
        );
        assert_eq!(numerators(&p, 2024), [None, None, None, Some(50)]);
        assert_eq!(
            s.smallest_width,
            Some(10),
            "each is one of 1 … 11, none above 50"
        );
    }

    /// Perinatal mortality's counts: (deaths before birth + in the first
    /// week) over (live births + deaths before birth).
    fn perinatal() -> Shape {
        Shape::of(&[
            Some("fetais + precoces".into()),
            Some("nascidos + fetais".into()),
        ])
    }

    /// A perinatal cell from its named counts.
    fn sum_cell(m: &str, fetais: i64, precoces: i64, nascidos: i64) -> Cell {
        Cell {
            municipio: m.into(),
            ano: 2024,
            numerador: fetais + precoces,
            denominador: nascidos + fetais,
            parts: vec![fetais, precoces, nascidos],
        }
    }

    #[test]
    fn a_sum_beside_a_count_published_elsewhere_does_not_give_its_other_name_away() {
        // Live births are published by another indicator, each and in all.
        // 2600054's 302 = 300 births + 2 deaths before birth: published, the
        // subtraction gives the 2 away; so does the year's total once the
        // others are published. Its denominator goes with the smallest of
        // the others (the numerator would leave the 2 pinned).
        let cells = [
            sum_cell("2600054", 2, 1, 300),
            sum_cell("2600104", 6, 7, 900),
            sum_cell("2600203", 8, 9, 1200),
        ];
        let births = vec!["nascidos".to_owned()];
        let mut known = Known::default();
        for c in &cells {
            known.state(2024, [c.municipio.as_str()], &births, c.parts[2]);
        }
        known.state(
            2024,
            cells.iter().map(|c| c.municipio.as_str()),
            &births,
            2400,
        );
        let (p, s) = publish(&cells, &perinatal(), &K5, &known, 1000.0, "26");
        assert_eq!(numerators(&p, 2024), [None, None, Some(17)]);
        let dens = denominators(&p, 2024);
        assert_eq!(dens, [None, None, Some(1208)]);
        let total = find(&p, "26", 2024);
        assert_eq!((total.numerador, total.denominador), (Some(33), Some(2416)));
        assert_eq!((s.primary, s.complementary, s.unprotected), (1, 1, 0));
        assert_eq!(s.smallest_width, Some(8), "2 and 1 are each one of 0 … 8");
    }

    #[test]
    fn a_sum_with_a_name_this_run_lacks_still_counts() {
        // Another table published births + deaths before birth (7) and a
        // third the deaths before birth (3) of 2600104: its 4 births are
        // public whatever this run withholds; said, not hidden.
        let cells = [
            cell("2600054", 2024, 10, 400),
            cell("2600104", 2024, 2, 4),
            cell("2600203", 2024, 40, 5000),
        ];
        let mut known = Known::default();
        let sum = ["nascidos".to_owned(), "fetais".to_owned()];
        known.state(2024, ["2600104"], &sum, 7);
        known.state(2024, ["2600104"], &["fetais".to_owned()], 3);
        let (p, s) = publish(&cells, &named(), &K5, &known, 1000.0, "26");
        assert_eq!(find(&p, "2600104", 2024).denominador, None);
        assert_eq!(s.unprotected, 1, "{s:?}");
        // Another version of the data (a sum below this run's births)
        // pins nothing.
        let mut other = Known::default();
        other.state(2024, ["2600104"], &sum, 3);
        other.state(2024, ["2600104"], &["fetais".to_owned()], 0);
        let (_, s) = publish(&cells, &named(), &K5, &other, 1000.0, "26");
        assert_eq!(s.unprotected, 0, "{s:?}");
    }

    #[test]
    fn a_value_stated_by_another_version_of_the_data_is_no_fact() {
        // 999 is not this run's 9: the 9 still partners the 3.
        let cells = [
            cell("2600054", 2024, 3, 400),
            cell("2600104", 2024, 9, 900),
            cell("2600203", 2024, 40, 5000),
        ];
        let mut known = Known::default();
        known.state(2024, ["2600104"], &names(0), 999);
        let (p, _) = publish(&cells, &named(), &K5, &known, 1000.0, "26");
        assert_eq!(numerators(&p, 2024), [None, None, Some(40)]);
    }

    #[test]
    fn a_proportion_bounds_its_numerator_by_its_denominator() {
        // 3 of 5 (the 5 published): anyone knows the 3 is at most 5, so
        // beside a partner of 9 it is one of 1 … 5, narrower than 5 values.
        // The denominator goes too, with a partner of its own.
        let cells = [
            cell("2600054", 2024, 3, 5),
            cell("2600104", 2024, 9, 12),
            cell("2600203", 2024, 40, 500),
            cell("2600302", 2024, 60, 700),
        ];
        let shape = Shape::plain().proportion(true);
        let (p, s) = publish(&cells, &shape, &K5, &Known::default(), 100.0, "26");
        assert_eq!(numerators(&p, 2024), [None, None, Some(40), Some(60)]);
        assert_eq!(denominators(&p, 2024), [None, None, Some(500), Some(700)]);
        assert_eq!((s.primary, s.complementary), (1, 1));
        assert_eq!(s.smallest_width, Some(10), "the 3 is one of 1 … 11");
        // Not declared a proportion, the audit would leave the 5 out.
        let (p, _) = publish(&cells, &Shape::plain(), &K5, &Known::default(), 100.0, "26");
        assert_eq!(
            denominators(&p, 2024),
            [Some(5), Some(12), Some(500), Some(700)]
        );
    }

    #[test]
    fn a_count_does_not_give_away_a_small_name_of_a_sum_published_before() {
        // Perinatal mortality published births + fetal deaths (302, 906,
        // 1208 and 2416 in all) protecting 2600054's 2 fetal deaths: its
        // births were unknown. Publishing the births now, 302 − 300 would
        // give the 2 away: the births go, with a partner.
        let cells = [
            cell("2600054", 2024, 10, 300),
            cell("2600104", 2024, 20, 900),
            cell("2600203", 2024, 30, 1200),
        ];
        let sum = ["nascidos".to_owned(), "fetais".to_owned()];
        let mut known = Known::default();
        for (m, value) in [("2600054", 302), ("2600104", 906), ("2600203", 1208)] {
            known.state_asking(Span::year(2024), [m], &sum, value, K5);
        }
        let all = ["2600054", "2600104", "2600203"];
        known.state_asking(Span::year(2024), all, &sum, 2416, K5);
        let (p, s) = publish(&cells, &named(), &K5, &known, 1000.0, "26");
        assert_eq!(denominators(&p, 2024), [None, None, Some(1200)]);
        assert_eq!(find(&p, "26", 2024).denominador, Some(2400));
        assert_eq!(numerators(&p, 2024), [Some(10), Some(20), Some(30)]);
        assert_eq!((s.unprotected, s.smallest_width), (0, Some(8)), "{s:?}");
    }

    #[test]
    fn a_lone_municipality_withheld_is_known_small_and_said() {
        let cells = [cell("5300108", 2024, 3, 400)];
        let (p, s) = publish(
            &cells,
            &Shape::plain(),
            &K5,
            &Known::default(),
            1000.0,
            "53",
        );
        assert_eq!(numerators(&p, 2024), [None]);
        assert_eq!(s.unprotected, 1, "withheld alone, it can only be 1 … 4");
    }
}
