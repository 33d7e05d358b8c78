//! An indicator definition: a SQL file whose leading comment lines are its
//! header (`-- key: value`).
//!
//! ```sql
//! -- name: pre_natal_7_consultas
//! -- title: Nascidos vivos de mães com 7 ou mais consultas de pré-natal
//! -- description: ...
//! -- unit: % dos nascidos vivos
//! -- formula: ... (in words)
//! -- sources: sinasc_nascidos, ibge_populacao
//! -- trigger: after-sources            (or: cron 0 7 * * *)
//! -- min_cell: 5                       (0: no suppression)
//! -- protection: 5                     (optional, min_cell by default: how
//!                                       many values wide a withheld small
//!                                       count must stay to an attacker)
//! -- per: 100                          (valor = numerador ÷ denominador × per)
//! -- numerator: nascidos_vivos_7_consultas   (optional: what the counts are,
//! -- denominator: nascidos_vivos_${denominador}  named alike in every
//!                                       indicator that publishes them, so the
//!                                       attacker's audit links them; a sum
//!                                       `a + b` of names needs a column per
//!                                       name in the result, see `counts`)
//! -- proportion: yes                   (optional: the numerator counts a part
//!                                       of the denominator, never more; the
//!                                       audit knows it, as an attacker does)
//! -- period: 3                        (optional, 1 by default: each row
//!                                       published adds up this many years,
//!                                       the year it names and those before,
//!                                       as RIPSA's triennial rates of small
//!                                       municipalities do; see below)
//! -- param: denominador = todos (todos | informados): what it means
//! SELECT municipio, ano, numerador, denominador FROM ...
//! ```
//!
//! The query returns one row per municipality (7-digit IBGE code) and year
//! with two counts: `numerador` and `denominador`. Lagoa computes the value,
//! the state's total per year and the suppression of small cells, so every
//! indicator is published the same way. `${name}` in the SQL is replaced by
//! a parameter's value, which may hold only letters, digits, `_`, `-` and
//! `.` (and, when the header lists choices, must be one of them).
//!
//! With `-- period: N` the SQL still returns one row per municipality and
//! year; Lagoa publishes, for each year from the first the results hold
//! plus N − 1 to the last, each municipality's counts added up over that
//! year and the N − 1 before (years it has no row for count zero). The
//! windows of consecutive years overlap, and the attacker's audit knows it.

use std::collections::BTreeMap;
use std::path::Path;

/// When an indicator runs by itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// After any of its sources gets a new snapshot.
    AfterSources,
    /// On a cron schedule (5 fields, `America/Sao_Paulo`).
    Cron(String),
    /// Only when asked.
    Manual,
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trigger::AfterSources => f.write_str("after-sources"),
            Trigger::Cron(c) => write!(f, "cron {c}"),
            Trigger::Manual => f.write_str("manual"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub default: String,
    /// Empty: any safe value.
    pub choices: Vec<String>,
    pub description: String,
}

