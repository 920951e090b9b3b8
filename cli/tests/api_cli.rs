//! End-to-end tests of the real `ward` binary against the real `ward-ca`
//! daemon (`ward-ca serve --dev` on a free loopback port, in a temp
//! directory): IAM commands, SigV4 with access keys and session tokens,
//! policy decisions seen from the CLI, profiles and `ward login`, output
//! formats, and bad input with its exit codes (1 server refusal, 2 usage or
//! local input, 3 unreachable).
//!
//! Every `ward` run gets a clean environment (only HOME and the variables
//! a test sets), so the developer's own `~/.ward` and `WARD_*` never leak in.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

#[path = "support/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use harness::{check, free_port, json, ward, Daemon, Scratch};

const SELF_READ: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{
    "Sid": "ReadSelf",
    "Effect": "Allow",
    "Action": "iam:GetUser",
    "Resource": "arn:ward:iam::*:user/${ward:username}"
  }]
}
"#;

/// Root builds alice, ops and a self-read policy; alice may read herself
/// and nothing else, and the CLI shows the server's explanation.
#[test]
fn iam_flow_and_policy_decisions() {
    let d = Daemon::start("iam");
    let home = Scratch::new("iam-home");
    let h = home.0.as_path();
    let root = d.root_env();

    check(
        h,
        &root,
        &["whoami"],
        None,
        0,
        &[":root", "access-key"],
        &[],
    );
    let created = check(
        h,
        &root,
        &[
            "--output", "json", "user", "create", "alice", "--tag", "team=ops",
        ],
        None,
        0,
        &[],
        &[],
    );
    let alice = json(&created);
    assert_eq!(alice["name"], "alice");
    assert!(alice["userId"].as_str().unwrap().starts_with("AIDA"));
    assert_eq!(alice["tags"][0]["key"], "team");
    check(
        h,
        &root,
        &["group", "create", "ops"],
        None,
        0,
        &["ops", "Gid"],
        &[],
    );
    check(
        h,
        &root,
        &["group", "add-user", "ops", "alice"],
        None,
        0,
        &["added user alice to group ops"],
        &[],
    );
    let doc = home.write("self-read.json", SELF_READ);
    let doc = doc.to_str().unwrap();
    let p = check(
        h,
        &root,
        &[
            "policy",
            "create",
            "self-read",
            "--document",
            doc,
            "--description",
            "read yourself",
            "--output",
            "json",
        ],
        None,
        0,
        &[],
        &[],
    );
    let p = json(&p);
    assert_eq!(p["defaultVersionId"], "v1");
    assert_eq!(p["document"]["Statement"][0]["Sid"], "ReadSelf");
    check(
        h,
        &root,
        &["policy", "attach", "self-read", "--group", "ops"],
        None,
        0,
        &["attached"],
        &[],
    );
    check(
        h,
        &root,
        &["policy", "attached", "--group", "ops"],
        None,
        0,
        &["NAME", "self-read"],
        &[],
    );
    let g = json(&check(
        h,
        &root,
        &["group", "get", "ops", "--output", "json"],
        None,
        0,
        &[],
        &[],
    ));
    assert_eq!(g["users"], serde_json::json!(["alice"]));

    // The secret is shown once, with a note.
    let key = check(
        h,
        &root,
        &["--output", "json", "access-key", "create", "alice"],
        None,
        0,
        &["secretAccessKey"],
        &["cannot be retrieved again"],
    );
    let key = json(&key);
    let (id, secret) = (
        key["accessKeyId"].as_str().unwrap(),
        key["secretAccessKey"].as_str().unwrap(),
    );
    assert!(id.starts_with("AKIA"), "{id}");
    let listed = check(
        h,
        &root,
        &["access-key", "list", "alice"],
        None,
        0,
        &["ACCESS-KEY-ID", id, "Active"],
        &[],
    );
    assert!(!listed.contains(secret), "list shows the secret");

    // As alice.
    let as_alice = d.key_env(id, secret);
    let table = check(
        h,
        &as_alice,
        &["user", "get", "alice"],
        None,
        0,
        &["Name", "alice", "team=ops"],
        &[],
    );
    assert!(table.lines().any(|l| l.starts_with("Uid ")), "{table}");
    let j = json(&check(
        h,
        &as_alice,
        &["--output", "json", "user", "get", "alice"],
        None,
        0,
        &[],
        &[],
    ));
    assert_eq!(j["arn"], alice["arn"]);
    check(
        h,
        &as_alice,
        &["user", "get", "bob"],
        None,
        1,
        &[],
        &["ward: AccessDenied: ", "iam:GetUser", "user/bob", "alice"],
    );
    check(
        h,
        &as_alice,
        &["user", "delete", "alice"],
        None,
        1,
        &[],
        &["ward: AccessDenied: ", "iam:DeleteUser"],
    );
    check(
        h,
        &as_alice,
        &["audit", "verify"],
        None,
        1,
        &[],
        &["AccessDenied"],
    );

    // A deactivated key stops working.
    check(
        h,
        &root,
        &["access-key", "update", "alice", id, "--status", "Inactive"],
        None,
        0,
        &["Inactive"],
        &[],
    );
    check(
        h,
        &as_alice,
        &["user", "get", "alice"],
        None,
        1,
        &[],
        &["InvalidClientTokenId"],
    );

    // Unknown entities, table and JSON listings, audit.
    check(
        h,
        &root,
        &["user", "get", "nobody"],
        None,
        1,
        &[],
        &["ward: NoSuchEntity: ", "nobody"],
    );
    check(
        h,
        &root,
        &["user", "create", "alice"],
        None,
        1,
        &[],
        &["EntityAlreadyExists"],
    );
    for n in ["bob", "carol", "dave"] {
        check(
            h,
            &root,
            &["user", "create", n, "--path", "/eng/"],
            None,
            0,
            &[n],
            &[],
        );
    }
    let t = check(
        h,
        &root,
        &["user", "list"],
        None,
        0,
        &["NAME", "UID", "alice", "dave"],
        &[],
    );
    assert_eq!(t.lines().count(), 5, "{t}");
    let page = json(&check(
        h,
        &root,
        &["--output", "json", "user", "list", "--max-items", "2"],
        None,
        0,
        &[],
        &[],
    ));
    assert_eq!(page["users"].as_array().unwrap().len(), 2);
    assert!(page["marker"].is_string(), "{page}");
    let all = json(&check(
        h,
        &root,
        &[
            "--output",
            "json",
            "user",
            "list",
            "--max-items",
            "2",
            "--all",
        ],
        None,
        0,
        &[],
        &[],
    ));
    assert_eq!(all["users"].as_array().unwrap().len(), 4, "{all}");
    assert!(all.get("marker").is_none(), "{all}");
    let eng = json(&check(
        h,
        &root,
        &["--output", "json", "user", "list", "--path-prefix", "/eng/"],
        None,
        0,
        &[],
        &[],
    ));
    assert_eq!(eng["users"].as_array().unwrap().len(), 3, "{eng}");
    let ev = json(&check(
        h,
        &root,
        &[
            "--output", "json", "audit", "list", "--user", "alice", "--limit", "2", "--all",
        ],
        None,
        0,
        &[],
        &[],
    ));
    let events = ev["events"].as_array().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "iam:DeleteUser" && e["decision"] != "Allowed"),
        "{ev}"
    );
    check(
        h,
        &root,
        &["audit", "list", "--limit", "1"],
        None,
        0,
        &["SEQ", "ACTION"],
        &["--after-seq"],
    );
    check(
        h,
        &root,
        &["audit", "verify"],
        None,
        0,
        &["audit log intact"],
        &[],
    );
    let v = json(&check(
        h,
        &root,
        &["audit", "verify", "--output", "json"],
        None,
        0,
        &[],
        &[],
    ));
    assert_eq!(v["ok"], true);
}

