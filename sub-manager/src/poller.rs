//! Polling of the region's agents, on worker threads of their own.
//!
//! The poller runs on its own tokio runtime, so that polling load (and the RocksDB writes it
//! makes) never delays the API's threads. Each agent has a task that polls on its interval,
//! backing off exponentially while the agent fails; all polls go through one tower stack with
//! a timeout and a concurrency limit shared by every agent. A sample is acknowledged to the
//! agent only on the poll after the one that stored it, so nothing is freed before it is
//! durable (at-least-once; ingest is idempotent).

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use strata_proto::rendezvous::score;
use strata_proto::v1::PollRequest;
use strata_proto::v1::agent_client::AgentClient;
use strata_tsdb::Tsdb;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::actions::Recovery;
use crate::agents::{Figures, Polled};
use crate::assignment::{Share, Shares, static_share};
use crate::config::SubManagerConfig;
use crate::contact::Contact;
use crate::door::{PollClients, PollService, agent_group};
use crate::error::{Result, SubManagerError};
use crate::ingest::{AgentLimits, Dictionary, ingest};
use crate::metrics::SubManagerMetrics;
use crate::rules::RuleBook;
use crate::rules::eval::{AgentRules, Observed};
use crate::state::RegionState;

/// Most poll calls in a row for one agent in one cycle, when its buffer has more.
const MAX_ROUNDS: usize = 20;

/// What every agent task shares.
pub struct PollContext {
    pub config: Arc<SubManagerConfig>,
    pub tsdb: Arc<Tsdb>,
    pub state: Arc<RegionState>,
    pub shares: Arc<Shares>,
    pub metrics: Arc<SubManagerMetrics>,
    pub rules: Arc<RuleBook>,
    /// What the last poll of each agent saw.
    pub polled: Arc<Polled>,
    /// Runs the recovery actions of the events that polls open.
    pub recovery: Recovery,
    /// Whether this member hears anyone, before a failed poll takes an agent down.
    pub contact: Arc<Contact>,
}

/// What a poll task holds of its agent between polls.
struct Held {
    /// The cursor on the agent: its buffer epoch and the last sequence stored. A new owner
    /// starts without one and receives everything unacknowledged.
    cursor: (u64, u64),
    /// Its series dictionary, as far as this poller holds it.
    dictionary: Dictionary,
    /// The alerting rules' state on it.
    rules: AgentRules,
}

/// Starts the poll workers on threads of their own; the returned handle ends after
/// `shutdown` once every poll task has stopped.
pub fn start(ctx: PollContext, shutdown: CancellationToken) -> Result<std::thread::JoinHandle<()>> {
    let nice = ctx.config.poll.nice;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(ctx.config.poll.workers)
        .thread_name("strata-poll")
        .on_thread_start(move || lower_priority(nice))
        .enable_all()
        .build()
        .map_err(SubManagerError::Workers)?;
    let ctx = Arc::new(ctx);
    std::thread::Builder::new()
        .name("strata-poll-main".into())
        .spawn(move || runtime.block_on(run(ctx, shutdown)))
        .map_err(SubManagerError::Workers)
}

/// Lowers the calling thread's CPU priority by `nice` steps (Linux keeps it per thread), so
/// that polling yields the CPU to the API when both want it.
fn lower_priority(nice: i32) {
    if nice == 0 {
        return;
    }
    let now = rustix::process::getpriority_process(None).unwrap_or(0);
    if let Err(error) = rustix::process::setpriority_process(None, (now + nice).min(19)) {
        warn!(%error, nice, "the polling threads keep the API's CPU priority");
    }
}

/// One agent being polled.
struct Running {
    address: String,
    /// The agent's pollers, as the share in force says.
    pollers: Arc<Mutex<Vec<String>>>,
    stop: CancellationToken,
}

/// The poll tasks, kept in step with the share in force.
struct Tasks {
    ctx: Arc<PollContext>,
    clients: PollClients,
    running: HashMap<String, Running>,
    set: JoinSet<()>,
    shutdown: CancellationToken,
    /// Whether a first share was put in force: agents of the first one are spread over an
    /// interval (a starting or returning member must not poll them all at once); agents added
    /// later are orphans of a failed member and are polled at once.
    started: bool,
}

