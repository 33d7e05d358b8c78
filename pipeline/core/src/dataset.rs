use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The name of a dataset as analysts write it in SQL (`obitos_recife`).
///
/// Lowercase ASCII letters, digits and underscores, starting with a letter,
/// at most 63 characters: a valid unquoted identifier in DataFusion and
/// PostgreSQL, and safe to use as an object-store path segment.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DatasetName(String);

#[derive(Debug, thiserror::Error)]
#[error(
    "invalid dataset name {name:?}: use lowercase letters, digits and '_', starting with a letter, at most 63 characters (for example obitos_recife)"
)]
pub struct InvalidDatasetName {
    pub name: String,
}

impl DatasetName {
    pub fn new(name: impl Into<String>) -> Result<Self, InvalidDatasetName> {
        let name = name.into();
        let mut chars = name.chars();
        let valid = name.len() <= 63
            && chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if valid {
            Ok(Self(name))
        } else {
            Err(InvalidDatasetName { name })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DatasetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for DatasetName {
    type Err = InvalidDatasetName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<String> for DatasetName {
    type Error = InvalidDatasetName;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl From<DatasetName> for String {
    fn from(d: DatasetName) -> String {
        d.0
    }
}

/// A lake-wide snapshot number. Snapshots are numbered in commit order
/// across all datasets (as in DuckLake), so one number pins the state of the
/// whole lake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SnapshotId(pub i64);

impl fmt::Display for SnapshotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataset_names_are_sql_and_path_safe() {
        assert!(DatasetName::new("obitos_recife").is_ok());
        assert!(DatasetName::new("sinasc2024").is_ok());
        for bad in [
            "",
            "1obitos",
            "Obitos",
            "obitos-recife",
            "../etc",
            "a b",
            &"a".repeat(64),
        ] {
            assert!(DatasetName::new(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
