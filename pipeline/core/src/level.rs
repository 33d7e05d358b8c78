use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The sharing level of a dataset, in the words of the state decrees
/// (Pernambuco Decreto 50.474/2021). The Portuguese terms are kept on purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SharingLevel {
    /// Public: any authenticated consumer; may be published as open data.
    Amplo,
    /// Readable by consumers of the participating institutions.
    Corporativo,
    /// Secret or personal: only through an individual grant with a purpose.
    Especial,
}

#[derive(Debug, thiserror::Error)]
#[error("unknown sharing level {0:?}: expected amplo, corporativo or especial")]
pub struct UnknownLevel(pub String);

impl SharingLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            SharingLevel::Amplo => "amplo",
            SharingLevel::Corporativo => "corporativo",
            SharingLevel::Especial => "especial",
        }
    }
}

impl fmt::Display for SharingLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SharingLevel {
    type Err = UnknownLevel;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "amplo" => Ok(SharingLevel::Amplo),
            "corporativo" => Ok(SharingLevel::Corporativo),
            "especial" => Ok(SharingLevel::Especial),
            other => Err(UnknownLevel(other.to_owned())),
        }
    }
}

/// Marks a column as personal data (LGPD art. 5 I) or sensitive personal
/// data (art. 5 II: health, race, ...). Such columns are encrypted under
/// their own column key and never get statistics in clear.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PersonalTag {
    Pessoal,
    Sensivel,
}

impl PersonalTag {
    pub fn as_str(self) -> &'static str {
        match self {
            PersonalTag::Pessoal => "pessoal",
            PersonalTag::Sensivel => "sensivel",
        }
    }
}

impl FromStr for PersonalTag {
    type Err = UnknownLevel;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pessoal" => Ok(PersonalTag::Pessoal),
            "sensivel" => Ok(PersonalTag::Sensivel),
            other => Err(UnknownLevel(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_round_trip_in_portuguese() {
        for level in [
            SharingLevel::Amplo,
            SharingLevel::Corporativo,
            SharingLevel::Especial,
        ] {
            assert_eq!(level.as_str().parse::<SharingLevel>().unwrap(), level);
        }
        assert!("public".parse::<SharingLevel>().is_err());
    }
}
