//! Notifications to deliver, kept on disk from the moment they are decided: each is tried
//! until delivered, waiting twice as long after every failure, and after `max_attempts`
//! recorded as failed with its last error — never dropped silently. Delivered and failed
//! ones are kept (up to `history`) for the API.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use strata_proto::v1::Notification;
use strata_tsdb::{Journal, TableOp};
use tracing::warn;

use super::model::{EventView, Reason};
use crate::config::notify::NotifyConfig;

/// Table key prefix of the deliveries.
const PREFIX: &str = "nd/";

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Sent,
    Failed,
}

/// One notification to one receiver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: String,
    pub receiver: String,
    pub kind: String,
    pub reason: Reason,
    pub events: Vec<EventView>,
    pub status: Status,
    pub attempts: u32,
    pub last_error: String,
    pub created_ms: i64,
    pub next_attempt_ms: i64,
    pub done_ms: i64,
}

impl Delivery {
    /// As the API shows it.
    pub fn to_proto(&self, member: &str) -> Notification {
        Notification {
            id: self.id.clone(),
            receiver: self.receiver.clone(),
            kind: self.kind.clone(),
            events: self.events.iter().map(|e| e.id.clone()).collect(),
            reason: self.reason.name().into(),
            status: match self.status {
                Status::Pending => "pending",
                Status::Sent => "sent",
                Status::Failed => "failed",
            }
            .into(),
            attempts: self.attempts,
            last_error: self.last_error.clone(),
            created_ms: self.created_ms,
            next_attempt_ms: self.next_attempt_ms,
            done_ms: self.done_ms,
            member_id: member.to_string(),
        }
    }
}

/// The deliveries, in memory and in the region's table.
#[derive(Debug)]
pub struct Outbox {
    /// By id (created time, then a counter: oldest first).
    all: BTreeMap<String, Delivery>,
    counter: u64,
    history: usize,
    max_attempts: u32,
    max_backoff_ms: i64,
}

impl Outbox {
    /// The deliveries kept in `journal`, with the limits of `config`.
    pub fn load(journal: &Journal, config: &NotifyConfig) -> Self {
        let mut all = BTreeMap::new();
        match journal.scan(PREFIX.as_bytes()) {
            Ok(rows) => {
                for (key, value) in rows {
                    match serde_json::from_slice::<Delivery>(&value) {
                        Ok(d) => {
                            all.insert(d.id.clone(), d);
                        }
                        Err(error) => {
                            warn!(key = %String::from_utf8_lossy(&key), %error, "unreadable notification record skipped")
                        }
                    }
                }
            }
            Err(error) => warn!(%error, "reading the notification records failed"),
        }
        let mut outbox = Self {
            all,
            counter: 0,
            history: 0,
            max_attempts: 0,
            max_backoff_ms: 0,
        };
        outbox.set_limits(config);
        outbox
    }

    /// Takes the history bound, attempts and longest wait of `config`.
    pub fn set_limits(&mut self, config: &NotifyConfig) {
        self.history = config.history;
        self.max_attempts = config.max_attempts;
        self.max_backoff_ms = config.max_backoff.as_millis() as i64;
    }

    fn store(journal: &Journal, d: &Delivery) {
        let key = format!("{PREFIX}{}", d.id);
        let value = serde_json::to_vec(d).expect("a delivery serializes");
        if let Err(error) = journal.write_table(&[TableOp::Put(key.as_bytes(), &value)]) {
            warn!(%error, id = %d.id, "storing a notification record failed");
        }
    }

    /// Adds a pending delivery, stored at once.
    pub fn push(
        &mut self,
        journal: &Journal,
        receiver: &str,
        kind: &str,
        reason: Reason,
        events: Vec<EventView>,
        now_ms: i64,
    ) -> Delivery {
        self.counter += 1;
        let d = Delivery {
            id: format!("{now_ms:016}-{:06}", self.counter % 1_000_000),
            receiver: receiver.to_string(),
            kind: kind.to_string(),
            reason,
            events,
            status: Status::Pending,
            attempts: 0,
            last_error: String::new(),
            created_ms: now_ms,
            next_attempt_ms: now_ms,
            done_ms: 0,
        };
        Self::store(journal, &d);
        self.all.insert(d.id.clone(), d.clone());
        d
    }

    /// Pending deliveries due at `now_ms`, marked as in flight (not due again until
    /// `in_flight_ms` passes, should their outcome never be recorded).
    pub fn take_due(&mut self, now_ms: i64, in_flight_ms: i64, limit: usize) -> Vec<Delivery> {
        let mut out = Vec::new();
        for d in self.all.values_mut() {
            if out.len() >= limit {
                break;
            }
            if d.status == Status::Pending && d.next_attempt_ms <= now_ms {
                d.next_attempt_ms = now_ms + in_flight_ms;
                out.push(d.clone());
            }
        }
        out
    }