#[derive(Clone, Debug)]
pub struct Indicator {
    pub name: String,
    pub title: String,
    pub description: String,
    pub unit: String,
    pub formula: String,
    pub sources: Vec<String>,
    pub trigger: Trigger,
    /// Counts below this (and above zero) are suppressed; 0 turns
    /// suppression off.
    pub min_cell: u64,
    /// How many values wide the range an attacker can give a withheld
    /// small count must stay (`min_cell` unless the header says).
    pub protection: u64,
    pub per: f64,
    /// The name of the count its numerator is, shared with every
    /// indicator that publishes the same count (`${param}` allowed).
    pub numerator_count: Option<String>,
    /// The same for its denominator.
    pub denominator_count: Option<String>,
    /// Its numerator counts a part of what its denominator counts.
    pub proportion: bool,
    /// How many years each published row adds up (1: one year).
    pub period: i64,
    pub params: Vec<Param>,
    /// The whole file, header included.
    pub sql: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DefinitionError {
    #[error("{file}: {problems}")]
    Invalid { file: String, problems: String },
    #[error("indicator {indicator}: parameter {name}: {reason}")]
    Param {
        indicator: String,
        name: String,
        reason: String,
    },
}

/// The lake dataset an indicator's results go to.
pub fn results_dataset(indicator: &str) -> String {
    format!("ind_{indicator}")
}

/// Longest period a row may add up: a decade, as far back as deliveries
/// usually go.
pub const LONGEST_PERIOD: i64 = 10;

/// The `period` header: how many years each row adds up (1 when absent).
fn period(text: Option<String>, problems: &mut Vec<String>) -> i64 {
    let Some(text) = text else {
        return 1;
    };
    match text.parse::<i64>() {
        Ok(years) if (1..=LONGEST_PERIOD).contains(&years) => years,
        _ => {
            problems.push(format!(
                "period {text:?}: a whole number of years, 1 to {LONGEST_PERIOD}"
            ));
            1
        }
    }
}

fn safe_value(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 64
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

impl Indicator {
    /// Parses a definition; `file` names it in errors. Every problem of
    /// the header is reported at once.
    pub fn parse(file: &str, text: &str) -> Result<Self, DefinitionError> {
        let mut fields: BTreeMap<String, String> = BTreeMap::new();
        let mut params = Vec::new();
        let mut problems = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let Some(comment) = line.strip_prefix("--") else {
                break;
            };
            let Some((key, value)) = comment.split_once(':') else {
                continue;
            };
            let (key, value) = (key.trim().to_lowercase(), value.trim().to_owned());
            if key == "param" {
                match parse_param(&value) {
                    Ok(p) => params.push(p),
                    Err(e) => problems.push(format!("param {value:?}: {e}")),
                }
            } else if fields.insert(key.clone(), value).is_some() {
                problems.push(format!("{key} is given twice"));
            }
        }
        let mut take = |key: &str| -> String {
            fields.remove(key).unwrap_or_else(|| {
                problems.push(format!("the header has no {key}"));
                String::new()
            })
        };
        let name = take("name");
        let title = take("title");
        let description = take("description");
        let unit = take("unit");
        let formula = take("formula");
        let sources: Vec<String> = take("sources")
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        let trigger_text = take("trigger");
        let min_cell_text = take("min_cell");
        let per_text = take("per");
        // Optional: min_cell unless given.
        let protection_text = fields.remove("protection").unwrap_or_default();
        let proportion = match fields.remove("proportion").as_deref() {
            None | Some("no") => false,
            Some("yes") => true,
            Some(other) => {
                problems.push(format!(
                    "proportion {other:?}: yes (the numerator counts a part of the denominator) or no"
                ));
                false
            }
        };
        let period = period(fields.remove("period"), &mut problems);
        let numerator_count = fields.remove("numerator");
        let denominator_count = fields.remove("denominator");
        for (key, name) in [
            ("numerator", &numerator_count),
            ("denominator", &denominator_count),
        ] {
            if let Some(name) = name
                && let Err(e) = count_template(name, &params)
            {
                problems.push(format!("{key} {name:?}: {e}"));
            }
        }
        for unknown in fields.keys() {
            problems.push(format!(
                "unknown header key {unknown:?} (name, title, description, unit, formula, sources, trigger, min_cell, protection, per, numerator, denominator, proportion, period, param)"
            ));
        }
        if !name.is_empty()
            && !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            problems.push(format!(
                "name {name:?}: lowercase letters, digits and _ only"
            ));
        }
        if sources.is_empty() {
            problems.push("sources names no dataset".into());
        }
        let trigger = trigger(&trigger_text, &mut problems);
        let min_cell = min_cell_text.parse::<u64>().unwrap_or_else(|_| {
            if !min_cell_text.is_empty() {
                problems.push(format!(
                    "min_cell {min_cell_text:?}: a whole number (0 turns suppression off)"
                ));
            }
            0
        });
        let protection = if protection_text.is_empty() {
            min_cell
        } else {
            protection_text.parse::<u64>().unwrap_or_else(|_| {
                problems.push(format!(
                    "protection {protection_text:?}: a whole number of values"
                ));
                min_cell
            })
        };
        // Narrower, a withheld year's counts (0 … min_cell − 1 once the
        // total goes) would still be told small.
        if protection < min_cell {
            problems.push(format!(
                "protection {protection}: at least min_cell ({min_cell})"
            ));
        }
        let per = per_text.parse::<f64>().unwrap_or_else(|_| {
            if !per_text.is_empty() {
                problems.push(format!("per {per_text:?}: a number (100 for a percentage)"));
            }
            1.0
        });
        unused_params(text, &params, &mut problems);
        if !problems.is_empty() {
            return Err(DefinitionError::Invalid {
                file: file.to_owned(),
                problems: problems.join("; "),
            });
        }
        Ok(Indicator {
            name,
            title,
            description,
            unit,
            formula,
            sources,
            trigger,
            min_cell,
            protection,
            per,
            numerator_count,
            denominator_count,
            proportion,
            period,
            params,
            sql: text.to_owned(),
        })
    }

