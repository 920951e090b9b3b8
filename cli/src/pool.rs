//! Identity pools on the command line (issue #14 item 4):
//!
//! - `ward pool create|get|list|update|delete|tag|untag|tags` manage
//!   pools and their tags (signed);
//! - `ward pool get-id POOL [--guest]` gets an identity: with `--guest`
//!   the request carries no signature at all (a guest's), otherwise it is
//!   the signed-in user's identity in the pool;
//! - `ward pool credentials IDENTITY [--guest] [--profile-out P]` gets the
//!   identity's temporary credentials (the pool's unauthenticated role
//!   narrowed by its guest policy, or its authenticated role) and prints
//!   shell exports, or stores them as profile `P`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;
use ward_protocol::api::{Tag, TagRequest};
use ward_protocol::pools as api;

use crate::client::{Client, Method};
use crate::config::{self, Credentials, Need, OutputFormat, Secret};
use crate::ctx::{body, typed, Ctx, Done};
use crate::error::Failure;
use crate::iam::{parse_tag, tags_text};
use crate::output::{self, fields, table};
use crate::policy::remote;

#[derive(Subcommand, Debug)]
pub(crate) enum PoolCommand {
    /// Create an identity pool.
    Create {
        /// Pool name.
        name: String,
        /// Let guests (callers with no credentials) in.
        #[arg(long)]
        allow_guests: bool,
        /// The role guests assume (ARN).
        #[arg(long, value_name = "ARN")]
        guest_role: Option<String>,
        /// The role signed-in users assume (ARN).
        #[arg(long, value_name = "ARN")]
        user_role: Option<String>,
        /// The fixed session policy every guest session is narrowed by
        /// (JSON file, or - for standard input).
        #[arg(long, value_name = "FILE")]
        guest_policy: Option<PathBuf>,
        /// A tag (repeatable).
        #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = parse_tag)]
        tags: Vec<Tag>,
    },
    /// Tag a pool.
    Tag {
        /// Pool id.
        id: String,
        /// Tags.
        #[arg(required = true, value_name = "KEY=VALUE", value_parser = parse_tag)]
        tags: Vec<Tag>,
    },
    /// Remove tags from a pool.
    Untag {
        /// Pool id.
        id: String,
        /// Tag keys.
        #[arg(required = true)]
        keys: Vec<String>,
    },
    /// List a pool's tags.
    Tags {
        /// Pool id.
        id: String,
    },
    /// Show a pool.
    Get {
        /// Pool id (REGION:UUID).
        id: String,
    },
    /// List pools.
    List,
    /// Change a pool.
    Update {
        /// Pool id.
        id: String,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        /// Let guests in (true) or not (false).
        #[arg(long, value_name = "true|false")]
        allow_guests: Option<bool>,
        /// New guest role (ARN; "" removes it).
        #[arg(long, value_name = "ARN")]
        guest_role: Option<String>,
        /// New role for signed-in users (ARN; "" removes it).
        #[arg(long, value_name = "ARN")]
        user_role: Option<String>,
        /// New guest session policy (JSON file, or -).
        #[arg(long, value_name = "FILE")]
        guest_policy: Option<PathBuf>,
    },
    /// Delete a pool: its identities are refused and its sessions end.
    Delete {
        /// Pool id.
        id: String,
    },
    /// Get an identity in a pool (GetId).
    GetId {
        /// Pool id.
        pool: String,
        /// As a guest: send no credentials.
        #[arg(long)]
        guest: bool,
    },
    /// Get an identity's temporary credentials (GetCredentialsForIdentity).
    Credentials {
        /// Identity id (from get-id).
        identity: String,
        /// As a guest: send no credentials.
        #[arg(long)]
        guest: bool,
        /// Store the credentials as this profile instead of printing exports.
        #[arg(long, value_name = "PROFILE")]
        profile_out: Option<String>,
    },
}

