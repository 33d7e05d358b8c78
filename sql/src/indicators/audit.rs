//! The attacker's audit of what is published (statistical agencies call it
//! the attacker problem): given every published number as a linear
//! expression of the underlying counts, and what anyone knows of the
//! counts (they are whole numbers, never negative, and whatever the
//! suppression rule itself gives away), the values each withheld count can
//! still take.
//!
//! ```text
//!  underlying counts x₀ … xₙ (the truth, known to Lagoa only)
//!  published:  Σ cᵢ·xᵢ = v        (a count, a total, a sum of counts of two indicators)
//!  known:      lowᵢ ≤ xᵢ ≤ highᵢ  (≥ 0; a primary cell is 1 … k−1 if the rule says so)
//!  for a withheld xⱼ:  min xⱼ and max xⱼ over whole numbers, by branch and bound (microlp)
//! ```
//!
//! Every end of an interval comes with a witness: a whole-number point the
//! solver found, checked here exactly against every published fact and
//! every bound. A witness that fails, a solver that errs, stops or panics
//! fall back to the truth itself, which always satisfies everything: the
//! interval can only come out narrower than the attacker's real one, never
//! wider, so a doubt costs more suppression, never a disclosure.
//!
//! Published counts are known exactly and are taken out of the problems;
//! what is left splits into groups of withheld counts tied by a fact, and
//! each group is solved on its own (one year of one indicator, usually).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Branch-and-bound nodes one bound may take: a deterministic budget, so
/// that `lagoa indicator verify` reaches the bounds a run reached. A search
/// it stops gives its best witness (a narrower interval: more suppression).
const NODE_LIMIT: u64 = 20_000;
/// A last safety net on wall-clock time (the node budget ends first in
/// practice); past it the truth stands in for the bound.
const SOLVE_LIMIT: Duration = Duration::from_secs(30);

/// One published number: `Σ coefficient × count = value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fact {
    pub terms: Vec<(usize, i64)>,
    pub value: i64,
}

/// What is public about a set of underlying counts, and the truth the
/// audit needs to judge protection (never published itself).
#[derive(Clone, Debug)]
pub struct Public {
    /// `None`: a count only other publications add in, whose value this
    /// run does not compute (never audited itself).
    truth: Vec<Option<i64>>,
    /// What anyone knows of each count: at least, at most (`None`: no bound).
    known: Vec<(i64, Option<i64>)>,
    facts: Vec<Fact>,
}

/// The values a withheld count can take, given everything public.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interval {
    pub low: i64,
    /// `None`: no published number bounds it from above.
    pub high: Option<i64>,
}

impl Interval {
    /// How many values wide (`None`: unbounded).
    pub fn width(&self) -> Option<i64> {
        self.high.map(|h| h - self.low)
    }
}

impl Public {
    /// Counts with these true values, nothing published yet, each known
    /// only to be a whole number of at least zero.
    pub fn new(truth: Vec<i64>) -> Self {
        Self::with(truth.into_iter().map(Some).collect())
    }

    /// Counts with these values, `None` where this run does not know it.
    pub fn with(truth: Vec<Option<i64>>) -> Self {
        let known = vec![(0, None); truth.len()];
        Public {
            truth,
            known,
            facts: Vec::new(),
        }
    }

    /// Publishes `Σ coefficient × count`, its value from the truth (a
    /// sum over a count of unknown value must come with its value, by
    /// [`Public::state`]: it is left out).
    pub fn publish(&mut self, terms: Vec<(usize, i64)>) {
        let value: Option<i64> = terms
            .iter()
            .map(|&(i, c)| self.truth[i].map(|t| c * t))
            .sum();
        if let Some(value) = value {
            self.facts.push(Fact { terms, value });
        }
    }

    /// `Σ coefficient × count = value` is public (stated by another
    /// publication).
    pub fn state(&mut self, terms: Vec<(usize, i64)>, value: i64) {
        self.facts.push(Fact { terms, value });
    }

    /// Publishes one count as it is.
    pub fn publish_count(&mut self, count: usize) {
        self.publish(vec![(count, 1)]);
    }

