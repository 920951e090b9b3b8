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
//! number of concurrent long-polls is bounded ([`MAX_LONG_POLLS`]), and
//! each host may hold at most [`MAX_LONG_POLLS_PER_HOST`] of them (past
//! that it is answered at once instead of waiting).
//!
//! Snapshots are built once per generation, not once per fetch: the
//! host-independent part (users, groups, policies, CA keys, revocations) is
//! read in one transaction by one build while concurrent fetches of the
//! same generation wait for it ([`Snapshots`]), serialised once with a
//! placeholder host section, its bytes after the host section deflated
//! once; each response splices in the asking host's section (read at the
//! same generation), so a host gets byte for byte the JSON a one-host
//! build would give. The last [`crate::state::snapshot_cache::KEEP_GENERATIONS`] generations stay in
//! memory: an agent that lists [`SNAPSHOT_DELTA_MEDIA_TYPE`] in `Accept`
//! and holds one of them gets a [`SnapshotDelta`] (computed once per pair
//! of generations) when it is smaller than the whole snapshot, with the
//! SHA-256 of the result's `digest_input` so the agent can check what it
//! applied.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;

use ward_protocol::host::{
    Snapshot, SnapshotDelta, SnapshotGroup, SnapshotHost, SnapshotPolicy, SnapshotRole,
    SnapshotUser, AGENT_VERSION_HEADER, MAX_WAIT_SECONDS, SNAPSHOT_DELTA_MEDIA_TYPE,
    SNAPSHOT_VERSION,
};

use crate::error::ApiError;
use crate::service::caller::require_host;
use crate::service::caller::Caller;
use crate::service::certificates::{authorities, trust_domain};
use crate::service::posix::posix_view;
use crate::service::request::{rfc3339, Q};
use crate::state::snapshot_cache::{lock, Built, Spliced};
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
    let wants_delta = accepts_delta(&headers);
    let snaps = &st.host_sync.snapshots;
    if let Some(h) = held {
        let current = {
            let mut c = st.store.pool().acquire().await?;
            generation(&mut c).await?
        };
        if current == h && wait > 0 {
            // One host may hold a few waits, never the global slots: past
            // its share it is told at once that nothing changed.
            let Some(_mine) = snaps.wait_slot(&host.id) else {
                snaps.answered_at_once.fetch_add(1, Ordering::Relaxed);
                seen(&st, &host, version.as_deref(), Some(h)).await;
                return Ok(not_modified(h));
            };
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
    let (built, section, cached) = current_for_host(&st, &host).await?;
    if held == Some(built.generation) {
        seen(&st, &host, version.as_deref(), held).await;
        return Ok(not_modified(built.generation));
    }
    seen(&st, &host, version.as_deref(), Some(built.generation)).await;
    let host_json = serde_json::to_vec(&section).map_err(ApiError::internal)?;
    let gzip_ok = accepts_gzip(&headers);
    if let (true, true, Some(h)) = (wants_delta, cached, held) {
        if let Some(d) = delta_for(&st, h, &built).await? {
            snaps.deltas_sent.fetch_add(1, Ordering::Relaxed);
            return respond(
                &d,
                &host_json,
                gzip_ok,
                SNAPSHOT_DELTA_MEDIA_TYPE,
                built.generation,
                true,
            )
            .await;
        }
    }
    let full = built.spliced().await?;
    snaps.full_sent.fetch_add(1, Ordering::Relaxed);
    respond(
        &full,
        &host_json,
        gzip_ok,
        "application/json",
        built.generation,
        wants_delta,
    )
    .await
}

/// The answer: `doc` with the host's section, gzipped when large and the
/// host accepts gzip.
async fn respond(
    doc: &Arc<Spliced>,
    host_json: &[u8],
    gzip_ok: bool,
    content_type: &'static str,
    generation: u64,
    vary_accept: bool,
) -> Result<Response, ApiError> {
    let gzip = gzip_ok && doc.len_with(host_json) >= GZIP_MIN;
    let body = if gzip {
        // The part after the host section was compressed once per
        // generation; only the few hundred bytes before it are compressed
        // here.
        doc.gzip(host_json).map_err(ApiError::internal)?
    } else {
        doc.body(host_json)
    };
    let mut r = (
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, content_type)],
        body,
    )
        .into_response();
    r.headers_mut().insert(
        axum::http::header::VARY,
        HeaderValue::from_static(if vary_accept {
            "accept, accept-encoding"
        } else {
            "accept-encoding"
        }),
    );
    if gzip {
        r.headers_mut().insert(
            axum::http::header::CONTENT_ENCODING,
            HeaderValue::from_static("gzip"),
        );
    }
    if let Ok(v) = HeaderValue::from_str(&etag(generation)) {
        r.headers_mut().insert(axum::http::header::ETAG, v);
    }
    Ok(r)
}

