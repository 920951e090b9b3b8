//! Issue #11 item 1, differential: a random world of users, groups,
//! managed and inline policies, boundaries and tags is created in a real
//! `ward-ca` with the `ward` CLI; one host with tags is enrolled with
//! `ward-agent join` and a join token; its snapshot is fetched with the
//! agent's own client (`ward_agent::join::host_client`, mTLS with the host
//! certificate) and checked with `ward_agent::sync::validate`. Then ~300
//! random login and sudo requests are decided twice — by the agent's
//! decision path (`ward_agent::decide::Decider::decide_user` on that
//! snapshot) and by ward-ca's live simulator (`ward policy
//! simulate-principal`, resource = the host's ARN, with the context keys
//! the agent's `request()` supplies) — and must agree on every one.
//!
//! Disabled users are compared separately: the agent must deny them; the
//! simulator decides by policy only (it has no notion of "disabled"), and
//! the test prints how it answered.
//!
//! Sensitivity: the same requests decided by the agent on snapshots with
//! the host tags, or the users' tags, removed must disagree with the
//! simulator at least once (so the comparison sees those inputs).
//!
//! `WARD_DIFF_SEED` varies the world (default [`DEFAULT_SEED`]); `WARD_DIFF_REQUESTS`
//! the number of requests (default 300).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/agent.rs"]
mod agent;
#[path = "support/harness.rs"]
mod harness;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use agent::{agent_bin, agent_config, agent_join, host_client, s};
use harness::{check, json, Daemon, Scratch};
use serde_json::Value;
use ward_agent::decide::{Decider, Facts};
use ward_agent::shared::{AuditSink, Current, Shared};
use ward_protocol::agent::{Outcome, Status};
use ward_protocol::host::{HostEvent, Snapshot};

/// A small deterministic PRNG (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// In `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }
    /// True with probability `p` percent.
    fn pct(&mut self, p: u64) -> bool {
        self.next() % 100 < p
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.range(0, xs.len() - 1)]
    }
    fn one<T: Copy>(&mut self, xs: &[T]) -> T {
        *self.pick(xs)
    }
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| v.parse().unwrap_or_else(|_| panic!("{name}={v:?}")))
        .unwrap_or(default)
}

// --- The world -----------------------------------------------------------

const PORTABLE: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "oscar",
];
/// Valid ward names with no POSIX view (upper case, `@`, `+`, all digits).
const NOT_PORTABLE: &[&str] = &["Trent.Admin", "peggy@ops", "victor+1", "4242"];
const TEAMS: &[&str] = &["ops", "dev", "sec"];
const ENVS: &[&str] = &["prod", "test"];
const HOST: &str = "web-01";
/// The default world: one (of seeds 1–10, all of which agree 100%) whose
/// policies make both sensitivity mutants disagree, so the default run
/// also proves the comparison sees the host's and the users' tags.
const DEFAULT_SEED: u64 = 6;

struct User {
    name: String,
    disabled: bool,
}

/// One condition block: operator → key → values.
type Cond = BTreeMap<&'static str, BTreeMap<&'static str, Vec<String>>>;

/// `n` conditions (operators with the same name merge).
fn condition(r: &mut Rng, n: usize) -> Cond {
    let mut c = Cond::new();
    for _ in 0..n {
        let (op, key, vals): (&'static str, &'static str, Vec<String>) = match r.range(0, 11) {
            0 => (
                "StringEquals",
                "host:Principal",
                vec!["${ward:username}".into(), "deploy".into()],
            ),
            1 => (
                "StringLike",
                "host:Principal",
                vec![r.pick(&["${ward:username}", "d*", "*a*"]).to_string()],
            ),
            2 => (
                "StringEquals",
                "host:Service",
                vec![r.pick(&["sshd", "sudo"]).to_string()],
            ),
            3 => (
                "StringEquals",
                "ward:ResourceTag/env",
                vec![r.pick(ENVS).to_string()],
            ),
            4 => (
                "StringEquals",
                "ward:PrincipalTag/team",
                vec![r.pick(TEAMS).to_string()],
            ),
            5 => (
                "StringEquals",
                "ward:AuthMethod",
                vec![r.pick(&["ssh-certificate", "password"]).to_string()],
            ),
            6 => (
                "IpAddress",
                "ward:SourceIp",
                vec![r.pick(&["10.0.0.0/8", "192.168.1.0/24"]).to_string()],
            ),
            7 => (
                "NotIpAddress",
                "ward:SourceIp",
                vec![r.pick(&["10.0.0.0/8", "2001:db8::/32"]).to_string()],
            ),
            8 => (
                "Null",
                "ward:SourceIp",
                vec![r.pick(&["true", "false"]).to_string()],
            ),
            9 => (
                "Null",
                "ward:PrincipalTag/team",
                vec![r.pick(&["true", "false"]).to_string()],
            ),
            10 => (
                "StringNotEquals",
                "ward:ResourceTag/env",
                vec![r.pick(ENVS).to_string()],
            ),
            _ => (
                "StringEquals",
                "host:Name",
                vec![r.pick(&[HOST, "db-01"]).to_string()],
            ),
        };
        c.entry(op).or_default().insert(key, vals);
    }
    c
}

