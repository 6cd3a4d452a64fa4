//! Remote write out: the region's samples forwarded to the distributed stores users run
//! (Mimir, Cortex, Thanos Receive, VictoriaMetrics) with Prometheus remote write 1.0.
//!
//! The store is the queue. Every write is kept a second time in the store's outbox, in the
//! same atomic batch (see `strata_tsdb::db::outbox`), and each destination keeps a durable
//! cursor over it: a receiver down for a day, this process killed or restarted, resumes
//! where its cursor stopped, and memory holds one batch per destination whatever the
//! backlog. A batch is read after the cursor, split into shards by series (a series always
//! goes through the same shard, so its samples arrive in order), sent, retried with backoff
//! on network errors, 5xx and 429 (honouring `Retry-After`), dropped (counted) only on a 4xx
//! that will never pass; the cursor moves once every shard is done. Delivery is at least
//! once: after a kill the batch in flight is sent again, and receivers deduplicate.
//!
//! With several members in a region each forwards what it stored itself: a handover leaves
//! no gap. Samples older than `max_backlog` are dropped unsent (counted) so that a
//! destination gone for good cannot fill the disk.
//!
//! - `encode`: records into remote-write requests (labels, relabelling, snappy).
//! - `send`: one request, its outcome classified.
//! - `tests`: a forwarder against a receiver answering 429, 503 and 400 as told.

mod encode;
mod send;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use strata_proto::telemetry::Exposition;
use strata_proto::v1::ForwardingDestination;
use strata_tsdb::Tsdb;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span, warn};

use crate::config::remote_write::RemoteWriteConfig;
use crate::error::{Result, SubManagerError};
use encode::Encoder;
use send::{Outcome, Sender};

/// How often an idle forwarder looks for new records.
const IDLE_POLL: Duration = Duration::from_millis(500);
/// How often records every destination has passed are deleted.
const TRIM_EVERY: Duration = Duration::from_secs(5);

/// What one destination has done, for `/metrics` and the admin page.
#[derive(Debug, Default)]
pub struct DestinationStats {
    /// Samples the receiver accepted.
    pub sent: AtomicU64,
    /// Requests that failed (each attempt).
    pub failed: AtomicU64,
    /// Requests sent again after a failure.
    pub retried: AtomicU64,
    /// Samples the receiver refused for good (4xx).
    pub dropped_rejected: AtomicU64,
    /// Samples older than `max_backlog`, dropped unsent.
    pub dropped_expired: AtomicU64,
    /// Samples that relabelling dropped.
    pub filtered: AtomicU64,
    /// The last record delivered.
    pub cursor: AtomicU64,
    /// Ingest time of the oldest record not delivered yet (0 when caught up).
    pub oldest_pending_ms: AtomicI64,
    /// Milliseconds since the epoch of the last success (0 before the first).
    pub last_success_ms: AtomicI64,
}

/// A metric family of the destinations: name, type, help, and its value of a view.
type Family = (
    &'static str,
    &'static str,
    &'static str,
    fn(&ForwardingDestination) -> f64,
);

/// Every destination's figures.
#[derive(Debug, Default)]
pub struct Forwarding {
    destinations: Vec<(RemoteWriteConfig, Arc<DestinationStats>)>,
}

impl Forwarding {
    /// The figures of every destination of member `member` now.
    pub fn views(&self, tsdb: &Tsdb, member: &str) -> Vec<ForwardingDestination> {
        let now = strata_proto::now_ms();
        let last = tsdb.outbox_last();
        self.destinations
            .iter()
            .map(|(config, s)| {
                let oldest = s.oldest_pending_ms.load(Ordering::Relaxed);
                ForwardingDestination {
                    member_id: member.to_string(),
                    name: config.name().to_string(),
                    url: crate::config::notify::mask_url(&config.url),
                    sent: s.sent.load(Ordering::Relaxed),
                    failed: s.failed.load(Ordering::Relaxed),
                    retried: s.retried.load(Ordering::Relaxed),
                    dropped: s.dropped_rejected.load(Ordering::Relaxed)
                        + s.dropped_expired.load(Ordering::Relaxed),
                    filtered: s.filtered.load(Ordering::Relaxed),
                    lag_seconds: if oldest > 0 {
                        (now - oldest).max(0) as f64 / 1000.0
                    } else {
                        0.0
                    },
                    pending_records: last.saturating_sub(s.cursor.load(Ordering::Relaxed)),
                    last_success_ms: s.last_success_ms.load(Ordering::Relaxed),
                }
            })
            .collect()
    }

