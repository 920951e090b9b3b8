//! The agent's configuration (`/etc/ward/agent.toml`): TOML, unknown keys
//! refused, parsed once into a validated [`Config`]; the rest of the agent
//! sees only that. Every key is optional and has a default; the commented
//! example is `packaging/agent.toml`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Default configuration file.
pub const DEFAULT_PATH: &str = "/etc/ward/agent.toml";

/// The configuration as written (before validation).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    ca_url: Option<String>,
    state_dir: Option<PathBuf>,
    socket: Option<PathBuf>,
    max_staleness_seconds: Option<i64>,
    poll_wait_seconds: Option<i64>,
    decision_uids: Option<Vec<i64>>,
    trusted_user_ca_keys_file: Option<PathBuf>,
    revoked_keys_file: Option<PathBuf>,
    ssh_host_key: Option<PathBuf>,
    passwd_file: Option<PathBuf>,
    group_file: Option<PathBuf>,
    connect_timeout_seconds: Option<i64>,
    request_timeout_seconds: Option<i64>,
    audit_spool_max_bytes: Option<i64>,
    offline_password_max_age_seconds: Option<i64>,
    password_timeout_seconds: Option<i64>,
}

/// The validated configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// ward-ca's base URL (`https://…`); `None`: the one recorded by `join`.
    pub ca_url: Option<String>,
    /// State directory (0700): host key and certificate, pinned CA bundle,
    /// snapshot cache, audit spool.
    pub state_dir: PathBuf,
    /// The agent socket.
    pub socket: PathBuf,
    /// Oldest snapshot decisions may use, counted from when it was received.
    pub max_staleness: Duration,
    /// Long-poll wait sent to ward-ca (≤ 60 s).
    pub poll_wait: Duration,
    /// uids besides 0 that may ask for decisions.
    pub decision_uids: Vec<u32>,
    /// sshd's `TrustedUserCAKeys` file.
    pub trusted_user_ca_keys_file: PathBuf,
    /// sshd's `RevokedKeys` file.
    pub revoked_keys_file: PathBuf,
    /// The SSH host private key; its certificate goes to `<key>-cert.pub`.
    pub ssh_host_key: PathBuf,
    /// Local users (these win every name and uid collision).
    pub passwd_file: PathBuf,
    /// Local groups (these win every name and gid collision).
    pub group_file: PathBuf,
    /// TCP + TLS connect timeout for calls to ward-ca.
    pub connect_timeout: Duration,
    /// Timeout of a call to ward-ca (a long-poll gets its wait on top).
    pub request_timeout: Duration,
    /// Largest audit spool on disk; see [`crate::spool`] for what happens
    /// when it is full.
    pub audit_spool_max_bytes: u64,
    /// How long after a user's last online password login on this host
    /// the agent's offline verifier may be used while ward-ca is
    /// unreachable; zero disables offline password logins.
    pub offline_password_max_age: Duration,
    /// Connect and request timeout of a password check sent to ward-ca
    /// (short: PAM waits for the answer, and offline checks start only
    /// when ward-ca does not answer in time).
    pub password_timeout: Duration,
}

/// A configuration error, naming the key at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file.
    pub path: PathBuf,
    /// The key, when one is at fault.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(k) => write!(f, "{}: {k}: {}", self.path.display(), self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

impl Default for Config {
    fn default() -> Config {
        Config {
            ca_url: None,
            state_dir: PathBuf::from("/var/lib/ward-agent"),
            socket: PathBuf::from(ward_protocol::agent::DEFAULT_SOCKET),
            max_staleness: Duration::from_secs(86_400),
            poll_wait: Duration::from_secs(55),
            decision_uids: Vec::new(),
            trusted_user_ca_keys_file: PathBuf::from("/etc/ssh/ward_user_ca.pub"),
            revoked_keys_file: PathBuf::from("/etc/ssh/ward_revoked.krl"),
            ssh_host_key: PathBuf::from("/etc/ssh/ssh_host_ed25519_key"),
            passwd_file: PathBuf::from("/etc/passwd"),
            group_file: PathBuf::from("/etc/group"),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            audit_spool_max_bytes: 16 * 1024 * 1024,
            offline_password_max_age: Duration::from_secs(7 * 86_400),
            password_timeout: Duration::from_secs(2),
        }
    }
}

/// Largest configuration file read.
const MAX_FILE: u64 = 1024 * 1024;

