//! Files the agent writes for others: every write is atomic (a temporary
//! file in the same directory, fsync, rename over the target, fsync of the
//! directory), so a reader — sshd, the agent after a crash — sees the old
//! content or the new, never a partial file.
//!
//! It keeps sshd's `TrustedUserCAKeys` (the snapshot's SSH user CA keys,
//! one per line) and `RevokedKeys` (an OpenSSH KRL built with
//! [`ward_pki::krl`] from the snapshot's revoked serials, under every CA
//! key) current, and replaces each only when its content changed.
//!
//! The KRL is written with version 0 and date 0 so that its bytes depend
//! only on what is revoked: the same snapshot content gives the same file,
//! which is what "only when changed" compares.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use ssh_key::PublicKey;
use ward_pki::krl::Krl;
use ward_protocol::host::Snapshot;

/// Writes `bytes` to `path` atomically with permission bits `mode`.
///
/// The temporary file is `.NAME.tmp-PID-RANDOM` next to the target and is
/// removed if anything fails; the target is never opened for writing.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let dir = parent_of(path);
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other(format!("{} has no file name", path.display())))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{:016x}",
        name.to_string_lossy(),
        std::process::id(),
        rand::random::<u64>()
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(bytes)?;
        // create_new honours the umask; set the bits exactly.
        f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        sync_dir(&dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Writes `bytes` atomically unless `path` already holds exactly them.
/// Returns whether it wrote.
pub fn replace_if_changed(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<bool> {
    match std::fs::read(path) {
        Ok(old) if old == bytes => Ok(false),
        _ => write_atomic(path, bytes, mode).map(|()| true),
    }
}

/// fsyncs a directory (so a rename in it is durable).
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Where sshd reads ward's files.
#[derive(Clone, Debug)]
pub struct SshFiles {
    /// `TrustedUserCAKeys`.
    pub trusted_user_ca_keys: PathBuf,
    /// `RevokedKeys`.
    pub revoked_keys: PathBuf,
}

/// What [`SshFiles::update`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Updated {
    /// The CA keys file was rewritten.
    pub ca_keys: bool,
    /// The KRL was rewritten.
    pub krl: bool,
    /// CA key lines that did not parse (left out of both files).
    pub skipped: Vec<String>,
}

impl SshFiles {
    /// Brings both files in line with `ca_keys` and `revoked`.
    pub fn update(&self, ca_keys: &[String], revoked: &[u64]) -> std::io::Result<Updated> {
        let (text, krl, skipped) = render(ca_keys, revoked).map_err(std::io::Error::other)?;
        Ok(Updated {
            ca_keys: replace_if_changed(&self.trusted_user_ca_keys, text.as_bytes(), 0o644)?,
            krl: replace_if_changed(&self.revoked_keys, &krl, 0o644)?,
            skipped,
        })
    }

    /// [`SshFiles::update`] from a snapshot.
    pub fn update_from(&self, snapshot: &Snapshot) -> std::io::Result<Updated> {
        self.update(&snapshot.ssh_user_ca_keys, &snapshot.revoked_ssh_serials)
    }
}

/// The `TrustedUserCAKeys` text and KRL bytes for `ca_keys` and `revoked`,
/// with the CA lines that did not parse. Pure.
///
/// A CA key that does not parse is left out of both files (sshd would
/// refuse the whole `TrustedUserCAKeys` file over one bad line only in
/// some versions; leaving it out fails closed: its certificates are not
/// trusted). Serial 0 means "no serial" to OpenSSH and is never revoked.
pub fn render(
    ca_keys: &[String],
    revoked: &[u64],
) -> Result<(String, Vec<u8>, Vec<String>), ward_pki::krl::KrlError> {
    let mut text = String::new();
    let mut parsed = Vec::new();
    let mut skipped = Vec::new();
    for line in ca_keys {
        let line = line.trim();
        if line.is_empty() || line.contains(['\n', '\r', '\0']) {
            skipped.push(line.escape_debug().to_string());
            continue;
        }
        match PublicKey::from_openssh(line) {
            Ok(k) => {
                text.push_str(line);
                text.push('\n');
                parsed.push(k);
            }
            Err(_) => skipped.push(line.escape_debug().to_string()),
        }
    }
    let mut krl = Krl::new(0, 0, "ward revoked SSH user certificates")?;
    for ca in &parsed {
        for &serial in revoked {
            if serial != 0 {
                krl.revoke_serial(ca, serial)?;
            }
        }
    }
    Ok((text, krl.to_bytes()?, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINDqEZbu3os2wggKQIB+/4V6bwvLHZ+JaqPPeJ/V8rhA ca";

    #[test]
    fn krl_is_deterministic_and_skips_bad_lines() {
        let keys = vec![CA.to_string(), "garbage".to_string(), String::new()];
        let (text, a, skipped) = render(&keys, &[5, 0, 3]).unwrap();
        assert_eq!(text, format!("{CA}\n"));
        assert_eq!(skipped.len(), 2);
        let (_, b, _) = render(&keys, &[3, 5]).unwrap();
        assert_eq!(a, b);
        let krl = Krl::from_bytes(&a).unwrap();
        assert!(!krl.is_empty());
        let (_, empty, _) = render(&keys, &[]).unwrap();
        assert!(Krl::from_bytes(&empty).unwrap().is_empty());
    }
}
