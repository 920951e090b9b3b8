//! `ward session list|revoke`: a user's password sessions (temporary
//! credentials from `ward login`). Without `--user`, the current
//! credentials' own user. Listings show no secrets. `ward session
//! terminate gs-…` ends an open ward-gateway session (its id is in the
//! gateway's `ward-gateway:SessionStart` audit event).

use clap::{ArgGroup, Subcommand};
use ward_protocol::api;

use crate::client::Method;
use crate::ctx::{Ctx, Done};
use crate::error::Failure;
use crate::output::table;

#[derive(Subcommand, Debug)]
pub(crate) enum SessionCommand {
    /// List a user's unexpired sessions.
    List {
        /// User name (default: the current credentials' user).
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke one session (by id, ASIA…) or all of a user's sessions.
    #[command(group(ArgGroup::new("which").required(true).args(["id", "all"])))]
    Revoke {
        /// Session id (ASIA…), as `ward session list` shows it.
        id: Option<String>,
        /// Revoke every session of the user.
        #[arg(long)]
        all: bool,
        /// User name (default: the current credentials' user).
        #[arg(long)]
        user: Option<String>,
    },
    /// End an open ward-gateway session (`gs-…`, from the audit log's
    /// ward-gateway:SessionStart events).
    Terminate {
        /// Gateway session id (gs-…).
        id: String,
    },
}

/// The user named, or the caller's own user (from whoami).
pub(crate) fn user_or_self(api: &crate::ctx::Api, user: Option<String>) -> Result<String, Failure> {
    if let Some(u) = user {
        return Ok(u);
    }
    let v = api.get(&["whoami"], &[])?;
    let me: api::CallerIdentity = serde_json::from_value(v)
        .map_err(|e| Failure::usage(format!("unexpected whoami answer: {e}")))?;
    match me.arn.split_once(":user/") {
        Some((_, path_and_name)) => Ok(path_and_name
            .rsplit('/')
            .next()
            .unwrap_or(path_and_name)
            .to_owned()),
        None => Err(Failure::usage(
            "the current credentials belong to no user: name one with --user",
        )),
    }
}

fn sessions_table(l: &api::SessionList) -> String {
    let rows: Vec<Vec<String>> = l
        .sessions
        .iter()
        .map(|s| {
            vec![
                s.id.clone(),
                s.auth_method.clone(),
                s.created.clone(),
                s.expires.clone(),
                s.source_ip.clone(),
                if s.password_change_only {
                    "change-password-only".into()
                } else {
                    "full".into()
                },
            ]
        })
        .collect();
    table(
        &[
            "session-id",
            "auth-method",
            "created",
            "expires",
            "source-ip",
            "scope",
        ],
        &rows,
    )
}

pub(crate) fn run(cmd: SessionCommand, ctx: &Ctx) -> Done {
    let api = ctx.api()?;
    match cmd {
        SessionCommand::List { user } => {
            let user = user_or_self(&api, user)?;
            let v = api.get(&["users", &user, "sessions"], &[])?;
            api.show(&v, sessions_table)
        }
        SessionCommand::Revoke { id, all, user } => {
            let user = user_or_self(&api, user)?;
            match (id, all) {
                (Some(id), false) => {
                    let v = api.send(
                        Method::Delete,
                        &["users", &user, "sessions", &id],
                        &[],
                        None,
                    )?;
                    api.done(v, format!("revoked session {id} of user {user}"))
                }
                (None, true) => {
                    let v =
                        api.send_for_json(Method::Delete, &["users", &user, "sessions"], None)?;
                    api.show(&v, |r: &api::RevokedSessions| {
                        format!("revoked {} session(s) of user {user}\n", r.revoked)
                    })
                }
                _ => Err(Failure::usage("give a session id or --all, not both")),
            }
        }
        SessionCommand::Terminate { id } => {
            let v =
                api.send_for_json(Method::Post, &["gateway-sessions", &id, "terminate"], None)?;
            api.show(&v, |r: &api::GatewaySessionTermination| {
                format!(
                    "gateway {} ends session {} (asked at {})\n",
                    r.gateway, r.session_id, r.requested_at
                )
            })
        }
    }
}
