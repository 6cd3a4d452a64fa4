//! The JSON views of wire messages that both the super-manager's and the sub-managers'
//! consoles serve (the same console reads both), and the metric-history query of their
//! REST APIs, so that the two roles answer alike without depending on each other.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Value, json};

use crate::names::{severity_name, state_name};
use crate::v1::{
    AgentInfo, Aggregation, Event, LabelMatcher, MatchOp, Notification, NotifyResponse,
    QueryRangeRequest, Resource, RulesResponse, SnapshotResponse,
};

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

/// One incident in the events JSON.
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
    /// Recovery actions run for it: action, ok, output, finished_ms.
    pub actions: Vec<serde_json::Value>,
    pub labels: std::collections::BTreeMap<String, String>,
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
            actions: e
                .actions
                .iter()
                .map(|a| {
                    serde_json::json!({
                        "action": a.action,
                        "ok": a.ok,
                        "output": a.output,
                        "started_ms": a.started_ms,
                        "finished_ms": a.finished_ms,
                    })
                })
                .collect(),
            labels: e
                .labels
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect(),
        }
    }
}

/// The region of a resource id `<region>/<host>`.
pub fn region_of(resource_id: &str) -> &str {
    resource_id.split_once('/').map_or("", |(r, _)| r)
}

/// The JSON of a host's live detail (processes, connections, interfaces, checks).
pub fn snapshot_json(s: &SnapshotResponse) -> Value {
    json!({
        "agent_id": s.agent_id,
        "ts_ms": s.ts_ms,
        "process_count": s.process_count,
        "processes": s.processes.iter().map(|p| json!({
            "pid": p.pid, "ppid": p.ppid, "name": p.name, "cmdline": p.cmdline, "user": p.user,
            "state": p.state, "cpu_ratio": p.cpu_ratio, "rss_bytes": p.rss_bytes,
            "read_bytes": p.read_bytes, "write_bytes": p.write_bytes, "threads": p.threads,
            "open_fds": p.open_fds,
        })).collect::<Vec<_>>(),
        "connections": s.connections.iter().map(|c| json!({
            "protocol": c.protocol, "local": c.local, "remote": c.remote, "state": c.state,
        })).collect::<Vec<_>>(),
        "interfaces": s.interfaces.iter().map(|i| json!({
            "name": i.name, "mac": i.mac, "addresses": i.addresses, "up": i.up, "mtu": i.mtu,
            "rx_bytes": i.rx_bytes, "tx_bytes": i.tx_bytes, "rx_errors": i.rx_errors,
            "tx_errors": i.tx_errors,
        })).collect::<Vec<_>>(),
        "checks": s.checks.iter().map(|c| json!({
            "name": c.name, "kind": c.kind,
            "state": crate::names::check_state_name(c.state()),
            "message": c.message, "ts_ms": c.ts_ms, "duration_seconds": c.duration_seconds,
            "detail": c.detail,
        })).collect::<Vec<_>>(),
    })
}

fn int_param(q: &HashMap<String, String>, name: &str, default: i64) -> Result<i64, String> {
    match q.get(name) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| format!("query parameter '{name}': '{v}' is not an integer")),
    }
}

/// `label.<name>=<value>` is `=`; a value starting with `!`, `~` or `!~` makes it `!=`,
/// `=~` or `!~` (regular expressions are anchored).
pub fn label_matcher(label: &str, value: &str) -> LabelMatcher {
    let (op, value) = if let Some(v) = value.strip_prefix("!~") {
        (MatchOp::NotRegex, v)
    } else if let Some(v) = value.strip_prefix('~') {
        (MatchOp::Regex, v)
    } else if let Some(v) = value.strip_prefix('!') {
        (MatchOp::NotEqual, v)
    } else {
        (MatchOp::Equal, value)
    };
    LabelMatcher {
        name: label.to_string(),
        op: op as i32,
        value: value.to_string(),
    }
}

