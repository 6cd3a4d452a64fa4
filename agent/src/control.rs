//! What a sub-manager may change at run time through `Agent.Configure`: items, intervals and
//! checks, with no restart.
//!
//! The pushed part lies over the local file: a pushed `[items.<name>]` replaces the local
//! one, pushed checks run beside the local ones (a name may not be used twice). A push is
//! vetted against the host's [`Policy`] ([`push`]): it can never run a command the local
//! file does not list (`[commands]`; a pushed check names one with `run`, never gives a
//! command line; actions are never pushed and a process check may only name a local
//! action), never read a file outside `allow_paths`, and stays inside `[push_limits]`. On
//! any problem nothing changes and every problem is answered, each naming its key.
//!
//! With `state_dir` set, an accepted push is kept in `<state_dir>/pushed.toml` ([`persist`])
//! before it is applied, and re-applied at start; a kept push that no longer passes (the
//! local commands changed, say) is logged with its problems and ignored.

mod persist;
pub mod push;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use strata_proto::v1::RunActionResponse;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::checks::spec::set_problems;
use crate::checks::{ActionConfig, CheckConfig, Checks, Context, clip, command};
use crate::config::AgentConfig;
use crate::entry::AgentEntry;
use crate::error::AgentError;
use crate::items::ItemConfig;
use crate::policy::{Policy, PolicySummary};
use crate::procfs::processes::ProcessTable;
pub use persist::FILE as PUSHED_FILE;
pub use push::PushedConfig;

struct State {
    pushed: PushedConfig,
    checks: Checks,
}

/// The agent's run-time configuration and what applies it.
pub struct Control {
    local_items: BTreeMap<String, ItemConfig>,
    local_checks: Vec<CheckConfig>,
    actions: BTreeMap<String, ActionConfig>,
    /// The actions' tries in the last hour, shared with the checks' recoveries.
    ledger: Arc<crate::checks::recovery::Ledger>,
    policy: Arc<Policy>,
    state_dir: Option<PathBuf>,
    state: tokio::sync::Mutex<State>,
    /// The accepted pushed text, readable without waiting for a push being applied.
    pushed_text: Mutex<String>,
    items_tx: watch::Sender<BTreeMap<String, ItemConfig>>,
    /// The host's processes, shared with the collector.
    pub processes: Arc<Mutex<ProcessTable>>,
    /// Files the centre distributes, when this agent takes any.
    files: Option<Arc<crate::files::Files>>,
}

/// A pushed `text` vetted against `policy` and beside the local checks and actions: the
/// pushed configuration and every check to run, or every problem.
fn accept(
    text: &str,
    policy: &Policy,
    local_checks: &[CheckConfig],
    actions: &BTreeMap<String, ActionConfig>,
) -> Result<(PushedConfig, Vec<CheckConfig>), Vec<String>> {
    let pushed = push::parse(text, policy)?;
    let mut all = local_checks.to_vec();
    all.extend(pushed.checks.iter().cloned());
    let problems = set_problems(&all, actions);
    if problems.is_empty() {
        Ok((pushed, all))
    } else {
        Err(problems)
    }
}

/// The push kept in `dir`, if there is one and it still passes.
fn restore(
    dir: &Path,
    policy: &Policy,
    local_checks: &[CheckConfig],
    actions: &BTreeMap<String, ActionConfig>,
) -> Option<(PushedConfig, Vec<CheckConfig>)> {
    let path = persist::path(dir);
    let text = match persist::load(dir) {
        Ok(text) => text?,
        Err(error) => {
            warn!(%error, "kept pushed configuration unreadable; ignored");
            return None;
        }
    };
    match accept(&text, policy, local_checks, actions) {
        Ok(accepted) => {
            info!(path = %path.display(), checks = accepted.0.checks.len(), "kept pushed configuration re-applied");
            Some(accepted)
        }
        Err(problems) => {
            warn!(path = %path.display(), ?problems, "kept pushed configuration no longer passes; ignored");
            None
        }
    }
}

/// Local items with the pushed ones laid over them.
fn merged(
    local: &BTreeMap<String, ItemConfig>,
    pushed: &BTreeMap<String, ItemConfig>,
) -> BTreeMap<String, ItemConfig> {
    let mut items = local.clone();
    items.extend(pushed.iter().map(|(k, v)| (k.clone(), v.clone())));
    items
}

