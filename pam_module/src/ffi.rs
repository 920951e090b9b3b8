//! The C ABI, and the only `unsafe` code of the module: the `pam_sm_*`
//! entry points libpam calls, each under `catch_unwind` (a panic becomes
//! `PAM_SYSTEM_ERR`, never an unwind into C), reading PAM items, talking
//! to the user through the application's conversation function, logging
//! with `pam_syslog` (authpriv), looking accounts up with `getpwnam_r`,
//! and a connect to the agent socket bounded by a timeout.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::io;
use std::os::fd::FromRawFd;
use std::os::unix::net::UnixStream;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::Duration;

use crate::args::{self, Args};
use crate::logic::{self, Items, Verdict};
use crate::session::{self, Account};

/// libpam's opaque handle.
#[repr(C)]
pub struct PamHandle {
    _private: [u8; 0],
}

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
    num_msg: c_int,
    msg: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata: *mut c_void,
) -> c_int;

#[repr(C)]
struct PamConv {
    conv: Option<ConvFn>,
    appdata_ptr: *mut c_void,
}

const PAM_SUCCESS: c_int = 0;
const PAM_SYSTEM_ERR: c_int = 4;
const PAM_PERM_DENIED: c_int = 6;
const PAM_AUTHINFO_UNAVAIL: c_int = 9;
const PAM_USER_UNKNOWN: c_int = 10;
const PAM_SESSION_ERR: c_int = 14;
const PAM_IGNORE: c_int = 25;

const PAM_SERVICE: c_int = 1;
const PAM_USER: c_int = 2;
const PAM_RHOST: c_int = 4;
const PAM_CONV: c_int = 5;
const PAM_RUSER: c_int = 8;

const PAM_ERROR_MSG: c_int = 3;

const LOG_ERR: c_int = 3;
const LOG_NOTICE: c_int = 5;
const LOG_INFO: c_int = 6;
const LOG_DEBUG: c_int = 7;

#[link(name = "pam")]
extern "C" {
    fn pam_get_item(pamh: *const PamHandle, item_type: c_int, item: *mut *const c_void) -> c_int;
    fn pam_syslog(pamh: *const PamHandle, priority: c_int, fmt: *const c_char, ...);
}

/// Runs `f` with the parsed arguments, turning a panic into
/// `PAM_SYSTEM_ERR`.
fn entry(
    pamh: *mut PamHandle,
    argc: c_int,
    argv: *const *const c_char,
    f: impl FnOnce(*mut PamHandle, &Args) -> c_int,
) -> c_int {
    if pamh.is_null() {
        return PAM_SYSTEM_ERR;
    }
    let result = catch_unwind(AssertUnwindSafe(|| {
        let raw = module_args(argc, argv);
        let (args, problems) = args::parse(raw.iter().map(|a| a.as_slice()));
        for p in problems {
            log(pamh, LOG_NOTICE, &p);
        }
        f(pamh, &args)
    }));
    result.unwrap_or(PAM_SYSTEM_ERR)
}

fn module_args(argc: c_int, argv: *const *const c_char) -> Vec<Vec<u8>> {
    let n = usize::try_from(argc).unwrap_or(0);
    if argv.is_null() {
        return Vec::new();
    }
    (0..n)
        .filter_map(|i| {
            // SAFETY: libpam passes argc valid pointers in argv.
            let p = unsafe { *argv.add(i) };
            (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_bytes().to_vec())
        })
        .collect()
}

/// A string item, or `None` when unset, not UTF-8 or unreadable.
fn item(pamh: *mut PamHandle, which: c_int) -> Option<String> {
    let mut p: *const c_void = std::ptr::null();
    // SAFETY: pamh is libpam's handle; p receives a pointer owned by libpam.
    let rc = unsafe { pam_get_item(pamh, which, &mut p) };
    if rc != PAM_SUCCESS || p.is_null() {
        return None;
    }
    // SAFETY: string items are NUL-terminated C strings owned by libpam.
    let bytes = unsafe { CStr::from_ptr(p.cast::<c_char>()) }.to_bytes();
    String::from_utf8(bytes.to_vec()).ok()
}

