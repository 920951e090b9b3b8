//! Bridges a client's session channel at the gateway to the session
//! channel on the target (terminating mode): requests (pty-req,
//! window-change, env, shell, exec — which carries scp —, subsystem — sftp
//! —, signal) go to the target with the client's want-reply, and the
//! target's replies come back in order (SSH answers a channel's requests in
//! order); data both ways, stderr, EOF, exit-status, exit-signal and close.
//! Output is recorded; input only when configured. X11 and agent
//! forwarding are refused — answered by the connection handler
//! ([`crate::server`]), not here, for the reason below; window-change and
//! signal go to the target without want-reply and are answered there too.
//!
//! Environment requests are bounded ([`MAX_ENV`] of them, names and values
//! of bounded size); beyond that they are refused without reaching the
//! target. They go to the target without want-reply and the gateway's
//! connection handler answers the client ([`env_forwarded`]): russh hands
//! every channel request over as wanting a reply, so an answer from here
//! could land on the client's next request instead.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use russh::server::Msg;
use russh::{Channel, ChannelMsg};

use crate::recording::Recording;

/// Most environment requests forwarded per channel.
pub const MAX_ENV: usize = 64;
/// Longest environment variable name forwarded.
pub const MAX_ENV_NAME: usize = 256;
/// Longest environment variable value forwarded.
pub const MAX_ENV_VALUE: usize = 8192;

/// Whether the `n`th environment request of a channel (from 1), naming
/// `name` = `value`, is forwarded to the target.
pub fn env_forwarded(n: usize, name: &str, value: &str) -> bool {
    n <= MAX_ENV && !name.is_empty() && name.len() <= MAX_ENV_NAME && value.len() <= MAX_ENV_VALUE
}

/// Bytes carried each way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Client to target.
    pub input: u64,
    /// Target to client (stdout and stderr).
    pub output: u64,
}

fn lock(r: &Mutex<Recording>) -> std::sync::MutexGuard<'_, Recording> {
    match r.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Runs until the target closes its channel or the client closes its own;
/// then closes the other side. Returns the byte counts.
pub async fn run(
    client: Channel<Msg>,
    target: Channel<russh::client::Msg>,
    handle: russh::server::Handle,
    recording: Recording,
) -> Counts {
    let cid = client.id();
    let (mut c_read, c_write) = client.split();
    let (mut t_read, t_write) = target.split();
    let rec = Arc::new(Mutex::new(recording));
    let t_write = Arc::new(t_write);

    // Client → target.
    let up_rec = rec.clone();
    let up_t = t_write.clone();
    let input = Arc::new(AtomicU64::new(0));
    let up_bytes = input.clone();
    let mut up = tokio::spawn(async move {
        let mut envs = 0usize;
        while let Some(msg) = c_read.wait().await {
            let sent = match msg {
                ChannelMsg::Data { data } => {
                    up_bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
                    lock(&up_rec).input(&data);
                    up_t.data_bytes(data).await
                }
                ChannelMsg::Eof => up_t.eof().await,
                ChannelMsg::Close => break,
                ChannelMsg::RequestPty {
                    want_reply,
                    term,
                    col_width,
                    row_height,
                    pix_width,
                    pix_height,
                    terminal_modes,
                } => {
                    lock(&up_rec).pty(&term, col_width, row_height);
                    up_t.request_pty(
                        want_reply,
                        &term,
                        col_width,
                        row_height,
                        pix_width,
                        pix_height,
                        &terminal_modes,
                    )
                    .await
                }
                ChannelMsg::WindowChange {
                    col_width,
                    row_height,
                    pix_width,
                    pix_height,
                } => {
                    lock(&up_rec).resize(col_width, row_height);
                    up_t.window_change(col_width, row_height, pix_width, pix_height)
                        .await
                }
                ChannelMsg::SetEnv {
                    variable_name,
                    variable_value,
                    ..
                } => {
                    envs += 1;
                    if env_forwarded(envs, &variable_name, &variable_value) {
                        lock(&up_rec).env(&variable_name, &variable_value);
                        up_t.set_env(false, variable_name, variable_value).await
                    } else {
                        Ok(())
                    }
                }
                ChannelMsg::RequestShell { want_reply } => up_t.request_shell(want_reply).await,
                ChannelMsg::Exec {
                    want_reply,
                    command,
                } => up_t.exec(want_reply, command).await,
                ChannelMsg::RequestSubsystem { want_reply, name } => {
                    up_t.request_subsystem(want_reply, name).await
                }
                ChannelMsg::Signal { signal } => up_t.signal(signal).await,
                // Refused, and answered, by the connection handler while
                // russh handled the request (`x11_request`,
                // `agent_request`): an answer from here would land on
                // whatever request the client sent next.
                ChannelMsg::RequestX11 { .. } | ChannelMsg::AgentForward { .. } => Ok(()),
                _ => Ok(()),
            };
            if sent.is_err() {
                break;
            }
        }
    });

    // Target → client.
    let mut out = 0u64;
    let mut client_done = false;
    loop {
        let msg = tokio::select! {
            m = t_read.wait() => m,
            // The client went away: stop reading the target.
            _ = &mut up, if !client_done => {
                client_done = true;
                None
            }
        };
        let Some(msg) = msg else { break };
        let ok = match msg {
            ChannelMsg::Data { data } => {
                out += data.len() as u64;
                lock(&rec).output(&data);
                c_write.data_bytes(data).await.is_ok()
            }
            ChannelMsg::ExtendedData { data, ext } => {
                out += data.len() as u64;
                lock(&rec).output(&data);
                c_write.extended_data_bytes(ext, data).await.is_ok()
            }
            ChannelMsg::Eof => c_write.eof().await.is_ok(),
            ChannelMsg::ExitStatus { exit_status } => {
                c_write.exit_status(exit_status).await.is_ok()
            }
            ChannelMsg::ExitSignal {
                signal_name,
                core_dumped,
                error_message,
                lang_tag,
            } => handle
                .exit_signal_request(cid, signal_name, core_dumped, error_message, lang_tag)
                .await
                .is_ok(),
            ChannelMsg::Success => handle.channel_success(cid).await.is_ok(),
            ChannelMsg::Failure => handle.channel_failure(cid).await.is_ok(),
            ChannelMsg::Close => break,
            _ => true,
        };
        if !ok {
            break;
        }
    }
    let _ = c_write.close().await;
    let _ = t_write.close().await;
    if !client_done {
        up.abort();
        let _ = up.await;
    }
    lock(&rec).close();
    Counts {
        input: input.load(Ordering::Relaxed),
        output: out,
    }
}
