//! Small-cell suppression, audited: what an indicator may publish.
//!
//! A cell is one municipality in one year, with two counts. With a minimum
//! cell size `k` and a protection width `w` (`-- protection:`, `k` unless
//! the definition says otherwise):
//!
//! - **primary**: a count above zero and below `k` is sensitive and
//!   withheld (the numerator, the denominator or both), and so is the
//!   value;
//! - **the state's total** of each year is published, unless it is itself
//!   below `k` or the year has a single municipality and it is withheld;
//! - **the audit**: every published number (each count, each total) is a
//!   linear fact about the counts; the attacker's audit
//!   ([`super::audit`], an integer program per group of withheld counts)
//!   gives the values each withheld count can still take. A sensitive
//!   count is protected when those values reach `k` (nobody can tell it
//!   is small) and span at least `w`;
//! - **complementary**: while a sensitive count is not protected, the
//!   smallest published count above zero that shares a published total
//!   with it is withheld too, and the audit runs again; when nothing is
//!   left to withhold beside it, the total goes (never otherwise);
//! - every withheld cell carries one label, `suprimido`: a label per rule
//!   would tell anyone that a primary count is below `k`;
//! - a value is published only when both of its counts are.
//!
//! `k = 0` publishes everything.

use super::audit::{Interval, Public};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::ops::Range;

/// The label of every withheld cell.
pub const WITHHELD: &str = "suprimido";

/// One computed cell.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    pub municipio: String,
    pub ano: i64,
    pub numerador: i64,
    pub denominador: i64,
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
    fn k(&self) -> i64 {
        i64::try_from(self.min_cell).unwrap_or(i64::MAX)
    }

    fn sensitive(&self, count: i64) -> bool {
        count > 0 && count < self.k()
    }

    /// The attacker can neither tell the count is small nor narrow it
    /// below the width.
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

    fn holds(&self, interval: &Interval) -> bool {
        let width = i64::try_from(self.width).unwrap_or(i64::MAX);
        interval
            .high
            .is_none_or(|high| high >= self.k() && high - interval.low >= width)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rule {
    Primary,
    Complementary,
}

/// What other publications (other indicators publishing the same counts,
/// and earlier runs of this one, all still public) already state about
/// this run's counts. Kind 0 is the numerator, 1 the denominator.
#[derive(Clone, Debug, Default)]
pub struct Known {
    /// Counts whose value, as this run computes it, is published
    /// elsewhere: `(kind, municipio, ano)`.
    pub counts: HashSet<(usize, String, i64)>,
    /// Sums published elsewhere (totals of other tables) over some of
    /// this run's municipalities, with the value this run computes for
    /// them: `(kind, ano)` → the municipalities of each.
    pub sums: HashMap<(usize, i64), Vec<BTreeSet<String>>>,
    /// Counts another publication withholds, with the strictest
    /// protection it asks: this run must not give them away.
    pub withheld: HashMap<(usize, String, i64), Protection>,
}

/// One year's numerators (or denominators) and their total: the counts a
/// published total ties together.
struct Group<'a> {
    counts: Vec<i64>,
    withheld: Vec<Option<Rule>>,
    /// Published elsewhere: known whatever this run does.
    elsewhere: Vec<bool>,
    /// The protection a sensitive count needs (`None`: not sensitive, or
    /// already published elsewhere, where nothing here can protect it).
    needs: Vec<Option<Protection>>,
    /// The total is published by this run.
    total: bool,
    /// Sums of some of its counts published elsewhere (indices).
    sums: Vec<Vec<usize>>,
    /// Sensitive counts another publication already gave away.
    disclosed: usize,
    /// The largest minimum asked of any of its counts: a count withheld
    /// as small is below it.
    small_below: i64,
    municipios: &'a [&'a Cell],
}