fn statement(r: &mut Rng, account: &str) -> Value {
    // Denies always carry a condition (an unconditioned one would deny
    // most of the world and leave few allowed requests to compare).
    let deny = r.pct(25);
    let effect = if deny { "Deny" } else { "Allow" };
    let n_cond = if deny {
        r.range(1, 2)
    } else if r.pct(40) {
        0
    } else {
        r.range(1, 2)
    };
    let action: Value = match r.range(0, 4) {
        0 => "host:Login".into(),
        1 => "host:Sudo".into(),
        2 => "host:*".into(),
        3 => "*".into(),
        _ => serde_json::json!(["host:Login", "host:Sudo"]),
    };
    let resource = match r.range(0, 4) {
        0 => "arn:ward:host::*:host/*".to_owned(),
        1 => format!("arn:ward:host::{account}:host/{HOST}"),
        2 => format!("arn:ward:host::{account}:host/db-01"),
        3 => format!("arn:ward:host::{account}:host/web-*"),
        _ => "*".to_owned(),
    };
    let mut st = serde_json::json!({"Effect": effect, "Action": action, "Resource": resource});
    let c = condition(r, n_cond);
    if !c.is_empty() {
        st["Condition"] = serde_json::to_value(c).unwrap();
    }
    st
}

fn document(r: &mut Rng, account: &str) -> String {
    let sts: Vec<Value> = (0..r.range(1, 3)).map(|_| statement(r, account)).collect();
    serde_json::json!({"Version": "2012-10-17", "Statement": sts}).to_string()
}

// --- The agent side ------------------------------------------------------

struct Discard;

impl AuditSink for Discard {
    fn record(&self, _event: HostEvent) {}
}

