//! What hosts and ward-ca say to each other: enrolment with a one-time
//! join token, the snapshot a host decides from, renewal and audit
//! delivery. Every route here except `POST /v1/host/join` authenticates
//! the caller by its X.509 host certificate
//! (`spiffe://TRUST_DOMAIN/host/NAME`) as `arn:ward:host::ACCT:host/NAME`;
//! a host principal may call these routes and nothing else.
//!
//! | method & path | who | body → response |
//! |---|---|---|
//! | `POST /v1/hosts/{name}/join-tokens` | `host:RegisterHost` (admin) | [`CreateJoinToken`] → [`JoinToken`] (token shown once) |
//! | `POST /v1/host/join` (no auth; the token is the credential) | — | [`JoinRequest`] → [`JoinResponse`] |
//! | `POST /v1/host/renew` | host | [`RenewRequest`] → [`JoinResponse`] |
//! | `GET /v1/host/snapshot?wait=N` (`If-None-Match`) | host | → [`Snapshot`] + `ETag`, or 304 |
//! | `POST /v1/host/audit` | host | [`AuditBatch`] → [`AuditAccepted`] |
//! | `POST /v1/host/password/verify` | host | [`VerifyPassword`] → [`PasswordVerdict`] |
//! | `POST /v1/host/password/change` | host | [`ChangeHostPassword`] → [`PasswordVerdict`] |
//! | `POST /v1/host/mfa/verify` | host | [`VerifyMfa`] → [`MfaVerified`] |
//!
//! The agent sends `X-Ward-Agent-Version` on its calls; ward-ca shows it,
//! with the last time the host was seen and the generation it holds, in
//! `ward host list`.
//!
//! The snapshot holds everything the host needs to decide alone with
//! ward-authz: the principal's attachments as policy *text*, so that the
//! host compiles exactly what ward-ca compiles. It never holds a password
//! hash or any secret.

use serde::{Deserialize, Serialize};

use crate::api::Tag;

/// The snapshot format this crate writes and reads; a host refuses others.
pub const SNAPSHOT_VERSION: u32 = 1;

/// Longest long-poll ward-ca honours (`?wait=`), in seconds.
pub const MAX_WAIT_SECONDS: u64 = 60;

/// Header that carries the agent's version.
pub const AGENT_VERSION_HEADER: &str = "x-ward-agent-version";

/// `POST /v1/hosts/{name}/join-tokens`: a one-time token that enrols `name`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateJoinToken {
    /// Lifetime in seconds (default 3600, at most 7 days).
    #[serde(default)]
    pub ttl_seconds: Option<u64>,
    /// Tags the host gets when it joins (merged over a registered host's).
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// The token enrols a ward-gateway (its snapshot carries the host
    /// registry) rather than an ordinary host.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gateway: bool,
}

/// A join token, shown once.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct JoinToken {
    /// Host the token enrols.
    pub host_name: String,
    /// The token (`wjt_…`); ward-ca stores only its hash.
    pub token: String,
    /// Expiry, RFC 3339.
    pub expires_at: String,
}

impl std::fmt::Debug for JoinToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinToken")
            .field("host_name", &self.host_name)
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// `POST /v1/host/join`: the host made its keys itself and sends only
/// public material.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JoinRequest {
    /// The join token.
    pub token: String,
    /// PEM CSR for the host's TLS key; its subject and SANs are ignored
    /// except that a URI SAN, if present, must be this host's SPIFFE id.
    pub csr_pem: String,
    /// The host's SSH host public key (one OpenSSH line).
    pub ssh_host_public_key: String,
}

impl std::fmt::Debug for JoinRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinRequest")
            .field("token", &"<redacted>")
            .field("csr_pem", &self.csr_pem.len())
            .field("ssh_host_public_key", &self.ssh_host_public_key)
            .finish()
    }
}

/// `POST /v1/host/renew`: new certificates for the calling host.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RenewRequest {
    /// PEM CSR for the (possibly new) TLS key.
    pub csr_pem: String,
    /// The SSH host public key to certify again.
    pub ssh_host_public_key: String,
}

/// What a joining or renewing host receives.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct JoinResponse {
    /// The host's name as ward knows it.
    pub host_name: String,
    /// `arn:ward:host::ACCT:host/NAME`.
    pub host_arn: String,
    /// Account id.
    pub account: String,
    /// Trust domain of the SPIFFE ids.
    pub trust_domain: String,
    /// Leaf certificate then issuing CA, PEM (mTLS client certificate).
    pub certificate_pem: String,
    /// Expiry of the X.509 certificate, RFC 3339.
    pub certificate_expires_at: String,
    /// The CA bundle to pin for every later call, PEM.
    pub ca_bundle_pem: String,
    /// SSH host certificate (one OpenSSH line) for sshd's `HostCertificate`.
    pub ssh_host_certificate: String,
    /// SSH user CA public keys (OpenSSH lines) for `TrustedUserCAKeys`.
    pub ssh_user_ca_keys: Vec<String>,
}

