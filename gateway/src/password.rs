//! Passwords at the gateway (issue #13, item 2): SSH keyboard-interactive
//! with one prompt, `Password: ` (not echoed), checked by ward-ca's host
//! password route through ward-agent's own code
//! ([`ward_agent::passwords::Passwords`], the path pam_ward uses), with
//! the SSH client's address as the rhost so that ward-ca throttles per
//! user and source. The gateway keeps no offline verifiers: when ward-ca
//! cannot answer, password logins fail (keys and certificates still work
//! from the synced snapshot).
//!
//! A password that must be changed is refused with a message saying so
//! (shown as keyboard-interactive instructions); the gateway does not
//! change passwords.

use std::net::IpAddr;
use std::sync::Arc;

use ward_agent::passwords::Passwords;
use ward_agent::shared::now;
use ward_protocol::agent::{PasswordOutcome, Response, VerifyPasswordRequest};
use ward_protocol::host::Secret;

/// The prompt.
pub const PROMPT: &str = "Password: ";
/// The PAM-style service name ward-ca records for the gateway's checks.
pub const SERVICE: &str = "ward-gateway";
/// `ward:AuthMethod` of a password login at the gateway.
pub const PASSWORD: &str = "password";
/// What a user whose password must be changed is told.
pub const MUST_CHANGE: &str =
    "ward: your password must be changed first (ward change-password) before you log in through the gateway";

/// Why a password was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The password is right but must be changed first.
    MustChange,
    /// Anything else, with the reason for the audit log (the client only
    /// sees a failed authentication).
    Refused(String),
}

/// Checks `password` for ward user `user` from `source` (blocking work on
/// tokio's blocking pool: ward-ca is called over HTTPS and waits for its
/// Argon2).
pub async fn check(
    passwords: Arc<Passwords>,
    user: &str,
    password: String,
    source: IpAddr,
) -> Result<(), Refusal> {
    let req = VerifyPasswordRequest {
        user: user.to_owned(),
        password: Secret(password),
        service: SERVICE.to_owned(),
        rhost: Some(source.to_string()),
    };
    let answer = tokio::task::spawn_blocking(move || passwords.verify_password(&req, now()))
        .await
        .map_err(|e| Refusal::Refused(format!("the password check failed: {e}")))?;
    match answer {
        Response::Password(a) => match a.outcome {
            PasswordOutcome::Ok => Ok(()),
            PasswordOutcome::ResetRequired => Err(Refusal::MustChange),
            PasswordOutcome::Wrong => Err(Refusal::Refused("wrong password".into())),
            PasswordOutcome::UnknownUser => Err(Refusal::Refused(format!(
                "{user:?} is not a ward user with a password"
            ))),
            other => Err(Refusal::Refused(format!(
                "password {other:?}{}",
                a.reason.map(|r| format!(": {r}")).unwrap_or_default()
            ))),
        },
        Response::Error { message, .. } => Err(Refusal::Refused(message)),
        _ => Err(Refusal::Refused(
            "unexpected answer to a password check".into(),
        )),
    }
}