/// Policy versions, inline policies, boundaries, tags and deletion, each
/// checked through the server's answers.
#[test]
fn policy_versions_inline_and_user_changes() {
    let d = Daemon::start("pol");
    let home = Scratch::new("pol-home");
    let h = home.0.as_path();
    let root = d.root_env();
    let doc = home.write("p.json", SELF_READ);
    let doc = doc.to_str().unwrap();
    // Duplicate keys are sent as written: ward-ca, not the CLI, decides.
    let raw = home.write(
        "raw.json",
        "{\"Version\":\"2012-10-17\",\"Version\":\"2012-10-17\",\"Statement\":[]}",
    );

    check(h, &root, &["user", "create", "erin"], None, 0, &[], &[]);
    check(
        h,
        &root,
        &["group", "create", "devs", "--path", "/eng/"],
        None,
        0,
        &["/eng/"],
        &[],
    );
    check(
        h,
        &root,
        &["policy", "create", "p", "--document", doc],
        None,
        0,
        &["DefaultVersion", "v1"],
        &[],
    );
    check(
        h,
        &root,
        &[
            "policy",
            "create",
            "bad",
            "--document",
            raw.to_str().unwrap(),
        ],
        None,
        1,
        &[],
        &["MalformedPolicyDocument", "(field: document)"],
    );
    check(
        h,
        &root,
        &[
            "policy",
            "create-version",
            "p",
            "--document",
            doc,
            "--set-default",
        ],
        None,
        0,
        &["v2"],
        &[],
    );
    check(
        h,
        &root,
        &["policy", "versions", "p"],
        None,
        0,
        &["VERSION", "v1", "v2"],
        &[],
    );
    check(
        h,
        &root,
        &["policy", "get", "p"],
        None,
        0,
        &["DefaultVersion", "v2", "ReadSelf"],
        &[],
    );
    check(
        h,
        &root,
        &["policy", "set-default", "p", "v1"],
        None,
        0,
        &["v1 is now the default"],
        &[],
    );
    let v = json(&check(
        h,
        &root,
        &["--output", "json", "policy", "get-version", "p", "v2"],
        None,
        0,
        &[],
        &[],
    ));
    assert_eq!(v["isDefault"], false);
    assert_eq!(v["document"]["Version"], "2012-10-17");
    check(
        h,
        &root,
        &["policy", "delete-version", "p", "v2"],
        None,
        0,
        &[],
        &[],
    );
    check(
        h,
        &root,
        &["policy", "get-version", "p", "v2"],
        None,
        1,
        &[],
        &["NoSuchEntity"],
    );
    check(h, &root, &["policy", "list"], None, 0, &["NAME", "p "], &[]);

    check(
        h,
        &root,
        &["policy", "attach", "p", "--user", "erin"],
        None,
        0,
        &[],
        &[],
    );
    check(
        h,
        &root,
        &["policy", "attached", "--user", "erin"],
        None,
        0,
        &["p "],
        &[],
    );
    check(
        h,
        &root,
        &["policy", "detach", "p", "--user", "erin"],
        None,
        0,
        &["detached"],
        &[],
    );
    check(
        h,
        &root,
        &[
            "policy",
            "put-inline",
            "mine",
            "--user",
            "erin",
            "--document",
            doc,
        ],
        None,
        0,
        &[],
        &[],
    );
    check(
        h,
        &root,
        &[
            "policy",
            "put-inline",
            "theirs",
            "--group",
            "devs",
            "--document",
            doc,
        ],
        None,
        0,
        &[],
        &[],
    );
    check(
        h,
        &root,
        &["policy", "list-inline", "--user", "erin"],
        None,
        0,
        &["mine"],
        &[],
    );
    let ip = json(&check(
        h,
        &root,
        &[
            "--output",
            "json",
            "policy",
            "get-inline",
            "theirs",
            "--group",
            "devs",
        ],
        None,
        0,
        &[],
        &[],
    ));
    assert_eq!(ip["document"]["Statement"][0]["Action"], "iam:GetUser");
    check(
        h,
        &root,
        &["policy", "delete-inline", "mine", "--user", "erin"],
        None,
        0,
        &[],
        &[],
    );
    check(
        h,
        &root,
        &["policy", "get-inline", "mine", "--user", "erin"],
        None,
        1,
        &[],
        &["NoSuchEntity"],
    );

    check(
        h,
        &root,
        &["user", "set-boundary", "erin", "p"],
        None,
        0,
        &[],
        &[],
    );
    check(
        h,
        &root,
        &["user", "get", "erin"],
        None,
        0,
        &["PermissionsBoundary", "policy/p"],
        &[],
    );
    check(
        h,
        &root,
        &["user", "delete-boundary", "erin"],
        None,
        0,
        &[],
        &[],
    );
    check(
        h,
        &root,
        &["user", "tag", "erin", "a=1", "b=2"],
        None,
        0,
        &["a=1, b=2"],
        &[],
    );
    check(
        h,
        &root,
        &["user", "untag", "erin", "a"],
        None,
        0,
        &["b=2"],
        &[],
    );
    check(
        h,
        &root,
        &["group", "add-user", "devs", "erin"],
        None,
        0,
        &[],
        &[],
    );
    check(
        h,
        &root,
        &["user", "groups", "erin"],
        None,
        0,
        &["GID", "devs"],
        &[],
    );
    check(
        h,
        &root,
        &["group", "remove-user", "devs", "erin"],
        None,
        0,
        &[],
        &[],
    );
    check(h, &root, &["group", "list"], None, 0, &["devs"], &[]);
    check(
        h,
        &root,
        &[
            "user",
            "update",
            "erin",
            "--new-name",
            "erin2",
            "--new-path",
            "/x/",
        ],
        None,
        0,
        &["erin2", "/x/"],
        &[],
    );
    check(
        h,
        &root,
        &["user", "set-password", "erin2", "--password-stdin"],
        Some("short\n"),
        1,
        &[],
        &["(field: password)"],
    );
    check(
        h,
        &root,
        &["user", "set-password", "erin2"],
        Some("x\n"),
        2,
        &[],
        &["--password-stdin"],
    );
    check(
        h,
        &root,
        &["policy", "detach", "p", "--group", "devs"],
        None,
        1,
        &[],
        &[],
    );
    check(
        h,
        &root,
        &["group", "delete", "devs"],
        None,
        1,
        &[],
        &["DeleteConflict"],
    );
    check(
        h,
        &root,
        &["policy", "delete-inline", "theirs", "--group", "devs"],
        None,
        0,
        &[],
        &[],
    );
    check(
        h,
        &root,
        &["group", "delete", "devs"],
        None,
        0,
        &["deleted group devs"],
        &[],
    );
    check(h, &root, &["user", "delete", "erin2"], None, 0, &[], &[]);
    check(h, &root, &["policy", "delete", "p"], None, 0, &[], &[]);
    check(
        h,
        &root,
        &["policy", "get", "p"],
        None,
        1,
        &[],
        &["NoSuchEntity"],
    );
}

