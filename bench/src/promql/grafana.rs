//! Grafana's requests replayed: what its Prometheus data source sends when the Node Exporter
//! Full dashboard opens (build information, the dashboard's variables as label values with
//! `match[]`, the metric browser's labels, names, metadata and series, the panels'
//! form-encoded `query_range` with its step-aligned times and instant queries), then each
//! endpoint's errors (missing and malformed parameters, bad expressions, impossible ranges).
//! Each is asked of Strata and of Prometheus, and the answers compared: the same status code,
//! the same envelope and, for a success, the same data (label names and values as sets,
//! series as label sets, results as the query comparison takes them); for an error, the same
//! `errorType`.

use std::collections::BTreeSet;

use serde_json::Value;

use super::compare;
use crate::measure::http;
use strata_web::auth::policy::percent_encode as enc;

/// One request: what it is for, its path and, for a form-encoded POST, its body.
pub struct Request {
    pub name: String,
    pub path: String,
    pub form: Option<String>,
    /// Compare the form of the answer's entries only, not which there are (metadata:
    /// Prometheus knows none for backfilled series, Strata names each metric).
    pub form_only: bool,
}

fn get(name: &str, path: String) -> Request {
    Request {
        name: name.to_string(),
        path,
        form: None,
        form_only: false,
    }
}

fn post(name: &str, path: &str, form: String) -> Request {
    Request {
        form: Some(form),
        ..get(name, path.to_string())
    }
}

