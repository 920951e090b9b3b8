//! `ward policy …` subcommands that talk to ward-ca: managed policies,
//! their versions, attachments and inline policies.
//!
//! `--document FILE` sends the file's text unchanged, as a JSON string
//! (the API takes an object or a string holding one): ward-ca validates
//! exactly what was written, duplicate keys and all.

use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::value::RawValue;
use ward_protocol::api;

use crate::client::Method;
use crate::ctx::{body, Ctx, Done};
use crate::error::Failure;
use crate::output::{self, fields, table};

/// Largest document read (ward-ca takes request bodies up to 256 KiB).
const MAX_DOCUMENT: usize = 128 * 1024;

/// `--user U | --group G | --role R`.
#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
pub(crate) struct Target {
    /// The user.
    #[arg(long)]
    user: Option<String>,
    /// The group.
    #[arg(long)]
    group: Option<String>,
    /// The role.
    #[arg(long)]
    role: Option<String>,
}

impl Target {
    /// A role (for `ward role put-policy` and the like).
    pub(crate) fn role(name: String) -> Target {
        Target {
            user: None,
            group: None,
            role: Some(name),
        }
    }

    /// (`users` | `groups` | `roles`, name).
    fn route(&self) -> Result<(&'static str, &str), Failure> {
        match (&self.user, &self.group, &self.role) {
            (Some(u), None, None) => Ok(("users", u)),
            (None, Some(g), None) => Ok(("groups", g)),
            (None, None, Some(r)) => Ok(("roles", r)),
            _ => Err(Failure::usage(
                "give exactly one of --user, --group and --role",
            )),
        }
    }

    fn describe(&self) -> String {
        match (&self.user, &self.group, &self.role) {
            (Some(u), _, _) => format!("user {u}"),
            (_, Some(g), _) => format!("group {g}"),
            (_, _, Some(r)) => format!("role {r}"),
            _ => String::new(),
        }
    }
}

#[derive(Args, Debug)]
pub(crate) struct Create {
    /// Policy name.
    name: String,
    /// The policy document (JSON), or - for standard input.
    #[arg(long)]
    document: PathBuf,
    /// A description (up to 1,000 characters).
    #[arg(long)]
    description: Option<String>,
    /// Path (default /).
    #[arg(long)]
    path: Option<String>,
}

#[derive(Args, Debug)]
pub(crate) struct Named {
    /// Policy name or ARN.
    name: String,
}

#[derive(Args, Debug)]
pub(crate) struct List {
    /// Only policies whose path starts with this.
    #[arg(long)]
    path_prefix: Option<String>,
    /// Policies per request (1–1000).
    #[arg(long)]
    max_items: Option<u32>,
    /// Continue from a previous page's marker.
    #[arg(long)]
    marker: Option<String>,
    /// Fetch every page.
    #[arg(long)]
    all: bool,
}

#[derive(Args, Debug)]
pub(crate) struct CreateVersion {
    /// Policy name or ARN.
    name: String,
    /// The new document (JSON), or - for standard input.
    #[arg(long)]
    document: PathBuf,
    /// Make it the default version.
    #[arg(long)]
    set_default: bool,
}

#[derive(Args, Debug)]
pub(crate) struct Version {
    /// Policy name or ARN.
    name: String,
    /// Version id, e.g. v2.
    #[arg(value_name = "VERSION")]
    version_id: String,
}

#[derive(Args, Debug)]
pub(crate) struct Attachment {
    /// Managed policy name or ARN.
    pub(crate) name: String,
    #[command(flatten)]
    pub(crate) target: Target,
}

#[derive(Args, Debug)]
pub(crate) struct Attached {
    #[command(flatten)]
    pub(crate) target: Target,
}

#[derive(Args, Debug)]
pub(crate) struct PutInline {
    /// Inline policy name.
    pub(crate) name: String,
    #[command(flatten)]
    pub(crate) target: Target,
    /// The policy document (JSON), or - for standard input.
    #[arg(long)]
    pub(crate) document: PathBuf,
}

#[derive(Args, Debug)]
pub(crate) struct Inline {
    /// Inline policy name.
    pub(crate) name: String,
    #[command(flatten)]
    pub(crate) target: Target,
}

