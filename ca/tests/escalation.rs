//! Issue #7, the privilege-escalation items, against the real daemon:
//! renames and moves need the permission on the new ARN too; every
//! condition key AWS supplies (`iam:PolicyARN`, `iam:PermissionsBoundary`,
//! `ward:ResourceTag/*`, `ward:RequestTag/*`, `ward:TagKeys`) is supplied,
//! once, so Deny guard-rails hold; authorization runs before any lookup
//! can answer 404; list path prefixes are exact and case-sensitive.
//!
//! Each test here failed on main before the fix (the review's
//! reproduction is the test).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use common::{creds_of, Creds, Db, Server};
use serde_json::json;

/// Creates `name` with an inline policy of `statements` and an access key.
fn user_with_policy(s: &Server, name: &str, statements: &str) -> Creds {
    let root = s.root();
    s.call(
        &root,
        "POST",
        "/v1/users",
        Some(&json!({"name": name}).to_string()),
    )
    .ok();
    put_policy(s, name, statements);
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

fn put_policy(s: &Server, name: &str, statements: &str) {
    let doc = format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#);
    s.call(
        &s.root(),
        "PUT",
        &format!("/v1/users/{name}/policies/p"),
        Some(&json!({ "document": doc }).to_string()),
    )
    .ok();
}

fn create_policy(s: &Server, name: &str, statements: &str) {
    let doc = format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#);
    s.call(
        &s.root(),
        "POST",
        "/v1/policies",
        Some(&json!({"name": name, "document": doc}).to_string()),
    )
    .ok();
}

fn users_named(s: &Server, query: &str) -> Vec<String> {
    let v = s.call(&s.root(), "GET", &format!("/v1/users{query}"), None);
    v.ok()["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap().to_owned())
        .collect()
}

fn keygen_pub(dir: &std::path::Path) -> String {
    let key = dir.join("id");
    let out = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success());
    std::fs::read_to_string(key.with_extension("pub")).unwrap()
}

/// Item 1: renaming oneself to `root` (and then getting a certificate for
/// `root`) and moving oneself under a trusted path both need the
/// permission on the new ARN.
#[test]
fn rename_and_move_need_the_new_arn() {
    let Some(s) = Server::start(Db::Sqlite) else {
        return;
    };
    let acct = s.account.clone();
    let ivan = user_with_policy(
        &s,
        "ivan",
        &format!(
            r#"{{"Effect":"Allow","Action":"iam:UpdateUser","Resource":"arn:ward:iam::{acct}:user/${{ward:username}}"}},
               {{"Effect":"Allow","Action":"ca:IssueSshUserCertificate","Resource":"*",
                 "Condition":{{"ForAllValues:StringEquals":{{"ca:Principals":["${{ward:username}}"]}}}}}}"#
        ),
    );
    // A group policy trusting a path, as in the review.
    let root = s.root();
    s.call(&root, "POST", "/v1/groups", Some(r#"{"name":"everyone"}"#))
        .ok();
    s.call(&root, "PUT", "/v1/groups/everyone/users/ivan", None)
        .ok();
    let doc = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"iam:*","Resource":"*",
            "Condition":{{"ArnLike":{{"ward:PrincipalArn":"arn:ward:iam::{acct}:user/admins/*"}}}}}}]}}"#
    );
    s.call(
        &root,
        "PUT",
        "/v1/groups/everyone/policies/admins",
        Some(&json!({ "document": doc }).to_string()),
    )
    .ok();

    let r = s.call(
        &ivan,
        "PATCH",
        "/v1/users/ivan",
        Some(r#"{"newName":"mallory"}"#),
    );
    let msg = r.err(403, "AccessDenied");
    assert!(msg.contains("user/mallory"), "{msg}");
    // The account root's name is refused outright, whoever asks.
    let r = s.call(
        &ivan,
        "PATCH",
        "/v1/users/ivan",
        Some(r#"{"newName":"root"}"#),
    );
    let msg = r.err(400, "ValidationError");
    assert!(msg.contains("reserved for the account root"), "{msg}");
    let r = s.call(
        &ivan,
        "PATCH",
        "/v1/users/ivan",
        Some(r#"{"newPath":"/admins/"}"#),
    );
    r.err(403, "AccessDenied");
    // Nothing changed: still ivan at /, still unable to list users.
    let u = s.call(&root, "GET", "/v1/users/ivan", None);
    assert_eq!(u.ok()["path"], "/");
    assert!(s.call(&root, "GET", "/v1/users/root", None).status == 404);
    s.call(&ivan, "GET", "/v1/users", None)
        .err(403, "AccessDenied");
    // A certificate for `root` is still refused.
    let dir = std::env::temp_dir().join(format!("ward-esc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pubkey = keygen_pub(&dir);
    s.call(
        &ivan,
        "POST",
        "/v1/ssh/user-certificates",
        Some(&json!({"publicKey": pubkey, "principals": ["root"]}).to_string()),
    )
    .err(403, "AccessDenied");
    let _ = std::fs::remove_dir_all(&dir);

    // A rename the policy allows on both ARNs works, and an unchanged
    // name/path needs only the current ARN.
    put_policy(
        &s,
        "ivan",
        &format!(
            r#"{{"Effect":"Allow","Action":"iam:UpdateUser","Resource":["arn:ward:iam::{acct}:user/${{ward:username}}","arn:ward:iam::{acct}:user/ivan2"]}}"#
        ),
    );
    s.call(&ivan, "PATCH", "/v1/users/ivan", Some(r#"{"newPath":"/"}"#))
        .ok();
    let r = s.call(
        &ivan,
        "PATCH",
        "/v1/users/ivan",
        Some(r#"{"newName":"ivan2"}"#),
    );
    assert_eq!(r.ok()["name"], "ivan2");
}

/// Item 4: `iam:PolicyARN` on attach/detach.
#[test]
fn policy_arn_guard_rail_holds() {
    let Some(s) = Server::start(Db::Sqlite) else {
        return;
    };
    let acct = s.account.clone();
    create_policy(
        &s,
        "Admin",
        r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#,
    );
    create_policy(
        &s,
        "ReadOnly",
        r#"{"Effect":"Allow","Action":"iam:Get*","Resource":"*"}"#,
    );
    let eve = user_with_policy(
        &s,
        "eve",
        &format!(
            r#"{{"Effect":"Allow","Action":["iam:AttachUserPolicy","iam:DetachUserPolicy"],"Resource":"*"}},
               {{"Effect":"Deny","Action":["iam:AttachUserPolicy","iam:AttachGroupPolicy"],"Resource":"*",
                 "Condition":{{"ArnEquals":{{"iam:PolicyARN":"arn:ward:iam::{acct}:policy/Admin"}}}}}}"#
        ),
    );
    let msg = s
        .call(&eve, "PUT", "/v1/users/eve/attached-policies/Admin", None)
        .err(403, "AccessDenied")
        .to_owned();
    assert!(msg.contains("explicit") || msg.contains("Deny"), "{msg}");
    assert!(s
        .call(&s.root(), "GET", "/v1/users/eve/attached-policies", None)
        .ok()["policies"]
        .as_array()
        .unwrap()
        .is_empty());
    // Other policies still attach; a missing one is 404 after the decision.
    assert_eq!(
        s.call(
            &eve,
            "PUT",
            "/v1/users/eve/attached-policies/ReadOnly",
            None
        )
        .status,
        204
    );
    s.call(&eve, "PUT", "/v1/users/eve/attached-policies/Nope", None)
        .err(404, "NoSuchEntity");
    // An Allow that depends on the key passes only for the named policy.
    let ann = user_with_policy(
        &s,
        "ann",
        &format!(
            r#"{{"Effect":"Allow","Action":"iam:AttachUserPolicy","Resource":"*",
                 "Condition":{{"ArnEquals":{{"iam:PolicyARN":"arn:ward:iam::{acct}:policy/ReadOnly"}}}}}}"#
        ),
    );
    assert_eq!(
        s.call(
            &ann,
            "PUT",
            "/v1/users/ann/attached-policies/ReadOnly",
            None
        )
        .status,
        204
    );
    s.call(&ann, "PUT", "/v1/users/ann/attached-policies/Admin", None)
        .err(403, "AccessDenied");
}

/// Item 4: `ward:ResourceTag/*` of users.
#[test]
fn resource_tag_guard_rail_on_users() {
    let Some(s) = Server::start(Db::Sqlite) else {
        return;
    };
    let root = s.root();
    for (n, tags) in [
        ("vip", json!([{"key":"protected","value":"true"}])),
        ("pleb", json!([])),
    ] {
        s.call(
            &root,
            "POST",
            "/v1/users",
            Some(&json!({"name": n, "tags": tags}).to_string()),
        )
        .ok();
    }
    let mallory = user_with_policy(
        &s,
        "mallory",
        r#"{"Effect":"Allow","Action":"iam:*","Resource":"*"},
           {"Effect":"Deny","Action":"iam:*","Resource":"*",
            "Condition":{"StringEquals":{"aws:ResourceTag/protected":"true"}}}"#,
    );
    s.call(&mallory, "POST", "/v1/users/vip/access-keys", None)
        .err(403, "AccessDenied");
    s.call(&mallory, "DELETE", "/v1/users/vip", None)
        .err(403, "AccessDenied");
    s.call(
        &mallory,
        "PUT",
        "/v1/users/vip/login-profile",
        Some(r#"{"password":"Correct-Horse-9-battery"}"#),
    )
    .err(403, "AccessDenied");
    // Untagging the guard away is itself denied.
    s.call(
        &mallory,
        "DELETE",
        "/v1/users/vip/tags?keys=protected",
        None,
    )
    .err(403, "AccessDenied");
    let keys = s.call(&root, "GET", "/v1/users/vip/access-keys", None);
    assert!(keys.ok()["accessKeys"].as_array().unwrap().is_empty());
    // The untagged user is not protected.
    s.call(&mallory, "POST", "/v1/users/pleb/access-keys", None)
        .ok();
}

/// Item 4: `ward:RequestTag/*` and `ward:TagKeys` at CreateUser, TagUser
/// (decided once, with the keys) and UntagUser.
#[test]
fn request_tags_and_tag_keys() {
    let Some(s) = Server::start(Db::Sqlite) else {
        return;
    };
    let tagger = user_with_policy(
        &s,
        "tagger",
        r#"{"Effect":"Allow","Action":["iam:CreateUser","iam:GetUser"],"Resource":"*"},
           {"Effect":"Allow","Action":["iam:TagUser","iam:UntagUser"],"Resource":"*",
            "Condition":{"ForAllValues:StringEquals":{"ward:TagKeys":["team"]}}},
           {"Effect":"Deny","Action":["iam:TagUser","iam:CreateUser"],"Resource":"*",
            "Condition":{"StringEquals":{"ward:RequestTag/role":"admin"}}}"#,
    );
    // TagUser allowed by a TagKeys condition (was never allowed: the first
    // of two decisions had no TagKeys).
    s.call(&s.root(), "POST", "/v1/users", Some(r#"{"name":"t1"}"#))
        .ok();
    s.call(
        &tagger,
        "POST",
        "/v1/users/t1/tags",
        Some(r#"{"tags":[{"key":"team","value":"a"}]}"#),
    )
    .ok();
    // Other keys are not allowed, and the Deny on a request tag holds.
    s.call(
        &tagger,
        "POST",
        "/v1/users/t1/tags",
        Some(r#"{"tags":[{"key":"cost","value":"x"}]}"#),
    )
    .err(403, "AccessDenied");
    s.call(&tagger, "DELETE", "/v1/users/t1/tags?keys=cost", None)
        .err(403, "AccessDenied");
    s.call(&tagger, "DELETE", "/v1/users/t1/tags?keys=team", None)
        .ok();
    // Tags given at creation are decided like TagUser: no bypass.
    s.call(
        &tagger,
        "POST",
        "/v1/users",
        Some(r#"{"name":"t2","tags":[{"key":"role","value":"admin"}]}"#),
    )
    .err(403, "AccessDenied");
    s.call(
        &tagger,
        "POST",
        "/v1/users",
        Some(r#"{"name":"t3","tags":[{"key":"cost","value":"1"}]}"#),
    )
    .err(403, "AccessDenied");
    assert_eq!(s.call(&s.root(), "GET", "/v1/users/t2", None).status, 404);
    assert_eq!(s.call(&s.root(), "GET", "/v1/users/t3", None).status, 404);
    let u = s.call(
        &tagger,
        "POST",
        "/v1/users",
        Some(r#"{"name":"t4","tags":[{"key":"team","value":"b"}]}"#),
    );
    assert_eq!(u.ok()["tags"], json!([{"key":"team","value":"b"}]));
}

/// Item 4: `iam:PermissionsBoundary` — AWS's delegated-administrator
/// pattern: a delegate may create users and change their policies only
/// with the boundary set.
#[test]
fn permissions_boundary_delegation() {
    let Some(s) = Server::start(Db::Sqlite) else {
        return;
    };
    let acct = s.account.clone();
    create_policy(
        &s,
        "Fence",
        r#"{"Effect":"Allow","Action":"iam:Get*","Resource":"*"}"#,
    );
    create_policy(
        &s,
        "Other",
        r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#,
    );
    let fence = format!("arn:ward:iam::{acct}:policy/Fence");
    let delegate = user_with_policy(
        &s,
        "delegate",
        &format!(
            r#"{{"Effect":"Allow","Action":["iam:CreateUser","iam:PutUserPermissionsBoundary","iam:AttachUserPolicy","iam:PutUserPolicy"],"Resource":"*",
                 "Condition":{{"StringEquals":{{"iam:PermissionsBoundary":"{fence}"}}}}}}"#
        ),
    );
    // Without a boundary, or with another one: refused.
    s.call(&delegate, "POST", "/v1/users", Some(r#"{"name":"free"}"#))
        .err(403, "AccessDenied");
    s.call(
        &delegate,
        "POST",
        "/v1/users",
        Some(r#"{"name":"free","permissionsBoundary":"Other"}"#),
    )
    .err(403, "AccessDenied");
    // With the fence: created, with the boundary set in the same step.
    let u = s.call(
        &delegate,
        "POST",
        "/v1/users",
        Some(&json!({"name":"fenced","permissionsBoundary": fence}).to_string()),
    );
    assert_eq!(u.ok()["permissionsBoundary"], json!(fence));
    // Attaching to the fenced user is allowed; to a user without the fence
    // (created by root) it is not; swapping the fence for another is not.
    assert_eq!(
        s.call(
            &delegate,
            "PUT",
            "/v1/users/fenced/attached-policies/Other",
            None
        )
        .status,
        204
    );
    s.call(&s.root(), "POST", "/v1/users", Some(r#"{"name":"open"}"#))
        .ok();
    s.call(
        &delegate,
        "PUT",
        "/v1/users/open/attached-policies/Other",
        None,
    )
    .err(403, "AccessDenied");
    s.call(
        &delegate,
        "PUT",
        "/v1/users/fenced/permissions-boundary",
        Some(r#"{"policy":"Other"}"#),
    )
    .err(403, "AccessDenied");
    let u = s.call(&s.root(), "GET", "/v1/users/fenced", None);
    assert_eq!(u.ok()["permissionsBoundary"], json!(fence));
}

/// Item 5: a caller with no permissions learns nothing from
/// `GET /v1/certificates?user=` — 403 for existing and missing users alike.
#[test]
fn certificate_listing_is_no_existence_oracle() {
    let Some(s) = Server::start(Db::Sqlite) else {
        return;
    };
    let nobody = user_with_policy(
        &s,
        "nobody",
        r#"{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}"#,
    );
    for who in ["nobody", "no-such-user"] {
        s.call(
            &nobody,
            "GET",
            &format!("/v1/certificates?user={who}"),
            None,
        )
        .err(403, "AccessDenied");
    }
    // Root still gets the 404 for a missing user.
    s.call(&s.root(), "GET", "/v1/certificates?user=no-such-user", None)
        .err(404, "NoSuchEntity");
}

/// Item 6: path prefixes are exact and case-sensitive, on both backends.
#[test]
fn path_prefix_is_exact_sqlite() {
    path_prefix_is_exact(Db::Sqlite);
}

#[test]
fn path_prefix_is_exact_postgres() {
    path_prefix_is_exact(Db::Postgres);
}

fn path_prefix_is_exact(db: Db) {
    let Some(s) = Server::start(db) else {
        return;
    };
    let root = s.root();
    for (n, p) in [
        ("real", "/team_a/"),
        ("lookalike", "/teamxa/"),
        ("squashed", "/teama/"),
        ("shouting", "/TEAM_A/"),
        ("pct", "/team%a/"),
    ] {
        s.call(
            &root,
            "POST",
            "/v1/users",
            Some(&json!({"name": n, "path": p}).to_string()),
        )
        .ok();
        s.call(
            &root,
            "POST",
            "/v1/groups",
            Some(&json!({"name": format!("g-{n}"), "path": p}).to_string()),
        )
        .ok();
        s.call(
            &root,
            "POST",
            "/v1/policies",
            Some(
                &json!({"name": format!("p-{n}"), "path": p,
                "document": r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}]}"#})
                .to_string(),
            ),
        )
        .ok();
    }
    assert_eq!(users_named(&s, "?pathPrefix=%2Fteam_a%2F"), vec!["real"]);
    assert_eq!(
        users_named(&s, "?pathPrefix=%2FTEAM_A%2F"),
        vec!["shouting"]
    );
    assert_eq!(users_named(&s, "?pathPrefix=%2Fteam%25a%2F"), vec!["pct"]);
    assert_eq!(users_named(&s, "?pathPrefix=%2Fteama"), vec!["squashed"]);
    let groups = s.call(&root, "GET", "/v1/groups?pathPrefix=%2Fteam_a%2F", None);
    let names: Vec<&str> = groups.ok()["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["g-real"]);
    let pols = s.call(&root, "GET", "/v1/policies?pathPrefix=%2Fteam_a%2F", None);
    let names: Vec<&str> = pols.ok()["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["p-real"]);
    // A caller allowed only under /team_a/ lists exactly that path.
    let acct = s.account.clone();
    let lead = user_with_policy(
        &s,
        "lead",
        &format!(
            r#"{{"Effect":"Allow","Action":"iam:ListUsers","Resource":"arn:ward:iam::{acct}:user/team_a/*"}}"#
        ),
    );
    let r = s.call(&lead, "GET", "/v1/users?pathPrefix=%2Fteam_a%2F", None);
    assert_eq!(r.ok()["users"][0]["name"], "real");
    assert_eq!(r.ok()["users"].as_array().unwrap().len(), 1);
    s.call(&lead, "GET", "/v1/users?pathPrefix=%2Fteama%2F", None)
        .err(403, "AccessDenied");
}

/// The shipped example issuance policy (examples/ssh-issuance-policy.json,
/// shown in the README) is the safe pattern: own name only, capped TTL.
#[test]
fn example_issuance_policy_is_safe() {
    let Some(s) = Server::start(Db::Sqlite) else {
        return;
    };
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../examples/ssh-issuance-policy.json"),
    )
    .unwrap();
    let root = s.root();
    s.call(&root, "POST", "/v1/users", Some(r#"{"name":"carol"}"#))
        .ok();
    s.call(
        &root,
        "PUT",
        "/v1/users/carol/policies/issue",
        Some(&json!({ "document": doc }).to_string()),
    )
    .ok();
    let carol = creds_of(
        s.call(&root, "POST", "/v1/users/carol/access-keys", None)
            .ok(),
    );
    let dir = std::env::temp_dir().join(format!("ward-esc-ex-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pubkey = keygen_pub(&dir);
    let issue = |body: serde_json::Value| {
        s.call(
            &carol,
            "POST",
            "/v1/ssh/user-certificates",
            Some(&body.to_string()),
        )
    };
    let ok = issue(json!({"publicKey": pubkey}));
    assert_eq!(ok.ok()["principals"], json!(["carol"]));
    issue(json!({"publicKey": pubkey, "principals": ["root"]})).err(403, "AccessDenied");
    issue(json!({"publicKey": pubkey, "principals": ["carol", "deploy"]})).err(403, "AccessDenied");
    issue(json!({"publicKey": pubkey, "validitySeconds": 32400})).err(403, "AccessDenied");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Item 4, hosts: `ward:RequestTag/*` at RegisterHost, so a guard-rail on
/// the tags a host may be registered with holds.
#[test]
fn request_tags_at_host_registration() {
    let Some(s) = Server::start(Db::Sqlite) else {
        return;
    };
    let reg = user_with_policy(
        &s,
        "registrar",
        r#"{"Effect":"Allow","Action":"host:RegisterHost","Resource":"*"},
           {"Effect":"Deny","Action":"host:RegisterHost","Resource":"*",
            "Condition":{"StringEquals":{"ward:RequestTag/env":"prod"}}}"#,
    );
    s.call(
        &reg,
        "POST",
        "/v1/hosts",
        Some(r#"{"name":"web-1","tags":[{"key":"env","value":"prod"}]}"#),
    )
    .err(403, "AccessDenied");
    assert_eq!(
        s.call(&s.root(), "GET", "/v1/hosts/web-1", None).status,
        404
    );
    s.call(
        &reg,
        "POST",
        "/v1/hosts",
        Some(r#"{"name":"web-2","tags":[{"key":"env","value":"dev"}]}"#),
    )
    .ok();
}

/// Item 4, X.509: `ca:KeyType` (`ed25519`, `ecdsa-p256`, `ecdsa-p384`,
/// `rsa`) is supplied at ca:IssueX509Certificate, so a key-type policy holds.
#[test]
fn x509_key_type_is_supplied() {
    let Some(s) = Server::start(Db::Sqlite) else {
        return;
    };
    let alice = user_with_policy(
        &s,
        "kt",
        r#"{"Effect":"Allow","Action":"ca:IssueX509Certificate","Resource":"*",
            "Condition":{"StringEquals":{"ca:KeyType":"ed25519"}}}"#,
    );
    let dir = std::env::temp_dir().join(format!("ward-esc-kt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csr = |alg: &[&str], name: &str| -> String {
        let key = dir.join(format!("{name}.key"));
        let out = std::process::Command::new("openssl")
            .arg("genpkey")
            .args(alg)
            .arg("-out")
            .arg(&key)
            .output()
            .unwrap();
        assert!(out.status.success());
        let out = std::process::Command::new("openssl")
            .args(["req", "-new", "-subj", "/CN=kt", "-key"])
            .arg(&key)
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let ed = csr(&["-algorithm", "ed25519"], "ed");
    let rsa = csr(
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        "rsa",
    );
    let issue = |pem: &str| {
        s.call(
            &alice,
            "POST",
            "/v1/x509/client-certificates",
            Some(&json!({ "csr": pem }).to_string()),
        )
    };
    issue(&ed).ok();
    let msg = issue(&rsa).err(403, "AccessDenied").to_owned();
    assert!(msg.contains("ca:KeyType"), "{msg}");
    let _ = std::fs::remove_dir_all(&dir);
}