/// The state a host decides from (`GET /v1/host/snapshot`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// [`SNAPSHOT_VERSION`].
    pub version: u32,
    /// Changes whenever anything in the snapshot changes; the `ETag` is
    /// `"g<generation>"`.
    pub generation: u64,
    /// Account id.
    pub account: String,
    /// Trust domain.
    pub trust_domain: String,
    /// When ward-ca built it (Unix seconds; hosts measure staleness from
    /// when they received it, not from this).
    pub built_at: i64,
    /// The host asking.
    pub host: SnapshotHost,
    /// Every user (disabled ones included, so hosts deny them).
    pub users: Vec<SnapshotUser>,
    /// Every group.
    pub groups: Vec<SnapshotGroup>,
    /// Every managed policy attached to a user or group here, with the
    /// text of its default version.
    pub policies: Vec<SnapshotPolicy>,
    /// SSH user CA public keys (OpenSSH lines), current first.
    pub ssh_user_ca_keys: Vec<String>,
    /// Serials of revoked SSH user certificates that have not expired.
    pub revoked_ssh_serials: Vec<u64>,
    /// Every role, for role-session certificates (issue #14 item 5; absent
    /// when there are none, so older snapshots read the same).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<SnapshotRole>,
    /// The host registry, for a gateway only (absent for ordinary hosts,
    /// whose snapshot JSON does not change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<Vec<RegisteredHost>>,
    /// Gateway sessions an administrator asked to end in the last 24 h
    /// (`ward session terminate ID`), for a gateway only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_terminations: Option<Vec<GatewayTermination>>,
}

/// The host itself.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotHost {
    /// Name.
    pub name: String,
    /// `arn:ward:host::ACCT:host/NAME`.
    pub arn: String,
    /// Tags (`ward:ResourceTag/K` of `host:Login`).
    pub tags: Vec<Tag>,
}

/// A role as a host sees it: what decides a login with a role session's
/// SSH certificate (key id `AROA…:SESSION:ISSUED`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotRole {
    /// `AROA…`
    pub id: String,
    /// IAM name.
    pub name: String,
    /// IAM path.
    pub path: String,
    /// Principal tags.
    pub tags: Vec<Tag>,
    /// Inline policy documents (exact text), including revoke-sessions'
    /// `AWSRevokeOlderSessions`.
    pub inline_policies: Vec<String>,
    /// ARNs of attached managed policies.
    pub managed_policies: Vec<String>,
    /// ARN of the permissions boundary.
    pub permissions_boundary: Option<String>,
}

/// A user as a host sees it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotUser {
    /// `AIDA…` (the key id of its SSH certificates).
    pub id: String,
    /// IAM name.
    pub name: String,
    /// IAM path.
    pub path: String,
    /// False when disabled: every credential of the user is refused.
    pub enabled: bool,
    /// The POSIX account, absent when the name is not a portable Unix name.
    pub posix: Option<Posix>,
    /// Principal tags.
    pub tags: Vec<Tag>,
    /// Names of the groups the user is in.
    pub groups: Vec<String>,
    /// Inline policy documents (exact text).
    pub inline_policies: Vec<String>,
    /// ARNs of attached managed policies.
    pub managed_policies: Vec<String>,
    /// ARN of the permissions boundary.
    pub permissions_boundary: Option<String>,
    /// Registered SSH public keys.
    pub ssh_keys: Vec<SnapshotSshKey>,
    /// Whether a password is set and whether it must be changed.
    pub login_profile: Option<SnapshotLoginProfile>,
}

/// A user's POSIX account.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Posix {
    /// uid (never reused).
    pub uid: u32,
    /// Primary gid: the user-private group (gid = uid).
    pub gid: u32,
    /// Home directory.
    pub home: String,
    /// Login shell.
    pub shell: String,
    /// GECOS field.
    pub gecos: String,
}

/// A registered SSH key.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotSshKey {
    /// `APKA…` id.
    pub id: String,
    /// One OpenSSH public key line.
    pub public_key: String,
    /// `Active` or `Inactive`.
    pub status: String,
}

/// Password state, never the hash.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotLoginProfile {
    /// Must be changed at the next login.
    pub reset_required: bool,
    /// Changes whenever the password or the reset flag changes (a host
    /// drops its offline verifier for the user when this moves).
    #[serde(default)]
    pub version: u64,
}

/// A group as a host sees it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotGroup {
    /// `AGPA…` id.
    pub id: String,
    /// IAM name.
    pub name: String,
    /// IAM path.
    pub path: String,
    /// gid, absent when the name is not a portable Unix name.
    pub gid: Option<u32>,
    /// Inline policy documents (exact text).
    pub inline_policies: Vec<String>,
    /// ARNs of attached managed policies.
    pub managed_policies: Vec<String>,
}

/// A managed policy's default version.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotPolicy {
    /// ARN.
    pub arn: String,
    /// Document text.
    pub document: String,
}

// --- Gateway: the host registry in a gateway's snapshot (issue #13) ---

/// Kind of an enrolled host as `host_identity` records it.
pub const KIND_HOST: &str = "host";
/// Kind of an enrolled ward-gateway.
pub const KIND_GATEWAY: &str = "gateway";

