//! `ward-ca`: the central authority daemon.
//!
//! - `ward-ca serve --dev` needs nothing else: it creates `./ward-data`
//!   (SQLite, a 0600 master key, an account id, its own TLS root and server
//!   certificate), binds 127.0.0.1:8443 and, on first start, prints root
//!   credentials once with commands to use them.
//! - `ward-ca init --config FILE` does the same setup for a production
//!   configuration; `ward-ca serve --config FILE` runs it;
//!   `--check-config` validates the file and exits.
//! - `ward-ca root-key create` mints a new root access key (shown once).
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context as _};
use clap::{Parser, Subcommand};
use rand::Rng;

use ward_ca::config::Config;
use ward_ca::crypto::{self, MasterKey};
use ward_ca::http::{router, tls};
use ward_ca::service::authz::system_grant;
use ward_ca::state::{now, AppState};
use ward_ca::store::{AuditEvent, Store};

#[derive(Parser, Debug)]
#[command(
    name = "ward-ca",
    version,
    about = "ward-ca: identity store, API and certificate authority"
)]
struct Cli {
    /// Log format on stderr: text (coloured only on a terminal) or json
    /// (one object per line, for log collectors) [env: WARD_LOG_FORMAT].
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Installs the stderr logger. Colour codes only when stderr is a terminal
/// (a journal or a file gets plain text: issue #8 item 8).
fn init_logging(format: Option<LogFormat>) {
    use std::io::IsTerminal;
    let format = format.unwrap_or_else(|| match std::env::var("WARD_LOG_FORMAT").as_deref() {
        Ok("json") => LogFormat::Json,
        _ => LogFormat::Text,
    });
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("WARD_LOG").unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the daemon.
    Serve {
        /// Configuration file (TOML).
        #[arg(long, conflicts_with = "dev", required_unless_present = "dev")]
        config: Option<PathBuf>,
        /// Development mode: ./ward-data with SQLite on 127.0.0.1:8443; no config needed.
        #[arg(long)]
        dev: bool,
        /// Data directory for --dev.
        #[arg(long, default_value = "ward-data", requires = "dev")]
        data_dir: PathBuf,
        /// Listen address for --dev.
        #[arg(long, default_value = "127.0.0.1:8443", requires = "dev")]
        listen: SocketAddr,
        /// Validate the configuration and exit.
        #[arg(long, requires = "config")]
        check_config: bool,
    },
    /// Set up a new installation from a configuration file.
    Init {
        /// Configuration file (TOML).
        #[arg(long)]
        config: PathBuf,
    },
    /// Root access keys.
    #[command(subcommand)]
    RootKey(RootKeyCommand),
    /// Add a new key to a certificate authority (ssh-user, ssh-host,
    /// x509-issuing); the old keys stay trusted until retired.
    Rotate {
        /// ssh-user, ssh-host, x509-root or x509-issuing.
        authority: String,
        /// ECDSA P-256 instead of Ed25519.
        #[arg(long)]
        ecdsa: bool,
        /// Configuration file; or --data-dir for a dev installation.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Data directory of a dev installation.
        #[arg(long, default_value = "ward-data")]
        data_dir: PathBuf,
    },
    /// Retire a CA key: it stops signing and is no longer published as trusted.
    Retire {
        /// The key id (see the audit log of the rotation).
        key_id: String,
        /// Configuration file; or --data-dir for a dev installation.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Data directory of a dev installation.
        #[arg(long, default_value = "ward-data")]
        data_dir: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum RootKeyCommand {
    /// Create a new root access key and print it once.
    Create {
        /// Configuration file; or --data-dir for a dev installation.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Data directory of a dev installation.
        #[arg(long, default_value = "ward-data")]
        data_dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ward-ca: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ward-ca: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve {
            config: Some(path),
            check_config: true,
            ..
        } => {
            let c = Config::load(&path).map_err(anyhow::Error::msg)?;
            say(&format!(
                "{}: ok (listen {}, database {})",
                path.display(),
                c.listen,
                c.database.describe()
            ));
            Ok(())
        }
        Command::Serve {
            config: Some(path), ..
        } => {
            let c = Config::load(&path).map_err(anyhow::Error::msg)?;
            if !c.data_dir.join("master.key").exists() {
                bail!(
                    "{} is not initialised: run `ward-ca init --config {}` first",
                    c.data_dir.display(),
                    path.display()
                );
            }
            serve(c).await
        }
        Command::Serve {
            dev: true,
            data_dir,
            listen,
            ..
        } => {
            let c = Config::dev(&data_dir, listen);
            if !c.data_dir.join("master.key").exists() {
                init(&c, true).await?;
            }
            serve(c).await
        }
        Command::Serve { .. } => bail!("give --config FILE or --dev"),
        Command::Init { config } => {
            let c = Config::load(&config).map_err(anyhow::Error::msg)?;
            init(&c, false).await
        }
        Command::Rotate {
            authority,
            ecdsa,
            config,
            data_dir,
        } => {
            let c = local_config(config, data_dir)?;
            let master = MasterKey::load(&c.data_dir.join("master.key"))?;
            let store = Store::open_with(&c.database, &c.store_timeouts)
                .await?
                .require_account()
                .await?
                .keyed(&master)
                .await?;
            let alg = if ecdsa {
                ward_pki::sshca::CaAlg::EcdsaP256
            } else {
                ward_pki::sshca::CaAlg::Ed25519
            };
            let arn = ward_authz::arn::authority(store.account_id(), &authority);
            let g = system_grant("ca:RotateAuthority", &arn);
            let mut m = store.mutation(&g).await?;
            let id = ward_ca::store::authority::add_key(
                &mut m.tx,
                &master,
                store.account_id(),
                &authority,
                alg,
                now(),
            )
            .await?;
            m.commit(&local_event(
                "ca:RotateAuthority",
                &arn,
                serde_json::json!({"keyId": id}),
            ))
            .await?;
            say(&format!("{authority}: new signing key {id}; earlier keys stay trusted until `ward-ca retire KEY`"));
            Ok(())
        }
        Command::Retire {
            key_id,
            config,
            data_dir,
        } => {
            let c = local_config(config, data_dir)?;
            let master = MasterKey::load(&c.data_dir.join("master.key"))?;
            let store = Store::open_with(&c.database, &c.store_timeouts)
                .await?
                .require_account()
                .await?
                .keyed(&master)
                .await?;
            let arn = ward_authz::arn::authority(store.account_id(), "*");
            let g = system_grant("ca:RetireKey", &arn);
            let mut m = store.mutation(&g).await?;
            ward_ca::store::authority::retire(&mut m.tx, &key_id, now()).await?;
            m.commit(&local_event(
                "ca:RetireKey",
                &arn,
                serde_json::json!({"keyId": key_id}),
            ))
            .await?;
            say(&format!("{key_id}: retired"));
            Ok(())
        }
        Command::RootKey(RootKeyCommand::Create { config, data_dir }) => {
            let c = match config {
                Some(p) => Config::load(&p).map_err(anyhow::Error::msg)?,
                None => Config::dev(&data_dir, "127.0.0.1:8443".parse()?),
            };
            let master = MasterKey::load(&c.data_dir.join("master.key"))?;
            let store = Store::open_with(&c.database, &c.store_timeouts)
                .await?
                .require_account()
                .await?
                .keyed(&master)
                .await?;
            let (id, secret) = create_root_key(&store, &master).await?;
            print_credentials(&c, store.account_id(), &id, secret.expose());
            Ok(())
        }
    }
}

/// Creates every certificate authority that has no key yet (audited).
async fn ensure_authorities(store: &Store, master: &MasterKey) -> anyhow::Result<()> {
    let arn = ward_authz::arn::authority(store.account_id(), "*");
    let g = system_grant("ca:CreateAuthority", &arn);
    let mut m = store.mutation(&g).await?;
    let created =
        ward_ca::store::authority::ensure(&mut m.tx, master, store.account_id(), now()).await?;
    if !created.is_empty() {
        let mut ev = local_event(
            "ca:CreateAuthority",
            &arn,
            serde_json::json!({"created": created}),
        );
        ev.principal = "ward-ca (startup)".into();
        m.commit(&ev).await?;
    }
    Ok(())
}

/// Creates the audit checkpoint signing key if there is none (audited).
async fn ensure_audit_key(store: &Store, master: &MasterKey) -> anyhow::Result<()> {
    let arn = ward_authz::arn::audit_log(store.account_id());
    let g = system_grant("audit:CreateSigningKey", &arn);
    let mut m = store.mutation(&g).await?.without_iam_change();
    if let Some(id) = ward_ca::store::checkpoint::ensure(&mut m.tx, master, now()).await? {
        let mut ev = local_event(
            "audit:CreateSigningKey",
            &arn,
            serde_json::json!({"keyId": id}),
        );
        ev.principal = "ward-ca (startup)".into();
        m.commit(&ev).await?;
    }
    Ok(())
}

fn local_config(config: Option<PathBuf>, data_dir: PathBuf) -> anyhow::Result<Config> {
    match config {
        Some(p) => Config::load(&p).map_err(anyhow::Error::msg),
        None => Ok(Config::dev(&data_dir, "127.0.0.1:8443".parse()?)),
    }
}

/// An audit event for an action taken with local access to the data dir.
fn local_event(action: &str, resource: &str, detail: serde_json::Value) -> AuditEvent {
    AuditEvent {
        at: now(),
        principal: "ward-ca (local administrator)".into(),
        action: action.into(),
        resource: resource.into(),
        decision: "Allowed".into(),
        source_ip: "local".into(),
        detail,
    }
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

/// First-time setup: data dir, master key, account id, TLS, root key.
/// First-time setup. A failed init leaves no master key behind (so the
/// next init can run), refuses a database that already holds an
/// installation, and `serve` refuses a store without one (issue #10 item 5:
/// a half-initialised installation is explained, never served).
async fn init(c: &Config, dev: bool) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    let key_path = c.data_dir.join("master.key");
    if key_path.exists() {
        bail!("{} is already initialised", c.data_dir.display());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&c.data_dir)
        .with_context(|| format!("creating {}", c.data_dir.display()))?;
    // Everything but the master key goes into the database or is made from
    // it; a failure before the end removes the key, so nothing is left that
    // looks initialised.
    let master = MasterKey::create(&key_path)?;
    match init_with(c, dev, &master).await {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&key_path);
            Err(e.context(format!(
                "ward-ca init failed; {} was removed, so init can run again once the cause is fixed",
                key_path.display()
            )))
        }
    }
}

async fn init_with(c: &Config, dev: bool, master: &MasterKey) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    let account = format!(
        "{}{:011}",
        rand::thread_rng().gen_range(1..=9),
        rand::thread_rng().gen_range(0..100_000_000_000u64)
    );
    let store = Store::open_with(&c.database, &c.store_timeouts).await?;
    if let Some(existing) = store.existing_account().await? {
        bail!(
            "the database already holds installation {existing} (another ward-ca, or an init that \
             got that far and then failed): initialise into an empty database"
        );
    }
    let store = store
        .init_account(&account, c.uid_range.0)
        .await?
        .keyed(master)
        .await?;
    ensure_authorities(&store, master).await?;
    ensure_audit_key(&store, master).await?;
    if !c.tls_cert.exists() {
        // The API's TLS certificate comes from ward's own X.509 root, so
        // clients trust one root for the server and for client certificates.
        let tls_dir = c.tls_cert.parent().unwrap_or(&c.data_dir).to_owned();
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&tls_dir)?;
        let ip = c.listen.ip();
        let ips: Vec<std::net::IpAddr> = if ip.is_unspecified() {
            vec![]
        } else {
            vec![ip]
        };
        let auth = {
            let mut conn = store.pool().acquire().await?;
            ward_ca::store::authority::load(&mut conn, master).await?
        };
        let root = match &auth.signing(ward_ca::store::authority::X509_ROOT)?.signer {
            ward_ca::store::authority::Signer::X509(k) => k.clone(),
            ward_ca::store::authority::Signer::Ssh(_) => {
                bail!("the x509-root authority holds an SSH key")
            }
        };
        let (cert, key) = tls::server_cert_signed_by(
            &root.cert_pem,
            root.private_key_pem(),
            &["localhost".to_owned()],
            &ips,
        )?;
        std::fs::write(tls_dir.join("root.pem"), &root.cert_pem)?;
        std::fs::write(&c.tls_cert, &cert)?;
        write_private(&c.tls_key, &key)?;
    }
    let (id, secret) = create_root_key(&store, master).await?;
    say(&format!(
        "ward-ca: new installation in {} (account {}){}",
        c.data_dir.display(),
        store.account_id(),
        if dev { ", development mode" } else { "" }
    ));
    print_credentials(c, store.account_id(), &id, secret.expose());
    // Close every connection before `serve --dev` opens the store again, so
    // no two pools of this process share (and confuse) SQLite's file locks.
    store.pool().close().await;
    Ok(())
}

