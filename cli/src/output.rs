//! Printing results: pretty JSON (the server's own), aligned tables and
//! `Field  value` blocks for people. Text from the server is escaped so
//! that control characters cannot drive the terminal.

use std::fmt::Write as _;

use serde_json::Value;

/// Escapes control characters (newlines, ESC, …) in server-supplied text.
pub(crate) fn clean(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_owned();
    }
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// Aligned columns with an upper-case header row; the last column is not
/// padded.
pub(crate) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| clean(c)).collect())
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = String>| {
        let cells: Vec<String> = cells.collect();
        let n = cells.len();
        let mut l = String::new();
        for (i, c) in cells.into_iter().enumerate() {
            l.push_str(&c);
            if i + 1 < n {
                let pad = widths.get(i).copied().unwrap_or(0) + 2 - c.chars().count();
                l.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut headers.iter().map(|h| h.to_uppercase()));
    for r in rows {
        line(&mut r.into_iter());
    }
    out
}

/// `Name   value` lines, names aligned.
pub(crate) fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (k, v) in pairs {
        let _ = writeln!(out, "{k:<width$}  {}", clean(v));
    }
    out
}

/// Pretty JSON with a trailing newline.
pub(crate) fn json(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string());
    s.push('\n');
    s
}

/// Prints to stdout, ignoring a closed pipe (`ward … | head`).
pub(crate) fn print(s: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(s.as_bytes());
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn tables() {
        let rows = vec![
            vec!["alice".to_owned(), "200000".to_owned(), "/".to_owned()],
            vec!["b".to_owned(), "1".to_owned(), "/x/\u{1b}[2J".to_owned()],
        ];
        assert_eq!(
            table(&["name", "uid", "path"], &rows),
            "NAME   UID     PATH\nalice  200000  /\nb      1       /x/\\u{1b}[2J\n"
        );
        assert_eq!(table(&["a", "b"], &[]), "A  B\n");
        assert_eq!(
            fields(&[("Name", "alice".into()), ("Uid", "1".into())]),
            "Name  alice\nUid   1\n"
        );
        assert_eq!(clean("a\nb"), "a\\nb");
    }
}
