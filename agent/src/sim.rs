//! Simulated agents for load and loss tests.
//!
//! Each simulated agent produces the same host series as a real agent, with deterministic
//! values (a daily shape plus seeded noise; a few agents run hot so that thresholds fire) and
//! one counter, `sim_sample_number`, whose value is the tick number, so that a test can count
//! exactly what arrived. Timestamps sit on multiples of the interval.

mod catalog;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use strata_proto::labels::LabelMap;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::buffer::{SampleBuffer, SeriesIdx};
use crate::entry::AgentEntry;
use crate::registry::Registry;

pub use catalog::{Profile, SimSeries, catalog};

/// Samples each simulated agent of the basic profile produces per tick.
pub const SAMPLES_PER_TICK: usize = 19;

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
    /// Which series each agent produces.
    pub profile: Profile,
    /// Where each agent's buffer is kept on disk (`<dir>/<agent id>`), with its tick, so
    /// that a killed simulation resumes where it stopped (default none: in memory).
    pub state_dir: Option<std::path::PathBuf>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            agents: 10,
            prefix: "sim-".into(),
            interval: Duration::from_secs(5),
            buffer_capacity: 50_000,
            seed: 42,
            profile: Profile::Basic,
            state_dir: None,
        }
    }
}

/// The id of simulated agent `n` (from 1).
pub fn agent_id(prefix: &str, n: usize) -> String {
    format!("{prefix}{n:04}")
}

