//! The data office of the synthetic state: the contracts of its datasets,
//! the sources that take each delivery in (drop folders on a schedule, or
//! the e-SUS database), its institutions, people and the categorisation
//! each provider gives its datasets. `lagoa demo run` sets all of this up
//! in a lake; the guide in `docs/data-office.md` does it by hand.

use std::path::{Path, PathBuf};

/// `(dataset, contract file)`.
pub const CONTRACTS: &[(&str, &str)] = &[
    (
        "sim_obitos",
        include_str!("../office/contratos/sim_obitos.toml"),
    ),
    (
        "sinasc_nascidos",
        include_str!("../office/contratos/sinasc_nascidos.toml"),
    ),
    (
        "pni_vacinacao",
        include_str!("../office/contratos/pni_vacinacao.toml"),
    ),
    (
        "censo_matriculas",
        include_str!("../office/contratos/censo_matriculas.toml"),
    ),
    (
        "ibge_populacao",
        include_str!("../office/contratos/ibge_populacao.toml"),
    ),
    (
        "sinesp_ocorrencias",
        include_str!("../office/contratos/sinesp_ocorrencias.toml"),
    ),
];

/// `(name, role, description)`.
pub const INSTITUTIONS: &[(&str, &str, &str)] = &[
    (
        "seplag",
        "coordinator",
        "Secretaria de Planejamento: o escritório de dados",
    ),
    ("ses", "provider", "Secretaria Estadual de Saúde"),
    ("seduc", "provider", "Secretaria Estadual de Educação"),
    ("sds", "provider", "Secretaria de Defesa Social"),
    (
        "ibge",
        "provider",
        "Instituto Brasileiro de Geografia e Estatística",
    ),
    (
        "agencia",
        "consumer",
        "Agência Estadual de Planejamento e Pesquisas",
    ),
];

/// `(name, institution, role)`.
pub const PEOPLE: &[(&str, &str, &str)] = &[
    ("ana", "seplag", "admin"),
    ("otavio", "seplag", "operator"),
    ("marcos", "ses", "steward"),
    ("beatriz", "seduc", "steward"),
    ("lucia", "agencia", "analyst"),
];

/// The provider institution of each dataset.
pub const PROVIDERS: &[(&str, &str)] = &[
    ("sim_obitos", "ses"),
    ("sinasc_nascidos", "ses"),
    ("pni_vacinacao", "ses"),
    ("censo_matriculas", "seduc"),
    ("ibge_populacao", "ibge"),
    ("sinesp_ocorrencias", "sds"),
];

/// How each delivery is read: `(dataset, source name, reading options)`.
const READING: &[(&str, &str, &str)] = &[
    (
        "sim_obitos",
        "ses_sim",
        "pattern = \"DO*.csv\"\n\n[source.csv]\nencoding = \"latin1\"\ndelimiter = \";\"\n",
    ),
    (
        "sinasc_nascidos",
        "ses_sinasc",
        "pattern = \"DN*.dbf\"\n\n[source.dbf]\nencoding = \"latin1\"\n",
    ),
    (
        "pni_vacinacao",
        "ses_pni",
        "pattern = \"vacinacao_*.csv\"\n\n[source.csv]\nencoding = \"latin1\"\ndelimiter = \";\"\n",
    ),
    (
        "censo_matriculas",
        "seduc_educacenso",
        "pattern = \"matriculas_*.csv\"\n\n[source.csv]\nencoding = \"latin1\"\ndelimiter = \";\"\n",
    ),
    (
        "ibge_populacao",
        "ibge_estimativas",
        "pattern = \"*.xlsx\"\n",
    ),
    (
        "sinesp_ocorrencias",
        "sds_sinesp",
        "pattern = \"sinesp_vde_*.csv\"\n\n[source.csv]\nencoding = \"auto\"\ndelimiter = \";\"\n",
    ),
];

