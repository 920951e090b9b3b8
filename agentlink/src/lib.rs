//! # ward-agentlink
//!
//! How code running inside someone else's process (pam_ward in sshd,
//! `login`, `sudo`; libnss_ward in every program that looks a user up)
//! talks to ward-agent: one connection, one or more
//! [`ward_protocol::agent::exchange`]s, everything bounded by a single
//! deadline. No `unsafe` (rustix does the syscalls), no threads, no async
//! runtime.
//!
//! - **Connect** is non-blocking: a Unix stream connect either completes
//!   at once or reports `EAGAIN` (the agent's backlog is full); then it is
//!   retried with a short back-off until the deadline, never blocking past
//!   it. A missing socket or a refused connection fails at once.
//! - **The peer** must be root or the calling user itself (`SO_PEERCRED`):
//!   a socket some other unprivileged user managed to put at the path is
//!   refused before a byte (a password, say) is written to it.
//! - **Each exchange** (request written, answer read) has its own
//!   deadline, `timeout` from its start: each read and write gets only the
//!   time left, so a peer that trickles a byte at a time cannot stretch an
//!   exchange beyond it. The connect is bounded the same way.
//! - The socket is close-on-exec, closed when the [`Link`] drops.

use std::io::{self, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
use ward_protocol::agent::{
    parse_response, read_frame, write_frame, Envelope, FrameError, Request, Response, MAX_REQUEST,
    MAX_RESPONSE,
};

/// Why the agent could not be asked.
#[derive(Debug)]
pub enum LinkError {
    /// The socket path cannot be a Unix socket address (too long, NUL).
    BadPath,
    /// No socket there, or the connection was refused.
    Connect(io::Error),
    /// The deadline passed (busy backlog, or a peer that stalls).
    TimedOut,
    /// The peer is neither root nor the calling user.
    UntrustedPeer(u32),
    /// The exchange failed (closed, malformed, too large, I/O).
    Frame(FrameError),
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkError::BadPath => write!(f, "the socket path is not a valid Unix socket address"),
            LinkError::Connect(e) => write!(f, "cannot connect: {e}"),
            LinkError::TimedOut => write!(f, "timed out"),
            LinkError::UntrustedPeer(uid) => {
                write!(f, "the socket is served by uid {uid}, not root: refused")
            }
            LinkError::Frame(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for LinkError {}

/// A connection to the agent; every exchange on it is bounded.
#[derive(Debug)]
pub struct Link {
    stream: UnixStream,
    timeout: Duration,
    deadline: Instant,
}

/// Longest pause between two connect attempts on a full backlog.
const MAX_BACKOFF: Duration = Duration::from_millis(50);

impl Link {
    /// Connects to `path` within `timeout`; each exchange on the link
    /// must then finish within `timeout` of its start.
    pub fn connect(path: &Path, timeout: Duration) -> Result<Link, LinkError> {
        let deadline = Instant::now() + timeout;
        let addr = SocketAddrUnix::new(path).map_err(|_| LinkError::BadPath)?;
        let mut backoff = Duration::from_millis(1);
        let fd = loop {
            let fd = rustix::net::socket_with(
                AddressFamily::UNIX,
                SocketType::STREAM,
                SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
                None,
            )
            .map_err(|e| LinkError::Connect(e.into()))?;
            match rustix::net::connect(&fd, &addr) {
                Ok(()) => break fd,
                Err(Errno::INPROGRESS) => {
                    wait_writable(&fd, deadline)?;
                    match rustix::net::sockopt::socket_error(&fd) {
                        Ok(Ok(())) => break fd,
                        Ok(Err(e)) | Err(e) => return Err(LinkError::Connect(e.into())),
                    }
                }
                Err(Errno::AGAIN) | Err(Errno::INTR) => {
                    // Backlog full: a new socket and another try, while
                    // time is left.
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(LinkError::TimedOut);
                    }
                    std::thread::sleep(backoff.min(left));
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                Err(e) => return Err(LinkError::Connect(e.into())),
            }
        };
        let peer =
            rustix::net::sockopt::socket_peercred(&fd).map_err(|e| LinkError::Connect(e.into()))?;
        let uid = peer.uid.as_raw();
        if uid != 0 && uid != rustix::process::geteuid().as_raw() {
            return Err(LinkError::UntrustedPeer(uid));
        }
        rustix::io::ioctl_fionbio(&fd, false).map_err(|e| LinkError::Connect(e.into()))?;
        Ok(Link {
            stream: UnixStream::from(fd),
            timeout,
            deadline,
        })
    }

    /// One request and its answer, within the deadline. The answer is
    /// read through a buffer (its length prefix and body usually come in
    /// one `recv`); the agent sends nothing but the one answer, so no
    /// bytes of a later frame can be left in it.
    pub fn ask(&mut self, request: Request) -> Result<Response, LinkError> {
        self.deadline = Instant::now() + self.timeout;
        let answer = write_frame(self, &Envelope::new(request), MAX_REQUEST).and_then(|()| {
            parse_response(&read_frame(
                &mut BufReader::with_capacity(4096, &mut *self),
                MAX_RESPONSE,
            )?)
        });
        match answer {
            Ok(r) => Ok(r),
            Err(FrameError::Io(e)) if is_timeout(&e) => Err(LinkError::TimedOut),
            Err(e) => Err(LinkError::Frame(e)),
        }
    }

    /// Time left before the deadline, as a socket timeout (never zero:
    /// `set_read_timeout(Some(0))` is an error).
    fn left(&self) -> io::Result<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed"));
        }
        Ok(left)
    }
}

impl Read for Link {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.left()?;
        self.stream.set_read_timeout(Some(left))?;
        self.stream.read(buf)
    }
}

