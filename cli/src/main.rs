//! `ward`: the command-line client for admins, users and scripts.
//!
//! Today it carries the offline policy tools (`ward policy validate`,
//! `ward policy simulate`), which need no server. Commands that talk to
//! ward-ca arrive with it. Exit codes: 0 success (for `simulate`, any
//! decision), 2 invalid input or usage, 1 anything else.
#![forbid(unsafe_code)]

mod policy;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "ward",
    version,
    about = "ward: IAM-style access for Linux fleets",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Work with IAM policy documents (offline).
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Policy(cmd) => policy::run(cmd),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ward: error: {e:#}");
            ExitCode::from(1)
        }
    }
}
