//! The snapshot cache (`STATE/snapshot.json`): the last snapshot received,
//! so that decisions keep working while ward-ca is unreachable (within the
//! staleness bound, counted from when the snapshot was *received*).
//!
//! Format: one header line, then the body.
//!
//! ```text
//! ward-agent-cache 1 <body length> <SHA-256 of the body, hex>\n
//! {"receivedAt":…,"etag":…,"snapshot":{…}}
//! ```
//!
//! The file is written atomically ([`crate::files::write_atomic`], 0600).
//! On load, a file whose header, length, digest, JSON, snapshot version or
//! host name is wrong — truncated, bit-flipped, from another version or
//! another host — or whose receive time lies in the future is refused with
//! a [`CacheError`]: the caller logs it and deletes the file; it is never
//! trusted. The digest catches accidental damage, not an attacker who can
//! write the state directory (root-only, 0700): such an attacker owns the
//! host anyway.

use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use ward_protocol::host::{Snapshot, SNAPSHOT_VERSION};

use crate::files::write_atomic;

/// Largest snapshot accepted from ward-ca or from the cache.
pub const MAX_SNAPSHOT: u64 = 64 * 1024 * 1024;

const MAGIC: &str = "ward-agent-cache";
const FORMAT: u32 = 1;

/// A cached snapshot.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Cached {
    /// When the snapshot was received from ward-ca (Unix seconds).
    pub received_at: i64,
    /// Its `ETag`.
    pub etag: Option<String>,
    /// The snapshot.
    pub snapshot: Snapshot,
}

/// Why a cache file was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheError {
    /// No cache file (not an error to log).
    Missing,
    /// It could not be read.
    Io(String),
    /// It is damaged or not ours (why).
    Corrupt(String),
}

impl std::fmt::Display for CacheError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CacheError::Missing => f.write_str("no cached snapshot"),
            CacheError::Io(m) => write!(f, "unreadable: {m}"),
            CacheError::Corrupt(m) => write!(f, "corrupt: {m}"),
        }
    }
}

impl std::error::Error for CacheError {}

/// The bytes of a cache file for `cached`.
pub fn encode(cached: &Cached) -> Result<Vec<u8>, serde_json::Error> {
    let body = serde_json::to_vec(cached)?;
    let mut out = format!(
        "{MAGIC} {FORMAT} {} {}\n",
        body.len(),
        hex::encode(Sha256::digest(&body))
    )
    .into_bytes();
    out.extend_from_slice(&body);
    Ok(out)
}

/// Checks a cache file's bytes: header, length, digest, JSON, snapshot
/// version, host name (`host`, when known) and receive time (not after
/// `now`). Pure.
pub fn decode(bytes: &[u8], host: Option<&str>, now: i64) -> Result<Cached, CacheError> {
    let bad = |m: &str| CacheError::Corrupt(m.to_string());
    let nl = bytes
        .iter()
        .position(|&b| b == b'\n')
        .filter(|&i| i < 200)
        .ok_or_else(|| bad("no header line"))?;
    let header = std::str::from_utf8(&bytes[..nl]).map_err(|_| bad("header is not text"))?;
    let body = &bytes[nl + 1..];
    let parts: Vec<&str> = header.split(' ').collect();
    let [magic, format, len, digest] = parts[..] else {
        return Err(bad("malformed header"));
    };
    if magic != MAGIC {
        return Err(bad("not a ward-agent cache"));
    }
    if format != FORMAT.to_string() {
        return Err(CacheError::Corrupt(format!(
            "cache format {format} (this agent reads {FORMAT})"
        )));
    }
    if len.parse::<usize>().ok() != Some(body.len()) {
        return Err(CacheError::Corrupt(format!(
            "body is {} bytes, header says {len} (truncated?)",
            body.len()
        )));
    }
    if hex::encode(Sha256::digest(body)) != digest {
        return Err(bad("SHA-256 of the body does not match the header"));
    }
    let cached: Cached = serde_json::from_slice(body)
        .map_err(|e| CacheError::Corrupt(format!("body does not parse: {e}")))?;
    if cached.snapshot.version != SNAPSHOT_VERSION {
        return Err(CacheError::Corrupt(format!(
            "snapshot version {} (this agent reads {SNAPSHOT_VERSION})",
            cached.snapshot.version
        )));
    }
    if let Some(h) = host {
        if cached.snapshot.host.name != h {
            return Err(CacheError::Corrupt(format!(
                "snapshot is for host {:?}, this host is {h:?}",
                cached.snapshot.host.name
            )));
        }
    }
    if cached.received_at > now {
        return Err(CacheError::Corrupt(format!(
            "received in the future ({} > now {now}); the clock went back?",
            cached.received_at
        )));
    }
    Ok(cached)
}

/// Writes the cache atomically (0600).
pub fn store(path: &Path, cached: &Cached) -> std::io::Result<()> {
    let bytes = encode(cached).map_err(std::io::Error::other)?;
    write_atomic(path, &bytes, 0o600)
}

/// Reads and checks the cache at `path`.
pub fn load(path: &Path, host: Option<&str>, now: i64) -> Result<Cached, CacheError> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(CacheError::Missing),
        Err(e) => return Err(CacheError::Io(e.to_string())),
    };
    let mut bytes = Vec::new();
    file.take(MAX_SNAPSHOT + 4096)
        .read_to_end(&mut bytes)
        .map_err(|e| CacheError::Io(e.to_string()))?;
    if bytes.len() as u64 > MAX_SNAPSHOT + 1024 {
        return Err(CacheError::Corrupt("larger than any snapshot".into()));
    }
    decode(&bytes, host, now)
}

/// [`load`], and on a refused file: log why and delete it, so it is never
/// read again. Returns the cache, or `None`.
pub fn load_or_discard(path: &Path, host: Option<&str>, now: i64) -> Option<Cached> {
    match load(path, host, now) {
        Ok(c) => Some(c),
        Err(CacheError::Missing) => None,
        Err(e) => {
            crate::shared::log(format_args!(
                "discarding cached snapshot {}: {e}",
                path.display()
            ));
            if let Err(e) = std::fs::remove_file(path) {
                crate::shared::log(format_args!("removing {}: {e}", path.display()));
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Cached {
        let mut s = Snapshot {
            version: SNAPSHOT_VERSION,
            generation: 7,
            ..Snapshot::default()
        };
        s.host.name = "web-01".into();
        Cached {
            received_at: 1000,
            etag: Some("\"g7\"".into()),
            snapshot: s,
        }
    }

    fn err(bytes: &[u8]) -> String {
        match decode(bytes, Some("web-01"), 2000) {
            Err(CacheError::Corrupt(m)) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn round_trip_and_every_damage_is_refused() {
        let c = sample();
        let bytes = encode(&c).unwrap();
        assert_eq!(decode(&bytes, Some("web-01"), 2000).unwrap(), c);
        assert!(err(&bytes[..bytes.len() - 1]).contains("truncated"));
        assert!(err(&bytes[..10]).contains("header"));
        let mut flipped = bytes.clone();
        let last = flipped.len() - 3;
        flipped[last] ^= 0x01;
        assert!(err(&flipped).contains("SHA-256"));
        assert!(err(b"").contains("header"));
        assert!(
            matches!(decode(&bytes, Some("db-1"), 2000), Err(CacheError::Corrupt(m)) if m.contains("host"))
        );
        assert!(decode(&bytes, Some("web-01"), 999).is_err());
        let mut v2 = c.clone();
        v2.snapshot.version = 2;
        assert!(err(&encode(&v2).unwrap()).contains("version"));
    }
}
