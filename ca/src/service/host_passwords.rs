//! Password checks for enrolled hosts (issue #12): `POST
//! /v1/host/password/verify` (PAM `authenticate`) and `POST
//! /v1/host/password/change` (PAM `chauthtok`), host principals only.
//! Neither creates a session; the hash never leaves ward-ca.
//!
//! Throttling (in the database, like `POST /v1/login`, so it holds across
//! replicas and racing requests): every check reserves an attempt in two
//! scopes before Argon2 runs —
//! - user + rhost (`hostpw:USER@RHOST`; without an rhost,
//!   `hostpw:USER@local:HOST`, the calling host's console): at most
//!   `passwords.max_failures` failures per window;
//! - user (`hostpw:USER`): at most 4 × `passwords.max_failures` per
//!   window across every host and rhost.
//!
//! The calling host's address is not a scope: one attacker behind one host
//! would otherwise lock every user out of that host. What this guarantees:
//! one hostile rhost spends at most a quarter of a user's per-window
//! budget, so it cannot lock the user out from another rhost; only
//! attackers at four or more rhosts together can (until the lockout
//! passes), and all of them together get at most 4 × `max_failures`
//! guesses per window. These scopes are apart from the API login's
//! `user:NAME` scope: host guessing does not lock a user out of the API.
//!
//! A wrong password, an unknown user and a user without a password get the
//! same answer (`wrong`) after the same work: a dummy hash is verified when
//! there is nothing to verify. `disabled` and `reset_required` are told
//! only after the password checked out. Every decided attempt is audited
//! (host, service, rhost, outcome; never the password).

use axum::body::Bytes;
use axum::extract::State;
use axum::{Extension, Json};
use ward_protocol::host::{
    ChangeHostPassword, PasswordResult, PasswordVerdict, VerifyPassword, MAX_PASSWORD_BYTES,
};

use crate::crypto;
use crate::error::ApiError;
use crate::service::authz::system_grant;
use crate::service::caller::{require_host, user_arn, Caller};
use crate::service::names::check_rhost;
use crate::service::passwords::{argon2, check_and_hash, store_changed, Scopes};
use crate::service::request::body;
use crate::state::{now, AppState, Shared};
use crate::store::host_identity::HostPrincipal;
use crate::store::iam::{self, LoginProfileRow, User};
use crate::store::AuditEvent;

/// Longest PAM service name accepted.
const MAX_SERVICE: usize = 64;
/// The per-user budget, in multiples of `passwords.max_failures` (the
/// per user + rhost budget).
const USER_BUDGET: i64 = 4;

/// The checked common fields of both requests.
struct Attempt<'a> {
    host: &'a HostPrincipal,
    user: &'a str,
    service: &'a str,
    rhost: Option<String>,
}

fn check_password(field: &str, pw: &str) -> Result<(), ApiError> {
    if pw.is_empty() {
        return Err(ApiError::invalid(
            field,
            format!("{field} must not be empty"),
        ));
    }
    if pw.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::invalid(
            field,
            format!("{field} must be at most {MAX_PASSWORD_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// Service: 1 to 64 printable ASCII characters without spaces. Rhost: at
/// most 253 printable ASCII characters without spaces (an address or a
/// name); empty counts as absent; an address is kept in canonical form
/// so `::ffff:192.0.2.1` and `192.0.2.1` share one throttle scope.
fn attempt<'a>(
    host: &'a HostPrincipal,
    user: &'a str,
    service: &'a str,
    rhost: Option<&str>,
) -> Result<Attempt<'a>, ApiError> {
    crate::service::names::user_name("user", user)?;
    let printable = |s: &str| s.bytes().all(|b| b.is_ascii_graphic());
    if service.is_empty() || service.len() > MAX_SERVICE || !printable(service) {
        return Err(ApiError::invalid(
            "service",
            format!("service must be 1 to {MAX_SERVICE} printable ASCII characters"),
        ));
    }
    let rhost = check_rhost(rhost)?;
    Ok(Attempt {
        host,
        user,
        service,
        rhost,
    })
}

impl Attempt<'_> {
    fn user_scope(&self) -> String {
        format!("hostpw:{}", self.user.to_lowercase())
    }

    fn rhost_scope(&self) -> String {
        match &self.rhost {
            Some(r) => format!("hostpw:{}@{r}", self.user.to_lowercase()),
            None => format!(
                "hostpw:{}@local:{}",
                self.user.to_lowercase(),
                self.host.name
            ),
        }
    }

    /// The attempt's throttle scopes: user + rhost first (a success clears
    /// it), the user's wider budget second.
    fn scopes(&self, st: &AppState) -> Scopes {
        Scopes::new(
            &st.config.passwords,
            self.rhost_scope(),
            self.user_scope(),
            USER_BUDGET,
        )
    }

    /// The audit event of this attempt.
    fn event(
        &self,
        st: &AppState,
        caller: &Caller,
        action: &str,
        resource: &str,
        verdict: &PasswordVerdict,
    ) -> AuditEvent {
        let decision = match verdict.result {
            PasswordResult::Ok | PasswordResult::ResetRequired => "Allowed",
            _ => "Failed",
        };
        let source_ip = self
            .rhost
            .as_deref()
            .and_then(|r| r.parse::<std::net::IpAddr>().ok())
            .unwrap_or(caller.source_ip)
            .to_string();
        AuditEvent {
            at: now(),
            principal: ward_authz::arn::host(st.store.account_id(), &self.host.name),
            action: action.into(),
            resource: resource.into(),
            decision: decision.into(),
            source_ip,
            detail: serde_json::json!({
                "host": self.host.name,
                "user": self.user,
                "service": self.service,
                "rhost": self.rhost,
                "result": verdict.result,
                "deliveredFrom": caller.source_ip.to_string(),
            }),
        }
    }
}

