//! Profiles and credentials, laid out as the AWS CLI lays them out so that
//! people reuse what they know:
//!
//! - `~/.ward/config`: `[default]` and `[profile NAME]` sections with
//!   `endpoint`, `region`, `ca_bundle`, `output`, and `client_cert` plus
//!   `client_key` (a ward-issued X.509 client certificate, for mTLS);
//! - `~/.ward/credentials`: `[NAME]` sections with `aws_access_key_id`,
//!   `aws_secret_access_key` and `aws_session_token` (the `ward_…`
//!   spellings are accepted too).
//!
//! Precedence, as in the AWS CLI: command-line flags, then `WARD_*`
//! environment variables, then the files. As in botocore, an explicit
//! `--profile` makes the profile's credentials win over
//! `WARD_ACCESS_KEY_ID`/`WARD_SECRET_ACCESS_KEY` in the environment.
//!
//! A client certificate (`--cert`/`--key`, `WARD_CLIENT_CERT`/
//! `WARD_CLIENT_KEY`, `client_cert`/`client_key`) authenticates only when no
//! access key is configured: ward-ca treats a certificate as the caller's
//! identity only on requests that carry no `Authorization` header, so an
//! access key found anywhere wins (issue #4 item 5).
//!
//! A profile with `role_arn` (and `source_profile`, optionally
//! `role_session_name`, `duration_seconds`, `external_id`, `mfa_serial`) in
//! `~/.ward/config` stands for a role, as in the AWS CLI: its credentials
//! are a session of that role, assumed with the source profile's
//! credentials when a command needs them ([`Settings::assume`], resolved
//! by `ctx::Ctx::api`).
//!
//! The INI parser is small and strict: a line that is not blank, a comment,
//! a `[section]` or a `key = value` is an error naming file and line. No
//! error message ever contains a value from these files.

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::ValueEnum;

use crate::error::Failure;

/// Default SigV4 region (SPEC §5).
pub(crate) const DEFAULT_REGION: &str = "local";

/// Largest configuration or credentials file read.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// How results are printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    /// Aligned columns for people.
    #[default]
    Table,
    /// The server's JSON, pretty-printed.
    Json,
}

/// A secret string: never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(String);

impl Secret {
    pub(crate) fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// An access key pair, with a session token for temporary (`ASIA…`) keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Credentials {
    pub(crate) access_key_id: String,
    pub(crate) secret_access_key: Secret,
    pub(crate) session_token: Option<Secret>,
}

/// A validated `https://host[:port]` endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// `https://host:port`, no trailing slash.
    pub(crate) base: String,
    /// The `Host` header sent (and signed): `host:port` as written.
    pub(crate) host: String,
}

impl Endpoint {
    /// Parses `https://host[:port][/]`.
    pub(crate) fn parse(s: &str) -> Result<Endpoint, String> {
        let s = s.trim();
        let rest = s
            .get(..8)
            .filter(|p| p.eq_ignore_ascii_case("https://"))
            .and_then(|_| s.get(8..))
            .ok_or_else(|| format!("endpoint {s:?} must start with https://"))?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if !(path.is_empty() || path == "/") {
            return Err(format!("endpoint {s:?} must not have a path"));
        }
        let bad = |c: char| c.is_whitespace() || c.is_control() || "@?#\\".contains(c);
        if authority.is_empty() || authority.contains(bad) {
            return Err(format!("endpoint {s:?} has no valid host"));
        }
        Ok(Endpoint {
            base: format!("https://{authority}"),
            host: authority.to_owned(),
        })
    }
}

/// The process environment, as far as ward reads it. `Debug` redacts
/// secrets and session tokens.
#[derive(Clone, Default)]
pub(crate) struct Env {
    vars: HashMap<String, String>,
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut vars: Vec<(&String, &String)> = self.vars.iter().collect();
        vars.sort();
        let mut m = f.debug_map();
        for (k, v) in vars {
            if k.contains("SECRET") || k.contains("TOKEN") {
                m.entry(k, &"<redacted>");
            } else {
                m.entry(k, v);
            }
        }
        m.finish()
    }
}

impl Env {
    /// Reads `HOME`, `USER`, `SSH_AUTH_SOCK` and every `WARD_*` variable.
    pub(crate) fn from_process() -> Env {
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .filter(|(k, _)| {
                k.starts_with("WARD_") || k == "HOME" || k == "USER" || k == "SSH_AUTH_SOCK"
            })
            .collect();
        Env { vars }
    }

