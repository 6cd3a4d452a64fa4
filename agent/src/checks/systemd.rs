//! systemd unit checks: the unit's active state, sub-state and restart count as systemd
//! reports them (`systemctl show`), and the unit's whitelisted recovery action when it is
//! not running.
//!
//! The state is read with `systemctl show --property=...`, the interface systemd keeps
//! stable for scripts, rather than over D-Bus: no bus client in the agent, and the same
//! command an operator would type. The program is the local config's `systemctl` (default
//! `systemctl` on the `PATH`); reading a unit's state needs no privilege. A unit that is
//! `active` is OK, one `activating` or `reloading` a WARNING, anything else (failed,
//! inactive, not found) CRITICAL, with `Result` (why it stopped) in the message.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use strata_proto::v1::CheckState;

use super::Context;
use super::command;
use super::outcome::{Outcome, clip};
use super::recovery::Episode;

/// The properties read, in the order `systemctl show` is asked for them.
const PROPERTIES: &str = "LoadState,ActiveState,SubState,NRestarts,Result,MainPID";

/// A unit's state, watched.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemdSpec {
    /// The unit's name, e.g. `nginx.service`.
    pub unit: String,
    /// An action of the agent's local `[actions]` to run while the unit is not active.
    pub restart: Option<String>,
}

/// Whether `unit` is a unit name systemd takes (and never an option to `systemctl`).
pub fn valid_unit(unit: &str) -> bool {
    !unit.is_empty()
        && unit.len() <= 256
        && !unit.starts_with('-')
        && unit
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ":-_.\\@".contains(c))
}

/// What `systemctl show` said of a unit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitState {
    pub load: String,
    pub active: String,
    pub sub: String,
    pub restarts: Option<u64>,
    pub result: String,
    pub main_pid: Option<u32>,
}

/// Reads `systemctl show`'s `Key=Value` lines.
pub fn parse_show(text: &str) -> UnitState {
    let mut s = UnitState::default();
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim().to_string();
        match k.trim() {
            "LoadState" => s.load = v,
            "ActiveState" => s.active = v,
            "SubState" => s.sub = v,
            "NRestarts" => s.restarts = v.parse().ok(),
            "Result" => s.result = v,
            "MainPID" => s.main_pid = v.parse().ok().filter(|p| *p > 0),
            _ => {}
        }
    }
    s
}

/// The state, message and metrics of a unit's state.
pub fn judge(unit: &str, s: &UnitState) -> Outcome {
    let state = match s.active.as_str() {
        _ if s.load == "not-found" => CheckState::Critical,
        "active" => CheckState::Ok,
        "activating" | "reloading" => CheckState::Warning,
        "" => CheckState::Unknown,
        _ => CheckState::Critical,
    };
    let mut message = if s.load == "not-found" {
        format!("unit {unit} is not found")
    } else {
        format!("unit {unit} is {} ({})", s.active, s.sub)
    };
    if state != CheckState::Ok && !s.result.is_empty() && s.result != "success" {
        message.push_str(&format!(", result {}", s.result));
    }
    let mut outcome = Outcome::new(state, message);
    outcome.metric(
        "strata_check_systemd_active",
        &[],
        if state == CheckState::Ok { 1.0 } else { 0.0 },
    );
    if let Some(n) = s.restarts {
        outcome.metric("strata_check_systemd_restarts", &[], n as f64);
    }
    if let Some(pid) = s.main_pid {
        outcome.detail.push(format!("main pid {pid}"));
    }
    outcome
}

/// A check of one unit, with its recovery.
#[derive(Debug)]
pub struct SystemdCheck {
    spec: SystemdSpec,
    episode: Episode,
}

impl SystemdCheck {
    /// A check of the spec's unit.
    pub fn new(spec: SystemdSpec) -> Self {
        Self {
            spec,
            episode: Episode::default(),
        }
    }

