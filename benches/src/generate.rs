//! Synthetic municipal death records for benchmarks, seeded and
//! reproducible: DATASUS-style 6-digit municipality codes, ISO dates,
//! CID-10 codes without dots, SIM sex codes (1, 2, 9), decimals, and valid
//! CPF numbers (check digits computed, leading zeros kept) with names.
//!
//! `lagoa-bench-gen --rows 10000000 --seed 42 --out obitos.csv`
//! `lagoa-bench-gen --target-bytes 4500000000 --out big.csv`
//!
//! With `--latin1-br`, a SIM-like municipal export instead, as DATASUS
//! extractions arrive: Latin-1 bytes, `;` delimiter, upper-case DATASUS
//! column names, DD/MM/YYYY dates, decimal commas (no thousands
//! separator), accented names, and empty fields for absent values:
//! `NUMERODO;CODMUNRES;DTOBITO;DTNASC;SEXO;RACACOR;IDADE;CAUSABAS;NOME;NOMEMAE;BAIRRES;VALOR;PESO`.
//!
//! `lagoa-bench-gen --latin1-br --target-bytes 2147483648 --out sim.csv`

use anyhow::{Context, Result};
use clap::Parser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::io::{BufWriter, Write};
use std::path::PathBuf;

#[derive(Parser)]
struct Args {
    /// Number of rows (ignored when --target-bytes is given).
    #[arg(long, default_value_t = 1_000_000)]
    rows: u64,
    /// Write rows until the file reaches this many bytes.
    #[arg(long)]
    target_bytes: Option<u64>,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Write the Latin-1, `;`, decimal-comma SIM-like layout instead.
    #[arg(long)]
    latin1_br: bool,
    #[arg(long)]
    out: PathBuf,
}

const FIRST: &[&str] = &[
    "Maria",
    "José",
    "Ana",
    "João",
    "Antônio",
    "Francisca",
    "Carlos",
    "Luíza",
    "Paulo",
    "Conceição",
    "Severino",
    "Raimunda",
];
const LAST: &[&str] = &[
    "da Silva",
    "dos Santos",
    "de Oliveira",
    "de Souza",
    "Lima",
    "Pereira",
    "Ferreira",
    "Araújo",
    "Cavalcanti",
    "Gonçalves",
];
const CID_LETTERS: &[u8] = b"ABCDEIJKRVXY";
const BAIRROS: &[&str] = &[
    "Centro",
    "São José",
    "Boa Vista",
    "Conceição",
    "Jardim América",
    "Várzea",
    "Imbiribeira",
    "Ipsep",
    "Afogados",
    "Água Fria",
    "Encruzilhada",
    "Cajueiro Seco",
];
const LATIN1_HEADER: &str = "NUMERODO;CODMUNRES;DTOBITO;DTNASC;SEXO;RACACOR;IDADE;CAUSABAS;NOME;NOMEMAE;BAIRRES;VALOR;PESO\n";

