//! The decisions, without the C ABI: PAM items (and passwords) in, a
//! [`Verdict`] or [`PasswordVerdict`] out. Items are checked before
//! anything is sent (hostile values from a remote client — `PAM_RHOST`,
//! `PAM_USER` typed at a login prompt — are refused, not passed on), an
//! empty or over-long password is refused without asking the agent, the
//! agent is asked over its socket through `ward_agentlink` (connect and
//! exchange bounded by the `timeout=` argument), and its answer is mapped
//! to a PAM outcome.

use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::path::Path;

use ward_protocol::agent::{
    AuthorizeRequest, ChangePasswordRequest, MfaAnswer, MfaOutcome, Outcome, PasswordAnswer,
    PasswordOutcome, Request, Response, Secret, SessionRequest, VerifyMfaRequest,
    VerifyPasswordRequest,
};
use ward_protocol::host::MAX_PASSWORD_BYTES;

use crate::args::Args;

/// Longest PAM item value sent to the agent.
pub const MAX_ITEM: usize = 256;

/// The PAM items an account check uses (already converted from C strings;
/// `None` when unset or not UTF-8).
#[derive(Clone, Debug, Default)]
pub struct Items {
    /// `PAM_SERVICE`.
    pub service: Option<String>,
    /// `PAM_USER`.
    pub user: Option<String>,
    /// `PAM_RUSER` (for sudo: the invoking user).
    pub ruser: Option<String>,
    /// `PAM_RHOST`.
    pub rhost: Option<String>,
    /// How the user authenticated, if this handle knows.
    pub auth_method: Option<String>,
    /// The ticket of an MFA check made in this login's `authenticate`
    /// (`WARD_MFA_TICKET` in the PAM environment), if any.
    pub mfa_ticket: Option<String>,
}

/// What the module answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// `PAM_SUCCESS`.
    Allow,
    /// `PAM_PERM_DENIED`, with ward's reason for the user.
    Deny(String),
    /// Not a ward user: `PAM_USER_UNKNOWN` (or `PAM_IGNORE`).
    Unknown,
    /// The agent could not answer for a user ward may know:
    /// `PAM_AUTHINFO_UNAVAIL` (fail closed).
    Unavailable(String),
    /// The request itself is unacceptable (hostile item): `PAM_PERM_DENIED`.
    Refused(String),
}

/// A PAM item fit to send: bounded, no control characters.
fn clean(what: &str, v: &str) -> Result<String, String> {
    if v.is_empty() {
        return Err(format!("{what} is empty"));
    }
    if v.len() > MAX_ITEM {
        return Err(format!("{what} is longer than {MAX_ITEM} bytes"));
    }
    if v.chars().any(char::is_control) {
        return Err(format!("{what} contains control characters"));
    }
    Ok(v.to_owned())
}

/// Whether this is a sudo stack (decide `host:Sudo`): the `sudo` argument,
/// or the services `sudo` and `sudo-i` (sudo's `pam_login_service`).
pub fn is_sudo(args: &Args, items: &Items) -> bool {
    args.sudo || matches!(items.service.as_deref(), Some("sudo" | "sudo-i"))
}

/// The agent request for an account check, or why none can be made.
///
/// For a sudo stack (`sudo`), the account stage does not know the target
/// user: sudo calls `pam_acct_mgmt` with `PAM_USER` = the invoking user
/// (root or the target with sudoers' `rootpw`/`targetpw`) and `PAM_RUSER`
/// = the invoking user, and sets `PAM_USER` to the target only when it
/// opens the session. The request is then `host:Sudo` for the invoking
/// user (`PAM_RUSER`, else `PAM_USER`) with no `host:Principal`: the
/// agent's pre-check, which denies only what is denied whatever the target
/// (see [`sudo_session_request`] for the decision itself).
pub fn account_request(items: &Items, sudo: bool) -> Result<AuthorizeRequest, String> {
    let service = clean(
        "PAM_SERVICE",
        items.service.as_deref().ok_or("PAM_SERVICE is not set")?,
    )?;
    let target = clean(
        "PAM_USER",
        items.user.as_deref().ok_or("PAM_USER is not set")?,
    )?;
    let (action, user, principal) = if sudo {
        let invoker = match items.ruser.as_deref() {
            Some(r) if !r.is_empty() => clean("PAM_RUSER", r)?,
            _ => target,
        };
        ("host:Sudo", invoker, String::new())
    } else {
        ("host:Login", target.clone(), target)
    };
    request(items, action, user, principal, service)
}

