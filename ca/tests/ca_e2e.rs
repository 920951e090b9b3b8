//! The certificate authority end to end: SSH user certificates from the
//! real ward-ca used to log into a stock sshd on loopback (trusting the CA
//! keys and KRL that ward-ca publishes), X.509 client certificates checked
//! with openssl and used for mTLS with curl, revocation everywhere, and the
//! refusals of issue #4's bad-input list.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;
mod sshd;

use std::process::Command;

use common::{openssl, user_with_policy, Creds, Db, Server};
use serde_json::json;
use sshd::{keygen, text, Sshd, TempDir, TestAccount};

/// Unauthenticated GET of a public CA endpoint, as raw bytes.
fn public(s: &Server, path: &str) -> Vec<u8> {
    let out = Command::new("curl")
        .args(["-sSf", "--cacert"])
        .arg(&s.bundle)
        .arg(format!("{}{path}", s.endpoint))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn inventory(s: &Server, root: &Creds) -> usize {
    s.call(root, "GET", "/v1/certificates?limit=1000", None)
        .ok()["certificates"]
        .as_array()
        .unwrap()
        .len()
}

/// A user with an access key and an inline policy.
const SSH_POLICY: &str = r#"{"Effect":"Allow","Action":"ca:IssueSshUserCertificate","Resource":"*",
  "Condition":{"NumericLessThanEquals":{"ca:ValiditySeconds":"28800"},
               "ForAllValues:StringEquals":{"ca:Principals":["${ward:username}"]}}}"#;

