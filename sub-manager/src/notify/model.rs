//! What receivers are told: an event as a notification shows it, and why it is sent. The
//! planner, the outbox and the senders all speak of these.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use strata_proto::v1::{Event, Severity};
use strata_tsdb::Matcher;

use crate::verdict::rank;

/// An event as receivers are told it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventView {
    pub id: String,
    pub resource_id: String,
    pub region: String,
    pub host: String,
    pub rule: String,
    pub severity: String,
    pub message: String,
    pub value: f64,
    pub opened_ms: i64,
    /// 0 while open.
    pub resolved_ms: i64,
    pub acknowledged_ms: i64,
    pub acknowledged_by: String,
    /// The rule's tags and the judged series' labels.
    pub labels: BTreeMap<String, String>,
    /// Severities it had before the current one (Alertmanager is told those are over).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub past_severities: Vec<String>,
}

impl EventView {
    /// The view of `e`, an event of `region`.
    pub fn of(e: &Event, region: &str) -> Self {
        let host = strata_proto::resource::host_of(&e.resource_id);
        Self {
            id: e.id.clone(),
            resource_id: e.resource_id.clone(),
            region: region.to_string(),
            host: host.to_string(),
            rule: e.rule.clone(),
            severity: strata_proto::names::severity_name(e.severity()).to_string(),
            message: e.message.clone(),
            value: e.value,
            opened_ms: e.opened_ms,
            resolved_ms: e.resolved_ms,
            acknowledged_ms: e.acknowledged_ms,
            acknowledged_by: e.acknowledged_by.clone(),
            labels: e
                .labels
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect(),
            past_severities: {
                let mut past: Vec<String> = Vec::new();
                for c in &e.changes {
                    let name = strata_proto::names::severity_name(c.severity()).to_string();
                    if c.severity != e.severity && !past.contains(&name) {
                        past.push(name);
                    }
                }
                past
            },
        }
    }

    /// The value of label `name`: `region`, `host`, `rule`, `severity`, or a tag ("" when
    /// absent).
    pub fn label(&self, name: &str) -> &str {
        match name {
            "region" => &self.region,
            "host" => &self.host,
            "rule" => &self.rule,
            "severity" => &self.severity,
            _ => self.labels.get(name).map_or("", String::as_str),
        }
    }

    /// The rank of its severity ([`rank`]).
    pub(super) fn rank(&self) -> u8 {
        rank(match self.severity.as_str() {
            "critical" => Severity::Critical,
            "warning" => Severity::Warning,
            _ => Severity::Ok,
        })
    }

    /// Whether its labels match every one of `matchers`.
    pub(super) fn selected(&self, matchers: &[Matcher]) -> bool {
        matchers.iter().all(|m| m.matches(self.label(&m.name)))
    }
}

/// Why a notification is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    /// New events, or events whose severity rose.
    Firing,
    /// Events still open and unacknowledged after the repeat interval.
    Repeat,
    /// A later escalation step.
    Escalation,
    Resolved,
    /// Alertmanager is told again of what still fires, so that it does not time it out.
    Refresh,
}

impl Reason {
    /// The reason's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Firing => "firing",
            Self::Repeat => "repeat",
            Self::Escalation => "escalation",
            Self::Resolved => "resolved",
            Self::Refresh => "refresh",
        }
    }
}
