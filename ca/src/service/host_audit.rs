//! `POST /v1/host/audit`: login decisions delivered by an enrolled host
//! (`ward_protocol::host::AuditBatch`), appended to the audit chain as
//! events of the host principal. Each event carries an id the host chose;
//! `(host, id)` is recorded once (`host_audit_ids`), so a batch re-sent
//! after a lost reply adds nothing. A batch is validated whole (≤ 500
//! events, bounded fields) before anything is written, and recorded in one
//! transaction; appends do not move the snapshot generation.
//!
//! Batches are rate-limited per host (a token bucket per host id:
//! `[limits] host_audit_batches_per_second`, default 5, with a burst of
//! `host_audit_burst`, default 20): over it the batch is refused whole with
//! 429 `Throttling` and `Retry-After` before its body is even parsed, so a
//! compromised or broken host cannot flood the audit chain (every batch is
//! a write transaction on the audit head) and nothing of a refused batch is
//! recorded; the agent keeps it spooled and sends it again later.

use axum::body::Bytes;
use axum::extract::State;
use axum::{Extension, Json};
use ward_protocol::host::{AuditAccepted, AuditBatch, HostEvent};

use crate::error::ApiError;
use crate::service::authz::system_grant;
use crate::service::caller::require_host;
use crate::service::caller::Caller;
use crate::service::request::body;
use crate::state::Shared;
use crate::store::host_identity;
use crate::store::{AuditEvent, Grant};

/// Most events in one batch.
pub const MAX_EVENTS: usize = 500;
/// Longest free-text field (reason) kept.
const MAX_REASON: usize = 1024;
/// Longest name-like field (user, principal, service, auth method).
const MAX_NAME: usize = 256;
/// Actions a host may report.
const ACTIONS: &[&str] = &[
    "host:Login",
    "host:Sudo",
    "host:Connect",
    // ward-gateway authentications (issue #13).
    "ward-gateway:Authenticate",
    // Terminating sessions' start and end (issue #13).
    ward_protocol::host::EVENT_GATEWAY_SESSION_START,
    ward_protocol::host::EVENT_GATEWAY_SESSION_END,
    // Recorded (terminating) channels: the recordings' index entries.
    ward_protocol::host::EVENT_GATEWAY_RECORDING_START,
    ward_protocol::host::EVENT_GATEWAY_RECORDING_END,
    // Offline password checks and PAM sessions (issue #12).
    ward_protocol::host::EVENT_VERIFY_PASSWORD,
    ward_protocol::host::EVENT_OPEN_SESSION,
    ward_protocol::host::EVENT_CLOSE_SESSION,
];

fn check_text(field: &str, v: &Option<String>, max: usize) -> Result<(), ApiError> {
    if let Some(s) = v {
        if s.len() > max || s.chars().any(char::is_control) {
            return Err(ApiError::invalid(
                field,
                format!("{field} must be at most {max} bytes without control characters"),
            ));
        }
    }
    Ok(())
}

fn check_event(i: usize, e: &HostEvent) -> Result<(), ApiError> {
    let f = |name: &str| format!("events[{i}].{name}");
    if e.id.is_empty()
        || e.id.len() > 64
        || !e
            .id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(ApiError::invalid(
            f("id"),
            "an event id is 1 to 64 of A-Z a-z 0-9 _ -",
        ));
    }
    if !ACTIONS.contains(&e.action.as_str()) {
        return Err(ApiError::invalid(
            f("action"),
            format!("action must be one of {}", ACTIONS.join(", ")),
        ));
    }
    if !(0..=253_402_300_799).contains(&e.time) {
        return Err(ApiError::invalid(f("time"), "time must be Unix seconds"));
    }
    check_text(&f("user"), &e.user, MAX_NAME)?;
    check_text(&f("principal"), &e.principal, MAX_NAME)?;
    check_text(&f("service"), &e.service, MAX_NAME)?;
    check_text(&f("authMethod"), &e.auth_method, MAX_NAME)?;
    check_text(&f("reason"), &e.reason, MAX_REASON)?;
    check_text(&f("target"), &e.target, MAX_REASON)?;
    if let Some(ip) = &e.source_ip {
        if ip.parse::<std::net::IpAddr>().is_err() {
            return Err(ApiError::invalid(
                f("sourceIp"),
                "sourceIp must be an IP address",
            ));
        }
    }
    Ok(())
}

