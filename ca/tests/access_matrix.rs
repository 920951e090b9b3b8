//! `POST /v1/simulate/matrix` (the access map's batch simulator) against
//! the real ward-ca, SQLite and PostgreSQL:
//! - every cell of the matrix equals the answer of
//!   `POST /v1/simulate/principal` for that user, host and account (with
//!   `host:Principal`, `host:Name`, the host's `ward:ResourceTag/*` and
//!   the matrix's `ward:SourceIp` as context), over a fixture with groups,
//!   tags, explicit denies, conditions and a permissions boundary;
//! - a caller sees rows only for users it may simulate: the others are
//!   marked not visible with the denial, never dropped and never decided;
//! - pages of users join up to every user once, in order;
//! - bad input and a matrix over the size cap get a 400 naming the field.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use common::{Creds, Db, Server};
use serde_json::{json, Value};

fn servers() -> Vec<Server> {
    [Db::Sqlite, Db::Postgres]
        .into_iter()
        .filter_map(Server::start)
        .collect()
}

fn doc(statements: Value) -> String {
    json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

fn policy(s: &Server, root: &Creds, name: &str, statements: Value) {
    s.call(
        root,
        "POST",
        "/v1/policies",
        Some(&json!({"name": name, "document": doc(statements)}).to_string()),
    )
    .ok();
}

fn user(s: &Server, root: &Creds, body: Value) {
    s.call(root, "POST", "/v1/users", Some(&body.to_string()))
        .ok();
}

fn inline(s: &Server, root: &Creds, user: &str, statements: Value) {
    s.call(
        root,
        "PUT",
        &format!("/v1/users/{user}/policies/p"),
        Some(&json!({"document": doc(statements)}).to_string()),
    )
    .ok();
}

fn join(s: &Server, root: &Creds, group: &str, user: &str) {
    s.call(
        root,
        "PUT",
        &format!("/v1/groups/{group}/users/{user}"),
        None,
    )
    .ok();
}

const HOSTS: &[(&str, &[(&str, &str)])] = &[
    ("bastion", &[]),
    ("db-01", &[("env", "prod"), ("team", "db")]),
    ("web-01", &[("env", "prod"), ("team", "web")]),
    ("web-02", &[("env", "dev"), ("team", "web")]),
];

const ACCOUNTS: &[&str] = &["deploy", "ops", "root"];

/// Hosts, users with groups, tags, denies, conditions and a boundary.
fn fixture(s: &Server) {
    let root = s.root();
    for (h, tags) in HOSTS {
        let tags: Vec<Value> = tags
            .iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect();
        s.call(
            &root,
            "POST",
            "/v1/hosts",
            Some(&json!({"name": h, "tags": tags}).to_string()),
        )
        .ok();
    }
    // ops: root or ops on prod hosts; deny root on db hosts (group inline).
    policy(
        s,
        &root,
        "ops-login",
        json!([{"Sid": "ProdOps", "Effect": "Allow", "Action": "host:Login", "Resource": "*",
            "Condition": {"StringEquals": {"host:Principal": ["root", "ops"], "ward:ResourceTag/env": "prod"}}}]),
    );
    s.call(&root, "POST", "/v1/groups", Some(r#"{"name":"ops"}"#))
        .ok();
    s.call(
        &root,
        "PUT",
        "/v1/groups/ops/attached-policies/ops-login",
        None,
    )
    .ok();
    s.call(
        &root,
        "PUT",
        "/v1/groups/ops/policies/nodbroot",
        Some(
            &json!({"document": doc(json!([{"Effect": "Deny", "Action": "host:Login", "Resource": "*",
                "Condition": {"StringEquals": {"host:Principal": "root", "ward:ResourceTag/team": "db"}}}]))})
            .to_string(),
        ),
    )
    .ok();
    // A boundary: logins on dev hosts only.
    policy(
        s,
        &root,
        "dev-only",
        json!([{"Effect": "Allow", "Action": "host:Login", "Resource": "*",
            "Condition": {"StringEquals": {"ward:ResourceTag/env": "dev"}}}]),
    );
    user(s, &root, json!({"name": "alice"}));
    join(s, &root, "ops", "alice");
    // carol: ops, and an explicit deny of every login on web-01.
    user(s, &root, json!({"name": "carol"}));
    join(s, &root, "ops", "carol");
    let web01 = format!("arn:ward:host::{}:host/web-01", s.account);
    inline(
        s,
        &root,
        "carol",
        json!([{"Effect": "Deny", "Action": "host:Login", "Resource": web01}]),
    );
    // bob: his own name on web-* hosts.
    user(s, &root, json!({"name": "bob"}));
    inline(
        s,
        &root,
        "bob",
        json!([{"Effect": "Allow", "Action": "host:Login",
            "Resource": format!("arn:ward:host::{}:host/web-*", s.account),
            "Condition": {"StringEquals": {"host:Principal": "bob"}}}]),
    );
    // dave: everything, within the dev-only boundary.
    user(s, &root, json!({"name": "dave"}));
    inline(
        s,
        &root,
        "dave",
        json!([{"Effect": "Allow", "Action": "host:Login", "Resource": "*"}]),
    );
    s.call(
        &root,
        "PUT",
        "/v1/users/dave/permissions-boundary",
        Some(r#"{"policy":"dev-only"}"#),
    )
    .ok();
    // erin: deploy, from 10.0.0.0/8 only.
    user(s, &root, json!({"name": "erin"}));
    inline(
        s,
        &root,
        "erin",
        json!([{"Effect": "Allow", "Action": "host:Login", "Resource": "*",
            "Condition": {"StringEquals": {"host:Principal": "deploy"},
                          "IpAddress": {"ward:SourceIp": "10.0.0.0/8"}}}]),
    );
    // frank (tag team=web): deploy where the host's team is his.
    user(
        s,
        &root,
        json!({"name": "frank", "tags": [{"key": "team", "value": "web"}]}),
    );
    inline(
        s,
        &root,
        "frank",
        json!([{"Effect": "Allow", "Action": "host:Login", "Resource": "*",
            "Condition": {"StringEquals": {"host:Principal": "deploy", "ward:PrincipalTag/team": "web",
                                           "ward:ResourceTag/team": "web"}}}]),
    );
    // grace: nothing; hank (path /team/): ops.
    user(s, &root, json!({"name": "grace"}));
    user(s, &root, json!({"name": "hank", "path": "/team/"}));
    join(s, &root, "ops", "hank");
}

/// What `simulate/principal` says for one cell: `A`, `D` or `I`.
fn single(
    s: &Server,
    who: &Creds,
    user: &str,
    host: &str,
    account: &str,
    from: Option<&str>,
) -> char {
    let tags = HOSTS.iter().find(|(h, _)| *h == host).unwrap().1;
    let mut ctx = json!({"host:Principal": account, "host:Name": host});
    for (k, v) in tags {
        ctx[format!("ward:ResourceTag/{k}")] = json!(v);
    }
    if let Some(ip) = from {
        ctx["ward:SourceIp"] = json!(ip);
    }
    let r = s.call(
        who,
        "POST",
        "/v1/simulate/principal",
        Some(
            &json!({"policySourceArn": user, "actionNames": ["host:Login"],
                "resourceArns": [format!("arn:ward:host::{}:host/{host}", s.account)],
                "contextEntries": ctx})
            .to_string(),
        ),
    );
    match r.ok()["results"][0]["decision"].as_str().unwrap() {
        "Allowed" => 'A',
        "ExplicitlyDenied" => 'D',
        "ImplicitlyDenied" => 'I',
        d => panic!("{d}"),
    }
}

fn matrix(s: &Server, who: &Creds, body: Value) -> common::Response {
    s.call(who, "POST", "/v1/simulate/matrix", Some(&body.to_string()))
}

/// Cell (user, column, host) of a matrix answer.
fn cell(m: &Value, user: &str, col: usize, host: usize) -> char {
    let row = m["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["userName"] == user)
        .unwrap_or_else(|| panic!("no row {user}: {m}"));
    row["cells"][col]
        .as_str()
        .unwrap()
        .chars()
        .nth(host)
        .unwrap()
}

#[test]
fn every_cell_of_the_matrix_is_what_simulate_principal_says() {
    for s in servers() {
        fixture(&s);
        let root = s.root();
        for from in [None, Some("10.1.2.3")] {
            let mut body = json!({"accounts": ACCOUNTS, "ownName": true});
            if let Some(ip) = from {
                body["contextEntries"] = json!({"ward:SourceIp": ip});
            }
            let m = matrix(&s, &root, body).ok().clone();
            let hosts: Vec<&str> = m["hosts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h.as_str().unwrap())
                .collect();
            assert_eq!(hosts, HOSTS.iter().map(|(h, _)| *h).collect::<Vec<_>>());
            let rows = m["rows"].as_array().unwrap();
            let names: Vec<&str> = rows
                .iter()
                .map(|r| r["userName"].as_str().unwrap())
                .collect();
            assert_eq!(
                names,
                ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "hank"]
            );
            let mut seen = std::collections::BTreeMap::new();
            for r in rows {
                assert_eq!(r["visible"], true, "{r}");
                let u = r["userName"].as_str().unwrap();
                let cols = r["cells"].as_array().unwrap();
                assert_eq!(cols.len(), 1 + ACCOUNTS.len(), "{r}");
                for (c, col) in cols.iter().enumerate() {
                    let col: Vec<char> = col.as_str().unwrap().chars().collect();
                    assert_eq!(col.len(), hosts.len(), "{r}");
                    let account = if c == 0 { u } else { ACCOUNTS[c - 1] };
                    for (h, host) in hosts.iter().enumerate() {
                        let want = single(&s, &root, u, host, account, from);
                        assert_eq!(
                            col[h], want,
                            "{u} on {host} as {account} from {from:?}: matrix {} but simulate/principal {want}",
                            col[h]
                        );
                        *seen.entry(want).or_insert(0) += 1;
                    }
                }
            }
            // The fixture exercises every outcome.
            assert!(
                seen.contains_key(&'A') && seen.contains_key(&'D') && seen.contains_key(&'I'),
                "{seen:?}"
            );
        }
        // And the ones the fixture was built for (columns: own, deploy, ops, root;
        // hosts: bastion, db-01, web-01, web-02).
        let m = matrix(&s, &root, json!({"accounts": ACCOUNTS, "ownName": true}))
            .ok()
            .clone();
        assert_eq!(cell(&m, "alice", 3, 2), 'A'); // ops group, prod host, root
        assert_eq!(cell(&m, "alice", 3, 1), 'D'); // the group's deny of root on db
        assert_eq!(cell(&m, "alice", 2, 1), 'A'); // ops on db is fine
        assert_eq!(cell(&m, "carol", 2, 2), 'D'); // carol's own deny of web-01
        assert_eq!(cell(&m, "bob", 0, 3), 'A'); // own name on web-02
        assert_eq!(cell(&m, "bob", 1, 3), 'I');
        assert_eq!(cell(&m, "dave", 3, 3), 'A'); // inside the boundary
        assert_eq!(cell(&m, "dave", 3, 2), 'I'); // outside it
        assert_eq!(cell(&m, "erin", 1, 0), 'I'); // no source address
        assert_eq!(cell(&m, "frank", 1, 2), 'A'); // tags match
        assert_eq!(cell(&m, "frank", 1, 1), 'I');
        let m = matrix(
            &s,
            &root,
            json!({"accounts": ["deploy"], "contextEntries": {"ward:SourceIp": "10.1.2.3"}}),
        )
        .ok()
        .clone();
        assert_eq!(cell(&m, "erin", 0, 0), 'A');
        let m = matrix(
            &s,
            &root,
            json!({"accounts": ["deploy"], "contextEntries": {"ward:SourceIp": "192.0.2.1"}}),
        )
        .ok()
        .clone();
        assert_eq!(cell(&m, "erin", 0, 0), 'I');
        // A policy change is seen at once (one snapshot per generation).
        s.call(&root, "DELETE", "/v1/groups/ops/users/alice", None)
            .ok();
        let m = matrix(
            &s,
            &root,
            json!({"accounts": ["root"], "userNames": ["alice"]}),
        )
        .ok()
        .clone();
        assert_eq!(m["rows"][0]["cells"][0], "IIII", "{m}");
    }
}

#[test]
fn rows_the_caller_may_not_simulate_are_marked_not_dropped() {
    for s in servers() {
        fixture(&s);
        let root = s.root();
        let viewer = common::user_with_policy(
            &s,
            &root,
            "viewer",
            r#"{"Effect":"Allow","Action":["iam:ListUsers","host:ListHosts","host:GetHost"],"Resource":"*"},
               {"Effect":"Allow","Action":"iam:SimulatePrincipalPolicy","Resource":"arn:ward:iam::*:user/team/*"}"#,
        );
        let m = matrix(&s, &viewer, json!({"accounts": ["ops"]}))
            .ok()
            .clone();
        let rows = m["rows"].as_array().unwrap();
        // Every user is a row (viewer included), none dropped.
        assert_eq!(rows.len(), 9, "{m}");
        for r in rows {
            if r["userName"] == "hank" {
                assert_eq!(r["visible"], true, "{r}");
                assert_eq!(r["cells"][0], "IAAI", "{r}"); // ops on the prod hosts
            } else {
                assert_eq!(r["visible"], false, "{r}");
                assert!(
                    r.get("cells").is_none(),
                    "a hidden row leaked its cells: {r}"
                );
                assert!(
                    r["message"]
                        .as_str()
                        .unwrap()
                        .contains("iam:SimulatePrincipalPolicy"),
                    "{r}"
                );
            }
        }
        // The single route agrees on who may be simulated.
        let r = s.call(
            &viewer,
            "POST",
            "/v1/simulate/principal",
            Some(r#"{"policySourceArn":"alice","actionNames":["host:Login"]}"#),
        );
        assert_eq!(r.status, 403, "{}", r.body);
        // A name that does not exist is hidden from who may not simulate it
        // (no existence leak), a 404 for who may.
        let m = matrix(
            &s,
            &viewer,
            json!({"accounts": ["ops"], "userNames": ["nobody"]}),
        )
        .ok()
        .clone();
        assert_eq!(m["rows"][0]["visible"], false, "{m}");
        let r = matrix(
            &s,
            &root,
            json!({"accounts": ["ops"], "userNames": ["nobody"]}),
        );
        assert_eq!(r.status, 404, "{}", r.body);
        // Without iam:ListUsers there is no list of every user to show.
        let lister = common::user_with_policy(
            &s,
            &root,
            "lister",
            r#"{"Effect":"Allow","Action":["host:ListHosts","iam:SimulatePrincipalPolicy"],"Resource":"*"}"#,
        );
        let r = matrix(&s, &lister, json!({"accounts": ["ops"]}));
        assert_eq!(r.status, 403, "{}", r.body);
        assert!(r.body.to_string().contains("iam:ListUsers"), "{}", r.body);
        // ... but named users it may simulate are shown.
        let m = matrix(
            &s,
            &lister,
            json!({"accounts": ["ops"], "userNames": ["alice"]}),
        )
        .ok()
        .clone();
        assert_eq!(m["rows"][0]["visible"], true, "{m}");
    }
}

#[test]
fn pages_of_users_join_up_to_every_user_once() {
    let Some(s) = Server::start(Db::Sqlite) else {
        return;
    };
    fixture(&s);
    let root = s.root();
    let mut all = Vec::new();
    let mut marker: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut body = json!({"accounts": ["ops"], "maxUsers": 3});
        if let Some(m) = &marker {
            body["marker"] = json!(m);
        }
        let m = matrix(&s, &root, body).ok().clone();
        pages += 1;
        let rows = m["rows"].as_array().unwrap();
        assert!(rows.len() <= 3);
        all.extend(
            rows.iter()
                .map(|r| r["userName"].as_str().unwrap().to_owned()),
        );
        match m["marker"].as_str() {
            Some(mk) => marker = Some(mk.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(
        all,
        ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "hank"]
    );
}

#[test]
fn bad_matrices_get_a_400_naming_the_field() {
    let Some(s) = Server::start(Db::Sqlite) else {
        return;
    };
    fixture(&s);
    let root = s.root();
    let many_hosts: Vec<String> = (0..200).map(|i| format!("h{i}.example")).collect();
    let many_accounts: Vec<String> = (0..21).map(|i| format!("a{i}")).collect();
    let cases = [
        (
            json!({"actionName": "iam:GetUser", "accounts": ["root"]}),
            "actionName",
        ),
        (json!({"accounts": []}), "accounts"),
        (json!({"accounts": many_accounts}), "accounts"),
        (json!({"accounts": ["Root!"]}), "accounts[0]"),
        (json!({"accounts": ["root", "root"]}), "accounts[1]"),
        (
            json!({"accounts": ["root"], "userNames": ["bad/name"]}),
            "userNames[0]",
        ),
        (
            json!({"accounts": ["root"], "hostNames": ["bad host"]}),
            "hostNames[0]",
        ),
        (json!({"accounts": ["root"], "maxUsers": 0}), "maxUsers"),
        (json!({"accounts": ["root"], "maxUsers": 1001}), "maxUsers"),
        (
            json!({"accounts": ["root"], "contextEntries": {"host:Principal": "x"}}),
            "contextEntries.host:Principal",
        ),
        (
            json!({"accounts": ["root"], "contextEntries": {"ward:resourcetag/env": "dev"}}),
            "contextEntries.ward:resourcetag/env",
        ),
        // 1,000 users × 200 hosts × 5 columns: over the cap, refused
        // before any host is looked up (none of these exists).
        (
            json!({"accounts": ["a", "b", "c", "d"], "ownName": true, "hostNames": many_hosts, "maxUsers": 1000}),
            "maxUsers",
        ),
    ];
    for (body, field) in cases {
        let r = matrix(&s, &root, body.clone());
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert_eq!(r.body["error"]["field"], field, "{body}: {}", r.body);
    }
    // The cap's message says what to do.
    let r = matrix(
        &s,
        &root,
        json!({"accounts": ["a", "b", "c", "d"], "ownName": true, "hostNames": many_hosts}),
    );
    let msg = r.body["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("1000000 cells") && msg.contains("800000"),
        "{msg}"
    );
    // Under the cap, unknown hosts are a 404, not a 500.
    let r = matrix(
        &s,
        &root,
        json!({"accounts": ["root"], "hostNames": ["nope.example"]}),
    );
    assert_eq!(r.status, 404, "{}", r.body);
}

/// A caller with no simulate permission asking for 1,000 rows: every row
/// is marked not visible with the denial's explanation, and the call
/// writes one denial audit record (the count and the first names), not
/// one a row. On PostgreSQL the generation is read a bounded number of
/// times per call, not once a row (`ward_store_generation_reads_total`).
#[test]
fn hidden_rows_of_one_call_are_one_denial_record_and_one_generation_read() {
    for s in servers() {
        fixture(&s);
        let root = s.root();
        let mapper = common::user_with_policy(
            &s,
            &root,
            "mapper",
            r#"{"Effect":"Allow","Action":"host:ListHosts","Resource":"*"}"#,
        );
        let names: Vec<String> = ["alice", "hank"]
            .into_iter()
            .map(str::to_owned)
            .chain((0..998).map(|i| format!("ghost-{i:04}")))
            .collect();
        assert_eq!(names.len(), 1000);
        let denials = |s: &Server| -> Vec<Value> {
            let r = s.call(
                &root,
                "GET",
                "/v1/audit/events?action=iam%3ASimulatePrincipalPolicy&limit=1000&user=mapper",
                None,
            );
            r.ok()["events"].as_array().cloned().unwrap()
        };
        assert!(denials(&s).is_empty());
        let pg = s.db_url.is_some();
        let reads_before = pg.then(|| s.metric("ward_store_generation_reads_total"));
        let m = matrix(
            &s,
            &mapper,
            json!({"accounts": ["ops"], "userNames": names}),
        )
        .ok()
        .clone();
        let reads = reads_before.map(|b| s.metric("ward_store_generation_reads_total") - b);
        let rows = m["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 1000, "{m}");
        for (r, n) in rows.iter().zip(&names) {
            assert_eq!(r["userName"], n.as_str(), "{r}");
            assert_eq!(r["visible"], false, "{r}");
            assert!(r.get("cells").is_none(), "{r}");
            let msg = r["message"].as_str().unwrap();
            assert!(msg.contains("iam:SimulatePrincipalPolicy"), "{r}");
        }
        // Exactly one denial record for the whole call.
        let ev = denials(&s);
        assert_eq!(ev.len(), 1, "{ev:?}");
        let e = &ev[0];
        assert_eq!(e["decision"], "ImplicitlyDenied", "{e}");
        assert_eq!(e["detail"]["denied"], 1000, "{e}");
        let first: Vec<&str> = e["detail"]["firstNames"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(first.len(), 20, "{e}");
        assert_eq!(
            first,
            names[..20].iter().map(String::as_str).collect::<Vec<_>>()
        );
        if let Some(reads) = reads {
            eprintln!("PostgreSQL generation reads for one 1,000-row matrix call: {reads}");
            // Authentication, host:ListHosts and the rows: a handful, where
            // reading it per row made it more than 1,000.
            assert!(reads < 20, "{reads} generation reads for one matrix call");
        }
        // A caller allowed some rows: one record for the rest, and the
        // allowed rows decided as before.
        let viewer = common::user_with_policy(
            &s,
            &root,
            "viewer",
            r#"{"Effect":"Allow","Action":"host:ListHosts","Resource":"*"},
               {"Effect":"Allow","Action":"iam:SimulatePrincipalPolicy","Resource":"arn:ward:iam::*:user/team/*"}"#,
        );
        let m = matrix(
            &s,
            &viewer,
            json!({"accounts": ["ops"], "userNames": ["alice", "hank", "bob"]}),
        )
        .ok()
        .clone();
        let vis: Vec<bool> = m["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["visible"].as_bool().unwrap())
            .collect();
        assert_eq!(vis, [false, true, false], "{m}");
        let r = s.call(
            &root,
            "GET",
            "/v1/audit/events?action=iam%3ASimulatePrincipalPolicy&limit=1000&user=viewer",
            None,
        );
        let ev = r.ok()["events"].as_array().cloned().unwrap();
        assert_eq!(ev.len(), 1, "{ev:?}");
        assert_eq!(ev[0]["detail"]["denied"], 2, "{ev:?}");
        assert_eq!(ev[0]["detail"]["firstNames"], json!(["alice", "bob"]));
    }
}