    /// Anyone knows `count` lies in `low ..= high` (the suppression rule's
    /// own give-away: a primary cell is below the minimum).
    pub fn know(&mut self, count: usize, low: i64, high: Option<i64>) {
        let (l, h) = &mut self.known[count];
        *l = (*l).max(low);
        *h = match (*h, high) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    /// The counts published exactly, by a fact of one count alone. Two
    /// facts that disagree make neither exact: both go to the solver, which
    /// finds no solution, and the truth stands in (more suppression).
    fn exact(&self) -> Vec<Option<i64>> {
        let mut exact = vec![None; self.truth.len()];
        let mut torn = vec![false; self.truth.len()];
        for fact in &self.facts {
            if let [(i, c)] = fact.terms[..]
                && fact.value.checked_rem(c) == Some(0)
                && let Some(x) = fact.value.checked_div(c)
            {
                torn[i] |= exact[i].is_some_and(|e| e != x);
                exact[i] = Some(x);
            }
        }
        for (e, torn) in exact.iter_mut().zip(torn) {
            if torn {
                *e = None;
            }
        }
        exact
    }

    /// The interval of every count of known value not published exactly.
    pub fn intervals(&self) -> BTreeMap<usize, Interval> {
        let all: BTreeSet<usize> = (0..self.truth.len()).collect();
        self.intervals_of(&all)
    }

    /// The interval of each of `wanted` (counts of known value) not
    /// published exactly; groups holding none of them are not solved.
    pub fn intervals_of(&self, wanted: &BTreeSet<usize>) -> BTreeMap<usize, Interval> {
        let mut seen = self.truth_seen();
        self.intervals_until(wanted, &|_, _| false, &mut seen)
    }

    /// Each count's truth as the only point seen so far (see
    /// [`Public::intervals_until`]).
    pub fn truth_seen(&self) -> Vec<Option<(i64, i64)>> {
        self.truth.iter().map(|t| t.map(|t| (t, t))).collect()
    }

    /// The same, solving a count only until whole-number points already
    /// found show a range `enough` for it: its interval is then those
    /// points' range, inside its real one. Since each point satisfies
    /// everything public, a range they show is one the attacker cannot
    /// narrow, and a judgement that only asks a range to be wide enough
    /// stays sound.
    ///
    /// `seen` holds each count's lowest and highest value in the points
    /// found so far (at least the truth, [`Public::truth_seen`]); every
    /// witness the solver gives widens it. Points of a problem stay
    /// points of any problem with fewer facts and looser bounds, so a
    /// caller that only ever publishes less may keep `seen` from one
    /// audit to the next.
    pub fn intervals_until(
        &self,
        wanted: &BTreeSet<usize>,
        enough: &dyn Fn(usize, &Interval) -> bool,
        seen: &mut [Option<(i64, i64)>],
    ) -> BTreeMap<usize, Interval> {
        let exact = self.exact();
        let mut out = BTreeMap::new();
        for group in self.groups(&exact) {
            if !group.iter().any(|c| wanted.contains(c)) {
                continue;
            }
            let problem = Problem::of(self, &exact, &group);
            let mut local: Vec<Option<(i64, i64)>> = group.iter().map(|&c| seen[c]).collect();
            for (v, &count) in group.iter().enumerate() {
                if !wanted.contains(&count) {
                    continue;
                }
                let enough = |interval: &Interval| enough(count, interval);
                if let Some(interval) = problem.interval(v, &mut local, &enough) {
                    out.insert(count, interval);
                }
            }
            for (&c, range) in group.iter().zip(local) {
                seen[c] = range;
            }
        }
        out
    }

    /// The withheld counts tied to each other by some fact, group by group.
    fn groups(&self, exact: &[Option<i64>]) -> Vec<Vec<usize>> {
        let mut parent: Vec<usize> = (0..self.truth.len()).collect();
        fn root(parent: &mut [usize], mut i: usize) -> usize {
            while parent[i] != i {
                parent[i] = parent[parent[i]];
                i = parent[i];
            }
            i
        }
        for fact in &self.facts {
            let open: Vec<usize> = fact
                .terms
                .iter()
                .map(|&(i, _)| i)
                .filter(|&i| exact[i].is_none())
                .collect();
            for pair in open.windows(2) {
                let (a, b) = (root(&mut parent, pair[0]), root(&mut parent, pair[1]));
                parent[a] = b;
            }
        }
        let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for i in (0..self.truth.len()).filter(|&i| exact[i].is_none()) {
            let r = root(&mut parent, i);
            groups.entry(r).or_default().push(i);
        }
        groups.into_values().collect()
    }
}

/// The facts on one group of withheld counts, published counts folded in.
struct Problem<'a> {
    public: &'a Public,
    /// The group's counts, in order; a count's place here is its variable.
    counts: Vec<usize>,
    /// `Σ coefficient × variable = value`, over the group's variables.
    facts: Vec<(Vec<(usize, i64)>, i64)>,
    /// Every fact could be put to the solver (else no bound is trusted).
    reliable: bool,
}

