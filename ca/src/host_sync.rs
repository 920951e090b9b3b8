//! `GET /v1/host/snapshot`: everything an enrolled host needs to decide
//! alone (`ward_protocol::host::Snapshot`), built in one read transaction,
//! with `ETag: "g<generation>"`, `If-None-Match` → 304 and `?wait=N`
//! long-polls.
//!
//! The generation is `audit_head.iam_seq`, read from the database on both
//! backends (so it survives restarts and is shared by replicas). It moves
//! with every mutation that changes identities, credentials, policies,
//! hosts or revocations, and not with password logins, certificate
//! issuance, renewals, audit appends or last-seen updates (those commit
//! with `Mutation::without_iam_change` or outside the mutation path).
//!
//! A long-poll holds no database connection while it waits: it watches a
//! `tokio::sync::watch` fed by one poller task, which re-reads the
//! generation when a local commit signals `Store::changed` and every
//! [`RECHECK`] (a commit by another replica sharing PostgreSQL). The
//! number of concurrent long-polls is bounded ([`MAX_LONG_POLLS`]).

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use sqlx::{AnyConnection, Row};
use ward_protocol::api::Tag;
use ward_protocol::host::{
    Posix, Snapshot, SnapshotGroup, SnapshotHost, SnapshotLoginProfile, SnapshotPolicy,
    SnapshotSshKey, SnapshotUser, AGENT_VERSION_HEADER, MAX_WAIT_SECONDS, SNAPSHOT_VERSION,
};

use crate::api::Q;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::host_join::{require_host, HostPrincipal};
use crate::issue_api::{authorities, trust_domain};
use crate::state::{now, AppState, Shared};
use crate::store::Store;

/// How often the poller re-reads the generation while someone waits.
pub const RECHECK: std::time::Duration = std::time::Duration::from_millis(300);
/// Most long-polls waiting at once; more get 429 with `Retry-After`.
pub const MAX_LONG_POLLS: usize = 4096;
/// A host seen within this many seconds is online (twice the longest
/// long-poll).
pub const ONLINE_WITHIN: i64 = 2 * MAX_WAIT_SECONDS as i64;
/// Longest `X-Ward-Agent-Version` kept.
const MAX_AGENT_VERSION: usize = 64;

/// Long-poll state: the latest generation seen and the waiting slots.
#[derive(Debug)]
pub struct HostSync {
    latest: tokio::sync::watch::Sender<u64>,
    slots: Arc<tokio::sync::Semaphore>,
    poller: AtomicBool,
}

impl Default for HostSync {
    fn default() -> HostSync {
        HostSync {
            latest: tokio::sync::watch::channel(0).0,
            slots: Arc::new(tokio::sync::Semaphore::new(MAX_LONG_POLLS)),
            poller: AtomicBool::new(false),
        }
    }
}

/// The generation as stored (one short read; the connection goes back).
pub async fn generation(c: &mut AnyConnection) -> Result<u64, ApiError> {
    let row = sqlx::query("SELECT iam_seq FROM audit_head WHERE id = 1")
        .fetch_one(&mut *c)
        .await?;
    Ok(u64::try_from(row.try_get::<i64, _>(0)?).unwrap_or(0))
}

impl HostSync {
    /// Starts the poller once: it re-reads the generation after each local
    /// commit signal and every [`RECHECK`] while anyone is waiting.
    fn ensure_poller(&self, st: &Shared) {
        if self.poller.swap(true, Ordering::AcqRel) {
            return;
        }
        let st = Arc::downgrade(st);
        tokio::spawn(async move {
            loop {
                let Some(st) = st.upgrade() else { return };
                let store: Store = st.store.clone();
                let changed = store.changed();
                let notified = changed.notified();
                if st.host_sync.latest.receiver_count() > 0 {
                    match store.pool().acquire().await {
                        Ok(mut c) => match generation(&mut c).await {
                            Ok(g) => {
                                st.host_sync.latest.send_if_modified(|v| {
                                    let moved = *v != g;
                                    *v = g;
                                    moved
                                });
                            }
                            Err(e) => {
                                tracing::debug!(error = %e, "host sync: generation read failed")
                            }
                        },
                        Err(e) => tracing::debug!(error = %e, "host sync: no connection"),
                    }
                }
                drop(st);
                tokio::select! {
                    _ = notified => {}
                    _ = tokio::time::sleep(RECHECK) => {}
                }
            }
        });
    }

