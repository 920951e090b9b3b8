//! ward-ca configuration: a TOML file parsed once into a validated
//! [`Config`]; the rest of the daemon only sees the validated type.
//! Unknown keys are errors (a typo must not silently fall back to a
//! default in a security daemon).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Raw TOML, as written by the operator.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    /// Directory for the master key, TLS material and the SQLite database.
    data_dir: PathBuf,
    /// `host:port` to listen on (default 127.0.0.1:8443).
    listen: Option<String>,
    /// `sqlite:…` (default: `data_dir/ward.db`) or `postgres://…`.
    database: Option<String>,
    /// SigV4 region (default `local`).
    region: Option<String>,
    #[serde(default)]
    tls: RawTls,
    #[serde(default)]
    unix: RawUnix,
    #[serde(default)]
    passwords: RawPasswords,
    /// The URL clients reach this daemon at (`https://ca.example.com:8443`):
    /// issued X.509 certificates then name their CRL under it.
    external_url: Option<String>,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    metrics: RawMetrics,
    #[serde(default)]
    store: RawStore,
    #[serde(default)]
    dashboard: RawDashboard,
}

/// `[dashboard]`: the browser sessions' timeouts (see [`Dashboard`]).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDashboard {
    idle_timeout_seconds: Option<i64>,
    absolute_timeout_seconds: Option<i64>,
}

/// The dashboard's session timeouts (`[dashboard]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dashboard {
    /// A cookie not re-issued (no page loaded) for this long is refused
    /// (1 to 86400; default 1800).
    pub idle_timeout_seconds: i64,
    /// A cookie older than this since sign-in is refused however active
    /// it is (1 to 604800; default 43200). The login session's own expiry
    /// (`passwords.session_seconds`) still applies as well.
    pub absolute_timeout_seconds: i64,
}

impl Default for Dashboard {
    fn default() -> Dashboard {
        Dashboard {
            idle_timeout_seconds: 1800,
            absolute_timeout_seconds: 12 * 3600,
        }
    }
}

impl Dashboard {
    fn new(raw: &RawDashboard) -> Result<Dashboard, String> {
        let d = Dashboard::default();
        let idle = raw.idle_timeout_seconds.unwrap_or(d.idle_timeout_seconds);
        let absolute = raw
            .absolute_timeout_seconds
            .unwrap_or(d.absolute_timeout_seconds);
        if !(1..=86_400).contains(&idle) {
            return Err("dashboard.idle_timeout_seconds must be between 1 and 86400".into());
        }
        if !(1..=7 * 86_400).contains(&absolute) {
            return Err("dashboard.absolute_timeout_seconds must be between 1 and 604800".into());
        }
        Ok(Dashboard {
            idle_timeout_seconds: idle,
            absolute_timeout_seconds: absolute,
        })
    }
}

/// `[store]`: PostgreSQL session timeouts (see `store::StoreTimeouts`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    lock_timeout_ms: Option<u64>,
    statement_timeout_ms: Option<u64>,
    idle_in_transaction_timeout_ms: Option<u64>,
    tcp_keepalive_idle_seconds: Option<u64>,
}

/// `[limits]`: connection budget and deadlines (see `tls::ServeOptions`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_connections: Option<usize>,
    max_connections_per_source: Option<usize>,
    handshake_timeout_seconds: Option<u64>,
    header_timeout_seconds: Option<u64>,
    idle_timeout_seconds: Option<u64>,
    body_timeout_seconds: Option<u64>,
    h2_max_concurrent_streams: Option<u32>,
    h2_keepalive_interval_seconds: Option<u64>,
    h2_keepalive_timeout_seconds: Option<u64>,
    host_audit_batches_per_second: Option<u32>,
    host_audit_burst: Option<u32>,
    guest_requests_per_minute: Option<u32>,
    guest_burst: Option<u32>,
    guest_identities_per_source: Option<u32>,
}

