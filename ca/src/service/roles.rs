//! Roles: CreateRole, GetRole, ListRoles, UpdateRole, DeleteRole,
//! UpdateAssumeRolePolicy, TagRole/UntagRole, the role permissions
//! boundary and `ward role revoke-sessions`. A role's inline and managed
//! policies go through the shared `/v1/{kind}/{name}/…` handlers in
//! [`crate::service::iam`] with `kind = roles`.
//!
//! Trust policies are validated as trust policies (every statement names a
//! `Principal` or `NotPrincipal`) and stored with this account's user and
//! role ARNs rewritten to their unique ids ([`store_principals`]), so a
//! principal deleted and re-created under the same name is not trusted;
//! GetRole shows live principals by ARN and deleted ones by their bare id
//! ([`show_principals`]), as AWS does.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::value::RawValue;
use serde_json::Value;
use ward_authz::context;
use ward_policy::{Policy, PolicyKind};
use ward_protocol::api;

use crate::crypto;
use crate::error::ApiError;
use crate::service::caller::{role_arn, Caller};
use crate::service::iam::{
    acct, authorize_create, boundary_arn, check_tags, delete_boundary_of, path_or_root,
    put_boundary_of, tag_request, tags_out, target_role_with, Bounded, CreateActions, KeysQuery,
    ListQuery, Tagging,
};
use crate::service::names;
use crate::service::request::{body, commit, document_text, rfc3339, P, Q};
use crate::state::{now, Shared};
use crate::store::iam;
use crate::store::roles::{self, Role, MAX_SESSION_RANGE};
use crate::store::{Conn, Grant};

/// The role inline policy `revoke-sessions` writes (AWS's name).
pub const REVOKE_POLICY: &str = "AWSRevokeOlderSessions";

/// The longest description (AWS).
const MAX_DESCRIPTION: usize = 1_000;

fn max_session(field: &str, v: Option<i64>) -> Result<i64, ApiError> {
    let v = v.unwrap_or(MAX_SESSION_RANGE.0);
    if !(MAX_SESSION_RANGE.0..=MAX_SESSION_RANGE.1).contains(&v) {
        return Err(ApiError::invalid(
            field,
            format!(
                "{field} must be {} to {} seconds (1 to 12 hours), got {v}",
                MAX_SESSION_RANGE.0, MAX_SESSION_RANGE.1
            ),
        ));
    }
    Ok(v)
}

/// Parses and validates a trust policy given in `field`, and returns the
/// text to store (principals by unique id).
async fn trust_document(st: &Shared, field: &str, raw: &RawValue) -> Result<String, ApiError> {
    let malformed = |m: String| ApiError::invalid_code("MalformedPolicyDocument", field, m);
    let text = document_text(raw).map_err(|_| {
        malformed(format!(
            "{field} must be a JSON object or a string holding one"
        ))
    })?;
    Policy::parse(&text, PolicyKind::Trust).map_err(|e| malformed(e.to_string()))?;
    let mut doc: Value = serde_json::from_str(&text).map_err(|e| malformed(e.to_string()))?;
    let mut c = st.store.pool().acquire().await?;
    store_principals(&mut c, &acct(st), &mut doc)
        .await
        .map_err(|e| match e {
            Rewrite::Bad(m) => malformed(m),
            Rewrite::Store(e) => e,
        })?;
    serde_json::to_string(&doc).map_err(ApiError::internal)
}

enum Rewrite {
    Bad(String),
    Store(ApiError),
}

impl From<ApiError> for Rewrite {
    fn from(e: ApiError) -> Rewrite {
        Rewrite::Store(e)
    }
}

/// The `AWS`/`Ward` principal strings of every statement, mutable.
fn principal_values(doc: &mut Value) -> Result<Vec<&mut Value>, String> {
    let stmts: Vec<&mut Value> = match doc.get_mut("Statement") {
        Some(Value::Array(a)) => a.iter_mut().collect(),
        Some(v @ Value::Object(_)) => vec![v],
        _ => return Err("a trust policy needs a Statement".into()),
    };
    let mut out = Vec::new();
    for (i, s) in stmts.into_iter().enumerate() {
        let Some(obj) = s.as_object_mut() else {
            continue;
        };
        if !obj.contains_key("Principal") && !obj.contains_key("NotPrincipal") {
            return Err(format!(
                "$.Statement[{i}]: a trust policy statement must name a Principal (who may assume the role)"
            ));
        }
        for (key, p) in obj.iter_mut() {
            if key != "Principal" && key != "NotPrincipal" {
                continue;
            }
            let Value::Object(p) = p else {
                continue;
            };
            for (ns, v) in p.iter_mut() {
                if ns != "AWS" && ns != "Ward" {
                    continue;
                }
                match v {
                    Value::Array(a) => out.extend(a.iter_mut()),
                    v => out.push(v),
                }
            }
        }
    }
    Ok(out)
}

