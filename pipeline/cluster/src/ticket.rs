//! Release tickets: what lets an executor release personal keys.
//!
//! The query service opens the reader's governed session, so it alone
//! knows which personal columns the reader's grants give in clear and
//! whether the session pseudonymises. It writes that into a ticket for the
//! one query, valid for a bounded time, authenticated with HMAC-SHA256
//! under the lake's `cluster_ticket` secret (32 random bytes kept in the
//! catalog wrapped by a master key, so only a process holding the lake's
//! keys can sign or check one). The scheduler never holds it: a plan
//! submitted straight to the scheduler carries no valid ticket, and its
//! executors read nothing for it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use ring::hmac;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// What one query may decrypt on the cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseTicket {
    /// The query it was issued for (for the executors' logs).
    pub query: String,
    /// Seconds since the epoch after which it releases nothing.
    pub expires_at: i64,
    /// The datasets the reader's session may read, each with the columns
    /// its view reads (hidden ones left out): a scan of another dataset,
    /// or one that reads or filters on another column, is refused.
    pub datasets: BTreeMap<String, BTreeSet<String>>,
    /// `(dataset, column)`: the personal columns it decrypts.
    pub released: BTreeSet<(String, String)>,
    /// Whether the query's session pseudonymises a column (the executors
    /// then compute pseudonyms with the lake's pseudonym key).
    pub pseudonyms: bool,
}

/// Why a ticket releases nothing.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TicketError {
    #[error("the plan carries no release ticket")]
    Missing,
    #[error("the release ticket is malformed")]
    Malformed,
    #[error("the release ticket was not issued by this lake's query service")]
    Forged,
    #[error("the release ticket of query {0} has expired")]
    Expired(String),
}

/// The key tickets are signed and checked with.
pub struct TicketKey(hmac::Key);

impl std::fmt::Debug for TicketKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TicketKey(..)")
    }
}

impl TicketKey {
    pub fn new(secret: &[u8]) -> Self {
        TicketKey(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    /// The ticket as it travels: `<base64 json>.<base64 tag>`.
    pub fn sign(&self, ticket: &ReleaseTicket) -> String {
        // Serialising these plain fields cannot fail.
        let body = serde_json::to_vec(ticket).unwrap_or_default();
        let tag = hmac::sign(&self.0, &body);
        format!("{}.{}", B64.encode(&body), B64.encode(tag.as_ref()))
    }

    /// The ticket `signed` stands for, if this key signed it and it is
    /// valid at `now` (seconds since the epoch).
    pub fn verify(&self, signed: Option<&str>, now: i64) -> Result<ReleaseTicket, TicketError> {
        let signed = signed.ok_or(TicketError::Missing)?;
        let (body, tag) = signed.split_once('.').ok_or(TicketError::Malformed)?;
        let body = B64.decode(body).map_err(|_| TicketError::Malformed)?;
        let tag = B64.decode(tag).map_err(|_| TicketError::Malformed)?;
        hmac::verify(&self.0, &body, &tag).map_err(|_| TicketError::Forged)?;
        let ticket: ReleaseTicket =
            serde_json::from_slice(&body).map_err(|_| TicketError::Malformed)?;
        if now > ticket.expires_at {
            return Err(TicketError::Expired(ticket.query));
        }
        Ok(ticket)
    }
}

/// Seconds since the epoch.
pub fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket() -> ReleaseTicket {
        ReleaseTicket {
            query: "q1".into(),
            expires_at: 1_000,
            datasets: [(
                "obitos".to_owned(),
                ["ano".to_owned(), "cpf".to_owned()].into(),
            )]
            .into(),
            released: [("obitos".to_owned(), "cpf".to_owned())].into(),
            pseudonyms: true,
        }
    }

    #[test]
    fn a_signed_ticket_verifies_until_it_expires() {
        let key = TicketKey::new(&[7u8; 32]);
        let signed = key.sign(&ticket());
        assert_eq!(key.verify(Some(&signed), 999), Ok(ticket()));
        assert_eq!(
            key.verify(Some(&signed), 1_001),
            Err(TicketError::Expired("q1".into()))
        );
    }

    #[test]
    fn a_ticket_from_another_key_or_altered_is_refused() {
        let key = TicketKey::new(&[7u8; 32]);
        let other = TicketKey::new(&[8u8; 32]);
        assert_eq!(
            key.verify(Some(&other.sign(&ticket())), 0),
            Err(TicketError::Forged)
        );
        // Widen what it releases, keep the tag.
        let signed = key.sign(&ticket());
        let (_, tag) = signed.split_once('.').expect("two parts");
        let mut wider = ticket();
        wider
            .released
            .insert(("obitos".to_owned(), "nome".to_owned()));
        let body = B64.encode(serde_json::to_vec(&wider).expect("json"));
        assert_eq!(
            key.verify(Some(&format!("{body}.{tag}")), 0),
            Err(TicketError::Forged)
        );
        assert_eq!(key.verify(None, 0), Err(TicketError::Missing));
        assert_eq!(key.verify(Some("no dot"), 0), Err(TicketError::Malformed));
        assert_eq!(key.verify(Some("!!.??"), 0), Err(TicketError::Malformed));
    }
}