impl Control {
    /// Starts the local checks of `config` for `entry`; the receiver follows the items.
    pub fn start(
        config: &AgentConfig,
        entry: Arc<AgentEntry>,
        processes: Arc<Mutex<ProcessTable>>,
        shutdown: CancellationToken,
    ) -> (Self, watch::Receiver<BTreeMap<String, ItemConfig>>) {
        let policy = Arc::new(config.policy());
        let ledger = Arc::new(crate::checks::recovery::Ledger::default());
        let ctx = Context {
            actions: config.actions.clone(),
            policy: policy.clone(),
            ledger: ledger.clone(),
            systemctl: config.systemctl.clone(),
        };
        let mut checks = Checks::new(entry, ctx, shutdown);
        let restored = config
            .state_dir
            .as_deref()
            .and_then(|dir| restore(dir, &policy, &config.checks, &config.actions));
        let (pushed, all) =
            restored.unwrap_or_else(|| (PushedConfig::default(), config.checks.clone()));
        checks.apply(&all);
        let (items_tx, items_rx) = watch::channel(merged(&config.items, &pushed.items));
        let control = Self {
            local_items: config.items.clone(),
            local_checks: config.checks.clone(),
            actions: config.actions.clone(),
            ledger,
            policy,
            state_dir: config.state_dir.clone(),
            pushed_text: Mutex::new(pushed.text.clone()),
            state: tokio::sync::Mutex::new(State { pushed, checks }),
            items_tx,
            processes,
            files: None,
        };
        (control, items_rx)
    }

    /// The same control, writing distributed files through `files`.
    pub fn with_files(mut self, files: Arc<crate::files::Files>) -> Self {
        self.files = Some(files);
        self
    }

    /// What writes distributed files (none on simulated agents).
    pub fn files(&self) -> Option<&Arc<crate::files::Files>> {
        self.files.as_ref()
    }

    /// Parses, vets against the local policy and applies a pushed configuration, replacing
    /// the last one (kept in `state_dir` first, when set); on any problem nothing changes and
    /// every problem is returned, each naming its key. Answers the names of the checks now
    /// running.
    pub async fn configure(&self, text: &str) -> Result<Vec<String>, Vec<String>> {
        let (pushed, all) = accept(text, &self.policy, &self.local_checks, &self.actions)
            .inspect_err(|problems| warn!(?problems, "pushed configuration refused"))?;
        let mut state = self.state.lock().await;
        if let Some(dir) = &self.state_dir
            && let Err(error) = persist::store(dir, text).await
        {
            warn!(%error, "pushed configuration refused: it could not be kept");
            return Err(vec![format!("state_dir: {error}")]);
        }
        state.checks.apply(&all);
        self.items_tx
            .send_replace(merged(&self.local_items, &pushed.items));
        info!(
            items = pushed.items.len(),
            checks = pushed.checks.len(),
            "pushed configuration applied"
        );
        *self.pushed_text.lock().expect("pushed text lock poisoned") = pushed.text.clone();
        state.pushed = pushed;
        Ok(state.checks.names())
    }

    /// The accepted pushed configuration's TOML text, as pushed (empty if none): what a
    /// `GetConfig` answers.
    pub fn pushed_text(&self) -> String {
        self.pushed_text
            .lock()
            .expect("pushed text lock poisoned")
            .clone()
    }

    /// What the local config allows a push: command names, `allow_paths`, `[push_limits]`.
    pub fn policy_summary(&self) -> PolicySummary {
        self.policy.summary()
    }

    /// Runs the action `name` of the local `[actions]` for `reason` (an event), and only
    /// such an action: anything else is refused, whoever asks.
    pub async fn run_action(
        &self,
        name: &str,
        reason: &str,
    ) -> Result<RunActionResponse, AgentError> {
        let Some(action) = self.actions.get(name) else {
            warn!(action = name, %reason, "asked to run an action that is not whitelisted; refused");
            return Err(AgentError::ActionRefused {
                name: name.to_string(),
            });
        };
        // the hour's cap holds for the region's asks as for the checks' own tries
        if let Err(why) = self.ledger.take(name, action, strata_proto::now_ms()) {
            warn!(action = name, %reason, %why, "action not run: its hourly cap is reached");
            return Ok(RunActionResponse {
                ok: false,
                result: format!("not run: {why}"),
                output: String::new(),
                duration_ms: 0,
            });
        }
        warn!(action = name, command = ?action.command, %reason, "running whitelisted action for an event");
        let started = std::time::Instant::now();
        let finished = command::run(&action.command, action.timeout, 8 * 1024)
            .await
            .map_err(|source| AgentError::ActionStart {
                name: name.to_string(),
                source,
            })?;
        let output: Vec<String> = finished
            .stdout
            .lines()
            .chain(finished.stderr.lines())
            .take(20)
            .map(|l| clip(l, 512))
            .collect();
        let result = finished.exit.describe();
        info!(action = name, %result, "action finished");
        Ok(RunActionResponse {
            ok: matches!(finished.exit, command::Exit::Code(0)),
            result,
            output: output.join("\n"),
            duration_ms: started.elapsed().as_millis() as i64,
        })
    }

    /// Stops every check.
    pub async fn stop(self) {
        self.state.into_inner().checks.stop().await;
    }
}

#[cfg(test)]
mod tests;
