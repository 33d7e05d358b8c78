//! Who a checked token is. A person is found by the keyed digest of the
//! configured person claim (`sub`, or a CPF claim) among the links of the
//! catalog; a person not linked is refused, or, when
//! `oidc.unknown_people = "create"`, made a principal on their first
//! sign-in: named by `name_claim`, in the institution `institution_claim`
//! names, with the highest role their groups map to. A name that is
//! already a principal's is never taken over: an admin links it.

use super::{Claims, OidcError, Provider};
use crate::store::{GovernanceStore, Principal, SignedIn};
use lagoa_core::Role;
use lagoa_lake::config::UnknownPeople;

/// The person a token stands for.
#[derive(Clone, Debug)]
pub struct Person {
    pub principal: Principal,
    /// Made a principal by this sign-in.
    pub created: bool,
}

impl Provider {
    /// The principal `claims` stand for, signed in as `how`.
    pub async fn person(
        &self,
        store: GovernanceStore<'_>,
        claims: &Claims,
        how: SignedIn,
    ) -> Result<Person, OidcError> {
        let catalog = |e: lagoa_lake::LakeError| OidcError::Catalog(e.to_string());
        let claim = &self.config.person_claim;
        let value = claims
            .text(claim)
            .ok_or_else(|| OidcError::NoPersonClaim(claim.clone()))?;
        let digest = self.digest(claim, &value);
        let found = store.linked_principal(&digest).await.map_err(catalog)?;
        let (principal, created) = match found {
            Some(p) => (p, false),
            None if self.config.unknown_people == UnknownPeople::Create => {
                match self.create(store, claims, &digest).await {
                    Ok(p) => (p, true),
                    // Two first sign-ins at once: the other one made it.
                    Err(e) => match store.linked_principal(&digest).await.map_err(catalog)? {
                        Some(p) => (p, false),
                        None => return Err(e),
                    },
                }
            }
            None => return Err(OidcError::UnknownPerson(digest[..12].to_owned())),
        };
        if principal.disabled_at.is_some() {
            return Err(OidcError::Disabled(principal.name));
        }
        Ok(Person {
            principal: Principal {
                signed_in: Some(how),
                ..principal
            },
            created,
        })
    }

    async fn create(
        &self,
        store: GovernanceStore<'_>,
        claims: &Claims,
        digest: &str,
    ) -> Result<Principal, OidcError> {
        let not = |why: String| OidcError::NotCreated(format!("not made a principal: {why}"));
        let name = claims
            .text(&self.config.name_claim)
            .ok_or_else(|| not(format!("the token has no {} claim", self.config.name_claim)))?;
        let role = self
            .role_of(claims)
            .ok_or_else(|| not("none of the person's groups gives a role in oidc.roles".into()))?;
        let institution = claims.text(&self.config.institution_claim).ok_or_else(|| {
            not(format!(
                "the token has no {} claim",
                self.config.institution_claim
            ))
        })?;
        let catalog = |e: lagoa_lake::LakeError| OidcError::Catalog(e.to_string());
        if store.principal(&name).await.map_err(catalog)?.is_some() {
            return Err(not(format!(
                "principal {name} exists already and is not linked to this person (an admin links them with `lagoa user link`)"
            )));
        }
        let principal = store
            .add_principal(&name, &institution, role, false)
            .await
            .map_err(|e| match e {
                lagoa_lake::LakeError::Invalid(why) => not(why),
                other => catalog(other),
            })?;
        store
            .link_identity(&principal.name, digest, "first sign-in")
            .await
            .map_err(catalog)?;
        Ok(principal)
    }

    /// The highest role the person's groups map to.
    fn role_of(&self, claims: &Claims) -> Option<Role> {
        claims
            .texts(&self.config.roles_claim)
            .iter()
            .filter_map(|group| self.config.roles.get(group))
            .filter_map(|role| role.parse::<Role>().ok())
            .min_by_key(|role| Role::ALL.iter().position(|r| r == role))
    }
}
