//! Roles and temporary credentials on the command line:
//!
//! - `ward role create|get|list|update|delete|update-trust|tag|untag|
//!   put-policy|get-policy|delete-policy|list-policies|attach-policy|
//!   detach-policy|list-attached|put-boundary|delete-boundary|
//!   revoke-sessions` (the role's inline and managed policies go through
//!   the same code as `ward policy … --role R`);
//! - `ward assume-role ROLE --session NAME` prints shell exports, or with
//!   `--profile-out P` stores the session as profile `P`;
//! - a profile with `role_arn` and `source_profile` is assumed
//!   automatically ([`assume_profile`]), as the AWS CLI does; with
//!   `mfa_serial` its credentials are cached in `~/.ward/cli/cache/`
//!   ([`crate::cache`]) so one code serves commands until shortly before
//!   they expire;
//! - `ward credential-process` prints the AWS `credential_process` JSON so
//!   that botocore and the AWS SDKs can use ward credentials.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::json;
use ward_protocol::api;

use crate::cache;
use crate::client::{Client, Method};
use crate::config::{self, Credentials, Env, Flags, OutputFormat, Secret, Settings};
use crate::ctx::{body, typed, Ctx, Done};
use crate::error::Failure;
use crate::iam::{parse_tag, tags_text};
use crate::output::{self, fields, table};
use crate::policy::remote::{self, Target};

/// Most `source_profile` hops followed.
const MAX_SOURCE_HOPS: usize = 5;

#[derive(Subcommand, Debug)]
pub(crate) enum RoleCommand {
    /// Create a role with a trust policy (who may assume it).
    Create {
        /// Role name.
        name: String,
        /// The trust policy (JSON), or - for standard input.
        #[arg(long, value_name = "FILE")]
        trust: PathBuf,
        /// Path (default /).
        #[arg(long)]
        path: Option<String>,
        /// Description.
        #[arg(long)]
        description: Option<String>,
        /// Longest session, seconds (3600–43200; default 3600).
        #[arg(long)]
        max_session_duration: Option<i64>,
        /// A tag (repeatable).
        #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = parse_tag)]
        tags: Vec<api::Tag>,
        /// Managed policy (name or ARN) to set as permissions boundary.
        #[arg(long)]
        boundary: Option<String>,
    },
    /// Show a role (its trust policy with principals by ARN).
    Get {
        /// Role name.
        name: String,
    },
    /// List roles.
    List {
        /// Only roles under this path.
        #[arg(long)]
        path_prefix: Option<String>,
    },
    /// Change a role's description or maximum session duration.
    Update {
        /// Role name.
        name: String,
        /// New description.
        #[arg(long)]
        description: Option<String>,
        /// New maximum session duration, seconds (3600–43200).
        #[arg(long)]
        max_session_duration: Option<i64>,
    },
    /// Delete a role (detach and delete its policies first).
    Delete {
        /// Role name.
        name: String,
    },
    /// Replace a role's trust policy.
    UpdateTrust {
        /// Role name.
        name: String,
        /// The trust policy (JSON), or - for standard input.
        #[arg(long, value_name = "FILE")]
        trust: PathBuf,
    },
    /// Tag a role.
    Tag {
        /// Role name.
        name: String,
        /// Tags.
        #[arg(required = true, value_name = "KEY=VALUE", value_parser = parse_tag)]
        tags: Vec<api::Tag>,
    },
    /// Remove tags from a role.
    Untag {
        /// Role name.
        name: String,
        /// Tag keys.
        #[arg(required = true)]
        keys: Vec<String>,
    },
    /// Put (create or replace) an inline policy on a role.
    PutPolicy {
        /// Role name.
        name: String,
        /// Inline policy name.
        policy: String,
        /// The policy document (JSON), or - for standard input.
        #[arg(long)]
        document: PathBuf,
    },
    /// Show an inline policy of a role.
    GetPolicy {
        /// Role name.
        name: String,
        /// Inline policy name.
        policy: String,
    },
    /// Delete an inline policy of a role.
    DeletePolicy {
        /// Role name.
        name: String,
        /// Inline policy name.
        policy: String,
    },
    /// List a role's inline policies.
    ListPolicies {
        /// Role name.
        name: String,
    },
    /// Attach a managed policy to a role.
    AttachPolicy {
        /// Role name.
        name: String,
        /// Managed policy name or ARN.
        policy: String,
    },
    /// Detach a managed policy from a role.
    DetachPolicy {
        /// Role name.
        name: String,
        /// Managed policy name or ARN.
        policy: String,
    },
    /// List the managed policies attached to a role.
    ListAttached {
        /// Role name.
        name: String,
    },
    /// Set a role's permissions boundary.
    PutBoundary {
        /// Role name.
        name: String,
        /// Managed policy name or ARN.
        policy: String,
    },
    /// Remove a role's permissions boundary.
    DeleteBoundary {
        /// Role name.
        name: String,
    },
    /// Refuse every session of the role issued until now (an inline deny
    /// on ward:TokenIssueTime, AWSRevokeOlderSessions).
    RevokeSessions {
        /// Role name.
        name: String,
    },
}

