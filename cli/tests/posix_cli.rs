//! `ward user update --shell/--home/--gecos`, `ward user disable|enable`
//! and the POSIX view in `ward user get`, with the real `ward` binary
//! against the real `ward-ca` (issue #11 item 2).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

#[path = "support/harness.rs"]
mod harness;

use harness::{check, json, Daemon, Scratch};

#[test]
fn posix_fields_and_disable_from_the_cli() {
    let d = Daemon::start("posix");
    let home = Scratch::new("posix-home");
    let h = home.0.as_path();
    let root = d.root_env();

    // A portable name gets a POSIX account with the defaults.
    check(
        h,
        &root,
        &["user", "create", "pat"],
        None,
        0,
        &[
            "Posix",
            "home=/home/pat",
            "shell=/bin/bash",
            "Disabled",
            "no",
        ],
        &[],
    );
    // A name hosts cannot use gets none, and the CLI says why.
    check(
        h,
        &root,
        &["user", "create", "Pat.Upper"],
        None,
        0,
        &["none", "not a portable Unix name"],
        &[],
    );

    // Shell, home (normalised) and gecos, then `user get` shows them.
    check(
        h,
        &root,
        &[
            "user",
            "update",
            "pat",
            "--shell",
            "/bin/zsh",
            "--home",
            "/srv//pat/",
            "--gecos",
            "Pat Doe,Room 4",
        ],
        None,
        0,
        &["shell=/bin/zsh", "home=/srv/pat", "Pat Doe,Room 4"],
        &[],
    );
    let got = json(&check(
        h,
        &root,
        &["--output", "json", "user", "get", "pat"],
        None,
        0,
        &[],
        &[],
    ));
    assert_eq!(got["posix"]["shell"], "/bin/zsh");
    assert_eq!(got["posix"]["home"], "/srv/pat");
    assert_eq!(got["posix"]["gid"], got["posix"]["uid"]);
    // A hostile shell is refused by the server, naming the field.
    check(
        h,
        &root,
        &["user", "update", "pat", "--shell", "/bin/sh:0:0"],
        None,
        1,
        &[],
        &["shell"],
    );
    // Nothing to change is a usage error.
    check(h, &root, &["user", "update", "pat"], None, 2, &[], &[]);

    // Disable: pat's access key is refused at once; enable restores it.
    let key = json(&check(
        h,
        &root,
        &["--output", "json", "access-key", "create", "pat"],
        None,
        0,
        &[],
        &[],
    ));
    let as_pat = d.key_env(
        key["accessKeyId"].as_str().unwrap(),
        key["secretAccessKey"].as_str().unwrap(),
    );
    check(h, &as_pat, &["whoami"], None, 0, &["user/pat"], &[]);
    check(
        h,
        &root,
        &["user", "disable", "pat"],
        None,
        0,
        &["Disabled", "yes (since"],
        &[],
    );
    check(h, &as_pat, &["whoami"], None, 1, &[], &["UserDisabled"]);
    check(
        h,
        &root,
        &["user", "get", "pat"],
        None,
        0,
        &["yes (since"],
        &[],
    );
    check(
        h,
        &root,
        &["user", "enable", "pat"],
        None,
        0,
        &["Disabled", "no"],
        &[],
    );
    check(h, &as_pat, &["whoami"], None, 0, &["user/pat"], &[]);
    // The account root is not a user and cannot be disabled.
    check(
        h,
        &root,
        &["user", "disable", "root"],
        None,
        1,
        &[],
        &["root"],
    );
}