/// Rewrites this account's user and role ARNs to their unique ids; an ARN
/// naming no such user or role is refused (AWS: "Invalid principal").
async fn store_principals(c: &mut Conn, account: &str, doc: &mut Value) -> Result<(), Rewrite> {
    for v in principal_values(doc).map_err(Rewrite::Bad)? {
        let Some(arn) = v.as_str().map(str::to_owned) else {
            continue;
        };
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        if parts.len() != 6 || parts[2] != "iam" || parts[4] != account {
            continue;
        }
        let resource = parts[5];
        let id = if resource.starts_with("user/") {
            let name = resource.rsplit('/').next().unwrap_or("");
            iam::find_user(c, name)
                .await?
                .filter(|u| ward_authz::arn::user(account, &u.path, &u.name) == arn)
                .map(|u| u.id)
        } else if resource.starts_with("role/") {
            let name = resource.rsplit('/').next().unwrap_or("");
            roles::find_role(c, name)
                .await?
                .filter(|r| role_arn(account, r) == arn)
                .map(|r| r.id)
        } else {
            continue;
        };
        match id {
            Some(id) => *v = Value::String(id),
            None => {
                return Err(Rewrite::Bad(format!(
                    "invalid principal in policy: {arn} does not exist"
                )))
            }
        }
    }
    Ok(())
}

/// The stored trust policy for display: unique ids of live users and
/// roles become their ARNs; those of deleted ones stay bare ids.
async fn show_principals(c: &mut Conn, account: &str, text: &str) -> Result<Value, ApiError> {
    let mut doc: Value = serde_json::from_str(text).map_err(ApiError::internal)?;
    let Ok(values) = principal_values(&mut doc) else {
        return Ok(doc);
    };
    for v in values {
        let Some(id) = v.as_str().map(str::to_owned) else {
            continue;
        };
        let arn = if id.starts_with("AIDA") {
            iam::user_by_id(c, &id)
                .await?
                .map(|u| ward_authz::arn::user(account, &u.path, &u.name))
        } else if id.starts_with("AROA") {
            roles::role_by_id(c, &id)
                .await?
                .map(|r| role_arn(account, &r))
        } else {
            None
        };
        if let Some(arn) = arn {
            *v = Value::String(arn);
        }
    }
    Ok(doc)
}

pub(crate) async fn role_out(st: &Shared, c: &mut Conn, r: &Role) -> Result<api::Role, ApiError> {
    let tags = tags_out(roles::role_tags(c, &r.id).await?);
    let boundary = boundary_arn(st, c, r.boundary_policy_id.as_deref()).await?;
    Ok(api::Role {
        name: r.name.clone(),
        role_id: r.id.clone(),
        arn: role_arn(&acct(st), r),
        path: r.path.clone(),
        description: r.description.clone(),
        created: rfc3339(r.created_at),
        max_session_duration: r.max_session_duration,
        assume_role_policy_document: show_principals(c, &acct(st), &r.trust_policy).await?,
        tags,
        permissions_boundary: boundary,
    })
}

async fn target_role(
    st: &Shared,
    caller: &Caller,
    action: &str,
    name: &str,
    read: bool,
) -> Result<(Role, Grant), ApiError> {
    target_role_with(st, caller, action, name, read, &[]).await
}

