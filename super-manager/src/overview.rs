//! The enterprise overview, aggregated from every region's WatchRegion streams.
//!
//! Records are kept per reporting member, because after a failover two members of a region
//! may both have reported a resource: the view merges them, preferring records from healthy
//! members and then the most recently updated. A resource that only unhealthy members report
//! is shown as unknown rather than dropped: its sub-manager is gone, not the host. Events are
//! told as incidents ([`crate::incidents`]).
//!
//! Everything is kept in the super-manager's own store as well (each member's journal cursor,
//! records and events, and the incidents), written with each update, so that a restarted
//! super-manager resumes every stream where it stopped and loses no event in between.

use std::collections::{BTreeMap, HashMap};

use prost::Message;
use strata_proto::v1::region_update::Kind;
use strata_proto::v1::{
    CheckState, CheckStatus, Event, Member, RegionUpdate, Resource, ResourceState, Role,
};
use strata_tsdb::Journal;
use strata_web::views::region_of;

use crate::incidents::{Incidents, Op};

mod alerts;
mod store;
#[cfg(test)]
mod tests;
mod views;

pub use alerts::service_resource;

use store::{check_key, cursor_key, event_key, resource_key};

/// Resolved incidents kept when no bound is given.
pub const DEFAULT_INCIDENT_HISTORY: usize = 100_000;

#[derive(Debug, Default)]
struct MemberData {
    address: String,
    healthy: bool,
    /// Journal position: epoch and last sequence applied.
    epoch: String,
    seq: u64,
    resources: BTreeMap<String, Resource>,
    /// Open events by id.
    events: BTreeMap<String, Event>,
    /// Latest check results by `<resource id>\0<check name>`.
    checks: BTreeMap<String, CheckStatus>,
}

/// The key of a check within a member's data and the store.
fn check_id(c: &CheckStatus) -> String {
    format!("{}\0{}", c.resource_id, c.name)
}

/// A check as the centre shows it: unknown while its member is unreachable.
fn shown_check(healthy: bool, c: &CheckStatus) -> CheckStatus {
    let mut c = c.clone();
    if !healthy {
        c.state = CheckState::Unknown as i32;
        c.message = format!("the sub-manager of {} is unreachable", c.resource_id);
    }
    c
}

/// Every region, by name; each with its members' reports; and the incidents.
#[derive(Debug)]
pub struct Overview {
    regions: BTreeMap<String, HashMap<String, MemberData>>,
    incidents: Incidents,
    store: Option<Journal>,
    /// A count of changes, and the count at each region's last change: what was computed
    /// of a region at one count holds while its count stays (see [`Overview::changed_at`]).
    changes: u64,
    changed: HashMap<String, u64>,
    /// Counts changes of which resources and checks there are (not of their states): what
    /// is selected from them holds while it stays (see [`Overview::shape`]).
    shape: u64,
}

impl Default for Overview {
    fn default() -> Self {
        Self {
            regions: BTreeMap::new(),
            incidents: Incidents::new(DEFAULT_INCIDENT_HISTORY),
            store: None,
            changes: 0,
            changed: HashMap::new(),
            shape: 0,
        }
    }
}

