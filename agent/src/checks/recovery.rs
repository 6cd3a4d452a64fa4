//! Recovery that proves itself: a failed check's whitelisted action is tried again with a
//! growing wait between tries, never more than its cap in an hour, and every try is kept
//! with its outcome so that the region can say which failures recovery resolved.
//!
//! A service that fails again as soon as it is restarted must not be restarted without
//! end: each action (`[actions.<name>]` of the local file) has `retries` per failure (a
//! failure lasts until its check passes again), a `backoff` doubling up to `max_backoff`
//! between them, and `max_per_hour` over every failure and every caller (checks and the
//! region's `RunAction` alike). A try that may not run says why in the check's message.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;
use strata_proto::v1::ActionRun;
use tracing::{info, warn};

use super::command;
use super::outcome::{Outcome, clip};

const HOUR_MS: i64 = 3_600_000;

/// A command the agent may run on an event or a failed check: only what the local config
/// lists here can ever be run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionConfig {
    /// Program and arguments (no shell).
    pub command: Vec<String>,
    /// Killed with its process group after this long (default 60 s).
    #[serde(default = "minute", with = "humantime_serde")]
    pub timeout: Duration,
    /// Tries for one failure of a check (default 3).
    #[serde(default = "three")]
    pub retries: u32,
    /// Wait after the first try before the second, doubling after each (default 10 s).
    #[serde(default = "ten_seconds", with = "humantime_serde")]
    pub backoff: Duration,
    /// Longest wait between tries (default 5 min).
    #[serde(default = "five_minutes", with = "humantime_serde")]
    pub max_backoff: Duration,
    /// Tries in any hour, over every failure and caller (default 6).
    #[serde(default = "six")]
    pub max_per_hour: u32,
}

fn minute() -> Duration {
    Duration::from_secs(60)
}
fn three() -> u32 {
    3
}
fn ten_seconds() -> Duration {
    Duration::from_secs(10)
}
fn five_minutes() -> Duration {
    Duration::from_secs(300)
}
fn six() -> u32 {
    6
}

impl ActionConfig {
    /// An action running `command` with the default timeout, retries and caps.
    pub fn new(command: Vec<String>) -> Self {
        Self {
            command,
            timeout: minute(),
            retries: three(),
            backoff: ten_seconds(),
            max_backoff: five_minutes(),
            max_per_hour: six(),
        }
    }

    /// The wait after try `n` (1-based) before the next.
    pub fn wait_after(&self, n: u32) -> Duration {
        let doubled = self
            .backoff
            .checked_mul(1u32 << n.saturating_sub(1).min(30))
            .unwrap_or(self.max_backoff);
        doubled.min(self.max_backoff)
    }
}

/// Problems of the local `[actions]`, each naming its key.
pub fn action_problems(actions: &BTreeMap<String, ActionConfig>) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, a) in actions {
        if a.command.is_empty() {
            problems.push(format!("actions.{name}: command: must name a program"));
        }
        if !(1..=100).contains(&a.retries) {
            problems.push(format!(
                "actions.{name}.retries: {} is not between 1 and 100",
                a.retries
            ));
        }
        if a.max_per_hour == 0 {
            problems.push(format!("actions.{name}.max_per_hour: must be at least 1"));
        }
        if a.max_backoff < a.backoff {
            problems.push(format!("actions.{name}.max_backoff: below backoff"));
        }
    }
    problems
}

/// The tries of each action in the last hour, shared by every check and by `RunAction`.
#[derive(Debug, Default)]
pub struct Ledger {
    tries: Mutex<HashMap<String, VecDeque<i64>>>,
}

impl Ledger {
    /// Takes one try of `name` at `now_ms`, or says why the hour's cap forbids it.
    pub fn take(&self, name: &str, action: &ActionConfig, now_ms: i64) -> Result<(), String> {
        let mut tries = self.tries.lock().expect("recovery ledger lock poisoned");
        let window = tries.entry(name.to_string()).or_default();
        while window.front().is_some_and(|t| now_ms - *t >= HOUR_MS) {
            window.pop_front();
        }
        if window.len() >= action.max_per_hour as usize {
            let next = window.front().map_or(0, |t| t + HOUR_MS - now_ms);
            return Err(format!(
                "{} tries of '{name}' in the last hour (max_per_hour = {}); the next may run in {}s",
                window.len(),
                action.max_per_hour,
                (next + 999) / 1000
            ));
        }
        window.push_back(now_ms);
        Ok(())
    }
}

