//! The request context: condition keys and their values.
//!
//! Keys are case-insensitive and every `aws:` key answers to its `ward:`
//! spelling, so keys are normalised once, on insertion and at policy compile
//! time, to lower case with the `ward:` prefix. Values are parsed into every
//! type a condition operator may want (number, date, IP, boolean) when they
//! are inserted, so that evaluation does no parsing. An empty multi-valued key
//! is the same as an absent key, as in AWS.

use std::net::IpAddr;

use crate::date::Instant;

/// A normalised condition key name, with a hash of it so that lookups
/// compare integers first. The hash is a fixed function (FNV-1a), not a
/// randomised one: ordering only, never security, depends on it, and
/// equality is always confirmed on the name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct KeyId {
    hash: u64,
    name: Box<str>,
}

impl KeyId {
    fn new(name: String) -> KeyId {
        KeyId {
            hash: fnv1a(&name),
            name: name.into_boxed_str(),
        }
    }
}

/// FNV-1a, 64 bits: a fixed, fast hash for short names (keys, actions) so
/// that most comparisons are of integers. Equality is always confirmed on
/// the text.
pub(crate) fn fnv1a(s: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// The normalised spelling of a key, as text.
pub(crate) fn normalise_key(name: &str) -> String {
    key_id(name).name.into_string()
}

/// Normalises a condition key: lower case, and `aws:` → `ward:`.
pub(crate) fn key_id(name: &str) -> KeyId {
    let lower = name.trim().to_lowercase();
    match lower.strip_prefix("aws:") {
        Some(rest) => KeyId::new(format!("ward:{rest}")),
        None => KeyId::new(lower),
    }
}

/// A context value as supplied by the caller: one string or a set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContextValue {
    /// A single-valued key.
    Single(String),
    /// A multi-valued key (e.g. `ward:TagKeys`, `ca:Principals`).
    Multi(Vec<String>),
}

impl From<&str> for ContextValue {
    fn from(s: &str) -> ContextValue {
        ContextValue::Single(s.to_owned())
    }
}

impl From<String> for ContextValue {
    fn from(s: String) -> ContextValue {
        ContextValue::Single(s)
    }
}

impl From<Vec<String>> for ContextValue {
    fn from(v: Vec<String>) -> ContextValue {
        ContextValue::Multi(v)
    }
}

/// A number as IAM compares them: integers exactly, others as f64.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Num {
    Int(i128),
    Float(f64),
}

impl Num {
    pub(crate) fn parse(s: &str) -> Option<Num> {
        let s = s.trim();
        if let Ok(i) = s.parse::<i128>() {
            return Some(Num::Int(i));
        }
        // Reject "inf", "NaN" and friends; accept plain decimals.
        if !s
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
        {
            return None;
        }
        s.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Num::Float)
    }

    pub(crate) fn cmp(self, other: Num) -> Option<std::cmp::Ordering> {
        match (self, other) {
            (Num::Int(a), Num::Int(b)) => Some(a.cmp(&b)),
            (a, b) => a.as_f64().partial_cmp(&b.as_f64()),
        }
    }

    fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
}

/// One context value with its typed readings.
#[derive(Clone, Debug)]
pub(crate) struct Typed {
    pub raw: Box<str>,
    pub num: Option<Num>,
    pub date: Option<Instant>,
    pub ip: Option<IpAddr>,
    pub boolean: Option<bool>,
}

impl Typed {
    fn new(raw: String) -> Typed {
        let ip = raw.parse::<IpAddr>().ok().map(|ip| match ip {
            // A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; an
            // IPv4 CIDR in a policy must still match them.
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        });
        Typed {
            num: Num::parse(&raw),
            date: Instant::parse(&raw),
            boolean: parse_bool(&raw),
            ip,
            raw: raw.into_boxed_str(),
        }
    }
}

pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

#[derive(Clone, Debug)]
struct Entry {
    key: KeyId,
    multi: bool,
    values: Vec<Typed>,
}

/// The condition keys of one request.
#[derive(Clone, Debug, Default)]
pub struct Context {
    entries: Vec<Entry>,
}

