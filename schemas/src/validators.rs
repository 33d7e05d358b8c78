//! Check digits of Brazilian identifiers: CPF, CNS, CNPJ (numeric and the
//! alphanumeric form of 2026) and municipality codes (IBGE 7 digits, DATASUS
//! 6 digits).
//!
//! The algorithms follow `shared/reference/brazil-public-data.md` §2. A
//! valid check digit says the number is well formed, not that it was ever
//! issued.
//!
//! Inputs may be formatted as people write them (`529.982.247-25`,
//! `898 0010 0066 9639`, `11.222.333/0001-81`): dots, hyphens, slashes and
//! spaces are removed, and anything else makes the value invalid.
//!
//! Generators (`cpf_from_base`, `cns_from_seed`, `cnpj_from_base`,
//! `ibge_with_check_digit`) make valid values for tests and synthetic data.

use serde::Deserialize;
use std::fmt;
use std::str::FromStr;

/// A check a contract can name for a column (`validator = "cpf"`).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Validator {
    Cpf,
    Cns,
    Cnpj,
    IbgeMunicipio,
    DatasusMunicipio,
}

impl Validator {
    pub const ALL: [Validator; 5] = [
        Validator::Cpf,
        Validator::Cns,
        Validator::Cnpj,
        Validator::IbgeMunicipio,
        Validator::DatasusMunicipio,
    ];

    /// The name contracts use.
    pub fn name(&self) -> &'static str {
        match self {
            Validator::Cpf => "cpf",
            Validator::Cns => "cns",
            Validator::Cnpj => "cnpj",
            Validator::IbgeMunicipio => "ibge_municipio",
            Validator::DatasusMunicipio => "datasus_municipio",
        }
    }

    /// Whether `s` passes the check.
    pub fn check(&self, s: &str) -> bool {
        match self {
            Validator::Cpf => is_valid_cpf(s),
            Validator::Cns => is_valid_cns(s),
            Validator::Cnpj => is_valid_cnpj(s),
            Validator::IbgeMunicipio => is_valid_ibge_municipality(s),
            Validator::DatasusMunicipio => is_plausible_datasus_municipality(s),
        }
    }
}

impl fmt::Display for Validator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A validator name no check answers to.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown validator {name:?}; expected cpf, cns, cnpj, ibge_municipio or datasus_municipio")]
pub struct UnknownValidator {
    pub name: String,
}

impl FromStr for Validator {
    type Err = UnknownValidator;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Validator::ALL
            .into_iter()
            .find(|v| v.name() == s)
            .ok_or_else(|| UnknownValidator { name: s.to_owned() })
    }
}

/// The value without the separators people type (`.`, `-`, `/`, space), or
/// `None` if anything else but ASCII letters and digits remains.
fn strip_formatting(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'.' | b'-' | b'/' | b' ' => {}
            b'0'..=b'9' | b'A'..=b'Z' => out.push(b),
            _ => return None,
        }
    }
    Some(out)
}

/// The digits of `s` (formatting removed) if it has exactly `len` of them
/// and nothing else.
fn digits_of(s: &str, len: usize) -> Option<Vec<u8>> {
    let chars = strip_formatting(s)?;
    if chars.len() != len || !chars.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(chars.iter().map(|c| c - b'0').collect())
}

fn all_same(values: &[u8]) -> bool {
    values.windows(2).all(|w| w[0] == w[1])
}

/// The mod-11 check digit CPF and CNPJ share: `r = Σ vᵢ·wᵢ mod 11`, then 0
/// when `r < 2`, else `11 − r`.
fn mod11_digit(values: &[u8], weights: &[u32]) -> u8 {
    let sum: u32 = values
        .iter()
        .zip(weights)
        .map(|(&v, &w)| u32::from(v) * w)
        .sum();
    let r = sum % 11;
    if r < 2 { 0 } else { (11 - r) as u8 }
}

