//! The agent socket (`/run/ward/agent.sock`): what libnss_ward, pam_ward
//! and the sshd helper commands ask ward-agent, and its answers.
//!
//! A message is a frame: a 4-byte big-endian length, then that many bytes
//! of JSON. A request is `{"v":1,"op":"…",…}`; the agent answers every
//! request with one [`Response`] frame and may serve several requests on
//! one connection. Limits: a request frame is at most [`MAX_REQUEST`]
//! bytes, a response frame at most [`MAX_RESPONSE`]; a longer length
//! prefix is refused before anything is read. An unknown `v` gets
//! [`Response::Error`] with code `version`.
//!
//! Who may ask what (the agent checks the peer with `SO_PEERCRED`):
//! lookups (`passwd_*`, `group_*`, `initgroups`) for anyone; decisions
//! (`authorize`, `ssh_principals`, `ssh_keys`), password and MFA checks
//! (`verify_password`, `change_password`, `verify_mfa`) and session events
//! (`session`)
//! only for uid 0 or a uid the
//! agent's configuration names; `status` for anyone.
//!
//! This module reads and writes frames on any `std::io::Read`/`Write`; it
//! opens nothing itself, so the PAM and NSS modules keep control of their
//! sockets and timeouts.

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

pub use crate::host::Secret;

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u16 = 1;

/// Default socket path.
pub const DEFAULT_SOCKET: &str = "/run/ward/agent.sock";

/// Largest request frame body.
pub const MAX_REQUEST: usize = 16 * 1024;

/// Largest response frame body.
pub const MAX_RESPONSE: usize = 1024 * 1024;

/// Entries per page of `passwd_list` / `group_list`.
pub const LIST_PAGE: usize = 256;

/// A request with its version.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Envelope {
    /// [`PROTOCOL_VERSION`].
    pub v: u16,
    /// The request.
    #[serde(flatten)]
    pub request: Request,
}

impl Envelope {
    /// Wraps `request` in the current version.
    pub fn new(request: Request) -> Envelope {
        Envelope {
            v: PROTOCOL_VERSION,
            request,
        }
    }
}

/// What a client asks.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// `getpwnam`.
    PasswdByName {
        /// Account name.
        name: String,
    },
    /// `getpwuid`.
    PasswdByUid {
        /// uid.
        uid: u32,
    },
    /// `getpwent`: entries from `offset`, at most [`LIST_PAGE`].
    PasswdList {
        /// Index of the first entry.
        offset: u32,
    },
    /// `getgrnam`.
    GroupByName {
        /// Group name.
        name: String,
    },
    /// `getgrgid`.
    GroupByGid {
        /// gid.
        gid: u32,
    },
    /// `getgrent`: entries from `offset`, at most [`LIST_PAGE`].
    GroupList {
        /// Index of the first entry.
        offset: u32,
    },
    /// `initgroups_dyn`: supplementary gids of a user.
    Initgroups {
        /// Account name.
        user: String,
    },
    /// Decide `host:Login` / `host:Sudo` for a ward user (PAM account).
    Authorize(AuthorizeRequest),
    /// PAM `authenticate` after an `authorize` answered
    /// [`Outcome::MfaRequired`]: check the user's MFA code with ward-ca
    /// and decide again with the time it was checked.
    VerifyMfa(VerifyMfaRequest),
    /// sshd's `AuthorizedPrincipalsCommand %u %i %s %k`.
    SshPrincipals(SshPrincipalsRequest),
    /// sshd's `AuthorizedKeysCommand %u %f`.
    SshKeys(SshKeysRequest),
    /// PAM `authenticate`: check a ward password (online through ward-ca,
    /// offline against the agent's own verifier).
    VerifyPassword(VerifyPasswordRequest),
    /// PAM `chauthtok`: change a ward password (online only).
    ChangePassword(ChangePasswordRequest),
    /// PAM `open_session` / `close_session`: record it in the audit log.
    Session(SessionRequest),
    /// Agent health.
    Status,
}

/// A password check for PAM `authenticate`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerifyPasswordRequest {
    /// PAM_USER.
    pub user: String,
    /// The password (at most [`crate::host::MAX_PASSWORD_BYTES`]).
    pub password: Secret,
    /// PAM_SERVICE.
    pub service: String,
    /// PAM_RHOST, when set.
    pub rhost: Option<String>,
}

