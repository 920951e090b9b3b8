//! `ward user …`, `ward group …` and `ward access-key …`: one subcommand
//! per route of ward-ca's API (route table in `ward_protocol::api`).

use std::io::{IsTerminal, Read};
use std::process::ExitCode;

use clap::{ArgGroup, Subcommand, ValueEnum};
use ward_protocol::api;

use crate::client::Method;
use crate::config::{self, Credentials, Need, OutputFormat, Secret};
use crate::ctx::{body, more_hint, typed, Api, Ctx, Done};
use crate::error::Failure;
use crate::output::{self, fields, table};

/// Longest password read from standard input.
const MAX_PASSWORD: u64 = 4096;

#[derive(Subcommand, Debug)]
pub(crate) enum UserCommand {
    /// Create a user.
    Create {
        /// User name: 1–64 of letters, digits and +=,.@_-.
        name: String,
        /// Path, e.g. /engineering/ (default /).
        #[arg(long)]
        path: Option<String>,
        /// A tag, KEY=VALUE; repeat for more.
        #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = parse_tag)]
        tags: Vec<api::Tag>,
        /// Managed policy (name or ARN) to set as the permissions boundary.
        #[arg(long, value_name = "POLICY")]
        permissions_boundary: Option<String>,
    },
    /// Show a user.
    Get {
        /// User name.
        name: String,
    },
    /// List users.
    List {
        /// Only users whose path starts with this (e.g. /engineering/).
        #[arg(long)]
        path_prefix: Option<String>,
        /// Users per request (1–1000; the server's default is 100).
        #[arg(long)]
        max_items: Option<u32>,
        /// Continue from a previous page's marker.
        #[arg(long)]
        marker: Option<String>,
        /// Fetch every page.
        #[arg(long)]
        all: bool,
    },
    /// Rename or move a user, or set its POSIX shell, home or gecos.
    #[command(group(ArgGroup::new("change").required(true).multiple(true)
        .args(["new_name", "new_path", "shell", "home", "gecos"])))]
    Update {
        /// User name.
        name: String,
        /// The new name.
        #[arg(long)]
        new_name: Option<String>,
        /// The new path.
        #[arg(long)]
        new_path: Option<String>,
        /// Login shell, an absolute path ("" = the server's default).
        #[arg(long)]
        shell: Option<String>,
        /// Home directory, an absolute path ("" = the server's template).
        #[arg(long)]
        home: Option<String>,
        /// GECOS field (full name etc.; no ':').
        #[arg(long)]
        gecos: Option<String>,
    },
    /// Disable a user: every access key, session, certificate and the
    /// password stop working at once; nothing is deleted.
    Disable {
        /// User name.
        name: String,
    },
    /// Enable a disabled user again.
    Enable {
        /// User name.
        name: String,
    },
    /// Delete a user.
    Delete {
        /// User name.
        name: String,
    },
    /// Set tags on a user.
    Tag {
        /// User name.
        name: String,
        /// Tags, KEY=VALUE.
        #[arg(required = true, value_name = "KEY=VALUE", value_parser = parse_tag)]
        tags: Vec<api::Tag>,
    },
    /// Remove tags from a user.
    Untag {
        /// User name.
        name: String,
        /// Tag keys.
        #[arg(required = true, value_name = "KEY")]
        keys: Vec<String>,
    },
    /// List the groups a user is in.
    Groups {
        /// User name.
        name: String,
    },
    /// Set (or change) a user's password.
    SetPassword {
        /// User name.
        name: String,
        /// Read the password from standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
        /// The user must change the password at the next login.
        #[arg(long)]
        reset_required: bool,
    },
    /// Remove a user's password.
    DeletePassword {
        /// User name.
        name: String,
    },
    /// Set a managed policy as the user's permissions boundary.
    SetBoundary {
        /// User name.
        name: String,
        /// Managed policy name or ARN.
        policy: String,
    },
    /// Remove a user's permissions boundary.
    DeleteBoundary {
        /// User name.
        name: String,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum GroupCommand {
    /// Create a group.
    Create {
        /// Group name: 1–128 of letters, digits and +=,.@_-.
        name: String,
        /// Path (default /).
        #[arg(long)]
        path: Option<String>,
    },
    /// Show a group and its members.
    Get {
        /// Group name.
        name: String,
    },
    /// List groups.
    List {
        /// Only groups whose path starts with this.
        #[arg(long)]
        path_prefix: Option<String>,
        /// Groups per request (1–1000).
        #[arg(long)]
        max_items: Option<u32>,
        /// Continue from a previous page's marker.
        #[arg(long)]
        marker: Option<String>,
        /// Fetch every page.
        #[arg(long)]
        all: bool,
    },
    /// Delete a group.
    Delete {
        /// Group name.
        name: String,
    },
    /// Add a user to a group.
    AddUser {
        /// Group name.
        group: String,
        /// User name.
        user: String,
    },
    /// Remove a user from a group.
    RemoveUser {
        /// Group name.
        group: String,
        /// User name.
        user: String,
    },
}

/// Access key status.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum KeyStatus {
    /// Usable.
    #[value(name = "Active")]
    Active,
    /// Refused until made active again.
    #[value(name = "Inactive")]
    Inactive,
}

