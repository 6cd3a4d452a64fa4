//! `SuperManager.WatchCentre`: this centre's journal, for another centre.
//!
//! From the follower's cursor when this journal still holds what comes after it (same
//! epoch, not trimmed past it); otherwise a snapshot of the table first, then the journal
//! from the sequence the snapshot covers. Then a mark that it has caught up, then each
//! change as it is journaled, and the principals whenever they change. Bounded: the
//! stream's queue holds a few messages, and a follower that does not read holds only its
//! own stream back.

use std::sync::Arc;
use std::time::Duration;

use strata_proto::v1::{CentreChange, WatchCentreRequest};
use tokio::sync::mpsc;
use tracing::{Instrument, debug, info, info_span};

use crate::services::replica::Change;
use crate::shared::Shared;

/// Messages queued for one follower.
const QUEUE: usize = 16;
/// Journal records (or snapshot changes) per read and per message.
const BATCH: usize = 256;
/// How often the principals are looked at.
const PRINCIPALS_EVERY: Duration = Duration::from_secs(1);

type Sent = Result<CentreChange, tonic::Status>;

/// Opens the stream for `request`, fed by a task until the follower goes or `shared` stops.
pub fn watch(shared: Arc<Shared>, request: WatchCentreRequest) -> mpsc::Receiver<Sent> {
    let (tx, rx) = mpsc::channel(QUEUE);
    let span = info_span!("serve_centre", follower = %request.centre_id, after = request.after_seq);
    shared
        .centres
        .streams_served
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    tokio::spawn(
        async move {
            if let Err(status) = feed(&shared, &request, &tx).await {
                let _ = tx.send(Err(status)).await;
            }
        }
        .instrument(span),
    );
    rx
}

/// A message of this centre's.
fn message(shared: &Shared, seq: u64, changes: &[Change], caught_up: bool) -> CentreChange {
    CentreChange {
        centre_id: shared.config.id.clone(),
        epoch: shared.services.epoch().to_string(),
        seq,
        change_json: if changes.is_empty() {
            Vec::new()
        } else {
            serde_json::to_vec(changes).expect("changes serialize")
        },
        caught_up,
    }
}

fn store_status(refused: crate::services::Refused) -> tonic::Status {
    tonic::Status::internal(format!(
        "reading this centre's journal: {}",
        crate::services::describe(&refused).join("; ")
    ))
}

/// Sends what the follower lacks, then what comes, until it goes (Ok) or the journal
/// cannot be read (the status ends the stream).
async fn feed(
    shared: &Shared,
    request: &WatchCentreRequest,
    tx: &mpsc::Sender<Sent>,
) -> Result<(), tonic::Status> {
    let services = &shared.services;
    let mut watch = services.journal_watch();
    let (first, last) = services.journal_bounds();
    let resumable = request.epoch == services.epoch()
        && request.after_seq.saturating_add(1) >= first
        && request.after_seq <= last;
    let mut after = if resumable {
        request.after_seq
    } else {
        let (seq, changes) = services.snapshot().map_err(store_status)?;
        info!(changes = changes.len(), seq, "sending a snapshot");
        for chunk in changes.chunks(BATCH) {
            if tx.send(Ok(message(shared, 0, chunk, false))).await.is_err() {
                return Ok(());
            }
        }
        if tx.send(Ok(message(shared, seq, &[], false))).await.is_err() {
            return Ok(());
        }
        seq
    };
    let mut principals = shared.principals.current();
    let doc = Change::Principals {
        doc: (*principals).clone(),
    };
    if tx
        .send(Ok(message(shared, 0, &[doc], false)))
        .await
        .is_err()
    {
        return Ok(());
    }
    let mut caught_up = false;
    let mut ticker = tokio::time::interval(PRINCIPALS_EVERY);
    loop {
        // everything journaled after the cursor
        loop {
            let records = services.journal_after(after, BATCH).map_err(store_status)?;
            if records.first().is_some_and(|(seq, _)| *seq != after + 1) {
                // trimmed past the cursor while it was sent: the follower starts again
                return Err(tonic::Status::out_of_range(format!(
                    "this centre's journal no longer holds sequence {}",
                    after + 1
                )));
            }
            let Some((end, _)) = records.last() else {
                break;
            };
            let end = *end;
            for (seq, changes) in &records {
                if tx
                    .send(Ok(message(shared, *seq, changes, false)))
                    .await
                    .is_err()
                {
                    return Ok(());
                }
            }
            after = end;
        }
        if !caught_up {
            caught_up = true;
            debug!(after, "follower caught up");
            if tx
                .send(Ok(message(shared, after, &[], true)))
                .await
                .is_err()
            {
                return Ok(());
            }
        }
        tokio::select! {
            _ = shared.shutdown.cancelled() => return Ok(()),
            _ = tx.closed() => return Ok(()),
            changed = watch.changed() => if changed.is_err() { return Ok(()) },
            _ = ticker.tick() => {
                let now = shared.principals.current();
                if *now != *principals {
                    principals = now;
                    let doc = Change::Principals { doc: (*principals).clone() };
                    if tx.send(Ok(message(shared, 0, &[doc], false))).await.is_err() {
                        return Ok(());
                    }
                }
            }
        }
    }
}