    pub fn load(path: &Path) -> Result<Self, DefinitionError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| DefinitionError::Invalid {
            file: file.clone(),
            problems: format!("cannot read it: {}", e.kind()),
        })?;
        Self::parse(&file, &text)
    }

    /// Every parameter's value: `given` over the defaults, each checked.
    pub fn parameters(
        &self,
        given: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, DefinitionError> {
        let err = |name: &str, reason: String| DefinitionError::Param {
            indicator: self.name.clone(),
            name: name.to_owned(),
            reason,
        };
        for name in given.keys() {
            if !self.params.iter().any(|p| &p.name == name) {
                let known: Vec<&str> = self.params.iter().map(|p| p.name.as_str()).collect();
                return Err(err(
                    name,
                    format!(
                        "not a parameter of it (its parameters: {})",
                        known.join(", ")
                    ),
                ));
            }
        }
        let mut out = BTreeMap::new();
        for p in &self.params {
            let value = given.get(&p.name).unwrap_or(&p.default);
            if !safe_value(value) {
                return Err(err(
                    &p.name,
                    "a value holds only letters, digits, _, - and .".into(),
                ));
            }
            if !p.choices.is_empty() && !p.choices.contains(value) {
                return Err(err(
                    &p.name,
                    format!("{value:?} is not one of {}", p.choices.join(", ")),
                ));
            }
            out.insert(p.name.clone(), value.clone());
        }
        Ok(out)
    }

    /// The SQL with the parameters' values in place.
    /// The names of the counts its numerator and denominator are, with
    /// `parameters` in them (lowercase, `-` and `.` as `_`).
    pub fn count_names(&self, parameters: &BTreeMap<String, String>) -> [Option<String>; 2] {
        [&self.numerator_count, &self.denominator_count].map(|template| {
            template.as_ref().map(|t| {
                let mut name = t.clone();
                for (param, value) in parameters {
                    let value = value.to_lowercase().replace(['-', '.'], "_");
                    name = name.replace(&format!("${{{param}}}"), &value);
                }
                super::counts::atoms_of(&name).join(" + ")
            })
        })
    }

    pub fn sql_with(&self, parameters: &BTreeMap<String, String>) -> String {
        let mut sql = self.sql.clone();
        for (name, value) in parameters {
            sql = sql.replace(&format!("${{{name}}}"), value);
        }
        sql
    }
}

/// `after-sources`, `manual` or `cron <5 fields>`.
fn trigger(text: &str, problems: &mut Vec<String>) -> Trigger {
    match text {
        "after-sources" => Trigger::AfterSources,
        "manual" => Trigger::Manual,
        t if t.starts_with("cron ") => {
            let expr = t["cron ".len()..].trim().to_owned();
            if expr.split_whitespace().count() != 5 {
                problems.push(format!("trigger {t:?}: a cron expression has 5 fields"));
            }
            Trigger::Cron(expr)
        }
        other => {
            if !other.is_empty() {
                problems.push(format!(
                    "trigger {other:?}: after-sources, manual or cron <5 fields>"
                ));
            }
            Trigger::Manual
        }
    }
}

