//! ward-ca `/v1/` JSON API types. Requests reject unknown fields; every
//! response object is camelCase. Routes (all under `https://HOST:8443`;
//! `ward_authz::routes::ROUTES` is the authoritative list, with resource
//! ARNs in the generated `docs/routes.md`, and `tests/tests/routes.rs`
//! holds this table to it):
//!
//! | method & path | action | body → response |
//! |---|---|---|
//! | `POST /v1/login` (no auth) | `sts:GetSessionToken` | [`LoginRequest`] → [`Credentials`] |
//! | `GET /v1/whoami` | `sts:GetCallerIdentity` | → [`CallerIdentity`] |
//! | `GET /v1/root/sessions` | `ward:ListRootSessions` (root only) | → [`RootSessionList`] |
//! | `POST /v1/root/sessions/sign-out-others` | `ward:SignOutOtherRootSessions` (root only) | → [`RootSessionsEnded`] |
//! | `POST /v1/users` | `iam:CreateUser` | [`CreateUser`] → [`User`] |
//! | `GET /v1/users?pathPrefix&marker&maxItems` | `iam:ListUsers` | → [`UserList`] |
//! | `GET /v1/users/{name}` | `iam:GetUser` | → [`User`] |
//! | `PATCH /v1/users/{name}` | `iam:UpdateUser` | [`UpdateUser`] → [`User`] |
//! | `DELETE /v1/users/{name}` | `iam:DeleteUser` | → 204 |
//! | `POST /v1/users/{name}/disable` | `iam:DisableUser` | → [`User`] (every credential refused; root cannot be disabled) |
//! | `POST /v1/users/{name}/enable` | `iam:EnableUser` | → [`User`] |
//! | `POST /v1/users/{name}/tags` | `iam:TagUser` | [`TagRequest`] → [`User`] |
//! | `DELETE /v1/users/{name}/tags?keys=a,b` | `iam:UntagUser` | → [`User`] |
//! | `GET /v1/users/{name}/groups` | `iam:ListGroupsForUser` | → [`GroupList`] |
//! | `POST /v1/groups` | `iam:CreateGroup` | [`CreateGroup`] → [`Group`] |
//! | `GET /v1/groups` | `iam:ListGroups` | → [`GroupList`] |
//! | `GET /v1/groups/{name}` | `iam:GetGroup` | → [`GroupDetail`] |
//! | `PATCH /v1/groups/{name}` | `iam:UpdateGroup` | [`UpdateGroup`] → [`Group`] (members and policies kept) |
//! | `DELETE /v1/groups/{name}` | `iam:DeleteGroup` | → 204 |
//! | `PUT /v1/groups/{g}/users/{u}` | `iam:AddUserToGroup` | → 204 |
//! | `DELETE /v1/groups/{g}/users/{u}` | `iam:RemoveUserFromGroup` | → 204 |
//! | `POST /v1/policies` | `iam:CreatePolicy` | [`CreatePolicy`] → [`ManagedPolicy`] |
//! | `GET /v1/policies` | `iam:ListPolicies` | → [`PolicyList`] |
//! | `GET /v1/policies/{name}` | `iam:GetPolicy` | → [`ManagedPolicy`] (with default document) |
//! | `DELETE /v1/policies/{name}` | `iam:DeletePolicy` | → 204 |
//! | `GET /v1/policies/{name}/entities` | `iam:ListEntitiesForPolicy` | → [`PolicyEntities`] |
//! | `POST /v1/policies/{name}/tags` | `iam:TagPolicy` | [`TagRequest`] → 204 |
//! | `DELETE /v1/policies/{name}/tags?keys=a,b` | `iam:UntagPolicy` | → 204 |
//! | `GET /v1/policies/{name}/tags` | `iam:ListPolicyTags` | → [`TagList`] |
//! | `POST /v1/policies/{name}/versions` | `iam:CreatePolicyVersion` | [`CreatePolicyVersion`] → [`PolicyVersion`] |
//! | `GET /v1/policies/{name}/versions` | `iam:ListPolicyVersions` | → [`PolicyVersionList`] |
//! | `GET /v1/policies/{name}/versions/{v}` | `iam:GetPolicyVersion` | → [`PolicyVersion`] |
//! | `PUT /v1/policies/{name}/default-version` | `iam:SetDefaultPolicyVersion` | [`SetDefaultVersion`] → 204 |
//! | `DELETE /v1/policies/{name}/versions/{v}` | `iam:DeletePolicyVersion` | → 204 |
//! | `PUT /v1/{users|groups|roles}/{name}/attached-policies/{policy}` | `iam:Attach{User,Group,Role}Policy` | → 204 |
//! | `DELETE /v1/{users|groups|roles}/{name}/attached-policies/{policy}` | `iam:Detach…Policy` | → 204 |
//! | `GET /v1/{users|groups|roles}/{name}/attached-policies` | `iam:ListAttached…Policies` | → [`PolicyList`] |
//! | `PUT /v1/{users|groups|roles}/{name}/policies/{pname}` | `iam:Put{User,Group,Role}Policy` | [`PutInlinePolicy`] → 204 |
//! | `GET /v1/{users|groups|roles}/{name}/policies/{pname}` | `iam:Get…Policy` | → [`InlinePolicy`] |
//! | `GET /v1/{users|groups|roles}/{name}/policies` | `iam:List…Policies` | → [`InlinePolicyList`] |
//! | `DELETE /v1/{users|groups|roles}/{name}/policies/{pname}` | `iam:Delete…Policy` | → 204 |
//! | `PUT /v1/users/{name}/permissions-boundary` | `iam:PutUserPermissionsBoundary` | [`SetBoundary`] → 204 |
//! | `DELETE /v1/users/{name}/permissions-boundary` | `iam:DeleteUserPermissionsBoundary` | → 204 |
//! | `PUT /v1/users/{name}/login-profile` | `iam:CreateLoginProfile` / `UpdateLoginProfile` | [`LoginProfile`] → 204 |
//! | `POST /v1/users/{name}/login-profile` | `iam:CreateLoginProfile` | [`LoginProfile`] → 201 [`LoginProfileInfo`] (409 `EntityAlreadyExists` if one exists) |
//! | `GET /v1/users/{name}/login-profile` | `iam:GetLoginProfile` | → [`LoginProfileInfo`] |
//! | `PATCH /v1/users/{name}/login-profile` | `iam:UpdateLoginProfile` | [`UpdateLoginProfile`] → 204 (404 if the user has none) |
//! | `DELETE /v1/users/{name}/login-profile` | `iam:DeleteLoginProfile` | → 204 |
//! | `GET /v1/users/{name}/sessions` | `iam:ListSessions` | → [`SessionList`] |
//! | `DELETE /v1/users/{name}/sessions` | `iam:RevokeSession` (all) | → [`RevokedSessions`] |
//! | `DELETE /v1/users/{name}/sessions/{id}` | `iam:RevokeSession` | → 204 |
//! | `POST /v1/users/{name}/access-keys` | `iam:CreateAccessKey` | → [`NewAccessKey`] (secret shown once) |
//! | `GET /v1/users/{name}/access-keys` | `iam:ListAccessKeys` | → [`AccessKeyList`] |
//! | `PATCH /v1/users/{name}/access-keys/{id}` | `iam:UpdateAccessKey` | [`UpdateAccessKey`] → 204 |
//! | `DELETE /v1/users/{name}/access-keys/{id}` | `iam:DeleteAccessKey` | → 204 |
//! | `GET /v1/access-keys/{id}/last-used` | `iam:GetAccessKeyLastUsed` (on the key's user) | → [`AccessKeyLastUsed`] |
//! | `POST /v1/change-password` | `iam:ChangePassword` (own user) | [`ChangePassword`] → 204 |
//! | `POST /v1/users/{name}/ssh-keys` | `iam:UploadSSHPublicKey` | [`UploadSshPublicKey`] → [`SshPublicKey`] |
//! | `GET /v1/users/{name}/ssh-keys` | `iam:ListSSHPublicKeys` | → [`SshPublicKeyList`] |
//! | `GET /v1/users/{name}/ssh-keys/{id}` | `iam:GetSSHPublicKey` | → [`SshPublicKey`] |
//! | `PATCH /v1/users/{name}/ssh-keys/{id}` | `iam:UpdateSSHPublicKey` | [`UpdateAccessKey`] (status) → 204 |
//! | `DELETE /v1/users/{name}/ssh-keys/{id}` | `iam:DeleteSSHPublicKey` | → 204 |
//! | `POST /v1/mfa-devices` | `iam:CreateVirtualMFADevice` | [`CreateVirtualMfaDevice`] → [`VirtualMfaDevice`] (seed shown once) |
//! | `DELETE /v1/mfa-devices/{name}` | `iam:DeleteVirtualMFADevice` | → 204 |
//! | `GET /v1/mfa-devices?assignmentStatus` | `iam:ListVirtualMFADevices` | → [`VirtualMfaDeviceList`] |
//! | `POST /v1/users/{name}/mfa-devices` | `iam:EnableMFADevice` | [`EnableMfaDevice`] → [`MfaDevice`] |
//! | `GET /v1/users/{name}/mfa-devices` | `iam:ListMFADevices` | → [`MfaDeviceList`] |
//! | `DELETE /v1/users/{name}/mfa-devices/{device}` | `iam:DeactivateMFADevice` | → 204 |
//! | `POST /v1/users/{name}/mfa-devices/{device}/resync` | `iam:ResyncMFADevice` | [`ResyncMfaDevice`] → 204 |
//! | `POST /v1/simulate/principal` | `iam:SimulatePrincipalPolicy` | [`SimulatePrincipalPolicy`] → [`SimulationResults`] |
//! | `POST /v1/simulate/custom` | `iam:SimulateCustomPolicy` | [`SimulateCustomPolicy`] → [`SimulationResults`] |
//! | `POST /v1/simulate/matrix` | `iam:SimulatePrincipalPolicy` per user (+ `iam:ListUsers`, `host:ListHosts` / `host:GetHost`) | [`SimulateMatrix`] → [`SimulationMatrix`] |
//! | `POST /v1/ssh/user-certificates` | `ca:IssueSshUserCertificate` | [`SshCertificateRequest`] → [`SshCertificate`] |
//! | `POST /v1/x509/client-certificates` | `ca:IssueX509Certificate` | [`X509CertificateRequest`] → [`X509Certificate`] |
//! | `POST /v1/hosts` | `host:RegisterHost` | [`RegisterHost`] → [`Host`] |
//! | `GET /v1/hosts` | `host:ListHosts` | → [`HostList`] |
//! | `GET /v1/hosts/{name}` | `host:GetHost` | → [`Host`] |
//! | `DELETE /v1/hosts/{name}` | `host:DeregisterHost` | → 204 |
//! | `POST /v1/gateway-sessions/{id}/terminate` | `host:TerminateSession` (on the gateway) | → 202 [`GatewaySessionTermination`] |
//! | `PATCH /v1/hosts/{name}` | `host:RegisterHost` (the host and each new alias) | [`UpdateHost`] → [`Host`] |
//! | `POST /v1/hosts/{name}/ssh-certificate` | `ca:IssueSshHostCertificate` | [`HostCertificateRequest`] → [`SshCertificate`] |
//! | `POST /v1/hosts/{name}/join-tokens` | `host:RegisterHost` | [`crate::host::CreateJoinToken`] → [`crate::host::JoinToken`] (one-time) |
//! | `POST /v1/host/join` (join token in body) | `host:Join` | [`crate::host::JoinRequest`] → [`crate::host::JoinResponse`] |
//! | `POST /v1/host/renew` (host certificate) | `host:Renew` | [`crate::host::RenewRequest`] → [`crate::host::JoinResponse`] |
//! | `GET /v1/host/snapshot?wait` (host certificate) | none | → [`crate::host::Snapshot`] (`ETag`, `If-None-Match` → 304, `wait` long-polls) |
//! | `POST /v1/host/audit` (host certificate) | the reported `host:*` actions | [`crate::host::AuditBatch`] → [`crate::host::AuditAccepted`] |
//! | `POST /v1/host/password/verify` (host certificate) | host:VerifyPassword | [`crate::host::VerifyPassword`] → [`crate::host::PasswordVerdict`] |
//! | `POST /v1/host/password/change` (host certificate) | host:ChangePassword | [`crate::host::ChangeHostPassword`] → [`crate::host::PasswordVerdict`] |
//! | `POST /v1/host/mfa/verify` (host certificate) | host:VerifyMfa | [`crate::host::VerifyMfa`] → [`crate::host::MfaVerified`] |
//! | `POST /v1/host/gateway/session-certificate` (host certificate, gateways only) | host:GatewaySessionCertificate | [`crate::host::GatewaySessionCertificateRequest`] → [`crate::host::GatewaySessionCertificate`] |
//! | `PUT /v1/host/recordings/{id}` (host certificate, gateways only; body: the cast, at most [`crate::host::MAX_RECORDING_BYTES`]) | host:UploadRecording | asciicast v2 (`application/x-asciicast`) → 201/200 [`crate::host::RecordingUploaded`] |
//! | `GET /v1/certificates?user&kind&revoked&validNow&order&limit&marker` | `ca:ListCertificates` | → [`CertificateList`] (newest first; `marker` pages) |
//! | `POST /v1/certificates/{serial}/revoke` | `ca:RevokeCertificate` | → [`Revoked`] |
//! | `POST /v1/users/{name}/certificates/revoke` | `ca:RevokeCertificate` | → [`Revoked`] |
//! | `GET /v1/ca/ssh-user-keys` (no auth) | — | `TrustedUserCAKeys` lines |
//! | `GET /v1/ca/ssh-known-hosts` (no auth) | — | `@cert-authority * …` lines |
//! | `GET /v1/ca/ssh-user.krl` (no auth) | — | OpenSSH KRL (binary) |
//! | `GET /v1/ca/ssh-host.krl` (no auth) | — | OpenSSH KRL of host certificates (binary) |
//! | `GET /v1/ca/x509-bundle.pem` (no auth) | — | root and issuing CA certificates |
//! | `GET /v1/ca/x509.crl` (no auth) | — | CRL, PEM |
//! | `GET /v1/ca/x509-crls/{id}` (no auth) | — | CRL of one issuing key, DER |
//! | `POST /v1/roles` | `iam:CreateRole` | [`CreateRole`] → [`Role`] |
//! | `GET /v1/roles?pathPrefix&marker&maxItems` | `iam:ListRoles` | → [`RoleList`] |
//! | `GET /v1/roles/{name}` | `iam:GetRole` | → [`Role`] |
//! | `PATCH /v1/roles/{name}` | `iam:UpdateRole` | [`UpdateRole`] → [`Role`] |
//! | `DELETE /v1/roles/{name}` | `iam:DeleteRole` | → 204 (409 `DeleteConflict` while policies are attached) |
//! | `PUT /v1/roles/{name}/trust-policy` | `iam:UpdateAssumeRolePolicy` | [`UpdateAssumeRolePolicy`] → 204 |
//! | `POST /v1/roles/{name}/tags` | `iam:TagRole` | [`TagRequest`] → [`Role`] |
//! | `DELETE /v1/roles/{name}/tags?keys=a,b` | `iam:UntagRole` | → [`Role`] |
//! | `PUT /v1/roles/{name}/permissions-boundary` | `iam:PutRolePermissionsBoundary` | [`SetBoundary`] → 204 |
//! | `DELETE /v1/roles/{name}/permissions-boundary` | `iam:DeleteRolePermissionsBoundary` | → 204 |
//! | `POST /v1/roles/{name}/revoke-sessions` | `iam:PutRolePolicy` (AWSRevokeOlderSessions) | → [`RevokedRoleSessions`] |
//! | `POST /v1/sts/assume-role` | `sts:AssumeRole` (trust policy; `sts:TagSession` with tags) | [`AssumeRoleRequest`] → [`AssumeRoleResponse`] |
//! | `POST /v1/sts/session-token` | `sts:GetSessionToken` | [`GetSessionTokenRequest`] → [`Credentials`] |
//! | `POST /v1/identity-pools` | `identity:CreateIdentityPool` (+ `iam:PassRole` on each role named) | [`crate::pools::CreateIdentityPool`] → 201 [`crate::pools::IdentityPool`] |
//! | `GET /v1/identity-pools?maxResults&nextToken` | `identity:ListIdentityPools` | → [`crate::pools::IdentityPoolList`] |
//! | `GET /v1/identity-pools/{id}` | `identity:DescribeIdentityPool` | → [`crate::pools::IdentityPool`] |
//! | `PATCH /v1/identity-pools/{id}` | `identity:UpdateIdentityPool` (+ `iam:PassRole` on each role named) | [`crate::pools::UpdateIdentityPool`] → [`crate::pools::IdentityPool`] |
//! | `DELETE /v1/identity-pools/{id}` | `identity:DeleteIdentityPool` | → 204 |
//! | `GET /v1/identity-pools/{id}/tags` | `identity:ListTagsForResource` | → [`crate::pools::PoolTags`] |
//! | `POST /v1/identity-pools/{id}/tags` | `identity:TagResource` | [`TagRequest`] → [`crate::pools::PoolTags`] |
//! | `DELETE /v1/identity-pools/{id}/tags?keys=a,b` | `identity:UntagResource` | → [`crate::pools::PoolTags`] |
//! | `POST /v1/identity/id` | `identity:GetId` | [`crate::pools::GetIdRequest`] → [`crate::pools::GetIdResponse`] |
//! | `POST /v1/identity/credentials` | `identity:GetCredentialsForIdentity` (then the trust policy) | [`crate::pools::GetCredentialsRequest`] → [`crate::pools::GetCredentialsResponse`] |
//! | `POST /v1/identity/guest/id` | none (the pool must allow guests) | [`crate::pools::GetIdRequest`] → [`crate::pools::GetIdResponse`] |
//! | `POST /v1/identity/guest/credentials` | none (the trust policy decides) | [`crate::pools::GetCredentialsRequest`] → [`crate::pools::GetCredentialsResponse`] |
//! | `GET /v1/account/summary` | `iam:GetAccountSummary` | → [`AccountSummary`] |
//! | `GET /v1/account/authorization-details?filter` | `iam:GetAccountAuthorizationDetails` | → [`AuthorizationDetails`] |
//! | `GET /v1/audit/events?user&action&since&until&afterSeq&limit` | `audit:ListEvents` | → [`AuditEventList`] |
//! | `GET /v1/audit/verify?checkpointSeq&checkpointMac` | `audit:VerifyLog` | → [`AuditVerify`] |
//! | `GET /v1/audit/checkpoint` | `audit:GetCheckpoint` | → [`AuditCheckpoint`] |
//! | `GET /v1/recordings?ids&limit` | `audit:ListRecordings` | → [`RecordingList`] |
//! | `GET /v1/recordings/{id}` | `audit:GetRecording` | → the asciicast v2 bytes (`application/x-asciicast`) |
//! | `GET /v1/ca/audit-key` | none | → [`AuditKey`] |
//!
//! Errors: [`ErrorBody`] with a 4xx status (5xx only for ward's own faults).

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// `{"error": {...}}`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// An error: an AWS-style code, a message for people, and the field at fault.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorDetail {
    /// e.g. `NoSuchEntity`, `AccessDenied`, `SignatureDoesNotMatch`.
    pub code: String,
    /// What happened, in words.
    pub message: String,
    /// The request field at fault, when one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// A key/value tag.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Tag {
    /// Key.
    pub key: String,
    /// Value.
    pub value: String,
}

