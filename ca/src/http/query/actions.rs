//! The Action table: each IAM and STS action ward implements, as the
//! `/v1/` call (or calls) doing its job and the XML its reply becomes.
//!
//! Every action reads its parameters from [`Params`] (AWS's names and
//! list encodings), builds the JSON API request with
//! [`segment`]/[`query`], calls it for the caller through
//! [`Dispatch::call`] and renders the JSON reply in AWS's shape. Nothing
//! here authorizes or validates beyond the wire format: the handler does.
//! Lists the JSON API does not page are paged here (`Marker` is the index
//! of the next item); lists it pages pass `Marker`/`MaxItems` through.

use axum::http::Method;
use base64::Engine;
use serde_json::{json, Value};

use super::form::Params;
use super::xml::Xml;
use super::{QueryError, Service};
use crate::conn::ConnInfo;
use crate::http::dispatch::{query, segment, Dispatch};
use crate::service::caller::Caller;
use crate::state::Shared;

/// The IAM actions served.
pub const IAM_ACTIONS: &[&str] = &[
    "CreateUser",
    "GetUser",
    "UpdateUser",
    "DeleteUser",
    "ListUsers",
    "TagUser",
    "UntagUser",
    "ListUserTags",
    "CreateGroup",
    "GetGroup",
    "UpdateGroup",
    "DeleteGroup",
    "ListGroups",
    "AddUserToGroup",
    "RemoveUserFromGroup",
    "ListGroupsForUser",
    "CreateAccessKey",
    "ListAccessKeys",
    "UpdateAccessKey",
    "DeleteAccessKey",
    "GetAccessKeyLastUsed",
    "CreatePolicy",
    "GetPolicy",
    "DeletePolicy",
    "ListPolicies",
    "ListEntitiesForPolicy",
    "TagPolicy",
    "UntagPolicy",
    "ListPolicyTags",
    "CreatePolicyVersion",
    "GetPolicyVersion",
    "ListPolicyVersions",
    "DeletePolicyVersion",
    "SetDefaultPolicyVersion",
    "AttachUserPolicy",
    "DetachUserPolicy",
    "ListAttachedUserPolicies",
    "AttachGroupPolicy",
    "DetachGroupPolicy",
    "ListAttachedGroupPolicies",
    "AttachRolePolicy",
    "DetachRolePolicy",
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
    "CreateLoginProfile",
    "GetLoginProfile",
    "UpdateLoginProfile",
    "DeleteLoginProfile",
    "ChangePassword",
    "UploadSSHPublicKey",
    "GetSSHPublicKey",
    "ListSSHPublicKeys",
    "UpdateSSHPublicKey",
    "DeleteSSHPublicKey",
    "CreateRole",
    "GetRole",
    "UpdateRole",
    "DeleteRole",
    "ListRoles",
    "UpdateAssumeRolePolicy",
    "TagRole",
    "UntagRole",
    "ListRoleTags",
    "CreateVirtualMFADevice",
    "DeleteVirtualMFADevice",
    "EnableMFADevice",
    "DeactivateMFADevice",
    "ResyncMFADevice",
    "ListMFADevices",
    "ListVirtualMFADevices",
    "SimulatePrincipalPolicy",
    "SimulateCustomPolicy",
    "GetAccountSummary",
    "GetAccountAuthorizationDetails",
];

/// The STS actions served.
pub const STS_ACTIONS: &[&str] = &["GetCallerIdentity", "GetSessionToken", "AssumeRole"];

/// The service an action belongs to, if ward serves it.
pub fn service_of(action: &str) -> Option<Service> {
    if IAM_ACTIONS.contains(&action) {
        Some(Service::Iam)
    } else if STS_ACTIONS.contains(&action) {
        Some(Service::Sts)
    } else {
        None
    }
}

/// One request's context: who calls, over which connection.
pub struct Ctx<'a> {
    /// The daemon's state, for handlers called directly.
    pub st: &'a Shared,
    /// The JSON API's handlers.
    pub dispatch: &'a Dispatch,
    /// The authenticated caller.
    pub caller: &'a Caller,
    /// The connection (source address, TLS) handlers read.
    pub conn: Option<&'a ConnInfo>,
    /// ward's account id.
    pub account: String,
    /// The action, for AWS's parameter names in validation messages.
    pub action: &'a str,
}

type R = Result<Option<String>, QueryError>;

impl Ctx<'_> {
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, QueryError> {
        let r = self
            .dispatch
            .call(self.caller, self.conn, method, path, body.as_ref())
            .await?;
        if let Some(f) = r.failure() {
            return Err(super::errors::map_for(self.action, f));
        }
        Ok(r.json()?)
    }

    /// Runs a JSON API handler directly (see [`crate::http::dispatch::handler`]).
    async fn handler<T: serde::Serialize>(
        &self,
        path: &str,
        segments: &[&str],
        call: impl std::future::Future<Output = Result<axum::Json<T>, crate::error::ApiError>>,
    ) -> Result<Value, QueryError> {
        crate::http::dispatch::handler(self.caller, path, segments, call)
            .await
            .map_err(|f| super::errors::map_for(self.action, f))
    }

    /// `arn:aws:…` naming ward's own account, spelled `arn:ward:…`.
    fn ward_arn(&self, s: &str) -> String {
        if let Some(rest) = s.strip_prefix("arn:aws:") {
            if rest.split(':').nth(2) == Some(self.account.as_str()) {
                return format!("arn:ward:{rest}");
            }
        }
        s.to_owned()
    }

    /// The name of the managed policy `arn` names (ward's own policies
    /// only: AWS-managed policies do not exist here).
    fn policy_name(&self, field: &str, arn: &str) -> Result<String, QueryError> {
        let arn = self.ward_arn(arn);
        if !arn.starts_with("arn:") {
            return Err(QueryError::validation(format!(
                "{field} must be a policy ARN"
            )));
        }
        let prefix = format!("arn:ward:iam::{}:policy/", self.account);
        match arn.strip_prefix(&prefix) {
            Some(rest) => Ok(rest.rsplit('/').next().unwrap_or(rest).to_owned()),
            None => Err(QueryError {
                status: axum::http::StatusCode::NOT_FOUND,
                code: "NoSuchEntity".into(),
                message: format!("Policy {arn} does not exist or is not attachable."),
            }),
        }
    }

    /// `UserName`, or the calling user's own name when absent.
    fn user_or_self(&self, p: &mut Params) -> Result<String, QueryError> {
        match p.opt("UserName") {
            Some(u) if !u.is_empty() => Ok(u),
            _ => caller_user(self.caller).map(str::to_owned).ok_or_else(|| {
                QueryError::validation("UserName is required when the caller is not a user")
            }),
        }
    }
}

/// The calling user's name, when the caller is a user.
fn caller_user(c: &Caller) -> Option<&str> {
    match &c.identity {
        crate::service::caller::Identity::User(u) => Some(&u.name),
        _ => None,
    }
}

/// Percent-encoded as AWS returns policy documents.
fn url_doc(v: &Value) -> String {
    let text = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    segment(&text)
}

fn tags_xml(x: &mut Xml, name: &str, tags: &Value) {
    x.members(name, tags, |x, t| {
        x.field("Key", &t["key"]).field("Value", &t["value"]);
    });
}

