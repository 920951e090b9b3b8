//! `ward-agent`: the command line of the host daemon and of the helper
//! commands sshd runs.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ward_agent::cache;
use ward_agent::config::{self, Config};
use ward_agent::files::SshFiles;
use ward_agent::join::{self, JoinOptions, StatePaths};
use ward_agent::passwords::{self, PasswordOptions, Passwords};
use ward_agent::server::{self, ServerOptions};
use ward_agent::shared::{log, now, Current, Shared};
use ward_agent::spool::{self, Spool};
use ward_agent::sync::Sync;
use ward_protocol::agent::{Request, Response, Status};

/// ward's host agent.
#[derive(Parser, Debug)]
#[command(name = "ward-agent", version, about)]
struct Cli {
    /// Configuration file [default: /etc/ward/agent.toml; defaults apply
    /// if that file does not exist].
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Enrol this host: `ward-agent join https://CA:8443 TOKEN`.
    ///
    /// First contact trusts `--ca-fingerprint` (a certificate of ward-ca's
    /// chain with this SHA-256), else `--ca-bundle`, else the public web
    /// roots. Afterwards only the CA bundle ward-ca returns is trusted.
    Join {
        /// ward-ca's URL.
        url: String,
        /// The one-time join token (or `-` to read it from stdin).
        token: String,
        /// Trust only the CA certificates in this PEM file for the join.
        #[arg(long, conflicts_with = "ca_fingerprint")]
        ca_bundle: Option<PathBuf>,
        /// Trust ward-ca if a certificate it sends has this SHA-256
        /// fingerprint (`SHA256:HEX`, `HEX` or `AA:BB:…`): its server
        /// certificate, e.g. `openssl x509 -noout -fingerprint -sha256 -in
        /// DATA/tls/server.pem` on the ward-ca host.
        #[arg(long)]
        ca_fingerprint: Option<String>,
        /// Join again although this host has joined before.
        #[arg(long)]
        force: bool,
    },
    /// Run the daemon (sync, cache, socket).
    Run,
    /// Renew the host and SSH host certificates now (the daemon does it by
    /// itself once less than a third of their lifetime is left).
    Renew,
    /// Check the configuration and exit.
    CheckConfig,
    /// Print the daemon's status.
    Status,
    /// sshd `AuthorizedPrincipalsCommand %u %i %s %k`.
    SshAuthorizedPrincipals {
        /// `%u`
        account: String,
        /// `%i`
        key_id: String,
        /// `%s`
        serial: String,
        /// `%k`
        certificate: String,
    },
    /// sshd `AuthorizedKeysCommand %u %f`.
    SshAuthorizedKeys {
        /// `%u`
        account: String,
        /// `%f`
        fingerprint: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let cfg = || -> anyhow::Result<Config> {
        Ok(match &cli.config {
            Some(p) => Config::load(p, false)?,
            None => Config::load(std::path::Path::new(config::DEFAULT_PATH), true)?,
        })
    };
    // sshd's helper commands: fail closed, print only what sshd may read.
    let ssh_connection = std::env::var("SSH_CONNECTION").ok();
    let config_path = cli
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(config::DEFAULT_PATH));
    let result = match &cli.command {
        Command::Join {
            url,
            token,
            ca_bundle,
            ca_fingerprint,
            force,
        } => cfg().and_then(|c| {
            join_cmd(
                &c,
                url,
                token,
                ca_bundle.as_ref(),
                ca_fingerprint.as_deref(),
                *force,
            )
        }),
        Command::Run => cfg().and_then(|c| run(&c)),
        Command::Renew => cfg().and_then(|c| renew(&c)),
        Command::CheckConfig => check_config(cli.config.as_ref()),
        Command::Status => cfg().and_then(|c| status(&c)),
        Command::SshAuthorizedPrincipals {
            account,
            key_id,
            serial,
            certificate,
        } => {
            return ward_agent::sshcmd::finish(ward_agent::sshcmd::principals(
                &config_path,
                account,
                key_id,
                serial,
                certificate,
                ssh_connection.as_deref(),
            ))
        }
        Command::SshAuthorizedKeys {
            account,
            fingerprint,
        } => {
            return ward_agent::sshcmd::finish(ward_agent::sshcmd::keys(
                &config_path,
                account,
                fingerprint,
                ssh_connection.as_deref(),
            ))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ward-agent: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn check_config(path: Option<&PathBuf>) -> anyhow::Result<()> {
    let (p, missing_ok) = match path {
        Some(p) => (p.clone(), false),
        None => (PathBuf::from(config::DEFAULT_PATH), true),
    };
    let c = Config::load(&p, missing_ok)?;
    if !p.exists() {
        println!("{}: not found; the defaults apply", p.display());
    }
    println!("ca_url = {}", c.ca_url.as_deref().unwrap_or("(from join)"));
    println!("state_dir = {}", c.state_dir.display());
    println!("socket = {}", c.socket.display());
    println!("max_staleness_seconds = {}", c.max_staleness.as_secs());
    println!("poll_wait_seconds = {}", c.poll_wait.as_secs());
    println!("decision_uids = {:?}", c.decision_uids);
    println!(
        "trusted_user_ca_keys_file = {}",
        c.trusted_user_ca_keys_file.display()
    );
    println!("revoked_keys_file = {}", c.revoked_keys_file.display());
    println!("ssh_host_key = {}", c.ssh_host_key.display());
    println!("passwd_file = {}", c.passwd_file.display());
    println!("group_file = {}", c.group_file.display());
    println!("connect_timeout_seconds = {}", c.connect_timeout.as_secs());
    println!("request_timeout_seconds = {}", c.request_timeout.as_secs());
    println!("audit_spool_max_bytes = {}", c.audit_spool_max_bytes);
    println!(
        "offline_password_max_age_seconds = {}",
        c.offline_password_max_age.as_secs()
    );
    println!(
        "password_timeout_seconds = {}",
        c.password_timeout.as_secs()
    );
    println!("ok");
    Ok(())
}

fn join_cmd(
    cfg: &Config,
    url: &str,
    token: &str,
    ca_bundle: Option<&PathBuf>,
    ca_fingerprint: Option<&str>,
    force: bool,
) -> anyhow::Result<()> {
    let trust = join::trust_from_flags(ca_bundle.map(PathBuf::as_path), ca_fingerprint)?;
    let token = join::read_token(token, &mut std::io::stdin().lock())?;
    let state = join::join(
        cfg,
        &JoinOptions {
            url: url.to_string(),
            token,
            trust,
            force,
        },
    )?;
    println!("joined ward as {} ({})", state.host_name, state.host_arn);
    println!(
        "host certificate expires {}; state in {}",
        state.certificate_expires_at,
        cfg.state_dir.display()
    );
    println!("add to sshd_config:");
    println!("  HostCertificate {}", cfg.ssh_host_certificate().display());
    println!(
        "  TrustedUserCAKeys {}",
        cfg.trusted_user_ca_keys_file.display()
    );
    println!("  RevokedKeys {}", cfg.revoked_keys_file.display());
    println!("then start the agent: systemctl enable --now ward-agent");
    Ok(())
}

fn renew(cfg: &Config) -> anyhow::Result<()> {
    let paths = StatePaths::new(&cfg.state_dir);
    let host = join::load_state(&paths)?;
    let next = join::renew(cfg, &paths, &host)?;
    println!(
        "renewed the certificates of {}; the host certificate expires {}",
        next.host_name, next.certificate_expires_at
    );
    Ok(())
}

/// The server's options from the configuration (the one place `run`
/// depends on `server::ServerOptions`' fields).
// The real ServerOptions (branch agentdecide) has more fields than the
// stub; they keep their defaults.
#[allow(clippy::needless_update)]
fn server_options(cfg: &Config, passwords: Arc<Passwords>) -> ServerOptions {
    ServerOptions {
        passwords: Some(passwords),
        socket: cfg.socket.clone(),
        decision_uids: cfg.decision_uids.clone(),
        passwd_file: cfg.passwd_file.clone(),
        group_file: cfg.group_file.clone(),
        on_ready: Some(Box::new(notify_ready)),
        // Connection limits and timeouts: the server's defaults.
        ..ServerOptions::default()
    }
}

fn run(cfg: &Config) -> anyhow::Result<()> {
    let paths = StatePaths::new(&cfg.state_dir);
    check_state_dir(&paths.dir)?;
    let host = join::load_state(&paths)?;
    let started = now();
    let cached = cache::load_or_discard(&paths.snapshot(), Some(&host.host_name), started);
    match &cached {
        Some(c) => log(format_args!(
            "loaded cached snapshot generation {} received {} s ago",
            c.snapshot.generation,
            started - c.received_at
        )),
        None => log("no usable cached snapshot: decisions deny until the first sync"),
    }
    let spool = Arc::new(
        Spool::open(&paths.spool(), cfg.audit_spool_max_bytes)
            .with_context(|| format!("audit spool {}", paths.spool().display()))?,
    );
    if !spool.is_empty() {
        log(format_args!(
            "{} audit events wait for delivery",
            spool.len()
        ));
    }
    let etag = cached.as_ref().and_then(|c| c.etag.clone());
    let current = cached.map(|c| {
        Arc::new(Current {
            snapshot: c.snapshot,
            received_at: c.received_at,
        })
    });
    let shared = Arc::new(Shared {
        current: RwLock::new(current),
        status: Mutex::new(Status {
            host: host.host_name.clone(),
            ..Status::default()
        }),
        audit: Box::new(spool.clone()),
        max_staleness: i64::try_from(cfg.max_staleness.as_secs()).unwrap_or(i64::MAX),
    });
    let sync = Arc::new(Sync {
        cfg: cfg.clone(),
        paths: paths.clone(),
        host: Mutex::new(host),
        shared: shared.clone(),
        files: SshFiles {
            trusted_user_ca_keys: cfg.trusted_user_ca_keys_file.clone(),
            revoked_keys: cfg.revoked_keys_file.clone(),
        },
        etag: Mutex::new(etag),
    });
    if let Some(c) = shared.snapshot() {
        sync.update_files(&c.snapshot);
    }
    sync.spawn().context("starting the sync thread")?;
    spool::spawn_delivery(&spool, &sync).context("starting the audit delivery thread")?;
    let passwords = {
        let sync = sync.clone();
        // Password checks wait for ward-ca only briefly: PAM is waiting,
        // and the offline check starts when ward-ca does not answer.
        let mut pcfg = cfg.clone();
        pcfg.connect_timeout = cfg.password_timeout;
        pcfg.request_timeout = cfg.password_timeout;
        let connect: passwords::Connect = Box::new(move || {
            let host = match sync.host.lock() {
                Ok(g) => g.clone(),
                Err(p) => p.into_inner().clone(),
            };
            join::host_client(&pcfg, &sync.paths, pcfg.ca_url_or(&host.ca_url))
                .map_err(|e| e.to_string())
        });
        Arc::new(Passwords::new(
            shared.clone(),
            connect,
            PasswordOptions {
                verifiers: paths.password_verifiers(),
                passwd_file: cfg.passwd_file.clone(),
                max_age: i64::try_from(cfg.offline_password_max_age.as_secs()).unwrap_or(i64::MAX),
            },
        ))
    };
    {
        // Verifiers that may no longer be used leave the disk within a
        // minute of the snapshot that says so (and at once on a request).
        let passwords = passwords.clone();
        std::thread::Builder::new()
            .name("passwords".into())
            .spawn(move || loop {
                passwords.prune(now());
                std::thread::sleep(Duration::from_secs(60));
            })
            .context("starting the password verifier thread")?;
    }
    server::serve(shared, server_options(cfg, passwords))
}

/// The state directory holds the host key and the cache decisions trust:
/// refuse to run from one that others may write (someone could plant a
/// cache), warn if others may read it.
fn check_state_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = match std::fs::metadata(dir) {
        Ok(m) => m.permissions().mode() & 0o777,
        // Not joined: load_state says so.
        Err(_) => return Ok(()),
    };
    if mode & 0o022 != 0 {
        anyhow::bail!(
            "state directory {} is writable by others (mode {mode:o}): chmod 0700 it",
            dir.display()
        );
    }
    if mode & 0o077 != 0 {
        log(format_args!(
            "warning: state directory {} is readable by others (mode {mode:o}); it should be 0700",
            dir.display()
        ));
    }
    Ok(())
}

/// Tells systemd the agent is ready (`Type=notify`): `READY=1` to
/// `$NOTIFY_SOCKET`, if set. Best effort.
fn notify_ready() {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let sock = match std::os::unix::net::UnixDatagram::unbound() {
        Ok(s) => s,
        Err(e) => {
            log(format_args!("sd_notify: {e}"));
            return;
        }
    };
    let bytes = std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()).to_vec();
    let sent = if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        std::os::unix::net::SocketAddr::from_abstract_name(name)
            .and_then(|a| sock.send_to_addr(b"READY=1\n", &a))
    } else {
        sock.send_to(b"READY=1\n", &path)
    };
    if let Err(e) = sent {
        log(format_args!("sd_notify: {e}"));
    }
}

