//! Issue #12 end to end, every component real: `ward-ca serve --dev`, the
//! `ward` CLI, `ward-agent join`/`run`, pam_ward loaded by the real libpam
//! through `pamtester` under the stacks shipped in `packaging/pam/pam.d/`
//! (installed verbatim as `/etc/pam.d/{login,sudo,sshd}`, only the module
//! path made absolute), libnss_ward, and a stock `sshd` with the shipped
//! `packaging/sshd_config.d/ward-password.conf` (`UsePAM yes`,
//! keyboard-interactive) logged into with `sshpass`. (The real `sudo`
//! is run by `pam_finish.rs`.)
//!
//! The test re-runs itself inside a private mount namespace (`unshare
//! --mount`): a tmpfs over /run (the agent's socket at the path pam_ward
//! and libnss_ward use) and over /home (home directories created by the
//! session phase), and a private copy of /etc (passwd, shadow with a local
//! user's yescrypt hash, nsswitch.conf, the PAM stacks). Nothing outside
//! the namespace changes.
//!
//! Covered: a ward password login allowed; a wrong one refused, counted in
//! ward-ca's audit log, and throttled after repeated failures; `host:Sudo`
//! allowing and denying `sudo` (its session, where the target is known); an account denial with ward's
//! reason shown to the user; a reset-required password forcing
//! `chauthtok` in the same transaction, after which only the new password
//! works; the home directory created at the first session; sshd with
//! keyboard-interactive through PAM; ward-ca stopped → a user who logged
//! in before logs in offline, one disabled before the stop and one who
//! never logged in here are refused; ward-agent stopped → PAM fails closed
//! within its timeout (no hang) and a local user still logs in through
//! pam_unix, over PAM and over sshd.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/agent.rs"]
mod agent;
#[path = "support/harness.rs"]
mod harness;
#[path = "../../ca/tests/sshd/mod.rs"]
mod sshd;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use agent::{agent_join, s};
use harness::{check, json, ward, Daemon, Scratch, WARD};

const INNER: &str = "WARD_PAM_E2E_INNER";

/// Builds ward-agent, libnss_ward and pam_ward next to `ward` (ward-cli
/// depends on none of them).
fn build_host_side() -> (PathBuf, PathBuf, PathBuf) {
    static BUILT: Mutex<bool> = Mutex::new(false);
    let dir = Path::new(WARD).parent().unwrap().to_owned();
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !*built {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args([
            "build",
            "--quiet",
            "-p",
            "ward-agent",
            "-p",
            "nss_ward",
            "-p",
            "pam_ward",
        ])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
        if dir.file_name() == Some("release".as_ref()) {
            cmd.arg("--release");
        }
        assert!(
            cmd.status().unwrap().success(),
            "cargo build ward-agent nss_ward pam_ward"
        );
        *built = true;
    }
    (
        dir.join("ward-agent"),
        dir.join("libnss_ward.so"),
        dir.join("libpam_ward.so"),
    )
}

fn have_tools() -> bool {
    let ok = ["pamtester", "sshpass", "chpasswd"].iter().all(|t| {
        Command::new("sh")
            .args(["-c", &format!("command -v {t}")])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    });
    if !ok {
        assert!(
            std::env::var("WARD_REQUIRE_PAM").is_err(),
            "pamtester, sshpass or chpasswd is missing (WARD_REQUIRE_PAM is set)"
        );
        eprintln!(
            "skipping: pamtester, sshpass or chpasswd is missing (scripts/test installs them)"
        );
    }
    ok
}

/// True in the namespaced re-run; in the outer run, builds what the inner
/// run needs and re-runs `test` there.
fn in_namespace(test: &str) -> bool {
    if std::env::var_os(INNER).is_none() {
        if !have_tools() {
            return false;
        }
        build_host_side();
        harness::ward_ca();
    }
    match sshd::in_mount_namespace(test, INNER) {
        None => true,
        Some(text) => {
            for l in text
                .lines()
                .filter_map(|l| l.find("measured:").map(|i| &l[i..]))
            {
                eprintln!("{l}");
            }
            false
        }
    }
}

fn mount(args: &[&str]) {
    let out = Command::new("mount").args(args).output().unwrap();
    assert!(out.status.success(), "mount {args:?}: {}", sshd::text(&out));
}

