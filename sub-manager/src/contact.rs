//! Whether this member still hears anyone, before it calls an agent unreachable.
//!
//! A poll that fails says only that the agent and this member no longer talk: the agent may
//! be down, or this member's own link may be cut. Cut off, a member would call every agent
//! of its share down while another member polls them fine, and the region would raise an
//! incident for each. So a failed poll takes an agent down only when something else answered
//! this member lately (a broker's heartbeat, another agent's poll); a member that hears no
//! one holds its judgements until something answers. A region whose brokers are unreachable
//! still judges its agents, as long as some of them answer; a member with no brokers
//! configured has nothing to compare with and judges as before.

use std::sync::atomic::{AtomicI64, Ordering};

use crate::config::SubManagerConfig;

/// When this member last heard an answer from anyone.
#[derive(Debug)]
pub struct Contact {
    last_ms: AtomicI64,
    /// Silent this long, the member hears no one.
    window_ms: i64,
    /// Whether there are brokers to hear from (without, no judgement is held).
    brokers: bool,
}

impl Contact {
    /// Contact as of `now_ms`, judged over the longer of a poll interval and a poll timeout,
    /// plus a heartbeat interval.
    pub fn new(config: &SubManagerConfig, now_ms: i64) -> Self {
        let poll = &config.poll;
        let window = poll.interval.max(poll.timeout) + config.heartbeat_interval;
        Self {
            last_ms: AtomicI64::new(now_ms),
            window_ms: window.as_millis() as i64,
            brokers: !config.brokers.is_empty(),
        }
    }

    /// Something answered at `now_ms`.
    pub fn heard(&self, now_ms: i64) {
        self.last_ms.fetch_max(now_ms, Ordering::Relaxed);
    }

    /// Whether nothing has answered this member for longer than its window, at `now_ms`.
    pub fn alone(&self, now_ms: i64) -> bool {
        self.brokers && now_ms - self.last_ms.load(Ordering::Relaxed) > self.window_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn config(brokers: &[&str]) -> SubManagerConfig {
        let mut c = SubManagerConfig {
            brokers: brokers.iter().map(|b| b.to_string()).collect(),
            heartbeat_interval: Duration::from_millis(500),
            ..SubManagerConfig::default()
        };
        c.poll.interval = Duration::from_secs(5);
        c.poll.timeout = Duration::from_secs(3);
        c
    }

    #[test]
    fn a_member_is_alone_once_nothing_answered_for_its_window() {
        let contact = Contact::new(&config(&["10.0.0.1:7600"]), 1_000);
        assert!(!contact.alone(1_000 + 5_500), "within interval + heartbeat");
        assert!(contact.alone(1_000 + 5_501));
        contact.heard(7_000);
        assert!(!contact.alone(7_000 + 5_000));
        // an older answer never moves the last one back
        contact.heard(2_000);
        assert!(!contact.alone(7_000 + 5_500));
    }

    #[test]
    fn without_brokers_no_judgement_is_held() {
        let contact = Contact::new(&config(&[]), 0);
        assert!(!contact.alone(1_000_000));
    }
}
