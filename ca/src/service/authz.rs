//! Authorization: every route names an action and a resource ARN, and
//! [`authorize`] decides it with ward-authz (the one decision path the
//! agent and gateway share) from the caller's policy set and the request
//! context. What stays here is what touches the store and the caches:
//! loading a user's attachments ([`load_effective`]), the generation-keyed
//! `Effective` cache, auditing denials, and [`Grant`]. A denial is a 403
//! whose message is ward-policy's explanation, and it is audited.
//!
//! A mutation needs a [`Grant`], which only this module makes: a handler
//! that skips authorization does not compile (`Store::mutation` takes one).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use ward_authz::{Attached, Holder, PrincipalPolicies, RequestFacts};
use ward_policy::{ContextValue, Policy, PolicyKind, Request};

use crate::error::ApiError;
use crate::service::caller::{Caller, Identity};
use crate::state::Effective;
use crate::state::{now, AppState};
use crate::store::iam;
use crate::store::roles::{self, Role};
use crate::store::{AuditEvent, Grant};

/// A grant for actions that need no caller policy: password login and
/// its throttling bookkeeping. Named so that its uses are easy to find.
pub fn system_grant(action: &str, resource: &str) -> Grant {
    Grant::new(action, resource)
}

/// Which context keys that cost a database read a caller's policies can
/// look at (ward-authz's rule). Root is decided without policies and wants
/// nothing.
pub use ward_authz::Wanted;

/// The costly context keys `caller`'s policies may look at.
pub async fn wanted(st: &AppState, caller: &Caller) -> Result<Wanted, ApiError> {
    match &caller.identity {
        Identity::Root => Ok(Wanted::default()),
        Identity::User(u) => Ok(effective(st, u).await?.wanted),
        // The session policy bears on decisions too: a Deny in it on a
        // target's tags must see them (else it would silently not apply).
        Identity::RoleSession(rs) => Ok(role_effective(st, &rs.role).await?.wanted.or(rs
            .policy
            .as_deref()
            .map(Wanted::of)
            .unwrap_or_default())),
        Identity::Host(_) => Ok(Wanted::default()),
    }
}

/// [`load_role_effective`] through the generation cache (role ids,
/// `AROA…`, never collide with user ids, `AIDA…`).
async fn role_effective(st: &AppState, role: &Role) -> Result<Arc<Effective>, ApiError> {
    let gen = st.store.generation().await?;
    if let Some(e) = st.effective.get(&role.id, gen) {
        return Ok(e);
    }
    let e = Arc::new(load_role_effective(st, role).await?);
    st.effective.put(&role.id, gen, e.clone());
    Ok(e)
}

/// Reads a role's attachments, boundary and tags and compiles them
/// through the policy cache: the same [`PrincipalPolicies`] as a user's,
/// held by [`Holder::Role`], with nothing inherited.
pub(crate) async fn load_role_effective(st: &AppState, role: &Role) -> Result<Effective, ApiError> {
    let mut c = st.store.pool().acquire().await?;
    let mut docs = PrincipalPolicies::<String>::new(Holder::Role);
    for (doc, inline) in roles::role_documents(&mut c, &role.id).await? {
        if inline {
            docs.own.inline.push(doc);
        } else {
            docs.own.managed.push(doc);
        }
    }
    if let Some(pid) = &role.boundary_policy_id {
        docs.boundary = Some(boundary_document(&mut c, pid).await?);
    }
    let tags = roles::role_tags(&mut c, &role.id).await?;
    let wanted = docs.wanted();
    let policies = docs.try_map(|doc, kind| st.policies.get(&doc, kind))?;
    Ok(Effective {
        policies,
        tags,
        wanted,
    })
}