/// A password change for PAM `chauthtok`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangePasswordRequest {
    /// PAM_USER.
    pub user: String,
    /// The current password (PAM_OLDAUTHTOK).
    pub old_password: Secret,
    /// The new password (PAM_AUTHTOK).
    pub new_password: Secret,
    /// PAM_SERVICE.
    pub service: String,
    /// PAM_RHOST, when set.
    pub rhost: Option<String>,
}

/// A PAM session opening or closing, for the audit log.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SessionRequest {
    /// True for `open_session`, false for `close_session`.
    pub open: bool,
    /// PAM_USER (the account the session runs as).
    pub user: String,
    /// PAM_SERVICE.
    pub service: String,
    /// PAM_RHOST, when set.
    pub rhost: Option<String>,
}

/// The outcome of a password request, as PAM maps it.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PasswordOutcome {
    /// Right password (or changed). PAM_SUCCESS.
    Ok,
    /// Right password that must be changed first: `authenticate` succeeds,
    /// `acct_mgmt` returns PAM_NEW_AUTHTOK_REQD so the application runs
    /// `chauthtok`.
    ResetRequired,
    /// Wrong password, or no password set. PAM_AUTH_ERR.
    Wrong,
    /// Not a ward user. PAM_USER_UNKNOWN (local accounts go on to pam_unix).
    UnknownUser,
    /// The user is disabled. PAM_AUTH_ERR (the reason says so).
    Disabled,
    /// Too many failures (online or the agent's offline throttle).
    /// PAM_MAXTRIES.
    Throttled,
    /// A change refused by the password policy; `reason` is ward's message,
    /// shown verbatim. PAM_AUTHTOK_ERR.
    PolicyViolation,
    /// Cannot be decided now: ward-ca unreachable and no usable offline
    /// verifier (never logged in online here, expired, or a change).
    /// PAM_AUTHINFO_UNAVAIL.
    Unavailable,
}

/// The agent's answer to a password request.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PasswordAnswer {
    /// Outcome.
    pub outcome: PasswordOutcome,
    /// True when decided offline from the agent's verifier.
    pub offline: bool,
    /// Text for the user (`PAM_ERROR_MSG`), if any.
    pub reason: Option<String>,
}

/// A PAM-side decision.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthorizeRequest {
    /// `host:Login` or `host:Sudo`.
    pub action: String,
    /// The ward user asking (PAM_USER for login; the invoking user for sudo).
    pub user: String,
    /// `host:Principal`: the local account (for sudo, the target user).
    pub principal: String,
    /// `host:Service`: the PAM service.
    pub service: String,
    /// `ward:SourceIp`, when known.
    pub source_ip: Option<String>,
    /// `ward:AuthMethod`.
    pub auth_method: String,
    /// A ticket from an earlier [`Request::VerifyMfa`] of this login (PAM
    /// `authenticate` keeps it for `acct_mgmt`): the decision then has
    /// `ward:MultiFactorAuthPresent` and the age since that check. An
    /// unknown or expired ticket is no MFA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_ticket: Option<String>,
}

/// An MFA code for the decision `request` (which answered
/// [`Outcome::MfaRequired`]).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerifyMfaRequest {
    /// The decision asked for (as for `authorize`).
    pub request: AuthorizeRequest,
    /// The six-digit code the user typed (never shown by `Debug`).
    pub code: Secret,
    /// PAM_RHOST, when set (ward-ca's throttle scope; may be a name).
    #[serde(default)]
    pub rhost: Option<String>,
}

/// The outcome of an MFA check.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MfaOutcome {
    /// The code was right and the decision with it is an allow: the
    /// answer carries a ticket. PAM_SUCCESS.
    Ok,
    /// Allowed without MFA: nothing was checked. PAM_SUCCESS.
    NotNeeded,
    /// Wrong, expired or already used code, or no MFA device.
    /// PAM_AUTH_ERR.
    Wrong,
    /// Too many wrong codes. PAM_MAXTRIES.
    Throttled,
    /// Denied, with MFA or without (the reason says why). PAM_AUTH_ERR.
    Denied,
    /// Not a ward user. PAM_USER_UNKNOWN.
    UnknownUser,
    /// ward-ca cannot check codes now (MFA needs it online).
    /// PAM_AUTHINFO_UNAVAIL.
    Unavailable,
}

