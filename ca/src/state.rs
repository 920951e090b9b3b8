//! Shared daemon state: the store, the master key, the validated config,
//! the compiled-policy cache and metrics.

pub mod snapshot_cache;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ward_policy::{Policy, PolicyKind};

use crate::config::Config;
use crate::crypto::{sha256_hex, MasterKey};
use crate::error::ApiError;
use crate::store::Store;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use ward_authz::{PrincipalPolicies, Wanted};

/// Everything a request handler needs.
#[derive(Debug)]
pub struct AppState {
    /// The store.
    pub store: Store,
    /// The master key (seals secrets at rest).
    pub master: MasterKey,
    /// Validated configuration.
    pub config: Config,
    /// Compiled policies by document hash.
    pub policies: PolicyCache,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
    /// When each access key's last use was last written (to write at most
    /// once a minute per key).
    pub last_used: Mutex<HashMap<String, i64>>,
    /// Access keys (and their opened secrets) by key id.
    pub keys: GenCache<KeyEntry>,
    /// Each user's compiled policies and tags, by user id.
    pub effective: GenCache<Effective>,
    /// Authenticated role sessions (row, role, opened secret) by their
    /// `ASIA…` key id: valid for the generation they were read at, and
    /// their expiry is checked on every use (`http::auth`).
    pub role_sessions: GenCache<RoleSessionEntry>,
    /// The opened CA keys, keyed by a summary of the ca_keys table.
    pub authorities: GenCache<crate::store::authority::Authorities>,
    /// Group commit of issued certificates.
    pub recorder: crate::store::certs::Recorder,
    /// When the CA key table was last checked, and its summary.
    pub ca_checked: Mutex<Option<(std::time::Instant, String)>>,
    /// The TLS client-certificate anchors, replaced when CA keys change.
    pub client_roots: Option<Arc<dyn ClientAnchors>>,
    /// Bounds concurrent Argon2 work (password logins and changes).
    pub password_checks: PasswordChecks,
    /// The last `/readyz` write probe and its outcome (see `api::readyz`).
    pub readiness: tokio::sync::Mutex<Option<(std::time::Instant, Option<String>)>>,
    /// Authentication failures per source (aggregated audit, rate limit).
    pub failures: crate::failures::FailureTable,
    /// The key that signs audit checkpoints.
    pub audit_signer: Option<Arc<crate::store::checkpoint::AuditSigner>>,
    /// Host snapshot long-polls (`crate::service::host_sync`).
    pub host_sync: HostSync,
    /// Audit batches per host (`crate::service::host_audit`).
    pub host_audit_limits: RateBuckets,
    /// Unauthenticated identity-pool requests per source address
    /// (used by `service::identity_pools`).
    pub guest_limits: GuestLimiter,
}

/// A cache whose entries are valid only for the store generation they
/// were read at (see `Store::generation`): any commit invalidates all of
/// them, so a revoked key or a removed group membership is seen at once.
#[derive(Debug)]
pub struct GenCache<V> {
    map: Mutex<HashMap<String, (u64, Arc<V>)>>,
}

impl<V> Default for GenCache<V> {
    fn default() -> Self {
        GenCache {
            map: Mutex::new(HashMap::new()),
        }
    }
}

/// Most entries per cache; a full cache is cleared.
const GEN_CACHE_MAX: usize = 10_000;

impl<V> GenCache<V> {
    /// The entry for `key` if it was read at generation `gen`.
    pub fn get(&self, key: &str, gen: u64) -> Option<Arc<V>> {
        let map = self.map.lock().ok()?;
        match map.get(key) {
            Some((g, v)) if *g == gen => Some(v.clone()),
            _ => None,
        }
    }

    /// Stores `v`, read at generation `gen`.
    pub fn put(&self, key: &str, gen: u64, v: Arc<V>) {
        if let Ok(mut map) = self.map.lock() {
            if map.len() >= GEN_CACHE_MAX {
                map.clear();
            }
            map.insert(key.to_owned(), (gen, v));
        }
    }
}

/// A shared handle.
pub type Shared = Arc<AppState>;

pub use crate::clock::now;

/// Compiled policy documents, keyed by the SHA-256 of their text, so each
/// document is parsed once per process however often it is evaluated.
#[derive(Debug, Default)]
pub struct PolicyCache {
    map: Mutex<HashMap<(String, PolicyKind), Arc<Policy>>>,
}

/// Most compiled documents kept; the cache is cleared when full.
const POLICY_CACHE_MAX: usize = 10_000;

