//! Checks and probes: each runs on its own interval and gives a Nagios-style state, a message
//! and metrics.
//!
//! Every check runs in its own task, so a slow one (a script near its timeout, a probe of a
//! port that never answers) delays nothing else. Results go through one bounded channel to a
//! sink that stores the metrics in the agent's buffer (so they reach the sub-manager with no
//! loss, like every sample) and keeps the latest result of each check for polls and
//! snapshots. Checks whose definition did not change survive a reconfiguration with their
//! state (a log check keeps its place in the file).

pub mod access;
pub mod command;
pub mod dns;
pub mod http;
pub mod log;
pub mod outcome;
pub mod perfdata;
pub mod port;
pub mod process;
pub mod recovery;
pub mod routes;
pub mod script;
pub mod smtp;
pub mod spec;
pub mod systemd;
pub mod tail;
pub mod tls;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use strata_proto::labels::LabelMap;
use strata_proto::v1::{CheckResult, CheckState};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info_span, warn};

use crate::durations;
use crate::entry::AgentEntry;
use crate::policy::Policy;
pub use outcome::{Metric, Outcome, clip, worse};
pub use spec::{ActionConfig, CheckConfig, CheckSpec};

/// What a check may use beyond its own definition.
#[derive(Debug, Default)]
pub struct Context {
    /// The local config's whitelisted actions.
    pub actions: BTreeMap<String, ActionConfig>,
    /// The local `[commands]`, `allow_paths` and `[push_limits]`.
    pub policy: Arc<Policy>,
    /// The recovery actions' tries in the last hour, shared with `RunAction`.
    pub ledger: Arc<recovery::Ledger>,
    /// The local `systemctl` program (None: `systemctl` on the PATH).
    pub systemctl: Option<std::path::PathBuf>,
}

/// The state a check keeps between runs.
enum Runner {
    Process(process::ProcessCheck),
    Port(spec::PortSpec),
    Log(Box<log::LogCheck>),
    AccessLog(Box<access::AccessLogCheck>),
    /// The command line, or why the check may not run one.
    Script(Result<Vec<String>, String>),
    Http(spec::HttpSpec),
    Dns(spec::DnsSpec),
    Smtp(spec::SmtpSpec),
    Routes(Box<routes::RoutesCheck>),
    Systemd(Box<systemd::SystemdCheck>),
}

impl Runner {
    /// A pushed check's command line comes from the local `[commands]` only, and its files
    /// are opened under `allow_paths` only, whatever validation let through. A file check
    /// resumes at the place `kept` by an earlier life, when given.
    fn new(config: &CheckConfig, ctx: &Context, kept: Option<&str>) -> Self {
        let guard = config.pushed.then(|| ctx.policy.allow_paths.clone());
        match config.spec.clone() {
            CheckSpec::Process(s) => Self::Process(process::ProcessCheck::new(s)),
            CheckSpec::Port(s) => Self::Port(s),
            CheckSpec::Log(s) => {
                let mut c = log::LogCheck::new(s, guard);
                if let Some(k) = kept {
                    c.resume(k);
                }
                Self::Log(Box::new(c))
            }
            CheckSpec::AccessLog(s) => {
                let mut c = access::AccessLogCheck::new(s, guard);
                if let Some(k) = kept {
                    c.resume(k);
                }
                Self::AccessLog(Box::new(c))
            }
            CheckSpec::Script(s) => Self::Script(script::command_line(
                &s,
                config.pushed,
                &ctx.policy.commands,
            )),
            CheckSpec::Http(s) => Self::Http(s),
            CheckSpec::Dns(s) => Self::Dns(s),
            CheckSpec::Smtp(s) => Self::Smtp(s),
            CheckSpec::Systemd(s) => Self::Systemd(Box::new(systemd::SystemdCheck::new(s))),
            CheckSpec::Routes(s) => {
                let mut c = routes::RoutesCheck::new(s, "/proc".into());
                if let Some(k) = kept {
                    c.resume(k);
                }
                Self::Routes(Box::new(c))
            }
        }
    }

