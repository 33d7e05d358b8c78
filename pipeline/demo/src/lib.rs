//! A synthetic state for demonstrations, tests and benchmarks: N
//! municipalities over Y years delivering what Brazilian municipal and
//! state systems deliver, in their real layouts and with their quirks
//! (`../shared/reference/brazil-public-data.md`), seeded and reproducible,
//! from a few megabytes to tens of gigabytes (files are written a row at a
//! time, on as many threads as there are cores).
//!
//! | dataset | system | delivery |
//! |---|---|---|
//! | `sim_obitos` | SIM (deaths) | `DO<UF><YYYY>.csv`, Latin-1, `;` |
//! | `sinasc_nascidos` | SINASC (live births) | `DN<UF><YYYY>.dbf`, dBase III, Latin-1 |
//! | `pni_vacinacao` | SI-PNI (doses) | `vacinacao_<YYYY>.csv`, Latin-1, `;`; or an e-SUS PEC-like PostgreSQL database |
//! | `censo_matriculas` | Educacenso (enrolments) | `matriculas_<YYYY>.csv`, Latin-1, `;` |
//! | `ibge_populacao` | IBGE estimates | `estimativa_populacao.xlsx`, a sheet per year |
//! | `sinesp_ocorrencias` | SINESP VDE | `sinesp_vde_<YYYY>.csv`, `;`, decimal commas, Latin-1 then UTF-8 |
//!
//! `office` is the other half: the contracts, sources, institutions and
//! people of a data office that takes these deliveries in.

mod files;
pub mod health;
pub mod office;
pub mod people;
pub mod population;
pub mod random;
pub mod school;
pub mod security;
pub mod story;
pub mod territory;
pub mod vaccination;

pub use territory::{Municipality, Territory, YearCounts};

use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Write(#[from] files::WriteError),
    #[error("writing the population spreadsheet: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    #[error("writing the e-SUS database: {0}")]
    Database(#[from] sqlx::Error),
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct GenerateOptions {
    pub seed: u64,
    /// IBGE code of the state (26: Pernambuco).
    pub uf: u8,
    pub municipalities: usize,
    pub first_year: i32,
    pub last_year: i32,
    /// Multiplies every population (1.0: realistic sizes).
    pub scale: f64,
    /// Vaccination doses go to an e-SUS-like PostgreSQL database at this
    /// URL (schema `esus`) instead of SI-PNI files.
    pub esus_postgres: Option<String>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            seed: 7,
            uf: 26,
            municipalities: 8,
            first_year: 2020,
            last_year: 2024,
            scale: 1.0,
            esus_postgres: None,
        }
    }
}

impl GenerateOptions {
    pub fn territory(&self) -> Result<Territory, DemoError> {
        Territory::new(
            self.seed,
            self.uf,
            self.municipalities,
            self.first_year,
            self.last_year,
            self.scale,
        )
        .map_err(DemoError::Invalid)
    }
}

/// The datasets a generated state delivers, in the order they are written.
pub const DATASETS: &[&str] = &[
    "ibge_populacao",
    "sim_obitos",
    "sinasc_nascidos",
    "pni_vacinacao",
    "censo_matriculas",
    "sinesp_ocorrencias",
];

/// The schema of the e-SUS-like database.
pub const ESUS_SCHEMA: &str = "esus";

/// One file written.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub dataset: &'static str,
    pub path: PathBuf,
    pub rows: u64,
    pub bytes: u64,
}

/// What was generated.
#[derive(Clone, Debug)]
pub struct Manifest {
    pub territory: Territory,
    pub deliveries: Vec<Delivery>,
    /// Doses written to the e-SUS database instead of files.
    pub esus_rows: Option<u64>,
}

impl Manifest {
    pub fn rows(&self) -> u64 {
        self.deliveries.iter().map(|d| d.rows).sum::<u64>() + self.esus_rows.unwrap_or(0)
    }

    pub fn bytes(&self) -> u64 {
        self.deliveries.iter().map(|d| d.bytes).sum()
    }
}

/// The folder of a dataset's deliveries under `out`.
pub fn delivery_folder(out: &Path, dataset: &str) -> PathBuf {
    out.join(dataset)
}

