//! # ward-ca
//!
//! The central authority: it stores identities, policies and credentials,
//! authenticates every API call (SigV4, session tokens, mTLS),
//! authorizes it with ward-policy, and records an append-only, hash-chained
//! audit log. Only this crate touches the database and CA keys.
//!
//! Layers, each a folder, dependencies pointing one way (checked by
//! `tests/tests/architecture.rs`): [`http`] → [`service`] → [`state`] →
//! [`store`], with the leaves [`config`], [`crypto`], [`error`], [`conn`],
//! [`clock`] and [`failures`] below them.
#![forbid(unsafe_code)]

pub mod clock;
pub mod config;
pub mod conn;
pub mod crypto;
pub mod error;
pub mod failures;
pub mod http;
pub mod service;
pub mod state;
pub mod store;

/// The TLS listener (kept at its old path for callers of the library).
pub use http::tls;
/// SigV4 lives in its own pure crate (shared with the CLI).
pub use ward_sigv4 as sigv4;
