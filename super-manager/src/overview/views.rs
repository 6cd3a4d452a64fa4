//! The overview as the consoles show it: each region's counts, the resources, the
//! incidents (typed views of the shared web crate, `strata_web::views`).

use strata_proto::v1::{Event, ResourceState, Severity};
use strata_web::views::{
    EventCounts, EventJson, RegionJson, ResourceCounts, ResourceJson, SubManagerJson, region_of,
};

use super::Overview;

impl Overview {
    /// The open incidents of resource `id`.
    pub fn incidents_of(&self, id: &str) -> Vec<EventJson> {
        self.incidents
            .open_of(id)
            .map(EventJson::from_event)
            .collect()
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

    fn open_events(&self, region: &str) -> Vec<&Event> {
        self.incidents.open_in(region).collect()
    }
}