fn verdict(result: PasswordResult) -> PasswordVerdict {
    PasswordVerdict {
        result,
        user_id: None,
        profile_version: None,
        retry_after_seconds: None,
        message: None,
    }
}

fn throttled(wait: i64) -> PasswordVerdict {
    PasswordVerdict {
        retry_after_seconds: Some(u64::try_from(wait).unwrap_or(1)),
        message: Some(format!(
            "too many failed password attempts; try again in {wait} seconds"
        )),
        ..verdict(PasswordResult::Throttled)
    }
}

/// What the store says about the named user, read after both attempts
/// were reserved; `None` when either scope is locked (the verdict).
struct Found {
    user: Option<User>,
    profile: Option<LoginProfileRow>,
}

/// Reserves an attempt in both scopes and reads the user and its profile.
async fn reserve(st: &AppState, a: &Attempt<'_>, t: i64) -> Result<Result<Found, i64>, ApiError> {
    let mut c = st.store.pool().acquire().await?;
    if let Some(wait) = a.scopes(st).reserve(&mut c, t).await? {
        return Ok(Err(wait));
    }
    let user = iam::find_user(&mut c, a.user).await?;
    let profile = match &user {
        Some(u) => iam::login_profile_row(&mut c, &u.id).await?,
        None => None,
    };
    Ok(Ok(Found { user, profile }))
}

/// Records a failed attempt in both scopes, audits it and commits.
async fn failed(
    st: &AppState,
    a: &Attempt<'_>,
    ev: &AuditEvent,
    action: &str,
    t: i64,
) -> Result<(), ApiError> {
    let g = system_grant(action, &ev.resource);
    let mut m = st.store.mutation(&g).await?.without_iam_change();
    a.scopes(st).failed(&mut m.tx, t).await?;
    m.commit(ev).await?;
    st.metrics
        .auth_failures
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}

/// Audits a refusal that verified no password (throttled): nothing is
/// counted.
async fn audit_only(st: &AppState, ev: &AuditEvent, action: &str) -> Result<(), ApiError> {
    let g = system_grant(action, &ev.resource);
    let m = st.store.mutation(&g).await?.without_iam_change();
    m.commit(ev).await?;
    Ok(())
}

/// The resource of an attempt: the user's ARN (path `/` when unknown).
fn resource(st: &AppState, a: &Attempt<'_>, user: Option<&User>) -> String {
    match user {
        Some(u) => user_arn(st.store.account_id(), u),
        None => ward_authz::arn::user(st.store.account_id(), "/", a.user),
    }
}

const VERIFY: &str = ward_protocol::host::EVENT_VERIFY_PASSWORD;
const CHANGE: &str = "host:ChangePassword";

/// `POST /v1/host/password/verify`.
pub(crate) async fn verify(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    b: Bytes,
) -> Result<Json<PasswordVerdict>, ApiError> {
    let host = require_host(&caller)?;
    let req: VerifyPassword = body(&b)?;
    let a = attempt(host, &req.user, &req.service, req.rhost.as_deref())?;
    check_password("password", &req.password.0)?;
    let permit = st.password_checks.try_permit(&st.metrics)?;
    let t = now();
    let found = match reserve(&st, &a, t).await? {
        Ok(f) => f,
        Err(wait) => {
            drop(permit);
            let v = throttled(wait);
            let ev = a.event(&st, &caller, VERIFY, &resource(&st, &a, None), &v);
            audit_only(&st, &ev, VERIFY).await?;
            return Ok(Json(v));
        }
    };
    let password = req.password.0.clone();
    let target = found
        .profile
        .as_ref()
        .map(|p| p.hash.clone())
        .unwrap_or_else(|| crypto::dummy_password_hash().to_owned());
    let ok = argon2(&st, permit, move || {
        crypto::verify_password(&password, &target)
    })
    .await?;
    let res = resource(&st, &a, found.user.as_ref());
    let (user, profile) = match (ok, found.user, found.profile) {
        (true, Some(u), Some(p)) => (u, p),
        _ => {
            let v = verdict(PasswordResult::Wrong);
            failed(&st, &a, &a.event(&st, &caller, VERIFY, &res, &v), VERIFY, t).await?;
            return Ok(Json(v));
        }
    };
    let v = decided(&user, &profile);
    let g = system_grant(VERIFY, &res);
    let mut m = st.store.mutation(&g).await?.without_iam_change();
    a.scopes(&st).succeeded(&mut m.tx, t).await?;
    m.commit(&a.event(&st, &caller, VERIFY, &res, &v)).await?;
    Ok(Json(v))
}