/// `POST /v1/host/audit`.
pub(crate) async fn deliver(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    b: Bytes,
) -> Result<Json<AuditAccepted>, ApiError> {
    let host = require_host(&caller)?.clone();
    let l = &st.config.limits;
    if let Err(wait) = st.host_audit_limits.take(
        &host.id,
        l.host_audit_batches_per_second,
        l.host_audit_burst,
        std::time::Instant::now(),
    ) {
        return Err(ApiError::RetryLater {
            message: format!(
                "too many audit batches from this host (at most {} a second); nothing of this \
                 batch was recorded: send it again in {wait} s",
                l.host_audit_batches_per_second
            ),
            retry_after: wait,
        });
    }
    let batch: AuditBatch = body(&b)?;
    if batch.events.len() > MAX_EVENTS {
        return Err(ApiError::invalid(
            "events",
            format!(
                "at most {MAX_EVENTS} events per batch, got {}",
                batch.events.len()
            ),
        ));
    }
    for (i, e) in batch.events.iter().enumerate() {
        check_event(i, e)?;
    }
    crate::service::host_sync::seen(&st, &host, None, None).await;
    // Which ids are new: already recorded, or repeated in this batch.
    let mut known = {
        let ids: Vec<&str> = batch.events.iter().map(|e| e.id.as_str()).collect();
        let mut c = st.store.pool().acquire().await?;
        host_identity::known_audit_ids(&mut c, &host.id, &ids).await?
    };
    let mut fresh: Vec<&HostEvent> = Vec::new();
    let mut duplicates = 0u32;
    for e in &batch.events {
        if known.insert(e.id.clone()) {
            fresh.push(e);
        } else {
            duplicates += 1;
        }
    }
    if fresh.is_empty() {
        return Ok(Json(AuditAccepted {
            recorded: 0,
            duplicates,
        }));
    }
    let arn = ward_authz::arn::host(st.store.account_id(), &host.name);
    let grants: Vec<Grant> = fresh
        .iter()
        .map(|e| system_grant(&e.action, &arn))
        .collect();
    let refs: Vec<&Grant> = grants.iter().collect();
    let mut m = st.store.batch(&refs).await?;
    let t = crate::state::now();
    let mut events = Vec::with_capacity(fresh.len());
    for e in &fresh {
        // The primary key refuses an id recorded by a concurrent delivery
        // of the same batch: the whole batch fails and the host retries.
        if !host_identity::insert_audit_id(&mut m.tx, &host.id, &e.id, t).await? {
            return Err(ApiError::Conflict {
                code: "ConcurrentModification",
                message: "these events are being recorded by another request; retry".into(),
            });
        }
        events.push(AuditEvent {
            at: t,
            principal: arn.clone(),
            action: e.action.clone(),
            resource: arn.clone(),
            decision: if e.allowed { "Allowed" } else { "Denied" }.into(),
            source_ip: e
                .source_ip
                .clone()
                .unwrap_or_else(|| caller.source_ip.to_string()),
            detail: serde_json::json!({
                "eventId": e.id,
                "hostTime": e.time,
                "user": e.user,
                "principal": e.principal,
                "service": e.service,
                "authMethod": e.auth_method,
                "reason": e.reason,
                "target": e.target,
                "deliveredFrom": caller.source_ip.to_string(),
            }),
        });
    }
    m.commit(&events).await?;
    Ok(Json(AuditAccepted {
        recorded: u32::try_from(fresh.len()).unwrap_or(u32::MAX),
        duplicates,
    }))
}
