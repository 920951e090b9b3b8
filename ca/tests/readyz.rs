//! `/readyz` answers without credentials and proves the store can write by
//! committing a write. An anonymous flood of it must not become a flood of
//! write transactions contending with real mutations: one probe a second
//! answers every caller. The real daemon, one keep-alive curl firing 300
//! requests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::process::Command;
use std::time::Instant;

use common::{Db, Server};

#[test]
fn a_readyz_flood_runs_at_most_one_write_probe_a_second() {
    let Some(s) = Server::start(Db::Sqlite) else {
        return;
    };
    const N: usize = 300;
    let before = s.metric("ward_readiness_probes_total");
    let cfg = s.dir.join("readyz.curl");
    let mut text = String::new();
    for _ in 0..N {
        text.push_str(&format!(
            "url = \"{}/readyz\"\noutput = \"/dev/null\"\n",
            s.endpoint
        ));
    }
    std::fs::write(&cfg, text).unwrap();
    let started = Instant::now();
    let out = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(&s.bundle)
        .args(["-w", "%{http_code}\n", "-K"])
        .arg(&cfg)
        .output()
        .unwrap();
    let seconds = started.elapsed().as_secs();
    let codes = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        codes.lines().count(),
        N,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(codes.lines().all(|c| c == "200"), "{codes}");
    let probes = s.metric("ward_readiness_probes_total") - before;
    // One probe per started second of the run at most (plus the one that
    // straddles its start), however many requests came.
    assert!(probes >= 1, "no probe ran");
    assert!(
        probes <= seconds + 2,
        "{probes} write probes for {N} requests in {seconds} s"
    );
    // Signed writes still work meanwhile (nothing holds the store).
    s.call(
        &s.root(),
        "POST",
        "/v1/users",
        Some(r#"{"name":"after-flood"}"#),
    )
    .ok();
}