#[derive(Args, Debug)]
pub(crate) struct AssumeRoleArgs {
    /// The role: its name or ARN.
    role: String,
    /// The session name (2–64 of letters, digits and _+=,.@-).
    #[arg(long)]
    session: String,
    /// Lifetime, seconds (900 up to the role's maximum; default 3600).
    #[arg(long)]
    duration: Option<i64>,
    /// A session policy (JSON file, or - for standard input).
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// A managed session policy (name or ARN; repeatable, up to 10).
    #[arg(long = "policy-arn", value_name = "ARN")]
    policy_arns: Vec<String>,
    /// The external id the trust policy asks for.
    #[arg(long)]
    external_id: Option<String>,
    /// A session tag (repeatable).
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = parse_tag)]
    tags: Vec<api::Tag>,
    /// A session tag key that passes on to sessions this one assumes.
    #[arg(long = "transitive-tag-key", value_name = "KEY")]
    transitive_tag_keys: Vec<String>,
    /// The source identity.
    #[arg(long)]
    source_identity: Option<String>,
    /// Store the session as this profile instead of printing exports.
    #[arg(long, value_name = "PROFILE")]
    profile_out: Option<String>,
    /// Your MFA device's serial (`arn:ward:iam::ACCT:mfa/NAME`); its code
    /// is the global --mfa-code, or asked for when not given.
    #[arg(long, value_name = "ARN")]
    mfa_serial: Option<String>,
}

fn role_fields(r: &api::Role) -> String {
    fields(&[
        ("Name", r.name.clone()),
        ("RoleId", r.role_id.clone()),
        ("Arn", r.arn.clone()),
        ("Path", r.path.clone()),
        ("Description", r.description.clone()),
        ("Created", r.created.clone()),
        ("MaxSessionDuration", r.max_session_duration.to_string()),
        ("Tags", tags_text(&r.tags)),
        (
            "PermissionsBoundary",
            r.permissions_boundary.clone().unwrap_or_default(),
        ),
        ("TrustPolicy", r.assume_role_policy_document.to_string()),
    ])
}

fn trust_body(path: &std::path::Path) -> Result<Box<serde_json::value::RawValue>, Failure> {
    remote::document(path)
}

