//! The sync loop: one thread that long-polls `GET /v1/host/snapshot?wait=N`
//! with the held `ETag` (mTLS with the host certificate, trusting only the
//! pinned CA bundle) and keeps the shared snapshot, the cache and sshd's
//! files current.
//!
//! - 200: the body (at most [`MAX_SNAPSHOT`]) must parse, have version
//!   [`SNAPSHOT_VERSION`] and be for this host and account; then it is
//!   cached, becomes the current snapshot (received now), and the
//!   `TrustedUserCAKeys` / `RevokedKeys` files are updated.
//! - 200 with a delta (the agent lists
//!   `application/vnd.ward.snapshot-delta+json` in `Accept` whenever it
//!   holds a snapshot): applied to the snapshot held and checked against
//!   ward-ca's digest of the result ([`apply_delta`]); then taken like a
//!   snapshot. A delta that does not apply or whose digest differs is
//!   logged and the whole snapshot is fetched at once (no `If-None-Match`).
//! - 304: nothing changed; the agent is online, and the snapshot held
//!   counts as received now (ward-ca just confirmed it is current).
//! - Anything else: the agent is offline with the error, backs off (1 s
//!   doubling to 30 s, jittered), and keeps the snapshot it has — a good
//!   snapshot is never discarded because ward-ca is unreachable or sent
//!   garbage. Decisions stop when it grows older than the staleness bound.
//!
//! The host certificate is renewed (`POST /v1/host/renew`) once less than
//! a third of its lifetime is left; the next call uses the new one.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use ward_protocol::host::{digest_input, Snapshot, SnapshotDelta, SNAPSHOT_VERSION};

use crate::cache::{self, Cached, MAX_SNAPSHOT};
use crate::client::{CaClient, SnapshotReply};
use crate::config::Config;
use crate::files::SshFiles;
use crate::join::{self, HostState, StatePaths};
use crate::shared::{log, now, Current, Shared};

/// Exponential back-off with jitter: 1 s doubling to 30 s; each sleep is
/// a random 50–100 % of the current step, so a fleet does not reconnect
/// in lockstep after an outage.
#[derive(Debug)]
pub struct Backoff {
    step: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff {
            step: Duration::from_secs(1),
        }
    }
}

impl Backoff {
    /// Longest step.
    pub const MAX: Duration = Duration::from_secs(30);

    /// The next delay (and doubles the step).
    pub fn next_delay(&mut self) -> Duration {
        let step = self.step;
        self.step = (self.step * 2).min(Backoff::MAX);
        let ms = u64::try_from(step.as_millis()).unwrap_or(30_000);
        Duration::from_millis(ms / 2 + rand::random::<u64>() % (ms / 2 + 1))
    }

    /// Back to 1 s after a success.
    pub fn reset(&mut self) {
        self.step = Duration::from_secs(1);
    }
}

/// How often (seconds) a confirmation by 304 is written to the cache.
pub const CONFIRM_STORE_INTERVAL: i64 = 900;

/// Checks a snapshot body from ward-ca: size, JSON, version, host and
/// account. Pure.
pub fn validate(body: &[u8], host: &HostState) -> Result<Snapshot, String> {
    if body.len() as u64 > MAX_SNAPSHOT {
        return Err(format!("snapshot larger than {MAX_SNAPSHOT} bytes"));
    }
    let s: Snapshot =
        serde_json::from_slice(body).map_err(|e| format!("snapshot does not parse: {e}"))?;
    check(s, host)
}

/// Applies a delta body from ward-ca to the snapshot held and checks the
/// result: size, JSON, base = the generation held, every edit fits
/// ([`SnapshotDelta::apply`]), the SHA-256 of the result's
/// [`digest_input`] equals the delta's `digest`, then version, host and
/// account as [`validate`]. Any failure: the caller fetches the whole
/// snapshot. Pure.
pub fn apply_delta(body: &[u8], held: &Snapshot, host: &HostState) -> Result<Snapshot, String> {
    if body.len() as u64 > MAX_SNAPSHOT {
        return Err(format!("delta larger than {MAX_SNAPSHOT} bytes"));
    }
    let d: SnapshotDelta =
        serde_json::from_slice(body).map_err(|e| format!("delta does not parse: {e}"))?;
    let next = d
        .apply(held)
        .map_err(|e| format!("delta does not apply: {e}"))?;
    let input = digest_input(&next).map_err(|e| format!("delta result: {e}"))?;
    let got = hex::encode(Sha256::digest(&input));
    if got != d.digest.to_ascii_lowercase() {
        return Err(format!(
            "delta {}→{}: the result's digest {got} is not ward-ca's {:?}",
            d.base,
            d.generation,
            d.digest.escape_debug().to_string()
        ));
    }
    check(next, host)
}

