//! `ward-gateway`: the command line of ward's SSH bastion: `join` (enrol
//! with a `--gateway` join token, as `ward-agent join` does), `run`, and
//! `--check-config`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use russh::keys::ssh_key;
use ward_agent::cache;
use ward_agent::decide::Decider;
use ward_agent::files::SshFiles;
use ward_agent::join::{self, JoinOptions, StatePaths};
use ward_agent::passwords::{self, PasswordOptions, Passwords};
use ward_agent::shared::{log, now, Current, Shared};
use ward_agent::spool::{self, Spool};
use ward_agent::sync::Sync;
use ward_gateway::config::{self, Config};
use ward_gateway::server::{self, Gateway};
use ward_gateway::sessions::{self, Limits, Registry};
use ward_gateway::terminate::Terminator;
use ward_gateway::throttle::Throttle;
use ward_gateway::upload::{self, Uploads};
use ward_protocol::agent::Status;

/// ward's SSH bastion.
#[derive(Parser, Debug)]
#[command(name = "ward-gateway", version, about)]
struct Cli {
    /// Configuration file [default: /etc/ward/gateway.toml; defaults apply
    /// if that file does not exist].
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Check the configuration, print it and exit.
    #[arg(long)]
    check_config: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Enrol this gateway: `ward-gateway join https://CA:8443 TOKEN` with a
    /// token from `ward host join-token NAME --gateway`.
    Join {
        /// ward-ca's URL.
        url: String,
        /// The one-time join token (or `-` to read it from stdin).
        token: String,
        /// Trust only the CA certificates in this PEM file for the join.
        #[arg(long, conflicts_with = "ca_fingerprint")]
        ca_bundle: Option<PathBuf>,
        /// Trust ward-ca if a certificate it sends has this SHA-256.
        #[arg(long)]
        ca_fingerprint: Option<String>,
        /// Join again although this gateway has joined before.
        #[arg(long)]
        force: bool,
    },
    /// Run the gateway (sync, audit delivery, SSH server).
    Run,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (path, missing_ok) = match &cli.config {
        Some(p) => (p.clone(), false),
        None => (PathBuf::from(config::DEFAULT_PATH), true),
    };
    let result = Config::load(&path, missing_ok)
        .map_err(anyhow::Error::from)
        .and_then(|cfg| {
            if cli.check_config {
                print_config(&cfg);
                return Ok(());
            }
            match cli.command {
                Some(Command::Join {
                    url,
                    token,
                    ca_bundle,
                    ca_fingerprint,
                    force,
                }) => join_cmd(&cfg, &url, &token, ca_bundle, ca_fingerprint, force),
                Some(Command::Run) => run(cfg),
                None => anyhow::bail!("give a command (join, run) or --check-config"),
            }
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ward-gateway: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn print_config(c: &Config) {
    println!("listen = {}", c.listen);
    println!("state_dir = {}", c.state_dir.display());
    println!("ca_url = {}", c.ca_url.as_deref().unwrap_or("(from join)"));
    println!("max_staleness_seconds = {}", c.max_staleness.as_secs());
    println!(
        "handshake_timeout_seconds = {}",
        c.handshake_timeout.as_secs()
    );
    println!("idle_timeout_seconds = {}", c.idle_timeout.as_secs());
    println!("max_session_seconds = {}", c.max_session.as_secs());
    println!("max_sessions_per_user = {}", c.max_sessions_per_user);
    println!("ciphers = {:?}", c.ciphers);
    println!("passwords = {}", c.passwords);
    println!(
        "password_timeout_seconds = {}",
        c.password_timeout.as_secs()
    );
    println!("connect_timeout_seconds = {}", c.connect_timeout.as_secs());
    println!("max_auth_attempts = {}", c.max_auth_attempts);
    println!(
        "max_channels_per_connection = {}",
        c.max_channels_per_connection
    );
    println!("max_connections = {}", c.max_connections);
    println!(
        "max_failed_auth_per_source = {}",
        c.max_failed_auth_per_source
    );
    println!(
        "failed_auth_window_seconds = {}",
        c.failed_auth_window.as_secs()
    );
    println!(
        "dangerous_allow_loopback_targets = {}",
        c.dangerous_allow_loopback_targets
    );
    println!("recordings_dir = {}", c.recordings_dir.display());
    println!("recording_max_bytes = {}", c.recording_max_bytes);
    println!("record_input = {}", c.record_input);
    println!("ok");
}

fn join_cmd(
    cfg: &Config,
    url: &str,
    token: &str,
    ca_bundle: Option<PathBuf>,
    ca_fingerprint: Option<String>,
    force: bool,
) -> anyhow::Result<()> {
    let trust = join::trust_from_flags(ca_bundle.as_deref(), ca_fingerprint.as_deref())?;
    let token = join::read_token(token, &mut std::io::stdin().lock())?;
    let state = join::join(
        &cfg.agent(),
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
    println!("then start the gateway: systemctl enable --now ward-gateway");
    Ok(())
}

/// The host key and its certificate, as russh reads them.
fn host_keys(
    agent: &ward_agent::config::Config,
) -> anyhow::Result<(ssh_key::PrivateKey, Option<ssh_key::Certificate>)> {
    let key_path = &agent.ssh_host_key;
    let key = ssh_key::PrivateKey::read_openssh_file(key_path)
        .with_context(|| format!("SSH host key {}", key_path.display()))?;
    let cert_path = agent.ssh_host_certificate();
    let cert = match std::fs::read_to_string(&cert_path) {
        Ok(t) => Some(
            ssh_key::Certificate::from_openssh(t.trim())
                .with_context(|| format!("SSH host certificate {}", cert_path.display()))?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| cert_path.display().to_string()),
    };
    Ok((key, cert))
}

/// ward-agent's password checks with this gateway's mTLS client
/// (`password_timeout_seconds`; no offline verifiers: `max_age` 0).
fn password_checks(
    agent: &ward_agent::config::Config,
    timeout: Duration,
    sync: &Arc<Sync>,
    shared: &Arc<Shared>,
) -> Arc<Passwords> {
    let verifiers = sync.paths.password_verifiers();
    let sync = sync.clone();
    let mut pcfg = agent.clone();
    pcfg.connect_timeout = timeout;
    pcfg.request_timeout = timeout;
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
            verifiers,
            passwd_file: agent.passwd_file.clone(),
            max_age: 0,
        },
    ))
}

/// How long one recording upload may take (up to 64 MiB).
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(600);

/// The recording uploads' mTLS client to ward-ca: the gateway's host
/// certificate (again after each renewal), with a timeout fit for a large
/// body.
fn upload_client(agent: &ward_agent::config::Config, sync: &Arc<Sync>) -> upload::Connect {
    let sync = sync.clone();
    let mut ucfg = agent.clone();
    ucfg.request_timeout = UPLOAD_TIMEOUT;
    Box::new(move || {
        let host = match sync.host.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        };
        join::host_client(&ucfg, &sync.paths, ucfg.ca_url_or(&host.ca_url))
            .map_err(|e| e.to_string())
    })
}

