//! Temporary credentials: `sts:AssumeRole` (a role session) and
//! `sts:GetSessionToken` (a user session from a long-term key).
//!
//! AssumeRole is decided by ward-authz with the role's trust policy as the
//! resource policy ([`crate::service::authz::authorize_assume`]): the trust
//! policy must allow the caller, which it names by unique id (so a deleted
//! and re-created user is not trusted), and when it names only the
//! account the caller's identity policies must allow too. Session tags also
//! need `sts:TagSession` from the same decision. The session's permissions
//! are the role's policies within its boundary and the session policy (the
//! inline and managed session policies merged into one document here).
//! Every AssumeRole, allowed or not, is audited.

use axum::body::Bytes;
use axum::extract::State;
use axum::{Extension, Json};
use serde_json::Value;
use ward_authz::context::{self, keys};
use ward_policy::{ContextValue, Policy, PolicyKind};
use ward_protocol::api;

use crate::crypto::{self, sha256_hex};
use crate::error::ApiError;
use crate::service::authz::{authorize, authorize_assume};
use crate::service::caller::{role_arn, user_arn, Caller, Identity};
use crate::service::iam::{acct, check_tags, policy_ref};
use crate::service::names;
use crate::service::request::{body, commit, document_text, rfc3339};
use crate::service::roles::trust_policy;
use crate::state::{now, Shared};
use crate::store::iam;
use crate::store::roles;

/// Shortest session (AWS).
pub const MIN_DURATION: i64 = 900;
/// Default role session, and the cap on a session a role session assumes
/// (role chaining).
pub const DEFAULT_ROLE_DURATION: i64 = 3_600;
/// GetSessionToken: default and longest.
pub const SESSION_TOKEN_DURATION: (i64, i64) = (43_200, 129_600);
/// Managed session policies per AssumeRole.
pub const MAX_POLICY_ARNS: usize = 10;

fn sts_name(field: &str, s: &str, what: &str, extra: &str, max: usize) -> Result<(), ApiError> {
    let n = s.chars().count();
    let ok_chars = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c) || extra.contains(c));
    if !(2..=max).contains(&n) || !ok_chars {
        return Err(ApiError::invalid(
            field,
            format!("{what} must be 2 to {max} of letters, digits and _+=,.@-{extra}, got {s:?}"),
        ));
    }
    Ok(())
}

/// The role an AssumeRole names by ARN (or by name).
fn role_name_of(field: &str, r: &str) -> Result<String, ApiError> {
    let name = if r.starts_with("arn:") {
        let parts: Vec<&str> = r.splitn(6, ':').collect();
        match parts.as_slice() {
            [_, _, "iam", "", _, res] if res.starts_with("role/") => {
                res.rsplit('/').next().unwrap_or("")
            }
            _ => {
                return Err(ApiError::invalid(
                    field,
                    format!("{r:?} is not a role ARN (arn:ward:iam::ACCOUNT:role/NAME)"),
                ))
            }
        }
    } else {
        r
    };
    names::role_name(field, name)?;
    Ok(name.to_owned())
}

/// The statements of a policy document, as an array.
fn statements(doc: &Value) -> Vec<Value> {
    match doc.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(v) => vec![v.clone()],
        None => Vec::new(),
    }
}