/// `POST /v1/host/gateway/session-certificate` (issue #13, terminating
/// mode): a ward-gateway asks for a one-session SSH user certificate for
/// a user it has just authenticated, to log into `target` as `account`.
/// Only a caller enrolled as a gateway may ask; ward-ca decides
/// `host:Login` itself from current policy and refuses unknown and
/// disabled users.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GatewaySessionCertificateRequest {
    /// The ward user's id (`AIDA…`).
    pub user_id: String,
    /// The registered target host's name.
    pub target: String,
    /// The account on the target (`host:Principal`).
    pub account: String,
    /// The gateway's ephemeral public key (OpenSSH line).
    pub public_key: String,
    /// The client's address as the gateway sees it (`ward:SourceIp`).
    pub source_ip: String,
    /// How the user authenticated at the gateway (`ward:AuthMethod`).
    pub auth_method: String,
    /// When ward-ca checked the user's MFA code for this connection
    /// (`POST /v1/host/mfa/verify`'s answer), if the gateway asked for
    /// one: ward-ca decides with it (`ward:MultiFactorAuthPresent`,
    /// `ward:MultiFactorAuthAge`) once it has checked that the user's
    /// device accepted a code at that time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_authenticated_at: Option<i64>,
}

/// The answer to [`GatewaySessionCertificateRequest`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GatewaySessionCertificate {
    /// The certificate (OpenSSH line).
    pub certificate: String,
    /// Its serial (decimal).
    pub serial: String,
    /// Its principals.
    pub principals: Vec<String>,
    /// `source-address`: where it may be used from (the gateway).
    pub source_address: String,
    /// Unix seconds.
    pub valid_before: i64,
    /// ward's SSH host CA keys (OpenSSH lines): the target's host
    /// certificate must be signed by one of them.
    pub host_ca_keys: Vec<String>,
    /// Keys of revoked, unexpired host certificates (OpenSSH lines): a
    /// target presenting one is refused.
    pub revoked_host_keys: Vec<String>,
}

/// Longest lifetime of a gateway's one-session certificate, in seconds.
pub const GATEWAY_SESSION_TTL: i64 = 300;
/// The audit action of a gateway's one-session certificate.
pub const EVENT_GATEWAY_SESSION_CERTIFICATE: &str = "host:GatewaySessionCertificate";
/// Audit action of a recorded (terminating) channel's start at a gateway;
/// the session it belongs to has its own `ward-gateway:SessionStart`.
pub const EVENT_GATEWAY_RECORDING_START: &str = "ward-gateway:RecordingStart";
/// Audit action of a recorded (terminating) channel's end at a gateway:
/// the recording's index entry (who, target, account, start and end, bytes
/// each way, the recording id).
pub const EVENT_GATEWAY_RECORDING_END: &str = "ward-gateway:RecordingEnd";
/// Audit action of a gateway session's start (any mode).
pub const EVENT_GATEWAY_SESSION_START: &str = "ward-gateway:SessionStart";
/// Audit action of a gateway session's end, with the reason and bytes.
pub const EVENT_GATEWAY_SESSION_END: &str = "ward-gateway:SessionEnd";

/// Audit action of a gateway's upload of a finished session recording
/// (`PUT /v1/host/recordings/{id}`, issue #15).
pub const EVENT_RECORDING_UPLOAD: &str = "host:UploadRecording";
/// The media type of a session recording (asciicast v2), uploaded and
/// served as is.
pub const RECORDING_MEDIA_TYPE: &str = "application/x-asciicast";
/// Largest recording ward-ca accepts (bytes): ward-gateway's default
/// `recording_max_bytes` (64 MiB) plus room for the size-cap marker line.
/// A larger upload is refused with 413 and stays on the gateway.
pub const MAX_RECORDING_BYTES: u64 = 64 * 1024 * 1024 + 64 * 1024;
/// Length of a recording id: `gws-` and 32 lowercase hex digits (the
/// gateway's terminating-session id, also the cast's file name).
pub const RECORDING_ID_LEN: usize = 4 + 32;

/// True if `id` is a recording id (`gws-` and 32 lowercase hex digits).
pub fn recording_id_ok(id: &str) -> bool {
    id.len() == RECORDING_ID_LEN
        && id.starts_with("gws-")
        && id[4..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// ward-ca's answer to a recording upload (200 for bytes it already held
/// under that id, 201 for new ones).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RecordingUploaded {
    /// The recording id.
    pub id: String,
    /// Bytes stored.
    pub size: u64,
    /// SHA-256 of the bytes (hex).
    pub sha256: String,
    /// False when the same bytes were already stored under this id.
    pub created: bool,
}

/// A gateway session an administrator asked to end.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GatewayTermination {
    /// The session id (`gs-` and 16 hex digits).
    pub id: String,
    /// Who asked (the caller's ARN).
    pub requested_by: String,
    /// When (Unix seconds).
    pub at: i64,
}

