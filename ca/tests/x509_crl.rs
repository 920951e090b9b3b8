//! X.509 relying parties after a rotation of the issuing CA (issue #7 item
//! 13), with the real ward-ca and the real openssl: one CRL per CA key (so
//! a revoked certificate of the old issuing key is still reported
//! revoked, and `-crl_check_all` passes for valid ones), served as a PEM
//! bundle and as DER per key with the right content types, and named in
//! issued certificates by a CRL distribution point when `external_url` is
//! configured.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;
mod sshd;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{creds_of, Creds, Db, Server};
use serde_json::json;
use sshd::{text, TempDir};

const EXTERNAL: &str = "https://ca.example.test:8443";

fn openssl(args: &[&str], dir: &Path) -> Output {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// Unauthenticated GET into `file`; returns the content type.
fn fetch(s: &Server, path: &str, file: &Path) -> String {
    let out = Command::new("curl")
        .args(["-sSf", "--cacert"])
        .arg(&s.bundle)
        .arg("-o")
        .arg(file)
        .args(["-w", "%{content_type}"])
        .arg(format!("{}{path}", s.endpoint))
        .output()
        .unwrap();
    assert!(out.status.success(), "{path}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn x509_user(s: &Server, root: &Creds) -> Creds {
    s.call(root, "POST", "/v1/users", Some(r#"{"name":"svc"}"#))
        .ok();
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ca:IssueX509Certificate","Resource":"*"}]}"#;
    s.call(
        root,
        "PUT",
        "/v1/users/svc/policies/ca",
        Some(&json!({"document": doc}).to_string()),
    )
    .ok();
    creds_of(s.call(root, "POST", "/v1/users/svc/access-keys", None).ok())
}

fn csr(d: &Path) -> String {
    assert!(
        openssl(&["genpkey", "-algorithm", "ed25519", "-out", "c.key"], d)
            .status
            .success()
    );
    let out = openssl(
        &[
            "req", "-new", "-key", "c.key", "-subj", "/CN=svc", "-out", "c.csr",
        ],
        d,
    );
    assert!(out.status.success(), "{}", text(&out));
    std::fs::read_to_string(d.join("c.csr")).unwrap()
}

/// Issues a certificate into `file`; returns (serial, chain).
fn issue(s: &Server, c: &Creds, csr: &str, d: &Path, file: &str) -> (String, String) {
    let r = s.call(
        c,
        "POST",
        "/v1/x509/client-certificates",
        Some(&json!({"csr": csr}).to_string()),
    );
    let v = r.ok().clone();
    std::fs::write(d.join(file), v["certificate"].as_str().unwrap()).unwrap();
    (
        v["serial"].as_str().unwrap().to_owned(),
        v["chain"].as_str().unwrap().to_owned(),
    )
}

fn verify(d: &Path, check: &str, cert: &str) -> Output {
    openssl(
        &[
            "verify",
            check,
            "-CAfile",
            "bundle.pem",
            "-CRLfile",
            "crls.pem",
            cert,
        ],
        d,
    )
}

/// The CRL distribution point URI of a certificate, if any.
fn cdp(d: &Path, cert: &str) -> Option<String> {
    let out = openssl(&["x509", "-in", cert, "-noout", "-text"], d);
    assert!(out.status.success(), "{}", text(&out));
    let t = String::from_utf8_lossy(&out.stdout).into_owned();
    let i = t.find("X509v3 CRL Distribution Points")?;
    t[i..]
        .lines()
        .find_map(|l| l.trim().strip_prefix("URI:").map(str::to_owned))
}

fn crls_after_rotation(db: Db) {
    let Some(s) = Server::start_with(db, &format!("external_url = \"{EXTERNAL}/\"")) else {
        return;
    };
    let root = s.root();
    let user = x509_user(&s, &root);
    let dir = TempDir::new("ward-ca-x509-crl");
    let d = dir.path();
    let csr = csr(d);
    let (old_revoked, old_chain) = issue(&s, &user, &csr, d, "old-revoked.pem");
    let _ = issue(&s, &user, &csr, d, "old-valid.pem");

    let rotate = Command::new(common::WARD_CA)
        .args(["rotate", "x509-issuing", "--config"])
        .arg(s.dir.join("ca.toml"))
        .output()
        .unwrap();
    assert!(rotate.status.success(), "{}", text(&rotate));
    // The daemon re-reads the key table within seconds: issue until the
    // chain names the new issuing CA (bounded, not a timing assertion).
    let deadline = Instant::now() + Duration::from_secs(30);
    let (new_revoked, new_chain) = loop {
        let (serial, chain) = issue(&s, &user, &csr, d, "new-revoked.pem");
        if chain != old_chain {
            break (serial, chain);
        }
        assert!(
            Instant::now() < deadline,
            "the rotation was never picked up"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let _ = issue(&s, &user, &csr, d, "new-valid.pem");
    for serial in [&old_revoked, &new_revoked] {
        s.call(
            &root,
            "POST",
            &format!("/v1/certificates/{serial}/revoke"),
            None,
        )
        .ok();
    }

    assert_eq!(
        fetch(&s, "/v1/ca/x509-bundle.pem", &d.join("bundle.pem")),
        "application/x-pem-file"
    );
    assert_eq!(
        fetch(&s, "/v1/ca/x509.crl", &d.join("crls.pem")),
        "application/x-pem-file"
    );
    let crls = std::fs::read_to_string(d.join("crls.pem")).unwrap();
    assert_eq!(
        crls.matches("-----BEGIN X509 CRL-----").count(),
        3,
        "one CRL per issuing key and one from the root:\n{crls}"
    );

    for cert in ["old-revoked.pem", "new-revoked.pem"] {
        for check in ["-crl_check", "-crl_check_all"] {
            let out = verify(d, check, cert);
            assert!(!out.status.success(), "{cert} {check}: {}", text(&out));
            assert!(
                text(&out).contains("certificate revoked"),
                "{cert} {check}: {}",
                text(&out)
            );
        }
    }
    for cert in ["old-valid.pem", "new-valid.pem"] {
        for check in ["-crl_check", "-crl_check_all"] {
            let out = verify(d, check, cert);
            assert!(
                out.status.success() && text(&out).contains(": OK"),
                "{cert} {check}: {}",
                text(&out)
            );
        }
    }

    // Each certificate names its own issuing key's CRL; that URL (here on
    // the test endpoint) serves DER signed by that key, listing exactly
    // the certificates that key signed and revoked.
    let old_url = cdp(d, "old-valid.pem").expect("CDP in old-key certificate");
    let new_url = cdp(d, "new-valid.pem").expect("CDP in new-key certificate");
    assert!(
        old_url.starts_with(&format!("{EXTERNAL}/v1/ca/x509-crls/")),
        "{old_url}"
    );
    assert_ne!(old_url, new_url);
    assert_eq!(Some(old_url.clone()), cdp(d, "old-revoked.pem"));
    // Both issuing CAs have the same subject name, and `openssl crl
    // -CAfile` picks a CA by name only: give it just the signing key's
    // certificate (the first of the chain handed out with the leaf).
    let first_cert = |chain: &str| {
        let end = "-----END CERTIFICATE-----";
        format!("{}{end}\n", &chain[..chain.find(end).unwrap()])
    };
    std::fs::write(d.join("old-issuing.pem"), first_cert(&old_chain)).unwrap();
    std::fs::write(d.join("new-issuing.pem"), first_cert(&new_chain)).unwrap();
    for (url, issuer, listed, absent) in [
        (&old_url, "old-issuing.pem", &old_revoked, &new_revoked),
        (&new_url, "new-issuing.pem", &new_revoked, &old_revoked),
    ] {
        let path = url.strip_prefix(EXTERNAL).unwrap();
        assert_eq!(fetch(&s, path, &d.join("one.crl")), "application/pkix-crl");
        let out = openssl(
            &[
                "crl", "-inform", "DER", "-in", "one.crl", "-CAfile", issuer, "-noout", "-text",
            ],
            d,
        );
        let t = text(&out).to_uppercase();
        assert!(out.status.success(), "{t}");
        assert!(t.contains("VERIFY OK"), "{t}");
        let spelled = |hex: &str| {
            format!(
                "SERIAL NUMBER: {}",
                hex.trim_start_matches('0').to_uppercase()
            )
        };
        assert!(t.contains(&spelled(listed)), "{url}: {t}");
        assert!(!t.contains(&spelled(absent)), "{url}: {t}");
    }
    let r = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(&s.bundle)
        .args(["-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("{}/v1/ca/x509-crls/no-such-key", s.endpoint))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&r.stdout), "404");
}

#[test]
fn crls_after_rotation_sqlite() {
    crls_after_rotation(Db::Sqlite);
}

#[test]
fn crls_after_rotation_postgres() {
    crls_after_rotation(Db::Postgres);
}

/// Without `external_url` there is no distribution point to name.
#[test]
fn no_distribution_point_without_external_url() {
    let Some(s) = Server::start(Db::Sqlite) else {
        return;
    };
    let root = s.root();
    let user = x509_user(&s, &root);
    let dir = TempDir::new("ward-ca-x509-nocdp");
    let csr = csr(dir.path());
    let _ = issue(&s, &user, &csr, dir.path(), "c.pem");
    assert_eq!(cdp(dir.path(), "c.pem"), None);
}
