//! # ward-gateway
//!
//! An SSH bastion on russh. It enrols and syncs exactly like a host — the
//! join, mTLS client, long-poll sync, checksummed cache and audit spool
//! are ward-agent's library code — and decides with ward-authz through
//! `ward_agent::decide`. What it adds: the SSH server ([`server`]), which
//! targets a ProxyJump may reach ([`target`]), the per-source failed-auth
//! throttle ([`throttle`]), its configuration ([`config`]), passwords
//! through keyboard-interactive ([`password`]), MFA codes asked for
//! when policy needs one ([`mfa`]), the open-session
//! registry that ends sessions live when access is withdrawn
//! ([`sessions`]), and terminating mode ([`terminate`]: `ssh
//! ACCOUNT%TARGET@GATEWAY`, bridged by [`bridge`] to the target's sshd
//! with a one-session certificate, recorded by [`recording`] as
//! asciicast v2, and each finished recording uploaded to ward-ca by
//! [`upload`]).
#![forbid(unsafe_code)]

pub mod bridge;
pub mod config;
pub mod mfa;
pub mod password;
pub mod recording;
pub mod server;
pub mod sessions;
pub mod target;
pub mod terminate;
pub mod throttle;
pub mod upload;