/// Version, host and account of a snapshot received.
fn check(s: Snapshot, host: &HostState) -> Result<Snapshot, String> {
    if s.version != SNAPSHOT_VERSION {
        return Err(format!(
            "snapshot version {} (this agent reads {SNAPSHOT_VERSION})",
            s.version
        ));
    }
    if s.host.name != host.host_name {
        return Err(format!(
            "snapshot is for host {:?}, this host is {:?}",
            s.host.name.escape_debug().to_string(),
            host.host_name
        ));
    }
    if s.account != host.account {
        return Err(format!(
            "snapshot is for account {:?}, this host is in {:?}",
            s.account.escape_debug().to_string(),
            host.account
        ));
    }
    Ok(s)
}

/// What the sync thread needs.
pub struct Sync {
    /// Configuration.
    pub cfg: Config,
    /// State directory.
    pub paths: StatePaths,
    /// The joined host (updated on renewal).
    pub host: Mutex<HostState>,
    /// Shared with the server.
    pub shared: Arc<Shared>,
    /// sshd's files.
    pub files: SshFiles,
    /// ETag of the snapshot held (from the cache at start).
    pub etag: Mutex<Option<String>>,
}

impl Sync {
    /// The host's mTLS client to ward-ca with its current certificate
    /// (again after a renewal), as audit delivery connects.
    pub fn ca_client(&self) -> Result<CaClient, String> {
        let host = self.host();
        join::host_client(&self.cfg, &self.paths, self.cfg.ca_url_or(&host.ca_url))
            .map_err(|e| e.to_string())
    }

    /// Starts the sync loop ([`Sync::run`]) on a thread named `sync`.
    pub fn spawn(self: &Arc<Self>) -> std::io::Result<()> {
        let sync = self.clone();
        std::thread::Builder::new()
            .name("sync".into())
            .spawn(move || sync.run())
            .map(drop)
    }

