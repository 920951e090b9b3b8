//! The dashboard (`/ui/`) against the real ward-ca, driven with curl as a
//! browser would (cookie, form posts, Origin): sign-in and the cookie's
//! flags, security headers on every page, CSRF and cross-origin refusals
//! (with nothing written), sign-out revoking the session, denials shown
//! with their explanation, a new key's secret shown once, XSS payloads
//! rendered inert, live policy validation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod ui;

use common::Server;
use ui::*;

#[test]
fn sign_in_sets_a_strict_cookie_and_every_page_carries_the_security_headers() {
    for s in servers() {
        user_with_password(&s, "admin", ADMIN);
        // Not signed in: the sign-in page.
        let p = web(&s, "GET", "/ui/users", None, None, &[]);
        assert_eq!(p.status, 303);
        assert_eq!(p.header("location"), Some("/ui/login"));
        // `GET /` without Action is the dashboard's.
        let p = web(&s, "GET", "/", None, None, &[]);
        assert_eq!((p.status, p.header("location")), (303, Some("/ui/")));
        let p = web(&s, "GET", "/?Action=ListUsers", None, None, &[]);
        assert_ne!(p.status, 303, "a Query API request must not be redirected");

        // A wrong password: the form again, with the API's refusal.
        let p = web(
            &s,
            "POST",
            "/ui/login",
            None,
            Some(&enc(&[("userName", "admin"), ("password", "wrong")])),
            &[],
        );
        assert_eq!(p.status, 401);
        assert!(p.body.contains("wrong user name or password"), "{}", p.body);
        assert!(p.cookie().is_none());

        let p = web(
            &s,
            "POST",
            "/ui/login",
            None,
            Some(&enc(&[("userName", "admin"), ("password", PASSWORD)])),
            &[same_origin(&s)],
        );
        assert_eq!(p.status, 303, "{}", p.body);
        let set = p
            .headers
            .iter()
            .find(|(k, v)| k.eq_ignore_ascii_case("set-cookie") && v.contains("ward-session="))
            .map(|(_, v)| v.clone())
            .unwrap();
        for flag in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
            assert!(set.contains(flag), "{flag} missing: {set}");
        }
        assert!(set.starts_with("__Host-ward-session="), "{set}");
        let cookie = p.cookie().unwrap();
        // The cookie is an ordinary login session: listed by the API.
        let sessions = s
            .call(&s.root(), "GET", "/v1/users/admin/sessions", None)
            .ok()
            .clone();
        assert_eq!(sessions["sessions"].as_array().unwrap().len(), 1);

        for path in [
            "/ui/",
            "/ui/users",
            "/ui/users/admin",
            "/ui/groups",
            "/ui/policies",
            "/ui/simulate",
            "/ui/login",
            "/ui/users/nobody-here",
        ] {
            let p = web(&s, "GET", path, Some(&cookie), None, &[]);
            assert!(p.status == 200 || p.status == 404, "{path}: {}", p.status);
            let csp = p.header("content-security-policy").unwrap_or_default();
            assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
            assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
            assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
            assert_eq!(p.header("x-frame-options"), Some("DENY"), "{path}");
            assert_eq!(p.header("referrer-policy"), Some("no-referrer"), "{path}");
            assert_eq!(
                p.header("x-content-type-options"),
                Some("nosniff"),
                "{path}"
            );
            assert_eq!(p.header("cache-control"), Some("no-store"), "{path}");
            // No inline script or style anywhere.
            assert!(!p.body.contains("<script>"), "{path}");
            assert!(!p.body.contains(" style="), "{path}");
            assert!(!p.body.contains(" onclick="), "{path}");
        }
        let p = web(&s, "GET", "/ui/users", Some(&cookie), None, &[]);
        assert!(p.body.contains("href=\"/ui/users/admin\""), "{}", p.body);
        // A tampered cookie (its last-seen time moved) is refused.
        let (head, mac) = cookie.rsplit_once('.').unwrap();
        let (token, seen) = head.rsplit_once('.').unwrap();
        let forged = format!("{token}.{}.{mac}", seen.parse::<i64>().unwrap() + 100);
        let p = web(&s, "GET", "/ui/users", Some(&forged), None, &[]);
        assert_eq!(p.header("location"), Some("/ui/login"));
    }
}

