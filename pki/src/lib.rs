//! # ward-pki
//!
//! ward's certificate code, pure: OpenSSH user and host certificates
//! ([`sshca`] builds them, [`sshverify`] verifies them), OpenSSH key
//! revocation lists ([`krl`]: writer and reader), and the X.509 CA
//! ([`x509`]: CA hierarchy, CSR checks, client certificates, CRLs).
//!
//! Invariants (checked by `tests/tests/architecture.rs`): no database, no
//! async runtime, no TLS stack, no thread pool; no file, socket, process,
//! environment or clock access. Every time is an input in Unix seconds;
//! the only outside input is randomness (new keys, certificate nonces, CA
//! serials). Storing keys, authorizing, recording issuance and publishing
//! KRLs and CRLs are the callers' jobs (ward-ca; later the agent and the
//! gateway, which use [`sshverify`]).
#![forbid(unsafe_code)]

pub mod krl;
pub mod sshca;
pub mod sshverify;
pub mod x509;