/// The agent request at a sudo session's opening: `host:Sudo` for the
/// invoking user (`PAM_RUSER`, required) with `host:Principal` = the
/// target user (`PAM_USER`, which sudo has set to the runas user).
pub fn sudo_session_request(items: &Items) -> Result<AuthorizeRequest, String> {
    let service = clean(
        "PAM_SERVICE",
        items.service.as_deref().ok_or("PAM_SERVICE is not set")?,
    )?;
    let target = clean(
        "PAM_USER",
        items.user.as_deref().ok_or("PAM_USER is not set")?,
    )?;
    let invoker = clean(
        "PAM_RUSER",
        items
            .ruser
            .as_deref()
            .ok_or("sudo did not set PAM_RUSER (the invoking user)")?,
    )?;
    request(items, "host:Sudo", invoker, target, service)
}

fn request(
    items: &Items,
    action: &str,
    user: String,
    principal: String,
    service: String,
) -> Result<AuthorizeRequest, String> {
    // PAM_RHOST is a host name or an address; only an address is
    // `ward:SourceIp` (a name would be whatever the client claimed).
    let source_ip = items
        .rhost
        .as_deref()
        .and_then(|h| h.parse::<IpAddr>().ok())
        .map(|ip| ip.to_string());
    Ok(AuthorizeRequest {
        action: action.to_owned(),
        user,
        principal,
        service,
        source_ip,
        auth_method: items
            .auth_method
            .clone()
            .unwrap_or_else(|| "unknown".to_owned()),
        mfa_ticket: items.mfa_ticket.clone(),
    })
}

/// Maps the agent's answer.
pub fn verdict(answer: Response) -> Verdict {
    match answer {
        Response::Decision {
            outcome: Outcome::Allowed,
            ..
        } => Verdict::Allow,
        Response::Decision {
            outcome: Outcome::UnknownUser,
            ..
        } => Verdict::Unknown,
        Response::Decision {
            outcome: Outcome::Denied,
            reason,
            ..
        } => Verdict::Deny(reason.unwrap_or_else(|| "denied by ward policy".to_owned())),
        // Only `authenticate` can ask for a code (with the `mfa`
        // argument); anywhere else it is a denial.
        Response::Decision {
            outcome: Outcome::MfaRequired,
            reason,
            ..
        } => Verdict::Deny(format!(
            "{} (pam_ward asks for it in the auth stack with the mfa argument)",
            reason.unwrap_or_else(|| "ward policy requires an MFA code".to_owned())
        )),
        Response::Error { code, message } => Verdict::Unavailable(format!(
            "the ward agent refused the request ({code}): {message}"
        )),
        other => Verdict::Unavailable(format!("unexpected answer from the ward agent: {other:?}")),
    }
}

/// True if `name` has an entry in the passwd file at `path` (local
/// accounts are never ward's: they keep working when the agent is down).
pub fn is_local_user(path: &Path, name: &str) -> bool {
    let Ok(f) = std::fs::File::open(path) else {
        return false;
    };
    BufReader::new(f)
        .split(b'\n')
        .map_while(Result::ok)
        .any(|line| line.split(|&b| b == b':').next() == Some(name.as_bytes()))
}

/// Asks the agent; a socket that cannot be reached or answer in time is
/// an error, never a hang.
pub fn ask(args: &Args, request: Request) -> Result<Response, String> {
    ward_agentlink::ask(&args.socket, args.timeout, request).map_err(|e| {
        format!(
            "cannot ask the ward agent at {}: {e}",
            args.socket.display()
        )
    })
}

