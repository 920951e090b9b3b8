//! Password checks: `POST /v1/login` (password → temporary credentials)
//! and `iam:ChangePassword` (a user changes their own password, proving
//! the current one).
//!
//! Each check first reserves an attempt for the user name (and, for a
//! login, the source address) in the database ([`iam::reserve_attempt`]),
//! so at most `passwords.max_failures` verifications run per user per
//! window however many requests race, across replicas. Argon2 runs on the
//! blocking pool under [`PasswordChecks`], a semaphore sized to the cores:
//! when every slot is busy the request is refused at once with 429 and
//! `Retry-After`, so a flood of guesses cannot exhaust memory or starve
//! the async workers. Throttling bookkeeping and password logins leave the
//! IAM cache generation alone ([`crate::store::Mutation::without_iam_change`]).

use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use tokio::sync::OwnedSemaphorePermit;
use ward_protocol::api;

use crate::config::PasswordPolicy;
use crate::crypto::{self, sha256_hex};
use crate::error::ApiError;
use crate::service::authz::{authorize, system_grant};
use crate::service::caller::{user_arn, Caller, Identity};
use crate::service::request::{body, commit, rfc3339};
use crate::state::{now, AppState, Shared};
use crate::store::iam;
use crate::store::{AuditEvent, Conn};

/// Longest session opened with a password that must be changed: enough
/// to change it, no more.
const RESET_SESSION_SECONDS: i64 = 900;

/// Runs Argon2 work `f` on the blocking pool, holding `permit` until it
/// is done; counts one verification.
pub(crate) async fn argon2<T: Send + 'static>(
    st: &AppState,
    permit: OwnedSemaphorePermit,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    st.metrics
        .password_verifications
        .fetch_add(1, Ordering::Relaxed);
    tokio::task::spawn_blocking(move || {
        let out = f();
        drop(permit);
        out
    })
    .await
    .map_err(ApiError::internal)
}

fn locked(what: &str, wait: i64) -> ApiError {
    ApiError::RetryLater {
        message: format!("too many failed {what}; try again in {wait} seconds"),
        retry_after: u64::try_from(wait).unwrap_or(1),
    }
}

/// The throttle scope of a user name (API logins and password changes).
pub(crate) fn user_scope(name: &str) -> String {
    format!("user:{}", name.to_lowercase())
}

/// A login's source address may fail this many times a user's limit (it
/// may be shared by several users).
pub(crate) const IP_FACTOR: i64 = 4;

/// The two throttle scopes one password check counts in, each with its
/// limit, and the reserve/record/release sequence over them (the module
/// doc; [`iam::reserve_attempt`]). `first` is the scope a success clears
/// (a user name or root for logins, user + rhost for host checks);
/// `second` has the wider budget and a success only gives its reservation
/// back, so one right password does not wipe the failures counted there.
pub(crate) struct Scopes {
    first: (String, i64),
    second: (String, i64),
    lockout: i64,
}

impl Scopes {
    /// `first` with `pw.max_failures`, `second` with `factor` times that.
    pub(crate) fn new(
        pw: &PasswordPolicy,
        first: impl Into<String>,
        second: impl Into<String>,
        factor: i64,
    ) -> Scopes {
        Scopes {
            first: (first.into(), pw.max_failures),
            second: (second.into(), pw.max_failures * factor),
            lockout: pw.lockout_seconds,
        }
    }

    /// Reserves one attempt in each scope, `first` first: `Some(seconds)`
    /// when either refuses (`first`'s reservation is then given back).
    pub(crate) async fn reserve(&self, c: &mut Conn, t: i64) -> Result<Option<i64>, ApiError> {
        let ((first, max1), (second, max2)) = (&self.first, &self.second);
        if let Some(wait) = iam::reserve_attempt(c, first, t, *max1, self.lockout).await? {
            return Ok(Some(wait));
        }
        if let Some(wait) = iam::reserve_attempt(c, second, t, *max2, self.lockout).await? {
            iam::release_attempt(c, first).await?;
            return Ok(Some(wait));
        }
        Ok(None)
    }

    /// The reserved attempt failed: counted in both scopes (either may lock).
    pub(crate) async fn failed(&self, c: &mut Conn, t: i64) -> Result<(), ApiError> {
        for (scope, max) in [&self.first, &self.second] {
            iam::record_failure(c, scope, t, *max, self.lockout).await?;
        }
        Ok(())
    }

    /// The reserved attempt succeeded: `first`'s count is cleared,
    /// `second`'s reservation given back.
    pub(crate) async fn succeeded(&self, c: &mut Conn, t: i64) -> Result<(), ApiError> {
        iam::clear_failures(c, &self.first.0, t, self.lockout).await?;
        self.release_second(c).await
    }

    /// Gives back `second`'s reservation (when `first` was cleared
    /// otherwise, as [`store_changed`] does).
    pub(crate) async fn release_second(&self, c: &mut Conn) -> Result<(), ApiError> {
        iam::release_attempt(c, &self.second.0).await
    }