/// Every parameter must be used in the query itself, not only in a
/// header's count name.
fn unused_params(text: &str, params: &[Param], problems: &mut Vec<String>) {
    let body: Vec<&str> = text
        .lines()
        .skip_while(|l| l.trim().is_empty() || l.trim_start().starts_with("--"))
        .collect();
    let body = body.join("\n");
    for p in params {
        if !body.contains(&format!("${{{}}}", p.name)) {
            problems.push(format!(
                "param {} is never used as ${{{}}} in the SQL",
                p.name, p.name
            ));
        }
    }
}

/// A count's name (lowercase letters, digits and `_`, with `${param}` of
/// the indicator's parameters), or a sum of different ones (`a + b`).
fn count_template(template: &str, params: &[Param]) -> Result<(), String> {
    let parts: Vec<&str> = template.split('+').map(str::trim).collect();
    for (i, part) in parts.iter().enumerate() {
        let mut rest = (*part).to_owned();
        for p in params {
            rest = rest.replace(&format!("${{{}}}", p.name), "");
        }
        if part.is_empty()
            || !rest
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err("a count's name (lowercase letters, digits and _, with ${param} of its parameters) or a sum of names (a + b)".into());
        }
        if parts[..i].contains(part) {
            return Err(format!("{part} is added twice"));
        }
    }
    Ok(())
}

