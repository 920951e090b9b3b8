//! `ward ssh …`: SSH user certificates and ward's public SSH CA material.
//!
//! - `login` makes an Ed25519 key pair in this process (or takes
//!   `--public-key`), sends only the public key to
//!   `POST /v1/ssh/user-certificates`, checks that the certificate
//!   certifies that key, writes key and certificate (`~/.ssh/ward`,
//!   `~/.ssh/ward-cert.pub`) and loads both into the running ssh-agent with
//!   `ssh-add -t`, so that the agent forgets them when the certificate
//!   expires (issue #4 item 2). The private key never leaves the machine.
//! - `known-hosts`, `trusted-user-ca-keys` and `krl` fetch the public,
//!   unauthenticated `/v1/ca/…` files for `known_hosts`, sshd's
//!   `TrustedUserCAKeys` and sshd's `RevokedKeys`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Args, Subcommand, ValueEnum};
use ssh_key::{Algorithm, Certificate, LineEnding, PrivateKey, PublicKey};
use ward_protocol::api;

use crate::client::Method;
use crate::config::{Env, OutputFormat};
use crate::ctx::{body, typed, Ctx, Done};
use crate::error::Failure;
use crate::files::{self, PRIVATE, PUBLIC};
use crate::output::{self, fields};
use crate::ttl::{self, Ttl};

/// Largest public key file read (the server's limit is 16 KiB).
const MAX_KEY_FILE: usize = 64 * 1024;
/// Name of the key pair `login` makes.
const KEY_NAME: &str = "ward";

#[derive(Subcommand, Debug)]
pub(crate) enum SshCommand {
    /// Get an SSH user certificate: make a key pair, have ward-ca certify
    /// it, save both and load them into ssh-agent until it expires.
    Login(LoginArgs),
    /// Print `@cert-authority` lines for ~/.ssh/known_hosts, so that ssh
    /// trusts hosts with ward host certificates.
    KnownHosts {
        /// Hosts the lines apply to, in known_hosts syntax (e.g.
        /// '*.example.com,10.0.0.*') [default: *].
        #[arg(long, value_name = "PATTERN", value_parser = parse_pattern)]
        pattern: Option<String>,
    },
    /// Print ward's SSH user CA keys, for sshd's TrustedUserCAKeys file.
    TrustedUserCaKeys {
        /// Write them to this file (replaced atomically, 0644) instead of
        /// standard output, e.g. /etc/ssh/ward_user_ca.pub.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Save the KRL of revoked SSH user certificates, for sshd's
    /// RevokedKeys (with --host: of host certificates, for ssh's
    /// RevokedHostKeys).
    Krl {
        /// Where to write it (replaced atomically), or - for standard output.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// The host-certificate KRL instead of the user one.
        #[arg(long)]
        host: bool,
    },
}

/// Certificate extensions besides `permit-pty` (always granted), as
/// ward-ca knows them (`ward_protocol::api::SshCertificateRequest`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Extension {
    /// -L, -R and -D forwarding.
    #[value(name = "permit-port-forwarding")]
    PortForwarding,
    /// ssh -A.
    #[value(name = "permit-agent-forwarding")]
    AgentForwarding,
    /// ssh -X.
    #[value(name = "permit-X11-forwarding")]
    X11Forwarding,
    /// ~/.ssh/rc.
    #[value(name = "permit-user-rc")]
    UserRc,
}

impl Extension {
    fn as_str(self) -> &'static str {
        match self {
            Extension::PortForwarding => "permit-port-forwarding",
            Extension::AgentForwarding => "permit-agent-forwarding",
            Extension::X11Forwarding => "permit-X11-forwarding",
            Extension::UserRc => "permit-user-rc",
        }
    }
}

#[derive(Args, Debug)]
pub(crate) struct LoginArgs {
    /// An extra principal (local account name) besides your user name,
    /// if policy allows it (ca:Principals); repeatable.
    #[arg(long = "principal", value_name = "NAME")]
    principals: Vec<String>,
    /// Certificate lifetime: seconds, or e.g. 30m, 8h, 1h30m [default: 8h;
    /// at most 24h, and policy may allow less (ca:ValiditySeconds)].
    #[arg(long, value_name = "DURATION", value_parser = ttl::parse)]
    ttl: Option<Ttl>,
    /// Certify this existing public key (e.g. ~/.ssh/id_ed25519.pub)
    /// instead of making a key pair; the certificate is written next to it
    /// (~/.ssh/id_ed25519-cert.pub).
    #[arg(long, value_name = "FILE", conflicts_with = "out")]
    public_key: Option<PathBuf>,
    /// Accept the certificate only from this address or network (CIDR);
    /// repeatable.
    #[arg(long = "source-address", value_name = "CIDR", value_parser = parse_cidr)]
    source_addresses: Vec<String>,
    /// A permission besides permit-pty, if policy allows it
    /// (ca:Extensions); repeatable.
    #[arg(long = "extension", value_name = "EXTENSION", value_enum)]
    extensions: Vec<Extension>,
    /// Where to write the key pair and certificate [default: ~/.ssh].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Do not load the key and certificate into ssh-agent.
    #[arg(long)]
    no_agent: bool,
}