/// `[metrics]`: who may read `/metrics`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    /// CIDR blocks whose sources may read `/metrics`; default loopback only.
    allow: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    /// PEM certificate chain; default `data_dir/tls/server.pem`.
    cert: Option<PathBuf>,
    /// PEM private key; default `data_dir/tls/server.key`.
    key: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUnix {
    uid_min: Option<i64>,
    uid_max: Option<i64>,
    /// Home directory of users without their own: `{name}` is replaced by
    /// the user name (default `/home/{name}`).
    home_template: Option<String>,
    /// Login shell of users without their own (default `/bin/bash`).
    default_shell: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPasswords {
    min_length: Option<usize>,
    /// Failed logins per user (and per source address) before a lockout.
    max_failures: Option<i64>,
    /// Lockout length in seconds.
    lockout_seconds: Option<i64>,
    /// Session lifetime in seconds for password logins.
    session_seconds: Option<i64>,
}

/// Where the store lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Database {
    /// An SQLite file (WAL mode).
    Sqlite(PathBuf),
    /// A PostgreSQL URL (may carry a password: never printed).
    Postgres(String),
}

impl Database {
    /// Parses `sqlite:PATH`, `sqlite://PATH` or `postgres://…`/`postgresql://…`.
    pub fn parse(s: &str) -> Result<Database, String> {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return Ok(Database::Postgres(s.to_owned()));
        }
        let path = s
            .strip_prefix("sqlite://")
            .or_else(|| s.strip_prefix("sqlite:"))
            .ok_or_else(|| {
                format!(
                    "database {:?}: expected sqlite:PATH or postgres://…",
                    redact_url(s)
                )
            })?;
        if path.is_empty() {
            return Err("database: the SQLite path is empty".into());
        }
        Ok(Database::Sqlite(PathBuf::from(path)))
    }

    /// A printable description with any password removed.
    pub fn describe(&self) -> String {
        match self {
            Database::Sqlite(p) => format!("sqlite:{}", p.display()),
            Database::Postgres(u) => redact_url(u),
        }
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact_url(u: &str) -> String {
    match (u.find("://"), u.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &u[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &u[..s + 3], &creds[..c], &u[at..]),
                None => u.to_owned(),
            }
        }
        _ => u.to_owned(),
    }
}

/// Password rules and throttling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// Minimum length in characters.
    pub min_length: usize,
    /// Failures (per user, and per source address) before lockout.
    pub max_failures: i64,
    /// Lockout length in seconds.
    pub lockout_seconds: i64,
    /// Lifetime of a password-login session.
    pub session_seconds: i64,
}

impl Default for PasswordPolicy {
    fn default() -> PasswordPolicy {
        PasswordPolicy {
            min_length: 12,
            max_failures: 5,
            lockout_seconds: 300,
            session_seconds: 12 * 3600,
        }
    }
}

/// Connection budget and deadlines of the HTTPS listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Connections at once; when all are taken the longest-idle one is shed.
    pub max_connections: usize,
    /// Connections one source (IPv4 address, IPv6 /64) may hold at once.
    pub max_connections_per_source: usize,
    /// TLS handshake deadline.
    pub handshake_timeout: Duration,
    /// Deadline for a request's headers (and the HTTP/2 preface).
    pub header_timeout: Duration,
    /// A connection with no request in flight this long is closed.
    pub idle_timeout: Duration,
    /// A request body must have arrived this long after its headers (else 408).
    pub body_timeout: Duration,
    /// HTTP/2 streams per connection.
    pub h2_max_concurrent_streams: u32,
    /// HTTP/2 keep-alive PING interval.
    pub h2_keepalive_interval: Duration,
    /// HTTP/2 keep-alive PING answer deadline.
    pub h2_keepalive_timeout: Duration,
    /// `POST /v1/host/audit` batches one host may send a second, sustained.
    pub host_audit_batches_per_second: u32,
    /// ... and at once after a quiet spell (the token bucket's size).
    pub host_audit_burst: u32,
    /// Unauthenticated identity-pool requests (guest GetId and
    /// GetCredentialsForIdentity) one source address may make a minute,
    /// sustained.
    pub guest_requests_per_minute: u32,
    /// ... and at once after a quiet spell.
    pub guest_burst: u32,
    /// Guest identities one source address may create (in all pools).
    pub guest_identities_per_source: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 4096,
            max_connections_per_source: 256,
            handshake_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(30),
            h2_max_concurrent_streams: 100,
            h2_keepalive_interval: Duration::from_secs(30),
            h2_keepalive_timeout: Duration::from_secs(20),
            host_audit_batches_per_second: 5,
            host_audit_burst: 20,
            guest_requests_per_minute: 60,
            guest_burst: 10,
            guest_identities_per_source: 100,
        }
    }
}