#[test]
fn mutations_without_the_csrf_token_or_from_another_origin_are_refused_and_write_nothing() {
    for s in servers() {
        user_with_password(&s, "admin", ADMIN);
        let cookie = sign_in(&s, "admin");
        let csrf = web(&s, "GET", "/ui/users", Some(&cookie), None, &[]).csrf();
        let root = s.root();
        let exists = |name: &str| {
            s.call(&root, "GET", &format!("/v1/users/{name}"), None)
                .status
                == 200
        };
        // No token.
        let p = web(
            &s,
            "POST",
            "/ui/users",
            Some(&cookie),
            Some(&enc(&[("name", "mallory1")])),
            &[same_origin(&s)],
        );
        assert_eq!(p.status, 403, "{}", p.body);
        assert!(p.body.contains("InvalidCsrfToken"));
        // A wrong token (another session's would be as wrong).
        let p = web(
            &s,
            "POST",
            "/ui/users",
            Some(&cookie),
            Some(&enc(&[("name", "mallory2"), ("csrf", &"0".repeat(64))])),
            &[],
        );
        assert_eq!(p.status, 403);
        // The right token from another origin, or a cross-site fetch.
        let p = web(
            &s,
            "POST",
            "/ui/users",
            Some(&cookie),
            Some(&enc(&[("name", "mallory3"), ("csrf", &csrf)])),
            &[("origin", "https://evil.example")],
        );
        assert_eq!(p.status, 403);
        assert!(p.body.contains("CrossOriginRequest"));
        let p = web(
            &s,
            "POST",
            "/ui/users",
            Some(&cookie),
            Some(&enc(&[("name", "mallory4"), ("csrf", &csrf)])),
            &[("sec-fetch-site", "cross-site")],
        );
        assert_eq!(p.status, 403);
        // `Origin: null` (a sandboxed frame, a data: page) without
        // Sec-Fetch-Site, or with a cross-site one: refused.
        let p = web(
            &s,
            "POST",
            "/ui/users",
            Some(&cookie),
            Some(&enc(&[("name", "mallory5"), ("csrf", &csrf)])),
            &[("origin", "null")],
        );
        assert_eq!(p.status, 403);
        let p = web(
            &s,
            "POST",
            "/ui/users",
            Some(&cookie),
            Some(&enc(&[("name", "mallory6"), ("csrf", &csrf)])),
            &[("origin", "null"), ("sec-fetch-site", "same-site")],
        );
        assert_eq!(p.status, 403);
        // Sign-in from another origin is refused too (login CSRF).
        let p = web(
            &s,
            "POST",
            "/ui/login",
            None,
            Some(&enc(&[("userName", "admin"), ("password", PASSWORD)])),
            &[("origin", "https://evil.example")],
        );
        assert_eq!(p.status, 403);
        assert!(p.cookie().is_none());
        for n in [
            "mallory1", "mallory2", "mallory3", "mallory4", "mallory5", "mallory6",
        ] {
            assert!(!exists(n), "{n} was created");
        }
        // The control: the same request, right token and origin, works.
        let p = web(
            &s,
            "POST",
            "/ui/users",
            Some(&cookie),
            Some(&enc(&[("name", "carol"), ("csrf", &csrf)])),
            &[same_origin(&s), ("sec-fetch-site", "same-origin")],
        );
        assert_eq!(p.status, 303, "{}", p.body);
        assert_eq!(p.header("location"), Some("/ui/users/carol"));
        assert!(exists("carol"));
        // What Chrome sends for a same-origin form post under
        // Referrer-Policy: no-referrer: accepted.
        let p = web(
            &s,
            "POST",
            "/ui/users",
            Some(&cookie),
            Some(&enc(&[("name", "dave"), ("csrf", &csrf)])),
            &[("origin", "null"), ("sec-fetch-site", "same-origin")],
        );
        assert_eq!(p.status, 303, "{}", p.body);
        assert!(exists("dave"));
    }
}