    /// Runs once; file and /proc readers run on the blocking pool. No runner comes back when
    /// the run panicked: the check starts afresh.
    async fn run(self, timeout: Duration, ctx: &Context) -> (Option<Self>, Outcome) {
        let (runner, outcome) = match self {
            Self::Process(mut c) => {
                let outcome = c.run(timeout, ctx).await;
                (Self::Process(c), outcome)
            }
            Self::Port(s) => {
                let outcome = port::run(&s, timeout).await;
                (Self::Port(s), outcome)
            }
            Self::Log(mut c) => {
                return blocking(move || {
                    let o = c.run();
                    (Some(Self::Log(c)), o)
                })
                .await
                .unwrap_or_else(|o| (None, o));
            }
            Self::AccessLog(mut c) => {
                return blocking(move || {
                    let o = c.run();
                    (Some(Self::AccessLog(c)), o)
                })
                .await
                .unwrap_or_else(|o| (None, o));
            }
            Self::Script(argv) => {
                let outcome = match &argv {
                    Ok(argv) => script::run(argv, timeout).await,
                    Err(refused) => Outcome::new(CheckState::Unknown, refused.clone()),
                };
                (Self::Script(argv), outcome)
            }
            Self::Http(s) => {
                let outcome = http::run(&s, timeout).await;
                (Self::Http(s), outcome)
            }
            Self::Dns(s) => {
                let outcome = dns::run(&s, timeout).await;
                (Self::Dns(s), outcome)
            }
            Self::Smtp(s) => {
                let outcome = smtp::run(&s, timeout).await;
                (Self::Smtp(s), outcome)
            }
            Self::Systemd(mut c) => {
                let outcome = c.run(timeout, ctx).await;
                (Self::Systemd(c), outcome)
            }
            Self::Routes(mut c) => {
                return blocking(move || {
                    let o = c.run();
                    (Some(Self::Routes(c)), o)
                })
                .await
                .unwrap_or_else(|o| (None, o));
            }
        };
        (Some(runner), outcome)
    }
}

/// Runs `f` on the blocking pool; a panic becomes an UNKNOWN outcome.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, Outcome> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        Outcome::new(
            CheckState::Unknown,
            format!("check failed unexpectedly: {e}"),
        )
    })
}

/// One result, on its way to the sink.
#[derive(Debug)]
struct Report {
    name: String,
    kind: &'static str,
    ts_ms: i64,
    duration: Duration,
    outcome: Outcome,
}

/// Runs one check on its interval until cancelled, from the place `kept` by an earlier
/// life when given.
async fn check_loop(
    config: CheckConfig,
    ctx: Arc<Context>,
    kept: Option<String>,
    tx: mpsc::Sender<Report>,
    cancel: CancellationToken,
) {
    let mut runner = Some(Runner::new(&config, &ctx, kept.as_deref()));
    let mut ticker = tokio::time::interval(durations::period(config.interval));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Scripts and probes honour `timeout` themselves; this bound catches anything that
    // does not, so a run can never hang the check.
    let bound = durations::capped(config.timeout) + Duration::from_secs(2);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let started = Instant::now();
        let Some(current) = runner.take() else { return };
        let run = current.run(config.timeout, &ctx);
        let outcome = tokio::select! {
            _ = cancel.cancelled() => return,
            done = tokio::time::timeout(bound, run) => match done {
                Ok((next, outcome)) => {
                    runner = Some(next.unwrap_or_else(|| Runner::new(&config, &ctx, None)));
                    outcome
                }
                Err(_) => {
                    // the runner was dropped with its future: start afresh next time
                    runner = Some(Runner::new(&config, &ctx, None));
                    Outcome::new(
                        CheckState::Unknown,
                        format!("no result within {}", humantime::format_duration(bound)),
                    )
                }
            },
        };
        debug!(state = ?outcome.state, message = %outcome.message, "check ran");
        let report = Report {
            name: config.name.clone(),
            kind: config.spec.kind(),
            ts_ms: strata_proto::now_ms(),
            duration: started.elapsed(),
            outcome,
        };
        tokio::select! {
            _ = cancel.cancelled() => return,
            sent = tx.send(report) => if sent.is_err() { return },
        }
    }
}

