//! ward-gateway edge cases end to end (issue #13), every component real:
//! `ward-ca serve --dev`, the `ward` CLI, two joined `ward-gateway run`s
//! (gw-01: `record_input = true`, `recording_max_bytes = 4096`; gw-02:
//! `max_session_seconds = 3`), stock `sshd` targets on loopback whose host
//! keys ward certified, and the stock `ssh` client in terminating mode
//! (`-o User=ACCOUNT%TARGET`), driven on a real pty (python's `pty`) where
//! a terminal matters.
//!
//! Covered: a remote shell killed by a signal reaches the client as
//! `exit-signal` and ssh exits as it does talking to the target directly;
//! a window resize reaches the target (`stty size` before and after) and
//! is recorded as an `r` event, typed input as `i` events; more
//! environment requests than the gateway forwards (64) are dropped and the
//! session goes on; the recording cap writes its marker and the session
//! goes on with all its output; `max_session_seconds` ends a session with
//! its message; removing the registered SSH key a session authenticated
//! with ends it; a target whose host certificate is revoked is refused
//! with the reason; the recording's audit events name the connection's
//! `gs-` session id, the same one `ward-gateway:SessionStart` names.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

#[path = "../../ca/tests/sshd/mod.rs"]
mod sshd;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::Duration;

use support::{ended, open_session, s, stderr, stdout, text, until, Ca, Client, Gateway, Scratch};