#[test]
fn sign_out_revokes_the_session_and_the_cookie_is_refused_after_it() {
    for s in servers() {
        user_with_password(&s, "admin", ADMIN);
        // alice may do nothing but sign in: sign-out must work anyway.
        user_with_password(
            &s,
            "alice",
            r#"{"Effect":"Deny","Action":"iam:RevokeSession","Resource":"*"}"#,
        );
        for name in ["admin", "alice"] {
            let cookie = sign_in(&s, name);
            let page = web(&s, "GET", "/ui/", Some(&cookie), None, &[]);
            assert_eq!(page.status, 200);
            let p = web(
                &s,
                "POST",
                "/ui/logout",
                Some(&cookie),
                Some(&enc(&[("csrf", &page.csrf())])),
                &[],
            );
            assert_eq!(p.status, 303, "{}", p.body);
            assert!(p
                .headers
                .iter()
                .any(|(k, v)| k.eq_ignore_ascii_case("set-cookie") && v.contains("Max-Age=0")));
            let p = web(&s, "GET", "/ui/", Some(&cookie), None, &[]);
            assert_eq!(p.header("location"), Some("/ui/login"), "{name}");
            let sessions = s
                .call(
                    &s.root(),
                    "GET",
                    &format!("/v1/users/{name}/sessions"),
                    None,
                )
                .ok()
                .clone();
            assert!(
                sessions["sessions"].as_array().unwrap().is_empty(),
                "{name}"
            );
        }
        // A session revoked through the API ends the cookie too.
        let cookie = sign_in(&s, "admin");
        assert_eq!(web(&s, "GET", "/ui/", Some(&cookie), None, &[]).status, 200);
        s.call(&s.root(), "DELETE", "/v1/users/admin/sessions", None)
            .ok();
        let p = web(&s, "GET", "/ui/", Some(&cookie), None, &[]);
        assert_eq!(p.header("location"), Some("/ui/login"));
    }
}

