//! `ward policy …`: offline validation and simulation (SPEC §4), the
//! managed and inline policy commands that talk to ward-ca ([`remote`]),
//! and ward-ca's own simulator ([`simulation`]).

pub(crate) mod remote;
mod simulation;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Subcommand, ValueEnum};
use ward_policy::{simulate, Instant, Policy, PolicyKind, MAX_INPUT_BYTES, MAX_RAW_BYTES};

use crate::ctx::{Ctx, Done};
use crate::error::Failure;

/// Exit code for invalid input (SPEC §4).
const INVALID: u8 = 2;

#[derive(Subcommand, Debug)]
pub(crate) enum PolicyCommand {
    /// Check a policy document; exit 0 if valid, 2 with the faults on stderr if not.
    Validate {
        /// The policy document (JSON), or - for standard input.
        file: PathBuf,
        /// What the document is for: decides Version and Principal rules and the size limit.
        #[arg(long, value_enum, default_value_t = Kind::Managed)]
        kind: Kind,
    },
    /// Decide a request against policies, offline; prints the decision as JSON.
    Simulate {
        /// Simulator input (JSON, SPEC §4), or - for standard input.
        #[arg(long)]
        input: PathBuf,
        /// Print a human-readable account of every statement instead of JSON.
        #[arg(long)]
        explain: bool,
    },
    /// Ask ward-ca how a user's current policies decide requests; one row per
    /// action and resource.
    SimulatePrincipal(simulation::Principal),
    /// Ask ward-ca how given policy documents decide requests; one row per
    /// action and resource.
    SimulateCustom(simulation::Custom),
    /// Create a managed policy from a document.
    Create(remote::Create),
    /// Show a managed policy and its default document.
    Get(remote::Named),
    /// List managed policies.
    List(remote::List),
    /// Delete a managed policy.
    Delete(remote::Named),
    /// Add a version to a managed policy.
    CreateVersion(remote::CreateVersion),
    /// List a managed policy's versions.
    Versions(remote::Named),
    /// Show one version of a managed policy.
    GetVersion(remote::Version),
    /// Make a version the default.
    SetDefault(remote::Version),
    /// Delete a (non-default) version.
    DeleteVersion(remote::Version),
    /// Attach a managed policy to a user, group or role.
    Attach(remote::Attachment),
    /// Detach a managed policy from a user, group or role.
    Detach(remote::Attachment),
    /// List the managed policies attached to a user, group or role.
    Attached(remote::Attached),
    /// Put (create or replace) an inline policy on a user, group or role.
    PutInline(remote::PutInline),
    /// Show an inline policy of a user, group or role.
    GetInline(remote::Inline),
    /// List the inline policies of a user, group or role.
    ListInline(remote::Attached),
    /// Delete an inline policy of a user, group or role.
    DeleteInline(remote::Inline),
}

/// Policy kinds on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum Kind {
    /// Managed policy or permissions boundary (6,144 chars).
    Managed,
    /// A user's inline policy (2,048).
    InlineUser,
    /// A group's inline policy (5,120).
    InlineGroup,
    /// A role's inline policy (10,240).
    InlineRole,
    /// A session policy (2,048).
    Session,
    /// A resource-based policy (names principals).
    Resource,
    /// A role trust policy.
    Trust,
}

impl From<Kind> for PolicyKind {
    fn from(k: Kind) -> PolicyKind {
        match k {
            Kind::Managed => PolicyKind::Managed,
            Kind::InlineUser => PolicyKind::InlineUser,
            Kind::InlineGroup => PolicyKind::InlineGroup,
            Kind::InlineRole => PolicyKind::InlineRole,
            Kind::Session => PolicyKind::Session,
            Kind::Resource => PolicyKind::Resource,
            Kind::Trust => PolicyKind::Trust,
        }
    }
}