enum Job {
    Population,
    Year(&'static str, i32),
}

/// Writes every delivery under `out/<dataset>/`, calling `progress` with
/// each file written (from several threads).
pub fn generate(
    options: &GenerateOptions,
    out: &Path,
    progress: &(dyn Fn(&Delivery) + Sync),
) -> Result<Manifest, DemoError> {
    let territory = options.territory()?;
    let t = &territory;
    let mut jobs = vec![Job::Population];
    for dataset in &DATASETS[1..] {
        if *dataset == "pni_vacinacao" && options.esus_postgres.is_some() {
            continue;
        }
        for year in t.years() {
            jobs.push(Job::Year(dataset, year));
        }
    }
    let queue = Mutex::new(jobs.into_iter());
    let written = Mutex::new(Vec::new());
    let failed = Mutex::new(None::<DemoError>);
    let uf = t.uf_sigla;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    if failed.lock().expect("not poisoned").is_some() {
                        return;
                    }
                    let Some(job) = queue.lock().expect("not poisoned").next() else {
                        return;
                    };
                    let result = match job {
                        Job::Population => {
                            let path = delivery_folder(out, "ibge_populacao")
                                .join("estimativa_populacao.xlsx");
                            population::write(t, &path)
                                .map(|rows| ("ibge_populacao", path, rows))
                                .map_err(DemoError::from)
                        }
                        Job::Year(dataset, year) => {
                            let folder = delivery_folder(out, dataset);
                            let path = folder.join(match dataset {
                                "sim_obitos" => format!("DO{uf}{year}.csv"),
                                "sinasc_nascidos" => format!("DN{uf}{year}.dbf"),
                                "pni_vacinacao" => format!("vacinacao_{year}.csv"),
                                "censo_matriculas" => format!("matriculas_{year}.csv"),
                                _ => format!("sinesp_vde_{year}.csv"),
                            });
                            let rows = match dataset {
                                "sim_obitos" => health::write_sim(t, year, &path),
                                "sinasc_nascidos" => health::write_sinasc(t, year, &path),
                                "pni_vacinacao" => vaccination::write_csv(t, year, &path),
                                "censo_matriculas" => school::write(t, year, &path),
                                _ => security::write(t, year, &path),
                            };
                            rows.map(|rows| (dataset, path, rows))
                                .map_err(DemoError::from)
                        }
                    };
                    match result {
                        Ok((dataset, path, rows)) => {
                            let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
                            let d = Delivery {
                                dataset,
                                path,
                                rows,
                                bytes,
                            };
                            progress(&d);
                            written.lock().expect("not poisoned").push(d);
                        }
                        Err(e) => {
                            failed.lock().expect("not poisoned").get_or_insert(e);
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = failed.into_inner().expect("not poisoned") {
        return Err(e);
    }
    let mut deliveries = written.into_inner().expect("not poisoned");
    deliveries.sort_by(|a, b| (a.dataset, &a.path).cmp(&(b.dataset, &b.path)));
    Ok(Manifest {
        territory,
        deliveries,
        esus_rows: None,
    })
}

/// Writes the vaccination doses into the e-SUS-like database of
/// `options.esus_postgres` (after `generate`).
pub async fn generate_esus(options: &GenerateOptions) -> Result<Option<u64>, DemoError> {
    let Some(url) = &options.esus_postgres else {
        return Ok(None);
    };
    let t = options.territory()?;
    Ok(Some(vaccination::write_esus(&t, url, ESUS_SCHEMA).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_writes_the_same_bytes() {
        let options = GenerateOptions {
            municipalities: 3,
            first_year: 2023,
            last_year: 2024,
            scale: 0.05,
            ..Default::default()
        };
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let ma = generate(&options, a.path(), &|_| {}).unwrap();
        let mb = generate(&options, b.path(), &|_| {}).unwrap();
        assert_eq!(ma.deliveries.len(), 1 + 5 * 2);
        for (x, y) in ma.deliveries.iter().zip(&mb.deliveries) {
            assert_eq!(x.rows, y.rows, "{}", x.path.display());
            {
                assert_eq!(
                    std::fs::read(&x.path).unwrap(),
                    std::fs::read(&y.path).unwrap(),
                    "{}",
                    x.path.display()
                );
            }
        }
        // Latin-1 on disk: an accented name is one byte per character.
        let sim = std::fs::read(a.path().join("sim_obitos/DOPE2024.csv")).unwrap();
        assert!(std::str::from_utf8(&sim).is_err(), "not UTF-8");
        assert!(sim.starts_with(b"NUMERODO;TIPOBITO;DTOBITO"));
        let sinesp =
            std::fs::read(a.path().join("sinesp_ocorrencias/sinesp_vde_2024.csv")).unwrap();
        assert!(
            sinesp.starts_with(&[0xEF, 0xBB, 0xBF]),
            "UTF-8 with a BOM since 2022"
        );
        let dbf = std::fs::read(a.path().join("sinasc_nascidos/DNPE2024.dbf")).unwrap();
        let records = u32::from_le_bytes(dbf[4..8].try_into().unwrap());
        let births: u64 = (0..3).map(|m| ma.territory.counts(m, 2024).births).sum();
        assert_eq!(u64::from(records), births);
        assert_eq!(*dbf.last().unwrap(), 0x1A);
    }
}
