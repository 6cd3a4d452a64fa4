//! Following the other centres' journals: one task per centre the brokers list, which
//! reads its `WatchCentre` stream from the cursor kept here and applies what comes, the
//! cursor moved in the same write, and opens it again after any break.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use strata_proto::identity::{Expect, Role};
use strata_proto::v1::WatchCentreRequest;
use strata_proto::v1::super_manager_client::SuperManagerClient;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Endpoint;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::services::replica::{Change, Cursor};
use crate::shared::Shared;

/// How often the list of centres is looked at.
const LOOK_EVERY: Duration = Duration::from_secs(1);

/// Follows every other centre the brokers list until `shutdown`.
pub async fn run(shared: Arc<Shared>, shutdown: CancellationToken) {
    let mut followers: HashMap<(String, String), JoinHandle<()>> = HashMap::new();
    let mut ticker = tokio::time::interval(LOOK_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = ticker.tick() => {}
        }
        followers.retain(|_, h| !h.is_finished());
        for (id, addr) in shared.centres.known() {
            if let std::collections::hash_map::Entry::Vacant(slot) =
                followers.entry((id.clone(), addr.clone()))
            {
                let span = info_span!("follow_centre", centre = %id, %addr);
                let task = follow(shared.clone(), id, addr, shutdown.clone()).instrument(span);
                slot.insert(tokio::spawn(task));
            }
        }
    }
    for (_, h) in followers {
        let _ = h.await;
    }
}

/// Follows centre `id` at `addr` while the brokers list it there.
async fn follow(shared: Arc<Shared>, id: String, addr: String, shutdown: CancellationToken) {
    let endpoint = match Endpoint::from_shared(format!("http://{addr}")) {
        Ok(e) => e
            .connect_timeout(shared.config.call_timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(5))
            .keep_alive_timeout(Duration::from_secs(5)),
        Err(error) => {
            warn!(%error, "a centre's address is not usable");
            return;
        }
    };
    let channel = shared
        .transport
        .channel(endpoint, Expect::Role(Role::SuperManager));
    let delay = shared.config.resubscribe_delay;
    // the first failure in a row is worth a warning, the rest are the same story
    let mut failures = 0u64;
    while shared.centres.address(&id).as_deref() == Some(addr.as_str()) {
        let client = SuperManagerClient::new(channel.clone());
        let ended = tokio::select! {
            _ = shutdown.cancelled() => break,
            ended = stream(&shared, &id, client) => ended,
        };
        if shared.centres.live().contains(&id) {
            failures = 0;
        }
        shared.centres.set_live(&id, false);
        match ended {
            Ok(()) => debug!("the centre's stream ended; opening it again"),
            Err(problem) if failures == 0 => {
                warn!(%problem, "the centre's stream broke; opening it again")
            }
            Err(problem) => debug!(%problem, failures, "the centre's stream broke again"),
        }
        failures += 1;
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(delay) => {}
        }
    }
    shared.centres.set_live(&id, false);
}

/// Reads one stream of centre `id` and applies it until it ends.
async fn stream(
    shared: &Shared,
    id: &str,
    mut client: SuperManagerClient<tonic::transport::Channel>,
) -> Result<(), String> {
    let cursor = shared.services.cursor(id).unwrap_or_default();
    let request = WatchCentreRequest {
        centre_id: shared.config.id.clone(),
        epoch: cursor.epoch.clone(),
        after_seq: cursor.seq,
    };
    let opened = tokio::time::timeout(shared.config.call_timeout, client.watch_centre(request))
        .await
        .map_err(|_| "no answer within call_timeout".to_string())?
        .map_err(|s| s.message().to_string())?;
    let mut stream = opened.into_inner();
    let mut snapshot = false;
    while let Some(next) = stream.next().await {
        let message = next.map_err(|s| s.message().to_string())?;
        if message.centre_id != id {
            return Err(format!(
                "the centre at this address is '{}', not '{id}'",
                message.centre_id
            ));
        }
        let changes: Vec<Change> = if message.change_json.is_empty() {
            Vec::new()
        } else {
            serde_json::from_slice(&message.change_json)
                .map_err(|e| format!("change {} unreadable: {e}", message.seq))?
        };
        // a snapshot comes first, in messages that do not move the cursor
        let part_of_snapshot = message.seq == 0
            && changes
                .iter()
                .any(|c| !matches!(c, Change::Principals { .. }));
        if part_of_snapshot && !snapshot {
            snapshot = true;
            info!(epoch = %message.epoch, "receiving a snapshot");
            shared
                .centres
                .snapshots_received
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let cursor = (message.seq > 0).then(|| Cursor {
            epoch: message.epoch.clone(),
            seq: message.seq,
        });
        let n = changes.len();
        let applied = shared
            .services
            .apply(changes, cursor.as_ref().map(|c| (id, c)))
            .map_err(|r| crate::services::describe(&r).join("; "))?;
        shared.centres.applied(n);
        let now = strata_proto::now_ms();
        for change in applied.sessions {
            shared.sessions.adopt(change, now);
        }
        if !applied.acks.is_empty() {
            let mut overview = shared.overview.write().expect("overview lock poisoned");
            for a in applied.acks {
                // an incident not open here (yet) keeps no acknowledgement
                let _ =
                    overview.acknowledge_local(&a.resource_id, &a.rule, &a.by, &a.comment, a.at_ms);
            }
        }
        if let Some(doc) = applied.principals {
            match shared.principals.converge(doc) {
                Ok(true) => info!("principals taken from the other centre"),
                Ok(false) => {}
                Err(error) => warn!(%error, "the other centre's principals could not be kept"),
            }
        }
        if message.caught_up {
            info!(seq = message.seq, "following the centre live");
            shared.centres.set_live(id, true);
        }
    }
    Ok(())
}
