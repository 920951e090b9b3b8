//! The SigV4 edge with real clients: curl's `--aws-sigv4`, requests
//! hand-signed with `ward_sigv4::sign` (and presigned URLs computed here,
//! independently of ward-sigv4) sent through curl, and botocore's
//! `SigV4Auth`/`SigV4QueryAuth` sending through urllib3. Every failed
//! authentication must land in the audit log as `ward:Authenticate`,
//! decision `Failed`, with the code the client got.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use common::{creds_of, Creds, Db, Response, Server};
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::{Digest, Sha256};

const REGION: &str = "local";
const SERVICE: &str = "ward";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `127.0.0.1:PORT`, as curl sends it in `Host` (or `:authority`).
fn host(s: &Server) -> String {
    s.endpoint
        .strip_prefix("https://")
        .unwrap()
        .trim_end_matches('/')
        .to_owned()
}

/// What to sign, and how to spoil it.
struct Signing<'a> {
    creds: &'a Creds,
    method: &'a str,
    path: &'a str,
    query: &'a [(&'a str, &'a str)],
    body: &'a [u8],
    at: i64,
    region: &'a str,
    service: &'a str,
    token: Option<&'a str>,
}

impl<'a> Signing<'a> {
    fn new(creds: &'a Creds, method: &'a str, path: &'a str) -> Signing<'a> {
        Signing {
            creds,
            method,
            path,
            query: &[],
            body: b"",
            at: now(),
            region: REGION,
            service: SERVICE,
            token: creds.token.as_deref(),
        }
    }

    /// Header-form signature from `ward_sigv4::sign`.
    fn sign(&self, s: &Server) -> ward_sigv4::SignedHeaders {
        let h = host(s);
        ward_sigv4::sign(
            self.method,
            self.path,
            self.query,
            &[("host", h.as_str())],
            self.body,
            &self.creds.id,
            &self.creds.secret,
            self.token,
            self.region,
            self.service,
            &ward_sigv4::format_amz_date(self.at),
        )
    }

    /// Signs and sends through curl, letting `spoil` change the signed
    /// headers (and the body) first.
    fn send_with(
        &self,
        s: &Server,
        spoil: impl FnOnce(&mut ward_sigv4::SignedHeaders, &mut Vec<u8>),
    ) -> Response {
        let mut h = self.sign(s);
        let mut body = self.body.to_vec();
        spoil(&mut h, &mut body);
        let mut headers = vec![
            ("authorization", h.authorization.as_str()),
            ("x-amz-date", h.x_amz_date.as_str()),
            ("x-amz-content-sha256", h.x_amz_content_sha256.as_str()),
        ];
        if let Some(t) = &h.x_amz_security_token {
            headers.push(("x-amz-security-token", t.as_str()));
        }
        let path = if h.canonical_query.is_empty() {
            self.path.to_owned()
        } else {
            format!("{}?{}", self.path, h.canonical_query)
        };
        s.raw(
            self.method,
            &path,
            &headers,
            (!body.is_empty()).then_some(body.as_slice()),
        )
    }

    fn send(&self, s: &Server) -> Response {
        self.send_with(s, |_, _| {})
    }

    /// A presigned URL (path and query), computed here from the AWS
    /// documentation rather than with ward-sigv4: `X-Amz-*` query
    /// parameters, `host` the only signed header, the empty body's hash.
    fn presign(&self, s: &Server, expires: i64) -> String {
        let date = ward_sigv4::format_amz_date(self.at);
        let scope = format!(
            "{}/{}/{}/aws4_request",
            &date[..8],
            self.region,
            self.service
        );
        let credential = format!("{}/{scope}", self.creds.id);
        let expires = expires.to_string();
        let mut params: Vec<(String, String)> = self
            .query
            .iter()
            .map(|(k, v)| (aws_encode(k), aws_encode(v)))
            .collect();
        for (k, v) in [
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
            ("X-Amz-Credential", credential.as_str()),
            ("X-Amz-Date", date.as_str()),
            ("X-Amz-Expires", expires.as_str()),
            ("X-Amz-SignedHeaders", "host"),
        ] {
            params.push((aws_encode(k), aws_encode(v)));
        }
        if let Some(t) = self.token {
            params.push((aws_encode("X-Amz-Security-Token"), aws_encode(t)));
        }
        params.sort();
        let query = params
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let creq = format!(
            "{}\n{}\n{query}\nhost:{}\n\nhost\n{}",
            self.method,
            self.path,
            host(s),
            hex::encode(Sha256::digest(self.body))
        );
        let sts = format!(
            "AWS4-HMAC-SHA256\n{date}\n{scope}\n{}",
            hex::encode(Sha256::digest(creq.as_bytes()))
        );
        let mut key = format!("AWS4{}", self.creds.secret).into_bytes();
        for part in [&date[..8], self.region, self.service, "aws4_request"] {
            key = hmac(&key, part.as_bytes());
        }
        let sig = hex::encode(hmac(&key, sts.as_bytes()));
        format!("{}?{query}&X-Amz-Signature={sig}", self.path)
    }
}

fn hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

/// AWS's URI encoding: everything but `A-Z a-z 0-9 - _ . ~`.
fn aws_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Asserts a failure and notes its code, to find in the audit log.
#[track_caller]
fn fail(failed: &mut Vec<&'static str>, r: Response, status: u16, code: &'static str) -> String {
    let m = r.err(status, code).to_owned();
    failed.push(code);
    m
}

/// The audit log's `ward:Authenticate` events, oldest first.
fn auth_failures(s: &Server) -> Vec<serde_json::Value> {
    let r = s.call(
        &s.root(),
        "GET",
        "/v1/audit/events?action=ward%3AAuthenticate&limit=1000",
        None,
    );
    r.ok()["events"].as_array().unwrap().clone()
}

const WHOAMI: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:GetCallerIdentity","Resource":"*"}]}"#;

/// A user allowed `GET /v1/whoami`, with an access key.
fn user_with_key(s: &Server, name: &str) -> Creds {
    let root = s.root();
    s.call(
        &root,
        "POST",
        "/v1/users",
        Some(&json!({ "name": name }).to_string()),
    )
    .ok();
    s.call(
        &root,
        "PUT",
        &format!("/v1/users/{name}/policies/whoami"),
        Some(&json!({ "document": WHOAMI }).to_string()),
    )
    .ok();
    creds_of(
        s.call(
            &root,
            "POST",
            &format!("/v1/users/{name}/access-keys"),
            None,
        )
        .ok(),
    )
}

/// IAM allows `+ = , . @ - _` in user names; curl signs the path as it
/// sends it (raw or percent-encoded) and ward-sigv4 accepts both forms.
#[test]
fn curl_with_punctuation_in_names() {
    let Some(s) = Server::start(Db::Sqlite) else {
        return;
    };
    let root = s.root();
    let name = "a.b+c=d,e@f-g_h";
    let made = s.call(
        &root,
        "POST",
        "/v1/users",
        Some(&json!({ "name": name }).to_string()),
    );
    assert_eq!(made.ok()["name"], name);
    s.call(&root, "POST", "/v1/groups", Some(r#"{"name":"x+y@z"}"#))
        .ok();
    for path in [
        format!("/v1/users/{name}"),
        "/v1/users/a.b%2Bc%3Dd%2Ce%40f-g_h".to_owned(),
        "/v1/users/A.B+C=D,E@F-G_H".to_owned(),
    ] {
        let r = s.call(&root, "GET", &path, None);
        assert_eq!(r.ok()["name"], name, "{path}");
    }
    s.call(
        &root,
        "PUT",
        &format!("/v1/groups/x+y@z/users/{name}"),
        None,
    )
    .ok();
    let groups = s.call(&root, "GET", &format!("/v1/users/{name}/groups"), None);
    assert_eq!(groups.ok()["groups"][0]["name"], "x+y@z");
    // The user signs with curl too, with punctuation in the key owner.
    let key = creds_of(
        s.call(
            &root,
            "POST",
            &format!("/v1/users/{name}/access-keys"),
            None,
        )
        .ok(),
    );
    s.call(
        &root,
        "PUT",
        &format!("/v1/users/{name}/policies/whoami"),
        Some(&json!({ "document": WHOAMI }).to_string()),
    )
    .ok();
    let me = s.call(&key, "GET", "/v1/whoami", None);
    assert_eq!(
        me.ok()["arn"],
        format!("arn:ward:iam::{}:user/{name}", s.account)
    );
    // A signed query with characters that need encoding.
    s.call(&root, "GET", "/v1/users?maxItems=5&pathPrefix=%2F", None)
        .ok();
    s.call(
        &root,
        "DELETE",
        &format!("/v1/groups/x+y@z/users/{name}"),
        None,
    )
    .ok();
}

/// Hand-signed requests: each way a signature can be wrong gets AWS's
/// error code, and each failure is audited.
#[test]
fn hand_signed_requests() {
    let Some(s) = Server::start(Db::Sqlite) else {
        return;
    };
    let root = s.root();
    let dana = user_with_key(&s, "dana");
    let t = now();
    // Codes of the failures, in order, to find in the audit log.
    let mut failed: Vec<&str> = Vec::new();

    // The baseline: ward_sigv4::sign's headers, sent by curl, work, with a
    // query and with a body.
    let who = Signing::new(&dana, "GET", "/v1/whoami").send(&s);
    assert_eq!(who.ok()["authMethod"], "access-key");
    let list = Signing {
        query: &[("maxItems", "2"), ("pathPrefix", "/")],
        ..Signing::new(&root, "GET", "/v1/users")
    }
    .send(&s);
    assert_eq!(list.ok()["users"].as_array().unwrap().len(), 1);
    let body = br#"{"name":"signed-body"}"#;
    let made = Signing {
        body,
        ..Signing::new(&root, "POST", "/v1/users")
    }
    .send(&s);
    assert_eq!(made.status, 201, "{}", made.body);
    // 14 minutes either way is inside the ±15 min window.
    for at in [t - 14 * 60, t + 14 * 60] {
        Signing {
            at,
            ..Signing::new(&dana, "GET", "/v1/whoami")
        }
        .send(&s)
        .ok();
    }

    // A tampered signature.
    let r = Signing::new(&dana, "GET", "/v1/whoami").send_with(&s, |h, _| {
        let last = h.authorization.pop().unwrap();
        h.authorization.push(if last == '0' { '1' } else { '0' });
    });
    fail(&mut failed, r, 403, "SignatureDoesNotMatch");
    // A body other than the one signed (its declared hash no longer fits).
    let r = Signing {
        body,
        ..Signing::new(&root, "POST", "/v1/users")
    }
    .send_with(&s, |_, b| *b = br#"{"name":"other-body"}"#.to_vec());
    fail(&mut failed, r, 403, "SignatureDoesNotMatch");
    // … and with the declared hash changed to fit the new body.
    let r = Signing {
        body,
        ..Signing::new(&root, "POST", "/v1/users")
    }
    .send_with(&s, |h, b| {
        *b = br#"{"name":"other-body"}"#.to_vec();
        h.x_amz_content_sha256 = hex::encode(Sha256::digest(&b[..]));
    });
    fail(&mut failed, r, 403, "SignatureDoesNotMatch");
    // UNSIGNED-PAYLOAD would leave a body unauthenticated.
    let r = Signing {
        body,
        ..Signing::new(&root, "POST", "/v1/users")
    }
    .send_with(&s, |h, _| {
        h.x_amz_content_sha256 = "UNSIGNED-PAYLOAD".into()
    });
    fail(&mut failed, r, 403, "SignatureDoesNotMatch");
    // A different query than the one signed.
    let r = Signing {
        query: &[("maxItems", "2")],
        ..Signing::new(&root, "GET", "/v1/users")
    }
    .send_with(&s, |h, _| h.canonical_query = "maxItems=3".into());
    fail(&mut failed, r, 403, "SignatureDoesNotMatch");
    // The wrong secret.
    let wrong = Creds {
        secret: "x".repeat(40),
        ..dana.clone()
    };
    fail(
        &mut failed,
        Signing::new(&wrong, "GET", "/v1/whoami").send(&s),
        403,
        "SignatureDoesNotMatch",
    );
    assert_eq!(s.call(&wrong, "GET", "/v1/whoami", None).status, 403);
    failed.push("SignatureDoesNotMatch");

    // Outside the ±15 minute window, either way.
    let m = fail(
        &mut failed,
        Signing {
            at: t - 16 * 60,
            ..Signing::new(&dana, "GET", "/v1/whoami")
        }
        .send(&s),
        400,
        "RequestExpired",
    );
    assert!(m.contains("Signature expired"), "{m}");
    let m = fail(
        &mut failed,
        Signing {
            at: t + 16 * 60,
            ..Signing::new(&dana, "GET", "/v1/whoami")
        }
        .send(&s),
        400,
        "RequestExpired",
    );
    assert!(m.contains("not yet current"), "{m}");

    // Keys: unknown, of a deleted-then-recreated user, inactive.
    let unknown = Creds {
        id: "AKIAAAAAAAAAAAAAAAAA".into(),
        ..dana.clone()
    };
    fail(
        &mut failed,
        Signing::new(&unknown, "GET", "/v1/whoami").send(&s),
        403,
        "InvalidClientTokenId",
    );
    let unknown_session = Creds {
        id: "ASIAAAAAAAAAAAAAAAAA".into(),
        token: Some("t".repeat(43)),
        ..dana.clone()
    };
    fail(
        &mut failed,
        Signing::new(&unknown_session, "GET", "/v1/whoami").send(&s),
        403,
        "InvalidClientTokenId",
    );
    let deactivate = |status: &str| {
        s.call(
            &root,
            "PATCH",
            &format!("/v1/users/dana/access-keys/{}", dana.id),
            Some(&json!({ "status": status }).to_string()),
        )
        .ok();
    };
    deactivate("Inactive");
    fail(
        &mut failed,
        Signing::new(&dana, "GET", "/v1/whoami").send(&s),
        403,
        "InvalidClientTokenId",
    );
    fail(
        &mut failed,
        s.call(&dana, "GET", "/v1/whoami", None),
        403,
        "InvalidClientTokenId",
    );
    deactivate("Active");
    Signing::new(&dana, "GET", "/v1/whoami").send(&s).ok();
    s.call(&dana, "GET", "/v1/whoami", None).ok();

    // The credential scope must name this region and service.
    let m = fail(
        &mut failed,
        Signing {
            region: "us-east-1",
            ..Signing::new(&dana, "GET", "/v1/whoami")
        }
        .send(&s),
        400,
        "InvalidSignatureException",
    );
    assert!(m.contains("region"), "{m}");
    let m = fail(
        &mut failed,
        Signing {
            service: "iam",
            ..Signing::new(&dana, "GET", "/v1/whoami")
        }
        .send(&s),
        400,
        "InvalidSignatureException",
    );
    assert!(m.contains("service"), "{m}");

    // A session token on a long-term key.
    let m = fail(
        &mut failed,
        Signing {
            token: Some("a-session-token"),
            ..Signing::new(&dana, "GET", "/v1/whoami")
        }
        .send(&s),
        403,
        "InvalidClientTokenId",
    );
    assert!(m.contains("session token"), "{m}");

    // No authentication at all, and malformed Authorization headers.
    fail(
        &mut failed,
        s.raw("GET", "/v1/whoami", &[], None),
        401,
        "MissingAuthenticationToken",
    );
    fail(
        &mut failed,
        s.raw("POST", "/v1/users", &[], Some(br#"{"name":"anon"}"#)),
        401,
        "MissingAuthenticationToken",
    );
    let signed = Signing::new(&dana, "GET", "/v1/whoami").sign(&s);
    let date = signed.x_amz_date.clone();
    for (auth, status, code) in [
        ("Basic ZGFuYTpzZWNyZXQ=", 400, "IncompleteSignature"),
        ("AWS4-HMAC-SHA256", 400, "IncompleteSignature"),
        (
            "AWS4-HMAC-SHA256 Credential=AKIAAAAAAAAAAAAAAAAA/20240101/local/ward/aws4_request",
            400,
            "IncompleteSignature",
        ),
        (
            &signed
                .authorization
                .replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512"),
            400,
            "IncompleteSignature",
        ),
        (
            &signed
                .authorization
                .replace("SignedHeaders=", "SignedHeaders=x-amz-date;"),
            400,
            "IncompleteSignature",
        ),
        (
            &format!("{}zz", signed.authorization),
            400,
            "IncompleteSignature",
        ),
    ] {
        let r = s.raw(
            "GET",
            "/v1/whoami",
            &[
                ("authorization", auth),
                ("x-amz-date", &date),
                ("x-amz-content-sha256", &signed.x_amz_content_sha256),
            ],
            None,
        );
        assert_eq!(
            (r.status, r.body["error"]["code"].as_str().unwrap_or("")),
            (status, code),
            "{auth}: {}",
            r.body
        );
        failed.push(code);
    }
    // `host` must be signed.
    let h = host(&s);
    let unsigned_host = ward_sigv4::sign(
        "GET",
        "/v1/whoami",
        &[],
        &[("x-other", "1")],
        b"",
        &dana.id,
        &dana.secret,
        None,
        REGION,
        SERVICE,
        &date,
    );
    let r = s.raw(
        "GET",
        "/v1/whoami",
        &[
            ("authorization", &unsigned_host.authorization),
            ("x-amz-date", &date),
            ("x-amz-content-sha256", &unsigned_host.x_amz_content_sha256),
            ("x-other", "1"),
        ],
        None,
    );
    fail(&mut failed, r, 400, "InvalidSignatureException");
    // Signed for another host.
    let other_host = ward_sigv4::sign(
        "GET",
        "/v1/whoami",
        &[],
        &[("host", "ward.example:8443")],
        b"",
        &dana.id,
        &dana.secret,
        None,
        REGION,
        SERVICE,
        &date,
    );
    assert_ne!(h, "ward.example:8443");
    let r = s.raw(
        "GET",
        "/v1/whoami",
        &[
            ("authorization", &other_host.authorization),
            ("x-amz-date", &date),
            ("x-amz-content-sha256", &other_host.x_amz_content_sha256),
        ],
        None,
    );
    fail(&mut failed, r, 403, "SignatureDoesNotMatch");

    // Presigned URLs: GET works; a mutation is refused even when the
    // signature is right; expired or tampered ones fail.
    let get = Signing {
        query: &[("maxItems", "10")],
        ..Signing::new(&root, "GET", "/v1/users")
    };
    let r = s.raw("GET", &get.presign(&s, 300), &[], None);
    assert_eq!(r.ok()["users"].as_array().unwrap().len(), 2, "{}", r.body);
    let r = s.raw(
        "GET",
        &Signing::new(&dana, "GET", "/v1/whoami").presign(&s, 60),
        &[],
        None,
    );
    assert_eq!(r.ok()["userId"].as_str().unwrap().get(..4), Some("AIDA"));
    let post = Signing::new(&root, "POST", "/v1/users/dana/access-keys");
    let m = fail(
        &mut failed,
        s.raw("POST", &post.presign(&s, 300), &[], None),
        403,
        "AccessDenied",
    );
    assert!(m.contains("presigned"), "{m}");
    let del = Signing::new(&root, "DELETE", "/v1/users/signed-body");
    fail(
        &mut failed,
        s.raw("DELETE", &del.presign(&s, 300), &[], None),
        403,
        "AccessDenied",
    );
    let old = Signing {
        at: t - 600,
        ..Signing::new(&root, "GET", "/v1/users")
    };
    fail(
        &mut failed,
        s.raw("GET", &old.presign(&s, 300), &[], None),
        400,
        "RequestExpired",
    );
    let url = get.presign(&s, 300).replace("maxItems=10", "maxItems=11");
    fail(
        &mut failed,
        s.raw("GET", &url, &[], None),
        403,
        "SignatureDoesNotMatch",
    );
    fail(
        &mut failed,
        s.raw("GET", &get.presign(&s, 604_801), &[], None),
        400,
        "InvalidSignatureException",
    );
    // Nothing was written by the refused mutations.
    let keys = s.call(&root, "GET", "/v1/users/dana/access-keys", None);
    assert_eq!(keys.ok()["accessKeys"].as_array().unwrap().len(), 1);
    s.call(&root, "GET", "/v1/users/signed-body", None).ok();
    assert_eq!(
        s.call(&root, "GET", "/v1/users/anon", None).status,
        404,
        "an unauthenticated create wrote"
    );

    // The first failure of each code from this address is in the audit
    // log, as a failed authentication with the code the client got, in
    // order (later ones of the same code are counted into an aggregate
    // event when the window closes; see tests/audit.rs).
    let events = auth_failures(&s);
    let codes: Vec<&str> = events
        .iter()
        .map(|e| e["detail"]["code"].as_str().unwrap_or(""))
        .collect();
    let mut first: Vec<&str> = Vec::new();
    for c in &failed {
        if !first.contains(c) {
            first.push(c);
        }
    }
    assert_eq!(codes, first, "{events:#?}");
    for e in &events {
        assert_eq!(e["decision"], "Failed", "{e}");
        assert_eq!(e["sourceIp"], "127.0.0.1", "{e}");
        let text = e.to_string();
        for secret in [&dana.secret, &root.secret] {
            assert!(!text.contains(secret.as_str()), "a secret was audited");
        }
    }
    // The claimed key is recorded, for the failures that name one.
    assert!(
        events
            .iter()
            .any(|e| e["principal"] == "AKIAAAAAAAAAAAAAAAAA"),
        "{events:#?}"
    );
    assert!(events.iter().any(|e| e["principal"] == "anonymous"));
    let v = s.call(&root, "GET", "/v1/audit/verify", None);
    assert_eq!(v.ok()["ok"], true);
}

/// botocore, the signer inside the AWS CLI and boto3, sending real
/// requests through urllib3 with ward-ca's CA bundle.
const BOTOCORE_SCRIPT: &str = r#"
import json, os, sys
from urllib.parse import quote
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.httpsession import URLLib3Session

endpoint = os.environ["WARD_ENDPOINT"]
session = URLLib3Session(verify=os.environ["WARD_CA_BUNDLE"])
root = Credentials(os.environ["ROOT_KEY"], os.environ["ROOT_SECRET"])
temp = Credentials(os.environ["TEMP_KEY"], os.environ["TEMP_SECRET"], os.environ["TEMP_TOKEN"])

def send(method, path, body=None, creds=root, presign=False):
    headers = {"content-type": "application/json"} if body is not None else {}
    req = AWSRequest(method=method, url=endpoint + path, data=body, headers=headers)
    if presign:
        SigV4QueryAuth(creds, "ward", "local", expires=300).add_auth(req)
    else:
        SigV4Auth(creds, "ward", "local").add_auth(req)
    resp = session.send(req.prepare())
    try:
        out = json.loads(resp.content)
    except ValueError:
        out = resp.content.decode("utf-8", "replace")
    return {"status": resp.status_code, "body": out}

name = "boto+user=1,x@y.z"
results = {
    "list": send("GET", "/v1/users?maxItems=10"),
    "create": send("POST", "/v1/users", json.dumps(
        {"name": name, "tags": [{"key": "via", "value": "botocore"}]})),
    "get_encoded": send("GET", "/v1/users/" + quote(name, safe="")),
    "presigned": send("GET", "/v1/users/" + quote(name, safe=""), presign=True),
    "presigned_list": send("GET", "/v1/users?maxItems=1&pathPrefix=/", presign=True),
    "session_whoami": send("GET", "/v1/whoami", creds=temp),
    "session_presigned": send("GET", "/v1/whoami", creds=temp, presign=True),
    "wrong_secret": send("GET", "/v1/users?maxItems=10",
                         creds=Credentials(root.access_key, "x" * 40)),
    "wrong_token": send("GET", "/v1/whoami",
                        creds=Credentials(temp.access_key, temp.secret_key, "y" * 43)),
}
print(json.dumps(results))
"#;

fn ensure_botocore() {
    let has = |py: &str| {
        Command::new("python3")
            .args(["-c", py])
            .status()
            .is_ok_and(|s| s.success())
    };
    if has("import botocore") {
        return;
    }
    let installed = Command::new("python3")
        .args(["-m", "pip", "install", "--quiet", "botocore"])
        .status()
        .is_ok_and(|s| s.success())
        || Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--break-system-packages",
                "botocore",
            ])
            .status()
            .is_ok_and(|s| s.success());
    assert!(
        installed && has("import botocore"),
        "botocore is needed (python3 -m pip install botocore)"
    );
}

#[test]
fn botocore_signer() {
    ensure_botocore();
    let Some(s) = Server::start(Db::Sqlite) else {
        return;
    };
    let root = s.root();
    // Temporary credentials (ASIA… + session token) from a password login.
    s.call(&root, "POST", "/v1/users", Some(r#"{"name":"tempo"}"#))
        .ok();
    s.call(
        &root,
        "PUT",
        "/v1/users/tempo/policies/whoami",
        Some(&json!({ "document": WHOAMI }).to_string()),
    )
    .ok();
    s.call(
        &root,
        "PUT",
        "/v1/users/tempo/login-profile",
        Some(r#"{"password":"Kestrel-Orbit-77"}"#),
    )
    .ok();
    let login = s.raw(
        "POST",
        "/v1/login",
        &[],
        Some(br#"{"userName":"tempo","password":"Kestrel-Orbit-77"}"#),
    );
    let temp = creds_of(login.ok());
    let before = auth_failures(&s).len();

    let script = s.dir.join("botocore_sign.py");
    std::fs::write(&script, BOTOCORE_SCRIPT).unwrap();
    let out = Command::new("python3")
        .arg(&script)
        .env("WARD_ENDPOINT", &s.endpoint)
        .env("WARD_CA_BUNDLE", &s.bundle)
        .env("ROOT_KEY", &root.id)
        .env("ROOT_SECRET", &root.secret)
        .env("TEMP_KEY", &temp.id)
        .env("TEMP_SECRET", &temp.secret)
        .env("TEMP_TOKEN", temp.token.as_deref().unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "botocore script: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let status = |k: &str| r[k]["status"].as_u64().unwrap_or(0);
    assert_eq!(status("list"), 200, "{}", r["list"]);
    assert_eq!(r["list"]["body"]["users"][0]["name"], "tempo");
    assert_eq!(status("create"), 201, "{}", r["create"]);
    assert_eq!(r["create"]["body"]["name"], "boto+user=1,x@y.z");
    assert_eq!(r["create"]["body"]["tags"][0]["value"], "botocore");
    assert_eq!(status("get_encoded"), 200, "{}", r["get_encoded"]);
    assert_eq!(r["get_encoded"]["body"]["name"], "boto+user=1,x@y.z");
    assert_eq!(status("presigned"), 200, "{}", r["presigned"]);
    assert_eq!(r["presigned"]["body"]["name"], "boto+user=1,x@y.z");
    assert_eq!(status("presigned_list"), 200, "{}", r["presigned_list"]);
    assert_eq!(
        r["presigned_list"]["body"]["users"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(r["presigned_list"]["body"]["marker"].is_string());
    assert_eq!(status("session_whoami"), 200, "{}", r["session_whoami"]);
    assert_eq!(r["session_whoami"]["body"]["authMethod"], "session");
    assert_eq!(
        status("session_presigned"),
        200,
        "{}",
        r["session_presigned"]
    );
    assert_eq!(status("wrong_secret"), 403, "{}", r["wrong_secret"]);
    assert_eq!(
        r["wrong_secret"]["body"]["error"]["code"],
        "SignatureDoesNotMatch"
    );
    assert_eq!(status("wrong_token"), 403, "{}", r["wrong_token"]);
    assert_eq!(
        r["wrong_token"]["body"]["error"]["code"],
        "InvalidClientTokenId"
    );
    // Both failures are audited; the successes are not failures.
    let events = auth_failures(&s);
    let codes: Vec<&str> = events[before..]
        .iter()
        .map(|e| e["detail"]["code"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(codes, ["SignatureDoesNotMatch", "InvalidClientTokenId"]);
    assert!(events[before..].iter().all(|e| e["decision"] == "Failed"));
}
