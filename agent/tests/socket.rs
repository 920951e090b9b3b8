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

#[test]
fn per_uid_cap() {
    let dir = TempDir::new("ward-agent-peruid");
    let (sh, _) = shared(Some(base_snapshot()), now(), 3600);
    let mut opts = options(dir.path());
    opts.max_per_uid = 1;
    let srv = start(sh, opts);
    let mut a = connect(&srv.socket);
    assert_eq!(alice(&mut a).as_deref(), Some("alice"));
    let mut b = connect(&srv.socket);
    let r = read_frame(&mut b, MAX_RESPONSE).unwrap();
    assert_eq!(code(&serde_json::from_slice(&r).unwrap()), "busy");
    drop(a);
    // The slot comes back once the first connection is gone.
    let mut ok = false;
    for _ in 0..200 {
        let mut c = connect(&srv.socket);
        if let Ok(Response::Passwd { entry: Some(_) }) = exchange(
            &mut c,
            Request::PasswdByName {
                name: "alice".into(),
            },
        ) {
            ok = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    assert!(ok);
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
