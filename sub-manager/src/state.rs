//! The region as this sub-manager sees it: its resources, their open events, and the journal
//! of changes that WatchRegion streams upward.
//!
//! Every change is appended to the journal under the same lock that changes the state, so a
//! subscriber gets either a consistent snapshot or an unbroken run of changes after its last
//! sequence. The journal is a bounded ring: a subscriber too far behind gets a snapshot.
//! Resource records are re-sent at least every [`REFRESH_MS`] so the centre sees polls go on.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use strata_proto::v1::region_update::Kind;
use strata_proto::v1::{
    Event, RegionSummaryResponse, RegionUpdate, Resource, ResourceState, Severity, Snapshot,
};
use tokio::sync::broadcast;

use crate::judge::Verdict;

/// A resource record unchanged for this long is journaled again anyway.
pub const REFRESH_MS: i64 = 15_000;

/// Rule name of the reachability event (the agent does not answer polls).
pub const RULE_REACHABLE: &str = "reachable";

#[derive(Debug)]
struct Record {
    resource: Resource,
    failures: u32,
    journaled_ms: i64,
}

#[derive(Debug)]
struct Inner {
    resources: BTreeMap<String, Record>,
    /// Open events by (agent id, rule).
    events: BTreeMap<(String, String), Event>,
    seq: u64,
    ring: VecDeque<RegionUpdate>,
}

/// The state of this sub-manager's share of the region.
#[derive(Debug)]
pub struct RegionState {
    region: String,
    member_id: String,
    epoch: String,
    ring_capacity: usize,
    inner: Mutex<Inner>,
    tx: broadcast::Sender<RegionUpdate>,
}

/// Severity order: ok < warning < critical.
fn rank(s: Severity) -> u8 {
    match s {
        Severity::Critical => 3,
        Severity::Warning => 2,
        Severity::Ok => 1,
        Severity::Unspecified => 0,
    }
}

impl RegionState {
    /// Empty state for member `member_id` of `region`; `epoch` names this process's journal.
    pub fn new(region: &str, member_id: &str, epoch: &str, ring_capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(4096);
        Self {
            region: region.into(),
            member_id: member_id.into(),
            epoch: epoch.into(),
            ring_capacity: ring_capacity.max(16),
            inner: Mutex::new(Inner {
                resources: BTreeMap::new(),
                events: BTreeMap::new(),
                seq: 0,
                ring: VecDeque::new(),
            }),
            tx,
        }
    }

    /// The journal's epoch.
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// The id of a resource of this region.
    pub fn resource_id(&self, agent: &str) -> String {
        format!("{}/{agent}", self.region)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("region state lock poisoned")
    }

    fn append(&self, inner: &mut Inner, kind: Kind) {
        inner.seq += 1;
        let update = RegionUpdate {
            region: self.region.clone(),
            member_id: self.member_id.clone(),
            epoch: self.epoch.clone(),
            seq: inner.seq,
            kind: Some(kind),
        };
        if inner.ring.len() >= self.ring_capacity {
            inner.ring.pop_front();
        }
        inner.ring.push_back(update.clone());
        // No subscriber is not an error: the ring keeps the change for later ones.
        let _ = self.tx.send(update);
    }

