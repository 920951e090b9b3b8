//! The agent socket served by the real `server::serve` on a temporary
//! Unix socket: frames malformed, oversized and truncated; a stalled and a
//! trickling peer; connection caps; decisions refused to non-root peers
//! (a real `ward-agent` process run as `nobody`); protocol versions; and
//! the sshd helper commands failing closed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::*;
use ward_protocol::agent::{exchange, read_frame, Request, Response, MAX_RESPONSE};

fn connect(p: &Path) -> UnixStream {
    let s = UnixStream::connect(p).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

fn raw(s: &mut UnixStream, body: &[u8]) -> Response {
    let mut f = (body.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(body);
    s.write_all(&f).unwrap();
    let b = read_frame(s, MAX_RESPONSE).unwrap();
    serde_json::from_slice(&b).unwrap()
}

fn code(r: &Response) -> &str {
    match r {
        Response::Error { code, .. } => code,
        other => panic!("not an error: {other:?}"),
    }
}

fn alice(s: &mut UnixStream) -> Option<String> {
    match exchange(
        s,
        Request::PasswdByName {
            name: "alice".into(),
        },
    )
    .unwrap()
    {
        Response::Passwd { entry } => entry.map(|e| e.name),
        other => panic!("{other:?}"),
    }
}

/// The connection was closed by the server (EOF or reset), eventually.
fn closed(s: &mut UnixStream) -> bool {
    let mut b = [0u8; 64];
    loop {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[test]
fn bad_frames_get_errors_and_others_are_still_served() {
    let dir = TempDir::new("ward-agent-sock");
    let (sh, _) = shared(Some(base_snapshot()), now(), 3600);
    let srv = start(sh, options(dir.path()));
    let mode = std::fs::metadata(&srv.socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o666);
    let dmode = std::fs::metadata(srv.socket.parent().unwrap())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(dmode & 0o777, 0o755);

    let mut c = connect(&srv.socket);
    // Malformed bodies: an error each, and the connection stays usable.
    assert_eq!(code(&raw(&mut c, b"\xff\xfe")), "malformed");
    assert_eq!(code(&raw(&mut c, b"{}")), "malformed");
    assert_eq!(
        code(&raw(&mut c, br#"{"v":1,"op":"passwd_by_uid","uid":"x"}"#)),
        "malformed"
    );
    assert_eq!(code(&raw(&mut c, br#"{"v":2,"op":"status"}"#)), "version");
    assert_eq!(
        code(&raw(
            &mut c,
            br#"{"v":65535,"op":"passwd_by_name","name":"alice"}"#
        )),
        "version"
    );
    assert_eq!(alice(&mut c).as_deref(), Some("alice"));

    // A truncated frame, then the peer goes away: nothing breaks.
    let mut t = connect(&srv.socket);
    t.write_all(&100u32.to_be_bytes()).unwrap();
    t.write_all(b"{\"v\":1").unwrap();
    drop(t);

    // An oversized prefix: too_large, then the connection is closed.
    let mut o = connect(&srv.socket);
    o.write_all(&(u32::MAX).to_be_bytes()).unwrap();
    let b = read_frame(&mut o, MAX_RESPONSE).unwrap();
    let r: Response = serde_json::from_slice(&b).unwrap();
    assert_eq!(code(&r), "too_large");
    assert!(closed(&mut o));

    assert_eq!(alice(&mut connect(&srv.socket)).as_deref(), Some("alice"));
    // Status for anyone.
    match exchange(&mut c, Request::Status).unwrap() {
        Response::Status(s) => {
            assert_eq!(s.generation, 1);
            assert!(!s.stale);
            assert_eq!(s.host, "web-01");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn stalled_peers_cannot_hold_slots() {
    let dir = TempDir::new("ward-agent-stall");
    let (sh, _) = shared(Some(base_snapshot()), now(), 3600);
    let mut opts = options(dir.path());
    opts.max_connections = 2;
    opts.idle_timeout = Duration::from_secs(4);
    opts.read_timeout = Duration::from_secs(1);
    let srv = start(sh, opts);

    // Two peers connect and say nothing: the cap is reached.
    let mut a = connect(&srv.socket);
    let mut b = connect(&srv.socket);
    // The accept loop handles connections in order, so by the time a
    // third one is answered, both slots are held.
    let mut c = connect(&srv.socket);
    let r = read_frame(&mut c, MAX_RESPONSE).unwrap();
    let r: Response = serde_json::from_slice(&r).unwrap();
    assert_eq!(code(&r), "busy");
    assert!(closed(&mut c));
    // The stalled peers are dropped after the idle timeout...
    assert!(closed(&mut a));
    assert!(closed(&mut b));
    // ...and their slots serve others again.
    assert_eq!(alice(&mut connect(&srv.socket)).as_deref(), Some("alice"));

    // A peer that trickles a frame one byte at a time is cut off at the
    // frame deadline, not kept alive by each byte.
    let mut t = connect(&srv.socket);
    let body = br#"{"v":1,"op":"passwd_by_name","name":"alice"}"#;
    let mut frame = (body.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(body);
    let mut cut = false;
    for byte in frame {
        if t.write_all(&[byte]).is_err() {
            cut = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(150));
    }
    // All 48 bytes took > 7 s; the deadline is 1 s after the first byte.
    assert!(
        cut || closed(&mut t),
        "a trickling peer kept its connection"
    );
}

/// Not a test on its own: run by `connection_caps` as another uid (with
/// `WARD_HOLD_SOCKET` set), it connects, asks one lookup, prints what it
/// got and holds the connection until its stdin closes.
#[test]
fn hold_helper() {
    let Some(path) = std::env::var_os("WARD_HOLD_SOCKET") else {
        return;
    };
    let mut s = connect(Path::new(&path));
    println!("HOLD: {}", busy_or_served(&mut s));
    let _ = std::io::stdout().flush();
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}

struct Holder {
    child: std::process::Child,
    got: String,
    rest: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
}

/// Runs `hold_helper` as `uid`, returning once it reported.
fn hold(socket: &Path, uid: u32) -> Holder {
    use std::io::BufRead;
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "hold_helper", "--nocapture", "--test-threads=1"])
        .env("WARD_HOLD_SOCKET", socket)
        .uid(uid)
        .gid(65534)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let got = loop {
        match lines.next() {
            Some(Ok(l)) => {
                // libtest prints "test hold_helper ... " without a newline.
                if let Some(i) = l.find("HOLD: ") {
                    break l[i + 6..].trim().to_owned();
                }
            }
            other => panic!("holder {uid} said nothing: {other:?}"),
        }
    };
    Holder {
        child,
        got,
        rest: lines,
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        for _ in self.rest.by_ref() {}
        let _ = self.child.wait();
    }
}

/// One lookup; a refused connection's `busy` frame is read even when the
/// server closed before the request could be written.
fn busy_or_served(s: &mut UnixStream) -> String {
    let req = ward_protocol::agent::Envelope::new(Request::PasswdByName {
        name: "alice".into(),
    });
    let _ = ward_protocol::agent::write_frame(s, &req, ward_protocol::agent::MAX_REQUEST);
    match read_frame(s, MAX_RESPONSE).map(|b| serde_json::from_slice::<Response>(&b)) {
        Ok(Ok(Response::Passwd { .. })) => "served".into(),
        Ok(Ok(Response::Error { code, .. })) => code,
        other => format!("{other:?}"),
    }
}

#[test]
fn connection_caps() {
    let dir = TempDir::new("ward-agent-caps");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let (sh, _) = shared(Some(base_snapshot()), now(), 3600);
    let mut opts = options(dir.path());
    // 4 in all; unprivileged peers 3 together (a quarter is reserved for
    // root and the decision uids), 1 per uid.
    opts.max_connections = 4;
    opts.max_per_uid = 1;
    let srv = start(sh, opts);
    let a = hold(&srv.socket, 65534);
    assert_eq!(a.got, "served");
    let a2 = hold(&srv.socket, 65534);
    assert_eq!(a2.got, "busy", "a second connection of one uid");
    drop(a2);
    let b = hold(&srv.socket, 65533);
    let c = hold(&srv.socket, 65532);
    assert_eq!((b.got.as_str(), c.got.as_str()), ("served", "served"));
    let d = hold(&srv.socket, 65531);
    assert_eq!(d.got, "busy", "unprivileged peers may not take the reserve");
    drop(d);
    // Root (sshd's helper commands) still gets the reserved slot...
    let mut r1 = connect(&srv.socket);
    assert_eq!(busy_or_served(&mut r1), "served");
    // ...and the total holds for everyone.
    let mut r2 = connect(&srv.socket);
    assert_eq!(busy_or_served(&mut r2), "busy");
    // Slots come back when holders leave.
    drop(a);
    let mut ok = false;
    for _ in 0..400 {
        if busy_or_served(&mut connect(&srv.socket)) == "served" {
            ok = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    assert!(ok, "a freed slot was not reused");
    drop((b, c, r1));
}

fn agent_bin() -> &'static str {
    env!("CARGO_BIN_EXE_ward-agent")
}

fn config(dir: &Path, socket: &Path) -> std::path::PathBuf {
    let p = dir.join("agent.toml");
    std::fs::write(&p, format!("socket = {:?}\n", socket.display().to_string())).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    p
}

#[test]
fn decisions_are_refused_to_non_root_peers() {
    let dir = TempDir::new("ward-agent-nobody");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut snap = base_snapshot();
    let key = ward_pki::sshca::SshCa::generate(ward_pki::sshca::CaAlg::Ed25519)
        .unwrap()
        .public_key();
    let fp = key.fingerprint(ssh_key::HashAlg::Sha256).to_string();
    snap.users[0].ssh_keys = vec![ward_protocol::host::SnapshotSshKey {
        id: "APKA1".into(),
        public_key: key.to_openssh().unwrap(),
        status: "Active".into(),
    }];
    let (sh, rec) = shared(Some(snap), now(), 3600);
    let mut opts = options(dir.path());
    opts.decision_uids = vec![65533];
    let srv = start(sh, opts);
    let cfg = config(dir.path(), &srv.socket);
    let run = |uid: Option<u32>| {
        let mut cmd = Command::new(agent_bin());
        cmd.arg("--config")
            .arg(&cfg)
            .args(["ssh-authorized-keys", "--", "alice", &fp]);
        if let Some(u) = uid {
            cmd.uid(u).gid(65534);
        }
        cmd.output().unwrap()
    };
    let out = run(Some(65534));
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("forbidden"), "{err}");
    assert!(
        rec.events().is_empty(),
        "a refused peer's request was decided"
    );
    // A configured decision uid and root are answered.
    for uid in [Some(65533), None] {
        let out = run(uid);
        assert!(
            out.status.success(),
            "{uid:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = String::from_utf8(out.stdout).unwrap();
        assert_eq!(line.trim_end(), key.to_openssh().unwrap());
    }
    assert_eq!(rec.events().len(), 2);
}

#[test]
fn helper_commands_fail_closed() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let dir = TempDir::new("ward-agent-helper");
    // No agent on the socket.
    let cfg = config(dir.path(), &dir.path().join("none.sock"));
    let run = |args: &[&OsStr]| {
        Command::new(agent_bin())
            .arg("--config")
            .arg(&cfg)
            .args(args)
            .output()
            .unwrap()
    };
    let s = |x: &'static str| OsStr::new(x);
    for args in [
        vec![
            s("ssh-authorized-principals"),
            s("--"),
            s("alice"),
            s("AIDAALICE0000000001"),
            s("7"),
            s("AAAA"),
        ],
        vec![
            s("ssh-authorized-keys"),
            s("--"),
            s("alice"),
            s("SHA256:abc"),
        ],
        // Non-UTF-8 and junk tokens are refused before anything is asked.
        vec![
            s("ssh-authorized-keys"),
            s("--"),
            OsStr::from_bytes(b"al\xffice"),
            s("SHA256:abc"),
        ],
        vec![
            s("ssh-authorized-principals"),
            s("--"),
            s("alice"),
            s("AIDA"),
            s("%s"),
            s("AAAA"),
        ],
        vec![
            s("ssh-authorized-principals"),
            s("--"),
            s("alice"),
            s("AIDA"),
            s("-1"),
            s("AAAA"),
        ],
    ] {
        let out = run(&args);
        assert!(!out.status.success(), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?}");
    }
    // With the agent up but the snapshot stale: nothing printed either.
    let (sh, _) = shared(Some(base_snapshot()), now() - 100_000, 3600);
    let srv = start(sh, options(dir.path()));
    let cfg = config(dir.path(), &srv.socket);
    let out = Command::new(agent_bin())
        .arg("--config")
        .arg(&cfg)
        .args(["ssh-authorized-keys", "--", "alice", "SHA256:abc"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("staleness"));
}

#[test]
fn a_live_socket_is_not_taken_over_and_a_stale_one_is_replaced() {
    let dir = TempDir::new("ward-agent-stale");
    let (sh, _) = shared(Some(base_snapshot()), now(), 3600);
    let srv = start(sh.clone(), options(dir.path()));
    let err = ward_agent::server::serve(sh.clone(), options(dir.path())).unwrap_err();
    assert!(err.to_string().contains("running agent"), "{err}");
    drop(srv);
    // A leftover socket file (no listener) is removed and bound again.
    let l = std::os::unix::net::UnixListener::bind(dir.path().join("run/agent.sock")).unwrap();
    drop(l);
    assert!(dir.path().join("run/agent.sock").exists());
    let srv = start(sh.clone(), options(dir.path()));
    assert_eq!(alice(&mut connect(&srv.socket)).as_deref(), Some("alice"));
    drop(srv);
    // A regular file at the path is not removed.
    std::fs::write(dir.path().join("run/agent.sock"), "x").unwrap();
    let err = ward_agent::server::serve(sh, options(dir.path())).unwrap_err();
    assert!(err.to_string().contains("not a socket"), "{err}");
}
