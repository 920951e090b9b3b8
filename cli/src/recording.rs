//! `ward recording get ID` and `ward recording list`: session recordings
//! ward-gateway uploaded to ward-ca (issue #15). `get` writes the cast
//! (asciicast v2) to stdout or `--out FILE`, playable with `asciinema
//! play`; policy decides (`audit:GetRecording` on
//! `arn:ward:audit::ACCT:recording/ID`, `audit:ListRecordings`).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use ward_protocol::api;
use ward_protocol::host::{MAX_RECORDING_BYTES, RECORDING_MEDIA_TYPE};

use crate::ctx::{Ctx, Done};
use crate::error::Failure;
use crate::files;
use crate::output::table;

#[derive(Subcommand, Debug)]
pub(crate) enum RecordingCommand {
    /// Write a recording (asciicast v2) to stdout, or to --out:
    /// `ward recording get gws-… > s.cast && asciinema play s.cast`.
    Get {
        /// Recording id (gws-…, from `ward recording list` or the audit
        /// log's ward-gateway:RecordingEnd events).
        id: String,
        /// Write to this file (0600) instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// List the recordings ward-ca holds, newest first.
    List {
        /// At most this many (1–1000; default 100).
        #[arg(long)]
        limit: Option<u32>,
    },
}

pub(crate) fn run(c: RecordingCommand, ctx: &Ctx) -> Done {
    let api = ctx.api()?;
    match c {
        RecordingCommand::Get { id, out } => {
            let bytes = api.client.get_bytes(
                &["recordings", &id],
                RECORDING_MEDIA_TYPE,
                MAX_RECORDING_BYTES,
            )?;
            match out {
                Some(path) => {
                    files::write_atomic(&path, &bytes, 0o600)?;
                    eprintln!("wrote {} bytes to {}", bytes.len(), path.display());
                }
                None => {
                    let mut so = std::io::stdout().lock();
                    so.write_all(&bytes)
                        .and_then(|()| so.flush())
                        .map_err(|e| Failure::usage(format!("writing to stdout: {e}")))?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        RecordingCommand::List { limit } => {
            let l = limit.map(|n| n.to_string());
            let mut q = Vec::new();
            if let Some(l) = &l {
                q.push(("limit", l.as_str()));
            }
            let v = api.get(&["recordings"], &q)?;
            api.show::<api::RecordingList>(&v, |r| {
                let rows: Vec<Vec<String>> = r
                    .recordings
                    .iter()
                    .map(|x| {
                        vec![
                            x.id.clone(),
                            x.gateway.clone(),
                            x.size.to_string(),
                            x.uploaded_at.clone(),
                            x.sha256.clone(),
                        ]
                    })
                    .collect();
                table(&["ID", "GATEWAY", "SIZE", "UPLOADED", "SHA256"], &rows)
            })
        }
    }
}
