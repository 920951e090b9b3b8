//! The gateway's configuration (`/etc/ward/gateway.toml`): TOML, unknown
//! keys refused, parsed once into a validated [`Config`]. Every key is
//! optional. The enrolment and sync part becomes a ward-agent
//! [`ward_agent::config::Config`] ([`Config::agent`]) so that join, sync,
//! cache and spool are the agent's own code.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Default configuration file.
pub const DEFAULT_PATH: &str = "/etc/ward/gateway.toml";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    listen: Option<String>,
    state_dir: Option<PathBuf>,
    ca_url: Option<String>,
    max_staleness_seconds: Option<u64>,
    handshake_timeout_seconds: Option<u64>,
    idle_timeout_seconds: Option<u64>,
    connect_timeout_seconds: Option<u64>,
    max_auth_attempts: Option<u64>,
    max_channels_per_connection: Option<u64>,
    max_connections: Option<u64>,
    max_failed_auth_per_source: Option<u64>,
    failed_auth_window_seconds: Option<u64>,
    dangerous_allow_loopback_targets: Option<bool>,
    recordings_dir: Option<PathBuf>,
    recording_max_bytes: Option<u64>,
    record_input: Option<bool>,
    passwords: Option<bool>,
    password_timeout_seconds: Option<u64>,
    max_session_seconds: Option<u64>,
    max_sessions_per_user: Option<u64>,
    ciphers: Option<Vec<String>>,
}

/// The ciphers the gateway can offer clients (modern AEAD ciphers only).
pub const CIPHERS: &[&str] = &[
    "chacha20-poly1305@openssh.com",
    "aes256-gcm@openssh.com",
    "aes128-gcm@openssh.com",
];

/// A `ciphers` list: non-empty, each in [`CIPHERS`], no repeats.
fn ciphers(list: Vec<String>) -> Result<Vec<String>, String> {
    if list.is_empty() {
        return Err("must name at least one cipher".into());
    }
    for (i, c) in list.iter().enumerate() {
        if !CIPHERS.contains(&c.as_str()) {
            let shown: String = c.chars().take(64).collect();
            return Err(format!("{shown:?} is not one of {}", CIPHERS.join(", ")));
        }
        if list[..i].contains(c) {
            return Err(format!("{c} is listed twice"));
        }
    }
    Ok(list)
}

/// The validated configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Where to listen (default `0.0.0.0:2222`).
    pub listen: SocketAddr,
    /// State directory (0700): host keys and certificates, pinned CA
    /// bundle, snapshot cache, audit spool.
    pub state_dir: PathBuf,
    /// ward-ca's URL; `None`: the one recorded by `join`.
    pub ca_url: Option<String>,
    /// Oldest snapshot decisions may use.
    pub max_staleness: Duration,
    /// From TCP accept to successful authentication (version exchange, key
    /// exchange, authentication) at most this long.
    pub handshake_timeout: Duration,
    /// A connection with nothing received for this long is closed, and a
    /// session with no channel data either way for this long is ended.
    pub idle_timeout: Duration,
    /// No session lasts longer (it is ended with a message).
    pub max_session: Duration,
    /// Open sessions per ward user at once; the next is refused at
    /// channel open with the reason.
    pub max_sessions_per_user: usize,
    /// The ciphers offered to clients ([`CIPHERS`] names, at least one).
    /// An SSH client picks the first of its own list the server offers,
    /// so this is how an operator steers clients to AES-GCM on hardware
    /// with AES instructions (leaving out chacha20-poly1305 about halves
    /// the gateway's CPU per byte in terminating mode, BENCHMARKS.md).
    pub ciphers: Vec<String>,
    /// Passwords through keyboard-interactive (checked by ward-ca).
    pub passwords: bool,
    /// How long a password check waits for ward-ca (there is no offline
    /// check at the gateway to fall back to).
    pub password_timeout: Duration,
    /// TCP connect to a target.
    pub connect_timeout: Duration,
    /// Authentication attempts per connection.
    pub max_auth_attempts: usize,
    /// Channels open at once on one connection.
    pub max_channels_per_connection: usize,
    /// Connections at once, in all.
    pub max_connections: usize,
    /// Failed authentications from one source address within
    /// [`Config::failed_auth_window`] before its connections are refused.
    pub max_failed_auth_per_source: u32,
    /// The window of that count.
    pub failed_auth_window: Duration,
    /// Allow targets whose address is loopback (tests; never in
    /// production: it would expose services bound to the gateway itself).
    pub dangerous_allow_loopback_targets: bool,
    /// Where terminating sessions are recorded (asciicast v2, one
    /// `ID.cast` per session; the directory 0700, files 0600). Default:
    /// `STATE_DIR/recordings`.
    pub recordings_dir: PathBuf,
    /// A recording stops (with a marker) at this size; the session goes on.
    pub recording_max_bytes: u64,
    /// Record the client's input too (`"i"` events). Off by default: input
    /// carries what users type at password prompts.
    pub record_input: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: SocketAddr::from(([0, 0, 0, 0], 2222)),
            state_dir: PathBuf::from("/var/lib/ward-gateway"),
            ca_url: None,
            max_staleness: Duration::from_secs(86_400),
            handshake_timeout: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(900),
            max_session: Duration::from_secs(12 * 3600),
            max_sessions_per_user: 20,
            ciphers: CIPHERS.iter().map(|c| (*c).to_owned()).collect(),
            passwords: true,
            password_timeout: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(10),
            max_auth_attempts: 6,
            max_channels_per_connection: 10,
            max_connections: 1000,
            max_failed_auth_per_source: 30,
            failed_auth_window: Duration::from_secs(300),
            dangerous_allow_loopback_targets: false,
            recordings_dir: PathBuf::from("/var/lib/ward-gateway/recordings"),
            recording_max_bytes: 64 * 1024 * 1024,
            record_input: false,
        }
    }
}

