//! Heartbeats to the brokers, and the view of the region's live members they answer with.
//!
//! Each broker is heartbeaten by its own task. The view used for assignment is the union of
//! the answers received within one lease; when no broker has answered for that long the last
//! view stays in force, so that a region cut off from the centre keeps polling its share.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use strata_proto::v1::{HeartbeatRequest, Member};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::assignment::View;
use crate::metrics::SubManagerMetrics;
use crate::server;

#[derive(Debug, Default)]
struct Answers {
    /// Per broker: when it last answered and the members it listed.
    by_broker: HashMap<String, (Instant, Vec<Member>)>,
    last: View,
}

/// The region's live members, as the brokers say.
#[derive(Debug)]
pub struct MembershipView {
    lease: Duration,
    /// Until then, with brokers configured, polling waits for their first answer (so that
    /// members do not all poll everything for a moment at start).
    settle_until: Option<Instant>,
    answers: Mutex<Answers>,
}

impl MembershipView {
    /// An empty view; with `brokers`, polling waits up to one lease for their first answer,
    /// after which every agent is polled until a broker answers.
    pub fn new(lease: Duration, brokers: bool) -> Self {
        Self {
            lease,
            settle_until: brokers.then(|| Instant::now() + lease),
            answers: Mutex::new(Answers::default()),
        }
    }

    /// Whether polling should still wait for a first broker answer.
    pub fn settling(&self, now: Instant) -> bool {
        let a = self.answers.lock().expect("view lock poisoned");
        a.by_broker.is_empty() && self.settle_until.is_some_and(|t| now < t)
    }

    /// Records a broker's answer.
    pub fn record(&self, broker: &str, members: Vec<Member>, now: Instant) {
        let mut a = self.answers.lock().expect("view lock poisoned");
        a.by_broker.insert(broker.to_string(), (now, members));
    }

    /// The view in force now.
    pub fn current(&self, now: Instant) -> View {
        let mut a = self.answers.lock().expect("view lock poisoned");
        let fresh: Vec<Member> = a
            .by_broker
            .values()
            .filter(|(at, _)| now.saturating_duration_since(*at) < self.lease)
            .flat_map(|(_, members)| members.iter().cloned())
            .collect();
        if !fresh.is_empty() {
            a.last = View::from_members(&fresh);
        }
        a.last.clone()
    }
}

/// Heartbeats `me` to the broker at `addr` every `interval` until `shutdown`.
pub async fn heartbeat_loop(
    addr: String,
    me: Member,
    interval: Duration,
    lease: Duration,
    view: Arc<MembershipView>,
    metrics: Arc<SubManagerMetrics>,
    shutdown: CancellationToken,
) {
    let span = info_span!("heartbeat", broker = %addr, member = %me.id, region = %me.region);
    async move {
        let mut client = match server::broker_client(&addr, interval) {
            Ok(c) => c,
            Err(error) => {
                warn!(%error, "bad broker address; no heartbeats to it");
                return;
            }
        };
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut reachable = None;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let request = HeartbeatRequest {
                member: Some(me.clone()),
                lease_ms: lease.as_millis() as u64,
            };
            match client.heartbeat(request).await {
                Ok(answer) => {
                    let answer = answer.into_inner();
                    debug!(members = answer.region_members.len(), "heartbeat answered");
                    view.record(&addr, answer.region_members, Instant::now());
                    if reachable != Some(true) {
                        info!("broker reachable");
                        reachable = Some(true);
                    }
                }
                Err(status) => {
                    metrics.heartbeat_failures.fetch_add(1, Ordering::Relaxed);
                    if reachable != Some(false) {
                        warn!(error = %status.message(), "broker unreachable; retrying every heartbeat");
                        reachable = Some(false);
                    }
                }
            }
        }
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: &str) -> Member {
        Member {
            id: id.into(),
            healthy: true,
            ..Default::default()
        }
    }

    #[test]
    fn the_view_is_the_union_of_fresh_answers_and_survives_silence() {
        let v = MembershipView::new(Duration::from_secs(3), true);
        let t0 = Instant::now();
        assert!(v.settling(t0));
        assert!(
            !v.settling(t0 + Duration::from_secs(4)),
            "settling ends after one lease"
        );
        assert!(!MembershipView::new(Duration::from_secs(3), false).settling(t0));
        assert!(matches!(v.current(t0), View::Unknown));
        v.record("b1", vec![m("a")], t0);
        v.record("b2", vec![m("a"), m("b")], t0);
        assert!(!v.settling(t0), "a broker answered");
        match v.current(t0) {
            View::Members(ids) => assert_eq!(ids, vec!["a", "b"]),
            other => panic!("{other:?}"),
        }
        v.record("b1", vec![m("a")], t0 + Duration::from_secs(4));
        match v.current(t0 + Duration::from_secs(4)) {
            View::Members(ids) => assert_eq!(ids, vec!["a"], "b2's answer is stale"),
            other => panic!("{other:?}"),
        }
        match v.current(t0 + Duration::from_secs(60)) {
            View::Members(ids) => assert_eq!(
                ids,
                vec!["a"],
                "with every broker silent the last view holds"
            ),
            other => panic!("{other:?}"),
        }
    }
}