/// What a lookup found.
pub(crate) enum Lookup<'a> {
    Absent,
    Single(&'a Typed),
    Multi(&'a [Typed]),
}

impl Context {
    /// An empty context.
    pub fn new() -> Context {
        Context::default()
    }

    /// Sets `key` (any case, `aws:` or `ward:`) to `value`, replacing any
    /// earlier value. An empty set removes the key.
    pub fn insert(&mut self, key: &str, value: ContextValue) {
        let key = key_id(key);
        let (multi, values): (bool, Vec<Typed>) = match value {
            ContextValue::Single(s) => (false, vec![Typed::new(s)]),
            ContextValue::Multi(v) => (true, v.into_iter().map(Typed::new).collect()),
        };
        let pos = self.entries.binary_search_by(|e| e.key.cmp(&key));
        match (pos, values.is_empty()) {
            (Ok(i), true) => {
                self.entries.remove(i);
            }
            (Ok(i), false) => self.entries[i] = Entry { key, multi, values },
            (Err(_), true) => {}
            (Err(i), false) => self.entries.insert(i, Entry { key, multi, values }),
        }
    }

    /// True if `key` is present.
    pub fn contains(&self, key: &str) -> bool {
        self.find(&key_id(key)).is_some()
    }

    /// The values of `key`, as strings.
    pub fn get(&self, key: &str) -> Option<Vec<&str>> {
        self.find(&key_id(key))
            .map(|e| e.values.iter().map(|v| &*v.raw).collect())
    }

    /// Iterates over `(normalised key, values)`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Vec<&str>)> {
        self.entries
            .iter()
            .map(|e| (&*e.key.name, e.values.iter().map(|v| &*v.raw).collect()))
    }

    #[inline]
    fn find(&self, key: &KeyId) -> Option<&Entry> {
        self.entries
            .binary_search_by(|e| e.key.cmp(key))
            .ok()
            .map(|i| &self.entries[i])
    }

    pub(crate) fn lookup(&self, key: &KeyId) -> Lookup<'_> {
        match self.find(key) {
            None => Lookup::Absent,
            Some(e) if e.multi => Lookup::Multi(&e.values),
            Some(e) => match e.values.first() {
                Some(v) => Lookup::Single(v),
                None => Lookup::Absent,
            },
        }
    }

    /// Resolves a policy variable: a single-valued key's value, else the
    /// default. Multi-valued keys do not resolve (AWS).
    pub(crate) fn variable<'a>(&'a self, key: &KeyId, default: Option<&'a str>) -> Option<&'a str> {
        match self.lookup(key) {
            Lookup::Single(v) => Some(&v.raw),
            Lookup::Multi(_) => None,
            Lookup::Absent => default,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_normalised() {
        let mut c = Context::new();
        c.insert("aws:SourceIp", "10.0.0.1".into());
        assert!(c.contains("ward:sourceip"));
        assert!(c.contains("AWS:SOURCEIP"));
        assert_eq!(c.get("ward:SourceIp"), Some(vec!["10.0.0.1"]));
        c.insert("ward:TagKeys", ContextValue::Multi(vec![]));
        assert!(!c.contains("ward:TagKeys"));
        c.insert("ward:SourceIp", ContextValue::Multi(vec![]));
        assert!(!c.contains("ward:SourceIp"));
    }

    #[test]
    fn typed_readings() {
        let t = Typed::new("::ffff:10.1.2.3".into());
        assert_eq!(t.ip, Some("10.1.2.3".parse().unwrap()));
        let t = Typed::new("42".into());
        assert_eq!(t.num, Some(Num::Int(42)));
        assert_eq!(t.date, Some(Instant::from_epoch_seconds(42)));
        assert_eq!(Typed::new("TRUE".into()).boolean, Some(true));
        assert_eq!(Num::parse("inf"), None);
        assert_eq!(Num::parse("NaN"), None);
        assert_eq!(Num::parse("1.5"), Some(Num::Float(1.5)));
    }
}
