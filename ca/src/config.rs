//! ward-ca configuration: a TOML file parsed once into a validated
//! [`Config`]; the rest of the daemon only sees the validated type.
//! Unknown keys are errors (a typo must not silently fall back to a
//! default in a security daemon).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

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
    /// Password policy.
    pub passwords: PasswordPolicy,
    /// The URL relying parties reach this daemon at, without a trailing
    /// `/`; when set, X.509 certificates carry a CRL distribution point
    /// under it.
    pub external_url: Option<String>,
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
            passwords: PasswordPolicy::default(),
            external_url: None,
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
        Ok(Config {
            external_url,
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
        check(
            r#"data_dir = "/d"
[passwords]
min_length = 3"#,
            Err("min_length"),
        );
        check("not toml =", Err(""));
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
