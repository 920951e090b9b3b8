//! Name, path and tag rules, following AWS IAM's (botocore's service
//! model) so that names valid in AWS are valid here and the same limits
//! apply (SPEC §3), plus host names and Unix account names. Every
//! violation is an [`InvalidName`] naming the field and the rule; ward-ca
//! maps it to its typed 400.

use std::fmt;

/// A name, path or tag that breaks its rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidName {
    /// The request field at fault (`name`, `tags[2]`, `principals[0]`, …).
    pub field: String,
    /// The rule, for people.
    pub message: String,
}

impl fmt::Display for InvalidName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for InvalidName {}

fn invalid(field: &str, message: String) -> InvalidName {
    InvalidName {
        field: field.to_owned(),
        message,
    }
}

fn name_chars(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
}

fn check_name(field: &str, what: &str, s: &str, max: usize) -> Result<(), InvalidName> {
    let n = s.chars().count();
    if n == 0 || n > max {
        return Err(invalid(
            field,
            format!("{what} must be 1 to {max} characters, got {n}"),
        ));
    }
    if !name_chars(s) {
        return Err(invalid(
            field,
            format!("{what} {s:?} may contain only letters, digits and _+=,.@-"),
        ));
    }
    Ok(())
}

/// User names: 1–64 of `[\w+=,.@-]`.
pub fn user_name(field: &str, s: &str) -> Result<(), InvalidName> {
    check_name(field, "user name", s, 64)
}

/// Role names: 1–64 of `[\w+=,.@-]`, as user names.
pub fn role_name(field: &str, s: &str) -> Result<(), InvalidName> {
    check_name(field, "role name", s, 64)
}

/// Group names: 1–128 of `[\w+=,.@-]`.
pub fn group_name(field: &str, s: &str) -> Result<(), InvalidName> {
    check_name(field, "group name", s, 128)
}

/// Managed and inline policy names: 1–128 of `[\w+=,.@-]`.
pub fn policy_name(field: &str, s: &str) -> Result<(), InvalidName> {
    check_name(field, "policy name", s, 128)
}

/// Paths: `/` or `/a/b/`, 1–512 printable ASCII characters.
pub fn path(field: &str, s: &str) -> Result<(), InvalidName> {
    let ok = !s.is_empty()
        && s.len() <= 512
        && s.starts_with('/')
        && s.ends_with('/')
        && !s.contains("//")
        && s.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("path {s:?} must begin and end with '/', contain no empty segment and be 1 to 512 printable ASCII characters"),
        ))
    }
}

/// Most tags per entity.
pub const MAX_TAGS: usize = 50;

/// Tag keys (1–128) and values (0–256): letters, digits, spaces and
/// `_.:/=+-@`; keys may not start with the reserved `aws:` or `ward:`.
pub fn tag(field: &str, key: &str, value: &str) -> Result<(), InvalidName> {
    let chars_ok = |s: &str| {
        s.chars()
            .all(|c| c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c))
    };
    let k = key.chars().count();
    if k == 0 || k > 128 || !chars_ok(key) {
        return Err(invalid(
            field,
            format!("tag key {key:?} must be 1 to 128 letters, digits, spaces or _.:/=+-@"),
        ));
    }
    let lower = key.to_ascii_lowercase();
    if lower.starts_with("aws:") || lower.starts_with("ward:") {
        return Err(invalid(
            field,
            format!("tag key {key:?} uses a reserved prefix (aws:, ward:)"),
        ));
    }
    if value.chars().count() > 256 || !chars_ok(value) {
        return Err(invalid(
            field,
            format!(
                "tag value for {key:?} must be at most 256 letters, digits, spaces or _.:/=+-@"
            ),
        ));
    }
    Ok(())
}

/// A host name: a DNS name (1–253 characters of `[a-z0-9.-]`, labels
/// 1–63, no leading or trailing `-`, no empty label), or, if `allow_ip`,
/// an IP address (aliases).
pub fn host_name(field: &str, s: &str, allow_ip: bool) -> Result<(), InvalidName> {
    if allow_ip && s.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    let ok = !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("{s:?} is not a host name (lower-case DNS labels of letters, digits and '-')"),
        ))
    }
}

