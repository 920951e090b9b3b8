//! ward-ca's `/v1/` routes as data: method, path (as the router spells
//! it), how the caller authenticates, the action authorized and the shape
//! of the resource ARN it is authorized on.
//!
//! This is the one list: ward-ca's router is checked against it (a test
//! in `ca/src/http/router.rs` reads the router's source, and
//! `ca/tests/routes.rs` asks the live daemon for every row), and
//! `docs/routes.md` is generated from it (`tests/tests/routes.rs`), so
//! neither the router nor the docs can drift from it. It lives here, in the
//! pure decision crate, because the agent and the gateway will need the
//! same mapping and must not link ward-ca to get it.
//!
//! In resource shapes, `{account}` is the account id, `{path}` the stored
//! IAM path of the entity named, `{pathPrefix}` the listing's prefix
//! (default `/`), and the other `{…}` are the route's path parameters.

/// How a route's caller authenticates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    /// SigV4 (access key or session), a bearer session token, or a user's
    /// client certificate.
    Signed,
    /// An enrolled host's client certificate (`/v1/host/*` only).
    Host,
    /// The request body carries the credential (a password, a join token).
    Body,
    /// None: public trust material.
    Public,
}

impl Auth {
    /// As written in the docs.
    pub fn as_str(self) -> &'static str {
        match self {
            Auth::Signed => "signed",
            Auth::Host => "host certificate",
            Auth::Body => "credential in body",
            Auth::Public => "none",
        }
    }
}

/// One route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// HTTP method.
    pub method: &'static str,
    /// Path as the router spells it (`{name}` parameters).
    pub path: &'static str,
    /// Authentication.
    pub auth: Auth,
    /// The action authorized (`""` when none is: public material, the
    /// host snapshot, which serves only what the host principal may see).
    pub action: &'static str,
    /// The resource ARN shape the action is authorized on (`""` when no
    /// action is).
    pub resource: &'static str,
}

const fn r(
    method: &'static str,
    path: &'static str,
    auth: Auth,
    action: &'static str,
    resource: &'static str,
) -> Route {
    Route {
        method,
        path,
        auth,
        action,
        resource,
    }
}

use Auth::{Body, Host, Public, Signed};

const USER: &str = "arn:ward:iam::{account}:user{path}{name}";
const USERS: &str = "arn:ward:iam::{account}:user{pathPrefix}*";
const GROUP: &str = "arn:ward:iam::{account}:group{path}{name}";
const GROUPS: &str = "arn:ward:iam::{account}:group{pathPrefix}*";
const POLICY: &str = "arn:ward:iam::{account}:policy{path}{name}";
const POLICIES: &str = "arn:ward:iam::{account}:policy{pathPrefix}*";
const ROLE: &str = "arn:ward:iam::{account}:role{path}{name}";
const ROLES: &str = "arn:ward:iam::{account}:role{pathPrefix}*";
const HOST: &str = "arn:ward:host::{account}:host/{name}";
const MFA: &str = "arn:ward:iam::{account}:mfa/{name}";
const AUDIT: &str = "arn:ward:audit::{account}:log";
const RECORDING: &str = "arn:ward:audit::{account}:recording/{id}";
const POOL: &str = "arn:ward:identity::{account}:identity-pool/{id}";

