//! MFA at the gateway (issues #13 and #14): a second factor asked for
//! through SSH keyboard-interactive when policy needs one.
//!
//! After a first factor (ward user certificate, registered key, or
//! password) the gateway asks ward-authz, through the same
//! [`Decider::decide_user_mfa`] pam_ward uses, whether the connection's
//! decision comes back [`Outcome::MfaRequired`] ([`needed`]): in
//! terminating mode `host:Login` for the account on the target the SSH
//! user name names; in ProxyJump mode, where the target is named only
//! later, whether an MFA check can bear on `host:Connect` at all, read
//! from the user's policies ([`Decider::mfa_may_matter`], the shared
//! `ward_authz::mfa::may_require`). If so the first factor
//! is held ([`Pending`]), the client is told to go on with
//! keyboard-interactive (after a public key: a failure with partial
//! success naming only `keyboard-interactive`; after a password: the
//! next prompt of the same exchange), and asked [`PROMPT`] (not echoed).
//! The code is checked by ward-ca's `POST /v1/host/mfa/verify` (the
//! gateway is an enrolled host; ward-ca refuses wrong, replayed and
//! device-less codes alike and throttles per device and per user +
//! client address), whose answer is the time of the check. Terminating
//! mode decides again with it ([`after_code`]); the connection then
//! carries that time: every later decision (each `direct-tcpip`, each
//! terminating target, ward-ca's own decision for the one-session
//! certificate) and every live re-check has `ward:MultiFactorAuthPresent`
//! true and a `ward:MultiFactorAuthAge` that grows, so a
//! `NumericLessThan ward:MultiFactorAuthAge` condition ends the session
//! when it expires. A user whose decisions need no code is never asked.
//!
//! Fail closed: a gateway that cannot check codes, a code that is not six
//! digits, any refusal by ward-ca — the connection is not authenticated;
//! the reason reaches the client as keyboard-interactive instructions.

use std::net::IpAddr;
use std::sync::Arc;

use russh::server::Auth;
use russh::{MethodKind, MethodSet};
use ward_agent::decide::{Decider, Facts, Target, LOGIN};
use ward_agent::passwords::Passwords;
use ward_agent::shared::Current;
use ward_protocol::agent::Outcome;
use ward_protocol::host::SnapshotUser;

use crate::sessions::Credential;
use crate::target;
use crate::terminate::Dest;

/// The prompt.
pub const PROMPT: &str = "ward MFA code: ";
/// The audit reason of an authentication completed with an MFA code.
pub const VERIFIED: &str = "MFA code checked by ward-ca";

/// A first factor accepted, waiting for its MFA code.
#[derive(Clone, Debug)]
pub struct Pending {
    /// The SSH user name it authenticated with (the code must come for
    /// the same name).
    pub ssh_user: String,
    /// The ward user's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// `ward:AuthMethod` of the first factor.
    pub method: &'static str,
    /// The first factor.
    pub credential: Credential,
}

/// Whether `user`'s connection needs an MFA code. Terminating mode
/// (`dest`): `host:Login` as the account on the target the SSH user name
/// names comes back [`Outcome::MfaRequired`] (one decision, and none at
/// all when no statement of the user's policies for `host:Login` looks at
/// an MFA key). ProxyJump mode, where the target is named only later:
/// some statement of the user's policies that may apply to `host:Connect`
/// looks at `ward:MultiFactorAuthPresent` or `ward:MultiFactorAuthAge`
/// ([`Decider::mfa_may_matter`], from the policies alone, not one
/// decision per registered host; it errs towards asking). Anything that
/// cannot be decided here (no target, a denial) is left to the channel's
/// decision, which refuses it with its reason.
pub fn needed(
    decider: &Decider,
    cur: &Arc<Current>,
    user: &SnapshotUser,
    facts: &Facts<'_>,
    dest: Option<&Dest>,
) -> bool {
    let Some(registry) = cur.snapshot.registry.as_deref() else {
        return false;
    };
    match dest {
        Some(d) => {
            if !decider.mfa_may_matter(cur, user, LOGIN) {
                return false;
            }
            let Ok(host) = target::find(registry, &d.target, 22) else {
                return false;
            };
            let t = Target {
                name: &host.name,
                tags: &host.tags,
            };
            decider
                .decide_user_mfa(cur, user, &login_facts(facts, &d.account), &t, None)
                .outcome
                == Outcome::MfaRequired
        }
        None => decider.mfa_may_matter(cur, user, facts.action),
    }
}

/// `host:Login` as `account` with the rest of `facts`.
fn login_facts<'a>(facts: &Facts<'a>, account: &'a str) -> Facts<'a> {
    Facts {
        action: LOGIN,
        principal: account,
        ..*facts
    }
}

/// After a code checked at `at`: in terminating mode `host:Login` is
/// decided again with it and must be allowed (the reason if not); a
/// ProxyJump connection's targets are decided per channel, with `at`.
pub fn after_code(
    decider: &Decider,
    cur: &Arc<Current>,
    user: &SnapshotUser,
    facts: &Facts<'_>,
    dest: Option<&Dest>,
    at: i64,
) -> Result<(), String> {
    let Some(d) = dest else {
        return Ok(());
    };
    let registry = cur
        .snapshot
        .registry
        .as_deref()
        .ok_or("this gateway's snapshot has no host registry")?;
    let host = target::find(registry, &d.target, 22)?;
    let t = Target {
        name: &host.name,
        tags: &host.tags,
    };
    let v = decider.decide_user_mfa(cur, user, &login_facts(facts, &d.account), &t, Some(at));
    match v.outcome {
        Outcome::Allowed => Ok(()),
        _ => Err(v.reason.unwrap_or_else(|| "host:Login denied".into())),
    }
}

/// Checks `code` for ward user `user` from `source` with ward-ca
/// (blocking work on tokio's blocking pool): the time of the check, or
/// why not.
pub async fn check(
    checks: Option<Arc<Passwords>>,
    user: &str,
    code: &str,
    source: IpAddr,
) -> Result<i64, String> {
    let Some(checks) = checks else {
        return Err("this gateway cannot check MFA codes".into());
    };
    if !ward_agent::decide::code_ok(code) {
        return Err("an MFA code is six digits".into());
    }
    let (user, code) = (user.to_owned(), code.to_owned());
    tokio::task::spawn_blocking(move || {
        checks
            .verify_mfa(&user, &code, Some(&source.to_string()))
            .map_err(|(_, why)| why)
    })
    .await
    .map_err(|e| format!("the MFA check failed: {e}"))?
}

/// After a public key: go on with keyboard-interactive only (the first
/// factor is held by the connection).
pub fn ask() -> Auth {
    let mut methods = MethodSet::empty();
    methods.push(MethodKind::KeyboardInteractive);
    Auth::Reject {
        proceed_with_methods: Some(methods),
        partial_success: true,
    }
}

/// The keyboard-interactive round asking for the code.
pub fn prompt() -> Auth {
    Auth::Partial {
        name: "".into(),
        instructions: "".into(),
        prompts: vec![(PROMPT.into(), false)].into(),
    }
}

/// A round with no prompt that shows the client why its code was not
/// accepted (its answer is refused).
pub fn refused(why: &str) -> Auth {
    Auth::Partial {
        name: "".into(),
        instructions: format!("ward: MFA code not accepted: {why}").into(),
        prompts: Vec::new().into(),
    }
}
