//! ward-gateway end to end (issue #13, foundation), every component real:
//! `ward-ca serve --dev`, the `ward` CLI, `ward-gateway join` with a
//! `--gateway` token and `ward-gateway run`, a stock `sshd` target on
//! loopback, and the stock `ssh`/`scp` clients jumping with `-J`.
//!
//! Covered: the gateway's host key is trusted through `@cert-authority`
//! under its ward name; an allowed ProxyJump runs `true` and copies a file
//! with scp; a path policy denies (another host's tag, a user outside the
//! group) shows ward's reason to the client; unregistered targets, raw IPs
//! and odd ports are refused with their reason; an unknown (deleted),
//! disabled or revoked user's certificate does not authenticate, nor a
//! registered key under another user's name, while a registered key
//! does; the decisions reach ward-ca's audit log; a client stalled
//! mid-handshake does not block another and is cut at the handshake
//! deadline; hundreds of channel opens on one connection are bounded and
//! the connection's slots come back when channels close.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

#[path = "../../ca/tests/sshd/mod.rs"]
mod sshd;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use support::{s, text, until, Ca, Client, Gateway, Proc, Scratch};

const CONNECT_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Action":"host:Connect","Resource":"arn:ward:host::*:host/*",
     "Condition":{"StringEquals":{"ward:ResourceTag/env":"test","host:Service":"gateway"},
                  "IpAddress":{"ward:SourceIp":"127.0.0.0/8"}}},
    {"Effect":"Allow","Action":"ca:IssueSshUserCertificate","Resource":"*"}]}"#;

const CERT_ONLY_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Action":"ca:IssueSshUserCertificate","Resource":"*"}]}"#;

struct World {
    ca: Ca,
    gw: Gateway,
    target: sshd::Sshd,
    dir: Scratch,
    known_hosts: String,
}

impl World {
    /// A certificate for `name` from `ward ssh login`: (key, cert).
    fn cert(&self, name: &str) -> (PathBuf, PathBuf) {
        self.ca.user_certificate(&self.dir, name)
    }

    fn client(&self, user: &str, key: &Path, cert: Option<&Path>) -> Client {
        Client::new(
            &self.dir,
            user,
            "gw-01",
            self.gw.port,
            key,
            cert,
            &self.known_hosts,
        )
    }
}

fn world(name: &str, gateway_extra: &str) -> World {
    sshd::ensure_sshd();
    let ca = Ca::start(name);
    let dir = Scratch::new(name);
    let doc = dir.write("connect.json", CONNECT_POLICY);
    let cert_only = dir.write("cert-only.json", CERT_ONLY_POLICY);
    ca.root(&["group", "create", "ops"]);
    ca.root(&["policy", "create", "connect", "--document", s(&doc)]);
    ca.root(&["policy", "attach", "connect", "--group", "ops"]);
    ca.root(&["policy", "create", "cert-only", "--document", s(&cert_only)]);
    for u in ["alice", "carol", "dave", "eve"] {
        ca.root(&["user", "create", u]);
        ca.root(&["group", "add-user", "ops", u]);
    }
    // bob may get certificates but is not in ops.
    ca.root(&["user", "create", "bob"]);
    ca.root(&["policy", "attach", "cert-only", "--user", "bob"]);

    let target = sshd::Sshd::start("Subsystem sftp internal-sftp\n");
    ca.root(&[
        "host", "register", "web-01", "--alias", "www", "--tag", "env=test",
    ]);
    let updated = ca.root_json(&[
        "host",
        "update",
        "web-01",
        "--address",
        &format!("127.0.0.1:{}", target.port()),
    ]);
    assert_eq!(
        updated["address"].as_str(),
        Some(format!("127.0.0.1:{}", target.port()).as_str()),
        "{updated}"
    );
    ca.root(&["host", "register", "prod-01", "--tag", "env=prod"]);
    ca.root(&[
        "host",
        "update",
        "prod-01",
        "--address",
        &format!("127.0.0.1:{}", target.port()),
    ]);
    // A registered name whose address is the metadata service.
    ca.root(&["host", "register", "meta-01", "--tag", "env=test"]);
    ca.root(&["host", "update", "meta-01", "--address", "169.254.169.254"]);

    let gw = Gateway::start(&ca, "gw-01", gateway_extra);
    let listed = ca.root_json(&["host", "get", "gw-01"]);
    assert_eq!(listed["kind"].as_str(), Some("gateway"), "{listed}");

    // The target trusts ward's user CA and lets every ward user in as root.
    target.set_trusted_user_ca_keys(gw.user_ca_keys().trim());
    target.set_principals("root", &["alice", "bob", "carol", "dave", "eve"]);

    let gw_ca = ca.root(&["ssh", "known-hosts", "--pattern", "gw-01"]);
    let target_key = target.host_public_key();
    let target_key = target_key
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    let known_hosts = format!("{}\nweb-01,www,prod-01 {target_key}\n", gw_ca.trim());
    World {
        ca,
        gw,
        target,
        dir,
        known_hosts,
    }
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn proxyjump_through_ward_gateway_is_decided_by_policy() {
    let w = world(
        "proxyjump",
        "dangerous_allow_loopback_targets = true\nmax_failed_auth_per_source = 1000",
    );
    let (alice_key, alice_cert) = w.cert("alice");
    let alice = w.client("alice", &alice_key, Some(alice_cert.as_path()));

    // Allowed: run `true` on the target through the gateway.
    let out = alice.ssh(&["-J", "gw", "root@web-01", "true"]);
    assert!(out.status.success(), "ssh -J allowed path: {}", text(&out));
    // By alias, and with the registered port explicitly.
    let port = w.target.port().to_string();
    let out = alice.ssh(&["-J", "gw", "-p", &port, "root@www", "echo", "via-alias"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("via-alias"),
        "alias: {}",
        text(&out)
    );
    // scp through the jump.
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let src = w.dir.path("payload.bin");
    std::fs::write(&src, &payload).unwrap();
    let dst = w.dir.path("copied.bin");
    let out = support::run(
        Command::new("scp")
            .arg("-F")
            .arg(&alice.config)
            .args(["-q", "-J", "gw"])
            .arg(&src)
            .arg(format!("root@web-01:{}", s(&dst))),
    );
    assert!(out.status.success(), "scp: {}", text(&out));
    assert_eq!(
        std::fs::read(&dst).unwrap(),
        payload,
        "scp copied other bytes"
    );

    // Denied by policy: the reason reaches the client.
    let out = alice.ssh(&["-J", "gw", "root@prod-01", "true"]);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(
        e.contains("ward-gateway: denied") && e.contains("host:Connect") && e.contains("prod-01"),
        "denied path must explain: {e}"
    );
    let (bob_key, bob_cert) = w.cert("bob");
    let bob = w.client("bob", &bob_key, Some(bob_cert.as_path()));
    let out = bob.ssh(&["-J", "gw", "root@web-01", "true"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("ward-gateway: denied"),
        "bob: {}",
        text(&out)
    );

    // Refused targets, each with its reason.
    for (dest, extra, why) in [
        ("root@web-09", vec![], "not a host registered with ward"),
        ("root@127.0.0.1", vec![], "is an IP address"),
        (
            "root@web-01",
            vec!["-p", "2223"],
            "is not the SSH port of web-01",
        ),
        ("root@meta-01", vec![], "169.254.169.254 is link-local"),
    ] {
        let mut args = vec!["-J", "gw"];
        args.extend(extra.iter().copied());
        args.extend([dest, "true"]);
        let out = alice.ssh(&args);
        assert!(!out.status.success(), "{dest} was reached");
        assert!(stderr(&out).contains(why), "{dest}: {}", text(&out));
    }

    // Certificates: deleted, disabled and revoked users do not get in.
    let (eve_key, eve_cert) = w.cert("eve");
    let (carol_key, carol_cert) = w.cert("carol");
    let (dave_key, dave_cert) = w.cert("dave");
    let eve = w.client("eve", &eve_key, Some(eve_cert.as_path()));
    let carol = w.client("carol", &carol_key, Some(carol_cert.as_path()));
    let dave = w.client("dave", &dave_key, Some(dave_cert.as_path()));
    for c in [&eve, &carol, &dave] {
        let out = c.ssh(&["-J", "gw", "root@web-01", "true"]);
        assert!(out.status.success(), "before: {}", text(&out));
    }
    w.ca.root(&["group", "remove-user", "ops", "eve"]);
    let keys = w.ca.root_json(&["access-key", "list", "eve"]);
    for k in keys["accessKeys"].as_array().unwrap() {
        w.ca.root(&[
            "access-key",
            "delete",
            "eve",
            k["accessKeyId"].as_str().unwrap(),
        ]);
    }
    w.ca.root(&["user", "delete", "eve"]);
    w.ca.root(&["user", "disable", "carol"]);
    w.ca.root(&["cert", "revoke", "--user", "dave"]);
    for (who, c) in [("eve", &eve), ("carol", &carol), ("dave", &dave)] {
        let refused = until(Duration::from_secs(30), || {
            let out = c.ssh(&["-J", "gw", "root@web-01", "true"]);
            !out.status.success() && stderr(&out).contains("Permission denied")
        });
        assert!(
            refused,
            "{who}'s certificate still gets through the gateway"
        );
    }

    // A registered key authenticates as its owner only.
    let reg = sshd::keygen(&w.dir.0, "alice-registered", &["-t", "ed25519"]);
    w.ca.root(&["ssh-key", "upload", "alice", &format!("{}.pub", s(&reg))]);
    let by_key = w.client("alice", &reg, None);
    assert!(
        until(Duration::from_secs(30), || by_key
            .ssh(&[
                "-J",
                "gw",
                "-i",
                s(&alice_key),
                "-o",
                &format!("CertificateFile={}", s(&alice_cert)),
                "root@web-01",
                "true"
            ])
            .status
            .success()),
        "a registered key did not authenticate at the gateway"
    );
    let as_bob = Client::new(
        &w.dir,
        "bob",
        "gw-01",
        w.gw.port,
        &reg,
        None,
        &w.known_hosts,
    );
    let out = as_bob.ssh(&["-J", "gw", "root@web-01", "true"]);
    assert!(!out.status.success(), "alice's key logged in as bob");

    // Decisions reached ward-ca's audit log.
    let delivered = until(Duration::from_secs(30), || {
        let events = w.ca.root(&[
            "--output",
            "json",
            "audit",
            "list",
            "--action",
            "host:Connect",
        ]);
        events.contains("prod-01") && events.contains("Allowed")
    });
    assert!(delivered, "host:Connect decisions were not delivered");
    let auth = w.ca.root(&[
        "--output",
        "json",
        "audit",
        "list",
        "--action",
        "ward-gateway:Authenticate",
    ]);
    assert!(auth.contains("ssh-certificate"), "{auth}");
}

#[test]
fn a_stalled_handshake_and_a_channel_flood_are_bounded() {
    let w = world(
        "bounds",
        "dangerous_allow_loopback_targets = true\nhandshake_timeout_seconds = 5\nmax_channels_per_connection = 4",
    );
    let (key, cert) = w.cert("alice");
    let alice = w.client("alice", &key, Some(cert.as_path()));

    // A client that sends its version and stalls in the key exchange.
    let mut stalled = std::net::TcpStream::connect(("127.0.0.1", w.gw.port)).unwrap();
    stalled.write_all(b"SSH-2.0-stall\r\n").unwrap();
    // Another client gets through meanwhile.
    let out = alice.ssh(&["-J", "gw", "root@web-01", "true"]);
    assert!(
        out.status.success(),
        "blocked by a stalled client: {}",
        text(&out)
    );
    // The stalled one is cut at the handshake deadline (the read ends; the
    // 60 s read timeout only guards against a hang).
    stalled
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut buf = Vec::new();
    let r = stalled.read_to_end(&mut buf);
    assert!(
        r.is_ok()
            || r.as_ref()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
        "the stalled connection was not closed: {r:?}"
    );

    // Channel flood on one connection (a ControlMaster): 4 held open, the
    // rest refused with the reason, slots return when channels close.
    let ctl = w.dir.path("ctl");
    // The master logs each refused channel with the gateway's reason.
    let master_log = w.dir.path("master.log");
    let master = Proc(
        Command::new("ssh")
            .arg("-F")
            .arg(&alice.config)
            .args(["-M", "-N", "-S", s(&ctl), "gw"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&master_log).unwrap())
            .spawn()
            .unwrap(),
    );
    assert!(
        until(Duration::from_secs(30), || ctl.exists()),
        "no control socket"
    );
    let open_fwd = || {
        Command::new("ssh")
            .arg("-F")
            .arg(&alice.config)
            .args(["-S", s(&ctl), "-W", "web-01:22", "gw"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut c = open_fwd();
        // The target's banner proves the channel is open.
        let mut line = [0u8; 8];
        c.stdout.as_mut().unwrap().read_exact(&mut line).unwrap();
        assert_eq!(&line, b"SSH-2.0-");
        held.push(Proc(c));
    }
    for _ in 0..200 {
        let out = open_fwd().wait_with_output().unwrap();
        assert!(!out.status.success(), "a channel beyond the limit opened");
    }
    let reasons = |log: &str| {
        log.matches("ward-gateway: at most 4 channels at once")
            .count()
    };
    assert!(
        until(Duration::from_secs(30), || reasons(
            &std::fs::read_to_string(&master_log).unwrap_or_default()
        ) == 200),
        "every channel beyond the limit is refused with the reason: {}",
        std::fs::read_to_string(&master_log).unwrap_or_default()
    );
    // Other connections are unaffected.
    let out = alice.ssh(&["-J", "gw", "root@web-01", "true"]);
    assert!(out.status.success(), "{}", text(&out));
    // Close the held channels: the connection gets its slots back.
    drop(held);
    assert!(
        until(Duration::from_secs(30), || {
            let mut c = open_fwd();
            let mut line = [0u8; 8];
            let ok =
                c.stdout.as_mut().unwrap().read_exact(&mut line).is_ok() && &line == b"SSH-2.0-";
            drop(Proc(c));
            ok
        }),
        "channel slots did not come back"
    );
    drop(master);
}
