//! Issue #12, the last items, every component real: `ward-ca serve
//! --dev`, the `ward` CLI, `ward-agent join`/`run`, pam_ward loaded by the
//! real libpam (`pamtester`) and by the real `sudo`, under the stacks
//! shipped in `packaging/pam/pam.d/` (module path made absolute).
//!
//! Each test re-runs itself inside a private mount namespace (`unshare
//! --mount`, as `pam_e2e.rs`): a tmpfs over /run (the agent's socket at
//! the path pam_ward uses) and a private copy of /etc (passwd, sudoers,
//! the `ward-test-*` PAM services). Nothing outside changes.
//!
//! - **An answered decision survives the agent's death**: the agent
//!   answers once the decision's audit event is written to its spool
//!   (the fsync follows in a group commit); SIGKILLed right after the
//!   answer, the event is in the spool file and reaches ward-ca after a
//!   restart.
//! - **sudo**: the account stage knows only the invoking user; pam_ward
//!   decides `host:Sudo` to the target user when sudo opens the session,
//!   and a denial there makes sudo refuse the command.
//! - **A ward-ca that accepts and never answers**: the online password
//!   check times out, the agent falls back to its offline verifier, PAM
//!   answers, and the agent keeps no thread or descriptor for it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/agent.rs"]
mod agent;
#[path = "support/harness.rs"]
mod harness;
#[path = "../../ca/tests/sshd/mod.rs"]
mod sshd;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agent::{agent_join, s};
use harness::{check, json, ward, Daemon, Scratch, WARD};

const INNER: &str = "WARD_PAM_FINISH_INNER";
const PW: &str = "Correct-Horse-Battery-42";

/// Builds ward-agent and pam_ward next to `ward` (ward-cli depends on
/// neither).
fn build_host_side() -> (PathBuf, PathBuf) {
    static BUILT: Mutex<bool> = Mutex::new(false);
    let dir = Path::new(WARD).parent().unwrap().to_owned();
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !*built {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "--quiet", "-p", "ward-agent", "-p", "pam_ward"])
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
        if dir.file_name() == Some("release".as_ref()) {
            cmd.arg("--release");
        }
        assert!(
            cmd.status().unwrap().success(),
            "cargo build ward-agent pam_ward"
        );
        *built = true;
    }
    (dir.join("ward-agent"), dir.join("libpam_ward.so"))
}

fn have(tools: &[&str]) -> bool {
    let ok = tools.iter().all(|t| {
        Command::new("sh")
            .args(["-c", &format!("command -v {t}")])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    });
    if !ok {
        assert!(
            std::env::var("WARD_REQUIRE_PAM").is_err(),
            "one of {tools:?} is missing (WARD_REQUIRE_PAM is set)"
        );
        eprintln!("skipping: one of {tools:?} is missing (scripts/test installs them)");
    }
    ok
}

/// True in the namespaced re-run; in the outer run, builds what the inner
/// run needs and re-runs `test` there.
fn in_namespace(test: &str, tools: &[&str]) -> bool {
    if std::env::var_os(INNER).is_none() {
        if !have(tools) {
            return false;
        }
        build_host_side();
        harness::ward_ca();
    }
    sshd::in_mount_namespace(test, INNER).is_none()
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

/// `pamtester -v SERVICE USER OPS…` with `input` (one line per prompt)
/// on stdin, under `timeout 60` (exit 124 would be a hang).
fn pamtester(service: &str, user: &str, ops: &[&str], input: &[&str]) -> Output {
    let mut child = Command::new("timeout")
        .args(["60", "pamtester", "-v", service, user])
        .args(ops)
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

fn kill(pid: u32, signal: &str) {
    let out = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "kill -{signal}: {}", sshd::text(&out));
}

/// The shipped stack `name`, pam_ward at `so` with `args`.
fn shipped_stack(name: &str, so: &Path, args: &str) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/pam/pam.d");
    let text = std::fs::read_to_string(dir.join(name)).unwrap();
    assert!(text.contains(" pam_ward.so"), "{name}");
    text.replace(" pam_ward.so", &format!(" {} {args}", s(so)))
}

/// host:Login as oneself (members of `ops`); host:Sudo to root only
/// (members of `admins`).
const LOGIN: &str = r#"{"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Action":"host:Login","Resource":"arn:ward:host::*:host/*",
     "Condition":{"StringLike":{"host:Principal":"${ward:username}"}}}]}"#;
