//! Incidents: the centre's account of events, one per resource and rule from open to resolved,
//! whichever member reported it.
//!
//! After a failover the new owner of a resource judges it afresh and opens its own event for
//! a condition the dead member had already reported; with a replica count of 2, two members
//! report every event. The centre folds these copies into one incident, which keeps the id
//! and opening time of the first report. An incident is resolved by a resolved event, or by a
//! judged record of its resource that no longer lists the rule as open (a new owner that finds
//! the condition gone never saw the event to resolve it). An open report made no later than
//! the last resolution of its resource and rule is a late copy of a resolved incident (from a
//! replica, or a member that had just handed the resource over) and opens nothing. Resolved
//! incidents are kept, newest last, up to a bound.

use std::collections::{BTreeMap, HashMap, VecDeque};

use strata_proto::v1::{Event, Resource, ResourceState};

/// One change to persist: a key of the store and its new value (None = deleted).
pub type Op = (Vec<u8>, Option<Vec<u8>>);

/// The store key of an open incident.
pub fn open_key(resource_id: &str, rule: &str) -> Vec<u8> {
    format!("i/o/{resource_id}\0{rule}").into_bytes()
}

/// The store key of a resolved incident (ordered by resolution time).
pub fn resolved_key(e: &Event) -> Vec<u8> {
    format!("i/r/{:016x}/{}", e.resolved_ms.max(0), e.id).into_bytes()
}

/// Open and resolved incidents.
#[derive(Debug)]
pub struct Incidents {
    open: BTreeMap<(String, String), Event>,
    resolved: VecDeque<Event>,
    capacity: usize,
    /// When each resource and rule last had an incident resolved.
    last_resolved: HashMap<(String, String), i64>,
}

impl Incidents {
    /// An empty ledger keeping at most `capacity` resolved incidents.
    pub fn new(capacity: usize) -> Self {
        Self {
            open: BTreeMap::new(),
            resolved: VecDeque::new(),
            capacity: capacity.max(1),
            last_resolved: HashMap::new(),
        }
    }

    /// Loads incidents read back from the store (resolved ones in resolution order).
    pub fn load(&mut self, open: Vec<Event>, resolved: Vec<Event>) {
        for e in open {
            self.open.insert((e.resource_id.clone(), e.rule.clone()), e);
        }
        for e in &resolved {
            let at = self
                .last_resolved
                .entry((e.resource_id.clone(), e.rule.clone()))
                .or_default();
            *at = (*at).max(e.resolved_ms);
        }
        self.resolved.extend(resolved);
    }

    fn close(&mut self, key: &(String, String), resolved_ms: i64, value: f64, ops: &mut Vec<Op>) {
        let Some(mut incident) = self.open.remove(key) else {
            return;
        };
        incident.resolved_ms = resolved_ms.max(incident.opened_ms);
        incident.value = value;
        ops.push((open_key(&key.0, &key.1), None));
        ops.push((
            resolved_key(&incident),
            Some(prost::Message::encode_to_vec(&incident)),
        ));
        let at = self.last_resolved.entry(key.clone()).or_default();
        *at = (*at).max(incident.resolved_ms);
        self.resolved.push_back(incident);
        while self.resolved.len() > self.capacity {
            if let Some(old) = self.resolved.pop_front() {
                ops.push((resolved_key(&old), None));
            }
        }
    }

    /// Folds one event report of a member into the incidents.
    pub fn on_event(&mut self, e: &Event, ops: &mut Vec<Op>) {
        let key = (e.resource_id.clone(), e.rule.clone());
        if e.resolved_ms > 0 {
            self.close(&key, e.resolved_ms, e.value, ops);
            return;
        }
        if !self.open.contains_key(&key)
            && self
                .last_resolved
                .get(&key)
                .is_some_and(|at| e.opened_ms <= *at)
        {
            // a late copy of an incident already resolved
            return;
        }
        let incident = self.open.entry(key.clone()).or_insert_with(|| e.clone());
        if incident.severity != e.severity {
            incident.changes.push(strata_proto::v1::EventChange {
                ts_ms: e.changes.last().map_or(e.opened_ms, |c| c.ts_ms),
                severity: e.severity,
                value: e.value,
            });
        }
        incident.severity = e.severity;
        incident.message.clone_from(&e.message);
        incident.value = e.value;
        // acknowledged on any member's copy: acknowledged
        if e.acknowledged_ms > 0 {
            incident.acknowledged_ms = e.acknowledged_ms;
            incident.acknowledged_by.clone_from(&e.acknowledged_by);
            incident.ack_comment.clone_from(&e.ack_comment);
        }
        incident.flapping |= e.flapping;
        incident.silenced_by.clone_from(&e.silenced_by);
        for run in &e.actions {
            if !incident.actions.contains(run) {
                incident.actions.push(run.clone());
            }
        }
        ops.push((
            open_key(&key.0, &key.1),
            Some(prost::Message::encode_to_vec(&*incident)),
        ));
    }

    /// Resolves the open incidents of a judged resource whose rules it no longer lists, if the
    /// record is newer than the incident (streams from several members arrive interleaved:
    /// an older record of another member says nothing of an incident opened since).
    pub fn on_resource(&mut self, r: &Resource, now_ms: i64, ops: &mut Vec<Op>) {
        if r.state() == ResourceState::Unknown || r.state() == ResourceState::Unspecified {
            // adopted but not polled yet: not a judgement
            return;
        }
        let stale: Vec<(String, String)> = self
            .open
            .range((r.id.clone(), String::new())..)
            .take_while(|((id, _), _)| *id == r.id)
            .filter(|((_, rule), e)| !r.open_rules.contains(rule) && r.updated_ms > e.opened_ms)
            .map(|(k, _)| k.clone())
            .collect();
        for key in stale {
            let value = self.open.get(&key).map_or(0.0, |e| e.value);
            self.close(&key, r.updated_ms.max(1).min(now_ms.max(1)), value, ops);
        }
    }

