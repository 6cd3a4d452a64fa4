//! Simulated agents for load and loss tests.
//!
//! Each simulated agent produces the same host series as a real agent, with deterministic
//! values (a daily shape plus seeded noise; a few agents run hot so that thresholds fire) and
//! one counter, `sim_sample_number`, whose value is the tick number, so that a test can count
//! exactly what arrived. Timestamps sit on multiples of the interval.

use std::collections::BTreeMap;
use std::f64::consts::TAU;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use strata_proto::labels::LabelMap;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::buffer::{SampleBuffer, SeriesIdx};
use crate::service::{AgentEntry, Registry};

/// Samples each simulated agent produces per tick.
pub const SAMPLES_PER_TICK: usize = SERIES.len();

/// What `strata sim` runs.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Number of agents.
    pub agents: usize,
    /// Agent ids are `<prefix><n>` with n from 1, zero-padded to 4 digits.
    pub prefix: String,
    /// Time between two ticks.
    pub interval: Duration,
    /// Buffer bound of each agent.
    pub buffer_capacity: usize,
    /// Seed of the noise.
    pub seed: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            agents: 10,
            prefix: "sim-".into(),
            interval: Duration::from_secs(5),
            buffer_capacity: 50_000,
            seed: 42,
        }
    }
}

/// The id of simulated agent `n` (from 1).
pub fn agent_id(prefix: &str, n: usize) -> String {
    format!("{prefix}{n:04}")
}

#[derive(Clone, Copy)]
enum Shape {
    /// CPU-like ratio with a daily shape.
    Cpu,
    Load,
    MemTotal,
    MemUsed,
    MemRatio,
    SwapTotal,
    SwapUsed,
    FsSize,
    FsUsed,
    FsRatio,
    /// Monotonic counter growing by a noisy rate.
    Counter(f64),
    /// The tick number.
    Number,
}

/// A simulated series: name, labels and how its values move.
type SeriesSpec = (&'static str, &'static [(&'static str, &'static str)], Shape);