/// A resource's tags (`GET /v1/policies/{name}/tags`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TagList {
    /// In key order.
    pub tags: Vec<Tag>,
}

/// `POST /v1/users`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateUser {
    /// 1–64 of `[\w+=,.@-]`, unique case-insensitively.
    pub name: String,
    /// Defaults to `/`.
    #[serde(default)]
    pub path: Option<String>,
    /// Up to 50.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Name or ARN of a managed policy to set as the permissions boundary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions_boundary: Option<String>,
}

/// `PATCH /v1/users/{name}`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateUser {
    /// Rename.
    #[serde(default)]
    pub new_name: Option<String>,
    /// Move.
    #[serde(default)]
    pub new_path: Option<String>,
    /// Login shell: an absolute path (no `:`, newline or control
    /// characters, at most 255 bytes); `""` restores the configured default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<String>,
    /// GECOS field (no `:`, newline or control characters, at most 255
    /// bytes); `""` clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gecos: Option<String>,
    /// Home directory: an absolute path without `..` (stored normalised,
    /// no `:`/control characters, at most 255 bytes); `""` restores the
    /// configured template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home: Option<String>,
}

/// `POST /v1/users/{name}/tags`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TagRequest {
    /// Tags to set.
    pub tags: Vec<Tag>,
}