    /// Adds the destinations' metrics to `e`.
    pub fn render(&self, e: &mut Exposition, tsdb: &Tsdb) {
        if self.destinations.is_empty() {
            return;
        }
        let views = self.views(tsdb, "");
        let families: [Family; 6] = [
            (
                "strata_sub_manager_remote_write_samples_sent_total",
                "counter",
                "Samples a remote-write receiver accepted.",
                |v| v.sent as f64,
            ),
            (
                "strata_sub_manager_remote_write_requests_failed_total",
                "counter",
                "Remote-write requests that failed (each attempt).",
                |v| v.failed as f64,
            ),
            (
                "strata_sub_manager_remote_write_requests_retried_total",
                "counter",
                "Remote-write requests sent again after a failure.",
                |v| v.retried as f64,
            ),
            (
                "strata_sub_manager_remote_write_samples_filtered_total",
                "counter",
                "Samples write_relabel dropped.",
                |v| v.filtered as f64,
            ),
            (
                "strata_sub_manager_remote_write_lag_seconds",
                "gauge",
                "Age of the oldest sample not delivered yet (0 when caught up).",
                |v| v.lag_seconds,
            ),
            (
                "strata_sub_manager_remote_write_pending_records",
                "gauge",
                "Writes kept in the outbox that the destination has not received.",
                |v| v.pending_records as f64,
            ),
        ];
        for (name, kind, help, get) in families {
            e.family(name, kind, help);
            for v in &views {
                e.sample(name, &[("destination", &v.name)], get(v));
            }
        }
        let dropped = "strata_sub_manager_remote_write_samples_dropped_total";
        e.family(
            dropped,
            "counter",
            "Samples never delivered: refused for good by the receiver (4xx) or older than max_backlog.",
        );
        for (config, s) in &self.destinations {
            for (reason, counter) in [
                ("rejected", &s.dropped_rejected),
                ("expired", &s.dropped_expired),
            ] {
                e.sample(
                    dropped,
                    &[("destination", config.name()), ("reason", reason)],
                    counter.load(Ordering::Relaxed) as f64,
                );
            }
        }
    }
}

/// Starts a forwarder per destination of `configs` and the outbox's trimmer; they stop on
/// `shutdown`. `region` is the default external label.
pub fn start(
    configs: &[RemoteWriteConfig],
    region: &str,
    tsdb: Arc<Tsdb>,
    tasks: &mut tokio::task::JoinSet<()>,
    shutdown: CancellationToken,
) -> Result<Arc<Forwarding>> {
    let mut forwarding = Forwarding::default();
    if configs.is_empty() {
        // forwarding was turned off: what a past destination left unsent is not kept
        tsdb.outbox_trim(u64::MAX - 1)?;
        return Ok(Arc::new(forwarding));
    }
    for config in configs {
        let stats = Arc::new(DestinationStats::default());
        let cursor = tsdb.outbox_cursor(config.name())?.unwrap_or(0);
        stats.cursor.store(cursor, Ordering::Relaxed);
        let sender = Sender::new(config).map_err(|reason| {
            SubManagerError::ConfigInvalid(strata_proto::config::Problems(vec![format!(
                "remote_write '{}': {reason}",
                config.name()
            )]))
        })?;
        let forwarder = Forwarder {
            encoder: Encoder::new(config, region)?,
            sender,
            config: config.clone(),
            tsdb: tsdb.clone(),
            stats: stats.clone(),
        };
        let span = info_span!("remote_write", destination = %config.name());
        tasks.spawn(forwarder.run(shutdown.clone()).instrument(span));
        forwarding.destinations.push((config.clone(), stats));
    }
    let cursors: Vec<_> = forwarding
        .destinations
        .iter()
        .map(|(_, s)| s.clone())
        .collect();
    tasks.spawn(trim_loop(tsdb, cursors, shutdown));
    Ok(Arc::new(forwarding))
}