/// Records a PAM session opening (`open`) or closing in ward's audit log
/// through the agent. `Ok` also when ward does not know the user, and for
/// accounts in the local passwd file when the agent cannot be reached
/// (they are not ward's); otherwise an error (the caller fails the
/// session open closed).
pub fn session(args: &Args, items: &Items, open: bool, passwd_file: &Path) -> Result<(), String> {
    let user = clean(
        "PAM_USER",
        items.user.as_deref().ok_or("PAM_USER is not set")?,
    )?;
    let service = clean(
        "PAM_SERVICE",
        items.service.as_deref().ok_or("PAM_SERVICE is not set")?,
    )?;
    let rhost = items
        .rhost
        .as_deref()
        .map(|r| clean("PAM_RHOST", r))
        .transpose()?;
    let req = Request::Session(SessionRequest {
        open,
        user: user.clone(),
        service,
        rhost,
    });
    match ask(args, req) {
        Ok(Response::Recorded { .. }) => Ok(()),
        _ if is_local_user(passwd_file, &user) => Ok(()),
        Ok(Response::Error { code, message }) => Err(format!(
            "the ward agent refused the session event ({code}): {message}"
        )),
        Ok(other) => Err(format!(
            "unexpected answer from the ward agent: {}",
            kind(&other)
        )),
        Err(e) => Err(e),
    }
}

/// The whole account check (a sudo stack's pre-check: see
/// [`account_request`]).
pub fn account(args: &Args, items: &Items, passwd_file: &Path) -> Verdict {
    decide(
        args,
        account_request(items, is_sudo(args, items)),
        passwd_file,
    )
}

/// sudo's session opening: `host:Sudo` for the invoking user to the
/// target user ([`sudo_session_request`]). A denial fails the session
/// open, and sudo then refuses to run the command.
pub fn sudo_session(args: &Args, items: &Items, passwd_file: &Path) -> Verdict {
    decide(args, sudo_session_request(items), passwd_file)
}

fn decide(args: &Args, req: Result<AuthorizeRequest, String>, passwd_file: &Path) -> Verdict {
    let req = match req {
        Ok(r) => r,
        Err(why) => return Verdict::Refused(why),
    };
    let user = req.user.clone();
    match ask(args, Request::Authorize(req)) {
        Ok(answer) => verdict(answer),
        Err(why) => {
            if is_local_user(passwd_file, &user) {
                Verdict::Unknown
            } else {
                Verdict::Unavailable(why)
            }
        }
    }
}

/// What the MFA step of `authenticate` (the `mfa` argument) does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MfaStep {
    /// The decision needs no code (allowed without one): `PAM_SUCCESS`.
    NotNeeded,
    /// Ask for a code.
    Ask,
    /// Denied whatever the code: `PAM_AUTH_ERR`, the reason shown.
    Deny(String),
    /// Not a ward user: `PAM_USER_UNKNOWN` (or `PAM_IGNORE`).
    Unknown,
    /// The agent could not answer: `PAM_AUTHINFO_UNAVAIL`.
    Unavailable(String),
    /// A hostile item: `PAM_AUTH_ERR`, nothing asked.
    Refused(String),
}

/// Whether this login needs an MFA code: the account decision
/// ([`account_request`]) asked without one.
pub fn mfa_step(args: &Args, items: &Items, passwd_file: &Path) -> MfaStep {
    let mut items = items.clone();
    items.mfa_ticket = None;
    let req = match account_request(&items, is_sudo(args, &items)) {
        Ok(r) => r,
        Err(why) => return MfaStep::Refused(why),
    };
    let user = req.user.clone();
    match ask(args, Request::Authorize(req)) {
        Ok(Response::Decision {
            outcome: Outcome::MfaRequired,
            ..
        }) => MfaStep::Ask,
        Ok(answer) => match verdict(answer) {
            Verdict::Allow => MfaStep::NotNeeded,
            Verdict::Unknown => MfaStep::Unknown,
            Verdict::Deny(why) => MfaStep::Deny(why),
            Verdict::Unavailable(why) => MfaStep::Unavailable(why),
            Verdict::Refused(why) => MfaStep::Refused(why),
        },
        Err(_) if is_local_user(passwd_file, &user) => MfaStep::Unknown,
        Err(why) => MfaStep::Unavailable(why),
    }
}