/// A known_hosts host pattern list: no blanks (they separate fields) and
/// no control characters.
fn parse_pattern(s: &str) -> Result<String, String> {
    if s.is_empty()
        || s.starts_with(['#', '@'])
        || s.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "{s:?} is not a known_hosts host pattern (e.g. '*.example.com,10.0.0.*')"
        ));
    }
    Ok(s.to_owned())
}

/// `ADDRESS[/PREFIX]`, as OpenSSH's `source-address` takes it, normalized
/// to `ADDRESS/PREFIX`. A set host part (10.1.2.3/8) is refused as the
/// likely typo it is, as ward-ca refuses it.
fn parse_cidr(s: &str) -> Result<String, String> {
    let bad = |why: &str| format!("{s:?} is not a CIDR address or network: {why}");
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| bad("not an IPv4 or IPv6 address"))?;
    let max: u32 = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len {
        None => max,
        Some(l) if !l.is_empty() && l.len() <= 3 && l.bytes().all(|b| b.is_ascii_digit()) => l
            .parse()
            .map_err(|_| bad("the prefix length is not a number"))?,
        Some(_) => return Err(bad("the prefix length is not a number")),
    };
    if len > max {
        return Err(bad(&format!("the prefix length must be at most {max}")));
    }
    let network = match addr {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            IpAddr::from(std::net::Ipv4Addr::from(u32::from(a) & mask))
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
            IpAddr::from(std::net::Ipv6Addr::from(u128::from(a) & mask))
        }
    };
    if network != addr {
        return Err(bad(&format!(
            "host bits are set; did you mean {network}/{len}?"
        )));
    }
    Ok(format!("{addr}/{len}"))
}

pub(crate) fn run(cmd: SshCommand, ctx: &Ctx) -> Done {
    match cmd {
        SshCommand::Login(a) => login(a, ctx),
        SshCommand::KnownHosts { pattern } => {
            let text = public_text(ctx, &["ca", "ssh-known-hosts"])?;
            output::print(&known_hosts(&text, pattern.as_deref()));
            Ok(ExitCode::SUCCESS)
        }
        SshCommand::TrustedUserCaKeys { out } => {
            let text = clean_lines(&public_text(ctx, &["ca", "ssh-user-keys"])?);
            match out {
                None => {
                    output::print(&text);
                    Ok(ExitCode::SUCCESS)
                }
                Some(path) => save(&path, text.as_bytes(), "TrustedUserCAKeys file"),
            }
        }
        SshCommand::Krl { out, host } => {
            let file = if host { "ssh-host.krl" } else { "ssh-user.krl" };
            let bytes = ctx.public()?.fetch(&["ca", file])?;
            // An OpenSSH KRL starts with this magic (PROTOCOL.krl).
            if !bytes.starts_with(b"SSHKRL\n\0") {
                return Err(Failure::Unexpected(
                    "the server's answer is not an OpenSSH KRL".into(),
                ));
            }
            save(&out, &bytes, "KRL")
        }
    }
}

