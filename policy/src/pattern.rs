//! Patterns: literal text, `*`/`?` wildcards and `${…}` policy variables,
//! compiled once and matched without allocation.
//!
//! A policy variable is resolved from the request context at match time and
//! its value is always matched *literally*: a user named `a*` cannot widen a
//! `StringLike` pattern by choosing their own name. An unresolved variable
//! without a default makes the element not match (AWS semantics). `${*}`,
//! `${?}` and `${$}` are escapes for the literal characters.

use crate::context::{key_id, Context, KeyId};

/// One piece of a compiled pattern.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    /// Literal text, matched exactly.
    Lit(Box<str>),
    /// `*`: any run of characters, including none.
    Star,
    /// `?`: exactly one character.
    One,
    /// `${key}` or `${key, 'default'}`.
    Var(KeyId, Option<Box<str>>),
}

/// How to read a pattern's text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Syntax {
    /// `*` and `?` are wildcards (otherwise literal).
    pub wildcards: bool,
    /// `${…}` is a policy variable (Version 2012-10-17 only).
    pub variables: bool,
}

/// A compiled pattern.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Pattern {
    toks: Box<[Tok]>,
    /// Some token is a `${…}` variable.
    vars: bool,
    /// Some token is a `*` or `?` wildcard.
    wild: bool,
}

/// Patterns up to this many tokens resolve their variables once per match
/// into a stack array; longer ones resolve them as they go.
const MAX_RESOLVED: usize = 16;

impl Pattern {
    /// Compiles `text`; errors describe malformed variables.
    pub(crate) fn compile(text: &str, syntax: Syntax) -> Result<Pattern, String> {
        let mut toks: Vec<Tok> = Vec::new();
        let mut lit = String::new();
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            if syntax.variables && rest.starts_with("${") {
                let Some(end) = rest.find('}') else {
                    return Err(format!("unterminated policy variable in {text:?}"));
                };
                let inner = &rest[2..end];
                rest = &rest[end + 1..];
                match inner {
                    "*" => lit.push('*'),
                    "?" => lit.push('?'),
                    "$" => lit.push('$'),
                    _ => {
                        flush(&mut lit, &mut toks);
                        toks.push(parse_var(inner, text)?);
                    }
                }
                continue;
            }
            rest = &rest[c.len_utf8()..];
            match c {
                '*' if syntax.wildcards => {
                    flush(&mut lit, &mut toks);
                    if toks.last() != Some(&Tok::Star) {
                        toks.push(Tok::Star);
                    }
                }
                '?' if syntax.wildcards => {
                    flush(&mut lit, &mut toks);
                    toks.push(Tok::One);
                }
                _ => lit.push(c),
            }
        }
        flush(&mut lit, &mut toks);
        let vars = toks.iter().any(|t| matches!(t, Tok::Var(..)));
        let wild = toks.iter().any(|t| matches!(t, Tok::Star | Tok::One));
        Ok(Pattern {
            toks: toks.into_boxed_slice(),
            vars,
            wild,
        })
    }

    /// True if the pattern has `${…}` variables.
    pub(crate) fn has_vars(&self) -> bool {
        self.vars
    }

    /// The pattern's text if it is a plain literal (no wildcard, no variable).
    pub(crate) fn as_literal(&self) -> Option<&str> {
        match &*self.toks {
            [] => Some(""),
            [Tok::Lit(s)] => Some(s),
            _ => None,
        }
    }

    /// Matches `text`. `None` when a variable could not be resolved.
    #[inline]
    pub(crate) fn matches(&self, text: &str, ctx: &Context) -> Option<bool> {
        // Fast paths for the shapes most policies use.
        match &*self.toks {
            [] => return Some(text.is_empty()),
            [Tok::Star] => return Some(true),
            [Tok::Lit(l)] => return Some(**l == *text),
            [Tok::Lit(l), Tok::Star] => return Some(text.starts_with(&**l)),
            [Tok::Var(k, d)] => return ctx.variable(k, d.as_deref()).map(|v| v == text),
            _ => {}
        }
        if !self.vars {
            return Some(glob(&self.toks, text, |i| literal(&self.toks[i])));
        }
        if self.toks.len() > MAX_RESOLVED {
            // A missing variable fails the match whatever the text is.
            self.resolvable(ctx)?;
            return Some(glob(&self.toks, text, |i| piece(&self.toks[i], ctx)));
        }
        let mut resolved = [""; MAX_RESOLVED];
        for (slot, t) in resolved.iter_mut().zip(self.toks.iter()) {
            *slot = match t {
                Tok::Var(k, d) => ctx.variable(k, d.as_deref())?,
                t => literal(t),
            };
        }
        let pieces = &resolved[..self.toks.len()];
        if !self.wild {
            return Some(concat_eq(pieces, text));
        }
        Some(glob(&self.toks, text, |i| pieces[i]))
    }

    /// `Some(())` if every variable in the pattern has a value.
    pub(crate) fn resolvable(&self, ctx: &Context) -> Option<()> {
        for t in self.toks.iter() {
            if let Tok::Var(k, d) = t {
                ctx.variable(k, d.as_deref())?;
            }
        }
        Some(())
    }

    /// Matches `text` ignoring case (Unicode simple lowercase); only used for
    /// literal patterns of the `…IgnoreCase` operators.
    pub(crate) fn eq_ignore_case(&self, text: &str, ctx: &Context) -> Option<bool> {
        self.resolvable(ctx)?;
        let a = self
            .toks
            .iter()
            .flat_map(|t| piece(t, ctx).chars())
            .flat_map(char::to_lowercase);
        let b = text.chars().flat_map(char::to_lowercase);
        Some(a.eq(b))
    }
}