pub(crate) fn run(cmd: PolicyCommand, ctx: &Ctx) -> Done {
    let offline =
        |r: anyhow::Result<ExitCode>| r.map_err(|e| Failure::Unexpected(format!("{e:#}")));
    match cmd {
        PolicyCommand::Validate { file, kind } => offline(validate(&file, kind.into())),
        PolicyCommand::Simulate { input, explain } => offline(simulate_cmd(&input, explain)),
        PolicyCommand::SimulatePrincipal(a) => simulation::principal(a, ctx),
        PolicyCommand::SimulateCustom(a) => simulation::custom(a, ctx),
        PolicyCommand::Create(a) => remote::create(a, ctx),
        PolicyCommand::Get(a) => remote::get(a, ctx),
        PolicyCommand::List(a) => remote::list(a, ctx),
        PolicyCommand::Delete(a) => remote::delete(a, ctx),
        PolicyCommand::CreateVersion(a) => remote::create_version(a, ctx),
        PolicyCommand::Versions(a) => remote::versions(a, ctx),
        PolicyCommand::GetVersion(a) => remote::get_version(a, ctx),
        PolicyCommand::SetDefault(a) => remote::set_default(a, ctx),
        PolicyCommand::DeleteVersion(a) => remote::delete_version(a, ctx),
        PolicyCommand::Attach(a) => remote::attach(a, ctx, false),
        PolicyCommand::Detach(a) => remote::attach(a, ctx, true),
        PolicyCommand::Attached(a) => remote::attached(a, ctx),
        PolicyCommand::PutInline(a) => remote::put_inline(a, ctx),
        PolicyCommand::GetInline(a) => remote::get_inline(a, ctx),
        PolicyCommand::ListInline(a) => remote::list_inline(a, ctx),
        PolicyCommand::DeleteInline(a) => remote::delete_inline(a, ctx),
    }
}

/// Reads `path` (or stdin for `-`), refusing more than `limit` bytes
/// without reading them all.
pub(crate) fn read_input(path: &Path, limit: usize) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let res = if path == Path::new("-") {
        std::io::stdin().lock().take(cap).read_to_end(&mut buf)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(cap).read_to_end(&mut buf))
    };
    res.map_err(|e| format!("{}: {e}", path.display()))?;
    if buf.len() > limit {
        return Err(format!(
            "{}: input is larger than {limit} bytes",
            path.display()
        ));
    }
    Ok(buf)
}

fn invalid(msg: impl std::fmt::Display) -> anyhow::Result<ExitCode> {
    eprintln!("ward: {msg}");
    Ok(ExitCode::from(INVALID))
}

fn validate(path: &Path, kind: PolicyKind) -> anyhow::Result<ExitCode> {
    let bytes = match read_input(path, MAX_RAW_BYTES) {
        Ok(b) => b,
        Err(e) => return invalid(e),
    };
    let name = path.display();
    match Policy::parse_bytes(&bytes, kind) {
        Ok(p) => {
            for w in p.warnings() {
                eprintln!("ward: warning: {name}: {w}");
            }
            crate::output::print(&format!(
                "{name}: valid {} policy, {} statement(s)\n",
                kind.name(),
                p.statements().len()
            ));
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            for p in &e.problems {
                eprintln!("ward: {name}: {p}");
            }
            Ok(ExitCode::from(INVALID))
        }
    }
}

fn simulate_cmd(path: &Path, explain: bool) -> anyhow::Result<ExitCode> {
    let bytes = match read_input(path, MAX_INPUT_BYTES) {
        Ok(b) => b,
        Err(e) => return invalid(e),
    };
    // The policy engine reads no clock: the CLI supplies it.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let now = Instant::from_epoch_seconds(i64::try_from(now).unwrap_or(i64::MAX));
    let sim = match simulate(&bytes, Some(now)) {
        Ok(s) => s,
        Err(e) => {
            for p in &e.problems {
                eprintln!("ward: {}: {p}", path.display());
            }
            return Ok(ExitCode::from(INVALID));
        }
    };
    let mut out = std::io::stdout().lock();
    if explain {
        out.write_all(sim.to_text().as_bytes())?;
    } else {
        serde_json::to_writer_pretty(&mut out, &sim.to_json())?;
        out.write_all(b"\n")?;
    }
    Ok(ExitCode::SUCCESS)
}
