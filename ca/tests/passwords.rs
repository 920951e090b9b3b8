//! Passwords and sessions against the real daemon (issue #7, items 7 and
//! 8): the lockout cannot be raced (proved with the daemon's Argon2
//! verification counter and the throttle row in the database), Argon2 work
//! is bounded while other callers are still served, sessions end when the
//! password changes, reset-required sessions may only change the password,
//! sessions are listed (without secrets) and revoked, and password logins
//! leave the IAM cache generation alone.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;
use std::sync::{Arc, Barrier};

use common::{creds_of, Creds, Db, Server};
use serde_json::json;

const PW: &str = "Kestrel-Orbit-77";

/// An unsigned POST with the response headers: (status, headers, body).
fn post_raw(s: &Server, path: &str, body: &str, auth: Option<&str>) -> (u16, String, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "300", "-D", "-", "--cacert"])
        .arg(&s.bundle)
        .args(["-H", "content-type: application/json", "-X", "POST"])
        .args(["--data-binary", body]);
    if let Some(a) = auth {
        cmd.args(["-H", &format!("authorization: {a}")]);
    }
    let out = cmd.arg(format!("{}{path}", s.endpoint)).output().unwrap();
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, b) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head.to_ascii_lowercase(), b.to_owned())
}

/// Like [`post_raw`], retried while every Argon2 slot is busy (429 with
/// "busy"), so every attempt reaches the throttle.
fn post_until_checked(s: &Server, path: &str, body: &str, auth: Option<&str>) -> (u16, String) {
    for _ in 0..2000 {
        let (status, head, b) = post_raw(s, path, body, auth);
        if status == 429 && b.contains("busy") {
            assert!(head.contains("retry-after: 1"), "{head}");
            std::thread::sleep(std::time::Duration::from_millis(20));
            continue;
        }
        return (status, b);
    }
    panic!("password checks stayed busy");
}

fn new_user(s: &Server, name: &str, password: &str, reset: bool) {
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
        &format!("/v1/users/{name}/login-profile"),
        Some(&json!({"password": password, "passwordResetRequired": reset}).to_string()),
    )
    .ok();
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:ChangePassword","iam:GetUser","iam:ListUsers"],"Resource":"*"}]}"#;
    s.call(
        &root,
        "PUT",
        &format!("/v1/users/{name}/policies/self"),
        Some(&json!({ "document": doc }).to_string()),
    )
    .ok();
}

fn login(s: &Server, user: &str, password: &str) -> common::Response {
    s.raw(
        "POST",
        "/v1/login",
        &[],
        Some(
            json!({"userName": user, "password": password})
                .to_string()
                .as_bytes(),
        ),
    )
}

fn locked_until(s: &Server, scope: &str) -> i64 {
    s.sql(&format!(
        "SELECT locked_until FROM throttle WHERE scope = '{scope}'"
    ))
    .parse()
    .unwrap()
}