impl Config {
    /// Reads and validates `path`. With `missing_ok`, a file that does not
    /// exist gives the defaults.
    pub fn load(path: &Path, missing_ok: bool) -> Result<Config, ConfigError> {
        let err = |message: String| ConfigError {
            path: path.to_path_buf(),
            field: None,
            message,
        };
        let text = match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && missing_ok => {
                return Ok(Config::default())
            }
            Err(e) => return Err(err(e.to_string())),
            Ok(m) if m.len() > MAX_FILE => {
                return Err(err(format!("larger than {MAX_FILE} bytes")));
            }
            Ok(_) => std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?,
        };
        Config::parse(&text, path)
    }

    /// Parses and validates configuration text (`path` is for messages).
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let raw: Raw = toml::from_str(text).map_err(|e| ConfigError {
            path: path.to_path_buf(),
            field: unknown_field(e.message()).or_else(|| key_at(text, e.span())),
            message: e.message().trim().to_string(),
        })?;
        validate(raw, path)
    }

    /// ward-ca's URL: the configured one, else `joined` (from the state).
    pub fn ca_url_or<'a>(&'a self, joined: &'a str) -> &'a str {
        self.ca_url.as_deref().unwrap_or(joined)
    }

    /// `<ssh_host_key>-cert.pub`.
    pub fn ssh_host_certificate(&self) -> PathBuf {
        let mut s = self.ssh_host_key.clone().into_os_string();
        s.push("-cert.pub");
        PathBuf::from(s)
    }

    /// `<ssh_host_key>.pub`.
    pub fn ssh_host_public_key(&self) -> PathBuf {
        let mut s = self.ssh_host_key.clone().into_os_string();
        s.push(".pub");
        PathBuf::from(s)
    }
}

/// The key named by toml's "unknown field `x`" message.
fn unknown_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    Some(rest.split('`').next()?.to_string())
}