impl KeyStatus {
    /// The API's spelling.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "Active",
            KeyStatus::Inactive => "Inactive",
        }
    }
}

#[derive(Subcommand, Debug)]
pub(crate) enum AccessKeyCommand {
    /// Create an access key; the secret is shown once (or, with
    /// --save-profile, stored in a profile and not shown).
    Create {
        /// User name.
        user: String,
        /// Store the new key as profile PROFILE in ~/.ward/credentials,
        /// with this endpoint, CA bundle and region in ~/.ward/config, so
        /// that `ward --profile PROFILE …` acts as the user (as `aws
        /// configure --profile` would). The secret is then not printed.
        #[arg(long, value_name = "PROFILE")]
        save_profile: Option<String>,
    },
    /// List a user's access keys.
    List {
        /// User name.
        user: String,
    },
    /// Make an access key Active or Inactive.
    Update {
        /// User name.
        user: String,
        /// Access key id (AKIA…).
        key_id: String,
        /// The new status.
        #[arg(long, value_enum, ignore_case = true)]
        status: KeyStatus,
    },
    /// Delete an access key.
    Delete {
        /// User name.
        user: String,
        /// Access key id (AKIA…).
        key_id: String,
    },
}

/// `KEY=VALUE` → a tag (the value may be empty).
pub(crate) fn parse_tag(s: &str) -> Result<api::Tag, String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok(api::Tag {
            key: k.to_owned(),
            value: v.to_owned(),
        }),
        _ => Err(format!("{s:?} is not KEY=VALUE")),
    }
}

pub(crate) fn tags_text(tags: &[api::Tag]) -> String {
    tags.iter()
        .map(|t| format!("{}={}", t.key, t.value))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn user_fields(u: &api::User) -> String {
    fields(&[
        ("Name", u.name.clone()),
        ("UserId", u.user_id.clone()),
        ("Arn", u.arn.clone()),
        ("Path", u.path.clone()),
        ("Uid", u.uid.to_string()),
        ("Created", u.created.clone()),
        ("Tags", tags_text(&u.tags)),
        (
            "PermissionsBoundary",
            u.permissions_boundary.clone().unwrap_or_default(),
        ),
        (
            "Disabled",
            match &u.disabled_at {
                Some(at) if u.disabled => format!("yes (since {at})"),
                _ if u.disabled => "yes".into(),
                _ => "no".into(),
            },
        ),
        (
            "Posix",
            match &u.posix {
                Some(p) => format!(
                    "uid={} gid={} home={} shell={} gecos={:?}",
                    p.uid, p.gid, p.home, p.shell, p.gecos
                ),
                None => "none".into(),
            },
        ),
        ("Warnings", u.warnings.join("; ")),
    ])
}

fn users_table(l: &api::UserList) -> String {
    let rows: Vec<Vec<String>> = l
        .users
        .iter()
        .map(|u| {
            vec![
                u.name.clone(),
                u.uid.to_string(),
                u.path.clone(),
                u.user_id.clone(),
                u.created.clone(),
            ]
        })
        .collect();
    table(&["name", "uid", "path", "user-id", "created"], &rows)
}

fn groups_table(l: &api::GroupList) -> String {
    let rows: Vec<Vec<String>> = l
        .groups
        .iter()
        .map(|g| {
            vec![
                g.name.clone(),
                g.gid.to_string(),
                g.path.clone(),
                g.group_id.clone(),
                g.created.clone(),
            ]
        })
        .collect();
    table(&["name", "gid", "path", "group-id", "created"], &rows)
}

fn group_fields(g: &api::GroupDetail) -> String {
    fields(&[
        ("Name", g.group.name.clone()),
        ("GroupId", g.group.group_id.clone()),
        ("Arn", g.group.arn.clone()),
        ("Path", g.group.path.clone()),
        ("Gid", g.group.gid.to_string()),
        ("Created", g.group.created.clone()),
        ("Users", g.users.join(", ")),
    ])
}

fn list_query(
    path_prefix: Option<String>,
    max_items: Option<u32>,
    marker: Option<String>,
) -> Vec<(&'static str, String)> {
    let mut q = Vec::new();
    if let Some(p) = path_prefix {
        q.push(("pathPrefix", p));
    }
    if let Some(m) = max_items {
        q.push(("maxItems", m.to_string()));
    }
    if let Some(m) = marker {
        q.push(("marker", m));
    }
    q
}

/// Reads a password: prompted twice without echo on a terminal, or one
/// line of standard input with `--password-stdin`.
fn new_password(name: &str, from_stdin: bool) -> Result<String, Failure> {
    if from_stdin {
        return read_stdin_secret(MAX_PASSWORD, "password");
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::usage(
            "standard input is not a terminal: pass the password with --password-stdin",
        ));
    }
    let first = rpassword::prompt_password(format!("New password for {name}: "))
        .map_err(|e| Failure::usage(format!("reading the password: {e}")))?;
    let again = rpassword::prompt_password("Retype it: ")
        .map_err(|e| Failure::usage(format!("reading the password: {e}")))?;
    if first != again {
        return Err(Failure::usage("the passwords do not match"));
    }
    Ok(first)
}

