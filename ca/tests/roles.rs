//! Roles, AssumeRole and temporary credentials against the real daemon
//! (issue #14 items 1 and 2), on SQLite and PostgreSQL: role CRUD with
//! trust policies stored by unique id, the trust decision (wrong
//! principal, ExternalId, TagSession, deleted-and-recreated principal),
//! role sessions signed with curl's SigV4 and `x-amz-security-token`,
//! session policy and boundary intersections, chaining, expiry, tampering,
//! revoke-sessions, GetSessionToken, and every bad input a 4xx naming
//! its field.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;

use common::{creds_of, user_with_policy, with_server, Creds, Db, Server};
use serde_json::{json, Value};

fn trust(s: &Server, principal: Value, extra: Value) -> Value {
    let _ = s;
    let mut st = json!({"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"});
    if let (Some(o), Some(e)) = (st.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            o.insert(k.clone(), v.clone());
        }
    }
    json!({"Version": "2012-10-17", "Statement": [st]})
}

fn user_arn(s: &Server, name: &str) -> String {
    format!("arn:ward:iam::{}:user/{name}", s.account)
}

fn create_role(s: &Server, root: &Creds, name: &str, trust: &Value, statements: &str) -> Value {
    let r = s
        .call(
            root,
            "POST",
            "/v1/roles",
            Some(&json!({"name": name, "assumeRolePolicyDocument": trust, "maxSessionDuration": 7200}).to_string()),
        )
        .ok()
        .clone();
    if !statements.is_empty() {
        let doc = format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#);
        s.call(
            root,
            "PUT",
            &format!("/v1/roles/{name}/policies/p"),
            Some(&json!({"document": doc}).to_string()),
        )
        .ok();
    }
    r
}

fn assume(s: &Server, who: &Creds, body: Value) -> common::Response {
    s.call(who, "POST", "/v1/sts/assume-role", Some(&body.to_string()))
}

fn session_creds(r: &common::Response) -> Creds {
    creds_of(&r.ok()["credentials"])
}

fn with_db(db: Db, f: impl FnOnce(&mut Server)) {
    with_server(db, "", f);
}

// ---- item 1: roles ----------------------------------------------------