/// A user.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Name.
    pub name: String,
    /// `AIDA…`
    pub user_id: String,
    /// `arn:ward:iam::ACCT:user/PATH/NAME`
    pub arn: String,
    /// Path.
    pub path: String,
    /// Unix uid.
    pub uid: i64,
    /// RFC 3339.
    pub created: String,
    /// Tags.
    pub tags: Vec<Tag>,
    /// ARN of the permissions boundary, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions_boundary: Option<String>,
    /// The POSIX account hosts serve for this user (defaults applied);
    /// `null` when the name is not a portable Unix name (see `warnings`).
    #[serde(default)]
    pub posix: Option<crate::host::Posix>,
    /// True while the user is disabled: every credential is refused.
    #[serde(default)]
    pub disabled: bool,
    /// When the user was disabled (RFC 3339), while disabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<String>,
    /// Things the caller should know, e.g. why there is no POSIX account.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// A page of users.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct UserList {
    /// Users.
    pub users: Vec<User>,
    /// Pass as `marker` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

/// `POST /v1/groups`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateGroup {
    /// 1–128 of `[\w+=,.@-]`.
    pub name: String,
    /// Defaults to `/`.
    #[serde(default)]
    pub path: Option<String>,
}

/// `PATCH /v1/groups/{name}`: rename or move a group (its members,
/// policies and gid stay).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateGroup {
    /// Rename.
    #[serde(default)]
    pub new_name: Option<String>,
    /// Move.
    #[serde(default)]
    pub new_path: Option<String>,
}

