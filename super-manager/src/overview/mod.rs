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
use strata_proto::views::region_of;
pub use strata_proto::views::{EventJson, ResourceJson};

use prost::Message;
use serde::Serialize;

use strata_proto::v1::region_update::Kind;
use strata_proto::v1::{
    CheckState, CheckStatus, Event, Member, RegionUpdate, Resource, ResourceState, Role, Severity,
};
use strata_tsdb::Journal;

use crate::incidents::{Incidents, Op};

mod alerts;
mod store;

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
}

impl Default for Overview {
    fn default() -> Self {
        Self {
            regions: BTreeMap::new(),
            incidents: Incidents::new(DEFAULT_INCIDENT_HISTORY),
            store: None,
        }
    }
}

/// One sub-manager in the overview JSON.
#[derive(Debug, Serialize, PartialEq)]
pub struct SubManagerJson {
    pub id: String,
    pub address: String,
    pub healthy: bool,
}

/// Resource counts of a region.
#[derive(Debug, Serialize, Default, PartialEq)]
pub struct ResourceCounts {
    pub total: u32,
    pub up: u32,
    pub down: u32,
    pub unknown: u32,
}

/// Open event counts of a region.
#[derive(Debug, Serialize, Default, PartialEq)]
pub struct EventCounts {
    pub warning: u32,
    pub critical: u32,
    /// Of those, acknowledged by an operator.
    pub acknowledged: u32,
}

/// One region in the overview JSON.
#[derive(Debug, Serialize, PartialEq)]
pub struct RegionJson {
    pub name: String,
    pub sub_managers: Vec<SubManagerJson>,
    pub resources: ResourceCounts,
    pub events: EventCounts,
}

