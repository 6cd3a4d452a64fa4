//! Deciding who is told what, and when: routes, groups, waits, repeats, escalation steps,
//! acknowledgements, silences and resolutions, as a pure function of the open events and
//! the time, so that it is tested without a network.
//!
//! Each (event, route) pair is tracked from when the event is first seen open to when it is
//! gone; the tracking is kept on disk by the notifier, so that a restart neither tells an
//! event again nor forgets to tell its resolution.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde::{Deserialize, Serialize};
use strata_proto::windows::rfc3339_ms;
use strata_tsdb::Matcher;

use super::model::{EventView, Reason};
use crate::config::notify::{NotifyConfig, matchers};

/// One notification to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub receiver: String,
    pub reason: Reason,
    pub events: Vec<EventView>,
}

/// One (event, route) pair being followed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tracked {
    pub event: EventView,
    pub route: usize,
    pub first_seen_ms: i64,
    /// Per step (0 = the route's receivers): when last told, 0 if never.
    pub sent_ms: Vec<i64>,
    /// The severity rank last told.
    pub told_rank: u8,
    /// When Alertmanager receivers were last told, and of which severity.
    #[serde(default)]
    pub refreshed_ms: i64,
    #[serde(default)]
    pub am_severity: String,
}

impl Tracked {
    /// Its key in the store.
    pub fn key(&self) -> (String, usize) {
        (self.event.id.clone(), self.route)
    }
}

struct Route {
    matchers: Vec<Matcher>,
    /// Step 0 then the escalation steps: (after ms, receivers).
    steps: Vec<(i64, Vec<String>)>,
    group_by: Vec<String>,
    group_wait_ms: i64,
    repeat_ms: i64,
    send_resolved: bool,
    continue_matching: bool,
}

struct Silence {
    name: String,
    matchers: Vec<Matcher>,
    from_ms: i64,
    to_ms: i64,
    /// A recurring maintenance window, in force only inside its occurrences.
    window: Option<strata_proto::windows::Maintenance>,
}

/// How often Alertmanager is told again of what still fires (its default resolve timeout
/// is 5 minutes).
pub const REFRESH_MS: i64 = 60_000;

/// The routes, silences and what is being followed.
pub struct Planner {
    routes: Vec<Route>,
    silences: Vec<Silence>,
    /// Receivers that are Alertmanagers (told again every [`REFRESH_MS`]).
    refreshed: HashSet<String>,
    tracked: BTreeMap<(String, usize), Tracked>,
}

/// What a planning step decided.
#[derive(Debug, Default)]
pub struct Plan {
    pub outgoing: Vec<Outgoing>,
    /// Tracked pairs changed (to store) and gone (to delete).
    pub changed: Vec<Tracked>,
    pub gone: Vec<(String, usize)>,
}

impl Planner {
    /// A planner of a valid `config`, resuming `tracked` (read back from the store).
    pub fn new(config: &NotifyConfig, tracked: Vec<Tracked>) -> Self {
        let mut ignored = Vec::new();
        let routes = config
            .routes
            .iter()
            .map(|r| Route {
                matchers: matchers("", &r.matchers, &mut ignored),
                steps: std::iter::once((0, r.receivers.clone()))
                    .chain(
                        r.escalate
                            .iter()
                            .map(|s| (s.after.as_millis() as i64, s.receivers.clone())),
                    )
                    .collect(),
                group_by: r.group_by.clone(),
                group_wait_ms: r.group_wait.as_millis() as i64,
                repeat_ms: r.repeat_interval.as_millis() as i64,
                send_resolved: r.send_resolved,
                continue_matching: r.continue_matching,
            })
            .collect();
        let silences = config
            .silences
            .iter()
            .map(|s| Silence {
                name: s.name.clone(),
                matchers: matchers("", &s.matchers, &mut ignored),
                from_ms: s
                    .from
                    .as_deref()
                    .and_then(|t| rfc3339_ms(t).ok())
                    .unwrap_or(i64::MIN),
                to_ms: s
                    .to
                    .as_deref()
                    .and_then(|t| rfc3339_ms(t).ok())
                    .unwrap_or(i64::MAX),
                window: s.recurring(),
            })
            .collect();
        let refreshed = config
            .receivers
            .iter()
            .filter(|r| r.kind_name() == "alertmanager")
            .map(|r| r.name.clone())
            .collect();
        let mut planner = Self {
            routes,
            silences,
            refreshed,
            tracked: BTreeMap::new(),
        };
        for t in tracked {
            if let Some(route) = planner.routes.get(t.route) {
                let mut t = t;
                t.sent_ms.resize(route.steps.len(), 0);
                planner.tracked.insert(t.key(), t);
            }
        }
        planner
    }