fn boundary_xml(x: &mut Xml, v: &Value) {
    if let Some(b) = v["permissionsBoundary"].as_str() {
        x.open("PermissionsBoundary")
            .text("PermissionsBoundaryType", "Policy")
            .text("PermissionsBoundaryArn", b)
            .close("PermissionsBoundary");
    }
}

fn user_xml(x: &mut Xml, v: &Value) {
    x.field("Path", &v["path"])
        .field("UserName", &v["name"])
        .field("UserId", &v["userId"])
        .field("Arn", &v["arn"])
        .field("CreateDate", &v["created"]);
    boundary_xml(x, v);
    if v["tags"].as_array().is_some_and(|t| !t.is_empty()) {
        tags_xml(x, "Tags", &v["tags"]);
    }
}

fn group_xml(x: &mut Xml, v: &Value) {
    x.field("Path", &v["path"])
        .field("GroupName", &v["name"])
        .field("GroupId", &v["groupId"])
        .field("Arn", &v["arn"])
        .field("CreateDate", &v["created"]);
}

fn policy_xml(x: &mut Xml, v: &Value) {
    x.field("PolicyName", &v["name"])
        .field("PolicyId", &v["policyId"])
        .field("Arn", &v["arn"])
        .field("Path", &v["path"])
        .field("DefaultVersionId", &v["defaultVersionId"])
        .field("AttachmentCount", &v["attachmentCount"])
        .field(
            "PermissionsBoundaryUsageCount",
            v.get("boundaryUsageCount").unwrap_or(&json!(0)),
        )
        .text("IsAttachable", "true");
    if v["description"].as_str().is_some_and(|d| !d.is_empty()) {
        x.field("Description", &v["description"]);
    }
    x.field("CreateDate", &v["created"])
        .field("UpdateDate", &v["updated"]);
}

fn version_xml(x: &mut Xml, v: &Value) {
    if !v["document"].is_null() {
        x.text("Document", &url_doc(&v["document"]));
    }
    x.field("VersionId", &v["versionId"])
        .field("IsDefaultVersion", &v["isDefault"])
        .field("CreateDate", &v["created"]);
}

fn role_xml(x: &mut Xml, v: &Value) {
    x.field("Path", &v["path"])
        .field("RoleName", &v["name"])
        .field("RoleId", &v["roleId"])
        .field("Arn", &v["arn"])
        .field("CreateDate", &v["created"]);
    if !v["assumeRolePolicyDocument"].is_null() {
        x.text(
            "AssumeRolePolicyDocument",
            &url_doc(&v["assumeRolePolicyDocument"]),
        );
    }
    if v["description"].as_str().is_some_and(|d| !d.is_empty()) {
        x.field("Description", &v["description"]);
    }
    x.field("MaxSessionDuration", &v["maxSessionDuration"]);
    boundary_xml(x, v);
    if v["tags"].as_array().is_some_and(|t| !t.is_empty()) {
        tags_xml(x, "Tags", &v["tags"]);
    }
}

/// `<name>` of inline policies (`PolicyName`, URL-encoded `PolicyDocument`).
fn inline_xml(x: &mut Xml, name: &str, list: &Value) {
    x.members(name, list, |x, p| {
        x.field("PolicyName", &p["name"])
            .text("PolicyDocument", &url_doc(&p["document"]));
    });
}

/// `<AttachedManagedPolicies>` from the JSON API's `{policyName, policyArn}`.
fn attached_xml(x: &mut Xml, list: &Value) {
    x.members("AttachedManagedPolicies", list, |x, p| {
        x.field("PolicyName", &p["policyName"])
            .field("PolicyArn", &p["policyArn"]);
    });
}

fn login_profile_xml(x: &mut Xml, v: &Value) {
    x.open("LoginProfile")
        .field("UserName", &v["userName"])
        .field("CreateDate", &v["created"])
        .field("PasswordResetRequired", &v["passwordResetRequired"])
        .close("LoginProfile");
}

fn credentials_xml(x: &mut Xml, c: &Value) {
    x.open("Credentials")
        .field("AccessKeyId", &c["accessKeyId"])
        .field("SecretAccessKey", &c["secretAccessKey"])
        .field("SessionToken", &c["sessionToken"])
        .field("Expiration", &c["expiration"])
        .close("Credentials");
}

fn ssh_key_xml(x: &mut Xml, v: &Value) {
    x.field("UserName", &v["userName"])
        .field("SSHPublicKeyId", &v["sshPublicKeyId"])
        .field("Fingerprint", &v["fingerprint"])
        .field("SSHPublicKeyBody", &v["publicKey"])
        .field("Status", &v["status"])
        .field("UploadDate", &v["uploaded"]);
}

/// `IsTruncated`/`Marker` from a JSON API page's `marker`.
fn truncation_xml(x: &mut Xml, page: &Value) {
    match page["marker"].as_str() {
        Some(m) => {
            x.text("IsTruncated", "true").text("Marker", m);
        }
        None => {
            x.text("IsTruncated", "false");
        }
    }
}

/// `PathPrefix`/`Marker`/`MaxItems` as the JSON API's list query.
fn list_query(p: &mut Params, with_prefix: bool) -> String {
    let mut q: Vec<(&str, String)> = Vec::new();
    if with_prefix {
        if let Some(v) = p.opt("PathPrefix") {
            q.push(("pathPrefix", v));
        }
    }
    if let Some(v) = p.opt("Marker") {
        q.push(("marker", v));
    }
    if let Some(v) = p.opt("MaxItems") {
        q.push(("maxItems", v));
    }
    let pairs: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
    query(&pairs)
}

/// One page of a list the JSON API returns whole: `Marker` is the index
/// of the first item, `MaxItems` 1 to 1000 (default 100).
struct Page {
    items: Vec<Value>,
    next: Option<usize>,
}

fn page(p: &mut Params, all: &Value) -> Result<Page, QueryError> {
    let max = match p.int("MaxItems")? {
        None => 100,
        Some(n) if (1..=1000).contains(&n) => n as usize,
        Some(_) => return Err(QueryError::validation("MaxItems must be from 1 to 1000")),
    };
    let start = match p.opt("Marker") {
        None => 0,
        Some(m) => m
            .parse::<usize>()
            .map_err(|_| QueryError::validation("Marker is not one this listing returned"))?,
    };
    let all = all.as_array().map(Vec::as_slice).unwrap_or_default();
    if start > all.len() {
        return Err(QueryError::validation(
            "Marker is not one this listing returned",
        ));
    }
    let end = (start + max).min(all.len());
    Ok(Page {
        items: all[start..end].to_vec(),
        next: (end < all.len()).then_some(end),
    })
}

fn page_xml(x: &mut Xml, pg: &Page) {
    match pg.next {
        Some(n) => {
            x.text("IsTruncated", "true").text("Marker", &n.to_string());
        }
        None => {
            x.text("IsTruncated", "false");
        }
    }
}

fn done(p: &mut Params) -> Result<(), QueryError> {
    std::mem::take(p).done()
}

