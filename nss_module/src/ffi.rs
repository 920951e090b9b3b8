//! The NSS entry points: libnss's macros generate the `extern "C"`
//! `_nss_ward_*` functions (the only unsafe code in this crate, written
//! by the macros) around the hook types here. Each hook runs the lookup
//! under `catch_unwind`: a panic becomes `UNAVAIL`, never an unwind
//! across the C boundary (which would abort the host process).

use std::panic::{catch_unwind, AssertUnwindSafe};

use libnss::group::{Group, GroupHooks};
use libnss::initgroups::InitgroupsHooks;
use libnss::interop::Response;
use libnss::passwd::{Passwd, PasswdHooks};
use libnss::{libnss_group_hooks, libnss_initgroups_hooks, libnss_passwd_hooks};
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

struct WardInitgroups;

impl InitgroupsHooks for WardInitgroups {
    fn get_entries_by_user(user: String) -> Response<Vec<Group>> {
        if !name_ok(&user) {
            return Response::NotFound;
        }
        guarded(|| {
            let gids = Client::default_socket()?.initgroups(&user)?;
            Ok(gids.map(|g| {
                g.into_iter()
                    .map(|gid| Group {
                        name: String::new(),
                        passwd: String::new(),
                        gid,
                        members: Vec::new(),
                    })
                    .collect()
            }))
        })
    }
}

libnss_passwd_hooks!(ward, WardPasswd);
libnss_group_hooks!(ward, WardGroup);
libnss_initgroups_hooks!(ward, WardInitgroups);
