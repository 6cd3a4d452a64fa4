//! WatchRegion's feed: a subscriber gets what it missed after its last sequence (from the
//! journal, or a snapshot) and then every change as it is made, with no gap and no repeat.
//! The gRPC service ([`crate::api`]) hands this feed to its stream; nothing here knows the
//! wire.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use serde::Deserialize;
use strata_proto::v1::RegionUpdate;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tracing::debug;

use super::{RegionState, Start};

/// Journal records read per step while a subscriber catches up.
const CATCH_UP_BATCH: usize = 1024;

/// Bounds of the WatchRegion feed (`[watch]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WatchConfig {
    /// Most WatchRegion streams open at once (default 32): the centres, and the brokers
    /// relaying them, need a few.
    pub max_subscribers: usize,
    /// How long a subscriber may leave an update unread before its stream is ended, with
    /// the reason (default 60 s); it resumes from its last sequence when it calls again.
    #[serde(with = "humantime_serde")]
    pub stall_timeout: Duration,
}

impl Default for WatchConfig {
    fn default() -> Self {
        Self {
            max_subscribers: 32,
            stall_timeout: Duration::from_secs(60),
        }
    }
}

impl WatchConfig {
    /// What is wrong with these bounds, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.max_subscribers == 0 {
            out.push("watch.max_subscribers: must be at least 1".into());
        }
        if self.stall_timeout < Duration::from_secs(1) {
            out.push("watch.stall_timeout: must be at least 1s".into());
        }
        out
    }
}

/// The WatchRegion streams open now, within [`WatchConfig::max_subscribers`], and those
/// refused or ended for a bound.
#[derive(Debug, Default)]
pub struct Subscribers {
    open: AtomicUsize,
    /// Calls refused: `max_subscribers` streams were open.
    pub refused: AtomicU64,
    /// Streams ended: the subscriber left an update unread for `stall_timeout`.
    pub stalled: AtomicU64,
}

/// One open stream; its slot is given back when it is dropped.
#[derive(Debug)]
pub struct Subscription(Arc<Subscribers>);

impl Drop for Subscription {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Subscribers {
    /// A slot for one more stream, or None (counted) when `max` are open.
    pub fn enter(self: &Arc<Self>, max: usize) -> Option<Subscription> {
        let entered = self
            .open
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok();
        if !entered {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        entered.then(|| Subscription(self.clone()))
    }

    /// Streams open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }
}

/// Why a feed ended on the server's side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// The subscriber went away.
    Gone,
    /// The subscriber left an update unread for the stall timeout: the stream is ended so
    /// that it holds nothing more here.
    Stalled(String),
    /// A failure that stops the feed (in words).
    Failed(String),
}

/// Sends `update` within `stall`: Err says why the feed must end.
async fn send(
    tx: &mpsc::Sender<Result<RegionUpdate, String>>,
    update: RegionUpdate,
    stall: Duration,
) -> Result<(), Ended> {
    let seq = update.seq;
    match tx.send_timeout(Ok(update), stall).await {
        Ok(()) => Ok(()),
        Err(mpsc::error::SendTimeoutError::Closed(_)) => Err(Ended::Gone),
        Err(mpsc::error::SendTimeoutError::Timeout(_)) => Err(Ended::Stalled(format!(
            "the subscriber left updates unread for {stall:?} (watch.stall_timeout); call              again from sequence {}",
            seq.saturating_sub(1)
        ))),
    }
}

/// Sends a subscriber what it missed after `(epoch, from_seq)` (from the journal, or a
/// snapshot), then every change as it is made; when it falls behind the live tail, it
/// catches up from the journal again. Ends when the subscriber goes away, when it leaves an
/// update unread for `stall`, or after sending the failure (in words) that stops it; says
/// which.
pub async fn follow(
    state: Arc<RegionState>,
    epoch: String,
    from_seq: u64,
    tx: mpsc::Sender<Result<RegionUpdate, String>>,
    stall: Duration,
) -> Ended {
    let (start, mut rx) = state.subscribe(&epoch, from_seq);
    let mut sent = match start {
        Start::After(seq) => seq,
        Start::Snapshot(snapshot) => {
            let seq = snapshot.seq;
            if let Err(ended) = send(&tx, *snapshot, stall).await {
                return ended;
            }
            seq
        }
    };
    loop {
        // Catch up from the journal until it has nothing after `sent`.
        loop {
            let st = state.clone();
            let read =
                tokio::task::spawn_blocking(move || st.journaled_after(sent, CATCH_UP_BATCH)).await;
            let batch = match read {
                Ok(Ok(Some(batch))) => batch,
                Ok(Ok(None)) => {
                    // trimmed while catching up: start again from a snapshot
                    let snapshot = state.snapshot_now();
                    sent = snapshot.seq;
                    if let Err(ended) = send(&tx, snapshot, stall).await {
                        return ended;
                    }
                    continue;
                }
                Ok(Err(error)) => {
                    return Ended::Failed(format!("read the journal after {sent}: {error}"));
                }
                Err(error) => return Ended::Failed(format!("journal reader failed: {error}")),
            };
            let n = batch.len();
            for update in batch {
                sent = update.seq;
                if let Err(ended) = send(&tx, update, stall).await {
                    return ended;
                }
            }
            if n < CATCH_UP_BATCH {
                break;
            }
        }
        // Follow the live tail; what it repeats of the journal is skipped.
        loop {
            let next = tokio::select! {
                _ = tx.closed() => return Ended::Gone,
                next = rx.recv() => next,
            };
            match next {
                Ok(update) if update.seq <= sent => {}
                Ok(update) if update.seq == sent + 1 => {
                    sent = update.seq;
                    if let Err(ended) = send(&tx, update, stall).await {
                        return ended;
                    }
                }
                // a gap (a change that could not be journaled, or one made before this
                // receiver existed): the journal has the rest
                Ok(_) => break,
                Err(RecvError::Lagged(n)) => {
                    debug!(
                        skipped = n,
                        "subscriber behind the live tail; catching up from the journal"
                    );
                    rx = rx.resubscribe();
                    break;
                }
                Err(RecvError::Closed) => return Ended::Gone,
            }
        }
    }
}
