//! Condition operators: parsing, compiling and evaluating one
//! `"Operator": {"key": values}` test with AWS's rules for missing keys,
//! multi-valued keys, negation, `…IfExists` and the `ForAnyValue:` /
//! `ForAllValues:` set operators.
//!
//! The rules, in one place:
//! - within a key, policy values are ORed; keys and operators are ANDed;
//! - a positive operator on a missing key is false; a negated operator
//!   (`StringNotEquals`, `NotIpAddress`, …) on a missing key is true;
//!   `…IfExists` on a missing key is true;
//! - `ForAllValues:` is true for a missing or empty set; `ForAnyValue:` is
//!   false for one (true with `…IfExists`);
//! - a plain operator on a multi-valued key: positive is true if any value
//!   matches, negated is true if no value matches;
//! - a context value that is not of the operator's type (not a number for
//!   `Numeric*`, …) satisfies neither the operator nor its negation;
//! - an unresolved policy variable in a value makes the condition false.

use std::net::IpAddr;

use base64::Engine as _;

use crate::arn::ArnPattern;
use crate::context::{key_id, parse_bool, Context, KeyId, Lookup, Num, Typed};
use crate::date::Instant;
use crate::json::Json;
use crate::pattern::{Pattern, Syntax};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn holds(self, o: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            Cmp::Eq => o == Equal,
            Cmp::Lt => o == Less,
            Cmp::Le => o != Greater,
            Cmp::Gt => o == Greater,
            Cmp::Ge => o != Less,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Base {
    StrEq,
    StrEqIgnoreCase,
    StrLike,
    Num(Cmp),
    Date(Cmp),
    Bool,
    Binary,
    Ip,
    Arn,
    Null,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SetOp {
    None,
    ForAnyValue,
    ForAllValues,
}

/// A parsed operator name such as `ForAnyValue:StringNotLikeIfExists`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Operator {
    pub base: Base,
    pub negated: bool,
    pub if_exists: bool,
    pub set: SetOp,
}

const BASES: &[(&str, Base, bool)] = &[
    ("StringEquals", Base::StrEq, false),
    ("StringNotEquals", Base::StrEq, true),
    ("StringEqualsIgnoreCase", Base::StrEqIgnoreCase, false),
    ("StringNotEqualsIgnoreCase", Base::StrEqIgnoreCase, true),
    ("StringLike", Base::StrLike, false),
    ("StringNotLike", Base::StrLike, true),
    ("NumericEquals", Base::Num(Cmp::Eq), false),
    ("NumericNotEquals", Base::Num(Cmp::Eq), true),
    ("NumericLessThan", Base::Num(Cmp::Lt), false),
    ("NumericLessThanEquals", Base::Num(Cmp::Le), false),
    ("NumericGreaterThan", Base::Num(Cmp::Gt), false),
    ("NumericGreaterThanEquals", Base::Num(Cmp::Ge), false),
    ("DateEquals", Base::Date(Cmp::Eq), false),
    ("DateNotEquals", Base::Date(Cmp::Eq), true),
    ("DateLessThan", Base::Date(Cmp::Lt), false),
    ("DateLessThanEquals", Base::Date(Cmp::Le), false),
    ("DateGreaterThan", Base::Date(Cmp::Gt), false),
    ("DateGreaterThanEquals", Base::Date(Cmp::Ge), false),
    ("Bool", Base::Bool, false),
    ("BinaryEquals", Base::Binary, false),
    ("IpAddress", Base::Ip, false),
    ("NotIpAddress", Base::Ip, true),
    ("ArnEquals", Base::Arn, false),
    ("ArnLike", Base::Arn, false),
    ("ArnNotEquals", Base::Arn, true),
    ("ArnNotLike", Base::Arn, true),
    ("Null", Base::Null, false),
];

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn strip_suffix_ci<'a>(s: &'a str, suffix: &str) -> Option<&'a str> {
    let cut = s.len().checked_sub(suffix.len())?;
    let tail = s.get(cut..)?;
    tail.eq_ignore_ascii_case(suffix).then(|| &s[..cut])
}

