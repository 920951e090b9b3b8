//! Test harness: runs the real `ward-ca` binary on a temporary data dir
//! (SQLite, or a fresh database in the test PostgreSQL cluster started by
//! `scripts/pg-test-env`), and talks to it with the real `curl`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const WARD_CA: &str = env!("CARGO_BIN_EXE_ward-ca");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// Access key id and secret.
#[derive(Clone, Debug)]
pub struct Creds {
    pub id: String,
    pub secret: String,
    pub token: Option<String>,
}

pub struct Server {
    child: Child,
    pub dir: PathBuf,
    pub endpoint: String,
    pub bundle: PathBuf,
    pub root: Creds,
    pub account: String,
    pub db: Db,
    pub db_url: Option<String>,
    pg_admin: Option<(String, String)>,
    /// 5xx count read just before the server was stopped.
    fives: Option<u64>,
    /// 5xx answers a test provoked on purpose (corrupted storage).
    expected_fives: u64,
    /// 5xx counted by earlier runs of this server (before a restart).
    earlier_fives: u64,
    /// The `serve` command line, for restarts.
    serve_args: Vec<std::ffi::OsString>,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A port for a daemon to listen on, free when asked. Taken below the
/// kernel's ephemeral range (32768–60999 here): a port the kernel hands out
/// with `bind(0)` is also handed to other tests' outgoing connections, and
/// one of them could take it between this check and the daemon's bind.
fn free_port() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    for _ in 0..1000 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        h.write_usize(COUNTER.load(Ordering::Relaxed));
        let port = 20_000 + (h.finish() % 12_000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The admin URL of the test PostgreSQL cluster. In CI (or when
/// `WARD_REQUIRE_POSTGRES` is set) its absence is a failure, not a skip.
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var("WARD_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            if std::env::var("CI").is_ok() || std::env::var("WARD_REQUIRE_POSTGRES").is_ok() {
                panic!("WARD_TEST_POSTGRES_URL is not set: run the suite with scripts/test");
            }
            eprintln!(
                "skipping PostgreSQL: WARD_TEST_POSTGRES_URL is not set (scripts/test sets it)"
            );
            None
        }
    }
}

