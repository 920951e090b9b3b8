//! Issue #10 item 5: `ward-ca init` is atomic, against the real binary on
//! SQLite and PostgreSQL, with real faults (no test hooks in ward-ca):
//!
//! - a PostgreSQL database that does not exist: init fails and leaves
//!   nothing, and succeeds once the database exists;
//! - a failure after the database transaction committed (the TLS files'
//!   directory cannot be created: its parent is a regular file): the state
//!   is explained by `serve` (refused) and by the next init, which finishes
//!   the installation once the cause is gone;
//! - a full data directory (a small tmpfs, root only) at every fill level
//!   until init fits, and SIGKILL at spread-out moments of init: whatever
//!   the point of failure, `serve` either runs a whole installation or
//!   refuses with an explanation, and the next init completes;
//! - concurrent inits (one data dir; and several data dirs on one
//!   PostgreSQL database) make exactly one installation;
//! - rows without files (master.key lost) and files of another
//!   installation are explained, never served.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{postgres_admin_url, psql, WARD_CA};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// For names of directories and databases.
    fn tag(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A test directory (and, for PostgreSQL, a database name), removed on drop.
struct Case {
    dir: PathBuf,
    port: u16,
    /// `(admin URL, database name, database URL)`.
    pg: Option<(String, String, String)>,
}

impl Case {
    /// `None` when PostgreSQL is asked for but not available here.
    fn new(tag: &str, backend: Backend) -> Option<Case> {
        let dir =
            std::env::temp_dir().join(format!("ward-init-atomic-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pg = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => {
                let admin = postgres_admin_url()?;
                let name = format!(
                    "ward_init_atomic_{}_{}",
                    tag.replace('-', "_"),
                    std::process::id()
                );
                let base = &admin[..admin.rfind('/').unwrap()];
                let url = format!("{base}/{name}");
                drop_database(&admin, &name);
                Some((admin, name, url))
            }
        };
        Some(Case { dir, port, pg })
    }

    fn create_database(&self) {
        if let Some((admin, name, _)) = &self.pg {
            psql(admin, &format!("CREATE DATABASE {name}"));
        }
    }

    fn data(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// A config for data dir `DIR/data_name`, plus `extra` lines.
    fn config(&self, data_name: &str, extra: &str) -> PathBuf {
        let conf = self.dir.join(format!("{data_name}.toml"));
        let mut text = format!(
            "data_dir = {:?}\nlisten = \"127.0.0.1:{}\"\n",
            self.data(data_name).display().to_string(),
            self.port
        );
        if let Some((_, _, url)) = &self.pg {
            text.push_str(&format!("database = {url:?}\n"));
        }
        text.push_str(extra);
        std::fs::write(&conf, text).unwrap();
        conf
    }

    /// One SQL answer from this case's database (`data_name`'s SQLite file).
    fn sql(&self, data_name: &str, query: &str) -> String {
        match &self.pg {
            Some((_, _, url)) => psql(url, query).trim().to_owned(),
            None => {
                let out = Command::new("sqlite3")
                    .arg(self.data(data_name).join("ward.db"))
                    .arg(query)
                    .output()
                    .unwrap();
                assert!(out.status.success(), "{}", text(&out));
                String::from_utf8_lossy(&out.stdout).trim().to_owned()
            }
        }
    }

    /// Installations (account rows) and root keys in the database.
    fn rows(&self, data_name: &str) -> (String, String) {
        (
            self.sql(
                data_name,
                "SELECT COUNT(*) FROM meta WHERE name = 'account_id'",
            ),
            self.sql(data_name, "SELECT COUNT(*) FROM root_access_keys"),
        )
    }
}

impl Drop for Case {
    fn drop(&mut self) {
        if let Some((admin, name, _)) = &self.pg {
            drop_database(admin, name);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn drop_database(admin: &str, name: &str) {
    let _ = Command::new("psql")
        .args([
            admin,
            "-qAtc",
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        ])
        .output();
}

fn ward_ca(args: &[&str], conf: &Path) -> Output {
    Command::new(WARD_CA)
        .args(args)
        .arg("--config")
        .arg(conf)
        .env("WARD_LOG", "warn")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Root credentials printed by init (or `root-key create`).
struct Creds {
    account: String,
    id: String,
    secret: String,
    bundle: String,
}

fn creds(o: &Output) -> Creds {
    let out = String::from_utf8_lossy(&o.stdout);
    let var = |k: &str| {
        out.lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix(&format!("export {k}="))
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| panic!("{k} missing from:\n{out}"))
    };
    Creds {
        account: out
            .split("account ")
            .nth(1)
            .and_then(|s| s.get(..12))
            .unwrap_or_else(|| panic!("no account in:\n{out}"))
            .to_owned(),
        id: var("WARD_ACCESS_KEY_ID"),
        secret: var("WARD_SECRET_ACCESS_KEY"),
        bundle: var("WARD_CA_BUNDLE"),
    }
}

/// Runs `serve`, which must refuse: exits non-zero within 30 s (a serve
/// still running then has started on a half-initialised installation).
/// Returns what it said.
fn serve_refuses(conf: &Path) -> String {
    let mut child = Command::new(WARD_CA)
        .args(["serve", "--config"])
        .arg(conf)
        .env("WARD_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            assert!(!status.success(), "serve exited 0: {}", text(&out));
            return text(&out);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "serve started on a half-initialised installation: {}",
                text(&out)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `serve` and checks that `creds` work against it (a signed
/// `GET /v1/whoami` answers with their account); stops it.
fn serve_works(conf: &Path, port: u16, creds: &Creds) {
    let mut child = Command::new(WARD_CA)
        .args(["serve", "--config"])
        .arg(conf)
        .env("WARD_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let endpoint = format!("https://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut answer = String::new();
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            panic!("serve exited ({status}): {}", text(&out));
        }
        let out = Command::new("curl")
            .args([
                "-sS",
                "--cacert",
                &creds.bundle,
                "--aws-sigv4",
                "aws:amz:local:ward",
            ])
            .arg("--user")
            .arg(format!("{}:{}", creds.id, creds.secret))
            .arg(format!("{endpoint}/v1/whoami"))
            .output()
            .unwrap();
        answer = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && !answer.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        answer.contains(&creds.account) && answer.contains("root"),
        "whoami with the printed root credentials: {answer}"
    );
}

/// Entries of a directory (names), sorted; empty if it does not exist.
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------
// A database that does not exist
// ---------------------------------------------------------------------------------

#[test]
fn init_against_a_missing_postgres_database_leaves_nothing_then_succeeds() {
    let Some(case) = Case::new("missing", Backend::Postgres) else {
        return;
    };
    let conf = case.config("data", "");
    let out = ward_ca(&["init"], &conf);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("left no installation behind"),
        "{}",
        text(&out)
    );
    // Nothing at all: not the data dir, no key, no work dir.
    assert!(
        !case.data("data").exists(),
        "a failed init left {:?}",
        entries(&case.data("data"))
    );
    // Serve explains instead of inventing account 000000000000.
    let said = serve_refuses(&conf);
    assert!(said.contains("not initialised"), "{said}");
    // A second init fails the same way (it does not say "already initialised").
    let out = ward_ca(&["init"], &conf);
    assert!(!out.status.success());
    assert!(
        !text(&out).contains("already initialised"),
        "{}",
        text(&out)
    );
    // Once the database exists, init works, once, with a real account.
    case.create_database();
    let out = ward_ca(&["init"], &conf);
    assert!(out.status.success(), "{}", text(&out));
    let c = creds(&out);
    assert_ne!(c.account, "000000000000");
    assert_eq!(case.rows("data"), ("1".into(), "1".into()));
    assert_eq!(
        case.sql("data", "SELECT value FROM meta WHERE name = 'account_id'"),
        c.account
    );
    assert_eq!(entries(&case.data("data")), ["master.key", "tls"]);
    serve_works(&conf, case.port, &c);
}

// ---------------------------------------------------------------------------------
// A failure after the commit: the files cannot be moved into place
// ---------------------------------------------------------------------------------

fn failure_after_the_commit_is_finished_by_the_next_init(backend: Backend) {
    let Some(case) = Case::new(&format!("moves-{}", backend.tag()), backend) else {
        return;
    };
    case.create_database();
    // The TLS files go to DIR/blocker/tls/, but DIR/blocker is a regular
    // file: creating that directory fails (ENOTDIR) after the transaction
    // committed, whoever runs the test.
    let blocker = case.dir.join("blocker");
    std::fs::write(&blocker, "not a directory").unwrap();
    let conf = case.config(
        "data",
        &format!(
            "[tls]\ncert = {:?}\nkey = {:?}\n",
            blocker.join("tls/server.pem").display().to_string(),
            blocker.join("tls/server.key").display().to_string()
        ),
    );
    let out = ward_ca(&["init"], &conf);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("did not finish"), "{}", text(&out));
    // The rows committed; the files wait in DATA/.init; no master.key.
    assert_eq!(case.rows("data"), ("1".into(), "1".into()));
    let data = case.data("data");
    assert!(!data.join("master.key").exists());
    assert!(data.join(".init/manifest.json").exists());
    assert!(data.join(".init/master.key").exists());
    // serve refuses and says what to do.
    let said = serve_refuses(&conf);
    assert!(
        said.contains(".init")
            && said.contains("half-initialised")
            && said.contains("ward-ca init"),
        "{said}"
    );
    // The local commands refuse too (they would have written to it).
    let out = ward_ca(&["root-key", "create"], &conf);
    assert!(!out.status.success());
    assert!(text(&out).contains("half-initialised"), "{}", text(&out));
    // The next init, with the cause still there, explains and keeps state.
    let out = ward_ca(&["init"], &conf);
    assert!(!out.status.success());
    assert!(
        text(&out).contains(&blocker.display().to_string()),
        "{}",
        text(&out)
    );
    assert!(data.join(".init/manifest.json").exists());
    assert_eq!(case.rows("data"), ("1".into(), "1".into()));
    // Cause fixed: init finishes the same installation (no second one) and
    // shows the root credentials it had made.
    std::fs::remove_file(&blocker).unwrap();
    let out = ward_ca(&["init"], &conf);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("finished the interrupted installation"),
        "{}",
        text(&out)
    );
    let c = creds(&out);
    assert_eq!(case.rows("data"), ("1".into(), "1".into()));
    assert_eq!(
        case.sql("data", "SELECT id FROM root_access_keys"),
        c.id,
        "the credentials shown are the committed root key"
    );
    assert!(!data.join(".init").exists());
    assert!(data.join("master.key").exists());
    assert!(blocker.join("tls/server.pem").exists());
    serve_works(&conf, case.port, &c);
    // And it is not initialised twice.
    let out = ward_ca(&["init"], &conf);
    assert!(!out.status.success());
    assert!(text(&out).contains("already initialised"), "{}", text(&out));
}

#[test]
fn failure_after_the_commit_is_finished_by_the_next_init_sqlite() {
    failure_after_the_commit_is_finished_by_the_next_init(Backend::Sqlite);
}

#[test]
fn failure_after_the_commit_is_finished_by_the_next_init_postgres() {
    failure_after_the_commit_is_finished_by_the_next_init(Backend::Postgres);
}

// ---------------------------------------------------------------------------------
// A full data directory, at every fill level until init fits
// ---------------------------------------------------------------------------------

/// A tmpfs mounted for the test; unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// `None` if no tmpfs can be mounted here (not root).
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(at)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if ok {
            Some(Tmpfs(at.to_owned()))
        } else if std::env::var("WARD_REQUIRE_TMPFS").is_ok() {
            panic!("cannot mount a tmpfs here (WARD_REQUIRE_TMPFS is set)");
        } else {
            eprintln!("skipping: cannot mount a tmpfs here (needs root); scripts/faults runs it");
            None
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system of `dir` to ENOSPC with `dir/filler`, then gives
/// back `keep` bytes.
fn fill(dir: &Path, keep: u64) {
    use std::io::Write;
    let p = dir.join("filler");
    let mut f = std::fs::File::create(&p).unwrap();
    let chunk = vec![0x55u8; 64 * 1024];
    while let Ok(n) = f.write(&chunk) {
        if n == 0 {
            break;
        }
    }
    let len = std::fs::metadata(&p).unwrap().len();
    f.set_len(len.saturating_sub(keep)).unwrap();
}

#[test]
fn a_full_data_dir_at_any_level_leaves_a_state_the_next_init_completes_sqlite() {
    let Some(case) = Case::new("full", Backend::Sqlite) else {
        return;
    };
    let data = case.data("data");
    let Some(_fs) = Tmpfs::mount(&data, "4m") else {
        return;
    };
    let conf = case.config("data", "");
    let mut failed_at = Vec::new();
    let mut fitted = None;
    for kib in (0..=2048u64).step_by(32) {
        for e in entries(&data) {
            let _ = std::fs::remove_file(data.join(&e));
            let _ = std::fs::remove_dir_all(data.join(&e));
        }
        fill(&data, kib * 1024);
        let out = ward_ca(&["init"], &conf);
        if out.status.success() {
            // It fitted: a whole installation.
            let c = creds(&out);
            std::fs::remove_file(data.join("filler")).unwrap();
            assert_eq!(case.rows("data"), ("1".into(), "1".into()));
            serve_works(&conf, case.port, &c);
            fitted = Some(kib);
            break;
        }
        failed_at.push(kib);
        // Failed: no master.key; serve refuses with an explanation.
        assert!(!data.join("master.key").exists(), "{}", text(&out));
        let said = serve_refuses(&conf);
        assert!(
            said.contains("not initialised") || said.contains("half-initialised"),
            "{said}"
        );
        // Space back: the next init completes, with one installation.
        std::fs::remove_file(data.join("filler")).unwrap();
        let out = ward_ca(&["init"], &conf);
        assert!(out.status.success(), "after {kib} KiB free: {}", text(&out));
        let c = creds(&out);
        assert_eq!(case.rows("data"), ("1".into(), "1".into()));
        assert!(!data.join(".init").exists());
        if kib % 512 == 0 {
            serve_works(&conf, case.port, &c);
        }
    }
    eprintln!("init failed with {failed_at:?} KiB free and fitted with {fitted:?} KiB");
    assert!(!failed_at.is_empty(), "the disk never filled up");
    assert!(fitted.is_some(), "init never fitted in 2 MiB");
}

// ---------------------------------------------------------------------------------
// SIGKILL at spread-out moments
// ---------------------------------------------------------------------------------

fn killed_at_any_moment_the_next_init_completes(backend: Backend) {
    // How long one init takes here (only to spread the kills over it; no
    // assertion depends on time).
    let probe = Case::new(&format!("kill-probe-{}", backend.tag()), backend);
    let Some(probe) = probe else {
        return;
    };
    probe.create_database();
    let t = Instant::now();
    let out = ward_ca(&["init"], &probe.config("data", ""));
    assert!(out.status.success(), "{}", text(&out));
    let took = t.elapsed();
    drop(probe);
    let rounds = 10u32;
    let mut outcomes = std::collections::BTreeMap::<&str, u32>::new();
    for i in 0..rounds {
        let case = Case::new(&format!("kill{i}-{}", backend.tag()), backend).unwrap();
        case.create_database();
        let conf = case.config("data", "");
        let mut child = Command::new(WARD_CA)
            .args(["init", "--config"])
            .arg(&conf)
            .env("WARD_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(took * i / rounds);
        let _ = child.kill();
        let _ = child.wait();
        let data = case.data("data");
        let complete = data.join("master.key").exists() && !data.join(".init").exists();
        if !complete {
            let said = serve_refuses(&conf);
            assert!(
                said.contains("not initialised") || said.contains("half-initialised"),
                "{said}"
            );
        }
        let out = ward_ca(&["init"], &conf);
        let said = text(&out);
        let c = if out.status.success() {
            *outcomes
                .entry(if said.contains("finished the interrupted") {
                    "finished by the next init"
                } else {
                    "redone by the next init"
                })
                .or_default() += 1;
            creds(&out)
        } else {
            // The killed init had finished (maybe before printing).
            assert!(said.contains("already initialised"), "{said}");
            *outcomes.entry("had finished").or_default() += 1;
            let out = ward_ca(&["root-key", "create"], &conf);
            assert!(out.status.success(), "{}", text(&out));
            creds(&out)
        };
        assert_eq!(case.rows("data").0, "1");
        assert!(!data.join(".init").exists());
        serve_works(&conf, case.port, &c);
    }
    eprintln!("{backend:?}: init takes {took:?}; after SIGKILL: {outcomes:?}");
}

#[test]
fn killed_at_any_moment_the_next_init_completes_sqlite() {
    killed_at_any_moment_the_next_init_completes(Backend::Sqlite);
}

#[test]
fn killed_at_any_moment_the_next_init_completes_postgres() {
    killed_at_any_moment_the_next_init_completes(Backend::Postgres);
}

// ---------------------------------------------------------------------------------
// Concurrent inits
// ---------------------------------------------------------------------------------

/// Starts `ward-ca init` for each config at once; their outputs.
fn init_all_at_once(confs: &[PathBuf]) -> Vec<Output> {
    let children: Vec<_> = confs
        .iter()
        .map(|conf| {
            Command::new(WARD_CA)
                .args(["init", "--config"])
                .arg(conf)
                .env("WARD_LOG", "warn")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect()
}

fn concurrent_inits_of_one_data_dir_make_one_installation(backend: Backend) {
    let Some(case) = Case::new(&format!("same-{}", backend.tag()), backend) else {
        return;
    };
    case.create_database();
    let conf = case.config("data", "");
    let outs = init_all_at_once(&vec![conf.clone(); 4]);
    let ok: Vec<&Output> = outs.iter().filter(|o| o.status.success()).collect();
    assert_eq!(
        ok.len(),
        1,
        "{:?}",
        outs.iter().map(text).collect::<Vec<_>>()
    );
    for o in outs.iter().filter(|o| !o.status.success()) {
        assert!(text(o).contains("already initialised"), "{}", text(o));
    }
    assert_eq!(case.rows("data"), ("1".into(), "1".into()));
    assert_eq!(entries(&case.data("data"))[..2], ["master.key", "tls"]);
    serve_works(&conf, case.port, &creds(ok[0]));
}

#[test]
fn concurrent_inits_of_one_data_dir_make_one_installation_sqlite() {
    concurrent_inits_of_one_data_dir_make_one_installation(Backend::Sqlite);
}

#[test]
fn concurrent_inits_of_one_data_dir_make_one_installation_postgres() {
    concurrent_inits_of_one_data_dir_make_one_installation(Backend::Postgres);
}

#[test]
fn concurrent_inits_of_several_data_dirs_on_one_database_make_one_installation_postgres() {
    let Some(case) = Case::new("shared-db", Backend::Postgres) else {
        return;
    };
    case.create_database();
    let confs: Vec<PathBuf> = (0..3)
        .map(|i| case.config(&format!("data{i}"), ""))
        .collect();
    let outs = init_all_at_once(&confs);
    let winners: Vec<usize> = (0..3).filter(|i| outs[*i].status.success()).collect();
    assert_eq!(
        winners.len(),
        1,
        "{:?}",
        outs.iter().map(text).collect::<Vec<_>>()
    );
    for (i, out) in outs.iter().enumerate() {
        if i == winners[0] {
            continue;
        }
        assert!(
            text(out).contains("already holds installation"),
            "{}",
            text(out)
        );
        // The loser left nothing: no data dir at all.
        let d = case.data(&format!("data{i}"));
        assert!(!d.exists(), "{:?}", entries(&d));
    }
    assert_eq!(case.rows("data0"), ("1".into(), "1".into()));
    serve_works(&confs[winners[0]], case.port, &creds(&outs[winners[0]]));
}

// ---------------------------------------------------------------------------------
// Rows without files, files of another installation
// ---------------------------------------------------------------------------------

fn rows_without_files_are_explained(backend: Backend) {
    let Some(case) = Case::new(&format!("lostkey-{}", backend.tag()), backend) else {
        return;
    };
    case.create_database();
    let conf = case.config("data", "");
    let out = ward_ca(&["init"], &conf);
    assert!(out.status.success(), "{}", text(&out));
    let account = creds(&out).account;
    let key = case.data("data/master.key");
    let saved = std::fs::read(&key).unwrap();
    std::fs::remove_file(&key).unwrap();
    let said = serve_refuses(&conf);
    assert!(said.contains("restore master.key"), "{said}");
    let out = ward_ca(&["init"], &conf);
    assert!(!out.status.success());
    assert!(
        text(&out).contains(&format!("already holds installation {account}"))
            && text(&out).contains("restore master.key"),
        "{}",
        text(&out)
    );
    assert!(!key.exists(), "the refused init left a key");
    assert_eq!(case.rows("data"), ("1".into(), "1".into()));
    // The key of another installation does not open this one.
    let other = Case::new(&format!("otherkey-{}", backend.tag()), Backend::Sqlite).unwrap();
    let oconf = other.config("data", "");
    assert!(ward_ca(&["init"], &oconf).status.success());
    std::fs::copy(other.data("data/master.key"), &key).unwrap();
    let said = serve_refuses(&conf);
    assert!(said.contains("different installations"), "{said}");
    // The right key back: it serves again.
    std::fs::write(&key, saved).unwrap();
    let out = ward_ca(&["root-key", "create"], &conf);
    assert!(out.status.success(), "{}", text(&out));
    serve_works(&conf, case.port, &creds(&out));
}

#[test]
fn rows_without_files_are_explained_sqlite() {
    rows_without_files_are_explained(Backend::Sqlite);
}

#[test]
fn rows_without_files_are_explained_postgres() {
    rows_without_files_are_explained(Backend::Postgres);
}
