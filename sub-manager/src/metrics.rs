//! The sub-manager's own metrics, served at `/metrics` on `metrics_listen` when it is set.

use std::sync::atomic::{AtomicU64, Ordering};

use strata_proto::telemetry::{Exposition, Histogram};
use strata_tsdb::Tsdb;

use crate::state::RegionState;

/// The bounds of the ingest lag's histogram, in seconds.
pub const LAG_BOUNDS: [f64; 24] = [
    0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.5,
    15.0, 20.0, 30.0, 60.0, 120.0, 300.0,
];

/// Counters of the sub-manager's work.
#[derive(Debug)]
pub struct SubManagerMetrics {
    /// Time from a sample's collection (its timestamp) to its storage here.
    pub ingest_lag: Histogram,
    /// Poll cycles that stored every answer.
    pub polls: AtomicU64,
    /// Poll cycles that failed (agent unreachable, timeout, store error).
    pub poll_failures: AtomicU64,
    /// Poll cycles that started a whole interval or more after they were due: this member
    /// is not keeping up.
    pub polls_late: AtomicU64,
    /// Samples written to the store.
    pub samples_stored: AtomicU64,
    /// Samples skipped (no series in the answer's dictionary, or over the series limit).
    pub samples_skipped: AtomicU64,
    /// Heartbeats no broker answered.
    pub heartbeat_failures: AtomicU64,
    /// Failed polls that did not take their agent down, as no one else answered this member.
    pub judgements_held: AtomicU64,
    /// Shares recomputed among the members while no broker answered.
    pub peer_takeovers: AtomicU64,
    /// Peers answering now while no broker answers (0 while the brokers decide).
    pub peers_live: AtomicU64,
    /// Assignments received from brokers.
    pub assignments: AtomicU64,
    /// Agents in this member's share now.
    pub assigned_agents: AtomicU64,
    /// Notifications delivered.
    pub notifications_sent: AtomicU64,
    /// Notifications recorded as failed after their last attempt.
    pub notifications_failed: AtomicU64,
    /// Delivery attempts, successful or not.
    pub notification_attempts: AtomicU64,
    /// Notifications waiting for delivery now.
    pub notifications_pending: AtomicU64,
    /// Recovery actions asked of agents.
    pub actions_run: AtomicU64,
}

impl Default for SubManagerMetrics {
    fn default() -> Self {
        Self {
            ingest_lag: Histogram::new(&LAG_BOUNDS),
            polls: AtomicU64::default(),
            poll_failures: AtomicU64::default(),
            polls_late: AtomicU64::default(),
            samples_stored: AtomicU64::default(),
            samples_skipped: AtomicU64::default(),
            heartbeat_failures: AtomicU64::default(),
            judgements_held: AtomicU64::default(),
            peer_takeovers: AtomicU64::default(),
            peers_live: AtomicU64::default(),
            assignments: AtomicU64::default(),
            assigned_agents: AtomicU64::default(),
            notifications_sent: AtomicU64::default(),
            notifications_failed: AtomicU64::default(),
            notification_attempts: AtomicU64::default(),
            notifications_pending: AtomicU64::default(),
            actions_run: AtomicU64::default(),
        }
    }
}

fn count(c: &AtomicU64) -> f64 {
    c.load(Ordering::Relaxed) as f64
}

/// What else the sub-manager's metrics are read from: remote write out and in, and the
/// polled agents' figures (what the per-agent limits left out).
pub struct Flows<'a> {
    pub forwarding: &'a crate::forward::Forwarding,
    pub receiver: &'a crate::receive::Receiver,
    pub polled: &'a crate::agents::Polled,
    /// The WatchRegion streams.
    pub watchers: &'a crate::state::watch::Subscribers,
}