/// Merges the inline session policy and the managed session policies into
/// one document (statements without their `Sid`s, which may clash): an
/// Allow in any of them allows, a Deny in any denies. Too large a result
/// is `PackedPolicyTooLarge`, as AWS.
async fn session_policy(
    st: &Shared,
    inline: Option<&serde_json::value::RawValue>,
    arns: &[String],
) -> Result<Option<String>, ApiError> {
    if arns.len() > MAX_POLICY_ARNS {
        return Err(ApiError::invalid(
            "policyArns",
            format!(
                "at most {MAX_POLICY_ARNS} managed session policies, got {}",
                arns.len()
            ),
        ));
    }
    let mut docs: Vec<Value> = Vec::new();
    if let Some(raw) = inline {
        let text = document_text(raw)
            .map_err(|_| ApiError::invalid("policy", "policy must be a JSON policy document"))?;
        Policy::parse(&text, PolicyKind::Session).map_err(|e| {
            ApiError::invalid_code("MalformedPolicyDocument", "policy", e.to_string())
        })?;
        docs.push(serde_json::from_str(&text).map_err(ApiError::internal)?);
    }
    for (i, r) in arns.iter().enumerate() {
        let field = format!("policyArns[{i}]");
        let (p, _) = policy_ref(st, &field, r).await?;
        let p = p.ok_or_else(|| {
            ApiError::invalid(&field, format!("managed policy {r} does not exist"))
        })?;
        let mut c = st.store.pool().acquire().await?;
        let text = iam::policy_document(&mut c, &p.id, p.default_version)
            .await?
            .ok_or_else(|| ApiError::internal("policy version missing"))?;
        docs.push(serde_json::from_str(&text).map_err(ApiError::internal)?);
    }
    if docs.is_empty() {
        return Ok(None);
    }
    let mut all = Vec::new();
    for d in &docs {
        for mut s in statements(d) {
            if let Some(o) = s.as_object_mut() {
                o.remove("Sid");
            }
            all.push(s);
        }
    }
    let merged = serde_json::json!({"Version": "2012-10-17", "Statement": all}).to_string();
    if iam::policy_chars(&merged) > PolicyKind::InlineRole.max_chars() {
        return Err(ApiError::invalid_code(
            "PackedPolicyTooLarge",
            if arns.is_empty() {
                "policy"
            } else {
                "policyArns"
            },
            format!(
                "the session policies together are {} characters without whitespace; at most {}",
                iam::policy_chars(&merged),
                PolicyKind::InlineRole.max_chars()
            ),
        ));
    }
    Policy::parse(&merged, PolicyKind::InlineRole).map_err(|e| {
        ApiError::invalid_code("MalformedPolicyDocument", "policyArns", e.to_string())
    })?;
    Ok(Some(merged))
}

/// What a role session passes on when it assumes another role.
struct Chain {
    tags: Vec<(String, String)>,
    transitive: Vec<String>,
    source_identity: Option<String>,
}