    /// Waits until the generation differs from `held` or `deadline`
    /// passes, holding no database connection.
    /// `current` is the generation the caller just read from the store.
    async fn wait(&self, st: &Shared, held: u64, current: u64, deadline: tokio::time::Instant) {
        self.ensure_poller(st);
        let mut rx = self.latest.subscribe();
        // The poller does not read while nobody waits: start from what the
        // caller just read (the poller corrects it within one RECHECK).
        self.latest.send_if_modified(|v| {
            let moved = *v != current;
            *v = current;
            moved
        });
        loop {
            let seen = *rx.borrow_and_update();
            if seen != held {
                return;
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => continue,
                _ => return,
            }
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SnapshotQuery {
    #[serde(default)]
    wait: Option<String>,
}

fn etag(generation: u64) -> String {
    format!("\"g{generation}\"")
}

/// The generation named by `If-None-Match` (`"gN"`, possibly in a list).
fn held_generation(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(v) = headers.get(axum::http::header::IF_NONE_MATCH) else {
        return Ok(None);
    };
    let bad = || {
        ApiError::invalid(
            "If-None-Match",
            "If-None-Match must be an ETag this route returned (\"gN\")",
        )
    };
    let text = v.to_str().map_err(|_| bad())?;
    if text.len() > 256 {
        return Err(bad());
    }
    for tag in text.split(',') {
        let tag = tag.trim();
        let tag = tag.strip_prefix("W/").unwrap_or(tag);
        if let Some(n) = tag
            .strip_prefix("\"g")
            .and_then(|t| t.strip_suffix('"'))
            .and_then(|t| t.parse::<u64>().ok())
        {
            return Ok(Some(n));
        }
    }
    Ok(None)
}

/// `X-Ward-Agent-Version`: at most 64 printable ASCII characters.
fn agent_version(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get(AGENT_VERSION_HEADER) else {
        return Ok(None);
    };
    let b = v.as_bytes();
    if b.is_empty() || b.len() > MAX_AGENT_VERSION || !b.iter().all(|c| (0x20..0x7f).contains(c)) {
        return Err(ApiError::invalid(
            "X-Ward-Agent-Version",
            format!(
                "X-Ward-Agent-Version must be 1 to {MAX_AGENT_VERSION} printable ASCII characters"
            ),
        ));
    }
    Ok(Some(String::from_utf8_lossy(b).into_owned()))
}

/// Records that `host` was seen (and what it runs and holds), outside the
/// audited mutation path: it never moves the generation.
pub(crate) async fn seen(
    st: &AppState,
    host: &HostPrincipal,
    version: Option<&str>,
    generation_held: Option<u64>,
) {
    let r = sqlx::query(
        "UPDATE host_identity SET last_seen = $1,
             agent_version = COALESCE($2, agent_version),
             generation_held = COALESCE($3, generation_held)
         WHERE host_id = $4",
    )
    .bind(now())
    .bind(version)
    .bind(generation_held.and_then(|g| i64::try_from(g).ok()))
    .bind(&host.id)
    .execute(st.store.pool())
    .await;
    if let Err(e) = r {
        tracing::warn!(error = %e, host = %host.name, "could not record that a host was seen");
    }
}

/// An enrolled host's agent state for `GET /v1/hosts`; `None` if it never
/// joined.
pub(crate) async fn agent_status(
    c: &mut AnyConnection,
    host_id: &str,
    current: u64,
) -> Result<Option<ward_protocol::api::HostAgent>, ApiError> {
    let r = sqlx::query(
        "SELECT joined_at, last_seen, agent_version, generation_held, x509_serial, ssh_serial
         FROM host_identity WHERE host_id = $1",
    )
    .bind(host_id)
    .fetch_optional(&mut *c)
    .await?;
    let Some(r) = r else { return Ok(None) };
    let last_seen: Option<i64> = r.try_get(1)?;
    Ok(Some(ward_protocol::api::HostAgent {
        joined: crate::api::rfc3339(r.try_get(0)?),
        last_seen: last_seen.map(crate::api::rfc3339),
        online: last_seen.is_some_and(|t| now() - t <= ONLINE_WITHIN),
        agent_version: r.try_get(2)?,
        generation_held: r
            .try_get::<Option<i64>, _>(3)?
            .and_then(|g| u64::try_from(g).ok()),
        generation_current: current,
        x509_serial: r.try_get(4)?,
        ssh_serial: r.try_get(5)?,
    }))
}

fn not_modified(generation: u64) -> Response {
    let mut r = StatusCode::NOT_MODIFIED.into_response();
    if let Ok(v) = HeaderValue::from_str(&etag(generation)) {
        r.headers_mut().insert(axum::http::header::ETAG, v);
    }
    r
}

/// `GET /v1/host/snapshot[?wait=N]`.
pub(crate) async fn snapshot(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Q(q): Q<SnapshotQuery>,
) -> Result<Response, ApiError> {
    let host = require_host(&caller)?.clone();
    let wait = match q.wait.as_deref() {
        None => 0,
        Some(w) => w
            .parse::<u64>()
            .ok()
            .filter(|n| *n <= MAX_WAIT_SECONDS)
            .ok_or_else(|| {
                ApiError::invalid(
                    "wait",
                    format!("wait must be an integer from 0 to {MAX_WAIT_SECONDS} (seconds)"),
                )
            })?,
    };
    let held = held_generation(&headers)?;
    let version = agent_version(&headers)?;
    if let Some(h) = held {
        let current = {
            let mut c = st.store.pool().acquire().await?;
            generation(&mut c).await?
        };
        if current == h && wait > 0 {
            let _slot = st
                .host_sync
                .slots
                .clone()
                .try_acquire_owned()
                .map_err(|_| ApiError::RetryLater {
                    message: "too many hosts are waiting for changes; retry".into(),
                    retry_after: 1,
                })?;
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(wait);
            st.host_sync.wait(&st, h, current, deadline).await;
        } else if current == h {
            seen(&st, &host, version.as_deref(), Some(h)).await;
            return Ok(not_modified(h));
        }
    }
    let snap = build(&st, &host).await?;
    if held == Some(snap.generation) {
        seen(&st, &host, version.as_deref(), held).await;
        return Ok(not_modified(snap.generation));
    }
    seen(&st, &host, version.as_deref(), Some(snap.generation)).await;
    let body = serde_json::to_vec(&snap).map_err(ApiError::internal)?;
    let mut r = (
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&etag(snap.generation)) {
        r.headers_mut().insert(axum::http::header::ETAG, v);
    }
    Ok(r)
}

/// A user's POSIX view: none unless the name is a portable Unix name;
/// home `/home/NAME` and shell `/bin/bash` unless set.
// TODO(lead): replace with the shared `posix_view` when it lands.
pub(crate) fn snapshot_posix(
    name: &str,
    uid: i64,
    gid: Option<i64>,
    home: Option<String>,
    shell: Option<String>,
    gecos: String,
) -> Option<Posix> {
    ward_authz::names::unix_name("name", name).ok()?;
    let uid = u32::try_from(uid).ok()?;
    let gid = u32::try_from(gid.unwrap_or(i64::from(uid))).ok()?;
    Some(Posix {
        uid,
        gid,
        home: home.unwrap_or_else(|| format!("/home/{name}")),
        shell: shell.unwrap_or_else(|| "/bin/bash".into()),
        gecos,
    })
}

/// Builds the snapshot for `host` in one read transaction.
pub async fn build(st: &AppState, host: &HostPrincipal) -> Result<Snapshot, ApiError> {
    let account = st.store.account_id().to_owned();
    let ca = authorities(st).await?;
    let t = now();
    let mut tx = st.store.read_tx().await?;
    let c: &mut AnyConnection = &mut tx;
    let generation = generation(c).await?;

    let h = sqlx::query("SELECT name, tags FROM hosts WHERE id = $1")
        .bind(&host.id)
        .fetch_optional(&mut *c)
        .await?
        .ok_or_else(|| ApiError::Denied {
            message: format!("host {} has been deregistered", host.name),
        })?;
    let host_tags: String = h.try_get(1)?;
    let host_tags: Vec<Tag> = serde_json::from_str(&host_tags)
        .map_err(|e| ApiError::internal(format!("host {}: tags unreadable: {e}", host.name)))?;

    // Managed policies: id → (ARN, default version text).
    let mut policies: HashMap<String, (String, String)> = HashMap::new();
    for r in sqlx::query(
        "SELECT p.id, p.path, p.name, v.document FROM policies p
         JOIN policy_versions v ON v.policy_id = p.id AND v.version = p.default_version",
    )
    .fetch_all(&mut *c)
    .await?
    {
        let (id, path, name, doc): (String, String, String, String) =
            (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
        policies.insert(id, (ward_authz::arn::policy(&account, &path, &name), doc));
    }
    let mut referenced: BTreeSet<String> = BTreeSet::new();

    // Attachments and inline documents by (type, principal id).
    let mut managed: HashMap<(String, String), Vec<String>> = HashMap::new();
    for r in sqlx::query(
        "SELECT principal_type, principal_id, policy_id FROM attachments ORDER BY principal_type, principal_id, policy_id",
    )
    .fetch_all(&mut *c)
    .await?
    {
        let (ty, pid, pol): (String, String, String) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
        if let Some((arn, _)) = policies.get(&pol) {
            referenced.insert(pol.clone());
            managed.entry((ty, pid)).or_default().push(arn.clone());
        }
    }
    let mut inline: HashMap<(String, String), Vec<String>> = HashMap::new();
    for r in sqlx::query(
        "SELECT principal_type, principal_id, document FROM inline_policies ORDER BY principal_type, principal_id, name_lc",
    )
    .fetch_all(&mut *c)
    .await?
    {
        let (ty, pid, doc): (String, String, String) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
        inline.entry((ty, pid)).or_default().push(doc);
    }

    let mut tags: HashMap<String, Vec<Tag>> = HashMap::new();
    for r in
        sqlx::query("SELECT user_id, tag_key, tag_value FROM user_tags ORDER BY user_id, key_lc")
            .fetch_all(&mut *c)
            .await?
    {
        tags.entry(r.try_get(0)?).or_default().push(Tag {
            key: r.try_get(1)?,
            value: r.try_get(2)?,
        });
    }
    let mut member_of: HashMap<String, Vec<String>> = HashMap::new();
    for r in sqlx::query(
        "SELECT m.user_id, g.name FROM group_members m JOIN iam_groups g ON g.id = m.group_id ORDER BY g.name_lc",
    )
    .fetch_all(&mut *c)
    .await?
    {
        member_of.entry(r.try_get(0)?).or_default().push(r.try_get(1)?);
    }
    let mut keys: HashMap<String, Vec<SnapshotSshKey>> = HashMap::new();
    for r in sqlx::query(
        "SELECT user_id, id, public_key, status FROM ssh_keys ORDER BY user_id, uploaded_at, id",
    )
    .fetch_all(&mut *c)
    .await?
    {
        keys.entry(r.try_get(0)?).or_default().push(SnapshotSshKey {
            id: r.try_get(1)?,
            public_key: r.try_get(2)?,
            status: r.try_get(3)?,
        });
    }
    // Only whether a password is set and must be changed: never the hash.
    let mut profiles: HashMap<String, SnapshotLoginProfile> = HashMap::new();
    for r in sqlx::query("SELECT user_id, reset_required FROM login_profiles")
        .fetch_all(&mut *c)
        .await?
    {
        profiles.insert(
            r.try_get(0)?,
            SnapshotLoginProfile {
                reset_required: r.try_get::<i64, _>(1)? != 0,
            },
        );
    }

    let mut users = Vec::new();
    for r in sqlx::query(
        "SELECT id, name, path, uid, gid, home, shell, gecos, disabled_at, boundary_policy_id FROM users ORDER BY name_lc",
    )
    .fetch_all(&mut *c)
    .await?
    {
        let id: String = r.try_get(0)?;
        let name: String = r.try_get(1)?;
        let boundary: Option<String> = r.try_get(9)?;
        let permissions_boundary = match boundary {
            None => None,
            Some(pid) => {
                let (arn, _) = policies.get(&pid).ok_or_else(|| {
                    ApiError::internal(format!("user {name}: its boundary policy is missing"))
                })?;
                referenced.insert(pid.clone());
                Some(arn.clone())
            }
        };
        let key = ("user".to_owned(), id.clone());
        users.push(SnapshotUser {
            posix: snapshot_posix(
                &name,
                r.try_get(3)?,
                r.try_get(4)?,
                r.try_get(5)?,
                r.try_get(6)?,
                r.try_get(7)?,
            ),
            enabled: r.try_get::<Option<i64>, _>(8)?.is_none(),
            path: r.try_get(2)?,
            tags: tags.remove(&id).unwrap_or_default(),
            groups: member_of.remove(&id).unwrap_or_default(),
            inline_policies: inline.remove(&key).unwrap_or_default(),
            managed_policies: managed.remove(&key).unwrap_or_default(),
            permissions_boundary,
            ssh_keys: keys.remove(&id).unwrap_or_default(),
            login_profile: profiles.remove(&id),
            id,
            name,
        });
    }

    let mut groups = Vec::new();
    for r in sqlx::query("SELECT id, name, path, gid FROM iam_groups ORDER BY name_lc")
        .fetch_all(&mut *c)
        .await?
    {
        let id: String = r.try_get(0)?;
        let name: String = r.try_get(1)?;
        let gid: i64 = r.try_get(3)?;
        let key = ("group".to_owned(), id.clone());
        groups.push(SnapshotGroup {
            gid: ward_authz::names::unix_name("name", &name)
                .ok()
                .and_then(|_| u32::try_from(gid).ok()),
            path: r.try_get(2)?,
            inline_policies: inline.remove(&key).unwrap_or_default(),
            managed_policies: managed.remove(&key).unwrap_or_default(),
            id,
            name,
        });
    }

    let mut revoked_ssh_serials = Vec::new();
    for r in sqlx::query(
        "SELECT serial FROM certificates WHERE kind = $1 AND revoked_at IS NOT NULL AND valid_before > $2 ORDER BY serial",
    )
    .bind(crate::certs::kind::SSH_USER)
    .bind(t)
    .fetch_all(&mut *c)
    .await?
    {
        let s: String = r.try_get(0)?;
        // Fail closed: an unreadable serial is a bug, not "nothing revoked".
        revoked_ssh_serials.push(
            s.parse::<u64>()
                .map_err(|_| ApiError::internal(format!("revoked SSH serial {s:?} is not a number")))?,
        );
    }
    revoked_ssh_serials.sort_unstable();
    tx.end_read().await?;

    let policies = referenced
        .iter()
        .filter_map(|id| policies.get(id))
        .map(|(arn, doc)| SnapshotPolicy {
            arn: arn.clone(),
            document: doc.clone(),
        })
        .collect();
    Ok(Snapshot {
        version: SNAPSHOT_VERSION,
        generation,
        account: account.clone(),
        trust_domain: trust_domain(st),
        built_at: t,
        host: SnapshotHost {
            arn: ward_authz::arn::host(&account, &host.name),
            name: host.name.clone(),
            tags: host_tags,
        },
        users,
        groups,
        policies,
        ssh_user_ca_keys: ca.ssh_user.iter().map(|e| e.public_text.clone()).collect(),
        revoked_ssh_serials,
    })
}
