//! End-to-end tests of the certificate commands (issue #4): the real
//! `ward` binary against the real `ward-ca serve --dev` (which creates its
//! certificate authorities at first start), checked with the real OpenSSH
//! and OpenSSL tools: `ssh-keygen -L` and `-Q`, `ssh-agent`/`ssh-add -l`,
//! `openssl verify` and `openssl crl`; mTLS with a ward-issued client
//! certificate, revocation seen by mTLS, the KRL and the CRL; policy caps
//! on lifetimes; bad input with its exit codes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

#[path = "support/harness.rs"]
mod harness;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use harness::{check, json, Daemon, Scratch};

/// Issue anything, and see oneself.
const ISSUE: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{
    "Effect": "Allow",
    "Action": ["ca:Issue*", "sts:GetCallerIdentity"],
    "Resource": "*"
  }]
}
"#;

/// Issue for at most an hour.
const ISSUE_ONE_HOUR: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{
    "Effect": "Allow",
    "Action": ["ca:Issue*", "sts:GetCallerIdentity"],
    "Resource": "*",
    "Condition": {"NumericLessThanEquals": {"ca:ValiditySeconds": "3600"}}
  }]
}
"#;

/// `PATH`, so that ward finds ssh-add and openssl in its clean environment.
fn path_env() -> (String, String) {
    ("PATH".into(), std::env::var("PATH").unwrap_or_default())
}

/// Root makes user `name` with `policy` inline and an access key; returns
/// the environment for that user.
fn user_env(d: &Daemon, home: &Scratch, name: &str, policy: &str) -> Vec<(String, String)> {
    let h = home.0.as_path();
    let root = d.root_env();
    check(h, &root, &["user", "create", name], None, 0, &[], &[]);
    let doc = home.write(&format!("{name}-policy.json"), policy);
    check(
        h,
        &root,
        &[
            "policy",
            "put-inline",
            "issue",
            "--user",
            name,
            "--document",
            doc.to_str().unwrap(),
        ],
        None,
        0,
        &[],
        &[],
    );
    let key = json(&check(
        h,
        &root,
        &["--output", "json", "access-key", "create", name],
        None,
        0,
        &[],
        &[],
    ));
    let mut env = d.key_env(
        key["accessKeyId"].as_str().unwrap(),
        key["secretAccessKey"].as_str().unwrap(),
    );
    env.push(path_env());
    env
}

/// Environment with an endpoint and its CA but no access key: client
/// certificates authenticate.
fn mtls_env(d: &Daemon) -> Vec<(String, String)> {
    vec![
        ("WARD_ENDPOINT".into(), d.endpoint().into()),
        ("WARD_CA_BUNDLE".into(), d.bundle().into()),
        path_env(),
    ]
}

/// Runs a real tool; its output, whatever the exit status.
fn tool(program: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {program} (is it installed?): {e}"))
}

/// Runs a real tool that must succeed; its stdout.
#[track_caller]
fn tool_ok(program: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = tool(program, args, env);
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The `Serial  …` value of a `ward` fields block.
fn field<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(name).map(str::trim))
        .unwrap_or_else(|| panic!("no {name} in {out}"))
}