/// Reads the metric-history query parameters of resource `id` (`name`, `from_ms`, `to_ms`,
/// `step_ms`, `agg`, `q`, `label.<name>`) into a QueryRange request; an error names the
/// parameter.
pub fn history_request(
    id: &str,
    q: &HashMap<String, String>,
    now_ms: i64,
) -> Result<QueryRangeRequest, String> {
    let (region, _host) = id
        .split_once('/')
        .filter(|(r, h)| !r.is_empty() && !h.is_empty() && !h.contains('/'))
        .ok_or_else(|| format!("resource id '{id}' is not '<region>/<host>'"))?;
    let name = q.get("name").filter(|n| !n.is_empty()).ok_or_else(|| {
        "query parameter 'name' is required (a metric name such as host_cpu_usage_ratio)"
            .to_string()
    })?;
    let to_ms = int_param(q, "to_ms", now_ms)?;
    let from_ms = int_param(q, "from_ms", to_ms - 3_600_000)?;
    let step_ms = int_param(q, "step_ms", 0)?;
    if from_ms > to_ms {
        return Err(format!("from_ms {from_ms} is after to_ms {to_ms}"));
    }
    if step_ms < 0 {
        return Err(format!("step_ms {step_ms} is negative"));
    }
    let mut quantile = 0.0;
    let aggregation = match q.get("agg").map(String::as_str) {
        None | Some("avg") => Aggregation::Avg,
        Some("min") => Aggregation::Min,
        Some("max") => Aggregation::Max,
        Some("last") => Aggregation::Last,
        Some("sum") => Aggregation::Sum,
        Some("count") => Aggregation::Count,
        Some("increase") => Aggregation::Increase,
        Some("rate") => Aggregation::Rate,
        Some("quantile") => {
            let raw = q
                .get("q")
                .ok_or_else(|| "agg=quantile needs q, from 0 to 1".to_string())?;
            quantile = raw
                .parse::<f64>()
                .ok()
                .filter(|v| (0.0..=1.0).contains(v))
                .ok_or_else(|| format!("query parameter 'q': '{raw}' is not from 0 to 1"))?;
            Aggregation::Quantile
        }
        Some(other) => {
            return Err(format!(
                "query parameter 'agg': '{other}' is not one of avg, min, max, last, sum, count, increase, rate, quantile"
            ));
        }
    };
    let mut label_matchers: Vec<LabelMatcher> = q
        .iter()
        .filter_map(|(key, value)| {
            key.strip_prefix("label.")
                .map(|label| label_matcher(label, value))
        })
        .collect();
    label_matchers.sort_by(|a, b| (&a.name, &a.value).cmp(&(&b.name, &b.value)));
    Ok(QueryRangeRequest {
        region: region.to_string(),
        resource_id: id.to_string(),
        name: name.clone(),
        matchers: Vec::new(),
        from_ms,
        to_ms,
        step_ms,
        aggregation: aggregation as i32,
        label_matchers,
        quantile,
    })
}

/// The JSON of series answered for a history request: `{"series":[{"name","labels","points"}]}`.
pub fn series_json(
    name: &str,
    series: impl IntoIterator<Item = (std::collections::BTreeMap<String, String>, Vec<(i64, f64)>)>,
) -> Value {
    let series: Vec<Value> = series
        .into_iter()
        .map(|(labels, points)| json!({ "name": name, "labels": labels, "points": points }))
        .collect();
    json!({ "series": series })
}

/// The JSON of a region's rules in force.
pub fn rules_json(r: &RulesResponse) -> Value {
    json!({ "rules_toml": r.rules_toml, "count": r.count, "file": r.file, "loaded_ms": r.loaded_ms })
}

/// The JSON of one agent as one of its pollers sees it.
pub fn agent_json(a: &AgentInfo) -> Value {
    json!({
        "agent_id": a.agent_id, "address": a.address, "member_id": a.member_id,
        "pollers": a.pollers, "polled_ms": a.polled_ms, "samples": a.samples,
        "series": a.series,
        "buffer": a.buffer.map(|b| json!({
            "len": b.len, "capacity": b.capacity, "dropped_total": b.dropped_total,
            "epoch": b.epoch,
        })),
    })
}

/// The JSON of a region's notification channels in force.
pub fn notify_json(r: &NotifyResponse) -> Value {
    json!({
        "notify_toml": r.notify_toml, "source": r.source, "loaded_ms": r.loaded_ms,
        "receivers": r.receivers, "routes": r.routes, "silences": r.silences,
    })
}

/// The JSON of one notification of a region.
pub fn notification_json(n: &Notification) -> Value {
    json!({
        "id": n.id, "receiver": n.receiver, "kind": n.kind, "events": n.events,
        "reason": n.reason, "status": n.status, "attempts": n.attempts,
        "last_error": n.last_error, "created_ms": n.created_ms,
        "next_attempt_ms": n.next_attempt_ms, "done_ms": n.done_ms,
        "member_id": n.member_id,
    })
}
