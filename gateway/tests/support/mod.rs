//! The gateway's end-to-end harness: the real `ward` and `ward-ca`
//! binaries (built once from the test: ward-gateway depends on neither),
//! a `ward-ca serve --dev` on a free loopback port, a joined and running
//! `ward-gateway`, and stock `ssh` client configurations that jump through
//! it. Everything is killed and removed on drop.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

pub const GATEWAY: &str = env!("CARGO_BIN_EXE_ward-gateway");

/// `ward` and `ward-ca`, next to ward-gateway, built (or brought up to
/// date) once per test binary.
pub fn bins() -> (PathBuf, PathBuf) {
    static BUILT: Mutex<bool> = Mutex::new(false);
    let dir = Path::new(GATEWAY).parent().unwrap().to_owned();
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !*built {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args([
            "build", "--quiet", "-p", "ward-cli", "--bin", "ward", "-p", "ward-ca", "--bin",
            "ward-ca",
        ])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
        if dir.file_name() == Some("release".as_ref()) {
            cmd.arg("--release");
        }
        assert!(cmd.status().unwrap().success(), "cargo build ward ward-ca");
        *built = true;
    }
    (dir.join("ward"), dir.join("ward-ca"))
}

/// A scratch directory removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("ward-gw-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    pub fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
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

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

pub fn text(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Polls `f` every 50 ms until true; `false` after `limit` (a hang guard,
/// not a timing assertion).
pub fn until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let t = Instant::now();
    while t.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Runs `cmd` with stdin closed, killing it after 60 s.
pub fn run(cmd: &mut Command) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            // Our own child, by pid.
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("{cmd:?} hung");
        }
    }
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Spawns `cmd`, an `ssh` whose remote command prints `ready` and then
/// stays (`echo ready; sleep N`), its stderr going to the file `err`;
/// returns once the remote command runs.
pub fn open_session(cmd: &mut Command, err: &Path) -> Child {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(err).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(
        line.trim(),
        "ready",
        "the session did not open: {}",
        std::fs::read_to_string(err).unwrap_or_default()
    );
    child
}

/// Waits (at most `limit`, a hang guard) for a session [`open_session`]
/// opened to end; its stderr.
pub fn ended(mut child: Child, err: &Path, limit: Duration) -> String {
    let done = until(limit, || child.try_wait().unwrap().is_some());
    if !done {
        let _ = child.kill();
    }
    let _ = child.wait();
    let e = std::fs::read_to_string(err).unwrap_or_default();
    assert!(done, "the session did not end: {e}");
    e
}

/// A child process killed on drop.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running `ward-ca serve --dev` and the root credentials it printed.
pub struct Ca {
    _child: Proc,
    listen: String,
    pub dir: Scratch,
    pub root: HashMap<String, String>,
    pub ward: PathBuf,
    pub home: PathBuf,
}

