//! Generalisation: a personal column served coarser instead of as a
//! pseudonym, when a pseudonym would hide nothing (a column of six race
//! codes has six pseudonyms, matched to their codes by frequency alone) or
//! when the exact value lets a person be found (a birth date).
//!
//! Written as `month`, `year` (dates and timestamps to the first day of
//! their month or year), `band:<n>` (numbers to the multiple of `n` below:
//! ages in bands of 5 or 10) and `prefix:<n>` (codes to their first `n`
//! characters: a municipality code to its state, a CID code to its group).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Generalisation {
    Month,
    Year,
    Band(u32),
    Prefix(u32),
}

#[derive(Debug, thiserror::Error)]
#[error(
    "{0:?} is not a generalisation: write month, year, band:<n> (numbers) or prefix:<n> (codes)"
)]
pub struct UnknownGeneralisation(pub String);

impl FromStr for Generalisation {
    type Err = UnknownGeneralisation;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let unknown = || UnknownGeneralisation(text.to_owned());
        let number = |n: &str| n.trim().parse::<u32>().ok().filter(|n| *n > 0);
        match text.trim().to_ascii_lowercase().as_str() {
            "month" => Ok(Generalisation::Month),
            "year" => Ok(Generalisation::Year),
            other => match other.split_once(':') {
                Some(("band", n)) => number(n).map(Generalisation::Band).ok_or_else(unknown),
                Some(("prefix", n)) => number(n).map(Generalisation::Prefix).ok_or_else(unknown),
                _ => Err(unknown()),
            },
        }
    }
}

impl fmt::Display for Generalisation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Generalisation::Month => f.write_str("month"),
            Generalisation::Year => f.write_str("year"),
            Generalisation::Band(n) => write!(f, "band:{n}"),
            Generalisation::Prefix(n) => write!(f, "prefix:{n}"),
        }
    }
}

impl Generalisation {
    /// Whether it applies to a column of this Arrow type (in its `Display`
    /// form, as the catalog keeps it); if not, what it applies to.
    pub fn fits(&self, data_type: &str) -> Result<(), &'static str> {
        let date = data_type.starts_with("Date") || data_type.starts_with("Timestamp");
        let number = data_type.starts_with("Int")
            || data_type.starts_with("UInt")
            || data_type.starts_with("Float")
            || data_type.starts_with("Decimal");
        let text = data_type.contains("Utf8");
        match self {
            Generalisation::Month | Generalisation::Year if date => Ok(()),
            Generalisation::Month | Generalisation::Year => Err("dates and timestamps"),
            Generalisation::Band(_) if number => Ok(()),
            Generalisation::Band(_) => Err("numbers"),
            Generalisation::Prefix(_) if text => Ok(()),
            Generalisation::Prefix(_) => Err("text columns (codes)"),
        }
    }
}

impl Serialize for Generalisation {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Generalisation {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_and_read_back() {
        for text in ["month", "year", "band:10", "prefix:2"] {
            let g: Generalisation = text.parse().unwrap();
            assert_eq!(g.to_string(), text);
        }
        for bad in ["week", "band:0", "band:x", "prefix", ""] {
            assert!(bad.parse::<Generalisation>().is_err(), "{bad}");
        }
        assert!(Generalisation::Month.fits("Date32").is_ok());
        assert!(Generalisation::Band(5).fits("Int64").is_ok());
        assert_eq!(Generalisation::Band(5).fits("Utf8"), Err("numbers"));
        assert!(Generalisation::Prefix(2).fits("Utf8View").is_ok());
    }
}
