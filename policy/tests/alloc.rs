//! Evaluation allocates nothing: policies are compiled at parse time and
//! context values are typed at insertion, so `evaluate` runs on borrowed
//! data only. Counted with a real counting allocator, not assumed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use ward_policy::{
    evaluate, Context, ContextValue, Decision, Policy, PolicyKind, PolicySet, Principal, Request,
};

const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Sid":"Login","Effect":"Allow","Action":["host:Login","host:Sudo"],"Resource":"arn:ward:host::*:host/*",
   "Condition":{"StringEquals":{"ward:ResourceTag/env":"prod"},
     "StringLike":{"host:Principal":["${ward:username}","deploy"]},
     "StringEqualsIgnoreCase":{"host:Service":["SSHD","${ward:PrincipalTag/svc, 'login'}"]},
     "IpAddress":{"ward:SourceIp":["10.0.0.0/8","2001:db8::/32"]},
     "Bool":{"ward:SecureTransport":"true"},
     "NumericLessThanEquals":{"ward:MultiFactorAuthAge":"3600"},
     "DateLessThan":{"ward:CurrentTime":"2030-01-01T00:00:00Z"},
     "ArnLike":{"ward:PrincipalArn":"arn:ward:iam::*:user/*"},
     "ForAllValues:StringLike":{"ward:TagKeys":["env","te?m"]},
     "Null":{"ward:RequestTag/x":"true"},
     "BinaryEquals":{"ward:PrincipalTag/blob":"aGVsbG8="}}},
  {"Effect":"Allow","Action":"iam:Get*","Resource":"arn:ward:iam::*:user/${ward:username}"},
  {"Effect":"Deny","NotAction":["host:*","iam:*"],"NotResource":"arn:ward:host::*:host/web-*"}
]}"#;

#[test]
fn evaluate_does_not_allocate() {
    let policy = Policy::parse(POLICY, PolicyKind::Managed).unwrap();
    let mut ctx = Context::new();
    for (k, v) in [
        ("ward:ResourceTag/env", "prod"),
        ("host:Principal", "alice"),
        ("host:Service", "sshd"),
        ("ward:SourceIp", "10.1.2.3"),
        ("ward:SecureTransport", "true"),
        ("ward:MultiFactorAuthAge", "60"),
        ("ward:CurrentTime", "2026-11-28T10:00:00Z"),
        ("ward:PrincipalTag/blob", "aGVsbG8="),
    ] {
        ctx.insert(k, ContextValue::from(v));
    }
    ctx.insert(
        "ward:TagKeys",
        ContextValue::Multi(vec!["env".into(), "team".into()]),
    );
    let alice = Principal::from_arn("arn:ward:iam::123456789012:user/alice").unwrap();
    let login = Request::new(
        alice.clone(),
        "host:Login",
        "arn:ward:host::123456789012:host/db-1",
        ctx.clone(),
    );
    let get = Request::new(
        alice.clone(),
        "iam:GetUser",
        "arn:ward:iam::123456789012:user/alice",
        ctx.clone(),
    );
    let denied = Request::new(
        alice,
        "ca:IssueX509Certificate",
        "arn:ward:ca::123456789012:authority/x509-client",
        ctx,
    );
    let refs = [&policy];
    let set = PolicySet {
        identity: &refs,
        ..PolicySet::default()
    };

    let mut decisions = Vec::with_capacity(3);
    let info = allocation_counter::measure(|| {
        decisions.push(evaluate(&set, &login));
        decisions.push(evaluate(&set, &get));
        decisions.push(evaluate(&set, &denied));
    });
    assert_eq!(
        decisions,
        [
            Decision::Allowed,
            Decision::Allowed,
            Decision::ExplicitlyDenied
        ]
    );
    assert_eq!(info.count_total, 0, "evaluate allocated: {info:?}");
    // The counter is live: it does see an allocation.
    let probe = allocation_counter::measure(|| {
        std::hint::black_box(Vec::<u8>::with_capacity(8));
    });
    assert!(probe.count_total >= 1, "allocation counter is not counting");
}

/// The linear wildcard matcher (memmem for literal middle segments, the
/// precompiled Shift-And automaton for `?`, the stack join for variables)
/// allocates nothing either.
#[test]
fn wildcard_segments_do_not_allocate() {
    let policy = Policy::parse(
        r#"{"Version":"2012-10-17","Statement":[
          {"Effect":"Allow","Action":"host:Login","Resource":"arn:ward:host::*:host/*-d?-*-x"},
          {"Effect":"Allow","Action":"iam:GetUser","Resource":"arn:ward:iam::*:user/*/${ward:username}-*"},
          {"Effect":"Allow","Action":"iam:ListUsers","Resource":"arn:ward:iam::*:user/*team*/*",
           "Condition":{"StringLike":{"host:Principal":"*a?i*e"}}}
        ]}"#,
        PolicyKind::Managed,
    )
    .unwrap();
    let alice = Principal::from_arn("arn:ward:iam::123456789012:user/alice").unwrap();
    let mut ctx = Context::new();
    ctx.insert("host:Principal", ContextValue::from("xxalice"));
    let reqs = [
        (
            "host:Login",
            "arn:ward:host::123456789012:host/web-db-eu-x",
            Decision::Allowed,
        ),
        (
            "host:Login",
            "arn:ward:host::123456789012:host/web-db-eu-y",
            Decision::ImplicitlyDenied,
        ),
        (
            "iam:GetUser",
            "arn:ward:iam::123456789012:user/ops/alice-2",
            Decision::Allowed,
        ),
        (
            "iam:ListUsers",
            "arn:ward:iam::123456789012:user/a/teams/b",
            Decision::Allowed,
        ),
    ]
    .map(|(a, r, d)| (Request::new(alice.clone(), a, r, ctx.clone()), d));
    let refs = [&policy];
    let set = PolicySet {
        identity: &refs,
        ..PolicySet::default()
    };
    let mut decisions = Vec::with_capacity(reqs.len());
    let info = allocation_counter::measure(|| {
        for (r, _) in &reqs {
            decisions.push(evaluate(&set, r));
        }
    });
    let want: Vec<Decision> = reqs.iter().map(|(_, d)| *d).collect();
    assert_eq!(decisions, want);
    assert_eq!(info.count_total, 0, "evaluate allocated: {info:?}");
}
