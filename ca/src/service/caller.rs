//! Who is calling, once authenticated: the [`Caller`] every service
//! handler receives (the http layer's `auth` makes it; services only read
//! it).

use std::net::IpAddr;

use ward_policy::Principal;

use crate::store::iam::User;

/// The authenticated identity.
#[derive(Clone, Debug)]
pub enum Identity {
    /// The account root.
    Root,
    /// An IAM user.
    User(User),
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
}

impl Caller {
    pub(crate) fn with_password_change_only(mut self, only: bool) -> Caller {
        self.password_change_only = only;
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