impl Tasks {
    fn reconcile(&mut self, share: &Share) {
        let gone: Vec<String> = self
            .running
            .iter()
            .filter(|(id, r)| share.get(*id).is_none_or(|t| t.address != r.address))
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            if let Some(r) = self.running.remove(&id) {
                r.stop.cancel();
            }
        }
        let poll = &self.ctx.config.poll;
        // the agents of each group at each endpoint, checked together against its certificate
        let mut behind: HashMap<(&str, &str), BTreeSet<String>> = HashMap::new();
        for (id, target) in share {
            behind
                .entry((target.address.as_str(), agent_group(id)))
                .or_default()
                .insert(id.clone());
        }
        for (id, target) in share {
            if let Some(r) = self.running.get(id) {
                let mut pollers = r.pollers.lock().expect("pollers lock poisoned");
                if *pollers != target.pollers {
                    pollers.clone_from(&target.pollers);
                }
                continue;
            }
            let at = &behind[&(target.address.as_str(), agent_group(id))];
            let client = match self.clients.client(&target.address, id, at) {
                Ok(client) => client,
                Err(error) => {
                    warn!(agent = %id, address = %target.address, %error, "agent not polled: bad address");
                    continue;
                }
            };
            let first_delay = if self.started {
                Duration::ZERO
            } else {
                // Spread first polls over the interval so that agents are not all polled at once.
                let spread =
                    score(id, &self.ctx.config.id) % (poll.interval.as_millis().max(1) as u64);
                Duration::from_millis(spread)
            };
            let running = Running {
                address: target.address.clone(),
                pollers: Arc::new(Mutex::new(target.pollers.clone())),
                stop: self.shutdown.child_token(),
            };
            let span = info_span!("agent", region = %self.ctx.config.region, agent = %id);
            self.set.spawn(
                poll_agent(
                    self.ctx.clone(),
                    id.clone(),
                    target.address.clone(),
                    running.pollers.clone(),
                    client,
                    first_delay,
                    running.stop.clone(),
                )
                .instrument(span),
            );
            self.running.insert(id.clone(), running);
        }
        if !share.is_empty() && !self.started {
            self.started = true;
            // Resources this member reported before a restart and no longer polls.
            for agent in self.ctx.state.agents() {
                if !self.running.contains_key(&agent) {
                    info!(%agent, "agent reported before a restart is no longer assigned here");
                    self.ctx.state.release(&agent);
                }
            }
        }
        self.ctx
            .metrics
            .assigned_agents
            .store(self.running.len() as u64, Ordering::Relaxed);
    }
}

