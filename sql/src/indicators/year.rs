//! One year of one indicator, as the attacker's audit sees it: every
//! named count of every municipality is an unknown, each published number
//! (a count, a sum of counts, the state's total, what other publications
//! state) a fact over them, and the suppression rule decides what this
//! run adds to the facts.
//!
//! ```text
//!  unknowns   obitos_fetais@2600054, nascidos_vivos_todos@2600054, …   (this run computes them)
//!             counts other publications add in, which this run does not  (value unknown here)
//!  sums       numerator@m = Σ its names@m      (one more unknown, tied by a fact of value 0)
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
use super::suppress::{Cell, Known, Protection};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Why a count is withheld.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Rule {
    /// It is small, here or where another publication withheld it.
    Primary,
    /// The smallest count left, taken to protect a small one.
    Complementary,
    /// A count of the same municipality adding up the same names.
    Linked,
}

/// One kind of count (numerator or denominator) across the year.
pub(super) struct Kind {
    /// The unknown of each municipality's count.
    vars: Vec<usize>,
    pub(super) counts: Vec<i64>,
    pub(super) withheld: Vec<Option<Rule>>,
    /// Published elsewhere with this value: known whatever this run does.
    elsewhere: Vec<bool>,
    /// The year's total is published by this run.
    pub(super) total: bool,
    /// The largest minimum asked of any of its counts: a count withheld
    /// as small is below it.
    small_below: i64,
}

/// A count that must stay protected.
struct Need {
    var: usize,
    municipality: usize,
    /// This run's names it adds up.
    atoms: BTreeSet<usize>,
    protection: Protection,
}

pub(super) struct Year<'a> {
    cells: &'a [&'a Cell],
    shape: &'a Shape,
    truth: Vec<Option<i64>>,
    /// What the definition tells anyone, as facts of value 0: `var − Σ
    /// parts` of every sum, `numerator − denominator + slack` of a
    /// proportion.
    ties: Vec<Vec<(usize, i64)>>,
    /// What other publications state, over unknowns.
    stated: Vec<(Vec<(usize, i64)>, i64)>,
    pub(super) kinds: [Kind; 2],
    needs: Vec<Need>,
    /// Sensitive counts another publication already gave away.
    pub(super) disclosed: usize,
}

