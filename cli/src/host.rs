//! `ward host …`: registered hosts and their SSH host certificates, one
//! subcommand per route (`/v1/hosts…`, issue #8 item 4).
//!
//! `certificate` sends only the host's public key (e.g.
//! `/etc/ssh/ssh_host_ed25519_key.pub`), checks that the certificate ward-ca
//! returns certifies exactly that key, writes it next to the key as
//! `ssh_host_ed25519_key-cert.pub` (replaced atomically, 0644) and prints the
//! `HostCertificate` line for sshd_config.

use std::path::PathBuf;

use clap::Subcommand;
use ward_protocol::api;

use crate::client::Method;
use crate::ctx::{body, typed, Ctx, Done};
use crate::error::Failure;
use crate::files::{self, PUBLIC};
use crate::output::{self, fields, table};
use crate::ttl::{self, Ttl};

#[derive(Subcommand, Debug)]
pub(crate) enum HostCommand {
    /// Register a host (its name and aliases become its certificates'
    /// principals; tags are ward:ResourceTag/K in policies).
    Register {
        /// Host name (a DNS name: letters, digits, dots and dashes).
        name: String,
        /// Another name or address clients use for the host; repeat for more.
        #[arg(long = "alias", value_name = "NAME")]
        aliases: Vec<String>,
        /// A tag, KEY=VALUE; repeat for more.
        #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = crate::iam::parse_tag)]
        tags: Vec<api::Tag>,
    },
    /// List registered hosts, with each enrolled agent's last contact,
    /// online state, version and the snapshot generation it holds.
    List,
    /// Make a one-time join token for a host (shown once; give it to
    /// `ward-agent join URL TOKEN` on that host).
    JoinToken {
        /// Host name.
        name: String,
        /// Lifetime: seconds or e.g. 1h [default: 1 hour; at most 7 days].
        #[arg(long, value_name = "DURATION", value_parser = ttl::parse)]
        ttl: Option<Ttl>,
        /// A tag the host gets when it joins, KEY=VALUE; repeat for more.
        #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = crate::iam::parse_tag)]
        tags: Vec<api::Tag>,
        /// The token enrols a ward-gateway (`ward-gateway join URL TOKEN`),
        /// whose snapshot carries the host registry.
        #[arg(long)]
        gateway: bool,
    },
    /// Change a registered host's address (where gateways connect) and/or
    /// aliases.
    Update {
        /// Host name.
        name: String,
        /// HOST or HOST:PORT ([V6]:PORT) gateways connect to; "" clears it.
        #[arg(long, value_name = "ADDRESS")]
        address: Option<String>,
        /// The new alias list (replaces the old one); repeat for more.
        #[arg(long = "alias", value_name = "NAME")]
        aliases: Vec<String>,
        /// Remove every alias.
        #[arg(long, conflicts_with = "aliases")]
        no_aliases: bool,
    },
    /// Show a registered host.
    Get {
        /// Host name.
        name: String,
    },
    /// Deregister a host.
    Deregister {
        /// Host name.
        name: String,
    },
    /// Certify a host key: writes KEY-cert.pub next to the public key and
    /// prints the sshd_config HostCertificate line.
    Certificate {
        /// Host name.
        name: String,
        /// The host's public key, e.g. /etc/ssh/ssh_host_ed25519_key.pub.
        #[arg(long, value_name = "FILE")]
        public_key: PathBuf,
        /// Lifetime: seconds or e.g. 30d [default: 30 days; at most 365 days
        /// and the policy's ca:ValiditySeconds].
        #[arg(long, value_name = "DURATION", value_parser = ttl::parse)]
        ttl: Option<Ttl>,
        /// Where to write the certificate [default: next to the public key,
        /// NAME-cert.pub].
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

fn host_fields(h: &api::Host) -> String {
    fields(&[
        ("Name", h.name.clone()),
        ("HostId", h.host_id.clone()),
        ("Arn", h.arn.clone()),
        ("Aliases", h.aliases.join(", ")),
        ("Address", h.address.clone().unwrap_or_else(|| "-".into())),
        ("Kind", h.kind.clone().unwrap_or_else(|| "-".into())),
        ("Tags", crate::iam::tags_text(&h.tags)),
        ("Created", h.created.clone()),
        (
            "LastSeen",
            agent_cell(h, |a| a.last_seen.clone().unwrap_or_else(|| "never".into())),
        ),
        ("Online", agent_cell(h, |a| a.online.to_string())),
        (
            "AgentVersion",
            agent_cell(h, |a| a.agent_version.clone().unwrap_or_default()),
        ),
        ("Generation", agent_cell(h, generation_text)),
    ])
}

/// A cell about the host's agent, `-` for a host that never joined.
fn agent_cell(h: &api::Host, f: impl Fn(&api::HostAgent) -> String) -> String {
    h.agent.as_ref().map(f).unwrap_or_else(|| "-".into())
}

/// `HELD/CURRENT`, e.g. `41/42` for an agent one change behind.
fn generation_text(a: &api::HostAgent) -> String {
    match a.generation_held {
        Some(g) => format!("{g}/{}", a.generation_current),
        None => format!("-/{}", a.generation_current),
    }
}

fn hosts_table(l: &api::HostList) -> String {
    let rows: Vec<Vec<String>> = l
        .hosts
        .iter()
        .map(|h| {
            vec![
                h.name.clone(),
                h.aliases.join(","),
                crate::iam::tags_text(&h.tags),
                agent_cell(h, |a| a.last_seen.clone().unwrap_or_else(|| "never".into())),
                agent_cell(h, |a| if a.online { "yes" } else { "no" }.into()),
                agent_cell(h, |a| a.agent_version.clone().unwrap_or_default()),
                agent_cell(h, generation_text),
            ]
        })
        .collect();
    table(
        &[
            "name",
            "aliases",
            "tags",
            "last-seen",
            "online",
            "agent",
            "generation",
        ],
        &rows,
    )
}

pub(crate) fn run(cmd: HostCommand, ctx: &Ctx) -> Done {
    let api = ctx.api()?;
    match cmd {
        HostCommand::Register {
            name,
            aliases,
            tags,
        } => {
            let req = api::RegisterHost {
                name,
                aliases,
                tags,
            };
            let v = api.send_for_json(Method::Post, &["hosts"], body(&req)?)?;
            api.show(&v, host_fields)
        }
        HostCommand::List => {
            let v = api.get(&["hosts"], &[])?;
            api.show(&v, hosts_table)
        }
        HostCommand::JoinToken {
            name,
            ttl: lifetime,
            tags,
            gateway,
        } => {
            let req = ward_protocol::host::CreateJoinToken {
                ttl_seconds: lifetime.map(|t| u64::try_from(t.seconds()).unwrap_or(0)),
                tags,
                gateway,
            };
            let v =
                api.send_for_json(Method::Post, &["hosts", &name, "join-tokens"], body(&req)?)?;
            let t: ward_protocol::host::JoinToken = typed(&v)?;
            match api.output {
                crate::config::OutputFormat::Json => output::print(&output::json(&v)),
                crate::config::OutputFormat::Table => output::print(&format!(
                    "{}\n# shown once; on {}: ward-agent join URL TOKEN (a gateway: ward-gateway join URL TOKEN)\n",
                    fields(&[
                        ("Host", t.host_name.clone()),
                        ("Token", t.token.clone()),
                        ("Expires", t.expires_at.clone()),
                    ]),
                    t.host_name
                )),
            }
            Ok(std::process::ExitCode::SUCCESS)
        }
        HostCommand::Update {
            name,
            address,
            aliases,
            no_aliases,
        } => {
            let req = api::UpdateHost {
                address,
                aliases: if no_aliases {
                    Some(Vec::new())
                } else if aliases.is_empty() {
                    None
                } else {
                    Some(aliases)
                },
            };
            let v = api.send_for_json(Method::Patch, &["hosts", &name], body(&req)?)?;
            api.show(&v, host_fields)
        }
        HostCommand::Get { name } => {
            let v = api.get(&["hosts", &name], &[])?;
            api.show(&v, host_fields)
        }
        HostCommand::Deregister { name } => {
            let v = api.send(Method::Delete, &["hosts", &name], &[], None)?;
            api.done(v, format!("deregistered host {name}"))
        }
        HostCommand::Certificate {
            name,
            public_key,
            ttl: lifetime,
            out,
        } => {
            let public = crate::ssh::read_public_key(&public_key)?;
            let req = api::HostCertificateRequest {
                public_key: public
                    .to_openssh()
                    .map_err(|e| Failure::Unexpected(format!("encoding the public key: {e}")))?,
                validity_seconds: lifetime.map(Ttl::seconds),
            };
            let v = api
                .send_for_json(
                    Method::Post,
                    &["hosts", &name, "ssh-certificate"],
                    body(&req)?,
                )
                .map_err(|e| ttl::note_denial(e, lifetime, "30d"))?;
            let issued: api::SshCertificate = typed(&v)?;
            crate::ssh::certifies(&issued, &public)?;
            let path = match out {
                Some(p) => p,
                None => crate::ssh::paths_for_public_key(&public_key).1,
            };
            files::write_atomic(
                &path,
                format!("{}\n", issued.certificate.trim()).as_bytes(),
                PUBLIC,
            )?;
            match api.output {
                crate::config::OutputFormat::Json => output::print(&output::json(&v)),
                crate::config::OutputFormat::Table => output::print(&format!(
                    "{}\n# sshd_config:\nHostCertificate {}\n",
                    fields(&[
                        ("Serial", issued.serial.clone()),
                        ("Principals", issued.principals.join(", ")),
                        ("ValidBefore", issued.valid_before.clone()),
                        ("Certificate", path.display().to_string()),
                    ]),
                    path.display()
                )),
            }
            Ok(std::process::ExitCode::SUCCESS)
        }
    }
}
