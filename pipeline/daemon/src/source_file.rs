//! A configured source: what to read, into which dataset, under which
//! contract, when, and how often the agreement expects a delivery.
//!
//! ```toml
//! name = "obitos_rio_branco"
//! dataset = "sim_obitos"
//! contract = "sim_obitos.toml"          # relative to this file
//! mode = "append"                       # or replace-partition, full-refresh, upsert
//! delete_column = "excluido"            # upsert: marks a row deleted at the source
//! expected_frequency = "monthly"        # default: the contract's frequency
//!
//! [schedule]
//! cron = "0 6 * * *"                    # minute hour day month weekday
//! timezone = "America/Sao_Paulo"        # the default
//! missed = "skip"                       # or "catch_up"
//! timeout_seconds = 3600
//!
//! [retry]
//! attempts = 3                          # transient errors only
//! initial_backoff_seconds = 30
//! max_backoff_seconds = 900
//!
//! [source]
//! type = "file"
//! drop_folder = "/srv/entregas/rio_branco/sim"
//! ```

use crate::DaemonError;
use crate::schedule::{DEFAULT_TIME_ZONE, Schedule};
use lagoa_connectors::SourceConfig;
use lagoa_core::DatasetName;
use lagoa_lake::catalog::model::WriteMode;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Source files in a sources folder end with this.
pub const SOURCE_SUFFIX: &str = ".source.toml";

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceFile {
    pub name: String,
    pub dataset: String,
    /// The institution that delivers through this source: the provider of
    /// its dataset, whose stewards categorise it.
    pub provider: Option<String>,
    /// Relative to the source file.
    pub contract: Option<PathBuf>,
    /// `append`, `replace-partition`, `full-refresh` or `upsert` (keyed by
    /// the contract's `primary_key`, else a database source's
    /// `incremental.primary_key`).
    #[serde(default = "default_mode")]
    pub mode: String,
    /// Upsert: a column whose value marks the row's key deleted at the
    /// source (`true`, non-zero, `S`/`sim`, or any non-null time).
    pub delete_column: Option<String>,
    /// `daily`, `weekly`, `monthly`, `quarterly`, `yearly` or `<n>d`;
    /// default the contract's `frequency`.
    pub expected_frequency: Option<String>,
    pub schedule: Option<ScheduleConfig>,
    #[serde(default)]
    pub retry: RetryConfig,
    pub source: SourceConfig,
    /// Where the file was read from.
    #[serde(skip)]
    pub path: PathBuf,
}

fn default_mode() -> String {
    "append".into()
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    pub cron: String,
    #[serde(default = "default_time_zone")]
    pub timezone: String,
    #[serde(default)]
    pub missed: MissedPolicy,
    /// A run still going after this long is stopped (nothing becomes
    /// visible) and counts as failed; default 6 hours.
    pub timeout_seconds: Option<u64>,
}

fn default_time_zone() -> String {
    DEFAULT_TIME_ZONE.into()
}

/// Firings missed while no daemon ran.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MissedPolicy {
    /// One run now stands for all of them.
    #[default]
    Skip,
    /// One run per missed firing (at most 100), oldest first.
    CatchUp,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Attempts in all, the first included (1 = no retry).
    pub attempts: u32,
    pub initial_backoff_seconds: f64,
    pub max_backoff_seconds: f64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            attempts: 3,
            initial_backoff_seconds: 30.0,
            max_backoff_seconds: 900.0,
        }
    }
}

impl RetryConfig {
    /// The wait before attempt `attempt + 1`: exponential, capped, with
    /// full jitter in its upper half (`jitter` in 0..1) so that sources
    /// failing together do not retry together.
    pub fn backoff(&self, attempt: u32, jitter: f64) -> Duration {
        let base = self.initial_backoff_seconds.max(0.0)
            * 2f64.powi(attempt.saturating_sub(1).min(30) as i32);
        let capped = base.min(self.max_backoff_seconds.max(0.0));
        let seconds = capped * (0.5 + 0.5 * jitter.clamp(0.0, 1.0));
        Duration::try_from_secs_f64(seconds).unwrap_or(Duration::ZERO)
    }
}

