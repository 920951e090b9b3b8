//! The catalogue of ward's actions (SPEC §4). Policies may name any
//! `service:Action`, as AWS policies do; naming an action of one of ward's
//! own services that does not exist earns a validation warning, because such
//! a statement can never match a request.
//!
//! It also records, per action, the action-specific condition keys the
//! request supplies ([`condition_keys`], after AWS's service authorization
//! reference for `iam:` and `sts:`), so that a condition on a key that none
//! of a statement's actions ever supplies — a guard-rail that silently
//! never fires — earns a warning too ([`unsupplied_key`]).

/// Every action ward itself authorizes, grouped by service.
pub const CATALOGUE: &[(&str, &[&str])] = &[
    (
        "iam",
        &[
            "CreateUser",
            "GetUser",
            "ListUsers",
            "UpdateUser",
            "DeleteUser",
            "DisableUser",
            "EnableUser",
            "TagUser",
            "UntagUser",
            "CreateGroup",
            "GetGroup",
            "ListGroups",
            "UpdateGroup",
            "DeleteGroup",
            "AddUserToGroup",
            "RemoveUserFromGroup",
            "ListGroupsForUser",
            "CreatePolicy",
            "GetPolicy",
            "ListPolicies",
            "DeletePolicy",
            "ListEntitiesForPolicy",
            "TagPolicy",
            "UntagPolicy",
            "ListPolicyTags",
            "CreatePolicyVersion",
            "GetPolicyVersion",
            "ListPolicyVersions",
            "DeletePolicyVersion",
            "SetDefaultPolicyVersion",
            "AttachUserPolicy",
            "DetachUserPolicy",
            "AttachGroupPolicy",
            "DetachGroupPolicy",
            "AttachRolePolicy",
            "DetachRolePolicy",
            "ListAttachedUserPolicies",
            "ListAttachedGroupPolicies",
            "ListAttachedRolePolicies",
            "PutUserPolicy",
            "GetUserPolicy",
            "DeleteUserPolicy",
            "ListUserPolicies",
            "PutGroupPolicy",
            "GetGroupPolicy",
            "DeleteGroupPolicy",
            "ListGroupPolicies",
            "PutRolePolicy",
            "GetRolePolicy",
            "DeleteRolePolicy",
            "ListRolePolicies",
            "PutUserPermissionsBoundary",
            "DeleteUserPermissionsBoundary",
            "PutRolePermissionsBoundary",
            "DeleteRolePermissionsBoundary",
            "CreateRole",
            "GetRole",
            "ListRoles",
            "UpdateRole",
            "DeleteRole",
            "TagRole",
            "UntagRole",
            "UpdateAssumeRolePolicy",
            "PassRole",
            "CreateLoginProfile",
            "GetLoginProfile",
            "UpdateLoginProfile",
            "DeleteLoginProfile",
            "ChangePassword",
            "ListSessions",
            "RevokeSession",
            "CreateVirtualMFADevice",
            "DeleteVirtualMFADevice",
            "ListVirtualMFADevices",
            "EnableMFADevice",
            "DeactivateMFADevice",
            "ListMFADevices",
            "ResyncMFADevice",
            "GetAccountPasswordPolicy",
            "UpdateAccountPasswordPolicy",
            "CreateAccessKey",
            "ListAccessKeys",
            "UpdateAccessKey",
            "DeleteAccessKey",
            "GetAccessKeyLastUsed",
            "UploadSSHPublicKey",
            "GetSSHPublicKey",
            "ListSSHPublicKeys",
            "UpdateSSHPublicKey",
            "DeleteSSHPublicKey",
            "SimulatePrincipalPolicy",
            "SimulateCustomPolicy",
            "GetAccountSummary",
            "GetAccountAuthorizationDetails",
        ],
    ),
    (
        "sts",
        &[
            "AssumeRole",
            "AssumeRoleWithWebIdentity",
            "GetCallerIdentity",
            "GetSessionToken",
            "TagSession",
        ],
    ),
    (
        "host",
        &[
            "RegisterHost",
            "DeregisterHost",
            "ListHosts",
            "GetHost",
            "TagHost",
            "UntagHost",
            "Login",
            "Sudo",
            "Connect",
            "TerminateSession",
        ],
    ),
    (
        "ca",
        &[
            "IssueSshUserCertificate",
            "IssueSshHostCertificate",
            "IssueX509Certificate",
            "RevokeCertificate",
            "ListCertificates",
            "GetCertificate",
        ],
    ),
    (
        "identity",
        &[
            "CreateIdentityPool",
            "DeleteIdentityPool",
            "DescribeIdentityPool",
            "GetCredentialsForIdentity",
            "GetId",
            "ListIdentityPools",
            "ListTagsForResource",
            "TagResource",
            "UntagResource",
            "UpdateIdentityPool",
        ],
    ),
    (
        "audit",
        &[
            "GetCheckpoint",
            "GetRecording",
            "ListEvents",
            "ListRecordings",
            "VerifyLog",
        ],
    ),
];

