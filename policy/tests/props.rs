//! Property tests: monotonicity of Deny and Allow, determinism, agreement of
//! the fast and the explaining evaluator, and parse → serialise → parse.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use proptest::prelude::*;
use ward_policy::{
    evaluate, explain, Context, ContextValue, Decision, Policy, PolicyKind, PolicySet, Principal,
    Request,
};

fn action() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "host:Login",
        "host:Sudo",
        "host:*",
        "HOST:log*",
        "host:?udo",
        "iam:GetUser",
        "iam:*",
        "*",
        "ca:Issue*",
    ])
    .prop_map(str::to_owned)
}

fn resource() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "*",
        "arn:ward:host::*:host/*",
        "arn:ward:host::123456789012:host/db-1",
        "arn:ward:host::*:host/web-*",
        "arn:ward:host::*:host/${ward:username}",
        "arn:ward:host::*:host/${ward:PrincipalTag/team, 'db'}-?",
        "arn:ward:iam::*:user/${ward:username}",
    ])
    .prop_map(str::to_owned)
}

fn condition() -> impl Strategy<Value = Option<String>> {
    prop::option::of(
        prop::sample::select(vec![
            r#"{"StringEquals":{"ward:ResourceTag/env":"prod"}}"#,
            r#"{"StringNotEquals":{"ward:ResourceTag/env":"prod"}}"#,
            r#"{"StringLike":{"host:Principal":["${ward:username}","deploy"]}}"#,
            r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#,
            r#"{"NotIpAddress":{"ward:SourceIp":["10.0.0.0/8","::1/128"]}}"#,
            r#"{"Bool":{"ward:SecureTransport":"true"}}"#,
            r#"{"ForAllValues:StringEquals":{"ward:TagKeys":["env","team"]}}"#,
            r#"{"ForAnyValue:StringLike":{"ward:TagKeys":"t*"}}"#,
            r#"{"NumericLessThanEquals":{"ca:ValiditySeconds":"3600"}}"#,
            r#"{"DateLessThan":{"ward:CurrentTime":"2030-01-01T00:00:00Z"}}"#,
            r#"{"Null":{"ward:MultiFactorAuthAge":"true"}}"#,
            r#"{"StringEqualsIfExists":{"host:Principal":"root"}}"#,
        ])
        .prop_map(str::to_owned),
    )
}

#[derive(Clone, Debug)]
struct Stmt {
    allow: bool,
    not_action: bool,
    actions: Vec<String>,
    not_resource: bool,
    resources: Vec<String>,
    condition: Option<String>,
}

