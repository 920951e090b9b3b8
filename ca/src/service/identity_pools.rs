//! Identity pools (issue #14 item 4, Cognito's identity pools): a pool
//! names an unauthenticated role (for guests, callers with no
//! credentials at all) and an authenticated role (for signed-in ward
//! users), and a fixed guest session policy.
//!
//! - Pool CRUD: `identity:CreateIdentityPool`, `DescribeIdentityPool`,
//!   `ListIdentityPools`, `UpdateIdentityPool`, `DeleteIdentityPool` on
//!   `arn:ward:identity::ACCT:identity-pool/ID`; ids are `REGION:UUID`
//!   (ward's SigV4 region), as Cognito's. Mutations are audited. Naming a
//!   role needs `iam:PassRole` on it ([`pass_role`]); an update's `""`
//!   clears a role. Tags: `identity:TagResource`, `UntagResource`,
//!   `ListTagsForResource` (`/v1/identity-pools/{id}/tags`), and at
//!   creation (`tags`, which needs TagResource too).
//! - `GetId` and `GetCredentialsForIdentity`: unauthenticated for guests
//!   (`/v1/identity/guest/…`: a body cap, a token bucket per source
//!   address and a cap on the guest identities a source may create), and
//!   signed for users (`/v1/identity/…`, which also need `identity:GetId`
//!   / `identity:GetCredentialsForIdentity` on the pool).
//! - The role is assumed through the same ward-authz trust decision as
//!   AssumeRole ([`crate::service::authz::authorize_federated`]), action
//!   `sts:AssumeRoleWithWebIdentity`, principal `{"Federated":
//!   "identity.ward"}`, context `identity:aud` (pool id), `identity:amr`
//!   (`unauthenticated`/`authenticated`) and `identity:sub` (identity id),
//!   plus the user's name, id and tags when signed in. A trust policy that
//!   would also let another pool's identities in (no condition pinning
//!   `identity:aud`) is refused: otherwise anyone allowed to create a pool
//!   could hand the role to guests.
//! - A guest session is a role session of the unauthenticated role whose
//!   session policy is the pool's (guests cannot pass one), one hour
//!   long, named `identity-UUID` after its identity; it may not assume
//!   another role (chaining would drop the pool policy). Deleting a pool
//!   ends its sessions and refuses its identities. Every issuance is
//!   audited.

use std::net::IpAddr;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use rand::RngCore;
use serde::Deserialize;
use serde_json::value::RawValue;
use ward_authz::context::{self, keys};
use ward_authz::RequestFacts;
use ward_policy::{ContextValue, Policy, PolicyKind, Principal};
use ward_protocol::pools as api;

use crate::crypto::{self, sha256_hex};
use crate::error::ApiError;
use crate::service::authz::{authorize, authorize_read, federated_decision, system_grant};
use crate::service::caller::{role_arn, user_arn, Caller, Identity};
use crate::service::iam::{acct, tags_out};
use crate::service::request::{body, commit, document_text, read_body, rfc3339, P, Q};
use crate::service::roles::trust_policy;
use crate::state::{now, Shared};
use crate::store::iam::{self, User};
use crate::store::identity_pools::{self as store, Pool, PoolIdentity};
use crate::store::roles::{self, Role};
use crate::store::AuditEvent;

/// The federated principal a pool's identities assume roles as.
pub const PROVIDER: &str = "identity.ward";
/// The action the trust policy is asked for (as Cognito's
/// `sts:AssumeRoleWithWebIdentity`).
pub const ASSUME_ACTION: &str = "sts:AssumeRoleWithWebIdentity";
/// How long a pool session lasts (Cognito: one hour).
pub const SESSION_SECONDS: i64 = 3_600;
/// Largest unauthenticated request body.
pub const MAX_GUEST_BODY: usize = 4 * 1024;
/// Longest pool name (Cognito).
const MAX_NAME: usize = 128;

/// `identity:amr` of a guest and of a signed-in user.
const AMR_GUEST: &str = "unauthenticated";
const AMR_USER: &str = "authenticated";

// ---- ids and names -------------------------------------------------------

/// A new `REGION:UUID` (random, version 4).
fn new_id(st: &Shared) -> String {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}:{}-{}-{}-{}-{}",
        st.config.region,
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// True for a lower-case UUID, `8-4-4-4-12` hex digits.
fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// A pool or identity id: `REGION:UUID` with this daemon's region.
fn check_id(st: &Shared, field: &str, id: &str) -> Result<(), ApiError> {
    let ok = id
        .split_once(':')
        .is_some_and(|(r, u)| r == st.config.region && is_uuid(u));
    if ok {
        Ok(())
    } else {
        let shown: String = id.chars().take(80).collect();
        Err(ApiError::invalid(
            field,
            format!(
                "{field} must be {}:UUID (this ward-ca's region and a lower-case UUID), got {shown:?}",
                st.config.region
            ),
        ))
    }
}