/// Every `/v1/` route ward-ca serves.
pub const ROUTES: &[Route] = &[
    r(
        "POST",
        "/v1/login",
        Body,
        "sts:GetSessionToken",
        "arn:ward:iam::{account}:user/{userName}",
    ),
    r(
        "GET",
        "/v1/whoami",
        Signed,
        "sts:GetCallerIdentity",
        "the caller's own ARN",
    ),
    // The account root's own dashboard sessions (root only; no policy
    // grants these to anyone else).
    r(
        "GET",
        "/v1/root/sessions",
        Signed,
        "ward:ListRootSessions",
        "arn:ward:iam::{account}:root",
    ),
    r(
        "POST",
        "/v1/root/sessions/sign-out-others",
        Signed,
        "ward:SignOutOtherRootSessions",
        "arn:ward:iam::{account}:root",
    ),
    // Users.
    r("POST", "/v1/users", Signed, "iam:CreateUser", USER),
    r("GET", "/v1/users", Signed, "iam:ListUsers", USERS),
    r("GET", "/v1/users/{name}", Signed, "iam:GetUser", USER),
    r("PATCH", "/v1/users/{name}", Signed, "iam:UpdateUser", USER),
    r("DELETE", "/v1/users/{name}", Signed, "iam:DeleteUser", USER),
    r("POST", "/v1/users/{name}/tags", Signed, "iam:TagUser", USER),
    r(
        "DELETE",
        "/v1/users/{name}/tags",
        Signed,
        "iam:UntagUser",
        USER,
    ),
    r(
        "POST",
        "/v1/users/{name}/disable",
        Signed,
        "iam:DisableUser",
        USER,
    ),
    r(
        "POST",
        "/v1/users/{name}/enable",
        Signed,
        "iam:EnableUser",
        USER,
    ),
    r(
        "GET",
        "/v1/users/{name}/groups",
        Signed,
        "iam:ListGroupsForUser",
        USER,
    ),
    r(
        "PUT",
        "/v1/users/{name}/permissions-boundary",
        Signed,
        "iam:PutUserPermissionsBoundary",
        USER,
    ),
    r(
        "DELETE",
        "/v1/users/{name}/permissions-boundary",
        Signed,
        "iam:DeleteUserPermissionsBoundary",
        USER,
    ),
    r(
        "PUT",
        "/v1/users/{name}/login-profile",
        Signed,
        "iam:CreateLoginProfile / iam:UpdateLoginProfile",
        USER,
    ),
    r(
        "POST",
        "/v1/users/{name}/login-profile",
        Signed,
        "iam:CreateLoginProfile",
        USER,
    ),
    r(
        "GET",
        "/v1/users/{name}/login-profile",
        Signed,
        "iam:GetLoginProfile",
        USER,
    ),
    r(
        "PATCH",
        "/v1/users/{name}/login-profile",
        Signed,
        "iam:UpdateLoginProfile",
        USER,
    ),
    r(
        "DELETE",
        "/v1/users/{name}/login-profile",
        Signed,
        "iam:DeleteLoginProfile",
        USER,
    ),
    r(
        "GET",
        "/v1/users/{name}/sessions",
        Signed,
        "iam:ListSessions",
        USER,
    ),
    r(
        "DELETE",
        "/v1/users/{name}/sessions",
        Signed,
        "iam:RevokeSession",
        USER,
    ),
    r(
        "DELETE",
        "/v1/users/{name}/sessions/{id}",
        Signed,
        "iam:RevokeSession",
        USER,
    ),
    r(
        "POST",
        "/v1/users/{name}/access-keys",
        Signed,
        "iam:CreateAccessKey",
        USER,
    ),
    r(
        "GET",
        "/v1/users/{name}/access-keys",
        Signed,
        "iam:ListAccessKeys",
        USER,
    ),
    r(
        "PATCH",
        "/v1/users/{name}/access-keys/{id}",
        Signed,
        "iam:UpdateAccessKey",
        USER,
    ),
    r(
        "DELETE",
        "/v1/users/{name}/access-keys/{id}",
        Signed,
        "iam:DeleteAccessKey",
        USER,
    ),
    r(
        "GET",
        "/v1/access-keys/{id}/last-used",
        Signed,
        "iam:GetAccessKeyLastUsed",
        "arn:ward:iam::{account}:user{path}{name} of the key's owner",
    ),
    r(
        "POST",
        "/v1/users/{name}/ssh-keys",
        Signed,
        "iam:UploadSSHPublicKey",
        USER,
    ),
    r(
        "GET",
        "/v1/users/{name}/ssh-keys",
        Signed,
        "iam:ListSSHPublicKeys",
        USER,
    ),
    r(
        "GET",
        "/v1/users/{name}/ssh-keys/{id}",
        Signed,
        "iam:GetSSHPublicKey",
        USER,
    ),
    r(
        "PATCH",
        "/v1/users/{name}/ssh-keys/{id}",
        Signed,
        "iam:UpdateSSHPublicKey",
        USER,
    ),
    r(
        "DELETE",
        "/v1/users/{name}/ssh-keys/{id}",
        Signed,
        "iam:DeleteSSHPublicKey",
        USER,
    ),
    // Virtual MFA devices (issue #14 item 3).
    r(
        "POST",
        "/v1/mfa-devices",
        Signed,
        "iam:CreateVirtualMFADevice",
        "arn:ward:iam::{account}:mfa/{virtualMfaDeviceName}",
    ),
    r(
        "DELETE",
        "/v1/mfa-devices/{name}",
        Signed,
        "iam:DeleteVirtualMFADevice",
        MFA,
    ),
    r(
        "GET",
        "/v1/mfa-devices",
        Signed,
        "iam:ListVirtualMFADevices",
        "arn:ward:iam::{account}:mfa/*",
    ),
    r(
        "POST",
        "/v1/users/{name}/mfa-devices",
        Signed,
        "iam:EnableMFADevice",
        USER,
    ),
    r(
        "GET",
        "/v1/users/{name}/mfa-devices",
        Signed,
        "iam:ListMFADevices",
        USER,
    ),
    r(
        "DELETE",
        "/v1/users/{name}/mfa-devices/{device}",
        Signed,
        "iam:DeactivateMFADevice",
        USER,
    ),
    r(
        "POST",
        "/v1/users/{name}/mfa-devices/{device}/resync",
        Signed,
        "iam:ResyncMFADevice",
        USER,
    ),
    r(
        "POST",
        "/v1/users/{name}/certificates/revoke",
        Signed,
        "ca:RevokeCertificate",
        "arn:ward:ca::{account}:certificate/* (and the user)",
    ),
    r(
        "POST",
        "/v1/change-password",
        Signed,
        "iam:ChangePassword",
        "the caller's own user ARN",
    ),
    // Groups.
    r("POST", "/v1/groups", Signed, "iam:CreateGroup", GROUP),
    r("GET", "/v1/groups", Signed, "iam:ListGroups", GROUPS),
    r("GET", "/v1/groups/{name}", Signed, "iam:GetGroup", GROUP),
    r(
        "PATCH",
        "/v1/groups/{name}",
        Signed,
        "iam:UpdateGroup",
        GROUP,
    ),
    r(
        "DELETE",
        "/v1/groups/{name}",
        Signed,
        "iam:DeleteGroup",
        GROUP,
    ),
    r(
        "PUT",
        "/v1/groups/{name}/users/{user}",
        Signed,
        "iam:AddUserToGroup",
        GROUP,
    ),
    r(
        "DELETE",
        "/v1/groups/{name}/users/{user}",
        Signed,
        "iam:RemoveUserFromGroup",
        GROUP,
    ),
    // Managed policies.
    r("POST", "/v1/policies", Signed, "iam:CreatePolicy", POLICY),
    r("GET", "/v1/policies", Signed, "iam:ListPolicies", POLICIES),
    r(
        "GET",
        "/v1/policies/{name}",
        Signed,
        "iam:GetPolicy",
        POLICY,
    ),
    r(
        "DELETE",
        "/v1/policies/{name}",
        Signed,
        "iam:DeletePolicy",
        POLICY,
    ),
    r(
        "GET",
        "/v1/policies/{name}/entities",
        Signed,
        "iam:ListEntitiesForPolicy",
        POLICY,
    ),
    r(
        "POST",
        "/v1/policies/{name}/tags",
        Signed,
        "iam:TagPolicy",
        POLICY,
    ),
    r(
        "DELETE",
        "/v1/policies/{name}/tags",
        Signed,
        "iam:UntagPolicy",
        POLICY,
    ),
    r(
        "GET",
        "/v1/policies/{name}/tags",
        Signed,
        "iam:ListPolicyTags",
        POLICY,
    ),
    r(
        "POST",
        "/v1/policies/{name}/versions",
        Signed,
        "iam:CreatePolicyVersion",
        POLICY,
    ),
    r(
        "GET",
        "/v1/policies/{name}/versions",
        Signed,
        "iam:ListPolicyVersions",
        POLICY,
    ),
    r(
        "GET",
        "/v1/policies/{name}/versions/{v}",
        Signed,
        "iam:GetPolicyVersion",
        POLICY,
    ),
    r(
        "DELETE",
        "/v1/policies/{name}/versions/{v}",
        Signed,
        "iam:DeletePolicyVersion",
        POLICY,
    ),
    r(
        "PUT",
        "/v1/policies/{name}/default-version",
        Signed,
        "iam:SetDefaultPolicyVersion",
        POLICY,
    ),
    // Attached and inline policies of users and groups.
    r(
        "GET",
        "/v1/users/{name}/attached-policies",
        Signed,
        "iam:ListAttachedUserPolicies",
        USER,
    ),
    r(
        "PUT",
        "/v1/users/{name}/attached-policies/{policy}",
        Signed,
        "iam:AttachUserPolicy",
        USER,
    ),
    r(
        "DELETE",
        "/v1/users/{name}/attached-policies/{policy}",
        Signed,
        "iam:DetachUserPolicy",
        USER,
    ),
    r(
        "GET",
        "/v1/users/{name}/policies",
        Signed,
        "iam:ListUserPolicies",
        USER,
    ),
    r(
        "PUT",
        "/v1/users/{name}/policies/{pname}",
        Signed,
        "iam:PutUserPolicy",
        USER,
    ),
    r(
        "GET",
        "/v1/users/{name}/policies/{pname}",
        Signed,
        "iam:GetUserPolicy",
        USER,
    ),
    r(
        "DELETE",
        "/v1/users/{name}/policies/{pname}",
        Signed,
        "iam:DeleteUserPolicy",
        USER,
    ),
    r(
        "GET",
        "/v1/groups/{name}/attached-policies",
        Signed,
        "iam:ListAttachedGroupPolicies",
        GROUP,
    ),
    r(
        "PUT",
        "/v1/groups/{name}/attached-policies/{policy}",
        Signed,
        "iam:AttachGroupPolicy",
        GROUP,
    ),
    r(
        "DELETE",
        "/v1/groups/{name}/attached-policies/{policy}",
        Signed,
        "iam:DetachGroupPolicy",
        GROUP,
    ),
    r(
        "GET",
        "/v1/groups/{name}/policies",
        Signed,
        "iam:ListGroupPolicies",
        GROUP,
    ),
    r(
        "PUT",
        "/v1/groups/{name}/policies/{pname}",
        Signed,
        "iam:PutGroupPolicy",
        GROUP,
    ),
    r(
        "GET",
        "/v1/groups/{name}/policies/{pname}",
        Signed,
        "iam:GetGroupPolicy",
        GROUP,
    ),
    r(
        "DELETE",
        "/v1/groups/{name}/policies/{pname}",
        Signed,
        "iam:DeleteGroupPolicy",
        GROUP,
    ),
    // Roles (issue #14).
    r("POST", "/v1/roles", Signed, "iam:CreateRole", ROLE),
    r("GET", "/v1/roles", Signed, "iam:ListRoles", ROLES),
    r("GET", "/v1/roles/{name}", Signed, "iam:GetRole", ROLE),
    r("PATCH", "/v1/roles/{name}", Signed, "iam:UpdateRole", ROLE),
    r("DELETE", "/v1/roles/{name}", Signed, "iam:DeleteRole", ROLE),
    r(
        "PUT",
        "/v1/roles/{name}/trust-policy",
        Signed,
        "iam:UpdateAssumeRolePolicy",
        ROLE,
    ),
    r("POST", "/v1/roles/{name}/tags", Signed, "iam:TagRole", ROLE),
    r(
        "DELETE",
        "/v1/roles/{name}/tags",
        Signed,
        "iam:UntagRole",
        ROLE,
    ),
    r(
        "PUT",
        "/v1/roles/{name}/permissions-boundary",
        Signed,
        "iam:PutRolePermissionsBoundary",
        ROLE,
    ),
    r(
        "DELETE",
        "/v1/roles/{name}/permissions-boundary",
        Signed,
        "iam:DeleteRolePermissionsBoundary",
        ROLE,
    ),
    r(
        "POST",
        "/v1/roles/{name}/revoke-sessions",
        Signed,
        "iam:PutRolePolicy",
        ROLE,
    ),
    r(
        "GET",
        "/v1/roles/{name}/attached-policies",
        Signed,
        "iam:ListAttachedRolePolicies",
        ROLE,
    ),
    r(
        "PUT",
        "/v1/roles/{name}/attached-policies/{policy}",
        Signed,
        "iam:AttachRolePolicy",
        ROLE,
    ),
    r(
        "DELETE",
        "/v1/roles/{name}/attached-policies/{policy}",
        Signed,
        "iam:DetachRolePolicy",
        ROLE,
    ),
    r(
        "GET",
        "/v1/roles/{name}/policies",
        Signed,
        "iam:ListRolePolicies",
        ROLE,
    ),
    r(
        "PUT",
        "/v1/roles/{name}/policies/{pname}",
        Signed,
        "iam:PutRolePolicy",
        ROLE,
    ),
    r(
        "GET",
        "/v1/roles/{name}/policies/{pname}",
        Signed,
        "iam:GetRolePolicy",
        ROLE,
    ),
    r(
        "DELETE",
        "/v1/roles/{name}/policies/{pname}",
        Signed,
        "iam:DeleteRolePolicy",
        ROLE,
    ),
    // Temporary credentials (issue #14).
    r(
        "POST",
        "/v1/sts/assume-role",
        Signed,
        "sts:AssumeRole (+ sts:TagSession with tags)",
        "arn:ward:iam::{account}:role{path}{roleName} (with its trust policy)",
    ),
    r(
        "POST",
        "/v1/sts/session-token",
        Signed,
        "sts:GetSessionToken",
        "the caller's own user ARN",
    ),
    // Identity pools (issue #14 item 4). The guest routes take no
    // credentials: the role's trust policy decides, for the federated
    // principal identity.ward.
    r(
        "POST",
        "/v1/identity-pools",
        Signed,
        "identity:CreateIdentityPool (+ iam:PassRole on each role named)",
        "arn:ward:identity::{account}:identity-pool/{newId} (iam:PassRole: the role)",
    ),
    r(
        "GET",
        "/v1/identity-pools",
        Signed,
        "identity:ListIdentityPools",
        "arn:ward:identity::{account}:identity-pool/*",
    ),
    r(
        "GET",
        "/v1/identity-pools/{id}",
        Signed,
        "identity:DescribeIdentityPool",
        POOL,
    ),
    r(
        "PATCH",
        "/v1/identity-pools/{id}",
        Signed,
        "identity:UpdateIdentityPool (+ iam:PassRole on each role named)",
        "arn:ward:identity::{account}:identity-pool/{id} (iam:PassRole: the role)",
    ),
    r(
        "DELETE",
        "/v1/identity-pools/{id}",
        Signed,
        "identity:DeleteIdentityPool",
        POOL,
    ),
    r(
        "GET",
        "/v1/identity-pools/{id}/tags",
        Signed,
        "identity:ListTagsForResource",
        POOL,
    ),
    r(
        "POST",
        "/v1/identity-pools/{id}/tags",
        Signed,
        "identity:TagResource",
        POOL,
    ),
    r(
        "DELETE",
        "/v1/identity-pools/{id}/tags",
        Signed,
        "identity:UntagResource",
        POOL,
    ),
    r(
        "POST",
        "/v1/identity/id",
        Signed,
        "identity:GetId",
        "arn:ward:identity::{account}:identity-pool/{identityPoolId}",
    ),
    r(
        "POST",
        "/v1/identity/credentials",
        Signed,
        "identity:GetCredentialsForIdentity (+ sts:AssumeRoleWithWebIdentity by the trust policy)",
        "arn:ward:identity::{account}:identity-pool/{pool} (the role: its trust policy)",
    ),
    r(
        "POST",
        "/v1/identity/guest/id",
        Public,
        "identity:GetId (no policy: the pool must allow guests)",
        "arn:ward:identity::{account}:identity-pool/{identityPoolId}",
    ),
    r(
        "POST",
        "/v1/identity/guest/credentials",
        Public,
        "sts:AssumeRoleWithWebIdentity (the role's trust policy)",
        "arn:ward:iam::{account}:role{path}{unauthenticatedRole}",
    ),
    // Simulation.
    r(
        "POST",
        "/v1/simulate/principal",
        Signed,
        "iam:SimulatePrincipalPolicy",
        "arn:ward:iam::{account}:user{path}{policySourceUser}",
    ),
    r(
        "POST",
        "/v1/simulate/custom",
        Signed,
        "iam:SimulateCustomPolicy",
        "*",
    ),
    r(
        "POST",
        "/v1/simulate/matrix",
        Signed,
        "iam:SimulatePrincipalPolicy (each user; iam:ListUsers, host:ListHosts or host:GetHost for the lists)",
        "arn:ward:iam::{account}:user{path}{userName}",
    ),
    r(
        "GET",
        "/v1/account/summary",
        Signed,
        "iam:GetAccountSummary",
        "*",
    ),
    r(
        "GET",
        "/v1/account/authorization-details",
        Signed,
        "iam:GetAccountAuthorizationDetails",
        "*",
    ),
    // Certificates.
    r(
        "POST",
        "/v1/ssh/user-certificates",
        Signed,
        "ca:IssueSshUserCertificate",
        "arn:ward:ca::{account}:authority/ssh-user",
    ),
    r(
        "POST",
        "/v1/x509/client-certificates",
        Signed,
        "ca:IssueX509Certificate",
        "arn:ward:ca::{account}:authority/x509-client",
    ),
    r(
        "GET",
        "/v1/certificates",
        Signed,
        "ca:ListCertificates",
        "arn:ward:ca::{account}:certificate/*",
    ),
    r(
        "POST",
        "/v1/certificates/{serial}/revoke",
        Signed,
        "ca:RevokeCertificate",
        "arn:ward:ca::{account}:certificate/{serial}",
    ),
    // Hosts.
    r("POST", "/v1/hosts", Signed, "host:RegisterHost", HOST),
    r(
        "GET",
        "/v1/hosts",
        Signed,
        "host:ListHosts",
        "arn:ward:host::{account}:host/*",
    ),
    r("GET", "/v1/hosts/{name}", Signed, "host:GetHost", HOST),
    r(
        "DELETE",
        "/v1/hosts/{name}",
        Signed,
        "host:DeregisterHost",
        HOST,
    ),
    r(
        "PATCH",
        "/v1/hosts/{name}",
        Signed,
        "host:RegisterHost",
        "arn:ward:host::{account}:host/{name} (and each new alias)",
    ),
    r(
        "POST",
        "/v1/gateway-sessions/{id}/terminate",
        Signed,
        "host:TerminateSession",
        "arn:ward:host::{account}:host/{gateway} (the gateway that reported the session)",
    ),
    r(
        "POST",
        "/v1/hosts/{name}/ssh-certificate",
        Signed,
        "ca:IssueSshHostCertificate",
        "arn:ward:host::{account}:host/{name} (and each alias)",
    ),
    r(
        "POST",
        "/v1/hosts/{name}/join-tokens",
        Signed,
        "host:RegisterHost",
        HOST,
    ),
    r(
        "POST",
        "/v1/host/join",
        Body,
        "host:Join",
        "arn:ward:host::{account}:host/{tokenHost}",
    ),
    r(
        "POST",
        "/v1/host/renew",
        Host,
        "host:Renew",
        "arn:ward:host::{account}:host/{callingHost}",
    ),
    r("GET", "/v1/host/snapshot", Host, "", ""),
    r(
        "POST",
        "/v1/host/audit",
        Host,
        "host:Login / host:Sudo / host:Connect (as reported)",
        "arn:ward:host::{account}:host/{callingHost}",
    ),
    r(
        "POST",
        "/v1/host/password/verify",
        Host,
        "host:VerifyPassword",
        "arn:ward:iam::{account}:user{path}{user}",
    ),
    r(
        "POST",
        "/v1/host/password/change",
        Host,
        "host:ChangePassword",
        "arn:ward:iam::{account}:user{path}{user}",
    ),
    r(
        "POST",
        "/v1/host/mfa/verify",
        Host,
        "host:VerifyMfa",
        "arn:ward:iam::{account}:user{path}{userName}",
    ),
    r(
        "POST",
        "/v1/host/gateway/session-certificate",
        Host,
        "host:GatewaySessionCertificate",
        "arn:ward:host::{account}:host/{target}",
    ),
    r(
        "PUT",
        "/v1/host/recordings/{id}",
        Host,
        "host:UploadRecording (gateways only; the gateway that reported the session)",
        RECORDING,
    ),
    // Audit.
    r("GET", "/v1/audit/events", Signed, "audit:ListEvents", AUDIT),
    r("GET", "/v1/audit/verify", Signed, "audit:VerifyLog", AUDIT),
    r(
        "GET",
        "/v1/audit/checkpoint",
        Signed,
        "audit:GetCheckpoint",
        AUDIT,
    ),
    r(
        "GET",
        "/v1/recordings",
        Signed,
        "audit:ListRecordings",
        "arn:ward:audit::{account}:recording/*",
    ),
    r("GET", "/v1/recordings/{id}", Signed, "audit:GetRecording", RECORDING),
    // Public trust material.
    r("GET", "/v1/ca/ssh-user-keys", Public, "", ""),
    r("GET", "/v1/ca/ssh-known-hosts", Public, "", ""),
    r("GET", "/v1/ca/ssh-user.krl", Public, "", ""),
    r("GET", "/v1/ca/ssh-host.krl", Public, "", ""),
    r("GET", "/v1/ca/x509-bundle.pem", Public, "", ""),
    r("GET", "/v1/ca/x509.crl", Public, "", ""),
    r("GET", "/v1/ca/x509-crls/{id}", Public, "", ""),
    r("GET", "/v1/ca/audit-key", Public, "", ""),
];