impl Stmt {
    fn json(&self) -> String {
        let list = |v: &[String]| serde_json::to_string(v).unwrap();
        let mut s = format!(
            r#"{{"Effect":"{}","{}":{},"{}":{}"#,
            if self.allow { "Allow" } else { "Deny" },
            if self.not_action {
                "NotAction"
            } else {
                "Action"
            },
            list(&self.actions),
            if self.not_resource {
                "NotResource"
            } else {
                "Resource"
            },
            list(&self.resources),
        );
        if let Some(c) = &self.condition {
            s.push_str(&format!(r#","Condition":{c}"#));
        }
        s.push('}');
        s
    }
}

fn stmt() -> impl Strategy<Value = Stmt> {
    (
        any::<bool>(),
        prop::bool::weighted(0.15),
        prop::collection::vec(action(), 1..3),
        prop::bool::weighted(0.15),
        prop::collection::vec(resource(), 1..3),
        condition(),
    )
        .prop_map(
            |(allow, not_action, actions, not_resource, resources, condition)| Stmt {
                allow,
                not_action,
                actions,
                not_resource,
                resources,
                condition,
            },
        )
}

fn doc(stmts: &[Stmt]) -> String {
    let body: Vec<String> = stmts.iter().map(Stmt::json).collect();
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        body.join(",")
    )
}

#[derive(Clone, Debug)]
struct Req {
    principal: &'static str,
    action: &'static str,
    resource: &'static str,
    context: Vec<(&'static str, ContextValue)>,
}

fn request() -> impl Strategy<Value = Req> {
    let ctx = prop::collection::vec(
        prop::sample::select(vec![
            ("ward:ResourceTag/env", ContextValue::from("prod")),
            ("ward:ResourceTag/env", ContextValue::from("dev")),
            ("host:Principal", ContextValue::from("alice")),
            ("host:Principal", ContextValue::from("root")),
            ("ward:SourceIp", ContextValue::from("10.1.2.3")),
            ("ward:SourceIp", ContextValue::from("::1")),
            ("ward:SecureTransport", ContextValue::from("true")),
            (
                "ward:TagKeys",
                ContextValue::Multi(vec!["env".into(), "owner".into()]),
            ),
            ("ward:TagKeys", ContextValue::Multi(vec![])),
            ("ca:ValiditySeconds", ContextValue::from("7200")),
            (
                "ward:CurrentTime",
                ContextValue::from("2026-11-28T10:00:00Z"),
            ),
            ("ward:PrincipalTag/team", ContextValue::from("db")),
        ]),
        0..6,
    );
    (
        prop::sample::select(vec![
            "arn:ward:iam::123456789012:user/alice",
            "arn:ward:sts::123456789012:assumed-role/deploy/s1",
        ]),
        prop::sample::select(vec![
            "host:Login",
            "host:Sudo",
            "iam:GetUser",
            "ca:IssueSshUserCertificate",
        ]),
        prop::sample::select(vec![
            "arn:ward:host::123456789012:host/db-1",
            "arn:ward:host::123456789012:host/web-2",
            "arn:ward:host::123456789012:host/alice",
            "arn:ward:iam::123456789012:user/alice",
        ]),
        ctx,
    )
        .prop_map(|(principal, action, resource, context)| Req {
            principal,
            action,
            resource,
            context,
        })
}

fn build(r: &Req) -> Request {
    let mut ctx = Context::new();
    for (k, v) in &r.context {
        ctx.insert(k, v.clone());
    }
    Request::new(
        Principal::from_arn(r.principal).unwrap(),
        r.action,
        r.resource,
        ctx,
    )
}

fn decide(identity: &[Vec<Stmt>], boundary: Option<&[Stmt]>, req: &Request) -> Decision {
    let policies: Vec<Policy> = identity
        .iter()
        .map(|s| Policy::parse(&doc(s), PolicyKind::InlineRole).unwrap())
        .collect();
    let refs: Vec<&Policy> = policies.iter().collect();
    let b = boundary.map(|s| Policy::parse(&doc(s), PolicyKind::InlineRole).unwrap());
    let brefs: Vec<&Policy> = b.iter().collect();
    let set = PolicySet {
        identity: &refs,
        boundaries: &brefs,
        ..PolicySet::default()
    };
    let d = evaluate(&set, req);
    assert_eq!(d, evaluate(&set, req), "evaluation is not deterministic");
    assert_eq!(
        d,
        explain(&set, req).decision,
        "evaluate and explain disagree"
    );
    d
}

fn policies() -> impl Strategy<Value = Vec<Vec<Stmt>>> {
    prop::collection::vec(prop::collection::vec(stmt(), 1..5), 1..4)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn adding_a_deny_never_allows(ps in policies(), boundary in prop::option::of(prop::collection::vec(stmt(), 1..3)), extra in stmt(), at in 0usize..8, r in request()) {
        let req = build(&r);
        let before = decide(&ps, boundary.as_deref(), &req);
        let mut more = ps.clone();
        let i = at % more.len();
        more[i].push(Stmt { allow: false, ..extra });
        let after = decide(&more, boundary.as_deref(), &req);
        prop_assert!(after == before || after == Decision::ExplicitlyDenied, "{before:?} -> {after:?}");
    }

    #[test]
    fn adding_an_allow_never_denies(ps in policies(), boundary in prop::option::of(prop::collection::vec(stmt(), 1..3)), extra in stmt(), at in 0usize..8, r in request(), to_boundary in any::<bool>()) {
        let req = build(&r);
        let before = decide(&ps, boundary.as_deref(), &req);
        let extra = Stmt { allow: true, ..extra };
        let after = match (&boundary, to_boundary) {
            (Some(b), true) => {
                let mut b = b.clone();
                b.push(extra);
                decide(&ps, Some(&b), &req)
            }
            _ => {
                let mut more = ps.clone();
                let i = at % more.len();
                more[i].push(extra);
                decide(&more, boundary.as_deref(), &req)
            }
        };
        if before == Decision::Allowed {
            prop_assert_eq!(after, Decision::Allowed);
        }
        if before == Decision::ExplicitlyDenied {
            prop_assert_eq!(after, Decision::ExplicitlyDenied);
        }
    }

    #[test]
    fn parse_serialise_parse_round_trips(stmts in prop::collection::vec(stmt(), 1..6), single in any::<bool>()) {
        let text = if single && stmts.len() == 1 {
            format!(r#"{{"Version":"2012-10-17","Statement":{}}}"#, stmts[0].json())
        } else {
            doc(&stmts)
        };
        let p = Policy::parse(&text, PolicyKind::InlineRole).unwrap();
        let again = Policy::parse(&p.to_json().to_string(), PolicyKind::InlineRole).unwrap();
        prop_assert_eq!(&p, &again);
        prop_assert_eq!(p.to_json(), again.to_json());
    }

    #[test]
    fn parser_never_panics_on_mutated_documents(stmts in prop::collection::vec(stmt(), 1..3), cut in 0usize..400, byte in any::<u8>()) {
        let mut bytes = doc(&stmts).into_bytes();
        let i = cut % bytes.len();
        bytes[i] = byte;
        let _ = Policy::parse_bytes(&bytes, PolicyKind::Managed);
        bytes.truncate(i);
        let _ = Policy::parse_bytes(&bytes, PolicyKind::Managed);
    }
}
