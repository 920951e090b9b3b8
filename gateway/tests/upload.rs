//! ward-gateway uploads each finished recording to ward-ca (issue #15),
//! every component real: `ward-ca serve --dev`, the `ward` CLI, a joined
//! `ward-gateway run`, a stock `sshd` target certified by ward's SSH host
//! CA, and the stock `ssh` client in terminating mode.
//!
//! Covered: after a session, `ward recording get ID` returns exactly the
//! bytes of the gateway's `ID.cast` (and the gateway marks it uploaded);
//! with ward-ca stopped while a session runs, the session goes on and
//! ends normally, the recording is not uploaded while ward-ca is down
//! (the gateway logs the failed attempt and keeps the file), and it is
//! uploaded, byte-equal, once ward-ca is back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

#[path = "../../ca/tests/sshd/mod.rs"]
mod sshd;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use support::{s, text, until, Ca, Client, Gateway, Scratch};

const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Action":"host:Login","Resource":"arn:ward:host::*:host/*",
     "Condition":{"StringEquals":{"ward:ResourceTag/env":"test","host:Service":"gateway",
                                  "host:Principal":"root"}}},
    {"Effect":"Allow","Action":"ca:IssueSshUserCertificate","Resource":"*"}]}"#;

fn id_of(cast: &Path) -> String {
    cast.file_stem().unwrap().to_str().unwrap().to_owned()
}

fn uploaded(dir: &Path, id: &str) -> bool {
    dir.join(format!("{id}.cast.uploaded")).exists()
}

/// `ward recording get ID --out FILE` as root: the bytes, or `None` if it
/// failed (with its output for the message).
fn from_ca(ca: &Ca, dir: &Scratch, id: &str) -> Result<Vec<u8>, String> {
    let out_file = dir.path(&format!("{id}.from-ca.cast"));
    let out = ca.ward(
        &ca.root_env(),
        &["recording", "get", id, "--out", s(&out_file)],
    );
    if out.status.success() {
        Ok(std::fs::read(&out_file).unwrap())
    } else {
        Err(text(&out))
    }
}

/// The recordings in `dir` that are not in `before`.
fn new_casts(dir: &Path, before: &[PathBuf]) -> Vec<PathBuf> {
    support::recordings(dir)
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect()
}

#[test]
fn recordings_reach_ward_ca_byte_equal_even_after_an_outage() {
    sshd::ensure_sshd();
    let mut ca = Ca::start("upload");
    let dir = Scratch::new("upload");
    let doc = dir.write("login.json", POLICY);
    ca.root(&["policy", "create", "login", "--document", s(&doc)]);
    ca.root(&["user", "create", "alice"]);
    ca.root(&["policy", "attach", "login", "--user", "alice"]);
    ca.root(&["host", "register", "web-01", "--tag", "env=test"]);
    let target = support::target(&ca, &dir, "web-01", true, "");
    let gw = Gateway::start(&ca, "gw-01", "dangerous_allow_loopback_targets = true");
    target.set_trusted_user_ca_keys(gw.user_ca_keys().trim());
    target.set_principals("root", &["alice"]);
    let gw_ca = ca.root(&["ssh", "known-hosts", "--pattern", "gw-01"]);
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
    let user = "User=root%web-01";

    // 1. A session; its recording reaches ward-ca, byte for byte.
    let out = client.ssh(&["-o", user, "gw", "echo", "first-session"]);
    assert!(out.status.success(), "{}", text(&out));
    let casts = support::recordings(&recordings);
    assert_eq!(casts.len(), 1, "{casts:?}");
    let first = id_of(&casts[0]);
    let mut last = String::new();
    assert!(
        until(Duration::from_secs(90), || {
            match from_ca(&ca, &dir, &first) {
                Ok(b) => {
                    last.clear();
                    b == std::fs::read(&casts[0]).unwrap()
                }
                Err(e) => {
                    last = e;
                    false
                }
            }
        }),
        "the recording never reached ward-ca: {last}\n{}",
        gw.log()
    );
    assert!(
        until(Duration::from_secs(10), || uploaded(&recordings, &first)),
        "no upload marker: {}",
        gw.log()
    );
    assert!(String::from_utf8_lossy(&std::fs::read(&casts[0]).unwrap()).contains("first-session"));
    let listed = ca.root(&["--output", "json", "recording", "list"]);
    assert!(
        listed.contains(&first) && listed.contains("gw-01"),
        "{listed}"
    );

    // 2. ward-ca goes away while a session runs: the session is not
    // disturbed, and its recording waits on the gateway.
    let before = support::recordings(&recordings);
    let mut child = Command::new("ssh")
        .arg("-F")
        .arg(&client.config)
        .args(["-T", "-o", user, "gw", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let echo = |stdin: &mut std::process::ChildStdin, word: &str| {
        stdin.write_all(format!("{word}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
        let got = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_default();
        assert_eq!(got, word, "the session did not echo");
    };
    echo(&mut stdin, "before-the-outage");
    ca.stop();
    echo(&mut stdin, "during-the-outage");
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let new = new_casts(&recordings, &before);
    assert_eq!(new.len(), 1, "{new:?}");
    let second = id_of(&new[0]);
    // An attempt was made and failed (ward-ca is down): logged, kept.
    assert!(
        until(Duration::from_secs(60), || gw
            .log()
            .contains(&format!("recording {second}: "))),
        "no upload attempt logged: {}",
        gw.log()
    );
    assert!(
        !uploaded(&recordings, &second),
        "uploaded to a stopped ward-ca"
    );
    assert!(new[0].exists());

    // 3. ward-ca is back: the recording arrives, byte for byte.
    ca.restart();
    assert!(
        until(Duration::from_secs(120), || uploaded(&recordings, &second)),
        "the recording was not uploaded after ward-ca came back: {}",
        gw.log()
    );
    let stored = from_ca(&ca, &dir, &second).unwrap();
    let local = std::fs::read(&new[0]).unwrap();
    assert_eq!(
        stored, local,
        "ward-ca's copy differs from the gateway's file"
    );
    let text_cast = String::from_utf8_lossy(&local);
    assert!(text_cast.contains("during-the-outage"), "{text_cast}");
    drop(target);
}
