//! The NSS entry points: libnss's macros generate the `extern "C"`
//! `_nss_ward_*` passwd and group functions around the hook types here;
//! `_nss_ward_initgroups_dyn` is written here by hand, because libnss
//! 0.9's version does not check `realloc` for failure (a NULL write under
//! memory pressure) and ignores glibc's `limit <= 0` meaning "no limit".
//! This file holds all the unsafe code of the crate. Each lookup runs under
//! `catch_unwind`: a panic becomes `UNAVAIL`, never an unwind across the C
//! boundary (which would abort the host process).

use std::ffi::CStr;
use std::panic::{catch_unwind, AssertUnwindSafe};

use libc::{c_char, c_int, c_long};

use libnss::group::{Group, GroupHooks};
use libnss::interop::Response;
use libnss::passwd::{Passwd, PasswdHooks};
use libnss::{libnss_group_hooks, libnss_passwd_hooks};
use ward_protocol::agent;

use crate::client::{Client, Error};

/// Longest name passed on to the agent.
const MAX_NAME: usize = 256;

fn guarded<T>(f: impl FnOnce() -> Result<Option<T>, Error>) -> Response<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(Some(v))) => Response::Success(v),
        Ok(Ok(None)) => Response::NotFound,
        Ok(Err(Error::Unavailable)) | Err(_) => Response::Unavail,
    }
}

fn passwd(p: agent::Passwd) -> Passwd {
    Passwd {
        name: p.name,
        passwd: "*".into(),
        uid: p.uid,
        gid: p.gid,
        gecos: p.gecos,
        dir: p.home,
        shell: p.shell,
    }
}

fn group(g: agent::Group) -> Group {
    Group {
        name: g.name,
        passwd: "*".into(),
        gid: g.gid,
        members: g.members,
    }
}

fn name_ok(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME
}

struct WardPasswd;

impl PasswdHooks for WardPasswd {
    fn get_all_entries() -> Response<Vec<Passwd>> {
        guarded(|| {
            let all = Client::default_socket()?.passwd_all()?;
            Ok(Some(all.into_iter().map(passwd).collect()))
        })
    }

    fn get_entry_by_uid(uid: libc::uid_t) -> Response<Passwd> {
        guarded(|| Ok(Client::default_socket()?.passwd_by_uid(uid)?.map(passwd)))
    }

    fn get_entry_by_name(name: String) -> Response<Passwd> {
        if !name_ok(&name) {
            return Response::NotFound;
        }
        guarded(|| Ok(Client::default_socket()?.passwd_by_name(&name)?.map(passwd)))
    }
}

struct WardGroup;

impl GroupHooks for WardGroup {
    fn get_all_entries() -> Response<Vec<Group>> {
        guarded(|| {
            let all = Client::default_socket()?.group_all()?;
            Ok(Some(all.into_iter().map(group).collect()))
        })
    }

    fn get_entry_by_gid(gid: libc::gid_t) -> Response<Group> {
        guarded(|| Ok(Client::default_socket()?.group_by_gid(gid)?.map(group)))
    }

    fn get_entry_by_name(name: String) -> Response<Group> {
        if !name_ok(&name) {
            return Response::NotFound;
        }
        guarded(|| Ok(Client::default_socket()?.group_by_name(&name)?.map(group)))
    }
}

/// The supplementary gids of `user`: `Ok(None)` if not a ward user.
fn initgroups(user: &str) -> Result<Option<Vec<u32>>, Error> {
    if !name_ok(user) {
        return Ok(None);
    }
    match catch_unwind(AssertUnwindSafe(|| {
        Client::default_socket()?.initgroups(user)
    })) {
        Ok(r) => r,
        Err(_) => Err(Error::Unavailable),
    }
}

// glibc's enum nss_status.
const NSS_STATUS_TRYAGAIN: c_int = -2;
const NSS_STATUS_UNAVAIL: c_int = -1;
const NSS_STATUS_NOTFOUND: c_int = 0;
const NSS_STATUS_SUCCESS: c_int = 1;

/// glibc's `initgroups_dyn` entry point: appends `user`'s ward gids
/// (except `skipgroup` and any already present) to `*groupsp[*start..]`,
/// growing the array with `realloc` up to `limit` (`limit <= 0`: no
/// limit).
///
/// # Safety
/// glibc's contract: `user` is a NUL-terminated string; `start`, `size`,
/// `groupsp` and `errnop` are valid pointers; `*groupsp` is a
/// `malloc`ed array of `*size` gids of which the first `*start` are set.
#[no_mangle]
pub unsafe extern "C" fn _nss_ward_initgroups_dyn(
    user: *const c_char,
    skipgroup: libc::gid_t,
    start: *mut c_long,
    size: *mut c_long,
    groupsp: *mut *mut libc::gid_t,
    limit: c_long,
    errnop: *mut c_int,
) -> c_int {
    if user.is_null() || start.is_null() || size.is_null() || groupsp.is_null() || errnop.is_null()
    {
        return NSS_STATUS_UNAVAIL;
    }
    // SAFETY: `user` is non-NULL and NUL-terminated (glibc's contract).
    let name = match unsafe { CStr::from_ptr(user) }.to_str() {
        Ok(n) => n,
        Err(_) => return NSS_STATUS_NOTFOUND,
    };
    let gids = match initgroups(name) {
        Ok(Some(g)) => g,
        Ok(None) => return NSS_STATUS_NOTFOUND,
        Err(Error::Unavailable) => return NSS_STATUS_UNAVAIL,
    };
    // SAFETY: the pointers are non-NULL and valid (glibc's contract), and
    // `*groupsp` holds `*size` gids, the first `*start` set; every write
    // below is at an index < `*size` after any growth, and a failed
    // realloc leaves the old array in place and untouched.
    unsafe {
        for gid in gids {
            if gid == skipgroup {
                continue;
            }
            let (s, n) = (*start, *size);
            if s < 0 || n < s {
                return NSS_STATUS_UNAVAIL;
            }
            let present = std::slice::from_raw_parts(*groupsp, s as usize);
            if present.contains(&gid) {
                continue;
            }
            if s == n {
                if limit > 0 && n >= limit {
                    break;
                }
                let mut grown = n.saturating_mul(2).max(s + 1);
                if limit > 0 {
                    grown = grown.min(limit);
                }
                let bytes = (grown as usize).saturating_mul(std::mem::size_of::<libc::gid_t>());
                let p = libc::realloc((*groupsp).cast(), bytes).cast::<libc::gid_t>();
                if p.is_null() {
                    *errnop = libc::ENOMEM;
                    return NSS_STATUS_TRYAGAIN;
                }
                *groupsp = p;
                *size = grown;
            }
            (*groupsp).add(*start as usize).write(gid);
            *start += 1;
        }
    }
    NSS_STATUS_SUCCESS
}

libnss_passwd_hooks!(ward, WardPasswd);
libnss_group_hooks!(ward, WardGroup);
