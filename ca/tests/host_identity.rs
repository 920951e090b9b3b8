//! Hosts against the real daemon (issue #11, ward-ca side): join tokens,
//! `POST /v1/host/join` with an openssl CSR and an ssh-keygen host key (as
//! the agent makes them), the host principal over mTLS (curl `--cert`),
//! the snapshot with ETag/304/long-poll, renewal, audit delivery and
//! deregistration — on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod hosts;
mod sshd;

use std::process::Command;

use common::{creds_of, Creds, Db, Server};
use hosts::{enrolled, host_keys, install, join, join_token, mtls, run, snapshot, HostKeys};
use serde_json::{json, Value};
use sshd::TempDir;

fn user_with_keys(s: &Server, name: &str) -> Creds {
    let root = s.root();
    s.call(
        &root,
        "POST",
        "/v1/users",
        Some(&json!({"name": name}).to_string()),
    )
    .ok();
    creds_of(
        s.call(
            &root,
            "POST",
            &format!("/v1/users/{name}/access-keys"),
            None,
        )
        .ok(),
    )
}

fn both(f: fn(Db)) {
    f(Db::Sqlite);
    f(Db::Postgres);
}

// ---- enrolment --------------------------------------------------------------

fn join_happy_path_and_token_refusals(db: Db) {
    let Some(s) = Server::start(db) else { return };
    let dir = TempDir::new("ward-host-join");
    let d = dir.path();
    let root = s.root();

    // Bad TTLs name the field; nothing is made.
    for ttl in [0, 59, 7 * 86_400 + 1] {
        let r = s.call(
            &root,
            "POST",
            "/v1/hosts/web-01/join-tokens",
            Some(&json!({"ttlSeconds": ttl}).to_string()),
        );
        r.err(400, "ValidationError");
        assert_eq!(r.field(), "ttlSeconds");
    }
    // The token authorizes as host:RegisterHost with request tags: a user
    // without the right gets 403.
    let nobody = user_with_keys(&s, "nobody");
    s.call(&nobody, "POST", "/v1/hosts/web-01/join-tokens", Some("{}"))
        .err(403, "AccessDenied");

    // The agent's CSR may state its own SPIFFE id.
    let token = join_token(
        &s,
        &root,
        "web-01",
        json!({"tags": [{"key": "env", "value": "prod"}], "ttlSeconds": 600}),
    );
    assert!(token.starts_with("wjt_") && token.len() == 47, "{token}");
    let own = format!("spiffe://{}.ward/host/web-01", s.account);
    let keys = host_keys(d, "web-01", Some(&own));
    let v = join(&s, &token, &keys).ok().clone();
    assert_eq!(v["hostName"], "web-01");
    assert_eq!(
        v["hostArn"],
        format!("arn:ward:host::{}:host/web-01", s.account)
    );
    assert!(v["caBundlePem"]
        .as_str()
        .unwrap()
        .contains("BEGIN CERTIFICATE"));
    assert!(!v["sshUserCaKeys"].as_array().unwrap().is_empty());
    install(&keys, &v);
    // The certificate: URI SAN spiffe://TD/host/NAME, clientAuth.
    let text = run(Command::new("openssl")
        .args(["x509", "-in", "tls.pem", "-noout", "-text"])
        .current_dir(&keys.dir))
    .stdout;
    let text = String::from_utf8_lossy(&text);
    assert!(text.contains(&format!("URI:{own}")), "{text}");
    assert!(text.contains("TLS Web Client Authentication"), "{text}");
    // The SSH host certificate certifies the host key for its name.
    std::fs::write(
        keys.dir.join("host-cert.pub"),
        v["sshHostCertificate"].as_str().unwrap(),
    )
    .unwrap();
    let shown = run(Command::new("ssh-keygen")
        .args(["-L", "-f", "host-cert.pub"])
        .current_dir(&keys.dir))
    .stdout;
    let shown = String::from_utf8_lossy(&shown);
    assert!(
        shown.contains("host certificate") && shown.contains("web-01"),
        "{shown}"
    );
    // The host is registered with the token's tags.
    let h = s.call(&root, "GET", "/v1/hosts/web-01", None).ok().clone();
    assert_eq!(h["tags"], json!([{"key": "env", "value": "prod"}]));
    assert!(h["agent"]["x509Serial"].is_string(), "{h}");

    // Replaying the token: 401, nothing written.
    let before = s
        .call(&root, "GET", "/v1/certificates?limit=1000", None)
        .ok()["certificates"]
        .as_array()
        .unwrap()
        .len();
    let again = host_keys(d, "web-01-again", None);
    let m = join(&s, &token, &again)
        .err(401, "InvalidJoinToken")
        .to_owned();
    assert!(m.contains("already been used"), "{m}");
    // A garbage token and an unknown one.
    let mut body =
        json!({"token": "wjt_nope", "csrPem": again.csr, "sshHostPublicKey": again.ssh_pub});
    s.raw(
        "POST",
        "/v1/host/join",
        &[],
        Some(body.to_string().as_bytes()),
    )
    .err(401, "InvalidJoinToken");
    body["token"] = json!(format!("wjt_{}", "A".repeat(43)));
    s.raw(
        "POST",
        "/v1/host/join",
        &[],
        Some(body.to_string().as_bytes()),
    )
    .err(401, "InvalidJoinToken");
    // An expired token: 401. (Made expired by the store, as time passing would.)
    let expired = join_token(&s, &root, "web-02", json!({"ttlSeconds": 60}));
    let hash = sha256_hex(&expired);
    let sql = format!("UPDATE host_join_tokens SET expires_at = 1 WHERE token_hash = '{hash}'");
    exec_sql(&s, &sql);
    let m = join(&s, &expired, &again)
        .err(401, "InvalidJoinToken")
        .to_owned();
    assert!(m.contains("expired"), "{m}");
    let after = s
        .call(&root, "GET", "/v1/certificates?limit=1000", None)
        .ok()["certificates"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, after, "a refused join recorded certificates");
    assert_eq!(s.call(&root, "GET", "/v1/hosts/web-02", None).status, 404);

    // A CSR naming another host's SPIFFE id is refused (403), and the
    // token is not consumed by the refusal.
    let t3 = join_token(&s, &root, "web-03", json!({}));
    let other = format!("spiffe://{}.ward/host/web-01", s.account);
    let thief = host_keys(d, "thief", Some(&other));
    let m = join(&s, &t3, &thief).err(403, "AccessDenied").to_owned();
    assert!(m.contains("web-03") && m.contains("csrPem"), "{m}");
    // Garbage and oversized CSR or SSH key: 400 naming the field.
    let good = host_keys(d, "web-03", None);
    for (csr, key, field) in [
        ("garbage".to_owned(), good.ssh_pub.clone(), "csrPem"),
        ("A".repeat(20_000), good.ssh_pub.clone(), "csrPem"),
        (
            good.csr.clone(),
            "ssh-ed25519 AAAAnotbase64".to_owned(),
            "sshHostPublicKey",
        ),
        (
            good.csr.clone(),
            format!("ssh-ed25519 {}", "A".repeat(9000)),
            "sshHostPublicKey",
        ),
    ] {
        let b = json!({"token": t3, "csrPem": csr, "sshHostPublicKey": key});
        let r = s.raw("POST", "/v1/host/join", &[], Some(b.to_string().as_bytes()));
        r.err(400, "ValidationError");
        assert_eq!(r.field(), field, "{}", r.body);
    }
    // The token still works after those refusals.
    join(&s, &t3, &good).ok();
}