    /// Open incidents, by resource and rule.
    pub fn open(&self) -> impl Iterator<Item = &Event> {
        self.open.values()
    }

    /// The open incidents of resource `id`, by rule.
    pub fn open_of<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Event> + 'a {
        self.open
            .range((id.to_string(), String::new())..)
            .take_while(move |((r, _), _)| r == id)
            .map(|(_, e)| e)
    }

    /// The open incidents of the resources of `region` (ids `<region>/...`).
    pub fn open_in<'a>(&'a self, region: &str) -> impl Iterator<Item = &'a Event> + 'a {
        let prefix = format!("{region}/");
        self.open
            .range((prefix.clone(), String::new())..)
            .take_while(move |((r, _), _)| r.starts_with(&prefix))
            .map(|(_, e)| e)
    }

    /// Resolved incidents, oldest first.
    pub fn resolved(&self) -> impl DoubleEndedIterator<Item = &Event> {
        self.resolved.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_proto::v1::Severity;

    fn ev(id: &str, severity: Severity, opened_ms: i64, resolved_ms: i64) -> Event {
        Event {
            id: id.into(),
            resource_id: "eu/h1".into(),
            rule: "cpu".into(),
            severity: severity as i32,
            opened_ms,
            resolved_ms,
            ..Default::default()
        }
    }

    fn judged(open_rules: &[&str], updated_ms: i64) -> Resource {
        Resource {
            id: "eu/h1".into(),
            state: ResourceState::Up as i32,
            open_rules: open_rules.iter().map(|r| r.to_string()).collect(),
            updated_ms,
            ..Default::default()
        }
    }

    #[test]
    fn copies_from_a_new_owner_or_a_replica_continue_the_first_incident() {
        let mut i = Incidents::new(10);
        let mut ops = Vec::new();
        i.on_event(&ev("eu/h1/cpu/100", Severity::Warning, 100, 0), &mut ops);
        // the owner dies; the new owner opens its own copy, critical by now
        i.on_event(&ev("eu/h1/cpu/900", Severity::Critical, 900, 0), &mut ops);
        let open: Vec<&Event> = i.open().collect();
        assert_eq!(open.len(), 1);
        assert_eq!(
            (open[0].id.as_str(), open[0].opened_ms),
            ("eu/h1/cpu/100", 100)
        );
        assert_eq!(open[0].severity(), Severity::Critical);
        i.on_resource(&judged(&["cpu"], 950), 1000, &mut ops);
        assert_eq!(i.open().count(), 1, "the record still lists cpu");
        i.on_event(
            &ev("eu/h1/cpu/900", Severity::Critical, 900, 1200),
            &mut ops,
        );
        i.on_event(
            &ev("eu/h1/cpu/100", Severity::Critical, 100, 1300),
            &mut ops,
        );
        assert_eq!(i.open().count(), 0);
        let done: Vec<(&str, i64)> = i
            .resolved()
            .map(|e| (e.id.as_str(), e.resolved_ms))
            .collect();
        assert_eq!(
            done,
            vec![("eu/h1/cpu/100", 1200)],
            "the second resolution is a copy"
        );
        // a member that had the resource too reports its copy late, after the resolution
        i.on_event(&ev("eu/h1/cpu/1100", Severity::Critical, 1100, 0), &mut ops);
        assert_eq!(i.open().count(), 0, "a late copy opens nothing");
        i.on_event(&ev("eu/h1/cpu/1500", Severity::Warning, 1500, 0), &mut ops);
        assert_eq!(i.open().count(), 1, "a new episode opens");
        assert!(
            ops.iter()
                .any(|(k, v)| k.starts_with(b"i/r/") && v.is_some())
        );
    }

    #[test]
    fn a_judged_record_without_the_rule_resolves_and_unjudged_ones_do_not() {
        let mut i = Incidents::new(1);
        let mut ops = Vec::new();
        i.on_event(&ev("eu/h1/cpu/100", Severity::Critical, 100, 0), &mut ops);
        let adopted = Resource {
            state: ResourceState::Unknown as i32,
            ..judged(&[], 500)
        };
        i.on_resource(&adopted, 500, &mut ops);
        assert_eq!(i.open().count(), 1, "an adopted record is no judgement");
        i.on_resource(&judged(&[], 90), 700, &mut ops);
        assert_eq!(
            i.open().count(),
            1,
            "a record older than the incident says nothing"
        );
        i.on_resource(&judged(&[], 600), 700, &mut ops);
        assert_eq!(i.open().count(), 0);
        assert_eq!(i.resolved().next().unwrap().resolved_ms, 600);
        i.on_event(&ev("eu/h1/cpu/800", Severity::Critical, 800, 0), &mut ops);
        i.on_event(&ev("eu/h1/cpu/800", Severity::Critical, 800, 900), &mut ops);
        assert_eq!(i.resolved().count(), 1, "bounded: the oldest went");
        assert_eq!(i.resolved().next().unwrap().id, "eu/h1/cpu/800");
    }
}