/// A running `ward-agent run`, killed on drop.
struct Agent {
    child: Child,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent_cmd(bin: &Path, cfg: &Path, args: &[&str]) -> Output {
    Command::new(bin)
        .arg("--config")
        .arg(cfg)
        .args(args)
        .output()
        .unwrap()
}

/// Polls `f` every 50 ms until it is true (a hang guard, not a timing
/// assertion).
fn until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let t = Instant::now();
    while t.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// `pamtester [-I item]… SERVICE USER OPS…` with `input` (one line per
/// prompt) on stdin, under `timeout 30` (exit 124 would be a hang).
fn pamtester(service: &str, user: &str, ops: &[&str], items: &[&str], input: &[&str]) -> Output {
    let mut cmd = Command::new("timeout");
    cmd.args(["30", "pamtester", "-v"]);
    for i in items {
        cmd.args(["-I", i]);
    }
    cmd.arg(service).arg(user).args(ops);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut si = child.stdin.take().unwrap();
        for line in input {
            let _ = si.write_all(format!("{line}\n").as_bytes());
        }
    }
    let out = child.wait_with_output().unwrap();
    assert_ne!(
        out.status.code(),
        Some(124),
        "pamtester {service} {user} {ops:?} hung: {}",
        sshd::text(&out)
    );
    out
}

fn ok(out: &Output) -> bool {
    out.status.success()
}

/// `sshpass -p PW ssh -o PreferredAuthentications=keyboard-interactive
/// USER@127.0.0.1 echo ok` against `port`.
fn ssh_password(port: u16, user: &str, password: &str) -> Output {
    let mut cmd = Command::new("timeout");
    cmd.args(["60", "sshpass", "-p", password, "ssh", "-F", "/dev/null"]);
    for opt in [
        "PreferredAuthentications=keyboard-interactive",
        "PubkeyAuthentication=no",
        "UserKnownHostsFile=/dev/null",
        "GlobalKnownHostsFile=/dev/null",
        "StrictHostKeyChecking=no",
        "NumberOfPasswordPrompts=1",
        "ConnectTimeout=10",
        "ControlMaster=no",
        "ControlPath=none",
        "LogLevel=ERROR",
    ] {
        cmd.args(["-o", opt]);
    }
    cmd.args(["-p", &port.to_string()])
        .arg(format!("{user}@127.0.0.1"))
        .args(["echo", "ok"]);
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    assert_ne!(
        out.status.code(),
        Some(124),
        "ssh hung: {}",
        sshd::text(&out)
    );
    out
}

fn policy() -> String {
    // host:Login as oneself on any host tagged env=test (for members of
    // `ops`: gina, in no group, is denied).
    r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"host:Login","Resource":"arn:ward:host::*:host/*",
         "Condition":{"StringEquals":{"ward:ResourceTag/env":"test"},
                      "StringLike":{"host:Principal":"${ward:username}"}}}]}"#
        .to_owned()
}

/// host:Sudo to root (for members of `admins`).
fn sudo_policy() -> String {
    r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"host:Sudo","Resource":"arn:ward:host::*:host/*",
         "Condition":{"StringEquals":{"host:Principal":"root"}}}]}"#
        .to_owned()
}

const PW: &str = "Correct-Horse-Battery-42";
const LOCAL_PW: &str = "Local-Bob-Passw0rd-7";