fn decider(snap: Snapshot) -> Decider {
    Decider::new(Arc::new(Shared {
        current: RwLock::new(Some(Arc::new(Current {
            snapshot: snap,
            received_at: now(),
        }))),
        status: Mutex::new(Status::default()),
        audit: Box::new(Discard),
        max_staleness: 86_400,
    }))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// One random request.
#[derive(Clone, Debug)]
struct Req {
    user: String,
    action: &'static str,
    principal: String,
    service: &'static str,
    auth_method: &'static str,
    source_ip: Option<IpAddr>,
}

/// The agent's answer for `q` from `d`'s snapshot: allowed or not.
fn agent_allows(d: &Decider, q: &Req) -> bool {
    let cur = d.usable(now()).unwrap();
    let user = cur
        .snapshot
        .users
        .iter()
        .find(|u| u.name == q.user)
        .unwrap_or_else(|| panic!("{} is not in the snapshot", q.user));
    let facts = Facts {
        action: q.action,
        principal: &q.principal,
        service: q.service,
        auth_method: q.auth_method,
        source_ip: q.source_ip,
        secure_transport: true,
        now: now(),
    };
    let v = d.decide_user(&cur, user, &facts);
    assert_ne!(v.outcome, Outcome::UnknownUser, "{q:?}");
    v.outcome == Outcome::Allowed
}

/// ward-ca's API as root: SigV4-signed JSON calls over TLS trusting the
/// daemon's bundle (one connection pool for the many simulator calls).
struct Api {
    agent: ureq::Agent,
    base: String,
    host: String,
    key: String,
    secret: String,
}

impl Api {
    fn new(ca: &Daemon) -> Api {
        let pem = std::fs::read(ca.bundle()).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pemfile::certs(&mut pem.as_slice()) {
            roots.add(c.unwrap()).unwrap();
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let base = ca.endpoint().trim_end_matches('/').to_owned();
        Api {
            agent: ureq::AgentBuilder::new()
                .tls_config(Arc::new(tls))
                .timeout(Duration::from_secs(60))
                .build(),
            host: base.trim_start_matches("https://").to_owned(),
            base,
            key: ca.root["WARD_ACCESS_KEY_ID"].clone(),
            secret: ca.root["WARD_SECRET_ACCESS_KEY"].clone(),
        }
    }

    /// `POST path` with `body`; the JSON answer (a non-2xx fails the test).
    fn post(&self, path: &str, body: &[u8]) -> Value {
        let date = ward_sigv4::format_amz_date(now());
        let signed = ward_sigv4::sign(
            "POST",
            path,
            &[],
            &[("host", &self.host)],
            body,
            &self.key,
            &self.secret,
            None,
            "local",
            "ward",
            &date,
        );
        let resp = self
            .agent
            .post(&format!("{}{path}", self.base))
            .set("Host", &self.host)
            .set("Authorization", &signed.authorization)
            .set("X-Amz-Date", &signed.x_amz_date)
            .set("X-Amz-Content-Sha256", &signed.x_amz_content_sha256)
            .set("Content-Type", "application/json")
            .send_bytes(body);
        match resp {
            Ok(r) => json(&r.into_string().unwrap()),
            Err(ureq::Error::Status(code, r)) => {
                panic!(
                    "POST {path}: {code}: {}",
                    r.into_string().unwrap_or_default()
                )
            }
            Err(e) => panic!("POST {path}: {e}"),
        }
    }
}

#[test]
fn the_agent_and_the_live_simulator_agree_on_every_request() {
    let seed = env_num("WARD_DIFF_SEED", DEFAULT_SEED);
    let n_requests = env_num("WARD_DIFF_REQUESTS", 300) as usize;
    let mut r = Rng(seed);
    let agent = agent_bin();
    let dir = Scratch::new("agent-diff");
    let home = dir.path("home");
    std::fs::create_dir_all(&home).unwrap();
    let ca = Daemon::start("agent-diff");
    let root = ca.root_env();
    let h = home.as_path();
    let w = |args: &[&str]| check(h, &root, args, None, 0, &[], &[]);
    let wj = |args: &[&str]| {
        let mut a = vec!["--output", "json"];
        a.extend_from_slice(args);
        json(&w(&a))
    };

    // --- Users.
    let n_users = r.range(6, 12);
    let mut users: Vec<User> = Vec::new();
    let mut portable: Vec<&str> = PORTABLE.to_vec();
    let mut odd: Vec<&str> = NOT_PORTABLE.to_vec();
    let mut account = String::new();
    for i in 0..n_users {
        let pool = if r.pct(25) && !odd.is_empty() {
            &mut odd
        } else {
            &mut portable
        };
        let name = pool.remove(r.range(0, pool.len() - 1)).to_owned();
        let mut args = vec!["user".to_owned(), "create".into(), name.clone()];
        if r.pct(30) {
            args.extend(["--path".into(), "/eng/".into()]);
        }
        if r.pct(60) {
            args.extend(["--tag".into(), format!("team={}", r.pick(TEAMS))]);
        }
        if r.pct(20) {
            args.extend(["--tag".into(), "level=2".into()]);
        }
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let created = wj(&a);
        if account.is_empty() {
            let arn = created["arn"]
                .as_str()
                .unwrap_or_else(|| panic!("{created}"));
            account = arn.split(':').nth(4).unwrap().to_owned();
        }
        // At least one disabled user, about one in eight.
        let disabled = i == 1 || r.pct(8);
        users.push(User { name, disabled });
    }

    // --- Managed policies (some become boundaries).
    let n_managed = r.range(4, 7);
    let mut managed = Vec::new();
    for i in 0..n_managed {
        let name = format!("pol{i}");
        let doc = dir.write(&format!("{name}.json"), &document(&mut r, &account));
        w(&["policy", "create", &name, "--document", s(&doc)]);
        managed.push(name);
    }
    for u in &users {
        for m in &managed {
            if r.pct(15) {
                w(&["policy", "attach", m, "--user", &u.name]);
            }
        }
        if r.pct(30) {
            let doc = dir.write("inline.json", &document(&mut r, &account));
            w(&[
                "policy",
                "put-inline",
                "own",
                "--user",
                &u.name,
                "--document",
                s(&doc),
            ]);
        }
        if r.pct(25) {
            let b = r.pick(&managed).as_str();
            w(&["user", "set-boundary", &u.name, b]);
        }
    }

    // --- Groups.
    let n_groups = r.range(3, 6);
    for g in 0..n_groups {
        let name = format!("grp{g}");
        w(&["group", "create", &name]);
        for m in &managed {
            if r.pct(30) {
                w(&["policy", "attach", m, "--group", &name]);
            }
        }
        for k in 0..r.range(0, 2) {
            let doc = dir.write("inline.json", &document(&mut r, &account));
            w(&[
                "policy",
                "put-inline",
                &format!("in{k}"),
                "--group",
                &name,
                "--document",
                s(&doc),
            ]);
        }
        for u in &users {
            if r.pct(40) {
                w(&["group", "add-user", &name, &u.name]);
            }
        }
    }
    for u in users.iter().filter(|u| u.disabled) {
        w(&["user", "disable", &u.name]);
    }

    // --- One host, enrolled with a join token, tags on the token.
    let env_tag = *r.pick(ENVS);
    let token = wj(&[
        "host",
        "join-token",
        HOST,
        "--tag",
        &format!("env={env_tag}"),
        "--tag",
        "role=web",
    ])["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (cfg, state) = agent_config(&dir);
    agent_join(&agent, &cfg, &ca, &token);

    // --- The snapshot, fetched and validated as the agent's sync does.
    let (host, client) = host_client(&cfg, &state);
    let body = match client
        .snapshot(Duration::ZERO, None, ward_agent::cache::MAX_SNAPSHOT)
        .unwrap()
    {
        ward_agent::client::SnapshotReply::Changed { body, .. } => body,
        other => panic!("{other:?}"),
    };
    let snap = ward_agent::sync::validate(&body, &host).unwrap();
    assert_eq!(snap.account, account);
    assert_eq!(
        snap.users.len(),
        users.len(),
        "every user is in the snapshot"
    );
    assert_eq!(snap.groups.len(), n_groups);
    for u in &users {
        let su = snap.users.iter().find(|x| x.name == u.name).unwrap();
        assert_eq!(su.enabled, !u.disabled, "{}", u.name);
    }
    assert!(
        snap.host
            .tags
            .iter()
            .any(|t| t.key == "env" && t.value == env_tag),
        "{:?}",
        snap.host.tags
    );
    let host_arn = ward_agent::decide::host_arn(&snap);
    let d = decider(snap.clone());

    // --- The requests.
    let ips: &[&str] = &["10.1.2.3", "192.168.1.7", "172.16.0.1", "2001:db8::1"];
    let reqs: Vec<Req> = (0..n_requests)
        .map(|_| {
            // Mostly enabled users (the comparison), some disabled ones.
            let want_disabled = r.pct(12);
            let pool: Vec<&User> = users
                .iter()
                .filter(|u| u.disabled == want_disabled)
                .collect();
            let user = if pool.is_empty() {
                r.pick(&users).name.clone()
            } else {
                r.pick(&pool).name.clone()
            };
            let principal = match r.range(0, 5) {
                0 | 1 => user.clone(),
                2 => "deploy".to_owned(),
                3 => "root".to_owned(),
                _ => r.pick(&users).name.clone(),
            };
            Req {
                user,
                action: r.one(&["host:Login", "host:Sudo"]),
                principal,
                service: r.one(&["sshd", "sudo", "login"]),
                auth_method: r.one(&["ssh-certificate", "ssh-key", "password"]),
                source_ip: if r.pct(40) {
                    None
                } else {
                    Some(r.pick(ips).parse().unwrap())
                },
            }
        })
        .collect();

    let api = Api::new(&ca);
    let simulate = |q: &Req| -> bool {
        let mut ctx: BTreeMap<String, Value> = BTreeMap::new();
        let mut put = |k: String, v: &str| ctx.insert(k, Value::from(v));
        put("host:Principal".into(), &q.principal);
        put("host:Service".into(), q.service);
        put("host:Name".into(), &snap.host.name);
        put("ward:AuthMethod".into(), q.auth_method);
        put("ward:SecureTransport".into(), "true");
        put("ward:MultiFactorAuthPresent".into(), "false");
        for t in &snap.host.tags {
            put(format!("ward:ResourceTag/{}", t.key), &t.value);
        }
        if let Some(ip) = q.source_ip {
            put("ward:SourceIp".into(), &ip.to_string());
        }
        let body = ward_protocol::api::SimulatePrincipalPolicy {
            policy_source_arn: q.user.clone(),
            action_names: vec![q.action.to_owned()],
            resource_arns: vec![host_arn.clone()],
            context_entries: ctx,
        };
        let res = api.post(
            "/v1/simulate/principal",
            &serde_json::to_vec(&body).unwrap(),
        );
        let rows = res["results"].as_array().unwrap();
        assert_eq!(rows.len(), 1, "{res}");
        match rows[0]["decision"].as_str().unwrap() {
            "Allowed" => true,
            "ImplicitlyDenied" | "ExplicitlyDenied" => false,
            other => panic!("decision {other:?}"),
        }
    };

    let mut counts: HashMap<(&str, bool), usize> = HashMap::new();
    let mut mismatches = Vec::new();
    // (request, simulator's answer) for the enabled users' requests.
    let mut decided: Vec<(Req, bool)> = Vec::new();
    for q in &reqs {
        let disabled = users.iter().find(|u| u.name == q.user).unwrap().disabled;
        let sim = simulate(q);
        let ag = agent_allows(&d, q);
        if disabled {
            assert!(!ag, "the agent allowed disabled user {}: {q:?}", q.user);
            *counts.entry(("disabled-sim", sim)).or_default() += 1;
            continue;
        }
        *counts.entry(("enabled", ag)).or_default() += 1;
        if ag != sim {
            mismatches.push(format!("agent {ag} simulator {sim}: {q:?}"));
        }
        decided.push((q.clone(), sim));
    }
    let c = |k: &str, b: bool| counts.get(&(k, b)).copied().unwrap_or(0);
    eprintln!(
        "measured: seed {seed}: {} users ({} disabled), {n_groups} groups, {n_managed} managed policies, \
         host env={env_tag}; {} requests for enabled users: {} allowed, {} denied, {} disagreements; \
         {} for disabled users: agent denied all, simulator allowed {} denied {}",
        users.len(),
        users.iter().filter(|u| u.disabled).count(),
        decided.len(),
        c("enabled", true),
        c("enabled", false),
        mismatches.len(),
        c("disabled-sim", true) + c("disabled-sim", false),
        c("disabled-sim", true),
        c("disabled-sim", false),
    );
    assert!(
        mismatches.is_empty(),
        "{} of {} decisions differ:\n{}",
        mismatches.len(),
        decided.len(),
        mismatches.join("\n")
    );
    assert!(
        c("enabled", true) >= 5 && c("enabled", false) >= 5,
        "both outcomes must occur (seed {seed}): {counts:?}"
    );
    assert!(
        c("disabled-sim", true) + c("disabled-sim", false) >= 1,
        "no request for a disabled user (seed {seed})"
    );

    // --- Sensitivity: the agent on a snapshot missing an input disagrees.
    let differs = |mutant: Snapshot| -> usize {
        let dm = decider(mutant);
        decided
            .iter()
            .filter(|(q, sim)| agent_allows(&dm, q) != *sim)
            .count()
    };
    let mut no_host_tags = snap.clone();
    no_host_tags.host.tags.clear();
    let mut no_user_tags = snap.clone();
    for u in &mut no_user_tags.users {
        u.tags.clear();
    }
    let (ht, ut) = (differs(no_host_tags), differs(no_user_tags));
    eprintln!("measured: mutants: without host tags {ht} disagreements, without user tags {ut}");
    // Checked for the default world (another seed may draw no condition
    // on those tags that bears on the requests; it is printed then).
    if std::env::var_os("WARD_DIFF_SEED").is_none() {
        assert!(
            ht > 0 && ut > 0,
            "the comparison does not see host tags ({ht}) or user tags ({ut})"
        );
    }
}
