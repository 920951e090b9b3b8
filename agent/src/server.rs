//! TODO(agentcore stub): the agent socket server is written on branch
//! `agentdecide`; this stub exists only so that `run` compiles on branch
//! `agentcore`. The lead replaces it with the real server when merging.

use std::path::PathBuf;
use std::sync::Arc;

use crate::shared::Shared;

/// How the server runs (the fields `run` fills from the configuration).
pub struct ServerOptions {
    /// The socket path.
    pub socket: PathBuf,
    /// uids besides 0 that may ask for decisions.
    pub decision_uids: Vec<u32>,
    /// Local users (win every collision).
    pub passwd_file: PathBuf,
    /// Local groups (win every collision).
    pub group_file: PathBuf,
    /// Called once the socket is bound and accepting (systemd readiness).
    pub on_ready: Option<Box<dyn FnOnce() + Send>>,
}

impl Default for ServerOptions {
    fn default() -> ServerOptions {
        ServerOptions {
            socket: ward_protocol::agent::DEFAULT_SOCKET.into(),
            decision_uids: Vec::new(),
            passwd_file: "/etc/passwd".into(),
            group_file: "/etc/group".into(),
            on_ready: None,
        }
    }
}

/// TODO(agentcore stub): serves the socket (blocking).
pub fn serve(shared: Arc<Shared>, opts: ServerOptions) -> anyhow::Result<()> {
    let _ = (shared, opts);
    anyhow::bail!("the agent socket server is not built on this branch (stub)")
}