#[test]
fn ward_passwords_and_decisions_at_every_pam_door() {
    if !in_namespace("ward_passwords_and_decisions_at_every_pam_door") {
        return;
    }
    sshd::ensure_sshd();
    let (agent_bin, nss_so, pam_so) = build_host_side();
    let dir = Scratch::new("pam-e2e");
    let home = dir.path("home");
    std::fs::create_dir_all(&home).unwrap();

    // --- The namespace: /run, /home, /etc (passwd, shadow, nsswitch, PAM).
    mount(&["-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/run"]);
    mount(&["-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/home"]);
    for d in ["/run/sshd", "/run/ward"] {
        std::fs::create_dir_all(d).unwrap();
    }
    let mut passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    passwd.push_str("localbob:x:1600:1600:local bob:/:/bin/sh\n");
    let mut group = std::fs::read_to_string("/etc/group").unwrap();
    group.push_str("localbob:x:1600:\n");
    let mut shadow = std::fs::read_to_string("/etc/shadow").unwrap();
    shadow.push_str("localbob:*:19000:0:99999:7:::\n");
    let pam_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/pam/pam.d");
    let stack = |name: &str| {
        std::fs::read_to_string(pam_dir.join(name))
            .unwrap()
            // The module's path, and (debug-built ward-ca hashing under
            // a loaded machine is slow) a longer timeout than the 3 s
            // default, above the agent's password_timeout_seconds below.
            .replace(" pam_ward.so", &format!(" {} timeout=30", s(&pam_so)))
    };
    let (login_stack, sudo_stack, sshd_stack) = (stack("login"), stack("sudo"), stack("sshd"));
    sshd::private_etc(
        &dir.0,
        &[
            ("passwd", &passwd),
            ("group", &group),
            ("shadow", &shadow),
            (
                "nsswitch.conf",
                "passwd: files ward\ngroup: files ward\nshadow: files\nhosts: files\n",
            ),
            ("pam.d/login", &login_stack),
            ("pam.d/sudo", &sudo_stack),
            ("pam.d/sshd", &sshd_stack),
        ],
    );
    // localbob's password, hashed with yescrypt by the system's own tool.
    let mut chpasswd = Command::new("chpasswd")
        .args(["-c", "YESCRYPT"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    chpasswd
        .stdin
        .take()
        .unwrap()
        .write_all(format!("localbob:{LOCAL_PW}\n").as_bytes())
        .unwrap();
    assert!(chpasswd.wait().unwrap().success());
    assert!(std::fs::read_to_string("/etc/shadow")
        .unwrap()
        .contains("localbob:$y$"));
    let lib = dir.path("lib");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::copy(&nss_so, lib.join("libnss_ward.so.2")).unwrap();
    std::env::set_var("LD_LIBRARY_PATH", &lib);

    // --- ward-ca: users, passwords, groups, policies.
    let ca = Daemon::start("pam-e2e");
    let root = ca.root_env();
    let h = home.as_path();
    let w = |args: &[&str]| check(h, &root, args, None, 0, &[], &[]);
    let w_in = |args: &[&str], input: &str| check(h, &root, args, Some(input), 0, &[], &[]);
    w(&["group", "create", "ops"]);
    w(&["group", "create", "admins"]);
    let doc = dir.write("login.json", &policy());
    w(&["policy", "create", "login", "--document", s(&doc)]);
    w(&["policy", "attach", "login", "--group", "ops"]);
    let doc = dir.write("sudo.json", &sudo_policy());
    w(&["policy", "create", "sudo", "--document", s(&doc)]);
    w(&["policy", "attach", "sudo", "--group", "admins"]);
    for name in ["alice", "bob", "carol", "dave", "erin", "frank", "gina"] {
        w(&["user", "create", name]);
        if name != "gina" {
            w(&["group", "add-user", "ops", name]);
        }
        let mut args = vec!["user", "set-password", name, "--password-stdin"];
        if name == "erin" {
            args.push("--reset-required");
        }
        w_in(&args, &format!("{PW}\n"));
    }
    w(&["group", "add-user", "admins", "alice"]);

    // --- Enrolment and the agent.
    let token = json(&w(&[
        "--output",
        "json",
        "host",
        "join-token",
        "web-01",
        "--tag",
        "env=test",
    ]))["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let ssh_dir = dir.path("ssh");
    std::fs::create_dir_all(&ssh_dir).unwrap();
    let state = dir.path("state");
    let cfg = dir.write(
        "agent.toml",
        &format!(
            "state_dir = {state:?}\nsocket = \"/run/ward/agent.sock\"\npoll_wait_seconds = 30\n\
             trusted_user_ca_keys_file = {tk:?}\nrevoked_keys_file = {krl:?}\n\
             ssh_host_key = {hk:?}\npasswd_file = \"/etc/passwd\"\ngroup_file = \"/etc/group\"\n\
             password_timeout_seconds = 20\n",
            state = s(&state),
            tk = s(&ssh_dir.join("ward_user_ca.pub")),
            krl = s(&ssh_dir.join("ward_revoked.krl")),
            hk = s(&ssh_dir.join("ssh_host_ed25519_key")),
        ),
    );
    agent_join(&agent_bin, &cfg, &ca, &token);
    let log = std::fs::File::create(dir.path("agent.log")).unwrap();
    let agent = Agent {
        child: Command::new(&agent_bin)
            .arg("--config")
            .arg(&cfg)
            .arg("run")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    };
    let status =
        || String::from_utf8_lossy(&agent_cmd(&agent_bin, &cfg, &["status"]).stdout).into_owned();
    assert!(
        until(Duration::from_secs(30), || status()
            .contains("sync:          online")),
        "the agent never came online: {}\n{}",
        status(),
        std::fs::read_to_string(dir.path("agent.log")).unwrap_or_default()
    );

    // --- Password logins through the shipped `login` stack.
    let out = pamtester("login", "alice", &["authenticate", "acct_mgmt"], &[], &[PW]);
    assert!(ok(&out), "alice, right password: {}", sshd::text(&out));
    let out = pamtester(
        "login",
        "alice",
        &["authenticate"],
        &[],
        &["wrong-password-1"],
    );
    assert!(!ok(&out), "alice, wrong password: {}", sshd::text(&out));
    assert!(
        sshd::text(&out).contains("Authentication failure"),
        "{}",
        sshd::text(&out)
    );
    // The failure is in ward-ca's audit log: host:VerifyPassword by the
    // host, decision Failed, with the host, service and result.
    let failures = |user: &str| -> usize {
        let out = ward(
            h,
            &root,
            &[
                "--output",
                "json",
                "audit",
                "list",
                "--action",
                "host:VerifyPassword",
                "--all",
            ],
            None,
        );
        let v = json(&String::from_utf8_lossy(&out.stdout));
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| {
                e["decision"] == "Failed"
                    && e["detail"]["user"] == user
                    && e["detail"]["host"] == "web-01"
                    && e["detail"]["service"] == "login"
                    && e["detail"]["result"] == "wrong"
            })
            .count()
    };
    assert_eq!(
        failures("alice"),
        1,
        "the wrong password is not counted once"
    );
    assert!(
        !String::from_utf8_lossy(
            &ward(
                h,
                &root,
                &["--output", "json", "audit", "list", "--all"],
                None
            )
            .stdout
        )
        .contains("wrong-password-1"),
        "a password reached the audit log"
    );

    // Throttled: carol's wrong passwords until ward refuses to check.
    let mut throttled = false;
    for i in 0..30 {
        let out = pamtester(
            "login",
            "carol",
            &["authenticate"],
            &[],
            &[&format!("nope-{i}")],
        );
        assert!(!ok(&out));
        let t = sshd::text(&out);
        if t.contains("Have exhausted maximum number of retries") || t.contains("too many") {
            throttled = true;
            break;
        }
    }
    assert!(throttled, "carol was never throttled");
    // Now even the right password is refused for carol (throttled), while
    // alice is unaffected (per-user throttle, not per host).
    let out = pamtester("login", "carol", &["authenticate"], &[], &[PW]);
    assert!(!ok(&out), "a throttled user got in: {}", sshd::text(&out));
    let out = pamtester("login", "alice", &["authenticate"], &[], &[PW]);
    assert!(
        ok(&out),
        "alice throttled by carol's failures: {}",
        sshd::text(&out)
    );

    // --- Account: denial with the reason shown to the user.
    let out = pamtester("login", "gina", &["acct_mgmt"], &[], &[]);
    assert!(!ok(&out), "gina has no host:Login");
    assert!(
        sshd::text(&out).contains("no statement allows host:Login"),
        "the reason is not shown: {}",
        sshd::text(&out)
    );

    // --- sudo, as the real sudo calls PAM (pam_finish.rs runs sudo
    // itself): account with PAM_USER = PAM_RUSER = the invoking user (no
    // target yet: a pre-check), then the session with PAM_USER = the
    // target, where host:Sudo is decided.
    let out = pamtester("sudo", "alice", &["acct_mgmt"], &["ruser=alice"], &[]);
    assert!(ok(&out), "alice's sudo pre-check: {}", sshd::text(&out));
    let out = pamtester("sudo", "root", &["open_session"], &["ruser=alice"], &[]);
    assert!(ok(&out), "alice may sudo to root: {}", sshd::text(&out));
    let out = pamtester("sudo", "bob", &["open_session"], &["ruser=alice"], &[]);
    assert!(!ok(&out), "alice may not sudo to bob: {}", sshd::text(&out));
    let out = pamtester("sudo", "root", &["open_session"], &["ruser=bob"], &[]);
    assert!(!ok(&out), "bob has no host:Sudo: {}", sshd::text(&out));
    assert!(
        sshd::text(&out).contains("host:Sudo"),
        "{}",
        sshd::text(&out)
    );
    // A local invoking user is pam_unix's business.
    let out = pamtester("sudo", "localbob", &["acct_mgmt"], &["ruser=localbob"], &[]);
    assert!(ok(&out), "a local sudoer: {}", sshd::text(&out));
    let out = pamtester("sudo", "root", &["open_session"], &["ruser=localbob"], &[]);
    assert!(ok(&out), "a local sudoer's session: {}", sshd::text(&out));

    // --- Reset required: authenticate succeeds, acct_mgmt demands a new
    // password, chauthtok changes it (old one taken from authenticate).
    let out = pamtester("login", "erin", &["authenticate", "acct_mgmt"], &[], &[PW]);
    assert!(!ok(&out), "erin must change her password first");
    assert!(
        sshd::text(&out).contains("new authentication token is required")
            || sshd::text(&out).contains("must change"),
        "{}",
        sshd::text(&out)
    );
    // pamtester stops at acct_mgmt's PAM_NEW_AUTHTOK_REQD; the change is a
    // chauthtok of its own, as login(1) runs it after that code.
    const NEW_PW: &str = "Quartz-Meadow-Violin-58";
    let out = pamtester("login", "erin", &["chauthtok"], &[], &[PW, NEW_PW, NEW_PW]);
    assert!(
        ok(&out),
        "erin's change: {}\nagent log:\n{}",
        sshd::text(&out),
        std::fs::read_to_string(dir.path("agent.log")).unwrap_or_default()
    );
    let out = pamtester(
        "login",
        "erin",
        &["authenticate", "acct_mgmt"],
        &[],
        &[NEW_PW],
    );
    assert!(ok(&out), "erin with her new password: {}", sshd::text(&out));
    let out = pamtester("login", "erin", &["authenticate"], &[], &[PW]);
    assert!(!ok(&out), "erin's old password still works");
    // A change refused by the password policy shows ward's message.
    let out = pamtester("login", "erin", &["chauthtok"], &[], &[NEW_PW, "x", "x"]);
    assert!(!ok(&out));
    assert!(
        sshd::text(&out).contains("at least"),
        "ward's policy message is not shown: {}",
        sshd::text(&out)
    );

    // --- Session: the home directory at the first session.
    assert!(!Path::new("/home/alice").exists());
    let out = pamtester(
        "login",
        "alice",
        &["open_session", "close_session"],
        &[],
        &[],
    );
    assert!(ok(&out), "{}", sshd::text(&out));
    let meta = std::fs::metadata("/home/alice").unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(meta.mode() & 0o777, 0o700);
    let uid = json(&w(&["--output", "json", "user", "get", "alice"]))["posix"]["uid"]
        .as_u64()
        .unwrap();
    assert_eq!(u64::from(meta.uid()), uid);
    // The session's opening and closing reach ward-ca's audit log (host
    // events, delivered from the agent's spool: wait for them).
    let session_events = |action: &str| -> usize {
        let out = ward(
            h,
            &root,
            &[
                "--output", "json", "audit", "list", "--action", action, "--all",
            ],
            None,
        );
        let v = json(&String::from_utf8_lossy(&out.stdout));
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| {
                e["detail"]["user"] == "alice"
                    && e["detail"]["service"] == "login"
                    && e["principal"]
                        .as_str()
                        .is_some_and(|p| p.ends_with(":host/web-01"))
            })
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while (session_events("pam_ward:OpenSession") == 0
        || session_events("pam_ward:CloseSession") == 0)
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        session_events("pam_ward:OpenSession"),
        1,
        "session open not audited once"
    );
    assert_eq!(
        session_events("pam_ward:CloseSession"),
        1,
        "session close not audited once"
    );

    // --- sshd, UsePAM, keyboard-interactive (the shipped snippet).
    let server = {
        let shipped = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../packaging/sshd_config.d/ward-password.conf"),
        )
        .unwrap();
        let mut extras = shipped
            .replace(
                "/usr/sbin/ward-agent ",
                &format!("{} --config {} ", s(&agent_bin), s(&cfg)),
            )
            .replace("/etc/ssh/", &format!("{}/", s(&ssh_dir)));
        assert!(!extras.contains("/etc/"), "{extras}");
        extras.push_str(&format!(
            "HostKey {}\nAuthorizedPrincipalsFile none\nAuthorizedKeysFile none\nPermitRootLogin no\n",
            s(&ssh_dir.join("ssh_host_ed25519_key")),
        ));
        sshd::Sshd::setup().start(&extras)
    };
    let out = ssh_password(server.port(), "alice", PW);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ok\n",
        "{}\n{}",
        sshd::text(&out),
        server.log()
    );
    let out = ssh_password(server.port(), "alice", "wrong-password-2");
    assert_ne!(String::from_utf8_lossy(&out.stdout), "ok\n");
    let out = ssh_password(server.port(), "gina", PW);
    assert_ne!(
        String::from_utf8_lossy(&out.stdout),
        "ok\n",
        "gina over ssh"
    );
    let out = ssh_password(server.port(), "localbob", LOCAL_PW);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ok\n",
        "localbob over ssh: {}\n{}",
        sshd::text(&out),
        server.log()
    );

    // --- dave disabled while ward-ca is up; then ward-ca goes away.
    let out = pamtester("login", "dave", &["authenticate"], &[], &[PW]);
    assert!(ok(&out), "dave before: {}", sshd::text(&out));
    w(&["user", "disable", "dave"]);
    assert!(until(Duration::from_secs(30), || !ok(&pamtester(
        "login",
        "dave",
        &["authenticate", "acct_mgmt"],
        &[],
        &[PW]
    ))));
    // alice's last online login (a wrong password online drops the
    // agent's verifier: it may mean the password changed elsewhere).
    let out = pamtester("login", "alice", &["authenticate"], &[], &[PW]);
    assert!(ok(&out), "alice online: {}", sshd::text(&out));
    drop(ca);
    assert!(
        until(Duration::from_secs(60), || status()
            .contains("sync:          offline")),
        "{}",
        status()
    );
    let out = pamtester("login", "alice", &["authenticate", "acct_mgmt"], &[], &[PW]);
    assert!(
        ok(&out),
        "alice offline: {}\nagent log:\n{}",
        sshd::text(&out),
        std::fs::read_to_string(dir.path("agent.log")).unwrap_or_default()
    );
    let out = pamtester("login", "alice", &["authenticate"], &[], &["wrong-offline"]);
    assert!(!ok(&out), "a wrong password offline");
    let out = pamtester("login", "dave", &["authenticate", "acct_mgmt"], &[], &[PW]);
    assert!(!ok(&out), "dave was disabled before the outage");
    // frank never logged in on this host: no verifier, no offline login.
    let out = pamtester("login", "frank", &["authenticate"], &[], &[PW]);
    assert!(!ok(&out), "frank never logged in online here");
    let out = ssh_password(server.port(), "alice", PW);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ok\n",
        "alice offline over ssh"
    );

    // --- ward-agent goes away: ward users fail closed within the
    // timeout; the local user still logs in through pam_unix.
    drop(agent);
    let out = pamtester("login", "alice", &["authenticate"], &[], &[PW]);
    assert!(!ok(&out), "a ward login without the agent");
    assert!(
        sshd::text(&out).contains("Authentication service cannot retrieve authentication info"),
        "{}",
        sshd::text(&out)
    );
    let out = pamtester(
        "login",
        "localbob",
        &["authenticate", "acct_mgmt"],
        &[],
        &[LOCAL_PW],
    );
    assert!(ok(&out), "localbob through pam_unix: {}", sshd::text(&out));
    let out = pamtester("login", "localbob", &["authenticate"], &[], &["not-his"]);
    assert!(!ok(&out), "localbob with a wrong password");
    let out = ssh_password(server.port(), "localbob", LOCAL_PW);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ok\n",
        "localbob over ssh without the agent: {}\n{}",
        sshd::text(&out),
        server.log()
    );
}
