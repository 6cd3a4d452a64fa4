//! What a sub-manager may change at run time through `Agent.Configure`: items, intervals and
//! checks, with no restart.
//!
//! The pushed part lies over the local file: a pushed `[items.<name>]` replaces the local
//! one, pushed checks run beside the local ones (a name may not be used twice). Actions are
//! never pushed: a pushed process check may only name an action that the local file
//! whitelists, so no one can make the agent run a command its own host did not allow.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use strata_proto::v1::RunActionResponse;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::checks::spec::set_problems;
use crate::checks::{ActionConfig, CheckConfig, Checks, Context, clip, command};
use crate::config::AgentConfig;
use crate::entry::AgentEntry;
use crate::error::AgentError;
use crate::items::{self, ItemConfig};
use crate::procfs::processes::ProcessTable;

/// The configuration a sub-manager pushes.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PushedConfig {
    pub items: BTreeMap<String, ItemConfig>,
    pub checks: Vec<CheckConfig>,
}

struct State {
    pushed: PushedConfig,
    checks: Checks,
}

/// The agent's run-time configuration and what applies it.
pub struct Control {
    local_items: BTreeMap<String, ItemConfig>,
    local_checks: Vec<CheckConfig>,
    actions: BTreeMap<String, ActionConfig>,
    state: tokio::sync::Mutex<State>,
    items_tx: watch::Sender<BTreeMap<String, ItemConfig>>,
    /// The host's processes, shared with the collector.
    pub processes: Arc<Mutex<ProcessTable>>,
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
        let ctx = Context {
            actions: config.actions.clone(),
        };
        let mut checks = Checks::new(entry, ctx, shutdown);
        checks.apply(&config.checks);
        let (items_tx, items_rx) = watch::channel(config.items.clone());
        let control = Self {
            local_items: config.items.clone(),
            local_checks: config.checks.clone(),
            actions: config.actions.clone(),
            state: tokio::sync::Mutex::new(State {
                pushed: PushedConfig::default(),
                checks,
            }),
            items_tx,
            processes,
        };
        (control, items_rx)
    }

    /// Parses, validates and applies a pushed configuration; on any problem nothing changes
    /// and every problem is returned. Answers the names of the checks now running.
    pub async fn configure(&self, text: &str) -> Result<Vec<String>, Vec<String>> {
        let pushed: PushedConfig = toml::from_str(text).map_err(|e| vec![e.to_string()])?;
        let mut problems = items::problems(&pushed.items);
        let mut all = self.local_checks.clone();
        all.extend(pushed.checks.iter().cloned());
        problems.extend(set_problems(&all, &self.actions));
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut state = self.state.lock().await;
        state.checks.apply(&all);
        self.items_tx
            .send_replace(merged(&self.local_items, &pushed.items));
        info!(
            items = pushed.items.len(),
            checks = pushed.checks.len(),
            "pushed configuration applied"
        );
        state.pushed = pushed;
        Ok(state.checks.names())
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
mod tests {
    use super::*;
    use crate::buffer::SampleBuffer;
    use std::time::Duration;
    use strata_proto::config::RoleConfig;

    fn entry() -> Arc<AgentEntry> {
        Arc::new(AgentEntry {
            id: "a".into(),
            hostname: "a".into(),
            cpu_count: 1,
            collect_interval_ms: 1000,
            buffer: Mutex::new(SampleBuffer::new(1000, Duration::from_secs(60))),
            checks: Mutex::default(),
        })
    }

    #[tokio::test]
    async fn pushed_checks_run_beside_local_ones_and_bad_pushes_change_nothing() {
        let config = AgentConfig::parse(
            "[actions.fix]\ncommand = ['true']\n[[checks]]\nname = 'local'\nkind = 'script'\ncommand = ['true']\ninterval = '100ms'",
        )
        .unwrap();
        let shutdown = CancellationToken::new();
        let entry = entry();
        let (control, mut items) =
            Control::start(&config, entry.clone(), Arc::default(), shutdown.clone());
        let names = control
            .configure("[items.cpu]\ninterval = '30s'\n[[checks]]\nname = 'pushed'\nkind = 'process'\nmatch = 'x'\nrestart = 'fix'")
            .await
            .unwrap();
        assert_eq!(names, vec!["local", "pushed"]);
        items.changed().await.unwrap();
        assert_eq!(
            items.borrow()["cpu"].interval,
            Some(Duration::from_secs(30))
        );
        for bad in [
            "[[checks]]\nname = 'local'\nkind = 'script'\ncommand = ['true']",
            "[[checks]]\nname = 'p'\nkind = 'process'\nmatch = 'x'\nrestart = 'rm-rf'",
            "[actions.rm]\ncommand = ['rm']",
            "[items.cpu]\ninterval = 5",
        ] {
            let problems = control.configure(bad).await.unwrap_err();
            assert!(!problems.is_empty(), "{bad}");
        }
        let problems = control
            .configure("[[checks]]\nname = 'p'\nkind = 'process'\nmatch = 'x'\nrestart = 'rm-rf'")
            .await
            .unwrap_err();
        assert!(problems[0].contains("'rm-rf'"), "{problems:?}");
        // the local check reports; the pushed one is still there
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let latest = entry.checks.lock().unwrap().clone();
            assert!(latest.contains_key("pushed"));
            if latest["local"].is_some() {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no result from the local check"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // pushing an empty config removes the pushed check only
        assert_eq!(control.configure("").await.unwrap(), vec!["local"]);
        shutdown.cancel();
        control.stop().await;
        let buffer = entry.buffer.lock().unwrap();
        assert!(
            buffer.len() >= 2,
            "the check's state and duration were buffered"
        );
    }
}
