//! The per-generation host snapshot cache (state shared by every request
//! of `service::host_sync`): each generation's host-independent part built
//! once, serialised and compressed once with a placeholder where each
//! response puts the asking host's section, the deltas between kept
//! generations, and each host's count of waiting long-polls.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use ward_protocol::host::Snapshot;

use crate::error::ApiError;

/// Generations whose host-independent part stays in memory (the newest
/// also serialised and compressed), so that hosts holding one of them get
/// deltas.
pub const KEEP_GENERATIONS: usize = 4;

/// Most long-polls one host may hold at once; past that its requests are
/// answered at once (304 or the snapshot) instead of waiting, so one host
/// cannot take the global slots.
pub const MAX_LONG_POLLS_PER_HOST: usize = 4;

/// The host section a generation is serialised with; each response puts
/// the asking host's section in its place.
pub(crate) const HOST_PLACEHOLDER: &[u8] = br#""host":{"name":"","arn":"","tags":[]}"#;
pub(crate) const HOST_KEY: &[u8] = br#""host":"#;

/// Serialised deltas by (base, generation).
pub(crate) type DeltaMap = HashMap<(u64, u64), Option<Arc<Spliced>>>;

/// Per-generation snapshots shared by every host, deltas between them,
/// per-host long-poll counts and their counters (part of
/// `state::HostSync`).
#[derive(Default)]
pub struct Snapshots {
    /// Built generations, oldest first, at most [`KEEP_GENERATIONS`].
    pub(crate) kept: std::sync::Mutex<VecDeque<Arc<Built>>>,
    /// Held while building: concurrent fetches of a new generation wait
    /// for one build.
    pub(crate) building: tokio::sync::Mutex<()>,
    /// Serialised deltas by (base, generation); `None`: the full snapshot
    /// is smaller (or a list has a duplicate key).
    pub(crate) deltas: tokio::sync::Mutex<DeltaMap>,
    /// The newest gateways' snapshot (with the host registry, the same
    /// for every gateway at a generation), host section empty: a gateway
    /// fetching again at the same generation does not rebuild it.
    pub(crate) gateway: std::sync::Mutex<Option<Arc<Built>>>,
    /// Long-polls waiting, by host id.
    pub(crate) waiters: std::sync::Mutex<HashMap<String, usize>>,
    pub(crate) builds: AtomicU64,
    pub(crate) full_sent: AtomicU64,
    pub(crate) deltas_sent: AtomicU64,
    pub(crate) answered_at_once: AtomicU64,
}

impl std::fmt::Debug for Snapshots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshots")
            .field("builds", &self.builds)
            .finish_non_exhaustive()
    }
}

pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One host's waiting long-poll; dropping it frees the place.
pub(crate) struct Waiter<'a> {
    pub(crate) map: &'a std::sync::Mutex<HashMap<String, usize>>,
    pub(crate) host: String,
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        let mut m = lock(self.map);
        if let Some(n) = m.get_mut(&self.host) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.host);
            }
        }
    }
}

impl Snapshots {
    pub(crate) fn get(&self, generation: u64) -> Option<Arc<Built>> {
        lock(&self.kept)
            .iter()
            .find(|b| b.generation == generation)
            .cloned()
    }

    /// Keeps `b` (or returns the entry already kept for its generation);
    /// only the newest generation keeps its serialised bytes.
    pub(crate) fn insert(&self, b: Arc<Built>) -> Arc<Built> {
        let mut kept = lock(&self.kept);
        if let Some(x) = kept.iter().find(|x| x.generation == b.generation) {
            return x.clone();
        }
        let at = kept.partition_point(|x| x.generation < b.generation);
        kept.insert(at, b.clone());
        while kept.len() > KEEP_GENERATIONS {
            kept.pop_front();
        }
        let n = kept.len();
        for x in kept.iter().take(n.saturating_sub(1)) {
            *lock(&x.full) = None;
        }
        b
    }

    /// A place for one more long-poll of `host`, if it has fewer than
    /// [`MAX_LONG_POLLS_PER_HOST`].
    pub(crate) fn wait_slot(&self, host: &str) -> Option<Waiter<'_>> {
        let mut m = lock(&self.waiters);
        let n = m.entry(host.to_owned()).or_insert(0);
        if *n >= MAX_LONG_POLLS_PER_HOST {
            return None;
        }
        *n += 1;
        Some(Waiter {
            map: &self.waiters,
            host: host.to_owned(),
        })
    }
}

/// A generation's host-independent snapshot (host section empty).
pub(crate) struct Built {
    pub(crate) generation: u64,
    pub(crate) snapshot: Snapshot,
    /// Hex SHA-256 of `digest_input(snapshot)` (= its JSON).
    pub(crate) digest: String,
    /// Length of that JSON.
    pub(crate) json_len: usize,
    /// The JSON cut around the host section; dropped once a newer
    /// generation is kept.
    pub(crate) full: std::sync::Mutex<Option<Arc<Spliced>>>,
}

