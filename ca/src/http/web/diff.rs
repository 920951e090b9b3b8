//! Policy version diff: two versions of a managed policy, each read with
//! `GET /v1/policies/NAME/versions/V` as the signed-in caller
//! (`iam:GetPolicyVersion`), pretty-printed (keys sorted, so formatting
//! never shows as a change) and compared line by line (longest common
//! subsequence). Lines are written through maud — escaped, inert — marked
//! `+`/`-` with a class and a text marker, not colour alone.

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::html;

use crate::http::dispatch::{segment, Failure};
use crate::http::web::page::{self, href};
use crate::http::web::session::Ctx;
use crate::service::request::P;
use crate::state::Shared;

/// Most lines compared after the common head and tail are set aside (the
/// table is this squared); larger changes are shown as removed + added.
const MAX_MIDDLE: usize = 2000;

/// One line of a diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line<'a> {
    /// In both.
    Same(&'a str),
    /// Only in the old text.
    Removed(&'a str),
    /// Only in the new text.
    Added(&'a str),
}

/// The line diff of `old` and `new`.
pub fn lines<'a>(old: &'a str, new: &'a str) -> Vec<Line<'a>> {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let head = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let tail = a[head..]
        .iter()
        .rev()
        .zip(b[head..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (ma, mb) = (&a[head..a.len() - tail], &b[head..b.len() - tail]);
    let mut out: Vec<Line<'_>> = a[..head].iter().copied().map(Line::Same).collect();
    if ma.len() > MAX_MIDDLE || mb.len() > MAX_MIDDLE {
        out.extend(ma.iter().copied().map(Line::Removed));
        out.extend(mb.iter().copied().map(Line::Added));
    } else {
        // lcs[i][j]: the LCS length of ma[i..] and mb[j..].
        let (n, m) = (ma.len(), mb.len());
        let mut lcs = vec![0u32; (n + 1) * (m + 1)];
        let at = |i: usize, j: usize| i * (m + 1) + j;
        for i in (0..n).rev() {
            for j in (0..m).rev() {
                lcs[at(i, j)] = if ma[i] == mb[j] {
                    lcs[at(i + 1, j + 1)] + 1
                } else {
                    lcs[at(i + 1, j)].max(lcs[at(i, j + 1)])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < n || j < m {
            if i < n && j < m && ma[i] == mb[j] {
                out.push(Line::Same(ma[i]));
                i += 1;
                j += 1;
            } else if i < n && (j == m || lcs[at(i + 1, j)] >= lcs[at(i, j + 1)]) {
                // Removals first on a tie: "-old" then "+new".
                out.push(Line::Removed(ma[i]));
                i += 1;
            } else {
                out.push(Line::Added(mb[j]));
                j += 1;
            }
        }
    }
    out.extend(a[a.len() - tail..].iter().copied().map(Line::Same));
    out
}

#[derive(Debug, Default, serde::Deserialize)]
struct Params {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

/// `GET /ui/policy-diff/{name}?from=V&to=V`.
pub(crate) async fn show(State(st): State<Shared>, P(name): P<String>, req: Request) -> Response {
    let p: Params = serde_urlencoded::from_str(req.uri().query().unwrap_or("")).unwrap_or_default();
    let ctx = match Ctx::get(&st, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let seg = segment(&name);
    let mut docs = Vec::with_capacity(2);
    for (field, v) in [("from", &p.from), ("to", &p.to)] {
        if v.is_empty() {
            let f = Failure {
                status: StatusCode::BAD_REQUEST,
                code: "InvalidInput".into(),
                message: format!("pick two versions: {field} is missing"),
                field: Some(field.into()),
            };
            return page::fail(&ctx, &f);
        }
        let path = format!("/v1/policies/{seg}/versions/{}", segment(v));
        match ctx.call(Method::GET, &path, None).await {
            Ok(ver) => docs.push(match &ver["document"] {
                serde_json::Value::String(s) => s.clone(),
                d => serde_json::to_string_pretty(d).unwrap_or_default(),
            }),
            Err(f) => return page::fail(&ctx, &f),
        }
    }
    let (old, new) = (&docs[0], &docs[1]);
    let diff = lines(old, new);
    let changed = diff.iter().filter(|l| !matches!(l, Line::Same(_))).count();
    let base = href("policies", &name);
    let body = html! {
        h1 { "Policy " span class="name" { (name) } ": " (p.from) " → " (p.to) }
        p { a href=(base) { "Back to the policy" } }
        @if changed == 0 {
            p class="note" role="status" { "The two versions are the same document." }
        } @else {
            p class="hint" { (changed) " changed line(s): " span class="diff-del" { "− removed in " (p.to) } ", " span class="diff-add" { "+ added in " (p.to) } "." }
        }
        pre class="code diff" aria-label="Line diff" {
            @for l in &diff {
                @match l {
                    Line::Same(t) => { span class="diff-same" { "  " (t) "\n" } }
                    Line::Removed(t) => { del class="diff-del" { "- " (t) "\n" } }
                    Line::Added(t) => { ins class="diff-add" { "+ " (t) "\n" } }
                }
            }
        }
    };
    page::ok(&ctx, &format!("Policy {name} diff"), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(d: &[Line<'_>]) -> String {
        d.iter()
            .map(|l| match l {
                Line::Same(t) => format!(" {t}"),
                Line::Removed(t) => format!("-{t}"),
                Line::Added(t) => format!("+{t}"),
            })
            .collect::<Vec<_>>()
            .join("|")
    }

    #[test]
    fn line_diffs() {
        assert_eq!(render(&lines("a\nb\nc", "a\nb\nc")), " a| b| c");
        assert_eq!(render(&lines("a\nb\nc", "a\nx\nc")), " a|-b|+x| c");
        assert_eq!(render(&lines("a\nc", "a\nb\nc")), " a|+b| c");
        assert_eq!(render(&lines("a\nb\nc", "c")), "-a|-b| c");
        assert_eq!(render(&lines("", "x")), "+x");
        assert_eq!(render(&lines("x\ny", "")), "-x|-y");
        // A moved line is one removal and one addition, the rest kept.
        assert_eq!(render(&lines("a\nb\nc\nd", "b\nc\na\nd")), "-a| b| c|+a| d");
    }

    #[test]
    fn a_huge_change_is_removed_then_added() {
        let old: String = (0..MAX_MIDDLE + 1).map(|i| format!("o{i}\n")).collect();
        let new: String = (0..3).map(|i| format!("n{i}\n")).collect();
        let d = lines(&old, &new);
        assert_eq!(d.len(), MAX_MIDDLE + 4);
        assert_eq!(d[MAX_MIDDLE + 1], Line::Added("n0"));
    }
}