    fn record<'a>(&self, inner: &'a mut Inner, agent: &str, now_ms: i64) -> &'a mut Record {
        inner
            .resources
            .entry(agent.to_string())
            .or_insert_with(|| Record {
                resource: Resource {
                    id: self.resource_id(agent),
                    region: self.region.clone(),
                    host: agent.to_string(),
                    state: ResourceState::Unknown as i32,
                    severity: Severity::Ok as i32,
                    owner: self.member_id.clone(),
                    updated_ms: now_ms,
                    ..Default::default()
                },
                failures: 0,
                journaled_ms: i64::MIN,
            })
    }

    /// Opens, changes or resolves the event of `rule` on `agent` per `severity`.
    fn judge_rule(&self, inner: &mut Inner, agent: &str, verdict: &Verdict, now_ms: i64) {
        let (rule, severity, value, message) = (
            verdict.rule,
            verdict.severity,
            verdict.value,
            verdict.message.as_str(),
        );
        let key = (agent.to_string(), rule.to_string());
        let resource_id = self.resource_id(agent);
        match (inner.events.get_mut(&key), severity) {
            (None, Severity::Ok | Severity::Unspecified) => {}
            (None, _) => {
                let event = Event {
                    id: format!("{resource_id}/{rule}/{now_ms}"),
                    resource_id,
                    rule: rule.to_string(),
                    severity: severity as i32,
                    message: message.to_string(),
                    opened_ms: now_ms,
                    resolved_ms: 0,
                    value,
                };
                inner.events.insert(key, event.clone());
                self.append(inner, Kind::Event(event));
            }
            (Some(open), Severity::Ok | Severity::Unspecified) => {
                let mut event = open.clone();
                event.resolved_ms = now_ms;
                event.value = value;
                event.message = message.to_string();
                inner.events.remove(&key);
                self.append(inner, Kind::Event(event));
            }
            (Some(open), s) => {
                open.value = value;
                if open.severity != s as i32 {
                    open.severity = s as i32;
                    open.message = message.to_string();
                    let event = open.clone();
                    self.append(inner, Kind::Event(event));
                }
            }
        }
    }

    /// Re-derives the resource's severity from its open events and journals it if it changed
    /// (or was not sent for [`REFRESH_MS`]).
    fn settle(
        &self,
        inner: &mut Inner,
        agent: &str,
        state: ResourceState,
        reason: String,
        now_ms: i64,
    ) {
        let worst = inner
            .events
            .range((agent.to_string(), String::new())..)
            .take_while(|((a, _), _)| a == agent)
            .map(|(_, e)| e.severity())
            .max_by_key(|s| rank(*s))
            .unwrap_or(Severity::Ok);
        let rec = self.record(inner, agent, now_ms);
        let changed = rec.resource.state != state as i32
            || rec.resource.severity != worst as i32
            || rec.resource.reason != reason;
        rec.resource.state = state as i32;
        rec.resource.severity = worst as i32;
        rec.resource.reason = reason;
        rec.resource.updated_ms = now_ms;
        if changed || now_ms - rec.journaled_ms >= REFRESH_MS {
            rec.journaled_ms = now_ms;
            let resource = rec.resource.clone();
            self.append(inner, Kind::Resource(resource));
        }
    }

    /// Records a successful poll of `agent` and the verdicts of its thresholds.
    pub fn poll_succeeded(&self, agent: &str, verdicts: &[Verdict], now_ms: i64) {
        let mut inner = self.lock();
        let rec = self.record(&mut inner, agent, now_ms);
        rec.failures = 0;
        rec.resource.last_poll_ms = now_ms;
        let reachable = Verdict {
            rule: RULE_REACHABLE,
            severity: Severity::Ok,
            value: 1.0,
            message: "agent answers polls".into(),
        };
        self.judge_rule(&mut inner, agent, &reachable, now_ms);
        for v in verdicts {
            self.judge_rule(&mut inner, agent, v, now_ms);
        }
        let reason = inner
            .events
            .range((agent.to_string(), String::new())..)
            .take_while(|((a, _), _)| a == agent)
            .map(|(_, e)| e.message.clone())
            .collect::<Vec<_>>()
            .join("; ");
        self.settle(&mut inner, agent, ResourceState::Up, reason, now_ms);
    }

    /// Records a failed poll; after `down_after` consecutive failures the resource is down.
    pub fn poll_failed(&self, agent: &str, error: &str, down_after: u32, now_ms: i64) {
        let mut inner = self.lock();
        let rec = self.record(&mut inner, agent, now_ms);
        rec.failures += 1;
        let failures = rec.failures;
        let current = rec.resource.state();
        let state = if failures >= down_after {
            ResourceState::Down
        } else {
            current
        };
        if state == ResourceState::Down {
            let unreachable = Verdict {
                rule: RULE_REACHABLE,
                severity: Severity::Critical,
                value: 0.0,
                message: format!("agent does not answer: {error}"),
            };
            self.judge_rule(&mut inner, agent, &unreachable, now_ms);
        }
        let reason = if state == ResourceState::Down {
            error.to_string()
        } else {
            String::new()
        };
        self.settle(&mut inner, agent, state, reason, now_ms);
    }

    /// Starts reporting `agent` (this member now owns it).
    pub fn adopt(&self, agent: &str, now_ms: i64) {
        let mut inner = self.lock();
        if !inner.resources.contains_key(agent) {
            self.settle(
                &mut inner,
                agent,
                ResourceState::Unknown,
                "not polled yet".into(),
                now_ms,
            );
        }
    }

    /// Stops reporting `agent` (another member owns it now); its open events go with it.
    pub fn release(&self, agent: &str) {
        let mut inner = self.lock();
        if inner.resources.remove(agent).is_none() {
            return;
        }
        inner.events.retain(|(a, _), _| a != agent);
        let id = self.resource_id(agent);
        self.append(&mut inner, Kind::ResourceRemoved(id));
    }

    /// Sequence of the newest journaled change.
    pub fn seq(&self) -> u64 {
        self.lock().seq
    }

    /// Every resource reported now.
    pub fn resources(&self) -> Vec<Resource> {
        self.lock()
            .resources
            .values()
            .map(|r| r.resource.clone())
            .collect()
    }

    /// Every open event.
    pub fn open_events(&self) -> Vec<Event> {
        self.lock().events.values().cloned().collect()
    }

    /// Counts of resources by state and open events by severity.
    pub fn summary(&self) -> RegionSummaryResponse {
        let inner = self.lock();
        let mut s = RegionSummaryResponse {
            region: self.region.clone(),
            resources_total: inner.resources.len() as u32,
            ..Default::default()
        };
        for r in inner.resources.values() {
            match r.resource.state() {
                ResourceState::Up => s.resources_up += 1,
                ResourceState::Down => s.resources_down += 1,
                _ => s.resources_unknown += 1,
            }
        }
        for e in inner.events.values() {
            match e.severity() {
                Severity::Warning => s.events_warning += 1,
                Severity::Critical => s.events_critical += 1,
                _ => {}
            }
        }
        s
    }

    /// What a subscriber resuming after `(epoch, from_seq)` must receive first, and a receiver
    /// for what follows: the missed changes if the ring still holds them, else a snapshot.
    pub fn subscribe(
        &self,
        epoch: &str,
        from_seq: u64,
    ) -> (Vec<RegionUpdate>, broadcast::Receiver<RegionUpdate>) {
        let inner = self.lock();
        let rx = self.tx.subscribe();
        let oldest = inner.ring.front().map_or(inner.seq + 1, |u| u.seq);
        let resumable =
            epoch == self.epoch && from_seq > 0 && from_seq <= inner.seq && from_seq + 1 >= oldest;
        let backlog = if resumable {
            inner
                .ring
                .iter()
                .filter(|u| u.seq > from_seq)
                .cloned()
                .collect()
        } else {
            vec![RegionUpdate {
                region: self.region.clone(),
                member_id: self.member_id.clone(),
                epoch: self.epoch.clone(),
                seq: inner.seq,
                kind: Some(Kind::Snapshot(Snapshot {
                    resources: inner
                        .resources
                        .values()
                        .map(|r| r.resource.clone())
                        .collect(),
                    events: inner.events.values().cloned().collect(),
                })),
            }]
        };
        (backlog, rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpu(severity: Severity, value: f64) -> Verdict {
        Verdict {
            rule: "cpu",
            severity,
            value,
            message: format!("CPU usage {value}"),
        }
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
            })
            .collect()
    }

    #[test]
    fn events_open_change_and_resolve_and_the_journal_tells_it_in_order() {
        let s = RegionState::new("eu", "m1", "e1", 100);
        s.poll_succeeded("web", &[cpu(Severity::Ok, 0.1)], 1000);
        s.poll_succeeded("web", &[cpu(Severity::Warning, 0.9)], 2000);
        assert_eq!(s.summary().events_warning, 1);
        s.poll_succeeded("web", &[cpu(Severity::Critical, 0.99)], 3000);
        assert_eq!(s.summary().events_critical, 1);
        assert_eq!(s.resources()[0].severity(), Severity::Critical);
        s.poll_succeeded("web", &[cpu(Severity::Ok, 0.2)], 4000);
        assert_eq!(s.summary().events_critical, 0);
        let (backlog, _) = s.subscribe("e1", 1);
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
    fn failures_take_a_resource_down_after_the_limit_and_a_poll_brings_it_back() {
        let s = RegionState::new("eu", "m1", "e1", 100);
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
    fn a_subscriber_from_another_epoch_or_too_far_behind_gets_a_snapshot() {
        let s = RegionState::new("eu", "m1", "e1", 16);
        for i in 0..40 {
            s.poll_succeeded(&format!("h{i}"), &[], 1000);
        }
        assert_eq!(kinds(&s.subscribe("other", 5).0), vec!["snapshot:40"]);
        assert_eq!(kinds(&s.subscribe("e1", 1).0), vec!["snapshot:40"]);
        assert_eq!(kinds(&s.subscribe("e1", 0).0), vec!["snapshot:40"]);
        let (backlog, _) = s.subscribe("e1", 39);
        assert_eq!(backlog.len(), 1);
        assert_eq!(backlog[0].seq, 40);
    }

    #[test]
    fn released_resources_are_announced_and_forgotten() {
        let s = RegionState::new("eu", "m1", "e1", 100);
        s.poll_succeeded("web", &[cpu(Severity::Critical, 0.99)], 1000);
        s.release("web");
        assert!(s.resources().is_empty());
        assert!(s.open_events().is_empty());
        let (backlog, _) = s.subscribe("e1", 2);
        assert_eq!(kinds(&backlog).last().unwrap(), "removed:eu/web");
    }
}