fn role_crud(s: &mut Server) {
    let root = s.root();
    let alice = user_with_policy(
        s,
        &root,
        "alice",
        r#"{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}"#,
    );
    let alice_id = s.call(&root, "GET", "/v1/users/alice", None).ok()["userId"]
        .as_str()
        .unwrap()
        .to_owned();
    let t = trust(s, json!({"AWS": user_arn(s, "alice")}), json!({}));
    let r = s
        .call(
            &root,
            "POST",
            "/v1/roles",
            Some(
                &json!({"name": "deploy", "path": "/ci/", "description": "CI deploys",
                "assumeRolePolicyDocument": t, "maxSessionDuration": 7200,
                "tags": [{"key": "team", "value": "blue"}]})
                .to_string(),
            ),
        )
        .ok()
        .clone();
    assert!(r["roleId"].as_str().unwrap().starts_with("AROA"), "{r}");
    assert_eq!(
        r["arn"],
        format!("arn:ward:iam::{}:role/ci/deploy", s.account)
    );
    assert_eq!(r["maxSessionDuration"], 7200);
    // Stored by unique id, shown by ARN while the user exists.
    let stored = s.sql("SELECT trust_policy FROM roles WHERE name = 'deploy'");
    assert!(
        stored.contains(&alice_id) && !stored.contains("user/alice"),
        "{stored}"
    );
    let got = s.call(&root, "GET", "/v1/roles/deploy", None).ok().clone();
    assert_eq!(
        got["assumeRolePolicyDocument"]["Statement"][0]["Principal"]["AWS"],
        user_arn(s, "alice")
    );
    assert_eq!(got["tags"][0]["key"], "team");
    // Listing, by prefix.
    let l = s
        .call(&root, "GET", "/v1/roles?pathPrefix=%2Fci%2F", None)
        .ok()
        .clone();
    assert_eq!(l["roles"].as_array().unwrap().len(), 1);
    let l = s
        .call(&root, "GET", "/v1/roles?pathPrefix=%2Fother%2F", None)
        .ok()
        .clone();
    assert_eq!(l["roles"].as_array().unwrap().len(), 0);
    // Update.
    let u = s
        .call(
            &root,
            "PATCH",
            "/v1/roles/deploy",
            Some(r#"{"description":"d2","maxSessionDuration":43200}"#),
        )
        .ok()
        .clone();
    assert_eq!(u["description"], "d2");
    assert_eq!(u["maxSessionDuration"], 43200);
    for bad in [3599, 43201] {
        let e = s.call(
            &root,
            "PATCH",
            "/v1/roles/deploy",
            Some(&json!({"maxSessionDuration": bad}).to_string()),
        );
        e.err(400, "ValidationError");
        assert_eq!(e.field(), "maxSessionDuration");
    }
    // A second role of the same name (any case) is refused.
    s.call(
        &root,
        "POST",
        "/v1/roles",
        Some(&json!({"name": "DEPLOY", "assumeRolePolicyDocument": t}).to_string()),
    )
    .err(409, "EntityAlreadyExists");
    // Trust policies are validated as trust policies.
    let no_principal =
        json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole"}]});
    let e = s.call(
        &root,
        "POST",
        "/v1/roles",
        Some(&json!({"name": "x", "assumeRolePolicyDocument": no_principal}).to_string()),
    );
    e.err(400, "MalformedPolicyDocument");
    assert_eq!(e.field(), "assumeRolePolicyDocument");
    let ghost = trust(s, json!({"AWS": user_arn(s, "nobody")}), json!({}));
    let e = s.call(
        &root,
        "POST",
        "/v1/roles",
        Some(&json!({"name": "x", "assumeRolePolicyDocument": ghost}).to_string()),
    );
    assert!(e.err(400, "MalformedPolicyDocument").contains("nobody"));
    let e = s.call(
        &root,
        "POST",
        "/v1/roles",
        Some(&json!({"name": "bad name", "assumeRolePolicyDocument": t}).to_string()),
    );
    assert_eq!((e.status, e.field()), (400, "name"));
    let e = s.call(
        &root,
        "POST",
        "/v1/roles",
        Some(
            &json!({"name": "x", "assumeRolePolicyDocument": t, "maxSessionDuration": 60})
                .to_string(),
        ),
    );
    assert_eq!((e.status, e.field()), (400, "maxSessionDuration"));
    assert_eq!(
        s.sql("SELECT COUNT(*) FROM roles"),
        "1",
        "nothing half-written"
    );
    // Tags.
    let tg = s
        .call(
            &root,
            "POST",
            "/v1/roles/deploy/tags",
            Some(r#"{"tags":[{"key":"env","value":"prod"}]}"#),
        )
        .ok()
        .clone();
    assert_eq!(tg["tags"].as_array().unwrap().len(), 2);
    let tg = s
        .call(&root, "DELETE", "/v1/roles/deploy/tags?keys=team", None)
        .ok()
        .clone();
    assert_eq!(tg["tags"], json!([{"key": "env", "value": "prod"}]));
    // Policies: inline and managed, through the shared routes.
    s.call(&root, "POST", "/v1/policies", Some(&json!({"name": "ReadOnly", "document": {"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:Get*","Resource":"*"}]}}).to_string())).ok();
    s.call(
        &root,
        "PUT",
        "/v1/roles/deploy/attached-policies/ReadOnly",
        None,
    )
    .ok();
    let a = s
        .call(&root, "GET", "/v1/roles/deploy/attached-policies", None)
        .ok()
        .clone();
    assert_eq!(a["policies"][0]["name"], "ReadOnly");
    s.call(&root, "PUT", "/v1/roles/deploy/policies/inl", Some(&json!({"document": {"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:ListUsers","Resource":"*"}]}}).to_string())).ok();
    assert_eq!(
        s.call(&root, "GET", "/v1/roles/deploy/policies", None).ok()["policyNames"],
        json!(["inl"])
    );
    assert_eq!(
        s.call(&root, "GET", "/v1/roles/deploy/policies/inl", None)
            .ok()["name"],
        "inl"
    );
    // Boundary.
    s.call(
        &root,
        "PUT",
        "/v1/roles/deploy/permissions-boundary",
        Some(r#"{"policy":"ReadOnly"}"#),
    )
    .ok();
    assert!(
        s.call(&root, "GET", "/v1/roles/deploy", None).ok()["permissionsBoundary"]
            .as_str()
            .unwrap()
            .ends_with("policy/ReadOnly")
    );
    s.call(
        &root,
        "DELETE",
        "/v1/roles/deploy/permissions-boundary",
        None,
    )
    .ok();
    s.call(
        &root,
        "DELETE",
        "/v1/roles/deploy/permissions-boundary",
        None,
    )
    .err(404, "NoSuchEntity");
    // A policy that is only a role's boundary: listed by ?usage=boundary,
    // counted, and not deletable while it is one (the role would name a
    // policy that no longer exists, and every decision for it would fail).
    s.call(&root, "POST", "/v1/policies", Some(&json!({"name": "Fence", "document": {"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}}).to_string())).ok();
    s.call(
        &root,
        "PUT",
        "/v1/roles/deploy/permissions-boundary",
        Some(r#"{"policy":"Fence"}"#),
    )
    .ok();
    let r = s.call(
        &root,
        "GET",
        "/v1/policies/Fence/entities?usage=boundary",
        None,
    );
    let b = r.ok();
    assert_eq!(b["policyRoles"][0]["name"], "deploy", "{b}");
    assert_eq!(b["policyUsers"], json!([]), "{b}");
    assert_eq!(
        s.call(&root, "GET", "/v1/policies/Fence/entities", None)
            .ok()["policyRoles"],
        json!([])
    );
    s.call(
        &root,
        "GET",
        "/v1/policies/Fence/entities?usage=other",
        None,
    )
    .err(400, "ValidationError");
    assert_eq!(
        s.call(&root, "GET", "/v1/policies/Fence", None).ok()["boundaryUsageCount"],
        1
    );
    assert!(s
        .call(&root, "DELETE", "/v1/policies/Fence", None)
        .err(409, "DeleteConflict")
        .contains("boundary of 1"));
    // The role still decides (its boundary is still there).
    s.call(&root, "GET", "/v1/roles/deploy", None).ok();
    s.call(
        &root,
        "DELETE",
        "/v1/roles/deploy/permissions-boundary",
        None,
    )
    .ok();
    assert_eq!(
        s.call(&root, "GET", "/v1/policies/Fence", None).ok()["boundaryUsageCount"],
        0
    );
    s.call(&root, "DELETE", "/v1/policies/Fence", None).ok();
    // DeleteConflict while policies are attached, as AWS.
    assert!(s
        .call(&root, "DELETE", "/v1/roles/deploy", None)
        .err(409, "DeleteConflict")
        .contains("attached policies"));
    s.call(
        &root,
        "DELETE",
        "/v1/roles/deploy/attached-policies/ReadOnly",
        None,
    )
    .ok();
    assert!(s
        .call(&root, "DELETE", "/v1/roles/deploy", None)
        .err(409, "DeleteConflict")
        .contains("inline policies"));
    s.call(&root, "DELETE", "/v1/roles/deploy/policies/inl", None)
        .ok();
    // A deleted user's id stays bare in the trust policy, and the user
    // re-created under the same name is not trusted.
    s.call(&root, "DELETE", "/v1/users/alice/policies/ca", None)
        .ok();
    s.call(
        &root,
        "DELETE",
        &format!("/v1/users/alice/access-keys/{}", alice.id),
        None,
    )
    .ok();
    s.call(&root, "DELETE", "/v1/users/alice", None).ok();
    let got = s.call(&root, "GET", "/v1/roles/deploy", None).ok().clone();
    assert_eq!(
        got["assumeRolePolicyDocument"]["Statement"][0]["Principal"]["AWS"],
        alice_id.as_str()
    );
    let alice2 = user_with_policy(
        s,
        &root,
        "alice",
        r#"{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}"#,
    );
    let got = s.call(&root, "GET", "/v1/roles/deploy", None).ok().clone();
    assert_eq!(
        got["assumeRolePolicyDocument"]["Statement"][0]["Principal"]["AWS"],
        alice_id.as_str()
    );
    let e = assume(
        s,
        &alice2,
        json!({"roleArn": got["arn"], "roleSessionName": "s1"}),
    );
    assert_eq!(e.status, 403, "{}", e.body);
    // The unknown role, and deletion.
    s.call(&root, "GET", "/v1/roles/nope", None)
        .err(404, "NoSuchEntity");
    s.call(&root, "DELETE", "/v1/roles/deploy", None).ok();
    s.call(&root, "GET", "/v1/roles/deploy", None)
        .err(404, "NoSuchEntity");
    assert_eq!(s.sql("SELECT COUNT(*) FROM role_tags"), "0");
    // Every mutation was audited.
    let ev = s
        .call(
            &root,
            "GET",
            "/v1/audit/events?action=iam%3ACreateRole",
            None,
        )
        .ok()
        .clone();
    assert_eq!(ev["events"].as_array().unwrap().len(), 1, "{ev}");
}

#[test]
fn role_crud_sqlite() {
    with_db(Db::Sqlite, role_crud);
}

#[test]
fn role_crud_postgres() {
    with_db(Db::Postgres, role_crud);
}

// ---- item 2: AssumeRole and role sessions -----------------------------

fn assume_role(s: &mut Server) {
    let root = s.root();
    let alice = user_with_policy(
        s,
        &root,
        "alice",
        r#"{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}"#,
    );
    let bob = user_with_policy(
        s,
        &root,
        "bob",
        r#"{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}"#,
    );
    create_role(
        s,
        &root,
        "deploy",
        &trust(s, json!({"AWS": user_arn(s, "alice")}), json!({})),
        r#"{"Effect":"Allow","Action":["iam:ListUsers","iam:GetUser","iam:ListRoles"],"Resource":"*"}"#,
    );
    let arn = s.role_arn("deploy");
    // The trusted user, named directly by the trust policy, assumes it.
    let r = assume(
        s,
        &alice,
        json!({"roleArn": arn, "roleSessionName": "s1", "durationSeconds": 900}),
    );
    let body = r.ok().clone();
    let sc = session_creds(&r);
    assert!(sc.id.starts_with("ASIA") && sc.id.len() == 20, "{body}");
    let role_id = s.call(&root, "GET", "/v1/roles/deploy", None).ok()["roleId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        body["assumedRoleUser"]["assumedRoleId"],
        format!("{role_id}:s1")
    );
    // curl --aws-sigv4 with x-amz-security-token: the session's identity.
    let who = s.call(&sc, "GET", "/v1/whoami", None).ok().clone();
    assert_eq!(
        who["arn"],
        format!("arn:ward:sts::{}:assumed-role/deploy/s1", s.account)
    );
    assert_eq!(who["userId"], format!("{role_id}:s1"));
    assert_eq!(who["authMethod"], "session");
    // The role's policies, not alice's.
    s.call(&sc, "GET", "/v1/users", None).ok();
    s.call(&alice, "GET", "/v1/users", None)
        .err(403, "AccessDenied");
    s.call(&sc, "POST", "/v1/users", Some(r#"{"name":"mallory"}"#))
        .err(403, "AccessDenied");
    // As AWS, ward:PrincipalArn of a role session is the role's ARN.
    let cond = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:ListGroups","Resource":"*",
        "Condition":{"ArnEquals":{"ward:PrincipalArn": arn}, "StringEquals":{"ward:userid": format!("{role_id}:s1"), "ward:PrincipalType":"AssumedRole"}}}]});
    s.call(
        &root,
        "PUT",
        "/v1/roles/deploy/policies/arn",
        Some(&json!({"document": cond}).to_string()),
    )
    .ok();
    s.call(&sc, "GET", "/v1/groups", None).ok();
    s.call(&root, "DELETE", "/v1/roles/deploy/policies/arn", None)
        .ok();
    s.call(&sc, "GET", "/v1/groups", None)
        .err(403, "AccessDenied");
    // The bearer form works too.
    let tok = sc.token.clone().unwrap();
    let b = s.raw(
        "GET",
        "/v1/whoami",
        &[("authorization", &format!("Bearer {tok}"))],
        None,
    );
    assert_eq!(b.ok()["arn"], who["arn"]);
    // Wrong principal: bob is not trusted, whatever his own policy says.
    let e = assume(s, &bob, json!({"roleArn": arn, "roleSessionName": "s2"}));
    e.err(403, "AccessDenied");
    // Root never assumes roles.
    assume(s, &root, json!({"roleArn": arn, "roleSessionName": "s3"})).err(403, "AccessDenied");

    // A trust policy naming the account delegates to identity policies.
    create_role(
        s,
        &root,
        "acct",
        &trust(s, json!({"AWS": s.account.clone()}), json!({})),
        "",
    );
    assume(
        s,
        &bob,
        json!({"roleArn": s.role_arn("acct"), "roleSessionName": "ok"}),
    )
    .ok();
    assume(
        s,
        &alice,
        json!({"roleArn": s.role_arn("acct"), "roleSessionName": "no"}),
    )
    .err(403, "AccessDenied");

    // ExternalId.
    create_role(
        s,
        &root,
        "ext",
        &trust(
            s,
            json!({"AWS": user_arn(s, "alice")}),
            json!({"Condition": {"StringEquals": {"sts:ExternalId": "xyz-123"}}}),
        ),
        "",
    );
    let ext = s.role_arn("ext");
    assume(s, &alice, json!({"roleArn": ext, "roleSessionName": "ee"})).err(403, "AccessDenied");
    assume(
        s,
        &alice,
        json!({"roleArn": ext, "roleSessionName": "ee", "externalId": "xyz-124"}),
    )
    .err(403, "AccessDenied");
    assume(
        s,
        &alice,
        json!({"roleArn": ext, "roleSessionName": "ee", "externalId": "xyz-123"}),
    )
    .ok();

    // Session tags need sts:TagSession in the trust policy.
    let tags = json!([{"key": "team", "value": "blue"}, {"key": "cost", "value": "7"}]);
    let e = assume(
        s,
        &alice,
        json!({"roleArn": arn, "roleSessionName": "tt", "tags": tags}),
    );
    assert!(
        e.err(403, "AccessDenied").contains("sts:TagSession"),
        "{}",
        e.body
    );
    let both = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS": user_arn(s, "alice")},"Action":["sts:AssumeRole","sts:TagSession"]}]});
    s.call(
        &root,
        "PUT",
        "/v1/roles/deploy/trust-policy",
        Some(&json!({"document": both}).to_string()),
    )
    .ok();
    let tagged = session_creds(&assume(
        s,
        &alice,
        json!({"roleArn": arn, "roleSessionName": "tt", "tags": tags, "transitiveTagKeys": ["team"]}),
    ));

    // Chaining: a second role trusts the deploy role; its policy needs
    // the transitive tag; the chained session is capped at one hour.
    create_role(
        s,
        &root,
        "second",
        &json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS": arn},"Action":["sts:AssumeRole","sts:TagSession"]}]}),
        r#"{"Effect":"Allow","Action":"iam:ListUsers","Resource":"*","Condition":{"StringEquals":{"ward:PrincipalTag/team":"blue"}}},
           {"Effect":"Allow","Action":"iam:ListRoles","Resource":"*","Condition":{"StringEquals":{"ward:PrincipalTag/cost":"7"}}}"#,
    );
    let second = s.role_arn("second");
    let e = assume(
        s,
        &tagged,
        json!({"roleArn": second, "roleSessionName": "cc", "durationSeconds": 3601}),
    );
    e.err(400, "ValidationError");
    assert_eq!(e.field(), "durationSeconds");
    assert!(e.body.to_string().contains("chaining"), "{}", e.body);
    let chained = session_creds(&assume(
        s,
        &tagged,
        json!({"roleArn": second, "roleSessionName": "cc", "durationSeconds": 3600}),
    ));
    assert_eq!(
        s.call(&chained, "GET", "/v1/whoami", None).ok()["arn"],
        format!("arn:ward:sts::{}:assumed-role/second/cc", s.account)
    );
    // team (transitive) came along; cost (not transitive) did not.
    s.call(&chained, "GET", "/v1/users", None).ok();
    s.call(&chained, "GET", "/v1/roles", None)
        .err(403, "AccessDenied");
    // A transitive tag cannot be overridden down the chain.
    let e = assume(
        s,
        &tagged,
        json!({"roleArn": second, "roleSessionName": "cc", "tags": [{"key": "team", "value": "red"}]}),
    );
    assert_eq!((e.status, e.field()), (400, "tags[0]"));
    // The non-chained role maximum applies otherwise.
    let e = assume(
        s,
        &alice,
        json!({"roleArn": arn, "roleSessionName": "long", "durationSeconds": 7201}),
    );
    assert_eq!((e.status, e.field()), (400, "durationSeconds"));
    assume(
        s,
        &alice,
        json!({"roleArn": arn, "roleSessionName": "long", "durationSeconds": 7200}),
    )
    .ok();

    // Session policy ∩ role policies.
    let sp = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:GetUser","iam:CreateUser"],"Resource":"*"}]});
    let narrow = session_creds(&assume(
        s,
        &alice,
        json!({"roleArn": arn, "roleSessionName": "nn", "policy": sp}),
    ));
    s.call(&narrow, "GET", "/v1/users/alice", None).ok();
    let e = s.call(&narrow, "GET", "/v1/users", None);
    assert!(
        e.err(403, "AccessDenied")
            .to_lowercase()
            .contains("session"),
        "{}",
        e.body
    );
    // CreateUser is in the session policy but not the role's: refused.
    s.call(&narrow, "POST", "/v1/users", Some(r#"{"name":"eve"}"#))
        .err(403, "AccessDenied");
    // A managed session policy by ARN.
    s.call(&root, "POST", "/v1/policies", Some(&json!({"name": "OnlyRoles", "document": {"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:ListRoles","Resource":"*"}]}}).to_string())).ok();
    let by_arn = session_creds(&assume(
        s,
        &alice,
        json!({"roleArn": arn, "roleSessionName": "mm", "policyArns": [format!("arn:ward:iam::{}:policy/OnlyRoles", s.account)]}),
    ));
    s.call(&by_arn, "GET", "/v1/roles", None).ok();
    s.call(&by_arn, "GET", "/v1/users", None)
        .err(403, "AccessDenied");

    // Boundary ∩ role policies, applied to sessions already open.
    s.call(
        &root,
        "PUT",
        "/v1/roles/deploy/permissions-boundary",
        Some(r#"{"policy":"OnlyRoles"}"#),
    )
    .ok();
    s.call(&sc, "GET", "/v1/roles", None).ok();
    let e = s.call(&sc, "GET", "/v1/users", None);
    assert!(
        e.err(403, "AccessDenied")
            .to_lowercase()
            .contains("boundary"),
        "{}",
        e.body
    );
    s.call(
        &root,
        "DELETE",
        "/v1/roles/deploy/permissions-boundary",
        None,
    )
    .ok();
    s.call(&sc, "GET", "/v1/users", None).ok();

    // Tampered token, then an expired session.
    let mut bad = sc.clone();
    bad.token = Some(format!("{}x", tok));
    s.call(&bad, "GET", "/v1/whoami", None)
        .err(403, "InvalidClientTokenId");
    let mut bad = sc.clone();
    bad.secret = format!("{}x", &sc.secret[1..]);
    s.call(&bad, "GET", "/v1/whoami", None)
        .err(403, "SignatureDoesNotMatch");
    s.sql(&format!(
        "UPDATE sessions SET expires_at = 1 WHERE access_key_id = '{}'",
        sc.id
    ));
    // The daemon caches an authenticated role session until the store
    // generation moves or its expiry passes; an SQL edit behind its back
    // is neither, so an IAM write makes it read the row again.
    s.call(&root, "POST", "/v1/users", Some(r#"{"name":"generation"}"#))
        .ok();
    s.call(&sc, "GET", "/v1/whoami", None)
        .err(403, "ExpiredToken");
    let b = s.raw(
        "GET",
        "/v1/whoami",
        &[("authorization", &format!("Bearer {tok}"))],
        None,
    );
    b.err(401, "ExpiredToken");

    // AssumeRole is audited, with the session it opened.
    let ev = s
        .call(
            &root,
            "GET",
            "/v1/audit/events?action=sts%3AAssumeRole",
            None,
        )
        .ok()
        .clone();
    let evs = ev["events"].as_array().unwrap();
    assert!(
        evs.iter()
            .any(|e| e["decision"] == "Allowed" && e["detail"]["roleSessionName"] == "s1"),
        "{ev}"
    );
    assert!(
        evs.iter()
            .any(|e| e["decision"] != "Allowed" && e["principal"] == user_arn(s, "bob")),
        "{ev}"
    );

    // Deleting the role ends its sessions.
    s.call(&root, "DELETE", "/v1/roles/second/policies/p", None)
        .ok();
    s.call(&chained, "GET", "/v1/whoami", None).ok();
    s.call(&root, "DELETE", "/v1/roles/second", None).ok();
    s.call(&chained, "GET", "/v1/whoami", None)
        .err(403, "InvalidClientTokenId");
}

#[test]
fn assume_role_sqlite() {
    with_db(Db::Sqlite, assume_role);
}

#[test]
fn assume_role_postgres() {
    with_db(Db::Postgres, assume_role);
}

fn revoke_sessions(s: &mut Server) {
    let root = s.root();
    let alice = user_with_policy(
        s,
        &root,
        "alice",
        r#"{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}"#,
    );
    create_role(
        s,
        &root,
        "ops",
        &trust(s, json!({"AWS": user_arn(s, "alice")}), json!({})),
        r#"{"Effect":"Allow","Action":"iam:ListUsers","Resource":"*"}"#,
    );
    let arn = s.role_arn("ops");
    let old = session_creds(&assume(
        s,
        &alice,
        json!({"roleArn": arn, "roleSessionName": "old"}),
    ));
    s.call(&old, "GET", "/v1/users", None).ok();
    let r = s
        .call(&root, "POST", "/v1/roles/ops/revoke-sessions", None)
        .ok()
        .clone();
    assert_eq!(r["policyName"], "AWSRevokeOlderSessions");
    let e = s.call(&old, "GET", "/v1/users", None);
    assert!(
        e.err(403, "AccessDenied").contains("explicit"),
        "{}",
        e.body
    );
    // GetCallerIdentity is never denied.
    s.call(&old, "GET", "/v1/whoami", None).ok();
    // The deny is the role inline policy, conditioned on TokenIssueTime.
    let doc = s
        .call(
            &root,
            "GET",
            "/v1/roles/ops/policies/AWSRevokeOlderSessions",
            None,
        )
        .ok()
        .clone();
    assert_eq!(
        doc["document"]["Statement"][0]["Condition"]["DateLessThan"]["ward:TokenIssueTime"],
        r["revokedBefore"]
    );
    // A session issued at or after revokedBefore works: retry until the
    // daemon's clock passes it (each try is a new session).
    let mut fresh_ok = false;
    for _ in 0..50 {
        let fresh = session_creds(&assume(
            s,
            &alice,
            json!({"roleArn": arn, "roleSessionName": "new"}),
        ));
        if s.call(&fresh, "GET", "/v1/users", None).status == 200 {
            fresh_ok = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(
        fresh_ok,
        "sessions assumed after the revocation keep working"
    );
    s.call(&old, "GET", "/v1/users", None)
        .err(403, "AccessDenied");
    // Only root or a caller allowed iam:PutRolePolicy may revoke.
    s.call(&alice, "POST", "/v1/roles/ops/revoke-sessions", None)
        .err(403, "AccessDenied");
}

#[test]
fn revoke_sessions_sqlite() {
    with_db(Db::Sqlite, revoke_sessions);
}

#[test]
fn revoke_sessions_postgres() {
    with_db(Db::Postgres, revoke_sessions);
}

fn session_token(s: &mut Server) {
    let root = s.root();
    let alice = user_with_policy(
        s,
        &root,
        "alice",
        r#"{"Effect":"Allow","Action":["sts:GetSessionToken","iam:GetUser"],"Resource":"*"}"#,
    );
    let bob = user_with_policy(
        s,
        &root,
        "bob",
        r#"{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}"#,
    );
    let r = s.call(
        &alice,
        "POST",
        "/v1/sts/session-token",
        Some(r#"{"durationSeconds":900}"#),
    );
    let t = creds_of(r.ok());
    assert!(t.id.starts_with("ASIA"));
    let who = s.call(&t, "GET", "/v1/whoami", None).ok().clone();
    assert_eq!(who["arn"], user_arn(s, "alice"));
    assert_eq!(who["authMethod"], "session");
    s.call(&t, "GET", "/v1/users/bob", None).ok();
    // Listed as alice's session.
    let l = s
        .call(&root, "GET", "/v1/users/alice/sessions", None)
        .ok()
        .clone();
    assert_eq!(l["sessions"][0]["id"], t.id.as_str());
    // Long-term keys only; durations 900..129600; policy decides.
    s.call(&t, "POST", "/v1/sts/session-token", Some("{}"))
        .err(403, "AccessDenied");
    for bad in [899, 129_601] {
        let e = s.call(
            &alice,
            "POST",
            "/v1/sts/session-token",
            Some(&json!({"durationSeconds": bad}).to_string()),
        );
        assert_eq!((e.status, e.field()), (400, "durationSeconds"));
    }
    s.call(&bob, "POST", "/v1/sts/session-token", Some("{}"))
        .err(403, "AccessDenied");
    let e = s.call(&root, "POST", "/v1/sts/session-token", Some("{}"));
    assert_eq!((e.status, e.field()), (400, "caller"));
    // GetCallerIdentity works for every identity kind.
    for c in [&root, &alice, &t] {
        s.call(c, "GET", "/v1/whoami", None).ok();
    }
}

#[test]
fn session_token_sqlite() {
    with_db(Db::Sqlite, session_token);
}

#[test]
fn session_token_postgres() {
    with_db(Db::Postgres, session_token);
}

// ---- bad input ------------------------------------------------------------

#[test]
fn assume_role_bad_input_names_the_field() {
    with_db(Db::Sqlite, |s| {
        let root = s.root();
        let alice = user_with_policy(
            s,
            &root,
            "alice",
            r#"{"Effect":"Allow","Action":"iam:GetRole","Resource":"*"}"#,
        );
        let bob = user_with_policy(
            s,
            &root,
            "bob",
            r#"{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}"#,
        );
        create_role(
            s,
            &root,
            "r",
            &trust(s, json!({"AWS": user_arn(s, "alice")}), json!({})),
            "",
        );
        let arn = s.role_arn("r");
        let big_statement = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"iam:GetUser","Resource":[{}]}}]}}"#,
            (0..120)
                .map(|i| format!("\"arn:ward:iam::{}:user/u{i:04}\"", s.account))
                .collect::<Vec<_>>()
                .join(",")
        );
        let fifty_one: Vec<Value> = (0..51)
            .map(|i| json!({"key": format!("k{i}"), "value": "v"}))
            .collect();
        let eleven: Vec<String> = (0..11).map(|i| format!("p{i}")).collect();
        let cases: Vec<(Value, u16, &str)> = vec![
            (
                json!({"roleArn": arn, "roleSessionName": "a"}),
                400,
                "roleSessionName",
            ),
            (
                json!({"roleArn": arn, "roleSessionName": "bad name!"}),
                400,
                "roleSessionName",
            ),
            (
                json!({"roleArn": arn, "roleSessionName": "x".repeat(65)}),
                400,
                "roleSessionName",
            ),
            (
                json!({"roleArn": arn, "roleSessionName": "ok", "durationSeconds": 899}),
                400,
                "durationSeconds",
            ),
            (
                json!({"roleArn": arn, "roleSessionName": "ok", "durationSeconds": 7201}),
                400,
                "durationSeconds",
            ),
            (
                json!({"roleArn": arn, "roleSessionName": "ok", "tags": fifty_one}),
                400,
                "tags",
            ),
            (
                json!({"roleArn": arn, "roleSessionName": "ok", "policy": big_statement}),
                400,
                "policy",
            ),
            (
                json!({"roleArn": arn, "roleSessionName": "ok", "policy": {"Statement": []}}),
                400,
                "policy",
            ),
            (
                json!({"roleArn": arn, "roleSessionName": "ok", "policyArns": eleven}),
                400,
                "policyArns",
            ),
            (
                json!({"roleArn": arn, "roleSessionName": "ok", "policyArns": ["NoSuchPolicy"]}),
                400,
                "policyArns[0]",
            ),
            (
                json!({"roleArn": arn, "roleSessionName": "ok", "externalId": "x"}),
                400,
                "externalId",
            ),
            (
                json!({"roleArn": arn, "roleSessionName": "ok", "sourceIdentity": "has space"}),
                400,
                "sourceIdentity",
            ),
            (
                json!({"roleArn": arn, "roleSessionName": "ok", "tags": [{"key": "a", "value": "b"}], "transitiveTagKeys": ["c"]}),
                400,
                "transitiveTagKeys[0]",
            ),
            (
                json!({"roleArn": "arn:ward:iam::123456789012:user/x", "roleSessionName": "ok"}),
                400,
                "roleArn",
            ),
            (
                json!({"roleArn": s.role_arn("nope"), "roleSessionName": "ok"}),
                400,
                "roleArn",
            ),
            (
                json!({"roleArn": arn, "roleSessionName": "ok", "bogus": 1}),
                400,
                "bogus",
            ),
        ];
        for (body, status, field) in cases {
            let r = assume(s, &alice, body.clone());
            assert_eq!(
                (r.status, r.field()),
                (status, field),
                "{body} → {}",
                r.body
            );
        }
        // An unknown role is a 404 only to a caller who may read roles.
        assume(
            s,
            &alice,
            json!({"roleArn": s.role_arn("nope"), "roleSessionName": "ok"}),
        )
        .err(400, "NoSuchEntity");
        assume(
            s,
            &bob,
            json!({"roleArn": s.role_arn("nope"), "roleSessionName": "ok"}),
        )
        .err(403, "AccessDenied");
        assert_eq!(
            s.sql("SELECT COUNT(*) FROM sessions"),
            "0",
            "no session was opened"
        );
    });
}

/// A session policy's Deny on `ward:ResourceTag/*` applies even when none
/// of the role's own policies looks at tags (the daemon reads a target's
/// tags only for callers whose policies can look at them).
fn session_policy_resource_tag_deny(s: &mut Server) {
    let root = s.root();
    let alice = user_with_policy(
        s,
        &root,
        "alice",
        r#"{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}"#,
    );
    s.call(
        &root,
        "POST",
        "/v1/users",
        Some(r#"{"name":"vip","tags":[{"key":"protected","value":"yes"}]}"#),
    )
    .ok();
    s.call(&root, "POST", "/v1/users", Some(r#"{"name":"plain"}"#))
        .ok();
    create_role(
        s,
        &root,
        "r",
        &trust(s, json!({"AWS": user_arn(s, "alice")}), json!({})),
        r#"{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}"#,
    );
    let sp = json!({"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"*","Resource":"*"},
        {"Effect":"Deny","Action":"iam:GetUser","Resource":"*","Condition":{"StringEquals":{"ward:ResourceTag/protected":"yes"}}}]});
    let sc = session_creds(&assume(
        s,
        &alice,
        json!({"roleArn": s.role_arn("r"), "roleSessionName": "sp", "policy": sp}),
    ));
    s.call(&sc, "GET", "/v1/users/plain", None).ok();
    s.call(&sc, "GET", "/v1/users/vip", None)
        .err(403, "AccessDenied");
}

#[test]
fn session_policy_resource_tag_deny_sqlite() {
    with_db(Db::Sqlite, session_policy_resource_tag_deny);
}

/// `SELECT` of the database's clock in Unix seconds plus `secs`.
fn db_now_plus(s: &Server, secs: i64) -> String {
    match s.db {
        Db::Sqlite => format!("CAST(strftime('%s','now') AS INTEGER) + {secs}"),
        Db::Postgres => format!("CAST(EXTRACT(EPOCH FROM now()) AS BIGINT) + {secs}"),
    }
}

/// Role sessions are authenticated from an in-memory cache (issue #14
/// item 1 perf): no row read per request, counted by
/// `ward_auth_role_session_cache_hits_total`; a cached session is still
/// checked for its token, its signature and its expiry on every use, and
/// revoke-sessions and role deletion end it at once.
fn role_session_cache(s: &mut Server) {
    const HITS: &str = "ward_auth_role_session_cache_hits_total";
    let root = s.root();
    let alice = user_with_policy(
        s,
        &root,
        "alice",
        r#"{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}"#,
    );
    for name in ["reader", "doomed"] {
        create_role(
            s,
            &root,
            name,
            &trust(s, json!({"AWS": user_arn(s, "alice")}), json!({})),
            r#"{"Effect":"Allow","Action":["iam:ListUsers","iam:GetUser"],"Resource":"*"}"#,
        );
    }
    let sc = session_creds(&assume(
        s,
        &alice,
        json!({"roleArn": s.role_arn("reader"), "roleSessionName": "c1"}),
    ));
    let h0 = s.metric(HITS);
    // The first request reads the row; the next two come from the cache.
    for _ in 0..3 {
        s.call(&sc, "GET", "/v1/users", None).ok();
    }
    assert_eq!(s.metric(HITS), h0 + 2, "two requests served from the cache");
    // A cached session still checks the token and the signature.
    let mut bad = sc.clone();
    bad.token = Some(format!("{}x", sc.token.clone().unwrap()));
    s.call(&bad, "GET", "/v1/users", None)
        .err(403, "InvalidClientTokenId");
    let mut bad = sc.clone();
    bad.secret = format!("{}x", &sc.secret[1..]);
    s.call(&bad, "GET", "/v1/users", None)
        .err(403, "SignatureDoesNotMatch");
    assert_eq!(s.metric(HITS), h0 + 4, "both refusals were cache hits");

    // Expiry is checked on every use of a cached session: a session that
    // expires in a few seconds works (and is cached), then is refused
    // from the cache, with no store change in between.
    let short = session_creds(&assume(
        s,
        &alice,
        json!({"roleArn": s.role_arn("reader"), "roleSessionName": "short"}),
    ));
    s.sql(&format!(
        "UPDATE sessions SET expires_at = {} WHERE access_key_id = '{}'",
        db_now_plus(s, 3),
        short.id
    ));
    s.call(&short, "GET", "/v1/users", None).ok();
    let mut refused = false;
    for _ in 0..100 {
        let before = s.metric(HITS);
        let r = s.call(&short, "GET", "/v1/users", None);
        if r.status != 200 {
            r.err(403, "ExpiredToken");
            assert_eq!(s.metric(HITS), before + 1, "refused from the cache");
            refused = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(refused, "the cached session expired");

    // revoke-sessions ends a cached session on its next request.
    s.call(&sc, "GET", "/v1/users", None).ok();
    s.call(&root, "POST", "/v1/roles/reader/revoke-sessions", None)
        .ok();
    s.call(&sc, "GET", "/v1/users", None)
        .err(403, "AccessDenied");
    // Deleting the role ends its cached sessions.
    let d = session_creds(&assume(
        s,
        &alice,
        json!({"roleArn": s.role_arn("doomed"), "roleSessionName": "dd"}),
    ));
    s.call(&d, "GET", "/v1/users", None).ok();
    s.call(&d, "GET", "/v1/users", None).ok();
    s.call(&root, "DELETE", "/v1/roles/doomed/policies/p", None)
        .ok();
    s.call(&root, "DELETE", "/v1/roles/doomed", None).ok();
    s.call(&d, "GET", "/v1/whoami", None)
        .err(403, "InvalidClientTokenId");
}

#[test]
fn role_session_cache_sqlite() {
    with_db(Db::Sqlite, role_session_cache);
}

#[test]
fn role_session_cache_postgres() {
    with_db(Db::Postgres, role_session_cache);
}

/// A scratch directory removed on drop.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let p = std::env::temp_dir().join(format!("ward-rolecert-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Issue #14 item 5: a role session gets SSH and X.509 certificates that
/// name the session (key id `AROA…:SESSION:ISSUED`, URI SAN
/// `spiffe://TD/role/ROLE/SESSION`), decided by the role's policies,
/// capped by the session's expiry and recorded in the inventory; a
/// session with a session policy gets none (hosts could not apply it).
fn role_session_certificates(s: &mut Server) {
    let root = s.root();
    let alice = user_with_policy(
        s,
        &root,
        "alice",
        r#"{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}"#,
    );
    create_role(
        s,
        &root,
        "ops",
        &trust(s, json!({"AWS": user_arn(s, "alice")}), json!({})),
        r#"{"Effect":"Allow","Action":"ca:IssueSshUserCertificate","Resource":"*",
            "Condition":{"ForAllValues:StringEquals":{"ca:Principals":["deploy"]}}},
           {"Effect":"Allow","Action":"ca:IssueX509Certificate","Resource":"*"}"#,
    );
    let role_id = s.call(&root, "GET", "/v1/roles/ops", None).ok()["roleId"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = assume(
        s,
        &alice,
        json!({"roleArn": s.role_arn("ops"), "roleSessionName": "oncall", "durationSeconds": 900}),
    );
    let sc = session_creds(&r);
    let expires = r.ok()["credentials"]["expiration"]
        .as_str()
        .unwrap()
        .to_owned();
    let issued = s.sql(&format!(
        "SELECT created_at FROM sessions WHERE access_key_id = '{}'",
        sc.id
    ));
    let dir = Scratch::new();
    let key = dir.0.join("id");
    run_ok(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key),
    );
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();

    // SSH: no principal is a 400 naming the field; one the role may not
    // have is denied by the role's policy; an allowed one is issued.
    let ask = |principals: Value, validity: i64| {
        json!({"publicKey": public.trim(), "principals": principals, "validitySeconds": validity})
            .to_string()
    };
    s.call(
        &sc,
        "POST",
        "/v1/ssh/user-certificates",
        Some(&ask(json!([]), 3600)),
    )
    .err(400, "ValidationError");
    s.call(
        &sc,
        "POST",
        "/v1/ssh/user-certificates",
        Some(&ask(json!(["root"]), 3600)),
    )
    .err(403, "AccessDenied");
    let c = s
        .call(
            &sc,
            "POST",
            "/v1/ssh/user-certificates",
            Some(&ask(json!(["deploy"]), 24 * 3600)),
        )
        .ok()
        .clone();
    let key_id = format!("{role_id}:oncall:{issued}");
    assert_eq!(c["keyId"], key_id, "{c}");
    assert_eq!(c["principals"], json!(["deploy"]), "{c}");
    // Asked for a day; capped by the session's expiry.
    assert_eq!(c["validBefore"], expires.as_str(), "{c}");
    let cert = dir.0.join("id-cert.pub");
    std::fs::write(&cert, c["certificate"].as_str().unwrap()).unwrap();
    let listed = run_ok(Command::new("ssh-keygen").arg("-L").arg("-f").arg(&cert));
    assert!(
        listed.contains(&format!("Key ID: \"{key_id}\"")),
        "{listed}"
    );
    // The inventory records the session.
    assert_eq!(
        s.sql(&format!(
            "SELECT subject FROM certificates WHERE serial = '{}'",
            c["serial"].as_str().unwrap()
        ),),
        key_id
    );

    // X.509: the URI SAN names the role session.
    let pem = dir.0.join("x.key");
    run_ok(
        Command::new("openssl")
            .args(["genpkey", "-algorithm", "ed25519", "-out"])
            .arg(&pem),
    );
    let csr = run_ok(
        Command::new("openssl")
            .args(["req", "-new", "-subj", "/CN=x", "-key"])
            .arg(&pem),
    );
    let x = s
        .call(
            &sc,
            "POST",
            "/v1/x509/client-certificates",
            Some(&json!({"csr": csr, "validitySeconds": 7 * 86_400}).to_string()),
        )
        .ok()
        .clone();
    assert_eq!(x["notAfter"], expires.as_str(), "{x}");
    let crt = dir.0.join("x.crt");
    std::fs::write(&crt, x["certificate"].as_str().unwrap()).unwrap();
    let text = run_ok(
        Command::new("openssl")
            .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
            .arg(&crt),
    );
    assert!(
        text.contains(&format!("URI:spiffe://{}.ward/role/ops/oncall", s.account)),
        "{text}"
    );

    // A session with a session policy gets no certificate.
    let narrowed = session_creds(&assume(
        s,
        &alice,
        json!({"roleArn": s.role_arn("ops"), "roleSessionName": "narrow",
               "policy": {"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}}),
    ));
    let e = s.call(
        &narrowed,
        "POST",
        "/v1/ssh/user-certificates",
        Some(&ask(json!(["deploy"]), 3600)),
    );
    assert!(
        e.err(403, "AccessDenied").contains("session policy"),
        "{}",
        e.body
    );
    // An expired session gets none.
    s.sql(&format!(
        "UPDATE sessions SET expires_at = 1 WHERE access_key_id = '{}'",
        sc.id
    ));
    s.call(&root, "POST", "/v1/users", Some(r#"{"name":"generation"}"#))
        .ok();
    s.call(
        &sc,
        "POST",
        "/v1/ssh/user-certificates",
        Some(&ask(json!(["deploy"]), 3600)),
    )
    .err(403, "ExpiredToken");
}

#[test]
fn role_session_certificates_sqlite() {
    with_db(Db::Sqlite, role_session_certificates);
}

#[test]
fn role_session_certificates_postgres() {
    with_db(Db::Postgres, role_session_certificates);
}
