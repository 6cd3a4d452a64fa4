//! Script checks: a command run as a Nagios plugin, so that existing Nagios and Icinga
//! plugins work unchanged (exit codes 0–3, `text | perfdata`).

use std::collections::BTreeMap;
use std::time::Duration;

use strata_proto::v1::CheckState;

use crate::policy::CommandConfig;
use crate::policy::commands::resolve;

use super::command::{self, Exit};
use super::outcome::{Outcome, clip};
use super::perfdata;
use super::spec::ScriptSpec;

/// Most output kept from a plugin (Nagios keeps 8 KiB; long output deserves a little more).
const OUTPUT_CAP: usize = 64 * 1024;

/// The command line a script check runs: the local command it names with its arguments
/// (only those the command allows), or, for a check of the local file only, its own
/// `command`. A refusal says why; the check is then UNKNOWN and nothing runs.
pub fn command_line(
    spec: &ScriptSpec,
    pushed: bool,
    commands: &BTreeMap<String, CommandConfig>,
) -> Result<Vec<String>, String> {
    match &spec.run {
        Some(run) => resolve(commands, run, &spec.args)
            .map_err(|(key, why)| format!("{key}: {why}; not run")),
        None if pushed => {
            Err("command: a pushed check may not give a command line; not run".to_string())
        }
        None if spec.command.is_empty() => Err("command: no program given; not run".into()),
        None => Ok(spec.command.clone()),
    }
}

/// Runs the plugin `argv` once.
pub async fn run(argv: &[String], timeout: Duration) -> Outcome {
    let finished = match command::run(argv, timeout, OUTPUT_CAP).await {
        Ok(f) => f,
        Err(e) => {
            let program = argv.first().map_or("(nothing)", |p| p.as_str());
            return Outcome::new(CheckState::Unknown, format!("cannot run {program}: {e}"));
        }
    };
    judge(&finished, timeout)
}

/// The outcome of a finished plugin.
pub fn judge(f: &command::Finished, timeout: Duration) -> Outcome {
    let parsed = perfdata::parse(&f.stdout);
    let (state, prefix) = match f.exit {
        Exit::Code(0) => (CheckState::Ok, String::new()),
        Exit::Code(1) => (CheckState::Warning, String::new()),
        Exit::Code(2) => (CheckState::Critical, String::new()),
        Exit::Code(3) => (CheckState::Unknown, String::new()),
        Exit::Code(c) => (CheckState::Unknown, format!("exit code {c} is not 0-3: ")),
        Exit::Signal(s) => (CheckState::Unknown, format!("ended by signal {s}: ")),
        Exit::TimedOut => (
            CheckState::Unknown,
            format!(
                "timed out after {}, process group killed: ",
                humantime::format_duration(timeout)
            ),
        ),
    };
    let text = if parsed.text.is_empty() {
        f.stderr.lines().next().unwrap_or("(no output)").to_string()
    } else {
        parsed.text.clone()
    };
    let mut outcome = Outcome::new(state, clip(&format!("{prefix}{text}"), 1024));
    outcome.detail = parsed
        .long_text
        .iter()
        .take(20)
        .map(|l| clip(l, 512))
        .collect();
    for bad in &parsed.bad {
        outcome
            .detail
            .push(clip(&format!("perfdata not understood: {bad}"), 512));
    }
    if f.truncated {
        outcome
            .detail
            .push(format!("output cut at {OUTPUT_CAP} bytes"));
    }
    if f.killed_leftovers {
        outcome
            .detail
            .push("children still running after the plugin exited were killed".into());
    }
    for p in &parsed.perf {
        let labels = [("label", p.label.as_str()), ("unit", p.unit)];
        outcome.metric("strata_check_perfdata", &labels, p.value);
        if let Some(w) = p.warn {
            outcome.metric("strata_check_perfdata_warning", &labels, w);
        }
        if let Some(c) = p.crit {
            outcome.metric("strata_check_perfdata_critical", &labels, c);
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Vec<String> {
        vec!["/bin/sh".into(), "-c".into(), script.into()]
    }

    #[tokio::test]
    async fn exit_codes_map_to_states_and_perfdata_to_metrics() {
        for (code, state) in [
            (0, CheckState::Ok),
            (1, CheckState::Warning),
            (2, CheckState::Critical),
            (3, CheckState::Unknown),
            (7, CheckState::Unknown),
        ] {
            let o = run(
                &sh(&format!(
                    "echo 'LOAD {code} | load1=0.5;1;2 rt=15ms'; exit {code}"
                )),
                Duration::from_secs(5),
            )
            .await;
            assert_eq!(o.state, state, "{o:?}");
            assert!(
                o.message.ends_with(&format!("LOAD {code}")),
                "{}",
                o.message
            );
            assert_eq!(o.metrics.len(), 4, "{:?}", o.metrics);
            assert_eq!(o.metrics[0].value, 0.5);
            assert!((o.metrics[3].value - 0.015).abs() < 1e-12);
        }
    }

    #[tokio::test]
    async fn a_script_that_never_exits_is_unknown_and_killed() {
        let o = run(&sh("echo started; sleep 600"), Duration::from_millis(300)).await;
        assert_eq!(o.state, CheckState::Unknown);
        assert!(o.message.contains("timed out"), "{}", o.message);
    }

    #[tokio::test]
    async fn a_missing_plugin_is_unknown() {
        let o = run(&["/nonexistent/check_x".into()], Duration::from_secs(1)).await;
        assert_eq!(o.state, CheckState::Unknown);
        assert!(o.message.contains("/nonexistent/check_x"));
    }

    #[test]
    fn a_pushed_check_gets_a_command_line_from_the_local_commands_only() {
        let commands: BTreeMap<String, CommandConfig> =
            toml::from_str("[disk]\ncommand = ['/bin/df']").unwrap();
        let own = ScriptSpec {
            command: sh("true"),
            ..Default::default()
        };
        assert_eq!(command_line(&own, false, &commands).unwrap(), sh("true"));
        let err = command_line(&own, true, &commands).unwrap_err();
        assert!(err.contains("may not give a command line"), "{err}");
        let named = ScriptSpec {
            run: Some("disk".into()),
            ..Default::default()
        };
        assert_eq!(command_line(&named, true, &commands).unwrap(), ["/bin/df"]);
        let with_args = ScriptSpec {
            args: vec!["/".into()],
            ..named
        };
        let err = command_line(&with_args, true, &commands).unwrap_err();
        assert!(err.contains("does not allow arguments"), "{err}");
    }
}