    #[cfg(test)]
    pub(crate) fn from_pairs(pairs: &[(&str, &str)]) -> Env {
        Env {
            vars: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    /// A variable's value; empty counts as unset.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// `$HOME`.
    pub(crate) fn home(&self) -> Option<PathBuf> {
        self.get("HOME").map(PathBuf::from)
    }

    /// `~/.ward/config` (or `WARD_CONFIG_FILE`).
    pub(crate) fn config_file(&self) -> Option<PathBuf> {
        match self.get("WARD_CONFIG_FILE") {
            Some(p) => Some(PathBuf::from(p)),
            None => self.home().map(|h| h.join(".ward").join("config")),
        }
    }

    /// `~/.ward/credentials` (or `WARD_SHARED_CREDENTIALS_FILE`).
    pub(crate) fn credentials_file(&self) -> Option<PathBuf> {
        match self.get("WARD_SHARED_CREDENTIALS_FILE") {
            Some(p) => Some(PathBuf::from(p)),
            None => self.home().map(|h| h.join(".ward").join("credentials")),
        }
    }
}

/// The global flags that bear on settings.
#[derive(Clone, Debug, Default)]
pub(crate) struct Flags {
    pub(crate) profile: Option<String>,
    pub(crate) endpoint: Option<String>,
    pub(crate) output: Option<OutputFormat>,
    pub(crate) ca_bundle: Option<PathBuf>,
    /// `--cert`: a client certificate (PEM).
    pub(crate) client_cert: Option<PathBuf>,
    /// `--key`: its private key (PEM).
    pub(crate) client_key: Option<PathBuf>,
    /// `--mfa-code`: the MFA code for a login, an assume-role or a role
    /// profile with `mfa_serial`.
    pub(crate) mfa_code: Option<String>,
}

/// A client certificate and its key, for mTLS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ClientCert {
    /// The certificate (PEM; a chain may follow the leaf).
    pub(crate) cert: PathBuf,
    /// Its private key (PEM).
    pub(crate) key: PathBuf,
    /// Whether `--cert` named it (for the note when an access key wins).
    pub(crate) from_flag: bool,
}

/// Everything a command needs to reach ward-ca, resolved and validated.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    /// The profile in use (`default` unless named).
    pub(crate) profile: String,
    pub(crate) endpoint: Option<Endpoint>,
    pub(crate) region: String,
    pub(crate) ca_bundle: Option<PathBuf>,
    pub(crate) output: OutputFormat,
    pub(crate) credentials: Option<Credentials>,
    /// A client certificate, used when `credentials` is `None`.
    pub(crate) client_cert: Option<ClientCert>,
    /// The profile names a role (`role_arn`): its credentials are assumed
    /// with those of `source_profile`.
    pub(crate) assume: Option<AssumeProfile>,
    /// When `credentials` expire (RFC 3339), if known.
    pub(crate) expiration: Option<String>,
}

/// A profile's `role_arn` and what goes with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AssumeProfile {
    /// `role_arn`.
    pub(crate) role_arn: String,
    /// `source_profile`: whose credentials assume the role.
    pub(crate) source_profile: String,
    /// `role_session_name` (default `ward-cli`).
    pub(crate) session_name: String,
    /// `duration_seconds`, if set.
    pub(crate) duration_seconds: Option<i64>,
    /// `external_id`, if set.
    pub(crate) external_id: Option<String>,
    /// `mfa_serial`, if set: the source profile's MFA device, whose code
    /// (`--mfa-code`, `WARD_MFA_CODE`, or asked for on a terminal) goes
    /// with the AssumeRole.
    pub(crate) mfa_serial: Option<String>,
}

/// What the command needs to exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Need {
    /// Signed API calls: the profile, if named, must exist.
    Signed,
    /// `ward login`: the profile may be new.
    Login,
}

// ---- INI ----------------------------------------------------------------

/// One `key = value` line.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub(crate) key: String,
    pub(crate) value: String,
    pub(crate) line: usize,
}

/// One `[section]`.
#[derive(Clone, Debug)]
pub(crate) struct Section {
    pub(crate) name: String,
    pub(crate) entries: Vec<Entry>,
}

impl Section {
    fn get(&self, keys: &[&str]) -> Option<&Entry> {
        self.entries.iter().find(|e| keys.contains(&e.key.as_str()))
    }
}

/// A parsed INI file.
#[derive(Clone, Debug)]
pub(crate) struct Ini {
    pub(crate) path: PathBuf,
    pub(crate) sections: Vec<Section>,
}

impl Ini {
    fn empty(path: &Path) -> Ini {
        Ini {
            path: path.to_owned(),
            sections: Vec::new(),
        }
    }

    fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// `file:line` for messages.
    fn at(&self, line: usize) -> String {
        format!("{}:{line}", self.path.display())
    }
}