#[test]
fn join_happy_path_and_token_refusals_sqlite() {
    join_happy_path_and_token_refusals(Db::Sqlite);
}

#[test]
fn join_happy_path_and_token_refusals_postgres() {
    join_happy_path_and_token_refusals(Db::Postgres);
}

fn sha256_hex(s: &str) -> String {
    use std::io::Write;
    let mut child = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// Runs SQL on the server's database (sqlite3 or psql).
fn exec_sql(s: &Server, sql: &str) {
    match s.db {
        Db::Sqlite => {
            run(Command::new("sqlite3")
                .arg(s.data_dir().join("ward.db"))
                .arg(format!("PRAGMA busy_timeout=10000; {sql}")));
        }
        Db::Postgres => {
            common::psql(s.db_url.as_deref().unwrap(), sql);
        }
    }
}

#[test]
fn failed_joins_are_rate_limited_like_bad_signatures() {
    let Some(s) = Server::start(Db::Sqlite) else {
        return;
    };
    let dir = TempDir::new("ward-host-join-limit");
    let keys = host_keys(dir.path(), "h", None);
    // The failure table counts per source in a fixed 60 s window; 260
    // joins made by one curl process each took longer than that on a
    // loaded machine, so the window restarted before the limit was
    // reached. One curl process sends them all (`--next`), one after the
    // other, as fast as the daemon answers.
    let url = format!("{}/v1/host/join", s.endpoint);
    let mut args: Vec<String> = Vec::new();
    for i in 0..260 {
        let b = json!({"token": format!("wjt_{:0>43}", i), "csrPem": keys.csr, "sshHostPublicKey": keys.ssh_pub});
        let file = dir.path().join(format!("join-{i}.json"));
        std::fs::write(&file, b.to_string()).unwrap();
        if i > 0 {
            args.push("--next".into());
        }
        args.extend([
            "-sS".into(),
            "--cacert".into(),
            s.bundle.display().to_string(),
            "-H".into(),
            "content-type: application/json".into(),
            "--data-binary".into(),
            format!("@{}", file.display()),
            "-w".into(),
            "\n%{http_code}\n".into(),
            url.clone(),
        ]);
    }
    let out = std::process::Command::new("curl")
        .args(&args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len(),
        2 * 260,
        "one body and one status per join: {text}"
    );
    let mut limited = false;
    for (i, pair) in lines.chunks(2).enumerate() {
        let (body, status) = (pair[0], pair[1]);
        let v: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| {
            panic!(
                "join {i}: {e}: status {status}, body {body:?}; curl: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        if status == "429" {
            assert_eq!(v["error"]["code"], "Throttling", "{body}");
            limited = true;
            break;
        }
        assert_eq!(status, "401", "{body}");
        assert_eq!(v["error"]["code"], "InvalidJoinToken", "{body}");
    }
    assert!(
        limited,
        "260 bad join tokens from one source were never throttled"
    );
    assert!(s.metric("ward_auth_failures_total") > 0);
    assert!(s.metric("ward_auth_rate_limited_total") > 0);
}

// ---- host identity -----------------------------------------------------------

fn host_principal_is_confined_to_host_routes(db: Db) {
    let Some(s) = Server::start(db) else { return };
    let dir = TempDir::new("ward-host-identity");
    let d = dir.path();
    let root = s.root();
    let (keys, _) = enrolled(&s, d, "db-01");

    // The host reads its snapshot …
    let r = snapshot(&s, &keys, "", None);
    assert_eq!(r.status, 200, "{}", r.body);
    let snap = r.json();
    assert_eq!(snap["host"]["name"], "db-01");
    assert_eq!(
        snap["host"]["tags"],
        json!([{"key": "env", "value": "prod"}])
    );
    // … and nothing else.
    for (method, path) in [
        ("GET", "/v1/users"),
        ("GET", "/v1/whoami"),
        ("GET", "/v1/hosts"),
        // The Query API: GetUser calls its handler directly, ListUsers
        // goes through the in-process dispatch; both are confined.
        ("GET", "/?Action=GetUser&UserName=db-01&Version=2010-05-08"),
        ("GET", "/?Action=ListUsers&Version=2010-05-08"),
    ] {
        let r = mtls(&s, &keys, method, path, None, &[]);
        assert_eq!(r.status, 403, "{path}: {}", r.body);
        assert!(
            r.body.contains("hosts may only call host routes"),
            "{}",
            r.body
        );
    }
    // A user's certificate (or key) gets 403 on the host routes.
    let alice = user_with_keys(&s, "alice");
    let r = s.call(&alice, "GET", "/v1/host/snapshot", None);
    r.err(403, "AccessDenied");
    s.call(
        &root,
        "PUT",
        "/v1/users/alice/policies/x509",
        Some(&json!({"document": r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ca:IssueX509Certificate","Resource":"*"}]}"#}).to_string()),
    )
    .ok();
    let alice_keys = host_keys(d, "alice-tls", None);
    let cert = s
        .call(
            &alice,
            "POST",
            "/v1/x509/client-certificates",
            Some(&json!({"csr": alice_keys.csr}).to_string()),
        )
        .ok()
        .clone();
    std::fs::write(
        alice_keys.dir.join("tls.pem"),
        cert["certificate"].as_str().unwrap(),
    )
    .unwrap();
    let r = mtls(&s, &alice_keys, "GET", "/v1/whoami", None, &[]);
    assert_eq!(r.status, 200, "alice's certificate works: {}", r.body);
    let r = mtls(&s, &alice_keys, "GET", "/v1/host/snapshot", None, &[]);
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("only an enrolled host"), "{}", r.body);
    let r = s.call(&root, "GET", "/v1/host/snapshot", None);
    r.err(403, "AccessDenied");

    // Renewal: fresh certificates for its own name; they work.
    let renewed_keys = host_keys(d, "db-01-renew", None);
    let body = json!({"csrPem": renewed_keys.csr, "sshHostPublicKey": renewed_keys.ssh_pub});
    let r = mtls(
        &s,
        &keys,
        "POST",
        "/v1/host/renew",
        Some(body.to_string().as_bytes()),
        &[],
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let renewed = r.json();
    assert_eq!(renewed["hostName"], "db-01");
    install(&renewed_keys, &renewed);
    assert_eq!(snapshot(&s, &renewed_keys, "", None).status, 200);
    // A renewal CSR naming another host is refused.
    let other = host_keys(
        d,
        "db-01-other",
        Some(&format!("spiffe://{}.ward/host/web-09", s.account)),
    );
    let body = json!({"csrPem": other.csr, "sshHostPublicKey": other.ssh_pub});
    let r = mtls(
        &s,
        &keys,
        "POST",
        "/v1/host/renew",
        Some(body.to_string().as_bytes()),
        &[],
    );
    assert_eq!(r.status, 403, "{}", r.body);

    // Revoking one host certificate refuses it at once.
    let serial = renewed_keys_serial(&renewed_keys);
    s.call(
        &root,
        "POST",
        &format!("/v1/certificates/{serial}/revoke"),
        None,
    )
    .ok();
    let r = snapshot(&s, &renewed_keys, "", None);
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("revoked"), "{}", r.body);

    // Deregistration revokes both certificates; the still-unexpired host
    // certificate is refused immediately.
    assert_eq!(snapshot(&s, &keys, "", None).status, 200);
    s.call(&root, "DELETE", "/v1/hosts/db-01", None).ok();
    let r = snapshot(&s, &keys, "", None);
    assert_eq!(r.status, 403, "{}", r.body);
    let revoked = s
        .call(
            &root,
            "GET",
            "/v1/certificates?limit=1000&revoked=true",
            None,
        )
        .ok()
        .clone();
    let kinds: Vec<&str> = revoked["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["principals"] == json!(["db-01"]))
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"x509-client") && kinds.contains(&"ssh-host"),
        "{revoked}"
    );
}

fn renewed_keys_serial(keys: &HostKeys) -> String {
    let out = run(Command::new("openssl")
        .args(["x509", "-in", "tls.pem", "-noout", "-serial"])
        .current_dir(&keys.dir))
    .stdout;
    String::from_utf8_lossy(&out)
        .trim()
        .trim_start_matches("serial=")
        .to_lowercase()
}

#[test]
fn host_principal_is_confined_to_host_routes_sqlite() {
    host_principal_is_confined_to_host_routes(Db::Sqlite);
}

#[test]
fn host_principal_is_confined_to_host_routes_postgres() {
    host_principal_is_confined_to_host_routes(Db::Postgres);
}

// ---- snapshot ----------------------------------------------------------------

fn snapshot_etag_long_poll_and_no_secrets(db: Db) {
    let Some(s) = Server::start(db) else { return };
    let dir = TempDir::new("ward-host-snapshot");
    let d = dir.path();
    let root = s.root();
    let (keys, _) = enrolled(&s, d, "app-01");
    let alice = user_with_keys(&s, "alice");
    let secret = alice.secret.clone();
    s.call(&root, "POST", "/v1/groups", Some(r#"{"name":"ops"}"#))
        .ok();
    s.call(&root, "PUT", "/v1/groups/ops/users/alice", None)
        .ok();
    s.call(
        &root,
        "PUT",
        "/v1/users/alice/policies/login",
        Some(&json!({"document": r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"host:Login","Resource":"*"}]}"#}).to_string()),
    )
    .ok();
    s.call(
        &root,
        "PUT",
        "/v1/users/alice/login-profile",
        Some(r#"{"password":"correct horse battery staple","passwordResetRequired":false}"#),
    )
    .ok();
    let (_, ssh_pub) = {
        let k = host_keys(d, "alice-ssh", None);
        ((), k.ssh_pub)
    };
    s.call(
        &root,
        "POST",
        "/v1/users/alice/ssh-keys",
        Some(&json!({"publicKey": ssh_pub}).to_string()),
    )
    .ok();

    let r = snapshot(&s, &keys, "", None);
    assert_eq!(r.status, 200, "{}", r.body);
    let etag = r.header("etag").unwrap().to_owned();
    let snap = r.json();
    assert_eq!(etag, format!("\"g{}\"", snap["generation"]));
    let a = snap["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "alice")
        .unwrap()
        .clone();
    assert_eq!(a["groups"], json!(["ops"]));
    assert_eq!(a["enabled"], true);
    assert_eq!(a["posix"]["home"], "/home/alice");
    assert_eq!(a["posix"]["shell"], "/bin/bash");
    assert_eq!(a["posix"]["gid"], a["posix"]["uid"]);
    assert_eq!(a["loginProfile"]["resetRequired"], false);
    assert_eq!(a["sshKeys"][0]["status"], "Active");
    assert!(a["inlinePolicies"][0]
        .as_str()
        .unwrap()
        .contains("host:Login"));
    assert!(snap["groups"][0]["gid"].is_u64());
    // Never a secret: no password hash, no access key secret.
    assert!(
        !r.body.contains(&secret),
        "the access key secret is in the snapshot"
    );
    assert!(
        !r.body.contains("$argon2"),
        "a password hash is in the snapshot"
    );
    assert!(
        !r.body.to_lowercase().contains("passwordhash"),
        "{}",
        r.body
    );

    // If-None-Match with the current ETag: 304, no body.
    let r = snapshot(&s, &keys, "", Some(&etag));
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    // Bad wait values name the field.
    for w in ["61", "-1", "x", "1.5"] {
        let r = snapshot(&s, &keys, &format!("?wait={w}"), Some(&etag));
        assert_eq!(r.status, 400, "{}", r.body);
        assert_eq!(r.json()["error"]["field"], "wait");
    }

    // A password login and a certificate issuance do not move the
    // generation: a long-poll across both answers 304 at its deadline.
    let poll = {
        let (s_endpoint, bundle, dir, etag) = (
            s.endpoint.clone(),
            s.bundle.clone(),
            keys.dir.clone(),
            etag.clone(),
        );
        std::thread::spawn(move || {
            let out = Command::new("curl")
                .args(["-sS", "--cacert"])
                .arg(&bundle)
                .args(["--cert", "tls.pem", "--key", "tls.key"])
                .args(["-H", &format!("if-none-match: {etag}")])
                .args(["-o", "/dev/null", "-w", "%{http_code}"])
                .arg(format!("{s_endpoint}/v1/host/snapshot?wait=3"))
                .current_dir(&dir)
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        })
    };
    s.raw(
        "POST",
        "/v1/login",
        &[],
        Some(br#"{"userName":"alice","password":"correct horse battery staple"}"#),
    )
    .ok();
    let issuer = user_with_keys(&s, "issuer");
    s.call(
        &root,
        "PUT",
        "/v1/users/issuer/policies/ca",
        Some(&json!({"document": r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ca:IssueSshUserCertificate","Resource":"*"}]}"#}).to_string()),
    )
    .ok();
    let r = snapshot(&s, &keys, "", None);
    let etag2 = r.header("etag").unwrap().to_owned();
    // (Setting issuer's policy above moved the generation; take the new one.)
    let poll2 = {
        let (s_endpoint, bundle, dir, etag2) = (
            s.endpoint.clone(),
            s.bundle.clone(),
            keys.dir.clone(),
            etag2.clone(),
        );
        std::thread::spawn(move || {
            let out = Command::new("curl")
                .args(["-sS", "--cacert"])
                .arg(&bundle)
                .args(["--cert", "tls.pem", "--key", "tls.key"])
                .args(["-H", &format!("if-none-match: {etag2}")])
                .args(["-o", "/dev/null", "-w", "%{http_code}"])
                .arg(format!("{s_endpoint}/v1/host/snapshot?wait=3"))
                .current_dir(&dir)
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        })
    };
    s.raw(
        "POST",
        "/v1/login",
        &[],
        Some(br#"{"userName":"alice","password":"correct horse battery staple"}"#),
    )
    .ok();
    let issued = s
        .call(
            &issuer,
            "POST",
            "/v1/ssh/user-certificates",
            Some(&json!({"publicKey": ssh_pub}).to_string()),
        )
        .ok()
        .clone();
    assert_eq!(
        poll2.join().unwrap(),
        "304",
        "a login or an issuance woke the long-poll"
    );
    // The first poll started before the policy change: that change woke it.
    assert_eq!(poll.join().unwrap(), "200");
    assert_eq!(snapshot(&s, &keys, "", Some(&etag2)).status, 304);

    // Revoking an SSH user certificate moves the generation, and the
    // snapshot lists its serial.
    let serial = issued["serial"].as_str().unwrap();
    s.call(
        &root,
        "POST",
        &format!("/v1/certificates/{serial}/revoke"),
        None,
    )
    .ok();
    let r = snapshot(&s, &keys, "", Some(&etag2));
    assert_eq!(r.status, 200, "a revocation did not move the generation");
    assert!(
        r.json()["revokedSshSerials"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v.as_u64().map(|n| n.to_string()).as_deref() == Some(serial)),
        "{}",
        r.body
    );
    let etag2 = r.header("etag").unwrap().to_owned();

    // A group change wakes a long-poll with a new generation before its
    // wait expires: the poll is started with a 60 s wait, the change is
    // made, and the poll answers 200 with a generation other than the one
    // it held (ordering: it cannot have timed out, which would be 304).
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = {
        let (s_endpoint, bundle, dir, etag2) = (
            s.endpoint.clone(),
            s.bundle.clone(),
            keys.dir.clone(),
            etag2.clone(),
        );
        std::thread::spawn(move || {
            let out = Command::new("curl")
                .args(["-sS", "--cacert"])
                .arg(&bundle)
                .args(["--cert", "tls.pem", "--key", "tls.key"])
                .args(["-H", &format!("if-none-match: {etag2}")])
                .args(["-o", "poll.json", "-w", "%{http_code}"])
                .arg(format!("{s_endpoint}/v1/host/snapshot?wait=60"))
                .current_dir(&dir)
                .output()
                .unwrap();
            tx.send(()).unwrap();
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        })
    };
    // The poll must still be waiting before the change.
    assert!(
        rx.recv_timeout(std::time::Duration::from_millis(1500))
            .is_err(),
        "the long-poll answered before anything changed"
    );
    s.call(&root, "DELETE", "/v1/groups/ops/users/alice", None)
        .ok();
    assert_eq!(waiter.join().unwrap(), "200");
    let woke: Value =
        serde_json::from_str(&std::fs::read_to_string(keys.dir.join("poll.json")).unwrap())
            .unwrap();
    assert_ne!(format!("\"g{}\"", woke["generation"]), etag2);
    let a = woke["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "alice")
        .unwrap()
        .clone();
    assert_eq!(a["groups"], json!([]));

    // ward host list: last seen, online, agent version, generations.
    let l = s.call(&root, "GET", "/v1/hosts", None).ok().clone();
    let h = &l["hosts"][0];
    assert_eq!(h["agent"]["online"], true, "{l}");
    assert_eq!(h["agent"]["agentVersion"], "ward-agent/0.1.0-test");
    assert!(h["agent"]["generationHeld"].is_u64(), "{l}");
    // A bad agent version header is refused naming it.
    let r = mtls(
        &s,
        &keys,
        "GET",
        "/v1/host/snapshot",
        None,
        &[("x-ward-agent-version", &"v".repeat(65))],
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["field"], "X-Ward-Agent-Version");
}

#[test]
fn snapshot_etag_long_poll_and_no_secrets_sqlite() {
    snapshot_etag_long_poll_and_no_secrets(Db::Sqlite);
}

#[test]
fn snapshot_etag_long_poll_and_no_secrets_postgres() {
    snapshot_etag_long_poll_and_no_secrets(Db::Postgres);
}

// ---- audit -------------------------------------------------------------------

fn event(id: &str) -> Value {
    json!({"id": id, "time": 1_700_000_000, "action": "host:Login", "user": "alice",
           "principal": "deploy", "service": "sshd", "sourceIp": "192.0.2.7",
           "authMethod": "ssh-certificate", "allowed": false, "reason": "not in ops"})
}

fn audit_batches_are_deduplicated(db: Db) {
    let Some(s) = Server::start(db) else { return };
    let dir = TempDir::new("ward-host-audit");
    let root = s.root();
    let (keys, _) = enrolled(&s, dir.path(), "bastion");
    let gen = |s: &Server| snapshot(s, &keys, "", None).json()["generation"].clone();
    let g0 = gen(&s);
    let batch = json!({"events": [event("e1"), event("e2"), event("e2")]});
    let r = mtls(
        &s,
        &keys,
        "POST",
        "/v1/host/audit",
        Some(batch.to_string().as_bytes()),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), json!({"recorded": 2, "duplicates": 1}));
    // Re-sent after a lost reply: nothing new.
    let batch = json!({"events": [event("e1"), event("e2"), event("e3")]});
    let r = mtls(
        &s,
        &keys,
        "POST",
        "/v1/host/audit",
        Some(batch.to_string().as_bytes()),
        &[],
    );
    assert_eq!(r.json(), json!({"recorded": 1, "duplicates": 2}));
    let ev = s
        .call(
            &root,
            "GET",
            "/v1/audit/events?action=host%3ALogin&limit=100",
            None,
        )
        .ok()
        .clone();
    let evs = ev["events"].as_array().unwrap();
    assert_eq!(evs.len(), 3, "{ev}");
    assert_eq!(
        evs[0]["principal"],
        format!("arn:ward:host::{}:host/bastion", s.account)
    );
    // Audit appends do not move the generation.
    assert_eq!(gen(&s), g0);
    // 501 events: 400, nothing recorded; a bad event names its field.
    let big: Vec<Value> = (0..501).map(|i| event(&format!("b{i}"))).collect();
    let r = mtls(
        &s,
        &keys,
        "POST",
        "/v1/host/audit",
        Some(json!({"events": big}).to_string().as_bytes()),
        &[],
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["error"]["field"], "events");
    let mut bad = vec![event("c1"), event("c2")];
    bad[1]["action"] = json!("iam:CreateUser");
    let r = mtls(
        &s,
        &keys,
        "POST",
        "/v1/host/audit",
        Some(json!({"events": bad}).to_string().as_bytes()),
        &[],
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["field"], "events[1].action");
    let mut bad = vec![event("../x")];
    bad[0]["reason"] = json!("x");
    let r = mtls(
        &s,
        &keys,
        "POST",
        "/v1/host/audit",
        Some(json!({"events": bad}).to_string().as_bytes()),
        &[],
    );
    assert_eq!(r.json()["error"]["field"], "events[0].id");
    let ev = s
        .call(
            &root,
            "GET",
            "/v1/audit/events?action=host%3ALogin&limit=1000",
            None,
        )
        .ok()
        .clone();
    assert_eq!(
        ev["events"].as_array().unwrap().len(),
        3,
        "a refused batch was recorded"
    );
    s.call(&root, "GET", "/v1/audit/verify", None).ok();
}

#[test]
fn audit_batches_are_deduplicated_sqlite() {
    audit_batches_are_deduplicated(Db::Sqlite);
}

#[test]
fn audit_batches_are_deduplicated_postgres() {
    audit_batches_are_deduplicated(Db::Postgres);
}

#[test]
fn backends_share_helpers() {
    // Keeps `both` used: a quick join on each backend.
    both(|db| {
        let Some(s) = Server::start(db) else { return };
        let dir = TempDir::new("ward-host-both");
        let (keys, v) = enrolled(&s, dir.path(), "x-01");
        assert_eq!(v["hostName"], "x-01");
        assert_eq!(snapshot(&s, &keys, "", None).status, 200);
    });
}

/// Large snapshots are gzipped for hosts that ask for it (every change
/// costs each host the whole snapshot); the decoded bytes are exactly the
/// uncompressed answer, with the same ETag; `gzip;q=0` and no
/// `Accept-Encoding` get plain JSON.
#[test]
fn large_snapshots_are_gzipped_for_hosts_that_accept_it() {
    let Some(s) = Server::start(Db::Sqlite) else {
        return;
    };
    let dir = TempDir::new("ward-host-gzip");
    let d = dir.path();
    let root = s.root();
    let (keys, _) = enrolled(&s, d, "gz-01");
    for i in 0..80 {
        s.call(
            &root,
            "POST",
            "/v1/users",
            Some(&json!({"name": format!("user{i:03}"), "tags": [{"key": "team", "value": "platform-engineering"}]}).to_string()),
        )
        .ok();
    }
    let plain = snapshot(&s, &keys, "", None);
    assert_eq!(plain.status, 200);
    assert!(plain.body.len() >= 16 * 1024, "{} bytes", plain.body.len());
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(plain.header("vary"), Some("accept-encoding"));

    let refused = mtls(
        &s,
        &keys,
        "GET",
        "/v1/host/snapshot",
        None,
        &[("accept-encoding", "gzip;q=0")],
    );
    assert_eq!(refused.header("content-encoding"), None);
    assert_eq!(refused.body, plain.body);

    let gz = mtls(
        &s,
        &keys,
        "GET",
        "/v1/host/snapshot",
        None,
        &[("accept-encoding", "br, gzip")],
    );
    assert_eq!(gz.status, 200);
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert_eq!(gz.header("etag"), plain.header("etag"));
    let raw = std::fs::read(keys.dir.join("body.txt")).unwrap();
    assert!(
        raw.len() * 4 < plain.body.len(),
        "{} vs {} bytes",
        raw.len(),
        plain.body.len()
    );
    let out = Command::new("gzip")
        .arg("-dc")
        .arg(keys.dir.join("body.txt"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), plain.body);
}
