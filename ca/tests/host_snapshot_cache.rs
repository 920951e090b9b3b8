//! Host snapshots against the real daemon (issue #11 item 4): one build
//! per generation for every host (single-flight), deltas for agents that
//! ask for them — equal, byte for byte, to the full snapshot after random
//! changes, refused when they do not fit the snapshot held — and the
//! per-host cap on long-polls; on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod hosts;
mod sshd;

use std::process::Command;
use std::sync::mpsc;

use common::{Db, Server};
use hosts::{enrol, enrolled, mtls, snapshot, HostKeys, Mtls};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sshd::TempDir;
use ward_protocol::host::{
    digest_input, Snapshot, SnapshotDelta, MAX_WAIT_SECONDS, SNAPSHOT_DELTA_MEDIA_TYPE,
};

const ACCEPT_DELTA: &str = "application/json, application/vnd.ward.snapshot-delta+json";

/// `/metrics` as text (from 127.0.0.1, which the default allow-list admits).
fn metrics(s: &Server) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--fail", "--max-time", "60", "--cacert"])
        .arg(&s.bundle)
        .arg(format!("{}/metrics", s.endpoint))
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

/// The value of one metric line (`name` including labels).
fn metric(s: &Server, name: &str) -> u64 {
    let text = metrics(s);
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} not in /metrics:\n{text}"))
}

fn post(s: &Server, path: &str, body: Value) -> common::Response {
    s.call(&s.root(), "POST", path, Some(&body.to_string()))
}

fn put(s: &Server, path: &str, body: Option<Value>) -> common::Response {
    let b = body.map(|b| b.to_string());
    s.call(&s.root(), "PUT", path, b.as_deref())
}

fn delete(s: &Server, path: &str) -> common::Response {
    s.call(&s.root(), "DELETE", path, None)
}

// ---- one build per generation -------------------------------------------------

/// After one change, N hosts fetching (at once, and again without
/// `If-None-Match`, back to back) cost one build; each gets the same
/// document except its own host section, which names it.
fn one_build_serves_every_host(db: Db) {
    let Some(s) = Server::start(db) else { return };
    let dir = TempDir::new("ward-snap-once");
    let names = ["c-01", "c-02", "c-03", "c-04", "c-05"];
    let hosts: Vec<HostKeys> = names
        .iter()
        .map(|n| enrolled(&s, dir.path(), n).0)
        .collect();
    post(&s, "/v1/users", json!({"name": "alice"})).ok();
    let builds = metric(&s, "ward_host_snapshot_builds_total");
    let server = &s;
    let fetched: Vec<(String, Mtls)> = std::thread::scope(|sc| {
        let joins: Vec<_> = hosts
            .iter()
            .zip(names)
            .map(|(k, n)| sc.spawn(move || (n.to_owned(), snapshot(server, k, "", None))))
            .collect();
        joins.into_iter().map(|j| j.join().unwrap()).collect()
    });
    // The same host again and again, never saying what it holds.
    for _ in 0..5 {
        assert_eq!(snapshot(&s, &hosts[0], "", None).status, 200);
    }
    assert_eq!(
        metric(&s, "ward_host_snapshot_builds_total"),
        builds + 1,
        "{} fetches of one generation must cost one build",
        names.len() + 5
    );
    let mut shared: Option<Value> = None;
    let etag = fetched[0].1.header("etag").unwrap().to_owned();
    for (name, r) in &fetched {
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.header("etag"), Some(etag.as_str()));
        let mut v = r.json();
        assert_eq!(v["host"]["name"], name.as_str());
        assert!(v["host"]["arn"]
            .as_str()
            .unwrap()
            .ends_with(&format!("host/{name}")));
        assert_eq!(v["host"]["tags"], json!([{"key": "env", "value": "prod"}]));
        assert!(v["users"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["name"] == "alice"));
        v.as_object_mut().unwrap().remove("host");
        match &shared {
            None => shared = Some(v),
            Some(first) => assert_eq!(first, &v, "hosts differ outside their host section"),
        }
    }
}