// ---------------------------------------------------------------- CPF

const CPF_WEIGHTS_1: [u32; 9] = [10, 9, 8, 7, 6, 5, 4, 3, 2];
const CPF_WEIGHTS_2: [u32; 10] = [11, 10, 9, 8, 7, 6, 5, 4, 3, 2];

fn cpf_check_digits(base: &[u8]) -> [u8; 2] {
    let dv1 = mod11_digit(&base[..9], &CPF_WEIGHTS_1);
    let mut first10 = [0u8; 10];
    first10[..9].copy_from_slice(&base[..9]);
    first10[9] = dv1;
    [dv1, mod11_digit(&first10, &CPF_WEIGHTS_2)]
}

fn cpf_digits_valid(d: &[u8]) -> bool {
    d.len() == 11 && !all_same(d) && cpf_check_digits(&d[..9]) == [d[9], d[10]]
}

/// A CPF with 11 digits (`52998224725` or `529.982.247-25`) whose two check
/// digits match. Numbers made of one repeated digit (`111.111.111-11`) pass
/// the arithmetic but are rejected.
pub fn is_valid_cpf(s: &str) -> bool {
    digits_of(s, 11).is_some_and(|d| cpf_digits_valid(&d))
}

/// Whether a value in a column no one tagged looks like a CPF: valid check
/// digits, formatted or not. Unlike [`is_valid_cpf`], 9 or 10 bare digits
/// are left-padded with zeros first, because CPFs stored as numbers lose
/// their leading zeros.
pub fn looks_like_cpf(s: &str) -> bool {
    let Some(chars) = strip_formatting(s) else {
        return false;
    };
    if !(9..=11).contains(&chars.len()) || !chars.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let mut digits = vec![0u8; 11 - chars.len()];
    digits.extend(chars.iter().map(|c| c - b'0'));
    cpf_digits_valid(&digits)
}

/// An 11-digit CPF from a 9-digit base (`base9` modulo 10⁹, zero-padded)
/// and its check digits. A base of one repeated digit (`000000000`) would
/// give a CPF that [`is_valid_cpf`] rejects, so the next base is used.
pub fn cpf_from_base(base9: u32) -> String {
    let mut base = base9 % 1_000_000_000;
    loop {
        let mut digits = decimal_digits(u64::from(base), 9);
        let dv = cpf_check_digits(&digits);
        digits.extend(dv);
        if !all_same(&digits) {
            return digits_to_string(&digits);
        }
        base = (base + 1) % 1_000_000_000;
    }
}

// ---------------------------------------------------------------- CNS

/// Σ dᵢ·(15 − i), the weighted sum every valid CNS has ≡ 0 (mod 11).
fn cns_weighted_sum(d: &[u8]) -> u32 {
    d.iter()
        .enumerate()
        .map(|(i, &v)| u32::from(v) * (15 - i as u32))
        .sum()
}

/// The definitive CNS (first digit 1 or 2) built from its 11-digit PIS
/// prefix, per the e-SUS LEDI routine: `pis + "000" + dv`, or
/// `pis + "001" + dv` when the first attempt gives 10.
fn definitive_cns(pis: &[u8]) -> [u8; 15] {
    let sum: u32 = pis
        .iter()
        .enumerate()
        .map(|(i, &v)| u32::from(v) * (15 - i as u32))
        .sum();
    let mut out = [0u8; 15];
    out[..11].copy_from_slice(&pis[..11]);
    let dv = (11 - sum % 11) % 11;
    if dv == 10 {
        let dv = (11 - (sum + 2) % 11) % 11;
        out[13] = 1;
        out[14] = dv as u8;
    } else {
        out[14] = dv as u8;
    }
    out
}