/// The text of a token: a literal's text, a variable's value ("" if
/// unresolved: callers check resolution first), a wildcard's character.
fn piece<'a>(t: &'a Tok, ctx: &'a Context) -> &'a str {
    match t {
        Tok::Var(k, d) => ctx.variable(k, d.as_deref()).unwrap_or(""),
        t => literal(t),
    }
}

/// The text of a non-variable token.
fn literal(t: &Tok) -> &str {
    match t {
        Tok::Lit(s) => s,
        Tok::Star => "*",
        Tok::One => "?",
        Tok::Var(..) => "",
    }
}

/// True if the concatenation of `pieces` equals `text`.
fn concat_eq(pieces: &[&str], mut text: &str) -> bool {
    for p in pieces {
        match text.strip_prefix(p) {
            Some(rest) => text = rest,
            None => return false,
        }
    }
    text.is_empty()
}

fn flush(lit: &mut String, toks: &mut Vec<Tok>) {
    if !lit.is_empty() {
        toks.push(Tok::Lit(std::mem::take(lit).into_boxed_str()));
    }
}

fn parse_var(inner: &str, whole: &str) -> Result<Tok, String> {
    let (name, default) = match inner.split_once(',') {
        Some((name, def)) => {
            let def = def.trim();
            let def = def
                .strip_prefix('\'')
                .and_then(|d| d.strip_suffix('\''))
                .ok_or_else(|| {
                    format!("policy variable default must be quoted like ${{key, 'value'}} in {whole:?}")
                })?;
            (name.trim(), Some(def.into()))
        }
        None => (inner.trim(), None),
    };
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(format!(
            "malformed policy variable ${{{inner}}} in {whole:?}"
        ));
    }
    Ok(Tok::Var(key_id(name), default))
}

/// Position in a pattern: token index and byte offset inside a literal.
#[derive(Clone, Copy)]
struct Pos {
    tok: usize,
    off: usize,
}

enum Elem {
    Char(char),
    Star,
    One,
    End,
    // A literal or variable piece whose remaining text is empty: skip it.
    Skip,
}

fn elem<'a>(toks: &[Tok], p: Pos, piece: &impl Fn(usize) -> &'a str) -> Elem {
    match toks.get(p.tok) {
        None => Elem::End,
        Some(Tok::Star) => Elem::Star,
        Some(Tok::One) => Elem::One,
        Some(_) => match piece(p.tok)[p.off..].chars().next() {
            Some(c) => Elem::Char(c),
            None => Elem::Skip,
        },
    }
}

