//! `ward`: the command-line client for admins, users and scripts.
//!
//! Two kinds of commands:
//! - offline policy tools (`ward policy validate`, `ward policy simulate`),
//!   which need no server;
//! - commands that call ward-ca's `/v1/` API, one per route (issue #3
//!   item 8), SigV4-signed with the credentials of the current profile, or
//!   with no access key configured, authenticated by a ward-issued client
//!   certificate over mTLS (see [`config`] for where they come from);
//! - certificate commands (issue #4): `ward ssh login` and `ward x509
//!   issue` make keys locally and send only public keys or CSRs; `ward
//!   cert` lists and revokes; the public CA material (known_hosts lines,
//!   TrustedUserCAKeys, KRL, X.509 bundle, CRL) needs no credentials.
//!
//! Exit codes: 0 success (for the `simulate…` commands, any decision); 1
//! the server refused (its `CODE: message` is printed) or answered
//! unexpectedly; 2 bad usage or local input (flags, configuration files,
//! documents); 3 ward-ca could not be reached (connection or TLS failure).
#![forbid(unsafe_code)]

mod audit;
mod cache;
mod cert;
mod client;
mod config;
mod ctx;
mod error;
mod files;
mod host;
mod iam;
mod mfa;
mod output;
mod policy;
mod pool;
mod recording;
mod role;
mod session;
mod sessions;
mod ssh;
mod ssh_key;
mod ttl;
mod x509;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use crate::config::{Env, Flags, OutputFormat};
use crate::ctx::Ctx;

