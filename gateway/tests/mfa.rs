//! MFA at ward-gateway end to end (issues #13 and #14), every component
//! real: `ward-ca serve --dev`, the `ward` CLI, a joined `ward-gateway
//! run`, a stock `sshd` target on loopback whose host key ward certified,
//! the stock `ssh` client (its keyboard-interactive prompts answered
//! through `SSH_ASKPASS`, which records every prompt it is shown) and
//! codes computed by the real `oathtool` from the device's seed.
//!
//! alice's policy allows `host:Connect` and `host:Login` only with
//! `ward:MultiFactorAuthPresent` and `ward:MultiFactorAuthAge` < 600;
//! carol's with an age under 30 s; bob's needs no MFA; dave has alice's
//! policy and no device. Covered: bob is never prompted; alice without a
//! way to answer (BatchMode), with a wrong code, and with a replayed code
//! is refused in both modes, with the reason shown, and dave whatever he
//! types; with the right code she gets in by ProxyJump and in
//! terminating mode (where ward-ca's one-session certificate decision
//! gets the MFA time too); her session outlives a live re-check that ends
//! bob's; carol's session ends when her MFA age passes 30 s; ward-ca's
//! audit has exactly the codes the gateway checked.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

#[path = "../../ca/tests/sshd/mod.rs"]
mod sshd;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::Duration;

use support::{open_session, s, stderr, stdout, text, until, Ca, Client, Gateway, Scratch};

/// Connect and Login on test hosts, with MFA checked in the last `AGE` s.
fn mfa_policy(age: u32) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[
    {{"Effect":"Allow","Action":["host:Connect","host:Login"],"Resource":"arn:ward:host::*:host/*",
     "Condition":{{"StringEquals":{{"ward:ResourceTag/env":"test","host:Service":"gateway"}},
                  "Bool":{{"ward:MultiFactorAuthPresent":"true"}},
                  "NumericLessThan":{{"ward:MultiFactorAuthAge":"{age}"}}}}}},
    {{"Effect":"Allow","Action":"ca:IssueSshUserCertificate","Resource":"*"}}]}}"#
    )
}

/// The same without MFA.
const PLAIN: &str = r#"{"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Action":["host:Connect","host:Login"],"Resource":"arn:ward:host::*:host/*",
     "Condition":{"StringEquals":{"ward:ResourceTag/env":"test","host:Service":"gateway"}}},
    {"Effect":"Allow","Action":"ca:IssueSshUserCertificate","Resource":"*"}]}"#;

/// Answers keyboard-interactive prompts: records the prompt in
/// `$MFA_DIR/asked`, answers an MFA prompt with `$MFA_DIR/code`.
const ASKPASS: &str = "#!/bin/sh\nprintf '%s\\n' \"$1\" >> \"$MFA_DIR/asked\"\n\
case \"$1\" in *MFA*) cat \"$MFA_DIR/code\" ;; *) exit 1 ;; esac\n";

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

/// An enabled MFA device: its seed and the last step it accepted.
struct Device {
    seed: String,
    last: i64,
}

impl Device {
    /// Creates and enables a device for `user`, with the codes of the
    /// two steps before the current one (so the next two steps are free).
    fn enable(ca: &Ca, user: &str) -> Device {
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
                return Device {
                    seed,
                    last: now - 1,
                };
            }
            // The step turned between the codes and the check: again.
        }
        panic!("could not enable {user}'s MFA device");
    }

    /// The next unused code ward-ca accepts now (waits for its step to
    /// come within the ±1 window if it must).
    fn next(&mut self) -> String {
        let s = step_now().max(self.last + 1);
        assert!(
            until(Duration::from_secs(90), || step_now() + 1 >= s),
            "the clock stopped"
        );
        self.last = s;
        oathtool(&self.seed, s)
    }
}

struct World {
    ca: Ca,
    gw: Gateway,
    _target: sshd::Sshd,
    dir: Scratch,
    known: String,
    askpass: PathBuf,
}

/// A user's MFA-capable ssh setup: the configuration (publickey, then
/// keyboard-interactive with one prompt) and the askpass directory.
struct MfaClient {
    config: PathBuf,
    dir: PathBuf,
    askpass: PathBuf,
    key: PathBuf,
    cert: PathBuf,
}