fn pool_fields(p: &api::IdentityPool) -> String {
    fields(&[
        ("IdentityPoolId", p.identity_pool_id.clone()),
        ("Name", p.identity_pool_name.clone()),
        ("Arn", p.arn.clone()),
        (
            "AllowGuests",
            p.allow_unauthenticated_identities.to_string(),
        ),
        (
            "GuestRole",
            p.unauthenticated_role_arn
                .clone()
                .or_else(|| p.unauthenticated_role_id.clone())
                .unwrap_or_default(),
        ),
        (
            "UserRole",
            p.authenticated_role_arn
                .clone()
                .or_else(|| p.authenticated_role_id.clone())
                .unwrap_or_default(),
        ),
        (
            "GuestPolicy",
            p.guest_session_policy
                .as_ref()
                .map(|v| v.to_string())
                .unwrap_or_default(),
        ),
        ("Tags", tags_text(&p.tags)),
        ("Created", p.created.clone()),
    ])
}

/// A client that signs (the profile's credentials) or, for a guest, one
/// that sends none.
fn client(ctx: &Ctx, guest: bool) -> Result<(Client, config::Settings), Failure> {
    if guest {
        let s = ctx.settings(Need::Login)?;
        Ok((Client::anonymous(&s)?, s))
    } else {
        let s = ctx.signed_settings()?;
        Ok((Client::authenticated(&s)?, s))
    }
}

fn answer(v: Option<serde_json::Value>, what: &str) -> Result<serde_json::Value, Failure> {
    v.ok_or_else(|| Failure::Unexpected(format!("the server answered {what} with no body")))
}

/// Single-quotes a value for POSIX shells.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

pub(crate) fn run(cmd: PoolCommand, ctx: &Ctx) -> Done {
    match cmd {
        PoolCommand::GetId { pool, guest } => {
            let (c, s) = client(ctx, guest)?;
            let path: &[&str] = if guest {
                &["identity", "guest", "id"]
            } else {
                &["identity", "id"]
            };
            let req = api::GetIdRequest {
                identity_pool_id: pool,
            };
            let v = answer(c.call(Method::Post, path, &[], body(&req)?)?, "GetId")?;
            let r: api::GetIdResponse = typed(&v)?;
            match s.output {
                OutputFormat::Json => output::print(&output::json(&v)),
                OutputFormat::Table => output::print(&format!("{}\n", r.identity_id)),
            }
            return Ok(ExitCode::SUCCESS);
        }
        PoolCommand::Credentials {
            identity,
            guest,
            profile_out,
        } => return credentials(ctx, identity, guest, profile_out),
        _ => {}
    }
    let api = ctx.api()?;
    let policy = |p: &Option<PathBuf>| -> Result<_, Failure> {
        match p {
            Some(p) => Ok(Some(remote::document(p)?)),
            None => Ok(None),
        }
    };
    match cmd {
        PoolCommand::Create {
            name,
            allow_guests,
            guest_role,
            user_role,
            guest_policy,
            tags,
        } => {
            let req = api::CreateIdentityPool {
                identity_pool_name: name,
                allow_unauthenticated_identities: allow_guests,
                unauthenticated_role_arn: guest_role,
                authenticated_role_arn: user_role,
                guest_session_policy: policy(&guest_policy)?,
                tags,
            };
            let v = api.send_for_json(Method::Post, &["identity-pools"], body(&req)?)?;
            api.show(&v, pool_fields)
        }
        PoolCommand::Get { id } => {
            let v = api.get(&["identity-pools", &id], &[])?;
            api.show(&v, pool_fields)
        }
        PoolCommand::List => {
            let v = api.list(
                &["identity-pools"],
                &[],
                "identityPools",
                ("nextToken", "nextToken"),
                true,
            )?;
            api.show(&v, |l: &api::IdentityPoolList| {
                let rows: Vec<Vec<String>> = l
                    .identity_pools
                    .iter()
                    .map(|p| {
                        vec![
                            p.identity_pool_id.clone(),
                            p.identity_pool_name.clone(),
                            p.allow_unauthenticated_identities.to_string(),
                            p.created.clone(),
                        ]
                    })
                    .collect();
                table(&["id", "name", "guests", "created"], &rows)
            })
        }
        PoolCommand::Update {
            id,
            name,
            allow_guests,
            guest_role,
            user_role,
            guest_policy,
        } => {
            let req = api::UpdateIdentityPool {
                identity_pool_name: name,
                allow_unauthenticated_identities: allow_guests,
                unauthenticated_role_arn: guest_role,
                authenticated_role_arn: user_role,
                guest_session_policy: policy(&guest_policy)?,
            };
            let v = api.send_for_json(Method::Patch, &["identity-pools", &id], body(&req)?)?;
            api.show(&v, pool_fields)
        }
        PoolCommand::Delete { id } => {
            let v = api.send(Method::Delete, &["identity-pools", &id], &[], None)?;
            api.done(v, format!("deleted identity pool {id}"))
        }
        PoolCommand::Tag { id, tags } => {
            let req = TagRequest { tags };
            let v =
                api.send_for_json(Method::Post, &["identity-pools", &id, "tags"], body(&req)?)?;
            api.show(&v, |t: &api::PoolTags| format!("{}\n", tags_text(&t.tags)))
        }
        PoolCommand::Untag { id, keys } => {
            let keys = keys.join(",");
            let v = api
                .send(
                    Method::Delete,
                    &["identity-pools", &id, "tags"],
                    &[("keys", &keys)],
                    None,
                )?
                .ok_or_else(|| Failure::Unexpected("UntagResource answered with no tags".into()))?;
            api.show(&v, |t: &api::PoolTags| format!("{}\n", tags_text(&t.tags)))
        }
        PoolCommand::Tags { id } => {
            let v = api.get(&["identity-pools", &id, "tags"], &[])?;
            api.show(&v, |t: &api::PoolTags| format!("{}\n", tags_text(&t.tags)))
        }
        PoolCommand::GetId { .. } | PoolCommand::Credentials { .. } => Ok(ExitCode::SUCCESS),
    }
}

