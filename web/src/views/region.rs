//! A region's alerting and agents, as both consoles answer them under
//! `/api/v1/regions/{region}/`: its rules, its notification channels, the notifications it
//! sent, and its agents as their pollers saw them. Fields are in alphabetical order (see
//! [`super`]).

use serde::Serialize;
use strata_proto::v1::{
    AgentInfo, BufferStats, ForwardingDestination, Notification, NotifyResponse, RulesResponse,
};

/// `GET|PUT .../rules`: the rules in force in the region, as TOML.
#[derive(Debug, Serialize, PartialEq)]
pub struct RulesJson {
    pub count: u32,
    /// The rules file the members read, if any.
    pub file: String,
    pub loaded_ms: i64,
    pub rules_toml: String,
}

impl RulesJson {
    /// The JSON of a region's rules in force.
    pub fn of(r: &RulesResponse) -> Self {
        Self {
            count: r.count,
            file: r.file.clone(),
            loaded_ms: r.loaded_ms,
            rules_toml: r.rules_toml.clone(),
        }
    }
}

/// `GET|PUT|DELETE .../notify`: the region's notification channels in force, as TOML with
/// secrets hidden.
#[derive(Debug, Serialize, PartialEq)]
pub struct NotifyJson {
    pub loaded_ms: i64,
    pub notify_toml: String,
    pub receivers: u32,
    pub routes: u32,
    pub silences: u32,
    /// `file` or `api`.
    pub source: String,
}

impl NotifyJson {
    /// The JSON of a region's notification channels in force.
    pub fn of(r: &NotifyResponse) -> Self {
        Self {
            loaded_ms: r.loaded_ms,
            notify_toml: r.notify_toml.clone(),
            receivers: r.receivers,
            routes: r.routes,
            silences: r.silences,
            source: r.source.clone(),
        }
    }
}

/// One notification in `GET .../notifications`.
#[derive(Debug, Serialize, PartialEq)]
pub struct NotificationJson {
    pub attempts: u32,
    pub created_ms: i64,
    pub done_ms: i64,
    pub events: Vec<String>,
    pub id: String,
    pub kind: String,
    pub last_error: String,
    pub member_id: String,
    pub next_attempt_ms: i64,
    pub reason: String,
    pub receiver: String,
    /// `pending`, `sent` or `failed`.
    pub status: String,
}

impl NotificationJson {
    /// The JSON of one notification of a region.
    pub fn of(n: &Notification) -> Self {
        Self {
            attempts: n.attempts,
            created_ms: n.created_ms,
            done_ms: n.done_ms,
            events: n.events.clone(),
            id: n.id.clone(),
            kind: n.kind.clone(),
            last_error: n.last_error.clone(),
            member_id: n.member_id.clone(),
            next_attempt_ms: n.next_attempt_ms,
            reason: n.reason.clone(),
            receiver: n.receiver.clone(),
            status: n.status.clone(),
        }
    }
}

/// One row of `GET .../forwarding`: a remote-write destination of one member.
#[derive(Debug, Serialize, PartialEq)]
pub struct ForwardingJson {
    pub member_id: String,
    pub name: String,
    pub url: String,
    pub sent: u64,
    pub failed: u64,
    pub retried: u64,
    pub dropped: u64,
    pub filtered: u64,
    pub lag_seconds: f64,
    pub pending_records: u64,
    pub last_success_ms: i64,
}

impl ForwardingJson {
    /// The JSON of one destination of one member.
    pub fn of(d: &ForwardingDestination) -> Self {
        Self {
            member_id: d.member_id.clone(),
            name: d.name.clone(),
            url: d.url.clone(),
            sent: d.sent,
            failed: d.failed,
            retried: d.retried,
            dropped: d.dropped,
            filtered: d.filtered,
            lag_seconds: d.lag_seconds,
            pending_records: d.pending_records,
            last_success_ms: d.last_success_ms,
        }
    }
}

/// One row of `GET .../agents`: an agent as one of its pollers last saw it.
#[derive(Debug, Serialize, PartialEq)]
pub struct AgentJson {
    pub address: String,
    pub agent_id: String,
    /// Null before a first poll.
    pub buffer: Option<BufferJson>,
    /// From the collection of the last poll's oldest sample to its storage.
    pub lag_ms: i64,
    pub member_id: String,
    /// The poll interval the member polled it on.
    pub poll_interval_ms: i64,
    pub polled_ms: i64,
    pub pollers: Vec<String>,
    /// Samples not stored since the member began polling it (their series were not).
    pub samples_dropped_total: u64,
    pub samples: u64,
    pub series: u64,
    /// Series of its dictionary not stored: with more labels than the region's label limit,
    /// new past its hourly limit, past its per-agent series limit.
    pub series_over_hourly_limit: u64,
    pub series_over_label_limit: u64,
    pub series_over_limit: u64,
}

/// An agent's buffer as its last poll saw it.
#[derive(Debug, Serialize, PartialEq)]
pub struct BufferJson {
    pub capacity: u64,
    pub dropped_total: u64,
    pub epoch: u64,
    /// What the agent holds until its poller has stored it.
    pub len: u64,
    /// Series in the agent's dictionary, those it refused (its `max_series`) and those it
    /// forgot (idle for `forget_series_after`).
    pub series: u64,
    pub series_forgotten_total: u64,
    pub series_refused_total: u64,
}

impl AgentJson {
    /// The JSON of one agent as one of its pollers sees it.
    pub fn of(a: &AgentInfo) -> Self {
        Self {
            address: a.address.clone(),
            agent_id: a.agent_id.clone(),
            buffer: a.buffer.as_ref().map(BufferJson::of),
            lag_ms: a.lag_ms,
            member_id: a.member_id.clone(),
            poll_interval_ms: a.poll_interval_ms,
            polled_ms: a.polled_ms,
            pollers: a.pollers.clone(),
            samples_dropped_total: a.samples_dropped_total,
            samples: a.samples,
            series: a.series,
            series_over_hourly_limit: a.series_over_hourly_limit,
            series_over_label_limit: a.series_over_label_limit,
            series_over_limit: a.series_over_limit,
        }
    }
}

impl BufferJson {
    fn of(b: &BufferStats) -> Self {
        Self {
            capacity: b.capacity,
            dropped_total: b.dropped_total,
            epoch: b.epoch,
            len: b.len,
            series: b.series,
            series_forgotten_total: b.series_forgotten_total,
            series_refused_total: b.series_refused_total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agent_before_its_first_poll_has_a_null_buffer() {
        let a = AgentInfo {
            agent_id: "web-1".into(),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&AgentJson::of(&a)).unwrap(),
            r#"{"address":"","agent_id":"web-1","buffer":null,"lag_ms":0,"member_id":"","poll_interval_ms":0,"polled_ms":0,"pollers":[],"samples_dropped_total":0,"samples":0,"series":0,"series_over_hourly_limit":0,"series_over_label_limit":0,"series_over_limit":0}"#
        );
        let r = RulesResponse {
            count: 2,
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&RulesJson::of(&r)).unwrap(),
            r#"{"count":2,"file":"","loaded_ms":0,"rules_toml":""}"#
        );
    }
}
