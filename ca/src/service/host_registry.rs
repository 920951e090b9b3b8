//! The host registry gateways route by (issue #13): `PATCH
//! /v1/hosts/{name}` sets a registered host's address and aliases, and a
//! gateway's snapshot carries every registered host (name, aliases,
//! address, port, tags). SQL in [`crate::store::host_registry`].
//!
//! Changing a host's address or aliases is changing its registration, so
//! it is authorized as `host:RegisterHost` on the host (with its tags as
//! `ward:ResourceTag/*`) and on each new alias, as registering is; no new
//! action. Aliases are also the principals of the host's SSH
//! certificates: new ones apply from the next certificate.

use axum::body::Bytes;
use axum::extract::State;
use axum::{Extension, Json};
use ward_protocol::api;

use crate::error::ApiError;
use crate::service::authz::authorize;
use crate::service::caller::Caller;
use crate::service::host_address::parse_address;
use crate::service::hosts::{check_aliases, describe, out, target};
use crate::service::request::{body, commit, P};
use crate::state::Shared;
use crate::store::{host_registry, hosts};

/// `PATCH /v1/hosts/{name}`.
pub(crate) async fn update(
    State(st): State<Shared>,
    Extension(caller): Extension<Caller>,
    P(name): P<String>,
    b: Bytes,
) -> Result<Json<api::Host>, ApiError> {
    let req: api::UpdateHost = body(&b)?;
    if req.address.is_none() && req.aliases.is_none() {
        return Err(ApiError::invalid(
            "body",
            "nothing to change: give address and/or aliases",
        ));
    }
    let address = match req.address.as_deref() {
        None => None,
        Some("") => Some(None),
        Some(a) => Some(Some(parse_address("address", a)?.2)),
    };
    if let Some(aliases) = &req.aliases {
        check_aliases(&name, aliases)?;
    }
    let (h, g) = target(&st, &caller, "host:RegisterHost", &name, &[]).await?;
    if let Some(aliases) = &req.aliases {
        // Each alias becomes a principal of the host's certificates: the
        // caller must be allowed to register a host of that name too.
        for a in aliases {
            let arn = ward_authz::arn::host(st.store.account_id(), a);
            authorize(&st, &caller, "host:RegisterHost", &arn, &[]).await?;
        }
    }
    let mut m = st.store.mutation(&g).await?;
    let now_host = hosts::find(&mut m.tx, &name)
        .await?
        .ok_or_else(|| ApiError::no_such("host", &name))?;
    if now_host.id != h.id {
        return Err(ApiError::Conflict {
            code: "ConcurrentModification",
            message: format!("host {name} changed during the update; retry"),
        });
    }
    if let Some(a) = &address {
        host_registry::set_address(&mut m.tx, &h.id, a.as_deref()).await?;
    }
    if let Some(aliases) = &req.aliases {
        host_registry::set_aliases(&mut m.tx, &h.id, &h.name, aliases).await?;
    }
    let after = hosts::find(&mut m.tx, &name)
        .await?
        .ok_or_else(|| ApiError::no_such("host", &name))?;
    let stored_address = host_registry::address(&mut m.tx, &h.id).await?;
    commit(
        m,
        &caller,
        &g,
        serde_json::json!({"hostId": h.id, "address": stored_address, "aliases": after.aliases}),
    )
    .await?;
    // The agent's state is left out here (`GET /v1/hosts/{name}` shows
    // it); host_sync reads this module, not the other way round.
    let mut o = out(&st, &after);
    let mut c = st.store.pool().acquire().await?;
    describe(&mut c, &h.id, &mut o).await?;
    Ok(Json(o))
}