/// `ward pool credentials`.
fn credentials(ctx: &Ctx, identity: String, guest: bool, profile_out: Option<String>) -> Done {
    if let Some(p) = &profile_out {
        config::check_profile_name(p)?;
    }
    let (c, settings) = client(ctx, guest)?;
    let path: &[&str] = if guest {
        &["identity", "guest", "credentials"]
    } else {
        &["identity", "credentials"]
    };
    let req = api::GetCredentialsRequest {
        identity_id: identity,
    };
    let v = answer(
        c.call(Method::Post, path, &[], body(&req)?)?,
        "GetCredentialsForIdentity",
    )?;
    let r: api::GetCredentialsResponse = typed(&v)?;
    let creds = Credentials {
        access_key_id: r.credentials.access_key_id.clone(),
        secret_access_key: Secret::new(r.credentials.secret_key.clone()),
        session_token: Some(Secret::new(r.credentials.session_token.clone())),
    };
    if let Some(p) = &profile_out {
        let file = config::store_credentials(&ctx.env, p, &creds)?;
        config::store_settings(&ctx.env, p, &config::remembered_settings(&settings))?;
        match settings.output {
            OutputFormat::Json => output::print(&output::json(&json!({
                "profile": p,
                "identityId": r.identity_id,
                "assumedRoleArn": r.assumed_role_arn,
                "accessKeyId": creds.access_key_id,
                "expiration": r.credentials.expiration,
                "credentialsFile": file.display().to_string(),
            }))),
            OutputFormat::Table => output::print(&format!(
                "{}: temporary credentials {} stored in profile {p} of {}\n\
                 they expire at {}\n",
                output::clean(&r.assumed_role_arn),
                creds.access_key_id,
                file.display(),
                output::clean(&r.credentials.expiration)
            )),
        }
        return Ok(ExitCode::SUCCESS);
    }
    match settings.output {
        OutputFormat::Json => output::print(&output::json(&v)),
        OutputFormat::Table => output::print(&format!(
            "export WARD_ACCESS_KEY_ID={}\nexport WARD_SECRET_ACCESS_KEY={}\n\
             export WARD_SESSION_TOKEN={}\n# {} until {}\n",
            shell_quote(&creds.access_key_id),
            shell_quote(creds.secret_access_key.expose()),
            shell_quote(r.credentials.session_token.as_str()),
            output::clean(&r.assumed_role_arn),
            output::clean(&r.credentials.expiration)
        )),
    }
    Ok(ExitCode::SUCCESS)
}
