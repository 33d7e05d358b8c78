//! `[oidc]`: signing in with the state's identity provider (OpenID
//! Connect: gov.br, a state's Keycloak). People sign in to the console
//! through the provider, and present the provider's access tokens (JWTs)
//! to the API and the PostgreSQL port; Lagoa's own tokens stay for
//! service accounts and the daemon.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What happens to a person the provider vouches for but the lake does
/// not know yet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownPeople {
    /// Refused (an admin links them first with `lagoa user link`).
    #[default]
    Refuse,
    /// Created on their first sign-in, with the role their groups map to.
    Create,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OidcConfig {
    /// The provider's issuer (`https://sso.estado.gov.br/realms/dados`);
    /// "" turns sign-in through a provider off. Plain `http://` only on
    /// loopback.
    pub issuer: String,
    /// The console's client at the provider.
    pub client_id: String,
    /// The environment variable holding the client's secret (a secret
    /// never sits in this file).
    pub client_secret_env: String,
    /// Where the provider sends the browser back: the console's public
    /// address followed by `/login/oidc/callback`.
    pub redirect_uri: String,
    /// Scopes asked for at sign-in, besides `openid`.
    pub scopes: Vec<String>,
    /// The audience an access token must name to be accepted on the API
    /// and the PostgreSQL port: the API's, never the console's client id
    /// (the console's ID tokens name that one).
    pub audience: String,
    /// The `typ` header an access token must carry: RFC 9068's `at+jwt`;
    /// Keycloak writes `JWT` (then add it here).
    pub access_token_types: Vec<String>,
    /// When not empty: the clients (`azp` or `client_id` claim) whose
    /// access tokens are accepted; a token another application obtained
    /// for the same audience is refused.
    pub authorized_parties: Vec<String>,
    /// Signature algorithms accepted (asymmetric only: RS256, RS384,
    /// RS512, PS256, PS384, PS512, ES256, ES384, EdDSA).
    pub algorithms: Vec<String>,
    /// The claim that identifies a person: `sub`, or one such as `cpf`.
    /// Only a keyed digest of its value is kept in the catalog.
    pub person_claim: String,
    /// A person the lake does not know: `refuse` (the default) or `create`.
    pub unknown_people: UnknownPeople,
    /// When a person is created: the claim whose value names the principal.
    pub name_claim: String,
    /// The claim listing the person's groups or roles.
    pub roles_claim: String,
    /// Group (a value of `roles_claim`) to Lagoa role (`analyst`,
    /// `operator`, `steward`, `admin`); a person created on first sign-in
    /// gets the highest role their groups map to, and none is refused.
    pub roles: BTreeMap<String, String>,
    /// Let `[oidc.roles]` map a group to `steward` (a steward decides who
    /// reads the institution's data: whoever manages that group at the
    /// provider would then decide it too).
    pub groups_make_stewards: bool,
    /// The claim naming the person's institution (one the lake knows),
    /// for people created on first sign-in.
    pub institution_claim: String,
    /// A console session signed in through the provider lasts this long.
    pub session_minutes: u64,
    /// A PostgreSQL connection signed in with an access token lasts this
    /// long at most (its statements re-check all but the token's expiry).
    pub connection_minutes: u64,
    /// Clock difference tolerated on a token's times (seconds).
    pub leeway_seconds: u64,
    /// The provider's signing keys are fetched again after this long (an
    /// unknown key id fetches them at once, at most every 10 s).
    pub keys_max_age_seconds: u64,
    /// A PEM file of CA certificates to trust for the provider (a state's
    /// own CA), besides the system's.
    pub ca_file: String,
}

impl Default for OidcConfig {
    fn default() -> Self {
        Self {
            issuer: String::new(),
            client_id: String::new(),
            client_secret_env: "LAGOA_OIDC_CLIENT_SECRET".into(),
            redirect_uri: String::new(),
            scopes: vec!["profile".into(), "email".into()],
            audience: String::new(),
            access_token_types: vec!["at+jwt".into(), "application/at+jwt".into()],
            authorized_parties: Vec::new(),
            algorithms: vec!["RS256".into(), "PS256".into(), "ES256".into()],
            person_claim: "sub".into(),
            unknown_people: UnknownPeople::Refuse,
            name_claim: "preferred_username".into(),
            roles_claim: "groups".into(),
            roles: BTreeMap::new(),
            groups_make_stewards: false,
            institution_claim: "institution".into(),
            session_minutes: 480,
            connection_minutes: 60,
            leeway_seconds: 30,
            keys_max_age_seconds: 3600,
            ca_file: String::new(),
        }
    }
}

