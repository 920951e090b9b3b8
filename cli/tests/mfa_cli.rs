//! `ward mfa …` and `ward login --mfa-code` end to end: the real `ward`
//! binary against the real `ward-ca`, with the codes computed by the real
//! `oathtool` from the seed `ward mfa create` printed (as an authenticator
//! app would).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

#[path = "support/harness.rs"]
mod harness;

use std::process::Command;

use harness::{check, json, Daemon, Scratch};

/// The TOTP code of `seed` (base32) at time step `step`, from oathtool.
fn oathtool(seed: &str, step: i64) -> String {
    let out = Command::new("oathtool")
        .args(["--totp", "-b", "-N", &format!("@{}", step * 30)])
        .arg(seed)
        .output()
        .expect("oathtool (apt package oathtool)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn step_now() -> i64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    i64::try_from(t).unwrap() / 30
}

#[test]
fn create_enable_login_deactivate() {
    let d = Daemon::start("mfa");
    let home = Scratch::new("mfa-home");
    let h = home.0.as_path();
    let root = d.root_env();
    let none: Vec<(String, String)> = vec![
        ("WARD_ENDPOINT".into(), d.endpoint().into()),
        ("WARD_CA_BUNDLE".into(), d.bundle().into()),
    ];
    check(h, &root, &["user", "create", "mia"], None, 0, &[], &[]);
    check(
        h,
        &root,
        &["user", "set-password", "mia", "--password-stdin"],
        Some("a long enough passphrase 42\n"),
        0,
        &[],
        &[],
    );
    let created = json(&check(
        h,
        &root,
        &["--output", "json", "mfa", "create", "mia-phone"],
        None,
        0,
        &["otpauth://totp/"],
        &[],
    ));
    let serial = created["serialNumber"].as_str().unwrap().to_owned();
    let seed = created["base32StringSeed"].as_str().unwrap().to_owned();
    // The table form tells what to do next; a bad code names its field.
    let now = step_now();
    check(
        h,
        &root,
        &[
            "mfa", "enable", "--serial", &serial, "--code1", "12ab56", "--code2", "123456",
            "--user", "mia",
        ],
        None,
        1,
        &[],
        &["ValidationError", "field: authenticationCode1"],
    );
    let (c1, c2) = (oathtool(&seed, now - 1), oathtool(&seed, now));
    // By name: the CLI completes the serial from whoami's account.
    check(
        h,
        &root,
        &[
            "mfa",
            "enable",
            "--serial",
            "mia-phone",
            "--code1",
            &c1,
            "--code2",
            &c2,
            "--user",
            "mia",
        ],
        None,
        0,
        &["enabled", &serial, "mia"],
        &[],
    );
    check(
        h,
        &root,
        &["mfa", "list", "--user", "mia"],
        None,
        0,
        &[&serial],
        &[],
    );
    // The password alone is refused (stdin is no terminal: no prompt).
    check(
        h,
        &none,
        &["--profile", "mia", "login", "--user", "mia"],
        Some("a long enough passphrase 42\n"),
        1,
        &[],
        &["MfaRequired"],
    );
    let code = oathtool(&seed, now + 1);
    check(
        h,
        &none,
        &[
            "--profile",
            "mia",
            "login",
            "--user",
            "mia",
            "--mfa-code",
            &code,
        ],
        Some("a long enough passphrase 42\n"),
        0,
        &["logged in as mia"],
        &[],
    );
    // Replayed: refused.
    check(
        h,
        &none,
        &[
            "--profile",
            "mia",
            "login",
            "--user",
            "mia",
            "--mfa-code",
            &code,
        ],
        Some("a long enough passphrase 42\n"),
        1,
        &[],
        &["AccessDenied"],
    );
    check(
        h,
        &root,
        &["mfa", "delete", "--serial", &serial],
        None,
        1,
        &[],
        &["DeleteConflict"],
    );
    check(
        h,
        &root,
        &["mfa", "deactivate", "--serial", &serial, "--user", "mia"],
        None,
        0,
        &["deactivated"],
        &[],
    );
    check(
        h,
        &root,
        &["mfa", "delete", "--serial", &serial],
        None,
        0,
        &["deleted"],
        &[],
    );
    check(
        h,
        &none,
        &["--profile", "mia", "login", "--user", "mia"],
        Some("a long enough passphrase 42\n"),
        0,
        &["logged in as mia"],
        &[],
    );
}