fn status(cfg: &Config) -> anyhow::Result<()> {
    let mut stream = std::os::unix::net::UnixStream::connect(&cfg.socket)
        .with_context(|| format!("the agent is not reachable at {}", cfg.socket.display()))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let answer = ward_protocol::agent::exchange(&mut stream, Request::Status)
        .with_context(|| format!("asking the agent at {}", cfg.socket.display()))?;
    match answer {
        Response::Status(s) => {
            print!("{}", render_status(&s));
            Ok(())
        }
        Response::Error { code, message } => anyhow::bail!("the agent refused: {code}: {message}"),
        other => anyhow::bail!("unexpected answer from the agent: {other:?}"),
    }
}

fn render_status(s: &Status) -> String {
    let age = match s.cache_age_seconds {
        Some(a) => format!(
            "{a} s{}",
            if s.stale {
                " (stale: decisions deny)"
            } else {
                ""
            }
        ),
        None => "no snapshot (decisions deny)".into(),
    };
    format!(
        "host:          {}\nsync:          {}\ngeneration:    {}\ncache age:     {age}\nlast error:    {}\naudit backlog: {}\n",
        s.host,
        if s.online { "online" } else { "offline" },
        s.generation,
        s.last_error.as_deref().unwrap_or("-"),
        s.audit_backlog
    )
}