/// Named profiles from ~/.ward/config and ~/.ward/credentials, and
/// `ward login` storing temporary credentials that then work.
#[test]
fn profiles_and_login() {
    let d = Daemon::start("prof");
    let home = Scratch::new("prof-home");
    let h = home.0.as_path();
    let none: Vec<(String, String)> = Vec::new();
    home.write(
        ".ward/config",
        &format!(
            "# ward CLI configuration\n[default]\noutput = json\n\n\
             [profile admin]\nendpoint = {e}\nca_bundle = {b}\nregion = local\n\n\
             [profile frank]\nendpoint = {e}\nca_bundle = {b}\noutput = table\n",
            e = d.endpoint(),
            b = d.bundle()
        ),
    );
    let creds_path = home.write(
        ".ward/credentials",
        &format!(
            "[admin]\nward_access_key_id = {}\nward_secret_access_key = {}\n",
            d.root["WARD_ACCESS_KEY_ID"], d.root["WARD_SECRET_ACCESS_KEY"]
        ),
    );

    // The profile alone, no environment.
    check(
        h,
        &none,
        &["--profile", "admin", "whoami"],
        None,
        0,
        &["Arn", ":root"],
        &[],
    );
    // WARD_PROFILE selects it too; flags override the profile's output.
    let env_profile = vec![("WARD_PROFILE".to_owned(), "admin".to_owned())];
    check(
        h,
        &env_profile,
        &["whoami", "--output", "json"],
        None,
        0,
        &["\"authMethod\""],
        &[],
    );
    // An explicit profile beats credentials in the environment (as in the AWS CLI).
    let bogus = vec![
        (
            "WARD_ACCESS_KEY_ID".to_owned(),
            "AKIABOGUSBOGUSBOGUS0".to_owned(),
        ),
        ("WARD_SECRET_ACCESS_KEY".to_owned(), "bogus".to_owned()),
    ];
    check(
        h,
        &bogus,
        &["--profile", "admin", "whoami"],
        None,
        0,
        &[":root"],
        &[],
    );
    check(
        h,
        &none,
        &["--profile", "nosuch", "whoami"],
        None,
        2,
        &[],
        &["profile nosuch"],
    );

    // frank gets a password and may call whoami (ward-ca requires an
    // Allow for sts:GetCallerIdentity).
    let admin = ["--profile", "admin"];
    let run = |args: &[&str], stdin: Option<&str>, code: i32, out: &[&str], err: &[&str]| {
        let mut all: Vec<&str> = admin.to_vec();
        all.extend_from_slice(args);
        check(h, &none, &all, stdin, code, out, err)
    };
    run(&["user", "create", "frank"], None, 0, &[], &[]);
    let whoami = home.write(
        "whoami.json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:GetCallerIdentity","Resource":"*"}]}"#,
    );
    run(
        &[
            "policy",
            "put-inline",
            "whoami",
            "--user",
            "frank",
            "--document",
            whoami.to_str().unwrap(),
        ],
        None,
        0,
        &[],
        &[],
    );
    run(
        &["user", "set-password", "frank", "--password-stdin"],
        Some("a long enough passphrase 42\n"),
        0,
        &["set the password of user frank"],
        &[],
    );

    // Wrong password: the server's refusal, nothing stored.
    check(
        h,
        &none,
        &["--profile", "frank", "login", "--user", "frank"],
        Some("wrong password!!\n"),
        1,
        &[],
        &["InvalidLogin"],
    );
    let login = ward(
        h,
        &none,
        &["--profile", "frank", "login", "--user", "frank"],
        Some("a long enough passphrase 42\n"),
    );
    let (login_out, login_err) = (
        String::from_utf8_lossy(&login.stdout).into_owned(),
        String::from_utf8_lossy(&login.stderr).into_owned(),
    );
    assert_eq!(login.status.code(), Some(0), "{login_out}{login_err}");
    assert!(login_out.contains("logged in as frank"), "{login_out}");
    assert!(login_out.contains("expire at"), "{login_out}");
    let creds = std::fs::read_to_string(&creds_path).unwrap();
    // The secret and the session token went to the 0600 file only: neither
    // value appears on stdout or stderr (the values themselves, not a label).
    let frank_ini = creds.split("[frank]").nth(1).unwrap();
    for k in ["aws_secret_access_key", "aws_session_token"] {
        let v = frank_ini
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k} = ")))
            .unwrap_or_else(|| panic!("{k} missing: {creds}"));
        assert!(v.len() >= 20, "{k} looks empty: {v:?}");
        assert!(!login_out.contains(v), "{k} printed on stdout");
        assert!(!login_err.contains(v), "{k} printed on stderr");
    }
    assert!(
        creds.contains("[admin]\nward_access_key_id = "),
        "other profiles kept: {creds}"
    );
    assert!(
        creds.contains("[frank]\naws_access_key_id = ASIA"),
        "{creds}"
    );
    assert!(creds.contains("aws_session_token = "), "{creds}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&creds_path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    let me = check(
        h,
        &none,
        &["--profile", "frank", "whoami"],
        None,
        0,
        &["user/frank", "session"],
        &[],
    );
    assert!(me.contains("AuthMethod"), "{me}");
    // The default profile's `output = json` applies to a profile-less call
    // that takes its credentials from the environment.
    let env_frank = vec![
        ("WARD_ENDPOINT".to_owned(), d.endpoint().to_owned()),
        ("WARD_CA_BUNDLE".to_owned(), d.bundle().to_owned()),
    ];
    let creds_ini = std::fs::read_to_string(&creds_path).unwrap();
    let frank_section = creds_ini.split("[frank]").nth(1).unwrap();
    let value = |k: &str| {
        frank_section
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k} = ")))
            .unwrap()
            .to_owned()
    };
    let mut env_session = env_frank.clone();
    env_session.push(("WARD_ACCESS_KEY_ID".into(), value("aws_access_key_id")));
    env_session.push((
        "WARD_SECRET_ACCESS_KEY".into(),
        value("aws_secret_access_key"),
    ));
    env_session.push(("WARD_SESSION_TOKEN".into(), value("aws_session_token")));
    let j = json(&check(h, &env_session, &["whoami"], None, 0, &[], &[]));
    assert_eq!(j["authMethod"], "session");
    // Without the token the temporary key is refused.
    env_session.pop();
    check(
        h,
        &env_session,
        &["whoami"],
        None,
        1,
        &[],
        &["InvalidClientTokenId"],
    );
    // Logging in again replaces the profile's keys.
    check(
        h,
        &none,
        &["--profile", "frank", "login", "--user", "frank"],
        Some("a long enough passphrase 42\n"),
        0,
        &[],
        &[],
    );
    let again = std::fs::read_to_string(&creds_path).unwrap();
    assert_eq!(again.matches("[frank]").count(), 1, "{again}");
    assert_eq!(again.matches("aws_access_key_id").count(), 1, "{again}");
    assert_ne!(again, creds_ini);
}

