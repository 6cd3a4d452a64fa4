//! Notifications, sent from the region: a region cut off from the centre (brokers and
//! super-manager gone) still tells people of its events.
//!
//! Two tasks share an [`outbox::Outbox`]: the planner looks at the open events every
//! [`TICK`], decides by [`plan::Planner`] who is told what, and stores each notification
//! before anything is sent; the sender delivers what is due and records every attempt.
//! When an agent is polled by two members (replicas), only the first of its pollers
//! notifies, so that nobody is told twice.
//!
//! The channels (receivers, routes, silences) can be replaced while it runs ([`book`]): the
//! planner then starts from what it followed, except under routes that changed, whose open
//! events are told again as new.
//!
//! # Layout
//! - [`book`]: the channels in force (`[notify]`, [`crate::config::notify`]), from the config
//!   file or the API.
//! - [`model`]: what receivers are told: the event as shown, and why it is sent.
//! - [`plan`]: the decisions, as a pure function of the open events and the time.
//! - [`outbox`]: notifications kept on disk until delivered or failed.
//! - [`send`]: webhook, Alertmanager, e-mail (SMTP with STARTTLS) and SMS gateway delivery.

pub mod book;
pub mod model;
pub mod outbox;
pub mod plan;
pub mod send;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures::future::join_all;
use strata_tsdb::TableOp;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span, warn};

use crate::assignment::Shares;
use crate::config::notify::{NotifyConfig, ReceiverConfig};
use crate::metrics::SubManagerMetrics;
use crate::state::RegionState;
use book::NotifyBook;
use model::{EventView, Reason};
use outbox::{Outbox, Status};
use plan::{Planner, Tracked};

/// How often the open events are looked at.
pub const TICK: Duration = Duration::from_millis(500);

/// Most deliveries attempted at once.
const PARALLEL: usize = 8;

/// Table key prefix of the tracked (event, route) pairs.
const TRACKED: &str = "nt/";

fn tracked_key(key: &(String, usize)) -> Vec<u8> {
    format!("{TRACKED}{}\0{}", key.0, key.1).into_bytes()
}

/// The channels a notifier works with, and their number in the book.
struct Channels {
    version: u64,
    config: Arc<NotifyConfig>,
    sender: Arc<send::Sender>,
}

/// The notifier of one member.
pub struct Notifier {
    book: Arc<NotifyBook>,
    channels: RwLock<Channels>,
    member: String,
    region: String,
    state: Arc<RegionState>,
    shares: Arc<Shares>,
    metrics: Arc<SubManagerMetrics>,
    outbox: Arc<Mutex<Outbox>>,
}

impl Notifier {
    /// The notifier of member `member`, with the channels of `book` and the deliveries
    /// kept in the region's table.
    pub fn new(
        book: Arc<NotifyBook>,
        member: &str,
        region: &str,
        state: Arc<RegionState>,
        shares: Arc<Shares>,
        metrics: Arc<SubManagerMetrics>,
    ) -> Self {
        let version = book.version();
        let config = book.current();
        let outbox = Outbox::load(state.journal(), &config);
        Self {
            channels: RwLock::new(Channels {
                version,
                sender: Arc::new(send::Sender::new(config.timeout)),
                config,
            }),
            book,
            member: member.to_string(),
            region: region.to_string(),
            state,
            shares,
            metrics,
            outbox: Arc::new(Mutex::new(outbox)),
        }
    }

    /// The channels in force and their sender, taken again from the book when it changed.
    fn channels(&self) -> (u64, Arc<NotifyConfig>, Arc<send::Sender>) {
        let version = self.book.version();
        {
            let c = self.channels.read().expect("channels lock poisoned");
            if c.version == version {
                return (c.version, c.config.clone(), c.sender.clone());
            }
        }
        let config = self.book.current();
        self.outbox
            .lock()
            .expect("outbox lock poisoned")
            .set_limits(&config);
        let mut c = self.channels.write().expect("channels lock poisoned");
        if c.version != version {
            info!(
                receivers = config.receivers.len(),
                routes = config.routes.len(),
                "notification channels changed"
            );
            *c = Channels {
                version,
                sender: Arc::new(send::Sender::new(config.timeout)),
                config,
            };
        }
        (c.version, c.config.clone(), c.sender.clone())
    }

    /// The deliveries, newest first.
    pub fn outbox(&self) -> Arc<Mutex<Outbox>> {
        self.outbox.clone()
    }