/// The agent's answer to `verify_mfa`.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MfaAnswer {
    /// Outcome.
    pub outcome: MfaOutcome,
    /// For [`MfaOutcome::Ok`]: the ticket to send as
    /// [`AuthorizeRequest::mfa_ticket`] later in this login (valid a few
    /// minutes, for this user only).
    pub ticket: Option<String>,
    /// Text for the user, if any.
    pub reason: Option<String>,
}

impl std::fmt::Debug for MfaAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaAnswer")
            .field("outcome", &self.outcome)
            .field("ticket", &self.ticket.as_ref().map(|_| "<redacted>"))
            .field("reason", &self.reason)
            .finish()
    }
}

/// The tokens sshd substitutes for `AuthorizedPrincipalsCommand`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SshPrincipalsRequest {
    /// `%u`: the local account being logged into.
    pub account: String,
    /// `%i`: the certificate's key id (a ward user id, `AIDA…`).
    pub key_id: String,
    /// `%s`: the certificate's serial.
    pub serial: u64,
    /// `%k`: the base64 certificate (checked against the CA keys).
    pub certificate: String,
    /// The client address from `SSH_CONNECTION`, when sshd passed it.
    pub source_ip: Option<String>,
}

/// The tokens sshd substitutes for `AuthorizedKeysCommand`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SshKeysRequest {
    /// `%u`: the local account being logged into.
    pub account: String,
    /// `%f`: the offered key's fingerprint (`SHA256:…`).
    pub fingerprint: String,
    /// The client address from `SSH_CONNECTION`, when sshd passed it.
    pub source_ip: Option<String>,
}

/// A `struct passwd`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Passwd {
    /// Name.
    pub name: String,
    /// uid.
    pub uid: u32,
    /// Primary gid.
    pub gid: u32,
    /// GECOS.
    pub gecos: String,
    /// Home directory.
    pub home: String,
    /// Shell.
    pub shell: String,
}

/// A `struct group`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// Name.
    pub name: String,
    /// gid.
    pub gid: u32,
    /// Member account names.
    pub members: Vec<String>,
}

/// The outcome of a decision.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Allowed by current policy.
    Allowed,
    /// Denied (the reason says why).
    Denied,
    /// Not a ward user (PAM: `PAM_USER_UNKNOWN`, so local accounts work).
    UnknownUser,
    /// Denied now, but allowed with a fresh MFA code: the policy needs
    /// `ward:MultiFactorAuthPresent` (and a recent
    /// `ward:MultiFactorAuthAge`). Anything that cannot ask for a code
    /// treats it as a denial.
    MfaRequired,
}

/// The agent's answer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Response {
    /// One passwd entry, or none.
    Passwd {
        /// The entry.
        entry: Option<Passwd>,
    },
    /// A page of passwd entries; `next` is the next offset, if any.
    PasswdList {
        /// Entries.
        entries: Vec<Passwd>,
        /// Offset of the next page.
        next: Option<u32>,
    },
    /// One group, or none.
    Group {
        /// The entry.
        entry: Option<Group>,
    },
    /// A page of groups.
    GroupList {
        /// Entries.
        entries: Vec<Group>,
        /// Offset of the next page.
        next: Option<u32>,
    },
    /// Supplementary gids (`None`: not a ward user).
    Initgroups {
        /// gids.
        gids: Option<Vec<u32>>,
    },
    /// A decision.
    Decision {
        /// Outcome.
        outcome: Outcome,
        /// The ward user decided for, if any.
        user: Option<String>,
        /// Why it was denied.
        reason: Option<String>,
    },
    /// Lines for sshd to read (principals or authorized_keys lines); empty
    /// when denied.
    Lines {
        /// Lines.
        lines: Vec<String>,
        /// Why nothing was printed, if it was denied.
        reason: Option<String>,
    },
    /// The answer to `verify_password` / `change_password`.
    Password(PasswordAnswer),
    /// The answer to `verify_mfa`.
    Mfa(MfaAnswer),
    /// The answer to `session`: whether an audit event was spooled (not
    /// for users ward does not know).
    Recorded {
        /// True if an event was spooled.
        recorded: bool,
    },
    /// Agent health.
    Status(Status),
    /// The request could not be served.
    Error {
        /// `version`, `malformed`, `too_large`, `forbidden`, `unavailable`.
        code: String,
        /// Human-readable message.
        message: String,
    },
}