/// An IP network (`10.0.0.0/8`, `::1/128`); a bare address is a /32 or /128.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `ADDR/PREFIX` or `ADDR`; host bits must be zero.
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or CIDR block"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max && !p.starts_with('+') => n,
                _ => return Err(format!("{s:?}: prefix length must be 0–{max}")),
            },
        };
        let cidr = Cidr { addr, prefix };
        if cidr.network() != addr {
            return Err(format!("{s:?}: host bits are set beyond the /{prefix}"));
        }
        Ok(cidr)
    }

    fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
            }
        }
    }

    /// Whether `ip` is in the block (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The default `/metrics` audience: loopback only.
pub fn loopback_only() -> Vec<Cidr> {
    vec![
        Cidr {
            addr: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)),
            prefix: 8,
        },
        Cidr {
            addr: IpAddr::V6(Ipv6Addr::LOCALHOST),
            prefix: 128,
        },
    ]
}

/// The validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Data directory.
    pub data_dir: PathBuf,
    /// Listen address.
    pub listen: SocketAddr,
    /// Store location.
    pub database: Database,
    /// SigV4 region.
    pub region: String,
    /// TLS certificate chain file.
    pub tls_cert: PathBuf,
    /// TLS key file.
    pub tls_key: PathBuf,
    /// Unix id range for users and groups (inclusive).
    pub uid_range: (i64, i64),
    /// Defaults of users' POSIX accounts (`[unix]`).
    pub posix: PosixDefaults,
    /// Password policy.
    pub passwords: PasswordPolicy,
    /// The URL relying parties reach this daemon at, without a trailing
    /// `/`; when set, X.509 certificates carry a CRL distribution point
    /// under it.
    pub external_url: Option<String>,
    /// Connection budget and deadlines.
    pub limits: Limits,
    /// Sources allowed to read `/metrics` (default loopback only).
    pub metrics_allow: Vec<Cidr>,
    /// PostgreSQL session timeouts (`[store]`).
    pub store_timeouts: StoreTimeouts,
    /// The dashboard's session timeouts (`[dashboard]`).
    pub dashboard: Dashboard,
}

/// SigV4 service name of the ward API.
pub const SERVICE: &str = "ward";

impl Config {
    /// Reads and validates a TOML file.
    pub fn load(path: &Path) -> Result<Config, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Config::from_toml(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses and validates TOML text.
    pub fn from_toml(text: &str) -> Result<Config, String> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        Config::validate(raw)
    }

    /// The configuration `serve --dev` uses for `data_dir`.
    pub fn dev(data_dir: &Path, listen: SocketAddr) -> Config {
        Config {
            data_dir: data_dir.to_owned(),
            listen,
            database: Database::Sqlite(data_dir.join("ward.db")),
            region: "local".into(),
            tls_cert: data_dir.join("tls/server.pem"),
            tls_key: data_dir.join("tls/server.key"),
            uid_range: (200_000, 299_999),
            posix: PosixDefaults::default(),
            passwords: PasswordPolicy::default(),
            external_url: None,
            limits: Limits::default(),
            metrics_allow: loopback_only(),
            store_timeouts: StoreTimeouts::default(),
            dashboard: Dashboard::default(),
        }
    }