/// Gateways' snapshots carry the host registry and are built outside the
/// per-generation cache — but once per generation for every gateway, so a
/// gateway that never says what it holds cannot make ward-ca rebuild it
/// back to back; a change builds it again and ordinary hosts never see it.
fn gateways_share_one_build_per_generation(db: Db) {
    let Some(s) = Server::start(db) else { return };
    let dir = TempDir::new("ward-snap-gw");
    let gw1 = enrol(&s, dir.path(), "gw-01", json!({"gateway": true})).0;
    let gw2 = enrol(&s, dir.path(), "gw-02", json!({"gateway": true})).0;
    let host = enrolled(&s, dir.path(), "c-01").0;
    post(&s, "/v1/users", json!({"name": "alice"})).ok();
    let builds = metric(&s, "ward_host_snapshot_builds_total");
    let mut bodies = Vec::new();
    for k in [&gw1, &gw2, &gw1, &gw2, &gw1] {
        let r = snapshot(&s, k, "", None);
        assert_eq!(r.status, 200, "{}", r.body);
        bodies.push(serde_json::from_str::<Value>(&r.body).unwrap());
    }
    assert_eq!(
        metric(&s, "ward_host_snapshot_builds_total"),
        builds + 1,
        "5 gateway fetches of one generation must cost one build"
    );
    for b in &bodies {
        let names: Vec<&str> = b["registry"]
            .as_array()
            .expect("a gateway's snapshot has the registry")
            .iter()
            .map(|h| h["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"c-01"), "{names:?}");
    }
    assert_eq!(bodies[0]["host"]["name"], "gw-01");
    assert_eq!(bodies[1]["host"]["name"], "gw-02");
    let plain: Value = serde_json::from_str(&snapshot(&s, &host, "", None).body).unwrap();
    assert!(
        plain.get("registry").is_none(),
        "an ordinary host saw the registry"
    );
    // A change: the next gateway fetch builds the new generation once.
    post(&s, "/v1/users", json!({"name": "bob"})).ok();
    let before = metric(&s, "ward_host_snapshot_builds_total");
    for k in [&gw1, &gw2] {
        let b: Value = serde_json::from_str(&snapshot(&s, k, "", None).body).unwrap();
        assert!(b["users"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["name"] == "bob"));
    }
    assert_eq!(metric(&s, "ward_host_snapshot_builds_total"), before + 1);
}

#[test]
fn gateways_share_one_build_per_generation_sqlite() {
    gateways_share_one_build_per_generation(Db::Sqlite);
}

#[test]
fn gateways_share_one_build_per_generation_postgres() {
    gateways_share_one_build_per_generation(Db::Postgres);
}

#[test]
fn one_build_serves_every_host_sqlite() {
    one_build_serves_every_host(Db::Sqlite);
}

#[test]
fn one_build_serves_every_host_postgres() {
    one_build_serves_every_host(Db::Postgres);
}

// ---- deltas -------------------------------------------------------------------

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
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const DOC: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"host:Login","Resource":"*"}]}"#;