/// A CNS (Cartão Nacional de Saúde, 15 digits, `898 0010 0066 9639`):
/// definitive numbers start with 1 or 2 and must equal the number rebuilt
/// from their first 11 digits; provisional ones start with 7, 8 or 9 and
/// must have `Σ dᵢ·(15 − i) ≡ 0 (mod 11)`. Any other first digit is invalid.
///
/// As with the official routine, a change in the 5th digit (weight 11 ≡ 0)
/// goes unnoticed.
pub fn is_valid_cns(s: &str) -> bool {
    digits_of(s, 15).is_some_and(|d| cns_digits_valid(&d))
}

fn cns_digits_valid(d: &[u8]) -> bool {
    match d[0] {
        1 | 2 => definitive_cns(&d[..11]) == d,
        7..=9 => cns_weighted_sum(d).is_multiple_of(11),
        _ => false,
    }
}

/// Whether a value in a column no one tagged looks like a CNS (valid check
/// digits, formatted or not); the same test as [`is_valid_cns`].
pub fn looks_like_cns(s: &str) -> bool {
    is_valid_cns(s)
}

/// A valid CNS made from `seed`: definitive (starting with 1 or 2) or
/// provisional (7, 8 or 9), the first digit and the rest chosen by the
/// seed. The same seed always gives the same number.
pub fn cns_from_seed(seed: u64) -> String {
    let mixed = splitmix64(seed);
    let first = [1u8, 2, 7, 8, 9][(mixed % 5) as usize];
    let mut digits = vec![first];
    digits.extend(decimal_digits(splitmix64(mixed) % 10u64.pow(13), 13));
    if first <= 2 {
        return digits_to_string(&definitive_cns(&digits[..11]));
    }
    // Provisional: the last digit closes the sum; when it would have to be
    // 10, the digit of weight 2 moves on until it no longer does.
    loop {
        let rest = cns_weighted_sum(&digits[..14]) % 11;
        let last = (11 - rest) % 11;
        if last < 10 {
            digits.truncate(14);
            digits.push(last as u8);
            return digits_to_string(&digits);
        }
        digits[13] = (digits[13] + 1) % 10;
    }
}

// ---------------------------------------------------------------- CNPJ

const CNPJ_WEIGHTS_1: [u32; 12] = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2];
const CNPJ_WEIGHTS_2: [u32; 13] = [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2];

fn cnpj_check_digits(base: &[u8]) -> [u8; 2] {
    let dv1 = mod11_digit(&base[..12], &CNPJ_WEIGHTS_1);
    let mut first13 = [0u8; 13];
    first13[..12].copy_from_slice(&base[..12]);
    first13[12] = dv1;
    [dv1, mod11_digit(&first13, &CNPJ_WEIGHTS_2)]
}

/// A CNPJ of 14 characters (`11222333000181` or `11.222.333/0001-81`) whose
/// two check digits match (mod 11, weights 5..2,9..2 then 6..2,9..2).
///
/// The alphanumeric CNPJ the Receita Federal issues from July 2026 (IN RFB
/// 2.229/2024) is accepted too: its first 12 characters may be digits or
/// upper-case letters, each worth its ASCII code minus 48 (`A` = 17); the
/// two check digits stay numeric. Example: `12.ABC.345/01DE-35`.
/// Numbers made of one repeated digit (`00.000.000/0000-00`) are rejected.
pub fn is_valid_cnpj(s: &str) -> bool {
    let Some(chars) = strip_formatting(s) else {
        return false;
    };
    if chars.len() != 14 || !chars[12..].iter().all(u8::is_ascii_digit) {
        return false;
    }
    // Digits and letters alike are worth their ASCII code minus 48.
    let values: Vec<u8> = chars.iter().map(|c| c - b'0').collect();
    !all_same(&values) && cnpj_check_digits(&values) == [values[12], values[13]]
}

