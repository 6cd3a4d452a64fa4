//! What this member's last poll of each agent saw: the agent's buffer (samples held, its
//! capacity, samples dropped when full) and how much came, so that operators see an agent
//! filling up — a poller falling behind, or cut off — before it drops anything.
//!
//! Kept in memory only: the figures change on every poll, and the next poll tells them again.

use std::collections::HashMap;
use std::sync::Mutex;

use strata_proto::v1::{AgentInfo, BufferStats};

use crate::assignment::Share;

/// One agent's figures from its last successful poll by this member.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    pub buffer: Option<BufferStats>,
    pub polled_ms: i64,
    pub samples: u64,
    pub series: u64,
    /// From the collection of the poll's oldest sample to its storage.
    pub lag_ms: i64,
    /// The poll interval it was polled on.
    pub poll_interval_ms: i64,
    /// Series of its dictionary not stored, by limit.
    pub over_limits: crate::ingest::OverLimits,
    /// Samples of the poll not stored (their series were not).
    pub skipped: u64,
}

/// What the limits left out, over every agent polled here.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// Agents with any series left out here.
    pub agents: u64,
    /// Series past the per-agent series limit, the label limit and the hourly limit.
    pub series: u64,
    pub labels: u64,
    pub new_series: u64,
    /// New series the agents refused themselves (their own `max_series`), since they started.
    pub refused_by_agents: u64,
}

/// The figures of every agent this member polls, by agent id.
#[derive(Debug, Default)]
pub struct Polled {
    by_agent: Mutex<HashMap<String, Figures>>,
}

impl Polled {
    /// Records the figures of `agent`'s poll that just succeeded (its skipped samples added
    /// to those of the polls before).
    pub fn record(&self, agent: &str, mut figures: Figures) {
        let mut by_agent = self.by_agent.lock().expect("polled lock poisoned");
        if let Some(before) = by_agent.get(agent) {
            figures.skipped += before.skipped;
        }
        by_agent.insert(agent.to_string(), figures);
    }

    /// What the limits left out, over every agent polled here.
    pub fn limited(&self) -> Limited {
        let by_agent = self.by_agent.lock().expect("polled lock poisoned");
        let mut out = Limited::default();
        for f in by_agent.values() {
            let o = f.over_limits;
            out.agents += u64::from(o.series + o.labels + o.new_series > 0);
            out.series += o.series;
            out.labels += o.labels;
            out.new_series += o.new_series;
            out.refused_by_agents += f.buffer.map_or(0, |b| b.series_refused_total);
        }
        out
    }

    /// Forgets `agent` (no longer polled here).
    pub fn forget(&self, agent: &str) {
        self.by_agent
            .lock()
            .expect("polled lock poisoned")
            .remove(agent);
    }

    /// Every agent of `share` as member `member` sees it, by id.
    pub fn list(&self, share: &Share, member: &str) -> Vec<AgentInfo> {
        let by_agent = self.by_agent.lock().expect("polled lock poisoned");
        share
            .iter()
            .map(|(id, target)| {
                let f = by_agent.get(id).cloned().unwrap_or_default();
                AgentInfo {
                    agent_id: id.clone(),
                    address: target.address.clone(),
                    member_id: member.to_string(),
                    pollers: target.pollers.clone(),
                    buffer: f.buffer,
                    polled_ms: f.polled_ms,
                    samples: f.samples,
                    series: f.series,
                    lag_ms: f.lag_ms,
                    poll_interval_ms: f.poll_interval_ms,
                    series_over_limit: f.over_limits.series,
                    series_over_label_limit: f.over_limits.labels,
                    series_over_hourly_limit: f.over_limits.new_series,
                    samples_dropped_total: f.skipped,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assignment::Target;

    #[test]
    fn agents_of_the_share_are_listed_with_their_last_figures() {
        let polled = Polled::default();
        let share: Share = [
            (
                "a".to_string(),
                Target {
                    address: "h:1".into(),
                    pollers: vec!["m1".into(), "m2".into()],
                },
            ),
            (
                "b".to_string(),
                Target {
                    address: "h:2".into(),
                    pollers: Vec::new(),
                },
            ),
        ]
        .into();
        let buffer = BufferStats {
            capacity: 100,
            len: 40,
            dropped_total: 3,
            ..Default::default()
        };
        polled.record(
            "a",
            Figures {
                buffer: Some(buffer),
                polled_ms: 5,
                samples: 12,
                series: 7,
                lag_ms: 900,
                poll_interval_ms: 5000,
                ..Figures::default()
            },
        );
        polled.record("gone", Figures::default());
        polled.forget("gone");
        let list = polled.list(&share, "m1");
        assert_eq!(list.len(), 2);
        assert_eq!(
            (
                list[0].agent_id.as_str(),
                list[0].samples,
                list[0].buffer.unwrap().len
            ),
            ("a", 12, 40)
        );
        assert_eq!(list[0].pollers, ["m1", "m2"]);
        assert_eq!((list[0].lag_ms, list[0].poll_interval_ms), (900, 5000));
        assert_eq!((list[1].agent_id.as_str(), list[1].polled_ms), ("b", 0));
        assert!(list[1].buffer.is_none(), "not polled yet");
    }
}
