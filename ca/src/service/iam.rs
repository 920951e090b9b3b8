//! IAM: users, groups, managed and inline policies, attachments,
//! permissions boundaries and tags. Each handler: parse and validate input
//! (typed 400s naming the field), authorize (a [`Grant`]), then one
//! mutation transaction that commits with its audit event.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::value::RawValue;
use ward_authz::context;
use ward_policy::{ContextValue, Policy, PolicyKind};
use ward_protocol::api;

use crate::crypto::{self};
use crate::error::ApiError;
use crate::service::authz::{authorize, authorize_read};
use crate::service::caller::{user_arn, Caller, Identity};
use crate::service::names;
use crate::service::request::{body, commit, document_text, rfc3339, P, Q};
use crate::state::{now, Shared};
use crate::store::iam::{self, PageRequest, PrincipalType};
use crate::store::Grant;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ListQuery {
    #[serde(default)]
    path_prefix: Option<String>,
    #[serde(default)]
    marker: Option<String>,
    #[serde(default)]
    max_items: Option<String>,
}

impl ListQuery {
    fn page(&self) -> Result<(String, PageRequest), ApiError> {
        let prefix = self.path_prefix.clone().unwrap_or_else(|| "/".into());
        if !prefix.starts_with('/')
            || prefix.len() > 512
            || !prefix.bytes().all(|b| (0x21..=0x7e).contains(&b))
        {
            return Err(ApiError::invalid(
                "pathPrefix",
                "pathPrefix must start with '/' and be at most 512 printable ASCII characters",
            ));
        }
        let max_items = match &self.max_items {
            None => 100,
            Some(m) => m
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| {
                    ApiError::invalid("maxItems", "maxItems must be an integer from 1 to 1000")
                })?,
        };
        let marker = self.marker.clone().unwrap_or_default();
        names::text("marker", &marker, 256)?;
        Ok((prefix, PageRequest { marker, max_items }))
    }

    /// The validated page, once `action` is allowed on every entity of a
    /// kind under the prefix (`arn(account, prefix, "*")`): the preamble of
    /// every List handler, whatever the kind.
    pub(crate) async fn authorize(
        &self,
        st: &Shared,
        caller: &Caller,
        action: &str,
        arn: fn(&str, &str, &str) -> String,
    ) -> Result<(String, PageRequest), ApiError> {
        let (prefix, page) = self.page()?;
        authorize_read(st, caller, action, &arn(&acct(st), &prefix, "*"), &[]).await?;
        Ok((prefix, page))
    }
}

pub(crate) fn acct(st: &Shared) -> String {
    st.store.account_id().to_owned()
}

pub(crate) fn path_or_root(field: &str, p: &Option<String>) -> Result<String, ApiError> {
    let p = p.clone().unwrap_or_else(|| "/".into());
    names::path(field, &p)?;
    Ok(p)
}

/// Validates a document as `kind`; faults become `MalformedPolicyDocument`.
pub(crate) fn validate_document(raw: &RawValue, kind: PolicyKind) -> Result<String, ApiError> {
    let text = document_text(raw)?;
    Policy::parse(&text, kind).map_err(|e| {
        ApiError::invalid_code("MalformedPolicyDocument", "document", e.to_string())
    })?;
    Ok(text)
}

pub(crate) fn document_json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or(serde_json::Value::String(text.to_owned()))
}

// ---- identity ---------------------------------------------------------

