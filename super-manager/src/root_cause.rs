//! Root cause with metric evidence: the likely causes of a service's state, best first.
//!
//! The ranking itself is [`crate::services::rca`]; this part gathers what it needs from
//! the regions: for the candidate hosts (at most [`MAX_HOSTS`], nearest first), their CPU,
//! memory, load and disk busy time over the window and the hour before it, one query per
//! region and metric, in minute steps; and the service's response time per minute from the
//! QoS store, to see which shifts move with it.

use std::collections::{BTreeMap, HashMap};

use strata_proto::ResourceId;
use strata_proto::v1::{Aggregation, MatchOp};
use tracing::{Instrument, debug, info_span};

use crate::catalog::probes_of;
use crate::error::{Result, SuperManagerError};
use crate::history::{CPU, Figure, MEMORY, series_of_agents, shown};
use crate::overview::Overview;
use crate::services::Refused;
use crate::services::baseline::{Shift, correlation, shift};
use crate::services::rca::{Analysis, Inputs, analyse, candidates};
use crate::shared::Shared;

/// Candidate hosts whose metrics are read, the nearest (by dependency edges) first.
pub const MAX_HOSTS: usize = 64;

/// How far before the window the baseline reaches.
const BASELINE_MS: i64 = 3_600_000;

const STEP_MS: i64 = 60_000;

const LOAD: Figure = Figure {
    name: "host_load1",
    extra: None,
    aggregation: Aggregation::Avg,
};
const DISK_BUSY: Figure = Figure {
    name: "host_disk_io_time_seconds_total",
    extra: None,
    aggregation: Aggregation::Rate,
};
const NETWORK_IN: Figure = Figure {
    name: "host_network_receive_bytes_total",
    extra: Some(("device", MatchOp::NotEqual, "lo")),
    aggregation: Aggregation::Rate,
};

/// The likely causes of service `name`'s state, best first, with their evidence, over the
/// last `window_ms` of `q` (default 15 minutes).
pub async fn analysis(
    shared: &Shared,
    name: &str,
    q: &HashMap<String, String>,
) -> Result<Analysis> {
    let window_ms: i64 = match q.get("window_ms") {
        None => 15 * 60_000,
        Some(v) => v.parse().ok().filter(|w| *w > 0).ok_or_else(|| {
            SuperManagerError::BadRequest(format!(
                "window_ms: '{v}' is not a positive number of milliseconds"
            ))
        })?,
    };
    let to_ms = strata_proto::now_ms();
    let from_ms = to_ms - window_ms;
    let defs = shared.services.defs();
    let resources = Overview::all_resources_of(&shared.overview);
    let (checks, incidents) = {
        let overview = shared.overview.read().expect("overview lock poisoned");
        (overview.all_checks(), overview.incident_events(from_ms))
    };
    let no_shifts = BTreeMap::new();
    let mut inputs = Inputs {
        defs: &defs,
        resources: &resources,
        checks: &checks,
        incidents: &incidents,
        shifts: &no_shifts,
    };
    let unknown = || SuperManagerError::from(Refused::NotFound(name.to_string()));
    let (candidates, _) = candidates(name, &inputs).ok_or_else(unknown)?;
    let span = info_span!("rca_metrics", service = %name, candidates = candidates.len());
    let shifts = metric_shifts(shared, name, &candidates, (from_ms, to_ms))
        .instrument(span)
        .await;
    inputs.shifts = &shifts;
    analyse(name, &inputs, from_ms, to_ms).ok_or_else(unknown)
}

/// The metrics of the nearest candidates that left their baseline within the window, with
/// their correlation to the service's response time. A region that cannot answer is passed
/// over (the ranking goes on with what the centre knows).
async fn metric_shifts(
    shared: &Shared,
    service: &str,
    candidates: &crate::services::rca::Candidates,
    (from_ms, to_ms): (i64, i64),
) -> BTreeMap<String, Vec<Shift>> {
    let mut nearest: Vec<(&String, f64)> = candidates.iter().map(|(id, (w, _))| (id, *w)).collect();
    nearest.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    let mut by_region: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (id, _) in nearest.into_iter().take(MAX_HOSTS) {
        if let Ok(r) = ResourceId::parse(id) {
            by_region
                .entry(r.region().to_string())
                .or_default()
                .push(r.host().to_string());
        }
    }
    let response = response_time(shared, service, from_ms, to_ms);
    let mut out: BTreeMap<String, Vec<Shift>> = BTreeMap::new();
    for (region, hosts) in &by_region {
        let hosts: Vec<&str> = hosts.iter().map(String::as_str).collect();
        for figure in [&CPU, &MEMORY, &LOAD, &DISK_BUSY, &NETWORK_IN] {
            let range = (from_ms - BASELINE_MS, to_ms, STEP_MS);
            let series = match series_of_agents(shared, region, &hosts, figure, range).await {
                Ok(s) => s,
                Err(error) => {
                    debug!(%region, metric = figure.name, %error, "metric read for root cause failed");
                    continue;
                }
            };
            for (agent, labels, points) in series {
                let labels = shown(&labels);
                if let Some(mut s) = shift(figure.name, &labels, &points, from_ms) {
                    s.correlation = correlation(&points, &response, STEP_MS, from_ms);
                    out.entry(ResourceId::new(region.as_str(), agent).to_string())
                        .or_default()
                        .push(s);
                }
            }
        }
    }
    out
}

/// The service's median response time per minute over the window, from its probes.
fn response_time(shared: &Shared, service: &str, from_ms: i64, to_ms: i64) -> Vec<(i64, f64)> {
    let Some(v) = shared.services.get(service) else {
        return Vec::new();
    };
    let probes = probes_of(&v.def, shared.qos.probes());
    if probes.is_empty() {
        return Vec::new();
    }
    match shared.qos.query(probes, from_ms, to_ms, STEP_MS, to_ms) {
        Ok(q) => q
            .points
            .into_iter()
            .filter_map(|p| Some((p.t_ms, p.summary.p50_ms?)))
            .collect(),
        Err(_) => Vec::new(),
    }
}
