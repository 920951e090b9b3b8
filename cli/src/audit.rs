//! `ward audit list` and `ward audit verify`.

use std::process::ExitCode;

use clap::Subcommand;
use ward_protocol::api;

use crate::config::OutputFormat;
use crate::ctx::{more_hint, typed, Ctx, Done};
use crate::error::EXIT_API;
use crate::output::{self, table};

#[derive(Subcommand, Debug)]
pub(crate) enum AuditCommand {
    /// List audit events, oldest first.
    List {
        /// Only events by this principal (user name or ARN).
        #[arg(long)]
        user: Option<String>,
        /// Only this action, e.g. iam:CreateUser.
        #[arg(long)]
        action: Option<String>,
        /// From this time (RFC 3339 or epoch seconds).
        #[arg(long)]
        since: Option<String>,
        /// Up to this time (RFC 3339 or epoch seconds).
        #[arg(long)]
        until: Option<String>,
        /// Events per request (1–1000; the server's default is 100).
        #[arg(long)]
        limit: Option<u32>,
        /// Start after this sequence number.
        #[arg(long)]
        after_seq: Option<u64>,
        /// Fetch every page.
        #[arg(long)]
        all: bool,
    },
    /// Check the audit log's hash chain: exit 0 if intact, 1 if not.
    Verify,
}

fn events_table(l: &api::AuditEventList) -> String {
    let rows: Vec<Vec<String>> = l
        .events
        .iter()
        .map(|e| {
            vec![
                e.seq.to_string(),
                e.time.clone(),
                e.principal.clone(),
                e.action.clone(),
                e.decision.clone(),
                e.source_ip.clone(),
                e.resource.clone(),
            ]
        })
        .collect();
    table(
        &[
            "seq",
            "time",
            "principal",
            "action",
            "decision",
            "source",
            "resource",
        ],
        &rows,
    )
}

pub(crate) fn run(cmd: AuditCommand, ctx: &Ctx) -> Done {
    let api = ctx.api()?;
    match cmd {
        AuditCommand::List {
            user,
            action,
            since,
            until,
            limit,
            after_seq,
            all,
        } => {
            let mut q: Vec<(&str, String)> = Vec::new();
            for (k, v) in [
                ("user", user),
                ("action", action),
                ("since", since),
                ("until", until),
                ("limit", limit.map(|n| n.to_string())),
                ("afterSeq", after_seq.map(|n| n.to_string())),
            ] {
                if let Some(v) = v {
                    q.push((k, v));
                }
            }
            let v = api.list(
                &["audit", "events"],
                &q,
                "events",
                ("nextAfterSeq", "afterSeq"),
                all,
            )?;
            api.show(&v, events_table)?;
            more_hint(&api, &v, "nextAfterSeq", "--after-seq");
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify => {
            let v = api.get(&["audit", "verify"], &[])?;
            let r: api::AuditVerify = typed(&v)?;
            match api.output {
                OutputFormat::Json => output::print(&output::json(&v)),
                OutputFormat::Table if r.ok => {
                    output::print(&format!("audit log intact: {} events verified\n", r.events))
                }
                OutputFormat::Table => {}
            }
            if r.ok {
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!(
                    "ward: audit log verification failed: {}",
                    output::clean(r.problem.as_deref().unwrap_or("no detail given"))
                );
                Ok(ExitCode::from(EXIT_API))
            }
        }
    }
}
