//! The socket client: one connection per lookup, bounded in time. The
//! connect, the peer check and the deadlines are `ward_agentlink`'s (the
//! same code pam_ward uses).

use std::path::Path;
use std::time::Duration;

use ward_agentlink::Link;
use ward_protocol::agent::{Group, Passwd, Request, Response, LIST_PAGE};

/// The agent's socket (no override: see the crate documentation).
pub const SOCKET: &str = ward_protocol::agent::DEFAULT_SOCKET;

/// Bound on the connect and on each exchange.
pub const TIMEOUT: Duration = Duration::from_secs(1);

/// Most enumeration pages fetched (256 entries each).
pub const MAX_PAGES: usize = 4096;

/// Why a lookup has no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The agent is down, busy, slow or answered nonsense.
    Unavailable,
}

/// A connection to the agent.
pub struct Client {
    link: Link,
}

impl Client {
    /// Connects to `path` without blocking on a full backlog past
    /// [`TIMEOUT`].
    pub fn connect(path: &Path) -> Result<Client, Error> {
        let link = Link::connect(path, TIMEOUT).map_err(|_| Error::Unavailable)?;
        Ok(Client { link })
    }

    /// Connects to [`SOCKET`].
    pub fn default_socket() -> Result<Client, Error> {
        Client::connect(Path::new(SOCKET))
    }

    fn ask(&mut self, req: Request) -> Result<Response, Error> {
        match self.link.ask(req) {
            Ok(Response::Error { .. }) | Err(_) => Err(Error::Unavailable),
            Ok(r) => Ok(r),
        }
    }

    /// `getpwnam`.
    pub fn passwd_by_name(&mut self, name: &str) -> Result<Option<Passwd>, Error> {
        match self.ask(Request::PasswdByName { name: name.into() })? {
            Response::Passwd { entry } => Ok(entry),
            _ => Err(Error::Unavailable),
        }
    }

    /// `getpwuid`.
    pub fn passwd_by_uid(&mut self, uid: u32) -> Result<Option<Passwd>, Error> {
        match self.ask(Request::PasswdByUid { uid })? {
            Response::Passwd { entry } => Ok(entry),
            _ => Err(Error::Unavailable),
        }
    }

    /// `getgrnam`.
    pub fn group_by_name(&mut self, name: &str) -> Result<Option<Group>, Error> {
        match self.ask(Request::GroupByName { name: name.into() })? {
            Response::Group { entry } => Ok(entry),
            _ => Err(Error::Unavailable),
        }
    }

    /// `getgrgid`.
    pub fn group_by_gid(&mut self, gid: u32) -> Result<Option<Group>, Error> {
        match self.ask(Request::GroupByGid { gid })? {
            Response::Group { entry } => Ok(entry),
            _ => Err(Error::Unavailable),
        }
    }

    /// Supplementary gids (`None`: not a ward user).
    pub fn initgroups(&mut self, user: &str) -> Result<Option<Vec<u32>>, Error> {
        match self.ask(Request::Initgroups { user: user.into() })? {
            Response::Initgroups { gids } => Ok(gids),
            _ => Err(Error::Unavailable),
        }
    }

    /// Every passwd entry, page by page.
    pub fn passwd_all(&mut self) -> Result<Vec<Passwd>, Error> {
        let mut all = Vec::new();
        let mut offset = Some(0u32);
        for _ in 0..MAX_PAGES {
            let Some(o) = offset else { break };
            match self.ask(Request::PasswdList { offset: o })? {
                Response::PasswdList { entries, next } => {
                    if entries.len() > LIST_PAGE || next.is_some_and(|n| n <= o) {
                        return Err(Error::Unavailable);
                    }
                    all.extend(entries);
                    offset = next;
                }
                _ => return Err(Error::Unavailable),
            }
        }
        Ok(all)
    }

    /// Every group, page by page.
    pub fn group_all(&mut self) -> Result<Vec<Group>, Error> {
        let mut all = Vec::new();
        let mut offset = Some(0u32);
        for _ in 0..MAX_PAGES {
            let Some(o) = offset else { break };
            match self.ask(Request::GroupList { offset: o })? {
                Response::GroupList { entries, next } => {
                    if entries.len() > LIST_PAGE || next.is_some_and(|n| n <= o) {
                        return Err(Error::Unavailable);
                    }
                    all.extend(entries);
                    offset = next;
                }
                _ => return Err(Error::Unavailable),
            }
        }
        Ok(all)
    }
}