impl PolicyCache {
    /// The compiled form of a stored document. Stored documents were
    /// validated when written; one that no longer parses is an internal
    /// error, and the request is refused (fail closed).
    pub fn get(&self, doc: &str, kind: PolicyKind) -> Result<Arc<Policy>, ApiError> {
        let key = (sha256_hex(doc.as_bytes()), kind);
        if let Some(p) = self
            .map
            .lock()
            .map_err(|_| ApiError::internal("policy cache poisoned"))?
            .get(&key)
        {
            return Ok(p.clone());
        }
        let p = Arc::new(
            Policy::parse(doc, kind)
                .map_err(|e| ApiError::internal(format!("stored policy no longer parses: {e}")))?,
        );
        let mut map = self
            .map
            .lock()
            .map_err(|_| ApiError::internal("policy cache poisoned"))?;
        if map.len() >= POLICY_CACHE_MAX {
            map.clear();
        }
        map.insert(key, p.clone());
        Ok(p)
    }
}

/// Prometheus counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Requests by status class.
    pub responses_2xx: AtomicU64,
    /// 4xx responses.
    pub responses_4xx: AtomicU64,
    /// 5xx responses.
    pub responses_5xx: AtomicU64,
    /// Failed authentications.
    pub auth_failures: AtomicU64,
    /// Authorization denials.
    pub denials: AtomicU64,
    /// Argon2 password verifications run (logins and password changes).
    pub password_verifications: AtomicU64,
    /// Password checks refused because all Argon2 slots were busy.
    pub password_busy: AtomicU64,
    /// Write probes `/readyz` ran (at most one a second).
    pub readiness_probes: AtomicU64,
    /// Connection counters kept by the HTTPS listener.
    pub connections: Arc<crate::conn::ConnStats>,
    /// Requests refused (429) by the per-source failure limit.
    pub auth_rate_limited: AtomicU64,
    /// Role-session requests authenticated from [`AppState::role_sessions`]
    /// (no store read, no secret opened).
    pub role_session_cache_hits: AtomicU64,
}

impl Metrics {
    /// Counts a response.
    pub fn response(&self, status: u16) {
        let c = match status {
            200..=399 => &self.responses_2xx,
            400..=499 => &self.responses_4xx,
            _ => &self.responses_5xx,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        format!(
            "# HELP ward_http_responses_total HTTP responses by status class.\n# TYPE ward_http_responses_total counter\n\
             ward_http_responses_total{{class=\"2xx\"}} {}\nward_http_responses_total{{class=\"4xx\"}} {}\nward_http_responses_total{{class=\"5xx\"}} {}\n\
             # HELP ward_auth_failures_total Failed authentications.\n# TYPE ward_auth_failures_total counter\nward_auth_failures_total {}\n\
             # HELP ward_authz_denials_total Requests denied by policy.\n# TYPE ward_authz_denials_total counter\nward_authz_denials_total {}\n\
             # HELP ward_password_verifications_total Argon2 password verifications run.\n# TYPE ward_password_verifications_total counter\nward_password_verifications_total {}\n\
             # HELP ward_password_busy_total Password checks refused while every Argon2 slot was busy.\n# TYPE ward_password_busy_total counter\nward_password_busy_total {}\n\
             # HELP ward_readiness_probes_total Write probes run by /readyz.\n# TYPE ward_readiness_probes_total counter\nward_readiness_probes_total {}\n\
             # HELP ward_auth_rate_limited_total Requests refused by the per-source authentication-failure limit.\n# TYPE ward_auth_rate_limited_total counter\nward_auth_rate_limited_total {}\n\
             # HELP ward_auth_role_session_cache_hits_total Role-session requests authenticated from the in-memory session cache.\n# TYPE ward_auth_role_session_cache_hits_total counter\nward_auth_role_session_cache_hits_total {}\n",
            g(&self.responses_2xx),
            g(&self.responses_4xx),
            g(&self.responses_5xx),
            g(&self.auth_failures),
            g(&self.denials),
            g(&self.password_verifications),
            g(&self.password_busy),
            g(&self.readiness_probes),
            g(&self.auth_rate_limited),
            g(&self.role_session_cache_hits),
        ) + &self.connections.render()
    }
}

/// A long-term access key as authentication needs it.
pub struct KeyEntry {
    /// `None` for a root key.
    pub(crate) user: Option<crate::store::iam::User>,
    pub(crate) active: bool,
    pub(crate) secret: zeroize::Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for KeyEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyEntry")
            .field("user", &self.user.as_ref().map(|u| &u.name))
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

/// A role session as authentication needs it: its `sessions` row, its
/// role and its opened secret. Cached in [`AppState::role_sessions`] at
/// the generation it was read at, so revoking or deleting anything (role
/// deletion, revoke-sessions, a policy change) drops it at once; expiry
/// is checked on every use.
pub struct RoleSessionEntry {
    pub(crate) session: crate::store::iam::Session,
    pub(crate) role: crate::store::roles::Role,
    pub(crate) secret: zeroize::Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for RoleSessionEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoleSessionEntry")
            .field("session", &self.session.access_key_id)
            .field("role", &self.role.name)
            .field("expires_at", &self.session.expires_at)
            .finish_non_exhaustive()
    }
}

/// The TLS client-certificate anchors, replaceable while serving (the
/// listener's `http::tls::ClientRoots`): the certificate service swaps
/// them when X.509 CA keys change, without naming the http layer.
pub trait ClientAnchors: Send + Sync + std::fmt::Debug {
    /// Replaces the anchors with the PEM certificates in `pem`; on error
    /// the old ones stay.
    fn replace_pem(&self, pem: &str) -> Result<(), String>;
}

/// The compiled policies that bear on a user, and the user's tags.
#[derive(Debug)]
pub struct Effective {
    pub(crate) policies: PrincipalPolicies<Arc<Policy>>,
    pub(crate) tags: Vec<(String, String)>,
    pub(crate) wanted: Wanted,
}

impl Effective {
    /// The user's policies by attachment.
    pub fn policies(&self) -> &PrincipalPolicies<Arc<Policy>> {
        &self.policies
    }