const SUDO: &str = r#"{"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Action":"host:Sudo","Resource":"arn:ward:host::*:host/*",
     "Condition":{"StringEquals":{"host:Principal":"root"}}}]}"#;

/// A namespace with ward-ca (users alice, bob, carol with password [`PW`];
/// all in `ops`, alice in `admins`) and an enrolled, running agent.
struct Host {
    dir: Scratch,
    ca: Daemon,
    agent_bin: PathBuf,
    cfg: PathBuf,
    state: PathBuf,
    agent: Option<Child>,
}

impl Drop for Host {
    fn drop(&mut self) {
        self.kill_agent();
    }
}

impl Host {
    /// `etc`: files for the private /etc (beside `passwd`/`group`, which
    /// get `passwd_lines`/`group_lines` appended); `agent_extra`: more
    /// agent configuration.
    fn setup(
        name: &str,
        passwd_lines: &str,
        group_lines: &str,
        etc: &[(&str, &str)],
        agent_extra: &str,
    ) -> Host {
        let (agent_bin, _) = build_host_side();
        let dir = Scratch::new(name);
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/run"])
            .output()
            .unwrap();
        assert!(out.status.success(), "mount /run: {}", sshd::text(&out));
        std::fs::create_dir_all("/run/ward").unwrap();
        // The agent's passwd file is the machine's: the test's extra
        // local lines (sudo's invoking users) are for sudo only.
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
        let group = std::fs::read_to_string("/etc/group").unwrap();
        let agent_passwd = dir.write("agent-passwd", &passwd);
        let agent_group = dir.write("agent-group", &group);
        let mut files = vec![
            ("passwd", format!("{passwd}{passwd_lines}")),
            ("group", format!("{group}{group_lines}")),
        ];
        files.extend(etc.iter().map(|(n, t)| (*n, (*t).to_owned())));
        let refs: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
        sshd::private_etc(&dir.0, &refs);

        let ca = Daemon::start(name);
        let home = dir.path("home");
        std::fs::create_dir_all(&home).unwrap();
        let root = ca.root_env();
        let w = |args: &[&str]| check(&home, &root, args, None, 0, &[], &[]);
        for (group, doc) in [("ops", LOGIN), ("admins", SUDO)] {
            w(&["group", "create", group]);
            let path = dir.write(&format!("{group}.json"), doc);
            w(&["policy", "create", group, "--document", s(&path)]);
            w(&["policy", "attach", group, "--group", group]);
        }
        for user in ["alice", "bob", "carol"] {
            w(&["user", "create", user]);
            w(&["group", "add-user", "ops", user]);
            check(
                &home,
                &root,
                &["user", "set-password", user, "--password-stdin"],
                Some(&format!("{PW}\n")),
                0,
                &[],
                &[],
            );
        }
        w(&["group", "add-user", "admins", "alice"]);
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
        let ssh = dir.path("ssh");
        std::fs::create_dir_all(&ssh).unwrap();
        let state = dir.path("state");
        let cfg = dir.write(
            "agent.toml",
            &format!(
                "state_dir = {st:?}\nsocket = \"/run/ward/agent.sock\"\npoll_wait_seconds = 30\n\
                 trusted_user_ca_keys_file = {tk:?}\nrevoked_keys_file = {krl:?}\n\
                 ssh_host_key = {hk:?}\npasswd_file = {pw:?}\ngroup_file = {gr:?}\n{agent_extra}",
                st = s(&state),
                tk = s(&ssh.join("ward_user_ca.pub")),
                krl = s(&ssh.join("ward_revoked.krl")),
                hk = s(&ssh.join("ssh_host_ed25519_key")),
                pw = s(&agent_passwd),
                gr = s(&agent_group),
            ),
        );
        agent_join(&agent_bin, &cfg, &ca, &token);
        let mut h = Host {
            dir,
            ca,
            agent_bin,
            cfg,
            state,
            agent: None,
        };
        h.start_agent();
        assert!(
            until(Duration::from_secs(60), || h
                .status()
                .contains("sync:          online")),
            "the agent never came online: {}\n{}",
            h.status(),
            h.agent_log()
        );
        h
    }

    fn w(&self, args: &[&str]) -> String {
        check(
            &self.dir.path("home"),
            &self.ca.root_env(),
            args,
            None,
            0,
            &[],
            &[],
        )
    }