/// Logs to syslog (authpriv, through libpam) — never a password.
fn log(pamh: *mut PamHandle, priority: c_int, message: &str) {
    let text: String = message
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(1024)
        .collect();
    let Ok(text) = CString::new(text) else { return };
    // SAFETY: a constant "%s" format with one C string argument.
    unsafe { pam_syslog(pamh, priority, c"%s".as_ptr(), text.as_ptr()) };
}

/// Shows `message` to the user as an error through the conversation; any
/// failure of the application's conversation function is ignored (the
/// PAM result does not depend on it).
fn tell(pamh: *mut PamHandle, message: &str) {
    let mut p: *const c_void = std::ptr::null();
    // SAFETY: as in `item`.
    let rc = unsafe { pam_get_item(pamh, PAM_CONV, &mut p) };
    if rc != PAM_SUCCESS || p.is_null() {
        return;
    }
    // SAFETY: the PAM_CONV item is a `struct pam_conv`.
    let conv = unsafe { &*p.cast::<PamConv>() };
    let Some(f) = conv.conv else { return };
    let text: String = message
        .chars()
        .filter(|c| !c.is_control())
        .take(512)
        .collect();
    let Ok(text) = CString::new(text) else { return };
    let msg = PamMessage {
        msg_style: PAM_ERROR_MSG,
        msg: text.as_ptr(),
    };
    let mut msgs = [&msg as *const PamMessage];
    let mut resp: *mut PamResponse = std::ptr::null_mut();
    // SAFETY: one valid message; the application allocates `resp` with
    // malloc (or leaves it NULL), and we free what it returned.
    unsafe {
        f(1, msgs.as_mut_ptr(), &mut resp, conv.appdata_ptr);
        if !resp.is_null() {
            if !(*resp).resp.is_null() {
                libc::free((*resp).resp.cast());
            }
            libc::free(resp.cast());
        }
    }
}

/// Connects to a Unix socket, giving up after `timeout` (a stuck agent
/// with a full backlog must not hang a login).
pub(crate) fn connect_bounded(path: &Path, timeout: Duration) -> io::Result<UnixStream> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    // SAFETY: plain socket syscalls on a descriptor we own; sockaddr_un is
    // zeroed and filled within bounds (checked below).
    unsafe {
        let mut addr: libc::sockaddr_un = std::mem::zeroed();
        if bytes.len() >= addr.sun_path.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "socket path too long",
            ));
        }
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (d, s) in addr.sun_path.iter_mut().zip(bytes) {
            *d = *s as c_char;
        }
        let fd = libc::socket(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        );
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let stream = UnixStream::from_raw_fd(fd);
        let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
        let rc = libc::connect(fd, (&addr as *const libc::sockaddr_un).cast(), len);
        if rc != 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINPROGRESS) && e.raw_os_error() != Some(libc::EAGAIN)
            {
                return Err(e);
            }
            let mut pfd = libc::pollfd {
                fd,
                events: libc::POLLOUT,
                revents: 0,
            };
            let ms = c_int::try_from(timeout.as_millis()).unwrap_or(c_int::MAX);
            let n = libc::poll(&mut pfd, 1, ms);
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out"));
            }
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            let mut err: c_int = 0;
            let mut elen = std::mem::size_of::<c_int>() as libc::socklen_t;
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                (&mut err as *mut c_int).cast(),
                &mut elen,
            );
            if err != 0 {
                return Err(io::Error::from_raw_os_error(err));
            }
        }
        stream.set_nonblocking(false)?;
        Ok(stream)
    }
}

/// `getpwnam_r`: the account NSS knows by `name` (ward's through
/// libnss_ward, or a local one).
fn account_of(name: &str) -> Option<Account> {
    let cname = CString::new(name).ok()?;
    let mut buf = vec![0u8; 16 * 1024];
    // SAFETY: getpwnam_r writes into `pwd` and `buf` (sized as passed) and
    // sets `result` to &pwd on success.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwnam_r(
            cname.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        );
        if rc != 0 || result.is_null() || pwd.pw_dir.is_null() {
            return None;
        }
        let home = CStr::from_ptr(pwd.pw_dir).to_str().ok()?.to_owned();
        Some(Account {
            uid: pwd.pw_uid,
            gid: pwd.pw_gid,
            home,
        })
    }
}