/// CPF check digits (mod 11) for the first nine digits.
fn cpf(rng: &mut StdRng) -> [u8; 11] {
    let mut d = [0u8; 11];
    for x in d.iter_mut().take(9) {
        *x = rng.random_range(0..10);
    }
    for (len, weight_start) in [(9usize, 10u32), (10, 11)] {
        let sum: u32 = d[..len]
            .iter()
            .enumerate()
            .map(|(i, &v)| v as u32 * (weight_start - i as u32))
            .sum();
        let r = (sum * 10) % 11;
        d[len] = if r == 10 { 0 } else { r as u8 };
    }
    d
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The text as Latin-1 bytes; every character of the name lists is in
/// Latin-1, so the fallback `?` never shows in the output.
fn latin1(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
        .collect()
}

fn latin1_list(texts: &[&str]) -> Vec<Vec<u8>> {
    texts.iter().map(|t| latin1(t)).collect()
}

/// A municipality of the state, skewed toward big ones as real
/// deliveries are: 185 DATASUS 6-digit codes (UF 26).
fn municipio(rng: &mut StdRng) -> u32 {
    let index = (rng.random_range(0.0f64..1.0).powi(2) * 185.0) as u32;
    260005 + index.min(184) * 50
}

fn random_date(rng: &mut StdRng, years: std::ops::RangeInclusive<u32>) -> (u32, u32, u32) {
    let year = rng.random_range(years);
    let month = rng.random_range(1..=12u32);
    let day = rng.random_range(1..=days_in_month(year, month));
    (year, month, day)
}

fn sexo(rng: &mut StdRng) -> char {
    match rng.random_range(0..100u32) {
        0..=51 => '1',
        52..=98 => '2',
        _ => '9',
    }
}

/// One row of the comma-separated, UTF-8, ISO-date obitos layout.
fn obitos_row(rng: &mut StdRng, line: &mut Vec<u8>) -> Result<()> {
    let m = municipio(rng);
    let (year, month, day) = random_date(rng, 2015..=2024);
    let cid_letter = CID_LETTERS[rng.random_range(0..CID_LETTERS.len())] as char;
    let cid_num = rng.random_range(0..100u32);
    let sexo = sexo(rng);
    let idade = rng.random_range(0..=100u32);
    let valor_cents = rng.random_range(0..500_000u32);
    let c = cpf(rng);
    let first = FIRST[rng.random_range(0..FIRST.len())];
    let last = LAST[rng.random_range(0..LAST.len())];
    write!(
        line,
        "{m},{year}-{month:02}-{day:02},{year},{month},{cid_letter}{cid_num:02},{sexo},{idade},{}.{:02},",
        valor_cents / 100,
        valor_cents % 100
    )?;
    line.extend(c.iter().map(|d| b'0' + d));
    writeln!(line, ",{first} {last}")?;
    Ok(())
}

/// The Latin-1 name lists of the SIM-like layout.
struct Latin1Names {
    first: Vec<Vec<u8>>,
    last: Vec<Vec<u8>>,
    bairros: Vec<Vec<u8>>,
}

impl Latin1Names {
    fn new() -> Self {
        Latin1Names {
            first: latin1_list(FIRST),
            last: latin1_list(LAST),
            bairros: latin1_list(BAIRROS),
        }
    }

    fn full_name(&self, rng: &mut StdRng, line: &mut Vec<u8>) {
        line.extend_from_slice(&self.first[rng.random_range(0..self.first.len())]);
        line.push(b' ');
        line.extend_from_slice(&self.last[rng.random_range(0..self.last.len())]);
    }
}

/// One row of the Latin-1, `;`, DD/MM/YYYY, decimal-comma SIM-like layout.
fn sim_latin1_row(
    rng: &mut StdRng,
    names: &Latin1Names,
    number: u64,
    line: &mut Vec<u8>,
) -> Result<()> {
    let m = municipio(rng);
    let (year, month, day) = random_date(rng, 2015..=2024);
    let age = rng.random_range(0..=100u32);
    let birth_year = year - age;
    let birth_month = rng.random_range(1..=12u32);
    let birth_day = rng.random_range(1..=days_in_month(birth_year, birth_month));
    // SIM's coded age: unit 4 = years, 5 = 100 years and more.
    let idade = if age >= 100 { 500 } else { 400 + age };
    let sexo = sexo(rng);
    let cid_letter = CID_LETTERS[rng.random_range(0..CID_LETTERS.len())] as char;
    let cid_num = rng.random_range(0..1000u32);
    write!(
        line,
        "{:08};{m};{day:02}/{month:02}/{year};{birth_day:02}/{birth_month:02}/{birth_year};{sexo};",
        number % 100_000_000
    )?;
    // Race/colour left blank on some certificates, as delivered.
    if rng.random_range(0..100u32) >= 3 {
        let racacor = [b'1', b'2', b'3', b'4', b'5', b'9'][rng.random_range(0..6usize)];
        line.push(racacor);
    }
    write!(line, ";{idade};{cid_letter}{cid_num:03};")?;
    names.full_name(rng, line);
    line.push(b';');
    if rng.random_range(0..100u32) >= 5 {
        names.full_name(rng, line);
    }
    line.push(b';');
    line.extend_from_slice(&names.bairros[rng.random_range(0..names.bairros.len())]);
    let valor_cents = rng.random_range(0..500_000u32);
    write!(line, ";{},{:02};", valor_cents / 100, valor_cents % 100)?;
    // Birth weight only on some records (grams to kilograms, 3 places).
    if rng.random_range(0..100u32) < 30 {
        let grams = rng.random_range(500..5000u32);
        write!(line, "{},{:03}", grams / 1000, grams % 1000)?;
    }
    line.push(b'\n');
    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    let mut rng = StdRng::seed_from_u64(args.seed);
    let file = std::fs::File::create(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let header = if args.latin1_br {
        LATIN1_HEADER
    } else {
        "municipio,data_obito,ano,mes,causa_cid,sexo,idade,valor,cpf,nome\n"
    };
    out.write_all(header.as_bytes())?;
    let names = Latin1Names::new();
    let mut written = header.len() as u64;
    let mut rows = 0u64;
    let mut line = Vec::with_capacity(160);
    loop {
        match args.target_bytes {
            Some(target) if written >= target => break,
            None if rows >= args.rows => break,
            _ => {}
        }
        line.clear();
        if args.latin1_br {
            sim_latin1_row(&mut rng, &names, rows + 1, &mut line)?;
        } else {
            obitos_row(&mut rng, &mut line)?;
        }
        out.write_all(&line)?;
        written += line.len() as u64;
        rows += 1;
    }
    out.flush()?;
    eprintln!(
        "wrote {rows} rows, {written} bytes to {}",
        args.out.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_cpfs_are_valid() {
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..1000 {
            let d = cpf(&mut rng);
            let check = |len: usize| {
                let sum: u32 = d[..len]
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| v as u32 * (len as u32 + 1 - i as u32))
                    .sum();
                let r = (sum * 10) % 11;
                if r == 10 { 0 } else { r as u8 }
            };
            assert_eq!(d[9], check(9));
            assert_eq!(d[10], check(10));
        }
    }

    #[test]
    fn latin1_rows_have_the_datasus_layout() {
        let mut rng = StdRng::seed_from_u64(7);
        let names = Latin1Names::new();
        let mut all = Vec::new();
        for number in 1..=2000u64 {
            let mut line = Vec::new();
            sim_latin1_row(&mut rng, &names, number, &mut line).unwrap();
            assert_eq!(line.last(), Some(&b'\n'));
            let text: String = line[..line.len() - 1]
                .iter()
                .map(|&b| char::from(b))
                .collect();
            let fields: Vec<&str> = text.split(';').collect();
            assert_eq!(fields.len(), 13, "{text}");
            assert_eq!(fields[0], format!("{number:08}"));
            for date in [fields[2], fields[3]] {
                let parts: Vec<&str> = date.split('/').collect();
                assert_eq!(
                    parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
                    [2, 2, 4],
                    "{date}"
                );
            }
            let (units, cents) = fields[11].split_once(',').expect("decimal comma");
            assert!(
                units.parse::<u32>().is_ok() && cents.len() == 2,
                "{}",
                fields[11]
            );
            assert!(!fields[11].contains('.'));
            all.extend_from_slice(&line);
        }
        // Accented names are single Latin-1 bytes (ç = 0xE7), so the file is not UTF-8.
        assert!(all.contains(&0xE7));
        assert!(std::str::from_utf8(&all).is_err());
    }
}
