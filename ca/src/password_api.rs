//! `iam:ChangePassword`: a user changes their own password, proving the
//! current one. Failures count towards the same per-user throttle as logins.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Extension;
use ward_protocol::api;

use crate::api::{body, commit};
use crate::auth::{user_arn, Caller, Identity};
use crate::authz::authorize;
use crate::crypto;
use crate::error::ApiError;
use crate::iam;
use crate::state::{now, Shared};

/// `POST /v1/change-password`.
pub(crate) async fn change_password(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    b: Bytes,
) -> Result<StatusCode, ApiError> {
    let req: api::ChangePassword = body(&b)?;
    let user = match &caller.identity {
        Identity::User(u) => u.clone(),
        Identity::Root => {
            return Err(ApiError::invalid(
                "caller",
                "the account root has no password to change",
            ))
        }
    };
    if req.old_password.len() > 1024 {
        return Err(ApiError::invalid("oldPassword", "password is too long"));
    }
    crate::names::password(
        "newPassword",
        &user.name,
        &req.new_password,
        st.config.passwords.min_length,
    )?;
    let g = authorize(
        &st,
        &caller,
        "iam:ChangePassword",
        &user_arn(st.store.account_id(), &user),
        &[],
    )
    .await?;
    let t = now();
    let scope = format!("user:{}", user.name.to_lowercase());
    let mut c = st.store.pool().acquire().await?;
    let wait = iam::locked_for(&mut c, &scope, t).await?;
    if wait > 0 {
        return Err(ApiError::Throttled {
            message: format!("too many failed attempts; try again in {wait} seconds"),
        });
    }
    let current = iam::password_hash(&mut c, &user.id)
        .await?
        .ok_or_else(|| ApiError::no_such("login profile for user", &user.name))?;
    drop(c);
    let old = req.old_password.clone();
    let new = req.new_password.clone();
    let (ok, hash) = tokio::task::spawn_blocking(move || {
        let ok = crypto::verify_password(&old, &current);
        let hash = if ok {
            Some(crypto::hash_password(&new))
        } else {
            None
        };
        (ok, hash)
    })
    .await
    .map_err(ApiError::internal)?;
    let pw = &st.config.passwords;
    let mut m = st.store.mutation(&g).await?;
    if !ok {
        iam::record_failure(
            &mut m.tx,
            &scope,
            t,
            pw.max_failures,
            pw.lockout_seconds,
            pw.lockout_seconds,
        )
        .await?;
        let mut ev = crate::api::event(
            &caller,
            &g,
            serde_json::json!({"reason": "wrong current password"}),
        );
        ev.decision = "Failed".into();
        m.commit(&ev).await?;
        return Err(ApiError::invalid_code(
            "InvalidPassword",
            "oldPassword",
            "the current password is wrong",
        ));
    }
    let hash = hash
        .ok_or_else(|| ApiError::internal("no hash"))?
        .map_err(ApiError::internal)?;
    iam::set_password(&mut m.tx, &user.id, &hash, false, t).await?;
    iam::clear_failures(&mut m.tx, &scope).await?;
    commit(m, &caller, &g, serde_json::json!({})).await?;
    Ok(StatusCode::NO_CONTENT)
}
