//! Health deliveries: deaths as a SIM extraction (a Latin-1 `;` CSV per
//! year, `DO<UF><YYYY>.csv`) and live births as a SINASC one (a dBase file
//! per year, `DN<UF><YYYY>.dbf`). DATASUS conventions throughout: 6-digit
//! municipality codes, `DDMMYYYY` dates, encoded ages, CID-10 without dot,
//! codes with leading zeros, the `UF0000` "município ignorado" code, and a
//! few CPFs whose check digits are wrong.

use crate::files::{DbfField, DbfWriter, DelimitedWriter, Encoding, WriteError};
use crate::people::{self, ddmmyyyy};
use crate::random::{Draw, rng_for};
use crate::territory::Territory;
use chrono::Datelike;
use rand::Rng;
use std::path::Path;

pub const SIM_HEADER: &[&str] = &[
    "NUMERODO",
    "TIPOBITO",
    "DTOBITO",
    "HORAOBITO",
    "DTNASC",
    "IDADE",
    "SEXO",
    "RACACOR",
    "ESTCIV",
    "CODMUNRES",
    "LOCOCOR",
    "CIRCOBITO",
    "CAUSABAS",
    "LINHAA",
    "CPF",
    "CNS",
    "NOME",
    "NOMEMAE",
];

/// Share of adults' CPFs delivered with a wrong check digit.
pub const BAD_CPF_SHARE: f64 = 0.002;

const PERINATAL: &[(&str, f64)] = &[
    ("P073", 4.0),
    ("P220", 3.0),
    ("P369", 2.0),
    ("P210", 1.0),
    ("Q249", 1.5),
    ("A09", 0.5),
    ("J189", 0.5),
];
const FETAL: &[(&str, f64)] = &[("P95", 5.0), ("P964", 1.0), ("P021", 1.0)];
const HOMICIDE: &[(&str, f64)] = &[
    ("X954", 6.0),
    ("X959", 3.0),
    ("X994", 2.0),
    ("X999", 1.0),
    ("Y099", 1.0),
    ("X919", 0.3),
    ("Y350", 0.5),
];
const OTHER: &[(&str, f64)] = &[
    ("I219", 9.0),
    ("I64", 6.0),
    ("J189", 5.0),
    ("E149", 5.0),
    ("I10", 4.0),
    ("C349", 3.0),
    ("J449", 3.0),
    ("N189", 2.0),
    ("C509", 1.5),
    ("K746", 1.5),
    ("A419", 2.0),
    ("V234", 1.5),
    ("W010", 1.0),
    ("X700", 0.6),
    ("R99", 2.5),
    ("R688", 1.0),
];

/// One SIM file per year; returns the rows written.
pub fn write_sim(t: &Territory, year: i32, path: &Path) -> Result<u64, WriteError> {
    let mut out = DelimitedWriter::create(path, Encoding::Latin1, SIM_HEADER)?;
    let mut seq = 0u64;
    let mut next_number = || {
        seq += 1;
        format!("{:02}{:07}", year % 100, seq % 10_000_000)
    };
    for (m, city) in t.municipalities.iter().enumerate() {
        let c = t.counts(m, year);
        let mut rng = rng_for(t.seed(), &["sim", &city.code7, &year.to_string()]);
        let residence = city.code6.as_str();
        for _ in 0..c.infant_deaths {
            let row = infant_death(&mut rng, year, residence, next_number());
            out.record(&row)?;
        }
        for _ in 0..c.fetal_deaths {
            let row = fetal_death(&mut rng, year, residence, next_number());
            out.record(&row)?;
        }
        for _ in 0..c.homicides {
            let row = adult_death(&mut rng, year, residence, next_number(), true);
            out.record(&row)?;
        }
        for _ in 0..c.other_deaths {
            let row = adult_death(&mut rng, year, residence, next_number(), false);
            out.record(&row)?;
        }
        // Deaths whose residence is unknown within the state.
        let unknown = format!("{:02}0000", t.uf);
        for _ in 0..rng.poisson((c.other_deaths as f64) * 0.002) {
            let row = adult_death(&mut rng, year, &unknown, next_number(), false);
            out.record(&row)?;
        }
    }
    out.finish()
}

fn hour(rng: &mut impl Rng) -> String {
    format!("{:02}{:02}", rng.below(24), rng.below(60))
}

