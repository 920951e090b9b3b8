//! Virtual MFA devices (RFC 6238 TOTP, HMAC-SHA-1, 6 digits, 30 s) and
//! the second-factor check ([`verify`]) that password login uses and that
//! `sts:GetSessionToken` / `sts:AssumeRole` call with `SerialNumber` and
//! `TokenCode`.
//!
//! A device is created unassigned (`iam:CreateVirtualMFADevice`, which
//! returns its seed once; the seed is stored sealed under the master key),
//! then enabled for one user with two consecutive codes
//! (`iam:EnableMFADevice`); a user has at most one. A code is accepted
//! once: the device remembers the last time step it accepted and only a
//! later one passes, advanced by one conditional UPDATE so that racing
//! requests cannot both use a code. Codes are taken from the current step
//! ±1 (shifted by the drift a resync measured); a resync searches ±20
//! steps. Wrong codes count against the device in the database throttle
//! (`passwords.max_failures` per `passwords.lockout_seconds`), reserved
//! before the code is checked, as password attempts are.
//!
//! Hosts (pam_ward through ward-agent, and ward-gateway) ask for a code
//! when a `host:Login` decision would be allowed only with
//! `ward:MultiFactorAuthPresent`, and check it on `POST
//! /v1/host/mfa/verify` ([`host_verify`], host certificate only), which
//! answers with the time of the check; the host decides again with it.
//! Besides the device's throttle, wrong codes count in a second scope per
//! user + rhost (`hostmfa:USER@RHOST`, or `hostmfa:USER@local:HOST`).
//! Each accepted host check is recorded (device, step, host, time), and a
//! gateway's later claim of that time ([`checked_at`]) is honoured only
//! for the host that made the check.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use rand::RngCore;
use ward_protocol::api;
use ward_protocol::host::{MfaVerified, VerifyMfa};

use crate::crypto;
use crate::crypto::totp;
use crate::error::ApiError;
use crate::service::authz::{authorize, system_grant};
use crate::service::caller::{require_host, user_arn, Caller};
use crate::service::iam::target_user;
use crate::service::names::check_rhost;
use crate::service::request::{body, commit, rfc3339, P, Q};
use crate::state::{now, AppState, Shared};
use crate::store::iam::{self, User};
use crate::store::mfa::{self as store, Device};
use crate::store::AuditEvent;

/// Longest device name (AWS allows 226; ward keeps serials short).
pub const MAX_NAME: usize = 64;
/// Steps either side of now a login or session code may come from.
const WINDOW: i64 = 1;
/// Steps either side of now a resync searches.
const RESYNC_WINDOW: i64 = 20;

/// A device name: 1 to [`MAX_NAME`] letters, digits and `+=,.@_-`.
pub fn check_name(field: &str, name: &str) -> Result<(), ApiError> {
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(ApiError::invalid(
            field,
            format!(
                "{field} must be 1 to {MAX_NAME} characters, got {}",
                name.chars().count()
            ),
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
    {
        return Err(ApiError::invalid(
            field,
            format!("{field} may hold only letters, digits and +=,.@_-"),
        ));
    }
    Ok(())
}

/// A code's shape: exactly six ASCII digits.
pub(crate) fn check_code(field: &str, code: &str) -> Result<(), ApiError> {
    if totp::well_formed(code) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            field,
            format!("{field} must be exactly {} digits", totp::DIGITS),
        ))
    }
}

/// The serial of device `name`: `arn:ward:iam::ACCT:mfa/NAME`.
pub fn serial(st: &AppState, name: &str) -> String {
    format!("arn:ward:iam::{}:mfa/{name}", st.store.account_id())
}

/// The device name in a serial of this account (400 naming `field` for
/// anything else).
pub fn name_of_serial<'a>(
    st: &AppState,
    field: &str,
    serial: &'a str,
) -> Result<&'a str, ApiError> {
    let prefix = format!("arn:ward:iam::{}:mfa/", st.store.account_id());
    let name = serial.strip_prefix(&prefix).ok_or_else(|| {
        ApiError::invalid(
            field,
            format!("{field} must be an MFA device serial of this account ({prefix}NAME)"),
        )
    })?;
    check_name(field, name)?;
    Ok(name)
}

