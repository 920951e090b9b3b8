//! Session recordings on ward-ca (issue #15) against the real daemon, on
//! SQLite and PostgreSQL: `PUT /v1/host/recordings/{id}` (gateways only,
//! for a session they reported; size cap; asciicast v2 checked with the
//! line named; written once: the same bytes again are 200, other bytes
//! 409, another gateway 403), `GET /v1/recordings/{id}` and `GET
//! /v1/recordings` (policy decides, the denial explained, 404 for an
//! unknown id), every upload and read audited; and the dashboard's replay
//! page and cast route (markup in the cast is never part of a page).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod hosts;
mod sshd;
mod ui;

use common::{user_with_policy, Server};
use hosts::{enrol, mtls, mtls_try, HostKeys};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sshd::TempDir;
use ui::{servers, sign_in, user_with_password, web};

/// Markup that would run if a page ever rendered the cast as HTML.
const XSS: &str = "<script>window.__wardXss=1</script><img src=x onerror=\"window.__wardXss=2\">";

const MAX: usize = ward_protocol::host::MAX_RECORDING_BYTES as usize;

fn id(n: u8) -> String {
    format!("gws-{}", format!("{n:02x}").repeat(16))
}

fn cast(text: &str) -> String {
    format!(
        "{}\n{}\n{}\n",
        json!({"version": 2, "width": 80, "height": 24, "timestamp": 1_700_000_000,
               "env": {"TERM": "xterm-256color", "SHELL": null}}),
        json!([0.25, "o", format!("$ echo {text}\r\n")]),
        json!([0.5, "o", format!("{text}\r\n{XSS}\r\n")]),
    )
}

fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// `keys`' host reports that recorded session `id` started (what makes a
/// gateway the owner of recording `id`).
fn report_start(s: &Server, keys: &HostKeys, id: &str) {
    let batch = json!({"events": [{
        "id": format!("{id}-start"), "time": 1_700_000_000,
        "action": "ward-gateway:RecordingStart", "user": "alice", "principal": "deploy",
        "allowed": true, "reason": format!("session {id} recording {id}"),
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

/// … and that it ended (the recordings page lists RecordingEnd events).
fn report_end(s: &Server, keys: &HostKeys, id: &str) {
    let batch = json!({"events": [{
        "id": format!("{id}-end"), "time": 1_700_000_060,
        "action": "ward-gateway:RecordingEnd", "user": "alice", "principal": "deploy",
        "allowed": true,
        "reason": format!("session {id} connection gs-0123456789abcdef target web-01 as deploy \
                           start 1700000000 end 1700000060 bytesIn 1 bytesOut 2 recording {id}"),
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

fn upload(s: &Server, keys: &HostKeys, id: &str, body: &[u8]) -> hosts::Mtls {
    mtls(
        s,
        keys,
        "PUT",
        &format!("/v1/host/recordings/{id}"),
        Some(body),
        &[("content-type", "application/x-asciicast")],
    )
}

/// The recording as root reads it: (status, body text).
fn fetch(s: &Server, id: &str) -> (u16, Value) {
    let r = s.call(&s.root(), "GET", &format!("/v1/recordings/{id}"), None);
    (r.status, r.body)
}

fn upload_events(s: &Server) -> Vec<Value> {
    let r = s.call(
        &s.root(),
        "GET",
        "/v1/audit/events?action=host%3AUploadRecording",
        None,
    );
    r.ok()["events"].as_array().unwrap().clone()
}

#[test]
fn gateways_upload_recordings_once_and_policy_decides_who_reads_them() {
    for s in servers() {
        let d = TempDir::new("ward-recordings");
        let (gw, _) = enrol(&s, d.path(), "gw-01", json!({"gateway": true}));
        let (gw2, _) = enrol(&s, d.path(), "gw-02", json!({"gateway": true}));
        let (host, _) = enrol(&s, d.path(), "app-01", json!({}));
        let a = id(0xa1);
        let body = cast("hello");
        report_start(&s, &gw, &a);
        report_start(&s, &host, &a);

        // Not a gateway: refused, nothing stored.
        let r = upload(&s, &host, &a, body.as_bytes());
        assert_eq!(r.status, 403, "{}", r.body);
        assert!(r.body.contains("not enrolled as a gateway"), "{}", r.body);
        // No client certificate (no credentials at all): refused.
        let r = s.raw(
            "PUT",
            &format!("/v1/host/recordings/{a}"),
            &[],
            Some(body.as_bytes()),
        );
        assert!(matches!(r.status, 401 | 403), "{} {}", r.status, r.body);
        // The same with a body the client is still sending when the
        // refusal is ready (about 200 KiB, under the 256 KiB that a refused
        // request's body is read to): a clean answer, not a reset stream.
        let big = cast(&"x".repeat(100 * 1024));
        let r = s.raw(
            "PUT",
            &format!("/v1/host/recordings/{a}"),
            &[],
            Some(big.as_bytes()),
        );
        assert!(matches!(r.status, 401 | 403), "{} {}", r.status, r.body);
        // A user's signed request is no gateway either.
        let r = s.call_with(
            &s.root(),
            "PUT",
            &format!("/v1/host/recordings/{a}"),
            Some(body.as_bytes()),
            &[],
        );
        assert_eq!(r.status, 403, "{}", r.body);
        let (status, v) = fetch(&s, &a);
        assert_eq!(status, 404, "stored after refusals: {v}");

        // Not asciicast v2: 400 naming the line; nothing stored.
        let bad = format!(
            "{}\n[0.5,\"o\",\"a\"]\n[0.25,\"o\",\"time went back\"]\n",
            json!({"version": 2, "width": 80, "height": 24})
        );
        let r = upload(&s, &gw, &a, bad.as_bytes());
        assert_eq!(r.status, 400, "{}", r.body);
        assert_eq!(r.json()["error"]["field"], "body", "{}", r.body);
        let m = r.json()["error"]["message"].as_str().unwrap().to_owned();
        assert!(
            m.contains("line 3") && m.contains("before the previous"),
            "{m}"
        );
        let r = upload(&s, &gw, &a, b"{\"version\":1,\"width\":80,\"height\":24}\n");
        assert!(
            r.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains("line 1"),
            "{}",
            r.body
        );
        let r = upload(&s, &gw, "gws-NOTHEX", body.as_bytes());
        assert_eq!(
            (r.status, r.json()["error"]["field"].clone()),
            (400, json!("id"))
        );

        // Over the cap. A declared length is refused before the body is
        // read: 413.
        let declared = (MAX + 1).to_string();
        let r = mtls(
            &s,
            &gw,
            "PUT",
            &format!("/v1/host/recordings/{a}"),
            Some(body.as_bytes()),
            &[("content-length", declared.as_str())],
        );
        assert_eq!(r.status, 413, "{}", r.body);
        assert!(r.body.contains("at most"), "{}", r.body);
        // A body that grows past the cap (with a Content-Length, and
        // chunked) is cut off: 413, or the connection closed while curl
        // still sent. Nothing stored either way.
        let mut big = body.clone().into_bytes();
        big.resize(MAX + 1, b' ');
        for extra in [vec![], vec![("transfer-encoding", "chunked")]] {
            let mut h = vec![("content-type", "application/x-asciicast")];
            h.extend(extra.iter().copied());
            match mtls_try(
                &s,
                &gw,
                "PUT",
                &format!("/v1/host/recordings/{a}"),
                Some(&big),
                &h,
            ) {
                Ok(r) => assert_eq!(r.status, 413, "{extra:?}: {}", r.body),
                // curl got no answer: the server refused and closed while
                // it was still sending (the store is checked below).
                Err(e) => eprintln!("{extra:?}: curl: {e}"),
            }
        }
        drop(big);
        assert_eq!(fetch(&s, &a).0, 404);

        // Stored once.
        let r = upload(&s, &gw, &a, body.as_bytes());
        assert_eq!(r.status, 201, "{}", r.body);
        let v = r.json();
        assert_eq!(v["created"], true);
        assert_eq!(v["size"], body.len());
        assert_eq!(v["sha256"], sha256_hex(body.as_bytes()));
        // The same bytes again: 200, nothing new.
        let r = upload(&s, &gw, &a, body.as_bytes());
        assert_eq!((r.status, r.json()["created"].clone()), (200, json!(false)));
        // Other bytes under the same id: 409, the first bytes stay.
        let r = upload(&s, &gw, &a, cast("other").as_bytes());
        assert_eq!(r.status, 409, "{}", r.body);
        assert_eq!(r.json()["error"]["code"], "RecordingExists");
        // Another gateway, even one that reported the same id: 403.
        report_start(&s, &gw2, &a);
        let r = upload(&s, &gw2, &a, cast("mine now").as_bytes());
        assert_eq!(r.status, 403, "{}", r.body);
        assert!(r.body.contains("another gateway"), "{}", r.body);
        // Nor can it claim an id only gw-01 reported.
        let b = id(0xb2);
        report_start(&s, &gw, &b);
        let r = upload(&s, &gw2, &b, body.as_bytes());
        assert_eq!(r.status, 404, "{}", r.body);
        assert!(r.body.contains("has not reported"), "{}", r.body);
        assert_eq!(fetch(&s, &b).0, 404);
        let (status, got) = fetch(&s, &a);
        assert_eq!((status, got), (200, Value::String(body.clone())));

        // Audited: one stored upload (gw-01, size, sha256) and the refused
        // overwrite and claim.
        let evs = upload_events(&s);
        let allowed: Vec<&Value> = evs.iter().filter(|e| e["decision"] == "Allowed").collect();
        assert_eq!(allowed.len(), 1, "{evs:?}");
        assert!(allowed[0]["principal"]
            .as_str()
            .unwrap()
            .ends_with(":host/gw-01"));
        assert_eq!(allowed[0]["detail"]["sha256"], sha256_hex(body.as_bytes()));
        assert!(allowed[0]["resource"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":recording/{a}")));
        let refused: Vec<&str> = evs
            .iter()
            .filter(|e| e["decision"] == "Refused")
            .map(|e| e["detail"]["reason"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(
            refused,
            ["DifferentContent", "OwnedByAnotherGateway"],
            "{evs:?}"
        );

        // Reading: policy decides; a denial is explained; unknown is 404.
        let root = s.root();
        let eve = user_with_policy(
            &s,
            &root,
            "eve",
            r#"{"Effect":"Allow","Action":"audit:ListEvents","Resource":"*"}"#,
        );
        let r = s.call(&eve, "GET", &format!("/v1/recordings/{a}"), None);
        let why = r.err(403, "AccessDenied");
        assert!(why.contains("audit:GetRecording"), "{why}");
        assert!(why.contains(&format!("recording/{a}")), "{why}");
        let r = s.call(&eve, "GET", "/v1/recordings", None);
        assert!(r.err(403, "AccessDenied").contains("audit:ListRecordings"));
        // Unknown ids are not revealed to a caller who may not read them.
        let r = s.call(&eve, "GET", &format!("/v1/recordings/{}", id(0xee)), None);
        assert_eq!(r.status, 403);
        let ann = user_with_policy(
            &s,
            &root,
            "ann",
            r#"{"Effect":"Allow","Action":["audit:GetRecording","audit:ListRecordings"],
                "Resource":"arn:ward:audit::*:recording/*"}"#,
        );
        let r = s.call(&ann, "GET", &format!("/v1/recordings/{a}"), None);
        assert_eq!((r.status, r.body), (200, Value::String(body.clone())));
        s.call(&ann, "GET", &format!("/v1/recordings/{}", id(0xee)), None)
            .err(404, "NoSuchEntity");
        let r = s.call(&ann, "GET", "/v1/recordings/gws-zz", None);
        assert_eq!((r.status, r.field()), (400, "id"));
        let r = s.call(&ann, "GET", &format!("/v1/recordings?ids={a}%2C{b}"), None);
        let list = r.ok()["recordings"].as_array().unwrap().clone();
        assert_eq!(list.len(), 1, "{list:?}");
        assert_eq!(list[0]["id"], a.as_str());
        assert_eq!(list[0]["gateway"], "gw-01");
        assert_eq!(list[0]["size"], body.len());
        let r = s.call(&ann, "GET", "/v1/recordings?ids=x%3Cb%3E", None);
        assert_eq!((r.status, r.field()), (400, "ids"));
        // Every read is audited with who read it.
        let r = s.call(
            &root,
            "GET",
            "/v1/audit/events?action=audit%3AGetRecording",
            None,
        );
        let reads = r.ok()["events"].as_array().unwrap().clone();
        assert!(
            reads.iter().any(|e| e["decision"] == "Allowed"
                && e["principal"].as_str().unwrap().ends_with(":user/ann")),
            "{reads:?}"
        );
        assert!(
            reads.iter().any(|e| e["decision"] != "Allowed"
                && e["principal"].as_str().unwrap().ends_with(":user/eve")),
            "{reads:?}"
        );
    }
}

#[test]
fn the_replay_page_hands_the_cast_to_the_player_as_data() {
    for s in servers() {
        let d = TempDir::new("ward-replay-page");
        let (gw, _) = enrol(&s, d.path(), "gw-01", json!({"gateway": true}));
        let a = id(0xc3);
        let pending = id(0xd4);
        let body = cast("replayed");
        report_start(&s, &gw, &a);
        report_end(&s, &gw, &a);
        report_start(&s, &gw, &pending);
        report_end(&s, &gw, &pending);
        assert_eq!(upload(&s, &gw, &a, body.as_bytes()).status, 201);

        user_with_password(
            &s,
            "viewer",
            r#"{"Effect":"Allow","Action":["audit:ListEvents","audit:ListRecordings","audit:GetRecording"],"Resource":"*"}"#,
        );
        let cookie = sign_in(&s, "viewer");

        // The list: a replay link for the uploaded one, "not uploaded yet"
        // for the other.
        let p = web(&s, "GET", "/ui/recordings", Some(&cookie), None, &[]);
        assert_eq!(p.status, 200, "{}", p.body);
        assert!(
            p.body.contains(&format!("href=\"/ui/recordings/{a}\"")),
            "{}",
            p.body
        );
        assert!(!p
            .body
            .contains(&format!("href=\"/ui/recordings/{pending}\"")));
        assert!(p.body.contains("not uploaded yet"), "{}", p.body);

        // The page: the player element names the cast; the cast's content
        // is not in the page; the page's policy adds only wasm compilation.
        let p = web(
            &s,
            "GET",
            &format!("/ui/recordings/{a}"),
            Some(&cookie),
            None,
            &[],
        );
        assert_eq!(p.status, 200, "{}", p.body);
        assert!(
            p.body
                .contains(&format!("data-cast=\"/ui/recordings/{a}/cast\"")),
            "{}",
            p.body
        );
        assert!(p.body.contains("/ui/assets/replay.js"), "{}", p.body);
        assert!(
            !p.body.contains("__wardXss"),
            "cast content in the page: {}",
            p.body
        );
        assert!(!p.body.contains("replayed"), "cast content in the page");
        assert!(!p.body.contains("<script>"), "inline script: {}", p.body);
        let csp = p.header("content-security-policy").unwrap();
        assert!(
            csp.contains("script-src 'self' 'wasm-unsafe-eval';"),
            "{csp}"
        );
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("'unsafe-eval'"),
            "{csp}"
        );
        assert!(p.body.contains(&sha256_hex(body.as_bytes())), "{}", p.body);

        // The cast, through the same authorized call: the bytes as
        // uploaded, as a non-HTML type under the strict policy.
        let c = web(
            &s,
            "GET",
            &format!("/ui/recordings/{a}/cast"),
            Some(&cookie),
            None,
            &[],
        );
        assert_eq!(c.status, 200, "{}", c.body);
        assert_eq!(c.body, body);
        assert_eq!(c.header("content-type"), Some("application/x-asciicast"));
        assert_eq!(c.header("x-content-type-options"), Some("nosniff"));
        assert!(c
            .header("content-security-policy")
            .unwrap()
            .starts_with("default-src 'none'; script-src 'self';"));

        // Not uploaded yet: the page says so.
        let p = web(
            &s,
            "GET",
            &format!("/ui/recordings/{pending}"),
            Some(&cookie),
            None,
            &[],
        );
        assert_eq!(p.status, 200);
        assert!(p.body.contains("not uploaded yet"), "{}", p.body);
        assert!(!p.body.contains("data-cast"), "{}", p.body);
        // A bad id: 400 naming it.
        let p = web(
            &s,
            "GET",
            "/ui/recordings/gws-%3Cb%3E",
            Some(&cookie),
            None,
            &[],
        );
        assert_eq!(p.status, 400, "{}", p.body);
        assert!(!p.body.contains("<b>"));

        // The vendored player: long-cached under its versioned path.
        let js = web(
            &s,
            "GET",
            "/ui/assets/vendor/asciinema-player-3.18.0/asciinema-player.min.js",
            None,
            None,
            &[],
        );
        assert_eq!(js.status, 200);
        assert!(js.body.contains("AsciinemaPlayer"));
        assert_eq!(
            js.header("cache-control"),
            Some("public, max-age=31536000, immutable")
        );

        // A reader without audit:GetRecording: the cast route refuses with
        // the explanation (replay.js shows it), the page shows no cast.
        user_with_password(
            &s,
            "lister",
            r#"{"Effect":"Allow","Action":["audit:ListEvents","audit:ListRecordings"],"Resource":"*"}"#,
        );
        let other = sign_in(&s, "lister");
        let c = web(
            &s,
            "GET",
            &format!("/ui/recordings/{a}/cast"),
            Some(&other),
            None,
            &[],
        );
        assert_eq!(c.status, 403, "{}", c.body);
        let v: Value = serde_json::from_str(&c.body).unwrap();
        assert_eq!(v["error"]["code"], "AccessDenied");
        assert!(v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("audit:GetRecording"));
        assert!(!c.body.contains("replayed"));
    }
}
