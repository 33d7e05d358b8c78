//! The synthetic state: its municipalities, what drives each one's
//! indicators (a rate of infant mortality, of prenatal care, of
//! vaccination, of dropout...), and the yearly counts every delivery is
//! drawn from. Everything is a pure function of the seed, so each file can
//! be written on its own and the same seed gives the same state.

use crate::random::{Draw, rng_for};
use lagoa_schemas::validators::ibge_with_check_digit;

/// One municipality and the rates that shape its data.
#[derive(Clone, Debug)]
pub struct Municipality {
    /// IBGE code, 7 digits with its check digit (`2600054`).
    pub code7: String,
    /// DATASUS code, 6 digits (`260005`).
    pub code6: String,
    pub name: String,
    pub population_first_year: f64,
    /// Yearly growth (0.004 = 0.4 %).
    pub growth: f64,
    /// Infant deaths per 1,000 live births.
    pub infant_mortality: f64,
    /// Share of births whose mother had 7 or more prenatal visits.
    pub prenatal_7: f64,
    /// Share of children who get the last dose of a scheme.
    pub vaccination: f64,
    /// Share of enrolled pupils who leave school during the year.
    pub dropout: f64,
    /// Share of pupils two or more years older than their grade's age.
    pub distortion: f64,
    /// Intentional homicides per 100,000 inhabitants.
    pub homicide: f64,
}

/// What happened in one municipality in one year.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct YearCounts {
    pub population: u64,
    pub births: u64,
    pub infant_deaths: u64,
    pub fetal_deaths: u64,
    pub homicides: u64,
    /// Deaths of people over one year old, homicides excluded.
    pub other_deaths: u64,
    /// Pupils enrolled in the 9 years of ensino fundamental.
    pub pupils: u64,
}

/// The state.
#[derive(Clone, Debug)]
pub struct Territory {
    pub uf: u8,
    pub uf_sigla: &'static str,
    pub uf_name: &'static str,
    pub first_year: i32,
    pub last_year: i32,
    pub municipalities: Vec<Municipality>,
    seed: u64,
}

const HEADS: &[&str] = &[
    "São José",
    "Santa Cruz",
    "Lagoa",
    "Serra",
    "Riacho",
    "Brejo",
    "Poço",
    "Vila",
    "Alto",
    "Campo",
    "Vale",
    "Pedra",
    "Água",
    "Bom Jesus",
    "Nova",
    "Cachoeira",
    "Ilha",
    "Morro",
    "Barra",
    "Olho d'Água",
];
const CONNECTORS: &[&str] = &["do", "da", "dos", "das", "de"];
const TAILS: &[&str] = &[
    "Jatobá",
    "Esperança",
    "Conceição",
    "Araçá",
    "Umbuzeiro",
    "Tamarindo",
    "Juazeiro",
    "Caatinga",
    "Mandacaru",
    "Ingá",
    "Aroeira",
    "Baraúna",
    "Pajeú",
    "Capibaribe",
    "Sertão",
    "Gameleira",
    "Cajá",
    "Macambira",
    "Açude",
    "Piancó",
    "Xiquexique",
    "Jenipapo",
    "Ouricuri",
];

const UFS: &[(u8, &str, &str)] = &[
    (11, "RO", "Rondônia"),
    (12, "AC", "Acre"),
    (13, "AM", "Amazonas"),
    (14, "RR", "Roraima"),
    (15, "PA", "Pará"),
    (16, "AP", "Amapá"),
    (17, "TO", "Tocantins"),
    (21, "MA", "Maranhão"),
    (22, "PI", "Piauí"),
    (23, "CE", "Ceará"),
    (24, "RN", "Rio Grande do Norte"),
    (25, "PB", "Paraíba"),
    (26, "PE", "Pernambuco"),
    (27, "AL", "Alagoas"),
    (28, "SE", "Sergipe"),
    (29, "BA", "Bahia"),
    (31, "MG", "Minas Gerais"),
    (32, "ES", "Espírito Santo"),
    (33, "RJ", "Rio de Janeiro"),
    (35, "SP", "São Paulo"),
    (41, "PR", "Paraná"),
    (42, "SC", "Santa Catarina"),
    (43, "RS", "Rio Grande do Sul"),
    (50, "MS", "Mato Grosso do Sul"),
    (51, "MT", "Mato Grosso"),
    (52, "GO", "Goiás"),
    (53, "DF", "Distrito Federal"),
];

/// The largest number of municipalities one state can have here (codes
/// `UF0010` to `UF9990` in steps of ten).
pub const MAX_MUNICIPALITIES: usize = 999;