#[test]
fn ssh_certificates_log_into_stock_sshd() {
    sshd::ensure_sshd();
    let Some(s) = Server::start(Db::Sqlite) else {
        return;
    };
    let root = s.root();
    let account = TestAccount::create();
    let name = account.name().to_owned();
    let user = user_with_policy(&s, &root, &name, SSH_POLICY);
    let dir = TempDir::new("ward-ca-e2e-keys");
    let key = keygen(dir.path(), "id", &["-t", "ed25519"]);
    let pubkey = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let sign = |who: &Creds, body: serde_json::Value| {
        s.call(
            who,
            "POST",
            "/v1/ssh/user-certificates",
            Some(&body.to_string()),
        )
    };
    let before = inventory(&s, &root);

    let issued = sign(&user, json!({"publicKey": pubkey}));
    let cert = issued.ok().clone();
    let cert_path = dir.join("id-cert.pub");
    std::fs::write(&cert_path, cert["certificate"].as_str().unwrap()).unwrap();
    let shown = text(
        &Command::new("ssh-keygen")
            .args(["-L", "-f"])
            .arg(&cert_path)
            .output()
            .unwrap(),
    );
    let user_id = s
        .call(&root, "GET", &format!("/v1/users/{name}"), None)
        .ok()["userId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(shown.contains(&format!("Key ID: \"{user_id}\"")), "{shown}");
    assert!(
        shown.contains(&format!("Serial: {}", cert["serial"].as_str().unwrap())),
        "{shown}"
    );
    assert!(shown.contains("permit-pty"), "{shown}");
    assert_eq!(cert["principals"], json!([name]));
    assert_eq!(inventory(&s, &root), before + 1);

    // A stock sshd that trusts what ward-ca publishes.
    let d = Sshd::start("AuthorizedPrincipalsFile none\n");
    d.set_trusted_user_ca_keys(&String::from_utf8(public(&s, "/v1/ca/ssh-user-keys")).unwrap());
    d.set_revoked_keys(&public(&s, "/v1/ca/ssh-user.krl"));
    let ok = d.login(&name, &key, &cert_path);
    assert!(
        ok.status.success() && text(&ok).contains("ok"),
        "login failed: {}\n{}",
        text(&ok),
        d.log()
    );

    // Another user's certificate does not open this account.
    let other = user_with_policy(&s, &root, "someone-else", SSH_POLICY);
    let other_cert = sign(&other, json!({"publicKey": pubkey}));
    let other_path = dir.join("other-cert.pub");
    std::fs::write(
        &other_path,
        other_cert.ok()["certificate"].as_str().unwrap(),
    )
    .unwrap();
    assert!(
        !d.login(&name, &key, &other_path).status.success(),
        "wrong principal must fail"
    );

    // A certificate from another CA fails.
    let foreign_ca = keygen(dir.path(), "foreign-ca", &["-t", "ed25519"]);
    let out = Command::new("ssh-keygen")
        .args(["-q", "-s"])
        .arg(&foreign_ca)
        .args(["-I", "x", "-n", &name, "-z", "7"])
        .arg(key.with_extension("pub"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    // ssh-keygen -s wrote its certificate over id-cert.pub.
    let foreign = std::fs::read_to_string(&cert_path).unwrap();
    assert_ne!(foreign.trim(), cert["certificate"].as_str().unwrap().trim());
    assert!(
        !d.login(&name, &key, &cert_path).status.success(),
        "a foreign CA's certificate must fail"
    );

    // Re-issue (the foreign cert overwrote the file), then revoke: the KRL
    // ward-ca publishes makes sshd and ssh-keygen -Q refuse it.
    let again = sign(&user, json!({"publicKey": pubkey}));
    let again = again.ok().clone();
    std::fs::write(&cert_path, again["certificate"].as_str().unwrap()).unwrap();
    assert!(
        d.login(&name, &key, &cert_path).status.success(),
        "{}",
        d.log()
    );
    let serial = again["serial"].as_str().unwrap();
    s.call(
        &root,
        "POST",
        &format!("/v1/certificates/{serial}/revoke"),
        None,
    )
    .ok();
    let krl = public(&s, "/v1/ca/ssh-user.krl");
    std::fs::write(dir.join("krl"), &krl).unwrap();
    let q = Command::new("ssh-keygen")
        .args(["-Q", "-f"])
        .arg(dir.join("krl"))
        .arg(&cert_path)
        .output()
        .unwrap();
    assert_eq!(q.status.code(), Some(1), "ssh-keygen -Q: {}", text(&q));
    assert!(text(&q).contains("REVOKED"));
    d.set_revoked_keys(&krl);
    assert!(
        !d.login(&name, &key, &cert_path).status.success(),
        "revoked certificate must fail"
    );
    // Revoke all of the user's certificates at once.
    let all = s.call(
        &root,
        "POST",
        &format!("/v1/users/{name}/certificates/revoke"),
        None,
    );
    assert!(!all.ok()["serials"].as_array().unwrap().is_empty());
    let listed = s.call(
        &root,
        "GET",
        &format!("/v1/certificates?revoked=false&user={name}"),
        None,
    );
    assert_eq!(listed.ok()["certificates"].as_array().unwrap().len(), 0);

    // Refusals: nothing issued, nothing recorded.
    let count = inventory(&s, &root);
    let refuse = |who: &Creds, body: serde_json::Value, status: u16, code: &str, field: &str| {
        let r = sign(who, body.clone());
        r.err(status, code);
        if !field.is_empty() {
            assert_eq!(r.field(), field, "{body}: {}", r.body);
        }
    };
    refuse(
        &user,
        json!({"publicKey": pubkey, "validitySeconds": 30000}),
        403,
        "AccessDenied",
        "",
    );
    refuse(
        &user,
        json!({"publicKey": pubkey, "validitySeconds": 100000}),
        400,
        "ValidationError",
        "validitySeconds",
    );
    refuse(
        &user,
        json!({"publicKey": pubkey, "principals": ["root"]}),
        403,
        "AccessDenied",
        "",
    );
    refuse(
        &user,
        json!({"publicKey": pubkey, "principals": ["bad name"]}),
        400,
        "ValidationError",
        "principals[0]",
    );
    refuse(
        &user,
        json!({"publicKey": pubkey, "extensions": ["permit-everything"]}),
        400,
        "ValidationError",
        "extensions[0]",
    );
    refuse(
        &user,
        json!({"publicKey": pubkey, "sourceAddresses": ["not-an-ip"]}),
        400,
        "ValidationError",
        "sourceAddresses",
    );
    refuse(
        &user,
        json!({"publicKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA"}),
        400,
        "ValidationError",
        "publicKey",
    );
    refuse(
        &user,
        json!({"publicKey": "garbage"}),
        400,
        "ValidationError",
        "publicKey",
    );
    refuse(
        &user,
        json!({"publicKey": std::fs::read_to_string(&key).unwrap()}),
        400,
        "ValidationError",
        "publicKey",
    );
    let short = keygen(dir.path(), "short", &["-t", "rsa", "-b", "1024"]);
    refuse(
        &user,
        json!({"publicKey": std::fs::read_to_string(short.with_extension("pub")).unwrap()}),
        400,
        "ValidationError",
        "publicKey",
    );
    refuse(
        &root,
        json!({"publicKey": pubkey}),
        400,
        "ValidationError",
        "caller",
    );
    refuse(
        &user,
        json!({"publicKey": pubkey, "unknown": 1}),
        400,
        "ValidationError",
        "unknown",
    );
    assert_eq!(
        inventory(&s, &root),
        count,
        "a refused request recorded a certificate"
    );
    s.call(&root, "POST", "/v1/certificates/12345/revoke", None)
        .err(404, "NoSuchEntity");
    s.call(&root, "POST", "/v1/certificates/not-a-serial/revoke", None)
        .err(400, "ValidationError");

    // Concurrent issuance is group-committed; every certificate is recorded
    // and the audit chain still verifies.
    let before = inventory(&s, &root);
    let codes: Vec<u16> = std::thread::scope(|scope| {
        let hs: Vec<_> = (0..24)
            .map(|_| scope.spawn(|| sign(&user, json!({"publicKey": pubkey})).status))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(codes.iter().all(|&c| c == 201), "{codes:?}");
    assert_eq!(inventory(&s, &root), before + 24);
    let v = s.call(&root, "GET", "/v1/audit/verify", None);
    assert_eq!(v.ok()["ok"], true, "{}", v.body);

    // Public trust material for hosts.
    let kh = String::from_utf8(public(&s, "/v1/ca/ssh-known-hosts")).unwrap();
    assert!(kh.starts_with("@cert-authority * ssh-ed25519 "), "{kh}");
}

#[test]
fn x509_client_certificates_and_mtls() {
    let Some(s) = Server::start(Db::Sqlite) else {
        return;
    };
    let root = s.root();
    let user = user_with_policy(
        &s,
        &root,
        "svc-a",
        r#"{"Effect":"Allow","Action":"ca:IssueX509Certificate","Resource":"*","Condition":{"NumericLessThanEquals":{"ca:ValiditySeconds":"86400"}}}"#,
    );
    let dir = TempDir::new("ward-ca-e2e-x509");
    let d = dir.path();
    assert!(
        openssl(&["genpkey", "-algorithm", "ed25519", "-out", "c.key"], d)
            .status
            .success()
    );
    assert!(openssl(
        &[
            "req",
            "-new",
            "-key",
            "c.key",
            "-subj",
            "/CN=svc-a",
            "-out",
            "c.csr"
        ],
        d
    )
    .status
    .success());
    let csr = std::fs::read_to_string(d.join("c.csr")).unwrap();
    let issue = |body: serde_json::Value| {
        s.call(
            &user,
            "POST",
            "/v1/x509/client-certificates",
            Some(&body.to_string()),
        )
    };
    let r = issue(json!({"csr": csr}));
    let v = r.ok().clone();
    std::fs::write(d.join("c.pem"), v["certificate"].as_str().unwrap()).unwrap();
    std::fs::write(d.join("chain.pem"), v["chain"].as_str().unwrap()).unwrap();
    std::fs::write(d.join("bundle.pem"), public(&s, "/v1/ca/x509-bundle.pem")).unwrap();
    let verify = openssl(&["verify", "-CAfile", "chain.pem", "c.pem"], d);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let shown =
        String::from_utf8_lossy(&openssl(&["x509", "-in", "c.pem", "-noout", "-text"], d).stdout)
            .into_owned();
    assert!(
        shown.contains("TLS Web Client Authentication") && shown.contains("CA:FALSE"),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("URI:spiffe://{}.ward/user/svc-a", s.account)),
        "{shown}"
    );

    // mTLS with curl: the certificate is the credential.
    let mtls = |path: &str| {
        let out = Command::new("curl")
            .args(["-sS", "--cacert"])
            .arg(&s.bundle)
            .args(["--cert", "c.pem", "--key", "c.key"])
            .arg(format!("{}{path}", s.endpoint))
            .current_dir(d)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, body) = mtls("/v1/whoami");
    assert_eq!(code, Some(0));
    let who: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(who["authMethod"], "certificate");
    assert_eq!(
        who["arn"],
        format!("arn:ward:iam::{}:user/svc-a", s.account)
    );

    // Revoked: refused by the API, listed in the CRL.
    let serial = v["serial"].as_str().unwrap();
    s.call(
        &root,
        "POST",
        &format!("/v1/certificates/{serial}/revoke"),
        None,
    )
    .ok();
    let (_, body) = mtls("/v1/whoami");
    assert!(
        body.contains("InvalidClientCertificate") && body.contains("revoked"),
        "{body}"
    );
    std::fs::write(d.join("crl.pem"), public(&s, "/v1/ca/x509.crl")).unwrap();
    let crl =
        String::from_utf8_lossy(&openssl(&["crl", "-in", "crl.pem", "-noout", "-text"], d).stdout)
            .into_owned();
    assert!(crl.to_lowercase().contains(serial), "{crl}");

    // A client certificate from a foreign CA fails the TLS handshake.
    assert!(openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "ed25519",
            "-nodes",
            "-keyout",
            "f.key",
            "-out",
            "f.pem",
            "-subj",
            "/CN=svc-a",
            "-days",
            "1"
        ],
        d
    )
    .status
    .success());
    let out = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(&s.bundle)
        .args(["--cert", "f.pem", "--key", "f.key"])
        .arg(format!("{}/v1/whoami", s.endpoint))
        .current_dir(d)
        .output()
        .unwrap();
    assert_ne!(
        out.status.code(),
        Some(0),
        "a foreign client certificate must be refused"
    );

    // Refusals: each a 4xx naming csr, nothing recorded.
    let count = inventory(&s, &root);
    let bad_csr = |name: &str, extra: &[&str]| -> String {
        let mut args = vec![
            "req",
            "-new",
            "-key",
            "c.key",
            "-subj",
            "/CN=svc-a",
            "-out",
            name,
        ];
        args.extend_from_slice(extra);
        assert!(openssl(&args, d).status.success());
        std::fs::read_to_string(d.join(name)).unwrap()
    };
    let ca_true = bad_csr("ca.csr", &["-addext", "basicConstraints=critical,CA:TRUE"]);
    let san = bad_csr("san.csr", &["-addext", "subjectAltName=DNS:evil.example"]);
    assert!(openssl(
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:1024",
            "-out",
            "r.key"
        ],
        d
    )
    .status
    .success());
    assert!(openssl(
        &[
            "req",
            "-new",
            "-key",
            "r.key",
            "-subj",
            "/CN=svc-a",
            "-out",
            "r.csr"
        ],
        d
    )
    .status
    .success());
    let rsa1024 = std::fs::read_to_string(d.join("r.csr")).unwrap();
    let mut tampered = csr.clone();
    let i = tampered.len() / 2;
    tampered.replace_range(i..i + 1, if &tampered[i..i + 1] == "A" { "B" } else { "A" });
    for (what, body, status, code) in [
        ("CA:true", json!({"csr": ca_true}), 400, "ValidationError"),
        ("extra names", json!({"csr": san}), 400, "ValidationError"),
        ("RSA 1024", json!({"csr": rsa1024}), 400, "ValidationError"),
        ("tampered", json!({"csr": tampered}), 400, "ValidationError"),
        ("garbage", json!({"csr": "garbage"}), 400, "ValidationError"),
        (
            "TTL beyond policy",
            json!({"csr": csr, "validitySeconds": 172800}),
            403,
            "AccessDenied",
        ),
        (
            "TTL beyond 90 days",
            json!({"csr": csr, "validitySeconds": 99999999}),
            400,
            "ValidationError",
        ),
    ] {
        let r = issue(body);
        assert_eq!(
            (r.status, r.body["error"]["code"].as_str().unwrap_or("")),
            (status, code),
            "{what}: {}",
            r.body
        );
    }
    assert_eq!(
        inventory(&s, &root),
        count,
        "a refused request recorded a certificate"
    );
}