/// Bad input: exit 2 for local problems (with file:line for files), 3 for
/// an unreachable or untrusted server, 1 for the server's refusals.
#[test]
fn bad_input_and_failures() {
    let d = Daemon::start("bad");
    let home = Scratch::new("bad-home");
    let h = home.0.as_path();
    let root = d.root_env();
    let none: Vec<(String, String)> = Vec::new();

    // A malformed credentials file: file and line, never the content.
    home.write(
        ".ward/config",
        &format!(
            "[default]\nendpoint = {}\nca_bundle = {}\n",
            d.endpoint(),
            d.bundle()
        ),
    );
    home.write(
        ".ward/credentials",
        "[default]\naws_access_key_id = AKIAX\nthis line is SECRETSTUFF\n",
    );
    let out = ward(h, &none, &["whoami"], None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(".ward/credentials:3: malformed line"), "{err}");
    assert!(!err.contains("SECRETSTUFF"), "{err}");
    home.write(
        ".ward/credentials",
        "[default]\naws_access_key_id = AKIAX\n",
    );
    check(
        h,
        &none,
        &["whoami"],
        None,
        2,
        &[],
        &["credentials:2: aws_access_key_id without aws_secret_access_key"],
    );
    home.write(".ward/config", "[default]\noutput = yaml\n");
    check(
        h,
        &root,
        &["whoami"],
        None,
        2,
        &[],
        &["config:2: output must be table or json"],
    );
    std::fs::remove_file(home.path(".ward/config")).unwrap();
    std::fs::remove_file(home.path(".ward/credentials")).unwrap();

    // No credentials, no endpoint, half credentials, bad flags.
    check(
        h,
        &none,
        &["--endpoint", d.endpoint(), "whoami"],
        None,
        2,
        &[],
        &["no credentials"],
    );
    let no_endpoint: Vec<(String, String)> = root
        .iter()
        .filter(|(k, _)| k != "WARD_ENDPOINT")
        .cloned()
        .collect();
    check(h, &no_endpoint, &["whoami"], None, 2, &[], &["no endpoint"]);
    let half: Vec<(String, String)> = root
        .iter()
        .filter(|(k, _)| k != "WARD_SECRET_ACCESS_KEY")
        .cloned()
        .collect();
    check(
        h,
        &half,
        &["whoami"],
        None,
        2,
        &[],
        &["WARD_SECRET_ACCESS_KEY"],
    );
    check(h, &root, &["--output", "yaml", "whoami"], None, 2, &[], &[]);
    check(
        h,
        &root,
        &["policy", "attach", "p"],
        None,
        2,
        &[],
        &["--user"],
    );
    check(
        h,
        &root,
        &["--endpoint", "http://127.0.0.1:1", "whoami"],
        None,
        2,
        &[],
        &["https://"],
    );
    check(
        h,
        &root,
        &[
            "policy",
            "create",
            "p",
            "--document",
            "/nonexistent/doc.json",
        ],
        None,
        2,
        &[],
        &["/nonexistent/doc.json"],
    );
    check(
        h,
        &root,
        &["user", "create", "x", "--tag", "novalue"],
        None,
        2,
        &[],
        &["KEY=VALUE"],
    );

    // Unreachable endpoint: exit 3.
    let port = free_port();
    let closed = format!("https://127.0.0.1:{port}");
    check(
        h,
        &root,
        &["--endpoint", &closed, "whoami"],
        None,
        3,
        &[],
        &["cannot reach", &closed],
    );
    // Wrong CA bundle (the server's own leaf, which signs nothing): exit 3.
    let leaf = Path::new(d.bundle()).with_file_name("server.pem");
    check(
        h,
        &root,
        &["--ca-bundle", leaf.to_str().unwrap(), "whoami"],
        None,
        3,
        &[],
        &["cannot reach", "certificate not trusted", "WARD_CA_BUNDLE"],
    );
    // No bundle at all: the web PKI roots do not know ward's dev CA.
    let no_bundle: Vec<(String, String)> = root
        .iter()
        .filter(|(k, _)| k != "WARD_CA_BUNDLE")
        .cloned()
        .collect();
    check(
        h,
        &no_bundle,
        &["whoami"],
        None,
        3,
        &[],
        &["certificate not trusted"],
    );
    // An unreadable or empty bundle is a local problem: exit 2.
    check(
        h,
        &root,
        &["--ca-bundle", "/nonexistent.pem", "whoami"],
        None,
        2,
        &[],
        &["CA bundle"],
    );
    let empty = home.write("empty.pem", "not a certificate\n");
    check(
        h,
        &root,
        &["--ca-bundle", empty.to_str().unwrap(), "whoami"],
        None,
        2,
        &[],
        &["no PEM certificates"],
    );

    // Server refusals: exit 1 with CODE: message.
    check(
        h,
        &root,
        &["user", "get", "ghost"],
        None,
        1,
        &[],
        &["ward: NoSuchEntity: user ghost does not exist"],
    );
    check(
        h,
        &root,
        &["user", "create", "bad name"],
        None,
        1,
        &[],
        &["ValidationError", "(field: name)"],
    );
    check(
        h,
        &root,
        &["user", "list", "--max-items", "5000"],
        None,
        1,
        &[],
        &["(field: maxItems)"],
    );
    let wrong_secret: Vec<(String, String)> = root
        .iter()
        .map(|(k, v)| {
            if k == "WARD_SECRET_ACCESS_KEY" {
                (k.clone(), "x".repeat(40))
            } else {
                (k.clone(), v.clone())
            }
        })
        .collect();
    check(
        h,
        &wrong_secret,
        &["whoami"],
        None,
        1,
        &[],
        &["SignatureDoesNotMatch"],
    );
    let wrong_region: Vec<(String, String)> = root
        .iter()
        .cloned()
        .chain([("WARD_REGION".to_owned(), "elsewhere".to_owned())])
        .collect();
    check(h, &wrong_region, &["whoami"], None, 1, &[], &["ward: "]);
    check(
        h,
        &root,
        &["--endpoint", d.endpoint(), "login", "--user", "ghost"],
        Some("whatever password\n"),
        1,
        &[],
        &["InvalidLogin"],
    );
    // Completions need nothing.
    check(h, &none, &["completions", "bash"], None, 0, &["_ward"], &[]);
}