impl MfaClient {
    fn new(w: &World, user: &str) -> MfaClient {
        let (key, cert) = w.ca.user_certificate(&w.dir, user);
        let kh = w.dir.write(&format!("{user}-mfa-known_hosts"), &w.known);
        let config = w.dir.write(
            &format!("{user}-mfa-ssh_config"),
            &format!(
                "Host gw\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n  HostKeyAlias gw-01\n\
                 Host *\n  IdentityFile {key}\n  CertificateFile {cert}\n  IdentitiesOnly yes\n  IdentityAgent none\n\
                 UserKnownHostsFile {kh}\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n\
                 UpdateHostKeys no\n  BatchMode no\n  ConnectTimeout 20\n  ControlMaster no\n\
                 PreferredAuthentications publickey,keyboard-interactive\n  PasswordAuthentication no\n\
                 NumberOfPasswordPrompts 1\n",
                port = w.gw.port,
                key = s(&key),
                cert = s(&cert),
                kh = s(&kh),
            ),
        );
        let dir = w.dir.path(&format!("{user}-askpass"));
        std::fs::create_dir_all(&dir).unwrap();
        MfaClient {
            config,
            dir,
            askpass: w.askpass.clone(),
            key,
            cert,
        }
    }

    /// `ssh -F CONFIG ARGS…` answering an MFA prompt with `code`.
    fn command(&self, code: &str, args: &[&str]) -> Command {
        std::fs::write(self.dir.join("code"), format!("{code}\n")).unwrap();
        let _ = std::fs::remove_file(self.dir.join("asked"));
        let mut cmd = Command::new("ssh");
        cmd.arg("-F")
            .arg(&self.config)
            .args(args)
            .env("SSH_ASKPASS", &self.askpass)
            .env("SSH_ASKPASS_REQUIRE", "force")
            .env("MFA_DIR", &self.dir)
            .env_remove("DISPLAY");
        cmd
    }

    fn ssh(&self, code: &str, args: &[&str]) -> Output {
        support::run(&mut self.command(code, args))
    }

    /// The prompts the last command was shown.
    fn asked(&self) -> String {
        std::fs::read_to_string(self.dir.join("asked")).unwrap_or_default()
    }

    /// `ssh … 'echo ready; sleep 120'`, once the remote command runs; its
    /// stderr goes to `err`.
    fn open(&self, code: &str, args: &[&str], err: &Path) -> Child {
        let mut all = args.to_vec();
        all.push("echo ready; sleep 120");
        open_session(&mut self.command(code, &all), err)
    }
}

