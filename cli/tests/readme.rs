//! README.md's shell blocks run as written (issue #8): a newcomer pastes
//! them in order, so this test does too, and a README edit that breaks a
//! flow fails here.
//!
//! What runs: every fenced ```` ```sh ```` block of README.md, in order,
//! concatenated into one `bash -euo pipefail` script (stdout and stderr
//! together), against a real `ward-ca serve --dev` started by the harness,
//! with the real `ward` (first on PATH), curl, openssl, ssh-keygen, ssh and
//! `/usr/sbin/sshd`. Other fences (```` ```json ````, plain ```` ``` ````:
//! sshd_config lines, cron lines, unit files) are not run.
//!
//! The substitution rule, the only one: a ```` ```sh ```` block whose
//! preceding line is `<!-- readme-test: skip (REASON) -->` is not run. Three
//! blocks carry it, and this test insists on exactly those three
//! ([`SKIPPED`]), so a new skip is a deliberate edit here too:
//! - `cargo run … serve --dev` — the harness has started the daemon and
//!   exports what it printed (`WARD_ENDPOINT`, `WARD_CA_BUNDLE`,
//!   `WARD_ACCESS_KEY_ID`, `WARD_SECRET_ACCESS_KEY`), as the README tells
//!   the reader to paste;
//! - `scripts/test` — this test is part of that run;
//! - `cargo run … root-password` — it writes the reader's `ward-data`;
//!   `ca/tests/dashboard_browser.rs` sets root's password the same way
//!   and signs in with it;
//! - the "On a host" block — it writes `/etc/ssh`; the "Try it on a
//!   throwaway sshd" block runs the same `ward` commands into a scratch
//!   directory;
//! - `cargo build --release -p ward-gateway` — this test builds
//!   ward-gateway (as it is built, debug or release) next to `ward`, which
//!   is on PATH.
//!
//! The ward-gateway walkthrough (issue #13's "Done when") runs as written
//! too: it enrols a gateway, reaches a target sshd through it by ProxyJump
//! and in terminating mode with the stock `ssh`, shows two denied paths
//! with their reasons, replays the recording with `asciinema play`, and
//! watches an open session end when alice leaves the group. Its gateway
//! and target ports are `WARD_GATEWAY_PORT`/`WARD_TARGET_PORT`, free ones;
//! the gateway and sshd it starts are stopped by the README (and, if the
//! script failed before that, here, by their pid files).
//!
//! The environment is the reader's fresh shell: only PATH, USER, LANG and
//! the exported `WARD_*` lines, HOME a scratch directory under cargo's
//! target dir (not /tmp: sshd's StrictModes refuses files under a
//! world-writable directory), which is also the working directory, with
//! `examples/` linked in (the README says to run from the checkout). The
//! throwaway sshd's directory is the README's own default,
//! `$HOME/ward-sshd`; its port is `WARD_SSHD_PORT`, a free one, since 2222
//! may be taken. Nothing touches the machine's `/etc/ssh`, its sshd, or a
//! real `~/.ward`; the sshd the README starts is stopped by the README
//! (and, if the script failed before that, here, by the pid in its pid
//! file).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

#[path = "support/harness.rs"]
mod harness;
#[path = "../../ca/tests/sshd/mod.rs"]
mod sshd;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::{Daemon, WARD};

/// The first line of each block that must be skipped, in README order.
const SKIPPED: &[&str] = &[
    "cargo run --release -p ward-ca -- serve --dev",
    "scripts/test",
    "cargo run --release -p ward-ca -- root-password --data-dir ward-data",
    "ward ssh trusted-user-ca-keys --out /etc/ssh/ward_user_ca.pub",
    "ward host join-token web-01 --tag env=prod",
    "cargo build --release -p ward-agent -p nss_ward",
    "cargo build --release -p pam_ward",
    "aws --profile ward iam create-user --user-name bob",
    "cargo build --release -p ward-gateway",
];

/// Longest the whole README may take before the script is killed (a hang
/// guard, not an assertion about speed).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(300);

/// One ```sh block: the line its fence is on (1-based), whether it is
/// skipped, its text.
struct Block {
    line: usize,
    skipped: bool,
    text: String,
}

fn readme() -> String {
    fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).unwrap()
}

