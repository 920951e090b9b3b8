//! # pam_ward
//!
//! `pam_ward.so`: how every PAM service of a host (console `login`, `su`,
//! `sudo`, sshd's password logins, display managers) asks ward. It is a
//! thin client of the host agent's socket: it gathers the PAM items, asks
//! the agent, and maps the answer to a PAM code. The agent decides with
//! ward-authz on its synced snapshot — this module holds no policy logic.
//!
//! Rules it keeps (ARCHITECTURE.md, invariant 1): no threads, no async
//! runtime, no TLS, no SQL; socket I/O goes through `ward_agentlink`
//! (connect and exchange each bounded by `timeout=`, default 3 s; the
//! socket must be served by root); every entry point runs under
//! `catch_unwind` and all `unsafe` code is in `ffi.rs`. It fails closed: when the agent cannot
//! answer, a user ward might know is denied (`PAM_AUTHINFO_UNAVAIL`);
//! only accounts in the local `/etc/passwd` are passed on as unknown, so
//! local logins keep working while the agent is down.
//!
//! What each phase does:
//! - **account**: `host:Login` for the service and user. Denied →
//!   `PAM_PERM_DENIED` and ward's reason shown through the conversation
//!   (`PAM_ERROR_MSG`); unknown to ward → `PAM_USER_UNKNOWN` (`PAM_IGNORE`
//!   with `ignore_unknown_user`). For sudo (services `sudo` and `sudo-i`,
//!   or the `sudo` argument) sudo has not named the target yet (`PAM_USER`
//!   = `PAM_RUSER` = the invoking user): a pre-check of `host:Sudo`
//!   without `host:Principal` that refuses disabled users and Denies that
//!   apply whatever the target.
//! - **session**: for sudo first `host:Sudo` for the invoking user
//!   (`PAM_RUSER`) to the target (`PAM_USER`, the runas user sudo has set
//!   by now); a denial is `PAM_PERM_DENIED` (sudo treats only
//!   `PAM_SESSION_ERR` as non-fatal) and sudo refuses the command, so
//!   sudoers' `pam_session` must stay on (the default). Then creates a
//!   missing home directory from `/etc/skel` (0700, owned by the user).
//!   After a password `authenticate` that ward answered "reset
//!   required", a granted account check returns `PAM_NEW_AUTHTOK_REQD`,
//!   so the application runs `chauthtok`.
//! - **auth**: the password through the conversation (`PAM_PROMPT_ECHO_OFF`)
//!   or an earlier module's `PAM_AUTHTOK` (`use_first_pass`,
//!   `try_first_pass`), checked by the agent (`verify_password`: online
//!   through ward-ca, offline against the agent's verifier); on success
//!   `PAM_AUTHTOK` is set for later modules. Outcomes as
//!   `ward_protocol::agent::PasswordOutcome` documents: wrong or disabled
//!   → `PAM_AUTH_ERR`, throttled → `PAM_MAXTRIES`, unknown →
//!   `PAM_USER_UNKNOWN` (the password is passed on so `pam_unix
//!   try_first_pass` does not ask again), undecidable →
//!   `PAM_AUTHINFO_UNAVAIL`. An empty password, one over
//!   `MAX_PASSWORD_BYTES`, or a failed/NULL conversation is refused
//!   without asking the agent. Passwords are wiped after use and never
//!   logged.
//! - **auth** with the `mfa` argument (issue #14): no password; the
//!   account decision is asked first, and only when the agent answers
//!   `MfaRequired` the user is prompted `ward MFA code: ` (echo off; in
//!   sshd this is keyboard-interactive — account-stage conversations do not
//!   reach SSH clients) and the agent checks the code (`verify_mfa`, through
//!   ward-ca) and decides again. Allowed → `PAM_SUCCESS` and a ticket in the
//!   PAM environment (`WARD_MFA_TICKET`) that the account stage sends, so
//!   that it decides with the check's time. The agent honours a ticket
//!   once, for the same user, account, service and source address; the
//!   account stage removes it from the PAM environment before deciding
//!   (sshd exports that environment after the account stage), and
//!   `open_session` removes it too;
//!   no code needed → `PAM_SUCCESS` without a prompt; wrong, used or
//!   malformed code, or denied anyway → `PAM_AUTH_ERR`; throttled →
//!   `PAM_MAXTRIES`; ward-ca unreachable → `PAM_AUTHINFO_UNAVAIL`. The
//!   account stage answers `MfaRequired` without a ticket as a denial.
//! - **password**: `PAM_PRELIM_CHECK` asks whether the agent is there and
//!   the user is ward's; `PAM_UPDATE_AUTHTOK` takes the current password
//!   (`PAM_OLDAUTHTOK`, the one just verified when a reset was required,
//!   or asked) and the new one (`PAM_AUTHTOK` with `use_first_pass` /
//!   `try_first_pass`, or asked twice and compared) and sends
//!   `change_password`; ward's password-policy message is shown verbatim.

pub mod args;
pub mod logic;
pub mod session;

mod ffi;
