//! # ward-protocol
//!
//! Wire types shared by ward's components: the JSON bodies of ward-ca's
//! `/v1/` API (used by ward-ca and the `ward` CLI), the host routes and the
//! snapshot hosts decide from (`host`), and the agent socket messages used by
//! the PAM and NSS modules and the sshd helper commands (`agent`). It depends on serde
//! and serde_json only, so the PAM and NSS modules can link it without
//! pulling in a runtime, TLS or SQL (ARCHITECTURE.md, invariant 1).
//!
//! Field names are camelCase on the wire; errors are
//! `{"error": {"code": "...", "message": "...", "field": "..."}}`.
#![forbid(unsafe_code)]

pub mod agent;
pub mod api;
pub mod host;
pub mod pools;
