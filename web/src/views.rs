//! The JSON both consoles answer, typed: the same console page reads the centre's and a
//! region's answers, so each answer both give is one struct here, built from the wire
//! messages. Only data lives here (serde and proto): no HTTP.
//!
//! Where an answer used to be written as a JSON map, its fields are declared in alphabetical
//! order, the order the map wrote them in, so that the bytes answered did not change.

pub mod host;
pub mod region;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use strata_proto::names::{severity_name, state_name};
use strata_proto::v1::{ActionRun, Event, Resource};

pub use strata_proto::resource::region_of;

/// `GET /api/v1/console`: what a console covers — `{"scope": "enterprise"}` at the centre,
/// `{"member", "region", "scope": "region"}` on a sub-manager's regional console.
#[derive(Debug, Serialize, PartialEq)]
pub struct ConsoleJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub scope: &'static str,
}

impl ConsoleJson {
    /// The centre's console: the whole enterprise.
    pub fn enterprise() -> Self {
        Self {
            member: None,
            region: None,
            scope: "enterprise",
        }
    }

    /// The regional console of `member` of `region`.
    pub fn region(region: &str, member: &str) -> Self {
        Self {
            member: Some(member.to_string()),
            region: Some(region.to_string()),
            scope: "region",
        }
    }
}

/// `GET /api/v1/overview` (and each event of the live stream): every region the console
/// covers, now.
#[derive(Debug, Serialize, PartialEq)]
pub struct OverviewJson {
    pub regions: Vec<RegionJson>,
    pub generated_at_ms: i64,
    /// `"region"` on a regional console; absent at the centre.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<&'static str>,
}

/// One region in the overview.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RegionJson {
    pub name: String,
    pub sub_managers: Vec<SubManagerJson>,
    pub resources: ResourceCounts,
    pub events: EventCounts,
}

/// One sub-manager of a region in the overview.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SubManagerJson {
    pub id: String,
    pub address: String,
    pub healthy: bool,
}

/// Resource counts of a region.
#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct ResourceCounts {
    pub total: u32,
    pub up: u32,
    pub down: u32,
    pub unknown: u32,
}

/// Open event counts of a region.
#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct EventCounts {
    pub warning: u32,
    pub critical: u32,
    /// Of those, acknowledged by an operator.
    pub acknowledged: u32,
}

/// One resource in `GET /api/v1/resources`.
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

impl ResourceJson {
    /// The JSON of a resource as its record says.
    pub fn of(r: &Resource) -> Self {
        Self {
            id: r.id.clone(),
            region: r.region.clone(),
            host: r.host.clone(),
            state: state_name(r.state()),
            severity: severity_name(r.severity()),
            last_poll_ms: r.last_poll_ms,
            owner: r.owner.clone(),
            reason: r.reason.clone(),
        }
    }
}