/// The algorithms a provider's token may be signed with.
pub const ASYMMETRIC_ALGORITHMS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

impl OidcConfig {
    /// Whether sign-in through a provider is configured.
    pub fn enabled(&self) -> bool {
        !self.issuer.trim().is_empty()
    }

    /// Whether the console offers sign-in through the provider.
    pub fn console_enabled(&self) -> bool {
        self.enabled() && !self.redirect_uri.is_empty()
    }

    pub(super) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !self.enabled() {
            return problems;
        }
        if let Err(e) = check_provider_url("oidc.issuer", &self.issuer) {
            problems.push(e);
        }
        if self.client_id.is_empty() {
            problems
                .push("oidc.client_id is empty: name the console's client at the provider".into());
        }
        if self.audience.is_empty() || self.audience == self.client_id {
            problems.push(
                "oidc.audience must name the API's audience at the provider, not the console's client id (its ID tokens carry that one)"
                    .into(),
            );
        }
        if self.access_token_types.is_empty() {
            problems.push("oidc.access_token_types is empty (RFC 9068: \"at+jwt\")".into());
        }
        if !self.redirect_uri.is_empty()
            && let Err(e) = check_provider_url("oidc.redirect_uri", &self.redirect_uri)
        {
            problems.push(e);
        }
        if !self.redirect_uri.is_empty() && !self.redirect_uri.ends_with("/login/oidc/callback") {
            problems.push(format!(
                "oidc.redirect_uri {:?} must be the console's address followed by /login/oidc/callback",
                self.redirect_uri
            ));
        }
        if self.algorithms.is_empty() {
            problems.push("oidc.algorithms is empty".into());
        }
        for alg in &self.algorithms {
            if !ASYMMETRIC_ALGORITHMS.contains(&alg.as_str()) {
                problems.push(format!(
                    "oidc.algorithms: {alg:?} is not accepted (one of {})",
                    ASYMMETRIC_ALGORITHMS.join(", ")
                ));
            }
        }
        for (group, role) in &self.roles {
            match role.parse::<lagoa_core::Role>() {
                Ok(lagoa_core::Role::Admin) => problems.push(format!(
                    "oidc.roles: group {group:?} maps to admin: whoever manages that group at the provider would make lake admins; add admins with `lagoa user add`"
                )),
                Ok(lagoa_core::Role::Steward) if !self.groups_make_stewards => {
                    problems.push(format!(
                        "oidc.roles: group {group:?} maps to steward: set oidc.groups_make_stewards = true if the provider's group managers may make stewards"
                    ))
                }
                Ok(_) => {}
                Err(_) => problems.push(format!(
                    "oidc.roles: group {group:?} maps to {role:?}, not a role (analyst, operator, steward)"
                )),
            }
        }
        if self.unknown_people == UnknownPeople::Create && self.name_claim == self.person_claim {
            problems.push(format!(
                "oidc.name_claim {:?} is the person claim: its value would become a principal's name in clear",
                self.name_claim
            ));
        }
        if self.unknown_people == UnknownPeople::Create && self.roles.is_empty() {
            problems.push(
                "oidc.unknown_people = \"create\" needs oidc.roles: the groups that give a role"
                    .into(),
            );
        }
        if self.person_claim.is_empty() {
            problems.push("oidc.person_claim is empty".into());
        }
        if !(1..=7 * 24 * 60).contains(&self.session_minutes) {
            problems.push("oidc.session_minutes must be from 1 to 10080 (a week)".into());
        }
        if !(1..=24 * 60).contains(&self.connection_minutes) {
            problems.push("oidc.connection_minutes must be from 1 to 1440 (a day)".into());
        }
        // A plain `JWT` typ is what ID tokens carry too: then only the
        // issuing client tells an access token apart.
        if self
            .access_token_types
            .iter()
            .any(|t| t.eq_ignore_ascii_case("JWT"))
            && self.authorized_parties.is_empty()
        {
            problems.push(
                "oidc.access_token_types accepts \"JWT\" (as Keycloak writes it): name the clients whose access tokens are accepted in oidc.authorized_parties".into(),
            );
        }
        if self.leeway_seconds > 300 {
            problems.push("oidc.leeway_seconds must be at most 300".into());
        }
        if !(60..=86_400).contains(&self.keys_max_age_seconds) {
            problems.push("oidc.keys_max_age_seconds must be from 60 to 86400".into());
        }
        problems
    }
}

