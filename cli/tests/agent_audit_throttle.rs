//! Issue #11 follow-up, agent side: when ward-ca throttles a host's audit
//! batches (429 + `Retry-After`, its per-host limit), ward-agent's spool
//! delivery keeps the batch whole in the spool, classifies the answer as
//! "retry later" with the server's wait ([`ward_agent::spool::retry_later`]),
//! and after that wait delivers every event exactly once. Real components:
//! `ward-ca serve --dev` (default limit: 5 batches a second, burst 20), a
//! host enrolled with `ward-agent join` and a join token, the agent's own
//! mTLS client (`ward_agent::join::host_client`) and its on-disk spool.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/agent.rs"]
mod agent;
#[path = "support/harness.rs"]
mod harness;

use std::path::Path;

use agent::{agent_bin, agent_config, agent_join, host_client};
use harness::{check, json, Daemon, Scratch};
use ward_agent::client::{CaClient, CallError};
use ward_agent::spool::{retry_later, DeliverError, Spool};
use ward_protocol::host::{AuditAccepted, AuditBatch, HostEvent};

fn event(n: usize) -> HostEvent {
    HostEvent {
        time: 1_700_000_000,
        action: "host:Login".into(),
        user: Some(format!("user{n}")),
        allowed: true,
        ..HostEvent::default()
    }
}

/// Posts empty batches until ward-ca throttles one (the bucket is empty).
fn empty_the_bucket(client: &CaClient) {
    for _ in 0..2000 {
        match client.post::<_, AuditAccepted>(
            "/v1/host/audit",
            &AuditBatch { events: vec![] },
            64 * 1024,
        ) {
            Ok(_) => {}
            Err(CallError::Status {
                code: 429,
                retry_after,
                ..
            }) => {
                assert!(retry_after.is_some_and(|s| s >= 1), "{retry_after:?}");
                return;
            }
            Err(e) => panic!("audit: {e}"),
        }
    }
    panic!("2000 audit batches in a row were all accepted: no per-host limit");
}

#[test]
fn a_throttled_batch_stays_in_the_spool_and_is_delivered_once_after_the_wait() {
    let agent = agent_bin();
    let dir = Scratch::new("agent-audit-429");
    let home = dir.path("home");
    std::fs::create_dir_all(&home).unwrap();
    let ca = Daemon::start("agent-audit-429");
    let root = ca.root_env();
    let token = json(&check(
        &home,
        &root,
        &["--output", "json", "host", "join-token", "bastion"],
        None,
        0,
        &[],
        &[],
    ))["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (cfg, state) = agent_config(&dir);
    agent_join(&agent, &cfg, &ca, &token);
    let (_, client) = host_client(&cfg, &state);

    let spool = Spool::open(&dir.path("audit-spool"), 1 << 20).unwrap();
    let mut n = 0;
    // Refill races (a token coming back between emptying the bucket and
    // the delivery) just mean another round; each round spools new events.
    let mut throttled = None;
    for _round in 0..20 {
        for _ in 0..3 {
            spool.append(event(n));
            n += 1;
        }
        let before = spool.peek(500).unwrap().events;
        empty_the_bucket(&client);
        match spool.deliver(&client, 500) {
            Ok(k) => assert_eq!(k, before.len()),
            Err(e) => {
                let wait = retry_later(&e).unwrap_or_else(|| panic!("not retry-later: {e}"));
                assert!(
                    matches!(&e, DeliverError::Call(CallError::Status { code: 429, .. })),
                    "{e}"
                );
                // The spool is intact: the same events, in order, ids and all.
                let after = spool.peek(500).unwrap();
                assert_eq!(after.events, before);
                assert_eq!(spool.len(), before.len() as u64);
                throttled = Some((wait, before));
                break;
            }
        }
    }
    let (wait, pending) = throttled.expect("no delivery was throttled in 20 rounds");
    // Nothing of the throttled batch was recorded.
    let events = |home: &Path| -> Vec<String> {
        let v = json(&check(
            home,
            &root,
            &[
                "--output",
                "json",
                "audit",
                "list",
                "--action",
                "host:Login",
                "--all",
            ],
            None,
            0,
            &[],
            &[],
        ));
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["detail"]["eventId"].as_str().unwrap().to_owned())
            .collect()
    };
    let recorded = events(&home);
    for e in &pending {
        assert!(
            !recorded.contains(&e.id),
            "{} recorded while throttled",
            e.id
        );
    }
    // After the wait ward-ca named, the same batch goes through, once.
    std::thread::sleep(wait);
    assert_eq!(spool.deliver(&client, 500).unwrap(), pending.len());
    assert_eq!(spool.len(), 0);
    let recorded = events(&home);
    for e in &pending {
        assert_eq!(
            recorded.iter().filter(|r| **r == e.id).count(),
            1,
            "{}",
            e.id
        );
    }
    // Every event ever spooled was recorded exactly once.
    assert_eq!(recorded.len(), n, "{recorded:?}");
}