/// What an MFA code comes to.
#[derive(Clone, PartialEq, Eq)]
pub enum MfaVerdict {
    /// Right code, and the decision with it allows: keep the ticket for
    /// `acct_mgmt`. `PAM_SUCCESS`.
    Ok(String),
    /// Allowed without a code after all: `PAM_SUCCESS`.
    NotNeeded,
    /// Wrong, expired or used code: `PAM_AUTH_ERR`.
    Wrong(Option<String>),
    /// Too many wrong codes: `PAM_MAXTRIES`.
    Throttled(Option<String>),
    /// Denied even with the code: `PAM_AUTH_ERR`.
    Denied(Option<String>),
    /// Not a ward user.
    Unknown,
    /// Cannot be checked now: `PAM_AUTHINFO_UNAVAIL`.
    Unavailable(String),
    /// Not sent (hostile item, malformed code): `PAM_AUTH_ERR`.
    Refused(String),
}

impl std::fmt::Debug for MfaVerdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MfaVerdict::Ok(_) => f.write_str("Ok(<ticket>)"),
            MfaVerdict::NotNeeded => f.write_str("NotNeeded"),
            MfaVerdict::Wrong(r) => write!(f, "Wrong({r:?})"),
            MfaVerdict::Throttled(r) => write!(f, "Throttled({r:?})"),
            MfaVerdict::Denied(r) => write!(f, "Denied({r:?})"),
            MfaVerdict::Unknown => f.write_str("Unknown"),
            MfaVerdict::Unavailable(r) => write!(f, "Unavailable({r:?})"),
            MfaVerdict::Refused(r) => write!(f, "Refused({r:?})"),
        }
    }
}

/// Sends `code` for the account decision of `items` to the agent. A code
/// that is not six digits is refused here (never sent).
pub fn verify_mfa(args: &Args, items: &Items, code: &str) -> MfaVerdict {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return MfaVerdict::Refused("the MFA code is not six digits".to_owned());
    }
    let mut items = items.clone();
    items.mfa_ticket = None;
    let req = match account_request(&items, is_sudo(args, &items)) {
        Ok(r) => r,
        Err(why) => return MfaVerdict::Refused(why),
    };
    let rhost = match items.rhost.as_deref() {
        None | Some("") => None,
        Some(r) => match clean("PAM_RHOST", r) {
            Ok(r) if r.len() <= 253 && r.bytes().all(|b| b.is_ascii_graphic()) => Some(r),
            Ok(_) => return MfaVerdict::Refused("PAM_RHOST is not printable".to_owned()),
            Err(why) => return MfaVerdict::Refused(why),
        },
    };
    let req = Request::VerifyMfa(VerifyMfaRequest {
        request: req,
        code: Secret(code.to_owned()),
        rhost,
    });
    match ask(args, req) {
        Ok(Response::Mfa(MfaAnswer {
            outcome,
            ticket,
            reason,
        })) => match (outcome, ticket) {
            (MfaOutcome::Ok, Some(t)) => MfaVerdict::Ok(t),
            (MfaOutcome::Ok, None) => {
                MfaVerdict::Unavailable("the ward agent gave no MFA ticket".to_owned())
            }
            (MfaOutcome::NotNeeded, _) => MfaVerdict::NotNeeded,
            (MfaOutcome::Wrong, _) => MfaVerdict::Wrong(reason),
            (MfaOutcome::Throttled, _) => MfaVerdict::Throttled(reason),
            (MfaOutcome::Denied, _) => MfaVerdict::Denied(reason),
            (MfaOutcome::UnknownUser, _) => MfaVerdict::Unknown,
            (MfaOutcome::Unavailable, _) => MfaVerdict::Unavailable(
                reason.unwrap_or_else(|| "ward cannot check MFA codes right now".to_owned()),
            ),
        },
        Ok(Response::Error { code, message }) => MfaVerdict::Unavailable(format!(
            "the ward agent refused the request ({code}): {message}"
        )),
        Ok(other) => MfaVerdict::Unavailable(format!(
            "unexpected answer from the ward agent: {}",
            kind(&other)
        )),
        Err(why) => MfaVerdict::Unavailable(why),
    }
}