fn unix_now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// 60 parallel wrong guesses run exactly 5 Argon2 verifications (the
/// limit), the lock then holds against the right password, and a further
/// attempt does not move the lock. The same for ChangePassword.
fn lockout_cannot_be_raced(db: Db) {
    let Some(s) = Server::start(db) else {
        return;
    };
    new_user(&s, "lou", PW, false);
    new_user(&s, "cora", PW, false);
    let s = Arc::new(s);

    let before = s.metric("ward_password_verifications_total");
    let go = Arc::new(Barrier::new(60));
    let workers: Vec<_> = (0..60)
        .map(|i| {
            let (s, go) = (s.clone(), go.clone());
            std::thread::spawn(move || {
                go.wait();
                let body = json!({"userName": "lou", "password": format!("wrong-guess-{i:03}")});
                post_until_checked(&s, "/v1/login", &body.to_string(), None)
            })
        })
        .collect();
    let results: Vec<(u16, String)> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    let verified = s.metric("ward_password_verifications_total") - before;
    let wrong = results.iter().filter(|(st, _)| *st == 401).count();
    let locked = results
        .iter()
        .filter(|(st, b)| *st == 429 && b.contains("too many failed logins"))
        .count();
    assert_eq!(
        verified, 5,
        "Argon2 verifications for 60 guesses: {results:?}"
    );
    assert_eq!((wrong, locked), (5, 55), "{results:?}");

    // The right password is refused while locked, with Retry-After.
    let lock = locked_until(&s, "user:lou");
    assert!(lock > unix_now(), "lock {lock}");
    let (status, head, b) = post_raw(
        &s,
        "/v1/login",
        &json!({"userName": "lou", "password": PW}).to_string(),
        None,
    );
    assert_eq!(status, 429, "{b}");
    assert!(head.contains("retry-after: "), "{head}");
    assert!(b.contains("too many failed logins"), "{b}");
    // Another wrong guess while locked neither verifies nor moves the lock.
    let v = s.metric("ward_password_verifications_total");
    login(&s, "lou", "wrong-guess-xyz").err(429, "Throttling");
    assert_eq!(locked_until(&s, "user:lou"), lock);
    assert_eq!(s.metric("ward_password_verifications_total"), v);

    // ChangePassword: 30 parallel wrong current passwords from one session.
    let creds = creds_of(login(&s, "cora", PW).ok());
    let bearer = format!("Bearer {}", creds.token.clone().unwrap());
    let before = s.metric("ward_password_verifications_total");
    let go = Arc::new(Barrier::new(30));
    let workers: Vec<_> = (0..30)
        .map(|i| {
            let (s, go, bearer) = (s.clone(), go.clone(), bearer.clone());
            std::thread::spawn(move || {
                go.wait();
                let body = json!({"oldPassword": format!("wrong-guess-{i:03}"), "newPassword": "Another-Orbit-88"});
                post_until_checked(&s, "/v1/change-password", &body.to_string(), Some(&bearer))
            })
        })
        .collect();
    let results: Vec<(u16, String)> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    let verified = s.metric("ward_password_verifications_total") - before;
    assert_eq!(verified, 5, "{results:?}");
    let wrong = results
        .iter()
        .filter(|(st, b)| *st == 400 && b.contains("InvalidPassword"))
        .count();
    assert_eq!(wrong, 5, "{results:?}");
    assert!(locked_until(&s, "user:cora") > unix_now());
    // The lock covers the right current password and logins too.
    let (status, b) = post_until_checked(
        &s,
        "/v1/change-password",
        &json!({"oldPassword": PW, "newPassword": "Another-Orbit-88"}).to_string(),
        Some(&bearer),
    );
    assert_eq!(status, 429, "{b}");
    login(&s, "cora", PW).err(429, "Throttling");
}

#[test]
fn lockout_cannot_be_raced_sqlite() {
    lockout_cannot_be_raced(Db::Sqlite);
}

#[test]
fn lockout_cannot_be_raced_postgres() {
    lockout_cannot_be_raced(Db::Postgres);
}

/// 96 concurrent logins for unknown users: the excess is refused at once
/// with 429 and Retry-After, and a signed whoami and /healthz are answered
/// meanwhile.
#[test]
fn argon2_work_is_bounded() {
    let Some(s) = Server::start(Db::Sqlite) else {
        return;
    };
    let s = Arc::new(s);
    let go = Arc::new(Barrier::new(97));
    let workers: Vec<_> = (0..96)
        .map(|i| {
            let (s, go) = (s.clone(), go.clone());
            std::thread::spawn(move || {
                go.wait();
                let body = json!({"userName": format!("ghost{i}"), "password": "wrong-guess-000"});
                post_raw(&s, "/v1/login", &body.to_string(), None)
            })
        })
        .collect();
    go.wait();
    // Served while the logins run (generous limits: completes at all).
    let who = s.call(&s.root(), "GET", "/v1/whoami", None);
    assert_eq!(who.ok()["arn"], format!("arn:ward:iam::{}:root", s.account));
    let health = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "120",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--cacert",
        ])
        .arg(&s.bundle)
        .arg(format!("{}/healthz", s.endpoint))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&health.stdout), "200");
    let results: Vec<(u16, String, String)> =
        workers.into_iter().map(|w| w.join().unwrap()).collect();
    let busy: Vec<_> = results
        .iter()
        .filter(|(st, _, b)| *st == 429 && b.contains("busy"))
        .collect();
    assert!(!busy.is_empty(), "no login was refused as busy");
    for (st, head, b) in &results {
        assert!(*st == 401 || *st == 429, "{st} {b}");
        if *st == 429 {
            assert!(head.contains("retry-after: "), "{head}");
        }
    }
    let refused = s.metric("ward_password_busy_total");
    assert_eq!(refused, busy.len() as u64);
    // Every admitted login ran exactly one verification.
    let verified = s.metric("ward_password_verifications_total");
    let ran = results.iter().filter(|(st, _, _)| *st == 401).count() as u64;
    assert_eq!(verified, ran, "{results:?}");
}

