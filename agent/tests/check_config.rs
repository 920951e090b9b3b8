//! `ward-agent check-config` on real files: errors name the key at fault.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use common::{run, TempDir};

fn check(text: &str) -> (bool, String, String) {
    let dir = TempDir::new("cfg");
    let p = dir.join("agent.toml");
    std::fs::write(&p, text).unwrap();
    run(&["--config", p.to_str().unwrap(), "check-config"])
}

#[test]
fn a_good_file_passes_and_shows_the_effective_values() {
    let (ok, out, err) = check(
        "ca_url = \"https://ca.example:8443\"\npoll_wait_seconds = 30\ndecision_uids = [74]\n",
    );
    assert!(ok, "{err}");
    assert!(out.contains("poll_wait_seconds = 30"), "{out}");
    assert!(out.contains("max_staleness_seconds = 86400"), "{out}");
    assert!(out.contains("decision_uids = [74]"), "{out}");
    assert!(out.trim_end().ends_with("ok"), "{out}");
}

#[test]
fn errors_name_the_field() {
    for (text, field) in [
        ("colour = \"blue\"\n", "colour"),
        ("poll_wait_seconds = 61\n", "poll_wait_seconds"),
        ("poll_wait_seconds = \"soon\"\n", "poll_wait_seconds"),
        ("max_staleness_seconds = 0\n", "max_staleness_seconds"),
        ("ca_url = \"http://ca:8443\"\n", "ca_url"),
        ("state_dir = \"var/lib\"\n", "state_dir"),
        ("decision_uids = [-3]\n", "decision_uids"),
        ("audit_spool_max_bytes = 1\n", "audit_spool_max_bytes"),
    ] {
        let (ok, out, err) = check(text);
        assert!(!ok, "{text} passed: {out}");
        assert!(err.contains(field), "{text}: {err}");
        assert!(err.contains("agent.toml"), "{text}: {err}");
    }
}

#[test]
fn a_named_file_that_does_not_exist_is_an_error() {
    let dir = TempDir::new("cfg-missing");
    let p = dir.join("nope.toml");
    let (ok, _, err) = run(&["--config", p.to_str().unwrap(), "check-config"]);
    assert!(!ok);
    assert!(err.contains("nope.toml"), "{err}");
}
