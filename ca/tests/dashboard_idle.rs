//! The dashboard's idle timeout, in a test binary of its own because it
//! sets `WARD_DASHBOARD_IDLE_SECONDS` for the ward-ca it starts (the
//! harness passes the test's environment on).
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

#[test]
fn a_cookie_left_idle_longer_than_the_idle_timeout_is_refused_though_its_session_lives() {
    // Long enough that the control below is never late on a loaded machine.
    std::env::set_var("WARD_DASHBOARD_IDLE_SECONDS", "15");
    for db in [Db::Sqlite, Db::Postgres] {
        let Some(s) = Server::start(db) else { continue };
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
        let sessions = s
            .call(&root, "GET", "/v1/users/admin/sessions", None)
            .ok()
            .clone();
        assert_eq!(sessions["sessions"].as_array().unwrap().len(), 1);
    }
}
