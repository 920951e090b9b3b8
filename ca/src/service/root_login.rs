//! The account root's password sign-in (issue #15's "signs in as root").
//!
//! Root has no password until one is set on the server machine with
//! `ward-ca root-password` ([`set_password`]: the same length and
//! deny-list rules and Argon2id parameters as users' passwords, audited;
//! it ends every root session). The dashboard's sign-in form sends the
//! name `root` (any case) here, never to the IAM user login: the user
//! namespace cannot hold a user called root ([`crate::service::names::
//! new_user_name`]), and even a user of that name left from before the
//! rule signs in nowhere as root, because this check reads only root's
//! own profile.
//!
//! [`login`] throttles exactly as `POST /v1/login` does (an attempt is
//! reserved for root's scope and for the source address before Argon2
//! runs, under the same limits; failures lock both), verifies against the
//! dummy hash when no password is set (so "no password" and "wrong
//! password" take the same work and give the same answer), and opens a
//! root session: its bearer token authenticates as the root caller
//! (`crate::http::auth`) until it expires, is signed out, or a new root
//! password is set.
//!
//! Root sees its open sessions (`GET /v1/root/sessions`: signed in, last
//! seen, source address, the sign-in's User-Agent) and ends every one
//! but the one it uses (`POST /v1/root/sessions/sign-out-others`, one
//! audit event). Both are root's alone: any other caller gets a 403
//! (audited), whatever its policies allow.

use std::net::IpAddr;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use ward_protocol::api;

use crate::crypto::{self, sha256_hex};
use crate::error::ApiError;
use crate::service::authz::{authorize, authorize_read, system_grant};
use crate::service::caller::{root_arn, Caller, Identity};
use crate::service::passwords::{argon2, Scopes, IP_FACTOR};
use crate::service::request::{commit, rfc3339};
use crate::state::{now, AppState, Shared};
use crate::store::iam;
use crate::store::root_login::{self, RootSession};
use crate::store::{AuditEvent, Grant, Store};

/// The throttle scope of root's password (not `user:root`, which would
/// be shared with an IAM user of that name).
pub const ROOT_SCOPE: &str = "account-root";

/// The user name that means the account root on the sign-in form
/// (compared ignoring case, as user names are unique ignoring case).
pub fn is_root_name(name: &str) -> bool {
    name.trim().eq_ignore_ascii_case("root")
}