/// Parses INI text strictly. Errors name `path:line` and never echo content.
pub(crate) fn parse_ini(path: &Path, text: &str) -> Result<Ini, Failure> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut ini = Ini::empty(path);
    let mut first_line: HashMap<String, usize> = HashMap::new();
    // After `key =` with nothing after it, indented lines are AWS-style
    // nested settings (e.g. `s3 =` then `  max_concurrent_requests = 20`):
    // accepted and ignored.
    let mut nested_ok = false;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let at = || format!("{}:{n}", path.display());
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if raw.starts_with(|c: char| c.is_whitespace()) && !line.starts_with('[') {
            if nested_ok && line.contains('=') {
                continue;
            }
            return Err(Failure::usage(format!(
                "{}: malformed line: unexpected indentation",
                at()
            )));
        }
        nested_ok = false;
        if let Some(inner) = line.strip_prefix('[') {
            let name = inner
                .strip_suffix(']')
                .map(str::trim)
                .filter(|n| !n.is_empty() && !n.contains(['[', ']']))
                .ok_or_else(|| {
                    Failure::usage(format!(
                        "{}: malformed section header (expected [name])",
                        at()
                    ))
                })?;
            let name = normalize_section(name);
            if let Some(first) = first_line.get(&name) {
                return Err(Failure::usage(format!(
                    "{}: section [{name}] appears twice (first at line {first})",
                    at()
                )));
            }
            first_line.insert(name.clone(), n);
            ini.sections.push(Section {
                name,
                entries: Vec::new(),
            });
            continue;
        }
        let (key, value) = line.split_once('=').ok_or_else(|| {
            Failure::usage(format!(
                "{}: malformed line (expected [section] or key = value)",
                at()
            ))
        })?;
        let key = key.trim().to_ascii_lowercase();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(Failure::usage(format!(
                "{}: malformed line (expected key = value)",
                at()
            )));
        }
        let section = ini.sections.last_mut().ok_or_else(|| {
            Failure::usage(format!("{}: {key} is outside of any [section]", at()))
        })?;
        if let Some(prev) = section.entries.iter().find(|e| e.key == key) {
            return Err(Failure::usage(format!(
                "{}: {key} is set twice in [{}] (first at line {})",
                at(),
                section.name,
                prev.line
            )));
        }
        let value = value.trim().to_owned();
        nested_ok = value.is_empty();
        section.entries.push(Entry {
            key,
            value,
            line: n,
        });
    }
    Ok(ini)
}

/// `[profile   x]` → `profile x`.
fn normalize_section(name: &str) -> String {
    name.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Reads and parses `path`; a missing file is an empty one.
pub(crate) fn load_ini(path: &Path) -> Result<Ini, Failure> {
    use std::io::Read;
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Ini::empty(path)),
        Err(e) => return Err(Failure::usage(format!("{}: {e}", path.display()))),
    };
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(Failure::usage(format!(
            "{}: larger than {MAX_FILE_BYTES} bytes",
            path.display()
        )));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| Failure::usage(format!("{}: not valid UTF-8", path.display())))?;
    parse_ini(path, &text)
}

// ---- resolution ---------------------------------------------------------

/// Credential keys, AWS spelling first.
const KEY_ID: [&str; 2] = ["aws_access_key_id", "ward_access_key_id"];
const KEY_SECRET: [&str; 2] = ["aws_secret_access_key", "ward_secret_access_key"];
const KEY_TOKEN: [&str; 2] = ["aws_session_token", "ward_session_token"];

/// The config-file section for a profile.
fn config_section<'a>(ini: &'a Ini, profile: &str) -> Option<&'a Section> {
    if profile == "default" {
        ini.section("default")
            .or_else(|| ini.section("profile default"))
    } else {
        ini.section(&format!("profile {profile}"))
    }
}

/// Credentials from a section, if it names any; a key id without a secret
/// (or the reverse) is an error.
fn section_credentials(ini: &Ini, s: &Section) -> Result<Option<Credentials>, Failure> {
    let id = s.get(&KEY_ID);
    let secret = s.get(&KEY_SECRET);
    let token = s.get(&KEY_TOKEN);
    match (id, secret) {
        (None, None) => match token {
            Some(t) => Err(Failure::usage(format!(
                "{}: {} without an access key id and secret in [{}]",
                ini.at(t.line),
                t.key,
                s.name
            ))),
            None => Ok(None),
        },
        (Some(i), None) => Err(Failure::usage(format!(
            "{}: {} without aws_secret_access_key in [{}]",
            ini.at(i.line),
            i.key,
            s.name
        ))),
        (None, Some(x)) => Err(Failure::usage(format!(
            "{}: {} without aws_access_key_id in [{}]",
            ini.at(x.line),
            x.key,
            s.name
        ))),
        (Some(i), Some(x)) => {
            for e in [Some(i), Some(x), token].into_iter().flatten() {
                if e.value.is_empty() {
                    return Err(Failure::usage(format!(
                        "{}: {} is empty",
                        ini.at(e.line),
                        e.key
                    )));
                }
            }
            Ok(Some(Credentials {
                access_key_id: i.value.clone(),
                secret_access_key: Secret::new(x.value.clone()),
                session_token: token.map(|t| Secret::new(t.value.clone())),
            }))
        }
    }
}

/// A profile name must be usable as an INI section name.
pub(crate) fn check_profile_name(profile: &str) -> Result<(), Failure> {
    if profile.trim() != profile || profile.is_empty() || profile.contains(['[', ']', '\n']) {
        return Err(Failure::usage(format!("bad profile name {profile:?}")));
    }
    Ok(())
}

/// Where the current settings' credentials work (endpoint, CA bundle as an
/// absolute path, region): what `ward login` and `ward access-key create
/// --save-profile` remember in the profile, as `aws configure` does, so a
/// new shell needs no `WARD_ENDPOINT` / `WARD_CA_BUNDLE` (issue #8 item 7).
pub(crate) fn remembered_settings(settings: &Settings) -> Vec<(&'static str, String)> {
    let mut remembered: Vec<(&str, String)> = Vec::new();
    if let Some(e) = &settings.endpoint {
        remembered.push(("endpoint", e.base.clone()));
    }
    if let Some(b) = &settings.ca_bundle {
        let abs = std::fs::canonicalize(b).unwrap_or_else(|_| b.clone());
        remembered.push(("ca_bundle", abs.display().to_string()));
    }
    remembered.push(("region", settings.region.clone()));
    remembered
}