pub(crate) fn run(cmd: RoleCommand, ctx: &Ctx) -> Done {
    // The policy subcommands are `ward policy … --role NAME`.
    match cmd {
        RoleCommand::PutPolicy {
            name,
            policy,
            document,
        } => {
            return remote::put_inline(
                remote::PutInline {
                    name: policy,
                    target: Target::role(name),
                    document,
                },
                ctx,
            )
        }
        RoleCommand::GetPolicy { name, policy } => {
            return remote::get_inline(
                remote::Inline {
                    name: policy,
                    target: Target::role(name),
                },
                ctx,
            )
        }
        RoleCommand::DeletePolicy { name, policy } => {
            return remote::delete_inline(
                remote::Inline {
                    name: policy,
                    target: Target::role(name),
                },
                ctx,
            )
        }
        RoleCommand::ListPolicies { name } => {
            return remote::list_inline(
                remote::Attached {
                    target: Target::role(name),
                },
                ctx,
            )
        }
        RoleCommand::AttachPolicy { name, policy } => {
            return remote::attach(
                remote::Attachment {
                    name: policy,
                    target: Target::role(name),
                },
                ctx,
                false,
            )
        }
        RoleCommand::DetachPolicy { name, policy } => {
            return remote::attach(
                remote::Attachment {
                    name: policy,
                    target: Target::role(name),
                },
                ctx,
                true,
            )
        }
        RoleCommand::ListAttached { name } => {
            return remote::attached(
                remote::Attached {
                    target: Target::role(name),
                },
                ctx,
            )
        }
        _ => {}
    }
    let api = ctx.api()?;
    match cmd {
        RoleCommand::Create {
            name,
            trust,
            path,
            description,
            max_session_duration,
            tags,
            boundary,
        } => {
            let req = api::CreateRole {
                name,
                path,
                description,
                assume_role_policy_document: trust_body(&trust)?,
                max_session_duration,
                tags,
                permissions_boundary: boundary,
            };
            let v = api.send_for_json(Method::Post, &["roles"], body(&req)?)?;
            api.show(&v, role_fields)
        }
        RoleCommand::Get { name } => {
            let v = api.get(&["roles", &name], &[])?;
            api.show(&v, role_fields)
        }
        RoleCommand::List { path_prefix } => {
            let q: Vec<(&str, String)> =
                path_prefix.into_iter().map(|p| ("pathPrefix", p)).collect();
            let v = api.list(&["roles"], &q, "roles", ("marker", "marker"), true)?;
            api.show(&v, |l: &api::RoleList| {
                let rows: Vec<Vec<String>> = l
                    .roles
                    .iter()
                    .map(|r| {
                        vec![
                            r.name.clone(),
                            r.role_id.clone(),
                            r.path.clone(),
                            r.max_session_duration.to_string(),
                            r.created.clone(),
                        ]
                    })
                    .collect();
                table(
                    &["name", "role-id", "path", "max-session", "created"],
                    &rows,
                )
            })
        }
        RoleCommand::Update {
            name,
            description,
            max_session_duration,
        } => {
            if description.is_none() && max_session_duration.is_none() {
                return Err(Failure::usage(
                    "nothing to change: give --description or --max-session-duration",
                ));
            }
            let req = api::UpdateRole {
                description,
                max_session_duration,
            };
            let v = api.send_for_json(Method::Patch, &["roles", &name], body(&req)?)?;
            api.show(&v, role_fields)
        }
        RoleCommand::Delete { name } => {
            let v = api.send(Method::Delete, &["roles", &name], &[], None)?;
            api.done(v, format!("deleted role {name}"))
        }
        RoleCommand::UpdateTrust { name, trust } => {
            let req = api::UpdateAssumeRolePolicy {
                document: trust_body(&trust)?,
            };
            let v = api.send(
                Method::Put,
                &["roles", &name, "trust-policy"],
                &[],
                body(&req)?,
            )?;
            api.done(v, format!("replaced the trust policy of role {name}"))
        }
        RoleCommand::Tag { name, tags } => {
            let req = api::TagRequest { tags };
            let v = api.send_for_json(Method::Post, &["roles", &name, "tags"], body(&req)?)?;
            api.show(&v, role_fields)
        }
        RoleCommand::Untag { name, keys } => {
            let keys = keys.join(",");
            let v = api
                .send(
                    Method::Delete,
                    &["roles", &name, "tags"],
                    &[("keys", &keys)],
                    None,
                )?
                .ok_or_else(|| Failure::Unexpected("UntagRole answered with no role".into()))?;
            api.show(&v, role_fields)
        }
        RoleCommand::PutBoundary { name, policy } => {
            let req = api::SetBoundary { policy };
            let v = api.send(
                Method::Put,
                &["roles", &name, "permissions-boundary"],
                &[],
                body(&req)?,
            )?;
            api.done(v, format!("set the permissions boundary of role {name}"))
        }
        RoleCommand::DeleteBoundary { name } => {
            let v = api.send(
                Method::Delete,
                &["roles", &name, "permissions-boundary"],
                &[],
                None,
            )?;
            api.done(
                v,
                format!("removed the permissions boundary of role {name}"),
            )
        }
        RoleCommand::RevokeSessions { name } => {
            let v = api.send_for_json(Method::Post, &["roles", &name, "revoke-sessions"], None)?;
            api.show(&v, |r: &api::RevokedRoleSessions| {
                format!(
                    "sessions of role {name} issued before {} are refused (inline policy {})\n",
                    output::clean(&r.revoked_before),
                    r.policy_name
                )
            })
        }
        // Handled above.
        RoleCommand::PutPolicy { .. }
        | RoleCommand::GetPolicy { .. }
        | RoleCommand::DeletePolicy { .. }
        | RoleCommand::ListPolicies { .. }
        | RoleCommand::AttachPolicy { .. }
        | RoleCommand::DetachPolicy { .. }
        | RoleCommand::ListAttached { .. } => Ok(ExitCode::SUCCESS),
    }
}

/// Calls AssumeRole with `client`'s credentials.
fn call_assume(
    client: &Client,
    req: &api::AssumeRoleRequest,
) -> Result<api::AssumeRoleResponse, Failure> {
    let v = client
        .call(Method::Post, &["sts", "assume-role"], &[], body(req)?)?
        .ok_or_else(|| {
            Failure::Unexpected("the server answered AssumeRole with no credentials".into())
        })?;
    typed(&v)
}

