//! # ward-ca
//!
//! The central authority: it stores identities, policies and credentials,
//! authenticates every API call (SigV4, session tokens; mTLS later),
//! authorizes it with ward-policy, and records an append-only, hash-chained
//! audit log. Only this crate touches the database and (later) CA keys.
#![forbid(unsafe_code)]

pub mod api;
pub mod auth;
pub mod authority;
pub mod authz;
pub mod certs;
pub mod checkpoint;
pub mod config;
pub mod crypto;
pub mod disable_api;
pub mod error;
pub mod failures;
pub mod host_audit;
pub mod host_join;
pub mod host_sync;
pub mod hosts_api;
pub mod iam;
pub mod issue_api;
pub mod names;
pub mod password_api;
pub mod posix;
pub mod sessions_api;
pub mod simulate_api;
pub mod ssh_keys;
pub mod state;
pub mod store;
pub mod tls;

/// SigV4 lives in its own pure crate (shared with the CLI).
pub use ward_sigv4 as sigv4;