impl<'a> Year<'a> {
    pub(super) fn new(
        cells: &'a [&'a Cell],
        shape: &'a Shape,
        rule: &Protection,
        known: &Known,
    ) -> Year<'a> {
        let atoms = shape.atoms.len();
        let truth: Vec<Option<i64>> = cells
            .iter()
            .flat_map(|c| c.parts.iter().map(|&p| Some(p)))
            .collect();
        let empty = |n: usize| Kind {
            vars: Vec::with_capacity(n),
            counts: Vec::with_capacity(n),
            withheld: vec![None; n],
            elsewhere: vec![false; n],
            total: true,
            small_below: rule.k(),
        };
        let mut year = Year {
            cells,
            shape,
            truth,
            ties: Vec::new(),
            stated: Vec::new(),
            kinds: [empty(cells.len()), empty(cells.len())],
            needs: Vec::new(),
            disclosed: 0,
        };
        let mut expressions: HashMap<(usize, Vec<usize>), usize> = HashMap::new();
        for (i, cell) in cells.iter().enumerate() {
            for kind in 0..2 {
                let parts: Vec<usize> = shape.kinds[kind].iter().map(|a| i * atoms + a).collect();
                let var = year.expression(&mut expressions, i, &parts);
                year.kinds[kind].vars.push(var);
                year.kinds[kind].counts.push(cell.count(kind));
            }
        }
        if shape.proportion {
            for (i, cell) in cells.iter().enumerate() {
                let slack = year.truth.len();
                let [num, den] = [&year.kinds[0], &year.kinds[1]].map(|k| k.vars[i]);
                year.truth.push(Some(cell.denominador - cell.numerador));
                year.ties.push(vec![(num, 1), (den, -1), (slack, 1)]);
            }
        }
        year.read_known(known, rule, &mut expressions);
        for kind in 0..2 {
            let k = &year.kinds[kind];
            let lone = k.counts.len() == 1 && k.withheld[0].is_some();
            if lone || rule.sensitive(k.counts.iter().sum::<i64>()) {
                year.withhold_year(kind);
            }
        }
        year
    }

    /// The unknown of the sum of `parts` (unknowns of municipality `i`):
    /// a part itself when alone, else one more unknown tied to them.
    fn expression(
        &mut self,
        made: &mut HashMap<(usize, Vec<usize>), usize>,
        i: usize,
        parts: &[usize],
    ) -> usize {
        if let [one] = parts {
            return *one;
        }
        let mut key = parts.to_vec();
        key.sort_unstable();
        if let Some(&var) = made.get(&(i, key.clone())) {
            return var;
        }
        let var = self.truth.len();
        let value = parts.iter().map(|&p| self.truth[p]).sum();
        self.truth.push(value);
        let mut terms = vec![(var, 1)];
        terms.extend(parts.iter().map(|&p| (p, -1)));
        self.ties.push(terms);
        made.insert((i, key), var);
        var
    }

    /// What other publications state and withhold, read into facts and
    /// needs, with this run's own needs.
    fn read_known(
        &mut self,
        known: &Known,
        rule: &Protection,
        made: &mut HashMap<(usize, Vec<usize>), usize>,
    ) {
        let Some(ano) = self.cells.first().map(|c| c.ano) else {
            return;
        };
        let place: HashMap<&str, usize> = self
            .cells
            .iter()
            .enumerate()
            .map(|(i, c)| (c.municipio.as_str(), i))
            .collect();
        let atoms = self.shape.atoms.len();
        let mut foreign: HashMap<(&str, &str), usize> = HashMap::new();
        // Sums stated for one municipality over this run's names only:
        // (municipality, names) → value.
        let mut exact: HashMap<(usize, BTreeSet<usize>), i64> = HashMap::new();
        // Names of others this run's values give away: (unknown,
        // municipality, this run's names beside it, protection asked).
        let mut derived: Vec<(usize, usize, BTreeSet<usize>, Protection)> = Vec::new();
        for (stated, asks) in known.stated.iter().filter(|(s, _)| s.ano == ano) {
            let mut terms = Vec::with_capacity(stated.terms.len());
            let (mut ours, mut theirs) = (0i64, false);
            for (m, name) in &stated.terms {
                let own = place.get(m.as_str()).zip(self.shape.place(name));
                let var = match own {
                    Some((&i, a)) => i * atoms + a,
                    None => *foreign.entry((m, name)).or_insert_with(|| {
                        self.truth.push(None);
                        self.truth.len() - 1
                    }),
                };
                match self.truth[var] {
                    Some(t) => ours = ours.saturating_add(t),
                    None => theirs = true,
                }
                terms.push((var, 1));
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
            let single = single_municipality(stated, &place);
            if !theirs && let Some(i) = single {
                let names: BTreeSet<usize> = terms.iter().map(|&(v, _)| v - i * atoms).collect();
                exact.insert((i, names), stated.value);
            }
            // A sum of one municipality with one name this run lacks:
            // this run's names beside it give that one away.
            let unknown: Vec<usize> = terms
                .iter()
                .map(|&(v, _)| v)
                .filter(|&v| self.truth[v].is_none())
                .collect();
            if let (Some(i), [name], true) = (single, &unknown[..], terms.len() > 1) {
                self.truth[*name] = Some(stated.value - ours);
                let beside = terms
                    .iter()
                    .filter(|&&(v, _)| v != *name)
                    .map(|&(v, _)| v - i * atoms)
                    .collect();
                derived.push((*name, i, beside, *asks));
            }
            self.stated.push((terms, stated.value));
        }
        self.add_needs(known, rule, &place, &exact, made);
        // A name published by itself somewhere is public already.
        let alone: BTreeSet<usize> = self
            .stated
            .iter()
            .filter_map(|(terms, _)| match terms[..] {
                [(v, _)] => Some(v),
                _ => None,
            })
            .collect();
        for (var, i, beside, asks) in derived {
            let ask = Protection::strictest(Some(*rule), Some(asks)).unwrap_or(*rule);
            if !alone.contains(&var) && self.truth[var].is_some_and(|t| ask.sensitive(t)) {
                self.needs.push(Need {
                    var,
                    municipality: i,
                    atoms: beside,
                    protection: ask,
                });
            }
        }
    }

    /// Every count that must stay protected.
    fn add_needs(
        &mut self,
        known: &Known,
        rule: &Protection,
        place: &HashMap<&str, usize>,
        exact: &HashMap<(usize, BTreeSet<usize>), i64>,
        made: &mut HashMap<(usize, Vec<usize>), usize>,
    ) {
        let ano = self.cells.first().map_or(0, |c| c.ano);
        let atoms = self.shape.atoms.len();
        let mut needs: BTreeMap<(usize, Vec<usize>), Protection> = BTreeMap::new();
        let mut ask = |i: usize, names: Vec<usize>, p: Protection| {
            let entry = needs.entry((i, names)).or_insert(p);
            *entry = Protection::strictest(Some(*entry), Some(p)).unwrap_or(p);
        };
        for i in 0..self.cells.len() {
            let parts = &self.cells[i].parts;
            for kind in 0..2 {
                if rule.sensitive(self.kinds[kind].counts[i]) {
                    ask(i, sorted(&self.shape.kinds[kind]), *rule);
                }
                if self.shape.is_sum(kind) {
                    for &a in &self.shape.kinds[kind] {
                        if rule.sensitive(parts[a]) {
                            ask(i, vec![a], *rule);
                        }
                    }
                }
            }
        }
        for ((theirs_ano, m, names), p) in &known.withheld {
            let Some(&i) = place.get(m.as_str()).filter(|_| *theirs_ano == ano) else {
                continue;
            };
            let own: Option<Vec<usize>> = names.iter().map(|n| self.shape.place(n)).collect();
            if let Some(mut own) = own {
                own.sort_unstable();
                let value: i64 = own.iter().map(|&a| self.cells[i].parts[a]).sum();
                if p.sensitive(value) {
                    ask(i, own, *p);
                }
            }
        }
        for ((i, names), protection) in needs {
            let set: BTreeSet<usize> = names.iter().copied().collect();
            let value: i64 = names.iter().map(|&a| self.cells[i].parts[a]).sum();
            let parts: Vec<usize> = names.iter().map(|a| i * atoms + a).collect();
            let var = self.expression(made, i, &parts);
            for kind in 0..2 {
                if sorted(&self.shape.kinds[kind]) == names {
                    self.kinds[kind].withheld[i] = Some(Rule::Primary);
                    self.kinds[kind].small_below = self.kinds[kind].small_below.max(protection.k());
                }
            }
            // Given away already: nothing here can protect it.
            if exact.get(&(i, set.clone())) == Some(&value) {
                self.disclosed += 1;
                continue;
            }
            self.needs.push(Need {
                var,
                municipality: i,
                atoms: set,
                protection,
            });
        }
        for kind in 0..2 {
            let names: BTreeSet<usize> = self.shape.kinds[kind].iter().copied().collect();
            for i in 0..self.cells.len() {
                let count = self.kinds[kind].counts[i];
                self.kinds[kind].elsewhere[i] = exact.get(&(i, names.clone())) == Some(&count);
            }
        }
    }

    /// Whether count `i` of `kind` may still be withheld to protect
    /// another: above zero, published only by this run.
    fn partner(&self, kind: usize, i: usize) -> bool {
        let k = &self.kinds[kind];
        k.withheld[i].is_none() && !k.elsewhere[i] && k.counts[i] > 0
    }

    /// The total of `kind` goes, and every count of it, zeros included:
    /// then nothing of this run ties them, and no withheld count can be
    /// told from a zero.
    pub(super) fn withhold_year(&mut self, kind: usize) {
        let k = &mut self.kinds[kind];
        k.total = false;
        for w in &mut k.withheld {
            w.get_or_insert(Rule::Complementary);
        }
    }

    /// What anyone can see: the counts and sums published, here or
    /// elsewhere, and what the rule itself gives away while a total is
    /// published: no zero is withheld, so a withheld count is at least 1;
    /// and partners go smallest first, so a count withheld as small or
    /// as a partner is either small or at most the smallest count still
    /// published here.
    fn public(&self) -> Public {
        let mut public = Public::with(self.truth.clone());
        for tie in &self.ties {
            public.state(tie.clone(), 0);
        }
        for (kind, k) in self.kinds.iter().enumerate() {
            let smallest_left = (0..k.counts.len())
                .filter(|&i| self.partner(kind, i))
                .map(|i| k.counts[i])
                .min();
            let cap = smallest_left.map(|c| c.max(k.small_below - 1));
            for (i, &var) in k.vars.iter().enumerate() {
                match k.withheld[i] {
                    _ if k.elsewhere[i] => public.publish_count(var),
                    None => public.publish_count(var),
                    // Alone in its year, a count is withheld only when small.
                    Some(Rule::Primary) if k.counts.len() == 1 => {
                        public.know(var, 1, Some(k.small_below - 1))
                    }
                    Some(_) if !k.total => {}
                    Some(Rule::Linked) => public.know(var, 1, None),
                    Some(_) => public.know(var, 1, cap),
                }
            }
            if k.total {
                public.publish(k.vars.iter().map(|&v| (v, 1)).collect());
            }
        }
        for (terms, value) in &self.stated {
            public.state(terms.clone(), *value);
        }
        public
    }

    /// The interval of each of needs `which` (a count published exactly:
    /// its truth).
    fn intervals(&self, which: &[usize]) -> Vec<Interval> {
        let wanted: BTreeSet<usize> = which.iter().map(|&n| self.needs[n].var).collect();
        let found = self.public().intervals_of(&wanted);
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
    /// narrowest width left to one, and how many stay unprotected (pinned
    /// by what other tables published, beyond this run's reach).
    ///
    /// Withholding more only widens every range (facts go, the rule's
    /// bounds loosen), so a need once protected stays protected and only
    /// the open ones are solved again. Counts of their own municipality
    /// are withheld for several open needs at once (one per
    /// municipality); any other step is followed by a new audit.
    pub(super) fn protect(&mut self) -> (Option<i64>, usize) {
        let mut open: Vec<usize> = (0..self.needs.len()).collect();
        let mut beyond: BTreeSet<usize> = BTreeSet::new();
        loop {
            let intervals = self.intervals(&open);
            open = open
                .into_iter()
                .zip(intervals)
                .filter(|(n, interval)| !self.needs[*n].protection.holds(interval))
                .map(|(n, _)| n)
                .collect();
            let mut places = BTreeSet::new();
            let mut acted = false;
            for &n in &open {
                let place = self.needs[n].municipality;
                if beyond.contains(&n) || places.contains(&place) {
                    continue;
                }
                match self.withhold_for(n) {
                    Some(Rule::Linked) => {
                        acted = true;
                        places.insert(place);
                    }
                    Some(_) => {
                        acted = true;
                        break;
                    }
                    None => {
                        beyond.insert(n);
                    }
                }
            }
            if !acted {
                let all: Vec<usize> = (0..self.needs.len()).collect();
                let narrowest = self
                    .intervals(&all)
                    .iter()
                    .filter_map(Interval::width)
                    .min();
                return (narrowest, open.len());
            }
        }
    }

    /// Withholds one more count for need `n`: one of the same
    /// municipality adding up the same names, else the smallest count of
    /// a kind it shares names with, else that kind's total; of two
    /// candidates, the one leaving the need the widest range. What was
    /// done (`None`: nothing left to withhold).
    fn withhold_for(&mut self, n: usize) -> Option<Rule> {
        let (i, atoms) = (self.needs[n].municipality, self.needs[n].atoms.clone());
        let shares = |kind: usize| self.shape.kinds[kind].iter().any(|a| atoms.contains(a));
        // A proportion ties its numerator to its denominator.
        let tied = self.shape.proportion && (0..2).any(shares);
        let kinds: Vec<usize> = (0..2).filter(|&k| tied || shares(k)).collect();
        let linked: Vec<(usize, usize)> = kinds
            .iter()
            .filter(|&&k| self.partner(k, i))
            .map(|&k| (k, i))
            .collect();
        if let Some((k, j)) = self.widest(n, &linked, Rule::Linked) {
            self.kinds[k].withheld[j] = Some(Rule::Linked);
            return Some(Rule::Linked);
        }
        // Each kind's smallest: what the attacker knows of the rule (a
        // partner is at most any count of its kind still published) holds.
        let smallest: Vec<(usize, usize)> = kinds
            .iter()
            .filter_map(|&k| {
                (0..self.cells.len())
                    .filter(|&j| self.partner(k, j))
                    .min_by_key(|&j| (self.kinds[k].counts[j], &self.cells[j].municipio))
                    .map(|j| (k, j))
            })
            .collect();
        if let Some((k, j)) = self.widest(n, &smallest, Rule::Complementary) {
            self.kinds[k].withheld[j] = Some(Rule::Complementary);
            return Some(Rule::Complementary);
        }
        match kinds.into_iter().find(|&k| self.kinds[k].total) {
            Some(k) => {
                self.withhold_year(k);
                Some(Rule::Complementary)
            }
            None => None,
        }
    }

    /// Of `candidates` (kind, municipality), the one whose withholding
    /// under `rule` leaves need `n` the widest range (the first of equals;
    /// one candidate is taken without trying).
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
            let width = self.intervals(&[n])[0].width();
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

fn sorted(names: &[usize]) -> Vec<usize> {
    let mut names = names.to_vec();
    names.sort_unstable();
    names
}

/// The municipality a stated sum is about, when it is about one only
/// (and it is one of this run's).
fn single_municipality(
    stated: &super::suppress::Stated,
    place: &HashMap<&str, usize>,
) -> Option<usize> {
    let first = &stated.terms.first()?.0;
    stated
        .terms
        .iter()
        .all(|(m, _)| m == first)
        .then(|| place.get(first.as_str()).copied())
        .flatten()
}