/// `ward-agent status` and the `status` request.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// The host's ward name.
    pub host: String,
    /// True if the last sync reached ward-ca.
    pub online: bool,
    /// Snapshot generation held.
    pub generation: u64,
    /// Seconds since the snapshot was received (`None`: no snapshot).
    pub cache_age_seconds: Option<u64>,
    /// True if the snapshot is older than the staleness bound (decisions
    /// then deny).
    pub stale: bool,
    /// Last sync error, if any.
    pub last_error: Option<String>,
    /// Audit events waiting for delivery.
    pub audit_backlog: u64,
}

/// Why a frame could not be read or written.
#[derive(Debug)]
pub enum FrameError {
    /// The peer closed the connection before a frame began.
    Closed,
    /// The length prefix exceeds the limit.
    TooLarge(usize),
    /// The socket failed (including timeouts).
    Io(std::io::Error),
    /// The body is not the expected JSON.
    Malformed(String),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Closed => write!(f, "connection closed"),
            FrameError::TooLarge(n) => write!(f, "frame of {n} bytes is too large"),
            FrameError::Io(e) => write!(f, "socket error: {e}"),
            FrameError::Malformed(m) => write!(f, "malformed frame: {m}"),
        }
    }
}

impl std::error::Error for FrameError {}

/// A frame's bytes, wiped (zeroized over its whole allocation) when
/// dropped: a frame may carry a password (`verify_password`,
/// `change_password`), and freed memory is not cleared by the allocator.
pub type FrameBuf = zeroize::Zeroizing<Vec<u8>>;

/// Reads one frame body of at most `max` bytes (into a [`FrameBuf`] of
/// exactly that size, so no unwiped copy is left behind by a reallocation).
pub fn read_frame(r: &mut impl Read, max: usize) -> Result<FrameBuf, FrameError> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Err(FrameError::Closed),
            Ok(0) => {
                return Err(FrameError::Io(std::io::ErrorKind::UnexpectedEof.into()));
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(FrameError::Io(e)),
        }
    }
    let n = u32::from_be_bytes(len) as usize;
    if n > max {
        return Err(FrameError::TooLarge(n));
    }
    let mut body = FrameBuf::new(vec![0u8; n]);
    r.read_exact(&mut body).map_err(FrameError::Io)?;
    Ok(body)
}

/// Counts the bytes a value serialises to (nothing is kept).
struct Count(usize);