/// Snapshots smaller than this are sent as they are.
const GZIP_MIN: usize = 16 * 1024;

/// True if the request's `Accept-Encoding` lists gzip (without `q=0`).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    lists(headers, axum::http::header::ACCEPT_ENCODING, "gzip")
}

/// True if the request's `Accept` lists [`SNAPSHOT_DELTA_MEDIA_TYPE`]
/// (without `q=0`): the agent can apply deltas.
fn accepts_delta(headers: &HeaderMap) -> bool {
    lists(
        headers,
        axum::http::header::ACCEPT,
        SNAPSHOT_DELTA_MEDIA_TYPE,
    )
}

/// True if a comma-separated header lists `item` without `q=0`.
fn lists(headers: &HeaderMap, name: axum::http::header::HeaderName, item: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|entry| {
            let mut parts = entry.split(';').map(str::trim);
            let value = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            value.eq_ignore_ascii_case(item) && !refused
        })
}

// ---- per-generation cache ------------------------------------------------------

/// Tries to pair a cached generation with a host section read at that
/// generation before building one host's snapshot in one transaction.
const PAIR_ATTEMPTS: usize = 3;

/// `ward_host_*` lines for `/metrics`.
pub fn render_metrics(hs: &HostSync) -> String {
    let s = &hs.snapshots;
    let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let waiting = MAX_LONG_POLLS.saturating_sub(hs.slots.available_permits());
    format!(
        "# HELP ward_host_snapshot_builds_total Host-independent snapshot builds (one per generation fetched).\n# TYPE ward_host_snapshot_builds_total counter\nward_host_snapshot_builds_total {}\n\
         # HELP ward_host_snapshots_sent_total Host snapshots sent, whole or as a delta.\n# TYPE ward_host_snapshots_sent_total counter\n\
         ward_host_snapshots_sent_total{{kind=\"full\"}} {}\nward_host_snapshots_sent_total{{kind=\"delta\"}} {}\n\
         # HELP ward_host_long_polls_waiting Host snapshot long-polls waiting now.\n# TYPE ward_host_long_polls_waiting gauge\nward_host_long_polls_waiting {}\n\
         # HELP ward_host_long_polls_answered_at_once_total Long-polls answered without waiting because their host already held its share.\n# TYPE ward_host_long_polls_answered_at_once_total counter\nward_host_long_polls_answered_at_once_total {}\n",
        g(&s.builds),
        g(&s.full_sent),
        g(&s.deltas_sent),
        waiting,
        g(&s.answered_at_once),
    )
}

/// The newest generation's shared part and this host's section, read at
/// the same generation, and whether the shared part is the cached one
/// (deltas are computed only between cached generations). A gateway's
/// snapshot also holds the host registry, which ordinary hosts never see:
/// gateways are few, so theirs is built whole on each fetch, outside the
/// cache, and always sent in full.
async fn current_for_host(
    st: &AppState,
    host: &HostPrincipal,
) -> Result<(Arc<Built>, SnapshotHost, bool), ApiError> {
    let account = st.store.account_id().to_owned();
    let gone = || ApiError::Denied {
        message: format!("host {} has been deregistered", host.name),
    };
    for _ in 0..PAIR_ATTEMPTS {
        let mut tx = st.store.read_tx().await?;
        let g = generation(&mut tx).await?;
        let section = host_identity::host_section(&mut tx, &host.id).await?;
        let gateway = crate::service::host_address::is_gateway(&mut tx, &host.id).await?;
        tx.end_read().await?;
        let (_, tags) = section.ok_or_else(gone)?;
        let section = SnapshotHost {
            arn: ward_authz::arn::host(&account, &host.name),
            name: host.name.clone(),
            tags,
        };
        if gateway {
            let cached = lock(&st.host_sync.snapshots.gateway).clone();
            if let Some(b) = cached.filter(|b| b.generation == g) {
                return Ok((b, section, false));
            }
            break;
        }
        let built = generation_for(st, g).await?;
        if built.generation == g {
            return Ok((built, section, true));
        }
    }
    // A gateway, or changes keep coming faster than builds: this host's
    // snapshot in one transaction, outside the per-generation cache. A
    // gateway's (registry included, host section empty) is kept for the
    // next gateway fetch at that generation.
    let mut snap = build(st, host).await?;
    let section = std::mem::take(&mut snap.host);
    let gateway = snap.registry.is_some();
    let built = Arc::new(
        tokio::task::spawn_blocking(move || Built::new(snap))
            .await
            .map_err(ApiError::internal)??,
    );
    let snaps = &st.host_sync.snapshots;
    snaps.builds.fetch_add(1, Ordering::Relaxed);
    if gateway {
        let mut g = lock(&snaps.gateway);
        if g.as_ref()
            .is_none_or(|old| old.generation <= built.generation)
        {
            *g = Some(built.clone());
        }
    }
    Ok((built, section, false))
}

