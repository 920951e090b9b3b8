//! The C ABI, and the only `unsafe` code of the module: the `pam_sm_*`
//! entry points libpam calls, each under `catch_unwind` (a panic becomes
//! `PAM_SYSTEM_ERR`, never an unwind into C), reading and setting PAM
//! items, module data (`pam_set_data`: what `authenticate` found, for
//! `acct_mgmt` and `chauthtok`), talking to the user through the
//! application's conversation function (prompts read bounded, answers
//! wiped and freed; an application that fails, answers NULL or answers
//! too much gets a PAM error, never a crash), logging with `pam_syslog`
//! (authpriv; never a password), and looking accounts up with
//! `getpwnam_r`. The agent socket is `ward_agentlink`'s (safe code).
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use ward_protocol::host::MAX_PASSWORD_BYTES;
use zeroize::Zeroizing;

use crate::args::{self, Args};
use crate::logic::{self, Items, MfaStep, MfaVerdict, PasswordVerdict, Verdict};
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
const PAM_SERVICE_ERR: c_int = 3;
const PAM_SYSTEM_ERR: c_int = 4;
const PAM_PERM_DENIED: c_int = 6;
const PAM_AUTH_ERR: c_int = 7;
const PAM_AUTHINFO_UNAVAIL: c_int = 9;
const PAM_USER_UNKNOWN: c_int = 10;
const PAM_MAXTRIES: c_int = 11;
const PAM_NEW_AUTHTOK_REQD: c_int = 12;
const PAM_SESSION_ERR: c_int = 14;
const PAM_CONV_ERR: c_int = 19;
const PAM_AUTHTOK_ERR: c_int = 20;
const PAM_AUTHTOK_RECOVERY_ERR: c_int = 21;
const PAM_TRY_AGAIN: c_int = 24;
const PAM_IGNORE: c_int = 25;

const PAM_SERVICE: c_int = 1;
const PAM_USER: c_int = 2;
const PAM_RHOST: c_int = 4;
const PAM_CONV: c_int = 5;
const PAM_AUTHTOK: c_int = 6;
const PAM_OLDAUTHTOK: c_int = 7;
const PAM_RUSER: c_int = 8;

const PAM_PROMPT_ECHO_OFF: c_int = 1;
const PAM_ERROR_MSG: c_int = 3;

const PAM_PRELIM_CHECK: c_int = 0x4000;
const PAM_UPDATE_AUTHTOK: c_int = 0x2000;

/// Module data key: what `authenticate` established in this handle.
const STATE_KEY: &CStr = c"pam_ward_state";
/// ward verified the password.
static AUTHENTICATED: u8 = 1;
/// ward verified the password, which must be changed now.
static RESET_REQUIRED: u8 = 2;
/// `chauthtok`'s preliminary check found the user is not ward's (the
/// update phase then passes without asking for anything).
static NOT_WARD: u8 = 3;

const LOG_ERR: c_int = 3;
const LOG_NOTICE: c_int = 5;
const LOG_INFO: c_int = 6;
const LOG_DEBUG: c_int = 7;

type Cleanup = unsafe extern "C" fn(pamh: *mut PamHandle, data: *mut c_void, status: c_int);

#[link(name = "pam")]
extern "C" {
    fn pam_get_item(pamh: *const PamHandle, item_type: c_int, item: *mut *const c_void) -> c_int;
    fn pam_set_item(pamh: *mut PamHandle, item_type: c_int, item: *const c_void) -> c_int;
    fn pam_get_data(
        pamh: *const PamHandle,
        module_data_name: *const c_char,
        data: *mut *const c_void,
    ) -> c_int;
    fn pam_set_data(
        pamh: *mut PamHandle,
        module_data_name: *const c_char,
        data: *mut c_void,
        cleanup: Option<Cleanup>,
    ) -> c_int;
    fn pam_syslog(pamh: *const PamHandle, priority: c_int, fmt: *const c_char, ...);
    fn pam_getenv(pamh: *mut PamHandle, name: *const c_char) -> *const c_char;
    fn pam_putenv(pamh: *mut PamHandle, name_value: *const c_char) -> c_int;
}

