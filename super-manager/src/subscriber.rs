//! Subscriptions to the regions, through the brokers.
//!
//! One task follows the brokers' membership (failing over between brokers) and keeps the list
//! of sub-managers; each listed sub-manager gets a task that follows its WatchRegion stream
//! through a broker and resumes from the last sequence applied after any break, so no change
//! is lost or applied twice. A member's task ends when the member is no longer listed.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use strata_proto::v1::region_update::Kind;
use strata_proto::v1::{
    HeartbeatRequest, Member, RegionUpdate, Role, WatchMembershipRequest, WatchRegionRequest,
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::Shared;

/// The most updates of one stream applied together.
const MAX_BATCH: usize = 512;

/// A batch this large, or with a snapshot, is applied on a blocking thread: a thousand
/// regions' snapshots applied on the runtime's few workers would keep them from the
/// connections' keep-alive pings, which then time out and break every stream at once.
const HEAVY_BATCH: usize = 64;

/// Applies `batch` as [`apply_batch`] does, a heavy one off the runtime's workers.
async fn apply(shared: &Arc<Shared>, batch: Vec<RegionUpdate>) -> bool {
    let heavy = batch.len() >= HEAVY_BATCH
        || batch
            .iter()
            .any(|u| matches!(u.kind, Some(Kind::Snapshot(_))));
    if !heavy {
        return apply_batch(shared, batch);
    }
    let shared = shared.clone();
    tokio::task::spawn_blocking(move || apply_batch(&shared, batch))
        .await
        .unwrap_or_else(|error| {
            warn!(%error, "applying a batch of a region stream failed; resuming the stream");
            false
        })
}

/// Records the probe runs of `batch` into the QoS store, then applies the batch to the
/// overview (moving the stream's cursor past it); returns false, having applied nothing, if
/// a probe run could not be recorded (the stream is then resumed from the cursor).
fn apply_batch(shared: &Shared, batch: Vec<RegionUpdate>) -> bool {
    for update in &batch {
        // the region's audit lines, kept before the cursor moves past them
        if let Some(Kind::Audit(entry)) = &update.kind
            && let Err(error) = record_region_audit(shared, update, entry)
        {
            warn!(?error, region = %update.region, member = %update.member_id, "keeping a region's audit line failed; resuming the stream");
            return false;
        }
        // recorded before the cursor moves past it (a copy is dropped)
        if let Some(Kind::ProbeRun(run)) = &update.kind {
            match shared.qos.record(run) {
                Ok(true) => {
                    shared
                        .metrics
                        .probe_runs_recorded
                        .fetch_add(1, Ordering::Relaxed);
                }
                Ok(false) => {}
                Err(error) => {
                    warn!(%error, resource = %run.resource_id, check = %run.check, "recording a probe run failed; resuming the stream");
                    return false;
                }
            }
        }
    }
    shared
        .metrics
        .updates_applied
        .fetch_add(batch.len() as u64, Ordering::Relaxed);
    let actions = {
        let mut overview = shared.overview.write().expect("overview lock poisoned");
        let actions = overview.new_action_runs(&batch);
        overview.apply_all(batch);
        actions
    };
    // recovery actions run in the regions go to the audit log, once each
    // (every centre sees the same run: its key names the run, so the centres' logs agree)
    for (subject, run) in actions {
        let verdict = if run.ok { "ok" } else { "failed" };
        let origin = format!("action-{subject}-{}-{}", run.action, run.finished_ms);
        let record = strata_web::auth::AuditRecord {
            at_ms: run.finished_ms,
            who: "region".into(),
            address: String::new(),
            action: format!("action {}", run.action),
            subject,
            outcome: verdict.into(),
            detail: String::new(),
        };
        if let Err(error) = shared.services.record_from_region(&origin, &record) {
            warn!(?error, action = %record.action, subject = %record.subject, "writing the audit log failed");
        }
    }
    true
}

/// Keeps `entry`, a line of the audit log of `update`'s member, in the centre's log, with
/// where it was made.
fn record_region_audit(
    shared: &Shared,
    update: &RegionUpdate,
    entry: &strata_proto::v1::AuditEntry,
) -> Result<(), crate::services::Refused> {
    let place = format!("in region {} (member {})", update.region, update.member_id);
    let record = strata_web::auth::AuditRecord {
        at_ms: entry.at_ms,
        who: entry.who.clone(),
        address: entry.address.clone(),
        action: entry.action.clone(),
        subject: entry.subject.clone(),
        outcome: entry.outcome.clone(),
        detail: if entry.detail.is_empty() {
            place
        } else {
            format!("{place}: {}", entry.detail)
        },
    };
    let origin = format!(
        "{}-{}-{}-{:016x}",
        update.region, update.member_id, update.epoch, update.seq
    );
    shared.services.record_from_region(&origin, &record)
}

/// Follows membership and region streams until `shutdown`.
pub async fn run(shared: Arc<Shared>, shutdown: CancellationToken) {
    let mut watchers: HashMap<(String, String), JoinHandle<()>> = HashMap::new();
    let brokers = &shared.brokers;
    if brokers.is_empty() {
        warn!("no broker configured: no region will be seen");
        shutdown.cancelled().await;
        return;
    }
    loop {
        let i = brokers.preferred();
        let opened = brokers
            .broker(i)
            .watch_membership(WatchMembershipRequest::default())
            .await;
        let mut stream = match opened {
            Ok(s) => s.into_inner(),
            Err(status) => {
                debug!(broker = %brokers.addr(i), error = %status.message(), "membership watch failed");
                brokers.failed(i);
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(shared.config.resubscribe_delay) => continue,
                }
            }
        };
        info!(broker = %brokers.addr(i), "following membership");
        loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => None,
                next = stream.next() => Some(next),
            };
            let Some(next) = next else { break };
            match next {
                Some(Ok(view)) => {
                    shared.centres.set_known(
                        view.members
                            .iter()
                            .filter(|m| m.role == Role::SuperManager as i32 && m.healthy)
                            .map(|m| (m.id.clone(), m.grpc_address.clone())),
                    );
                    let subs: Vec<Member> = view
                        .members
                        .into_iter()
                        .filter(|m| m.role == Role::SubManager as i32)
                        .collect();
                    shared
                        .overview
                        .write()
                        .expect("overview lock poisoned")
                        .set_members(&subs);
                    watchers.retain(|_, h| !h.is_finished());
                    for m in subs {
                        let key = (m.region.clone(), m.id.clone());
                        if let std::collections::hash_map::Entry::Vacant(slot) = watchers.entry(key)
                        {
                            let span =
                                info_span!("watch_region", region = %m.region, member = %m.id);
                            let task =
                                watch_member(shared.clone(), m.region, m.id, shutdown.clone())
                                    .instrument(span);
                            slot.insert(tokio::spawn(task));
                        }
                    }
                }
                Some(Err(status)) => {
                    warn!(broker = %brokers.addr(i), error = %status.message(), "membership stream broke");
                    brokers.failed(i);
                    break;
                }
                None => {
                    brokers.failed(i);
                    break;
                }
            }
        }
        if shutdown.is_cancelled() {
            break;
        }
        tokio::time::sleep(shared.config.resubscribe_delay).await;
    }
    for (_, h) in watchers {
        let _ = h.await;
    }
}

