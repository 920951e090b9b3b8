//! Input rules. Name, path and tag rules are ward-authz's
//! ([`ward_authz::names`], re-exported here; their `InvalidName` becomes a
//! 400 naming the field through `From`); free text and the password policy
//! are ward-ca's own. Every violation is an [`ApiError`] naming the field
//! and the rule.

use crate::error::ApiError;

pub use ward_authz::names::{group_name, path, policy_name, role_name, tag, user_name, MAX_TAGS};

/// Whether `id` is a credential id of ours: `prefix` and then upper-case
/// letters or digits, `len` characters in all (`AKIA…`, `ASIA…`, `APKA…`).
/// Each caller names its own field and message.
pub fn is_credential_id(id: &str, prefix: &str, len: usize) -> bool {
    id.len() == len
        && id.starts_with(prefix)
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
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

/// The name of a new or renamed user: a valid user name other than
/// `root` (in any case), which the dashboard's sign-in reserves for the
/// account root (see [`crate::service::root_login`]).
pub fn new_user_name(field: &str, name: &str) -> Result<(), ApiError> {
    user_name(field, name)?;
    if name.eq_ignore_ascii_case("root") {
        return Err(ApiError::invalid(
            field,
            "the user name root is reserved for the account root",
        ));
    }
    Ok(())
}

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

/// Longest rhost accepted (a DNS name is at most 253).
const MAX_RHOST: usize = 253;

/// An rhost as sent by a host: at most 253 printable ASCII characters
/// (an address or a name); empty counts as absent; an address comes back
/// in canonical form (`::ffff:192.0.2.1` is `192.0.2.1`), a name in lower
/// case, so that each names one throttle scope.
pub(crate) fn check_rhost(rhost: Option<&str>) -> Result<Option<String>, ApiError> {
    match rhost {
        None | Some("") => Ok(None),
        Some(r) if r.len() > MAX_RHOST || !r.bytes().all(|b| b.is_ascii_graphic()) => {
            Err(ApiError::invalid(
                "rhost",
                format!("rhost must be at most {MAX_RHOST} printable ASCII characters"),
            ))
        }
        Some(r) => Ok(Some(match r.parse::<std::net::IpAddr>() {
            Ok(ip) => ip.to_canonical().to_string(),
            Err(_) => r.to_ascii_lowercase(),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(r: Result<(), ApiError>) -> bool {
        r.is_ok()
    }

    #[test]
    fn text_rules() {
        assert!(ok(text("description", "two\tlines\nof text", 100)));
        assert!(!ok(text("description", "a\u{0}b", 100)));
        assert!(!ok(text("description", "a\rb", 100)));
        assert!(!ok(text("marker", &"m".repeat(257), 256)));
    }

    #[test]
    fn name_rule_errors_become_400s_naming_the_field() {
        let e: ApiError = user_name("principals[2]", "al ice").unwrap_err().into();
        assert!(matches!(e, ApiError::Invalid { field: Some(ref f), .. } if f == "principals[2]"));
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