/// The current generation's host-independent snapshot (users, groups,
/// policies), the one the agents fetch: built once per generation and
/// shared. The access map (`service::simulate_matrix`) decides from it.
pub(crate) async fn shared_snapshot(st: &AppState) -> Result<Arc<Built>, ApiError> {
    // `audit_head.iam_seq`, as the snapshots are numbered (not
    // `Store::generation`, a per-process counter on SQLite).
    let mut c = st.store.pool().acquire().await?;
    let g = generation(&mut c).await?;
    drop(c);
    generation_for(st, g).await
}

/// Generation `want`'s shared part, built once: concurrent callers wait
/// for one build (which may find a newer generation; the caller retries).
async fn generation_for(st: &AppState, want: u64) -> Result<Arc<Built>, ApiError> {
    let snaps = &st.host_sync.snapshots;
    if let Some(b) = snaps.get(want) {
        return Ok(b);
    }
    let _one = snaps.building.lock().await;
    if let Some(b) = snaps.get(want) {
        return Ok(b);
    }
    let account = st.store.account_id().to_owned();
    let ca = authorities(st).await?;
    let t = now();
    let mut tx = st.store.read_tx().await?;
    let rows = host_identity::snapshot_rows(&mut tx, &account, None, t).await?;
    tx.end_read().await?;
    let rows = rows.ok_or_else(|| ApiError::internal("snapshot rows without a host are None"))?;
    let ca_keys = ca.ssh_user.iter().map(|e| e.public_text.clone()).collect();
    let snap = assemble(st, rows, ca_keys, t, SnapshotHost::default())?;
    let built = tokio::task::spawn_blocking(move || Built::new(snap))
        .await
        .map_err(ApiError::internal)??;
    snaps.builds.fetch_add(1, Ordering::Relaxed);
    Ok(snaps.insert(Arc::new(built)))
}

/// The delta from `held` to `built` for any host, if `held` is still in
/// memory and the delta is smaller than the full snapshot; computed once
/// per pair.
async fn delta_for(
    st: &AppState,
    held: u64,
    built: &Arc<Built>,
) -> Result<Option<Arc<Spliced>>, ApiError> {
    let snaps = &st.host_sync.snapshots;
    let Some(base) = snaps.get(held) else {
        return Ok(None);
    };
    let key = (held, built.generation);
    let mut map = snaps.deltas.lock().await;
    if let Some(d) = map.get(&key) {
        return Ok(d.clone());
    }
    let new = built.clone();
    let d = tokio::task::spawn_blocking(move || -> Result<Option<Arc<Spliced>>, ApiError> {
        let Some(mut d) = SnapshotDelta::between(&base.snapshot, &new.snapshot) else {
            return Ok(None);
        };
        d.digest.clone_from(&new.digest);
        let bytes = serde_json::to_vec(&d).map_err(ApiError::internal)?;
        if bytes.len() >= new.json_len {
            return Ok(None);
        }
        Spliced::new(bytes).map(|s| Some(Arc::new(s)))
    })
    .await
    .map_err(ApiError::internal)??;
    let kept: Vec<u64> = lock(&snaps.kept).iter().map(|b| b.generation).collect();
    map.retain(|(a, b), _| kept.contains(a) && kept.contains(b));
    map.insert(key, d.clone());
    Ok(d)
}

/// Builds the snapshot for `host` in one read transaction (outside the
/// per-generation cache).
pub async fn build(st: &AppState, host: &HostPrincipal) -> Result<Snapshot, ApiError> {
    let account = st.store.account_id().to_owned();
    let ca = authorities(st).await?;
    let t = now();
    let mut tx = st.store.read_tx().await?;
    let rows = host_identity::snapshot_rows(&mut tx, &account, Some(&host.id), t).await?;
    let registry = crate::service::host_address::for_snapshot(&mut tx, &host.id).await?;
    let terminations = match registry {
        Some(_) => Some(
            crate::store::gateway_sessions::recent(
                &mut tx,
                t - crate::store::gateway_sessions::KEEP,
            )
            .await?,
        ),
        None => None,
    };
    tx.end_read().await?;
    let rows = rows.ok_or_else(|| ApiError::Denied {
        message: format!("host {} has been deregistered", host.name),
    })?;
    let section = SnapshotHost {
        arn: ward_authz::arn::host(&account, &host.name),
        name: host.name.clone(),
        tags: rows.host_tags.clone(),
    };
    let ca_keys = ca.ssh_user.iter().map(|e| e.public_text.clone()).collect();
    let mut snap = assemble(st, rows, ca_keys, t, section)?;
    snap.registry = registry;
    snap.gateway_terminations = terminations;
    Ok(snap)
}