/// A group.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// Name.
    pub name: String,
    /// `AGPA…`
    pub group_id: String,
    /// ARN.
    pub arn: String,
    /// Path.
    pub path: String,
    /// Unix gid.
    pub gid: i64,
    /// RFC 3339.
    pub created: String,
}

/// A group with its members.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GroupDetail {
    /// The group.
    pub group: Group,
    /// Member user names.
    pub users: Vec<String>,
}

/// A page of groups.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GroupList {
    /// Groups.
    pub groups: Vec<Group>,
    /// Next page marker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

/// `POST /v1/policies`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreatePolicy {
    /// 1–128 of `[\w+=,.@-]`.
    pub name: String,
    /// Defaults to `/`.
    #[serde(default)]
    pub path: Option<String>,
    /// Up to 1,000 characters.
    #[serde(default)]
    pub description: Option<String>,
    /// The policy document: a JSON object or a JSON string holding one.
    /// Kept as raw text so that ward-ca validates exactly what was sent
    /// (duplicate keys included).
    pub document: Box<RawValue>,
}

/// `POST /v1/policies/{name}/versions`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreatePolicyVersion {
    /// The document (raw, as in [`CreatePolicy`]).
    pub document: Box<RawValue>,
    /// Make it the default version.
    #[serde(default)]
    pub set_as_default: bool,
}

/// `PUT /v1/policies/{name}/default-version`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SetDefaultVersion {
    /// `v3` or `3`.
    pub version_id: String,
}

/// A managed policy.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ManagedPolicy {
    /// Name.
    pub name: String,
    /// `ANPA…`
    pub policy_id: String,
    /// ARN.
    pub arn: String,
    /// Path.
    pub path: String,
    /// Description.
    pub description: String,
    /// `v1`, …
    pub default_version_id: String,
    /// Principals it is attached to.
    pub attachment_count: i64,
    /// Users and roles it is the permissions boundary of.
    #[serde(default)]
    pub boundary_usage_count: i64,
    /// RFC 3339.
    pub created: String,
    /// RFC 3339.
    pub updated: String,
    /// The default version's document (on `GET` of one policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<serde_json::Value>,
}

/// A page of policies.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PolicyList {
    /// Policies.
    pub policies: Vec<ManagedPolicy>,
    /// Next page marker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

/// One version of a managed policy.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PolicyVersion {
    /// `v2`
    pub version_id: String,
    /// Whether it is the default.
    pub is_default: bool,
    /// RFC 3339.
    pub created: String,
    /// The document (on `GET` of one version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<serde_json::Value>,
}

/// A policy's versions.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PolicyVersionList {
    /// Versions, oldest first.
    pub versions: Vec<PolicyVersion>,
}

/// `PUT …/policies/{pname}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PutInlinePolicy {
    /// The document (raw, as in [`CreatePolicy`]).
    pub document: Box<RawValue>,
}

/// An inline policy.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InlinePolicy {
    /// Name.
    pub name: String,
    /// The document.
    pub document: serde_json::Value,
}

/// Inline policy names.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct InlinePolicyList {
    /// Names.
    pub policy_names: Vec<String>,
}

/// `PUT /v1/users/{name}/permissions-boundary`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SetBoundary {
    /// The managed policy's name or ARN.
    pub policy: String,
}

/// `PUT /v1/users/{name}/login-profile`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LoginProfile {
    /// The new password (checked against the password policy).
    pub password: String,
    /// The user must change it at next login.
    #[serde(default)]
    pub password_reset_required: bool,
}

/// `PATCH /v1/users/{name}/login-profile`: AWS's UpdateLoginProfile — only
/// an existing profile, either field or both.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateLoginProfile {
    /// A new password (checked against the password policy).
    #[serde(default)]
    pub password: Option<String>,
    /// Whether the user must change it at next login.
    #[serde(default)]
    pub password_reset_required: Option<bool>,
}

/// `GET` (and `POST`) `/v1/users/{name}/login-profile`: a login profile,
/// without its password.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LoginProfileInfo {
    /// The user.
    pub user_name: String,
    /// RFC 3339: when the profile was created.
    pub created: String,
    /// The user must change the password at next login.
    pub password_reset_required: bool,
}

/// `POST /v1/login`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LoginRequest {
    /// User name.
    pub user_name: String,
    /// Password.
    pub password: String,
    /// The current code of the user's MFA device: required when the user
    /// has one enabled, refused otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_code: Option<String>,
}

/// Temporary credentials (`ASIA…`), usable with SigV4 and the session token
/// header, or the token alone as `Authorization: Bearer TOKEN`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Credentials {
    /// `ASIA…`
    pub access_key_id: String,
    /// Shown once.
    pub secret_access_key: String,
    /// Shown once.
    pub session_token: String,
    /// RFC 3339.
    pub expiration: String,
    /// The password must be changed: these credentials may only call
    /// ChangePassword (and whoami) until it is, then log in again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub password_reset_required: bool,
}

