//! The host side of the PAM tests (`pam_finish.rs`, `pam_mfa.rs`):
//! ward-agent and pam_ward built next to `ward`, the re-run inside a
//! private mount namespace, `pamtester`, and an enrolled, running agent in
//! that namespace (a tmpfs over /run for its socket at the path pam_ward
//! uses, a private /etc).
//!
//! Included with `#[path]` after `support/harness.rs` (as `harness`),
//! `support/agent.rs` (as `agent`) and `ca/tests/sshd/mod.rs` (as `sshd`),
//! by each test crate, which uses a subset.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::agent::{agent_join, s};
use crate::harness::{check, json, ward, Daemon, Scratch, WARD};

/// The password the tests give their users.
pub(crate) const PW: &str = "Correct-Horse-Battery-42";

/// Builds ward-agent and pam_ward next to `ward` (ward-cli depends on
/// neither).
pub(crate) fn build_host_side() -> (PathBuf, PathBuf) {
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

/// True in the namespaced re-run (marked by the environment variable
/// `inner`); in the outer run, builds what the inner run needs and re-runs
/// `test` there (false: the outer run is done, or `tools` are missing).
pub(crate) fn in_namespace(test: &str, inner: &str, tools: &[&str]) -> bool {
    if std::env::var_os(inner).is_none() {
        if !have(tools) {
            return false;
        }
        build_host_side();
        crate::harness::ward_ca();
    }
    crate::sshd::in_mount_namespace(test, inner).is_none()
}

/// Polls `f` every 50 ms until it is true (a hang guard, not a timing
/// assertion).
pub(crate) fn until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
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
pub(crate) fn pamtester(service: &str, user: &str, ops: &[&str], input: &[&str]) -> Output {
    pamtester_with(&[], service, user, ops, input)
}

/// [`pamtester`] with pamtester options first (`-E VAR=VALUE` sets the
/// PAM environment, `-I rhost=…` an item).
pub(crate) fn pamtester_with(
    opts: &[&str],
    service: &str,
    user: &str,
    ops: &[&str],
    input: &[&str],
) -> Output {
    let mut child = Command::new("timeout")
        .args(["60", "pamtester", "-v"])
        .args(opts)
        .args([service, user])
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
        crate::sshd::text(&out)
    );
    out
}

/// The namespace before the agent: a tmpfs over /run, the private /etc
/// and ward-ca, for the test to fill with users and policies.
pub(crate) struct Namespace {
    pub(crate) dir: Scratch,
    pub(crate) ca: Daemon,
    /// The agent's passwd and group files: copies of the machine's (extra
    /// lines in the private /etc are for the stacks, e.g. sudo's invoking
    /// users, not for the agent).
    agent_files: (PathBuf, PathBuf),
}