impl Territory {
    /// A state of `count` municipalities observed from `first_year` to
    /// `last_year`; `scale` multiplies every population (and so every
    /// count and file size).
    pub fn new(
        seed: u64,
        uf: u8,
        count: usize,
        first_year: i32,
        last_year: i32,
        scale: f64,
    ) -> Result<Self, String> {
        let &(_, uf_sigla, uf_name) = UFS
            .iter()
            .find(|(code, _, _)| *code == uf)
            .ok_or_else(|| format!("{uf} is not an IBGE state code (26 is Pernambuco)"))?;
        if count == 0 || count > MAX_MUNICIPALITIES {
            return Err(format!(
                "{count} municipalities: between 1 and {MAX_MUNICIPALITIES}"
            ));
        }
        if last_year < first_year || first_year < 2000 || last_year > 2100 {
            return Err(format!(
                "years {first_year}-{last_year}: a range within 2000-2100"
            ));
        }
        if !(scale > 0.0 && scale <= 1000.0) {
            return Err(format!("scale {scale}: more than 0, at most 1000"));
        }
        let mut rng = rng_for(seed, &["territory"]);
        let mut names = std::collections::BTreeSet::new();
        let mut municipalities = Vec::with_capacity(count);
        for i in 0..count {
            let code6 = format!("{uf:02}{:04}", (i + 1) * 10);
            let code7 = ibge_with_check_digit(&code6).expect("a real UF and six digits");
            let name = loop {
                let head = HEADS[rng.below(HEADS.len())];
                let tail = TAILS[rng.below(TAILS.len())];
                let connector = CONNECTORS[rng.below(CONNECTORS.len())];
                let candidate = if rng.chance(0.25) {
                    format!("{head} {tail}").replace("Nova ", "Novo ")
                } else {
                    format!("{head} {connector} {tail}")
                };
                if names.insert(candidate.clone()) {
                    break candidate;
                }
            };
            // One large city first (the capital), then a long tail of small
            // towns, as in every Brazilian state.
            let population = if i == 0 {
                rng.uniform(350_000.0, 1_600_000.0)
            } else {
                (rng.normal() * 0.9 + 9.9).exp().clamp(2_500.0, 400_000.0)
            } * scale;
            municipalities.push(Municipality {
                code7,
                code6,
                name,
                population_first_year: population.max(1.0),
                growth: rng.uniform(-0.004, 0.014),
                infant_mortality: rng.uniform(8.0, 24.0),
                prenatal_7: rng.uniform(0.55, 0.88),
                vaccination: rng.uniform(0.70, 1.0),
                dropout: rng.uniform(0.004, 0.06),
                distortion: rng.uniform(0.08, 0.32),
                homicide: rng.uniform(8.0, 65.0),
            });
        }
        Ok(Territory {
            uf,
            uf_sigla,
            uf_name,
            first_year,
            last_year,
            municipalities,
            seed,
        })
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn years(&self) -> impl Iterator<Item = i32> + Clone {
        self.first_year..=self.last_year
    }

    /// The counts of municipality `m` in `year`.
    pub fn counts(&self, m: usize, year: i32) -> YearCounts {
        let city = &self.municipalities[m];
        let mut rng = rng_for(self.seed, &["counts", &city.code7, &year.to_string()]);
        let elapsed = f64::from(year - self.first_year);
        let population = (city.population_first_year * (1.0 + city.growth).powf(elapsed)).round();
        let births = rng.poisson(population * 0.0138);
        let infant_deaths = rng.binomial(births, city.infant_mortality / 1000.0);
        let fetal_deaths = rng.binomial(births, 0.008);
        let homicides = rng.poisson(population * city.homicide / 100_000.0);
        let other_deaths = rng.poisson(population * 0.0062);
        let pupils = rng.poisson(population * 0.145);
        YearCounts {
            population: population as u64,
            births,
            infant_deaths,
            fetal_deaths,
            homicides,
            other_deaths,
            pupils,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_state_and_codes_are_valid() {
        let a = Territory::new(7, 26, 30, 2020, 2024, 1.0).unwrap();
        let b = Territory::new(7, 26, 30, 2020, 2024, 1.0).unwrap();
        assert_eq!(a.municipalities.len(), 30);
        for (x, y) in a.municipalities.iter().zip(&b.municipalities) {
            assert_eq!((&x.code7, &x.name), (&y.code7, &y.name));
            assert!(lagoa_schemas::validators::is_valid_ibge_municipality(
                &x.code7
            ));
            assert_eq!(&x.code7[..6], x.code6);
        }
        assert_eq!(a.counts(3, 2022), b.counts(3, 2022));
        let c = Territory::new(8, 26, 30, 2020, 2024, 1.0).unwrap();
        assert_ne!(a.municipalities[1].name, c.municipalities[1].name);
        let capital = a.counts(0, 2020);
        assert!(
            capital.population > 300_000 && capital.births > 3_000,
            "{capital:?}"
        );
        assert!(Territory::new(7, 99, 3, 2020, 2024, 1.0).is_err());
    }
}