const SERIES: [SeriesSpec; 19] = [
    ("host_cpu_usage_ratio", &[("cpu", "total")], Shape::Cpu),
    ("host_cpu_usage_ratio", &[("cpu", "0")], Shape::Cpu),
    ("host_cpu_usage_ratio", &[("cpu", "1")], Shape::Cpu),
    ("host_load1", &[], Shape::Load),
    ("host_load5", &[], Shape::Load),
    ("host_load15", &[], Shape::Load),
    ("host_memory_total_bytes", &[], Shape::MemTotal),
    ("host_memory_used_bytes", &[], Shape::MemUsed),
    ("host_memory_used_ratio", &[], Shape::MemRatio),
    ("host_swap_total_bytes", &[], Shape::SwapTotal),
    ("host_swap_used_bytes", &[], Shape::SwapUsed),
    ("host_filesystem_size_bytes", FS, Shape::FsSize),
    ("host_filesystem_used_bytes", FS, Shape::FsUsed),
    ("host_filesystem_used_ratio", FS, Shape::FsRatio),
    (
        "host_network_receive_bytes_total",
        NIC,
        Shape::Counter(250_000.0),
    ),
    (
        "host_network_transmit_bytes_total",
        NIC,
        Shape::Counter(120_000.0),
    ),
    (
        "host_network_receive_packets_total",
        NIC,
        Shape::Counter(400.0),
    ),
    (
        "host_network_transmit_packets_total",
        NIC,
        Shape::Counter(300.0),
    ),
    ("sim_sample_number", &[], Shape::Number),
];
const FS: &[(&str, &str)] = &[("mountpoint", "/"), ("device", "sda1"), ("fstype", "ext4")];
const NIC: &[(&str, &str)] = &[("interface", "eth0")];

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Deterministic noise in [0, 1).
fn noise(seed: u64, agent: usize, series: usize, tick: u64) -> f64 {
    let h = splitmix(seed ^ splitmix(agent as u64) ^ splitmix((series as u64) << 32 | tick));
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// The value of one simulated series at one tick; `n` is the agent number from 1.
fn value(cfg: &SimConfig, n: usize, series: usize, tick: u64, ts_ms: i64) -> f64 {
    let day = (ts_ms.rem_euclid(86_400_000)) as f64 / 86_400_000.0;
    let daily = 0.5 - 0.5 * (TAU * day).cos(); // 0 at midnight, 1 at noon
    let r = noise(cfg.seed, n, series, tick);
    // A few agents run hot: every 25th from 7 near warning, every 50th from 13 critical.
    let base = if n % 50 == 13 {
        0.97
    } else if n % 25 == 7 {
        0.88
    } else {
        0.15 + 0.35 * daily
    };
    let mem_total = if n.is_multiple_of(2) { 16.0 } else { 8.0 } * 1024.0 * 1024.0 * 1024.0;
    let mem_ratio = 0.35 + 0.2 * daily + 0.05 * noise(cfg.seed, n, 100, tick);
    let fs_size = 100.0 * 1024.0 * 1024.0 * 1024.0;
    let fs_ratio = 0.3 + 0.4 * noise(cfg.seed, n, 200, 0) + 0.000_001 * tick as f64;
    match SERIES[series].2 {
        Shape::Cpu => (base + 0.04 * (r - 0.5)).clamp(0.0, 1.0),
        Shape::Load => 2.0 * base + r * 0.3,
        Shape::MemTotal => mem_total,
        Shape::MemUsed => (mem_total * mem_ratio).round(),
        Shape::MemRatio => mem_ratio,
        Shape::SwapTotal => 2.0 * 1024.0 * 1024.0 * 1024.0,
        Shape::SwapUsed => (64.0 * 1024.0 * 1024.0 * noise(cfg.seed, n, 300, 0)).round(),
        Shape::FsSize => fs_size,
        Shape::FsUsed => (fs_size * fs_ratio).round(),
        Shape::FsRatio => fs_ratio,
        Shape::Counter(rate) => {
            // Integral of a noisy rate: tick * mean + bounded jitter keeps it monotonic.
            let secs = cfg.interval.as_secs_f64();
            (rate * secs * (tick as f64 + 0.5 * r)).round()
        }
        Shape::Number => tick as f64,
    }
}

/// The simulated series of every agent: metric name and labels (the `agent` label is added
/// by whoever stores them).
pub fn series() -> impl Iterator<Item = (&'static str, &'static [(&'static str, &'static str)])> {
    SERIES.iter().map(|(name, labels, _)| (*name, *labels))
}

/// The value of series `series` (an index into [`series`]) of agent `n` (from 1) at tick
/// `tick` (from 1) stamped `ts_ms`: what a simulated agent would have buffered.
pub fn sample_value(config: &SimConfig, n: usize, series: usize, tick: u64, ts_ms: i64) -> f64 {
    value(config, n, series, tick, ts_ms)
}

/// Simulated agents with their series interned, ready to serve.
pub struct Simulation {
    config: SimConfig,
    registry: Arc<Registry>,
    /// Per agent: its entry and the buffer index of each of [`SERIES`].
    agents: Vec<(Arc<AgentEntry>, Vec<SeriesIdx>)>,
}

impl Simulation {
    /// Builds `config.agents` simulated agents.
    pub fn new(config: SimConfig, max_poll_samples: usize) -> Self {
        let mut registry = Registry::new(max_poll_samples);
        let mut agents = Vec::with_capacity(config.agents);
        for n in 1..=config.agents {
            let id = agent_id(&config.prefix, n);
            let mut buffer = SampleBuffer::new(config.buffer_capacity, Duration::from_secs(600));
            let idx = SERIES
                .iter()
                .map(|(name, labels, _)| {
                    let map: LabelMap = labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect::<BTreeMap<_, _>>();
                    buffer.intern(name, &map)
                })
                .collect();
            let entry = registry.add(AgentEntry {
                id: id.clone(),
                hostname: id,
                cpu_count: 2,
                collect_interval_ms: config.interval.as_millis() as u64,
                buffer: Mutex::new(buffer),
            });
            agents.push((entry, idx));
        }
        Self {
            config,
            registry: Arc::new(registry),
            agents,
        }
    }

    /// The registry to serve.
    pub fn registry(&self) -> Arc<Registry> {
        self.registry.clone()
    }

    /// Pushes one tick's samples into every agent's buffer.
    pub fn tick(&self, tick: u64, ts_ms: i64) {
        for (n, (entry, idx)) in self.agents.iter().enumerate() {
            let mut buffer = entry.buffer.lock().expect("buffer lock poisoned");
            for (s, series) in idx.iter().enumerate() {
                buffer.push(*series, ts_ms, value(&self.config, n + 1, s, tick, ts_ms));
            }
        }
    }

    /// Ticks every interval, with timestamps on interval multiples, until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let step = self.config.interval.as_millis().max(1) as i64;
        let mut ticker = tokio::time::interval(self.config.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        // The first multiple of the interval from now on: never before this process started,
        // so that a restarted simulation cannot overwrite its earlier life's last sample.
        let start_ts = (strata_proto::now_ms() + step - 1) / step * step;
        let mut tick = 0u64;
        info!(
            agents = self.agents.len(),
            interval_ms = step,
            "simulation started"
        );
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = ticker.tick() => {
                    tick += 1;
                    self.tick(tick, start_ts + (tick as i64 - 1) * step);
                }
            }
        }
        info!(ticks = tick, "simulation stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn values_are_deterministic_and_in_range() {
        let cfg = SimConfig::default();
        for n in 1..=60 {
            for s in 0..SERIES.len() {
                let a = value(&cfg, n, s, 3, 1_700_000_000_000);
                assert_eq!(a, value(&cfg, n, s, 3, 1_700_000_000_000));
                assert!(a.is_finite() && a >= 0.0, "series {s} agent {n}: {a}");
            }
            let cpu = value(&cfg, n, 0, 3, 1_700_000_000_000);
            assert!(cpu <= 1.0);
        }
        assert!(value(&cfg, 13, 0, 1, 0) > 0.95, "agent 13 runs critical");
    }

    #[test]
    fn counters_never_decrease() {
        let cfg = SimConfig::default();
        let counter = SERIES
            .iter()
            .position(|s| s.0 == "host_network_receive_bytes_total")
            .unwrap();
        let mut last = 0.0;
        for tick in 1..500 {
            let v = value(&cfg, 1, counter, tick, tick as i64 * 5000);
            assert!(v >= last, "tick {tick}: {v} < {last}");
            last = v;
        }
    }

    #[test]
    fn every_tick_adds_exactly_samples_per_tick_to_each_agent() {
        let sim = Simulation::new(
            SimConfig {
                agents: 3,
                ..SimConfig::default()
            },
            1000,
        );
        sim.tick(1, 0);
        sim.tick(2, 5000);
        let registry = sim.registry();
        let entry = registry.get(&agent_id("sim-", 2)).unwrap();
        let mut buffer = entry.buffer.lock().unwrap();
        assert_eq!(buffer.last_seq(), 2 * SAMPLES_PER_TICK as u64);
        let r = buffer.poll("p", 0, 0, 1000, Instant::now());
        let number = r
            .series
            .iter()
            .position(|s| s.name == "sim_sample_number")
            .unwrap() as u32;
        let numbers: Vec<f64> = r
            .samples
            .iter()
            .filter(|s| s.series == number)
            .map(|s| s.value)
            .collect();
        assert_eq!(numbers, vec![1.0, 2.0]);
    }
}
