//! Tests of the region's state: events, the journal, resuming subscribers.

use std::sync::Arc;

use super::*;

fn cpu(severity: Severity, value: f64) -> Verdict {
    Verdict::own("cpu", severity, value, &format!("CPU usage {value}"))
}

fn kinds(updates: &[RegionUpdate]) -> Vec<String> {
    updates
        .iter()
        .map(|u| match u.kind.as_ref().unwrap() {
            Kind::Snapshot(s) => format!("snapshot:{}", s.resources.len()),
            Kind::Resource(r) => format!(
                "resource:{}:{}",
                r.host,
                strata_proto::names::state_name(r.state())
            ),
            Kind::Event(e) => format!(
                "event:{}:{}:{}",
                e.rule,
                strata_proto::names::severity_name(e.severity()),
                e.resolved_ms > 0
            ),
            Kind::ResourceRemoved(id) => format!("removed:{id}"),
            Kind::Check(c) => format!("check:{}:{}", c.name, c.state),
            Kind::ProbeRun(r) => format!("probe:{}:{}", r.check, r.ts_ms),
            Kind::Audit(a) => format!("audit:{}:{}", a.action, a.subject),
        })
        .collect()
}

fn open(dir: &std::path::Path, capacity: u64) -> RegionState {
    RegionState::open("eu", "m1", Journal::open(dir, capacity).unwrap(), 1).unwrap()
}

/// What a subscriber resuming after `(epoch, from)` receives before the live tail.
fn backlog(s: &RegionState, epoch: &str, from: u64) -> Vec<RegionUpdate> {
    match s.subscribe(epoch, from).0 {
        Start::Snapshot(snapshot) => vec![*snapshot],
        Start::After(after) => s.journaled_after(after, 10_000).unwrap().unwrap(),
    }
}

#[test]
fn events_open_change_and_resolve_and_the_journal_tells_it_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), 100);
    let e1 = s.epoch().to_string();
    s.poll_succeeded("web", &[cpu(Severity::Ok, 0.1)], 1000);
    s.poll_succeeded("web", &[cpu(Severity::Warning, 0.9)], 2000);
    assert_eq!(s.summary().events_warning, 1);
    s.poll_succeeded("web", &[cpu(Severity::Critical, 0.99)], 3000);
    assert_eq!(s.summary().events_critical, 1);
    assert_eq!(s.resources()[0].severity(), Severity::Critical);
    assert_eq!(s.resources()[0].open_rules, vec!["cpu"]);
    s.poll_succeeded("web", &[cpu(Severity::Ok, 0.2)], 4000);
    assert_eq!(s.summary().events_critical, 0);
    let backlog = backlog(&s, &e1, 1);
    assert_eq!(
        kinds(&backlog),
        vec![
            "event:cpu:warning:false",
            "resource:web:up",
            "event:cpu:critical:false",
            "resource:web:up",
            "event:cpu:critical:true",
            "resource:web:up",
        ]
    );
    assert!(backlog.windows(2).all(|w| w[1].seq == w[0].seq + 1));
}

#[test]
fn a_reopened_journal_carries_on_with_its_epoch_state_and_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let (epoch, seq) = {
        let s = open(dir.path(), 100);
        s.poll_succeeded("web", &[cpu(Severity::Critical, 0.99)], 1000);
        s.poll_succeeded("db", &[], 1000);
        s.release("db");
        (s.epoch().to_string(), s.seq())
    };
    let s = RegionState::open("eu", "m1", Journal::open(dir.path(), 100).unwrap(), 99).unwrap();
    assert_eq!(s.epoch(), epoch, "the same journal, the same epoch");
    assert_eq!(s.seq(), seq);
    assert_eq!(
        s.agents(),
        vec!["web"],
        "db was released before the restart"
    );
    assert_eq!(s.open_events().len(), 1);
    // nothing changed: the reloaded record is journaled again all the same
    s.poll_succeeded("web", &[cpu(Severity::Critical, 0.99)], 1500);
    s.poll_succeeded("web", &[cpu(Severity::Ok, 0.1)], 2000);
    let after = backlog(&s, &epoch, seq);
    assert_eq!(after[0].seq, seq + 1);
    assert_eq!(
        kinds(&after)[..2],
        ["resource:web:up", "event:cpu:critical:true"],
        "the reloaded record is journaled again, and the reloaded event resolves"
    );
}

#[test]
fn failures_take_a_resource_down_after_the_limit_and_a_poll_brings_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), 100);
    s.poll_succeeded("web", &[], 1000);
    s.poll_failed("web", "connection refused", 2, 2000);
    assert_eq!(s.resources()[0].state(), ResourceState::Up);
    s.poll_failed("web", "connection refused", 2, 3000);
    let r = &s.resources()[0];
    assert_eq!(r.state(), ResourceState::Down);
    assert_eq!(r.severity(), Severity::Critical);
    assert_eq!(r.reason, "connection refused");
    assert_eq!(s.summary().resources_down, 1);
    s.poll_succeeded("web", &[], 4000);
    assert_eq!(s.resources()[0].state(), ResourceState::Up);
    assert_eq!(s.summary().events_critical, 0);
}