impl Group<'_> {
    fn new<'a>(cells: &'a [&'a Cell], kind: usize, rule: &Protection, known: &Known) -> Group<'a> {
        let counts: Vec<i64> = cells
            .iter()
            .map(|c| {
                if kind == 0 {
                    c.numerador
                } else {
                    c.denominador
                }
            })
            .collect();
        let key = |i: usize| (kind, cells[i].municipio.clone(), cells[i].ano);
        let elsewhere: Vec<bool> = (0..counts.len())
            .map(|i| known.counts.contains(&key(i)))
            .collect();
        let mut needs: Vec<Option<Protection>> = (0..counts.len())
            .map(|i| {
                let own = rule.sensitive(counts[i]).then_some(*rule);
                let theirs = known
                    .withheld
                    .get(&key(i))
                    .filter(|p| p.sensitive(counts[i]))
                    .copied();
                Protection::strictest(own, theirs)
            })
            .collect();
        // Never published here while small, even if given away elsewhere.
        let withheld: Vec<Option<Rule>> = needs.iter().map(|n| n.map(|_| Rule::Primary)).collect();
        let mut disclosed = 0;
        for (need, &public) in needs.iter_mut().zip(&elsewhere) {
            if public && need.take().is_some() {
                disclosed += 1;
            }
        }
        let small_below = (0..counts.len())
            .filter_map(|i| known.withheld.get(&key(i)).map(Protection::k))
            .chain([rule.k()])
            .max()
            .unwrap_or(0);
        let lone = counts.len() == 1 && withheld[0].is_some();
        let total = !(lone || rule.sensitive(counts.iter().sum::<i64>()));
        let stated = cells
            .first()
            .and_then(|c| known.sums.get(&(kind, c.ano)))
            .into_iter()
            .flatten();
        let sums = stated
            .map(|over| {
                (0..cells.len())
                    .filter(|&i| over.contains(&cells[i].municipio))
                    .collect()
            })
            .collect();
        let mut group = Group {
            counts,
            withheld,
            elsewhere,
            needs,
            total: true,
            sums,
            disclosed,
            small_below,
            municipios: cells,
        };
        if !total {
            group.withhold_year();
        }
        group
    }

    /// Whether count `i` may still be withheld as a partner: one above
    /// zero that only this run publishes (a withheld zero, or a count
    /// known elsewhere, adds no room).
    fn partner(&self, i: usize) -> bool {
        self.withheld[i].is_none() && !self.elsewhere[i] && self.counts[i] > 0
    }

    /// The total goes, and every count with it, zeros included: then
    /// nothing of this run ties them, and no withheld count can be told
    /// from a zero.
    fn withhold_year(&mut self) {
        self.total = false;
        for w in &mut self.withheld {
            w.get_or_insert(Rule::Complementary);
        }
    }

    /// What anyone can see of the group: the counts and sums published,
    /// here or elsewhere, and what the rule itself gives away while the
    /// total is published: no zero is withheld, so a withheld count is at
    /// least 1; and partners go smallest first, so a withheld count is
    /// either small or at most the smallest count still published here.
    fn public(&self) -> Public {
        let mut public = Public::new(self.counts.clone());
        let smallest_left = (0..self.counts.len())
            .filter(|&i| self.partner(i))
            .map(|i| self.counts[i])
            .min();
        let cap = smallest_left.map(|c| c.max(self.small_below - 1));
        for i in 0..self.counts.len() {
            if self.withheld[i].is_none() || self.elsewhere[i] {
                public.publish_count(i);
            } else if self.total {
                public.know(i, 1, cap);
            }
        }
        if self.total {
            public.publish((0..self.counts.len()).map(|i| (i, 1)).collect());
        }
        for over in &self.sums {
            public.publish(over.iter().map(|&i| (i, 1)).collect());
        }
        public
    }

    /// Withholds more until every sensitive count is protected: the
    /// narrowest width left to one, and how many stay unprotected (pinned
    /// by what other tables published, beyond this run's reach).
    fn protect(&mut self) -> (Option<i64>, usize) {
        loop {
            let intervals = self.public().intervals();
            let sensitive = intervals
                .iter()
                .filter_map(|(i, interval)| self.needs[*i].map(|need| (need, interval)));
            let unprotected = sensitive
                .clone()
                .filter(|(need, interval)| !need.holds(interval))
                .count();
            let narrowest = sensitive.filter_map(|(_, interval)| interval.width()).min();
            if unprotected == 0 {
                return (narrowest, 0);
            }
            let partner = (0..self.counts.len())
                .filter(|&i| self.partner(i))
                .min_by_key(|&i| (self.counts[i], &self.municipios[i].municipio));
            match partner {
                Some(i) => self.withheld[i] = Some(Rule::Complementary),
                // Everything beside it is withheld and the total still
                // pins it down (a protection wider than the total).
                None if self.total => self.withhold_year(),
                // What others published pins it: nothing here can help.
                None => return (narrowest, unprotected),
            }
        }
    }
}

/// The cells as published, years in order, each year's municipalities in
/// code order followed by its total (coded `total_code`).
pub fn publish(
    cells: &[Cell],
    rule: &Protection,
    known: &Known,
    per: f64,
    total_code: &str,
) -> (Vec<Published>, Summary) {
    let mut sorted: Vec<&Cell> = cells.iter().collect();
    sorted.sort_by(|a, b| (a.ano, &a.municipio).cmp(&(b.ano, &b.municipio)));
    let value = |num: i64, den: i64| (den != 0).then(|| num as f64 * per / den as f64);
    let mut out = Vec::with_capacity(cells.len() + 16);
    let mut summary = Summary {
        cells: cells.len(),
        ..Summary::default()
    };
    for range in years(&sorted) {
        let year = &sorted[range];
        let mut num = Group::new(year, 0, rule, known);
        let mut den = Group::new(year, 1, rule, known);
        let (num_width, num_unprotected) = num.protect();
        let (den_width, den_unprotected) = den.protect();
        let widths = [num_width, den_width];
        summary.disclosed_elsewhere += num.disclosed + den.disclosed;
        summary.unprotected += num_unprotected + den_unprotected;
        summary.smallest_width = widths
            .into_iter()
            .chain([summary.smallest_width])
            .flatten()
            .min();
        for (i, c) in year.iter().enumerate() {
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
            num.total.then(|| num.counts.iter().sum()),
            den.total.then(|| den.counts.iter().sum()),
        );
        out.push(Published {
            municipio: total_code.to_owned(),
            ano: year[0].ano,
            numerador: n,
            denominador: d,
            valor: n.zip(d).and_then(|(n, d)| value(n, d)),
            suppressed: n.is_none() || d.is_none(),
            total: true,
        });
    }
    (out, summary)
}

