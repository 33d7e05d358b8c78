//! Who is who in a data-sharing agreement: the role an institution plays
//! in it, and the role a principal (a person or a service account) has in
//! Lagoa. See `docs/access.md`.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What an institution is in the agreement (sharing model, section 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InstitutionRole {
    /// Delivers data (a municipality, a state secretariat).
    Provider,
    /// Reads data under the agreement.
    Consumer,
    /// Runs the agreement (the state data office).
    Coordinator,
}

/// What a principal may do in Lagoa.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages institutions, principals and tokens; may do what operators do.
    Admin,
    /// Decides categorisations, requests and grants for an institution.
    Steward,
    /// Runs and watches ingestion: triggers, pauses and resumes sources.
    Operator,
    /// Queries data under the sharing rules.
    Analyst,
}

#[derive(Debug, thiserror::Error)]
#[error("unknown {kind} {value:?}: expected {expected}")]
pub struct UnknownRole {
    pub kind: &'static str,
    pub value: String,
    pub expected: &'static str,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Steward, Role::Operator, Role::Analyst];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Steward => "steward",
            Role::Operator => "operator",
            Role::Analyst => "analyst",
        }
    }

    /// May trigger, pause and resume sources.
    pub fn operates(self) -> bool {
        matches!(self, Role::Admin | Role::Operator)
    }
}

impl InstitutionRole {
    pub fn as_str(self) -> &'static str {
        match self {
            InstitutionRole::Provider => "provider",
            InstitutionRole::Consumer => "consumer",
            InstitutionRole::Coordinator => "coordinator",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for InstitutionRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole {
                kind: "role",
                value: s.to_owned(),
                expected: "admin, steward, operator or analyst",
            })
    }
}

impl FromStr for InstitutionRole {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "provider" => Ok(InstitutionRole::Provider),
            "consumer" => Ok(InstitutionRole::Consumer),
            "coordinator" => Ok(InstitutionRole::Coordinator),
            other => Err(UnknownRole {
                kind: "institution role",
                value: other.to_owned(),
                expected: "provider, consumer or coordinator",
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_unknown_ones_are_named() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        let e = "superuser".parse::<Role>().unwrap_err().to_string();
        assert!(e.contains("superuser") && e.contains("analyst"), "{e}");
        assert!(Role::Operator.operates() && Role::Admin.operates());
        assert!(!Role::Analyst.operates() && !Role::Steward.operates());
        assert_eq!(
            "coordinator".parse::<InstitutionRole>().unwrap(),
            InstitutionRole::Coordinator
        );
        assert!("ministry".parse::<InstitutionRole>().is_err());
    }
}
