//! Load generator for the ward-agent socket (issue #11 benchmark, run by
//! `bench/scripts/hosts.sh`): speaks `ward_protocol::agent` frames like
//! libnss_ward and `ward-agent ssh-authorized-principals` do.
//!
//! Two measurements, each side by side with baselines on the same socket
//! in the same run:
//! - latency: one request per new connection (as the sshd helper and NSS
//!   connect), kinds interleaved round-robin: `status` and `passwd_by_name`
//!   (no decision, no audit record) against `authorize` and
//!   `ssh_principals` (a decision, recorded durably in the agent's spool
//!   before the answer);
//! - throughput: CLIENTS threads, each on its own persistent connection,
//!   for SECONDS per kind, kinds in two alternating rounds.
//!
//! Every answer is checked (status answers, alice resolves, the decision is
//! `allowed` and the principals line is the user), so a failing agent is
//! never counted as fast.
//!
//! ```text
//! agent_load SOCKET USER PRINCIPAL KEY_ID SERIAL CERT_BASE64 SAMPLES CLIENTS SECONDS
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ward_protocol::agent::{
    exchange, AuthorizeRequest, Outcome, Request, Response, SshPrincipalsRequest,
};

struct Plan {
    socket: String,
    user: String,
    principal: String,
    key_id: String,
    serial: u64,
    cert: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Status,
    Passwd,
    Authorize,
    Principals,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Status => "status (no decision)",
            Kind::Passwd => "passwd_by_name (NSS lookup)",
            Kind::Authorize => "authorize host:Login (decision + audit fsync)",
            Kind::Principals => "ssh_principals (decision + audit fsync)",
        }
    }
}

impl Plan {
    fn request(&self, kind: Kind) -> Request {
        match kind {
            Kind::Status => Request::Status,
            Kind::Passwd => Request::PasswdByName {
                name: self.user.clone(),
            },
            Kind::Authorize => Request::Authorize(AuthorizeRequest {
                action: "host:Login".into(),
                user: self.user.clone(),
                principal: self.principal.clone(),
                service: "sshd".into(),
                source_ip: Some("127.0.0.1".into()),
                auth_method: "ssh-certificate".into(),
                mfa_ticket: None,
            }),
            Kind::Principals => Request::SshPrincipals(SshPrincipalsRequest {
                account: self.principal.clone(),
                key_id: self.key_id.clone(),
                serial: self.serial,
                certificate: self.cert.clone(),
                source_ip: Some("127.0.0.1".into()),
            }),
        }
    }

    /// The answer is the expected one for `kind`.
    fn check(&self, kind: Kind, resp: &Response) -> Result<(), String> {
        let ok = match (kind, resp) {
            (Kind::Status, Response::Status(s)) => s.generation > 0,
            (Kind::Passwd, Response::Passwd { entry: Some(p) }) => p.name == self.user,
            (
                Kind::Authorize,
                Response::Decision {
                    outcome: Outcome::Allowed,
                    ..
                },
            ) => true,
            (Kind::Principals, Response::Lines { lines, .. }) => {
                lines.len() == 1 && lines[0] == self.user
            }
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(format!("unexpected answer to {}: {resp:?}", kind.name()))
        }
    }

