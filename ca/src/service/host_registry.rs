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
use sqlx::AnyConnection;
use ward_authz::names::host_name;
use ward_protocol::api;
use ward_protocol::host::{RegisteredHost, KIND_GATEWAY};

use crate::error::ApiError;
use crate::service::authz::authorize;
use crate::service::caller::Caller;
use crate::service::host_sync::agent_status;
use crate::service::hosts::{check_aliases, out, target};
use crate::service::request::{body, commit, P};
use crate::state::Shared;
use crate::store::{host_identity, host_registry, hosts};

/// Longest address accepted.
const MAX_ADDRESS: usize = 260;

/// Parses an address as `PATCH /v1/hosts/{name}` takes it: `HOST`,
/// `HOST:PORT`, `V6`, `[V6]` or `[V6]:PORT`, where HOST is a host name
/// (lower-case DNS labels) or an IP address; the port is 1–65535 and 22
/// when absent. Returns the host, the port and the one spelling stored.
pub fn parse_address(field: &str, s: &str) -> Result<(String, u16, String), ApiError> {
    let bad = |m: String| ApiError::invalid(field, m);
    if s.is_empty() || s.len() > MAX_ADDRESS {
        return Err(bad(format!(
            "the address must be 1-{MAX_ADDRESS} characters"
        )));
    }
    let port_of = |p: &str| -> Result<u16, ApiError> {
        match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
            _ => Err(bad(format!("{p:?} is not a port (1-65535)"))),
        }
    };
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest
            .split_once(']')
            .ok_or_else(|| bad(format!("{s:?}: '[' without ']'")))?;
        let port = match after {
            "" => None,
            p => Some(port_of(p.strip_prefix(':').ok_or_else(|| {
                bad(format!("{s:?}: expected ':PORT' after ']'"))
            })?)?),
        };
        match h.parse::<std::net::Ipv6Addr>() {
            Ok(_) => (h.to_owned(), port),
            Err(_) => return Err(bad(format!("{h:?} is not an IPv6 address"))),
        }
    } else if s.parse::<std::net::IpAddr>().is_ok() {
        (s.to_owned(), None)
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(port_of(p)?)),
            None => (s.to_owned(), None),
        }
    };
    let host = match host.parse::<std::net::IpAddr>() {
        // One spelling per address.
        Ok(ip) => ip.to_canonical().to_string(),
        Err(_) => {
            host_name(field, &host, false)?;
            host
        }
    };
    let v6 = host.contains(':');
    let stored = match (port, v6) {
        (None, _) => host.clone(),
        (Some(p), true) => format!("[{host}]:{p}"),
        (Some(p), false) => format!("{host}:{p}"),
    };
    Ok((host, port.unwrap_or(22), stored))
}

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
    let mut o = out(&st, &after);
    let mut c = st.store.pool().acquire().await?;
    let current = host_identity::generation(&mut c).await?;
    o.agent = agent_status(&mut c, &h.id, current).await?;
    describe(&mut c, &h.id, &mut o).await?;
    Ok(Json(o))
}

/// Fills the registry fields of a host as the API shows it.
pub(crate) async fn describe(
    c: &mut AnyConnection,
    host_id: &str,
    o: &mut api::Host,
) -> Result<(), ApiError> {
    o.address = host_registry::address(c, host_id).await?;
    o.kind = host_registry::kind(c, host_id).await?;
    Ok(())
}

/// The registry for host `host_id`'s snapshot, read on `c` (the
/// snapshot's read transaction): every registered host if it is a
/// gateway, `None` for an ordinary host.
pub async fn for_snapshot(
    c: &mut AnyConnection,
    host_id: &str,
) -> Result<Option<Vec<RegisteredHost>>, ApiError> {
    if host_registry::kind(c, host_id).await?.as_deref() != Some(KIND_GATEWAY) {
        return Ok(None);
    }
    let mut out = Vec::new();
    for r in host_registry::all(c).await? {
        let (address, port) = match &r.address {
            None => (None, 22),
            Some(a) => {
                // Stored by parse_address; one that no longer parses is
                // left out of reach rather than guessed at.
                match parse_address("address", a) {
                    Ok((h, p, _)) => (Some(h), p),
                    Err(_) => (None, 22),
                }
            }
        };
        out.push(RegisteredHost {
            name: r.name,
            aliases: r.aliases,
            address,
            port,
            tags: r.tags,
        });
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::parse_address;

    fn check(input: &str, expected: Option<(&str, u16, &str)>) {
        let got = parse_address("address", input).ok();
        let got = got.as_ref().map(|(h, p, s)| (h.as_str(), *p, s.as_str()));
        assert_eq!(got, expected, "{input}");
    }

    #[test]
    fn addresses() {
        check(
            "web-01.internal",
            Some(("web-01.internal", 22, "web-01.internal")),
        );
        check("web-01:2201", Some(("web-01", 2201, "web-01:2201")));
        check("10.0.0.5", Some(("10.0.0.5", 22, "10.0.0.5")));
        check("10.0.0.5:22", Some(("10.0.0.5", 22, "10.0.0.5:22")));
        check("::1", Some(("::1", 22, "::1")));
        check("[::1]:2201", Some(("::1", 2201, "[::1]:2201")));
        check("[::ffff:10.0.0.1]", Some(("10.0.0.1", 22, "10.0.0.1")));
        check("", None);
        check("web-01:0", None);
        check("web-01:70000", None);
        check("web-01:+22", None);
        check("Web-01", None);
        check("[web-01]:22", None);
        check("[::1]x", None);
        check("a b", None);
    }
}
