//! Policy indicators: SQL files with a header (`definition`), run over the
//! lake at one snapshot, published through small-cell suppression
//! (`suppress`) as lake tables with history, every run on record with its
//! inputs (`compute`).
//!
//! Lagoa's reference indicators live in `sql/indicators/` and are built
//! into the binary; `lagoa indicator init` copies them into a lake's
//! indicators folder, where a data office edits them and adds its own.

pub mod audit;
mod compute;
pub mod counts;
pub mod definition;
pub mod elsewhere;
pub mod period;
pub mod published;
mod stated;
pub mod suppress;
mod years;

pub use compute::{
    IndicatorError, RunOptions, Verification, describe, results_schema, run, stale, summary_of,
    verify,
};
pub use definition::{DefinitionError, Indicator, Param, Trigger, results_dataset};

use std::path::Path;

/// `(file name, text)` of the reference indicators.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "mortalidade_infantil.sql",
        include_str!("../../indicators/mortalidade_infantil.sql"),
    ),
    (
        "pre_natal_7_consultas.sql",
        include_str!("../../indicators/pre_natal_7_consultas.sql"),
    ),
    (
        "cobertura_vacinal.sql",
        include_str!("../../indicators/cobertura_vacinal.sql"),
    ),
    (
        "abandono_escolar.sql",
        include_str!("../../indicators/abandono_escolar.sql"),
    ),
    (
        "distorcao_idade_serie.sql",
        include_str!("../../indicators/distorcao_idade_serie.sql"),
    ),
    (
        "homicidios.sql",
        include_str!("../../indicators/homicidios.sql"),
    ),
    (
        "mortes_violentas_intencionais.sql",
        include_str!("../../indicators/mortes_violentas_intencionais.sql"),
    ),
];

/// Every `*.sql` definition in `dir`, by name. A missing folder holds none;
/// a definition that does not parse is an error naming its file (all of
/// them at once).
pub fn load_dir(dir: &Path) -> Result<Vec<Indicator>, DefinitionError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut paths: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    paths.sort();
    let mut out: Vec<Indicator> = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        match Indicator::load(&path) {
            Ok(i) if out.iter().any(|o| o.name == i.name) => {
                problems.push(format!("{}: name {} is used twice", path.display(), i.name));
            }
            Ok(i) => out.push(i),
            Err(e) => problems.push(e.to_string()),
        }
    }
    if !problems.is_empty() {
        return Err(DefinitionError::Invalid {
            file: dir.display().to_string(),
            problems: problems.join("\n"),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Copies the reference indicators into `dir`, keeping files already there;
/// returns the ones written.
pub fn init(dir: &Path) -> std::io::Result<Vec<String>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for (file, text) in BUILTIN {
        let path = dir.join(file);
        if !path.exists() {
            std::fs::write(&path, text)?;
            written.push((*file).to_owned());
        }
    }
    Ok(written)
}

/// The indicators folder of a lake.
pub fn dir_of(lake: &lagoa_lake::Lake) -> std::path::PathBuf {
    lake.dir.join(&lake.config.indicators.dir)
}
