//! `ward access-key create USER --save-profile PROFILE` (issue #8 item 1):
//! the new key lands in `~/.ward/credentials` and where it works in
//! `~/.ward/config`, so `ward --profile PROFILE` acts as the user in a new
//! shell with no `WARD_*` variables; the secret is not printed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

#[path = "support/harness.rs"]
mod harness;

use std::os::unix::fs::PermissionsExt;

use harness::{check, json, Daemon, Scratch};

#[test]
fn save_profile_acts_as_the_user() {
    let d = Daemon::start("save-profile");
    let home = Scratch::new("save-profile-home");
    let h = home.0.as_path();
    let root = d.root_env();
    check(h, &root, &["user", "create", "carol"], None, 0, &[], &[]);

    // A bad profile name is refused before any key exists.
    check(
        h,
        &root,
        &["access-key", "create", "carol", "--save-profile", "a]b"],
        None,
        2,
        &[],
        &["bad profile name"],
    );
    let keys = json(&check(
        h,
        &root,
        &["access-key", "list", "carol", "--output", "json"],
        None,
        0,
        &[],
        &[],
    ));
    assert_eq!(keys["accessKeys"].as_array().unwrap().len(), 0, "{keys}");

    let out = check(
        h,
        &root,
        &["access-key", "create", "carol", "--save-profile", "carol"],
        None,
        0,
        &["stored as profile carol", "--profile carol"],
        &[],
    );
    let creds_path = home.path(".ward/credentials");
    let creds = std::fs::read_to_string(&creds_path).unwrap();
    let mode = std::fs::metadata(&creds_path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "credentials file mode {mode:o}");
    assert!(creds.contains("[carol]"), "{creds}");
    let secret = creds
        .lines()
        .find_map(|l| l.strip_prefix("aws_secret_access_key = "))
        .or_else(|| {
            creds
                .lines()
                .find_map(|l| l.split_once('=').filter(|(k, _)| k.contains("secret")))
                .map(|(_, v)| v.trim())
        })
        .unwrap_or_else(|| panic!("no secret in {creds}"));
    assert_eq!(secret.len(), 40, "{creds}");
    assert!(!out.contains(secret), "the secret was printed: {out}");
    let config = std::fs::read_to_string(home.path(".ward/config")).unwrap();
    assert!(config.contains("[profile carol]"), "{config}");
    assert!(config.contains(d.endpoint()), "{config}");

    // A new shell: only HOME. The profile alone reaches ward-ca as carol.
    let who = json(&check(
        h,
        &[],
        &["--profile", "carol", "whoami", "--output", "json"],
        None,
        0,
        &[],
        &[],
    ));
    assert!(
        who["arn"].as_str().unwrap().ends_with(":user/carol"),
        "{who}"
    );
    // With the root key exported, --profile still wins.
    let who = json(&check(
        h,
        &root,
        &["--profile", "carol", "whoami", "--output", "json"],
        None,
        0,
        &[],
        &[],
    ));
    assert!(
        who["arn"].as_str().unwrap().ends_with(":user/carol"),
        "{who}"
    );
    // Without --save-profile the secret is printed once, as before.
    let plain = json(&check(
        h,
        &root,
        &["access-key", "create", "carol", "--output", "json"],
        None,
        0,
        &[],
        &[],
    ));
    assert_eq!(plain["secretAccessKey"].as_str().unwrap().len(), 40);
}
