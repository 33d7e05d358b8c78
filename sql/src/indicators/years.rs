//! Years of one indicator solved together, as the attacker's audit sees
//! them (one year, unless periods tie several: [`super::period`]): every
//! named count of every municipality in every year is an unknown, each
//! published number (a count, a sum of counts, a count over several years,
//! the state's total, what other publications state) a fact over them, and
//! the suppression rule decides what this run adds to the facts.
//!
//! ```text
//!  unknowns   obitos_fetais@2600054@2023, nascidos_vivos_todos@2600054@2023, …   (rows this run computes)
//!             counts other publications add in, which this run does not  (value unknown here)
//!  sums       count@m = Σ its names@m over its years  (one more unknown, tied by a fact of value 0)
//!  proportion numerator@m + slack@m = denominator@m, slack@m ≥ 0
//!  published  a count@m, a year's total Σ_m count@m, what others stated
//! ```
//!
//! What needs protection: every count of this run that is small (primary),
//! every name a sum adds up that is small (differencing two published sums
//! must not give it away), and every count another publication withheld
//! that this run's counts could give away.

use super::audit::{Interval, Public};
use super::counts::Shape;
use super::period::{Span, Window};
use super::stated::{reached, single_municipality};
use super::suppress::{Cell, Known, Protection, Stated};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Why a count is withheld.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Rule {
    /// It is small, here or where another publication withheld it.
    Primary,
    /// The smallest count left in its year, taken to protect a small one.
    Complementary,
    /// A count of the same municipality adding up the same names.
    Linked,
}

/// One kind of count (numerator or denominator) across the years.
pub(super) struct Kind {
    /// The unknown of each published cell's count.
    vars: Vec<usize>,
    pub(super) counts: Vec<i64>,
    pub(super) withheld: Vec<Option<Rule>>,
    /// Published elsewhere with this value: known whatever this run does.
    elsewhere: Vec<bool>,
    /// Each year's total is published by this run.
    pub(super) total: Vec<bool>,
    /// The largest minimum asked of any of its counts: a count withheld
    /// as small is below it.
    small_below: i64,
}

/// A count that must stay protected.
struct Need {
    var: usize,
    /// This run's names it adds up.
    atoms: BTreeSet<usize>,
    /// This run's cells of the same municipality sharing a year with it.
    cells: Vec<usize>,
    /// The years (slots) of the cells sharing a year with it.
    slots: BTreeSet<usize>,
    protection: Protection,
}

pub(super) struct Years<'a> {
    /// The rows this run computed for these years: row `r`'s name `a` is
    /// unknown `r × names + a`.
    rows: Vec<&'a Cell>,
    shape: &'a Shape,
    /// The cells published, by year then municipality.
    pub(super) cells: Vec<Cell>,
    /// The rows each cell adds up.
    windows: Vec<Vec<usize>>,
    /// The years cells are published under, in order.
    pub(super) years: Vec<i64>,
    /// Each cell's place in `years`.
    pub(super) slot: Vec<usize>,
    truth: Vec<Option<i64>>,
    /// What the definition tells anyone, as facts of value 0: `var − Σ
    /// parts` of every sum, `numerator − denominator + slack` of a
    /// proportion.
    ties: Vec<Vec<(usize, i64)>>,
    /// What other publications state, over unknowns.
    stated: Vec<(Vec<(usize, i64)>, i64)>,
    pub(super) kinds: [Kind; 2],
    needs: Vec<Need>,
    /// Counts another publication withheld beside a published total:
    /// known to be at least 1.
    nonzero: Vec<usize>,
    /// Sensitive counts another publication already gave away.
    pub(super) disclosed: usize,
}

