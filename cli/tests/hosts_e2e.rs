//! Issue #11 end to end, every component real: `ward-ca serve --dev`, the
//! `ward` CLI, `ward-agent join` and `ward-agent run` enrolled with a
//! one-time join token, a stock `sshd` whose `AuthorizedPrincipalsCommand`
//! is the agent, libnss_ward loaded by glibc for sshd, `getent` and `id`,
//! and `ssh` with certificates issued by `ward ssh login`.
//!
//! The test re-runs itself inside a private mount namespace
//! (`unshare --mount`), where a tmpfs covers /run (the agent's socket is at
//! the real path libnss_ward knows, /run/ward/agent.sock), and test copies
//! of /etc/passwd, /etc/group and /etc/nsswitch.conf are bind-mounted over
//! the machine's: nothing outside the namespace changes.
//!
//! Covered: enrolment with one token (host and SSH host certificates, the
//! host certificate trusted through `@cert-authority`); `getent`/`id`
//! answer for ward users and a local user of the same name wins; logins as
//! oneself and as `deploy` allowed by policy, as root refused with ward's
//! reason in sshd's log; leaving the group refuses the same still-valid
//! certificate (the time to enforcement is measured and printed); a
//! deleted user's certificate is refused; decisions reach ward-ca's audit
//! log; ward-ca stopped → cached decisions still work and a user disabled
//! before the stop stays denied; ward-agent stopped → NSS returns, ward
//! logins fail closed, a local account still logs in.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/harness.rs"]
mod harness;
#[path = "../../ca/tests/sshd/mod.rs"]
mod sshd;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use harness::{check, json, ward, Daemon, Scratch, WARD};

const INNER: &str = "WARD_HOSTS_E2E_INNER";

/// Builds ward-agent and libnss_ward next to `ward` (ward-cli depends on
/// neither, so `cargo test -p ward-cli` alone would use stale ones).
fn build_host_side() -> (PathBuf, PathBuf) {
    static BUILT: Mutex<bool> = Mutex::new(false);
    let dir = Path::new(WARD).parent().unwrap().to_owned();
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !*built {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "--quiet", "-p", "ward-agent", "-p", "nss_ward"])
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
        if dir.file_name() == Some("release".as_ref()) {
            cmd.arg("--release");
        }
        assert!(
            cmd.status().unwrap().success(),
            "cargo build ward-agent nss_ward"
        );
        *built = true;
    }
    (dir.join("ward-agent"), dir.join("libnss_ward.so"))
}

/// True in the namespaced re-run; in the outer run, builds what the inner
/// run needs, re-runs `test` there, checks it passed and shows what it
/// measured.
fn in_namespace(test: &str) -> bool {
    if std::env::var_os(INNER).is_none() {
        build_host_side();
        harness::ward_ca();
    }
    match sshd::in_mount_namespace(test, INNER) {
        None => true,
        Some(text) => {
            for l in text
                .lines()
                .filter_map(|l| l.find("measured:").map(|i| &l[i..]))
            {
                eprintln!("{l}");
            }
            false
        }
    }
}

