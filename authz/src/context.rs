//! The request context: the keys every request carries (source address,
//! time, transport, authentication method, the principal's tags) and the
//! action-specific ones (`ward:ResourceTag/*`, `ward:RequestTag/*`,
//! `ward:TagKeys`, `iam:PolicyARN`, `iam:PermissionsBoundary`, the `host:`
//! and `ca:` keys), built here so that ward-ca, the agent and the gateway
//! build them with the same code.
//!
//! The principal-derived keys (`ward:username`, `ward:userid`,
//! `ward:PrincipalArn`, `ward:PrincipalType`, `ward:PrincipalAccount`) are
//! added by [`ward_policy::Request::new`] from the [`ward_policy::Principal`].
//!
//! The time is an input ([`RequestFacts::now`]): this crate reads no clock.
//!
//! Contract: every key supplied for an action is global or listed by
//! [`ward_policy::actions::condition_keys`] for it ([`supplies`]), so that
//! policy validation's "this condition can never apply" warnings tell the
//! truth. [`context`] checks it in debug builds.

use std::net::IpAddr;

use ward_policy::actions::{condition_keys, is_global_key};
use ward_policy::{Context, ContextValue, Instant};

/// Key names.
pub mod keys {
    /// The caller's address.
    pub const SOURCE_IP: &str = "ward:SourceIp";
    /// RFC 3339 time of the request.
    pub const CURRENT_TIME: &str = "ward:CurrentTime";
    /// Seconds since the epoch.
    pub const EPOCH_TIME: &str = "ward:EpochTime";
    /// `true` over TLS.
    pub const SECURE_TRANSPORT: &str = "ward:SecureTransport";
    /// `access-key`, `session`, …
    pub const AUTH_METHOD: &str = "ward:AuthMethod";
    /// `true` if the session was opened with a second factor.
    pub const MFA_PRESENT: &str = "ward:MultiFactorAuthPresent";
    /// Seconds since the session's second factor was verified (absent
    /// when none was).
    pub const MFA_AGE: &str = "ward:MultiFactorAuthAge";
    /// `ward:PrincipalTag/` + key.
    pub const PRINCIPAL_TAG: &str = "ward:PrincipalTag/";
    /// `ward:ResourceTag/` + key.
    pub const RESOURCE_TAG: &str = "ward:ResourceTag/";
    /// `ward:RequestTag/` + key.
    pub const REQUEST_TAG: &str = "ward:RequestTag/";
    /// The tag keys a request sets or removes.
    pub const TAG_KEYS: &str = "ward:TagKeys";
    /// The managed policy being attached or detached.
    pub const POLICY_ARN: &str = "iam:PolicyARN";
    /// A user's permissions boundary (current, or the one being set).
    pub const PERMISSIONS_BOUNDARY: &str = "iam:PermissionsBoundary";
    /// Names a certificate will carry.
    pub const CA_PRINCIPALS: &str = "ca:Principals";
    /// Requested certificate lifetime.
    pub const CA_VALIDITY_SECONDS: &str = "ca:ValiditySeconds";
    /// The certified key's algorithm.
    pub const CA_KEY_TYPE: &str = "ca:KeyType";
    /// Requested SSH certificate extensions.
    pub const CA_EXTENSIONS: &str = "ca:Extensions";
    /// The host's registered name.
    pub const HOST_NAME: &str = "host:Name";
    /// When a temporary credential was issued (RFC 3339).
    pub const TOKEN_ISSUE_TIME: &str = "ward:TokenIssueTime";
    /// A role session's source identity.
    pub const SOURCE_IDENTITY: &str = "ward:SourceIdentity";
    /// The external id given to AssumeRole.
    pub const EXTERNAL_ID: &str = "sts:ExternalId";
    /// The session name given to AssumeRole.
    pub const ROLE_SESSION_NAME: &str = "sts:RoleSessionName";
    /// The source identity given to AssumeRole.
    pub const STS_SOURCE_IDENTITY: &str = "sts:SourceIdentity";
    /// The transitive tag keys given to AssumeRole.
    pub const TRANSITIVE_TAG_KEYS: &str = "sts:TransitiveTagKeys";
}