/// One random change through the API (some may be refused, e.g. a name
/// taken: that is fine, the comparison covers whatever state results).
fn random_change(s: &Server, r: &mut Rng, users: &mut Vec<String>, n: &mut usize) -> String {
    let pick = |r: &mut Rng, v: &Vec<String>| v.get(r.below(v.len())).cloned();
    let group = format!("g{}", r.below(4));
    match r.below(10) {
        0 | 1 => {
            *n += 1;
            let name = format!("u{:03}", r.below(900));
            if post(s, "/v1/users", json!({"name": name})).status == 200 {
                users.push(name.clone());
            }
            format!("create {name}")
        }
        2 => match pick(r, users) {
            Some(u) => {
                put(s, &format!("/v1/groups/{group}/users/{u}"), None);
                format!("add {u} to {group}")
            }
            None => "nothing".into(),
        },
        3 => match pick(r, users) {
            Some(u) => {
                delete(s, &format!("/v1/groups/{group}/users/{u}"));
                format!("remove {u} from {group}")
            }
            None => "nothing".into(),
        },
        4 => match pick(r, users) {
            // A rename moves the user in the list (sorted by name).
            Some(u) => {
                let to = format!("u{:03}", r.below(900));
                let res = s.call(
                    &s.root(),
                    "PATCH",
                    &format!("/v1/users/{u}"),
                    Some(&json!({"newName": to}).to_string()),
                );
                if res.status == 200 {
                    users.retain(|x| x != &u);
                    users.push(to.clone());
                }
                format!("rename {u} to {to}")
            }
            None => "nothing".into(),
        },
        5 => match pick(r, users) {
            Some(u) => {
                let v = r.below(5);
                post(
                    s,
                    &format!("/v1/users/{u}/tags"),
                    json!({"tags": [{"key": "team", "value": format!("t{v}")}]}),
                );
                format!("tag {u}")
            }
            None => "nothing".into(),
        },
        6 => match pick(r, users) {
            Some(u) => {
                put(
                    s,
                    &format!("/v1/users/{u}/policies/login"),
                    Some(json!({"document": DOC.replace("*\"}", &format!("*{}\"}}", r.below(9)))})),
                );
                format!("inline policy on {u}")
            }
            None => "nothing".into(),
        },
        7 => {
            let p = format!("p{}", r.below(3));
            post(s, "/v1/policies", json!({"name": p, "document": DOC}));
            put(
                s,
                &format!("/v1/groups/{group}/attached-policies/{p}"),
                None,
            );
            format!("attach {p} to {group}")
        }
        8 => match pick(r, users) {
            Some(u) => {
                let what = if r.below(2) == 0 { "disable" } else { "enable" };
                post(s, &format!("/v1/users/{u}/{what}"), json!({}));
                format!("{what} {u}")
            }
            None => "nothing".into(),
        },
        _ => match pick(r, users) {
            // Delete a user (it must leave its groups and lose its
            // policies first; whatever is refused stays).
            Some(u) => {
                for g in 0..4 {
                    delete(s, &format!("/v1/groups/g{g}/users/{u}"));
                }
                delete(s, &format!("/v1/users/{u}/policies/login"));
                if delete(s, &format!("/v1/users/{u}")).status == 200 {
                    users.retain(|x| x != &u);
                }
                format!("delete {u}")
            }
            None => "nothing".into(),
        },
    }
}

fn parse(body: &str) -> Snapshot {
    serde_json::from_str(body).unwrap()
}