impl Overview {
    /// Replaces the known sub-managers with a broker's membership list; members no longer
    /// listed are forgotten with their reports.
    pub fn set_members(&mut self, members: &[Member]) {
        let mut listed: BTreeMap<String, Vec<&Member>> = BTreeMap::new();
        for m in members.iter().filter(|m| m.role == Role::SubManager as i32) {
            listed.entry(m.region.clone()).or_default().push(m);
        }
        // the list comes again and again: only a region whose members, their addresses or
        // their health changed counts as changed (and its going or coming changes the shape)
        let was = |name: &str| -> Vec<(&str, &str, bool)> {
            self.regions.get(name).map_or_else(Vec::new, |data| {
                data.iter()
                    .map(|(id, d)| (id.as_str(), d.address.as_str(), d.healthy))
                    .collect()
            })
        };
        let mut changed = Vec::new();
        let mut reshaped = self.regions.keys().any(|name| !listed.contains_key(name));
        for (name, ms) in &listed {
            let mut now: Vec<(&str, &str, bool)> = ms
                .iter()
                .map(|m| (m.id.as_str(), m.address.as_str(), m.healthy))
                .collect();
            now.sort_unstable();
            let mut before = was(name);
            before.sort_unstable();
            if before != now {
                let ids = |v: &[(&str, &str, bool)]| {
                    v.iter().map(|m| m.0.to_string()).collect::<Vec<_>>()
                };
                reshaped |= ids(&before) != ids(&now);
                changed.push(name.clone());
            }
        }
        changed.extend(
            self.regions
                .keys()
                .filter(|name| !listed.contains_key(*name))
                .cloned(),
        );
        for name in &changed {
            self.touch(name);
        }
        if reshaped {
            self.shape += 1;
        }
        let mut ops = Vec::new();
        for (name, data) in &self.regions {
            for (id, d) in data {
                let kept = listed
                    .get(name)
                    .is_some_and(|ms| ms.iter().any(|m| &m.id == id));
                if !kept {
                    Self::forget_ops(name, id, d, &mut ops);
                }
            }
        }
        self.persist(&ops);
        self.regions.retain(|name, _| listed.contains_key(name));
        for (region, ms) in listed {
            let data = self.regions.entry(region).or_default();
            data.retain(|id, _| ms.iter().any(|m| &m.id == id));
            for m in ms {
                let d = data.entry(m.id.clone()).or_default();
                d.address = m.address.clone();
                d.healthy = m.healthy;
            }
        }
    }

    /// Where the stream of `member` in `region` should resume: (epoch, last sequence).
    pub fn cursor(&self, region: &str, member: &str) -> (String, u64) {
        self.regions
            .get(region)
            .and_then(|r| r.get(member))
            .map(|d| (d.epoch.clone(), d.seq))
            .unwrap_or_default()
    }

    /// Whether `member` of `region` is listed and healthy.
    pub fn is_healthy(&self, region: &str, member: &str) -> bool {
        self.regions
            .get(region)
            .and_then(|r| r.get(member))
            .is_some_and(|d| d.healthy)
    }

    /// Whether `member` of `region` is listed at all.
    pub fn is_listed(&self, region: &str, member: &str) -> bool {
        self.regions
            .get(region)
            .is_some_and(|r| r.contains_key(member))
    }

    /// Applies one update of a region stream (ignored if its member is not listed), and
    /// keeps the store in step.
    pub fn apply(&mut self, update: RegionUpdate) {
        self.apply_all(std::iter::once(update));
    }

    /// Applies updates in order, keeping the store in step with one write for them all.
    pub fn apply_all(&mut self, updates: impl IntoIterator<Item = RegionUpdate>) {
        let mut ops: Vec<Op> = Vec::new();
        for update in updates {
            self.fold(update, &mut ops);
        }
        self.persist(&ops);
    }

    /// The change count at `region`'s last change (0: none seen): what is computed of a
    /// region is good while this stays the same.
    pub fn changed_at(&self, region: &str) -> u64 {
        self.changed.get(region).copied().unwrap_or(0)
    }

    /// A count that changes whenever the set of resources or checks (or the members
    /// reporting them) changes, and not when only their states do.
    pub fn shape(&self) -> u64 {
        self.shape
    }

    /// Counts a change of `region`.
    pub(crate) fn touch(&mut self, region: &str) {
        self.changes += 1;
        self.changed.insert(region.to_string(), self.changes);
    }

