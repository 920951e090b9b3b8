//! ward-ca's log stream (issue #8 item 8): plain text without colour codes
//! when stderr is not a terminal, and one JSON object per line with
//! `--log-format json`. The real binary, its stderr captured to a file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};

const WARD_CA: &str = env!("CARGO_BIN_EXE_ward-ca");

/// Starts `serve --dev` with `args`, waits for the banner, stops it and
/// returns what it wrote to stderr.
fn stderr_of(tag: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let dir = std::env::temp_dir().join(format!("ward-ca-log-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = dir.join("stderr.log");
    let mut child = Command::new(WARD_CA)
        .args(args)
        .args(["serve", "--dev", "--data-dir"])
        .arg(dir.join("data"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .envs(env.iter().copied())
        .env("WARD_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut r = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while r.read_line(&mut line).unwrap_or(0) > 0 {
        if line.contains("WARD_SECRET_ACCESS_KEY") {
            break;
        }
        line.clear();
    }
    // The listener logs once it is up.
    for _ in 0..100 {
        if std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("serving HTTPS")
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    text
}

#[test]
fn no_colour_codes_off_a_terminal() {
    let text = stderr_of("text", &[], &[]);
    assert!(!text.trim().is_empty(), "no log at info level");
    assert!(
        !text.contains('\u{1b}'),
        "colour codes in a non-terminal log: {text:?}"
    );
}

#[test]
fn json_log_lines() {
    for (tag, args, env) in [
        ("flag", &["--log-format", "json"][..], &[][..]),
        ("env", &[][..], &[("WARD_LOG_FORMAT", "json")][..]),
    ] {
        let text = stderr_of(tag, args, env);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        assert!(!lines.is_empty(), "no log lines");
        for l in lines {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
            assert!(v["level"].is_string() && v["timestamp"].is_string(), "{l}");
        }
    }
}