/// Random changes, rounds of 1–3: after each round the host asks with the
/// ETag it holds and the delta media type, then fetches the full snapshot.
/// Every delta applied to the snapshot held gives, byte for byte, the full
/// snapshot's JSON, and its digest matches; most rounds are deltas.
/// `WARD_DELTA_SEED` varies the changes.
fn deltas_equal_full_snapshots(db: Db) {
    let Some(s) = Server::start(db) else { return };
    let dir = TempDir::new("ward-snap-delta");
    let (keys, _) = enrolled(&s, dir.path(), "d-01");
    for g in 0..4 {
        post(&s, "/v1/groups", json!({"name": format!("g{g}")})).ok();
    }
    let seed = std::env::var("WARD_DELTA_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(11);
    let mut r = Rng(seed);
    let mut users: Vec<String> = (1..=8).map(|i| format!("u{:03}", i * 100)).collect();
    for u in &users {
        post(&s, "/v1/users", json!({"name": u})).ok();
    }
    let mut created = 0;
    for _ in 0..12 {
        random_change(&s, &mut r, &mut users, &mut created);
    }
    let first = snapshot(&s, &keys, "", None);
    let mut held = parse(&first.body);
    let mut etag = first.header("etag").unwrap().to_owned();
    let (mut deltas, mut fulls) = (0, 0);
    let rounds = 30;
    for round in 0..rounds {
        let mut log = Vec::new();
        for _ in 0..1 + r.below(3) {
            log.push(random_change(&s, &mut r, &mut users, &mut created));
        }
        let d = mtls(
            &s,
            &keys,
            "GET",
            "/v1/host/snapshot",
            None,
            &[("if-none-match", &etag), ("accept", ACCEPT_DELTA)],
        );
        if d.status == 304 {
            continue;
        }
        assert_eq!(d.status, 200, "{}", d.body);
        let full = snapshot(&s, &keys, "", None);
        assert_eq!(d.header("etag"), full.header("etag"));
        if d.header("content-type") == Some(SNAPSHOT_DELTA_MEDIA_TYPE) {
            deltas += 1;
            assert!(d.body.len() < full.body.len());
            let delta: SnapshotDelta = serde_json::from_str(&d.body).unwrap();
            let applied = delta
                .apply(&held)
                .unwrap_or_else(|e| panic!("seed {seed} round {round} {log:?}: {e}"));
            assert_eq!(
                hex::encode(Sha256::digest(digest_input(&applied).unwrap())),
                delta.digest
            );
            assert_eq!(
                serde_json::to_string(&applied).unwrap(),
                full.body,
                "seed {seed} round {round} {log:?}: the delta's result differs from the full snapshot"
            );
        } else {
            fulls += 1;
            assert_eq!(d.header("content-type"), Some("application/json"));
            assert_eq!(d.body, full.body);
        }
        held = parse(&full.body);
        etag = full.header("etag").unwrap().to_owned();
    }
    eprintln!("seed {seed}: {deltas} deltas, {fulls} full answers, {created} users created");
    // Small changes to a small world: every answer is a delta.
    assert!(deltas >= rounds / 2, "{deltas} deltas in {rounds} rounds");
    assert_eq!(fulls, 0, "a full answer where a delta was smaller");
    assert!(metric(&s, "ward_host_snapshots_sent_total{kind=\"delta\"}") >= deltas);

    // An agent that does not ask for deltas (old agents) gets the full
    // snapshot for the same If-None-Match.
    post(&s, "/v1/users", json!({"name": "zz-old-agent"})).ok();
    let old = snapshot(&s, &keys, "", Some(&etag));
    assert_eq!(old.status, 200);
    assert_eq!(old.header("content-type"), Some("application/json"));
    assert_eq!(old.header("vary"), Some("accept-encoding"));
    let full = parse(&old.body);
    assert!(full.users.iter().any(|u| u.name == "zz-old-agent"));

    // A base ward-ca no longer holds (older than the last few
    // generations): the full snapshot.
    let d = mtls(
        &s,
        &keys,
        "GET",
        "/v1/host/snapshot",
        None,
        &[("if-none-match", "\"g1\""), ("accept", ACCEPT_DELTA)],
    );
    assert_eq!(d.status, 200);
    assert_eq!(d.header("content-type"), Some("application/json"));
    assert_eq!(d.body, old.body);

    // A delta is refused when the snapshot held is not ward-ca's (drifted
    // or damaged), and when the delta is damaged; the host recovers with a
    // full fetch, which equals what it should hold.
    let held_etag = old.header("etag").unwrap().to_owned();
    post(&s, "/v1/users", json!({"name": "zz-after"})).ok();
    let d = mtls(
        &s,
        &keys,
        "GET",
        "/v1/host/snapshot",
        None,
        &[("if-none-match", &held_etag), ("accept", ACCEPT_DELTA)],
    );
    assert_eq!(d.header("content-type"), Some(SNAPSHOT_DELTA_MEDIA_TYPE));
    let delta: SnapshotDelta = serde_json::from_str(&d.body).unwrap();
    let check = |held: &Snapshot, delta: &SnapshotDelta| -> Result<Snapshot, String> {
        let next = delta.apply(held).map_err(|e| e.to_string())?;
        let got = hex::encode(Sha256::digest(digest_input(&next).unwrap()));
        if got == delta.digest {
            Ok(next)
        } else {
            Err("digest".into())
        }
    };
    let mut drifted = full.clone();
    drifted.users[0].path = "/drifted/".into();
    assert!(
        check(&drifted, &delta).is_err(),
        "a drifted base was accepted"
    );
    let mut damaged = delta.clone();
    damaged.users.inserted[0].item.name.push('x');
    assert!(
        check(&full, &damaged).is_err(),
        "a damaged delta was accepted"
    );
    let applied = check(&full, &delta).unwrap();
    let recovered = snapshot(&s, &keys, "", None);
    assert_eq!(serde_json::to_string(&applied).unwrap(), recovered.body);
}

#[test]
fn deltas_equal_full_snapshots_sqlite() {
    deltas_equal_full_snapshots(Db::Sqlite);
}

#[test]
fn deltas_equal_full_snapshots_postgres() {
    deltas_equal_full_snapshots(Db::Postgres);
}

// ---- per-host long-poll cap ----------------------------------------------------

/// A long-poll on its own thread; reports its status code when it ends.
fn long_poll(s: &Server, keys: &HostKeys, etag: &str) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let (endpoint, bundle, dir, etag) = (
        s.endpoint.clone(),
        s.bundle.clone(),
        keys.dir.clone(),
        etag.to_owned(),
    );
    std::thread::spawn(move || {
        let out = Command::new("curl")
            .args(["-sS", "--cacert"])
            .arg(&bundle)
            .args(["--cert", "tls.pem", "--key", "tls.key"])
            .args(["-H", &format!("if-none-match: {etag}")])
            .args(["-o", "/dev/null", "-w", "%{http_code}"])
            .arg(format!(
                "{endpoint}/v1/host/snapshot?wait={MAX_WAIT_SECONDS}"
            ))
            .current_dir(&dir)
            .output()
            .unwrap();
        let _ = tx.send(String::from_utf8_lossy(&out.stdout).trim().to_owned());
    });
    rx
}

