//! Registered hosts' addresses (issue #13): the one parser of an address
//! as `PATCH /v1/hosts/{name}` takes it, and the registry a gateway's
//! snapshot carries (read in the snapshot's transaction). Depends on the
//! store only, so that `host_sync` can use it.

use ward_authz::names::host_name;
use ward_protocol::host::{RegisteredHost, KIND_GATEWAY};

use crate::error::ApiError;
use crate::store::{host_registry, Conn};

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

/// True if `host_id` enrolled as a gateway.
pub async fn is_gateway(c: &mut Conn, host_id: &str) -> Result<bool, ApiError> {
    Ok(host_registry::kind(c, host_id).await?.as_deref() == Some(KIND_GATEWAY))
}

/// The registry for host `host_id`'s snapshot, read on `c` (the
/// snapshot's read transaction): every registered host if it is a
/// gateway, `None` for an ordinary host.
pub async fn for_snapshot(
    c: &mut Conn,
    host_id: &str,
) -> Result<Option<Vec<RegisteredHost>>, ApiError> {
    if !is_gateway(c, host_id).await? {
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
