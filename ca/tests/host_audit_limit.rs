//! Issue #11 follow-up: `POST /v1/host/audit` is rate-limited per host (a
//! token bucket: `[limits] host_audit_batches_per_second` with a burst of
//! `host_audit_burst`). Against the real daemon with a host enrolled
//! through `POST /v1/host/join` (openssl CSR, ssh-keygen host key) and
//! called over mTLS with curl: a flood gets 429 `Throttling` with
//! `Retry-After`; exactly the accepted batches are in the audit log (nothing
//! of a refused one); after the wait the server named, the refused batch is
//! accepted; another host is not limited by the first one's flood.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod hosts;
mod sshd;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Db, Server};
use hosts::{enrol, mtls, HostKeys};
use serde_json::{json, Value};
use sshd::TempDir;

/// One token a second, three at once.
const LIMITS: &str = "[limits]\nhost_audit_batches_per_second = 1\nhost_audit_burst = 3\n";

/// `POST /v1/host/audit` with the host's certificate: status, the
/// `Retry-After` header, body.
fn deliver(s: &Server, host: &HostKeys, batch: &Value) -> (u16, Option<u64>, Value) {
    let r = mtls(
        s,
        host,
        "POST",
        "/v1/host/audit",
        Some(batch.to_string().as_bytes()),
        &[],
    );
    let retry_after = r.header("retry-after").and_then(|v| v.parse().ok());
    (r.status, retry_after, r.json())
}

fn event(id: &str) -> Value {
    json!({"id": id, "time": 1_700_000_000, "action": "host:Login", "user": "alice",
           "principal": "alice", "service": "sshd", "authMethod": "ssh-certificate",
           "allowed": true})
}

/// Event ids of every `host:Login` event in the audit log, with repeats.
fn recorded(s: &Server) -> Vec<String> {
    let v = s
        .call(
            &s.root(),
            "GET",
            "/v1/audit/events?action=host%3ALogin&limit=1000",
            None,
        )
        .ok()
        .clone();
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["detail"]["eventId"].as_str().unwrap().to_owned())
        .collect()
}

fn a_flood_is_throttled_and_nothing_partial_is_recorded(db: Db) {
    let Some(s) = Server::start_with(db, LIMITS) else {
        return;
    };
    let dir = TempDir::new("ward-host-audit-limit");
    let (host, _) = enrol(&s, dir.path(), "bastion", json!({}));
    // The flood: 12 batches of 3 events each, as fast as curl goes.
    let mut accepted: BTreeSet<String> = BTreeSet::new();
    let mut refused: Vec<(Value, u64)> = Vec::new();
    for i in 0..12 {
        let batch = json!({"events": [event(&format!("f{i}a")), event(&format!("f{i}b")), event(&format!("f{i}c"))]});
        let (status, retry_after, body) = deliver(&s, &host, &batch);
        match status {
            200 => {
                assert_eq!(body, json!({"recorded": 3, "duplicates": 0}));
                for e in batch["events"].as_array().unwrap() {
                    accepted.insert(e["id"].as_str().unwrap().to_owned());
                }
            }
            429 => {
                assert_eq!(body["error"]["code"], "Throttling", "{body}");
                let wait = retry_after.expect("a 429 names Retry-After");
                assert!(wait >= 1, "Retry-After {wait}");
                refused.push((batch, wait));
            }
            other => panic!("audit batch {i}: {other} {body}"),
        }
    }
    assert!(!refused.is_empty(), "12 batches at once were all accepted");
    assert!(!accepted.is_empty(), "the burst was refused");
    // Exactly the accepted batches are recorded: nothing of a refused one.
    let got = recorded(&s);
    assert_eq!(
        got.iter().cloned().collect::<BTreeSet<_>>(),
        accepted,
        "recorded events differ from the accepted batches"
    );
    assert_eq!(got.len(), accepted.len(), "an event was recorded twice");
    // Another host has its own bucket.
    let (other, _) = enrol(&s, dir.path(), "web-01", json!({}));
    let (status, _, body) = deliver(&s, &other, &json!({"events": [event("w1")]}));
    assert_eq!(status, 200, "{body}");
    // Empty the bucket again (429), then wait as long as it says: the
    // refused batch is accepted, whole, once.
    let wait = loop {
        let (status, retry_after, _) = deliver(&s, &host, &json!({"events": []}));
        if status == 429 {
            break retry_after.unwrap();
        }
        assert_eq!(status, 200);
    };
    std::thread::sleep(Duration::from_secs(wait));
    let (batch, _) = &refused[0];
    let (status, _, body) = deliver(&s, &host, batch);
    assert_eq!(status, 200, "after Retry-After: {body}");
    assert_eq!(body, json!({"recorded": 3, "duplicates": 0}));
    let got = recorded(&s);
    for e in batch["events"].as_array().unwrap() {
        let id = e["id"].as_str().unwrap();
        assert_eq!(got.iter().filter(|g| *g == id).count(), 1, "{id}");
    }
    s.call(&s.root(), "GET", "/v1/audit/verify", None).ok();
}

#[test]
fn a_flood_is_throttled_and_nothing_partial_is_recorded_sqlite() {
    a_flood_is_throttled_and_nothing_partial_is_recorded(Db::Sqlite);
}

#[test]
fn a_flood_is_throttled_and_nothing_partial_is_recorded_postgres() {
    a_flood_is_throttled_and_nothing_partial_is_recorded(Db::Postgres);
}
