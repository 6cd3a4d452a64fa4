//! The centre hands its principals (users and API tokens, hashes only) to every region, so
//! that a regional console checks the same people and tokens with the centre unreachable.
//! A region gets the whole document through the brokers (`SubManager.PutPrincipals`, sent
//! to each of its members) as soon as the centre's file changes, and again every
//! `[auth] push_interval` (default 10 s) so that a member that was away or new catches up;
//! a region that cannot be reached is tried again after the same interval. A revocation at
//! the centre is therefore in force in every reachable region within a second (the file's
//! check) and one push; a region cut off keeps its last copy until its link is back.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use strata_proto::v1::PutPrincipalsRequest;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::shared::Shared;

/// How often the loop looks at the file and the regions.
const TICK: Duration = Duration::from_secs(1);

/// What was last pushed to a region, and when it was tried.
struct Pushed {
    version: Option<u64>,
    tried: Instant,
}

/// Pushes the principals to every known region until `shutdown`.
pub async fn push_loop(shared: Arc<Shared>, shutdown: CancellationToken) {
    let every = shared.config.auth.push_interval;
    let mut pushed: HashMap<String, Pushed> = HashMap::new();
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let principals = shared.principals.current();
        let regions = shared
            .overview
            .read()
            .expect("overview lock poisoned")
            .region_names();
        for region in regions {
            let due = pushed.get(&region).is_none_or(|p| {
                p.tried.elapsed() >= every
                    || (p.version.is_some() && p.version != Some(principals.version))
            });
            if !due {
                continue;
            }
            let json = serde_json::to_vec(&*principals).expect("principals serialize");
            let request = PutPrincipalsRequest {
                region: region.clone(),
                principals_json: json,
            };
            let answer = shared
                .brokers
                .routed(|mut c| {
                    let request = request.clone();
                    async move { c.put_principals(request).await }
                })
                .instrument(info_span!("push_principals", %region, version = principals.version))
                .await;
            let version = match answer {
                Ok(a) if a.replaced => {
                    info!(%region, version = principals.version, "principals handed to the region");
                    Some(principals.version)
                }
                Ok(_) => Some(principals.version),
                Err(status) => {
                    if pushed.get(&region).is_none_or(|p| p.version.is_some()) {
                        warn!(%region, error = %status.message(), "the region could not take the principals; trying again later");
                    } else {
                        debug!(%region, error = %status.message(), "the region still cannot take the principals");
                    }
                    None
                }
            };
            pushed.insert(
                region,
                Pushed {
                    version,
                    tried: Instant::now(),
                },
            );
        }
    }
}
