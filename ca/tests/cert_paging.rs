//! Issue #10 item 6: the certificate inventory pages with a marker, newest
//! first by default, so certificates beyond the first page can be seen;
//! filters and bad paging input against the real daemon, on both backends.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::collections::HashSet;

use common::{creds_of, Db, Server};
use serde_json::json;

fn paging(db: Db) {
    let Some(s) = Server::start(db) else {
        return;
    };
    let root = s.root();
    s.call(&root, "POST", "/v1/users", Some(r#"{"name":"pager"}"#))
        .ok();
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ca:IssueSshUserCertificate","Resource":"*"}]}"#;
    s.call(
        &root,
        "PUT",
        "/v1/users/pager/policies/p",
        Some(&json!({ "document": doc }).to_string()),
    )
    .ok();
    let user = creds_of(
        s.call(&root, "POST", "/v1/users/pager/access-keys", None)
            .ok(),
    );
    let dir = std::env::temp_dir().join(format!("ward-paging-{}-{db:?}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("id");
    let out = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success());
    let pubkey = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let mut issued = Vec::new();
    for _ in 0..7 {
        let r = s.call(
            &user,
            "POST",
            "/v1/ssh/user-certificates",
            Some(&json!({ "publicKey": pubkey }).to_string()),
        );
        issued.push(r.ok()["serial"].as_str().unwrap().to_owned());
    }
    let _ = std::fs::remove_dir_all(&dir);

    // Pages of 3: 3 + 3 + 1, each certificate once, newest first.
    let page = |q: &str| {
        let v = s.call(&root, "GET", &format!("/v1/certificates?{q}"), None);
        v.ok().clone()
    };
    let mut seen = Vec::new();
    let mut issued_times = Vec::new();
    let mut marker: Option<String> = None;
    let mut pages = 0;
    loop {
        let q = match &marker {
            None => "limit=3".to_owned(),
            Some(m) => format!("limit=3&marker={m}"),
        };
        let v = page(&q);
        let certs = v["certificates"].as_array().unwrap();
        pages += 1;
        for c in certs {
            seen.push(c["serial"].as_str().unwrap().to_owned());
            issued_times.push(c["issued"].as_str().unwrap().to_owned());
        }
        match v["marker"].as_str() {
            Some(m) => {
                assert_eq!(certs.len(), 3);
                marker = Some(m.to_owned());
            }
            None => {
                assert_eq!(certs.len(), 1, "{v}");
                break;
            }
        }
        assert!(pages < 5, "paging does not end");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 7);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 7, "{seen:?}");
    // Newest first (issue times never increase down the list; within one
    // second the serial breaks the tie), the same set that was issued, and
    // oldest first is the exact reverse.
    assert!(
        issued_times.windows(2).all(|w| w[0] >= w[1]),
        "{issued_times:?}"
    );
    let mut a = seen.clone();
    let mut b = issued.clone();
    a.sort();
    b.sort();
    assert_eq!(a, b);
    let oldest = page("limit=1000&order=oldest");
    let oldest: Vec<String> = oldest["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["serial"].as_str().unwrap().to_owned())
        .collect();
    let mut rev = seen.clone();
    rev.reverse();
    assert_eq!(oldest, rev);
    // Filters: all seven are valid now and none revoked; after revoking
    // one, revoked=true lists exactly it.
    let valid = page("limit=1000&revoked=false&validNow=true");
    assert_eq!(valid["certificates"].as_array().unwrap().len(), 7);
    s.call(
        &root,
        "POST",
        &format!("/v1/certificates/{}/revoke", issued[2]),
        None,
    )
    .ok();
    let revoked = page("revoked=true");
    assert_eq!(revoked["certificates"].as_array().unwrap().len(), 1);
    assert_eq!(revoked["certificates"][0]["serial"], json!(issued[2]));
    let valid = page("limit=1000&revoked=false&validNow=true");
    assert_eq!(valid["certificates"].as_array().unwrap().len(), 6);
    // Bad paging input names the field.
    for (q, field) in [
        ("marker=nonsense", "marker"),
        ("marker=12.%21%21", "marker"),
        ("marker=abc.123", "marker"),
        ("order=sideways", "order"),
        ("validNow=maybe", "validNow"),
    ] {
        let r = s.call(&root, "GET", &format!("/v1/certificates?{q}"), None);
        r.err(400, "ValidationError");
        assert_eq!(r.field(), field, "{q}: {}", r.body);
    }
}

#[test]
fn certificates_page_newest_first_sqlite() {
    paging(Db::Sqlite);
}

#[test]
fn certificates_page_newest_first_postgres() {
    paging(Db::Postgres);
}