fn works(s: &Server, c: &Creds) -> bool {
    let signed = s.call(c, "GET", "/v1/whoami", None);
    let bearer = s.raw(
        "GET",
        "/v1/whoami",
        &[(
            "authorization",
            &format!("Bearer {}", c.token.clone().unwrap()),
        )],
        None,
    );
    assert_eq!(
        signed.status == 200,
        bearer.status == 200,
        "{signed:?} {bearer:?}"
    );
    if signed.status != 200 {
        signed.err(403, "InvalidClientTokenId");
        bearer.err(401, "InvalidToken");
    }
    signed.status == 200
}

/// Sessions are listed without secrets, revoked one by one or all, and
/// end when the password is changed, reset by an admin, or deleted.
fn sessions_end_with_the_password(db: Db) {
    let Some(s) = Server::start(db) else {
        return;
    };
    let root = s.root();
    new_user(&s, "erin", PW, false);
    let s1 = creds_of(login(&s, "erin", PW).ok());
    let s2 = creds_of(login(&s, "erin", PW).ok());
    assert!(works(&s, &s1) && works(&s, &s2));
    s.call(&s1, "GET", "/v1/users/erin", None).ok();

    // The list: both sessions, nothing secret.
    let list = s.call(&root, "GET", "/v1/users/erin/sessions", None);
    let text = list.body.to_string();
    let sessions = list.ok()["sessions"].as_array().unwrap().clone();
    let ids: Vec<&str> = sessions.iter().map(|x| x["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&s1.id.as_str()) && ids.contains(&s2.id.as_str()));
    for x in &sessions {
        assert_eq!(x["authMethod"], "password");
        assert_eq!(x["sourceIp"], "127.0.0.1");
        assert_eq!(x["userName"], "erin");
        assert!(x["created"].as_str().unwrap().ends_with('Z'));
        assert!(x["expires"].as_str().unwrap() > x["created"].as_str().unwrap());
    }
    for secret in [
        &s1.secret,
        &s2.secret,
        s1.token.as_ref().unwrap(),
        s2.token.as_ref().unwrap(),
    ] {
        assert!(!text.contains(secret.as_str()), "{text}");
    }
    // The user may not list their own sessions without iam:ListSessions.
    s.call(&s1, "GET", "/v1/users/erin/sessions", None)
        .err(403, "AccessDenied");

    // Revoke one: only that one stops.
    s.call(
        &root,
        "DELETE",
        &format!("/v1/users/erin/sessions/{}", s1.id),
        None,
    )
    .ok();
    assert!(!works(&s, &s1));
    assert!(works(&s, &s2));
    s.call(
        &root,
        "DELETE",
        &format!("/v1/users/erin/sessions/{}", s1.id),
        None,
    )
    .err(404, "NoSuchEntity");
    let bad = s.call(&root, "DELETE", "/v1/users/erin/sessions/nope", None);
    bad.err(400, "ValidationError");
    assert_eq!(bad.field(), "id");

    // ChangePassword ends every session, the one that made the change too.
    let s3 = creds_of(login(&s, "erin", PW).ok());
    let new_pw = "Another-Orbit-88";
    s.call(
        &s2,
        "POST",
        "/v1/change-password",
        Some(&json!({"oldPassword": PW, "newPassword": new_pw}).to_string()),
    )
    .ok();
    assert!(!works(&s, &s2));
    assert!(!works(&s, &s3));
    let s4 = creds_of(login(&s, "erin", new_pw).ok());
    assert!(works(&s, &s4));

    // An admin reset ends them.
    let reset_pw = "Third-Orbit-99";
    s.call(
        &root,
        "PUT",
        "/v1/users/erin/login-profile",
        Some(&json!({ "password": reset_pw }).to_string()),
    )
    .ok();
    assert!(!works(&s, &s4));
    let s5 = creds_of(login(&s, "erin", reset_pw).ok());
    assert!(works(&s, &s5));

    // Deleting the login profile ends them.
    s.call(&root, "DELETE", "/v1/users/erin/login-profile", None)
        .ok();
    assert!(!works(&s, &s5));

    // Revoke all.
    s.call(
        &root,
        "PUT",
        "/v1/users/erin/login-profile",
        Some(&json!({ "password": PW }).to_string()),
    )
    .ok();
    let a = creds_of(login(&s, "erin", PW).ok());
    let b = creds_of(login(&s, "erin", PW).ok());
    let r = s.call(&root, "DELETE", "/v1/users/erin/sessions", None);
    assert_eq!(r.ok()["revoked"], 2);
    assert!(!works(&s, &a) && !works(&s, &b));
    let list = s.call(&root, "GET", "/v1/users/erin/sessions", None);
    assert_eq!(list.ok()["sessions"], json!([]));

    // Audited.
    let ev = s.call(
        &root,
        "GET",
        "/v1/audit/events?action=iam%3ARevokeSession",
        None,
    );
    let events = ev.ok()["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0]["detail"]["session"], s1.id.as_str());
    assert_eq!(events[1]["detail"]["revoked"], 2);
}

#[test]
fn sessions_end_with_the_password_sqlite() {
    sessions_end_with_the_password(Db::Sqlite);
}

#[test]
fn sessions_end_with_the_password_postgres() {
    sessions_end_with_the_password(Db::Postgres);
}

/// A login with a password that must be changed may change it and ask
/// who it is, nothing else; after the change a new login works normally.
fn reset_required_is_enforced(db: Db) {
    let Some(s) = Server::start(db) else {
        return;
    };
    new_user(&s, "rita", PW, true);
    let login1 = login(&s, "rita", PW);
    assert_eq!(login1.ok()["passwordResetRequired"], true);
    let c = creds_of(login1.ok());
    assert_eq!(
        s.call(&c, "GET", "/v1/whoami", None).ok()["arn"],
        format!("arn:ward:iam::{}:user/rita", s.account)
    );
    for path in ["/v1/users/rita", "/v1/users"] {
        let m = s
            .call(&c, "GET", path, None)
            .err(403, "AccessDenied")
            .to_owned();
        assert!(m.contains("password must be changed"), "{m}");
    }
    let m = s
        .raw(
            "GET",
            "/v1/users/rita",
            &[(
                "authorization",
                &format!("Bearer {}", c.token.clone().unwrap()),
            )],
            None,
        )
        .err(403, "AccessDenied")
        .to_owned();
    assert!(m.contains("password must be changed"), "{m}");
    let new_pw = "Another-Orbit-88";
    s.call(
        &c,
        "POST",
        "/v1/change-password",
        Some(&json!({"oldPassword": PW, "newPassword": new_pw}).to_string()),
    )
    .ok();
    assert!(!works(&s, &c));
    let login2 = login(&s, "rita", new_pw);
    assert!(login2.ok().get("passwordResetRequired").is_none());
    let c2 = creds_of(login2.ok());
    s.call(&c2, "GET", "/v1/users/rita", None).ok();
    s.call(&c2, "GET", "/v1/users", None).ok();
}

#[test]
fn reset_required_is_enforced_sqlite() {
    reset_required_is_enforced(Db::Sqlite);
}

#[test]
fn reset_required_is_enforced_postgres() {
    reset_required_is_enforced(Db::Postgres);
}

/// Logins (good and bad) and failed password changes do not bump the IAM
/// cache generation; a CreateUser does.
fn logins_leave_the_iam_generation_alone(db: Db) {
    let Some(s) = Server::start(db) else {
        return;
    };
    new_user(&s, "gus", PW, false);
    let iam_seq = || -> i64 {
        s.sql("SELECT iam_seq FROM audit_head WHERE id = 1")
            .parse()
            .unwrap()
    };
    let audit_seq = || -> i64 {
        s.sql("SELECT seq FROM audit_head WHERE id = 1")
            .parse()
            .unwrap()
    };
    let (g0, a0) = (iam_seq(), audit_seq());
    let c = creds_of(login(&s, "gus", PW).ok());
    login(&s, "gus", "wrong-guess-000").err(401, "InvalidLogin");
    login(&s, "nobody", "wrong-guess-000").err(401, "InvalidLogin");
    s.call(
        &c,
        "POST",
        "/v1/change-password",
        Some(
            &json!({"oldPassword": "wrong-guess-000", "newPassword": "Another-Orbit-88"})
                .to_string(),
        ),
    )
    .err(400, "InvalidPassword");
    // Each of those was audited, none moved the generation.
    assert!(audit_seq() >= a0 + 4);
    assert_eq!(iam_seq(), g0);
    s.call(&s.root(), "POST", "/v1/users", Some(r#"{"name":"hal"}"#))
        .ok();
    assert_eq!(iam_seq(), g0 + 1);
}

#[test]
fn logins_leave_the_iam_generation_alone_sqlite() {
    logins_leave_the_iam_generation_alone(Db::Sqlite);
}

#[test]
fn logins_leave_the_iam_generation_alone_postgres() {
    logins_leave_the_iam_generation_alone(Db::Postgres);
}