#[test]
fn a_denied_page_shows_the_explanation_and_a_new_key_secret_is_shown_once() {
    for s in servers() {
        user_with_password(&s, "admin", ADMIN);
        user_with_password(
            &s,
            "bob",
            r#"{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}"#,
        );
        let cookie = sign_in(&s, "bob");
        let p = web(&s, "GET", "/ui/users", Some(&cookie), None, &[]);
        assert_eq!(p.status, 403, "{}", p.body);
        assert!(p.body.contains("AccessDenied"), "{}", p.body);
        assert!(p.body.contains("iam:ListUsers"), "{}", p.body);
        // bob may see a user but not its keys: the section says why.
        let p = web(&s, "GET", "/ui/users/admin", Some(&cookie), None, &[]);
        assert_eq!(p.status, 200);
        assert!(p.body.contains("iam:ListAccessKeys"), "{}", p.body);

        let admin = sign_in(&s, "admin");
        let page = web(&s, "GET", "/ui/users/bob", Some(&admin), None, &[]);
        let p = web(
            &s,
            "POST",
            "/ui/users/bob/create-key",
            Some(&admin),
            Some(&enc(&[("csrf", &page.csrf())])),
            &[],
        );
        assert_eq!(p.status, 200, "{}", p.body);
        let marker = "id=\"new-key-secret\">";
        let i = p.body.find(marker).unwrap() + marker.len();
        let secret = &p.body[i..i + p.body[i..].find('<').unwrap()];
        assert_eq!(secret.len(), 40, "{secret}");
        let marker = "id=\"new-key-id\">";
        let i = p.body.find(marker).unwrap() + marker.len();
        let new_id = &p.body[i..i + p.body[i..].find('<').unwrap()];
        let keys = s
            .call(&s.root(), "GET", "/v1/users/bob/access-keys", None)
            .ok()
            .clone();
        assert!(keys["accessKeys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["accessKeyId"] == new_id));
        // The secret works (a signed call with it), and is never shown again.
        let creds = common::Creds {
            id: new_id.to_owned(),
            secret: secret.to_owned(),
            token: None,
        };
        s.call(&creds, "GET", "/v1/whoami", None).ok();
        let again = web(&s, "GET", "/ui/users/bob", Some(&admin), None, &[]);
        assert!(again.body.contains(new_id));
        assert!(!again.body.contains(secret));
        // Deactivate it from the page.
        let p = web(
            &s,
            "POST",
            &format!("/ui/users/bob/access-keys/{new_id}"),
            Some(&admin),
            Some(&enc(&[("csrf", &page.csrf()), ("status", "Inactive")])),
            &[],
        );
        assert_eq!(p.status, 303, "{}", p.body);
        assert_eq!(s.call(&creds, "GET", "/v1/whoami", None).status, 403);
    }
}

#[test]
fn xss_payloads_in_tags_descriptions_and_errors_are_rendered_inert() {
    for s in servers() {
        user_with_password(&s, "admin", ADMIN);
        let cookie = sign_in(&s, "admin");
        let csrf = web(&s, "GET", "/ui/users", Some(&cookie), None, &[]).csrf();
        let payload = r#"<script>alert(1)</script><img src=x onerror=alert(2)>"#;
        // Tag values are restricted by the API (no '<'): a plain tag, and
        // the payload where free text is allowed.
        let p = web(
            &s,
            "POST",
            "/ui/users",
            Some(&cookie),
            Some(&enc(&[
                ("name", "xss"),
                ("csrf", &csrf),
                ("tags", "note=plain"),
            ])),
            &[],
        );
        assert_eq!(p.status, 303, "{}", p.body);
        let doc = serde_json::json!({"Version":"2012-10-17","Statement":[{"Sid":"x","Effect":"Allow","Action":"iam:GetUser","Resource":"*",
            "Condition": {"StringEquals": {"ward:username": payload}}}]})
        .to_string();
        let p = web(
            &s,
            "POST",
            "/ui/policies",
            Some(&cookie),
            Some(&enc(&[
                ("name", "xsspol"),
                ("csrf", &csrf),
                ("description", payload),
                ("document", &doc),
            ])),
            &[],
        );
        assert_eq!(p.status, 303, "{}", p.body);
        // A name the API refuses comes back in its error message.
        let bad = web(
            &s,
            "POST",
            "/ui/users",
            Some(&cookie),
            Some(&enc(&[("name", payload), ("csrf", &csrf)])),
            &[],
        );
        assert_eq!(bad.status, 400, "{}", bad.body);
        for (what, page) in [
            (
                "policy list",
                web(&s, "GET", "/ui/policies", Some(&cookie), None, &[]),
            ),
            (
                "policy page",
                web(&s, "GET", "/ui/policies/xsspol", Some(&cookie), None, &[]),
            ),
            ("error page", bad),
        ] {
            assert!(
                !page.body.contains("<script>alert"),
                "{what}: {}",
                page.body
            );
            assert!(!page.body.contains("<img"), "{what}: {}", page.body);
            if what != "error page" {
                assert!(
                    page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
                    "{what}: {}",
                    page.body
                );
            }
        }
    }
}

#[test]
fn the_live_validator_names_each_problem_by_its_json_path() {
    for s in servers() {
        user_with_password(&s, "admin", ADMIN);
        let cookie = sign_in(&s, "admin");
        let csrf = web(&s, "GET", "/ui/policies", Some(&cookie), None, &[]).csrf();
        let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"},{"Effect":"Maybe","Action":"x","Resource":"*"}]}"#;
        let p = web(
            &s,
            "POST",
            "/ui/api/validate-policy",
            Some(&cookie),
            Some(&enc(&[
                ("csrf", &csrf),
                ("kind", "managed"),
                ("document", doc),
            ])),
            &[],
        );
        assert_eq!(p.status, 200, "{}", p.body);
        let v: serde_json::Value = serde_json::from_str(&p.body).unwrap();
        assert_eq!(v["valid"], false);
        let paths: Vec<&str> = v["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["path"].as_str().unwrap())
            .collect();
        assert!(paths.contains(&"$.Statement[1].Effect"), "{paths:?}");
        let good = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}]}"#;
        let p = web(
            &s,
            "POST",
            "/ui/api/validate-policy",
            Some(&cookie),
            Some(&enc(&[
                ("csrf", &csrf),
                ("kind", "managed"),
                ("document", good),
            ])),
            &[],
        );
        let v: serde_json::Value = serde_json::from_str(&p.body).unwrap();
        assert_eq!(v["valid"], true, "{v}");
        // Without the CSRF token: refused.
        let p = web(
            &s,
            "POST",
            "/ui/api/validate-policy",
            Some(&cookie),
            Some(&enc(&[("kind", "managed"), ("document", good)])),
            &[],
        );
        assert_eq!(p.status, 403);
    }
}