/// Renders the sub-manager's metrics, remote write's among them.
pub fn render(m: &SubManagerMetrics, state: &RegionState, tsdb: &Tsdb, flows: Flows<'_>) -> String {
    let summary = state.summary();
    let mut e = Exposition::new();
    e.build_info("sub_manager", env!("CARGO_PKG_VERSION"));
    e.single(
        "strata_sub_manager_polls_total",
        "counter",
        "Poll cycles that stored every answer.",
        count(&m.polls),
    );
    e.single(
        "strata_sub_manager_poll_failures_total",
        "counter",
        "Poll cycles that failed.",
        count(&m.poll_failures),
    );
    e.single(
        "strata_sub_manager_samples_stored_total",
        "counter",
        "Samples written to the store.",
        count(&m.samples_stored),
    );
    e.single(
        "strata_sub_manager_polls_late_total",
        "counter",
        "Poll cycles that started a whole interval or more after they were due (not keeping up).",
        count(&m.polls_late),
    );
    e.histogram(
        "strata_sub_manager_ingest_lag_seconds",
        "Time from a sample's collection (its timestamp) to its storage here: above the poll interval, polling falls behind.",
        &m.ingest_lag,
    );
    e.single(
        "strata_sub_manager_samples_skipped_total",
        "counter",
        "Samples skipped for want of a storable series.",
        count(&m.samples_skipped),
    );
    let limited = flows.polled.limited();
    for (name, help, value) in [
        (
            "strata_sub_manager_agents_over_limits",
            "Agents polled here with series left out by their limits (poll.max_series_per_agent, max_labels_per_series, max_new_series_per_agent_hour).",
            limited.agents,
        ),
        (
            "strata_sub_manager_series_over_agent_limit",
            "Series of the agents polled here not stored: past poll.max_series_per_agent.",
            limited.series,
        ),
        (
            "strata_sub_manager_series_over_label_limit",
            "Series of the agents polled here not stored: more labels than poll.max_labels_per_series.",
            limited.labels,
        ),
        (
            "strata_sub_manager_series_over_hourly_limit",
            "Series of the agents polled here not stored: new to the store past poll.max_new_series_per_agent_hour.",
            limited.new_series,
        ),
        (
            "strata_sub_manager_agent_series_refused",
            "New series the agents polled here refused themselves (their max_series), as their last poll said.",
            limited.refused_by_agents,
        ),
    ] {
        e.single(name, "gauge", help, value as f64);
    }
    let w = flows.watchers;
    e.single(
        "strata_sub_manager_watch_streams",
        "gauge",
        "WatchRegion streams open (at most watch.max_subscribers).",
        w.open() as f64,
    );
    e.single(
        "strata_sub_manager_watch_refused_total",
        "counter",
        "WatchRegion calls refused: watch.max_subscribers streams were open.",
        count(&w.refused),
    );
    e.single(
        "strata_sub_manager_watch_stalled_total",
        "counter",
        "WatchRegion streams ended: the subscriber left an update unread for watch.stall_timeout.",
        count(&w.stalled),
    );
    e.single(
        "strata_sub_manager_heartbeat_failures_total",
        "counter",
        "Heartbeats that a broker did not answer.",
        count(&m.heartbeat_failures),
    );
    e.single(
        "strata_sub_manager_judgements_held_total",
        "counter",
        "Failed polls that took no agent down, as no broker and no other agent answered.",
        count(&m.judgements_held),
    );
    e.single(
        "strata_sub_manager_peer_takeovers_total",
        "counter",
        "Shares recomputed among the region's members while no broker answered.",
        count(&m.peer_takeovers),
    );
    e.single(
        "strata_sub_manager_peers_live",
        "gauge",
        "Peers answering while no broker answers (0 while the brokers decide).",
        count(&m.peers_live),
    );
    e.single(
        "strata_sub_manager_assignments_total",
        "counter",
        "Assignments received from brokers.",
        count(&m.assignments),
    );
    e.single(
        "strata_sub_manager_assigned_agents",
        "gauge",
        "Agents in this member's share.",
        count(&m.assigned_agents),
    );
    for (name, kind, help, v) in [
        (
            "strata_sub_manager_notifications_sent_total",
            "counter",
            "Notifications delivered.",
            &m.notifications_sent,
        ),
        (
            "strata_sub_manager_notifications_failed_total",
            "counter",
            "Notifications recorded as failed after their last attempt.",
            &m.notifications_failed,
        ),
        (
            "strata_sub_manager_notification_attempts_total",
            "counter",
            "Notification delivery attempts.",
            &m.notification_attempts,
        ),
        (
            "strata_sub_manager_notifications_pending",
            "gauge",
            "Notifications waiting for delivery.",
            &m.notifications_pending,
        ),
        (
            "strata_sub_manager_actions_total",
            "counter",
            "Recovery actions asked of agents.",
            &m.actions_run,
        ),
    ] {
        e.single(name, kind, help, count(v));
    }
    e.single(
        "strata_sub_manager_series",
        "gauge",
        "Series in the store.",
        tsdb.series_count() as f64,
    );
    e.single(
        "strata_sub_manager_journal_seq",
        "gauge",
        "Sequence of the newest journaled change.",
        state.seq() as f64,
    );
    e.single(
        "strata_sub_manager_journal_errors_total",
        "counter",
        "Changes of the region's state that could not be journaled.",
        state.journal_errors() as f64,
    );
    e.family(
        "strata_sub_manager_resources",
        "gauge",
        "Resources reported by this member, by state.",
    );
    for (s, n) in [
        ("up", summary.resources_up),
        ("down", summary.resources_down),
        ("unknown", summary.resources_unknown),
    ] {
        e.sample(
            "strata_sub_manager_resources",
            &[("state", s)],
            f64::from(n),
        );
    }
    e.family(
        "strata_sub_manager_open_events",
        "gauge",
        "Open events, by severity.",
    );
    for (s, n) in [
        ("warning", summary.events_warning),
        ("critical", summary.events_critical),
    ] {
        e.sample(
            "strata_sub_manager_open_events",
            &[("severity", s)],
            f64::from(n),
        );
    }
    flows.forwarding.render(&mut e, tsdb);
    flows.receiver.render(&mut e);
    e.finish()
}