/// The document's text as a JSON string value.
pub(crate) fn document(path: &Path) -> Result<Box<RawValue>, Failure> {
    let bytes = super::read_input(path, MAX_DOCUMENT).map_err(Failure::usage)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Failure::usage(format!("{}: not valid UTF-8", path.display())))?;
    if text.trim().is_empty() {
        return Err(Failure::usage(format!(
            "{}: empty document",
            path.display()
        )));
    }
    serde_json::value::to_raw_value(&text)
        .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))
}

fn doc_text(d: &Option<serde_json::Value>) -> String {
    match d {
        Some(v) => output::json(v),
        None => String::new(),
    }
}

fn policy_fields(p: &api::ManagedPolicy) -> String {
    let mut out = fields(&[
        ("Name", p.name.clone()),
        ("PolicyId", p.policy_id.clone()),
        ("Arn", p.arn.clone()),
        ("Path", p.path.clone()),
        ("Description", p.description.clone()),
        ("DefaultVersion", p.default_version_id.clone()),
        ("Attachments", p.attachment_count.to_string()),
        ("Created", p.created.clone()),
        ("Updated", p.updated.clone()),
    ]);
    if p.document.is_some() {
        out.push_str("Document:\n");
        out.push_str(&doc_text(&p.document));
    }
    out
}

fn policies_table(l: &api::PolicyList) -> String {
    let rows: Vec<Vec<String>> = l
        .policies
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                p.default_version_id.clone(),
                p.attachment_count.to_string(),
                p.path.clone(),
                p.arn.clone(),
            ]
        })
        .collect();
    table(&["name", "version", "attachments", "path", "arn"], &rows)
}

fn version_fields(v: &api::PolicyVersion) -> String {
    let mut out = fields(&[
        ("VersionId", v.version_id.clone()),
        ("IsDefault", v.is_default.to_string()),
        ("Created", v.created.clone()),
    ]);
    if v.document.is_some() {
        out.push_str("Document:\n");
        out.push_str(&doc_text(&v.document));
    }
    out
}

pub(crate) fn create(a: Create, ctx: &Ctx) -> Done {
    let req = api::CreatePolicy {
        name: a.name,
        path: a.path,
        description: a.description,
        document: document(&a.document)?,
    };
    let api = ctx.api()?;
    let v = api.send_for_json(Method::Post, &["policies"], body(&req)?)?;
    api.show(&v, policy_fields)
}

pub(crate) fn get(a: Named, ctx: &Ctx) -> Done {
    let api = ctx.api()?;
    let v = api.get(&["policies", &a.name], &[])?;
    api.show(&v, policy_fields)
}

pub(crate) fn list(a: List, ctx: &Ctx) -> Done {
    let api = ctx.api()?;
    let mut q: Vec<(&str, String)> = Vec::new();
    if let Some(p) = a.path_prefix {
        q.push(("pathPrefix", p));
    }
    if let Some(m) = a.max_items {
        q.push(("maxItems", m.to_string()));
    }
    if let Some(m) = a.marker {
        q.push(("marker", m));
    }
    let v = api.list(&["policies"], &q, "policies", ("marker", "marker"), a.all)?;
    let code = api.show(&v, policies_table)?;
    crate::ctx::more_hint(&api, &v, "marker", "--marker");
    Ok(code)
}

pub(crate) fn delete(a: Named, ctx: &Ctx) -> Done {
    let api = ctx.api()?;
    let v = api.send(Method::Delete, &["policies", &a.name], &[], None)?;
    api.done(v, format!("deleted policy {}", a.name))
}

pub(crate) fn create_version(a: CreateVersion, ctx: &Ctx) -> Done {
    let req = api::CreatePolicyVersion {
        document: document(&a.document)?,
        set_as_default: a.set_default,
    };
    let api = ctx.api()?;
    let v = api.send_for_json(
        Method::Post,
        &["policies", &a.name, "versions"],
        body(&req)?,
    )?;
    api.show(&v, version_fields)
}