impl Built {
    /// Serialises `snapshot` (host section empty) once: digest, cut
    /// bytes, compressed tail. Blocking.
    pub(crate) fn new(snapshot: Snapshot) -> Result<Built, ApiError> {
        let bytes = serde_json::to_vec(&snapshot).map_err(ApiError::internal)?;
        let digest = hex::encode(Sha256::digest(&bytes));
        let json_len = bytes.len();
        let full = Spliced::new(bytes)?;
        Ok(Built {
            generation: snapshot.generation,
            snapshot,
            digest,
            json_len,
            full: std::sync::Mutex::new(Some(Arc::new(full))),
        })
    }

    /// The serialised snapshot (made again, off the async workers, for a
    /// generation that is no longer the newest).
    pub(crate) async fn spliced(self: &Arc<Self>) -> Result<Arc<Spliced>, ApiError> {
        if let Some(s) = lock(&self.full).clone() {
            return Ok(s);
        }
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            let bytes = serde_json::to_vec(&me.snapshot).map_err(ApiError::internal)?;
            Spliced::new(bytes).map(Arc::new)
        })
        .await
        .map_err(ApiError::internal)?
    }
}

/// A JSON document serialised once with [`HOST_PLACEHOLDER`] as its host
/// section, cut around it, the part after it deflated once.
pub(crate) struct Spliced {
    /// Up to and including `"host":`.
    pub(crate) head: Vec<u8>,
    /// After the host section.
    pub(crate) tail: Vec<u8>,
    /// Raw deflate of `tail` (a complete stream, last block final).
    pub(crate) tail_deflate: Vec<u8>,
    /// CRC-32 of `tail`.
    pub(crate) tail_crc: flate2::Crc,
}

impl Spliced {
    pub(crate) fn new(mut bytes: Vec<u8>) -> Result<Spliced, ApiError> {
        // The host section precedes every string that could hold these
        // bytes, and inside a JSON string `"` is always escaped: the first
        // match is the field itself.
        let at = bytes
            .windows(HOST_PLACEHOLDER.len())
            .position(|w| w == HOST_PLACEHOLDER)
            .ok_or_else(|| ApiError::internal("snapshot JSON has no host section"))?;
        let tail = bytes.split_off(at + HOST_PLACEHOLDER.len());
        bytes.truncate(at + HOST_KEY.len());
        let tail_deflate = deflate(&tail, true).map_err(ApiError::internal)?;
        let mut tail_crc = flate2::Crc::new();
        tail_crc.update(&tail);
        Ok(Spliced {
            head: bytes,
            tail,
            tail_deflate,
            tail_crc,
        })
    }

    pub(crate) fn len_with(&self, host_json: &[u8]) -> usize {
        self.head.len() + host_json.len() + self.tail.len()
    }

    /// The document with `host_json` as its host section.
    pub(crate) fn body(&self, host_json: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len_with(host_json));
        out.extend_from_slice(&self.head);
        out.extend_from_slice(host_json);
        out.extend_from_slice(&self.tail);
        out
    }

    /// [`Spliced::body`] as one gzip member (RFC 1952): the head and host
    /// section deflated now and ended with a sync flush (byte-aligned, not
    /// final), then the tail's stream deflated once (it refers to nothing
    /// before it), then the CRC-32 of the whole and its length.
    pub(crate) fn gzip(&self, host_json: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut head = Vec::with_capacity(self.head.len() + host_json.len());
        head.extend_from_slice(&self.head);
        head.extend_from_slice(host_json);
        let head_deflate = deflate(&head, false)?;
        let mut crc = flate2::Crc::new();
        crc.update(&head);
        crc.combine(&self.tail_crc);
        let mut out = Vec::with_capacity(18 + head_deflate.len() + self.tail_deflate.len());
        out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
        out.extend_from_slice(&head_deflate);
        out.extend_from_slice(&self.tail_deflate);
        out.extend_from_slice(&crc.sum().to_le_bytes());
        out.extend_from_slice(&crc.amount().to_le_bytes());
        Ok(out)
    }
}

/// Raw deflate (level 6) of `data`: a complete stream if `last`, else
/// ended with a sync flush so that another stream may follow.
pub(crate) fn deflate(data: &[u8], last: bool) -> std::io::Result<Vec<u8>> {
    use flate2::{Compress, Compression, FlushCompress, Status};
    let mut c = Compress::new(Compression::new(6), false);
    let mut out: Vec<u8> = Vec::with_capacity(data.len() / 4 + 64);
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(1024));
        }
        let consumed = usize::try_from(c.total_in()).unwrap_or(usize::MAX);
        let input = data.get(consumed..).unwrap_or_default();
        let status = c
            .compress_vec(input, &mut out, flush)
            .map_err(std::io::Error::other)?;
        let all_in = usize::try_from(c.total_in()).ok() == Some(data.len());
        match status {
            Status::StreamEnd => return Ok(out),
            // A sync flush is complete once all input is in and output
            // space was left over.
            _ if !last && all_in && out.len() < out.capacity() => return Ok(out),
            _ => {}
        }
    }
}