    /// Records an attempt's outcome: sent, or failed with `error` (retried after a backoff,
    /// or failed for good after the last attempt).
    pub fn finish(
        &mut self,
        journal: &Journal,
        id: &str,
        outcome: Result<(), String>,
        now_ms: i64,
    ) -> Status {
        let Some(d) = self.all.get_mut(id) else {
            return Status::Failed;
        };
        d.attempts += 1;
        match outcome {
            Ok(()) => {
                d.status = Status::Sent;
                d.done_ms = now_ms;
                d.last_error.clear();
            }
            Err(error) => {
                d.last_error = error;
                if d.attempts >= self.max_attempts {
                    d.status = Status::Failed;
                    d.done_ms = now_ms;
                } else {
                    let wait = 1000i64 << (d.attempts - 1).min(20);
                    d.next_attempt_ms = now_ms + wait.min(self.max_backoff_ms);
                }
            }
        }
        let status = d.status;
        let d = d.clone();
        Self::store(journal, &d);
        self.trim(journal);
        status
    }

    /// Deletes the oldest finished deliveries beyond the history bound.
    fn trim(&mut self, journal: &Journal) {
        let done: Vec<String> = self
            .all
            .values()
            .filter(|d| d.status != Status::Pending)
            .map(|d| d.id.clone())
            .collect();
        if done.len() <= self.history {
            return;
        }
        for id in &done[..done.len() - self.history] {
            self.all.remove(id);
            let key = format!("{PREFIX}{id}");
            if let Err(error) = journal.write_table(&[TableOp::Delete(key.as_bytes())]) {
                warn!(%error, %id, "deleting an old notification record failed");
            }
        }
    }

    /// The deliveries, newest first, at most `limit`.
    pub fn newest(&self, limit: usize) -> Vec<Delivery> {
        self.all.values().rev().take(limit).cloned().collect()
    }

    /// How many are pending.
    pub fn pending(&self) -> usize {
        self.all
            .values()
            .filter(|d| d.status == Status::Pending)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Limits keeping `history` finished deliveries, 3 attempts, waits up to a minute.
    fn limits(history: usize) -> NotifyConfig {
        NotifyConfig {
            history,
            max_attempts: 3,
            max_backoff: std::time::Duration::from_secs(60),
            ..NotifyConfig::default()
        }
    }

    #[test]
    fn a_delivery_is_retried_with_backoff_then_failed_and_kept_across_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path(), 1000).unwrap();
        let mut o = Outbox::load(&journal, &limits(10));
        let d = o.push(&journal, "hook", "webhook", Reason::Firing, Vec::new(), 0);
        assert_eq!(o.take_due(0, 30_000, 10).len(), 1);
        assert!(o.take_due(0, 30_000, 10).is_empty(), "in flight");
        assert_eq!(
            o.finish(&journal, &d.id, Err("500".into()), 0),
            Status::Pending
        );
        assert!(o.take_due(999, 30_000, 10).is_empty(), "waits 1 s");
        assert_eq!(o.take_due(1000, 30_000, 10).len(), 1);
        o.finish(&journal, &d.id, Err("500".into()), 1000);
        assert!(o.take_due(2999, 30_000, 10).is_empty(), "then 2 s");
        assert_eq!(o.take_due(3000, 30_000, 10).len(), 1);
        assert_eq!(
            o.finish(&journal, &d.id, Err("503 again".into()), 3000),
            Status::Failed
        );
        let again = Outbox::load(&journal, &limits(10));
        let kept = &again.newest(10)[0];
        assert_eq!((kept.status, kept.attempts), (Status::Failed, 3));
        assert_eq!(kept.last_error, "503 again");
        assert_eq!(again.pending(), 0);
    }

    #[test]
    fn finished_deliveries_beyond_the_history_are_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path(), 1000).unwrap();
        let mut o = Outbox::load(&journal, &limits(2));
        for t in 0..4 {
            let d = o.push(&journal, "hook", "webhook", Reason::Firing, Vec::new(), t);
            o.finish(&journal, &d.id, Ok(()), t);
        }
        let pending = o.push(&journal, "hook", "webhook", Reason::Firing, Vec::new(), 9);
        let kept: Vec<i64> = Outbox::load(&journal, &limits(2))
            .newest(10)
            .iter()
            .map(|d| d.created_ms)
            .collect();
        assert_eq!(kept, [9, 3, 2]);
        assert_eq!(o.newest(1)[0].id, pending.id);
    }
}
