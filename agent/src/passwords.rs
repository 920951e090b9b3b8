//! Password logins (issue #12): the socket's `verify_password` and
//! `change_password`, for pam_ward.
//!
//! Online, the agent forwards the check to ward-ca (`POST
//! /v1/host/password/verify` / `change`) with the host's mTLS client;
//! ward-ca throttles, audits and keeps the hash. After an online `ok`
//! (or a change), the agent keeps its own **offline verifier** for that
//! user only: an Argon2id hash of the password with a fresh salt, the
//! user's id, the login profile version and the time, in
//! `STATE_DIR/passwords.json` (0600, written atomically, never holding the
//! password).
//!
//! Offline (ward-ca unreachable, a 5xx, or the host's client cannot be
//! set up — never after an answer such as `wrong`), a password is checked
//! against that verifier when all of these hold, else the answer is
//! `unavailable` (or `disabled`):
//! - offline logins are enabled (`offline_password_max_age_seconds` > 0)
//!   and the verifier is younger than that;
//! - the cached snapshot still holds the user, with the same id, enabled,
//!   with a login profile whose version is the verifier's and no reset
//!   required;
//! - fewer than [`OFFLINE_MAX_FAILURES`] offline failures for the user in
//!   the last [`OFFLINE_WINDOW`] seconds (else `throttled`).
//!
//! A verifier is dropped when one of the conditions above no longer holds
//! (checked on every request for the user and every minute for all, see
//! [`Passwords::prune`]) and when ward-ca answers `wrong`, `disabled` or
//! `reset_required` — except that a snapshot *older* than the verifier
//! (a change made through this host, not yet synced: versions only grow)
//! makes it unusable without dropping it. Offline checks are recorded in
//! the audit spool.
//!
//! Local accounts (in the passwd file) and names the snapshot does not
//! hold are `unknown_user` at once: their passwords never leave the host.
//! Argon2 runs on the connection's own thread (the server has one per
//! connection), never under a lock, so other clients are not held up.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::{Deserialize, Serialize};
use ward_protocol::agent::{
    ChangePasswordRequest, MfaOutcome, PasswordAnswer, PasswordOutcome, Response,
    VerifyPasswordRequest,
};
use ward_protocol::host::{
    ChangeHostPassword, MfaVerified, PasswordResult, PasswordVerdict, Secret, SnapshotUser,
    VerifyMfa, VerifyPassword, MAX_PASSWORD_BYTES,
};

use crate::client::{CaClient, CallError};
use crate::shared::{log, Shared};

/// Offline failures per user allowed in [`OFFLINE_WINDOW`].
pub const OFFLINE_MAX_FAILURES: usize = 5;
/// The offline throttle's window (seconds).
pub const OFFLINE_WINDOW: i64 = 900;
/// Largest verdict read from ward-ca.
const MAX_VERDICT: u64 = 64 * 1024;
/// A verifier dated this far in the future (clock steps) is not trusted.
const CLOCK_SKEW: i64 = 300;
/// Longest service name and rhost accepted from PAM.
const MAX_SERVICE: usize = 64;
const MAX_RHOST: usize = 253;

/// Makes the host's client for one call (it reads the current certificate).
pub type Connect = Box<dyn Fn() -> Result<CaClient, String> + Send + Sync>;

/// How passwords are served.
pub struct PasswordOptions {
    /// The verifier file (`STATE_DIR/passwords.json`).
    pub verifiers: PathBuf,
    /// Local accounts: their passwords are never sent to ward-ca.
    pub passwd_file: PathBuf,
    /// Oldest verifier usable offline (seconds); 0 disables offline logins.
    pub max_age: i64,
}

/// One user's offline verifier, as stored.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Verifier {
    user_id: String,
    profile_version: u64,
    verified_at: i64,
    /// Argon2id PHC string of the password (fresh salt).
    hash: String,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("user_id", &self.user_id)
            .field("profile_version", &self.profile_version)
            .field("verified_at", &self.verified_at)
            .finish_non_exhaustive()
    }
}

/// The verifier file.
#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifierFile {
    format: u32,
    verifiers: BTreeMap<String, Verifier>,
}