fn session_credentials(r: &api::AssumeRoleResponse) -> Credentials {
    Credentials {
        access_key_id: r.credentials.access_key_id.clone(),
        secret_access_key: Secret::new(r.credentials.secret_access_key.clone()),
        session_token: Some(Secret::new(r.credentials.session_token.clone())),
    }
}

/// A role profile's settings with the role assumed: `source_profile`'s
/// credentials (themselves possibly a role profile's, up to
/// [`MAX_SOURCE_HOPS`] hops) call AssumeRole. Other settings pass through.
pub(crate) fn assume_profile(
    flags: &Flags,
    env: &Env,
    mut s: Settings,
    hops: usize,
) -> Result<Settings, Failure> {
    let Some(a) = s.assume.clone() else {
        return Ok(s);
    };
    if s.credentials.is_some() {
        return Ok(s);
    }
    if hops >= MAX_SOURCE_HOPS {
        return Err(Failure::usage(format!(
            "profile {}: more than {MAX_SOURCE_HOPS} source_profile hops (a loop?)",
            s.profile
        )));
    }
    let source_flags = Flags {
        profile: Some(a.source_profile.clone()),
        ..flags.clone()
    };
    let source = config::resolve(&source_flags, env, config::Need::Signed)?;
    // An MFA profile's session from the cache (one code, many commands),
    // while it is good for more than the refresh margin.
    let cache_file = a
        .mfa_serial
        .as_ref()
        .and_then(|_| cache::entry(env, &s.profile, &a));
    if let Some(hit) = cache_file.as_deref().and_then(cache::load) {
        if s.endpoint.is_none() {
            s.endpoint = source.endpoint.clone();
        }
        if s.ca_bundle.is_none() {
            s.ca_bundle = source.ca_bundle.clone();
        }
        if s.endpoint.is_some() {
            s.credentials = Some(hit.credentials);
            s.expiration = Some(hit.expiration);
            return Ok(s);
        }
    }
    let source = assume_profile(&source_flags, env, source, hops + 1)?;
    let client = Client::authenticated(&source)?;
    let req = api::AssumeRoleRequest {
        role_arn: a.role_arn.clone(),
        role_session_name: a.session_name.clone(),
        duration_seconds: a.duration_seconds,
        policy: None,
        policy_arns: Vec::new(),
        tags: Vec::new(),
        transitive_tag_keys: Vec::new(),
        external_id: a.external_id.clone(),
        source_identity: None,
        serial_number: None,
        token_code: None,
    };
    let req = match &a.mfa_serial {
        Some(serial) => api::AssumeRoleRequest {
            serial_number: Some(serial.clone()),
            token_code: Some(profile_mfa_code(flags, env, &s.profile)?),
            ..req
        },
        None => req,
    };
    let r = call_assume(&client, &req)?;
    let creds = session_credentials(&r);
    if let Some(path) = &cache_file {
        // A cache that cannot be written costs a code next time, nothing
        // else: say so and go on.
        if let Err(e) = cache::store(path, &creds, &r.credentials.expiration) {
            eprintln!("ward: the credential cache was not written: {e}");
        }
    }
    s.credentials = Some(creds);
    s.expiration = Some(r.credentials.expiration);
    if s.endpoint.is_none() {
        s.endpoint = source.endpoint;
    }
    if s.ca_bundle.is_none() {
        s.ca_bundle = source.ca_bundle;
    }
    Ok(s)
}

/// The MFA code for `ward assume-role --mfa-serial`: `--mfa-code`,
/// `WARD_MFA_CODE`, or asked for.
fn mfa_code(ctx: &Ctx) -> Result<String, Failure> {
    if let Some(c) = &ctx.flags.mfa_code {
        return Ok(c.clone());
    }
    if let Some(c) = ctx.env.get("WARD_MFA_CODE") {
        return Ok(c.to_owned());
    }
    crate::mfa::prompt_code()
}

/// The MFA code for a role profile with `mfa_serial`, as the AWS CLI asks
/// for it: `--mfa-code`, `WARD_MFA_CODE`, or typed at a terminal prompt.
/// Without a terminal and without either, a usage error (standard input
/// may be the command's own data).
fn profile_mfa_code(flags: &Flags, env: &Env, profile: &str) -> Result<String, Failure> {
    if let Some(c) = &flags.mfa_code {
        return Ok(c.clone());
    }
    if let Some(c) = env.get("WARD_MFA_CODE") {
        return Ok(c.to_owned());
    }
    if std::io::stdin().is_terminal() {
        eprintln!("profile {profile} assumes its role with MFA");
        return crate::mfa::prompt_code();
    }
    Err(Failure::usage(format!(
        "profile {profile} has mfa_serial: give the code with --mfa-code or WARD_MFA_CODE"
    )))
}