/// One incident in `GET /api/v1/events` (and a host's events).
#[derive(Debug, Serialize, PartialEq)]
pub struct EventJson {
    pub id: String,
    pub region: String,
    pub resource_id: String,
    pub rule: String,
    pub severity: &'static str,
    pub message: String,
    pub opened_ms: i64,
    /// 0 while open.
    pub resolved_ms: i64,
    pub value: f64,
    /// 0 until acknowledged.
    pub acknowledged_ms: i64,
    pub acknowledged_by: String,
    pub ack_comment: String,
    /// Severity over time: `[ts_ms, severity, value]`, the opening first.
    pub changes: Vec<(i64, &'static str, f64)>,
    pub flapping: bool,
    pub silenced_by: Vec<String>,
    /// Recovery actions run for it.
    pub actions: Vec<ActionJson>,
    pub labels: BTreeMap<String, String>,
}

/// A recovery action run for an incident (fields in alphabetical order).
#[derive(Debug, Serialize, PartialEq)]
pub struct ActionJson {
    pub action: String,
    pub finished_ms: i64,
    pub ok: bool,
    pub output: String,
    pub started_ms: i64,
}

impl ActionJson {
    /// The JSON of an action run.
    pub fn of(a: &ActionRun) -> Self {
        Self {
            action: a.action.clone(),
            finished_ms: a.finished_ms,
            ok: a.ok,
            output: a.output.clone(),
            started_ms: a.started_ms,
        }
    }
}

impl EventJson {
    /// The JSON of an event or incident.
    pub fn from_event(e: &Event) -> Self {
        Self {
            id: e.id.clone(),
            region: region_of(&e.resource_id).to_string(),
            resource_id: e.resource_id.clone(),
            rule: e.rule.clone(),
            severity: severity_name(e.severity()),
            message: e.message.clone(),
            opened_ms: e.opened_ms,
            resolved_ms: e.resolved_ms,
            value: e.value,
            acknowledged_ms: e.acknowledged_ms,
            acknowledged_by: e.acknowledged_by.clone(),
            ack_comment: e.ack_comment.clone(),
            changes: e
                .changes
                .iter()
                .map(|c| (c.ts_ms, severity_name(c.severity()), c.value))
                .collect(),
            flapping: e.flapping,
            silenced_by: e.silenced_by.clone(),
            actions: e.actions.iter().map(ActionJson::of).collect(),
            labels: e
                .labels
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect(),
        }
    }
}

/// The body of `POST /api/v1/events/ack`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckRequest {
    /// `<region>/<host>` (or, at the centre, `services/<name>` for an SLO alert).
    pub resource_id: String,
    pub rule: String,
    /// Ignored when sent: an acknowledgement is signed with the caller's name (the user
    /// logged in, or `token:<name>`).
    #[serde(default)]
    pub by: String,
    #[serde(default)]
    pub comment: String,
}

/// The answer of `POST /api/v1/events/ack`: the incidents acknowledged (fields in
/// alphabetical order).
#[derive(Debug, Serialize, PartialEq)]
pub struct AckJson {
    /// How many copies were acknowledged (one per member holding the incident).
    pub acknowledged: usize,
    pub events: Vec<EventJson>,
}

impl AckJson {
    /// The answer for `events`.
    pub fn of(events: Vec<EventJson>) -> Self {
        Self {
            acknowledged: events.len(),
            events,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use strata_proto::v1::Severity;

    #[test]
    fn an_incident_and_its_actions_read_as_before() {
        let e = Event {
            id: "eu/a/cpu/1".into(),
            resource_id: "eu/a".into(),
            rule: "cpu".into(),
            severity: Severity::Critical as i32,
            actions: vec![ActionRun {
                action: "restart".into(),
                started_ms: 1,
                finished_ms: 2,
                ok: true,
                output: "done".into(),
            }],
            ..Default::default()
        };
        let v = serde_json::to_value(EventJson::from_event(&e)).unwrap();
        assert_eq!(v["region"], "eu");
        assert_eq!(v["severity"], "critical");
        assert_eq!(
            v["actions"],
            json!([{"action": "restart", "ok": true, "output": "done", "started_ms": 1, "finished_ms": 2}])
        );
        assert_eq!(
            serde_json::to_string(&AckJson::of(vec![])).unwrap(),
            r#"{"acknowledged":0,"events":[]}"#
        );
    }

    #[test]
    fn the_console_scope_is_written_as_before() {
        assert_eq!(
            serde_json::to_string(&ConsoleJson::enterprise()).unwrap(),
            r#"{"scope":"enterprise"}"#
        );
        assert_eq!(
            serde_json::to_string(&ConsoleJson::region("eu", "sub-1")).unwrap(),
            r#"{"member":"sub-1","region":"eu","scope":"region"}"#
        );
        let o = OverviewJson {
            regions: vec![],
            generated_at_ms: 5,
            scope: None,
        };
        assert_eq!(
            serde_json::to_string(&o).unwrap(),
            r#"{"regions":[],"generated_at_ms":5}"#
        );
    }
}
