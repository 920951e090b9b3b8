//! Password logins through the real agent and the real ward-ca (issue
//! #12): `ward-ca serve --dev`, `ward-agent join` and `ward-agent run`,
//! and the agent socket asked `verify_password` / `change_password` as
//! pam_ward asks them.
//!
//! Covered: online right / wrong / unknown user / local account; a change
//! online; a non-root peer refused; the verifier file (0600, no password);
//! ward-ca stopped → a user who logged in online logs in offline (and a
//! wrong password is refused offline without dropping the verifier), a
//! user who never logged in online here, a user disabled before the stop
//! and a user whose password was reset before the stop are refused;
//! offline failures are throttled; offline checks are spooled for the
//! audit log; a verifier past the maximum age is refused and dropped;
//! `offline_password_max_age_seconds = 0` disables offline logins;
//! changes are online only. And, in process: a password check waiting
//! on ward-ca does not hold up other clients of the socket.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;
mod support;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::TempDir;
use serde_json::{json, Value};
use ward_protocol::agent::{
    exchange, ChangePasswordRequest, PasswordAnswer, PasswordOutcome, Request, Response, Secret,
    VerifyPasswordRequest,
};

const PW: &str = "Right-Horse-Battery-9";
const NEW: &str = "Brand-New-Staple-Seven-7";

/// ward-ca, built next to ward-agent (ward-agent does not depend on it).
fn ward_ca_bin() -> PathBuf {
    let agent = PathBuf::from(env!("CARGO_BIN_EXE_ward-agent"));
    let dir = agent.parent().unwrap().to_owned();
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["build", "--quiet", "-p", "ward-ca", "--bin", "ward-ca"])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    if dir.file_name() == Some("release".as_ref()) {
        cmd.arg("--release");
    }
    assert!(cmd.status().unwrap().success(), "cargo build -p ward-ca");
    dir.join("ward-ca")
}

/// A running `ward-ca serve --dev`, killed on drop.
struct Ca {
    child: Child,
    endpoint: String,
    bundle: String,
    id: String,
    secret: String,
}

