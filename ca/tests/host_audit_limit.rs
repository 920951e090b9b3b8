//! Issue #11 follow-up: `POST /v1/host/audit` is rate-limited per host (a
//! token bucket: `[limits] host_audit_batches_per_second` with a burst of
//! `host_audit_burst`). Against the real daemon with a host enrolled
//! through `POST /v1/host/join` (openssl CSR, ssh-keygen host key) and
//! called over mTLS with curl: a flood gets 429 `Throttling` with
//! `Retry-After`; exactly the accepted batches are in the audit log (nothing
//! of a refused one); after the wait the server named, the refused batch is
//! accepted; another host is not limited by the first one's flood.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod sshd;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Db, Server};
use serde_json::{json, Value};
use sshd::TempDir;

/// One token a second, three at once.
const LIMITS: &str = "[limits]\nhost_audit_batches_per_second = 1\nhost_audit_burst = 3\n";

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Enrols host `name` with a one-time join token; its directory holds
/// `tls.key` and the issued `tls.pem`.
fn enrol(s: &Server, d: &Path, name: &str) -> PathBuf {
    let dir = d.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    run(Command::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out", "tls.key"])
        .current_dir(&dir));
    run(Command::new("openssl")
        .args([
            "req", "-new", "-key", "tls.key", "-subj", "/CN=host", "-out", "tls.csr",
        ])
        .current_dir(&dir));
    run(Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-f",
            "ssh_host_ed25519_key",
        ])
        .current_dir(&dir));
    let token = s
        .call(
            &s.root(),
            "POST",
            &format!("/v1/hosts/{name}/join-tokens"),
            Some("{}"),
        )
        .ok()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({
        "token": token,
        "csrPem": std::fs::read_to_string(dir.join("tls.csr")).unwrap(),
        "sshHostPublicKey": std::fs::read_to_string(dir.join("ssh_host_ed25519_key.pub")).unwrap().trim(),
    });
    let joined = s
        .raw(
            "POST",
            "/v1/host/join",
            &[],
            Some(body.to_string().as_bytes()),
        )
        .ok()
        .clone();
    std::fs::write(
        dir.join("tls.pem"),
        joined["certificatePem"].as_str().unwrap(),
    )
    .unwrap();
    dir
}

/// `POST /v1/host/audit` with the host's certificate: status, the
/// `Retry-After` header, body.
fn deliver(s: &Server, host: &Path, batch: &Value) -> (u16, Option<u64>, Value) {
    let _ = std::fs::remove_file(host.join("headers.txt"));
    let out = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(&s.bundle)
        .args(["--cert", "tls.pem", "--key", "tls.key"])
        .args(["-D", "headers.txt", "-o", "body.txt", "-w", "%{http_code}"])
        .args(["-H", "content-type: application/json", "--data-binary"])
        .arg(batch.to_string())
        .arg(format!("{}/v1/host/audit", s.endpoint))
        .current_dir(host)
        .output()
        .unwrap();
    let status: u16 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    assert!(
        status != 0,
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let retry_after = std::fs::read_to_string(host.join("headers.txt"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("retry-after")
                .then(|| v.trim().parse().ok())?
        });
    let body = std::fs::read_to_string(host.join("body.txt")).unwrap_or_default();
    (
        status,
        retry_after,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

fn event(id: &str) -> Value {
    json!({"id": id, "time": 1_700_000_000, "action": "host:Login", "user": "alice",
           "principal": "alice", "service": "sshd", "authMethod": "ssh-certificate",
           "allowed": true})
}

/// Event ids of every `host:Login` event in the audit log, with repeats.
fn recorded(s: &Server) -> Vec<String> {
    let v = s
        .call(
            &s.root(),
            "GET",
            "/v1/audit/events?action=host%3ALogin&limit=1000",
            None,
        )
        .ok()
        .clone();
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["detail"]["eventId"].as_str().unwrap().to_owned())
        .collect()
}

fn a_flood_is_throttled_and_nothing_partial_is_recorded(db: Db) {
    let Some(s) = Server::start_with(db, LIMITS) else {
        return;
    };
    let dir = TempDir::new("ward-host-audit-limit");
    let host = enrol(&s, dir.path(), "bastion");
    // The flood: 12 batches of 3 events each, as fast as curl goes.
    let mut accepted: BTreeSet<String> = BTreeSet::new();
    let mut refused: Vec<(Value, u64)> = Vec::new();
    for i in 0..12 {
        let batch = json!({"events": [event(&format!("f{i}a")), event(&format!("f{i}b")), event(&format!("f{i}c"))]});
        let (status, retry_after, body) = deliver(&s, &host, &batch);
        match status {
            200 => {
                assert_eq!(body, json!({"recorded": 3, "duplicates": 0}));
                for e in batch["events"].as_array().unwrap() {
                    accepted.insert(e["id"].as_str().unwrap().to_owned());
                }
            }
            429 => {
                assert_eq!(body["error"]["code"], "Throttling", "{body}");
                let wait = retry_after.expect("a 429 names Retry-After");
                assert!(wait >= 1, "Retry-After {wait}");
                refused.push((batch, wait));
            }
            other => panic!("audit batch {i}: {other} {body}"),
        }
    }
    assert!(!refused.is_empty(), "12 batches at once were all accepted");
    assert!(!accepted.is_empty(), "the burst was refused");
    // Exactly the accepted batches are recorded: nothing of a refused one.
    let got = recorded(&s);
    assert_eq!(
        got.iter().cloned().collect::<BTreeSet<_>>(),
        accepted,
        "recorded events differ from the accepted batches"
    );
    assert_eq!(got.len(), accepted.len(), "an event was recorded twice");
    // Another host has its own bucket.
    let other = enrol(&s, dir.path(), "web-01");
    let (status, _, body) = deliver(&s, &other, &json!({"events": [event("w1")]}));
    assert_eq!(status, 200, "{body}");
    // Empty the bucket again (429), then wait as long as it says: the
    // refused batch is accepted, whole, once.
    let wait = loop {
        let (status, retry_after, _) = deliver(&s, &host, &json!({"events": []}));
        if status == 429 {
            break retry_after.unwrap();
        }
        assert_eq!(status, 200);
    };
    std::thread::sleep(Duration::from_secs(wait));
    let (batch, _) = &refused[0];
    let (status, _, body) = deliver(&s, &host, batch);
    assert_eq!(status, 200, "after Retry-After: {body}");
    assert_eq!(body, json!({"recorded": 3, "duplicates": 0}));
    let got = recorded(&s);
    for e in batch["events"].as_array().unwrap() {
        let id = e["id"].as_str().unwrap();
        assert_eq!(got.iter().filter(|g| *g == id).count(), 1, "{id}");
    }
    s.call(&s.root(), "GET", "/v1/audit/verify", None).ok();
}

#[test]
fn a_flood_is_throttled_and_nothing_partial_is_recorded_sqlite() {
    a_flood_is_throttled_and_nothing_partial_is_recorded(Db::Sqlite);
}

#[test]
fn a_flood_is_throttled_and_nothing_partial_is_recorded_postgres() {
    a_flood_is_throttled_and_nothing_partial_is_recorded(Db::Postgres);
}