fn check_name(field: &str, name: &str) -> Result<(), ApiError> {
    let n = name.chars().count();
    let ok = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || " _+=,.@-".contains(c));
    if !(1..=MAX_NAME).contains(&n) || !ok {
        return Err(ApiError::invalid(
            field,
            format!("{field} must be 1 to {MAX_NAME} of letters, digits, spaces and _+=,.@-"),
        ));
    }
    Ok(())
}

/// `arn:ward:identity::ACCT:identity-pool/ID`.
pub fn pool_arn(st: &Shared, id: &str) -> String {
    format!("arn:ward:identity::{}:identity-pool/{id}", acct(st))
}

/// Who a pool identity is in the audit log.
fn identity_arn(st: &Shared, i: &PoolIdentity) -> String {
    format!("{}/identity/{}", pool_arn(st, &i.pool_id), i.id)
}

/// The role a pool field names by ARN (`arn:ward:iam::ACCT:role/PATH/NAME`).
async fn role_ref(st: &Shared, field: &str, arn: &str) -> Result<Role, ApiError> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let name = match parts.as_slice() {
        ["arn", "ward", "iam", "", a, res] if *a == acct(st) && res.starts_with("role/") => {
            res.rsplit('/').next().unwrap_or("")
        }
        _ => {
            return Err(ApiError::invalid(
                field,
                format!(
                    "{field} must be a role ARN of this account (arn:ward:iam::{}:role/NAME)",
                    acct(st)
                ),
            ))
        }
    };
    crate::service::names::role_name(field, name)?;
    let mut c = st.store.pool().acquire().await?;
    match roles::find_role(&mut c, name).await? {
        Some(r) if role_arn(&acct(st), &r) == arn => Ok(r),
        _ => Err(ApiError::invalid_code(
            "NoSuchEntity",
            field,
            format!("role {arn} does not exist"),
        )),
    }
}

/// `iam:PassRole` on a role a pool is to hand out, as AWS checks it when
/// a service is given a role: a caller who may create or update pools but
/// may not pass the role cannot bind it (the trust policy's audience pin
/// alone would let anyone who may create pools hand out a role trusting
/// one of them). Resource: the role's ARN; context `iam:PassedToService`
/// = `identity.ward` and `iam:AssociatedResourceArn` = the pool's ARN.
async fn pass_role(
    st: &Shared,
    caller: &Caller,
    role: &Role,
    pool_arn: &str,
) -> Result<(), ApiError> {
    let ctx = [
        ("iam:PassedToService", ContextValue::from(PROVIDER)),
        ("iam:AssociatedResourceArn", ContextValue::from(pool_arn)),
    ];
    authorize(st, caller, "iam:PassRole", &role_arn(&acct(st), role), &ctx).await?;
    Ok(())
}

/// Validates a guest session policy like an AssumeRole session policy
/// (at most 2,048 characters without whitespace) and returns its text.
fn guest_policy(field: &str, raw: &RawValue) -> Result<String, ApiError> {
    let text = document_text(raw).map_err(|_| {
        ApiError::invalid(
            field,
            format!("{field} must be a JSON policy document or a string holding one"),
        )
    })?;
    let chars = iam::policy_chars(&text);
    let max = PolicyKind::Session.max_chars();
    if chars > max {
        return Err(ApiError::invalid_code(
            "PackedPolicyTooLarge",
            field,
            format!("{field} is {chars} characters without whitespace; at most {max}"),
        ));
    }
    Policy::parse(&text, PolicyKind::Session)
        .map_err(|e| ApiError::invalid_code("MalformedPolicyDocument", field, e.to_string()))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| ApiError::invalid_code("MalformedPolicyDocument", field, e.to_string()))?;
    Ok(v.to_string())
}

/// A pool that lets guests in must name their role and their policy.
fn check_guest_setup(p: &Pool) -> Result<(), ApiError> {
    if !p.allow_unauthenticated {
        return Ok(());
    }
    if p.unauthenticated_role_id.is_none() {
        return Err(ApiError::invalid(
            "unauthenticatedRoleArn",
            "a pool that allows unauthenticated identities needs unauthenticatedRoleArn",
        ));
    }
    if p.session_policy.is_empty() {
        return Err(ApiError::invalid(
            "guestSessionPolicy",
            "a pool that allows unauthenticated identities needs guestSessionPolicy (every guest session is narrowed by it)",
        ));
    }
    Ok(())
}