/// `name = default (a | b | c): description`; choices and description optional.
fn parse_param(text: &str) -> Result<Param, String> {
    let (name, rest) = text
        .split_once('=')
        .ok_or("write it as name = default (choice | choice): description")?;
    let name = name.trim().to_owned();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("{name:?} is not a parameter name"));
    }
    let (value_part, description) = match rest.split_once("):") {
        Some((v, d)) => (format!("{v})"), d.trim().to_owned()),
        None => match rest.split_once(':') {
            Some((v, d)) => (v.to_owned(), d.trim().to_owned()),
            None => (rest.to_owned(), String::new()),
        },
    };
    let (default, choices) = match value_part.split_once('(') {
        Some((d, c)) => (
            d.trim().to_owned(),
            c.trim_end_matches(')')
                .split('|')
                .map(|x| x.trim().to_owned())
                .filter(|x| !x.is_empty())
                .collect::<Vec<_>>(),
        ),
        None => (value_part.trim().to_owned(), Vec::new()),
    };
    if !safe_value(&default) {
        return Err(format!(
            "default {default:?}: letters, digits, _, - and . only"
        ));
    }
    if !choices.is_empty() && !choices.contains(&default) {
        return Err(format!("default {default:?} is not one of its choices"));
    }
    Ok(Param {
        name,
        default,
        choices,
        description,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "-- name: prenatal\n-- title: T\n-- description: D\n-- unit: %\n-- formula: a / b\n-- sources: sinasc_nascidos, ibge_populacao\n-- trigger: after-sources\n-- min_cell: 5\n-- per: 100\n-- param: denominador = todos (todos | informados): which births\nSELECT '${denominador}' AS x\n";

    #[test]
    fn a_header_parses_and_parameters_are_checked() {
        let i = Indicator::parse("p.sql", GOOD).unwrap();
        assert_eq!(i.name, "prenatal");
        assert_eq!(i.sources, ["sinasc_nascidos", "ibge_populacao"]);
        assert_eq!((i.min_cell, i.protection, i.per), (5, 5, 100.0));
        let wider = GOOD.replace("-- per:", "-- protection: 20\n-- per:");
        assert_eq!(Indicator::parse("p.sql", &wider).unwrap().protection, 20);
        assert_eq!(i.period, 1);
        let triennial = GOOD.replace("-- per:", "-- period: 3\n-- per:");
        assert_eq!(Indicator::parse("p.sql", &triennial).unwrap().period, 3);
        let named = GOOD.replace(
            "-- per:",
            "-- numerator: nascidos_7_consultas\n-- denominator: nascidos_${denominador}\n-- per:",
        );
        let named = Indicator::parse("p.sql", &named).unwrap();
        let given = BTreeMap::from([("denominador".to_owned(), "informados".to_owned())]);
        assert_eq!(
            named.count_names(&named.parameters(&given).unwrap()),
            [
                Some("nascidos_7_consultas".to_owned()),
                Some("nascidos_informados".to_owned())
            ]
        );
        assert_eq!(i.count_names(&BTreeMap::new()), [None, None]);
        assert_eq!(i.trigger, Trigger::AfterSources);
        assert_eq!(i.params[0].choices, ["todos", "informados"]);
        assert_eq!(i.params[0].description, "which births");
        let p = i.parameters(&BTreeMap::new()).unwrap();
        assert!(i.sql_with(&p).contains("SELECT 'todos' AS x"));
        let given = BTreeMap::from([("denominador".to_owned(), "informados".to_owned())]);
        assert!(
            i.sql_with(&i.parameters(&given).unwrap())
                .contains("'informados'")
        );
        for (value, reason) in [("outros", "not one of"), ("x'; DROP", "only letters")] {
            let given = BTreeMap::from([("denominador".to_owned(), value.to_owned())]);
            let e = i.parameters(&given).unwrap_err().to_string();
            assert!(e.contains(reason), "{e}");
        }
        let given = BTreeMap::from([("ano".to_owned(), "2020".to_owned())]);
        assert!(
            i.parameters(&given)
                .unwrap_err()
                .to_string()
                .contains("not a parameter")
        );
    }

    #[test]
    fn a_count_may_be_a_sum_of_different_names() {
        let header = "-- name: p\n-- title: t\n-- description: d\n-- unit: u\n-- formula: f\n-- sources: s\n-- trigger: manual\n-- min_cell: 5\n-- per: 1000\n";
        let text = format!(
            "{header}-- numerator: obitos_fetais+obitos_neonatais_precoces\n-- denominator: nascidos_vivos_todos + obitos_fetais\nSELECT 1"
        );
        let i = Indicator::parse("p.sql", &text).unwrap();
        assert_eq!(
            i.count_names(&BTreeMap::new()),
            [
                Some("obitos_fetais + obitos_neonatais_precoces".to_owned()),
                Some("nascidos_vivos_todos + obitos_fetais".to_owned())
            ]
        );
        for bad in ["a + a", "a +", "a + B"] {
            let text = format!("{header}-- numerator: {bad}\nSELECT 1");
            let e = Indicator::parse("p.sql", &text).unwrap_err().to_string();
            assert!(e.contains(&format!("numerator {bad:?}")), "{bad}: {e}");
        }
    }

    #[test]
    fn every_problem_of_a_header_is_named() {
        let text = "-- name: Bad Name\n-- trigger: sometimes\n-- min_cell: few\n-- protection: wide\n-- numerator: Óbitos ${x}\n-- denominator: nascidos_${y}\n-- colour: blue\n-- period: 0\n-- param: x = 1\nSELECT 1";
        let e = Indicator::parse("bad.sql", text).unwrap_err().to_string();
        for part in [
            "bad.sql",
            "no title",
            "no sources",
            "trigger \"sometimes\"",
            "min_cell \"few\"",
            "protection \"wide\"",
            "numerator \"Óbitos ${x}\": a count's name",
            "denominator \"nascidos_${y}\": a count's name",
            "unknown header key \"colour\"",
            "period \"0\": a whole number of years, 1 to 10",
            "name \"Bad Name\"",
            "param x is never used",
        ] {
            assert!(e.contains(part), "{part}: {e}");
        }
    }

    #[test]
    fn the_indicators_shipped_with_lagoa_parse() {
        for (file, text) in super::super::BUILTIN {
            let i = Indicator::parse(file, text).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(format!("{}.sql", i.name), *file);
            assert!(i.per > 0.0);
        }
        assert!(super::super::BUILTIN.len() >= 6);
    }
}
