//! POSIX identities and disabled users (issue #11 item 2) against the real
//! ward-ca on SQLite and PostgreSQL: one uid/gid counter shared by users
//! and groups, the POSIX view (only for portable Unix names, with the
//! configured defaults), hostile shell/home/gecos values, disabling that
//! stops every credential kind at once (access key, session token both
//! ways, X.509 client certificate, password login, issuance) and enabling
//! that restores them, who may disable whom, and the upgrade of a database
//! made before migration 0008 (colliding uids and gids).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use common::{creds_of, psql, Creds, Db, Response, Server};
use serde_json::{json, Value};

fn backends() -> Vec<Server> {
    [Db::Sqlite, Db::Postgres]
        .into_iter()
        .filter_map(Server::start)
        .collect()
}

fn create_user(s: &Server, name: &str) -> Response {
    s.call(
        &s.root(),
        "POST",
        "/v1/users",
        Some(&json!({ "name": name }).to_string()),
    )
}

fn create_group(s: &Server, name: &str) -> Value {
    s.call(
        &s.root(),
        "POST",
        "/v1/groups",
        Some(&json!({ "name": name }).to_string()),
    )
    .ok()
    .clone()
}

fn patch(s: &Server, name: &str, body: Value) -> Response {
    s.call(
        &s.root(),
        "PATCH",
        &format!("/v1/users/{name}"),
        Some(&body.to_string()),
    )
}

fn put_policy(s: &Server, user: &str, statements: &str) {
    let doc = format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#);
    s.call(
        &s.root(),
        "PUT",
        &format!("/v1/users/{user}/policies/p"),
        Some(&json!({ "document": doc }).to_string()),
    )
    .ok();
}

fn access_key(s: &Server, user: &str) -> Creds {
    creds_of(
        s.call(
            &s.root(),
            "POST",
            &format!("/v1/users/{user}/access-keys"),
            None,
        )
        .ok(),
    )
}

fn audit(s: &Server, action: &str) -> Vec<Value> {
    let path = format!(
        "/v1/audit/events?action={}&limit=1000",
        action.replace(':', "%3A")
    );
    s.call(&s.root(), "GET", &path, None).ok()["events"]
        .as_array()
        .unwrap()
        .clone()
}

/// Users and groups created interleaved never share an id: every uid,
/// every user-private gid (= uid) and every group gid name one entity.
#[test]
fn one_counter_for_uids_and_gids() {
    for s in backends() {
        let mut owner: BTreeMap<i64, String> = BTreeMap::new();
        let mut claim = |id: i64, who: String| {
            if let Some(prev) = owner.insert(id, who.clone()) {
                panic!("{:?}: id {id} names both {prev} and {who}", s.db);
            }
        };
        for i in 0..6 {
            let u = create_user(&s, &format!("u{i}")).ok().clone();
            let uid = u["uid"].as_i64().unwrap();
            assert_eq!(u["posix"]["uid"], uid, "{u}");
            assert_eq!(u["posix"]["gid"], uid, "user-private group: {u}");
            claim(uid, format!("user u{i}"));
            let g = create_group(&s, &format!("g{i}"));
            claim(g["gid"].as_i64().unwrap(), format!("group g{i}"));
        }
        // Deleting frees nothing: the next ids are new.
        s.call(&s.root(), "DELETE", "/v1/users/u5", None).ok();
        s.call(&s.root(), "DELETE", "/v1/groups/g5", None).ok();
        let max_before = *owner.keys().last().unwrap();
        let u = create_user(&s, "late").ok().clone();
        let g = create_group(&s, "late-group");
        assert!(u["uid"].as_i64().unwrap() > max_before, "{u}");
        assert!(
            g["gid"].as_i64().unwrap() > u["uid"].as_i64().unwrap(),
            "{g}"
        );
        assert!(owner.keys().all(|&id| (200_000..=299_999).contains(&id)));
    }
}