async fn pool_out(st: &Shared, p: &Pool) -> Result<api::IdentityPool, ApiError> {
    let mut c = st.store.pool().acquire().await?;
    let tags = store::pool_tags(&mut c, &p.id).await?;
    let mut arns = Vec::with_capacity(2);
    for id in [&p.unauthenticated_role_id, &p.authenticated_role_id] {
        arns.push(match id {
            Some(id) => roles::role_by_id(&mut c, id)
                .await?
                .map(|r| role_arn(&acct(st), &r)),
            None => None,
        });
    }
    let auth = arns.pop().flatten();
    let unauth = arns.pop().flatten();
    Ok(api::IdentityPool {
        identity_pool_id: p.id.clone(),
        identity_pool_name: p.name.clone(),
        arn: pool_arn(st, &p.id),
        allow_unauthenticated_identities: p.allow_unauthenticated,
        unauthenticated_role_arn: unauth,
        unauthenticated_role_id: p.unauthenticated_role_id.clone(),
        authenticated_role_arn: auth,
        authenticated_role_id: p.authenticated_role_id.clone(),
        guest_session_policy: if p.session_policy.is_empty() {
            None
        } else {
            Some(serde_json::from_str(&p.session_policy).map_err(ApiError::internal)?)
        },
        tags: tags_out(tags),
        created: rfc3339(p.created_at),
    })
}

async fn load_pool(st: &Shared, field: &str, id: &str) -> Result<Pool, ApiError> {
    let mut c = st.store.pool().acquire().await?;
    store::pool(&mut c, id)
        .await?
        .ok_or_else(|| ApiError::NotFound {
            code: "ResourceNotFound",
            message: format!("{field}: identity pool {id} does not exist"),
        })
}

// ---- pool CRUD -----------------------------------------------------------

/// `POST /v1/identity-pools`.
pub(crate) async fn create(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    b: Bytes,
) -> Result<(StatusCode, Json<api::IdentityPool>), ApiError> {
    let req: api::CreateIdentityPool = body(&b)?;
    check_name("identityPoolName", &req.identity_pool_name)?;
    let tags = crate::service::iam::check_tags("tags", &req.tags)?;
    // As CreateRole: the tags asked for are in the context, and tagging
    // at creation needs identity:TagResource too.
    let tag_ctx = context::request_tags(&tags);
    let session_policy = match &req.guest_session_policy {
        Some(raw) => guest_policy("guestSessionPolicy", raw)?,
        None => String::new(),
    };
    let unauth = match &req.unauthenticated_role_arn {
        Some(a) => Some(role_ref(&st, "unauthenticatedRoleArn", a).await?),
        None => None,
    };
    let auth = match &req.authenticated_role_arn {
        Some(a) => Some(role_ref(&st, "authenticatedRoleArn", a).await?),
        None => None,
    };
    let pool = Pool {
        id: new_id(&st),
        name: req.identity_pool_name.clone(),
        allow_unauthenticated: req.allow_unauthenticated_identities,
        unauthenticated_role_id: unauth.as_ref().map(|r| r.id.clone()),
        authenticated_role_id: auth.as_ref().map(|r| r.id.clone()),
        session_policy,
        created_at: now(),
    };
    check_guest_setup(&pool)?;
    let arn = pool_arn(&st, &pool.id);
    let g = authorize(
        &st,
        &caller,
        "identity:CreateIdentityPool",
        &arn,
        &context::refs(&tag_ctx),
    )
    .await?;
    if !tags.is_empty() {
        authorize(
            &st,
            &caller,
            "identity:TagResource",
            &arn,
            &context::refs(&tag_ctx),
        )
        .await?;
    }
    for role in unauth.iter().chain(auth.iter()) {
        pass_role(&st, &caller, role, &arn).await?;
    }
    let mut m = st.store.mutation(&g).await?.without_iam_change();
    store::create_pool(&mut m.tx, &pool).await?;
    store::tag_pool(&mut m.tx, &pool.id, &tags).await?;
    commit(
        m,
        &caller,
        &g,
        serde_json::json!({
            "identityPoolId": pool.id,
            "name": pool.name,
            "allowUnauthenticatedIdentities": pool.allow_unauthenticated,
            "unauthenticatedRoleId": pool.unauthenticated_role_id,
            "authenticatedRoleId": pool.authenticated_role_id,
            "guestSessionPolicy": !pool.session_policy.is_empty(),
            "tagKeys": tags.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        }),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(pool_out(&st, &pool).await?)))
}

/// `GET /v1/identity-pools/{id}`.
pub(crate) async fn get(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(id): P<String>,
) -> Result<Json<api::IdentityPool>, ApiError> {
    check_id(&st, "id", &id)?;
    authorize_read(
        &st,
        &caller,
        "identity:DescribeIdentityPool",
        &pool_arn(&st, &id),
        &[],
    )
    .await?;
    let p = load_pool(&st, "id", &id).await?;
    Ok(Json(pool_out(&st, &p).await?))
}

/// Query of `GET /v1/identity-pools`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ListQuery {
    #[serde(default)]
    max_results: Option<String>,
    #[serde(default)]
    next_token: Option<String>,
}