/// Stores reports: metrics into the buffer, the latest result of each check for polls.
async fn sink(mut rx: mpsc::Receiver<Report>, entry: Arc<AgentEntry>) {
    while let Some(r) = rx.recv().await {
        let result = CheckResult {
            name: r.name.clone(),
            kind: r.kind.to_string(),
            state: r.outcome.state as i32,
            message: r.outcome.message,
            ts_ms: r.ts_ms,
            duration_seconds: r.duration.as_secs_f64(),
            detail: r.outcome.detail,
            recovery: r.outcome.recovery,
        };
        let mut labels = LabelMap::new();
        labels.insert("check".into(), r.name.clone());
        labels.insert("kind".into(), r.kind.to_string());
        {
            let mut buffer = entry.buffer.lock().expect("buffer lock poisoned");
            buffer.push_series(
                "strata_check_state",
                &labels,
                r.ts_ms,
                f64::from(result.state),
            );
            buffer.push_series(
                "strata_check_duration_seconds",
                &labels,
                r.ts_ms,
                result.duration_seconds,
            );
            for m in r.outcome.metrics {
                let mut l = LabelMap::new();
                l.insert("check".into(), r.name.clone());
                for (k, v) in m.labels {
                    l.insert(k.to_string(), v);
                }
                buffer.push_series(m.name, &l, r.ts_ms, m.value);
            }
            // the place is kept after the samples that count what was read up to it
            if r.outcome.keep.is_some() {
                buffer.keep_state(&r.name, r.outcome.keep);
            }
            buffer.commit();
        }
        let mut latest = entry.checks.lock().expect("check results lock poisoned");
        // a report of a check removed meanwhile is dropped
        if let Some(slot) = latest.get_mut(&r.name) {
            *slot = Some(result);
        }
    }
}

struct Running {
    source: toml::Table,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

/// The checks running for one agent; [`Checks::apply`] replaces the set.
pub struct Checks {
    entry: Arc<AgentEntry>,
    ctx: Arc<Context>,
    tx: mpsc::Sender<Report>,
    running: HashMap<String, Running>,
    shutdown: CancellationToken,
    sink: JoinHandle<()>,
}

impl Checks {
    /// No checks yet; results of later ones go to `entry`. Stops with `shutdown`.
    pub fn new(entry: Arc<AgentEntry>, ctx: Context, shutdown: CancellationToken) -> Self {
        let (tx, rx) = mpsc::channel(256);
        let sink = tokio::spawn(sink(rx, entry.clone()));
        Self {
            entry,
            ctx: Arc::new(ctx),
            tx,
            running: HashMap::new(),
            shutdown,
            sink,
        }
    }

    /// Runs exactly `configs` (the enabled ones): unchanged checks keep running with their
    /// state, changed ones restart, the others stop.
    pub fn apply(&mut self, configs: &[CheckConfig]) {
        let wanted: HashMap<&str, &CheckConfig> = configs
            .iter()
            .filter(|c| c.enabled)
            .map(|c| (c.name.as_str(), c))
            .collect();
        self.running.retain(|name, r| {
            let keep = wanted
                .get(name.as_str())
                .is_some_and(|c| c.source == r.source);
            if !keep {
                r.cancel.cancel();
                r.task.abort();
            }
            keep
        });
        let mut latest = self
            .entry
            .checks
            .lock()
            .expect("check results lock poisoned");
        latest.retain(|name, _| wanted.contains_key(name.as_str()));
        let mut buffer = self.entry.buffer.lock().expect("buffer lock poisoned");
        for name in buffer.kept_keys() {
            if !wanted.contains_key(name.as_str()) {
                buffer.keep_state(&name, None);
            }
        }
        for (name, config) in wanted {
            if self.running.contains_key(name) {
                continue;
            }
            latest.insert(name.to_string(), None);
            let cancel = self.shutdown.child_token();
            let span = info_span!("check", check = %name, kind = config.spec.kind(), agent = %self.entry.id);
            let task = tokio::spawn(
                check_loop(
                    config.clone(),
                    self.ctx.clone(),
                    buffer.kept_state(name),
                    self.tx.clone(),
                    cancel.clone(),
                )
                .instrument(span),
            );
            self.running.insert(
                name.to_string(),
                Running {
                    source: config.source.clone(),
                    cancel,
                    task,
                },
            );
        }
    }

    /// Names of the running checks, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<_> = self.running.keys().cloned().collect();
        names.sort();
        names
    }

    /// Stops every check and waits for the sink to store what was reported.
    pub async fn stop(mut self) {
        for (_, r) in self.running.drain() {
            r.cancel.cancel();
            let _ = r.task.await;
        }
        drop(self.tx);
        if tokio::time::timeout(Duration::from_secs(5), &mut self.sink)
            .await
            .is_err()
        {
            warn!("check results were still being stored at shutdown");
            self.sink.abort();
        }
    }
}