pub fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql])
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `f` on a fresh daemon on `db` (with extra `ca.toml` lines, as
/// [`Server::start_with`]) and stops it; nothing when the backend is not
/// available here.
pub fn with_server(db: Db, extra_config: &str, f: impl FnOnce(&mut Server)) {
    let Some(mut s) = Server::start_with(db, extra_config) else {
        return;
    };
    f(&mut s);
    s.stop();
}

impl Server {
    /// Starts ward-ca; `None` if the backend is not available here.
    pub fn start(db: Db) -> Option<Server> {
        Server::start_with(db, "")
    }

    /// Like [`Server::start`], with extra top-level `ca.toml` lines (then
    /// SQLite is also set up through `init --config` and `serve --config`).
    pub fn start_with(db: Db, extra_config: &str) -> Option<Server> {
        Server::start_on(db, extra_config, |_| {})
    }

    /// Like [`Server::start_with`]; `before` runs on the fresh test
    /// directory before anything is created in it (e.g. to mount a small
    /// file system at `DIR/data`).
    pub fn start_on(db: Db, extra_config: &str, before: impl FnOnce(&Path)) -> Option<Server> {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("ward-ca-e2e-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        before(&dir);
        let port = free_port();
        let data = dir.join("data");
        let (mut cmd, db_url, pg_admin) = match db {
            Db::Sqlite if extra_config.is_empty() => {
                let mut c = Command::new(WARD_CA);
                c.args(["serve", "--dev", "--data-dir"])
                    .arg(&data)
                    .args(["--listen", &format!("127.0.0.1:{port}")]);
                (c, None, None)
            }
            _ => {
                let (url, pg_admin) = if db == Db::Postgres {
                    let admin = postgres_admin_url()?;
                    let name = format!("ward_e2e_{}_{n}", std::process::id());
                    psql(&admin, &format!("CREATE DATABASE {name}"));
                    let url = match admin.rfind('/') {
                        Some(i) => format!("{}/{name}", &admin[..i]),
                        None => panic!("bad admin URL"),
                    };
                    (url, Some((admin, name)))
                } else {
                    (format!("sqlite:{}", data.join("ward.db").display()), None)
                };
                let conf = dir.join("ca.toml");
                std::fs::write(
                    &conf,
                    format!(
                        "data_dir = {:?}\nlisten = \"127.0.0.1:{port}\"\ndatabase = {url:?}\n{extra_config}\n",
                        data.display().to_string()
                    ),
                )
                .unwrap();
                let init = Command::new(WARD_CA)
                    .args(["init", "--config"])
                    .arg(&conf)
                    .output()
                    .unwrap();
                assert!(
                    init.status.success(),
                    "init: {}",
                    String::from_utf8_lossy(&init.stderr)
                );
                std::fs::write(dir.join("init.out"), &init.stdout).unwrap();
                let mut c = Command::new(WARD_CA);
                c.args(["serve", "--config"]).arg(&conf);
                let db_url = pg_admin.as_ref().map(|_| url);
                (c, db_url, pg_admin)
            }
        };
        let serve_args: Vec<std::ffi::OsString> = cmd.get_args().map(ToOwned::to_owned).collect();
        let mut child = cmd
            .env("WARD_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("stderr.log")).unwrap())
            .spawn()
            .unwrap();
        // Credentials come from the first-start banner (dev) or init output.
        let banner = match db {
            Db::Sqlite if extra_config.is_empty() => {
                let out = child.stdout.take().unwrap();
                let mut lines = Vec::new();
                let mut r = BufReader::new(out);
                let deadline = Instant::now() + Duration::from_secs(60);
                while Instant::now() < deadline {
                    let mut l = String::new();
                    if r.read_line(&mut l).unwrap_or(0) == 0 {
                        break;
                    }
                    let done = l.contains("WARD_SECRET_ACCESS_KEY");
                    lines.push(l);
                    if done {
                        break;
                    }
                }
                // Keep draining stdout (into stdout.log, for tests that
                // search what the daemon printed) so it never writes to a
                // closed pipe.
                std::fs::write(dir.join("banner.log"), lines.concat()).unwrap();
                let mut log = std::fs::File::create(dir.join("stdout.log")).unwrap();
                std::thread::spawn(move || std::io::copy(&mut r, &mut log));
                lines.concat()
            }
            _ => std::fs::read_to_string(dir.join("init.out")).unwrap(),
        };
        let var = |k: &str| -> String {
            banner
                .lines()
                .find_map(|l| {
                    l.trim()
                        .strip_prefix(&format!("export {k}="))
                        .map(str::to_owned)
                })
                .unwrap_or_else(|| panic!("{k} missing from banner:\n{banner}"))
        };
        let account = banner
            .split("account ")
            .nth(1)
            .and_then(|s| s.get(..12))
            .unwrap_or_default()
            .to_owned();
        let server = Server {
            child,
            endpoint: var("WARD_ENDPOINT"),
            bundle: PathBuf::from(var("WARD_CA_BUNDLE")),
            root: Creds {
                id: var("WARD_ACCESS_KEY_ID"),
                secret: var("WARD_SECRET_ACCESS_KEY"),
                token: None,
            },
            account,
            dir,
            db,
            db_url,
            pg_admin,
            fives: None,
            expected_fives: 0,
            earlier_fives: 0,
            serve_args,
        };
        server.wait_ready();
        Some(server)
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let out = Command::new("curl")
                .args(["-sS", "--cacert"])
                .arg(&self.bundle)
                .arg(format!("{}/healthz", self.endpoint))
                .output()
                .unwrap();
            if out.status.success() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "ward-ca did not become ready: {}",
            std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
        );
    }

    /// A signed call with curl's own SigV4 (`--aws-sigv4`). `path` must
    /// carry a sorted, fully encoded query (curl 7.88 signs it verbatim).
    pub fn call(&self, creds: &Creds, method: &str, path: &str, body: Option<&str>) -> Response {
        self.call_with(creds, method, path, body.map(str::as_bytes), &[])
    }

    /// Like [`Server::call`], with a byte body and extra curl arguments
    /// (e.g. `--path-as-is`).
    pub fn call_with(
        &self,
        creds: &Creds,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        extra: &[&str],
    ) -> Response {
        let mut args: Vec<String> = vec![
            "-sS".into(),
            "--cacert".into(),
            self.bundle.display().to_string(),
            "--aws-sigv4".into(),
            "aws:amz:local:ward".into(),
            "--user".into(),
            format!("{}:{}", creds.id, creds.secret),
            "-X".into(),
            method.into(),
        ];
        if let Some(t) = &creds.token {
            args.push("-H".into());
            args.push(format!("x-amz-security-token: {t}"));
        }
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        self.curl(args, path, body)
    }

    /// An unsigned (or hand-signed) call with extra headers.
    pub fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Response {
        self.raw_with(method, path, headers, body, &[])
    }

    /// Like [`Server::raw`], with extra curl arguments (e.g. `--path-as-is`).
    pub fn raw_with(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        extra: &[&str],
    ) -> Response {
        let mut args: Vec<String> = vec![
            "-sS".into(),
            "--cacert".into(),
            self.bundle.display().to_string(),
            "-X".into(),
            method.into(),
        ];
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        for (k, v) in headers {
            args.push("-H".into());
            args.push(format!("{k}: {v}"));
        }
        self.curl(args, path, body)
    }

    fn curl(&self, mut args: Vec<String>, path: &str, body: Option<&[u8]>) -> Response {
        args.extend([
            "-w".into(),
            "\n%{http_code}".into(),
            "-H".into(),
            "content-type: application/json".into(),
        ]);
        if body.is_some() {
            args.extend(["--data-binary".into(), "@-".into()]);
        }
        args.push(format!("{}{path}", self.endpoint));
        let mut child = Command::new("curl")
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        {
            let mut si = child.stdin.take().unwrap();
            if let Some(b) = body {
                let _ = si.write_all(b);
            }
        }
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (b, code) = text.rsplit_once('\n').unwrap_or(("", &text));
        let status: u16 = code.trim().parse().unwrap_or(0);
        assert!(
            status != 0,
            "curl failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(status < 500, "{path}: a 5xx ({status}): {b}");
        Response {
            status,
            body: serde_json::from_str(b).unwrap_or(serde_json::Value::String(b.to_owned())),
        }
    }

    pub fn root(&self) -> Creds {
        self.root.clone()
    }

    /// Counted 5xx responses from /metrics.
    /// One counter of the daemon's `/metrics`, by its series name (e.g.
    /// `ward_auth_failures_total`); panics if the series is absent.
    pub fn metric(&self, name: &str) -> u64 {
        let out = Command::new("curl")
            .args(["-sS", "--cacert"])
            .arg(&self.bundle)
            .arg(format!("{}/metrics", self.endpoint))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
    }

    pub fn count_5xx(&self) -> u64 {
        let out = Command::new("curl")
            .args(["-sS", "--cacert"])
            .arg(&self.bundle)
            .arg(format!("{}/metrics", self.endpoint))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .find(|l| l.starts_with("ward_http_responses_total{class=\"5xx\"}"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no 5xx counter in /metrics:\n{text}"))
    }

    /// Declares `n` more 5xx answers as intended (a test that corrupts
    /// storage behind the daemon's back and expects it to fail closed).
    pub fn expect_5xx(&mut self, n: u64) {
        self.expected_fives += n;
    }

    /// Stops the daemon (`signal`: `TERM` for a graceful stop, `KILL` for a
    /// crash) and starts it again on the same store and port.
    pub fn restart(&mut self, signal: &str) {
        if self.fives.is_none() {
            self.earlier_fives += self.count_5xx();
        } else {
            self.earlier_fives += self.fives.take().unwrap_or(0);
        }
        let _ = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        self.fives = None;
        let log = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(self.dir.join("stderr.log"))
            .unwrap();
        self.child = Command::new(WARD_CA)
            .args(&self.serve_args)
            .env("WARD_LOG", "warn")
            .stdout(std::fs::File::create(self.dir.join("stdout-restarted.log")).unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.wait_ready();
    }

    /// A signed call that may answer 5xx: `(status, Retry-After, body)`.
    pub fn call_unchecked(
        &self,
        creds: &Creds,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> (u16, Option<String>, serde_json::Value) {
        let hdr = self.dir.join(format!(
            "headers-{}",
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let mut args: Vec<String> = vec![
            "-sS".into(),
            "--cacert".into(),
            self.bundle.display().to_string(),
            "--aws-sigv4".into(),
            "aws:amz:local:ward".into(),
            "--user".into(),
            format!("{}:{}", creds.id, creds.secret),
            "-X".into(),
            method.into(),
            "-D".into(),
            hdr.display().to_string(),
            "-w".into(),
            "\n%{http_code}".into(),
            "-H".into(),
            "content-type: application/json".into(),
        ];
        if let Some(b) = body {
            args.extend(["--data-binary".into(), b.to_owned()]);
        }
        args.push(format!("{}{path}", self.endpoint));
        let out = Command::new("curl").args(&args).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (b, code) = text.rsplit_once('\n').unwrap_or(("", &text));
        let headers = std::fs::read_to_string(&hdr).unwrap_or_default();
        let _ = std::fs::remove_file(&hdr);
        let retry_after = headers.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("retry-after")
                .then(|| v.trim().to_owned())
        });
        (
            code.trim().parse().unwrap_or(0),
            retry_after,
            serde_json::from_str(b).unwrap_or(serde_json::Value::String(b.to_owned())),
        )
    }

    /// `GET /readyz`'s status.
    pub fn readyz(&self) -> u16 {
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
            .arg(&self.bundle)
            .arg(format!("{}/readyz", self.endpoint))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The ARN of role `name` (path `/`) in this daemon's account.
    pub fn role_arn(&self, name: &str) -> String {
        format!("arn:ward:iam::{}:role/{name}", self.account)
    }

    /// One SQL statement or value on the daemon's database (the `sqlite3`
    /// or `psql` client), its output trimmed.
    pub fn sql(&self, q: &str) -> String {
        match self.db {
            Db::Sqlite => {
                let out = Command::new("sqlite3")
                    .arg(self.data_dir().join("ward.db"))
                    .arg(q)
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                String::from_utf8_lossy(&out.stdout).trim().to_owned()
            }
            Db::Postgres => psql(self.db_url.as_ref().unwrap(), q).trim().to_owned(),
        }
    }

    pub fn stop(&mut self) {
        if self.fives.is_some() {
            return;
        }
        self.fives = Some(if std::thread::panicking() {
            0
        } else {
            self.count_5xx()
        });
        // SIGTERM, for a graceful shutdown.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // The suite-wide rule: no response was a 5xx.
        self.stop();
        let fives = self.fives.unwrap_or(0) + self.earlier_fives;
        if let Some((admin, name)) = &self.pg_admin {
            let _ = Command::new("psql")
                .args([
                    admin.as_str(),
                    "-qAtc",
                    &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                ])
                .output();
        }
        if std::thread::panicking() {
            // The daemon's own account of a failing test.
            let log = std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!(
                "--- ward-ca stderr.log (last {} lines, newest last):",
                tail.len()
            );
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        if !std::thread::panicking() {
            assert_eq!(
                fives, self.expected_fives,
                "ward-ca answered {fives} request(s) with a 5xx"
            );
        }
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: serde_json::Value,
}

impl Response {
    #[track_caller]
    pub fn ok(&self) -> &serde_json::Value {
        assert!(
            (200..300).contains(&self.status),
            "expected 2xx, got {}: {}",
            self.status,
            self.body
        );
        &self.body
    }

    #[track_caller]
    pub fn err(&self, status: u16, code: &str) -> &str {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(self.body["error"]["code"], code, "body: {}", self.body);
        self.body["error"]["message"].as_str().unwrap_or("")
    }

    pub fn field(&self) -> &str {
        self.body["error"]["field"].as_str().unwrap_or("")
    }
}

pub fn creds_of(v: &serde_json::Value) -> Creds {
    Creds {
        id: v["accessKeyId"].as_str().unwrap().to_owned(),
        secret: v["secretAccessKey"].as_str().unwrap().to_owned(),
        token: v["sessionToken"].as_str().map(str::to_owned),
    }
}

pub fn path_exists(p: &Path) -> bool {
    p.exists()
}

/// Creates user `name` (if new) with an inline policy `ca` holding
/// `statements` (the JSON text of the Statement array's members), and
/// returns a new access key of theirs.
pub fn user_with_policy(s: &Server, root: &Creds, name: &str, statements: &str) -> Creds {
    s.call(
        root,
        "POST",
        "/v1/users",
        Some(&serde_json::json!({"name": name}).to_string()),
    )
    .ok();
    let doc = format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#);
    s.call(
        root,
        "PUT",
        &format!("/v1/users/{name}/policies/ca"),
        Some(&serde_json::json!({"document": doc}).to_string()),
    )
    .ok();
    creds_of(
        s.call(root, "POST", &format!("/v1/users/{name}/access-keys"), None)
            .ok(),
    )
}

/// Runs `openssl args…` in `dir`.
pub fn openssl(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}