/// A registered host as a gateway sees it: the names a client may ask
/// for, and where the gateway connects.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RegisteredHost {
    /// Name (the resource: `arn:ward:host::ACCT:host/NAME`).
    pub name: String,
    /// Other names clients may use for it.
    pub aliases: Vec<String>,
    /// Where to connect: a DNS name or an IP address, as an administrator
    /// set it; absent: not reachable through a gateway.
    pub address: Option<String>,
    /// The TCP port at `address` (22 unless set).
    pub port: u16,
    /// Tags (`ward:ResourceTag/K` of `host:Connect`).
    pub tags: Vec<Tag>,
}

/// `POST /v1/host/audit`: login decisions from a host, in order. Each
/// event has an id the host chose; ward-ca records an id once, so a batch
/// re-sent after a lost reply is not recorded twice.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuditBatch {
    /// At most 500 events.
    pub events: Vec<HostEvent>,
}

/// One decision made on a host.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HostEvent {
    /// Unique per host (1–64 of `[A-Za-z0-9_-]`).
    pub id: String,
    /// When it happened on the host (Unix seconds).
    pub time: i64,
    /// The action decided (`host:Login`, `host:Sudo`, …).
    pub action: String,
    /// The ward user (name), if known.
    pub user: Option<String>,
    /// The local account asked for (`host:Principal`).
    pub principal: Option<String>,
    /// `host:Service` (`sshd`, `sudo`, …).
    pub service: Option<String>,
    /// `ward:SourceIp`, if known.
    pub source_ip: Option<String>,
    /// `ward:AuthMethod`.
    pub auth_method: Option<String>,
    /// The outcome.
    pub allowed: bool,
    /// Why it was denied (ward's explanation), if it was.
    pub reason: Option<String>,
    /// The host reached through a gateway (`host:Connect`, gateway
    /// sessions), if any. Optional on the wire: absent when none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// Audit action of a password check a host made itself (offline, from
/// its verifier); ward-ca records its own online checks under the same
/// name.
pub const EVENT_VERIFY_PASSWORD: &str = "host:VerifyPassword";
/// Audit action of a PAM session opened for a ward user.
pub const EVENT_OPEN_SESSION: &str = "pam_ward:OpenSession";
/// Audit action of a PAM session closed for a ward user.
pub const EVENT_CLOSE_SESSION: &str = "pam_ward:CloseSession";

/// How many events of a batch were new.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AuditAccepted {
    /// Recorded now.
    pub recorded: u32,
    /// Already recorded earlier (same id).
    pub duplicates: u32,
}

/// A password on the wire: serialised as a plain string, never shown by
/// `Debug`, wiped (zeroized) when dropped. Hosts and ward-ca never log it.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl Drop for Secret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Longest password ward accepts anywhere (bytes), as `POST /v1/login`.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// `POST /v1/host/password/verify`: is this the user's ward password?
/// Creates no session. Throttled per user and per user + `rhost` (never
/// per calling host, or one attacker could lock every user out of a
/// host); audited with the host, service and rhost; the hash never
/// leaves ward-ca.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerifyPassword {
    /// IAM user name (= the POSIX name).
    pub user: String,
    /// The password (at most [`MAX_PASSWORD_BYTES`]).
    pub password: Secret,
    /// The PAM service asking (`sshd`, `login`, …).
    pub service: String,
    /// The remote host (PAM_RHOST) when known: an address or a name.
    #[serde(default)]
    pub rhost: Option<String>,
}

/// `POST /v1/host/password/change`: change the user's ward password,
/// proving the current one (PAM `chauthtok`). Same throttle and audit as
/// [`VerifyPassword`]; the password policy applies and its message comes
/// back verbatim in [`PasswordVerdict::message`]. Revokes the user's
/// sessions like every password change.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangeHostPassword {
    /// IAM user name.
    pub user: String,
    /// The current password.
    pub old_password: Secret,
    /// The new password.
    pub new_password: Secret,
    /// The PAM service asking.
    pub service: String,
    /// PAM_RHOST when known.
    #[serde(default)]
    pub rhost: Option<String>,
}

/// The outcome of a password check or change.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PasswordResult {
    /// The password is right (for a change: it was changed).
    Ok,
    /// The password is right but must be changed before use.
    ResetRequired,
    /// Wrong password, no such user or no password set (not told apart).
    Wrong,
    /// The user is disabled.
    Disabled,
    /// Too many failures: try again after `retryAfterSeconds`.
    Throttled,
    /// A change refused by the password policy (`message` says why).
    PolicyViolation,
}

/// ward-ca's answer to both password routes (always 200 for a decided
/// outcome; 4xx only for malformed requests).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PasswordVerdict {
    /// Outcome.
    pub result: PasswordResult,
    /// The user's `AIDA…` id when `result` is `ok` or `reset_required`.
    #[serde(default)]
    pub user_id: Option<String>,
    /// The login profile version the password belongs to (after a change:
    /// the new version), for the host's offline verifier.
    #[serde(default)]
    pub profile_version: Option<u64>,
    /// Seconds to wait when throttled.
    #[serde(default)]
    pub retry_after_seconds: Option<u64>,
    /// Human-readable detail (the policy message for `policy_violation`).
    #[serde(default)]
    pub message: Option<String>,
}

