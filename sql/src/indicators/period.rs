//! Counts that add up several years (`-- period: 3`, as RIPSA's triennial
//! rates of small municipalities do), and which years the attacker's audit
//! must therefore solve together.
//!
//! ```text
//!  rows      what the SQL returns: one per municipality and year (a year with
//!            no row counts zero when the period is longer than a year)
//!  windows   what is published: for each year Y from the first + period − 1
//!            to the last, each municipality's rows of Y − period + 1 … Y added up
//!  groups    years tied by a window, or by a number another publication
//!            states over several years, are audited as one problem; other
//!            years stay apart (one problem per year, as before periods)
//! ```
//!
//! Two windows of consecutive years overlap: their difference is one
//! year's count less another's. Nothing here judges that; the audit does,
//! with every window, every year and every other publication at once.

use super::suppress::{Cell, Known};
use std::collections::{BTreeMap, HashMap};
use std::ops::RangeInclusive;

/// The years a published number adds up: `years` of them, `last` the one
/// it is published under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    pub last: i64,
    pub years: i64,
}

impl Span {
    /// One year.
    pub fn year(ano: i64) -> Span {
        Span {
            last: ano,
            years: 1,
        }
    }

    /// `years` years ending with `last` (at least one).
    pub fn ending(last: i64, years: i64) -> Span {
        Span {
            last,
            years: years.max(1),
        }
    }

    pub fn range(&self) -> RangeInclusive<i64> {
        self.last - self.years + 1..=self.last
    }

    /// Whether the two add up a year in common.
    pub fn overlaps(&self, other: &Span) -> bool {
        let (a, b) = (self.range(), other.range());
        a.start() <= b.end() && b.start() <= a.end()
    }
}

/// A published cell and the rows (places in its group's rows) it adds up.
#[derive(Clone, Debug)]
pub(super) struct Window {
    pub cell: Cell,
    pub rows: Vec<usize>,
}

/// Years audited together: their rows (places in the run's rows) and the
/// cells published over them.
pub(super) struct Group {
    pub rows: Vec<usize>,
    pub windows: Vec<Window>,
}

/// The rows of a run as the audit reads them, by year then municipality.
/// With a period of more than a year, every municipality has a row for
/// every year from the first to the last (zero where the SQL returned
/// none), so a window always adds up the same years.
pub(super) fn rows(cells: &[Cell], period: i64) -> Vec<Cell> {
    let mut rows: Vec<Cell> = cells.to_vec();
    if period > 1
        && let (Some(first), Some(last)) = (
            rows.iter().map(|c| c.ano).min(),
            rows.iter().map(|c| c.ano).max(),
        )
    {
        let atoms = rows.first().map_or(0, |c| c.parts.len());
        let held: std::collections::HashSet<(String, i64)> =
            rows.iter().map(|c| (c.municipio.clone(), c.ano)).collect();
        let places: std::collections::BTreeSet<String> =
            rows.iter().map(|c| c.municipio.clone()).collect();
        for m in &places {
            for ano in first..=last {
                if !held.contains(&(m.clone(), ano)) {
                    rows.push(Cell {
                        municipio: m.clone(),
                        ano,
                        numerador: 0,
                        denominador: 0,
                        parts: vec![0; atoms],
                    });
                }
            }
        }
    }
    rows.sort_by(|a, b| (a.ano, &a.municipio).cmp(&(b.ano, &b.municipio)));
    rows
}

