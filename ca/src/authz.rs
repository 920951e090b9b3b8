//! Authorization: every route names an action and a resource ARN, and
//! [`authorize`] decides it with ward-policy from the caller's identity
//! policies (user inline and managed, every group's inline and managed),
//! permissions boundary and the request context. A denial is a 403 whose
//! message is ward-policy's explanation, and it is audited.
//!
//! A mutation needs a [`Grant`], which only this module makes: a handler
//! that skips authorization does not compile (`Store::mutation` takes one).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use sqlx::Row;
use ward_policy::{
    evaluate, explain, Context, ContextValue, Instant, Policy, PolicyKind, PolicySet, Request,
};

use crate::auth::{Caller, Identity};
use crate::error::ApiError;
use crate::iam;
use crate::state::{now, AppState};
use crate::store::AuditEvent;

/// Proof that an action was authorized (or is a system action such as a
/// password login). Its field is private to this module.
#[derive(Debug)]
pub struct Grant {
    action: String,
    resource: String,
}

impl Grant {
    /// The authorized action.
    pub fn action(&self) -> &str {
        &self.action
    }

    /// The authorized resource.
    pub fn resource(&self) -> &str {
        &self.resource
    }
}

/// A grant for actions that need no caller policy: password login and
/// its throttling bookkeeping. Named so that its uses are easy to find.
pub fn system_grant(action: &str, resource: &str) -> Grant {
    Grant {
        action: action.into(),
        resource: resource.into(),
    }
}

/// The context keys ward-ca supplies for every API request.
fn context(caller: &Caller, tags: &[(String, String)], extra: &[(&str, ContextValue)]) -> Context {
    let mut ctx = Context::new();
    let t = now();
    ctx.insert(
        "ward:SourceIp",
        ContextValue::from(caller.source_ip.to_string()),
    );
    ctx.insert(
        "ward:CurrentTime",
        ContextValue::from(Instant::from_epoch_seconds(t).to_rfc3339()),
    );
    ctx.insert("ward:EpochTime", ContextValue::from(t.to_string()));
    ctx.insert(
        "ward:SecureTransport",
        ContextValue::from(if caller.secure { "true" } else { "false" }),
    );
    ctx.insert("ward:AuthMethod", ContextValue::from(caller.auth_method));
    ctx.insert("ward:MultiFactorAuthPresent", ContextValue::from("false"));
    for (k, v) in tags {
        ctx.insert(
            &format!("ward:PrincipalTag/{k}"),
            ContextValue::from(v.as_str()),
        );
    }
    for (k, v) in extra {
        ctx.insert(k, v.clone());
    }
    ctx
}

/// The compiled policies that bear on a user, and the user's tags.
#[derive(Debug)]
pub struct Effective {
    identity: Vec<Arc<Policy>>,
    boundary: Option<Arc<Policy>>,
    tags: Vec<(String, String)>,
    wanted: Wanted,
}

/// Which context keys that cost a database read to supply a caller's
/// policies can look at. A policy that never names `ResourceTag` cannot
/// depend on a target's tags, so a request by its holder skips that read;
/// any policy that does (in any case, under `aws:` or `ward:`) gets them.
/// Root is decided without policies and wants nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wanted {
    /// `ward:ResourceTag/*` of the target.
    pub resource_tags: bool,
    /// `iam:PermissionsBoundary` (the target user's boundary).
    pub boundary: bool,
}

impl Wanted {
    fn of(doc: &str) -> Wanted {
        let lc = doc.to_ascii_lowercase();
        Wanted {
            resource_tags: lc.contains("resourcetag"),
            boundary: lc.contains("permissionsboundary"),
        }
    }

    fn or(self, o: Wanted) -> Wanted {
        Wanted {
            resource_tags: self.resource_tags || o.resource_tags,
            boundary: self.boundary || o.boundary,
        }
    }
}

/// The costly context keys `caller`'s policies may look at.
pub async fn wanted(st: &AppState, caller: &Caller) -> Result<Wanted, ApiError> {
    match &caller.identity {
        Identity::Root => Ok(Wanted::default()),
        Identity::User(u) => Ok(effective(st, u).await?.wanted),
    }
}

impl Effective {
    /// Identity policies.
    pub fn identity(&self) -> &[Arc<Policy>] {
        &self.identity
    }

    /// The permissions boundary.
    pub fn boundary(&self) -> Option<&Arc<Policy>> {
        self.boundary.as_ref()
    }

    /// The user's tags.
    pub fn tags(&self) -> &[(String, String)] {
        &self.tags
    }
}

/// [`load_effective`] through the generation cache.
async fn effective(st: &AppState, user: &iam::User) -> Result<Arc<Effective>, ApiError> {
    let gen = st.store.generation().await?;
    if let Some(e) = st.effective.get(&user.id, gen) {
        return Ok(e);
    }
    let e = Arc::new(load_effective(st, user).await?);
    st.effective.put(&user.id, gen, e.clone());
    Ok(e)
}

