//! # ward-agent
//!
//! The host side of ward. It enrols the host with a one-time join token
//! (`join`), keeps a snapshot of what the host needs to decide alone in
//! sync with ward-ca (`sync`, long-poll with an ETag) and on disk (`cache`,
//! written atomically and checked on load), serves the agent socket
//! (`server`) to libnss_ward, pam_ward and the sshd helper commands
//! (`sshcmd`), decides logins with ward-authz on the snapshot (`decide`,
//! `lookup`), keeps sshd's `TrustedUserCAKeys` and `RevokedKeys` files
//! current (`files`), and delivers its decisions to ward-ca's audit log,
//! buffered on disk while offline (`spool`), and checks ward passwords
//! for pam_ward online through ward-ca, offline against its own verifiers
//! (`passwords`).
//!
//! Threads and blocking I/O, no async runtime: the socket is served by a
//! bounded pool of connection threads, the sync loop is one thread.
#![forbid(unsafe_code)]

pub mod cache;
pub mod client;
pub mod config;
pub mod decide;
pub mod files;
pub mod join;
pub mod lookup;
pub mod passwords;
pub mod server;
pub mod shared;
pub mod spool;
pub mod sshcmd;
pub mod sync;
