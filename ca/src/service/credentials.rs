//! Credentials: login profiles (passwords set by an administrator) and
//! access keys. Passwords changed by their owner, logins and sessions are
//! in `passwords` and `sessions`; SSH public keys in `ssh_keys`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use ward_authz::context;
use ward_protocol::api;

use crate::crypto::{self};
use crate::error::ApiError;
use crate::service::authz::authorize;
use crate::service::caller::{user_arn, Caller};
use crate::service::iam::*;
use crate::service::names;
use crate::service::request::{body, commit, rfc3339, P};
use crate::state::{now, Shared};
use crate::store::iam::{self};

// ---- credentials ------------------------------------------------------

pub(crate) async fn put_login_profile(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
    b: Bytes,
) -> Result<StatusCode, ApiError> {
    let req: api::LoginProfile = body(&b)?;
    names::user_name("name", &name)?;
    let want = crate::service::authz::wanted(&st, &caller).await?;
    let mut c = st.store.pool().acquire().await?;
    let found = iam::find_user(&mut c, &name).await?;
    let exists = match &found {
        Some(u) => iam::password_hash(&mut c, &u.id).await?.is_some(),
        None => false,
    };
    let action = if exists {
        "iam:UpdateLoginProfile"
    } else {
        "iam:CreateLoginProfile"
    };
    let own = match &found {
        Some(u) => user_resource_context(&st, &mut c, want, action, u).await?,
        None => Vec::new(),
    };
    drop(c);
    let arn = found
        .as_ref()
        .map(|u| user_arn(&acct(&st), u))
        .unwrap_or_else(|| user_resource(&st, "/", &name));
    let g = authorize(&st, &caller, action, &arn, &context::refs(&own)).await?;
    let u0 = found.ok_or_else(|| ApiError::no_such("user", &name))?;
    names::password(
        "password",
        &u0.name,
        &req.password,
        st.config.passwords.min_length,
    )?;
    let password = req.password.clone();
    // Hashing takes an Argon2 slot like a login does.
    let permit = st.password_checks.try_permit(&st.metrics)?;
    let hash = tokio::task::spawn_blocking(move || {
        let h = crypto::hash_password(&password);
        drop(permit);
        h
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    let mut m = st.store.mutation(&g).await?;
    // A new password ends every session the old one opened.
    let revoked =
        iam::set_password(&mut m.tx, &u0.id, &hash, req.password_reset_required, now()).await?;
    commit(
        m,
        &caller,
        &g,
        serde_json::json!({"passwordResetRequired": req.password_reset_required, "sessionsRevoked": revoked}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn delete_login_profile(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> Result<StatusCode, ApiError> {
    let (u, g) = target_user(&st, &caller, "iam:DeleteLoginProfile", &name, false).await?;
    let mut m = st.store.mutation(&g).await?;
    iam::delete_password(&mut m.tx, &u.id, &u.name).await?;
    commit(m, &caller, &g, serde_json::json!({})).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn key_out(user: &str, k: &iam::AccessKey) -> api::AccessKey {
    api::AccessKey {
        user_name: user.into(),
        access_key_id: k.id.clone(),
        status: k.status.clone(),
        created: rfc3339(k.created_at),
        last_used: k.last_used_at.map(rfc3339),
    }
}

pub(crate) async fn create_access_key(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> Result<(StatusCode, Json<api::NewAccessKey>), ApiError> {
    let (u, g) = target_user(&st, &caller, "iam:CreateAccessKey", &name, false).await?;
    let id = crypto::access_key_id("AKIA");
    let secret = crypto::secret_access_key();
    let sealed = st.master.seal(secret.expose().as_bytes(), id.as_bytes());
    let mut m = st.store.mutation(&g).await?;
    let k = iam::create_access_key(&mut m.tx, &id, &u, &sealed, now()).await?;
    commit(m, &caller, &g, serde_json::json!({"accessKeyId": id})).await?;
    Ok((
        StatusCode::CREATED,
        Json(api::NewAccessKey {
            user_name: u.name,
            access_key_id: k.id,
            secret_access_key: secret.expose().to_owned(),
            status: k.status,
            created: rfc3339(k.created_at),
        }),
    ))
}

pub(crate) async fn list_access_keys(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> Result<Json<api::AccessKeyList>, ApiError> {
    let (u, _) = target_user(&st, &caller, "iam:ListAccessKeys", &name, true).await?;
    let mut c = st.store.pool().acquire().await?;
    let keys = iam::access_keys(&mut c, &u.id).await?;
    Ok(Json(api::AccessKeyList {
        access_keys: keys.iter().map(|k| key_out(&u.name, k)).collect(),
    }))
}

fn check_key_id(id: &str) -> Result<(), ApiError> {
    if names::is_credential_id(id, "AKIA", 20) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "accessKeyId",
            format!("{id:?} is not an access key id (AKIA followed by 16 characters)"),
        ))
    }
}

pub(crate) async fn update_access_key(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P((name, id)): P<(String, String)>,
    b: Bytes,
) -> Result<StatusCode, ApiError> {
    check_key_id(&id)?;
    let req: api::UpdateAccessKey = body(&b)?;
    if req.status != "Active" && req.status != "Inactive" {
        return Err(ApiError::invalid(
            "status",
            "status must be Active or Inactive",
        ));
    }
    let (u, g) = target_user(&st, &caller, "iam:UpdateAccessKey", &name, false).await?;
    let mut m = st.store.mutation(&g).await?;
    iam::set_access_key_status(&mut m.tx, &u, &id, &req.status).await?;
    commit(
        m,
        &caller,
        &g,
        serde_json::json!({"accessKeyId": id, "status": req.status}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn delete_access_key(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P((name, id)): P<(String, String)>,
) -> Result<StatusCode, ApiError> {
    check_key_id(&id)?;
    let (u, g) = target_user(&st, &caller, "iam:DeleteAccessKey", &name, false).await?;
    let mut m = st.store.mutation(&g).await?;
    iam::delete_access_key(&mut m.tx, &u, &id).await?;
    commit(m, &caller, &g, serde_json::json!({"accessKeyId": id})).await?;
    Ok(StatusCode::NO_CONTENT)
}