/// The wire snapshot from its rows.
fn assemble(
    st: &AppState,
    mut rows: host_identity::SnapshotRows,
    ssh_user_ca_keys: Vec<String>,
    t: i64,
    host: SnapshotHost,
) -> Result<Snapshot, ApiError> {
    let account = st.store.account_id().to_owned();
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

    let mut roles = Vec::new();
    for (id, name, path, boundary) in std::mem::take(&mut rows.roles) {
        let permissions_boundary = match &boundary {
            None => None,
            Some(pid) => {
                let (arn, _) = rows.policies.get(pid).ok_or_else(|| {
                    ApiError::internal(format!("role {name}: its boundary policy is missing"))
                })?;
                rows.referenced.insert(pid.clone());
                Some(arn.clone())
            }
        };
        let key = ("role".to_owned(), id.clone());
        roles.push(SnapshotRole {
            tags: rows.role_tags.remove(&id).unwrap_or_default(),
            inline_policies: rows.inline.remove(&key).unwrap_or_default(),
            managed_policies: rows.managed.remove(&key).unwrap_or_default(),
            permissions_boundary,
            id,
            name,
            path,
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
        account,
        trust_domain: trust_domain(st),
        built_at: t,
        host,
        users,
        groups,
        policies,
        ssh_user_ca_keys,
        revoked_ssh_serials: rows.revoked_ssh_serials,
        roles,
        registry: None,
        gateway_terminations: None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::state::snapshot_cache::{Snapshots, MAX_LONG_POLLS_PER_HOST};
    use sha2::{Digest, Sha256};
    use std::io::Read;
    use ward_protocol::api::Tag;

    fn sample(n: usize) -> Snapshot {
        Snapshot {
            version: SNAPSHOT_VERSION,
            generation: 42,
            account: "123456789012".into(),
            trust_domain: "t.ward".into(),
            built_at: 1_700_000_000,
            users: (0..n)
                .map(|i| SnapshotUser {
                    id: format!("AIDA{i:017}"),
                    // A name that looks like the placeholder, escaped.
                    name: format!("u{i}\"host\":{{\"name\":\"\"}}"),
                    path: "/".into(),
                    enabled: true,
                    ..SnapshotUser::default()
                })
                .collect(),
            revoked_ssh_serials: vec![1, 2, 3],
            ..Snapshot::default()
        }
    }

    /// The spliced body is exactly the JSON of the snapshot with the host
    /// section in place, and its gzip decodes to the same bytes.
    #[test]
    fn splicing_gives_the_one_host_json_and_valid_gzip() {
        for n in [0, 3, 5000] {
            let shared = sample(n);
            let built = Built::new(shared.clone()).unwrap();
            assert_eq!(
                built.digest,
                hex::encode(Sha256::digest(
                    ward_protocol::host::digest_input(&shared).unwrap()
                ))
            );
            let mut one = shared.clone();
            one.host = SnapshotHost {
                name: "web-01".into(),
                arn: "arn:ward:host::123456789012:host/web-01".into(),
                tags: vec![Tag {
                    key: "env".into(),
                    value: "prod\"x".into(),
                }],
            };
            let host_json = serde_json::to_vec(&one.host).unwrap();
            let full = lock(&built.full).clone().unwrap();
            let want = serde_json::to_vec(&one).unwrap();
            assert_eq!(full.body(&host_json), want, "n={n}");
            let gz = full.gzip(&host_json).unwrap();
            let mut got = Vec::new();
            flate2::read::GzDecoder::new(gz.as_slice())
                .read_to_end(&mut got)
                .unwrap();
            assert_eq!(got, want, "n={n}");
            if n == 5000 {
                assert!(gz.len() * 4 < want.len());
            }
        }
    }

    #[test]
    fn accept_lists_are_read() {
        let mut h = HeaderMap::new();
        h.insert(
            axum::http::header::ACCEPT,
            HeaderValue::from_static("application/json, application/vnd.ward.snapshot-delta+json"),
        );
        assert!(accepts_delta(&h));
        h.insert(
            axum::http::header::ACCEPT,
            HeaderValue::from_static("application/vnd.ward.snapshot-delta+json;q=0"),
        );
        assert!(!accepts_delta(&h));
        assert!(!accepts_delta(&HeaderMap::new()));
    }

    #[test]
    fn one_host_holds_at_most_its_share_of_waits() {
        let s = Snapshots::default();
        let mine: Vec<_> = (0..MAX_LONG_POLLS_PER_HOST)
            .map(|_| s.wait_slot("AHOA1").unwrap())
            .collect();
        assert!(s.wait_slot("AHOA1").is_none());
        assert!(s.wait_slot("AHOA2").is_some(), "another host still waits");
        drop(mine);
        assert!(s.wait_slot("AHOA1").is_some());
        assert!(lock(&s.waiters).is_empty());
    }
}
