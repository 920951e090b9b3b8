//! `ward pool …` against the real daemon (issue #14 item 4): an operator
//! creates an identity pool, a guest with no credentials at all gets an
//! identity and temporary credentials (as exports and as a stored
//! profile) that act as the pool's unauthenticated role narrowed by the
//! pool's policy; closing the pool to guests and deleting it refuse them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

#[path = "support/harness.rs"]
mod harness;

use harness::{check, json, Daemon, Scratch};

/// The `export K='V'` lines, as env pairs.
fn exports(out: &str) -> Vec<(String, String)> {
    out.lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim_matches('\'').to_owned()))
        .collect()
}

#[test]
fn guest_credentials_with_the_cli() {
    let d = Daemon::start("pools-cli");
    let home = Scratch::new("pools-cli-home");
    let h = home.0.as_path();
    let root = d.root_env();
    // No credentials at all: only where the daemon is.
    let nobody: Vec<(String, String)> = vec![
        ("WARD_ENDPOINT".into(), d.endpoint().into()),
        ("WARD_CA_BUNDLE".into(), d.bundle().into()),
    ];
    check(h, &root, &["user", "create", "alice"], None, 0, &[], &[]);
    let open = home.write(
        "open.json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"identity.ward"},"Action":"sts:AssumeRoleWithWebIdentity"}]}"#,
    );
    let role = json(&check(
        h,
        &root,
        &[
            "role",
            "create",
            "guest",
            "--trust",
            open.to_str().unwrap(),
            "--output",
            "json",
        ],
        None,
        0,
        &[],
        &[],
    ));
    let role_arn = role["arn"].as_str().unwrap().to_owned();
    let role_pol = home.write(
        "role.json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:GetUser","iam:ListUsers"],"Resource":"*"}]}"#,
    );
    check(
        h,
        &root,
        &[
            "role",
            "put-policy",
            "guest",
            "p",
            "--document",
            role_pol.to_str().unwrap(),
        ],
        None,
        0,
        &[],
        &[],
    );
    let guest_pol = home.write(
        "guest.json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}]}"#,
    );
    let pool = json(&check(
        h,
        &root,
        &[
            "pool",
            "create",
            "web",
            "--allow-guests",
            "--guest-role",
            &role_arn,
            "--guest-policy",
            guest_pol.to_str().unwrap(),
            "--tag",
            "team=web",
            "--output",
            "json",
        ],
        None,
        0,
        &[],
        &[],
    ));
    let id = pool["identityPoolId"].as_str().unwrap().to_owned();
    assert_eq!(pool["tags"][0]["key"], "team", "{pool}");
    check(h, &root, &["pool", "list"], None, 0, &[&id, "web"], &[]);
    check(
        h,
        &root,
        &["pool", "get", &id],
        None,
        0,
        &[&role_arn, "iam:GetUser", "team=web"],
        &[],
    );
    // Pool tags: added, listed, removed.
    check(
        h,
        &root,
        &["pool", "tag", &id, "env=prod"],
        None,
        0,
        &["env=prod, team=web"],
        &[],
    );
    check(
        h,
        &root,
        &["pool", "untag", &id, "env"],
        None,
        0,
        &["team=web"],
        &[],
    );
    let out = check(
        h,
        &root,
        &["pool", "tags", &id],
        None,
        0,
        &["team=web"],
        &[],
    );
    assert!(!out.contains("env"), "{out}");
    let pinned = home.write(
        "pinned.json",
        &format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Federated":"identity.ward"}},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{{"StringEquals":{{"identity:aud":"{id}","identity:amr":"unauthenticated"}}}}}}]}}"#
        ),
    );
    check(
        h,
        &root,
        &[
            "role",
            "update-trust",
            "guest",
            "--trust",
            pinned.to_str().unwrap(),
        ],
        None,
        0,
        &[],
        &[],
    );

    // The guest: an identity, then credentials as shell exports.
    let identity = check(
        h,
        &nobody,
        &["pool", "get-id", &id, "--guest"],
        None,
        0,
        &[],
        &[],
    )
    .trim()
    .to_owned();
    assert!(identity.contains(':') && identity != id, "{identity}");
    let out = check(
        h,
        &nobody,
        &["pool", "credentials", &identity, "--guest"],
        None,
        0,
        &[
            "export WARD_ACCESS_KEY_ID='ASIA",
            "export WARD_SESSION_TOKEN=",
        ],
        &[],
    );
    let mut env = exports(&out);
    assert_eq!(env.len(), 3, "{out}");
    env.extend(nobody.iter().cloned());
    let uuid = identity.split_once(':').unwrap().1;
    check(
        h,
        &env,
        &["whoami"],
        None,
        0,
        &[&format!("assumed-role/guest/identity-{uuid}")],
        &[],
    );
    check(h, &env, &["user", "get", "alice"], None, 0, &["alice"], &[]);
    // The role alone would allow ListUsers; the pool's policy does not.
    check(h, &env, &["user", "list"], None, 1, &[], &["AccessDenied"]);

    // Stored as a profile.
    check(
        h,
        &nobody,
        &[
            "pool",
            "credentials",
            &identity,
            "--guest",
            "--profile-out",
            "g",
        ],
        None,
        0,
        &["profile g"],
        &[],
    );
    check(
        h,
        &[],
        &["--profile", "g", "whoami"],
        None,
        0,
        &[&format!("identity-{uuid}")],
        &[],
    );

    // Closed to guests, then deleted: refused, naming what is wrong.
    check(
        h,
        &root,
        &["pool", "update", &id, "--allow-guests", "false"],
        None,
        0,
        &[],
        &[],
    );
    check(
        h,
        &nobody,
        &["pool", "get-id", &id, "--guest"],
        None,
        1,
        &[],
        &["does not allow unauthenticated"],
    );
    check(h, &root, &["pool", "delete", &id], None, 0, &[], &[]);
    check(
        h,
        &nobody,
        &["pool", "credentials", &identity, "--guest"],
        None,
        1,
        &[],
        &["identityId"],
    );
    check(
        h,
        &nobody,
        &["pool", "get-id", "not-a-pool", "--guest"],
        None,
        1,
        &[],
        &["identityPoolId"],
    );
}