/// A numeric 14-digit CNPJ from a 12-digit base (`base12` modulo 10¹²,
/// zero-padded) and its check digits. A base whose CNPJ would be one
/// repeated digit moves on to the next base.
pub fn cnpj_from_base(base12: u64) -> String {
    const MODULUS: u64 = 1_000_000_000_000;
    let mut base = base12 % MODULUS;
    loop {
        let mut digits = decimal_digits(base, 12);
        let dv = cnpj_check_digits(&digits);
        digits.extend(dv);
        if !all_same(&digits) {
            return digits_to_string(&digits);
        }
        base = (base + 1) % MODULUS;
    }
}

// ---------------------------------------------------------------- municipalities

/// IBGE codes of the 27 federative units (the first two digits of every
/// municipality code).
const UF_CODES: [u8; 27] = [
    11, 12, 13, 14, 15, 16, 17, // Norte
    21, 22, 23, 24, 25, 26, 27, 28, 29, // Nordeste
    31, 32, 33, 35, // Sudeste
    41, 42, 43, // Sul
    50, 51, 52, 53, // Centro-Oeste
];

/// Municipality codes whose official 7th digit is not the computed one
/// (brazilnum `muni.py`, citing SEFAZ-AL NT2008.004).
const IBGE_EXCEPTIONS: [&str; 9] = [
    "2201919", "2201988", "2202251", "2611533", "3117836", "3152131", "4305871", "5203939",
    "5203962",
];

fn is_uf_code(d: &[u8]) -> bool {
    UF_CODES.contains(&(d[0] * 10 + d[1]))
}