/// Single-quotes a value for POSIX shells.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// `ward assume-role`.
pub(crate) fn assume_role(a: AssumeRoleArgs, ctx: &Ctx) -> Done {
    if let Some(p) = &a.profile_out {
        config::check_profile_name(p)?;
    }
    let settings = ctx.signed_settings()?;
    let profile_mfa = settings
        .assume
        .as_ref()
        .is_some_and(|p| p.mfa_serial.is_some());
    if a.mfa_serial.is_none() && ctx.flags.mfa_code.is_some() && !profile_mfa {
        return Err(Failure::usage(
            "--mfa-code goes with --mfa-serial (or a role profile with mfa_serial)",
        ));
    }
    let client = Client::authenticated(&settings)?;
    let policy = match &a.policy {
        Some(p) => Some(remote::document(p)?),
        None => None,
    };
    let req = api::AssumeRoleRequest {
        role_arn: a.role.clone(),
        role_session_name: a.session.clone(),
        duration_seconds: a.duration,
        policy,
        policy_arns: a.policy_arns.clone(),
        tags: a.tags.clone(),
        transitive_tag_keys: a.transitive_tag_keys.clone(),
        external_id: a.external_id.clone(),
        source_identity: a.source_identity.clone(),
        token_code: match &a.mfa_serial {
            Some(_) => Some(mfa_code(ctx)?),
            None => None,
        },
        serial_number: a.mfa_serial.clone(),
    };
    let r = call_assume(&client, &req)?;
    let creds = session_credentials(&r);
    if let Some(p) = &a.profile_out {
        let path = config::store_credentials(&ctx.env, p, &creds)?;
        config::store_settings(&ctx.env, p, &config::remembered_settings(&settings))?;
        match settings.output {
            OutputFormat::Json => output::print(&output::json(&json!({
                "profile": p,
                "assumedRoleUser": r.assumed_role_user,
                "accessKeyId": creds.access_key_id,
                "expiration": r.credentials.expiration,
                "credentialsFile": path.display().to_string(),
            }))),
            OutputFormat::Table => output::print(&format!(
                "assumed {}: temporary credentials {} stored in profile {p} of {}\n\
                 they expire at {}\n",
                r.assumed_role_user.arn,
                creds.access_key_id,
                path.display(),
                output::clean(&r.credentials.expiration)
            )),
        }
        return Ok(ExitCode::SUCCESS);
    }
    match settings.output {
        OutputFormat::Json => {
            output::print(&output::json(&serde_json::to_value(&r).map_err(|e| {
                Failure::Unexpected(format!("encoding the answer: {e}"))
            })?))
        }
        OutputFormat::Table => output::print(&format!(
            "export WARD_ACCESS_KEY_ID={}\nexport WARD_SECRET_ACCESS_KEY={}\n\
             export WARD_SESSION_TOKEN={}\n# {} until {}\n",
            shell_quote(&creds.access_key_id),
            shell_quote(creds.secret_access_key.expose()),
            shell_quote(
                creds
                    .session_token
                    .as_ref()
                    .map(Secret::expose)
                    .unwrap_or_default()
            ),
            output::clean(&r.assumed_role_user.arn),
            output::clean(&r.credentials.expiration)
        )),
    }
    Ok(ExitCode::SUCCESS)
}

/// `ward credential-process`: the AWS `credential_process` JSON of the
/// profile's credentials (a role profile's are assumed first). Long-term
/// keys carry no `SessionToken`/`Expiration`, as the format allows.
pub(crate) fn credential_process(ctx: &Ctx) -> Done {
    let s = ctx.signed_settings()?;
    let c = s.credentials.as_ref().ok_or_else(|| {
        Failure::usage(format!(
            "no access key for profile {}: credential-process needs access key credentials",
            s.profile
        ))
    })?;
    let mut out = json!({
        "Version": 1,
        "AccessKeyId": c.access_key_id,
        "SecretAccessKey": c.secret_access_key.expose(),
    });
    if let Some(t) = &c.session_token {
        out["SessionToken"] = json!(t.expose());
    }
    if let Some(e) = &s.expiration {
        out["Expiration"] = json!(e);
    }
    output::print(&format!("{out}\n"));
    Ok(ExitCode::SUCCESS)
}