/// Runs a real OpenSSH tool (`ssh-keygen`), failing clearly without it.
fn ssh_keygen(args: &[&str]) -> String {
    let out = Command::new("ssh-keygen")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running ssh-keygen (install openssh-client): {e}"));
    assert!(
        out.status.success(),
        "ssh-keygen {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A fresh Ed25519 key pair from the real ssh-keygen: (private key path,
/// public key path, `SHA256:…` fingerprint as ssh-keygen computes it).
fn ed25519_key(home: &Scratch, name: &str) -> (PathBuf, PathBuf, String) {
    let private = home.path(name);
    let p = private.to_str().unwrap();
    ssh_keygen(&["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", p]);
    let public = home.path(&format!("{name}.pub"));
    // "256 SHA256:… comment (ED25519)"
    let listed = ssh_keygen(&["-l", "-E", "sha256", "-f", public.to_str().unwrap()]);
    let fp = listed.split_whitespace().nth(1).unwrap().to_owned();
    assert!(fp.starts_with("SHA256:"), "{listed}");
    (private, public, fp)
}

/// `ward ssh-key …`: keys made by the real ssh-keygen, fingerprints that
/// match its own, the server's refusals (private key, duplicate, bad id)
/// and local ones (missing or empty file).
#[test]
fn ssh_keys() {
    let d = Daemon::start("ssh");
    let home = Scratch::new("ssh-home");
    let h = home.0.as_path();
    let root = d.root_env();
    check(h, &root, &["user", "create", "gina"], None, 0, &[], &[]);
    let (private, public, fp) = ed25519_key(&home, "id_gina");
    let (_, public2, fp2) = ed25519_key(&home, "id_gina2");
    let pub_text = std::fs::read_to_string(&public).unwrap();

    let up = json(&check(
        h,
        &root,
        &[
            "--output",
            "json",
            "ssh-key",
            "upload",
            "gina",
            public.to_str().unwrap(),
        ],
        None,
        0,
        &[],
        &[],
    ));
    assert_eq!(up["fingerprint"], fp.as_str(), "{up}");
    assert_eq!(up["userName"], "gina");
    assert_eq!(up["status"], "Active");
    let id = up["sshPublicKeyId"].as_str().unwrap().to_owned();
    assert!(id.starts_with("APKA"), "{id}");
    // The key text comes back as uploaded (type and base64 at least).
    let sent: Vec<&str> = pub_text.split_whitespace().take(2).collect();
    let got: Vec<&str> = up["publicKey"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .take(2)
        .collect();
    assert_eq!(got, sent);

    // From standard input, table output.
    let second = check(
        h,
        &root,
        &["ssh-key", "upload", "gina", "-"],
        Some(&std::fs::read_to_string(&public2).unwrap()),
        0,
        &[
            "SshPublicKeyId",
            "Fingerprint",
            &fp2,
            "Active",
            "ssh-ed25519 ",
        ],
        &[],
    );
    let id2 = second
        .lines()
        .find_map(|l| l.strip_prefix("SshPublicKeyId"))
        .unwrap()
        .trim()
        .to_owned();

    // A private key is refused locally (exit 2): it never leaves the machine.
    check(
        h,
        &root,
        &["ssh-key", "upload", "gina", private.to_str().unwrap()],
        None,
        2,
        &[],
        &["this is a private key", ".pub"],
    );
    // Refusals by the server: exit 1 with its explanation.
    check(
        h,
        &root,
        &["ssh-key", "upload", "gina", public.to_str().unwrap()],
        None,
        1,
        &[],
        &["DuplicateSSHPublicKey", &fp],
    );
    check(
        h,
        &root,
        &["ssh-key", "upload", "nobody", public.to_str().unwrap()],
        None,
        1,
        &[],
        &["NoSuchEntity"],
    );
    // Local problems: exit 2, nothing sent.
    check(
        h,
        &root,
        &["ssh-key", "upload", "gina", "/nonexistent/id.pub"],
        None,
        2,
        &[],
        &["/nonexistent/id.pub"],
    );
    let empty = home.write("empty.pub", "\n");
    check(
        h,
        &root,
        &["ssh-key", "upload", "gina", empty.to_str().unwrap()],
        None,
        2,
        &[],
        &["empty"],
    );

    let listed = check(
        h,
        &root,
        &["ssh-key", "list", "gina"],
        None,
        0,
        &["SSH-PUBLIC-KEY-ID", "FINGERPRINT", &id, &id2, &fp, &fp2],
        &[],
    );
    assert_eq!(listed.lines().count(), 3, "{listed}");
    assert!(
        !listed.contains("ssh-ed25519"),
        "list shows key text: {listed}"
    );
    let got = json(&check(
        h,
        &root,
        &["--output", "json", "ssh-key", "get", "gina", &id],
        None,
        0,
        &[],
        &[],
    ));
    assert_eq!(got["fingerprint"], fp.as_str());
    assert!(got["publicKey"]
        .as_str()
        .unwrap()
        .starts_with("ssh-ed25519 "));

    check(
        h,
        &root,
        &["ssh-key", "update", "gina", &id, "--status", "Inactive"],
        None,
        0,
        &["SSH public key", &id, "now Inactive"],
        &[],
    );
    check(
        h,
        &root,
        &["ssh-key", "get", "gina", &id],
        None,
        0,
        &["Status", "Inactive"],
        &[],
    );
    check(
        h,
        &root,
        &["ssh-key", "update", "gina", &id, "--status", "active"],
        None,
        0,
        &["now Active"],
        &[],
    );
    check(
        h,
        &root,
        &["ssh-key", "update", "gina", &id, "--status", "Off"],
        None,
        2,
        &[],
        &["--status"],
    );
    check(
        h,
        &root,
        &["ssh-key", "get", "gina", "not-an-id"],
        None,
        1,
        &[],
        &["ValidationError", "(field: sshPublicKeyId)"],
    );
    check(
        h,
        &root,
        &["ssh-key", "delete", "gina", &id],
        None,
        0,
        &["deleted SSH public key", &id],
        &[],
    );
    check(
        h,
        &root,
        &["ssh-key", "get", "gina", &id],
        None,
        1,
        &[],
        &["NoSuchEntity"],
    );
    check(
        h,
        &root,
        &["ssh-key", "delete", "gina", &id],
        None,
        1,
        &[],
        &["NoSuchEntity"],
    );
    let left = json(&check(
        h,
        &root,
        &["--output", "json", "ssh-key", "list", "gina"],
        None,
        0,
        &[],
        &[],
    ));
    let keys = left["sshPublicKeys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{left}");
    assert_eq!(keys[0]["sshPublicKeyId"], id2.as_str());
}

/// The decision of `action` on `resource` in a simulation's JSON.
#[track_caller]
fn decision<'a>(v: &'a serde_json::Value, action: &str, resource: &str) -> &'a str {
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["actionName"] == action && r["resourceArn"] == resource)
        .unwrap_or_else(|| panic!("no result for {action} on {resource}: {v}"))["decision"]
        .as_str()
        .unwrap()
}

