//! The raw zone: the original bytes of every delivery, kept encrypted, so a
//! run can be replayed and nothing delivered is ever lost, even when the
//! delivery is rejected.
//!
//! Objects live at `raw/<dataset>/<yyyy>/<mm>/<uuidv7>.raw` and are
//! encrypted in chunks with AES-256-GCM so that files of any size stream in
//! bounded memory. Format, version 1:
//!
//! ```text
//! "LAGOARAW" | version: u8 = 1 | header length: u32 LE | header (JSON)
//! chunk*: ciphertext length: u32 LE | nonce (12) | ciphertext || tag (16)
//! ```
//!
//! The header names the master key and holds the object's data key wrapped
//! under it (the dataset's `pessoal` key: a delivery may hold anything).
//! Each chunk's AAD is the object path, the chunk's index and whether it is
//! the last one, so chunks cannot be reordered, dropped, moved to another
//! object, or the object truncated without the read failing.

use crate::error::{LakeError, Result};
use crate::keys::KeyProvider;
use crate::upload::UploadSink;
use futures::StreamExt;
use lagoa_core::DatasetName;
use object_store::ObjectStore;
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::sync::Arc;
use tokio::runtime::Handle;
use zeroize::Zeroizing;

const MAGIC: &[u8; 8] = b"LAGOARAW";
const VERSION: u8 = 1;
const TAG_LEN: usize = 16;
pub const DEFAULT_CHUNK: usize = 1 << 20;

#[derive(Serialize, Deserialize)]
struct Header {
    master_key_id: String,
    wrapped_key: String,
    chunk_size: usize,
}

fn chunk_aad(path: &ObjectPath, index: u64, last: bool) -> Vec<u8> {
    let mut aad = format!("lagoa-raw:v1:{path}").into_bytes();
    aad.extend_from_slice(&index.to_le_bytes());
    aad.push(last as u8);
    aad
}

/// What was kept.
#[derive(Clone, Debug)]
pub struct RawObject {
    pub path: String,
    /// Bytes as delivered.
    pub size_bytes: u64,
    /// Bytes on the store (encrypted, with framing).
    pub stored_bytes: u64,
    /// SHA-256 of the stored bytes (`sha256:<hex>`); empty for an object
    /// recorded before digests were.
    pub sha256: String,
}

/// Encrypts a delivery into the raw zone as it is read. Synchronous: use it
/// on a blocking thread.
pub struct RawWriter {
    sink: UploadSink,
    key: LessSafeKey,
    path: ObjectPath,
    chunk_size: usize,
    pending: Vec<u8>,
    index: u64,
    size: u64,
    rng: SystemRandom,
}

impl RawWriter {
    pub fn create(
        store: Arc<dyn ObjectStore>,
        keys: &Arc<dyn KeyProvider>,
        dataset: &DatasetName,
        handle: Handle,
        chunk_size: usize,
    ) -> Result<Self> {
        Self::create_in("raw", store, keys, dataset, handle, chunk_size)
    }