/// Wildcard match with single-star backtracking: O(len(text) × len(pattern))
/// in the worst case, never exponential.
/// `piece(i)` is the text of literal or variable token `i`.
fn glob<'a>(toks: &[Tok], text: &str, piece: impl Fn(usize) -> &'a str) -> bool {
    let next_tok = |p: Pos| Pos {
        tok: p.tok + 1,
        off: 0,
    };
    let mut p = Pos { tok: 0, off: 0 };
    let mut t = 0usize;
    let mut star: Option<(Pos, usize)> = None;
    loop {
        let e = elem(toks, p, &piece);
        if let Elem::Skip = e {
            p = next_tok(p);
            continue;
        }
        if let Elem::Star = e {
            p = next_tok(p);
            star = Some((p, t));
            continue;
        }
        let tc = text[t..].chars().next();
        let Some(tc) = tc else {
            // Text consumed: the rest of the pattern must be empty or stars.
            return rest_is_empty(toks, p, &piece);
        };
        let advanced = match e {
            Elem::One => {
                p = next_tok(p);
                true
            }
            Elem::Char(c) if c == tc => {
                p.off += c.len_utf8();
                true
            }
            _ => false,
        };
        if advanced {
            t += tc.len_utf8();
            continue;
        }
        match star {
            Some((sp, st)) => {
                let Some(c) = text[st..].chars().next() else {
                    return false;
                };
                let st = st + c.len_utf8();
                star = Some((sp, st));
                p = sp;
                t = st;
            }
            None => return false,
        }
    }
}

fn rest_is_empty<'a>(toks: &[Tok], mut p: Pos, piece: &impl Fn(usize) -> &'a str) -> bool {
    loop {
        match elem(toks, p, piece) {
            Elem::End => return true,
            Elem::Star | Elem::Skip => {
                p = Pos {
                    tok: p.tok + 1,
                    off: 0,
                }
            }
            Elem::Char(_) | Elem::One => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::ContextValue;

    const GLOB: Syntax = Syntax {
        wildcards: true,
        variables: true,
    };

    fn check(pattern: &str, text: &str, expected: Option<bool>) {
        let mut ctx = Context::new();
        ctx.insert("ward:username", ContextValue::from("alice"));
        ctx.insert("ward:PrincipalTag/team", ContextValue::from("a*"));
        let p = Pattern::compile(pattern, GLOB).unwrap();
        assert_eq!(p.matches(text, &ctx), expected, "{pattern:?} vs {text:?}");
    }

    #[test]
    fn globs() {
        check("*", "", Some(true));
        check("*", "anything", Some(true));
        check("a*c", "abbbc", Some(true));
        check("a*c", "abbb", Some(false));
        check("a?c", "abc", Some(true));
        check("a?c", "ac", Some(false));
        check("?", "é", Some(true));
        check("*a*a*a*a*b", &"a".repeat(200), Some(false));
        check("home/${ward:username}/*", "home/alice/x", Some(true));
        check("home/${ward:username}/*", "home/bob/x", Some(false));
        check("home/${aws:username}", "home/alice", Some(true));
        check("${ward:PrincipalTag/team}", "abc", Some(false));
        check("${ward:PrincipalTag/team}", "a*", Some(true));
        check("${ward:missing}", "x", None);
        check("${ward:missing, 'x'}", "x", Some(true));
        check("${ward:missing,'def'}-*", "def-1", Some(true));
        check("lit${*}${?}${$}", "lit*?$", Some(true));
        check("lit${*}", "litX", Some(false));
        check("", "", Some(true));
        check("", "a", Some(false));
    }

    #[test]
    fn literal_syntax() {
        let ctx = Context::new();
        let p = Pattern::compile(
            "a*${x}",
            Syntax {
                wildcards: false,
                variables: false,
            },
        )
        .unwrap();
        assert_eq!(p.matches("a*${x}", &ctx), Some(true));
        assert_eq!(p.matches("abc", &ctx), Some(false));
    }

    #[test]
    fn malformed_variables() {
        assert!(Pattern::compile("${ward:username", GLOB).is_err());
        assert!(Pattern::compile("${}", GLOB).is_err());
        assert!(Pattern::compile("${a, b}", GLOB).is_err());
    }
}