/// Portable names get a POSIX account with the configured defaults; any
/// other name gets none, and the create response says why.
#[test]
fn posix_view_only_for_portable_names() {
    for s in backends() {
        for name in ["alice", "_svc", "d.e-f_9", &"p".repeat(32)] {
            let u = create_user(&s, name).ok().clone();
            let p = &u["posix"];
            assert_eq!(p["home"], format!("/home/{name}"), "{u}");
            assert_eq!(p["shell"], "/bin/bash", "{u}");
            assert_eq!(p["gecos"], "", "{u}");
            assert_eq!(p["uid"], u["uid"], "{u}");
            assert!(u.get("warnings").is_none(), "{u}");
            assert_eq!(u["disabled"], false, "{u}");
        }
        let long = "q".repeat(33);
        for name in ["Upper", long.as_str(), "-x", "1234", "a,b", "a@b", "a+b"] {
            let u = create_user(&s, name).ok().clone();
            assert!(u["posix"].is_null(), "{name}: {u}");
            let w = u["warnings"][0].as_str().unwrap_or_default();
            assert!(w.contains("not a portable Unix name"), "{name}: {u}");
            // GET says the same.
            let got = s
                .call(&s.root(), "GET", &format!("/v1/users/{name}"), None)
                .ok()
                .clone();
            assert!(got["posix"].is_null(), "{got}");
        }
        // `%` is not an IAM name character at all.
        let r = create_user(&s, "a%b");
        r.err(400, "ValidationError");
        assert_eq!(r.field(), "name");
        // A rename decides again: the view follows the name.
        let r = patch(&s, "Upper", json!({"newName": "upper"}));
        assert_eq!(r.ok()["posix"]["home"], "/home/upper");
        let r = patch(&s, "alice", json!({"newName": "Alice"}));
        assert!(r.ok()["posix"].is_null());
    }
}

/// `[unix] home_template` and `default_shell` apply to users without their
/// own; shell, home and gecos are set per user, `""` restores the default,
/// and hostile values are refused naming the field, with nothing written.
#[test]
fn shell_home_gecos_and_hostile_values() {
    let s = Server::start_with(
        Db::Sqlite,
        "[unix]\nhome_template = \"/srv/home/{name}/\"\ndefault_shell = \"/bin/zsh\"",
    )
    .unwrap();
    let u = create_user(&s, "bob").ok().clone();
    assert_eq!(u["posix"]["home"], "/srv/home/bob");
    assert_eq!(u["posix"]["shell"], "/bin/zsh");

    let r = patch(
        &s,
        "bob",
        json!({"shell": "/bin/fish", "home": "//data/./bob/", "gecos": "Bob B,Room 1,,"}),
    );
    let p = r.ok()["posix"].clone();
    assert_eq!(
        (p["shell"].as_str(), p["home"].as_str(), p["gecos"].as_str()),
        (Some("/bin/fish"), Some("/data/bob"), Some("Bob B,Room 1,,"))
    );

    let long = format!("/{}", "s".repeat(255));
    let bad: &[(&str, &str)] = &[
        ("shell", "bash"),
        ("shell", "/bin/sh:0:0"),
        ("shell", "/bin/sh\nroot::0:0::/:/bin/sh"),
        ("shell", "/bin/\u{1b}[2J"),
        ("shell", &long),
        ("gecos", "x:0:0"),
        ("gecos", "a\nb"),
        ("gecos", "nul\u{0}"),
        ("gecos", &"g".repeat(256)),
        ("home", "relative/bob"),
        ("home", "/home/../etc"),
        ("home", "/home/bob:x"),
        ("home", "/home/\tbob"),
        ("home", &long),
    ];
    for (field, value) in bad {
        // With a rename in the same request: nothing may be half-written.
        let r = patch(&s, "bob", json!({ *field: value, "newName": "robert" }));
        r.err(400, "ValidationError");
        assert_eq!(r.field(), *field, "{field}={value:?}: {}", r.body);
    }
    let got = s.call(&s.root(), "GET", "/v1/users/bob", None).ok().clone();
    assert_eq!(got["posix"], p, "a refused update changed something");

    // "" restores the configured defaults (and clears gecos).
    let r = patch(&s, "bob", json!({"shell": "", "home": "", "gecos": ""}));
    let p = r.ok()["posix"].clone();
    assert_eq!(
        (p["shell"].as_str(), p["home"].as_str(), p["gecos"].as_str()),
        (Some("/bin/zsh"), Some("/srv/home/bob"), Some(""))
    );
    // Audited with the values.
    let ev = audit(&s, "iam:UpdateUser");
    assert!(
        ev.iter().any(|e| e["detail"]["shell"] == "/bin/fish"),
        "{ev:?}"
    );
}

