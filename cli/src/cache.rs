//! The credential cache of MFA role profiles (issue #14), as the AWS CLI
//! keeps one in `~/.aws/cli/cache/`: a profile with `role_arn`,
//! `source_profile` and `mfa_serial` stores the credentials AssumeRole
//! gave it in `~/.ward/cli/cache/KEY.json` (the directory 0700, the file
//! 0600, replaced atomically) and uses them until
//! [`REFRESH_MARGIN_SECONDS`] before they expire, so one MFA code serves
//! a series of commands.
//!
//! `KEY` is the SHA-256 of everything that decides which session the
//! profile gets (profile, role, session name, source profile, MFA
//! serial, external id, duration): another session is another file. A
//! file that cannot be read or parsed, that is not a private file (any
//! group or other permission bit, on it or its directory, or another
//! owner than the directory's), or that is close to expiry is not used (the role is assumed again and the file replaced).
//! The cached secret never reaches `Debug`, logs or messages: it is read
//! into [`Credentials`], whose `Debug` redacts it.

use std::fmt::Write as _;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{AssumeProfile, Credentials, Env, Secret};
use crate::error::Failure;
use crate::files;

/// Cached credentials are used until this many seconds before they expire
/// (the AWS CLI's margin is the same order).
pub(crate) const REFRESH_MARGIN_SECONDS: i64 = 300;

/// A cache file, in the AWS CLI's layout.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CacheFile {
    provider_type: String,
    credentials: CachedCredentials,
}

/// The cached credentials. No `Debug`: the secret must not be printed.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CachedCredentials {
    access_key_id: String,
    secret_access_key: String,
    session_token: String,
    expiration: String,
}

/// Credentials from the cache and when they expire (RFC 3339).
pub(crate) struct Cached {
    pub(crate) credentials: Credentials,
    pub(crate) expiration: String,
}

/// `~/.ward/cli/cache`, when HOME is known.
fn cache_dir(env: &Env) -> Option<PathBuf> {
    env.home()
        .map(|h| h.join(".ward").join("cli").join("cache"))
}

/// The cache file of `profile`'s role session `a`.
pub(crate) fn entry(env: &Env, profile: &str, a: &AssumeProfile) -> Option<PathBuf> {
    let key = serde_json::json!({
        "profile": profile,
        "roleArn": a.role_arn,
        "roleSessionName": a.session_name,
        "sourceProfile": a.source_profile,
        "serialNumber": a.mfa_serial,
        "externalId": a.external_id,
        "durationSeconds": a.duration_seconds,
    });
    let digest = Sha256::digest(key.to_string().as_bytes());
    let mut name = String::with_capacity(64);
    for b in digest {
        // Writing to a String cannot fail.
        let _ = write!(name, "{b:02x}");
    }
    cache_dir(env).map(|d| d.join(format!("{name}.json")))
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The credentials cached at `path`, if the file is the caller's own
/// private file and they are good for more than
/// [`REFRESH_MARGIN_SECONDS`]; `None` otherwise (a miss).
pub(crate) fn load(path: &Path) -> Option<Cached> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    let dir = std::fs::metadata(path.parent()?).ok()?;
    // A private file in a private directory, both of one owner: nobody
    // else can have planted or read it.
    if !meta.is_file()
        || meta.mode() & 0o077 != 0
        || dir.mode() & 0o077 != 0
        || meta.uid() != dir.uid()
    {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    let f: CacheFile = serde_json::from_str(&text).ok()?;
    let expires = ward_policy::Instant::parse(&f.credentials.expiration)?.epoch_seconds();
    if expires.saturating_sub(now()) <= REFRESH_MARGIN_SECONDS {
        return None;
    }
    let c = f.credentials;
    if c.access_key_id.is_empty() || c.secret_access_key.is_empty() || c.session_token.is_empty() {
        return None;
    }
    Some(Cached {
        credentials: Credentials {
            access_key_id: c.access_key_id,
            secret_access_key: Secret::new(c.secret_access_key),
            session_token: Some(Secret::new(c.session_token)),
        },
        expiration: c.expiration,
    })
}

/// Stores `creds` (expiring at `expiration`) at `path`: the directory
/// made 0700, the file written 0600 through a temporary file.
pub(crate) fn store(path: &Path, creds: &Credentials, expiration: &str) -> Result<(), Failure> {
    let dir = path
        .parent()
        .ok_or_else(|| Failure::usage(format!("{}: no directory", path.display())))?;
    files::private_dir(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| Failure::usage(format!("{}: {e}", dir.display())))?;
    let file = CacheFile {
        provider_type: "assume-role".to_owned(),
        credentials: CachedCredentials {
            access_key_id: creds.access_key_id.clone(),
            secret_access_key: creds.secret_access_key.expose().to_owned(),
            session_token: creds
                .session_token
                .as_ref()
                .map(|t| t.expose().to_owned())
                .unwrap_or_default(),
            expiration: expiration.to_owned(),
        },
    };
    let text = serde_json::to_string(&file)
        .map_err(|e| Failure::Unexpected(format!("encoding the credential cache: {e}")))?;
    files::write_atomic(path, text.as_bytes(), files::PRIVATE)
}