/// The e-SUS source's query: the PEC tables mapped to the contract's names.
pub const ESUS_QUERY: &str = "SELECT f.co_seq_fat_vacinacao::text AS codigo_registro, md5(coalesce(f.nu_cns_cidadao, f.nu_cpf_cidadao)) AS codigo_paciente, \
f.nu_cns_cidadao AS numero_cns_paciente, f.sg_sexo AS tipo_sexo_paciente, f.nu_idade AS numero_idade_paciente, \
left(m.co_ibge, 6) AS codigo_municipio_paciente, f.co_cnes AS codigo_cnes_estabelecimento, f.dt_vacina AS data_vacina, \
f.sg_imunobiologico AS sigla_vacina, f.no_imunobiologico AS descricao_vacina, f.nu_dose AS codigo_dose_vacina, \
CASE WHEN f.sg_imunobiologico = 'BCG' THEN 'Dose' ELSE f.nu_dose || 'ª Dose' END AS descricao_dose_vacina, \
f.dt_atualizacao AS atualizado_em \
FROM {schema}.tb_fat_vacinacao f JOIN {schema}.tb_dim_municipio m ON m.co_seq_dim_municipio = f.co_dim_municipio";

/// What `install` wrote.
#[derive(Clone, Debug, Default)]
pub struct Installed {
    pub contracts: Vec<PathBuf>,
    pub sources: Vec<PathBuf>,
}

/// Writes the contracts to `<lake>/contratos/` and one source file per
/// dataset to `sources_dir`, each reading the drop folder
/// `<deliveries>/<dataset>/` every day at 06:00; with `esus`, vaccination
/// comes incrementally from that PostgreSQL database instead.
pub fn install(
    lake_dir: &Path,
    sources_dir: &Path,
    deliveries: &Path,
    esus: Option<&str>,
) -> std::io::Result<Installed> {
    let contracts_dir = lake_dir.join("contratos");
    std::fs::create_dir_all(&contracts_dir)?;
    std::fs::create_dir_all(sources_dir)?;
    let contracts_dir = std::fs::canonicalize(&contracts_dir)?;
    let deliveries = std::fs::canonicalize(deliveries)?;
    let mut installed = Installed::default();
    for (dataset, text) in CONTRACTS {
        let path = contracts_dir.join(format!("{dataset}.toml"));
        std::fs::write(&path, text)?;
        installed.contracts.push(path);
    }
    for (dataset, name, reading) in READING {
        let contract = contracts_dir.join(format!("{dataset}.toml"));
        let source = match (*dataset, esus) {
            ("pni_vacinacao", Some(url)) => format!(
                "[source]\ntype = \"postgres\"\nurl = {url:?}\nquery = {query:?}\nincremental = {{ cursor = \"atualizado_em\", primary_key = [\"codigo_registro\"] }}\n",
                query = ESUS_QUERY.replace("{schema}", crate::ESUS_SCHEMA),
            ),
            _ => {
                let folder = crate::delivery_folder(&deliveries, dataset);
                std::fs::create_dir_all(&folder)?;
                format!(
                    "[source]\ntype = \"file\"\ndrop_folder = {:?}\nsettle_seconds = 0\n{reading}",
                    folder.display().to_string()
                )
            }
        };
        let name = if *dataset == "pni_vacinacao" && esus.is_some() {
            "esus_vacinacao"
        } else {
            name
        };
        // IBGE publishes the whole series each time: it replaces the table.
        let mode = if *dataset == "ibge_populacao" {
            "full-refresh"
        } else {
            "append"
        };
        let provider = PROVIDERS
            .iter()
            .find(|(d, _)| d == dataset)
            .map_or("", |(_, p)| p);
        let text = format!(
            "# Written by `lagoa demo`: {dataset} from the state's deliveries.\nname = \"{name}\"\ndataset = \"{dataset}\"\nprovider = \"{provider}\"\ncontract = {:?}\nmode = \"{mode}\"\n\n[schedule]\ncron = \"0 6 * * *\"\ntimezone = \"America/Sao_Paulo\"\n\n{source}",
            contract.display().to_string()
        );
        let path = sources_dir.join(format!("{name}.source.toml"));
        std::fs::write(&path, text)?;
        installed.sources.push(path);
    }
    Ok(installed)
}
