//! The live daemon serves every row of `ward_authz::routes::ROUTES` and `QUERY_API` (the
//! route table the docs are generated from): each (method, path), with
//! its parameters filled in and no credentials, reaches a route — it is
//! answered by authentication or by the handler, never by the router's
//! "no such API route" 404 or its 405. The other direction (the router
//! serves nothing outside the table) is checked on the router's source in
//! `ca/src/http/router.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use common::{Db, Server};

/// A path with every `{param}` replaced by a harmless value.
fn filled(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(i) = rest.find('{') {
        let j = rest[i..].find('}').unwrap() + i;
        out.push_str(&rest[..i]);
        out.push_str(match &rest[i + 1..j] {
            "serial" | "v" => "1",
            _ => "x",
        });
        rest = &rest[j + 1..];
    }
    out.push_str(rest);
    out
}

/// True when the router itself refused: no route for the path, or none
/// for the method.
fn unrouted(r: &common::Response) -> bool {
    r.status == 405
        || (r.status == 404
            && r.body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("no such API route")))
}

#[test]
fn every_route_in_the_table_is_served() {
    let Some(s) = Server::start(Db::Sqlite) else {
        return;
    };
    // The check can fail: an unknown path and a known path with a method
    // it does not take are both seen as unrouted.
    assert!(unrouted(&s.raw("GET", "/v1/no-such-route", &[], None)));
    assert!(unrouted(&s.raw("PATCH", "/v1/groups", &[], None)));
    let mut bad = Vec::new();
    for r in ward_authz::routes::ROUTES
        .iter()
        .chain(ward_authz::routes::QUERY_API)
    {
        let path = filled(r.path);
        let body: Option<&[u8]> = match r.method {
            "POST" | "PUT" | "PATCH" => Some(b"{}"),
            _ => None,
        };
        let resp = s.raw(r.method, &path, &[], body);
        if unrouted(&resp) {
            bad.push(format!(
                "{} {path}: {} {}",
                r.method, resp.status, resp.body
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "rows the daemon does not route:\n{}",
        bad.join("\n")
    );
}