/// The IBGE check digit of a 6-digit code: weights 1,2,1,2,1,2, the digits
/// of each product summed, then `(10 − Σ mod 10) mod 10`.
fn ibge_check_digit(d: &[u8]) -> u8 {
    let sum: u32 = d[..6]
        .iter()
        .zip([1u32, 2, 1, 2, 1, 2])
        .map(|(&v, w)| {
            let p = u32::from(v) * w;
            p / 10 + p % 10
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

fn ibge_exception_for(code6: &str) -> Option<&'static str> {
    IBGE_EXCEPTIONS
        .into_iter()
        .find(|code| code.starts_with(code6))
}

/// A 7-digit IBGE municipality code (`3550308` São Paulo) of a real UF
/// whose 7th digit is the check digit, or one of the nine official
/// exceptions whose digit differs (`2201919`, ...).
pub fn is_valid_ibge_municipality(s: &str) -> bool {
    let Some(d) = digits_of(s, 7) else {
        return false;
    };
    if !is_uf_code(&d) {
        return false;
    }
    let code = digits_to_string(&d);
    match ibge_exception_for(&code[..6]) {
        Some(official) => official == code,
        None => ibge_check_digit(&d) == d[6],
    }
}

/// Whether `s` can be a 6-digit DATASUS municipality code (the IBGE code
/// without its check digit, `530010` for Brasília): six digits whose first
/// two are a real UF code. Six digits carry no check digit, so this is
/// plausibility, not validity.
///
/// The DATASUS placeholders are accepted on purpose, because they are
/// legitimate values in SIM, SINASC and SIH files: `UF0000` ("município
/// ignorado" of a known UF, e.g. `350000`) and `000000` ("ignorado ou
/// exterior"). No other code outside a real UF is accepted.
pub fn is_plausible_datasus_municipality(s: &str) -> bool {
    let Some(d) = digits_of(s, 6) else {
        return false;
    };
    d.iter().all(|&v| v == 0) || is_uf_code(&d)
}

/// The 7-digit IBGE code for a 6-digit one (`"355030"` → `"3550308"`), with
/// the official digit for the nine exceptions; `None` unless `code6` is six
/// digits of a real UF.
pub fn ibge_with_check_digit(code6: &str) -> Option<String> {
    let d = digits_of(code6, 6)?;
    if !is_uf_code(&d) {
        return None;
    }
    let code6 = digits_to_string(&d);
    if let Some(official) = ibge_exception_for(&code6) {
        return Some(official.to_owned());
    }
    Some(format!("{code6}{}", ibge_check_digit(&d)))
}

// ---------------------------------------------------------------- helpers

/// The last `len` decimal digits of `n`, most significant first.
fn decimal_digits(mut n: u64, len: usize) -> Vec<u8> {
    let mut digits = vec![0u8; len];
    for slot in digits.iter_mut().rev() {
        *slot = (n % 10) as u8;
        n /= 10;
    }
    digits
}

fn digits_to_string(digits: &[u8]) -> String {
    digits.iter().map(|&d| char::from(b'0' + d)).collect()
}

/// A fixed mixing function (SplitMix64) so that nearby seeds give unrelated
/// numbers.
fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every string that differs from `s` in one digit position.
    fn one_digit_changes(s: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (i, c) in s.char_indices() {
            if !c.is_ascii_digit() {
                continue;
            }
            for d in '0'..='9' {
                if d != c {
                    let mut changed = s.to_owned();
                    changed.replace_range(i..i + 1, &d.to_string());
                    out.push(changed);
                }
            }
        }
        out
    }

    #[test]
    fn cpf_known_values() {
        assert!(is_valid_cpf("529.982.247-25"));
        assert!(is_valid_cpf("52998224725"));
        assert!(!is_valid_cpf("529.982.247-24"));
        assert!(!is_valid_cpf("111.111.111-11"));
        assert!(!is_valid_cpf("000.000.000-00"));
        assert!(!is_valid_cpf("5299822472"));
        assert!(!is_valid_cpf("529982247250"));
        assert!(!is_valid_cpf("529_982_247-25"));
        assert!(!is_valid_cpf("52998224725\t"));
        assert!(!is_valid_cpf(""));
        assert!(!is_valid_cpf("abc.def.ghi-jk"));
    }

    #[test]
    fn cpf_one_digit_changes_fail() {
        for changed in one_digit_changes("52998224725") {
            assert!(!is_valid_cpf(&changed), "{changed}");
        }
    }

    #[test]
    fn generated_cpfs_validate_and_keep_their_base() {
        for base in [0, 1, 52_998_224, 111_111_111, 999_999_999, 123_456_789] {
            let cpf = cpf_from_base(base);
            assert_eq!(cpf.len(), 11);
            assert!(is_valid_cpf(&cpf), "{base} -> {cpf}");
        }
        assert_eq!(cpf_from_base(529_982_247), "52998224725");
        // A repeated-digit base moves on to the next one.
        assert_eq!(&cpf_from_base(0)[..9], "000000001");
        let formatted = {
            let c = cpf_from_base(12_345);
            format!("{}.{}.{}-{}", &c[..3], &c[3..6], &c[6..9], &c[9..])
        };
        assert!(is_valid_cpf(&formatted));
    }

    #[test]
    fn cpf_lookalikes_tolerate_lost_leading_zeros() {
        let cpf = cpf_from_base(12_345_678); // "012345678.."
        assert!(cpf.starts_with('0'));
        assert!(looks_like_cpf(&cpf));
        assert!(looks_like_cpf(&cpf[1..]));
        assert!(!is_valid_cpf(&cpf[1..]));
        assert!(!looks_like_cpf("12345"));
        assert!(!looks_like_cpf("52998224724"));
    }

    #[test]
    fn cns_rules() {
        for seed in 0..2000 {
            let cns = cns_from_seed(seed);
            assert_eq!(cns.len(), 15);
            assert!(is_valid_cns(&cns), "{seed} -> {cns}");
            assert!(looks_like_cns(&cns));
            // The property every valid CNS has, checked independently.
            let sum: u32 = cns
                .bytes()
                .enumerate()
                .map(|(i, b)| u32::from(b - b'0') * (15 - i as u32))
                .sum();
            assert_eq!(sum % 11, 0, "{cns}");
            assert!(matches!(
                cns.as_bytes()[0],
                b'1' | b'2' | b'7' | b'8' | b'9'
            ));
        }
        let firsts: std::collections::HashSet<u8> =
            (0..200).map(|s| cns_from_seed(s).as_bytes()[0]).collect();
        assert_eq!(firsts.len(), 5, "all five kinds are generated");
    }

    #[test]
    fn definitive_cns_ends_as_the_algorithm_says() {
        for seed in 0..2000 {
            let cns = cns_from_seed(seed);
            if cns.starts_with(['1', '2']) {
                let tail = &cns[11..14];
                assert!(tail == "000" || tail == "001", "{cns}");
            }
        }
    }

    #[test]
    fn cns_one_digit_changes_fail() {
        let definitive = (0..)
            .map(cns_from_seed)
            .find(|c| c.starts_with('1'))
            .unwrap();
        let provisional = (0..)
            .map(cns_from_seed)
            .find(|c| c.starts_with('8'))
            .unwrap();
        for cns in [definitive, provisional] {
            for changed in one_digit_changes(&cns) {
                // The 5th digit has weight 11 ≡ 0 (mod 11): the official
                // algorithm cannot see a change there.
                if changed[..4] == cns[..4] && changed[5..] == cns[5..] {
                    assert!(is_valid_cns(&changed), "{cns} -> {changed}");
                    continue;
                }
                assert!(!is_valid_cns(&changed), "{cns} -> {changed}");
            }
        }
    }

    #[test]
    fn cns_formats_and_garbage() {
        let cns = (0..)
            .map(cns_from_seed)
            .find(|c| c.starts_with('7'))
            .unwrap();
        let masked = format!(
            "{} {} {} {}",
            &cns[..3],
            &cns[3..7],
            &cns[7..11],
            &cns[11..]
        );
        assert!(is_valid_cns(&masked));
        assert!(!is_valid_cns(&cns[..14]));
        assert!(!is_valid_cns("000000000000000"));
        assert!(!is_valid_cns("300000000000000"));
        assert!(!is_valid_cns("7000000000000X0"));
        assert!(!is_valid_cns(&format!("{cns};")));
        // The example the module documents, and the same with its last digit wrong.
        assert!(is_valid_cns("898 0010 0066 9639"));
        assert!(!is_valid_cns("898 0010 0066 9630"));
    }

    #[test]
    fn cnpj_known_values() {
        assert!(is_valid_cnpj("11.222.333/0001-81"));
        assert!(is_valid_cnpj("11222333000181"));
        assert!(!is_valid_cnpj("11.222.333/0001-82"));
        assert!(!is_valid_cnpj("00.000.000/0000-00"));
        assert!(!is_valid_cnpj("11222333000181 x"));
        assert!(!is_valid_cnpj("1122233300018"));
        // The alphanumeric CNPJ of IN RFB 2.229/2024, the Receita's example.
        assert!(is_valid_cnpj("12.ABC.345/01DE-35"));
        assert!(is_valid_cnpj("12ABC34501DE35"));
        assert!(!is_valid_cnpj("12.ABC.345/01DE-36"));
        assert!(!is_valid_cnpj("12.abc.345/01de-35"));
        // Check digits are never letters.
        assert!(!is_valid_cnpj("12ABC34501DE3A"));
    }

    #[test]
    fn generated_cnpjs_validate_and_changes_fail() {
        for base in [0, 1, 112_223_330_001, 999_999_999_999, 4_242] {
            let cnpj = cnpj_from_base(base);
            assert_eq!(cnpj.len(), 14);
            assert!(is_valid_cnpj(&cnpj), "{base} -> {cnpj}");
        }
        assert_eq!(cnpj_from_base(112_223_330_001), "11222333000181");
        for changed in one_digit_changes("11222333000181") {
            assert!(!is_valid_cnpj(&changed), "{changed}");
        }
    }

    #[test]
    fn ibge_known_codes() {
        for code in ["3550308", "5300108", "1200401", "3304557", "2304400"] {
            assert!(is_valid_ibge_municipality(code), "{code}");
        }
        for code in IBGE_EXCEPTIONS {
            assert!(is_valid_ibge_municipality(code), "{code}");
            let d = digits_of(code, 7).unwrap();
            assert_ne!(ibge_check_digit(&d), d[6], "{code} is an exception");
            // The computed digit is not a valid code for that municipality.
            let computed = format!("{}{}", &code[..6], ibge_check_digit(&d));
            assert!(!is_valid_ibge_municipality(&computed), "{computed}");
        }
        for changed in one_digit_changes("3550308") {
            let uf_ok = is_uf_code(&digits_of(&changed, 7).unwrap());
            if uf_ok && changed[..6] != *"355030" {
                // Another municipality's prefix may still be well formed
                // with a different check digit; only the digit must break.
                assert_eq!(
                    is_valid_ibge_municipality(&changed),
                    ibge_with_check_digit(&changed[..6]).as_deref() == Some(changed.as_str())
                );
            } else {
                assert!(!is_valid_ibge_municipality(&changed), "{changed}");
            }
        }
        assert!(!is_valid_ibge_municipality("355030"));
        assert!(!is_valid_ibge_municipality("9950308"));
        assert!(!is_valid_ibge_municipality("35503080"));
        assert!(!is_valid_ibge_municipality("355030X"));
    }

    #[test]
    fn ibge_generator_round_trips() {
        assert_eq!(ibge_with_check_digit("355030").as_deref(), Some("3550308"));
        assert_eq!(ibge_with_check_digit("530010").as_deref(), Some("5300108"));
        assert_eq!(ibge_with_check_digit("120040").as_deref(), Some("1200401"));
        assert_eq!(ibge_with_check_digit("220191").as_deref(), Some("2201919"));
        assert_eq!(ibge_with_check_digit("990000"), None);
        assert_eq!(ibge_with_check_digit("35503"), None);
        for n in (110_000..=530_999).step_by(997) {
            let code6 = format!("{n:06}");
            if let Some(code7) = ibge_with_check_digit(&code6) {
                assert!(is_valid_ibge_municipality(&code7), "{code7}");
            }
        }
    }

    #[test]
    fn datasus_codes_and_placeholders() {
        assert!(is_plausible_datasus_municipality("530010"));
        assert!(is_plausible_datasus_municipality("260545"));
        assert!(is_plausible_datasus_municipality("350000"));
        assert!(is_plausible_datasus_municipality("000000"));
        assert!(!is_plausible_datasus_municipality("990000"));
        assert!(!is_plausible_datasus_municipality("100000"));
        assert!(!is_plausible_datasus_municipality("3550308"));
        assert!(!is_plausible_datasus_municipality("35503"));
        assert!(!is_plausible_datasus_municipality("35503a"));
    }

    #[test]
    fn validator_names_round_trip() {
        for v in Validator::ALL {
            assert_eq!(v.name().parse::<Validator>(), Ok(v));
            assert_eq!(v.to_string(), v.name());
        }
        let err = "CPF".parse::<Validator>().unwrap_err();
        assert!(err.to_string().contains("ibge_municipio"));
        assert!(Validator::Cpf.check("529.982.247-25"));
        assert!(Validator::Cns.check(&cns_from_seed(7)));
        assert!(Validator::Cnpj.check("11.222.333/0001-81"));
        assert!(Validator::IbgeMunicipio.check("3550308"));
        assert!(Validator::DatasusMunicipio.check("355030"));
        assert!(!Validator::IbgeMunicipio.check("355030"));
        #[derive(Deserialize)]
        struct Column {
            validator: Validator,
        }
        let c: Column = toml::from_str("validator = \"datasus_municipio\"").unwrap();
        assert_eq!(c.validator, Validator::DatasusMunicipio);
    }
}
