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
    let hash = hash_new_password(&st, &u0.name, &req.password).await?;
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

/// `POST /v1/users/{name}/login-profile`: AWS's CreateLoginProfile, which
/// refuses (409 `EntityAlreadyExists`) when the user has a profile
/// already — decided by the store's one conditional INSERT, inside the
/// mutation, so a concurrent create or PUT cannot slip in between a check
/// and the write. `PUT` keeps its create-or-replace meaning (the CLI's
/// `ward user set-password`).
pub(crate) async fn create_login_profile(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
    b: Bytes,
) -> Result<(StatusCode, Json<api::LoginProfileInfo>), ApiError> {
    let req: api::LoginProfile = body(&b)?;
    let (u, g) = target_user(&st, &caller, "iam:CreateLoginProfile", &name, false).await?;
    let hash = hash_new_password(&st, &u.name, &req.password).await?;
    let t = now();
    let mut m = st.store.mutation(&g).await?;
    let revoked = iam::create_password(
        &mut m.tx,
        &u.id,
        &u.name,
        &hash,
        req.password_reset_required,
        t,
    )
    .await?;
    commit(
        m,
        &caller,
        &g,
        serde_json::json!({"passwordResetRequired": req.password_reset_required, "sessionsRevoked": revoked}),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(api::LoginProfileInfo {
            user_name: u.name,
            created: rfc3339(t),
            password_reset_required: req.password_reset_required,
        }),
    ))
}

/// `PATCH /v1/users/{name}/login-profile`: AWS's UpdateLoginProfile, on an
/// existing profile only (404 `NoSuchEntity` otherwise, decided by the
/// store's conditional UPDATE). A new password ends the user's sessions.
pub(crate) async fn update_login_profile(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
    b: Bytes,
) -> Result<StatusCode, ApiError> {
    let req: api::UpdateLoginProfile = body(&b)?;
    if req.password.is_none() && req.password_reset_required.is_none() {
        return Err(ApiError::invalid(
            "password",
            "give a password, passwordResetRequired, or both",
        ));
    }
    let (u, g) = target_user(&st, &caller, "iam:UpdateLoginProfile", &name, false).await?;
    let hash = match &req.password {
        Some(p) => Some(hash_new_password(&st, &u.name, p).await?),
        None => None,
    };
    let mut m = st.store.mutation(&g).await?;
    let revoked = iam::update_password(
        &mut m.tx,
        &u.id,
        &u.name,
        hash.as_deref(),
        req.password_reset_required,
        now(),
    )
    .await?;
    commit(
        m,
        &caller,
        &g,
        serde_json::json!({"passwordChanged": hash.is_some(), "passwordResetRequired": req.password_reset_required, "sessionsRevoked": revoked}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/users/{name}/login-profile`: the profile without its
/// password; 404 `NoSuchEntity` when the user has none.
pub(crate) async fn get_login_profile(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> Result<Json<api::LoginProfileInfo>, ApiError> {
    let (u, _) = target_user(&st, &caller, "iam:GetLoginProfile", &name, true).await?;
    let mut c = st.store.pool().acquire().await?;
    let (created, reset) = iam::login_profile_info(&mut c, &u.id)
        .await?
        .ok_or_else(|| ApiError::no_such("login profile for user", &u.name))?;
    Ok(Json(api::LoginProfileInfo {
        user_name: u.name,
        created: rfc3339(created),
        password_reset_required: reset,
    }))
}

/// Checks a new password against the policy and hashes it (taking an
/// Argon2 slot like a login does).
async fn hash_new_password(st: &Shared, user: &str, password: &str) -> Result<String, ApiError> {
    names::password("password", user, password, st.config.passwords.min_length)?;
    let password = password.to_owned();
    let permit = st.password_checks.try_permit(&st.metrics)?;
    tokio::task::spawn_blocking(move || {
        let h = crypto::hash_password(&password);
        drop(permit);
        h
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)
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

/// `GET /v1/access-keys/{id}/last-used`: AWS's GetAccessKeyLastUsed,
/// authorized on the key's owner. A key that does not exist is authorized
/// on every user (`user/*`) before the 404, so a caller allowed only on
/// some users cannot probe for other users' key ids.
pub(crate) async fn access_key_last_used(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(id): P<String>,
) -> Result<Json<api::AccessKeyLastUsed>, ApiError> {
    check_key_id(&id)?;
    let mut c = st.store.pool().acquire().await?;
    let found = iam::access_key_last_used(&mut c, &id).await?;
    let owner = match &found {
        Some((user_id, _)) => iam::user_by_id(&mut c, user_id).await?,
        None => None,
    };
    drop(c);
    let (Some((_, used)), Some(owner)) = (found, owner) else {
        crate::service::authz::authorize_read(
            &st,
            &caller,
            "iam:GetAccessKeyLastUsed",
            &user_resource(&st, "/", "*"),
            &[],
        )
        .await?;
        return Err(ApiError::no_such("access key", &id));
    };
    let (u, _) = target_user(&st, &caller, "iam:GetAccessKeyLastUsed", &owner.name, true).await?;
    if u.id != owner.id {
        // Renamed meanwhile: the name now names someone else.
        return Err(ApiError::no_such("access key", &id));
    }
    let (last_used_date, region, service_name) = match used {
        Some((t, region, service)) => (Some(rfc3339(t)), Some(region), Some(service)),
        None => (None, None, None),
    };
    Ok(Json(api::AccessKeyLastUsed {
        user_name: u.name,
        access_key_id: id,
        last_used_date,
        service_name,
        region,
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
