//! Session recordings in asciicast v2 (playable with `asciinema play` and
//! `asciinema cat`): one file per terminating session, `ID.cast` under the
//! configured `recordings_dir` (0700; files 0600), named by the session
//! id.
//!
//! The header line (`version` 2, `width`/`height` from the pty request —
//! 80×24 without one —, `timestamp`, `env` with `TERM` and `SHELL`) is
//! written before the first event, so a pty request that precedes the
//! command sets the size. Then `[time, "o", data]` for output (stdout and
//! stderr), `[time, "i", data]` for input when `record_input` is on (off by
//! default: input carries passwords typed at prompts), `[time, "r",
//! "COLSxROWS"]` for resizes. Times are seconds since the session started,
//! from a monotonic clock. Bytes are decoded as UTF-8 across chunk
//! boundaries; invalid bytes become U+FFFD.
//!
//! Size cap: once a recording reaches `recording_max_bytes`, one last
//! output event says so and recording stops; the session goes on (the
//! audit event's byte counts still cover all of it).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The text of the marker written when the size cap is reached.
pub const CAP_MARKER: &str = "[ward-gateway: recording stopped: size limit reached]";

/// Creates `dir` (and parents) with mode 0700, or checks an existing one
/// is a directory and sets it to 0700.
pub fn prepare_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let m = std::fs::metadata(dir)?;
    if !m.is_dir() {
        return Err(std::io::Error::other(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// Carries the incomplete tail of a UTF-8 sequence to the next chunk.
#[derive(Default)]
struct Utf8 {
    carry: Vec<u8>,
}

impl Utf8 {
    fn decode(&mut self, data: &[u8]) -> String {
        let mut buf = std::mem::take(&mut self.carry);
        buf.extend_from_slice(data);
        let mut out = String::with_capacity(buf.len());
        let mut rest: &[u8] = &buf;
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.push_str(s);
                    break;
                }
                Err(e) => {
                    let (good, bad) = rest.split_at(e.valid_up_to());
                    out.push_str(std::str::from_utf8(good).unwrap_or_default());
                    match e.error_len() {
                        Some(n) => {
                            out.push('\u{FFFD}');
                            rest = &bad[n..];
                        }
                        None => {
                            // An incomplete sequence at the end: keep it.
                            self.carry = bad.to_vec();
                            break;
                        }
                    }
                }
            }
        }
        out
    }
}

/// One recording being written.
pub struct Recording {
    path: PathBuf,
    file: Option<File>,
    started: Instant,
    timestamp: i64,
    width: u32,
    height: u32,
    term: Option<String>,
    shell: Option<String>,
    header_written: bool,
    written: u64,
    max: u64,
    record_input: bool,
    out: Utf8,
    input: Utf8,
}

