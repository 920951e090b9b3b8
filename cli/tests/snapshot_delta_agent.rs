//! Issue #11 item 4, the agent side of snapshot deltas, end to end: a real
//! `ward-ca serve --dev`, a host enrolled with `ward-agent join`, and
//! `ward-agent run` syncing.
//!
//! - After a change the running agent takes a delta (its log says so) and
//!   the snapshot it caches equals, byte for byte, what a full fetch gives.
//! - A cached snapshot that drifted from ward-ca's (same generation, one
//!   user's path changed, cache header valid) makes the next delta fail its
//!   digest: the agent logs the refusal, fetches the whole snapshot, and
//!   its cache then equals a full fetch again (the drift is gone).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/agent.rs"]
mod agent;
#[path = "support/harness.rs"]
mod harness;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use agent::{agent_bin, agent_config, agent_join};
use harness::{check, json, Daemon, Scratch};

/// `ward-agent run`, killed on drop, logging to a file.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run_agent(agent: &Path, cfg: &Path, log: &Path) -> Running {
    let f = std::fs::File::create(log).unwrap();
    Running(
        Command::new(agent)
            .arg("--config")
            .arg(cfg)
            .arg("run")
            .stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .unwrap(),
    )
}

/// Waits (bounded) until the log has `n` lines containing `want`.
fn until_logged(log: &Path, want: &str, n: usize) -> String {
    for _ in 0..1200 {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.lines().filter(|l| l.contains(want)).count() >= n {
            return text;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "{want:?} not logged {n} time(s):\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// The whole snapshot as ward-ca sends it now (the agent's own client,
/// no `If-None-Match`), as JSON text.
fn full_fetch(cfg: &Path, state: &Path) -> String {
    let config = ward_agent::config::Config::load(cfg, false).unwrap();
    let paths = ward_agent::join::StatePaths::new(state);
    let host = ward_agent::join::load_state(&paths).unwrap();
    let client = ward_agent::join::host_client(&config, &paths, &host.ca_url).unwrap();
    match client
        .snapshot(Duration::ZERO, None, ward_agent::cache::MAX_SNAPSHOT)
        .unwrap()
    {
        ward_agent::client::SnapshotReply::Changed { body, .. } => String::from_utf8(body).unwrap(),
        other => panic!("{other:?}"),
    }
}

fn cached(state: &Path) -> ward_agent::cache::Cached {
    ward_agent::cache::load(
        &ward_agent::join::StatePaths::new(state).snapshot(),
        None,
        i64::MAX,
    )
    .unwrap()
}

#[test]
fn the_agent_applies_deltas_and_recovers_from_a_refused_one() {
    let agent = agent_bin();
    let dir = Scratch::new("snapdelta-agent");
    let home = dir.path("home");
    std::fs::create_dir_all(&home).unwrap();
    let ca = Daemon::start("snapdelta-agent");
    let root = ca.root_env();
    let w = |args: &[&str]| check(&home, &root, args, None, 0, &[], &[]);
    for u in ["alice", "bob", "carol"] {
        w(&["user", "create", u]);
    }
    w(&["group", "create", "ops"]);
    w(&["group", "add-user", "ops", "alice"]);

    let mut a = vec!["--output", "json"];
    a.extend_from_slice(&["host", "join-token", "dl-01"]);
    let token = json(&w(&a))["token"].as_str().unwrap().to_owned();
    let (cfg, state) = agent_config(&dir);
    agent_join(&agent, &cfg, &ca, &token);

    // First run: a full snapshot, then a delta after a change.
    let log = dir.path("agent.log");
    {
        let _run = run_agent(&agent, &cfg, &log);
        until_logged(&log, "sync: snapshot generation", 1);
        w(&["group", "add-user", "ops", "bob"]);
        let text = until_logged(&log, "(delta)", 1);
        assert!(!text.contains("delta refused"), "{text}");
        let held = cached(&state);
        let full = full_fetch(&cfg, &state);
        assert_eq!(
            serde_json::to_string(&held.snapshot).unwrap(),
            full,
            "the applied delta differs from the full snapshot"
        );
        assert!(held
            .snapshot
            .users
            .iter()
            .any(|u| u.name == "bob" && u.groups == ["ops"]));
    }

    // Drift the cached snapshot (same generation and ETag, valid header).
    let paths = ward_agent::join::StatePaths::new(&state);
    let mut c = cached(&state);
    let gen = c.snapshot.generation;
    c.snapshot.users[0].path = "/drifted/".into();
    ward_agent::cache::store(&paths.snapshot(), &c).unwrap();

    let log2 = dir.path("agent2.log");
    let _run = run_agent(&agent, &cfg, &log2);
    // The agent starts from its cache and long-polls with its generation;
    // wait until ward-ca has it waiting, then change something.
    for _ in 0..1200 {
        let m = std::process::Command::new("curl")
            .args(["-sS", "--cacert", ca.bundle()])
            .arg(format!("{}/metrics", ca.endpoint()))
            .output()
            .unwrap();
        if String::from_utf8_lossy(&m.stdout).contains("ward_host_long_polls_waiting 1") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    w(&["user", "create", "dave"]);
    let text = until_logged(&log2, "delta refused", 1);
    assert!(text.contains("digest"), "{text}");
    let text = until_logged(&log2, "sync: snapshot generation", 1);
    let refused_at = text.find("delta refused").unwrap();
    let full_at = text.rfind("sync: snapshot generation").unwrap();
    assert!(full_at > refused_at, "{text}");
    let held = cached(&state);
    assert!(held.snapshot.generation > gen);
    assert!(held.snapshot.users.iter().all(|u| u.path != "/drifted/"));
    assert!(held.snapshot.users.iter().any(|u| u.name == "dave"));
    assert_eq!(
        serde_json::to_string(&held.snapshot).unwrap(),
        full_fetch(&cfg, &state)
    );
}
