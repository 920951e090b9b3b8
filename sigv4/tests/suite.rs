#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The AWS SigV4 signing test suite (`tests/data/sigv4/`, see its README.md) run
//! through `ward_sigv4`: every signed request must verify, reproduce the expected
//! canonical request and string to sign, and fail with the right error code when
//! tampered with.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use ward_sigv4::{self as sigv4, Expect, HttpRequest};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sigv4")
}

/// Signature locations the suite covers.
const LOCATIONS: [&str; 2] = ["header", "query"];

/// (case, location, reason) run pairs deliberately not run.
const SKIPPED: &[(&str, &str, &str)] = &[(
    "post-sts-header-after",
    "query",
    "the session token is appended to the query after signing (omit_session_token); \
     ward, like AWS's generic services, requires X-Amz-Security-Token to be part of the \
     signed canonical query of a presigned URL",
)];

/// Number of (case, location) pairs expected to run; guards against silently losing
/// vectors.
const EXPECTED_RUNS: usize = 65;

#[derive(Clone, Debug)]
struct Ctx {
    access_key_id: String,
    secret: String,
    token: Option<String>,
    region: String,
    service: String,
    now: i64,
    expires: i64,
}

/// The two legacy cases have no context.json; their parameters are those of the
/// aws-sigv4 unit tests that use them (src/http_request/sign.rs `test_sign_url_escape`
/// and `Credentials::for_tests()`; canonical_request.rs `test_double_url_encode`).
fn legacy_context(case: &str) -> Option<Ctx> {
    let (akid, secret, region, service, date) = match case {
        "double-encode-path" => (
            "ANOTREAL",
            "notrealrnrELgWzOk3IfjzDKtFBhDby",
            "us-east-1",
            "service",
            "20150830T123600Z",
        ),
        "double-url-encode" => (
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "us-east-2",
            "lambda",
            "20210511T154045Z",
        ),
        _ => return None,
    };
    Some(Ctx {
        access_key_id: akid.into(),
        secret: secret.into(),
        token: None,
        region: region.into(),
        service: service.into(),
        now: sigv4::parse_amz_date(date).unwrap(),
        expires: 3600,
    })
}

fn context(dir: &Path, case: &str) -> Ctx {
    let path = dir.join("context.json");
    if !path.exists() {
        return legacy_context(case).unwrap_or_else(|| panic!("{case}: no context.json"));
    }
    let v: serde_json::Value = serde_json::from_str(&read(&path)).unwrap();
    let s = |p: &str| v.pointer(p).and_then(|x| x.as_str()).map(str::to_string);
    // "2015-08-30T12:36:00Z" -> "20150830T123600Z"
    let ts: String = s("/timestamp").unwrap().replace(['-', ':'], "");
    Ctx {
        access_key_id: s("/credentials/access_key_id").unwrap(),
        secret: s("/credentials/secret_access_key").unwrap(),
        token: s("/credentials/token"),
        region: s("/region").unwrap(),
        service: s("/service").unwrap(),
        now: sigv4::parse_amz_date(&ts).unwrap(),
        expires: v["expiration_in_seconds"].as_i64().unwrap(),
    }
}

/// Like the upstream harness: CRLF -> LF, surrounding whitespace trimmed.
fn read(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .replace("\r\n", "\n")
        .trim()
        .to_string()
}

#[derive(Clone, Debug)]
struct Req {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl Req {
    /// Parse an HTTP/1.1 request as the suite writes it. Header values are trimmed and
    /// obs-fold continuation lines are replaced by one space, as an HTTP server does
    /// (RFC 9112 §5.2); the request target may contain spaces and raw UTF-8.
    fn parse(text: &str) -> Req {
        let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
        let mut lines = head.lines();
        let request_line = lines.next().unwrap();
        let (method, target) = request_line.split_once(' ').unwrap();
        let target = target.strip_suffix(" HTTP/1.1").unwrap_or(target);
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
        for line in lines {
            if line.starts_with([' ', '\t']) {
                let last = headers.last_mut().unwrap();
                last.1.push(b' ');
                last.1.extend_from_slice(line.trim().as_bytes());
                continue;
            }
            let (name, value) = line.split_once(':').unwrap();
            headers.push((name.to_string(), value.trim().as_bytes().to_vec()));
        }
        Req {
            method: method.into(),
            path: path.into(),
            query: query.into(),
            headers,
            body: body.as_bytes().to_vec(),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&HttpRequest<'_>) -> R) -> R {
        let headers: Vec<(&str, &[u8])> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_slice()))
            .collect();
        let body_hash = hex::encode(Sha256::digest(&self.body));
        f(&HttpRequest {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: &headers,
            body_sha256_hex: &body_hash,
        })
    }

