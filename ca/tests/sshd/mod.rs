//! A real OpenSSH `sshd` on a loopback port, for integration tests.
//!
//! Each [`Sshd`] runs `/usr/sbin/sshd -D -E DIR/sshd.log -f DIR/sshd_config -p PORT` with
//! its own temporary directory, host key and config; it never reads or
//! changes the machine's own `/etc/ssh/sshd_config` or a running system sshd.
//! Only certificates can log in (`AuthorizedKeysFile none`, no passwords, no
//! PAM). If `/usr/sbin/sshd` is missing, the `openssh-server` package is
//! installed once (Debian; the container's policy-rc.d keeps the system
//! service from starting) and `/run/sshd`, sshd's privilege-separation
//! directory, is created.
//!
//! Files sshd reads at each login, which tests may rewrite at any time:
//! `DIR/ca.pub` (`TrustedUserCAKeys`), `DIR/principals/USER`
//! (`AuthorizedPrincipalsFile DIR/principals/%u`) and `DIR/krl`
//! (`RevokedKeys`; empty means nothing is revoked). Host certificates are
//! read at startup, so they are set up between [`Sshd::setup`] and
//! [`SshdSetup::start`].
//!
//! ```ignore
//! let sshd = Sshd::start("");
//! sshd.set_trusted_user_ca_keys(&ca.public_line("ward"));
//! sshd.set_principals("root", &["alice"]);
//! let out = sshd.login("root", &key_path, &cert_path);
//! assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");
//! ```
//!
//! Logins run as `root` (allowed with `PermitRootLogin prohibit-password`)
//! or as a throwaway account from [`TestAccount::create`].
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Where Debian's openssh-server puts sshd (it must be run by absolute path).
pub const SSHD: &str = "/usr/sbin/sshd";
/// Longest a single ssh or ssh-keygen run may take before it is killed.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest sshd may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(10);

static INSTALL: Mutex<bool> = Mutex::new(false);
static ACCOUNTS: Mutex<()> = Mutex::new(());
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Makes sure `/usr/sbin/sshd` exists (installing `openssh-server` with apt
/// if not) and that `/run/sshd` exists. Safe to call from many threads.
pub fn ensure_sshd() {
    let mut done = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if *done {
        return;
    }
    if !Path::new(SSHD).exists() {
        let install = || {
            Command::new("apt-get")
                .args([
                    "-o",
                    "DPkg::Lock::Timeout=300",
                    "install",
                    "-y",
                    "-q",
                    "--no-install-recommends",
                    "openssh-server",
                ])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .output()
                .expect("run apt-get")
        };
        let mut out = install();
        if !out.status.success() {
            let update = Command::new("apt-get")
                .args(["-o", "DPkg::Lock::Timeout=300", "update", "-q"])
                .output()
                .expect("run apt-get update");
            assert!(update.status.success(), "apt-get update: {}", text(&update));
            out = install();
        }
        assert!(
            out.status.success() && Path::new(SSHD).exists(),
            "cannot install openssh-server: {}",
            text(&out)
        );
    }
    // sshd refuses to start without its privilege-separation directory,
    // which the system's service manager would normally create.
    let privsep = Path::new("/run/sshd");
    if !privsep.exists() {
        fs::create_dir_all(privsep).expect("create /run/sshd");
        fs::set_permissions(privsep, fs::Permissions::from_mode(0o755)).expect("chmod /run/sshd");
    }
    *done = true;
}

/// A temporary directory removed (with its contents) on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new, empty, 0700 directory under the system temp dir.
    pub fn new(prefix: &str) -> TempDir {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("{prefix}-{}-{n}-{nanos:08x}", std::process::id()));
        fs::create_dir(&path).expect("create temp dir");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o700)).expect("chmod temp dir");
        TempDir(path)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// `self.path().join(name)`.
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A copy of a program sshd may run as `AuthorizedPrincipalsCommand` or
/// `AuthorizedKeysCommand`: sshd refuses a command when any directory on
/// its path is group- or world-writable or not root-owned (`/tmp`, or a
/// checkout in a user's home), so tests run a copy under a root-owned
/// 0755 directory in `/run`. Removed on drop.
#[derive(Debug)]
pub struct SafeCommand {
    dir: PathBuf,
    path: PathBuf,
}

