//! The life of an event on this member: opened, its severity changed (each change
//! recorded), acknowledged, held by silences, given the recovery actions run for it, and
//! resolved. Every change is journaled with the stored copy, as every other change of the
//! region's state.

use prost::Message;
use strata_proto::v1::region_update::Kind;
use strata_proto::v1::{ActionRun, Event, EventChange, Severity};
use strata_tsdb::TableOp;

use super::{Inner, RegionState, event_key};
use crate::verdict::Verdict;

impl RegionState {
    /// Opens, changes or resolves the event of the verdict's rule on `agent`; returns the id
    /// of an event it opened.
    pub(super) fn judge_rule(
        &self,
        inner: &mut Inner,
        agent: &str,
        verdict: &Verdict,
        now_ms: i64,
    ) -> Option<String> {
        let Verdict {
            rule,
            severity,
            value,
            message,
            ..
        } = verdict;
        let (severity, value) = (*severity, *value);
        let key = (agent.to_string(), rule.clone());
        let resource_id = self.resource_id(agent);
        let stored = event_key(agent, rule);
        match (inner.events.get_mut(&key), severity) {
            (None, Severity::Ok | Severity::Unspecified) => None,
            (None, _) => {
                let event = Event {
                    id: format!("{resource_id}/{rule}/{now_ms}"),
                    resource_id,
                    rule: rule.clone(),
                    severity: severity as i32,
                    message: message.clone(),
                    opened_ms: now_ms,
                    resolved_ms: 0,
                    value,
                    labels: verdict
                        .labels
                        .iter()
                        .map(|(k, v)| strata_proto::labels::label(k, v))
                        .collect(),
                    changes: vec![EventChange {
                        ts_ms: now_ms,
                        severity: severity as i32,
                        value,
                    }],
                    flapping: verdict.flapping,
                    ..Default::default()
                };
                let bytes = event.encode_to_vec();
                let id = event.id.clone();
                inner.events.insert(key, event.clone());
                self.append(inner, Kind::Event(event), &[TableOp::Put(&stored, &bytes)]);
                Some(id)
            }
            (Some(open), Severity::Ok | Severity::Unspecified) => {
                let mut event = open.clone();
                event.resolved_ms = now_ms;
                event.value = value;
                event.message.clone_from(message);
                inner.events.remove(&key);
                self.append(inner, Kind::Event(event), &[TableOp::Delete(&stored)]);
                None
            }
            (Some(open), s) => {
                open.value = value;
                if open.severity != s as i32 {
                    open.severity = s as i32;
                    open.message.clone_from(message);
                    open.changes.push(EventChange {
                        ts_ms: now_ms,
                        severity: s as i32,
                        value,
                    });
                    let event = open.clone();
                    let bytes = event.encode_to_vec();
                    self.append(inner, Kind::Event(event), &[TableOp::Put(&stored, &bytes)]);
                }
                None
            }
        }
    }

    /// Changes the open event of `rule` on `agent` with `change`, stores and journals it;
    /// returns it, or None when none is open here.
    fn update_open(
        &self,
        agent: &str,
        rule: &str,
        change: impl FnOnce(&mut Event),
    ) -> Option<Event> {
        let mut inner = self.lock();
        let key = (agent.to_string(), rule.to_string());
        let open = inner.events.get_mut(&key)?;
        change(open);
        let event = open.clone();
        let bytes = event.encode_to_vec();
        let stored = event_key(agent, rule);
        self.append(
            &mut inner,
            Kind::Event(event.clone()),
            &[TableOp::Put(&stored, &bytes)],
        );
        Some(event)
    }

    /// Acknowledges the open event of `rule` on the resource `resource_id`: returns it, or
    /// None when none is open here.
    pub fn acknowledge(
        &self,
        resource_id: &str,
        rule: &str,
        by: &str,
        comment: &str,
        now_ms: i64,
    ) -> Option<Event> {
        let agent = resource_id
            .strip_prefix(&format!("{}/", self.region))
            .unwrap_or(resource_id);
        self.update_open(agent, rule, |open| {
            if open.acknowledged_ms == 0 {
                open.acknowledged_ms = now_ms;
            }
            open.acknowledged_by = by.to_string();
            open.ack_comment = comment.to_string();
        })
    }

    /// Records what an event's recovery action did, if the event is still open.
    pub fn action_ran(&self, agent: &str, rule: &str, run: ActionRun) {
        self.update_open(agent, rule, |open| open.actions.push(run));
    }

    /// Records on the open events of `agent`'s checks the recovery tries their results
    /// carry (the agent's own, with backoff), each once; journaled only when one is new.
    pub fn recovery_reported(&self, agent: &str, results: &[strata_proto::v1::CheckResult]) {
        for r in results.iter().filter(|r| !r.recovery.is_empty()) {
            let rule = crate::verdict::check_rule(&r.name);
            let new: Vec<ActionRun> = {
                let inner = self.lock();
                let Some(open) = inner.events.get(&(agent.to_string(), rule.clone())) else {
                    continue;
                };
                r.recovery
                    .iter()
                    .filter(|run| !open.actions.contains(run))
                    .cloned()
                    .collect()
            };
            if !new.is_empty() {
                self.update_open(agent, &rule, |open| open.actions.extend(new));
            }
        }
    }

    /// Records which silences hold the notifications of the open event of `rule` on `agent`.
    pub fn mark_silenced(&self, agent: &str, rule: &str, silenced_by: Vec<String>) {
        self.update_open(agent, rule, |open| open.silenced_by = silenced_by);
    }

    /// The rules with an open event on `agent`, and their severities.
    pub fn open_rules(&self, agent: &str) -> Vec<(String, Severity)> {
        self.lock()
            .events
            .range((agent.to_string(), String::new())..)
            .take_while(|((a, _), _)| a == agent)
            .map(|((_, rule), e)| (rule.clone(), e.severity()))
            .collect()
    }
}