/// `ssh-keygen -Q`: whether the KRL revokes the certificate.
fn krl_revokes(krl: &Path, cert: &Path) -> bool {
    let out = tool("ssh-keygen", &["-Q", "-f", s(krl), s(cert)], &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    match out.status.code() {
        Some(0) => {
            assert!(text.contains(": ok"), "{text}");
            false
        }
        Some(1) => {
            assert!(text.contains("REVOKED"), "{text}");
            true
        }
        other => panic!(
            "ssh-keygen -Q: {other:?} {text} {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// SSH and X.509 certificates from login to revocation: files and modes,
/// what OpenSSH and OpenSSL make of them, mTLS, the inventory, and
/// revocation seen by mTLS, the KRL and the CRL.
#[test]
fn certificates_from_issue_to_revocation() {
    let d = Daemon::start("ca-life");
    let home = Scratch::new("ca-life-home");
    let h = home.0.as_path();
    let root = d.root_env();
    let u = user_env(&d, &home, "u", ISSUE);

    // SSH: a fresh key pair, certified, written to a new 0700 directory.
    let ssh_dir = home.path("ssh-out");
    let out = check(
        h,
        &u,
        &["ssh", "login", "--no-agent", "--out", s(&ssh_dir)],
        None,
        0,
        &["Principals", "ValidBefore", "not loaded: --no-agent"],
        &[],
    );
    assert_eq!(field(&out, "Principals"), "u");
    let ssh_serial = field(&out, "Serial").to_owned();
    let (key, cert) = (ssh_dir.join("ward"), ssh_dir.join("ward-cert.pub"));
    assert_eq!(mode(&ssh_dir), 0o700);
    assert_eq!(mode(&key), 0o600);
    assert_eq!(mode(&cert), 0o644);
    let listed = tool_ok("ssh-keygen", &["-L", "-f", s(&cert)], &[]);
    assert!(listed.contains("user certificate"), "{listed}");
    assert!(
        listed.contains(&format!("Serial: {ssh_serial}")),
        "{listed}"
    );
    let principals: Vec<&str> = listed
        .split("Principals:")
        .nth(1)
        .unwrap()
        .split("Critical Options:")
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(principals, ["u"], "{listed}");
    assert!(listed.contains("permit-pty"), "{listed}");
    // The private key is a real OpenSSH key for the certified public key.
    let derived = tool_ok("ssh-keygen", &["-y", "-f", s(&key)], &[]);
    let public = std::fs::read_to_string(ssh_dir.join("ward.pub")).unwrap();
    let words = |t: &str| t.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    assert_eq!(words(&derived), words(&public));

    // X.509: key and CSR made locally, the chain verifies with the bundle.
    let x_dir = home.path("x509-out");
    let out = check(
        h,
        &u,
        &["x509", "issue", "--out", s(&x_dir)],
        None,
        0,
        &["Serial", "NotAfter"],
        &[],
    );
    let x_serial = field(&out, "Serial").to_owned();
    let (x_cert, x_key) = (x_dir.join("ward-client.pem"), x_dir.join("ward-client.key"));
    assert_eq!(mode(&x_key), 0o600);
    assert!(x_dir.join("ward-chain.pem").exists());
    let bundle = check(h, &mtls_env(&d), &["x509", "bundle"], None, 0, &[], &[]);
    assert_eq!(bundle.matches("BEGIN CERTIFICATE").count(), 2, "{bundle}");
    let bundle_file = home.write("bundle.pem", &bundle);
    let verified = tool_ok(
        "openssl",
        &["verify", "-CAfile", s(&bundle_file), s(&x_cert)],
        &[],
    );
    assert!(verified.trim_end().ends_with("OK"), "{verified}");
    // ... and with the chain file the command saved.
    tool_ok(
        "openssl",
        &[
            "verify",
            "-CAfile",
            s(&x_dir.join("ward-chain.pem")),
            s(&x_cert),
        ],
        &[],
    );

    // The fullchain file is leaf + issuing CA, and curl presents it as is.
    let full = std::fs::read_to_string(x_dir.join("ward-client-fullchain.pem")).unwrap();
    assert_eq!(full.matches("BEGIN CERTIFICATE").count(), 2, "{full}");
    assert!(
        full.starts_with(std::fs::read_to_string(&x_cert).unwrap().trim()),
        "{full}"
    );
    let curl = tool_ok(
        "curl",
        &[
            "-sS",
            "--fail-with-body",
            "--cacert",
            d.bundle(),
            "--cert",
            s(&x_dir.join("ward-client-fullchain.pem")),
            "--key",
            s(&x_key),
            &format!("{}/v1/whoami", d.endpoint()),
        ],
        &[],
    );
    assert!(curl.contains("\"certificate\""), "{curl}");

    // mTLS: the certificate is the user, without any access key.
    let mtls = mtls_env(&d);
    let who = ["--cert", s(&x_cert), "--key", s(&x_key), "whoami"];
    check(h, &mtls, &who, None, 0, &[":user/u", "certificate"], &[]);
    let j = json(&check(
        h,
        &mtls,
        &[&["--output", "json"][..], &who[..]].concat(),
        None,
        0,
        &[],
        &[],
    ));
    assert_eq!(j["authMethod"], "certificate");
    // The same through the environment.
    let mut via_env = mtls.clone();
    via_env.push(("WARD_CLIENT_CERT".into(), s(&x_cert).into()));
    via_env.push(("WARD_CLIENT_KEY".into(), s(&x_key).into()));
    check(h, &via_env, &["whoami"], None, 0, &["certificate"], &[]);
    // An access key wins over a certificate, and says so.
    check(
        h,
        &u,
        &who,
        None,
        0,
        &["access-key"],
        &["used only when no access key is configured"],
    );

    // The inventory has both.
    let listed = check(
        h,
        &root,
        &["cert", "list", "--user", "u"],
        None,
        0,
        &["SERIAL", &ssh_serial, "ssh-user", "x509-client"],
        &[],
    );
    assert!(listed.contains(&x_serial.to_lowercase()), "{listed}");
    let j = json(&check(
        h,
        &root,
        &[
            "--output",
            "json",
            "cert",
            "list",
            "--user",
            "u",
            "--kind",
            "x509-client",
        ],
        None,
        0,
        &[],
        &[],
    ));
    assert_eq!(j["certificates"].as_array().unwrap().len(), 1, "{j}");
    // Pages: one certificate per page, one page without --all (with a
    // marker), both with --all (no marker left).
    let one = json(&check(
        h,
        &root,
        &[
            "--output", "json", "cert", "list", "--user", "u", "--limit", "1",
        ],
        None,
        0,
        &[],
        &[],
    ));
    assert_eq!(one["certificates"].as_array().unwrap().len(), 1, "{one}");
    assert!(one["marker"].is_string(), "{one}");
    let all = json(&check(
        h,
        &root,
        &[
            "--output", "json", "cert", "list", "--user", "u", "--limit", "1", "--all",
        ],
        None,
        0,
        &[],
        &[],
    ));
    assert_eq!(all["certificates"].as_array().unwrap().len(), 2, "{all}");
    assert!(all.get("marker").is_none_or(|m| m.is_null()), "{all}");

    // Revoking the X.509 certificate stops mTLS at once.
    let krl = home.path("ssh.krl");
    check(
        h,
        &mtls,
        &["ssh", "krl", "--out", s(&krl)],
        None,
        0,
        &[],
        &["saved the KRL"],
    );
    assert!(!krl_revokes(&krl, &cert));
    check(
        h,
        &root,
        &["cert", "revoke", &x_serial],
        None,
        0,
        &["revoked certificate"],
        &[],
    );
    check(
        h,
        &mtls,
        &who,
        None,
        1,
        &[],
        &["InvalidClientCertificate", "revoked"],
    );
    let crl = home.path("x509.crl");
    check(
        h,
        &mtls,
        &["x509", "crl", "--out", s(&crl)],
        None,
        0,
        &[],
        &[],
    );
    let crl_text = tool_ok("openssl", &["crl", "-in", s(&crl), "-noout", "-text"], &[]);
    assert!(
        crl_text.contains(&x_serial.to_uppercase()),
        "{x_serial}: {crl_text}"
    );

    // Revoking all of u's certificates puts the SSH one in the KRL.
    let revoked = check(
        h,
        &root,
        &["cert", "revoke", "--user", "u"],
        None,
        0,
        &[&ssh_serial],
        &[],
    );
    assert!(revoked.contains("revoked 1 certificate"), "{revoked}");
    check(
        h,
        &root,
        &["cert", "revoke", "--user", "u"],
        None,
        0,
        &["no certificates left to revoke"],
        &[],
    );
    check(
        h,
        &mtls,
        &["ssh", "krl", "--out", s(&krl)],
        None,
        0,
        &[],
        &[],
    );
    assert!(krl_revokes(&krl, &cert));
    let active = json(&check(
        h,
        &root,
        &[
            "--output", "json", "cert", "list", "--user", "u", "--active",
        ],
        None,
        0,
        &[],
        &[],
    ));
    assert_eq!(active["certificates"], serde_json::json!([]));
    let revoked = check(
        h,
        &root,
        &["cert", "list", "--user", "u", "--revoked"],
        None,
        0,
        &["revoked"],
        &[],
    );
    assert_eq!(revoked.lines().count(), 3, "{revoked}");

    // A certificate ward did not issue is refused in the handshake.
    let (fkey, fcert) = (home.path("foreign.key"), home.path("foreign.pem"));
    tool_ok(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "ed25519",
            "-nodes",
            "-keyout",
            s(&fkey),
            "-out",
            s(&fcert),
            "-subj",
            "/CN=u",
            "-days",
            "1",
        ],
        &[],
    );
    check(
        h,
        &mtls,
        &["--cert", s(&fcert), "--key", s(&fkey), "whoami"],
        None,
        1,
        &[],
        &["refused the client certificate"],
    );
    // Public material needs no credentials; the pattern replaces `*`.
    check(
        h,
        &mtls,
        &["ssh", "known-hosts", "--pattern", "*.example.com"],
        None,
        0,
        &["@cert-authority *.example.com ssh-"],
        &[],
    );
    // The user CA key is the one that signed the certificate.
    let keys = check(
        h,
        &mtls,
        &["ssh", "trusted-user-ca-keys"],
        None,
        0,
        &[],
        &[],
    );
    let ca_file = home.write("user-ca.pub", keys.lines().next().unwrap());
    let ca_fp = tool_ok("ssh-keygen", &["-l", "-f", s(&ca_file)], &[]);
    let ca_fp = ca_fp.split_whitespace().nth(1).unwrap();
    let listed = tool_ok("ssh-keygen", &["-L", "-f", s(&cert)], &[]);
    assert!(
        listed.contains(&format!("Signing CA: ED25519 {ca_fp}")),
        "{ca_fp}: {listed}"
    );
}

/// A foreground ssh-agent on a socket of its own, killed on drop.
struct Agent {
    child: Child,
    sock: PathBuf,
}

impl Agent {
    fn start(home: &Scratch) -> Agent {
        let sock = home.path("agent.sock");
        let child = Command::new("ssh-agent")
            .args(["-D", "-a", s(&sock)])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("running ssh-agent (install openssh-client)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !sock.exists() {
            assert!(Instant::now() < deadline, "ssh-agent made no socket");
            std::thread::sleep(Duration::from_millis(20));
        }
        Agent { child, sock }
    }

    fn list(&self) -> String {
        let out = tool("ssh-add", &["-l"], &[("SSH_AUTH_SOCK", s(&self.sock))]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `ward ssh login` loads key and certificate into a running ssh-agent
/// (and writes ~/.ssh/ward*), for a new key pair and for --public-key; no
/// agent is not an error.
#[test]
fn ssh_login_loads_the_agent() {
    let d = Daemon::start("ca-agent");
    let home = Scratch::new("ca-agent-home");
    let h = home.0.as_path();
    let agent = Agent::start(&home);
    let mut u = user_env(&d, &home, "ann", ISSUE);
    let mut with_agent = u.clone();
    with_agent.push(("SSH_AUTH_SOCK".into(), s(&agent.sock).into()));

    assert!(!agent.list().contains("CERT"));
    check(
        h,
        &with_agent,
        &["ssh", "login", "--ttl", "10m"],
        None,
        0,
        &["loaded for", "ann"],
        &[],
    );
    let ssh = h.join(".ssh");
    assert_eq!(mode(&ssh.join("ward")), 0o600);
    assert!(ssh.join("ward-cert.pub").exists());
    let listed = agent.list();
    assert!(listed.contains("ED25519-CERT"), "{listed}");

    // An existing key: only the certificate is written, next to it.
    let kdir = home.path("keys");
    std::fs::create_dir_all(&kdir).unwrap();
    let own = kdir.join("id_own");
    tool_ok(
        "ssh-keygen",
        &["-q", "-t", "ed25519", "-N", "", "-C", "own", "-f", s(&own)],
        &[],
    );
    let before: Vec<_> = std::fs::read_dir(&kdir).unwrap().collect();
    check(
        h,
        &with_agent,
        &["ssh", "login", "--public-key", s(&kdir.join("id_own.pub"))],
        None,
        0,
        &["id_own-cert.pub", "loaded for"],
        &[],
    );
    assert_eq!(std::fs::read_dir(&kdir).unwrap().count(), before.len() + 1);
    let listed = agent.list();
    assert_eq!(listed.matches("-CERT)").count(), 2, "{listed}");
    assert!(listed.contains("own (ED25519-CERT)"), "{listed}");

    // No agent: the files are written, and that is all.
    u.push(("SSH_AUTH_SOCK".into(), s(&home.path("none.sock")).into()));
    check(
        h,
        &u,
        &["ssh", "login", "--out", s(&home.path("noagent"))],
        None,
        0,
        &["not loaded: no ssh-agent"],
        &[],
    );
    assert!(home.path("noagent/ward-cert.pub").exists());
}

/// Policy caps lifetimes (`ca:ValiditySeconds`); bad input fails with the
/// right exit code and issues nothing.
#[test]
fn lifetime_caps_and_bad_input() {
    let d = Daemon::start("ca-caps");
    let home = Scratch::new("ca-caps-home");
    let h = home.0.as_path();
    let root = d.root_env();
    let v = user_env(&d, &home, "vic", ISSUE_ONE_HOUR);
    let out = |name: &str| s(&home.path(name)).to_owned();

    check(
        h,
        &v,
        &[
            "ssh",
            "login",
            "--no-agent",
            "--ttl",
            "7200",
            "--out",
            &out("a"),
        ],
        None,
        1,
        &[],
        &["AccessDenied", "ca:IssueSshUserCertificate"],
    );
    assert!(!home.path("a").exists(), "nothing is written on refusal");
    // Without --ttl the default (8h) is asked for: denied, with a hint.
    check(
        h,
        &v,
        &["ssh", "login", "--no-agent", "--out", &out("a")],
        None,
        1,
        &[],
        &["AccessDenied", "--ttl"],
    );
    // A denial that is not about the lifetime gets no lifetime hint (issue
    // #8 item 10): a user who may not issue at all.
    let nobody = user_env(
        &d,
        &home,
        "nobody",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:GetCallerIdentity","Resource":"*"}]}"#,
    );
    let refused = harness::ward(
        h,
        &nobody,
        &["ssh", "login", "--no-agent", "--out", &out("n")],
        None,
    );
    let refused_err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{refused_err}");
    assert!(refused_err.contains("AccessDenied"), "{refused_err}");
    assert!(
        !refused_err.contains("--ttl") && !refused_err.contains("note:"),
        "a lifetime hint on a denial that is not about the lifetime: {refused_err}"
    );
    let ok = check(
        h,
        &v,
        &[
            "ssh",
            "login",
            "--no-agent",
            "--ttl",
            "3600",
            "--out",
            &out("a"),
        ],
        None,
        0,
        &[],
        &[],
    );
    let listed = tool_ok("ssh-keygen", &["-L", "-f", &out("a/ward-cert.pub")], &[]);
    assert!(listed.contains(field(&ok, "Serial")), "{listed}");
    check(
        h,
        &v,
        &["x509", "issue", "--ttl", "2h", "--out", &out("x")],
        None,
        1,
        &[],
        &["AccessDenied", "ca:IssueX509Certificate"],
    );
    check(
        h,
        &v,
        &[
            "x509",
            "issue",
            "--ttl",
            "1h",
            "--key-type",
            "ec-p256",
            "--out",
            &out("x"),
        ],
        None,
        0,
        &["NotAfter"],
        &[],
    );
    let ec = tool_ok(
        "openssl",
        &["x509", "-in", &out("x/ward-client.pem"), "-noout", "-text"],
        &[],
    );
    assert!(ec.contains("prime256v1") || ec.contains("P-256"), "{ec}");
    assert!(ec.contains("spiffe://"), "{ec}");

    // Bad input.
    let pk = home.path("k/id");
    std::fs::create_dir_all(pk.parent().unwrap()).unwrap();
    tool_ok(
        "ssh-keygen",
        &["-q", "-t", "ed25519", "-N", "", "-f", s(&pk)],
        &[],
    );
    for (args, code, says) in [
        (&["ssh", "login", "--ttl", "abc"][..], 2, "not a lifetime"),
        (
            &["ssh", "login", "--extension", "permit-root"][..],
            2,
            "possible values",
        ),
        (
            &["ssh", "login", "--public-key", s(&pk)][..],
            2,
            "private key",
        ),
        (
            &["ssh", "login", "--public-key", &out("missing.pub")][..],
            2,
            "missing.pub",
        ),
        (
            &["ssh", "login", "--source-address", "10.1.2.3/8"][..],
            2,
            "10.0.0.0/8",
        ),
        (
            &[
                "ssh",
                "login",
                "--principal",
                "a b",
                "--no-agent",
                "--out",
                &out("b"),
            ][..],
            1,
            "principals[0]",
        ),
        (
            &[
                "ssh",
                "login",
                "--ttl",
                "30",
                "--no-agent",
                "--out",
                &out("b"),
            ][..],
            1,
            "between 60",
        ),
        (&["ssh", "krl"][..], 2, "--out"),
        (
            &["x509", "issue", "--key-type", "rsa"][..],
            2,
            "possible values",
        ),
        (
            &["--cert", &out("x/ward-client.pem"), "whoami"][..],
            2,
            "not its key",
        ),
        (&["cert", "revoke", "nope"][..], 1, "serial"),
        (&["cert", "revoke"][..], 2, "required"),
    ] {
        check(h, &v, args, None, code, &[], &[says]);
    }
    // None of the refused requests issued anything: one of each kind.
    let j = json(&check(
        h,
        &root,
        &["--output", "json", "cert", "list", "--user", "vic"],
        None,
        0,
        &[],
        &[],
    ));
    // (Sorted: issue order is by the second, and both may share one.)
    let mut kinds: Vec<&str> = j["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["ssh-user", "x509-client"], "{j}");
    assert!(!home.path("b").exists());
    // No credentials at all.
    check(
        h,
        &mtls_env(&d),
        &["ssh", "login", "--no-agent", "--out", &out("c")],
        None,
        2,
        &[],
        &["--cert"],
    );
}
