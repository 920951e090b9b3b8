//! The dashboard in a real browser: runs `tests/dashboard/flow.mjs`
//! (playwright-core driving Debian's headless `chromium`) against a real
//! ward-ca — the README's first five minutes: sign in as root (its password
//! set with `ward-ca root-password`), create user, group and policy,
//! attach, an access key's secret shown once, a denial explained by the
//! simulator, the access map; a role, certificates, the audit log; a
//! gateway's session recording replayed in the vendored asciinema player
//! (no CSP violation, the cast's markup inert). Screenshots are kept in
//! `target/dashboard-artifacts/`.
//!
//! playwright-core is installed with npm into `WARD_PLAYWRIGHT_DIR`
//! (default `~/.cache/ward-test/node`; `scripts/test` installs it) when
//! missing. The test skips, loudly, only when chromium cannot start.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod hosts;
mod sshd;

use common::{Db, Server};
use std::path::PathBuf;
use std::process::Command;

const PASSWORD: &str = "correct horse battery staple 42";
/// The password of the user who manages their own MFA device.
const USER_PASSWORD: &str = "a user's own long passphrase 7";

fn playwright_dir() -> PathBuf {
    match std::env::var("WARD_PLAYWRIGHT_DIR") {
        Ok(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into()))
            .join(".cache/ward-test/node"),
    }
}

fn skip(why: &str) {
    eprintln!("\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
    eprintln!("!!! SKIPPING the dashboard browser test: {why}");
    eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n");
}

#[test]
fn the_first_five_minutes_in_a_real_browser() {
    let root_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !std::path::Path::new(&chromium).exists() {
        skip(&format!(
            "{chromium} is not installed (scripts/test installs it)"
        ));
        return;
    }
    let pw = playwright_dir();
    if !pw
        .join("node_modules/playwright-core/package.json")
        .exists()
    {
        std::fs::create_dir_all(&pw).unwrap();
        let out = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
            .arg(&pw)
            .arg("playwright-core@1")
            .output()
            .expect("npm (scripts/test installs it)");
        assert!(
            out.status.success(),
            "npm install playwright-core: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let artifacts = root_dir.join("target/dashboard-artifacts");
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).unwrap();

    let s = Server::start(Db::Sqlite).unwrap();
    let root = s.root();
    // Root signs in with the password set on the server machine, as the
    // README says; and a host to map.
    let mut set = Command::new(common::WARD_CA)
        .args(["root-password", "--data-dir"])
        .arg(s.data_dir())
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = set.stdin.take().unwrap();
        writeln!(stdin, "{PASSWORD}").unwrap();
    }
    assert!(set.wait().unwrap().success(), "ward-ca root-password");
    s.call(&root, "POST", "/v1/hosts", Some(r#"{"name":"web-01"}"#))
        .ok();
    // A user with a password, for the MFA self-service step (root has no
    // MFA device of its own).
    common::user_with_policy(
        &s,
        &root,
        "admin",
        r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#,
    );
    s.call(
        &root,
        "PUT",
        "/v1/users/admin/login-profile",
        Some(&serde_json::json!({"password": USER_PASSWORD}).to_string()),
    )
    .ok();

    // A gateway's recorded session, uploaded as ward-gateway uploads it,
    // with markup in its output that must stay terminal text.
    let gw_dir = sshd::TempDir::new("ward-browser-gw");
    let (gw, _) = hosts::enrol(
        &s,
        gw_dir.path(),
        "gw-01",
        serde_json::json!({"gateway": true}),
    );
    let recording = "gws-5eed5eed5eed5eed5eed5eed5eed5eed";
    for (suffix, action, reason) in [
        (
            "start",
            "ward-gateway:RecordingStart",
            format!("session {recording} recording {recording}"),
        ),
        (
            "end",
            "ward-gateway:RecordingEnd",
            format!(
                "session {recording} connection gs-0123456789abcdef target web-01 as deploy \
             start 1700000000 end 1700000002 bytesIn 0 bytesOut 64 recording {recording}"
            ),
        ),
    ] {
        let batch = serde_json::json!({"events": [{
            "id": format!("{recording}-{suffix}"), "time": 1_700_000_000,
            "action": action, "user": "alice", "principal": "deploy",
            "allowed": true, "reason": reason, "target": "web-01"
        }]});
        let r = hosts::mtls(
            &s,
            &gw,
            "POST",
            "/v1/host/audit",
            Some(batch.to_string().as_bytes()),
            &[("content-type", "application/json")],
        );
        assert_eq!(r.status, 200, "audit: {}", r.body);
    }
    let cast = format!(
        "{}\n{}\n{}\n",
        serde_json::json!({"version": 2, "width": 80, "height": 24, "timestamp": 1_700_000_000}),
        serde_json::json!([0.2, "o", "$ echo replayed-in-the-browser\r\n"]),
        serde_json::json!([0.4, "o", "replayed-in-the-browser <img src=x onerror=\"window.__wardXss=1\"><script>window.__wardXss=2</script>\r\n"]),
    );
    let r = hosts::mtls(
        &s,
        &gw,
        "PUT",
        &format!("/v1/host/recordings/{recording}"),
        Some(cast.as_bytes()),
        &[("content-type", "application/x-asciicast")],
    );
    assert_eq!(r.status, 201, "upload: {}", r.body);

    let out = Command::new("node")
        .arg(root_dir.join("tests/dashboard/flow.mjs"))
        .env("WARD_RECORDING", recording)
        .env("WARD_ENDPOINT", &s.endpoint)
        .env("WARD_ADMIN", "root")
        .env("WARD_PASSWORD", PASSWORD)
        .env("WARD_USER", "admin")
        .env("WARD_USER_PASSWORD", USER_PASSWORD)
        .env("WARD_ACCOUNT", &s.account)
        .env("WARD_ARTIFACTS", &artifacts)
        .env("WARD_PLAYWRIGHT_DIR", pw.join("node_modules"))
        .env("CHROMIUM", &chromium)
        .output()
        .expect("node (scripts/test installs nodejs)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(3) && stdout.contains("CHROMIUM-CANNOT-START") {
        skip(&format!("chromium cannot start: {stdout}{stderr}"));
        return;
    }
    assert!(
        out.status.success() && stdout.contains("FLOW-OK"),
        "browser flow failed (screenshots in {}):\n{stdout}\n{stderr}",
        artifacts.display()
    );
    // Every step left its screenshot.
    for shot in [
        "01-sign-in",
        "02-home",
        "03-policy-invalid",
        "04-group",
        "05-secret-once",
        "06-simulate-denied",
        "07-simulate-allowed",
        "08-access-map",
        "08b-mfa-seed-once",
        "09-users-390",
        "10-role",
        "11-certificates",
        "12-audit",
        "13-replay",
    ] {
        let p = artifacts.join(format!("{shot}.png"));
        assert!(
            std::fs::metadata(&p)
                .map(|m| m.len() > 1000)
                .unwrap_or(false),
            "{} missing",
            p.display()
        );
    }
}