/// Deletes the records every destination has delivered, every [`TRIM_EVERY`].
async fn trim_loop(
    tsdb: Arc<Tsdb>,
    stats: Vec<Arc<DestinationStats>>,
    shutdown: CancellationToken,
) {
    let mut ticker = tokio::time::interval(TRIM_EVERY);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let upto = stats
            .iter()
            .map(|s| s.cursor.load(Ordering::Relaxed))
            .min()
            .unwrap_or(0);
        if upto == 0 {
            continue;
        }
        let store = tsdb.clone();
        match tokio::task::spawn_blocking(move || store.outbox_trim(upto)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => warn!(%error, "trimming the outbox failed; retried later"),
            Err(error) => warn!(%error, "the outbox trim ended abnormally"),
        }
    }
}

/// Forwards the outbox to one destination.
struct Forwarder {
    config: RemoteWriteConfig,
    tsdb: Arc<Tsdb>,
    encoder: Encoder,
    sender: Sender,
    stats: Arc<DestinationStats>,
}

impl Forwarder {
    async fn run(mut self, shutdown: CancellationToken) {
        info!(url = %crate::config::notify::mask_url(&self.config.url), "forwarding");
        let mut cursor = self.stats.cursor.load(Ordering::Relaxed);
        let batch = self.config.batch_samples * self.config.shards;
        while !shutdown.is_cancelled() {
            match self.step(cursor, batch, &shutdown).await {
                Ok(Some(next)) => cursor = next,
                Ok(None) => {
                    tokio::select! {
                        _ = shutdown.cancelled() => {}
                        _ = tokio::time::sleep(IDLE_POLL) => {}
                    }
                }
                Err(error) => {
                    warn!(%error, "reading the outbox failed; retried");
                    tokio::select! {
                        _ = shutdown.cancelled() => {}
                        _ = tokio::time::sleep(self.config.max_backoff) => {}
                    }
                }
            }
        }
    }

    /// Sends the records after `cursor`: the new cursor, or None when there were none.
    async fn step(
        &mut self,
        cursor: u64,
        batch: usize,
        shutdown: &CancellationToken,
    ) -> Result<Option<u64>> {
        let tsdb = self.tsdb.clone();
        let backlog = self.config.max_backlog.as_millis() as i64;
        let (expired, records) = tokio::task::spawn_blocking(move || {
            let expired = tsdb.outbox_last_before(strata_proto::now_ms() - backlog)?;
            let (mut lost, mut from) = (0, cursor);
            if expired > cursor {
                lost = tsdb.outbox_samples_between(cursor, expired)?;
                from = expired;
            }
            Ok::<_, strata_tsdb::TsdbError>(((from, lost), tsdb.outbox_after(from, batch)?))
        })
        .await
        .map_err(|e| SubManagerError::Internal(format!("outbox read task: {e}")))??;
        let (from, lost) = expired;
        if lost > 0 {
            warn!(
                samples = lost,
                "samples older than max_backlog were dropped unsent"
            );
            self.stats
                .dropped_expired
                .fetch_add(lost, Ordering::Relaxed);
        }
        let Some(last) = records.last().map(|r| r.seq) else {
            self.stats.oldest_pending_ms.store(0, Ordering::Relaxed);
            if from != cursor {
                self.advance(from).await?;
                return Ok(Some(from));
            }
            return Ok(None);
        };
        self.stats
            .oldest_pending_ms
            .store(records[0].ingested_ms, Ordering::Relaxed);
        let tsdb = self.tsdb.clone();
        let encoded = self.encoder.encode(&records, &tsdb)?;
        drop(records);
        self.stats
            .filtered
            .fetch_add(encoded.filtered, Ordering::Relaxed);
        let sends = encoded
            .shards
            .into_iter()
            .map(|shard| self.deliver(shard, shutdown));
        let delivered = futures::future::join_all(sends).await;
        if delivered.iter().any(Option::is_none) {
            // shut down mid-batch: the cursor stays, the batch is sent again after a restart
            return Ok(Some(cursor));
        }
        self.advance(last).await?;
        Ok(Some(last))
    }

