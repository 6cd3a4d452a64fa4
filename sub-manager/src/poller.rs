//! Polling of the region's agents, on worker threads of their own.
//!
//! The poller runs on its own tokio runtime, so that polling load (and the RocksDB writes it
//! makes) never delays the API's threads. Each agent has a task that polls on its interval,
//! backing off exponentially while the agent fails; all polls go through one tower stack with
//! a timeout and a concurrency limit shared by every agent. A sample is acknowledged to the
//! agent only on the poll after the one that stored it, so nothing is freed before it is
//! durable (at-least-once; ingest is idempotent).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use strata_proto::v1::PollRequest;
use strata_proto::v1::agent_client::AgentClient;
use strata_tsdb::Tsdb;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::assignment::score;
use crate::config::{AgentTarget, SubManagerConfig};
use crate::error::{Result, SubManagerError};
use crate::ingest::{Dictionary, ingest};
use crate::judge::{self, Latest};
use crate::membership::MembershipView;
use crate::metrics::SubManagerMetrics;
use crate::server::{self, PollService};
use crate::state::RegionState;

/// Most poll calls in a row for one agent in one cycle, when its buffer has more.
const MAX_ROUNDS: usize = 20;

/// What every agent task shares.
pub struct PollContext {
    pub config: Arc<SubManagerConfig>,
    pub tsdb: Arc<Tsdb>,
    pub state: Arc<RegionState>,
    pub view: Arc<MembershipView>,
    pub metrics: Arc<SubManagerMetrics>,
}

/// Starts the poll workers on threads of their own; the returned handle ends after
/// `shutdown` once every poll task has stopped.
pub fn start(ctx: PollContext, shutdown: CancellationToken) -> Result<std::thread::JoinHandle<()>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(ctx.config.poll.workers)
        .thread_name("strata-poll")
        .enable_all()
        .build()
        .map_err(SubManagerError::Workers)?;
    let ctx = Arc::new(ctx);
    std::thread::Builder::new()
        .name("strata-poll-main".into())
        .spawn(move || runtime.block_on(run(ctx, shutdown)))
        .map_err(SubManagerError::Workers)
}

async fn run(ctx: Arc<PollContext>, shutdown: CancellationToken) {
    let poll = &ctx.config.poll;
    let limit = Arc::new(Semaphore::new(poll.concurrency));
    let mut channels = HashMap::new();
    let mut tasks = tokio::task::JoinSet::new();
    for target in ctx.config.agents.clone() {
        let channel = match channels.get(&target.address) {
            Some(ch) => Ok(Clone::clone(ch)),
            None => server::agent_channel(&target.address, poll.timeout),
        };
        let channel = match channel {
            Ok(ch) => ch,
            Err(error) => {
                warn!(agent = %target.id, address = %target.address, %error, "agent not polled: bad address");
                continue;
            }
        };
        channels.insert(target.address.clone(), channel.clone());
        let client = server::agent_client(channel, limit.clone(), poll.timeout);
        let span = info_span!("agent", region = %ctx.config.region, agent = %target.id);
        tasks.spawn(poll_agent(ctx.clone(), target, client, shutdown.clone()).instrument(span));
    }
    info!(
        agents = tasks.len(),
        workers = poll.workers,
        "polling started"
    );
    while tasks.join_next().await.is_some() {}
    info!("polling stopped");
}

/// Delay before the next poll after `failures` consecutive failures.
pub fn backoff(interval: Duration, failures: u32, max: Duration) -> Duration {
    if failures == 0 {
        return interval;
    }
    let factor = 1u32 << failures.saturating_sub(1).min(16);
    interval.saturating_mul(factor).min(max.max(interval))
}