/// The default version of a boundary policy.
async fn boundary_document(c: &mut crate::store::Conn, pid: &str) -> Result<String, ApiError> {
    let p = iam::policy_by_id(c, pid)
        .await?
        .ok_or_else(|| ApiError::internal("boundary policy missing"))?;
    iam::policy_document(c, pid, p.default_version)
        .await?
        .ok_or_else(|| ApiError::internal("boundary version missing"))
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

/// Reads a user's attachments and compiles them through the policy
/// cache (no `Effective` cache).
pub(crate) async fn load_effective(st: &AppState, user: &iam::User) -> Result<Effective, ApiError> {
    let mut c = st.store.pool().acquire().await?;
    let mut docs = PrincipalPolicies::<String>::new(Holder::User);
    // Each group's documents together, in the order the groups first appear.
    let mut groups: Vec<String> = Vec::new();
    for d in iam::attached_documents(&mut c, &user.id).await? {
        let holder = if d.principal_type == "user" {
            &mut docs.own
        } else {
            let gid = d.principal_id;
            let i = match groups.iter().position(|g| *g == gid) {
                Some(i) => i,
                None => {
                    groups.push(gid);
                    docs.inherited.push(Attached::new(Holder::Group));
                    docs.inherited.len() - 1
                }
            };
            &mut docs.inherited[i]
        };
        if d.inline {
            holder.inline.push(d.document);
        } else {
            holder.managed.push(d.document);
        }
    }
    if let Some(pid) = &user.boundary_policy_id {
        docs.boundary = Some(boundary_document(&mut c, pid).await?);
    }
    let tags = iam::user_tags(&mut c, &user.id).await?;
    let wanted = docs.wanted();
    let policies = docs.try_map(|doc, kind| st.policies.get(&doc, kind))?;
    Ok(Effective {
        policies,
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
    decide_request(st, caller, action, resource, extra, None).await
}

/// [`authorize`] for `sts:AssumeRole` and `sts:TagSession` on a role:
/// the role's trust policy is the resource policy, which must itself
/// allow the caller (ward-policy's trust rule). Root never assumes a role
/// (as AWS).
pub async fn authorize_assume(
    st: &AppState,
    caller: &Caller,
    action: &str,
    role_arn: &str,
    extra: &[(&str, ContextValue)],
    trust: &Policy,
) -> Result<Grant, ApiError> {
    if matches!(caller.identity, Identity::Root) {
        audit(
            st,
            caller,
            action,
            role_arn,
            "ExplicitlyDenied",
            serde_json::json!({"reason": "RootCannotAssumeRoles"}),
        )
        .await?;
        return Err(ApiError::Denied {
            message: format!(
                "{action} refused: the account root cannot assume roles; use an IAM user's credentials"
            ),
        });
    }
    decide_request(st, caller, action, role_arn, extra, Some(trust)).await
}

/// The decision of `action` on a role for a caller federated through an
/// identity pool (`sts:AssumeRoleWithWebIdentity`): the principal is the
/// pool's federated identity (`{"Federated": "identity.ward"}`), which
/// holds no policies of its own, so only the role's trust policy can
/// allow it — ward-authz's decision with the trust policy as the resource
/// policy and the same context builder as AssumeRole. Neither audited
/// nor counted ([`authorize_federated`] is).
pub fn federated_decision(
    principal: &ward_policy::Principal,
    facts: &RequestFacts<'_>,
    action: &str,
    role_arn: &str,
    extra: &[(&str, ContextValue)],
    trust: &Policy,
) -> ward_authz::Decision {
    let ctx = ward_authz::context(action, facts, extra);
    let req = Request::new(principal.clone(), action, role_arn, ctx);
    let none = PrincipalPolicies::<Arc<Policy>>::new(Holder::Role);
    let assembled = none.assemble();
    ward_authz::decide(&assembled.set_with_resource(Some(trust)), &req)
}

/// Audits a refused federated assumption (principal `audit_arn`).
pub async fn audit_federated_denial(
    st: &AppState,
    audit_arn: &str,
    facts: &RequestFacts<'_>,
    action: &str,
    role_arn: &str,
    decision: &str,
    detail: serde_json::Value,
) -> Result<(), ApiError> {
    st.metrics.denials.fetch_add(1, Ordering::Relaxed);
    let ev = AuditEvent {
        at: now(),
        principal: audit_arn.to_owned(),
        action: action.to_owned(),
        resource: role_arn.to_owned(),
        decision: decision.to_owned(),
        source_ip: facts.source_ip.map(|ip| ip.to_string()).unwrap_or_default(),
        detail,
    };
    st.store.record(&ev).await.map(|_| ())
}

/// [`federated_decision`], as [`authorize_assume`] for AssumeRole:
/// `Ok(Grant)` if the trust policy allows, else a 403 with ward-policy's
/// explanation, audited under `audit_arn`.
#[allow(clippy::too_many_arguments)]
pub async fn authorize_federated(
    st: &AppState,
    principal: &ward_policy::Principal,
    facts: &RequestFacts<'_>,
    audit_arn: &str,
    action: &str,
    role_arn: &str,
    extra: &[(&str, ContextValue)],
    trust: &Policy,
) -> Result<Grant, ApiError> {
    let d = federated_decision(principal, facts, action, role_arn, extra, trust);
    if d.allowed {
        return Ok(Grant::new(action, role_arn));
    }
    let Some(why) = d.explanation else {
        return Err(ApiError::internal("a denial without its explanation"));
    };
    audit_federated_denial(
        st,
        audit_arn,
        facts,
        action,
        role_arn,
        why.decision.as_str(),
        serde_json::json!({"reason": format!("{:?}", why.reason)}),
    )
    .await?;
    Err(ApiError::Denied {
        message: why.message,
    })
}

async fn decide_request(
    st: &AppState,
    caller: &Caller,
    action: &str,
    resource: &str,
    extra: &[(&str, ContextValue)],
    resource_policy: Option<&Policy>,
) -> Result<Grant, ApiError> {
    let prepared = prepare(st, caller).await?;
    match prepared.decide(caller, action, resource, extra, resource_policy) {
        Ok(g) => Ok(g),
        Err(Refused::Other(e)) => Err(e),
        Err(Refused::Denied(d)) => {
            st.metrics.denials.fetch_add(1, Ordering::Relaxed);
            audit(st, caller, action, resource, d.decision, d.detail).await?;
            Err(ApiError::Denied { message: d.message })
        }
    }
}

/// What deciding needs of a caller, read once ([`prepare`]): a call that
/// decides many requests for one caller (the access map's rows) reads
/// the generation and the caller's policies once, not once a request.
pub struct Prepared {
    kind: PreparedKind,
}

enum PreparedKind {
    Root,
    Host,
    Loaded {
        eff: Arc<Effective>,
        session_tags: Option<Vec<(String, String)>>,
        session_policy: Option<Arc<Policy>>,
        cred_keys: Vec<(String, ContextValue)>,
    },
}

/// A denial [`Prepared::decide`] found, not yet audited: the caller of
/// `decide` audits it (one record per request, or one for a batch).
#[derive(Debug)]
pub struct Denial {
    /// `ExplicitlyDenied` or `ImplicitlyDenied`.
    pub decision: &'static str,
    /// The audit record's detail (the reason).
    pub detail: serde_json::Value,
    /// ward-policy's explanation, the 403's message.
    pub message: String,
}

/// Why [`Prepared::decide`] did not grant.
#[derive(Debug)]
pub enum Refused {
    /// Denied by policy (to be audited by the caller).
    Denied(Denial),
    /// Not a policy decision (a host caller outside the host routes).
    Other(ApiError),
}

/// Reads what deciding for `caller` needs (one generation read and,
/// when the cache misses, the caller's policies).
pub async fn prepare(st: &AppState, caller: &Caller) -> Result<Prepared, ApiError> {
    let kind = match &caller.identity {
        Identity::Root => PreparedKind::Root,
        // Hosts are confined to the host routes (`api::authn`), which
        // decide nothing by policy; anything else is refused (fail closed).
        Identity::Host(_) => PreparedKind::Host,
        Identity::User(u) => PreparedKind::Loaded {
            eff: effective(st, u).await?,
            session_tags: None,
            session_policy: None,
            cred_keys: Vec::new(),
        },
        // A role session: the role's policies, its tags overridden by the
        // session's, the session policy, and the keys of a temporary
        // credential (ward:TokenIssueTime, which revoke-sessions denies on).
        Identity::RoleSession(rs) => {
            let eff = role_effective(st, &rs.role).await?;
            let session_policy = match &rs.policy {
                Some(doc) => Some(st.policies.get(doc, PolicyKind::InlineRole)?),
                None => None,
            };
            let mut tags = eff.tags.clone();
            for (k, v) in &rs.tags {
                tags.retain(|(tk, _)| !tk.eq_ignore_ascii_case(k));
                tags.push((k.clone(), v.clone()));
            }
            let mut keys = ward_authz::context::temporary_credential(
                rs.issued_at,
                rs.source_identity.as_deref(),
            );
            // As AWS: a role session's ward:PrincipalArn is its role's ARN
            // (the session ARN is the principal itself).
            keys.push((
                "ward:PrincipalArn".to_owned(),
                ContextValue::from(crate::service::caller::role_arn(
                    caller.principal.account(),
                    &rs.role,
                )),
            ));
            PreparedKind::Loaded {
                eff,
                session_tags: Some(tags),
                session_policy,
                cred_keys: keys,
            }
        }
    };
    Ok(Prepared { kind })
}

impl Prepared {
    /// Decides `action` on `resource` for `caller` (the caller this was
    /// prepared for) with no store read and no audit record.
    pub fn decide(
        &self,
        caller: &Caller,
        action: &str,
        resource: &str,
        extra: &[(&str, ContextValue)],
        resource_policy: Option<&Policy>,
    ) -> Result<Grant, Refused> {
        // A session opened with a password that must be changed may change
        // it and ask who it is, nothing else, whatever its policies allow.
        if caller.password_change_only && !ward_authz::password_change_allows(action) {
            return Err(Refused::Denied(Denial {
                decision: "ExplicitlyDenied",
                detail: serde_json::json!({"reason": "PasswordResetRequired"}),
                message: format!(
                    "{action} refused: the password must be changed first (ChangePassword), then log in again"
                ),
            }));
        }
        let (eff, session_tags, session_policy, cred_keys) = match &self.kind {
            PreparedKind::Root => return Ok(Grant::new(action, resource)),
            PreparedKind::Host => {
                return Err(Refused::Other(crate::service::caller::host_route_only()))
            }
            PreparedKind::Loaded {
                eff,
                session_tags,
                session_policy,
                cred_keys,
            } => (eff, session_tags, session_policy, cred_keys),
        };
        let facts = RequestFacts {
            source_ip: Some(caller.source_ip),
            now: now(),
            secure_transport: caller.secure,
            auth_method: caller.auth_method,
            mfa_authenticated_at: caller.mfa_authenticated_at,
            principal_tags: session_tags.as_deref().unwrap_or(&eff.tags),
        };
        let mut all: Vec<(&str, ContextValue)> = ward_authz::context::refs(cred_keys);
        all.extend(extra.iter().cloned());
        let ctx = ward_authz::context(action, &facts, &all);
        let req = Request::new(caller.principal.clone(), action, resource, ctx);
        let assembled = eff
            .policies
            .assemble()
            .with_session(session_policy.as_deref());
        let d = ward_authz::decide(&assembled.set_with_resource(resource_policy), &req);
        if d.allowed {
            return Ok(Grant::new(action, resource));
        }
        // decide() explains every denial.
        let Some(why) = d.explanation else {
            return Err(Refused::Other(ApiError::internal(
                "a denial without its explanation",
            )));
        };
        Err(Refused::Denied(Denial {
            decision: why.decision.as_str(),
            detail: serde_json::json!({"reason": format!("{:?}", why.reason)}),
            message: why.message,
        }))
    }
}

/// Audits a batch of denials of one call as one record (the access map's
/// hidden rows): `action` on `resource`, with the count and the first
/// [`BATCH_NAMES`] names in the detail. Counted once in the denials
/// metric.
pub async fn audit_denied_batch(
    st: &AppState,
    caller: &Caller,
    action: &str,
    resource: &str,
    decision: &str,
    names: &[String],
    mut detail: serde_json::Value,
) -> Result<(), ApiError> {
    st.metrics.denials.fetch_add(1, Ordering::Relaxed);
    let first: Vec<&str> = names.iter().take(BATCH_NAMES).map(String::as_str).collect();
    detail["denied"] = serde_json::json!(names.len());
    detail["firstNames"] = serde_json::json!(first);
    audit(st, caller, action, resource, decision, detail).await
}

/// A refusal that no policy can lift (e.g. root's own sessions asked by
/// anyone else): audited as `ExplicitlyDenied` with `reason`, counted, and
/// returned as the 403 to send.
pub async fn deny_system(
    st: &AppState,
    caller: &Caller,
    action: &str,
    resource: &str,
    reason: &str,
    message: String,
) -> ApiError {
    st.metrics.denials.fetch_add(1, Ordering::Relaxed);
    let detail = serde_json::json!({"reason": reason});
    if let Err(e) = audit(st, caller, action, resource, "ExplicitlyDenied", detail).await {
        return e;
    }
    ApiError::Denied { message }
}

/// Most names a batch denial record lists.
pub const BATCH_NAMES: usize = 20;

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
