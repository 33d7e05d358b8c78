//! Synthetic municipal death records for benchmarks, seeded and
//! reproducible: DATASUS-style 6-digit municipality codes, ISO dates,
//! CID-10 codes without dots, SIM sex codes (1, 2, 9), decimals, and valid
//! CPF numbers (check digits computed, leading zeros kept) with names.
//!
//! `lagoa-bench-gen --rows 10000000 --seed 42 --out obitos.csv`
//! `lagoa-bench-gen --target-bytes 4500000000 --out big.csv`

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

fn main() -> Result<()> {
    let args = Args::parse();
    let mut rng = StdRng::seed_from_u64(args.seed);
    // 185 municipalities of a state, DATASUS 6-digit codes (UF 26).
    let municipios: Vec<u32> = (0..185).map(|i| 260000 + 5 + i * 50).collect();
    let file = std::fs::File::create(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let header = "municipio,data_obito,ano,mes,causa_cid,sexo,idade,valor,cpf,nome\n";
    out.write_all(header.as_bytes())?;
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
        // Skewed toward big municipalities, as real deliveries are.
        let m =
            municipios[(rng.random_range(0.0f64..1.0).powi(2) * municipios.len() as f64) as usize];
        let year = rng.random_range(2015..=2024u32);
        let month = rng.random_range(1..=12u32);
        let day = rng.random_range(1..=days_in_month(year, month));
        let cid_letter = CID_LETTERS[rng.random_range(0..CID_LETTERS.len())] as char;
        let cid_num = rng.random_range(0..100u32);
        let sexo = match rng.random_range(0..100u32) {
            0..=51 => '1',
            52..=98 => '2',
            _ => '9',
        };
        let idade = rng.random_range(0..=100u32);
        let valor_cents = rng.random_range(0..500_000u32);
        let c = cpf(&mut rng);
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
}