/// `POST /v1/sts/assume-role`.
pub(crate) async fn assume_role(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    b: Bytes,
) -> Result<Json<api::AssumeRoleResponse>, ApiError> {
    let req: api::AssumeRoleRequest = body(&b)?;
    let name = role_name_of("roleArn", &req.role_arn)?;
    sts_name(
        "roleSessionName",
        &req.role_session_name,
        "roleSessionName",
        "",
        64,
    )?;
    if let Some(x) = &req.external_id {
        sts_name("externalId", x, "externalId", ":/", 1224)?;
    }
    if let Some(x) = &req.source_identity {
        sts_name("sourceIdentity", x, "sourceIdentity", "", 64)?;
        if x.to_ascii_lowercase().starts_with("aws:") || x.to_ascii_lowercase().starts_with("ward:")
        {
            return Err(ApiError::invalid(
                "sourceIdentity",
                "sourceIdentity must not start with aws: or ward:",
            ));
        }
    }
    let requested = check_tags("tags", &req.tags)?;
    for (i, k) in req.transitive_tag_keys.iter().enumerate() {
        if !requested.iter().any(|(t, _)| t.eq_ignore_ascii_case(k)) {
            return Err(ApiError::invalid(
                format!("transitiveTagKeys[{i}]"),
                format!("transitive tag key {k:?} is not one of the session tags"),
            ));
        }
    }
    if let Some(d) = req.duration_seconds {
        if d < MIN_DURATION {
            return Err(ApiError::invalid(
                "durationSeconds",
                format!("durationSeconds must be at least {MIN_DURATION}, got {d}"),
            ));
        }
    }
    let policy = session_policy(&st, req.policy.as_deref(), &req.policy_arns).await?;
    // The second factor is checked before the trust policy, which may ask
    // for it (`Bool ward:MultiFactorAuthPresent`).
    let mfa_at = second_factor(&st, &caller, &req.serial_number, &req.token_code).await?;
    let caller = caller.with_mfa(mfa_at);
    crate::service::identity_pools::refuse_guest(&st, &caller, "sts:AssumeRole").await?;

    // Role chaining: a role session passes on its transitive tags and its
    // source identity, and the new session is capped at one hour.
    let chain = match &caller.identity {
        Identity::RoleSession(rs) => Some(Chain {
            tags: rs
                .tags
                .iter()
                .filter(|(k, _)| {
                    rs.transitive_tag_keys
                        .iter()
                        .any(|t| t.eq_ignore_ascii_case(k))
                })
                .cloned()
                .collect(),
            transitive: rs.transitive_tag_keys.clone(),
            source_identity: rs.source_identity.clone(),
        }),
        _ => None,
    };
    let mut tags = requested.clone();
    let mut transitive = req.transitive_tag_keys.clone();
    let mut source_identity = req.source_identity.clone();
    if let Some(ch) = &chain {
        for (k, v) in &ch.tags {
            if let Some(i) = requested
                .iter()
                .position(|(t, _)| t.eq_ignore_ascii_case(k))
            {
                return Err(ApiError::invalid(
                    format!("tags[{i}]"),
                    format!("tag {k:?} is a transitive tag of the calling session and cannot be changed"),
                ));
            }
            tags.push((k.clone(), v.clone()));
        }
        for k in &ch.transitive {
            if !transitive.iter().any(|t| t.eq_ignore_ascii_case(k)) {
                transitive.push(k.clone());
            }
        }
        match (&ch.source_identity, &source_identity) {
            (Some(a), Some(b)) if a != b => {
                return Err(ApiError::invalid(
                    "sourceIdentity",
                    "the source identity of the calling session cannot be changed",
                ))
            }
            (Some(a), None) => source_identity = Some(a.clone()),
            _ => {}
        }
        if tags.len() > names::MAX_TAGS {
            return Err(ApiError::invalid(
                "tags",
                format!(
                    "at most {} session tags with those passed on by the calling session",
                    names::MAX_TAGS
                ),
            ));
        }
    }

    let mut c = st.store.pool().acquire().await?;
    let found = roles::find_role(&mut c, &name).await?;
    drop(c);
    let role = match found {
        Some(r) => r,
        None => return Err(unknown_role(&st, &caller, &name).await),
    };
    let arn = role_arn(&acct(&st), &role);
    if req.role_arn.starts_with("arn:") && req.role_arn != arn {
        return Err(unknown_role(&st, &caller, &name).await);
    }
    let max = if chain.is_some() {
        DEFAULT_ROLE_DURATION
    } else {
        role.max_session_duration
    };
    let duration = req
        .duration_seconds
        .unwrap_or(DEFAULT_ROLE_DURATION.min(max));
    if duration > max {
        return Err(ApiError::invalid(
            "durationSeconds",
            if chain.is_some() {
                format!("durationSeconds {duration} exceeds the 1 hour limit for a role assumed by a role session (role chaining)")
            } else {
                format!(
                    "durationSeconds {duration} exceeds the role's maximum session duration ({max} s)"
                )
            },
        ));
    }

    // The decision: sts:AssumeRole with the trust policy, and
    // sts:TagSession for session tags.
    let trust = trust_policy(&st, &role)?;
    let mut ctx: context::Entries = vec![(
        keys::ROLE_SESSION_NAME.to_owned(),
        ContextValue::from(req.role_session_name.as_str()),
    )];
    if let Some(x) = &req.external_id {
        ctx.push((keys::EXTERNAL_ID.to_owned(), ContextValue::from(x.as_str())));
    }
    if let Some(x) = &req.source_identity {
        ctx.push((
            keys::STS_SOURCE_IDENTITY.to_owned(),
            ContextValue::from(x.as_str()),
        ));
    }
    if !req.transitive_tag_keys.is_empty() {
        ctx.push((
            keys::TRANSITIVE_TAG_KEYS.to_owned(),
            ContextValue::Multi(req.transitive_tag_keys.clone()),
        ));
    }
    let tag_ctx = if tags.is_empty() {
        Vec::new()
    } else {
        context::request_tags(&tags)
    };
    ctx.extend(tag_ctx.iter().cloned());
    let g = authorize_assume(
        &st,
        &caller,
        "sts:AssumeRole",
        &arn,
        &context::refs(&ctx),
        &trust,
    )
    .await?;
    if !tags.is_empty() {
        authorize_assume(
            &st,
            &caller,
            "sts:TagSession",
            &arn,
            &context::refs(&tag_ctx),
            &trust,
        )
        .await?;
    }

    let t = now();
    let key_id = crypto::access_key_id("ASIA");
    let secret = crypto::secret_access_key();
    let token = crypto::session_token();
    let expires = t + duration;
    let session = iam::Session {
        access_key_id: key_id.clone(),
        user_id: None,
        auth_method: "assume-role".into(),
        expires_at: expires,
        token_hash: sha256_hex(token.expose().as_bytes()),
        secret_sealed: st
            .master
            .seal(secret.expose().as_bytes(), key_id.as_bytes()),
        created_at: t,
        source_ip: caller.source_ip.to_string(),
        password_change_only: false,
        role_id: Some(role.id.clone()),
        session_name: req.role_session_name.clone(),
        session_policy: policy.clone(),
        session_tags: tags.clone(),
        transitive_tag_keys: transitive,
        source_identity: source_identity.clone(),
        chained: chain.is_some(),
        mfa_authenticated_at: mfa_at,
    };
    // A new session changes no identity or policy: cached decisions stay.
    let mut m = st.store.mutation(&g).await?.without_iam_change();
    iam::create_session(&mut m.tx, &session, t).await?;
    let session_arn = ward_authz::arn::assumed_role(&acct(&st), &role.name, &req.role_session_name);
    commit(
        m,
        &caller,
        &g,
        serde_json::json!({
            "roleSessionName": req.role_session_name,
            "session": key_id,
            "assumedRoleArn": session_arn,
            "durationSeconds": duration,
            "chained": chain.is_some(),
            "sessionPolicy": policy.is_some(),
            "tagKeys": tags.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(),
            "sourceIdentity": source_identity,
        }),
    )
    .await?;
    Ok(Json(api::AssumeRoleResponse {
        credentials: api::Credentials {
            access_key_id: key_id,
            secret_access_key: secret.expose().to_owned(),
            session_token: token.expose().to_owned(),
            expiration: rfc3339(expires),
            password_reset_required: false,
        },
        assumed_role_user: api::AssumedRoleUser {
            arn: session_arn,
            assumed_role_id: format!("{}:{}", role.id, req.role_session_name),
        },
        source_identity,
    }))
}

