//! The dashboard's idle and absolute timeouts (`[dashboard]
//! idle_timeout_seconds`, `absolute_timeout_seconds` in `ca.toml`), set
//! short for the ward-ca each test starts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Db, Server};
use std::process::Command;

const PASSWORD: &str = "correct horse battery staple 42";

/// Status, Location and the session cookie of a request.
fn get(s: &Server, path: &str, cookie: Option<&str>, form: Option<&str>) -> (u16, String, String) {
    let mut args: Vec<String> = vec![
        "-sS".into(),
        "-i".into(),
        "--cacert".into(),
        s.bundle.display().to_string(),
    ];
    if let Some(c) = cookie {
        args.extend(["-H".into(), format!("cookie: {c}")]);
    }
    if let Some(f) = form {
        args.extend(["--data".into(), f.to_owned()]);
    }
    args.push(format!("{}{path}", s.endpoint));
    let out = Command::new("curl").args(&args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap();
    let header = |name: &str| {
        text.lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
            .unwrap_or_default()
    };
    let cookie = header("set-cookie")
        .split(';')
        .next()
        .unwrap_or("")
        .to_owned();
    (status, header("location"), cookie)
}

/// Starts ward-ca with `dashboard` as its `[dashboard]` table and an
/// all-powerful `admin` with a password; the server and the sign-in's
/// cookie.
fn signed_in(db: Db, dashboard: &str) -> Option<(Server, String)> {
    let s = Server::start_with(db, &format!("[dashboard]\n{dashboard}"))?;
    let root = s.root();
    common::user_with_policy(
        &s,
        &root,
        "admin",
        r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#,
    );
    s.call(
        &root,
        "PUT",
        "/v1/users/admin/login-profile",
        Some(&serde_json::json!({"password": PASSWORD}).to_string()),
    )
    .ok();
    let form = format!("userName=admin&password={}", PASSWORD.replace(' ', "+"));
    let (status, _, cookie) = get(&s, "/ui/login", None, Some(&form));
    assert_eq!(status, 303);
    Some((s, cookie))
}

/// The number of live login sessions of `admin`, as the API lists them.
fn sessions(s: &Server) -> usize {
    let root = s.root();
    s.call(&root, "GET", "/v1/users/admin/sessions", None).ok()["sessions"]
        .as_array()
        .unwrap()
        .len()
}

/// `(signed in, last seen)` of a cookie `NAME=TOKEN.SIGNED_IN.LAST_SEEN.MAC`.
fn times(cookie: &str) -> (i64, i64) {
    let mut it = cookie.rsplit('.');
    let _mac = it.next().unwrap();
    let seen = it.next().unwrap().parse().unwrap();
    let issued = it.next().unwrap().parse().unwrap();
    (issued, seen)
}

#[test]
fn a_cookie_left_idle_longer_than_the_idle_timeout_is_refused_though_its_session_lives() {
    // Long enough that the control below is never late on a loaded machine.
    for db in [Db::Sqlite, Db::Postgres] {
        let Some((s, cookie)) = signed_in(db, "idle_timeout_seconds = 15") else {
            continue;
        };
        // Used at once: accepted (the control).
        let (status, _, _) = get(&s, "/ui/", Some(&cookie), None);
        assert_eq!(status, 200);
        // Left idle past the timeout: refused, and cleared.
        std::thread::sleep(std::time::Duration::from_secs(17));
        let (status, location, cleared) = get(&s, "/ui/", Some(&cookie), None);
        assert_eq!((status, location.as_str()), (303, "/ui/login"));
        assert!(cleared.ends_with("ward-session="), "{cleared}");
        // The login session itself is still alive (the idle timeout is the
        // dashboard's): the API still lists it.
        assert_eq!(sessions(&s), 1);
    }
}

#[test]
fn a_cookie_in_constant_use_is_refused_after_the_absolute_timeout() {
    for db in [Db::Sqlite, Db::Postgres] {
        // Idle an hour (never reached here), absolute 12 s.
        let Some((s, first)) = signed_in(
            db,
            "idle_timeout_seconds = 3600\nabsolute_timeout_seconds = 12",
        ) else {
            continue;
        };
        let (signed_in_at, _) = times(&first);
        // Used at once: accepted, and re-issued with the same sign-in time
        // (the control).
        let (status, _, mut cookie) = get(&s, "/ui/", Some(&first), None);
        assert_eq!(status, 200);
        assert_eq!(times(&cookie).0, signed_in_at);
        // Kept active (a page every second, each re-issuing the cookie)
        // until it is refused; it must be, well within two minutes.
        let mut used = 1;
        let refused = loop {
            assert!(used < 120, "still accepted after {used} uses");
            std::thread::sleep(std::time::Duration::from_secs(1));
            let (status, location, next) = get(&s, "/ui/", Some(&cookie), None);
            if status == 303 {
                assert_eq!(location, "/ui/login");
                assert!(next.ends_with("ward-session="), "{next}");
                break cookie;
            }
            assert_eq!(status, 200);
            assert_eq!(times(&next).0, signed_in_at, "the sign-in time is kept");
            cookie = next;
            used += 1;
        };
        // Refused while active: the refused cookie had been re-issued by
        // the server after sign-in (its last-seen moved on), far within
        // the hour's idle timeout, and the login session still lives: only
        // the absolute timeout refuses it.
        let (issued, seen) = times(&refused);
        assert_eq!(issued, signed_in_at);
        assert!(seen > issued, "the refused cookie was re-issued by use");
        assert!(used >= 2, "refused only after being used");
        assert_eq!(sessions(&s), 1);
        // A cookie with a forged sign-in time does not pass its MAC.
        let (head, mac) = refused.rsplit_once('.').unwrap();
        let (head, seen_s) = head.rsplit_once('.').unwrap();
        let (token, _) = head.rsplit_once('.').unwrap();
        let forged = format!("{token}.{seen}.{seen_s}.{mac}");
        let (status, location, _) = get(&s, "/ui/", Some(&forged), None);
        assert_eq!((status, location.as_str()), (303, "/ui/login"));
    }
}