    fn validate(raw: RawConfig) -> Result<Config, String> {
        let listen = raw.listen.as_deref().unwrap_or("127.0.0.1:8443");
        let listen: SocketAddr = listen
            .parse()
            .map_err(|_| format!("listen: {listen:?} is not host:port (e.g. 127.0.0.1:8443)"))?;
        let database = match &raw.database {
            Some(d) => Database::parse(d)?,
            None => Database::Sqlite(raw.data_dir.join("ward.db")),
        };
        let region = raw.region.unwrap_or_else(|| "local".into());
        if region.is_empty()
            || !region
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(format!(
                "region: {region:?} must be letters, digits and '-'"
            ));
        }
        let uid_min = raw.unix.uid_min.unwrap_or(200_000);
        let uid_max = raw.unix.uid_max.unwrap_or(299_999);
        if uid_min < 1000 || uid_max <= uid_min || uid_max > i64::from(u32::MAX) - 2 {
            return Err(format!(
                "unix: uid range {uid_min}–{uid_max} must be within 1000–4294967293 and non-empty"
            ));
        }
        let posix = PosixDefaults::new(
            raw.unix.home_template.as_deref(),
            raw.unix.default_shell.as_deref(),
        )?;
        let d = PasswordPolicy::default();
        let passwords = PasswordPolicy {
            min_length: raw.passwords.min_length.unwrap_or(d.min_length),
            max_failures: raw.passwords.max_failures.unwrap_or(d.max_failures),
            lockout_seconds: raw.passwords.lockout_seconds.unwrap_or(d.lockout_seconds),
            session_seconds: raw.passwords.session_seconds.unwrap_or(d.session_seconds),
        };
        if !(8..=128).contains(&passwords.min_length) {
            return Err("passwords.min_length must be between 8 and 128".into());
        }
        if passwords.max_failures < 1 || passwords.lockout_seconds < 1 {
            return Err("passwords.max_failures and lockout_seconds must be positive".into());
        }
        if !(60..=7 * 86_400).contains(&passwords.session_seconds) {
            return Err("passwords.session_seconds must be between 60 and 604800".into());
        }
        let external_url = raw.external_url.as_deref().map(external_url).transpose()?;
        let dashboard = Dashboard::new(&raw.dashboard)?;
        let limits = validate_limits(&raw.limits)?;
        let metrics_allow = match &raw.metrics.allow {
            None => loopback_only(),
            Some(list) => list
                .iter()
                .map(|s| Cidr::parse(s).map_err(|e| format!("metrics.allow: {e}")))
                .collect::<Result<_, _>>()?,
        };
        let dt = StoreTimeouts::default();
        let ms = |v: Option<u64>, d: Duration, name: &str| -> Result<Duration, String> {
            match v {
                None => Ok(d),
                Some(n) if (1..=3_600_000).contains(&n) => Ok(Duration::from_millis(n)),
                Some(_) => Err(format!("store.{name} must be between 1 and 3600000")),
            }
        };
        let store_timeouts = StoreTimeouts {
            lock_timeout: ms(
                raw.store.lock_timeout_ms,
                dt.lock_timeout,
                "lock_timeout_ms",
            )?,
            statement_timeout: ms(
                raw.store.statement_timeout_ms,
                dt.statement_timeout,
                "statement_timeout_ms",
            )?,
            idle_in_transaction_timeout: ms(
                raw.store.idle_in_transaction_timeout_ms,
                dt.idle_in_transaction_timeout,
                "idle_in_transaction_timeout_ms",
            )?,
            tcp_keepalive_idle: match raw.store.tcp_keepalive_idle_seconds {
                None => dt.tcp_keepalive_idle,
                Some(n) if (1..=7200).contains(&n) => Duration::from_secs(n),
                Some(_) => {
                    return Err(
                        "store.tcp_keepalive_idle_seconds must be between 1 and 7200".into(),
                    )
                }
            },
        };
        Ok(Config {
            dashboard,
            store_timeouts,
            external_url,
            limits,
            metrics_allow,
            tls_cert: raw
                .tls
                .cert
                .unwrap_or_else(|| raw.data_dir.join("tls/server.pem")),
            tls_key: raw
                .tls
                .key
                .unwrap_or_else(|| raw.data_dir.join("tls/server.key")),
            data_dir: raw.data_dir,
            listen,
            database,
            region,
            uid_range: (uid_min, uid_max),
            posix,
            passwords,
        })
    }
}

