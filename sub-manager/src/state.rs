//! The region as this sub-manager sees it: its resources, their open events, and the journal
//! of changes that WatchRegion streams upward.
//!
//! Every change is appended to the journal under the same lock that changes the state, so a
//! subscriber gets either a consistent snapshot or an unbroken run of changes after its last
//! sequence. The journal is a bounded ring: a subscriber too far behind gets a snapshot.
//! Resource records are re-sent at least every [`REFRESH_MS`] so the centre sees polls go on.
//!
//! # Layout
//! - `events`: the life of an event: opened, changed, acknowledged, silenced, resolved.
//! - `checks`: the latest result of each check, and the probe runs.
//! - [`watch`]: WatchRegion's feed: what a subscriber missed, then every change.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use prost::Message;
use strata_proto::ResourceId;
use strata_proto::resource::host_of;
use strata_proto::v1::region_update::Kind;
use strata_proto::v1::{
    CheckStatus, Event, RegionSummaryResponse, RegionUpdate, Resource, ResourceState, Severity,
    Snapshot,
};
use strata_tsdb::{Journal, TableOp};
use tokio::sync::broadcast;
use tracing::warn;

use crate::error::{Result, SubManagerError};
use crate::verdict::{RULE_REACHABLE, Verdict, rank};

mod checks;
mod events;
pub mod watch;

/// A resource record unchanged for this long is journaled again anyway.
pub const REFRESH_MS: i64 = 15_000;

/// Table key of the journal's epoch.
const EPOCH_KEY: &[u8] = b"meta/epoch";

fn resource_key(agent: &str) -> Vec<u8> {
    format!("r/{agent}").into_bytes()
}

pub(crate) fn event_key(agent: &str, rule: &str) -> Vec<u8> {
    format!("e/{agent}\0{rule}").into_bytes()
}

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
    /// The latest result of each check by (agent id, check name), and when it was journaled.
    checks: BTreeMap<(String, String), (CheckStatus, i64)>,
}

/// The state of this sub-manager's share of the region.
#[derive(Debug)]
pub struct RegionState {
    region: String,
    member_id: String,
    epoch: String,
    journal: Journal,
    inner: Mutex<Inner>,
    tx: broadcast::Sender<RegionUpdate>,
    /// Changes that could not be journaled (the store failed).
    journal_errors: AtomicU64,
}

/// Where a subscriber starts.
#[derive(Debug)]
pub enum Start {
    /// After this sequence of the journal, which still holds every later change.
    After(u64),
    /// With this snapshot (its sequence is the journal's last when it was taken).
    Snapshot(Box<RegionUpdate>),
}

impl RegionState {
    /// The state of member `member_id` of `region`, carried on from `journal`: the resources
    /// and open events it holds, its epoch and its next sequence (a new journal gets a new
    /// epoch named after the member and the time).
    pub fn open(region: &str, member_id: &str, journal: Journal, now_ms: i64) -> Result<Self> {
        let journal_error = SubManagerError::Tsdb;
        let epoch = match journal.get(EPOCH_KEY).map_err(journal_error)? {
            Some(e) => String::from_utf8_lossy(&e).into_owned(),
            None => {
                let epoch = format!("{member_id}-{now_ms}");
                journal
                    .write_table(&[TableOp::Put(EPOCH_KEY, epoch.as_bytes())])
                    .map_err(journal_error)?;
                epoch
            }
        };
        let corrupt = |what: &str, key: &[u8]| {
            SubManagerError::JournalCorrupt(format!("{what} at {}", String::from_utf8_lossy(key)))
        };
        let mut inner = Inner {
            resources: BTreeMap::new(),
            events: BTreeMap::new(),
            checks: BTreeMap::new(),
        };
        for (key, value) in journal.scan(b"r/").map_err(journal_error)? {
            let resource =
                Resource::decode(value.as_slice()).map_err(|_| corrupt("resource", &key))?;
            inner.resources.insert(
                resource.host.clone(),
                Record {
                    resource,
                    failures: 0,
                    journaled_ms: i64::MIN,
                },
            );
        }
        for (key, value) in journal.scan(b"e/").map_err(journal_error)? {
            let event = Event::decode(value.as_slice()).map_err(|_| corrupt("event", &key))?;
            let agent = host_of(&event.resource_id).to_string();
            inner.events.insert((agent, event.rule.clone()), event);
        }
        checks::load(&journal, &mut inner)?;
        let (tx, _) = broadcast::channel(4096);
        Ok(Self {
            region: region.into(),
            member_id: member_id.into(),
            epoch,
            journal,
            inner: Mutex::new(inner),
            tx,
            journal_errors: AtomicU64::new(0),
        })
    }