/// Audit action of a second-factor check a host asked for
/// (`POST /v1/host/mfa/verify`).
pub const EVENT_VERIFY_MFA: &str = "host:VerifyMfa";

/// `POST /v1/host/mfa/verify` (issue #14 item 3): is `code` the current
/// code of the MFA device enabled for `userName`? A host (pam_ward through
/// ward-agent, or ward-gateway) asks when a `host:Login` decision needs
/// `ward:MultiFactorAuthPresent`. A code is accepted once; wrong codes are
/// throttled per device and per user + `rhost`; every check is audited.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerifyMfa {
    /// IAM user name.
    pub user_name: String,
    /// The six-digit code (never shown by `Debug`).
    pub code: Secret,
    /// The remote host (PAM_RHOST, or the gateway's client address) when
    /// known: the throttle's second scope and the audit's source.
    #[serde(default)]
    pub rhost: Option<String>,
}

/// The answer to a right code: when it was verified (Unix seconds), the
/// host's `mfa_authenticated_at` for the decision it asked about. Wrong,
/// used or throttled codes are 403 / 429.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MfaVerified {
    /// Unix seconds.
    pub mfa_authenticated_at: i64,
}

// ---- snapshot deltas (issue #11 item 4) -------------------------------------

/// Media type of a [`SnapshotDelta`]. An agent that can apply deltas lists
/// it in `Accept` (with `application/json`); ward-ca then may answer a
/// `GET /v1/host/snapshot` whose `If-None-Match` names a generation it
/// still holds with a delta (this `Content-Type`) instead of the whole
/// snapshot. Agents that do not ask always get full snapshots.
pub const SNAPSHOT_DELTA_MEDIA_TYPE: &str = "application/vnd.ward.snapshot-delta+json";

/// The changes from generation `base` to `generation`. Applied to the
/// snapshot a host holds at `base` ([`SnapshotDelta::apply`]) it gives
/// exactly the snapshot a full fetch at `generation` gives; the host checks
/// that with `digest` and fetches the full snapshot on any mismatch.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SnapshotDelta {
    /// [`SNAPSHOT_VERSION`].
    pub version: u32,
    /// The generation the delta applies to.
    pub base: u64,
    /// The generation it produces.
    pub generation: u64,
    /// `builtAt` of the result.
    pub built_at: i64,
    /// The host section of the result, whole.
    pub host: SnapshotHost,
    /// Users, keyed by id.
    pub users: ListDelta<SnapshotUser>,
    /// Groups, keyed by id.
    pub groups: ListDelta<SnapshotGroup>,
    /// Managed policies, keyed by ARN.
    pub policies: ListDelta<SnapshotPolicy>,
    /// SSH user CA key lines, keyed by the line.
    pub ssh_user_ca_keys: ListDelta<String>,
    /// Revoked serials, keyed by the decimal serial.
    pub revoked_ssh_serials: ListDelta<u64>,
    /// Lower-case hex SHA-256 of [`digest_input`] of the result.
    pub digest: String,
}

/// The edit of one list of a snapshot: remove the entries whose keys are
/// in `removed`, replace in place the entries named by `changed`, then
/// insert `inserted` at their indices in the result (ascending).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListDelta<T> {
    /// Keys of entries to remove (entries that moved are removed here and
    /// inserted again).
    #[serde(default)]
    pub removed: Vec<String>,
    /// Entries replaced in place (same key, new content).
    #[serde(default = "Vec::new")]
    pub changed: Vec<T>,
    /// Entries inserted, with their index in the resulting list.
    #[serde(default = "Vec::new")]
    pub inserted: Vec<Inserted<T>>,
}

impl<T> Default for ListDelta<T> {
    fn default() -> Self {
        ListDelta {
            removed: Vec::new(),
            changed: Vec::new(),
            inserted: Vec::new(),
        }
    }
}

/// An entry inserted at index `at` of the resulting list.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Inserted<T> {
    /// Index in the resulting list.
    pub at: u32,
    /// The entry.
    pub item: T,
}

/// What identifies an entry of a snapshot list across generations.
pub trait DeltaKey {
    /// The key (unique within its list).
    fn delta_key(&self) -> String;
}

impl DeltaKey for SnapshotUser {
    fn delta_key(&self) -> String {
        self.id.clone()
    }
}

impl DeltaKey for SnapshotGroup {
    fn delta_key(&self) -> String {
        self.id.clone()
    }
}

impl DeltaKey for SnapshotPolicy {
    fn delta_key(&self) -> String {
        self.arn.clone()
    }
}

impl DeltaKey for String {
    fn delta_key(&self) -> String {
        self.clone()
    }
}

impl DeltaKey for u64 {
    fn delta_key(&self) -> String {
        self.to_string()
    }
}

/// Why a delta does not apply to the snapshot held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeltaError(pub String);

impl std::fmt::Display for DeltaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DeltaError {}

