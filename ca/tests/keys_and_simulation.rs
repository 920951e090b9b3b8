//! SSH public keys (keys made by the real ssh-keygen, fingerprints checked
//! against `ssh-keygen -l`) and the policy simulation endpoints, against the
//! real daemon.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::process::Command;

use common::{Db, Server};
use serde_json::json;

fn keygen(dir: &std::path::Path, name: &str, args: &[&str]) -> Option<(String, String)> {
    let path = dir.join(name);
    let out = Command::new("ssh-keygen")
        .args(args)
        .args(["-q", "-N", "", "-C", name, "-f"])
        .arg(&path)
        .output()
        .unwrap();
    if !out.status.success() {
        return None;
    }
    let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
    let fp = Command::new("ssh-keygen")
        .args(["-l", "-E", "sha256", "-f"])
        .arg(path.with_extension("pub"))
        .output()
        .unwrap();
    let fp = String::from_utf8_lossy(&fp.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_owned();
    Some((public, fp))
}

#[test]
fn ssh_public_keys() {
    let Some(s) = Server::start(Db::Sqlite) else {
        return;
    };
    let root = s.root();
    let dir = s.dir.join("keys");
    std::fs::create_dir_all(&dir).unwrap();
    s.call(&root, "POST", "/v1/users", Some(r#"{"name":"alice"}"#))
        .ok();
    let up = |key: &str| {
        s.call(
            &root,
            "POST",
            "/v1/users/alice/ssh-keys",
            Some(&json!({"publicKey": key}).to_string()),
        )
    };

    let mut ids = Vec::new();
    for (name, args) in [
        ("ed", vec!["-t", "ed25519"]),
        ("ec", vec!["-t", "ecdsa", "-b", "384"]),
        ("rsa", vec!["-t", "rsa", "-b", "3072"]),
    ] {
        let (public, fp) = keygen(&dir, name, &args).unwrap();
        let r = up(&public);
        let v = r.ok().clone();
        assert_eq!(
            v["fingerprint"], fp,
            "ward and ssh-keygen agree on the fingerprint"
        );
        assert!(v["sshPublicKeyId"].as_str().unwrap().starts_with("APKA"));
        ids.push(v["sshPublicKeyId"].as_str().unwrap().to_owned());
        // The same key again is a conflict.
        up(&public).err(409, "DuplicateSSHPublicKey");
    }
    // Refused, each with a clear message, nothing stored.
    let (short_rsa, _) = keygen(&dir, "short", &["-t", "rsa", "-b", "1024"]).unwrap();
    assert!(up(&short_rsa)
        .err(400, "ValidationError")
        .contains("at least 2048 bits"));
    if let Some((dsa, _)) = keygen(&dir, "dsa", &["-t", "dsa"]) {
        assert!(up(&dsa).err(400, "ValidationError").contains("DSA"));
    }
    let private = std::fs::read_to_string(dir.join("ed")).unwrap();
    let msg = up(&private).err(400, "ValidationError").to_owned();
    assert!(msg.contains("private key"), "{msg}");
    for junk in [
        "",
        "ssh-ed25519",
        "ssh-ed25519 AAAA",
        "garbage garbage garbage",
        "ssh-ed25519 !!!!",
    ] {
        let r = up(junk);
        assert_eq!(r.status, 400, "{junk:?}: {}", r.body);
        assert_eq!(r.field(), "publicKey");
    }
    let listed = s.call(&root, "GET", "/v1/users/alice/ssh-keys", None);
    assert_eq!(listed.ok()["sshPublicKeys"].as_array().unwrap().len(), 3);

    // Limit: 5 per user.
    for n in ["k4", "k5"] {
        let (public, _) = keygen(&dir, n, &["-t", "ed25519"]).unwrap();
        up(&public).ok();
    }
    let (sixth, _) = keygen(&dir, "k6", &["-t", "ed25519"]).unwrap();
    assert!(up(&sixth).err(409, "LimitExceeded").contains("limit is 5"));

    // Get, deactivate, delete.
    let one = s.call(
        &root,
        "GET",
        &format!("/v1/users/alice/ssh-keys/{}", ids[0]),
        None,
    );
    assert!(one.ok()["publicKey"]
        .as_str()
        .unwrap()
        .starts_with("ssh-ed25519 "));
    s.call(
        &root,
        "PATCH",
        &format!("/v1/users/alice/ssh-keys/{}", ids[0]),
        Some(r#"{"status":"Inactive"}"#),
    )
    .ok();
    let again = s.call(
        &root,
        "GET",
        &format!("/v1/users/alice/ssh-keys/{}", ids[0]),
        None,
    );
    assert_eq!(again.ok()["status"], "Inactive");
    s.call(
        &root,
        "PATCH",
        &format!("/v1/users/alice/ssh-keys/{}", ids[0]),
        Some(r#"{"status":"Gone"}"#),
    )
    .err(400, "ValidationError");
    s.call(
        &root,
        "DELETE",
        &format!("/v1/users/alice/ssh-keys/{}", ids[0]),
        None,
    )
    .ok();
    s.call(
        &root,
        "DELETE",
        &format!("/v1/users/alice/ssh-keys/{}", ids[0]),
        None,
    )
    .err(404, "NoSuchEntity");
    s.call(&root, "GET", "/v1/users/alice/ssh-keys/not-an-id", None)
        .err(400, "ValidationError");
    // Deleting the user is refused while keys remain.
    assert!(s
        .call(&root, "DELETE", "/v1/users/alice", None)
        .err(409, "DeleteConflict")
        .contains("SSH public keys"));
}

#[test]
fn simulation_endpoints() {
    let Some(s) = Server::start(Db::Sqlite) else {
        return;
    };
    let root = s.root();
    s.call(
        &root,
        "POST",
        "/v1/users",
        Some(r#"{"name":"alice","tags":[{"key":"team","value":"db"}]}"#),
    )
    .ok();
    s.call(&root, "POST", "/v1/groups", Some(r#"{"name":"ops"}"#))
        .ok();
    s.call(&root, "PUT", "/v1/groups/ops/users/alice", None)
        .ok();
    let doc = r#"{"Version":"2012-10-17","Statement":[
        {"Sid":"TeamHosts","Effect":"Allow","Action":"host:Login","Resource":"arn:ward:host::*:host/${ward:PrincipalTag/team}-*"},
        {"Sid":"NoRoot","Effect":"Deny","Action":"host:Login","Resource":"*","Condition":{"StringEquals":{"host:Principal":"root"}}}]}"#;
    s.call(
        &root,
        "POST",
        "/v1/policies",
        Some(&json!({"name": "hosts", "document": doc}).to_string()),
    )
    .ok();
    s.call(&root, "PUT", "/v1/groups/ops/attached-policies/hosts", None)
        .ok();

    let sim = json!({
        "policySourceArn": "alice",
        "actionNames": ["host:Login", "host:Sudo"],
        "resourceArns": ["arn:ward:host::123456789012:host/db-1", "arn:ward:host::123456789012:host/web-1"],
        "contextEntries": {"host:Principal": "alice"}
    });
    let r = s.call(
        &root,
        "POST",
        "/v1/simulate/principal",
        Some(&sim.to_string()),
    );
    let results = r.ok()["results"].as_array().unwrap().clone();
    let decisions: Vec<&str> = results
        .iter()
        .map(|x| x["decision"].as_str().unwrap())
        .collect();
    assert_eq!(
        decisions,
        [
            "Allowed",
            "ImplicitlyDenied",
            "ImplicitlyDenied",
            "ImplicitlyDenied"
        ]
    );
    assert_eq!(
        results[0]["matchedStatements"][0],
        "identityPolicies[0]#0 (TeamHosts) Allow"
    );
    let as_root = json!({"policySourceArn": "alice", "actionNames": ["host:Login"], "resourceArns": ["arn:ward:host::123456789012:host/db-1"], "contextEntries": {"host:Principal": "root"}});
    let r = s.call(
        &root,
        "POST",
        "/v1/simulate/principal",
        Some(&as_root.to_string()),
    );
    assert_eq!(r.ok()["results"][0]["decision"], "ExplicitlyDenied");

    let custom = json!({
        "policyInputList": [r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iam:Get*","Resource":"*"}}"#],
        "actionNames": ["iam:GetUser", "iam:DeleteUser"],
        "callerArn": "arn:ward:iam::123456789012:user/bob"
    });
    let r = s.call(
        &root,
        "POST",
        "/v1/simulate/custom",
        Some(&custom.to_string()),
    );
    let results = r.ok()["results"].as_array().unwrap().clone();
    assert_eq!(results[0]["decision"], "Allowed");
    assert_eq!(results[1]["decision"], "ImplicitlyDenied");
    assert_eq!(
        results[1]["message"],
        "denied: no statement allows iam:DeleteUser on * for principal bob"
    );

    // Bad input.
    let bad = |body: serde_json::Value, path: &str, field: &str| {
        let r = s.call(&root, "POST", path, Some(&body.to_string()));
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert_eq!(r.field(), field, "{body}: {}", r.body);
    };
    bad(
        json!({"policySourceArn": "alice", "actionNames": []}),
        "/v1/simulate/principal",
        "actionNames",
    );
    bad(
        json!({"policySourceArn": "alice", "actionNames": ["host:*"]}),
        "/v1/simulate/principal",
        "actionNames[0]",
    );
    bad(
        json!({"policySourceArn": "alice", "actionNames": ["x:y"], "contextEntries": {"k": 1}}),
        "/v1/simulate/principal",
        "contextEntries.k",
    );
    bad(
        json!({"policySourceArn": "al ice", "actionNames": ["x:y"]}),
        "/v1/simulate/principal",
        "policySourceArn",
    );
    // Another account's user, or a group ARN, is not a local user.
    bad(
        json!({"policySourceArn": "arn:ward:iam::999999999999:user/alice", "actionNames": ["x:y"]}),
        "/v1/simulate/principal",
        "policySourceArn",
    );
    bad(
        json!({"policySourceArn": format!("arn:ward:iam::{}:group/alice", s.account), "actionNames": ["x:y"]}),
        "/v1/simulate/principal",
        "policySourceArn",
    );
    bad(
        json!({"policyInputList": ["{}"], "actionNames": ["x:y"]}),
        "/v1/simulate/custom",
        "policyInputList[0]",
    );
    bad(
        json!({"policyInputList": [], "actionNames": ["x:y"], "callerArn": "bob"}),
        "/v1/simulate/custom",
        "callerArn",
    );
    s.call(
        &root,
        "POST",
        "/v1/simulate/principal",
        Some(&json!({"policySourceArn": "nobody", "actionNames": ["x:y"]}).to_string()),
    )
    .err(404, "NoSuchEntity");
}

#[test]
fn users_change_their_own_password() {
    let Some(s) = Server::start(Db::Sqlite) else {
        return;
    };
    let root = s.root();
    s.call(&root, "POST", "/v1/users", Some(r#"{"name":"frank"}"#))
        .ok();
    s.call(
        &root,
        "PUT",
        "/v1/users/frank/login-profile",
        Some(r#"{"password":"Granite-Heron-51","passwordResetRequired":true}"#),
    )
    .ok();
    let own = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iam:ChangePassword","Resource":"arn:ward:iam::*:user/${ward:username}"}}"#;
    s.call(
        &root,
        "PUT",
        "/v1/users/frank/policies/own-password",
        Some(&json!({"document": own}).to_string()),
    )
    .ok();
    let login = |pw: &str| {
        s.raw(
            "POST",
            "/v1/login",
            &[],
            Some(
                json!({"userName": "frank", "password": pw})
                    .to_string()
                    .as_bytes(),
            ),
        )
    };
    let frank = common::creds_of(login("Granite-Heron-51").ok());
    let change = |old: &str, new: &str| {
        s.call(
            &frank,
            "POST",
            "/v1/change-password",
            Some(&json!({"oldPassword": old, "newPassword": new}).to_string()),
        )
    };
    assert_eq!(
        change("wrong-old-password", "Basalt-Osprey-62").err(400, "InvalidPassword"),
        "the current password is wrong"
    );
    change("Granite-Heron-51", "short").err(400, "PasswordPolicyViolation");
    change("Granite-Heron-51", "Basalt-Osprey-62").ok();
    login("Granite-Heron-51").err(401, "InvalidLogin");
    // The change ended the session that made it (issue #7 item 8).
    s.call(&frank, "GET", "/v1/whoami", None)
        .err(403, "InvalidClientTokenId");
    let frank = common::creds_of(login("Basalt-Osprey-62").ok());
    // Root has no password to change; bad bodies are 400s.
    s.call(
        &root,
        "POST",
        "/v1/change-password",
        Some(r#"{"oldPassword":"a","newPassword":"b"}"#),
    )
    .err(400, "ValidationError");
    assert_eq!(
        s.call(
            &frank,
            "POST",
            "/v1/change-password",
            Some(r#"{"oldPassword":"a"}"#)
        )
        .field(),
        "newPassword"
    );
}

/// GET and DELETE requests with a body are refused, not silently served.
#[test]
fn bodies_on_get_and_delete_are_refused() {
    let Some(s) = Server::start(Db::Sqlite) else {
        return;
    };
    let root = s.root();
    s.call(&root, "POST", "/v1/users", Some(r#"{"name":"gail"}"#))
        .ok();
    let r = s.call(&root, "GET", "/v1/users/gail", Some(r#"{"x":1}"#));
    assert_eq!((r.status, r.field()), (400, "body"), "{}", r.body);
    let r = s.call(&root, "DELETE", "/v1/users/gail", Some(r#"{"x":1}"#));
    assert_eq!((r.status, r.field()), (400, "body"), "{}", r.body);
    // Nothing was deleted.
    s.call(&root, "GET", "/v1/users/gail", None).ok();
}

/// Bad input on the certificate inventory and host registration routes
/// (added after the bad-input suite): each a 400 naming the field.
#[test]
fn certificate_and_host_routes_refuse_bad_input() {
    let Some(s) = Server::start(Db::Sqlite) else {
        return;
    };
    let root = s.root();
    for (path, field) in [
        ("/v1/certificates?limit=0", "limit"),
        ("/v1/certificates?limit=abc", "limit"),
        ("/v1/certificates?kind=pgp", "kind"),
        ("/v1/certificates?revoked=maybe", "revoked"),
        ("/v1/certificates?user=bad%20name", "user"),
    ] {
        let r = s.call(&root, "GET", path, None);
        assert_eq!((r.status, r.field()), (400, field), "{path}: {}", r.body);
    }
    s.call(&root, "GET", "/v1/certificates?user=nobody", None)
        .err(404, "NoSuchEntity");
    for (body, field) in [
        (json!({"name": "-bad"}), "name"),
        (
            json!({"name": "ok", "aliases": ["not a name"]}),
            "aliases[0]",
        ),
        (
            json!({"name": "ok", "tags": [{"key": "aws:x", "value": "y"}]}),
            "tags[0]",
        ),
        (json!({"name": "ok", "extra": 1}), "extra"),
    ] {
        let r = s.call(&root, "POST", "/v1/hosts", Some(&body.to_string()));
        assert_eq!((r.status, r.field()), (400, field), "{body}: {}", r.body);
    }
    // Nothing was registered.
    assert_eq!(
        s.call(&root, "GET", "/v1/hosts", None).ok()["hosts"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}