impl<'a> Problem<'a> {
    fn of(public: &'a Public, exact: &[Option<i64>], group: &[usize]) -> Self {
        let place: BTreeMap<usize, usize> =
            group.iter().enumerate().map(|(v, &i)| (i, v)).collect();
        let mut facts = Vec::new();
        let mut reliable = true;
        for fact in &public.facts {
            let mut value = i128::from(fact.value);
            // The same count twice in one fact adds up.
            let mut terms: BTreeMap<usize, i128> = BTreeMap::new();
            let mut inside = false;
            for &(i, c) in &fact.terms {
                match (exact[i], place.get(&i)) {
                    (Some(x), _) => value -= i128::from(c) * i128::from(x),
                    (None, Some(&v)) => {
                        inside = true;
                        *terms.entry(v).or_default() += i128::from(c);
                    }
                    // Another group's count: this fact is not this group's.
                    (None, None) => {
                        inside = false;
                        break;
                    }
                }
            }
            if !inside {
                continue;
            }
            let terms: Option<Vec<(usize, i64)>> = terms
                .into_iter()
                .filter(|&(_, c)| c != 0)
                .map(|(v, c)| i64::try_from(c).ok().map(|c| (v, c)))
                .collect();
            match (terms, i64::try_from(value)) {
                (Some(terms), Ok(value)) => facts.push((terms, value)),
                // Beyond what the audit computes with: the truth stands in.
                _ => reliable = false,
            }
        }
        Problem {
            public,
            counts: group.to_vec(),
            facts,
            reliable,
        }
    }

    /// The interval of the group's variable `v`: each end the solver's,
    /// when its witness holds, else the truth (`None`: no truth to judge);
    /// or, once the points `seen` so far (each variable's lowest and
    /// highest value in them) show a range `enough`, that range. Every
    /// witness found widens `seen` for every variable.
    fn interval(
        &self,
        v: usize,
        seen: &mut [Option<(i64, i64)>],
        enough: &dyn Fn(&Interval) -> bool,
    ) -> Option<Interval> {
        let truth = self.public.truth[self.counts[v]]?;
        if !self.reliable {
            return Some(Interval {
                low: truth,
                high: Some(truth),
            });
        }
        let unbounded = self.unbounded(v);
        let shown = |seen: &[Option<(i64, i64)>]| {
            let (low, high) = seen[v].unwrap_or((truth, truth));
            Interval {
                low,
                high: (!unbounded).then_some(high),
            }
        };
        if enough(&shown(seen)) {
            return Some(shown(seen));
        }
        let directions = [
            microlp::OptimizationDirection::Maximize,
            microlp::OptimizationDirection::Minimize,
        ];
        for direction in directions {
            if unbounded && direction == microlp::OptimizationDirection::Maximize {
                continue;
            }
            if let Some(point) = self.witness(v, direction) {
                for (range, x) in seen.iter_mut().zip(point) {
                    *range = Some(range.map_or((x, x), |(l, h)| (l.min(x), h.max(x))));
                }
            }
            if enough(&shown(seen)) {
                break;
            }
        }
        Some(shown(seen))
    }

    /// Whether nothing bounds variable `v` from above: no fact holds it,
    /// nor a known bound (the solver's own answer is not trusted for this).
    fn unbounded(&self, v: usize) -> bool {
        self.public.known[self.counts[v]].1.is_none()
            && !self
                .facts
                .iter()
                .any(|(terms, _)| terms.iter().any(|&(t, _)| t == v))
    }