/// Whether a stored verifier may be used now.
#[derive(Debug, PartialEq, Eq)]
enum Usable {
    /// Yes.
    Yes,
    /// Not now, but keep it: the snapshot predates the verifier's login
    /// profile version (versions only grow; the snapshot catches up).
    NotYet(&'static str),
    /// Never again: drop it.
    Drop(&'static str),
}

/// Whether verifier `v` may be used at `now` against the snapshot's `user`.
fn usable(v: &Verifier, user: Option<&SnapshotUser>, now: i64, max_age: i64) -> Usable {
    let Some(u) = user else {
        return Usable::Drop("the user is no longer a ward user");
    };
    if u.id != v.user_id {
        return Usable::Drop("the user was replaced");
    }
    if !u.enabled {
        return Usable::Drop("the user is disabled");
    }
    match &u.login_profile {
        None => return Usable::Drop("the user has no password any more"),
        Some(p) if p.version < v.profile_version => {
            return Usable::NotYet("this host has not yet received the latest password change")
        }
        Some(p) if p.version != v.profile_version => {
            return Usable::Drop("the password changed since the last online login")
        }
        Some(p) if p.reset_required => return Usable::Drop("the password must be changed"),
        Some(_) => {}
    }
    if max_age <= 0 {
        return Usable::Drop("offline logins are disabled on this host");
    }
    if now.saturating_sub(v.verified_at) >= max_age || v.verified_at > now + CLOCK_SKEW {
        return Usable::Drop("the last online login is too long ago");
    }
    Usable::Yes
}

/// The socket's password requests.
pub struct Passwords {
    shared: Arc<Shared>,
    connect: Connect,
    opts: PasswordOptions,
    verifiers: Mutex<BTreeMap<String, Verifier>>,
    failures: Mutex<HashMap<String, VecDeque<i64>>>,
    ids: AtomicU64,
    id_prefix: String,
}

fn answer(outcome: PasswordOutcome, offline: bool, reason: Option<String>) -> Response {
    Response::Password(PasswordAnswer {
        outcome,
        offline,
        reason,
    })
}

fn bad(message: impl Into<String>) -> Response {
    Response::Error {
        code: "malformed".into(),
        message: message.into(),
    }
}

/// Checks what PAM sent: the account name, service and rhost (printable
/// ASCII, bounded; an empty rhost is none) and the password's size.
fn check_request(
    user: &str,
    service: &str,
    rhost: Option<&str>,
    passwords: &[&str],
) -> Result<Option<String>, Response> {
    if !crate::decide::account_ok(user) {
        return Err(bad("user is not a valid account name"));
    }
    let printable = |s: &str| s.bytes().all(|b| b.is_ascii_graphic());
    if service.is_empty() || service.len() > MAX_SERVICE || !printable(service) {
        return Err(bad(format!(
            "service must be 1 to {MAX_SERVICE} printable ASCII characters"
        )));
    }
    let rhost = match rhost {
        None | Some("") => None,
        Some(r) if r.len() > MAX_RHOST || !printable(r) => {
            return Err(bad(format!(
                "rhost must be at most {MAX_RHOST} printable ASCII characters"
            )))
        }
        Some(r) => Some(r.to_owned()),
    };
    if passwords.iter().any(|p| p.len() > MAX_PASSWORD_BYTES) {
        return Err(bad(format!(
            "a password is at most {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    Ok(rhost)
}

/// True when `name` is an account of the local passwd file.
fn is_local(passwd: &std::path::Path, name: &str) -> bool {
    std::fs::read_to_string(passwd).is_ok_and(|text| {
        text.lines()
            .any(|l| l.split(':').next() == Some(name) && !l.starts_with('#'))
    })
}

/// Whether a failed call means "ward-ca cannot answer now" (offline).
fn unreachable(e: &CallError) -> bool {
    match e {
        CallError::Unreachable(_) => true,
        CallError::Status { code, .. } => *code >= 500,
        _ => false,
    }
}

fn hash(password: &str) -> Option<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .ok()
}

fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(h) => Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok(),
        Err(_) => false,
    }
}

impl Passwords {
    /// Loads the verifier file (a missing, unreadable or damaged file, or
    /// one that others may read, is discarded: logins go online).
    pub fn new(shared: Arc<Shared>, connect: Connect, opts: PasswordOptions) -> Passwords {
        let verifiers = load(&opts.verifiers);
        let mut r = [0u8; 6];
        rand::Rng::fill(&mut rand::thread_rng(), &mut r);
        Passwords {
            shared,
            connect,
            opts,
            verifiers: Mutex::new(verifiers),
            failures: Mutex::new(HashMap::new()),
            ids: AtomicU64::new(0),
            id_prefix: format!("pw-{}", hex::encode(r)),
        }
    }

    fn lock_verifiers(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Verifier>> {
        self.verifiers.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn save(&self, map: &BTreeMap<String, Verifier>) {
        let file = VerifierFile {
            format: 1,
            verifiers: map.clone(),
        };
        let bytes = match serde_json::to_vec(&file) {
            Ok(b) => b,
            Err(e) => return log(format_args!("password verifiers: {e}")),
        };
        if let Err(e) = crate::files::write_atomic(&self.opts.verifiers, &bytes, 0o600) {
            log(format_args!(
                "writing {}: {e}",
                self.opts.verifiers.display()
            ));
        }
    }

    /// Stores (replaces) `user`'s verifier and writes the file.
    fn remember(&self, user: &str, v: Verifier) {
        let mut map = self.lock_verifiers();
        map.insert(user.to_owned(), v);
        self.save(&map);
    }

    /// Drops `user`'s verifier, if any, and writes the file.
    fn forget(&self, user: &str, why: &str) {
        let mut map = self.lock_verifiers();
        if map.remove(user).is_some() {
            log(format_args!(
                "offline password verifier of {user} dropped: {why}"
            ));
            self.save(&map);
        }
    }

    /// Drops every verifier that may no longer be used at `now` (the
    /// user removed, replaced or disabled, the profile version moved, the
    /// age passed). Returns how many were dropped.
    pub fn prune(&self, now: i64) -> usize {
        let Some(cur) = self.shared.snapshot() else {
            return 0;
        };
        let users = &cur.snapshot.users;
        let mut map = self.lock_verifiers();
        let before = map.len();
        map.retain(|name, v| {
            match usable(
                v,
                users.iter().find(|u| &u.name == name),
                now,
                self.opts.max_age,
            ) {
                Usable::Drop(why) => {
                    log(format_args!(
                        "offline password verifier of {name} dropped: {why}"
                    ));
                    false
                }
                Usable::Yes | Usable::NotYet(_) => true,
            }
        });
        let dropped = before - map.len();
        if dropped > 0 {
            self.save(&map);
        }
        dropped
    }

    /// Users holding a verifier (for tests and status).
    pub fn holders(&self) -> Vec<String> {
        self.lock_verifiers().keys().cloned().collect()
    }

    /// `verify_password`.
    pub fn verify_password(&self, req: &VerifyPasswordRequest, now: i64) -> Response {
        let rhost = match check_request(
            &req.user,
            &req.service,
            req.rhost.as_deref(),
            &[&req.password.0],
        ) {
            Ok(r) => r,
            Err(resp) => return resp,
        };
        if let Err(resp) = self.ward_user(&req.user) {
            return resp;
        }
        if req.password.0.is_empty() {
            return answer(PasswordOutcome::Wrong, false, None);
        }
        let body = VerifyPassword {
            user: req.user.clone(),
            password: req.password.clone(),
            service: req.service.clone(),
            rhost: rhost.clone(),
        };
        let verdict = (self.connect)().map_err(CallError::Setup).and_then(|c| {
            c.post::<_, PasswordVerdict>("/v1/host/password/verify", &body, MAX_VERDICT)
        });
        match verdict {
            Ok(v) => self.online(&req.user, &req.password.0, &v),
            Err(e) if unreachable(&e) || matches!(e, CallError::Setup(_)) => {
                log(format_args!(
                    "verify_password for {}: {e}; checking offline",
                    req.user
                ));
                self.offline(req, rhost.as_deref(), now)
            }
            Err(e) => {
                log(format_args!("verify_password for {}: {e}", req.user));
                answer(
                    PasswordOutcome::Unavailable,
                    false,
                    Some("ward could not check the password".into()),
                )
            }
        }
    }

    /// Checks `user`'s MFA `code` with ward-ca (`POST /v1/host/mfa/verify`,
    /// online only: there is no offline MFA): the time of the check, or
    /// the outcome to answer and why.
    pub fn verify_mfa(
        &self,
        user: &str,
        code: &str,
        rhost: Option<&str>,
    ) -> Result<i64, (MfaOutcome, String)> {
        let body = VerifyMfa {
            user_name: user.to_owned(),
            code: Secret(code.to_owned()),
            rhost: rhost.map(str::to_owned),
        };
        let r = (self.connect)()
            .map_err(CallError::Setup)
            .and_then(|c| c.post::<_, MfaVerified>("/v1/host/mfa/verify", &body, MAX_VERDICT));
        match r {
            Ok(v) => Ok(v.mfa_authenticated_at),
            Err(CallError::Status { code: 403, .. }) => Err((
                MfaOutcome::Wrong,
                "the MFA code is wrong, expired or already used".into(),
            )),
            Err(CallError::Status {
                code: 429, message, ..
            }) => Err((MfaOutcome::Throttled, message)),
            Err(e) => {
                log(format_args!("verify_mfa for {user}: {e}"));
                Err((
                    MfaOutcome::Unavailable,
                    "ward cannot check MFA codes right now".into(),
                ))
            }
        }
    }

    /// `unknown_user` for a local account or a name the snapshot does not
    /// hold; `unavailable` before the first snapshot.
    fn ward_user(&self, user: &str) -> Result<(), Response> {
        if is_local(&self.opts.passwd_file, user) {
            return Err(answer(PasswordOutcome::UnknownUser, false, None));
        }
        let Some(cur) = self.shared.snapshot() else {
            return Err(answer(
                PasswordOutcome::Unavailable,
                false,
                Some("this host has not synced with ward yet".into()),
            ));
        };
        if !cur.snapshot.users.iter().any(|u| u.name == user) {
            return Err(answer(PasswordOutcome::UnknownUser, false, None));
        }
        Ok(())
    }

    /// Acts on ward-ca's verdict for `user`'s `password`.
    fn online(&self, user: &str, password: &str, v: &PasswordVerdict) -> Response {
        match v.result {
            PasswordResult::Ok => {
                if let (Some(id), Some(version)) = (&v.user_id, v.profile_version) {
                    self.store(user, password, id, version);
                }
                self.clear_failures(user);
                answer(PasswordOutcome::Ok, false, None)
            }
            PasswordResult::ResetRequired => {
                self.forget(user, "the password must be changed");
                answer(
                    PasswordOutcome::ResetRequired,
                    false,
                    Some("your ward password must be changed".into()),
                )
            }
            PasswordResult::Wrong => {
                self.forget(user, "ward-ca refused the password");
                answer(PasswordOutcome::Wrong, false, None)
            }
            PasswordResult::Disabled => {
                self.forget(user, "the user is disabled");
                answer(PasswordOutcome::Disabled, false, v.message.clone())
            }
            PasswordResult::Throttled => {
                answer(PasswordOutcome::Throttled, false, v.message.clone())
            }
            PasswordResult::PolicyViolation => {
                answer(PasswordOutcome::PolicyViolation, false, v.message.clone())
            }
        }
    }

    /// Hashes `password` into a fresh verifier for `user` (Argon2 outside
    /// any lock).
    fn store(&self, user: &str, password: &str, user_id: &str, version: u64) {
        if self.opts.max_age <= 0 {
            return;
        }
        match hash(password) {
            Some(h) => self.remember(
                user,
                Verifier {
                    user_id: user_id.to_owned(),
                    profile_version: version,
                    verified_at: crate::shared::now(),
                    hash: h,
                },
            ),
            None => log("cannot hash an offline password verifier"),
        }
    }

    fn lock_failures(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<i64>>> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn clear_failures(&self, user: &str) {
        self.lock_failures().remove(user);
    }

    /// Reserves an offline attempt for `user`: `false` when
    /// [`OFFLINE_MAX_FAILURES`] failed in the window. The reservation
    /// counts as a failure until [`Passwords::clear_failures`] (so racing
    /// guesses cannot exceed the limit).
    fn reserve(&self, user: &str, now: i64) -> bool {
        let mut f = self.lock_failures();
        let q = f.entry(user.to_owned()).or_default();
        while q.front().is_some_and(|&t| t <= now - OFFLINE_WINDOW) {
            q.pop_front();
        }
        if q.len() >= OFFLINE_MAX_FAILURES {
            return false;
        }
        q.push_back(now);
        true
    }

    /// The offline check (see the module docs).
    fn offline(&self, req: &VerifyPasswordRequest, rhost: Option<&str>, now: i64) -> Response {
        let user = req.user.as_str();
        let cur = self.shared.snapshot();
        let su = cur
            .as_ref()
            .and_then(|c| c.snapshot.users.iter().find(|u| u.name == user));
        let stored = self.lock_verifiers().get(user).cloned();
        let unavailable = |why: &str| {
            answer(
                PasswordOutcome::Unavailable,
                true,
                Some(format!("ward is unreachable and {why}")),
            )
        };
        if su.is_some_and(|u| !u.enabled) {
            self.forget(user, "the user is disabled");
            self.audit(req, rhost, now, false, "offline: the user is disabled");
            return answer(
                PasswordOutcome::Disabled,
                true,
                Some("the user is disabled".into()),
            );
        }
        let Some(v) = stored else {
            return unavailable("this user has no offline login on this host");
        };
        match usable(&v, su, now, self.opts.max_age) {
            Usable::Yes => {}
            Usable::NotYet(why) => return unavailable(why),
            Usable::Drop(why) => {
                self.forget(user, why);
                return unavailable(why);
            }
        }
        if !self.reserve(user, now) {
            self.audit(req, rhost, now, false, "offline: too many failed passwords");
            return answer(
                PasswordOutcome::Throttled,
                true,
                Some("too many failed passwords; try again later".into()),
            );
        }
        if verify(&req.password.0, &v.hash) {
            self.clear_failures(user);
            self.audit(req, rhost, now, true, "offline password check");
            answer(PasswordOutcome::Ok, true, None)
        } else {
            self.audit(req, rhost, now, false, "offline: wrong password");
            answer(PasswordOutcome::Wrong, true, None)
        }
    }

    /// Records an offline password check in the audit spool.
    fn audit(
        &self,
        req: &VerifyPasswordRequest,
        rhost: Option<&str>,
        now: i64,
        allowed: bool,
        reason: &str,
    ) {
        let n = self.ids.fetch_add(1, Ordering::Relaxed);
        self.shared.audit.record(ward_protocol::host::HostEvent {
            id: format!("{}-{n}", self.id_prefix),
            time: now,
            action: ward_protocol::host::EVENT_VERIFY_PASSWORD.into(),
            user: Some(req.user.clone()),
            principal: Some(req.user.clone()),
            service: Some(req.service.clone()),
            source_ip: rhost
                .and_then(|r| r.parse::<std::net::IpAddr>().ok())
                .map(|ip| ip.to_string()),
            auth_method: Some("password-offline".into()),
            allowed,
            reason: Some(reason.to_owned()),
            target: None,
        });
    }

    /// `change_password` (online only).
    pub fn change_password(&self, req: &ChangePasswordRequest, _now: i64) -> Response {
        let rhost = match check_request(
            &req.user,
            &req.service,
            req.rhost.as_deref(),
            &[&req.old_password.0, &req.new_password.0],
        ) {
            Ok(r) => r,
            Err(resp) => return resp,
        };
        if let Err(resp) = self.ward_user(&req.user) {
            return resp;
        }
        if req.old_password.0.is_empty() {
            return answer(PasswordOutcome::Wrong, false, None);
        }
        if req.new_password.0.is_empty() {
            return answer(
                PasswordOutcome::PolicyViolation,
                false,
                Some("the new password must not be empty".into()),
            );
        }
        let body = ChangeHostPassword {
            user: req.user.clone(),
            old_password: req.old_password.clone(),
            new_password: req.new_password.clone(),
            service: req.service.clone(),
            rhost,
        };
        let verdict = (self.connect)().map_err(CallError::Setup).and_then(|c| {
            c.post::<_, PasswordVerdict>("/v1/host/password/change", &body, MAX_VERDICT)
        });
        match verdict {
            Ok(v) => self.online(&req.user, &req.new_password.0, &v),
            Err(e) => {
                log(format_args!("change_password for {}: {e}", req.user));
                answer(
                    PasswordOutcome::Unavailable,
                    !matches!(e, CallError::Status { .. }),
                    Some("the password can be changed only while ward is reachable".into()),
                )
            }
        }
    }
}

/// The verifiers in `path`; empty (and the file removed) when it is
/// missing, damaged, not a regular file or readable by others.
fn load(path: &std::path::Path) -> BTreeMap<String, Verifier> {
    use std::os::unix::fs::MetadataExt;
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(_) => return BTreeMap::new(),
    };
    let discard = |why: &str| {
        log(format_args!("{}: {why}; discarded", path.display()));
        let _ = std::fs::remove_file(path);
        BTreeMap::new()
    };
    if !meta.file_type().is_file() {
        return discard("not a regular file");
    }
    if meta.mode() & 0o077 != 0 {
        return discard("readable or writable by others");
    }
    if meta.len() > 64 * 1024 * 1024 {
        return discard("too large");
    }
    match std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<VerifierFile>(&b).ok())
    {
        Some(f) if f.format == 1 => f.verifiers,
        _ => discard("damaged"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ward_protocol::host::SnapshotLoginProfile;

    fn user(enabled: bool, version: u64, reset: bool) -> SnapshotUser {
        SnapshotUser {
            id: "AIDAALICE".into(),
            name: "alice".into(),
            enabled,
            login_profile: Some(SnapshotLoginProfile {
                reset_required: reset,
                version,
            }),
            ..SnapshotUser::default()
        }
    }

    #[test]
    fn a_verifier_is_usable_only_while_everything_still_holds() {
        let v = Verifier {
            user_id: "AIDAALICE".into(),
            profile_version: 7,
            verified_at: 1000,
            hash: String::new(),
        };
        let dropped = |u: Option<&SnapshotUser>, now: i64, max_age: i64| {
            matches!(usable(&v, u, now, max_age), Usable::Drop(_))
        };
        let ok = user(true, 7, false);
        assert_eq!(usable(&v, Some(&ok), 1000 + 99, 100), Usable::Yes);
        assert!(dropped(Some(&ok), 1000 + 100, 100), "age");
        assert!(dropped(Some(&ok), 1000, 0), "disabled by config");
        assert!(dropped(Some(&ok), 1000 - CLOCK_SKEW - 1, 100), "future");
        assert!(dropped(None, 1000, 100), "removed");
        assert!(dropped(Some(&user(false, 7, false)), 1000, 100));
        assert!(dropped(Some(&user(true, 8, false)), 1000, 100));
        assert!(dropped(Some(&user(true, 7, true)), 1000, 100));
        // A snapshot older than the verifier (the change is on its way):
        // not usable, not dropped.
        assert!(matches!(
            usable(&v, Some(&user(true, 6, false)), 1000, 100),
            Usable::NotYet(_)
        ));
        let mut other = ok.clone();
        other.id = "AIDAOTHER".into();
        assert!(dropped(Some(&other), 1000, 100), "replaced");
        let mut none = ok;
        none.login_profile = None;
        assert!(dropped(Some(&none), 1000, 100));
    }

    #[test]
    fn a_verifier_debug_shows_no_hash() {
        let v = Verifier {
            user_id: "AIDAALICE".into(),
            profile_version: 7,
            verified_at: 1000,
            hash: "$argon2id$secret".into(),
        };
        assert!(!format!("{v:?}").contains("argon2id"));
    }
}
