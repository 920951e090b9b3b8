//! Certificates follow the identities they name (issue #7 items 2, 3 and
//! the host-tag item), against the real ward-ca, a stock sshd, ssh,
//! ssh-keygen and openssl:
//! - every name in a host certificate is authorized (aliases as host
//!   resources, `ca:Principals` in the context), names are unique across
//!   hosts, and revoked host certificates are refused by `ssh` through the
//!   `@revoked` lines and the host KRL ward-ca publishes;
//! - deleting or renaming a user revokes its certificates (KRL, CRL,
//!   inventory) and they no longer log in;
//! - host tags: duplicate keys refused, an unreadable stored tag column is
//!   an error rather than "no tags".
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;
mod sshd;

use std::path::Path;
use std::process::{Command, Output};

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

/// A user with an access key and an inline policy named `ca`.
fn certificates(s: &Server, root: &Creds, query: &str) -> Vec<serde_json::Value> {
    s.call(root, "GET", &format!("/v1/certificates?{query}"), None)
        .ok()["certificates"]
        .as_array()
        .unwrap()
        .clone()
}

fn host_count(s: &Server, root: &Creds) -> usize {
    s.call(root, "GET", "/v1/hosts", None).ok()["hosts"]
        .as_array()
        .unwrap()
        .len()
}

fn keygen_q(krl: &Path, cert: &Path) -> Output {
    Command::new("ssh-keygen")
        .args(["-Q", "-f"])
        .arg(krl)
        .arg(cert)
        .output()
        .unwrap()
}

const SSH_POLICY: &str = r#"{"Effect":"Allow","Action":"ca:IssueSshUserCertificate","Resource":"*",
  "Condition":{"ForAllValues:StringEquals":{"ca:Principals":["${ward:username}"]}}},
  {"Effect":"Allow","Action":"ca:IssueX509Certificate","Resource":"*"}"#;

