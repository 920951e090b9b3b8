//! `POST /v1/gateway-sessions/{id}/terminate` (issue #13) against the real
//! daemon on SQLite and PostgreSQL: a malformed id is 400 naming `id`; an
//! id no gateway reported (or one only an ordinary host reported) is 404;
//! a caller without `host:TerminateSession` on the gateway is 403 and
//! nothing is recorded; an allowed caller's termination is 202, moves the
//! snapshot generation and appears in the gateway's snapshot
//! (`gatewayTerminations`, with who asked) but in no ordinary host's.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod hosts;
mod sshd;

use common::{creds_of, Db, Server};
use hosts::{enrol, mtls, HostKeys};
use serde_json::{json, Value};
use sshd::TempDir;

fn snapshot(s: &Server, keys: &HostKeys) -> Value {
    let r = mtls(s, keys, "GET", "/v1/host/snapshot", None, &[]);
    assert_eq!(r.status, 200, "snapshot: {}", r.body);
    serde_json::from_str(&r.body).unwrap()
}

/// `keys`' host reports that session `id` started.
fn report_start(s: &Server, keys: &HostKeys, id: &str) {
    let batch = json!({"events": [{
        "id": format!("{id}-start"), "time": 1_700_000_000,
        "action": "ward-gateway:SessionStart", "user": "alice",
        "allowed": true, "reason": format!("session {id} started to web-01"),
        "target": "web-01"
    }]});
    let r = mtls(
        s,
        keys,
        "POST",
        "/v1/host/audit",
        Some(batch.to_string().as_bytes()),
        &[("content-type", "application/json")],
    );
    assert_eq!(r.status, 200, "audit: {}", r.body);
}

fn terminate_gateway_sessions(db: Db) {
    let Some(s) = Server::start(db) else { return };
    let d = TempDir::new("ward-gw-terminate");
    let root = s.root();
    let (gw, _) = enrol(
        &s,
        d.path(),
        "gw-01",
        json!({"gateway": true, "tags": [{"key": "env", "value": "test"}]}),
    );
    let (host, _) = enrol(&s, d.path(), "app-01", json!({}));
    let id = "gs-0123456789abcdef";
    report_start(&s, &gw, id);
    // An ordinary host cannot make an id terminable.
    report_start(&s, &host, "gs-1111111111111111");

    let path = |id: &str| format!("/v1/gateway-sessions/{id}/terminate");
    let r = s.call(&root, "POST", &path("gs-XYZ"), None);
    assert_eq!((r.status, r.field()), (400, "id"), "{}", r.body);
    s.call(&root, "POST", &path("gs-ffffffffffffffff"), None)
        .err(404, "NoSuchEntity");
    s.call(&root, "POST", &path("gs-1111111111111111"), None)
        .err(404, "NoSuchEntity");

    // Authorization: host:TerminateSession on the gateway (by its tags).
    s.call(&root, "POST", "/v1/users", Some(r#"{"name":"mallory"}"#))
        .ok();
    let m = creds_of(
        s.call(&root, "POST", "/v1/users/mallory/access-keys", None)
            .ok(),
    );
    let other_tag = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow",
        "Action":"host:TerminateSession","Resource":"*",
        "Condition":{"StringEquals":{"ward:ResourceTag/env":"prod"}}}]});
    s.call(
        &root,
        "PUT",
        "/v1/users/mallory/policies/t",
        Some(&json!({"document": other_tag.to_string()}).to_string()),
    )
    .ok();
    let before = snapshot(&s, &gw);
    assert_eq!(before["gatewayTerminations"], json!([]), "{before}");
    s.call(&m, "POST", &path(id), None).err(403, "AccessDenied");
    let still = snapshot(&s, &gw);
    assert_eq!(still["gatewayTerminations"], json!([]));

    s.call(&root, "POST", "/v1/users", Some(r#"{"name":"opal"}"#))
        .ok();
    let o = creds_of(
        s.call(&root, "POST", "/v1/users/opal/access-keys", None)
            .ok(),
    );
    let test_tag = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow",
        "Action":"host:TerminateSession","Resource":"arn:ward:host::*:host/*",
        "Condition":{"StringEquals":{"ward:ResourceTag/env":"test"}}}]});
    s.call(
        &root,
        "PUT",
        "/v1/users/opal/policies/t",
        Some(&json!({"document": test_tag.to_string()}).to_string()),
    )
    .ok();
    let r = s.call(&o, "POST", &path(id), None);
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.ok()["sessionId"], id);
    assert_eq!(r.ok()["gateway"], "gw-01");
    // Again: still accepted, the first request stands.
    let r = s.call(&root, "POST", &path(id), None);
    assert_eq!(r.status, 202, "{}", r.body);

    let after = snapshot(&s, &gw);
    assert!(
        after["generation"].as_u64().unwrap() > before["generation"].as_u64().unwrap(),
        "the termination did not move the generation"
    );
    let t = after["gatewayTerminations"].as_array().unwrap();
    assert_eq!(t.len(), 1, "{after}");
    assert_eq!(t[0]["id"], id);
    assert!(
        t[0]["requestedBy"]
            .as_str()
            .unwrap()
            .ends_with(":user/opal"),
        "{}",
        t[0]
    );
    let plain = snapshot(&s, &host);
    assert!(
        plain.get("gatewayTerminations").is_none(),
        "an ordinary host got the terminations"
    );
}

#[test]
fn terminate_gateway_sessions_sqlite() {
    terminate_gateway_sessions(Db::Sqlite);
}

#[test]
fn terminate_gateway_sessions_postgres() {
    terminate_gateway_sessions(Db::Postgres);
}
