//! `ward role …`, `ward assume-role`, `role_arn` + `source_profile`
//! profiles and `ward credential-process` against the real daemon (issue
//! #14 item 6, without MFA): a user assumes a role with the CLI, uses the
//! exports and a stored profile, a role profile is assumed automatically,
//! botocore signs with the credential_process JSON, and revoke-sessions
//! refuses the sessions issued before it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

#[path = "support/harness.rs"]
mod harness;

use std::process::Command;

use harness::{check, json, ward, Daemon, Scratch};

const WARD: &str = env!("CARGO_BIN_EXE_ward");

/// The `export K='V'` lines of `ward assume-role`, as env pairs.
fn exports(out: &str) -> Vec<(String, String)> {
    out.lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim_matches('\'').to_owned()))
        .collect()
}

#[test]
fn assume_role_with_the_cli() {
    let d = Daemon::start("roles-cli");
    let home = Scratch::new("roles-cli-home");
    let h = home.0.as_path();
    let root = d.root_env();
    check(h, &root, &["user", "create", "alice"], None, 0, &[], &[]);
    let key = json(&check(
        h,
        &root,
        &["access-key", "create", "alice", "--output", "json"],
        None,
        0,
        &[],
        &[],
    ));
    let alice = d.key_env(
        key["accessKeyId"].as_str().unwrap(),
        key["secretAccessKey"].as_str().unwrap(),
    );
    let me = json(&check(
        h,
        &alice,
        &["whoami", "--output", "json"],
        None,
        0,
        &[],
        &[],
    ));
    let alice_arn = me["arn"].as_str().unwrap().to_owned();
    let account = me["account"].as_str().unwrap().to_owned();

    // A role alice may assume, allowed to list users.
    let trust = home.write(
        "trust.json",
        &format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{alice_arn}"}},"Action":"sts:AssumeRole"}}]}}"#
        ),
    );
    let pol = home.write(
        "pol.json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:ListUsers","Resource":"*"}]}"#,
    );
    let role = json(&check(
        h,
        &root,
        &[
            "role",
            "create",
            "deploy",
            "--trust",
            trust.to_str().unwrap(),
            "--max-session-duration",
            "7200",
            "--tag",
            "team=blue",
            "--output",
            "json",
        ],
        None,
        0,
        &[],
        &[],
    ));
    let role_arn = role["arn"].as_str().unwrap().to_owned();
    assert_eq!(role_arn, format!("arn:ward:iam::{account}:role/deploy"));
    check(
        h,
        &root,
        &[
            "role",
            "put-policy",
            "deploy",
            "p",
            "--document",
            pol.to_str().unwrap(),
        ],
        None,
        0,
        &[],
        &[],
    );
    check(h, &root, &["role", "list"], None, 0, &["deploy"], &[]);
    check(
        h,
        &root,
        &["role", "list-policies", "deploy"],
        None,
        0,
        &["p"],
        &[],
    );
    check(
        h,
        &root,
        &["role", "get", "deploy"],
        None,
        0,
        &[&alice_arn, "team=blue"],
        &[],
    );

    // Shell exports: the session is the role's.
    let out = check(
        h,
        &alice,
        &[
            "assume-role",
            "deploy",
            "--session",
            "s1",
            "--duration",
            "900",
        ],
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
    env.push(("WARD_ENDPOINT".into(), d.endpoint().into()));
    env.push(("WARD_CA_BUNDLE".into(), d.bundle().into()));
    check(
        h,
        &env,
        &["whoami"],
        None,
        0,
        &[&format!("arn:ward:sts::{account}:assumed-role/deploy/s1")],
        &[],
    );
    check(h, &env, &["user", "list"], None, 0, &["alice"], &[]);
    check(
        h,
        &alice,
        &["user", "list"],
        None,
        1,
        &[],
        &["AccessDenied"],
    );

    // Bad input is the server's 400 naming the field.
    check(
        h,
        &alice,
        &["assume-role", "deploy", "--session", "x"],
        None,
        1,
        &[],
        &["roleSessionName"],
    );
    check(
        h,
        &alice,
        &[
            "assume-role",
            "deploy",
            "--session",
            "s9",
            "--duration",
            "7201",
        ],
        None,
        1,
        &[],
        &["durationSeconds"],
    );

    // Profiles: alice's keys, a role profile with role_arn/source_profile.
    home.write(
        ".ward/credentials",
        &format!(
            "[alice]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            key["accessKeyId"].as_str().unwrap(),
            key["secretAccessKey"].as_str().unwrap()
        ),
    );
    home.write(
        ".ward/config",
        &format!(
            "[profile alice]\nendpoint = {}\nca_bundle = {}\n\n\
             [profile deployer]\nrole_arn = {role_arn}\nsource_profile = alice\nrole_session_name = from-cli\n",
            d.endpoint(),
            d.bundle()
        ),
    );
    let nothing: Vec<(String, String)> = Vec::new();
    check(
        h,
        &nothing,
        &["--profile", "deployer", "whoami"],
        None,
        0,
        &["assumed-role/deploy/from-cli"],
        &[],
    );
    // credential_process JSON.
    let cp = json(&check(
        h,
        &nothing,
        &["credential-process", "--profile", "deployer"],
        None,
        0,
        &[],
        &[],
    ));
    assert_eq!(cp["Version"], 1, "{cp}");
    assert!(
        cp["AccessKeyId"].as_str().unwrap().starts_with("ASIA"),
        "{cp}"
    );
    assert_eq!(cp["SecretAccessKey"].as_str().unwrap().len(), 40, "{cp}");
    assert!(!cp["SessionToken"].as_str().unwrap().is_empty(), "{cp}");
    assert!(cp["Expiration"].as_str().unwrap().ends_with('Z'), "{cp}");
    let keys: Vec<&String> = cp.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "Version",
            "AccessKeyId",
            "SecretAccessKey",
            "SessionToken",
            "Expiration"
        ]
    );
    // A long-term key: no token, no expiry.
    let lt = json(&check(
        h,
        &nothing,
        &["credential-process", "--profile", "alice"],
        None,
        0,
        &[],
        &[],
    ));
    assert!(
        lt.get("SessionToken").is_none() && lt.get("Expiration").is_none(),
        "{lt}"
    );

    // botocore signs with the credential_process credentials.
    botocore_whoami(&home, d.endpoint(), d.bundle(), &account);

    // --profile-out stores the session as a profile.
    check(
        h,
        &nothing,
        &[
            "--profile",
            "alice",
            "assume-role",
            "deploy",
            "--session",
            "stored",
            "--profile-out",
            "dep2",
        ],
        None,
        0,
        &["stored in profile dep2"],
        &[],
    );
    check(
        h,
        &nothing,
        &["--profile", "dep2", "user", "list"],
        None,
        0,
        &["alice"],
        &[],
    );

    // revoke-sessions: sessions issued before are refused.
    check(
        h,
        &root,
        &["role", "revoke-sessions", "deploy"],
        None,
        0,
        &["refused"],
        &[],
    );
    check(
        h,
        &nothing,
        &["--profile", "dep2", "user", "list"],
        None,
        1,
        &[],
        &["AccessDenied"],
    );
    check(h, &env, &["user", "list"], None, 1, &[], &["AccessDenied"]);
    // Who they are is still answered.
    check(
        h,
        &nothing,
        &["--profile", "dep2", "whoami"],
        None,
        0,
        &["assumed-role/deploy/stored"],
        &[],
    );

    // Deleting: a conflict while the inline policy is there.
    check(
        h,
        &root,
        &["role", "delete", "deploy"],
        None,
        1,
        &[],
        &["DeleteConflict"],
    );
    check(
        h,
        &root,
        &["role", "delete-policy", "deploy", "p"],
        None,
        0,
        &[],
        &[],
    );
    check(
        h,
        &root,
        &["role", "delete-policy", "deploy", "AWSRevokeOlderSessions"],
        None,
        0,
        &[],
        &[],
    );
    check(h, &root, &["role", "delete", "deploy"], None, 0, &[], &[]);
    check(
        h,
        &nothing,
        &["--profile", "deployer", "whoami"],
        None,
        1,
        &[],
        &["AccessDenied"],
    );
}

