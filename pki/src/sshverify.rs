//! Verification of OpenSSH certificates, as sshd (user certificates) and
//! ssh (host certificates) decide, for the parts of ward that accept SSH
//! certificates themselves (the gateway, the agent).
//!
//! [`verify`] takes everything as input — the certificate, the trusted CA
//! keys, the time, the expected type and principal, the client address and
//! a revocation set ([`Krl`]: read from a published KRL with
//! [`Krl::from_bytes`], or built from serials and key IDs with the
//! `revoke_…` methods) — and returns who the certificate certifies
//! ([`Verified`]) or the first reason it is refused ([`VerifyError`]).
//! Like the rest of this crate it reads no clock and does no I/O.
//!
//! Checks, in order: the signing key is one of the trusted CA keys; the
//! signature verifies; the type is the expected one; nothing is revoked
//! (the certified key, the CA key, the serial or the key ID); `valid_after
//! <= now < valid_before` (PROTOCOL.certkeys); the expected principal is
//! listed; every critical option is understood.
//!
//! Where it is stricter than OpenSSH, it fails closed:
//! - an empty principal list matches nobody (OpenSSH treats it as "any
//!   principal"; ward never issues one);
//! - CA keys are Ed25519 or ECDSA P-256, the types ward's CA uses (others
//!   are [`VerifyError::UnknownCa`]);
//! - `source-address` needs the client address: without one the
//!   certificate is refused; a malformed list is refused too;
//! - `verify-required` and any unknown critical option are refused
//!   ([`VerifyError::UnsupportedCriticalOption`]); host certificates have no
//!   critical options at all. `force-command` is understood and reported in
//!   [`Verified::force_command`]: running that command instead of the
//!   requested one is the caller's job.

use std::fmt;
use std::net::IpAddr;

use ssh_key::certificate::CertType;
use ssh_key::public::{EcdsaPublicKey, KeyData};
use ssh_key::{Certificate, HashAlg, PublicKey};

use crate::krl::{Krl, Revocation};

/// Which kind of certificate the caller accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A user certificate (sshd's `TrustedUserCAKeys`).
    User,
    /// A host certificate (ssh's `@cert-authority`).
    Host,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::User => "user",
            Kind::Host => "host",
        })
    }
}

/// What [`verify`] is asked.
#[derive(Clone, Copy, Debug)]
pub struct VerifyRequest<'a> {
    /// The certificate presented.
    pub cert: &'a Certificate,
    /// The CA keys trusted for this kind of certificate.
    pub trusted_cas: &'a [PublicKey],
    /// The time to check validity at, in seconds since the Unix epoch.
    pub now: u64,
    /// The type the certificate must have.
    pub kind: Kind,
    /// The account (user certificates) or host name (host certificates)
    /// the certificate must list.
    pub principal: &'a str,
    /// The address the connection comes from, checked against a
    /// `source-address` critical option. `None` when unknown (then a
    /// certificate with `source-address` is refused).
    pub client_addr: Option<IpAddr>,
    /// What is revoked.
    pub revoked: &'a Krl,
}

/// Who a verified certificate certifies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The key ID (for ward user certificates: the user's id).
    pub key_id: String,
    /// Every principal the certificate lists.
    pub principals: Vec<String>,
    /// The serial.
    pub serial: u64,
    /// First second of validity.
    pub valid_after: u64,
    /// First second of invalidity.
    pub valid_before: u64,
    /// `SHA256:…` fingerprint of the CA key that signed it.
    pub ca_fingerprint: String,
    /// The `force-command` critical option: the only command this
    /// certificate may run.
    pub force_command: Option<String>,
    /// The `source-address` critical option, as written in the certificate
    /// (the client address matched it).
    pub source_address: Option<String>,
    /// The extension names (`permit-pty`, …), sorted.
    pub extensions: Vec<String>,
}