/// A session `login` opened: the bearer token (shown to the caller only,
/// stored as its hash) and when it ends.
pub struct Opened {
    /// `ASIA…`, the session's id.
    pub id: String,
    /// The bearer token.
    pub token: crypto::Secret,
    /// Unix seconds.
    pub expires_at: i64,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("id", &self.id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

fn locked(wait: i64) -> ApiError {
    ApiError::RetryLater {
        message: format!("too many failed logins; try again in {wait} seconds"),
        retry_after: u64::try_from(wait).unwrap_or(1),
    }
}

/// The answer to a wrong password, a missing one, or both: the same as a
/// user's (`InvalidLogin`, 401).
fn invalid() -> ApiError {
    ApiError::Unauthenticated {
        code: "InvalidLogin",
        message: "wrong user name or password".into(),
        status: StatusCode::UNAUTHORIZED,
    }
}

/// Checks root's password (throttled, audited) and opens a root session.
pub async fn login(
    st: &AppState,
    ip: IpAddr,
    password: &str,
    mfa_code: Option<&str>,
    user_agent: Option<&str>,
) -> Result<Opened, ApiError> {
    if password.len() > 1024 {
        return Err(ApiError::invalid("password", "password is too long"));
    }
    if let Some(code) = mfa_code {
        crate::service::mfa::check_code("mfaCode", code)?;
    }
    let permit = st.password_checks.try_permit(&st.metrics)?;
    let t = now();
    let pw = &st.config.passwords;
    let scopes = Scopes::new(pw, ROOT_SCOPE, format!("ip:{ip}"), IP_FACTOR);
    let mut c = st.store.pool().acquire().await?;
    if let Some(wait) = scopes.reserve(&mut c, t).await? {
        return Err(locked(wait));
    }
    let stored = root_login::password_hash(&mut c).await?;
    drop(c);
    let has_password = stored.is_some();
    let target = stored.unwrap_or_else(|| crypto::dummy_password_hash().to_owned());
    let candidate = password.to_owned();
    let ok = argon2(st, permit, move || {
        crypto::verify_password(&candidate, &target)
    })
    .await?
        && has_password;
    let resource = root_arn(st.store.account_id());
    let g = system_grant("sts:GetSessionToken", &resource);
    let mut m = st.store.mutation(&g).await?.without_iam_change();
    let ev = |decision: &str, detail: serde_json::Value| AuditEvent {
        at: t,
        principal: resource.clone(),
        action: "ward:PasswordLogin".into(),
        resource: resource.clone(),
        decision: decision.into(),
        source_ip: ip.to_string(),
        detail,
    };
    if !ok {
        scopes.failed(&mut m.tx, t).await?;
        m.commit(&ev("Failed", serde_json::json!({"root": true})))
            .await?;
        st.metrics.auth_failures.fetch_add(1, Ordering::Relaxed);
        return Err(invalid());
    }
    scopes.succeeded(&mut m.tx, t).await?;
    // Root has no MFA device (devices belong to users): a code is a
    // mistake, said only once the password checked out.
    if mfa_code.is_some() {
        m.commit(&ev(
            "Failed",
            serde_json::json!({"root": true, "code": "InvalidInput"}),
        ))
        .await?;
        return Err(ApiError::invalid(
            "mfaCode",
            "the account root has no MFA device: sign in without an MFA code",
        ));
    }
    let token = crypto::session_token();
    let session = RootSession {
        id: crypto::access_key_id("ASIA"),
        token_hash: sha256_hex(token.expose().as_bytes()),
        created_at: t,
        expires_at: t + pw.session_seconds,
        source_ip: ip.to_string(),
        last_seen: t,
        user_agent: user_agent.map(user_agent_text),
    };
    root_login::create_session(&mut m.tx, &session).await?;
    m.commit(&ev(
        "Allowed",
        serde_json::json!({"root": true, "session": session.id}),
    ))
    .await?;
    Ok(Opened {
        id: session.id,
        token,
        expires_at: session.expires_at,
    })
}

/// A `User-Agent` as kept: printable characters only, at most
/// [`USER_AGENT_MAX`] of them (it is shown to root, never trusted).
fn user_agent_text(ua: &str) -> String {
    ua.chars()
        .filter(|c| !c.is_control())
        .take(USER_AGENT_MAX)
        .collect()
}

/// Most characters of a sign-in's `User-Agent` kept.
pub const USER_AGENT_MAX: usize = 256;

/// A grant for root, or 403 (audited) for anyone else: root sessions are
/// root's alone, whatever a policy says. A `read` is audited here (a
/// mutation by its own event).
async fn root_only(
    st: &AppState,
    caller: &Caller,
    action: &str,
    read: bool,
) -> Result<Grant, ApiError> {
    let resource = root_arn(st.store.account_id());
    if !matches!(caller.identity, Identity::Root) {
        return Err(crate::service::authz::deny_system(
            st,
            caller,
            action,
            &resource,
            "RootOnly",
            format!("{action} refused: only the account root may see or end its own sessions"),
        )
        .await);
    }
    if read {
        authorize_read(st, caller, action, &resource, &[]).await
    } else {
        authorize(st, caller, action, &resource, &[]).await
    }
}

/// `GET /v1/root/sessions`: root's open dashboard sessions, the caller's
/// marked current (root only).
pub(crate) async fn list_sessions(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<api::RootSessionList>, ApiError> {
    root_only(&st, &caller, "ward:ListRootSessions", true).await?;
    let mut c = st.store.pool().acquire().await?;
    let sessions = root_login::open_sessions(&mut c, now()).await?;
    Ok(Json(api::RootSessionList {
        sessions: sessions
            .into_iter()
            .map(|s| api::RootSession {
                current: caller.access_key_id.as_deref() == Some(s.id.as_str()),
                id: s.id,
                created: rfc3339(s.created_at),
                last_seen: rfc3339(s.last_seen),
                expires: rfc3339(s.expires_at),
                source_ip: s.source_ip,
                user_agent: s.user_agent,
            })
            .collect(),
    }))
}

/// `POST /v1/root/sessions/sign-out-others`: ends every root session but
/// the caller's ("sign out everywhere else"; root only), audited as one
/// event listing the sessions ended.
pub(crate) async fn sign_out_others(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<api::RootSessionsEnded>, ApiError> {
    let action = "ward:SignOutOtherRootSessions";
    let g = root_only(&st, &caller, action, false).await?;
    // Root signed with its access key has no session: every one ends.
    let keep = caller.access_key_id.clone().unwrap_or_default();
    let mut m = st.store.mutation(&g).await?.without_iam_change();
    let ended = root_login::revoke_others(&mut m.tx, &keep).await?;
    commit(
        m,
        &caller,
        &g,
        serde_json::json!({"sessionsEnded": ended, "kept": keep}),
    )
    .await?;
    Ok(Json(api::RootSessionsEnded { ended }))
}

/// Ends root session `id` (sign-out), audited as root's.
pub async fn sign_out(st: &AppState, id: &str, ip: IpAddr) -> Result<(), ApiError> {
    let resource = root_arn(st.store.account_id());
    let g = system_grant("ward:SignOut", &resource);
    let mut m = st.store.mutation(&g).await?.without_iam_change();
    root_login::revoke_session(&mut m.tx, id).await?;
    m.commit(&AuditEvent {
        at: now(),
        principal: resource.clone(),
        action: "ward:SignOut".into(),
        resource,
        decision: "Allowed".into(),
        source_ip: ip.to_string(),
        detail: serde_json::json!({"session": id}),
    })
    .await?;
    Ok(())
}

/// Sets root's password (`ward-ca root-password`, run on the server
/// machine): checked by the users' rules with `min_length`, hashed with
/// the same Argon2id parameters, audited as the local administrator's;
/// every root session ends and root's failure count is cleared. Returns
/// how many sessions ended.
pub async fn set_password(
    store: &Store,
    min_length: usize,
    lockout_seconds: i64,
    password: &str,
) -> Result<u64, ApiError> {
    crate::service::names::password("password", "root", password, min_length)?;
    let pw = password.to_owned();
    let hash = tokio::task::spawn_blocking(move || crypto::hash_password(&pw))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let t = now();
    let resource = root_arn(store.account_id());
    let g = system_grant("ward:SetRootPassword", &resource);
    let mut m = store.mutation(&g).await?;
    let ended = root_login::set_password(&mut m.tx, &hash, t).await?;
    iam::clear_failures(&mut m.tx, ROOT_SCOPE, t, lockout_seconds).await?;
    m.commit(&AuditEvent {
        at: t,
        principal: "ward-ca (local administrator)".into(),
        action: "ward:SetRootPassword".into(),
        resource,
        decision: "Allowed".into(),
        source_ip: "local".into(),
        detail: serde_json::json!({"sessionsEnded": ended}),
    })
    .await?;
    Ok(ended)
}
