//! The audit spool on real files: durable appends, order, restart, the
//! partial-line repair and the full-spool policy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::io::Write;

use common::TempDir;
use ward_agent::shared::AuditSink;
use ward_agent::spool::{Spool, DROPPED_ACTION};
use ward_protocol::host::HostEvent;

fn event(n: usize) -> HostEvent {
    HostEvent {
        time: 1_700_000_000,
        action: "host:Login".into(),
        user: Some(format!("user{n}")),
        allowed: n % 2 == 0,
        ..HostEvent::default()
    }
}

fn users(events: &[HostEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| e.user.clone().unwrap_or_default())
        .collect()
}

#[test]
fn events_survive_a_restart_in_order_and_leave_only_when_removed() {
    let dir = TempDir::new("spool");
    let path = dir.join("audit-spool");
    let first_ids;
    {
        let s = Spool::open(&path, 1 << 20).unwrap();
        for n in 0..5 {
            s.record(event(n));
        }
        assert_eq!(s.backlog(), 5);
        let b = s.peek(3).unwrap();
        assert_eq!(users(&b.events), ["user0", "user1", "user2"]);
        first_ids = b.events.iter().map(|e| e.id.clone()).collect::<Vec<_>>();
        // Peeking removes nothing.
        assert_eq!(s.len(), 5);
    }
    // "Restart": a new Spool over the same file.
    let s = Spool::open(&path, 1 << 20).unwrap();
    assert_eq!(s.len(), 5);
    let b = s.peek(500).unwrap();
    assert_eq!(
        users(&b.events),
        ["user0", "user1", "user2", "user3", "user4"]
    );
    assert_eq!(
        b.events[..3]
            .iter()
            .map(|e| e.id.clone())
            .collect::<Vec<_>>(),
        first_ids
    );
    s.remove_first(2).unwrap();
    s.record(event(5));
    let b = s.peek(500).unwrap();
    assert_eq!(users(&b.events), ["user2", "user3", "user4", "user5"]);
    // Ids are unique, across the restart too.
    let mut ids: Vec<String> = b.events.iter().map(|e| e.id.clone()).collect();
    ids.extend(first_ids[..2].iter().cloned());
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n);
    assert!(ids.iter().all(|i| ward_agent::spool::valid_id(i)));
    // The file is the durable copy: one JSON line per event.
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 4);
    s.remove_first(4).unwrap();
    assert!(s.is_empty());
    assert_eq!(std::fs::read(&path).unwrap(), b"");
}

#[test]
fn a_partial_last_line_from_a_crash_is_cut_off() {
    let dir = TempDir::new("spool-partial");
    let path = dir.join("audit-spool");
    {
        let s = Spool::open(&path, 1 << 20).unwrap();
        s.record(event(0));
        s.record(event(1));
    }
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(b"{\"id\":\"half-writ").unwrap();
    drop(f);
    let s = Spool::open(&path, 1 << 20).unwrap();
    assert_eq!(s.len(), 2);
    s.record(event(2));
    assert_eq!(
        users(&s.peek(10).unwrap().events),
        ["user0", "user1", "user2"]
    );
}

#[test]
fn a_damaged_line_is_skipped_not_delivered_and_removed_with_its_batch() {
    let dir = TempDir::new("spool-damaged");
    let path = dir.join("audit-spool");
    {
        let s = Spool::open(&path, 1 << 20).unwrap();
        s.record(event(0));
    }
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(b"not json\n\n").unwrap();
    drop(f);
    let s = Spool::open(&path, 1 << 20).unwrap();
    s.record(event(2));
    let b = s.peek(500).unwrap();
    assert_eq!(b.lines, 4);
    assert_eq!(users(&b.events), ["user0", "user2"]);
    s.remove_first(b.lines).unwrap();
    assert!(s.is_empty());
}

#[test]
fn a_full_spool_keeps_the_oldest_drops_the_newest_and_reports_the_gap() {
    let dir = TempDir::new("spool-full");
    let path = dir.join("audit-spool");
    let max = 64 * 1024;
    let s = Spool::open(&path, max).unwrap();
    let mut kept = 0;
    let mut n = 0;
    while s.append(event(n)) {
        kept += 1;
        n += 1;
    }
    // That one (n) was dropped; so are the next ones.
    for k in 1..=9 {
        assert!(!s.append(event(n + k)));
    }
    assert_eq!(s.dropped(), 10);
    assert_eq!(s.len(), kept);
    assert!(std::fs::metadata(&path).unwrap().len() <= max);
    let b = s.peek(usize::MAX).unwrap();
    assert_eq!(b.events[0].user.as_deref(), Some("user0"));
    assert_eq!(
        b.events.last().unwrap().user.as_deref(),
        Some(format!("user{}", n - 1).as_str())
    );
    // Room again: the next event is preceded by the report of the gap.
    s.remove_first(100).unwrap();
    assert!(s.append(event(1000)));
    let b = s.peek(usize::MAX).unwrap();
    let len = b.events.len();
    let gap = &b.events[len - 2];
    assert_eq!(gap.action, DROPPED_ACTION);
    assert!(
        gap.reason.as_deref().unwrap().contains("10 events"),
        "{gap:?}"
    );
    assert_eq!(b.events[len - 1].user.as_deref(), Some("user1000"));
    assert_eq!(s.dropped(), 0);
    assert!(std::fs::metadata(&path).unwrap().len() <= max);
}

