//! Vaccination: doses applied, one row per dose, as SI-PNI's individual
//! microdata (a Latin-1 `;` CSV per year with snake_case names) or, for a
//! municipality running e-SUS APS, rows of the PEC database (PostgreSQL)
//! the municipality's system keeps. Both carry the same doses for the same
//! seed.

use crate::files::{DelimitedWriter, Encoding, WriteError};
use crate::people;
use crate::random::{Draw, rng_for};
use crate::territory::Territory;
use rand::Rng;
use std::path::Path;

pub const HEADER: &[&str] = &[
    "codigo_paciente",
    "numero_cns_paciente",
    "tipo_sexo_paciente",
    "numero_idade_paciente",
    "codigo_municipio_paciente",
    "codigo_cnes_estabelecimento",
    "data_vacina",
    "sigla_vacina",
    "descricao_vacina",
    "codigo_dose_vacina",
    "descricao_dose_vacina",
];

/// One dose.
#[derive(Clone, Debug, PartialEq)]
pub struct Dose {
    pub patient: String,
    pub cns: String,
    pub female: bool,
    pub age_years: u32,
    pub municipality6: String,
    pub municipality7: String,
    pub establishment: String,
    pub date: chrono::NaiveDate,
    pub vaccine: &'static str,
    pub vaccine_name: &'static str,
    pub dose: u32,
}

/// `(acronym, description, dose, share of the target cohort, age in years)`.
const SCHEDULE: &[(&str, &str, u32, f64, u32)] = &[
    ("BCG", "Vacina BCG", 1, 1.04, 0),
    ("PENTA", "Vacina pentavalente (DTP/HB/Hib)", 1, 1.06, 0),
    ("PENTA", "Vacina pentavalente (DTP/HB/Hib)", 2, 1.02, 0),
    ("PENTA", "Vacina pentavalente (DTP/HB/Hib)", 3, 1.0, 0),
    ("VIP", "Vacina poliomielite inativada (VIP)", 3, 0.99, 0),
    (
        "SCR",
        "Vacina tríplice viral (sarampo, caxumba e rubéola)",
        1,
        1.01,
        1,
    ),
];

/// Every dose applied in municipality `m` in `year`, in a fixed order,
/// one at a time (a large state never holds its doses in memory).
pub fn doses(t: &Territory, m: usize, year: i32) -> Doses<'_> {
    let city = &t.municipalities[m];
    let mut rng = rng_for(t.seed(), &["vacinacao", &city.code7, &year.to_string()]);
    let births = t.counts(m, year).births;
    let last_years_births = if year > t.first_year {
        t.counts(m, year - 1).births
    } else {
        births
    };
    let establishments: Vec<String> = (0..1 + births / 1500)
        .map(|_| format!("{:07}", rng.random_range(2_000_000..9_999_999u32)))
        .collect();
    Doses {
        city: &t.municipalities[m],
        year,
        rng,
        births,
        last_years_births,
        establishments,
        entry: 0,
        drawn: false,
        given: 0,
        count: 0,
        late: 0,
    }
}

/// The doses of one municipality and year, drawn as they are asked for.
#[derive(Debug)]
pub struct Doses<'a> {
    city: &'a crate::Municipality,
    year: i32,
    rng: rand::rngs::StdRng,
    births: u64,
    last_years_births: u64,
    establishments: Vec<String>,
    /// The schedule entry being drawn (`drawn`: its count is known),
    /// `count` doses of it, `given` so far, the first `late` of them at one
    /// year old.
    entry: usize,
    drawn: bool,
    given: u64,
    count: u64,
    late: u64,
}

impl Iterator for Doses<'_> {
    type Item = Dose;

    fn next(&mut self) -> Option<Dose> {
        loop {
            let &(_, _, _, share, age) = SCHEDULE.get(self.entry)?;
            if !self.drawn {
                let cohort = if age == 0 {
                    self.births
                } else {
                    self.last_years_births
                };
                self.count = self
                    .rng
                    .binomial(cohort, (self.city.vaccination * share).min(1.0));
                // A few doses of the infant scheme given late, at one year old.
                self.late = if age == 0 {
                    self.rng.binomial(self.count, 0.03)
                } else {
                    0
                };
                self.given = 0;
                self.drawn = true;
            }
            if self.given < self.count {
                break;
            }
            self.entry += 1;
            self.drawn = false;
        }
        let (vaccine, vaccine_name, dose, _, age) = SCHEDULE[self.entry];
        let rng = &mut self.rng;
        let mut patient = [0u8; 12];
        rng.fill(&mut patient);
        let d = Dose {
            patient: hex::encode(patient),
            cns: people::cns(rng),
            female: rng.chance(0.49),
            age_years: if self.given < self.late { 1 } else { age },
            municipality6: self.city.code6.clone(),
            municipality7: self.city.code7.clone(),
            establishment: self.establishments[rng.below(self.establishments.len())].clone(),
            date: people::day_of(rng, self.year),
            vaccine,
            vaccine_name,
            dose,
        };
        self.given += 1;
        Some(d)
    }
}

fn dose_label(vaccine: &str, dose: u32) -> String {
    if vaccine == "BCG" {
        "Dose".into()
    } else {
        format!("{dose}ª Dose")
    }
}