/// What a password request comes to, for PAM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PasswordVerdict {
    /// `PAM_SUCCESS`.
    Ok,
    /// `authenticate`: `PAM_SUCCESS`, and `acct_mgmt` then answers
    /// `PAM_NEW_AUTHTOK_REQD` (the reason, if any, is shown).
    ResetRequired(Option<String>),
    /// Wrong password: `PAM_AUTH_ERR`.
    Wrong(Option<String>),
    /// Not a ward user: `PAM_USER_UNKNOWN` (or `PAM_IGNORE`).
    Unknown,
    /// Disabled user: `PAM_AUTH_ERR`, the reason shown.
    Disabled(Option<String>),
    /// Too many failures: `PAM_MAXTRIES`.
    Throttled(Option<String>),
    /// A change refused by the password policy: `PAM_AUTHTOK_ERR`, ward's
    /// message shown verbatim.
    Policy(Option<String>),
    /// Cannot be decided now: `PAM_AUTHINFO_UNAVAIL` (fail closed).
    Unavailable(String),
    /// The request itself is unacceptable (hostile item, empty or
    /// over-long password): `PAM_AUTH_ERR`, the agent never asked.
    Refused(String),
}

/// A password fit to send: not empty, at most [`MAX_PASSWORD_BYTES`].
pub fn check_password(what: &str, password: &str) -> Result<(), String> {
    if password.is_empty() {
        return Err(format!("{what} is empty"));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(format!("{what} is longer than {MAX_PASSWORD_BYTES} bytes"));
    }
    Ok(())
}

/// The user, service and rhost of a password request, checked like the
/// account items (a hostile `PAM_RHOST` refuses the request: it would go
/// into ward's throttle key and audit log).
pub fn password_items(items: &Items) -> Result<(String, String, Option<String>), String> {
    let user = clean(
        "PAM_USER",
        items.user.as_deref().ok_or("PAM_USER is not set")?,
    )?;
    let service = clean(
        "PAM_SERVICE",
        items.service.as_deref().ok_or("PAM_SERVICE is not set")?,
    )?;
    let rhost = match items.rhost.as_deref() {
        None | Some("") => None,
        Some(r) => Some(clean("PAM_RHOST", r)?),
    };
    Ok((user, service, rhost))
}

/// Maps the agent's answer to a password request.
pub fn password_verdict(answer: Response) -> PasswordVerdict {
    match answer {
        Response::Password(PasswordAnswer {
            outcome, reason, ..
        }) => match outcome {
            PasswordOutcome::Ok => PasswordVerdict::Ok,
            PasswordOutcome::ResetRequired => PasswordVerdict::ResetRequired(reason),
            PasswordOutcome::Wrong => PasswordVerdict::Wrong(reason),
            PasswordOutcome::UnknownUser => PasswordVerdict::Unknown,
            PasswordOutcome::Disabled => PasswordVerdict::Disabled(reason),
            PasswordOutcome::Throttled => PasswordVerdict::Throttled(reason),
            PasswordOutcome::PolicyViolation => PasswordVerdict::Policy(reason),
            PasswordOutcome::Unavailable => PasswordVerdict::Unavailable(
                reason.unwrap_or_else(|| "ward cannot check passwords right now".to_owned()),
            ),
        },
        Response::Error { code, message } => PasswordVerdict::Unavailable(format!(
            "the ward agent refused the request ({code}): {message}"
        )),
        other => PasswordVerdict::Unavailable(format!(
            "unexpected answer from the ward agent: {}",
            kind(&other)
        )),
    }
}