fn invalid_codes() -> ApiError {
    ApiError::invalid_code(
        "InvalidAuthenticationCode",
        "authenticationCode1",
        "the authentication codes are not two consecutive current codes of the device",
    )
}

fn throttled(wait: i64) -> ApiError {
    ApiError::RetryLater {
        message: format!("too many wrong MFA codes for this device; try again in {wait} seconds"),
        retry_after: u64::try_from(wait).unwrap_or(1),
    }
}

/// The throttle scope of a device.
fn scope(d: &Device) -> String {
    format!("mfa:{}", d.id)
}

/// The device's seed, unsealed.
fn seed(st: &AppState, d: &Device) -> Result<zeroize::Zeroizing<Vec<u8>>, ApiError> {
    st.master
        .open(&d.seed_sealed, d.id.as_bytes())
        .map_err(ApiError::internal)
}

/// Reserves a code check for `d` (429 while it is locked).
async fn reserve(st: &AppState, d: &Device, t: i64) -> Result<(), ApiError> {
    let pw = &st.config.passwords;
    let mut c = st.store.pool().acquire().await?;
    match iam::reserve_attempt(&mut c, &scope(d), t, pw.max_failures, pw.lockout_seconds).await? {
        Some(wait) => Err(throttled(wait)),
        None => Ok(()),
    }
}

/// Records a wrong code for `d` (counted, audited as `Failed`).
#[allow(clippy::too_many_arguments)]
async fn failed(
    st: &AppState,
    action: &str,
    principal: &str,
    d: &Device,
    t: i64,
    source_ip: &str,
    why: &str,
) -> Result<(), ApiError> {
    let pw = &st.config.passwords;
    let resource = serial(st, &d.name);
    let g = system_grant(action, &resource);
    let mut m = st.store.mutation(&g).await?.without_iam_change();
    iam::record_failure(&mut m.tx, &scope(d), t, pw.max_failures, pw.lockout_seconds).await?;
    m.commit(&AuditEvent {
        at: t,
        principal: principal.to_owned(),
        action: action.into(),
        resource,
        decision: "Failed".into(),
        source_ip: source_ip.to_owned(),
        detail: serde_json::json!({"reason": why}),
    })
    .await?;
    st.metrics
        .auth_failures
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}

/// The first step `s` in `from..=to`, later than `after`, with `code1` the
/// code of `s` and `code2` that of `s + 1`.
fn consecutive(
    key: &[u8],
    code1: &str,
    code2: &str,
    from: i64,
    to: i64,
    after: i64,
) -> Option<i64> {
    let mut found = None;
    for s in from..=to {
        let a = totp::find_step(key, code1, s, s, after).is_some();
        let b = totp::find_step(key, code2, s + 1, s + 1, after).is_some();
        if a && b && found.is_none() {
            found = Some(s);
        }
    }
    found
}

/// `POST /v1/mfa-devices`: a new unassigned virtual device; its seed is
/// in the answer and nowhere else.
pub(crate) async fn create(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    b: Bytes,
) -> Result<(StatusCode, Json<api::VirtualMfaDevice>), ApiError> {
    let req: api::CreateVirtualMfaDevice = body(&b)?;
    check_name("virtualMfaDeviceName", &req.virtual_mfa_device_name)?;
    let name = req.virtual_mfa_device_name;
    let sn = serial(&st, &name);
    let g = authorize(&st, &caller, "iam:CreateVirtualMFADevice", &sn, &[]).await?;
    let mut key = zeroize::Zeroizing::new([0u8; totp::SEED_BYTES]);
    rand::rngs::OsRng.fill_bytes(&mut key[..]);
    let id = crypto::access_key_id("AMFA");
    let d = Device {
        seed_sealed: st.master.seal(&key[..], id.as_bytes()),
        id,
        name: name.clone(),
        user_id: None,
        enabled_at: None,
        last_step: 0,
        drift: 0,
        created_at: now(),
    };
    let mut m = st.store.mutation(&g).await?.without_iam_change();
    store::create(&mut m.tx, &d).await?;
    commit(m, &caller, &g, serde_json::json!({"serialNumber": sn})).await?;
    let b32 = totp::base32(&key[..]);
    let label = utf8_percent_encode(&format!("ward:{name}"), NON_ALPHANUMERIC).to_string();
    let otpauth_uri = format!(
        "otpauth://totp/{label}?secret={b32}&issuer=ward&algorithm=SHA1&digits={}&period={}",
        totp::DIGITS,
        totp::STEP_SECONDS
    );
    Ok((
        StatusCode::CREATED,
        Json(api::VirtualMfaDevice {
            serial_number: sn,
            base32_string_seed: b32,
            otpauth_uri,
        }),
    ))
}