/// The cells published over `rows` (sorted by [`rows`]), each with the
/// places of the rows it adds up, by year then municipality.
fn windows(rows: &[Cell], period: i64) -> Vec<(Cell, Vec<usize>)> {
    if period <= 1 {
        return rows
            .iter()
            .enumerate()
            .map(|(r, c)| (c.clone(), vec![r]))
            .collect();
    }
    let mut by_place: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (r, c) in rows.iter().enumerate() {
        by_place.entry(c.municipio.as_str()).or_default().push(r);
    }
    let (Some(first), Some(last)) = (rows.first().map(|c| c.ano), rows.last().map(|c| c.ano))
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for ano in first + period - 1..=last {
        let span = Span::ending(ano, period);
        for (m, places) in &by_place {
            let adds: Vec<usize> = places
                .iter()
                .copied()
                .filter(|&r| span.range().contains(&rows[r].ano))
                .collect();
            let mut cell = Cell {
                municipio: (*m).to_owned(),
                ano,
                numerador: 0,
                denominador: 0,
                parts: vec![0; rows[adds[0]].parts.len()],
            };
            for &r in &adds {
                cell.numerador += rows[r].numerador;
                cell.denominador += rows[r].denominador;
                for (sum, part) in cell.parts.iter_mut().zip(&rows[r].parts) {
                    *sum += part;
                }
            }
            out.push((cell, adds));
        }
    }
    out
}