/// One session in [`SessionList`]. Never carries its secrets.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    /// The session id: its `ASIA…` access key id.
    pub id: String,
    /// Owner.
    pub user_name: String,
    /// How it was opened (`password`).
    pub auth_method: String,
    /// RFC 3339.
    pub created: String,
    /// RFC 3339.
    pub expires: String,
    /// The address it was opened from.
    pub source_ip: String,
    /// Opened with a password that must be changed.
    pub password_change_only: bool,
}

/// `GET /v1/users/{name}/sessions`: the user's unexpired sessions.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SessionList {
    /// Oldest first.
    pub sessions: Vec<SessionInfo>,
}

/// `DELETE /v1/users/{name}/sessions`: how many sessions were revoked.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RevokedSessions {
    /// Sessions revoked.
    pub revoked: u64,
}

/// `GET /v1/whoami`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CallerIdentity {
    /// Principal ARN.
    pub arn: String,
    /// Unique id (`AIDA…`), or the account id for root.
    pub user_id: String,
    /// Account id.
    pub account: String,
    /// `access-key`, `session`, `certificate`, …
    pub auth_method: String,
}

/// `POST /v1/users/{name}/access-keys`: the only time the secret is shown.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NewAccessKey {
    /// Owner.
    pub user_name: String,
    /// `AKIA…`
    pub access_key_id: String,
    /// 40 characters; not retrievable later.
    pub secret_access_key: String,
    /// `Active`.
    pub status: String,
    /// RFC 3339.
    pub created: String,
}

/// Access key metadata.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AccessKey {
    /// Owner.
    pub user_name: String,
    /// `AKIA…`
    pub access_key_id: String,
    /// `Active` or `Inactive`.
    pub status: String,
    /// RFC 3339.
    pub created: String,
    /// RFC 3339, if ever used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used: Option<String>,
}

/// `GET /v1/access-keys/{id}/last-used`: when and where a key was last
/// used (all three absent for a key never used).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AccessKeyLastUsed {
    /// The key's owner.
    pub user_name: String,
    /// `AKIA…`
    pub access_key_id: String,
    /// RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_date: Option<String>,
    /// The SigV4 service it last signed for (`ward`, `iam`, `sts`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// The SigV4 region it last signed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// A user's access keys.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AccessKeyList {
    /// Keys.
    pub access_keys: Vec<AccessKey>,
}

/// `PATCH …/access-keys/{id}`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateAccessKey {
    /// `Active` or `Inactive`.
    pub status: String,
}

/// One audit event.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// Sequence number.
    pub seq: i64,
    /// RFC 3339.
    pub time: String,
    /// Principal ARN (or claimed identity).
    pub principal: String,
    /// Action.
    pub action: String,
    /// Resource ARN.
    pub resource: String,
    /// Outcome.
    pub decision: String,
    /// Source address.
    pub source_ip: String,
    /// Detail.
    pub detail: serde_json::Value,
    /// Chain hash.
    pub hash: String,
}

/// A page of audit events.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AuditEventList {
    /// Events, oldest first.
    pub events: Vec<AuditEvent>,
    /// Pass as `afterSeq` for more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_after_seq: Option<i64>,
}

/// `GET /v1/audit/verify`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AuditVerify {
    /// True if every event is intact and linked.
    pub ok: bool,
    /// Events checked.
    pub events: i64,
    /// The first break found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// Events written before the chain was keyed (protected only through
    /// the keyed cut-over event's MAC over their head).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legacy_events: Option<i64>,
    /// The checkpoint sequence number that was also checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_seq: Option<i64>,
}

/// The format tag of [`AuditCheckpoint`] (also the first signed field).
pub const AUDIT_CHECKPOINT_FORMAT: &str = "ward-audit-checkpoint-v1";

/// `GET /v1/audit/checkpoint`: the audit head, signed with the
/// installation's audit key (Ed25519). Kept offline, it lets
/// `ward audit verify --checkpoint` detect rewriting and truncation of
/// everything up to `seq`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AuditCheckpoint {
    /// [`AUDIT_CHECKPOINT_FORMAT`].
    pub format: String,
    /// The installation's 12-digit account id.
    pub account_id: String,
    /// Sequence number of the newest event.
    pub seq: i64,
    /// That event's chain MAC (hex).
    pub mac: String,
    /// When the checkpoint was taken (RFC 3339).
    pub time: String,
    /// The signing key's id.
    pub key_id: String,
    /// The Ed25519 public key (standard base64, 32 bytes).
    pub public_key: String,
    /// Ed25519 signature (standard base64, 64 bytes) over
    /// [`AuditCheckpoint::signed_message`].
    pub signature: String,
}

impl AuditCheckpoint {
    /// The exact bytes signed: a JSON array of every field but the
    /// signature, in a fixed order.
    pub fn signed_message(&self) -> Vec<u8> {
        serde_json::json!([
            self.format,
            self.account_id,
            self.seq,
            self.mac,
            self.time,
            self.key_id,
            self.public_key
        ])
        .to_string()
        .into_bytes()
    }
}

/// `GET /v1/ca/audit-key`: the public key that signs audit checkpoints.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AuditKey {
    /// The installation's account id.
    pub account_id: String,
    /// The key's id.
    pub key_id: String,
    /// Ed25519 public key (standard base64, 32 bytes).
    pub public_key: String,
}

/// `POST /v1/users/{name}/ssh-keys`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UploadSshPublicKey {
    /// One OpenSSH public key line: `TYPE BASE64 [COMMENT]`.
    pub public_key: String,
}

/// An SSH public key of a user.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SshPublicKey {
    /// Owner.
    pub user_name: String,
    /// `APKA…`
    pub ssh_public_key_id: String,
    /// `SHA256:…`
    pub fingerprint: String,
    /// `Active` or `Inactive`.
    pub status: String,
    /// RFC 3339.
    pub uploaded: String,
    /// The key line (on upload and on `GET` of one key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
}

/// A user's SSH public keys.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SshPublicKeyList {
    /// Keys.
    pub ssh_public_keys: Vec<SshPublicKey>,
}

/// `POST /v1/simulate/principal`: how would a user's current policies
/// decide these requests?
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SimulatePrincipalPolicy {
    /// The user: name or ARN.
    pub policy_source_arn: String,
    /// Actions to try (1–100).
    pub action_names: Vec<String>,
    /// Resources to try (default `["*"]`; at most 100).
    #[serde(default)]
    pub resource_arns: Vec<String>,
    /// Extra context keys: strings or lists of strings.
    #[serde(default)]
    pub context_entries: std::collections::BTreeMap<String, serde_json::Value>,
}

/// `POST /v1/simulate/custom`: decide requests against given documents.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SimulateCustomPolicy {
    /// Identity policies (raw documents).
    pub policy_input_list: Vec<Box<RawValue>>,
    /// Permissions boundaries (raw documents).
    #[serde(default)]
    pub permissions_boundary_policy_input_list: Vec<Box<RawValue>>,
    /// A resource (or trust) policy.
    #[serde(default)]
    pub resource_policy: Option<Box<RawValue>>,
    /// The principal to simulate (default: the caller).
    #[serde(default)]
    pub caller_arn: Option<String>,
    /// Actions to try (1–100).
    pub action_names: Vec<String>,
    /// Resources (default `["*"]`).
    #[serde(default)]
    pub resource_arns: Vec<String>,
    /// Extra context keys.
    #[serde(default)]
    pub context_entries: std::collections::BTreeMap<String, serde_json::Value>,
}

