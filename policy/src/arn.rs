//! ARNs: validating resource patterns and matching them against request ARNs.
//!
//! An ARN is `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`. Patterns match
//! segment by segment; wildcards never cross a `:` between the first five
//! segments, and the resource part (which may itself contain colons) is
//! matched as one string. A pattern with fewer segments matches its last
//! segment against the rest of the ARN.

use crate::context::Context;
use crate::pattern::{Pattern, Syntax};

/// Longest resource ARN, in characters, in a policy or a request: AWS's
/// limit. It also bounds the text every resource pattern is matched
/// against.
pub const MAX_ARN_CHARS: usize = 2048;

/// Partitions a policy may name: ward's own and AWS's, so that AWS policies
/// parse unchanged (SPEC §4).
pub const PARTITIONS: &[&str] = &[
    "ward",
    "aws",
    "aws-cn",
    "aws-us-gov",
    "aws-iso",
    "aws-iso-b",
];

/// Resource-type prefixes of the IAM service (AWS's list plus `root`).
const IAM_PREFIXES: &[&str] = &[
    "user/",
    "federated-user/",
    "role/",
    "group/",
    "instance-profile/",
    "mfa/",
    "server-certificate/",
    "policy/",
    "sms-mfa/",
    "saml-provider/",
    "oidc-provider/",
    "report/",
    "access-report/",
    "root",
];

/// Resource-type prefixes of ward's own services in the `ward` partition.
const WARD_PREFIXES: &[(&str, &[&str])] = &[
    ("sts", &["assumed-role/", "federated-user/"]),
    ("host", &["host/"]),
    ("ca", &["authority/", "certificate/"]),
    ("identity", &["identity-pool/"]),
    ("audit", &["log", "recording/"]),
];

/// A compiled resource (or `Arn*` condition) pattern.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ArnPattern {
    /// `*`: everything, ARN or not.
    Any,
    /// A pattern without wildcards or variables: plain string equality.
    Exact(Box<str>),
    /// Per-segment patterns; the first is `arn`. The leading segments that
    /// are plain literals are checked at once as `prefix` (each followed by
    /// its `:`), the rest from segment `first` on. `vars`: some segment has
    /// a policy variable.
    Segments {
        prefix: Box<str>,
        first: usize,
        segs: Box<[Pattern]>,
        vars: bool,
    },
}

/// Where the first five colons of an ARN are, found once per request so
/// that every resource pattern can take its segments without re-splitting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ArnCuts {
    cuts: [usize; 5],
    n: usize,
}

impl ArnCuts {
    pub(crate) fn new(text: &str) -> ArnCuts {
        let mut cuts = [0; 5];
        let mut n = 0;
        for (i, b) in text.bytes().enumerate() {
            if b == b':' {
                cuts[n] = i;
                n += 1;
                if n == 5 {
                    break;
                }
            }
        }
        ArnCuts { cuts, n }
    }

    /// Piece `i` of `text` split into `k` pieces at its first `k - 1`
    /// colons (as `splitn(k, ':')`); `None` if there are fewer pieces.
    #[inline]
    fn piece<'a>(&self, text: &'a str, i: usize, k: usize) -> Option<&'a str> {
        if i >= k || self.n < k - 1 {
            return None;
        }
        let start = if i == 0 { 0 } else { self.cuts[i - 1] + 1 };
        let end = if i + 1 == k { text.len() } else { self.cuts[i] };
        text.get(start..end)
    }
}

impl ArnPattern {
    /// Compiles a validated pattern.
    pub(crate) fn compile(text: &str, variables: bool) -> Result<ArnPattern, String> {
        if text == "*" {
            return Ok(ArnPattern::Any);
        }
        let syntax = Syntax {
            wildcards: true,
            variables,
        };
        let segs = split_pattern(text, variables)
            .into_iter()
            .map(|s| Pattern::compile(s, syntax))
            .collect::<Result<Vec<_>, _>>()?;
        let vars = segs.iter().any(Pattern::has_vars);
        let first = segs.iter().take_while(|s| s.as_literal().is_some()).count();
        if first == segs.len() {
            let pieces: Vec<&str> = segs.iter().filter_map(Pattern::as_literal).collect();
            return Ok(ArnPattern::Exact(pieces.join(":").into_boxed_str()));
        }
        let mut prefix = String::new();
        for s in segs.iter().take(first).filter_map(Pattern::as_literal) {
            prefix.push_str(s);
            prefix.push(':');
        }
        Ok(ArnPattern::Segments {
            prefix: prefix.into_boxed_str(),
            first,
            segs: segs.into_boxed_slice(),
            vars,
        })
    }