/// Checks `external_url`: an absolute `http(s)://host[:port][/path]` URL of
/// printable ASCII without query, fragment or credentials; a trailing `/`
/// is dropped.
fn external_url(u: &str) -> Result<String, String> {
    let bad = |why: &str| Err(format!("external_url: {u:?} {why}"));
    let rest = match u
        .strip_prefix("https://")
        .or_else(|| u.strip_prefix("http://"))
    {
        Some(r) => r,
        None => return bad("must start with https:// or http://"),
    };
    if u.len() > 512 || !u.bytes().all(|b| b.is_ascii_graphic()) {
        return bad("must be at most 512 printable ASCII characters without spaces");
    }
    if u.contains(['?', '#', '@', '"', '<', '>', '\\']) {
        return bad("must not have a query, fragment or credentials");
    }
    if rest.is_empty() || rest.starts_with('/') {
        return bad("has no host");
    }
    Ok(u.trim_end_matches('/').to_owned())
}

fn validate_limits(raw: &RawLimits) -> Result<Limits, String> {
    let d = Limits::default();
    let secs = |name: &str, v: Option<u64>, default: Duration| -> Result<Duration, String> {
        match v {
            None => Ok(default),
            Some(n) if (1..=86_400).contains(&n) => Ok(Duration::from_secs(n)),
            Some(_) => Err(format!("limits.{name} must be between 1 and 86400")),
        }
    };
    let l = Limits {
        max_connections: raw.max_connections.unwrap_or(d.max_connections),
        max_connections_per_source: raw
            .max_connections_per_source
            .unwrap_or(d.max_connections_per_source),
        handshake_timeout: secs(
            "handshake_timeout_seconds",
            raw.handshake_timeout_seconds,
            d.handshake_timeout,
        )?,
        header_timeout: secs(
            "header_timeout_seconds",
            raw.header_timeout_seconds,
            d.header_timeout,
        )?,
        idle_timeout: secs(
            "idle_timeout_seconds",
            raw.idle_timeout_seconds,
            d.idle_timeout,
        )?,
        body_timeout: secs(
            "body_timeout_seconds",
            raw.body_timeout_seconds,
            d.body_timeout,
        )?,
        h2_max_concurrent_streams: raw
            .h2_max_concurrent_streams
            .unwrap_or(d.h2_max_concurrent_streams),
        h2_keepalive_interval: secs(
            "h2_keepalive_interval_seconds",
            raw.h2_keepalive_interval_seconds,
            d.h2_keepalive_interval,
        )?,
        h2_keepalive_timeout: secs(
            "h2_keepalive_timeout_seconds",
            raw.h2_keepalive_timeout_seconds,
            d.h2_keepalive_timeout,
        )?,
        host_audit_batches_per_second: raw
            .host_audit_batches_per_second
            .unwrap_or(d.host_audit_batches_per_second),
        host_audit_burst: raw.host_audit_burst.unwrap_or(d.host_audit_burst),
        guest_requests_per_minute: raw
            .guest_requests_per_minute
            .unwrap_or(d.guest_requests_per_minute),
        guest_burst: raw.guest_burst.unwrap_or(d.guest_burst),
        guest_identities_per_source: raw
            .guest_identities_per_source
            .unwrap_or(d.guest_identities_per_source),
    };
    for (name, v, max) in [
        (
            "guest_requests_per_minute",
            l.guest_requests_per_minute,
            600_000,
        ),
        ("guest_burst", l.guest_burst, 100_000),
        (
            "guest_identities_per_source",
            l.guest_identities_per_source,
            1_000_000,
        ),
    ] {
        if !(1..=max).contains(&v) {
            return Err(format!("limits.{name} must be between 1 and {max}"));
        }
    }
    if !(1..=10_000).contains(&l.host_audit_batches_per_second) {
        return Err("limits.host_audit_batches_per_second must be between 1 and 10000".into());
    }
    if !(1..=100_000).contains(&l.host_audit_burst) {
        return Err("limits.host_audit_burst must be between 1 and 100000".into());
    }
    if !(1..=1_000_000).contains(&l.max_connections) {
        return Err("limits.max_connections must be between 1 and 1000000".into());
    }
    if l.max_connections_per_source < 1 || l.max_connections_per_source > l.max_connections {
        return Err(
            "limits.max_connections_per_source must be between 1 and limits.max_connections".into(),
        );
    }
    if !(1..=10_000).contains(&l.h2_max_concurrent_streams) {
        return Err("limits.h2_max_concurrent_streams must be between 1 and 10000".into());
    }
    Ok(l)
}