/// Waits (at most 90 s, a hang guard) for `child` to exit; its stderr.
fn ended(child: Child, err: &Path) -> String {
    support::ended(child, err, Duration::from_secs(90))
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

fn world() -> World {
    sshd::ensure_sshd();
    let ca = Ca::start("gw-mfa");
    let dir = Scratch::new("gw-mfa");
    for (group, doc, user) in [
        ("mfa-ops", mfa_policy(600), "alice"),
        ("ops", PLAIN.to_owned(), "bob"),
        ("mfa-short", mfa_policy(30), "carol"),
    ] {
        ca.group_with_policy(&dir, (group, group, &doc), &[user]);
    }
    // dave's policy needs MFA, but he has no device.
    ca.root(&["user", "create", "dave"]);
    ca.root(&["group", "add-user", "mfa-ops", "dave"]);
    ca.root(&["host", "register", "web-01", "--tag", "env=test"]);
    let target = support::target(&ca, &dir, "web-01", true, "");
    let gw = Gateway::start(&ca, "gw-01", "dangerous_allow_loopback_targets = true");
    target.set_trusted_user_ca_keys(gw.user_ca_keys().trim());
    target.set_principals("root", &["alice", "bob", "carol", "dave"]);
    let known = ca.root(&["ssh", "known-hosts"]);
    let askpass = dir.write("askpass.sh", ASKPASS);
    std::fs::set_permissions(&askpass, std::fs::Permissions::from_mode(0o755)).unwrap();
    World {
        ca,
        gw,
        _target: target,
        dir,
        known,
        askpass,
    }
}

#[test]
fn mfa_codes_are_asked_for_when_policy_needs_them() {
    if Command::new("oathtool").arg("--version").output().is_err() {
        eprintln!("skipped: no oathtool");
        return;
    }
    let w = world();
    let mut alice_phone = Device::enable(&w.ca, "alice");
    let mut carol_phone = Device::enable(&w.ca, "carol");
    let alice = MfaClient::new(&w, "alice");
    let bob = MfaClient::new(&w, "bob");
    let jump = ["-J", "gw", "root@web-01"];
    let term = ["-o", "User=root%web-01", "gw"];

    // bob's policy has no MFA condition: never prompted, in both modes.
    for mode in [&jump[..], &term[..]] {
        let mut args = mode.to_vec();
        args.extend(["echo", "bob-in"]);
        let out = bob.ssh("000000", &args);
        assert_eq!(stdout(&out), "bob-in\n", "{}", text(&out));
        assert_eq!(bob.asked(), "", "bob was prompted");
    }

    // alice without a way to answer (BatchMode: no keyboard-interactive):
    // refused, keyboard-interactive is what the gateway still wants.
    let batch = Client::new(
        &w.dir,
        "alice",
        "gw-01",
        w.gw.port,
        &alice.key,
        Some(&alice.cert),
        &w.known,
    );
    for mode in [&jump[..], &term[..]] {
        let mut args = mode.to_vec();
        args.push("true");
        let out = batch.ssh(&args);
        assert!(!out.status.success(), "in without a code: {}", text(&out));
        assert!(
            stderr(&out).contains("Permission denied (keyboard-interactive)"),
            "{}",
            text(&out)
        );
    }

    // A wrong code: none of the device's codes near now.
    let near: Vec<String> = (step_now() - 10..=step_now() + 10)
        .map(|st| oathtool(&alice_phone.seed, st))
        .collect();
    let wrong = ["000000", "111111", "222222", "333333"]
        .into_iter()
        .find(|c| !near.iter().any(|n| n == c))
        .unwrap();

    // A wrong code: refused in both modes, with the reason shown.
    for mode in [&jump[..], &term[..]] {
        let mut args = mode.to_vec();
        args.push("true");
        let out = alice.ssh(wrong, &args);
        assert!(
            !out.status.success(),
            "in with a wrong code: {}",
            text(&out)
        );
        assert!(
            alice.asked().contains("ward MFA code: "),
            "{}",
            alice.asked()
        );
        assert!(
            stderr(&out).contains("ward: MFA code not accepted"),
            "{}",
            text(&out)
        );
    }

    // No device: asked, and whatever the code, refused with the reason.
    let dave = MfaClient::new(&w, "dave");
    let out = dave.ssh(wrong, &[&jump[..], &["true"][..]].concat());
    assert!(!out.status.success(), "dave got in: {}", text(&out));
    assert!(dave.asked().contains("ward MFA code: "), "{}", dave.asked());
    assert!(
        stderr(&out).contains("ward: MFA code not accepted"),
        "{}",
        text(&out)
    );

    // The right code, ProxyJump: in (a session kept open).
    let a_err = w.dir.path("alice-jump.stderr");
    let mut alice_session = alice.open(&alice_phone.next(), &jump, &a_err);
    assert!(
        alice.asked().contains("ward MFA code: "),
        "{}",
        alice.asked()
    );

    // The right code, terminating mode: in; ward-ca's one-session
    // certificate decision had the MFA time.
    let second = alice_phone.next();
    let out = alice.ssh(&second, &[&term[..], &["echo", "alice-in"][..]].concat());
    assert_eq!(
        stdout(&out),
        "alice-in\n",
        "{}\n--- gateway\n{}",
        text(&out),
        w.gw.log()
    );
    let certs = events_until(&w.ca, "host:GatewaySessionCertificate", |ev| {
        ev.iter()
            .any(|e| e["decision"] == "Allowed" && e["detail"]["user"] == "alice")
    });
    assert!(
        certs
            .iter()
            .filter(|e| e["detail"]["user"] == "alice")
            .all(|e| e["detail"]["mfaAuthenticatedAt"].as_i64().is_some()),
        "{certs:?}"
    );

    // The same code again: refused (single use), with the reason.
    let out = alice.ssh(&second, &[&term[..], &["true"][..]].concat());
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

    // The MFA time is carried into the live re-checks: a change that ends
    // bob's open session (one sweep checks every session) leaves alice's.
    let b_err = w.dir.path("bob.stderr");
    let bob_session = bob.open("000000", &jump, &b_err);
    w.ca.root(&["group", "remove-user", "ops", "bob"]);
    let e = ended(bob_session, &b_err);
    assert!(e.contains("ward: session ended"), "{e}");
    assert!(
        alice_session.try_wait().unwrap().is_none(),
        "alice's MFA session was ended: {}",
        std::fs::read_to_string(&a_err).unwrap_or_default()
    );
    let _ = alice_session.kill();
    let _ = alice_session.wait();

    // carol's policy wants an MFA check younger than 30 s: her session
    // ends once it is older.
    let carol = MfaClient::new(&w, "carol");
    let c_err = w.dir.path("carol.stderr");
    let carol_session = carol.open(&carol_phone.next(), &jump, &c_err);
    let e = ended(carol_session, &c_err);
    assert!(
        e.contains("ward: session ended: host:Connect on web-01 is no longer allowed")
            && e.contains("MFA"),
        "{e}"
    );

    // ward-ca checked exactly these codes for gw-01: three accepted; the
    // two wrong ones, dave's and the replay refused.
    let ev = events_until(&w.ca, "host:VerifyMfa", |ev| {
        let by = |d: &str| ev.iter().filter(|e| e["decision"] == d).count();
        by("Allowed") == 3 && by("Failed") == 4
    });
    assert!(
        ev.iter()
            .all(|e| e["principal"].as_str().unwrap().ends_with(":host/gw-01")),
        "{ev:?}"
    );
}
