//! A host's live detail, configuration and metric history, as both consoles answer them:
//! `GET /api/v1/resources/{region}/{host}/snapshot`, `PUT .../config` and `GET .../metrics`.
//! Fields are in alphabetical order (see [`super`]).

use std::collections::BTreeMap;

use serde::Serialize;
use strata_proto::names::check_state_name;
use strata_proto::v1::{
    CheckResult, ConfigureResponse, ConnectionInfo, InterfaceInfo, ProcessInfo, RouteInfo,
    SnapshotResponse,
};

/// A host's live detail: its busiest processes, connections, interfaces, routes and checks.
#[derive(Debug, Serialize, PartialEq)]
pub struct SnapshotJson {
    pub agent_id: String,
    pub checks: Vec<CheckJson>,
    pub connections: Vec<ConnectionJson>,
    pub interfaces: Vec<InterfaceJson>,
    pub process_count: u32,
    pub processes: Vec<ProcessJson>,
    /// The routing table, IPv4 then IPv6.
    pub routes: Vec<RouteJson>,
    pub ts_ms: i64,
}

/// One route of a snapshot.
#[derive(Debug, Serialize, PartialEq)]
pub struct RouteJson {
    pub destination: String,
    pub family: String,
    /// Empty for a directly connected network.
    pub gateway: String,
    pub interface: String,
    pub metric: u32,
    pub reject: bool,
}

impl RouteJson {
    fn of(r: &RouteInfo) -> Self {
        Self {
            destination: r.destination.clone(),
            family: r.family.clone(),
            gateway: r.gateway.clone(),
            interface: r.interface.clone(),
            metric: r.metric,
            reject: r.reject,
        }
    }
}

impl SnapshotJson {
    /// The JSON of an agent's snapshot.
    pub fn of(s: &SnapshotResponse) -> Self {
        Self {
            agent_id: s.agent_id.clone(),
            checks: s.checks.iter().map(CheckJson::of).collect(),
            connections: s.connections.iter().map(ConnectionJson::of).collect(),
            interfaces: s.interfaces.iter().map(InterfaceJson::of).collect(),
            process_count: s.process_count,
            processes: s.processes.iter().map(ProcessJson::of).collect(),
            routes: s.routes.iter().map(RouteJson::of).collect(),
            ts_ms: s.ts_ms,
        }
    }
}

/// One process of a snapshot.
#[derive(Debug, Serialize, PartialEq)]
pub struct ProcessJson {
    pub cmdline: String,
    pub cpu_ratio: f64,
    pub name: String,
    pub open_fds: u32,
    pub pid: u32,
    pub ppid: u32,
    pub read_bytes: u64,
    /// Disk I/O since the agent's previous scan of the processes.
    pub read_bytes_per_second: f64,
    pub rss_bytes: u64,
    pub state: String,
    pub threads: u32,
    pub user: String,
    pub write_bytes: u64,
    pub write_bytes_per_second: f64,
}

impl ProcessJson {
    fn of(p: &ProcessInfo) -> Self {
        Self {
            cmdline: p.cmdline.clone(),
            cpu_ratio: p.cpu_ratio,
            name: p.name.clone(),
            open_fds: p.open_fds,
            pid: p.pid,
            ppid: p.ppid,
            read_bytes: p.read_bytes,
            read_bytes_per_second: p.read_bytes_per_second,
            rss_bytes: p.rss_bytes,
            state: p.state.clone(),
            threads: p.threads,
            user: p.user.clone(),
            write_bytes: p.write_bytes,
            write_bytes_per_second: p.write_bytes_per_second,
        }
    }
}

/// One connection of a snapshot.
#[derive(Debug, Serialize, PartialEq)]
pub struct ConnectionJson {
    pub local: String,
    pub protocol: String,
    pub remote: String,
    pub state: String,
}

impl ConnectionJson {
    fn of(c: &ConnectionInfo) -> Self {
        Self {
            local: c.local.clone(),
            protocol: c.protocol.clone(),
            remote: c.remote.clone(),
            state: c.state.clone(),
        }
    }
}

/// One network interface of a snapshot.
#[derive(Debug, Serialize, PartialEq)]
pub struct InterfaceJson {
    pub addresses: Vec<String>,
    pub mac: String,
    pub mtu: u32,
    pub name: String,
    pub rx_bytes: u64,
    pub rx_errors: u64,
    pub tx_bytes: u64,
    pub tx_errors: u64,
    pub up: bool,
}

impl InterfaceJson {
    fn of(i: &InterfaceInfo) -> Self {
        Self {
            addresses: i.addresses.clone(),
            mac: i.mac.clone(),
            mtu: i.mtu,
            name: i.name.clone(),
            rx_bytes: i.rx_bytes,
            rx_errors: i.rx_errors,
            tx_bytes: i.tx_bytes,
            tx_errors: i.tx_errors,
            up: i.up,
        }
    }
}