impl SafeCommand {
    /// Copies `bin` to `/run/ward-test-bin/UNIQUE/NAME` (mode 0755).
    pub fn copy(bin: &Path) -> SafeCommand {
        let base = Path::new("/run/ward-test-bin");
        fs::create_dir_all(base).expect("create /run/ward-test-bin");
        fs::set_permissions(base, fs::Permissions::from_mode(0o755)).expect("chmod");
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(format!("{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir(&dir).expect("create the command dir");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod");
        let path = dir.join(bin.file_name().expect("a program name"));
        fs::copy(bin, &path).expect("copy the command");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod");
        SafeCommand { dir, path }
    }

    /// The copy's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SafeCommand {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Runs `ssh-keygen -q -N '' -C NAME -f DIR/NAME ARGS…` (e.g. `["-t",
/// "ed25519"]`) and returns the private key path; the public key is at
/// `PATH.pub`.
pub fn keygen(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-N", "", "-C", name, "-f"])
        .arg(&path)
        .args(args);
    let out = run(&mut cmd);
    assert!(out.status.success(), "ssh-keygen {args:?}: {}", text(&out));
    path
}

/// Writes `contents` to `path` with mode `mode` (ssh refuses private keys
/// that others can read).
pub fn write_file(path: &Path, contents: impl AsRef<[u8]>, mode: u32) {
    let mut f = fs::File::create(path).unwrap_or_else(|e| panic!("create {path:?}: {e}"));
    f.write_all(contents.as_ref()).expect("write");
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

/// stdout and stderr of a finished command, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `cmd` (stdin closed) and returns its output, killing it after
/// [`COMMAND_TIMEOUT`] so a hung ssh cannot hang the test run.
pub fn run(cmd: &mut Command) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(COMMAND_TIMEOUT) {
        Ok(out) => out.expect("wait for command"),
        Err(_) => {
            // Only our own child, by its pid.
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("{cmd:?} took longer than {COMMAND_TIMEOUT:?}");
        }
    }
}

/// An sshd being prepared: its directory and host key exist, it is not
/// running yet.
#[derive(Debug)]
pub struct SshdSetup {
    dir: TempDir,
    host_certificate: bool,
}

impl SshdSetup {
    /// The sshd's directory (config, host key, CA keys, principals, KRL, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The host's public key line (`ssh-ed25519 AAAA… host`).
    pub fn host_public_key(&self) -> String {
        fs::read_to_string(self.dir.join("host_ed25519_key.pub")).expect("read host key")
    }

    /// Installs a host certificate (`HostCertificate`) for the host key.
    pub fn set_host_certificate(&mut self, cert_line: &str) {
        write_file(
            &self.dir.join("host_ed25519_key-cert.pub"),
            format!("{}\n", cert_line.trim_end()),
            0o644,
        );
        self.host_certificate = true;
    }

    /// Starts sshd. `config_extras` are sshd_config lines placed *before*
    /// the harness's own, so they win (sshd keeps the first value of each
    /// keyword): e.g. `"AuthorizedPrincipalsFile none\n"`. No `Match` blocks.
    pub fn start(self, config_extras: &str) -> Sshd {
        let d = self.dir.path();
        let mut config = String::new();
        config.push_str(config_extras);
        if !config.is_empty() && !config.ends_with('\n') {
            config.push('\n');
        }
        let p = |name: &str| d.join(name).display().to_string();
        config.push_str(&format!(
            "ListenAddress 127.0.0.1\n\
             HostKey {}\n",
            p("host_ed25519_key")
        ));
        if self.host_certificate {
            config.push_str(&format!(
                "HostCertificate {}\n",
                p("host_ed25519_key-cert.pub")
            ));
        }
        config.push_str(&format!(
            "PidFile {pid}\n\
             TrustedUserCAKeys {ca}\n\
             AuthorizedPrincipalsFile {principals}/%u\n\
             RevokedKeys {krl}\n\
             AuthorizedKeysFile none\n\
             PubkeyAuthentication yes\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             HostbasedAuthentication no\n\
             UsePAM no\n\
             StrictModes no\n\
             PermitRootLogin prohibit-password\n\
             X11Forwarding no\n\
             PrintMotd no\n\
             PrintLastLog no\n\
             UseDNS no\n\
             MaxStartups 64:30:128\n\
             LogLevel DEBUG2\n",
            pid = p("sshd.pid"),
            ca = p("ca.pub"),
            principals = p("principals"),
            krl = p("krl"),
        ));
        write_file(&d.join("sshd_config"), config, 0o600);

        // A free port, found by binding port 0; another process may take it
        // before sshd binds, so retry with a fresh one on a bind failure.
        let log_path = d.join("sshd.log");
        let mut last_log = String::new();
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("find a free port")
                .port();
            // Early errors go to stderr, the rest to the `-E` file (with
            // `-e`, a session's own debug lines would reach the client's pty).
            fs::write(&log_path, "").expect("create sshd.log");
            let stderr = fs::OpenOptions::new()
                .append(true)
                .open(&log_path)
                .expect("open sshd.log");
            let mut child = Command::new(SSHD)
                .arg("-D")
                .arg("-E")
                .arg(&log_path)
                .arg("-f")
                .arg(d.join("sshd_config"))
                .args(["-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .expect("spawn sshd");
            let deadline = Instant::now() + START_TIMEOUT;
            loop {
                let log = fs::read_to_string(&log_path).unwrap_or_default();
                if log.contains("Server listening on 127.0.0.1 port") {
                    return Sshd {
                        child: Some(child),
                        dir: self.dir,
                        port,
                    };
                }
                let exited = child.try_wait().ok().flatten().is_some();
                if exited || Instant::now() > deadline {
                    last_log = log;
                    break;
                }
                thread::sleep(Duration::from_millis(10));
            }
            // Our own child, by handle.
            let _ = child.kill();
            let _ = child.wait();
            // Another process took the port between our probe and sshd's bind.
            if !last_log.contains("Address already in use") {
                break;
            }
        }
        panic!("sshd did not start:\n{last_log}");
    }
}

/// A running sshd on `127.0.0.1:PORT`; dropping it kills sshd and removes
/// its directory.
#[derive(Debug)]
pub struct Sshd {
    child: Option<std::process::Child>,
    dir: TempDir,
    port: u16,
}

impl Sshd {
    /// Prepares an sshd: installs sshd if needed, creates its directory, an
    /// Ed25519 host key, an empty `ca.pub`, `principals/` and an empty KRL.
    pub fn setup() -> SshdSetup {
        ensure_sshd();
        let dir = TempDir::new("ward-sshd");
        keygen(dir.path(), "host_ed25519_key", &["-t", "ed25519"]);
        write_file(&dir.join("ca.pub"), "", 0o644);
        write_file(&dir.join("krl"), "", 0o644);
        fs::create_dir(dir.join("principals")).expect("create principals/");
        SshdSetup {
            dir,
            host_certificate: false,
        }
    }

    /// `Sshd::setup().start(config_extras)`.
    pub fn start(config_extras: &str) -> Sshd {
        Sshd::setup().start(config_extras)
    }

    /// The loopback port sshd listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The sshd's directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The host's public key line.
    pub fn host_public_key(&self) -> String {
        fs::read_to_string(self.dir.join("host_ed25519_key.pub")).expect("read host key")
    }

    /// The known_hosts host pattern for this sshd: `[127.0.0.1]:PORT`.
    pub fn host_pattern(&self) -> String {
        format!("[127.0.0.1]:{}", self.port)
    }

    /// Replaces the `TrustedUserCAKeys` file (one public key line per CA).
    pub fn set_trusted_user_ca_keys(&self, lines: &str) {
        write_file(&self.dir.join("ca.pub"), format!("{lines}\n"), 0o644);
    }

    /// Replaces `principals/USER`: the principals that may log in as `user`.
    pub fn set_principals(&self, user: &str, principals: &[&str]) {
        let mut body = principals.join("\n");
        body.push('\n');
        write_file(&self.dir.join("principals").join(user), body, 0o644);
    }

    /// Replaces the `RevokedKeys` file (an OpenSSH KRL, or public key lines).
    pub fn set_revoked_keys(&self, contents: &[u8]) {
        write_file(&self.dir.join("krl"), contents, 0o644);
    }

    /// Everything sshd has logged so far (LogLevel DEBUG2).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
    }

    /// Waits up to 3 s for `needle` to appear in the log after byte
    /// `since` (from `self.log().len()` before the login) and says whether
    /// it did: sshd's children may write just after the client exits.
    pub fn log_has(&self, since: usize, needle: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let log = self.log();
            if log.get(since..).unwrap_or("").contains(needle) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// `ssh -i KEY -o CertificateFile=CERT … -p PORT USER@127.0.0.1 echo ok`
    /// with no agent, no user config and no host key checking.
    pub fn login(&self, user: &str, key: &Path, cert: &Path) -> Output {
        self.login_with(user, key, cert, &[])
    }

    /// Like [`Sshd::login`], with extra ssh arguments placed first so they
    /// win over the defaults (ssh keeps the first value of each option):
    /// e.g. `["-o", "StrictHostKeyChecking=yes", "-o",
    /// "UserKnownHostsFile=PATH"]`, or `["-tt"]` to request a pty.
    pub fn login_with(&self, user: &str, key: &Path, cert: &Path, extra: &[&str]) -> Output {
        let mut cmd = Command::new("ssh");
        cmd.args(["-F", "/dev/null"]).args(extra).arg("-i").arg(key);
        cmd.arg("-o")
            .arg(format!("CertificateFile={}", cert.display()));
        for opt in [
            "IdentitiesOnly=yes",
            "IdentityAgent=none",
            "UserKnownHostsFile=/dev/null",
            "GlobalKnownHostsFile=/dev/null",
            "StrictHostKeyChecking=no",
            "UpdateHostKeys=no",
            "BatchMode=yes",
            "ConnectTimeout=5",
            "ControlMaster=no",
            "ControlPath=none",
            "PreferredAuthentications=publickey",
            "LogLevel=ERROR",
        ] {
            cmd.args(["-o", opt]);
        }
        cmd.args(["-p", &self.port.to_string()])
            .arg(format!("{user}@127.0.0.1"))
            .args(["echo", "ok"]);
        run(&mut cmd)
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Our own child, by handle; the per-connection children have
            // finished with their sessions by the time a test drops us.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A throwaway local account `ward-test-PID-N` (no home directory, shell
/// `/bin/sh`, password field `*` so sshd without PAM does not treat it as
/// locked), removed with `userdel` on drop.
#[derive(Debug)]
pub struct TestAccount {
    name: String,
}

impl TestAccount {
    /// Creates the account (`useradd`); retries while another process holds
    /// the passwd lock.
    pub fn create() -> TestAccount {
        let _guard = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("ward-test-{}-{n}", std::process::id());
        let mut last = None;
        for _ in 0..20 {
            let out =
                run(Command::new("useradd")
                    .args(["-M", "-d", "/", "-s", "/bin/sh", "-p", "*", &name]));
            if out.status.success() {
                return TestAccount { name };
            }
            last = Some(out);
            thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "useradd {name}: {}",
            last.as_ref().map(text).unwrap_or_default()
        );
    }

    /// The account name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestAccount {
    fn drop(&mut self) {
        let _guard = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
        for _ in 0..20 {
            let ok = Command::new("userdel")
                .arg(&self.name)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ok {
                return;
            }
            thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Inside a private mount namespace: replaces `/etc` with a copy under
/// `scratch` in which `files` (name, contents) are written, e.g. a passwd
/// with test accounts or an nsswitch.conf. A copy of the whole directory,
/// not a bind mount per file: a mount on a file is bypassed as soon as
/// another process on the machine replaces that file by rename (`useradd`
/// in a concurrent test does, and the namespace then saw the machine's
/// passwd again).
pub fn private_etc(scratch: &Path, files: &[(&str, &str)]) {
    let copy = scratch.join("etc");
    let out = run(Command::new("cp").arg("-a").arg("/etc").arg(&copy));
    assert!(out.status.success(), "cp -a /etc: {}", text(&out));
    for (name, contents) in files {
        fs::write(copy.join(name), contents).expect("write into the /etc copy");
    }
    let out = run(Command::new("mount").arg("--bind").arg(&copy).arg("/etc"));
    assert!(out.status.success(), "mount --bind /etc: {}", text(&out));
}

/// Runs the test `test` of the current test binary again inside a private
/// mount namespace (`unshare --mount --propagation private`) with `inner`
/// set in its environment, and checks that it ran and passed.
/// Returns `None` inside the namespace (the caller then does the work) and
/// the re-run's output outside (the caller returns).
pub fn in_mount_namespace(test: &str, inner: &str) -> Option<String> {
    if std::env::var_os(inner).is_some() {
        return None;
    }
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--"])
        .arg(std::env::current_exe().expect("the test binary"))
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(inner, "1")
        .output()
        .expect("run unshare");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "inner run failed:\n{text}");
    assert!(text.contains("1 passed"), "inner test did not run:\n{text}");
    Some(text)
}
