//! File modes of the SQLite store (issue 7, "smaller"): `ward.db` and its
//! `-wal`/`-shm` companions hold sealed secrets, password hashes and the
//! audit chain, so they are owner-only (0600) whatever the umask, after
//! `serve --dev`, after `init`, and an existing group/world-readable file is
//! narrowed the next time ward-ca opens it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Db, Server, WARD_CA};

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

fn companion(db: &Path, suffix: &str) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// A temporary directory with a config file for `init`, removed on drop.
struct Install {
    dir: PathBuf,
}

impl Install {
    fn new(tag: &str) -> Install {
        let dir = std::env::temp_dir().join(format!("ward-files-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("ca.toml"),
            format!(
                "data_dir = {:?}\nlisten = \"127.0.0.1:1\"\n",
                dir.join("data").display().to_string()
            ),
        )
        .unwrap();
        Install { dir }
    }

    fn db(&self) -> PathBuf {
        self.dir.join("data/ward.db")
    }

    fn ward_ca(&self, args: &[&str]) {
        let out = Command::new(WARD_CA)
            .args(args)
            .arg("--config")
            .arg(self.dir.join("ca.toml"))
            .env("WARD_LOG", "warn")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ward-ca {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Install {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn the_store_is_private_while_serve_dev_runs() {
    let Some(s) = Server::start(Db::Sqlite) else {
        return;
    };
    // A write, so that the WAL is in use.
    s.call(&s.root(), "POST", "/v1/users", Some(r#"{"name":"files"}"#))
        .ok();
    let db = s.data_dir().join("ward.db");
    assert_eq!(mode(&db), 0o600, "{}", db.display());
    // While the daemon runs in WAL mode both companions exist.
    for suffix in ["-wal", "-shm"] {
        let p = companion(&db, suffix);
        assert_eq!(mode(&p), 0o600, "{}", p.display());
    }
}

#[test]
fn the_store_is_private_after_init() {
    let i = Install::new("init");
    i.ward_ca(&["init"]);
    assert_eq!(mode(&i.db()), 0o600);
    for suffix in ["-wal", "-shm", "-journal"] {
        let p = companion(&i.db(), suffix);
        if p.exists() {
            assert_eq!(mode(&p), 0o600, "{}", p.display());
        }
    }
}

#[test]
fn an_existing_readable_store_is_narrowed_when_opened() {
    let i = Install::new("narrow");
    i.ward_ca(&["init"]);
    std::fs::set_permissions(i.db(), std::fs::Permissions::from_mode(0o644)).unwrap();
    // Any command that opens the store narrows it.
    i.ward_ca(&["root-key", "create"]);
    assert_eq!(mode(&i.db()), 0o600);
}

/// Regression: narrowing the file modes once opened and closed `ward.db`
/// inside the daemon while its first (init) connections were still open,
/// which drops every POSIX lock the daemon held on the file. Another
/// process's SQLite connection closing then took itself for the last one,
/// checkpointed and deleted the WAL, and the daemon's later commits went to
/// an unlinked file: acknowledged, then gone after a restart. A reader in
/// another process (here this test's own SQLite connection) opens and
/// closes between writes; every acknowledged write must be on disk after
/// the daemon stops.
#[test]
fn commits_survive_other_readers_of_the_store() {
    // The race depended on when the daemon's first connections closed, so
    // several fresh daemons are tried (on the broken build about one in five
    // lost writes).
    for _ in 0..8 {
        commits_survive_once();
    }
}

fn commits_survive_once() {
    let Some(mut s) = Server::start(Db::Sqlite) else {
        return;
    };
    let db = s.data_dir().join("ward.db");
    let url = format!("sqlite://{}", db.display());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let count = |rt: &tokio::runtime::Runtime| -> i64 {
        rt.block_on(async {
            use sqlx::Connection;
            sqlx::any::install_default_drivers();
            let mut c = sqlx::AnyConnection::connect(&url).await.unwrap();
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
                .fetch_one(&mut c)
                .await
                .unwrap();
            c.close().await.unwrap();
            n
        })
    };
    let root = s.root();
    s.call(&root, "GET", "/v1/users", None).ok();
    for i in 0..6 {
        assert_eq!(count(&rt), i, "acknowledged users missing while running");
        s.call(
            &root,
            "POST",
            "/v1/users",
            Some(&format!(r#"{{"name":"durable-{i}"}}"#)),
        )
        .ok();
    }
    s.stop();
    assert_eq!(count(&rt), 6, "acknowledged users lost after a clean stop");
    let out = Command::new("sqlite3")
        .arg(&db)
        .arg("SELECT COUNT(*) FROM users")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "6");
}