/// One simulated decision.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SimulationResult {
    /// Action.
    pub action_name: String,
    /// Resource.
    pub resource_arn: String,
    /// `Allowed`, `ImplicitlyDenied` or `ExplicitlyDenied`.
    pub decision: String,
    /// Why, in words.
    pub message: String,
    /// Statements that applied: `policy#statement (Sid) Effect`.
    pub matched_statements: Vec<String>,
}

/// Simulation results, in action-major order.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SimulationResults {
    /// Results.
    pub results: Vec<SimulationResult>,
}

/// `POST /v1/simulate/matrix`: the access map. One host action decided
/// for users × hosts × local accounts at once, from current policy, each
/// cell as `POST /v1/simulate/principal` would decide it with
/// `host:Principal` (the account), `host:Name` and the host's
/// `ward:ResourceTag/*` added to `contextEntries`. Cells carry decisions
/// only; a cell's explanation is one `simulate/principal` call.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SimulateMatrix {
    /// `host:Login` (the default) or `host:Sudo`.
    #[serde(default)]
    pub action_name: Option<String>,
    /// The rows, by user name; empty: every user, by name, a page at a
    /// time (`maxUsers`, `marker`).
    #[serde(default)]
    pub user_names: Vec<String>,
    /// The hosts, by name; empty: every registered host.
    #[serde(default)]
    pub host_names: Vec<String>,
    /// Local accounts (`host:Principal`), one column each.
    #[serde(default)]
    pub accounts: Vec<String>,
    /// Also a column, first, for each user's own name as the account.
    #[serde(default)]
    pub own_name: bool,
    /// Context for every cell (e.g. `ward:SourceIp`): strings or lists of
    /// strings; not the keys each cell sets.
    #[serde(default)]
    pub context_entries: std::collections::BTreeMap<String, serde_json::Value>,
    /// Most users in a page when `userNames` is empty (default and most:
    /// 1,000).
    #[serde(default)]
    pub max_users: Option<u32>,
    /// Users after this name: the previous page's `marker`.
    #[serde(default)]
    pub marker: Option<String>,
}

/// The answer to [`SimulateMatrix`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SimulationMatrix {
    /// The action decided.
    pub action_name: String,
    /// Host names, in the order of each cell string's characters.
    pub hosts: Vec<String>,
    /// The accounts, in column order after the own-name column.
    pub accounts: Vec<String>,
    /// True if the first column is each user's own name.
    pub own_name: bool,
    /// One row per user, in name order (or the order asked).
    pub rows: Vec<MatrixRow>,
    /// Pass as `marker` for the next page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
    /// The store generation the users and policies were read at.
    pub generation: u64,
}

/// One user's row of a [`SimulationMatrix`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MatrixRow {
    /// The user.
    pub user_name: String,
    /// False if the caller may not simulate this user
    /// (`iam:SimulatePrincipalPolicy`): then no cells, and `message` says
    /// why.
    pub visible: bool,
    /// One string per column (own name first if asked, then `accounts`),
    /// one character per host: `A` Allowed, `D` ExplicitlyDenied, `I`
    /// ImplicitlyDenied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cells: Vec<String>,
    /// Why the row is hidden.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `POST /v1/change-password`: a user changes their own password.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ChangePassword {
    /// The current password.
    pub old_password: String,
    /// The new password (checked against the password policy).
    pub new_password: String,
}

/// `POST /v1/ssh/user-certificates`: sign the caller's public key.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SshCertificateRequest {
    /// One OpenSSH public key line.
    pub public_key: String,
    /// Extra principals (local accounts) besides the user's own name.
    #[serde(default)]
    pub principals: Vec<String>,
    /// Lifetime; default 8 h, at most 24 h, and policy may cap it
    /// (`ca:ValiditySeconds`).
    #[serde(default)]
    pub validity_seconds: Option<i64>,
    /// Pin to these source addresses (CIDRs).
    #[serde(default)]
    pub source_addresses: Option<Vec<String>>,
    /// Extensions beyond `permit-pty`: `permit-port-forwarding`,
    /// `permit-agent-forwarding`, `permit-X11-forwarding`, `permit-user-rc`
    /// (policy sees them as `ca:Extensions`).
    #[serde(default)]
    pub extensions: Vec<String>,
}

/// An issued SSH certificate.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SshCertificate {
    /// The `…-cert-v01@openssh.com` line, for `ssh -o CertificateFile=`.
    pub certificate: String,
    /// Decimal serial.
    pub serial: String,
    /// Key id (the user's unique id).
    pub key_id: String,
    /// Principals.
    pub principals: Vec<String>,
    /// RFC 3339.
    pub valid_after: String,
    /// RFC 3339.
    pub valid_before: String,
}

/// `POST /v1/x509/client-certificates`: certify a CSR's key.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct X509CertificateRequest {
    /// PEM `CERTIFICATE REQUEST`; only its public key is used.
    pub csr: String,
    /// Lifetime; default 24 h, at most 90 days, and policy may cap it.
    #[serde(default)]
    pub validity_seconds: Option<i64>,
}

/// An issued X.509 client certificate.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct X509Certificate {
    /// Leaf certificate, PEM.
    pub certificate: String,
    /// Issuing CA then root, PEM.
    pub chain: String,
    /// 32 hex digits.
    pub serial: String,
    /// RFC 3339.
    pub not_after: String,
}

/// One entry of the issued-certificate inventory.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CertificateRecord {
    /// Serial.
    pub serial: String,
    /// `ssh-user`, `ssh-host`, `x509-client`.
    pub kind: String,
    /// Key id or subject.
    pub subject: String,
    /// Principals or names.
    pub principals: Vec<String>,
    /// Certified key's fingerprint.
    pub key_fingerprint: String,
    /// RFC 3339.
    pub valid_after: String,
    /// RFC 3339.
    pub valid_before: String,
    /// RFC 3339.
    pub issued: String,
    /// RFC 3339, if revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<String>,
    /// The gateway a one-session certificate was issued to (terminating
    /// mode), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
}

/// A page of the inventory.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CertificateList {
    /// Certificates, newest first unless `order=oldest` was asked for.
    pub certificates: Vec<CertificateRecord>,
    /// Send as `marker` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

/// The result of a revocation.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Revoked {
    /// Serials revoked by this call.
    pub serials: Vec<String>,
}

