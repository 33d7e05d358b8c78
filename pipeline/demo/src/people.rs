//! People: names with their accents, valid CPF and CNS numbers (and, on
//! request, a CPF whose check digits are wrong, as real extractions hold a
//! few), birth dates.

use crate::random::Draw;
use chrono::{Datelike, NaiveDate};
use lagoa_schemas::validators::{cns_from_seed, cpf_from_base};
use rand::Rng;

const FEMALE: &[&str] = &[
    "Maria",
    "Ana",
    "Francisca",
    "Antônia",
    "Adriana",
    "Juliana",
    "Márcia",
    "Fernanda",
    "Patrícia",
    "Aline",
    "Conceição",
    "Luíza",
    "Raimunda",
    "Josefa",
    "Sebastiana",
    "Cícera",
];
const MALE: &[&str] = &[
    "José",
    "João",
    "Antônio",
    "Francisco",
    "Carlos",
    "Paulo",
    "Pedro",
    "Lucas",
    "Luiz",
    "Marcos",
    "Severino",
    "Sebastião",
    "Raimundo",
    "Cícero",
    "Damião",
    "Luciano",
];
const SURNAMES: &[&str] = &[
    "da Silva",
    "dos Santos",
    "de Oliveira",
    "de Souza",
    "Rodrigues",
    "Ferreira",
    "Alves",
    "Pereira",
    "Lima",
    "Gomes",
    "Araújo",
    "Cavalcanti",
    "Gonçalves",
    "Barbosa",
    "Conceição",
    "Albuquerque",
    "Magalhães",
    "Brandão",
];

/// A name, female or male.
pub fn name(rng: &mut impl Rng, female: bool) -> String {
    let first = if female {
        FEMALE[rng.below(FEMALE.len())]
    } else {
        MALE[rng.below(MALE.len())]
    };
    let middle = SURNAMES[rng.below(SURNAMES.len())];
    let last = SURNAMES[rng.below(SURNAMES.len())];
    if middle == last {
        format!("{first} {last}")
    } else {
        format!("{first} {middle} {last}")
    }
}

/// A valid CPF.
pub fn cpf(rng: &mut impl Rng) -> String {
    cpf_from_base(rng.random_range(1_000_000..999_999_999))
}

/// A CPF whose last check digit is wrong.
pub fn cpf_with_wrong_check_digit(rng: &mut impl Rng) -> String {
    let mut valid = cpf(rng);
    let last = valid.pop().expect("11 digits");
    let wrong = (last.to_digit(10).expect("a digit") + 1 + rng.below(8) as u32) % 10;
    valid.push(char::from_digit(wrong, 10).expect("a digit"));
    valid
}

/// A valid CNS (definitive or provisional).
pub fn cns(rng: &mut impl Rng) -> String {
    cns_from_seed(rng.random())
}

/// A day of `year`.
pub fn day_of(rng: &mut impl Rng, year: i32) -> NaiveDate {
    let first = NaiveDate::from_ymd_opt(year, 1, 1).expect("a year");
    let days = if NaiveDate::from_ymd_opt(year, 2, 29).is_some() {
        366
    } else {
        365
    };
    first + chrono::Days::new(rng.below(days) as u64)
}

/// `DDMMYYYY`, as SIM and SINASC write dates.
pub fn ddmmyyyy(d: NaiveDate) -> String {
    format!("{:02}{:02}{:04}", d.day(), d.month(), d.year())
}

/// Upper case without accents, as SINESP names municipalities.
pub fn plain_upper(text: &str) -> String {
    text.chars()
        .map(|c| lagoa_schemas::without_accent(c).to_ascii_uppercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lagoa_schemas::validators::{is_valid_cns, is_valid_cpf};

    #[test]
    fn identifiers_are_valid_unless_asked_otherwise() {
        let mut rng = crate::random::rng_for(1, &["people"]);
        for _ in 0..500 {
            assert!(is_valid_cpf(&cpf(&mut rng)));
            assert!(is_valid_cns(&cns(&mut rng)));
            let bad = cpf_with_wrong_check_digit(&mut rng);
            assert_eq!(bad.len(), 11);
            assert!(!is_valid_cpf(&bad), "{bad}");
        }
        assert_eq!(plain_upper("São José do Açaí"), "SAO JOSE DO ACAI");
        assert_eq!(
            ddmmyyyy(NaiveDate::from_ymd_opt(2024, 2, 9).unwrap()),
            "09022024"
        );
    }
}
