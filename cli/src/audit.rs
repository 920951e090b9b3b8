//! `ward audit list`, `ward audit verify` and `ward audit checkpoint`.
//!
//! A checkpoint is the audit head signed by the installation's audit key
//! (Ed25519). `ward audit verify --checkpoint FILE` checks its signature
//! offline against a trusted public key (`--public-key`, or the one
//! ward-ca publishes at `/v1/ca/audit-key`), then asks ward-ca to verify
//! the chain and that the event at the checkpoint's seq still has the
//! checkpoint's MAC and the log reaches it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use base64::Engine as _;

use clap::Subcommand;
use ward_protocol::api;

use crate::config::OutputFormat;
use crate::ctx::{more_hint, typed, Ctx, Done};
use crate::error::{Failure, EXIT_API};
use crate::files;
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
    /// Check the audit log's keyed chain: exit 0 if intact, 1 if not.
    Verify {
        /// Also check a checkpoint saved earlier by `ward audit checkpoint`:
        /// its signature (offline), and that the log still holds it.
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
        /// The audit public key to trust (base64), as shown by `ward audit
        /// checkpoint`; without it, the key ward-ca publishes is used.
        #[arg(long, value_name = "BASE64", requires = "checkpoint")]
        public_key: Option<String>,
    },
    /// Save a signed checkpoint of the audit log's head (JSON).
    Checkpoint {
        /// Write it to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

/// Reads and checks a checkpoint file: its format and its signature under
/// a trusted key. `Err` is a usage problem (unreadable file); `Ok(Err)` a
/// checkpoint that must be refused.
fn check_checkpoint(
    ctx: &Ctx,
    path: &Path,
    pinned: Option<&str>,
) -> Result<Result<api::AuditCheckpoint, String>, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::usage(format!("reading {}: {e}", path.display())))?;
    let cp: api::AuditCheckpoint = match serde_json::from_str(&text) {
        Ok(c) => c,
        Err(e) => return Ok(Err(format!("{} is not a checkpoint: {e}", path.display()))),
    };
    if cp.format != api::AUDIT_CHECKPOINT_FORMAT {
        return Ok(Err(format!("unknown checkpoint format {:?}", cp.format)));
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let trusted = match pinned {
        Some(k) => b64
            .decode(k.trim())
            .map_err(|_| Failure::usage("--public-key: not base64"))?,
        None => {
            let bytes = ctx.public()?.fetch(&["ca", "audit-key"])?;
            let key: api::AuditKey = serde_json::from_slice(&bytes).map_err(|_| {
                Failure::Unexpected("the server's audit key is not ward's JSON".into())
            })?;
            if key.account_id != cp.account_id {
                return Ok(Err(format!(
                    "the checkpoint is for account {}, but this ward-ca is account {}",
                    output::clean(&cp.account_id),
                    output::clean(&key.account_id)
                )));
            }
            b64.decode(&key.public_key)
                .map_err(|_| Failure::Unexpected("the server's audit key is not base64".into()))?
        }
    };
    let trusted: [u8; 32] = trusted
        .as_slice()
        .try_into()
        .map_err(|_| Failure::usage("the audit public key must be 32 bytes (Ed25519)"))?;
    let claimed = b64.decode(&cp.public_key).unwrap_or_default();
    if claimed != trusted {
        return Ok(Err(
            "the checkpoint was signed with another key than the trusted audit key (another installation?)"
                .into(),
        ));
    }
    let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(&trusted) else {
        return Ok(Err("the audit public key is not a valid Ed25519 key".into()));
    };
    let sig = b64
        .decode(&cp.signature)
        .ok()
        .and_then(|s| ed25519_dalek::Signature::from_slice(&s).ok());
    let Some(sig) = sig else {
        return Ok(Err("the checkpoint's signature is malformed".into()));
    };
    if key.verify_strict(&cp.signed_message(), &sig).is_err() {
        return Ok(Err(
            "the checkpoint's signature does not verify: the file was altered".into(),
        ));
    }
    if cp.seq < 1 || cp.mac.len() != 64 {
        return Ok(Err("the checkpoint names no event".into()));
    }
    Ok(Ok(cp))
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
        AuditCommand::Checkpoint { out } => {
            let v = api.get(&["audit", "checkpoint"], &[])?;
            let cp: api::AuditCheckpoint = typed(&v)?;
            let text = output::json(&v);
            match out {
                Some(path) => {
                    files::write_atomic(&path, text.as_bytes(), files::PUBLIC)?;
                    if api.output == OutputFormat::Table {
                        output::print(&format!(
                            "checkpoint of event {} written to {}; audit key {} {}\n",
                            cp.seq,
                            path.display(),
                            output::clean(&cp.key_id),
                            output::clean(&cp.public_key)
                        ));
                    } else {
                        output::print(&text);
                    }
                }
                None => output::print(&text),
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify {
            checkpoint,
            public_key,
        } => {
            let cp = match &checkpoint {
                None => None,
                Some(path) => match check_checkpoint(ctx, path, public_key.as_deref())? {
                    Ok(cp) => Some(cp),
                    Err(why) => {
                        eprintln!("ward: audit checkpoint refused: {}", output::clean(&why));
                        return Ok(ExitCode::from(EXIT_API));
                    }
                },
            };
            let seq = cp.as_ref().map(|c| c.seq.to_string());
            let q: Vec<(&str, &str)> = match (&cp, &seq) {
                (Some(c), Some(s)) => vec![
                    ("checkpointMac", c.mac.as_str()),
                    ("checkpointSeq", s.as_str()),
                ],
                _ => vec![],
            };
            let v = api.get(&["audit", "verify"], &q)?;
            let r: api::AuditVerify = typed(&v)?;
            match api.output {
                OutputFormat::Json => output::print(&output::json(&v)),
                OutputFormat::Table if r.ok => {
                    let mut line = format!("audit log intact: {} events verified", r.events);
                    if let Some(n) = r.legacy_events {
                        line.push_str(&format!(
                            " ({n} written before the chain was keyed, bound by the cut-over event)"
                        ));
                    }
                    if let Some(c) = &cp {
                        line.push_str(&format!(
                            "; checkpoint of event {} ({}) holds",
                            c.seq,
                            output::clean(&c.time)
                        ));
                    }
                    output::print(&format!("{line}\n"));
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