/// `POST /v1/hosts`: register a host.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RegisterHost {
    /// Host name (a DNS name, 1–253 of `[a-z0-9.-]`).
    pub name: String,
    /// Other names or addresses clients use for it (host certificate principals).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Tags (`ward:ResourceTag/K` in policies).
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// A registered host.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Host {
    /// Name.
    pub name: String,
    /// Id.
    pub host_id: String,
    /// `arn:ward:host::ACCT:host/NAME`
    pub arn: String,
    /// Aliases.
    pub aliases: Vec<String>,
    /// Tags.
    pub tags: Vec<Tag>,
    /// RFC 3339.
    pub created: String,
    /// The enrolled agent's state (absent for a host that never joined).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<HostAgent>,
    /// Where a gateway connects to reach it (`HOST` or `HOST:PORT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// `host` or `gateway`, once enrolled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// `PATCH /v1/hosts/{name}`: what an administrator changes of a registered
/// host. An absent field is left as it is; `address: ""` clears it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateHost {
    /// `HOST` or `HOST:PORT` (`[V6]:PORT`): where gateways connect.
    #[serde(default)]
    pub address: Option<String>,
    /// The complete new alias list.
    #[serde(default)]
    pub aliases: Option<Vec<String>>,
}

/// `POST /v1/gateway-sessions/{id}/terminate`: the termination recorded;
/// the gateway ends the session when its snapshot carries it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GatewaySessionTermination {
    /// The session id (`gs-…`).
    pub session_id: String,
    /// The gateway holding it (the host that reported it).
    pub gateway: String,
    /// When the termination was recorded (RFC 3339).
    pub requested_at: String,
}

/// What ward-ca knows of a host's agent (`ward host list`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct HostAgent {
    /// When it joined, RFC 3339.
    pub joined: String,
    /// Last call to a host route, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
    /// Seen within the last 120 s (twice the longest long-poll).
    pub online: bool,
    /// `X-Ward-Agent-Version` of its last call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_version: Option<String>,
    /// Snapshot generation it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation_held: Option<u64>,
    /// Current snapshot generation.
    pub generation_current: u64,
    /// Serial of its X.509 host certificate.
    pub x509_serial: String,
    /// Serial of its SSH host certificate.
    pub ssh_serial: String,
}

/// Registered hosts.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct HostList {
    /// Hosts, by name.
    pub hosts: Vec<Host>,
}

/// `POST /v1/hosts/{name}/ssh-certificate`: certify a host key.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HostCertificateRequest {
    /// The host's public key (one OpenSSH line).
    pub public_key: String,
    /// Lifetime; default 30 days, at most 365 days, policy-capped.
    #[serde(default)]
    pub validity_seconds: Option<i64>,
}

/// `POST /v1/mfa-devices`: a virtual (TOTP) MFA device, not yet enabled.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateVirtualMfaDevice {
    /// 1 to 64 characters of letters, digits and `+=,.@_-`.
    pub virtual_mfa_device_name: String,
}

/// A new virtual MFA device with its seed: shown once, never again.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMfaDevice {
    /// `arn:ward:iam::ACCT:mfa/NAME`.
    pub serial_number: String,
    /// The RFC 6238 seed (HMAC-SHA-1, 6 digits, 30 s), base32.
    pub base32_string_seed: String,
    /// `otpauth://totp/…` for authenticator apps (holds the seed).
    pub otpauth_uri: String,
}

impl std::fmt::Debug for VirtualMfaDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualMfaDevice")
            .field("serial_number", &self.serial_number)
            .finish_non_exhaustive()
    }
}

/// `POST /v1/users/{name}/mfa-devices`: enable a device for the user.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EnableMfaDevice {
    /// The device's serial (`arn:ward:iam::ACCT:mfa/NAME`).
    pub serial_number: String,
    /// A code, then
    pub authentication_code1: String,
    /// the code of the next 30-second step.
    pub authentication_code2: String,
}

/// `POST /v1/users/{name}/mfa-devices/{device}/resync`: two consecutive
/// codes from a device whose clock drifted (up to 10 minutes).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ResyncMfaDevice {
    /// A code, then
    pub authentication_code1: String,
    /// the code of the next 30-second step.
    pub authentication_code2: String,
}

/// A virtual MFA device (`GET /v1/mfa-devices`); never its seed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMfaDeviceInfo {
    /// `arn:ward:iam::ACCT:mfa/NAME`.
    pub serial_number: String,
    /// The user it is enabled for, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// That user's ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_arn: Option<String>,
    /// RFC 3339, when enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_date: Option<String>,
}

/// Virtual MFA devices, by serial number.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct VirtualMfaDeviceList {
    /// Devices.
    pub virtual_mfa_devices: Vec<VirtualMfaDeviceInfo>,
}

/// A user, group or role a managed policy is attached to.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PolicyEntity {
    /// Name.
    pub name: String,
    /// Path.
    pub path: String,
    /// Unique id (`AIDA…`, `AGPA…`, `AROA…`).
    pub id: String,
}

/// `GET /v1/policies/{name}/entities`: where a managed policy is attached
/// (or, with `?usage=boundary`, whose permissions boundary it is: users
/// and roles only).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PolicyEntities {
    /// Users.
    pub policy_users: Vec<PolicyEntity>,
    /// Groups.
    pub policy_groups: Vec<PolicyEntity>,
    /// Roles.
    pub policy_roles: Vec<PolicyEntity>,
}

/// `GET /v1/account/summary`: entity counts and quotas, with AWS's
/// `SummaryMap` keys (`Users`, `UsersQuota`, `Groups`, …).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AccountSummary {
    /// Key → count.
    pub summary_map: std::collections::BTreeMap<String, i64>,
}

/// A managed policy attached to a principal.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AttachedPolicyRef {
    /// Name.
    pub policy_name: String,
    /// ARN.
    pub policy_arn: String,
}

/// A user with what applies to them.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UserAuthorization {
    /// The user (tags, boundary).
    pub user: User,
    /// Names of the groups they are in.
    pub groups: Vec<String>,
    /// Inline policies.
    pub inline_policies: Vec<InlinePolicy>,
    /// Attached managed policies.
    pub attached_policies: Vec<AttachedPolicyRef>,
}

/// A group with its policies.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GroupAuthorization {
    /// The group.
    pub group: Group,
    /// Inline policies.
    pub inline_policies: Vec<InlinePolicy>,
    /// Attached managed policies.
    pub attached_policies: Vec<AttachedPolicyRef>,
}

/// A role with its policies (its trust policy is in `role`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RoleAuthorization {
    /// The role.
    pub role: Role,
    /// Inline policies.
    pub inline_policies: Vec<InlinePolicy>,
    /// Attached managed policies.
    pub attached_policies: Vec<AttachedPolicyRef>,
}

/// A managed policy with every version's document.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PolicyAuthorization {
    /// The policy.
    pub policy: ManagedPolicy,
    /// Its versions, oldest first, with documents.
    pub versions: Vec<PolicyVersion>,
}