/// botocore resolves a profile whose `credential_process` is `ward
/// credential-process --profile deployer`, and signs GET /v1/whoami with
/// them (SigV4, service `ward`, region `local`).
fn botocore_whoami(home: &Scratch, endpoint: &str, bundle: &str, account: &str) {
    let ok = Command::new("python3")
        .args(["-c", "import botocore"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipping the botocore check: python3 botocore is not installed");
        return;
    }
    let aws_config = home.write(
        "aws-config",
        &format!(
            "[profile ward]\ncredential_process = {WARD} credential-process --profile deployer\n"
        ),
    );
    let script = r#"
import json, ssl, sys, urllib.request
import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
endpoint, bundle = sys.argv[1], sys.argv[2]
s = botocore.session.Session(profile="ward")
creds = s.get_credentials().get_frozen_credentials()
req = AWSRequest(method="GET", url=endpoint + "/v1/whoami")
SigV4Auth(creds, "ward", "local").add_auth(req)
ctx = ssl.create_default_context(cafile=bundle)
r = urllib.request.urlopen(urllib.request.Request(req.url, headers=dict(req.headers.items())), context=ctx)
print(json.dumps({"token": bool(creds.token), "who": json.load(r)}))
"#;
    let out = Command::new("python3")
        .args(["-c", script, endpoint, bundle])
        .env_clear()
        .env("HOME", &home.0)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_CONFIG_FILE", &aws_config)
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            home.path("no-such-aws-credentials"),
        )
        .output()
        .unwrap();
    let so = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "botocore: {so}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(so.trim());
    assert_eq!(v["token"], true, "{v}");
    assert_eq!(
        v["who"]["arn"],
        format!("arn:ward:sts::{account}:assumed-role/deploy/from-cli")
    );
}

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

