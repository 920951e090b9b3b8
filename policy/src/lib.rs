//! # ward-policy
//!
//! The IAM policy language of ward: parse, validate, evaluate and explain
//! AWS-style JSON policies (SPEC §4).
//!
//! This crate is pure. It does no I/O, reads no clock and starts no threads:
//! the caller supplies the request, its context (including the time) and the
//! policies, and gets a [`Decision`] back. That keeps it easy to fuzz, bench
//! and reason about, and lets the same engine run in ward-ca, the host agent
//! and the offline simulator.
//!
//! ```
//! use ward_policy::{evaluate, Context, ContextValue, Decision, Policy, PolicyKind, PolicySet, Principal, Request};
//!
//! let policy = Policy::parse(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
//!     "Action":"host:Login","Resource":"arn:ward:host::*:host/*",
//!     "Condition":{"StringLike":{"host:Principal":["${ward:username}","deploy"]}}}]}"#,
//!     PolicyKind::Managed).unwrap();
//! let alice = Principal::from_arn("arn:ward:iam::123456789012:user/alice").unwrap();
//! let mut ctx = Context::new();
//! ctx.insert("host:Principal", ContextValue::from("alice"));
//! let req = Request::new(alice, "host:Login", "arn:ward:host::123456789012:host/db-1", ctx);
//! let set = PolicySet { identity: &[&policy], ..PolicySet::default() };
//! assert_eq!(evaluate(&set, &req), Decision::Allowed);
//! ```
//!
//! What it is not: it does not know where policies are stored, which groups
//! a user is in, or what time it is. Those are ward-ca's and the agent's job.
#![forbid(unsafe_code)]

pub mod actions;
mod arn;
mod condition;
mod context;
mod date;
mod eval;
mod json;
mod pattern;
mod policy;
mod principal;
mod simulate;

pub use arn::{MAX_ARN_CHARS, PARTITIONS};
pub use context::{Context, ContextValue};
pub use date::Instant;
pub use eval::{
    evaluate, explain, Decision, Explanation, Outcome, PolicyRole, PolicySet, Reason, Request,
    StatementTrace, ALWAYS_ALLOWED,
};
pub use json::JsonPath;
pub use policy::{
    Effect, Policy, PolicyError, PolicyKind, Problem, Statement, Version, MAX_RAW_BYTES,
};
pub use principal::{BadPrincipal, Principal, PrincipalKind};
pub use simulate::{simulate, SimulateError, Simulation, MAX_INPUT_BYTES};
