//! Want-reply safety in terminating mode (issue #13), every component
//! real: `ward-ca serve --dev`, the `ward` CLI, a joined `ward-gateway
//! run`, a stock `sshd` target whose host key ward certified, a real
//! `ssh-agent`, and the stock `ssh` client at `-vv` (which logs which
//! request each reply answered).
//!
//! SSH answers a channel's requests in order, and russh keeps one
//! "wants a reply" flag per channel: an answer sent later than the
//! request it is for lands on whatever request came next (the env bug of
//! session 6). X11 forwarding (`ssh -Y`: `x11-req`, want-reply), agent
//! forwarding (`ssh -A`: `auth-agent-req@openssh.com`, no want-reply) and
//! both at once are refused while the command still runs: the refusal
//! lands on the X11 request, the exec's own reply on the exec, and the
//! exit status comes through. Keepalives (`keepalive@openssh.com`, a
//! request the gateway does not know, want-reply) are answered while a
//! command runs, so the client does not give up on the server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

#[path = "../../ca/tests/sshd/mod.rs"]
mod sshd;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use support::{s, text, until, Ca, Client, Gateway, Proc, Scratch};

const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Action":"host:Login","Resource":"arn:ward:host::*:host/*",
     "Condition":{"StringEquals":{"ward:ResourceTag/env":"test","host:Service":"gateway",
                                  "host:Principal":"root"}}},
    {"Effect":"Allow","Action":"ca:IssueSshUserCertificate","Resource":"*"}]}"#;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn forwarding_requests_are_refused_on_the_right_request() {
    sshd::ensure_sshd();
    let ca = Ca::start("gw-requests");
    let dir = Scratch::new("gw-requests");
    let doc = dir.write("login.json", POLICY);
    ca.root(&["group", "create", "ops"]);
    ca.root(&["policy", "create", "login", "--document", s(&doc)]);
    ca.root(&["policy", "attach", "login", "--group", "ops"]);
    ca.root(&["user", "create", "alice"]);
    ca.root(&["group", "add-user", "ops", "alice"]);
    ca.root(&["host", "register", "web-01", "--tag", "env=test"]);
    let target = support::target(&ca, &dir, "web-01", true, "");
    let gw = Gateway::start(&ca, "gw-01", "dangerous_allow_loopback_targets = true");
    target.set_trusted_user_ca_keys(gw.user_ca_keys().trim());
    target.set_principals("root", &["alice"]);
    let known = ca.root(&["ssh", "known-hosts"]);
    let (key, cert) = ca.user_certificate(&dir, "alice");
    let alice = Client::new(&dir, "alice", "gw-01", gw.port, &key, Some(&cert), &known);

    // A real agent for -A (ssh sends no agent request without one).
    let sock = dir.path("agent.sock");
    let _agent = Proc(
        Command::new("ssh-agent")
            .args(["-D", "-a"])
            .arg(&sock)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(
        until(Duration::from_secs(10), || sock.exists()),
        "ssh-agent did not start"
    );

    let user = "User=root%web-01";
    let run = |flags: &[&str]| {
        support::run(
            Command::new("ssh")
                .arg("-F")
                .arg(&alice.config)
                .args(["-vv", "-o", user, "-o", "ExitOnForwardFailure=no"])
                // The configuration's IdentityAgent none would hide the
                // agent (and ssh then sends no agent request).
                .arg("-o")
                .arg(format!("IdentityAgent={}", s(&sock)))
                .args(flags)
                .args(["gw", "echo through; exit 3"])
                .env("SSH_AUTH_SOCK", &sock)
                .env("DISPLAY", "127.0.0.1:59"),
        )
    };
    for flags in [
        &["-A"][..],
        &["-Y", "-o", "XAuthLocation=/nonexistent/xauth"][..],
        &["-A", "-Y", "-o", "XAuthLocation=/nonexistent/xauth"][..],
    ] {
        let out = run(flags);
        let e = stderr(&out);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "through\n",
            "{flags:?}: {}",
            text(&out)
        );
        assert_eq!(out.status.code(), Some(3), "{flags:?}: {}", text(&out));
        assert!(
            e.contains("exec request accepted on channel 0"),
            "{flags:?}: the exec's reply did not land on the exec: {}",
            text(&out)
        );
        assert!(
            !e.contains("exec request failed"),
            "{flags:?}: {}",
            text(&out)
        );
        if flags.contains(&"-A") {
            assert!(
                e.contains("Requesting authentication agent forwarding"),
                "{flags:?}: no agent request was sent: {}",
                text(&out)
            );
        }
        if flags.contains(&"-Y") {
            assert!(
                e.contains("X11 forwarding request failed on channel 0"),
                "{flags:?}: the refusal did not land on x11-req: {}",
                text(&out)
            );
        }
    }

    // Keepalives (a request the gateway does not know, want-reply) while
    // the command runs: each answered, the client stays.
    let out = alice.ssh(&[
        "-o",
        user,
        "-o",
        "ServerAliveInterval=1",
        "-o",
        "ServerAliveCountMax=2",
        "gw",
        "sleep 4; echo alive",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "alive\n",
        "{}",
        text(&out)
    );
    assert!(out.status.success(), "{}", text(&out));
}
