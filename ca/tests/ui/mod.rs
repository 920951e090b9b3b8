//! The dashboard tests' browser: one HTTP exchange with curl as a browser
//! makes it (cookie, form posts, extra headers such as Origin), the page's
//! cookie and CSRF token, form encoding, and users who sign in with a
//! password.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common::{self, Db, Server};
use std::io::Write;
use std::process::{Command, Stdio};

/// One HTTP exchange as a browser sees it.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Page {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The session cookie this response set (`NAME=VALUE`), if any.
    pub fn cookie(&self) -> Option<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, v)| v.split(';').next().unwrap_or("").to_owned())
            .find(|c| c.starts_with("__Host-ward-session=") && c.len() > 21)
    }

    /// The CSRF token of the first form on the page.
    pub fn csrf(&self) -> String {
        let i = self
            .body
            .find("name=\"csrf\" value=\"")
            .expect("no csrf field");
        let rest = &self.body[i + 19..];
        rest[..rest.find('"').unwrap()].to_owned()
    }
}

/// A request to the dashboard: `form` is urlencoded; `cookie` is sent as
/// is; `origin` as the Origin header.
pub fn web(
    s: &Server,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: Option<&str>,
    extra: &[(&str, &str)],
) -> Page {
    let mut args: Vec<String> = vec![
        "-sS".into(),
        "-i".into(),
        "--cacert".into(),
        s.bundle.display().to_string(),
        "-X".into(),
        method.into(),
    ];
    if let Some(c) = cookie {
        args.extend(["-H".into(), format!("cookie: {c}")]);
    }
    for (k, v) in extra {
        args.extend(["-H".into(), format!("{k}: {v}")]);
    }
    if form.is_some() {
        args.extend([
            "-H".into(),
            "content-type: application/x-www-form-urlencoded".into(),
            "--data-binary".into(),
            "@-".into(),
        ]);
    }
    args.push(format!("{}{path}", s.endpoint));
    let mut child = Command::new("curl")
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut si = child.stdin.take().unwrap();
        if let Some(f) = form {
            si.write_all(f.as_bytes()).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    assert!(status < 500, "{path}: {status}: {body}");
    Page {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// `k=v&…`, urlencoded.
pub fn enc(pairs: &[(&str, &str)]) -> String {
    let mut out = Vec::new();
    for (k, v) in pairs {
        let e = |x: &str| {
            x.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect::<String>()
        };
        out.push(format!("{}={}", e(k), e(v)));
    }
    out.join("&")
}

pub const PASSWORD: &str = "correct horse battery staple 42";

/// Creates user `name` with `statements` as an inline policy and a
/// password.
pub fn user_with_password(s: &Server, name: &str, statements: &str) {
    let root = s.root();
    common::user_with_policy(s, &root, name, statements);
    s.call(
        &root,
        "PUT",
        &format!("/v1/users/{name}/login-profile"),
        Some(&serde_json::json!({"password": PASSWORD}).to_string()),
    )
    .ok();
}

/// Signs in through the form; the session cookie.
pub fn sign_in(s: &Server, name: &str) -> String {
    let p = web(
        s,
        "POST",
        "/ui/login",
        None,
        Some(&enc(&[("userName", name), ("password", PASSWORD)])),
        &[],
    );
    assert_eq!(p.status, 303, "{}", p.body);
    p.cookie().expect("no session cookie")
}

pub const ADMIN: &str = r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#;

pub fn same_origin(s: &Server) -> (&'static str, &str) {
    ("origin", s.endpoint.as_str())
}

pub fn servers() -> Vec<Server> {
    [Db::Sqlite, Db::Postgres]
        .into_iter()
        .filter_map(Server::start)
        .collect()
}

/// `s` with HTML's five escapes undone (to read values back from a page).
pub fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}