fn host_aliases_are_authorized(db: Db) {
    let Some(s) = Server::start(db) else {
        return;
    };
    let root = s.root();
    let dir = TempDir::new("ward-ca-host-aliases");
    let host_key = keygen(dir.path(), "host", &["-t", "ed25519"]);
    let host_pub = std::fs::read_to_string(host_key.with_extension("pub")).unwrap();
    let dev = format!("arn:ward:host::{}:host/dev-*", s.account);
    let op = user_with_policy(
        &s,
        &root,
        "hostop",
        &format!(
            r#"{{"Effect":"Allow","Action":["host:RegisterHost","ca:IssueSshHostCertificate"],"Resource":"{dev}"}}"#
        ),
    );
    let before_events = s.call(&root, "GET", "/v1/certificates?kind=ssh-host", None);
    assert_eq!(before_events.ok()["certificates"], json!([]));

    // The attack: a right on host/dev-* used to register prod aliases.
    let attack = json!({"name": "dev-1", "aliases": ["prod-db.example.com", "10.0.0.5", "prod-1"]});
    s.call(&op, "POST", "/v1/hosts", Some(&attack.to_string()))
        .err(403, "AccessDenied");
    assert_eq!(host_count(&s, &root), 0, "nothing registered");
    s.call(&root, "GET", "/v1/hosts/dev-1", None)
        .err(404, "NoSuchEntity");
    // One bad alias among good ones is enough.
    let one_bad = json!({"name": "dev-1", "aliases": ["dev-1-a", "prod-1"]});
    s.call(&op, "POST", "/v1/hosts", Some(&one_bad.to_string()))
        .err(403, "AccessDenied");
    assert_eq!(host_count(&s, &root), 0);
    // Aliases inside the allowed names are fine.
    let good = json!({"name": "dev-1", "aliases": ["dev-1-a"]});
    s.call(&op, "POST", "/v1/hosts", Some(&good.to_string()))
        .ok();
    let c = s.call(
        &op,
        "POST",
        "/v1/hosts/dev-1/ssh-certificate",
        Some(&json!({"publicKey": host_pub}).to_string()),
    );
    assert_eq!(c.ok()["principals"], json!(["dev-1", "dev-1-a"]));

    // At issuance: an administrator registered dev-2 with a prod alias;
    // the operator's right on host/dev-* does not cover that name.
    let dev2 = json!({"name": "dev-2", "aliases": ["prod-2"]});
    s.call(&root, "POST", "/v1/hosts", Some(&dev2.to_string()))
        .ok();
    s.call(
        &op,
        "POST",
        "/v1/hosts/dev-2/ssh-certificate",
        Some(&json!({"publicKey": host_pub}).to_string()),
    )
    .err(403, "AccessDenied");
    assert_eq!(
        certificates(&s, &root, "kind=ssh-host").len(),
        1,
        "the refused certificate is not recorded"
    );

    // ca:Principals is supplied (multi-valued): a policy on any host
    // resource but principals limited to dev-* refuses dev-2 (prod-2).
    let op2 = user_with_policy(
        &s,
        &root,
        "hostop2",
        r#"{"Effect":"Allow","Action":"ca:IssueSshHostCertificate","Resource":"*",
            "Condition":{"ForAllValues:StringLike":{"ca:Principals":["dev-*"]},
                         "Null":{"ca:Principals":"false"}}}"#,
    );
    s.call(
        &op2,
        "POST",
        "/v1/hosts/dev-2/ssh-certificate",
        Some(&json!({"publicKey": host_pub}).to_string()),
    )
    .err(403, "AccessDenied");
    s.call(
        &op2,
        "POST",
        "/v1/hosts/dev-1/ssh-certificate",
        Some(&json!({"publicKey": host_pub}).to_string()),
    )
    .ok();
    assert_eq!(certificates(&s, &root, "kind=ssh-host").len(), 2);

    // Names are unique across hosts: a name may not be another host's
    // name or alias, an alias neither.
    for (body, field) in [
        (
            json!({"name": "web-1", "aliases": ["prod-2"]}),
            "alias of dev-2",
        ),
        (
            json!({"name": "web-1", "aliases": ["dev-2"]}),
            "name of dev-2",
        ),
        (json!({"name": "prod-2"}), "name = alias of dev-2"),
        (
            json!({"name": "web-1", "aliases": ["dev-1-a"]}),
            "alias of dev-1",
        ),
    ] {
        let r = s.call(&root, "POST", "/v1/hosts", Some(&body.to_string()));
        assert_eq!(r.status, 409, "{field}: {:?}", r.body);
        r.err(409, "EntityAlreadyExists");
    }
    assert_eq!(host_count(&s, &root), 2, "nothing half-written");
    // Within one request: an alias equal to the name or given twice; an
    // address not in canonical form (FE80::1 and fe80::1 are one name).
    for (body, field) in [
        (json!({"name": "web-1", "aliases": ["web-1"]}), "aliases[0]"),
        (
            json!({"name": "web-1", "aliases": ["a-1", "a-1"]}),
            "aliases[1]",
        ),
        (
            json!({"name": "web-1", "aliases": ["FE80::1"]}),
            "aliases[0]",
        ),
        (
            json!({"name": "web-1", "aliases": ["fe80:0::1"]}),
            "aliases[0]",
        ),
    ] {
        let r = s.call(&root, "POST", "/v1/hosts", Some(&body.to_string()));
        assert_eq!((r.status, r.field()), (400, field), "{body}: {:?}", r.body);
    }
    // Deregistering frees the names.
    s.call(&root, "DELETE", "/v1/hosts/dev-2", None).ok();
    let web = json!({"name": "web-1", "aliases": ["prod-2", "dev-2", "fe80::1"]});
    s.call(&root, "POST", "/v1/hosts", Some(&web.to_string()))
        .ok();
    let r = s.call(
        &root,
        "POST",
        "/v1/hosts",
        Some(r#"{"name":"x-1","aliases":["fe80::1"]}"#),
    );
    r.err(409, "EntityAlreadyExists");
}

#[test]
fn host_aliases_are_authorized_sqlite() {
    host_aliases_are_authorized(Db::Sqlite);
}

#[test]
fn host_aliases_are_authorized_postgres() {
    host_aliases_are_authorized(Db::Postgres);
}

