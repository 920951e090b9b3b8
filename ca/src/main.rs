//! `ward-ca`: the central authority daemon.
//!
//! - `ward-ca serve --dev` needs nothing else: it creates `./ward-data`
//!   (SQLite, a 0600 master key, an account id, its own TLS root and server
//!   certificate), binds 127.0.0.1:8443 and, on first start, prints root
//!   credentials once with commands to use them.
//! - `ward-ca init --config FILE` does the same setup for a production
//!   configuration; `ward-ca serve --config FILE` runs it;
//!   `--check-config` validates the file and exits.
//! - `ward-ca root-key create` mints a new root access key (shown once);
//!   `ward-ca root-password` sets root's dashboard password.
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
    /// Set the account root's dashboard password (sign in at /ui/ as
    /// `root`). Prompts twice on a terminal; otherwise reads one line of
    /// standard input. Ends every root dashboard session.
    RootPassword {
        /// Configuration file; or --data-dir for a dev installation.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Data directory of a dev installation.
        #[arg(long, default_value = "ward-data")]
        data_dir: PathBuf,
    },
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
            require_initialised(&c, &format!("ward-ca init --config {}", path.display()))?;
            serve(c).await
        }
        Command::Serve {
            dev: true,
            data_dir,
            listen,
            ..
        } => {
            let c = Config::dev(&data_dir, listen);
            // First start, or an interrupted first start: init finishes or
            // undoes it (and explains what it cannot).
            if !c.data_dir.join("master.key").exists() || init_work(&c).exists() {
                init(&c, true).await?;
            }
            require_initialised(&c, "ward-ca serve --dev")?;
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
            require_initialised(&c, "ward-ca init")?;
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
            require_initialised(&c, "ward-ca init")?;
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
        Command::RootPassword { config, data_dir } => {
            let c = local_config(config, data_dir)?;
            require_initialised(&c, "ward-ca init")?;
            let password = read_new_password()?;
            let master = MasterKey::load(&c.data_dir.join("master.key"))?;
            let store = Store::open_with(&c.database, &c.store_timeouts)
                .await?
                .require_account()
                .await?
                .keyed(&master)
                .await?;
            let ended = ward_ca::service::root_login::set_password(
                &store,
                c.passwords.min_length,
                c.passwords.lockout_seconds,
                &password,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{}: {}", e.code(), e.message()))?;
            say(&format!(
                "root's dashboard password is set ({ended} root session(s) ended): sign in at /ui/ as root"
            ));
            Ok(())
        }
        Command::RootKey(RootKeyCommand::Create { config, data_dir }) => {
            let c = match config {
                Some(p) => Config::load(&p).map_err(anyhow::Error::msg)?,
                None => Config::dev(&data_dir, "127.0.0.1:8443".parse()?),
            };
            require_initialised(&c, "ward-ca init")?;
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

/// A new password: prompted twice without echo on a terminal, else one
/// line of standard input (at most 1 KiB, without its line ending).
fn read_new_password() -> anyhow::Result<String> {
    use std::io::{IsTerminal, Read};
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("New password for root: ")
            .context("reading the password")?;
        let again = rpassword::prompt_password("Retype it: ").context("reading the password")?;
        if first != again {
            bail!("the passwords do not match");
        }
        return Ok(first);
    }
    let mut buf = Vec::new();
    std::io::stdin()
        .lock()
        .take(1025)
        .read_to_end(&mut buf)
        .context("reading the password from standard input")?;
    if buf.len() > 1024 {
        bail!("the password on standard input is longer than 1024 bytes");
    }
    let text = String::from_utf8(buf).context("the password is not UTF-8")?;
    let line = text.lines().next().unwrap_or("").to_owned();
    if line.is_empty() {
        bail!("no password on standard input");
    }
    Ok(line)
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

// ---------------------------------------------------------------------------------
// `init`: atomic first-time setup (issue #10 item 5)
// ---------------------------------------------------------------------------------
//
// An installation is a data directory (master.key, and the TLS files unless
// the configuration names its own) plus the database rows (account id,
// uid/gid counter, CA keys, audit signing key, first root key, their audit
// events). `init` builds every file in `DATA/.init` (the same file system as
// their final places, so each move is one rename), writes every row in ONE
// transaction, and only after that transaction committed moves the files
// into place, `master.key` last. A `manifest.json` in `DATA/.init`, written
// (and fsync-ed) just before the commit, names the account and the moves, so
// a later `init` can tell whether an interrupted one committed: if the
// database holds the manifest's account it finishes the moves; if it holds
// no account it removes the leftovers and starts again; if it holds another
// account it explains. `serve` (and every local command) refuses a data
// directory with `DATA/.init`, and a `master.key` whose database holds no
// installation. Concurrent inits are serialised by an advisory lock on the
// data directory's parent; two inits on different data directories sharing
// one database are serialised by the transaction (it holds the audit head
// before it looks for an account).

/// The work directory of an unfinished `init`, inside the data dir.
const INIT_WORK: &str = ".init";
/// The manifest in [`INIT_WORK`]; its presence means "the transaction may
/// have committed".
const INIT_MANIFEST: &str = "manifest.json";

/// What an `init` commits to: the account it claims, its first root key and
/// the files to move (name inside the work dir, final path), `master.key`
/// last.
#[derive(serde::Serialize, serde::Deserialize, Debug)]
struct InitManifest {
    account: String,
    root_key_id: String,
    moves: Vec<(String, PathBuf)>,
}

/// A finished installation and its root credentials (shown once).
struct Installed {
    account: String,
    root_key_id: String,
    secret: crypto::Secret,
    /// Finished the moves of an earlier, interrupted init.
    resumed: bool,
}

fn init_work(c: &Config) -> PathBuf {
    c.data_dir.join(INIT_WORK)
}

/// The directory holding the data dir (locked while an init runs).
fn data_parent(c: &Config) -> PathBuf {
    match c.data_dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// An exclusive advisory lock (flock) on `dir`, held until the file is
/// dropped; waits up to two minutes for another init to finish.
async fn lock_dir(dir: &Path) -> anyhow::Result<std::fs::File> {
    use rustix::fs::{flock, FlockOperation};
    let f = std::fs::File::open(dir).with_context(|| format!("opening {}", dir.display()))?;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        match flock(&f, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(f),
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
                if tokio::time::Instant::now() > deadline {
                    bail!(
                        "another `ward-ca init` has held the lock on {} for two minutes; \
                         let it finish, then run init again",
                        dir.display()
                    );
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => bail!("locking {}: {e}", dir.display()),
        }
    }
}

/// Refuses a half-initialised data directory (for `serve` and the local
/// commands): an unfinished init's work dir, or no master key.
fn require_initialised(c: &Config, init_hint: &str) -> anyhow::Result<()> {
    let work = init_work(c);
    if work.exists() {
        bail!(
            "{} was left by a `ward-ca init` that did not finish (interrupted, or still \
             running): ward-ca does not serve a half-initialised installation. Run `{init_hint}` \
             again: it finishes the installation if its database transaction committed, and \
             removes what it left if not",
            work.display()
        );
    }
    if !c.data_dir.join("master.key").exists() {
        bail!(
            "{} is not initialised (it has no master.key): run `{init_hint}` first. If the \
             database already holds this installation, restore master.key from your backup \
             instead (without it the database's keys cannot be opened)",
            c.data_dir.display()
        );
    }
    Ok(())
}

/// First-time setup, atomic (see the section comment above). `dev` only
/// changes the banner, and lets an already finished installation pass.
async fn init(c: &Config, dev: bool) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    let parent = data_parent(c);
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let _lock = lock_dir(&parent).await?;
    let data_was_there = c.data_dir.exists();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&c.data_dir)
        .with_context(|| format!("creating {}", c.data_dir.display()))?;
    let key_path = c.data_dir.join("master.key");
    let work = init_work(c);
    if work.exists() {
        if let Some(done) = resume_init(c).await? {
            report_installed(c, dev, &done);
            return Ok(());
        }
    }
    if key_path.exists() {
        if dev {
            return Ok(());
        }
        bail!(
            "{} is already initialised (it has a master.key); if you never saw its root \
             credentials, `ward-ca root-key create` makes new ones",
            c.data_dir.display()
        );
    }
    match fresh_init(c).await {
        Ok(done) => {
            report_installed(c, dev, &done);
            Ok(())
        }
        Err(InitFailure::BeforeCommit(e)) => {
            // Nothing committed: remove every file this init made.
            let _ = std::fs::remove_dir_all(&work);
            if !data_was_there {
                // Only if empty (an SQLite file with no installation in it
                // stays: it is an empty database, which init accepts).
                let _ = std::fs::remove_dir(&c.data_dir);
            }
            Err(e.context("ward-ca init failed and left no installation behind; fix the cause and run it again"))
        }
        Err(InitFailure::Unfinished(e)) => Err(e.context(format!(
            "ward-ca init did not finish; run it again: it finishes the installation if the \
             database transaction committed and removes {} if not (until then ward-ca \
             refuses to serve)",
            work.display()
        ))),
    }
}

/// Why an init failed: before its transaction (nothing to keep), or at or
/// after the commit (the work dir is kept for the next init to finish).
enum InitFailure {
    BeforeCommit(anyhow::Error),
    Unfinished(anyhow::Error),
}

fn report_installed(c: &Config, dev: bool, done: &Installed) {
    say(&format!(
        "ward-ca: {} in {} (account {}){}",
        if done.resumed {
            "finished the interrupted installation"
        } else {
            "new installation"
        },
        c.data_dir.display(),
        done.account,
        if dev { ", development mode" } else { "" }
    ));
    print_credentials(c, &done.account, &done.root_key_id, done.secret.expose());
}

/// Builds the files in the work dir and writes the rows in one
/// transaction, then moves the files into place.
async fn fresh_init(c: &Config) -> Result<Installed, InitFailure> {
    use std::os::unix::fs::DirBuilderExt;
    let before = InitFailure::BeforeCommit;
    let work = init_work(c);
    // The database first: an unreachable or missing one fails before any
    // file exists.
    let store = Store::open_with(&c.database, &c.store_timeouts)
        .await
        .map_err(|e| before(e.into()))?;
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&work)
        .with_context(|| format!("creating {}", work.display()))
        .map_err(before)?;
    let master = MasterKey::create(&work.join("master.key")).map_err(|e| before(e.into()))?;
    let store = store.keyed(&master).await.map_err(|e| before(e.into()))?;
    let account = format!(
        "{}{:011}",
        rand::thread_rng().gen_range(1..=9),
        rand::thread_rng().gen_range(0..100_000_000_000u64)
    );
    let result = write_installation(c, &store, &master, &account).await;
    store.pool().close().await;
    let (manifest, secret) = result?;
    finish_moves(c, &manifest).map_err(InitFailure::Unfinished)?;
    Ok(Installed {
        account,
        root_key_id: manifest.root_key_id,
        secret,
        resumed: false,
    })
}

/// Everything up to and including the commit.
async fn write_installation(
    c: &Config,
    store: &Store,
    master: &MasterKey,
    account: &str,
) -> Result<(InitManifest, crypto::Secret), InitFailure> {
    let before = InitFailure::BeforeCommit;
    let db_err = |e: ward_ca::error::ApiError| before(anyhow::anyhow!("{e}"));
    let work = init_work(c);
    let now = now();
    let authorities = ward_authz::arn::authority(account, "*");
    let audit_log = ward_authz::arn::audit_log(account);
    let root = ward_authz::arn::root(account);
    let grants = [
        system_grant("ca:CreateAuthority", &authorities),
        system_grant("audit:CreateSigningKey", &audit_log),
        system_grant("iam:CreateAccessKey", &root),
    ];
    let mut b = store
        .batch(&grants.iter().collect::<Vec<_>>())
        .await
        .map_err(db_err)?;
    if let Some(existing) =
        ward_ca::store::install::claim_account(&mut b.tx, account, c.uid_range.0)
            .await
            .map_err(db_err)?
    {
        return Err(before(anyhow::anyhow!(
            "the database already holds installation {existing}, and {} has no master.key: \
             if this is your installation, restore master.key (and the data directory) from \
             your backup; to make a new one, point `database` at an empty database",
            c.data_dir.display()
        )));
    }
    let created = ward_ca::store::authority::ensure(&mut b.tx, master, account, now)
        .await
        .map_err(db_err)?;
    let audit_key = ward_ca::store::checkpoint::ensure(&mut b.tx, master, now)
        .await
        .map_err(db_err)?;
    let mut moves = Vec::new();
    if !c.tls_cert.exists() {
        // The API's TLS certificate comes from ward's own X.509 root, so
        // clients trust one root for the server and for client certificates.
        let auth = ward_ca::store::authority::load(&mut b.tx, master)
            .await
            .map_err(db_err)?;
        let root_ca = match auth
            .signing(ward_ca::store::authority::X509_ROOT)
            .map_err(db_err)?
            .signer
        {
            ward_ca::store::authority::Signer::X509(ref k) => k.clone(),
            ward_ca::store::authority::Signer::Ssh(_) => {
                return Err(before(anyhow::anyhow!(
                    "the x509-root authority holds an SSH key"
                )))
            }
        };
        let ip = c.listen.ip();
        let ips: Vec<std::net::IpAddr> = if ip.is_unspecified() {
            vec![]
        } else {
            vec![ip]
        };
        let (cert, key) = tls::server_cert_signed_by(
            &root_ca.cert_pem,
            root_ca.private_key_pem(),
            &["localhost".to_owned()],
            &ips,
        )
        .map_err(|e| before(e.into()))?;
        let tls_dir = c.tls_cert.parent().unwrap_or(&c.data_dir).to_owned();
        write_new(&work.join("root.pem"), &root_ca.cert_pem, 0o644).map_err(before)?;
        write_new(&work.join("server.pem"), &cert, 0o644).map_err(before)?;
        write_new(&work.join("server.key"), &key, 0o600).map_err(before)?;
        moves.push(("root.pem".to_owned(), tls_dir.join("root.pem")));
        moves.push(("server.pem".to_owned(), c.tls_cert.clone()));
        moves.push(("server.key".to_owned(), c.tls_key.clone()));
    }
    moves.push(("master.key".to_owned(), c.data_dir.join("master.key")));
    let root_key_id = crypto::access_key_id("AKIA");
    let secret = crypto::secret_access_key();
    let sealed = master.seal(secret.expose().as_bytes(), root_key_id.as_bytes());
    ward_ca::store::iam::insert_root_access_key(&mut b.tx, &root_key_id, sealed, now)
        .await
        .map_err(db_err)?;
    let manifest = InitManifest {
        account: account.to_owned(),
        root_key_id: root_key_id.clone(),
        moves,
    };
    write_manifest(&work, &manifest).map_err(before)?;
    let event = |action: &str, resource: &str, detail: serde_json::Value| AuditEvent {
        at: now,
        principal: "ward-ca (init)".into(),
        action: action.into(),
        resource: resource.into(),
        decision: "Allowed".into(),
        source_ip: "local".into(),
        detail,
    };
    let events = [
        event(
            "ca:CreateAuthority",
            &authorities,
            serde_json::json!({"created": created}),
        ),
        event(
            "audit:CreateSigningKey",
            &audit_log,
            serde_json::json!({"keyId": audit_key}),
        ),
        event(
            "iam:CreateAccessKey",
            &root,
            serde_json::json!({"accessKeyId": root_key_id, "root": true}),
        ),
    ];
    // From here on the outcome may be unknown (a connection lost during
    // COMMIT): the work dir stays, and the next init asks the database.
    b.commit(&events)
        .await
        .map_err(|e| InitFailure::Unfinished(anyhow::anyhow!("committing: {e}")))?;
    Ok((manifest, secret))
}

/// Deals with the work dir of an earlier init: finishes it (the database
/// holds its account), removes it (nothing committed; `None`, go on with a
/// fresh init) or explains why it cannot.
async fn resume_init(c: &Config) -> anyhow::Result<Option<Installed>> {
    let work = init_work(c);
    let manifest = match std::fs::read(work.join(INIT_MANIFEST)) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Written before the commit: without it nothing was committed
            // (or a finished init was stopped while removing its empty
            // work dir).
            std::fs::remove_dir_all(&work)
                .with_context(|| format!("removing {}", work.display()))?;
            tracing::warn!(dir = %work.display(), "removed the files of an init that stopped before its database transaction");
            return Ok(None);
        }
        Err(e) => bail!("reading {}: {e}", work.join(INIT_MANIFEST).display()),
        Ok(bytes) => serde_json::from_slice::<InitManifest>(&bytes).with_context(|| {
            format!(
                "{} is damaged; inspect {} and remove it by hand",
                work.join(INIT_MANIFEST).display(),
                work.display()
            )
        })?,
    };
    let store = Store::open_with(&c.database, &c.store_timeouts)
        .await
        .with_context(|| {
            format!(
                "{} was left by an init that may have committed; the database must be reachable \
                 to tell",
                work.display()
            )
        })?;
    let existing = store.existing_account().await;
    store.pool().close().await;
    match existing? {
        None => {
            std::fs::remove_dir_all(&work)
                .with_context(|| format!("removing {}", work.display()))?;
            tracing::warn!(dir = %work.display(), "removed the files of an init whose database transaction did not commit");
            Ok(None)
        }
        Some(a) if a == manifest.account => {
            finish_moves(c, &manifest).with_context(|| {
                format!(
                    "the installation of account {a} committed, but its files could not be \
                     moved into place from {}; fix the cause and run init again",
                    work.display()
                )
            })?;
            let master = MasterKey::load(&c.data_dir.join("master.key"))?;
            let store = Store::open_with(&c.database, &c.store_timeouts)
                .await?
                .require_account()
                .await?;
            let sealed = {
                let mut conn = store.pool().acquire().await?;
                ward_ca::store::iam::root_access_key(&mut conn, &manifest.root_key_id)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?
            };
            store.pool().close().await;
            let (_, sealed) = sealed.with_context(|| {
                format!(
                    "root key {} is missing; make one with `ward-ca root-key create`",
                    manifest.root_key_id
                )
            })?;
            let secret = master.open(&sealed, manifest.root_key_id.as_bytes())?;
            let secret = String::from_utf8(secret.to_vec())
                .map_err(|_| anyhow::anyhow!("the root key's secret is not text"))?;
            Ok(Some(Installed {
                account: a,
                root_key_id: manifest.root_key_id,
                secret: crypto::Secret::new(secret),
                resumed: true,
            }))
        }
        Some(a) => bail!(
            "{} was left by an init of account {}, but the database holds installation {a}: \
             they do not belong together. Remove {} (it holds the master key of an \
             installation that never existed) and point init at an empty database, or restore \
             the data directory of installation {a} from your backup",
            work.display(),
            manifest.account,
            work.display()
        ),
    }
}

