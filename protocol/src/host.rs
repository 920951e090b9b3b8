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
    /// The host registry, for a gateway only (absent for ordinary hosts,
    /// whose snapshot JSON does not change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<Vec<RegisteredHost>>,
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
}

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
/// `Debug`. Hosts and ward-ca never log it.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(pub String);

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