/// `DELETE /v1/mfa-devices/{name}`: only an unassigned device.
pub(crate) async fn delete(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> Result<StatusCode, ApiError> {
    check_name("name", &name)?;
    let sn = serial(&st, &name);
    let g = authorize(&st, &caller, "iam:DeleteVirtualMFADevice", &sn, &[]).await?;
    let mut m = st.store.mutation(&g).await?.without_iam_change();
    let d = store::by_name(&mut m.tx, &name)
        .await?
        .ok_or_else(|| ApiError::no_such("MFA device", &sn))?;
    if d.user_id.is_some() || !store::delete_unassigned(&mut m.tx, &d.id).await? {
        return Err(ApiError::Conflict {
            code: "DeleteConflict",
            message: format!("MFA device {sn} is enabled for a user; deactivate it first"),
        });
    }
    commit(m, &caller, &g, serde_json::json!({"serialNumber": sn})).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The device `name` enabled for `u`: 404 if there is none by that name
/// or it is unassigned, 403 if it is another user's.
async fn device_of(st: &AppState, u: &User, name: &str) -> Result<Device, ApiError> {
    let mut c = st.store.pool().acquire().await?;
    let d = store::by_name(&mut c, name)
        .await?
        .ok_or_else(|| ApiError::no_such("MFA device", &serial(st, name)))?;
    match &d.user_id {
        Some(id) if *id == u.id => Ok(d),
        Some(_) => Err(ApiError::Denied {
            message: format!(
                "MFA device {} is enabled for another user, not {}",
                serial(st, name),
                u.name
            ),
        }),
        None => Err(ApiError::no_such(
            &format!("MFA device enabled for user {}:", u.name),
            &serial(st, name),
        )),
    }
}

/// `POST /v1/users/{name}/mfa-devices`: enables an unassigned device for
/// the user with two consecutive codes.
pub(crate) async fn enable(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
    b: Bytes,
) -> Result<Json<api::MfaDevice>, ApiError> {
    let req: api::EnableMfaDevice = body(&b)?;
    let dev_name = name_of_serial(&st, "serialNumber", &req.serial_number)?.to_owned();
    check_code("authenticationCode1", &req.authentication_code1)?;
    check_code("authenticationCode2", &req.authentication_code2)?;
    let (u, g) = target_user(&st, &caller, "iam:EnableMFADevice", &name, false).await?;
    let t = now();
    let d = {
        let mut c = st.store.pool().acquire().await?;
        if store::of_user(&mut c, &u.id).await?.is_some() {
            return Err(ApiError::limit(format!(
                "user {} already has an MFA device; deactivate it first",
                u.name
            )));
        }
        store::by_name(&mut c, &dev_name)
            .await?
            .ok_or_else(|| ApiError::no_such("MFA device", &req.serial_number))?
    };
    if d.user_id.is_some() {
        return Err(ApiError::Denied {
            message: format!(
                "MFA device {} is enabled for another user",
                req.serial_number
            ),
        });
    }
    reserve(&st, &d, t).await?;
    let key = seed(&st, &d)?;
    let now_step = totp::step_of(t);
    let found = consecutive(
        &key,
        &req.authentication_code1,
        &req.authentication_code2,
        now_step - 2 * WINDOW,
        now_step,
        d.last_step,
    );
    let Some(s) = found else {
        failed(
            &st,
            VERIFY,
            caller.arn(),
            &d,
            t,
            &caller.source_ip.to_string(),
            "wrong codes (enable)",
        )
        .await?;
        return Err(invalid_codes());
    };
    let mut m = st.store.mutation(&g).await?;
    if !store::enable(&mut m.tx, &d.id, &u.id, t, s + 1, 0).await? {
        return Err(ApiError::Conflict {
            code: "EntityAlreadyExists",
            message: format!("MFA device {} was enabled meanwhile", req.serial_number),
        });
    }
    iam::clear_failures(
        &mut m.tx,
        &scope(&d),
        t,
        st.config.passwords.lockout_seconds,
    )
    .await?;
    commit(
        m,
        &caller,
        &g,
        serde_json::json!({"serialNumber": req.serial_number}),
    )
    .await?;
    Ok(Json(api::MfaDevice {
        user_name: u.name,
        serial_number: req.serial_number,
        enable_date: rfc3339(t),
    }))
}

/// `GET /v1/mfa-devices` query: `assignmentStatus` as AWS's
/// ListVirtualMFADevices takes it.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct VirtualListQuery {
    #[serde(default)]
    assignment_status: Option<String>,
}

/// `GET /v1/mfa-devices?assignmentStatus=Assigned|Unassigned|Any`: every
/// virtual device (never a seed), with its user when assigned.
pub(crate) async fn list_virtual(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    Q(q): Q<VirtualListQuery>,
) -> Result<Json<api::VirtualMfaDeviceList>, ApiError> {
    let want: Option<bool> = match q.assignment_status.as_deref() {
        None | Some("Any") => None,
        Some("Assigned") => Some(true),
        Some("Unassigned") => Some(false),
        Some(_) => {
            return Err(ApiError::invalid(
                "assignmentStatus",
                "assignmentStatus must be Assigned, Unassigned or Any",
            ))
        }
    };
    crate::service::authz::authorize_read(
        &st,
        &caller,
        "iam:ListVirtualMFADevices",
        &serial(&st, "*"),
        &[],
    )
    .await?;
    let mut c = st.store.pool().acquire().await?;
    let account = st.store.account_id().to_owned();
    let devices = store::list_all(&mut c)
        .await?
        .into_iter()
        .filter(|(_, _, user, _)| want.is_none_or(|w| w == user.is_some()))
        .map(|(name, enabled, user, path)| api::VirtualMfaDeviceInfo {
            serial_number: serial(&st, &name),
            user_arn: user
                .as_deref()
                .map(|u| ward_authz::arn::user(&account, path.as_deref().unwrap_or("/"), u)),
            user_name: user,
            enable_date: enabled.map(rfc3339),
        })
        .collect();
    Ok(Json(api::VirtualMfaDeviceList {
        virtual_mfa_devices: devices,
    }))
}

/// `GET /v1/users/{name}/mfa-devices`.
pub(crate) async fn list(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> Result<Json<api::MfaDeviceList>, ApiError> {
    let (u, _) = target_user(&st, &caller, "iam:ListMFADevices", &name, true).await?;
    let mut c = st.store.pool().acquire().await?;
    let d = store::of_user(&mut c, &u.id).await?;
    Ok(Json(api::MfaDeviceList {
        mfa_devices: d
            .into_iter()
            .map(|d| api::MfaDevice {
                user_name: u.name.clone(),
                serial_number: serial(&st, &d.name),
                enable_date: rfc3339(d.enabled_at.unwrap_or(d.created_at)),
            })
            .collect(),
    }))
}

/// `DELETE /v1/users/{name}/mfa-devices/{device}`: the device becomes
/// unassigned (it can then be deleted, or enabled again).
pub(crate) async fn deactivate(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P((name, device)): P<(String, String)>,
) -> Result<StatusCode, ApiError> {
    check_name("device", &device)?;
    let (u, g) = target_user(&st, &caller, "iam:DeactivateMFADevice", &name, false).await?;
    let d = device_of(&st, &u, &device).await?;
    let mut m = st.store.mutation(&g).await?;
    if !store::deactivate(&mut m.tx, &d.id, &u.id).await? {
        return Err(ApiError::no_such("MFA device", &serial(&st, &device)));
    }
    commit(
        m,
        &caller,
        &g,
        serde_json::json!({"serialNumber": serial(&st, &device)}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/users/{name}/mfa-devices/{device}/resync`: two consecutive
/// codes found within ±[`RESYNC_WINDOW`] steps set the device's drift.
pub(crate) async fn resync(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P((name, device)): P<(String, String)>,
    b: Bytes,
) -> Result<StatusCode, ApiError> {
    check_name("device", &device)?;
    let req: api::ResyncMfaDevice = body(&b)?;
    check_code("authenticationCode1", &req.authentication_code1)?;
    check_code("authenticationCode2", &req.authentication_code2)?;
    let (u, g) = target_user(&st, &caller, "iam:ResyncMFADevice", &name, false).await?;
    let d = device_of(&st, &u, &device).await?;
    let t = now();
    reserve(&st, &d, t).await?;
    let key = seed(&st, &d)?;
    let now_step = totp::step_of(t);
    let found = consecutive(
        &key,
        &req.authentication_code1,
        &req.authentication_code2,
        now_step - RESYNC_WINDOW,
        now_step + RESYNC_WINDOW,
        d.last_step,
    );
    let mut m = st.store.mutation(&g).await?.without_iam_change();
    let accepted = match found {
        Some(s) => store::accept_step(&mut m.tx, &d.id, s + 1, Some(s + 1 - now_step)).await?,
        None => false,
    };
    if !accepted {
        drop(m);
        failed(
            &st,
            VERIFY,
            caller.arn(),
            &d,
            t,
            &caller.source_ip.to_string(),
            "wrong codes (resync)",
        )
        .await?;
        return Err(invalid_codes());
    }
    iam::clear_failures(
        &mut m.tx,
        &scope(&d),
        t,
        st.config.passwords.lockout_seconds,
    )
    .await?;
    commit(
        m,
        &caller,
        &g,
        serde_json::json!({"serialNumber": serial(&st, &device), "driftSteps": found.map(|s| s + 1 - now_step)}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The device enabled for `user`, if any (password login asks).
pub async fn enabled_device(st: &AppState, user: &User) -> Result<Option<Device>, ApiError> {
    let mut c = st.store.pool().acquire().await?;
    store::of_user(&mut c, &user.id).await
}

/// What ward-ca knows of an MFA check a host claims to have made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Claim {
    /// The claiming host checked a code of the user's device then.
    Checked,
    /// No host check of the user's current device at that time (no
    /// device, a time after now or before the device was enabled, or a
    /// code checked by the API rather than a host).
    NoCheck,
    /// A code of the device was checked then, by another host only.
    OtherHost,
}

/// Whether host `host_id` checked a code of `user`'s enabled device at
/// `at` (Unix seconds, exactly as `POST /v1/host/mfa/verify` answered it;
/// a gateway reports it for its one-session certificate): `at` is not
/// after `t`, not before the device was enabled, and a check the route
/// recorded for the device at `at` was made by this host. A code another
/// host (a PAM host, another gateway) checked cannot be borrowed.
pub(crate) async fn checked_at(
    st: &AppState,
    user: &User,
    host_id: &str,
    at: i64,
    t: i64,
) -> Result<Claim, ApiError> {
    let Some(d) = enabled_device(st, user).await? else {
        return Ok(Claim::NoCheck);
    };
    if at > t || d.enabled_at.is_none_or(|e| at < e) {
        return Ok(Claim::NoCheck);
    }
    let hosts = {
        let mut c = st.store.pool().acquire().await?;
        store::hosts_checked_at(&mut c, &d.id, at).await?
    };
    Ok(if hosts.iter().any(|h| h == host_id) {
        Claim::Checked
    } else if hosts.is_empty() {
        Claim::NoCheck
    } else {
        Claim::OtherHost
    })
}

fn wrong_code() -> ApiError {
    ApiError::Unauthenticated {
        code: "AccessDenied",
        message: "MultiFactorAuthentication failed: the MFA code is wrong, expired or already used"
            .into(),
        status: StatusCode::FORBIDDEN,
    }
}

/// The second-factor check of `sts:GetSessionToken` and `sts:AssumeRole`
/// (`SerialNumber`, `TokenCode`): `serial` must be the device enabled for
/// `user` and `code` its current code, not used before. Returns the time
/// of the check (Unix seconds), which the session keeps as its
/// `mfa_authenticated_at`. Wrong codes count against the device's
/// throttle (429 once locked) and are audited; a wrong code, an unknown
/// serial and another user's device are all the same 403, so the answer
/// tells a guesser nothing.
pub async fn verify(st: &AppState, user: &User, serial: &str, code: &str) -> Result<i64, ApiError> {
    let name = name_of_serial(st, "serialNumber", serial)?;
    check_code("tokenCode", code)?;
    let d = {
        let mut c = st.store.pool().acquire().await?;
        store::by_name(&mut c, name).await?
    };
    let d = match d {
        Some(d) if d.user_id.as_deref() == Some(user.id.as_str()) => d,
        _ => return Err(wrong_code()),
    };
    let arn = user_arn(st.store.account_id(), user);
    check_device(st, VERIFY, &arn, &d, code, "").await
}

/// [`verify`] for a device already looked up (`d` is `user`'s), with the
/// request's source address for the audit record and the audit action of
/// a wrong code.
pub(crate) async fn check_device(
    st: &AppState,
    action: &str,
    principal: &str,
    d: &Device,
    code: &str,
    source_ip: &str,
) -> Result<i64, ApiError> {
    Ok(check_step(st, action, principal, d, code, source_ip)
        .await?
        .0)
}

/// [`check_device`], also answering the time step the code was of.
async fn check_step(
    st: &AppState,
    action: &str,
    principal: &str,
    d: &Device,
    code: &str,
    source_ip: &str,
) -> Result<(i64, i64), ApiError> {
    let t = now();
    reserve(st, d, t).await?;
    let key = seed(st, d)?;
    let center = totp::step_of(t) + d.drift;
    let found = totp::find_step(&key, code, center - WINDOW, center + WINDOW, d.last_step);
    let mut c = st.store.pool().acquire().await?;
    let step = match found {
        Some(s) if store::accept_step(&mut c, &d.id, s, None).await? => s,
        _ => {
            drop(c);
            let why = if found.is_some() {
                "code already used"
            } else {
                "wrong code"
            };
            failed(st, action, principal, d, t, source_ip, why).await?;
            return Err(wrong_code());
        }
    };
    iam::clear_failures(&mut c, &scope(d), t, st.config.passwords.lockout_seconds).await?;
    Ok((t, step))
}

/// A code a host had checked: when (the time the host is answered),
/// which time step, of which device.
#[derive(Clone, Debug)]
pub struct HostCheck {
    /// Unix seconds.
    pub at: i64,
    /// The TOTP step the code was of.
    pub step: i64,
    /// The device's id.
    pub device_id: String,
}

/// The second-factor check of a host (`POST /v1/host/mfa/verify`): `code`
/// must be the current, unused code of the device enabled for `user`.
/// Returns the check: its time (Unix seconds) is what the host uses as
/// `mfa_authenticated_at` for the decision it asked about (and nothing
/// else: no session is created); the caller records which host made it.
/// A user without a device gets the same 403 as a wrong code. The
/// device's throttle and single-use rule are those of logins; wrong codes
/// are audited as `host:VerifyMfa` by `host_arn`.
pub async fn verify_for_host(
    st: &AppState,
    user: &User,
    code: &str,
    host_arn: &str,
    source_ip: &str,
) -> Result<HostCheck, ApiError> {
    check_code("code", code)?;
    let Some(d) = enabled_device(st, user).await? else {
        return Err(wrong_code());
    };
    let (at, step) = check_step(st, HOST_VERIFY, host_arn, &d, code, source_ip).await?;
    Ok(HostCheck {
        at,
        step,
        device_id: d.id,
    })
}

/// The audit action of API-side code checks.
const VERIFY: &str = "ward:MfaVerify";
/// The audit action of host-side code checks.
const HOST_VERIFY: &str = ward_protocol::host::EVENT_VERIFY_MFA;

/// `POST /v1/host/mfa/verify` (host certificate only): [`verify_for_host`]
/// for `userName`, throttled also per user + rhost (reserved before
/// anything is looked up; an unknown or disabled user and a user without
/// a device count as wrong codes there, with the same 403). Every outcome
/// but a throttled one is audited as `host:VerifyMfa`; an accepted code is
/// recorded with this host's id in the same transaction as its audit
/// event ([`checked_at`] holds gateways to it).
pub(crate) async fn host_verify(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    b: Bytes,
) -> Result<Json<MfaVerified>, ApiError> {
    let host = require_host(&caller)?;
    let req: VerifyMfa = body(&b)?;
    crate::service::names::user_name("userName", &req.user_name)?;
    check_code("code", &req.code.0)?;
    let rhost = check_rhost(req.rhost.as_deref())?;
    let host_arn = ward_authz::arn::host(st.store.account_id(), &host.name);
    let source_ip = rhost
        .as_deref()
        .and_then(|r| r.parse::<std::net::IpAddr>().ok())
        .unwrap_or(caller.source_ip)
        .to_string();
    let lower = req.user_name.to_lowercase();
    let source_scope = match &rhost {
        Some(r) => format!("hostmfa:{lower}@{r}"),
        None => format!("hostmfa:{lower}@local:{}", host.name),
    };
    let pw = &st.config.passwords;
    let t = now();
    let user = {
        let mut c = st.store.pool().acquire().await?;
        if let Some(wait) = iam::reserve_attempt(
            &mut c,
            &source_scope,
            t,
            pw.max_failures,
            pw.lockout_seconds,
        )
        .await?
        {
            return Err(throttled_source(wait));
        }
        iam::find_user(&mut c, &req.user_name).await?
    };
    let user = user.filter(|u| u.disabled_at.is_none());
    let resource = match &user {
        Some(u) => user_arn(st.store.account_id(), u),
        None => ward_authz::arn::user(st.store.account_id(), "/", &req.user_name),
    };
    let event = |decision: &str, reason: &str| AuditEvent {
        at: t,
        principal: host_arn.clone(),
        action: HOST_VERIFY.into(),
        resource: resource.clone(),
        decision: decision.into(),
        source_ip: source_ip.clone(),
        detail: serde_json::json!({
            "host": host.name,
            "user": req.user_name,
            "rhost": rhost,
            "reason": reason,
            "deliveredFrom": caller.source_ip.to_string(),
        }),
    };
    let result = match &user {
        Some(u) => match enabled_device(&st, u).await? {
            Some(_) => verify_for_host(&st, u, &req.code.0, &host_arn, &source_ip).await,
            None => Err(no_device(&st, &event("Failed", "no MFA device")).await?),
        },
        None => Err(no_device(&st, &event("Failed", "no such enabled user")).await?),
    };
    let g = system_grant(HOST_VERIFY, &resource);
    match result {
        Ok(check) => {
            let mut m = st.store.mutation(&g).await?.without_iam_change();
            iam::clear_failures(&mut m.tx, &source_scope, t, pw.lockout_seconds).await?;
            store::record_host_check(&mut m.tx, &check.device_id, check.step, &host.id, check.at)
                .await?;
            m.commit(&event("Allowed", "")).await?;
            Ok(Json(MfaVerified {
                mfa_authenticated_at: check.at,
            }))
        }
        Err(e @ ApiError::RetryLater { .. }) => {
            let mut c = st.store.pool().acquire().await?;
            iam::release_attempt(&mut c, &source_scope).await?;
            Err(e)
        }
        Err(e) => {
            let mut c = st.store.pool().acquire().await?;
            iam::record_failure(
                &mut c,
                &source_scope,
                t,
                pw.max_failures,
                pw.lockout_seconds,
            )
            .await?;
            Err(e)
        }
    }
}

/// Audits a check that had no device to check against; the answer is a
/// wrong code's.
async fn no_device(st: &AppState, ev: &AuditEvent) -> Result<ApiError, ApiError> {
    let g = system_grant(HOST_VERIFY, &ev.resource);
    let m = st.store.mutation(&g).await?.without_iam_change();
    m.commit(ev).await?;
    st.metrics
        .auth_failures
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok(wrong_code())
}

fn throttled_source(wait: i64) -> ApiError {
    ApiError::RetryLater {
        message: format!(
            "too many wrong MFA codes for this user from this source; try again in {wait} seconds"
        ),
        retry_after: u64::try_from(wait).unwrap_or(1),
    }
}

/// The check password login makes: `code` for `user`, who has device
/// `d` enabled. A missing code is 401 `MfaRequired`.
pub(crate) async fn login_check(
    st: &AppState,
    user: &User,
    d: &Device,
    code: Option<&str>,
    source_ip: &str,
) -> Result<i64, ApiError> {
    let Some(code) = code else {
        return Err(ApiError::Unauthenticated {
            code: "MfaRequired",
            message: format!(
                "user {} has an MFA device: send its current code as mfaCode",
                user.name
            ),
            status: StatusCode::UNAUTHORIZED,
        });
    };
    check_device(
        st,
        VERIFY,
        &user_arn(st.store.account_id(), user),
        d,
        code,
        source_ip,
    )
    .await
}