/// Moves the work dir's files into place (a file already moved is
/// skipped), `master.key` last, then removes the manifest and the work dir.
fn finish_moves(c: &Config, m: &InitManifest) -> anyhow::Result<()> {
    let work = init_work(c);
    for (name, to) in &m.moves {
        if name.contains('/') || name.starts_with('.') {
            bail!(
                "{}: bad file name {name:?}",
                work.join(INIT_MANIFEST).display()
            );
        }
        place(&work.join(name), to)?;
    }
    std::fs::remove_file(work.join(INIT_MANIFEST))?;
    std::fs::remove_dir(&work).with_context(|| format!("removing {}", work.display()))?;
    sync_dir(&c.data_dir)?;
    Ok(())
}

/// Moves `from` to `to` (creating `to`'s directory, 0700): one rename on
/// the same file system, else a copy made durable and renamed into place.
/// Nothing to do if `from` is gone (moved by an earlier run).
fn place(from: &Path, to: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if !from.exists() {
        return Ok(());
    }
    let dir = match to.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    match std::fs::rename(from, to) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::CrossesDevices => {
            let mut part = to.as_os_str().to_owned();
            part.push(".ward-init");
            let part = PathBuf::from(part);
            std::fs::copy(from, &part)
                .and_then(|_| std::fs::File::open(&part)?.sync_all())
                .and_then(|()| std::fs::rename(&part, to))
                .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
            std::fs::remove_file(from)?;
        }
        Err(e) => bail!("moving {} to {}: {e}", from.display(), to.display()),
    }
    sync_dir(&dir)
}

fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing {}", dir.display()))
}

/// Writes a new file with `mode`, durably.
fn write_new(path: &Path, contents: &str, mode: u32) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(contents.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

/// Writes the manifest (a temporary name, fsync, rename, fsync the dir: a
/// manifest is whole or absent).
fn write_manifest(work: &Path, m: &InitManifest) -> anyhow::Result<()> {
    let text = serde_json::to_string(m)?;
    let part = work.join("manifest.part");
    write_new(&part, &text, 0o600)?;
    std::fs::rename(&part, work.join(INIT_MANIFEST))?;
    sync_dir(work)
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
    // The master key must open this database's keys (a data dir and a
    // database of two different installations are never served).
    {
        let mut conn = store.pool().acquire().await?;
        ward_ca::store::authority::load(&mut conn, &master)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| {
                format!(
                    "{} does not open the keys of installation {} in the database: the data \
                     directory and the database belong to different installations",
                    c.data_dir.join("master.key").display(),
                    store.account_id()
                )
            })?;
    }
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
        let mut conn = store.pool().acquire().await?;
        let a = ward_ca::store::authority::load(&mut conn, &master).await?;
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
        role_sessions: Default::default(),
        authorities: Default::default(),
        recorder: ward_ca::store::certs::Recorder::start(store_for_recorder),
        ca_checked: Default::default(),
        client_roots: Some(client_roots),
        password_checks: Default::default(),
        readiness: Default::default(),
        failures: Default::default(),
        audit_signer: Some(audit_signer),
        host_sync: Default::default(),
        host_audit_limits: Default::default(),
        guest_limits: Default::default(),
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