async fn create_root_key(
    store: &Store,
    master: &MasterKey,
) -> anyhow::Result<(String, crypto::Secret)> {
    let id = crypto::access_key_id("AKIA");
    let secret = crypto::secret_access_key();
    let sealed = master.seal(secret.expose().as_bytes(), id.as_bytes());
    let arn = ward_authz::arn::root(store.account_id());
    let g = system_grant("iam:CreateAccessKey", &arn);
    let mut m = store.mutation(&g).await?;
    ward_ca::store::iam::insert_root_access_key(&mut m.tx, &id, sealed, now()).await?;
    m.commit(&AuditEvent {
        at: now(),
        principal: "ward-ca (local administrator)".into(),
        action: "iam:CreateAccessKey".into(),
        resource: arn,
        decision: "Allowed".into(),
        source_ip: "local".into(),
        detail: serde_json::json!({"accessKeyId": id, "root": true}),
    })
    .await?;
    Ok((id, secret))
}

fn print_credentials(c: &Config, account: &str, id: &str, secret: &str) {
    let host = if c.listen.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else {
        c.listen.ip().to_string()
    };
    let endpoint = if c.listen.is_ipv6() {
        format!("https://[{host}]:{}", c.listen.port())
    } else {
        format!("https://{host}:{}", c.listen.port())
    };
    let bundle = c.tls_cert.parent().unwrap_or(&c.data_dir).join("root.pem");
    say(&format!(
        "\nRoot credentials for account {account} (shown once: store them now; \
`ward-ca root-key create` makes new ones):\n\n  \
export WARD_ENDPOINT={endpoint}\n  export WARD_CA_BUNDLE={}\n  export WARD_ACCESS_KEY_ID={id}\n  export WARD_SECRET_ACCESS_KEY={secret}\n\n\
Then:\n  ward whoami\n  curl --cacert \"$WARD_CA_BUNDLE\" --aws-sigv4 \"aws:amz:{}:ward\" --user \"$WARD_ACCESS_KEY_ID:$WARD_SECRET_ACCESS_KEY\" \"$WARD_ENDPOINT/v1/whoami\"\n",
        bundle.display(),
        c.region
    ));
}