/// The key on the line a toml error points at (`key = …`).
fn key_at(text: &str, span: Option<std::ops::Range<usize>>) -> Option<String> {
    let start = span?.start.min(text.len());
    let line_start = text.get(..start)?.rfind('\n').map_or(0, |i| i + 1);
    let line = text.get(line_start..)?.lines().next()?;
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    (!key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then(|| key.to_string())
}

fn validate(raw: Raw, path: &Path) -> Result<Config, ConfigError> {
    let bad = |field: &str, message: String| ConfigError {
        path: path.to_path_buf(),
        field: Some(field.to_string()),
        message,
    };
    let d = Config::default();
    let seconds = |field: &str, v: Option<i64>, def: Duration, min: i64, max: i64| match v {
        None => Ok(def),
        Some(n) if n < min || n > max => Err(bad(
            field,
            format!("{n} is out of range (allowed {min} to {max} seconds)"),
        )),
        Some(n) => Ok(Duration::from_secs(n.unsigned_abs())),
    };
    let abs = |field: &str, v: Option<PathBuf>, def: PathBuf| match v {
        None => Ok(def),
        Some(p) if !p.is_absolute() => Err(bad(
            field,
            format!("{} is not an absolute path", p.display()),
        )),
        Some(p) if p.as_os_str().len() > 4000 => Err(bad(field, "path is too long".into())),
        Some(p) => Ok(p),
    };
    let ca_url = match raw.ca_url {
        None => None,
        Some(u) => Some(check_url(&u).map_err(|m| bad("ca_url", m))?),
    };
    let mut decision_uids = Vec::new();
    for v in raw.decision_uids.unwrap_or_default() {
        let uid = u32::try_from(v)
            .ok()
            .filter(|&u| u != u32::MAX)
            .ok_or_else(|| bad("decision_uids", format!("{v} is not a uid")))?;
        if !decision_uids.contains(&uid) {
            decision_uids.push(uid);
        }
    }
    let audit_spool_max_bytes = match raw.audit_spool_max_bytes {
        None => d.audit_spool_max_bytes,
        Some(n) if !(64 * 1024..=1024 * 1024 * 1024).contains(&n) => {
            return Err(bad(
                "audit_spool_max_bytes",
                format!("{n} is out of range (allowed 65536 to 1073741824 bytes)"),
            ))
        }
        Some(n) => n.unsigned_abs(),
    };
    let socket = abs("socket", raw.socket, d.socket)?;
    if socket.as_os_str().len() > 107 {
        return Err(bad(
            "socket",
            "longer than a Unix socket path may be (107 bytes)".into(),
        ));
    }
    Ok(Config {
        ca_url,
        state_dir: abs("state_dir", raw.state_dir, d.state_dir)?,
        socket,
        max_staleness: seconds(
            "max_staleness_seconds",
            raw.max_staleness_seconds,
            d.max_staleness,
            1,
            90 * 86_400,
        )?,
        poll_wait: seconds(
            "poll_wait_seconds",
            raw.poll_wait_seconds,
            d.poll_wait,
            0,
            ward_protocol::host::MAX_WAIT_SECONDS as i64,
        )?,
        decision_uids,
        trusted_user_ca_keys_file: abs(
            "trusted_user_ca_keys_file",
            raw.trusted_user_ca_keys_file,
            d.trusted_user_ca_keys_file,
        )?,
        revoked_keys_file: abs(
            "revoked_keys_file",
            raw.revoked_keys_file,
            d.revoked_keys_file,
        )?,
        ssh_host_key: abs("ssh_host_key", raw.ssh_host_key, d.ssh_host_key)?,
        passwd_file: abs("passwd_file", raw.passwd_file, d.passwd_file)?,
        group_file: abs("group_file", raw.group_file, d.group_file)?,
        connect_timeout: seconds(
            "connect_timeout_seconds",
            raw.connect_timeout_seconds,
            d.connect_timeout,
            1,
            300,
        )?,
        request_timeout: seconds(
            "request_timeout_seconds",
            raw.request_timeout_seconds,
            d.request_timeout,
            1,
            600,
        )?,
        audit_spool_max_bytes,
        offline_password_max_age: seconds(
            "offline_password_max_age_seconds",
            raw.offline_password_max_age_seconds,
            d.offline_password_max_age,
            0,
            90 * 86_400,
        )?,
        password_timeout: seconds(
            "password_timeout_seconds",
            raw.password_timeout_seconds,
            d.password_timeout,
            1,
            60,
        )?,
    })
}

/// Checks a ward-ca URL: `https://HOST[:PORT]` with an optional path, no
/// query, fragment or user info. Returns it without a trailing `/`.
pub fn check_url(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| format!("{url:?} is not an https:// URL"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    if url.len() > 2000 {
        return Err("URL is too long".into());
    }
    if authority.contains('@')
        || url.contains(['?', '#'])
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "{:?}: only https://HOST[:PORT][/PATH] is allowed",
            url.escape_debug().to_string()
        ));
    }
    Ok(url.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, field: Option<&str>) {
        match Config::parse(text, Path::new("t.toml")) {
            Ok(c) => assert!(field.is_none(), "{text} parsed: {c:?}"),
            Err(e) => assert_eq!(e.field.as_deref(), field, "{text}: {e}"),
        }
    }

    #[test]
    fn table() {
        check("", None);
        check("poll_wait_seconds = \"x\"", Some("poll_wait_seconds"));
        check("decision_uids = 3", Some("decision_uids"));
        check("ca_url = \"https://ca.example:8443/\"", None);
        check("bogus = 1", Some("bogus"));
        check("ca_url = \"http://ca\"", Some("ca_url"));
        check("ca_url = \"https://u@ca\"", Some("ca_url"));
        check("ca_url = \"https://ca/?x\"", Some("ca_url"));
        check("poll_wait_seconds = 61", Some("poll_wait_seconds"));
        check("poll_wait_seconds = 60", None);
        check("max_staleness_seconds = 0", Some("max_staleness_seconds"));
        check("max_staleness_seconds = -5", Some("max_staleness_seconds"));
        check("decision_uids = [-1]", Some("decision_uids"));
        check("decision_uids = [4294967295]", Some("decision_uids"));
        check("decision_uids = [0, 74]", None);
        check("state_dir = \"relative\"", Some("state_dir"));
        check(
            "request_timeout_seconds = 0",
            Some("request_timeout_seconds"),
        );
        check("audit_spool_max_bytes = 10", Some("audit_spool_max_bytes"));
        let long = format!("socket = \"/{}\"", "s".repeat(120));
        check(&long, Some("socket"));
        check("offline_password_max_age_seconds = 0", None);
        check("offline_password_max_age_seconds = 7776000", None);
        check(
            "offline_password_max_age_seconds = 7776001",
            Some("offline_password_max_age_seconds"),
        );
        check(
            "offline_password_max_age_seconds = -1",
            Some("offline_password_max_age_seconds"),
        );
        check(
            "password_timeout_seconds = 0",
            Some("password_timeout_seconds"),
        );
        check(
            "password_timeout_seconds = 61",
            Some("password_timeout_seconds"),
        );
    }

    #[test]
    fn the_shipped_example_shows_the_defaults() {
        // Every commented `#key = value` line of packaging/agent.toml,
        // uncommented, parses to the defaults.
        let text = include_str!("../../packaging/agent.toml");
        let lines: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix('#'))
            .filter(|l| {
                l.split_once(" = ")
                    .is_some_and(|(k, _)| k.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
            })
            .filter(|l| !l.starts_with("ca_url"))
            .collect();
        assert!(lines
            .iter()
            .any(|l| l.starts_with("offline_password_max_age_seconds")));
        let c = Config::parse(&lines.join("\n"), Path::new("agent.toml")).unwrap();
        assert_eq!(c, Config::default());
    }

    #[test]
    fn defaults_and_derived_paths() {
        let c = Config::parse("ca_url = \"https://ca:8443//\"", Path::new("t")).unwrap();
        assert_eq!(c.ca_url.as_deref(), Some("https://ca:8443"));
        assert_eq!(
            c.ssh_host_certificate(),
            PathBuf::from("/etc/ssh/ssh_host_ed25519_key-cert.pub")
        );
        assert_eq!(c.max_staleness, Duration::from_secs(86_400));
        assert_eq!(c.poll_wait, Duration::from_secs(55));
        assert_eq!(c.offline_password_max_age, Duration::from_secs(7 * 86_400));
        assert_eq!(c.password_timeout, Duration::from_secs(2));
    }
}
