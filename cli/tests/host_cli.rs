//! End-to-end test of `ward host …` (issue #8 item 4): the real `ward`
//! against the real `ward-ca serve --dev`, and the host certificate it
//! writes used by a real sshd on loopback; a real `ssh` that trusts only the
//! daemon's `@cert-authority` line accepts it with StrictHostKeyChecking=yes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

#[path = "support/harness.rs"]
mod harness;
#[path = "../../ca/tests/sshd/mod.rs"]
mod sshd;

use std::process::Command;

use harness::{check, json, Daemon, Scratch};
use sshd::{keygen, text, Sshd, TestAccount};

fn path_env() -> (String, String) {
    ("PATH".into(), std::env::var("PATH").unwrap_or_default())
}

#[test]
fn register_certify_and_deregister_hosts() {
    sshd::ensure_sshd();
    let d = Daemon::start("host");
    let home = Scratch::new("host-home");
    let h = home.0.as_path();
    let mut root = d.root_env();
    root.push(path_env());

    // Register, list, get.
    let out = check(
        h,
        &root,
        &[
            "host",
            "register",
            "db-1",
            "--alias",
            "127.0.0.1",
            "--tag",
            "env=prod",
        ],
        None,
        0,
        &["db-1", "127.0.0.1", "env=prod"],
        &[],
    );
    assert!(out.contains("arn:ward:host::"), "{out}");
    check(h, &root, &["host", "list"], None, 0, &["db-1"], &[]);
    let got = check(
        h,
        &root,
        &["host", "get", "db-1", "--output", "json"],
        None,
        0,
        &[],
        &[],
    );
    assert_eq!(json(&got)["aliases"], serde_json::json!(["127.0.0.1"]));
    // Bad input: a usage error (2) locally, the server's refusal (1).
    check(
        h,
        &root,
        &["host", "register", "x", "--tag", "novalue"],
        None,
        2,
        &[],
        &["KEY=VALUE"],
    );
    check(
        h,
        &root,
        &["host", "register", "Bad_Name"],
        None,
        1,
        &[],
        &["ValidationError"],
    );

    // Certify the sshd's host key: the certificate lands next to the key.
    let mut setup = Sshd::setup();
    let key_pub = setup.dir().join("host_ed25519_key.pub");
    let out = check(
        h,
        &root,
        &[
            "host",
            "certificate",
            "db-1",
            "--public-key",
            key_pub.to_str().unwrap(),
            "--ttl",
            "1h",
        ],
        None,
        0,
        &["HostCertificate "],
        &[],
    );
    let cert_path = setup.dir().join("host_ed25519_key-cert.pub");
    assert!(
        out.contains(&format!("HostCertificate {}", cert_path.display())),
        "{out}"
    );
    let shown = text(
        &Command::new("ssh-keygen")
            .args(["-L", "-f"])
            .arg(&cert_path)
            .output()
            .unwrap(),
    );
    assert!(shown.contains("host certificate"), "{shown}");
    assert!(
        shown.contains("db-1") && shown.contains("127.0.0.1"),
        "{shown}"
    );
    let cert_line = std::fs::read_to_string(&cert_path).unwrap();
    setup.set_host_certificate(&cert_line);

    // A user certificate to log in with (through the CLI as well).
    let account = TestAccount::create();
    let name = account.name().to_owned();
    check(h, &root, &["user", "create", &name], None, 0, &[], &[]);
    let policy = home.write(
        "issue.json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ca:IssueSshUserCertificate","Resource":"*",
            "Condition":{"ForAllValues:StringEquals":{"ca:Principals":["${ward:username}"]}}}]}"#,
    );
    check(
        h,
        &root,
        &[
            "policy",
            "put-inline",
            "issue",
            "--user",
            &name,
            "--document",
            policy.to_str().unwrap(),
        ],
        None,
        0,
        &[],
        &[],
    );
    let key = json(&check(
        h,
        &root,
        &["access-key", "create", &name, "--output", "json"],
        None,
        0,
        &[],
        &[],
    ));
    let mut user = d.key_env(
        key["accessKeyId"].as_str().unwrap(),
        key["secretAccessKey"].as_str().unwrap(),
    );
    user.push(path_env());
    let keys = Scratch::new("host-keys");
    let user_key = keygen(keys.0.as_path(), "id", &["-t", "ed25519"]);
    check(
        h,
        &user,
        &[
            "ssh",
            "login",
            "--public-key",
            user_key.with_extension("pub").to_str().unwrap(),
            "--no-agent",
        ],
        None,
        0,
        &[],
        &[],
    );
    let user_cert = keys.path("id-cert.pub");

    let sshd = setup.start("AuthorizedPrincipalsFile none\n");
    let ca_keys = check(
        h,
        &root,
        &["ssh", "trusted-user-ca-keys"],
        None,
        0,
        &[],
        &[],
    );
    sshd.set_trusted_user_ca_keys(&ca_keys);
    // The same lines as a file for sshd_config's TrustedUserCAKeys.
    let ca_file = home.path("ward_user_ca.pub");
    check(
        h,
        &root,
        &[
            "ssh",
            "trusted-user-ca-keys",
            "--out",
            ca_file.to_str().unwrap(),
        ],
        None,
        0,
        &[],
        &["saved"],
    );
    assert_eq!(std::fs::read_to_string(&ca_file).unwrap(), ca_keys);
    let known = check(
        h,
        &root,
        &["ssh", "known-hosts"],
        None,
        0,
        &["@cert-authority"],
        &[],
    );
    let known_path = home.write("known_hosts", &known);
    let kh = format!("UserKnownHostsFile={}", known_path.display());
    let ok = sshd.login_with(
        &name,
        &user_key,
        &user_cert,
        &["-o", "StrictHostKeyChecking=yes", "-o", &kh],
    );
    assert!(
        ok.status.success(),
        "ward host certificate not accepted: {}\n{}",
        text(&ok),
        sshd.log()
    );
    let empty = home.write("empty_known_hosts", "");
    let kh_empty = format!("UserKnownHostsFile={}", empty.display());
    assert!(
        !sshd
            .login_with(
                &name,
                &user_key,
                &user_cert,
                &["-o", "StrictHostKeyChecking=yes", "-o", &kh_empty],
            )
            .status
            .success(),
        "without the @cert-authority line the host must be refused"
    );

    // Deregister: gone from the registry, and certifying it again is 404.
    check(
        h,
        &root,
        &["host", "deregister", "db-1"],
        None,
        0,
        &["deregistered host db-1"],
        &[],
    );
    check(
        h,
        &root,
        &["host", "get", "db-1"],
        None,
        1,
        &[],
        &["NoSuchEntity"],
    );
    // Deregistering revoked its certificate: the host KRL says so.
    let host_krl = home.path("host.krl");
    check(
        h,
        &root,
        &["ssh", "krl", "--host", "--out", host_krl.to_str().unwrap()],
        None,
        0,
        &[],
        &["saved"],
    );
    let q = Command::new("ssh-keygen")
        .arg("-Q")
        .arg("-f")
        .arg(&host_krl)
        .arg(&cert_path)
        .output()
        .unwrap();
    assert!(text(&q).contains("REVOKED"), "{}", text(&q));
    check(
        h,
        &root,
        &[
            "host",
            "certificate",
            "db-1",
            "--public-key",
            key_pub.to_str().unwrap(),
        ],
        None,
        1,
        &[],
        &["NoSuchEntity"],
    );
    // A private key is refused locally, before anything is sent.
    let priv_path = setup_private_key_path(&key_pub);
    check(
        h,
        &root,
        &["host", "certificate", "db-1", "--public-key", &priv_path],
        None,
        2,
        &[],
        &[],
    );
}

