//! pam_ward loaded by the real libpam into this test process, which is the
//! PAM application: it calls `pam_start`/`pam_authenticate`/`pam_chauthtok`
//! with conversation functions that misbehave (report errors, answer NULL,
//! answer an empty or a 1 MB or a non-UTF-8 password) and hostile PAM
//! items, and checks the PAM code — and, by still running, that the host
//! process survived. The module is pointed at a recording peer on a socket
//! of the test's own (`socket=`), which proves what was — and was not —
//! sent to the agent: a refused password never leaves the module. The peer
//! answers only lookups (the prelim check of `chauthtok`); password
//! decisions by the real agent are covered by cli/tests/pam_e2e.rs.
#![allow(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use ward_protocol::agent::{
    parse_request, read_frame, write_frame, Passwd, PasswordAnswer, PasswordOutcome, Request,
    Response, MAX_REQUEST, MAX_RESPONSE,
};

const PAM_SUCCESS: c_int = 0;
const PAM_AUTH_ERR: c_int = 7;
const PAM_AUTHINFO_UNAVAIL: c_int = 9;
const PAM_CONV_ERR: c_int = 19;
const PAM_AUTHTOK_ERR: c_int = 20;
const PAM_RHOST: c_int = 4;
const PAM_ERROR_MSG: c_int = 3;

#[repr(C)]
struct PamMessage {
    msg_style: c_int,
    msg: *const c_char,
}

#[repr(C)]
struct PamResponse {
    resp: *mut c_char,
    resp_retcode: c_int,
}

type ConvFn = unsafe extern "C" fn(
    c_int,
    *mut *const PamMessage,
    *mut *mut PamResponse,
    *mut c_void,
) -> c_int;

#[repr(C)]
struct PamConv {
    conv: Option<ConvFn>,
    appdata_ptr: *mut c_void,
}

#[repr(C)]
struct PamHandle {
    _p: [u8; 0],
}

#[link(name = "pam")]
extern "C" {
    fn pam_start(
        service: *const c_char,
        user: *const c_char,
        conv: *const PamConv,
        pamh: *mut *mut PamHandle,
    ) -> c_int;
    fn pam_end(pamh: *mut PamHandle, status: c_int) -> c_int;
    fn pam_authenticate(pamh: *mut PamHandle, flags: c_int) -> c_int;
    fn pam_chauthtok(pamh: *mut PamHandle, flags: c_int) -> c_int;
    fn pam_set_item(pamh: *mut PamHandle, item: c_int, value: *const c_void) -> c_int;
}

/// How the application's conversation behaves.
#[derive(Clone)]
enum Behaviour {
    /// Returns PAM_CONV_ERR.
    Error,
    /// Returns success with a NULL response array.
    NullArray,
    /// Returns success with a NULL answer string.
    NullAnswer,
    /// Answers each prompt with the next of these (the last repeats).
    Answers(Vec<Vec<u8>>),
}

struct App {
    behaviour: Behaviour,
    prompts: usize,
    /// Error messages the module showed.
    errors: Vec<String>,
}

unsafe extern "C" fn conversation(
    n: c_int,
    msgs: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata: *mut c_void,
) -> c_int {
    let app = &mut *appdata.cast::<App>();
    let n = usize::try_from(n).unwrap();
    let mut answer: Option<Vec<u8>> = None;
    let mut asked = false;
    for i in 0..n {
        let m = &**msgs.add(i);
        if m.msg_style == PAM_ERROR_MSG {
            app.errors
                .push(CStr::from_ptr(m.msg).to_string_lossy().into_owned());
        } else {
            asked = true;
        }
    }
    if asked {
        app.prompts += 1;
        match &app.behaviour {
            Behaviour::Error => return PAM_CONV_ERR,
            Behaviour::NullArray => {
                *resp = std::ptr::null_mut();
                return PAM_SUCCESS;
            }
            Behaviour::NullAnswer => {}
            Behaviour::Answers(list) => {
                answer = Some(list[(app.prompts - 1).min(list.len() - 1)].clone());
            }
        }
    }
    let arr = libc::calloc(n, std::mem::size_of::<PamResponse>()).cast::<PamResponse>();
    if let Some(a) = answer {
        let s = libc::malloc(a.len() + 1).cast::<u8>();
        std::ptr::copy_nonoverlapping(a.as_ptr(), s, a.len());
        *s.add(a.len()) = 0;
        (*arr).resp = s.cast();
    }
    *resp = arr;
    PAM_SUCCESS
}

/// The cdylib cargo built beside this test binary.
fn module() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let cands = [deps.join("libpam_ward.so"), deps.join("../libpam_ward.so")];
    cands
        .iter()
        .find(|p| p.exists())
        .cloned()
        .unwrap_or_else(|| panic!("libpam_ward.so missing: looked at {cands:?}"))
}

static N: AtomicUsize = AtomicUsize::new(0);

