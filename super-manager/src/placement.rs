//! Placement: rank the nodes of a group by their live load, least loaded first, so that a
//! load balancer can send the next request (or a scheduler the next job) where there is room.
//!
//! The group is the hosts one component of a service selects. Their load is read from their
//! regions through the brokers over the last `window_ms`: mean CPU usage, mean memory used,
//! and network throughput (bytes received and sent per second, all interfaces), this last
//! relative to the busiest node of the group. The score is the weighted sum (weights default
//! to 0.5, 0.3 and 0.2); nodes down or unknown are left out, with why.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use strata_proto::ResourceId;
use strata_proto::v1::{Aggregation, MatchOp, ResourceState};

use crate::error::{Result, SuperManagerError};
use crate::history::{CPU, Figure, MEMORY, series_of_agents};
use crate::overview::Overview;
use crate::shared::Shared;

/// One node of the group, ranked.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Node {
    pub resource_id: String,
    pub score: f64,
    /// Mean CPU usage over the window, 0 to 1.
    pub cpu: Option<f64>,
    /// Mean memory used over the window, 0 to 1.
    pub memory: Option<f64>,
    /// Bytes received and sent per second over the window.
    pub network_bytes_per_second: Option<f64>,
}

/// The ranking.
#[derive(Debug, Serialize)]
pub struct Placement {
    pub service: String,
    pub component: String,
    pub window_ms: i64,
    pub weights: BTreeMap<&'static str, f64>,
    /// Least loaded first.
    pub nodes: Vec<Node>,
    /// Nodes left out, and why.
    pub excluded: Vec<(String, String)>,
}

/// Scores `nodes` with `weights` (cpu, memory, network) and sorts them, least loaded first:
/// network is taken relative to the busiest node; a missing figure counts as fully loaded.
pub fn rank(mut nodes: Vec<Node>, weights: (f64, f64, f64)) -> Vec<Node> {
    let busiest = nodes
        .iter()
        .filter_map(|n| n.network_bytes_per_second)
        .fold(0.0_f64, f64::max)
        .max(f64::MIN_POSITIVE);
    for n in &mut nodes {
        n.score = weights.0 * n.cpu.unwrap_or(1.0)
            + weights.1 * n.memory.unwrap_or(1.0)
            + weights.2 * n.network_bytes_per_second.map_or(1.0, |b| b / busiest);
    }
    nodes.sort_by(|a, b| {
        a.score
            .total_cmp(&b.score)
            .then(a.resource_id.cmp(&b.resource_id))
    });
    nodes
}

fn weight(q: &HashMap<String, String>, key: &str, default: f64) -> Result<f64> {
    match q.get(key) {
        None => Ok(default),
        Some(v) => v
            .parse::<f64>()
            .ok()
            .filter(|w| w.is_finite() && *w >= 0.0)
            .ok_or_else(|| {
                SuperManagerError::BadRequest(format!("{key}: '{v}' is not a weight of 0 or more"))
            }),
    }
}

const RECEIVED: Figure = Figure {
    name: "host_network_receive_bytes_total",
    extra: Some(("device", MatchOp::NotEqual, "lo")),
    aggregation: Aggregation::Rate,
};
const SENT: Figure = Figure {
    name: "host_network_transmit_bytes_total",
    extra: Some(("device", MatchOp::NotEqual, "lo")),
    aggregation: Aggregation::Rate,
};

/// The value per agent of `figure` over `[from_ms, to_ms]`, through the brokers.
async fn per_agent(
    shared: &Shared,
    region: &str,
    hosts: &[&str],
    figure: &Figure,
    (from_ms, to_ms): (i64, i64),
) -> Result<HashMap<String, f64>> {
    let series = series_of_agents(
        shared,
        region,
        hosts,
        figure,
        (from_ms, to_ms, to_ms - from_ms),
    )
    .await?;
    let mut out: HashMap<String, f64> = HashMap::new();
    for (agent, _, points) in series {
        let Some(last) = points.last() else {
            continue;
        };
        if figure.aggregation == Aggregation::Rate {
            // per interface: add them up
            *out.entry(agent).or_default() += last.1;
        } else {
            out.insert(agent, last.1);
        }
    }
    Ok(out)
}

