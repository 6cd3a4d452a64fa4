//! The membership table: who is alive, by lease.
//!
//! This is the broker's failure detector. A member is healthy while its lease runs, renewed by
//! each heartbeat; a member whose routed calls fail is also skipped (suspect) until its next
//! heartbeat, so that a crashed sub-manager stops receiving calls before its lease runs out.
//! The table is soft state: a restarted broker relearns it within one heartbeat period.
//! Every change bumps a version that watchers follow through a `watch` channel.
//!
//! A sub-manager also keeps an assignment stream open to each broker. When that stream breaks
//! (the process died, or the connection did), the member is *gone*: its agents are assigned
//! to the others at once rather than after its lease, and it is not routed to; it comes back
//! when it opens a new stream. A failed routed call only makes a member *suspect*, which stops
//! routing to it but moves no agent: a slow query must not make agents change hands.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use strata_proto::v1::{Member, Role};
use tokio::sync::watch;

#[derive(Debug, Clone)]
struct Entry {
    member: Member,
    last_heartbeat: Instant,
    lease: Duration,
    suspect: bool,
    /// Its assignment stream broke and no other is open.
    gone: bool,
    /// Generation of its newest assignment stream (0 = never opened one).
    stream: u64,
}

impl Entry {
    fn alive(&self, now: Instant) -> bool {
        !self.gone && now.saturating_duration_since(self.last_heartbeat) < self.lease
    }

    fn healthy(&self, now: Instant) -> bool {
        !self.suspect && self.alive(now)
    }
}

/// The broker's view of its members.
#[derive(Debug)]
pub struct Membership {
    entries: HashMap<String, Entry>,
    default_lease: Duration,
    /// Members unhealthy for this long are forgotten.
    forget_after: Duration,
    version: watch::Sender<u64>,
    /// Health of each member at the last [`Membership::expire`], to notice lease expiries.
    last_health: HashMap<String, bool>,
}

impl Membership {
    /// An empty table granting `default_lease` to members that ask for none.
    pub fn new(default_lease: Duration) -> Self {
        Self {
            entries: HashMap::new(),
            default_lease,
            forget_after: default_lease * 100,
            version: watch::Sender::new(0),
            last_health: HashMap::new(),
        }
    }

    /// A receiver that changes whenever the table does.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// The version of the table (grows with every change).
    pub fn version(&self) -> u64 {
        *self.version.borrow()
    }

    fn bump(&self) {
        self.version.send_modify(|v| *v += 1);
    }

    /// Records a heartbeat and returns the granted lease.
    pub fn heartbeat(&mut self, member: Member, requested: Duration, now: Instant) -> Duration {
        let lease = if requested.is_zero() {
            self.default_lease
        } else {
            requested.clamp(Duration::from_millis(200), Duration::from_secs(60))
        };
        let id = member.id.clone();
        let (changed, gone, stream) = match self.entries.get(&id) {
            None => (true, false, 0),
            // healthy after this heartbeat unless its stream broke
            Some(old) => (
                old.healthy(now) == old.gone
                    || old.member.address != member.address
                    || old.member.grpc_address != member.grpc_address
                    || old.member.epoch != member.epoch
                    || old.member.region != member.region,
                old.gone,
                old.stream,
            ),
        };
        self.entries.insert(
            id.clone(),
            Entry {
                member,
                last_heartbeat: now,
                lease,
                suspect: false,
                gone,
                stream,
            },
        );
        self.last_health.insert(id, true);
        if changed {
            self.bump();
        }
        lease
    }

    /// Marks a member whose call failed as suspect until its next heartbeat.
    pub fn mark_failed(&mut self, id: &str) {
        if let Some(e) = self.entries.get_mut(id)
            && !e.suspect
        {
            e.suspect = true;
            self.last_health.insert(id.to_string(), false);
            self.bump();
        }
    }

    /// Records that `member` opened an assignment stream (a heartbeat too); returns the
    /// stream's generation, to hand back to [`Membership::stream_closed`].
    pub fn stream_opened(&mut self, member: Member, requested: Duration, now: Instant) -> u64 {
        self.heartbeat(member.clone(), requested, now);
        let e = self
            .entries
            .get_mut(&member.id)
            .expect("the heartbeat just inserted it");
        e.stream += 1;
        let (generation, was_gone) = (e.stream, e.gone);
        e.gone = false;
        if was_gone {
            self.bump();
        }
        generation
    }

    /// Records that the assignment stream of generation `stream` of `id` broke: unless a newer
    /// one is open, the member is gone until it opens another.
    pub fn stream_closed(&mut self, id: &str, stream: u64) {
        if let Some(e) = self.entries.get_mut(id)
            && e.stream == stream
            && !e.gone
        {
            e.gone = true;
            self.last_health.insert(id.to_string(), false);
            self.bump();
        }
    }

    /// Notices expired leases (bumping the version if any health changed) and forgets members
    /// silent for long; call periodically.
    pub fn expire(&mut self, now: Instant) {
        let mut changed = false;
        for (id, e) in &self.entries {
            let healthy = e.healthy(now);
            if self.last_health.insert(id.clone(), healthy) != Some(healthy) {
                changed = true;
            }
        }
        let forget = self.forget_after;
        let before = self.entries.len();
        self.entries
            .retain(|_, e| now.saturating_duration_since(e.last_heartbeat) < forget);
        if self.entries.len() != before {
            let entries = &self.entries;
            self.last_health.retain(|id, _| entries.contains_key(id));
            changed = true;
        }
        if changed {
            self.bump();
        }
    }