    /// The whole-number point the solver reaches for variable `target` in
    /// `direction`, if it satisfies every fact and bound exactly.
    fn witness(
        &self,
        target: usize,
        direction: microlp::OptimizationDirection,
    ) -> Option<Vec<i64>> {
        let solved = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut problem = microlp::Problem::new(direction);
            let vars: Vec<microlp::Variable> = self
                .counts
                .iter()
                .enumerate()
                .map(|(v, &c)| {
                    let (low, high) = self.public.known[c];
                    let objective = if v == target { 1.0 } else { 0.0 };
                    let cap = i64::from(i32::MAX);
                    let high = high.map_or(cap, |h| h.clamp(0, cap)) as i32;
                    let low = low.clamp(0, cap) as i32;
                    problem.add_integer_var(objective, (low, high))
                })
                .collect();
            for (terms, value) in &self.facts {
                let expr: Vec<(microlp::Variable, f64)> =
                    terms.iter().map(|&(v, c)| (vars[v], c as f64)).collect();
                problem.add_constraint(expr, microlp::ComparisonOp::Eq, *value as f64);
            }
            let mut options = microlp::SolveOptions::default();
            options.node_limit = Some(NODE_LIMIT);
            options.time_limit = Some(SOLVE_LIMIT);
            let Ok(microlp::SolveOutcome::Solution(solution)) = problem.solve_with(options) else {
                return None;
            };
            let witness: Vec<i64> = vars
                .iter()
                .map(|&v| solution.var_value_raw(v).round() as i64)
                .collect();
            Some(witness)
        }));
        let witness = solved.ok().flatten()?;
        self.holds(&witness).then_some(witness)
    }

    /// Whether `point` (one value per variable) satisfies every fact and
    /// bound of the group, in exact arithmetic.
    fn holds(&self, point: &[i64]) -> bool {
        let bounded = self.counts.iter().zip(point).all(|(&c, &x)| {
            let (low, high) = self.public.known[c];
            x >= low && high.is_none_or(|h| x <= h)
        });
        bounded
            && self.facts.iter().all(|(terms, value)| {
                let sum: i128 = terms
                    .iter()
                    .map(|&(v, c)| i128::from(c) * i128::from(point[v]))
                    .sum();
                sum == i128::from(*value)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn between(low: i64, high: i64) -> Interval {
        Interval {
            low,
            high: Some(high),
        }
    }

    #[test]
    fn a_lone_withheld_count_beside_a_total_is_recovered_by_subtraction() {
        // Three municipalities and the state's total; one count withheld.
        let mut public = Public::new(vec![3, 40, 100]);
        public.publish_count(1);
        public.publish_count(2);
        public.publish(vec![(0, 1), (1, 1), (2, 1)]);
        let intervals = public.intervals();
        assert_eq!(intervals[&0], between(3, 3));
        assert_eq!(intervals[&0].width(), Some(0));
    }

    #[test]
    fn two_withheld_counts_share_their_sum_and_the_rule_narrows_them() {
        // The small count (3) and its complement (40) withheld, total published.
        let mut public = Public::new(vec![3, 40, 100]);
        public.publish_count(2);
        public.publish(vec![(0, 1), (1, 1), (2, 1)]);
        let plain = public.intervals();
        assert_eq!(plain[&0], between(0, 43));
        assert_eq!(plain[&1], between(0, 43));
        // Labelled "primary" (1..4) and "complementary" (at least 5): the
        // labels alone narrow the small count to 1..4 and its partner to 39..42.
        public.know(0, 1, Some(4));
        public.know(1, 5, None);
        let told = public.intervals();
        assert_eq!(told[&0], between(1, 4));
        assert_eq!(told[&1], between(39, 42));
    }

    #[test]
    fn a_second_indicator_sharing_a_count_gives_the_withheld_pair_away() {
        // Indicator A: counts x0 = 3 (withheld), x1 = 40 (withheld), x2 =
        // 100, total published. Indicator B publishes x1 + y (its
        // denominator) and y (published elsewhere as a count of its own).
        let mut public = Public::new(vec![3, 40, 100, 7]);
        public.publish_count(2);
        public.publish(vec![(0, 1), (1, 1), (2, 1)]);
        public.publish(vec![(1, 1), (3, 1)]);
        public.publish_count(3);
        let intervals = public.intervals();
        assert_eq!(intervals[&0], between(3, 3));
        assert_eq!(intervals[&1], between(40, 40));
    }

    #[test]
    fn a_count_no_fact_touches_is_unbounded_above() {
        let mut public = Public::new(vec![2, 9]);
        public.publish_count(1);
        let intervals = public.intervals();
        assert_eq!(intervals[&0], Interval { low: 0, high: None });
        assert_eq!(intervals[&0].width(), None);
        assert!(
            !intervals.contains_key(&1),
            "published exactly: not audited"
        );
    }

    #[test]
    fn the_interval_always_holds_the_truth_and_each_end_is_a_real_solution() {
        // Two years sharing a two-year total: x0 + x1 = 10 (year 1 total),
        // x2 + x3 = 12, x0 + x2 = 9 (a two-year figure of municipality 0).
        let truth = vec![4, 6, 5, 7];
        let mut public = Public::new(truth.clone());
        public.publish(vec![(0, 1), (1, 1)]);
        public.publish(vec![(2, 1), (3, 1)]);
        public.publish(vec![(0, 1), (2, 1)]);
        public.know(0, 1, Some(4));
        let intervals = public.intervals();
        for (count, interval) in &intervals {
            assert!(interval.low <= truth[*count], "{count}: {interval:?}");
            assert!(interval.high.is_none_or(|h| h >= truth[*count]));
        }
        // x0 ∈ 1..4 (known), x2 = 9 − x0 ∈ 5..8, x1 = 10 − x0 ∈ 6..9.
        assert_eq!(intervals[&0], between(1, 4));
        assert_eq!(intervals[&2], between(5, 8));
        assert_eq!(intervals[&1], between(6, 9));
        assert_eq!(intervals[&3], between(4, 7));
    }
}