pub(crate) fn versions(a: Named, ctx: &Ctx) -> Done {
    let api = ctx.api()?;
    let v = api.get(&["policies", &a.name, "versions"], &[])?;
    api.show(&v, |l: &api::PolicyVersionList| {
        let rows: Vec<Vec<String>> = l
            .versions
            .iter()
            .map(|v| {
                vec![
                    v.version_id.clone(),
                    if v.is_default { "yes" } else { "no" }.to_owned(),
                    v.created.clone(),
                ]
            })
            .collect();
        table(&["version", "default", "created"], &rows)
    })
}

pub(crate) fn get_version(a: Version, ctx: &Ctx) -> Done {
    let api = ctx.api()?;
    let v = api.get(&["policies", &a.name, "versions", &a.version_id], &[])?;
    api.show(&v, version_fields)
}

pub(crate) fn set_default(a: Version, ctx: &Ctx) -> Done {
    let api = ctx.api()?;
    let req = api::SetDefaultVersion {
        version_id: a.version_id.clone(),
    };
    let v = api.send(
        Method::Put,
        &["policies", &a.name, "default-version"],
        &[],
        body(&req)?,
    )?;
    api.done(
        v,
        format!(
            "{} is now the default version of policy {}",
            a.version_id, a.name
        ),
    )
}

pub(crate) fn delete_version(a: Version, ctx: &Ctx) -> Done {
    let api = ctx.api()?;
    let v = api.send(
        Method::Delete,
        &["policies", &a.name, "versions", &a.version_id],
        &[],
        None,
    )?;
    api.done(
        v,
        format!("deleted version {} of policy {}", a.version_id, a.name),
    )
}

pub(crate) fn attach(a: Attachment, ctx: &Ctx, detach: bool) -> Done {
    let (kind, who) = a.target.route()?;
    let api = ctx.api()?;
    let method = if detach { Method::Delete } else { Method::Put };
    let v = api.send(
        method,
        &[kind, who, "attached-policies", &a.name],
        &[],
        None,
    )?;
    let what = a.target.describe();
    api.done(
        v,
        if detach {
            format!("detached policy {} from {what}", a.name)
        } else {
            format!("attached policy {} to {what}", a.name)
        },
    )
}

pub(crate) fn attached(a: Attached, ctx: &Ctx) -> Done {
    let (kind, who) = a.target.route()?;
    let api = ctx.api()?;
    let v = api.get(&[kind, who, "attached-policies"], &[])?;
    api.show(&v, policies_table)
}

pub(crate) fn put_inline(a: PutInline, ctx: &Ctx) -> Done {
    let (kind, who) = a.target.route()?;
    let req = api::PutInlinePolicy {
        document: document(&a.document)?,
    };
    let api = ctx.api()?;
    let v = api.send(
        Method::Put,
        &[kind, who, "policies", &a.name],
        &[],
        body(&req)?,
    )?;
    api.done(
        v,
        format!("put inline policy {} on {}", a.name, a.target.describe()),
    )
}

pub(crate) fn get_inline(a: Inline, ctx: &Ctx) -> Done {
    let (kind, who) = a.target.route()?;
    let api = ctx.api()?;
    let v = api.get(&[kind, who, "policies", &a.name], &[])?;
    api.show(&v, |p: &api::InlinePolicy| {
        let mut out = fields(&[("Name", p.name.clone())]);
        out.push_str("Document:\n");
        out.push_str(&output::json(&p.document));
        out
    })
}

pub(crate) fn list_inline(a: Attached, ctx: &Ctx) -> Done {
    let (kind, who) = a.target.route()?;
    let api = ctx.api()?;
    let v = api.get(&[kind, who, "policies"], &[])?;
    api.show(&v, |l: &api::InlinePolicyList| {
        let rows: Vec<Vec<String>> = l.policy_names.iter().map(|n| vec![n.clone()]).collect();
        table(&["name"], &rows)
    })
}

pub(crate) fn delete_inline(a: Inline, ctx: &Ctx) -> Done {
    let (kind, who) = a.target.route()?;
    let api = ctx.api()?;
    let v = api.send(Method::Delete, &[kind, who, "policies", &a.name], &[], None)?;
    api.done(
        v,
        format!(
            "deleted inline policy {} of {}",
            a.name,
            a.target.describe()
        ),
    )
}