/// Tag keys for the JSON API's `keys=a,b` (a key holding a comma cannot
/// be said there, so it is refused).
fn tag_keys(p: &mut Params) -> Result<String, QueryError> {
    let keys = p.list("TagKeys")?;
    if keys.iter().any(|k| k.contains(',')) {
        return Err(QueryError::validation("TagKeys members cannot contain ','"));
    }
    Ok(keys.join(","))
}

/// `kind` (`users`, `groups`, `roles`) and the name parameter of an
/// action on a user, group or role policy.
fn principal_of(action: &str) -> (&'static str, &'static str) {
    if action.contains("Group") {
        ("groups", "GroupName")
    } else if action.contains("Role") {
        ("roles", "RoleName")
    } else {
        ("users", "UserName")
    }
}

/// Runs `action` (already known to [`service_of`]) with `p`, and returns
/// the inside of its `<XResult>` (none for actions without a result).
pub async fn run(ctx: &Ctx<'_>, action: &str, p: &mut Params) -> R {
    // The hottest read runs in a small future of its own; the rest of the
    // table is one large future, allocated once rather than moved about.
    let out = if action == "GetUser" {
        get_user(ctx, p).await?
    } else {
        Box::pin(run_inner(ctx, action, p)).await?
    };
    done(p)?;
    Ok(out)
}

/// GetUser, with its handler called directly.
async fn get_user(ctx: &Ctx<'_>, p: &mut Params) -> R {
    let name = ctx.user_or_self(p)?;
    done(p)?;
    let v = ctx
        .handler(
            "/v1/users/",
            &[&name],
            crate::service::iam::get_user(
                axum::extract::State(ctx.st.clone()),
                axum::Extension(ctx.caller.clone()),
                crate::service::request::P(name.clone()),
            ),
        )
        .await?;
    let mut x = Xml::new();
    x.open("User");
    user_xml(&mut x, &v);
    x.close("User");
    Ok(Some(x.finish()))
}

