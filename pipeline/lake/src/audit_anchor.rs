//! The audit trail's anchor, outside the catalog.
//!
//! The trail is a hash chain in the catalog: an edit or a deletion in the
//! middle breaks it, but removing its newest entries leaves a shorter chain
//! that is still whole. So the head of the chain (sequence number and MAC)
//! is also written to the object store, at [`ANCHOR_PATH`], signed with the
//! audit key (itself wrapped by the key provider): someone who can write the
//! catalog database but not the store and the key cannot move it back.
//! `lagoa audit verify` compares the trail with its anchor: entries up to
//! the anchored one must all be there, the anchored one unchanged.
//!
//! The anchor only moves forward: it is replaced with a conditional write
//! (the version read), and never by an older head, so processes that write
//! it at once cannot take it back. A process writes it after an entry when
//! the last one it wrote is older than `audit.anchor_interval_seconds`, and
//! the daemon also pushes it to the alert webhook, a copy no one here holds.

use crate::catalog::{AuditKey, AuditRecord};
use crate::error::{LakeError, Result};
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, UpdateVersion};
use serde::{Deserialize, Serialize};

/// Where the anchor lives, under the lake's storage root.
pub const ANCHOR_PATH: &str = "audit/anchor.json";

/// A signed head of the trail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    pub seq: i64,
    /// The MAC of entry `seq`.
    pub mac: String,
    /// When the anchor was written (microseconds since the epoch).
    pub at: i64,
    /// HMAC of the three fields above with the audit key.
    pub tag: String,
}

impl Anchor {
    fn new(key: &AuditKey, seq: i64, mac: &str, at: i64) -> Self {
        Anchor {
            seq,
            mac: mac.to_owned(),
            at,
            tag: key.sign(&Self::message(seq, mac, at)),
        }
    }

    fn message(seq: i64, mac: &str, at: i64) -> Vec<u8> {
        format!("lagoa audit anchor\n{seq}\n{mac}\n{at}").into_bytes()
    }

    fn authentic(&self, key: &AuditKey) -> bool {
        key.sign(&Self::message(self.seq, &self.mac, self.at)) == self.tag
    }
}

/// The anchor in the store, if any.
pub async fn current(store: &dyn ObjectStore) -> Result<Option<Anchor>> {
    Ok(read(store).await?.map(|(anchor, _)| anchor))
}

/// The anchor as stored, with the version a conditional write replaces.
async fn read(store: &dyn ObjectStore) -> Result<Option<(Anchor, UpdateVersion)>> {
    let path = StorePath::from(ANCHOR_PATH);
    let got = match store.get(&path).await {
        Ok(got) => got,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(LakeError::store(ANCHOR_PATH)(e)),
    };
    let version = UpdateVersion {
        e_tag: got.meta.e_tag.clone(),
        version: got.meta.version.clone(),
    };
    let bytes = got.bytes().await.map_err(LakeError::store(ANCHOR_PATH))?;
    let anchor: Anchor = serde_json::from_slice(&bytes).map_err(|e| {
        LakeError::Invalid(format!("the audit anchor {ANCHOR_PATH} is not valid: {e}"))
    })?;
    Ok(Some((anchor, version)))
}

/// Moves the anchor to `head` unless it is already there or further;
/// returns the anchor written, if any.
pub async fn advance(
    store: &dyn ObjectStore,
    key: &AuditKey,
    head: &AuditRecord,
    now: i64,
) -> Result<Option<Anchor>> {
    let path = StorePath::from(ANCHOR_PATH);
    for _ in 0..5 {
        let current = read(store).await?;
        let mode = match &current {
            Some((anchor, _)) if anchor.seq >= head.seq => return Ok(None),
            Some((_, version)) => PutMode::Update(version.clone()),
            None => PutMode::Create,
        };
        let anchor = Anchor::new(key, head.seq, &head.mac, now);
        let body = serde_json::to_vec(&anchor)
            .map_err(|e| LakeError::Invalid(format!("encoding the audit anchor: {e}")))?;
        let put = |mode| {
            store.put_opts(
                &path,
                body.clone().into(),
                PutOptions {
                    mode,
                    ..Default::default()
                },
            )
        };
        let written = match put(mode).await {
            // A local directory has no conditional replace: overwrite after
            // the check above. Two processes racing may leave the older of
            // their two heads, never one older than what was read.
            Err(object_store::Error::NotImplemented { .. }) => put(PutMode::Overwrite).await,
            other => other,
        };
        match written {
            Ok(_) => return Ok(Some(anchor)),
            // Another process moved it meanwhile: read it again.
            Err(object_store::Error::Precondition { .. })
            | Err(object_store::Error::AlreadyExists { .. }) => continue,
            Err(e) => return Err(LakeError::store(ANCHOR_PATH)(e)),
        }
    }
    Ok(None)
}