/// `ward policy simulate-principal` and `simulate-custom`: ward-ca's
/// simulator through the CLI, with context flags, boundaries, resource
/// policies, and usage errors that never reach the server.
#[test]
fn server_side_simulation() {
    let d = Daemon::start("sim");
    let home = Scratch::new("sim-home");
    let h = home.0.as_path();
    let root = d.root_env();
    let hank = json(&check(
        h,
        &root,
        &["--output", "json", "user", "create", "hank"],
        None,
        0,
        &[],
        &[],
    ));
    let arn = hank["arn"].as_str().unwrap().to_owned();
    let doc = home.write("self-read.json", SELF_READ);
    let doc = doc.to_str().unwrap();
    check(h, &root, &["group", "create", "readers"], None, 0, &[], &[]);
    check(
        h,
        &root,
        &["group", "add-user", "readers", "hank"],
        None,
        0,
        &[],
        &[],
    );
    check(
        h,
        &root,
        &["policy", "create", "self-read", "--document", doc],
        None,
        0,
        &[],
        &[],
    );
    check(
        h,
        &root,
        &["policy", "attach", "self-read", "--group", "readers"],
        None,
        0,
        &[],
        &[],
    );

    // The group's policy allows hank to read himself, nothing else.
    let t = check(
        h,
        &root,
        &[
            "policy",
            "simulate-principal",
            "hank",
            "--action",
            "iam:GetUser",
            "--action",
            "iam:DeleteUser",
            "--resource",
            &arn,
        ],
        None,
        0,
        &["ACTION", "RESOURCE", "DECISION", "MESSAGE"],
        &[],
    );
    let rows: Vec<&str> = t.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{t}");
    assert!(rows[0].starts_with("iam:GetUser "), "{t}");
    assert!(rows[0].contains(&format!(" {arn} ")), "{t}");
    assert!(rows[0].contains(" Allowed "), "{t}");
    assert!(rows[1].starts_with("iam:DeleteUser "), "{t}");
    assert!(rows[1].contains(" ImplicitlyDenied "), "{t}");
    // JSON: the server's answer, action-major, default resource *.
    let j = json(&check(
        h,
        &root,
        &[
            "--output",
            "json",
            "policy",
            "simulate-principal",
            &arn,
            "--action",
            "iam:GetUser",
            "--resource",
            &arn,
            "--resource",
            "arn:ward:iam::*:user/other",
        ],
        None,
        0,
        &[],
        &[],
    ));
    assert_eq!(j["results"].as_array().unwrap().len(), 2, "{j}");
    assert_eq!(decision(&j, "iam:GetUser", &arn), "Allowed");
    assert_eq!(
        decision(&j, "iam:GetUser", "arn:ward:iam::*:user/other"),
        "ImplicitlyDenied"
    );
    assert!(j["results"][0]["matchedStatements"][0]
        .as_str()
        .unwrap()
        .contains("ReadSelf"));
    check(
        h,
        &root,
        &[
            "policy",
            "simulate-principal",
            "nobody",
            "--action",
            "iam:GetUser",
        ],
        None,
        1,
        &[],
        &["NoSuchEntity"],
    );
    check(
        h,
        &root,
        &["policy", "simulate-principal", "hank", "--action", "iam:*"],
        None,
        1,
        &[],
        &["ValidationError", "(field: actionNames[0])"],
    );

    // Custom: conditions on single- and multi-valued context keys.
    let cond = home.write(
        "cond.json",
        r#"{"Version":"2012-10-17","Statement":[
  {"Sid":"FromTheLan","Effect":"Allow","Action":"s3:GetObject","Resource":"*",
   "Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}},
  {"Sid":"TeamTag","Effect":"Allow","Action":"iam:TagUser","Resource":"*",
   "Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":["team","env"]}}}
]}"#,
    );
    let cond = cond.to_str().unwrap();
    let custom = |extra: &[&str]| {
        let mut args = vec![
            "--output",
            "json",
            "policy",
            "simulate-custom",
            "--policy",
            cond,
        ];
        args.extend_from_slice(extra);
        json(&check(h, &root, &args, None, 0, &[], &[]))
    };
    let lan = custom(&[
        "--action",
        "s3:GetObject",
        "--context",
        "aws:SourceIp=10.1.2.3",
    ]);
    assert_eq!(decision(&lan, "s3:GetObject", "*"), "Allowed", "{lan}");
    let wan = custom(&[
        "--action",
        "s3:GetObject",
        "--context",
        "aws:SourceIp=192.0.2.1",
    ]);
    assert_eq!(decision(&wan, "s3:GetObject", "*"), "ImplicitlyDenied");
    let tags = custom(&[
        "--action",
        "iam:TagUser",
        "--context-list",
        "aws:TagKeys=team,env",
    ]);
    assert_eq!(decision(&tags, "iam:TagUser", "*"), "Allowed", "{tags}");
    let other = custom(&[
        "--action",
        "iam:TagUser",
        "--context-list",
        "aws:TagKeys=team,owner",
    ]);
    assert_eq!(decision(&other, "iam:TagUser", "*"), "ImplicitlyDenied");
    // A boundary that does not allow s3 takes it away; a resource policy's
    // Deny wins over everything.
    let boundary = home.write(
        "boundary.json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:*","Resource":"*"}]}"#,
    );
    let bounded = custom(&[
        "--boundary",
        boundary.to_str().unwrap(),
        "--action",
        "s3:GetObject",
        "--context",
        "aws:SourceIp=10.1.2.3",
    ]);
    assert_eq!(decision(&bounded, "s3:GetObject", "*"), "ImplicitlyDenied");
    let deny = home.write(
        "deny.json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"*"}]}"#,
    );
    let denied = custom(&[
        "--resource-policy",
        deny.to_str().unwrap(),
        "--caller-arn",
        &arn,
        "--action",
        "s3:GetObject",
        "--context",
        "aws:SourceIp=10.1.2.3",
    ]);
    assert_eq!(decision(&denied, "s3:GetObject", "*"), "ExplicitlyDenied");
    // Table output; a policy from standard input.
    check(
        h,
        &root,
        &[
            "policy",
            "simulate-custom",
            "--policy",
            "-",
            "--action",
            "iam:GetUser",
            "--resource",
            &arn,
            "--caller-arn",
            &arn,
        ],
        Some(SELF_READ),
        0,
        &["ACTION", "iam:GetUser", "Allowed"],
        &[],
    );
    // The server judges the documents.
    let broken = home.write(
        "broken.json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Maybe"}]}"#,
    );
    check(
        h,
        &root,
        &[
            "policy",
            "simulate-custom",
            "--policy",
            cond,
            "--policy",
            broken.to_str().unwrap(),
            "--action",
            "s3:GetObject",
        ],
        None,
        1,
        &[],
        &["MalformedPolicyDocument", "(field: policyInputList[1])"],
    );

    // Usage errors: exit 2, before any request.
    for (args, err) in [
        (
            &[
                "policy",
                "simulate-principal",
                "hank",
                "--action",
                "iam:GetUser",
                "--context",
                "nokey",
            ][..],
            "KEY=VALUE",
        ),
        (
            &[
                "policy",
                "simulate-principal",
                "hank",
                "--action",
                "a:b",
                "--context-list",
                "=x,y",
            ],
            "KEY=VALUE1,VALUE2",
        ),
        (&["policy", "simulate-principal", "hank"], "--action"),
        (
            &[
                "policy",
                "simulate-principal",
                "hank",
                "--action",
                "a:b",
                "--context",
                "aws:SourceIp=1",
                "--context-list",
                "ward:sourceip=2",
            ],
            "more than once",
        ),
        (
            &["policy", "simulate-custom", "--action", "a:b"],
            "--policy",
        ),
        (
            &[
                "policy",
                "simulate-custom",
                "--policy",
                "/nonexistent/p.json",
                "--action",
                "a:b",
            ],
            "/nonexistent/p.json",
        ),
        (
            &[
                "policy",
                "simulate-custom",
                "--policy",
                "-",
                "--boundary",
                "-",
                "--action",
                "a:b",
            ],
            "standard input",
        ),
    ] {
        check(h, &root, args, Some(""), 2, &[], &[err]);
    }
    // The offline simulator is still there and still needs no server.
    let none: Vec<(String, String)> = Vec::new();
    check(
        h,
        &none,
        &["policy", "simulate", "--input", "/nonexistent.json"],
        None,
        2,
        &[],
        &["/nonexistent.json"],
    );
}

