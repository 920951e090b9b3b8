//! `ward cert …`: the inventory of issued certificates
//! (`GET /v1/certificates`) and revocation, one certificate by serial or
//! all of a user's (`POST /v1/certificates/{serial}/revoke`,
//! `POST /v1/users/{name}/certificates/revoke`).
//!
//! Revocation takes effect at once for mTLS to ward-ca; sshd and other
//! TLS servers see it when they next fetch the KRL or CRL
//! (`ward ssh krl`, `ward x509 crl`).

use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use ward_policy::Instant;
use ward_protocol::api;

use crate::client::Method;
use crate::ctx::{typed, Ctx, Done};
use crate::output::table;

#[derive(Subcommand, Debug)]
pub(crate) enum CertCommand {
    /// List issued certificates, oldest first.
    List(ListArgs),
    /// Revoke a certificate by serial, or every certificate of a user.
    Revoke(RevokeArgs),
}

/// Certificate kinds in the inventory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Kind {
    /// SSH user certificates (`ward ssh login`).
    SshUser,
    /// SSH host certificates.
    SshHost,
    /// X.509 client certificates (`ward x509 issue`).
    X509Client,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::SshUser => "ssh-user",
            Kind::SshHost => "ssh-host",
            Kind::X509Client => "x509-client",
        }
    }
}

#[derive(Args, Debug)]
pub(crate) struct ListArgs {
    /// Only this user's certificates: a user name, or a user id (`AIDA…`,
    /// also for deleted users).
    #[arg(long, value_name = "NAME|ID")]
    user: Option<String>,
    /// Only this kind.
    #[arg(long, value_enum)]
    kind: Option<Kind>,
    /// Only revoked certificates.
    #[arg(long, conflicts_with = "active")]
    revoked: bool,
    /// Only certificates in force: not revoked and not expired.
    #[arg(long)]
    active: bool,
    /// At most this many per page (1 to 1000) [default: the server's, 100].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1000))]
    limit: Option<u16>,
    /// Oldest first (the default is newest first).
    #[arg(long)]
    oldest_first: bool,
    /// Follow the pages to the end (the default is one page).
    #[arg(long)]
    all: bool,
}

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("which").required(true).args(["serial", "user"])))]
pub(crate) struct RevokeArgs {
    /// The serial: decimal for SSH certificates, hex for X.509.
    serial: Option<String>,
    /// Revoke every certificate of this user instead.
    #[arg(long, value_name = "NAME")]
    user: Option<String>,
}

/// `valid`, `expired` or `revoked` at `now`.
fn status(c: &api::CertificateRecord, now: Instant) -> &'static str {
    if c.revoked.is_some() {
        "revoked"
    } else if Instant::parse(&c.valid_before).is_some_and(|t| t <= now) {
        "expired"
    } else {
        "valid"
    }
}

fn now() -> Instant {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Instant::from_epoch_seconds(i64::try_from(secs).unwrap_or(i64::MAX))
}

fn list_table(l: &api::CertificateList, now: Instant) -> String {
    let rows: Vec<Vec<String>> = l
        .certificates
        .iter()
        .map(|c| {
            vec![
                c.serial.clone(),
                c.kind.clone(),
                status(c, now).to_owned(),
                c.principals.join(","),
                c.issued.clone(),
                c.valid_before.clone(),
                c.revoked.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    table(
        &[
            "serial",
            "kind",
            "status",
            "principals",
            "issued",
            "valid-before",
            "revoked",
        ],
        &rows,
    )
}

pub(crate) fn run(cmd: CertCommand, ctx: &Ctx) -> Done {
    match cmd {
        CertCommand::List(a) => {
            let api = ctx.api()?;
            let mut q: Vec<(&str, String)> = Vec::new();
            if let Some(u) = &a.user {
                q.push(("user", u.clone()));
            }
            if let Some(k) = a.kind {
                q.push(("kind", k.as_str().to_owned()));
            }
            if a.revoked {
                q.push(("revoked", "true".into()));
            }
            if a.active {
                q.push(("revoked", "false".into()));
                q.push(("validNow", "true".into()));
            }
            if let Some(l) = a.limit {
                q.push(("limit", l.to_string()));
            }
            if a.oldest_first {
                q.push(("order", "oldest".into()));
            }
            // Sorted: curl-style signers and ours agree on the canonical query.
            q.sort_by(|x, y| x.0.cmp(y.0));
            let mut v = api.list(
                &["certificates"],
                &q,
                "certificates",
                ("marker", "marker"),
                a.all,
            )?;
            let now = now();
            // The server filters on revocation only; expiry is ours.
            if a.active {
                let list: api::CertificateList = typed(&v)?;
                let kept: Vec<&api::CertificateRecord> = list
                    .certificates
                    .iter()
                    .filter(|c| status(c, now) == "valid")
                    .collect();
                if let Some(o) = v.as_object_mut() {
                    o.insert(
                        "certificates".into(),
                        serde_json::to_value(kept).unwrap_or_default(),
                    );
                }
            }
            api.show(&v, |l: &api::CertificateList| list_table(l, now))
        }
        CertCommand::Revoke(a) => {
            let api = ctx.api()?;
            let segs: Vec<&str> = match (&a.serial, &a.user) {
                (Some(s), _) => vec!["certificates", s, "revoke"],
                (None, Some(u)) => vec!["users", u, "certificates", "revoke"],
                (None, None) => {
                    return Err(crate::error::Failure::usage("give a SERIAL or --user NAME"))
                }
            };
            let v = api.send_for_json(Method::Post, &segs, None)?;
            api.show(&v, |r: &api::Revoked| {
                match (r.serials.as_slice(), &a.user) {
                    ([], Some(u)) => format!("user {u} has no certificates left to revoke\n"),
                    ([one], None) => format!("revoked certificate {one}\n"),
                    (all, _) => {
                        format!("revoked {} certificate(s): {}\n", all.len(), all.join(", "))
                    }
                }
            })
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn statuses() {
        let rec = |before: &str, revoked: Option<&str>| api::CertificateRecord {
            serial: "1".into(),
            kind: "ssh-user".into(),
            subject: "AIDA".into(),
            principals: vec!["alice".into()],
            key_fingerprint: "SHA256:x".into(),
            valid_after: "2024-01-01T00:00:00Z".into(),
            valid_before: before.into(),
            issued: "2024-01-01T00:00:00Z".into(),
            revoked: revoked.map(str::to_owned),
            gateway: None,
        };
        let now = Instant::parse("2025-06-01T00:00:00Z").unwrap();
        for (r, want) in [
            (rec("2025-06-01T08:00:00Z", None), "valid"),
            (rec("2025-06-01T00:00:00Z", None), "expired"),
            (rec("2025-01-01T00:00:00Z", None), "expired"),
            (
                rec("2025-06-01T08:00:00Z", Some("2025-05-31T00:00:00Z")),
                "revoked",
            ),
        ] {
            assert_eq!(status(&r, now), want, "{r:?}");
        }
        let t = list_table(
            &api::CertificateList {
                certificates: vec![rec("2025-06-01T08:00:00Z", None)],
                marker: None,
            },
            now,
        );
        assert!(t.starts_with("SERIAL  KIND"), "{t}");
        assert!(t.contains("valid   alice"), "{t}");
    }
}