/// The groups of years to audit together, in year order: years a window
/// adds up together, or that another publication states or withholds a
/// number over, are one group.
pub(super) fn groups(rows: &[Cell], period: i64, known: &Known) -> Vec<Group> {
    let years: Vec<i64> = {
        let mut y: Vec<i64> = rows.iter().map(|c| c.ano).collect();
        y.dedup();
        y
    };
    let index: HashMap<i64, usize> = years.iter().enumerate().map(|(i, &y)| (y, i)).collect();
    let mut parent: Vec<usize> = (0..years.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut join = |span: Span| {
        let inside: Vec<usize> = span
            .range()
            .filter_map(|y| index.get(&y).copied())
            .collect();
        for pair in inside.windows(2) {
            let (a, b) = (root(&mut parent, pair[0]), root(&mut parent, pair[1]));
            parent[a] = b;
        }
    };
    if period > 1 {
        for &y in &years {
            join(Span::ending(y, period));
        }
    }
    // A number another publication states over several years may tie
    // this run's years through years it lacks too: then every year is
    // solved together.
    let several = known
        .stated
        .keys()
        .map(|s| s.span)
        .chain(known.withheld.keys().map(|(span, _, _)| *span))
        .any(|s| s.years > 1);
    if several && let (Some(&first), Some(&last)) = (years.first(), years.last()) {
        join(Span::ending(last, last - first + 1));
    }
    let mut groups: BTreeMap<usize, Group> = BTreeMap::new();
    let mut local: Vec<usize> = vec![0; rows.len()];
    for (r, c) in rows.iter().enumerate() {
        let g = root(&mut parent, index[&c.ano]);
        let group = groups.entry(g).or_insert_with(|| Group {
            rows: Vec::new(),
            windows: Vec::new(),
        });
        local[r] = group.rows.len();
        group.rows.push(r);
    }
    for (cell, adds) in windows(rows, period) {
        let g = root(&mut parent, index[&rows[adds[0]].ano]);
        if let Some(group) = groups.get_mut(&g) {
            let rows = adds.iter().map(|&r| local[r]).collect();
            group.windows.push(Window { cell, rows });
        }
    }
    let mut out: Vec<Group> = groups.into_values().collect();
    out.sort_by_key(|g| g.rows.first().map(|&r| rows[r].ano));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_triennial_window_adds_up_three_years_and_missing_rows_count_zero() {
        let cells = vec![
            Cell::plain("2600054", 2020, 1, 10),
            Cell::plain("2600054", 2021, 2, 20),
            Cell::plain("2600054", 2022, 3, 30),
            Cell::plain("2600054", 2023, 4, 40),
            Cell::plain("2600104", 2021, 5, 50),
        ];
        let rows = rows(&cells, 3);
        assert_eq!(rows.len(), 8, "2600104 gets zero rows for 2020, 2022, 2023");
        let groups = groups(&rows, 3, &Known::default());
        assert_eq!(groups.len(), 1, "overlapping windows tie every year");
        let published: Vec<(String, i64, i64, i64)> = groups[0]
            .windows
            .iter()
            .map(|w| {
                let c = &w.cell;
                (c.municipio.clone(), c.ano, c.numerador, c.denominador)
            })
            .collect();
        assert_eq!(
            published,
            [
                ("2600054".into(), 2022, 6, 60),
                ("2600104".into(), 2022, 5, 50),
                ("2600054".into(), 2023, 9, 90),
                ("2600104".into(), 2023, 5, 50),
            ]
        );
        assert!(groups[0].windows.iter().all(|w| w.rows.len() == 3));
    }

    #[test]
    fn single_years_stay_apart_unless_a_number_spans_several() {
        let cells: Vec<Cell> = (2020..2024)
            .map(|y| Cell::plain("2600054", y, 1, 10))
            .collect();
        let rows = rows(&cells, 1);
        assert_eq!(groups(&rows, 1, &Known::default()).len(), 4);
        let mut known = Known::default();
        known.state_asking(
            Span::ending(2022, 2),
            ["2600054"],
            &["x".to_owned()],
            2,
            super::super::suppress::Protection::NONE,
        );
        let tied = groups(&rows, 1, &known);
        assert_eq!(tied.len(), 1, "a number over two years ties every year");
        assert_eq!(tied[0].rows, [0, 1, 2, 3]);
    }

    use super::super::audit::{Interval, Public};
    use super::super::counts::Shape;
    use super::super::suppress::{Protection, Published, Withheld, publish};

    const K5: Protection = Protection {
        min_cell: 5,
        width: 5,
    };
    const PLACES: [&str; 3] = ["2600054", "2600104", "2600203"];

    fn given(asks: Protection, nonzero: bool) -> Withheld {
        Withheld { asks, nonzero }
    }

    fn deaths() -> Vec<String> {
        vec!["obitos".to_owned()]
    }

    fn triennial() -> Shape {
        Shape::of(&[Some("obitos".into()), Some("nascidos".into())]).period(3)
    }

    /// Deaths by municipality (rows) and year from 2020 (columns), births
    /// a hundred times more.
    fn annual(deaths: [&[i64]; 3]) -> Vec<Cell> {
        let mut out = Vec::new();
        for (m, row) in PLACES.iter().zip(deaths) {
            for (y, &d) in row.iter().enumerate() {
                out.push(Cell::plain(m, 2020 + y as i64, d, 100 * (d + 1)));
            }
        }
        out
    }

    /// What an annual publication of the deaths states: every count but
    /// the `withheld` ones (municipality, year), and every year's total.
    fn annual_publication(cells: &[Cell], withheld: &[(&str, i64)]) -> Known {
        let mut known = Known::default();
        for c in cells {
            if withheld.contains(&(c.municipio.as_str(), c.ano)) {
                known.withhold(Span::year(c.ano), &c.municipio, &deaths(), given(K5, true));
            } else {
                known.state_asking(
                    Span::year(c.ano),
                    [c.municipio.as_str()],
                    &deaths(),
                    c.numerador,
                    K5,
                );
            }
        }
        let years: std::collections::BTreeSet<i64> = cells.iter().map(|c| c.ano).collect();
        for y in years {
            let total = cells
                .iter()
                .filter(|c| c.ano == y)
                .map(|c| c.numerador)
                .sum();
            known.state_asking(Span::year(y), PLACES, &deaths(), total, K5);
        }
        known
    }

    /// An attacker's range for the deaths of `place` over `span`, from
    /// what `known` states and `published` (numerators, each row adding
    /// up `period` years), modelled by hand: one unknown per municipality
    /// and year, one more for the sum asked (`cells` the truth, which the
    /// solver's ends are checked against).
    fn attacked(
        cells: &[Cell],
        known: &Known,
        (published, period): (&[Published], i64),
        place: &str,
        span: Span,
    ) -> Interval {
        let var = |m: &str, y: i64| {
            let i = PLACES.iter().position(|p| *p == m).unwrap_or(0);
            i * 6 + (y - 2020) as usize
        };
        let asked_var = PLACES.len() * 6;
        let mut truth = vec![0; asked_var + 1];
        for c in cells {
            truth[var(&c.municipio, c.ano)] = c.numerador;
        }
        let asked: Vec<(usize, i64)> = span.range().map(|y| (var(place, y), -1)).collect();
        truth[asked_var] = asked.iter().map(|&(v, _)| truth[v]).sum::<i64>();
        let mut public = Public::new(truth);
        public.state([vec![(asked_var, 1)], asked].concat(), 0);
        let over = |m: &str, span: Span| -> Vec<(usize, i64)> {
            span.range().map(|y| (var(m, y), 1)).collect()
        };
        for stated in known.stated.keys() {
            let terms = stated.terms.iter().flat_map(|(m, _)| over(m, stated.span));
            public.state(terms.collect(), stated.value);
        }
        for p in published.iter().filter(|p| (2020..=2025).contains(&p.ano)) {
            let Some(value) = p.numerador else { continue };
            let places = if p.total {
                PLACES.to_vec()
            } else {
                vec![p.municipio.as_str()]
            };
            let span = Span::ending(p.ano, period);
            public.state(places.iter().flat_map(|m| over(m, span)).collect(), value);
        }
        public.intervals()[&asked_var]
    }

    #[test]
    fn a_window_does_not_give_away_a_year_another_table_withheld() {
        // The annual table withheld 2600054's 2 deaths of 2022 and a
        // partner; its 10 and 12 of 2020 and 2021 are public, so a
        // published window of 24 would tell the 2.
        let cells = annual([&[10, 12, 2], &[20, 25, 30], &[40, 45, 50]]);
        let withheld = [("2600054", 2022), ("2600104", 2022)];
        let known = annual_publication(&cells, &withheld);
        let (out, summary) = publish(&cells, &triennial(), &K5, &known, 1000.0, "26");
        let window = |m: &str| out.iter().find(|p| p.municipio == m && p.ano == 2022);
        assert_eq!(
            out.len(),
            4,
            "one window (2020–2022) and its total: {out:?}"
        );
        assert_eq!(window("2600054").and_then(|p| p.numerador), None, "{out:?}");
        assert_eq!(summary.unprotected, 0);
        let range = attacked(&cells, &known, (&out, 3), "2600054", Span::year(2022));
        assert!(K5.holds(&range), "{range:?}");
        // Published as computed, the window gives the 2 away: the check
        // above can fail.
        let mut open = out.clone();
        for p in &mut open {
            p.numerador = Some(if p.total {
                234
            } else {
                [24, 75, 135][PLACES.iter().position(|m| *m == p.municipio).unwrap_or(0)]
            });
        }
        assert_eq!(
            attacked(&cells, &known, (&open, 3), "2600054", Span::year(2022)),
            Interval {
                low: 2,
                high: Some(2)
            }
        );
    }

    #[test]
    fn overlapping_windows_do_not_give_away_the_year_between_them() {
        // 2600054's 3 deaths of 2023 are withheld by the annual table;
        // 2020's 10, 2021's 12 and 2022's 8 are public. The windows ending
        // in 2022 (30) and 2023 (23) differ by 2023 less 2020.
        let cells = annual([&[10, 12, 8, 3], &[20, 25, 30, 35], &[40, 45, 50, 55]]);
        let withheld = [("2600054", 2023), ("2600104", 2023)];
        let known = annual_publication(&cells, &withheld);
        let (out, summary) = publish(&cells, &triennial(), &K5, &known, 1000.0, "26");
        assert_eq!(out.len(), 8, "windows ending in 2022 and 2023, with totals");
        assert_eq!(summary.unprotected, 0);
        let range = attacked(&cells, &known, (&out, 3), "2600054", Span::year(2023));
        assert!(K5.holds(&range), "{range:?}: {out:?}");
        assert!(out.iter().any(|p| p.ano == 2023 && p.numerador.is_none()));
    }

    #[test]
    fn a_small_window_is_protected_across_the_years_it_shares() {
        // 2600054 has 1, 1 and 1 deaths: its window is small, withheld and
        // protected within its year; the next window, overlapping, must
        // not pin it either.
        let cells = annual([&[1, 1, 1, 9], &[20, 25, 30, 35], &[40, 45, 50, 55]]);
        let (out, summary) = publish(&cells, &triennial(), &K5, &Known::default(), 1000.0, "26");
        let first = out
            .iter()
            .find(|p| p.municipio == "2600054" && p.ano == 2022);
        assert_eq!(first.and_then(|p| p.numerador), None, "{out:?}");
        assert!(
            summary.primary >= 1 && summary.complementary >= 1,
            "{summary:?}"
        );
        assert_eq!(summary.unprotected, 0);
        assert!(
            summary.smallest_width.is_some_and(|w| w >= 5),
            "{summary:?}"
        );
    }

    #[test]
    fn a_year_does_not_give_away_a_window_published_before() {
        // A triennial table withheld 2600054's window of 2020–2022 (8 = 2
        // + 2 + 4) beside 2600104's, and published 2600203's and the
        // total. The annual run comes after: its own small counts are
        // withheld anyway, and their sum over the window must stay as
        // wide as the triennial table asked.
        let cells = annual([&[2, 2, 4], &[20, 25, 30], &[40, 45, 50]]);
        let mut known = Known::default();
        let window = Span::ending(2022, 3);
        known.withhold(window, "2600054", &deaths(), given(K5, true));
        known.withhold(window, "2600104", &deaths(), given(K5, true));
        known.state_asking(window, ["2600203"], &deaths(), 135, K5);
        known.state_asking(window, PLACES, &deaths(), 218, K5);
        let by_year = Shape::of(&[Some("obitos".into()), Some("nascidos".into())]);
        let (out, summary) = publish(&cells, &by_year, &K5, &known, 1000.0, "26");
        assert_eq!(summary.unprotected, 0, "{out:?}");
        let range = attacked(&cells, &known, (&out, 1), "2600054", window);
        assert!(K5.holds(&range), "{range:?}: {out:?}");
        // Every year published but the small ones: the window's 8 is told
        // by subtracting the others from the triennial total.
        let mut open = out.clone();
        for p in open
            .iter_mut()
            .filter(|p| p.municipio == "2600104" || p.total)
        {
            let year = cells.iter().filter(|c| c.ano == p.ano);
            let value = match p.total {
                true => year.map(|c| c.numerador).sum(),
                false => year
                    .filter(|c| c.municipio == p.municipio)
                    .map(|c| c.numerador)
                    .sum(),
            };
            p.numerador = Some(value);
        }
        let told = attacked(&cells, &known, (&open, 1), "2600054", window);
        assert_eq!(
            told,
            Interval {
                low: 8,
                high: Some(8)
            }
        );
    }

    #[test]
    fn a_year_is_not_told_by_differencing_windows() {
        // 2600054's deaths: 0, 0, 0, 6, 0, 1. Its windows 0, 6, 6 and 7
        // are none small, yet the 0 says 2020–2022 are 0, then 2023 is 6,
        // 2024 is 0 and 2025 is 1.
        let cells = annual([
            &[0, 0, 0, 6, 0, 1],
            &[20, 25, 30, 35, 40, 45],
            &[40, 45, 50, 55, 60, 65],
        ]);
        let known = Known::default();
        let (out, summary) = publish(&cells, &triennial(), &K5, &known, 1000.0, "26");
        assert_eq!(summary.unprotected, 0, "{out:?}");
        let range = attacked(&cells, &known, (&out, 3), "2600054", Span::year(2025));
        assert!(K5.holds(&range), "{range:?}: {out:?}");
        let mut open = out.clone();
        for p in &mut open {
            let span = Span::ending(p.ano, 3);
            let inside = cells.iter().filter(|c| span.range().contains(&c.ano));
            let mine = |c: &&Cell| p.total || c.municipio == p.municipio;
            p.numerador = Some(inside.filter(mine).map(|c| c.numerador).sum());
        }
        let told = attacked(&cells, &known, (&open, 3), "2600054", Span::year(2025));
        assert_eq!(
            told,
            Interval {
                low: 1,
                high: Some(1)
            }
        );
    }

    #[test]
    fn a_number_over_years_the_run_lacks_still_counts() {
        // This run has 2022 only: 2600054's 2 is withheld with a partner.
        // Elsewhere, 2600104's 2020–2022 is 50 and its 2020 and 2021 are 5
        // each: its 2022 is 40, and with the total so is the 2.
        let cells = vec![
            Cell::plain("2600054", 2022, 2, 300),
            Cell::plain("2600104", 2022, 40, 4100),
            Cell::plain("2600203", 2022, 100, 10100),
        ];
        let mut known = Known::default();
        known.state_asking(Span::ending(2022, 3), ["2600104"], &deaths(), 50, K5);
        for y in [2020, 2021] {
            known.state_asking(Span::year(y), ["2600104"], &deaths(), 5, K5);
        }
        let by_year = Shape::of(&[Some("obitos".into()), Some("nascidos".into())]);
        let (out, summary) = publish(&cells, &by_year, &K5, &known, 1000.0, "26");
        assert_eq!(summary.unprotected, 0, "{out:?}");
        let mut truth = cells.clone();
        truth.extend([2020, 2021].map(|y| Cell::plain("2600104", y, 5, 500)));
        let range = attacked(&truth, &known, (&out, 1), "2600054", Span::year(2022));
        assert!(K5.holds(&range), "{range:?}: {out:?}");
        // Withholding only the 2 and its smallest partner would not do.
        let mut two = out.clone();
        for p in &mut two {
            let value = cells
                .iter()
                .find(|c| c.municipio == p.municipio)
                .map(|c| c.numerador);
            p.numerador = match p.municipio.as_str() {
                "2600054" | "2600104" => None,
                "26" => Some(142),
                _ => value,
            };
        }
        let told = attacked(&truth, &known, (&two, 1), "2600054", Span::year(2022));
        assert_eq!(
            told,
            Interval {
                low: 2,
                high: Some(2)
            }
        );
    }

    #[test]
    fn a_period_withheld_elsewhere_over_a_year_the_run_lacks_stays_protected() {
        // A triennial table (min_cell 10) withheld 2600054's 2020–2022
        // count of 9; a yearly one states its 2020 is 1. This run has 2021
        // and 2022 only: its 0 and 8 would tell the 9.
        let k10 = Protection {
            min_cell: 10,
            width: 10,
        };
        let cells = vec![
            Cell::plain("2600054", 2021, 0, 300),
            Cell::plain("2600104", 2021, 40, 4100),
            Cell::plain("2600203", 2021, 100, 10100),
            Cell::plain("2600054", 2022, 8, 300),
            Cell::plain("2600104", 2022, 45, 4100),
            Cell::plain("2600203", 2022, 90, 10100),
        ];
        let mut known = Known::default();
        known.withhold(
            Span::ending(2022, 3),
            "2600054",
            &deaths(),
            given(k10, false),
        );
        known.state_asking(Span::year(2020), ["2600054"], &deaths(), 1, K5);
        let by_year = Shape::of(&[Some("obitos".into()), Some("nascidos".into())]);
        let (out, summary) = publish(&cells, &by_year, &K5, &known, 1000.0, "26");
        assert_eq!(summary.unprotected, 0, "{out:?}");
        let mut truth = cells.clone();
        truth.push(Cell::plain("2600054", 2020, 1, 300));
        let window = Span::ending(2022, 3);
        let range = attacked(&truth, &known, (&out, 1), "2600054", window);
        assert!(k10.holds(&range), "{range:?}: {out:?}");
        let mut open = out.clone();
        for p in &mut open {
            let year = cells.iter().filter(|c| c.ano == p.ano);
            let mine = |c: &&Cell| p.total || c.municipio == p.municipio;
            p.numerador = Some(year.filter(mine).map(|c| c.numerador).sum());
        }
        let told = attacked(&truth, &known, (&open, 1), "2600054", window);
        assert_eq!(
            told,
            Interval {
                low: 9,
                high: Some(9)
            }
        );
    }

    #[test]
    fn spans_overlap_when_they_share_a_year() {
        let a = Span::ending(2022, 3);
        assert!(a.overlaps(&Span::year(2020)));
        assert!(!a.overlaps(&Span::year(2019)));
        assert!(a.overlaps(&Span::ending(2024, 3)));
        assert!(!a.overlaps(&Span::ending(2025, 3)));
    }
}