/// The kind of an answer, for logs (never its content: it might carry
/// more than a log should).
fn kind(r: &Response) -> &'static str {
    match r {
        Response::Passwd { .. } => "passwd",
        Response::PasswdList { .. } => "passwd_list",
        Response::Group { .. } => "group",
        Response::GroupList { .. } => "group_list",
        Response::Initgroups { .. } => "initgroups",
        Response::Decision { .. } => "decision",
        Response::Lines { .. } => "lines",
        Response::Password(_) => "password",
        Response::Mfa(_) => "mfa",
        Response::Recorded { .. } => "recorded",
        Response::Status(_) => "status",
        Response::Error { .. } => "error",
    }
}

/// When the agent cannot be reached: a local account is not ward's (pass
/// it on), anyone else is denied.
fn unreachable(passwd_file: &Path, user: &str, why: String) -> PasswordVerdict {
    if is_local_user(passwd_file, user) {
        PasswordVerdict::Unknown
    } else {
        PasswordVerdict::Unavailable(why)
    }
}

/// `authenticate`: checks `password` for the user of `items`.
pub fn verify_password(
    args: &Args,
    items: &Items,
    password: &str,
    passwd_file: &Path,
) -> PasswordVerdict {
    let (user, service, rhost) = match password_items(items) {
        Ok(v) => v,
        Err(why) => return PasswordVerdict::Refused(why),
    };
    if let Err(why) = check_password("the password", password) {
        return PasswordVerdict::Refused(why);
    }
    let req = Request::VerifyPassword(VerifyPasswordRequest {
        user: user.clone(),
        password: Secret(password.to_owned()),
        service,
        rhost,
    });
    match ask(args, req) {
        Ok(answer) => password_verdict(answer),
        Err(why) => unreachable(passwd_file, &user, why),
    }
}

/// `chauthtok` (`PAM_PRELIM_CHECK`): is the agent there, and is this a
/// ward user? `Ok`, `Unknown`, or `Unavailable`.
pub fn prelim_check(args: &Args, items: &Items, passwd_file: &Path) -> PasswordVerdict {
    let user = match items.user.as_deref().map(|u| clean("PAM_USER", u)) {
        Some(Ok(u)) => u,
        Some(Err(why)) => return PasswordVerdict::Refused(why),
        None => return PasswordVerdict::Refused("PAM_USER is not set".to_owned()),
    };
    match ask(args, Request::PasswdByName { name: user.clone() }) {
        Ok(Response::Passwd { entry: Some(_) }) => PasswordVerdict::Ok,
        Ok(Response::Passwd { entry: None }) => PasswordVerdict::Unknown,
        Ok(other) => password_verdict(other),
        Err(why) => unreachable(passwd_file, &user, why),
    }
}

