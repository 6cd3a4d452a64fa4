//! Recovery actions: when an event of a rule with an `action` opens, the agent is asked to
//! run that action — which it does only if its own local config whitelists it; nothing
//! else can be run remotely. What happened (result, output, or why it did not run) is
//! recorded on the event, which carries it to the centre's incidents and audit log.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use strata_proto::v1::{ActionRun, RunActionRequest};
use tracing::{Instrument, info, info_span, warn};

use crate::metrics::SubManagerMetrics;
use crate::state::RegionState;

/// Longest wait for an action (the agent bounds each by its own timeout, 60 s by default).
pub const ACTION_TIMEOUT: Duration = Duration::from_secs(180);

/// What running recovery actions takes: where their outcomes are recorded, their counter,
/// and how long connecting to an agent may take.
#[derive(Clone)]
pub struct Recovery {
    pub state: Arc<RegionState>,
    pub metrics: Arc<SubManagerMetrics>,
    /// Timeout of the connection to the agent (the poll timeout).
    pub connect_timeout: Duration,
    /// Where channels to agents are made.
    pub door: crate::door::Door,
}

impl Recovery {
    /// Asks `agent` at `address` to run `action` for event `event_id` of `rule`, in the
    /// background; the outcome is recorded on the event.
    pub fn spawn(&self, agent: &str, address: &str, rule: &str, action: &str, event_id: &str) {
        self.metrics.actions_run.fetch_add(1, Ordering::Relaxed);
        let state = self.state.clone();
        let timeout = self.connect_timeout;
        let door = self.door.clone();
        let (agent, address, rule, action, event_id) = (
            agent.to_string(),
            address.to_string(),
            rule.to_string(),
            action.to_string(),
            event_id.to_string(),
        );
        let span = info_span!("action", %agent, %action, event = %event_id);
        tokio::spawn(
            async move {
                let started_ms = strata_proto::now_ms();
                let outcome = run(&agent, &address, &action, &event_id, timeout, &door).await;
                let run = match outcome {
                    Ok((ok, result, output)) => {
                        info!(ok, %result, "recovery action finished");
                        ActionRun {
                            action: action.clone(),
                            started_ms,
                            finished_ms: strata_proto::now_ms(),
                            ok,
                            output: if output.is_empty() {
                                result
                            } else {
                                format!("{result}: {output}")
                            },
                        }
                    }
                    Err(why) => {
                        warn!(error = %why, "recovery action did not run");
                        ActionRun {
                            action: action.clone(),
                            started_ms,
                            finished_ms: strata_proto::now_ms(),
                            ok: false,
                            output: why,
                        }
                    }
                };
                state.action_ran(&agent, &rule, run);
            }
            .instrument(span),
        );
    }
}

async fn run(
    agent: &str,
    address: &str,
    action: &str,
    event_id: &str,
    connect_timeout: Duration,
    door: &crate::door::Door,
) -> Result<(bool, String, String), String> {
    let mut client = door
        .agent(address, agent, connect_timeout)
        .map_err(|e| format!("agent address '{address}': {e}"))?;
    let call = client.run_action(RunActionRequest {
        agent_id: agent.to_string(),
        action: action.to_string(),
        reason: event_id.to_string(),
    });
    match tokio::time::timeout(ACTION_TIMEOUT, call).await {
        Ok(Ok(answer)) => {
            let a = answer.into_inner();
            Ok((a.ok, a.result, a.output))
        }
        Ok(Err(status)) => Err(format!("the agent refused or failed: {}", status.message())),
        Err(_) => Err(format!("no answer within {ACTION_TIMEOUT:?}")),
    }
}
