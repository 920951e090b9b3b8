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

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use ward_protocol::host::{
    Snapshot, SnapshotGroup, SnapshotHost, SnapshotPolicy, SnapshotUser, AGENT_VERSION_HEADER,
    MAX_WAIT_SECONDS, SNAPSHOT_VERSION,
};

use crate::error::ApiError;
use crate::service::caller::require_host;
use crate::service::caller::Caller;
use crate::service::certificates::{authorities, trust_domain};
use crate::service::posix::posix_view;
use crate::service::request::{rfc3339, Q};
use crate::state::{now, AppState, HostSync, Shared};
use crate::store::host_identity::{self, generation, HostPrincipal};
use crate::store::Store;

/// How often the poller re-reads the generation while someone waits.
pub const RECHECK: std::time::Duration = std::time::Duration::from_millis(300);
/// Most long-polls waiting at once; more get 429 with `Retry-After`.
pub use crate::state::MAX_LONG_POLLS;
/// A host seen within this many seconds is online (twice the longest
/// long-poll).
pub const ONLINE_WITHIN: i64 = 2 * MAX_WAIT_SECONDS as i64;
/// Longest `X-Ward-Agent-Version` kept.
const MAX_AGENT_VERSION: usize = 64;

/// Starts the poller once: it re-reads the generation after each local
/// commit signal and every [`RECHECK`] while anyone is waiting.
fn ensure_poller(hs: &HostSync, st: &Shared) {
    if hs.poller.swap(true, Ordering::AcqRel) {
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
async fn wait_for_change(
    hs: &HostSync,
    st: &Shared,
    held: u64,
    current: u64,
    deadline: tokio::time::Instant,
) {
    ensure_poller(hs, st);
    let mut rx = hs.latest.subscribe();
    // The poller does not read while nobody waits: start from what the
    // caller just read (the poller corrects it within one RECHECK).
    hs.latest.send_if_modified(|v| {
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
    let r = host_identity::seen(&st.store, &host.id, now(), version, generation_held).await;
    if let Err(e) = r {
        tracing::warn!(error = %e, host = %host.name, "could not record that a host was seen");
    }
}

/// An enrolled host's agent state for `GET /v1/hosts`; `None` if it never
/// joined.
pub(crate) async fn agent_status(
    c: &mut crate::store::Conn,
    host_id: &str,
    current: u64,
) -> Result<Option<ward_protocol::api::HostAgent>, ApiError> {
    let Some(r) = host_identity::identity(c, host_id).await? else {
        return Ok(None);
    };
    Ok(Some(ward_protocol::api::HostAgent {
        joined: rfc3339(r.joined_at),
        last_seen: r.last_seen.map(rfc3339),
        online: r.last_seen.is_some_and(|t| now() - t <= ONLINE_WITHIN),
        agent_version: r.agent_version,
        generation_held: r.generation_held,
        generation_current: current,
        x509_serial: r.x509_serial,
        ssh_serial: r.ssh_serial,
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
            wait_for_change(&st.host_sync, &st, h, current, deadline).await;
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
    // Every change costs each host the whole snapshot (6 MB of JSON at
    // 10,000 users, about 0.8 MB gzipped): compress it for hosts that
    // accept gzip, off the async workers.
    let gzip = body.len() >= GZIP_MIN && accepts_gzip(&headers);
    let body = if gzip {
        tokio::task::spawn_blocking(move || gzip_bytes(&body))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)?
    } else {
        body
    };
    let mut r = (
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response();
    r.headers_mut().insert(
        axum::http::header::VARY,
        HeaderValue::from_static("accept-encoding"),
    );
    if gzip {
        r.headers_mut().insert(
            axum::http::header::CONTENT_ENCODING,
            HeaderValue::from_static("gzip"),
        );
    }
    if let Ok(v) = HeaderValue::from_str(&etag(snap.generation)) {
        r.headers_mut().insert(axum::http::header::ETAG, v);
    }
    Ok(r)
}

/// Snapshots smaller than this are sent as they are.
const GZIP_MIN: usize = 16 * 1024;

/// True if the request's `Accept-Encoding` lists gzip (without `q=0`).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(axum::http::header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            coding.eq_ignore_ascii_case("gzip") && !refused
        })
}

fn gzip_bytes(body: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 6),
        flate2::Compression::new(6),
    );
    enc.write_all(body)?;
    enc.finish()
}

/// Builds the snapshot for `host` in one read transaction.
pub async fn build(st: &AppState, host: &HostPrincipal) -> Result<Snapshot, ApiError> {
    let account = st.store.account_id().to_owned();
    let ca = authorities(st).await?;
    let t = now();
    let mut tx = st.store.read_tx().await?;
    let rows = host_identity::snapshot_rows(&mut tx, &account, &host.id, t).await?;
    let registry = crate::service::host_address::for_snapshot(&mut tx, &host.id).await?;
    tx.end_read().await?;
    let mut rows = rows.ok_or_else(|| ApiError::Denied {
        message: format!("host {} has been deregistered", host.name),
    })?;

    let mut users = Vec::new();
    for u in std::mem::take(&mut rows.users) {
        let permissions_boundary = match &u.boundary_policy_id {
            None => None,
            Some(pid) => {
                let (arn, _) = rows.policies.get(pid).ok_or_else(|| {
                    ApiError::internal(format!("user {}: its boundary policy is missing", u.name))
                })?;
                rows.referenced.insert(pid.clone());
                Some(arn.clone())
            }
        };
        let key = ("user".to_owned(), u.id.clone());
        users.push(SnapshotUser {
            // The one POSIX view the API shows too.
            posix: posix_view(&u, &st.config.posix),
            enabled: u.disabled_at.is_none(),
            tags: rows.tags.remove(&u.id).unwrap_or_default(),
            groups: rows.member_of.remove(&u.id).unwrap_or_default(),
            inline_policies: rows.inline.remove(&key).unwrap_or_default(),
            managed_policies: rows.managed.remove(&key).unwrap_or_default(),
            permissions_boundary,
            ssh_keys: rows.keys.remove(&u.id).unwrap_or_default(),
            login_profile: rows.profiles.remove(&u.id),
            path: u.path,
            id: u.id,
            name: u.name,
        });
    }

    let mut groups = Vec::new();
    for (id, name, path, gid) in std::mem::take(&mut rows.groups) {
        let key = ("group".to_owned(), id.clone());
        groups.push(SnapshotGroup {
            gid: ward_authz::names::unix_name("name", &name)
                .ok()
                .and_then(|_| u32::try_from(gid).ok()),
            path,
            inline_policies: rows.inline.remove(&key).unwrap_or_default(),
            managed_policies: rows.managed.remove(&key).unwrap_or_default(),
            id,
            name,
        });
    }

    let policies = rows
        .referenced
        .iter()
        .filter_map(|id| rows.policies.get(id))
        .map(|(arn, doc)| SnapshotPolicy {
            arn: arn.clone(),
            document: doc.clone(),
        })
        .collect();
    Ok(Snapshot {
        version: SNAPSHOT_VERSION,
        generation: rows.generation,
        account: account.clone(),
        trust_domain: trust_domain(st),
        built_at: t,
        host: SnapshotHost {
            arn: ward_authz::arn::host(&account, &host.name),
            name: host.name.clone(),
            tags: rows.host_tags,
        },
        users,
        groups,
        policies,
        ssh_user_ca_keys: ca.ssh_user.iter().map(|e| e.public_text.clone()).collect(),
        revoked_ssh_serials: rows.revoked_ssh_serials,
        registry,
    })
}
