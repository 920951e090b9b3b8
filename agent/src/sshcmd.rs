//! The commands sshd runs (issue #11 item 7):
//! `ward-agent ssh-authorized-principals %u %i %s %k`
//! (`AuthorizedPrincipalsCommand`) and `ward-agent ssh-authorized-keys %u
//! %f` (`AuthorizedKeysCommand`). Each asks the agent over its socket and
//! prints the lines it answers; printing nothing denies.
//!
//! Fail closed: any error (bad token, no agent, timeout, a malformed
//! answer) prints nothing on stdout, a message on stderr (sshd logs it)
//! and exits non-zero. Socket connect/read/write time out after
//! [`TIMEOUT`].
//!
//! `ward:SourceIp` comes from `SSH_CONNECTION` when it is in the
//! environment. Stock sshd (9.x) runs these commands with a minimal
//! environment (only `PATH`) and has no token for the client address, so
//! with it the address is unknown: the key is absent and a policy
//! conditioned on `ward:SourceIp` does not match (fail closed).

use std::io::Write as _;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use ward_protocol::agent::{exchange, Request, Response, SshKeysRequest, SshPrincipalsRequest};

/// Socket timeout of the helper commands.
pub const TIMEOUT: Duration = Duration::from_secs(3);

/// Why a helper command printed nothing.
#[derive(Debug)]
pub struct CmdError(pub String);

impl std::fmt::Display for CmdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CmdError {}

/// The socket path from the agent's configuration (the same parse and
/// checks as `ward-agent run`); the defaults when the file does not exist.
pub fn socket_path(config: &Path) -> Result<std::path::PathBuf, CmdError> {
    crate::config::Config::load(config, true)
        .map(|c| c.socket)
        .map_err(|e| CmdError(e.to_string()))
}

/// The client address from an `SSH_CONNECTION` value (`CLIENT_IP
/// CLIENT_PORT SERVER_IP SERVER_PORT`); `None` if absent or not an address.
pub fn source_ip(ssh_connection: Option<&str>) -> Option<String> {
    let first = ssh_connection?.split_whitespace().next()?;
    first
        .parse::<std::net::IpAddr>()
        .ok()
        .map(|ip| ip.to_canonical().to_string())
}

fn ask(socket: &Path, req: Request) -> Result<Vec<String>, CmdError> {
    let mut s = UnixStream::connect(socket).map_err(|e| {
        CmdError(format!(
            "cannot reach ward-agent at {}: {e}",
            socket.display()
        ))
    })?;
    s.set_read_timeout(Some(TIMEOUT))
        .and_then(|_| s.set_write_timeout(Some(TIMEOUT)))
        .map_err(|e| CmdError(format!("socket: {e}")))?;
    match exchange(&mut s, req).map_err(|e| CmdError(format!("ward-agent: {e}")))? {
        Response::Lines { lines, reason } => {
            if lines.is_empty() {
                return Err(CmdError(format!(
                    "denied: {}",
                    reason.as_deref().unwrap_or("no reason given")
                )));
            }
            // Each line must be one line: sshd reads this output.
            if lines
                .iter()
                .any(|l| l.is_empty() || l.contains(['\n', '\r', '\0']))
            {
                return Err(CmdError("ward-agent answered a malformed line".into()));
            }
            Ok(lines)
        }
        Response::Error { code, message } => {
            Err(CmdError(format!("ward-agent: {code}: {message}")))
        }
        other => Err(CmdError(format!("ward-agent: unexpected answer {other:?}"))),
    }
}

/// `ssh-authorized-principals %u %i %s %k`: the lines to print.
pub fn principals(
    config: &Path,
    account: &str,
    key_id: &str,
    serial: &str,
    certificate: &str,
    ssh_connection: Option<&str>,
) -> Result<Vec<String>, CmdError> {
    if serial.is_empty() || serial.len() > 20 || !serial.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CmdError("serial (%s) is not a decimal number".into()));
    }
    let serial: u64 = serial
        .parse()
        .map_err(|_| CmdError("serial (%s) is out of range".into()))?;
    let socket = socket_path(config)?;
    ask(
        &socket,
        Request::SshPrincipals(SshPrincipalsRequest {
            account: account.into(),
            key_id: key_id.into(),
            serial,
            certificate: certificate.into(),
            source_ip: source_ip(ssh_connection),
        }),
    )
}

/// `ssh-authorized-keys %u %f`: the lines to print.
pub fn keys(
    config: &Path,
    account: &str,
    fingerprint: &str,
    ssh_connection: Option<&str>,
) -> Result<Vec<String>, CmdError> {
    let socket = socket_path(config)?;
    ask(
        &socket,
        Request::SshKeys(SshKeysRequest {
            account: account.into(),
            fingerprint: fingerprint.into(),
            source_ip: source_ip(ssh_connection),
        }),
    )
}

/// Prints `result`'s lines and maps it to an exit code (nothing printed
/// and a failure code on any error).
pub fn finish(result: Result<Vec<String>, CmdError>) -> std::process::ExitCode {
    match result {
        Ok(lines) => {
            let mut out = String::new();
            for l in lines {
                out.push_str(&l);
                out.push('\n');
            }
            let mut stdout = std::io::stdout().lock();
            if stdout
                .write_all(out.as_bytes())
                .and_then(|_| stdout.flush())
                .is_err()
            {
                return std::process::ExitCode::FAILURE;
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            // Control characters from hostile tokens are escaped.
            eprintln!("ward-agent: {}", e.0.escape_debug());
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_connection_gives_the_client_address_or_nothing() {
        assert_eq!(
            source_ip(Some("192.0.2.1 5000 192.0.2.2 22")).as_deref(),
            Some("192.0.2.1")
        );
        assert_eq!(
            source_ip(Some("::ffff:10.0.0.1 5000 ::1 22")).as_deref(),
            Some("10.0.0.1")
        );
        assert_eq!(source_ip(Some("nonsense 1 2 3")), None);
        assert_eq!(source_ip(Some("")), None);
        assert_eq!(source_ip(None), None);
    }

    #[test]
    fn bad_serials_are_refused_before_connecting() {
        let cfg = Path::new("/nonexistent/ward-agent.toml");
        for s in [
            "",
            "-1",
            "1x",
            "99999999999999999999999",
            "18446744073709551616",
        ] {
            let e = principals(cfg, "root", "AIDAX", s, "AAAA", None);
            assert!(e.is_err(), "{s}");
        }
    }

    #[test]
    fn the_socket_comes_from_the_validated_config() {
        let dir = std::env::temp_dir().join(format!("ward-sshcmd-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = dir.join("agent.toml");
        // Missing file: the default socket.
        assert_eq!(
            socket_path(&cfg).unwrap(),
            std::path::PathBuf::from(ward_protocol::agent::DEFAULT_SOCKET)
        );
        std::fs::write(&cfg, "socket = \"/run/x/agent.sock\"\n").unwrap();
        assert_eq!(socket_path(&cfg).unwrap(), Path::new("/run/x/agent.sock"));
        // What `ward-agent run` refuses, the sshd commands refuse too.
        for bad in [
            "socket = 5\n",
            "socket = \"relative.sock\"\n",
            "sockett = \"/x\"\n",
        ] {
            std::fs::write(&cfg, bad).unwrap();
            assert!(socket_path(&cfg).is_err(), "{bad}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