/// `mfa_serial` in a role profile (issue #14 item 6): the CLI sends the
/// source profile's device serial and the code from `--mfa-code` or
/// `WARD_MFA_CODE` with the AssumeRole, as the AWS CLI does; a role whose
/// trust policy requires MFA refuses the same profile without it, a
/// replayed code is refused, and without a terminal and without a code
/// the CLI says how to give one.
#[test]
fn role_profile_with_mfa_serial() {
    let d = Daemon::start("roles-mfa");
    let home = Scratch::new("roles-mfa-home");
    let h = home.0.as_path();
    let root = d.root_env();
    check(h, &root, &["user", "create", "bob"], None, 0, &[], &[]);
    let key = json(&check(
        h,
        &root,
        &["access-key", "create", "bob", "--output", "json"],
        None,
        0,
        &[],
        &[],
    ));
    let created = json(&check(
        h,
        &root,
        &["--output", "json", "mfa", "create", "bob-phone"],
        None,
        0,
        &[],
        &[],
    ));
    let serial = created["serialNumber"].as_str().unwrap().to_owned();
    let seed = created["base32StringSeed"].as_str().unwrap().to_owned();
    let now = step_now();
    let (c1, c2) = (oathtool(&seed, now - 1), oathtool(&seed, now));
    check(
        h,
        &root,
        &[
            "mfa", "enable", "--serial", &serial, "--code1", &c1, "--code2", &c2, "--user", "bob",
        ],
        None,
        0,
        &[],
        &[],
    );
    let account = serial.split(':').nth(4).unwrap().to_owned();
    let trust = home.write(
        "trust.json",
        &format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:ward:iam::{account}:user/bob"}},"Action":"sts:AssumeRole","Condition":{{"Bool":{{"ward:MultiFactorAuthPresent":"true"}}}}}}]}}"#
        ),
    );
    check(
        h,
        &root,
        &[
            "role",
            "create",
            "guarded",
            "--trust",
            trust.to_str().unwrap(),
        ],
        None,
        0,
        &[],
        &[],
    );
    home.write(
        ".ward/credentials",
        &format!(
            "[bob]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            key["accessKeyId"].as_str().unwrap(),
            key["secretAccessKey"].as_str().unwrap()
        ),
    );
    home.write(
        ".ward/config",
        &format!(
            "[profile bob]\nendpoint = {}\nca_bundle = {}\n\n\
             [profile guarded]\nrole_arn = arn:ward:iam::{account}:role/guarded\nsource_profile = bob\n\
             mfa_serial = {serial}\nrole_session_name = with-mfa\n\n\
             [profile guarded-again]\nrole_arn = arn:ward:iam::{account}:role/guarded\nsource_profile = bob\n\
             mfa_serial = {serial}\nrole_session_name = again\n\n\
             [profile unguarded]\nrole_arn = arn:ward:iam::{account}:role/guarded\nsource_profile = bob\n",
            d.endpoint(),
            d.bundle()
        ),
    );
    let nothing: Vec<(String, String)> = Vec::new();
    // No terminal, no code: a usage error that says how to give one.
    check(
        h,
        &nothing,
        &["--profile", "guarded", "whoami"],
        None,
        2,
        &[],
        &["mfa_serial", "--mfa-code", "WARD_MFA_CODE"],
    );
    // Without mfa_serial the trust policy's MFA condition refuses.
    check(
        h,
        &nothing,
        &["--profile", "unguarded", "whoami"],
        None,
        1,
        &[],
        &["AccessDenied"],
    );
    // With the code in WARD_MFA_CODE.
    let code = oathtool(&seed, now + 1);
    let with_env = vec![("WARD_MFA_CODE".to_owned(), code.clone())];
    check(
        h,
        &with_env,
        &["--profile", "guarded", "whoami"],
        None,
        0,
        &["assumed-role/guarded/with-mfa"],
        &[],
    );
    // The session is cached as the AWS CLI caches it: one 0600 file in a
    // 0700 ~/.ward/cli/cache.
    let cache_dir = h.join(".ward/cli/cache");
    let cached: Vec<_> = std::fs::read_dir(&cache_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    let cache_file = cached[0].clone();
    let mode = |p: &std::path::Path| {
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions())
            & 0o777
    };
    assert_eq!(
        (mode(cache_dir.as_path()), mode(cache_file.as_path())),
        (0o700, 0o600)
    );
    let original = std::fs::read_to_string(&cache_file).unwrap();
    let entry = json(&original);
    let secret = entry["Credentials"]["SecretAccessKey"]
        .as_str()
        .unwrap()
        .to_owned();
    let key_id = entry["Credentials"]["AccessKeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(key_id.starts_with("ASIA"), "{entry}");
    // Two commands, one code: the next ones need no code (without one,
    // an uncached MFA profile is a usage error) and use the cached
    // session; the secret is in no output.
    let out = ward(h, &nothing, &["--profile", "guarded", "whoami"], None);
    let (so, se) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert_eq!(out.status.code(), Some(0), "{so}\n{se}");
    assert!(so.contains("assumed-role/guarded/with-mfa"), "{so}");
    assert!(!so.contains(&secret) && !se.contains(&secret), "{so}\n{se}");
    let cp = json(&check(
        h,
        &nothing,
        &["--profile", "guarded", "credential-process"],
        None,
        0,
        &[],
        &[],
    ));
    assert_eq!(cp["AccessKeyId"], key_id.as_str());
    // The same code for another session of the role (another session
    // name, so another cache file): a replay, refused.
    check(
        h,
        &with_env,
        &["--profile", "guarded-again", "whoami"],
        None,
        1,
        &[],
        &["AccessDenied"],
    );
    // A cache file readable by others is not used.
    std::fs::set_permissions(
        &cache_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    check(
        h,
        &nothing,
        &["--profile", "guarded", "whoami"],
        None,
        2,
        &[],
        &["mfa_serial"],
    );
    std::fs::set_permissions(
        &cache_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    check(
        h,
        &nothing,
        &["--profile", "guarded", "whoami"],
        None,
        0,
        &[],
        &[],
    );
    // Within 5 minutes of its expiry the cached session is not used: the
    // code is asked for again.
    let soon = Command::new("date")
        .args(["-u", "-d", "+240 seconds", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .unwrap();
    let soon = String::from_utf8_lossy(&soon.stdout).trim().to_owned();
    let exp = entry["Credentials"]["Expiration"].as_str().unwrap();
    std::fs::write(&cache_file, original.replace(exp, &soon)).unwrap();
    check(
        h,
        &nothing,
        &["--profile", "guarded", "whoami"],
        None,
        2,
        &[],
        &["mfa_serial"],
    );
    // --mfa-code reaches the AssumeRole too (each code is accepted once,
    // and the window holds no unused one now: a malformed code shows it
    // was sent, and the answer names the field).
    check(
        h,
        &nothing,
        &["--profile", "guarded", "--mfa-code", "12ab56", "whoami"],
        None,
        1,
        &[],
        &["ValidationError", "tokenCode"],
    );
}
