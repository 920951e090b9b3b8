//! Disabling and enabling users (issue #11 item 2): `POST
//! /v1/users/{name}/disable` (`iam:DisableUser`) and `/enable`
//! (`iam:EnableUser`), each audited.
//!
//! Disabling only sets `users.disabled_at`; nothing is deleted. The commit
//! bumps the IAM generation like any identity change, so the access-key
//! cache (`crate::state`), whose entries carry the user row, is invalidated at
//! once; http's `auth` refuses every credential of a disabled user — access
//! keys, sessions (bearer and `ASIA…`), X.509 client certificates — with
//! 403 `UserDisabled` ([`refused`]), and password login refuses it after
//! the password checked out. Certificate issuance is reached only through
//! one of those credentials, so it is refused too; host snapshots carry
//! `enabled: false`. Enabling clears the flag and every credential works
//! again.
//!
//! The account root is not an IAM user and cannot be disabled (it is the
//! way back in when every administrator is disabled). A user may disable
//! itself when its policies allow `iam:DisableUser` on itself — a
//! self-service "lock my account" — but cannot enable itself again: its
//! credentials stop working with that commit.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};

use crate::error::ApiError;
use crate::service::caller::{Caller, Identity};
use crate::service::iam::{target_user, user_out};
use crate::service::request::{commit, P};
use crate::state::{now, Shared};
use crate::store::iam::{self, User};
use ward_protocol::api;

/// The refusal of every credential of a disabled user: 403, because the
/// credential itself is valid (a 401 would make clients ask for another).
pub fn refused(u: &User) -> ApiError {
    ApiError::Unauthenticated {
        code: "UserDisabled",
        message: format!(
            "user {} is disabled: its access keys, sessions, certificates and password are \
             refused until it is enabled again",
            u.name
        ),
        status: StatusCode::FORBIDDEN,
    }
}

/// `POST /v1/users/{name}/disable`.
pub(crate) async fn disable(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> Result<Json<api::User>, ApiError> {
    set(&st, &caller, &name, true).await
}

/// `POST /v1/users/{name}/enable`.
pub(crate) async fn enable(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> Result<Json<api::User>, ApiError> {
    set(&st, &caller, &name, false).await
}

async fn set(
    st: &Shared,
    caller: &Caller,
    name: &str,
    disable: bool,
) -> Result<Json<api::User>, ApiError> {
    let action = if disable {
        "iam:DisableUser"
    } else {
        "iam:EnableUser"
    };
    let (u, g) = match target_user(st, caller, action, name, false).await {
        // Authorization ran first (on the name's ARN); only then say why.
        Err(ApiError::NotFound { .. }) if name.eq_ignore_ascii_case("root") => {
            return Err(ApiError::invalid(
                "name",
                "the account root is not an IAM user and cannot be disabled \
                 (deactivate a root access key with `ward-ca root-key` instead)",
            ))
        }
        r => r?,
    };
    let mut m = st.store.mutation(&g).await?;
    // Read again inside the transaction: the row the change applies to.
    let cur = iam::user_by_id(&mut m.tx, &u.id)
        .await?
        .ok_or_else(|| ApiError::no_such("user", name))?;
    let was_disabled = cur.disabled_at.is_some();
    let at = if disable {
        // Disabling twice keeps the first time.
        Some(cur.disabled_at.unwrap_or_else(now))
    } else {
        None
    };
    let u2 = iam::set_disabled(&mut m.tx, &cur, at).await?;
    let out = user_out(st, &mut m.tx, &u2).await?;
    commit(
        m,
        caller,
        &g,
        serde_json::json!({"userId": u2.id, "wasDisabled": was_disabled,
            "disabled": disable, "self": caller_is(caller, &u2)}),
    )
    .await?;
    Ok(Json(out))
}

fn caller_is(caller: &Caller, u: &User) -> bool {
    matches!(&caller.identity, Identity::User(c) if c.id == u.id)
}