/// Waits (polling `/metrics`, bounded) until `n` long-polls wait.
fn until_waiting(s: &Server, n: u64) {
    for _ in 0..600 {
        if metric(s, "ward_host_long_polls_waiting") == n {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("never {n} long-polls waiting");
}

/// One host holds at most 4 long-polls: its 5th is answered at once (304,
/// counted) while its 4 keep waiting; another host still gets to wait;
/// a change wakes every waiting poll.
fn one_host_cannot_take_the_long_poll_slots(db: Db) {
    let Some(s) = Server::start(db) else { return };
    let dir = TempDir::new("ward-snap-cap");
    let (a, _) = enrolled(&s, dir.path(), "a-01");
    let (b, _) = enrolled(&s, dir.path(), "b-01");
    let etag = snapshot(&s, &a, "", None)
        .header("etag")
        .unwrap()
        .to_owned();
    let mine: Vec<_> = (0..4).map(|_| long_poll(&s, &a, &etag)).collect();
    until_waiting(&s, 4);
    assert_eq!(metric(&s, "ward_host_long_polls_answered_at_once_total"), 0);
    let fifth = long_poll(&s, &a, &etag);
    assert_eq!(
        fifth
            .recv_timeout(std::time::Duration::from_secs(2 * MAX_WAIT_SECONDS))
            .unwrap(),
        "304"
    );
    assert_eq!(metric(&s, "ward_host_long_polls_answered_at_once_total"), 1);
    // Its other polls were still waiting when the fifth was answered.
    for rx in &mine {
        assert!(rx.try_recv().is_err(), "a waiting poll ended");
    }
    assert_eq!(metric(&s, "ward_host_long_polls_waiting"), 4);
    let other = long_poll(&s, &b, &etag);
    until_waiting(&s, 5);
    assert_eq!(metric(&s, "ward_host_long_polls_answered_at_once_total"), 1);
    post(&s, "/v1/users", json!({"name": "wake"})).ok();
    for rx in mine.iter().chain([&other]) {
        assert_eq!(
            rx.recv_timeout(std::time::Duration::from_secs(2 * MAX_WAIT_SECONDS))
                .unwrap(),
            "200"
        );
    }
    until_waiting(&s, 0);
    // Its places are free again: host a waits again.
    let etag = snapshot(&s, &a, "", None)
        .header("etag")
        .unwrap()
        .to_owned();
    let again = long_poll(&s, &a, &etag);
    until_waiting(&s, 1);
    post(&s, "/v1/users", json!({"name": "wake2"})).ok();
    assert_eq!(
        again
            .recv_timeout(std::time::Duration::from_secs(2 * MAX_WAIT_SECONDS))
            .unwrap(),
        "200"
    );
}

#[test]
fn one_host_cannot_take_the_long_poll_slots_sqlite() {
    one_host_cannot_take_the_long_poll_slots(Db::Sqlite);
}

#[test]
fn one_host_cannot_take_the_long_poll_slots_postgres() {
    one_host_cannot_take_the_long_poll_slots(Db::Postgres);
}
