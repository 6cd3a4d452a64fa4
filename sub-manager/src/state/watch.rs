//! WatchRegion's feed: a subscriber gets what it missed after its last sequence (from the
//! journal, or a snapshot) and then every change as it is made, with no gap and no repeat.
//! The gRPC service ([`crate::api`]) hands this feed to its stream; nothing here knows the
//! wire.

use std::sync::Arc;

use strata_proto::v1::RegionUpdate;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tracing::debug;

use super::{RegionState, Start};

/// Journal records read per step while a subscriber catches up.
const CATCH_UP_BATCH: usize = 1024;

/// Sends a subscriber what it missed after `(epoch, from_seq)` (from the journal, or a
/// snapshot), then every change as it is made; when it falls behind the live tail, it
/// catches up from the journal again. Ends when the subscriber goes away, or after sending
/// the failure (in words) that stops it.
pub async fn follow(
    state: Arc<RegionState>,
    epoch: String,
    from_seq: u64,
    tx: mpsc::Sender<Result<RegionUpdate, String>>,
) {
    let (start, mut rx) = state.subscribe(&epoch, from_seq);
    let mut sent = match start {
        Start::After(seq) => seq,
        Start::Snapshot(snapshot) => {
            let seq = snapshot.seq;
            if tx.send(Ok(*snapshot)).await.is_err() {
                return;
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
                    if tx.send(Ok(snapshot)).await.is_err() {
                        return;
                    }
                    continue;
                }
                Ok(Err(error)) => {
                    let _ = tx
                        .send(Err(format!("read the journal after {sent}: {error}")))
                        .await;
                    return;
                }
                Err(error) => {
                    let _ = tx
                        .send(Err(format!("journal reader failed: {error}")))
                        .await;
                    return;
                }
            };
            let n = batch.len();
            for update in batch {
                sent = update.seq;
                if tx.send(Ok(update)).await.is_err() {
                    return;
                }
            }
            if n < CATCH_UP_BATCH {
                break;
            }
        }
        // Follow the live tail; what it repeats of the journal is skipped.
        loop {
            let next = tokio::select! {
                _ = tx.closed() => return,
                next = rx.recv() => next,
            };
            match next {
                Ok(update) if update.seq <= sent => {}
                Ok(update) if update.seq == sent + 1 => {
                    sent = update.seq;
                    if tx.send(Ok(update)).await.is_err() {
                        return;
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
                Err(RecvError::Closed) => return,
            }
        }
    }
}