impl Operator {
    /// Parses an operator name (case-insensitively). `Err` carries the
    /// reason the name is not an operator.
    pub(crate) fn parse(name: &str) -> Result<Operator, String> {
        let (set, rest) = if let Some(r) = strip_prefix_ci(name, "ForAnyValue:") {
            (SetOp::ForAnyValue, r)
        } else if let Some(r) = strip_prefix_ci(name, "ForAllValues:") {
            (SetOp::ForAllValues, r)
        } else {
            (SetOp::None, name)
        };
        let (if_exists, rest) = match strip_suffix_ci(rest, "IfExists") {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let Some(&(_, base, negated)) = BASES.iter().find(|(n, _, _)| n.eq_ignore_ascii_case(rest))
        else {
            return Err(format!("unknown condition operator {name:?}"));
        };
        if base == Base::Null && (if_exists || set != SetOp::None) {
            return Err(format!(
                "condition operator {name:?}: Null takes no IfExists or set qualifier"
            ));
        }
        Ok(Operator {
            base,
            negated,
            if_exists,
            set,
        })
    }
}

/// Compiled policy values of one condition.
#[derive(Clone, Debug, PartialEq)]
enum Values {
    Str(Vec<Pattern>),
    Num(Vec<Num>),
    Date(Vec<Instant>),
    Bool(Vec<bool>),
    Binary(Vec<Vec<u8>>),
    Ip(Vec<(IpAddr, u8)>),
    Arn(Vec<ArnPattern>),
    Null(Vec<bool>),
}

/// One compiled `operator → key → values` test.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Condition {
    pub op_name: String,
    pub key_name: String,
    pub raw_values: Json,
    op: Operator,
    key: KeyId,
    values: Values,
}

/// Scalars of a condition value, as text; `Err` names the bad element.
fn scalars(v: &Json) -> Result<Vec<String>, String> {
    let one = |v: &Json| -> Result<String, String> {
        match v {
            Json::String(s) => Ok(s.clone()),
            Json::Bool(b) => Ok(b.to_string()),
            Json::Number(n) => Ok(n.to_string()),
            other => Err(format!(
                "condition values must be strings, numbers or booleans, not {}",
                other.type_name()
            )),
        }
    };
    match v {
        Json::Array(a) => a.iter().map(one).collect(),
        v => one(v).map(|s| vec![s]),
    }
}

