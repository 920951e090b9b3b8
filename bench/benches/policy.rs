//! Policy-decision benchmark: ward-policy against cedar-policy, side by side
//! in one run (SPEC §8: "policy decision, user in 3 groups with 10 policies /
//! 60 statements with conditions: median ≤ 1 µs; ≥ 20× the throughput of
//! cedar-policy on equivalent policies in the same run").
//!
//! Both engines get the same policies, generated here from one abstract
//! description ([`Stmt`]) and rendered twice: as IAM JSON for ward and as
//! Cedar text written the way Cedar is meant to be used (principal, action
//! and resource constraints in the policy head, action wildcards as action
//! groups, the rest in `when`). Requests, contexts, Cedar entities and
//! policy sets are built once, outside the timed loops; only the decision
//! call is timed: `ward_policy::evaluate(&set, &req)` and
//! `Authorizer::is_authorized(&req, &policies, &entities)`. Before timing,
//! the bench checks that both engines reach the same decision on every
//! scenario (and that it is the intended one), so the comparison is of
//! equivalent work.
//!
//! After the criterion groups it prints a summary table of median ns per
//! decision and the ratio cedar/ward, from its own timing loop.

// A benchmark's inputs are fixed by this file: a failure to build them, or a
// disagreement between the engines, is a bug in the bench and must abort.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::hint::black_box;
use std::str::FromStr;
use std::time::{Duration, Instant};

use criterion::Criterion;
use serde_json::{json, Map, Value};

use ward_policy::{
    evaluate, Context, ContextValue, Decision, Policy, PolicyKind, PolicySet, Principal, Request,
};

const ACCOUNT: &str = "123456789012";
const USER: &str = "alice";
const GROUPS: [&str; 3] = ["ops", "dev", "staff"];
/// Statements per managed policy: SPEC §8's 60 statements in 10 policies.
const PER_POLICY: usize = 6;

/// Actions known to the Cedar entity store (a slice of SPEC §4's catalogue).
/// Every action a request uses must be here, so that Cedar knows which
/// action groups it is in.
const CATALOGUE: &[&str] = &[
    "host:RegisterHost",
    "host:DeregisterHost",
    "host:ListHosts",
    "host:TagHost",
    "host:Login",
    "host:Sudo",
    "host:Connect",
    "iam:GetUser",
    "iam:ListUsers",
    "iam:GetGroup",
    "iam:ListGroups",
    "iam:GetPolicy",
    "iam:ListPolicies",
    "iam:GetRole",
    "iam:ListRoles",
    "iam:GetUserPolicy",
    "iam:GetAccessKeyLastUsed",
    "iam:ListAccessKeys",
    "iam:CreateUser",
    "iam:DeleteUser",
    "sts:AssumeRole",
    "sts:GetCallerIdentity",
    "ca:IssueSshUserCertificate",
    "ca:ListCertificates",
];

// ---------------------------------------------------------------------------
// The abstract policies, rendered for both engines.