/// What is known about a request before its action: the inputs of the
/// keys every request carries.
#[derive(Clone, Copy, Debug)]
pub struct RequestFacts<'a> {
    /// The peer address; `None` when the caller does not know it (a host
    /// deciding for sshd without `SSH_CONNECTION`): then `ward:SourceIp`
    /// is absent, so an `IpAddress` condition on it does not match and a
    /// `...IfExists` one does — never a made-up address.
    pub source_ip: Option<IpAddr>,
    /// The time of the request, seconds since the epoch (an input: this
    /// crate reads no clock).
    pub now: i64,
    /// Over TLS.
    pub secure_transport: bool,
    /// `ward:AuthMethod`.
    pub auth_method: &'a str,
    /// When a second factor was verified for the caller's session (epoch
    /// seconds): then `ward:MultiFactorAuthPresent` is `true` and
    /// `ward:MultiFactorAuthAge` is `now` minus it; otherwise the first is
    /// `false` and the second absent.
    pub mfa_authenticated_at: Option<i64>,
    /// The principal's tags, as `ward:PrincipalTag/*`.
    pub principal_tags: &'a [(String, String)],
}

/// The context of `action` with the keys every request carries from
/// `facts`, then `extra` (which wins over them). In debug builds, panics
/// if `extra` holds a key the action is not declared to supply.
pub fn context(action: &str, facts: &RequestFacts<'_>, extra: &[(&str, ContextValue)]) -> Context {
    debug_assert!(
        extra.iter().all(|(k, _)| supplies(action, k)),
        "{action} is given context keys {:?} that ward_policy::actions::condition_keys does not list for it",
        extra
            .iter()
            .map(|(k, _)| *k)
            .filter(|k| !supplies(action, k))
            .collect::<Vec<_>>()
    );
    let mut ctx = Context::new();
    if let Some(ip) = facts.source_ip {
        ctx.insert(keys::SOURCE_IP, ContextValue::from(ip.to_string()));
    }
    insert_time(&mut ctx, facts.now);
    ctx.insert(keys::SECURE_TRANSPORT, boolean(facts.secure_transport));
    ctx.insert(keys::AUTH_METHOD, ContextValue::from(facts.auth_method));
    ctx.insert(
        keys::MFA_PRESENT,
        boolean(facts.mfa_authenticated_at.is_some()),
    );
    if let Some(at) = facts.mfa_authenticated_at {
        let age = facts.now.saturating_sub(at).max(0);
        ctx.insert(keys::MFA_AGE, ContextValue::from(age.to_string()));
    }
    insert_principal_tags(&mut ctx, facts.principal_tags);
    for (k, v) in extra {
        ctx.insert(k, v.clone());
    }
    ctx
}

fn boolean(b: bool) -> ContextValue {
    ContextValue::from(if b { "true" } else { "false" })
}

/// Sets `ward:CurrentTime` and `ward:EpochTime` from `now` (epoch seconds).
pub fn insert_time(ctx: &mut Context, now: i64) {
    ctx.insert(
        keys::CURRENT_TIME,
        ContextValue::from(Instant::from_epoch_seconds(now).to_rfc3339()),
    );
    ctx.insert(keys::EPOCH_TIME, ContextValue::from(now.to_string()));
}

/// Sets `ward:PrincipalTag/K` for every tag.
pub fn insert_principal_tags(ctx: &mut Context, tags: &[(String, String)]) {
    for (k, v) in tags {
        ctx.insert(
            &format!("{}{k}", keys::PRINCIPAL_TAG),
            ContextValue::from(v.as_str()),
        );
    }
}

/// True if `key` may be supplied for `action`: it is a global key, or
/// `condition_keys(action)` lists it (`/*` entries cover every tag key).
/// An action ward-policy does not know supplies only global keys.
pub fn supplies(action: &str, key: &str) -> bool {
    if is_global_key(key) {
        return true;
    }
    let Some(listed) = condition_keys(action) else {
        return false;
    };
    let key = normal(key);
    listed.iter().any(|entry| {
        let entry = normal(entry);
        match entry.strip_suffix('*') {
            Some(prefix) => key.len() > prefix.len() && key.starts_with(prefix),
            None => entry == key,
        }
    })
}

fn normal(key: &str) -> String {
    let lower = key.to_ascii_lowercase();
    match lower.strip_prefix("aws:") {
        Some(rest) => format!("ward:{rest}"),
        None => lower,
    }
}