/// The requests of a dashboard opened on host `instance` over `[start_s, end_s]` (Unix
/// seconds) with a 60 s step, in Grafana's order.
pub fn dashboard(instance: &str, start_s: i64, end_s: i64) -> Vec<Request> {
    let range = format!("start={start_s}&end={end_s}");
    let values = |label: &str, matcher: &str| {
        format!(
            "/api/v1/label/{label}/values?match[]={}&{range}",
            enc(matcher)
        )
    };
    // Grafana aligns a range query's start and end to its step
    let step = 60;
    let (a, b) = (start_s / step * step, end_s / step * step);
    let panel = |q: &str| format!("query={}&start={a}&end={b}&step={step}", enc(q));
    let cpu = format!(r#"node_cpu_seconds_total{{instance="{instance}",job="node"}}"#);
    vec![
        get("buildinfo", "/api/v1/status/buildinfo".into()),
        get("variable job", values("job", "node_uname_info")),
        get(
            "variable nodename",
            values("nodename", r#"node_uname_info{job="node"}"#),
        ),
        get(
            "variable instance",
            values("instance", r#"node_uname_info{job="node",nodename="sim"}"#),
        ),
        get("metric browser: labels", format!("/api/v1/labels?{range}")),
        get(
            "metric browser: names",
            format!("/api/v1/label/__name__/values?{range}"),
        ),
        Request {
            form_only: true,
            ..get("metric browser: metadata", "/api/v1/metadata".into())
        },
        get(
            "metric browser: series",
            format!("/api/v1/series?match[]={}&{range}", enc(&cpu)),
        ),
        post(
            "labels with match[] (POST)",
            "/api/v1/labels",
            format!("match[]={}&{range}", enc(&cpu)),
        ),
        post(
            "panel: CPU busy",
            "/api/v1/query_range",
            panel(&format!(
                r#"100 * (1 - avg(rate(node_cpu_seconds_total{{mode="idle",instance="{instance}",job="node"}}[75s])))"#
            )),
        ),
        post(
            "panel: network traffic",
            "/api/v1/query_range",
            panel(&format!(
                r#"rate(node_network_receive_bytes_total{{instance="{instance}",job="node"}}[75s])*8"#
            )),
        ),
        post(
            "panel: memory",
            "/api/v1/query_range",
            panel(&format!(
                r#"node_memory_MemTotal_bytes{{instance="{instance}",job="node"}} - node_memory_MemAvailable_bytes{{instance="{instance}",job="node"}}"#
            )),
        ),
        post(
            "stat: uptime (instant)",
            "/api/v1/query",
            format!(
                "query={}&time={end_s}",
                enc(&format!(
                    r#"node_time_seconds{{instance="{instance}",job="node"}} - node_boot_time_seconds{{instance="{instance}",job="node"}}"#
                ))
            ),
        ),
    ]
}

/// Each endpoint's errors: requests Prometheus refuses, and why.
pub fn errors(end_s: i64) -> Vec<Request> {
    let q = enc("node_load1");
    vec![
        get("query: no query", "/api/v1/query".into()),
        get(
            "query: bad expression",
            format!("/api/v1/query?query={}", enc("sum((")),
        ),
        get(
            "query: bad time",
            format!("/api/v1/query?query={q}&time=yesterday"),
        ),
        get(
            "query: bad timeout",
            format!("/api/v1/query?query={q}&timeout=soon"),
        ),
        get(
            "query_range: no step",
            format!("/api/v1/query_range?query={q}&start=0&end={end_s}"),
        ),
        get(
            "query_range: zero step",
            format!("/api/v1/query_range?query={q}&start=0&end={end_s}&step=0"),
        ),
        get(
            "query_range: end before start",
            format!("/api/v1/query_range?query={q}&start={end_s}&end=0&step=60"),
        ),
        get(
            "query_range: too many points",
            format!("/api/v1/query_range?query={q}&start=0&end={end_s}&step=1"),
        ),
        get(
            "query_range: a range vector",
            format!(
                "/api/v1/query_range?query={}&start=0&end=60&step=15",
                enc("node_load1[5m]")
            ),
        ),
        post(
            "query_range: bad start (POST)",
            "/api/v1/query_range",
            format!("query={q}&start=then&end=60&step=15"),
        ),
        get("series: no match[]", "/api/v1/series".into()),
        get(
            "series: bad match[]",
            format!("/api/v1/series?match[]={}", enc("node_load1{")),
        ),
        get(
            "labels: bad match[]",
            format!("/api/v1/labels?match[]={}", enc("{x=~\"(\"}")),
        ),
        get(
            "label values: bad name",
            "/api/v1/label/not-a-label/values".into(),
        ),
        get(
            "label values: bad end",
            "/api/v1/label/job/values?end=later".into(),
        ),
    ]
}

/// `request` asked of `addr`: the status code and the JSON answer.
pub fn ask(addr: &str, request: &Request) -> anyhow::Result<(u16, Value)> {
    let (status, body) = match &request.form {
        None => http(addr, "GET", &request.path, b"")?,
        Some(form) => {
            strata_testkit::http_form(addr, &request.path, form).map_err(anyhow::Error::msg)?
        }
    };
    Ok((status, serde_json::from_str(&body).unwrap_or(Value::Null)))
}

/// The strings of an array as a set (label names and values: order aside).
fn strings(v: &Value) -> Option<BTreeSet<String>> {
    v.as_array()?
        .iter()
        .map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// Whether every entry of a metadata answer is a list of `{type, help, unit}`, as
/// Prometheus's are.
fn metadata_form(data: &Value) -> bool {
    data.as_object().is_some_and(|o| {
        o.values().all(|v| {
            v.as_array().is_some_and(|list| {
                list.iter().all(|m| {
                    m.as_object().is_some_and(|m| {
                        m.len() == 3 && ["type", "help", "unit"].iter().all(|k| m[*k].is_string())
                    })
                })
            })
        })
    })
}

/// How Strata's answer `ours` differs from Prometheus's `theirs` to `request`.
pub fn difference(
    request: &Request,
    ours: &(u16, Value),
    theirs: &(u16, Value),
) -> Result<(), String> {
    let ((sa, a), (sb, b)) = (ours, theirs);
    if sa != sb {
        return Err(format!("status {sa} against {sb}: {a} / {b}"));
    }
    if a["status"] != b["status"] {
        return Err(format!("{} against {}", a["status"], b["status"]));
    }
    if a["status"] == "error" {
        return if a["errorType"] == b["errorType"] {
            Ok(())
        } else {
            Err(format!("{} against {}", a["errorType"], b["errorType"]))
        };
    }
    let (da, db) = (&a["data"], &b["data"]);
    if request.form_only {
        return if metadata_form(da) && metadata_form(db) {
            Ok(())
        } else {
            Err(format!("{da} against {db}"))
        };
    }
    if da.get("resultType").is_some() {
        return compare::difference(da, db);
    }
    if let (Some(x), Some(y)) = (strings(da), strings(db)) {
        return if x == y {
            Ok(())
        } else {
            let only: Vec<_> = x.difference(&y).collect();
            let missing: Vec<_> = y.difference(&x).collect();
            Err(format!("only ours: {only:?}; only theirs: {missing:?}"))
        };
    }
    match (da, db) {
        (Value::Array(x), Value::Array(y)) => {
            let set = |v: &Vec<Value>| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
            if set(x) == set(y) {
                Ok(())
            } else {
                Err(format!("{} series against {}", x.len(), y.len()))
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            // build information and metadata: the same fields (the values are each server's)
            let keys = |o: &serde_json::Map<String, Value>| o.keys().cloned().collect::<Vec<_>>();
            if da == db || (!x.is_empty() && keys(x) == keys(y)) {
                Ok(())
            } else {
                Err(format!("{da} against {db}"))
            }
        }
        _ => Err(format!("{da} against {db}")),
    }
}
