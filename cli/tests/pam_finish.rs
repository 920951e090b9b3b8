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
#[path = "support/pam.rs"]
mod pam;
#[path = "../../ca/tests/sshd/mod.rs"]
mod sshd;

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use agent::s;
use pam::{build_host_side, in_namespace, pamtester, until, AgentHost as Host, Namespace, PW};

const INNER: &str = "WARD_PAM_FINISH_INNER";

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
/// `etc`: files for the private /etc (beside `passwd`/`group`, which get
/// `passwd_lines`/`group_lines` appended); `agent_extra`: more agent
/// configuration.
fn setup(
    name: &str,
    passwd_lines: &str,
    group_lines: &str,
    etc: &[(&str, &str)],
    agent_extra: &str,
) -> Host {
    let ns = Namespace::new(name, passwd_lines, group_lines, etc);
    for (group, doc) in [("ops", LOGIN), ("admins", SUDO)] {
        ns.w(&["group", "create", group]);
        let path = ns.dir.write(&format!("{group}.json"), doc);
        ns.w(&["policy", "create", group, "--document", s(&path)]);
        ns.w(&["policy", "attach", group, "--group", group]);
    }
    for user in ["alice", "bob", "carol"] {
        ns.w(&["user", "create", user]);
        ns.w(&["group", "add-user", "ops", user]);
        ns.set_password(user);
    }
    ns.w(&["group", "add-user", "admins", "alice"]);
    ns.enrol(&["--tag", "env=test"], agent_extra)
}

#[test]
fn an_answered_decision_survives_an_agent_kill_and_reaches_ward_ca() {
    if !in_namespace(
        "an_answered_decision_survives_an_agent_kill_and_reaches_ward_ca",
        INNER,
        &["pamtester"],
    ) {
        return;
    }
    let (_, so) = build_host_side();
    let stack = shipped_stack("login", &so, "timeout=30");
    let mut h = setup(
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
        INNER,
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
    let h = setup(
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
        INNER,
        &["pamtester"],
    ) {
        return;
    }
    let (_, so) = build_host_side();
    // pam_ward waits longer than the agent's call to ward-ca.
    let stack = shipped_stack("login", &so, "timeout=20");
    let mut h = setup(
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