fn mount(args: &[&str]) {
    let out = Command::new("mount").args(args).output().unwrap();
    assert!(out.status.success(), "mount {args:?}: {}", sshd::text(&out));
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A running `ward-agent run`, killed on drop.
struct Agent {
    child: Child,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent_cmd(bin: &Path, cfg: &Path, args: &[&str]) -> Output {
    Command::new(bin)
        .arg("--config")
        .arg(cfg)
        .args(args)
        .output()
        .unwrap()
}

/// Polls `f` every 50 ms until it is true; the time it took, or `None`
/// after `limit` (a hang guard, not a timing assertion).
fn until(limit: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let t = Instant::now();
    while t.elapsed() < limit {
        if f() {
            return Some(t.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

fn login_policy() -> String {
    r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"host:Login","Resource":"arn:ward:host::*:host/*",
         "Condition":{"StringEquals":{"ward:ResourceTag/env":"test"},
                      "StringLike":{"host:Principal":["${ward:username}","deploy"]}}},
        {"Effect":"Allow","Action":"ca:IssueSshUserCertificate","Resource":"*"}]}"#
        .to_owned()
}

#[test]
fn a_host_enrolled_with_one_token_decides_logins_by_current_policy() {
    if !in_namespace("a_host_enrolled_with_one_token_decides_logins_by_current_policy") {
        return;
    }
    sshd::ensure_sshd();
    let (agent_bin, nss_so) = build_host_side();
    let dir = Scratch::new("hosts-e2e");
    let home = dir.path("home");
    std::fs::create_dir_all(&home).unwrap();

    // --- The namespace: /run, passwd, group, nsswitch, libnss_ward.
    mount(&["-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/run"]);
    for d in ["/run/sshd", "/run/ward"] {
        std::fs::create_dir_all(d).unwrap();
    }
    let mut passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    passwd.push_str(
        "deploy:*:1400:1400:local deploy:/:/bin/sh\ncarol:*:1500:1500:local carol:/:/bin/sh\n",
    );
    let mut group = std::fs::read_to_string("/etc/group").unwrap();
    group.push_str("deploy:x:1400:\ncarol:x:1500:\n");
    sshd::private_etc(
        &dir.0,
        &[
            ("passwd", &passwd),
            ("group", &group),
            (
                "nsswitch.conf",
                "passwd: files ward\ngroup: files ward\nshadow: files\nhosts: files\n",
            ),
        ],
    );
    let lib = dir.path("lib");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::copy(&nss_so, lib.join("libnss_ward.so.2")).unwrap();
    // Every process started from here (sshd, getent, id) loads it.
    std::env::set_var("LD_LIBRARY_PATH", &lib);

    // --- ward-ca, users, groups, policy.
    let ca = Daemon::start("hosts-e2e");
    let root = ca.root_env();
    let h = home.as_path();
    let w = |args: &[&str]| check(h, &root, args, None, 0, &[], &[]);
    let doc = dir.write("login.json", &login_policy());
    w(&["group", "create", "ops"]);
    w(&["policy", "create", "login", "--document", s(&doc)]);
    w(&["policy", "attach", "login", "--group", "ops"]);
    let mut creds = std::collections::HashMap::new();
    for name in ["alice", "bob", "dave", "carol"] {
        w(&["user", "create", name]);
        w(&["group", "add-user", "ops", name]);
        let key = json(&w(&["--output", "json", "access-key", "create", name]));
        creds.insert(
            name,
            ca.key_env(
                key["accessKeyId"].as_str().unwrap(),
                key["secretAccessKey"].as_str().unwrap(),
            ),
        );
    }
    let user_json = |name: &str| json(&w(&["--output", "json", "user", "get", name]));
    let alice = user_json("alice");
    let alice_uid = alice["posix"]["uid"].as_u64().unwrap();
    // Certificates from `ward ssh login` (key id = the user's id).
    let keys = dir.path("keys");
    let cert_of = |name: &str| -> (PathBuf, PathBuf) {
        let out = keys.join(name);
        std::fs::create_dir_all(&out).unwrap();
        check(
            h,
            &creds[name],
            &["ssh", "login", "--no-agent", "--out", s(&out)],
            None,
            0,
            &[],
            &[],
        );
        (out.join("ward"), out.join("ward-cert.pub"))
    };
    let alice_cert = cert_of("alice");
    let bob_cert = cert_of("bob");
    let dave_cert = cert_of("dave");

    // --- Enrolment with one token.
    let token = json(&w(&[
        "--output",
        "json",
        "host",
        "join-token",
        "web-01",
        "--tag",
        "env=test",
    ]))["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let ssh_dir = dir.path("ssh");
    std::fs::create_dir_all(&ssh_dir).unwrap();
    let state = dir.path("state");
    let cfg = dir.write(
        "agent.toml",
        &format!(
            "state_dir = {state:?}\nsocket = \"/run/ward/agent.sock\"\npoll_wait_seconds = 30\n\
             trusted_user_ca_keys_file = {tk:?}\nrevoked_keys_file = {krl:?}\n\
             ssh_host_key = {hk:?}\npasswd_file = \"/etc/passwd\"\ngroup_file = \"/etc/group\"\n",
            state = s(&state),
            tk = s(&ssh_dir.join("ward_user_ca.pub")),
            krl = s(&ssh_dir.join("ward_revoked.krl")),
            hk = s(&ssh_dir.join("ssh_host_ed25519_key")),
        ),
    );
    let mut join = Command::new(&agent_bin)
        .arg("--config")
        .arg(&cfg)
        .args(["join", ca.endpoint(), "-", "--ca-bundle", ca.bundle()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        join.stdin
            .take()
            .unwrap()
            .write_all(token.as_bytes())
            .unwrap();
    }
    let out = join.wait_with_output().unwrap();
    assert!(out.status.success(), "join: {}", sshd::text(&out));
    // The token was one-time.
    let again = agent_cmd(
        &agent_bin,
        &cfg,
        &[
            "join",
            ca.endpoint(),
            &token,
            "--ca-bundle",
            ca.bundle(),
            "--force",
        ],
    );
    assert!(
        !again.status.success(),
        "a replayed token joined: {}",
        sshd::text(&again)
    );

    let log = std::fs::File::create(dir.path("agent.log")).unwrap();
    let agent = Agent {
        child: Command::new(&agent_bin)
            .arg("--config")
            .arg(&cfg)
            .arg("run")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    };
    let status =
        || String::from_utf8_lossy(&agent_cmd(&agent_bin, &cfg, &["status"]).stdout).into_owned();
    assert!(
        until(Duration::from_secs(30), || status()
            .contains("sync:          online"))
        .is_some(),
        "the agent never came online: {}\n{}",
        status(),
        std::fs::read_to_string(dir.path("agent.log")).unwrap_or_default()
    );
    let listed = w(&["host", "list"]);
    assert!(listed.contains("web-01"), "{listed}");

    // --- NSS: ward users resolve, a local name wins.
    let getent = |args: &[&str]| {
        Command::new("timeout")
            .args(["20", "getent"])
            .args(args)
            .output()
            .unwrap()
    };
    let out = getent(&["passwd", "alice"]);
    let line = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        line.starts_with(&format!("alice:*:{alice_uid}:{alice_uid}::/home/alice:")),
        "getent passwd alice: {line:?} {}",
        sshd::text(&out)
    );
    let out = getent(&["passwd", &alice_uid.to_string()]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("alice:"));
    let id = Command::new("id").arg("alice").output().unwrap();
    let id = String::from_utf8_lossy(&id.stdout).into_owned();
    assert!(
        id.contains(&format!("uid={alice_uid}(alice)")) && id.contains("(ops)"),
        "{id}"
    );
    let out = getent(&["passwd", "carol"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "carol:*:1500:1500:local carol:/:/bin/sh\n",
        "the local carol must win"
    );

    // --- sshd with the agent's commands and files.
    let setup = sshd::Sshd::setup();
    let host_cert = std::fs::read_to_string(ssh_dir.join("ssh_host_ed25519_key-cert.pub")).unwrap();
    assert!(host_cert.contains("-cert-v01@openssh.com"), "{host_cert}");
    let safe_agent = sshd::SafeCommand::copy(&agent_bin);
    let server = {
        // The shipped sshd snippet, with this test's paths.
        let shipped = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/sshd_config.d/ward.conf"),
        )
        .unwrap();
        let mut extras = shipped
            .replace(
                "/usr/sbin/ward-agent ",
                &format!("{} --config {} ", s(safe_agent.path()), s(&cfg)),
            )
            .replace("/etc/ssh/", &format!("{}/", s(&ssh_dir)));
        assert!(!extras.contains("/etc/"), "{extras}");
        extras.push_str(&format!(
            "HostKey {}\nAuthorizedPrincipalsFile none\nAuthorizedKeysFile {}/authorized_keys/%u\n",
            s(&ssh_dir.join("ssh_host_ed25519_key")),
            dir.0.display(),
        ));
        setup.start(&extras)
    };
    let login = |who: &(PathBuf, PathBuf), account: &str| server.login(account, &who.0, &who.1);
    let ok = |who: &(PathBuf, PathBuf), account: &str| {
        let out = login(who, account);
        String::from_utf8_lossy(&out.stdout) == "ok\n"
    };
    assert!(ok(&alice_cert, "alice"), "alice as alice\n{}", server.log());
    assert!(
        ok(&alice_cert, "deploy"),
        "alice as deploy\n{}",
        server.log()
    );
    let since = server.log().len();
    assert!(!ok(&alice_cert, "root"));
    assert!(
        server.log_has(since, "no statement allows host:Login"),
        "{}",
        &server.log()[since..]
    );
    // The host certificate from the join, trusted through @cert-authority.
    let known = dir.write("known_hosts", &w(&["ssh", "known-hosts"]));
    let out = server.login_with(
        "alice",
        &alice_cert.0,
        &alice_cert.1,
        &[
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            &format!("UserKnownHostsFile={}", s(&known)),
            "-o",
            "HostKeyAlias=web-01",
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ok\n",
        "{}",
        sshd::text(&out)
    );

    // --- A role session's certificate (issue #14 item 5): key id
    // AROA…:SESSION:ISSUED, principals = the accounts asked for; the
    // role's policies decide host:Login, and revoke-sessions reaches the
    // host (ward:TokenIssueTime).
    let role_doc = dir.write(
        "role-login.json",
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"host:Login","Resource":"*","Condition":{"StringEquals":{"host:Principal":"deploy"}}},
            {"Effect":"Allow","Action":"ca:IssueSshUserCertificate","Resource":"*"}]}"#,
    );
    let trust = dir.write(
        "role-trust.json",
        &format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{}"}},"Action":"sts:AssumeRole"}}]}}"#,
            alice["arn"].as_str().unwrap()
        ),
    );
    w(&["role", "create", "oncall", "--trust", s(&trust)]);
    w(&[
        "role",
        "put-policy",
        "oncall",
        "login",
        "--document",
        s(&role_doc),
    ]);
    let exports = check(
        h,
        &creds["alice"],
        &["assume-role", "oncall", "--session", "pager"],
        None,
        0,
        &[],
        &[],
    );
    let mut role_env = creds["alice"].clone();
    role_env.extend(
        exports
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.trim_matches('\'').to_owned())),
    );
    let role_out = keys.join("role");
    std::fs::create_dir_all(&role_out).unwrap();
    check(
        h,
        &role_env,
        &[
            "ssh",
            "login",
            "--no-agent",
            "--out",
            s(&role_out),
            "--principal",
            "deploy",
            "--principal",
            "root",
        ],
        None,
        0,
        &[],
        &[],
    );
    let role_cert = (role_out.join("ward"), role_out.join("ward-cert.pub"));
    assert!(
        until(Duration::from_secs(30), || ok(&role_cert, "deploy")).is_some(),
        "the role session as deploy\n{}",
        server.log()
    );
    let since = server.log().len();
    assert!(!ok(&role_cert, "root"), "the role may not log in as root");
    assert!(
        server.log_has(since, "no statement allows host:Login"),
        "{}",
        &server.log()[since..]
    );
    assert!(!ok(&role_cert, "carol"), "carol is not in the certificate");
    w(&["role", "revoke-sessions", "oncall"]);
    assert!(
        until(Duration::from_secs(30), || !ok(&role_cert, "deploy")).is_some(),
        "revoke-sessions did not reach the host\n{}",
        server.log()
    );
    let since = server.log().len();
    assert!(!ok(&role_cert, "deploy"));
    assert!(
        server.log_has(since, "explicitly denies host:Login"),
        "{}",
        &server.log()[since..]
    );

    // --- Leaving the group: the same certificate is refused; measured.
    let mut enforced = Vec::new();
    for _ in 0..5 {
        assert!(until(Duration::from_secs(30), || ok(&alice_cert, "deploy")).is_some());
        w(&["group", "remove-user", "ops", "alice"]);
        let t = Instant::now();
        let took = until(Duration::from_secs(30), || !ok(&alice_cert, "deploy"));
        assert!(took.is_some(), "still allowed 30 s after leaving ops");
        enforced.push(t.elapsed());
        w(&["group", "add-user", "ops", "alice"]);
    }
    enforced.sort();
    println!(
        "measured: group removal -> login refused (5 runs, includes one ssh login per probe): min {:.0} ms, median {:.0} ms, max {:.0} ms",
        enforced[0].as_secs_f64() * 1e3,
        enforced[2].as_secs_f64() * 1e3,
        enforced[4].as_secs_f64() * 1e3
    );

    // --- A deleted user's certificate.
    assert!(ok(&bob_cert, "deploy"));
    let bob_key = json(&w(&["--output", "json", "access-key", "list", "bob"]));
    for k in bob_key["accessKeys"].as_array().unwrap() {
        w(&[
            "access-key",
            "delete",
            "bob",
            k["accessKeyId"].as_str().unwrap(),
        ]);
    }
    w(&["group", "remove-user", "ops", "bob"]);
    w(&["user", "delete", "bob"]);
    assert!(until(Duration::from_secs(30), || !ok(&bob_cert, "deploy")).is_some());

    // --- Host decisions reach ward-ca's audit log.
    let audited = until(Duration::from_secs(30), || {
        let out = ward(
            h,
            &root,
            &[
                "--output",
                "json",
                "audit",
                "list",
                "--action",
                "host:Login",
                "--all",
            ],
            None,
        );
        let t = String::from_utf8_lossy(&out.stdout).into_owned();
        t.contains("host:Login") && t.contains("web-01")
    });
    assert!(
        audited.is_some(),
        "no host:Login events in ward-ca's audit log"
    );

    // --- dave disabled while ward-ca is up, then ward-ca goes away.
    assert!(ok(&dave_cert, "deploy"));
    w(&["user", "disable", "dave"]);
    assert!(until(Duration::from_secs(30), || !ok(&dave_cert, "deploy")).is_some());
    drop(ca);
    assert!(
        until(Duration::from_secs(60), || status()
            .contains("sync:          offline"))
        .is_some(),
        "{}",
        status()
    );
    assert!(
        ok(&alice_cert, "deploy"),
        "cached decision while ward-ca is down\n{}",
        server.log()
    );
    assert!(
        !ok(&dave_cert, "deploy"),
        "dave was disabled before the outage"
    );

    // --- ward-agent goes away: NSS returns, ward logins fail closed, a
    // local account with its own key still logs in.
    let local_key = sshd::keygen(&dir.0, "deploy_key", &["-t", "ed25519"]);
    let ak = dir.path("authorized_keys");
    std::fs::create_dir_all(&ak).unwrap();
    std::fs::write(
        ak.join("deploy"),
        std::fs::read_to_string(local_key.with_extension("pub")).unwrap(),
    )
    .unwrap();
    drop(agent);
    let out = getent(&["passwd", "alice"]);
    assert_ne!(
        out.status.code(),
        Some(124),
        "getent hung without the agent"
    );
    assert_eq!(out.status.code(), Some(2), "{}", sshd::text(&out));
    assert!(!ok(&alice_cert, "deploy"), "a ward login without the agent");
    let out = server.login_with(
        "deploy",
        &local_key,
        &dir.path("no-such-cert.pub"),
        &["-o", "CertificateFile=none"],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ok\n",
        "{}\n{}",
        sshd::text(&out),
        server.log()
    );
}
