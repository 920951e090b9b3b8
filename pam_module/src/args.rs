//! Module arguments from the PAM stack line:
//! `debug`, `timeout=SECONDS` (1–30, default 3), `ignore_unknown_user`,
//! `use_first_pass`, `try_first_pass`, `mfa` (in `auth`: instead of a
//! password, ask for a ward MFA code when the login's decision needs one),
//! `sudo` (this is a sudo stack:
//! decide `host:Sudo`; implied for the services `sudo` and `sudo-i`, and
//! needed when sudoers names another `pam_service`), `socket=PATH` (default
//! `/run/ward/agent.sock`; an absolute path — the stack file is
//! root-owned, so this is not an environment override).
//! Unknown or malformed arguments are reported (logged) and otherwise
//! ignored, so a typo never locks everyone out; a malformed `socket=`
//! keeps the default.

use std::path::PathBuf;
use std::time::Duration;

use ward_protocol::agent::DEFAULT_SOCKET;

/// Parsed arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Args {
    /// Log decisions at debug level.
    pub debug: bool,
    /// Bound on each socket operation.
    pub timeout: Duration,
    /// Return `PAM_IGNORE` instead of `PAM_USER_UNKNOWN` for non-ward users.
    pub ignore_unknown_user: bool,
    /// Use the password an earlier module collected, never prompt.
    pub use_first_pass: bool,
    /// Use an earlier module's password if there is one, else prompt.
    pub try_first_pass: bool,
    /// A sudo stack under another service name (`sudo` and `sudo-i`
    /// are sudo stacks without it).
    pub sudo: bool,
    /// `auth` asks for an MFA code (when the decision needs one) instead
    /// of a password.
    pub mfa: bool,
    /// The agent socket.
    pub socket: PathBuf,
}

impl Default for Args {
    fn default() -> Args {
        Args {
            debug: false,
            timeout: Duration::from_secs(3),
            ignore_unknown_user: false,
            use_first_pass: false,
            try_first_pass: false,
            sudo: false,
            mfa: false,
            socket: PathBuf::from(DEFAULT_SOCKET),
        }
    }
}

/// Parses `args`; returns them and a message per argument it ignored.
pub fn parse<'a>(args: impl IntoIterator<Item = &'a [u8]>) -> (Args, Vec<String>) {
    let mut out = Args::default();
    let mut problems = Vec::new();
    for raw in args {
        let Ok(a) = std::str::from_utf8(raw) else {
            problems.push("ignoring an argument that is not UTF-8".to_owned());
            continue;
        };
        let shown: String = a.chars().take(64).filter(|c| !c.is_control()).collect();
        match a.split_once('=') {
            None => match a {
                "debug" => out.debug = true,
                "ignore_unknown_user" => out.ignore_unknown_user = true,
                "use_first_pass" => out.use_first_pass = true,
                "try_first_pass" => out.try_first_pass = true,
                "sudo" => out.sudo = true,
                "mfa" => out.mfa = true,
                _ => problems.push(format!("ignoring unknown argument {shown:?}")),
            },
            Some(("timeout", v)) => match v.parse::<u64>() {
                Ok(s) if (1..=30).contains(&s) => out.timeout = Duration::from_secs(s),
                _ => problems.push(format!(
                    "ignoring {shown:?}: timeout is whole seconds from 1 to 30"
                )),
            },
            Some(("socket", v)) => {
                if v.starts_with('/')
                    && v.len() < 108
                    && !v.split('/').any(|s| s == "..")
                    && !v.chars().any(char::is_control)
                {
                    out.socket = PathBuf::from(v);
                } else {
                    problems.push(format!(
                        "ignoring {shown:?}: socket must be an absolute path without '..', under 108 bytes"
                    ));
                }
            }
            Some(_) => problems.push(format!("ignoring unknown argument {shown:?}")),
        }
    }
    (out, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> (Args, Vec<String>) {
        parse(args.iter().map(|a| a.as_bytes()))
    }

    #[test]
    fn defaults_and_flags() {
        let (a, w) = p(&[]);
        assert_eq!(a, Args::default());
        assert!(w.is_empty());
        let (a, w) = p(&[
            "debug",
            "timeout=7",
            "ignore_unknown_user",
            "try_first_pass",
            "sudo",
            "socket=/tmp/x/agent.sock",
        ]);
        assert!(w.is_empty(), "{w:?}");
        assert!(a.debug && a.ignore_unknown_user && a.try_first_pass && !a.use_first_pass);
        assert!(a.sudo);
        assert_eq!(a.timeout, Duration::from_secs(7));
        assert_eq!(a.socket, PathBuf::from("/tmp/x/agent.sock"));
    }

    #[test]
    fn bad_arguments_keep_safe_defaults() {
        for bad in [
            "timeout=0",
            "timeout=31",
            "timeout=-1",
            "timeout=3s",
            "timeout=",
            "socket=relative",
            "socket=/a/../etc/shadow",
            "socket=/tmp/\nx",
            "nonsense",
            "debug=1",
            "sudo=yes",
        ] {
            let (a, w) = p(&[bad]);
            assert_eq!(a, Args::default(), "{bad}");
            assert_eq!(w.len(), 1, "{bad}");
        }
        let long = format!("socket=/{}", "a".repeat(200));
        let (a, w) = p(&[long.as_str()]);
        assert_eq!(a.socket, PathBuf::from(DEFAULT_SOCKET));
        assert_eq!(w.len(), 1);
        let (a, w) = parse([b"\xff\xfe".as_slice()]);
        assert_eq!(a, Args::default());
        assert_eq!(w.len(), 1);
    }
}
