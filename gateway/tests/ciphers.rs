//! The `ciphers` setting (issue #13), every component real: `ward-ca
//! serve --dev`, a joined `ward-gateway run`, the stock `ssh` client at
//! `-v` (which logs the cipher the key exchange chose).
//!
//! An SSH client picks the first cipher of its own list that the server
//! offers, so the server steers only by what it offers: a gateway offering
//! AES-GCM alone gets AES-GCM from a stock client (whose list starts with
//! chacha20-poly1305), and a client that insists on chacha20-poly1305 is
//! refused at key exchange with OpenSSH's own message. With the default
//! setting the same client gets chacha20-poly1305.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

#[path = "../../ca/tests/sshd/mod.rs"]
mod sshd;

use support::{Ca, Client, Gateway, Scratch};

/// The cipher `ssh -v` reports for server → client, if any.
fn chosen(stderr: &str) -> Option<String> {
    stderr
        .lines()
        .find_map(|l| l.split("kex: server->client cipher: ").nth(1))
        .map(|rest| rest.split_whitespace().next().unwrap_or("").to_owned())
}

#[test]
fn offered_ciphers_steer_the_client() {
    sshd::ensure_sshd();
    let ca = Ca::start("gw-ciphers");
    let dir = Scratch::new("gw-ciphers");
    let doc = dir.write(
        "certs.json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ca:IssueSshUserCertificate","Resource":"*"}]}"#,
    );
    ca.root(&["group", "create", "ops"]);
    ca.root(&["policy", "create", "certs", "--document", support::s(&doc)]);
    ca.root(&["policy", "attach", "certs", "--group", "ops"]);
    ca.root(&["user", "create", "alice"]);
    ca.root(&["group", "add-user", "ops", "alice"]);
    let known = ca.root(&["ssh", "known-hosts"]);
    let (key, cert) = ca.user_certificate(&dir, "alice");

    let aes = Gateway::start(&ca, "gw-aes", "ciphers = [\"aes128-gcm@openssh.com\"]");
    let client = Client::new(&dir, "alice", "gw-aes", aes.port, &key, Some(&cert), &known);
    let out = client.ssh(&["-v", "gw", "true"]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        chosen(&err).as_deref(),
        Some("aes128-gcm@openssh.com"),
        "{err}"
    );
    let out = client.ssh(&["-v", "-c", "chacha20-poly1305@openssh.com", "gw", "true"]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("no matching cipher found"), "{err}");
    assert_eq!(chosen(&err), None, "{err}");

    // The default offers chacha20-poly1305 first among equals: the stock
    // client's own first choice.
    let default = Gateway::start(&ca, "gw-default", "");
    let client = Client::new(
        &dir,
        "alice",
        "gw-default",
        default.port,
        &key,
        Some(&cert),
        &known,
    );
    let out = client.ssh(&["-v", "gw", "true"]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        chosen(&err).as_deref(),
        Some("chacha20-poly1305@openssh.com"),
        "{err}"
    );

    // --check-config refuses a cipher it cannot offer, naming the key.
    let bad = dir.write("bad.toml", "ciphers = [\"aes128-cbc\"]\n");
    let out = std::process::Command::new(support::GATEWAY)
        .arg("--config")
        .arg(&bad)
        .arg("--check-config")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ciphers"), "{err}");
}
