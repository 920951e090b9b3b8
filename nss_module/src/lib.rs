//! # nss_ward (`libnss_ward.so.2`)
//!
//! A glibc NSS module for `passwd`, `group` and `initgroups`, answering
//! from ward-agent over its socket (`ward_protocol::agent`). It is thin:
//! one request per lookup, a page at a time for enumeration; no threads,
//! no async runtime, no TLS, no configuration.
//!
//! - The socket is the compile-time [`SOCKET`] (`/run/ward/agent.sock`):
//!   NSS runs inside setuid programs, so nothing in the environment may
//!   point it elsewhere.
//! - The connection is `ward_agentlink`'s: a non-blocking connect (a full
//!   backlog is retried until [`TIMEOUT`], 1 s, never longer), a peer
//!   that must be root (or the calling user), and each exchange bounded by [`TIMEOUT`]. An
//!   agent that is down or slow makes lookups return `NSS_STATUS_UNAVAIL`
//!   quickly; the agent saying "none" is `NSS_STATUS_NOTFOUND`.
//! - The socket is opened close-on-exec and closed after each lookup.
//! - Every entry point catches panics (libnss 0.9's macros do not; a panic
//!   across `extern "C"` would abort the host process) and answers
//!   `UNAVAIL` instead. All `unsafe` (the libnss macro expansions) is in
//!   `ffi.rs`.
//!
//! Install: `cargo build --release -p nss_ward`, then copy
//! `target/release/libnss_ward.so` to the libdir as `libnss_ward.so.2`
//! and add `ward` after `files` to `passwd:`, `group:` in
//! `/etc/nsswitch.conf`. The agent never answers for a name or id of the
//! local files, so `files` first is also what makes local entries win.

mod client;
#[allow(unsafe_code)]
mod ffi;

pub use client::{Client, Error, SOCKET, TIMEOUT};
