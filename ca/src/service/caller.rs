//! Who is calling, once authenticated: the [`Caller`] every service
//! handler receives (the http layer's `auth` makes it; services only read
//! it).

use std::net::IpAddr;

use ward_policy::Principal;

use crate::error::ApiError;
use crate::store::host_identity::HostPrincipal;
use crate::store::iam::User;
use crate::store::roles::Role;

/// The authenticated identity.
// One per request, never in a collection: the user row's size is harmless.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Identity {
    /// The account root.
    Root,
    /// An IAM user.
    User(User),
    /// An enrolled host (mTLS with its `spiffe://TD/host/NAME`
    /// certificate); it may call the host routes (`/v1/host/*`) only.
    Host(HostPrincipal),
    /// A session of a role (AssumeRole): acts as
    /// `arn:ward:sts::ACCT:assumed-role/ROLE/SESSION` with the role's
    /// policies, limited by its boundary and the session policy.
    RoleSession(RoleSession),
}

/// A role session, as read from its `sessions` row on this request (so a
/// deleted role or a revoked session stops working at once).
#[derive(Clone, Debug)]
pub struct RoleSession {
    /// The role.
    pub role: Role,
    /// `RoleSessionName`.
    pub name: String,
    /// `ASIA…`
    pub access_key_id: String,
    /// Unix seconds (`ward:TokenIssueTime`).
    pub issued_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
    /// The session policy, if any.
    pub policy: Option<String>,
    /// Session tags (they override the role's tags of the same key as
    /// `ward:PrincipalTag/*`).
    pub tags: Vec<(String, String)>,
    /// Keys of the tags that pass on when this session assumes a role.
    pub transitive_tag_keys: Vec<String>,
    /// `SourceIdentity`, if set.
    pub source_identity: Option<String>,
}

impl RoleSession {
    /// `AROA…:SESSION`, the session's `ward:userid`.
    pub fn assumed_role_id(&self) -> String {
        format!("{}:{}", self.role.id, self.name)
    }
}

/// An authenticated caller.
#[derive(Clone, Debug)]
pub struct Caller {
    /// Who.
    pub identity: Identity,
    /// As a policy principal.
    pub principal: Principal,
    /// `ward:AuthMethod`: `access-key`, `session`, …
    pub auth_method: &'static str,
    /// Peer address.
    pub source_ip: IpAddr,
    /// Over TLS.
    pub secure: bool,
    /// The access key used, if any.
    pub access_key_id: Option<String>,
    /// A session opened with a password that must be changed: only
    /// ChangePassword and GetCallerIdentity are allowed (see `authorize`).
    pub password_change_only: bool,
    /// When the caller's session verified a second factor (Unix seconds):
    /// `ward:MultiFactorAuthPresent` and `ward:MultiFactorAuthAge`. `None`
    /// for long-term keys, certificates and sessions opened without one.
    pub mfa_authenticated_at: Option<i64>,
}

impl Caller {
    pub(crate) fn with_password_change_only(mut self, only: bool) -> Caller {
        self.password_change_only = only;
        self
    }

    pub(crate) fn with_mfa(mut self, at: Option<i64>) -> Caller {
        self.mfa_authenticated_at = at;
        self
    }

    /// Principal ARN.
    pub fn arn(&self) -> &str {
        self.principal.arn()
    }
}

/// The root ARN of an account.
pub fn root_arn(account: &str) -> String {
    ward_authz::arn::root(account)
}

/// A user's ARN.
pub fn user_arn(account: &str, u: &User) -> String {
    ward_authz::arn::user(account, &u.path, &u.name)
}

/// A role's ARN.
pub fn role_arn(account: &str, r: &Role) -> String {
    ward_authz::arn::role(account, &r.path, &r.name)
}

/// The prefix of the routes a host principal may call.
pub const HOST_ROUTES: &str = "/v1/host/";

/// The refusal for a host calling anything but the host routes, and for
/// anyone but a host calling them.
pub fn host_route_only() -> ApiError {
    ApiError::Denied {
        message: "hosts may only call host routes (/v1/host/*)".into(),
    }
}

/// The calling host, or 403 for any other caller.
pub fn require_host(caller: &Caller) -> Result<&HostPrincipal, ApiError> {
    match &caller.identity {
        Identity::Host(h) => Ok(h),
        _ => Err(ApiError::Denied {
            message: "only an enrolled host, authenticated by its ward host certificate, \
                      may call the host routes (/v1/host/*)"
                .into(),
        }),
    }
}
