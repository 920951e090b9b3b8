//! A gateway's MFA claim is bound to the host that checked the code
//! (review 7 item 1; issues #13 and #14), against the real daemon on
//! SQLite and PostgreSQL, called with curl over mTLS as three enrolled
//! hosts: `pam-01` (a plain host, as pam_ward's agent calls the route) and
//! the gateways `gw-a` and `gw-b`.
//!
//! `POST /v1/host/mfa/verify` records which host checked each code; a
//! one-session certificate request whose `mfaAuthenticatedAt` is the time
//! of a code another host checked is refused (403 with the reason, audited),
//! even though the user's device did accept a code then; the gateway that
//! checked it gets its certificate. A code checked through the API
//! (`sts:GetSessionToken`) cannot be claimed by any gateway either. Once
//! the device is deactivated and deleted, even the checking gateway's
//! claim is refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod hosts;
mod sshd;

use common::{Db, Server};
use hosts::{enrol, mtls, HostKeys};
use serde_json::{json, Value};
use sshd::TempDir;
use ward_ca::crypto::totp;

const CERT: &str = "/v1/host/gateway/session-certificate";
const VERIFY: &str = "/v1/host/mfa/verify";
const ELSEWHERE: &str = "MFA code at mfaAuthenticatedAt checked by another host";
const NO_CHECK: &str = "no MFA check at mfaAuthenticatedAt";

fn unix_now() -> i64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    i64::try_from(t).unwrap()
}

fn step_now() -> i64 {
    totp::step_of(unix_now())
}

