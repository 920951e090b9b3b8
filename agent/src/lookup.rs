//! NSS answers (passwd, group, initgroups) from the snapshot, for
//! libnss_ward through the agent socket (issue #11 item 6).
//!
//! What is served:
//! - a passwd entry for every user with a POSIX view, **disabled users
//!   included**: their files keep resolving to a name (`ls -l`, `find
//!   -user`), while every login decision for them is a denial;
//! - a user-private group per such user (name = user name, gid = the
//!   user's gid, no members);
//! - every ward group with a gid, its members being the users (served
//!   above) who are in it;
//! - initgroups: the gids of the served ward groups a user is in.
//!
//! Local entries win: a name or id present in the local passwd or group
//! file is never answered, and an entry colliding with one is dropped from
//! enumeration too. A passwd entry whose primary gid is a local group's is
//! dropped (its primary group would otherwise be that local group). The
//! files are re-read when their mtime or size changes; if one cannot be
//! read, lookups fail (`unavailable`) rather than risk shadowing a local
//! account.
//!
//! Lookups use the snapshot whatever its age (names must keep resolving
//! while ward-ca is unreachable); only decisions are bound by the
//! staleness limit.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use ward_protocol::agent::{Group, Passwd, Response, LIST_PAGE};
use ward_protocol::host::Snapshot;

use crate::shared::Current;

/// Names and ids in the local files.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LocalIds {
    /// Local user names.
    pub users: HashSet<String>,
    /// Local uids.
    pub uids: HashSet<u32>,
    /// Local group names.
    pub groups: HashSet<String>,
    /// Local gids.
    pub gids: HashSet<u32>,
}

/// Parses `name:x:ID:…` lines: the names and the ids (third field).
fn parse_colon_file(text: &str, names: &mut HashSet<String>, ids: &mut HashSet<u32>) {
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut f = line.split(':');
        let name = f.next().unwrap_or("");
        // `+`/`-` compat entries name no local account.
        if name.is_empty() || name.starts_with('+') || name.starts_with('-') {
            continue;
        }
        names.insert(name.to_owned());
        if let Some(id) = f.nth(1).and_then(|s| s.parse::<u32>().ok()) {
            ids.insert(id);
        }
    }
}

/// The directory served from one snapshot and one state of the local files.
#[derive(Debug, Default)]
pub struct Directory {
    passwd: Vec<Passwd>,
    groups: Vec<Group>,
    user_by_name: HashMap<String, usize>,
    user_by_uid: HashMap<u32, usize>,
    group_by_name: HashMap<String, usize>,
    group_by_gid: HashMap<u32, usize>,
    initgroups: HashMap<String, Vec<u32>>,
}

impl Directory {
    /// Builds the directory of `snap`, without anything `local` holds.
    pub fn build(snap: &Snapshot, local: &LocalIds) -> Directory {
        let mut d = Directory::default();
        let mut users: Vec<Passwd> = snap
            .users
            .iter()
            .filter(|u| ward_authz::names::unix_name("name", &u.name).is_ok())
            .filter_map(|u| {
                u.posix.as_ref().map(|p| Passwd {
                    name: u.name.clone(),
                    uid: p.uid,
                    gid: p.gid,
                    gecos: p.gecos.clone(),
                    home: p.home.clone(),
                    shell: p.shell.clone(),
                })
            })
            .filter(|p| {
                !local.users.contains(&p.name)
                    && !local.uids.contains(&p.uid)
                    && !local.gids.contains(&p.gid)
            })
            .collect();
        // Two ward entries with one name or uid: neither is served.
        let mut names = HashMap::<String, usize>::new();
        let mut uids = HashMap::<u32, usize>::new();
        for p in &users {
            *names.entry(p.name.clone()).or_default() += 1;
            *uids.entry(p.uid).or_default() += 1;
        }
        users.retain(|p| names[&p.name] == 1 && uids[&p.uid] == 1);
        users.sort_by_key(|p| p.uid);
        let served: HashSet<&str> = users.iter().map(|p| p.name.as_str()).collect();

        let mut groups: Vec<Group> = Vec::new();
        for p in &users {
            if !local.groups.contains(&p.name) {
                groups.push(Group {
                    name: p.name.clone(),
                    gid: p.gid,
                    members: Vec::new(),
                });
            }
        }
        for g in &snap.groups {
            let Some(gid) = g.gid else { continue };
            if ward_authz::names::unix_name("name", &g.name).is_err()
                || local.groups.contains(&g.name)
                || local.gids.contains(&gid)
            {
                continue;
            }
            let mut members: Vec<String> = snap
                .users
                .iter()
                .filter(|u| served.contains(u.name.as_str()) && u.groups.contains(&g.name))
                .map(|u| u.name.clone())
                .collect();
            members.sort();
            groups.push(Group {
                name: g.name.clone(),
                gid,
                members,
            });
        }
        let mut gnames = HashMap::<String, usize>::new();
        let mut gids = HashMap::<u32, usize>::new();
        for g in &groups {
            *gnames.entry(g.name.clone()).or_default() += 1;
            *gids.entry(g.gid).or_default() += 1;
        }
        groups.retain(|g| gnames[&g.name] == 1 && gids[&g.gid] == 1);
        groups.sort_by_key(|g| g.gid);

        for (i, p) in users.iter().enumerate() {
            d.user_by_name.insert(p.name.clone(), i);
            d.user_by_uid.insert(p.uid, i);
        }
        for (i, g) in groups.iter().enumerate() {
            d.group_by_name.insert(g.name.clone(), i);
            d.group_by_gid.insert(g.gid, i);
            for m in &g.members {
                d.initgroups.entry(m.clone()).or_default().push(g.gid);
            }
        }
        d.passwd = users;
        d.groups = groups;
        d
    }

