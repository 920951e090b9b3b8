//! The catalogue of ward's actions (SPEC §4). Policies may name any
//! `service:Action`, as AWS policies do; naming an action of one of ward's
//! own services that does not exist earns a validation warning, because such
//! a statement can never match a request.

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
            "CreateLoginProfile",
            "GetLoginProfile",
            "UpdateLoginProfile",
            "DeleteLoginProfile",
            "ChangePassword",
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
        ],
    ),
    (
        "sts",
        &[
            "AssumeRole",
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
            "GetCredentialsForIdentity",
        ],
    ),
    ("audit", &["GetCheckpoint", "ListEvents", "VerifyLog"]),
];

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
}