// ---- [unix]: POSIX account defaults (issue #11) ----------------------

/// `[unix] home_template` default.
pub const DEFAULT_HOME_TEMPLATE: &str = "/home/{name}";
/// `[unix] default_shell` default.
pub const DEFAULT_SHELL: &str = "/bin/bash";
/// Longest shell, home or gecos, in bytes.
pub const MAX_FIELD_BYTES: usize = 255;
/// The placeholder of `home_template`.
const NAME: &str = "{name}";

/// The configured defaults (`[unix]`), validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PosixDefaults {
    /// Normalised absolute path holding `{name}` once.
    home_template: String,
    /// Absolute path.
    shell: String,
}

impl Default for PosixDefaults {
    fn default() -> PosixDefaults {
        PosixDefaults {
            home_template: DEFAULT_HOME_TEMPLATE.into(),
            shell: DEFAULT_SHELL.into(),
        }
    }
}

impl PosixDefaults {
    /// Validates `[unix] home_template` and `default_shell` (either may be
    /// absent: the defaults apply).
    pub fn new(home_template: Option<&str>, shell: Option<&str>) -> Result<PosixDefaults, String> {
        let t = home_template.unwrap_or(DEFAULT_HOME_TEMPLATE);
        if t.matches(NAME).count() != 1 || t.replacen(NAME, "", 1).contains(['{', '}']) {
            return Err(format!(
                "unix.home_template: {t:?} must contain {NAME} exactly once (and no other braces)"
            ));
        }
        // A Unix name holds no `/` and does not start with `.`, so checking
        // the template with a stand-in name checks every home it makes.
        let home_template = normalised_home(&t.replacen(NAME, "x", 1))
            .and_then(|_| normalised_home(t))
            .map_err(|e| format!("unix.home_template: {e}"))?;
        let shell = shell.unwrap_or(DEFAULT_SHELL);
        check_shell(shell).map_err(|e| format!("unix.default_shell: {e}"))?;
        Ok(PosixDefaults {
            home_template,
            shell: shell.to_owned(),
        })
    }

    /// The default home of `name`.
    pub fn home_for(&self, name: &str) -> String {
        self.home_template.replacen(NAME, name, 1)
    }

    /// The default shell.
    pub fn shell(&self) -> &str {
        &self.shell
    }
}

pub(crate) fn passwd_field(s: &str) -> Result<(), String> {
    if s.len() > MAX_FIELD_BYTES {
        return Err(format!(
            "must be at most {MAX_FIELD_BYTES} bytes, got {}",
            s.len()
        ));
    }
    if s.chars().any(|c| c.is_control() || c == ':') {
        return Err("must not contain ':', newlines or control characters".into());
    }
    Ok(())
}

pub(crate) fn check_shell(s: &str) -> Result<(), String> {
    passwd_field(s)?;
    if !s.starts_with('/') || s.len() < 2 {
        return Err(format!("{s:?} must be an absolute path"));
    }
    Ok(())
}

