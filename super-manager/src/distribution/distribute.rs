//! Handing each bundle's latest version to the hosts that have not answered for it, every
//! `retry_interval` or at once after a publish; a host that cannot be reached is tried
//! again after a wait that doubles up to `max_backoff`.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use strata_proto::v1::{FilesOutcome, PutAgentFilesRequest, PutFilesResponse, SignedBundle};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span, warn};

use crate::files::store::{Change, HostStatus};
use crate::shared::Shared;

/// Hosts tried at once.
const PARALLEL: usize = 16;

/// The wait before try `attempts + 1` of a host that could not be reached.
fn backoff(base: Duration, attempts: u32, max: Duration) -> Duration {
    base.checked_mul(1 << attempts.min(20))
        .unwrap_or(max)
        .min(max)
}

/// One host's try: what it answered, or why it could not be asked.
async fn hand(
    shared: &Shared,
    name: &str,
    version: u64,
    bundle: Option<&SignedBundle>,
    host: &str,
) -> Result<PutFilesResponse, (bool, String)> {
    let bundle =
        bundle.ok_or_else(|| (true, format!("version {version} of '{name}' is not kept")))?;
    let region = strata_proto::resource::region_of(host).to_string();
    shared
        .brokers
        .routed(|mut c| {
            let req = PutAgentFilesRequest {
                region: region.clone(),
                resource_id: host.to_string(),
                bundle: Some(bundle.clone()),
            };
            async move { c.put_agent_files(req).await }
        })
        .await
        .map_err(|s| {
            // a door that refuses the centre's call will not change its mind by itself:
            // refused; anything else may pass later (the host is away, or its member
            // answered for it: agents' own errors come through as FAILED_PRECONDITION)
            let lasting = matches!(
                s.code(),
                tonic::Code::Unimplemented
                    | tonic::Code::PermissionDenied
                    | tonic::Code::InvalidArgument
            );
            (lasting, s.message().to_string())
        })
}

/// Tries every pending host whose time has come, once.
pub async fn round(shared: &Shared) {
    let now = strata_proto::now_ms();
    // each bundle's signed version read once for all its hosts of the round
    let mut due: Vec<(String, u64, Option<Arc<SignedBundle>>, String)> = Vec::new();
    for b in shared.files.list() {
        let hosts: Vec<String> = b
            .hosts
            .into_iter()
            .filter(|(_, h)| h.state == "pending" && h.next_ms <= now)
            .map(|(host, _)| host)
            .collect();
        if hosts.is_empty() {
            continue;
        }
        let signed = shared.files.signed(&b.name, b.version).map(Arc::new);
        due.extend(
            hosts
                .into_iter()
                .map(|host| (b.name.clone(), b.version, signed.clone(), host)),
        );
    }
    let (retry, most) = (
        shared.config.files.retry_interval,
        shared.config.files.max_backoff,
    );
    let changes: Vec<Change> = futures::stream::iter(due)
        .map(|(name, version, signed, host)| async move {
            let span = info_span!("put files", bundle = %name, version, resource = %host);
            let answer = hand(shared, &name, version, signed.as_deref(), &host)
                .instrument(span)
                .await;
            match &answer {
                Ok(a) => info!(bundle = %name, version, resource = %host, outcome = ?a.outcome(), reason = %a.reason, "host answered for the bundle"),
                Err((true, e)) => warn!(bundle = %name, version, resource = %host, error = %e, "host refused the call"),
                Err((false, e)) => warn!(bundle = %name, version, resource = %host, error = %e, "host not reached; tried again later"),
            }
            let at = strata_proto::now_ms();
            let change = move |h: &mut HostStatus| {
                h.at_ms = at;
                h.attempts += 1;
                match answer {
                    Ok(a) if a.outcome() == FilesOutcome::FilesRefused => {
                        h.state = "refused".into();
                        h.version = a.version;
                        h.reason = a.reason;
                    }
                    Ok(a) => {
                        h.state = "applied".into();
                        h.version = a.version;
                        h.reason.clear();
                    }
                    Err((true, e)) => {
                        h.state = "refused".into();
                        h.reason = e;
                    }
                    Err((false, e)) => {
                        h.reason = e;
                        let wait = backoff(retry, h.attempts - 1, most);
                        h.next_ms = at + wait.as_millis() as i64;
                    }
                }
            };
            (name, version, host, Box::new(change) as Box<dyn FnOnce(&mut HostStatus) + Send>)
        })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    if changes.is_empty() {
        return;
    }
    if let Err(e) = shared.files.update_all(changes) {
        warn!(error = %e, "the bundles' host states could not be kept");
    }
}

/// Hands bundles out until `shutdown`: every `retry_interval`, and at once when `wake` is
/// notified (a publish).
pub async fn run(shared: Arc<Shared>, shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(shared.config.files.retry_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = ticker.tick() => {}
            _ = shared.files_published.notified() => {}
        }
        round(&shared).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_up_to_its_bound() {
        let s = Duration::from_secs;
        let waits: Vec<u64> = (0..6).map(|a| backoff(s(10), a, s(60)).as_secs()).collect();
        assert_eq!(waits, [10, 20, 40, 60, 60, 60]);
        assert_eq!(backoff(s(10), 100, s(60)), s(60));
    }
}
