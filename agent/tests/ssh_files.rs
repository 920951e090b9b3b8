//! sshd's files: the KRL the agent writes is read by the real
//! `ssh-keygen -Q`, files are replaced by rename only when their content
//! changes, and no temporary file is left behind.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::os::unix::fs::MetadataExt;
use std::process::Command;

use common::{names, ssh_keygen, TempDir};
use ward_agent::files::SshFiles;

/// Makes a user CA and two certificates (serials 42 and 43) with
/// ssh-keygen; returns the CA public key line.
fn ca_and_certs(dir: &TempDir) -> String {
    let p = |n: &str| dir.join(n).to_str().unwrap().to_string();
    ssh_keygen(&["-q", "-t", "ed25519", "-N", "", "-C", "ca", "-f", &p("ca")]);
    for (name, serial) in [("u42", "42"), ("u43", "43")] {
        ssh_keygen(&["-q", "-t", "ed25519", "-N", "", "-f", &p(name)]);
        ssh_keygen(&[
            "-q",
            "-s",
            &p("ca"),
            "-I",
            "AIDATEST",
            "-n",
            "alice",
            "-z",
            serial,
            &format!("{}.pub", p(name)),
        ]);
    }
    std::fs::read_to_string(dir.join("ca.pub"))
        .unwrap()
        .trim()
        .to_string()
}

/// `ssh-keygen -Q -f KRL FILE`: true if revoked.
fn revoked(krl: &std::path::Path, cert: &std::path::Path) -> bool {
    let out = Command::new("ssh-keygen")
        .arg("-Q")
        .arg("-f")
        .arg(krl)
        .arg(cert)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    match out.status.code() {
        Some(0) => {
            assert!(text.contains("ok"), "{text}");
            false
        }
        Some(1) => {
            assert!(text.contains("REVOKED"), "{text}");
            true
        }
        other => panic!(
            "ssh-keygen -Q: {other:?} {text} {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

#[test]
fn ssh_keygen_reads_the_krl_and_sees_the_revoked_serial() {
    let dir = TempDir::new("krl");
    let ca = ca_and_certs(&dir);
    let out = TempDir::new("krl-out");
    let files = SshFiles {
        trusted_user_ca_keys: out.join("ward_user_ca.pub"),
        revoked_keys: out.join("ward_revoked.krl"),
    };
    let u = files
        .update(&[ca.clone(), "not a key".into()], &[42, 7, 0])
        .unwrap();
    assert!(u.ca_keys && u.krl);
    assert_eq!(u.skipped.len(), 1);
    assert_eq!(
        std::fs::read_to_string(&files.trusted_user_ca_keys).unwrap(),
        format!("{ca}\n")
    );
    assert!(revoked(&files.revoked_keys, &dir.join("u42-cert.pub")));
    assert!(!revoked(&files.revoked_keys, &dir.join("u43-cert.pub")));

    // Revoking 43 as well: a new file (a rename: the inode changes).
    let before = std::fs::metadata(&files.revoked_keys).unwrap().ino();
    let u = files.update(std::slice::from_ref(&ca), &[42, 43]).unwrap();
    assert!(u.krl && !u.ca_keys, "{u:?}");
    assert_ne!(
        std::fs::metadata(&files.revoked_keys).unwrap().ino(),
        before
    );
    assert!(revoked(&files.revoked_keys, &dir.join("u43-cert.pub")));

    // Same content (other order): nothing is rewritten.
    let ino = std::fs::metadata(&files.revoked_keys).unwrap().ino();
    let ca_ino = std::fs::metadata(&files.trusted_user_ca_keys)
        .unwrap()
        .ino();
    let u = files.update(&[ca], &[43, 42]).unwrap();
    assert!(!u.krl && !u.ca_keys);
    assert_eq!(std::fs::metadata(&files.revoked_keys).unwrap().ino(), ino);
    assert_eq!(
        std::fs::metadata(&files.trusted_user_ca_keys)
            .unwrap()
            .ino(),
        ca_ino
    );

    // Only the two files, no temporaries.
    assert_eq!(names(out.path()), ["ward_revoked.krl", "ward_user_ca.pub"]);
}

#[test]
fn an_empty_revocation_list_is_a_valid_krl() {
    let dir = TempDir::new("krl-empty");
    let ca = ca_and_certs(&dir);
    let files = SshFiles {
        trusted_user_ca_keys: dir.join("ca_keys"),
        revoked_keys: dir.join("empty.krl"),
    };
    files.update(&[ca], &[]).unwrap();
    assert!(!revoked(&files.revoked_keys, &dir.join("u42-cert.pub")));
}

#[test]
fn a_failed_write_leaves_the_old_file_and_no_temporary() {
    let dir = TempDir::new("atomic");
    let target = dir.join("f");
    ward_agent::files::write_atomic(&target, b"old", 0o644).unwrap();
    assert_eq!(std::fs::metadata(&target).unwrap().mode() & 0o777, 0o644);
    // The target is a directory now: the rename fails after the temporary
    // was written; the temporary is removed.
    let dir_target = dir.join("d");
    std::fs::create_dir(&dir_target).unwrap();
    std::fs::write(dir_target.join("x"), b"keep").unwrap();
    assert!(ward_agent::files::write_atomic(&dir_target, b"new", 0o600).is_err());
    assert_eq!(names(dir.path()), ["d", "f"]);
    assert_eq!(std::fs::read(&target).unwrap(), b"old");
    ward_agent::files::write_atomic(&target, b"new", 0o600).unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"new");
    assert_eq!(std::fs::metadata(&target).unwrap().mode() & 0o777, 0o600);
    assert_eq!(names(dir.path()), ["d", "f"]);
}
