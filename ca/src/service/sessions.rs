//! Session listing and revocation: `iam:ListSessions` and
//! `iam:RevokeSession` on a user. A session is the temporary credential a
//! password login opened; its id is its `ASIA…` access key id. Listings
//! never carry a secret or token. Revocation deletes the session row, and
//! authentication reads that row on every request, so a revoked session
//! stops working on its next request.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use ward_protocol::api;

use crate::error::ApiError;
use crate::service::caller::Caller;
use crate::service::iam::target_user;
use crate::service::names;
use crate::service::request::{commit, rfc3339, P};
use crate::state::{now, Shared};
use crate::store::iam;

/// A session id: `ASIA` and 16 upper-case letters or digits.
fn check_session_id(id: &str) -> Result<(), ApiError> {
    if names::is_credential_id(id, "ASIA", 20) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "id",
            "a session id is ASIA followed by 16 upper-case letters or digits",
        ))
    }
}

/// `GET /v1/users/{name}/sessions`.
pub(crate) async fn list(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> Result<Json<api::SessionList>, ApiError> {
    let (u, _) = target_user(&st, &caller, "iam:ListSessions", &name, true).await?;
    let mut c = st.store.pool().acquire().await?;
    let sessions = iam::user_sessions(&mut c, &u.id, now())
        .await?
        .into_iter()
        .map(|s| api::SessionInfo {
            id: s.access_key_id,
            user_name: u.name.clone(),
            auth_method: s.auth_method,
            created: rfc3339(s.created_at),
            expires: rfc3339(s.expires_at),
            source_ip: s.source_ip,
            password_change_only: s.password_change_only,
        })
        .collect();
    Ok(Json(api::SessionList { sessions }))
}

/// `DELETE /v1/users/{name}/sessions/{id}`.
pub(crate) async fn revoke(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P((name, id)): P<(String, String)>,
) -> Result<StatusCode, ApiError> {
    check_session_id(&id)?;
    let (u, g) = target_user(&st, &caller, "iam:RevokeSession", &name, false).await?;
    let mut m = st.store.mutation(&g).await?;
    if !iam::revoke_session(&mut m.tx, &u.id, &id).await? {
        return Err(ApiError::no_such("session", &id));
    }
    commit(m, &caller, &g, serde_json::json!({"session": id})).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1/users/{name}/sessions`: revokes all of them.
pub(crate) async fn revoke_all(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> Result<Json<api::RevokedSessions>, ApiError> {
    let (u, g) = target_user(&st, &caller, "iam:RevokeSession", &name, false).await?;
    let mut m = st.store.mutation(&g).await?;
    let revoked = iam::revoke_sessions(&mut m.tx, &u.id).await?;
    commit(
        m,
        &caller,
        &g,
        serde_json::json!({"session": "*", "revoked": revoked}),
    )
    .await?;
    Ok(Json(api::RevokedSessions { revoked }))
}