    /// The user's tags.
    pub fn tags(&self) -> &[(String, String)] {
        &self.tags
    }
}

/// Bounds concurrent Argon2 work (each verification holds ~19 MiB and a
/// core for tens of milliseconds).
#[derive(Debug)]
pub struct PasswordChecks {
    permits: Arc<Semaphore>,
}

impl Default for PasswordChecks {
    fn default() -> Self {
        let cores = std::thread::available_parallelism()
            .map(std::num::NonZeroUsize::get)
            .unwrap_or(2)
            .clamp(1, 64);
        PasswordChecks {
            permits: Arc::new(Semaphore::new(cores)),
        }
    }
}

impl PasswordChecks {
    /// A slot for one password check, or a quick 429 with `Retry-After`
    /// if every slot is busy.
    pub fn try_permit(&self, metrics: &Metrics) -> Result<OwnedSemaphorePermit, ApiError> {
        self.permits.clone().try_acquire_owned().map_err(|_| {
            metrics.password_busy.fetch_add(1, Ordering::Relaxed);
            ApiError::RetryLater {
                message: "password checks are busy; retry after 1 second".into(),
                retry_after: 1,
            }
        })
    }
}

/// Most host snapshot long-polls waiting at once; more get 429 with
/// `Retry-After`.
pub const MAX_LONG_POLLS: usize = 4096;

/// Host snapshot long-poll state (the behaviour is
/// `crate::service::host_sync`): the latest generation seen, the waiting
/// slots, whether the poller runs.
#[derive(Debug)]
pub struct HostSync {
    /// The latest generation the poller read.
    pub latest: tokio::sync::watch::Sender<u64>,
    /// One permit per waiting long-poll.
    pub slots: Arc<tokio::sync::Semaphore>,
    /// Set once the poller task is started.
    pub poller: std::sync::atomic::AtomicBool,
    /// Per-generation snapshots, deltas and per-host long-poll counts.
    pub snapshots: snapshot_cache::Snapshots,
}

impl Default for HostSync {
    fn default() -> HostSync {
        HostSync {
            latest: tokio::sync::watch::channel(0).0,
            slots: Arc::new(tokio::sync::Semaphore::new(MAX_LONG_POLLS)),
            poller: std::sync::atomic::AtomicBool::new(false),
            snapshots: Default::default(),
        }
    }
}

/// Most keys a [`RateBuckets`] tracks.
pub const RATE_BUCKETS_MAX: usize = 100_000;

/// Token buckets by key (one per enrolled host for `POST /v1/host/audit`):
/// a bucket holds up to `burst` tokens and refills at `rate` a second; a
/// request takes one. Memory is bounded by [`RATE_BUCKETS_MAX`] keys: when
/// full, buckets that have refilled completely (the same as a new one) are
/// dropped; if every bucket is still in use a new key waits (fail closed).
#[derive(Debug, Default)]
pub struct RateBuckets {
    map: Mutex<HashMap<String, (f64, std::time::Instant)>>,
}

impl RateBuckets {
    /// Takes a token for `key` at `now`; `Err(seconds)` (at least 1) until
    /// one is available.
    pub fn take(
        &self,
        key: &str,
        rate: u32,
        burst: u32,
        now: std::time::Instant,
    ) -> Result<(), u64> {
        let rate = f64::from(rate.max(1));
        let burst = f64::from(burst.max(1));
        let level = |(tokens, at): &(f64, std::time::Instant)| {
            (tokens + now.saturating_duration_since(*at).as_secs_f64() * rate).min(burst)
        };
        let mut map = match self.map.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        if map.len() >= RATE_BUCKETS_MAX && !map.contains_key(key) {
            map.retain(|_, b| level(b) < burst);
            if map.len() >= RATE_BUCKETS_MAX {
                return Err(1);
            }
        }
        let b = map.entry(key.to_owned()).or_insert((burst, now));
        let tokens = level(b);
        if tokens >= 1.0 {
            *b = (tokens - 1.0, now);
            Ok(())
        } else {
            *b = (tokens, now);
            // Whole seconds until a token is there (1 ≤ n ≤ 1/rate + 1).
            Err(((1.0 - tokens) / rate).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod rate_tests {
    use super::RateBuckets;
    use std::time::{Duration, Instant};

    #[test]
    fn a_burst_then_the_rate_per_key() {
        let b = RateBuckets::default();
        let t = Instant::now();
        for _ in 0..3 {
            assert_eq!(b.take("h1", 2, 3, t), Ok(()));
        }
        assert_eq!(b.take("h1", 2, 3, t), Err(1));
        // Another key has its own bucket.
        assert_eq!(b.take("h2", 2, 3, t), Ok(()));
        // Half a second at 2/s gives one token back, not two.
        let t = t + Duration::from_millis(500);
        assert_eq!(b.take("h1", 2, 3, t), Ok(()));
        assert_eq!(b.take("h1", 2, 3, t), Err(1));
        // A slow rate says how long to wait.
        let c = RateBuckets::default();
        assert_eq!(c.take("h", 1, 1, t), Ok(()));
        assert_eq!(c.take("h", 1, 1, t), Err(1));
        // Never more than the burst, however long the pause.
        let t = t + Duration::from_secs(3600);
        for _ in 0..3 {
            assert_eq!(b.take("h1", 2, 3, t), Ok(()));
        }
        assert_eq!(b.take("h1", 2, 3, t), Err(1));
    }
}

/// Most guest sources tracked at once by [`GuestLimiter`].
const GUEST_BUCKETS_MAX: usize = 100_000;

/// Token buckets of unauthenticated requests by source (an IPv4 address,
/// an IPv6 /64): up to `burst` at once, refilled at `per_minute`. Memory
/// is bounded: when full, buckets that have refilled are dropped; if none
/// has, a new source is refused (fail closed).
#[derive(Debug, Default)]
pub struct GuestLimiter {
    map: std::sync::Mutex<std::collections::HashMap<String, (f64, std::time::Instant)>>,
}

impl GuestLimiter {
    /// Takes a token for `key`; `Err(seconds to wait)` if there is none.
    pub fn take(
        &self,
        key: &str,
        per_minute: u32,
        burst: u32,
        at: std::time::Instant,
    ) -> Result<(), u64> {
        let rate = f64::from(per_minute.max(1)) / 60.0;
        let burst = f64::from(burst.max(1));
        let level = |(tokens, t): &(f64, std::time::Instant)| {
            (tokens + at.saturating_duration_since(*t).as_secs_f64() * rate).min(burst)
        };
        let Ok(mut map) = self.map.lock() else {
            return Err(60);
        };
        if !map.contains_key(key) && map.len() >= GUEST_BUCKETS_MAX {
            map.retain(|_, b| level(b) < burst);
            if map.len() >= GUEST_BUCKETS_MAX {
                return Err(60);
            }
        }
        let b = map.entry(key.to_owned()).or_insert((burst, at));
        let tokens = level(b);
        if tokens >= 1.0 {
            *b = (tokens - 1.0, at);
            Ok(())
        } else {
            *b = (tokens, at);
            Err(((1.0 - tokens) / rate).ceil().max(1.0) as u64)
        }
    }
}
