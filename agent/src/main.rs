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
    eprintln!("ward-agent: {:?} is not built yet", cli.command);
    std::process::ExitCode::FAILURE
}