/// `ward-ca rotate ssh-user` (run beside the live daemon) adds a signing key
/// without downtime: both keys are published, old certificates keep working,
/// new ones come from the new key; `ward-ca retire` withdraws the old key.
#[test]
fn ssh_user_ca_rotation_without_downtime() {
    sshd::ensure_sshd();
    let Some(s) = Server::start(Db::Sqlite) else {
        return;
    };
    let root = s.root();
    let account = TestAccount::create();
    let name = account.name().to_owned();
    let user = user_with_policy(&s, &root, &name, SSH_POLICY);
    let dir = TempDir::new("ward-ca-e2e-rotate");
    let key = keygen(dir.path(), "id", &["-t", "ed25519"]);
    let pubkey = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let issue = |file: &str| {
        let r = s.call(
            &user,
            "POST",
            "/v1/ssh/user-certificates",
            Some(&json!({"publicKey": pubkey}).to_string()),
        );
        let path = dir.join(file);
        std::fs::write(&path, r.ok()["certificate"].as_str().unwrap()).unwrap();
        path
    };
    let signer = |cert: &std::path::Path| {
        let shown = text(
            &Command::new("ssh-keygen")
                .args(["-L", "-f"])
                .arg(cert)
                .output()
                .unwrap(),
        );
        shown
            .lines()
            .find(|l| l.contains("Signing CA:"))
            .unwrap()
            .to_owned()
    };
    let old_cert = issue("old-cert.pub");
    let d = Sshd::start("AuthorizedPrincipalsFile none\n");
    let trust = || String::from_utf8(public(&s, "/v1/ca/ssh-user-keys")).unwrap();
    d.set_trusted_user_ca_keys(&trust());
    assert!(
        d.login(&name, &key, &old_cert).status.success(),
        "{}",
        d.log()
    );

    let rotate = Command::new(common::WARD_CA)
        .args(["rotate", "ssh-user", "--data-dir"])
        .arg(s.data_dir())
        .output()
        .unwrap();
    assert!(
        rotate.status.success(),
        "{}",
        String::from_utf8_lossy(&rotate.stderr)
    );
    let out = String::from_utf8_lossy(&rotate.stdout).into_owned();
    let new_id = out
        .split("new signing key ")
        .nth(1)
        .and_then(|r| r.split(';').next())
        .unwrap()
        .trim()
        .to_owned();
    // The daemon re-reads the CA table within 2 s.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let published = trust();
    assert_eq!(
        published.lines().count(),
        2,
        "both keys are trusted during rotation:\n{published}"
    );
    d.set_trusted_user_ca_keys(&published);
    let new_cert = issue("new-cert.pub");
    assert_ne!(
        signer(&old_cert),
        signer(&new_cert),
        "new certificates come from the new key"
    );
    assert!(
        d.login(&name, &key, &old_cert).status.success(),
        "old certificate during rotation: {}",
        d.log()
    );
    assert!(
        d.login(&name, &key, &new_cert).status.success(),
        "new certificate: {}",
        d.log()
    );

    // Retire the old key: it is no longer published, and its certificates stop working.
    let old_id: Vec<String> = {
        let ev = s.call(
            &root,
            "GET",
            "/v1/audit/events?action=ca%3ACreateAuthority",
            None,
        );
        ev.ok()["events"][0]["detail"]["created"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .filter(|k| k.starts_with("ssh-user-"))
            .collect()
    };
    assert_eq!(old_id.len(), 1);
    assert_ne!(old_id[0], new_id);
    let retire = Command::new(common::WARD_CA)
        .args(["retire", &old_id[0], "--data-dir"])
        .arg(s.data_dir())
        .output()
        .unwrap();
    assert!(
        retire.status.success(),
        "{}",
        String::from_utf8_lossy(&retire.stderr)
    );
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let after = trust();
    assert_eq!(after.lines().count(), 1, "{after}");
    d.set_trusted_user_ca_keys(&after);
    assert!(
        !d.login(&name, &key, &old_cert).status.success(),
        "a retired key's certificate must fail"
    );
    assert!(
        d.login(&name, &key, &new_cert).status.success(),
        "{}",
        d.log()
    );
}

/// A registered host's key certified by ward-ca: a client that trusts only
/// the `@cert-authority` line from /v1/ca/ssh-known-hosts accepts the host
/// with StrictHostKeyChecking=yes; without that line it refuses it.
#[test]
fn host_certificates_for_registered_hosts() {
    sshd::ensure_sshd();
    let Some(s) = Server::start(Db::Sqlite) else {
        return;
    };
    let root = s.root();
    let account = TestAccount::create();
    let name = account.name().to_owned();
    let user = user_with_policy(&s, &root, &name, SSH_POLICY);
    let dir = TempDir::new("ward-ca-e2e-host");
    let key = keygen(dir.path(), "id", &["-t", "ed25519"]);
    let pubkey = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let cert = dir.join("id-cert.pub");
    let r = s.call(
        &user,
        "POST",
        "/v1/ssh/user-certificates",
        Some(&json!({"publicKey": pubkey}).to_string()),
    );
    std::fs::write(&cert, r.ok()["certificate"].as_str().unwrap()).unwrap();

    // Register the host (clients reach it as 127.0.0.1) and certify its key.
    let reg = s.call(
        &root,
        "POST",
        "/v1/hosts",
        Some(r#"{"name":"db-1","aliases":["127.0.0.1"],"tags":[{"key":"env","value":"prod"}]}"#),
    );
    assert_eq!(
        reg.ok()["arn"],
        format!("arn:ward:host::{}:host/db-1", s.account)
    );
    s.call(&root, "POST", "/v1/hosts", Some(r#"{"name":"DB-1"}"#))
        .err(400, "ValidationError");
    s.call(&root, "POST", "/v1/hosts", Some(r#"{"name":"db-1"}"#))
        .err(409, "EntityAlreadyExists");
    let mut setup = Sshd::setup();
    let host_key = setup.host_public_key();
    let hc = s.call(
        &root,
        "POST",
        "/v1/hosts/db-1/ssh-certificate",
        Some(&json!({"publicKey": host_key}).to_string()),
    );
    let hc = hc.ok().clone();
    assert_eq!(hc["principals"], json!(["db-1", "127.0.0.1"]));
    setup.set_host_certificate(hc["certificate"].as_str().unwrap());
    let d = setup.start("AuthorizedPrincipalsFile none\n");
    d.set_trusted_user_ca_keys(&String::from_utf8(public(&s, "/v1/ca/ssh-user-keys")).unwrap());

    let known = dir.join("known_hosts");
    std::fs::write(&known, public(&s, "/v1/ca/ssh-known-hosts")).unwrap();
    let strict = |file: &std::path::Path| {
        let kh = format!("UserKnownHostsFile={}", file.display());
        d.login_with(
            &name,
            &key,
            &cert,
            &["-o", "StrictHostKeyChecking=yes", "-o", &kh],
        )
    };
    let ok = strict(&known);
    assert!(
        ok.status.success(),
        "host certificate not accepted: {}\n{}",
        text(&ok),
        d.log()
    );
    let empty = dir.join("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    assert!(
        !strict(&empty).status.success(),
        "an unknown host must be refused with StrictHostKeyChecking"
    );

    // Recorded in the inventory; bad input refused.
    let hosts = s.call(&root, "GET", "/v1/certificates?kind=ssh-host", None);
    assert_eq!(hosts.ok()["certificates"].as_array().unwrap().len(), 1);
    s.call(
        &root,
        "POST",
        "/v1/hosts/nope/ssh-certificate",
        Some(&json!({"publicKey": host_key}).to_string()),
    )
    .err(404, "NoSuchEntity");
    let bad = s.call(
        &root,
        "POST",
        "/v1/hosts/db-1/ssh-certificate",
        Some(r#"{"publicKey":"garbage"}"#),
    );
    assert_eq!((bad.status, bad.field()), (400, "publicKey"));
    s.call(
        &root,
        "POST",
        "/v1/hosts/db-1/ssh-certificate",
        Some(&json!({"publicKey": host_key, "validitySeconds": 10}).to_string()),
    )
    .err(400, "ValidationError");
    // A user without host:* rights cannot register hosts or certify them.
    s.call(&user, "POST", "/v1/hosts", Some(r#"{"name":"web-1"}"#))
        .err(403, "AccessDenied");
    s.call(
        &user,
        "POST",
        "/v1/hosts/db-1/ssh-certificate",
        Some(&json!({"publicKey": host_key}).to_string()),
    )
    .err(403, "AccessDenied");
    s.call(&root, "DELETE", "/v1/hosts/db-1", None).ok();
    s.call(&root, "GET", "/v1/hosts/db-1", None)
        .err(404, "NoSuchEntity");
}

/// After `ward-ca rotate x509-issuing` on a live daemon, certificates from
/// the new issuing CA pass the mTLS handshake without a restart, and those
/// from the old one keep working until it is retired.
#[test]
fn x509_rotation_updates_the_mtls_anchors() {
    let Some(s) = Server::start(Db::Sqlite) else {
        return;
    };
    let root = s.root();
    let user = user_with_policy(
        &s,
        &root,
        "svc-r",
        r#"{"Effect":"Allow","Action":"ca:IssueX509Certificate","Resource":"*"}"#,
    );
    let dir = TempDir::new("ward-ca-e2e-x509-rotate");
    let d = dir.path();
    assert!(
        openssl(&["genpkey", "-algorithm", "ed25519", "-out", "c.key"], d)
            .status
            .success()
    );
    assert!(openssl(
        &[
            "req",
            "-new",
            "-key",
            "c.key",
            "-subj",
            "/CN=svc-r",
            "-out",
            "c.csr"
        ],
        d
    )
    .status
    .success());
    let csr = std::fs::read_to_string(d.join("c.csr")).unwrap();
    let issue = |file: &str| {
        let r = s.call(
            &user,
            "POST",
            "/v1/x509/client-certificates",
            Some(&json!({"csr": csr}).to_string()),
        );
        let v = r.ok().clone();
        std::fs::write(d.join(file), v["certificate"].as_str().unwrap()).unwrap();
        v["chain"].as_str().unwrap().to_owned()
    };
    let whoami = |cert: &str| {
        let out = Command::new("curl")
            .args(["-sS", "--cacert"])
            .arg(&s.bundle)
            .args(["--cert", cert, "--key", "c.key"])
            .arg(format!("{}/v1/whoami", s.endpoint))
            .current_dir(d)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).contains("\"authMethod\":\"certificate\"")
    };
    let old_chain = issue("old.pem");
    assert!(whoami("old.pem"));

    let rotate = Command::new(common::WARD_CA)
        .args(["rotate", "x509-issuing", "--data-dir"])
        .arg(s.data_dir())
        .output()
        .unwrap();
    assert!(
        rotate.status.success(),
        "{}",
        String::from_utf8_lossy(&rotate.stderr)
    );
    // The daemon notices the new key within its 2 s re-check (or its 5 s refresh).
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let new_chain = issue("new.pem");
    assert_ne!(
        old_chain, new_chain,
        "the new certificate comes from the new issuing CA"
    );
    assert!(
        whoami("new.pem"),
        "a certificate from the rotated issuing CA must pass without a restart"
    );
    assert!(
        whoami("old.pem"),
        "the old issuing CA stays trusted until retired"
    );
}