/// `GET /v1/account/authorization-details`: the account's IAM state in
/// one snapshot (AWS's GetAccountAuthorizationDetails).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizationDetails {
    /// Users, by name.
    pub users: Vec<UserAuthorization>,
    /// Groups, by name.
    pub groups: Vec<GroupAuthorization>,
    /// Roles, by name.
    pub roles: Vec<RoleAuthorization>,
    /// Managed policies, by name.
    pub policies: Vec<PolicyAuthorization>,
}

/// An MFA device enabled for a user.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MfaDevice {
    /// The user.
    pub user_name: String,
    /// `arn:ward:iam::ACCT:mfa/NAME`.
    pub serial_number: String,
    /// RFC 3339.
    pub enable_date: String,
}

/// A user's MFA devices.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MfaDeviceList {
    /// At most one.
    pub mfa_devices: Vec<MfaDevice>,
}

/// One of the account root's open dashboard sessions.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RootSession {
    /// `ASIA…`, the session's id (as its audit records name it).
    pub id: String,
    /// RFC 3339: signed in.
    pub created: String,
    /// RFC 3339: last request seen (kept to the minute).
    pub last_seen: String,
    /// RFC 3339: when it ends at the latest.
    pub expires: String,
    /// Where it signed in from.
    pub source_ip: String,
    /// The browser's `User-Agent` at sign-in (cut to 256 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// The session making this request.
    pub current: bool,
}

/// `GET /v1/root/sessions`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RootSessionList {
    /// Open sessions, oldest first.
    pub sessions: Vec<RootSession>,
}

/// `POST /v1/root/sessions/sign-out-others`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RootSessionsEnded {
    /// The sessions ended (every one but the caller's).
    pub ended: Vec<String>,
}

// ---- roles and temporary credentials (issue #14) ----------------------

/// `POST /v1/roles`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateRole {
    /// 1–64 of `[\w+=,.@-]`, unique case-insensitively.
    pub name: String,
    /// Defaults to `/`.
    #[serde(default)]
    pub path: Option<String>,
    /// At most 1,000 characters.
    #[serde(default)]
    pub description: Option<String>,
    /// The trust policy (who may assume the role); `Principal` required.
    pub assume_role_policy_document: Box<RawValue>,
    /// 3,600–43,200 seconds; default 3,600.
    #[serde(default)]
    pub max_session_duration: Option<i64>,
    /// Up to 50.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Name or ARN of a managed policy to set as the permissions boundary.
    #[serde(default)]
    pub permissions_boundary: Option<String>,
}

/// `PATCH /v1/roles/{name}`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateRole {
    /// New description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// New maximum session duration (3,600–43,200 seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_session_duration: Option<i64>,
}

/// `PUT /v1/roles/{name}/trust-policy`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateAssumeRolePolicy {
    /// The new trust policy.
    pub document: Box<RawValue>,
}

/// A role.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Role {
    /// Name.
    pub name: String,
    /// `AROA…`
    pub role_id: String,
    /// `arn:ward:iam::ACCT:role/PATH/NAME`
    pub arn: String,
    /// Path.
    pub path: String,
    /// Description.
    pub description: String,
    /// RFC 3339.
    pub created: String,
    /// Seconds.
    pub max_session_duration: i64,
    /// The trust policy; user and role principals appear as their ARN
    /// while they exist and as their bare unique id once deleted (as AWS).
    pub assume_role_policy_document: serde_json::Value,
    /// Tags.
    pub tags: Vec<Tag>,
    /// ARN of the permissions boundary, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions_boundary: Option<String>,
}

/// A page of roles.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RoleList {
    /// Roles.
    pub roles: Vec<Role>,
    /// Pass as `marker` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

/// `POST /v1/roles/{name}/revoke-sessions`: the deny that now refuses
/// every session of the role issued before `revokedBefore`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RevokedRoleSessions {
    /// The role inline policy written (`AWSRevokeOlderSessions`).
    pub policy_name: String,
    /// RFC 3339: sessions issued before this are refused.
    pub revoked_before: String,
}

/// `POST /v1/sts/assume-role`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AssumeRoleRequest {
    /// The role's ARN (or its name).
    pub role_arn: String,
    /// 2–64 of `[\w+=,.@-]`.
    pub role_session_name: String,
    /// 900 up to the role's maximum (3,600 when chaining); default 3,600.
    #[serde(default)]
    pub duration_seconds: Option<i64>,
    /// Inline session policy (at most 2,048 characters without whitespace).
    #[serde(default)]
    pub policy: Option<Box<RawValue>>,
    /// Managed session policies (names or ARNs, at most 10).
    #[serde(default)]
    pub policy_arns: Vec<String>,
    /// Session tags (at most 50; need `sts:TagSession` in the trust policy).
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Keys of `tags` that pass on to chained sessions.
    #[serde(default)]
    pub transitive_tag_keys: Vec<String>,
    /// `sts:ExternalId` (2–1,224 of `[\w+=,.@:/-]`).
    #[serde(default)]
    pub external_id: Option<String>,
    /// `sts:SourceIdentity` (2–64 of `[\w+=,.@-]`).
    #[serde(default)]
    pub source_identity: Option<String>,
    /// The caller's MFA device (`arn:ward:iam::ACCT:mfa/NAME`), with `tokenCode`.
    #[serde(default)]
    pub serial_number: Option<String>,
    /// The device's current 6-digit code; accepted once.
    #[serde(default)]
    pub token_code: Option<String>,
}

/// The session an AssumeRole opened.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AssumedRoleUser {
    /// `arn:ward:sts::ACCT:assumed-role/ROLE/SESSION`
    pub arn: String,
    /// `AROA…:SESSION`
    pub assumed_role_id: String,
}

/// `POST /v1/sts/assume-role` → temporary credentials of a role session.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AssumeRoleResponse {
    /// The credentials (`ASIA…`).
    pub credentials: Credentials,
    /// The session.
    pub assumed_role_user: AssumedRoleUser,
    /// `SourceIdentity`, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_identity: Option<String>,
}

/// `POST /v1/sts/session-token`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GetSessionTokenRequest {
    /// 900–129,600 seconds; default 43,200.
    #[serde(default)]
    pub duration_seconds: Option<i64>,
    /// The caller's MFA device (`arn:ward:iam::ACCT:mfa/NAME`), with `tokenCode`.
    #[serde(default)]
    pub serial_number: Option<String>,
    /// The device's current 6-digit code; accepted once.
    #[serde(default)]
    pub token_code: Option<String>,
}

/// A session recording ward-ca holds (uploaded by the gateway that
/// recorded it; issue #15).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RecordingInfo {
    /// The recording id (`gws-` and 32 hex digits).
    pub id: String,
    /// The uploading gateway's host name.
    pub gateway: String,
    /// Bytes.
    pub size: u64,
    /// SHA-256 of the bytes (hex).
    pub sha256: String,
    /// When it was uploaded (RFC 3339).
    pub uploaded_at: String,
}

/// `GET /v1/recordings`: the recordings held, newest first, or those of
/// the `ids` asked for that are held.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RecordingList {
    /// The recordings.
    pub recordings: Vec<RecordingInfo>,
}