    /// The scope a success clears.
    pub(crate) fn first(&self) -> &str {
        &self.first.0
    }
}

/// `POST /v1/login`: password → temporary credentials. Throttled per user
/// and per source address; the response does not reveal whether the user
/// exists (a dummy hash is verified instead). A login with a password
/// that must be changed yields credentials that may only change it.
pub(crate) async fn login(
    State(st): State<Shared>,
    req: Request,
) -> Result<Json<api::Credentials>, ApiError> {
    let (parts, b) = req.into_parts();
    let ip = parts
        .extensions
        .get::<crate::conn::ConnInfo>()
        .map(|c| c.remote.ip())
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    let bytes = crate::service::request::read_body(b, 16 * 1024).await?;
    let req: api::LoginRequest = body(&bytes)?;
    crate::service::names::user_name("userName", &req.user_name)?;
    if req.password.len() > 1024 {
        return Err(ApiError::invalid("password", "password is too long"));
    }
    if let Some(code) = &req.mfa_code {
        crate::service::mfa::check_code("mfaCode", code)?;
    }
    let permit = st.password_checks.try_permit(&st.metrics)?;
    let t = now();
    let pw = &st.config.passwords;
    let scopes = Scopes::new(
        pw,
        user_scope(&req.user_name),
        format!("ip:{ip}"),
        IP_FACTOR,
    );
    let mut c = st.store.pool().acquire().await?;
    if let Some(wait) = scopes.reserve(&mut c, t).await? {
        return Err(locked("logins", wait));
    }
    let user = iam::find_user(&mut c, &req.user_name).await?;
    let profile = match &user {
        Some(u) => iam::login_profile(&mut c, &u.id).await?,
        None => None,
    };
    drop(c);
    let password = req.password.clone();
    let target = profile
        .as_ref()
        .map(|(h, _)| h.clone())
        .unwrap_or_else(|| crypto::dummy_password_hash().to_owned());
    let ok = argon2(&st, permit, move || {
        crypto::verify_password(&password, &target)
    })
    .await?
        && profile.is_some();
    // The second factor, checked only once the password is right (and
    // before the transaction below, as the check writes on its own).
    let mfa = match (&user, ok) {
        (Some(u), true) => match crate::service::mfa::enabled_device(&st, u).await? {
            Some(d) => Some(
                crate::service::mfa::login_check(
                    &st,
                    u,
                    &d,
                    req.mfa_code.as_deref(),
                    &ip.to_string(),
                )
                .await,
            ),
            None if req.mfa_code.is_some() => Some(Err(ApiError::invalid(
                "mfaCode",
                "the user has no MFA device enabled: log in without mfaCode",
            ))),
            None => None,
        },
        _ => None,
    };
    let resource = ward_authz::arn::user(st.store.account_id(), "/", &req.user_name);
    let g = system_grant("sts:GetSessionToken", &resource);
    // Neither outcome changes identities, policies or cached credentials.
    let mut m = st.store.mutation(&g).await?.without_iam_change();
    let ev = |decision: &str, principal: String, detail: serde_json::Value| AuditEvent {
        at: t,
        principal,
        action: "ward:PasswordLogin".into(),
        resource: resource.clone(),
        decision: decision.into(),
        source_ip: ip.to_string(),
        detail,
    };
    let (user, reset_required) = match (ok, user, profile) {
        (true, Some(u), Some((_, reset))) => (u, reset),
        _ => {
            scopes.failed(&mut m.tx, t).await?;
            m.commit(&ev("Failed", req.user_name.clone(), serde_json::json!({})))
                .await?;
            st.metrics.auth_failures.fetch_add(1, Ordering::Relaxed);
            return Err(ApiError::Unauthenticated {
                code: "InvalidLogin",
                message: "wrong user name or password".into(),
                status: StatusCode::UNAUTHORIZED,
            });
        }
    };
    scopes.succeeded(&mut m.tx, t).await?;
    // A disabled user is told so only after its password checked out, so
    // the refusal reveals nothing to someone guessing.
    if user.disabled_at.is_some() {
        m.commit(&ev(
            "Failed",
            user_arn(st.store.account_id(), &user),
            serde_json::json!({"code": "UserDisabled"}),
        ))
        .await?;
        st.metrics.auth_failures.fetch_add(1, Ordering::Relaxed);
        return Err(crate::service::disable::refused(&user));
    }
    // A user with an MFA device logs in with its code too (as the AWS
    // console asks): the password alone opens no session.
    let mfa_authenticated_at = match mfa {
        None => None,
        Some(Ok(at)) => Some(at),
        Some(Err(e)) => {
            m.commit(&ev(
                "Failed",
                user_arn(st.store.account_id(), &user),
                serde_json::json!({"code": e.code()}),
            ))
            .await?;
            return Err(e);
        }
    };
    let key_id = crypto::access_key_id("ASIA");
    let secret = crypto::secret_access_key();
    let token = crypto::session_token();
    let lifetime = if reset_required {
        pw.session_seconds.min(RESET_SESSION_SECONDS)
    } else {
        pw.session_seconds
    };
    let expires = t + lifetime;
    let session = iam::Session {
        access_key_id: key_id.clone(),
        user_id: Some(user.id.clone()),
        auth_method: "password".into(),
        expires_at: expires,
        token_hash: sha256_hex(token.expose().as_bytes()),
        secret_sealed: st
            .master
            .seal(secret.expose().as_bytes(), key_id.as_bytes()),
        created_at: t,
        source_ip: ip.to_string(),
        password_change_only: reset_required,
        mfa_authenticated_at,
        ..iam::Session::default()
    };
    iam::create_session(&mut m.tx, &session, t).await?;
    m.commit(&ev(
        "Allowed",
        user_arn(st.store.account_id(), &user),
        serde_json::json!({"session": key_id, "passwordResetRequired": reset_required, "mfa": mfa_authenticated_at.is_some()}),
    ))
    .await?;
    Ok(Json(api::Credentials {
        access_key_id: key_id,
        secret_access_key: secret.expose().to_owned(),
        session_token: token.expose().to_owned(),
        expiration: rfc3339(expires),
        password_reset_required: reset_required,
    }))
}

