//! Issue 9's differential test: for random users, groups, policies and
//! requests, the decision the real ward-ca makes on a live signed request
//! (200 or 403) equals `ward_authz::decide` computed here from the same
//! documents and the same context — the contract the host agent and the
//! gateway will rely on. Policies come from a small grammar: a few `iam:`
//! actions and wildcards, resources with wildcards, Allow and Deny, and
//! conditions on `ward:SourceIp`, `ward:username`, `ward:PrincipalTag/*`
//! and `aws:SecureTransport`; a user's inline policy, a group's inline
//! and managed policies, and sometimes a permissions boundary. The seed is
//! fixed (override with `WARD_DIFF_SEED`) so a failure reproduces.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::net::{IpAddr, Ipv4Addr};

use common::{creds_of, Db, Server};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use ward_authz::{Attached, Holder, PrincipalPolicies, RequestFacts};
use ward_policy::{Principal, Request};

const CASES: usize = 40;

fn pick<'a>(r: &mut StdRng, xs: &[&'a str]) -> &'a str {
    xs[r.gen_range(0..xs.len())]
}

/// One random statement.
fn statement(r: &mut StdRng, acct: &str) -> String {
    let effect = if r.gen_bool(0.25) { "Deny" } else { "Allow" };
    let action = pick(
        r,
        &[
            "iam:GetUser",
            "iam:ListUsers",
            "iam:ListGroups",
            "iam:Get*",
            "iam:List*",
            "iam:*User*",
            "*",
        ],
    );
    let user_a = format!("arn:ward:iam::{acct}:user/u-a*");
    let user_1 = format!("arn:ward:iam::{acct}:user/u-?1");
    let resource = pick(
        r,
        &[
            "*",
            "arn:ward:iam::*:user/*",
            &user_a,
            &user_1,
            "arn:ward:iam::*:group/*",
            "arn:ward:iam::*:*",
        ],
    )
    .to_owned();
    let condition = match r.gen_range(0..7) {
        0 => json!({"IpAddress": {"ward:SourceIp": "127.0.0.0/8"}}),
        1 => json!({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
        2 => json!({"StringLike": {"ward:username": "u-a*"}}),
        3 => json!({"StringEquals": {"ward:PrincipalTag/team": pick(r, &["ops", "dev"])}}),
        4 => json!({"Bool": {"aws:SecureTransport": pick(r, &["true", "false"])}}),
        5 => json!({"StringEquals": {"ward:username": "${ward:username}"}}),
        _ => serde_json::Value::Null,
    };
    let mut s = json!({"Effect": effect, "Action": action, "Resource": resource});
    if !condition.is_null() {
        s["Condition"] = condition;
    }
    s.to_string()
}

fn document(r: &mut StdRng, acct: &str) -> String {
    let n = r.gen_range(1..=2);
    let stmts: Vec<String> = (0..n).map(|_| statement(r, acct)).collect();
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        stmts.join(",")
    )
}

fn differential(db: Db) {
    let Some(s) = Server::start(db) else { return };
    let root = s.root();
    let acct = s.account.clone();
    let seed: u64 = std::env::var("WARD_DIFF_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x9_2024);
    let mut r = StdRng::seed_from_u64(seed);
    let (mut allowed, mut denied) = (0, 0);
    for case in 0..CASES {
        let letter = pick(&mut r, &["a", "b"]);
        let name = format!("u-{letter}{}", case % 10);
        let name = format!("{name}-{case}");
        let team = pick(&mut r, &["ops", "dev", ""]);
        let tags: Vec<(String, String)> = if team.is_empty() {
            Vec::new()
        } else {
            vec![("team".to_owned(), team.to_owned())]
        };
        let tag_json: Vec<_> = tags
            .iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect();
        let user = s
            .call(
                &root,
                "POST",
                "/v1/users",
                Some(&json!({"name": name, "tags": tag_json}).to_string()),
            )
            .ok()
            .clone();
        let mut docs = PrincipalPolicies::<String>::new(Holder::User);
        let inline = document(&mut r, &acct);
        s.call(
            &root,
            "PUT",
            &format!("/v1/users/{name}/policies/own"),
            Some(&json!({ "document": inline }).to_string()),
        )
        .ok();
        docs.own.inline.push(inline);
        if r.gen_bool(0.5) {
            let group = format!("g-{case}");
            s.call(
                &root,
                "POST",
                "/v1/groups",
                Some(&json!({ "name": group }).to_string()),
            )
            .ok();
            s.call(
                &root,
                "PUT",
                &format!("/v1/groups/{group}/users/{name}"),
                None,
            )
            .ok();
            let mut g = Attached::new(Holder::Group);
            let gdoc = document(&mut r, &acct);
            s.call(
                &root,
                "PUT",
                &format!("/v1/groups/{group}/policies/gp"),
                Some(&json!({ "document": gdoc }).to_string()),
            )
            .ok();
            g.inline.push(gdoc);
            if r.gen_bool(0.5) {
                let mdoc = document(&mut r, &acct);
                let pname = format!("m-{case}");
                s.call(
                    &root,
                    "POST",
                    "/v1/policies",
                    Some(&json!({"name": pname, "document": mdoc}).to_string()),
                )
                .ok();
                s.call(
                    &root,
                    "PUT",
                    &format!("/v1/groups/{group}/attached-policies/{pname}"),
                    None,
                )
                .ok();
                g.managed.push(mdoc);
            }
            docs.inherited.push(g);
        }
        if r.gen_bool(0.25) {
            let bdoc = document(&mut r, &acct);
            let pname = format!("b-{case}");
            s.call(
                &root,
                "POST",
                "/v1/policies",
                Some(&json!({"name": pname, "document": bdoc}).to_string()),
            )
            .ok();
            s.call(
                &root,
                "PUT",
                &format!("/v1/users/{name}/permissions-boundary"),
                Some(&json!({ "policy": pname }).to_string()),
            )
            .ok();
            docs.boundary = Some(bdoc);
        }
        let creds = creds_of(
            s.call(
                &root,
                "POST",
                &format!("/v1/users/{name}/access-keys"),
                None,
            )
            .ok(),
        );
        // The request: one of a few reads, on this user or an earlier one.
        let target = if case > 0 && r.gen_bool(0.5) {
            let t = r.gen_range(0..case);
            format!("u-{}{}-{t}", pick(&mut r, &["a", "b"]), t % 10)
        } else {
            name.clone()
        };
        let (action, path, resource) = match r.gen_range(0..3) {
            0 => (
                "iam:GetUser",
                format!("/v1/users/{target}"),
                format!("arn:ward:iam::{acct}:user/{target}"),
            ),
            1 => (
                "iam:ListUsers",
                "/v1/users".to_owned(),
                format!("arn:ward:iam::{acct}:user/*"),
            ),
            _ => (
                "iam:ListGroups",
                "/v1/groups".to_owned(),
                format!("arn:ward:iam::{acct}:group/*"),
            ),
        };
        let live = s.call(&creds, "GET", &path, None);
        // The same decision, computed from the same inputs.
        let compiled = docs.clone().compile().unwrap();
        let facts = RequestFacts {
            source_ip: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            now: 1_750_000_000,
            secure_transport: true,
            auth_method: "access-key",
            mfa_authenticated_at: None,
            principal_tags: &tags,
        };
        let principal = Principal::from_arn(user["arn"].as_str().unwrap())
            .unwrap()
            .with_unique_id(user["userId"].as_str().unwrap());
        let req = Request::new(
            principal,
            action,
            &resource,
            ward_authz::context(action, &facts, &[]),
        );
        let d = ward_authz::decide(&compiled.assemble().set(), &req);
        // A 404 (GetUser on a user that does not exist) only comes after
        // an allowed decision: authorization runs first.
        let live_allowed = match live.status {
            200 | 404 => true,
            403 => false,
            other => panic!("case {case} (seed {seed}): status {other}: {}", live.body),
        };
        assert_eq!(
            live_allowed,
            d.allowed,
            "case {case} (seed {seed}): {action} on {resource} by {name}\n\
             policies: {docs:#?}\nlive: {} {}\ndecide: {:?}",
            live.status,
            live.body,
            d.explanation.as_ref().map(|e| &e.message)
        );
        if d.allowed {
            allowed += 1;
        } else {
            denied += 1;
            // The 403 carries the explanation decide() gives.
            assert_eq!(live.body["error"]["code"], "AccessDenied", "{}", live.body);
            assert_eq!(
                live.body["error"]["message"].as_str(),
                d.explanation.as_ref().map(|e| e.message.as_str()),
                "case {case} (seed {seed})"
            );
        }
    }
    // The grammar must exercise both outcomes, or the test proves little.
    assert!(
        allowed >= 5 && denied >= 5,
        "seed {seed}: {allowed} allowed, {denied} denied"
    );
}

#[test]
fn live_decisions_equal_decide_sqlite() {
    differential(Db::Sqlite);
}

#[test]
fn live_decisions_equal_decide_postgres() {
    differential(Db::Postgres);
}
