//! The host registry gateways route by (issue #13), against the real
//! daemon on SQLite and PostgreSQL: `PATCH /v1/hosts/{name}` (address and
//! aliases, authorized as `host:RegisterHost`, bad input refused naming the
//! field, nothing half-written), join tokens for gateways (`kind`
//! recorded), and the registry in a gateway's snapshot only — an ordinary
//! host's snapshot JSON has no `registry` key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod hosts;
mod sshd;

use common::{creds_of, Db, Server};
use hosts::{enrol, mtls, HostKeys};
use serde_json::{json, Value};
use sshd::TempDir;

/// The host's snapshot as raw JSON (mTLS with curl).
fn snapshot(s: &Server, keys: &HostKeys) -> Value {
    let r = mtls(s, keys, "GET", "/v1/host/snapshot", None, &[]);
    assert_eq!(r.status, 200, "snapshot: {}", r.body);
    serde_json::from_str(&r.body).unwrap()
}

fn registry_and_gateway_snapshots(db: Db) {
    let Some(s) = Server::start(db) else { return };
    let d = TempDir::new("ward-host-registry");
    let root = s.root();
    let patch =
        |name: &str, body: &str| s.call(&root, "PATCH", &format!("/v1/hosts/{name}"), Some(body));
    s.call(
        &root,
        "POST",
        "/v1/hosts",
        Some(&json!({"name": "web-01", "aliases": ["www"], "tags": [{"key": "env", "value": "test"}]}).to_string()),
    )
    .ok();
    s.call(&root, "POST", "/v1/hosts", Some(r#"{"name":"db-01"}"#))
        .ok();

    // Address and aliases set; the stored spelling is the canonical one.
    let h = patch(
        "web-01",
        r#"{"address":"10.0.0.5:2201","aliases":["www2","web"]}"#,
    )
    .ok()
    .clone();
    assert_eq!(h["address"], "10.0.0.5:2201");
    assert_eq!(h["aliases"], json!(["www2", "web"]));
    let h = s.call(&root, "GET", "/v1/hosts/web-01", None).ok().clone();
    assert_eq!(h["address"], "10.0.0.5:2201", "{h}");
    // The released alias can be claimed by another host now.
    s.call(
        &root,
        "POST",
        "/v1/hosts",
        Some(r#"{"name":"other","aliases":["www"]}"#),
    )
    .ok();

    // Bad input, each naming the field; nothing changes.
    for (body, field) in [
        (r#"{"address":"web 01"}"#, "address"),
        (r#"{"address":"web-01:0"}"#, "address"),
        (r#"{"address":"[::1"}"#, "address"),
        (r#"{"aliases":["WWW"]}"#, "aliases[0]"),
        (r#"{"aliases":["a","a"]}"#, "aliases[1]"),
        (r#"{}"#, "body"),
        (r#"{"address":"x","port":22}"#, ""),
    ] {
        let r = patch("web-01", body);
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        if !field.is_empty() {
            assert_eq!(r.field(), field, "{body}: {}", r.body);
        }
    }
    // An alias another host holds: 409, and the address given with it is
    // not written either.
    let r = patch("web-01", r#"{"address":"10.9.9.9","aliases":["other"]}"#);
    r.err(409, "EntityAlreadyExists");
    let h = s.call(&root, "GET", "/v1/hosts/web-01", None).ok().clone();
    assert_eq!(h["address"], "10.0.0.5:2201", "half-written: {h}");
    assert_eq!(h["aliases"], json!(["www2", "web"]));
    patch("nope", r#"{"address":"10.0.0.1"}"#).err(404, "NoSuchEntity");
    // Clearing.
    assert!(patch("db-01", r#"{"address":"db-01.internal"}"#).ok()["address"] == "db-01.internal");
    assert!(patch("db-01", r#"{"address":""}"#)
        .ok()
        .get("address")
        .is_none());

    // Authorization: host:RegisterHost on the host and on each alias.
    s.call(&root, "POST", "/v1/users", Some(r#"{"name":"mallory"}"#))
        .ok();
    let m = creds_of(
        s.call(&root, "POST", "/v1/users/mallory/access-keys", None)
            .ok(),
    );
    s.call(
        &m,
        "PATCH",
        "/v1/hosts/web-01",
        Some(r#"{"address":"10.6.6.6"}"#),
    )
    .err(403, "AccessDenied");
    let only_web = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow",
        "Action":"host:RegisterHost","Resource":"arn:ward:host::*:host/web-01"}]});
    s.call(
        &root,
        "PUT",
        "/v1/users/mallory/policies/web",
        Some(&json!({"document": only_web.to_string()}).to_string()),
    )
    .ok();
    s.call(
        &m,
        "PATCH",
        "/v1/hosts/web-01",
        Some(r#"{"aliases":["evil"]}"#),
    )
    .err(403, "AccessDenied");
    s.call(
        &m,
        "PATCH",
        "/v1/hosts/web-01",
        Some(r#"{"address":"10.0.0.6"}"#),
    )
    .ok();

    // A gateway's snapshot carries the registry; an ordinary host's does not.
    let (gw, _) = enrol(&s, d.path(), "gw-01", json!({"gateway": true}));
    let (host, _) = enrol(&s, d.path(), "app-01", json!({}));
    assert_eq!(
        s.call(&root, "GET", "/v1/hosts/gw-01", None).ok()["kind"],
        "gateway"
    );
    assert_eq!(
        s.call(&root, "GET", "/v1/hosts/app-01", None).ok()["kind"],
        "host"
    );
    let plain = snapshot(&s, &host);
    assert!(
        plain.get("registry").is_none(),
        "an ordinary host got the registry"
    );
    let snap = snapshot(&s, &gw);
    let reg = snap["registry"].as_array().unwrap();
    let web = reg.iter().find(|h| h["name"] == "web-01").unwrap();
    assert_eq!(web["address"], "10.0.0.6");
    assert_eq!(web["port"], 22);
    assert_eq!(web["aliases"], json!(["www2", "web"]));
    assert_eq!(web["tags"], json!([{"key": "env", "value": "test"}]));
    let db = reg.iter().find(|h| h["name"] == "db-01").unwrap();
    assert!(db["address"].is_null(), "{db}");
    // A registry change moves the generation the gateway syncs on.
    let before = snap["generation"].as_u64().unwrap();
    patch("web-01", r#"{"address":"[2001:db8::5]:2202"}"#).ok();
    let after = snapshot(&s, &gw);
    assert!(after["generation"].as_u64().unwrap() > before);
    let web = after["registry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "web-01")
        .unwrap()
        .clone();
    assert_eq!(
        (web["address"].clone(), web["port"].clone()),
        (json!("2001:db8::5"), json!(2202))
    );
}

#[test]
fn registry_and_gateway_snapshots_sqlite() {
    registry_and_gateway_snapshots(Db::Sqlite);
}

#[test]
fn registry_and_gateway_snapshots_postgres() {
    registry_and_gateway_snapshots(Db::Postgres);
}