impl Ca {
    pub fn start(name: &str) -> Ca {
        let (ward, ward_ca) = bins();
        let dir = Scratch::new(&format!("{name}-ca"));
        let port = free_port();
        let log = std::fs::File::create(dir.path("ward-ca.log")).unwrap();
        let mut child = Command::new(&ward_ca)
            .args(["serve", "--dev", "--data-dir"])
            .arg(dir.path("data"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("WARD_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let child = Proc(child);
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let mut root = HashMap::new();
        while root.len() < 4 {
            let line = rx
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| {
                    panic!(
                        "ward-ca printed no credentials: {}",
                        std::fs::read_to_string(dir.path("ward-ca.log")).unwrap_or_default()
                    )
                });
            if let Some((k, v)) = line
                .trim()
                .strip_prefix("export ")
                .and_then(|kv| kv.split_once('='))
            {
                root.insert(k.to_owned(), v.to_owned());
            }
        }
        let home = dir.path("home");
        std::fs::create_dir_all(&home).unwrap();
        let ca = Ca {
            _child: child,
            listen: format!("127.0.0.1:{port}"),
            dir,
            root,
            ward,
            home,
        };
        assert!(
            until(Duration::from_secs(30), || ca
                .ward(&ca.root_env(), &["user", "list"])
                .status
                .success()),
            "ward-ca never answered"
        );
        ca
    }

    /// Stops ward-ca (killed: as abruptly as a crash or an outage).
    pub fn stop(&mut self) {
        let _ = self._child.0.kill();
        let _ = self._child.0.wait();
    }

    /// Starts ward-ca again on the same data directory and address; returns
    /// once it answers.
    pub fn restart(&mut self) {
        self.stop();
        let (_, ward_ca) = bins();
        let log = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(self.dir.path("ward-ca.log"))
            .unwrap();
        self._child = Proc(
            Command::new(&ward_ca)
                .args(["serve", "--dev", "--data-dir"])
                .arg(self.dir.path("data"))
                .args(["--listen", &self.listen])
                .env("WARD_LOG", "warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
        assert!(
            until(Duration::from_secs(60), || self
                .ward(&self.root_env(), &["user", "list"])
                .status
                .success()),
            "ward-ca did not come back: {}",
            std::fs::read_to_string(self.dir.path("ward-ca.log")).unwrap_or_default()
        );
    }

    pub fn endpoint(&self) -> &str {
        &self.root["WARD_ENDPOINT"]
    }

    pub fn bundle(&self) -> &str {
        &self.root["WARD_CA_BUNDLE"]
    }

    pub fn root_env(&self) -> Vec<(String, String)> {
        self.root
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    pub fn key_env(&self, id: &str, secret: &str) -> Vec<(String, String)> {
        vec![
            ("WARD_ENDPOINT".into(), self.endpoint().into()),
            ("WARD_CA_BUNDLE".into(), self.bundle().into()),
            ("WARD_ACCESS_KEY_ID".into(), id.into()),
            ("WARD_SECRET_ACCESS_KEY".into(), secret.into()),
        ]
    }

    pub fn ward(&self, env: &[(String, String)], args: &[&str]) -> Output {
        Command::new(&self.ward)
            .args(args)
            .env_clear()
            .env("HOME", &self.home)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// `ward ARGS` as root, which must succeed; its stdout.
    #[track_caller]
    pub fn root(&self, args: &[&str]) -> String {
        let out = self.ward(&self.root_env(), args);
        assert!(out.status.success(), "ward {args:?}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A certificate for ward user `name` from `ward ssh login` with a new
    /// access key of theirs, written under `dir/keys/NAME`: (key, cert).
    #[track_caller]
    pub fn user_certificate(&self, dir: &Scratch, name: &str) -> (PathBuf, PathBuf) {
        let key = self.root_json(&["access-key", "create", name]);
        let env = self.key_env(
            key["accessKeyId"].as_str().unwrap(),
            key["secretAccessKey"].as_str().unwrap(),
        );
        let out_dir = dir.path(&format!("keys/{name}"));
        std::fs::create_dir_all(&out_dir).unwrap();
        let out = self.ward(&env, &["ssh", "login", "--no-agent", "--out", s(&out_dir)]);
        assert!(out.status.success(), "ssh login {name}: {}", text(&out));
        (out_dir.join("ward"), out_dir.join("ward-cert.pub"))
    }

    /// Group `group` with the managed policy `policy` (document `doc`,
    /// written in `dir`) attached, and `users` created in it.
    pub fn group_with_policy(
        &self,
        dir: &Scratch,
        (group, policy, doc): (&str, &str, &str),
        users: &[&str],
    ) {
        let path = dir.write(&format!("{policy}.json"), doc);
        self.root(&["group", "create", group]);
        self.root(&["policy", "create", policy, "--document", s(&path)]);
        self.root(&["policy", "attach", policy, "--group", group]);
        for user in users {
            self.root(&["user", "create", user]);
            self.root(&["group", "add-user", group, user]);
        }
    }

    /// `ward --output json ARGS` as root.
    #[track_caller]
    pub fn root_json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = vec!["--output", "json"];
        a.extend_from_slice(args);
        serde_json::from_str(&self.root(&a)).unwrap()
    }
}

/// A stock sshd target for ward host `name` (already registered), started
/// with `extra` sshd_config lines: its host key certified by ward's SSH
/// host CA when `certify` (a bare key otherwise), its address registered
/// with ward.
pub fn target(ca: &Ca, dir: &Scratch, name: &str, certify: bool, extra: &str) -> crate::sshd::Sshd {
    let mut setup = crate::sshd::Sshd::setup();
    if certify {
        let public = dir.write(&format!("{name}-host.pub"), &setup.host_public_key());
        let out_file = dir.path(&format!("{name}-host-cert.pub"));
        ca.root(&[
            "host",
            "certificate",
            name,
            "--public-key",
            s(&public),
            "--out",
            s(&out_file),
        ]);
        setup.set_host_certificate(&std::fs::read_to_string(&out_file).unwrap());
    }
    let sshd = setup.start(extra);
    ca.root(&[
        "host",
        "update",
        name,
        "--address",
        &format!("127.0.0.1:{}", sshd.port()),
    ]);
    sshd
}

/// A joined, running ward-gateway.
pub struct Gateway {
    child: Proc,
    pub dir: Scratch,
    pub port: u16,
    pub config: PathBuf,
}

impl Gateway {
    /// Joins with a `--gateway` token for `name` and runs with `extra`
    /// configuration lines; returns once it has a snapshot and listens.
    pub fn start(ca: &Ca, name: &str, extra: &str) -> Gateway {
        let token = ca.root_json(&["host", "join-token", name, "--gateway"])["token"]
            .as_str()
            .unwrap()
            .to_owned();
        let dir = Scratch::new(&format!("{name}-gw"));
        let port = free_port();
        let state = dir.path("state");
        let config = dir.write(
            "gateway.toml",
            &format!(
                "listen = \"127.0.0.1:{port}\"\nstate_dir = {:?}\n{extra}\n",
                s(&state)
            ),
        );
        let mut join = Command::new(GATEWAY)
            .arg("--config")
            .arg(&config)
            .args(["join", ca.endpoint(), "-", "--ca-bundle", ca.bundle()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        join.stdin
            .take()
            .unwrap()
            .write_all(token.as_bytes())
            .unwrap();
        let out = join.wait_with_output().unwrap();
        assert!(out.status.success(), "ward-gateway join: {}", text(&out));
        let log = std::fs::File::create(dir.path("gateway.log")).unwrap();
        let child = Proc(
            Command::new(GATEWAY)
                .arg("--config")
                .arg(&config)
                .arg("run")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
        let gw = Gateway {
            child,
            dir,
            port,
            config,
        };
        assert!(
            until(Duration::from_secs(60), || gw.log().contains("listening")
                && state.join("snapshot.json").exists()),
            "ward-gateway did not start: {}",
            gw.log()
        );
        gw
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path("gateway.log")).unwrap_or_default()
    }

    pub fn user_ca_keys(&self) -> String {
        std::fs::read_to_string(self.dir.path("state/user_ca.pub")).unwrap()
    }
}

/// One user's ssh client configuration: jumps through `gw` (alias `gw`,
/// certified host key checked through `@cert-authority` under its ward
/// name), with the user's key and certificate, and known_hosts lines for
/// targets.
pub struct Client {
    pub config: PathBuf,
}

impl Client {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        dir: &Scratch,
        user: &str,
        gw_name: &str,
        gw_port: u16,
        key: &Path,
        cert: Option<&Path>,
        known_hosts: &str,
    ) -> Client {
        let kh = dir.write(&format!("{user}-known_hosts"), known_hosts);
        let cert_line = cert
            .map(|c| format!("  CertificateFile {}\n", s(c)))
            .unwrap_or_default();
        let config = dir.write(
            &format!("{user}-ssh_config"),
            &format!(
                "Host gw\n  HostName 127.0.0.1\n  Port {gw_port}\n  User {user}\n  HostKeyAlias {gw_name}\n\
                 Host *\n  IdentityFile {key}\n{cert_line}  IdentitiesOnly yes\n  IdentityAgent none\n\
                 UserKnownHostsFile {kh}\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n\
                 UpdateHostKeys no\n  BatchMode yes\n  ConnectTimeout 20\n  ControlMaster no\n\
                 PreferredAuthentications publickey\n",
                key = s(key),
                kh = s(&kh),
            ),
        );
        Client { config }
    }

    /// `ssh -F CONFIG ARGS…`.
    pub fn ssh(&self, args: &[&str]) -> Output {
        run(Command::new("ssh").arg("-F").arg(&self.config).args(args))
    }
}

/// The recordings (`*.cast`) in a recordings directory, sorted (not the
/// upload markers beside them).
pub fn recordings(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "cast"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Every line of a recording parses as asciicast v2; the header and the
/// events.
pub fn parse_cast(path: &Path) -> (serde_json::Value, Vec<(f64, String, String)>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(header["version"], 2, "{header}");
    assert!(header["width"].as_u64().unwrap() > 0);
    assert!(header["height"].as_u64().unwrap() > 0);
    assert!(header["timestamp"].as_i64().unwrap() > 1_600_000_000);
    let mut events = Vec::new();
    let mut last = 0.0f64;
    for l in lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let a = v.as_array().unwrap();
        assert_eq!(a.len(), 3, "{l}");
        let t = a[0].as_f64().unwrap();
        assert!(t >= last, "times go backwards: {text}");
        last = t;
        let kind = a[1].as_str().unwrap().to_owned();
        assert!(["o", "i", "r"].contains(&kind.as_str()), "{l}");
        events.push((t, kind, a[2].as_str().unwrap().to_owned()));
    }
    (header, events)
}