/// The keys a temporary credential adds to every request it signs:
/// `ward:TokenIssueTime` and, if set, `ward:SourceIdentity`.
pub fn temporary_credential(issued_at: i64, source_identity: Option<&str>) -> Entries {
    let mut v = vec![(
        keys::TOKEN_ISSUE_TIME.to_owned(),
        ContextValue::from(Instant::from_epoch_seconds(issued_at).to_rfc3339()),
    )];
    if let Some(s) = source_identity {
        v.push((keys::SOURCE_IDENTITY.to_owned(), ContextValue::from(s)));
    }
    v
}

/// Owned context entries, for keys whose names are built (tags).
pub type Entries = Vec<(String, ContextValue)>;

/// Borrows [`Entries`] as [`context`]'s `extra`.
pub fn refs(v: &[(String, ContextValue)]) -> Vec<(&str, ContextValue)> {
    v.iter().map(|(k, v)| (k.as_str(), v.clone())).collect()
}

/// `ward:ResourceTag/K` for each tag of the target.
pub fn resource_tags<'a>(tags: impl IntoIterator<Item = (&'a str, &'a str)>) -> Entries {
    tags.into_iter()
        .map(|(k, v)| (format!("{}{k}", keys::RESOURCE_TAG), ContextValue::from(v)))
        .collect()
}

/// `ward:RequestTag/K` for each tag a request sets, and `ward:TagKeys`.
pub fn request_tags(tags: &[(String, String)]) -> Entries {
    let mut ctx: Entries = tags
        .iter()
        .map(|(k, v)| {
            (
                format!("{}{k}", keys::REQUEST_TAG),
                ContextValue::from(v.as_str()),
            )
        })
        .collect();
    ctx.push((
        keys::TAG_KEYS.into(),
        ContextValue::Multi(tags.iter().map(|(k, _)| k.clone()).collect()),
    ));
    ctx
}

/// `ward:TagKeys`: the keys a request sets or removes.
pub fn tag_keys(keys: Vec<String>) -> (&'static str, ContextValue) {
    (keys::TAG_KEYS, ContextValue::Multi(keys))
}

/// `iam:PolicyARN`: the managed policy being attached or detached.
pub fn policy_arn(arn: &str) -> (&'static str, ContextValue) {
    (keys::POLICY_ARN, ContextValue::from(arn))
}

/// `iam:PermissionsBoundary`: a boundary (the current one, or the one
/// being set).
pub fn permissions_boundary(arn: &str) -> (&'static str, ContextValue) {
    (keys::PERMISSIONS_BOUNDARY, ContextValue::from(arn))
}

/// Actions on a user for which AWS supplies `iam:PermissionsBoundary` as
/// the user's *current* boundary (PutUserPermissionsBoundary and
/// CreateUser supply the new one).
pub const CURRENT_BOUNDARY_ACTIONS: &[&str] = &[
    "iam:AttachUserPolicy",
    "iam:DetachUserPolicy",
    "iam:PutUserPolicy",
    "iam:DeleteUserPolicy",
    "iam:DeleteUserPermissionsBoundary",
];

/// True if a request for `action` on a user carries the user's current
/// boundary as `iam:PermissionsBoundary`.
pub fn supplies_current_boundary(action: &str) -> bool {
    CURRENT_BOUNDARY_ACTIONS.contains(&action)
}