fn infant_death(rng: &mut impl Rng, year: i32, residence: &str, number: String) -> Vec<String> {
    let died = people::day_of(rng, year);
    // Age: minutes, hours, days (0-27) or months (1-11).
    let (idade, days_old) = match rng.below(10) {
        0 => (format!("0{:02}", 1 + rng.below(59)), 0),
        1 | 2 => (format!("1{:02}", 1 + rng.below(23)), 0),
        3..=6 => {
            let d = rng.below(28);
            (format!("2{d:02}"), d as u64)
        }
        _ => {
            let months = 1 + rng.below(11);
            (format!("3{months:02}"), months as u64 * 30)
        }
    };
    let born = died - chrono::Days::new(days_old);
    let female = rng.chance(0.45);
    let mother = people::name(rng, true);
    vec![
        number,
        "2".into(),
        ddmmyyyy(died),
        hour(rng),
        ddmmyyyy(born),
        idade,
        if female { "2" } else { "1" }.into(),
        rng.weighted(&[("1", 3.0), ("2", 1.0), ("4", 6.0), ("9", 0.5)])
            .to_string(),
        String::new(),
        residence.into(),
        "1".into(),
        String::new(),
        rng.weighted(PERINATAL).to_string(),
        format!("*{}", rng.weighted(PERINATAL)),
        String::new(),
        if rng.chance(0.3) {
            people::cns(rng)
        } else {
            String::new()
        },
        format!("RN de {mother}"),
        mother,
    ]
}