/// Keys every request carries (or may carry) whatever the action: never
/// warned about. `/*` entries stand for any tag key.
pub const GLOBAL_KEYS: &[&str] = &[
    "ward:CurrentTime",
    "ward:EpochTime",
    "ward:SourceIp",
    "ward:SecureTransport",
    "ward:username",
    "ward:userid",
    "ward:PrincipalArn",
    "ward:PrincipalAccount",
    "ward:PrincipalType",
    "ward:PrincipalTag/*",
    "ward:MultiFactorAuthPresent",
    "ward:MultiFactorAuthAge",
    "ward:AuthMethod",
    "ward:TokenIssueTime",
    "ward:SourceIdentity",
];

const RESOURCE_TAG: &str = "ward:ResourceTag/*";
const REQUEST_TAG: &str = "ward:RequestTag/*";
const TAG_KEYS: &str = "ward:TagKeys";
const BOUNDARY: &str = "iam:PermissionsBoundary";
const POLICY_ARN: &str = "iam:PolicyARN";

/// Only the tags of the resource (an existing user, role, managed policy
/// or host).
const TAGGED: &[&str] = &[RESOURCE_TAG];
/// Policy changes on a user or role: the boundary and the resource's tags.
const BOUNDED: &[&str] = &[BOUNDARY, RESOURCE_TAG];
/// Attaching or detaching a managed policy to a user or role.
const ATTACH: &[&str] = &[POLICY_ARN, BOUNDARY, RESOURCE_TAG];
/// Creating a tagged user or role.
const CREATE: &[&str] = &[BOUNDARY, REQUEST_TAG, TAG_KEYS, RESOURCE_TAG];
/// Tagging an existing resource.
const TAG: &[&str] = &[REQUEST_TAG, TAG_KEYS, RESOURCE_TAG];
/// Tagging a user: CreateUser's tagging check also carries the boundary
/// the new user is created with.
const TAG_USER: &[&str] = &[REQUEST_TAG, TAG_KEYS, RESOURCE_TAG, BOUNDARY];
/// Setting a user's boundary: CreateUser's boundary check also carries
/// the tags the new user is created with.
const PUT_USER_BOUNDARY: &[&str] = &[BOUNDARY, RESOURCE_TAG, REQUEST_TAG, TAG_KEYS];
/// Untagging an existing resource.
const UNTAG: &[&str] = &[TAG_KEYS, RESOURCE_TAG];
/// Logging in to, or running sudo on, a host.
const LOGIN: &[&str] = &["host:Principal", "host:Service", "host:Name", RESOURCE_TAG];

