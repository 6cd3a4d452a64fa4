//! Process checks: how many processes match, against bounds; a whitelisted restart action
//! when too few run, tried as [`super::recovery`] allows.

use std::time::Duration;

use regex::Regex;
use strata_proto::v1::CheckState;

use super::Context;
use super::outcome::Outcome;
use super::recovery::Episode;
use super::spec::ProcessSpec;

/// A process check.
#[derive(Debug)]
pub struct ProcessCheck {
    spec: ProcessSpec,
    actions_run: u64,
    episode: Episode,
}

/// Pids of processes whose name or command line matches `pattern` (the agent excluded).
pub fn matching(proc_root: &std::path::Path, pattern: &Regex) -> Vec<u32> {
    let me = std::process::id();
    let Ok(dir) = std::fs::read_dir(proc_root) else {
        return Vec::new();
    };
    let mut pids = Vec::new();
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let base = entry.path();
        let comm = std::fs::read(base.join("comm")).unwrap_or_default();
        let comm = String::from_utf8_lossy(&comm);
        if pattern.is_match(comm.trim_end()) {
            pids.push(pid);
            continue;
        }
        let mut cmdline = std::fs::read(base.join("cmdline")).unwrap_or_default();
        for b in cmdline.iter_mut() {
            if *b == 0 {
                *b = b' ';
            }
        }
        if !cmdline.is_empty() && pattern.is_match(String::from_utf8_lossy(&cmdline).trim_end()) {
            pids.push(pid);
        }
    }
    pids.sort_unstable();
    pids
}

impl ProcessCheck {
    /// A check of the spec's processes.
    pub fn new(spec: ProcessSpec) -> Self {
        Self {
            spec,
            actions_run: 0,
            episode: Episode::default(),
        }
    }

    /// Counts the matching processes and judges; runs the restart action when too few.
    pub async fn run(&mut self, timeout: Duration, ctx: &Context) -> Outcome {
        let pattern = self.spec.pattern.clone();
        let pids =
            tokio::task::spawn_blocking(move || matching(std::path::Path::new("/proc"), &pattern))
                .await
                .unwrap_or_default();
        let n = pids.len() as u32;
        let (min, max) = (self.spec.min, self.spec.max);
        let too_many = max.is_some_and(|m| n > m);
        let state = if n < min || too_many {
            CheckState::Critical
        } else {
            CheckState::Ok
        };
        let bounds = match max {
            Some(m) => format!("{min}..={m}"),
            None => format!(">= {min}"),
        };
        let mut outcome = Outcome::new(
            state,
            format!(
                "{n} processes match '{}' (want {bounds})",
                self.spec.pattern
            ),
        );
        outcome.metric("strata_check_process_count", &[], f64::from(n));
        if !pids.is_empty() {
            let shown: Vec<String> = pids.iter().take(20).map(u32::to_string).collect();
            outcome.detail.push(format!("pids {}", shown.join(" ")));
        }
        match &self.spec.restart {
            Some(name) if n < min => {
                let name = name.clone();
                let before = self.episode.tries();
                self.episode.failed(&name, ctx, timeout, &mut outcome).await;
                self.actions_run += (self.episode.tries() - before) as u64;
            }
            _ if state == CheckState::Ok => self.episode.passed(&mut outcome),
            _ => {}
        }
        outcome.metric("strata_check_actions_total", &[], self.actions_run as f64);
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::recovery::ActionConfig;

    #[tokio::test]
    async fn counts_and_restarts_through_the_whitelist_only() {
        let mut child = std::process::Command::new("sleep")
            .arg("31.4159")
            .spawn()
            .unwrap();
        let spec = |pattern: &str, restart: Option<&str>| ProcessSpec {
            pattern: Regex::new(pattern).unwrap(),
            min: 1,
            max: Some(1),
            restart: restart.map(String::from),
        };
        let ctx = Context::default();
        let o = ProcessCheck::new(spec("sleep 31\\.4159", None))
            .run(Duration::from_secs(5), &ctx)
            .await;
        assert_eq!(o.state, CheckState::Ok, "{}", o.message);
        assert!(o.message.starts_with("1 processes match"));
        child.kill().unwrap();
        child.wait().unwrap();

        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("restarted");
        let mut ctx = Context::default();
        ctx.actions.insert(
            "fix".into(),
            ActionConfig::new(vec!["touch".into(), marker.display().to_string()]),
        );
        let mut check = ProcessCheck::new(spec("sleep 31\\.4159", Some("fix")));
        let o = check.run(Duration::from_secs(5), &ctx).await;
        assert_eq!(o.state, CheckState::Critical);
        assert!(
            o.message.contains("ran 'fix' (try 1 of 3): exit 0"),
            "{}",
            o.message
        );
        assert!(marker.exists());

        let mut check = ProcessCheck::new(spec("sleep 31\\.4159", Some("not-listed")));
        let o = check.run(Duration::from_secs(5), &Context::default()).await;
        assert!(o.message.contains("not whitelisted"), "{o:?}");
    }
}