/// Reads and compiles a user's policies (no cache).
pub(crate) async fn load_effective(st: &AppState, user: &iam::User) -> Result<Effective, ApiError> {
    let mut c = st.store.pool().acquire().await?;
    let managed = sqlx::query(
        "SELECT v.document FROM attachments a
           JOIN policies p ON p.id = a.policy_id
           JOIN policy_versions v ON v.policy_id = p.id AND v.version = p.default_version
         WHERE (a.principal_type = 'user' AND a.principal_id = $1)
            OR (a.principal_type = 'group' AND a.principal_id IN (SELECT group_id FROM group_members WHERE user_id = $1))",
    )
    .bind(&user.id)
    .fetch_all(&mut *c)
    .await?;
    let inline = sqlx::query(
        "SELECT document, principal_type FROM inline_policies
         WHERE (principal_type = 'user' AND principal_id = $1)
            OR (principal_type = 'group' AND principal_id IN (SELECT group_id FROM group_members WHERE user_id = $1))",
    )
    .bind(&user.id)
    .fetch_all(&mut *c)
    .await?;
    let mut identity = Vec::with_capacity(managed.len() + inline.len());
    let mut wanted = Wanted::default();
    for r in &managed {
        let doc = r.try_get::<String, _>(0)?;
        wanted = wanted.or(Wanted::of(&doc));
        identity.push(st.policies.get(&doc, PolicyKind::Managed)?);
    }
    for r in &inline {
        let kind = if r.try_get::<String, _>(1)? == "user" {
            PolicyKind::InlineUser
        } else {
            PolicyKind::InlineGroup
        };
        let doc = r.try_get::<String, _>(0)?;
        wanted = wanted.or(Wanted::of(&doc));
        identity.push(st.policies.get(&doc, kind)?);
    }
    let boundary = match &user.boundary_policy_id {
        None => None,
        Some(pid) => {
            let p = iam::policy_by_id(&mut c, pid)
                .await?
                .ok_or_else(|| ApiError::internal("boundary policy missing"))?;
            let doc = iam::policy_document(&mut c, pid, p.default_version)
                .await?
                .ok_or_else(|| ApiError::internal("boundary version missing"))?;
            wanted = wanted.or(Wanted::of(&doc));
            Some(st.policies.get(&doc, PolicyKind::Managed)?)
        }
    };
    let tags = iam::user_tags(&mut c, &user.id).await?;
    Ok(Effective {
        identity,
        boundary,
        tags,
        wanted,
    })
}

/// Like [`authorize`], for reads: a root read is audited here (a root
/// mutation is audited by the mutation's own event).
pub async fn authorize_read(
    st: &AppState,
    caller: &Caller,
    action: &str,
    resource: &str,
    extra: &[(&str, ContextValue)],
) -> Result<Grant, ApiError> {
    let g = authorize(st, caller, action, resource, extra).await?;
    if matches!(caller.identity, Identity::Root) {
        audit(
            st,
            caller,
            action,
            resource,
            "Allowed",
            serde_json::json!({"root": true}),
        )
        .await?;
    }
    Ok(g)
}

/// Decides `action` on `resource` for `caller`; `Ok(Grant)` if allowed,
/// a 403 with the explanation (audited) if not. Root is allowed everything.
pub async fn authorize(
    st: &AppState,
    caller: &Caller,
    action: &str,
    resource: &str,
    extra: &[(&str, ContextValue)],
) -> Result<Grant, ApiError> {
    // A session opened with a password that must be changed may change
    // it and ask who it is, nothing else, whatever its policies allow.
    if caller.password_change_only
        && !matches!(action, "iam:ChangePassword" | "sts:GetCallerIdentity")
    {
        st.metrics.denials.fetch_add(1, Ordering::Relaxed);
        audit(
            st,
            caller,
            action,
            resource,
            "ExplicitlyDenied",
            serde_json::json!({"reason": "PasswordResetRequired"}),
        )
        .await?;
        return Err(ApiError::Denied {
            message: format!(
                "{action} refused: the password must be changed first (ChangePassword), then log in again"
            ),
        });
    }
    let user = match &caller.identity {
        Identity::Root => {
            return Ok(Grant {
                action: action.into(),
                resource: resource.into(),
            })
        }
        Identity::User(u) => u,
    };
    let eff = effective(st, user).await?;
    let ctx = context(caller, &eff.tags, extra);
    let req = Request::new(caller.principal.clone(), action, resource, ctx);
    let identity: Vec<&Policy> = eff.identity.iter().map(|p| &**p).collect();
    let boundaries: Vec<&Policy> = eff.boundary.iter().map(|p| &**p).collect();
    let set = PolicySet {
        identity: &identity,
        resource: None,
        boundaries: &boundaries,
        session: None,
    };
    if evaluate(&set, &req).is_allowed() {
        return Ok(Grant {
            action: action.into(),
            resource: resource.into(),
        });
    }
    let why = explain(&set, &req);
    st.metrics.denials.fetch_add(1, Ordering::Relaxed);
    audit(
        st,
        caller,
        action,
        resource,
        why.decision.as_str(),
        serde_json::json!({"reason": format!("{:?}", why.reason)}),
    )
    .await?;
    Err(ApiError::Denied {
        message: why.message,
    })
}

async fn audit(
    st: &AppState,
    caller: &Caller,
    action: &str,
    resource: &str,
    decision: &str,
    detail: serde_json::Value,
) -> Result<(), ApiError> {
    let ev = AuditEvent {
        at: now(),
        principal: caller.arn().to_owned(),
        action: action.to_owned(),
        resource: resource.to_owned(),
        decision: decision.to_owned(),
        source_ip: caller.source_ip.to_string(),
        detail,
    };
    st.store.record(&ev).await.map(|_| ())
}