/// Action-specific condition keys, by action. Known actions not listed
/// here supply none (ward groups have no tags; list
/// actions name no single resource).
const CONDITION_KEYS: &[(&str, &[&str])] = &[
    // iam: users. Every action on an existing user sees its tags.
    ("iam:CreateUser", CREATE),
    ("iam:GetUser", TAGGED),
    ("iam:UpdateUser", TAGGED),
    ("iam:DeleteUser", TAGGED),
    ("iam:DisableUser", TAGGED),
    ("iam:EnableUser", TAGGED),
    ("iam:TagUser", TAG_USER),
    ("iam:UntagUser", UNTAG),
    ("iam:ListGroupsForUser", TAGGED),
    ("iam:AttachUserPolicy", ATTACH),
    ("iam:DetachUserPolicy", ATTACH),
    ("iam:ListAttachedUserPolicies", TAGGED),
    ("iam:PutUserPolicy", BOUNDED),
    ("iam:GetUserPolicy", TAGGED),
    ("iam:DeleteUserPolicy", BOUNDED),
    ("iam:ListUserPolicies", TAGGED),
    ("iam:PutUserPermissionsBoundary", PUT_USER_BOUNDARY),
    ("iam:DeleteUserPermissionsBoundary", BOUNDED),
    ("iam:CreateLoginProfile", TAGGED),
    ("iam:GetLoginProfile", TAGGED),
    ("iam:UpdateLoginProfile", TAGGED),
    ("iam:DeleteLoginProfile", TAGGED),
    ("iam:ChangePassword", TAGGED),
    // MFA devices: the user-side actions see the user's tags (virtual
    // devices themselves are untagged).
    ("iam:EnableMFADevice", TAGGED),
    ("iam:DeactivateMFADevice", TAGGED),
    ("iam:ListMFADevices", TAGGED),
    ("iam:ResyncMFADevice", TAGGED),
    ("iam:CreateAccessKey", TAGGED),
    ("iam:ListAccessKeys", TAGGED),
    ("iam:UpdateAccessKey", TAGGED),
    ("iam:DeleteAccessKey", TAGGED),
    ("iam:GetAccessKeyLastUsed", TAGGED),
    ("iam:UploadSSHPublicKey", TAGGED),
    ("iam:GetSSHPublicKey", TAGGED),
    ("iam:ListSSHPublicKeys", TAGGED),
    ("iam:UpdateSSHPublicKey", TAGGED),
    ("iam:DeleteSSHPublicKey", TAGGED),
    ("iam:SimulatePrincipalPolicy", TAGGED),
    // iam: managed policies: every action on an existing policy sees its
    // tags; tagging also the request's tags and keys.
    ("iam:GetPolicy", TAGGED),
    ("iam:DeletePolicy", TAGGED),
    ("iam:CreatePolicyVersion", TAGGED),
    ("iam:GetPolicyVersion", TAGGED),
    ("iam:ListPolicyVersions", TAGGED),
    ("iam:DeletePolicyVersion", TAGGED),
    ("iam:SetDefaultPolicyVersion", TAGGED),
    ("iam:ListEntitiesForPolicy", TAGGED),
    ("iam:ListPolicyTags", TAGGED),
    ("iam:TagPolicy", TAG),
    ("iam:UntagPolicy", UNTAG),
    // iam: groups (untagged): only attaching names a policy.
    ("iam:AttachGroupPolicy", &[POLICY_ARN]),
    ("iam:DetachGroupPolicy", &[POLICY_ARN]),
    // iam: roles, as AWS.
    ("iam:CreateRole", CREATE),
    ("iam:GetRole", TAGGED),
    ("iam:UpdateRole", TAGGED),
    ("iam:DeleteRole", TAGGED),
    ("iam:TagRole", TAG),
    ("iam:UntagRole", UNTAG),
    ("iam:UpdateAssumeRolePolicy", TAGGED),
    // Handing a role to a service (an identity pool), as AWS.
    (
        "iam:PassRole",
        &["iam:PassedToService", "iam:AssociatedResourceArn"],
    ),
    ("iam:AttachRolePolicy", ATTACH),
    ("iam:DetachRolePolicy", ATTACH),
    ("iam:ListAttachedRolePolicies", TAGGED),
    ("iam:PutRolePolicy", BOUNDED),
    ("iam:GetRolePolicy", TAGGED),
    ("iam:DeleteRolePolicy", BOUNDED),
    ("iam:ListRolePolicies", TAGGED),
    ("iam:PutRolePermissionsBoundary", BOUNDED),
    ("iam:DeleteRolePermissionsBoundary", BOUNDED),
    // sts:
    (
        "sts:AssumeRole",
        &[
            "sts:ExternalId",
            "sts:RoleSessionName",
            "sts:SourceIdentity",
            "sts:TransitiveTagKeys",
            REQUEST_TAG,
            TAG_KEYS,
        ],
    ),
    ("sts:TagSession", &[REQUEST_TAG, TAG_KEYS]),
    // A role assumed through an identity pool (Cognito's
    // `cognito-identity.amazonaws.com:aud`/`amr`/`sub`).
    (
        "sts:AssumeRoleWithWebIdentity",
        &[
            "identity:aud",
            "identity:amr",
            "identity:sub",
            "sts:RoleSessionName",
        ],
    ),
    // identity pools: tagging, as Cognito's TagResource/UntagResource.
    ("identity:CreateIdentityPool", &[REQUEST_TAG, TAG_KEYS]),
    ("identity:TagResource", &[REQUEST_TAG, TAG_KEYS]),
    ("identity:UntagResource", &[TAG_KEYS]),
    // host: every action on a registered host sees its tags.
    ("host:RegisterHost", TAG),
    ("host:DeregisterHost", TAGGED),
    ("host:GetHost", TAGGED),
    // End an open ward-gateway session (on the gateway holding it).
    ("host:TerminateSession", TAGGED),
    ("host:TagHost", TAG),
    ("host:UntagHost", UNTAG),
    ("host:Login", LOGIN),
    ("host:Sudo", LOGIN),
    ("host:Connect", &["host:Name", "host:Service", RESOURCE_TAG]),
    // ca:
    (
        "ca:IssueSshUserCertificate",
        &[
            "ca:Principals",
            "ca:ValiditySeconds",
            "ca:KeyType",
            "ca:Extensions",
        ],
    ),
    (
        "ca:IssueSshHostCertificate",
        &[
            "ca:Principals",
            "ca:ValiditySeconds",
            "ca:KeyType",
            "host:Name",
            RESOURCE_TAG,
        ],
    ),
    (
        "ca:IssueX509Certificate",
        &["ca:ValiditySeconds", "ca:KeyType"],
    ),
];