impl Recording {
    /// Creates `dir/ID.cast` (0600, must not exist).
    pub fn create(
        dir: &Path,
        id: &str,
        timestamp: i64,
        max: u64,
        record_input: bool,
    ) -> std::io::Result<Recording> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = dir.join(format!("{id}.cast"));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        Ok(Recording {
            path,
            file: Some(file),
            started: Instant::now(),
            timestamp,
            width: 80,
            height: 24,
            term: None,
            shell: None,
            header_written: false,
            written: 0,
            max,
            record_input,
            out: Utf8::default(),
            input: Utf8::default(),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The pty's terminal type and size (before the first event).
    pub fn pty(&mut self, term: &str, cols: u32, rows: u32) {
        if !term.is_empty() {
            self.term = Some(term.to_owned());
        }
        if cols > 0 && rows > 0 {
            self.width = cols;
            self.height = rows;
        }
    }

    /// An environment variable the client set (TERM and SHELL are kept).
    pub fn env(&mut self, name: &str, value: &str) {
        match name {
            "TERM" => self.term = Some(value.to_owned()),
            "SHELL" => self.shell = Some(value.to_owned()),
            _ => {}
        }
    }

    fn line(&mut self, text: &str) {
        let Some(f) = self.file.as_mut() else { return };
        let n = u64::try_from(text.len() + 1).unwrap_or(u64::MAX);
        if f.write_all(text.as_bytes())
            .and_then(|()| f.write_all(b"\n"))
            .is_err()
        {
            // A full disk stops the recording, not the session.
            self.file = None;
            return;
        }
        self.written = self.written.saturating_add(n);
    }

    fn header(&mut self) {
        if self.header_written {
            return;
        }
        self.header_written = true;
        let mut env = serde_json::Map::new();
        env.insert(
            "TERM".into(),
            self.term
                .clone()
                .map_or(serde_json::Value::Null, Into::into),
        );
        env.insert(
            "SHELL".into(),
            self.shell
                .clone()
                .map_or(serde_json::Value::Null, Into::into),
        );
        let h = serde_json::json!({
            "version": 2,
            "width": self.width,
            "height": self.height,
            "timestamp": self.timestamp,
            "env": env,
        });
        self.line(&h.to_string());
    }

    fn event(&mut self, kind: &str, data: &str) {
        if self.file.is_none() {
            return;
        }
        self.header();
        let t = self.started.elapsed().as_secs_f64();
        let ev = serde_json::json!([(t * 1e6).round() / 1e6, kind, data]).to_string();
        if self.written.saturating_add(ev.len() as u64 + 1) > self.max {
            let marker = serde_json::json!([
                (t * 1e6).round() / 1e6,
                "o",
                format!("\r\n{CAP_MARKER}\r\n")
            ])
            .to_string();
            self.line(&marker);
            self.close();
            return;
        }
        self.line(&ev);
    }

    /// Output from the target (stdout or stderr).
    pub fn output(&mut self, data: &[u8]) {
        if self.file.is_none() {
            return;
        }
        let s = self.out.decode(data);
        if !s.is_empty() {
            self.event("o", &s);
        }
    }

    /// Input from the client (only with `record_input`).
    pub fn input(&mut self, data: &[u8]) {
        if !self.record_input || self.file.is_none() {
            return;
        }
        let s = self.input.decode(data);
        if !s.is_empty() {
            self.event("i", &s);
        }
    }

    /// A window change.
    pub fn resize(&mut self, cols: u32, rows: u32) {
        if self.file.is_some() {
            self.event("r", &format!("{cols}x{rows}"));
        }
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Flushes and closes (the header is written even for a silent
    /// session).
    pub fn close(&mut self) {
        if self.file.is_some() {
            self.header();
        }
        if let Some(mut f) = self.file.take() {
            let _ = f.flush();
            let _ = f.sync_all();
        }
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn utf8_split_across_chunks_and_invalid_bytes() {
        let mut u = Utf8::default();
        let e = "é".as_bytes();
        assert_eq!(u.decode(&[b'a', e[0]]), "a");
        assert_eq!(u.decode(&[e[1], b'b']), "éb");
        assert_eq!(u.decode(&[0xff, b'c']), "\u{FFFD}c");
    }

    #[test]
    fn header_events_and_cap() {
        let dir = std::env::temp_dir().join(format!("ward-rec-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        prepare_dir(&dir).unwrap();
        let mut r = Recording::create(&dir, "s1", 1_700_000_000, 400, false).unwrap();
        r.pty("xterm-256color", 100, 30);
        r.input(b"secret\n");
        r.output(b"hello\r\n");
        for _ in 0..20 {
            r.output(b"0123456789");
        }
        r.output(b"after the cap");
        r.close();
        let text = std::fs::read_to_string(dir.join("s1.cast")).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["version"], 2);
        assert_eq!(lines[0]["width"], 100);
        assert_eq!(lines[0]["height"], 30);
        assert_eq!(lines[0]["env"]["TERM"], "xterm-256color");
        assert_eq!(lines[1][1], "o");
        assert_eq!(lines[1][2], "hello\r\n");
        assert!(!text.contains("secret"), "input recorded by default");
        assert!(!text.contains("after the cap"));
        assert!(lines.last().unwrap()[2]
            .as_str()
            .unwrap()
            .contains(CAP_MARKER));
        assert!(text.len() <= 400 + 200, "{}", text.len());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("s1.cast"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        // Not overwritten.
        assert!(Recording::create(&dir, "s1", 0, 400, false).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