    /// `getpwnam`.
    pub fn passwd_by_name(&self, name: &str) -> Option<&Passwd> {
        self.user_by_name.get(name).map(|&i| &self.passwd[i])
    }

    /// `getpwuid`.
    pub fn passwd_by_uid(&self, uid: u32) -> Option<&Passwd> {
        self.user_by_uid.get(&uid).map(|&i| &self.passwd[i])
    }

    /// `getgrnam`.
    pub fn group_by_name(&self, name: &str) -> Option<&Group> {
        self.group_by_name.get(name).map(|&i| &self.groups[i])
    }

    /// `getgrgid`.
    pub fn group_by_gid(&self, gid: u32) -> Option<&Group> {
        self.group_by_gid.get(&gid).map(|&i| &self.groups[i])
    }

    /// Supplementary gids of a served user (`None`: not served).
    pub fn initgroups(&self, user: &str) -> Option<Vec<u32>> {
        self.passwd_by_name(user)?;
        Some(self.initgroups.get(user).cloned().unwrap_or_default())
    }

    /// A page of passwd entries from `offset`.
    pub fn passwd_page(&self, offset: u32) -> (Vec<Passwd>, Option<u32>) {
        page(&self.passwd, offset)
    }

    /// A page of groups from `offset`.
    pub fn group_page(&self, offset: u32) -> (Vec<Group>, Option<u32>) {
        page(&self.groups, offset)
    }
}

fn page<T: Clone>(all: &[T], offset: u32) -> (Vec<T>, Option<u32>) {
    let start = (offset as usize).min(all.len());
    let end = start.saturating_add(LIST_PAGE).min(all.len());
    let next = (end < all.len()).then(|| u32::try_from(end).ok()).flatten();
    (all[start..end].to_vec(), next)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    mtime: Option<SystemTime>,
    len: u64,
}

fn stamp(p: &Path) -> std::io::Result<Stamp> {
    let m = std::fs::metadata(p)?;
    Ok(Stamp {
        mtime: m.modified().ok(),
        len: m.len(),
    })
}

struct State {
    stamps: Option<(Stamp, Stamp)>,
    local: Arc<LocalIds>,
    snapshot: Option<Arc<Current>>,
    directory: Arc<Directory>,
}

/// Serves lookups from the current snapshot and the local files.
pub struct Lookup {
    passwd_file: PathBuf,
    group_file: PathBuf,
    state: Mutex<State>,
}

impl Lookup {
    /// Lookups that defer to `passwd_file` and `group_file`.
    pub fn new(passwd_file: PathBuf, group_file: PathBuf) -> Lookup {
        Lookup {
            passwd_file,
            group_file,
            state: Mutex::new(State {
                stamps: None,
                local: Arc::default(),
                snapshot: None,
                directory: Arc::default(),
            }),
        }
    }

    /// The directory for `cur` (rebuilt when the snapshot or a local file
    /// changed); an error if a local file cannot be read.
    pub fn directory(&self, cur: &Arc<Current>) -> std::io::Result<Arc<Directory>> {
        let stamps = (stamp(&self.passwd_file)?, stamp(&self.group_file)?);
        let mut st = match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let mut changed = false;
        if st.stamps != Some(stamps) {
            let mut local = LocalIds::default();
            let pw = std::fs::read_to_string(&self.passwd_file)?;
            let gr = std::fs::read_to_string(&self.group_file)?;
            parse_colon_file(&pw, &mut local.users, &mut local.uids);
            parse_colon_file(&gr, &mut local.groups, &mut local.gids);
            st.local = Arc::new(local);
            st.stamps = Some(stamps);
            changed = true;
        }
        if changed || !st.snapshot.as_ref().is_some_and(|s| Arc::ptr_eq(s, cur)) {
            st.directory = Arc::new(Directory::build(&cur.snapshot, &st.local));
            st.snapshot = Some(cur.clone());
        }
        Ok(st.directory.clone())
    }

