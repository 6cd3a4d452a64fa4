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
}

/// The figures of every agent this member polls, by agent id.
#[derive(Debug, Default)]
pub struct Polled {
    by_agent: Mutex<HashMap<String, Figures>>,
}

impl Polled {
    /// Records the figures of `agent`'s poll that just succeeded.
    pub fn record(&self, agent: &str, figures: Figures) {
        self.by_agent
            .lock()
            .expect("polled lock poisoned")
            .insert(agent.to_string(), figures);
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