/// `GET /v1/identity-pools`: by id, `maxResults` 1–60 (default 60).
pub(crate) async fn list(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    Q(q): Q<ListQuery>,
) -> Result<Json<api::IdentityPoolList>, ApiError> {
    let max = match &q.max_results {
        None => 60,
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=60).contains(n))
            .ok_or_else(|| {
                ApiError::invalid("maxResults", "maxResults must be an integer from 1 to 60")
            })?,
    };
    let after = q.next_token.clone().unwrap_or_default();
    if !after.is_empty() {
        check_id(&st, "nextToken", &after)?;
    }
    authorize_read(
        &st,
        &caller,
        "identity:ListIdentityPools",
        &pool_arn(&st, "*"),
        &[],
    )
    .await?;
    let mut c = st.store.pool().acquire().await?;
    let mut pools = store::list_pools(&mut c, &after, max + 1).await?;
    drop(c);
    let next_token = if pools.len() as i64 > max {
        pools.truncate(max as usize);
        pools.last().map(|p| p.id.clone())
    } else {
        None
    };
    let mut out = Vec::with_capacity(pools.len());
    for p in &pools {
        out.push(pool_out(&st, p).await?);
    }
    Ok(Json(api::IdentityPoolList {
        identity_pools: out,
        next_token,
    }))
}

/// `PATCH /v1/identity-pools/{id}`.
pub(crate) async fn update(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(id): P<String>,
    b: Bytes,
) -> Result<Json<api::IdentityPool>, ApiError> {
    check_id(&st, "id", &id)?;
    let req: api::UpdateIdentityPool = body(&b)?;
    if let Some(n) = &req.identity_pool_name {
        check_name("identityPoolName", n)?;
    }
    let policy = match &req.guest_session_policy {
        Some(raw) => Some(guest_policy("guestSessionPolicy", raw)?),
        None => None,
    };
    // A role ARN sets the role; an empty string clears it (Some(None)).
    let unauth = match req.unauthenticated_role_arn.as_deref() {
        Some("") => Some(None),
        Some(a) => Some(Some(role_ref(&st, "unauthenticatedRoleArn", a).await?)),
        None => None,
    };
    let auth = match req.authenticated_role_arn.as_deref() {
        Some("") => Some(None),
        Some(a) => Some(Some(role_ref(&st, "authenticatedRoleArn", a).await?)),
        None => None,
    };
    let arn = pool_arn(&st, &id);
    let g = authorize(&st, &caller, "identity:UpdateIdentityPool", &arn, &[]).await?;
    for role in [&unauth, &auth].into_iter().flatten().flatten() {
        pass_role(&st, &caller, role, &arn).await?;
    }
    let mut m = st.store.mutation(&g).await?.without_iam_change();
    let Some(mut p) = store::pool(&mut m.tx, &id).await? else {
        return Err(ApiError::NotFound {
            code: "ResourceNotFound",
            message: format!("id: identity pool {id} does not exist"),
        });
    };
    if let Some(n) = &req.identity_pool_name {
        p.name = n.clone();
    }
    if let Some(a) = req.allow_unauthenticated_identities {
        p.allow_unauthenticated = a;
    }
    if let Some(r) = unauth {
        p.unauthenticated_role_id = r.map(|r| r.id);
    }
    if let Some(r) = auth {
        p.authenticated_role_id = r.map(|r| r.id);
    }
    if let Some(pol) = policy {
        p.session_policy = pol;
    }
    check_guest_setup(&p)?;
    store::update_pool(&mut m.tx, &p).await?;
    commit(
        m,
        &caller,
        &g,
        serde_json::json!({
            "identityPoolId": p.id,
            "changed": serde_json::to_value(&req).map_err(ApiError::internal)?
                .as_object()
                .map(|o| o.iter().filter(|(_, v)| !v.is_null()).map(|(k, _)| k.clone()).collect::<Vec<_>>())
                .unwrap_or_default(),
        }),
    )
    .await?;
    Ok(Json(pool_out(&st, &p).await?))
}