/// Resolves settings from flags, environment and the two files.
pub(crate) fn resolve(flags: &Flags, env: &Env, need: Need) -> Result<Settings, Failure> {
    let profile = flags
        .profile
        .clone()
        .or_else(|| env.get("WARD_PROFILE").map(str::to_owned))
        .unwrap_or_else(|| "default".to_owned());
    check_profile_name(&profile)?;
    let config = match env.config_file() {
        Some(p) => load_ini(&p)?,
        None => Ini::empty(Path::new("~/.ward/config")),
    };
    let csec = config_section(&config, &profile);
    let home = env.home();

    // Credentials: env (unless --profile), then the credentials file, then
    // the config file's profile section.
    let env_creds = if flags.profile.is_none() {
        env_credentials(env)?
    } else {
        None
    };
    let mut cred_section_exists = false;
    let from_env = env_creds.is_some();
    let credentials = match env_creds {
        Some(c) => Some(c),
        None if need == Need::Login => None,
        None => {
            let creds_ini = match env.credentials_file() {
                Some(p) => load_ini(&p)?,
                None => Ini::empty(Path::new("~/.ward/credentials")),
            };
            let from_file = match creds_ini.section(&profile) {
                Some(s) => {
                    cred_section_exists = true;
                    section_credentials(&creds_ini, s)?
                }
                None => None,
            };
            match (from_file, csec) {
                (Some(c), _) => Some(c),
                (None, Some(s)) => section_credentials(&config, s)?,
                (None, None) => None,
            }
        }
    };
    let explicit = flags.profile.is_some() || env.get("WARD_PROFILE").is_some();
    if need == Need::Signed
        && explicit
        && profile != "default"
        && csec.is_none()
        && !cred_section_exists
    {
        return Err(Failure::usage(format!(
            "profile {profile} is not in {} nor in the credentials file",
            config.path.display()
        )));
    }

    let file_value = |keys: &[&str]| csec.and_then(|s| s.get(keys));
    let endpoint =
        match (&flags.endpoint, env.get("WARD_ENDPOINT")) {
            (Some(e), _) => {
                Some(Endpoint::parse(e).map_err(|m| Failure::usage(format!("--endpoint: {m}")))?)
            }
            (None, Some(e)) => Some(
                Endpoint::parse(e).map_err(|m| Failure::usage(format!("WARD_ENDPOINT: {m}")))?,
            ),
            (None, None) => match file_value(&["endpoint", "endpoint_url"]) {
                Some(e) => Some(Endpoint::parse(&e.value).map_err(|m| {
                    Failure::usage(format!("{}: {}: {m}", config.at(e.line), e.key))
                })?),
                None => None,
            },
        };
    let region = match env.get("WARD_REGION") {
        Some(r) => r.to_owned(),
        None => file_value(&["region"])
            .map(|e| e.value.clone())
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| DEFAULT_REGION.to_owned()),
    };
    if region.is_empty()
        || !region
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(Failure::usage(format!("bad region {region:?}")));
    }
    let expand = |p: &str| -> PathBuf {
        match (p.strip_prefix("~/"), &home) {
            (Some(rest), Some(h)) => h.join(rest),
            _ => PathBuf::from(p),
        }
    };
    let ca_bundle = match (&flags.ca_bundle, env.get("WARD_CA_BUNDLE")) {
        (Some(p), _) => Some(p.clone()),
        (None, Some(p)) => Some(expand(p)),
        (None, None) => file_value(&["ca_bundle"])
            .filter(|e| !e.value.is_empty())
            .map(|e| expand(&e.value)),
    };
    let client_cert = client_cert(flags, env, &config, csec, &expand)?;
    let assume = match file_value(&["role_arn"]) {
        None => None,
        Some(r) => {
            let source = file_value(&["source_profile"]).ok_or_else(|| {
                Failure::usage(format!(
                    "{}: role_arn needs a source_profile in the same section",
                    config.at(r.line)
                ))
            })?;
            check_profile_name(&source.value)?;
            let duration_seconds = match file_value(&["duration_seconds"]) {
                None => None,
                Some(d) => Some(d.value.parse::<i64>().map_err(|_| {
                    Failure::usage(format!(
                        "{}: duration_seconds must be a number of seconds",
                        config.at(d.line)
                    ))
                })?),
            };
            Some(AssumeProfile {
                role_arn: r.value.clone(),
                source_profile: source.value.clone(),
                session_name: file_value(&["role_session_name"])
                    .map(|e| e.value.clone())
                    .unwrap_or_else(|| "ward-cli".to_owned()),
                duration_seconds,
                external_id: file_value(&["external_id"]).map(|e| e.value.clone()),
                mfa_serial: file_value(&["mfa_serial"])
                    .filter(|e| !e.value.is_empty())
                    .map(|e| e.value.clone()),
            })
        }
    };
    // A role profile's credentials are the role session's: keys in its
    // files' sections are not used (keys in the environment still win, as
    // everywhere).
    let credentials = if assume.is_some() && !from_env {
        None
    } else {
        credentials
    };
    let output = match flags.output {
        Some(o) => o,
        None => match file_value(&["output"]) {
            Some(e) => match e.value.as_str() {
                "table" | "text" => OutputFormat::Table,
                "json" => OutputFormat::Json,
                _ => {
                    return Err(Failure::usage(format!(
                        "{}: output must be table or json",
                        config.at(e.line)
                    )))
                }
            },
            None => OutputFormat::Table,
        },
    };
    Ok(Settings {
        profile,
        endpoint,
        region,
        ca_bundle,
        output,
        credentials,
        client_cert,
        assume,
        expiration: None,
    })
}