async fn run_inner(ctx: &Ctx<'_>, action: &str, p: &mut Params) -> R {
    use Method as M;
    let mut x = Xml::new();
    match action {
        // ---- users ------------------------------------------------------
        "CreateUser" => {
            let mut body = json!({"name": p.req("UserName")?});
            if let Some(v) = p.opt("Path") {
                body["path"] = json!(v);
            }
            if let Some(v) = p.opt("PermissionsBoundary") {
                body["permissionsBoundary"] = json!(ctx.ward_arn(&v));
            }
            let tags = p.tags("Tags")?;
            if !tags.is_empty() {
                body["tags"] = json!(tags);
            }
            done(p)?;
            let v = ctx.call(M::POST, "/v1/users", Some(body)).await?;
            x.open("User");
            user_xml(&mut x, &v);
            x.close("User");
        }
        "UpdateUser" => {
            let name = p.req("UserName")?;
            let mut body = json!({});
            if let Some(v) = p.opt("NewUserName") {
                body["newName"] = json!(v);
            }
            if let Some(v) = p.opt("NewPath") {
                body["newPath"] = json!(v);
            }
            done(p)?;
            ctx.call(
                M::PATCH,
                &format!("/v1/users/{}", segment(&name)),
                Some(body),
            )
            .await?;
            return Ok(None);
        }
        "DeleteUser" => {
            let name = p.req("UserName")?;
            done(p)?;
            ctx.call(M::DELETE, &format!("/v1/users/{}", segment(&name)), None)
                .await?;
            return Ok(None);
        }
        "ListUsers" => {
            let q = list_query(p, true);
            done(p)?;
            let v = ctx.call(M::GET, &format!("/v1/users{q}"), None).await?;
            x.members("Users", &v["users"], user_xml);
            truncation_xml(&mut x, &v);
        }
        "TagUser" | "TagRole" => {
            let (kind, field) = principal_of(action);
            let name = p.req(field)?;
            let tags = p.tags("Tags")?;
            done(p)?;
            ctx.call(
                M::POST,
                &format!("/v1/{kind}/{}/tags", segment(&name)),
                Some(json!({ "tags": tags })),
            )
            .await?;
            return Ok(None);
        }
        "UntagUser" | "UntagRole" => {
            let (kind, field) = principal_of(action);
            let name = p.req(field)?;
            let keys = tag_keys(p)?;
            done(p)?;
            ctx.call(
                M::DELETE,
                &format!(
                    "/v1/{kind}/{}/tags{}",
                    segment(&name),
                    query(&[("keys", &keys)])
                ),
                None,
            )
            .await?;
            return Ok(None);
        }
        "ListUserTags" | "ListRoleTags" => {
            let (kind, field) = principal_of(action);
            let name = p.req(field)?;
            let v = ctx
                .call(M::GET, &format!("/v1/{kind}/{}", segment(&name)), None)
                .await?;
            let pg = page(p, &v["tags"])?;
            tags_xml(&mut x, "Tags", &Value::Array(pg.items.clone()));
            page_xml(&mut x, &pg);
        }
        // ---- groups -----------------------------------------------------
        "CreateGroup" => {
            let mut body = json!({"name": p.req("GroupName")?});
            if let Some(v) = p.opt("Path") {
                body["path"] = json!(v);
            }
            done(p)?;
            let v = ctx.call(M::POST, "/v1/groups", Some(body)).await?;
            x.open("Group");
            group_xml(&mut x, &v);
            x.close("Group");
        }
        "GetGroup" => {
            let name = p.req("GroupName")?;
            let v = ctx
                .call(M::GET, &format!("/v1/groups/{}", segment(&name)), None)
                .await?;
            let pg = page(p, &v["users"])?;
            x.open("Group");
            group_xml(&mut x, &v["group"]);
            x.close("Group");
            x.members("Users", &Value::Array(pg.items.clone()), |x, u| {
                x.field("UserName", u);
            });
            page_xml(&mut x, &pg);
        }
        "DeleteGroup" => {
            let name = p.req("GroupName")?;
            done(p)?;
            ctx.call(M::DELETE, &format!("/v1/groups/{}", segment(&name)), None)
                .await?;
            return Ok(None);
        }
        "UpdateGroup" => {
            let name = p.req("GroupName")?;
            let mut body = json!({});
            if let Some(v) = p.opt("NewGroupName") {
                body["newName"] = json!(v);
            }
            if let Some(v) = p.opt("NewPath") {
                body["newPath"] = json!(v);
            }
            done(p)?;
            ctx.call(
                M::PATCH,
                &format!("/v1/groups/{}", segment(&name)),
                Some(body),
            )
            .await?;
            return Ok(None);
        }
        "ListGroups" => {
            let q = list_query(p, true);
            done(p)?;
            let v = ctx.call(M::GET, &format!("/v1/groups{q}"), None).await?;
            x.members("Groups", &v["groups"], group_xml);
            truncation_xml(&mut x, &v);
        }
        "AddUserToGroup" | "RemoveUserFromGroup" => {
            let group = p.req("GroupName")?;
            let user = p.req("UserName")?;
            done(p)?;
            let m = if action == "AddUserToGroup" {
                M::PUT
            } else {
                M::DELETE
            };
            ctx.call(
                m,
                &format!("/v1/groups/{}/users/{}", segment(&group), segment(&user)),
                None,
            )
            .await?;
            return Ok(None);
        }
        "ListGroupsForUser" => {
            let name = p.req("UserName")?;
            let v = ctx
                .call(
                    M::GET,
                    &format!("/v1/users/{}/groups", segment(&name)),
                    None,
                )
                .await?;
            let pg = page(p, &v["groups"])?;
            x.members("Groups", &Value::Array(pg.items.clone()), group_xml);
            page_xml(&mut x, &pg);
        }
        // ---- access keys ------------------------------------------------
        "CreateAccessKey" => {
            let name = ctx.user_or_self(p)?;
            done(p)?;
            let v = ctx
                .call(
                    M::POST,
                    &format!("/v1/users/{}/access-keys", segment(&name)),
                    None,
                )
                .await?;
            x.open("AccessKey")
                .field("UserName", &v["userName"])
                .field("AccessKeyId", &v["accessKeyId"])
                .field("Status", &v["status"])
                .field("SecretAccessKey", &v["secretAccessKey"])
                .field("CreateDate", &v["created"])
                .close("AccessKey");
        }
        "ListAccessKeys" => {
            let name = ctx.user_or_self(p)?;
            let v = ctx
                .call(
                    M::GET,
                    &format!("/v1/users/{}/access-keys", segment(&name)),
                    None,
                )
                .await?;
            let pg = page(p, &v["accessKeys"])?;
            x.members(
                "AccessKeyMetadata",
                &Value::Array(pg.items.clone()),
                |x, k| {
                    x.field("UserName", &k["userName"])
                        .field("AccessKeyId", &k["accessKeyId"])
                        .field("Status", &k["status"])
                        .field("CreateDate", &k["created"]);
                },
            );
            page_xml(&mut x, &pg);
        }
        "GetAccessKeyLastUsed" => {
            let id = p.req("AccessKeyId")?;
            done(p)?;
            let v = ctx
                .call(
                    M::GET,
                    &format!("/v1/access-keys/{}/last-used", segment(&id)),
                    None,
                )
                .await?;
            x.field("UserName", &v["userName"]);
            // AWS's shape for a key never used: no date, N/A service and region.
            x.open("AccessKeyLastUsed");
            x.field("LastUsedDate", &v["lastUsedDate"]);
            for (tag, key) in [("ServiceName", "serviceName"), ("Region", "region")] {
                match v[key].as_str() {
                    Some(s) if !s.is_empty() => x.text(tag, s),
                    _ => x.text(tag, "N/A"),
                };
            }
            x.close("AccessKeyLastUsed");
        }
        "UpdateAccessKey" | "UpdateSSHPublicKey" => {
            let name = ctx.user_or_self(p)?;
            let (id, coll) = if action == "UpdateAccessKey" {
                (p.req("AccessKeyId")?, "access-keys")
            } else {
                (p.req("SSHPublicKeyId")?, "ssh-keys")
            };
            let status = p.req("Status")?;
            done(p)?;
            ctx.call(
                M::PATCH,
                &format!("/v1/users/{}/{coll}/{}", segment(&name), segment(&id)),
                Some(json!({ "status": status })),
            )
            .await?;
            return Ok(None);
        }
        "DeleteAccessKey" | "DeleteSSHPublicKey" => {
            let name = ctx.user_or_self(p)?;
            let (id, coll) = if action == "DeleteAccessKey" {
                (p.req("AccessKeyId")?, "access-keys")
            } else {
                (p.req("SSHPublicKeyId")?, "ssh-keys")
            };
            done(p)?;
            ctx.call(
                M::DELETE,
                &format!("/v1/users/{}/{coll}/{}", segment(&name), segment(&id)),
                None,
            )
            .await?;
            return Ok(None);
        }
        // ---- managed policies -------------------------------------------
        "CreatePolicy" => {
            let mut body = json!({
                "name": p.req("PolicyName")?,
                "document": p.req("PolicyDocument")?,
            });
            if let Some(v) = p.opt("Path") {
                body["path"] = json!(v);
            }
            if let Some(v) = p.opt("Description") {
                body["description"] = json!(v);
            }
            done(p)?;
            let v = ctx.call(M::POST, "/v1/policies", Some(body)).await?;
            x.open("Policy");
            policy_xml(&mut x, &v);
            x.close("Policy");
        }
        "GetPolicy" | "DeletePolicy" => {
            let name = ctx.policy_name("PolicyArn", &p.req("PolicyArn")?)?;
            done(p)?;
            let path = format!("/v1/policies/{}", segment(&name));
            if action == "DeletePolicy" {
                ctx.call(M::DELETE, &path, None).await?;
                return Ok(None);
            }
            let v = ctx.call(M::GET, &path, None).await?;
            x.open("Policy");
            policy_xml(&mut x, &v);
            x.close("Policy");
        }
        "ListPolicies" => {
            // AWS-managed policies do not exist in ward.
            let scope = p.opt("Scope").unwrap_or_else(|| "All".into());
            if !matches!(scope.as_str(), "All" | "AWS" | "Local") {
                return Err(QueryError::validation("Scope must be All, AWS or Local"));
            }
            let only_attached = p.bool("OnlyAttached")?.unwrap_or(false);
            let q = list_query(p, true);
            done(p)?;
            if scope == "AWS" {
                x.open("Policies").close("Policies");
                x.text("IsTruncated", "false");
                return Ok(Some(x.finish()));
            }
            let v = ctx.call(M::GET, &format!("/v1/policies{q}"), None).await?;
            let items: Vec<Value> = v["policies"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter(|p| !only_attached || p["attachmentCount"].as_i64().unwrap_or(0) > 0)
                .cloned()
                .collect();
            x.members("Policies", &Value::Array(items), policy_xml);
            truncation_xml(&mut x, &v);
        }
        "TagPolicy" => {
            let name = ctx.policy_name("PolicyArn", &p.req("PolicyArn")?)?;
            let tags = p.tags("Tags")?;
            done(p)?;
            ctx.call(
                M::POST,
                &format!("/v1/policies/{}/tags", segment(&name)),
                Some(json!({ "tags": tags })),
            )
            .await?;
            return Ok(None);
        }
        "UntagPolicy" => {
            let name = ctx.policy_name("PolicyArn", &p.req("PolicyArn")?)?;
            let keys = tag_keys(p)?;
            done(p)?;
            ctx.call(
                M::DELETE,
                &format!(
                    "/v1/policies/{}/tags{}",
                    segment(&name),
                    query(&[("keys", &keys)])
                ),
                None,
            )
            .await?;
            return Ok(None);
        }
        "ListPolicyTags" => {
            let name = ctx.policy_name("PolicyArn", &p.req("PolicyArn")?)?;
            let v = ctx
                .call(
                    M::GET,
                    &format!("/v1/policies/{}/tags", segment(&name)),
                    None,
                )
                .await?;
            let pg = page(p, &v["tags"])?;
            tags_xml(&mut x, "Tags", &Value::Array(pg.items.clone()));
            page_xml(&mut x, &pg);
        }
        "ListEntitiesForPolicy" => {
            let name = ctx.policy_name("PolicyArn", &p.req("PolicyArn")?)?;
            let filter = p.opt("EntityFilter");
            let kinds: &[&str] = match filter.as_deref() {
                None => &["user", "group", "role"],
                Some("User") => &["user"],
                Some("Group") => &["group"],
                Some("Role") => &["role"],
                // ward's managed policies are attached to principals only.
                Some("LocalManagedPolicy" | "AWSManagedPolicy") => &[],
                Some(_) => {
                    return Err(QueryError::validation(
                        "EntityFilter must be User, Role, Group, LocalManagedPolicy or AWSManagedPolicy",
                    ))
                }
            };
            let usage = match p.opt("PolicyUsageFilter").as_deref() {
                None | Some("PermissionsPolicy") => "policy",
                Some("PermissionsBoundary") => "boundary",
                Some(_) => {
                    return Err(QueryError::validation(
                        "PolicyUsageFilter must be PermissionsPolicy or PermissionsBoundary",
                    ))
                }
            };
            let prefix = p.opt("PathPrefix").unwrap_or_else(|| "/".into());
            let v = ctx
                .call(
                    M::GET,
                    &format!(
                        "/v1/policies/{}/entities{}",
                        segment(&name),
                        query(&[("usage", usage)])
                    ),
                    None,
                )
                .await?;
            // One list over the three kinds, paged here.
            let mut all = Vec::new();
            for (kind, key) in [
                ("user", "policyUsers"),
                ("group", "policyGroups"),
                ("role", "policyRoles"),
            ] {
                if !kinds.contains(&kind) {
                    continue;
                }
                for e in v[key].as_array().map(Vec::as_slice).unwrap_or_default() {
                    if e["path"].as_str().unwrap_or("/").starts_with(&prefix) {
                        all.push(json!({"kind": kind, "name": e["name"], "id": e["id"]}));
                    }
                }
            }
            let pg = page(p, &Value::Array(all))?;
            for (kind, list, name_tag, id_tag) in [
                ("group", "PolicyGroups", "GroupName", "GroupId"),
                ("user", "PolicyUsers", "UserName", "UserId"),
                ("role", "PolicyRoles", "RoleName", "RoleId"),
            ] {
                let items: Vec<Value> = pg
                    .items
                    .iter()
                    .filter(|e| e["kind"] == kind)
                    .cloned()
                    .collect();
                x.members(list, &Value::Array(items), |x, e| {
                    x.field(name_tag, &e["name"]).field(id_tag, &e["id"]);
                });
            }
            page_xml(&mut x, &pg);
        }
        "CreatePolicyVersion" => {
            let name = ctx.policy_name("PolicyArn", &p.req("PolicyArn")?)?;
            let body = json!({
                "document": p.req("PolicyDocument")?,
                "setAsDefault": p.bool("SetAsDefault")?.unwrap_or(false),
            });
            done(p)?;
            let v = ctx
                .call(
                    M::POST,
                    &format!("/v1/policies/{}/versions", segment(&name)),
                    Some(body),
                )
                .await?;
            x.open("PolicyVersion");
            version_xml(&mut x, &v);
            x.close("PolicyVersion");
        }
        "GetPolicyVersion" | "DeletePolicyVersion" => {
            let name = ctx.policy_name("PolicyArn", &p.req("PolicyArn")?)?;
            let vid = p.req("VersionId")?;
            done(p)?;
            let path = format!("/v1/policies/{}/versions/{}", segment(&name), segment(&vid));
            if action == "DeletePolicyVersion" {
                ctx.call(M::DELETE, &path, None).await?;
                return Ok(None);
            }
            let v = ctx.call(M::GET, &path, None).await?;
            x.open("PolicyVersion");
            version_xml(&mut x, &v);
            x.close("PolicyVersion");
        }
        "ListPolicyVersions" => {
            let name = ctx.policy_name("PolicyArn", &p.req("PolicyArn")?)?;
            let v = ctx
                .call(
                    M::GET,
                    &format!("/v1/policies/{}/versions", segment(&name)),
                    None,
                )
                .await?;
            let pg = page(p, &v["versions"])?;
            x.members("Versions", &Value::Array(pg.items.clone()), version_xml);
            page_xml(&mut x, &pg);
        }
        "SetDefaultPolicyVersion" => {
            let name = ctx.policy_name("PolicyArn", &p.req("PolicyArn")?)?;
            let vid = p.req("VersionId")?;
            done(p)?;
            ctx.call(
                M::PUT,
                &format!("/v1/policies/{}/default-version", segment(&name)),
                Some(json!({ "versionId": vid })),
            )
            .await?;
            return Ok(None);
        }
        // ---- attachments ------------------------------------------------
        "AttachUserPolicy" | "DetachUserPolicy" | "AttachGroupPolicy" | "DetachGroupPolicy"
        | "AttachRolePolicy" | "DetachRolePolicy" => {
            let (kind, field) = principal_of(action);
            let name = p.req(field)?;
            let policy = ctx.policy_name("PolicyArn", &p.req("PolicyArn")?)?;
            done(p)?;
            let m = if action.starts_with("Attach") {
                M::PUT
            } else {
                M::DELETE
            };
            ctx.call(
                m,
                &format!(
                    "/v1/{kind}/{}/attached-policies/{}",
                    segment(&name),
                    segment(&policy)
                ),
                None,
            )
            .await?;
            return Ok(None);
        }
        "ListAttachedUserPolicies" | "ListAttachedGroupPolicies" | "ListAttachedRolePolicies" => {
            let (kind, field) = principal_of(action);
            let name = p.req(field)?;
            let prefix = p.opt("PathPrefix").unwrap_or_else(|| "/".into());
            let v = ctx
                .call(
                    M::GET,
                    &format!("/v1/{kind}/{}/attached-policies", segment(&name)),
                    None,
                )
                .await?;
            let all: Vec<Value> = v["policies"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter(|p| p["path"].as_str().unwrap_or("/").starts_with(&prefix))
                .cloned()
                .collect();
            let pg = page(p, &Value::Array(all))?;
            x.members(
                "AttachedPolicies",
                &Value::Array(pg.items.clone()),
                |x, p| {
                    x.field("PolicyName", &p["name"])
                        .field("PolicyArn", &p["arn"]);
                },
            );
            page_xml(&mut x, &pg);
        }
        // ---- inline policies --------------------------------------------
        "PutUserPolicy" | "PutGroupPolicy" | "PutRolePolicy" => {
            let (kind, field) = principal_of(action);
            let name = p.req(field)?;
            let pname = p.req("PolicyName")?;
            let doc = p.req("PolicyDocument")?;
            done(p)?;
            ctx.call(
                M::PUT,
                &format!("/v1/{kind}/{}/policies/{}", segment(&name), segment(&pname)),
                Some(json!({ "document": doc })),
            )
            .await?;
            return Ok(None);
        }
        "GetUserPolicy" | "GetGroupPolicy" | "GetRolePolicy" | "DeleteUserPolicy"
        | "DeleteGroupPolicy" | "DeleteRolePolicy" => {
            let (kind, field) = principal_of(action);
            let name = p.req(field)?;
            let pname = p.req("PolicyName")?;
            done(p)?;
            let path = format!("/v1/{kind}/{}/policies/{}", segment(&name), segment(&pname));
            if action.starts_with("Delete") {
                ctx.call(M::DELETE, &path, None).await?;
                return Ok(None);
            }
            let v = ctx.call(M::GET, &path, None).await?;
            x.text(field, &name)
                .field("PolicyName", &v["name"])
                .text("PolicyDocument", &url_doc(&v["document"]));
        }
        "ListUserPolicies" | "ListGroupPolicies" | "ListRolePolicies" => {
            let (kind, field) = principal_of(action);
            let name = p.req(field)?;
            let v = ctx
                .call(
                    M::GET,
                    &format!("/v1/{kind}/{}/policies", segment(&name)),
                    None,
                )
                .await?;
            let pg = page(p, &v["policyNames"])?;
            x.strings("PolicyNames", &Value::Array(pg.items.clone()));
            page_xml(&mut x, &pg);
        }
        // ---- permissions boundaries -------------------------------------
        "PutUserPermissionsBoundary" | "PutRolePermissionsBoundary" => {
            let (kind, field) = principal_of(action);
            let name = p.req(field)?;
            let arn = ctx.ward_arn(&p.req("PermissionsBoundary")?);
            done(p)?;
            ctx.call(
                M::PUT,
                &format!("/v1/{kind}/{}/permissions-boundary", segment(&name)),
                Some(json!({ "policy": arn })),
            )
            .await?;
            return Ok(None);
        }
        "DeleteUserPermissionsBoundary" | "DeleteRolePermissionsBoundary" => {
            let (kind, field) = principal_of(action);
            let name = p.req(field)?;
            done(p)?;
            ctx.call(
                M::DELETE,
                &format!("/v1/{kind}/{}/permissions-boundary", segment(&name)),
                None,
            )
            .await?;
            return Ok(None);
        }
        // ---- login profiles ---------------------------------------------
        "UpdateLoginProfile" => {
            // An existing profile only (404 otherwise), either field.
            let name = ctx.user_or_self(p)?;
            let mut body = json!({});
            if let Some(v) = p.opt("Password") {
                body["password"] = json!(v);
            }
            if let Some(v) = p.bool("PasswordResetRequired")? {
                body["passwordResetRequired"] = json!(v);
            }
            done(p)?;
            ctx.call(
                M::PATCH,
                &format!("/v1/users/{}/login-profile", segment(&name)),
                Some(body),
            )
            .await?;
            return Ok(None);
        }
        "CreateLoginProfile" => {
            let name = p.req("UserName")?;
            let password = p.req("Password")?;
            let reset = p.bool("PasswordResetRequired")?.unwrap_or(false);
            done(p)?;
            let body = json!({"password": password, "passwordResetRequired": reset});
            let path = format!("/v1/users/{}/login-profile", segment(&name));
            // POST creates only: 409 EntityAlreadyExists when the user
            // has a profile, as AWS answers.
            let v = ctx.call(M::POST, &path, Some(body)).await?;
            login_profile_xml(&mut x, &v);
        }
        "GetLoginProfile" => {
            let name = ctx.user_or_self(p)?;
            done(p)?;
            let v = ctx
                .call(
                    M::GET,
                    &format!("/v1/users/{}/login-profile", segment(&name)),
                    None,
                )
                .await?;
            login_profile_xml(&mut x, &v);
        }
        "DeleteLoginProfile" => {
            let name = p.req("UserName")?;
            done(p)?;
            ctx.call(
                M::DELETE,
                &format!("/v1/users/{}/login-profile", segment(&name)),
                None,
            )
            .await?;
            return Ok(None);
        }
        "ChangePassword" => {
            let body = json!({
                "oldPassword": p.req("OldPassword")?,
                "newPassword": p.req("NewPassword")?,
            });
            done(p)?;
            ctx.call(M::POST, "/v1/change-password", Some(body)).await?;
            return Ok(None);
        }
        // ---- SSH public keys --------------------------------------------
        "UploadSSHPublicKey" => {
            let name = p.req("UserName")?;
            let key = p.req("SSHPublicKeyBody")?;
            done(p)?;
            let v = ctx
                .call(
                    M::POST,
                    &format!("/v1/users/{}/ssh-keys", segment(&name)),
                    Some(json!({ "publicKey": key })),
                )
                .await?;
            x.open("SSHPublicKey");
            ssh_key_xml(&mut x, &v);
            x.close("SSHPublicKey");
        }
        "GetSSHPublicKey" => {
            let name = p.req("UserName")?;
            let id = p.req("SSHPublicKeyId")?;
            if p.req("Encoding")? != "SSH" {
                return Err(QueryError::validation("ward serves Encoding SSH only"));
            }
            done(p)?;
            let v = ctx
                .call(
                    M::GET,
                    &format!("/v1/users/{}/ssh-keys/{}", segment(&name), segment(&id)),
                    None,
                )
                .await?;
            x.open("SSHPublicKey");
            ssh_key_xml(&mut x, &v);
            x.close("SSHPublicKey");
        }
        "ListSSHPublicKeys" => {
            let name = ctx.user_or_self(p)?;
            let v = ctx
                .call(
                    M::GET,
                    &format!("/v1/users/{}/ssh-keys", segment(&name)),
                    None,
                )
                .await?;
            let pg = page(p, &v["sshPublicKeys"])?;
            x.members("SSHPublicKeys", &Value::Array(pg.items.clone()), |x, k| {
                x.field("UserName", &k["userName"])
                    .field("SSHPublicKeyId", &k["sshPublicKeyId"])
                    .field("Status", &k["status"])
                    .field("UploadDate", &k["uploaded"]);
            });
            page_xml(&mut x, &pg);
        }
        // ---- roles ------------------------------------------------------
        "CreateRole" => {
            let mut body = json!({
                "name": p.req("RoleName")?,
                "assumeRolePolicyDocument": p.req("AssumeRolePolicyDocument")?,
            });
            if let Some(v) = p.opt("Path") {
                body["path"] = json!(v);
            }
            if let Some(v) = p.opt("Description") {
                body["description"] = json!(v);
            }
            if let Some(v) = p.int("MaxSessionDuration")? {
                body["maxSessionDuration"] = json!(v);
            }
            if let Some(v) = p.opt("PermissionsBoundary") {
                body["permissionsBoundary"] = json!(ctx.ward_arn(&v));
            }
            let tags = p.tags("Tags")?;
            if !tags.is_empty() {
                body["tags"] = json!(tags);
            }
            done(p)?;
            let v = ctx.call(M::POST, "/v1/roles", Some(body)).await?;
            x.open("Role");
            role_xml(&mut x, &v);
            x.close("Role");
        }
        "GetRole" | "DeleteRole" => {
            let name = p.req("RoleName")?;
            done(p)?;
            let path = format!("/v1/roles/{}", segment(&name));
            if action == "DeleteRole" {
                ctx.call(M::DELETE, &path, None).await?;
                return Ok(None);
            }
            let v = ctx.call(M::GET, &path, None).await?;
            x.open("Role");
            role_xml(&mut x, &v);
            x.close("Role");
        }
        "UpdateRole" => {
            let name = p.req("RoleName")?;
            let mut body = json!({});
            if let Some(v) = p.opt("Description") {
                body["description"] = json!(v);
            }
            if let Some(v) = p.int("MaxSessionDuration")? {
                body["maxSessionDuration"] = json!(v);
            }
            done(p)?;
            ctx.call(
                M::PATCH,
                &format!("/v1/roles/{}", segment(&name)),
                Some(body),
            )
            .await?;
        }
        "ListRoles" => {
            let q = list_query(p, true);
            done(p)?;
            let v = ctx.call(M::GET, &format!("/v1/roles{q}"), None).await?;
            x.members("Roles", &v["roles"], role_xml);
            truncation_xml(&mut x, &v);
        }
        "UpdateAssumeRolePolicy" => {
            let name = p.req("RoleName")?;
            let doc = p.req("PolicyDocument")?;
            done(p)?;
            ctx.call(
                M::PUT,
                &format!("/v1/roles/{}/trust-policy", segment(&name)),
                Some(json!({ "document": doc })),
            )
            .await?;
            return Ok(None);
        }
        // ---- MFA devices ------------------------------------------------
        "CreateVirtualMFADevice" => {
            let name = p.req("VirtualMFADeviceName")?;
            if let Some(path) = p.opt("Path") {
                if path != "/" {
                    return Err(QueryError::validation("ward's MFA devices have Path /"));
                }
            }
            done(p)?;
            let v = ctx
                .call(
                    M::POST,
                    "/v1/mfa-devices",
                    Some(json!({ "virtualMfaDeviceName": name })),
                )
                .await?;
            let seed = v["base32StringSeed"].as_str().unwrap_or_default();
            x.open("VirtualMFADevice")
                .field("SerialNumber", &v["serialNumber"])
                .text(
                    "Base32StringSeed",
                    &base64::engine::general_purpose::STANDARD.encode(seed),
                )
                .close("VirtualMFADevice");
        }
        "DeleteVirtualMFADevice" => {
            let device = mfa_name(&ctx.ward_arn(&p.req("SerialNumber")?));
            done(p)?;
            ctx.call(
                M::DELETE,
                &format!("/v1/mfa-devices/{}", segment(&device)),
                None,
            )
            .await?;
            return Ok(None);
        }
        "EnableMFADevice" => {
            let name = p.req("UserName")?;
            let body = json!({
                "serialNumber": ctx.ward_arn(&p.req("SerialNumber")?),
                "authenticationCode1": p.req("AuthenticationCode1")?,
                "authenticationCode2": p.req("AuthenticationCode2")?,
            });
            done(p)?;
            ctx.call(
                M::POST,
                &format!("/v1/users/{}/mfa-devices", segment(&name)),
                Some(body),
            )
            .await?;
            return Ok(None);
        }
        "DeactivateMFADevice" | "ResyncMFADevice" => {
            let name = ctx.user_or_self(p)?;
            let device = mfa_name(&ctx.ward_arn(&p.req("SerialNumber")?));
            let path = format!(
                "/v1/users/{}/mfa-devices/{}",
                segment(&name),
                segment(&device)
            );
            if action == "DeactivateMFADevice" {
                done(p)?;
                ctx.call(M::DELETE, &path, None).await?;
            } else {
                let body = json!({
                    "authenticationCode1": p.req("AuthenticationCode1")?,
                    "authenticationCode2": p.req("AuthenticationCode2")?,
                });
                done(p)?;
                ctx.call(M::POST, &format!("{path}/resync"), Some(body))
                    .await?;
            }
            return Ok(None);
        }
        "ListMFADevices" => {
            let name = ctx.user_or_self(p)?;
            let v = ctx
                .call(
                    M::GET,
                    &format!("/v1/users/{}/mfa-devices", segment(&name)),
                    None,
                )
                .await?;
            let pg = page(p, &v["mfaDevices"])?;
            x.members("MFADevices", &Value::Array(pg.items.clone()), |x, d| {
                x.field("UserName", &d["userName"])
                    .field("SerialNumber", &d["serialNumber"])
                    .field("EnableDate", &d["enableDate"]);
            });
            page_xml(&mut x, &pg);
        }
        "ListVirtualMFADevices" => {
            let status = p.opt("AssignmentStatus").unwrap_or_else(|| "Any".into());
            if !matches!(status.as_str(), "Assigned" | "Unassigned" | "Any") {
                return Err(QueryError::validation(
                    "AssignmentStatus must be Assigned, Unassigned or Any",
                ));
            }
            let v = ctx
                .call(
                    M::GET,
                    &format!("/v1/mfa-devices{}", query(&[("assignmentStatus", &status)])),
                    None,
                )
                .await?;
            let pg = page(p, &v["virtualMfaDevices"])?;
            x.members(
                "VirtualMFADevices",
                &Value::Array(pg.items.clone()),
                |x, d| {
                    x.field("SerialNumber", &d["serialNumber"]);
                    if d["userName"].is_string() {
                        x.open("User")
                            .field("UserName", &d["userName"])
                            .field("Arn", &d["userArn"])
                            .close("User");
                    }
                    x.field("EnableDate", &d["enableDate"]);
                },
            );
            page_xml(&mut x, &pg);
        }
        // ---- account ------------------------------------------------------
        "GetAccountSummary" => {
            done(p)?;
            let v = ctx.call(M::GET, "/v1/account/summary", None).await?;
            x.open("SummaryMap");
            if let Some(m) = v["summaryMap"].as_object() {
                for (k, n) in m {
                    x.open("entry")
                        .text("key", k)
                        .field("value", n)
                        .close("entry");
                }
            }
            x.close("SummaryMap");
        }
        "GetAccountAuthorizationDetails" => {
            let filter = p.list("Filter")?;
            if filter.iter().any(|f| f.contains(',')) {
                return Err(QueryError::validation("Filter members cannot contain ','"));
            }
            let q = if filter.is_empty() {
                String::new()
            } else {
                query(&[("filter", &filter.join(","))])
            };
            let v = ctx
                .call(
                    M::GET,
                    &format!("/v1/account/authorization-details{q}"),
                    None,
                )
                .await?;
            // One list over the four kinds, paged here.
            let mut all = Vec::new();
            for (kind, key) in [
                ("user", "users"),
                ("group", "groups"),
                ("role", "roles"),
                ("policy", "policies"),
            ] {
                for e in v[key].as_array().map(Vec::as_slice).unwrap_or_default() {
                    all.push(json!({"kind": kind, "v": e}));
                }
            }
            let pg = page(p, &Value::Array(all))?;
            let of = |kind: &str| -> Value {
                Value::Array(
                    pg.items
                        .iter()
                        .filter(|e| e["kind"] == kind)
                        .map(|e| e["v"].clone())
                        .collect(),
                )
            };
            x.members("UserDetailList", &of("user"), |x, d| {
                user_xml(x, &d["user"]);
                inline_xml(x, "UserPolicyList", &d["inlinePolicies"]);
                x.strings("GroupList", &d["groups"]);
                attached_xml(x, &d["attachedPolicies"]);
            });
            x.members("GroupDetailList", &of("group"), |x, d| {
                group_xml(x, &d["group"]);
                inline_xml(x, "GroupPolicyList", &d["inlinePolicies"]);
                attached_xml(x, &d["attachedPolicies"]);
            });
            x.members("RoleDetailList", &of("role"), |x, d| {
                role_xml(x, &d["role"]);
                inline_xml(x, "RolePolicyList", &d["inlinePolicies"]);
                attached_xml(x, &d["attachedPolicies"]);
            });
            x.members("Policies", &of("policy"), |x, d| {
                policy_xml(x, &d["policy"]);
                x.members("PolicyVersionList", &d["versions"], version_xml);
            });
            page_xml(&mut x, &pg);
        }
        // ---- simulation -------------------------------------------------
        "SimulatePrincipalPolicy" | "SimulateCustomPolicy" => {
            let mut body = json!({
                "actionNames": p.list("ActionNames")?,
                "resourceArns": p.list("ResourceArns")?
                    .iter().map(|a| ctx.ward_arn(a)).collect::<Vec<_>>(),
                "contextEntries": context_entries(p)?,
            });
            let path = if action == "SimulatePrincipalPolicy" {
                body["policySourceArn"] = json!(ctx.ward_arn(&p.req("PolicySourceArn")?));
                "/v1/simulate/principal"
            } else {
                body["policyInputList"] = json!(p.list("PolicyInputList")?);
                let b = p.list("PermissionsBoundaryPolicyInputList")?;
                if !b.is_empty() {
                    body["permissionsBoundaryPolicyInputList"] = json!(b);
                }
                if let Some(v) = p.opt("ResourcePolicy") {
                    body["resourcePolicy"] = json!(v);
                }
                if let Some(v) = p.opt("CallerArn") {
                    body["callerArn"] = json!(ctx.ward_arn(&v));
                }
                "/v1/simulate/custom"
            };
            // All results in one page: MaxItems/Marker page them here.
            let v = ctx.call(M::POST, path, Some(body)).await?;
            let pg = page(p, &v["results"])?;
            x.members(
                "EvaluationResults",
                &Value::Array(pg.items.clone()),
                |x, r| {
                    let decision = match r["decision"].as_str() {
                        Some("Allowed") => "allowed",
                        Some("ExplicitlyDenied") => "explicitDeny",
                        _ => "implicitDeny",
                    };
                    x.field("EvalActionName", &r["actionName"])
                        .field("EvalResourceName", &r["resourceArn"])
                        .text("EvalDecision", decision);
                    x.members("MatchedStatements", &r["matchedStatements"], |x, s| {
                        x.field("SourcePolicyId", s);
                    });
                },
            );
            page_xml(&mut x, &pg);
        }
        // ---- STS ----------------------------------------------------------
        "GetCallerIdentity" => {
            done(p)?;
            let v = ctx.call(M::GET, "/v1/whoami", None).await?;
            x.field("Arn", &v["arn"])
                .field("UserId", &v["userId"])
                .field("Account", &v["account"]);
        }
        "GetSessionToken" => {
            let mut body = json!({});
            if let Some(v) = p.int("DurationSeconds")? {
                body["durationSeconds"] = json!(v);
            }
            if let Some(v) = p.opt("SerialNumber") {
                body["serialNumber"] = json!(ctx.ward_arn(&v));
            }
            if let Some(v) = p.opt("TokenCode") {
                body["tokenCode"] = json!(v);
            }
            done(p)?;
            let v = ctx
                .call(M::POST, "/v1/sts/session-token", Some(body))
                .await?;
            credentials_xml(&mut x, &v);
        }
        "AssumeRole" => {
            let mut body = json!({
                "roleArn": ctx.ward_arn(&p.req("RoleArn")?),
                "roleSessionName": p.req("RoleSessionName")?,
            });
            if let Some(v) = p.int("DurationSeconds")? {
                body["durationSeconds"] = json!(v);
            }
            if let Some(v) = p.opt("Policy") {
                body["policy"] = json!(v);
            }
            let arns: Vec<String> = p
                .structs("PolicyArns", &["arn"])?
                .into_iter()
                .filter_map(|mut r| r.pop().flatten())
                .map(|a| ctx.ward_arn(&a))
                .collect();
            if !arns.is_empty() {
                body["policyArns"] = json!(arns);
            }
            let tags = p.tags("Tags")?;
            if !tags.is_empty() {
                body["tags"] = json!(tags);
            }
            let keys = p.list("TransitiveTagKeys")?;
            if !keys.is_empty() {
                body["transitiveTagKeys"] = json!(keys);
            }
            for (param, field) in [
                ("ExternalId", "externalId"),
                ("SourceIdentity", "sourceIdentity"),
                ("TokenCode", "tokenCode"),
            ] {
                if let Some(v) = p.opt(param) {
                    body[field] = json!(v);
                }
            }
            if let Some(v) = p.opt("SerialNumber") {
                body["serialNumber"] = json!(ctx.ward_arn(&v));
            }
            done(p)?;
            let v = ctx.call(M::POST, "/v1/sts/assume-role", Some(body)).await?;
            credentials_xml(&mut x, &v["credentials"]);
            x.open("AssumedRoleUser")
                .field("AssumedRoleId", &v["assumedRoleUser"]["assumedRoleId"])
                .field("Arn", &v["assumedRoleUser"]["arn"])
                .close("AssumedRoleUser");
            x.field("SourceIdentity", &v["sourceIdentity"]);
        }
        other => {
            return Err(QueryError::bad(
                "InvalidAction",
                format!("Could not find operation {other}"),
            ))
        }
    }
    Ok(Some(x.finish()))
}

/// A device's name from its serial number (`arn:…:mfa/NAME`) or the name.
fn mfa_name(serial: &str) -> String {
    match serial.split_once(":mfa/") {
        Some((_, rest)) => rest.rsplit('/').next().unwrap_or(rest).to_owned(),
        None => serial.to_owned(),
    }
}

/// `ContextEntries.member.N.ContextKeyName`/`ContextKeyValues.member.M`
/// (`ContextKeyType` accepted) as ward's `{key: value or [values]}`.
fn context_entries(p: &mut Params) -> Result<Value, QueryError> {
    let mut out = serde_json::Map::new();
    for n in 1..=super::form::MAX_MEMBERS {
        let base = format!("ContextEntries.member.{n}");
        let Some(key) = p.opt(&format!("{base}.ContextKeyName")) else {
            return Ok(Value::Object(out));
        };
        let kind = p.opt(&format!("{base}.ContextKeyType")).unwrap_or_default();
        let values = p.list(&format!("{base}.ContextKeyValues"))?;
        let v = if kind.ends_with("List") || values.len() != 1 {
            json!(values)
        } else {
            json!(values[0])
        };
        if out.insert(key.clone(), v).is_some() {
            return Err(QueryError::validation(format!(
                "context key {key} is given more than once"
            )));
        }
    }
    Err(QueryError::validation("too many ContextEntries"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_belongs_to_one_service() {
        for a in IAM_ACTIONS {
            assert!(!STS_ACTIONS.contains(a), "{a}");
            assert_eq!(service_of(a), Some(Service::Iam));
        }
        assert_eq!(service_of("AssumeRole"), Some(Service::Sts));
        assert_eq!(service_of("CreateBucket"), None);
        assert_eq!(mfa_name("arn:ward:iam::1:mfa/dev"), "dev");
        assert_eq!(mfa_name("dev"), "dev");
    }
}
