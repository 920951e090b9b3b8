//! `POST /v1/host/gateway/session-certificate` (issue #13, terminating
//! mode) against the real daemon on SQLite and PostgreSQL, called with
//! curl over mTLS as enrolled hosts: an ordinary host is refused (403);
//! ward-ca re-decides `host:Login` itself (a login policy does not allow
//! refuses with the reason, an unknown or disabled user is refused); bad
//! input is a 400 naming the field; an allowed request gets a certificate
//! that `ssh-keygen -L` shows with a lifetime of at most 5 minutes,
//! `source-address` = the gateway's address as ward-ca saw it, the account
//! among the principals and no forwarding; the inventory names both the
//! user and the gateway; every refusal and issue is audited.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod hosts;
mod sshd;

use common::{Db, Server};
use hosts::{enrol, mtls, HostKeys};
use serde_json::{json, Value};
use sshd::TempDir;

const PATH: &str = "/v1/host/gateway/session-certificate";

fn ask(s: &Server, keys: &HostKeys, body: &Value) -> hosts::Mtls {
    mtls(
        s,
        keys,
        "POST",
        PATH,
        Some(body.to_string().as_bytes()),
        &[],
    )
}

fn gateway_session_certificates(db: Db) {
    let Some(s) = Server::start(db) else { return };
    let d = TempDir::new("ward-gw-certs");
    let root = s.root();
    s.call(
        &root,
        "POST",
        "/v1/hosts",
        Some(&json!({"name": "web-01", "tags": [{"key": "env", "value": "test"}]}).to_string()),
    )
    .ok();
    s.call(
        &root,
        "POST",
        "/v1/hosts",
        Some(&json!({"name": "prod-01", "tags": [{"key": "env", "value": "prod"}]}).to_string()),
    )
    .ok();
    let mut ids = std::collections::HashMap::new();
    for u in ["alice", "carol"] {
        let made = s
            .call(
                &root,
                "POST",
                "/v1/users",
                Some(&json!({"name": u}).to_string()),
            )
            .ok()
            .clone();
        ids.insert(u, made["userId"].as_str().unwrap().to_owned());
        // Login as deploy on env=test hosts through a gateway only.
        let doc = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow",
            "Action":"host:Login","Resource":"arn:ward:host::*:host/*",
            "Condition":{"StringEquals":{"ward:ResourceTag/env":"test",
                "host:Service":"gateway","host:Principal":"deploy"}}}]});
        s.call(
            &root,
            "PUT",
            &format!("/v1/users/{u}/policies/login"),
            Some(&json!({"document": doc.to_string()}).to_string()),
        )
        .ok();
    }
    let (gw, _) = enrol(&s, d.path(), "gw-01", json!({"gateway": true}));
    let (plain, _) = enrol(&s, d.path(), "app-01", json!({}));
    let key = sshd::keygen(d.path(), "session", &["-t", "ed25519"]);
    let public = std::fs::read_to_string(format!("{}.pub", key.display())).unwrap();
    let req = |user: &str, target: &str, account: &str| {
        json!({"userId": user, "target": target, "account": account,
               "publicKey": public.trim(), "sourceIp": "127.0.0.1",
               "authMethod": "ssh-certificate"})
    };
    let alice = ids["alice"].clone();

    // An ordinary host may not ask.
    let r = ask(&s, &plain, &req(&alice, "web-01", "deploy"));
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("not enrolled as a gateway"), "{}", r.body);

    // Bad input names the field.
    for (body, field) in [
        (req("bob", "web-01", "deploy"), "userId"),
        (req(&alice, "", "deploy"), "target"),
        (req(&alice, "web-01", ""), "account"),
        (req(&alice, "web-01", "-rf"), "account"),
        (req(&alice, "web-01", &"a".repeat(65)), "account"),
        (req(&alice, "web-09", "deploy"), "target"),
        (
            {
                let mut b = req(&alice, "web-01", "deploy");
                b["sourceIp"] = "nowhere".into();
                b
            },
            "sourceIp",
        ),
        (
            {
                let mut b = req(&alice, "web-01", "deploy");
                b["authMethod"] = "telepathy".into();
                b
            },
            "authMethod",
        ),
        (
            {
                let mut b = req(&alice, "web-01", "deploy");
                b["publicKey"] = "ssh-ed25519 nope".into();
                b
            },
            "publicKey",
        ),
    ] {
        let r = ask(&s, &gw, &body);
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert_eq!(r.json()["error"]["field"], field, "{body}: {}", r.body);
    }

    // Denied by policy: another account, another host's tag; the reason.
    for (target, account) in [("web-01", "root"), ("prod-01", "deploy")] {
        let r = ask(&s, &gw, &req(&alice, target, account));
        assert_eq!(r.status, 403, "{target}/{account}: {}", r.body);
        let msg = r.json()["error"]["message"].as_str().unwrap().to_owned();
        assert!(msg.contains("host:Login denied"), "{msg}");
    }
    // An unknown user and a disabled one.
    let r = ask(&s, &gw, &req("AIDANOSUCHUSER0000000", "web-01", "deploy"));
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("is not a ward user"), "{}", r.body);
    s.call(&root, "POST", "/v1/users/carol/disable", None).ok();
    let r = ask(&s, &gw, &req(&ids["carol"], "web-01", "deploy"));
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("disabled"), "{}", r.body);

    // Allowed: the certificate as ssh-keygen reads it.
    let r = ask(&s, &gw, &req(&alice, "web-01", "deploy"));
    assert_eq!(r.status, 201, "{}", r.body);
    let got = r.json();
    let cert_path = d.path().join("session-cert.pub");
    std::fs::write(&cert_path, got["certificate"].as_str().unwrap()).unwrap();
    let out = std::process::Command::new("ssh-keygen")
        .arg("-L")
        .arg("-f")
        .arg(&cert_path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let listing = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        listing.contains("source-address 127.0.0.1"),
        "not pinned to the gateway: {listing}"
    );
    assert!(
        listing.contains(&format!("Key ID: \"{alice}\"")),
        "{listing}"
    );
    assert!(listing.contains("deploy"), "{listing}");
    assert!(!listing.contains("permit-port-forwarding"), "{listing}");
    // Valid: from YYYY-MM-DDTHH:MM:SS to YYYY-MM-DDTHH:MM:SS — at most 5 min
    // apart after the 30 s backdating.
    let valid = listing
        .lines()
        .find_map(|l| l.trim().strip_prefix("Valid: from "))
        .unwrap()
        .to_owned();
    let (from, to) = valid.split_once(" to ").unwrap();
    let secs = |t: &str| {
        let out = std::process::Command::new("date")
            .args(["-u", "-d", t, "+%s"])
            .env("TZ", "UTC")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<i64>()
            .unwrap()
    };
    // ssh-keygen prints local time; TZ is the same for both ends.
    let span = secs(to) - secs(from);
    assert!(span <= 300 + 30 && span > 0, "lifetime {span} s: {listing}");
    assert_eq!(got["sourceAddress"], "127.0.0.1");

    // The inventory names the user and the gateway.
    let list = s
        .call(&root, "GET", "/v1/certificates?user=alice", None)
        .ok()
        .clone();
    let rec = list["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["serial"] == got["serial"])
        .unwrap_or_else(|| panic!("not in the inventory: {list}"))
        .clone();
    assert_eq!(rec["gateway"], "gw-01", "{rec}");
    assert_eq!(rec["subject"], alice.as_str(), "{rec}");

    // Audited: the issue and the refusals, by the gateway.
    let ev = s
        .call(
            &root,
            "GET",
            "/v1/audit/events?action=host%3AGatewaySessionCertificate",
            None,
        )
        .ok()
        .clone();
    let text = ev.to_string();
    assert!(
        text.contains("Allowed") && text.contains("Denied"),
        "{text}"
    );
    assert!(text.contains("gw-01"), "{text}");
}

#[test]
fn gateway_session_certificates_sqlite() {
    gateway_session_certificates(Db::Sqlite);
}

#[test]
fn gateway_session_certificates_postgres() {
    gateway_session_certificates(Db::Postgres);
}