/// The PAM environment variable that carries an MFA ticket from
/// `authenticate` to `acct_mgmt`. The PAM environment, not module data:
/// sshd runs keyboard-interactive authentication in a child process and
/// copies the PAM environment (not module data) back to its own handle.
/// `acct_mgmt` removes it as soon as it has read it (the agent consumes
/// the ticket there: single use), so it is gone before sshd (which runs
/// the account stage in the same child, right after `authenticate`)
/// exports the PAM environment, and never reaches the user's session
/// even when pam_ward is not in the session stack; `open_session`
/// removes it too (sudo decides there).
const MFA_TICKET_ENV: &CStr = c"WARD_MFA_TICKET";

/// The MFA ticket in the PAM environment, if any.
fn mfa_ticket(pamh: *mut PamHandle) -> Option<String> {
    // SAFETY: a valid handle and a NUL-terminated name; libpam owns the
    // returned string (or returns NULL).
    let p = unsafe { pam_getenv(pamh, MFA_TICKET_ENV.as_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: non-null, NUL-terminated, owned by libpam for this call.
    let v = unsafe { CStr::from_ptr(p) }.to_str().ok()?;
    (!v.is_empty()).then(|| v.to_owned())
}

/// Sets (`Some`) or removes (`None`) the MFA ticket in the PAM environment.
fn set_mfa_ticket(pamh: *mut PamHandle, ticket: Option<&str>) -> c_int {
    let name = MFA_TICKET_ENV.to_str().unwrap_or("WARD_MFA_TICKET");
    let text = match ticket {
        Some(t) => format!("{name}={t}"),
        None => name.to_owned(),
    };
    let Ok(c) = CString::new(text) else {
        return PAM_SYSTEM_ERR;
    };
    // SAFETY: a valid handle; libpam copies the string.
    unsafe { pam_putenv(pamh, c.as_ptr()) }
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

/// Why the conversation gave no usable answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConvError {
    /// No conversation function, or it reported an error.
    Failed,
    /// It answered NULL.
    NoAnswer,
    /// The answer is longer than [`MAX_PASSWORD_BYTES`].
    TooLong,
    /// The answer is not UTF-8.
    NotUtf8,
}

impl ConvError {
    fn code(self) -> c_int {
        match self {
            ConvError::Failed | ConvError::NoAnswer => PAM_CONV_ERR,
            ConvError::TooLong | ConvError::NotUtf8 => PAM_AUTH_ERR,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            ConvError::Failed => "the conversation failed",
            ConvError::NoAnswer => "the conversation gave no answer",
            ConvError::TooLong => "the password is too long",
            ConvError::NotUtf8 => "the password is not UTF-8",
        }
    }
}

/// Copies a secret C string of at most [`MAX_PASSWORD_BYTES`] (reading at
/// most one byte more), as UTF-8.
///
/// # Safety
/// `p` is a valid NUL-terminated C string.
unsafe fn copy_secret(p: *const c_char) -> Result<Zeroizing<String>, ConvError> {
    let len = libc::strnlen(p, MAX_PASSWORD_BYTES + 1);
    if len > MAX_PASSWORD_BYTES {
        return Err(ConvError::TooLong);
    }
    let bytes = Zeroizing::new(std::slice::from_raw_parts(p.cast::<u8>(), len).to_vec());
    match std::str::from_utf8(&bytes) {
        Ok(s) => Ok(Zeroizing::new(s.to_owned())),
        Err(_) => Err(ConvError::NotUtf8),
    }
}

/// Wipes and frees a conversation answer (`resp` as the application
/// malloc'ed it, one entry).
///
/// # Safety
/// `resp` is NULL or a malloc'ed array of one `PamResponse` whose `resp`
/// is NULL or a malloc'ed C string.
unsafe fn drop_reply(resp: *mut PamResponse) {
    if resp.is_null() {
        return;
    }
    let r = (*resp).resp;
    if !r.is_null() {
        libc::explicit_bzero(r.cast(), libc::strlen(r));
        libc::free(r.cast());
    }
    libc::free(resp.cast());
}

/// Asks the user one question through the application's conversation.
fn converse(
    pamh: *mut PamHandle,
    style: c_int,
    prompt: &CStr,
) -> Result<Zeroizing<String>, ConvError> {
    let mut p: *const c_void = std::ptr::null();
    // SAFETY: as in `item`.
    let rc = unsafe { pam_get_item(pamh, PAM_CONV, &mut p) };
    if rc != PAM_SUCCESS || p.is_null() {
        return Err(ConvError::Failed);
    }
    // SAFETY: the PAM_CONV item is a `struct pam_conv`.
    let conv = unsafe { &*p.cast::<PamConv>() };
    let Some(f) = conv.conv else {
        return Err(ConvError::Failed);
    };
    let msg = PamMessage {
        msg_style: style,
        msg: prompt.as_ptr(),
    };
    let mut msgs = [&msg as *const PamMessage];
    let mut resp: *mut PamResponse = std::ptr::null_mut();
    // SAFETY: one valid message; the application allocates `resp` with
    // malloc (or leaves it NULL). Whatever it returned is wiped and freed
    // (also after an error, as libpam's own pam_prompt does).
    unsafe {
        let rc = f(1, msgs.as_mut_ptr(), &mut resp, conv.appdata_ptr);
        let out = if rc != PAM_SUCCESS {
            Err(ConvError::Failed)
        } else if resp.is_null() || (*resp).resp.is_null() {
            Err(ConvError::NoAnswer)
        } else {
            copy_secret((*resp).resp)
        };
        drop_reply(resp);
        out
    }
}

/// A password item (`PAM_AUTHTOK`, `PAM_OLDAUTHTOK`) an earlier module
/// set, if any.
fn secret_item(pamh: *mut PamHandle, which: c_int) -> Result<Option<Zeroizing<String>>, ConvError> {
    let mut p: *const c_void = std::ptr::null();
    // SAFETY: as in `item`; libpam owns the string.
    let rc = unsafe { pam_get_item(pamh, which, &mut p) };
    if rc != PAM_SUCCESS || p.is_null() {
        return Ok(None);
    }
    // SAFETY: password items are NUL-terminated C strings.
    unsafe { copy_secret(p.cast()) }.map(Some)
}

/// Sets a password item (libpam copies it; our copy is wiped).
fn set_secret_item(pamh: *mut PamHandle, which: c_int, value: &str) -> c_int {
    let mut bytes = Zeroizing::new(Vec::with_capacity(value.len() + 1));
    bytes.extend_from_slice(value.as_bytes());
    bytes.push(0);
    if bytes[..value.len()].contains(&0) {
        return PAM_AUTHTOK_ERR;
    }
    // SAFETY: a NUL-terminated string that outlives the call; libpam
    // duplicates it.
    unsafe { pam_set_item(pamh, which, bytes.as_ptr().cast()) }
}

/// What `authenticate` established in this handle: 0, [`AUTHENTICATED`]
/// or [`RESET_REQUIRED`].
fn state(pamh: *mut PamHandle) -> u8 {
    let mut p: *const c_void = std::ptr::null();
    // SAFETY: our own key; the data is NULL or a pointer to one of our
    // statics.
    let rc = unsafe { pam_get_data(pamh, STATE_KEY.as_ptr(), &mut p) };
    if rc != PAM_SUCCESS || p.is_null() {
        return 0;
    }
    // SAFETY: as above.
    unsafe { *p.cast::<u8>() }
}

fn set_state(pamh: *mut PamHandle, value: &'static u8) {
    // SAFETY: a pointer to a static (never written through, no cleanup
    // needed) under our own key.
    unsafe {
        pam_set_data(
            pamh,
            STATE_KEY.as_ptr(),
            (value as *const u8).cast_mut().cast(),
            None,
        );
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
        // ward:AuthMethod: known when pam_ward checked the password in
        // this handle.
        auth_method: [AUTHENTICATED, RESET_REQUIRED]
            .contains(&state(pamh))
            .then(|| "password".to_owned()),
        mfa_ticket: mfa_ticket(pamh),
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
        // The ticket serves this stage only (the agent consumes it): out
        // of the PAM environment before anything can copy it onwards.
        // sudo's account stage is a pre-check; its session stage decides.
        if it.mfa_ticket.is_some() && !logic::is_sudo(args, &it) {
            set_mfa_ticket(pamh, None);
        }
        match logic::account(args, &it, Path::new("/etc/passwd")) {
            Verdict::Allow => {
                if args.debug {
                    log(pamh, LOG_DEBUG, &format!("ward allowed {who}"));
                }
                if state(pamh) == RESET_REQUIRED {
                    log(
                        pamh,
                        LOG_NOTICE,
                        &format!("{who} must change the ward password"),
                    );
                    tell(pamh, "ward: you must change your password now");
                    return PAM_NEW_AUTHTOK_REQD;
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
            Verdict::Unknown => not_ward(pamh, args, &who),
            Verdict::Unavailable(why) => {
                log(pamh, LOG_ERR, &format!("denying {who}: {why}"));
                tell(pamh, "ward: cannot check access right now");
                PAM_AUTHINFO_UNAVAIL
            }
        }
    })
}

/// `session` open: the home directory, then the session in ward's audit
/// log (fail closed for ward users: no record, no session).
#[no_mangle]
pub extern "C" fn pam_sm_open_session(
    pamh: *mut PamHandle,
    _flags: c_int,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    entry(pamh, argc, argv, |pamh, args| {
        let Some(user) = item(pamh, PAM_USER) else {
            return PAM_SESSION_ERR;
        };
        // sudo: the target user is known only now; host:Sudo is decided
        // here, and a denial fails the session open (sudo then refuses
        // to run the command).
        let it = items(pamh);
        if logic::is_sudo(args, &it) {
            if let Some(code) = sudo_session(pamh, args, &it) {
                return code;
            }
        }
        // The MFA ticket has served the account stage; the session's
        // environment does not get it. (Removing an absent variable is
        // an error libpam reports and nothing else.)
        if it.mfa_ticket.is_some() {
            set_mfa_ticket(pamh, None);
        }
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
            }
            Ok(session::Home::Existed) => {}
            Err(e) => {
                log(
                    pamh,
                    LOG_ERR,
                    &format!("cannot create {}: {e}", account.home),
                );
                return PAM_SESSION_ERR;
            }
        }
        match logic::session(args, &items(pamh), true, Path::new("/etc/passwd")) {
            Ok(()) => PAM_SUCCESS,
            Err(e) => {
                log(
                    pamh,
                    LOG_ERR,
                    &format!("session for {user} not recorded, refused: {e}"),
                );
                PAM_SESSION_ERR
            }
        }
    })
}

/// sudo's session opening: `None` to go on (allowed, or not a ward
/// user), or the code that fails it.
fn sudo_session(pamh: *mut PamHandle, args: &Args, it: &Items) -> Option<c_int> {
    let who = format!(
        "{} as {}",
        it.ruser.as_deref().unwrap_or("?"),
        it.user.as_deref().unwrap_or("?")
    );
    match logic::sudo_session(args, it, Path::new("/etc/passwd")) {
        Verdict::Allow => {
            if args.debug {
                log(pamh, LOG_DEBUG, &format!("ward allowed sudo by {who}"));
            }
            None
        }
        // A local invoking user: sudoers and pam_unix decide.
        Verdict::Unknown => None,
        Verdict::Deny(reason) => {
            log(
                pamh,
                LOG_NOTICE,
                &format!("ward denied sudo by {who}: {reason}"),
            );
            tell(pamh, &format!("ward: access denied: {reason}"));
            Some(PAM_PERM_DENIED)
        }
        Verdict::Refused(why) => {
            log(
                pamh,
                LOG_NOTICE,
                &format!("ward refused the sudo session: {why}"),
            );
            Some(PAM_PERM_DENIED)
        }
        Verdict::Unavailable(why) => {
            log(pamh, LOG_ERR, &format!("denying sudo by {who}: {why}"));
            tell(pamh, "ward: cannot check access right now");
            Some(PAM_AUTHINFO_UNAVAIL)
        }
    }
}

/// `session` close: recorded in ward's audit log (a failure is logged;
/// a session that ends cannot be refused).
#[no_mangle]
pub extern "C" fn pam_sm_close_session(
    pamh: *mut PamHandle,
    _flags: c_int,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    entry(pamh, argc, argv, |pamh, args| {
        if let Err(e) = logic::session(args, &items(pamh), false, Path::new("/etc/passwd")) {
            log(pamh, LOG_ERR, &format!("session close not recorded: {e}"));
        }
        PAM_SUCCESS
    })
}

/// `auth`: the password (from the conversation, or an earlier module's
/// with `use_first_pass`/`try_first_pass`) checked by the agent.
#[no_mangle]
pub extern "C" fn pam_sm_authenticate(
    pamh: *mut PamHandle,
    _flags: c_int,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    entry(pamh, argc, argv, authenticate)
}

fn authenticate(pamh: *mut PamHandle, args: &Args) -> c_int {
    if args.mfa {
        return authenticate_mfa(pamh, args);
    }
    let it = items(pamh);
    let who = it.user.clone().unwrap_or_default();
    let passwd = Path::new("/etc/passwd");
    let stacked = if args.use_first_pass || args.try_first_pass {
        match secret_item(pamh, PAM_AUTHTOK) {
            Ok(p) => p,
            Err(e) => {
                log(
                    pamh,
                    LOG_NOTICE,
                    &format!("refusing {who}: {}", e.describe()),
                );
                return e.code();
            }
        }
    } else {
        None
    };
    let (mut password, mut prompted) = match stacked {
        Some(p) => (p, false),
        None if args.use_first_pass => {
            log(
                pamh,
                LOG_NOTICE,
                &format!("use_first_pass: no password for {who} from an earlier module"),
            );
            return PAM_AUTH_ERR;
        }
        None => match converse(pamh, PAM_PROMPT_ECHO_OFF, c"Password: ") {
            Ok(p) => (p, true),
            Err(e) => {
                log(
                    pamh,
                    LOG_NOTICE,
                    &format!("no password for {who}: {}", e.describe()),
                );
                return e.code();
            }
        },
    };
    let mut verdict = logic::verify_password(args, &it, &password, passwd);
    if matches!(verdict, PasswordVerdict::Wrong(_)) && args.try_first_pass && !prompted {
        // The earlier module's password was not ward's: ask for it.
        password = match converse(pamh, PAM_PROMPT_ECHO_OFF, c"Password: ") {
            Ok(p) => p,
            Err(e) => {
                log(
                    pamh,
                    LOG_NOTICE,
                    &format!("no password for {who}: {}", e.describe()),
                );
                return e.code();
            }
        };
        prompted = true;
        verdict = logic::verify_password(args, &it, &password, passwd);
    }
    // Later modules (pam_unix with try_first_pass for local accounts) use
    // the password this module collected.
    let pass_on = |pamh| {
        if prompted {
            set_secret_item(pamh, PAM_AUTHTOK, &password);
        }
    };
    match verdict {
        PasswordVerdict::Ok => {
            pass_on(pamh);
            set_state(pamh, &AUTHENTICATED);
            if args.debug {
                log(
                    pamh,
                    LOG_DEBUG,
                    &format!("ward password accepted for {who}"),
                );
            }
            PAM_SUCCESS
        }
        PasswordVerdict::ResetRequired(reason) => {
            pass_on(pamh);
            set_state(pamh, &RESET_REQUIRED);
            log(
                pamh,
                LOG_NOTICE,
                &format!("ward password accepted for {who}, change required"),
            );
            tell(
                pamh,
                &reason.unwrap_or_else(|| "ward: your password must be changed".to_owned()),
            );
            PAM_SUCCESS
        }
        PasswordVerdict::Unknown => {
            pass_on(pamh);
            not_ward(pamh, args, &who)
        }
        PasswordVerdict::Wrong(_) => {
            log(pamh, LOG_NOTICE, &format!("wrong ward password for {who}"));
            PAM_AUTH_ERR
        }
        PasswordVerdict::Disabled(reason) => {
            log(pamh, LOG_NOTICE, &format!("ward user {who} is disabled"));
            tell(
                pamh,
                &reason.unwrap_or_else(|| "ward: this user is disabled".to_owned()),
            );
            PAM_AUTH_ERR
        }
        PasswordVerdict::Throttled(reason) => {
            log(
                pamh,
                LOG_NOTICE,
                &format!("ward password checks for {who} are throttled"),
            );
            tell(
                pamh,
                &reason.unwrap_or_else(|| "ward: too many failed attempts; try later".to_owned()),
            );
            PAM_MAXTRIES
        }
        PasswordVerdict::Policy(reason) => {
            log(
                pamh,
                LOG_NOTICE,
                &format!("unexpected policy answer for {who}"),
            );
            tell(pamh, &reason.unwrap_or_default());
            PAM_AUTH_ERR
        }
        PasswordVerdict::Unavailable(why) => {
            log(pamh, LOG_ERR, &format!("denying {who}: {why}"));
            tell(pamh, "ward: cannot check the password right now");
            PAM_AUTHINFO_UNAVAIL
        }
        PasswordVerdict::Refused(why) => {
            log(pamh, LOG_NOTICE, &format!("refusing {who}: {why}"));
            PAM_AUTH_ERR
        }
    }
}

/// `auth` with the `mfa` argument: when the login's decision is "MFA
/// required", asks for the code (`ward MFA code: `, not echoed) through
/// the conversation — in sshd that is keyboard-interactive — and has the
/// agent check it and decide again; an allow leaves a ticket in the PAM
/// environment for `acct_mgmt`. A login that needs no code succeeds
/// without a prompt; a denial whatever the code fails without one.
fn authenticate_mfa(pamh: *mut PamHandle, args: &Args) -> c_int {
    let it = items(pamh);
    let who = it.user.clone().unwrap_or_default();
    let passwd = Path::new("/etc/passwd");
    match logic::mfa_step(args, &it, passwd) {
        MfaStep::Ask => {}
        MfaStep::NotNeeded => {
            if args.debug {
                log(pamh, LOG_DEBUG, &format!("no MFA code needed for {who}"));
            }
            return PAM_SUCCESS;
        }
        MfaStep::Unknown => return not_ward(pamh, args, &who),
        MfaStep::Deny(reason) => {
            log(pamh, LOG_NOTICE, &format!("ward denied {who}: {reason}"));
            tell(pamh, &format!("ward: access denied: {reason}"));
            return PAM_AUTH_ERR;
        }
        MfaStep::Unavailable(why) => {
            log(pamh, LOG_ERR, &format!("denying {who}: {why}"));
            tell(pamh, "ward: cannot check access right now");
            return PAM_AUTHINFO_UNAVAIL;
        }
        MfaStep::Refused(why) => {
            log(pamh, LOG_NOTICE, &format!("refusing {who}: {why}"));
            return PAM_AUTH_ERR;
        }
    }
    let code = match converse(pamh, PAM_PROMPT_ECHO_OFF, c"ward MFA code: ") {
        Ok(c) => c,
        Err(e) => {
            log(
                pamh,
                LOG_NOTICE,
                &format!("no MFA code for {who}: {}", e.describe()),
            );
            return e.code();
        }
    };
    match logic::verify_mfa(args, &it, &code) {
        MfaVerdict::Ok(ticket) => {
            let rc = set_mfa_ticket(pamh, Some(&ticket));
            if rc != PAM_SUCCESS {
                log(pamh, LOG_ERR, "cannot keep the MFA ticket");
                return PAM_SYSTEM_ERR;
            }
            log(pamh, LOG_INFO, &format!("ward MFA code accepted for {who}"));
            PAM_SUCCESS
        }
        MfaVerdict::NotNeeded => PAM_SUCCESS,
        MfaVerdict::Wrong(_) => {
            log(pamh, LOG_NOTICE, &format!("wrong ward MFA code for {who}"));
            PAM_AUTH_ERR
        }
        MfaVerdict::Throttled(reason) => {
            log(
                pamh,
                LOG_NOTICE,
                &format!("ward MFA checks for {who} are throttled"),
            );
            tell(
                pamh,
                &reason.unwrap_or_else(|| "ward: too many wrong codes; try later".to_owned()),
            );
            PAM_MAXTRIES
        }
        MfaVerdict::Denied(reason) => {
            let reason = reason.unwrap_or_else(|| "denied by ward policy".to_owned());
            log(pamh, LOG_NOTICE, &format!("ward denied {who}: {reason}"));
            tell(pamh, &format!("ward: access denied: {reason}"));
            PAM_AUTH_ERR
        }
        MfaVerdict::Unknown => not_ward(pamh, args, &who),
        MfaVerdict::Unavailable(why) => {
            log(pamh, LOG_ERR, &format!("denying {who}: {why}"));
            tell(pamh, "ward: cannot check the MFA code right now");
            PAM_AUTHINFO_UNAVAIL
        }
        MfaVerdict::Refused(why) => {
            log(pamh, LOG_NOTICE, &format!("refusing {who}: {why}"));
            PAM_AUTH_ERR
        }
    }
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

/// `password`: changes the ward password (`PAM_PRELIM_CHECK`: is the
/// agent there and the user ward's; `PAM_UPDATE_AUTHTOK`: the change).
#[no_mangle]
pub extern "C" fn pam_sm_chauthtok(
    pamh: *mut PamHandle,
    flags: c_int,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    entry(pamh, argc, argv, |pamh, args| {
        if flags & PAM_PRELIM_CHECK != 0 {
            prelim(pamh, args)
        } else if flags & PAM_UPDATE_AUTHTOK != 0 {
            update(pamh, args)
        } else {
            PAM_SERVICE_ERR
        }
    })
}

/// A user ward does not know: logged with `debug`, then [`unknown`].
fn not_ward(pamh: *mut PamHandle, args: &Args, who: &str) -> c_int {
    if args.debug {
        log(pamh, LOG_DEBUG, &format!("{who} is not a ward user"));
    }
    unknown(args)
}

/// `PAM_USER_UNKNOWN`, or `PAM_IGNORE` with `ignore_unknown_user`.
fn unknown(args: &Args) -> c_int {
    if args.ignore_unknown_user {
        PAM_IGNORE
    } else {
        PAM_USER_UNKNOWN
    }
}

fn prelim(pamh: *mut PamHandle, args: &Args) -> c_int {
    let it = items(pamh);
    let who = it.user.clone().unwrap_or_default();
    match logic::prelim_check(args, &it, Path::new("/etc/passwd")) {
        PasswordVerdict::Ok => PAM_SUCCESS,
        PasswordVerdict::Unknown => {
            set_state(pamh, &NOT_WARD);
            unknown(args)
        }
        PasswordVerdict::Refused(why) => {
            log(
                pamh,
                LOG_NOTICE,
                &format!("refusing a password change for {who}: {why}"),
            );
            PAM_AUTHTOK_ERR
        }
        other => {
            log(
                pamh,
                LOG_ERR,
                &format!(
                    "cannot change the ward password of {who}: {}",
                    describe(&other)
                ),
            );
            tell(pamh, "ward: cannot change the password right now");
            PAM_TRY_AGAIN
        }
    }
}

fn describe(v: &PasswordVerdict) -> &str {
    match v {
        PasswordVerdict::Unavailable(why) | PasswordVerdict::Refused(why) => why,
        _ => "unexpected answer from the ward agent",
    }
}

fn update(pamh: *mut PamHandle, args: &Args) -> c_int {
    let it = items(pamh);
    let who = it.user.clone().unwrap_or_default();
    let conv_failed = |pamh, e: ConvError| {
        log(
            pamh,
            LOG_NOTICE,
            &format!("password change for {who}: {}", e.describe()),
        );
        e.code()
    };
    // The current password: an earlier module's PAM_OLDAUTHTOK; the
    // password this module just verified (reset required); or asked.
    if state(pamh) == NOT_WARD {
        return unknown(args);
    }
    let from_reset = state(pamh) == RESET_REQUIRED;
    let old = match secret_item(pamh, PAM_OLDAUTHTOK) {
        Err(e) => return conv_failed(pamh, e),
        Ok(Some(p)) => p,
        Ok(None) if from_reset => match secret_item(pamh, PAM_AUTHTOK) {
            Ok(Some(p)) => p,
            Ok(None) => match converse(pamh, PAM_PROMPT_ECHO_OFF, c"Current password: ") {
                Ok(p) => p,
                Err(e) => return conv_failed(pamh, e),
            },
            Err(e) => return conv_failed(pamh, e),
        },
        Ok(None) if args.use_first_pass => {
            log(
                pamh,
                LOG_NOTICE,
                &format!("use_first_pass: no current password for {who}"),
            );
            return PAM_AUTHTOK_RECOVERY_ERR;
        }
        Ok(None) => match converse(pamh, PAM_PROMPT_ECHO_OFF, c"Current password: ") {
            Ok(p) => p,
            Err(e) => return conv_failed(pamh, e),
        },
    };
    // The new one: an earlier module's PAM_AUTHTOK (not when that is the
    // old password this module set), or asked twice.
    let stacked = if (args.use_first_pass || args.try_first_pass) && !from_reset {
        match secret_item(pamh, PAM_AUTHTOK) {
            Ok(p) => p,
            Err(e) => return conv_failed(pamh, e),
        }
    } else {
        None
    };
    let new = match stacked {
        Some(p) => p,
        None if args.use_first_pass && !from_reset => {
            log(
                pamh,
                LOG_NOTICE,
                &format!("use_first_pass: no new password for {who}"),
            );
            return PAM_AUTHTOK_ERR;
        }
        None => {
            let first = match converse(pamh, PAM_PROMPT_ECHO_OFF, c"New password: ") {
                Ok(p) => p,
                Err(e) => return conv_failed(pamh, e),
            };
            let again = match converse(pamh, PAM_PROMPT_ECHO_OFF, c"Retype new password: ") {
                Ok(p) => p,
                Err(e) => return conv_failed(pamh, e),
            };
            if first.as_bytes() != again.as_bytes() {
                tell(pamh, "ward: the passwords do not match");
                return PAM_AUTHTOK_ERR;
            }
            first
        }
    };
    match logic::change_password(args, &it, &old, &new, Path::new("/etc/passwd")) {
        PasswordVerdict::Ok => {
            set_secret_item(pamh, PAM_OLDAUTHTOK, &old);
            set_secret_item(pamh, PAM_AUTHTOK, &new);
            if from_reset {
                set_state(pamh, &AUTHENTICATED);
            }
            log(
                pamh,
                LOG_NOTICE,
                &format!("ward password changed for {who}"),
            );
            PAM_SUCCESS
        }
        PasswordVerdict::Unknown => unknown(args),
        PasswordVerdict::Policy(reason) => {
            let reason = reason.unwrap_or_else(|| {
                "ward: the new password was refused by the password policy".to_owned()
            });
            log(
                pamh,
                LOG_NOTICE,
                &format!("ward password change for {who} refused by policy"),
            );
            tell(pamh, &reason);
            PAM_AUTHTOK_ERR
        }
        PasswordVerdict::Wrong(_) => {
            log(
                pamh,
                LOG_NOTICE,
                &format!("wrong current ward password for {who}"),
            );
            tell(pamh, "ward: the current password is wrong");
            PAM_AUTHTOK_RECOVERY_ERR
        }
        PasswordVerdict::Disabled(reason) => {
            tell(
                pamh,
                &reason.unwrap_or_else(|| "ward: this user is disabled".to_owned()),
            );
            PAM_PERM_DENIED
        }
        PasswordVerdict::Throttled(reason) => {
            tell(
                pamh,
                &reason.unwrap_or_else(|| "ward: too many failed attempts; try later".to_owned()),
            );
            PAM_MAXTRIES
        }
        PasswordVerdict::ResetRequired(_) => {
            log(
                pamh,
                LOG_ERR,
                &format!("unexpected answer to the password change of {who}"),
            );
            PAM_AUTHTOK_ERR
        }
        PasswordVerdict::Unavailable(why) => {
            log(
                pamh,
                LOG_ERR,
                &format!("cannot change the ward password of {who}: {why}"),
            );
            tell(pamh, "ward: cannot change the password right now");
            PAM_AUTHTOK_ERR
        }
        PasswordVerdict::Refused(why) => {
            log(
                pamh,
                LOG_NOTICE,
                &format!("refusing the password change of {who}: {why}"),
            );
            tell(pamh, &format!("ward: {why}"));
            PAM_AUTHTOK_ERR
        }
    }
}