/// Writes a downloaded file to `out` (atomically) or, for `-`, to stdout.
pub(crate) fn save(out: &Path, bytes: &[u8], what: &str) -> Done {
    if out == Path::new("-") {
        use std::io::Write;
        let mut o = std::io::stdout().lock();
        let _ = o.write_all(bytes);
        let _ = o.flush();
    } else {
        files::write_atomic(out, bytes, PUBLIC)?;
        eprintln!(
            "ward: saved the {what} ({} bytes) to {}",
            bytes.len(),
            out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A public text file from ward-ca.
pub(crate) fn public_text(ctx: &Ctx, segs: &[&str]) -> Result<String, Failure> {
    let bytes = ctx.public()?.fetch(segs)?;
    String::from_utf8(bytes)
        .map_err(|_| Failure::Unexpected("the server's answer is not text".into()))
}

/// `text` line by line with control characters escaped, so that a
/// hostile server cannot drive the terminal.
pub(crate) fn clean_lines(text: &str) -> String {
    text.lines()
        .map(|l| format!("{}\n", output::clean(l)))
        .collect()
}

/// The server's `@cert-authority * KEY` lines with `*` replaced by
/// `pattern`.
fn known_hosts(text: &str, pattern: Option<&str>) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let line = match (words.next(), words.next(), pattern) {
            (Some(marker @ "@cert-authority"), Some(_), Some(p)) => {
                let rest: Vec<&str> = words.collect();
                format!("{marker} {p} {}", rest.join(" "))
            }
            _ => line.to_owned(),
        };
        out.push_str(&output::clean(&line));
        out.push('\n');
    }
    out
}

/// The key to certify.
enum Key {
    /// Made here, and the directory it is written to after issuance.
    New(Box<PrivateKey>, PathBuf),
    /// `--public-key FILE`: its key, and FILE.
    Given(PublicKey, PathBuf),
}

/// Reads `--public-key`: one OpenSSH public key line. A private key is
/// refused here, before anything is sent.
/// The server's certificate, parsed, if it certifies `public` — a
/// certificate for another key is useless with ours, and nothing is saved.
pub(crate) fn certifies(
    issued: &api::SshCertificate,
    public: &PublicKey,
) -> Result<Certificate, Failure> {
    let cert = Certificate::from_openssh(issued.certificate.trim()).map_err(|e| {
        Failure::Unexpected(format!("the server's certificate does not parse: {e}"))
    })?;
    if cert.public_key() != public.key_data() {
        return Err(Failure::Unexpected(
            "the server's certificate is for another key; nothing was saved".into(),
        ));
    }
    Ok(cert)
}

pub(crate) fn read_public_key(path: &Path) -> Result<PublicKey, Failure> {
    let shown = path.display();
    if path == Path::new("-") {
        return Err(Failure::usage(
            "--public-key needs a file: the certificate is written next to it",
        ));
    }
    let bytes = crate::policy::read_input(path, MAX_KEY_FILE).map_err(Failure::usage)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Failure::usage(format!("{shown}: not valid UTF-8")))?;
    if text.contains("PRIVATE KEY") {
        return Err(Failure::usage(format!(
            "{shown} is a private key: pass the public key (the .pub file) with --public-key; \
             the private key never leaves this machine"
        )));
    }
    let line = text.trim();
    if line
        .split_whitespace()
        .next()
        .is_some_and(|t| t.contains("-cert-v01@"))
    {
        return Err(Failure::usage(format!(
            "{shown} is a certificate: pass the public key it was made for"
        )));
    }
    PublicKey::from_openssh(line).map_err(|e| {
        Failure::usage(format!(
            "{shown}: not an OpenSSH public key line (\"TYPE BASE64 [COMMENT]\"): {e}"
        ))
    })
}

/// Where `login` puts things.
struct Paths {
    /// The private key (absent for a `--public-key` without one beside it).
    private: Option<PathBuf>,
    /// The public key, when written by us.
    public: Option<PathBuf>,
    certificate: PathBuf,
}