#[derive(Parser, Debug)]
#[command(
    name = "ward",
    version,
    about = "ward: IAM-style access for Linux fleets",
    propagate_version = true
)]
struct Cli {
    /// Profile in ~/.ward/config and ~/.ward/credentials [env: WARD_PROFILE; default: default].
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "NAME"
    )]
    profile: Option<String>,
    /// ward-ca's URL, e.g. https://ca.example:8443 [env: WARD_ENDPOINT].
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "URL"
    )]
    endpoint: Option<String>,
    /// Output format [default: table, or `output` in the profile].
    #[arg(long, global = true, help_heading = "Global options", value_enum)]
    output: Option<OutputFormat>,
    /// Extra CA certificates (PEM) to trust for ward-ca [env: WARD_CA_BUNDLE].
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "FILE"
    )]
    ca_bundle: Option<PathBuf>,
    /// Client certificate (PEM) for mTLS, used when no access key is
    /// configured; with --key [env: WARD_CLIENT_CERT].
    #[arg(
        long = "cert",
        global = true,
        help_heading = "Global options",
        value_name = "FILE"
    )]
    client_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM) [env: WARD_CLIENT_KEY].
    #[arg(
        long = "key",
        global = true,
        help_heading = "Global options",
        value_name = "FILE"
    )]
    client_key: Option<PathBuf>,
    /// The current code of your MFA device (6 digits), for `login`,
    /// `assume-role --mfa-serial` and role profiles with `mfa_serial`;
    /// asked for on a terminal when needed [env: WARD_MFA_CODE].
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "CODE"
    )]
    mfa_code: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Log in with a password; store temporary credentials in the profile.
    Login(session::LoginArgs),
    /// Show who the current credentials belong to.
    Whoami,
    /// Manage users.
    #[command(subcommand)]
    User(iam::UserCommand),
    /// Manage groups.
    #[command(subcommand)]
    Group(iam::GroupCommand),
    /// Work with IAM policy documents (validate, simulate: offline) and
    /// managed and inline policies on ward-ca.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Manage roles (trust policies, role policies, revoke-sessions).
    #[command(subcommand)]
    Role(role::RoleCommand),
    /// Assume a role: print shell exports, or store the session as a profile.
    AssumeRole(role::AssumeRoleArgs),
    /// Identity pools: guest and signed-in users' credentials.
    #[command(subcommand)]
    Pool(pool::PoolCommand),
    /// Print the profile's credentials as AWS credential_process JSON.
    CredentialProcess,
    /// Manage users' access keys.
    #[command(subcommand)]
    AccessKey(iam::AccessKeyCommand),
    /// Manage users' SSH public keys.
    #[command(subcommand)]
    SshKey(ssh_key::SshKeyCommand),
    /// Change your own password (the current credentials' user).
    ChangePassword(session::ChangePasswordArgs),
    /// List and revoke password sessions (temporary credentials); end
    /// ward-gateway sessions.
    #[command(subcommand)]
    Session(sessions::SessionCommand),
    /// Virtual MFA devices (TOTP): create, enable, list, deactivate,
    /// resync, delete.
    #[command(subcommand)]
    Mfa(mfa::MfaCommand),
    /// SSH certificates: log in (get a certificate into ssh-agent) and
    /// ward's SSH CA keys, known_hosts lines and KRL.
    #[command(subcommand)]
    Ssh(ssh::SshCommand),
    /// X.509 client certificates (for mTLS) and ward's CA bundle and CRL.
    #[command(subcommand)]
    X509(x509::X509Command),
    /// List and revoke issued certificates.
    #[command(subcommand)]
    Cert(cert::CertCommand),
    /// Register hosts and certify their SSH host keys.
    #[command(subcommand)]
    Host(host::HostCommand),
    /// Read and verify the audit log.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Session recordings the gateway uploaded: get (to replay with
    /// asciinema play) and list.
    #[command(subcommand)]
    Recording(recording::RecordingCommand),
    /// Print a shell completion script.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ctx = Ctx {
        flags: Flags {
            profile: cli.profile,
            endpoint: cli.endpoint,
            output: cli.output,
            ca_bundle: cli.ca_bundle,
            client_cert: cli.client_cert,
            client_key: cli.client_key,
            mfa_code: cli.mfa_code,
        },
        env: Env::from_process(),
    };
    let result = match cli.command {
        Command::Login(a) => session::login(a, &ctx),
        Command::Whoami => session::whoami(&ctx),
        Command::User(c) => iam::user(c, &ctx),
        Command::Group(c) => iam::group(c, &ctx),
        Command::Policy(c) => policy::run(c, &ctx),
        Command::Role(c) => role::run(c, &ctx),
        Command::AssumeRole(a) => role::assume_role(a, &ctx),
        Command::Pool(c) => pool::run(c, &ctx),
        Command::CredentialProcess => role::credential_process(&ctx),
        Command::AccessKey(c) => iam::access_key(c, &ctx),
        Command::SshKey(c) => ssh_key::run(c, &ctx),
        Command::ChangePassword(a) => session::change_password(a, &ctx),
        Command::Session(c) => sessions::run(c, &ctx),
        Command::Mfa(c) => mfa::run(c, &ctx),
        Command::Ssh(c) => ssh::run(c, &ctx),
        Command::X509(c) => x509::run(c, &ctx),
        Command::Cert(c) => cert::run(c, &ctx),
        Command::Host(c) => host::run(c, &ctx),
        Command::Audit(c) => audit::run(c, &ctx),
        Command::Recording(c) => recording::run(c, &ctx),
        Command::Completions { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "ward", &mut buf);
            output::print(&String::from_utf8_lossy(&buf));
            Ok(ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(f) => {
            eprintln!("ward: {f}");
            ExitCode::from(f.exit_code())
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn usage_errors() {
        for args in [
            &["ward", "policy", "attach", "p"][..],
            &[
                "ward", "policy", "attach", "p", "--user", "u", "--group", "g",
            ],
            &["ward", "user", "update", "alice"],
            &["ward", "user", "create", "a", "--tag", "novalue"],
            &[
                "ward",
                "access-key",
                "update",
                "u",
                "AKIA",
                "--status",
                "On",
            ],
            &["ward", "--output", "yaml", "whoami"],
            &["ward", "ssh-key", "update", "u", "APKA", "--status", "On"],
            &["ward", "ssh-key", "upload", "u"],
            &["ward", "policy", "simulate-principal", "u"],
            &[
                "ward",
                "policy",
                "simulate-principal",
                "u",
                "--action",
                "iam:GetUser",
                "--context",
                "novalue",
            ],
            &[
                "ward",
                "policy",
                "simulate-custom",
                "--action",
                "iam:GetUser",
            ],
            &["ward", "change-password", "extra"],
            &["ward", "ssh", "login", "--ttl", "abc"],
            &["ward", "ssh", "login", "--ttl", "0"],
            &["ward", "ssh", "login", "--extension", "permit-everything"],
            &["ward", "ssh", "login", "--source-address", "10.1.2.3/8"],
            &[
                "ward",
                "ssh",
                "login",
                "--public-key",
                "k.pub",
                "--out",
                "d",
            ],
            &["ward", "ssh", "krl"],
            &["ward", "ssh", "known-hosts", "--pattern", "a b"],
            &["ward", "x509", "issue", "--key-type", "rsa"],
            &["ward", "cert", "revoke"],
            &["ward", "cert", "revoke", "1", "--user", "u"],
            &["ward", "cert", "list", "--revoked", "--active"],
            &["ward", "cert", "list", "--kind", "ssh"],
            &["ward", "cert", "list", "--limit", "0"],
            &["ward", "assume-role", "r"],
            &["ward", "role", "create", "r"],
            &[
                "ward", "policy", "attach", "p", "--user", "u", "--role", "r",
            ],
        ] {
            let e = Cli::try_parse_from(args).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{args:?}");
        }
        for args in [
            &["ward", "policy", "attach", "p", "--group", "g"][..],
            &[
                "ward",
                "access-key",
                "update",
                "u",
                "AKIA",
                "--status",
                "inactive",
            ],
            &["ward", "user", "update", "alice", "--new-path", "/x/"],
            &["ward", "--profile", "p", "whoami"],
            &["ward", "whoami", "--profile", "p", "--output", "json"],
            &[
                "ward", "ssh-key", "update", "u", "APKA", "--status", "active",
            ],
            &[
                "ward",
                "policy",
                "simulate-principal",
                "u",
                "--action",
                "a:b",
                "--action",
                "c:d",
                "--resource",
                "*",
                "--context",
                "k=v",
                "--context-list",
                "l=a,b",
            ],
            &[
                "ward",
                "policy",
                "simulate-custom",
                "--policy",
                "p.json",
                "--boundary",
                "b.json",
                "--resource-policy",
                "r.json",
                "--caller-arn",
                "arn:ward:iam::1:user/x",
                "--action",
                "a:b",
            ],
            &["ward", "change-password"],
            &["ward", "change-password", "--old-password-stdin"],
            &["ward", "change-password", "--passwords-stdin"],
            &[
                "ward",
                "ssh",
                "login",
                "--principal",
                "deploy",
                "--ttl",
                "1h30m",
                "--source-address",
                "10.0.0.0/8",
                "--extension",
                "permit-port-forwarding",
                "--extension",
                "permit-X11-forwarding",
                "--out",
                "d",
                "--no-agent",
            ],
            &[
                "ward",
                "ssh",
                "login",
                "--public-key",
                "k.pub",
                "--ttl",
                "60",
            ],
            &["ward", "ssh", "krl", "--out", "-"],
            &["ward", "ssh", "known-hosts", "--pattern", "*.example.com"],
            &[
                "ward",
                "x509",
                "issue",
                "--key-type",
                "ec-p256",
                "--ttl",
                "7d",
            ],
            &["ward", "x509", "crl"],
            &["ward", "cert", "revoke", "123"],
            &["ward", "cert", "revoke", "--user", "u"],
            &["ward", "cert", "list", "--kind", "x509-client", "--active"],
            &["ward", "--cert", "c.pem", "--key", "k.pem", "whoami"],
            &["ward", "whoami", "--cert", "c.pem", "--key", "k.pem"],
            &[
                "ward",
                "assume-role",
                "r",
                "--session",
                "s",
                "--duration",
                "900",
            ],
            &[
                "ward", "role", "create", "r", "--trust", "t.json", "--tag", "a=b",
            ],
            &["ward", "policy", "attach", "p", "--role", "r"],
            &["ward", "credential-process", "--profile", "p"],
        ] {
            Cli::try_parse_from(args).unwrap();
        }
    }
}