impl SourceFile {
    pub fn load(path: &Path) -> Result<SourceFile, DaemonError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            DaemonError::Config(format!("cannot read {}: {}", path.display(), e.kind()))
        })?;
        let mut file: SourceFile = toml::from_str(&text)
            .map_err(|e| DaemonError::Config(format!("source {}: {e}", path.display())))?;
        file.path = path.to_owned();
        if let Some(c) = &file.contract
            && c.is_relative()
        {
            file.contract = Some(path.parent().unwrap_or(Path::new(".")).join(c));
        }
        let problems = file.problems();
        if !problems.is_empty() {
            return Err(DaemonError::Config(format!(
                "source {} has problems:\n{}",
                path.display(),
                problems
                    .iter()
                    .map(|p| format!("  - {p}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            )));
        }
        Ok(file)
    }

    /// Every `*.source.toml` of a folder, sorted by name; names must be
    /// unique.
    pub fn load_dir(dir: &Path) -> Result<Vec<SourceFile>, DaemonError> {
        let paths = source_paths(dir)?;
        let mut sources = Vec::new();
        let mut problems = Vec::new();
        for path in paths {
            match SourceFile::load(&path) {
                Ok(s) => sources.push(s),
                Err(e) => problems.push(e.to_string()),
            }
        }
        sources.sort_by(|a, b| a.name.cmp(&b.name));
        for pair in sources.windows(2) {
            if pair[0].name == pair[1].name {
                problems.push(format!(
                    "two sources are named {:?}: {} and {}",
                    pair[0].name,
                    pair[0].path.display(),
                    pair[1].path.display()
                ));
            }
        }
        if problems.is_empty() {
            Ok(sources)
        } else {
            Err(DaemonError::Config(problems.join("\n")))
        }
    }

    pub fn problems(&self) -> Vec<String> {
        let mut problems = self.source.problems();
        if self.name.trim().is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            problems.push(format!(
                "name {:?}: use letters, digits, `_`, `-` and `.` only",
                self.name
            ));
        }
        if let Err(e) = DatasetName::new(&self.dataset) {
            problems.push(e.to_string());
        }
        match self.mode.parse::<WriteMode>() {
            Err(e) => problems.push(e),
            Ok(mode) if mode != WriteMode::Upsert && self.delete_column.is_some() => problems.push(
                "delete_column applies to mode = \"upsert\" only: other modes never delete by key"
                    .into(),
            ),
            Ok(_) => {}
        }
        if let Some(f) = &self.expected_frequency
            && lagoa_schemas::frequency_days(f).is_none()
        {
            problems.push(format!(
                "expected_frequency {f:?}: expected daily, weekly, monthly, quarterly, yearly or <n>d"
            ));
        }
        if let Some(s) = &self.schedule {
            if let Err(e) = Schedule::parse(&s.cron, &s.timezone) {
                problems.push(format!("schedule: {e}"));
            }
            if s.timeout_seconds == Some(0) {
                problems.push("schedule.timeout_seconds must be at least 1".into());
            }
        }
        if self.retry.attempts == 0 {
            problems.push("retry.attempts must be at least 1 (the first attempt)".into());
        }
        if !(self.retry.initial_backoff_seconds >= 0.0 && self.retry.max_backoff_seconds >= 0.0) {
            problems.push("retry backoff seconds must be zero or more".into());
        }
        problems
    }

    pub fn schedule(&self) -> Option<Schedule> {
        let s = self.schedule.as_ref()?;
        Schedule::parse(&s.cron, &s.timezone).ok()
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs(
            self.schedule
                .as_ref()
                .and_then(|s| s.timeout_seconds)
                .unwrap_or(6 * 3600),
        )
    }

    /// How often the agreement expects a delivery: `expected_frequency`,
    /// else the contract's `frequency`.
    pub fn expected_interval(&self) -> Option<Duration> {
        let frequency = self.expected_frequency.clone().or_else(|| {
            let contract = lagoa_schemas::Contract::load(self.contract.as_deref()?).ok()?;
            contract.dataset.frequency.clone()
        })?;
        let days = lagoa_schemas::frequency_days(&frequency)?;
        Some(Duration::from_secs(u64::from(days) * 86_400))
    }

    pub fn dataset_name(&self) -> Result<DatasetName, DaemonError> {
        DatasetName::new(&self.dataset).map_err(|e| DaemonError::Config(e.to_string()))
    }

    /// Files, a drop folder or a prefix are listed anew on every run; a
    /// database or an API continues from its watermark.
    pub fn incremental(&self) -> bool {
        !matches!(self.source, SourceConfig::File(_))
    }
}

/// The `*.source.toml` files of `dir` (hidden ones left out), sorted.
pub(crate) fn source_paths(dir: &Path) -> Result<Vec<PathBuf>, DaemonError> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        DaemonError::Config(format!(
            "cannot list the sources folder {}: {}",
            dir.display(),
            e.kind()
        ))
    })?;
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(SOURCE_SUFFIX) && !n.starts_with('.'))
        })
        .collect();
    paths.sort();
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_with_jitter_in_the_upper_half() {
        let r = RetryConfig {
            attempts: 5,
            initial_backoff_seconds: 10.0,
            max_backoff_seconds: 60.0,
        };
        assert_eq!(r.backoff(1, 1.0), Duration::from_secs(10));
        assert_eq!(r.backoff(2, 1.0), Duration::from_secs(20));
        assert_eq!(r.backoff(3, 1.0), Duration::from_secs(40));
        assert_eq!(r.backoff(4, 1.0), Duration::from_secs(60));
        assert_eq!(r.backoff(4, 0.0), Duration::from_secs(30));
    }

    #[test]
    fn every_problem_of_a_source_file_is_listed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ruim.source.toml");
        std::fs::write(
            &path,
            r#"name = "ruim nome"
dataset = "obitos"
mode = "de-lado"
expected_frequency = "as vezes"
[schedule]
cron = "0 6 * *"
timezone = "Lua/Base"
[retry]
attempts = 0
[source]
type = "file"
path = "/srv/x.csv"
"#,
        )
        .unwrap();
        let err = SourceFile::load(&path).unwrap_err().to_string();
        for expected in [
            "ruim nome",
            "de-lado",
            "as vezes",
            "5 fields",
            "retry.attempts",
        ] {
            assert!(err.contains(expected), "{expected:?} in {err}");
        }
    }
}