impl Overview {
    /// Replaces the known sub-managers with a broker's membership list; members no longer
    /// listed are forgotten with their reports.
    pub fn set_members(&mut self, members: &[Member]) {
        let mut listed: BTreeMap<String, Vec<&Member>> = BTreeMap::new();
        for m in members.iter().filter(|m| m.role == Role::SubManager as i32) {
            listed.entry(m.region.clone()).or_default().push(m);
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

    /// Folds one update into the overview, adding the store changes it makes to `ops`.
    fn fold(&mut self, update: RegionUpdate, ops: &mut Vec<Op>) {
        let (region, member) = (update.region.clone(), update.member_id.clone());
        let Some(d) = self
            .regions
            .get_mut(&region)
            .and_then(|r| r.get_mut(&member))
        else {
            return;
        };
        let now_ms = strata_proto::now_ms();
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

    fn open_events(&self, region: &str) -> Vec<&Event> {
        self.incidents
            .open()
            .filter(|e| region_of(&e.resource_id) == region)
            .collect()
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

    /// The open incidents of resource `id`.
    pub fn incidents_of(&self, id: &str) -> Vec<EventJson> {
        self.incidents
            .open_of(id)
            .map(EventJson::from_event)
            .collect()
    }

    /// Names of the known regions.
    pub fn region_names(&self) -> Vec<String> {
        self.regions.keys().cloned().collect()
    }

    /// The overview of every region.
    pub fn regions_json(&self) -> Vec<RegionJson> {
        self.regions
            .keys()
            .filter_map(|name| self.region_json(name))
            .collect()
    }

    /// The overview of one region, counted without copying its records.
    pub fn region_json(&self, name: &str) -> Option<RegionJson> {
        let members = self.regions.get(name)?;
        let mut sub_managers: Vec<SubManagerJson> = members
            .iter()
            .map(|(id, d)| SubManagerJson {
                id: id.clone(),
                address: d.address.clone(),
                healthy: d.healthy,
            })
            .collect();
        sub_managers.sort_by(|a, b| a.id.cmp(&b.id));
        let mut resources = ResourceCounts::default();
        for (healthy, r) in self.best(name) {
            resources.total += 1;
            match r.state() {
                _ if !healthy => resources.unknown += 1,
                ResourceState::Up => resources.up += 1,
                ResourceState::Down => resources.down += 1,
                _ => resources.unknown += 1,
            }
        }
        let mut events = EventCounts::default();
        for e in self.open_events(name) {
            match e.severity() {
                Severity::Warning => events.warning += 1,
                Severity::Critical => events.critical += 1,
                _ => {}
            }
            if e.acknowledged_ms > 0 {
                events.acknowledged += 1;
            }
        }
        Some(RegionJson {
            name: name.to_string(),
            sub_managers,
            resources,
            events,
        })
    }

    /// The resources of `region` (every region when None).
    pub fn resources_json(&self, region: Option<&str>) -> Vec<ResourceJson> {
        let names: Vec<String> = match region {
            Some(r) => vec![r.to_string()],
            None => self.region_names(),
        };
        names
            .iter()
            .flat_map(|name| self.merged(name))
            .map(|r| ResourceJson::of(&r))
            .collect()
    }

    /// The open incidents of `region` (every region when None), most severe first; with
    /// `resolved`, the resolved ones kept too, most recently resolved first, after them.
    pub fn events_json(&self, region: Option<&str>, resolved: bool) -> Vec<EventJson> {
        self.events_where(
            |e| region.is_none_or(|r| region_of(&e.resource_id) == r),
            resolved,
        )
    }

    /// Every incident of resource `id`, open ones first, then the resolved ones kept,
    /// newest first.
    pub fn events_of(&self, id: &str) -> Vec<EventJson> {
        self.events_where(|e| e.resource_id == id, true)
    }

    fn events_where(&self, wanted: impl Fn(&Event) -> bool, resolved: bool) -> Vec<EventJson> {
        let wanted = |e: &&Event| wanted(e);
        let mut out: Vec<EventJson> = self
            .incidents
            .open()
            .filter(wanted)
            .map(EventJson::from_event)
            .collect();
        out.sort_by(|a, b| {
            (b.severity == "critical")
                .cmp(&(a.severity == "critical"))
                .then(a.id.cmp(&b.id))
        });
        if resolved {
            out.extend(
                self.incidents
                    .resolved()
                    .rev()
                    .filter(wanted)
                    .map(EventJson::from_event),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_proto::v1::Snapshot;

    pub(super) fn member(id: &str, region: &str, healthy: bool) -> Member {
        Member {
            id: id.into(),
            role: Role::SubManager as i32,
            region: region.into(),
            address: format!("addr-{id}"),
            healthy,
            ..Default::default()
        }
    }

    pub(super) fn resource(
        host: &str,
        owner: &str,
        state: ResourceState,
        updated_ms: i64,
    ) -> Resource {
        Resource {
            id: format!("eu/{host}"),
            region: "eu".into(),
            host: host.into(),
            state: state as i32,
            severity: Severity::Ok as i32,
            owner: owner.into(),
            updated_ms,
            ..Default::default()
        }
    }

    pub(super) fn update(member: &str, seq: u64, kind: Kind) -> RegionUpdate {
        RegionUpdate {
            region: "eu".into(),
            member_id: member.into(),
            epoch: "e".into(),
            seq,
            kind: Some(kind),
        }
    }

    #[test]
    fn merges_members_and_prefers_healthy_fresh_records() {
        let mut o = Overview::default();
        o.set_members(&[member("a", "eu", true), member("b", "eu", true)]);
        o.apply(update(
            "a",
            1,
            Kind::Snapshot(Snapshot {
                resources: vec![
                    resource("h1", "a", ResourceState::Up, 10),
                    resource("h2", "a", ResourceState::Up, 10),
                ],
                events: vec![],
                checks: vec![CheckStatus {
                    resource_id: "eu/h1".into(),
                    name: "shop".into(),
                    state: CheckState::Ok as i32,
                    ts_ms: 10,
                    ..Default::default()
                }],
            }),
        ));
        assert_eq!(o.all_checks()[0].state(), CheckState::Ok);
        o.apply(update(
            "b",
            1,
            Kind::Resource(resource("h2", "b", ResourceState::Down, 20)),
        ));
        let rs = o.resources_json(Some("eu"));
        assert_eq!(rs.len(), 2);
        assert_eq!(rs[1].state, "down", "b's newer record of h2 wins");
        assert_eq!(o.cursor("eu", "a"), ("e".into(), 1));

        o.set_members(&[member("a", "eu", false), member("b", "eu", true)]);
        let rs = o.resources_json(Some("eu"));
        assert_eq!(
            rs[0].state, "unknown",
            "h1 is only reported by the dead member"
        );
        assert_eq!(rs[1].state, "down");
        assert_eq!(
            o.all_checks()[0].state(),
            CheckState::Unknown,
            "a check only a dead member reports is unknown"
        );
        let region = &o.regions_json()[0];
        assert_eq!(
            region.resources,
            ResourceCounts {
                total: 2,
                up: 0,
                down: 1,
                unknown: 1
            }
        );
        assert_eq!(region.sub_managers.len(), 2);
        assert!(!region.sub_managers[0].healthy);
    }

    #[test]
    fn events_open_and_resolve_and_removal_drops_them() {
        let mut o = Overview::default();
        o.set_members(&[member("a", "eu", true)]);
        let ev = |opened_ms, resolved_ms| Event {
            id: format!("eu/h1/cpu/{opened_ms}"),
            resource_id: "eu/h1".into(),
            rule: "cpu".into(),
            severity: Severity::Critical as i32,
            opened_ms,
            resolved_ms,
            ..Default::default()
        };
        o.apply(update("a", 1, Kind::Event(ev(1, 0))));
        assert_eq!(
            o.regions_json()[0].events,
            EventCounts {
                warning: 0,
                critical: 1,
                acknowledged: 0
            }
        );
        o.apply(update("a", 2, Kind::Event(ev(1, 5))));
        assert_eq!(o.regions_json()[0].events.critical, 0);
        o.apply(update("a", 3, Kind::Event(ev(6, 0))));
        assert_eq!(o.events_json(None, false).len(), 1);
        assert_eq!(o.events_json(None, true).len(), 2, "with the resolved one");
        o.apply(update("a", 4, Kind::ResourceRemoved("eu/h1".into())));
        assert_eq!(
            o.events_json(None, false).len(),
            1,
            "a handover does not resolve the incident: the new owner will"
        );
    }

    #[test]
    fn unlisted_members_and_regions_are_forgotten() {
        let mut o = Overview::default();
        o.set_members(&[member("a", "eu", true), member("c", "us", true)]);
        o.apply(update("zzz", 1, Kind::ResourceRemoved("x".into())));
        assert_eq!(o.region_names(), vec!["eu", "us"]);
        o.set_members(&[member("c", "us", true)]);
        assert_eq!(o.region_names(), vec!["us"]);
        assert!(!o.is_listed("eu", "a"));
    }
}