    /// Matches `arn`; `None` when a policy variable is unresolved.
    pub(crate) fn matches(&self, arn: &str, ctx: &Context) -> Option<bool> {
        self.matches_cut(arn, &ArnCuts::new(arn), ctx)
    }

    /// Matches `arn`, whose colons are `cuts`.
    #[inline]
    pub(crate) fn matches_cut(&self, arn: &str, cuts: &ArnCuts, ctx: &Context) -> Option<bool> {
        let (prefix, first, segs, vars) = match self {
            ArnPattern::Any => return Some(true),
            ArnPattern::Exact(e) => return Some(**e == *arn),
            ArnPattern::Segments {
                prefix,
                first,
                segs,
                vars,
            } => (prefix, *first, segs, *vars),
        };
        if vars {
            // An unresolved variable anywhere decides, whatever the text.
            for seg in segs.iter() {
                seg.resolvable(ctx)?;
            }
        }
        // Literal segments contain no colon, so a prefix match is exactly
        // segment-by-segment equality of the leading segments.
        if !arn.starts_with(&**prefix) {
            return Some(false);
        }
        let k = segs.len();
        for (i, seg) in segs.iter().enumerate().skip(first) {
            let Some(piece) = cuts.piece(arn, i, k) else {
                return Some(false);
            };
            if !seg.matches(piece, ctx)? {
                return Some(false);
            }
        }
        Some(true)
    }
}

/// Splits an ARN pattern on `:` (at most six pieces), ignoring colons inside
/// `${…}` policy variables.
fn split_pattern(text: &str, variables: bool) -> Vec<&str> {
    let mut out = Vec::with_capacity(6);
    let bytes = text.as_bytes();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() && out.len() < 5 {
        if variables && bytes[i] == b'$' && bytes.get(i + 1) == Some(&b'{') {
            match text[i..].find('}') {
                Some(end) => {
                    i += end + 1;
                    continue;
                }
                None => break,
            }
        }
        if bytes[i] == b':' {
            out.push(&text[start..i]);
            start = i + 1;
        }
        i += 1;
    }
    out.push(&text[start..]);
    out
}

