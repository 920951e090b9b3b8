//! The end-to-end harness shared by the CLI's API tests (`api_cli.rs`,
//! `ca_cli.rs`): scratch directories, a real `ward-ca serve --dev` on a
//! free loopback port (killed on drop), and `ward` runs with a clean
//! environment (only HOME and the variables a test sets), so the
//! developer's own `~/.ward` and `WARD_*` never leak in.
//!
//! Included with `#[path]` by each test crate, which uses a subset.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

pub(crate) const WARD: &str = env!("CARGO_BIN_EXE_ward");

/// A scratch directory removed on drop.
pub(crate) struct Scratch(pub(crate) PathBuf);

impl Scratch {
    pub(crate) fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("ward-api-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }

    pub(crate) fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.0.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The ward-ca binary next to ward, built (or brought up to date) once per
/// test run: ward-cli does not depend on ward-ca, so `cargo test -p
/// ward-cli` alone would run a stale daemon that lacks new routes.
pub(crate) fn ward_ca() -> PathBuf {
    static BUILT: Mutex<bool> = Mutex::new(false);
    let path = Path::new(WARD).with_file_name("ward-ca");
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !*built {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "--quiet", "-p", "ward-ca", "--bin", "ward-ca"])
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
        if path.parent().and_then(|p| p.file_name()) == Some("release".as_ref()) {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("running cargo build -p ward-ca");
        assert!(status.success(), "cargo build -p ward-ca failed");
        *built = true;
    }
    assert!(path.exists(), "{} missing", path.display());
    path
}

/// A free loopback port (bound, then released).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `ward-ca serve --dev`, killed on drop, with the root
/// credentials it printed.
pub(crate) struct Daemon {
    child: Child,
    dir: Scratch,
    /// `WARD_ENDPOINT`, `WARD_CA_BUNDLE`, `WARD_ACCESS_KEY_ID`, `WARD_SECRET_ACCESS_KEY`.
    pub(crate) root: HashMap<String, String>,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    pub(crate) fn start(name: &str) -> Daemon {
        let bin = ward_ca();
        for _ in 0..3 {
            let dir = Scratch::new(&format!("{name}-ca"));
            if let Some(d) = Daemon::try_start(&bin, dir) {
                return d;
            }
        }
        panic!("ward-ca did not start");
    }

    fn try_start(bin: &Path, dir: Scratch) -> Option<Daemon> {
        let port = free_port();
        let log = std::fs::File::create(dir.path("ward-ca.log")).unwrap();
        let mut child = Command::new(bin)
            .args(["serve", "--dev", "--data-dir"])
            .arg(dir.path("data"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("WARD_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        // Read stdout on a thread (and keep draining it) so a slow or dead
        // daemon cannot hang the test.
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    // Nobody listens any more: keep draining.
                    continue;
                }
            }
        });
        let mut root = HashMap::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while root.len() < 4 {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(kv) = line.trim().strip_prefix("export ") {
                        if let Some((k, v)) = kv.split_once('=') {
                            root.insert(k.to_owned(), v.to_owned());
                        }
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let log = std::fs::read_to_string(dir.path("ward-ca.log")).unwrap_or_default();
                    eprintln!("ward-ca did not print credentials; log:\n{log}");
                    return None;
                }
            }
        }
        let d = Daemon { child, dir, root };
        if d.wait_healthy() {
            Some(d)
        } else {
            let log = std::fs::read_to_string(d.dir.path("ward-ca.log")).unwrap_or_default();
            eprintln!("ward-ca not healthy; log:\n{log}");
            None
        }
    }

    /// Polls `GET /healthz` over TLS, trusting the daemon's own root.
    fn wait_healthy(&self) -> bool {
        let pem = std::fs::read(&self.root["WARD_CA_BUNDLE"]).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pemfile::certs(&mut pem.as_slice()) {
            roots.add(c.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let agent = ureq::AgentBuilder::new()
            .tls_config(Arc::new(tls))
            .timeout(Duration::from_secs(2))
            .build();
        let url = format!("{}/healthz", self.root["WARD_ENDPOINT"]);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(r) = agent.get(&url).call() {
                if r.status() == 200 {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// The ward-ca process id (tests pause it with SIGSTOP).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn endpoint(&self) -> &str {
        &self.root["WARD_ENDPOINT"]
    }

    pub(crate) fn bundle(&self) -> &str {
        &self.root["WARD_CA_BUNDLE"]
    }

    /// Environment for the root user.
    pub(crate) fn root_env(&self) -> Vec<(String, String)> {
        self.root
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Environment for an access key pair.
    pub(crate) fn key_env(&self, id: &str, secret: &str) -> Vec<(String, String)> {
        vec![
            ("WARD_ENDPOINT".into(), self.endpoint().into()),
            ("WARD_CA_BUNDLE".into(), self.bundle().into()),
            ("WARD_ACCESS_KEY_ID".into(), id.into()),
            ("WARD_SECRET_ACCESS_KEY".into(), secret.into()),
        ]
    }
}

/// Runs ward with exactly `env` (plus HOME) and optional stdin.
pub(crate) fn ward(
    home: &Path,
    env: &[(String, String)],
    args: &[&str],
    stdin: Option<&str>,
) -> Output {
    let mut child = Command::new(WARD)
        .args(args)
        .env_clear()
        .env("HOME", home)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        let mut si = child.stdin.take().unwrap();
        let _ = si.write_all(input.as_bytes());
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "ward panicked: {stderr}");
    out
}

/// Runs ward and checks the exit code and fragments of stdout and stderr;
/// returns stdout.
#[track_caller]
pub(crate) fn check(
    home: &Path,
    env: &[(String, String)],
    args: &[&str],
    stdin: Option<&str>,
    code: i32,
    stdout_has: &[&str],
    stderr_has: &[&str],
) -> String {
    let out = ward(home, env, args, stdin);
    let (so, se) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert_eq!(
        out.status.code(),
        Some(code),
        "ward {args:?}\nstdout: {so}\nstderr: {se}"
    );
    for s in stdout_has {
        assert!(
            so.contains(s),
            "ward {args:?}: stdout lacks {s:?}\nstdout: {so}\nstderr: {se}"
        );
    }
    for s in stderr_has {
        assert!(
            se.contains(s),
            "ward {args:?}: stderr lacks {s:?}\nstdout: {so}\nstderr: {se}"
        );
    }
    so
}

pub(crate) fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}