impl Condition {
    /// Compiles one test. `variables` enables `${…}` (Version 2012-10-17).
    pub(crate) fn compile(
        op_name: &str,
        op: Operator,
        key_name: &str,
        raw: &Json,
        variables: bool,
    ) -> Result<Condition, String> {
        if key_name.trim().is_empty() {
            return Err("condition key must not be empty".into());
        }
        let texts = scalars(raw)?;
        let bad = |what: &str, t: &str| format!("{op_name}: {t:?} is not {what}");
        let values = match op.base {
            Base::StrEq | Base::StrEqIgnoreCase | Base::StrLike => {
                let syntax = Syntax {
                    wildcards: op.base == Base::StrLike,
                    variables,
                };
                Values::Str(
                    texts
                        .iter()
                        .map(|t| Pattern::compile(t, syntax))
                        .collect::<Result<_, _>>()?,
                )
            }
            Base::Num(_) => Values::Num(
                texts
                    .iter()
                    .map(|t| Num::parse(t).ok_or_else(|| bad("a number", t)))
                    .collect::<Result<_, _>>()?,
            ),
            Base::Date(_) => Values::Date(
                texts
                    .iter()
                    .map(|t| {
                        Instant::parse(t)
                            .ok_or_else(|| bad("a date (ISO 8601 or epoch seconds)", t))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Base::Bool => Values::Bool(
                texts
                    .iter()
                    .map(|t| parse_bool(t).ok_or_else(|| bad("true or false", t)))
                    .collect::<Result<_, _>>()?,
            ),
            Base::Null => Values::Null(
                texts
                    .iter()
                    .map(|t| parse_bool(t).ok_or_else(|| bad("true or false", t)))
                    .collect::<Result<_, _>>()?,
            ),
            Base::Binary => Values::Binary(
                texts
                    .iter()
                    .map(|t| {
                        base64::engine::general_purpose::STANDARD
                            .decode(t)
                            .map_err(|_| bad("base64", t))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Base::Ip => Values::Ip(
                texts
                    .iter()
                    .map(|t| parse_cidr(t).ok_or_else(|| bad("an IP address or CIDR block", t)))
                    .collect::<Result<_, _>>()?,
            ),
            Base::Arn => Values::Arn(
                texts
                    .iter()
                    .map(|t| ArnPattern::compile(t, variables))
                    .collect::<Result<_, _>>()?,
            ),
        };
        Ok(Condition {
            op_name: op_name.to_owned(),
            key_name: key_name.to_owned(),
            raw_values: raw.clone(),
            op,
            key: key_id(key_name),
            values,
        })
    }

    /// Evaluates the test against `ctx`.
    pub(crate) fn eval(&self, ctx: &Context) -> bool {
        let op = self.op;
        if let Values::Null(expect) = &self.values {
            let absent = matches!(ctx.lookup(&self.key), Lookup::Absent);
            return expect.contains(&absent);
        }
        let test = |v: &Typed| -> Option<bool> {
            self.test_value(v, ctx)
                .map(|m| m.is_some_and(|m| m != op.negated))
        };
        let result = match (op.set, ctx.lookup(&self.key)) {
            (SetOp::None, Lookup::Absent) => Some(op.if_exists || op.negated),
            (SetOp::ForAnyValue, Lookup::Absent) => Some(op.if_exists),
            (SetOp::ForAllValues, Lookup::Absent) => Some(true),
            (SetOp::None | SetOp::ForAnyValue | SetOp::ForAllValues, Lookup::Single(v)) => test(v),
            (SetOp::None, Lookup::Multi(vs)) if op.negated => all(vs, test),
            (SetOp::None | SetOp::ForAnyValue, Lookup::Multi(vs)) => any(vs, test),
            (SetOp::ForAllValues, Lookup::Multi(vs)) => all(vs, test),
        };
        result.unwrap_or(false)
    }

    /// Does context value `v` match any policy value (positive sense)?
    /// `Some(None)`: `v` is not of the operator's type. `None`: a policy
    /// variable is unresolved.
    fn test_value(&self, v: &Typed, ctx: &Context) -> Option<Option<bool>> {
        let base = self.op.base;
        Some(match &self.values {
            Values::Str(ps) => {
                let mut hit = false;
                for p in ps {
                    let m = if base == Base::StrEqIgnoreCase {
                        p.eq_ignore_case(&v.raw, ctx)?
                    } else {
                        p.matches(&v.raw, ctx)?
                    };
                    hit |= m;
                }
                Some(hit)
            }
            Values::Num(ns) => {
                let Base::Num(cmp) = base else {
                    return Some(None);
                };
                v.num
                    .map(|x| ns.iter().any(|&n| x.cmp(n).is_some_and(|o| cmp.holds(o))))
            }
            Values::Date(ds) => {
                let Base::Date(cmp) = base else {
                    return Some(None);
                };
                v.date.map(|x| ds.iter().any(|d| cmp.holds(x.cmp(d))))
            }
            Values::Bool(bs) => v.boolean.map(|x| bs.contains(&x)),
            Values::Binary(bs) => {
                // Decode on the stack; only very large values allocate.
                let mut buf = [0u8; 1024];
                let engine = &base64::engine::general_purpose::STANDARD;
                match engine.decode_slice(v.raw.as_bytes(), &mut buf) {
                    Ok(n) => Some(bs.iter().any(|b| **b == buf[..n])),
                    Err(base64::DecodeSliceError::OutputSliceTooSmall) => {
                        engine.decode(&*v.raw).ok().map(|x| bs.contains(&x))
                    }
                    Err(_) => None,
                }
            }
            Values::Ip(nets) => {
                v.ip.map(|ip| nets.iter().any(|&(net, len)| in_cidr(ip, net, len)))
            }
            Values::Arn(ps) => {
                let mut hit = false;
                for p in ps {
                    hit |= p.matches(&v.raw, ctx)?;
                }
                Some(hit)
            }
            Values::Null(_) => None?,
        })
    }
}

fn any(vs: &[Typed], f: impl Fn(&Typed) -> Option<bool>) -> Option<bool> {
    let mut r = false;
    for v in vs {
        r |= f(v)?;
    }
    Some(r)
}

fn all(vs: &[Typed], f: impl Fn(&Typed) -> Option<bool>) -> Option<bool> {
    let mut r = true;
    for v in vs {
        r &= f(v)?;
    }
    Some(r)
}

/// Parses `10.0.0.0/8`, `2001:db8::/32` or a bare address (a /32 or /128).
pub(crate) fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let ip: IpAddr = addr.trim().parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = match len {
        Some(l) if !l.is_empty() && l.len() <= 3 && l.bytes().all(|b| b.is_ascii_digit()) => {
            l.parse::<u8>().ok()?
        }
        Some(_) => return None,
        None => max,
    };
    (len <= max).then_some((ip, len))
}

fn in_cidr(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::ContextValue;

    /// Evaluates `{op: {key: values}}` against a context built from `ctx`.
    fn check(op: &str, key: &str, values: &str, ctx: &[(&str, ContextValue)], expected: bool) {
        let raw = Json::parse(values.as_bytes()).unwrap();
        let c = Condition::compile(op, Operator::parse(op).unwrap(), key, &raw, true).unwrap();
        let mut context = Context::new();
        for (k, v) in ctx {
            context.insert(k, v.clone());
        }
        assert_eq!(
            c.eval(&context),
            expected,
            "{op} {key} {values} with {ctx:?}"
        );
    }

    fn s(v: &str) -> ContextValue {
        ContextValue::from(v)
    }

    fn m(v: &[&str]) -> ContextValue {
        ContextValue::Multi(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn strings() {
        check(
            "StringEquals",
            "ward:username",
            r#""alice""#,
            &[("ward:username", s("alice"))],
            true,
        );
        check(
            "StringEquals",
            "ward:username",
            r#""Alice""#,
            &[("ward:username", s("alice"))],
            false,
        );
        check(
            "StringEquals",
            "ward:username",
            r#"["bob","alice"]"#,
            &[("ward:username", s("alice"))],
            true,
        );
        check(
            "StringEquals",
            "ward:username",
            r#""a*""#,
            &[("ward:username", s("alice"))],
            false,
        );
        check(
            "StringEquals",
            "ward:username",
            r#""a*""#,
            &[("ward:username", s("a*"))],
            true,
        );
        check("StringEquals", "ward:username", r#""alice""#, &[], false);
        check("StringNotEquals", "ward:username", r#""alice""#, &[], true);
        check(
            "StringNotEquals",
            "ward:username",
            r#""alice""#,
            &[("ward:username", s("bob"))],
            true,
        );
        check(
            "StringNotEquals",
            "ward:username",
            r#"["alice","bob"]"#,
            &[("ward:username", s("bob"))],
            false,
        );
        check(
            "StringEqualsIgnoreCase",
            "ward:username",
            r#""ALICE""#,
            &[("ward:username", s("alice"))],
            true,
        );
        check(
            "StringNotEqualsIgnoreCase",
            "ward:username",
            r#""ALICE""#,
            &[("ward:username", s("alice"))],
            false,
        );
        check(
            "StringLike",
            "host:Principal",
            r#"["${ward:username}","deploy"]"#,
            &[
                ("host:Principal", s("alice")),
                ("ward:username", s("alice")),
            ],
            true,
        );
        check(
            "StringLike",
            "host:Principal",
            r#"["${ward:username}","deploy"]"#,
            &[("host:Principal", s("root")), ("ward:username", s("alice"))],
            false,
        );
        check(
            "StringLike",
            "host:Principal",
            r#""dep*""#,
            &[("host:Principal", s("deploy"))],
            true,
        );
        check(
            "StringNotLike",
            "host:Principal",
            r#""dep*""#,
            &[("host:Principal", s("deploy"))],
            false,
        );
        check(
            "stringequals",
            "AWS:UserName",
            r#""alice""#,
            &[("ward:username", s("alice"))],
            true,
        );
        check(
            "StringEqualsIfExists",
            "ward:username",
            r#""alice""#,
            &[],
            true,
        );
        check(
            "StringEqualsIfExists",
            "ward:username",
            r#""alice""#,
            &[("ward:username", s("bob"))],
            false,
        );
        check("StringEquals", "k", "[]", &[("k", s("x"))], false);
        check("StringNotEquals", "k", "[]", &[("k", s("x"))], true);
        // An unresolved variable makes the condition false, negated or not.
        check(
            "StringEquals",
            "k",
            r#""${ward:nope}""#,
            &[("k", s("x"))],
            false,
        );
        check(
            "StringNotEquals",
            "k",
            r#""${ward:nope}""#,
            &[("k", s("x"))],
            false,
        );
        check(
            "StringNotEquals",
            "k",
            r#""${ward:nope, 'y'}""#,
            &[("k", s("x"))],
            true,
        );
        // Numbers and booleans in policies compare as text.
        check("StringEquals", "k", "1", &[("k", s("1"))], true);
        check("StringEquals", "k", "true", &[("k", s("true"))], true);
    }

    #[test]
    fn multi_valued_keys() {
        let tags = ("ward:TagKeys", m(&["env", "team"]));
        check(
            "StringEquals",
            "ward:TagKeys",
            r#""env""#,
            std::slice::from_ref(&tags),
            true,
        );
        check(
            "StringNotEquals",
            "ward:TagKeys",
            r#""env""#,
            std::slice::from_ref(&tags),
            false,
        );
        check(
            "StringNotEquals",
            "ward:TagKeys",
            r#""other""#,
            std::slice::from_ref(&tags),
            true,
        );
        check(
            "ForAnyValue:StringEquals",
            "ward:TagKeys",
            r#""env""#,
            std::slice::from_ref(&tags),
            true,
        );
        check(
            "ForAnyValue:StringEquals",
            "ward:TagKeys",
            r#""x""#,
            std::slice::from_ref(&tags),
            false,
        );
        check(
            "ForAllValues:StringEquals",
            "ward:TagKeys",
            r#"["env","team","x"]"#,
            std::slice::from_ref(&tags),
            true,
        );
        check(
            "ForAllValues:StringEquals",
            "ward:TagKeys",
            r#"["env"]"#,
            std::slice::from_ref(&tags),
            false,
        );
        // The traps: empty or missing sets.
        check(
            "ForAllValues:StringEquals",
            "ward:TagKeys",
            r#""env""#,
            &[],
            true,
        );
        check(
            "ForAllValues:StringEquals",
            "ward:TagKeys",
            r#""env""#,
            &[("ward:TagKeys", m(&[]))],
            true,
        );
        check(
            "ForAnyValue:StringEquals",
            "ward:TagKeys",
            r#""env""#,
            &[],
            false,
        );
        check(
            "ForAnyValue:StringEqualsIfExists",
            "ward:TagKeys",
            r#""env""#,
            &[],
            true,
        );
        check(
            "ForAllValues:StringNotEquals",
            "ward:TagKeys",
            r#"["x","y"]"#,
            std::slice::from_ref(&tags),
            true,
        );
        check(
            "ForAllValues:StringNotEquals",
            "ward:TagKeys",
            r#"["env"]"#,
            std::slice::from_ref(&tags),
            false,
        );
        check(
            "ForAnyValue:StringNotEquals",
            "ward:TagKeys",
            r#"["env"]"#,
            std::slice::from_ref(&tags),
            true,
        );
        check(
            "ForAnyValue:StringLike",
            "ca:Principals",
            r#""adm*""#,
            &[("ca:Principals", m(&["alice", "admin"]))],
            true,
        );
        check(
            "ForAllValues:StringLike",
            "ca:Principals",
            r#"["alice","deploy"]"#,
            &[("ca:Principals", m(&["alice", "admin"]))],
            false,
        );
    }

    #[test]
    fn numbers_dates_bools() {
        check(
            "NumericLessThanEquals",
            "ca:ValiditySeconds",
            "3600",
            &[("ca:ValiditySeconds", s("3600"))],
            true,
        );
        check(
            "NumericLessThan",
            "ca:ValiditySeconds",
            r#""3600""#,
            &[("ca:ValiditySeconds", s("3600"))],
            false,
        );
        check("NumericGreaterThan", "k", "1.5", &[("k", s("2"))], true);
        check("NumericEquals", "k", "2", &[("k", s("2.0"))], true);
        check("NumericNotEquals", "k", "2", &[("k", s("3"))], true);
        // Not a number: neither the operator nor its negation holds.
        check("NumericEquals", "k", "2", &[("k", s("two"))], false);
        check("NumericNotEquals", "k", "2", &[("k", s("two"))], false);
        check("NumericNotEquals", "k", "2", &[], true);
        let now = ("ward:CurrentTime", s("2024-06-01T12:00:00Z"));
        check(
            "DateGreaterThan",
            "aws:CurrentTime",
            r#""2024-01-01T00:00:00Z""#,
            std::slice::from_ref(&now),
            true,
        );
        check(
            "DateLessThan",
            "aws:CurrentTime",
            r#""2024-01-01""#,
            std::slice::from_ref(&now),
            false,
        );
        check(
            "DateLessThan",
            "ward:CurrentTime",
            "1717243201",
            std::slice::from_ref(&now),
            true,
        );
        check(
            "DateEquals",
            "ward:EpochTime",
            r#""1970-01-01T00:00:10Z""#,
            &[("ward:EpochTime", s("10"))],
            true,
        );
        check(
            "DateNotEquals",
            "ward:EpochTime",
            r#""1970-01-01T00:00:10Z""#,
            &[("ward:EpochTime", s("10"))],
            false,
        );
        check(
            "Bool",
            "ward:SecureTransport",
            "true",
            &[("ward:SecureTransport", s("true"))],
            true,
        );
        check(
            "Bool",
            "ward:SecureTransport",
            r#""True""#,
            &[("ward:SecureTransport", s("TRUE"))],
            true,
        );
        check(
            "Bool",
            "ward:SecureTransport",
            "true",
            &[("ward:SecureTransport", s("false"))],
            false,
        );
        check("Bool", "ward:SecureTransport", "true", &[], false);
        check(
            "BoolIfExists",
            "ward:MultiFactorAuthPresent",
            "false",
            &[],
            true,
        );
        check(
            "BinaryEquals",
            "k",
            r#""aGVsbG8=""#,
            &[("k", s("aGVsbG8="))],
            true,
        );
        check(
            "BinaryEquals",
            "k",
            r#""aGVsbG8=""#,
            &[("k", s("aGVsbG9="))],
            false,
        );
    }

    #[test]
    fn ips_arns_null() {
        let ip = |v: &str| ("ward:SourceIp", s(v));
        check(
            "IpAddress",
            "aws:SourceIp",
            r#""10.0.0.0/8""#,
            &[ip("10.1.2.3")],
            true,
        );
        check(
            "IpAddress",
            "aws:SourceIp",
            r#""10.0.0.0/8""#,
            &[ip("11.1.2.3")],
            false,
        );
        check(
            "IpAddress",
            "aws:SourceIp",
            r#""10.0.0.0/8""#,
            &[ip("::ffff:10.1.2.3")],
            true,
        );
        check(
            "IpAddress",
            "aws:SourceIp",
            r#"["192.168.0.0/16","2001:db8::/32"]"#,
            &[ip("2001:db8::1")],
            true,
        );
        check(
            "IpAddress",
            "aws:SourceIp",
            r#""2001:db8::/32""#,
            &[ip("2001:db9::1")],
            false,
        );
        check(
            "IpAddress",
            "aws:SourceIp",
            r#""203.0.113.7""#,
            &[ip("203.0.113.7")],
            true,
        );
        check(
            "IpAddress",
            "aws:SourceIp",
            r#""0.0.0.0/0""#,
            &[ip("1.2.3.4")],
            true,
        );
        check(
            "NotIpAddress",
            "aws:SourceIp",
            r#""10.0.0.0/8""#,
            &[ip("11.1.2.3")],
            true,
        );
        check(
            "NotIpAddress",
            "aws:SourceIp",
            r#""10.0.0.0/8""#,
            &[ip("10.1.2.3")],
            false,
        );
        check("NotIpAddress", "aws:SourceIp", r#""10.0.0.0/8""#, &[], true);
        check(
            "NotIpAddress",
            "aws:SourceIp",
            r#""10.0.0.0/8""#,
            &[ip("garbage")],
            false,
        );
        let pa = |v: &str| ("ward:PrincipalArn", s(v));
        check(
            "ArnLike",
            "ward:PrincipalArn",
            r#""arn:ward:iam::*:user/ops/*""#,
            &[pa("arn:ward:iam::123456789012:user/ops/alice")],
            true,
        );
        check(
            "ArnEquals",
            "ward:PrincipalArn",
            r#""arn:ward:iam::*:user/ops/*""#,
            &[pa("arn:ward:iam::123456789012:user/dev/bob")],
            false,
        );
        check(
            "ArnNotLike",
            "ward:PrincipalArn",
            r#""arn:ward:iam::*:user/ops/*""#,
            &[pa("arn:ward:iam::123456789012:user/dev/bob")],
            true,
        );
        check("Null", "ward:MultiFactorAuthAge", "true", &[], true);
        check("Null", "ward:MultiFactorAuthAge", r#""false""#, &[], false);
        check(
            "Null",
            "ward:MultiFactorAuthAge",
            "false",
            &[("ward:MultiFactorAuthAge", s("30"))],
            true,
        );
        check(
            "Null",
            "ward:TagKeys",
            "true",
            &[("ward:TagKeys", m(&[]))],
            true,
        );
    }

    #[test]
    fn operator_names() {
        assert!(Operator::parse("ForAnyValue:StringLikeIfExists").is_ok());
        assert!(Operator::parse("forallvalues:stringequals").is_ok());
        assert!(Operator::parse("StringEqual").is_err());
        assert!(Operator::parse("NullIfExists").is_err());
        assert!(Operator::parse("ForAnyValue:Null").is_err());
        assert!(Operator::parse("IfExists").is_err());
        assert!(Operator::parse("").is_err());
    }

    #[test]
    fn bad_values() {
        let bad = |op: &str, v: &str| {
            let raw = Json::parse(v.as_bytes()).unwrap();
            assert!(
                Condition::compile(op, Operator::parse(op).unwrap(), "k", &raw, true).is_err(),
                "{op} {v}"
            );
        };
        bad("DateGreaterThan", r#""sdfdsf""#);
        bad("NumericEquals", r#""12a""#);
        bad("NumericEquals", r#""NaN""#);
        bad("Bool", r#""yes""#);
        bad("IpAddress", r#""10.0.0.0/33""#);
        bad("IpAddress", r#""10.0.0.0/""#);
        bad("IpAddress", r#""300.0.0.1""#);
        bad("BinaryEquals", r#""!!!""#);
        bad("StringEquals", "{}");
        bad("StringEquals", "null");
        bad("StringEquals", "[[]]");
        bad("StringLike", r#""${unterminated""#);
    }
}
