//! The host collector: CPU, load, memory, swap, filesystems and network interfaces, read
//! through sysinfo once per cycle into the sample buffer.
//!
//! sysinfo keeps its previous readings, so one long-lived [`HostCollector`] gives CPU usage
//! over the last interval and the counters stay cheap to refresh.

use strata_proto::labels::LabelMap;
use sysinfo::{CpuRefreshKind, Disks, LoadAvg, MemoryRefreshKind, Networks, RefreshKind, System};
use tracing::warn;

use crate::error::{AgentError, Result};

/// One collected value before it is buffered.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub name: &'static str,
    pub labels: LabelMap,
    pub value: f64,
}

/// Reads host resources; keep one for the life of the agent.
pub struct HostCollector {
    system: System,
    /// None where the platform cannot list disks (the rest is still collected).
    disks: Option<Disks>,
    /// None where the platform cannot list interfaces (the rest is still collected).
    networks: Option<Networks>,
}

fn labels<const N: usize>(pairs: [(&str, String); N]) -> LabelMap {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn ratio(part: f64, whole: f64) -> f64 {
    if whole > 0.0 { part / whole } else { 0.0 }
}

impl HostCollector {
    /// A collector primed with a first reading, so that the first CPU usage is meaningful.
    pub fn new() -> Result<Self> {
        let system = System::new_with_specifics(
            RefreshKind::nothing()
                .with_cpu(CpuRefreshKind::nothing().with_usage())
                .with_memory(MemoryRefreshKind::everything()),
        )
        .map_err(|e| AgentError::Collector(format!("read CPU and memory: {e}")))?;
        let disks = Disks::new_with_refreshed_list()
            .map_err(|error| warn!(%error, "filesystems will not be collected"))
            .ok();
        let networks = Networks::new_with_refreshed_list()
            .map_err(|error| warn!(%error, "network interfaces will not be collected"))
            .ok();
        Ok(Self {
            system,
            disks,
            networks,
        })
    }

    /// Number of logical CPUs.
    pub fn cpu_count(&self) -> usize {
        self.system.cpus().len()
    }

    /// Refreshes every source and returns this cycle's readings.
    pub fn collect(&mut self) -> Vec<Reading> {
        self.system.refresh_cpu_usage();
        self.system.refresh_memory();
        if let Some(disks) = &mut self.disks {
            disks.refresh(true);
        }
        if let Some(networks) = &mut self.networks {
            networks.refresh(true);
        }
        let mut out = Vec::with_capacity(64);

        out.push(Reading {
            name: "host_cpu_usage_ratio",
            labels: labels([("cpu", "total".to_string())]),
            value: f64::from(self.system.global_cpu_usage()) / 100.0,
        });
        for (i, cpu) in self.system.cpus().iter().enumerate() {
            out.push(Reading {
                name: "host_cpu_usage_ratio",
                labels: labels([("cpu", i.to_string())]),
                value: f64::from(cpu.usage()) / 100.0,
            });
        }

        let load = System::load_average().unwrap_or(LoadAvg {
            one: f64::NAN,
            five: f64::NAN,
            fifteen: f64::NAN,
        });
        for (name, value) in [
            ("host_load1", load.one),
            ("host_load5", load.five),
            ("host_load15", load.fifteen),
        ]
        .into_iter()
        .filter(|(_, v)| v.is_finite())
        {
            out.push(Reading {
                name,
                labels: LabelMap::new(),
                value,
            });
        }

        let total = self.system.total_memory() as f64;
        let used = self.system.used_memory() as f64;
        let swap_total = self.system.total_swap() as f64;
        let swap_used = self.system.used_swap() as f64;
        for (name, value) in [
            ("host_memory_total_bytes", total),
            ("host_memory_used_bytes", used),
            (
                "host_memory_available_bytes",
                self.system.available_memory() as f64,
            ),
            ("host_memory_used_ratio", ratio(used, total)),
            ("host_swap_total_bytes", swap_total),
            ("host_swap_used_bytes", swap_used),
        ] {
            out.push(Reading {
                name,
                labels: LabelMap::new(),
                value,
            });
        }

        for disk in self.disks.iter().flat_map(|d| d.iter()) {
            let size = disk.total_space() as f64;
            let used = size - disk.available_space() as f64;
            let l = labels([
                (
                    "mountpoint",
                    disk.mount_point().to_string_lossy().into_owned(),
                ),
                ("device", disk.name().to_string_lossy().into_owned()),
                ("fstype", disk.file_system().to_string_lossy().into_owned()),
            ]);
            out.push(Reading {
                name: "host_filesystem_size_bytes",
                labels: l.clone(),
                value: size,
            });
            out.push(Reading {
                name: "host_filesystem_used_bytes",
                labels: l.clone(),
                value: used,
            });
            out.push(Reading {
                name: "host_filesystem_used_ratio",
                labels: l,
                value: ratio(used, size),
            });
        }

        for (interface, data) in self.networks.iter().flat_map(|n| n.iter()) {
            let l = labels([("interface", interface.to_string_lossy().into_owned())]);
            for (name, value) in [
                ("host_network_receive_bytes_total", data.total_received()),
                (
                    "host_network_transmit_bytes_total",
                    data.total_transmitted(),
                ),
                (
                    "host_network_receive_packets_total",
                    data.total_packets_received(),
                ),
                (
                    "host_network_transmit_packets_total",
                    data.total_packets_transmitted(),
                ),
                (
                    "host_network_receive_errors_total",
                    data.total_errors_on_received(),
                ),
                (
                    "host_network_transmit_errors_total",
                    data.total_errors_on_transmitted(),
                ),
            ] {
                out.push(Reading {
                    name,
                    labels: l.clone(),
                    value: value as f64,
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_the_documented_host_series() {
        let mut c = HostCollector::new().unwrap();
        let readings = c.collect();
        let has = |name: &str| readings.iter().any(|r| r.name == name);
        for name in [
            "host_cpu_usage_ratio",
            "host_load1",
            "host_memory_total_bytes",
            "host_memory_used_bytes",
            "host_swap_total_bytes",
        ] {
            assert!(has(name), "missing {name}");
        }
        let total_cpu = readings
            .iter()
            .find(|r| {
                r.name == "host_cpu_usage_ratio"
                    && r.labels.get("cpu").map(String::as_str) == Some("total")
            })
            .expect("total cpu");
        assert!(
            (0.0..=1.0).contains(&total_cpu.value),
            "{}",
            total_cpu.value
        );
        let per_core = readings
            .iter()
            .filter(|r| {
                r.name == "host_cpu_usage_ratio"
                    && r.labels.get("cpu").map(String::as_str) != Some("total")
            })
            .count();
        assert_eq!(per_core, c.cpu_count());
        let mem = readings
            .iter()
            .find(|r| r.name == "host_memory_total_bytes")
            .unwrap();
        assert!(mem.value > 0.0);
    }
}