/// Runs `action` once and says how it went.
pub async fn run_once(name: &str, action: &ActionConfig, timeout: Duration) -> ActionRun {
    let started_ms = strata_proto::now_ms();
    warn!(action = name, command = ?action.command, "running whitelisted recovery action");
    let (ok, output) = match command::run(&action.command, action.timeout.max(timeout), 8 * 1024)
        .await
    {
        Ok(f) => {
            let result = f.exit.describe();
            info!(action = name, %result, stdout = %clip(&f.stdout, 512), stderr = %clip(&f.stderr, 512), "recovery action finished");
            let lines: Vec<String> = f
                .stdout
                .lines()
                .chain(f.stderr.lines())
                .take(5)
                .map(|l| clip(l, 512))
                .collect();
            let output = if lines.is_empty() {
                result
            } else {
                format!("{result}: {}", lines.join(" | "))
            };
            (matches!(f.exit, command::Exit::Code(0)), output)
        }
        Err(e) => {
            warn!(action = name, error = %e, "recovery action could not start");
            (false, format!("could not start: {e}"))
        }
    };
    ActionRun {
        action: name.to_string(),
        started_ms,
        finished_ms: strata_proto::now_ms(),
        ok,
        output,
    }
}

/// One check's recovery: the tries since it last passed and when the next may run.
#[derive(Debug, Default)]
pub struct Episode {
    runs: Vec<ActionRun>,
    next_ms: i64,
}

impl Episode {
    /// The check failed: tries `name` if its retries, backoff and hourly cap allow, and
    /// says in `outcome` what was done; the failure's tries go with the outcome.
    pub async fn failed(
        &mut self,
        name: &str,
        ctx: &super::Context,
        timeout: Duration,
        outcome: &mut Outcome,
    ) {
        let Some(action) = ctx.actions.get(name) else {
            // validation forbids this; a pushed config can never add actions
            warn!(
                action = name,
                "recovery action is not whitelisted in the local config; not run"
            );
            outcome.message.push_str(&format!(
                "; action '{name}' is not whitelisted locally; not run"
            ));
            return;
        };
        let now = strata_proto::now_ms();
        let tried = self.runs.len() as u32;
        let note = if tried >= action.retries {
            format!(
                "gave up on '{name}' after {tried} tries (retries = {}); a person is needed",
                action.retries
            )
        } else if now < self.next_ms {
            format!(
                "try {} of '{name}' in {}s",
                tried + 1,
                (self.next_ms - now + 999) / 1000
            )
        } else if let Err(why) = ctx.ledger.take(name, action, now) {
            format!("'{name}' not run: {why}")
        } else {
            let run = run_once(name, action, timeout).await;
            let note = format!(
                "ran '{name}' (try {} of {}): {}",
                tried + 1,
                action.retries,
                run.output
            );
            self.next_ms = run.finished_ms + action.wait_after(tried + 1).as_millis() as i64;
            self.runs.push(run);
            note
        };
        outcome.message.push_str(&format!("; {note}"));
        outcome.recovery.clone_from(&self.runs);
    }

    /// The check passed: a failure that had tries is over, recovered; its tries go with
    /// this outcome one last time.
    pub fn passed(&mut self, outcome: &mut Outcome) {
        if self.runs.is_empty() {
            return;
        }
        let n = self.runs.len();
        outcome.message.push_str(&format!(
            "; recovered after {n} {}",
            if n == 1 { "try" } else { "tries" }
        ));
        outcome.recovery = std::mem::take(&mut self.runs);
        self.next_ms = 0;
    }