impl Write for Link {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let left = self.left()?;
        self.stream.set_write_timeout(Some(left))?;
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    )
}

fn wait_writable(fd: &rustix::fd::OwnedFd, deadline: Instant) -> Result<(), LinkError> {
    use rustix::event::{PollFd, PollFlags, Timespec};
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(LinkError::TimedOut);
        }
        let ts = Timespec::try_from(left).map_err(|_| LinkError::TimedOut)?;
        let mut fds = [PollFd::new(fd, PollFlags::OUT)];
        match rustix::event::poll(&mut fds, Some(&ts)) {
            Ok(0) => return Err(LinkError::TimedOut),
            Ok(_) => return Ok(()),
            Err(Errno::INTR) => {}
            Err(e) => return Err(LinkError::Connect(e.into())),
        }
    }
}

/// Connects to `path` and asks one `request`: the connect and the exchange
/// each within `timeout`.
pub fn ask(path: &Path, timeout: Duration, request: Request) -> Result<Response, LinkError> {
    Link::connect(path, timeout)?.ask(request)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use std::os::unix::net::UnixListener;
    use ward_protocol::agent::{read_frame, write_frame, MAX_REQUEST, MAX_RESPONSE};

    fn scratch(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("agentlink-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn asks_and_reads_the_answer() {
        let d = scratch("ok");
        let sock = d.join("a.sock");
        let l = UnixListener::bind(&sock).unwrap();
        let server = std::thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            let body = read_frame(&mut c, MAX_REQUEST).unwrap();
            assert_eq!(
                ward_protocol::agent::parse_request(&body).unwrap(),
                Request::Status
            );
            write_frame(&mut c, &Response::Status(Default::default()), MAX_RESPONSE).unwrap();
        });
        let r = ask(&sock, Duration::from_secs(5), Request::Status).unwrap();
        assert!(matches!(r, Response::Status(_)));
        server.join().unwrap();
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_missing_socket_and_a_bad_path_fail() {
        let d = scratch("missing");
        assert!(matches!(
            ask(
                &d.join("none.sock"),
                Duration::from_secs(1),
                Request::Status
            ),
            Err(LinkError::Connect(_))
        ));
        let long = d.join("x".repeat(200));
        assert!(matches!(
            ask(&long, Duration::from_secs(1), Request::Status),
            Err(LinkError::BadPath)
        ));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_trickling_peer_cannot_stretch_the_deadline() {
        // The peer sends the length prefix of a 256-byte frame, then the
        // body one byte at a time, each within a per-read timeout but
        // together past the deadline: the client must give up (TimedOut), which per-read
        // timeouts alone would not do. Ordering, not wall-clock: the peer
        // keeps sending until the client hangs up, and the client reports
        // a timeout instead of a frame.
        let d = scratch("trickle");
        let sock = d.join("a.sock");
        let l = UnixListener::bind(&sock).unwrap();
        let server = std::thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            let _ = read_frame(&mut c, MAX_REQUEST);
            c.write_all(&256u32.to_be_bytes()).unwrap();
            for _ in 0..200 {
                if c.write_all(b"x").is_err() {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            false
        });
        let r = ask(&sock, Duration::from_millis(500), Request::Status);
        assert!(matches!(r, Err(LinkError::TimedOut)), "{r:?}");
        assert!(server.join().unwrap(), "the client never hung up");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_socket_served_by_another_unprivileged_user_is_refused() {
        // As root (tests run as root in CI): a listener run as `nobody`
        // through setpriv is neither root nor us.
        if rustix::process::geteuid().as_raw() != 0 {
            eprintln!("skipping: needs root to start a listener as another user");
            return;
        }
        let d = scratch("untrusted");
        std::fs::set_permissions(&d, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
        let sock = d.join("a.sock");
        let mut child = std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c"])
            .arg(format!(
                "import socket,time\ns=socket.socket(socket.AF_UNIX)\ns.bind({:?})\ns.listen(8)\nprint('ready',flush=True)\ntime.sleep(30)",
                sock.display().to_string()
            ))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line.trim(), "ready");
        let r = ask(&sock, Duration::from_secs(2), Request::Status);
        let _ = child.kill();
        let _ = child.wait();
        assert!(matches!(r, Err(LinkError::UntrustedPeer(65534))), "{r:?}");
        let _ = std::fs::remove_dir_all(&d);
    }
}
