//! ward-gateway live enforcement, limits and passwords end to end (issue
//! #13, items 2 and 5), every component real: `ward-ca serve --dev`, the
//! `ward` CLI, `ward-gateway join`/`run`, a stock `sshd` target on
//! loopback and the stock `ssh` client (with `sshpass` for passwords)
//! jumping with `-J`.
//!
//! Each withdrawal ends an open `ssh -J … sleep` session with the message
//! `ward: session ended: REASON` on the client's stderr: the user
//! disabled, removed from the group granting `host:Connect`, its
//! certificate revoked, renamed (the new name is not what it logged in
//! as), an administrator's `ward session terminate ID`. The measured
//! latency from the change to the client's exit is printed (not
//! asserted). Limits: the session over `max_sessions_per_user` is refused
//! with the reason; an idle session is ended with the reason. Passwords:
//! the right one works through keyboard-interactive, a wrong one is
//! refused, a flood of wrong ones from one source is throttled (the right
//! one is then refused too), a reset-required one is refused with a
//! message saying to change it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

#[path = "../../ca/tests/sshd/mod.rs"]
mod sshd;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{s, text, until, Ca, Client, Gateway, Scratch};

const CONNECT_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Action":"host:Connect","Resource":"arn:ward:host::*:host/*",
     "Condition":{"StringEquals":{"ward:ResourceTag/env":"test","host:Service":"gateway"},
                  "IpAddress":{"ward:SourceIp":"127.0.0.0/8"}}},
    {"Effect":"Allow","Action":"ca:IssueSshUserCertificate","Resource":"*"}]}"#;

const USERS: &[&str] = &["alice", "bob", "carol", "dave", "erin", "frank"];

struct World {
    ca: Ca,
    gw: Gateway,
    target: sshd::Sshd,
    dir: Scratch,
    known_hosts: String,
}

impl World {
    fn cert(&self, name: &str) -> (PathBuf, PathBuf) {
        self.ca.user_certificate(&self.dir, name)
    }

    fn client(&self, user: &str) -> Client {
        let (key, cert) = self.cert(user);
        Client::new(
            &self.dir,
            user,
            "gw-01",
            self.gw.port,
            &key,
            Some(cert.as_path()),
            &self.known_hosts,
        )
    }

    /// `ward ARGS` as root with `input` on stdin.
    fn root_stdin(&self, args: &[&str], input: &str) {
        let mut child = Command::new(&self.ca.ward)
            .args(args)
            .env_clear()
            .env("HOME", &self.ca.home)
            .envs(self.ca.root_env())
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

    /// An ssh configuration for `user` that authenticates to the gateway
    /// by password only (keyboard-interactive, prompts allowed) and to
    /// the target with `cert`.
    fn password_client(&self, user: &str, key: &Path, cert: &Path) -> PathBuf {
        let kh = self
            .dir
            .write(&format!("{user}-pw-known_hosts"), &self.known_hosts);
        self.dir.write(
            &format!("{user}-pw-ssh_config"),
            &format!(
                "Host gw\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n  HostKeyAlias gw-01\n\
                 PreferredAuthentications keyboard-interactive\n  PubkeyAuthentication no\n  NumberOfPasswordPrompts 1\n\
                 Host *\n  IdentityFile {key}\n  CertificateFile {cert}\n  IdentitiesOnly yes\n  IdentityAgent none\n\
                 UserKnownHostsFile {kh}\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n\
                 UpdateHostKeys no\n  BatchMode no\n  ConnectTimeout 20\n  ControlMaster no\n",
                port = self.gw.port,
                key = s(key),
                cert = s(cert),
                kh = s(&kh),
            ),
        )
    }
}

fn world(name: &str, gateway_extra: &str) -> World {
    sshd::ensure_sshd();
    let ca = Ca::start(name);
    let dir = Scratch::new(name);
    let doc = dir.write("connect.json", CONNECT_POLICY);
    ca.root(&["group", "create", "ops"]);
    ca.root(&["policy", "create", "connect", "--document", s(&doc)]);
    ca.root(&["policy", "attach", "connect", "--group", "ops"]);
    for u in USERS {
        ca.root(&["user", "create", u]);
        ca.root(&["group", "add-user", "ops", u]);
    }
    let target = sshd::Sshd::start("");
    ca.root(&["host", "register", "web-01", "--tag", "env=test"]);
    ca.root(&[
        "host",
        "update",
        "web-01",
        "--address",
        &format!("127.0.0.1:{}", target.port()),
    ]);
    let gw = Gateway::start(&ca, "gw-01", gateway_extra);
    target.set_trusted_user_ca_keys(gw.user_ca_keys().trim());
    let mut principals: Vec<&str> = USERS.to_vec();
    principals.push("erin2");
    target.set_principals("root", &principals);
    let gw_ca = ca.root(&["ssh", "known-hosts", "--pattern", "gw-01"]);
    let target_key = target.host_public_key();
    let target_key = target_key
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    let known_hosts = format!("{}\nweb-01 {target_key}\n", gw_ca.trim());
    World {
        ca,
        gw,
        target,
        dir,
        known_hosts,
    }
}

/// An open `ssh -J gw root@web-01 'echo ready; sleep 60'`, its stderr in
/// a file.
struct Open {
    child: Child,
    stderr: PathBuf,
}

impl Drop for Open {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Opens a session and waits until the remote command runs.
fn open(c: &Client, dir: &Scratch, tag: &str) -> Open {
    let stderr = dir.path(&format!("{tag}.stderr"));
    let mut child = Command::new("ssh")
        .arg("-F")
        .arg(&c.config)
        .args(["-J", "gw", "root@web-01", "echo ready; sleep 60"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(
        line.trim(),
        "ready",
        "{tag}: the session did not open: {}",
        std::fs::read_to_string(&stderr).unwrap_or_default()
    );
    Open { child, stderr }
}

/// Waits (at most 30 s, a hang guard) for `o` to exit; its exit status
/// success, stderr and the time it took.
fn ended(o: &mut Open, since: Instant) -> (bool, String, Duration) {
    let limit = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(st) = o.child.try_wait().unwrap() {
            let took = since.elapsed();
            let mut e = String::new();
            std::fs::File::open(&o.stderr)
                .unwrap()
                .read_to_string(&mut e)
                .unwrap();
            return (st.success(), e, took);
        }
        if Instant::now() > limit {
            panic!(
                "the session did not end: {}",
                std::fs::read_to_string(&o.stderr).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The session id of `user`'s open session from ward-ca's audit log.
fn session_id(w: &World, user: &str) -> String {
    let mut id = None;
    let found = until(Duration::from_secs(30), || {
        let events =
            w.ca.root_json(&["audit", "list", "--action", "ward-gateway:SessionStart"]);
        id = events["events"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["detail"]["user"].as_str() == Some(user))
            .filter_map(|e| e["detail"]["reason"].as_str())
            .find_map(|r| r.split_whitespace().nth(1).map(str::to_owned));
        id.is_some()
    });
    assert!(found, "no SessionStart event for {user}");
    id.unwrap()
}

#[test]
fn open_sessions_end_when_access_is_withdrawn() {
    let w = world("live", "dangerous_allow_loopback_targets = true");
    let mut latencies = Vec::new();
    let mut withdraw = |user: &str, what: &str, change: &dyn Fn(&World), why: &str| {
        let c = w.client(user);
        let mut o = open(&c, &w.dir, user);
        let t = Instant::now();
        change(&w);
        let (ok, stderr, took) = ended(&mut o, t);
        assert!(!ok, "{what}: the session exited successfully: {stderr}");
        assert!(
            stderr.contains("ward: session ended:") && stderr.contains(why),
            "{what}: the client was not told why: {stderr}"
        );
        latencies.push(format!("{what}: {} ms", took.as_millis()));
    };
    withdraw(
        "alice",
        "user disabled",
        &|w| {
            w.ca.root(&["user", "disable", "alice"]);
        },
        "ward user alice is disabled",
    );
    withdraw(
        "bob",
        "removed from the group",
        &|w| {
            w.ca.root(&["group", "remove-user", "ops", "bob"]);
        },
        "host:Connect on web-01 is no longer allowed",
    );
    withdraw(
        "carol",
        "certificate revoked",
        &|w| {
            w.ca.root(&["cert", "revoke", "--user", "carol"]);
        },
        "is no longer valid",
    );
    withdraw(
        "erin",
        "user renamed",
        &|w| {
            w.ca.root(&["user", "update", "erin", "--new-name", "erin2"]);
        },
        "ward user erin was renamed to erin2",
    );
    // Other users' sessions are untouched by all that.
    let frank = w.client("frank");
    let out = frank.ssh(&["-J", "gw", "root@web-01", "echo", "still-here"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("still-here"),
        "{}",
        text(&out)
    );
    eprintln!("latency from the change to the client's exit: {latencies:?}");

    // Each end was audited with its reason and the bytes.
    let delivered = until(Duration::from_secs(30), || {
        let events = w.ca.root(&[
            "--output",
            "json",
            "audit",
            "list",
            "--action",
            "ward-gateway:SessionEnd",
        ]);
        [
            "is disabled",
            "no longer allowed",
            "no longer valid",
            "renamed",
        ]
        .iter()
        .all(|r| events.contains(r))
            && events.contains("bytes from the client")
    });
    assert!(delivered, "session ends were not audited");
    let _ = &w.target;
}

#[test]
fn limits_and_passwords() {
    let w = world(
        "limits",
        "dangerous_allow_loopback_targets = true\nmax_sessions_per_user = 2\n\
         idle_timeout_seconds = 4\nmax_failed_auth_per_source = 5",
    );
    // max_sessions_per_user: the third is refused with the reason.
    let alice = w.client("alice");
    let a1 = open(&alice, &w.dir, "alice-1");
    let a2 = open(&alice, &w.dir, "alice-2");
    let out = alice.ssh(&["-J", "gw", "root@web-01", "true"]);
    assert!(!out.status.success(), "a third session opened");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already has 2 open sessions"),
        "{}",
        text(&out)
    );
    // Another user is not limited by alice's sessions.
    let bob = w.client("bob");
    let out = bob.ssh(&["-J", "gw", "root@web-01", "true"]);
    assert!(out.status.success(), "{}", text(&out));
    drop(a1);
    drop(a2);

    // idle_timeout: a session with no data either way is ended.
    let mut idle = open(&bob, &w.dir, "bob-idle");
    let (ok, stderr, took) = ended(&mut idle, Instant::now());
    assert!(!ok);
    assert!(
        stderr.contains("ward: session ended: no data for 4 s"),
        "{stderr}"
    );
    eprintln!("idle session ended after {} ms", took.as_millis());

    // Passwords through keyboard-interactive.
    w.root_stdin(
        &["user", "set-password", "carol", "--password-stdin"],
        "correct horse battery 1\n",
    );
    let (key, cert) = w.cert("carol");
    let pw_config = w.password_client("carol", &key, &cert);
    let by_password = |pw: &str| {
        support::run(
            Command::new("sshpass")
                .args(["-p", pw, "ssh", "-F"])
                .arg(&pw_config)
                .args(["-J", "gw", "root@web-01", "echo", "pw-ok"]),
        )
    };
    let out = by_password("correct horse battery 1");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("pw-ok"),
        "the right password: {}\n--- gateway log\n{}",
        text(&out),
        w.gw.log()
    );
    let out = by_password("wrong horse");
    assert!(!out.status.success(), "a wrong password got in");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("pw-ok"));
    // ward:AuthMethod = password in the gateway's audit.
    let audited = until(Duration::from_secs(30), || {
        let events =
            w.ca.root_json(&["audit", "list", "--action", "ward-gateway:Authenticate"]);
        let all = events["events"].as_array().cloned().unwrap_or_default();
        let pw = |allowed: &str| {
            all.iter().any(|e| {
                e["detail"]["authMethod"].as_str() == Some("password")
                    && e["detail"]["user"].as_str() == Some("carol")
                    && e["decision"].as_str() == Some(allowed)
            })
        };
        pw("Allowed") && pw("Denied")
    });
    assert!(audited, "password authentications were not audited");

    // Reset required: refused with a message saying so.
    w.root_stdin(
        &[
            "user",
            "set-password",
            "dave",
            "--password-stdin",
            "--reset-required",
        ],
        "Tmp-Rotate-4821-xq\n",
    );
    let (dkey, dcert) = w.cert("dave");
    let dave_config = w.password_client("dave", &dkey, &dcert);
    let out = support::run(
        Command::new("sshpass")
            .args(["-p", "Tmp-Rotate-4821-xq", "ssh", "-F"])
            .arg(&dave_config)
            .args(["-J", "gw", "root@web-01", "true"]),
    );
    assert!(!out.status.success(), "a reset-required password got in");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("must be changed first"),
        "{}",
        text(&out)
    );

    // A flood of wrong passwords from one source: throttled, after which
    // even the right password is refused from there.
    for _ in 0..6 {
        let out = by_password("guess");
        assert!(!out.status.success());
    }
    let out = by_password("correct horse battery 1");
    assert!(
        !out.status.success(),
        "the source was not throttled: {}",
        text(&out)
    );
    let _ = &w.target;
}

#[test]
fn terminate_ends_a_session_and_checks_who_asks() {
    let w = world("terminate", "dangerous_allow_loopback_targets = true");
    let alice = w.client("alice");
    let mut o = open(&alice, &w.dir, "alice");
    let id = session_id(&w, "alice");
    assert!(id.starts_with("gs-") && id.len() == 19, "{id}");

    // Unknown id: 404-like refusal; a user without host:TerminateSession: refused.
    let out = w.ca.ward(
        &w.ca.root_env(),
        &["session", "terminate", "gs-0000000000000000"],
    );
    assert!(!out.status.success(), "an unknown id was accepted");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("NoSuchEntity")
            || String::from_utf8_lossy(&out.stderr).contains("not found"),
        "{}",
        text(&out)
    );
    let key = w.ca.root_json(&["access-key", "create", "bob"]);
    let bob_env = w.ca.key_env(
        key["accessKeyId"].as_str().unwrap(),
        key["secretAccessKey"].as_str().unwrap(),
    );
    let out = w.ca.ward(&bob_env, &["session", "terminate", &id]);
    assert!(!out.status.success(), "bob terminated alice's session");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("AccessDenied"),
        "{}",
        text(&out)
    );
    // The session is still open.
    assert!(o.child.try_wait().unwrap().is_none());

    let t = Instant::now();
    w.ca.root(&["session", "terminate", &id]);
    let (ok, stderr, took) = ended(&mut o, t);
    assert!(!ok);
    assert!(
        stderr.contains("ward: session ended: terminated by"),
        "{stderr}"
    );
    eprintln!("terminate: {} ms", took.as_millis());
}