impl Write for Count {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Writes `value` as one frame (refusing bodies over `max`), in one
/// `write` of one [`FrameBuf`]: its size is counted first, so the buffer
/// is allocated once (a growing buffer would free unwiped copies).
pub fn write_frame<T: Serialize>(
    w: &mut impl Write,
    value: &T,
    max: usize,
) -> Result<(), FrameError> {
    let mut count = Count(0);
    serde_json::to_writer(&mut count, value).map_err(|e| FrameError::Malformed(e.to_string()))?;
    let n = count.0;
    if n > max {
        return Err(FrameError::TooLarge(n));
    }
    let len = u32::try_from(n).map_err(|_| FrameError::TooLarge(n))?;
    let mut frame = FrameBuf::new(Vec::with_capacity(4 + n));
    frame.extend_from_slice(&len.to_be_bytes());
    serde_json::to_writer(&mut *frame, value).map_err(|e| FrameError::Malformed(e.to_string()))?;
    w.write_all(&frame).map_err(FrameError::Io)?;
    w.flush().map_err(FrameError::Io)
}

/// Parses a request frame body. A wrong version is reported as such even
/// when the rest does not parse (so old clients get a clear answer).
pub fn parse_request(body: &[u8]) -> Result<Request, Response> {
    #[derive(Deserialize)]
    struct VersionOnly {
        v: Option<u16>,
    }
    let v = serde_json::from_slice::<VersionOnly>(body)
        .ok()
        .and_then(|x| x.v);
    if let Some(v) = v {
        if v != PROTOCOL_VERSION {
            return Err(error(
                "version",
                &format!(
                    "protocol version {v} is not supported (this agent speaks {PROTOCOL_VERSION})"
                ),
            ));
        }
    }
    match serde_json::from_slice::<Envelope>(body) {
        Ok(e) => Ok(e.request),
        Err(e) => Err(error("malformed", &format!("request: {e}"))),
    }
}

/// An error response.
pub fn error(code: &str, message: &str) -> Response {
    Response::Error {
        code: code.to_string(),
        message: message.to_string(),
    }
}

/// One request/response exchange on a connected stream (the client side
/// used by the NSS and PAM modules and the sshd helper commands; the
/// caller sets the stream's timeouts).
pub fn exchange<S: Read + Write>(stream: &mut S, request: Request) -> Result<Response, FrameError> {
    write_frame(stream, &Envelope::new(request), MAX_REQUEST)?;
    parse_response(&read_frame(stream, MAX_RESPONSE)?)
}

/// Parses a response frame body.
pub fn parse_response(body: &[u8]) -> Result<Response, FrameError> {
    serde_json::from_slice(body).map_err(|e| FrameError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn requests_round_trip_through_frames() {
        let req = Envelope::new(Request::SshPrincipals(SshPrincipalsRequest {
            account: "deploy".into(),
            key_id: "AIDAEXAMPLE".into(),
            serial: 42,
            certificate: "AAAA".into(),
            source_ip: Some("127.0.0.1".into()),
        }));
        let mut buf = Vec::new();
        write_frame(&mut buf, &req, MAX_REQUEST).unwrap();
        assert_eq!(&buf[..4], &((buf.len() - 4) as u32).to_be_bytes());
        let body = read_frame(&mut Cursor::new(buf), MAX_REQUEST).unwrap();
        assert_eq!(parse_request(&body).unwrap(), req.request);
    }

    #[test]
    fn oversized_prefix_is_refused_before_reading() {
        let mut frame = (u32::MAX).to_be_bytes().to_vec();
        frame.extend_from_slice(b"{}");
        match read_frame(&mut Cursor::new(frame), MAX_REQUEST) {
            Err(FrameError::TooLarge(n)) => assert_eq!(n, u32::MAX as usize),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn truncated_frames_and_empty_streams_are_errors() {
        assert!(matches!(
            read_frame(&mut Cursor::new(Vec::<u8>::new()), MAX_REQUEST),
            Err(FrameError::Closed)
        ));
        assert!(matches!(
            read_frame(&mut Cursor::new(vec![0u8, 0]), MAX_REQUEST),
            Err(FrameError::Io(_))
        ));
        let mut short = 10u32.to_be_bytes().to_vec();
        short.extend_from_slice(b"{\"v\"");
        assert!(matches!(
            read_frame(&mut Cursor::new(short), MAX_REQUEST),
            Err(FrameError::Io(_))
        ));
    }

    #[test]
    fn bad_bodies_get_typed_errors() {
        let code = |body: &[u8]| match parse_request(body) {
            Err(Response::Error { code, .. }) => code,
            other => panic!("{other:?}"),
        };
        assert_eq!(code(br#"{"v":2,"op":"status"}"#), "version");
        assert_eq!(code(br#"{"v":2,"op":"nonsense","x":[1]}"#), "version");
        assert_eq!(code(br#"{"v":1,"op":"nonsense"}"#), "malformed");
        assert_eq!(code(br#"{"op":"status"}"#), "malformed");
        assert_eq!(code(b"\xff\xfe"), "malformed");
        assert_eq!(
            code(br#"{"v":1,"op":"passwd_by_uid","uid":-1}"#),
            "malformed"
        );
        assert_eq!(
            code(br#"{"v":1,"op":"passwd_by_name","name":"a","extra":1}"#),
            "malformed"
        );
        assert_eq!(
            parse_request(br#"{"v":1,"op":"status"}"#).unwrap(),
            Request::Status
        );
    }
}
