//! Dashboard timings (BENCHMARKS.md), ignored by default; run in release:
//! `cargo nextest run --release -p ward-ca --test dashboard_bench --run-ignored only --no-capture`.
//! Time to the full first render (curl's time_total, the whole HTML
//! received) of the access map at 1,000 users × 200 hosts — host view
//! (1,000 users × 3 accounts) and user view (200 hosts × 3 accounts),
//! cold (a new store generation: snapshot, policies and page built
//! again) and warm (the same generation, from the page cache) — on the
//! batch path (`POST /v1/simulate/matrix`) and, as the baseline, the old
//! cell-by-cell path (`path=cells`: one `simulate/principal` dispatch
//! per cell); the whole 1,000 × 200 × 3 matrix in one API call; and the
//! users page at 10,000 users.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Db, Server};
use std::process::Command;

const PASSWORD: &str = "correct horse battery staple 42";

fn timed(s: &Server, cookie: &str, path: &str) -> (u16, f64, usize) {
    let out = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(&s.bundle)
        .args(["-H", &format!("cookie: {cookie}")])
        .args([
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{time_total} %{size_download}",
        ])
        .arg(format!("{}{path}", s.endpoint))
        .output()
        .unwrap();
    let t = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut it = t.split_whitespace();
    (
        it.next().unwrap().parse().unwrap(),
        it.next().unwrap().parse().unwrap(),
        it.next().unwrap().parse().unwrap(),
    )
}

fn create_users(s: &Server, from: usize, to: usize) {
    let root = s.root();
    let threads = 4;
    std::thread::scope(|sc| {
        for t in 0..threads {
            let root = root.clone();
            sc.spawn(move || {
                for i in (from + t..to).step_by(threads) {
                    // SQLite answers 503 (busy, Retry-After) to concurrent
                    // writers now and then: try again.
                    let body = format!(r#"{{"name":"u{i:05}"}}"#);
                    loop {
                        let (status, _, v) =
                            s.call_unchecked(&root, "POST", "/v1/users", Some(&body));
                        if status != 503 {
                            assert!((200..300).contains(&status), "{status}: {v}");
                            break;
                        }
                        std::thread::sleep(std::time::Duration::from_millis(200));
                    }
                }
            });
        }
    });
}

#[test]
#[ignore]
fn dashboard_timings() {
    let mut s = Server::start(Db::Sqlite).unwrap();
    let root = s.root();
    common::user_with_policy(
        &s,
        &root,
        "admin",
        r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#,
    );
    s.call(
        &root,
        "PUT",
        "/v1/users/admin/login-profile",
        Some(&serde_json::json!({"password": PASSWORD}).to_string()),
    )
    .ok();
    // A group granting deploy logins on half the hosts (by tag), with
    // every tenth user in it.
    let doc = serde_json::json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"host:Login","Resource":"*",
        "Condition":{"StringEquals":{"host:Principal":"deploy","ward:ResourceTag/env":"dev"}}}]}).to_string();
    s.call(
        &root,
        "POST",
        "/v1/policies",
        Some(&serde_json::json!({"name":"deploy","document":doc}).to_string()),
    )
    .ok();
    s.call(&root, "POST", "/v1/groups", Some(r#"{"name":"devs"}"#))
        .ok();
    s.call(
        &root,
        "PUT",
        "/v1/groups/devs/attached-policies/deploy",
        None,
    )
    .ok();
    for h in 0..200 {
        let env = if h % 2 == 0 { "dev" } else { "prod" };
        s.call(
            &root,
            "POST",
            "/v1/hosts",
            Some(&format!(
                r#"{{"name":"h{h:03}.example","tags":[{{"key":"env","value":"{env}"}}]}}"#
            )),
        )
        .ok();
    }
    let t0 = std::time::Instant::now();
    create_users(&s, 0, 999);
    eprintln!("created 1,000 users in {:?}", t0.elapsed());
    for i in (0..999).step_by(10) {
        s.call(
            &root,
            "PUT",
            &format!("/v1/groups/devs/users/u{i:05}"),
            None,
        )
        .ok();
    }
    let form = format!("userName=admin&password={}", PASSWORD.replace(' ', "+"));
    let out = Command::new("curl")
        .args(["-sS", "-i", "--cacert"])
        .arg(&s.bundle)
        .args(["--data", &form])
        .arg(format!("{}/ui/login", s.endpoint))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let cookie = text
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let mut bumps = 0;
    // A new generation: every cache keyed by it (snapshot, effective
    // policies, rendered pages) is cold again.
    let mut bump = |s: &Server| {
        bumps += 1;
        s.call(
            &root,
            "POST",
            "/v1/groups",
            Some(&format!(r#"{{"name":"bump{bumps}"}}"#)),
        )
        .ok();
    };
    let views = [
        (
            "host view, 1,000 users x 3 accounts",
            "/ui/access?host=h000.example&accounts=deploy%2Croot",
        ),
        (
            "user view, 200 hosts x 3 accounts",
            "/ui/access?user=u00010&accounts=deploy%2Croot",
        ),
    ];
    for (name, path) in views {
        bump(&s);
        let (st, cold, size) = timed(&s, &cookie, path);
        assert_eq!(st, 200);
        let (_, warm, _) = timed(&s, &cookie, path);
        bump(&s);
        let old_path = format!("{path}&path=cells");
        let (st, old_cold, old_size) = timed(&s, &cookie, &old_path);
        assert_eq!(st, 200);
        let (_, old_warm, _) = timed(&s, &cookie, &old_path);
        eprintln!(
            "access map, {name}: batch cold {cold:.3} s, warm {warm:.3} s, {size} bytes; \
             old cell-by-cell cold {old_cold:.3} s, warm {old_warm:.3} s, {old_size} bytes; \
             cold ratio old/batch {:.1}x",
            old_cold / cold
        );
    }
    // The whole matrix, every user x every host x 3 accounts, in one call.
    let whole = serde_json::json!({"accounts": ["deploy", "root"], "ownName": true}).to_string();
    for run in ["cold", "warm"] {
        if run == "cold" {
            bump(&s);
        }
        let t0 = std::time::Instant::now();
        let m = s.call(&root, "POST", "/v1/simulate/matrix", Some(&whole));
        let took = t0.elapsed();
        let m = m.ok();
        let rows = m["rows"].as_array().unwrap().len();
        let hosts = m["hosts"].as_array().unwrap().len();
        assert_eq!(hosts, 200);
        eprintln!(
            "POST /v1/simulate/matrix, {rows} users x {hosts} hosts x 3 accounts ({} cells), {run}: {:.3} s (signed curl call, JSON parsed)",
            rows * hosts * 3,
            took.as_secs_f64()
        );
    }
    let (_, users1k, _) = timed(&s, &cookie, "/ui/users");
    eprintln!("users page at 1,000 users: {users1k:.3} s");
    let t0 = std::time::Instant::now();
    create_users(&s, 999, 10_000);
    eprintln!("created 9,001 more users in {:?}", t0.elapsed());
    let mut times: Vec<f64> = (0..5).map(|_| timed(&s, &cookie, "/ui/users").1).collect();
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    eprintln!(
        "users page at 10,000 users (first page of 50): median {:.3} s of 5",
        times[2]
    );
    let (_, search, _) = timed(&s, &cookie, "/ui/users?q=u0999");
    eprintln!("users page at 10,000 users, name search (scans all pages): {search:.3} s");
    // The busy answers of SQLite to the concurrent creates above.
    let busy = s.count_5xx();
    eprintln!("503 (store busy) answers while creating users: {busy}");
    s.expect_5xx(busy);
}
