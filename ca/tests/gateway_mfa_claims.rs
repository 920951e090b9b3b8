//! A gateway's MFA claim on `POST /v1/host/gateway/session-certificate`
//! (issues #13 and #14: MFA at the gateway) against the real daemon on
//! SQLite and PostgreSQL, called with curl over mTLS as an enrolled
//! gateway. alice's `host:Login` needs `ward:MultiFactorAuthPresent`:
//! without `mfaAuthenticatedAt` it is denied; a claim for a user with no
//! device, a claim from the future and a claim from before her device was
//! enabled are refused (403, audited);
//! the time `POST /v1/host/mfa/verify` answered gets the certificate, and
//! the audit event carries it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod hosts;
mod sshd;

use common::{Db, Server};
use hosts::{enrol, mtls};
use serde_json::json;
use sshd::TempDir;
use ward_ca::crypto::totp;

const PATH: &str = "/v1/host/gateway/session-certificate";

fn unix_now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

fn claims(db: Db) {
    let Some(s) = Server::start(db) else { return };
    let d = TempDir::new("ward-gw-mfa");
    let root = s.root();
    s.call(
        &root,
        "POST",
        "/v1/hosts",
        Some(&json!({"name": "web-01", "tags": [{"key": "env", "value": "test"}]}).to_string()),
    )
    .ok();
    let mut ids = std::collections::HashMap::new();
    for u in ["alice", "bob"] {
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
        let doc = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow",
            "Action":"host:Login","Resource":"arn:ward:host::*:host/*",
            "Condition":{"StringEquals":{"host:Service":"gateway","host:Principal":"deploy"},
                         "Bool":{"ward:MultiFactorAuthPresent":"true"},
                         "NumericLessThan":{"ward:MultiFactorAuthAge":"600"}}}]});
        s.call(
            &root,
            "PUT",
            &format!("/v1/users/{u}/policies/login"),
            Some(&json!({"document": doc.to_string()}).to_string()),
        )
        .ok();
    }
    // alice's device (bob has none).
    let r = s.call(
        &root,
        "POST",
        "/v1/mfa-devices",
        Some(&json!({ "virtualMfaDeviceName": "alice-phone" }).to_string()),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let serial = r.body["serialNumber"].as_str().unwrap().to_owned();
    let seed = totp::base32_decode(r.body["base32StringSeed"].as_str().unwrap()).unwrap();
    let enabled = unix_now();
    let now = totp::step_of(enabled);
    s.call(
        &root,
        "POST",
        "/v1/users/alice/mfa-devices",
        Some(
            &json!({
                "serialNumber": serial,
                "authenticationCode1": totp::code_at(&seed, now - 1),
                "authenticationCode2": totp::code_at(&seed, now),
            })
            .to_string(),
        ),
    )
    .ok();

    let (gw, _) = enrol(&s, d.path(), "gw-01", json!({"gateway": true}));
    let key = sshd::keygen(d.path(), "session", &["-t", "ed25519"]);
    let public = std::fs::read_to_string(format!("{}.pub", key.display())).unwrap();
    let ask = |user: &str, at: Option<i64>| {
        let mut b = json!({"userId": ids[user], "target": "web-01", "account": "deploy",
               "publicKey": public.trim(), "sourceIp": "127.0.0.1",
               "authMethod": "ssh-certificate"});
        if let Some(at) = at {
            b["mfaAuthenticatedAt"] = at.into();
        }
        mtls(&s, &gw, "POST", PATH, Some(b.to_string().as_bytes()), &[])
    };

    // No claim: the policy denies.
    let r = ask("alice", None);
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("host:Login denied"), "{}", r.body);
    // bob has no device: his claim is refused.
    let r = ask("bob", Some(unix_now()));
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("accepted no code then"), "{}", r.body);
    // A claim from before alice's device was enabled.
    let r = ask("alice", Some(enabled - 3600));
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("accepted no code then"), "{}", r.body);

    // A code checked by the host route: its time gets the certificate.
    let code = totp::code_at(&seed, now + 1);
    let v = mtls(
        &s,
        &gw,
        "POST",
        "/v1/host/mfa/verify",
        Some(
            json!({"userName": "alice", "code": code, "rhost": "127.0.0.1"})
                .to_string()
                .as_bytes(),
        ),
        &[],
    );
    assert_eq!(v.status, 200, "{}", v.body);
    let at = v.json()["mfaAuthenticatedAt"].as_i64().unwrap();
    let r = ask("alice", Some(at));
    assert_eq!(r.status, 201, "{}", r.body);
    // A claim from the future (after ward-ca's now, and past any step the
    // device accepted).
    let r = ask("alice", Some((now + 4) * 30));
    assert_eq!(r.status, 403, "{}", r.body);

    // Audited: the refusals with their reason, the issue with the time.
    let ev = s.call(
        &root,
        "GET",
        "/v1/audit/events?action=host%3AGatewaySessionCertificate&limit=100",
        None,
    );
    let ev = ev.ok()["events"].as_array().unwrap().clone();
    let refused = ev
        .iter()
        .filter(|e| e["detail"]["reason"] == "no MFA check at mfaAuthenticatedAt")
        .count();
    assert_eq!(refused, 3, "{ev:?}");
    assert!(
        ev.iter()
            .any(|e| e["decision"] == "Allowed" && e["detail"]["mfaAuthenticatedAt"] == at),
        "{ev:?}"
    );
}

#[test]
fn gateway_mfa_claims_sqlite() {
    claims(Db::Sqlite);
}

#[test]
fn gateway_mfa_claims_postgres() {
    claims(Db::Postgres);
}