/// `DELETE /v1/identity-pools/{id}`: the pool, its identities and every
/// session issued through it.
pub(crate) async fn delete(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(id): P<String>,
) -> Result<StatusCode, ApiError> {
    check_id(&st, "id", &id)?;
    let g = authorize(
        &st,
        &caller,
        "identity:DeleteIdentityPool",
        &pool_arn(&st, &id),
        &[],
    )
    .await?;
    let mut m = st.store.mutation(&g).await?;
    if store::pool(&mut m.tx, &id).await?.is_none() {
        return Err(ApiError::NotFound {
            code: "ResourceNotFound",
            message: format!("id: identity pool {id} does not exist"),
        });
    }
    let ended = store::delete_pool(&mut m.tx, &id).await?;
    commit(
        m,
        &caller,
        &g,
        serde_json::json!({"identityPoolId": id, "sessionsEnded": ended}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- tags (TagResource / UntagResource / ListTagsForResource) -------------

/// `POST /v1/identity-pools/{id}/tags`: sets tags (`identity:TagResource`,
/// with `ward:RequestTag/*` and `ward:TagKeys`).
pub(crate) async fn tag(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(id): P<String>,
    b: Bytes,
) -> Result<Json<api::PoolTags>, ApiError> {
    check_id(&st, "id", &id)?;
    let req: ward_protocol::api::TagRequest = body(&b)?;
    let tags = crate::service::iam::check_tags("tags", &req.tags)?;
    if tags.is_empty() {
        return Err(ApiError::invalid("tags", "tags must list 1 to 50 tags"));
    }
    let ctx = context::request_tags(&tags);
    let g = authorize(
        &st,
        &caller,
        "identity:TagResource",
        &pool_arn(&st, &id),
        &context::refs(&ctx),
    )
    .await?;
    let mut m = st.store.mutation(&g).await?.without_iam_change();
    if store::pool(&mut m.tx, &id).await?.is_none() {
        return Err(no_pool(&id));
    }
    store::tag_pool(&mut m.tx, &id, &tags).await?;
    let out = store::pool_tags(&mut m.tx, &id).await?;
    let keys: Vec<&str> = tags.iter().map(|(k, _)| k.as_str()).collect();
    commit(
        m,
        &caller,
        &g,
        serde_json::json!({"identityPoolId": id, "tagKeys": keys}),
    )
    .await?;
    Ok(Json(api::PoolTags {
        tags: tags_out(out),
    }))
}

/// `DELETE /v1/identity-pools/{id}/tags?keys=a,b`: removes tags
/// (`identity:UntagResource`, with `ward:TagKeys`).
pub(crate) async fn untag(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(id): P<String>,
    Q(q): Q<crate::service::iam::KeysQuery>,
) -> Result<Json<api::PoolTags>, ApiError> {
    check_id(&st, "id", &id)?;
    let keys = q.keys()?;
    let g = authorize(
        &st,
        &caller,
        "identity:UntagResource",
        &pool_arn(&st, &id),
        &[context::tag_keys(keys.clone())],
    )
    .await?;
    let mut m = st.store.mutation(&g).await?.without_iam_change();
    if store::pool(&mut m.tx, &id).await?.is_none() {
        return Err(no_pool(&id));
    }
    store::untag_pool(&mut m.tx, &id, &keys).await?;
    let out = store::pool_tags(&mut m.tx, &id).await?;
    commit(
        m,
        &caller,
        &g,
        serde_json::json!({"identityPoolId": id, "tagKeys": keys}),
    )
    .await?;
    Ok(Json(api::PoolTags {
        tags: tags_out(out),
    }))
}

/// `GET /v1/identity-pools/{id}/tags` (`identity:ListTagsForResource`).
pub(crate) async fn list_tags(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(id): P<String>,
) -> Result<Json<api::PoolTags>, ApiError> {
    check_id(&st, "id", &id)?;
    authorize_read(
        &st,
        &caller,
        "identity:ListTagsForResource",
        &pool_arn(&st, &id),
        &[],
    )
    .await?;
    load_pool(&st, "id", &id).await?;
    let mut c = st.store.pool().acquire().await?;
    let tags = store::pool_tags(&mut c, &id).await?;
    Ok(Json(api::PoolTags {
        tags: tags_out(tags),
    }))
}

fn no_pool(id: &str) -> ApiError {
    ApiError::NotFound {
        code: "ResourceNotFound",
        message: format!("id: identity pool {id} does not exist"),
    }
}

// ---- guests: rate limit ----------------------------------------------------

pub use crate::state::GuestLimiter;

/// The rate-limit key of a source: an IPv4 address, or an IPv6 /64.
fn source_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// The peer, a bounded body, and a token from the source's bucket.
async fn guest_request(st: &Shared, req: Request) -> Result<(IpAddr, bool, Bytes), ApiError> {
    let (parts, b) = req.into_parts();
    let (ip, tls) = parts
        .extensions
        .get::<crate::conn::ConnInfo>()
        .map(|c| (c.remote.ip(), c.tls))
        .unwrap_or((IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), false));
    // The body is read before a throttled source is refused (an HTTP/2
    // stream answered while its body still arrives is reset).
    let bytes = read_body(b, MAX_GUEST_BODY).await?;
    let l = &st.config.limits;
    if let Err(wait) = st.guest_limits.take(
        &source_key(ip),
        l.guest_requests_per_minute,
        l.guest_burst,
        Instant::now(),
    ) {
        st.metrics
            .denials
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return Err(ApiError::RetryLater {
            message: format!(
                "too many unauthenticated identity-pool requests from this address (at most {} a minute); try again in {wait} s",
                l.guest_requests_per_minute
            ),
            retry_after: wait,
        });
    }
    Ok((ip, tls, bytes))
}

// ---- GetId -------------------------------------------------------------

/// `POST /v1/identity/guest/id` (no credentials): a new guest identity.
pub(crate) async fn guest_get_id(
    State(st): State<Shared>,
    req: Request,
) -> Result<Json<api::GetIdResponse>, ApiError> {
    let (ip, _, b) = guest_request(&st, req).await?;
    let req: api::GetIdRequest = body(&b)?;
    check_id(&st, "identityPoolId", &req.identity_pool_id)?;
    let pool = load_pool(&st, "identityPoolId", &req.identity_pool_id).await?;
    if !pool.allow_unauthenticated {
        return Err(guests_refused(&pool));
    }
    let source = source_key(ip);
    let cap = st.config.limits.guest_identities_per_source;
    let arn = pool_arn(&st, &pool.id);
    let g = system_grant("identity:GetId", &arn);
    let mut m = st.store.mutation(&g).await?.without_iam_change();
    if store::guest_identities_from(&mut m.tx, &source).await? >= i64::from(cap) {
        return Err(ApiError::limit(format!(
            "this address has created {cap} guest identities, the most one source may (limits.guest_identities_per_source); reuse one"
        )));
    }
    let ident = PoolIdentity {
        id: new_id(&st),
        pool_id: pool.id.clone(),
        user_id: None,
    };
    store::create_identity(&mut m.tx, &ident, &source, now()).await?;
    m.commit(&AuditEvent {
        at: now(),
        principal: identity_arn(&st, &ident),
        action: "identity:GetId".into(),
        resource: arn,
        decision: "Allowed".into(),
        source_ip: ip.to_string(),
        detail: serde_json::json!({"identityId": ident.id, "amr": AMR_GUEST}),
    })
    .await?;
    Ok(Json(api::GetIdResponse {
        identity_id: ident.id,
    }))
}

fn guests_refused(pool: &Pool) -> ApiError {
    ApiError::Denied {
        message: format!(
            "identity pool {} does not allow unauthenticated identities",
            pool.id
        ),
    }
}

/// The signed-in IAM user a signed pool call is for.
fn calling_user(caller: &Caller) -> Result<&User, ApiError> {
    match &caller.identity {
        Identity::User(u) => Ok(u),
        _ => Err(ApiError::Denied {
            message: "authenticated identity-pool identities belong to IAM users: sign with a user's access key or session (guests use /v1/identity/guest/…)".into(),
        }),
    }
}

/// `POST /v1/identity/id` (signed): the calling user's identity in the
/// pool (created once, then the same one).
pub(crate) async fn get_id(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    b: Bytes,
) -> Result<Json<api::GetIdResponse>, ApiError> {
    let req: api::GetIdRequest = body(&b)?;
    check_id(&st, "identityPoolId", &req.identity_pool_id)?;
    let user = calling_user(&caller)?.clone();
    let arn = pool_arn(&st, &req.identity_pool_id);
    let g = authorize(&st, &caller, "identity:GetId", &arn, &[]).await?;
    let pool = load_pool(&st, "identityPoolId", &req.identity_pool_id).await?;
    if pool.authenticated_role_id.is_none() {
        return Err(ApiError::Denied {
            message: format!("identity pool {} has no authenticated role", pool.id),
        });
    }
    let mut m = st.store.mutation(&g).await?.without_iam_change();
    if let Some(i) = store::user_identity(&mut m.tx, &pool.id, &user.id).await? {
        return Ok(Json(api::GetIdResponse { identity_id: i.id }));
    }
    let ident = PoolIdentity {
        id: new_id(&st),
        pool_id: pool.id.clone(),
        user_id: Some(user.id.clone()),
    };
    store::create_identity(&mut m.tx, &ident, &caller.source_ip.to_string(), now()).await?;
    commit(
        m,
        &caller,
        &g,
        serde_json::json!({"identityId": ident.id, "amr": AMR_USER}),
    )
    .await?;
    Ok(Json(api::GetIdResponse {
        identity_id: ident.id,
    }))
}

// ---- GetCredentialsForIdentity ------------------------------------------

async fn load_identity(st: &Shared, id: &str) -> Result<PoolIdentity, ApiError> {
    let mut c = st.store.pool().acquire().await?;
    store::identity(&mut c, id)
        .await?
        .ok_or_else(|| ApiError::NotFound {
            code: "ResourceNotFound",
            message: format!("identityId: identity {id} does not exist (or its pool was deleted)"),
        })
}

/// `POST /v1/identity/guest/credentials` (no credentials).
pub(crate) async fn guest_credentials(
    State(st): State<Shared>,
    req: Request,
) -> Result<Json<api::GetCredentialsResponse>, ApiError> {
    let (ip, tls, b) = guest_request(&st, req).await?;
    let req: api::GetCredentialsRequest = body(&b)?;
    check_id(&st, "identityId", &req.identity_id)?;
    let ident = load_identity(&st, &req.identity_id).await?;
    if ident.user_id.is_some() {
        return Err(ApiError::Denied {
            message: format!(
                "identity {} belongs to a signed-in user: sign the request (/v1/identity/credentials)",
                ident.id
            ),
        });
    }
    let pool = load_pool(&st, "identityId", &ident.pool_id).await?;
    if !pool.allow_unauthenticated {
        return Err(guests_refused(&pool));
    }
    let facts = RequestFacts {
        source_ip: Some(ip),
        now: now(),
        secure_transport: tls,
        auth_method: AMR_GUEST,
        mfa_authenticated_at: None,
        principal_tags: &[],
    };
    issue(&st, &pool, &ident, None, &facts).await.map(Json)
}

/// `POST /v1/identity/credentials` (signed): the calling user's identity
/// gets the pool's authenticated role.
pub(crate) async fn credentials(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    b: Bytes,
) -> Result<Json<api::GetCredentialsResponse>, ApiError> {
    let req: api::GetCredentialsRequest = body(&b)?;
    check_id(&st, "identityId", &req.identity_id)?;
    let user = calling_user(&caller)?.clone();
    let ident = load_identity(&st, &req.identity_id).await?;
    if ident.user_id.as_deref() != Some(user.id.as_str()) {
        return Err(ApiError::Denied {
            message: format!(
                "identity {} is not {}'s (GetId gives each user their own)",
                ident.id, user.name
            ),
        });
    }
    authorize(
        &st,
        &caller,
        "identity:GetCredentialsForIdentity",
        &pool_arn(&st, &ident.pool_id),
        &[],
    )
    .await?;
    let pool = load_pool(&st, "identityId", &ident.pool_id).await?;
    let mut c = st.store.pool().acquire().await?;
    let tags = iam::user_tags(&mut c, &user.id).await?;
    drop(c);
    let facts = RequestFacts {
        source_ip: Some(caller.source_ip),
        now: now(),
        secure_transport: caller.secure,
        auth_method: caller.auth_method,
        mfa_authenticated_at: caller.mfa_authenticated_at,
        principal_tags: &tags,
    };
    issue(&st, &pool, &ident, Some(&user), &facts)
        .await
        .map(Json)
}

/// The trust decision and the session: the role of the identity's kind,
/// assumed as `{"Federated": "identity.ward"}`.
async fn issue(
    st: &Shared,
    pool: &Pool,
    ident: &PoolIdentity,
    user: Option<&User>,
    facts: &RequestFacts<'_>,
) -> Result<api::GetCredentialsResponse, ApiError> {
    let guest = user.is_none();
    let (role_id, amr) = if guest {
        (&pool.unauthenticated_role_id, AMR_GUEST)
    } else {
        (&pool.authenticated_role_id, AMR_USER)
    };
    let Some(role_id) = role_id else {
        return Err(ApiError::Denied {
            message: format!("identity pool {} has no {amr} role", pool.id),
        });
    };
    let mut c = st.store.pool().acquire().await?;
    let role = roles::role_by_id(&mut c, role_id).await?;
    drop(c);
    let Some(role) = role else {
        return Err(ApiError::Denied {
            message: format!(
                "the {amr} role of identity pool {} ({role_id}) no longer exists",
                pool.id
            ),
        });
    };
    let arn = role_arn(&acct(st), &role);
    let trust = trust_policy(st, &role)?;
    let session_name = format!(
        "identity-{}",
        ident.id.split_once(':').map_or("", |(_, u)| u)
    );
    let principal = Principal::from_arn(&pool_arn(st, &pool.id))
        .map_err(ApiError::internal)?
        .with_federated(PROVIDER);
    let audit_arn = match user {
        Some(u) => user_arn(&acct(st), u),
        None => identity_arn(st, ident),
    };
    let context_for = |aud: &str| {
        let mut ctx: Vec<(String, ContextValue)> = vec![
            ("identity:aud".to_owned(), ContextValue::from(aud)),
            ("identity:amr".to_owned(), ContextValue::from(amr)),
            (
                "identity:sub".to_owned(),
                ContextValue::from(ident.id.as_str()),
            ),
            (
                keys::ROLE_SESSION_NAME.to_owned(),
                ContextValue::from(session_name.as_str()),
            ),
        ];
        if let Some(u) = user {
            ctx.push((
                "ward:username".to_owned(),
                ContextValue::from(u.name.as_str()),
            ));
            ctx.push(("ward:userid".to_owned(), ContextValue::from(u.id.as_str())));
        }
        ctx
    };
    // Trust confusion: a trust policy that would let another pool's
    // identities in as well does not pin identity:aud, and anyone who may
    // create a pool could then hand this role out. (No real pool has the
    // nil UUID: ids are random version-4 UUIDs.)
    let other = format!("{}:00000000-0000-0000-0000-000000000000", st.config.region);
    let probe = context_for(&other);
    if federated_decision(
        &principal,
        facts,
        ASSUME_ACTION,
        &arn,
        &ward_authz::context::refs(&probe),
        &trust,
    )
    .allowed
    {
        crate::service::authz::audit_federated_denial(
            st,
            &audit_arn,
            facts,
            ASSUME_ACTION,
            &arn,
            "ExplicitlyDenied",
            serde_json::json!({"reason": "TrustPolicyDoesNotPinAudience", "identityPoolId": pool.id}),
        )
        .await?;
        return Err(ApiError::Denied {
            message: format!(
                "role {} trusts identity.ward without a condition on identity:aud, so any identity pool could hand it out; add \"StringEquals\": {{\"identity:aud\": \"{}\"}} to its trust policy",
                role.name, pool.id
            ),
        });
    }
    let ctx = context_for(&pool.id);
    let g = crate::service::authz::authorize_federated(
        st,
        &principal,
        facts,
        &audit_arn,
        ASSUME_ACTION,
        &arn,
        &ward_authz::context::refs(&ctx),
        &trust,
    )
    .await?;

    let t = now();
    let key_id = crypto::access_key_id("ASIA");
    let secret = crypto::secret_access_key();
    let token = crypto::session_token();
    let expires = t + SESSION_SECONDS;
    let session = iam::Session {
        access_key_id: key_id.clone(),
        user_id: None,
        auth_method: "identity-pool".into(),
        expires_at: expires,
        token_hash: sha256_hex(token.expose().as_bytes()),
        secret_sealed: st
            .master
            .seal(secret.expose().as_bytes(), key_id.as_bytes()),
        created_at: t,
        source_ip: facts.source_ip.map(|ip| ip.to_string()).unwrap_or_default(),
        password_change_only: false,
        role_id: Some(role.id.clone()),
        session_name: session_name.clone(),
        // Guests: always the pool's policy, which they cannot change.
        session_policy: if guest {
            Some(pool.session_policy.clone())
        } else {
            None
        },
        session_tags: Vec::new(),
        transitive_tag_keys: Vec::new(),
        source_identity: user.map(|u| u.name.clone()),
        chained: false,
        mfa_authenticated_at: facts.mfa_authenticated_at,
    };
    if guest && pool.session_policy.is_empty() {
        // check_guest_setup makes this impossible; never issue unnarrowed.
        return Err(ApiError::internal("guest pool without a session policy"));
    }
    let session_arn = ward_authz::arn::assumed_role(&acct(st), &role.name, &session_name);
    let mut m = st.store.mutation(&g).await?.without_iam_change();
    iam::create_session(&mut m.tx, &session, t).await?;
    store::record_session(&mut m.tx, &key_id, ident).await?;
    m.commit(&AuditEvent {
        at: t,
        principal: audit_arn,
        action: ASSUME_ACTION.into(),
        resource: arn,
        decision: "Allowed".into(),
        source_ip: session.source_ip.clone(),
        detail: serde_json::json!({
            "identityPoolId": pool.id,
            "identityId": ident.id,
            "amr": amr,
            "session": key_id,
            "assumedRoleArn": session_arn,
            "durationSeconds": SESSION_SECONDS,
            "sessionPolicy": session.session_policy.is_some(),
        }),
    })
    .await?;
    Ok(api::GetCredentialsResponse {
        identity_id: ident.id.clone(),
        credentials: api::PoolCredentials {
            access_key_id: key_id,
            secret_key: secret.expose().to_owned(),
            session_token: token.expose().to_owned(),
            expiration: rfc3339(expires),
        },
        assumed_role_arn: session_arn,
    })
}

/// Refuses `action` to a guest session: a guest may not assume another
/// role (role chaining would drop the pool's session policy). Called by
/// AssumeRole.
pub async fn refuse_guest(st: &Shared, caller: &Caller, action: &str) -> Result<(), ApiError> {
    let Identity::RoleSession(rs) = &caller.identity else {
        return Ok(());
    };
    let mut c = st.store.pool().acquire().await?;
    if store::is_guest_session(&mut c, &rs.access_key_id).await? {
        return Err(ApiError::Denied {
            message: format!(
                "{action} refused: a guest session of an identity pool cannot assume another role (its pool's session policy would no longer apply)"
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids() {
        assert!(is_uuid("0f8a2b3c-1d2e-4f50-8a9b-0c1d2e3f4a5b"));
        for bad in [
            "0F8A2B3C-1D2E-4F50-8A9B-0C1D2E3F4A5B",
            "0f8a2b3c1d2e4f508a9b0c1d2e3f4a5b",
            "0f8a2b3c-1d2e-4f50-8a9b-0c1d2e3f4a5",
            "0f8a2b3c-1d2e-4f50-8a9b-0c1d2e3f4a5g",
            "",
        ] {
            assert!(!is_uuid(bad), "{bad}");
        }
    }

    #[test]
    fn guest_buckets_refuse_past_the_burst_and_refill_by_the_minute() {
        let l = GuestLimiter::default();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.take("a", 60, 3, t0).is_ok());
        }
        assert_eq!(l.take("a", 60, 3, t0), Err(1));
        // Another source has its own bucket.
        assert!(l.take("b", 60, 3, t0).is_ok());
        // One token a second at 60 a minute.
        assert!(l
            .take("a", 60, 3, t0 + std::time::Duration::from_secs(1))
            .is_ok());
        assert!(l
            .take("a", 60, 3, t0 + std::time::Duration::from_secs(1))
            .is_err());
    }

    #[test]
    fn sources() {
        assert_eq!(source_key("192.0.2.7".parse().unwrap()), "192.0.2.7");
        assert_eq!(
            source_key("2001:db8:1:2:3:4:5:6".parse().unwrap()),
            "2001:db8:1:2::/64"
        );
        assert_eq!(source_key("::ffff:192.0.2.7".parse().unwrap()), "192.0.2.7");
    }
}