/// An `https://` URL, or `http://` to a loopback host.
pub fn check_provider_url(name: &str, value: &str) -> Result<(), String> {
    let url = url::Url::parse(value).map_err(|e| format!("{name} {value:?}: {e}"))?;
    match url.scheme() {
        "https" => Ok(()),
        "http" if matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")) => Ok(()),
        _ => Err(format!(
            "{name} {value:?}: must be https:// (plain http only on loopback)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_provider_is_checked_before_anyone_signs_in() {
        let off = OidcConfig::default();
        assert!(off.problems().is_empty());
        let good = OidcConfig {
            issuer: "https://sso.example.gov.br/realms/dados".into(),
            client_id: "lagoa-console".into(),
            audience: "lagoa".into(),
            roles: [("analistas".to_string(), "analyst".to_string())].into(),
            unknown_people: UnknownPeople::Create,
            ..Default::default()
        };
        assert!(good.problems().is_empty(), "{:?}", good.problems());
        let bad = OidcConfig {
            issuer: "http://sso.example.gov.br".into(),
            algorithms: vec!["HS256".into(), "none".into()],
            roles: [
                ("x".to_string(), "king".to_string()),
                ("y".to_string(), "admin".to_string()),
                ("z".to_string(), "steward".to_string()),
            ]
            .into(),
            redirect_uri: "https://lagoa.example/callback".into(),
            leeway_seconds: 100_000,
            session_minutes: 0,
            unknown_people: UnknownPeople::Create,
            name_claim: "cpf".into(),
            person_claim: "cpf".into(),
            ..Default::default()
        };
        let problems = bad.problems().join("\n");
        for expected in [
            "must be https://",
            "client_id is empty",
            "\"HS256\" is not accepted",
            "\"none\" is not accepted",
            "\"king\", not a role",
            "maps to admin",
            "maps to steward: set oidc.groups_make_stewards",
            "/login/oidc/callback",
            "oidc.audience must name",
            "leeway_seconds",
            "session_minutes",
            "would become a principal's name",
        ] {
            assert!(problems.contains(expected), "{expected} in {problems}");
        }
        let loopback = OidcConfig {
            issuer: "http://127.0.0.1:9000".into(),
            client_id: "lagoa-console".into(),
            audience: "lagoa".into(),
            ..Default::default()
        };
        assert!(loopback.problems().is_empty());
    }

    #[test]
    fn the_documented_section_parses_back_with_its_roles() {
        let oidc = OidcConfig {
            issuer: "https://sso.example.gov.br/realms/dados".into(),
            client_id: "lagoa-console".into(),
            audience: "lagoa".into(),
            unknown_people: UnknownPeople::Create,
            roles: [
                ("lagoa-analistas".to_string(), "analyst".to_string()),
                ("lagoa-operadores".to_string(), "operator".to_string()),
            ]
            .into(),
            ..Default::default()
        };
        let config = crate::config::LakeConfig {
            oidc,
            ..Default::default()
        };
        let text = crate::config::render_documented(&config);
        let back = crate::config::LakeConfig::from_toml_with_env(&text, []).unwrap();
        assert_eq!(back.oidc.roles, config.oidc.roles);
        assert_eq!(back.oidc.unknown_people, UnknownPeople::Create);
        assert_eq!(back.oidc.issuer, config.oidc.issuer);
    }
}
