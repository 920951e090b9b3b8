//! `POST /v1/gateway-sessions/{id}/terminate` (issue #13): an
//! administrator ends an open ward-gateway session (`ward session
//! terminate ID`).
//!
//! ward-ca does not track open sessions; it knows a session id from the
//! `ward-gateway:SessionStart` event the gateway delivered (event id
//! `ID-start`, recorded once per host in `host_audit_ids`), which also
//! says which gateway holds it. An id no gateway reported is 404. The
//! caller needs `host:TerminateSession` on that gateway's ARN (its tags as
//! `ward:ResourceTag/*`). The termination is stored (24 h) and, being a
//! change of the snapshot generation, wakes every gateway's long-poll at
//! once; the gateway's snapshot carries it and the gateway ends the
//! session with `ward: session ended: terminated by ARN`. Session ids are
//! 64 random bits: knowing one is what lets a caller learn whether it
//! exists.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use ward_protocol::api;

use crate::error::ApiError;
use crate::service::caller::Caller;
use crate::service::hosts::target;
use crate::service::request::{commit, rfc3339, P};
use crate::state::{now, Shared};
use crate::store::gateway_sessions;

/// The action.
pub const TERMINATE: &str = "host:TerminateSession";

/// Whether `id` is a gateway session id: `gs-` and 16 lowercase hex digits.
pub fn valid_id(id: &str) -> bool {
    id.strip_prefix("gs-").is_some_and(|h| {
        h.len() == 16
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// `POST /v1/gateway-sessions/{id}/terminate`.
pub(crate) async fn terminate(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(id): P<String>,
) -> Result<(StatusCode, Json<api::GatewaySessionTermination>), ApiError> {
    if !valid_id(&id) {
        return Err(ApiError::invalid(
            "id",
            "a gateway session id is gs- and 16 hexadecimal digits (from the gateway's audit events)",
        ));
    }
    let mut c = st.store.pool().acquire().await?;
    let found = gateway_sessions::gateway_of(&mut c, &id).await?;
    drop(c);
    let Some((_, gateway)) = found else {
        return Err(ApiError::NotFound {
            code: "NoSuchEntity",
            message: format!("gateway session {id} does not exist (no gateway has reported it)"),
        });
    };
    let (h, g) = target(&st, &caller, TERMINATE, &gateway, &[]).await?;
    let t = now();
    let mut m = st.store.mutation(&g).await?;
    gateway_sessions::terminate(&mut m.tx, &id, &h.id, caller.arn(), t).await?;
    commit(
        m,
        &caller,
        &g,
        serde_json::json!({"sessionId": id, "gatewayId": h.id}),
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(api::GatewaySessionTermination {
            session_id: id,
            gateway: h.name,
            requested_at: rfc3339(t),
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(valid_id("gs-0123456789abcdef"));
        assert!(!valid_id("gs-0123456789ABCDEF"));
        assert!(!valid_id("gs-0123456789abcde"));
        assert!(!valid_id("ASIA0123456789abcdef"));
        assert!(!valid_id("gs-0123456789abcdeg"));
    }
}