/// `--cert`/`--key`, else `WARD_CLIENT_CERT`/`WARD_CLIENT_KEY`, else the
/// profile's `client_cert`/`client_key`, each resolved on its own; one
/// without the other is an error naming where the one came from.
fn client_cert(
    flags: &Flags,
    env: &Env,
    config: &Ini,
    csec: Option<&Section>,
    expand: &dyn Fn(&str) -> PathBuf,
) -> Result<Option<ClientCert>, Failure> {
    let pick = |flag: (&Option<PathBuf>, &str),
                var: &str,
                key: &str|
     -> Result<Option<(PathBuf, String)>, Failure> {
        if let Some(p) = flag.0 {
            return Ok(Some((p.clone(), flag.1.to_owned())));
        }
        if let Some(p) = env.get(var) {
            return Ok(Some((expand(p), var.to_owned())));
        }
        match csec.and_then(|s| s.get(&[key])) {
            Some(e) if e.value.is_empty() => Err(Failure::usage(format!(
                "{}: {key} is empty",
                config.at(e.line)
            ))),
            Some(e) => Ok(Some((expand(&e.value), config.at(e.line)))),
            None => Ok(None),
        }
    };
    let cert = pick(
        (&flags.client_cert, "--cert"),
        "WARD_CLIENT_CERT",
        "client_cert",
    )?;
    let key = pick(
        (&flags.client_key, "--key"),
        "WARD_CLIENT_KEY",
        "client_key",
    )?;
    match (cert, key) {
        (None, None) => Ok(None),
        (Some((_, from)), None) => Err(Failure::usage(format!(
            "a client certificate is set ({from}) but not its key: \
             pass --key, set WARD_CLIENT_KEY or client_key"
        ))),
        (None, Some((_, from))) => Err(Failure::usage(format!(
            "a client key is set ({from}) but not its certificate: \
             pass --cert, set WARD_CLIENT_CERT or client_cert"
        ))),
        (Some((cert, _)), Some((key, _))) => Ok(Some(ClientCert {
            cert,
            key,
            from_flag: flags.client_cert.is_some(),
        })),
    }
}

fn env_credentials(env: &Env) -> Result<Option<Credentials>, Failure> {
    match (
        env.get("WARD_ACCESS_KEY_ID"),
        env.get("WARD_SECRET_ACCESS_KEY"),
    ) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(Failure::usage(
            "WARD_ACCESS_KEY_ID is set but WARD_SECRET_ACCESS_KEY is not",
        )),
        (None, Some(_)) => Err(Failure::usage(
            "WARD_SECRET_ACCESS_KEY is set but WARD_ACCESS_KEY_ID is not",
        )),
        (Some(id), Some(secret)) => Ok(Some(Credentials {
            access_key_id: id.to_owned(),
            secret_access_key: Secret::new(secret),
            session_token: env.get("WARD_SESSION_TOKEN").map(Secret::new),
        })),
    }
}

// ---- writing credentials ------------------------------------------------

/// Returns `text` with the credentials of `[section]` replaced by `creds`
/// (both spellings removed, AWS spelling written); everything else, other
/// sections and comments included, is kept as it was.
pub(crate) fn replace_credentials(text: &str, section: &str, creds: &Credentials) -> String {
    let mut new_lines = vec![
        format!("aws_access_key_id = {}", creds.access_key_id),
        format!(
            "aws_secret_access_key = {}",
            creds.secret_access_key.expose()
        ),
    ];
    if let Some(t) = &creds.session_token {
        new_lines.push(format!("aws_session_token = {}", t.expose()));
    }
    replace_in_section(text, section, new_lines, &|k: &str| {
        KEY_ID.contains(&k) || KEY_SECRET.contains(&k) || KEY_TOKEN.contains(&k)
    })
}

/// `text` with `new_lines` at the top of `[section]` (created at the end if
/// missing) and the section's lines whose key `ours` claims removed; every
/// other line, comment and section is kept as it was.
fn replace_in_section(
    text: &str,
    section: &str,
    new_lines: Vec<String>,
    ours: &dyn Fn(&str) -> bool,
) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let header_name = |l: &str| {
        let t = l.trim();
        t.strip_prefix('[')
            .and_then(|x| x.strip_suffix(']'))
            .map(normalize_section)
    };
    let start = lines
        .iter()
        .position(|l| header_name(l).as_deref() == Some(section));
    match start {
        Some(h) => {
            let end = lines
                .iter()
                .skip(h + 1)
                .position(|l| header_name(l).is_some())
                .map_or(lines.len(), |p| h + 1 + p);
            let claimed = |l: &String| {
                let key = l
                    .split_once('=')
                    .map(|(k, _)| k.trim().to_ascii_lowercase());
                key.is_some_and(|k| ours(&k)) && !l.starts_with(char::is_whitespace)
            };
            let kept: Vec<String> = lines[h + 1..end]
                .iter()
                .filter(|l| !claimed(l))
                .cloned()
                .collect();
            let tail = lines.split_off(end);
            lines.truncate(h + 1);
            lines.extend(new_lines);
            lines.extend(kept);
            lines.extend(tail);
        }
        None => {
            if lines.last().is_some_and(|l| !l.trim().is_empty()) {
                lines.push(String::new());
            }
            lines.push(format!("[{section}]"));
            lines.extend(new_lines);
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// Writes `out` to `path` through a temporary file in the same directory
/// (created 0700 if missing), with `mode`, then renames it into place.
fn write_replacing(path: &Path, out: &str, mode: u32) -> Result<(), Failure> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Failure::usage(format!("{}: {e}", dir.display())))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(out.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Failure::usage(format!("writing {}: {e}", path.display()))
    })
}