/// An AssumeRole of a role that does not exist: a 404 naming `roleArn`
/// for a caller who may read the role (`iam:GetRole`), the same refusal
/// as an untrusted caller gets for anyone else, so that role names cannot
/// be probed.
async fn unknown_role(st: &Shared, caller: &Caller, name: &str) -> ApiError {
    let arn = ward_authz::arn::role(&acct(st), "/", name);
    match authorize(st, caller, "iam:GetRole", &arn, &[]).await {
        Ok(_) => ApiError::invalid_code(
            "NoSuchEntity",
            "roleArn",
            format!("role {name} does not exist"),
        ),
        Err(_) => ApiError::Denied {
            message: format!(
                "{} is not authorized to perform sts:AssumeRole on {arn}",
                caller.arn()
            ),
        },
    }
}

/// `POST /v1/sts/session-token`: a user's temporary credentials, from a
/// long-term access key only (as AWS), 900 s to 36 h.
/// The second factor of an STS request: `serialNumber` + `tokenCode`
/// verified against the calling user's enabled device (a code is accepted
/// once), or else the caller's own — a session opened with MFA passes it on
/// to the sessions it asks for, as AWS does.
async fn second_factor(
    st: &Shared,
    caller: &Caller,
    serial: &Option<String>,
    code: &Option<String>,
) -> Result<Option<i64>, ApiError> {
    match (serial, code) {
        (None, None) => Ok(caller.mfa_authenticated_at),
        (Some(_), None) => Err(ApiError::invalid(
            "tokenCode",
            "tokenCode is required with serialNumber",
        )),
        (None, Some(_)) => Err(ApiError::invalid(
            "serialNumber",
            "serialNumber is required with tokenCode",
        )),
        (Some(s), Some(c)) => match &caller.identity {
            Identity::User(u) => crate::service::mfa::verify(st, u, s, c).await.map(Some),
            _ => Err(ApiError::invalid(
                "serialNumber",
                "only an IAM user has an MFA device; this caller cannot present one",
            )),
        },
    }
}