    fn header_mut(&mut self, name: &str) -> &mut Vec<u8> {
        &mut self
            .headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .unwrap_or_else(|| panic!("no {name} header"))
            .1
    }

    /// Edit the authentication data: the Authorization header (header form) or the
    /// query string (presigned).
    fn edit_auth(&self, loc: &str, f: impl FnOnce(&str) -> String) -> Req {
        let mut r = self.clone();
        if loc == "header" {
            let v = r.header_mut("authorization");
            *v = f(std::str::from_utf8(v).unwrap()).into_bytes();
        } else {
            r.query = f(&r.query);
        }
        r
    }
}

fn expect<'a>(ctx: &'a Ctx, now: i64) -> Expect<'a> {
    Expect {
        region: &ctx.region,
        service: &ctx.service,
        now_epoch_secs: now,
        max_skew_secs: 900,
        max_presign_expires_secs: 604_800,
    }
}

/// `Ok(claim)` or the error code.
fn run(req: &Req, exp: &Expect<'_>, secret: &str) -> Result<sigv4::Claim, &'static str> {
    req.with(|http| {
        let claim = sigv4::parse(http, exp).map_err(|e| e.code())?;
        sigv4::verify(http, &claim, secret.as_bytes()).map_err(|e| e.code())?;
        Ok(claim)
    })
}

/// One signature location of one case.
struct Run {
    case: String,
    loc: &'static str,
    dir: PathBuf,
    ctx: Ctx,
    req: Req,
}

fn runs() -> (Vec<Run>, Vec<String>) {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(data_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    let mut runs = Vec::new();
    let mut skipped = Vec::new();
    for dir in cases {
        let case = dir.file_name().unwrap().to_str().unwrap().to_string();
        let ctx = context(&dir, &case);
        for loc in LOCATIONS {
            let file = dir.join(format!("{loc}-signed-request.txt"));
            if !file.exists() {
                continue;
            }
            if let Some((_, _, why)) = SKIPPED.iter().find(|(c, l, _)| *c == case && *l == loc) {
                skipped.push(format!("{case} ({loc}): {why}"));
                continue;
            }
            runs.push(Run {
                case: case.clone(),
                loc,
                dir: dir.clone(),
                ctx: ctx.clone(),
                req: Req::parse(&read(&file)),
            });
        }
    }
    (runs, skipped)
}

#[test]
fn suite_requests_verify_and_canonicalize_as_expected() {
    let (runs, skipped) = runs();
    let mut failures = Vec::new();
    let mut compared = 0;
    for r in &runs {
        let name = format!("{} ({})", r.case, r.loc);
        let exp = expect(&r.ctx, r.ctx.now);
        let claim = match run(&r.req, &exp, &r.ctx.secret) {
            Ok(c) => c,
            Err(code) => {
                failures.push(format!("{name}: rejected with {code}"));
                continue;
            }
        };
        if claim.access_key_id != r.ctx.access_key_id || claim.presigned != (r.loc == "query") {
            failures.push(format!("{name}: wrong claim {claim:?}"));
        }
        // The token must be reported when the request carries it (signed or not).
        let carries_token = r.req.query.contains("X-Amz-Security-Token=")
            || r.req
                .headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("x-amz-security-token"));
        if carries_token && claim.session_token != r.ctx.token {
            failures.push(format!("{name}: session token not reported"));
        }

        let creq = r
            .req
            .with(|http| sigv4::canonical_request(http, &claim).unwrap());
        let creq = String::from_utf8(creq).unwrap();
        let sts = r.req.with(|http| {
            sigv4::string_to_sign(&claim, &sigv4::canonical_request(http, &claim).unwrap())
        });
        let expected_creq = r.dir.join(format!("{}-canonical-request.txt", r.loc));
        let expected_sts = r.dir.join(format!("{}-string-to-sign.txt", r.loc));
        if r.case == "double-encode-path" {
            // Its canonical-request.txt was produced with another clock
            // (x-amz-date 20210511T154045Z) than its signed request: compare the URI.
            let want = read(&expected_creq);
            if want.lines().nth(1) != creq.lines().nth(1) {
                failures.push(format!("{name}: canonical URI differs"));
            }
            compared += 1;
        } else {
            if read(&expected_creq) != creq {
                failures.push(format!(
                    "{name}: canonical request differs:\n--- want\n{}\n--- got\n{creq}",
                    read(&expected_creq)
                ));
            }
            compared += 1;
        }
        if expected_sts.exists() {
            if read(&expected_sts) != sts {
                failures.push(format!("{name}: string to sign differs:\n{sts}"));
            }
            compared += 1;
        }
    }
    println!(
        "sigv4 suite: {} runs verified, {compared} canonical request / string-to-sign \
         comparisons, {} skipped:",
        runs.len(),
        skipped.len()
    );
    for s in &skipped {
        println!("  skipped {s}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(runs.len(), EXPECTED_RUNS, "number of suite runs changed");
    assert_eq!(skipped.len(), SKIPPED.len());
}

fn flip_signature(s: &str) -> String {
    let at = s.find("Signature=").unwrap() + "Signature=".len() + 63;
    let flipped = if &s[at..at + 1] == "0" { "1" } else { "0" };
    format!("{}{flipped}{}", &s[..at], &s[at + 1..])
}

#[test]
fn suite_requests_fail_when_tampered() {
    let (runs, _) = runs();
    let mut failures = Vec::new();
    let mut checks = 0;
    for r in &runs {
        let ctx = &r.ctx;
        let date = r.req.with(|http| {
            sigv4::parse(http, &expect(ctx, ctx.now))
                .unwrap()
                .signed_at_epoch_secs()
        });
        let header_form = r.loc == "header";
        let scope = |region: &str, service: &str| {
            if header_form {
                format!("/{region}/{service}/aws4_request")
            } else {
                format!("%2F{region}%2F{service}%2Faws4_request")
            }
        };
        let original_scope = scope(&ctx.region, &ctx.service);

        let mut other_host = r.req.clone();
        other_host.header_mut("host").extend_from_slice(b".evil");

        let mut other_query = r.req.clone();
        match other_query
            .query
            .split('&')
            .position(|p| !p.is_empty() && !p.starts_with("X-Amz-"))
        {
            Some(i) => {
                let mut parts: Vec<String> =
                    other_query.query.split('&').map(str::to_string).collect();
                let suffix = if parts[i].contains('=') { "x" } else { "=x" };
                parts[i].push_str(suffix);
                other_query.query = parts.join("&");
            }
            None if other_query.query.is_empty() => other_query.query = "tamper=1".into(),
            None => other_query.query.push_str("&tamper=1"),
        }

        let mut other_body = r.req.clone();
        other_body.body.extend_from_slice(b"&tampered=1");

        let wrong_region = Ctx {
            region: "us-west-2".into(),
            ..ctx.clone()
        };
        let wrong_service = Ctx {
            service: "other".into(),
            ..ctx.clone()
        };
        let re_scoped_region = r.req.edit_auth(r.loc, |s| {
            s.replace(&original_scope, &scope("us-west-2", &ctx.service))
        });
        let re_scoped_service = r.req.edit_auth(r.loc, |s| {
            s.replace(&original_scope, &scope(&ctx.region, "other"))
        });

        let min16 = 16 * 60;
        let presigned_late = date + ctx.expires + 1;
        // what, request, server context, now, secret, expected
        type Tamper<'a> = (&'a str, Req, Ctx, i64, &'a str, Result<(), &'a str>);
        let cases: Vec<Tamper<'_>> = vec![
            (
                "signature byte flipped",
                r.req.edit_auth(r.loc, flip_signature),
                ctx.clone(),
                ctx.now,
                &ctx.secret,
                Err("SignatureDoesNotMatch"),
            ),
            (
                "host header changed",
                other_host,
                ctx.clone(),
                ctx.now,
                &ctx.secret,
                Err("SignatureDoesNotMatch"),
            ),
            (
                "query changed",
                other_query,
                ctx.clone(),
                ctx.now,
                &ctx.secret,
                Err("SignatureDoesNotMatch"),
            ),
            (
                "body changed",
                other_body,
                ctx.clone(),
                ctx.now,
                &ctx.secret,
                Err("SignatureDoesNotMatch"),
            ),
            (
                "wrong secret",
                r.req.clone(),
                ctx.clone(),
                ctx.now,
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ",
                Err("SignatureDoesNotMatch"),
            ),
            (
                "server expects another region",
                r.req.clone(),
                wrong_region.clone(),
                ctx.now,
                &ctx.secret,
                Err("InvalidSignatureException"),
            ),
            (
                "server expects another service",
                r.req.clone(),
                wrong_service.clone(),
                ctx.now,
                &ctx.secret,
                Err("InvalidSignatureException"),
            ),
            (
                "region in scope rewritten",
                re_scoped_region,
                wrong_region,
                ctx.now,
                &ctx.secret,
                Err("SignatureDoesNotMatch"),
            ),
            (
                "service in scope rewritten",
                re_scoped_service,
                wrong_service,
                ctx.now,
                &ctx.secret,
                Err("SignatureDoesNotMatch"),
            ),
            (
                "clock 16 min behind",
                r.req.clone(),
                ctx.clone(),
                date - min16,
                &ctx.secret,
                Err("RequestExpired"),
            ),
            (
                "clock 16 min ahead",
                r.req.clone(),
                ctx.clone(),
                date + min16,
                &ctx.secret,
                // A presigned URL is valid for X-Amz-Expires (3600 s here).
                if header_form {
                    Err("RequestExpired")
                } else {
                    Ok(())
                },
            ),
            (
                "clock 14 min ahead",
                r.req.clone(),
                ctx.clone(),
                date + 14 * 60,
                &ctx.secret,
                Ok(()),
            ),
            (
                "clock 14 min behind",
                r.req.clone(),
                ctx.clone(),
                date - 14 * 60,
                &ctx.secret,
                Ok(()),
            ),
            (
                "clock past X-Amz-Expires",
                r.req.clone(),
                ctx.clone(),
                presigned_late,
                &ctx.secret,
                Err("RequestExpired"),
            ),
        ];
        for (what, req, c, now, secret, want) in cases {
            checks += 1;
            let got = run(&req, &expect(&c, now), secret).map(|_| ());
            if got != want {
                failures.push(format!(
                    "{} ({}) {what}: want {want:?}, got {got:?}",
                    r.case, r.loc
                ));
            }
        }
    }
    println!(
        "sigv4 suite: {checks} tampering checks over {} runs",
        runs.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The client signer reproduces the suite's signatures where its fixed choice of
/// signed headers (everything given + x-amz-date + x-amz-content-sha256) matches the
/// case's.
#[test]
fn signer_reproduces_suite_signatures() {
    for case in [
        "post-x-www-form-urlencoded",
        "post-x-www-form-urlencoded-parameters",
    ] {
        let dir = data_dir().join(case);
        let ctx = context(&dir, case);
        let req = Req::parse(&read(&dir.join("request.txt")));
        let headers: Vec<(&str, &str)> = req
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), std::str::from_utf8(v).unwrap()))
            .collect();
        let signed = sigv4::sign(
            &req.method,
            &req.path,
            &[],
            &headers,
            &req.body,
            &ctx.access_key_id,
            &ctx.secret,
            None,
            &ctx.region,
            &ctx.service,
            &sigv4::format_amz_date(ctx.now),
        );
        let want = read(&dir.join("header-signature.txt"));
        assert!(
            signed.authorization.ends_with(&format!("Signature={want}")),
            "{case}: {}",
            signed.authorization
        );
        let signed_request = read(&dir.join("header-signed-request.txt"));
        assert!(signed_request.contains(&signed.authorization), "{case}");
    }
}