/// `DIR/NAME.pub` → (`DIR/NAME`, `DIR/NAME-cert.pub`), as ssh and ssh-add
/// look for them; a file not ending in `.pub` gets `FILE-cert.pub` and no
/// private key.
pub(crate) fn paths_for_public_key(file: &Path) -> (Option<PathBuf>, PathBuf) {
    let s = file.as_os_str().to_string_lossy();
    match s
        .strip_suffix(".pub")
        .filter(|b| !b.is_empty() && !b.ends_with('/'))
    {
        Some(base) => (
            Some(PathBuf::from(base)),
            PathBuf::from(format!("{base}-cert.pub")),
        ),
        None => (None, PathBuf::from(format!("{s}-cert.pub"))),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn login(a: LoginArgs, ctx: &Ctx) -> Done {
    // Credentials and the key file first: nothing is generated for a
    // command that cannot succeed.
    let api = ctx.api()?;
    let key = match &a.public_key {
        Some(f) => Key::Given(read_public_key(f)?, f.clone()),
        None => {
            let dir = match &a.out {
                Some(d) => d.clone(),
                None => ctx
                    .env
                    .home()
                    .ok_or_else(|| Failure::usage("HOME is not set: pass --out DIR"))?
                    .join(".ssh"),
            };
            let mut k = PrivateKey::random(&mut rand_core::OsRng, Algorithm::Ed25519)
                .map_err(|e| Failure::Unexpected(format!("making an Ed25519 key: {e}")))?;
            k.set_comment(KEY_NAME);
            Key::New(Box::new(k), dir)
        }
    };
    let public = match &key {
        Key::New(k, _) => k.public_key().clone(),
        Key::Given(p, _) => p.clone(),
    };
    let req = api::SshCertificateRequest {
        public_key: public
            .to_openssh()
            .map_err(|e| Failure::Unexpected(format!("encoding the public key: {e}")))?,
        principals: a.principals.clone(),
        validity_seconds: a.ttl.map(Ttl::seconds),
        source_addresses: (!a.source_addresses.is_empty()).then(|| a.source_addresses.clone()),
        extensions: a.extensions.iter().map(|e| e.as_str().to_owned()).collect(),
    };
    let v = api
        .send_for_json(Method::Post, &["ssh", "user-certificates"], body(&req)?)
        .map_err(|e| ttl::note_denial(e, a.ttl, "8h"))?;
    let issued: api::SshCertificate = typed(&v)?;
    let cert = certifies(&issued, &public)?;
    let cert_line = format!("{}\n", issued.certificate.trim());

    let paths = match &key {
        Key::New(k, dir) => {
            files::private_dir(dir)?;
            let p = Paths {
                private: Some(dir.join(KEY_NAME)),
                public: Some(dir.join(format!("{KEY_NAME}.pub"))),
                certificate: dir.join(format!("{KEY_NAME}-cert.pub")),
            };
            let private_text = k
                .to_openssh(LineEnding::LF)
                .map_err(|e| Failure::Unexpected(format!("encoding the private key: {e}")))?;
            let public_text = format!("{}\n", req.public_key);
            // Certificate before key: a key replaced without its
            // certificate would leave ssh offering a mismatched pair.
            files::write_atomic(&p.certificate, cert_line.as_bytes(), PUBLIC)?;
            if let Some(pub_path) = &p.public {
                files::write_atomic(pub_path, public_text.as_bytes(), PUBLIC)?;
            }
            if let Some(priv_path) = &p.private {
                files::write_atomic(priv_path, private_text.as_bytes(), PRIVATE)?;
            }
            p
        }
        Key::Given(_, file) => {
            let (private, certificate) = paths_for_public_key(file);
            files::write_atomic(&certificate, cert_line.as_bytes(), PUBLIC)?;
            Paths {
                private: private.filter(|p| p.exists()),
                public: None,
                certificate,
            }
        }
    };

    let lifetime = cert.valid_before().saturating_sub(unix_now());
    let agent = if a.no_agent {
        Agent::Skipped("--no-agent".into())
    } else {
        match &paths.private {
            Some(p) => load_into_agent(&ctx.env, p, lifetime),
            None => Agent::Skipped(
                "no private key next to the public key: add it with ssh-add yourself".into(),
            ),
        }
    };
    show_login(api.output, &v, &issued, &paths, &agent);
    match agent {
        Agent::Failed(why) => Err(Failure::Unexpected(format!(
            "the certificate was saved to {}, but loading it into ssh-agent failed: {why}",
            paths.certificate.display()
        ))),
        Agent::Loaded(_) | Agent::Skipped(_) => Ok(ExitCode::SUCCESS),
    }
}

/// What happened with ssh-agent.
enum Agent {
    /// Loaded for this many seconds.
    Loaded(u64),
    /// Not attempted, or no agent runs: why.
    Skipped(String),
    /// ssh-add failed: why.
    Failed(String),
}

/// `ssh-add -t LIFETIME KEY`: ssh-add loads `KEY-cert.pub` with the key.
fn load_into_agent(env: &Env, private: &Path, lifetime: u64) -> Agent {
    let Some(sock) = env.get("SSH_AUTH_SOCK") else {
        return Agent::Skipped("no ssh-agent (SSH_AUTH_SOCK is not set)".into());
    };
    if lifetime == 0 {
        return Agent::Failed("the certificate has already expired".into());
    }
    let out = Command::new("ssh-add")
        .arg("-t")
        .arg(lifetime.to_string())
        .arg(private)
        .env("SSH_AUTH_SOCK", sock)
        // Inherited, so that ssh-add can ask for the passphrase of a
        // --public-key's private key.
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output();
    match out {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Agent::Skipped("ssh-add is not installed".into())
        }
        Err(e) => Agent::Failed(format!("running ssh-add: {e}")),
        // ssh-add(1): exit status 2 when it cannot reach the agent.
        Ok(o) if o.status.code() == Some(2) => {
            Agent::Skipped(format!("no ssh-agent answers at {sock}"))
        }
        Ok(o) => {
            let said = String::from_utf8_lossy(&o.stderr);
            if !o.status.success() {
                Agent::Failed(format!("ssh-add: {}", output::clean(said.trim())))
            } else if !said.contains("Certificate added") {
                Agent::Failed(format!(
                    "ssh-add loaded the key but not its certificate: {}",
                    output::clean(said.trim())
                ))
            } else {
                Agent::Loaded(lifetime)
            }
        }
    }
}

fn show_login(
    format: OutputFormat,
    v: &serde_json::Value,
    c: &api::SshCertificate,
    paths: &Paths,
    agent: &Agent,
) {
    let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
    let (loaded, agent_text) = match agent {
        Agent::Loaded(s) => (
            true,
            format!("loaded for {s} s (until the certificate expires)"),
        ),
        Agent::Skipped(why) => (false, format!("not loaded: {why}")),
        Agent::Failed(why) => (false, format!("failed: {why}")),
    };
    match format {
        OutputFormat::Json => {
            let mut v = v.clone();
            if let Some(o) = v.as_object_mut() {
                o.insert(
                    "certificateFile".into(),
                    paths.certificate.display().to_string().into(),
                );
                o.insert("privateKeyFile".into(), path(&paths.private).into());
                o.insert("publicKeyFile".into(), path(&paths.public).into());
                o.insert("agentLoaded".into(), loaded.into());
            }
            output::print(&output::json(&v));
        }
        OutputFormat::Table => {
            let mut rows = vec![
                ("Principals", c.principals.join(", ")),
                ("Serial", c.serial.clone()),
                ("KeyId", c.key_id.clone()),
                ("ValidAfter", c.valid_after.clone()),
                ("ValidBefore", c.valid_before.clone()),
                ("Certificate", paths.certificate.display().to_string()),
            ];
            if let Some(p) = path(&paths.private) {
                rows.push(("PrivateKey", p));
            }
            rows.push(("Agent", agent_text));
            output::print(&fields(&rows));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn cidrs() {
        for (input, want) in [
            ("10.0.0.0/8", Some("10.0.0.0/8")),
            ("192.0.2.7", Some("192.0.2.7/32")),
            ("2001:db8::/32", Some("2001:db8::/32")),
            ("::1", Some("::1/128")),
            ("0.0.0.0/0", Some("0.0.0.0/0")),
            ("10.1.2.3/8", None),
            ("10.0.0.0/33", None),
            ("10.0.0.0/", None),
            ("10.0.0.0/+8", None),
            ("example.com", None),
            ("", None),
        ] {
            assert_eq!(parse_cidr(input).ok().as_deref(), want, "{input:?}");
        }
        assert!(parse_cidr("10.1.2.3/8").unwrap_err().contains("10.0.0.0/8"));
    }

    #[test]
    fn patterns_and_known_hosts() {
        for (p, ok) in [
            ("*.example.com", true),
            ("a,b,!c,[h]:2222", true),
            ("", false),
            ("a b", false),
            ("a\tb", false),
            ("@cert-authority", false),
            ("#x", false),
        ] {
            assert_eq!(parse_pattern(p).is_ok(), ok, "{p:?}");
        }
        let text =
            "@cert-authority * ssh-ed25519 AAAA ward host CA\n@cert-authority * ecdsa BBBB\n";
        assert_eq!(known_hosts(text, None), text);
        assert_eq!(
            known_hosts(text, Some("*.ex")),
            "@cert-authority *.ex ssh-ed25519 AAAA ward host CA\n@cert-authority *.ex ecdsa BBBB\n"
        );
        assert_eq!(known_hosts("x\u{1b}y\n", Some("h")), "x\\u{1b}y\n");
    }

    #[test]
    fn certificate_paths() {
        for (input, private, cert) in [
            (
                "/h/.ssh/id_ed25519.pub",
                Some("/h/.ssh/id_ed25519"),
                "/h/.ssh/id_ed25519-cert.pub",
            ),
            ("k.pub", Some("k"), "k-cert.pub"),
            ("/h/key", None, "/h/key-cert.pub"),
            (".pub", None, ".pub-cert.pub"),
        ] {
            let (p, c) = paths_for_public_key(Path::new(input));
            assert_eq!(p, private.map(PathBuf::from), "{input}");
            assert_eq!(c, PathBuf::from(cert), "{input}");
        }
    }
}