impl Drop for Ca {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_ca(dir: &Path) -> Ca {
    let mut child = Command::new(ward_ca_bin())
        .args(["serve", "--dev", "--data-dir"])
        .arg(dir.join("ca-data"))
        .args(["--listen", &format!("127.0.0.1:{}", free_port())])
        .env("WARD_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("ca.log")).unwrap())
        .spawn()
        .unwrap();
    let mut r = BufReader::new(child.stdout.take().unwrap());
    let mut banner = String::new();
    while !banner.contains("WARD_SECRET_ACCESS_KEY") {
        let mut l = String::new();
        if r.read_line(&mut l).unwrap_or(0) == 0 {
            panic!("ward-ca exited: {banner}");
        }
        banner.push_str(&l);
    }
    std::thread::spawn(move || std::io::copy(&mut r, &mut std::io::sink()));
    let var = |k: &str| {
        banner
            .lines()
            .find_map(|l| l.trim().strip_prefix(&format!("export {k}=")))
            .unwrap()
            .to_owned()
    };
    let ca = Ca {
        endpoint: var("WARD_ENDPOINT"),
        bundle: var("WARD_CA_BUNDLE"),
        id: var("WARD_ACCESS_KEY_ID"),
        secret: var("WARD_SECRET_ACCESS_KEY"),
        child,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while call_status(&ca, "GET", "/healthz", None).0 != 200 {
        assert!(Instant::now() < deadline, "ward-ca never became healthy");
        std::thread::sleep(Duration::from_millis(100));
    }
    ca
}

/// A call signed with root's key (curl's own SigV4).
fn call_status(ca: &Ca, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sS",
        "--cacert",
        &ca.bundle,
        "--aws-sigv4",
        "aws:amz:local:ward",
    ])
    .args(["--user", &format!("{}:{}", ca.id, ca.secret)])
    .args(["-X", method, "-w", "\n%{http_code}"])
    .args(["-H", "content-type: application/json"]);
    if let Some(b) = body {
        cmd.args(["--data-binary", &b.to_string()]);
    }
    let out = cmd.arg(format!("{}{path}", ca.endpoint)).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (b, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (
        code.trim().parse().unwrap_or(0),
        serde_json::from_str(b).unwrap_or(Value::Null),
    )
}

fn call(ca: &Ca, method: &str, path: &str, body: Option<Value>) -> Value {
    let (status, v) = call_status(ca, method, path, body.as_ref());
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {v}"
    );
    v
}

fn user(ca: &Ca, name: &str, pw: Option<&str>) {
    call(ca, "POST", "/v1/users", Some(json!({"name": name})));
    if let Some(pw) = pw {
        call(
            ca,
            "PUT",
            &format!("/v1/users/{name}/login-profile"),
            Some(json!({"password": pw})),
        );
    }
}

/// The running agent, killed on drop.
struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn config(dir: &Path, extra: &str) -> PathBuf {
    let d = dir.display();
    let p = dir.join(format!("agent-{}.toml", extra.len()));
    std::fs::write(
        &p,
        format!(
            "state_dir = \"{d}/state\"\nsocket = \"{d}/agent.sock\"\n\
             trusted_user_ca_keys_file = \"{d}/ward_user_ca.pub\"\n\
             revoked_keys_file = \"{d}/ward_revoked.krl\"\n\
             ssh_host_key = \"{d}/ssh_host_ed25519_key\"\n\
             passwd_file = \"{d}/passwd\"\ngroup_file = \"{d}/group\"\n\
             poll_wait_seconds = 30\npassword_timeout_seconds = 60\n{extra}\n"
        ),
    )
    .unwrap();
    p
}

fn run_agent(dir: &Path, cfg: &Path) -> Agent {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("agent.log"))
        .unwrap();
    let a = Agent(
        common::agent()
            .arg("--config")
            .arg(cfg)
            .arg("run")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let sock = dir.join("agent.sock");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(mut s) = UnixStream::connect(&sock) {
            if let Ok(Response::Status(st)) = exchange(&mut s, Request::Status) {
                if st.cache_age_seconds.is_some() {
                    return a;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "the agent never had a snapshot: {}",
            std::fs::read_to_string(dir.join("agent.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn ask(sock: &Path, req: Request) -> Response {
    let mut s = UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(300))).unwrap();
    exchange(&mut s, req).unwrap()
}

fn answer(r: Response) -> PasswordAnswer {
    match r {
        Response::Password(a) => a,
        other => panic!("not a password answer: {other:?}"),
    }
}

fn verify(sock: &Path, user: &str, pw: &str) -> PasswordAnswer {
    answer(ask(
        sock,
        Request::VerifyPassword(VerifyPasswordRequest {
            user: user.into(),
            password: Secret(pw.into()),
            service: "login".into(),
            rhost: Some("192.0.2.44".into()),
        }),
    ))
}

fn change(sock: &Path, user: &str, old: &str, new: &str) -> PasswordAnswer {
    answer(ask(
        sock,
        Request::ChangePassword(ChangePasswordRequest {
            user: user.into(),
            old_password: Secret(old.into()),
            new_password: Secret(new.into()),
            service: "passwd".into(),
            rhost: None,
        }),
    ))
}

fn is(a: &PasswordAnswer, outcome: PasswordOutcome, offline: bool) -> bool {
    a.outcome == outcome && a.offline == offline
}

/// Waits until the agent's snapshot holds ward user `name` (NSS lookup).
fn wait_for_user(sock: &Path, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Response::Passwd { entry: Some(_) } =
            ask(sock, Request::PasswdByName { name: name.into() })
        {
            return;
        }
        assert!(Instant::now() < deadline, "{name} never reached the agent");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn verifiers(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("state/passwords.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Not a test on its own: run as uid 65534 by the test below (with
/// `WARD_PW_SOCKET` set), it asks `verify_password` and prints the answer.
#[test]
fn nobody_helper() {
    let Some(path) = std::env::var_os("WARD_PW_SOCKET") else {
        return;
    };
    let r = ask(
        Path::new(&path),
        Request::VerifyPassword(VerifyPasswordRequest {
            user: "alice".into(),
            password: Secret(PW.into()),
            service: "login".into(),
            rhost: None,
        }),
    );
    println!("ANSWER: {}", serde_json::to_string(&r).unwrap());
    let _ = std::io::stdout().flush();
}

#[test]
fn online_offline_and_verifier_rules() {
    let dir = TempDir::new("passwords");
    let d = dir.path();
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    passwd.push_str("localuser:*:1900:1900:local:/:/bin/sh\n");
    std::fs::write(d.join("passwd"), passwd).unwrap();
    std::fs::copy("/etc/group", d.join("group")).unwrap();

    let ca = start_ca(d);
    for name in [
        "alice",
        "bob",
        "carol",
        "dave",
        "erin",
        "frank",
        "localuser",
    ] {
        user(&ca, name, Some(PW));
    }
    let token = call(&ca, "POST", "/v1/hosts/web-01/join-tokens", Some(json!({})))["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let cfg = config(d, "");
    let mut join = common::agent()
        .arg("--config")
        .arg(&cfg)
        .args(["join", &ca.endpoint, "-", "--ca-bundle", &ca.bundle])
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
    assert!(
        out.status.success(),
        "join: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let agent = run_agent(d, &cfg);
    let sock = d.join("agent.sock");
    wait_for_user(&sock, "frank");

    // --- Online.
    let a = verify(&sock, "alice", PW);
    assert!(is(&a, PasswordOutcome::Ok, false), "{a:?}");
    let file = d.join("state/passwords.json");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the verifier file is root-only");
    assert!(verifiers(d)["verifiers"]["alice"].is_object());
    // An online "wrong" drops the verifier; a right password makes a new one.
    let a = verify(&sock, "alice", "Wrong-Horse-Battery-1");
    assert!(is(&a, PasswordOutcome::Wrong, false), "{a:?}");
    assert!(verifiers(d)["verifiers"]["alice"].is_null());
    assert!(is(&verify(&sock, "alice", PW), PasswordOutcome::Ok, false));
    // Not ward users: the password stays on the host.
    let a = verify(&sock, "nosuchuser", PW);
    assert!(is(&a, PasswordOutcome::UnknownUser, false), "{a:?}");
    let a = verify(&sock, "localuser", PW);
    assert!(is(&a, PasswordOutcome::UnknownUser, false), "{a:?}");
    for u in ["carol", "dave", "erin"] {
        assert!(is(&verify(&sock, u, PW), PasswordOutcome::Ok, false), "{u}");
    }
    // A change online (the policy's message comes back verbatim).
    let a = change(&sock, "frank", PW, "short");
    assert_eq!(a.outcome, PasswordOutcome::PolicyViolation, "{a:?}");
    assert_eq!(
        a.reason.as_deref(),
        Some("password must be at least 12 characters")
    );
    let a = change(&sock, "frank", PW, NEW);
    assert!(is(&a, PasswordOutcome::Ok, false), "{a:?}");
    assert!(is(&verify(&sock, "frank", NEW), PasswordOutcome::Ok, false));
    // ward-ca saw no password check for the local account.
    let events = call(
        &ca,
        "GET",
        "/v1/audit/events?action=host%3AVerifyPassword&limit=1000",
        None,
    )
    .to_string();
    assert!(events.contains("\"user\":\"alice\""), "{events}");
    assert!(
        !events.contains("localuser"),
        "a local password reached ward-ca"
    );

    // A non-root peer is refused (and nothing is checked for it).
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "nobody_helper",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("WARD_PW_SOCKET", &sock)
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("ANSWER: ") && text.contains("forbidden"),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The file holds hashes only.
    let raw = std::fs::read_to_string(&file).unwrap();
    for pw in [PW, NEW, "Wrong-Horse-Battery-1"] {
        assert!(!raw.contains(pw), "the verifier file holds a password");
    }
    assert!(raw.contains("$argon2id$"), "{raw}");
    let v = verifiers(d);
    let held: Vec<&String> = v["verifiers"].as_object().unwrap().keys().collect();
    assert_eq!(held, ["alice", "carol", "dave", "erin", "frank"]);

    // --- Before the outage: carol is disabled, dave's password is reset
    // by an administrator; a marker user shows when the agent has both.
    call(
        &ca,
        "PUT",
        "/v1/users/dave/login-profile",
        Some(json!({"password": NEW})),
    );
    call(&ca, "POST", "/v1/users/carol/disable", None);
    user(&ca, "marker", None);
    wait_for_user(&sock, "marker");
    drop(ca);

    // --- Offline.
    let a = verify(&sock, "alice", PW);
    assert!(is(&a, PasswordOutcome::Ok, true), "{a:?}");
    let a = verify(&sock, "alice", "Wrong-Horse-Battery-1");
    assert!(is(&a, PasswordOutcome::Wrong, true), "{a:?}");
    assert!(
        is(&verify(&sock, "alice", PW), PasswordOutcome::Ok, true),
        "an offline failure keeps the verifier"
    );
    let a = verify(&sock, "bob", PW);
    assert!(
        is(&a, PasswordOutcome::Unavailable, true),
        "never logged in online here: {a:?}"
    );
    let a = verify(&sock, "carol", PW);
    assert!(
        is(&a, PasswordOutcome::Disabled, true),
        "disabled before the outage: {a:?}"
    );
    for pw in [PW, NEW] {
        let a = verify(&sock, "dave", pw);
        assert!(
            is(&a, PasswordOutcome::Unavailable, true),
            "profile version moved: {a:?}"
        );
    }
    assert!(is(&verify(&sock, "frank", NEW), PasswordOutcome::Ok, true));
    let a = change(&sock, "frank", NEW, PW);
    assert_eq!(a.outcome, PasswordOutcome::Unavailable, "{a:?}");
    // Offline failures are throttled: five, then even the right password
    // waits.
    for _ in 0..5 {
        let a = verify(&sock, "erin", "Wrong-Horse-Battery-1");
        assert!(is(&a, PasswordOutcome::Wrong, true), "{a:?}");
    }
    let a = verify(&sock, "erin", PW);
    assert!(is(&a, PasswordOutcome::Throttled, true), "{a:?}");
    // The verifiers of carol and dave are gone from the disk.
    let v = verifiers(d);
    let held: Vec<&String> = v["verifiers"].as_object().unwrap().keys().collect();
    assert_eq!(held, ["alice", "erin", "frank"]);
    // Offline checks wait in the audit spool for ward-ca.
    let spool = std::fs::read_to_string(d.join("state/audit-spool")).unwrap();
    let offline: Vec<&str> = spool
        .lines()
        .filter(|l| l.contains("password-offline"))
        .collect();
    assert!(
        offline
            .iter()
            .any(|l| l.contains("\"allowed\":true") && l.contains("alice")),
        "{spool}"
    );
    assert!(offline
        .iter()
        .any(|l| l.contains("carol") && l.contains("\"allowed\":false")));
    assert!(!spool.contains(PW) && !spool.contains(NEW));

    // --- Past the maximum age (default 7 days): alice's verifier, dated
    // eight days back, is refused and dropped.
    drop(agent);
    let mut v = verifiers(d);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    v["verifiers"]["alice"]["verifiedAt"] = json!(now - 8 * 86_400);
    std::fs::write(&file, v.to_string()).unwrap();
    let agent = run_agent(d, &cfg);
    let a = verify(&sock, "alice", PW);
    assert!(is(&a, PasswordOutcome::Unavailable, true), "{a:?}");
    assert!(verifiers(d)["verifiers"]["alice"].is_null());
    assert!(is(&verify(&sock, "frank", NEW), PasswordOutcome::Ok, true));

    // --- Offline logins disabled by configuration.
    drop(agent);
    let off = config(d, "offline_password_max_age_seconds = 0");
    let _agent = run_agent(d, &off);
    let a = verify(&sock, "frank", NEW);
    assert!(is(&a, PasswordOutcome::Unavailable, true), "{a:?}");
}

/// The real server in process, with a `Connect` that blocks until the test
/// releases it: while one client's password check waits there (where
/// Argon2 and the call to ward-ca run: on that connection's own thread),
/// another client's lookup is answered. No clock involved: the check
/// cannot finish before the release.
#[test]
fn a_password_check_in_flight_does_not_hold_up_other_clients() {
    use std::sync::{mpsc, Arc, Mutex};
    use ward_agent::passwords::{Connect, PasswordOptions, Passwords};

    let dir = support::TempDir::new("ward-agent-pw-concurrent");
    let (sh, rec) = support::shared(Some(support::base_snapshot()), support::now(), 3600);
    let (entered_tx, entered_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (entered_tx, release_rx) = (Mutex::new(entered_tx), Mutex::new(release_rx));
    let connect: Connect = Box::new(move || {
        let _ = entered_tx.lock().unwrap().send(());
        let _ = release_rx.lock().unwrap().recv();
        Err("ward-ca is down".into())
    });
    let mut opts = support::options(dir.path());
    opts.passwords = Some(Arc::new(Passwords::new(
        sh.clone(),
        connect,
        PasswordOptions {
            verifiers: dir.path().join("passwords.json"),
            passwd_file: dir.path().join("passwd"),
            max_age: 3600,
        },
    )));
    let srv = support::start(sh, opts);
    let sock = srv.socket.clone();
    let pending = std::thread::spawn(move || verify(&sock, "alice", PW));
    entered_rx.recv().unwrap();
    let r = ask(
        &srv.socket,
        Request::PasswdByName {
            name: "alice".into(),
        },
    );
    assert!(matches!(r, Response::Passwd { entry: Some(_) }), "{r:?}");
    assert!(!pending.is_finished(), "the check was not in flight");
    release_tx.send(()).unwrap();
    // Released: ward-ca "down", alice never logged in online here.
    let a = pending.join().unwrap();
    assert!(is(&a, PasswordOutcome::Unavailable, true), "{a:?}");
    assert!(rec.events().is_empty(), "nothing was checked offline");
}