impl<T: DeltaKey + Clone + PartialEq> ListDelta<T> {
    /// The edit that turns `old` into `new`; `None` if either list has a
    /// key twice (the caller sends the whole snapshot then). Entries keep
    /// their relative order; entries whose order changed (a rename) are
    /// removed and inserted again — the fewest such: those outside a
    /// longest run of entries kept in order.
    pub fn between(old: &[T], new: &[T]) -> Option<ListDelta<T>> {
        use std::collections::{HashMap, HashSet};
        let new_keys: Vec<String> = new.iter().map(DeltaKey::delta_key).collect();
        let mut new_at: HashMap<&str, usize> = HashMap::with_capacity(new.len());
        for (i, k) in new_keys.iter().enumerate() {
            if new_at.insert(k.as_str(), i).is_some() {
                return None;
            }
        }
        let old_keys: Vec<String> = old.iter().map(DeltaKey::delta_key).collect();
        let mut seen: HashSet<&str> = HashSet::with_capacity(old.len());
        let mut removed = Vec::new();
        // (index in old, index in new) of the entries in both, in old order.
        let mut kept: Vec<(usize, usize)> = Vec::new();
        for (i, k) in old_keys.iter().enumerate() {
            if !seen.insert(k.as_str()) {
                return None;
            }
            match new_at.get(k.as_str()) {
                Some(&j) => kept.push((i, j)),
                None => removed.push(k.clone()),
            }
        }
        let stay = longest_increasing(&kept.iter().map(|&(_, j)| j).collect::<Vec<_>>());
        let mut stays_new = vec![false; new.len()];
        let mut changed = Vec::new();
        for (n, &(i, j)) in kept.iter().enumerate() {
            if stay[n] {
                stays_new[j] = true;
                if old[i] != new[j] {
                    changed.push(new[j].clone());
                }
            } else {
                removed.push(old_keys[i].clone());
            }
        }
        let inserted = new
            .iter()
            .enumerate()
            .filter(|(j, _)| !stays_new[*j])
            .map(|(j, item)| Inserted {
                at: u32::try_from(j).unwrap_or(u32::MAX),
                item: item.clone(),
            })
            .collect();
        Some(ListDelta {
            removed,
            changed,
            inserted,
        })
    }

    /// Applies the edit to `base`. Fails if a removed or changed key is not
    /// in `base` (or is there twice), or an insertion index is out of order
    /// or out of range.
    pub fn apply(&self, base: &[T]) -> Result<Vec<T>, DeltaError> {
        use std::collections::{HashMap, HashSet};
        let mut index: HashMap<String, usize> = HashMap::with_capacity(base.len());
        for (i, item) in base.iter().enumerate() {
            if index.insert(item.delta_key(), i).is_some() {
                return Err(DeltaError("the snapshot held has a key twice".into()));
            }
        }
        let mut drop: HashSet<usize> = HashSet::with_capacity(self.removed.len());
        for k in &self.removed {
            let i = index
                .get(k.as_str())
                .ok_or_else(|| DeltaError(format!("removes {k:?}, which is not held")))?;
            if !drop.insert(*i) {
                return Err(DeltaError(format!("removes {k:?} twice")));
            }
        }
        let mut kept: Vec<T> = Vec::with_capacity(base.len() + self.inserted.len());
        let mut kept_at: HashMap<String, usize> = HashMap::new();
        for (i, item) in base.iter().enumerate() {
            if !drop.contains(&i) {
                kept_at.insert(item.delta_key(), kept.len());
                kept.push(item.clone());
            }
        }
        for c in &self.changed {
            let k = c.delta_key();
            let i = kept_at
                .get(k.as_str())
                .ok_or_else(|| DeltaError(format!("changes {k:?}, which is not held")))?;
            kept[*i] = c.clone();
        }
        let total = kept.len() + self.inserted.len();
        let mut out: Vec<T> = Vec::with_capacity(total);
        let mut rest = kept.into_iter();
        for ins in &self.inserted {
            let at = ins.at as usize;
            if at < out.len() || at >= total {
                return Err(DeltaError(format!(
                    "inserts at {at}: out of order or past the end"
                )));
            }
            while out.len() < at {
                match rest.next() {
                    Some(x) => out.push(x),
                    None => {
                        return Err(DeltaError(format!("inserts at {at}: past the end")));
                    }
                }
            }
            out.push(ins.item.clone());
        }
        out.extend(rest);
        Ok(out)
    }

    /// True if nothing changes.
    pub fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.changed.is_empty() && self.inserted.is_empty()
    }
}

/// For each position of `seq`, whether it belongs to one longest strictly
/// increasing subsequence (O(n log n)).
fn longest_increasing(seq: &[usize]) -> Vec<bool> {
    // tails[l] = index in seq of the smallest tail of a run of length l+1.
    let mut tails: Vec<usize> = Vec::new();
    let mut prev: Vec<Option<usize>> = vec![None; seq.len()];
    for (i, &v) in seq.iter().enumerate() {
        let l = tails.partition_point(|&t| seq[t] < v);
        if l > 0 {
            prev[i] = Some(tails[l - 1]);
        }
        if l == tails.len() {
            tails.push(i);
        } else {
            tails[l] = i;
        }
    }
    let mut on = vec![false; seq.len()];
    let mut cur = tails.last().copied();
    while let Some(i) = cur {
        on[i] = true;
        cur = prev[i];
    }
    on
}