    /// What this planner follows, for one of the `next` channels that replace `previous`
    /// (those it was made of): the pairs kept, and the pairs of routes that changed or
    /// went (dropped: their events are told again as new if a route of `next` takes them).
    pub fn into_tracked(
        self,
        previous: &NotifyConfig,
        next: &NotifyConfig,
    ) -> (Vec<Tracked>, Vec<(String, usize)>) {
        let same = |i: usize| match (previous.routes.get(i), next.routes.get(i)) {
            (Some(a), Some(b)) => serde_json::to_value(a).ok() == serde_json::to_value(b).ok(),
            _ => false,
        };
        let (kept, dropped): (Vec<Tracked>, Vec<Tracked>) =
            self.tracked.into_values().partition(|t| same(t.route));
        (kept, dropped.iter().map(Tracked::key).collect())
    }

    /// The silences in force now that match `event`, by name.
    pub fn silenced_by(&self, event: &EventView, now_ms: i64) -> Vec<String> {
        self.silences
            .iter()
            .filter(|s| s.from_ms <= now_ms && now_ms < s.to_ms && event.selected(&s.matchers))
            .filter(|s| s.window.as_ref().is_none_or(|w| w.holds(now_ms)))
            .map(|s| s.name.clone())
            .collect()
    }

    /// The routes an event goes to, in order.
    fn routes_of(&self, event: &EventView) -> Vec<usize> {
        let mut out = Vec::new();
        for (i, r) in self.routes.iter().enumerate() {
            if event.selected(&r.matchers) {
                out.push(i);
                if !r.continue_matching {
                    break;
                }
            }
        }
        out
    }