/// An X.509 client key and certificate for `user`, issued with `creds`,
/// in `dir`; returns `curl` arguments for mTLS.
fn client_cert(s: &Server, creds: &Creds, user: &str) -> Vec<String> {
    let d = s.dir.join(format!("mtls-{user}"));
    std::fs::create_dir_all(&d).unwrap();
    let run = |args: &[&str]| {
        let o = Command::new("openssl")
            .args(args)
            .current_dir(&d)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    run(&["genpkey", "-algorithm", "ed25519", "-out", "c.key"]);
    run(&[
        "req",
        "-new",
        "-key",
        "c.key",
        "-subj",
        &format!("/CN={user}"),
        "-out",
        "c.csr",
    ]);
    let csr = std::fs::read_to_string(d.join("c.csr")).unwrap();
    let r = s.call(
        creds,
        "POST",
        "/v1/x509/client-certificates",
        Some(&json!({ "csr": csr }).to_string()),
    );
    std::fs::write(d.join("c.pem"), r.ok()["certificate"].as_str().unwrap()).unwrap();
    vec![
        "--cert".into(),
        d.join("c.pem").display().to_string(),
        "--key".into(),
        d.join("c.key").display().to_string(),
    ]
}

/// `GET /v1/whoami` over mTLS: (status, body).
fn mtls_whoami(s: &Server, cert_args: &[String]) -> (u16, Value) {
    let out = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(&s.bundle)
        .args(cert_args)
        .args(["-w", "\n%{http_code}"])
        .arg(format!("{}/v1/whoami", s.endpoint))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (b, code) = text.rsplit_once('\n').unwrap();
    (
        code.parse().unwrap(),
        serde_json::from_str(b).unwrap_or(Value::Null),
    )
}

fn bearer_whoami(s: &Server, token: &str) -> Response {
    s.raw(
        "GET",
        "/v1/whoami",
        &[("authorization", &format!("Bearer {token}"))],
        None,
    )
}

fn login(s: &Server, user: &str, pw: &str) -> Response {
    s.raw(
        "POST",
        "/v1/login",
        &[],
        Some(
            json!({"userName": user, "password": pw})
                .to_string()
                .as_bytes(),
        ),
    )
}

fn disabled(r: &Response) {
    let msg = r.err(403, "UserDisabled");
    assert!(msg.contains("disabled"), "{msg}");
}

/// Disabling stops every kind of credential at once, deletes nothing, and
/// enabling brings every one of them back.
#[test]
fn disable_refuses_every_credential_and_enable_restores_them() {
    for s in backends() {
        let root = s.root();
        create_user(&s, "dana").ok();
        put_policy(
            &s,
            "dana",
            r#"{"Effect":"Allow","Action":["ca:IssueX509Certificate","iam:GetUser"],"Resource":"*"}"#,
        );
        let key = access_key(&s, "dana");
        let pw = "Quartz-Pelican-88";
        s.call(
            &root,
            "PUT",
            "/v1/users/dana/login-profile",
            Some(&json!({ "password": pw }).to_string()),
        )
        .ok();
        let session = creds_of(login(&s, "dana", pw).ok());
        let token = session.token.clone().unwrap();
        let cert = client_cert(&s, &key, "dana");

        let all_work = |when: &str| {
            // The key is used first, so its cache entry is warm when the
            // user is disabled.
            let who = s.call(&key, "GET", "/v1/whoami", None);
            assert_eq!(who.ok()["authMethod"], "access-key", "{when}");
            s.call(&session, "GET", "/v1/whoami", None).ok();
            bearer_whoami(&s, &token).ok();
            let (code, body) = mtls_whoami(&s, &cert);
            assert_eq!(
                (code, body["authMethod"].as_str()),
                (200, Some("certificate")),
                "{when}: {body}"
            );
            login(&s, "dana", pw).ok();
            s.call(&key, "GET", "/v1/users/dana", None).ok();
        };
        all_work("before");

        let r = s.call(&root, "POST", "/v1/users/dana/disable", None);
        let u = r.ok().clone();
        assert_eq!(u["disabled"], true, "{u}");
        assert!(u["disabledAt"].is_string(), "{u}");

        disabled(&s.call(&key, "GET", "/v1/whoami", None));
        disabled(&s.call(&session, "GET", "/v1/whoami", None));
        disabled(&bearer_whoami(&s, &token));
        let (code, body) = mtls_whoami(&s, &cert);
        assert_eq!(
            (code, body["error"]["code"].as_str()),
            (403, Some("UserDisabled")),
            "{body}"
        );
        disabled(&login(&s, "dana", pw));
        // A wrong password learns nothing about the account's state.
        login(&s, "dana", "Wrong-Password-000").err(401, "InvalidLogin");
        // Issuance needs one of those credentials: refused too.
        let d = s.dir.join("mtls-dana");
        let csr = std::fs::read_to_string(d.join("c.csr")).unwrap();
        disabled(&s.call(
            &key,
            "POST",
            "/v1/x509/client-certificates",
            Some(&json!({ "csr": csr }).to_string()),
        ));
        // Nothing was deleted.
        let keys = s.call(&root, "GET", "/v1/users/dana/access-keys", None);
        assert_eq!(keys.ok()["accessKeys"][0]["status"], "Active");
        let got = s.call(&root, "GET", "/v1/users/dana", None);
        assert_eq!(got.ok()["disabled"], true);
        // Disabling again keeps the first time.
        let again = s.call(&root, "POST", "/v1/users/dana/disable", None);
        assert_eq!(again.ok()["disabledAt"], u["disabledAt"]);

        let r = s.call(&root, "POST", "/v1/users/dana/enable", None);
        assert_eq!(r.ok()["disabled"], false);
        assert!(r.ok().get("disabledAt").is_none());
        all_work("after enable");

        // Audited: the changes, and the refused authentications.
        let ev = audit(&s, "iam:DisableUser");
        assert_eq!(ev.len(), 2, "{ev:?}");
        assert!(ev[0]["resource"].as_str().unwrap().ends_with(":user/dana"));
        assert_eq!(
            ev[0]["principal"],
            format!("arn:ward:iam::{}:root", s.account)
        );
        assert_eq!(audit(&s, "iam:EnableUser").len(), 1);
        let refusals = audit(&s, "ward:Authenticate");
        assert!(
            refusals
                .iter()
                .any(|e| e["detail"]["code"] == "UserDisabled"),
            "{refusals:?}"
        );
        let logins = audit(&s, "ward:PasswordLogin");
        assert!(
            logins.iter().any(|e| e["detail"]["code"] == "UserDisabled"),
            "{logins:?}"
        );
    }
}

/// Who may disable and enable: their own actions, decided by policy; a
/// user may disable itself (and then cannot undo it); the account root
/// cannot be disabled.
#[test]
fn disable_and_enable_are_authorized_by_policy() {
    for s in backends() {
        let root = s.root();
        for n in ["target", "viewer", "locker", "selfie"] {
            create_user(&s, n).ok();
        }
        put_policy(
            &s,
            "viewer",
            r#"{"Effect":"Allow","Action":["iam:GetUser","iam:UpdateUser"],"Resource":"*"}"#,
        );
        put_policy(
            &s,
            "locker",
            r#"{"Effect":"Allow","Action":"iam:DisableUser","Resource":"arn:ward:iam::*:user/target"}"#,
        );
        put_policy(
            &s,
            "selfie",
            r#"{"Effect":"Allow","Action":["iam:DisableUser","iam:EnableUser"],"Resource":"arn:ward:iam::*:user/${ward:username}"}"#,
        );
        let (viewer, locker, selfie) = (
            access_key(&s, "viewer"),
            access_key(&s, "locker"),
            access_key(&s, "selfie"),
        );
        s.call(&viewer, "POST", "/v1/users/target/disable", None)
            .err(403, "AccessDenied");
        // Authorization before existence: no 404 for the unauthorized.
        s.call(&viewer, "POST", "/v1/users/nobody/disable", None)
            .err(403, "AccessDenied");
        let t = s.call(&root, "GET", "/v1/users/target", None);
        assert_eq!(t.ok()["disabled"], false);

        s.call(&locker, "POST", "/v1/users/viewer/disable", None)
            .err(403, "AccessDenied");
        s.call(&locker, "POST", "/v1/users/target/disable", None)
            .ok();
        // Disabling does not grant enabling.
        s.call(&locker, "POST", "/v1/users/target/enable", None)
            .err(403, "AccessDenied");

        // Self-disable is a policy decision; afterwards the user is locked out.
        let me = s.call(&selfie, "POST", "/v1/users/selfie/disable", None);
        assert_eq!(me.ok()["disabled"], true);
        disabled(&s.call(&selfie, "POST", "/v1/users/selfie/enable", None));
        let ev = audit(&s, "iam:DisableUser");
        assert!(ev.iter().any(|e| e["detail"]["self"] == true), "{ev:?}");

        // Root is not a user: refused, naming the field.
        let r = s.call(&root, "POST", "/v1/users/root/disable", None);
        assert!(r.err(400, "ValidationError").contains("root"));
        assert_eq!(r.field(), "name");
        s.call(&root, "POST", "/v1/users/nobody/disable", None)
            .err(404, "NoSuchEntity");
        // Root itself still works after all of this.
        s.call(&root, "GET", "/v1/whoami", None).ok();
    }
}

/// SQL run against the server's store (sqlite3 or psql).
fn sql(s: &Server, statements: &str) -> String {
    match s.db {
        Db::Postgres => psql(s.db_url.as_deref().unwrap(), statements),
        Db::Sqlite => {
            let out = Command::new("sqlite3")
                .arg(s.data_dir().join("ward.db"))
                .arg(statements)
                .output()
                .expect("sqlite3");
            assert!(
                out.status.success(),
                "sqlite3: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        }
    }
}

/// A store made before migration 0008 (two counters from the same start,
/// so uid 5000 and gid 5000 are unrelated entities), with `uid_min` below
/// 200000: after the upgrade no group gid equals any uid, every gid is in
/// use once, the shared counter is above every id, and new users and
/// groups get fresh ids.
#[test]
fn upgrade_from_two_counters() {
    for db in [Db::Sqlite, Db::Postgres] {
        let Some(mut s) = Server::start_with(db, "[unix]\nuid_min = 5000\nuid_max = 9999") else {
            continue;
        };
        for n in ["ua", "ub", "uc"] {
            create_user(&s, n).ok();
        }
        for n in ["ga", "gb", "gc", "gd"] {
            create_group(&s, n);
        }
        // Back to the shape 0001–0007 and the old code left: no POSIX
        // columns, counters 'uid' and 'gid' holding the next id each,
        // users 5000–5002 and groups 5000–5003.
        sql(
            &s,
            "DELETE FROM _sqlx_migrations WHERE version = 8;
             ALTER TABLE users DROP COLUMN gid;
             ALTER TABLE users DROP COLUMN home;
             ALTER TABLE users DROP COLUMN shell;
             ALTER TABLE users DROP COLUMN gecos;
             ALTER TABLE users DROP COLUMN disabled_at;
             DELETE FROM id_counters;
             INSERT INTO id_counters (name, next_id) VALUES ('uid', 5003), ('gid', 5004);
             UPDATE users SET uid = 5000 WHERE name = 'ua';
             UPDATE users SET uid = 5001 WHERE name = 'ub';
             UPDATE users SET uid = 5002 WHERE name = 'uc';
             UPDATE iam_groups SET gid = 5000 WHERE name = 'ga';
             UPDATE iam_groups SET gid = 5001 WHERE name = 'gb';
             UPDATE iam_groups SET gid = 5002 WHERE name = 'gc';
             UPDATE iam_groups SET gid = 5003 WHERE name = 'gd';",
        );
        // The new binary migrates on start.
        s.restart("TERM");
        let root = s.root();
        let mut uids = BTreeMap::new();
        for n in ["ua", "ub", "uc"] {
            let u = s
                .call(&root, "GET", &format!("/v1/users/{n}"), None)
                .ok()
                .clone();
            assert_eq!(u["posix"]["gid"], u["uid"], "{u}");
            assert_eq!(u["posix"]["home"], format!("/home/{n}"), "{u}");
            uids.insert(n, u["uid"].as_i64().unwrap());
        }
        assert_eq!(
            uids.values().copied().collect::<Vec<_>>(),
            vec![5000, 5001, 5002],
            "uids never change"
        );
        let mut gids = BTreeMap::new();
        for n in ["ga", "gb", "gc", "gd"] {
            let g = s
                .call(&root, "GET", &format!("/v1/groups/{n}"), None)
                .ok()
                .clone();
            gids.insert(n, g["group"]["gid"].as_i64().unwrap());
        }
        // gd (5003) collided with no uid and keeps its gid; the others move
        // above every id in use, each to its own gid.
        assert_eq!(gids["gd"], 5003, "{gids:?}");
        let all: BTreeSet<i64> = uids.values().chain(gids.values()).copied().collect();
        assert_eq!(all.len(), 7, "an id names two entities: {uids:?} {gids:?}");
        for n in ["ga", "gb", "gc"] {
            assert!(
                gids[n] > 5004 && gids[n] <= 9999,
                "{n} moved out of range or onto an old id: {gids:?}"
            );
        }
        let counter: i64 = sql(&s, "SELECT next_id FROM id_counters WHERE name = 'unix_id'")
            .trim()
            .parse()
            .unwrap();
        assert!(all.iter().all(|&id| id <= counter), "{counter} {all:?}");
        // New ids are fresh, from the one counter.
        let u = create_user(&s, "ud").ok().clone();
        let g = create_group(&s, "ge");
        let (nu, ng) = (u["uid"].as_i64().unwrap(), g["gid"].as_i64().unwrap());
        assert!(nu > counter && ng > nu && !all.contains(&nu) && !all.contains(&ng));
        assert_eq!(u["posix"]["gid"], nu);
    }
}
