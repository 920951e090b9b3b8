//! Writing keys, certificates and revocation lists: private directories,
//! files replaced atomically (a reader such as sshd's `RevokedKeys` never
//! sees half a file, and a failed run never leaves half a key), and a
//! scratch directory for key generation that is removed whatever happens.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::Failure;

/// Mode of private keys.
pub(crate) const PRIVATE: u32 = 0o600;
/// Mode of certificates, public keys and revocation lists.
pub(crate) const PUBLIC: u32 = 0o644;

/// Creates `dir` (and its parents) as 0700 if it does not exist; an
/// existing directory is left as it is.
pub(crate) fn private_dir(dir: &Path) -> Result<(), Failure> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Failure::usage(format!("creating {}: {e}", dir.display())))
}

/// The directory `path` is in (`.` for a bare name).
fn parent(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// A name for a temporary sibling that no other run picks.
fn unique(stem: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(".{stem}.tmp-{}-{nanos}", std::process::id())
}

/// Replaces `path` with `bytes` atomically, with `mode`.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Failure> {
    let dir = parent(path);
    let stem = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(unique(&stem));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        // The umask may have narrowed the mode; public files should be
        // readable by the sshd or web server that serves them.
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Failure::usage(format!("writing {}: {e}", path.display()))
    })
}

/// Moves `from` to `to` (same file system) after setting `mode`.
pub(crate) fn move_into_place(from: &Path, to: &Path, mode: u32) -> Result<(), Failure> {
    std::fs::set_permissions(from, std::fs::Permissions::from_mode(mode))
        .and_then(|()| std::fs::rename(from, to))
        .map_err(|e| Failure::usage(format!("writing {}: {e}", to.display())))
}

/// A 0700 scratch directory inside another one (so that files made in it
/// can be renamed into place), removed on drop.
pub(crate) struct ScratchDir(PathBuf);

impl ScratchDir {
    /// Creates a fresh scratch directory in `dir`.
    pub(crate) fn new_in(dir: &Path, stem: &str) -> Result<ScratchDir, Failure> {
        let path = dir.join(unique(stem));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .map_err(|e| Failure::usage(format!("creating {}: {e}", path.display())))?;
        Ok(ScratchDir(path))
    }

    /// A path inside.
    pub(crate) fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Mode bits of `path` (for tests and checks).
#[cfg(test)]
pub(crate) fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn atomic_writes_and_scratch() {
        let base = std::env::temp_dir().join(format!("ward-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let dir = base.join("a/b");
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        let f = dir.join("k");
        write_atomic(&f, b"one", PRIVATE).unwrap();
        write_atomic(&f, b"two", PRIVATE).unwrap();
        assert_eq!(std::fs::read(&f).unwrap(), b"two");
        assert_eq!(mode(&f), 0o600);
        let p = dir.join("p");
        write_atomic(&p, b"x", PUBLIC).unwrap();
        assert_eq!(mode(&p), 0o644);
        let inner = {
            let s = ScratchDir::new_in(&dir, "t").unwrap();
            std::fs::write(s.join("x"), b"1").unwrap();
            assert_eq!(mode(&s.0), 0o700);
            move_into_place(&s.join("x"), &dir.join("moved"), PRIVATE).unwrap();
            s.0.clone()
        };
        assert!(!inner.exists());
        assert_eq!(mode(&dir.join("moved")), 0o600);
        // Only the files written remain: no temporary leftovers.
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["k", "moved", "p"]);
        assert!(write_atomic(&base.join("missing/x"), b"", PUBLIC).is_err());
        let _ = std::fs::remove_dir_all(&base);
    }
}