    /// Plans and delivers until `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        if self.channels().1.routes.is_empty() {
            info!("no notification routes configured; events notify nobody");
        }
        let sender = tokio::spawn(self.clone().deliver_loop(shutdown.clone()));
        self.plan_loop(shutdown).await;
        let _ = sender.await;
    }

    fn load_tracked(&self) -> Vec<Tracked> {
        match self.state.journal().scan(TRACKED.as_bytes()) {
            Ok(rows) => rows
                .into_iter()
                .filter_map(|(_, v)| serde_json::from_slice(&v).ok())
                .collect(),
            Err(error) => {
                warn!(%error, "reading the notification tracking failed; starting afresh");
                Vec::new()
            }
        }
    }

    /// Whether this member notifies for `agent`: the first of its pollers, or its only one.
    fn notifies_for(&self, share: &crate::assignment::Share, agent: &str) -> bool {
        share
            .get(agent)
            .is_none_or(|t| t.pollers.first().is_none_or(|p| *p == self.member))
    }

    async fn plan_loop(&self, shutdown: CancellationToken) {
        let (mut version, mut config, _) = self.channels();
        let mut planner = Planner::new(&config, self.load_tracked());
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let (v, current, sender) = self.channels();
            if v != version {
                let (kept, dropped) = planner.into_tracked(&config, &current);
                self.keep(&[], &dropped);
                planner = Planner::new(&current, kept);
                (version, config) = (v, current);
            }
            let now = strata_proto::now_ms();
            let share = self.shares.current();
            let mut views = Vec::new();
            let mut held = HashSet::new();
            for e in self.state.open_events() {
                let view = EventView::of(&e, &self.region);
                if !self.notifies_for(&share, &view.host) {
                    continue;
                }
                let silenced = planner.silenced_by(&view, now);
                if silenced != e.silenced_by {
                    self.state
                        .mark_silenced(&view.host, &e.rule, silenced.clone());
                }
                if e.flapping || !silenced.is_empty() {
                    held.insert(view.id.clone());
                }
                views.push(view);
            }
            let plan = planner.plan(&views, &held, now);
            self.keep(&plan.changed, &plan.gone);
            for o in plan.outgoing {
                let Some(receiver) = receiver(&config, &o.receiver) else {
                    continue;
                };
                if o.reason == Reason::Refresh {
                    // best effort: the first post was recorded; Alertmanager only needs
                    // to hear again that the alert still fires
                    let sender = sender.clone();
                    let (member, receiver) = (self.member.clone(), receiver.clone());
                    tokio::spawn(async move {
                        let m = send::Message {
                            reason: o.reason,
                            events: &o.events,
                            member: &member,
                        };
                        if let Err(error) = sender.send(&receiver, &m).await {
                            warn!(receiver = %receiver.name, %error, "refreshing Alertmanager failed");
                        }
                    });
                    continue;
                }
                let d = self.outbox.lock().expect("outbox lock poisoned").push(
                    self.state.journal(),
                    &o.receiver,
                    receiver.kind_name(),
                    o.reason,
                    o.events,
                    now,
                );
                info!(id = %d.id, receiver = %d.receiver, reason = d.reason.name(), events = d.events.len(), "notification queued");
            }
        }
    }

    fn keep(&self, changed: &[Tracked], gone: &[(String, usize)]) {
        let values: Vec<(Vec<u8>, Vec<u8>)> = changed
            .iter()
            .map(|t| {
                (
                    tracked_key(&t.key()),
                    serde_json::to_vec(t).expect("tracking serializes"),
                )
            })
            .collect();
        let gone: Vec<Vec<u8>> = gone.iter().map(tracked_key).collect();
        let ops: Vec<TableOp<'_>> = values
            .iter()
            .map(|(k, v)| TableOp::Put(k, v))
            .chain(gone.iter().map(|k| TableOp::Delete(k)))
            .collect();
        if ops.is_empty() {
            return;
        }
        if let Err(error) = self.state.journal().write_table(&ops) {
            warn!(%error, "storing the notification tracking failed");
        }
    }

    async fn deliver_loop(self: Arc<Self>, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(Duration::from_millis(250));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let (_, config, sender) = self.channels();
            let in_flight_ms = (config.timeout.as_millis() as i64) * 2;
            let now = strata_proto::now_ms();
            let due = {
                let mut outbox = self.outbox.lock().expect("outbox lock poisoned");
                self.metrics
                    .notifications_pending
                    .store(outbox.pending() as u64, Ordering::Relaxed);
                outbox.take_due(now, in_flight_ms, PARALLEL)
            };
            if due.is_empty() {
                continue;
            }
            let (me, config) = (&self, &config);
            let attempts = due.iter().map(|d| {
                let span = info_span!("notify", id = %d.id, receiver = %d.receiver, reason = d.reason.name());
                let sender = sender.clone();
                async move {
                    let outcome = match receiver(config, &d.receiver) {
                        None => Err(format!(
                            "receiver '{}' is no longer configured",
                            d.receiver
                        )),
                        Some(r) => {
                            let m = send::Message {
                                reason: d.reason,
                                events: &d.events,
                                member: &me.member,
                            };
                            sender.send(r, &m).await
                        }
                    };
                    (d.id.clone(), outcome)
                }
                .instrument(span)
            });
            let outcomes: HashMap<String, Result<(), String>> =
                join_all(attempts).await.into_iter().collect();
            let now = strata_proto::now_ms();
            let mut outbox = self.outbox.lock().expect("outbox lock poisoned");
            for (id, outcome) in outcomes {
                self.metrics
                    .notification_attempts
                    .fetch_add(1, Ordering::Relaxed);
                let error = outcome.as_ref().err().cloned();
                match outbox.finish(self.state.journal(), &id, outcome, now) {
                    Status::Sent => {
                        self.metrics
                            .notifications_sent
                            .fetch_add(1, Ordering::Relaxed);
                        info!(%id, "notification delivered");
                    }
                    Status::Failed => {
                        self.metrics
                            .notifications_failed
                            .fetch_add(1, Ordering::Relaxed);
                        warn!(%id, error = %error.unwrap_or_default(), "notification failed for good; recorded");
                    }
                    Status::Pending => {
                        warn!(%id, error = %error.unwrap_or_default(), "notification attempt failed; retried later")
                    }
                }
            }
        }
    }
}

/// The receiver named `name` in `config`.
fn receiver<'a>(config: &'a NotifyConfig, name: &str) -> Option<&'a ReceiverConfig> {
    config.receivers.iter().find(|r| r.name == name)
}
