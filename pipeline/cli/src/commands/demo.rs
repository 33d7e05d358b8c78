//! `lagoa demo`: a synthetic state's deliveries (`generate`), and the whole
//! story of a data office on them (`run`): a lake, the contracts and
//! sources of six datasets, institutions and people, every source run once,
//! the categorisations, a request and its grant, the indicators computed
//! and published through small-cell suppression, and a summary.

use crate::output::human_bytes;
use anyhow::{Result, anyhow};
use lagoa_demo::{GenerateOptions, office, story};

use lagoa_lake::{InitOptions, Lake};
use lagoa_sql::indicators;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(clap::Args, Clone)]
pub(super) struct StateArgs {
    /// Municipalities of the state (the first is its large capital).
    #[arg(long, default_value_t = 8)]
    pub municipalities: usize,
    /// Years delivered: FIRST-LAST.
    #[arg(long, default_value = "2020-2024")]
    pub years: String,
    /// The random seed: the same seed gives the same deliveries.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// IBGE code of the state (26: Pernambuco).
    #[arg(long, default_value_t = 26)]
    pub uf: u8,
    /// Multiplies every population (and so the size of every file).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Vaccination comes from an e-SUS-like PostgreSQL database written at
    /// this URL (schema `esus`), read incrementally, instead of SI-PNI files.
    #[arg(long)]
    pub esus_postgres: Option<String>,
}

impl StateArgs {
    fn options(&self) -> Result<GenerateOptions> {
        let (first, last) = self
            .years
            .split_once('-')
            .and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)))
            .or_else(|| self.years.trim().parse().ok().map(|y| (y, y)))
            .ok_or_else(|| anyhow!("--years {:?}: write FIRST-LAST, like 2020-2024", self.years))?;
        Ok(GenerateOptions {
            seed: self.seed,
            uf: self.uf,
            municipalities: self.municipalities,
            first_year: first,
            last_year: last,
            scale: self.scale,
            esus_postgres: self.esus_postgres.clone(),
        })
    }
}

#[derive(clap::Subcommand)]
pub(super) enum DemoCommand {
    /// Write a synthetic state's deliveries (SIM, SINASC, SI-PNI,
    /// Educacenso, IBGE, SINESP) in their real layouts, seeded.
    Generate {
        /// The folder they go to, one subfolder per dataset.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        state: StateArgs,
    },
    /// The whole story on the lake (created if needed): generate, register
    /// sources and contracts, run each source once, categorise, grant,
    /// compute the indicators, summarise.
    Run {
        #[command(flatten)]
        state: StateArgs,
    },
}

async fn generate(options: &GenerateOptions, out: &Path) -> Result<lagoa_demo::Manifest> {
    let started = std::time::Instant::now();
    let (options_for_thread, out_for_thread) = (options.clone(), out.to_owned());
    let mut manifest = tokio::task::spawn_blocking(move || {
        lagoa_demo::generate(&options_for_thread, &out_for_thread, &|d| {
            println!(
                "  {:<20} {:<32} {:>9} rows {:>10}",
                d.dataset,
                d.path
                    .file_name()
                    .map(|f| f.to_string_lossy())
                    .unwrap_or_default(),
                d.rows,
                human_bytes(d.bytes)
            );
        })
    })
    .await??;
    manifest.esus_rows = lagoa_demo::generate_esus(options).await?;
    if let Some(rows) = manifest.esus_rows {
        println!(
            "  {:<20} {:<32} {rows:>9} rows",
            "pni_vacinacao", "e-SUS database (schema esus)"
        );
    }
    let t = &manifest.territory;
    println!(
        "{} municipalities of {} ({}), {}-{}: {} rows, {} in {:.1}s (seed {})",
        t.municipalities.len(),
        t.uf_name,
        t.uf_sigla,
        t.first_year,
        t.last_year,
        manifest.rows(),
        human_bytes(manifest.bytes()),
        started.elapsed().as_secs_f64(),
        t.seed()
    );
    Ok(manifest)
}

pub(super) async fn command(lake_dir: &Path, command: DemoCommand) -> Result<()> {
    match command {
        DemoCommand::Generate { out, state } => {
            generate(&state.options()?, &out).await?;
            Ok(())
        }
        DemoCommand::Run { state } => run(lake_dir, &state.options()?).await,
    }
}