/// Stores `endpoint`, `ca_bundle` and `region` in the profile's section of
/// `~/.ward/config` (`[default]` or `[profile NAME]`, as the AWS CLI
/// writes them), so that a new shell finds the server without `WARD_*`
/// variables (issue #8 item 7). Other keys and sections are kept.
pub(crate) fn store_settings(
    env: &Env,
    profile: &str,
    entries: &[(&str, String)],
) -> Result<PathBuf, Failure> {
    let path = env
        .config_file()
        .ok_or_else(|| Failure::usage("HOME is not set: cannot find ~/.ward/config"))?;
    let ini = load_ini(&path)?;
    let section = match config_section(&ini, profile) {
        Some(s) => normalize_section(&s.name),
        None if profile == "default" => "default".to_owned(),
        None => format!("profile {profile}"),
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Failure::usage(format!("{}: {e}", path.display()))),
    };
    let keys: Vec<String> = entries.iter().map(|(k, _)| (*k).to_owned()).collect();
    let new_lines = entries.iter().map(|(k, v)| format!("{k} = {v}")).collect();
    let out = replace_in_section(&text, &section, new_lines, &|k: &str| {
        keys.iter().any(|o| o == k)
    });
    write_replacing(&path, &out, 0o600)?;
    Ok(path)
}