/// Validates a `Resource`/`NotResource` entry; the message names the fault.
pub(crate) fn validate_resource(text: &str, variables: bool) -> Result<(), String> {
    if text == "*" {
        return Ok(());
    }
    let chars = text.chars().count();
    if chars > MAX_ARN_CHARS {
        return Err(format!(
            "resource is {chars} characters; the limit is {MAX_ARN_CHARS}"
        ));
    }
    let shape = "must be in ARN format (arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE) or \"*\"";
    let parts = split_pattern(text, variables);
    if parts.len() < 2 || parts[0] != "arn" {
        return Err(format!("resource {text:?} {shape}"));
    }
    if !PARTITIONS.contains(&parts[1]) {
        return Err(format!(
            "partition {:?} is not valid for resource {text:?} (expected one of {})",
            parts[1],
            PARTITIONS.join(", ")
        ));
    }
    let service = parts.get(2).copied().unwrap_or("");
    if service.is_empty() || service.contains(['*', '?', '$']) {
        return Err(format!(
            "resource {text:?}: the service must be fully qualified and cannot contain wildcards"
        ));
    }
    if parts.len() < 6 {
        // AWS accepts a truncated ARN ("arn:aws:s3") only if no segment is
        // empty; "arn:aws:s3::bucket" is a mistyped full ARN.
        if parts.iter().any(|p| p.is_empty()) {
            return Err(format!(
                "resource {text:?} {shape}: it has {} of 6 segments and an empty one",
                parts.len()
            ));
        }
        return Ok(());
    }
    let (region, resource) = (parts[3], parts[5]);
    let starts_wild = resource.starts_with(['*', '?']) || resource.starts_with("${");
    if service == "iam" {
        if !region.is_empty() {
            return Err(format!(
                "IAM resource {text:?} cannot contain region information"
            ));
        }
        if !starts_wild && !IAM_PREFIXES.iter().any(|p| resource.starts_with(p)) {
            return Err(format!(
                "IAM resource path in {text:?} must be \"*\" or start with one of {}",
                IAM_PREFIXES.join(", ")
            ));
        }
    }
    if parts[1] == "ward" {
        if let Some((_, prefixes)) = WARD_PREFIXES.iter().find(|(s, _)| *s == service) {
            if !region.is_empty() && region != "*" {
                return Err(format!(
                    "ward resource {text:?} cannot contain region information"
                ));
            }
            if !starts_wild && !prefixes.iter().any(|p| resource.starts_with(p)) {
                return Err(format!(
                    "{service} resource path in {text:?} must start with one of {} or a wildcard",
                    prefixes.join(", ")
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::ContextValue;

    fn check_valid(text: &str, ok: bool) {
        let got = validate_resource(text, true);
        assert_eq!(got.is_ok(), ok, "{text:?}: {got:?}");
    }

    #[test]
    fn validation() {
        check_valid("*", true);
        check_valid("arn:aws:s3:::example_bucket", true);
        check_valid("arn:aws:fdsasf", true);
        check_valid("arn:aws:iam:::user/x", true);
        check_valid("arn:ward:host::123456789012:host/db-1", true);
        check_valid("arn:ward:host::*:host/*", true);
        check_valid("arn:ward:host::*:*", true);
        check_valid("arn:aws:iam::*:user/${aws:username}", true);
        check_valid("invalid resource", false);
        check_valid("", false);
        check_valid("a:bsdfdsafsad", false);
        check_valid("arn:error:s3:::b", false);
        check_valid("arn:aws::fdsasf", false);
        check_valid("arn:aws:s3::example_bucket", false);
        check_valid("arn:aws::::example_bucket", false);
        check_valid("arn:aws:iam:::example_bucket", false);
        check_valid("arn:aws:iam:us-east-1::user/x", false);
        check_valid("arn:aws:s*:::x", false);
        check_valid("arn:ward:host::*:hosts/db", false);
        let long = |n: usize| format!("arn:ward:iam::*:user/{}", "é".repeat(n - 21));
        assert_eq!(long(MAX_ARN_CHARS).chars().count(), MAX_ARN_CHARS);
        check_valid(&long(MAX_ARN_CHARS), true);
        let e = validate_resource(&long(MAX_ARN_CHARS + 1), true).unwrap_err();
        assert!(e.contains("2049 characters; the limit is 2048"), "{e}");
    }

    fn check_match(pattern: &str, arn: &str, expected: Option<bool>) {
        let mut ctx = Context::new();
        ctx.insert("ward:username", ContextValue::from("alice"));
        let p = ArnPattern::compile(pattern, true).unwrap();
        assert_eq!(p.matches(arn, &ctx), expected, "{pattern} vs {arn}");
    }

    #[test]
    fn cuts_split_like_splitn() {
        for text in [
            "",
            "a",
            "a:b",
            "arn:ward:host::1:host/x:y:z",
            ":::::",
            "arn:é:ü::1:r",
        ] {
            let cuts = ArnCuts::new(text);
            for k in 1..=6 {
                let want: Vec<&str> = text.splitn(k, ':').collect();
                let got: Vec<&str> = (0..k).map_while(|i| cuts.piece(text, i, k)).collect();
                if want.len() == k {
                    assert_eq!(got, want, "{text:?} k={k}");
                } else {
                    assert!(
                        got.len() < k || cuts.piece(text, k - 1, k).is_none(),
                        "{text:?} k={k}"
                    );
                }
            }
        }
    }

    #[test]
    fn matching() {
        let db = "arn:ward:host::123456789012:host/db-1";
        check_match("*", "not an arn", Some(true));
        check_match("arn:ward:host::*:host/*", db, Some(true));
        check_match("arn:ward:host::*:host/web-*", db, Some(false));
        // Wildcards do not cross segments...
        check_match("arn:ward:*:host/db-1", db, Some(false));
        check_match("arn:ward:host:*:host/db-1", db, Some(false));
        // ...but the resource part is one string, colons and all.
        check_match("arn:ward:s3:::b/*", "arn:ward:s3:::b/x:y/z", Some(true));
        // Short patterns match their last segment against the rest.
        check_match("arn:ward:*", db, Some(true));
        check_match("arn:aws:*", db, Some(false));
        check_match(
            "arn:ward:iam::*:user/${ward:username}",
            "arn:ward:iam::1:user/alice",
            Some(true),
        );
        check_match(
            "arn:ward:iam::*:user/${ward:username}",
            "arn:ward:iam::1:user/bob",
            Some(false),
        );
        check_match(
            "arn:ward:iam::*:user/${ward:nope}",
            "arn:ward:iam::1:user/bob",
            None,
        );
        // Resources are case-sensitive.
        check_match("arn:ward:host::*:host/DB-1", db, Some(false));
        check_match(
            "arn:ward:host::123456789012:host/db-1",
            "arn:ward:host::123456789012",
            Some(false),
        );
    }
}