/// Why a certificate is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// Not signed by a trusted CA key.
    UnknownCa {
        /// `SHA256:…` fingerprint of the key that signed it.
        fingerprint: String,
    },
    /// The CA signature does not verify.
    BadSignature,
    /// A user certificate where a host certificate is expected, or the
    /// reverse.
    WrongType {
        /// The type expected.
        expected: Kind,
    },
    /// Revoked, and why.
    Revoked(Revocation),
    /// `now` is before `valid_after`.
    NotYetValid {
        /// The certificate's `valid_after`.
        valid_after: u64,
    },
    /// `now` is at or after `valid_before`.
    Expired {
        /// The certificate's `valid_before`.
        valid_before: u64,
    },
    /// The expected principal is not listed.
    PrincipalNotListed {
        /// The principal asked for (control characters escaped).
        principal: String,
    },
    /// A critical option this verifier does not implement (or any critical
    /// option on a host certificate).
    UnsupportedCriticalOption(String),
    /// The client address is not in `source-address`, or is unknown.
    SourceAddressRefused {
        /// The client address, if known.
        client: Option<IpAddr>,
    },
    /// The `source-address` list does not parse.
    BadSourceAddress(String),
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::UnknownCa { fingerprint } => {
                write!(f, "certificate signed by an untrusted CA key {fingerprint}")
            }
            VerifyError::BadSignature => f.write_str("certificate signature does not verify"),
            VerifyError::WrongType { expected } => {
                write!(f, "not a {expected} certificate")
            }
            VerifyError::Revoked(why) => write!(f, "certificate revoked: {why}"),
            VerifyError::NotYetValid { valid_after } => {
                write!(f, "certificate not valid before {valid_after}")
            }
            VerifyError::Expired { valid_before } => {
                write!(f, "certificate expired at {valid_before}")
            }
            VerifyError::PrincipalNotListed { principal } => {
                write!(f, "certificate does not list principal \"{principal}\"")
            }
            VerifyError::UnsupportedCriticalOption(name) => {
                write!(f, "unsupported critical option \"{}\"", name.escape_debug())
            }
            VerifyError::SourceAddressRefused { client: Some(a) } => {
                write!(f, "certificate may not be used from {a}")
            }
            VerifyError::SourceAddressRefused { client: None } => f.write_str(
                "certificate is restricted by source-address and the client address is unknown",
            ),
            VerifyError::BadSourceAddress(m) => write!(f, "malformed source-address: {m}"),
        }
    }
}

impl std::error::Error for VerifyError {}

/// Verifies `req.cert` (see the module documentation for the checks).
pub fn verify(req: &VerifyRequest<'_>) -> Result<Verified, VerifyError> {
    let cert = req.cert;
    let ca = cert.signature_key();
    let ca_fingerprint = ca.fingerprint(HashAlg::Sha256).to_string();
    let trusted = supported_ca(ca) && req.trusted_cas.iter().any(|k| k.key_data() == ca);
    if !trusted {
        return Err(VerifyError::UnknownCa {
            fingerprint: ca_fingerprint,
        });
    }
    // `verify_signature` is `validate_at` without the trust and time checks,
    // which are done here (and above) so that each refusal has its own error.
    cert.verify_signature()
        .map_err(|_| VerifyError::BadSignature)?;

    let kind = match cert.cert_type() {
        CertType::User => Kind::User,
        CertType::Host => Kind::Host,
    };
    if kind != req.kind {
        return Err(VerifyError::WrongType { expected: req.kind });
    }
    if let Some(why) = req.revoked.certificate_revocation(cert) {
        return Err(VerifyError::Revoked(why));
    }
    if req.now < cert.valid_after() {
        return Err(VerifyError::NotYetValid {
            valid_after: cert.valid_after(),
        });
    }
    if req.now >= cert.valid_before() {
        return Err(VerifyError::Expired {
            valid_before: cert.valid_before(),
        });
    }
    if !cert.valid_principals().iter().any(|p| p == req.principal) {
        return Err(VerifyError::PrincipalNotListed {
            principal: req.principal.escape_debug().to_string(),
        });
    }

    let mut force_command = None;
    let mut source_address = None;
    for (name, value) in cert.critical_options().iter() {
        match (kind, name.as_str()) {
            (Kind::User, "force-command") => force_command = Some(value.clone()),
            (Kind::User, "source-address") => {
                let client = req
                    .client_addr
                    .ok_or(VerifyError::SourceAddressRefused { client: None })?;
                if !source_address_matches(value, client)? {
                    return Err(VerifyError::SourceAddressRefused {
                        client: Some(client),
                    });
                }
                source_address = Some(value.clone());
            }
            _ => return Err(VerifyError::UnsupportedCriticalOption(name.clone())),
        }
    }

    Ok(Verified {
        key_id: cert.key_id().to_owned(),
        principals: cert.valid_principals().to_vec(),
        serial: cert.serial(),
        valid_after: cert.valid_after(),
        valid_before: cert.valid_before(),
        ca_fingerprint,
        force_command,
        source_address,
        extensions: cert.extensions().keys().cloned().collect(),
    })
}

