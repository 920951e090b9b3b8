//! POSIX identities (issue #11, SPEC §3): the one place that turns a stored
//! user into the Unix account hosts serve, and the rules for the fields a
//! caller may set.
//!
//! [`posix_view`] is the only function that decides whether a user has a
//! POSIX account and applies the configured defaults; the API's `User`
//! response and the host snapshot both call it, so NSS can never serve an
//! account the API does not show. A user has a POSIX account only when its
//! name is a portable Unix name (`ward_authz::names::unix_name`:
//! `[a-z_][a-z0-9_.-]*`, at most 32 characters, not all digits); ids come
//! from the one `unix_id` counter shared with groups (`store::iam`), the
//! primary group is the user-private group (gid = uid), and a NULL home or
//! shell means the configured default. Shell, home and gecos end up in
//! `passwd` lines, whose fields are separated by `:` and records by
//! newlines, so those (and every control character) are refused. The
//! configured defaults and the field rules they share are
//! [`PosixDefaults`] in `config` (`[unix]`).

use ward_protocol::host::Posix;

use crate::config::{check_shell, normalised_home, passwd_field, PosixDefaults};
use crate::error::ApiError;
use crate::store::iam::User;

/// Why a user named `name` has no POSIX account, or `None` when it has one.
pub fn no_posix_reason(name: &str) -> Option<String> {
    ward_authz::names::unix_name("name", name).err().map(|_| {
        format!(
            "{name:?} is not a portable Unix name ([a-z_][a-z0-9_.-]*, at most 32 characters, \
             not all digits): the user has no POSIX account and hosts will not serve it \
             (rename the user to give it one)"
        )
    })
}

/// A user's POSIX account with the configured defaults applied, or `None`
/// when its name is not a portable Unix name. This is the one definition
/// the API and the host snapshot share.
pub fn posix_view(u: &User, d: &PosixDefaults) -> Option<Posix> {
    if no_posix_reason(&u.name).is_some() {
        return None;
    }
    let uid = u32::try_from(u.uid).ok()?;
    let gid = u32::try_from(u.gid.unwrap_or(u.uid)).ok()?;
    Some(Posix {
        uid,
        gid,
        home: u.home.clone().unwrap_or_else(|| d.home_for(&u.name)),
        shell: u.shell.clone().unwrap_or_else(|| d.shell().to_owned()),
        gecos: u.gecos.clone(),
    })
}

/// A requested shell (`""` = the default, returned as `None`).
pub fn shell(field: &str, s: &str) -> Result<Option<String>, ApiError> {
    if s.is_empty() {
        return Ok(None);
    }
    check_shell(s).map_err(|e| ApiError::invalid(field, format!("{field} {e}")))?;
    Ok(Some(s.to_owned()))
}

/// A requested home (`""` = the template, returned as `None`), normalised.
pub fn home(field: &str, s: &str) -> Result<Option<String>, ApiError> {
    if s.is_empty() {
        return Ok(None);
    }
    normalised_home(s)
        .map(Some)
        .map_err(|e| ApiError::invalid(field, format!("{field} {e}")))
}

/// A requested gecos (may be empty).
pub fn gecos(field: &str, s: &str) -> Result<String, ApiError> {
    passwd_field(s).map_err(|e| ApiError::invalid(field, format!("{field} {e}")))?;
    Ok(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> User {
        User {
            id: "AIDAX".into(),
            name: name.into(),
            path: "/".into(),
            uid: 200_007,
            gid: Some(200_007),
            home: None,
            shell: None,
            gecos: String::new(),
            disabled_at: None,
            created_at: 0,
            boundary_policy_id: None,
        }
    }

    #[test]
    fn view_applies_defaults_and_name_rule() {
        let d = PosixDefaults::default();
        let v = posix_view(&user("alice"), &d).expect("portable");
        assert_eq!(
            (v.uid, v.gid, v.home.as_str(), v.shell.as_str()),
            (200_007, 200_007, "/home/alice", "/bin/bash")
        );
        for bad in ["Alice", "-x", "1234", "a,b", "a@b", "a%b", &"a".repeat(33)] {
            assert!(posix_view(&user(bad), &d).is_none(), "{bad}");
            assert!(no_posix_reason(bad).is_some(), "{bad}");
        }
        let custom = PosixDefaults::new(Some("/srv/{name}/"), Some("/bin/zsh")).unwrap();
        let mut u = user("bob");
        assert_eq!(posix_view(&u, &custom).unwrap().home, "/srv/bob");
        u.home = Some("/data/b".into());
        u.shell = Some("/bin/sh".into());
        let v = posix_view(&u, &custom).unwrap();
        assert_eq!((v.home.as_str(), v.shell.as_str()), ("/data/b", "/bin/sh"));
    }

    #[test]
    fn fields() {
        assert_eq!(
            home("home", "//srv/./a/").unwrap().as_deref(),
            Some("/srv/a")
        );
        assert_eq!(home("home", "").unwrap(), None);
        for bad in [
            "srv/a",
            "/a/../b",
            "/a:b",
            "/a\nb",
            &format!("/{}", "a".repeat(255)),
        ] {
            assert!(home("home", bad).is_err(), "{bad:?}");
        }
        assert!(shell("shell", "/bin/zsh").unwrap().is_some());
        for bad in ["zsh", "/", "/bin/sh:x", "/bin/sh\n", "/bin/\u{7}"] {
            assert!(shell("shell", bad).is_err(), "{bad:?}");
        }
        assert!(gecos("gecos", "Alice Doe,Room 1,,").is_ok());
        for bad in ["a:b", "a\nb", "a\u{0}b", &"g".repeat(256)] {
            assert!(gecos("gecos", bad).is_err(), "{bad:?}");
        }
    }
}