    /// An encrypted object under `<zone>/<dataset>/` (`raw`, `quarantine`).
    pub fn create_in(
        zone: &str,
        store: Arc<dyn ObjectStore>,
        keys: &Arc<dyn KeyProvider>,
        dataset: &DatasetName,
        handle: Handle,
        chunk_size: usize,
    ) -> Result<Self> {
        let now = chrono::Utc::now();
        let path = ObjectPath::from(format!(
            "{zone}/{dataset}/{}/{}.raw",
            now.format("%Y/%m"),
            uuid::Uuid::now_v7()
        ));
        let rng = SystemRandom::new();
        let mut data_key = Zeroizing::new([0u8; 32]);
        rng.fill(data_key.as_mut())
            .map_err(|_| LakeError::Keys("system random generator failed".into()))?;
        let master_key_id = keys.current_keys(dataset)?.personal;
        let wrapped_key = keys.wrap(data_key.as_ref(), &master_key_id)?;
        let key = LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, data_key.as_ref())
                .map_err(|_| LakeError::Keys("bad raw key".into()))?,
        );
        let header = serde_json::to_vec(&Header {
            master_key_id,
            wrapped_key,
            chunk_size,
        })
        .map_err(|e| LakeError::Invalid(format!("raw header: {e}")))?;
        let mut sink = UploadSink::new(store, path.clone(), handle);
        let io = LakeError::io(format!("writing {path}"));
        let mut preamble = Vec::with_capacity(13 + header.len());
        preamble.extend_from_slice(MAGIC);
        preamble.push(VERSION);
        preamble.extend_from_slice(&(header.len() as u32).to_le_bytes());
        preamble.extend_from_slice(&header);
        sink.write_all(&preamble).map_err(io)?;
        Ok(Self {
            sink,
            key,
            path,
            chunk_size: chunk_size.max(1),
            pending: Vec::with_capacity(chunk_size * 2),
            index: 0,
            size: 0,
            rng,
        })
    }

    pub fn path(&self) -> &ObjectPath {
        &self.path
    }

    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        self.size += data.len() as u64;
        self.pending.extend_from_slice(data);
        // Keep one chunk back: only at `finish` do we know which is last.
        while self.pending.len() > self.chunk_size {
            let rest = self.pending.split_off(self.chunk_size);
            let chunk = std::mem::replace(&mut self.pending, rest);
            self.seal(chunk, false)?;
        }
        Ok(())
    }

    fn seal(&mut self, mut chunk: Vec<u8>, last: bool) -> Result<()> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| LakeError::Keys("system random generator failed".into()))?;
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(chunk_aad(&self.path, self.index, last)),
                &mut chunk,
            )
            .map_err(|_| LakeError::Encryption {
                path: self.path.to_string(),
                message: "sealing a chunk failed".into(),
            })?;
        let mut frame = [0u8; 4 + NONCE_LEN];
        frame[..4].copy_from_slice(&(chunk.len() as u32).to_le_bytes());
        frame[4..].copy_from_slice(&nonce);
        self.sink
            .write_all(&frame)
            .and_then(|()| self.sink.write_all(&chunk))
            .map_err(LakeError::io(format!("writing {}", self.path)))?;
        self.index += 1;
        Ok(())
    }

    pub fn finish(mut self) -> Result<RawObject> {
        let last = std::mem::take(&mut self.pending);
        self.seal(last, true)?;
        let (stored, sha256) = self
            .sink
            .complete()
            .map_err(LakeError::io(format!("uploading {}", self.path)))?;
        Ok(RawObject {
            path: self.path.to_string(),
            size_bytes: self.size,
            stored_bytes: stored,
            sha256,
        })
    }

    pub fn abort(self) {
        self.sink.abort();
    }
}

/// Streams the decrypted bytes of a raw object into `out`, chunk by chunk;
/// fails on any tampering, reordering or truncation.
pub async fn read_raw(
    store: &Arc<dyn ObjectStore>,
    keys: &Arc<dyn KeyProvider>,
    path: &str,
    out: &mut (dyn Write + Send),
) -> Result<u64> {
    read_raw_counting(store, keys, path, out, &mut None).await
}

/// The bytes of a raw object as stored: how many, and their SHA-256.
#[derive(Default, Debug)]
pub struct StoredBytes {
    pub size: u64,
    hasher: Sha256,
}

impl StoredBytes {
    /// `sha256:<hex>`, as recorded when the object was written.
    pub fn sha256(self) -> String {
        format!("sha256:{}", hex::encode(self.hasher.finalize()))
    }
}

/// Reads a raw object once, authenticating every chunk and counting and
/// hashing the stored bytes on the way (`lagoa check --deep`).
pub async fn verify_raw(
    store: &Arc<dyn ObjectStore>,
    keys: &Arc<dyn KeyProvider>,
    path: &str,
) -> Result<StoredBytes> {
    let mut stored = Some(StoredBytes::default());
    read_raw_counting(store, keys, path, &mut std::io::sink(), &mut stored).await?;
    Ok(stored.unwrap_or_default())
}