/// The AWS IAM/STS Query API (issue #16): `POST /` (form body) and
/// `GET /?Action=…`, SigV4-scoped to `iam` or `sts`. Each `Action` runs the
/// `/v1/` route doing its job (ward-ca's `http::query::actions`), so the
/// action authorized and its resource are that route's.
pub const QUERY_API: &[Route] = &[
    r("POST", "/", Signed, PER_ACTION, PER_ACTION),
    r("GET", "/", Signed, PER_ACTION, PER_ACTION),
];

/// What [`QUERY_API`] rows authorize: the mapped route's action.
pub const PER_ACTION: &str = "per Action parameter";

/// `docs/routes.md`: the table in Markdown.
pub fn markdown() -> String {
    let mut out = String::from(
        "# ward-ca routes\n\n\
         Generated from `authz/src/routes.rs` (`ward_authz::routes::ROUTES`) by\n\
         `WARD_BLESS=1 cargo test -p ward-tests --test routes`; do not edit by hand.\n\
         Request and response bodies: `protocol/src/api.rs`.\n\n\
         Resource ARNs follow SPEC's grammar (`arn:ward:SERVICE::ACCOUNT:TYPE/ID`). A\n\
         gateway's session recording belongs to the audit service, beside the log:\n\
         `arn:ward:audit::ACCOUNT:recording/ID`, ID being the recording id (`gws-` and 32\n\
         hex digits; `recording/*` for all of them).\n\n\
         | method | path | authentication | action | resource |\n\
         |---|---|---|---|---|\n",
    );
    for r in ROUTES.iter().chain(QUERY_API) {
        let cell = |s: &str| {
            if s.is_empty() {
                "—".to_owned()
            } else {
                format!("`{s}`")
            }
        };
        out.push_str(&format!(
            "| {} | `{}` | {} | {} | {} |\n",
            r.method,
            r.path,
            r.auth.as_str(),
            cell(r.action),
            cell(r.resource),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_route_once_and_well_formed() {
        let mut seen = std::collections::BTreeSet::new();
        for r in ROUTES {
            assert!(
                seen.insert((r.method, r.path)),
                "{} {} twice",
                r.method,
                r.path
            );
            assert!(r.path.starts_with("/v1/"), "{}", r.path);
            assert!(
                matches!(r.method, "GET" | "POST" | "PUT" | "PATCH" | "DELETE"),
                "{}",
                r.method
            );
            assert_eq!(r.action.is_empty(), r.resource.is_empty(), "{}", r.path);
            // Only public material and the host snapshot authorize nothing.
            if r.action.is_empty() {
                assert!(
                    r.auth == Auth::Public || r.path == "/v1/host/snapshot",
                    "{}",
                    r.path
                );
            }
            // Host principals reach /v1/host/* only, and nothing else is there.
            assert_eq!(
                r.auth == Auth::Host,
                r.path.starts_with("/v1/host/") && r.path != "/v1/host/join",
                "{}",
                r.path
            );
        }
    }

    #[test]
    fn query_api_rows_are_signed_and_at_the_root() {
        for r in QUERY_API {
            assert_eq!((r.path, r.auth, r.action), ("/", Auth::Signed, PER_ACTION));
            assert!(!ROUTES.iter().any(|x| x.path == r.path));
        }
    }

    #[test]
    fn actions_are_known_to_ward_policy() {
        // Granted by ward-ca itself, never by a policy: the credential is
        // the token or the host certificate.
        const SYSTEM: &[&str] = &[
            "host:Join",
            "host:Renew",
            "host:VerifyPassword",
            "host:ChangePassword",
            "host:VerifyMfa",
            // Granted to enrolled gateways only; ward-ca decides the
            // user's host:Login itself.
            "host:GatewaySessionCertificate",
            // Granted to the gateway that reported the recorded session.
            "host:UploadRecording",
            // Granted to the account root only (its own sessions).
            "ward:ListRootSessions",
            "ward:SignOutOtherRootSessions",
        ];
        for r in ROUTES {
            for a in r.action.split(" / ") {
                let a = a.split(' ').next().unwrap_or("");
                if a.is_empty() || SYSTEM.contains(&a) {
                    continue;
                }
                let (service, name) = a.split_once(':').unwrap_or(("", a));
                assert!(
                    ward_policy::actions::is_known(service, name),
                    "{} {}: {a} is not in ward-policy's action list",
                    r.method,
                    r.path
                );
            }
        }
    }
}