/// Who a policy is attached to.
#[derive(Clone, Copy, Debug)]
enum Attach {
    User,
    Group(&'static str),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Effect {
    Allow,
    Deny,
}

/// What a statement's `Resource` names.
#[derive(Clone, Debug)]
enum Res {
    /// `"*"`.
    Any,
    /// Hosts in any account whose name matches a glob.
    Hosts(String),
    /// One host in our account.
    Host(String),
    /// Every IAM user in our account.
    IamUsers,
    /// Roles in our account whose name matches a glob.
    Roles(String),
}

/// One condition, as ward writes it and as Cedar writes it.
#[derive(Clone, Debug)]
enum Cond {
    /// `StringEquals ward:ResourceTag/env` / the host's `env` tag.
    EnvIs(Vec<String>),
    /// `StringLike host:Principal` (values may be `${ward:username}`).
    HostPrincipalLike(Vec<&'static str>),
    /// `StringEquals host:Principal`.
    HostPrincipalIs(Vec<String>),
    /// `IpAddress ward:SourceIp`.
    SourceIn(Vec<&'static str>),
    /// `NotIpAddress ward:SourceIp`.
    SourceNotIn(Vec<&'static str>),
    /// `Bool ward:SecureTransport true`.
    Secure,
    /// `NumericLessThanEquals ward:MultiFactorAuthAge`.
    MfaAgeAtMost(i64),
    /// `DateLessThan ward:CurrentTime`.
    Before(&'static str),
    /// `ForAnyValue:StringEquals ward:TagKeys`.
    TagKeysAny(Vec<&'static str>),
}

#[derive(Clone, Debug)]
struct Stmt {
    effect: Effect,
    /// Exact names or IAM wildcards (`host:*`, `iam:Get*`, `*`).
    actions: Vec<String>,
    resource: Res,
    conds: Vec<Cond>,
}

fn s(v: &str) -> String {
    v.to_owned()
}

/// Statement `i` of a generated set: template `i % 12` in round `i / 12`.
/// Round 0 holds the statements that bear on the bench's requests (the
/// Allow for prod web hosts and the two Denies); later rounds name other
/// hosts, roles and accounts, so they are scanned but do not apply, as in a
/// real account where most statements are about something else.
fn statement(i: usize) -> Stmt {
    let j = i / 12;
    let name = if j == 0 { s("web") } else { format!("app{j}") };
    let hosts = Res::Hosts(format!("{name}-*"));
    let allow = |actions: &[&str], resource: Res, conds: Vec<Cond>| Stmt {
        effect: Effect::Allow,
        actions: actions.iter().map(|a| s(a)).collect(),
        resource,
        conds,
    };
    match i % 12 {
        // SPEC §4's example: ops may log in as themselves or deploy on prod
        // hosts from the office network.
        0 => allow(
            &["host:Login"],
            hosts,
            vec![
                Cond::EnvIs(vec![s("prod")]),
                Cond::HostPrincipalLike(vec!["${ward:username}", "deploy"]),
                Cond::SourceIn(vec!["10.0.0.0/8"]),
            ],
        ),
        1 => allow(
            &["host:*"],
            hosts,
            vec![Cond::EnvIs(vec![s("staging"), s("dev")]), Cond::Secure],
        ),
        2 => allow(
            &["iam:Get*", "iam:List*"],
            Res::IamUsers,
            vec![Cond::MfaAgeAtMost(3600)],
        ),
        3 => allow(
            &["host:Sudo"],
            hosts,
            vec![
                Cond::EnvIs(vec![s("prod")]),
                Cond::MfaAgeAtMost(900),
                Cond::Before("2030-01-01T00:00:00Z"),
                Cond::HostPrincipalLike(vec!["${ward:username}"]),
            ],
        ),
        4 => allow(
            &["ca:IssueSshUserCertificate"],
            Res::Any,
            vec![Cond::TagKeysAny(vec!["env", "team"]), Cond::Secure],
        ),
        5 => allow(
            &["host:Login", "host:Connect"],
            Res::Host(format!("bastion-{j}")),
            vec![
                Cond::SourceIn(vec!["10.0.0.0/8", "192.168.0.0/16"]),
                Cond::Before("2030-01-01T00:00:00Z"),
            ],
        ),
        6 => allow(
            &["sts:AssumeRole"],
            Res::Roles(format!("{name}-*")),
            vec![Cond::Secure, Cond::MfaAgeAtMost(3600)],
        ),
        // Nobody logs in as root.
        7 if j == 0 => Stmt {
            effect: Effect::Deny,
            actions: vec![s("host:Login"), s("host:Sudo")],
            resource: Res::Hosts(s("*")),
            conds: vec![Cond::HostPrincipalIs(vec![s("root")])],
        },
        7 => allow(
            &["host:Login"],
            hosts,
            vec![
                Cond::HostPrincipalIs(vec![format!("svc{j}")]),
                Cond::SourceIn(vec!["10.0.0.0/8"]),
            ],
        ),
        // Vault hosts only from the office network.
        8 if j == 0 => Stmt {
            effect: Effect::Deny,
            actions: vec![s("*")],
            resource: Res::Hosts(s("vault-*")),
            conds: vec![Cond::SourceNotIn(vec!["10.0.0.0/8"])],
        },
        8 => allow(
            &["host:Connect"],
            hosts,
            vec![Cond::SourceIn(vec!["172.16.0.0/12"])],
        ),
        9 => allow(
            &["host:List*"],
            Res::Any,
            vec![Cond::SourceIn(vec!["10.0.0.0/8"])],
        ),
        10 => allow(
            &["host:*"],
            hosts,
            vec![
                Cond::TagKeysAny(vec!["owner", "cost-center"]),
                Cond::EnvIs(vec![s("prod")]),
            ],
        ),
        _ => allow(
            &["host:Login"],
            Res::Hosts(s("*")),
            vec![
                Cond::EnvIs(vec![if j == 0 { s("dev") } else { format!("dev{j}") }]),
                Cond::HostPrincipalLike(vec!["${ward:username}"]),
                Cond::Before("2030-01-01T00:00:00Z"),
            ],
        ),
    }
}

/// One managed policy: its statements and whom it is attached to.
struct Doc {
    attach: Attach,
    stmts: Vec<Stmt>,
}

/// `n` statements in policies of [`PER_POLICY`], attached in turn to the
/// user and each of the 3 groups. Round 0 goes last, so that the statements
/// that apply (including the explicit Deny) are at the end: ward, which
/// stops at the first applicable Deny, gets no head start.
fn generate(n: usize) -> Vec<Doc> {
    let mut all: Vec<Stmt> = (0..n).map(statement).collect();
    all.reverse();
    all.chunks(PER_POLICY)
        .enumerate()
        .map(|(p, chunk)| Doc {
            attach: match p % 4 {
                0 => Attach::User,
                g => Attach::Group(GROUPS[g - 1]),
            },
            stmts: chunk.to_vec(),
        })
        .collect()
}

// --- ward rendering --------------------------------------------------------

fn ward_resource(r: &Res) -> String {
    match r {
        Res::Any => s("*"),
        Res::Hosts(glob) => format!("arn:ward:host::*:host/{glob}"),
        Res::Host(name) => format!("arn:ward:host::{ACCOUNT}:host/{name}"),
        Res::IamUsers => format!("arn:ward:iam::{ACCOUNT}:user/*"),
        Res::Roles(glob) => format!("arn:ward:iam::{ACCOUNT}:role/{glob}"),
    }
}

fn ward_condition(conds: &[Cond]) -> Value {
    let mut ops: Map<String, Value> = Map::new();
    let mut put = |op: &str, key: &str, v: Value| {
        let entry = ops.entry(op).or_insert_with(|| json!({}));
        entry
            .as_object_mut()
            .expect("operator block is an object")
            .insert(s(key), v);
    };
    for c in conds {
        match c {
            Cond::EnvIs(v) => put("StringEquals", "ward:ResourceTag/env", json!(v)),
            Cond::HostPrincipalLike(v) => put("StringLike", "host:Principal", json!(v)),
            Cond::HostPrincipalIs(v) => put("StringEquals", "host:Principal", json!(v)),
            Cond::SourceIn(v) => put("IpAddress", "ward:SourceIp", json!(v)),
            Cond::SourceNotIn(v) => put("NotIpAddress", "ward:SourceIp", json!(v)),
            Cond::Secure => put("Bool", "ward:SecureTransport", json!("true")),
            Cond::MfaAgeAtMost(n) => put(
                "NumericLessThanEquals",
                "ward:MultiFactorAuthAge",
                json!(n.to_string()),
            ),
            Cond::Before(t) => put("DateLessThan", "ward:CurrentTime", json!(t)),
            Cond::TagKeysAny(v) => put("ForAnyValue:StringEquals", "ward:TagKeys", json!(v)),
        }
    }
    Value::Object(ops)
}

fn ward_policy(doc: &Doc, p: usize) -> Policy {
    let statements: Vec<Value> = doc
        .stmts
        .iter()
        .enumerate()
        .map(|(k, st)| {
            let mut o = Map::new();
            o.insert(s("Sid"), json!(format!("P{p}S{k}")));
            o.insert(
                s("Effect"),
                json!(match st.effect {
                    Effect::Allow => "Allow",
                    Effect::Deny => "Deny",
                }),
            );
            o.insert(s("Action"), json!(st.actions));
            o.insert(s("Resource"), json!(ward_resource(&st.resource)));
            if !st.conds.is_empty() {
                o.insert(s("Condition"), ward_condition(&st.conds));
            }
            Value::Object(o)
        })
        .collect();
    let text = json!({"Version": "2012-10-17", "Statement": statements}).to_string();
    Policy::parse(&text, PolicyKind::Managed)
        .unwrap_or_else(|e| panic!("ward rejects generated policy {p}: {e:?}\n{text}"))
}

// --- Cedar rendering -------------------------------------------------------

fn is_glob(a: &str) -> bool {
    a.contains(['*', '?'])
}

/// IAM action wildcard match (case-insensitive `*` and `?`), used only to
/// put each catalogue action into the Cedar action groups that stand for
/// ward's wildcards.
fn glob_match(pat: &[u8], text: &[u8]) -> bool {
    match (pat.first(), text.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            glob_match(&pat[1..], text) || (!text.is_empty() && glob_match(pat, &text[1..]))
        }
        (Some(b'?'), Some(_)) => glob_match(&pat[1..], &text[1..]),
        (Some(p), Some(t)) if p.eq_ignore_ascii_case(t) => glob_match(&pat[1..], &text[1..]),
        _ => false,
    }
}

fn cedar_str(v: &str) -> String {
    format!("{v:?}")
}

fn cedar_action(a: &str) -> String {
    format!("Action::{}", cedar_str(a))
}

/// `a || b || …`, parenthesised when there is more than one.
fn any_of(parts: Vec<String>) -> String {
    if parts.len() == 1 {
        parts.into_iter().next().unwrap_or_default()
    } else {
        format!("({})", parts.join(" || "))
    }
}

fn cedar_condition(c: &Cond) -> String {
    let ips = |v: &[&str]| {
        any_of(
            v.iter()
                .map(|n| format!("context.source_ip.isInRange(ip({}))", cedar_str(n)))
                .collect(),
        )
    };
    match c {
        // Every host carries an `env` tag, so no `hasTag` guard is needed.
        Cond::EnvIs(v) => any_of(
            v.iter()
                .map(|e| format!("resource.getTag(\"env\") == {}", cedar_str(e)))
                .collect(),
        ),
        Cond::HostPrincipalLike(v) => any_of(
            v.iter()
                .map(|p| match *p {
                    "${ward:username}" => s("context.host_principal == principal.name"),
                    p if is_glob(p) => format!("context.host_principal like {}", cedar_str(p)),
                    p => format!("context.host_principal == {}", cedar_str(p)),
                })
                .collect(),
        ),
        Cond::HostPrincipalIs(v) => any_of(
            v.iter()
                .map(|p| format!("context.host_principal == {}", cedar_str(p)))
                .collect(),
        ),
        Cond::SourceIn(v) => ips(v),
        Cond::SourceNotIn(v) => format!("!{}", ips(v)),
        Cond::Secure => s("context.secure_transport"),
        Cond::MfaAgeAtMost(n) => format!("context.mfa_age <= {n}"),
        Cond::Before(t) => format!("context.now < datetime({})", cedar_str(t)),
        Cond::TagKeysAny(v) => format!(
            "context.tag_keys.containsAny([{}])",
            v.iter()
                .map(|k| cedar_str(k))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// One Cedar policy per statement, with the attachment as its principal
/// constraint.
fn cedar_policy(attach: Attach, st: &Stmt) -> String {
    let principal = match attach {
        Attach::User => format!("principal == User::{}", cedar_str(USER)),
        Attach::Group(g) => format!("principal in Group::{}", cedar_str(g)),
    };
    let action = match st.actions.as_slice() {
        [a] if a == "*" => s("action"),
        [a] if is_glob(a) => format!("action in {}", cedar_action(a)),
        [a] => format!("action == {}", cedar_action(a)),
        list => format!(
            "action in [{}]",
            list.iter()
                .map(|a| cedar_action(a))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut when: Vec<String> = Vec::new();
    let resource = match &st.resource {
        Res::Any => s("resource"),
        Res::Hosts(glob) => {
            if glob != "*" {
                when.push(format!("resource.name like {}", cedar_str(glob)));
            }
            s("resource is Host")
        }
        Res::Host(name) => format!(
            "resource == Host::{}",
            cedar_str(&format!("arn:ward:host::{ACCOUNT}:host/{name}"))
        ),
        Res::IamUsers => s("resource is User"),
        Res::Roles(glob) => {
            when.push(format!("resource.name like {}", cedar_str(glob)));
            s("resource is Role")
        }
    };
    when.extend(st.conds.iter().map(cedar_condition));
    let effect = match st.effect {
        Effect::Allow => "permit",
        Effect::Deny => "forbid",
    };
    let body = if when.is_empty() {
        String::new()
    } else {
        format!(" when {{ {} }}", when.join(" && "))
    };
    format!("{effect}({principal}, {action}, {resource}){body};\n")
}

fn cedar_policies(docs: &[Doc]) -> cedar_policy::PolicySet {
    let text: String = docs
        .iter()
        .flat_map(|d| d.stmts.iter().map(|st| cedar_policy(d.attach, st)))
        .collect();
    cedar_policy::PolicySet::from_str(&text)
        .unwrap_or_else(|e| panic!("cedar rejects generated policies: {e:?}\n{text}"))
}

// ---------------------------------------------------------------------------
// Requests and entities.

fn uid(ty: &str, id: &str) -> cedar_policy::EntityUid {
    cedar_policy::EntityUid::from_type_name_and_id(
        cedar_policy::EntityTypeName::from_str(ty).unwrap(),
        cedar_policy::EntityId::new(id),
    )
}

fn host_arn(name: &str) -> String {
    format!("arn:ward:host::{ACCOUNT}:host/{name}")
}

/// Hosts the requests name, with their `env` tag.
const HOSTS: &[(&str, &str)] = &[("web-7", "prod"), ("db-3", "prod")];

/// The Cedar entity store, built once: alice in 3 groups, the hosts, and
/// the action catalogue with each action in the groups that stand for the
/// IAM wildcards the policies use.
fn cedar_entities(wildcards: &BTreeSet<String>) -> cedar_policy::Entities {
    use cedar_policy::{Entity, RestrictedExpression as E};
    let mut out: Vec<Entity> = Vec::new();
    out.push(
        Entity::new(
            uid("User", USER),
            [(s("name"), E::new_string(s(USER)))].into_iter().collect(),
            GROUPS.iter().map(|g| uid("Group", g)).collect(),
        )
        .unwrap(),
    );
    for g in GROUPS {
        out.push(Entity::new_no_attrs(uid("Group", g), Default::default()));
    }
    for (name, env) in HOSTS {
        out.push(
            Entity::new_with_tags(
                uid("Host", &host_arn(name)),
                [(s("name"), E::new_string(s(name)))],
                [],
                [(s("env"), E::new_string(s(env)))],
            )
            .unwrap(),
        );
    }
    for w in wildcards {
        out.push(Entity::new_no_attrs(uid("Action", w), Default::default()));
    }
    for a in CATALOGUE {
        let parents = wildcards
            .iter()
            .filter(|w| glob_match(w.as_bytes(), a.as_bytes()))
            .map(|w| uid("Action", w))
            .collect();
        out.push(Entity::new_no_attrs(uid("Action", a), parents));
    }
    cedar_policy::Entities::from_entities(out, None).unwrap()
}

/// One request, described once and built for both engines.
#[derive(Clone, Copy)]
struct Ask {
    label: &'static str,
    action: &'static str,
    host: &'static str,
    /// `host:Principal`: the local account.
    login_as: &'static str,
    expect: Decision,
}

const ALLOWED: Ask = Ask {
    label: "allowed",
    action: "host:Login",
    host: "web-7",
    login_as: USER,
    expect: Decision::Allowed,
};
const IMPLICIT: Ask = Ask {
    label: "implicit-deny",
    action: "host:Login",
    host: "db-3",
    login_as: USER,
    expect: Decision::ImplicitlyDenied,
};
const EXPLICIT: Ask = Ask {
    label: "explicit-deny",
    action: "host:Login",
    host: "web-7",
    login_as: "root",
    expect: Decision::ExplicitlyDenied,
};

const SOURCE_IP: &str = "10.1.2.3";
const NOW: &str = "2026-05-01T12:00:00Z";
const MFA_AGE: i64 = 300;
const TAG_KEYS: [&str; 2] = ["env", "team"];

fn ward_request(ask: &Ask) -> Request {
    let env = HOSTS
        .iter()
        .find(|(n, _)| *n == ask.host)
        .map(|(_, e)| *e)
        .unwrap();
    let mut ctx = Context::new();
    ctx.insert("ward:SourceIp", ContextValue::from(SOURCE_IP));
    ctx.insert("ward:SecureTransport", ContextValue::from("true"));
    ctx.insert("ward:CurrentTime", ContextValue::from(NOW));
    ctx.insert(
        "ward:MultiFactorAuthAge",
        ContextValue::from(MFA_AGE.to_string()),
    );
    ctx.insert(
        "ward:TagKeys",
        ContextValue::Multi(TAG_KEYS.iter().map(|k| s(k)).collect()),
    );
    ctx.insert("host:Principal", ContextValue::from(ask.login_as));
    // The caller (ward-ca, the agent) puts the host's tags in the context.
    ctx.insert("ward:ResourceTag/env", ContextValue::from(env));
    let alice = Principal::from_arn(&format!("arn:ward:iam::{ACCOUNT}:user/{USER}")).unwrap();
    Request::new(alice, ask.action, &host_arn(ask.host), ctx)
}

fn cedar_request(ask: &Ask) -> cedar_policy::Request {
    use cedar_policy::RestrictedExpression as E;
    let ctx = cedar_policy::Context::from_pairs([
        (s("source_ip"), E::new_ip(SOURCE_IP)),
        (s("secure_transport"), E::new_bool(true)),
        (s("now"), E::new_datetime(NOW)),
        (s("mfa_age"), E::new_long(MFA_AGE)),
        (
            s("tag_keys"),
            E::new_set(TAG_KEYS.iter().map(|k| E::new_string(s(k)))),
        ),
        (s("host_principal"), E::new_string(s(ask.login_as))),
    ])
    .unwrap();
    cedar_policy::Request::new(
        uid("User", USER),
        uid("Action", ask.action),
        uid("Host", &host_arn(ask.host)),
        ctx,
        None,
    )
    .unwrap()
}

/// Cedar's answer in ward's terms: a Deny with determining policies is an
/// explicit (forbid) denial; without, nothing permitted.
fn cedar_decision(r: &cedar_policy::Response) -> Decision {
    let errors: Vec<String> = r.diagnostics().errors().map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "cedar evaluation errors: {errors:?}");
    match r.decision() {
        cedar_policy::Decision::Allow => Decision::Allowed,
        cedar_policy::Decision::Deny if r.diagnostics().reason().next().is_some() => {
            Decision::ExplicitlyDenied
        }
        cedar_policy::Decision::Deny => Decision::ImplicitlyDenied,
    }
}

// ---------------------------------------------------------------------------
// Scenarios.

/// One policy set with its requests, ready for both engines.
struct Scenario {
    name: String,
    statements: usize,
    ward: Vec<Policy>,
    cedar: cedar_policy::PolicySet,
    entities: cedar_policy::Entities,
    asks: Vec<Ask>,
}

fn scenario(name: &str, n: usize, asks: &[Ask]) -> Scenario {
    let docs = generate(n);
    let wildcards: BTreeSet<String> = docs
        .iter()
        .flat_map(|d| d.stmts.iter())
        .flat_map(|st| st.actions.iter())
        .filter(|a| is_glob(a) && *a != "*")
        .cloned()
        .collect();
    Scenario {
        name: s(name),
        statements: n,
        ward: docs
            .iter()
            .enumerate()
            .map(|(p, d)| ward_policy(d, p))
            .collect(),
        cedar: cedar_policies(&docs),
        entities: cedar_entities(&wildcards),
        asks: asks.to_vec(),
    }
}

/// Median of per-call times over `BATCHES` batches, in ns. The batch length
/// is chosen so that a batch takes about `BATCH_TARGET` (at most 1,000
/// calls), which keeps the slow cases (Cedar on 1,000 statements) short.
fn median_ns(mut f: impl FnMut()) -> (f64, usize) {
    const BATCHES: usize = 201;
    const BATCH_TARGET: Duration = Duration::from_millis(2);
    // Warm up and estimate.
    let start = Instant::now();
    let mut calls = 0u32;
    while start.elapsed() < Duration::from_millis(50) {
        f();
        calls += 1;
    }
    let est = start.elapsed().as_nanos() as f64 / f64::from(calls);
    let batch = ((BATCH_TARGET.as_nanos() as f64 / est) as usize).clamp(1, 1000);
    let mut per_call: Vec<f64> = (0..BATCHES)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..batch {
                f();
            }
            t.elapsed().as_nanos() as f64 / batch as f64
        })
        .collect();
    per_call.sort_by(f64::total_cmp);
    (per_call[BATCHES / 2], batch)
}

struct Row {
    name: String,
    decision: Decision,
    ward_ns: f64,
    ward_batch: usize,
    cedar_ns: f64,
    cedar_batch: usize,
}

fn main() {
    let scenarios = vec![
        scenario("spec8-60", 60, &[ALLOWED, IMPLICIT, EXPLICIT]),
        scenario("n1", 1, &[ALLOWED, IMPLICIT]),
        scenario("n100", 100, &[ALLOWED, IMPLICIT]),
        scenario("n1000", 1000, &[ALLOWED, IMPLICIT]),
    ];
    let authorizer = cedar_policy::Authorizer::new();

    // Equivalence first: same decision from both engines, and the intended one.
    for sc in &scenarios {
        let refs: Vec<&Policy> = sc.ward.iter().collect();
        let set = PolicySet {
            identity: &refs,
            ..PolicySet::default()
        };
        for ask in &sc.asks {
            let w = evaluate(&set, &ward_request(ask));
            let c = cedar_decision(&authorizer.is_authorized(
                &cedar_request(ask),
                &sc.cedar,
                &sc.entities,
            ));
            assert_eq!(
                w, c,
                "{}/{}: ward and cedar disagree (ward {w:?}, cedar {c:?})",
                sc.name, ask.label
            );
            assert_eq!(
                w, ask.expect,
                "{}/{}: not the intended decision",
                sc.name, ask.label
            );
        }
    }
    let spec8 = &scenarios[0];
    println!(
        "policy-decision bench: spec8-60 = user in {} groups, {} managed policies, {} statements ({} Cedar policies)",
        GROUPS.len(),
        spec8.ward.len(),
        spec8.ward.iter().map(|p| p.statements().len()).sum::<usize>(),
        spec8.cedar.policies().count(),
    );

    let mut c = Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .nresamples(20_000)
        .without_plots()
        .configure_from_args();
    let mut rows: Vec<Row> = Vec::new();
    for sc in &scenarios {
        let refs: Vec<&Policy> = sc.ward.iter().collect();
        let set = PolicySet {
            identity: &refs,
            ..PolicySet::default()
        };
        for ask in &sc.asks {
            let name = format!("{}/{}", sc.name, ask.label);
            let wreq = ward_request(ask);
            let creq = cedar_request(ask);
            let mut g = c.benchmark_group(&name);
            g.bench_function("ward", |b| {
                b.iter(|| evaluate(black_box(&set), black_box(&wreq)))
            });
            g.bench_function("cedar", |b| {
                b.iter(|| {
                    authorizer.is_authorized(
                        black_box(&creq),
                        black_box(&sc.cedar),
                        black_box(&sc.entities),
                    )
                })
            });
            g.finish();

            let (ward_ns, ward_batch) = median_ns(|| {
                black_box(evaluate(black_box(&set), black_box(&wreq)));
            });
            let (cedar_ns, cedar_batch) = median_ns(|| {
                black_box(authorizer.is_authorized(
                    black_box(&creq),
                    black_box(&sc.cedar),
                    black_box(&sc.entities),
                ));
            });
            rows.push(Row {
                name: format!("{name} ({} stmts)", sc.statements),
                decision: ask.expect,
                ward_ns,
                ward_batch,
                cedar_ns,
                cedar_batch,
            });
        }
    }
    c.final_summary();

    println!();
    println!("== policy decision: median ns per decision (own loop: 201 batches; calls per batch in brackets) ==");
    println!(
        "{:<36} {:<17} {:>16} {:>18} {:>11}",
        "scenario", "decision", "ward ns", "cedar ns", "cedar/ward"
    );
    for r in &rows {
        println!(
            "{:<36} {:<17} {:>9.1} [{:>4}] {:>11.1} [{:>4}] {:>10.1}x",
            r.name,
            r.decision.as_str(),
            r.ward_ns,
            r.ward_batch,
            r.cedar_ns,
            r.cedar_batch,
            r.cedar_ns / r.ward_ns
        );
    }
    let by_policy: BTreeMap<&str, usize> = scenarios
        .iter()
        .map(|sc| (sc.name.as_str(), sc.ward.len()))
        .collect();
    println!("ward policies per scenario: {by_policy:?}");
}