/// The nodes of the group `q` names (`service`, `component`), ranked by their load over
/// `window_ms` (default a minute, at least a second) with the weights `w_cpu`, `w_memory`
/// and `w_network`.
pub async fn placement(shared: &Shared, q: &HashMap<String, String>) -> Result<Placement> {
    let bad = SuperManagerError::BadRequest;
    let service = q
        .get("service")
        .ok_or_else(|| bad("service: missing (the group is one of its components)".into()))?;
    let component = q
        .get("component")
        .ok_or_else(|| bad("component: missing".into()))?;
    let weights = (
        weight(q, "w_cpu", 0.5)?,
        weight(q, "w_memory", 0.3)?,
        weight(q, "w_network", 0.2)?,
    );
    let window_ms: i64 = match q.get("window_ms") {
        None => 60_000,
        Some(v) => v
            .parse()
            .ok()
            .filter(|w| *w >= 1000)
            .ok_or_else(|| bad(format!("window_ms: '{v}' is not 1000 or more")))?,
    };
    let def = shared
        .services
        .get(service)
        .ok_or_else(|| bad(format!("service: no service '{service}'")))?
        .def;
    let cdef = def
        .components
        .iter()
        .find(|c| &c.name == component)
        .ok_or_else(|| {
            bad(format!(
                "component: '{service}' has no component '{component}'"
            ))
        })?;
    let selector = cdef.selector();
    let resources = Overview::all_resources_of(&shared.overview);
    let mut excluded = Vec::new();
    let mut by_region: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in resources
        .iter()
        .filter(|r| selector.selects(&r.region, &r.host))
    {
        match r.state() {
            ResourceState::Up => by_region
                .entry(r.region.clone())
                .or_default()
                .push(r.host.clone()),
            s => excluded.push((r.id.clone(), strata_proto::names::state_name(s).to_string())),
        }
    }
    let to_ms = strata_proto::now_ms();
    let from_ms = to_ms - window_ms;
    let mut loads = Vec::new();
    for (region, hosts) in &by_region {
        let hosts: Vec<&str> = hosts.iter().map(String::as_str).collect();
        let window = (from_ms, to_ms);
        let cpu = per_agent(shared, region, &hosts, &CPU, window).await?;
        let memory = per_agent(shared, region, &hosts, &MEMORY, window).await?;
        let mut network = per_agent(shared, region, &hosts, &RECEIVED, window).await?;
        for (agent, v) in per_agent(shared, region, &hosts, &SENT, window).await? {
            *network.entry(agent).or_default() += v;
        }
        for h in hosts {
            loads.push(Node {
                resource_id: ResourceId::new(region.as_str(), h).to_string(),
                score: 0.0,
                cpu: cpu.get(h).copied(),
                memory: memory.get(h).copied(),
                network_bytes_per_second: network.get(h).copied(),
            });
        }
    }
    Ok(Placement {
        service: service.clone(),
        component: component.clone(),
        window_ms,
        weights: BTreeMap::from([
            ("cpu", weights.0),
            ("memory", weights.1),
            ("network", weights.2),
        ]),
        nodes: rank(loads, weights),
        excluded,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_loaded_node_comes_first_and_missing_figures_count_against() {
        let node = |id: &str, cpu, memory, net| Node {
            resource_id: id.into(),
            score: 0.0,
            cpu,
            memory,
            network_bytes_per_second: net,
        };
        let nodes = rank(
            vec![
                node("w/busy", Some(0.9), Some(0.8), Some(1000.0)),
                node("w/idle", Some(0.1), Some(0.2), Some(100.0)),
                node("w/blind", None, Some(0.1), Some(0.0)),
            ],
            (0.5, 0.3, 0.2),
        );
        let order: Vec<&str> = nodes.iter().map(|n| n.resource_id.as_str()).collect();
        assert_eq!(order, vec!["w/idle", "w/blind", "w/busy"]);
        assert!((nodes[0].score - (0.05 + 0.06 + 0.02)).abs() < 1e-9);
        assert!((nodes[2].score - (0.45 + 0.24 + 0.2)).abs() < 1e-9);
    }
}