/// admin (everything), user dev with managed policy `devlogin` (host:Login
/// as `deploy` only), host web-01; admin's session cookie.
fn login_world(s: &Server) -> String {
    user_with_password(s, "admin", ADMIN);
    let root = s.root();
    s.call(&root, "POST", "/v1/users", Some(r#"{"name":"dev"}"#))
        .ok();
    let doc = serde_json::json!({"Version":"2012-10-17","Statement":[
        {"Sid":"ReadSelf","Effect":"Allow","Action":"iam:GetUser","Resource":"*"},
        {"Sid":"DeployOnly","Effect":"Allow","Action":"host:Login","Resource":"*",
         "Condition":{"StringEquals":{"host:Principal":"deploy"}}}]})
    .to_string();
    s.call(
        &root,
        "POST",
        "/v1/policies",
        Some(&serde_json::json!({"name": "devlogin", "document": doc}).to_string()),
    )
    .ok();
    s.call(
        &root,
        "PUT",
        "/v1/users/dev/attached-policies/devlogin",
        None,
    )
    .ok();
    s.call(&root, "POST", "/v1/hosts", Some(r#"{"name":"web-01"}"#))
        .ok();
    sign_in(s, "admin")
}

#[test]
fn the_simulator_explains_a_denial_and_highlights_the_statement_that_allows() {
    for s in servers() {
        let cookie = login_world(&s);
        let csrf = web(&s, "GET", "/ui/simulate", Some(&cookie), None, &[]).csrf();
        let host = format!("arn:ward:host::{}:host/web-01", s.account);
        let run = |account: &str| {
            web(
                &s,
                "POST",
                "/ui/simulate",
                Some(&cookie),
                Some(&enc(&[
                    ("csrf", &csrf),
                    ("user", "dev"),
                    ("actions", "host:Login"),
                    ("resources", &host),
                    ("context", &format!("host:Principal={account}")),
                ])),
                &[],
            )
        };
        let denied = run("root");
        assert_eq!(denied.status, 200, "{}", denied.body);
        assert!(denied.body.contains("ImplicitlyDenied"), "{}", denied.body);
        assert!(denied.body.contains("class=\"decision denied\""));
        assert!(!denied.body.contains("statement matched"));
        let allowed = run("deploy");
        assert!(
            allowed.body.contains("class=\"decision allowed\""),
            "{}",
            allowed.body
        );
        // Statement 1 of devlogin (DeployOnly) is highlighted, statement 0 not.
        let hit = allowed
            .body
            .find("matched: statement 1")
            .expect("no highlight");
        assert!(
            allowed.body[..hit].contains("DeployOnly")
                || allowed.body[hit..].contains("DeployOnly")
        );
        assert!(
            !allowed.body.contains("matched: statement 0"),
            "{}",
            allowed.body
        );
        assert_eq!(allowed.body.matches("statement matched").count(), 1);
    }
}

#[test]
fn the_access_map_shows_who_may_log_in_where_as_whom() {
    for s in servers() {
        let cookie = login_world(&s);
        let p = web(
            &s,
            "GET",
            "/ui/access?host=web-01&accounts=deploy%2Croot",
            Some(&cookie),
            None,
            &[],
        );
        assert_eq!(p.status, 200, "{}", p.body);
        // dev's row: own name denied, deploy allowed, root denied.
        let row = &p.body[p.body.find("?user=dev\"").unwrap()..];
        let row = &row[..row.find("</tr>").unwrap()];
        let cells: Vec<&str> = row
            .match_indices("<td class=\"")
            .map(|(i, _)| &row[i + 11..i + 14])
            .collect();
        assert_eq!(cells, ["no\"", "yes", "no\""], "{row}");
        // The matrix carries decisions only; a cell links to its
        // explanation, asked of the simulator when followed.
        assert!(!row.contains("DeployOnly"), "{row}");
        let at = row.find("<td class=\"yes\"><a href=\"").unwrap() + 25;
        let link = row[at..at + row[at..].find('"').unwrap()].replace("&amp;", "&");
        assert!(link.starts_with("/ui/access/cell?"), "{link}");
        let why = web(&s, "GET", &link, Some(&cookie), None, &[]);
        assert_eq!(why.status, 200, "{}", why.body);
        assert!(
            why.body.contains("class=\"decision allowed\""),
            "{}",
            why.body
        );
        assert!(why.body.contains("(DeployOnly) Allow"), "{}", why.body);
        // The old cell-by-cell path (the benchmark's baseline) decides the same.
        let classes = |body: &str| -> Vec<String> {
            body.match_indices("<td class=\"")
                .map(|(i, _)| body[i + 11..].split('"').next().unwrap().to_owned())
                .collect()
        };
        let old = web(
            &s,
            "GET",
            "/ui/access?host=web-01&accounts=deploy%2Croot&path=cells",
            Some(&cookie),
            None,
            &[],
        );
        assert_eq!(classes(&old.body), classes(&p.body));
        assert_eq!(classes(&p.body).len(), 6, "{}", p.body); // admin and dev × 3
                                                             // The user view agrees.
        let p = web(
            &s,
            "GET",
            "/ui/access?user=dev&accounts=deploy%2Croot",
            Some(&cookie),
            None,
            &[],
        );
        let row = &p.body[p.body.find("?host=web-01\"").unwrap()..];
        let row = &row[..row.find("</tr>").unwrap()];
        assert_eq!(row.matches("<td class=\"yes\"").count(), 1, "{row}");
        assert_eq!(row.matches("<td class=\"no\"").count(), 2, "{row}");
        // A change of policy is seen at once (the cache is per generation).
        s.call(
            &s.root(),
            "DELETE",
            "/v1/users/dev/attached-policies/devlogin",
            None,
        )
        .ok();
        let p = web(
            &s,
            "GET",
            "/ui/access?host=web-01&accounts=deploy%2Croot",
            Some(&cookie),
            None,
            &[],
        );
        let row = &p.body[p.body.find("?user=dev\"").unwrap()..];
        let row = &row[..row.find("</tr>").unwrap()];
        assert!(!row.contains("class=\"yes\""), "{row}");
        // A caller who may not simulate sees the denial explained.
        user_with_password(
            &s,
            "viewer",
            r#"{"Effect":"Allow","Action":["iam:ListUsers","iam:GetUser","host:GetHost","host:ListHosts"],"Resource":"*"}"#,
        );
        let v = sign_in(&s, "viewer");
        let p = web(&s, "GET", "/ui/access?host=web-01", Some(&v), None, &[]);
        assert!(p.body.contains("iam:SimulatePrincipalPolicy"), "{}", p.body);
        assert!(p.body.contains("not allowed to see"), "{}", p.body);
        assert!(!p.body.contains("class=\"yes\""));
        // Every user is still a row.
        assert!(p.body.contains("?user=dev\""), "{}", p.body);
    }
}