/// The keys of `ca:IssueSshUserCertificate`.
pub fn ssh_user_certificate(
    principals: &[String],
    validity_seconds: i64,
    key_type: &str,
    extensions: &[String],
) -> [(&'static str, ContextValue); 4] {
    [
        (
            keys::CA_PRINCIPALS,
            ContextValue::Multi(principals.to_vec()),
        ),
        (
            keys::CA_VALIDITY_SECONDS,
            ContextValue::from(validity_seconds.to_string()),
        ),
        (keys::CA_KEY_TYPE, ContextValue::from(key_type)),
        (
            keys::CA_EXTENSIONS,
            ContextValue::Multi(extensions.to_vec()),
        ),
    ]
}

/// The keys of `ca:IssueSshHostCertificate` (the host's tags are added as
/// [`resource_tags`]).
pub fn ssh_host_certificate(
    validity_seconds: i64,
    host: &str,
    principals: &[String],
) -> [(&'static str, ContextValue); 3] {
    [
        (
            keys::CA_VALIDITY_SECONDS,
            ContextValue::from(validity_seconds.to_string()),
        ),
        (keys::HOST_NAME, ContextValue::from(host)),
        (
            keys::CA_PRINCIPALS,
            ContextValue::Multi(principals.to_vec()),
        ),
    ]
}

/// The keys of `ca:IssueX509Certificate`.
pub fn x509_certificate(
    validity_seconds: i64,
    key_type: &str,
) -> [(&'static str, ContextValue); 2] {
    [
        (
            keys::CA_VALIDITY_SECONDS,
            ContextValue::from(validity_seconds.to_string()),
        ),
        (keys::CA_KEY_TYPE, ContextValue::from(key_type)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn facts(tags: &[(String, String)]) -> RequestFacts<'_> {
        RequestFacts {
            source_ip: Some(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3))),
            now: 1_700_000_000,
            secure_transport: true,
            auth_method: "access-key",
            mfa_authenticated_at: None,
            principal_tags: tags,
        }
    }

    fn one(ctx: &Context, key: &str) -> String {
        ctx.get(key).unwrap_or_default().join(",")
    }

    #[test]
    fn every_request_carries_the_global_keys_from_its_inputs() {
        let tags = vec![("team".to_owned(), "ops".to_owned())];
        let ctx = context("iam:ListUsers", &facts(&tags), &[]);
        assert_eq!(one(&ctx, "ward:SourceIp"), "10.1.2.3");
        assert_eq!(one(&ctx, "aws:CurrentTime"), "2023-11-14T22:13:20Z");
        assert_eq!(one(&ctx, "ward:EpochTime"), "1700000000");
        assert_eq!(one(&ctx, "ward:SecureTransport"), "true");
        assert_eq!(one(&ctx, "ward:AuthMethod"), "access-key");
        assert_eq!(one(&ctx, "ward:MultiFactorAuthPresent"), "false");
        assert!(!ctx.contains("ward:MultiFactorAuthAge"));
        assert_eq!(one(&ctx, "ward:PrincipalTag/team"), "ops");
        for (k, _) in ctx.iter() {
            assert!(supplies("iam:ListUsers", k), "{k}");
        }
    }

    #[test]
    fn a_second_factor_sets_present_and_its_age() {
        let mut f = facts(&[]);
        f.mfa_authenticated_at = Some(1_700_000_000 - 42);
        let ctx = context("iam:ListUsers", &f, &[]);
        assert_eq!(one(&ctx, "ward:MultiFactorAuthPresent"), "true");
        assert_eq!(one(&ctx, "aws:MultiFactorAuthAge"), "42");
    }

    #[test]
    fn an_unknown_source_address_leaves_the_key_absent() {
        let mut f = facts(&[]);
        f.source_ip = None;
        let ctx = context("host:Login", &f, &[]);
        assert!(!ctx.contains("ward:SourceIp"));
        assert!(!ctx.contains("aws:SourceIp"));
        assert_eq!(one(&ctx, "ward:EpochTime"), "1700000000");
    }

    #[test]
    fn extra_keys_win_and_empty_sets_vanish() {
        let t = request_tags(&[]);
        let ctx = context("iam:TagUser", &facts(&[]), &refs(&t));
        assert!(!ctx.contains("ward:TagKeys"));
        let t = request_tags(&[("env".into(), "prod".into())]);
        let ctx = context("iam:TagUser", &facts(&[]), &refs(&t));
        assert_eq!(one(&ctx, "ward:RequestTag/env"), "prod");
        assert_eq!(one(&ctx, "ward:TagKeys"), "env");
    }

    /// Every action ward-ca serves with action-specific keys, and the keys
    /// it supplies for it (built with this module's builders): each must
    /// be declared by ward-policy's catalogue, or a condition on it would be
    /// flagged "never supplied" while it is, or supplied while flagged.
    #[test]
    fn supplied_keys_are_declared_for_every_served_action() {
        let tags = request_tags(&[("env".into(), "prod".into())]);
        let rtags = resource_tags([("team", "ops")]);
        let boundary = permissions_boundary("arn:ward:iam::123456789012:policy/b");
        let pol = policy_arn("arn:ward:iam::123456789012:policy/p");
        let keys = tag_keys(vec!["env".into()]);
        let p = vec!["alice".to_owned()];
        let mut table: Vec<(&str, Vec<(String, ContextValue)>)> = Vec::new();
        let owned = |v: &[(&str, ContextValue)]| -> Entries {
            v.iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect()
        };
        // CreateUser, and the TagUser / PutUserPermissionsBoundary checks
        // it makes with the same keys.
        for a in [
            "iam:CreateUser",
            "iam:TagUser",
            "iam:PutUserPermissionsBoundary",
        ] {
            let mut e = tags.clone();
            e.extend(owned(std::slice::from_ref(&boundary)));
            table.push((a, e));
        }
        // Every action on an existing user sees its tags; some its
        // boundary; attach/detach the policy; tagging the request's tags.
        for a in [
            "iam:GetUser",
            "iam:UpdateUser",
            "iam:DeleteUser",
            "iam:DisableUser",
            "iam:EnableUser",
            "iam:ListGroupsForUser",
            "iam:ListAttachedUserPolicies",
            "iam:GetUserPolicy",
            "iam:ListUserPolicies",
            "iam:CreateLoginProfile",
            "iam:GetLoginProfile",
            "iam:UpdateLoginProfile",
            "iam:DeleteLoginProfile",
            "iam:ChangePassword",
            "iam:EnableMFADevice",
            "iam:DeactivateMFADevice",
            "iam:ListMFADevices",
            "iam:ResyncMFADevice",
            "iam:CreateAccessKey",
            "iam:ListAccessKeys",
            "iam:UpdateAccessKey",
            "iam:DeleteAccessKey",
            "iam:GetAccessKeyLastUsed",
            "iam:UploadSSHPublicKey",
            "iam:GetSSHPublicKey",
            "iam:ListSSHPublicKeys",
            "iam:UpdateSSHPublicKey",
            "iam:DeleteSSHPublicKey",
            "iam:SimulatePrincipalPolicy",
        ] {
            table.push((a, rtags.clone()));
        }
        for a in CURRENT_BOUNDARY_ACTIONS {
            let mut e = rtags.clone();
            e.extend(owned(std::slice::from_ref(&boundary)));
            if a.contains("tach") {
                e.extend(owned(std::slice::from_ref(&pol)));
            }
            table.push((a, e));
        }
        let mut e = rtags.clone();
        e.extend(owned(std::slice::from_ref(&boundary)));
        table.push(("iam:PutUserPermissionsBoundary", e));
        let mut e = rtags.clone();
        e.extend(tags.clone());
        table.push(("iam:TagUser", e));
        let mut e = rtags.clone();
        e.extend(owned(std::slice::from_ref(&keys)));
        table.push(("iam:UntagUser", e));
        table.push(("iam:TagPolicy", tags.clone()));
        table.push(("iam:UntagPolicy", owned(std::slice::from_ref(&keys))));
        table.push(("iam:AttachGroupPolicy", owned(std::slice::from_ref(&pol))));
        table.push(("iam:DetachGroupPolicy", owned(std::slice::from_ref(&pol))));
        // Hosts.
        table.push(("host:RegisterHost", owned(std::slice::from_ref(&keys))));
        for a in [
            "host:GetHost",
            "host:DeregisterHost",
            "host:TerminateSession",
        ] {
            table.push((a, rtags.clone()));
        }
        // Certificates.
        table.push((
            "ca:IssueSshUserCertificate",
            owned(&ssh_user_certificate(&p, 3600, "ssh-ed25519", &[])),
        ));
        let mut e = owned(&ssh_host_certificate(3600, "db-1", &p));
        e.extend(rtags.clone());
        table.push(("ca:IssueSshHostCertificate", e));
        table.push((
            "ca:IssueX509Certificate",
            owned(&x509_certificate(3600, "ed25519")),
        ));
        for (action, extra) in &table {
            assert!(
                condition_keys(action).is_some(),
                "{action} is not in ward-policy's catalogue"
            );
            for (k, _) in extra {
                assert!(supplies(action, k), "{action} supplies undeclared {k}");
            }
            // And the debug check in context() agrees (it would panic).
            let _ = context(action, &facts(&[]), &refs(extra));
        }
    }

    #[test]
    fn undeclared_keys_are_refused() {
        assert!(!supplies("iam:GetUser", "iam:PolicyARN"));
        assert!(!supplies("iam:ListUsers", "ward:ResourceTag/team"));
        assert!(!supplies("ca:IssueX509Certificate", "ca:Principals"));
        assert!(!supplies("nope:Nothing", "ca:Principals"));
        assert!(supplies("nope:Nothing", "aws:SourceIp"));
        assert!(supplies("IAM:tagUSER", "AWS:RequestTag/x"));
        assert!(!supplies("iam:TagUser", "ward:RequestTag/"));
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "does not list")]
    fn context_checks_the_contract_in_debug_builds() {
        let _ = context("iam:GetUser", &facts(&[]), &[policy_arn("x")]);
    }
}