/// Waits (hang guard 10 s) for the clock to pass second `t`, so that the
/// next check is not at the same time as the last one.
fn past(t: i64) {
    let start = std::time::Instant::now();
    while unix_now() <= t {
        assert!(start.elapsed().as_secs() < 10, "the clock stopped");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// An enabled device: its seed and the last step ward-ca accepted.
struct Device {
    name: String,
    seed: Vec<u8>,
    last: i64,
}

impl Device {
    /// Creates `USER-phone` and enables it for `user` with the codes of
    /// the two steps before the current one, so the next two are free.
    fn enable(s: &Server, user: &str) -> Device {
        let root = s.root();
        let name = format!("{user}-phone");
        let r = s.call(
            &root,
            "POST",
            "/v1/mfa-devices",
            Some(&json!({ "virtualMfaDeviceName": name }).to_string()),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let serial = r.body["serialNumber"].as_str().unwrap().to_owned();
        let seed = totp::base32_decode(r.body["base32StringSeed"].as_str().unwrap()).unwrap();
        for _ in 0..3 {
            let now = step_now();
            let r = s.call(
                &root,
                "POST",
                &format!("/v1/users/{user}/mfa-devices"),
                Some(
                    &json!({
                        "serialNumber": serial,
                        "authenticationCode1": totp::code_at(&seed, now - 2),
                        "authenticationCode2": totp::code_at(&seed, now - 1),
                    })
                    .to_string(),
                ),
            );
            if r.status == 200 {
                return Device {
                    name,
                    seed,
                    last: now - 1,
                };
            }
            // The step turned between the codes and the check: again.
        }
        panic!("could not enable {user}'s device");
    }

    /// The next unused code ward-ca accepts now (waiting, with a hang
    /// guard, for its step to come within the ±1 window if it must).
    fn next(&mut self) -> String {
        let s = step_now().max(self.last + 1);
        let t = std::time::Instant::now();
        while step_now() + 1 < s {
            assert!(t.elapsed().as_secs() < 120, "the clock stopped");
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        self.last = s;
        totp::code_at(&self.seed, s)
    }
}

/// Has `host` check `user`'s `code`: the time ward-ca answered.
fn verify(s: &Server, host: &HostKeys, user: &str, code: &str) -> i64 {
    let body = json!({"userName": user, "code": code, "rhost": "192.0.2.7"});
    let r = mtls(
        s,
        host,
        "POST",
        VERIFY,
        Some(body.to_string().as_bytes()),
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["mfaAuthenticatedAt"].as_i64().unwrap()
}

fn binding(db: Db) {
    let Some(s) = Server::start(db) else { return };
    let d = TempDir::new("ward-gw-mfa-bind");
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
                         "Bool":{"ward:MultiFactorAuthPresent":"true"}}},
            {"Effect":"Allow","Action":"sts:GetSessionToken","Resource":"*"}]});
        s.call(
            &root,
            "PUT",
            &format!("/v1/users/{u}/policies/login"),
            Some(&json!({"document": doc.to_string()}).to_string()),
        )
        .ok();
    }
    let mut alice_phone = Device::enable(&s, "alice");
    let mut bob_phone = Device::enable(&s, "bob");

    let (pam, _) = enrol(&s, d.path(), "pam-01", json!({}));
    let (gw_a, _) = enrol(&s, d.path(), "gw-a", json!({"gateway": true}));
    let (gw_b, _) = enrol(&s, d.path(), "gw-b", json!({"gateway": true}));
    let key = sshd::keygen(d.path(), "session", &["-t", "ed25519"]);
    let public = std::fs::read_to_string(format!("{}.pub", key.display())).unwrap();
    let ask = |gw: &HostKeys, user: &str, at: i64| {
        let b = json!({"userId": ids[user], "target": "web-01", "account": "deploy",
               "publicKey": public.trim(), "sourceIp": "127.0.0.1",
               "authMethod": "ssh-certificate", "mfaAuthenticatedAt": at});
        mtls(&s, gw, "POST", CERT, Some(b.to_string().as_bytes()), &[])
    };
    let refused_elsewhere = |r: &hosts::Mtls, gw: &str| {
        assert_eq!(r.status, 403, "{}", r.body);
        assert!(
            r.body.contains("was checked by another host, not by")
                && r.body.contains(gw)
                && r.body.contains("alice"),
            "{}",
            r.body
        );
    };

    // A code alice typed at a PAM host: the device accepted it, but no
    // gateway checked it, so neither gateway may claim its time.
    let at_pam = verify(&s, &pam, "alice", &alice_phone.next());
    refused_elsewhere(&ask(&gw_b, "alice", at_pam), "gw-b");
    refused_elsewhere(&ask(&gw_a, "alice", at_pam), "gw-a");

    // A code gateway A checked: B may not borrow it; A gets its certificate.
    past(at_pam);
    let at_a = verify(&s, &gw_a, "alice", &alice_phone.next());
    refused_elsewhere(&ask(&gw_b, "alice", at_a), "gw-b");
    let r = ask(&gw_a, "alice", at_a);
    assert_eq!(r.status, 201, "{}", r.body);
    // The claim names the user too: A's check of alice's code is no MFA
    // time for bob.
    let r = ask(&gw_a, "bob", at_a);
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("accepted no code then"), "{}", r.body);

    // A code gateway B checked: B gets its certificate.
    let at_b = verify(&s, &gw_b, "bob", &bob_phone.next());
    let r = ask(&gw_b, "bob", at_b);
    assert_eq!(r.status, 201, "{}", r.body);

    // A code checked by the API (GetSessionToken): no host checked it, so
    // whichever second it was checked at, no gateway may claim it.
    let key = s.call(&root, "POST", "/v1/users/bob/access-keys", None);
    let bob_creds = common::creds_of(key.ok());
    let serial = format!("arn:ward:iam::{}:mfa/{}", s.account, bob_phone.name);
    let code = bob_phone.next();
    past(at_b);
    let before = unix_now();
    let r = s.call(
        &bob_creds,
        "POST",
        "/v1/sts/session-token",
        Some(&json!({"serialNumber": serial, "tokenCode": code}).to_string()),
    );
    let after = unix_now();
    assert_eq!(r.status, 200, "{}", r.body);
    let mut api_claims = 0;
    for at in (before..=after).filter(|t| *t != at_b) {
        let r = ask(&gw_b, "bob", at);
        assert_eq!(r.status, 403, "{at}: {}", r.body);
        assert!(r.body.contains("accepted no code then"), "{}", r.body);
        api_claims += 1;
    }
    assert!(api_claims >= 1);

    // alice's device deactivated and deleted: A's own check no longer
    // counts (and a new device would not inherit it).
    let r = s.call(
        &root,
        "DELETE",
        &format!("/v1/users/alice/mfa-devices/{}", alice_phone.name),
        None,
    );
    assert_eq!(r.status, 204, "{}", r.body);
    let r = s.call(
        &root,
        "DELETE",
        &format!("/v1/mfa-devices/{}", alice_phone.name),
        None,
    );
    assert_eq!(r.status, 204, "{}", r.body);
    let r = ask(&gw_a, "alice", at_a);
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("accepted no code then"), "{}", r.body);

    // Audited: each refusal with its reason, each issue with its time.
    let ev = s.call(
        &root,
        "GET",
        "/v1/audit/events?action=host%3AGatewaySessionCertificate&limit=1000",
        None,
    );
    let ev: Vec<Value> = ev.ok()["events"].as_array().unwrap().clone();
    let reason = |r: &str| {
        ev.iter()
            .filter(|e| e["decision"] == "Denied" && e["detail"]["reason"] == r)
            .count()
    };
    assert_eq!(reason(ELSEWHERE), 3, "{ev:?}");
    assert_eq!(reason(NO_CHECK), 2 + api_claims, "{ev:?}");
    let issued: Vec<(&str, i64)> = ev
        .iter()
        .filter(|e| e["decision"] == "Allowed")
        .map(|e| {
            (
                e["detail"]["gateway"].as_str().unwrap(),
                e["detail"]["mfaAuthenticatedAt"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(issued.len(), 2, "{ev:?}");
    assert!(
        issued.iter().any(|(g, at)| *g == "gw-a" && *at == at_a),
        "{issued:?}"
    );
    assert!(
        issued.iter().any(|(g, at)| *g == "gw-b" && *at == at_b),
        "{issued:?}"
    );
}

#[test]
fn gateway_mfa_binding_sqlite() {
    binding(Db::Sqlite);
}

#[test]
fn gateway_mfa_binding_postgres() {
    binding(Db::Postgres);
}
