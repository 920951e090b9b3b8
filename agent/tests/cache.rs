//! The snapshot cache through the real `ward-agent run`: a good cache is
//! loaded (and sshd's files rebuilt from it); a corrupt, truncated,
//! bit-flipped, wrong-version, other-host or future-dated cache is
//! discarded with a log line and deleted, never trusted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use common::{run, run_until, write_config, TempDir};
use ward_agent::cache::{encode, Cached};
use ward_agent::join::HostState;
use ward_protocol::host::{Snapshot, SNAPSHOT_VERSION};

const CA: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINDqEZbu3os2wggKQIB+/4V6bwvLHZ+JaqPPeJ/V8rhA ca";

/// A joined state directory (no certificate: ward-ca is never reached)
/// and its config.
fn joined() -> (TempDir, std::path::PathBuf) {
    let dir = TempDir::new("cache");
    let cfg = write_config(&dir, "");
    std::fs::create_dir(dir.join("state")).unwrap();
    let host = HostState {
        host_name: "web-01".into(),
        host_arn: "arn:ward:host::123456789012:host/web-01".into(),
        account: "123456789012".into(),
        trust_domain: "test.ward".into(),
        ca_url: "https://127.0.0.1:1".into(),
        certificate_expires_at: "2099-01-01T00:00:00Z".into(),
        joined_at: 1,
    };
    std::fs::write(
        dir.join("state/host.json"),
        serde_json::to_vec(&host).unwrap(),
    )
    .unwrap();
    (dir, cfg)
}

fn cached(host: &str, version: u32, received_at: i64) -> Cached {
    let mut s = Snapshot {
        version,
        generation: 7,
        account: "123456789012".into(),
        ssh_user_ca_keys: vec![CA.into()],
        revoked_ssh_serials: vec![9],
        ..Snapshot::default()
    };
    s.host.name = host.into();
    Cached {
        received_at,
        etag: Some("\"g7\"".into()),
        snapshot: s,
    }
}

fn now() -> i64 {
    ward_agent::shared::now()
}

#[test]
fn a_good_cache_is_loaded_and_rebuilds_sshds_files() {
    let (dir, cfg) = joined();
    let path = dir.join("state/snapshot.json");
    std::fs::write(
        &path,
        encode(&cached("web-01", SNAPSHOT_VERSION, now() - 60)).unwrap(),
    )
    .unwrap();
    let lines = run_until(&cfg, "updated TrustedUserCAKeys RevokedKeys");
    let line = lines
        .iter()
        .find(|l| l.contains("loaded cached snapshot"))
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert!(line.contains("generation 7"), "{line}");
    assert!(
        !lines.iter().any(|l| l.contains("discarding")),
        "{lines:#?}"
    );
    assert!(path.exists());
    assert_eq!(
        std::fs::read_to_string(dir.join("ward_user_ca.pub")).unwrap(),
        format!("{CA}\n")
    );
    let krl = std::fs::read(dir.join("ward_revoked.krl")).unwrap();
    assert!(!ward_pki::krl::Krl::from_bytes(&krl).unwrap().is_empty());
}

#[test]
fn damaged_or_foreign_caches_are_discarded_with_a_log_line() {
    let good = encode(&cached("web-01", SNAPSHOT_VERSION, now() - 60)).unwrap();
    let mut flipped = good.clone();
    let i = flipped.len() / 2 + 40;
    flipped[i] ^= 0x04;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated", good[..good.len() - 17].to_vec(), "truncated"),
        ("bit-flipped", flipped, "SHA-256"),
        ("garbage", b"{\"not\":\"a cache\"}\n".to_vec(), "header"),
        ("empty", Vec::new(), "header"),
        (
            "wrong version",
            encode(&cached("web-01", SNAPSHOT_VERSION + 1, now() - 60)).unwrap(),
            "version",
        ),
        (
            "other host",
            encode(&cached("db-9", SNAPSHOT_VERSION, now() - 60)).unwrap(),
            "db-9",
        ),
        (
            "future",
            encode(&cached("web-01", SNAPSHOT_VERSION, now() + 3600)).unwrap(),
            "future",
        ),
    ];
    for (name, bytes, reason) in cases {
        let (dir, cfg) = joined();
        let path = dir.join("state/snapshot.json");
        std::fs::write(&path, &bytes).unwrap();
        let lines = run_until(&cfg, "no usable cached snapshot");
        let discard = lines
            .iter()
            .find(|l| l.contains("discarding cached snapshot"))
            .unwrap_or_else(|| panic!("{name}: {lines:#?}"));
        assert!(discard.contains(reason), "{name}: {discard}");
        assert!(
            lines
                .iter()
                .any(|l| l.contains("no usable cached snapshot")),
            "{name}: {lines:#?}"
        );
        assert!(!lines.iter().any(|l| l.contains("loaded cached")), "{name}");
        assert!(!path.exists(), "{name}: the refused cache is still there");
        // Nothing was derived from it.
        assert!(!dir.join("ward_user_ca.pub").exists(), "{name}");
    }
}

#[test]
fn run_before_join_says_so() {
    let dir = TempDir::new("unjoined");
    let cfg = write_config(&dir, "");
    let (ok, _, err) = run(&["--config", cfg.to_str().unwrap(), "run"]);
    assert!(!ok);
    assert!(err.contains("ward-agent join"), "{err}");
}

#[test]
fn status_fails_when_the_agent_is_not_running() {
    let dir = TempDir::new("status");
    let cfg = write_config(&dir, "");
    let (ok, out, err) = run(&["--config", cfg.to_str().unwrap(), "status"]);
    assert!(!ok, "{out}");
    assert!(err.contains("not reachable"), "{err}");
    assert!(err.contains("agent.sock"), "{err}");
}

#[test]
fn renew_before_join_says_so() {
    let dir = TempDir::new("renew-unjoined");
    let cfg = write_config(&dir, "");
    let (ok, _, err) = run(&["--config", cfg.to_str().unwrap(), "renew"]);
    assert!(!ok);
    assert!(err.contains("ward-agent join"), "{err}");
    assert!(!dir.join("state").exists());
}

#[test]
fn a_state_directory_others_can_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, cfg) = joined();
    let state = dir.join("state");
    std::fs::write(
        state.join("snapshot.json"),
        encode(&cached("web-01", SNAPSHOT_VERSION, now() - 60)).unwrap(),
    )
    .unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777)).unwrap();
    let (ok, _, err) = run(&["--config", cfg.to_str().unwrap(), "run"]);
    assert!(!ok);
    assert!(err.contains("writable by others"), "{err}");
    assert!(!err.contains("loaded cached"), "{err}");
}