    fn start_agent(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path("agent.log"))
            .unwrap();
        self.agent = Some(
            Command::new(&self.agent_bin)
                .arg("--config")
                .arg(&self.cfg)
                .arg("run")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
        // Serving once `status` answers on the socket.
        assert!(
            until(Duration::from_secs(30), || !self.status().is_empty()),
            "the agent does not serve: {}",
            self.agent_log()
        );
    }

    /// SIGKILL (no shutdown path runs).
    fn kill_agent(&mut self) {
        if let Some(mut c) = self.agent.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn agent_pid(&self) -> u32 {
        self.agent.as_ref().unwrap().id()
    }

    fn status(&self) -> String {
        let out = Command::new(&self.agent_bin)
            .arg("--config")
            .arg(&self.cfg)
            .arg("status")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn agent_log(&self) -> String {
        std::fs::read_to_string(self.dir.path("agent.log")).unwrap_or_default()
    }

    /// The spooled events (one JSON object per line).
    fn spool(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.state.join("audit-spool"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// ward-ca's audit events with `action`.
    fn audit(&self, action: &str) -> Vec<serde_json::Value> {
        let out = ward(
            &self.dir.path("home"),
            &self.ca.root_env(),
            &[
                "--output", "json", "audit", "list", "--action", action, "--all",
            ],
            None,
        );
        json(&String::from_utf8_lossy(&out.stdout))["events"]
            .as_array()
            .unwrap()
            .clone()
    }
}

#[test]
fn an_answered_decision_survives_an_agent_kill_and_reaches_ward_ca() {
    if !in_namespace(
        "an_answered_decision_survives_an_agent_kill_and_reaches_ward_ca",
        &["pamtester"],
    ) {
        return;
    }
    let (_, so) = build_host_side();
    let stack = shipped_stack("login", &so, "timeout=30");
    let mut h = Host::setup(
        "pam-fin-kill",
        "",
        "",
        &[("pam.d/ward-test-login", &stack)],
        "",
    );
    // ward-ca paused: the agent decides from its snapshot and cannot
    // deliver, so the event can only be in the spool.
    kill(h.ca.pid(), "STOP");
    let out = pamtester("ward-test-login", "alice", &["acct_mgmt"], &[]);
    assert!(out.status.success(), "alice: {}", sshd::text(&out));
    // Right after the answer: SIGKILL, no shutdown path.
    h.kill_agent();
    let mine = |e: &serde_json::Value| {
        e["action"] == "host:Login" && e["user"] == "alice" && e["service"] == "ward-test-login"
    };
    let spooled: Vec<_> = h.spool().into_iter().filter(mine).collect();
    assert_eq!(spooled.len(), 1, "not in the spool after the kill");
    assert_eq!(spooled[0]["allowed"], true);
    kill(h.ca.pid(), "CONT");
    h.start_agent();
    let delivered = |h: &Host| {
        h.audit("host:Login")
            .into_iter()
            .filter(|e| {
                e["detail"]["user"] == "alice" && e["detail"]["service"] == "ward-test-login"
            })
            .count()
    };
    assert!(
        until(Duration::from_secs(90), || delivered(&h) > 0),
        "the event never reached ward-ca: {}",
        h.agent_log()
    );
    assert_eq!(delivered(&h), 1);
    // Delivered, it left the spool.
    assert!(until(Duration::from_secs(30), || !h
        .spool()
        .iter()
        .any(mine)));
}

/// `setpriv` to `uid` (as its own group), then `sudo -n -u TARGET sh -c
/// 'echo ran-as-$(id -un)'`, under `timeout 60`.
fn sudo_as(uid: u32, target: &str) -> Output {
    let out = Command::new("timeout")
        .args(["60", "setpriv"])
        .arg(format!("--reuid={uid}"))
        .arg(format!("--regid={uid}"))
        .args(["--clear-groups", "sudo", "-n", "-u", target])
        .args(["/bin/sh", "-c", "echo ran-as-$(id -un)"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_ne!(
        out.status.code(),
        Some(124),
        "sudo hung: {}",
        sshd::text(&out)
    );
    out
}

fn ran(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn sudo_decides_host_sudo_for_the_target_user_when_the_session_opens() {
    if !in_namespace(
        "sudo_decides_host_sudo_for_the_target_user_when_the_session_opens",
        &["pamtester", "sudo", "setpriv"],
    ) {
        return;
    }
    let (_, so) = build_host_side();
    // The shipped sudo stack under a dedicated service (sudoers'
    // pam_service), so pam_ward needs its `sudo` argument.
    let stack = shipped_stack("sudo", &so, "sudo timeout=30");
    // sudo is set-uid: the loader ignores LD_LIBRARY_PATH, so libnss_ward
    // cannot come from the test's directory. The invoking users get local
    // passwd lines (for sudo only: the agent's passwd file has none);
    // localsudo is no ward user; otheruser is a second target.
    let passwd = "alice:x:1701:1701::/nonexistent:/bin/sh\nbob:x:1702:1702::/nonexistent:/bin/sh\n\
                  carol:x:1703:1703::/nonexistent:/bin/sh\nlocalsudo:x:1704:1704::/nonexistent:/bin/sh\n\
                  otheruser:x:1705:1705::/nonexistent:/bin/sh\n";
    let group = "alice:x:1701:\nbob:x:1702:\ncarol:x:1703:\nlocalsudo:x:1704:\notheruser:x:1705:\n";
    let sudoers =
        "Defaults pam_service=ward-test-sudo\nDefaults pam_login_service=ward-test-sudo\n\
                   Defaults !lecture\nroot ALL=(ALL:ALL) ALL\n\
                   alice,bob,carol,localsudo ALL=(ALL:ALL) NOPASSWD: ALL\n";
    // pam_unix's account check (for localsudo, whom ward does not know)
    // needs a shadow line.
    let mut shadow = std::fs::read_to_string("/etc/shadow").unwrap();
    shadow.push_str("localsudo:*:19000:0:99999:7:::\n");
    let h = Host::setup(
        "pam-fin-sudo",
        passwd,
        group,
        &[
            ("pam.d/ward-test-sudo", &stack),
            ("sudoers", sudoers),
            ("shadow", &shadow),
        ],
        "",
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions("/etc/sudoers", std::fs::Permissions::from_mode(0o440)).unwrap();

    // alice: host:Sudo to root only.
    let out = sudo_as(1701, "root");
    assert_eq!(
        ran(&out),
        "ran-as-root",
        "alice to root: {}",
        sshd::text(&out)
    );
    let out = sudo_as(1701, "otheruser");
    assert!(!out.status.success());
    assert!(
        !ran(&out).contains("ran-as"),
        "the command ran: {}",
        sshd::text(&out)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ward: access denied") && err.contains("host:Sudo"),
        "ward's reason is not shown: {}",
        sshd::text(&out)
    );
    // bob: no host:Sudo at all.
    let out = sudo_as(1702, "root");
    assert!(
        !ran(&out).contains("ran-as"),
        "bob ran a command: {}",
        sshd::text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ward: access denied"),
        "{}",
        sshd::text(&out)
    );
    // A local sudoer that ward does not know: sudoers decides.
    let out = sudo_as(1704, "root");
    assert_eq!(ran(&out), "ran-as-root", "localsudo: {}", sshd::text(&out));

    // The decisions reach ward-ca's audit log: alice to otheruser denied
    // at the session (host:Principal = the target), alice to root allowed.
    let sudo_events = |decision: &str, principal: &str| {
        h.audit("host:Sudo")
            .into_iter()
            .filter(|e| {
                e["decision"] == decision
                    && e["detail"]["user"] == "alice"
                    && e["detail"]["principal"] == principal
                    && e["detail"]["service"] == "ward-test-sudo"
            })
            .count()
    };
    assert!(
        until(Duration::from_secs(60), || sudo_events(
            "Denied",
            "otheruser"
        ) == 1
            && sudo_events("Allowed", "root") == 1),
        "alice's sudo decisions are not audited: {:?}",
        h.audit("host:Sudo")
    );

    // The account stage: a disabled ward user is refused before any
    // session (no target needed).
    h.w(&["user", "disable", "carol"]);
    assert!(until(Duration::from_secs(60), || {
        !pamtester("ward-test-sudo", "carol", &["acct_mgmt"], &[])
            .status
            .success()
    }));
    let out = sudo_as(1703, "root");
    assert!(
        !ran(&out).contains("ran-as"),
        "carol ran a command: {}",
        sshd::text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("disabled"),
        "{}",
        sshd::text(&out)
    );
}

/// A TCP listener that accepts connections and never answers (nor closes
/// them); counts the connections.
fn staller() -> (u16, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let n = Arc::new(AtomicUsize::new(0));
    let count = n.clone();
    std::thread::spawn(move || {
        let mut held: Vec<TcpStream> = Vec::new();
        for c in l.incoming().flatten() {
            count.fetch_add(1, Ordering::SeqCst);
            held.push(c);
        }
    });
    (port, n)
}

fn count_dir(p: &str) -> usize {
    std::fs::read_dir(p).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn a_ward_ca_that_never_answers_falls_back_to_the_offline_verifier() {
    if !in_namespace(
        "a_ward_ca_that_never_answers_falls_back_to_the_offline_verifier",
        &["pamtester"],
    ) {
        return;
    }
    let (_, so) = build_host_side();
    // pam_ward waits longer than the agent's call to ward-ca.
    let stack = shipped_stack("login", &so, "timeout=20");
    let mut h = Host::setup(
        "pam-fin-stall",
        "",
        "",
        &[("pam.d/ward-test-login", &stack)],
        "password_timeout_seconds = 2\n",
    );
    // alice logs in online once (the agent keeps a verifier); bob never.
    let out = pamtester("ward-test-login", "alice", &["authenticate"], &[PW]);
    assert!(out.status.success(), "alice online: {}", sshd::text(&out));

    // The agent restarted against a ward-ca that accepts and never
    // answers (its snapshot and verifiers stay in the state directory).
    h.kill_agent();
    let (port, accepted) = staller();
    let mut cfg = std::fs::read_to_string(&h.cfg).unwrap();
    cfg.push_str(&format!("ca_url = \"https://127.0.0.1:{port}\"\n"));
    std::fs::write(&h.cfg, cfg).unwrap();
    h.start_agent();
    let offline_checks = |h: &Host, user: &str, allowed: bool| {
        h.spool()
            .iter()
            .filter(|e| {
                e["action"] == "host:VerifyPassword"
                    && e["user"] == user
                    && e["authMethod"] == "password-offline"
                    && e["allowed"] == allowed
            })
            .count()
    };

    // Warm-up (the first connection threads, the offline path).
    let out = pamtester("ward-test-login", "alice", &["authenticate"], &[PW]);
    assert!(
        out.status.success(),
        "alice against a stalling ward-ca: {}\n{}",
        sshd::text(&out),
        h.agent_log()
    );
    assert!(
        accepted.load(Ordering::SeqCst) > 0,
        "the agent never called the stalling ward-ca"
    );
    assert_eq!(offline_checks(&h, "alice", true), 1, "{:?}", h.spool());
    let pid = h.agent_pid();
    let (fd_dir, task_dir) = (format!("/proc/{pid}/fd"), format!("/proc/{pid}/task"));
    // Baseline once nothing is in flight (connection threads end with
    // their connection).
    std::thread::sleep(Duration::from_millis(500));
    let (fds, tasks) = (count_dir(&fd_dir), count_dir(&task_dir));

    for _ in 0..3 {
        let out = pamtester("ward-test-login", "alice", &["authenticate"], &[PW]);
        assert!(out.status.success(), "alice offline: {}", sshd::text(&out));
        let out = pamtester(
            "ward-test-login",
            "alice",
            &["authenticate"],
            &["wrong-one"],
        );
        assert!(!out.status.success(), "a wrong password offline");
        // bob never logged in online here: no verifier, refused.
        let out = pamtester("ward-test-login", "bob", &["authenticate"], &[PW]);
        assert!(!out.status.success(), "bob offline: {}", sshd::text(&out));
        assert!(
            sshd::text(&out).contains("Authentication service cannot retrieve authentication info")
                || sshd::text(&out).contains("Authentication failure"),
            "{}",
            sshd::text(&out)
        );
    }
    assert_eq!(offline_checks(&h, "alice", true), 4);
    assert_eq!(offline_checks(&h, "alice", false), 3);
    // Nine more checks, each a call into the stall: afterwards the agent
    // holds no more threads or descriptors than before them.
    let settled = until(Duration::from_secs(60), || {
        count_dir(&fd_dir) <= fds && count_dir(&task_dir) <= tasks
    });
    assert!(
        settled,
        "threads {} (before {tasks}), fds {} (before {fds})",
        count_dir(&task_dir),
        count_dir(&fd_dir)
    );
}