/// `ward change-password` after `ward login`: two lines on standard input,
/// signed with the session; then only the new password logs in.
#[test]
fn change_password_after_login() {
    let d = Daemon::start("pw");
    let home = Scratch::new("pw-home");
    let h = home.0.as_path();
    let root = d.root_env();
    let (old, new) = ("Granite-Heron-51", "Basalt-Osprey-62");
    check(h, &root, &["user", "create", "ivy"], None, 0, &[], &[]);
    check(
        h,
        &root,
        &["user", "set-password", "ivy", "--password-stdin"],
        Some(&format!("{old}\n")),
        0,
        &[],
        &[],
    );
    let own = home.write(
        "own.json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:ChangePassword","sts:GetCallerIdentity"],"Resource":"*"}]}"#,
    );
    check(
        h,
        &root,
        &[
            "policy",
            "put-inline",
            "own",
            "--user",
            "ivy",
            "--document",
            own.to_str().unwrap(),
        ],
        None,
        0,
        &[],
        &[],
    );

    // ivy's environment names the server only; credentials come from the
    // default profile that `ward login` writes.
    let ivy = vec![
        ("WARD_ENDPOINT".to_owned(), d.endpoint().to_owned()),
        ("WARD_CA_BUNDLE".to_owned(), d.bundle().to_owned()),
    ];
    let login = |pw: &str, code: i32, err: &[&str]| {
        check(
            h,
            &ivy,
            &["login", "--user", "ivy"],
            Some(&format!("{pw}\n")),
            code,
            &[],
            err,
        )
    };
    check(
        h,
        &ivy,
        &["change-password"],
        Some(&format!("{old}\n{new}\n")),
        2,
        &[],
        &["no credentials"],
    );
    login(old, 0, &[]);
    check(h, &ivy, &["whoami"], None, 0, &["user/ivy", "session"], &[]);

    // Refusals: local (exit 2) and the server's (exit 1).
    check(
        h,
        &ivy,
        &["change-password"],
        Some(&format!("{old}\n")),
        2,
        &[],
        &["two lines"],
    );
    check(
        h,
        &ivy,
        &["change-password"],
        Some("a\nb\nc\n"),
        2,
        &[],
        &["more than two lines"],
    );
    let refused = check(
        h,
        &ivy,
        &["change-password"],
        Some(&format!("not-the-password\n{new}\n")),
        1,
        &[],
        &["InvalidPassword", "(field: oldPassword)"],
    );
    assert!(refused.is_empty(), "{refused}");
    check(
        h,
        &ivy,
        &["change-password", "--old-password-stdin"],
        Some(&format!("{old}\nshort\n")),
        1,
        &[],
        &["PasswordPolicyViolation", "(field: newPassword)"],
    );
    // Root has no password.
    check(
        h,
        &root,
        &["change-password"],
        Some("a\nb\n"),
        1,
        &[],
        &["ValidationError"],
    );

    check(
        h,
        &ivy,
        &["change-password"],
        Some(&format!("{old}\r\n{new}\r\n")),
        0,
        &["changed your password"],
        &[],
    );
    login(old, 1, &["InvalidLogin"]);
    login(new, 0, &[]);
    check(h, &ivy, &["whoami"], None, 0, &["user/ivy"], &[]);
    // JSON mode prints nothing for a 204.
    let out = check(
        h,
        &ivy,
        &["--output", "json", "change-password", "--passwords-stdin"],
        Some(&format!("{new}\n{old}\n")),
        0,
        &[],
        &[],
    );
    assert!(out.is_empty(), "{out}");
    login(old, 0, &[]);
}

