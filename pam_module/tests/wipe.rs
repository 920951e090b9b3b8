//! Passwords do not stay behind in freed memory: every heap block that
//! is freed while a password travels from pam_ward to the agent and back
//! is scanned (a global allocator wrapping the system's), and none may
//! still hold the password. Covers pam_ward's request (`logic`), the
//! frame written by ward-agentlink ([`write_frame`]), the agent side's
//! read buffer ([`read_frame`]) and the parsed request (`Secret`).
//!
//! Its own test binary: the allocator sees every block of the process,
//! and only this test uses the marker password.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// A global allocator is `unsafe` by definition; it only forwards to the
// system allocator after reading the block being freed.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use pam_ward::args::Args;
use pam_ward::logic::{self, Items, PasswordVerdict};
use ward_protocol::agent::{
    parse_request, read_frame, write_frame, FrameBuf, PasswordAnswer, PasswordOutcome, Request,
    Response, MAX_REQUEST, MAX_RESPONSE,
};

/// The password; no other code of the process holds these bytes.
const MARK: &[u8] = b"Wipe-Marker-Quokka-7391-Password";

static ARMED: AtomicBool = AtomicBool::new(false);
static FREED_WITH_PASSWORD: AtomicUsize = AtomicUsize::new(0);

struct Scanning;

// SAFETY: every call is forwarded to `System` with the same arguments;
// `dealloc` only reads the `layout.size()` bytes of the block it is given
// before the system frees it.
unsafe impl GlobalAlloc for Scanning {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ARMED.load(Ordering::Relaxed) && layout.size() >= MARK.len() {
            let block = std::slice::from_raw_parts(ptr, layout.size());
            if block.windows(MARK.len()).any(|w| w == MARK) {
                FREED_WITH_PASSWORD.fetch_add(1, Ordering::Relaxed);
            }
        }
        System.dealloc(ptr, layout)
    }
    // `realloc` is GlobalAlloc's default: alloc, copy, then `dealloc` of
    // the old block, which is scanned too.
}

#[global_allocator]
static ALLOC: Scanning = Scanning;

#[test]
fn frame_buffers_are_wiped_when_dropped() {
    // The buffer type itself: zeroized on drop.
    fn wipes_on_drop<T: zeroize::ZeroizeOnDrop>() {}
    wipes_on_drop::<FrameBuf>();
    ARMED.store(true, Ordering::SeqCst);
    let before = FREED_WITH_PASSWORD.load(Ordering::SeqCst);
    {
        let mut frame: FrameBuf = FrameBuf::new(Vec::with_capacity(64));
        frame.extend_from_slice(MARK);
    }
    {
        // A plain Vec is not: the scan sees it (the check can fail).
        let mut plain: Vec<u8> = Vec::with_capacity(64);
        plain.extend_from_slice(MARK);
        drop(std::hint::black_box(plain));
    }
    ARMED.store(false, Ordering::SeqCst);
    assert_eq!(FREED_WITH_PASSWORD.load(Ordering::SeqCst) - before, 1);

    // A whole verify_password exchange: pam_ward's logic, the link, and a
    // peer reading and parsing frames as the agent does.
    let dir = std::env::temp_dir().join(format!("pam-ward-wipe-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("agent.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let peer = std::thread::spawn(move || {
        let (mut c, _) = listener.accept().unwrap();
        let body = read_frame(&mut c, MAX_REQUEST).unwrap();
        let got = match parse_request(&body) {
            Ok(Request::VerifyPassword(r)) => r.password.0.as_bytes() == MARK,
            _ => false,
        };
        drop(body);
        let answer = Response::Password(PasswordAnswer {
            outcome: PasswordOutcome::Ok,
            offline: false,
            reason: None,
        });
        write_frame(&mut c, &answer, MAX_RESPONSE).unwrap();
        got
    });
    let args = Args {
        socket: sock,
        ..Args::default()
    };
    let items = Items {
        service: Some("login".into()),
        user: Some("alice".into()),
        ..Items::default()
    };
    let password = zeroize::Zeroizing::new(String::from_utf8(MARK.to_vec()).unwrap());
    ARMED.store(true, Ordering::SeqCst);
    let verdict = logic::verify_password(&args, &items, &password, Path::new("/nonexistent"));
    let peer_saw_it = peer.join().unwrap();
    drop(password);
    ARMED.store(false, Ordering::SeqCst);
    assert_eq!(verdict, PasswordVerdict::Ok);
    assert!(peer_saw_it, "the peer did not get the password");
    assert_eq!(
        FREED_WITH_PASSWORD.load(Ordering::SeqCst) - before - 1,
        0,
        "a block freed with the password still in it"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