    fn host(&self) -> HostState {
        match self.host.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn client(&self) -> Result<CaClient, String> {
        let host = self.host();
        join::host_client(&self.cfg, &self.paths, self.cfg.ca_url_or(&host.ca_url))
            .map_err(|e| e.to_string())
    }

    fn offline(&self, error: &str) {
        let changed = self
            .shared
            .status
            .lock()
            .map_or(true, |s| s.online || s.last_error.as_deref() != Some(error));
        if changed {
            log(format_args!("sync: offline: {error}"));
        }
        self.shared.set_status(|s| {
            s.online = false;
            s.last_error = Some(error.to_string());
        });
    }

    fn online(&self) {
        let was = self.shared.status.lock().is_ok_and(|s| s.online);
        if !was {
            log("sync: online");
        }
        self.shared.set_status(|s| {
            s.online = true;
            s.last_error = None;
        });
    }

    /// A 304: ward-ca confirmed that the snapshot held is current, so it
    /// counts as received now (staleness measures how long the host has
    /// not known the central state, not how long nothing changed). The
    /// cache file is rewritten with the new time at most every
    /// [`CONFIRM_STORE_INTERVAL`] seconds, so a restart keeps roughly the
    /// right age without rewriting a large file on every poll.
    fn confirmed(&self, last_store: &mut i64) {
        let Some(held) = self.shared.snapshot() else {
            return;
        };
        let t = now();
        self.shared.replace(Current {
            snapshot: held.snapshot.clone(),
            received_at: t,
        });
        if t.saturating_sub(*last_store) >= CONFIRM_STORE_INTERVAL {
            let etag = self.etag.lock().ok().and_then(|g| g.clone());
            let cached = Cached {
                received_at: t,
                etag,
                snapshot: held.snapshot.clone(),
            };
            match cache::store(&self.paths.snapshot(), &cached) {
                Ok(()) => *last_store = t,
                Err(e) => log(format_args!("sync: writing the cache: {e}")),
            }
        }
    }

    /// Takes a snapshot body received now.
    fn accept(&self, body: &[u8], etag: Option<String>) -> Result<u64, String> {
        let host = self.host();
        let snapshot = validate(body, &host)?;
        self.take(snapshot, etag)
    }

    /// Takes a delta body received now: applied to the snapshot held and
    /// checked ([`apply_delta`]).
    fn accept_delta(&self, body: &[u8], etag: Option<String>) -> Result<u64, String> {
        let host = self.host();
        let held = self
            .shared
            .snapshot()
            .ok_or_else(|| "a delta arrived but no snapshot is held".to_string())?;
        let snapshot = apply_delta(body, &held.snapshot, &host)?;
        self.take(snapshot, etag)
    }

    /// Makes a checked snapshot current and caches it.
    fn take(&self, snapshot: Snapshot, etag: Option<String>) -> Result<u64, String> {
        let generation = snapshot.generation;
        let etag = etag.unwrap_or_else(|| format!("\"g{generation}\""));
        let received_at = now();
        let cached = Cached {
            received_at,
            etag: Some(etag.clone()),
            snapshot,
        };
        if let Err(e) = cache::store(&self.paths.snapshot(), &cached) {
            // Decisions still use it; only a restart while offline loses it.
            log(format_args!("sync: writing the cache: {e}"));
        }
        self.update_files(&cached.snapshot);
        self.shared.replace(Current {
            snapshot: cached.snapshot,
            received_at,
        });
        self.shared.set_status(|s| s.generation = generation);
        if let Ok(mut g) = self.etag.lock() {
            *g = Some(etag);
        }
        Ok(generation)
    }

    /// Brings sshd's files in line with `snapshot` (logs failures).
    pub fn update_files(&self, snapshot: &Snapshot) {
        match self.files.update_from(snapshot) {
            Ok(u) => {
                if !u.skipped.is_empty() {
                    log(format_args!(
                        "sync: {} SSH user CA key line(s) do not parse and are not trusted",
                        u.skipped.len()
                    ));
                }
                if u.ca_keys || u.krl {
                    log(format_args!(
                        "sync: updated{}{}",
                        if u.ca_keys { " TrustedUserCAKeys" } else { "" },
                        if u.krl { " RevokedKeys" } else { "" }
                    ));
                }
            }
            Err(e) => log(format_args!("sync: updating sshd's files: {e}")),
        }
    }

    /// Renews the host certificate if less than a third of its lifetime is
    /// left. Returns true if it renewed.
    fn maybe_renew(&self) -> Result<bool, String> {
        let pem = std::fs::read(self.paths.cert())
            .map_err(|e| format!("{}: {e}", self.paths.cert().display()))?;
        let (nb, na) = join::validity(&pem).map_err(|e| format!("host certificate: {e}"))?;
        if !join::needs_renewal(nb, na, now()) {
            return Ok(false);
        }
        let host = self.host();
        let next = join::renew(&self.cfg, &self.paths, &host).map_err(|e| e.to_string())?;
        log(format_args!(
            "renewed the host certificate (expires {})",
            next.certificate_expires_at
        ));
        if let Ok(mut g) = self.host.lock() {
            *g = next;
        }
        Ok(true)
    }

    /// The loop (never returns).
    pub fn run(&self) {
        let mut backoff = Backoff::default();
        let mut client: Option<CaClient> = None;
        let mut next_renew_check = Instant::now();
        let mut renew_backoff = Backoff::default();
        let mut last_store = 0i64;
        let mut full_next = false;
        loop {
            if Instant::now() >= next_renew_check {
                match self.maybe_renew() {
                    Ok(renewed) => {
                        if renewed {
                            client = None;
                        }
                        renew_backoff.reset();
                        next_renew_check = Instant::now() + Duration::from_secs(600);
                    }
                    Err(e) => {
                        log(format_args!("renewing the host certificate: {e}"));
                        // Retry sooner than the hourly check, but not in a
                        // tight loop.
                        next_renew_check = Instant::now() + renew_backoff.next_delay() * 10;
                    }
                }
            }
            let c = match client.take() {
                Some(c) => c,
                None => match self.client() {
                    Ok(c) => c,
                    Err(e) => {
                        self.offline(&e);
                        std::thread::sleep(backoff.next_delay());
                        continue;
                    }
                },
            };
            // After a refused delta: the whole snapshot, at once.
            let etag = if full_next {
                None
            } else {
                self.etag.lock().ok().and_then(|g| g.clone())
            };
            let deltas = etag.is_some() && self.shared.snapshot().is_some();
            let started = Instant::now();
            match c.snapshot_or_delta(self.cfg.poll_wait, etag.as_deref(), MAX_SNAPSHOT, deltas) {
                Ok(SnapshotReply::NotModified) => {
                    self.confirmed(&mut last_store);
                    self.online();
                    backoff.reset();
                    client = Some(c);
                    // A server that answers at once (no long-poll) must not
                    // turn this loop into a busy one.
                    if started.elapsed() < Duration::from_secs(1) {
                        std::thread::sleep(Duration::from_secs(1));
                    }
                }
                Ok(SnapshotReply::Delta { body, etag }) => {
                    match self.accept_delta(&body, etag) {
                        Ok(generation) => {
                            last_store = now();
                            self.online();
                            log(format_args!(
                                "sync: snapshot generation {generation} (delta)"
                            ));
                            backoff.reset();
                        }
                        Err(e) => {
                            log(format_args!(
                                "sync: delta refused ({e}); fetching the whole snapshot"
                            ));
                            full_next = true;
                        }
                    }
                    client = Some(c);
                }
                Ok(SnapshotReply::Changed { body, etag }) => match self.accept(&body, etag) {
                    Ok(generation) => {
                        full_next = false;
                        last_store = now();
                        self.online();
                        log(format_args!("sync: snapshot generation {generation}"));
                        backoff.reset();
                        client = Some(c);
                    }
                    Err(e) => {
                        self.offline(&e);
                        std::thread::sleep(backoff.next_delay());
                    }
                },
                Err(e) => {
                    self.offline(&e.to_string());
                    std::thread::sleep(backoff.next_delay());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> HostState {
        HostState {
            host_name: "web-01".into(),
            host_arn: "arn:ward:host::123456789012:host/web-01".into(),
            account: "123456789012".into(),
            trust_domain: "t.ward".into(),
            ca_url: "https://ca".into(),
            certificate_expires_at: String::new(),
            joined_at: 0,
        }
    }

    fn check(body: &str, ok: bool) {
        assert_eq!(validate(body.as_bytes(), &host()).is_ok(), ok, "{body}");
    }

    #[test]
    fn snapshots_are_checked() {
        let mut s = Snapshot {
            version: SNAPSHOT_VERSION,
            account: "123456789012".into(),
            ..Snapshot::default()
        };
        s.host.name = "web-01".into();
        let good = serde_json::to_string(&s).unwrap();
        check(&good, true);
        check(&good[..good.len() - 1], false);
        check("", false);
        check("[]", false);
        let mut other = s.clone();
        other.host.name = "db-1".into();
        check(&serde_json::to_string(&other).unwrap(), false);
        let mut acct = s.clone();
        acct.account = "000000000000".into();
        check(&serde_json::to_string(&acct).unwrap(), false);
        let mut v = s;
        v.version = SNAPSHOT_VERSION + 1;
        check(&serde_json::to_string(&v).unwrap(), false);
    }

    fn snap(generation: u64, users: &[(&str, &str)]) -> Snapshot {
        let mut s = Snapshot {
            version: SNAPSHOT_VERSION,
            generation,
            account: "123456789012".into(),
            users: users
                .iter()
                .map(|(id, name)| ward_protocol::host::SnapshotUser {
                    id: (*id).into(),
                    name: (*name).into(),
                    ..Default::default()
                })
                .collect(),
            ..Snapshot::default()
        };
        s.host.name = "web-01".into();
        s
    }

    fn delta_body(old: &Snapshot, new: &Snapshot) -> (SnapshotDelta, Vec<u8>) {
        let mut d = SnapshotDelta::between(old, new).unwrap();
        d.digest = hex::encode(Sha256::digest(digest_input(new).unwrap()));
        let body = serde_json::to_vec(&d).unwrap();
        (d, body)
    }

    /// A delta applied to the snapshot held gives the new snapshot; one
    /// whose digest differs, whose base is not held, or that was made from
    /// a different base (the held snapshot differs from ward-ca's) is
    /// refused.
    #[test]
    fn deltas_are_applied_and_checked() {
        let old = snap(4, &[("AIDA1", "alice"), ("AIDA2", "bob")]);
        let new = snap(5, &[("AIDA1", "alice"), ("AIDA3", "carol")]);
        let (d, body) = delta_body(&old, &new);
        assert_eq!(apply_delta(&body, &old, &host()).unwrap(), new);

        let mut bad = d.clone();
        bad.digest = "0".repeat(64);
        let e = apply_delta(&serde_json::to_vec(&bad).unwrap(), &old, &host()).unwrap_err();
        assert!(e.contains("digest"), "{e}");

        let mut wrong_base = d.clone();
        wrong_base.base = 3;
        let e = apply_delta(&serde_json::to_vec(&wrong_base).unwrap(), &old, &host()).unwrap_err();
        assert!(e.contains("generation"), "{e}");

        // The host's snapshot at generation 4 differs from ward-ca's (a
        // user renamed locally): the edits fit, the digest does not.
        let mut drifted = old.clone();
        drifted.users[0].name = "mallory".into();
        let e = apply_delta(&body, &drifted, &host()).unwrap_err();
        assert!(e.contains("digest"), "{e}");

        assert!(apply_delta(&body[..body.len() - 1], &old, &host()).is_err());
        // For another host: refused after the digest check.
        let mut other = new.clone();
        other.host.name = "db-1".into();
        let (_, body) = delta_body(&old, &other);
        assert!(apply_delta(&body, &old, &host()).is_err());
    }

    #[test]
    fn backoff_grows_to_thirty_seconds_with_jitter() {
        let mut b = Backoff::default();
        let d: Vec<Duration> = (0..8).map(|_| b.next_delay()).collect();
        assert!(d[0] >= Duration::from_millis(500) && d[0] <= Duration::from_secs(1));
        assert!(d[7] >= Duration::from_secs(15) && d[7] <= Backoff::MAX);
        b.reset();
        assert!(b.next_delay() <= Duration::from_secs(1));
    }
}
