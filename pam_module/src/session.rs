//! Session opening: a missing home directory is created from `/etc/skel`,
//! 0700 and owned by the user. Only a directory that does not exist is
//! created (an existing path — directory, file or symlink — is left
//! alone), skeleton symlinks are recreated as symlinks (never followed),
//! and the home path must be absolute and free of `..`.

use std::fs;
use std::io;
use std::os::unix::fs::{chown, symlink, PermissionsExt};
use std::path::Path;

/// A user's account as NSS reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// uid.
    pub uid: u32,
    /// Primary gid.
    pub gid: u32,
    /// Home directory.
    pub home: String,
}

/// What [`ensure_home`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Home {
    /// The path already existed.
    Existed,
    /// Created (with the skeleton's entries copied).
    Created,
}

/// Creates `account.home` from `skel` if nothing exists at that path.
pub fn ensure_home(account: &Account, skel: &Path) -> io::Result<Home> {
    let home = Path::new(&account.home);
    if !home.is_absolute() || home.components().any(|c| c.as_os_str() == "..") {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "home {:?} is not an absolute path without '..'",
                account.home
            ),
        ));
    }
    if fs::symlink_metadata(home).is_ok() {
        return Ok(Home::Existed);
    }
    // create_dir (not create_dir_all): the parent (/home) must exist; a
    // racing creator makes this fail rather than share the directory.
    fs::create_dir(home)?;
    fs::set_permissions(home, fs::Permissions::from_mode(0o700))?;
    chown(home, Some(account.uid), Some(account.gid))?;
    if fs::symlink_metadata(skel)
        .map(|m| m.is_dir())
        .unwrap_or(false)
    {
        copy_tree(skel, home, account)?;
    }
    Ok(Home::Created)
}

fn copy_tree(from: &Path, to: &Path, owner: &Account) -> io::Result<()> {
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let meta = fs::symlink_metadata(&src)?;
        let ft = meta.file_type();
        if ft.is_symlink() {
            symlink(fs::read_link(&src)?, &dst)?;
            std::os::unix::fs::lchown(&dst, Some(owner.uid), Some(owner.gid))?;
        } else if ft.is_dir() {
            fs::create_dir(&dst)?;
            fs::set_permissions(
                &dst,
                fs::Permissions::from_mode(meta.permissions().mode() & 0o777),
            )?;
            chown(&dst, Some(owner.uid), Some(owner.gid))?;
            copy_tree(&src, &dst, owner)?;
        } else if ft.is_file() {
            fs::copy(&src, &dst)?;
            fs::set_permissions(
                &dst,
                fs::Permissions::from_mode(meta.permissions().mode() & 0o777),
            )?;
            chown(&dst, Some(owner.uid), Some(owner.gid))?;
        }
        // Sockets, fifos and devices in a skeleton are skipped.
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn scratch(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("pam-ward-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn creates_home_from_skel_once() {
        let d = scratch("home");
        let skel = d.join("skel");
        fs::create_dir_all(skel.join(".config")).unwrap();
        fs::write(skel.join(".bashrc"), "# hi\n").unwrap();
        fs::write(skel.join(".config/x"), "y").unwrap();
        symlink("/etc/passwd", skel.join("link")).unwrap();
        let acct = Account {
            uid: 4242,
            gid: 4343,
            home: d.join("alice").display().to_string(),
        };
        assert_eq!(ensure_home(&acct, &skel).unwrap(), Home::Created);
        let h = Path::new(&acct.home);
        let m = fs::metadata(h).unwrap();
        assert_eq!(m.mode() & 0o777, 0o700);
        // Ownership needs root; the tests run as root in CI.
        if unsafe_is_root() {
            assert_eq!((m.uid(), m.gid()), (4242, 4343));
            assert_eq!(fs::metadata(h.join(".bashrc")).unwrap().uid(), 4242);
        }
        assert_eq!(fs::read_to_string(h.join(".config/x")).unwrap(), "y");
        assert!(fs::symlink_metadata(h.join("link"))
            .unwrap()
            .file_type()
            .is_symlink());
        fs::write(h.join(".bashrc"), "mine").unwrap();
        assert_eq!(ensure_home(&acct, &skel).unwrap(), Home::Existed);
        assert_eq!(fs::read_to_string(h.join(".bashrc")).unwrap(), "mine");
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn refuses_relative_and_dotdot_homes_and_leaves_symlinks_alone() {
        let d = scratch("badhome");
        for home in ["relative/x".to_owned(), format!("{}/a/../b", d.display())] {
            let acct = Account {
                uid: 1,
                gid: 1,
                home,
            };
            assert!(ensure_home(&acct, &d).is_err());
        }
        symlink("/etc", d.join("evil")).unwrap();
        let acct = Account {
            uid: 1,
            gid: 1,
            home: d.join("evil").display().to_string(),
        };
        assert_eq!(ensure_home(&acct, &d).unwrap(), Home::Existed);
        assert_ne!(fs::metadata("/etc").unwrap().mode() & 0o777, 0o700);
        let _ = fs::remove_dir_all(&d);
    }

    fn unsafe_is_root() -> bool {
        fs::metadata("/proc/self")
            .map(|m| m.uid() == 0)
            .unwrap_or(false)
    }
}