    /// Moves the cursor durably to `seq`.
    async fn advance(&self, seq: u64) -> Result<()> {
        let tsdb = self.tsdb.clone();
        let name = self.config.name().to_string();
        tokio::task::spawn_blocking(move || tsdb.set_outbox_cursor(&name, seq))
            .await
            .map_err(|e| SubManagerError::Internal(format!("outbox cursor task: {e}")))??;
        self.stats.cursor.store(seq, Ordering::Relaxed);
        Ok(())
    }

    /// Sends one shard until it is accepted or refused for good; None when shut down first.
    async fn deliver(&self, shard: encode::Request, shutdown: &CancellationToken) -> Option<()> {
        if shard.samples == 0 {
            return Some(());
        }
        let mut wait = self.config.min_backoff;
        let mut attempt = 0u32;
        loop {
            if attempt > 0 {
                self.stats.retried.fetch_add(1, Ordering::Relaxed);
            }
            attempt += 1;
            let outcome = tokio::select! {
                // a request in flight is abandoned: the batch is sent again after a restart
                _ = shutdown.cancelled() => return None,
                outcome = self.sender.send(&shard.body) => outcome,
            };
            match outcome {
                Outcome::Accepted => {
                    self.stats.sent.fetch_add(shard.samples, Ordering::Relaxed);
                    self.stats
                        .last_success_ms
                        .store(strata_proto::now_ms(), Ordering::Relaxed);
                    return Some(());
                }
                Outcome::Refused { status, body } => {
                    self.stats.failed.fetch_add(1, Ordering::Relaxed);
                    self.stats
                        .dropped_rejected
                        .fetch_add(shard.samples, Ordering::Relaxed);
                    warn!(%status, %body, samples = shard.samples, "the receiver refused a batch for good; dropped");
                    return Some(());
                }
                Outcome::Retry { reason, after } => {
                    self.stats.failed.fetch_add(1, Ordering::Relaxed);
                    let pause = after.unwrap_or(wait);
                    warn!(%reason, attempt, retry_in = ?pause, "remote write failed; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return None,
                        _ = tokio::time::sleep(pause) => {}
                    }
                    wait = (wait * 2).min(self.config.max_backoff);
                }
            }
        }
    }
}

/// Per-series hash into a shard (stable, so a series' samples keep their order).
fn shard_of(id: u64, shards: usize) -> usize {
    (id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize % shards
}

/// Samples of one shard grouped by series, in time order, one per timestamp.
fn group(samples: impl Iterator<Item = (u64, i64, f64)>) -> HashMap<u64, Vec<(i64, f64)>> {
    let mut by_series: HashMap<u64, Vec<(i64, f64)>> = HashMap::new();
    for (id, ts, v) in samples {
        by_series.entry(id).or_default().push((ts, v));
    }
    for points in by_series.values_mut() {
        // stable: of two samples with one timestamp, the later write wins
        points.sort_by_key(|p| p.0);
        let mut deduped: Vec<(i64, f64)> = Vec::with_capacity(points.len());
        for p in points.drain(..) {
            match deduped.last_mut() {
                Some(last) if last.0 == p.0 => *last = p,
                _ => deduped.push(p),
            }
        }
        *points = deduped;
    }
    by_series
}