impl SnapshotDelta {
    /// The delta from `old` to `new` (the host section and `digest` are
    /// left for the caller); `None` if a list has a duplicate key, the
    /// account or trust domain differ, or either side is a gateway's
    /// snapshot (with a host registry).
    pub fn between(old: &Snapshot, new: &Snapshot) -> Option<SnapshotDelta> {
        // A gateway's snapshot carries the host registry, which deltas do
        // not: gateways always get the whole snapshot.
        if old.account != new.account
            || old.trust_domain != new.trust_domain
            || old.registry.is_some()
            || new.registry.is_some()
            || old.gateway_terminations.is_some()
            || new.gateway_terminations.is_some()
        {
            return None;
        }
        Some(SnapshotDelta {
            version: SNAPSHOT_VERSION,
            base: old.generation,
            generation: new.generation,
            built_at: new.built_at,
            host: new.host.clone(),
            users: ListDelta::between(&old.users, &new.users)?,
            groups: ListDelta::between(&old.groups, &new.groups)?,
            policies: ListDelta::between(&old.policies, &new.policies)?,
            ssh_user_ca_keys: ListDelta::between(&old.ssh_user_ca_keys, &new.ssh_user_ca_keys)?,
            revoked_ssh_serials: ListDelta::between(
                &old.revoked_ssh_serials,
                &new.revoked_ssh_serials,
            )?,
            digest: String::new(),
        })
    }

    /// The snapshot this delta makes of `held` (which must be at `base`).
    /// The caller still checks `digest` against [`digest_input`] of the
    /// result.
    pub fn apply(&self, held: &Snapshot) -> Result<Snapshot, DeltaError> {
        if self.version != SNAPSHOT_VERSION {
            return Err(DeltaError(format!(
                "delta version {} (this side reads {SNAPSHOT_VERSION})",
                self.version
            )));
        }
        if held.registry.is_some() {
            return Err(DeltaError(
                "a snapshot with a host registry (a gateway's) is only replaced whole".into(),
            ));
        }
        if held.generation != self.base {
            return Err(DeltaError(format!(
                "delta is from generation {}, the snapshot held is {}",
                self.base, held.generation
            )));
        }
        Ok(Snapshot {
            version: SNAPSHOT_VERSION,
            generation: self.generation,
            account: held.account.clone(),
            trust_domain: held.trust_domain.clone(),
            built_at: self.built_at,
            host: self.host.clone(),
            users: self.users.apply(&held.users)?,
            groups: self.groups.apply(&held.groups)?,
            policies: self.policies.apply(&held.policies)?,
            ssh_user_ca_keys: self.ssh_user_ca_keys.apply(&held.ssh_user_ca_keys)?,
            revoked_ssh_serials: self.revoked_ssh_serials.apply(&held.revoked_ssh_serials)?,
            // Roles are not diffed: a delta keeps the held ones, and when
            // they changed the digest differs and the agent fetches the
            // whole snapshot.
            roles: held.roles.clone(),
            registry: None,
            gateway_terminations: None,
        })
    }
}

/// The bytes a [`SnapshotDelta::digest`] is the SHA-256 of: the snapshot's
/// JSON (`serde_json`, field order as declared) with the host section
/// empty (`SnapshotHost::default()`) — the host section is sent whole in
/// every delta, and leaving it out lets ward-ca hash each generation once
/// for every host.
pub fn digest_input(s: &Snapshot) -> Result<Vec<u8>, serde_json::Error> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct View<'a> {
        version: u32,
        generation: u64,
        account: &'a str,
        trust_domain: &'a str,
        built_at: i64,
        host: SnapshotHost,
        users: &'a [SnapshotUser],
        groups: &'a [SnapshotGroup],
        policies: &'a [SnapshotPolicy],
        ssh_user_ca_keys: &'a [String],
        revoked_ssh_serials: &'a [u64],
        #[serde(skip_serializing_if = "<[SnapshotRole]>::is_empty")]
        roles: &'a [SnapshotRole],
    }
    serde_json::to_vec(&View {
        version: s.version,
        generation: s.generation,
        account: &s.account,
        trust_domain: &s.trust_domain,
        built_at: s.built_at,
        host: SnapshotHost::default(),
        users: &s.users,
        groups: &s.groups,
        policies: &s.policies,
        ssh_user_ca_keys: &s.ssh_user_ca_keys,
        revoked_ssh_serials: &s.revoked_ssh_serials,
        roles: &s.roles,
    })
}

#[cfg(test)]
mod delta_tests {
    use super::*;

