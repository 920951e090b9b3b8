//! Issue #10 item 5: `ward-ca init` leaves nothing that looks initialised
//! when it fails, refuses a database that already holds an installation,
//! and `serve` refuses a store without one instead of inventing account
//! 000000000000 — against the real binary, SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{postgres_admin_url, psql, WARD_CA};

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("ward-init-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn config(dir: &Path, data: &str, database: Option<&str>) -> PathBuf {
    let conf = dir.join(format!("{data}.toml"));
    let mut text = format!(
        "data_dir = {:?}\nlisten = \"127.0.0.1:1\"\n",
        dir.join(data).display().to_string()
    );
    if let Some(db) = database {
        text.push_str(&format!("database = {db:?}\n"));
    }
    std::fs::write(&conf, text).unwrap();
    conf
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

#[test]
fn failed_init_leaves_nothing_and_can_be_retried_postgres() {
    let Some(admin) = postgres_admin_url() else {
        return;
    };
    let dir = Dir::new("pg");
    let name = format!("ward_init_{}", std::process::id());
    let base = &admin[..admin.rfind('/').unwrap()];
    let url = format!("{base}/{name}");
    let conf = config(&dir.0, "data", Some(&url));
    // The database does not exist: init fails and leaves no master key.
    let out = ward_ca(&["init"], &conf);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        !dir.0.join("data/master.key").exists(),
        "a failed init left master.key: {}",
        text(&out)
    );
    // Fixed: the same init now works, once.
    psql(&admin, &format!("CREATE DATABASE {name}"));
    let out = ward_ca(&["init"], &conf);
    assert!(out.status.success(), "{}", text(&out));
    assert!(dir.0.join("data/master.key").exists());
    let account = psql(&url, "SELECT value FROM meta WHERE name = 'account_id'");
    assert_eq!(account.trim().len(), 12);
    assert_ne!(account.trim(), "000000000000");
    // Another installation pointed at the same database is refused, and
    // leaves no key of its own.
    let conf2 = config(&dir.0, "other", Some(&url));
    let out = ward_ca(&["init"], &conf2);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("already holds installation"),
        "{}",
        text(&out)
    );
    assert!(!dir.0.join("other/master.key").exists());
    let _ = Command::new("psql")
        .args([
            admin.as_str(),
            "-qAtc",
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        ])
        .output();
}

#[test]
fn serve_refuses_a_store_without_an_installation_sqlite() {
    let dir = Dir::new("sqlite");
    let conf = config(&dir.0, "data", None);
    let out = ward_ca(&["init"], &conf);
    assert!(out.status.success(), "{}", text(&out));
    // The database is lost (or an init failed half-way): serve refuses to
    // run on it rather than write account 000000000000.
    for f in ["ward.db", "ward.db-wal", "ward.db-shm"] {
        let _ = std::fs::remove_file(dir.0.join("data").join(f));
    }
    let out = ward_ca(&["serve"], &conf);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("holds no ward installation"),
        "{}",
        text(&out)
    );
    let rows = Command::new("sqlite3")
        .arg(dir.0.join("data/ward.db"))
        .arg("SELECT COUNT(*) FROM meta WHERE name = 'account_id'")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&rows.stdout).trim(), "0");
}