/// The action-specific condition keys `action` (`service:Name`, any case)
/// supplies, beyond [`GLOBAL_KEYS`]; `None` if it is not a ward action.
/// `/*` entries stand for every tag key. This is the contract ward-ca's
/// request contexts are held to.
pub fn condition_keys(action: &str) -> Option<&'static [&'static str]> {
    let (service, name) = action.split_once(':')?;
    if !is_known(service, name) {
        return None;
    }
    Some(
        CONDITION_KEYS
            .iter()
            .find(|(a, _)| a.eq_ignore_ascii_case(action))
            .map_or(&[], |(_, keys)| *keys),
    )
}

/// `key` with `aws:` read as `ward:`, lowercased.
fn normal(key: &str) -> String {
    let lower = key.to_ascii_lowercase();
    match lower.strip_prefix("aws:") {
        Some(rest) => format!("ward:{rest}"),
        None => lower,
    }
}

/// Does catalogue entry `entry` cover the normalised key `key`?
fn covers(entry: &str, key: &str) -> bool {
    let entry = normal(entry);
    match entry.strip_suffix('*') {
        Some(prefix) => key.len() > prefix.len() && key.starts_with(prefix),
        None => entry == key,
    }
}

/// True if `key` is one of the [`GLOBAL_KEYS`] (any case, `aws:` or `ward:`).
pub fn is_global_key(key: &str) -> bool {
    let key = normal(key);
    GLOBAL_KEYS.iter().any(|g| covers(g, &key))
}

/// True if a condition on `key` in a statement whose `Action` element is
/// `actions` can never see the key: it is not global and no action the
/// element matches supplies it. `*`, a service that is not ward's, or an
/// unknown ward action make the answer `false` (nothing is known to warn
/// about); `iam:Tag*` stands for every known action it matches.
pub fn unsupplied_key(actions: &[String], key: &str) -> bool {
    if is_global_key(key) {
        return false;
    }
    let key = normal(key);
    for a in actions {
        let Some((service, name)) = a.split_once(':') else {
            return false; // "*"
        };
        if !is_ward_service(service) {
            return false;
        }
        let mut known = false;
        for (svc, names) in CATALOGUE
            .iter()
            .filter(|(s, _)| s.eq_ignore_ascii_case(service))
        {
            for n in names.iter().filter(|n| glob_ci(name, n)) {
                known = true;
                let keys = condition_keys(&format!("{svc}:{n}")).unwrap_or(&[]);
                if keys.iter().any(|e| covers(e, &key)) {
                    return false;
                }
            }
        }
        if !known {
            return false;
        }
    }
    true
}

