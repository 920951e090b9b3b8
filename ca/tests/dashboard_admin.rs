//! The dashboard's administration pieces against the real ward-ca (SQLite
//! and PostgreSQL), driven with curl as a browser would: the account
//! root's sign-in (`ward-ca root-password`, the same answers and
//! throttling as users', and a user named root never getting root's
//! session), and the roles, certificates and audit log pages (through the
//! API's handlers, denials explained, XSS payloads rendered inert).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod ui;

use common::Server;
use std::io::Write;
use std::process::{Command, Stdio};
use ui::{enc, servers, unescape, Page};

/// A dashboard request; POSTs carry this origin's Origin header.
fn web(s: &Server, method: &str, path: &str, cookie: Option<&str>, form: Option<&str>) -> Page {
    let origin = [("origin", s.endpoint.as_str())];
    let extra: &[(&str, &str)] = if method == "POST" { &origin } else { &[] };
    ui::web(s, method, path, cookie, form, extra)
}

const ROOT_PASSWORD: &str = "violet staple orbit 7 lantern";
const USER_PASSWORD: &str = "correct horse battery staple 42";

/// `ward-ca root-password` on the server's data directory (or its
/// configuration), the password on standard input.
fn set_root_password(s: &Server, password: &str) -> std::process::Output {
    let mut cmd = Command::new(common::WARD_CA);
    cmd.arg("root-password");
    let conf = s.dir.join("ca.toml");
    if conf.exists() {
        cmd.arg("--config").arg(conf);
    } else {
        cmd.arg("--data-dir").arg(s.data_dir());
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn sign_in_form(s: &Server, name: &str, password: &str) -> Page {
    web(
        s,
        "POST",
        "/ui/login",
        None,
        Some(&enc(&[("userName", name), ("password", password)])),
    )
}

/// Signs root in; the session cookie.
fn sign_in_root(s: &Server) -> String {
    let p = sign_in_form(s, "root", ROOT_PASSWORD);
    assert_eq!(p.status, 303, "{}", p.body);
    p.cookie().expect("no session cookie")
}

/// SQL on the server's database.
fn sql(s: &Server, q: &str) -> String {
    match &s.db_url {
        Some(url) => common::psql(url, q).trim().to_owned(),
        None => {
            let out = Command::new("sqlite3")
                .arg(s.data_dir().join("ward.db"))
                .arg(q)
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        }
    }
}

/// Audit events of `action` (oldest first) as the API lists them.
fn audit(s: &Server, action: &str) -> Vec<serde_json::Value> {
    let r = s.call(
        &s.root(),
        "GET",
        &format!(
            "/v1/audit/events?action={}&limit=1000",
            action.replace(':', "%3A")
        ),
        None,
    );
    r.ok()["events"].as_array().cloned().unwrap_or_default()
}

#[test]
fn root_signs_in_with_the_password_set_on_the_server_and_is_the_root_caller() {
    for s in servers() {
        // No password yet: refused exactly as a wrong password is.
        let p = sign_in_form(&s, "root", ROOT_PASSWORD);
        assert_eq!(p.status, 401, "{}", p.body);
        assert!(p.body.contains("wrong user name or password"), "{}", p.body);
        assert!(p.cookie().is_none());
        let p = sign_in_form(&s, "nobody-at-all", ROOT_PASSWORD);
        assert_eq!(p.status, 401);
        assert!(p.body.contains("wrong user name or password"));

        // A weak password is refused by the users' rules; nothing is set.
        let out = set_root_password(&s, "short");
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("PasswordPolicyViolation"),
            "{out:?}"
        );
        assert_eq!(sql(&s, "SELECT COUNT(*) FROM root_login_profile"), "0");

        let out = set_root_password(&s, ROOT_PASSWORD);
        assert!(out.status.success(), "{out:?}");
        // Stored as an Argon2id hash, never the password.
        let stored = sql(&s, "SELECT password_hash FROM root_login_profile");
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(!stored.contains(ROOT_PASSWORD));
        let set = audit(&s, "ward:SetRootPassword");
        assert_eq!(set.len(), 1, "{set:?}");

        // Any case of the name is root; the session is the root caller.
        for (name, made) in [("root", "made-first"), ("ROOT", "made-second")] {
            let p = sign_in_form(&s, name, ROOT_PASSWORD);
            assert_eq!(p.status, 303, "{}", p.body);
            let cookie = p.cookie().unwrap();
            let home = web(&s, "GET", "/ui/", Some(&cookie), None);
            assert_eq!(home.status, 200);
            let arn = format!("arn:ward:iam::{}:root", s.account);
            assert!(home.body.contains(&arn), "{}", home.body);
            assert!(home.body.contains("Signed in as <strong>root</strong>"));
            // Everything is allowed: root creates a user from the page.
            let csrf = web(&s, "GET", "/ui/users", Some(&cookie), None).csrf();
            let u = made.to_owned();
            let p = web(
                &s,
                "POST",
                "/ui/users",
                Some(&cookie),
                Some(&enc(&[("name", &u), ("csrf", &csrf)])),
            );
            assert_eq!(p.status, 303, "{}", p.body);
            assert_eq!(
                s.call(&s.root(), "GET", &format!("/v1/users/{u}"), None)
                    .status,
                200
            );
            // Sign-out ends the session: the cookie is refused after it.
            let p = web(
                &s,
                "POST",
                "/ui/logout",
                Some(&cookie),
                Some(&enc(&[("csrf", &csrf)])),
            );
            assert_eq!(p.status, 303, "{}", p.body);
            let p = web(&s, "GET", "/ui/", Some(&cookie), None);
            assert_eq!(p.header("location"), Some("/ui/login"));
        }
        assert_eq!(sql(&s, "SELECT COUNT(*) FROM root_sessions"), "0");
        let logins = audit(&s, "ward:PasswordLogin");
        let allowed = logins
            .iter()
            .filter(|e| {
                e["decision"] == "Allowed" && e["principal"].as_str().unwrap().ends_with(":root")
            })
            .count();
        assert_eq!(allowed, 2, "{logins:?}");

        // A new password ends every root session at once.
        let cookie = sign_in_root(&s);
        assert_eq!(web(&s, "GET", "/ui/", Some(&cookie), None).status, 200);
        let out = set_root_password(&s, "another violet staple 8 orbit");
        assert!(out.status.success(), "{out:?}");
        let p = web(&s, "GET", "/ui/", Some(&cookie), None);
        assert_eq!(p.header("location"), Some("/ui/login"));
        let p = sign_in_form(&s, "root", ROOT_PASSWORD);
        assert_eq!(p.status, 401);
    }
}

#[test]
fn wrong_root_passwords_are_refused_and_throttled_like_users() {
    for s in servers() {
        assert!(set_root_password(&s, ROOT_PASSWORD).status.success());
        // The default policy locks after 5 failures in the window.
        for i in 0..5 {
            let p = sign_in_form(&s, "root", &format!("wrong password {i}"));
            assert_eq!(p.status, 401, "attempt {i}: {}", p.body);
            assert!(p.body.contains("wrong user name or password"));
            assert!(p.cookie().is_none());
        }
        // Locked: even the right password is refused now, with Retry-After,
        // and no session is opened.
        let p = sign_in_form(&s, "root", ROOT_PASSWORD);
        assert_eq!(p.status, 429, "{}", p.body);
        assert!(p.header("retry-after").is_some());
        assert!(p.cookie().is_none());
        assert_eq!(sql(&s, "SELECT COUNT(*) FROM root_sessions"), "0");
        let failed = audit(&s, "ward:PasswordLogin")
            .into_iter()
            .filter(|e| e["decision"] == "Failed")
            .count();
        assert_eq!(failed, 5);
        // Root's lock is root's own: a user still signs in (from the same
        // source, whose own limit is four times higher).
        let root = s.root();
        common::user_with_policy(
            &s,
            &root,
            "alice",
            r#"{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}"#,
        );
        s.call(
            &root,
            "PUT",
            "/v1/users/alice/login-profile",
            Some(&serde_json::json!({"password": USER_PASSWORD}).to_string()),
        )
        .ok();
        let p = sign_in_form(&s, "alice", USER_PASSWORD);
        assert_eq!(p.status, 303, "{}", p.body);
    }
}

#[test]
fn an_iam_user_named_root_never_gets_roots_session() {
    for s in servers() {
        let root = s.root();
        // The user namespace cannot hold a user called root, in any case,
        // by creation or by rename.
        for name in ["root", "ROOT", "Root"] {
            let r = s.call(
                &root,
                "POST",
                "/v1/users",
                Some(&serde_json::json!({"name": name}).to_string()),
            );
            r.err(400, "ValidationError");
            assert_eq!(r.field(), "name");
        }
        s.call(&root, "POST", "/v1/users", Some(r#"{"name":"mallory"}"#))
            .ok();
        let r = s.call(
            &root,
            "PATCH",
            "/v1/users/mallory",
            Some(r#"{"newName":"rOOt"}"#),
        );
        r.err(400, "ValidationError");
        assert_eq!(r.field(), "newName");

        // A user called root left from before the rule (renamed in the
        // database here), with a password of its own: signing in as root
        // with it is refused, with and without a root password set.
        s.call(
            &root,
            "PUT",
            "/v1/users/mallory/login-profile",
            Some(&serde_json::json!({"password": USER_PASSWORD}).to_string()),
        )
        .ok();
        sql(
            &s,
            "UPDATE users SET name = 'root', name_lc = 'root' WHERE name = 'mallory'",
        );
        let p = sign_in_form(&s, "root", USER_PASSWORD);
        assert_eq!(p.status, 401, "{}", p.body);
        assert!(p.cookie().is_none());
        assert!(set_root_password(&s, ROOT_PASSWORD).status.success());
        let p = sign_in_form(&s, "root", USER_PASSWORD);
        assert_eq!(p.status, 401, "{}", p.body);
        assert!(p.cookie().is_none());
        // The API login with that name is the user's, never root's.
        let login = serde_json::json!({"userName": "root", "password": USER_PASSWORD}).to_string();
        let r = s.raw("POST", "/v1/login", &[], Some(login.as_bytes()));
        let creds = common::creds_of(r.ok());
        let who = s.call(&creds, "GET", "/v1/whoami", None);
        let arn = who.ok()["arn"].as_str().unwrap().to_owned();
        assert!(arn.ends_with(":user/root"), "{arn}");
        // Root's own password opens root's session.
        let cookie = sign_in_root(&s);
        let home = web(&s, "GET", "/ui/", Some(&cookie), None);
        assert!(
            home.body
                .contains(&format!("arn:ward:iam::{}:root<", s.account)),
            "{}",
            home.body
        );
    }
}

/// A user with `statements` as an inline policy and a password, signed in.
fn user_session(s: &Server, name: &str, statements: &str) -> String {
    let root = s.root();
    common::user_with_policy(s, &root, name, statements);
    s.call(
        &root,
        "PUT",
        &format!("/v1/users/{name}/login-profile"),
        Some(&serde_json::json!({"password": USER_PASSWORD}).to_string()),
    )
    .ok();
    let p = sign_in_form(s, name, USER_PASSWORD);
    assert_eq!(p.status, 303, "{}", p.body);
    p.cookie().unwrap()
}

/// The page has none of `payloads` as markup, and shows each as text.
fn inert(body: &str, payloads: &[&str]) {
    for x in payloads {
        assert!(!body.contains(x), "raw payload {x:?} in:\n{body}");
        let escaped = x
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        assert!(
            body.contains(&escaped) || unescape(body).contains(x),
            "payload {x:?} not shown as text"
        );
    }
}

#[test]
fn the_roles_page_lists_creates_shows_updates_revokes_and_explains_a_delete_conflict() {
    for s in servers() {
        assert!(set_root_password(&s, ROOT_PASSWORD).status.success());
        let cookie = sign_in_root(&s);
        let list = web(&s, "GET", "/ui/roles", Some(&cookie), None);
        assert_eq!(list.status, 200);
        assert!(
            list.body.contains("data-validate=\"trust\""),
            "{}",
            list.body
        );
        let csrf = list.csrf();

        // The live validator, as a trust policy: each problem by its path.
        let bad = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Maybe","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}"#;
        let p = web(
            &s,
            "POST",
            "/ui/api/validate-policy",
            Some(&cookie),
            Some(&enc(&[
                ("csrf", &csrf),
                ("kind", "trust"),
                ("document", bad),
            ])),
        );
        let v: serde_json::Value = serde_json::from_str(&p.body).unwrap();
        assert_eq!(v["valid"], false, "{v}");
        assert!(
            v["problems"][0]["path"]
                .as_str()
                .unwrap()
                .contains("Statement[0].Effect"),
            "{v}"
        );

        // Role names and tag values are restricted by the API (no '<'):
        // the payloads go where free text is allowed.
        let xss_desc = "<img src=x onerror=alert(1)>";
        let xss_cond = "\"><script>alert(3)</script>";
        let trust = serde_json::json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:ward:iam::{}:root", s.account)},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"ward:PrincipalTag/team": xss_cond}}}]})
        .to_string();
        let p = web(
            &s,
            "POST",
            "/ui/roles",
            Some(&cookie),
            Some(&enc(&[
                ("csrf", &csrf),
                ("name", "deployer"),
                ("description", xss_desc),
                ("maxSessionDuration", "7200"),
                ("tags", "team=web"),
                ("document", &trust),
            ])),
        );
        assert_eq!(p.status, 303, "{}", p.body);
        assert_eq!(p.header("location"), Some("/ui/roles/deployer"));
        let role = s
            .call(&s.root(), "GET", "/v1/roles/deployer", None)
            .ok()
            .clone();
        assert_eq!(role["maxSessionDuration"], 7200);
        assert_eq!(role["description"], xss_desc);

        let page = web(&s, "GET", "/ui/roles/deployer", Some(&cookie), None);
        assert_eq!(page.status, 200);
        inert(&page.body, &[xss_desc, "<script>alert(3)</script>"]);
        assert!(page.body.contains("7200 seconds"));
        assert!(
            page.body.contains("<code>team</code> = web"),
            "{}",
            page.body
        );
        let list = web(&s, "GET", "/ui/roles", Some(&cookie), None);
        assert!(list.body.contains("href=\"/ui/roles/deployer\""));
        inert(&list.body, &[xss_desc]);

        // A name that is no role name: the handler's refusal, escaped.
        let p = web(
            &s,
            "POST",
            "/ui/roles",
            Some(&cookie),
            Some(&enc(&[
                ("csrf", &csrf),
                ("name", "<b>x"),
                ("document", &trust),
            ])),
        );
        assert_eq!(p.status, 400, "{}", p.body);
        assert!(!p.body.contains("<b>x"));
        assert!(p.body.contains("Field: <code>name</code>"), "{}", p.body);

        // Maximum session: out of range refused naming the field; in range kept.
        let upd = |max: &str| {
            web(
                &s,
                "POST",
                "/ui/roles/deployer/update",
                Some(&cookie),
                Some(&enc(&[
                    ("csrf", &csrf),
                    ("description", "deploys"),
                    ("maxSessionDuration", max),
                ])),
            )
        };
        let p = upd("99");
        assert_eq!(p.status, 400, "{}", p.body);
        assert!(p.body.contains("maxSessionDuration"), "{}", p.body);
        assert_eq!(upd("10800").status, 303);
        let role = s
            .call(&s.root(), "GET", "/v1/roles/deployer", None)
            .ok()
            .clone();
        assert_eq!(
            (
                role["maxSessionDuration"].as_i64(),
                role["description"].as_str()
            ),
            (Some(10800), Some("deploys"))
        );

        // Revoke sessions: the role gets its revocation deny.
        let p = web(
            &s,
            "POST",
            "/ui/roles/deployer/revoke-sessions",
            Some(&cookie),
            Some(&enc(&[("csrf", &csrf)])),
        );
        assert_eq!(p.status, 303, "{}", p.body);
        let inline = s
            .call(&s.root(), "GET", "/v1/roles/deployer/policies", None)
            .ok()
            .clone();
        assert_eq!(
            inline["policyNames"],
            serde_json::json!(["AWSRevokeOlderSessions"])
        );
        let page = web(&s, "GET", "/ui/roles/deployer", Some(&cookie), None);
        assert!(page.body.contains("AWSRevokeOlderSessions"));

        // Delete while it has policies: refused, the conflict explained,
        // the role still there.
        let p = web(
            &s,
            "POST",
            "/ui/roles/deployer/delete",
            Some(&cookie),
            Some(&enc(&[("csrf", &csrf)])),
        );
        assert_eq!(p.status, 409, "{}", p.body);
        assert!(p.body.contains("DeleteConflict"), "{}", p.body);
        assert_eq!(
            s.call(&s.root(), "GET", "/v1/roles/deployer", None).status,
            200
        );
        s.call(
            &s.root(),
            "DELETE",
            "/v1/roles/deployer/policies/AWSRevokeOlderSessions",
            None,
        );
        let p = web(
            &s,
            "POST",
            "/ui/roles/deployer/delete",
            Some(&cookie),
            Some(&enc(&[("csrf", &csrf)])),
        );
        assert_eq!(p.status, 303, "{}", p.body);
        assert_eq!(
            s.call(&s.root(), "GET", "/v1/roles/deployer", None).status,
            404
        );

        // Without the CSRF token nothing is written.
        let p = web(
            &s,
            "POST",
            "/ui/roles",
            Some(&cookie),
            Some(&enc(&[("name", "sneaky"), ("document", &trust)])),
        );
        assert_eq!(p.status, 403);
        assert_eq!(
            s.call(&s.root(), "GET", "/v1/roles/sneaky", None).status,
            404
        );

        // A user without iam:ListRoles sees the denial explained.
        let alice = user_session(
            &s,
            "alice",
            r#"{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}"#,
        );
        let p = web(&s, "GET", "/ui/roles", Some(&alice), None);
        assert_eq!(p.status, 403, "{}", p.body);
        assert!(p.body.contains("iam:ListRoles"), "{}", p.body);
    }
}

#[test]
fn the_certificates_page_filters_by_state_and_user_and_revokes_with_csrf_and_audit() {
    for s in servers() {
        assert!(set_root_password(&s, ROOT_PASSWORD).status.success());
        let cookie = sign_in_root(&s);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        // Inventory rows as issuance writes them (the key ids carry
        // markup: a key id is the requester's text in general).
        let row = |serial: &str, kind: &str, subject: &str, after: i64, before: i64| {
            sql(
                &s,
                &format!(
                    "INSERT INTO certificates (serial, kind, user_id, subject, key_fingerprint, ca_key_id, principals, valid_after, valid_before, issued_at) \
                     VALUES ('{serial}', '{kind}', NULL, '{subject}', 'fp', 'k', '[\"alice\",\"<i>p</i>\"]', {after}, {before}, {after})"
                ),
            );
        };
        row(
            "1001",
            "ssh-user",
            "<script>alert(4)</script>",
            now - 60,
            now + 3600,
        );
        row("1002", "ssh-user", "old-key", now - 7200, now - 3600);
        row(
            "0a0b0c",
            "x509-client",
            "CN=<svg onload=alert(5)>",
            now - 30,
            now + 3600,
        );

        let all = web(&s, "GET", "/ui/certificates", Some(&cookie), None);
        assert_eq!(all.status, 200);
        inert(
            &all.body,
            &[
                "<script>alert(4)</script>",
                "<svg onload=alert(5)>",
                "<i>p</i>",
            ],
        );
        for serial in ["1001", "1002", "0a0b0c"] {
            assert!(
                all.body.contains(&format!("<code>{serial}</code>")),
                "{serial}"
            );
        }
        let valid = web(
            &s,
            "GET",
            "/ui/certificates?state=valid",
            Some(&cookie),
            None,
        );
        assert!(
            valid.body.contains("<code>1001</code>") && valid.body.contains("<code>0a0b0c</code>")
        );
        assert!(!valid.body.contains("<code>1002</code>"));
        let expired = web(
            &s,
            "GET",
            "/ui/certificates?state=expired",
            Some(&cookie),
            None,
        );
        assert!(expired.body.contains("<code>1002</code>"));
        assert!(!expired.body.contains("<code>1001</code>"));
        let x509 = web(
            &s,
            "GET",
            "/ui/certificates?kind=x509-client",
            Some(&cookie),
            None,
        );
        assert!(
            x509.body.contains("<code>0a0b0c</code>") && !x509.body.contains("<code>1001</code>")
        );
        // By user: an unknown user is the API's 404, explained.
        let p = web(
            &s,
            "GET",
            "/ui/certificates?user=nobody",
            Some(&cookie),
            None,
        );
        assert_eq!(p.status, 404, "{}", p.body);

        // Revoke: without the CSRF token refused, nothing revoked.
        let p = web(
            &s,
            "POST",
            "/ui/certificates/1001/revoke",
            Some(&cookie),
            Some(""),
        );
        assert_eq!(p.status, 403);
        assert_eq!(
            sql(
                &s,
                "SELECT COUNT(*) FROM certificates WHERE revoked_at IS NOT NULL"
            ),
            "0"
        );
        let csrf = all.csrf();
        let p = web(
            &s,
            "POST",
            "/ui/certificates/1001/revoke",
            Some(&cookie),
            Some(&enc(&[("csrf", &csrf)])),
        );
        assert_eq!(p.status, 303, "{}", p.body);
        let revoked = web(
            &s,
            "GET",
            "/ui/certificates?state=revoked",
            Some(&cookie),
            None,
        );
        assert!(revoked.body.contains("<code>1001</code>"));
        assert!(!revoked.body.contains("<code>0a0b0c</code>"));
        let ev = audit(&s, "ca:RevokeCertificate");
        assert_eq!(ev.len(), 1, "{ev:?}");
        assert_eq!(ev[0]["detail"]["serials"], serde_json::json!(["1001"]));

        // A user without ca:RevokeCertificate: the denial explained, the
        // certificate not revoked.
        let bob = user_session(
            &s,
            "bob",
            r#"{"Effect":"Allow","Action":"ca:ListCertificates","Resource":"*"}"#,
        );
        let page = web(&s, "GET", "/ui/certificates", Some(&bob), None);
        assert_eq!(page.status, 200);
        let p = web(
            &s,
            "POST",
            "/ui/certificates/1002/revoke",
            Some(&bob),
            Some(&enc(&[("csrf", &page.csrf())])),
        );
        assert_eq!(p.status, 403, "{}", p.body);
        assert!(p.body.contains("ca:RevokeCertificate"), "{}", p.body);
        assert_eq!(
            sql(
                &s,
                "SELECT COUNT(*) FROM certificates WHERE revoked_at IS NOT NULL"
            ),
            "1"
        );
    }
}

#[test]
fn the_audit_page_filters_pages_verifies_the_chain_and_shows_the_checkpoint() {
    for s in servers() {
        assert!(set_root_password(&s, ROOT_PASSWORD).status.success());
        let cookie = sign_in_root(&s);
        let root = s.root();
        for i in 0..3 {
            s.call(
                &root,
                "POST",
                "/v1/users",
                Some(&format!(r#"{{"name":"u{i}"}}"#)),
            )
            .ok();
        }
        // A failed sign-in, for the outcome filter.
        assert_eq!(sign_in_form(&s, "root", "not the password").status, 401);

        let p = web(
            &s,
            "GET",
            "/ui/audit?action=iam%3ACreateUser",
            Some(&cookie),
            None,
        );
        assert_eq!(p.status, 200);
        assert_eq!(
            p.body.matches("<code>iam:CreateUser</code>").count(),
            3,
            "{}",
            p.body
        );
        assert!(!p.body.contains("<code>ward:PasswordLogin</code>"));
        // The latest checkpoint is shown; the chain is verified on demand.
        assert!(p.body.contains("Latest checkpoint"), "{}", p.body);
        assert!(!p.body.contains("id=\"chain-status\""));
        let v = web(&s, "GET", "/ui/audit?verify=1", Some(&cookie), None);
        assert!(v.body.contains("Chain intact"), "{}", v.body);

        // Outcome: only the failed sign-in.
        let p = web(
            &s,
            "GET",
            "/ui/audit?action=ward%3APasswordLogin&outcome=Failed",
            Some(&cookie),
            None,
        );
        assert_eq!(
            p.body.matches("<code>ward:PasswordLogin</code>").count(),
            1,
            "{}",
            p.body
        );
        // Time range: nothing after the far future.
        let p = web(
            &s,
            "GET",
            "/ui/audit?since=2999-01-01T00%3A00%3A00Z",
            Some(&cookie),
            None,
        );
        assert_eq!(p.status, 200);
        assert!(!p.body.contains("<code>iam:CreateUser</code>"));
        // A bad time: the API's refusal naming the field.
        let p = web(&s, "GET", "/ui/audit?since=yesterday", Some(&cookie), None);
        assert!(p.body.contains("Field: <code>since</code>"), "{}", p.body);

        // Paging: 50 a page, the next page continues after the last seq.
        for i in 3..60 {
            s.call(
                &root,
                "POST",
                "/v1/users",
                Some(&format!(r#"{{"name":"u{i}"}}"#)),
            )
            .ok();
        }
        let p1 = web(
            &s,
            "GET",
            "/ui/audit?action=iam%3ACreateUser",
            Some(&cookie),
            None,
        );
        assert_eq!(p1.body.matches("<code>iam:CreateUser</code>").count(), 50);
        let i = p1
            .body
            .find("rel=\"next\" href=\"")
            .expect("no next page link");
        let rest = &p1.body[i + 17..];
        let next = unescape(&rest[..rest.find('"').unwrap()]);
        let p2 = web(&s, "GET", &next, Some(&cookie), None);
        assert_eq!(
            p2.body.matches("<code>iam:CreateUser</code>").count(),
            10,
            "{next}"
        );

        // Filter values are reflected inert.
        let x = "\"><script>alert(6)</script>";
        let p = web(
            &s,
            "GET",
            &format!(
                "/ui/audit?principal={}",
                enc(&[("", x)]).trim_start_matches('=')
            ),
            Some(&cookie),
            None,
        );
        inert(&p.body, &["<script>alert(6)</script>"]);

        // A user without audit:ListEvents sees the denial explained.
        let carol = user_session(
            &s,
            "carol",
            r#"{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}"#,
        );
        let p = web(&s, "GET", "/ui/audit", Some(&carol), None);
        assert!(p.body.contains("audit:ListEvents"), "{}", p.body);
    }
}

/// Root sees its open sessions (signed in, last seen, source, browser) and
/// ends every other one: the other's cookie is refused at once, the end is
/// audited, and no one else — not even a user allowed `*` — may list or
/// end root's sessions.
#[test]
fn root_sees_its_sessions_and_signs_out_everywhere_else() {
    for s in servers() {
        let out = set_root_password(&s, ROOT_PASSWORD);
        assert!(out.status.success(), "{out:?}");
        let a = sign_in_root(&s);
        let b = sign_in_root(&s);
        assert_eq!(web(&s, "GET", "/ui/", Some(&b), None).status, 200);
        let listed = |s: &Server| -> Vec<serde_json::Value> {
            s.call(&s.root(), "GET", "/v1/root/sessions", None).ok()["sessions"]
                .as_array()
                .cloned()
                .unwrap()
        };
        let sessions = listed(&s);
        assert_eq!(sessions.len(), 2, "{sessions:?}");
        for x in &sessions {
            assert_eq!(x["sourceIp"], "127.0.0.1", "{x}");
            assert!(x["userAgent"].as_str().unwrap().starts_with("curl/"), "{x}");
            assert!(x["created"].as_str().is_some() && x["lastSeen"].as_str().is_some());
            // Signed with root's access key, not a session: none is current.
            assert_eq!(x["current"], false, "{x}");
        }
        let ids: Vec<String> = sessions
            .iter()
            .map(|x| x["id"].as_str().unwrap().to_owned())
            .collect();
        // The page: both sessions, this one marked, the browser shown.
        // Both were created in the same second, so the listing's order
        // does not say which is a's: the mark does, and signing out the
        // others below keeps exactly the marked one (checked there).
        let p = web(&s, "GET", "/ui/sessions", Some(&a), None);
        assert_eq!(p.status, 200, "{}", p.body);
        assert!(
            ids.iter().all(|id| p.body.contains(id.as_str())),
            "{}",
            p.body
        );
        assert_eq!(p.body.matches("(this session)").count(), 1, "{}", p.body);
        let marked: Vec<&String> = ids
            .iter()
            .filter(|id| p.body.contains(&format!("{id}</code> <strong")))
            .collect();
        assert_eq!(marked.len(), 1, "{}", p.body);
        let a_id = marked[0].clone();
        let b_id = ids.iter().find(|id| **id != a_id).unwrap().clone();
        assert!(p.body.contains("curl/"), "{}", p.body);
        assert!(p.body.contains("Sign out everywhere else"), "{}", p.body);
        let csrf = p.csrf();

        // Without the CSRF token: refused, nothing ended.
        let p = web(
            &s,
            "POST",
            "/ui/sessions",
            Some(&a),
            Some(&enc(&[("op", "sign-out-others")])),
        );
        assert_eq!(p.status, 403, "{}", p.body);
        assert_eq!(listed(&s).len(), 2);

        // No one else may see or end root's sessions, whatever its policy.
        let admin = common::user_with_policy(
            &s,
            &s.root(),
            "admin",
            r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#,
        );
        let r = s.call(&admin, "GET", "/v1/root/sessions", None);
        assert_eq!(r.status, 403, "{}", r.body);
        assert!(
            r.body.to_string().contains("only the account root"),
            "{}",
            r.body
        );
        let r = s.call(&admin, "POST", "/v1/root/sessions/sign-out-others", None);
        assert_eq!(r.status, 403, "{}", r.body);
        assert_eq!(listed(&s).len(), 2);
        let denied = audit(&s, "ward:SignOutOtherRootSessions");
        assert_eq!(denied.len(), 1, "{denied:?}");
        assert_eq!(denied[0]["decision"], "ExplicitlyDenied", "{denied:?}");

        // Sign out everywhere else: b's cookie is refused, a's still works.
        let p = web(
            &s,
            "POST",
            "/ui/sessions",
            Some(&a),
            Some(&enc(&[("op", "sign-out-others"), ("csrf", &csrf)])),
        );
        assert_eq!(p.status, 200, "{}", p.body);
        assert!(p.body.contains("1 session(s) ended"), "{}", p.body);
        assert!(p.body.contains("No other session is open"), "{}", p.body);
        let p = web(&s, "GET", "/ui/", Some(&b), None);
        assert_eq!(
            (p.status, p.header("location")),
            (303, Some("/ui/login")),
            "{}",
            p.body
        );
        assert_eq!(web(&s, "GET", "/ui/", Some(&a), None).status, 200);
        let left = listed(&s);
        assert_eq!(left.len(), 1, "{left:?}");
        assert_eq!(left[0]["id"], a_id.as_str());
        let ended = audit(&s, "ward:SignOutOtherRootSessions");
        assert_eq!(ended.len(), 2, "{ended:?}");
        assert_eq!(ended[1]["decision"], "Allowed", "{ended:?}");
        assert_eq!(
            ended[1]["detail"]["sessionsEnded"],
            serde_json::json!([b_id])
        );
        assert_eq!(ended[1]["detail"]["kept"], a_id.as_str());
    }
}