/// A recording peer on the test's own socket: it answers lookups and
/// remembers the op of every request it got.
struct Peer {
    dir: PathBuf,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Peer {
    fn start(tag: &str) -> Peer {
        let dir = std::env::temp_dir().join(format!(
            "pam-ward-conv-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let listener = UnixListener::bind(dir.join("agent.sock")).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for c in listener.incoming() {
                let Ok(mut c) = c else { return };
                while let Ok(body) = read_frame(&mut c, MAX_REQUEST) {
                    let answer = match parse_request(&body) {
                        Ok(Request::PasswdByName { name }) => {
                            log.lock().unwrap().push("passwd_by_name".into());
                            Response::Passwd {
                                entry: Some(Passwd {
                                    name,
                                    uid: 70001,
                                    gid: 70001,
                                    gecos: String::new(),
                                    home: "/home/x".into(),
                                    shell: "/bin/sh".into(),
                                }),
                            }
                        }
                        Ok(other) => {
                            let op = serde_json::to_value(&other).unwrap()["op"]
                                .as_str()
                                .unwrap()
                                .to_owned();
                            log.lock().unwrap().push(op);
                            Response::Password(PasswordAnswer {
                                outcome: PasswordOutcome::Wrong,
                                offline: false,
                                reason: None,
                            })
                        }
                        Err(e) => e,
                    };
                    if write_frame(&mut c, &answer, MAX_RESPONSE).is_err() {
                        break;
                    }
                }
            }
        });
        Peer { dir, seen }
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("agent.sock")
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A PAM service file of the test's own, removed on drop.
struct Service {
    name: String,
    path: PathBuf,
}

impl Service {
    /// `None` (test skipped) when /etc/pam.d cannot be written (not root).
    fn new(args: &str) -> Option<Service> {
        let name = format!(
            "ward-test-conv-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let path = Path::new("/etc/pam.d").join(&name);
        let m = module();
        let text = format!(
            "auth     required {m} {args}\n\
             account  required {m} {args}\n\
             password required {m} {args}\n",
            m = m.display()
        );
        if let Err(e) = std::fs::write(&path, text) {
            assert!(
                std::env::var("WARD_REQUIRE_PAM").is_err(),
                "cannot write {}: {e} (WARD_REQUIRE_PAM is set)",
                path.display()
            );
            eprintln!("skipping: cannot write {}: {e}", path.display());
            return None;
        }
        Some(Service { name, path })
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Which PAM call a run makes.
#[derive(Clone, Copy)]
enum Call {
    Authenticate,
    Chauthtok,
}

/// Runs one PAM transaction as the application; returns the code and the
/// application's record of the conversation.
fn run(
    svc: &Service,
    user: &[u8],
    rhost: Option<&[u8]>,
    behaviour: Behaviour,
    call: Call,
) -> (c_int, App) {
    let mut app = Box::new(App {
        behaviour,
        prompts: 0,
        errors: Vec::new(),
    });
    let conv = PamConv {
        conv: Some(conversation),
        appdata_ptr: (&mut *app as *mut App).cast(),
    };
    let service = CString::new(svc.name.as_str()).unwrap();
    let user = CString::new(user).unwrap();
    let mut pamh: *mut PamHandle = std::ptr::null_mut();
    let rc = unsafe {
        let rc = pam_start(service.as_ptr(), user.as_ptr(), &conv, &mut pamh);
        assert_eq!(rc, PAM_SUCCESS, "pam_start");
        if let Some(r) = rhost {
            let r = CString::new(r).unwrap();
            assert_eq!(
                pam_set_item(pamh, PAM_RHOST, r.as_ptr().cast()),
                PAM_SUCCESS
            );
        }
        let rc = match call {
            Call::Authenticate => pam_authenticate(pamh, 0),
            Call::Chauthtok => pam_chauthtok(pamh, 0),
        };
        pam_end(pamh, rc);
        rc
    };
    (rc, *app)
}

#[test]
fn failed_and_null_conversations_are_conv_errors_and_nothing_is_sent() {
    let peer = Peer::start("null");
    let Some(svc) = Service::new(&format!("socket={} timeout=2", peer.socket().display())) else {
        return;
    };
    for (behaviour, what) in [
        (Behaviour::Error, "error"),
        (Behaviour::NullArray, "NULL response array"),
        (Behaviour::NullAnswer, "NULL answer"),
    ] {
        let (rc, app) = run(&svc, b"alice", None, behaviour.clone(), Call::Authenticate);
        assert_eq!(rc, PAM_CONV_ERR, "authenticate, {what}");
        assert_eq!(app.prompts, 1, "{what}");
        // chauthtok: the prelim check reaches the peer (a lookup), the
        // update phase fails at the first prompt.
        let (rc, app) = run(&svc, b"alice", None, behaviour, Call::Chauthtok);
        assert_eq!(rc, PAM_CONV_ERR, "chauthtok, {what}");
        assert_eq!(app.prompts, 1, "{what}");
    }
    let seen = peer.seen();
    assert!(
        seen.iter().all(|op| op == "passwd_by_name") && seen.len() == 3,
        "{seen:?}"
    );
}

#[test]
fn empty_huge_and_non_utf8_passwords_are_refused_before_the_agent() {
    let peer = Peer::start("bad");
    let Some(svc) = Service::new(&format!("socket={} timeout=2", peer.socket().display())) else {
        return;
    };
    let huge = vec![b'a'; 1024 * 1024];
    let just_over = vec![b'b'; ward_protocol::host::MAX_PASSWORD_BYTES + 1];
    for (pw, what) in [
        (Vec::new(), "empty"),
        (huge, "1 MB"),
        (just_over, "MAX_PASSWORD_BYTES + 1"),
        (b"\xff\xfe\xfd".to_vec(), "not UTF-8"),
    ] {
        let (rc, app) = run(
            &svc,
            b"alice",
            None,
            Behaviour::Answers(vec![pw.clone()]),
            Call::Authenticate,
        );
        assert_eq!(rc, PAM_AUTH_ERR, "{what}");
        assert_eq!(app.prompts, 1, "{what}");
        // A new password that is too long or empty is refused the same
        // way (current password fine, new one not).
        let (rc, _) = run(
            &svc,
            b"alice",
            None,
            Behaviour::Answers(vec![b"current-pw".to_vec(), pw]),
            Call::Chauthtok,
        );
        assert!(
            rc == PAM_AUTH_ERR || rc == PAM_AUTHTOK_ERR,
            "chauthtok {what}: {rc}"
        );
    }
    // Only the prelim lookups reached the peer: no password was sent.
    let seen = peer.seen();
    assert!(
        seen.iter().all(|op| op == "passwd_by_name") && !seen.is_empty(),
        "{seen:?}"
    );
    // The same peer does receive a well-formed password (the refusals
    // above were the module's, not a broken socket).
    let (rc, _) = run(
        &svc,
        b"alice",
        None,
        Behaviour::Answers(vec![b"well-formed".to_vec()]),
        Call::Authenticate,
    );
    assert_eq!(rc, PAM_AUTH_ERR);
    assert_eq!(
        peer.seen().last().map(String::as_str),
        Some("verify_password")
    );
}

#[test]
fn mismatched_new_passwords_are_refused_before_the_agent() {
    let peer = Peer::start("mismatch");
    let Some(svc) = Service::new(&format!("socket={} timeout=2", peer.socket().display())) else {
        return;
    };
    let (rc, app) = run(
        &svc,
        b"alice",
        None,
        Behaviour::Answers(vec![
            b"current-pw".to_vec(),
            b"new-one-1".to_vec(),
            b"new-one-2".to_vec(),
        ]),
        Call::Chauthtok,
    );
    assert_eq!(rc, PAM_AUTHTOK_ERR);
    assert_eq!(app.prompts, 3);
    assert!(
        app.errors.iter().any(|e| e.contains("do not match")),
        "{:?}",
        app.errors
    );
    assert!(!peer.seen().iter().any(|op| op == "change_password"));
}

#[test]
fn hostile_items_are_refused_without_asking_the_agent() {
    let peer = Peer::start("items");
    let Some(svc) = Service::new(&format!("socket={} timeout=2", peer.socket().display())) else {
        return;
    };
    let long = vec![b'a'; 5000];
    let cases: Vec<(&[u8], Option<&[u8]>)> = vec![
        (b"al\x01ice", None),
        (&long, None),
        (b"\xff\xfeuser", None),
        (b"../../etc/shadow", Some(b"\x1b[31mevil")),
        (b"alice", Some(b"1.2.3.4\n5.6.7.8")),
        (b"alice", Some(&long)),
    ];
    for (user, rhost) in cases {
        let (rc, _) = run(
            &svc,
            user,
            rhost,
            Behaviour::Answers(vec![b"some-password".to_vec()]),
            Call::Authenticate,
        );
        assert_eq!(rc, PAM_AUTH_ERR, "{user:?} {rhost:?}");
    }
    assert!(peer.seen().is_empty(), "{:?}", peer.seen());
}

#[test]
fn an_absent_agent_fails_closed_for_passwords() {
    let dir = std::env::temp_dir().join(format!("pam-ward-conv-absent-{}", std::process::id()));
    let Some(svc) = Service::new(&format!("socket={}/absent.sock timeout=1", dir.display())) else {
        return;
    };
    let (rc, app) = run(
        &svc,
        b"ward-nobody-xyz",
        None,
        Behaviour::Answers(vec![b"pw".to_vec()]),
        Call::Authenticate,
    );
    assert_eq!(rc, PAM_AUTHINFO_UNAVAIL);
    assert!(
        app.errors.iter().any(|e| e.contains("cannot check")),
        "{:?}",
        app.errors
    );
}