fn setup_private_key_path(public: &std::path::Path) -> String {
    public.with_extension("").display().to_string()
}

/// `ward host join-token` prints a one-time token (issue #11) that
/// `POST /v1/host/join` accepts once; `ward host list` then shows the
/// enrolled agent's columns; bad TTLs are refused.
#[test]
fn join_tokens_enrol_hosts_shown_in_host_list() {
    let d = Daemon::start("host-join");
    let home = Scratch::new("host-join-home");
    let h = home.0.as_path();
    let root = d.root_env();
    let out = check(
        h,
        &root,
        &[
            "host",
            "join-token",
            "web-7",
            "--ttl",
            "2h",
            "--tag",
            "env=prod",
            "--output",
            "json",
        ],
        None,
        0,
        &[],
        &[],
    );
    let v = json(&out);
    let token = v["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("wjt_"), "{v}");
    // Table output shows it once, with the host.
    check(
        h,
        &root,
        &["host", "join-token", "web-8"],
        None,
        0,
        &["wjt_", "web-8", "shown once"],
        &[],
    );
    check(
        h,
        &root,
        &["host", "join-token", "web-9", "--ttl", "8d"],
        None,
        1,
        &[],
        &["ttlSeconds"],
    );
    // Join with the token as the agent does.
    let dir = home.0.join("keys");
    std::fs::create_dir_all(&dir).unwrap();
    let ok = |c: &mut Command| assert!(c.current_dir(&dir).status().unwrap().success());
    ok(Command::new("openssl").args(["genpkey", "-algorithm", "ed25519", "-out", "tls.key"]));
    ok(Command::new("openssl").args([
        "req", "-new", "-key", "tls.key", "-subj", "/CN=x", "-out", "tls.csr",
    ]));
    ok(Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-f", "host"]));
    let body = serde_json::json!({
        "token": token,
        "csrPem": std::fs::read_to_string(dir.join("tls.csr")).unwrap(),
        "sshHostPublicKey": std::fs::read_to_string(dir.join("host.pub")).unwrap().trim(),
    });
    std::fs::write(dir.join("join.json"), body.to_string()).unwrap();
    let endpoint = d.root["WARD_ENDPOINT"].clone();
    let bundle = d.root["WARD_CA_BUNDLE"].clone();
    let join = |expect: &str| {
        let out = Command::new("curl")
            .args([
                "-sS",
                "--cacert",
                &bundle,
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
            ])
            .args([
                "-H",
                "content-type: application/json",
                "--data-binary",
                "@join.json",
            ])
            .arg(format!("{endpoint}/v1/host/join"))
            .current_dir(&dir)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), expect);
    };
    join("201");
    join("401");
    let out = check(
        h,
        &root,
        &["host", "list"],
        None,
        0,
        &["web-7", "env=prod"],
        &[],
    );
    assert!(
        out.contains("LAST-SEEN") && out.contains("GENERATION") && out.contains("never"),
        "{out}"
    );
    let got = json(&check(
        h,
        &root,
        &["host", "get", "web-7", "--output", "json"],
        None,
        0,
        &[],
        &[],
    ));
    assert_eq!(got["agent"]["online"], false, "{got}");
    assert!(got["agent"]["generationCurrent"].is_u64(), "{got}");
}
