//! The gateway's password-then-code path end to end (review 7 item 5;
//! issues #13 and #14), every component real: `ward-ca serve --dev`, the
//! `ward` CLI, a joined `ward-gateway run`, a stock `sshd` target whose
//! host key ward certified, the stock `ssh` client authenticating to the
//! gateway by keyboard-interactive only (its prompts answered through
//! `SSH_ASKPASS`, which records every prompt it is shown) and codes
//! computed by the real `oathtool` from the device's seed.
//!
//! alice has a password and an MFA device, and her policy allows
//! `host:Connect` only with `ward:MultiFactorAuthPresent`. In one
//! keyboard-interactive exchange the gateway asks `Password: `, checks it
//! with ward-ca, then asks `ward MFA code: `: a wrong password is refused
//! without a code being asked for; a wrong code is refused with the
//! reason shown; the right code gets her through by ProxyJump; the same
//! code again is refused. ward-ca audited exactly the codes the gateway
//! checked, and the gateway audited the password login with the MFA check.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

#[path = "../../ca/tests/sshd/mod.rs"]
mod sshd;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use support::{s, text, until, Ca, Gateway, Scratch};

const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Action":"host:Connect","Resource":"arn:ward:host::*:host/*",
     "Condition":{"StringEquals":{"ward:ResourceTag/env":"test","host:Service":"gateway"},
                  "Bool":{"ward:MultiFactorAuthPresent":"true"}}},
    {"Effect":"Allow","Action":"ca:IssueSshUserCertificate","Resource":"*"}]}"#;

const PASSWORD: &str = "correct horse battery 7";

/// Answers keyboard-interactive prompts: records each in `$MFA_DIR/asked`,
/// answers a password prompt with `$MFA_DIR/password` and an MFA prompt
/// with `$MFA_DIR/code`.
const ASKPASS: &str = "#!/bin/sh\nprintf '%s\\n' \"$1\" >> \"$MFA_DIR/asked\"\n\
case \"$1\" in *MFA*) cat \"$MFA_DIR/code\" ;; *Password*) cat \"$MFA_DIR/password\" ;; *) exit 1 ;; esac\n";

fn step_now() -> i64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    i64::try_from(t).unwrap() / 30
}

/// The TOTP code of `seed` (base32) at time step `step`, from oathtool.
fn oathtool(seed: &str, step: i64) -> String {
    let out = Command::new("oathtool")
        .args(["--totp", "-b", "-N", &format!("@{}", step * 30)])
        .arg(seed)
        .output()
        .unwrap();
    assert!(out.status.success(), "oathtool: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `ward ARGS` as root with `input` on stdin, which must succeed.
fn root_stdin(ca: &Ca, args: &[&str], input: &str) {
    let mut child = Command::new(&ca.ward)
        .args(args)
        .env_clear()
        .env("HOME", &ca.home)
        .envs(ca.root_env())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "ward {args:?}: {}", text(&out));
}

/// Enables a new device for `user` with the codes of the two steps before
/// the current one: (seed, the last step used).
fn enable_device(ca: &Ca, user: &str) -> (String, i64) {
    let created = ca.root_json(&["mfa", "create", &format!("{user}-phone")]);
    let seed = created["base32StringSeed"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        let now = step_now();
        let out = ca.ward(
            &ca.root_env(),
            &[
                "mfa",
                "enable",
                "--serial",
                &format!("{user}-phone"),
                "--code1",
                &oathtool(&seed, now - 2),
                "--code2",
                &oathtool(&seed, now - 1),
                "--user",
                user,
            ],
        );
        if out.status.success() {
            return (seed, now - 1);
        }
        // The step turned between the codes and the check: again.
    }
    panic!("could not enable {user}'s MFA device");
}

/// ward-ca's `action` audit events, once `ok` holds for them (a hang
/// guard for delivery).
fn events_until(
    ca: &Ca,
    action: &str,
    ok: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let mut last = Vec::new();
    let found = until(Duration::from_secs(30), || {
        last = ca.root_json(&["audit", "list", "--action", action])["events"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        ok(&last)
    });
    assert!(found, "{action}: not as expected: {last:?}");
    last
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// alice's client: keyboard-interactive only to the gateway (no key
/// offered there), her ward certificate to the target behind it.
struct PasswordClient {
    config: PathBuf,
    dir: PathBuf,
    askpass: PathBuf,
}

impl PasswordClient {
    /// `ssh -J gw root@web-01 echo pw-mfa-in`, answering the password
    /// prompt with `password` and the MFA prompt with `code`.
    fn jump(&self, password: &str, code: &str) -> Output {
        std::fs::write(self.dir.join("password"), format!("{password}\n")).unwrap();
        std::fs::write(self.dir.join("code"), format!("{code}\n")).unwrap();
        let _ = std::fs::remove_file(self.dir.join("asked"));
        support::run(
            Command::new("ssh")
                .arg("-F")
                .arg(&self.config)
                .args(["-J", "gw", "root@web-01", "echo", "pw-mfa-in"])
                .env("SSH_ASKPASS", &self.askpass)
                .env("SSH_ASKPASS_REQUIRE", "force")
                .env("MFA_DIR", &self.dir)
                .env_remove("DISPLAY"),
        )
    }

    /// The prompts the last command was shown, in order.
    fn asked(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("asked"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

#[test]
fn password_then_code() {
    if Command::new("oathtool").arg("--version").output().is_err() {
        eprintln!("skipped: no oathtool");
        return;
    }
    sshd::ensure_sshd();
    let ca = Ca::start("gw-mfa-pw");
    let dir = Scratch::new("gw-mfa-pw");
    let doc = dir.write("mfa-connect.json", POLICY);
    ca.root(&["group", "create", "mfa-ops"]);
    ca.root(&["policy", "create", "mfa-connect", "--document", s(&doc)]);
    ca.root(&["policy", "attach", "mfa-connect", "--group", "mfa-ops"]);
    ca.root(&["user", "create", "alice"]);
    ca.root(&["group", "add-user", "mfa-ops", "alice"]);
    root_stdin(
        &ca,
        &["user", "set-password", "alice", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    let (seed, last) = enable_device(&ca, "alice");
    ca.root(&["host", "register", "web-01", "--tag", "env=test"]);
    let target = support::target(&ca, &dir, "web-01", true, "");
    let gw = Gateway::start(&ca, "gw-01", "dangerous_allow_loopback_targets = true");
    target.set_trusted_user_ca_keys(gw.user_ca_keys().trim());
    target.set_principals("root", &["alice"]);
    let known = ca.root(&["ssh", "known-hosts"]);
    let (key, cert) = ca.user_certificate(&dir, "alice");
    let kh = dir.write("alice-known_hosts", &known);
    let config = dir.write(
        "alice-ssh_config",
        &format!(
            "Host gw\n  HostName 127.0.0.1\n  Port {port}\n  User alice\n  HostKeyAlias gw-01\n\
             PreferredAuthentications keyboard-interactive\n  PubkeyAuthentication no\n  NumberOfPasswordPrompts 1\n\
             Host *\n  IdentityFile {key}\n  CertificateFile {cert}\n  IdentitiesOnly yes\n  IdentityAgent none\n\
             UserKnownHostsFile {kh}\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n\
             UpdateHostKeys no\n  BatchMode no\n  ConnectTimeout 20\n  ControlMaster no\n",
            port = gw.port,
            key = s(&key),
            cert = s(&cert),
            kh = s(&kh),
        ),
    );
    let askpass = dir.write("askpass.sh", ASKPASS);
    std::fs::set_permissions(&askpass, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mfa_dir = dir.path("alice-askpass");
    std::fs::create_dir_all(&mfa_dir).unwrap();
    let alice = PasswordClient {
        config,
        dir: mfa_dir,
        askpass,
    };
    let is_password = |p: &String| p.contains("Password: ");
    let is_code = |p: &String| p.contains("ward MFA code: ");

    // A code that is none of the device's codes near now.
    let near: Vec<String> = (step_now() - 10..=step_now() + 10)
        .map(|st| oathtool(&seed, st))
        .collect();
    let wrong = ["000000", "111111", "222222", "333333"]
        .into_iter()
        .find(|c| !near.iter().any(|n| n == c))
        .unwrap();

    // A wrong password: refused, and no code asked for.
    let out = alice.jump("wrong horse", wrong);
    assert!(
        !out.status.success(),
        "in with a wrong password: {}",
        text(&out)
    );
    let asked = alice.asked();
    assert!(asked.iter().any(is_password), "{asked:?}");
    assert!(
        !asked.iter().any(is_code),
        "a code was asked before the password passed: {asked:?}"
    );

    // The right password, a wrong code: asked the password, then the code
    // (in that order), refused with the reason shown.
    let out = alice.jump(PASSWORD, wrong);
    assert!(
        !out.status.success(),
        "in with a wrong code: {}",
        text(&out)
    );
    let asked = alice.asked();
    let pw_at = asked.iter().position(is_password);
    let code_at = asked.iter().position(is_code);
    assert!(
        matches!((pw_at, code_at), (Some(p), Some(c)) if p < c),
        "{asked:?}"
    );
    assert!(
        stderr(&out).contains("ward: MFA code not accepted"),
        "{}",
        text(&out)
    );

    // The right password and the right code: through to the target.
    let step = step_now().max(last + 1);
    assert!(
        until(Duration::from_secs(90), || step_now() + 1 >= step),
        "the clock stopped"
    );
    let right = oathtool(&seed, step);
    let out = alice.jump(PASSWORD, &right);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "pw-mfa-in\n",
        "{}\n--- gateway\n{}",
        text(&out),
        gw.log()
    );
    let asked = alice.asked();
    assert!(
        asked.iter().any(is_password) && asked.iter().any(is_code),
        "{asked:?}"
    );

    // The same code again, with the right password: refused (single use).
    let out = alice.jump(PASSWORD, &right);
    assert!(
        !out.status.success(),
        "a replayed code got in: {}",
        text(&out)
    );
    assert!(
        stderr(&out).contains("ward: MFA code not accepted"),
        "{}",
        text(&out)
    );
    assert!(alice.asked().iter().any(is_code), "{:?}", alice.asked());

    // ward-ca checked exactly these codes for gw-01: one accepted, the
    // wrong one and the replay refused (the wrong password asked none).
    let ev = events_until(&ca, "host:VerifyMfa", |ev| {
        let by = |d: &str| ev.iter().filter(|e| e["decision"] == d).count();
        by("Allowed") == 1 && by("Failed") == 2
    });
    assert!(
        ev.iter()
            .all(|e| e["principal"].as_str().unwrap().ends_with(":host/gw-01")),
        "{ev:?}"
    );
    // The gateway audited the password login that the code completed.
    events_until(&ca, "ward-gateway:Authenticate", |ev| {
        ev.iter().any(|e| {
            e["decision"] == "Allowed"
                && e["detail"]["user"] == "alice"
                && e["detail"]["authMethod"] == "password"
                && e["detail"]["reason"] == "MFA code checked by ward-ca"
        })
    });
}
