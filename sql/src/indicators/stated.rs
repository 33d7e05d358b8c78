//! What other publications state, as one run's audit reads it: which
//! stated numbers bear on the years it solves ([`reached`]) and which
//! municipality a number is about.

use super::suppress::{Known, Protection, Stated};
use std::collections::{BTreeSet, HashMap};

/// What other publications state that bears on years `held`: every number
/// over one of them, every number about a count this run does not compute
/// (not `own`: another year, name or municipality) that a count withheld
/// over one of them adds up, and every number sharing such a count with
/// one already reached, until none is added. A year this run lacks is pinned
/// by what is stated about it, and that reaches this run's years through
/// numbers over both.
pub(super) fn reached<'k>(
    known: &'k Known,
    held: &BTreeSet<i64>,
    own: &dyn Fn(&str, &str, i64) -> bool,
) -> Vec<(&'k Stated, &'k Protection)> {
    let all: Vec<(&Stated, &Protection)> = known.stated.iter().collect();
    let keys = |s: &'k Stated| {
        s.span.range().flat_map(move |y| {
            s.terms
                .iter()
                .map(move |(m, n)| (m.as_str(), n.as_str(), y))
        })
    };
    let mut by_key: HashMap<(&str, &str, i64), Vec<usize>> = HashMap::new();
    for (f, (stated, _)) in all.iter().enumerate() {
        for key in keys(stated).filter(|&(m, n, y)| !own(m, n, y)) {
            by_key.entry(key).or_default().push(f);
        }
    }
    let mut taken = vec![false; all.len()];
    let mut queue: Vec<usize> = (0..all.len())
        .filter(|&f| all[f].0.span.range().any(|y| held.contains(&y)))
        .collect();
    for &f in &queue {
        taken[f] = true;
    }
    let mut seen_keys = std::collections::HashSet::new();
    // A count withheld elsewhere over one of these years and one this run
    // lacks reaches what is stated of that one.
    let withheld = known
        .withheld
        .keys()
        .filter(|(span, _, _)| span.range().any(|y| held.contains(&y)));
    for (span, m, names) in withheld {
        for y in span.range() {
            for n in names.iter().filter(|n| !own(m, n, y)) {
                for &g in by_key
                    .get(&(m.as_str(), n.as_str(), y))
                    .map_or(&[][..], Vec::as_slice)
                {
                    if !taken[g] {
                        taken[g] = true;
                        queue.push(g);
                    }
                }
            }
        }
    }
    while let Some(f) = queue.pop() {
        for key in keys(all[f].0).filter(|&(m, n, y)| !own(m, n, y)) {
            if !seen_keys.insert(key) {
                continue;
            }
            for &g in by_key.get(&key).map_or(&[][..], Vec::as_slice) {
                if !taken[g] {
                    taken[g] = true;
                    queue.push(g);
                }
            }
        }
    }
    (0..all.len())
        .filter(|&f| taken[f])
        .map(|f| all[f])
        .collect()
}

/// The municipality a stated number is about, when it is about one only.
pub(super) fn single_municipality(stated: &Stated) -> Option<&str> {
    let first = &stated.terms.first()?.0;
    stated
        .terms
        .iter()
        .all(|(m, _)| m == first)
        .then_some(first.as_str())
}
