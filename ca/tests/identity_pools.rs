//! Identity pools and guest credentials against the real daemon (issue
//! #14 item 4), on SQLite and PostgreSQL: guests (curl with no
//! credentials at all) get an identity and credentials for the pool's
//! unauthenticated role, always narrowed by the pool's session policy;
//! the trust decision (`{"Federated": "identity.ward"}`, `identity:aud`,
//! `identity:amr`) refuses what it does not allow, and a trust policy that
//! does not pin the pool; signed-in users get the authenticated role;
//! guest sessions cannot chain; pools closed to guests and deleted pools
//! refuse; the per-source rate limit and identity cap; and every bad input
//! a 4xx naming its field. Also: naming a role needs `iam:PassRole` on
//! it, an update can clear a role, pool tags, and guests'
//! `ward:AuthMethod` (`unauthenticated`) in trust conditions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{creds_of, user_with_policy, with_server, Creds, Db, Server};
use serde_json::{json, Value};

fn count(s: &Server, q: &str) -> i64 {
    s.sql(q).parse().unwrap()
}

/// A daemon whose guest limiter does not get in the way (the limit has
/// its own test).
fn with_db(db: Db, f: impl FnOnce(&mut Server)) {
    with_server(db, "[limits]\nguest_burst = 1000\n", f);
}

