//! # pam_ward
//!
//! `pam_ward.so`: how every PAM service of a host (console `login`, `su`,
//! `sudo`, sshd's password logins, display managers) asks ward. It is a
//! thin client of the host agent's socket: it gathers the PAM items, asks
//! the agent, and maps the answer to a PAM code. The agent decides with
//! ward-authz on its synced snapshot — this module holds no policy logic.
//!
//! Rules it keeps (ARCHITECTURE.md, invariant 1): no threads, no async
//! runtime, no TLS, no SQL; socket I/O is bounded by a timeout (default
//! 3 s, `timeout=`); every entry point runs under `catch_unwind` and all
//! `unsafe` code is in `ffi.rs`. It fails closed: when the agent cannot
//! answer, a user ward might know is denied (`PAM_AUTHINFO_UNAVAIL`);
//! only accounts in the local `/etc/passwd` are passed on as unknown, so
//! local logins keep working while the agent is down.
//!
//! What each phase does:
//! - **account**: `host:Login` for the service and user, or `host:Sudo`
//!   for the `sudo` service (the ward user is the invoking `PAM_RUSER`, the
//!   principal the target `PAM_USER`). Denied → `PAM_PERM_DENIED` and
//!   ward's reason shown through the conversation (`PAM_ERROR_MSG`);
//!   unknown to ward → `PAM_USER_UNKNOWN` (`PAM_IGNORE` with
//!   `ignore_unknown_user`).
//! - **session**: creates a missing home directory from `/etc/skel`
//!   (0700, owned by the user).
//! - **auth** and **password**: need the agent's password route (issue
//!   #12, not built yet): they fail closed with `PAM_AUTHINFO_UNAVAIL`
//!   and say so in the log.

pub mod args;
pub mod logic;
pub mod session;

mod ffi;