    /// Answers a lookup request (`None`: not a lookup). With no snapshot
    /// every lookup answers "none" (the agent knows no ward account yet).
    pub fn answer(
        &self,
        cur: Option<&Arc<Current>>,
        req: &ward_protocol::agent::Request,
    ) -> Option<Response> {
        use ward_protocol::agent::Request as R;
        let empty = Arc::new(Directory::default());
        let dir = match cur {
            None => empty,
            Some(c) => match self.directory(c) {
                Ok(d) => d,
                Err(e) => {
                    return Some(Response::Error {
                        code: "unavailable".into(),
                        message: format!("the local passwd/group files cannot be read: {e}"),
                    })
                }
            },
        };
        Some(match req {
            R::PasswdByName { name } => Response::Passwd {
                entry: dir.passwd_by_name(name).cloned(),
            },
            R::PasswdByUid { uid } => Response::Passwd {
                entry: dir.passwd_by_uid(*uid).cloned(),
            },
            R::PasswdList { offset } => {
                let (entries, next) = dir.passwd_page(*offset);
                Response::PasswdList { entries, next }
            }
            R::GroupByName { name } => Response::Group {
                entry: dir.group_by_name(name).cloned(),
            },
            R::GroupByGid { gid } => Response::Group {
                entry: dir.group_by_gid(*gid).cloned(),
            },
            R::GroupList { offset } => {
                let (entries, next) = dir.group_page(*offset);
                Response::GroupList { entries, next }
            }
            R::Initgroups { user } => Response::Initgroups {
                gids: dir.initgroups(user),
            },
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ward_protocol::host::{Posix, SnapshotGroup, SnapshotUser};

    fn user(name: &str, uid: u32, groups: &[&str], enabled: bool) -> SnapshotUser {
        SnapshotUser {
            id: format!("AIDA{}", name.to_uppercase()),
            name: name.into(),
            path: "/".into(),
            enabled,
            posix: Some(Posix {
                uid,
                gid: uid,
                home: format!("/home/{name}"),
                shell: "/bin/bash".into(),
                gecos: String::new(),
            }),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            ..SnapshotUser::default()
        }
    }

    fn snap() -> Snapshot {
        Snapshot {
            users: vec![
                user("alice", 200000, &["ops"], true),
                user("bob", 200001, &["ops"], false),
                user("carol", 200002, &[], true),
                user("dave", 1000, &[], true),
                SnapshotUser {
                    posix: None,
                    ..user("Eve", 200004, &["ops"], true)
                },
            ],
            groups: vec![
                SnapshotGroup {
                    name: "ops".into(),
                    gid: Some(200010),
                    ..SnapshotGroup::default()
                },
                SnapshotGroup {
                    name: "wheel".into(),
                    gid: Some(200011),
                    ..SnapshotGroup::default()
                },
                SnapshotGroup {
                    name: "nogid".into(),
                    gid: None,
                    ..SnapshotGroup::default()
                },
            ],
            ..Snapshot::default()
        }
    }

    fn local() -> LocalIds {
        let mut l = LocalIds::default();
        parse_colon_file(
            "root:x:0:0::/root:/bin/bash\ncarol:x:1001:1001::/home/carol:/bin/sh\ndave2:x:1000:1000::/:/bin/sh\n# c\n+nis\n",
            &mut l.users,
            &mut l.uids,
        );
        parse_colon_file(
            "root:x:0:\nwheel:x:10:\nx:x:200002:\n",
            &mut l.groups,
            &mut l.gids,
        );
        l
    }

    #[test]
    fn local_names_and_ids_win_and_disabled_users_still_resolve() {
        let d = Directory::build(&snap(), &local());
        assert_eq!(d.passwd_by_name("alice").map(|p| p.uid), Some(200000));
        assert_eq!(
            d.passwd_by_uid(200001).map(|p| p.name.as_str()),
            Some("bob")
        );
        // carol: local name. dave: local uid 1000. Eve: no POSIX view.
        for n in ["carol", "dave", "Eve", "root", "nis", "+nis"] {
            assert!(d.passwd_by_name(n).is_none(), "{n}");
        }
        assert!(d.passwd_by_uid(1000).is_none());
        assert_eq!(d.group_by_name("alice").map(|g| g.gid), Some(200000));
        let ops = d
            .group_by_name("ops")
            .cloned()
            .unwrap_or_else(|| panic!("ops"));
        assert_eq!(ops.members, ["alice", "bob"]);
        assert!(d.group_by_name("wheel").is_none(), "local group name wins");
        assert!(d.group_by_name("nogid").is_none());
        assert_eq!(d.initgroups("alice"), Some(vec![200010]));
        assert_eq!(d.initgroups("carol"), None);
        let (all, next) = d.passwd_page(0);
        assert_eq!(next, None);
        assert_eq!(
            all.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            ["alice", "bob"]
        );
    }

    #[test]
    fn enumeration_pages_cover_everything_once() {
        let mut s = Snapshot::default();
        for i in 0..(LIST_PAGE as u32 * 2 + 7) {
            s.users.push(user(&format!("u{i}"), 300000 + i, &[], true));
        }
        let d = Directory::build(&s, &LocalIds::default());
        let mut seen = Vec::new();
        let mut off = Some(0);
        while let Some(o) = off {
            let (e, n) = d.passwd_page(o);
            assert!(e.len() <= LIST_PAGE);
            seen.extend(e.into_iter().map(|p| p.uid));
            off = n;
        }
        assert_eq!(seen.len(), s.users.len());
        assert_eq!(d.passwd_page(u32::MAX), (Vec::new(), None));
    }
}
