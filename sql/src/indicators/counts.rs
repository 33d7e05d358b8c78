//! What a run's numerator and denominator are made of: named counts
//! (`-- numerator: obitos_fetais + obitos_neonatais_precoces`), the
//! same names in every indicator that publishes them.
//!
//! A count declared as one name is that count. A count declared as a sum
//! of names is their sum: the indicator's SQL returns a column for each
//! (named as the count), and the audit works on them, so that a table
//! publishing `nascidos_vivos_todos + obitos_fetais` and another
//! publishing `nascidos_vivos_todos` together give `obitos_fetais` away
//! when nothing stops them.

/// The named counts a run computes and which of them each kind adds up
/// (kind 0 the numerator, 1 the denominator).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Every name, numerator's first, each once.
    pub atoms: Vec<String>,
    /// The places in `atoms` each kind adds up.
    pub kinds: [Vec<usize>; 2],
    /// The numerator counts a part of what the denominator counts (`--
    /// proportion: yes`): never above it, as anyone reading the formula
    /// knows.
    pub proportion: bool,
    /// How many years each published count adds up (`-- period:`), the
    /// year it names and those before.
    pub period: i64,
}

/// The names a declaration adds up, in its order (`a + b` → `a`, `b`).
pub fn atoms_of(declared: &str) -> Vec<String> {
    declared
        .split('+')
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty())
        .collect()
}

/// A kind the definition does not name: a private name no other
/// publication can state (not a valid count name).
fn unnamed(kind: usize) -> String {
    ["#numerador", "#denominador"][kind].to_owned()
}

impl Shape {
    /// The shape of counts declared as `names` (numerator, denominator).
    pub fn of(names: &[Option<String>; 2]) -> Shape {
        let mut atoms: Vec<String> = Vec::new();
        let mut kinds: [Vec<usize>; 2] = [Vec::new(), Vec::new()];
        for (kind, name) in names.iter().enumerate() {
            let parts = name
                .as_deref()
                .map(atoms_of)
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| vec![unnamed(kind)]);
            for part in parts {
                let place = match atoms.iter().position(|a| *a == part) {
                    Some(p) => p,
                    None => {
                        atoms.push(part);
                        atoms.len() - 1
                    }
                };
                kinds[kind].push(place);
            }
        }
        Shape {
            atoms,
            kinds,
            proportion: false,
            period: 1,
        }
    }

    /// The same, its numerator a part of its denominator.
    pub fn proportion(self, proportion: bool) -> Shape {
        Shape { proportion, ..self }
    }

    /// The same, each published count adding up `years` years.
    pub fn period(self, years: i64) -> Shape {
        Shape {
            period: years.max(1),
            ..self
        }
    }

    /// The years a count published for `ano` adds up.
    pub fn years_of(&self, ano: i64) -> std::ops::RangeInclusive<i64> {
        ano - self.period + 1..=ano
    }

    /// Neither count named: one atom each (tests and benchmarks).
    pub fn plain() -> Shape {
        Shape::of(&[None, None])
    }

    /// Whether `kind` is a sum of more than one named count.
    pub fn is_sum(&self, kind: usize) -> bool {
        self.kinds[kind].len() > 1
    }

    /// The names a kind's SQL must return as columns of their own (the
    /// parts of a sum; none for a count of one name).
    pub fn columns(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for kind in (0..2).filter(|&k| self.is_sum(k)) {
            for &a in &self.kinds[kind] {
                if !out.contains(&self.atoms[a].as_str()) {
                    out.push(&self.atoms[a]);
                }
            }
        }
        out
    }

    /// The place of a name among the atoms.
    pub fn place(&self, atom: &str) -> Option<usize> {
        self.atoms.iter().position(|a| a == atom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_name_is_one_atom_of_both_kinds() {
        let shape = Shape::of(&[
            Some("obitos_fetais + obitos_neonatais_precoces".into()),
            Some("nascidos_vivos_todos + obitos_fetais".into()),
        ]);
        assert_eq!(
            shape.atoms,
            [
                "obitos_fetais",
                "obitos_neonatais_precoces",
                "nascidos_vivos_todos"
            ]
        );
        assert_eq!(shape.kinds, [vec![0, 1], vec![2, 0]]);
        assert_eq!(
            shape.columns(),
            [
                "obitos_fetais",
                "obitos_neonatais_precoces",
                "nascidos_vivos_todos"
            ]
        );
    }

    #[test]
    fn unnamed_counts_are_private_atoms() {
        let shape = Shape::of(&[None, Some("populacao_residente".into())]);
        assert_eq!(shape.atoms, ["#numerador", "populacao_residente"]);
        assert!(shape.columns().is_empty());
        assert_eq!(Shape::plain().kinds, [vec![0], vec![1]]);
    }
}