fn policy(statements: Value) -> Value {
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// A trust policy for pool identities: `condition` as given.
fn pool_trust(condition: Value) -> Value {
    let mut st = json!({"Effect": "Allow", "Principal": {"Federated": "identity.ward"},
        "Action": "sts:AssumeRoleWithWebIdentity"});
    if !condition.is_null() {
        st["Condition"] = condition;
    }
    policy(json!([st]))
}

fn pinned(pool: &str, amr: &str) -> Value {
    pool_trust(json!({"StringEquals": {"identity:aud": pool},
        "ForAnyValue:StringLike": {"identity:amr": amr}}))
}

fn create_role(s: &Server, root: &Creds, name: &str, trust: &Value, actions: &[&str]) {
    s.call(
        root,
        "POST",
        "/v1/roles",
        Some(&json!({"name": name, "assumeRolePolicyDocument": trust}).to_string()),
    )
    .ok();
    let doc = policy(json!([{"Effect": "Allow", "Action": actions, "Resource": "*"}]));
    s.call(
        root,
        "PUT",
        &format!("/v1/roles/{name}/policies/p"),
        Some(&json!({"document": doc}).to_string()),
    )
    .ok();
}

fn set_trust(s: &Server, root: &Creds, role: &str, trust: &Value) {
    s.call(
        root,
        "PUT",
        &format!("/v1/roles/{role}/trust-policy"),
        Some(&json!({"document": trust}).to_string()),
    )
    .ok();
}

/// An unsigned POST (a guest's).
fn guest(s: &Server, path: &str, body: &Value) -> common::Response {
    s.raw("POST", path, &[], Some(body.to_string().as_bytes()))
}

fn guest_id(s: &Server, pool: &str) -> common::Response {
    guest(s, "/v1/identity/guest/id", &json!({"identityPoolId": pool}))
}

fn guest_creds(s: &Server, identity: &str) -> common::Response {
    guest(
        s,
        "/v1/identity/guest/credentials",
        &json!({"identityId": identity}),
    )
}

fn pool_creds(r: &common::Response) -> Creds {
    let c = &r.ok()["credentials"];
    Creds {
        id: c["accessKeyId"].as_str().unwrap().to_owned(),
        secret: c["secretKey"].as_str().unwrap().to_owned(),
        token: c["sessionToken"].as_str().map(str::to_owned),
    }
}

fn is_pool_id(s: &Server, id: &str) -> bool {
    let Some((region, uuid)) = id.split_once(':') else {
        return false;
    };
    let _ = s;
    !region.is_empty()
        && uuid.len() == 36
        && uuid
            .bytes()
            .all(|b| b == b'-' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn sessions(s: &Server) -> i64 {
    count(s, "SELECT COUNT(*) FROM sessions")
}

/// A pool open to guests: role `guest` may GetUser and ListUsers, the
/// pool's guest policy allows GetUser only.
fn guest_pool(s: &Server, root: &Creds) -> String {
    create_role(
        s,
        root,
        "guest",
        &pool_trust(Value::Null),
        &["iam:GetUser", "iam:ListUsers"],
    );
    let p = s
        .call(
            root,
            "POST",
            "/v1/identity-pools",
            Some(
                &json!({"identityPoolName": "web app",
                    "allowUnauthenticatedIdentities": true,
                    "unauthenticatedRoleArn": s.role_arn("guest"),
                    "guestSessionPolicy": policy(json!([{"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}]))})
                .to_string(),
            ),
        );
    assert_eq!(p.status, 201, "{}", p.body);
    let id = p.body["identityPoolId"].as_str().unwrap().to_owned();
    assert!(is_pool_id(s, &id), "{id}");
    assert_eq!(
        p.body["arn"],
        format!("arn:ward:identity::{}:identity-pool/{id}", s.account)
    );
    assert_eq!(p.body["unauthenticatedRoleArn"], s.role_arn("guest"));
    id
}

// ---- guests ---------------------------------------------------------------

fn guests(s: &mut Server) {
    let root = s.root();
    let alice = user_with_policy(
        s,
        &root,
        "alice",
        r#"{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}"#,
    );
    let pool = guest_pool(s, &root);

    // GetId with no credentials at all: a stored guest identity.
    let r = guest_id(s, &pool);
    let identity = r.ok()["identityId"].as_str().unwrap().to_owned();
    assert!(is_pool_id(s, &identity) && identity != pool, "{identity}");
    assert_eq!(
        count(
            s,
            &format!("SELECT COUNT(*) FROM identity_pool_identities WHERE id = '{identity}' AND pool_id = '{pool}' AND user_id IS NULL")
        ),
        1
    );

    // Trust confusion: the trust policy trusts identity.ward with no
    // condition, so any pool could hand the role out: refused, audited,
    // and no session is written.
    let before = sessions(s);
    let r = guest_creds(s, &identity);
    let m = r.err(403, "AccessDenied");
    assert!(m.contains("identity:aud"), "{m}");
    assert_eq!(sessions(s), before);
    assert!(
        count(
            s,
            "SELECT COUNT(*) FROM audit_events WHERE action = 'sts:AssumeRoleWithWebIdentity' AND decision <> 'Allowed'"
        ) >= 1
    );

    // A trust policy that does not name identity.ward, one pinned to
    // another pool, and one for authenticated identities only: denied.
    set_trust(
        s,
        &root,
        "guest",
        &policy(
            json!([{"Effect": "Allow", "Principal": {"AWS": s.account.clone()},
            "Action": "sts:AssumeRoleWithWebIdentity"}]),
        ),
    );
    guest_creds(s, &identity).err(403, "AccessDenied");
    let other = format!(
        "{}:11111111-2222-4333-8444-555555555555",
        pool.split_once(':').unwrap().0
    );
    set_trust(s, &root, "guest", &pinned(&other, "unauthenticated"));
    guest_creds(s, &identity).err(403, "AccessDenied");
    set_trust(s, &root, "guest", &pinned(&pool, "authenticated"));
    guest_creds(s, &identity).err(403, "AccessDenied");
    assert_eq!(sessions(s), before);

    // The right trust policy: credentials.
    set_trust(s, &root, "guest", &pinned(&pool, "unauthenticated"));
    let r = guest_creds(s, &identity);
    assert_eq!(r.ok()["identityId"], identity.as_str());
    let uuid = identity.split_once(':').unwrap().1;
    let session_arn = format!(
        "arn:ward:sts::{}:assumed-role/guest/identity-{uuid}",
        s.account
    );
    assert_eq!(r.body["assumedRoleArn"], session_arn.as_str());
    let c = pool_creds(&r);
    assert!(c.id.starts_with("ASIA"), "{}", c.id);
    assert_eq!(
        s.call(&c, "GET", "/v1/whoami", None).ok()["arn"],
        session_arn.as_str()
    );
    // The session carries the pool's policy, and the issuance is audited.
    let stored = s.sql(&format!(
        "SELECT session_policy FROM sessions WHERE access_key_id = '{}'",
        c.id
    ));
    assert!(
        stored.contains("iam:GetUser") && !stored.contains("ListUsers"),
        "{stored}"
    );
    assert_eq!(
        count(
            s,
            &format!("SELECT COUNT(*) FROM audit_events WHERE action = 'sts:AssumeRoleWithWebIdentity' AND decision = 'Allowed' AND detail LIKE '%{}%'", c.id)
        ),
        1
    );

    // Role ∩ pool policy: GetUser (both allow) works; ListUsers (the role
    // alone allows) and ListGroups (neither) do not.
    assert_eq!(
        s.call(&c, "GET", "/v1/users/alice", None).ok()["name"],
        "alice"
    );
    s.call(&c, "GET", "/v1/users", None)
        .err(403, "AccessDenied");
    s.call(&c, "GET", "/v1/groups", None)
        .err(403, "AccessDenied");

    // Guests cannot pass their own session policy to widen theirs.
    let before = sessions(s);
    let r = guest(
        s,
        "/v1/identity/guest/credentials",
        &json!({"identityId": identity,
            "policy": policy(json!([{"Effect": "Allow", "Action": "*", "Resource": "*"}]))}),
    );
    r.err(400, "ValidationError");
    assert_eq!(r.field(), "policy");
    assert_eq!(sessions(s), before);

    // Nor chain into another role (which would drop the pool policy),
    // even one whose trust policy names the guest's session ARN directly
    // (which on its own would be enough, the session policy aside).
    let alice_session_arn = format!("arn:ward:sts::{}:assumed-role/guest/al", s.account);
    create_role(
        s,
        &root,
        "wide",
        &policy(json!([{"Effect": "Allow",
            "Principal": {"AWS": [session_arn.clone(), alice_session_arn]},
            "Action": "sts:AssumeRole"}])),
        &["iam:ListUsers"],
    );
    let assume_wide = |c: &Creds| {
        s.call(
            c,
            "POST",
            "/v1/sts/assume-role",
            Some(&json!({"roleArn": s.role_arn("wide"), "roleSessionName": "xx"}).to_string()),
        )
    };
    let before = sessions(s);
    let m = assume_wide(&c).err(403, "AccessDenied").to_owned();
    assert!(m.contains("identity pool"), "{m}");
    assert_eq!(sessions(s), before);
    // The same AssumeRole by a non-guest session of the same role is
    // allowed: the refusal is the guest check, not the trust policy.
    set_trust(
        s,
        &root,
        "guest",
        &policy(json!([
            {"Effect": "Allow", "Principal": {"Federated": "identity.ward"},
             "Action": "sts:AssumeRoleWithWebIdentity",
             "Condition": {"StringEquals": {"identity:aud": pool, "identity:amr": "unauthenticated"}}},
            {"Effect": "Allow", "Principal": {"AWS": format!("arn:ward:iam::{}:user/alice", s.account)},
             "Action": "sts:AssumeRole"}])),
    );
    let alice_session = creds_of(
        &s.call(
            &alice,
            "POST",
            "/v1/sts/assume-role",
            Some(&json!({"roleArn": s.role_arn("guest"), "roleSessionName": "al"}).to_string()),
        )
        .ok()["credentials"],
    );
    assume_wide(&alice_session).ok();
    // (StringEquals on the single-valued amr works as well as ForAnyValue.)
    let c2 = pool_creds(&guest_creds(s, &identity));

    // A pool closed to guests refuses GetId and credentials.
    s.call(
        &root,
        "PATCH",
        &format!("/v1/identity-pools/{pool}"),
        Some(&json!({"allowUnauthenticatedIdentities": false}).to_string()),
    )
    .ok();
    guest_id(s, &pool).err(403, "AccessDenied");
    guest_creds(s, &identity).err(403, "AccessDenied");
    s.call(
        &root,
        "PATCH",
        &format!("/v1/identity-pools/{pool}"),
        Some(&json!({"allowUnauthenticatedIdentities": true}).to_string()),
    )
    .ok();
    guest_creds(s, &identity).ok();

    // Deleting the pool refuses its identities and ends its sessions.
    assert_eq!(
        s.call(&root, "DELETE", &format!("/v1/identity-pools/{pool}"), None)
            .status,
        204
    );
    let r = guest_creds(s, &identity);
    let m = r.err(404, "ResourceNotFound");
    assert!(m.contains("identityId"), "{m}");
    guest_id(s, &pool).err(404, "ResourceNotFound");
    for c in [&c, &c2] {
        let r = s.call(c, "GET", "/v1/whoami", None);
        assert!(
            r.status == 401 || r.status == 403,
            "{}: {}",
            r.status,
            r.body
        );
    }
    assert_eq!(
        count(
            s,
            &format!("SELECT COUNT(*) FROM identity_pool_identities WHERE pool_id = '{pool}'")
        ),
        0
    );
    s.call(&root, "GET", &format!("/v1/identity-pools/{pool}"), None)
        .err(404, "ResourceNotFound");
}

#[test]
fn guests_sqlite() {
    with_db(Db::Sqlite, guests);
}

#[test]
fn guests_postgres() {
    with_db(Db::Postgres, guests);
}

// ---- signed-in users -----------------------------------------------------

fn authenticated(s: &mut Server) {
    let root = s.root();
    let may = r#"{"Effect":"Allow","Action":["identity:GetId","identity:GetCredentialsForIdentity"],"Resource":"*"}"#;
    let bob = user_with_policy(s, &root, "bob", may);
    let carol = user_with_policy(s, &root, "carol", may);
    let dave = user_with_policy(
        s,
        &root,
        "dave",
        r#"{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}"#,
    );
    create_role(
        s,
        &root,
        "member",
        &pool_trust(Value::Null),
        &["iam:ListGroups"],
    );
    create_role(
        s,
        &root,
        "guest",
        &pool_trust(Value::Null),
        &["iam:ListGroups"],
    );
    let p = s.call(
        &root,
        "POST",
        "/v1/identity-pools",
        Some(
            &json!({"identityPoolName": "staff",
                "authenticatedRoleArn": s.role_arn("member"),
                "unauthenticatedRoleArn": s.role_arn("guest")})
            .to_string(),
        ),
    );
    let pool = p.ok()["identityPoolId"].as_str().unwrap().to_owned();
    assert_eq!(p.body["allowUnauthenticatedIdentities"], false);
    set_trust(s, &root, "member", &pinned(&pool, "authenticated"));
    set_trust(s, &root, "guest", &pinned(&pool, "unauthenticated"));

    // No guests in this pool.
    guest_id(s, &pool).err(403, "AccessDenied");

    // bob's identity: created once, then the same one.
    let get_id = |who: &Creds| {
        s.call(
            who,
            "POST",
            "/v1/identity/id",
            Some(&json!({"identityPoolId": pool}).to_string()),
        )
    };
    let id = get_id(&bob).ok()["identityId"].as_str().unwrap().to_owned();
    assert_eq!(get_id(&bob).ok()["identityId"], id.as_str());
    let bob_id = s.call(&root, "GET", "/v1/users/bob", None).ok()["userId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        s.sql(&format!(
            "SELECT user_id FROM identity_pool_identities WHERE id = '{id}'"
        )),
        bob_id
    );
    // A user without identity:GetId is refused.
    get_id(&dave).err(403, "AccessDenied");

    let creds = |who: &Creds, identity: &str| {
        s.call(
            who,
            "POST",
            "/v1/identity/credentials",
            Some(&json!({"identityId": identity}).to_string()),
        )
    };
    // The authenticated role, not narrowed by a guest policy.
    let r = creds(&bob, &id);
    let c = pool_creds(&r);
    let uuid = id.split_once(':').unwrap().1;
    assert_eq!(
        s.call(&c, "GET", "/v1/whoami", None).ok()["arn"],
        format!(
            "arn:ward:sts::{}:assumed-role/member/identity-{uuid}",
            s.account
        )
    );
    s.call(&c, "GET", "/v1/groups", None).ok();
    s.call(&c, "GET", "/v1/users/bob", None)
        .err(403, "AccessDenied");
    assert_eq!(
        s.sql(&format!(
            "SELECT COUNT(*) FROM sessions WHERE access_key_id = '{}' AND session_policy IS NULL",
            c.id
        )),
        "1"
    );

    // bob's identity is bob's: not carol's, and not a guest's.
    creds(&carol, &id).err(403, "AccessDenied");
    guest_creds(s, &id).err(403, "AccessDenied");

    // The user's facts reach the trust policy: a condition on
    // ward:username lets bob in and not carol.
    set_trust(
        s,
        &root,
        "member",
        &pool_trust(
            json!({"StringEquals": {"identity:aud": pool, "identity:amr": "authenticated", "ward:username": "bob"}}),
        ),
    );
    creds(&bob, &id).ok();
    let carol_id = get_id(&carol).ok()["identityId"]
        .as_str()
        .unwrap()
        .to_owned();
    creds(&carol, &carol_id).err(403, "AccessDenied");

    // A trust policy for guests only refuses signed-in users (wrong amr).
    set_trust(s, &root, "member", &pinned(&pool, "unauthenticated"));
    creds(&bob, &id).err(403, "AccessDenied");
}

#[test]
fn authenticated_sqlite() {
    with_db(Db::Sqlite, authenticated);
}

#[test]
fn authenticated_postgres() {
    with_db(Db::Postgres, authenticated);
}

// ---- limits ----------------------------------------------------------------

/// One source gets `guest_burst` unauthenticated requests, then 429s
/// (refill: one a minute), and at most `guest_identities_per_source`
/// guest identities.
#[test]
fn guest_rate_limit_and_identity_cap() {
    let Some(mut s) = Server::start_with(
        Db::Sqlite,
        "[limits]\nguest_requests_per_minute = 1\nguest_burst = 5\nguest_identities_per_source = 3\n",
    ) else {
        return;
    };
    let root = s.root();
    let pool = guest_pool(&s, &root);
    set_trust(&s, &root, "guest", &pinned(&pool, "unauthenticated"));
    // Three identities (the cap), then the cap refuses a fourth.
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(
            guest_id(&s, &pool).ok()["identityId"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let m = guest_id(&s, &pool).err(409, "LimitExceeded").to_owned();
    assert!(m.contains("guest identities"), "{m}");
    // The fifth token: credentials.
    guest_creds(&s, &ids[0]).ok();
    // Then the bucket is empty: every further request is a 429, whatever
    // it asks, and nothing is written.
    let before = sessions(&s);
    let mut throttled = 0;
    let n = 12;
    for i in 0..n {
        let r = if i % 2 == 0 {
            guest_id(&s, &pool)
        } else {
            guest_creds(&s, &ids[1])
        };
        if r.status == 429 {
            assert_eq!(r.body["error"]["code"], "Throttling", "{}", r.body);
            throttled += 1;
        }
    }
    // At one token a minute, at most one refill can land in the loop.
    assert!(throttled >= n - 1, "{throttled} of {n} throttled");
    assert!(sessions(&s) <= before + 1);
    assert_eq!(
        count(&s, "SELECT COUNT(*) FROM identity_pool_identities"),
        3
    );
    // Signed calls are not throttled by the guest limiter.
    s.call(&root, "GET", &format!("/v1/identity-pools/{pool}"), None)
        .ok();
    s.stop();
}

// ---- bad input ---------------------------------------------------------------

#[test]
fn bad_input_names_the_field() {
    let Some(mut s) = Server::start(Db::Sqlite) else {
        return;
    };
    let root = s.root();
    let pool = guest_pool(&s, &root);
    let pools = || count(&s, "SELECT COUNT(*) FROM identity_pools");
    assert_eq!(pools(), 1);
    let small = policy(json!([{"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}]));
    let big = policy(json!([{"Effect": "Allow", "Action": "iam:GetUser",
        "Resource": (0..200).map(|i| format!("arn:ward:iam::{}:user/u{i}", s.account)).collect::<Vec<_>>()}]));
    let create = |body: Value| s.call(&root, "POST", "/v1/identity-pools", Some(&body.to_string()));
    let guest_role = s.role_arn("guest");
    for (body, code, field) in [
        (
            json!({"identityPoolName": ""}),
            "ValidationError",
            "identityPoolName",
        ),
        (
            json!({"identityPoolName": "a/b"}),
            "ValidationError",
            "identityPoolName",
        ),
        (
            json!({"identityPoolName": "x", "unauthenticatedRoleArn": "guest"}),
            "ValidationError",
            "unauthenticatedRoleArn",
        ),
        (
            json!({"identityPoolName": "x", "authenticatedRoleArn": "arn:ward:iam::000000000000:role/guest"}),
            "ValidationError",
            "authenticatedRoleArn",
        ),
        (
            json!({"identityPoolName": "x", "unauthenticatedRoleArn": s.role_arn("nope")}),
            "NoSuchEntity",
            "unauthenticatedRoleArn",
        ),
        (
            json!({"identityPoolName": "x", "allowUnauthenticatedIdentities": true, "unauthenticatedRoleArn": guest_role, "guestSessionPolicy": big}),
            "PackedPolicyTooLarge",
            "guestSessionPolicy",
        ),
        (
            json!({"identityPoolName": "x", "allowUnauthenticatedIdentities": true, "unauthenticatedRoleArn": guest_role, "guestSessionPolicy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "nocolon", "Resource": "*"}]}}),
            "MalformedPolicyDocument",
            "guestSessionPolicy",
        ),
        (
            json!({"identityPoolName": "x", "allowUnauthenticatedIdentities": true, "unauthenticatedRoleArn": guest_role, "guestSessionPolicy": 7}),
            "ValidationError",
            "guestSessionPolicy",
        ),
        (
            json!({"identityPoolName": "x", "allowUnauthenticatedIdentities": true, "unauthenticatedRoleArn": guest_role}),
            "ValidationError",
            "guestSessionPolicy",
        ),
        (
            json!({"identityPoolName": "x", "allowUnauthenticatedIdentities": true, "guestSessionPolicy": small}),
            "ValidationError",
            "unauthenticatedRoleArn",
        ),
        (
            json!({"identityPoolName": "x", "extra": 1}),
            "ValidationError",
            "extra",
        ),
    ] {
        let r = create(body.clone());
        r.err(400, code);
        assert_eq!(r.field(), field, "{body}: {}", r.body);
    }
    assert_eq!(pools(), 1, "nothing half-written");

    // Path ids.
    for path in [
        "/v1/identity-pools/nope",
        "/v1/identity-pools/local:NOT-A-UUID",
    ] {
        let r = s.call(&root, "GET", path, None);
        r.err(400, "ValidationError");
        assert_eq!(r.field(), "id");
    }
    let unknown = format!(
        "{}:11111111-2222-4333-8444-555555555555",
        pool.split_once(':').unwrap().0
    );
    s.call(&root, "GET", &format!("/v1/identity-pools/{unknown}"), None)
        .err(404, "ResourceNotFound");
    s.call(&root, "GET", "/v1/identity-pools?maxResults=61", None)
        .err(400, "ValidationError");
    let r = s.call(
        &root,
        "PATCH",
        &format!("/v1/identity-pools/{pool}"),
        Some(&json!({"guestSessionPolicy": big}).to_string()),
    );
    r.err(400, "PackedPolicyTooLarge");
    assert_eq!(r.field(), "guestSessionPolicy");

    // Guest routes.
    for (path, body, field) in [
        (
            "/v1/identity/guest/id",
            json!({"identityPoolId": "x"}),
            "identityPoolId",
        ),
        (
            "/v1/identity/guest/id",
            json!({"identityPoolId": pool.replace('-', "")}),
            "identityPoolId",
        ),
        ("/v1/identity/guest/id", json!({}), "identityPoolId"),
        (
            "/v1/identity/guest/credentials",
            json!({"identityId": 5}),
            "identityId",
        ),
        (
            "/v1/identity/guest/credentials",
            json!({"identityId": "a:b"}),
            "identityId",
        ),
    ] {
        let r = guest(&s, path, &body);
        r.err(400, "ValidationError");
        assert_eq!(r.field(), field, "{path} {body}");
    }
    let r = guest_id(&s, &unknown);
    let m = r.err(404, "ResourceNotFound");
    assert!(m.contains("identityPoolId"), "{m}");
    let r = guest_creds(&s, &unknown);
    let m = r.err(404, "ResourceNotFound");
    assert!(m.contains("identityId"), "{m}");
    let r = s.raw("POST", "/v1/identity/guest/id", &[], Some(b"not json"));
    r.err(400, "ValidationError");
    assert_eq!(r.field(), "body");
    let huge = format!(r#"{{"identityPoolId": "{}"}}"#, "x".repeat(8 * 1024));
    s.raw("POST", "/v1/identity/guest/id", &[], Some(huge.as_bytes()))
        .err(413, "RequestEntityTooLarge");
    assert_eq!(
        count(&s, "SELECT COUNT(*) FROM identity_pool_identities"),
        0
    );
    s.stop();
}

// ---- CRUD ----------------------------------------------------------------------

fn crud(s: &mut Server) {
    let root = s.root();
    let pool = guest_pool(s, &root);
    create_role(
        s,
        &root,
        "member",
        &pool_trust(Value::Null),
        &["iam:GetUser"],
    );
    let got = s
        .call(&root, "GET", &format!("/v1/identity-pools/{pool}"), None)
        .ok()
        .clone();
    assert_eq!(got["identityPoolName"], "web app");
    assert_eq!(
        got["guestSessionPolicy"]["Statement"][0]["Action"],
        "iam:GetUser"
    );
    let up = s
        .call(
            &root,
            "PATCH",
            &format!("/v1/identity-pools/{pool}"),
            Some(
                &json!({"identityPoolName": "web app 2", "authenticatedRoleArn": s.role_arn("member")})
                    .to_string(),
            ),
        )
        .ok()
        .clone();
    assert_eq!(up["identityPoolName"], "web app 2");
    assert_eq!(up["authenticatedRoleArn"], s.role_arn("member"));
    assert_eq!(up["unauthenticatedRoleArn"], s.role_arn("guest"));
    // Listing pages by id.
    let mut ids = vec![pool.clone()];
    for i in 0..2 {
        let r = s.call(
            &root,
            "POST",
            "/v1/identity-pools",
            Some(&json!({"identityPoolName": format!("p{i}")}).to_string()),
        );
        ids.push(r.ok()["identityPoolId"].as_str().unwrap().to_owned());
    }
    ids.sort();
    let first = s
        .call(&root, "GET", "/v1/identity-pools?maxResults=2", None)
        .ok()
        .clone();
    let token = first["nextToken"].as_str().unwrap().to_owned();
    let second = s
        .call(
            &root,
            "GET",
            &format!(
                "/v1/identity-pools?maxResults=2&nextToken={}",
                token.replace(':', "%3A")
            ),
            None,
        )
        .ok()
        .clone();
    let listed: Vec<String> = first["identityPools"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["identityPools"].as_array().unwrap())
        .map(|p| p["identityPoolId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, ids);
    assert!(second.get("nextToken").is_none());

    // identity:* decides: a user allowed Describe only may read, not
    // create, update or delete; mutations are audited.
    let reader = user_with_policy(
        s,
        &root,
        "reader",
        r#"{"Effect":"Allow","Action":["identity:DescribeIdentityPool"],"Resource":"*"}"#,
    );
    s.call(&reader, "GET", &format!("/v1/identity-pools/{pool}"), None)
        .ok();
    s.call(&reader, "GET", "/v1/identity-pools", None)
        .err(403, "AccessDenied");
    s.call(
        &reader,
        "POST",
        "/v1/identity-pools",
        Some(&json!({"identityPoolName": "mine"}).to_string()),
    )
    .err(403, "AccessDenied");
    s.call(
        &reader,
        "PATCH",
        &format!("/v1/identity-pools/{pool}"),
        Some(&json!({"identityPoolName": "mine"}).to_string()),
    )
    .err(403, "AccessDenied");
    s.call(
        &reader,
        "DELETE",
        &format!("/v1/identity-pools/{pool}"),
        None,
    )
    .err(403, "AccessDenied");
    assert_eq!(count(s, "SELECT COUNT(*) FROM identity_pools"), 3);
    for action in ["identity:CreateIdentityPool", "identity:UpdateIdentityPool"] {
        assert!(
            count(
                s,
                &format!("SELECT COUNT(*) FROM audit_events WHERE action = '{action}' AND decision = 'Allowed'")
            ) >= 1,
            "{action}"
        );
    }
}

#[test]
fn crud_sqlite() {
    with_db(Db::Sqlite, crud);
}

#[test]
fn crud_postgres() {
    with_db(Db::Postgres, crud);
}

// ---- iam:PassRole, clearing a role, ward:AuthMethod of guests ------------

/// Binding a role to a pool needs `iam:PassRole` on that role (resource:
/// the role's ARN; context `iam:PassedToService` = `identity.ward`,
/// `iam:AssociatedResourceArn` = the pool), at create and at update: a
/// caller who may create and update pools but may not pass a role cannot
/// bind it, and nothing is written. An update with `""` clears a role;
/// clearing the guest role of a pool open to guests is refused.
fn pass_role_and_clearing(s: &mut Server) {
    let root = s.root();
    let pool = guest_pool(s, &root);
    create_role(
        s,
        &root,
        "member",
        &pool_trust(Value::Null),
        &["iam:GetUser"],
    );
    let member = s.role_arn("member");
    let guest_role = s.role_arn("guest");
    let pools = || count(s, "SELECT COUNT(*) FROM identity_pools");
    let before = pools();

    // May manage pools, may pass `member` only, and only to identity.ward.
    let pooler = user_with_policy(
        s,
        &root,
        "pooler",
        &format!(
            r#"{{"Effect":"Allow","Action":["identity:CreateIdentityPool","identity:UpdateIdentityPool","identity:DescribeIdentityPool"],"Resource":"*"}},
               {{"Effect":"Allow","Action":"iam:PassRole","Resource":"{member}",
                 "Condition":{{"StringEquals":{{"iam:PassedToService":"identity.ward"}},
                               "StringLike":{{"iam:AssociatedResourceArn":"arn:ward:identity::{acct}:identity-pool/*"}}}}}}"#,
            acct = s.account
        ),
    );
    let create = |body: Value| {
        s.call(
            &pooler,
            "POST",
            "/v1/identity-pools",
            Some(&body.to_string()),
        )
    };
    // The guest role: may create pools, may not pass it.
    let r = create(json!({"identityPoolName": "stolen",
        "allowUnauthenticatedIdentities": true, "unauthenticatedRoleArn": guest_role,
        "guestSessionPolicy": policy(json!([{"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}]))}));
    let msg = r.err(403, "AccessDenied").to_owned();
    assert!(msg.contains("iam:PassRole"), "{msg}");
    let r = create(json!({"identityPoolName": "stolen", "authenticatedRoleArn": guest_role}));
    r.err(403, "AccessDenied");
    assert_eq!(pools(), before, "nothing half-written");
    // No role, or the role it may pass: created.
    create(json!({"identityPoolName": "plain"})).ok();
    let mine = create(json!({"identityPoolName": "mine", "authenticatedRoleArn": member}));
    assert_eq!(mine.status, 201, "{}", mine.body);
    let mine = mine.body["identityPoolId"].as_str().unwrap().to_owned();
    assert_eq!(pools(), before + 2);
    // Update: binding the guest role refused and not written; member fine.
    let patch = |who: &Creds, id: &str, body: Value| {
        s.call(
            who,
            "PATCH",
            &format!("/v1/identity-pools/{id}"),
            Some(&body.to_string()),
        )
    };
    patch(&pooler, &mine, json!({"authenticatedRoleArn": guest_role})).err(403, "AccessDenied");
    let got = s
        .call(&root, "GET", &format!("/v1/identity-pools/{mine}"), None)
        .ok()
        .clone();
    assert_eq!(got["authenticatedRoleArn"], member.as_str());
    patch(&pooler, &pool, json!({"authenticatedRoleArn": member})).ok();
    // The denials are audited as iam:PassRole on the role.
    assert_eq!(
        count(
            s,
            &format!(
                "SELECT COUNT(*) FROM audit_events WHERE action = 'iam:PassRole' AND decision <> 'Allowed' AND resource = '{guest_role}'"
            )
        ),
        3
    );

    // alice's identity in the pool, while it has an authenticated role.
    let alice = user_with_policy(
        s,
        &root,
        "alice",
        r#"{"Effect":"Allow","Action":["identity:GetId","identity:GetCredentialsForIdentity"],"Resource":"*"}"#,
    );
    let id = s
        .call(
            &alice,
            "POST",
            "/v1/identity/id",
            Some(&json!({"identityPoolId": pool}).to_string()),
        )
        .ok()["identityId"]
        .as_str()
        .unwrap()
        .to_owned();

    // Clearing: "" removes the authenticated role.
    let up = patch(&root, &pool, json!({"authenticatedRoleArn": ""}))
        .ok()
        .clone();
    assert!(up["authenticatedRoleArn"].is_null(), "{up}");
    assert!(up["authenticatedRoleId"].is_null(), "{up}");
    assert_eq!(up["unauthenticatedRoleArn"], guest_role.as_str());
    assert_eq!(
        count(
            s,
            &format!("SELECT COUNT(*) FROM identity_pools WHERE id = '{pool}' AND authenticated_role_id IS NULL")
        ),
        1
    );
    // Signed-in users then get nothing from the pool.
    s.call(
        &alice,
        "POST",
        "/v1/identity/credentials",
        Some(&json!({"identityId": id}).to_string()),
    )
    .err(403, "AccessDenied");
    // The guest role of a pool open to guests cannot be cleared.
    let r = patch(&root, &pool, json!({"unauthenticatedRoleArn": ""}));
    r.err(400, "ValidationError");
    assert_eq!(r.field(), "unauthenticatedRoleArn");
    let r = patch(
        &root,
        &pool,
        json!({"allowUnauthenticatedIdentities": false, "unauthenticatedRoleArn": ""}),
    );
    assert!(r.ok()["unauthenticatedRoleArn"].is_null(), "{}", r.body);
}

#[test]
fn pass_role_and_clearing_sqlite() {
    with_db(Db::Sqlite, pass_role_and_clearing);
}

#[test]
fn pass_role_and_clearing_postgres() {
    with_db(Db::Postgres, pass_role_and_clearing);
}

/// A guest's `ward:AuthMethod` in the trust decision is `unauthenticated`
/// (none of SPEC §4's values describes a caller with no credential; the
/// extension is documented in ARCHITECTURE.md and SECURITY.md): a trust
/// policy can admit exactly guests with it or keep them out, and a
/// condition listing SPEC's values never admits a guest.
fn guest_auth_method(s: &mut Server) {
    let root = s.root();
    let pool = guest_pool(s, &root);
    let identity = guest_id(s, &pool).ok()["identityId"]
        .as_str()
        .unwrap()
        .to_owned();
    let trust = |cond: Value| pool_trust(cond);
    set_trust(
        s,
        &root,
        "guest",
        &trust(
            json!({"StringEquals": {"identity:aud": pool, "ward:AuthMethod": "unauthenticated"}}),
        ),
    );
    let r = guest_creds(s, &identity);
    assert_eq!(r.status, 200, "{}", r.body);
    set_trust(
        s,
        &root,
        "guest",
        &trust(json!({"StringEquals": {"identity:aud": pool},
            "StringNotEquals": {"ward:AuthMethod": "unauthenticated"}})),
    );
    guest_creds(s, &identity).err(403, "AccessDenied");
    set_trust(
        s,
        &root,
        "guest",
        &trust(
            json!({"StringEquals": {"identity:aud": pool, "ward:AuthMethod":
            ["password", "access-key", "session", "certificate", "ssh-key", "ssh-certificate"]}}),
        ),
    );
    guest_creds(s, &identity).err(403, "AccessDenied");
}

#[test]
fn guest_auth_method_sqlite() {
    with_db(Db::Sqlite, guest_auth_method);
}

#[test]
fn guest_auth_method_postgres() {
    with_db(Db::Postgres, guest_auth_method);
}

/// Pool tags (Cognito's TagResource / UntagResource /
/// ListTagsForResource): at creation (which then needs
/// `identity:TagResource` too), added, listed, removed; decided with
/// `ward:RequestTag/*` and `ward:TagKeys`; bad input names its field and
/// writes nothing; deleting the pool deletes its tags.
fn pool_tags(s: &mut Server) {
    let root = s.root();
    let tag_rows = |pool: &str| {
        count(
            s,
            &format!("SELECT COUNT(*) FROM identity_pool_tags WHERE pool_id = '{pool}'"),
        )
    };
    let created = s.call(
        &root,
        "POST",
        "/v1/identity-pools",
        Some(
            &json!({"identityPoolName": "tagged", "tags": [{"key": "team", "value": "web"}]})
                .to_string(),
        ),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(
        created.body["tags"],
        json!([{"key": "team", "value": "web"}])
    );
    let pool = created.body["identityPoolId"].as_str().unwrap().to_owned();
    assert_eq!(tag_rows(&pool), 1);
    let tags_path = format!("/v1/identity-pools/{pool}/tags");

    // May create pools and tag only with the key `team`.
    let tagger = user_with_policy(
        s,
        &root,
        "tagger",
        r#"{"Effect":"Allow","Action":["identity:CreateIdentityPool","identity:ListTagsForResource"],"Resource":"*"},
           {"Effect":"Allow","Action":["identity:TagResource","identity:UntagResource"],"Resource":"*",
            "Condition":{"ForAllValues:StringEquals":{"ward:TagKeys":["team"]}}}"#,
    );
    let before = count(s, "SELECT COUNT(*) FROM identity_pools");
    s.call(
        &tagger,
        "POST",
        "/v1/identity-pools",
        Some(
            &json!({"identityPoolName": "x", "tags": [{"key": "env", "value": "prod"}]})
                .to_string(),
        ),
    )
    .err(403, "AccessDenied");
    assert_eq!(
        count(s, "SELECT COUNT(*) FROM identity_pools"),
        before,
        "nothing half-written"
    );
    s.call(
        &tagger,
        "POST",
        &tags_path,
        Some(&json!({"tags": [{"key": "env", "value": "prod"}]}).to_string()),
    )
    .err(403, "AccessDenied");
    let r = s.call(
        &tagger,
        "POST",
        &tags_path,
        Some(&json!({"tags": [{"key": "team", "value": "api"}]}).to_string()),
    );
    assert_eq!(r.ok()["tags"], json!([{"key": "team", "value": "api"}]));
    // root adds another; listed in key order.
    s.call(
        &root,
        "POST",
        &tags_path,
        Some(&json!({"tags": [{"key": "env", "value": "prod"}]}).to_string()),
    )
    .ok();
    let listed = s.call(&tagger, "GET", &tags_path, None).ok().clone();
    assert_eq!(
        listed["tags"],
        json!([{"key": "env", "value": "prod"}, {"key": "team", "value": "api"}])
    );
    let got = s
        .call(&root, "GET", &format!("/v1/identity-pools/{pool}"), None)
        .ok()
        .clone();
    assert_eq!(got["tags"], listed["tags"]);
    // Removing: env is not the tagger's to remove; root may.
    s.call(&tagger, "DELETE", &format!("{tags_path}?keys=env"), None)
        .err(403, "AccessDenied");
    let r = s.call(&root, "DELETE", &format!("{tags_path}?keys=env"), None);
    assert_eq!(r.ok()["tags"], json!([{"key": "team", "value": "api"}]));
    assert_eq!(tag_rows(&pool), 1);

    // Bad input: a 4xx naming the field, nothing written.
    let too_many: Vec<Value> = (0..51)
        .map(|i| json!({"key": format!("k{i}"), "value": "v"}))
        .collect();
    for (body, field) in [
        (json!({"tags": []}), "tags"),
        (json!({"tags": too_many}), "tags"),
        (json!({"tags": [{"key": "", "value": "v"}]}), "tags[0]"),
        (
            json!({"tags": [{"key": "a", "value": "1"}, {"key": "A", "value": "2"}]}),
            "tags[1].key",
        ),
    ] {
        let r = s.call(&root, "POST", &tags_path, Some(&body.to_string()));
        r.err(400, "ValidationError");
        assert!(r.field().starts_with(field), "{body}: {}", r.body);
    }
    let r = s.call(&root, "DELETE", &tags_path, None);
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(tag_rows(&pool), 1);
    let unknown = format!(
        "{}:11111111-2222-4333-8444-555555555555",
        pool.split_once(':').unwrap().0
    );
    s.call(
        &root,
        "POST",
        &format!("/v1/identity-pools/{unknown}/tags"),
        Some(&json!({"tags": [{"key": "a", "value": "b"}]}).to_string()),
    )
    .err(404, "ResourceNotFound");
    s.call(
        &root,
        "GET",
        &format!("/v1/identity-pools/{unknown}/tags"),
        None,
    )
    .err(404, "ResourceNotFound");

    // Deleting the pool deletes its tags.
    s.call(&root, "DELETE", &format!("/v1/identity-pools/{pool}"), None)
        .ok();
    assert_eq!(tag_rows(&pool), 0);
}

#[test]
fn pool_tags_sqlite() {
    with_db(Db::Sqlite, pool_tags);
}

#[test]
fn pool_tags_postgres() {
    with_db(Db::Postgres, pool_tags);
}
