//! Which targets a ProxyJump may reach (pure; no I/O): the name the client
//! asks for must be a registered host's name or alias — never a raw IP
//! address — and the port 22 or the host's registered port; the address
//! the gateway then connects to must not be loopback (unless the
//! configuration dangerously allows it), link-local, a cloud metadata
//! address, unspecified, multicast or broadcast. Every refusal says why;
//! the client sees it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ward_protocol::host::RegisteredHost;

/// Longest target name accepted from a client.
pub const MAX_TARGET: usize = 253;

/// The registered host `requested:port` names in `registry`.
pub fn find<'r>(
    registry: &'r [RegisteredHost],
    requested: &str,
    port: u32,
) -> Result<&'r RegisteredHost, String> {
    if requested.is_empty()
        || requested.len() > MAX_TARGET
        || requested.bytes().any(|b| !b.is_ascii_graphic())
    {
        return Err("the target is not a host name".into());
    }
    let bare = requested.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<IpAddr>().is_ok() {
        return Err(format!(
            "{requested} is an IP address: name a registered host instead"
        ));
    }
    let lc = requested.to_ascii_lowercase();
    let host = registry
        .iter()
        .find(|h| {
            h.name.eq_ignore_ascii_case(&lc)
                || h.aliases.iter().any(|a| a.eq_ignore_ascii_case(&lc))
        })
        .ok_or_else(|| format!("{requested} is not a host registered with ward"))?;
    if port != 22 && port != u32::from(host.port) {
        return Err(format!(
            "port {port} is not the SSH port of {} (use {})",
            host.name,
            if host.port == 22 {
                "22".to_owned()
            } else {
                format!("22 or {}", host.port)
            }
        ));
    }
    if host.address.is_none() {
        return Err(format!(
            "{} has no address registered (ward host update {} --address …)",
            host.name, host.name
        ));
    }
    Ok(host)
}

/// Whether the gateway may connect to `ip`.
pub fn address_allowed(ip: IpAddr, allow_loopback: bool) -> Result<(), String> {
    let ip = ip.to_canonical();
    let why = match ip {
        IpAddr::V4(v4) => v4_refusal(v4, allow_loopback),
        IpAddr::V6(v6) => v6_refusal(v6, allow_loopback),
    };
    match why {
        None => Ok(()),
        Some(w) => Err(format!("its address {ip} is {w}")),
    }
}

fn v4_refusal(ip: Ipv4Addr, allow_loopback: bool) -> Option<&'static str> {
    let o = ip.octets();
    if ip.is_loopback() && !allow_loopback {
        Some("a loopback address")
    } else if ip.is_link_local() {
        // 169.254.169.254 (AWS, GCP, Azure metadata) is in here.
        Some("link-local (metadata services live there)")
    } else if o == [100, 100, 100, 200] || o == [192, 0, 0, 192] {
        Some("a cloud metadata address")
    } else if ip.is_unspecified() || o[0] == 0 {
        Some("unspecified")
    } else if ip.is_multicast() || ip.is_broadcast() || o[0] >= 240 {
        Some("multicast, broadcast or reserved")
    } else {
        None
    }
}

fn v6_refusal(ip: Ipv6Addr, allow_loopback: bool) -> Option<&'static str> {
    let s = ip.segments();
    if ip.is_loopback() && !allow_loopback {
        Some("a loopback address")
    } else if (s[0] & 0xffc0) == 0xfe80 {
        Some("link-local")
    } else if s == [0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254] {
        Some("a cloud metadata address")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if ip.is_multicast() {
        Some("multicast")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> Vec<RegisteredHost> {
        vec![
            RegisteredHost {
                name: "web-01".into(),
                aliases: vec!["www".into()],
                address: Some("10.0.0.5".into()),
                port: 2201,
                tags: vec![],
            },
            RegisteredHost {
                name: "db-01".into(),
                aliases: vec![],
                address: None,
                port: 22,
                tags: vec![],
            },
        ]
    }

    fn check(requested: &str, port: u32, expected: Result<&str, &str>) {
        let r = registry();
        match (find(&r, requested, port), expected) {
            (Ok(h), Ok(name)) => assert_eq!(h.name, name),
            (Err(e), Err(part)) => assert!(e.contains(part), "{requested}: {e}"),
            (got, exp) => panic!("{requested}:{port}: {got:?} vs {exp:?}"),
        }
    }

    #[test]
    fn targets() {
        check("web-01", 22, Ok("web-01"));
        check("WEB-01", 2201, Ok("web-01"));
        check("www", 22, Ok("web-01"));
        check("web-01", 2222, Err("not the SSH port"));
        check("10.0.0.5", 22, Err("is an IP address"));
        check("[::1]", 22, Err("is an IP address"));
        check("web-09", 22, Err("not a host registered"));
        check("db-01", 22, Err("no address registered"));
        check("", 22, Err("not a host name"));
        check("a b", 22, Err("not a host name"));
    }

    #[test]
    fn addresses() {
        let ok = |s: &str, lo: bool| address_allowed(s.parse().unwrap(), lo).is_ok();
        assert!(ok("10.0.0.5", false));
        assert!(ok("2001:db8::1", false));
        assert!(!ok("127.0.0.1", false));
        assert!(ok("127.0.0.1", true));
        assert!(!ok("::1", false));
        assert!(!ok("::ffff:127.0.0.1", false));
        assert!(!ok("169.254.169.254", true));
        assert!(!ok("fe80::1", true));
        assert!(!ok("fd00:ec2::254", true));
        assert!(!ok("100.100.100.200", true));
        assert!(!ok("0.0.0.0", true));
        assert!(!ok("224.0.0.1", true));
        assert!(!ok("255.255.255.255", true));
    }
}
