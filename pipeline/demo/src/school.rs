//! School results: a municipal school network's Educacenso export, one row
//! per enrolment in the nine years of ensino fundamental with the pupil's
//! age and final situation (`matriculas_<YYYY>.csv`, Latin-1, `;`, INEP's
//! upper-case names, 7-digit municipality codes).

use crate::files::{DelimitedWriter, Encoding, WriteError};
use crate::random::{Draw, rng_for};
use crate::territory::Territory;
use rand::Rng;
use std::path::Path;

pub const HEADER: &[&str] = &[
    "NU_ANO_CENSO",
    "CO_MUNICIPIO",
    "NO_MUNICIPIO",
    "CO_ENTIDADE",
    "ID_ALUNO",
    "NU_IDADE_REFERENCIA",
    "TP_SEXO",
    "TP_COR_RACA",
    "TP_ETAPA_ENSINO",
    "TP_SITUACAO",
];

/// INEP's stage codes for the 1st to 9th year of ensino fundamental, with
/// the age a pupil should have in each.
pub const STAGES: &[(&str, u32)] = &[
    ("14", 6),
    ("15", 7),
    ("16", 8),
    ("17", 9),
    ("18", 10),
    ("19", 11),
    ("20", 12),
    ("21", 13),
    ("41", 14),
];

/// The final situation of an enrolment (`TP_SITUACAO`).
pub const SITUATIONS: &[(&str, &str)] = &[
    ("1", "transferido"),
    ("2", "deixou de frequentar"),
    ("3", "falecido"),
    ("4", "reprovado"),
    ("5", "aprovado"),
];

/// One file per year; returns the rows written.
pub fn write(t: &Territory, year: i32, path: &Path) -> Result<u64, WriteError> {
    let mut out = DelimitedWriter::create(path, Encoding::Latin1, HEADER)?;
    for (m, city) in t.municipalities.iter().enumerate() {
        let c = t.counts(m, year);
        let mut rng = rng_for(t.seed(), &["escolar", &city.code7, &year.to_string()]);
        let schools: Vec<String> = (0..1 + c.pupils / 450)
            .map(|_| format!("{:02}{:06}", t.uf, rng.random_range(0..999_999u32)))
            .collect();
        for _ in 0..c.pupils {
            let (stage, age) = STAGES[rng.below(STAGES.len())];
            let age = if rng.chance(city.distortion) {
                age + 2 + (rng.below(6) as u32).saturating_sub(3)
            } else if rng.chance(0.15) {
                age + 1
            } else {
                age
            };
            let situation = if rng.chance(0.0005) {
                "3"
            } else if rng.chance(0.04) {
                "1"
            } else if rng.chance(city.dropout) {
                "2"
            } else if rng.chance(0.07 + city.distortion / 5.0) {
                "4"
            } else {
                "5"
            };
            out.record(&[
                year.to_string().as_str(),
                &city.code7,
                &city.name,
                &schools[rng.below(schools.len())],
                &format!(
                    "{:012}",
                    rng.random_range(100_000_000_000u64..999_999_999_999)
                ),
                &age.to_string(),
                if rng.chance(0.49) { "2" } else { "1" },
                *rng.weighted(&[
                    ("0", 2.0),
                    ("1", 3.0),
                    ("2", 1.0),
                    ("3", 6.0),
                    ("4", 0.1),
                    ("5", 0.2),
                ]),
                stage,
                situation,
            ])?;
        }
    }
    out.finish()
}