/// Standard input up to `limit` bytes, without one trailing newline.
pub(crate) fn read_stdin_secret(limit: u64, what: &str) -> Result<String, Failure> {
    let mut buf = Vec::new();
    std::io::stdin()
        .lock()
        .take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Failure::usage(format!("reading the {what}: {e}")))?;
    if buf.len() as u64 > limit {
        return Err(Failure::usage(format!(
            "the {what} on standard input is longer than {limit} bytes"
        )));
    }
    let mut s = String::from_utf8(buf)
        .map_err(|_| Failure::usage(format!("the {what} is not valid UTF-8")))?;
    if s.ends_with('\n') {
        s.pop();
        if s.ends_with('\r') {
            s.pop();
        }
    }
    if s.is_empty() {
        return Err(Failure::usage(format!("no {what} on standard input")));
    }
    Ok(s)
}

pub(crate) fn user(cmd: UserCommand, ctx: &Ctx) -> Done {
    let api = ctx.api()?;
    match cmd {
        UserCommand::Create {
            name,
            path,
            tags,
            permissions_boundary,
        } => {
            let req = api::CreateUser {
                name,
                path,
                tags,
                permissions_boundary,
            };
            let v = api.send_for_json(Method::Post, &["users"], body(&req)?)?;
            api.show(&v, user_fields)
        }
        UserCommand::Get { name } => {
            let v = api.get(&["users", &name], &[])?;
            api.show(&v, user_fields)
        }
        UserCommand::List {
            path_prefix,
            max_items,
            marker,
            all,
        } => {
            let q = list_query(path_prefix, max_items, marker);
            let v = api.list(&["users"], &q, "users", ("marker", "marker"), all)?;
            api.show(&v, users_table)?;
            more_hint(&api, &v, "marker", "--marker");
            Ok(ExitCode::SUCCESS)
        }
        UserCommand::Update {
            name,
            new_name,
            new_path,
            shell,
            home,
            gecos,
        } => {
            let req = api::UpdateUser {
                new_name,
                new_path,
                shell,
                gecos,
                home,
            };
            let v = api.send_for_json(Method::Patch, &["users", &name], body(&req)?)?;
            api.show(&v, user_fields)
        }
        UserCommand::Disable { name } => {
            let v = api.send_for_json(Method::Post, &["users", &name, "disable"], None)?;
            api.show(&v, user_fields)
        }
        UserCommand::Enable { name } => {
            let v = api.send_for_json(Method::Post, &["users", &name, "enable"], None)?;
            api.show(&v, user_fields)
        }
        UserCommand::Delete { name } => {
            let v = api.send(Method::Delete, &["users", &name], &[], None)?;
            api.done(v, format!("deleted user {name}"))
        }
        UserCommand::Tag { name, tags } => {
            let req = api::TagRequest { tags };
            let v = api.send_for_json(Method::Post, &["users", &name, "tags"], body(&req)?)?;
            api.show(&v, user_fields)
        }
        UserCommand::Untag { name, keys } => {
            if let Some(k) = keys.iter().find(|k| k.contains(',') || k.is_empty()) {
                return Err(Failure::usage(format!("{k:?} is not a tag key")));
            }
            let joined = keys.join(",");
            let v = api.send(
                Method::Delete,
                &["users", &name, "tags"],
                &[("keys", &joined)],
                None,
            )?;
            match v {
                Some(v) => api.show(&v, user_fields),
                None => api.done(None, format!("removed tags from user {name}")),
            }
        }
        UserCommand::Groups { name } => {
            let v = api.get(&["users", &name, "groups"], &[])?;
            api.show(&v, groups_table)
        }
        UserCommand::SetPassword {
            name,
            password_stdin,
            reset_required,
        } => {
            let password = new_password(&name, password_stdin)?;
            let req = api::LoginProfile {
                password,
                password_reset_required: reset_required,
            };
            let v = api.send(
                Method::Put,
                &["users", &name, "login-profile"],
                &[],
                body(&req)?,
            )?;
            api.done(v, format!("set the password of user {name}"))
        }
        UserCommand::DeletePassword { name } => {
            let v = api.send(
                Method::Delete,
                &["users", &name, "login-profile"],
                &[],
                None,
            )?;
            api.done(v, format!("deleted the password of user {name}"))
        }
        UserCommand::SetBoundary { name, policy } => {
            let req = api::SetBoundary {
                policy: policy.clone(),
            };
            let v = api.send(
                Method::Put,
                &["users", &name, "permissions-boundary"],
                &[],
                body(&req)?,
            )?;
            api.done(
                v,
                format!("set {policy} as the permissions boundary of user {name}"),
            )
        }
        UserCommand::DeleteBoundary { name } => {
            let v = api.send(
                Method::Delete,
                &["users", &name, "permissions-boundary"],
                &[],
                None,
            )?;
            api.done(
                v,
                format!("removed the permissions boundary of user {name}"),
            )
        }
    }
}