async fn poll_agent(
    ctx: Arc<PollContext>,
    target: AgentTarget,
    mut client: AgentClient<PollService>,
    shutdown: CancellationToken,
) {
    let poll = &ctx.config.poll;
    let me = ctx.config.id.clone();
    // Spread first polls over the interval so that agents are not all polled at once.
    let spread = score(&target.id, &me) % (poll.interval.as_millis().max(1) as u64);
    let mut delay = Duration::from_millis(spread);
    // The cursor on the agent: its buffer epoch and the last sequence stored.
    let mut cursor = (0u64, 0u64);
    // Its series dictionary, as far as this poller holds it.
    let mut dictionary = Dictionary::default();
    let mut failures = 0u32;
    let mut owned = false;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
        let now = Instant::now();
        if ctx.view.settling(now) {
            delay = Duration::from_millis(100);
            continue;
        }
        let owns = ctx.view.current(now).owns(&me, &target.id);
        if owns != owned {
            owned = owns;
            if owns {
                info!("agent assigned to this member");
                ctx.state.adopt(&target.id, strata_proto::now_ms());
            } else {
                info!("agent assigned to another member");
                ctx.state.release(&target.id);
                // A later owner of ours starts without a cursor: everything unacknowledged.
                cursor = (0, 0);
                dictionary.reset();
                failures = 0;
            }
        }
        if !owned {
            delay = poll.interval;
            continue;
        }
        match poll_once(&ctx, &target, &mut client, &mut cursor, &mut dictionary).await {
            Ok(stored) => {
                debug!(stored, epoch = cursor.0, ack_seq = cursor.1, "polled");
                ctx.metrics.polls.fetch_add(1, Ordering::Relaxed);
                failures = 0;
            }
            Err(error) => {
                ctx.metrics.poll_failures.fetch_add(1, Ordering::Relaxed);
                failures += 1;
                if failures == 1 || failures == poll.down_after_failures {
                    warn!(%error, failures, "poll failed");
                }
                ctx.state.poll_failed(
                    &target.id,
                    &error,
                    poll.down_after_failures,
                    strata_proto::now_ms(),
                );
            }
        }
        delay = backoff(poll.interval, failures, poll.backoff_max);
    }
}

/// Polls until the agent has nothing more (or [`MAX_ROUNDS`]), storing each answer before
/// acknowledging it; returns the number of samples stored.
async fn poll_once(
    ctx: &PollContext,
    target: &AgentTarget,
    client: &mut AgentClient<PollService>,
    cursor: &mut (u64, u64),
    dictionary: &mut Dictionary,
) -> std::result::Result<usize, String> {
    let mut stored = 0;
    let mut latest = Latest::default();
    for _ in 0..MAX_ROUNDS {
        let request = PollRequest {
            agent_id: target.id.clone(),
            ack_seq: cursor.1,
            max_samples: ctx.config.poll.max_samples,
            poller: ctx.config.id.clone(),
            epoch: cursor.0,
            known_series: dictionary.known(cursor.0),
        };
        let answer = client
            .poll(request)
            .await
            .map_err(|status| format!("poll {}: {}", target.address, status.message()))?
            .into_inner();
        dictionary.learn(&ctx.tsdb, &target.id, &answer)?;
        let got = ingest(&ctx.tsdb, &target.id, &answer, dictionary)
            .map_err(|e| format!("store samples: {e}"))?;
        stored += got.stored;
        ctx.metrics
            .samples_stored
            .fetch_add(got.stored as u64, Ordering::Relaxed);
        ctx.metrics
            .samples_skipped
            .fetch_add(got.skipped as u64, Ordering::Relaxed);
        let l = judge::latest(&answer, dictionary);
        latest.cpu = l.cpu.or(latest.cpu);
        latest.memory = l.memory.or(latest.memory);
        latest.filesystem = l.filesystem.or(latest.filesystem);
        let epoch = answer.buffer.as_ref().map_or(0, |b| b.epoch);
        *cursor = (epoch, answer.last_seq);
        if !answer.more {
            break;
        }
    }
    let verdicts = judge::judge(&latest, &ctx.config.thresholds);
    ctx.state
        .poll_succeeded(&target.id, &verdicts, strata_proto::now_ms());
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_bound() {
        let i = Duration::from_secs(5);
        let max = Duration::from_secs(60);
        assert_eq!(backoff(i, 0, max), i);
        assert_eq!(backoff(i, 1, max), i);
        assert_eq!(backoff(i, 2, max), Duration::from_secs(10));
        assert_eq!(backoff(i, 4, max), Duration::from_secs(40));
        assert_eq!(backoff(i, 5, max), max);
        assert_eq!(backoff(i, 60, max), max);
    }
}