/// What the anchor says of the trail: problems, and the anchor found.
pub async fn check(
    store: &dyn ObjectStore,
    key: &AuditKey,
    entries: u64,
    anchored: impl AsyncFnOnce(i64) -> Result<Option<AuditRecord>>,
) -> Result<(Vec<String>, Option<Anchor>)> {
    let Some((anchor, _)) = read(store).await? else {
        let problems = if entries > 0 {
            vec![format!(
                "the trail has {entries} entries but no anchor in the object store ({ANCHOR_PATH} was deleted, or the store is not this lake's)"
            )]
        } else {
            Vec::new()
        };
        return Ok((problems, None));
    };
    let mut problems = Vec::new();
    if !anchor.authentic(key) {
        problems.push(format!(
            "the anchor {ANCHOR_PATH} is not signed with this lake's audit key (forged or damaged)"
        ));
        return Ok((problems, Some(anchor)));
    }
    let at = crate::catalog::format_micros(anchor.at);
    match anchored(anchor.seq).await? {
        Some(r) if r.mac == anchor.mac => {}
        Some(_) => problems.push(format!(
            "entry {} is not the one anchored at {at} (its MAC changed: the trail was rewritten)",
            anchor.seq
        )),
        None => problems.push(format!(
            "the anchor written at {at} names entry {}, which is gone: the newest entries of the trail were deleted",
            anchor.seq
        )),
    }
    Ok((problems, Some(anchor)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::AuditEntry;
    use object_store::memory::InMemory;
    use zeroize::Zeroizing;

    fn record(seq: i64, mac: &str) -> AuditRecord {
        AuditRecord {
            seq,
            at: 0,
            entry: AuditEntry::default(),
            prev_mac: String::new(),
            mac: mac.to_owned(),
        }
    }

    #[tokio::test]
    async fn the_anchor_only_moves_forward_and_names_what_went_missing() {
        let store = InMemory::new();
        let key = AuditKey::new(Zeroizing::new(vec![7u8; 32]));
        assert!(
            advance(&store, &key, &record(3, "c"), 1)
                .await
                .unwrap()
                .is_some()
        );
        // An older head (a slower process) does not take it back.
        assert!(
            advance(&store, &key, &record(2, "b"), 2)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            advance(&store, &key, &record(5, "e"), 3)
                .await
                .unwrap()
                .is_some()
        );
        let trail = [record(4, "d"), record(5, "e")];
        let lookup = |trail: Vec<AuditRecord>| {
            async move |seq: i64| Ok(trail.into_iter().find(|r| r.seq == seq))
        };
        let (problems, anchor) = check(&store, &key, 5, lookup(trail.to_vec()))
            .await
            .unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(anchor.unwrap().seq, 5);
        // The head deleted, then rewritten.
        let (problems, _) = check(&store, &key, 4, lookup(vec![record(4, "d")]))
            .await
            .unwrap();
        assert!(
            problems[0].contains("names entry 5, which is gone"),
            "{problems:?}"
        );
        let (problems, _) = check(&store, &key, 5, lookup(vec![record(5, "x")]))
            .await
            .unwrap();
        assert!(problems[0].contains("its MAC changed"), "{problems:?}");
        // Another key did not sign it.
        let other = AuditKey::new(Zeroizing::new(vec![8u8; 32]));
        let (problems, _) = check(&store, &other, 5, lookup(trail.to_vec()))
            .await
            .unwrap();
        assert!(problems[0].contains("not signed"), "{problems:?}");
    }
}