async fn read_raw_counting(
    store: &Arc<dyn ObjectStore>,
    keys: &Arc<dyn KeyProvider>,
    path: &str,
    out: &mut (dyn Write + Send),
    stored: &mut Option<StoredBytes>,
) -> Result<u64> {
    let location = ObjectPath::from(path);
    let corrupt = |what: &str| LakeError::Encryption {
        path: path.to_owned(),
        message: format!("raw object is corrupt or tampered with: {what}"),
    };
    let stream = store
        .get(&location)
        .await
        .map_err(LakeError::store(path))?
        .into_stream();
    let mut buf: Vec<u8> = Vec::new();
    let mut eof = false;
    // Fills `buf` to at least `n` bytes unless the object ends first.
    let mut stream = stream.map(|bytes| {
        if let (Ok(bytes), Some(stored)) = (&bytes, stored.as_mut()) {
            stored.size += bytes.len() as u64;
            stored.hasher.update(bytes);
        }
        bytes
    });
    async fn fill(
        stream: &mut (impl futures::Stream<Item = object_store::Result<bytes::Bytes>> + Unpin),
        buf: &mut Vec<u8>,
        n: usize,
        eof: &mut bool,
        path: &str,
    ) -> Result<()> {
        while buf.len() < n && !*eof {
            match stream.next().await {
                Some(bytes) => buf.extend_from_slice(&bytes.map_err(LakeError::store(path))?),
                None => *eof = true,
            }
        }
        Ok(())
    }

    fill(&mut stream, &mut buf, 13, &mut eof, path).await?;
    if buf.len() < 13 || &buf[..8] != MAGIC || buf[8] != VERSION {
        return Err(corrupt("bad preamble"));
    }
    let header_len = u32::from_le_bytes(buf[9..13].try_into().expect("4 bytes")) as usize;
    fill(&mut stream, &mut buf, 13 + header_len, &mut eof, path).await?;
    let header: Header = serde_json::from_slice(
        buf.get(13..13 + header_len)
            .ok_or_else(|| corrupt("short header"))?,
    )
    .map_err(|_| corrupt("bad header"))?;
    buf.drain(..13 + header_len);
    let data_key = keys.unwrap(&header.wrapped_key, &header.master_key_id)?;
    let key = LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, &data_key).map_err(|_| corrupt("bad key length"))?,
    );

    let mut index = 0u64;
    let mut total = 0u64;
    loop {
        fill(&mut stream, &mut buf, 4 + NONCE_LEN, &mut eof, path).await?;
        if buf.is_empty() && eof {
            return Err(corrupt("the last chunk is missing (truncated)"));
        }
        if buf.len() < 4 + NONCE_LEN {
            return Err(corrupt("truncated chunk frame"));
        }
        let len = u32::from_le_bytes(buf[..4].try_into().expect("4 bytes")) as usize;
        if len < TAG_LEN || len > header.chunk_size + TAG_LEN {
            return Err(corrupt("bad chunk length"));
        }
        let frame = 4 + NONCE_LEN + len;
        fill(&mut stream, &mut buf, frame, &mut eof, path).await?;
        if buf.len() < frame {
            return Err(corrupt("truncated chunk"));
        }
        // A chunk is the last exactly when nothing follows it.
        fill(&mut stream, &mut buf, frame + 1, &mut eof, path).await?;
        let last = buf.len() == frame;
        let nonce = Nonce::try_assume_unique_for_key(&buf[4..4 + NONCE_LEN])
            .map_err(|_| corrupt("bad nonce"))?;
        let mut sealed = buf[4 + NONCE_LEN..frame].to_vec();
        let plain = key
            .open_in_place(
                nonce,
                Aad::from(chunk_aad(&location, index, last)),
                &mut sealed,
            )
            .map_err(|_| corrupt(&format!("chunk {index} failed authentication")))?;
        out.write_all(plain)
            .map_err(LakeError::io(format!("writing the contents of {path}")))?;
        total += plain.len() as u64;
        buf.drain(..frame);
        index += 1;
        if last {
            return Ok(total);
        }
    }
}

