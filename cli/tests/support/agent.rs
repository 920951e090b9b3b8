//! The host side for the CLI's agent tests (`agent_audit_throttle.rs`,
//! `snapshot_delta_agent.rs`, `agent_differential.rs`, `pam_e2e.rs`): the
//! ward-agent binary built next to `ward`, its config in a scratch
//! directory, and enrolment with `ward-agent join`.
//!
//! Included with `#[path]` after `support/harness.rs` (as `harness`), by
//! each test crate, which uses a subset.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use crate::harness::{Daemon, Scratch, WARD};

/// Builds the ward-agent binary next to `ward` once per run (ward-cli does
/// not build it, so `cargo test -p ward-cli` alone would run a stale one).
pub(crate) fn agent_bin() -> PathBuf {
    static BUILT: Mutex<bool> = Mutex::new(false);
    let dir = Path::new(WARD).parent().unwrap().to_owned();
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !*built {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args([
            "build",
            "--quiet",
            "-p",
            "ward-agent",
            "--bin",
            "ward-agent",
        ])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
        if dir.file_name() == Some("release".as_ref()) {
            cmd.arg("--release");
        }
        assert!(cmd.status().unwrap().success(), "cargo build ward-agent");
        *built = true;
    }
    dir.join("ward-agent")
}

/// A path as `&str` (scratch paths are UTF-8).
pub(crate) fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Writes `agent.toml` in `dir` with the state directory `dir/state`, the
/// socket `dir/agent.sock` and the SSH files under `dir/ssh` (created);
/// returns (config, state directory).
pub(crate) fn agent_config(dir: &Scratch) -> (PathBuf, PathBuf) {
    let state = dir.path("state");
    let ssh_dir = dir.path("ssh");
    std::fs::create_dir_all(&ssh_dir).unwrap();
    let cfg = dir.write(
        "agent.toml",
        &format!(
            "state_dir = {st:?}\nsocket = {sock:?}\n\
             trusted_user_ca_keys_file = {tk:?}\nrevoked_keys_file = {krl:?}\n\
             ssh_host_key = {hk:?}\n",
            st = s(&state),
            sock = s(&dir.path("agent.sock")),
            tk = s(&ssh_dir.join("ward_user_ca.pub")),
            krl = s(&ssh_dir.join("ward_revoked.krl")),
            hk = s(&ssh_dir.join("ssh_host_ed25519_key")),
        ),
    );
    (cfg, state)
}

/// `ward-agent --config CFG join ENDPOINT - --ca-bundle BUNDLE` with the
/// join token on stdin, as an operator enrols a host; asserts it succeeded.
pub(crate) fn agent_join(agent: &Path, cfg: &Path, ca: &Daemon, token: &str) {
    let mut join = Command::new(agent)
        .arg("--config")
        .arg(cfg)
        .args(["join", ca.endpoint(), "-", "--ca-bundle", ca.bundle()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    join.stdin
        .take()
        .unwrap()
        .write_all(token.as_bytes())
        .unwrap();
    let out = join.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "join: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The enrolled host's state and its client to ward-ca, made as the agent
/// makes them from its config `cfg` and state directory `state` (after
/// [`agent_join`]).
pub(crate) fn host_client(
    cfg: &Path,
    state: &Path,
) -> (ward_agent::join::HostState, ward_agent::client::CaClient) {
    let config = ward_agent::config::Config::load(cfg, false).unwrap();
    let paths = ward_agent::join::StatePaths::new(state);
    let host = ward_agent::join::load_state(&paths).unwrap();
    let client = ward_agent::join::host_client(&config, &paths, &host.ca_url).unwrap();
    (host, client)
}