async fn run(ctx: Arc<PollContext>, shutdown: CancellationToken) {
    let mut shares = ctx.shares.subscribe();
    let brokers = !ctx.config.brokers.is_empty();
    // With brokers, their first assignment is awaited for one lease; then, if none has
    // answered, the config's agents are polled (a region that starts cut off still works).
    let fall_back_at = tokio::time::Instant::now() + ctx.config.lease;
    let mut fell_back = !brokers;
    let mut tasks = Tasks {
        clients: ctx
            .recovery
            .door
            .poll_clients(ctx.config.poll.concurrency, ctx.config.poll.timeout),
        ctx: ctx.clone(),
        running: HashMap::new(),
        set: JoinSet::new(),
        shutdown: shutdown.clone(),
        started: false,
    };
    info!(workers = ctx.config.poll.workers, "polling started");
    loop {
        let share = shares.borrow_and_update().clone();
        tasks.reconcile(&share);
        debug!(agents = share.len(), "share in force");
        tokio::select! {
            _ = shutdown.cancelled() => break,
            changed = shares.changed() => if changed.is_err() { break },
            _ = tokio::time::sleep_until(fall_back_at), if !fell_back => {
                fell_back = true;
                if !ctx.shares.answered() {
                    // the last share kept on disk (self-registered agents too), and the config's
                    let mut share = ctx.shares.kept();
                    let kept = share.len();
                    share.extend(static_share(&ctx.config.agents));
                    warn!(
                        kept,
                        agents = share.len(),
                        "no broker has answered; polling the last share and the config's agents"
                    );
                    ctx.shares.fall_back(share);
                }
            }
            Some(_) = tasks.set.join_next() => {}
        }
    }
    while tasks.set.join_next().await.is_some() {}
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

/// Polls one agent of the share until `stop`, then stops reporting it.
async fn poll_agent(
    ctx: Arc<PollContext>,
    id: String,
    address: String,
    pollers: Arc<Mutex<Vec<String>>>,
    mut client: AgentClient<PollService>,
    first_delay: Duration,
    stop: CancellationToken,
) {
    let poll = &ctx.config.poll;
    info!("agent assigned to this member");
    ctx.state.adopt(&id, strata_proto::now_ms());
    let mut delay = first_delay;
    let mut held = Held {
        cursor: (0, 0),
        dictionary: Dictionary::with_limits(AgentLimits {
            max_series: ctx.config.poll.max_series_per_agent,
            max_labels: ctx.config.poll.max_labels_per_series,
            max_new_per_hour: ctx.config.poll.max_new_series_per_agent_hour,
        }),
        rules: AgentRules::resume(&ctx.state.open_rules(&id), strata_proto::now_ms()),
    };
    let mut failures = 0u32;
    // polls keep to their schedule (a poll's own time does not push the next one back); a
    // member that cannot keep up polls as soon as it can and counts the poll late
    let mut due = tokio::time::Instant::now() + delay;
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep_until(due) => {}
        }
        let assigned = pollers.lock().expect("pollers lock poisoned").clone();
        let started = strata_proto::now_ms();
        let polled = tokio::select! {
            _ = stop.cancelled() => break,
            polled = poll_once(&ctx, &id, &address, &assigned, &mut client, &mut held) => polled,
        };
        match polled {
            Ok(stored) => {
                debug!(
                    stored,
                    epoch = held.cursor.0,
                    ack_seq = held.cursor.1,
                    "polled"
                );
                ctx.metrics.polls.fetch_add(1, Ordering::Relaxed);
                failures = 0;
            }
            Err(error) => {
                ctx.metrics.poll_failures.fetch_add(1, Ordering::Relaxed);
                failures += 1;
                if failures == 1 || failures == poll.down_after_failures {
                    warn!(%error, failures, "poll failed");
                }
                let now = strata_proto::now_ms();
                if failures >= poll.down_after_failures && !ctx.contact.may_judge(started) {
                    // this member may be the one cut off: no judgement until someone answers
                    if failures == poll.down_after_failures {
                        warn!("no broker and no agent answered this member meanwhile: not judged");
                    }
                    ctx.metrics.judgements_held.fetch_add(1, Ordering::Relaxed);
                    ctx.state.poll_unjudged(&id, &error, now);
                } else {
                    ctx.state
                        .poll_failed(&id, &error, poll.down_after_failures, now);
                }
            }
        }
        delay = backoff(poll.interval, failures, poll.backoff_max);
        due += delay;
        let now = tokio::time::Instant::now();
        if due < now {
            // behind by a whole interval or more: the lag shows in the ingest histogram
            if now - due >= poll.interval {
                ctx.metrics.polls_late.fetch_add(1, Ordering::Relaxed);
            }
            due = now;
        }
    }
    if !ctx.shares.current().contains_key(&id) {
        info!("agent assigned to another member");
        ctx.state.release(&id);
        ctx.polled.forget(&id);
    }
}