fn run(cfg: Config) -> anyhow::Result<()> {
    let agent = cfg.agent();
    let paths = StatePaths::new(&cfg.state_dir);
    let host = join::load_state(&paths).map_err(|e| {
        anyhow::anyhow!("{e} (has this gateway joined? run `ward-gateway join URL TOKEN`)")
    })?;
    let started = now();
    let cached = cache::load_or_discard(&paths.snapshot(), Some(&host.host_name), started);
    if cached.is_none() {
        log("no usable cached snapshot: every path is refused until the first sync");
    }
    let spool = Arc::new(
        Spool::open(&paths.spool(), agent.audit_spool_max_bytes)
            .with_context(|| format!("audit spool {}", paths.spool().display()))?,
    );
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
        cfg: agent.clone(),
        paths: paths.clone(),
        host: Mutex::new(host),
        shared: shared.clone(),
        files: SshFiles {
            trusted_user_ca_keys: agent.trusted_user_ca_keys_file.clone(),
            revoked_keys: agent.revoked_keys_file.clone(),
        },
        etag: Mutex::new(etag),
    });
    sync.spawn().context("starting the sync thread")?;
    ward_gateway::recording::prepare_dir(&cfg.recordings_dir)
        .with_context(|| format!("recordings directory {}", cfg.recordings_dir.display()))?;
    spool::spawn_delivery(&spool, &sync).context("starting the audit delivery thread")?;
    // Finished recordings go to ward-ca; those a previous run left behind
    // first (no session is recorded yet).
    let uploads = Uploads::new(&cfg.recordings_dir);
    let left = uploads
        .resume()
        .with_context(|| format!("recordings directory {}", cfg.recordings_dir.display()))?;
    if left > 0 {
        log(format_args!("{left} recording(s) to upload to ward-ca"));
    }
    uploads
        .spawn(upload_client(&agent, &sync))
        .context("starting the recording upload thread")?;
    // One client to ward-ca's host routes for passwords (when enabled) and
    // MFA codes (always: policy decides whether a code is needed).
    let checks = password_checks(&agent, cfg.password_timeout, &sync, &shared);
    let passwords = cfg.passwords.then(|| checks.clone());
    let gw = Arc::new(Gateway {
        decider: Decider::new(shared),
        throttle: Throttle::new(cfg.max_failed_auth_per_source, cfg.failed_auth_window),
        terminator: {
            let sync = sync.clone();
            Terminator {
                ca: Box::new(move || sync.ca_client()),
                uploads: Some(uploads),
            }
        },
        sessions: Registry::new(Limits {
            idle: cfg.idle_timeout,
            max_session: cfg.max_session,
            per_user: cfg.max_sessions_per_user,
        }),
        passwords,
        mfa: Some(checks),
        cfg: cfg.clone(),
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(async move {
        let (key, cert) = host_keys(&agent)?;
        let (tx, rx) = tokio::sync::watch::channel(Arc::new(server::russh_config(&cfg, key, cert)));
        let listener = tokio::net::TcpListener::bind(cfg.listen)
            .await
            .with_context(|| format!("listening on {}", cfg.listen))?;
        log(format_args!(
            "ward-gateway listening on {}",
            listener
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_default()
        ));
        // The sync thread renews the SSH host certificate: new connections
        // get the new one.
        let reload_cfg = cfg.clone();
        tokio::spawn(async move {
            let mut last = std::fs::read(agent.ssh_host_certificate()).ok();
            loop {
                tokio::time::sleep(Duration::from_secs(60)).await;
                let now_bytes = std::fs::read(agent.ssh_host_certificate()).ok();
                if now_bytes != last {
                    match host_keys(&agent) {
                        Ok((k, c)) => {
                            let _ = tx.send(Arc::new(server::russh_config(&reload_cfg, k, c)));
                            log("SSH host certificate reloaded");
                            last = now_bytes;
                        }
                        Err(e) => log(format_args!("SSH host certificate reload: {e:#}")),
                    }
                }
            }
        });
        tokio::spawn(sessions::enforce(gw.clone()));
        server::serve(gw, listener, rx).await;
        Ok(())
    })
}