    /// Folds one update into the overview, adding the store changes it makes to `ops`.
    fn fold(&mut self, update: RegionUpdate, ops: &mut Vec<Op>) {
        let (region, member) = (update.region.clone(), update.member_id.clone());
        // what the region's counts show: its resources and incidents
        if matches!(
            update.kind,
            Some(Kind::Snapshot(_) | Kind::Resource(_) | Kind::Event(_) | Kind::ResourceRemoved(_))
        ) {
            self.touch(&region);
        }
        let Some(d) = self
            .regions
            .get_mut(&region)
            .and_then(|r| r.get_mut(&member))
        else {
            return;
        };
        let now_ms = strata_proto::now_ms();
        let reshaped = match &update.kind {
            Some(Kind::Snapshot(_) | Kind::ResourceRemoved(_)) => true,
            Some(Kind::Resource(r)) => !d.resources.contains_key(&r.id),
            Some(Kind::Check(c)) => !d.checks.contains_key(&check_id(c)),
            _ => false,
        };
        if reshaped {
            self.shape += 1;
        }
        d.epoch = update.epoch;
        d.seq = update.seq;
        ops.push((
            cursor_key(&region, &member),
            Some(format!("{}\n{}", d.epoch, d.seq).into_bytes()),
        ));
        match update.kind {
            Some(Kind::Snapshot(s)) => {
                for id in d.resources.keys() {
                    if !s.resources.iter().any(|r| &r.id == id) {
                        ops.push((resource_key(&region, &member, id), None));
                    }
                }
                for id in d.events.keys() {
                    if !s.events.iter().any(|e| &e.id == id) {
                        ops.push((event_key(&region, &member, id), None));
                    }
                }
                for e in &s.events {
                    ops.push((event_key(&region, &member, &e.id), Some(e.encode_to_vec())));
                    self.incidents.on_event(e, ops);
                }
                for r in &s.resources {
                    ops.push((
                        resource_key(&region, &member, &r.id),
                        Some(r.encode_to_vec()),
                    ));
                    self.incidents.on_resource(r, now_ms, ops);
                }
                for id in d.checks.keys() {
                    if !s.checks.iter().any(|c| &check_id(c) == id) {
                        ops.push((check_key(&region, &member, id), None));
                    }
                }
                for c in &s.checks {
                    ops.push((
                        check_key(&region, &member, &check_id(c)),
                        Some(c.encode_to_vec()),
                    ));
                }
                d.resources = s.resources.into_iter().map(|r| (r.id.clone(), r)).collect();
                d.events = s.events.into_iter().map(|e| (e.id.clone(), e)).collect();
                d.checks = s.checks.into_iter().map(|c| (check_id(&c), c)).collect();
            }
            Some(Kind::Check(c)) => {
                let id = check_id(&c);
                ops.push((check_key(&region, &member, &id), Some(c.encode_to_vec())));
                d.checks.insert(id, c);
            }
            Some(Kind::Resource(r)) => {
                ops.push((
                    resource_key(&region, &member, &r.id),
                    Some(r.encode_to_vec()),
                ));
                self.incidents.on_resource(&r, now_ms, ops);
                d.resources.insert(r.id.clone(), r);
            }
            Some(Kind::Event(e)) => {
                self.incidents.on_event(&e, ops);
                if e.resolved_ms > 0 {
                    ops.push((event_key(&region, &member, &e.id), None));
                    d.events.remove(&e.id);
                } else {
                    ops.push((event_key(&region, &member, &e.id), Some(e.encode_to_vec())));
                    d.events.insert(e.id.clone(), e);
                }
            }
            Some(Kind::ResourceRemoved(id)) => {
                ops.push((resource_key(&region, &member, &id), None));
                d.resources.remove(&id);
                d.events.retain(|eid, e| {
                    if e.resource_id == id {
                        ops.push((event_key(&region, &member, eid), None));
                    }
                    e.resource_id != id
                });
                d.checks.retain(|cid, c| {
                    if c.resource_id == id {
                        ops.push((check_key(&region, &member, cid), None));
                    }
                    c.resource_id != id
                });
            }
            // kept by the QoS store (crate::qos), not in the overview
            // kept by the audit log (crate::subscriber)
            Some(Kind::Audit(_)) => {}
            Some(Kind::ProbeRun(_)) | None => {}
        }
    }

    /// The region's resources, merged across its members.
    pub fn merged(&self, region: &str) -> Vec<Resource> {
        self.best(region)
            .into_iter()
            .map(|(healthy, r)| Self::shown(healthy, r))
            .collect()
    }

    /// The best record of each of the region's resources, with whether its member is healthy.
    fn best(&self, region: &str) -> Vec<(bool, &Resource)> {
        let Some(members) = self.regions.get(region) else {
            return Vec::new();
        };
        let mut reporting = members.values().filter(|d| !d.resources.is_empty());
        if let (Some(only), None) = (reporting.next(), reporting.next()) {
            // one member reports the region: nothing to merge
            return only.resources.values().map(|r| (only.healthy, r)).collect();
        }
        let mut best: BTreeMap<&str, (bool, &Resource)> = BTreeMap::new();
        for d in members.values() {
            for r in d.resources.values() {
                let better = match best.get(r.id.as_str()) {
                    None => true,
                    Some((healthy, old)) => (d.healthy, r.updated_ms) > (*healthy, old.updated_ms),
                };
                if better {
                    best.insert(&r.id, (d.healthy, r));
                }
            }
        }
        best.into_values().collect()
    }