    /// Tries made since the check last passed.
    pub fn tries(&self) -> usize {
        self.runs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Context;
    use strata_proto::v1::CheckState;

    fn action(command: &[&str], retries: u32, per_hour: u32) -> ActionConfig {
        ActionConfig {
            retries,
            max_per_hour: per_hour,
            backoff: Duration::from_millis(300),
            max_backoff: Duration::from_secs(1),
            ..ActionConfig::new(command.iter().map(|s| s.to_string()).collect())
        }
    }

    #[test]
    fn the_wait_doubles_up_to_its_bound() {
        let a = action(&["true"], 3, 6);
        let waits: Vec<u64> = (1..=5)
            .map(|n| a.wait_after(n).as_millis() as u64)
            .collect();
        assert_eq!(waits, [300, 600, 1000, 1000, 1000]);
        assert_eq!(a.wait_after(200), Duration::from_secs(1));
    }

    #[test]
    fn the_hourly_cap_counts_every_try_and_frees_after_an_hour() {
        let ledger = Ledger::default();
        let a = action(&["true"], 3, 2);
        assert!(ledger.take("fix", &a, 0).is_ok());
        assert!(ledger.take("fix", &a, 1000).is_ok());
        let refused = ledger.take("fix", &a, 2000).unwrap_err();
        assert!(
            refused.contains("2 tries of 'fix' in the last hour"),
            "{refused}"
        );
        assert!(refused.contains("max_per_hour = 2"), "{refused}");
        // another action has its own count; the first try leaves the window after an hour
        assert!(ledger.take("other", &a, 2000).is_ok());
        assert!(ledger.take("fix", &a, HOUR_MS).is_ok());
    }

    #[tokio::test]
    async fn tries_wait_their_backoff_give_up_after_their_retries_and_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let count = dir.path().join("tries");
        let mut ctx = Context::default();
        let script = format!("echo x >> {}; exit 1", count.display());
        ctx.actions
            .insert("fix".into(), action(&["sh", "-c", &script], 2, 10));
        let mut episode = Episode::default();
        let timeout = Duration::from_secs(5);
        let fail = || Outcome::new(CheckState::Critical, "down");
        let mut o = fail();
        episode.failed("fix", &ctx, timeout, &mut o).await;
        assert!(
            o.message.contains("ran 'fix' (try 1 of 2): exit 1"),
            "{}",
            o.message
        );
        assert_eq!(o.recovery.len(), 1);
        assert!(!o.recovery[0].ok);
        // at once again: waiting its backoff
        let mut o = fail();
        episode.failed("fix", &ctx, timeout, &mut o).await;
        assert!(o.message.contains("try 2 of 'fix' in 1s"), "{}", o.message);
        assert_eq!(
            o.recovery.len(),
            1,
            "the tries go with every failing result"
        );
        tokio::time::sleep(Duration::from_millis(350)).await;
        let mut o = fail();
        episode.failed("fix", &ctx, timeout, &mut o).await;
        assert!(o.message.contains("(try 2 of 2)"), "{}", o.message);
        tokio::time::sleep(Duration::from_millis(650)).await;
        let mut o = fail();
        episode.failed("fix", &ctx, timeout, &mut o).await;
        assert!(
            o.message
                .contains("gave up on 'fix' after 2 tries (retries = 2)"),
            "{}",
            o.message
        );
        assert_eq!(std::fs::read_to_string(&count).unwrap().lines().count(), 2);
        // passing ends the failure, its tries reported once more, then none
        let mut ok = Outcome::new(CheckState::Ok, "up");
        episode.passed(&mut ok);
        assert!(
            ok.message.ends_with("; recovered after 2 tries"),
            "{}",
            ok.message
        );
        assert_eq!(ok.recovery.len(), 2);
        let mut ok = Outcome::new(CheckState::Ok, "up");
        episode.passed(&mut ok);
        assert_eq!((ok.message.as_str(), ok.recovery.len()), ("up", 0));
        // a new failure tries at once, within the hour's cap
        let mut o = fail();
        episode.failed("fix", &ctx, timeout, &mut o).await;
        assert!(o.message.contains("(try 1 of 2)"), "{}", o.message);
    }

    #[test]
    fn bad_actions_are_named() {
        let mut actions = BTreeMap::new();
        actions.insert("a".to_string(), action(&[], 0, 0));
        let problems = action_problems(&actions).join("\n");
        for key in [
            "actions.a: command",
            "actions.a.retries",
            "actions.a.max_per_hour",
        ] {
            assert!(problems.contains(key), "{problems}");
        }
    }
}