/// The verdict for a right password: disabled, reset required or ok.
fn decided(user: &User, profile: &LoginProfileRow) -> PasswordVerdict {
    if user.disabled_at.is_some() {
        return PasswordVerdict {
            message: Some("the user is disabled".into()),
            ..verdict(PasswordResult::Disabled)
        };
    }
    PasswordVerdict {
        user_id: Some(user.id.clone()),
        profile_version: Some(profile.version),
        ..verdict(if profile.reset_required {
            PasswordResult::ResetRequired
        } else {
            PasswordResult::Ok
        })
    }
}

/// `POST /v1/host/password/change`.
pub(crate) async fn change(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    b: Bytes,
) -> Result<Json<PasswordVerdict>, ApiError> {
    let host = require_host(&caller)?;
    let req: ChangeHostPassword = body(&b)?;
    let a = attempt(host, &req.user, &req.service, req.rhost.as_deref())?;
    check_password("oldPassword", &req.old_password.0)?;
    check_password("newPassword", &req.new_password.0)?;
    // The policy first, as `POST /v1/change-password` does: its message
    // tells nothing about the current password.
    if let Err(e) = crate::service::names::password(
        "newPassword",
        &req.user,
        &req.new_password.0,
        st.config.passwords.min_length,
    ) {
        let message = match e {
            ApiError::Invalid { message, .. } => message,
            other => return Err(other),
        };
        return Ok(Json(PasswordVerdict {
            message: Some(message),
            ..verdict(PasswordResult::PolicyViolation)
        }));
    }
    let permit = st.password_checks.try_permit(&st.metrics)?;
    let t = now();
    let found = match reserve(&st, &a, t).await? {
        Ok(f) => f,
        Err(wait) => {
            drop(permit);
            let v = throttled(wait);
            let ev = a.event(&st, &caller, CHANGE, &resource(&st, &a, None), &v);
            audit_only(&st, &ev, CHANGE).await?;
            return Ok(Json(v));
        }
    };
    let current = found
        .profile
        .as_ref()
        .map(|p| p.hash.clone())
        .unwrap_or_else(|| crypto::dummy_password_hash().to_owned());
    let hash = check_and_hash(
        &st,
        permit,
        req.old_password.0.clone(),
        current,
        req.new_password.0.clone(),
    )
    .await?;
    let res = resource(&st, &a, found.user.as_ref());
    let (user, hash) = match (hash, found.user, found.profile) {
        (Some(h), Some(u), Some(_)) => (u, h),
        _ => {
            let v = verdict(PasswordResult::Wrong);
            failed(&st, &a, &a.event(&st, &caller, CHANGE, &res, &v), CHANGE, t).await?;
            return Ok(Json(v));
        }
    };
    let g = system_grant(CHANGE, &res);
    let window = st.config.passwords.lockout_seconds;
    let scopes = a.scopes(&st);
    if user.disabled_at.is_some() {
        let v = PasswordVerdict {
            message: Some("the user is disabled".into()),
            ..verdict(PasswordResult::Disabled)
        };
        let mut m = st.store.mutation(&g).await?.without_iam_change();
        scopes.succeeded(&mut m.tx, t).await?;
        m.commit(&a.event(&st, &caller, CHANGE, &res, &v)).await?;
        return Ok(Json(v));
    }
    // A full mutation: the new login profile version reaches the hosts'
    // snapshots (the generation moves) and every session is revoked.
    let mut m = st.store.mutation(&g).await?;
    let revoked = store_changed(&mut m, &user.id, &hash, &[scopes.first()], t, window).await?;
    scopes.release_second(&mut m.tx).await?;
    let version = iam::login_profile_row(&mut m.tx, &user.id)
        .await?
        .map(|p| p.version);
    let v = PasswordVerdict {
        user_id: Some(user.id.clone()),
        profile_version: version,
        ..verdict(PasswordResult::Ok)
    };
    let mut ev = a.event(&st, &caller, CHANGE, &res, &v);
    ev.detail["sessionsRevoked"] = serde_json::json!(revoked);
    m.commit(&ev).await?;
    Ok(Json(v))
}