pub(crate) async fn whoami(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<api::CallerIdentity>, ApiError> {
    // As in AWS, anyone authenticated may ask who they are; root use is
    // still audited.
    if matches!(caller.identity, Identity::Root) {
        authorize_read(&st, &caller, "sts:GetCallerIdentity", caller.arn(), &[]).await?;
    }
    let user_id = match &caller.identity {
        Identity::Root => acct(&st),
        Identity::User(u) => u.id.clone(),
        Identity::RoleSession(rs) => rs.assumed_role_id(),
        Identity::Host(h) => h.id.clone(),
    };
    Ok(Json(api::CallerIdentity {
        arn: caller.arn().to_owned(),
        user_id,
        account: acct(&st),
        auth_method: caller.auth_method.into(),
    }))
}

// ---- users ------------------------------------------------------------

pub(crate) async fn user_out(
    st: &Shared,
    c: &mut crate::store::Conn,
    u: &iam::User,
) -> Result<api::User, ApiError> {
    let tags = tags_out(iam::user_tags(c, &u.id).await?);
    let boundary = boundary_arn(st, c, u.boundary_policy_id.as_deref()).await?;
    Ok(api::User {
        name: u.name.clone(),
        user_id: u.id.clone(),
        arn: user_arn(&acct(st), u),
        path: u.path.clone(),
        uid: u.uid,
        created: rfc3339(u.created_at),
        tags,
        permissions_boundary: boundary,
        posix: crate::service::posix::posix_view(u, &st.config.posix),
        disabled: u.disabled_at.is_some(),
        disabled_at: u.disabled_at.map(rfc3339),
        warnings: crate::service::posix::no_posix_reason(&u.name)
            .into_iter()
            .collect(),
    })
}

/// Tags as the API shows them.
pub(crate) fn tags_out(tags: Vec<(String, String)>) -> Vec<api::Tag> {
    tags.into_iter()
        .map(|(key, value)| api::Tag { key, value })
        .collect()
}

/// The ARN of a user's or role's permissions boundary (policy id
/// `boundary`), if it has one whose policy exists.
pub(crate) async fn boundary_arn(
    st: &Shared,
    c: &mut crate::store::Conn,
    boundary: Option<&str>,
) -> Result<Option<String>, ApiError> {
    Ok(match boundary {
        Some(pid) => iam::policy_by_id(c, pid).await?.map(|p| policy_arn(st, &p)),
        None => None,
    })
}

/// A Tag request's body, checked: the tags, their keys, and the
/// `ward:RequestTag/*` and `ward:TagKeys` context keys AWS supplies for it.
pub(crate) struct Tagging {
    pub(crate) tags: Vec<(String, String)>,
    pub(crate) keys: Vec<String>,
    pub(crate) ctx: Vec<(String, ContextValue)>,
}

/// Parses and checks a Tag request's body ([`Tagging`]).
pub(crate) fn tag_request(b: &Bytes) -> Result<Tagging, ApiError> {
    let req: api::TagRequest = body(b)?;
    let tags = check_tags("tags", &req.tags)?;
    let keys: Vec<String> = tags.iter().map(|(k, _)| k.clone()).collect();
    let ctx = context::request_tags(&tags);
    Ok(Tagging { tags, keys, ctx })
}

pub(crate) fn check_tags(
    field: &str,
    tags: &[api::Tag],
) -> Result<Vec<(String, String)>, ApiError> {
    if tags.len() > names::MAX_TAGS {
        return Err(ApiError::invalid(
            field,
            format!("at most {} tags", names::MAX_TAGS),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, t) in tags.iter().enumerate() {
        names::tag(&format!("{field}[{i}]"), &t.key, &t.value)?;
        if !seen.insert(t.key.to_lowercase()) {
            return Err(ApiError::invalid(
                format!("{field}[{i}].key"),
                format!("tag key {:?} is given twice", t.key),
            ));
        }
    }
    Ok(tags
        .iter()
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect())
}

pub(crate) fn user_resource(st: &Shared, path: &str, name: &str) -> String {
    ward_authz::arn::user(st.store.account_id(), path, name)
}

/// Loads a user by name for a request on it; the resource ARN of a user
/// that does not exist is built from its name so that authorization runs
/// before a 404 reveals anything.
pub(crate) async fn target_user(
    st: &Shared,
    caller: &Caller,
    action: &str,
    name: &str,
    read: bool,
) -> Result<(iam::User, Grant), ApiError> {
    target_user_with(st, caller, action, name, read, &[]).await
}

/// The context keys a request on an existing user supplies: the user's
/// tags as `ward:ResourceTag/*` and, for the actions that take it, the
/// user's permissions boundary as `iam:PermissionsBoundary` — read only
/// when the caller's policies can look at them.
pub(crate) async fn user_resource_context(
    st: &Shared,
    c: &mut crate::store::Conn,
    want: crate::service::authz::Wanted,
    action: &str,
    u: &iam::User,
) -> Result<Vec<(String, ContextValue)>, ApiError> {
    let boundary = u.boundary_policy_id.as_deref();
    bounded_context(st, c, want, action, Bounded::User, &u.id, boundary).await
}

/// The context keys of a user or role `id` (see [`user_resource_context`]):
/// its tags, then its boundary `boundary` (a policy id) where the action
/// takes it.
async fn bounded_context(
    st: &Shared,
    c: &mut crate::store::Conn,
    want: crate::service::authz::Wanted,
    action: &str,
    kind: Bounded,
    id: &str,
    boundary: Option<&str>,
) -> Result<Vec<(String, ContextValue)>, ApiError> {
    let mut ctx = Vec::new();
    if want.resource_tags {
        let tags = match kind {
            Bounded::User => iam::user_tags(c, id).await?,
            Bounded::Role => crate::store::roles::role_tags(c, id).await?,
        };
        ctx = context::resource_tags(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    }
    if want.boundary && context::supplies_current_boundary(action) {
        if let Some(pid) = boundary {
            match iam::policy_by_id(c, pid).await? {
                Some(p) => {
                    let (k, v) = context::permissions_boundary(&policy_arn(st, &p));
                    ctx.push((k.to_owned(), v));
                }
                // A policy that is a user's boundary cannot be deleted
                // (DeleteConflict), so a missing one is a fault; a role's
                // is passed over, as it always was.
                None if matches!(kind, Bounded::User) => {
                    return Err(ApiError::internal("boundary policy missing"))
                }
                None => {}
            }
        }
    }
    Ok(ctx)
}

/// [`target_user`] with request-specific context keys (`ward:TagKeys`,
/// `iam:PolicyARN`, …) besides the user's own.
pub(crate) async fn target_user_with(
    st: &Shared,
    caller: &Caller,
    action: &str,
    name: &str,
    read: bool,
    extra: &[(&str, ContextValue)],
) -> Result<(iam::User, Grant), ApiError> {
    names::user_name("name", name)?;
    let want = crate::service::authz::wanted(st, caller).await?;
    let mut c = st.store.pool().acquire().await?;
    let found = iam::find_user(&mut c, name).await?;
    let own = match &found {
        Some(u) => user_resource_context(st, &mut c, want, action, u).await?,
        None => Vec::new(),
    };
    // Never hold a pooled connection while authorization takes another.
    drop(c);
    let arn = match &found {
        Some(u) => user_arn(&acct(st), u),
        None => user_resource(st, "/", name),
    };
    let target = Target { found, arn, own };
    target
        .grant(st, caller, action, read, extra, ("user", name))
        .await
}

/// An entity a request names, looked up before authorization: the ARN to
/// authorize on (made from the name when there is no such entity) and the
/// entity's own context keys ([`user_resource_context`] and the like).
struct Target<T> {
    found: Option<T>,
    arn: String,
    own: Vec<(String, ContextValue)>,
}

impl<T> Target<T> {
    /// An entity whose requests supply no context keys of its own.
    fn new(found: Option<T>, arn: String) -> Target<T> {
        Target {
            found,
            arn,
            own: Vec::new(),
        }
    }

    /// Authorizes `action` (a read or a write) with the entity's own keys
    /// and then `extra`, and only then answers 404 for `what` `name` when
    /// there is no such entity, so that a 404 reveals nothing to the
    /// unauthorized: the end of every `target_*_with`.
    async fn grant(
        self,
        st: &Shared,
        caller: &Caller,
        action: &str,
        read: bool,
        extra: &[(&str, ContextValue)],
        (what, name): (&str, &str),
    ) -> Result<(T, Grant), ApiError> {
        let ctx: Vec<(&str, ContextValue)> = context::refs(&self.own)
            .into_iter()
            .chain(extra.iter().cloned())
            .collect();
        let g = if read {
            authorize_read(st, caller, action, &self.arn, &ctx).await?
        } else {
            authorize(st, caller, action, &self.arn, &ctx).await?
        };
        let found = self.found.ok_or_else(|| ApiError::no_such(what, name))?;
        Ok((found, g))
    }
}

/// The actions a create that may tag and bound checks: the create, the
/// tagging and the boundary ([`authorize_create`]).
pub(crate) struct CreateActions {
    pub(crate) create: &'static str,
    pub(crate) tag: &'static str,
    pub(crate) boundary: &'static str,
}

const CREATE_USER: CreateActions = CreateActions {
    create: "iam:CreateUser",
    tag: "iam:TagUser",
    boundary: "iam:PutUserPermissionsBoundary",
};

/// Authorizes a create that may tag and set a permissions boundary
/// (CreateUser, CreateRole) on `arn`. AWS supplies the tags and the
/// boundary asked for as context keys, so a Deny on tag keys or a required
/// boundary applies here too; and tagging at creation also needs the tag
/// action, a boundary at creation the boundary action, each with the same
/// keys — otherwise creating is a way around their guard-rails. Returns
/// the create's grant and the boundary policy (404 once authorized, if the
/// reference names none).
pub(crate) async fn authorize_create(
    st: &Shared,
    caller: &Caller,
    arn: &str,
    tags: &[(String, String)],
    boundary: Option<&str>,
    actions: CreateActions,
) -> Result<(Grant, Option<iam::ManagedPolicy>), ApiError> {
    let mut ctx = context::request_tags(tags);
    let boundary = match boundary {
        None => None,
        Some(r) => {
            let (p, arn) = policy_ref(st, "permissionsBoundary", r).await?;
            let (k, v) = context::permissions_boundary(&arn);
            ctx.push((k.to_owned(), v));
            Some((p, arn))
        }
    };
    let ctx = context::refs(&ctx);
    let g = authorize(st, caller, actions.create, arn, &ctx).await?;
    if !tags.is_empty() {
        authorize(st, caller, actions.tag, arn, &ctx).await?;
    }
    if boundary.is_some() {
        authorize(st, caller, actions.boundary, arn, &ctx).await?;
    }
    let boundary = match boundary {
        None => None,
        Some((p, arn)) => Some(p.ok_or_else(|| ApiError::no_such("policy", &arn))?),
    };
    Ok((g, boundary))
}

pub(crate) async fn create_user(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    b: Bytes,
) -> Result<(StatusCode, Json<api::User>), ApiError> {
    let req: api::CreateUser = body(&b)?;
    names::new_user_name("name", &req.name)?;
    let path = path_or_root("path", &req.path)?;
    let tags = check_tags("tags", &req.tags)?;
    let (g, boundary) = authorize_create(
        &st,
        &caller,
        &user_resource(&st, &path, &req.name),
        &tags,
        req.permissions_boundary.as_deref(),
        CREATE_USER,
    )
    .await?;
    let mut m = st.store.mutation(&g).await?;
    let u = iam::create_user(
        &mut m.tx,
        &crypto::unique_id("AIDA"),
        &req.name,
        &path,
        now(),
        st.config.uid_range.1,
    )
    .await?;
    iam::tag_user(&mut m.tx, &u.id, &tags).await?;
    let u = match &boundary {
        None => u,
        Some(p) => {
            iam::set_boundary(&mut m.tx, &u.id, Some(&p.id)).await?;
            iam::User {
                boundary_policy_id: Some(p.id.clone()),
                ..u
            }
        }
    };
    let out = user_out(&st, &mut m.tx, &u).await?;
    commit(
        m,
        &caller,
        &g,
        serde_json::json!({"userId": u.id, "uid": u.uid,
            "permissionsBoundary": boundary.as_ref().map(|p| policy_arn(&st, p))}),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(out)))
}

pub(crate) async fn list_users(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    Q(q): Q<ListQuery>,
) -> Result<Json<api::UserList>, ApiError> {
    let (prefix, page) = q
        .authorize(&st, &caller, "iam:ListUsers", ward_authz::arn::user)
        .await?;
    let mut c = st.store.pool().acquire().await?;
    let p = iam::list_users(&mut c, &prefix, &page).await?;
    let mut users = Vec::with_capacity(p.items.len());
    for u in &p.items {
        users.push(user_out(&st, &mut c, u).await?);
    }
    Ok(Json(api::UserList {
        users,
        marker: p.marker,
    }))
}

pub(crate) async fn get_user(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> Result<Json<api::User>, ApiError> {
    let (u, _) = target_user(&st, &caller, "iam:GetUser", &name, true).await?;
    let mut c = st.store.pool().acquire().await?;
    Ok(Json(user_out(&st, &mut c, &u).await?))
}

/// A rename and/or move (UpdateUser, UpdateGroup), its fields validated.
struct Rename<'a> {
    new_name: Option<&'a str>,
    new_path: Option<&'a str>,
}

impl<'a> Rename<'a> {
    /// Checks `newName` by the kind's name rule and `newPath` as a path.
    fn check<E: Into<ApiError>>(
        new_name: &'a Option<String>,
        new_path: &'a Option<String>,
        name_rule: fn(&str, &str) -> Result<(), E>,
    ) -> Result<Rename<'a>, ApiError> {
        if let Some(n) = new_name {
            name_rule("newName", n).map_err(Into::into)?;
        }
        if let Some(p) = new_path {
            names::path("newPath", p)?;
        }
        Ok(Rename {
            new_name: new_name.as_deref(),
            new_path: new_path.as_deref(),
        })
    }

    /// As AWS: a rename or move needs `action` on the new ARN too, or a
    /// user allowed to update only `user/${ward:username}` could become
    /// `root`, or move under a path that other policies trust. `arn` makes
    /// the kind's ARNs from (account, path, name); `own`, the entity's own
    /// context keys, is awaited only when the ARN changes.
    async fn authorize(
        &self,
        st: &Shared,
        caller: &Caller,
        action: &str,
        arn: fn(&str, &str, &str) -> String,
        (path, name): (&str, &str),
        own: impl std::future::Future<Output = Result<Vec<(String, ContextValue)>, ApiError>>,
    ) -> Result<(), ApiError> {
        let new_path = self.new_path.unwrap_or(path);
        let new_name = self.new_name.unwrap_or(name);
        let new_arn = arn(&acct(st), new_path, new_name);
        if new_arn != arn(&acct(st), path, name) {
            let own = own.await?;
            authorize(st, caller, action, &new_arn, &context::refs(&own)).await?;
        }
        Ok(())
    }
}

pub(crate) async fn update_user(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
    b: Bytes,
) -> Result<Json<api::User>, ApiError> {
    let req: api::UpdateUser = body(&b)?;
    let rename = Rename::check(&req.new_name, &req.new_path, names::new_user_name)?;
    let shell = req
        .shell
        .as_deref()
        .map(|s| crate::service::posix::shell("shell", s))
        .transpose()?;
    let home = req
        .home
        .as_deref()
        .map(|s| crate::service::posix::home("home", s))
        .transpose()?;
    let gecos = req
        .gecos
        .as_deref()
        .map(|s| crate::service::posix::gecos("gecos", s))
        .transpose()?;
    let (u, g) = target_user(&st, &caller, "iam:UpdateUser", &name, false).await?;
    let own = async {
        let want = crate::service::authz::wanted(&st, &caller).await?;
        let mut c = st.store.pool().acquire().await?;
        user_resource_context(&st, &mut c, want, "iam:UpdateUser", &u).await
    };
    rename
        .authorize(
            &st,
            &caller,
            "iam:UpdateUser",
            ward_authz::arn::user,
            (&u.path, &u.name),
            own,
        )
        .await?;
    let mut m = st.store.mutation(&g).await?;
    let u2 = iam::update_user(&mut m.tx, &u, rename.new_name, rename.new_path).await?;
    let posix_change = shell.is_some() || home.is_some() || gecos.is_some();
    let u2 = if posix_change {
        let home = home.unwrap_or_else(|| u2.home.clone());
        let shell = shell.unwrap_or_else(|| u2.shell.clone());
        let gecos = gecos.unwrap_or_else(|| u2.gecos.clone());
        iam::set_posix(&mut m.tx, &u2, home.as_deref(), shell.as_deref(), &gecos).await?
    } else {
        u2
    };
    // Issue #7 item 3: certificates naming the old name are revoked (same transaction).
    if u2.name != u.name {
        crate::store::certs::revoke_for_user_change(
            &mut m.tx,
            &u.id,
            crate::store::certs::UserChange::Renamed(&u.name),
            now(),
        )
        .await?;
    }
    let out = user_out(&st, &mut m.tx, &u2).await?;
    commit(
        m,
        &caller,
        &g,
        serde_json::json!({"newName": req.new_name, "newPath": req.new_path,
            "shell": req.shell, "home": req.home, "gecos": req.gecos}),
    )
    .await?;
    Ok(Json(out))
}

pub(crate) async fn delete_user(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> Result<StatusCode, ApiError> {
    let (u, g) = target_user(&st, &caller, "iam:DeleteUser", &name, false).await?;
    let mut m = st.store.mutation(&g).await?;
    iam::delete_user(&mut m.tx, &u).await?;
    // Issue #7 item 3: the user's certificates die with it (same transaction).
    crate::store::certs::revoke_for_user_change(
        &mut m.tx,
        &u.id,
        crate::store::certs::UserChange::Deleted,
        now(),
    )
    .await?;
    commit(m, &caller, &g, serde_json::json!({"userId": u.id})).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn tag_user(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
    b: Bytes,
) -> Result<Json<api::User>, ApiError> {
    // One decision, with every key AWS supplies for TagUser.
    let Tagging { tags, keys, ctx } = tag_request(&b)?;
    let (u, g) = target_user_with(
        &st,
        &caller,
        "iam:TagUser",
        &name,
        false,
        &context::refs(&ctx),
    )
    .await?;
    let mut m = st.store.mutation(&g).await?;
    iam::tag_user(&mut m.tx, &u.id, &tags).await?;
    let out = user_out(&st, &mut m.tx, &u).await?;
    commit(m, &caller, &g, serde_json::json!({"tagKeys": keys})).await?;
    Ok(Json(out))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeysQuery {
    keys: String,
}

impl KeysQuery {
    /// The tag keys an Untag request removes: 1 to 50, each a valid key.
    pub(crate) fn keys(&self) -> Result<Vec<String>, ApiError> {
        let keys: Vec<String> = self
            .keys
            .split(',')
            .map(str::to_owned)
            .filter(|k| !k.is_empty())
            .collect();
        if keys.is_empty() || keys.len() > names::MAX_TAGS {
            return Err(ApiError::invalid(
                "keys",
                "keys must list 1 to 50 comma-separated tag keys",
            ));
        }
        for k in &keys {
            names::tag("keys", k, "")?;
        }
        Ok(keys)
    }
}

pub(crate) async fn untag_user(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
    Q(q): Q<KeysQuery>,
) -> Result<Json<api::User>, ApiError> {
    let keys = q.keys()?;
    let (u, g) = target_user_with(
        &st,
        &caller,
        "iam:UntagUser",
        &name,
        false,
        &[context::tag_keys(keys.clone())],
    )
    .await?;
    let mut m = st.store.mutation(&g).await?;
    iam::untag_user(&mut m.tx, &u.id, &keys).await?;
    let out = user_out(&st, &mut m.tx, &u).await?;
    commit(m, &caller, &g, serde_json::json!({"tagKeys": keys})).await?;
    Ok(Json(out))
}

// ---- groups -----------------------------------------------------------

pub(crate) fn group_out(st: &Shared, g: &iam::Group) -> api::Group {
    api::Group {
        name: g.name.clone(),
        group_id: g.id.clone(),
        arn: ward_authz::arn::group(&acct(st), &g.path, &g.name),
        path: g.path.clone(),
        gid: g.gid,
        created: rfc3339(g.created_at),
    }
}

pub(crate) async fn target_group(
    st: &Shared,
    caller: &Caller,
    action: &str,
    name: &str,
    read: bool,
) -> Result<(iam::Group, Grant), ApiError> {
    target_group_with(st, caller, action, name, read, &[]).await
}

/// [`target_group`] with request-specific context keys.
pub(crate) async fn target_group_with(
    st: &Shared,
    caller: &Caller,
    action: &str,
    name: &str,
    read: bool,
    extra: &[(&str, ContextValue)],
) -> Result<(iam::Group, Grant), ApiError> {
    names::group_name("name", name)?;
    let mut c = st.store.pool().acquire().await?;
    let found = iam::find_group(&mut c, name).await?;
    // Never hold a pooled connection while authorization takes another.
    drop(c);
    let arn = match &found {
        Some(g) => group_out(st, g).arn,
        None => ward_authz::arn::group(&acct(st), "/", name),
    };
    let target = Target::new(found, arn);
    target
        .grant(st, caller, action, read, extra, ("group", name))
        .await
}

pub(crate) async fn create_group(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    b: Bytes,
) -> Result<(StatusCode, Json<api::Group>), ApiError> {
    let req: api::CreateGroup = body(&b)?;
    names::group_name("name", &req.name)?;
    let path = path_or_root("path", &req.path)?;
    let g = authorize(
        &st,
        &caller,
        "iam:CreateGroup",
        &ward_authz::arn::group(&acct(&st), &path, &req.name),
        &[],
    )
    .await?;
    let mut m = st.store.mutation(&g).await?;
    let grp = iam::create_group(
        &mut m.tx,
        &crypto::unique_id("AGPA"),
        &req.name,
        &path,
        now(),
        st.config.uid_range.1,
    )
    .await?;
    commit(
        m,
        &caller,
        &g,
        serde_json::json!({"groupId": grp.id, "gid": grp.gid}),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(group_out(&st, &grp))))
}

pub(crate) async fn list_groups(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    Q(q): Q<ListQuery>,
) -> Result<Json<api::GroupList>, ApiError> {
    let (prefix, page) = q
        .authorize(&st, &caller, "iam:ListGroups", ward_authz::arn::group)
        .await?;
    let mut c = st.store.pool().acquire().await?;
    let p = iam::list_groups(&mut c, &prefix, &page).await?;
    Ok(Json(api::GroupList {
        groups: p.items.iter().map(|g| group_out(&st, g)).collect(),
        marker: p.marker,
    }))
}

pub(crate) async fn get_group(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> Result<Json<api::GroupDetail>, ApiError> {
    let (g, _) = target_group(&st, &caller, "iam:GetGroup", &name, true).await?;
    let mut c = st.store.pool().acquire().await?;
    let users = iam::group_members(&mut c, &g.id)
        .await?
        .into_iter()
        .map(|u| u.name)
        .collect();
    Ok(Json(api::GroupDetail {
        group: group_out(&st, &g),
        users,
    }))
}

/// `PATCH /v1/groups/{name}`: AWS's UpdateGroup (rename and/or move).
/// As for users, the caller needs `iam:UpdateGroup` on the new ARN too.
/// Members, policies and the gid are keyed by the group's id and stay; the
/// one UPDATE is audited and moves the IAM generation. ward-ca's decisions
/// read groups by id; host snapshots carry memberships and groups by name
/// from one read transaction, so either sees the old name or the new one,
/// never a member cut off from the group's policies.
pub(crate) async fn update_group(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
    b: Bytes,
) -> Result<Json<api::Group>, ApiError> {
    let req: api::UpdateGroup = body(&b)?;
    let rename = Rename::check(&req.new_name, &req.new_path, names::group_name)?;
    let (grp, g) = target_group(&st, &caller, "iam:UpdateGroup", &name, false).await?;
    let own = async { Ok(Vec::new()) };
    rename
        .authorize(
            &st,
            &caller,
            "iam:UpdateGroup",
            ward_authz::arn::group,
            (&grp.path, &grp.name),
            own,
        )
        .await?;
    let mut m = st.store.mutation(&g).await?;
    let g2 = iam::update_group(&mut m.tx, &grp, rename.new_name, rename.new_path).await?;
    commit(
        m,
        &caller,
        &g,
        serde_json::json!({"groupId": grp.id, "oldName": grp.name, "newName": req.new_name, "newPath": req.new_path}),
    )
    .await?;
    Ok(Json(group_out(&st, &g2)))
}

pub(crate) async fn delete_group(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> Result<StatusCode, ApiError> {
    let (grp, g) = target_group(&st, &caller, "iam:DeleteGroup", &name, false).await?;
    let mut m = st.store.mutation(&g).await?;
    iam::delete_group(&mut m.tx, &grp).await?;
    commit(m, &caller, &g, serde_json::json!({"groupId": grp.id})).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn membership(
    st: &Shared,
    caller: &Caller,
    action: &str,
    group: &str,
    user: &str,
) -> Result<(iam::Group, iam::User, Grant), ApiError> {
    names::user_name("user", user)?;
    let (grp, g) = target_group(st, caller, action, group, false).await?;
    let mut c = st.store.pool().acquire().await?;
    let u = iam::user(&mut c, user).await?;
    Ok((grp, u, g))
}

pub(crate) async fn add_user_to_group(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P((group, user)): P<(String, String)>,
) -> Result<StatusCode, ApiError> {
    membership_change(&st, &caller, &group, &user, true).await
}

pub(crate) async fn remove_user_from_group(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P((group, user)): P<(String, String)>,
) -> Result<StatusCode, ApiError> {
    membership_change(&st, &caller, &group, &user, false).await
}

/// Adds (or removes) a user to (from) a group.
pub(crate) async fn membership_change(
    st: &Shared,
    caller: &Caller,
    group: &str,
    user: &str,
    add: bool,
) -> Result<StatusCode, ApiError> {
    let action = if add {
        "iam:AddUserToGroup"
    } else {
        "iam:RemoveUserFromGroup"
    };
    let (grp, u, g) = membership(st, caller, action, group, user).await?;
    let mut m = st.store.mutation(&g).await?;
    if add {
        iam::add_user_to_group(&mut m.tx, &grp, &u).await?;
    } else {
        iam::remove_user_from_group(&mut m.tx, &grp, &u).await?;
    }
    commit(
        m,
        caller,
        &g,
        serde_json::json!({"user": u.name, "userId": u.id}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn groups_for_user(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> Result<Json<api::GroupList>, ApiError> {
    let (u, _) = target_user(&st, &caller, "iam:ListGroupsForUser", &name, true).await?;
    let mut c = st.store.pool().acquire().await?;
    let groups = iam::groups_for_user(&mut c, &u.id).await?;
    Ok(Json(api::GroupList {
        groups: groups.iter().map(|g| group_out(&st, g)).collect(),
        marker: None,
    }))
}

// ---- managed policies -------------------------------------------------

pub(crate) fn policy_arn(st: &Shared, p: &iam::ManagedPolicy) -> String {
    ward_authz::arn::policy(&acct(st), &p.path, &p.name)
}

pub(crate) async fn policy_out(
    st: &Shared,
    c: &mut crate::store::Conn,
    p: &iam::ManagedPolicy,
    with_doc: bool,
) -> Result<api::ManagedPolicy, ApiError> {
    let (count, boundary_usage_count) = iam::usage_counts(c, &p.id).await?;
    let document = if with_doc {
        iam::policy_document(c, &p.id, p.default_version)
            .await?
            .map(|d| document_json(&d))
    } else {
        None
    };
    Ok(api::ManagedPolicy {
        name: p.name.clone(),
        policy_id: p.id.clone(),
        arn: policy_arn(st, p),
        path: p.path.clone(),
        description: p.description.clone(),
        default_version_id: format!("v{}", p.default_version),
        attachment_count: count,
        boundary_usage_count,
        created: rfc3339(p.created_at),
        updated: rfc3339(p.updated_at),
        document,
    })
}

/// Accepts a policy name or its ARN.
/// Resolves a managed-policy reference (a name or an ARN) before
/// authorization: the policy, if it exists, and the ARN that
/// `iam:PolicyARN` / `iam:PermissionsBoundary` carry — for a missing policy
/// the ARN is derived from the reference, so that authorization still runs
/// before a 404 says anything.
pub(crate) async fn policy_ref(
    st: &Shared,
    field: &str,
    r: &str,
) -> Result<(Option<iam::ManagedPolicy>, String), ApiError> {
    let name = policy_name_of(r);
    names::policy_name(field, name)?;
    if r.len() > 2048 {
        return Err(ApiError::invalid(
            field,
            "a policy ARN is at most 2048 characters",
        ));
    }
    let mut c = st.store.pool().acquire().await?;
    let found = iam::find_policy(&mut c, name).await?;
    drop(c);
    // An ARN must name this policy, not one of the same name elsewhere.
    let found = found.filter(|p| !r.starts_with("arn:") || r == policy_arn(st, p));
    let arn = match &found {
        Some(p) => policy_arn(st, p),
        None if r.starts_with("arn:") => r.to_owned(),
        None => ward_authz::arn::policy(&acct(st), "/", name),
    };
    Ok((found, arn))
}

fn policy_name_of(s: &str) -> &str {
    if s.starts_with("arn:") {
        s.rsplit('/').next().unwrap_or(s)
    } else {
        s
    }
}

pub(crate) async fn target_policy(
    st: &Shared,
    caller: &Caller,
    action: &str,
    name: &str,
    read: bool,
) -> Result<(iam::ManagedPolicy, Grant), ApiError> {
    target_policy_with(st, caller, action, name, read, &[]).await
}

/// [`target_policy`] with request-specific context keys (`ward:TagKeys`, …).
pub(crate) async fn target_policy_with(
    st: &Shared,
    caller: &Caller,
    action: &str,
    name: &str,
    read: bool,
    extra: &[(&str, ContextValue)],
) -> Result<(iam::ManagedPolicy, Grant), ApiError> {
    let name = policy_name_of(name);
    names::policy_name("name", name)?;
    let want = crate::service::authz::wanted(st, caller).await?;
    let mut c = st.store.pool().acquire().await?;
    let found = iam::find_policy(&mut c, name).await?;
    // The policy's own tags are its ward:ResourceTag/* keys, as a user's.
    let own = match &found {
        Some(p) if want.resource_tags => {
            let tags = iam::policy_tags(&mut c, &p.id).await?;
            context::resource_tags(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        }
        _ => Vec::new(),
    };
    // Never hold a pooled connection while authorization takes another.
    drop(c);
    let arn = match &found {
        Some(p) => policy_arn(st, p),
        None => ward_authz::arn::policy(&acct(st), "/", name),
    };
    let target = Target { found, arn, own };
    target
        .grant(st, caller, action, read, extra, ("policy", name))
        .await
}

pub(crate) async fn create_policy(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    b: Bytes,
) -> Result<(StatusCode, Json<api::ManagedPolicy>), ApiError> {
    let req: api::CreatePolicy = body(&b)?;
    names::policy_name("name", &req.name)?;
    let path = path_or_root("path", &req.path)?;
    let description = req.description.clone().unwrap_or_default();
    names::text("description", &description, 1000)?;
    let doc = validate_document(&req.document, PolicyKind::Managed)?;
    let g = authorize(
        &st,
        &caller,
        "iam:CreatePolicy",
        &ward_authz::arn::policy(&acct(&st), &path, &req.name),
        &[],
    )
    .await?;
    let mut m = st.store.mutation(&g).await?;
    let p = iam::create_policy(
        &mut m.tx,
        &crypto::unique_id("ANPA"),
        &req.name,
        &path,
        &description,
        &doc,
        now(),
    )
    .await?;
    let out = policy_out(&st, &mut m.tx, &p, true).await?;
    commit(m, &caller, &g, serde_json::json!({"policyId": p.id})).await?;
    Ok((StatusCode::CREATED, Json(out)))
}

pub(crate) async fn list_policies(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    Q(q): Q<ListQuery>,
) -> Result<Json<api::PolicyList>, ApiError> {
    let (prefix, page) = q
        .authorize(&st, &caller, "iam:ListPolicies", ward_authz::arn::policy)
        .await?;
    let mut c = st.store.pool().acquire().await?;
    let p = iam::list_policies(&mut c, &prefix, &page).await?;
    let mut policies = Vec::new();
    for x in &p.items {
        policies.push(policy_out(&st, &mut c, x, false).await?);
    }
    Ok(Json(api::PolicyList {
        policies,
        marker: p.marker,
    }))
}

pub(crate) async fn get_policy(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> Result<Json<api::ManagedPolicy>, ApiError> {
    let (p, _) = target_policy(&st, &caller, "iam:GetPolicy", &name, true).await?;
    let mut c = st.store.pool().acquire().await?;
    Ok(Json(policy_out(&st, &mut c, &p, true).await?))
}

/// `POST /v1/policies/{name}/tags`: AWS's TagPolicy.
pub(crate) async fn tag_policy(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
    b: Bytes,
) -> Result<StatusCode, ApiError> {
    let Tagging { tags, keys, ctx } = tag_request(&b)?;
    let (p, g) = target_policy_with(
        &st,
        &caller,
        "iam:TagPolicy",
        &name,
        false,
        &context::refs(&ctx),
    )
    .await?;
    let mut m = st.store.mutation(&g).await?;
    iam::tag_policy(&mut m.tx, &p.id, &tags).await?;
    commit(
        m,
        &caller,
        &g,
        serde_json::json!({"policyId": p.id, "tagKeys": keys}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1/policies/{name}/tags?keys=a,b`: AWS's UntagPolicy.
pub(crate) async fn untag_policy(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
    Q(q): Q<KeysQuery>,
) -> Result<StatusCode, ApiError> {
    let keys = q.keys()?;
    let (p, g) = target_policy_with(
        &st,
        &caller,
        "iam:UntagPolicy",
        &name,
        false,
        &[context::tag_keys(keys.clone())],
    )
    .await?;
    let mut m = st.store.mutation(&g).await?;
    iam::untag_policy(&mut m.tx, &p.id, &keys).await?;
    commit(
        m,
        &caller,
        &g,
        serde_json::json!({"policyId": p.id, "tagKeys": keys}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/policies/{name}/tags`: AWS's ListPolicyTags.
pub(crate) async fn list_policy_tags(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> Result<Json<api::TagList>, ApiError> {
    let (p, _) = target_policy(&st, &caller, "iam:ListPolicyTags", &name, true).await?;
    let mut c = st.store.pool().acquire().await?;
    let tags = tags_out(iam::policy_tags(&mut c, &p.id).await?);
    Ok(Json(api::TagList { tags }))
}

/// `?usage=` of `GET /v1/policies/{name}/entities`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EntitiesQuery {
    /// `policy` (where it is attached; the default) or `boundary` (whose
    /// permissions boundary it is).
    usage: Option<String>,
}

/// `GET /v1/policies/{name}/entities`: AWS's ListEntitiesForPolicy, the
/// users, groups and roles a managed policy is attached to — or, with
/// `?usage=boundary`, the users and roles whose boundary it is.
pub(crate) async fn policy_entities(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
    Q(q): Q<EntitiesQuery>,
) -> Result<Json<api::PolicyEntities>, ApiError> {
    let boundary = match q.usage.as_deref() {
        None | Some("policy") => false,
        Some("boundary") => true,
        Some(_) => {
            return Err(ApiError::invalid(
                "usage",
                "usage must be policy or boundary",
            ))
        }
    };
    let (p, _) = target_policy(&st, &caller, "iam:ListEntitiesForPolicy", &name, true).await?;
    let mut c = st.store.pool().acquire().await?;
    let mut out = api::PolicyEntities {
        policy_users: Vec::new(),
        policy_groups: Vec::new(),
        policy_roles: Vec::new(),
    };
    let entities = if boundary {
        iam::boundary_entities(&mut c, &p.id).await?
    } else {
        iam::policy_entities(&mut c, &p.id).await?
    };
    for (kind, name, id, path) in entities {
        let e = api::PolicyEntity { name, path, id };
        match kind.as_str() {
            "user" => out.policy_users.push(e),
            "group" => out.policy_groups.push(e),
            _ => out.policy_roles.push(e),
        }
    }
    Ok(Json(out))
}

pub(crate) async fn delete_policy(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> Result<StatusCode, ApiError> {
    let (p, g) = target_policy(&st, &caller, "iam:DeletePolicy", &name, false).await?;
    let mut m = st.store.mutation(&g).await?;
    iam::delete_policy(&mut m.tx, &p).await?;
    commit(m, &caller, &g, serde_json::json!({"policyId": p.id})).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn parse_version(field: &str, v: &str) -> Result<i64, ApiError> {
    v.strip_prefix('v')
        .unwrap_or(v)
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| ApiError::invalid(field, format!("version {v:?} must look like v1, v2, …")))
}

pub(crate) async fn create_policy_version(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
    b: Bytes,
) -> Result<(StatusCode, Json<api::PolicyVersion>), ApiError> {
    let req: api::CreatePolicyVersion = body(&b)?;
    let doc = validate_document(&req.document, PolicyKind::Managed)?;
    let (p, g) = target_policy(&st, &caller, "iam:CreatePolicyVersion", &name, false).await?;
    let mut m = st.store.mutation(&g).await?;
    let t = now();
    let v = iam::create_policy_version(&mut m.tx, &p, &doc, req.set_as_default, t).await?;
    commit(m, &caller, &g, serde_json::json!({"policyId": p.id, "versionId": format!("v{v}"), "setAsDefault": req.set_as_default})).await?;
    Ok((
        StatusCode::CREATED,
        Json(api::PolicyVersion {
            version_id: format!("v{v}"),
            is_default: req.set_as_default,
            created: rfc3339(t),
            document: Some(document_json(&doc)),
        }),
    ))
}

pub(crate) async fn list_policy_versions(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> Result<Json<api::PolicyVersionList>, ApiError> {
    let (p, _) = target_policy(&st, &caller, "iam:ListPolicyVersions", &name, true).await?;
    let mut c = st.store.pool().acquire().await?;
    let versions = iam::policy_versions(&mut c, &p.id)
        .await?
        .into_iter()
        .map(|(v, t)| api::PolicyVersion {
            version_id: format!("v{v}"),
            is_default: v == p.default_version,
            created: rfc3339(t),
            document: None,
        })
        .collect();
    Ok(Json(api::PolicyVersionList { versions }))
}

pub(crate) async fn get_policy_version(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P((name, v)): P<(String, String)>,
) -> Result<Json<api::PolicyVersion>, ApiError> {
    let v = parse_version("versionId", &v)?;
    let (p, _) = target_policy(&st, &caller, "iam:GetPolicyVersion", &name, true).await?;
    let mut c = st.store.pool().acquire().await?;
    let versions = iam::policy_versions(&mut c, &p.id).await?;
    let (_, created) = versions
        .iter()
        .find(|(x, _)| *x == v)
        .copied()
        .ok_or_else(|| ApiError::no_such("policy version", &format!("v{v} of {}", p.name)))?;
    let doc = iam::policy_document(&mut c, &p.id, v)
        .await?
        .unwrap_or_default();
    Ok(Json(api::PolicyVersion {
        version_id: format!("v{v}"),
        is_default: v == p.default_version,
        created: rfc3339(created),
        document: Some(document_json(&doc)),
    }))
}

pub(crate) async fn delete_policy_version(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P((name, v)): P<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let v = parse_version("versionId", &v)?;
    let (p, g) = target_policy(&st, &caller, "iam:DeletePolicyVersion", &name, false).await?;
    let mut m = st.store.mutation(&g).await?;
    iam::delete_policy_version(&mut m.tx, &p, v).await?;
    commit(
        m,
        &caller,
        &g,
        serde_json::json!({"policyId": p.id, "versionId": format!("v{v}")}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn set_default_version(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
    b: Bytes,
) -> Result<StatusCode, ApiError> {
    let req: api::SetDefaultVersion = body(&b)?;
    let v = parse_version("versionId", &req.version_id)?;
    let (p, g) = target_policy(&st, &caller, "iam:SetDefaultPolicyVersion", &name, false).await?;
    let mut m = st.store.mutation(&g).await?;
    iam::set_default_version(&mut m.tx, &p, v, now()).await?;
    commit(
        m,
        &caller,
        &g,
        serde_json::json!({"policyId": p.id, "versionId": format!("v{v}")}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- roles (their handlers are in `service::roles`) -------------------

/// Loads a role by name for `action` on it, with request-specific context
/// keys; a role that does not exist is authorized on the ARN its name
/// gives before the 404, so a 404 reveals nothing to the unauthorized.
pub(crate) async fn target_role_with(
    st: &Shared,
    caller: &Caller,
    action: &str,
    name: &str,
    read: bool,
    extra: &[(&str, ContextValue)],
) -> Result<(crate::store::roles::Role, Grant), ApiError> {
    names::role_name("name", name)?;
    let want = crate::service::authz::wanted(st, caller).await?;
    let mut c = st.store.pool().acquire().await?;
    let found = crate::store::roles::find_role(&mut c, name).await?;
    let own = match &found {
        Some(r) => {
            let boundary = r.boundary_policy_id.as_deref();
            bounded_context(st, &mut c, want, action, Bounded::Role, &r.id, boundary).await?
        }
        None => Vec::new(),
    };
    drop(c);
    let arn = match &found {
        Some(r) => crate::service::caller::role_arn(&acct(st), r),
        None => ward_authz::arn::role(&acct(st), "/", name),
    };
    let target = Target { found, arn, own };
    target
        .grant(st, caller, action, read, extra, ("role", name))
        .await
}

// ---- attachments and inline policies ----------------------------------

/// A user or group named in a `/v1/{kind}/{name}/…` route.
pub(crate) struct Principal {
    kind: PrincipalType,
    id: String,
    name: String,
}

fn kind_of(kind: &str) -> Result<PrincipalType, ApiError> {
    match kind {
        "users" => Ok(PrincipalType::User),
        "groups" => Ok(PrincipalType::Group),
        "roles" => Ok(PrincipalType::Role),
        _ => Err(ApiError::NotFound {
            code: "NotFound",
            message: format!("no such API route: /v1/{kind}/…"),
        }),
    }
}

/// The action on a principal of `kind`: the user one given, its group
/// twin, or for a role the user action's `User` spelled `Role`
/// (`iam:PutUserPolicy` → `iam:PutRolePolicy`).
fn action_for(kind: PrincipalType, user: &str, group: &str) -> String {
    match kind {
        PrincipalType::User => user.to_owned(),
        PrincipalType::Group => group.to_owned(),
        PrincipalType::Role => user.replacen("User", "Role", 1),
    }
}

pub(crate) async fn target_principal(
    st: &Shared,
    caller: &Caller,
    kind: &str,
    name: &str,
    actions: (&str, &str),
    read: bool,
) -> Result<(Principal, Grant), ApiError> {
    target_principal_with(st, caller, kind, name, actions, read, &[]).await
}

/// [`target_principal`] with request-specific context keys.
pub(crate) async fn target_principal_with(
    st: &Shared,
    caller: &Caller,
    kind: &str,
    name: &str,
    actions: (&str, &str),
    read: bool,
    extra: &[(&str, ContextValue)],
) -> Result<(Principal, Grant), ApiError> {
    let kind = kind_of(kind)?;
    let action = action_for(kind, actions.0, actions.1);
    match kind {
        PrincipalType::User => {
            let (u, g) = target_user_with(st, caller, &action, name, read, extra).await?;
            Ok((
                Principal {
                    kind,
                    id: u.id,
                    name: u.name,
                },
                g,
            ))
        }
        PrincipalType::Group => {
            let (grp, g) = target_group_with(st, caller, &action, name, read, extra).await?;
            Ok((
                Principal {
                    kind,
                    id: grp.id,
                    name: grp.name,
                },
                g,
            ))
        }
        PrincipalType::Role => {
            let (r, g) = target_role_with(st, caller, &action, name, read, extra).await?;
            Ok((
                Principal {
                    kind,
                    id: r.id,
                    name: r.name,
                },
                g,
            ))
        }
    }
}

pub(crate) async fn attach_policy(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P((kind, name, policy)): P<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    attachment(&st, &caller, &kind, &name, &policy, true).await
}

pub(crate) async fn detach_policy(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P((kind, name, policy)): P<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    attachment(&st, &caller, &kind, &name, &policy, false).await
}

/// Attaches (or detaches) a managed policy to a user or group.
pub(crate) async fn attachment(
    st: &Shared,
    caller: &Caller,
    kind: &str,
    name: &str,
    policy: &str,
    attach: bool,
) -> Result<StatusCode, ApiError> {
    let actions = if attach {
        ("iam:AttachUserPolicy", "iam:AttachGroupPolicy")
    } else {
        ("iam:DetachUserPolicy", "iam:DetachGroupPolicy")
    };
    // iam:PolicyARN is the policy being attached, as in AWS, so that a
    // Deny on attaching `Admin` is a guard-rail that holds.
    let (p, arn) = policy_ref(st, "policy", policy).await?;
    let (pr, g) = target_principal_with(
        st,
        caller,
        kind,
        name,
        actions,
        false,
        &[context::policy_arn(&arn)],
    )
    .await?;
    let p = p.ok_or_else(|| ApiError::no_such("policy", policy))?;
    let mut m = st.store.mutation(&g).await?;
    if attach {
        iam::attach(&mut m.tx, pr.kind, &pr.id, &pr.name, &p).await?;
    } else {
        iam::detach(&mut m.tx, pr.kind, &pr.id, &pr.name, &p).await?;
    }
    commit(
        m,
        caller,
        &g,
        serde_json::json!({"policyArn": policy_arn(st, &p)}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn list_attached(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P((kind, name)): P<(String, String)>,
) -> Result<Json<api::PolicyList>, ApiError> {
    let (pr, _) = target_principal(
        &st,
        &caller,
        &kind,
        &name,
        (
            "iam:ListAttachedUserPolicies",
            "iam:ListAttachedGroupPolicies",
        ),
        true,
    )
    .await?;
    let mut c = st.store.pool().acquire().await?;
    let mut policies = Vec::new();
    for p in iam::attached(&mut c, pr.kind, &pr.id).await? {
        policies.push(policy_out(&st, &mut c, &p, false).await?);
    }
    Ok(Json(api::PolicyList {
        policies,
        marker: None,
    }))
}

pub(crate) async fn put_inline(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P((kind, name, pname)): P<(String, String, String)>,
    b: Bytes,
) -> Result<StatusCode, ApiError> {
    names::policy_name("policyName", &pname)?;
    let req: api::PutInlinePolicy = body(&b)?;
    let pk = match kind_of(&kind)? {
        PrincipalType::User => PolicyKind::InlineUser,
        PrincipalType::Group => PolicyKind::InlineGroup,
        PrincipalType::Role => PolicyKind::InlineRole,
    };
    let doc = validate_document(&req.document, pk)?;
    let (pr, g) = target_principal(
        &st,
        &caller,
        &kind,
        &name,
        ("iam:PutUserPolicy", "iam:PutGroupPolicy"),
        false,
    )
    .await?;
    let mut m = st.store.mutation(&g).await?;
    iam::put_inline(&mut m.tx, pr.kind, &pr.id, &pr.name, &pname, &doc).await?;
    commit(m, &caller, &g, serde_json::json!({"policyName": pname})).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn get_inline(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P((kind, name, pname)): P<(String, String, String)>,
) -> Result<Json<api::InlinePolicy>, ApiError> {
    names::policy_name("policyName", &pname)?;
    let (pr, _) = target_principal(
        &st,
        &caller,
        &kind,
        &name,
        ("iam:GetUserPolicy", "iam:GetGroupPolicy"),
        true,
    )
    .await?;
    let mut c = st.store.pool().acquire().await?;
    let all = iam::inline_policies(&mut c, pr.kind, &pr.id).await?;
    let (n, d) = all
        .into_iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(&pname))
        .ok_or_else(|| ApiError::NotFound {
            code: "NoSuchEntity",
            message: format!(
                "{} {} has no inline policy {pname}",
                pr.kind.as_str(),
                pr.name
            ),
        })?;
    Ok(Json(api::InlinePolicy {
        name: n,
        document: document_json(&d),
    }))
}

pub(crate) async fn list_inline(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P((kind, name)): P<(String, String)>,
) -> Result<Json<api::InlinePolicyList>, ApiError> {
    let (pr, _) = target_principal(
        &st,
        &caller,
        &kind,
        &name,
        ("iam:ListUserPolicies", "iam:ListGroupPolicies"),
        true,
    )
    .await?;
    let mut c = st.store.pool().acquire().await?;
    let names = iam::inline_policies(&mut c, pr.kind, &pr.id)
        .await?
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    Ok(Json(api::InlinePolicyList {
        policy_names: names,
    }))
}

pub(crate) async fn delete_inline(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P((kind, name, pname)): P<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    names::policy_name("policyName", &pname)?;
    let (pr, g) = target_principal(
        &st,
        &caller,
        &kind,
        &name,
        ("iam:DeleteUserPolicy", "iam:DeleteGroupPolicy"),
        false,
    )
    .await?;
    let mut m = st.store.mutation(&g).await?;
    iam::delete_inline(&mut m.tx, pr.kind, &pr.id, &pr.name, &pname).await?;
    commit(m, &caller, &g, serde_json::json!({"policyName": pname})).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn put_boundary(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
    b: Bytes,
) -> Result<StatusCode, ApiError> {
    put_boundary_of(&st, &caller, Bounded::User, &name, &b).await
}

pub(crate) async fn delete_boundary(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
) -> Result<StatusCode, ApiError> {
    delete_boundary_of(&st, &caller, Bounded::User, &name).await
}

/// The kinds of principal with a permissions boundary of their own.
#[derive(Clone, Copy)]
pub(crate) enum Bounded {
    User,
    Role,
}

/// A user or a role whose boundary a request sets or clears.
enum BoundedEntity {
    User(iam::User),
    Role(crate::store::roles::Role),
}

impl Bounded {
    /// Loads and authorizes the principal: `action` is the user action,
    /// spelled `Role` for a role (as [`action_for`]).
    async fn target(
        self,
        st: &Shared,
        caller: &Caller,
        action: &str,
        name: &str,
        extra: &[(&str, ContextValue)],
    ) -> Result<(BoundedEntity, Grant), ApiError> {
        Ok(match self {
            Bounded::User => {
                let (u, g) = target_user_with(st, caller, action, name, false, extra).await?;
                (BoundedEntity::User(u), g)
            }
            Bounded::Role => {
                let action = action.replacen("User", "Role", 1);
                let (r, g) = target_role_with(st, caller, &action, name, false, extra).await?;
                (BoundedEntity::Role(r), g)
            }
        })
    }
}

impl BoundedEntity {
    fn name_and_boundary(&self) -> (&'static str, &str, Option<&str>) {
        match self {
            BoundedEntity::User(u) => ("user", &u.name, u.boundary_policy_id.as_deref()),
            BoundedEntity::Role(r) => ("role", &r.name, r.boundary_policy_id.as_deref()),
        }
    }

    /// Writes the boundary (`None` clears it).
    async fn set_boundary(
        self,
        c: &mut crate::store::Conn,
        policy_id: Option<String>,
    ) -> Result<(), ApiError> {
        match self {
            BoundedEntity::User(u) => iam::set_boundary(c, &u.id, policy_id.as_deref()).await,
            BoundedEntity::Role(r) => {
                let r = crate::store::roles::Role {
                    boundary_policy_id: policy_id,
                    ..r
                };
                crate::store::roles::update_role(c, &r).await
            }
        }
    }
}

/// `PUT /v1/{users,roles}/{name}/permissions-boundary`: authorized with
/// the boundary asked for as `iam:PermissionsBoundary`, 404 for a policy
/// that does not exist only after that.
pub(crate) async fn put_boundary_of(
    st: &Shared,
    caller: &Caller,
    kind: Bounded,
    name: &str,
    b: &Bytes,
) -> Result<StatusCode, ApiError> {
    let req: api::SetBoundary = body(b)?;
    let (p, arn) = policy_ref(st, "policy", &req.policy).await?;
    let (e, g) = kind
        .target(
            st,
            caller,
            "iam:PutUserPermissionsBoundary",
            name,
            &[context::permissions_boundary(&arn)],
        )
        .await?;
    let p = p.ok_or_else(|| ApiError::no_such("policy", &req.policy))?;
    let mut m = st.store.mutation(&g).await?;
    e.set_boundary(&mut m.tx, Some(p.id.clone())).await?;
    commit(
        m,
        caller,
        &g,
        serde_json::json!({"policyArn": policy_arn(st, &p)}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1/{users,roles}/{name}/permissions-boundary`: 404 when the
/// principal has none.
pub(crate) async fn delete_boundary_of(
    st: &Shared,
    caller: &Caller,
    kind: Bounded,
    name: &str,
) -> Result<StatusCode, ApiError> {
    let (e, g) = kind
        .target(st, caller, "iam:DeleteUserPermissionsBoundary", name, &[])
        .await?;
    let (what, name, boundary) = e.name_and_boundary();
    if boundary.is_none() {
        return Err(ApiError::no_such(
            &format!("permissions boundary of {what}"),
            name,
        ));
    }
    let mut m = st.store.mutation(&g).await?;
    e.set_boundary(&mut m.tx, None).await?;
    commit(m, caller, &g, serde_json::json!({})).await?;
    Ok(StatusCode::NO_CONTENT)
}
