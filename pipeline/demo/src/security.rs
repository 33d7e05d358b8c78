//! Public security: SINESP VDE's monthly occurrences and victims per
//! municipality and event (`sinesp_vde_<YYYY>.csv`, `;`). As in the real
//! files, municipalities are named, not coded (upper case, no accents),
//! dates are `DD/MM/YYYY`, seized drugs weigh in kilograms with a decimal
//! comma, and the encoding changed over the years: Latin-1 before 2022,
//! UTF-8 with a byte-order mark since.

use crate::files::{DelimitedWriter, Encoding, WriteError};
use crate::people::plain_upper;
use crate::random::{Draw, rng_for};
use crate::territory::Territory;
use std::path::Path;

pub const HEADER: &[&str] = &[
    "uf",
    "municipio",
    "evento",
    "data_referencia",
    "agente",
    "arma",
    "faixa_etaria",
    "feminino",
    "masculino",
    "nao_informado",
    "total_vitima",
    "total",
    "total_peso",
    "abrangencia",
    "formulario",
];

/// Events counted by victims, with their share of intentional violent deaths.
pub const VIOLENT_DEATHS: &[(&str, f64)] = &[
    ("HOMICIDIO DOLOSO", 0.82),
    ("FEMINICIDIO", 0.05),
    ("ROUBO SEGUIDO DE MORTE (LATROCINIO)", 0.04),
    ("LESAO CORPORAL SEGUIDA DE MORTE", 0.02),
    ("MORTE POR INTERVENCAO DE AGENTE DO ESTADO", 0.07),
];

pub fn encoding_for(year: i32) -> Encoding {
    if year < 2022 {
        Encoding::Latin1
    } else {
        Encoding::Utf8Bom
    }
}

/// One file per year; returns the rows written.
pub fn write(t: &Territory, year: i32, path: &Path) -> Result<u64, WriteError> {
    let mut out = DelimitedWriter::create(path, encoding_for(year), HEADER)?;
    for (m, city) in t.municipalities.iter().enumerate() {
        let c = t.counts(m, year);
        let mut rng = rng_for(t.seed(), &["sinesp", &city.code7, &year.to_string()]);
        let name = plain_upper(&city.name);
        // The police count of violent deaths follows the health count.
        let deaths = c.homicides + rng.poisson(c.homicides as f64 * 0.05);
        let mut by_month_event = vec![[0u64; 5]; 12];
        for _ in 0..deaths {
            let month = rng.below(12);
            let event =
                *rng.weighted(&[(0usize, 0.82), (1, 0.05), (2, 0.04), (3, 0.02), (4, 0.07)]);
            by_month_event[month][event] += 1;
        }
        for (month, counts) in by_month_event.iter().enumerate() {
            let date = format!("01/{:02}/{year}", month + 1);
            for (e, &(event, _)) in VIOLENT_DEATHS.iter().enumerate() {
                let n = counts[e];
                let women = if event == "FEMINICIDIO" {
                    n
                } else {
                    rng.binomial(n, 0.08)
                };
                out.record(&[
                    t.uf_sigla,
                    &name,
                    event,
                    &date,
                    "",
                    "",
                    "",
                    &women.to_string(),
                    &(n - women).to_string(),
                    "0",
                    &n.to_string(),
                    "",
                    "",
                    "Municipal",
                    "Formulário 1",
                ])?;
            }
            // Events counted by occurrence, not victim; seized drugs also weigh.
            let vehicles = rng.poisson(c.population as f64 * 0.0015 / 12.0);
            let seizures = rng.poisson(c.population as f64 * 0.0004 / 12.0);
            let kilos = seizures as f64 * rng.uniform(0.2, 3.0);
            for (event, total, weight, form) in [
                ("ROUBO DE VEICULO", vehicles, String::new(), "Formulário 2"),
                (
                    "APREENSAO DE DROGAS",
                    seizures,
                    format!("{kilos:.3}").replace('.', ","),
                    "Formulário 3",
                ),
            ] {
                out.record(&[
                    t.uf_sigla,
                    &name,
                    event,
                    &date,
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    &total.to_string(),
                    &weight,
                    "Municipal",
                    form,
                ])?;
            }
        }
    }
    out.finish()
}
