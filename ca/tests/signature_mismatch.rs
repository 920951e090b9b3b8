//! A `SignatureDoesNotMatch` answer shows what ward signed (issue #8 item
//! 11): curl 7.88's `--aws-sigv4` signs the query as it is written, so an
//! unsorted or unencoded query fails; the error body carries the canonical
//! request and string to sign ward computed (AWS's `CanonicalRequest` /
//! `StringToSign`), and never the secret.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::process::Command;

use common::{Db, Server};

/// `curl --aws-sigv4` as root, GET `path_and_query`: (HTTP status, body).
fn curl(s: &Server, path_and_query: &str) -> (u16, serde_json::Value) {
    let root = s.root();
    let out = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(&s.bundle)
        .args(["--aws-sigv4", "aws:amz:local:ward", "--user"])
        .arg(format!("{}:{}", root.id, root.secret))
        .args(["-w", "\n%{http_code}"])
        .arg(format!(
            "{}{path_and_query}",
            s.endpoint.trim_end_matches('/')
        ))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!text.contains(&root.secret), "the secret is echoed: {text}");
    let (body, code) = text.rsplit_once('\n').unwrap();
    (
        code.trim().parse().unwrap(),
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}")),
    )
}

fn check(db: Db) {
    let Some(s) = Server::start(db) else {
        return;
    };
    // Sorted and encoded: accepted.
    let (code, ok) = curl(&s, "/v1/users?maxItems=5&pathPrefix=%2F");
    assert_eq!(code, 200, "{ok}");

    for (query, why) in [
        ("pathPrefix=%2F&maxItems=5", "unsorted"),
        ("maxItems=5&pathPrefix=/", "unencoded"),
    ] {
        let (code, body) = curl(&s, &format!("/v1/users?{query}"));
        assert_eq!(code, 403, "{why}: {body}");
        let err = &body["error"];
        assert_eq!(err["code"], "SignatureDoesNotMatch", "{why}: {body}");
        let creq = err["canonicalRequest"].as_str().unwrap();
        let lines: Vec<&str> = creq.split('\n').collect();
        // Method, path, and the query as ward canonicalized it: sorted by
        // name and percent-encoded, unlike what curl signed.
        assert_eq!(lines[0], "GET", "{creq}");
        assert_eq!(lines[1], "/v1/users", "{creq}");
        assert_eq!(lines[2], "maxItems=5&pathPrefix=%2F", "{why}: {creq}");
        assert!(creq.contains("\nhost;x-amz-date\n"), "{creq}");
        let sts = err["stringToSign"].as_str().unwrap();
        assert!(sts.starts_with("AWS4-HMAC-SHA256\n"), "{sts}");
        assert!(sts.contains("/local/ward/aws4_request\n"), "{sts}");
        assert!(
            err["message"]
                .as_str()
                .unwrap()
                .contains("canonicalRequest"),
            "{body}"
        );
    }
}

#[test]
fn signature_mismatch_shows_the_canonical_request_sqlite() {
    check(Db::Sqlite);
}

#[test]
fn signature_mismatch_shows_the_canonical_request_postgres() {
    check(Db::Postgres);
}
