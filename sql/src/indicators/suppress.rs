//! Small-cell suppression: what an indicator may publish.
//!
//! A cell is one municipality in one year, with two counts. With a minimum
//! cell size `k`:
//!
//! - **primary**: a count above zero and below `k` is withheld (the
//!   numerator, the denominator or both), and so is the value;
//! - **complementary**: each year also publishes the state's total, so a
//!   single withheld count in a year could be recovered by subtraction.
//!   When a year has exactly one withheld numerator (or denominator), the
//!   smallest other count of that year above zero is withheld too, so
//!   that every withheld count hides behind at least one other;
//! - a value is published only when both of its counts are;
//! - the state's total follows the same primary rule, and hides entirely
//!   when the year has a single municipality.
//!
//! Zero counts are published: a zero reveals no one. `k = 0` publishes
//! everything.

use std::collections::BTreeMap;

/// One computed cell.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    pub municipio: String,
    pub ano: i64,
    pub numerador: i64,
    pub denominador: i64,
}

/// Why a published cell lacks its counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suppressed {
    Primary,
    Complementary,
}

impl Suppressed {
    pub fn label(self) -> &'static str {
        match self {
            Suppressed::Primary => "primaria",
            Suppressed::Complementary => "complementar",
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
    pub suppressed: Option<Suppressed>,
    /// The state's total of the year.
    pub total: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub cells: usize,
    pub primary: usize,
    pub complementary: usize,
}

#[derive(Clone, Copy, Default)]
struct Marks {
    num: Option<Suppressed>,
    den: Option<Suppressed>,
}

fn small(count: i64, k: i64) -> bool {
    count > 0 && count < k
}

/// Withholds the next smallest count of the group when exactly one is withheld.
fn complete(
    group: &[&Cell],
    marks: &mut [Marks],
    count: fn(&Cell) -> i64,
    mark: fn(&mut Marks) -> &mut Option<Suppressed>,
) {
    let withheld = (0..marks.len())
        .filter(|&i| mark(&mut marks[i]).is_some())
        .count();
    if withheld != 1 || group.len() < 2 {
        return;
    }
    let partner = (0..group.len())
        .filter(|&i| mark(&mut marks[i]).is_none())
        // The smallest count above zero: a withheld zero beside a lone
        // small count would give the small count away.
        .min_by_key(|&i| (count(group[i]) == 0, count(group[i]), &group[i].municipio));
    if let Some(i) = partner {
        *mark(&mut marks[i]) = Some(Suppressed::Complementary);
    }
}

/// The cells as published, years in order, each year's municipalities in
/// code order followed by its total (coded `total_code`).
pub fn publish(
    cells: &[Cell],
    min_cell: u64,
    per: f64,
    total_code: &str,
) -> (Vec<Published>, Summary) {
    let k = i64::try_from(min_cell).unwrap_or(i64::MAX);
    let mut years: BTreeMap<i64, Vec<&Cell>> = BTreeMap::new();
    for c in cells {
        years.entry(c.ano).or_default().push(c);
    }
    let value = |num: i64, den: i64| (den != 0).then(|| num as f64 * per / den as f64);
    let mut out = Vec::with_capacity(cells.len() + years.len());
    let mut summary = Summary::default();
    for (ano, mut group) in years {
        group.sort_by(|a, b| a.municipio.cmp(&b.municipio));
        let mut marks = vec![Marks::default(); group.len()];
        for (c, m) in group.iter().zip(marks.iter_mut()) {
            if small(c.numerador, k) {
                m.num = Some(Suppressed::Primary);
            }
            if small(c.denominador, k) {
                m.den = Some(Suppressed::Primary);
            }
        }
        complete(&group, &mut marks, |c| c.numerador, |m| &mut m.num);
        complete(&group, &mut marks, |c| c.denominador, |m| &mut m.den);
        for (c, m) in group.iter().zip(&marks) {
            let suppressed = match (m.num, m.den) {
                (Some(Suppressed::Primary), _) | (_, Some(Suppressed::Primary)) => {
                    Some(Suppressed::Primary)
                }
                (None, None) => None,
                _ => Some(Suppressed::Complementary),
            };
            match suppressed {
                Some(Suppressed::Primary) => summary.primary += 1,
                Some(Suppressed::Complementary) => summary.complementary += 1,
                None => {}
            }
            summary.cells += 1;
            out.push(Published {
                municipio: c.municipio.clone(),
                ano,
                numerador: m.num.is_none().then_some(c.numerador),
                denominador: m.den.is_none().then_some(c.denominador),
                valor: if m.num.is_none() && m.den.is_none() {
                    value(c.numerador, c.denominador)
                } else {
                    None
                },
                suppressed,
                total: false,
            });
        }
        let num: i64 = group.iter().map(|c| c.numerador).sum();
        let den: i64 = group.iter().map(|c| c.denominador).sum();
        let lone = group.len() == 1 && marks[0].num.or(marks[0].den).is_some();
        let (num_out, den_out) = (!(lone || small(num, k)), !(lone || small(den, k)));
        out.push(Published {
            municipio: total_code.to_owned(),
            ano,
            numerador: num_out.then_some(num),
            denominador: den_out.then_some(den),
            valor: if num_out && den_out {
                value(num, den)
            } else {
                None
            },
            suppressed: (!num_out || !den_out).then_some(Suppressed::Primary),
            total: true,
        });
    }
    (out, summary)
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

    #[test]
    fn a_lone_small_count_takes_the_next_smallest_with_it() {
        let cells = [
            cell("2600054", 2024, 3, 400),
            cell("2600104", 2024, 9, 900),
            cell("2600203", 2024, 40, 5000),
            cell("2600302", 2024, 7, 800),
        ];
        let (p, s) = publish(&cells, 5, 1000.0, "26");
        assert_eq!(
            s,
            Summary {
                cells: 4,
                primary: 1,
                complementary: 1
            }
        );
        let a = find(&p, "2600054", 2024);
        assert_eq!(
            (a.numerador, a.valor, a.suppressed),
            (None, None, Some(Suppressed::Primary))
        );
        assert_eq!(a.denominador, Some(400), "a large denominator stays");
        let b = find(&p, "2600302", 2024);
        assert_eq!(
            (b.numerador, b.suppressed),
            (None, Some(Suppressed::Complementary))
        );
        let c = find(&p, "2600104", 2024);
        assert_eq!((c.numerador, c.valor), (Some(9), Some(10.0)));
        let total = find(&p, "26", 2024);
        assert!(total.total);
        assert_eq!((total.numerador, total.denominador), (Some(59), Some(7100)));
        // What the published counts leave: the two withheld cells' sum, not either.
        let known: i64 = p
            .iter()
            .filter(|x| !x.total)
            .filter_map(|x| x.numerador)
            .sum();
        assert_eq!(total.numerador.unwrap() - known, 3 + 7);
    }

    #[test]
    fn zeros_are_published_and_small_denominators_hide_the_value() {
        let cells = [
            cell("2600054", 2023, 0, 300),
            cell("2600104", 2023, 0, 3),
            cell("2600203", 2023, 12, 4),
            cell("2600302", 2023, 8, 700),
        ];
        let (p, s) = publish(&cells, 5, 100.0, "26");
        assert_eq!(find(&p, "2600054", 2023).valor, Some(0.0));
        let b = find(&p, "2600104", 2023);
        assert_eq!((b.numerador, b.denominador, b.valor), (Some(0), None, None));
        let c = find(&p, "2600203", 2023);
        assert_eq!((c.numerador, c.denominador), (Some(12), None));
        assert_eq!(s.primary, 2);
        assert_eq!(
            s.complementary, 0,
            "two withheld denominators cover each other"
        );
    }

    #[test]
    fn without_a_minimum_everything_is_published_and_a_lone_municipality_hides_its_total() {
        let cells = [cell("2600054", 2024, 1, 2), cell("2600054", 2023, 2, 1)];
        let (p, s) = publish(&cells, 0, 100.0, "26");
        assert_eq!(
            s,
            Summary {
                cells: 2,
                primary: 0,
                complementary: 0
            }
        );
        assert_eq!(find(&p, "26", 2024).valor, Some(50.0));
        let (p, _) = publish(&cells[..1], 5, 100.0, "26");
        let total = find(&p, "26", 2024);
        assert_eq!((total.numerador, total.valor), (None, None));
    }
}