    fn render(&self, e: &Entry, now: Instant) -> Member {
        Member {
            healthy: e.healthy(now),
            last_heartbeat_age_ms: now.saturating_duration_since(e.last_heartbeat).as_millis()
                as u64,
            ..e.member.clone()
        }
    }

    /// Every known member (healthy or not) of `region` (empty = all), sorted by id.
    pub fn members(&self, region: &str, now: Instant) -> Vec<Member> {
        let mut out: Vec<Member> = self
            .entries
            .values()
            .filter(|e| region.is_empty() || e.member.region == region)
            .map(|e| self.render(e, now))
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    /// The healthy sub-managers of `region`, sorted by id.
    pub fn healthy_sub_managers(&self, region: &str, now: Instant) -> Vec<Member> {
        self.members(region, now)
            .into_iter()
            .filter(|m| m.healthy && m.role == Role::SubManager as i32)
            .collect()
    }

    /// The sub-managers of `region` that agents may be assigned to (lease running, stream not
    /// broken; suspicion from failed calls does not count), sorted by id.
    pub fn assignable(&self, region: &str, now: Instant) -> Vec<String> {
        let mut out: Vec<String> = self
            .entries
            .values()
            .filter(|e| {
                e.member.region == region
                    && e.member.role == Role::SubManager as i32
                    && e.alive(now)
            })
            .map(|e| e.member.id.clone())
            .collect();
        out.sort();
        out
    }

    /// The member with this id, if known.
    pub fn get(&self, id: &str, now: Instant) -> Option<Member> {
        self.entries.get(id).map(|e| self.render(e, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(id: &str, region: &str) -> Member {
        Member {
            id: id.into(),
            role: Role::SubManager as i32,
            region: region.into(),
            address: format!("127.0.0.1:1{id}"),
            epoch: "e1".into(),
            ..Member::default()
        }
    }

    #[test]
    fn lease_expiry_makes_a_member_unhealthy_and_bumps_the_version() {
        let mut m = Membership::new(Duration::from_secs(3));
        let t0 = Instant::now();
        m.heartbeat(sub("1", "eu"), Duration::ZERO, t0);
        m.heartbeat(sub("2", "eu"), Duration::ZERO, t0);
        m.heartbeat(sub("3", "us"), Duration::ZERO, t0);
        assert_eq!(m.healthy_sub_managers("eu", t0).len(), 2);
        let v = m.version();
        m.heartbeat(sub("1", "eu"), Duration::ZERO, t0 + Duration::from_secs(2));
        assert_eq!(
            m.version(),
            v,
            "a renewal of a healthy member changes nothing"
        );
        let t4 = t0 + Duration::from_millis(3500);
        m.expire(t4);
        let eu = m.healthy_sub_managers("eu", t4);
        assert_eq!(
            eu.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
            vec!["1"]
        );
        assert!(
            m.version() > v,
            "the expiry of 2 is a change watchers must see"
        );
        assert_eq!(
            m.members("eu", t4).len(),
            2,
            "expired members stay listed as unhealthy"
        );
    }

    #[test]
    fn failed_calls_make_a_member_suspect_until_it_heartbeats() {
        let mut m = Membership::new(Duration::from_secs(3));
        let t0 = Instant::now();
        m.heartbeat(sub("1", "eu"), Duration::ZERO, t0);
        m.mark_failed("1");
        assert!(m.healthy_sub_managers("eu", t0).is_empty());
        m.heartbeat(
            sub("1", "eu"),
            Duration::ZERO,
            t0 + Duration::from_millis(500),
        );
        assert_eq!(
            m.healthy_sub_managers("eu", t0 + Duration::from_millis(600))
                .len(),
            1
        );
    }

    #[test]
    fn a_broken_stream_makes_a_member_gone_at_once_and_a_new_stream_brings_it_back() {
        let mut m = Membership::new(Duration::from_secs(3));
        let t0 = Instant::now();
        let first = m.stream_opened(sub("1", "eu"), Duration::ZERO, t0);
        m.heartbeat(sub("2", "eu"), Duration::ZERO, t0);
        assert_eq!(m.assignable("eu", t0), vec!["1", "2"]);
        let second = m.stream_opened(sub("1", "eu"), Duration::ZERO, t0);
        m.stream_closed("1", first);
        assert_eq!(
            m.assignable("eu", t0),
            vec!["1", "2"],
            "an older stream's end means nothing while a newer one is open"
        );
        let v = m.version();
        m.stream_closed("1", second);
        assert!(m.version() > v);
        assert_eq!(m.assignable("eu", t0), vec!["2"]);
        assert_eq!(m.healthy_sub_managers("eu", t0).len(), 1);
        m.heartbeat(sub("1", "eu"), Duration::ZERO, t0);
        assert_eq!(
            m.assignable("eu", t0),
            vec!["2"],
            "heartbeats alone do not undo it"
        );
        m.stream_opened(sub("1", "eu"), Duration::ZERO, t0);
        assert_eq!(m.assignable("eu", t0), vec!["1", "2"]);
        m.mark_failed("2");
        assert_eq!(
            m.assignable("eu", t0),
            vec!["1", "2"],
            "a failed call moves no agent"
        );
    }

    #[test]
    fn requested_leases_are_bounded_and_long_silent_members_forgotten() {
        let mut m = Membership::new(Duration::from_secs(3));
        let t0 = Instant::now();
        assert_eq!(
            m.heartbeat(sub("1", "eu"), Duration::from_millis(1), t0),
            Duration::from_millis(200)
        );
        m.expire(t0 + Duration::from_secs(301));
        assert!(m.members("", t0).is_empty());
    }
}
