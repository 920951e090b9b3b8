//! `POST /v1/host/mfa/verify` against the real daemon (issue #14 item 3,
//! the host side of MFA), on SQLite and PostgreSQL, called by an enrolled
//! host over mTLS (curl `--cert`) as ward-agent and ward-gateway call it:
//! a right code answers with the time of the check, a replayed code, a
//! wrong code, a user without a device and an unknown user get the same
//! 403; wrong codes are throttled per user + rhost and per device; every
//! check is audited as `host:VerifyMfa` by the host; only host principals
//! may call it; bad input is a 400 naming the field.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod hosts;
mod sshd;

use common::{Db, Server};
use hosts::{enrol, mtls, HostKeys};
use serde_json::{json, Value};
use sshd::TempDir;
use ward_ca::crypto::totp;

const PATH: &str = "/v1/host/mfa/verify";

fn unix_now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

fn step_now() -> i64 {
    totp::step_of(unix_now())
}

fn user(s: &Server, name: &str) {
    s.call(
        &s.root(),
        "POST",
        "/v1/users",
        Some(&json!({ "name": name }).to_string()),
    )
    .ok();
}

/// Creates and enables a device for `name`: (seed, the last step used).
fn device(s: &Server, name: &str) -> (Vec<u8>, i64) {
    let root = s.root();
    let r = s.call(
        &root,
        "POST",
        "/v1/mfa-devices",
        Some(&json!({ "virtualMfaDeviceName": format!("{name}-phone") }).to_string()),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let serial = r.body["serialNumber"].as_str().unwrap().to_owned();
    let seed = totp::base32_decode(r.body["base32StringSeed"].as_str().unwrap()).unwrap();
    let now = step_now();
    s.call(
        &root,
        "POST",
        &format!("/v1/users/{name}/mfa-devices"),
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
    (seed, now)
}

/// A 6-digit code that is not the device's code at any step near now.
fn wrong_code(seed: &[u8]) -> String {
    let now = step_now();
    let near: Vec<String> = (now - 30..=now + 30)
        .map(|s| totp::code_at(seed, s))
        .collect();
    (0..1000)
        .map(|i| format!("{:06}", (i * 7919 + 13) % 1_000_000))
        .find(|c| !near.contains(c))
        .unwrap()
}

fn verify(s: &Server, h: &HostKeys, user: &str, code: &str, rhost: Option<&str>) -> (u16, Value) {
    let body = json!({"userName": user, "code": code, "rhost": rhost});
    let r = mtls(s, h, "POST", PATH, Some(body.to_string().as_bytes()), &[]);
    (r.status, r.json())
}

fn events(s: &Server) -> Vec<Value> {
    let r = s.call(
        &s.root(),
        "GET",
        "/v1/audit/events?action=host%3AVerifyMfa&limit=1000",
        None,
    );
    r.ok()["events"].as_array().unwrap().clone()
}

fn outcomes_and_audit(db: Db) {
    let Some(s) = Server::start(db) else { return };
    let d = TempDir::new("host-mfa");
    let (h, _) = enrol(&s, d.path(), "web-01", json!({}));
    user(&s, "alice");
    user(&s, "bob");
    let (seed, used) = device(&s, "alice");

    // A right code: 200 with the time of the check.
    let before = unix_now();
    let good = totp::code_at(&seed, used + 1);
    let (st, v) = verify(&s, &h, "alice", &good, Some("192.0.2.10"));
    let after = unix_now();
    assert_eq!(st, 200, "{v}");
    let at = v["mfaAuthenticatedAt"].as_i64().unwrap();
    assert!(
        (before..=after).contains(&at),
        "{at} not in {before}..={after}"
    );

    // The same code again (from anywhere), a wrong code, a user without a
    // device, an unknown user: the same 403.
    let denied = |st: u16, v: &Value| {
        assert_eq!(st, 403, "{v}");
        assert_eq!(v["error"]["code"], "AccessDenied", "{v}");
        v["error"]["message"].as_str().unwrap().to_owned()
    };
    let (st, v) = verify(&s, &h, "alice", &good, Some("192.0.2.10"));
    let replay = denied(st, &v);
    let (st, v) = verify(&s, &h, "alice", &good, None);
    denied(st, &v);
    let (st, v) = verify(&s, &h, "alice", &wrong_code(&seed), Some("192.0.2.11"));
    let wrong = denied(st, &v);
    let (st, v) = verify(&s, &h, "bob", &good, Some("192.0.2.12"));
    let nodev = denied(st, &v);
    let (st, v) = verify(&s, &h, "nobody", &good, Some("192.0.2.13"));
    let unknown = denied(st, &v);
    assert!(
        replay == wrong && wrong == nodev && nodev == unknown,
        "{replay} / {wrong} / {nodev} / {unknown}"
    );

    // Audited: by the host, about the user, with the reason; the code
    // never appears.
    let ev = events(&s);
    let host_arn = format!("arn:ward:host::{}:host/web-01", s.account);
    assert!(
        ev.iter().all(|e| e["principal"] == host_arn.as_str()),
        "{ev:?}"
    );
    let allowed: Vec<&Value> = ev.iter().filter(|e| e["decision"] == "Allowed").collect();
    assert_eq!(allowed.len(), 1, "{ev:?}");
    assert_eq!(allowed[0]["sourceIp"], "192.0.2.10", "{ev:?}");
    assert!(allowed[0]["resource"]
        .as_str()
        .unwrap()
        .ends_with(":user/alice"));
    let failed = ev.iter().filter(|e| e["decision"] == "Failed").count();
    assert_eq!(failed, 5, "{ev:?}");
    let text = serde_json::to_string(&ev).unwrap();
    assert!(!text.contains(&good), "the code is in the audit log");
}

#[test]
fn outcomes_and_audit_sqlite() {
    outcomes_and_audit(Db::Sqlite);
}

#[test]
fn outcomes_and_audit_postgres() {
    outcomes_and_audit(Db::Postgres);
}

/// `passwords.max_failures` (5) wrong codes from one rhost lock that rhost
/// for that user and no other; five wrong codes from five rhosts lock the
/// device (the right code is then refused with 429 from anywhere).
fn throttling(db: Db) {
    let Some(s) = Server::start(db) else { return };
    let d = TempDir::new("host-mfa-throttle");
    let (h, _) = enrol(&s, d.path(), "web-01", json!({}));
    user(&s, "alice");
    user(&s, "bob");
    let (seed, used) = device(&s, "alice");

    // Per user + rhost (bob has no device: only that scope counts).
    for _ in 0..5 {
        let (st, v) = verify(&s, &h, "bob", "123456", Some("192.0.2.1"));
        assert_eq!(st, 403, "{v}");
    }
    let (st, v) = verify(&s, &h, "bob", "123456", Some("192.0.2.1"));
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (429, Some("Throttling")),
        "{v}"
    );
    assert!(
        v["error"]["message"].as_str().unwrap().contains("source"),
        "{v}"
    );
    let (st, v) = verify(&s, &h, "bob", "123456", Some("192.0.2.2"));
    assert_eq!(st, 403, "another rhost is not locked: {v}");
    // The lock is per user: alice from the locked rhost still gets in.
    let (st, v) = verify(
        &s,
        &h,
        "alice",
        &totp::code_at(&seed, used + 1),
        Some("192.0.2.1"),
    );
    assert_eq!(st, 200, "{v}");

    // Per device: one wrong code from each of five rhosts.
    let bad = wrong_code(&seed);
    for i in 0..5 {
        let (st, v) = verify(&s, &h, "alice", &bad, Some(&format!("198.51.100.{i}")));
        assert_eq!(st, 403, "{v}");
    }
    let (st, v) = verify(
        &s,
        &h,
        "alice",
        &totp::code_at(&seed, used + 2),
        Some("198.51.100.99"),
    );
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (429, Some("Throttling")),
        "{v}"
    );
    assert!(
        v["error"]["message"].as_str().unwrap().contains("device"),
        "{v}"
    );
}