    /// The region's journal and table (for the rules and notifications kept beside).
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// The journal's epoch.
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// Changes that could not be journaled since start.
    pub fn journal_errors(&self) -> u64 {
        self.journal_errors.load(Ordering::Relaxed)
    }

    /// The id of a resource of this region.
    pub fn resource_id(&self, agent: &str) -> String {
        ResourceId::new(self.region.as_str(), agent).to_string()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("region state lock poisoned")
    }

    /// Journals `kind` with the table changes that keep the stored state in step, and
    /// sends it to live subscribers. Called under the state lock, so that the journal's
    /// order is the order of the changes.
    /// Journals a line of this member's audit log, for the centre's (the region's own copy,
    /// `audit.jsonl`, is written first).
    pub fn audited(&self, entry: strata_proto::v1::AuditEntry) {
        let mut inner = self.lock();
        self.append(&mut inner, Kind::Audit(entry), &[]);
    }

    fn append(&self, _inner: &mut Inner, kind: Kind, table: &[TableOp<'_>]) {
        let mut update = RegionUpdate {
            region: self.region.clone(),
            member_id: self.member_id.clone(),
            epoch: self.epoch.clone(),
            seq: self.journal.last_seq() + 1,
            kind: Some(kind),
        };
        match self.journal.append(&update.encode_to_vec(), table) {
            Ok(seq) => update.seq = seq,
            Err(error) => {
                // The change holds in memory; a subscriber that resumes across it gets a
                // snapshot, as the journal has no record of it.
                self.journal_errors.fetch_add(1, Ordering::Relaxed);
                warn!(%error, "journaling a change failed");
                return;
            }
        }
        // No subscriber is not an error: the journal keeps the change for later ones.
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
        let open: Vec<&Event> = inner
            .events
            .range((agent.to_string(), String::new())..)
            .take_while(|((a, _), _)| a == agent)
            .map(|(_, e)| e)
            .collect();
        let worst = open
            .iter()
            .map(|e| e.severity())
            .max_by_key(|s| rank(*s))
            .unwrap_or(Severity::Ok);
        let open_rules: Vec<String> = open.iter().map(|e| e.rule.clone()).collect();
        let rec = self.record(inner, agent, now_ms);
        let changed = rec.resource.state != state as i32
            || rec.resource.severity != worst as i32
            || rec.resource.reason != reason
            || rec.resource.open_rules != open_rules;
        rec.resource.state = state as i32;
        rec.resource.severity = worst as i32;
        rec.resource.reason = reason;
        rec.resource.open_rules = open_rules;
        rec.resource.updated_ms = now_ms;
        if changed || now_ms.saturating_sub(rec.journaled_ms) >= REFRESH_MS {
            rec.journaled_ms = now_ms;
            let resource = rec.resource.clone();
            let bytes = resource.encode_to_vec();
            let stored = resource_key(agent);
            self.append(
                inner,
                Kind::Resource(resource),
                &[TableOp::Put(&stored, &bytes)],
            );
        }
    }

    /// Records a successful poll of `agent` and the verdicts of its rules; returns the
    /// verdicts that opened an event, with the event's id.
    pub fn poll_succeeded<'v>(
        &self,
        agent: &str,
        verdicts: &'v [Verdict],
        now_ms: i64,
    ) -> Vec<(&'v Verdict, String)> {
        let mut inner = self.lock();
        let rec = self.record(&mut inner, agent, now_ms);
        rec.failures = 0;
        rec.resource.last_poll_ms = now_ms;
        let reachable = Verdict::own(RULE_REACHABLE, Severity::Ok, 1.0, "agent answers polls");
        self.judge_rule(&mut inner, agent, &reachable, now_ms);
        let mut opened = Vec::new();
        for v in verdicts {
            if let Some(id) = self.judge_rule(&mut inner, agent, v, now_ms) {
                opened.push((v, id));
            }
        }
        let reason = inner
            .events
            .range((agent.to_string(), String::new())..)
            .take_while(|((a, _), _)| a == agent)
            .map(|(_, e)| e.message.clone())
            .collect::<Vec<_>>()
            .join("; ");
        self.settle(&mut inner, agent, ResourceState::Up, reason, now_ms);
        opened
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
            let unreachable = Verdict::own(
                RULE_REACHABLE,
                Severity::Critical,
                0.0,
                &format!("agent does not answer: {error}"),
            );
            self.judge_rule(&mut inner, agent, &unreachable, now_ms);
        }
        let reason = if state == ResourceState::Down {
            error.to_string()
        } else {
            String::new()
        };
        self.settle(&mut inner, agent, state, reason, now_ms);
    }

    /// Records a failed poll that is not judged, as no one else answered this member while
    /// it was under way: the agent is unknown (not down) until a poll or a judgement says.
    /// The failures counted toward a judgement start again from none: the first failure after
    /// this member hears again (often the connection that the cut left behind) is one, not
    /// the last of many.
    pub fn poll_unjudged(&self, agent: &str, error: &str, now_ms: i64) {
        let mut inner = self.lock();
        let rec = self.record(&mut inner, agent, now_ms);
        rec.failures = 0;
        let reason = format!(
            "not judged: no broker and no other agent answered this member meanwhile, which \
             may be cut off itself ({error})"
        );
        self.settle(&mut inner, agent, ResourceState::Unknown, reason, now_ms);
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
        let mut stored = vec![resource_key(agent)];
        inner.events.retain(|(a, rule), _| {
            if a == agent {
                stored.push(event_key(a, rule));
            }
            a != agent
        });
        inner.checks.retain(|(a, name), _| {
            if a == agent {
                stored.push(checks::check_key(a, name));
            }
            a != agent
        });
        let table: Vec<TableOp<'_>> = stored.iter().map(|k| TableOp::Delete(k)).collect();
        let id = self.resource_id(agent);
        self.append(&mut inner, Kind::ResourceRemoved(id), &table);
    }

    /// Ids of the agents this member reports now.
    pub fn agents(&self) -> Vec<String> {
        self.lock().resources.keys().cloned().collect()
    }

    /// Sequence of the newest journaled change.
    pub fn seq(&self) -> u64 {
        self.journal.last_seq()
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

    /// Where a subscriber resuming after `(epoch, from_seq)` starts, and a receiver of the
    /// changes from now on: after its sequence if the journal still holds every later
    /// change, else with a snapshot.
    pub fn subscribe(
        &self,
        epoch: &str,
        from_seq: u64,
    ) -> (Start, broadcast::Receiver<RegionUpdate>) {
        let inner = self.lock();
        let rx = self.tx.subscribe();
        let last = self.journal.last_seq();
        let resumable = epoch == self.epoch
            && from_seq > 0
            && from_seq <= last
            && from_seq + 1 >= self.journal.first_seq();
        let start = if resumable {
            Start::After(from_seq)
        } else {
            Start::Snapshot(Box::new(self.snapshot(&inner, last)))
        };
        (start, rx)
    }

    /// A snapshot of everything reported now, numbered `seq`.
    fn snapshot(&self, inner: &Inner, seq: u64) -> RegionUpdate {
        RegionUpdate {
            region: self.region.clone(),
            member_id: self.member_id.clone(),
            epoch: self.epoch.clone(),
            seq,
            kind: Some(Kind::Snapshot(Snapshot {
                resources: inner
                    .resources
                    .values()
                    .map(|r| r.resource.clone())
                    .collect(),
                events: inner.events.values().cloned().collect(),
                checks: inner.checks.values().map(|(c, _)| c.clone()).collect(),
            })),
        }
    }

    /// A snapshot of everything reported now, with the journal's last sequence.
    pub fn snapshot_now(&self) -> RegionUpdate {
        let inner = self.lock();
        self.snapshot(&inner, self.journal.last_seq())
    }

    /// Up to `limit` journaled changes after `after`, in order; None when the journal no
    /// longer holds the change right after `after` (trimmed meanwhile).
    pub fn journaled_after(&self, after: u64, limit: usize) -> Result<Option<Vec<RegionUpdate>>> {
        let records = self
            .journal
            .read_after(after, limit)
            .map_err(SubManagerError::Tsdb)?;
        if records.first().is_some_and(|(seq, _)| *seq != after + 1) {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(records.len());
        for (seq, bytes) in records {
            let mut update = RegionUpdate::decode(bytes.as_slice())
                .map_err(|_| SubManagerError::JournalCorrupt(format!("record {seq}")))?;
            update.seq = seq;
            out.push(update);
        }
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests;