/// Lets encoders (Arrow IPC, JSON lines) write straight into the raw zone.
impl Write for RawWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        RawWriter::write(self, buf).map_err(std::io::Error::other)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Where and how much: never the key or the bytes pending encryption.
impl std::fmt::Debug for RawWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawWriter")
            .field("path", &self.path)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::LocalKeyStore;
    use object_store::PutPayload;
    use object_store::memory::InMemory;

    struct Fixture {
        _dir: tempfile::TempDir,
        store: Arc<dyn ObjectStore>,
        keys: Arc<dyn KeyProvider>,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let keys: Arc<dyn KeyProvider> = Arc::new(
            LocalKeyStore::create(
                &dir.path().join("k.json"),
                &crate::keys::SealSource::KeyFile(Some(dir.path().join("seal.key"))),
            )
            .unwrap(),
        );
        Fixture {
            _dir: dir,
            store: Arc::new(InMemory::new()),
            keys,
        }
    }

    async fn put(f: &Fixture, data: &[u8], chunk: usize) -> RawObject {
        let (store, keys, data) = (Arc::clone(&f.store), Arc::clone(&f.keys), data.to_vec());
        let handle = Handle::current();
        tokio::task::spawn_blocking(move || {
            let mut w = RawWriter::create(
                store,
                &keys,
                &DatasetName::new("obitos").unwrap(),
                handle,
                chunk,
            )
            .unwrap();
            for piece in data.chunks(7) {
                w.write(piece).unwrap();
            }
            w.finish().unwrap()
        })
        .await
        .unwrap()
    }

    async fn get(f: &Fixture, path: &str) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        read_raw(&f.store, &f.keys, path, &mut out).await?;
        Ok(out)
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn round_trips_every_size_around_chunk_boundaries() {
        let f = fixture();
        for len in [0usize, 1, 15, 16, 17, 32, 57] {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let raw = put(&f, &data, 16).await;
            assert_eq!(raw.size_bytes, len as u64);
            assert_eq!(get(&f, &raw.path).await.unwrap(), data, "length {len}");
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn tampering_truncation_and_moving_are_detected() {
        let f = fixture();
        let data =
            b"CPF;NOME\n52998224725;Severina Quiteria\n11144477735;Josue Raimundo\n".repeat(3);
        let raw = put(&f, &data, 32).await;
        let location = ObjectPath::from(raw.path.as_str());
        let stored = f
            .store
            .get(&location)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec();
        assert!(
            !stored.windows(11).any(|w| w == b"52998224725"),
            "no plaintext in the raw zone"
        );

        let mut flipped = stored.clone();
        let at = flipped.len() / 2;
        flipped[at] ^= 1;
        // Cutting off the last chunk; moving the whole object to another path.
        let last_plain = match data.len() % 32 {
            0 => 32,
            r => r,
        };
        let truncated = stored[..stored.len() - (4 + NONCE_LEN + last_plain + TAG_LEN)].to_vec();
        for (name, bytes, path) in [
            ("flipped", flipped, raw.path.clone()),
            ("truncated", truncated, raw.path.clone()),
            (
                "moved",
                stored.clone(),
                "raw/obitos/2020/01/other.raw".to_string(),
            ),
        ] {
            f.store
                .put(&ObjectPath::from(path.as_str()), PutPayload::from(bytes))
                .await
                .unwrap();
            let err = get(&f, &path).await.unwrap_err().to_string();
            assert!(
                err.contains("corrupt or tampered") || err.contains("truncated"),
                "{name}: {err}"
            );
        }
    }
}
