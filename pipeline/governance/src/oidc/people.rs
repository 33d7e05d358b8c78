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
use lagoa_lake::Lake;
use lagoa_lake::config::UnknownPeople;

/// The person a token stands for.
#[derive(Clone, Debug)]
pub struct Person {
    pub principal: Principal,
    /// Made a principal by this sign-in.
    pub created: bool,
    /// The keyed digest that links the person to the principal.
    pub digest: String,
}

impl Provider {
    /// The digest of the person `claims` name (the person claim must be
    /// a text: a number would lose a CPF's leading zero).
    pub fn person_digest(&self, claims: &Claims) -> Result<String, OidcError> {
        let claim = &self.config.person_claim;
        let value = claims
            .string(claim)
            .ok_or_else(|| OidcError::NoPersonClaim(claim.clone()))?;
        Ok(self.digest(claim, &value))
    }

    /// The principal `claims` stand for, signed in as `how`; a person
    /// not known yet is made one when the configuration says so and
    /// `may_create` (a sign-in at a network door, not a re-check).
    pub async fn person(
        &self,
        lake: &Lake,
        claims: &Claims,
        how: SignedIn,
        may_create: bool,
    ) -> Result<Person, OidcError> {
        let store = GovernanceStore::of(&lake.catalog);
        let catalog = |e: lagoa_lake::LakeError| OidcError::Catalog(e.to_string());
        let digest = self.person_digest(claims)?;
        let found = store.linked_principal(&digest).await.map_err(catalog)?;
        let (principal, created) = match found {
            Some(p) => (p, false),
            None if may_create && self.config.unknown_people == UnknownPeople::Create => {
                match self.create(lake, claims, &digest).await {
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
            digest,
        })
    }

    /// Makes the person a principal: added, linked and on the record, or
    /// none of it. The refusals' texts quote no claim's value (a name may
    /// be an e-mail address or a CPF).
    async fn create(
        &self,
        lake: &Lake,
        claims: &Claims,
        digest: &str,
    ) -> Result<Principal, OidcError> {
        let store = GovernanceStore::of(&lake.catalog);
        let not = |why: &str| OidcError::NotCreated(format!("not made a principal: {why}"));
        let name = claims
            .string(&self.config.name_claim)
            .ok_or_else(|| not("the token has no name claim"))?;
        let person = claims.string(&self.config.person_claim).unwrap_or_default();
        if name == person
            || name
                .chars()
                .all(|c| c.is_ascii_digit() || ".-/".contains(c))
        {
            return Err(not("the name claim's value looks like a personal number"));
        }
        let role = self
            .role_of(claims)
            .ok_or_else(|| not("none of the person's groups gives a role in oidc.roles"))?;
        let institution = claims
            .string(&self.config.institution_claim)
            .ok_or_else(|| not("the token has no institution claim"))?;
        let catalog = |e: lagoa_lake::LakeError| OidcError::Catalog(e.to_string());
        if store.principal(&name).await.map_err(catalog)?.is_some() {
            return Err(not(
                "the name claim's value is already a principal's, not linked to this person (an admin links them with `lagoa user link`)",
            ));
        }
        if store
            .institution(&institution)
            .await
            .map_err(catalog)?
            .is_none()
        {
            return Err(not(
                "the institution claim names no institution of the lake",
            ));
        }
        let principal = store
            .add_principal(&name, &institution, role, false)
            .await
            .map_err(|e| match e {
                lagoa_lake::LakeError::Invalid(_) => {
                    not("the name claim's value is not a valid principal name")
                }
                other => catalog(other),
            })?;
        let mut entry = principal.audit_entry("principal_added", &principal.name, "ok");
        entry.reason = Some(format!(
            "made on first sign-in through the identity provider, role {}",
            role.as_str()
        ));
        let recorded = match store
            .link_identity(&principal.name, digest, "first sign-in")
            .await
        {
            Ok(()) => lake.audit(&entry).await.map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = recorded {
            // Not on the record: not made either.
            if let Err(undo) = store
                .forget_new_principal(&principal.name, principal.created_at)
                .await
            {
                tracing::error!(error = %undo, principal = %principal.name, "a principal made on first sign-in could not be undone");
            }
            return Err(catalog(e));
        }
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