/// CA key types ward's CA uses and this crate can verify.
fn supported_ca(key: &KeyData) -> bool {
    matches!(
        key,
        KeyData::Ed25519(_) | KeyData::Ecdsa(EcdsaPublicKey::NistP256(_))
    )
}

/// Whether `client` is in the comma-separated `ADDR[/LEN]` list (OpenSSH's
/// `addr_match_cidr_list`). IPv4-mapped IPv6 client addresses count as
/// IPv4. Any malformed entry makes the whole list an error, as in OpenSSH.
fn source_address_matches(list: &str, client: IpAddr) -> Result<bool, VerifyError> {
    let client = client.to_canonical();
    let mut found = false;
    for entry in list.split(',') {
        let bad =
            |why: &str| VerifyError::BadSourceAddress(format!("{}: {why}", entry.escape_debug()));
        let (addr, len) = match entry.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (entry, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad("not an address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len: u32 = match len {
            None => max,
            Some(l) if !l.is_empty() && l.len() <= 3 && l.bytes().all(|b| b.is_ascii_digit()) => {
                l.parse().map_err(|_| bad("bad prefix length"))?
            }
            Some(_) => return Err(bad("bad prefix length")),
        };
        if len > max {
            return Err(bad("prefix length too long"));
        }
        found |= match (addr, client) {
            (IpAddr::V4(net), IpAddr::V4(c)) => {
                let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
                u32::from(net) & mask == u32::from(c) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(c)) => {
                let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
                u128::from(net) & mask == u128::from(c) & mask
            }
            _ => false,
        };
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_address_lists() {
        let v4 = |s: &str| s.parse::<IpAddr>().unwrap();
        let cases: &[(&str, &str, Result<bool, ()>)] = &[
            ("10.0.0.0/8", "10.1.2.3", Ok(true)),
            ("10.0.0.0/8", "11.1.2.3", Ok(false)),
            ("192.0.2.7", "192.0.2.7", Ok(true)),
            ("192.0.2.7", "192.0.2.8", Ok(false)),
            ("192.0.2.0/24,2001:db8::/32", "2001:db8::1", Ok(true)),
            ("192.0.2.0/24", "::ffff:192.0.2.9", Ok(true)),
            ("0.0.0.0/0", "203.0.113.1", Ok(true)),
            ("0.0.0.0/0", "::1", Ok(false)),
            ("10.0.0.0/33", "10.0.0.1", Err(())),
            ("10.0.0.0/", "10.0.0.1", Err(())),
            ("host.example", "10.0.0.1", Err(())),
            ("10.0.0.1,", "10.0.0.1", Err(())),
        ];
        for (list, client, want) in cases {
            let got = source_address_matches(list, v4(client)).map_err(|_| ());
            assert_eq!(got, *want, "{list} vs {client}");
        }
    }
}