/// `POST /v1/roles`.
pub(crate) async fn create_role(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    b: Bytes,
) -> Result<(StatusCode, Json<api::Role>), ApiError> {
    let req: api::CreateRole = body(&b)?;
    names::role_name("name", &req.name)?;
    let path = path_or_root("path", &req.path)?;
    let description = req.description.clone().unwrap_or_default();
    names::text("description", &description, MAX_DESCRIPTION)?;
    let max = max_session("maxSessionDuration", req.max_session_duration)?;
    let tags = check_tags("tags", &req.tags)?;
    let trust = trust_document(
        &st,
        "assumeRolePolicyDocument",
        &req.assume_role_policy_document,
    )
    .await?;
    // As CreateUser: the tags and the boundary asked for are in the
    // context, and tagging or bounding at creation needs those actions too.
    let (g, boundary) = authorize_create(
        &st,
        &caller,
        &ward_authz::arn::role(&acct(&st), &path, &req.name),
        &tags,
        req.permissions_boundary.as_deref(),
        CreateActions {
            create: "iam:CreateRole",
            tag: "iam:TagRole",
            boundary: "iam:PutRolePermissionsBoundary",
        },
    )
    .await?;
    let r = Role {
        id: crypto::unique_id("AROA"),
        name: req.name.clone(),
        path,
        description,
        trust_policy: trust,
        max_session_duration: max,
        boundary_policy_id: boundary.map(|p| p.id),
        created_at: now(),
    };
    let mut m = st.store.mutation(&g).await?;
    roles::create_role(&mut m.tx, &r).await?;
    roles::tag_role(&mut m.tx, &r.id, &tags).await?;
    let out = role_out(&st, &mut m.tx, &r).await?;
    commit(
        m,
        &caller,
        &g,
        serde_json::json!({"roleId": r.id, "maxSessionDuration": max,
            "permissionsBoundary": out.permissions_boundary}),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(out)))
}

/// `GET /v1/roles`.
pub(crate) async fn list_roles(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    Q(q): Q<ListQuery>,
) -> Result<Json<api::RoleList>, ApiError> {
    let (prefix, page) = q
        .authorize(&st, &caller, "iam:ListRoles", ward_authz::arn::role)
        .await?;
    let mut c = st.store.pool().acquire().await?;
    let p = roles::list_roles(&mut c, &prefix, &page).await?;
    let mut out = Vec::with_capacity(p.items.len());
    for r in &p.items {
        out.push(role_out(&st, &mut c, r).await?);
    }
    Ok(Json(api::RoleList {
        roles: out,
        marker: p.marker,
    }))
}