/// Case-insensitive `*`/`?` match of an action-name pattern (short, from
/// a policy) against a catalogue name.
fn glob_ci(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let t: Vec<char> = name.to_ascii_lowercase().chars().collect();
    // dp[j]: p[..i] matches t[..j]; both are short.
    let mut dp = vec![false; t.len() + 1];
    dp[0] = true;
    for c in &p {
        let mut next = vec![false; t.len() + 1];
        for j in 0..=t.len() {
            next[j] = match c {
                '*' => dp[j] || (j > 0 && next[j - 1]),
                '?' => j > 0 && dp[j - 1],
                c => j > 0 && dp[j - 1] && t[j - 1] == *c,
            };
        }
        dp = next;
    }
    dp[t.len()]
}

/// True if `service` is one of ward's own services.
pub fn is_ward_service(service: &str) -> bool {
    CATALOGUE
        .iter()
        .any(|(s, _)| s.eq_ignore_ascii_case(service))
}

/// True if `service:name` is in the catalogue (case-insensitively).
pub fn is_known(service: &str, name: &str) -> bool {
    CATALOGUE
        .iter()
        .filter(|(s, _)| s.eq_ignore_ascii_case(service))
        .any(|(_, names)| names.iter().any(|n| n.eq_ignore_ascii_case(name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        assert!(is_known("host", "Login"));
        assert!(is_known("HOST", "login"));
        assert!(!is_known("host", "Logon"));
        assert!(is_ward_service("ca"));
        assert!(!is_ward_service("s3"));
    }

    #[test]
    fn condition_key_catalogue() {
        let keys = |a: &str| condition_keys(a).map(<[&str]>::to_vec);
        assert_eq!(
            keys("iam:CreateUser").unwrap(),
            [BOUNDARY, REQUEST_TAG, TAG_KEYS, RESOURCE_TAG]
        );
        assert_eq!(
            keys("iam:TagUser").unwrap(),
            [REQUEST_TAG, TAG_KEYS, RESOURCE_TAG, BOUNDARY]
        );
        assert_eq!(
            keys("iam:PutUserPermissionsBoundary").unwrap(),
            [BOUNDARY, RESOURCE_TAG, REQUEST_TAG, TAG_KEYS]
        );
        assert_eq!(
            keys("iam:TagRole").unwrap(),
            [REQUEST_TAG, TAG_KEYS, RESOURCE_TAG]
        );
        assert_eq!(keys("iam:UntagUser").unwrap(), [TAG_KEYS, RESOURCE_TAG]);
        for a in [
            "iam:AttachUserPolicy",
            "iam:DetachUserPolicy",
            "iam:AttachRolePolicy",
            "iam:DetachRolePolicy",
        ] {
            assert_eq!(
                keys(a).unwrap(),
                [POLICY_ARN, BOUNDARY, RESOURCE_TAG],
                "{a}"
            );
        }
        for a in ["iam:AttachGroupPolicy", "iam:DetachGroupPolicy"] {
            assert_eq!(keys(a).unwrap(), [POLICY_ARN], "{a}");
        }
        for a in [
            "iam:PutUserPermissionsBoundary",
            "iam:DeleteUserPermissionsBoundary",
            "iam:PutUserPolicy",
            "iam:DeleteUserPolicy",
            "iam:PutRolePermissionsBoundary",
        ] {
            assert!(keys(a).unwrap().contains(&BOUNDARY), "{a}");
        }
        for a in [
            "iam:GetUser",
            "iam:UpdateUser",
            "iam:DeleteUser",
            "iam:CreateAccessKey",
            "iam:CreateLoginProfile",
            "iam:UploadSSHPublicKey",
            "iam:ChangePassword",
            "host:Login",
            "host:GetHost",
            "ca:IssueSshHostCertificate",
        ] {
            assert!(keys(a).unwrap().contains(&RESOURCE_TAG), "{a}");
        }
        // Groups have no tags; list actions name no resource.
        for a in [
            "iam:GetGroup",
            "iam:DeleteGroup",
            "iam:AddUserToGroup",
            "iam:ListUsers",
            "host:ListHosts",
            "sts:GetCallerIdentity",
        ] {
            assert_eq!(keys(a).unwrap(), Vec::<&str>::new(), "{a}");
        }
        assert_eq!(
            keys("host:Connect").unwrap(),
            ["host:Name", "host:Service", RESOURCE_TAG]
        );
        assert!(keys("host:Sudo").unwrap().contains(&"host:Principal"));
        assert_eq!(
            keys("ca:IssueX509Certificate").unwrap(),
            ["ca:ValiditySeconds", "ca:KeyType"]
        );
        assert!(keys("ca:IssueSshUserCertificate")
            .unwrap()
            .contains(&"ca:Extensions"));
        assert!(keys("sts:AssumeRole").unwrap().contains(&"sts:ExternalId"));
        assert_eq!(keys("sts:TagSession").unwrap(), [REQUEST_TAG, TAG_KEYS]);
        // Any case; unknown actions and other services are None.
        assert_eq!(keys("IAM:createuser"), keys("iam:CreateUser"));
        assert_eq!(keys("iam:CreateUsers"), None);
        assert_eq!(keys("s3:GetObject"), None);
        assert_eq!(keys("nonsense"), None);
        // Every catalogue entry is a known action.
        for (a, _) in CONDITION_KEYS {
            let (s, n) = a.split_once(':').unwrap();
            assert!(is_known(s, n), "{a}");
        }
    }

    #[test]
    fn unsupplied_keys() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // (actions, key, warns)
        let table: &[(&[&str], &str, bool)] = &[
            (&["iam:AttachUserPolicy"], "iam:PolicyARN", false),
            (&["iam:AttachUserPolicy"], "IAM:policyarn", false),
            (&["iam:CreateAccessKey"], "iam:PolicyARN", true),
            (
                &["iam:CreateAccessKey", "iam:AttachUserPolicy"],
                "iam:PolicyARN",
                false,
            ),
            (
                &["iam:CreateAccessKey"],
                "ward:ResourceTag/protected",
                false,
            ),
            (&["iam:CreateAccessKey"], "aws:ResourceTag/protected", false),
            (&["iam:CreateAccessKey"], "ward:ResourceTag", true),
            (&["iam:CreateAccessKey"], "ward:RequestTag/team", true),
            (&["iam:CreateGroup"], "ward:ResourceTag/x", true),
            (&["iam:CreateUser"], "aws:RequestTag/team", false),
            (&["iam:CreateUser"], "aws:TagKeys", false),
            (&["iam:GetUser"], "ward:TagKeys", true),
            // Wildcards take the union of the known actions they match.
            (&["iam:Tag*"], "ward:RequestTag/x", false),
            (&["iam:Untag*"], "ward:RequestTag/x", true),
            (&["iam:*"], "iam:PolicyARN", false),
            (&["iam:*"], "host:Principal", true),
            (&["host:*"], "host:Principal", false),
            (&["host:Log?n"], "host:Service", false),
            // Global keys never warn.
            (&["iam:GetUser"], "aws:SourceIp", false),
            (&["iam:GetUser"], "ward:PrincipalTag/team", false),
            (&["iam:GetUser"], "aws:MultiFactorAuthAge", false),
            (&["iam:GetUser"], "ward:username", false),
            (&["iam:GetUser"], "aws:SourceVpc", true),
            // "*", other services and unknown actions never warn.
            (&["*"], "iam:PolicyARN", false),
            (&["s3:GetObject"], "s3:prefix", false),
            (&["iam:GetUser", "s3:GetObject"], "s3:prefix", false),
            (&["iam:NoSuchThing"], "iam:PolicyARN", false),
            (&["iam:Nope*"], "iam:PolicyARN", false),
            (&["ca:IssueSshUserCertificate"], "ca:Principals", false),
            (&["ca:IssueX509Certificate"], "ca:Principals", true),
            (&["sts:AssumeRole"], "sts:ExternalId", false),
            (&["sts:GetSessionToken"], "sts:ExternalId", true),
        ];
        for (actions, key, warns) in table {
            assert_eq!(
                unsupplied_key(&v(actions), key),
                *warns,
                "{actions:?} {key}"
            );
        }
    }
}