/// `POST /v1/change-password`. Failures count towards the same per-user
/// throttle as logins; a change revokes every session of the user.
pub(crate) async fn change_password(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    b: Bytes,
) -> Result<StatusCode, ApiError> {
    let req: api::ChangePassword = body(&b)?;
    let user = match &caller.identity {
        Identity::User(u) => u.clone(),
        Identity::Host(_) => return Err(crate::service::caller::host_route_only()),
        Identity::Root => return Err(ApiError::invalid(
            "caller",
            "the account root's password is set on the server machine with `ward-ca root-password`",
        )),
        Identity::RoleSession(_) => {
            return Err(ApiError::invalid(
                "caller",
                "a role session has no password to change",
            ))
        }
    };
    if req.old_password.len() > 1024 {
        return Err(ApiError::invalid("oldPassword", "password is too long"));
    }
    crate::service::names::password(
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
    let permit = st.password_checks.try_permit(&st.metrics)?;
    let t = now();
    let pw = &st.config.passwords;
    let scope = user_scope(&user.name);
    let mut c = st.store.pool().acquire().await?;
    if let Some(wait) =
        iam::reserve_attempt(&mut c, &scope, t, pw.max_failures, pw.lockout_seconds).await?
    {
        return Err(locked("attempts", wait));
    }
    let current = match iam::password_hash(&mut c, &user.id).await? {
        Some(h) => h,
        None => {
            iam::release_attempt(&mut c, &scope).await?;
            return Err(ApiError::no_such("login profile for user", &user.name));
        }
    };
    drop(c);
    let hash = check_and_hash(
        &st,
        permit,
        req.old_password.clone(),
        current,
        req.new_password.clone(),
    )
    .await?;
    let Some(hash) = hash else {
        let mut m = st.store.mutation(&g).await?.without_iam_change();
        iam::record_failure(&mut m.tx, &scope, t, pw.max_failures, pw.lockout_seconds).await?;
        let mut ev = crate::service::request::event(
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
    };
    let mut m = st.store.mutation(&g).await?;
    let revoked = store_changed(&mut m, &user.id, &hash, &[&scope], t, pw.lockout_seconds).await?;
    commit(
        m,
        &caller,
        &g,
        serde_json::json!({"sessionsRevoked": revoked}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Verifies `old` against the stored hash `current` and, when it is
/// right, hashes `new`, in one Argon2 slot (`permit`). `None`: wrong.
pub(crate) async fn check_and_hash(
    st: &AppState,
    permit: OwnedSemaphorePermit,
    old: String,
    current: String,
    new: String,
) -> Result<Option<String>, ApiError> {
    let (ok, hash) = argon2(st, permit, move || {
        let ok = crypto::verify_password(&old, &current);
        let hash = if ok {
            Some(crypto::hash_password(&new))
        } else {
            None
        };
        (ok, hash)
    })
    .await?;
    if !ok {
        return Ok(None);
    }
    let hash = hash
        .ok_or_else(|| ApiError::internal("no hash"))?
        .map_err(ApiError::internal)?;
    Ok(Some(hash))
}

/// Stores a password its owner changed, in `m` (which must move the IAM
/// generation, so hosts see the new login profile version): replaces the
/// hash, which revokes every session of the user, and clears the failure
/// counts of `scopes`. Returns how many sessions were revoked.
pub(crate) async fn store_changed(
    m: &mut crate::store::Mutation,
    user_id: &str,
    hash: &str,
    scopes: &[&str],
    t: i64,
    window: i64,
) -> Result<u64, ApiError> {
    let revoked = iam::set_password(&mut m.tx, user_id, hash, false, t).await?;
    for scope in scopes {
        iam::clear_failures(&mut m.tx, scope, t, window).await?;
    }
    Ok(revoked)
}