    /// Reads the unit's state and judges it; tries the recovery action when it is down.
    pub async fn run(&mut self, timeout: Duration, ctx: &Context) -> Outcome {
        let program = ctx
            .systemctl
            .as_deref()
            .unwrap_or(Path::new("systemctl"))
            .display()
            .to_string();
        let argv = vec![
            program,
            "show".into(),
            format!("--property={PROPERTIES}"),
            "--".into(),
            self.spec.unit.clone(),
        ];
        let mut outcome = match command::run(&argv, timeout, 16 * 1024).await {
            Ok(f) if matches!(f.exit, command::Exit::Code(0)) => {
                judge(&self.spec.unit, &parse_show(&f.stdout))
            }
            Ok(f) => Outcome::new(
                CheckState::Unknown,
                format!(
                    "{} show {}: {}: {}",
                    argv[0],
                    self.spec.unit,
                    f.exit.describe(),
                    clip(f.stderr.trim(), 512)
                ),
            ),
            Err(e) => Outcome::new(
                CheckState::Unknown,
                format!("{} could not start: {e}", argv[0]),
            ),
        };
        match (&self.spec.restart, outcome.state) {
            (Some(name), CheckState::Critical) => {
                let name = name.clone();
                self.episode.failed(&name, ctx, timeout, &mut outcome).await;
            }
            (_, CheckState::Ok) => self.episode.passed(&mut outcome),
            _ => {}
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_states_are_judged() {
        let show = "LoadState=loaded\nActiveState=failed\nSubState=failed\nNRestarts=4\nResult=exit-code\nMainPID=0\n";
        let s = parse_show(show);
        assert_eq!(s.restarts, Some(4));
        assert_eq!(s.main_pid, None);
        let o = judge("nginx.service", &s);
        assert_eq!(o.state, CheckState::Critical);
        assert_eq!(
            o.message,
            "unit nginx.service is failed (failed), result exit-code"
        );
        assert!(
            o.metrics
                .iter()
                .any(|m| m.name == "strata_check_systemd_restarts" && m.value == 4.0)
        );
        let up = parse_show(
            "ActiveState=active\nSubState=running\nLoadState=loaded\nMainPID=42\nResult=success\n",
        );
        let o = judge("nginx.service", &up);
        assert_eq!(
            (o.state, o.message.as_str()),
            (CheckState::Ok, "unit nginx.service is active (running)")
        );
        assert_eq!(o.detail, ["main pid 42"]);
        let starting = parse_show("LoadState=loaded\nActiveState=activating\nSubState=start\n");
        assert_eq!(judge("x", &starting).state, CheckState::Warning);
        let missing = parse_show("LoadState=not-found\nActiveState=inactive\nSubState=dead\n");
        let o = judge("nope.service", &missing);
        assert_eq!(
            (o.state, o.message.as_str()),
            (CheckState::Critical, "unit nope.service is not found")
        );
        assert_eq!(
            judge("x", &parse_show("garbage\n")).state,
            CheckState::Unknown
        );
    }

    #[test]
    fn unit_names_are_never_options() {
        for ok in [
            "nginx.service",
            "getty@tty1.service",
            "dev-disk-by\\x2duuid.device",
        ] {
            assert!(valid_unit(ok), "{ok}");
        }
        for bad in ["", "--all", "a b", "x;rm", "../x"] {
            assert!(!valid_unit(bad), "{bad}");
        }
        assert!(!valid_unit(&"a".repeat(300)));
    }

    #[tokio::test]
    async fn a_missing_systemctl_is_unknown() {
        let ctx = Context {
            systemctl: Some("/nonexistent/systemctl".into()),
            ..Context::default()
        };
        let mut check = SystemdCheck::new(SystemdSpec {
            unit: "nginx.service".into(),
            restart: None,
        });
        let o = check.run(Duration::from_secs(5), &ctx).await;
        assert_eq!(o.state, CheckState::Unknown, "{}", o.message);
        assert!(o.message.contains("could not start"), "{}", o.message);
    }
}