    fn connect(&self) -> Result<UnixStream, String> {
        let s = UnixStream::connect(&self.socket).map_err(|e| format!("connect: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        Ok(s)
    }

    fn one(&self, stream: &mut UnixStream, kind: Kind) -> Result<(), String> {
        let resp = exchange(stream, self.request(kind)).map_err(|e| e.to_string())?;
        self.check(kind, &resp)
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn latency(plan: &Plan, kinds: &[Kind], samples: usize) -> Result<(), String> {
    let mut times: Vec<Vec<f64>> = vec![Vec::with_capacity(samples); kinds.len()];
    // Warm-up: one of each.
    for &k in kinds {
        plan.one(&mut plan.connect()?, k)?;
    }
    for _ in 0..samples {
        for (i, &k) in kinds.iter().enumerate() {
            let t = Instant::now();
            let mut s = plan.connect()?;
            plan.one(&mut s, k)?;
            times[i].push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    let base = {
        let mut s = times[0].clone();
        s.sort_by(f64::total_cmp);
        percentile(&s, 0.5)
    };
    println!("latency: one request per new connection, {samples} samples each, interleaved");
    println!("| request | p50 | p99 | mean | p50 / status p50 |");
    println!("|---|---:|---:|---:|---:|");
    for (i, &k) in kinds.iter().enumerate() {
        let mut s = times[i].clone();
        s.sort_by(f64::total_cmp);
        let mean = s.iter().sum::<f64>() / s.len() as f64;
        let p50 = percentile(&s, 0.5);
        println!(
            "| {} | {:.0} µs | {:.0} µs | {:.0} µs | {:.1}× |",
            k.name(),
            p50,
            percentile(&s, 0.99),
            mean,
            p50 / base
        );
    }
    Ok(())
}

/// Requests per second from `clients` persistent connections for `secs`.
fn throughput(plan: &Arc<Plan>, kind: Kind, clients: usize, secs: f64) -> Result<f64, String> {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for _ in 0..clients {
        let (plan, stop, done) = (plan.clone(), stop.clone(), done.clone());
        handles.push(std::thread::spawn(move || -> Result<(), String> {
            let mut s = plan.connect()?;
            while !stop.load(Ordering::Relaxed) {
                plan.one(&mut s, kind)?;
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        }));
    }
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(secs));
    stop.store(true, Ordering::Relaxed);
    let n = done.load(Ordering::Relaxed);
    let el = t.elapsed().as_secs_f64();
    for h in handles {
        h.join()
            .map_err(|_| "client thread panicked".to_owned())??;
    }
    Ok(n as f64 / el)
}

fn run() -> Result<(), String> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    if a.len() != 9 {
        return Err(
            "usage: agent_load SOCKET USER PRINCIPAL KEY_ID SERIAL CERT_BASE64 SAMPLES CLIENTS SECONDS"
                .into(),
        );
    }
    let num = |i: usize| -> Result<u64, String> {
        a[i].parse::<u64>()
            .map_err(|e| format!("argument {}: {e}", i + 1))
    };
    let plan = Arc::new(Plan {
        socket: a[0].clone(),
        user: a[1].clone(),
        principal: a[2].clone(),
        key_id: a[3].clone(),
        serial: num(4)?,
        cert: a[5].clone(),
    });
    let samples = usize::try_from(num(6)?).map_err(|e| e.to_string())?;
    let clients = usize::try_from(num(7)?).map_err(|e| e.to_string())?;
    let secs = a[8].parse::<f64>().map_err(|e| format!("SECONDS: {e}"))?;
    let kinds = [
        Kind::Status,
        Kind::Passwd,
        Kind::Authorize,
        Kind::Principals,
    ];
    latency(&plan, &kinds, samples)?;

    let mut rates: [Vec<f64>; 4] = Default::default();
    for _round in 0..2 {
        for (i, &k) in kinds.iter().enumerate() {
            rates[i].push(throughput(&plan, k, clients, secs)?);
        }
    }
    println!();
    println!(
        "throughput: {clients} concurrent clients, persistent connections, {secs} s per kind, 2 alternating rounds"
    );
    println!("| request | round 1 | round 2 | / status |");
    println!("|---|---:|---:|---:|");
    let base = (rates[0][0] + rates[0][1]) / 2.0;
    for (i, &k) in kinds.iter().enumerate() {
        println!(
            "| {} | {:.0}/s | {:.0}/s | {:.3} |",
            k.name(),
            rates[i][0],
            rates[i][1],
            (rates[i][0] + rates[i][1]) / 2.0 / base
        );
    }
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("agent_load: {e}");
        std::process::exit(1);
    }
}