/// The ranges of `sorted` (by year) that hold one year each.
fn years(sorted: &[&Cell]) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = Vec::new();
    for (i, c) in sorted.iter().enumerate() {
        match out.last_mut() {
            Some(last) if sorted[last.start].ano == c.ano => last.end = i + 1,
            _ => out.push(i..i + 1),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(m: &str, ano: i64, num: i64, den: i64) -> Cell {
        Cell {
            municipio: m.into(),
            ano,
            numerador: num,
            denominador: den,
        }
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

    #[test]
    fn a_lone_small_count_takes_the_next_smallest_with_it() {
        let cells = [
            cell("2600054", 2024, 3, 400),
            cell("2600104", 2024, 9, 900),
            cell("2600203", 2024, 40, 5000),
            cell("2600302", 2024, 7, 800),
        ];
        let (p, s) = publish(&cells, &K5, &Known::default(), 1000.0, "26");
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
        let (p, s) = publish(&cells, &K5, &Known::default(), 1000.0, "26");
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
        let (p, s) = publish(&cells, &wide, &Known::default(), 1000.0, "26");
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
        let (p, s) = publish(&cells, &wide, &Known::default(), 1000.0, "26");
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
        let (p, s) = publish(&cells, &K5, &Known::default(), 1000.0, "26");
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
        let (p, s) = publish(&cells, &K5, &Known::default(), 100.0, "26");
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
        let (p, s) = publish(&cells, &none, &Known::default(), 100.0, "26");
        assert_eq!(
            s,
            Summary {
                cells: 2,
                ..Summary::default()
            }
        );
        assert_eq!(find(&p, "26", 2024).valor, Some(50.0));
        let (p, _) = publish(&cells[..1], &K5, &Known::default(), 100.0, "26");
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
        let known = Known {
            counts: HashSet::from([(0, "2600302".to_owned(), 2024)]),
            ..Known::default()
        };
        let (p, s) = publish(&cells, &K5, &known, 1000.0, "26");
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
        let known = Known {
            sums: HashMap::from([(
                (1, 2024),
                vec![BTreeSet::from(
                    ["2600054", "2600104", "2600203"].map(String::from),
                )],
            )]),
            withheld: HashMap::from([((1, "2600104".to_owned(), 2024), K5)]),
            ..Known::default()
        };
        let none = Protection {
            min_cell: 0,
            width: 0,
        };
        let (p, s) = publish(&cells, &none, &known, 100.0, "26");
        let dens: Vec<Option<i64>> = p
            .iter()
            .filter(|c| !c.total)
            .map(|c| c.denominador)
            .collect();
        assert_eq!(dens, [None, None, Some(5000)]);
        assert_eq!(numerators(&p, 2024), [Some(10), Some(2), Some(40)]);
        assert_eq!(s.smallest_width, Some(401));
        assert_eq!(find(&p, "26", 2024).denominador, Some(5403));
    }

    #[test]
    fn a_small_count_already_published_elsewhere_is_withheld_and_said() {
        let cells = [cell("2600054", 2024, 3, 400), cell("2600104", 2024, 9, 900)];
        let known = Known {
            counts: HashSet::from([(0, "2600054".to_owned(), 2024)]),
            ..Known::default()
        };
        let (p, s) = publish(&cells, &K5, &known, 1000.0, "26");
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
        let earlier: BTreeSet<String> = ["2600054", "2600104", "2600203", "2600302"]
            .map(String::from)
            .into();
        let known = Known {
            counts: HashSet::from([
                (0, "2600203".to_owned(), 2024),
                (0, "2600302".to_owned(), 2024),
            ]),
            sums: HashMap::from([((0, 2024), vec![earlier])]),
            ..Known::default()
        };
        let (p, s) = publish(&cells, &K5, &known, 1000.0, "26");
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
        let (p, s) = publish(&cells, &K5, &Known::default(), 1000.0, "26");
        assert_eq!(numerators(&p, 2024), [None, None, None, Some(50)]);
        assert_eq!(
            s.smallest_width,
            Some(10),
            "each is one of 1 … 11, none above 50"
        );
    }
}
