//! The CA keys and the TLS key are never printed (issue #7, tests that
//! check what they claim): the real ward-ca runs, issues, rotates and
//! refuses bad input; then the test opens the sealed CA keys itself with
//! the master key, reads the TLS key, and searches everything the daemon
//! and `ward-ca rotate` printed (banner, stdout, stderr log) for the key
//! material in every spelling: PEM body lines, the whole base64 body, the
//! DER and the raw private scalar in hex and base64 — not for a label.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::path::Path;
use std::process::Command;

use base64::Engine;
use common::{Db, Server};
use serde_json::json;
use ward_ca::crypto::MasterKey;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Every spelling of a PEM private key worth searching for.
fn spellings(pem: &str) -> Vec<String> {
    let body: Vec<&str> = pem
        .lines()
        .filter(|l| !l.starts_with("-----") && !l.trim().is_empty())
        .collect();
    assert!(!body.is_empty(), "not a PEM key");
    let joined = body.concat();
    let der = B64.decode(&joined).unwrap();
    let mut out: Vec<String> = body
        .iter()
        .filter(|l| l.len() >= 16)
        .map(|l| (*l).to_owned())
        .collect();
    out.push(joined);
    out.push(hex::encode(&der));
    out.push(hex::encode_upper(&der));
    // The raw private key: for OpenSSH keys from the key data; for PKCS#8
    // Ed25519 the last 32 bytes of the DER.
    let raw: Vec<u8> = match ssh_key::PrivateKey::from_openssh(pem) {
        Ok(k) => match k.key_data() {
            ssh_key::private::KeypairData::Ed25519(kp) => kp.private.to_bytes().to_vec(),
            ssh_key::private::KeypairData::Ecdsa(ssh_key::private::EcdsaKeypair::NistP256 {
                private,
                ..
            }) => private.as_slice().to_vec(),
            other => panic!("unexpected CA key type {:?}", other.algorithm()),
        },
        Err(_) => der[der.len().saturating_sub(32)..].to_vec(),
    };
    assert_eq!(raw.len(), 32);
    out.push(hex::encode(&raw));
    out.push(hex::encode_upper(&raw));
    out.push(B64.encode(&raw).trim_end_matches('=').to_owned());
    out.push(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(&raw)
            .to_owned(),
    );
    out
}

/// `(id, opened private text)` of every CA key, opened with the master key.
fn ca_keys(data: &Path) -> Vec<(String, String)> {
    let master = MasterKey::load(&data.join("master.key")).unwrap();
    let out = Command::new("sqlite3")
        .arg(data.join("ward.db"))
        .arg("SELECT id || ' ' || hex(sealed_private) FROM ca_keys ORDER BY id")
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (id, sealed) = l.split_once(' ').unwrap();
            let opened = master
                .open(&hex::decode(sealed).unwrap(), id.as_bytes())
                .unwrap();
            (id.to_owned(), String::from_utf8(opened.to_vec()).unwrap())
        })
        .collect()
}

#[test]
fn ca_and_tls_keys_are_never_printed() {
    let Some(mut s) = Server::start(Db::Sqlite) else {
        return;
    };
    let root = s.root();
    // Exercise signing paths and error paths.
    s.call(&root, "POST", "/v1/users", Some(r#"{"name":"k"}"#))
        .ok();
    s.call(
        &root,
        "POST",
        "/v1/hosts",
        Some(r#"{"name":"h-1","aliases":["127.0.0.1"]}"#),
    )
    .ok();
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    s.call(
        &root,
        "POST",
        "/v1/hosts/h-1/ssh-certificate",
        Some(&json!({"publicKey": key}).to_string()),
    )
    .ok();
    s.call(
        &root,
        "POST",
        "/v1/hosts/h-1/ssh-certificate",
        Some(r#"{"publicKey":"garbage"}"#),
    )
    .err(400, "ValidationError");
    for path in [
        "/v1/ca/x509.crl",
        "/v1/ca/ssh-host.krl",
        "/v1/ca/ssh-known-hosts",
    ] {
        let r = Command::new("curl")
            .args(["-sSf", "--cacert"])
            .arg(&s.bundle)
            .arg(format!("{}{path}", s.endpoint))
            .output()
            .unwrap();
        assert!(r.status.success(), "{path}");
    }
    let mut printed = String::new();
    for authority in ["ssh-user", "x509-issuing"] {
        let r = Command::new(common::WARD_CA)
            .args(["rotate", authority, "--data-dir"])
            .arg(s.data_dir())
            .output()
            .unwrap();
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        printed.push_str(&String::from_utf8_lossy(&r.stdout));
        printed.push_str(&String::from_utf8_lossy(&r.stderr));
    }
    s.stop();
    for f in ["banner.log", "stdout.log", "stderr.log"] {
        printed.push_str(&std::fs::read_to_string(s.dir.join(f)).unwrap());
    }
    assert!(
        printed.contains("WARD_SECRET_ACCESS_KEY"),
        "the banner was read"
    );

    let data = s.data_dir();
    let keys = ca_keys(&data);
    assert_eq!(keys.len(), 6, "four authorities and two rotations");
    let tls = std::fs::read_to_string(data.join("tls/server.key")).unwrap();
    let mut checked = 0;
    for (id, pem) in keys
        .iter()
        .map(|(i, p)| (i.as_str(), p.as_str()))
        .chain([("tls/server.key", tls.as_str())])
    {
        for spelling in spellings(pem) {
            assert!(
                !printed.contains(&spelling),
                "key material of {id} was printed ({} chars)",
                spelling.len()
            );
            checked += 1;
        }
    }
    assert!(checked > 40, "{checked}");
    // The search is able to find what it looks for.
    let probe = format!("{printed}{}", spellings(&keys[0].1)[0]);
    assert!(spellings(&keys[0].1).iter().any(|k| probe.contains(k)));
}