    /// A small deterministic PRNG (splitmix64).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n.max(1)
        }
    }

    fn user(id: u64, name: &str, tag: u64) -> SnapshotUser {
        SnapshotUser {
            id: format!("AIDA{id}"),
            name: name.into(),
            tags: vec![Tag {
                key: "k".into(),
                value: tag.to_string(),
            }],
            ..SnapshotUser::default()
        }
    }

    /// Random edits (adds, removals, content changes, renames that move an
    /// entry) of a list sorted by name: `between` then `apply` gives the
    /// new list exactly, every time.
    #[test]
    fn between_then_apply_is_the_new_list() {
        let mut r = Rng(7);
        for round in 0..400 {
            let n = r.below(30);
            let mut old: Vec<SnapshotUser> = (0..n)
                .map(|i| user(i, &format!("u{:03}", r.below(1000)), 0))
                .collect();
            old.sort_by(|a, b| a.name.cmp(&b.name));
            let mut new = old.clone();
            for _ in 0..r.below(8) {
                match r.below(4) {
                    0 => new.push(user(
                        100 + r.below(1000),
                        &format!("u{:03}", r.below(1000)),
                        1,
                    )),
                    1 if !new.is_empty() => {
                        let i = r.below(new.len() as u64) as usize;
                        new.remove(i);
                    }
                    2 if !new.is_empty() => {
                        let i = r.below(new.len() as u64) as usize;
                        new[i].tags[0].value = r.next().to_string();
                    }
                    3 if !new.is_empty() => {
                        let i = r.below(new.len() as u64) as usize;
                        new[i].name = format!("u{:03}", r.below(1000));
                    }
                    _ => {}
                }
            }
            new.sort_by(|a, b| a.name.cmp(&b.name));
            new.dedup_by(|a, b| a.id == b.id);
            let d = ListDelta::between(&old, &new).unwrap();
            assert_eq!(d.apply(&old).unwrap(), new, "round {round}: {d:?}");
            if old == new {
                assert!(d.is_empty());
            }
        }
    }

    #[test]
    fn deltas_that_do_not_fit_are_refused() {
        let old = vec![user(1, "a", 0), user(2, "b", 0)];
        let mut d = ListDelta::<SnapshotUser>::default();
        d.removed.push("AIDA9".into());
        assert!(d.apply(&old).is_err());
        let mut d = ListDelta::<SnapshotUser>::default();
        d.changed.push(user(9, "z", 0));
        assert!(d.apply(&old).is_err());
        let mut d = ListDelta::<SnapshotUser>::default();
        d.inserted.push(Inserted {
            at: 5,
            item: user(3, "c", 0),
        });
        assert!(d.apply(&old).is_err());
        let mut d = ListDelta::<SnapshotUser>::default();
        for at in [1, 0] {
            d.inserted.push(Inserted {
                at,
                item: user(3 + u64::from(at), "c", 0),
            });
        }
        assert!(d.apply(&old).is_err(), "insertions out of order");
        assert!(ListDelta::between(&[user(1, "a", 0), user(1, "b", 0)], &old).is_none());
        let s = Snapshot {
            generation: 3,
            ..Snapshot::default()
        };
        let delta = SnapshotDelta {
            version: SNAPSHOT_VERSION,
            base: 2,
            ..SnapshotDelta::default()
        };
        assert!(delta.apply(&s).is_err(), "wrong base");
    }

    /// `digest_input` is the snapshot's own JSON with the host section
    /// emptied.
    #[test]
    fn digest_input_is_the_snapshot_json_without_the_host() {
        let mut s = Snapshot {
            version: SNAPSHOT_VERSION,
            generation: 9,
            account: "123456789012".into(),
            users: vec![user(1, "a", 0)],
            revoked_ssh_serials: vec![4, 5],
            ssh_user_ca_keys: vec!["ssh-ed25519 AAAA".into()],
            ..Snapshot::default()
        };
        s.host.name = "web-01".into();
        let mut blank = s.clone();
        blank.host = SnapshotHost::default();
        assert_eq!(
            digest_input(&s).unwrap(),
            serde_json::to_vec(&blank).unwrap()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_stay_out_of_debug() {
        let t = JoinToken {
            host_name: "web-01".into(),
            token: "wjt_secret".into(),
            expires_at: "x".into(),
        };
        assert!(!format!("{t:?}").contains("wjt_secret"));
        let j = JoinRequest {
            token: "wjt_secret".into(),
            csr_pem: "pem".into(),
            ssh_host_public_key: "ssh-ed25519 AAAA".into(),
        };
        assert!(!format!("{j:?}").contains("wjt_secret"));
        let v = VerifyPassword {
            user: "alice".into(),
            password: Secret("hunter2-secret".into()),
            service: "sshd".into(),
            rhost: None,
        };
        assert!(!format!("{v:?}").contains("hunter2"));
        assert!(serde_json::to_string(&v)
            .unwrap()
            .contains(r#""password":"hunter2-secret""#));
    }

    #[test]
    fn audit_events_refuse_unknown_fields() {
        let e = serde_json::from_str::<AuditBatch>(r#"{"events":[],"extra":1}"#);
        assert!(e.is_err());
    }
}
