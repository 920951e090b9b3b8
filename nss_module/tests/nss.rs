//! libnss_ward.so.2 loaded by real glibc programs (`getent`, `id`) against
//! the real agent server (`ward_agent::server::serve`, in process), inside
//! a private mount namespace: a tmpfs over /run holds /run/ward/agent.sock,
//! and test copies of nsswitch.conf (`passwd: files ward`), /etc/passwd and
//! /etc/group are bind-mounted over the machine's — which are never
//! changed. The test re-runs itself under `unshare --mount`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../ca/tests/sshd/mod.rs"]
mod sshd;
#[path = "../../agent/tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use support::*;
use ward_protocol::host::Snapshot;

const INNER: &str = "WARD_NSS_E2E_INNER";

fn sh(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A generous bound: a hung lookup fails the test instead of hanging it.
    for _ in 0..600 {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("{cmd:?} did not return within 30 s");
}

fn mount(args: &[&str]) {
    let out = sh(Command::new("mount").args(args));
    assert!(out.status.success(), "mount {args:?}: {out:?}");
}

/// The cdylib cargo built for this test (target/*/deps/libnss_ward.so).
fn cdylib() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    for cand in [deps.join("libnss_ward.so"), deps.join("../libnss_ward.so")] {
        if cand.exists() {
            return cand;
        }
    }
    panic!("libnss_ward.so not found next to {exe:?}");
}

struct Env {
    dir: TempDir,
    lib: PathBuf,
}

impl Env {
    fn run(&self, args: &[&str]) -> Output {
        sh(Command::new(args[0])
            .args(&args[1..])
            .env("LD_LIBRARY_PATH", &self.lib))
    }
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    }
}

/// Mounts the test files over /run and /etc in this (private) namespace.
fn setup() -> Env {
    let dir = TempDir::new("ward-nss-e2e");
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let lib = dir.path().join("lib");
    std::fs::create_dir(&lib).unwrap();
    std::fs::copy(cdylib(), lib.join("libnss_ward.so.2")).unwrap();
    let mut passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    // A local account that shares a name with a ward user.
    passwd.push_str("carol:x:5555:5555:local carol:/home/carol:/bin/sh\n");
    let mut group = std::fs::read_to_string("/etc/group").unwrap();
    group.push_str("carol:x:5555:\n");
    mount(&["-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/run"]);
    sshd::private_etc(
        dir.path(),
        &[
            ("passwd", &passwd),
            ("group", &group),
            (
                "nsswitch.conf",
                "passwd: files ward\ngroup: files ward\nshadow: files\nhosts: files\n",
            ),
        ],
    );
    Env { dir, lib }
}

fn snapshot() -> Snapshot {
    let mut s = base_snapshot();
    s.users[1].groups = vec!["ops".into()];
    s.users
        .push(user("AIDACAROL00000000003", "carol", 200002, &["ops"]));
    s
}

#[test]
fn getent_and_id_answer_for_ward_users_and_local_entries_win() {
    if sshd::in_mount_namespace(
        "getent_and_id_answer_for_ward_users_and_local_entries_win",
        INNER,
    )
    .is_some()
    {
        return;
    }
    let env = setup();
    let (sh_, _) = shared(Some(snapshot()), now(), 3600);
    let mut srv = start(
        sh_,
        ward_agent::server::ServerOptions {
            socket: "/run/ward/agent.sock".into(),
            passwd_file: "/etc/passwd".into(),
            group_file: "/etc/group".into(),
            ..ward_agent::server::ServerOptions::default()
        },
    );
    let alice = "alice:*:200000:200000:alice via ward:/home/alice:/bin/sh\n";
    assert_eq!(env.ok(&["getent", "passwd", "alice"]), alice);
    assert_eq!(env.ok(&["getent", "passwd", "200000"]), alice);
    assert_eq!(
        env.ok(&["getent", "group", "ops"]),
        "ops:*:200010:alice,bob\n"
    );
    assert_eq!(env.ok(&["getent", "group", "200000"]), "alice:*:200000:\n");
    assert_eq!(
        env.ok(&["id", "alice"]),
        "uid=200000(alice) gid=200000(alice) groups=200000(alice),200010(ops)\n"
    );
    // The local carol wins by name; ward's carol (uid 200002) is not served
    // by id either, and is not a member of ops.
    assert_eq!(
        env.ok(&["getent", "passwd", "carol"]),
        "carol:x:5555:5555:local carol:/home/carol:/bin/sh\n"
    );
    assert_eq!(
        env.run(&["getent", "passwd", "200002"]).status.code(),
        Some(2)
    );
    // Enumeration: files then ward, with no duplicate names.
    let all = env.ok(&["getent", "passwd"]);
    assert!(all.contains(alice), "{all}");
    assert!(all.contains("bob:*:200001:"), "{all}");
    assert!(!all.contains(":200002:"), "{all}");
    assert_eq!(all.lines().filter(|l| l.starts_with("carol:")).count(), 1);
    let groups = env.ok(&["getent", "group"]);
    assert!(groups.contains("ops:*:200010:alice,bob\n"), "{groups}");
    // Lookups are for anyone: as nobody.
    let out = env.run(&[
        "setpriv",
        "--reuid",
        "65534",
        "--regid",
        "65534",
        "--clear-groups",
        "getent",
        "passwd",
        "alice",
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), alice, "{out:?}");
    // Unknown names are NOTFOUND (exit 2), quickly.
    assert_eq!(
        env.run(&["getent", "passwd", "mallory"]).status.code(),
        Some(2)
    );

    // The agent stops: ward lookups return (UNAVAIL -> exit 2, nothing
    // printed), local ones still work.
    srv.stop();
    assert!(!Path::new("/run/ward/agent.sock").exists());
    let out = env.run(&["getent", "passwd", "alice"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty());
    assert!(env
        .ok(&["getent", "passwd", "root"])
        .starts_with("root:x:0:0:"));
    assert!(env.ok(&["id", "root"]).starts_with("uid=0(root)"));

    // A socket whose owner never answers (a stalled agent): lookups still
    // return (after the module's 1 s timeout), empty-handed.
    let l = std::os::unix::net::UnixListener::bind("/run/ward/agent.sock").unwrap();
    let out = env.run(&["getent", "passwd", "alice"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty());
    drop(l);
    drop(env.dir);
}
