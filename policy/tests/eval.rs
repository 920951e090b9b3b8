//! AWS's evaluation logic, rule by rule, through one table-driven `check`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use ward_policy::{
    evaluate, explain, Context, ContextValue, Decision, Policy, PolicyKind, PolicySet, Principal,
    Reason, Request,
};

const ACCT: &str = "123456789012";
const ALICE: &str = "arn:ward:iam::123456789012:user/ops/alice";
const BOB: &str = "arn:ward:iam::123456789012:user/bob";
const SESSION: &str = "arn:ward:sts::123456789012:assumed-role/deploy/ci-1";
const DB1: &str = "arn:ward:host::123456789012:host/db-1";
const ROLE: &str = "arn:ward:iam::123456789012:role/deploy";

/// One evaluation case; `Default` is "alice asks host:Login on db-1".
#[derive(Clone, Default)]
struct Case {
    identity: Vec<String>,
    resource_policy: Option<String>,
    boundaries: Vec<String>,
    session: Option<String>,
    principal: Option<&'static str>,
    action: Option<&'static str>,
    resource: Option<&'static str>,
    context: Vec<(&'static str, ContextValue)>,
}

/// An identity-policy document from statements.
fn doc(statements: &str) -> String {
    format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#)
}

fn allow(action: &str, resource: &str) -> String {
    format!(r#"{{"Effect":"Allow","Action":"{action}","Resource":"{resource}"}}"#)
}

fn deny(action: &str, resource: &str) -> String {
    format!(r#"{{"Effect":"Deny","Action":"{action}","Resource":"{resource}"}}"#)
}

impl Case {
    fn new() -> Case {
        Case::default()
    }
    fn identity(mut self, statements: &str) -> Case {
        self.identity.push(doc(statements));
        self
    }
    fn resource_policy(mut self, statements: &str) -> Case {
        self.resource_policy = Some(doc(statements));
        self
    }
    fn boundary(mut self, statements: &str) -> Case {
        self.boundaries.push(doc(statements));
        self
    }
    fn session_policy(mut self, statements: &str) -> Case {
        self.session = Some(doc(statements));
        self
    }
    fn by(mut self, principal: &'static str) -> Case {
        self.principal = Some(principal);
        self
    }
    fn action(mut self, a: &'static str) -> Case {
        self.action = Some(a);
        self
    }
    fn on(mut self, r: &'static str) -> Case {
        self.resource = Some(r);
        self
    }
    fn ctx(mut self, k: &'static str, v: &str) -> Case {
        self.context.push((k, ContextValue::from(v)));
        self
    }
    fn ctx_set(mut self, k: &'static str, v: &[&str]) -> Case {
        self.context.push((
            k,
            ContextValue::Multi(v.iter().map(|s| s.to_string()).collect()),
        ));
        self
    }

    fn run(&self) -> ward_policy::Explanation {
        let action = self.action.unwrap_or("host:Login");
        let parse = |d: &String, k| {
            Policy::parse(d, k).unwrap_or_else(|e| panic!("bad test policy {d}: {e}"))
        };
        let identity: Vec<Policy> = self
            .identity
            .iter()
            .map(|d| parse(d, PolicyKind::Managed))
            .collect();
        let boundaries: Vec<Policy> = self
            .boundaries
            .iter()
            .map(|d| parse(d, PolicyKind::Managed))
            .collect();
        let rkind = if action.starts_with("sts:AssumeRole") {
            PolicyKind::Trust
        } else {
            PolicyKind::Resource
        };
        let resource = self.resource_policy.as_ref().map(|d| parse(d, rkind));
        let session = self.session.as_ref().map(|d| parse(d, PolicyKind::Session));
        let irefs: Vec<&Policy> = identity.iter().collect();
        let brefs: Vec<&Policy> = boundaries.iter().collect();
        let set = PolicySet {
            identity: &irefs,
            resource: resource.as_ref(),
            boundaries: &brefs,
            session: session.as_ref(),
        };
        let mut context = Context::new();
        for (k, v) in &self.context {
            context.insert(k, v.clone());
        }
        let principal = Principal::from_arn(self.principal.unwrap_or(ALICE)).unwrap();
        let req = Request::new(principal, action, self.resource.unwrap_or(DB1), context);
        let fast = evaluate(&set, &req);
        let explained = explain(&set, &req);
        assert_eq!(fast, explained.decision, "evaluate and explain disagree");
        explained
    }
}

#[track_caller]
fn check(case: Case, expected: Decision) {
    let got = case.run();
    assert_eq!(got.decision, expected, "{}", got.message);
}

#[track_caller]
fn check_reason(case: Case, expected: Decision, reason: Reason) {
    let got = case.run();
    assert_eq!(
        (got.decision, got.reason),
        (expected, reason),
        "{}",
        got.message
    );
}

use Decision::{Allowed, ExplicitlyDenied as Explicit, ImplicitlyDenied as Implicit};

#[test]
fn default_deny_allow_and_explicit_deny() {
    check_reason(Case::new(), Implicit, Reason::NoAllow);
    check(Case::new().identity(&allow("host:Login", "*")), Allowed);
    check(Case::new().identity(&allow("host:Sudo", "*")), Implicit);
    // An explicit deny anywhere wins over any allow anywhere.
    check_reason(
        Case::new()
            .identity(&allow("host:*", "*"))
            .identity(&deny("host:Login", DB1)),
        Explicit,
        Reason::ExplicitDeny,
    );
    check(
        Case::new().identity(&format!("{},{}", deny("host:Login", DB1), allow("*", "*"))),
        Explicit,
    );
    check(
        Case::new()
            .identity(&deny("host:Login", "arn:ward:host::*:host/web-*"))
            .identity(&allow("*", "*")),
        Allowed,
    );
}

#[test]
fn action_matching_is_case_insensitive_with_wildcards() {
    check(Case::new().identity(&allow("HOST:LOGIN", "*")), Allowed);
    check(Case::new().identity(&allow("host:log*", "*")), Allowed);
    check(Case::new().identity(&allow("host:L?gin", "*")), Allowed);
    check(Case::new().identity(&allow("host:L?n", "*")), Implicit);
    check(Case::new().identity(&allow("*", "*")), Allowed);
    check(Case::new().identity(&allow("host:*in", "*")), Allowed);
    check(Case::new().identity(&allow("hostx:Login", "*")), Implicit);
    check(
        Case::new()
            .action("HoSt:lOgIn")
            .identity(&allow("host:Login", "*")),
        Allowed,
    );
}

#[test]
fn resource_matching_is_case_sensitive_per_segment() {
    check(
        Case::new().identity(&allow("host:Login", "arn:ward:host::*:host/db-*")),
        Allowed,
    );
    check(
        Case::new().identity(&allow("host:Login", "arn:ward:host::*:host/DB-*")),
        Implicit,
    );
    check(
        Case::new().identity(&allow(
            "host:Login",
            "arn:ward:host::123456789012:host/db-1",
        )),
        Allowed,
    );
    check(
        Case::new().identity(&allow(
            "host:Login",
            "arn:ward:host::999999999999:host/db-1",
        )),
        Implicit,
    );
    check(
        Case::new().identity(&allow("host:Login", "arn:ward:host::*:host/db-?")),
        Allowed,
    );
    // Five segments: the last one must match "ACCOUNT:host/db-1" whole.
    check(
        Case::new().identity(&allow("host:Login", "arn:ward:host:*:host/db-1")),
        Implicit,
    );
    check(
        Case::new().identity(&allow("host:Login", "arn:ward:host:*:*:host/db-1")),
        Allowed,
    );
    check(
        Case::new().identity(&allow("host:Login", "arn:ward:host:*")),
        Allowed,
    );
}

#[test]
fn not_action_and_not_resource() {
    let not_action = r#"{"Effect":"Allow","NotAction":"host:Sudo","Resource":"*"}"#;
    check(Case::new().identity(not_action), Allowed);
    check(
        Case::new().action("host:Sudo").identity(not_action),
        Implicit,
    );
    let not_resource =
        r#"{"Effect":"Allow","Action":"host:*","NotResource":"arn:ward:host::*:host/db-*"}"#;
    check(Case::new().identity(not_resource), Implicit);
    check(
        Case::new()
            .on("arn:ward:host::123456789012:host/web-1")
            .identity(not_resource),
        Allowed,
    );
    // Deny everything but Login: NotAction with Deny.
    let deny_rest = r#"{"Effect":"Deny","NotAction":"host:Login","Resource":"*"}"#;
    check(
        Case::new().identity(&format!("{deny_rest},{}", allow("*", "*"))),
        Allowed,
    );
    check(
        Case::new()
            .action("host:Sudo")
            .identity(&format!("{deny_rest},{}", allow("*", "*"))),
        Explicit,
    );
}

#[test]
fn spec_example_ops_login() {
    let ops = r#"{"Effect":"Allow","Action":"host:Login","Resource":"arn:ward:host::*:host/*",
        "Condition":{"StringEquals":{"ward:ResourceTag/env":"prod"},
          "StringLike":{"host:Principal":["${ward:username}","deploy"]},
          "IpAddress":{"ward:SourceIp":"10.0.0.0/8"}}}"#;
    let base = || {
        Case::new()
            .identity(ops)
            .ctx("ward:ResourceTag/env", "prod")
            .ctx("ward:SourceIp", "10.1.2.3")
    };
    check(base().ctx("host:Principal", "alice"), Allowed);
    check(base().ctx("host:Principal", "deploy"), Allowed);
    check(base().ctx("host:Principal", "root"), Implicit);
    check(base().ctx("host:Principal", "bob"), Implicit);
    check(base().by(BOB).ctx("host:Principal", "bob"), Allowed);
    check(
        base()
            .ctx("host:Principal", "alice")
            .ctx("ward:SourceIp", "192.168.1.1"),
        Implicit,
    );
    check(
        base()
            .ctx("host:Principal", "alice")
            .ctx("ward:ResourceTag/env", "dev"),
        Implicit,
    );
    check(
        Case::new()
            .identity(ops)
            .ctx("ward:SourceIp", "10.1.2.3")
            .ctx("host:Principal", "alice"),
        Implicit,
    );
    // aws: spellings mean the same.
    let aws = r#"{"Effect":"Allow","Action":"host:Login","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"},"StringEquals":{"AWS:USERNAME":"alice"}}}"#;
    check(
        Case::new().identity(aws).ctx("ward:SourceIp", "10.9.9.9"),
        Allowed,
    );
    check(
        Case::new()
            .identity(aws)
            .by(BOB)
            .ctx("ward:SourceIp", "10.9.9.9"),
        Implicit,
    );
}

#[test]
fn policy_variables() {
    let own = allow("iam:GetUser", "arn:ward:iam::*:user/*/${ward:username}");
    check(
        Case::new().action("iam:GetUser").on(ALICE).identity(&own),
        Allowed,
    );
    check(
        Case::new().action("iam:GetUser").on(BOB).identity(&own),
        Implicit,
    );
    // Unresolved variable: the statement does not apply; a default fixes it.
    let team = allow(
        "host:Login",
        "arn:ward:host::*:host/${ward:PrincipalTag/team}-*",
    );
    check(Case::new().identity(&team), Implicit);
    check(
        Case::new()
            .identity(&team)
            .ctx("ward:PrincipalTag/team", "db"),
        Allowed,
    );
    let with_default = allow(
        "host:Login",
        "arn:ward:host::*:host/${ward:PrincipalTag/team, 'db'}-*",
    );
    check(Case::new().identity(&with_default), Allowed);
    // A variable's value is matched literally: a tag of "*" does not widen.
    check(
        Case::new()
            .identity(&team)
            .ctx("ward:PrincipalTag/team", "*"),
        Implicit,
    );
    // Under Version 2008-10-17 (resource policies only) ${…} is literal text.
    let old = r#"{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"host:Login","Resource":"arn:ward:host::*:host/${ward:username}"}]}"#;
    let p = Policy::parse(old, PolicyKind::Resource).unwrap();
    let req = |r: &str| {
        Request::new(
            Principal::from_arn(ALICE).unwrap(),
            "host:Login",
            r,
            Context::new(),
        )
    };
    let set = PolicySet {
        resource: Some(&p),
        ..PolicySet::default()
    };
    assert_eq!(
        evaluate(&set, &req("arn:ward:host::123456789012:host/alice")),
        Implicit
    );
    assert_eq!(
        evaluate(
            &set,
            &req("arn:ward:host::123456789012:host/${ward:username}")
        ),
        Allowed
    );
}

#[test]
fn resource_policies() {
    let names = |p: &str| {
        format!(
            r#"{{"Effect":"Allow","Principal":{{"Ward":"{p}"}},"Action":"host:Login","Resource":"*"}}"#
        )
    };
    // A resource policy naming the user grants by itself.
    check_reason(
        Case::new().resource_policy(&names(ALICE)),
        Allowed,
        Reason::AllowedByResourcePolicy,
    );
    check(Case::new().by(BOB).resource_policy(&names(ALICE)), Implicit);
    check(
        Case::new().resource_policy(
            r#"{"Effect":"Allow","Principal":"*","Action":"host:Login","Resource":"*"}"#,
        ),
        Allowed,
    );
    // Naming the account (id or root ARN) delegates to identity policies.
    for acct in [ACCT, "arn:ward:iam::123456789012:root"] {
        check(Case::new().resource_policy(&names(acct)), Implicit);
        check(
            Case::new()
                .resource_policy(&names(acct))
                .identity(&allow("host:Login", "*")),
            Allowed,
        );
    }
    // Without Principal a resource-policy statement never applies.
    check(
        Case::new().resource_policy(&allow("host:Login", "*")),
        Implicit,
    );
    check(
        Case::new()
            .resource_policy(&deny("host:Login", "*"))
            .identity(&allow("*", "*")),
        Allowed,
    );
    // A Deny naming the account applies to everyone in it.
    let deny_acct = format!(
        r#"{{"Effect":"Deny","Principal":{{"AWS":"{ACCT}"}},"Action":"host:*","Resource":"*"}}"#
    );
    check(
        Case::new()
            .resource_policy(&deny_acct)
            .identity(&allow("*", "*")),
        Explicit,
    );
    // Unique ids name the principal too (policies store principals by id).
    let by_id = names("AIDAEXAMPLEUNIQUEID1");
    let set_case = Case::new().resource_policy(&by_id);
    check(set_case.clone(), Implicit);
    let p = Policy::parse(&doc(&by_id), PolicyKind::Resource).unwrap();
    let who = Principal::from_arn(ALICE)
        .unwrap()
        .with_unique_id("AIDAEXAMPLEUNIQUEID1");
    let req = Request::new(who, "host:Login", DB1, Context::new());
    assert_eq!(
        evaluate(
            &PolicySet {
                resource: Some(&p),
                ..PolicySet::default()
            },
            &req
        ),
        Allowed
    );
}

#[test]
fn not_principal_with_deny() {
    // "Deny everyone except alice": AWS needs the account listed too.
    let except = |list: &str| {
        format!(
            r#"{{"Effect":"Deny","NotPrincipal":{{"Ward":[{list}]}},"Action":"host:*","Resource":"*"}}"#
        )
    };
    let alice_and_account = except(&format!(r#""{ALICE}","{ACCT}""#));
    let everyone = allow("*", "*");
    check(
        Case::new()
            .identity(&everyone)
            .resource_policy(&alice_and_account),
        Allowed,
    );
    check(
        Case::new()
            .by(BOB)
            .identity(&everyone)
            .resource_policy(&alice_and_account),
        Explicit,
    );
    // Listing only the user leaves the account in the chain: still denied.
    check(
        Case::new()
            .identity(&everyone)
            .resource_policy(&except(&format!(r#""{ALICE}""#))),
        Explicit,
    );
    // Role sessions must be listed as the session, the role and the account.
    let s = || Case::new().by(SESSION).identity(&everyone);
    check(
        s().resource_policy(&except(&format!(r#""{ROLE}","{ACCT}""#))),
        Explicit,
    );
    check(
        s().resource_policy(&except(&format!(r#""{ROLE}","{SESSION}","{ACCT}""#))),
        Allowed,
    );
}

#[test]
fn not_principal_with_allow() {
    // An Allow with NotPrincipal grants everyone it does not list, and a
    // caller listed in any form (itself, its role, its account) is not
    // granted: the opposite reading of the Deny rule would let a listed
    // user through because its account is not listed, which fails open.
    let allow_except = |list: &str| {
        format!(
            r#"{{"Effect":"Allow","NotPrincipal":{{"Ward":[{list}]}},"Action":"host:Login","Resource":"*"}}"#
        )
    };
    let q = |arns: &[&str]| {
        arns.iter()
            .map(|a| format!("{a:?}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let table: &[(&str, &[&str], Decision)] = &[
        // Listing the caller alone: not granted (was Allowed).
        (ALICE, &[ALICE], Implicit),
        (ALICE, &[ALICE, ACCT], Implicit),
        // Someone else listed: granted.
        (ALICE, &[BOB], Allowed),
        (BOB, &[BOB], Implicit),
        (BOB, &[ALICE], Allowed),
        // The account listed covers every identity in it.
        (ALICE, &[ACCT], Implicit),
        (ALICE, &["210987654321"], Allowed),
        // A role session: listed as itself or through its role.
        (SESSION, &[SESSION], Implicit),
        (SESSION, &[ROLE], Implicit),
        (SESSION, &["arn:ward:iam::123456789012:role/other"], Allowed),
    ];
    for (who, listed, want) in table {
        let got = Case::new()
            .by(who)
            .resource_policy(&allow_except(&q(listed)))
            .run();
        assert_eq!(
            got.decision, *want,
            "{who} with NotPrincipal {listed:?}: {}",
            got.message
        );
    }
    // The identity policy still grants on its own; only the resource
    // policy's NotPrincipal Allow is withheld.
    check(
        Case::new()
            .identity(&allow("host:Login", "*"))
            .resource_policy(&allow_except(&q(&[ALICE]))),
        Allowed,
    );
}

#[test]
fn get_caller_identity_is_never_denied() {
    let me = "arn:ward:iam::123456789012:user/ops/alice";
    let who = || Case::new().action("sts:GetCallerIdentity").on(me);
    let table: Vec<(&str, Case)> = vec![
        ("no policy at all", who()),
        ("explicit Deny of *", who().identity(&deny("*", "*"))),
        (
            "explicit Deny of the action",
            who().identity(&deny("sts:GetCallerIdentity", "*")),
        ),
        (
            "boundary that allows nothing",
            who()
                .identity(&allow("*", "*"))
                .boundary(&allow("host:Login", "*")),
        ),
        (
            "session policy Deny",
            who().by(SESSION).session_policy(&deny("sts:*", "*")),
        ),
        (
            "resource policy Deny",
            who().resource_policy(
                r#"{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*"}"#,
            ),
        ),
    ];
    for (what, case) in table {
        let got = case.clone().run();
        assert_eq!(
            (got.decision, got.reason),
            (Allowed, Reason::AlwaysAllowed),
            "{what}: {}",
            got.message
        );
        // Matching is case-insensitive, as for every action.
        let got = case.action("STS:getcalleridentity").run();
        assert_eq!(got.decision, Allowed, "{what} (case)");
    }
    // Its neighbours are denied as usual.
    check(
        Case::new()
            .action("sts:GetSessionToken")
            .identity(&deny("*", "*")),
        Explicit,
    );
}

#[test]
fn permissions_boundaries() {
    let id = allow("host:*", "*");
    check_reason(
        Case::new().identity(&id).boundary(&allow("host:Sudo", "*")),
        Implicit,
        Reason::BoundaryDoesNotAllow,
    );
    check(
        Case::new()
            .identity(&id)
            .boundary(&allow("host:Login", "*")),
        Allowed,
    );
    // The boundary grants nothing on its own.
    check(Case::new().boundary(&allow("*", "*")), Implicit);
    // A Deny in a boundary is an explicit deny.
    check(
        Case::new().identity(&id).boundary(&format!(
            "{},{}",
            allow("*", "*"),
            deny("host:Login", "*")
        )),
        Explicit,
    );
    // Several boundaries: each must allow.
    check(
        Case::new()
            .identity(&id)
            .boundary(&allow("*", "*"))
            .boundary(&allow("host:Sudo", "*")),
        Implicit,
    );
    // A resource policy naming the user directly is not limited by the boundary...
    let rp = format!(
        r#"{{"Effect":"Allow","Principal":{{"Ward":"{ALICE}"}},"Action":"host:Login","Resource":"*"}}"#
    );
    check(
        Case::new()
            .resource_policy(&rp)
            .boundary(&allow("host:Sudo", "*")),
        Allowed,
    );
    // ...but one naming the role of a session is.
    let by_role = format!(
        r#"{{"Effect":"Allow","Principal":{{"Ward":"{ROLE}"}},"Action":"host:Login","Resource":"*"}}"#
    );
    check(Case::new().by(SESSION).resource_policy(&by_role), Allowed);
    check(
        Case::new()
            .by(SESSION)
            .resource_policy(&by_role)
            .boundary(&allow("host:Sudo", "*")),
        Implicit,
    );
}

#[test]
fn session_policies() {
    let id = allow("host:*", "*");
    let s = || Case::new().by(SESSION).identity(&id);
    check(s(), Allowed);
    check_reason(
        s().session_policy(&allow("host:Sudo", "*")),
        Implicit,
        Reason::SessionPolicyDoesNotAllow,
    );
    check(s().session_policy(&allow("host:Login", "*")), Allowed);
    check(s().session_policy(&deny("host:Login", "*")), Explicit);
    check(
        Case::new().by(SESSION).session_policy(&allow("*", "*")),
        Implicit,
    );
    // Resource policy naming the session ARN: not limited by the session policy.
    let by_session = format!(
        r#"{{"Effect":"Allow","Principal":{{"Ward":"{SESSION}"}},"Action":"host:Login","Resource":"*"}}"#
    );
    check(
        Case::new()
            .by(SESSION)
            .resource_policy(&by_session)
            .session_policy(&allow("host:Sudo", "*")),
        Allowed,
    );
    // Naming the role ARN: limited.
    let by_role = format!(
        r#"{{"Effect":"Allow","Principal":{{"Ward":"{ROLE}"}},"Action":"host:Login","Resource":"*"}}"#
    );
    check(
        Case::new()
            .by(SESSION)
            .resource_policy(&by_role)
            .session_policy(&allow("host:Sudo", "*")),
        Implicit,
    );
}

#[test]
fn assume_role_needs_the_trust_policy() {
    let assume = || Case::new().action("sts:AssumeRole").on(ROLE);
    let trust = |p: &str| {
        format!(r#"{{"Effect":"Allow","Principal":{{"Ward":"{p}"}},"Action":"sts:AssumeRole"}}"#)
    };
    let id = allow("sts:AssumeRole", ROLE);
    check_reason(assume().identity(&id), Implicit, Reason::TrustPolicyMissing);
    check_reason(
        assume().identity(&id).resource_policy(&trust(BOB)),
        Implicit,
        Reason::TrustPolicyDoesNotAllow,
    );
    // Naming the user: the trust policy alone suffices.
    check_reason(
        assume().resource_policy(&trust(ALICE)),
        Allowed,
        Reason::AllowedByTrustPolicy,
    );
    // Naming the account root: the identity policy must also allow.
    check(
        assume().resource_policy(&trust("arn:ward:iam::123456789012:root")),
        Implicit,
    );
    check(
        assume()
            .identity(&id)
            .resource_policy(&trust("arn:ward:iam::123456789012:root")),
        Allowed,
    );
    check(
        assume()
            .identity(&id)
            .resource_policy(&trust(ACCT))
            .boundary(&allow("host:*", "*")),
        Implicit,
    );
    // A Deny in the trust policy wins.
    let deny_alice = format!(
        r#"{{"Effect":"Deny","Principal":{{"Ward":"{ALICE}"}},"Action":"sts:AssumeRole"}}"#
    );
    check(
        assume()
            .identity(&id)
            .resource_policy(&format!("{},{deny_alice}", trust(ACCT))),
        Explicit,
    );
    // Conditions in trust policies see the request context.
    let ext = format!(
        r#"{{"Effect":"Allow","Principal":{{"Ward":"{ALICE}"}},"Action":"sts:AssumeRole","Condition":{{"StringEquals":{{"sts:ExternalId":"x-1"}}}}}}"#
    );
    check(assume().resource_policy(&ext), Implicit);
    check(
        assume().resource_policy(&ext).ctx("sts:ExternalId", "x-1"),
        Allowed,
    );
}

#[test]
fn set_operators_in_statements() {
    let tags = r#"{"Effect":"Allow","Action":"host:TagHost","Resource":"*","Condition":{"ForAllValues:StringEquals":{"ward:TagKeys":["env","team"]}}}"#;
    let c = || Case::new().action("host:TagHost").identity(tags);
    check(c().ctx_set("ward:TagKeys", &["env"]), Allowed);
    check(c().ctx_set("ward:TagKeys", &["env", "owner"]), Implicit);
    // The trap: a missing or empty set satisfies ForAllValues.
    check(c(), Allowed);
    check(c().ctx_set("ward:TagKeys", &[]), Allowed);
    // Guard it the AWS way with Null.
    let guarded = r#"{"Effect":"Allow","Action":"host:TagHost","Resource":"*","Condition":{"ForAllValues:StringEquals":{"ward:TagKeys":["env"]},"Null":{"ward:TagKeys":"false"}}}"#;
    check(
        Case::new().action("host:TagHost").identity(guarded),
        Implicit,
    );
    check(
        Case::new()
            .action("host:TagHost")
            .identity(guarded)
            .ctx_set("ward:TagKeys", &["env"]),
        Allowed,
    );
}

#[test]
fn explanations_name_statements() {
    let e = Case::new().run();
    assert_eq!(
        e.message,
        format!("denied: no statement allows host:Login on {DB1} for principal alice")
    );
    let e = Case::new()
        .identity(&format!(
            r#"{{"Sid":"LoginAll","Effect":"Allow","Action":"host:Login","Resource":"*"}},{}"#,
            allow("host:Sudo", "*")
        ))
        .run();
    assert_eq!(e.message, format!("allowed: statement \"LoginAll\" of identityPolicies[0] allows host:Login on {DB1} for principal alice"));
    let matched: Vec<_> = e.matched().map(|s| (s.policy, s.statement)).collect();
    assert_eq!(matched, [(0, 0)]);
    assert_eq!(e.statements.len(), 2);
    assert_eq!(
        e.statements[1].outcome,
        ward_policy::Outcome::ActionNotMatched
    );
    let e = Case::new()
        .identity(&allow("*", "*"))
        .identity(&deny("host:*", "*"))
        .run();
    assert_eq!(e.message, format!("denied: statement #0 of identityPolicies[1] explicitly denies host:Login on {DB1} for principal alice"));
    let cond = r#"{"Effect":"Allow","Action":"host:Login","Resource":"*","Condition":{"Bool":{"ward:SecureTransport":"true"}}}"#;
    let e = Case::new().identity(cond).run();
    // The message points at the nearest miss.
    assert_eq!(
        e.message,
        format!("denied: no statement allows host:Login on {DB1} for principal alice; statement #0 of identityPolicies[0] matches but its condition Bool on ward:SecureTransport is false")
    );
    assert_eq!(
        e.statements[0].outcome,
        ward_policy::Outcome::ConditionFailed {
            operator: "Bool".into(),
            key: "ward:SecureTransport".into()
        }
    );
}