/// One SI-PNI file per year; returns the rows written.
pub fn write_csv(t: &Territory, year: i32, path: &Path) -> Result<u64, WriteError> {
    let mut out = DelimitedWriter::create(path, Encoding::Latin1, HEADER)?;
    for m in 0..t.municipalities.len() {
        for d in doses(t, m, year) {
            out.record(&[
                d.patient.as_str(),
                &d.cns,
                if d.female { "F" } else { "M" },
                &d.age_years.to_string(),
                &d.municipality6,
                &d.establishment,
                &d.date.format("%Y-%m-%d").to_string(),
                d.vaccine,
                d.vaccine_name,
                &d.dose.to_string(),
                &dose_label(d.vaccine, d.dose),
            ])?;
        }
    }
    out.finish()
}

/// The e-SUS PEC-like tables, created in `schema` (replaced if present).
const ESUS_TABLES: &str = r#"
CREATE TABLE {schema}.tb_dim_municipio (
    co_seq_dim_municipio integer PRIMARY KEY,
    co_ibge char(7) NOT NULL,
    no_municipio text NOT NULL
);
CREATE TABLE {schema}.tb_fat_vacinacao (
    co_seq_fat_vacinacao bigint PRIMARY KEY,
    co_dim_municipio integer NOT NULL REFERENCES {schema}.tb_dim_municipio,
    nu_cns_cidadao varchar(15),
    nu_cpf_cidadao varchar(11),
    sg_sexo char(1) NOT NULL,
    nu_idade integer NOT NULL,
    co_cnes varchar(7) NOT NULL,
    dt_vacina date NOT NULL,
    sg_imunobiologico text NOT NULL,
    no_imunobiologico text NOT NULL,
    nu_dose integer NOT NULL,
    dt_atualizacao timestamptz NOT NULL
);
"#;

/// Writes every dose of every year into an e-SUS-like database at `url`
/// (PostgreSQL), in `schema`; returns the rows written. e-SUS fills exactly
/// one of CNS and CPF per citizen.
pub async fn write_esus(t: &Territory, url: &str, schema: &str) -> Result<u64, sqlx::Error> {
    use sqlx::Connection;
    if !schema.chars().all(|c| c.is_ascii_lowercase() || c == '_') || schema.is_empty() {
        return Err(sqlx::Error::Configuration(
            format!("schema {schema:?}: lowercase letters and _ only").into(),
        ));
    }
    let mut conn = sqlx::PgConnection::connect(url).await?;
    sqlx::raw_sql(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};"
    ))
    .execute(&mut conn)
    .await?;
    sqlx::raw_sql(&ESUS_TABLES.replace("{schema}", schema))
        .execute(&mut conn)
        .await?;
    let mut municipalities = sqlx::QueryBuilder::new(format!(
        "INSERT INTO {schema}.tb_dim_municipio (co_seq_dim_municipio, co_ibge, no_municipio) "
    ));
    municipalities.push_values(t.municipalities.iter().enumerate(), |mut b, (i, city)| {
        b.push_bind(i as i32 + 1)
            .push_bind(&city.code7)
            .push_bind(&city.name);
    });
    municipalities.build().execute(&mut conn).await?;
    // Rows go in batches of multi-row INSERTs (12 parameters a row, well
    // under PostgreSQL's 65,535), in one transaction.
    let mut tx = conn.begin().await?;
    let mut rows = 0i64;
    for year in t.years() {
        for m in 0..t.municipalities.len() {
            let mut rng = rng_for(
                t.seed(),
                &["esus-cpf", &t.municipalities[m].code7, &year.to_string()],
            );
            let mut doses = doses(t, m, year).peekable();
            while doses.peek().is_some() {
                let batch: Vec<Dose> = doses.by_ref().take(2000).collect();
                let mut insert = sqlx::QueryBuilder::new(format!(
                    "INSERT INTO {schema}.tb_fat_vacinacao (co_seq_fat_vacinacao, co_dim_municipio, nu_cns_cidadao, nu_cpf_cidadao, sg_sexo, nu_idade, co_cnes, dt_vacina, sg_imunobiologico, no_imunobiologico, nu_dose, dt_atualizacao) "
                ));
                insert.push_values(&batch, |mut b, d| {
                    rows += 1;
                    let (cns, cpf) = if rng.chance(0.15) {
                        (None, Some(people::cpf(&mut rng)))
                    } else {
                        (Some(d.cns.clone()), None)
                    };
                    let updated = d
                        .date
                        .and_hms_opt(13, 0, 0)
                        .expect("a valid time")
                        .and_utc();
                    b.push_bind(rows)
                        .push_bind(m as i32 + 1)
                        .push_bind(cns)
                        .push_bind(cpf)
                        .push_bind(if d.female { "F" } else { "M" })
                        .push_bind(d.age_years as i32)
                        .push_bind(d.establishment.clone())
                        .push_bind(d.date)
                        .push_bind(d.vaccine)
                        .push_bind(d.vaccine_name)
                        .push_bind(d.dose as i32)
                        .push_bind(updated);
                });
                insert.build().execute(&mut *tx).await?;
            }
        }
    }
    tx.commit().await?;
    conn.close().await?;
    Ok(rows as u64)
}