impl Namespace {
    /// In the test's mount namespace: a tmpfs over /run (with /run/ward),
    /// a private /etc whose `passwd`/`group` are the machine's with
    /// `passwd_lines`/`group_lines` appended, plus `files` (name under
    /// /etc, contents); then ward-ca.
    pub(crate) fn new(
        name: &str,
        passwd_lines: &str,
        group_lines: &str,
        files: &[(&str, &str)],
    ) -> Namespace {
        let dir = Scratch::new(name);
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/run"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mount /run: {}",
            crate::sshd::text(&out)
        );
        std::fs::create_dir_all("/run/ward").unwrap();
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
        let group = std::fs::read_to_string("/etc/group").unwrap();
        let agent_files = (
            dir.write("agent-passwd", &passwd),
            dir.write("agent-group", &group),
        );
        let mut etc = vec![
            ("passwd", format!("{passwd}{passwd_lines}")),
            ("group", format!("{group}{group_lines}")),
        ];
        etc.extend(files.iter().map(|(n, t)| (*n, (*t).to_owned())));
        let refs: Vec<(&str, &str)> = etc.iter().map(|(n, t)| (*n, t.as_str())).collect();
        crate::sshd::private_etc(&dir.0, &refs);
        let ca = Daemon::start(name);
        std::fs::create_dir_all(dir.path("home")).unwrap();
        Namespace {
            dir,
            ca,
            agent_files,
        }
    }

    /// `ward ARGS…` as root, which must succeed; its stdout.
    pub(crate) fn w(&self, args: &[&str]) -> String {
        root_ward(&self.dir, &self.ca, args)
    }

    /// Gives `user` the password [`PW`].
    pub(crate) fn set_password(&self, user: &str) {
        check(
            &self.dir.path("home"),
            &self.ca.root_env(),
            &["user", "set-password", user, "--password-stdin"],
            Some(&format!("{PW}\n")),
            0,
            &[],
            &[],
        );
    }

    /// Enrols host `web-01` (join token made with `token_args` after
    /// `host join-token web-01`) with an agent whose config has `extra`
    /// lines, starts the agent and waits until it is online.
    pub(crate) fn enrol(self, token_args: &[&str], extra: &str) -> AgentHost {
        let (bin, _) = build_host_side();
        let mut args = vec!["--output", "json", "host", "join-token", "web-01"];
        args.extend_from_slice(token_args);
        let token = json(&self.w(&args))["token"].as_str().unwrap().to_owned();
        let ssh = self.dir.path("ssh");
        std::fs::create_dir_all(&ssh).unwrap();
        let state = self.dir.path("state");
        let cfg = self.dir.write(
            "agent.toml",
            &format!(
                "state_dir = {st:?}\nsocket = \"/run/ward/agent.sock\"\npoll_wait_seconds = 30\n\
                 trusted_user_ca_keys_file = {tk:?}\nrevoked_keys_file = {krl:?}\n\
                 ssh_host_key = {hk:?}\npasswd_file = {pw:?}\ngroup_file = {gr:?}\n{extra}",
                st = s(&state),
                tk = s(&ssh.join("ward_user_ca.pub")),
                krl = s(&ssh.join("ward_revoked.krl")),
                hk = s(&ssh.join("ssh_host_ed25519_key")),
                pw = s(&self.agent_files.0),
                gr = s(&self.agent_files.1),
            ),
        );
        agent_join(&bin, &cfg, &self.ca, &token);
        let mut h = AgentHost {
            dir: self.dir,
            ca: self.ca,
            bin,
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
}

fn root_ward(dir: &Scratch, ca: &Daemon, args: &[&str]) -> String {
    check(&dir.path("home"), &ca.root_env(), args, None, 0, &[], &[])
}

/// ward-ca and an enrolled ward-agent serving on /run/ward/agent.sock;
/// the agent is killed on drop.
pub(crate) struct AgentHost {
    pub(crate) dir: Scratch,
    pub(crate) ca: Daemon,
    pub(crate) bin: PathBuf,
    pub(crate) cfg: PathBuf,
    pub(crate) state: PathBuf,
    agent: Option<Child>,
}

impl Drop for AgentHost {
    fn drop(&mut self) {
        self.kill_agent();
    }
}

impl AgentHost {
    /// `ward ARGS…` as root, which must succeed; its stdout.
    pub(crate) fn w(&self, args: &[&str]) -> String {
        root_ward(&self.dir, &self.ca, args)
    }

    /// Starts `ward-agent run` (its stderr appended to `agent.log`) and
    /// waits until it serves.
    pub(crate) fn start_agent(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path("agent.log"))
            .unwrap();
        self.agent = Some(
            Command::new(&self.bin)
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
    pub(crate) fn kill_agent(&mut self) {
        if let Some(mut c) = self.agent.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub(crate) fn agent_pid(&self) -> u32 {
        self.agent.as_ref().unwrap().id()
    }

    /// `ward-agent status`.
    pub(crate) fn status(&self) -> String {
        let out = Command::new(&self.bin)
            .arg("--config")
            .arg(&self.cfg)
            .arg("status")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub(crate) fn agent_log(&self) -> String {
        std::fs::read_to_string(self.dir.path("agent.log")).unwrap_or_default()
    }

    /// The spooled events (one JSON object per line).
    pub(crate) fn spool(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.state.join("audit-spool"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// ward-ca's audit events with `action`.
    pub(crate) fn audit(&self, action: &str) -> Vec<serde_json::Value> {
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