/// `chauthtok` (`PAM_UPDATE_AUTHTOK`): changes the ward password.
pub fn change_password(
    args: &Args,
    items: &Items,
    old: &str,
    new: &str,
    passwd_file: &Path,
) -> PasswordVerdict {
    let (user, service, rhost) = match password_items(items) {
        Ok(v) => v,
        Err(why) => return PasswordVerdict::Refused(why),
    };
    if let Err(why) = check_password("the current password", old)
        .and_then(|()| check_password("the new password", new))
    {
        return PasswordVerdict::Refused(why);
    }
    let req = Request::ChangePassword(ChangePasswordRequest {
        user: user.clone(),
        old_password: Secret(old.to_owned()),
        new_password: Secret(new.to_owned()),
        service,
        rhost,
    });
    match ask(args, req) {
        Ok(answer) => password_verdict(answer),
        Err(why) => unreachable(passwd_file, &user, why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(service: &str, user: &str) -> Items {
        Items {
            service: Some(service.into()),
            user: Some(user.into()),
            ..Items::default()
        }
    }

    #[test]
    fn login_and_sudo_requests() {
        let mut i = items("sshd", "alice");
        i.rhost = Some("10.1.2.3".into());
        let r = account_request(&i, false).unwrap();
        assert_eq!(
            (r.action.as_str(), r.user.as_str(), r.principal.as_str()),
            ("host:Login", "alice", "alice")
        );
        assert_eq!(r.source_ip.as_deref(), Some("10.1.2.3"));
        assert_eq!(r.auth_method, "unknown");

        // sudo's account stage: PAM_USER and PAM_RUSER are the invoking
        // user; no target yet (no host:Principal).
        let mut s = items("sudo", "alice");
        assert!(is_sudo(&Args::default(), &s));
        let r = account_request(&s, true).unwrap();
        assert_eq!(
            (r.action.as_str(), r.user.as_str(), r.principal.as_str()),
            ("host:Sudo", "alice", "")
        );
        // rootpw: PAM_USER is root, the invoker is PAM_RUSER.
        s.user = Some("root".into());
        s.ruser = Some("alice".into());
        s.rhost = Some("evil.example".into());
        let r = account_request(&s, true).unwrap();
        assert_eq!((r.user.as_str(), r.principal.as_str()), ("alice", ""));
        // A host name is not an address: no ward:SourceIp.
        assert_eq!(r.source_ip, None);
        // The session: PAM_USER is the target, PAM_RUSER the invoker.
        let r = sudo_session_request(&s).unwrap();
        assert_eq!(
            (r.action.as_str(), r.user.as_str(), r.principal.as_str()),
            ("host:Sudo", "alice", "root")
        );
        s.ruser = None;
        assert!(sudo_session_request(&s).unwrap_err().contains("PAM_RUSER"));
        s.ruser = Some("al\nice".into());
        assert!(sudo_session_request(&s).is_err());
        // Which stacks are sudo's.
        assert!(is_sudo(&Args::default(), &items("sudo-i", "alice")));
        assert!(!is_sudo(
            &Args::default(),
            &items("ward-test-sudo", "alice")
        ));
        let sudo_arg = Args {
            sudo: true,
            ..Args::default()
        };
        assert!(is_sudo(&sudo_arg, &items("ward-test-sudo", "alice")));
    }

    #[test]
    fn hostile_items_are_refused() {
        for (svc, user) in [
            ("sshd", ""),
            ("sshd", "al\nice"),
            ("sshd", "al\u{7f}ice"),
            ("ss\0hd", "alice"),
        ] {
            assert!(
                account_request(&items(svc, user), false).is_err(),
                "{svc:?} {user:?}"
            );
        }
        let long = "a".repeat(MAX_ITEM + 1);
        assert!(account_request(&items("sshd", &long), false).is_err());
        assert!(account_request(&Items::default(), false).is_err());
        let mut i = items("sshd", "alice");
        i.rhost = Some(format!("{}1.2.3.4", "\u{202e}"));
        assert_eq!(account_request(&i, false).unwrap().source_ip, None);
    }

    #[test]
    fn answers_map_to_verdicts() {
        let d = |outcome, reason: Option<&str>| Response::Decision {
            outcome,
            user: None,
            reason: reason.map(str::to_owned),
        };
        assert_eq!(verdict(d(Outcome::Allowed, None)), Verdict::Allow);
        assert_eq!(verdict(d(Outcome::UnknownUser, None)), Verdict::Unknown);
        assert_eq!(
            verdict(d(Outcome::Denied, Some("no statement allows host:Login"))),
            Verdict::Deny("no statement allows host:Login".into())
        );
        assert!(matches!(
            verdict(ward_protocol::agent::error(
                "forbidden",
                "decisions are for root"
            )),
            Verdict::Unavailable(_)
        ));
        assert!(matches!(
            verdict(Response::Lines {
                lines: vec![],
                reason: None
            }),
            Verdict::Unavailable(_)
        ));
    }

    #[test]
    fn local_users_are_found_by_exact_name() {
        let dir = std::env::temp_dir().join(format!("pam-ward-passwd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("passwd");
        std::fs::write(
            &p,
            "root:x:0:0:root:/root:/bin/bash\nbob:x:1000:1000::/home/bob:/bin/sh\n",
        )
        .unwrap();
        assert!(is_local_user(&p, "bob"));
        assert!(is_local_user(&p, "root"));
        assert!(!is_local_user(&p, "bo"));
        assert!(!is_local_user(&p, "alice"));
        assert!(!is_local_user(&dir.join("missing"), "bob"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_absent_agent_fails_closed_for_ward_users_only() {
        let dir = std::env::temp_dir().join(format!("pam-ward-noagent-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("passwd");
        std::fs::write(&p, "bob:x:1000:1000::/home/bob:/bin/sh\n").unwrap();
        let args = Args {
            socket: dir.join("absent.sock"),
            ..Args::default()
        };
        assert!(matches!(
            account(&args, &items("login", "alice"), &p),
            Verdict::Unavailable(_)
        ));
        assert_eq!(account(&args, &items("login", "bob"), &p), Verdict::Unknown);
        // Sessions: not recorded → refused, except for local accounts.
        assert!(session(&args, &items("login", "alice"), true, &p).is_err());
        assert_eq!(session(&args, &items("login", "bob"), true, &p), Ok(()));
        assert_eq!(session(&args, &items("login", "bob"), false, &p), Ok(()));
        // A hostile item is refused before anything is asked.
        let mut bad = items("login", "bob");
        bad.rhost = Some("evil\nhost".into());
        assert!(session(&args, &bad, true, &p).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn password_answers_map_to_verdicts() {
        let a = |outcome, reason: Option<&str>| {
            Response::Password(PasswordAnswer {
                outcome,
                offline: false,
                reason: reason.map(str::to_owned),
            })
        };
        use PasswordOutcome as O;
        use PasswordVerdict as V;
        assert_eq!(password_verdict(a(O::Ok, None)), V::Ok);
        assert_eq!(
            password_verdict(a(O::ResetRequired, Some("change it"))),
            V::ResetRequired(Some("change it".into()))
        );
        assert_eq!(password_verdict(a(O::Wrong, None)), V::Wrong(None));
        assert_eq!(password_verdict(a(O::UnknownUser, None)), V::Unknown);
        assert_eq!(password_verdict(a(O::Disabled, None)), V::Disabled(None));
        assert_eq!(password_verdict(a(O::Throttled, None)), V::Throttled(None));
        assert_eq!(
            password_verdict(a(O::PolicyViolation, Some("too short: at least 12"))),
            V::Policy(Some("too short: at least 12".into()))
        );
        assert!(matches!(
            password_verdict(a(O::Unavailable, None)),
            V::Unavailable(_)
        ));
        assert!(matches!(
            password_verdict(ward_protocol::agent::error("forbidden", "x")),
            V::Unavailable(_)
        ));
        assert!(matches!(
            password_verdict(Response::Status(Default::default())),
            V::Unavailable(_)
        ));
    }

    #[test]
    fn passwords_and_items_are_checked_before_sending() {
        assert!(check_password("p", "").is_err());
        assert!(check_password("p", &"x".repeat(MAX_PASSWORD_BYTES)).is_ok());
        assert!(check_password("p", &"x".repeat(MAX_PASSWORD_BYTES + 1)).is_err());
        let mut i = items("sshd", "alice");
        assert_eq!(
            password_items(&i).unwrap(),
            ("alice".into(), "sshd".into(), None)
        );
        i.rhost = Some("host.example".into());
        assert_eq!(
            password_items(&i).unwrap().2.as_deref(),
            Some("host.example")
        );
        i.rhost = Some("a\nb".into());
        assert!(password_items(&i).is_err());
        // Refused without asking: the socket does not even exist.
        let args = Args {
            socket: "/nonexistent/agent.sock".into(),
            ..Args::default()
        };
        assert!(matches!(
            verify_password(&args, &i, "pw", Path::new("/nonexistent")),
            PasswordVerdict::Refused(_)
        ));
        assert!(matches!(
            verify_password(
                &args,
                &items("sshd", "alice"),
                "",
                Path::new("/nonexistent")
            ),
            PasswordVerdict::Refused(_)
        ));
        assert!(matches!(
            verify_password(
                &args,
                &items("sshd", "alice"),
                "pw",
                Path::new("/nonexistent")
            ),
            PasswordVerdict::Unavailable(_)
        ));
    }
}