/// One check result of a snapshot.
#[derive(Debug, Serialize, PartialEq)]
pub struct CheckJson {
    pub detail: Vec<String>,
    pub duration_seconds: f64,
    pub kind: String,
    pub message: String,
    pub name: String,
    pub state: &'static str,
    pub ts_ms: i64,
}

impl CheckJson {
    fn of(c: &CheckResult) -> Self {
        Self {
            detail: c.detail.clone(),
            duration_seconds: c.duration_seconds,
            kind: c.kind.clone(),
            message: c.message.clone(),
            name: c.name.clone(),
            state: check_state_name(c.state()),
            ts_ms: c.ts_ms,
        }
    }
}

/// `GET .../config`: the configuration pushed to a host's agent and in force there, and
/// what its local config lets a push use.
#[derive(Debug, Serialize, PartialEq)]
pub struct AgentConfigJson {
    /// The accepted pushed TOML, as pushed (empty when nothing was pushed).
    pub pushed_toml: String,
    /// The local `[commands.<name>]` a pushed script check may `run`.
    pub commands: Vec<String>,
    /// The local `allow_paths` globs a pushed log check may read.
    pub allow_paths: Vec<String>,
}

impl From<strata_proto::v1::GetConfigResponse> for AgentConfigJson {
    fn from(r: strata_proto::v1::GetConfigResponse) -> Self {
        Self {
            pushed_toml: r.pushed_toml,
            commands: r.commands,
            allow_paths: r.allow_paths,
        }
    }
}

/// The answer of `PUT .../config` once the agent applied it: the checks now running.
#[derive(Debug, Serialize, PartialEq)]
pub struct ConfiguredJson {
    pub applied: bool,
    pub checks: Vec<String>,
}

impl ConfiguredJson {
    /// The agent's answer when it applied the configuration; otherwise what its refusal
    /// says for host `id`, every problem by key (answered as a 400).
    pub fn of(id: &str, answer: ConfigureResponse) -> Result<Self, String> {
        if !answer.applied {
            return Err(format!(
                "the agent of {id} refused the configuration: {}",
                answer.problems.join("; ")
            ));
        }
        Ok(Self {
            applied: true,
            checks: answer.checks,
        })
    }
}

/// `GET .../metrics`: the series answered for a history request.
#[derive(Debug, Serialize, PartialEq)]
pub struct SeriesJson {
    pub series: Vec<OneSeriesJson>,
}

/// One series of a history answer (fields in alphabetical order).
#[derive(Debug, Serialize, PartialEq)]
pub struct OneSeriesJson {
    pub labels: BTreeMap<String, String>,
    pub name: String,
    /// `[ts_ms, value]`, oldest first.
    pub points: Vec<(i64, f64)>,
}

impl SeriesJson {
    /// The series of metric `name`, each with its labels and points.
    pub fn of(
        name: &str,
        series: impl IntoIterator<Item = (BTreeMap<String, String>, Vec<(i64, f64)>)>,
    ) -> Self {
        Self {
            series: series
                .into_iter()
                .map(|(labels, points)| OneSeriesJson {
                    labels,
                    name: name.to_string(),
                    points,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_and_a_refusal_read_as_before() {
        let s = SeriesJson::of(
            "m",
            [(
                BTreeMap::from([("cpu".to_string(), "0".to_string())]),
                vec![(1, 0.5)],
            )],
        );
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"series":[{"labels":{"cpu":"0"},"name":"m","points":[[1,0.5]]}]}"#
        );
        let refused = ConfigureResponse {
            applied: false,
            problems: vec![
                "items.cpu.interval: too short".into(),
                "checks[0].kind".into(),
            ],
            checks: vec![],
        };
        assert_eq!(
            ConfiguredJson::of("eu/a", refused).unwrap_err(),
            "the agent of eu/a refused the configuration: items.cpu.interval: too short; checks[0].kind"
        );
    }

    #[test]
    fn a_snapshot_reads_as_its_map_did() {
        let s = SnapshotResponse {
            agent_id: "a".into(),
            ts_ms: 1,
            process_count: 1,
            processes: vec![ProcessInfo {
                pid: 7,
                name: "db".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let text = serde_json::to_string(&SnapshotJson::of(&s)).unwrap();
        assert_eq!(
            text,
            concat!(
                r#"{"agent_id":"a","checks":[],"connections":[],"interfaces":[],"process_count":1,"#,
                r#""processes":[{"cmdline":"","cpu_ratio":0.0,"name":"db","open_fds":0,"pid":7,"ppid":0,"#,
                r#""read_bytes":0,"read_bytes_per_second":0.0,"rss_bytes":0,"state":"","threads":0,"user":"","write_bytes":0,"write_bytes_per_second":0.0}],"routes":[],"ts_ms":1}"#
            )
        );
    }
}
