//! How agents are polled, and how much of each one is stored (`[poll]`).

use std::time::Duration;

use serde::Deserialize;

/// How agents are polled.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PollConfig {
    /// Time between two polls of an agent (default 5 s).
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Timeout of one poll call, connection included (default 3 s).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Most poll calls in flight at once (default 64).
    pub concurrency: usize,
    /// Most samples asked for in one call (default 20,000).
    pub max_samples: u32,
    /// Longest wait between polls of an agent that keeps failing (default 60 s).
    #[serde(with = "humantime_serde")]
    pub backoff_max: Duration,
    /// Consecutive failed polls before an agent is down (default 2).
    pub down_after_failures: u32,
    /// Most series stored of one agent (default 50,000): the agent's series past it are
    /// not stored, and counted, so that one agent cannot fill the store for the others.
    pub max_series_per_agent: u32,
    /// Most labels of one series (default 30, the `agent` label included): a series with
    /// more is not stored, and counted.
    pub max_labels_per_series: u32,
    /// Most series one agent adds to the store in an hour (default 20,000): an agent whose
    /// series churn cannot fill the region's `max_series` for the others. Its series past it
    /// are not stored (counted) until its dictionary is sent again after the hour.
    pub max_new_series_per_agent_hour: u32,
    /// Worker threads of the polling runtime, apart from the API's (default 2).
    pub workers: usize,
    /// How much lower than the API's the polling threads' CPU priority is, in nice steps
    /// (default 5; 0: the same): a member short of CPU answers its API first and lets the
    /// polls fall behind, which the agents' buffers absorb.
    pub nice: i32,
}

impl Default for PollConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(3),
            concurrency: 64,
            max_samples: 20_000,
            backoff_max: Duration::from_secs(60),
            down_after_failures: 2,
            max_series_per_agent: 50_000,
            max_labels_per_series: 30,
            max_new_series_per_agent_hour: 20_000,
            workers: 2,
            nice: 5,
        }
    }
}

impl PollConfig {
    /// What is wrong with the section, each problem naming its key.
    pub fn problems(&self) -> Vec<String> {
        let p = self;
        let mut errors = Vec::new();
        if p.interval < Duration::from_millis(100) {
            errors.push(format!(
                "poll.interval: {:?} is below the minimum of 100ms",
                p.interval
            ));
        }
        if p.timeout.is_zero() {
            errors.push("poll.timeout: must be above zero".into());
        }
        if p.concurrency == 0 {
            errors.push("poll.concurrency: must be at least 1".into());
        }
        if !(0..=19).contains(&p.nice) {
            errors.push(format!("poll.nice: {} is not within 0 and 19", p.nice));
        }
        if p.max_samples == 0 {
            errors.push("poll.max_samples: must be at least 1".into());
        }
        if p.workers == 0 {
            errors.push("poll.workers: must be at least 1".into());
        }
        if p.down_after_failures == 0 {
            errors.push("poll.down_after_failures: must be at least 1".into());
        }
        if p.max_series_per_agent == 0
            || p.max_labels_per_series < 2
            || p.max_new_series_per_agent_hour == 0
        {
            errors.push(format!(
            "poll.max_series_per_agent ({}) and poll.max_new_series_per_agent_hour ({}) must be at least 1, poll.max_labels_per_series ({}) at least 2",
            p.max_series_per_agent, p.max_new_series_per_agent_hour, p.max_labels_per_series
        ));
        }
        errors
    }
}