/// The README's ```sh blocks, in order.
fn sh_blocks(readme: &str) -> Vec<Block> {
    let lines: Vec<&str> = readme.lines().collect();
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim_end() == "```sh" {
            let skipped = i > 0 && lines[i - 1].starts_with("<!-- readme-test: skip (");
            let mut text = String::new();
            let mut j = i + 1;
            while j < lines.len() && lines[j].trim_end() != "```" {
                text.push_str(lines[j]);
                text.push('\n');
                j += 1;
            }
            assert!(j < lines.len(), "README.md:{}: unclosed ```sh", i + 1);
            blocks.push(Block {
                line: i + 1,
                skipped,
                text,
            });
            i = j;
        }
        i += 1;
    }
    blocks
}

/// A scratch HOME under cargo's target dir, removed on drop (after any
/// sshd the README left running is stopped).
struct Home(PathBuf);

impl Home {
    fn new(name: &str) -> Home {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("readme-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::symlink(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples"),
            dir.join("examples"),
        )
        .unwrap();
        Home(dir)
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        // The README's sshd daemonizes; if the script died before its
        // `kill`, stop it: our own process, by the pid it wrote, and only
        // if it really is the sshd with our config.
        for (pid_file, config) in [
            ("ward-sshd/sshd.pid", "ward-sshd/sshd_config"),
            ("ward-gateway/sshd.pid", "ward-gateway/sshd_config"),
            ("ward-gateway/gateway.pid", "ward-gateway/gateway.toml"),
        ] {
            let Ok(pid) = fs::read_to_string(self.0.join(pid_file)) else {
                continue;
            };
            let pid = pid.trim();
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let config = self.0.join(config);
            if !pid.is_empty()
                && String::from_utf8_lossy(&cmdline).contains(config.to_str().unwrap())
            {
                let _ = Command::new("kill").arg(pid).status();
            }
        }
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The account name the script runs as (`$USER` in the README).
fn user_name() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Builds `ward-gateway` next to `ward` (debug or release, as `ward`
/// is), once per test binary: the README's gateway walkthrough runs it
/// from PATH.
fn build_gateway() {
    static BUILT: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
    let dir = Path::new(WARD).parent().unwrap().to_owned();
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !*built {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args([
            "build",
            "--quiet",
            "-p",
            "ward-gateway",
            "--bin",
            "ward-gateway",
        ])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
        if dir.file_name() == Some("release".as_ref()) {
            cmd.arg("--release");
        }
        assert!(cmd.status().unwrap().success(), "cargo build ward-gateway");
        *built = true;
    }
}

/// Runs `script` as the README reader would; returns (success, output).
fn run_script(d: &Daemon, home: &Home, script: &str) -> (bool, String) {
    build_gateway();
    let script_path = home.0.join(".readme.sh");
    fs::write(&script_path, script).unwrap();
    let log_path = home.0.join(".readme.log");
    let log = fs::File::create(&log_path).unwrap();
    let ward_dir = Path::new(WARD).parent().unwrap();
    let path = format!(
        "{}:{}",
        ward_dir.display(),
        std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into())
    );
    let mut child = Command::new("bash")
        .args(["-euo", "pipefail"])
        .arg(&script_path)
        .current_dir(&home.0)
        .env_clear()
        .env("HOME", &home.0)
        .env("PATH", path)
        .env("USER", user_name())
        .env("LANG", "C.UTF-8")
        .env("WARD_SSHD_PORT", harness::free_port().to_string())
        .env("WARD_GATEWAY_PORT", harness::free_port().to_string())
        .env("WARD_TARGET_PORT", harness::free_port().to_string())
        .envs(d.root_env())
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + SCRIPT_TIMEOUT;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > deadline {
            // Our own child, by handle.
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = fs::read_to_string(&log_path).unwrap_or_default();
    assert!(status.is_some(), "the README script hung:\n{out}");
    (status.unwrap().success(), out)
}

/// The runnable blocks as one script, each announced on stderr with its
/// README line so a failure points at the block.
fn script_of(blocks: &[Block]) -> String {
    let mut script = String::new();
    for b in blocks.iter().filter(|b| !b.skipped) {
        script.push_str(&format!("echo '### README.md:{} ```sh' >&2\n", b.line));
        script.push_str(&b.text);
    }
    script
}

#[test]
fn readme_blocks_are_the_expected_ones() {
    let blocks = sh_blocks(&readme());
    let skipped: Vec<&str> = blocks
        .iter()
        .filter(|b| b.skipped)
        .map(|b| b.text.lines().next().unwrap_or(""))
        .collect();
    assert_eq!(skipped, SKIPPED, "the skipped ```sh blocks changed");
    // Near the top: the one command that runs ward-ca and the one that runs
    // the tests are the README's first two shell blocks.
    assert_eq!(blocks[0].text.trim(), SKIPPED[0]);
    assert_eq!(blocks[1].text.trim(), SKIPPED[1]);
    assert!(blocks[1].line < 40, "scripts/test is not near the top");
    assert!(
        blocks.iter().filter(|b| !b.skipped).count() >= 3,
        "the README's flows are gone"
    );
}

#[test]
fn readme_runs_as_written() {
    sshd::ensure_sshd();
    let d = Daemon::start("readme");
    let home = Home::new("ok");
    let (ok, out) = run_script(&d, &home, &script_of(&sh_blocks(&readme())));
    assert!(ok, "the README's shell blocks failed:\n{out}");
    let user = user_name();
    for (what, needle) in [
        ("alice's profile works", "\"arn\":"),
        ("alice is denied root-ops", "denied, as it should be"),
        ("… by policy", "for principal alice"),
        ("curl with a sorted, encoded query", "\"name\":\"alice\""),
        ("the audit chain", "audit log intact"),
        (
            "mTLS with the fullchain file",
            "\"authMethod\":\"certificate\"",
        ),
        ("openssl verify", "ward-client.pem: OK"),
        (
            "ssh login to the throwaway sshd",
            &format!("logged in as {user} with a ward certificate"),
        ),
        (
            "the revoked certificate",
            "refused: the certificate is revoked",
        ),
        // Roles and MFA: refused without MFA by the trust policy, the
        // session's identity (its curl with the session token runs with
        // -f under `set -e`), and the refusal after revoke-sessions (by
        // the TokenIssueTime deny).
        ("AssumeRole without MFA", "refused: MFA required"),
        (
            "… by the trust policy",
            "trust policy does not allow sts:AssumeRole",
        ),
        ("the role session", "assumed-role/auditor/readme"),
        ("revoke-sessions", "refused: the session was revoked"),
        ("… by the revocation", "explicitly denies iam:ListUsers"),
    ] {
        assert!(
            out.contains(needle),
            "{what}: output lacks {needle:?}:\n{out}"
        );
    }
    assert!(
        out.contains("AccessDenied") && out.contains("iam:GetUser"),
        "the denial is not a policy denial:\n{out}"
    );
    // The gateway walkthrough: both modes, two denials explained, the
    // replay, the live cut.
    for (what, needle) in [
        (
            "ProxyJump through the gateway",
            format!("{user} on lab-01 by ProxyJump"),
        ),
        ("the ProxyJump denial", "host:Connect".to_owned()),
        ("the terminating denial", "as nobody".to_owned()),
        (
            "the live cut",
            "ward: session ended: host:Connect on lab-01 is no longer allowed".to_owned(),
        ),
    ] {
        assert!(
            out.contains(&needle),
            "{what}: output lacks {needle:?}:\n{out}"
        );
    }
    // Terminating mode printed its line, and asciinema replayed it.
    let terminating = format!("{user} on lab-01 in terminating mode");
    assert!(
        out.matches(&terminating).count() >= 2,
        "the terminating session or its replay is missing:\n{out}"
    );
    // The second login was refused because of the KRL, not by accident.
    let sshd_log = fs::read_to_string(home.0.join("ward-sshd/sshd.log")).unwrap_or_default();
    assert!(
        sshd_log.contains("revoked by file"),
        "sshd did not refuse the certificate as revoked:\n{sshd_log}\n{out}"
    );
    assert!(
        sshd_log.contains("Accepted publickey") || sshd_log.contains("Accepted certificate"),
        "sshd log has no accepted login:\n{sshd_log}"
    );
}

/// The test is sensitive: the README without the line that grants alice
/// issuance fails, at `ward --profile alice ssh login`.
#[test]
fn a_readme_missing_a_step_fails() {
    let text = readme();
    let step = "ward policy attach issue-own --group ops\n";
    assert!(text.contains(step), "the README no longer has {step:?}");
    let broken = text.replacen(step, "", 1);
    let d = Daemon::start("readme-broken");
    let home = Home::new("broken");
    let (ok, out) = run_script(&d, &home, &script_of(&sh_blocks(&broken)));
    assert!(!ok, "a README without {step:?} still ran:\n{out}");
    assert!(
        out.contains("ca:IssueSshUserCertificate") && out.contains("AccessDenied"),
        "it failed for another reason:\n{out}"
    );
    assert!(!out.contains("logged in as"), "{out}");
}