fn items(pamh: *mut PamHandle) -> Items {
    Items {
        service: item(pamh, PAM_SERVICE),
        user: item(pamh, PAM_USER),
        ruser: item(pamh, PAM_RUSER),
        rhost: item(pamh, PAM_RHOST),
        auth_method: None,
    }
}

/// `account`: host:Login / host:Sudo.
#[no_mangle]
pub extern "C" fn pam_sm_acct_mgmt(
    pamh: *mut PamHandle,
    _flags: c_int,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    entry(pamh, argc, argv, |pamh, args| {
        let it = items(pamh);
        let who = it.user.clone().unwrap_or_default();
        match logic::account(args, &it, Path::new("/etc/passwd")) {
            Verdict::Allow => {
                if args.debug {
                    log(pamh, LOG_DEBUG, &format!("ward allowed {who}"));
                }
                PAM_SUCCESS
            }
            Verdict::Deny(reason) => {
                log(pamh, LOG_NOTICE, &format!("ward denied {who}: {reason}"));
                tell(pamh, &format!("ward: access denied: {reason}"));
                PAM_PERM_DENIED
            }
            Verdict::Refused(why) => {
                log(
                    pamh,
                    LOG_NOTICE,
                    &format!("ward refused the request: {why}"),
                );
                PAM_PERM_DENIED
            }
            Verdict::Unknown => {
                if args.debug {
                    log(pamh, LOG_DEBUG, &format!("{who} is not a ward user"));
                }
                if args.ignore_unknown_user {
                    PAM_IGNORE
                } else {
                    PAM_USER_UNKNOWN
                }
            }
            Verdict::Unavailable(why) => {
                log(pamh, LOG_ERR, &format!("denying {who}: {why}"));
                tell(pamh, "ward: cannot check access right now");
                PAM_AUTHINFO_UNAVAIL
            }
        }
    })
}

/// `session` open: the home directory.
#[no_mangle]
pub extern "C" fn pam_sm_open_session(
    pamh: *mut PamHandle,
    _flags: c_int,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    entry(pamh, argc, argv, |pamh, _args| {
        let Some(user) = item(pamh, PAM_USER) else {
            return PAM_SESSION_ERR;
        };
        let Some(account) = account_of(&user) else {
            log(pamh, LOG_ERR, &format!("no account for {user}"));
            return PAM_SESSION_ERR;
        };
        match session::ensure_home(&account, Path::new("/etc/skel")) {
            Ok(session::Home::Created) => {
                log(
                    pamh,
                    LOG_INFO,
                    &format!("created {} for {user}", account.home),
                );
                PAM_SUCCESS
            }
            Ok(session::Home::Existed) => PAM_SUCCESS,
            Err(e) => {
                log(
                    pamh,
                    LOG_ERR,
                    &format!("cannot create {}: {e}", account.home),
                );
                PAM_SESSION_ERR
            }
        }
    })
}

/// `session` close: nothing to undo.
#[no_mangle]
pub extern "C" fn pam_sm_close_session(
    pamh: *mut PamHandle,
    _flags: c_int,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    entry(pamh, argc, argv, |_, _| PAM_SUCCESS)
}

/// `auth`: needs the agent's password route (not built yet) — fails
/// closed and says so.
#[no_mangle]
pub extern "C" fn pam_sm_authenticate(
    pamh: *mut PamHandle,
    _flags: c_int,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    entry(pamh, argc, argv, |pamh, _| {
        log(
            pamh,
            LOG_ERR,
            "password authentication through ward is not available in this build",
        );
        PAM_AUTHINFO_UNAVAIL
    })
}

/// `auth` credentials: nothing to establish.
#[no_mangle]
pub extern "C" fn pam_sm_setcred(
    pamh: *mut PamHandle,
    _flags: c_int,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    entry(pamh, argc, argv, |_, _| PAM_SUCCESS)
}

/// `password`: needs the agent's password route (not built yet) — fails
/// closed and says so.
#[no_mangle]
pub extern "C" fn pam_sm_chauthtok(
    pamh: *mut PamHandle,
    _flags: c_int,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    entry(pamh, argc, argv, |pamh, _| {
        log(
            pamh,
            LOG_ERR,
            "changing a ward password through PAM is not available in this build",
        );
        PAM_AUTHINFO_UNAVAIL
    })
}