/// Unix account names as hosts accept them: `[a-z_][a-z0-9_.-]*`, at
/// most 32 characters, not all digits (a numeric name would read as a uid).
pub fn unix_name(field: &str, s: &str) -> Result<(), InvalidName> {
    let b = s.as_bytes();
    let first_ok = b
        .first()
        .is_some_and(|c| c.is_ascii_lowercase() || *c == b'_');
    let rest_ok = b
        .iter()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'.' | b'-'));
    if first_ok && rest_ok && b.len() <= 32 {
        // The first character is a letter or `_`, so it is not all digits.
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("{s:?} is not a Unix account name ([a-z_][a-z0-9_.-]*, at most 32 characters, not all digits)"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(r: Result<(), InvalidName>) -> bool {
        r.is_ok()
    }

    #[test]
    fn rules() {
        assert!(ok(user_name("name", "alice")));
        assert!(ok(user_name("name", "a.b+c=d,e@f-g_h")));
        assert!(ok(user_name("name", &"a".repeat(64))));
        assert!(!ok(user_name("name", &"a".repeat(65))));
        assert!(!ok(user_name("name", "")));
        assert!(!ok(user_name("name", "al ice")));
        assert!(!ok(user_name("name", "alice/x")));
        assert!(!ok(user_name("name", "ålice")));
        assert!(ok(role_name("name", &"r".repeat(64))));
        assert!(!ok(role_name("name", &"r".repeat(65))));
        assert!(ok(group_name("name", &"g".repeat(128))));
        assert!(!ok(group_name("name", &"g".repeat(129))));
        assert!(ok(policy_name("name", &"p".repeat(128))));
        assert!(!ok(policy_name("name", "p q")));
        assert!(ok(path("path", "/")));
        assert!(ok(path("path", "/ops/team-a/")));
        assert!(!ok(path("path", "ops/")));
        assert!(!ok(path("path", "/ops")));
        assert!(!ok(path("path", "/a//b/")));
        assert!(!ok(path("path", "/a b/")));
        assert!(!ok(path("path", &format!("/{}/", "a".repeat(511)))));
        assert!(ok(tag("tags", "env", "prod")));
        assert!(ok(tag("tags", "cost center", "")));
        assert!(!ok(tag("tags", "", "x")));
        assert!(!ok(tag("tags", "aws:x", "y")));
        assert!(!ok(tag("tags", "Ward:x", "y")));
        assert!(!ok(tag("tags", "k", &"v".repeat(257))));
        assert!(!ok(tag("tags", "k<", "v")));
    }

    #[test]
    fn host_names() {
        assert!(ok(host_name("name", "db-1.example.com", false)));
        assert!(ok(host_name("name", &"a".repeat(63), false)));
        assert!(!ok(host_name("name", &"a".repeat(64), false)));
        assert!(!ok(host_name("name", "DB", false)));
        assert!(!ok(host_name("name", "-db", false)));
        assert!(!ok(host_name("name", "db-", false)));
        assert!(!ok(host_name("name", "a..b", false)));
        assert!(!ok(host_name("name", "", false)));
        assert!(!ok(host_name("name", "10.0.0.1:22", true)));
        assert!(ok(host_name("aliases[0]", "10.0.0.1", true)));
        assert!(ok(host_name("aliases[0]", "::1", true)));
        assert!(!ok(host_name("name", "::1", false)));
    }

    #[test]
    fn unix_names() {
        for good in ["alice", "_svc", "a.b-c_d", "deploy2", &"u".repeat(32)] {
            assert!(ok(unix_name("principal", good)), "{good}");
        }
        for bad in [
            "",
            "Alice",
            "1alice",
            "123",
            "-x",
            ".x",
            "a b",
            "a/b",
            "ålice",
            &"u".repeat(33),
        ] {
            assert!(!ok(unix_name("principal", bad)), "{bad}");
        }
    }

    #[test]
    fn errors_name_the_field() {
        let e = tag("tags[3]", "aws:x", "y").unwrap_err();
        assert_eq!(e.field, "tags[3]");
        assert!(e.message.contains("reserved"), "{e}");
        let e = unix_name("principals[1]", "Root").unwrap_err();
        assert_eq!(e.field, "principals[1]");
        assert_eq!(e.to_string(), format!("principals[1]: {}", e.message));
    }
}
