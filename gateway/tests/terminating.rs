//! ward-gateway terminating mode end to end (issue #13, items 4 and 6),
//! every component real: `ward-ca serve --dev`, the `ward` CLI, a joined
//! `ward-gateway run`, a stock `sshd` target on loopback whose host key is
//! certified by ward's SSH host CA, another one with a bare host key, and
//! the stock `ssh`, `scp` and `sftp` clients with `ACCOUNT%TARGET` as the
//! user name.
//!
//! Covered: exec with output and exit status (`exit 3` → 3), both
//! spellings of the user; a pty session (`ssh -tt`); scp (legacy, exec)
//! and sftp put/get; denied `host:Login` (another account, another host's
//! tag) shows ward's reason; malformed user names, an unknown target and a
//! target without a ward host certificate (no trust on first use) are
//! refused with their reason; the recording is asciicast v2 (header, `o`
//! events, monotonic times, 0600 in a 0700 directory) and `asciinema cat`
//! reproduces the output; the certificate inventory names the user and
//! the gateway; the session end reaches ward-ca's audit log with bytes and
//! the recording id.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

#[path = "../../ca/tests/sshd/mod.rs"]
mod sshd;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use support::{s, text, until, Ca, Client, Gateway, Scratch};

const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Action":"host:Login","Resource":"arn:ward:host::*:host/*",
     "Condition":{"StringEquals":{"ward:ResourceTag/env":"test","host:Service":"gateway",
                                  "host:Principal":"root"},
                  "IpAddress":{"ward:SourceIp":"127.0.0.0/8"}}},
    {"Effect":"Allow","Action":"ca:IssueSshUserCertificate","Resource":"*"}]}"#;

struct World {
    ca: Ca,
    gw: Gateway,
    _target: sshd::Sshd,
    _bare: sshd::Sshd,
    dir: Scratch,
    client: Client,
    recordings: PathBuf,
}

fn world() -> World {
    sshd::ensure_sshd();
    let ca = Ca::start("terminating");
    let dir = Scratch::new("terminating");
    let doc = dir.write("login.json", POLICY);
    ca.root(&["group", "create", "ops"]);
    ca.root(&["policy", "create", "login", "--document", s(&doc)]);
    ca.root(&["policy", "attach", "login", "--group", "ops"]);
    ca.root(&["user", "create", "alice"]);
    ca.root(&["group", "add-user", "ops", "alice"]);

    ca.root(&["host", "register", "web-01", "--tag", "env=test"]);
    ca.root(&["host", "register", "prod-01", "--tag", "env=prod"]);
    ca.root(&["host", "register", "bare-01", "--tag", "env=test"]);
    let sftp = "Subsystem sftp internal-sftp\n";
    let t = support::target(&ca, &dir, "web-01", true, sftp);
    let bare = support::target(&ca, &dir, "bare-01", false, sftp);
    ca.root(&[
        "host",
        "update",
        "prod-01",
        "--address",
        &format!("127.0.0.1:{}", t.port()),
    ]);
    let gw = Gateway::start(
        &ca,
        "gw-01",
        "dangerous_allow_loopback_targets = true\nmax_failed_auth_per_source = 1000",
    );
    for sshd in [&t, &bare] {
        sshd.set_trusted_user_ca_keys(gw.user_ca_keys().trim());
        sshd.set_principals("root", &["alice"]);
    }
    let gw_ca = ca.root(&["ssh", "known-hosts", "--pattern", "gw-01"]);
    // alice's ward certificate.
    let (key, cert) = ca.user_certificate(&dir, "alice");
    let client = Client::new(
        &dir,
        "alice",
        "gw-01",
        gw.port,
        &key,
        Some(cert.as_path()),
        gw_ca.trim(),
    );
    let recordings = gw.dir.path("state/recordings");
    World {
        ca,
        gw,
        _target: t,
        _bare: bare,
        dir,
        client,
        recordings,
    }
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn as_user(user: &str) -> String {
    format!("User={user}")
}

#[test]
fn terminating_mode_bridges_records_and_explains() {
    let w = world();
    let c = &w.client;
    let user = as_user("root%web-01");

    // exec through the gateway, both spellings of the destination.
    let out = c.ssh(&["-o", &user, "gw", "echo", "hi"]);
    assert!(out.status.success(), "exec: {}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");
    let port = w.gw.port.to_string();
    let out = c.ssh(&[
        "-p",
        &port,
        "-o",
        "HostKeyAlias=gw-01",
        "root%web-01@127.0.0.1",
        "echo",
        "spelled-out",
    ]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("spelled-out"),
        "{}",
        text(&out)
    );
    // Exit status and stderr propagate.
    let out = c.ssh(&["-o", &user, "gw", "echo oops >&2; exit 3"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(stderr(&out).contains("oops"), "{}", text(&out));

    // A pty session with a command.
    let out = c.ssh(&["-tt", "-o", &user, "gw", "tty; echo TERM=$TERM; exit 0"]);
    assert!(out.status.success(), "pty: {}", text(&out));
    let o = String::from_utf8_lossy(&out.stdout);
    assert!(o.contains("/dev/pts/"), "no pty on the target: {o}");

    // scp (legacy protocol: exec) and sftp (subsystem), both ways.
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let src = w.dir.path("payload.bin");
    std::fs::write(&src, &payload).unwrap();
    let remote = w.dir.path("remote.bin");
    let out = support::run(
        Command::new("scp")
            .arg("-F")
            .arg(&c.config)
            .args(["-O", "-q", "-o", &user])
            .arg(&src)
            .arg(format!("gw:{}", s(&remote))),
    );
    assert!(out.status.success(), "scp: {}", text(&out));
    assert_eq!(std::fs::read(&remote).unwrap(), payload, "scp bytes differ");
    let put = w.dir.path("put.bin");
    let got = w.dir.path("got.bin");
    let batch = w.dir.write(
        "sftp.batch",
        &format!("put {} {}\nget {} {}\n", s(&src), s(&put), s(&put), s(&got)),
    );
    let out = support::run(
        Command::new("sftp")
            .arg("-F")
            .arg(&c.config)
            .args(["-o", &user, "-b"])
            .arg(&batch)
            .arg("gw"),
    );
    assert!(out.status.success(), "sftp: {}", text(&out));
    assert_eq!(std::fs::read(&put).unwrap(), payload, "sftp put");
    assert_eq!(std::fs::read(&got).unwrap(), payload, "sftp get");

    // Denied paths show ward's reason.
    for (dest, why) in [
        ("admin%web-01", "host:Login"),
        ("root%prod-01", "host:Login"),
        ("root%web-09", "not a host registered with ward"),
        ("root%127.0.0.1", "is an IP address"),
        ("%web-01", "the account before % is empty"),
        ("root%", "the target after % is empty"),
        ("root%web-01%x", "more than one %"),
        ("ro+ot%web-01", "not an account name"),
        ("root%bare-01", "bare host key"),
    ] {
        let out = c.ssh(&["-o", &as_user(dest), "gw", "true"]);
        assert!(!out.status.success(), "{dest} got through");
        let e = stderr(&out);
        assert!(e.contains(why), "{dest}: {}", text(&out));
        if why == "host:Login" {
            assert!(e.contains("ward-gateway: denied"), "{dest}: {e}");
        }
    }
    // An overlong user name is refused at authentication.
    let long = format!("root%{}", "w".repeat(200));
    let out = c.ssh(&["-o", &as_user(&long), "gw", "true"]);
    assert!(!out.status.success(), "an overlong user got through");

    // Recordings: one per session, asciicast v2, private, playable.
    let dir_mode = std::fs::metadata(&w.recordings)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(dir_mode & 0o777, 0o700);
    let files = support::recordings(&w.recordings);
    assert!(files.len() >= 5, "{files:?}");
    let mut found_hi = None;
    for f in &files {
        assert_eq!(
            std::fs::metadata(f).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let (header, events) = support::parse_cast(f);
        let output: String = events
            .iter()
            .filter(|e| e.1 == "o")
            .map(|e| e.2.as_str())
            .collect();
        if output == "hi\n" {
            found_hi = Some(f.clone());
        }
        if output.contains("/dev/pts/") {
            assert!(header["env"]["TERM"].is_string(), "{header}");
        }
        assert!(!events.iter().any(|e| e.1 == "i"), "input recorded");
    }
    let hi = found_hi.expect("no recording of the echo hi session");
    // asciinema 2 opens /dev/tty: give it one with script(1).
    let cat = support::run(Command::new("script").args([
        "-q",
        "-e",
        "-c",
        &format!("asciinema cat {}", s(&hi)),
        "/dev/null",
    ]));
    assert!(cat.status.success(), "asciinema cat: {}", text(&cat));
    assert_eq!(
        String::from_utf8_lossy(&cat.stdout).replace('\r', ""),
        "hi\n",
        "{}",
        text(&cat)
    );
    let id = hi.file_stem().unwrap().to_str().unwrap().to_owned();

    // The inventory names the user and the gateway.
    let certs =
        w.ca.root_json(&["cert", "list", "--user", "alice", "--all"]);
    let via: Vec<&serde_json::Value> = certs["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["gateway"] == "gw-01")
        .collect();
    assert!(!via.is_empty(), "{certs}");
    assert!(
        via.iter().all(|c| c["principals"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "root")),
        "{certs}"
    );

    // The session end reached ward-ca's audit log: bytes and recording id.
    let delivered = until(Duration::from_secs(30), || {
        let ev = w.ca.root(&[
            "--output",
            "json",
            "audit",
            "list",
            "--action",
            "ward-gateway:RecordingEnd",
        ]);
        ev.contains(&format!("recording {id}")) && ev.contains("bytesOut 3")
    });
    assert!(delivered, "the session end was not audited");
    let ev = w.ca.root(&[
        "--output",
        "json",
        "audit",
        "list",
        "--action",
        "host:GatewaySessionCertificate",
    ]);
    assert!(ev.contains("gw-01") && ev.contains("alice"), "{ev}");

    // Live cuts reach terminating sessions: an open shell ends when the
    // user loses the group that grants host:Login, with the reason.
    let err_path = w.dir.path("live.stderr");
    let mut child = Command::new("ssh")
        .arg("-F")
        .arg(&c.config)
        .args(["-o", &user, "gw", "echo ready; sleep 60"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(
        line.trim(),
        "ready",
        "{}",
        std::fs::read_to_string(&err_path).unwrap_or_default()
    );
    w.ca.root(&["group", "remove-user", "ops", "alice"]);
    let ended = until(Duration::from_secs(30), || {
        child.try_wait().unwrap().is_some()
    });
    if !ended {
        let _ = child.kill();
    }
    let _ = child.wait();
    let err = std::fs::read_to_string(&err_path).unwrap_or_default();
    assert!(
        ended,
        "the terminating session outlived the group removal: {err}"
    );
    assert!(
        err.contains("ward: session ended") && err.contains("host:Login"),
        "{err}"
    );
    drop(w.gw);
}
