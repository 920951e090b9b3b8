//! Shared pieces of ward-agent's integration tests: a [`Shared`] built
//! from a snapshot (with an in-memory audit sink that keeps every event),
//! snapshot and policy builders, and an in-process [`server::serve`] on a
//! temporary socket (the real server, on a real Unix socket).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ward_agent::server::{self, ServerOptions};
use ward_agent::shared::{AuditSink, Current, Shared};
use ward_protocol::agent::Status;
use ward_protocol::api::Tag;
use ward_protocol::host::{
    HostEvent, Posix, Snapshot, SnapshotGroup, SnapshotHost, SnapshotPolicy, SnapshotUser,
};

pub const ACCOUNT: &str = "123456789012";

/// Keeps every recorded event.
#[derive(Default, Clone)]
pub struct Recorded(pub Arc<Mutex<Vec<HostEvent>>>);

impl AuditSink for Recorded {
    fn record(&self, event: HostEvent) {
        self.0.lock().unwrap().push(event);
    }
}

impl Recorded {
    pub fn events(&self) -> Vec<HostEvent> {
        self.0.lock().unwrap().clone()
    }
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A `Shared` holding `snap` received at `received_at` (None: no snapshot).
pub fn shared(
    snap: Option<Snapshot>,
    received_at: i64,
    max_staleness: i64,
) -> (Arc<Shared>, Recorded) {
    let rec = Recorded::default();
    let s = Shared {
        current: RwLock::new(snap.map(|snapshot| {
            Arc::new(Current {
                snapshot,
                received_at,
            })
        })),
        status: Mutex::new(Status::default()),
        audit: Box::new(rec.clone()),
        max_staleness,
    };
    (Arc::new(s), rec)
}

pub fn tag(k: &str, v: &str) -> Tag {
    Tag {
        key: k.into(),
        value: v.into(),
    }
}

/// A policy document with one statement.
pub fn statement(effect: &str, action: &str, resource: &str, condition: Option<&str>) -> String {
    let cond = condition
        .map(|c| format!(r#","Condition":{c}"#))
        .unwrap_or_default();
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"{effect}","Action":"{action}","Resource":"{resource}"{cond}}}]}}"#
    )
}

/// `host:Login` as oneself and as `deploy`.
pub fn login_self_or_deploy() -> String {
    statement(
        "Allow",
        "host:Login",
        "arn:ward:host::*:host/*",
        Some(r#"{"StringEquals":{"host:Principal":["${ward:username}","deploy"]}}"#),
    )
}

pub fn user(id: &str, name: &str, uid: u32, groups: &[&str]) -> SnapshotUser {
    SnapshotUser {
        id: id.into(),
        name: name.into(),
        path: "/".into(),
        enabled: true,
        posix: Some(Posix {
            uid,
            gid: uid,
            home: format!("/home/{name}"),
            shell: "/bin/sh".into(),
            gecos: format!("{name} via ward"),
        }),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        ..SnapshotUser::default()
    }
}

pub fn group(name: &str, gid: Option<u32>, managed: &[&str]) -> SnapshotGroup {
    SnapshotGroup {
        id: format!("AGPA{}", name.to_uppercase()),
        name: name.into(),
        path: "/".into(),
        gid,
        managed_policies: managed.iter().map(|m| (*m).to_owned()).collect(),
        ..SnapshotGroup::default()
    }
}

pub fn policy_arn(name: &str) -> String {
    ward_authz::arn::policy(ACCOUNT, "/", name)
}

pub fn managed(name: &str, doc: String) -> SnapshotPolicy {
    SnapshotPolicy {
        arn: policy_arn(name),
        document: doc,
    }
}

/// A snapshot for host `web-01` (tag env=prod): alice (in ops, which
/// holds the `login` policy), bob (not in ops).
pub fn base_snapshot() -> Snapshot {
    Snapshot {
        version: 1,
        generation: 1,
        account: ACCOUNT.into(),
        trust_domain: "ward.test".into(),
        built_at: now(),
        host: SnapshotHost {
            name: "web-01".into(),
            arn: ward_authz::arn::host(ACCOUNT, "web-01"),
            tags: vec![tag("env", "prod")],
        },
        users: vec![
            user("AIDAALICE0000000001", "alice", 200000, &["ops"]),
            user("AIDABOB00000000000002", "bob", 200001, &[]),
        ],
        groups: vec![group("ops", Some(200010), &[&policy_arn("login")])],
        policies: vec![managed("login", login_self_or_deploy())],
        ssh_user_ca_keys: Vec::new(),
        revoked_ssh_serials: Vec::new(),
        roles: Vec::new(),
        registry: None,
        gateway_terminations: None,
    }
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("{prefix}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running in-process server; `stop` ends it.
pub struct Running {
    pub socket: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
}

impl Running {
    pub fn stop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wake the accept loop.
        let _ = std::os::unix::net::UnixStream::connect(&self.socket);
        if let Some(t) = self.thread.take() {
            t.join().unwrap().unwrap();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts `server::serve` on `socket`, returning once it is bound.
pub fn start(shared: Arc<Shared>, mut opts: ServerOptions) -> Running {
    let stop = Arc::new(AtomicBool::new(false));
    opts.stop = Some(stop.clone());
    let (tx, rx) = std::sync::mpsc::channel();
    opts.on_ready = Some(Box::new(move || {
        let _ = tx.send(());
    }));
    let socket = opts.socket.clone();
    let thread = std::thread::spawn(move || server::serve(shared, opts));
    rx.recv_timeout(Duration::from_secs(30))
        .expect("server did not become ready");
    Running {
        socket,
        stop,
        thread: Some(thread),
    }
}

/// Options for a test socket in `dir`, deferring to `dir/passwd` and
/// `dir/group` (written here, empty but for root).
pub fn options(dir: &Path) -> ServerOptions {
    std::fs::write(dir.join("passwd"), "root:x:0:0:root:/root:/bin/bash\n").unwrap();
    std::fs::write(dir.join("group"), "root:x:0:\n").unwrap();
    ServerOptions {
        socket: dir.join("run/agent.sock"),
        passwd_file: dir.join("passwd"),
        group_file: dir.join("group"),
        ..ServerOptions::default()
    }
}
