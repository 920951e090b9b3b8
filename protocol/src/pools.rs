//! Identity pools (issue #14 item 4): the JSON bodies of
//! `/v1/identity-pools` and of `GetId` / `GetCredentialsForIdentity`
//! (`/v1/identity/…`), in Cognito's shapes with ward's camelCase field
//! names. A pool id and an identity id are both `REGION:UUID` (ward's
//! SigV4 region, a lower-case UUID), as Cognito's.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// `POST /v1/identity-pools`. Each role named needs `iam:PassRole` on it
/// as well as `identity:CreateIdentityPool`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateIdentityPool {
    /// 1–128 of letters, digits, spaces and `_+=,.@-`.
    pub identity_pool_name: String,
    /// Whether guests (callers with no credentials) get identities.
    #[serde(default)]
    pub allow_unauthenticated_identities: bool,
    /// The role guests assume (ARN).
    #[serde(default)]
    pub unauthenticated_role_arn: Option<String>,
    /// The role signed-in ward users assume (ARN).
    #[serde(default)]
    pub authenticated_role_arn: Option<String>,
    /// The fixed session policy every guest session is narrowed by
    /// (a JSON object or a string holding one; ≤ 2,048 characters
    /// without whitespace). Required when guests are allowed.
    #[serde(default)]
    pub guest_session_policy: Option<Box<RawValue>>,
    /// Tags (≤ 50; `identity:TagResource` too when given).
    #[serde(default)]
    pub tags: Vec<crate::api::Tag>,
}

/// `PATCH /v1/identity-pools/{id}`: the fields given are changed. Naming
/// a role needs `iam:PassRole` on it as well.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateIdentityPool {
    /// New name.
    #[serde(default)]
    pub identity_pool_name: Option<String>,
    /// New guest setting.
    #[serde(default)]
    pub allow_unauthenticated_identities: Option<bool>,
    /// New guest role; `""` removes it (refused while guests are
    /// allowed).
    #[serde(default)]
    pub unauthenticated_role_arn: Option<String>,
    /// New role for signed-in users; `""` removes it (signed-in users
    /// then get no credentials from the pool).
    #[serde(default)]
    pub authenticated_role_arn: Option<String>,
    /// New guest session policy (applies to guest sessions issued after).
    #[serde(default)]
    pub guest_session_policy: Option<Box<RawValue>>,
}

/// A pool as returned.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IdentityPool {
    /// `REGION:UUID`.
    pub identity_pool_id: String,
    /// Name.
    pub identity_pool_name: String,
    /// `arn:ward:identity::ACCT:identity-pool/ID`.
    pub arn: String,
    /// Whether guests get identities.
    pub allow_unauthenticated_identities: bool,
    /// The guest role's ARN (`None` if unset, or the role is gone: then
    /// the id it had is in `unauthenticatedRoleId`).
    pub unauthenticated_role_arn: Option<String>,
    /// The guest role's unique id (`AROA…`).
    pub unauthenticated_role_id: Option<String>,
    /// The signed-in users' role ARN.
    pub authenticated_role_arn: Option<String>,
    /// Its unique id.
    pub authenticated_role_id: Option<String>,
    /// The guest session policy.
    pub guest_session_policy: Option<serde_json::Value>,
    /// The pool's tags, in key order.
    #[serde(default)]
    pub tags: Vec<crate::api::Tag>,
    /// RFC 3339.
    pub created: String,
}

/// `GET /v1/identity-pools/{id}/tags` (ListTagsForResource).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PoolTags {
    /// The pool's tags, in key order.
    pub tags: Vec<crate::api::Tag>,
}

/// `GET /v1/identity-pools`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IdentityPoolList {
    /// Pools by id.
    pub identity_pools: Vec<IdentityPool>,
    /// Pass as `nextToken` for the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// `POST /v1/identity/guest/id` and `/v1/identity/id` (GetId).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GetIdRequest {
    /// The pool.
    pub identity_pool_id: String,
}

/// GetId's answer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GetIdResponse {
    /// `REGION:UUID`.
    pub identity_id: String,
}

/// `POST /v1/identity/guest/credentials` and `/v1/identity/credentials`
/// (GetCredentialsForIdentity). There is no session policy field: a
/// guest's session is narrowed by its pool's policy, which it cannot
/// change.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GetCredentialsRequest {
    /// From GetId.
    pub identity_id: String,
}

/// Cognito's `Credentials`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PoolCredentials {
    /// `ASIA…`
    pub access_key_id: String,
    /// Shown once.
    pub secret_key: String,
    /// Shown once (`x-amz-security-token`).
    pub session_token: String,
    /// RFC 3339.
    pub expiration: String,
}

/// GetCredentialsForIdentity's answer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GetCredentialsResponse {
    /// The identity.
    pub identity_id: String,
    /// The role session's credentials.
    pub credentials: PoolCredentials,
    /// `arn:ward:sts::ACCT:assumed-role/ROLE/SESSION` (ward's addition).
    pub assumed_role_arn: String,
}
