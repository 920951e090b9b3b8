//! The audit log as an API: listing events, verifying the chain, signed
//! checkpoints and the checkpoint public key.

use axum::extract::State;
use axum::{Extension, Json};
use ward_policy::Instant;
use ward_protocol::api;

use crate::error::ApiError;
use crate::service::authz::authorize_read;
use crate::service::caller::Caller;
use crate::service::iam::*;
use crate::service::names;
use crate::service::request::{limit, rfc3339, Q};
use crate::state::{now, Shared};
use crate::store::AuditFilter;

// ---- audit ------------------------------------------------------------

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct AuditQuery {
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    since: Option<String>,
    #[serde(default)]
    until: Option<String>,
    #[serde(default)]
    after_seq: Option<String>,
    #[serde(default)]
    limit: Option<String>,
}

fn time_param(field: &str, v: &Option<String>, default: i64) -> Result<i64, ApiError> {
    match v {
        None => Ok(default),
        Some(s) => Instant::parse(s)
            .map(Instant::epoch_seconds)
            .ok_or_else(|| {
                ApiError::invalid(
                    field,
                    format!("{s:?} is not a time (RFC 3339 or epoch seconds)"),
                )
            }),
    }
}

pub(crate) async fn audit_events(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    Q(q): Q<AuditQuery>,
) -> Result<Json<api::AuditEventList>, ApiError> {
    let limit = limit(&q.limit)?;
    let after_seq = match &q.after_seq {
        None => 0,
        Some(s) => s.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
            ApiError::invalid("afterSeq", "afterSeq must be a non-negative integer")
        })?,
    };
    let f = AuditFilter {
        after_seq,
        since: time_param("since", &q.since, i64::MIN)?,
        until: time_param("until", &q.until, i64::MAX)?,
        principal: q.user.clone().unwrap_or_default(),
        action: q.action.clone().unwrap_or_default(),
        limit,
    };
    names::text("user", &f.principal, 2048)?;
    names::text("action", &f.action, 256)?;
    authorize_read(
        &st,
        &caller,
        "audit:ListEvents",
        &ward_authz::arn::audit_log(&acct(&st)),
        &[],
    )
    .await?;
    let events = st.store.audit_events(&f).await?;
    let next = (events.len() as i64 == limit)
        .then(|| events.last().map(|e| e.seq))
        .flatten();
    Ok(Json(api::AuditEventList {
        events: events
            .into_iter()
            .map(|e| api::AuditEvent {
                seq: e.seq,
                time: rfc3339(e.event.at),
                principal: e.event.principal,
                action: e.event.action,
                resource: e.event.resource,
                decision: e.event.decision,
                source_ip: e.event.source_ip,
                detail: e.event.detail,
                hash: e.hash,
            })
            .collect(),
        next_after_seq: next,
    }))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct VerifyQuery {
    #[serde(default)]
    checkpoint_seq: Option<String>,
    #[serde(default)]
    checkpoint_mac: Option<String>,
}

pub(crate) async fn audit_verify(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    Q(q): Q<VerifyQuery>,
) -> Result<Json<api::AuditVerify>, ApiError> {
    let checkpoint = match (&q.checkpoint_seq, &q.checkpoint_mac) {
        (None, None) => None,
        (Some(seq), Some(mac)) => {
            let seq = seq.parse::<i64>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                ApiError::invalid("checkpointSeq", "checkpointSeq must be a positive integer")
            })?;
            if mac.len() != 64 || !mac.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ApiError::invalid(
                    "checkpointMac",
                    "checkpointMac must be 64 hex digits",
                ));
            }
            Some((seq, mac.to_ascii_lowercase()))
        }
        (Some(_), None) => {
            return Err(ApiError::invalid(
                "checkpointMac",
                "checkpointSeq needs checkpointMac",
            ))
        }
        (None, Some(_)) => {
            return Err(ApiError::invalid(
                "checkpointSeq",
                "checkpointMac needs checkpointSeq",
            ))
        }
    };
    authorize_read(
        &st,
        &caller,
        "audit:VerifyLog",
        &ward_authz::arn::audit_log(&acct(&st)),
        &[],
    )
    .await?;
    let cp = checkpoint.as_ref().map(|(n, m)| (*n, m.as_str()));
    Ok(Json(match st.store.verify_audit(cp).await? {
        Ok(v) => api::AuditVerify {
            ok: true,
            events: v.events,
            problem: None,
            legacy_events: (v.legacy_events > 0).then_some(v.legacy_events),
            checkpoint_seq: cp.map(|(n, _)| n),
        },
        Err(p) => api::AuditVerify {
            ok: false,
            events: 0,
            problem: Some(p),
            legacy_events: None,
            checkpoint_seq: cp.map(|(n, _)| n),
        },
    }))
}

/// `GET /v1/audit/checkpoint`: the audit head, signed.
pub(crate) async fn audit_checkpoint(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<api::AuditCheckpoint>, ApiError> {
    authorize_read(
        &st,
        &caller,
        "audit:GetCheckpoint",
        &ward_authz::arn::audit_log(&acct(&st)),
        &[],
    )
    .await?;
    let signer = st
        .audit_signer
        .as_ref()
        .ok_or_else(|| ApiError::internal("the audit signing key is not loaded"))?;
    let (seq, mac) = st.store.audit_head().await?;
    Ok(Json(signer.checkpoint(
        &acct(&st),
        seq,
        &mac,
        &rfc3339(now()),
    )))
}

/// `GET /v1/ca/audit-key` (unauthenticated, like the CA keys): the public
/// key that signs audit checkpoints, derived from the opened private key.
pub(crate) async fn audit_key(State(st): State<Shared>) -> Result<Json<api::AuditKey>, ApiError> {
    let signer = st
        .audit_signer
        .as_ref()
        .ok_or_else(|| ApiError::internal("the audit signing key is not loaded"))?;
    Ok(Json(api::AuditKey {
        account_id: acct(&st).to_owned(),
        key_id: signer.id.clone(),
        public_key: signer.public_key_b64(),
    }))
}