#[test]
fn concurrent_appends_are_all_kept_in_each_writers_order() {
    let dir = TempDir::new("spool-concurrent");
    let path = dir.join("audit-spool");
    let s = std::sync::Arc::new(Spool::open(&path, 1 << 24).unwrap());
    let started = std::time::Instant::now();
    let threads: Vec<_> = (0..16)
        .map(|k| {
            let s = s.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    assert!(s.append(HostEvent {
                        user: Some(format!("t{k}")),
                        principal: Some(i.to_string()),
                        ..event(0)
                    }));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // Informational only (group commit: concurrent appends share fsyncs).
    eprintln!("16 x 50 durable appends in {:?}", started.elapsed());
    drop(s);
    let s = Spool::open(&path, 1 << 24).unwrap();
    let b = s.peek(usize::MAX).unwrap();
    assert_eq!(b.events.len(), 800);
    for k in 0..16 {
        let seq: Vec<String> = b
            .events
            .iter()
            .filter(|e| e.user.as_deref() == Some(&format!("t{k}")))
            .map(|e| e.principal.clone().unwrap())
            .collect();
        let want: Vec<String> = (0..50).map(|i: i32| i.to_string()).collect();
        assert_eq!(seq, want, "writer {k}");
    }
    let mut ids: Vec<&str> = b.events.iter().map(|e| e.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 800);
}

#[test]
fn appends_do_not_wait_for_the_disk_and_the_group_commit_syncs_them_at_once() {
    let dir = TempDir::new("spool-commit");
    let path = dir.join("audit-spool");
    // A window far longer than the test: the group commit cannot have run
    // by the time the appends return.
    let s = Spool::open_with_window(&path, 1 << 20, std::time::Duration::from_secs(3600)).unwrap();
    for n in 0..50 {
        assert!(s.append(event(n)));
    }
    // Every append returned without an fsync of its own (the old spool
    // fsynced before returning: 50 here) …
    assert_eq!(s.fsyncs(), 0);
    assert_eq!(s.written_and_synced(), (50, 0));
    // … yet each line is already in the file (written, page cache): an
    // agent killed now loses nothing.
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 50);
    // One fsync covers them all.
    s.sync_now();
    assert_eq!(s.fsyncs(), 1);
    assert_eq!(s.written_and_synced(), (50, 50));
    drop(s);

    // With the real window, the background commit syncs what was written
    // (polled: a hang guard, not a timing assertion).
    let s = Spool::open(&path, 1 << 20).unwrap();
    for n in 0..20 {
        assert!(s.append(event(n)));
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while s.written_and_synced().1 < 20 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(s.written_and_synced(), (20, 20));
    assert!(s.fsyncs() >= 1);
    assert_eq!(s.len(), 70);
}

#[test]
fn removals_while_appending_keep_every_event_in_order() {
    // remove_first rewrites the file without the append lock and copies
    // over what was appended meanwhile: nothing may be lost or reordered.
    let dir = TempDir::new("spool-remove-append");
    let path = dir.join("audit-spool");
    let s = std::sync::Arc::new(Spool::open(&path, 1 << 24).unwrap());
    let writer = {
        let s = s.clone();
        std::thread::spawn(move || {
            for n in 0..400 {
                assert!(s.append(HostEvent {
                    principal: Some(n.to_string()),
                    ..event(0)
                }));
            }
        })
    };
    let mut delivered: Vec<String> = Vec::new();
    let mut done = false;
    while !done {
        done = writer.is_finished();
        let b = s.peek(7).unwrap();
        delivered.extend(b.events.iter().map(|e| e.principal.clone().unwrap()));
        s.remove_first(b.lines).unwrap();
    }
    writer.join().unwrap();
    loop {
        let b = s.peek(500).unwrap();
        if b.lines == 0 {
            break;
        }
        delivered.extend(b.events.iter().map(|e| e.principal.clone().unwrap()));
        s.remove_first(b.lines).unwrap();
    }
    let want: Vec<String> = (0..400).map(|n: i32| n.to_string()).collect();
    assert_eq!(delivered, want);
    assert!(s.is_empty());
    drop(s);
    // Nothing left behind: the spool (empty) and no temporary file.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, [std::ffi::OsString::from("audit-spool")]);
    assert_eq!(std::fs::read(&path).unwrap(), b"");
}