/// A configuration error naming the key at fault.
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

/// Largest configuration file read.
const MAX_FILE: u64 = 1024 * 1024;

impl Config {
    /// Reads and validates `path`; with `missing_ok` a missing file gives
    /// the defaults.
    pub fn load(path: &Path, missing_ok: bool) -> Result<Config, ConfigError> {
        let err = |message: String| ConfigError {
            path: path.to_path_buf(),
            field: None,
            message,
        };
        match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && missing_ok => {
                Ok(Config::default())
            }
            Err(e) => Err(err(e.to_string())),
            Ok(m) if m.len() > MAX_FILE => Err(err(format!("larger than {MAX_FILE} bytes"))),
            Ok(_) => {
                let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
                Config::parse(&text, path)
            }
        }
    }

    /// Parses and validates configuration text (`path` for messages).
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let raw: Raw = toml::from_str(text).map_err(|e| ConfigError {
            path: path.to_path_buf(),
            field: e
                .message()
                .strip_prefix("unknown field `")
                .and_then(|r| r.split('`').next())
                .map(str::to_owned),
            message: e.message().trim().to_string(),
        })?;
        let bad = |field: &str, message: String| ConfigError {
            path: path.to_path_buf(),
            field: Some(field.to_owned()),
            message,
        };
        let d = Config::default();
        let secs = |field: &str, v: Option<u64>, def: Duration, max: u64| match v {
            None => Ok(def),
            Some(n) if (1..=max).contains(&n) => Ok(Duration::from_secs(n)),
            Some(n) => Err(bad(field, format!("{n} is not between 1 and {max}"))),
        };
        let count = |field: &str, v: Option<u64>, def: usize, max: u64| match v {
            None => Ok(def),
            Some(n) if (1..=max).contains(&n) => Ok(usize::try_from(n).unwrap_or(def)),
            Some(n) => Err(bad(field, format!("{n} is not between 1 and {max}"))),
        };
        let listen = match raw.listen {
            None => d.listen,
            Some(s) => s.parse::<SocketAddr>().map_err(|_| {
                bad(
                    "listen",
                    format!("{s:?} is not ADDRESS:PORT (e.g. 0.0.0.0:2222)"),
                )
            })?,
        };
        let state_dir = match raw.state_dir {
            None => d.state_dir,
            Some(p) if p.is_absolute() => p,
            Some(p) => return Err(bad("state_dir", format!("{} is not absolute", p.display()))),
        };
        let recordings_dir = match raw.recordings_dir {
            None => state_dir.join("recordings"),
            Some(p) if p.is_absolute() => p,
            Some(p) => {
                return Err(bad(
                    "recordings_dir",
                    format!("{} is not absolute", p.display()),
                ))
            }
        };
        let recording_max_bytes = match raw.recording_max_bytes {
            None => d.recording_max_bytes,
            Some(n) if (4096..=1 << 40).contains(&n) => n,
            Some(n) => {
                return Err(bad(
                    "recording_max_bytes",
                    format!("{n} is not between 4096 and {}", 1u64 << 40),
                ))
            }
        };
        let ca_url = match raw.ca_url {
            None => None,
            Some(u) => Some(ward_agent::config::check_url(&u).map_err(|m| bad("ca_url", m))?),
        };
        Ok(Config {
            listen,
            state_dir,
            ca_url,
            max_staleness: secs(
                "max_staleness_seconds",
                raw.max_staleness_seconds,
                d.max_staleness,
                30 * 86_400,
            )?,
            handshake_timeout: secs(
                "handshake_timeout_seconds",
                raw.handshake_timeout_seconds,
                d.handshake_timeout,
                600,
            )?,
            idle_timeout: secs(
                "idle_timeout_seconds",
                raw.idle_timeout_seconds,
                d.idle_timeout,
                7 * 86_400,
            )?,
            max_session: secs(
                "max_session_seconds",
                raw.max_session_seconds,
                d.max_session,
                30 * 86_400,
            )?,
            max_sessions_per_user: count(
                "max_sessions_per_user",
                raw.max_sessions_per_user,
                d.max_sessions_per_user,
                100_000,
            )?,
            passwords: raw.passwords.unwrap_or(d.passwords),
            password_timeout: secs(
                "password_timeout_seconds",
                raw.password_timeout_seconds,
                d.password_timeout,
                120,
            )?,
            connect_timeout: secs(
                "connect_timeout_seconds",
                raw.connect_timeout_seconds,
                d.connect_timeout,
                300,
            )?,
            max_auth_attempts: count(
                "max_auth_attempts",
                raw.max_auth_attempts,
                d.max_auth_attempts,
                100,
            )?,
            max_channels_per_connection: count(
                "max_channels_per_connection",
                raw.max_channels_per_connection,
                d.max_channels_per_connection,
                1000,
            )?,
            max_connections: count(
                "max_connections",
                raw.max_connections,
                d.max_connections,
                1_000_000,
            )?,
            max_failed_auth_per_source: u32::try_from(count(
                "max_failed_auth_per_source",
                raw.max_failed_auth_per_source,
                usize::try_from(d.max_failed_auth_per_source).unwrap_or(30),
                1_000_000,
            )?)
            .unwrap_or(d.max_failed_auth_per_source),
            failed_auth_window: secs(
                "failed_auth_window_seconds",
                raw.failed_auth_window_seconds,
                d.failed_auth_window,
                86_400,
            )?,
            dangerous_allow_loopback_targets: raw.dangerous_allow_loopback_targets.unwrap_or(false),
            recordings_dir,
            recording_max_bytes,
            record_input: raw.record_input.unwrap_or(false),
            ciphers: match raw.ciphers {
                None => d.ciphers,
                Some(list) => ciphers(list).map_err(|m| bad("ciphers", m))?,
            },
        })
    }

    /// The ward-agent configuration for join, sync, cache and spool: the
    /// same state directory; the files the agent keeps for sshd go inside
    /// it (the gateway reads the CA keys and revocations from the
    /// snapshot, not from them).
    pub fn agent(&self) -> ward_agent::config::Config {
        let d = ward_agent::config::Config::default();
        ward_agent::config::Config {
            ca_url: self.ca_url.clone(),
            state_dir: self.state_dir.clone(),
            socket: self.state_dir.join("unused.sock"),
            max_staleness: self.max_staleness,
            trusted_user_ca_keys_file: self.state_dir.join("user_ca.pub"),
            revoked_keys_file: self.state_dir.join("revoked.krl"),
            ssh_host_key: self.state_dir.join("ssh_host_ed25519_key"),
            ..d
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Result<(), &str>) -> Option<Config> {
        let got = Config::parse(text, Path::new("gateway.toml"));
        match (&got, expected) {
            (Ok(_), Ok(())) => {}
            (Err(e), Err(field)) => assert_eq!(e.field.as_deref(), Some(field), "{text}: {e}"),
            (g, e) => panic!("{text}: got {g:?}, expected {e:?}"),
        }
        got.ok()
    }

    #[test]
    fn defaults_and_refusals() {
        let c = check("", Ok(())).unwrap();
        assert_eq!(c.listen.to_string(), "0.0.0.0:2222");
        assert!(!c.dangerous_allow_loopback_targets);
        check("listen = \"nope\"", Err("listen"));
        check("state_dir = \"rel\"", Err("state_dir"));
        check("ca_url = \"http://x\"", Err("ca_url"));
        check(
            "max_channels_per_connection = 0",
            Err("max_channels_per_connection"),
        );
        check(
            "handshake_timeout_seconds = 100000",
            Err("handshake_timeout_seconds"),
        );
        check("bogus = 1", Err("bogus"));
        check("recordings_dir = \"rel\"", Err("recordings_dir"));
        check("recording_max_bytes = 10", Err("recording_max_bytes"));
        let c = check("state_dir = \"/s\"", Ok(())).unwrap();
        assert_eq!(c.recordings_dir, PathBuf::from("/s/recordings"));
        assert!(!c.record_input);
        check("max_session_seconds = 0", Err("max_session_seconds"));
        check("max_sessions_per_user = 0", Err("max_sessions_per_user"));
        check("ciphers = []", Err("ciphers"));
        check("ciphers = [\"aes128-cbc\"]", Err("ciphers"));
        check("ciphers = [\"none\"]", Err("ciphers"));
        check(
            "ciphers = [\"aes128-gcm@openssh.com\", \"aes128-gcm@openssh.com\"]",
            Err("ciphers"),
        );
        let c = check("ciphers = [\"aes256-gcm@openssh.com\"]", Ok(())).unwrap();
        assert_eq!(c.ciphers, ["aes256-gcm@openssh.com"]);
        assert!(Config::parse("passwords = \"yes\"", Path::new("gateway.toml")).is_err());
        assert!(c.passwords);
        assert_eq!(c.max_sessions_per_user, 20);
        let c = check("passwords = false\nmax_sessions_per_user = 2", Ok(())).unwrap();
        assert!(!c.passwords);
        assert_eq!(c.max_sessions_per_user, 2);
        let c = check(
            "listen = \"127.0.0.1:2300\"\nstate_dir = \"/tmp/gw\"\ndangerous_allow_loopback_targets = true",
            Ok(()),
        )
        .unwrap();
        assert!(c.dangerous_allow_loopback_targets);
        assert_eq!(
            c.agent().ssh_host_key,
            PathBuf::from("/tmp/gw/ssh_host_ed25519_key")
        );
    }
}