/// `ward login` stores the endpoint, CA bundle and region in the profile,
/// so a new shell with none of the WARD_* variables works (issue #8 item 7),
/// and other profiles and comments in ~/.ward/config are kept.
#[test]
fn login_remembers_the_endpoint() {
    let d = Daemon::start("remember");
    let home = Scratch::new("remember-home");
    let h = home.0.as_path();
    let root = d.root_env();
    let cfg = home.write(
        ".ward/config",
        "# mine\n[profile other]\nendpoint = https://other.example:8443\n",
    );
    check(h, &root, &["user", "create", "gina"], None, 0, &[], &[]);
    let whoami = home.write(
        "whoami.json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:GetCallerIdentity","Resource":"*"}]}"#,
    );
    check(
        h,
        &root,
        &[
            "policy",
            "put-inline",
            "whoami",
            "--user",
            "gina",
            "--document",
            whoami.to_str().unwrap(),
        ],
        None,
        0,
        &[],
        &[],
    );
    check(
        h,
        &root,
        &["user", "set-password", "gina", "--password-stdin"],
        Some("a long enough passphrase 42\n"),
        0,
        &[],
        &[],
    );
    // Log in with only the endpoint and bundle in the environment.
    let server_env = vec![
        ("WARD_ENDPOINT".to_owned(), d.endpoint().to_owned()),
        ("WARD_CA_BUNDLE".to_owned(), d.bundle().to_owned()),
    ];
    check(
        h,
        &server_env,
        &["--profile", "gina", "login", "--user", "gina"],
        Some("a long enough passphrase 42\n"),
        0,
        &["logged in as gina"],
        &[],
    );
    // A new shell: no environment at all.
    let none: Vec<(String, String)> = Vec::new();
    check(
        h,
        &none,
        &["--profile", "gina", "whoami"],
        None,
        0,
        &["user/gina"],
        &[],
    );
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(
        text.starts_with("# mine\n[profile other]\nendpoint = https://other.example:8443\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!("[profile gina]\nendpoint = {}\n", d.endpoint())),
        "{text}"
    );
    assert!(text.contains("ca_bundle = /"), "{text}");
    // Logging in again rewrites the same keys, not a second copy.
    check(
        h,
        &server_env,
        &["--profile", "gina", "login", "--user", "gina"],
        Some("a long enough passphrase 42\n"),
        0,
        &[],
        &[],
    );
    let again = std::fs::read_to_string(&cfg).unwrap();
    assert_eq!(again.matches("[profile gina]").count(), 1, "{again}");
    assert_eq!(again.matches("ca_bundle =").count(), 1, "{again}");
}

/// `ward session list` and `ward session revoke ID | --all`: two logins
/// of one user (from two homes) are listed without secrets; revoking one
/// ends only that one; `--all` (the user's own, without --user) ends the
/// rest; everything revoked is refused by ward-ca.
#[test]
fn session_list_and_revoke() {
    let d = Daemon::start("sess");
    let (ha, hb) = (Scratch::new("sess-a"), Scratch::new("sess-b"));
    let (a, b) = (ha.0.as_path(), hb.0.as_path());
    let root = d.root_env();
    let pw = "Granite-Heron-51";
    check(a, &root, &["user", "create", "sam"], None, 0, &[], &[]);
    check(
        a,
        &root,
        &["user", "set-password", "sam", "--password-stdin"],
        Some(&format!("{pw}\n")),
        0,
        &[],
        &[],
    );
    let own = ha.write(
        "own.json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:GetCallerIdentity","iam:ListSessions","iam:RevokeSession"],"Resource":"*"}]}"#,
    );
    check(
        a,
        &root,
        &[
            "policy",
            "put-inline",
            "own",
            "--user",
            "sam",
            "--document",
            own.to_str().unwrap(),
        ],
        None,
        0,
        &[],
        &[],
    );
    let sam = vec![
        ("WARD_ENDPOINT".to_owned(), d.endpoint().to_owned()),
        ("WARD_CA_BUNDLE".to_owned(), d.bundle().to_owned()),
    ];
    for h in [a, b] {
        check(
            h,
            &sam,
            &["login", "--user", "sam"],
            Some(&format!("{pw}\n")),
            0,
            &[],
            &[],
        );
        check(h, &sam, &["whoami"], None, 0, &["user/sam"], &[]);
    }
    let secrets = |h: &Path| -> (String, String, String) {
        let ini = std::fs::read_to_string(h.join(".ward/credentials")).unwrap();
        let v = |k: &str| {
            ini.lines()
                .find_map(|l| l.strip_prefix(&format!("{k} = ")))
                .unwrap()
                .to_owned()
        };
        (
            v("aws_access_key_id"),
            v("aws_secret_access_key"),
            v("aws_session_token"),
        )
    };
    let (id_a, secret_a, token_a) = secrets(a);
    let (id_b, secret_b, token_b) = secrets(b);

    // Listed (the caller's own user by default), nothing secret on either stream.
    for args in [
        vec!["session", "list"],
        vec!["--output", "json", "session", "list", "--user", "sam"],
    ] {
        let out = ward(a, &sam, &args, None);
        assert!(out.status.success(), "{out:?}");
        let (so, se) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(so.contains(&id_a) && so.contains(&id_b), "{so}");
        assert!(so.contains("127.0.0.1") && so.contains("password"), "{so}");
        for s in [&secret_a, &token_a, &secret_b, &token_b] {
            assert!(
                !so.contains(s.as_str()) && !se.contains(s.as_str()),
                "{so}{se}"
            );
        }
    }
    let listed = json(&check(
        a,
        &root,
        &["--output", "json", "session", "list", "--user", "sam"],
        None,
        0,
        &[],
        &[],
    ));
    assert_eq!(listed["sessions"].as_array().unwrap().len(), 2);

    // Revoke b's session as root: only b stops working.
    check(
        a,
        &root,
        &["session", "revoke", &id_b, "--user", "sam"],
        None,
        0,
        &[&format!("revoked session {id_b} of user sam")],
        &[],
    );
    check(
        b,
        &sam,
        &["whoami"],
        None,
        1,
        &[],
        &["InvalidClientTokenId"],
    );
    check(a, &sam, &["whoami"], None, 0, &["user/sam"], &[]);
    check(
        a,
        &root,
        &["session", "revoke", &id_b, "--user", "sam"],
        None,
        1,
        &[],
        &["NoSuchEntity"],
    );
    // Usage errors are local.
    check(a, &sam, &["session", "revoke"], None, 2, &[], &[]);

    // --all on one's own sessions (a's own included).
    check(
        b,
        &sam,
        &["login", "--user", "sam"],
        Some(&format!("{pw}\n")),
        0,
        &[],
        &[],
    );
    check(
        a,
        &sam,
        &["session", "revoke", "--all"],
        None,
        0,
        &["revoked 2 session(s) of user sam"],
        &[],
    );
    check(
        a,
        &sam,
        &["whoami"],
        None,
        1,
        &[],
        &["InvalidClientTokenId"],
    );
    check(
        b,
        &sam,
        &["whoami"],
        None,
        1,
        &[],
        &["InvalidClientTokenId"],
    );
    let listed = json(&check(
        a,
        &root,
        &["--output", "json", "session", "list", "--user", "sam"],
        None,
        0,
        &[],
        &[],
    ));
    assert_eq!(listed["sessions"], serde_json::json!([]));
}
