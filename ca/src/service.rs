//! The service layer: one module per area, each handler validating its
//! input, authorizing through [`authz`] (ward-authz plus the `Effective`
//! cache, yielding a [`crate::store::Grant`]), doing one store mutation and
//! auditing it. Handlers take axum extractors of their own ([`request`])
//! and the [`caller::Caller`] that http's authentication put in the
//! request; nothing here names the http layer.

pub mod audit;
pub mod authz;
pub mod caller;
pub mod certificates;
pub mod credentials;
pub mod hosts;
pub mod iam;
pub mod names;
pub mod passwords;
pub mod request;
pub mod sessions;
pub mod simulate;
pub mod ssh_keys;