pub(crate) fn store_credentials(
    env: &Env,
    profile: &str,
    creds: &Credentials,
) -> Result<PathBuf, Failure> {
    let path = env
        .credentials_file()
        .ok_or_else(|| Failure::usage("HOME is not set: cannot find ~/.ward/credentials"))?;
    // Refuse to rewrite a file we cannot parse: it may hold other keys.
    load_ini(&path)?;
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Failure::usage(format!("{}: {e}", path.display()))),
    };
    let out = replace_credentials(&text, profile, creds);
    write_replacing(&path, &out, 0o600)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    /// Sections and their `(key, value)` entries.
    type Sections<'a> = &'a [(&'a str, &'a [(&'a str, &'a str)])];

    fn check_ini(text: &str, expected: Result<Sections<'_>, &str>) {
        let got = parse_ini(Path::new("f"), text);
        match (got, expected) {
            (Ok(ini), Ok(want)) => {
                let got: Vec<(String, Vec<(String, String)>)> = ini
                    .sections
                    .iter()
                    .map(|s| {
                        (
                            s.name.clone(),
                            s.entries
                                .iter()
                                .map(|e| (e.key.clone(), e.value.clone()))
                                .collect(),
                        )
                    })
                    .collect();
                let want: Vec<(String, Vec<(String, String)>)> = want
                    .iter()
                    .map(|(n, es)| {
                        (
                            (*n).to_owned(),
                            es.iter()
                                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                                .collect(),
                        )
                    })
                    .collect();
                assert_eq!(got, want, "{text:?}");
            }
            (Err(e), Err(want)) => {
                let msg = e.to_string();
                assert!(msg.starts_with(want), "{text:?}: {msg}");
                assert!(!msg.contains("SECRET"), "{msg}");
            }
            (got, want) => panic!("{text:?}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn ini_parsing() {
        type Want<'a> = Result<Sections<'a>, &'a str>;
        #[rustfmt::skip]
        let table: Vec<(&str, Want<'_>)> = vec![
            ("", Ok(&[])),
            ("# c\n; c\n\n", Ok(&[])),
            ("[default]\nregion = local\n", Ok(&[("default", &[("region", "local")])])),
            ("\u{feff}[a]\r\nK=v=w\r\n", Ok(&[("a", &[("k", "v=w")])])),
            ("[profile   x ]\nendpoint=https://h:1\n", Ok(&[("profile x", &[("endpoint", "https://h:1")])])),
            ("[a]\ns3 =\n  max = 1\nk = v\n", Ok(&[("a", &[("s3", ""), ("k", "v")])])),
            ("[a]\nx = \n", Ok(&[("a", &[("x", "")])])),
            ("k = SECRET\n", Err("f:1: k is outside")),
            ("[a]\nSECRET\n", Err("f:2: malformed line")),
            ("[a]\n= SECRET\n", Err("f:2: malformed line")),
            ("[a\n", Err("f:1: malformed section")),
            ("[]\n", Err("f:1: malformed section")),
            ("[a]\nk = 1\n  SECRET = 2\n", Err("f:3: malformed line")),
            ("[a]\n[b]\n[a]\n", Err("f:3: section [a] appears twice")),
            ("[a]\nk = SECRET\nK = SECRET\n", Err("f:3: k is set twice")),
            ("[a]\nk y = SECRET\n", Err("f:2: malformed line")),
        ];
        for (text, want) in table {
            check_ini(text, want);
        }
    }

    #[test]
    fn endpoints() {
        for (s, want) in [
            (
                "https://127.0.0.1:8443",
                Ok(("https://127.0.0.1:8443", "127.0.0.1:8443")),
            ),
            (
                "https://ca.example/",
                Ok(("https://ca.example", "ca.example")),
            ),
            (
                "HTTPS://[::1]:8443",
                Ok(("https://[::1]:8443", "[::1]:8443")),
            ),
            ("http://h:1", Err("must start with https://")),
            ("h:1", Err("must start with https://")),
            ("https://", Err("no valid host")),
            ("https://u@h", Err("no valid host")),
            ("https://h/v1", Err("must not have a path")),
        ] {
            match (Endpoint::parse(s), want) {
                (Ok(e), Ok((base, host))) => {
                    assert_eq!((e.base.as_str(), e.host.as_str()), (base, host), "{s}")
                }
                (Err(e), Err(w)) => assert!(e.contains(w), "{s}: {e}"),
                (got, want) => panic!("{s}: {got:?} vs {want:?}"),
            }
        }
    }

    struct Home(PathBuf);
    impl Home {
        fn new(name: &str, config: &str, creds: &str) -> Home {
            let d = std::env::temp_dir().join(format!("ward-cfg-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(d.join(".ward")).unwrap();
            std::fs::write(d.join(".ward/config"), config).unwrap();
            std::fs::write(d.join(".ward/credentials"), creds).unwrap();
            Home(d)
        }
        fn home(&self) -> &str {
            self.0.to_str().unwrap()
        }
    }
    impl Drop for Home {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn precedence() {
        let h = Home::new(
            "prec",
            "[default]\nendpoint = https://file:1\noutput = json\nregion = r1\n\
             [profile p]\nendpoint = https://p:2\nca_bundle = ~/ca.pem\n",
            "[default]\naws_access_key_id = AKIAFILE\naws_secret_access_key = s1\n\
             [p]\nward_access_key_id = ASIAP\nward_secret_access_key = s2\nward_session_token = t\n",
        );
        let home = h.home();
        let flags = Flags::default();
        // Files only.
        let s = resolve(&flags, &Env::from_pairs(&[("HOME", home)]), Need::Signed).unwrap();
        assert_eq!(s.profile, "default");
        assert_eq!(s.endpoint.unwrap().host, "file:1");
        assert_eq!(s.output, OutputFormat::Json);
        assert_eq!(s.region, "r1");
        assert_eq!(s.credentials.unwrap().access_key_id, "AKIAFILE");
        // Environment wins over files.
        let env = Env::from_pairs(&[
            ("HOME", home),
            ("WARD_ENDPOINT", "https://env:3"),
            ("WARD_ACCESS_KEY_ID", "AKIAENV"),
            ("WARD_SECRET_ACCESS_KEY", "s3"),
            ("WARD_REGION", "r2"),
        ]);
        let s = resolve(&flags, &env, Need::Signed).unwrap();
        assert_eq!(s.endpoint.unwrap().host, "env:3");
        assert_eq!(s.credentials.unwrap().access_key_id, "AKIAENV");
        assert_eq!(s.region, "r2");
        // --profile: the profile's credentials beat the environment's;
        // flags beat everything.
        let f = Flags {
            profile: Some("p".into()),
            endpoint: Some("https://flag:4".into()),
            output: Some(OutputFormat::Table),
            ..Flags::default()
        };
        let s = resolve(&f, &env, Need::Signed).unwrap();
        let c = s.credentials.unwrap();
        assert_eq!(c.access_key_id, "ASIAP");
        assert_eq!(c.session_token.unwrap().expose(), "t");
        assert_eq!(s.endpoint.unwrap().host, "flag:4");
        assert_eq!(s.output, OutputFormat::Table);
        assert_eq!(s.ca_bundle.unwrap(), h.0.join("ca.pem"));
        // WARD_PROFILE selects too, but env credentials still win then.
        let env2 = Env::from_pairs(&[("HOME", home), ("WARD_PROFILE", "p")]);
        let s = resolve(&flags, &env2, Need::Signed).unwrap();
        assert_eq!(s.endpoint.unwrap().host, "p:2");
        // A named profile that exists nowhere.
        let f = Flags {
            profile: Some("nope".into()),
            ..Flags::default()
        };
        let e = resolve(&f, &env, Need::Signed).unwrap_err();
        assert!(e.to_string().contains("profile nope"), "{e}");
        assert!(resolve(&f, &env, Need::Login).is_ok());
    }

    #[test]
    fn client_certificates() {
        let h = Home::new(
            "mtls",
            "[default]\nclient_cert = ~/c.pem\nclient_key = ~/k.pem\n\
             [profile half]\nclient_cert = c.pem\n[profile empty]\nclient_cert =\nclient_key = k\n",
            "",
        );
        let home = h.home();
        let cc = |cert: &str, key: &str, from_flag: bool| ClientCert {
            cert: PathBuf::from(cert),
            key: PathBuf::from(key),
            from_flag,
        };
        let flag = |profile: Option<&str>, cert: Option<&str>, key: Option<&str>| Flags {
            profile: profile.map(str::to_owned),
            client_cert: cert.map(PathBuf::from),
            client_key: key.map(PathBuf::from),
            ..Flags::default()
        };
        let base = Env::from_pairs(&[("HOME", home)]);
        let env = Env::from_pairs(&[
            ("HOME", home),
            ("WARD_CLIENT_CERT", "/e/c.pem"),
            ("WARD_CLIENT_KEY", "~/e.key"),
        ]);
        let c = |s: &str| format!("{home}/{s}");
        for (flags, env, want) in [
            // The profile's keys, with ~ expanded.
            (
                flag(None, None, None),
                &base,
                Ok(Some(cc(&c("c.pem"), &c("k.pem"), false))),
            ),
            // The environment beats the file, flags beat both, one by one.
            (
                flag(None, None, None),
                &env,
                Ok(Some(cc("/e/c.pem", &c("e.key"), false))),
            ),
            (
                flag(None, Some("f.pem"), None),
                &env,
                Ok(Some(cc("f.pem", &c("e.key"), true))),
            ),
            (
                flag(Some("half"), None, None),
                &base,
                Err("but not its key"),
            ),
            (
                flag(Some("half"), None, Some("k")),
                &base,
                Ok(Some(cc("c.pem", "k", false))),
            ),
            (
                flag(Some("empty"), None, None),
                &base,
                Err("client_cert is empty"),
            ),
            (
                flag(Some("half"), Some("x"), None),
                &base,
                Err("(--cert) but not its key"),
            ),
        ] {
            let got = resolve(&flags, env, Need::Signed).map(|s| s.client_cert);
            match (got, want) {
                (Ok(g), Ok(w)) => assert_eq!(g, w, "{flags:?}"),
                (Err(e), Err(w)) => {
                    assert!(e.to_string().contains(w), "{e}");
                    assert_eq!(e.exit_code(), 2);
                }
                (g, w) => panic!("{flags:?}: {g:?} vs {w:?}"),
            }
        }
    }

    #[test]
    fn bad_files_name_file_and_line() {
        for (config, creds, want) in [
            ("[default]\noutput = yaml\n", "", "config:2: output must be"),
            (
                "[default]\nendpoint = http://x\n",
                "",
                "config:2: endpoint: ",
            ),
            (
                "",
                "[default]\naws_access_key_id = A\n",
                "credentials:2: aws_access_key_id without",
            ),
            (
                "",
                "[default]\nnot a key value line SECRET\n",
                "credentials:2: malformed",
            ),
            (
                "",
                "[default]\naws_session_token = SECRET\n",
                "credentials:2: aws_session_token without",
            ),
        ] {
            let h = Home::new("bad", config, creds);
            let env = Env::from_pairs(&[("HOME", h.home())]);
            let e = resolve(&Flags::default(), &env, Need::Signed).unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains(want), "{msg}");
            assert!(!msg.contains("SECRET"), "{msg}");
            assert_eq!(e.exit_code(), 2);
        }
    }

    #[test]
    fn credentials_replacement_keeps_the_rest() {
        let creds = Credentials {
            access_key_id: "ASIANEW".into(),
            secret_access_key: Secret::new("sec"),
            session_token: Some(Secret::new("tok")),
        };
        let new =
            "aws_access_key_id = ASIANEW\naws_secret_access_key = sec\naws_session_token = tok\n";
        for (before, section, after) in [
            ("", "default", format!("[default]\n{new}")),
            (
                "[other]\naws_access_key_id = A\n",
                "default",
                format!("[other]\naws_access_key_id = A\n\n[default]\n{new}"),
            ),
            (
                "# mine\n[default]\nward_access_key_id = OLD\nward_secret_access_key = OLD\nregion = x\n[other]\naws_access_key_id = B\n",
                "default",
                format!("# mine\n[default]\n{new}region = x\n[other]\naws_access_key_id = B\n"),
            ),
        ] {
            let out = replace_credentials(before, section, &creds);
            assert_eq!(out, after);
            parse_ini(Path::new("x"), &out).unwrap();
        }
    }

    #[test]
    fn debug_redacts_secrets() {
        let c = Credentials {
            access_key_id: "AKIA".into(),
            secret_access_key: Secret::new("very-secret"),
            session_token: Some(Secret::new("token-secret")),
        };
        let d = format!("{c:?}");
        assert!(
            !d.contains("very-secret") && !d.contains("token-secret"),
            "{d}"
        );
        let env = Env::from_pairs(&[
            ("WARD_SECRET_ACCESS_KEY", "very-secret"),
            ("WARD_SESSION_TOKEN", "token-secret"),
            ("WARD_ACCESS_KEY_ID", "AKIA"),
        ]);
        let d = format!("{env:?}");
        assert!(
            !d.contains("very-secret") && !d.contains("token-secret"),
            "{d}"
        );
        assert!(d.contains("AKIA"), "{d}");
    }
}