#[test]
fn after_unjudged_failures_one_judged_failure_is_not_enough_to_go_down() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), 100);
    s.poll_succeeded("web", &[], 1000);
    for at in [2000, 3000, 4000] {
        s.poll_unjudged("web", "request timed out", at);
    }
    assert_eq!(s.resources()[0].state(), ResourceState::Unknown);
    // heard again: the stale connection fails once, then the agent answers
    s.poll_failed("web", "h2 protocol error", 2, 5000);
    assert_ne!(s.resources()[0].state(), ResourceState::Down);
    assert_eq!(s.summary().events_critical, 0, "no unreachable incident");
    s.poll_succeeded("web", &[], 6000);
    assert_eq!(s.resources()[0].state(), ResourceState::Up);
    // a real death after a held judgement still takes it down at the limit
    s.poll_unjudged("web", "request timed out", 7000);
    s.poll_failed("web", "connection refused", 2, 8000);
    s.poll_failed("web", "connection refused", 2, 9000);
    assert_eq!(s.resources()[0].state(), ResourceState::Down);
}

#[test]
fn a_subscriber_from_another_epoch_or_too_far_behind_gets_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), 1);
    let e1 = s.epoch().to_string();
    for i in 0..1100 {
        s.poll_succeeded(&format!("h{i}"), &[], 1000);
    }
    assert_eq!(kinds(&backlog(&s, "other", 5)), vec!["snapshot:1100"]);
    assert_eq!(
        kinds(&backlog(&s, &e1, 1)),
        vec!["snapshot:1100"],
        "trimmed"
    );
    assert_eq!(kinds(&backlog(&s, &e1, 0)), vec!["snapshot:1100"]);
    let last = backlog(&s, &e1, 1099);
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].seq, 1100);
}

#[test]
fn an_acknowledgement_is_kept_journaled_and_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let seq = {
        let s = open(dir.path(), 100);
        s.poll_succeeded("web", &[cpu(Severity::Critical, 0.99)], 1000);
        assert!(s.acknowledge("eu/web", "memory", "ann", "", 1500).is_none());
        let e = s
            .acknowledge("eu/web", "cpu", "ann", "on it", 2000)
            .unwrap();
        assert_eq!(
            (e.acknowledged_ms, e.acknowledged_by.as_str()),
            (2000, "ann")
        );
        // acknowledged again later: the first time is kept
        let e = s.acknowledge("eu/web", "cpu", "bob", "", 3000).unwrap();
        assert_eq!(
            (e.acknowledged_ms, e.acknowledged_by.as_str()),
            (2000, "bob")
        );
        s.seq()
    };
    let s = RegionState::open("eu", "m1", Journal::open(dir.path(), 100).unwrap(), 9).unwrap();
    assert_eq!(s.seq(), seq);
    let kept = &s.open_events()[0];
    assert_eq!(
        (kept.acknowledged_by.as_str(), kept.ack_comment.as_str()),
        ("bob", "")
    );
    assert_eq!(kept.changes.len(), 1, "the opening");
}

#[test]
fn released_resources_are_announced_and_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), 100);
    let e1 = s.epoch().to_string();
    s.poll_succeeded("web", &[cpu(Severity::Critical, 0.99)], 1000);
    s.release("web");
    assert!(s.resources().is_empty());
    assert!(s.open_events().is_empty());
    assert_eq!(
        kinds(&backlog(&s, &e1, 2)).last().unwrap(),
        "removed:eu/web"
    );
}

#[tokio::test]
async fn a_subscriber_that_reads_nothing_is_ended_with_the_reason_and_slots_are_bounded() {
    use super::watch::{Ended, Subscribers, follow};
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(open(dir.path(), 100));
    // room for one update, never read: the snapshot takes it, the changes after it wait
    // past the stall timeout
    let (tx, _rx) = tokio::sync::mpsc::channel(1);
    let epoch = s.epoch().to_string();
    let feed = tokio::spawn(follow(
        s.clone(),
        epoch,
        0,
        tx,
        std::time::Duration::from_millis(200),
    ));
    for t in 0..5 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        s.poll_succeeded(&format!("web-{t}"), &[cpu(Severity::Ok, 0.1)], 1000 + t);
    }
    let ended = tokio::time::timeout(std::time::Duration::from_secs(10), feed)
        .await
        .expect("a stalled feed ends by itself")
        .unwrap();
    match ended {
        Ended::Stalled(why) => assert!(why.contains("watch.stall_timeout"), "{why}"),
        other => panic!("{other:?}"),
    }
    // a subscriber that goes away ends the feed too
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    drop(rx);
    let epoch = s.epoch().to_string();
    let ended = follow(s, epoch, 0, tx, std::time::Duration::from_secs(60)).await;
    assert_eq!(ended, Ended::Gone);

    let subscribers = Arc::new(Subscribers::default());
    let first = subscribers.enter(2).expect("a first slot");
    let second = subscribers.enter(2).expect("a second slot");
    assert!(subscribers.enter(2).is_none(), "a third is refused");
    assert_eq!(
        subscribers
            .refused
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    drop(first);
    assert_eq!(subscribers.open(), 1);
    assert!(
        subscribers.enter(2).is_some(),
        "a slot given back is taken again"
    );
    drop(second);
}
