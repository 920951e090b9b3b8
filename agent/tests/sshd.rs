//! A stock sshd whose `AuthorizedPrincipalsCommand` and
//! `AuthorizedKeysCommand` are the real ward-agent binary, asking the real
//! agent server (in process) holding a snapshot. Runs inside a private
//! mount namespace (the test re-runs itself under `unshare --mount`) with
//! a test copy of /etc/passwd bind-mounted over the machine's, adding the
//! accounts `alice` and `deploy` there only.
//!
//! Policy: `host:Login` as oneself and as `deploy`. Covered: a certificate
//! logs in as alice and as deploy, is refused as root with ward's reason
//! in sshd's log; a disabled user, a revoked serial and leaving the group
//! (a replaced snapshot) refuse the same still-valid certificate on the
//! next login; a registered key logs in through `AuthorizedKeysCommand`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../ca/tests/sshd/mod.rs"]
mod sshd;
mod support;

use ssh_key::PublicKey;
use support::*;
use ward_agent::shared::Current;
use ward_pki::sshca::{sign_user_cert, CaAlg, SshCa, UserCertRequest};
use ward_protocol::host::{Snapshot, SnapshotSshKey};

const INNER: &str = "WARD_SSHD_E2E_INNER";

const ALICE: &str = "AIDAALICE0000000001";

fn replace(sh: &ward_agent::shared::Shared, snap: &Snapshot, generation: u64) {
    let mut s = snap.clone();
    s.generation = generation;
    sh.replace(Current {
        snapshot: s,
        received_at: now(),
    });
}

#[test]
fn sshd_logins_are_decided_by_the_agent() {
    if sshd::in_mount_namespace("sshd_logins_are_decided_by_the_agent", INNER).is_some() {
        return;
    }
    let dir = TempDir::new("ward-agent-sshd");
    // Local accounts alice and deploy, in this namespace only.
    let mut passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    passwd.push_str(
        "alice:*:200000:200000:alice:/:/bin/sh\ndeploy:*:200100:200100:deploy:/:/bin/sh\n",
    );
    sshd::private_etc(dir.path(), &[("passwd", &passwd)]);

    // The CA and alice's certificate (key id = her ward user id).
    let ca = SshCa::generate(CaAlg::Ed25519).unwrap();
    let key = sshd::keygen(dir.path(), "alice_key", &["-t", "ed25519"]);
    let pub_line = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let user_key = PublicKey::from_openssh(pub_line.trim()).unwrap();
    let principals = vec!["alice".to_owned()];
    let t = now() as u64;
    let cert = sign_user_cert(
        &ca,
        &UserCertRequest {
            public_key: &user_key,
            serial: 7,
            key_id: ALICE,
            principals: &principals,
            valid_after: t - 60,
            valid_before: t + 3600,
            permit_pty: true,
            permit_port_forwarding: false,
            permit_agent_forwarding: false,
            permit_x11_forwarding: false,
            permit_user_rc: false,
            source_addresses: None,
        },
    )
    .unwrap();
    let cert_path = dir.path().join("alice_key-cert.pub");
    std::fs::write(&cert_path, format!("{}\n", cert.to_openssh().unwrap())).unwrap();

    // Certificates first: alice has no registered key yet (ssh would fall
    // back to the plain key after a refused certificate).
    let mut snap = base_snapshot();
    snap.ssh_user_ca_keys = vec![ca.public_line("ward")];
    let (sh, rec) = shared(Some(snap.clone()), now(), 3600);
    let mut opts = options(dir.path());
    opts.passwd_file = "/etc/passwd".into();
    let srv = start(sh.clone(), opts);
    let cfg = dir.path().join("agent.toml");
    std::fs::write(
        &cfg,
        format!("socket = {:?}\n", srv.socket.display().to_string()),
    )
    .unwrap();

    let safe = sshd::SafeCommand::copy(std::path::Path::new(env!("CARGO_BIN_EXE_ward-agent")));
    let bin = safe.path().display();
    let server = sshd::Sshd::start(&format!(
        "AuthorizedPrincipalsFile none\n\
         AuthorizedPrincipalsCommand {bin} --config {cfg} ssh-authorized-principals -- %u %i %s %k\n\
         AuthorizedPrincipalsCommandUser root\n\
         AuthorizedKeysCommand {bin} --config {cfg} ssh-authorized-keys -- %u %f\n\
         AuthorizedKeysCommandUser root\n",
        cfg = cfg.display()
    ));
    server.set_trusted_user_ca_keys(&ca.public_line("ward"));

    let login = |account: &str| server.login(account, &key, &cert_path);
    let ok = |account: &str| {
        let out = login(account);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "ok\n",
            "{account}: {}\n{}",
            sshd::text(&out),
            server.log()
        );
    };
    let refused = |account: &str, reason: &str| {
        let since = server.log().len();
        let out = login(account);
        assert!(
            !out.status.success(),
            "{account} logged in: {}\n{}\n{:#?}",
            sshd::text(&out),
            &server.log()[since..],
            rec.events().last()
        );
        assert!(
            server.log_has(since, reason),
            "{account}: sshd did not log {reason:?}:\n{}",
            &server.log()[since..]
        );
    };

    ok("alice");
    ok("deploy");
    refused("root", "no statement allows host:Login");

    // Disabled: the same certificate is refused on the next login.
    let mut s = snap.clone();
    s.users[0].enabled = false;
    replace(&sh, &s, 2);
    refused("alice", "ward user alice is disabled");

    // Revoked serial (sshd's own KRL is empty: the agent refuses it).
    let mut s = snap.clone();
    s.revoked_ssh_serials = vec![7];
    replace(&sh, &s, 3);
    refused("alice", "revoked");

    // Removed from ops: the policy no longer applies.
    let mut s = snap.clone();
    s.users[0].groups.clear();
    replace(&sh, &s, 4);
    refused("deploy", "no statement allows host:Login");

    // Back in: in again (it is the snapshot that decides).
    replace(&sh, &snap, 5);
    ok("deploy");

    // A registered key, no certificate: AuthorizedKeysCommand.
    let mut with_key = snap.clone();
    with_key.users[0].ssh_keys = vec![SnapshotSshKey {
        id: "APKAALICE".into(),
        public_key: pub_line.trim().to_owned(),
        status: "Active".into(),
    }];
    replace(&sh, &with_key, 6);
    let plain = |account: &str| {
        server.login_with(
            account,
            &key,
            &dir.path().join("no-such-cert.pub"),
            &["-o", "CertificateFile=none"],
        )
    };
    let out = plain("deploy");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ok\n",
        "{}\n{}",
        sshd::text(&out),
        server.log()
    );
    let out = plain("root");
    assert!(!out.status.success());
    // The key of a disabled user stops working at once.
    with_key.users[0].enabled = false;
    replace(&sh, &with_key, 7);
    assert!(!plain("alice").status.success());
    // Certificate decisions and key decisions were all recorded.
    let ev = rec.events();
    assert!(ev
        .iter()
        .any(|e| e.auth_method.as_deref() == Some("ssh-key") && e.allowed));
    assert!(ev
        .iter()
        .any(|e| e.auth_method.as_deref() == Some("ssh-key") && !e.allowed));
    assert!(ev
        .iter()
        .any(|e| !e.allowed && e.reason.as_deref().unwrap_or("").contains("disabled")));
    drop(server);
    drop(srv);
}