const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Action":"host:Login","Resource":"arn:ward:host::*:host/*",
     "Condition":{"StringEquals":{"ward:ResourceTag/env":"test","host:Service":"gateway",
                                  "host:Principal":"root"},
                  "IpAddress":{"ward:SourceIp":"127.0.0.0/8"}}},
    {"Effect":"Allow","Action":"ca:IssueSshUserCertificate","Resource":"*"}]}"#;

/// Environment requests the target accepts (more than the gateway sends).
const TARGET_EXTRA: &str = "AcceptEnv WARDV*\n";

/// Runs `f` and returns its output and the one recording it made.
fn recorded(dir: &Path, f: impl FnOnce() -> Output) -> (Output, PathBuf) {
    let before = support::recordings(dir);
    let out = f();
    let mut new: Vec<PathBuf> = support::recordings(dir)
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    assert_eq!(
        new.len(),
        1,
        "not one new recording: {new:?}\n{}",
        text(&out)
    );
    (out, new.remove(0))
}

/// Audit events of `action` (JSON), waiting until `ok` holds (a hang
/// guard for delivery through the spool).
fn audit_until(ca: &Ca, action: &str, ok: impl Fn(&str) -> bool) -> String {
    let mut last = String::new();
    let found = until(Duration::from_secs(30), || {
        last = ca.root(&["--output", "json", "audit", "list", "--action", action]);
        ok(&last)
    });
    assert!(found, "{action}: not delivered as expected: {last}");
    last
}

/// An `ssh … 'echo ready; sleep 60'` through the gateway, once the
/// remote command runs; its stderr goes to a file.
fn open(c: &Client, user: &str, err: &Path) -> Child {
    open_session(
        Command::new("ssh").arg("-F").arg(&c.config).args([
            "-o",
            &format!("User={user}"),
            "gw",
            "echo ready; sleep 60",
        ]),
        err,
    )
}

#[test]
fn terminating_edges_signals_resizes_env_caps_limits_and_revocations() {
    sshd::ensure_sshd();
    let ca = Ca::start("edge");
    let dir = Scratch::new("edge");
    ca.group_with_policy(&dir, ("ops", "login", POLICY), &["alice", "bob"]);
    for h in ["web-01", "web-02"] {
        ca.root(&["host", "register", h, "--tag", "env=test"]);
    }
    let web1 = support::target(&ca, &dir, "web-01", true, TARGET_EXTRA);
    let web2 = support::target(&ca, &dir, "web-02", true, TARGET_EXTRA);
    let gw1 = Gateway::start(
        &ca,
        "gw-01",
        "dangerous_allow_loopback_targets = true\nrecord_input = true\nrecording_max_bytes = 4096",
    );
    let gw2 = Gateway::start(
        &ca,
        "gw-02",
        "dangerous_allow_loopback_targets = true\nmax_session_seconds = 3",
    );
    for t in [&web1, &web2] {
        t.set_trusted_user_ca_keys(gw1.user_ca_keys().trim());
        t.set_principals("root", &["alice", "bob"]);
    }
    let known = ca.root(&["ssh", "known-hosts"]);
    let (key, cert) = ca.user_certificate(&dir, "alice");
    let alice = Client::new(&dir, "alice", "gw-01", gw1.port, &key, Some(&cert), &known);
    let rec1 = gw1.dir.path("state/recordings");
    let user = "User=root%web-01";

    // exit-signal: the remote shell kills itself with SIGTERM. The gateway
    // passes the target's exit-signal on; ssh exits as it does when it
    // talks to the target directly.
    let killed = "echo before; kill -TERM $$; echo after";
    let via = alice.ssh(&["-v", "-o", user, "gw", killed]);
    let direct = alice.ssh(&[
        "-v",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-p",
        &web1.port().to_string(),
        "root@127.0.0.1",
        killed,
    ]);
    assert_eq!(stdout(&direct), "before\n", "{}", text(&direct));
    assert_eq!(stdout(&via), "before\n", "{}", text(&via));
    assert!(
        stderr(&direct).contains("exit-signal"),
        "the direct ssh saw no exit-signal: {}",
        text(&direct)
    );
    assert!(
        stderr(&via).contains("exit-signal"),
        "no exit-signal through the gateway: {}",
        text(&via)
    );
    assert_eq!(via.status.code(), direct.status.code(), "{}", text(&via));

    // A window resize reaches the target; input is recorded (record_input).
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pty_resize.py");
    let (out, cast) = recorded(&rec1, || {
        support::run(
            Command::new("python3")
                .arg(&script)
                .args(["ssh", "-F"])
                .arg(&alice.config)
                .args(["-tt", "-o", user, "gw"]),
        )
    });
    let shown = stdout(&out);
    assert!(shown.contains("30 100"), "the first size: {}", text(&out));
    assert!(shown.contains("40 120"), "the resize: {}", text(&out));
    let (header, events) = support::parse_cast(&cast);
    assert_eq!(header["width"], 100, "{header}");
    assert_eq!(header["height"], 30, "{header}");
    assert!(
        events.iter().any(|e| e.1 == "r" && e.2 == "120x40"),
        "no resize event: {events:?}"
    );
    let typed: String = events
        .iter()
        .filter(|e| e.1 == "i")
        .map(|e| e.2.as_str())
        .collect();
    assert!(
        typed.contains("stty size"),
        "input not recorded: {events:?}"
    );

    // Environment: 70 requests, the first 64 reach the target, the session
    // goes on.
    let vars: Vec<String> = (1..=70).map(|i| format!("WARDV{i:02}=v{i}")).collect();
    let out = alice.ssh(&[
        "-o",
        &format!("SetEnv={}", vars.join(" ")),
        "-o",
        user,
        "gw",
        "env | grep -c '^WARDV'; echo ${WARDV64:-none} ${WARDV65:-none}; echo env-done",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(stdout(&out), "64\nv64 none\nenv-done\n", "{}", text(&out));
    // The same request straight to the target: all 70 (the limit is the
    // gateway's).
    let out = alice.ssh(&[
        "-o",
        &format!("SetEnv={}", vars.join(" ")),
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-p",
        &web1.port().to_string(),
        "root@127.0.0.1",
        "env | grep -c '^WARDV'",
    ]);
    assert_eq!(stdout(&out), "70\n", "{}", text(&out));

    // The recording cap: the marker, then nothing more recorded, while the
    // client still gets all the output.
    let (out, cast) = recorded(&rec1, || {
        alice.ssh(&[
            "-o",
            user,
            "gw",
            "head -c 20000 /dev/zero | tr '\\0' x; echo; echo after-cap",
        ])
    });
    assert!(out.status.success(), "{}", text(&out));
    let o = stdout(&out);
    assert_eq!(o.matches('x').count(), 20000, "output lost past the cap");
    assert!(o.ends_with("after-cap\n"), "{}", text(&out));
    let (_, events) = support::parse_cast(&cast);
    let recorded_out: String = events
        .iter()
        .filter(|e| e.1 == "o")
        .map(|e| e.2.as_str())
        .collect();
    assert!(
        recorded_out.contains("[ward-gateway: recording stopped: size limit reached]"),
        "no cap marker: {recorded_out}"
    );
    assert!(!recorded_out.contains("after-cap"), "recorded past the cap");
    let size = std::fs::metadata(&cast).unwrap().len();
    assert!(size <= 4096 + 512, "the recording is {size} bytes");

    // The recording's audit events name the connection's gs- id, which
    // SessionStart names too.
    let (out, cast) = recorded(&rec1, || alice.ssh(&["-o", user, "gw", "echo", "linked"]));
    assert_eq!(stdout(&out), "linked\n", "{}", text(&out));
    let rid = cast.file_stem().unwrap().to_str().unwrap().to_owned();
    let mut conn = String::new();
    for action in ["ward-gateway:RecordingStart", "ward-gateway:RecordingEnd"] {
        let ev = audit_until(&ca, action, |ev| ev.contains(&format!("session {rid} ")));
        let v: serde_json::Value = serde_json::from_str(&ev).unwrap();
        let reason = v["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["detail"]["reason"].as_str())
            .find(|r| r.contains(&format!("session {rid} ")))
            .unwrap()
            .to_owned();
        let gs = reason
            .split_whitespace()
            .skip_while(|w| *w != "connection")
            .nth(1)
            .unwrap_or_else(|| panic!("{action} names no connection: {reason}"))
            .to_owned();
        assert!(gs.starts_with("gs-") && gs.len() == 19, "{reason}");
        if conn.is_empty() {
            conn = gs;
        } else {
            assert_eq!(conn, gs, "start and end name different connections");
        }
    }
    audit_until(&ca, "ward-gateway:SessionStart", |ev| {
        ev.contains(&format!("session {conn} started to root@web-01"))
    });

    // A target whose host certificate is revoked is refused, with the
    // reason (it was accepted before).
    let ok = alice.ssh(&["-o", "User=root%web-02", "gw", "echo", "web-02"]);
    assert_eq!(stdout(&ok), "web-02\n", "{}", text(&ok));
    let certs = ca.root_json(&["cert", "list", "--kind", "ssh-host", "--all"]);
    let serial = certs["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["principals"]
                .as_array()
                .is_some_and(|p| p.iter().any(|p| p == "web-02"))
        })
        .and_then(|c| c["serial"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("no host certificate for web-02: {certs}"));
    ca.root(&["cert", "revoke", &serial]);
    let out = alice.ssh(&["-o", "User=root%web-02", "gw", "echo", "web-02"]);
    assert!(!out.status.success(), "a revoked target got through");
    assert!(
        stderr(&out).contains("web-02's host certificate is revoked"),
        "{}",
        text(&out)
    );
    // web-01 is unaffected.
    let out = alice.ssh(&["-o", user, "gw", "echo", "web-01"]);
    assert_eq!(stdout(&out), "web-01\n", "{}", text(&out));

    // Removing the registered SSH key a session authenticated with ends it.
    let bob_key = sshd::keygen(&dir.0, "bob-key", &["-t", "ed25519"]);
    let bob_pub = PathBuf::from(format!("{}.pub", s(&bob_key)));
    let up = ca.root_json(&["ssh-key", "upload", "bob", s(&bob_pub)]);
    let key_id = up["sshPublicKeyId"]
        .as_str()
        .unwrap_or_else(|| panic!("{up}"))
        .to_owned();
    let bob = Client::new(&dir, "bob", "gw-01", gw1.port, &bob_key, None, &known);
    let gw_synced = until(Duration::from_secs(30), || {
        bob.ssh(&["-o", user, "gw", "true"]).status.success()
    });
    assert!(gw_synced, "bob's key never worked: {}", gw1.log());
    let err = dir.path("bob.stderr");
    let child = open(&bob, "root%web-01", &err);
    ca.root(&["ssh-key", "delete", "bob", &key_id]);
    let e = ended(child, &err, Duration::from_secs(30));
    assert!(
        e.contains("ward: session ended: the SSH key") && e.contains("no longer registered to bob"),
        "{e}"
    );

    // max_session_seconds ends a session with its message.
    let long = Client::new(
        &dir,
        "alice-gw2",
        "gw-02",
        gw2.port,
        &key,
        Some(&cert),
        &known,
    );
    let err = dir.path("long.stderr");
    let child = open(&long, "root%web-01", &err);
    let e = ended(child, &err, Duration::from_secs(30));
    assert!(
        e.contains(
            "ward: session ended: the session reached its maximum length of 3 s (max_session_seconds)"
        ),
        "{e}"
    );
}