/// The simulated series of every agent of `profile`: metric name and labels (the `agent`
/// label is added by whoever stores them).
pub fn series(
    profile: Profile,
) -> impl Iterator<Item = (&'static str, &'static [(&'static str, String)])> {
    catalog(profile)
        .iter()
        .map(|s| (s.name, s.labels.as_slice()))
}

/// The value of series `series` (an index into [`series`]) of agent `n` (from 1) at tick
/// `tick` (from 1) stamped `ts_ms`: what a simulated agent would have buffered.
pub fn sample_value(config: &SimConfig, n: usize, series: usize, tick: u64, ts_ms: i64) -> f64 {
    catalog::value(
        config.profile,
        config.seed,
        config.interval.as_secs_f64(),
        n,
        series,
        tick,
        ts_ms,
    )
}

/// Simulated agents with their series interned, ready to serve.
pub struct Simulation {
    config: SimConfig,
    registry: Arc<Registry>,
    /// Per agent: its entry, the buffer index of each series of its profile, and the ticks
    /// of its earlier lives (its tick numbers go on from there).
    agents: Vec<(Arc<AgentEntry>, Vec<Option<SeriesIdx>>, u64)>,
}

/// The key under which a durable simulated agent keeps its last tick.
const TICK_KEY: &str = "sim_tick";

impl Simulation {
    /// Builds `config.agents` simulated agents in memory (`state_dir` is for [`Self::open`]).
    pub fn new(config: SimConfig, max_poll_samples: usize) -> Self {
        let config = SimConfig {
            state_dir: None,
            ..config
        };
        Self::open(config, max_poll_samples).expect("buffers in memory always open")
    }

    /// Builds `config.agents` simulated agents, resuming their buffers and ticks from
    /// `state_dir` when it is set.
    pub fn open(config: SimConfig, max_poll_samples: usize) -> std::io::Result<Self> {
        let mut registry = Registry::new(max_poll_samples);
        let mut agents = Vec::with_capacity(config.agents);
        for n in 1..=config.agents {
            let id = agent_id(&config.prefix, n);
            let ttl = Duration::from_secs(600);
            let mut buffer = match &config.state_dir {
                None => SampleBuffer::new(config.buffer_capacity, ttl),
                Some(dir) => SampleBuffer::durable(
                    config.buffer_capacity,
                    ttl,
                    crate::buffer::journal::JournalConfig {
                        dir: dir.join(&id),
                        max_bytes: 64 << 20,
                        segment_bytes: 1 << 20,
                    },
                )?,
            };
            let ticked = buffer
                .kept_state(TICK_KEY)
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
            let idx = catalog(config.profile)
                .iter()
                .map(|spec| {
                    let map: LabelMap = spec
                        .labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.clone()))
                        .collect::<BTreeMap<_, _>>();
                    buffer.intern(spec.name, &map)
                })
                .collect();
            let entry = registry.add(AgentEntry {
                id: id.clone(),
                hostname: id,
                cpu_count: 2,
                collect_interval_ms: config.interval.as_millis() as u64,
                buffer: Mutex::new(buffer),
                checks: Mutex::default(),
            });
            agents.push((entry, idx, ticked));
        }
        Ok(Self {
            config,
            registry: Arc::new(registry),
            agents,
        })
    }

    /// The registry to serve.
    pub fn registry(&self) -> Arc<Registry> {
        self.registry.clone()
    }

    /// Pushes one tick's samples into every agent's buffer (an agent resumed from disk
    /// numbers it after the ticks of its earlier lives).
    pub fn tick(&self, tick: u64, ts_ms: i64) {
        for (n, (entry, idx, ticked)) in self.agents.iter().enumerate() {
            let tick = ticked + tick;
            let mut buffer = entry.buffer.lock().expect("buffer lock poisoned");
            // a profile's series are pushed every tick, never idle, and few: the dictionary
            // keeps them in one generation (an index refused by a full one stays out)
            for (s, series) in idx.iter().enumerate() {
                if let Some(series) = series {
                    buffer.push(
                        *series,
                        ts_ms,
                        sample_value(&self.config, n + 1, s, tick, ts_ms),
                    );
                }
            }
            if self.config.state_dir.is_some() {
                buffer.keep_state(TICK_KEY, Some(tick.to_string()));
                buffer.commit();
            }
        }
    }

    /// Ticks every interval, with timestamps on interval multiples, until `shutdown`;
    /// returns the number of ticks.
    pub async fn run(self, shutdown: CancellationToken) -> u64 {
        // clamped, so that a huge interval from the command line cannot overflow the clock
        let interval = crate::durations::period(self.config.interval);
        let step = interval.as_millis() as i64;
        // The first multiple of the interval from now on: never before this process started,
        // so that a restarted simulation cannot overwrite its earlier life's last sample.
        let now = strata_proto::now_ms();
        let start_ts = (now + step - 1) / step * step;
        // Each tick fires when its timestamp comes, never before: a sample is never stamped
        // ahead of the clock, so an earlier life's samples all lie before a restart.
        let first = tokio::time::Instant::now() + Duration::from_millis((start_ts - now) as u64);
        let mut ticker = tokio::time::interval_at(first, interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
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
        tick
    }
}

/// Where simulated agents register: brokers, region, join token and the address to poll.
#[derive(Debug, Clone, Default)]
pub struct Registration {
    /// Brokers to register with, `host:port`.
    pub brokers: Vec<String>,
    /// The agents' region.
    pub region: String,
    /// The region's join token, when its brokers ask for one.
    pub token: Option<String>,
    /// Address sub-managers poll (empty: the listener's own).
    pub advertise: String,
}

/// Serves `sim` (agents `<prefix>0001` to `<prefix><agents>`) on `listener` through
/// `transport` (whose certificate names the prefix as its id), registered as `registration`
/// says, and runs its ticks until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    transport: &strata_proto::identity::Transport,
    sim: Simulation,
    (prefix, count): (&str, usize),
    registration: Registration,
    shutdown: CancellationToken,
) -> crate::error::Result<()> {
    let addr = if registration.advertise.is_empty() {
        listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default()
    } else {
        registration.advertise.clone()
    };
    let agents: Vec<(String, String)> = (1..=count)
        .map(|n| (agent_id(prefix, n), addr.clone()))
        .collect();
    for broker in &registration.brokers {
        tokio::spawn(crate::registration::register_loop(
            transport.clone(),
            broker.clone(),
            registration.region.clone(),
            registration.token.clone(),
            agents.clone(),
            shutdown.clone(),
        ));
    }
    let registry = sim.registry();
    // durable buffers are synced each second (memory ones return at once)
    let syncs: Vec<_> = registry
        .iter()
        .map(|e| {
            tokio::spawn(crate::entry::sync_loop(
                e.clone(),
                Duration::from_secs(1),
                shutdown.clone(),
            ))
        })
        .collect();
    let ticks = tokio::spawn(sim.run(shutdown.clone()));
    transport.spawn_reload(shutdown.clone());
    let served = crate::door::serve(
        listener,
        transport,
        registry.clone(),
        None,
        shutdown.clone(),
    )
    .await;
    shutdown.cancel();
    let _ = ticks.await;
    for s in syncs {
        let _ = s.await;
    }
    for e in registry.iter() {
        e.close_buffer();
    }
    served
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn values_are_deterministic_and_in_range() {
        let cfg = SimConfig::default();
        for n in 1..=60 {
            for s in 0..SAMPLES_PER_TICK {
                let a = sample_value(&cfg, n, s, 3, 1_700_000_000_000);
                assert_eq!(a, sample_value(&cfg, n, s, 3, 1_700_000_000_000));
                assert!(a.is_finite() && a >= 0.0, "series {s} agent {n}: {a}");
            }
            let cpu = sample_value(&cfg, n, 0, 3, 1_700_000_000_000);
            assert!(cpu <= 1.0);
        }
        assert!(
            sample_value(&cfg, 13, 0, 1, 0) > 0.95,
            "agent 13 runs critical"
        );
    }

    #[test]
    fn counters_never_decrease() {
        let cfg = SimConfig::default();
        assert_eq!(catalog(Profile::Basic).len(), SAMPLES_PER_TICK);
        let counter = series(Profile::Basic)
            .position(|s| s.0 == "host_network_receive_bytes_total")
            .unwrap();
        let mut last = 0.0;
        for tick in 1..500 {
            let v = sample_value(&cfg, 1, counter, tick, tick as i64 * 5000);
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
        let r = buffer.poll("p", 0, 0, (0, 0), 1000, Instant::now());
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
