//! Audit integrity (issue #7 items 11 and 12) against the real `ward-ca`
//! on SQLite and PostgreSQL, with the database written directly as an
//! attacker who can write it but does not hold the master key would:
//! altered, deleted, truncated and re-chained events (plain SHA-256 and
//! HMAC under a wrong key) are all detected; signed checkpoints are checked
//! by the real `ward` binary (tampered and foreign checkpoints refused).
//! And an unauthenticated flood of bad signatures with 60 KB paths leaves
//! a handful of bounded, aggregated audit events whose counts add up.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use common::{Db, Server};
use sha2::{Digest, Sha256};
use sqlx::{Connection, Row};

/// One stored audit row, as the attacker reads it.
#[derive(Clone, Debug)]
struct Ev {
    seq: i64,
    at: i64,
    principal: String,
    action: String,
    resource: String,
    decision: String,
    source_ip: String,
    detail: String,
    prev_hash: String,
    hash: String,
    chain_version: i64,
}

fn db_url(s: &Server) -> String {
    match s.db {
        Db::Sqlite => format!("sqlite://{}", s.data_dir().join("ward.db").display()),
        Db::Postgres => s.db_url.clone().unwrap(),
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn conn(url: &str) -> sqlx::AnyConnection {
    sqlx::any::install_default_drivers();
    sqlx::AnyConnection::connect(url).await.unwrap()
}

fn read_chain(s: &Server) -> (Vec<Ev>, i64, String) {
    let url = db_url(s);
    rt().block_on(async {
        let mut c = conn(&url).await;
        let rows = sqlx::query("SELECT seq, at, principal, action, resource, decision, source_ip, detail, prev_hash, hash, chain_version FROM audit_events ORDER BY seq")
            .fetch_all(&mut c)
            .await
            .unwrap();
        let evs = rows
            .iter()
            .map(|r| Ev {
                seq: r.get(0),
                at: r.get(1),
                principal: r.get(2),
                action: r.get(3),
                resource: r.get(4),
                decision: r.get(5),
                source_ip: r.get(6),
                detail: r.get(7),
                prev_hash: r.get(8),
                hash: r.get(9),
                chain_version: r.get(10),
            })
            .collect();
        let h = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(&mut c)
            .await
            .unwrap();
        let out = (evs, h.get(0), h.get(1));
        // Close before the runtime goes: a connection left to its worker
        // thread can keep an old WAL snapshot open and later reads in this
        // process then miss what the daemon committed since.
        c.close().await.unwrap();
        out
    })
}

/// Replaces the whole log and the head, in one transaction.
fn write_chain(s: &Server, evs: &[Ev], head_seq: i64, head_hash: &str) {
    let url = db_url(s);
    rt().block_on(async {
        let mut c = conn(&url).await;
        let mut tx = c.begin().await.unwrap();
        sqlx::query("DELETE FROM audit_events")
            .execute(&mut *tx)
            .await
            .unwrap();
        for e in evs {
            sqlx::query("INSERT INTO audit_events (seq, at, principal, action, resource, decision, source_ip, detail, prev_hash, hash, chain_version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")
                .bind(e.seq).bind(e.at).bind(&e.principal).bind(&e.action).bind(&e.resource)
                .bind(&e.decision).bind(&e.source_ip).bind(&e.detail).bind(&e.prev_hash)
                .bind(&e.hash).bind(e.chain_version)
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
            .bind(head_seq)
            .bind(head_hash)
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        c.close().await.unwrap();
    })
}

fn canonical(e: &Ev) -> String {
    serde_json::json!([
        e.seq,
        e.at,
        e.principal,
        e.action,
        e.resource,
        e.decision,
        e.source_ip,
        e.detail
    ])
    .to_string()
}

/// Renumbers `evs` from 1 and re-chains them with `link` (prev, event) →
/// hash, setting `version`; returns the new head.
fn rechain(evs: &[Ev], version: i64, link: impl Fn(&str, &Ev) -> String) -> (Vec<Ev>, i64, String) {
    let mut prev = "0".repeat(64);
    let mut out = Vec::new();
    for (i, e) in evs.iter().enumerate() {
        let mut e = e.clone();
        e.seq = i as i64 + 1;
        e.prev_hash = prev.clone();
        e.chain_version = version;
        e.hash = link(&prev, &e);
        prev = e.hash.clone();
        out.push(e);
    }
    let n = out.len() as i64;
    (out, n, prev)
}

fn plain_sha256(prev: &str, e: &Ev) -> String {
    hex::encode(Sha256::digest(
        format!("{prev}\n{}", canonical(e)).as_bytes(),
    ))
}

fn hmac_wrong_key(prev: &str, e: &Ev) -> String {
    use hmac::{Hmac, Mac};
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(b"an attacker's own key").unwrap();
    m.update(format!("ward audit v2\n{prev}\n{}", canonical(e)).as_bytes());
    hex::encode(m.finalize().into_bytes())
}

fn verify(s: &Server, query: &str) -> serde_json::Value {
    let r = s.call(&s.root(), "GET", &format!("/v1/audit/verify{query}"), None);
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

#[track_caller]
fn assert_broken(v: &serde_json::Value, needle: &str) {
    assert_eq!(v["ok"], false, "{v}");
    let p = v["problem"].as_str().unwrap_or_default();
    assert!(p.contains(needle), "expected {needle:?} in {p:?}");
}

/// The real `ward` CLI next to ward-ca, built once per test run.
fn ward_cli() -> PathBuf {
    static BUILT: Mutex<bool> = Mutex::new(false);
    let path = Path::new(common::WARD_CA).with_file_name("ward");
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !*built {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "-p", "ward-cli", "--bin", "ward"])
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
            .status()
            .unwrap();
        assert!(status.success(), "cargo build -p ward-cli failed");
        *built = true;
    }
    path
}

fn ward(s: &Server, args: &[&str]) -> Output {
    Command::new(ward_cli())
        .args(args)
        .env_clear()
        .env("HOME", &s.dir)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("WARD_ENDPOINT", &s.endpoint)
        .env("WARD_CA_BUNDLE", &s.bundle)
        .env("WARD_ACCESS_KEY_ID", &s.root.id)
        .env("WARD_SECRET_ACCESS_KEY", &s.root.secret)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Takes a checkpoint with `ward audit checkpoint --out`.
fn checkpoint(s: &Server, name: &str) -> (PathBuf, serde_json::Value) {
    let p = s.dir.join(name);
    let o = ward(s, &["audit", "checkpoint", "--out", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    (p, v)
}

fn verify_cp(s: &Server, file: &Path, pin: Option<&str>) -> Output {
    let mut args = vec!["audit", "verify", "--checkpoint", file.to_str().unwrap()];
    if let Some(k) = pin {
        args.extend(["--public-key", k]);
    }
    ward(s, &args)
}

fn some_events(s: &Server, names: &[&str]) {
    for n in names {
        s.call(
            &s.root(),
            "POST",
            "/v1/users",
            Some(&format!(r#"{{"name":"{n}"}}"#)),
        )
        .ok();
    }
}

/// (a)–(e): alteration, deletion in the middle, truncation (with a
/// checkpoint), delete-renumber-rehash with plain SHA-256, and a
/// consistent rewrite under a wrong key.
fn keyed_chain(db: Db) {
    let Some(s) = Server::start(db) else {
        return;
    };
    some_events(&s, &["u1", "u2", "u3", "u4"]);
    assert_eq!(verify(&s, "")["ok"], true);
    // Root's reads are audited too (the checkpoint call is the newest
    // event it covers), so the log is read after the checkpoint.
    let (cp_file, cp) = checkpoint(&s, "cp.json");
    let (orig, head_seq, head_hash) = read_chain(&s);
    assert!(orig.len() >= 6, "{orig:?}");
    assert!(
        orig.iter().all(|e| e.chain_version == 2),
        "new events are keyed"
    );
    assert_eq!(cp["seq"], head_seq);
    assert_eq!(cp["mac"], head_hash.as_str());
    let o = verify_cp(&s, &cp_file, None);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("holds"), "{}", text(&o));
    let restore = |s: &Server| {
        write_chain(s, &orig, head_seq, &head_hash);
        assert_eq!(verify(s, "")["ok"], true, "the original log verifies again");
    };

    // (a) An altered event.
    let mut evs = orig.clone();
    evs[2].principal = "someone-else".into();
    write_chain(&s, &evs, head_seq, &head_hash);
    assert_broken(&verify(&s, ""), "event 3 was altered");
    restore(&s);

    // (b) An event deleted in the middle.
    let mut evs = orig.clone();
    evs.remove(2);
    write_chain(&s, &evs, head_seq, &head_hash);
    assert_broken(&verify(&s, ""), "event 3 is missing");
    restore(&s);

    // (c) Truncation: the last event deleted and the head rewound to the
    // one before. The chain alone cannot see it (nothing after it links
    // to it); the checkpoint taken before does: the log no longer reaches
    // its event, or (once new events are appended, as each verify call by
    // root is) the event at its seq has another MAC.
    let mut evs = orig.clone();
    let last = evs.pop().unwrap();
    let prev = evs.last().unwrap().hash.clone();
    write_chain(&s, &evs, head_seq - 1, &prev);
    assert_eq!(
        verify(&s, "")["ok"],
        true,
        "truncation is invisible without a checkpoint"
    );
    assert_broken(
        &verify(
            &s,
            &format!("?checkpointMac={}&checkpointSeq=1000000", last.hash),
        ),
        "before the checkpoint's event",
    );
    assert_broken(
        &verify(
            &s,
            &format!("?checkpointMac={}&checkpointSeq={}", last.hash, last.seq),
        ),
        "no longer has the checkpoint's MAC",
    );
    write_chain(&s, &evs, head_seq - 1, &prev);
    let o = verify_cp(&s, &cp_file, None);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("checkpoint"), "{}", text(&o));
    // Without rewinding the head, the chain alone sees the deletion (the
    // verify call's own event lands after the gap).
    write_chain(&s, &evs, head_seq, &head_hash);
    assert_broken(&verify(&s, ""), &format!("event {} is missing", last.seq));
    restore(&s);

    // (d) The attack that used to pass: delete one event, renumber and
    // rehash with plain SHA-256, both as keyed (version 2) rows and as
    // legacy (version 1) rows.
    let mut evs = orig.clone();
    evs.remove(2);
    for version in [2, 1] {
        let (forged, n, h) = rechain(&evs, version, plain_sha256);
        write_chain(&s, &forged, n, &h);
        let v = verify(&s, "");
        assert_eq!(v["ok"], false, "version {version}: {v}");
        let o = verify_cp(&s, &cp_file, None);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    }
    assert_broken(&verify(&s, ""), "unkeyed");

    // (e) The whole chain rewritten consistently under another key (the
    // attacker does not hold the master key), nothing removed.
    let (forged, n, h) = rechain(&orig, 2, hmac_wrong_key);
    write_chain(&s, &forged, n, &h);
    assert_broken(&verify(&s, ""), "event 1 was altered");
    // An unkeyed event after keyed ones is refused too.
    let mut mixed = orig.clone();
    let k = mixed.len() - 1;
    mixed[k].chain_version = 1;
    mixed[k].hash = plain_sha256(&mixed[k - 1].hash, &mixed[k]);
    let h = mixed[k].hash.clone();
    write_chain(&s, &mixed, head_seq, &h);
    assert_broken(&verify(&s, ""), "unkeyed but follows keyed events");
    restore(&s);
    let o = verify_cp(&s, &cp_file, None);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn keyed_chain_sqlite() {
    keyed_chain(Db::Sqlite);
}

#[test]
fn keyed_chain_postgres() {
    keyed_chain(Db::Postgres);
}

/// (f) and (g): tampered checkpoint files and checkpoints of another
/// installation are refused by `ward audit verify --checkpoint`, offline
/// (with `--public-key`) and with the published key.
fn checkpoint_files(db: Db) {
    let Some(s) = Server::start(db) else {
        return;
    };
    let Some(other) = Server::start(db) else {
        return;
    };
    some_events(&s, &["u1", "u2"]);
    let key: serde_json::Value = s.raw("GET", "/v1/ca/audit-key", &[], None).ok().clone();
    let pin = key["publicKey"].as_str().unwrap().to_owned();
    assert_eq!(key["accountId"], s.account.as_str());
    let (file, cp) = checkpoint(&s, "cp.json");
    assert_eq!(cp["publicKey"], pin.as_str());
    for p in [None, Some(pin.as_str())] {
        let o = verify_cp(&s, &file, p);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }

    // (f) Every field matters, and the signature must verify.
    let tampered: Vec<(&str, serde_json::Value)> = vec![
        ("seq", serde_json::json!(cp["seq"].as_i64().unwrap() - 1)),
        ("mac", serde_json::json!("0".repeat(64))),
        ("time", serde_json::json!("2000-01-01T00:00:00Z")),
        ("keyId", serde_json::json!("audit-0-forged")),
        ("accountId", serde_json::json!(other.account)),
        ("signature", {
            let mut sig = cp["signature"].as_str().unwrap().to_owned();
            let c = if sig.starts_with('A') { "B" } else { "A" };
            sig.replace_range(0..1, c);
            serde_json::json!(sig)
        }),
    ];
    for (field, value) in tampered {
        let mut t = cp.clone();
        t[field] = value;
        let f = s.dir.join(format!("cp-{field}.json"));
        std::fs::write(&f, t.to_string()).unwrap();
        for p in [None, Some(pin.as_str())] {
            let o = verify_cp(&s, &f, p);
            assert_eq!(o.status.code(), Some(1), "{field}: {}", text(&o));
            assert!(
                text(&o).contains("checkpoint refused"),
                "{field}: {}",
                text(&o)
            );
        }
    }
    // A checkpoint re-signed with another key and carrying that key.
    let (ofile, ocp) = checkpoint(&other, "other.json");
    assert_ne!(ocp["publicKey"], cp["publicKey"]);
    // (g) Another installation's checkpoint, against this installation.
    for p in [None, Some(pin.as_str())] {
        let o = verify_cp(&s, &ofile, p);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(text(&o).contains("checkpoint refused"), "{}", text(&o));
    }
    // ... and this one's against the other (its published key differs).
    let o = verify_cp(&other, &file, None);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    // Garbage is refused too, not a crash.
    let g = s.dir.join("garbage.json");
    std::fs::write(&g, "{\"format\": 1}").unwrap();
    let o = verify_cp(&s, &g, None);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    // Bad query parameters are a typed 400 naming the field.
    let r = s.call(&s.root(), "GET", "/v1/audit/verify?checkpointSeq=1", None);
    r.err(400, "ValidationError");
    assert_eq!(r.field(), "checkpointMac");
    let r = s.call(
        &s.root(),
        "GET",
        "/v1/audit/verify?checkpointMac=zz&checkpointSeq=1",
        None,
    );
    assert_eq!(r.field(), "checkpointMac");
    let r = s.call(
        &s.root(),
        "GET",
        &format!(
            "/v1/audit/verify?checkpointMac={}&checkpointSeq=0",
            "a".repeat(64)
        ),
        None,
    );
    assert_eq!(r.field(), "checkpointSeq");
}

#[test]
fn checkpoint_files_sqlite() {
    checkpoint_files(Db::Sqlite);
}

#[test]
fn checkpoint_files_postgres() {
    checkpoint_files(Db::Postgres);
}

/// Item 11: 1,000 bad-signature requests with 60 KB paths from one
/// address leave a few bounded events; the recorded and aggregated counts
/// add up to the failures that were not rate-limited; the rate-limited
/// ones are 429 with Retry-After and counted in /metrics; a correctly
/// signed request from the same address is still served.
fn failure_flood(db: Db) {
    const N: usize = 1000;
    let Some(mut s) = Server::start(db) else {
        return;
    };
    // The last signed call before the flood leaves the root key cached.
    s.call(&s.root(), "GET", "/v1/users", None).ok();
    let (before, _, _) = read_chain(&s);
    let failures_before = s.metric("ward_auth_failures_total");
    let date = {
        let out = Command::new("date")
            .args(["-u", "+%Y%m%dT%H%M%SZ"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let path = format!("/v1/users/{}", "A".repeat(60_000));
    let mut cfg = String::new();
    for _ in 0..N {
        cfg.push_str(&format!(
            "url = \"{}{path}\"\noutput = \"/dev/null\"\n",
            s.endpoint
        ));
    }
    let cfg_file = s.dir.join("flood.curl");
    std::fs::write(&cfg_file, cfg).unwrap();
    let out = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(&s.bundle)
        .args(["-H", &format!("x-amz-date: {date}")])
        .args([
            "-H",
            &format!(
                "authorization: AWS4-HMAC-SHA256 Credential={}/{}/local/ward/aws4_request, SignedHeaders=host;x-amz-date, Signature={}",
                s.root.id,
                &date[..8],
                "0".repeat(64)
            ),
        ])
        .args(["--http1.1", "-w", "%{http_code} %header{retry-after}\n", "-K"])
        .arg(&cfg_file)
        .output()
        .unwrap();
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.len(), N, "{}", String::from_utf8_lossy(&out.stderr));
    let mut failed = 0u64;
    let mut limited = 0u64;
    for l in &lines {
        let (code, retry) = l.split_once(' ').unwrap();
        match code {
            // 400 IncompleteSignature (the path exceeds SigV4's limit).
            "400" | "403" => failed += 1,
            "429" => {
                limited += 1;
                let secs: i64 = retry.trim().parse().unwrap_or_else(|_| panic!("{l}"));
                assert!((1..=60).contains(&secs), "{l}");
            }
            other => panic!("unexpected status {other}: {l}"),
        }
    }
    assert!(limited > 0, "the source was never rate-limited");
    assert!(failed >= 200, "{failed} failures before the limit");
    assert_eq!(s.metric("ward_auth_rate_limited_total"), limited);
    assert_eq!(
        s.metric("ward_auth_failures_total") - failures_before,
        failed
    );
    // A correctly signed request from the same address is served; an
    // unsigned one is refused quickly.
    s.call(&s.root(), "GET", "/v1/users", None).ok();
    assert_eq!(s.raw("GET", "/v1/users", &[], None).status, 429);
    // Graceful shutdown writes the aggregate counts.
    s.stop();
    let (after, _, _) = read_chain(&s);
    let new: Vec<&Ev> = after[before.len()..]
        .iter()
        .filter(|e| e.action == "ward:Authenticate")
        .collect();
    assert!(
        new.len() <= 10,
        "{} authentication events for one source: {new:?}",
        new.len()
    );
    let mut counted = 0u64;
    for e in &new {
        assert!(e.resource.len() <= 256 + 40, "{} bytes", e.resource.len());
        assert!(e.detail.len() <= 1024, "{}", e.detail);
        assert_eq!(e.source_ip, "127.0.0.1");
        let d: serde_json::Value = serde_json::from_str(&e.detail).unwrap();
        counted += d["aggregatedFailures"].as_u64().unwrap_or(1);
        if d.get("aggregatedFailures").is_none() {
            assert!(e.resource.contains("[truncated "), "{}", e.resource);
        }
    }
    assert_eq!(counted, failed, "recorded + aggregated = failures: {new:?}");
}

#[test]
fn failure_flood_sqlite() {
    failure_flood(Db::Sqlite);
}

#[test]
fn failure_flood_postgres() {
    failure_flood(Db::Postgres);
}