async fn run(lake_dir: &Path, options: &GenerateOptions) -> Result<()> {
    let started = std::time::Instant::now();
    if !lake_dir.join("lagoa.toml").exists() {
        println!("==> creating a lake in {}", lake_dir.display());
        let lake = Lake::init(lake_dir, &InitOptions::default()).await?;
        if lake.uses_local_keystore() {
            println!(
                "    (local key store with generated master keys: {})",
                lake.config.keys.path
            );
        }
    }
    let lake = Arc::new(Lake::open(lake_dir).await?);
    let deliveries = lake_dir.join("entregas");

    println!(
        "\n==> generating the state's deliveries into {}",
        deliveries.display()
    );
    generate(options, &deliveries).await?;

    println!("\n==> registering contracts and sources");
    let sources_dir = lake_dir.join(&lake.config.daemon.sources);
    let esus = options.esus_postgres.as_deref();
    let installed = office::install(lake_dir, &sources_dir, &deliveries, esus)?;
    for path in &installed.sources {
        println!("  {}", path.display());
    }
    story::ensure_people(&lake).await?;
    let tokens_path = lake_dir.join("demo-tokens.txt");
    let tokens = story::issue_tokens(&lake, &tokens_path).await?;

    println!(
        "\n==> running every source once (contracts checked, bad rows to quarantine, all encrypted)"
    );
    story::run_sources(&lake, &sources_dir, || {
        Arc::new(super::ingest::CliObserver::default())
    })
    .await?;

    println!("\n==> categorising the datasets and granting the research agency its request");
    story::categorise_and_grant(&lake).await?;

    println!("\n==> computing the indicators (small cells suppressed before publication)");
    let dir = indicators::dir_of(&lake);
    indicators::init(&dir)?;
    let all = indicators::load_dir(&dir)?;
    let selected: Vec<&indicators::Indicator> = all.iter().collect();
    super::indicators::run_all(&lake, &selected, &Default::default(), "demo").await?;

    println!("\n==> summary");
    summary(&lake, &all).await?;
    let admin = tokens
        .iter()
        .find(|(n, _)| n == "ana")
        .map(|(_, t)| t.as_str())
        .unwrap_or("");
    println!(
        "\nDone in {:.0}s. The console and the API: lagoa --lake {} serve  ->  http://{}/",
        started.elapsed().as_secs_f64(),
        lake_dir.display(),
        lake.config.console.listen
    );
    println!("Sign in as ana (admin) with her token: {admin}");
    println!(
        "Every token of the demo's people is in {} (mode 0600).",
        tokens_path.display()
    );
    Ok(())
}

async fn summary(lake: &Lake, all: &[indicators::Indicator]) -> Result<()> {
    let session = lagoa_lake::session::LakeSession::open(lake, &lagoa_lake::AsOf::Latest).await?;
    let datasets = session
        .sql("SELECT name, level, rows, files FROM system.datasets WHERE name NOT LIKE 'ind_%' ORDER BY name")
        .await?
        .collect()
        .await?;
    println!(
        "{}",
        datafusion::arrow::util::pretty::pretty_format_batches(&datasets)?
    );
    let quarantined = session
        .sql("SELECT dataset, sum(rows_rejected) AS rejected FROM system.runs WHERE rows_rejected > 0 GROUP BY dataset ORDER BY dataset")
        .await?
        .collect()
        .await?;
    if quarantined.iter().any(|b| b.num_rows() > 0) {
        println!("Rows sent to quarantine (with line and reason; `lagoa quarantine show <run>`):");
        println!(
            "{}",
            datafusion::arrow::util::pretty::pretty_format_batches(&quarantined)?
        );
    }
    for i in all {
        let table = indicators::results_dataset(&i.name);
        let sql = format!(
            "WITH ultimo AS (SELECT max(ano) AS ano FROM {table}), \
             nomes AS (SELECT DISTINCT CAST(cod_uf * 100000 + cod_munic AS VARCHAR) AS municipio, nome_do_municipio FROM ibge_populacao) \
             SELECT r.ano, \
                    max(CASE WHEN r.total_estado THEN round(r.valor, 2) END) AS estado, \
                    sum(CASE WHEN r.supressao IS NOT NULL AND NOT r.total_estado THEN 1 ELSE 0 END) AS suprimidos, \
                    count(*) FILTER (WHERE NOT r.total_estado) AS municipios, \
                    first_value(n.nome_do_municipio ORDER BY r.valor DESC NULLS LAST) AS maior, \
                    round(max(r.valor) FILTER (WHERE NOT r.total_estado), 2) AS valor_maior \
             FROM {table} r JOIN ultimo u ON r.ano = u.ano LEFT JOIN nomes n ON n.municipio = r.municipio \
             GROUP BY r.ano"
        );
        let batches = session.sql(&sql).await?.collect().await?;
        println!("{} ({}):", i.title, i.unit);
        println!(
            "{}",
            datafusion::arrow::util::pretty::pretty_format_batches(&batches)?
        );
    }
    Ok(())
}