pub(crate) fn group(cmd: GroupCommand, ctx: &Ctx) -> Done {
    let api = ctx.api()?;
    match cmd {
        GroupCommand::Create { name, path } => {
            let req = api::CreateGroup { name, path };
            let v = api.send_for_json(Method::Post, &["groups"], body(&req)?)?;
            api.show(&v, |g: &api::Group| {
                group_fields(&api::GroupDetail {
                    group: g.clone(),
                    users: Vec::new(),
                })
            })
        }
        GroupCommand::Get { name } => {
            let v = api.get(&["groups", &name], &[])?;
            api.show(&v, group_fields)
        }
        GroupCommand::List {
            path_prefix,
            max_items,
            marker,
            all,
        } => {
            let q = list_query(path_prefix, max_items, marker);
            let v = api.list(&["groups"], &q, "groups", ("marker", "marker"), all)?;
            api.show(&v, groups_table)?;
            more_hint(&api, &v, "marker", "--marker");
            Ok(ExitCode::SUCCESS)
        }
        GroupCommand::Delete { name } => {
            let v = api.send(Method::Delete, &["groups", &name], &[], None)?;
            api.done(v, format!("deleted group {name}"))
        }
        GroupCommand::AddUser { group, user } => {
            let v = api.send(Method::Put, &["groups", &group, "users", &user], &[], None)?;
            api.done(v, format!("added user {user} to group {group}"))
        }
        GroupCommand::RemoveUser { group, user } => {
            let v = api.send(
                Method::Delete,
                &["groups", &group, "users", &user],
                &[],
                None,
            )?;
            api.done(v, format!("removed user {user} from group {group}"))
        }
    }
}