    /// Every check's latest result across the regions, merged across members as resources
    /// are (healthy members first, then the newest); a check only an unreachable member
    /// reports is shown unknown.
    pub fn all_checks(&self) -> Vec<CheckStatus> {
        let mut best: BTreeMap<String, (bool, &CheckStatus)> = BTreeMap::new();
        for members in self.regions.values() {
            for d in members.values() {
                for (id, c) in &d.checks {
                    let better = match best.get(id) {
                        None => true,
                        Some((healthy, old)) => (d.healthy, c.ts_ms) > (*healthy, old.ts_ms),
                    };
                    if better {
                        best.insert(id.clone(), (d.healthy, c));
                    }
                }
            }
        }
        best.into_values()
            .map(|(healthy, c)| shown_check(healthy, c))
            .collect()
    }

    /// The latest results of the checks `wanted`, as (resource id, check name), merged
    /// across members as [`Overview::all_checks`] merges them (those not found left out).
    pub fn checks_of(&self, wanted: &[(&str, &str)]) -> Vec<CheckStatus> {
        wanted
            .iter()
            .filter_map(|(resource_id, name)| {
                let members = self.regions.get(region_of(resource_id))?;
                let id = format!("{resource_id}\0{name}");
                members
                    .values()
                    .filter_map(|d| d.checks.get(&id).map(|c| (d.healthy, c)))
                    .max_by_key(|(healthy, c)| (*healthy, c.ts_ms))
                    .map(|(healthy, c)| shown_check(healthy, c))
            })
            .collect()
    }

    /// The resources with these ids, merged across members as [`Overview::merged`]
    /// merges them (ids not found are left out).
    pub fn resources_by_id(&self, ids: &[&str]) -> Vec<Resource> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(members) = self.regions.get(region_of(id)) else {
                continue;
            };
            let best = members
                .values()
                .filter_map(|d| d.resources.get(*id).map(|r| (d.healthy, r)))
                .max_by_key(|(healthy, r)| (*healthy, r.updated_ms));
            if let Some((healthy, r)) = best {
                out.push(Self::shown(healthy, r));
            }
        }
        out
    }

    /// A resource as shown: unknown when only an unreachable member reports it.
    fn shown(healthy: bool, r: &Resource) -> Resource {
        let mut r = r.clone();
        if !healthy {
            r.state = ResourceState::Unknown as i32;
            r.reason = format!("sub-manager {} is unreachable", r.owner);
        }
        r
    }

    /// Every region's resources, the best record of each with whether its member is
    /// healthy, in region then id order, borrowed (for health evaluation, which runs often).
    pub fn all_seen(&self) -> Vec<(bool, &Resource)> {
        self.regions
            .keys()
            .flat_map(|name| self.best(name))
            .collect()
    }

    /// Every region's resources, merged across members (as the resources JSON shows them),
    /// read one region at a time so that no lock is held for the whole copy.
    pub fn all_resources_of(overview: &std::sync::RwLock<Overview>) -> Vec<Resource> {
        let names = overview
            .read()
            .expect("overview lock poisoned")
            .region_names();
        let mut out = Vec::new();
        for name in names {
            out.extend(
                overview
                    .read()
                    .expect("overview lock poisoned")
                    .merged(&name),
            );
        }
        out
    }

    /// Open incidents, and those resolved since `since_ms`.
    pub fn incident_events(&self, since_ms: i64) -> Vec<Event> {
        self.incidents
            .open()
            .chain(
                self.incidents
                    .resolved()
                    .rev()
                    .take_while(|e| e.resolved_ms >= since_ms),
            )
            .cloned()
            .collect()
    }

    /// Names of the known regions.
    pub fn region_names(&self) -> Vec<String> {
        self.regions.keys().cloned().collect()
    }
}
