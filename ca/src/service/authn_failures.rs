//! Failed authentications: counted per source in [`crate::failures`]
//! (which rate-limits the source) and audited — the first per source and
//! code per window as its own event, the rest as aggregates. http's `auth`
//! and `POST /v1/host/join` (where the join token is the credential) both
//! report here, so a bad join token is throttled like a bad signature.

use std::net::IpAddr;

use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::failures::{bounded, Aggregate};
use crate::state::{now, AppState};
use crate::store::AuditEvent;

/// Counts one failed authentication from `source_ip` in the per-source
/// failure table (which rate-limits the source) and audits it (the first
/// per source and code per window; the rest as aggregates). Also used by
/// `POST /v1/host/join`, where the join token is the credential.
pub async fn note_failure(
    st: &AppState,
    claimed: String,
    resource: &str,
    source_ip: IpAddr,
    e: &ApiError,
) {
    let t = now();
    st.metrics
        .auth_failures
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let outcome = st.failures.failure(source_ip, e.code(), t);
    if outcome.record {
        let ev = AuditEvent {
            at: t,
            principal: bounded(&claimed),
            action: "ward:Authenticate".into(),
            resource: bounded(resource),
            decision: "Failed".into(),
            source_ip: source_ip.to_string(),
            detail: serde_json::json!({"code": e.code(), "message": bounded(&e.message())}),
        };
        if let Err(err) = st.store.record(&ev).await {
            tracing::warn!(error = %err, "could not audit an authentication failure");
        }
    }
    record_aggregates(st, &outcome.flushed).await;
}

/// Writes aggregate events for failures counted but not recorded one by one.
pub async fn record_aggregates(st: &AppState, aggregates: &[Aggregate]) {
    for a in aggregates {
        let ev = AuditEvent {
            at: now(),
            principal: "anonymous".into(),
            action: "ward:Authenticate".into(),
            resource: "(aggregate)".into(),
            decision: "Failed".into(),
            source_ip: a.source.to_string(),
            detail: serde_json::json!({
                "code": a.code,
                "aggregatedFailures": a.count,
                "windowStart": a.window_start,
                "windowEnd": a.window_end,
            }),
        };
        if let Err(err) = st.store.record(&ev).await {
            tracing::warn!(error = %err, count = a.count, "could not audit aggregated authentication failures");
        }
    }
}

/// The answer to a rate-limited source: 429 `Throttled` with
/// `Retry-After: secs`.
pub fn throttled(secs: i64) -> Response {
    let mut r = ApiError::Throttled {
        message: format!("too many failed authentications from this address; retry in {secs} s"),
    }
    .into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(&secs.to_string()) {
        r.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
    }
    r
}
