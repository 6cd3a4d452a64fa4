//! The enterprise overview, aggregated from every region's WatchRegion streams.
//!
//! Records are kept per reporting member, because after a failover two members of a region
//! may both have reported a resource: the view merges them, preferring records from healthy
//! members and then the most recently updated. A resource that only unhealthy members report
//! is shown as unknown rather than dropped: its sub-manager is gone, not the host.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use strata_proto::names::{severity_name, state_name};
use strata_proto::v1::region_update::Kind;
use strata_proto::v1::{Event, Member, RegionUpdate, Resource, ResourceState, Role, Severity};

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
}

/// Every region, by name; each with its members' reports.
#[derive(Debug, Default)]
pub struct Overview {
    regions: BTreeMap<String, HashMap<String, MemberData>>,
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
}

/// One region in the overview JSON.
#[derive(Debug, Serialize, PartialEq)]
pub struct RegionJson {
    pub name: String,
    pub sub_managers: Vec<SubManagerJson>,
    pub resources: ResourceCounts,
    pub events: EventCounts,
}

/// One resource in the resources JSON.
#[derive(Debug, Serialize, PartialEq)]
pub struct ResourceJson {
    pub id: String,
    pub region: String,
    pub host: String,
    pub state: &'static str,
    pub severity: &'static str,
    pub last_poll_ms: i64,
    pub owner: String,
    pub reason: String,
}

/// One open event in the events JSON.
#[derive(Debug, Serialize, PartialEq)]
pub struct EventJson {
    pub id: String,
    pub region: String,
    pub resource_id: String,
    pub rule: String,
    pub severity: &'static str,
    pub message: String,
    pub opened_ms: i64,
    pub value: f64,
}

impl Overview {
    /// Replaces the known sub-managers with a broker's membership list; members no longer
    /// listed are forgotten with their reports.
    pub fn set_members(&mut self, members: &[Member]) {
        let mut listed: BTreeMap<String, Vec<&Member>> = BTreeMap::new();
        for m in members.iter().filter(|m| m.role == Role::SubManager as i32) {
            listed.entry(m.region.clone()).or_default().push(m);
        }
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

    /// Applies one update of a region stream (ignored if its member is not listed).
    pub fn apply(&mut self, update: RegionUpdate) {
        let Some(d) = self
            .regions
            .get_mut(&update.region)
            .and_then(|r| r.get_mut(&update.member_id))
        else {
            return;
        };
        d.epoch = update.epoch;
        d.seq = update.seq;
        match update.kind {
            Some(Kind::Snapshot(s)) => {
                d.resources = s.resources.into_iter().map(|r| (r.id.clone(), r)).collect();
                d.events = s.events.into_iter().map(|e| (e.id.clone(), e)).collect();
            }
            Some(Kind::Resource(r)) => {
                d.resources.insert(r.id.clone(), r);
            }
            Some(Kind::Event(e)) => {
                if e.resolved_ms > 0 {
                    d.events.remove(&e.id);
                } else {
                    d.events.insert(e.id.clone(), e);
                }
            }
            Some(Kind::ResourceRemoved(id)) => {
                d.resources.remove(&id);
                d.events.retain(|_, e| e.resource_id != id);
            }
            None => {}
        }
    }

    /// The region's resources, merged across its members.
    fn merged(&self, region: &str) -> Vec<Resource> {
        let Some(members) = self.regions.get(region) else {
            return Vec::new();
        };
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
        best.into_values()
            .map(|(healthy, r)| {
                let mut r = r.clone();
                if !healthy {
                    r.state = ResourceState::Unknown as i32;
                    r.reason = format!("sub-manager {} is unreachable", r.owner);
                }
                r
            })
            .collect()
    }

    fn open_events(&self, region: &str) -> Vec<&Event> {
        let Some(members) = self.regions.get(region) else {
            return Vec::new();
        };
        let mut by_id: BTreeMap<&str, &Event> = BTreeMap::new();
        for d in members.values().filter(|d| d.healthy) {
            for e in d.events.values() {
                by_id.insert(&e.id, e);
            }
        }
        by_id.into_values().collect()
    }

    /// Names of the known regions.
    pub fn region_names(&self) -> Vec<String> {
        self.regions.keys().cloned().collect()
    }

    /// The overview of every region.
    pub fn regions_json(&self) -> Vec<RegionJson> {
        self.regions
            .iter()
            .map(|(name, members)| {
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
                for r in self.merged(name) {
                    resources.total += 1;
                    match r.state() {
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
                }
                RegionJson {
                    name: name.clone(),
                    sub_managers,
                    resources,
                    events,
                }
            })
            .collect()
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
            .map(|r| ResourceJson {
                state: state_name(r.state()),
                severity: severity_name(r.severity()),
                id: r.id,
                region: r.region,
                host: r.host,
                last_poll_ms: r.last_poll_ms,
                owner: r.owner,
                reason: r.reason,
            })
            .collect()
    }

    /// The open events of `region` (every region when None), most severe first.
    pub fn events_json(&self, region: Option<&str>) -> Vec<EventJson> {
        let names: Vec<String> = match region {
            Some(r) => vec![r.to_string()],
            None => self.region_names(),
        };
        let mut out: Vec<EventJson> = names
            .iter()
            .flat_map(|name| {
                self.open_events(name).into_iter().map(move |e| EventJson {
                    id: e.id.clone(),
                    region: name.clone(),
                    resource_id: e.resource_id.clone(),
                    rule: e.rule.clone(),
                    severity: severity_name(e.severity()),
                    message: e.message.clone(),
                    opened_ms: e.opened_ms,
                    value: e.value,
                })
            })
            .collect();
        out.sort_by(|a, b| {
            (b.severity == "critical")
                .cmp(&(a.severity == "critical"))
                .then(a.id.cmp(&b.id))
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_proto::v1::Snapshot;

    fn member(id: &str, region: &str, healthy: bool) -> Member {
        Member {
            id: id.into(),
            role: Role::SubManager as i32,
            region: region.into(),
            address: format!("addr-{id}"),
            healthy,
            ..Default::default()
        }
    }

    fn resource(host: &str, owner: &str, state: ResourceState, updated_ms: i64) -> Resource {
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

    fn update(member: &str, seq: u64, kind: Kind) -> RegionUpdate {
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
            }),
        ));
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
        let ev = |resolved_ms| Event {
            id: "eu/h1/cpu/1".into(),
            resource_id: "eu/h1".into(),
            rule: "cpu".into(),
            severity: Severity::Critical as i32,
            opened_ms: 1,
            resolved_ms,
            ..Default::default()
        };
        o.apply(update("a", 1, Kind::Event(ev(0))));
        assert_eq!(
            o.regions_json()[0].events,
            EventCounts {
                warning: 0,
                critical: 1
            }
        );
        o.apply(update("a", 2, Kind::Event(ev(5))));
        assert_eq!(o.regions_json()[0].events.critical, 0);
        o.apply(update("a", 3, Kind::Event(ev(0))));
        o.apply(update("a", 4, Kind::ResourceRemoved("eu/h1".into())));
        assert!(o.events_json(None).is_empty());
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