fn fetal_death(rng: &mut impl Rng, year: i32, residence: &str, number: String) -> Vec<String> {
    let died = people::day_of(rng, year);
    vec![
        number,
        "1".into(),
        ddmmyyyy(died),
        hour(rng),
        String::new(),
        String::new(),
        rng.weighted(&[("1", 1.0), ("2", 1.0), ("0", 0.2)])
            .to_string(),
        String::new(),
        String::new(),
        residence.into(),
        "1".into(),
        String::new(),
        rng.weighted(FETAL).to_string(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        people::name(rng, true),
    ]
}

fn adult_death(
    rng: &mut impl Rng,
    year: i32,
    residence: &str,
    number: String,
    homicide: bool,
) -> Vec<String> {
    let died = people::day_of(rng, year);
    let (age, female) = if homicide {
        (15 + rng.below(45) as i32, rng.chance(0.08))
    } else {
        let age = (rng.normal() * 17.0 + 70.0).round().clamp(1.0, 104.0) as i32;
        (age, rng.chance(0.46))
    };
    let idade = if rng.chance(0.003) {
        "999".to_owned()
    } else if age >= 100 {
        format!("5{:02}", age - 100)
    } else {
        format!("4{age:02}")
    };
    let born = chrono::NaiveDate::from_ymd_opt(died.year() - age, died.month(), 1)
        .map(|d| d + chrono::Days::new(rng.below(28) as u64))
        .unwrap_or(died);
    let cause = if homicide {
        rng.weighted(HOMICIDE)
    } else {
        rng.weighted(OTHER)
    };
    let cpf = if rng.chance(BAD_CPF_SHARE) {
        people::cpf_with_wrong_check_digit(rng)
    } else if rng.chance(0.8) {
        people::cpf(rng)
    } else {
        String::new()
    };
    vec![
        number,
        "2".into(),
        ddmmyyyy(died),
        hour(rng),
        ddmmyyyy(born),
        idade,
        if female { "2" } else { "1" }.into(),
        rng.weighted(&[
            ("1", 3.0),
            ("2", 1.2),
            ("3", 0.1),
            ("4", 6.0),
            ("5", 0.1),
            ("9", 0.4),
        ])
        .to_string(),
        rng.weighted(&[("1", 3.0), ("2", 4.0), ("3", 2.0), ("5", 1.0), ("9", 0.3)])
            .to_string(),
        residence.into(),
        if homicide {
            rng.weighted(&[("4", 6.0), ("3", 2.0), ("1", 2.0)])
                .to_string()
        } else {
            rng.weighted(&[("1", 6.0), ("3", 3.0), ("2", 1.0)])
                .to_string()
        },
        if homicide { "3" } else { "" }.into(),
        cause.to_string(),
        format!("*{cause}"),
        cpf,
        if rng.chance(0.7) {
            people::cns(rng)
        } else {
            String::new()
        },
        people::name(rng, female),
        people::name(rng, true),
    ]
}

pub const SINASC_FIELDS: &[DbfField] = &[
    DbfField {
        name: "NUMERODN",
        width: 9,
    },
    DbfField {
        name: "CODESTAB",
        width: 7,
    },
    DbfField {
        name: "CODMUNNASC",
        width: 6,
    },
    DbfField {
        name: "CODMUNRES",
        width: 6,
    },
    DbfField {
        name: "LOCNASC",
        width: 1,
    },
    DbfField {
        name: "IDADEMAE",
        width: 2,
    },
    DbfField {
        name: "ESCMAE",
        width: 1,
    },
    DbfField {
        name: "GESTACAO",
        width: 1,
    },
    DbfField {
        name: "GRAVIDEZ",
        width: 1,
    },
    DbfField {
        name: "PARTO",
        width: 1,
    },
    DbfField {
        name: "CONSULTAS",
        width: 1,
    },
    DbfField {
        name: "CONSPRENAT",
        width: 2,
    },
    DbfField {
        name: "DTNASC",
        width: 8,
    },
    DbfField {
        name: "HORANASC",
        width: 4,
    },
    DbfField {
        name: "SEXO",
        width: 1,
    },
    DbfField {
        name: "APGAR1",
        width: 2,
    },
    DbfField {
        name: "APGAR5",
        width: 2,
    },
    DbfField {
        name: "RACACOR",
        width: 1,
    },
    DbfField {
        name: "PESO",
        width: 4,
    },
    DbfField {
        name: "CPFMAE",
        width: 11,
    },
    DbfField {
        name: "NOMEMAE",
        width: 60,
    },
];

/// One SINASC file per year; returns the rows written.
pub fn write_sinasc(t: &Territory, year: i32, path: &Path) -> Result<u64, WriteError> {
    let mut out = DbfWriter::create(path, SINASC_FIELDS, year)?;
    let capital = t.municipalities[0].code6.clone();
    let mut seq = 0u64;
    for (m, city) in t.municipalities.iter().enumerate() {
        let c = t.counts(m, year);
        let mut rng = rng_for(t.seed(), &["sinasc", &city.code7, &year.to_string()]);
        let establishments: Vec<String> = (0..1 + c.births / 2000)
            .map(|_| format!("{:07}", rng.random_range(2_000_000..9_999_999u32)))
            .collect();
        for _ in 0..c.births {
            seq += 1;
            // Visits: `CONSULTAS` is the band, `CONSPRENAT` the number.
            let (band, visits) = if rng.chance(0.02) {
                ("9".to_owned(), "99".to_owned())
            } else if rng.chance(city.prenatal_7) {
                ("4".to_owned(), format!("{:02}", 7 + rng.below(8)))
            } else {
                let n = *rng.weighted(&[(0usize, 0.5), (2, 1.5), (5, 3.0)]) + rng.below(2);
                let band = match n {
                    0 => "1",
                    1..=3 => "2",
                    _ => "3",
                };
                (band.to_owned(), format!("{n:02}"))
            };
            let weight = (rng.normal() * 520.0 + 3200.0).round().clamp(450.0, 5600.0) as u32;
            let born_elsewhere = rng.chance(0.12) && city.code6 != capital;
            let mother_age = (rng.normal() * 6.0 + 26.0).round().clamp(13.0, 49.0) as u32;
            out.record(&[
                format!("{:02}{:07}", year % 100, seq % 10_000_000),
                establishments[rng.below(establishments.len())].clone(),
                if born_elsewhere {
                    capital.clone()
                } else {
                    city.code6.clone()
                },
                city.code6.clone(),
                rng.weighted(&[("1", 97.0), ("2", 1.0), ("3", 1.5), ("9", 0.5)])
                    .to_string(),
                format!("{mother_age:02}"),
                rng.weighted(&[
                    ("1", 0.5),
                    ("2", 1.0),
                    ("3", 2.5),
                    ("4", 4.0),
                    ("5", 2.0),
                    ("9", 0.3),
                ])
                .to_string(),
                rng.weighted(&[
                    ("5", 85.0),
                    ("4", 9.0),
                    ("3", 2.0),
                    ("2", 1.0),
                    ("6", 2.0),
                    ("9", 1.0),
                ])
                .to_string(),
                rng.weighted(&[("1", 97.0), ("2", 2.5), ("3", 0.2), ("9", 0.3)])
                    .to_string(),
                rng.weighted(&[("1", 4.4), ("2", 5.5), ("9", 0.1)])
                    .to_string(),
                band,
                visits,
                ddmmyyyy(people::day_of(&mut rng, year)),
                hour(&mut rng),
                rng.weighted(&[("1", 51.0), ("2", 49.0), ("0", 0.1)])
                    .to_string(),
                format!("{:02}", 6 + rng.below(4)),
                format!("{:02}", 8 + rng.below(3)),
                rng.weighted(&[("1", 3.0), ("2", 1.0), ("4", 6.0), ("5", 0.1), ("9", 0.3)])
                    .to_string(),
                format!("{weight:04}"),
                if rng.chance(0.85) {
                    people::cpf(&mut rng)
                } else {
                    String::new()
                },
                people::name(&mut rng, true),
            ])?;
        }
    }
    out.finish()
}