/// `ward access-key create USER --save-profile PROFILE`: the new key goes
/// to `~/.ward/credentials` `[PROFILE]`, and where it works (endpoint, CA
/// bundle, region of the current settings) to `~/.ward/config` `[profile
/// PROFILE]`, as `ward login` does; the output names the key and the
/// profile but not the secret.
fn save_key_profile(ctx: &Ctx, api: &Api, v: &serde_json::Value, profile: &str) -> Done {
    let k: api::NewAccessKey = typed(v)?;
    let creds = Credentials {
        access_key_id: k.access_key_id.clone(),
        secret_access_key: Secret::new(k.secret_access_key),
        session_token: None,
    };
    let stored = ctx.settings(Need::Signed).and_then(|settings| {
        let path = config::store_credentials(&ctx.env, profile, &creds)?;
        config::store_settings(&ctx.env, profile, &config::remembered_settings(&settings))?;
        Ok(path)
    });
    let path = match stored {
        Ok(p) => p,
        Err(e) => {
            // The key exists now and its secret cannot be fetched again:
            // show it rather than lose it.
            output::print(&fields(&[
                ("UserName", k.user_name.clone()),
                ("AccessKeyId", k.access_key_id.clone()),
                (
                    "SecretAccessKey",
                    creds.secret_access_key.expose().to_owned(),
                ),
            ]));
            eprintln!("ward: the key was created but could not be stored in profile {profile}; save the secret above now");
            return Err(e);
        }
    };
    match api.output {
        OutputFormat::Json => output::print(&output::json(&serde_json::json!({
            "userName": k.user_name,
            "accessKeyId": k.access_key_id,
            "status": k.status,
            "created": k.created,
            "profile": profile,
            "credentialsFile": path.display().to_string(),
        }))),
        OutputFormat::Table => output::print(&format!(
            "access key {} of user {} stored as profile {profile} in {}\n\
             act as {}: ward --profile {profile} … (or WARD_PROFILE={profile})\n",
            k.access_key_id,
            output::clean(&k.user_name),
            path.display(),
            output::clean(&k.user_name),
        )),
    }
    Ok(ExitCode::SUCCESS)
}

fn keys_table(l: &api::AccessKeyList) -> String {
    let rows: Vec<Vec<String>> = l
        .access_keys
        .iter()
        .map(|k| {
            vec![
                k.access_key_id.clone(),
                k.status.clone(),
                k.created.clone(),
                k.last_used.clone().unwrap_or_else(|| "never".into()),
            ]
        })
        .collect();
    table(&["access-key-id", "status", "created", "last-used"], &rows)
}

pub(crate) fn access_key(cmd: AccessKeyCommand, ctx: &Ctx) -> Done {
    let api = ctx.api()?;
    match cmd {
        AccessKeyCommand::Create { user, save_profile } => {
            if let Some(profile) = &save_profile {
                // Checked before the key exists, so a bad name leaves nothing behind.
                config::check_profile_name(profile)?;
            }
            let v = api.send_for_json(Method::Post, &["users", &user, "access-keys"], None)?;
            if let Some(profile) = save_profile {
                return save_key_profile(ctx, &api, &v, &profile);
            }
            let code = api.show(&v, |k: &api::NewAccessKey| {
                fields(&[
                    ("UserName", k.user_name.clone()),
                    ("AccessKeyId", k.access_key_id.clone()),
                    ("SecretAccessKey", k.secret_access_key.clone()),
                    ("Status", k.status.clone()),
                    ("Created", k.created.clone()),
                ])
            })?;
            eprintln!(
                "ward: save the secret access key now: it is shown only once and cannot be retrieved again"
            );
            Ok(code)
        }
        AccessKeyCommand::List { user } => {
            let v = api.get(&["users", &user, "access-keys"], &[])?;
            api.show(&v, keys_table)
        }
        AccessKeyCommand::Update {
            user,
            key_id,
            status,
        } => {
            let status = status.as_str();
            let req = api::UpdateAccessKey {
                status: status.to_owned(),
            };
            let v = api.send(
                Method::Patch,
                &["users", &user, "access-keys", &key_id],
                &[],
                body(&req)?,
            )?;
            api.done(
                v,
                format!("access key {key_id} of user {user} is now {status}"),
            )
        }
        AccessKeyCommand::Delete { user, key_id } => {
            let v = api.send(
                Method::Delete,
                &["users", &user, "access-keys", &key_id],
                &[],
                None,
            )?;
            api.done(v, format!("deleted access key {key_id} of user {user}"))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn tags() {
        for (s, want) in [
            ("env=prod", Some(("env", "prod"))),
            ("k=", Some(("k", ""))),
            ("k=a=b", Some(("k", "a=b"))),
            ("=v", None),
            ("novalue", None),
        ] {
            let got = parse_tag(s).ok();
            let got = got.as_ref().map(|t| (t.key.as_str(), t.value.as_str()));
            assert_eq!(got, want, "{s}");
        }
    }
}
