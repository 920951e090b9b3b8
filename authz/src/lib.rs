//! # ward-authz
//!
//! ward's one decision path, shared by ward-ca and (later) the host agent
//! and the gateway, so that the same request gets the same answer
//! everywhere:
//!
//! - [`set`]: the policy set of a principal, assembled from its
//!   attachments given as plain data (its own inline and managed
//!   documents, every group's, the permissions boundary);
//! - [`context`]: the request context (`ward:SourceIp`, the time keys from
//!   a time *input*, `ward:SecureTransport`, tags, `iam:` keys, the `host:`
//!   and `ca:` keys), held to ward-policy's per-action key catalogue;
//! - [`arn`]: ARN builders for every resource type;
//! - [`routes`]: ward-ca's `/v1/` routes with their actions and resource
//!   ARN shapes, as data (the router and `docs/routes.md` are checked
//!   against it);
//! - [`names`]: IAM, host and Unix name rules, with typed errors naming
//!   the field;
//! - [`snapshot`]: a user's documents from a host snapshot (the agent's
//!   login decisions and ward-ca's access map);
//! - [`decide`]: ward-policy's evaluation, with the explanation computed
//!   only on denial, and the password-change-only rule;
//! - [`mfa`]: whether an MFA check can bear on a principal's decisions for
//!   an action at all, from its policies alone (ward-gateway's login).
//!
//! This crate is pure: it does no I/O, reads no clock, starts no thread
//! and has no async code. It does not know where attachments are stored,
//! caches nothing, and audits nothing: its callers load, cache and record.
#![forbid(unsafe_code)]

pub mod arn;
pub mod context;
mod decide;
pub mod mfa;
pub mod names;
pub mod routes;
pub mod set;
pub mod snapshot;

pub use context::{context, supplies, RequestFacts};
pub use decide::{
    decide, decision, password_change_allows, Decision, PASSWORD_CHANGE_ONLY_ACTIONS,
};
pub use names::InvalidName;
pub use set::{Assembled, Attached, Holder, PrincipalPolicies, Wanted};
