//! pam_ward.so loaded by the real libpam through `pamtester`, under a PAM
//! service file of its own (`/etc/pam.d/ward-test-PID-N`, removed on
//! drop; the machine's own stacks are never touched). These cover what
//! needs no agent: the module fails closed when the agent is absent or
//! stalls, lets local accounts through, and survives hostile items.
//! Decisions by a running agent are covered by the host end-to-end tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

static N: AtomicUsize = AtomicUsize::new(0);

/// The cdylib cargo built beside this test binary: `target/*/deps/` in a
/// fresh build (what CI has), `target/*/` after a `cargo build`.
fn module() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let cands = [deps.join("libpam_ward.so"), deps.join("../libpam_ward.so")];
    for so in &cands {
        if so.exists() {
            return so.clone();
        }
    }
    panic!("libpam_ward.so missing: looked at {cands:?}");
}

fn have_pamtester() -> bool {
    if Command::new("pamtester").arg("--version").output().is_ok() {
        return true;
    }
    assert!(
        std::env::var("WARD_REQUIRE_PAM").is_err(),
        "pamtester is missing (WARD_REQUIRE_PAM is set)"
    );
    eprintln!("skipping: pamtester is not installed (scripts/test installs it)");
    false
}

/// A PAM service file of the test's own.
struct Service {
    name: String,
    path: PathBuf,
    dir: PathBuf,
}

impl Service {
    fn new(account_args: &str) -> Service {
        let n = N.fetch_add(1, Ordering::SeqCst);
        let name = format!("ward-test-{}-{n}", std::process::id());
        let dir = std::env::temp_dir().join(&name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = Path::new("/etc/pam.d").join(&name);
        let text = format!(
            "# pam_ward test stack (removed when the test ends)\n\
             auth     required pam_permit.so\n\
             account  [success=ok ignore=ignore default=die] {} {account_args}\n\
             account  required pam_permit.so\n",
            module().display()
        );
        std::fs::write(&path, text).unwrap();
        Service { name, path, dir }
    }

    fn acct(&self, user: &str, items: &[&str]) -> Output {
        let mut c = Command::new("timeout");
        c.args(["20", "pamtester", "-v"]);
        for i in items {
            c.args(["-I", i]);
        }
        c.args([self.name.as_str(), user, "acct_mgmt"]);
        c.output().unwrap()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn an_absent_agent_denies_ward_users_and_passes_local_ones() {
    if !have_pamtester() {
        return;
    }
    let s = Service::new(&format!(
        "socket={}/absent.sock timeout=1 ignore_unknown_user",
        std::env::temp_dir().join("nowhere").display()
    ));
    // Not a local account: ward might know it, so it is denied.
    let out = s.acct("ward-nobody-xyz", &[]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("Authentication service cannot retrieve authentication info"),
        "{}",
        text(&out)
    );
    // A local account (root is in every /etc/passwd): ignored by pam_ward,
    // permitted by the next module.
    let out = s.acct("root", &[]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn a_stalled_agent_cannot_hang_the_login() {
    if !have_pamtester() {
        return;
    }
    let s = Service::new("");
    let sock = s.dir.join("stall.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    // Accepts, reads the request, never answers.
    let stall = std::thread::spawn(move || {
        if let Ok((mut c, _)) = listener.accept() {
            let mut buf = [0u8; 64];
            let _ = c.read(&mut buf);
            std::thread::sleep(std::time::Duration::from_secs(5));
            let _ = c.write_all(b"");
        }
    });
    std::fs::write(
        &s.path,
        format!(
            "account [success=ok ignore=ignore default=die] {} socket={} timeout=1\naccount required pam_permit.so\n",
            module().display(),
            sock.display()
        ),
    )
    .unwrap();
    let out = s.acct("ward-nobody-xyz", &[]);
    // `timeout 20` would have killed a hung pamtester (exit 124); the
    // module gave up on its own and denied.
    assert_ne!(out.status.code(), Some(124), "pamtester hung");
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("Authentication service cannot retrieve authentication info"),
        "{}",
        text(&out)
    );
    stall.join().unwrap();
}

#[test]
fn hostile_items_are_refused_without_crashing_the_host() {
    if !have_pamtester() {
        return;
    }
    let s = Service::new(&format!("socket={}/absent.sock timeout=1", s_dir()));
    let long = "a".repeat(5000);
    for (user, items) in [
        ("al\x01ice", vec![]),
        (long.as_str(), vec![]),
        ("../../etc/passwd", vec!["rhost=\x1b[31mevil"]),
        ("alice", vec!["rhost=1.2.3.4\n5.6.7.8"]),
    ] {
        let out = s.acct(user, &items);
        // Denied (or refused by libpam itself) — a crash of pamtester
        // would be a signal, not an exit code.
        assert!(
            out.status.code().is_some(),
            "pamtester died: {}",
            text(&out)
        );
        assert!(!out.status.success(), "{user:?} {items:?}: {}", text(&out));
    }
}

/// pamtester `authenticate` with `password` on stdin.
fn auth(service: &str, user: &str, password: &str) -> Output {
    use std::process::Stdio;
    let mut c = Command::new("timeout")
        .args(["20", "pamtester", "-v", service, user, "authenticate"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = c
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes());
    c.wait_with_output().unwrap()
}

#[test]
fn password_logins_fail_closed_without_an_agent_and_local_users_go_on() {
    if !have_pamtester() {
        return;
    }
    let s = Service::new("");
    std::fs::write(
        &s.path,
        format!(
            "auth [success=done new_authtok_reqd=done user_unknown=ignore ignore=ignore default=die] {} socket={}/absent.sock timeout=1\n\
             auth required pam_permit.so\n",
            module().display(),
            s_dir()
        ),
    )
    .unwrap();
    let out = auth(&s.name, "ward-nobody-xyz", "secret");
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("Authentication service cannot retrieve authentication info"),
        "{}",
        text(&out)
    );
    // root is local: pam_ward answers "unknown", the next module decides.
    let out = auth(&s.name, "root", "secret");
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn a_stalled_agent_cannot_hang_a_password_login() {
    if !have_pamtester() {
        return;
    }
    let s = Service::new("");
    let sock = s.dir.join("stall.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let stall = std::thread::spawn(move || {
        if let Ok((mut c, _)) = listener.accept() {
            let mut buf = [0u8; 64];
            let _ = c.read(&mut buf);
            std::thread::sleep(std::time::Duration::from_secs(5));
        }
    });
    std::fs::write(
        &s.path,
        format!(
            "auth [success=done user_unknown=ignore ignore=ignore default=die] {} socket={} timeout=1\n\
             auth required pam_permit.so\n",
            module().display(),
            sock.display()
        ),
    )
    .unwrap();
    let out = auth(&s.name, "ward-nobody-xyz", "secret");
    assert_ne!(out.status.code(), Some(124), "pamtester hung");
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("Authentication service cannot retrieve authentication info"),
        "{}",
        text(&out)
    );
    stall.join().unwrap();
}

fn s_dir() -> String {
    std::env::temp_dir().join("nowhere").display().to_string()
}

#[test]
fn the_module_exports_every_pam_entry_point() {
    let out = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(module())
        .output();
    let Ok(out) = out else {
        eprintln!("skipping: nm is not installed");
        return;
    };
    let syms = String::from_utf8_lossy(&out.stdout);
    for f in [
        "pam_sm_authenticate",
        "pam_sm_setcred",
        "pam_sm_acct_mgmt",
        "pam_sm_open_session",
        "pam_sm_close_session",
        "pam_sm_chauthtok",
    ] {
        assert!(syms.contains(f), "{f} is not exported");
    }
}
