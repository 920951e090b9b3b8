//! Role-session certificates at ward-gateway end to end (issue #14 item
//! 5, issue #13), every component real: `ward-ca serve --dev`, the `ward`
//! CLI (`assume-role`, then `ssh login` with the temporary credentials:
//! key id `AROA…:SESSION:ISSUED`, principals = the accounts asked for), a
//! joined `ward-gateway run`, a stock `sshd` target registered twice
//! (web-01 tagged env=test, db-01 env=prod) and the stock `ssh` client.
//!
//! Covered: the role's policy (host:Connect on env=test) decides at the
//! gateway: web-01 is reached by ProxyJump, db-01 is refused with the
//! reason; a name that is not among the certificate's principals does not
//! authenticate; terminating mode is refused with the reason (ward-ca
//! issues one-session certificates for users only); `ward role
//! revoke-sessions` ends an open session through the live re-check and
//! refuses the next one (ward:TokenIssueTime from the key id).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

#[path = "../../ca/tests/sshd/mod.rs"]
mod sshd;

use std::process::Command;
use std::time::Duration;

use support::{ended, open_session, s, stderr, text, until, Ca, Client, Gateway, Scratch};

/// The role's permissions: Connect to test hosts, certificates.
const ROLE_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Action":"host:Connect","Resource":"arn:ward:host::*:host/*",
     "Condition":{"StringEquals":{"ward:ResourceTag/env":"test","host:Service":"gateway"}}},
    {"Effect":"Allow","Action":"ca:IssueSshUserCertificate","Resource":"*"}]}"#;

/// alice may assume roles, nothing else.
const ALICE_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}"#;

#[test]
fn role_session_certificates_are_decided_by_the_roles_policies() {
    sshd::ensure_sshd();
    let ca = Ca::start("gw-roles");
    let dir = Scratch::new("gw-roles");
    let alice_doc = dir.write("alice.json", ALICE_POLICY);
    ca.root(&["user", "create", "alice"]);
    ca.root(&["policy", "create", "assume", "--document", s(&alice_doc)]);
    ca.root(&["policy", "attach", "assume", "--user", "alice"]);
    let alice = ca.root_json(&["user", "get", "alice"]);
    let trust = dir.write(
        "trust.json",
        &format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{}"}},"Action":"sts:AssumeRole"}}]}}"#,
            alice["arn"].as_str().unwrap()
        ),
    );
    let role_doc = dir.write("role.json", ROLE_POLICY);
    ca.root(&["role", "create", "oncall", "--trust", s(&trust)]);
    ca.root(&[
        "role",
        "put-policy",
        "oncall",
        "connect",
        "--document",
        s(&role_doc),
    ]);

    let target = sshd::Sshd::start("");
    let address = format!("127.0.0.1:{}", target.port());
    for (name, env) in [("web-01", "env=test"), ("db-01", "env=prod")] {
        ca.root(&["host", "register", name, "--tag", env]);
        ca.root(&["host", "update", name, "--address", &address]);
    }
    let gw = Gateway::start(&ca, "gw-01", "dangerous_allow_loopback_targets = true");
    target.set_trusted_user_ca_keys(gw.user_ca_keys().trim());
    target.set_principals("root", &["root"]);

    // alice assumes the role; the session gets a certificate for root.
    let key = ca.root_json(&["access-key", "create", "alice"]);
    let alice_env = ca.key_env(
        key["accessKeyId"].as_str().unwrap(),
        key["secretAccessKey"].as_str().unwrap(),
    );
    let out = ca.ward(&alice_env, &["assume-role", "oncall", "--session", "pager"]);
    assert!(out.status.success(), "assume-role: {}", text(&out));
    let mut role_env = alice_env.clone();
    role_env.extend(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.trim_matches('\'').to_owned())),
    );
    let keys = dir.path("role-keys");
    std::fs::create_dir_all(&keys).unwrap();
    let out = ca.ward(
        &role_env,
        &[
            "ssh",
            "login",
            "--no-agent",
            "--out",
            s(&keys),
            "--principal",
            "root",
        ],
    );
    assert!(out.status.success(), "ssh login: {}", text(&out));
    let (rkey, rcert) = (keys.join("ward"), keys.join("ward-cert.pub"));
    let shown = Command::new("ssh-keygen")
        .args(["-L", "-f"])
        .arg(&rcert)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&shown.stdout).contains(":pager:"),
        "not a role-session certificate: {}",
        text(&shown)
    );

    let gw_ca = ca.root(&["ssh", "known-hosts", "--pattern", "gw-01"]);
    let target_key = target
        .host_public_key()
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    let known = format!("{}\nweb-01,db-01 {target_key}\n", gw_ca.trim());
    let client = Client::new(&dir, "root", "gw-01", gw.port, &rkey, Some(&rcert), &known);

    // Permitted by the role's policy.
    let out = client.ssh(&["-J", "gw", "root@web-01", "echo", "role-in"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "role-in\n",
        "{}\n--- gateway\n{}",
        text(&out),
        gw.log()
    );
    // Not permitted: another tag.
    let out = client.ssh(&["-J", "gw", "root@db-01", "true"]);
    assert!(!out.status.success(), "db-01 reached: {}", text(&out));
    assert!(
        stderr(&out).contains("ward-gateway: denied: target db-01"),
        "{}",
        text(&out)
    );
    // A name the certificate does not carry.
    let out = client.ssh(&["-J", "deploy@gw", "root@web-01", "true"]);
    assert!(
        !out.status.success(),
        "deploy authenticated: {}",
        text(&out)
    );
    assert!(stderr(&out).contains("Permission denied"), "{}", text(&out));
    // Terminating mode: refused with the reason.
    let out = client.ssh(&["-o", "User=root%web-01", "gw", "true"]);
    assert!(!out.status.success(), "terminating mode: {}", text(&out));
    assert!(
        stderr(&out).contains("terminating mode is for ward users"),
        "{}",
        text(&out)
    );

    // revoke-sessions ends an open session (live re-check) and refuses
    // the next one.
    let err = dir.path("open.stderr");
    let child = open_session(
        Command::new("ssh").arg("-F").arg(&client.config).args([
            "-J",
            "gw",
            "root@web-01",
            "echo ready; sleep 120",
        ]),
        &err,
    );
    ca.root(&["role", "revoke-sessions", "oncall"]);
    let e = ended(child, &err, Duration::from_secs(60));
    assert!(
        e.contains("ward: session ended: host:Connect on web-01 is no longer allowed"),
        "{e}"
    );
    let out = client.ssh(&["-J", "gw", "root@web-01", "true"]);
    assert!(
        !out.status.success(),
        "in after revoke-sessions: {}",
        text(&out)
    );
    assert!(
        stderr(&out).contains("explicitly denies host:Connect"),
        "{}",
        text(&out)
    );

    // The gateway's audit names the role session.
    let named = until(Duration::from_secs(30), || {
        ca.root(&[
            "--output",
            "json",
            "audit",
            "list",
            "--action",
            "ward-gateway:SessionStart",
        ])
        .contains("oncall/pager")
    });
    assert!(named, "no SessionStart for oncall/pager");
}