pub(crate) async fn session_token(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    b: Bytes,
) -> Result<Json<api::Credentials>, ApiError> {
    let req: api::GetSessionTokenRequest = if b.is_empty() {
        api::GetSessionTokenRequest::default()
    } else {
        body(&b)?
    };
    let (lo, hi) = (MIN_DURATION, SESSION_TOKEN_DURATION.1);
    let duration = req.duration_seconds.unwrap_or(SESSION_TOKEN_DURATION.0);
    if !(lo..=hi).contains(&duration) {
        return Err(ApiError::invalid(
            "durationSeconds",
            format!("durationSeconds must be {lo} to {hi}, got {duration}"),
        ));
    }
    let user = match &caller.identity {
        Identity::User(u) if caller.auth_method == "access-key" => u.clone(),
        Identity::Root => {
            return Err(ApiError::invalid(
                "caller",
                "GetSessionToken is for IAM users; the account root has no sessions",
            ))
        }
        _ => {
            return Err(ApiError::Denied {
                message: "GetSessionToken needs a user's long-term access key (AKIA…), not temporary credentials".into(),
            })
        }
    };
    let arn = user_arn(&acct(&st), &user);
    let mfa_at = second_factor(&st, &caller, &req.serial_number, &req.token_code).await?;
    let caller = caller.with_mfa(mfa_at);
    let g = authorize(&st, &caller, "sts:GetSessionToken", &arn, &[]).await?;
    let t = now();
    let key_id = crypto::access_key_id("ASIA");
    let secret = crypto::secret_access_key();
    let token = crypto::session_token();
    let expires = t + duration;
    let session = iam::Session {
        access_key_id: key_id.clone(),
        user_id: Some(user.id.clone()),
        auth_method: "session-token".into(),
        expires_at: expires,
        token_hash: sha256_hex(token.expose().as_bytes()),
        secret_sealed: st
            .master
            .seal(secret.expose().as_bytes(), key_id.as_bytes()),
        created_at: t,
        source_ip: caller.source_ip.to_string(),
        mfa_authenticated_at: mfa_at,
        ..iam::Session::default()
    };
    let mut m = st.store.mutation(&g).await?.without_iam_change();
    iam::create_session(&mut m.tx, &session, t).await?;
    commit(
        m,
        &caller,
        &g,
        serde_json::json!({"session": key_id, "durationSeconds": duration, "mfa": mfa_at.is_some()}),
    )
    .await?;
    Ok(Json(api::Credentials {
        access_key_id: key_id,
        secret_access_key: secret.expose().to_owned(),
        session_token: token.expose().to_owned(),
        expiration: rfc3339(expires),
        password_reset_required: false,
    }))
}