/// An absolute path without `..`, with `.`, empty components and a
/// trailing `/` removed.
pub(crate) fn normalised_home(s: &str) -> Result<String, String> {
    passwd_field(s)?;
    if !s.starts_with('/') {
        return Err(format!("{s:?} must be an absolute path"));
    }
    let mut parts = Vec::new();
    for p in s.split('/') {
        match p {
            "" | "." => {}
            ".." => return Err(format!("{s:?} must not contain '..'")),
            p => parts.push(p),
        }
    }
    Ok(format!("/{}", parts.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(toml: &str, expected: Result<(), &str>) {
        match (Config::from_toml(toml), expected) {
            (Ok(_), Ok(())) => {}
            (Err(e), Err(frag)) => assert!(e.contains(frag), "{toml}: {e:?} lacks {frag:?}"),
            (got, want) => panic!("{toml}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn dashboard_timeouts_are_bounded() {
        let c = Config::from_toml("data_dir = \"/d\"").unwrap();
        assert_eq!(c.dashboard, Dashboard::default());
        let c = Config::from_toml(
            "data_dir = \"/d\"\n[dashboard]\nidle_timeout_seconds = 15\nabsolute_timeout_seconds = 20",
        )
        .unwrap();
        assert_eq!(
            (
                c.dashboard.idle_timeout_seconds,
                c.dashboard.absolute_timeout_seconds
            ),
            (15, 20)
        );
        for (key, v) in [
            ("idle_timeout_seconds", 0),
            ("idle_timeout_seconds", 86_401),
            ("absolute_timeout_seconds", 0),
            ("absolute_timeout_seconds", -5),
            ("absolute_timeout_seconds", 604_801),
        ] {
            check(
                &format!("data_dir = \"/d\"\n[dashboard]\n{key} = {v}"),
                Err(&format!("dashboard.{key}")),
            );
        }
        check(
            "data_dir = \"/d\"\n[dashboard]\nidle_seconds = 5",
            Err("unknown field `idle_seconds`"),
        );
    }

    #[test]
    fn validation() {
        check(r#"data_dir = "/var/lib/ward""#, Ok(()));
        check(
            r#"data_dir = "/d"
listen = "0.0.0.0:9443"
database = "postgres://ward:pw@localhost/ward"
region = "eu-1"
[tls]
cert = "/c.pem"
key = "/k.pem"
[unix]
uid_min = 300000
uid_max = 399999
home_template = "/srv/home/{name}"
default_shell = "/usr/bin/zsh"
[passwords]
min_length = 14"#,
            Ok(()),
        );
        check(
            r#"data_dir = "/d"
lisen = "x""#,
            Err("unknown field `lisen`"),
        );
        check(
            r#"data_dir = "/d"
[tls]
crt = "x""#,
            Err("unknown field `crt`"),
        );
        check(r#"listen = "127.0.0.1:1""#, Err("missing field `data_dir`"));
        check(
            "data_dir = \"/d\"\nexternal_url = \"https://ca.example.com:8443/\"",
            Ok(()),
        );
        for bad in [
            "ftp://x",
            "https://",
            "https://a b",
            "https://x/?q",
            "https://u:p@x",
        ] {
            check(
                &format!("data_dir = \"/d\"\nexternal_url = {bad:?}"),
                Err("external_url"),
            );
        }
        check(
            "data_dir = \"/d\"\nexternal_ur1 = \"https://x\"",
            Err("unknown field `external_ur1`"),
        );
        check(
            r#"data_dir = "/d"
listen = "localhost""#,
            Err("listen"),
        );
        check(
            r#"data_dir = "/d"
database = "mysql://x""#,
            Err("expected sqlite:PATH or postgres://"),
        );
        check(
            r#"data_dir = "/d"
region = "a b""#,
            Err("region"),
        );
        check(
            r#"data_dir = "/d"
[unix]
uid_min = 5
uid_max = 10"#,
            Err("uid range"),
        );
        for (key, value, err) in [
            ("home_template", "home/{name}", "unix.home_template"),
            ("home_template", "/home/{name}/../x", "unix.home_template"),
            ("home_template", "/home/alice", "unix.home_template"),
            ("home_template", "/home/{name}:x", "unix.home_template"),
            ("default_shell", "bash", "unix.default_shell"),
            ("default_shell", "/bin/sh:x", "unix.default_shell"),
        ] {
            check(
                &format!("data_dir = \"/d\"\n[unix]\n{key} = {value:?}"),
                Err(err),
            );
        }
        check(
            r#"data_dir = "/d"
[passwords]
min_length = 3"#,
            Err("min_length"),
        );
        for (key, value) in [
            ("host_audit_batches_per_second", 0),
            ("host_audit_burst", 0),
            ("host_audit_batches_per_second", 10_001),
        ] {
            check(
                &format!("data_dir = \"/d\"\n[limits]\n{key} = {value}"),
                Err(key),
            );
        }
        check(
            "data_dir = \"/d\"\n[limits]\nhost_audit_batches_per_second = 1\nhost_audit_burst = 3",
            Ok(()),
        );
        check("not toml =", Err(""));
        check(
            r#"data_dir = "/d"
[limits]
max_connections = 100
max_connections_per_source = 10
idle_timeout_seconds = 2
body_timeout_seconds = 1
[metrics]
allow = ["10.0.0.0/8", "::1", "0.0.0.0/0"]"#,
            Ok(()),
        );
        check(
            r#"data_dir = "/d"
[limits]
idle_timeout_seconds = 0"#,
            Err("limits.idle_timeout_seconds"),
        );
        check(
            r#"data_dir = "/d"
[limits]
max_connections = 10
max_connections_per_source = 11"#,
            Err("limits.max_connections_per_source"),
        );
        check(
            r#"data_dir = "/d"
[limits]
idle_timeout = 3"#,
            Err("unknown field `idle_timeout`"),
        );
        check(
            r#"data_dir = "/d"
[metrics]
allow = ["10.0.0.1/8"]"#,
            Err("metrics.allow"),
        );
        check(
            r#"data_dir = "/d"
[metrics]
allow = ["localhost"]"#,
            Err("metrics.allow"),
        );
    }

    #[test]
    fn cidr_matching() {
        let c = |s: &str| Cidr::parse(s).unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(c("127.0.0.0/8").contains(ip("127.1.2.3")));
        assert!(!c("127.0.0.0/8").contains(ip("128.0.0.1")));
        assert!(c("127.0.0.0/8").contains(ip("::ffff:127.0.0.1")));
        assert!(c("0.0.0.0/0").contains(ip("203.0.113.9")));
        assert!(!c("0.0.0.0/0").contains(ip("::1")));
        assert!(c("::/0").contains(ip("2001:db8::1")));
        assert!(c("::1").contains(ip("::1")));
        assert!(!c("::1").contains(ip("::2")));
        assert!(c("10.1.2.3").contains(ip("10.1.2.3")));
        assert!(!c("10.1.2.3").contains(ip("10.1.2.4")));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("::/129").is_err());
        assert!(Cidr::parse("10.0.0.0/+8").is_err());
        assert!(loopback_only().iter().any(|n| n.contains(ip("127.0.0.1"))));
        assert!(!loopback_only().iter().any(|n| n.contains(ip("192.0.2.1"))));
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_url("postgres://ward:s3cret@db:5432/ward"),
            "postgres://ward:***@db:5432/ward"
        );
        assert_eq!(redact_url("postgres://db/ward"), "postgres://db/ward");
        let e = Database::parse("mysql://u:s3cret@h/d").unwrap_err();
        assert!(!e.contains("s3cret"), "{e}");
    }
}

/// Bounds on how long a PostgreSQL session may wait or sit idle, set on
/// every connection (`SET` after connecting).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreTimeouts {
    /// `lock_timeout`: longest wait for a row or table lock.
    pub lock_timeout: std::time::Duration,
    /// `statement_timeout`: longest statement.
    pub statement_timeout: std::time::Duration,
    /// `idle_in_transaction_session_timeout`: a session that sits in an open
    /// transaction this long (a frozen or partitioned replica) is ended by
    /// the server, releasing its locks.
    pub idle_in_transaction_timeout: std::time::Duration,
    /// Server-side TCP keepalive idle time (`tcp_keepalives_idle`; interval
    /// and count follow), so a vanished client's session ends in about
    /// this plus a minute instead of the kernel's two hours.
    pub tcp_keepalive_idle: std::time::Duration,
}

impl Default for StoreTimeouts {
    fn default() -> StoreTimeouts {
        StoreTimeouts {
            lock_timeout: std::time::Duration::from_secs(5),
            statement_timeout: std::time::Duration::from_secs(30),
            idle_in_transaction_timeout: std::time::Duration::from_secs(10),
            tcp_keepalive_idle: std::time::Duration::from_secs(30),
        }
    }
}

impl StoreTimeouts {
    /// The `SET` statements for a PostgreSQL session.
    pub fn postgres_settings(&self) -> String {
        let ms = |d: std::time::Duration| d.as_millis().max(1);
        format!(
            "SET lock_timeout = {}; SET statement_timeout = {}; \
             SET idle_in_transaction_session_timeout = {}; \
             SET tcp_keepalives_idle = {}; SET tcp_keepalives_interval = 10; \
             SET tcp_keepalives_count = 6;",
            ms(self.lock_timeout),
            ms(self.statement_timeout),
            ms(self.idle_in_transaction_timeout),
            self.tcp_keepalive_idle.as_secs().max(1),
        )
    }
}
