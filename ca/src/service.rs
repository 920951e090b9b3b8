//! The service layer: one module per area, each handler validating its
//! input, authorizing through [`authz`] (ward-authz plus the `Effective`
//! cache, yielding a [`crate::store::Grant`]), doing one store mutation and
//! auditing it. Handlers take axum extractors of their own ([`request`])
//! and the [`caller::Caller`] that http's authentication put in the
//! request; nothing here names the http layer.

pub mod account;
pub mod audit;
pub mod authn_failures;
pub mod authz;
pub mod caller;
pub mod certificates;
pub mod credentials;
pub mod disable;
pub mod gateway_certs;
pub mod gateway_sessions;
pub mod host_address;
pub mod host_audit;
pub mod host_join;
pub mod host_passwords;
pub mod host_registry;
pub mod host_sync;
pub mod hosts;
pub mod iam;
pub mod identity_pools;
pub mod mfa;
pub mod names;
pub mod passwords;
pub mod posix;
pub mod recordings;
pub mod request;
pub mod roles;
pub mod root_login;
pub mod sessions;
pub mod simulate;
pub mod simulate_matrix;
pub mod ssh_keys;
pub mod sts;
