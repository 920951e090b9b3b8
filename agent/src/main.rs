//! `ward-agent`: the command line of the host daemon and of the helper
//! commands sshd runs.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// ward's host agent.
#[derive(Parser, Debug)]
#[command(name = "ward-agent", version, about)]
struct Cli {
    /// Configuration file.
    #[arg(long, global = true, default_value = "/etc/ward/agent.toml")]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Enrol this host: `ward-agent join https://CA:8443 TOKEN`.
    Join {
        /// ward-ca's URL.
        url: String,
        /// The one-time join token (or `-` to read it from stdin).
        token: String,
    },
    /// Run the daemon (sync, cache, socket).
    Run,
    /// Check the configuration and exit.
    CheckConfig,
    /// Print the daemon's status.
    Status,
    /// sshd `AuthorizedPrincipalsCommand %u %i %s %k`.
    SshAuthorizedPrincipals {
        /// `%u`
        account: String,
        /// `%i`
        key_id: String,
        /// `%s`
        serial: String,
        /// `%k`
        certificate: String,
    },
    /// sshd `AuthorizedKeysCommand %u %f`.
    SshAuthorizedKeys {
        /// `%u`
        account: String,
        /// `%f`
        fingerprint: String,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let ssh_connection = std::env::var("SSH_CONNECTION").ok();
    match cli.command {
        Command::SshAuthorizedPrincipals {
            account,
            key_id,
            serial,
            certificate,
        } => ward_agent::sshcmd::finish(ward_agent::sshcmd::principals(
            &cli.config,
            &account,
            &key_id,
            &serial,
            &certificate,
            ssh_connection.as_deref(),
        )),
        Command::SshAuthorizedKeys {
            account,
            fingerprint,
        } => ward_agent::sshcmd::finish(ward_agent::sshcmd::keys(
            &cli.config,
            &account,
            &fingerprint,
            ssh_connection.as_deref(),
        )),
        other => {
            eprintln!("ward-agent: {other:?} is not built yet");
            std::process::ExitCode::FAILURE
        }
    }
}