    /// Decides what to send at `now_ms`, given every open event this member notifies for
    /// and, of those, the ones whose notifications are held (flapping or silenced).
    pub fn plan(&mut self, open: &[EventView], held: &HashSet<String>, now_ms: i64) -> Plan {
        let mut plan = Plan::default();
        let mut changed: BTreeSet<(String, usize)> = BTreeSet::new();
        let mut present = HashSet::new();
        for event in open {
            present.insert(event.id.as_str());
            for route in self.routes_of(event) {
                let steps = self.routes[route].steps.len();
                let key = (event.id.clone(), route);
                let t = self.tracked.entry(key.clone()).or_insert_with(|| {
                    changed.insert(key.clone());
                    Tracked {
                        event: event.clone(),
                        route,
                        first_seen_ms: now_ms,
                        sent_ms: vec![0; steps],
                        told_rank: 0,
                        refreshed_ms: 0,
                        am_severity: String::new(),
                    }
                });
                if t.event != *event {
                    t.event = event.clone();
                    changed.insert(key);
                }
            }
            // an event followed by a route stays followed (and up to date) even when it no
            // longer matches the route's selectors, until it resolves
            for (key, t) in self
                .tracked
                .range_mut((event.id.clone(), 0)..=(event.id.clone(), usize::MAX))
            {
                if t.event != *event {
                    t.event = event.clone();
                    changed.insert(key.clone());
                }
            }
        }
        // resolutions
        let gone: Vec<(String, usize)> = self
            .tracked
            .keys()
            .filter(|(id, _)| !present.contains(id.as_str()))
            .cloned()
            .collect();
        let mut resolved: BTreeMap<(usize, usize, Vec<String>), Vec<EventView>> = BTreeMap::new();
        for key in gone {
            let Some(mut t) = self.tracked.remove(&key) else {
                continue;
            };
            plan.gone.push(key);
            let route = &self.routes[t.route];
            if !route.send_resolved {
                continue;
            }
            if t.event.resolved_ms == 0 {
                t.event.resolved_ms = now_ms;
            }
            let group = group_key(&route.group_by, &t.event);
            for (step, sent) in t.sent_ms.iter().enumerate() {
                if *sent > 0 {
                    resolved
                        .entry((t.route, step, group.clone()))
                        .or_default()
                        .push(t.event.clone());
                }
            }
        }
        for ((route, step, _), events) in resolved {
            for receiver in &self.routes[route].steps[step].1 {
                plan.outgoing.push(Outgoing {
                    receiver: receiver.clone(),
                    reason: Reason::Resolved,
                    events: events.clone(),
                });
            }
        }
        // firing, repeats and escalations, per route, step and group
        let mut due: BTreeMap<Due, Vec<(String, usize)>> = BTreeMap::new();
        let mut refresh: BTreeMap<String, Vec<EventView>> = BTreeMap::new();
        for (key, t) in &self.tracked {
            let route = &self.routes[t.route];
            let group = group_key(&route.group_by, &t.event);
            let acked = t.event.acknowledged_ms > 0;
            let highest = t.sent_ms.iter().rposition(|s| *s > 0);
            if held.contains(&t.event.id) {
                continue;
            }
            for (step, (after, _)) in route.steps.iter().enumerate() {
                let sent = t.sent_ms[step];
                let reason = if step == 0 {
                    let waited = sent == 0 && now_ms - t.first_seen_ms >= route.group_wait_ms;
                    let rose = sent > 0 && t.event.rank() > t.told_rank;
                    (waited || rose).then_some(Reason::Firing)
                } else if sent == 0 && !acked && now_ms - t.event.opened_ms >= *after {
                    Some(Reason::Escalation)
                } else {
                    None
                };
                let reason = reason.or_else(|| {
                    (sent > 0
                        && !acked
                        && highest == Some(step)
                        && now_ms - sent >= route.repeat_ms)
                        .then_some(Reason::Repeat)
                });
                if let Some(reason) = reason {
                    due.entry((t.route, step, group.clone(), reason))
                        .or_default()
                        .push(key.clone());
                }
            }
            let stale = now_ms - t.refreshed_ms.max(t.first_seen_ms) >= REFRESH_MS
                || (!t.am_severity.is_empty() && t.am_severity != t.event.severity);
            if highest.is_some() && stale {
                for (step, (_, receivers)) in route.steps.iter().enumerate() {
                    if t.sent_ms[step] == 0 {
                        continue;
                    }
                    for r in receivers.iter().filter(|r| self.refreshed.contains(*r)) {
                        refresh.entry(r.clone()).or_default().push(t.event.clone());
                    }
                }
            }
        }
        for ((route, step, _, reason), keys) in due {
            let events: Vec<EventView> = keys
                .iter()
                .filter_map(|k| self.tracked.get(k).map(|t| t.event.clone()))
                .collect();
            for receiver in &self.routes[route].steps[step].1 {
                plan.outgoing.push(Outgoing {
                    receiver: receiver.clone(),
                    reason,
                    events: events.clone(),
                });
            }
            for k in keys {
                if let Some(t) = self.tracked.get_mut(&k) {
                    t.sent_ms[step] = now_ms.max(1);
                    t.told_rank = t.told_rank.max(t.event.rank());
                    t.refreshed_ms = now_ms;
                    t.am_severity.clone_from(&t.event.severity);
                    changed.insert(k);
                }
            }
        }
        for (receiver, events) in refresh {
            for e in &events {
                for (k, t) in self.tracked.iter_mut() {
                    if t.event.id == e.id {
                        t.refreshed_ms = now_ms;
                        t.am_severity.clone_from(&t.event.severity);
                        changed.insert(k.clone());
                    }
                }
            }
            // told again only if not told just now
            if !plan
                .outgoing
                .iter()
                .any(|o| o.receiver == receiver && o.reason != Reason::Resolved)
            {
                plan.outgoing.push(Outgoing {
                    receiver,
                    reason: Reason::Refresh,
                    events,
                });
            }
        }
        plan.changed = changed
            .into_iter()
            .filter_map(|k| self.tracked.get(&k).cloned())
            .collect();
        plan
    }
}

/// A notification to make: route, step, group and reason.
type Due = (usize, usize, Vec<String>, Reason);

fn group_key(group_by: &[String], e: &EventView) -> Vec<String> {
    group_by.iter().map(|l| e.label(l).to_string()).collect()
}

#[cfg(test)]
mod tests;