async fn watch_member(
    shared: Arc<Shared>,
    region: String,
    member: String,
    shutdown: CancellationToken,
) {
    let delay = shared.config.resubscribe_delay;
    let brokers = &shared.brokers;
    loop {
        let (listed, healthy, (epoch, from_seq)) = {
            let o = shared.overview.read().expect("overview lock poisoned");
            (
                o.is_listed(&region, &member),
                o.is_healthy(&region, &member),
                o.cursor(&region, &member),
            )
        };
        if !listed || shutdown.is_cancelled() {
            return;
        }
        if healthy {
            let i = brokers.preferred();
            let request = WatchRegionRequest {
                region: region.clone(),
                member_id: member.clone(),
                from_seq,
                epoch,
            };
            match brokers.router(i).watch_region(request).await {
                Ok(stream) => {
                    shared
                        .metrics
                        .streams_opened
                        .fetch_add(1, Ordering::Relaxed);
                    debug!(from_seq, "region stream open");
                    let mut stream = stream.into_inner();
                    loop {
                        let next = tokio::select! {
                            _ = shutdown.cancelled() => return,
                            next = stream.next() => next,
                        };
                        let first = match next {
                            Some(Ok(update)) => update,
                            Some(Err(status)) => {
                                debug!(error = %status.message(), "region stream broke; resuming");
                                break;
                            }
                            None => break,
                        };
                        // what else has arrived is applied with it, under one lock and one write
                        let mut batch = vec![first];
                        let mut ended = false;
                        while batch.len() < MAX_BATCH {
                            match stream.next().now_or_never() {
                                Some(Some(Ok(update))) => batch.push(update),
                                Some(Some(Err(_)) | None) => {
                                    ended = true;
                                    break;
                                }
                                None => break,
                            }
                        }
                        let applied = apply(&shared, batch).await;
                        if !applied || ended {
                            break;
                        }
                    }
                }
                Err(status) => {
                    debug!(broker = %brokers.addr(i), error = %status.message(), "region stream could not open");
                    if crate::brokers::retryable(&status) {
                        brokers.failed(i);
                    }
                }
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// Heartbeats the super-manager to every broker, so that brokers and operators see it.
pub async fn heartbeat(shared: Arc<Shared>, me: Member, shutdown: CancellationToken) {
    let interval: Duration = shared.config.heartbeat_interval;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        for i in 0..shared.brokers.len() {
            let request = HeartbeatRequest {
                member: Some(me.clone()),
                lease_ms: shared.config.lease.as_millis() as u64,
            };
            let mut client = shared.brokers.broker(i);
            let call = client.heartbeat(request);
            if let Ok(Err(status)) = tokio::time::timeout(interval, call).await {
                debug!(broker = %shared.brokers.addr(i), error = %status.message(), "heartbeat failed");
            }
        }
    }
}