/// `GET /v1/roles/{name}`.
pub(crate) async fn get_role(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> Result<Json<api::Role>, ApiError> {
    let (r, _) = target_role(&st, &caller, "iam:GetRole", &name, true).await?;
    let mut c = st.store.pool().acquire().await?;
    Ok(Json(role_out(&st, &mut c, &r).await?))
}

/// `PATCH /v1/roles/{name}`: description and maximum session duration.
pub(crate) async fn update_role(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
    b: Bytes,
) -> Result<Json<api::Role>, ApiError> {
    let req: api::UpdateRole = body(&b)?;
    if let Some(d) = &req.description {
        names::text("description", d, MAX_DESCRIPTION)?;
    }
    if let Some(v) = req.max_session_duration {
        max_session("maxSessionDuration", Some(v))?;
    }
    let (r, g) = target_role(&st, &caller, "iam:UpdateRole", &name, false).await?;
    let r2 = Role {
        description: req
            .description
            .clone()
            .unwrap_or_else(|| r.description.clone()),
        max_session_duration: req.max_session_duration.unwrap_or(r.max_session_duration),
        ..r
    };
    let mut m = st.store.mutation(&g).await?;
    roles::update_role(&mut m.tx, &r2).await?;
    let out = role_out(&st, &mut m.tx, &r2).await?;
    commit(
        m,
        &caller,
        &g,
        serde_json::json!({"description": req.description, "maxSessionDuration": req.max_session_duration}),
    )
    .await?;
    Ok(Json(out))
}

/// `DELETE /v1/roles/{name}`: 409 `DeleteConflict` while policies are
/// attached; its sessions end with it.
pub(crate) async fn delete_role(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> Result<StatusCode, ApiError> {
    let (r, g) = target_role(&st, &caller, "iam:DeleteRole", &name, false).await?;
    let mut m = st.store.mutation(&g).await?;
    roles::delete_role(&mut m.tx, &r).await?;
    commit(m, &caller, &g, serde_json::json!({"roleId": r.id})).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /v1/roles/{name}/trust-policy`.
pub(crate) async fn update_trust(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
    b: Bytes,
) -> Result<StatusCode, ApiError> {
    let req: api::UpdateAssumeRolePolicy = body(&b)?;
    let trust = trust_document(&st, "document", &req.document).await?;
    let (r, g) = target_role(&st, &caller, "iam:UpdateAssumeRolePolicy", &name, false).await?;
    let mut m = st.store.mutation(&g).await?;
    roles::update_role(
        &mut m.tx,
        &Role {
            trust_policy: trust,
            ..r
        },
    )
    .await?;
    commit(m, &caller, &g, serde_json::json!({})).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/roles/{name}/tags`.
pub(crate) async fn tag_role(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
    b: Bytes,
) -> Result<Json<api::Role>, ApiError> {
    let Tagging { tags, keys, ctx } = tag_request(&b)?;
    let (r, g) = target_role_with(
        &st,
        &caller,
        "iam:TagRole",
        &name,
        false,
        &context::refs(&ctx),
    )
    .await?;
    let mut m = st.store.mutation(&g).await?;
    roles::tag_role(&mut m.tx, &r.id, &tags).await?;
    let out = role_out(&st, &mut m.tx, &r).await?;
    commit(m, &caller, &g, serde_json::json!({"tagKeys": keys})).await?;
    Ok(Json(out))
}

/// `DELETE /v1/roles/{name}/tags?keys=a,b`.
pub(crate) async fn untag_role(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
    Q(q): Q<KeysQuery>,
) -> Result<Json<api::Role>, ApiError> {
    let keys = q.keys()?;
    let (r, g) = target_role_with(
        &st,
        &caller,
        "iam:UntagRole",
        &name,
        false,
        &[context::tag_keys(keys.clone())],
    )
    .await?;
    let mut m = st.store.mutation(&g).await?;
    roles::untag_role(&mut m.tx, &r.id, &keys).await?;
    let out = role_out(&st, &mut m.tx, &r).await?;
    commit(m, &caller, &g, serde_json::json!({"tagKeys": keys})).await?;
    Ok(Json(out))
}

/// `PUT /v1/roles/{name}/permissions-boundary`.
pub(crate) async fn put_boundary(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
    b: Bytes,
) -> Result<StatusCode, ApiError> {
    put_boundary_of(&st, &caller, Bounded::Role, &name, &b).await
}

/// `DELETE /v1/roles/{name}/permissions-boundary`.
pub(crate) async fn delete_boundary(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> Result<StatusCode, ApiError> {
    delete_boundary_of(&st, &caller, Bounded::Role, &name).await
}

/// The deny `revoke-sessions` puts on a role: every action, for sessions
/// whose `ward:TokenIssueTime` is before `before` (AWS's
/// AWSRevokeOlderSessions). Sessions issued in the same second as the
/// revocation are revoked too (`before` is the next second): fail closed.
pub fn revoke_document(before: i64) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {"DateLessThan": {"ward:TokenIssueTime": rfc3339(before)}}
        }]
    })
    .to_string()
}

/// `POST /v1/roles/{name}/revoke-sessions`: writes (or moves forward)
/// [`REVOKE_POLICY`] so that every session of the role issued until now is
/// refused on its next request; sessions assumed later are not affected.
/// Authorized as `iam:PutRolePolicy`, the write it is.
pub(crate) async fn revoke_sessions(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> Result<Json<api::RevokedRoleSessions>, ApiError> {
    let (r, g) = target_role(&st, &caller, "iam:PutRolePolicy", &name, false).await?;
    let before = now() + 1;
    let doc = revoke_document(before);
    let mut m = st.store.mutation(&g).await?;
    iam::put_inline(
        &mut m.tx,
        iam::PrincipalType::Role,
        &r.id,
        &r.name,
        REVOKE_POLICY,
        &doc,
    )
    .await?;
    commit(
        m,
        &caller,
        &g,
        serde_json::json!({"policyName": REVOKE_POLICY, "revokedBefore": rfc3339(before)}),
    )
    .await?;
    Ok(Json(api::RevokedRoleSessions {
        policy_name: REVOKE_POLICY.into(),
        revoked_before: rfc3339(before),
    }))
}

/// A role's trust policy, compiled, for AssumeRole.
pub(crate) fn trust_policy(st: &Shared, r: &Role) -> Result<std::sync::Arc<Policy>, ApiError> {
    st.policies.get(&r.trust_policy, PolicyKind::Trust)
}