impl<'a> Years<'a> {
    pub(super) fn new(
        rows: Vec<&'a Cell>,
        windows: Vec<Window>,
        shape: &'a Shape,
        rule: &Protection,
        known: &Known,
    ) -> Years<'a> {
        let truth: Vec<Option<i64>> = rows
            .iter()
            .flat_map(|c| c.parts.iter().map(|&p| Some(p)))
            .collect();
        let mut years: Vec<i64> = windows.iter().map(|w| w.cell.ano).collect();
        years.sort_unstable();
        years.dedup();
        let slot: Vec<usize> = windows
            .iter()
            .map(|w| years.partition_point(|&y| y < w.cell.ano))
            .collect();
        let (n, slots) = (windows.len(), years.len());
        let empty = || Kind {
            vars: Vec::with_capacity(n),
            counts: Vec::with_capacity(n),
            withheld: vec![None; n],
            elsewhere: vec![false; n],
            total: vec![true; slots],
            small_below: rule.k(),
        };
        let (cells, windows): (Vec<Cell>, Vec<Vec<usize>>) =
            windows.into_iter().map(|w| (w.cell, w.rows)).unzip();
        let mut this = Years {
            rows,
            shape,
            cells,
            windows,
            years,
            slot,
            truth,
            ties: Vec::new(),
            stated: Vec::new(),
            kinds: [empty(), empty()],
            needs: Vec::new(),
            nonzero: Vec::new(),
            disclosed: 0,
        };
        let mut expressions: HashMap<Vec<usize>, usize> = HashMap::new();
        for i in 0..this.cells.len() {
            for kind in 0..2 {
                let parts = this.parts(i, &shape.kinds[kind]);
                let var = this.expression(&mut expressions, &parts);
                this.kinds[kind].vars.push(var);
                let count = this.cells[i].count(kind);
                this.kinds[kind].counts.push(count);
            }
        }
        // Every row of a proportion is one (Lagoa refuses any other), so
        // each year's, not only each window's, numerator is at most its
        // denominator.
        if shape.proportion {
            let names = shape.atoms.len();
            for r in 0..this.rows.len() {
                let [num, den] = [0, 1].map(|kind| {
                    let parts: Vec<usize> =
                        shape.kinds[kind].iter().map(|a| r * names + a).collect();
                    this.expression(&mut expressions, &parts)
                });
                let slack = this.truth.len();
                let row = this.rows[r];
                this.truth.push(Some(row.denominador - row.numerador));
                this.ties.push(vec![(num, 1), (den, -1), (slack, 1)]);
            }
        }
        this.read_known(known, rule, &mut expressions);
        for slot in 0..this.years.len() {
            let inside: Vec<usize> = (0..this.cells.len())
                .filter(|&i| this.slot[i] == slot)
                .collect();
            for kind in 0..2 {
                let k = &this.kinds[kind];
                let lone = inside.len() == 1 && k.withheld[inside[0]].is_some();
                let sum: i64 = inside.iter().map(|&i| k.counts[i]).sum();
                if lone || rule.sensitive(sum) {
                    this.withhold_year(kind, slot);
                }
            }
        }
        this
    }

    /// The unknowns of names `atoms` of every row cell `i` adds up.
    fn parts(&self, i: usize, atoms: &[usize]) -> Vec<usize> {
        let names = self.shape.atoms.len();
        self.windows[i]
            .iter()
            .flat_map(|&r| atoms.iter().map(move |&a| r * names + a))
            .collect()
    }

    /// The years cell `i` adds up.
    fn span(&self, i: usize) -> Span {
        Span::ending(self.cells[i].ano, self.shape.period)
    }

    /// The cells of `municipio` sharing a year with `span`, and the years
    /// (slots) of every cell that does.
    fn around(&self, municipio: &str, span: &Span) -> (Vec<usize>, BTreeSet<usize>) {
        let sharing: Vec<usize> = (0..self.cells.len())
            .filter(|&j| self.span(j).overlaps(span))
            .collect();
        let slots = sharing.iter().map(|&j| self.slot[j]).collect();
        let cells = sharing
            .into_iter()
            .filter(|&j| self.cells[j].municipio == municipio)
            .collect();
        (cells, slots)
    }

    /// The unknown of the sum of `parts`: a part itself when alone, else
    /// one more unknown tied to them.
    fn expression(&mut self, made: &mut HashMap<Vec<usize>, usize>, parts: &[usize]) -> usize {
        if let [one] = parts {
            return *one;
        }
        let key = sorted(parts);
        if let Some(&var) = made.get(&key) {
            return var;
        }
        let var = self.truth.len();
        let value = parts.iter().map(|&p| self.truth[p]).sum();
        self.truth.push(value);
        let mut terms = vec![(var, 1)];
        terms.extend(parts.iter().map(|&p| (p, -1)));
        self.ties.push(terms);
        made.insert(key, var);
        var
    }

    /// The unknowns of a number another publication states, each with
    /// its municipality; a count this run does not compute (another name,
    /// another year, another municipality) is an unknown of unknown value.
    fn terms_of(
        &mut self,
        stated: &Stated,
        place: &HashMap<(&str, i64), usize>,
        foreign: &mut HashMap<(String, String, i64), usize>,
    ) -> Vec<(usize, i64)> {
        let names = self.shape.atoms.len();
        let mut terms = Vec::with_capacity(stated.terms.len() * stated.span.years as usize);
        for ano in stated.span.range() {
            for (m, name) in &stated.terms {
                let own = place.get(&(m.as_str(), ano)).zip(self.shape.place(name));
                let var = match own {
                    Some((&r, a)) => r * names + a,
                    None => {
                        let key = (m.clone(), name.clone(), ano);
                        *foreign.entry(key).or_insert_with(|| {
                            self.truth.push(None);
                            self.truth.len() - 1
                        })
                    }
                };
                terms.push((var, 1));
            }
        }
        terms
    }

    /// What other publications state and withhold, read into facts and
    /// needs, with this run's own needs.
    fn read_known(
        &mut self,
        known: &Known,
        rule: &Protection,
        made: &mut HashMap<Vec<usize>, usize>,
    ) {
        let rows = self.rows.clone();
        let place: HashMap<(&str, i64), usize> = rows
            .iter()
            .enumerate()
            .map(|(r, c)| ((c.municipio.as_str(), c.ano), r))
            .collect();
        let held: BTreeSet<i64> = rows.iter().map(|c| c.ano).collect();
        let names = self.shape.atoms.len();
        let mut foreign = HashMap::new();
        // Sums stated exactly over this run's unknowns: parts → value.
        let mut exact: HashMap<Vec<usize>, i64> = HashMap::new();
        // Names of others this run's values give away: (unknown,
        // municipality, years, this run's names beside it, protection).
        let mut derived: Vec<(usize, String, Span, BTreeSet<usize>, Protection)> = Vec::new();
        let own = |m: &str, name: &str, y: i64| {
            place.contains_key(&(m, y)) && self.shape.place(name).is_some()
        };
        for (stated, asks) in reached(known, &held, &own) {
            let terms = self.terms_of(stated, &place, &mut foreign);
            // A count this run lacks, stated by itself: its value is known.
            if let [(var, _)] = terms[..]
                && self.truth[var].is_none()
            {
                self.truth[var] = Some(stated.value);
            }
            let (mut ours, mut theirs) = (0i64, false);
            for &(var, _) in &terms {
                match self.truth[var] {
                    Some(t) => ours = ours.saturating_add(t),
                    None => theirs = true,
                }
            }
            // Another version of the data pins nothing of this one.
            let holds = if theirs {
                ours <= stated.value
            } else {
                ours == stated.value
            };
            if !holds {
                continue;
            }
            let vars: Vec<usize> = terms.iter().map(|&(v, _)| v).collect();
            if !theirs {
                exact.insert(sorted(&vars), stated.value);
            }
            // A sum of one municipality with one count this run lacks:
            // this run's counts beside it give that one away.
            let unknown: Vec<usize> = vars
                .iter()
                .copied()
                .filter(|&v| self.truth[v].is_none())
                .collect();
            let single = single_municipality(stated);
            if let (Some(m), [lacking], true) = (single, &unknown[..], terms.len() > 1) {
                self.truth[*lacking] = Some(stated.value - ours);
                let beside = vars
                    .iter()
                    .filter(|&&v| v != *lacking && v < rows.len() * names)
                    .map(|&v| v % names)
                    .collect();
                derived.push((*lacking, m.to_owned(), stated.span, beside, *asks));
            }
            self.stated.push((terms, stated.value));
        }
        let counts = Counts {
            place: &place,
            foreign: &foreign,
        };
        self.add_needs(known, rule, &counts, &exact, made);
        // A count published by itself somewhere is public already.
        let alone: BTreeSet<usize> = self
            .stated
            .iter()
            .filter_map(|(terms, _)| match terms[..] {
                [(v, _)] => Some(v),
                _ => None,
            })
            .collect();
        for (var, municipio, span, beside, asks) in derived {
            let ask = Protection::strictest(Some(*rule), Some(asks)).unwrap_or(*rule);
            if !alone.contains(&var) && self.truth[var].is_some_and(|t| ask.sensitive(t)) {
                let (cells, slots) = self.around(&municipio, &span);
                self.needs.push(Need {
                    var,
                    atoms: beside,
                    cells,
                    slots,
                    protection: ask,
                });
            }
        }
    }

    /// The unknowns of names `atoms` of `municipio` over `span`, each
    /// year's a row of this run or, for a year it lacks, a count others
    /// state; with their sum, if every one's value is known.
    fn unknowns_of(
        &self,
        counts: &Counts,
        municipio: &str,
        span: &Span,
        atoms: &[usize],
    ) -> Option<(Vec<usize>, i64)> {
        let names = self.shape.atoms.len();
        let mut parts = Vec::with_capacity(atoms.len() * span.years as usize);
        for y in span.range() {
            for &a in atoms {
                let var = match counts.place.get(&(municipio, y)) {
                    Some(&r) => r * names + a,
                    None => {
                        let key = (municipio.to_owned(), self.shape.atoms[a].clone(), y);
                        *counts.foreign.get(&key)?
                    }
                };
                parts.push(var);
            }
        }
        let value = parts.iter().map(|&p| self.truth[p]).sum::<Option<i64>>()?;
        Some((parts, value))
    }

    /// Every count that must stay protected.
    fn add_needs(
        &mut self,
        known: &Known,
        rule: &Protection,
        counts: &Counts,
        exact: &HashMap<Vec<usize>, i64>,
        made: &mut HashMap<Vec<usize>, usize>,
    ) {
        let mut nonzero: Vec<Vec<usize>> = Vec::new();
        // (municipality, years, names) → protection.
        let mut needs: BTreeMap<(String, Span, Vec<usize>), Protection> = BTreeMap::new();
        let mut ask = |m: &str, span: Span, atoms: Vec<usize>, p: Protection| {
            let entry = needs.entry((m.to_owned(), span, atoms)).or_insert(p);
            *entry = Protection::strictest(Some(*entry), Some(p)).unwrap_or(p);
        };
        for i in 0..self.cells.len() {
            let (cell, span) = (&self.cells[i], self.span(i));
            for kind in 0..2 {
                if rule.sensitive(self.kinds[kind].counts[i]) {
                    ask(
                        &cell.municipio,
                        span,
                        sorted(&self.shape.kinds[kind]),
                        *rule,
                    );
                }
                if self.shape.is_sum(kind) {
                    for &a in &self.shape.kinds[kind] {
                        if rule.sensitive(cell.parts[a]) {
                            ask(&cell.municipio, span, vec![a], *rule);
                        }
                    }
                }
            }
        }
        // Over several years, each year's own counts are counts of people
        // too: differencing overlapping windows must not tell a small one.
        if self.shape.period > 1 {
            for row in &self.rows {
                for kind in 0..2 {
                    let atoms = &self.shape.kinds[kind];
                    if rule.sensitive(row.count(kind)) {
                        ask(&row.municipio, Span::year(row.ano), sorted(atoms), *rule);
                    }
                    for &a in atoms.iter().filter(|_| self.shape.is_sum(kind)) {
                        if rule.sensitive(row.parts[a]) {
                            ask(&row.municipio, Span::year(row.ano), vec![a], *rule);
                        }
                    }
                }
            }
        }
        for ((span, m, their_names), withheld) in &known.withheld {
            let p = &withheld.asks;
            let own: Option<Vec<usize>> = their_names.iter().map(|n| self.shape.place(n)).collect();
            let Some(own) = own else {
                continue;
            };
            let Some((parts, value)) = self.unknowns_of(counts, m, span, &own) else {
                continue;
            };
            if p.sensitive(value) {
                ask(m, *span, sorted(&own), *p);
            }
            // Another version of the data, where this one has 0, pins
            // nothing of this one.
            if value > 0 && withheld.nonzero {
                nonzero.push(parts);
            }
        }
        for parts in nonzero {
            let var = self.expression(made, &parts);
            self.nonzero.push(var);
        }
        for ((municipio, span, atoms), protection) in needs {
            let Some((parts, value)) = self.unknowns_of(counts, &municipio, &span, &atoms) else {
                continue;
            };
            let var = self.expression(made, &parts);
            let (cells, slots) = self.around(&municipio, &span);
            for kind in 0..2 {
                if sorted(&self.shape.kinds[kind]) != atoms {
                    continue;
                }
                let same: Vec<usize> = cells
                    .iter()
                    .copied()
                    .filter(|&i| self.span(i) == span)
                    .collect();
                for i in same {
                    self.kinds[kind].withheld[i] = Some(Rule::Primary);
                    let below = self.kinds[kind].small_below.max(protection.k());
                    self.kinds[kind].small_below = below;
                }
            }
            // Given away already: nothing here can protect it.
            if exact.get(&sorted(&parts)) == Some(&value) {
                self.disclosed += 1;
                continue;
            }
            self.needs.push(Need {
                var,
                atoms: atoms.into_iter().collect(),
                cells,
                slots,
                protection,
            });
        }
        for kind in 0..2 {
            for i in 0..self.cells.len() {
                let parts = sorted(&self.parts(i, &self.shape.kinds[kind]));
                let count = self.kinds[kind].counts[i];
                self.kinds[kind].elsewhere[i] = exact.get(&parts) == Some(&count);
            }
        }
    }

    /// Whether count `i` of `kind` may still be withheld to protect
    /// another: above zero, published only by this run.
    fn partner(&self, kind: usize, i: usize) -> bool {
        let k = &self.kinds[kind];
        k.withheld[i].is_none() && !k.elsewhere[i] && k.counts[i] > 0
    }

    /// The total of `kind` in year `slot` goes, and every count of it
    /// that year, zeros included: then nothing of this run ties them, and
    /// no withheld count can be told from a zero.
    pub(super) fn withhold_year(&mut self, kind: usize, slot: usize) {
        let k = &mut self.kinds[kind];
        k.total[slot] = false;
        for (i, w) in k.withheld.iter_mut().enumerate() {
            if self.slot[i] == slot {
                w.get_or_insert(Rule::Complementary);
            }
        }
    }

    /// What anyone can see: the counts and sums published, here or
    /// elsewhere, and what the rule itself gives away while a year's total
    /// is published: no zero is withheld, so a withheld count is at least
    /// 1; and partners go smallest first within a year, so a count
    /// withheld as small or as a partner is either small or at most the
    /// smallest count of its year still published here.
    fn public(&self) -> Public {
        let mut public = Public::with(self.truth.clone());
        for tie in &self.ties {
            public.state(tie.clone(), 0);
        }
        let in_year = |slot: usize| (0..self.cells.len()).filter(move |&i| self.slot[i] == slot);
        for (kind, k) in self.kinds.iter().enumerate() {
            for slot in 0..self.years.len() {
                let smallest_left = in_year(slot)
                    .filter(|&i| self.partner(kind, i))
                    .map(|i| k.counts[i])
                    .min();
                let cap = smallest_left.map(|c| c.max(k.small_below - 1));
                let alone = in_year(slot).count() == 1;
                for i in in_year(slot) {
                    let var = k.vars[i];
                    match k.withheld[i] {
                        _ if k.elsewhere[i] => public.publish_count(var),
                        None => public.publish_count(var),
                        // Alone in its year, a count is withheld only when small.
                        Some(Rule::Primary) if alone => {
                            public.know(var, 1, Some(k.small_below - 1))
                        }
                        Some(_) if !k.total[slot] => {}
                        Some(Rule::Linked) => public.know(var, 1, None),
                        Some(_) => public.know(var, 1, cap),
                    }
                }
                if k.total[slot] {
                    public.publish(in_year(slot).map(|i| (k.vars[i], 1)).collect());
                }
            }
        }
        for (terms, value) in &self.stated {
            public.state(terms.clone(), *value);
        }
        for &var in &self.nonzero {
            public.know(var, 1, None);
        }
        public
    }

    /// The interval of each of needs `which` (a count published exactly:
    /// its truth), as wide as the solver had to show it: a protected
    /// need's range may be only the part whole-number points found so far
    /// span ([`Public::intervals_until`]), an unprotected one's is whole.
    ///
    /// `seen`: the range of each unknown in the whole-number points found
    /// so far ([`Public::intervals_until`]); points found while this run
    /// publishes what it publishes now stay points after it withholds
    /// more, not after it publishes again (a trial undone).
    fn intervals(&self, which: &[usize], seen: &mut [Option<(i64, i64)>]) -> Vec<Interval> {
        let wanted: BTreeSet<usize> = which.iter().map(|&n| self.needs[n].var).collect();
        let mut asked: HashMap<usize, Protection> = HashMap::new();
        for &n in which {
            let need = &self.needs[n];
            let p = asked.entry(need.var).or_insert(need.protection);
            *p = Protection::strictest(Some(*p), Some(need.protection)).unwrap_or(*p);
        }
        let enough =
            |var: usize, interval: &Interval| asked.get(&var).is_some_and(|p| p.holds(interval));
        let found = self.public().intervals_until(&wanted, &enough, seen);
        which
            .iter()
            .map(|&n| {
                let var = self.needs[n].var;
                found.get(&var).copied().unwrap_or_else(|| {
                    let t = self.truth[var].unwrap_or(0);
                    Interval {
                        low: t,
                        high: Some(t),
                    }
                })
            })
            .collect()
    }

    /// Withholds more until every count that needs it is protected: the
    /// narrowest width shown for one, and how many stay unprotected
    /// (pinned by what other tables published, beyond this run's reach).
    ///
    /// Withholding more only widens every range (facts go, the rule's
    /// bounds loosen), so a need once protected stays protected, and the
    /// whole-number points found along the way stay valid. Each round
    /// looks at the open needs in turn, each solved with what is withheld
    /// by then: protected, it is done; else one more count is withheld for
    /// it, and it is looked at again next round.
    pub(super) fn protect(&mut self) -> (Option<i64>, usize) {
        let mut seen = self.public().truth_seen();
        let mut open: Vec<usize> = (0..self.needs.len()).collect();
        let mut beyond: BTreeSet<usize> = BTreeSet::new();
        loop {
            let mut waiting = Vec::new();
            let mut acted = false;
            for n in open {
                let interval = self.intervals(&[n], &mut seen)[0];
                if self.needs[n].protection.holds(&interval) {
                    continue;
                }
                waiting.push(n);
                if beyond.contains(&n) {
                    continue;
                }
                match self.withhold_for(n) {
                    Some(_) => acted = true,
                    None => {
                        beyond.insert(n);
                    }
                }
            }
            open = waiting;
            if !acted {
                return (self.narrowest(&mut seen), open.len());
            }
        }
    }

    /// The narrowest range the attacker can give any need, solved to the
    /// end only for the needs whose range shown so far is narrower than
    /// the narrowest found whole (a whole range is never narrower than
    /// part of it).
    fn narrowest(&self, seen: &mut [Option<(i64, i64)>]) -> Option<i64> {
        let all: Vec<usize> = (0..self.needs.len()).collect();
        let shown = self.intervals(&all, seen);
        let mut order: Vec<(i64, usize)> = shown
            .iter()
            .zip(&all)
            .filter_map(|(interval, &n)| interval.width().map(|w| (w, n)))
            .collect();
        order.sort_unstable();
        let mut best: Option<i64> = None;
        for (width, n) in order {
            if best.is_some_and(|b| width >= b) {
                break;
            }
            let wanted = BTreeSet::from([self.needs[n].var]);
            let whole = self.public().intervals_until(&wanted, &|_, _| false, seen);
            let exact = whole
                .get(&self.needs[n].var)
                .map_or(Some(0), Interval::width);
            best = match (best, exact) {
                (Some(b), Some(w)) => Some(b.min(w)),
                (b, w) => b.or(w),
            };
        }
        best
    }

    /// Withholds one more count for need `n`: one of the same
    /// municipality adding up the same names over a year it shares,
    /// else the smallest count of its year of a kind it shares names with,
    /// in a year it shares, else that year's total; of several
    /// candidates, the one leaving the need the widest range. What was
    /// done (`None`: nothing left to withhold).
    fn withhold_for(&mut self, n: usize) -> Option<Rule> {
        let need = &self.needs[n];
        let (cells, slots, atoms) = (need.cells.clone(), need.slots.clone(), need.atoms.clone());
        let shares = |kind: usize| self.shape.kinds[kind].iter().any(|a| atoms.contains(a));
        // A proportion ties its numerator to its denominator.
        let tied = self.shape.proportion && (0..2).any(shares);
        let kinds: Vec<usize> = (0..2).filter(|&k| tied || shares(k)).collect();
        let linked: Vec<(usize, usize)> = kinds
            .iter()
            .flat_map(|&k| cells.iter().map(move |&i| (k, i)))
            .filter(|&(k, i)| self.partner(k, i))
            .collect();
        if let Some((k, j)) = self.widest(n, &linked, Rule::Linked) {
            self.kinds[k].withheld[j] = Some(Rule::Linked);
            return Some(Rule::Linked);
        }
        // Each kind's smallest of a year: what the attacker knows of the
        // rule (a partner is at most any count of its kind and year still
        // published) holds.
        let smallest: Vec<(usize, usize)> = kinds
            .iter()
            .flat_map(|&k| slots.iter().map(move |&slot| (k, slot)))
            .filter_map(|(k, slot)| {
                (0..self.cells.len())
                    .filter(|&j| self.slot[j] == slot && self.partner(k, j))
                    .min_by_key(|&j| (self.kinds[k].counts[j], &self.cells[j].municipio))
                    .map(|j| (k, j))
            })
            .collect();
        if let Some((k, j)) = self.widest(n, &smallest, Rule::Complementary) {
            self.kinds[k].withheld[j] = Some(Rule::Complementary);
            return Some(Rule::Complementary);
        }
        let year = kinds
            .iter()
            .flat_map(|&k| slots.iter().map(move |&slot| (k, slot)))
            .find(|&(k, slot)| self.kinds[k].total[slot]);
        let (k, slot) = year?;
        self.withhold_year(k, slot);
        Some(Rule::Complementary)
    }

    /// Of `candidates` (kind, cell), the one whose withholding under
    /// `rule` leaves need `n` the widest range (the first of equals; one
    /// candidate is taken without trying).
    fn widest(
        &mut self,
        n: usize,
        candidates: &[(usize, usize)],
        rule: Rule,
    ) -> Option<(usize, usize)> {
        if candidates.len() < 2 {
            return candidates.first().copied();
        }
        let mut best: Option<((usize, usize), Option<i64>)> = None;
        for &(k, j) in candidates {
            self.kinds[k].withheld[j] = Some(rule);
            // Points of a trial are not points once it is undone.
            let mut trial = self.public().truth_seen();
            let width = self.intervals(&[n], &mut trial)[0].width();
            self.kinds[k].withheld[j] = None;
            let wider = match best {
                None => true,
                Some((_, None)) => false,
                Some((_, Some(b))) => width.is_none_or(|w| w > b),
            };
            if wider {
                best = Some(((k, j), width));
            }
        }
        best.map(|(c, _)| c)
    }
}

/// Where a run's counts are: its rows by municipality and year, and the
/// unknowns of counts others state that it lacks, by municipality, name
/// and year.
struct Counts<'p> {
    place: &'p HashMap<(&'p str, i64), usize>,
    foreign: &'p HashMap<(String, String, i64), usize>,
}

fn sorted(names: &[usize]) -> Vec<usize> {
    let mut names = names.to_vec();
    names.sort_unstable();
    names
}