/// A host certificate that ward-ca revoked (here: by deregistering the
/// host) is refused by a real `ssh` with StrictHostKeyChecking=yes using
/// the known_hosts file ward-ca publishes (`@revoked` line), and by the
/// host KRL (`RevokedHostKeys`); `ssh-keygen -Q` says REVOKED.
#[test]
fn revoked_host_certificates_are_refused_by_ssh() {
    sshd::ensure_sshd();
    let Some(s) = Server::start(Db::Sqlite) else {
        return;
    };
    let root = s.root();
    let account = TestAccount::create();
    let name = account.name().to_owned();
    let user = user_with_policy(&s, &root, &name, SSH_POLICY);
    let dir = TempDir::new("ward-ca-host-revoke");
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

    s.call(
        &root,
        "POST",
        "/v1/hosts",
        Some(r#"{"name":"db-1","aliases":["127.0.0.1"]}"#),
    )
    .ok();
    let mut setup = Sshd::setup();
    let hc = s.call(
        &root,
        "POST",
        "/v1/hosts/db-1/ssh-certificate",
        Some(&json!({"publicKey": setup.host_public_key()}).to_string()),
    );
    let hc = hc.ok().clone();
    let host_cert_line = hc["certificate"].as_str().unwrap().to_owned();
    let host_cert = dir.join("host-cert.pub");
    std::fs::write(&host_cert, format!("{host_cert_line}\n")).unwrap();
    setup.set_host_certificate(&host_cert_line);
    let d = setup.start("AuthorizedPrincipalsFile none\n");
    d.set_trusted_user_ca_keys(&String::from_utf8(public(&s, "/v1/ca/ssh-user-keys")).unwrap());

    let strict = |known: &Path, krl: Option<&Path>| {
        let kh = format!("UserKnownHostsFile={}", known.display());
        let mut args = vec![
            "-o".to_owned(),
            "StrictHostKeyChecking=yes".to_owned(),
            "-o".to_owned(),
            kh,
        ];
        if let Some(k) = krl {
            args.push("-o".into());
            args.push(format!("RevokedHostKeys={}", k.display()));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        d.login_with(&name, &key, &cert, &args)
    };
    let known_before = dir.join("known_hosts.before");
    let kh = String::from_utf8(public(&s, "/v1/ca/ssh-known-hosts")).unwrap();
    assert!(!kh.contains("@revoked"), "{kh}");
    std::fs::write(&known_before, &kh).unwrap();
    let krl_before = dir.join("host.krl.before");
    std::fs::write(&krl_before, public(&s, "/v1/ca/ssh-host.krl")).unwrap();
    let ok = strict(&known_before, Some(&krl_before));
    assert!(ok.status.success(), "{}\n{}", text(&ok), d.log());
    let q = keygen_q(&krl_before, &host_cert);
    assert_eq!(q.status.code(), Some(0), "{}", text(&q));

    // Deregistering the host revokes its certificate in the same step.
    s.call(&root, "DELETE", "/v1/hosts/db-1", None).ok();
    let listed = certificates(&s, &root, "kind=ssh-host");
    assert_eq!(listed.len(), 1);
    assert!(listed[0]["revoked"].is_string(), "{listed:?}");

    let kh = String::from_utf8(public(&s, "/v1/ca/ssh-known-hosts")).unwrap();
    let host_key_body = setup_key_body(&d.host_public_key());
    assert!(
        kh.lines()
            .any(|l| l.starts_with("@revoked * ") && l.contains(&host_key_body)),
        "{kh}"
    );
    let known_after = dir.join("known_hosts.after");
    std::fs::write(&known_after, &kh).unwrap();
    let refused = strict(&known_after, None);
    assert!(
        !refused.status.success(),
        "a revoked host certificate must be refused: {}",
        text(&refused)
    );
    assert!(
        text(&refused).to_uppercase().contains("REVOKED"),
        "{}",
        text(&refused)
    );

    // The host KRL: ssh-keygen -Q and ssh's RevokedHostKeys (with the old
    // known_hosts, which has no @revoked line) both refuse it.
    let krl = dir.join("host.krl");
    std::fs::write(&krl, public(&s, "/v1/ca/ssh-host.krl")).unwrap();
    let q = keygen_q(&krl, &host_cert);
    assert_eq!(q.status.code(), Some(1), "{}", text(&q));
    assert!(text(&q).contains("REVOKED"), "{}", text(&q));
    let refused = strict(&known_before, Some(&krl));
    assert!(
        !refused.status.success(),
        "RevokedHostKeys must refuse it: {}",
        text(&refused)
    );
    // The user KRL does not name host certificates (separate CAs).
    let user_krl = dir.join("user.krl");
    std::fs::write(&user_krl, public(&s, "/v1/ca/ssh-user.krl")).unwrap();
    assert_eq!(keygen_q(&user_krl, &host_cert).status.code(), Some(0));
}

/// The base64 body of an OpenSSH public key line.
fn setup_key_body(line: &str) -> String {
    line.split_whitespace().nth(1).unwrap().to_owned()
}

/// Issues a 1 h SSH certificate and an X.509 certificate for `creds`;
/// returns (ssh cert path, ssh serial, x509 serial).
fn issue_both(
    s: &Server,
    creds: &Creds,
    dir: &Path,
    pubkey: &str,
    tag: &str,
) -> (std::path::PathBuf, String, String) {
    let r = s.call(
        creds,
        "POST",
        "/v1/ssh/user-certificates",
        Some(&json!({"publicKey": pubkey, "validitySeconds": 3600}).to_string()),
    );
    let v = r.ok().clone();
    let path = dir.join(format!("{tag}-cert.pub"));
    std::fs::write(&path, v["certificate"].as_str().unwrap()).unwrap();
    let csr = std::fs::read_to_string(dir.join("c.csr")).unwrap();
    let x = s.call(
        creds,
        "POST",
        "/v1/x509/client-certificates",
        Some(&json!({"csr": csr}).to_string()),
    );
    let x = x.ok().clone();
    (
        path,
        v["serial"].as_str().unwrap().to_owned(),
        x["serial"].as_str().unwrap().to_owned(),
    )
}

/// The revoked serials in the CRL ward-ca publishes, as upper-case hex
/// without leading zeros (openssl's spelling).
fn crl_serials(s: &Server, dir: &Path) -> String {
    std::fs::write(dir.join("ward.crl"), public(s, "/v1/ca/x509.crl")).unwrap();
    let out = openssl(&["crl", "-in", "ward.crl", "-noout", "-text"], dir);
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).to_uppercase()
}

fn openssl_serial(hex: &str) -> String {
    let t = hex.trim_start_matches('0').to_uppercase();
    format!("SERIAL NUMBER: {t}")
}

fn remove_credentials(s: &Server, root: &Creds, name: &str, creds: &Creds) {
    s.call(
        root,
        "DELETE",
        &format!("/v1/users/{name}/policies/ca"),
        None,
    )
    .ok();
    let r = s.call(
        root,
        "DELETE",
        &format!("/v1/users/{name}/access-keys/{}", creds.id),
        None,
    );
    assert!(r.status < 300, "{:?}", r.body);
}

/// Deleting a user revokes its certificates in the same transaction, and
/// renaming revokes those naming the old name: the inventory (listed by
/// user id after deletion), the KRL (`ssh-keygen -Q`), a stock sshd and the
/// CRL (`openssl crl`) all agree.
fn delete_and_rename_revoke_certificates(db: Db) {
    sshd::ensure_sshd();
    let Some(s) = Server::start(db) else {
        return;
    };
    let root = s.root();
    let gone = TestAccount::create();
    let moved = TestAccount::create();
    let dir = TempDir::new("ward-ca-user-revoke");
    let key = keygen(dir.path(), "id", &["-t", "ed25519"]);
    let pubkey = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    assert!(openssl(
        &["genpkey", "-algorithm", "ed25519", "-out", "c.key"],
        dir.path()
    )
    .status
    .success());
    assert!(openssl(
        &["req", "-new", "-key", "c.key", "-subj", "/CN=x", "-out", "c.csr"],
        dir.path()
    )
    .status
    .success());

    let d = Sshd::start("AuthorizedPrincipalsFile none\n");
    d.set_trusted_user_ca_keys(&String::from_utf8(public(&s, "/v1/ca/ssh-user-keys")).unwrap());
    let refresh_krl = || {
        let krl = public(&s, "/v1/ca/ssh-user.krl");
        std::fs::write(dir.join("user.krl"), &krl).unwrap();
        d.set_revoked_keys(&krl);
    };

    // --- deletion ---
    let a = gone.name().to_owned();
    let a_creds = user_with_policy(&s, &root, &a, SSH_POLICY);
    let a_id = s.call(&root, "GET", &format!("/v1/users/{a}"), None).ok()["userId"]
        .as_str()
        .unwrap()
        .to_owned();
    let (a_cert, a_ssh, a_x509) = issue_both(&s, &a_creds, dir.path(), &pubkey, "a");
    refresh_krl();
    let ok = d.login(&a, &key, &a_cert);
    assert!(ok.status.success(), "{}\n{}", text(&ok), d.log());
    assert!(!crl_serials(&s, dir.path()).contains(&openssl_serial(&a_x509)));

    remove_credentials(&s, &root, &a, &a_creds);
    s.call(&root, "DELETE", &format!("/v1/users/{a}"), None)
        .ok();
    // Listed by user id after deletion; both revoked.
    let listed = certificates(&s, &root, &format!("user={a_id}"));
    assert_eq!(listed.len(), 2, "{listed:?}");
    for c in &listed {
        assert!(c["revoked"].is_string(), "{c}");
    }
    // By the (now unknown) name: 404; an unknown id lists nothing.
    s.call(&root, "GET", &format!("/v1/certificates?user={a}"), None)
        .err(404, "NoSuchEntity");
    assert_eq!(
        certificates(&s, &root, "user=AIDAAAAAAAAAAAAAAAAAA").len(),
        0
    );
    refresh_krl();
    let q = keygen_q(&dir.join("user.krl"), &a_cert);
    assert_eq!(q.status.code(), Some(1), "{}", text(&q));
    assert!(text(&q).contains("REVOKED"));
    assert!(
        !d.login(&a, &key, &a_cert).status.success(),
        "a deleted user's certificate must not log in"
    );
    assert!(crl_serials(&s, dir.path()).contains(&openssl_serial(&a_x509)));
    let _ = a_ssh;

    // --- rename ---
    let b = moved.name().to_owned();
    let b_creds = user_with_policy(&s, &root, &b, SSH_POLICY);
    let (b_cert, b_ssh, b_x509) = issue_both(&s, &b_creds, dir.path(), &pubkey, "b");
    refresh_krl();
    assert!(d.login(&b, &key, &b_cert).status.success(), "{}", d.log());
    // A path-only move names nobody new: nothing is revoked.
    s.call(
        &root,
        "PATCH",
        &format!("/v1/users/{b}"),
        Some(r#"{"newPath":"/moved/"}"#),
    )
    .ok();
    assert!(certificates(&s, &root, "kind=ssh-user&revoked=true")
        .iter()
        .all(|c| c["serial"] != b_ssh.as_str()));
    let renamed = format!("{b}-new");
    s.call(
        &root,
        "PATCH",
        &format!("/v1/users/{b}"),
        Some(&json!({"newName": renamed}).to_string()),
    )
    .ok();
    let listed = certificates(&s, &root, &format!("user={renamed}"));
    assert_eq!(listed.len(), 2, "{listed:?}");
    for c in &listed {
        assert!(c["revoked"].is_string(), "{c}");
    }
    refresh_krl();
    let q = keygen_q(&dir.join("user.krl"), &b_cert);
    assert_eq!(q.status.code(), Some(1), "{}", text(&q));
    assert!(
        !d.login(&b, &key, &b_cert).status.success(),
        "a certificate naming the old name must not log in"
    );
    assert!(crl_serials(&s, dir.path()).contains(&openssl_serial(&b_x509)));
    // A new user of the old name is a new identity: its own certificate
    // works (the revocation is by serial, not by name).
    let c_creds = user_with_policy(&s, &root, &b, SSH_POLICY);
    let (c_cert, _, _) = issue_both(&s, &c_creds, dir.path(), &pubkey, "c");
    refresh_krl();
    assert!(d.login(&b, &key, &c_cert).status.success(), "{}", d.log());
}

#[test]
fn delete_and_rename_revoke_certificates_sqlite() {
    delete_and_rename_revoke_certificates(Db::Sqlite);
}

#[test]
fn delete_and_rename_revoke_certificates_postgres() {
    delete_and_rename_revoke_certificates(Db::Postgres);
}

/// Host tags: a key given twice is refused naming the field; a tag column
/// that cannot be read is an error (fail closed), never "no tags" — a Deny
/// conditioned on the tag would otherwise stop applying.
#[test]
fn host_tags_fail_closed() {
    let Some(mut s) = Server::start(Db::Sqlite) else {
        return;
    };
    let root = s.root();
    let r = s.call(
        &root,
        "POST",
        "/v1/hosts",
        Some(r#"{"name":"h-1","tags":[{"key":"env","value":"prod"},{"key":"Env","value":"dev"}]}"#),
    );
    assert_eq!((r.status, r.field()), (400, "tags[1].key"), "{:?}", r.body);
    assert_eq!(host_count(&s, &root), 0);
    s.call(
        &root,
        "POST",
        "/v1/hosts",
        Some(r#"{"name":"h-1","tags":[{"key":"env","value":"prod"}]}"#),
    )
    .ok();
    let dir = TempDir::new("ward-ca-host-tags");
    let host_key = keygen(dir.path(), "host", &["-t", "ed25519"]);
    let host_pub = std::fs::read_to_string(host_key.with_extension("pub")).unwrap();
    let op = user_with_policy(
        &s,
        &root,
        "tagop",
        r#"{"Effect":"Allow","Action":["ca:IssueSshHostCertificate","host:GetHost"],"Resource":"*"},
           {"Effect":"Deny","Action":"ca:IssueSshHostCertificate","Resource":"*",
            "Condition":{"StringEquals":{"ward:ResourceTag/env":"prod"}}}"#,
    );
    let issue = || {
        s.call(
            &op,
            "POST",
            "/v1/hosts/h-1/ssh-certificate",
            Some(&json!({"publicKey": host_pub}).to_string()),
        )
    };
    issue().err(403, "AccessDenied");
    // Corrupt the stored tag column behind the daemon's back.
    let db = s.data_dir().join("ward.db");
    let out = Command::new("sqlite3")
        .arg(&db)
        .arg("UPDATE hosts SET tags = 'not json' WHERE name = 'h-1'")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    // (The harness refuses any 5xx, so these two calls use curl directly:
    // a 500 is the right answer for corrupted storage.)
    let body = json!({"publicKey": host_pub}).to_string();
    let (status, out) = signed_status(
        &s,
        &op,
        "POST",
        "/v1/hosts/h-1/ssh-certificate",
        Some(&body),
    );
    assert_eq!(status, 500, "fail closed, not 'no tags': {out}");
    assert_eq!(
        s.call(&root, "GET", "/v1/certificates?kind=ssh-host", None)
            .ok()["certificates"],
        json!([]),
        "nothing issued"
    );
    let (status, out) = signed_status(&s, &op, "GET", "/v1/hosts/h-1", None);
    assert_eq!(status, 500, "{out}");
    assert!(
        std::fs::read_to_string(s.dir.join("stderr.log"))
            .unwrap()
            .contains("stored tags are unreadable"),
        "the cause is logged"
    );
    s.expect_5xx(2);
}

/// A signed call with curl that, unlike the harness, accepts a 5xx.
fn signed_status(
    s: &Server,
    c: &Creds,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--cacert"])
        .arg(&s.bundle)
        .args(["--aws-sigv4", "aws:amz:local:ward", "--user"])
        .arg(format!("{}:{}", c.id, c.secret))
        .args([
            "-X",
            method,
            "-w",
            "\n%{http_code}",
            "-H",
            "content-type: application/json",
        ]);
    if let Some(b) = body {
        cmd.args(["--data-binary", b]);
    }
    let out = cmd.arg(format!("{}{path}", s.endpoint)).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (b, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), b.to_owned())
}
