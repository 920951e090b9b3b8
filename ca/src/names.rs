//! Name, path, tag and password rules, following AWS IAM's (botocore's
//! service model) so that names valid in AWS are valid here and the same
//! limits apply (SPEC §3). Every violation is an [`ApiError`] naming the
//! field and the rule.

use crate::error::ApiError;

fn name_chars(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
}

fn check_name(field: &str, what: &str, s: &str, max: usize) -> Result<(), ApiError> {
    let n = s.chars().count();
    if n == 0 || n > max {
        return Err(ApiError::invalid(
            field,
            format!("{what} must be 1 to {max} characters, got {n}"),
        ));
    }
    if !name_chars(s) {
        return Err(ApiError::invalid(
            field,
            format!("{what} {s:?} may contain only letters, digits and _+=,.@-"),
        ));
    }
    Ok(())
}

/// User and role names: 1–64 of `[\w+=,.@-]`.
pub fn user_name(field: &str, s: &str) -> Result<(), ApiError> {
    check_name(field, "user name", s, 64)
}

/// Group names: 1–128 of `[\w+=,.@-]`.
pub fn group_name(field: &str, s: &str) -> Result<(), ApiError> {
    check_name(field, "group name", s, 128)
}

/// Managed and inline policy names: 1–128 of `[\w+=,.@-]`.
pub fn policy_name(field: &str, s: &str) -> Result<(), ApiError> {
    check_name(field, "policy name", s, 128)
}

/// Paths: `/` or `/a/b/`, 1–512 printable ASCII characters.
pub fn path(field: &str, s: &str) -> Result<(), ApiError> {
    let ok = !s.is_empty()
        && s.len() <= 512
        && s.starts_with('/')
        && s.ends_with('/')
        && !s.contains("//")
        && s.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            field,
            format!("path {s:?} must begin and end with '/', contain no empty segment and be 1 to 512 printable ASCII characters"),
        ))
    }
}

/// Free text and filters (descriptions, markers, audit filters): at most
/// `max` characters and no control characters but tab and newline.
/// PostgreSQL cannot store a NUL in text, so one would otherwise reach the
/// store as a 500 (SPEC §7).
pub fn text(field: &str, s: &str, max: usize) -> Result<(), ApiError> {
    let n = s.chars().count();
    if n > max {
        return Err(ApiError::invalid(
            field,
            format!("{field} must be at most {max} characters, got {n}"),
        ));
    }
    if s.chars().any(|c| c.is_control() && c != '\t' && c != '\n') {
        return Err(ApiError::invalid(
            field,
            format!("{field} must not contain control characters"),
        ));
    }
    Ok(())
}

/// Most tags per entity.
pub const MAX_TAGS: usize = 50;

/// Tag keys (1–128) and values (0–256): letters, digits, spaces and
/// `_.:/=+-@`; keys may not start with the reserved `aws:` or `ward:`.
pub fn tag(field: &str, key: &str, value: &str) -> Result<(), ApiError> {
    let chars_ok = |s: &str| {
        s.chars()
            .all(|c| c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c))
    };
    let k = key.chars().count();
    if k == 0 || k > 128 || !chars_ok(key) {
        return Err(ApiError::invalid(
            field,
            format!("tag key {key:?} must be 1 to 128 letters, digits, spaces or _.:/=+-@"),
        ));
    }
    let lower = key.to_ascii_lowercase();
    if lower.starts_with("aws:") || lower.starts_with("ward:") {
        return Err(ApiError::invalid(
            field,
            format!("tag key {key:?} uses a reserved prefix (aws:, ward:)"),
        ));
    }
    if value.chars().count() > 256 || !chars_ok(value) {
        return Err(ApiError::invalid(
            field,
            format!(
                "tag value for {key:?} must be at most 256 letters, digits, spaces or _.:/=+-@"
            ),
        ));
    }
    Ok(())
}

/// Passwords commonly tried first; a real deployment adds its own list.
const DENY_LIST: &[&str] = &[
    "password",
    "passw0rd",
    "123456789012",
    "qwertyuiop",
    "letmein",
    "welcome",
    "iloveyou",
    "administrator",
    "changeme",
    "trustno1",
    "correcthorsebatterystaple",
];

/// The password policy: minimum length, at most 128 characters, not a
/// deny-listed password, not containing the user name.
pub fn password(field: &str, user: &str, pw: &str, min_length: usize) -> Result<(), ApiError> {
    let n = pw.chars().count();
    if n < min_length {
        return Err(ApiError::invalid_code(
            "PasswordPolicyViolation",
            field,
            format!("password must be at least {min_length} characters"),
        ));
    }
    if n > 128 {
        return Err(ApiError::invalid_code(
            "PasswordPolicyViolation",
            field,
            "password must be at most 128 characters",
        ));
    }
    let lower = pw.to_lowercase();
    if DENY_LIST.iter().any(|d| lower.contains(d)) {
        return Err(ApiError::invalid_code(
            "PasswordPolicyViolation",
            field,
            "password is too common",
        ));
    }
    if user.chars().count() >= 3 && lower.contains(&user.to_lowercase()) {
        return Err(ApiError::invalid_code(
            "PasswordPolicyViolation",
            field,
            "password must not contain the user name",
        ));
    }
    if pw.chars().any(char::is_control) {
        return Err(ApiError::invalid_code(
            "PasswordPolicyViolation",
            field,
            "password must not contain control characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(r: Result<(), ApiError>) -> bool {
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
        assert!(ok(group_name("name", &"g".repeat(128))));
        assert!(!ok(group_name("name", &"g".repeat(129))));
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
        assert!(ok(text("description", "two\tlines\nof text", 100)));
        assert!(!ok(text("description", "a\u{0}b", 100)));
        assert!(!ok(text("description", "a\rb", 100)));
        assert!(!ok(text("marker", &"m".repeat(257), 256)));
    }

    #[test]
    fn passwords() {
        assert!(ok(password("password", "alice", "tr0ub4dor&3-horse", 12)));
        assert!(!ok(password("password", "alice", "short", 12)));
        assert!(!ok(password("password", "alice", "MyPassword123!!", 12)));
        assert!(!ok(password("password", "alice", "xx-Alice-2024-yy", 12)));
        assert!(!ok(password("password", "alice", &"x".repeat(129), 12)));
        assert!(!ok(password(
            "password",
            "alice",
            "abc\u{0}defghijklmn",
            12
        )));
    }
}