/// Prints to stdout; a closed stdout (e.g. a supervisor that stopped
/// reading) must not bring the daemon down.
fn say(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

async fn serve(c: Config) -> anyhow::Result<()> {
    let master = MasterKey::load(&c.data_dir.join("master.key"))?;
    let store = Store::open_with(&c.database, &c.store_timeouts)
        .await?
        .require_account()
        .await?
        .keyed(&master)
        .await?;
    let cert = std::fs::read_to_string(&c.tls_cert)
        .with_context(|| format!("reading {}", c.tls_cert.display()))?;
    let key = std::fs::read_to_string(&c.tls_key)
        .with_context(|| format!("reading {}", c.tls_key.display()))?;
    // The certificate authorities exist from the first start (created by
    // init; this also covers data dirs from before the CA existed).
    ensure_authorities(&store, &master).await?;
    ensure_audit_key(&store, &master).await?;
    let audit_signer = {
        let mut c = store.pool().acquire().await?;
        Arc::new(ward_ca::store::checkpoint::load(&mut c, &master).await?)
    };
    let roots: String = {
        let mut c = store.pool().acquire().await?;
        let a = ward_ca::store::authority::load(&mut c, &master).await?;
        // Issuing CAs are anchors too, so a client that sends only its
        // leaf (curl --cert leaf.pem) is verified.
        a.x509_issuing
            .iter()
            .chain(a.x509_root.iter())
            .map(|e| e.public_text.clone())
            .collect()
    };
    let client_roots = tls::ClientRoots::new(&roots)?;
    let tls_config = tls::server_config_with_client_roots(&cert, &key, Some(client_roots.clone()))?;
    let listener = tokio::net::TcpListener::bind(c.listen)
        .await
        .with_context(|| format!("binding {}", c.listen))?;
    tracing::info!(listen = %c.listen, database = %c.database.describe(), account = store.account_id(), "ward-ca starting");
    let store_for_recorder = store.clone();
    let state = Arc::new(AppState {
        store,
        master,
        config: c,
        policies: Default::default(),
        metrics: Default::default(),
        last_used: Default::default(),
        keys: Default::default(),
        effective: Default::default(),
        authorities: Default::default(),
        recorder: ward_ca::store::certs::Recorder::start(store_for_recorder),
        ca_checked: Default::default(),
        client_roots: Some(client_roots),
        password_checks: Default::default(),
        readiness: Default::default(),
        failures: Default::default(),
        audit_signer: Some(audit_signer),
        host_sync: Default::default(),
    });
    // Pick up CA rotations done elsewhere (another replica, `ward-ca
    // rotate`) even when this process issues nothing: the client-certificate
    // anchors follow the CA key table.
    {
        let state = state.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                if let Err(e) = ward_ca::service::certificates::refresh_authorities(&state).await {
                    tracing::warn!(error = %e, "could not refresh the CA keys");
                }
            }
        });
    }
    // Authentication failures counted per source are written as aggregate
    // audit events when their window closes, and at shutdown.
    {
        let state = state.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(10)).await;
                let due = state.failures.expire(now());
                ward_ca::http::auth::record_aggregates(&state, &due).await;
            }
        });
    }
    let l = &state.config.limits;
    let options = tls::ServeOptions {
        max_connections: l.max_connections,
        max_connections_per_source: l.max_connections_per_source,
        handshake_timeout: l.handshake_timeout,
        header_read_timeout: l.header_timeout,
        idle_timeout: l.idle_timeout,
        body_timeout: l.body_timeout,
        h2_max_concurrent_streams: l.h2_max_concurrent_streams,
        h2_keepalive_interval: l.h2_keepalive_interval,
        h2_keepalive_timeout: l.h2_keepalive_timeout,
        stats: state.metrics.connections.clone(),
        ..tls::ServeOptions::default()
    };
    let router = router::router(state.clone());
    tls::serve_tls_with(listener, tls_config, router, shutdown_signal(), options).await?;
    let rest = state.failures.drain_all();
    ward_ca::http::auth::record_aggregates(&state, &rest).await;
    tracing::info!("ward-ca stopped");
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => {},
        _ = tokio::signal::ctrl_c() => {},
    }
    tracing::info!("shutting down");
}