#[test]
fn throttling_sqlite() {
    throttling(Db::Sqlite);
}

#[test]
fn throttling_postgres() {
    throttling(Db::Postgres);
}

/// Only host principals; bad input is a 400 naming the field, and counts
/// as no attempt.
fn callers_and_bad_input(db: Db) {
    let Some(s) = Server::start(db) else { return };
    let d = TempDir::new("host-mfa-input");
    let (h, _) = enrol(&s, d.path(), "web-01", json!({}));
    user(&s, "alice");
    let (seed, used) = device(&s, "alice");
    let good = totp::code_at(&seed, used + 1);
    let body = json!({"userName": "alice", "code": good}).to_string();
    // A user principal (root's key) and an unauthenticated caller.
    let r = s.call(&s.root(), "POST", PATH, Some(&body));
    assert_eq!(r.status, 403, "{}", r.body);
    let r = s.raw("POST", PATH, &[], Some(body.as_bytes()));
    assert!(
        r.status == 401 || r.status == 403,
        "{} {}",
        r.status,
        r.body
    );

    let post = |b: &[u8]| {
        let r = mtls(&s, &h, "POST", PATH, Some(b), &[]);
        (r.status, r.json())
    };
    for (b, f) in [
        (json!({"userName": "", "code": good}), "userName"),
        (json!({"userName": "al\nice", "code": good}), "userName"),
        (
            json!({"userName": "a".repeat(300), "code": good}),
            "userName",
        ),
        (json!({"userName": "alice", "code": "12345"}), "code"),
        (json!({"userName": "alice", "code": "1234567"}), "code"),
        (json!({"userName": "alice", "code": "12a456"}), "code"),
        (json!({"userName": "alice", "code": ""}), "code"),
        (
            json!({"userName": "alice", "code": good, "rhost": "evil\u{0}host"}),
            "rhost",
        ),
        (
            json!({"userName": "alice", "code": good, "rhost": "r".repeat(254)}),
            "rhost",
        ),
    ] {
        let (st, v) = post(b.to_string().as_bytes());
        assert_eq!(st, 400, "{b}: {v}");
        assert_eq!(v["error"]["field"], f, "{b}: {v}");
    }
    for b in [
        &br#"{"userName":"alice","code":"123456","extra":1}"#[..],
        b"[]",
        b"{",
        br#"{"code":"123456"}"#,
    ] {
        let (st, v) = post(b);
        assert_eq!(st, 400, "{}: {v}", String::from_utf8_lossy(b));
    }
    let r = mtls(&s, &h, "POST", PATH, None, &[]);
    assert_eq!(r.status, 400);
    // None of it was an attempt or used the code: it still works.
    assert!(events(&s).is_empty());
    let (st, v) = post(body.as_bytes());
    assert_eq!(st, 200, "{v}");
}

#[test]
fn callers_and_bad_input_sqlite() {
    callers_and_bad_input(Db::Sqlite);
}

#[test]
fn callers_and_bad_input_postgres() {
    callers_and_bad_input(Db::Postgres);
}
