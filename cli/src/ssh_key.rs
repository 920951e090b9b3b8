//! `ward ssh-key …`: users' SSH public keys on ward-ca, one subcommand per
//! route (`/v1/users/{name}/ssh-keys…`).
//!
//! `upload` sends the file's text as it is: ward-ca parses it, computes the
//! fingerprint and explains what is wrong with anything it refuses (a
//! private key, DSA, short RSA, a certificate).

use std::path::{Path, PathBuf};

use clap::Subcommand;
use ward_protocol::api;

use crate::client::Method;
use crate::ctx::{body, Ctx, Done};
use crate::error::Failure;
use crate::iam::KeyStatus;
use crate::output::{fields, table};

/// Largest key file read: a public key line is at most 16 KiB on the
/// server; anything larger is certainly not one.
const MAX_KEY_FILE: usize = 64 * 1024;

#[derive(Subcommand, Debug)]
pub(crate) enum SshKeyCommand {
    /// Upload an OpenSSH public key (e.g. ~/.ssh/id_ed25519.pub) for a user.
    Upload {
        /// User name.
        user: String,
        /// The public key file, or - for standard input.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// List a user's SSH public keys.
    List {
        /// User name.
        user: String,
    },
    /// Show one SSH public key, with the key itself.
    Get {
        /// User name.
        user: String,
        /// SSH public key id (APKA…).
        key_id: String,
    },
    /// Make an SSH public key Active or Inactive.
    Update {
        /// User name.
        user: String,
        /// SSH public key id (APKA…).
        key_id: String,
        /// The new status.
        #[arg(long, value_enum, ignore_case = true)]
        status: KeyStatus,
    },
    /// Delete an SSH public key.
    Delete {
        /// User name.
        user: String,
        /// SSH public key id (APKA…).
        key_id: String,
    },
}

/// The key file's text.
fn key_text(path: &Path) -> Result<String, Failure> {
    let bytes = crate::policy::read_input(path, MAX_KEY_FILE).map_err(Failure::usage)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Failure::usage(format!("{}: not valid UTF-8", path.display())))?;
    if text.trim().is_empty() {
        return Err(Failure::usage(format!("{}: empty file", path.display())));
    }
    // A private key never leaves the machine, not even to be refused.
    if text.contains("PRIVATE KEY") {
        return Err(Failure::usage(format!(
            "{}: this is a private key: upload the matching .pub file instead",
            path.display()
        )));
    }
    Ok(text)
}

fn key_fields(k: &api::SshPublicKey) -> String {
    fields(&[
        ("UserName", k.user_name.clone()),
        ("SshPublicKeyId", k.ssh_public_key_id.clone()),
        ("Fingerprint", k.fingerprint.clone()),
        ("Status", k.status.clone()),
        ("Uploaded", k.uploaded.clone()),
        ("PublicKey", k.public_key.clone().unwrap_or_default()),
    ])
}

fn keys_table(l: &api::SshPublicKeyList) -> String {
    let rows: Vec<Vec<String>> = l
        .ssh_public_keys
        .iter()
        .map(|k| {
            vec![
                k.ssh_public_key_id.clone(),
                k.status.clone(),
                k.uploaded.clone(),
                k.fingerprint.clone(),
            ]
        })
        .collect();
    table(
        &["ssh-public-key-id", "status", "uploaded", "fingerprint"],
        &rows,
    )
}

pub(crate) fn run(cmd: SshKeyCommand, ctx: &Ctx) -> Done {
    match cmd {
        SshKeyCommand::Upload { user, file } => {
            let req = api::UploadSshPublicKey {
                public_key: key_text(&file)?,
            };
            let api = ctx.api()?;
            let v = api.send_for_json(Method::Post, &["users", &user, "ssh-keys"], body(&req)?)?;
            api.show(&v, key_fields)
        }
        SshKeyCommand::List { user } => {
            let api = ctx.api()?;
            let v = api.get(&["users", &user, "ssh-keys"], &[])?;
            api.show(&v, keys_table)
        }
        SshKeyCommand::Get { user, key_id } => {
            let api = ctx.api()?;
            let v = api.get(&["users", &user, "ssh-keys", &key_id], &[])?;
            api.show(&v, key_fields)
        }
        SshKeyCommand::Update {
            user,
            key_id,
            status,
        } => {
            let api = ctx.api()?;
            let status = status.as_str();
            let req = api::UpdateAccessKey {
                status: status.to_owned(),
            };
            let v = api.send(
                Method::Patch,
                &["users", &user, "ssh-keys", &key_id],
                &[],
                body(&req)?,
            )?;
            api.done(
                v,
                format!("SSH public key {key_id} of user {user} is now {status}"),
            )
        }
        SshKeyCommand::Delete { user, key_id } => {
            let api = ctx.api()?;
            let v = api.send(
                Method::Delete,
                &["users", &user, "ssh-keys", &key_id],
                &[],
                None,
            )?;
            api.done(v, format!("deleted SSH public key {key_id} of user {user}"))
        }
    }
}