/// Polls until the agent has nothing more (or [`MAX_ROUNDS`]), storing each answer before
/// acknowledging it; returns the number of samples stored.
async fn poll_once(
    ctx: &PollContext,
    agent: &str,
    address: &str,
    assigned: &[String],
    client: &mut AgentClient<PollService>,
    held: &mut Held,
) -> std::result::Result<usize, String> {
    let rules = ctx.rules.current();
    held.dictionary.follow_rules(&rules);
    held.dictionary.retry_after_the_hour(strata_proto::now_ms());
    let mut stored = 0;
    let mut skipped = 0;
    let mut observed = Observed::default();
    let mut checks = Vec::new();
    let mut buffer = None;
    // the collection time of the oldest sample this poll stores
    let mut oldest = i64::MAX;
    for _ in 0..MAX_ROUNDS {
        let request = PollRequest {
            agent_id: agent.to_string(),
            ack_seq: held.cursor.1,
            max_samples: ctx.config.poll.max_samples,
            poller: ctx.config.id.clone(),
            epoch: held.cursor.0,
            known_series: held.dictionary.known(held.cursor.0),
            dictionary: held.dictionary.generation(),
            assigned: assigned.to_vec(),
        };
        let answer = client
            .poll(request)
            .await
            .map_err(|status| {
                // a refusal still proves that this member's network works
                if crate::contact::answered(&status) {
                    ctx.contact.heard(strata_proto::now_ms());
                }
                format!("poll {address}: {}", status.message())
            })?
            .into_inner();
        ctx.contact.heard(strata_proto::now_ms());
        let dictionary = &mut held.dictionary;
        if dictionary.learn(&ctx.tsdb, &rules, agent, &answer)? {
            // indexes of earlier rounds may name other series in this dictionary
            observed = Observed::default();
        }
        let got = ingest(&ctx.tsdb, agent, &answer, dictionary)
            .map_err(|e| format!("store samples: {e}"))?;
        stored += got.stored;
        skipped += got.skipped as u64;
        let now = strata_proto::now_ms();
        ctx.metrics
            .ingest_lag
            .observe_ms(answer.samples.iter().map(|s| now - s.ts_ms));
        if let Some(ts) = answer.samples.iter().map(|s| s.ts_ms).min() {
            oldest = oldest.min(ts);
        }
        ctx.metrics
            .samples_stored
            .fetch_add(got.stored as u64, Ordering::Relaxed);
        ctx.metrics
            .samples_skipped
            .fetch_add(got.skipped as u64, Ordering::Relaxed);
        ctx.state.probes_ran(crate::probes::runs(
            &answer,
            dictionary,
            &ctx.state.resource_id(agent),
        ));
        for sample in &answer.samples {
            if let Some(entry) = dictionary.get(sample.series)
                && let Some(labels) = &entry.labels
            {
                observed.note(
                    &entry.rules,
                    sample.series,
                    sample.ts_ms,
                    sample.value,
                    labels,
                );
            }
        }
        let epoch = answer.buffer.as_ref().map_or(0, |b| b.epoch);
        held.cursor = (epoch, answer.last_seq);
        checks = answer.checks;
        buffer = answer.buffer;
        if !answer.more {
            break;
        }
    }
    let now = strata_proto::now_ms();
    ctx.polled.record(
        agent,
        Figures {
            buffer,
            polled_ms: now,
            samples: stored as u64,
            series: u64::from(held.dictionary.known(held.cursor.0)),
            over_limits: held.dictionary.over_limits(),
            skipped,
            lag_ms: if oldest == i64::MAX { 0 } else { now - oldest },
            poll_interval_ms: ctx.config.poll.interval.as_millis() as i64,
        },
    );
    let interval_ms = ctx.config.poll.interval.as_millis() as i64;
    let mut verdicts = held.rules.judge(&rules, &observed, agent, interval_ms, now);
    verdicts.extend(held.rules.checks(&checks, now));
    // the agent's own recovery tries go on the checks' events: on those already open
    // before a passing result resolves them, on those this poll opens after
    ctx.state.recovery_reported(agent, &checks);
    let opened = ctx.state.poll_succeeded(agent, &verdicts, now);
    ctx.state.recovery_reported(agent, &checks);
    // recovery actions run once, by the first of the agent's pollers
    let primary = assigned.first().is_none_or(|p| *p == ctx.config.id);
    for (verdict, event_id) in opened {
        if let Some(action) = &verdict.action
            && primary
            && !verdict.flapping
        {
            ctx.recovery
                .spawn(agent, address, &verdict.rule, action, &event_id);
        }
    }
    ctx.state.checks_reported(agent, &checks, now);
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
