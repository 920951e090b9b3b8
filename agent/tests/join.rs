//! `ward-agent join` against servers that are not ward-ca: a closed port,
//! a plain TCP peer, and a real TLS server (`openssl s_server`) to check
//! first-contact trust (web roots, `--ca-bundle`, `--ca-fingerprint`).
//! Every failed join writes nothing: no state directory, no SSH host key,
//! no sshd files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::{names, run, write_config, TempDir};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a leaf for 127.0.0.1 signed by it, in `dir`.
fn make_pki(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=not-ward-ca",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=leaf",
        ],
    );
    std::fs::write(
        dir.join("ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            "1",
            "-extfile",
            "ext",
        ],
    );
}

fn fingerprint(pem: &Path) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(pem)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    // "sha256 Fingerprint=AA:BB:…" (the agent takes this spelling).
    text.trim().to_string()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `openssl s_server -www` with the leaf and the CA in its chain.
struct TlsServer {
    child: Child,
    port: u16,
}

impl TlsServer {
    fn start(pki: &Path) -> TlsServer {
        let port = free_port();
        let mut child = Command::new("openssl")
            .args(["s_server", "-accept", &port.to_string()])
            .args([
                "-cert",
                "leaf.pem",
                "-key",
                "leaf.key",
                "-cert_chain",
                "ca.pem",
                "-www",
            ])
            .current_dir(pki)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while out.read_line(&mut line).unwrap() > 0 && !line.contains("ACCEPT") {
            line.clear();
        }
        assert!(line.contains("ACCEPT"), "s_server did not start");
        std::thread::spawn(move || {
            let mut sink = String::new();
            while out.read_line(&mut sink).unwrap_or(0) > 0 {
                sink.clear();
            }
        });
        TlsServer { child, port }
    }
    fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.stdin.take().map(|mut s| s.write_all(b"Q\n"));
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a join with `args` in a fresh directory; asserts it failed and
/// wrote nothing; returns stderr.
fn failed_join(args: &[&str]) -> String {
    let dir = TempDir::new("join");
    let cfg = write_config(&dir, "");
    let before = names(dir.path());
    let mut all = vec!["--config", cfg.to_str().unwrap(), "join"];
    all.extend_from_slice(args);
    let (ok, out, err) = run(&all);
    assert!(!ok, "join succeeded: {out}");
    assert_eq!(
        names(dir.path()),
        before,
        "a failed join wrote files: {err}"
    );
    assert!(!dir.join("state").exists());
    assert!(err.starts_with("ward-agent: "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn a_closed_port_is_a_clean_error() {
    let port = free_port();
    let err = failed_join(&[&format!("https://127.0.0.1:{port}"), "wjt_token"]);
    assert!(err.contains("unreachable"), "{err}");
}

#[test]
fn a_peer_that_does_not_speak_tls_is_a_clean_error() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let t = std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let _ = s.write_all(b"SSH-2.0-OpenSSH_9.2\r\n");
        }
    });
    let err = failed_join(&[&format!("https://127.0.0.1:{port}"), "wjt_token"]);
    assert!(err.contains("unreachable"), "{err}");
    t.join().unwrap();
}

#[test]
fn first_contact_trust_web_roots_bundle_and_fingerprint_pin() {
    let pki = TempDir::new("pki");
    make_pki(pki.path());
    let ca_fp = fingerprint(&pki.join("ca.pem"));
    let leaf_fp = fingerprint(&pki.join("leaf.pem"));
    let bundle = pki.join("ca.pem");

    // The web roots do not know this CA.
    let s = TlsServer::start(pki.path());
    let err = failed_join(&[&s.url(), "wjt_token"]);
    assert!(err.contains("UnknownIssuer"), "{err}");
    drop(s);

    // A pin that matches nothing in the chain.
    let s = TlsServer::start(pki.path());
    let wrong = "SHA256:".to_string() + &"00".repeat(32);
    let err = failed_join(&["--ca-fingerprint", &wrong, &s.url(), "wjt_token"]);
    assert!(err.contains("pinned fingerprint"), "{err}");
    assert!(err.contains("--ca-bundle"), "{err}");
    drop(s);

    // Pinning the CA, pinning the leaf, or the CA as bundle: TLS is
    // accepted, and the join then fails on the answer (s_server is not
    // ward-ca) — still writing nothing.
    for trust in [
        vec!["--ca-fingerprint", ca_fp.as_str()],
        vec!["--ca-fingerprint", leaf_fp.as_str()],
        vec!["--ca-bundle", bundle.to_str().unwrap()],
    ] {
        let s = TlsServer::start(pki.path());
        let mut args = trust.clone();
        let url = s.url();
        args.extend_from_slice(&[url.as_str(), "wjt_token"]);
        let err = failed_join(&args);
        eprintln!("{trust:?}: {err}");
        // Past the handshake: the request went out and the answer was
        // not ward-ca's.
        assert!(
            err.contains("status line") || err.contains("answer"),
            "{trust:?}: {err}"
        );
        assert!(
            !err.contains("UnknownIssuer")
                && !err.contains("pinned")
                && !err.contains("certificate"),
            "{trust:?}: {err}"
        );
    }
}

#[test]
fn bad_flags_and_tokens_are_refused_before_any_contact() {
    let err = failed_join(&["--ca-fingerprint", "abcd", "https://127.0.0.1:1", "wjt"]);
    assert!(err.contains("--ca-fingerprint"), "{err}");
    let err = failed_join(&["http://127.0.0.1:1", "wjt"]);
    assert!(err.contains("https://"), "{err}");
    let err = failed_join(&["https://127.0.0.1:1", "wjt with spaces"]);
    assert!(err.contains("token"), "{err}");
    // `-` reads stdin; an empty stdin is no token.
    let err = failed_join(&["https://127.0.0.1:1", "-"]);
    assert!(err.contains("token"), "{err}");
}
