//! Nothing pushed can run a command or read a file the host did not allow: pushes through
//! [`Control::configure`] against a local config with `[commands]`, `allow_paths`,
//! `[push_limits]` and `state_dir`, the checks they start observed in the agent's entry.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use strata_agent::AgentConfig;
use strata_agent::buffer::SampleBuffer;
use strata_agent::checks::{CheckConfig, Checks, Context};
use strata_agent::control::Control;
use strata_agent::entry::AgentEntry;
use strata_proto::config::RoleConfig;
use strata_proto::v1::{CheckResult, CheckState};
use tokio_util::sync::CancellationToken;

fn entry() -> Arc<AgentEntry> {
    Arc::new(AgentEntry {
        id: "a".into(),
        hostname: "a".into(),
        cpu_count: 1,
        collect_interval_ms: 1000,
        buffer: Mutex::new(SampleBuffer::new(10_000, Duration::from_secs(60))),
        checks: Mutex::default(),
    })
}

/// A validated local config.
fn config(text: &str) -> AgentConfig {
    let c = AgentConfig::parse(text).unwrap();
    c.validate().unwrap();
    c
}

/// A control over `config` and the entry its checks report to.
fn start(config: &AgentConfig) -> (Control, Arc<AgentEntry>, CancellationToken) {
    let entry = entry();
    let shutdown = CancellationToken::new();
    let (control, _items) = Control::start(config, entry.clone(), Arc::default(), shutdown.clone());
    (control, entry, shutdown)
}

/// The first result of check `name` (within 10 s).
async fn result(entry: &AgentEntry, name: &str) -> CheckResult {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let latest = entry.checks.lock().unwrap().get(name).cloned().flatten();
        if let Some(r) = latest {
            return r;
        }
        assert!(Instant::now() < deadline, "no result from check '{name}'");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits long enough for a check on a 100 ms interval to have run several times.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(800)).await;
}

fn sh_touch(marker: &Path) -> String {
    format!("['/bin/sh', '-c', 'touch {}; echo ran']", marker.display())
}

#[tokio::test]
async fn a_pushed_command_line_is_refused_and_never_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("pwned");
    let (control, entry, shutdown) = start(&config("[commands.ok]\ncommand = ['/bin/true']"));
    let problems = control
        .configure(&format!(
            "[[checks]]\nname = 'fine'\nkind = 'script'\nrun = 'ok'\n\
             [[checks]]\nname = 'evil'\nkind = 'script'\ncommand = {}\ninterval = '1s'",
            sh_touch(&marker)
        ))
        .await
        .unwrap_err();
    assert_eq!(
        problems,
        [
            "checks[1].command: a pushed check may not give a command line; name a local \
          [commands.<name>] with run = \"...\""
        ]
    );
    // nothing changed: neither check runs
    assert!(entry.checks.lock().unwrap().is_empty());
    assert_eq!(control.pushed_text(), "");

    // were a pushed command line to reach the runner anyway, it would still not run
    let table: toml::Table = toml::from_str(&format!(
        "name = 'evil'\nkind = 'script'\ncommand = {}\ninterval = '100ms'",
        sh_touch(&marker)
    ))
    .unwrap();
    let mut evil = CheckConfig::from_table(table).unwrap();
    evil.pushed = true;
    let mut checks = Checks::new(entry.clone(), Context::default(), shutdown.clone());
    checks.apply(&[evil]);
    let r = result(&entry, "evil").await;
    assert_eq!(r.state, CheckState::Unknown as i32);
    assert!(
        r.message.contains("may not give a command line"),
        "{}",
        r.message
    );
    settle().await;
    assert!(!marker.exists(), "the pushed command line ran");
    shutdown.cancel();
    checks.stop().await;
    control.stop().await;
}

#[tokio::test]
async fn arguments_a_local_command_does_not_allow_are_refused_and_nothing_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("ran");
    let (control, entry, shutdown) = start(&config(&format!(
        "[commands.mark]\ncommand = {}",
        sh_touch(&marker)
    )));
    let problems = control
        .configure(
            "[[checks]]\nname = 'm'\nkind = 'script'\nrun = 'mark'\nargs = ['x']\ninterval = '1s'",
        )
        .await
        .unwrap_err();
    assert_eq!(
        problems,
        ["checks[0].args: command 'mark' does not allow arguments"]
    );
    let problems = control
        .configure("[[checks]]\nname = 'b'\nkind = 'script'\nrun = 'backup'")
        .await
        .unwrap_err();
    assert_eq!(problems, ["checks[0].run: 'backup' is not a local command"]);
    settle().await;
    assert!(entry.checks.lock().unwrap().is_empty());
    assert!(!marker.exists(), "a refused push ran its command");
    shutdown.cancel();
    control.stop().await;
}

#[tokio::test]
async fn a_pushed_run_of_a_local_command_runs_it_with_allowed_arguments() {
    let (control, entry, shutdown) = start(&config(
        "[commands.hello]\ncommand = ['/bin/echo', 'HELLO FROM LOCAL']\n\
         [commands.say]\ncommand = ['/bin/echo', 'said']\nallow_args = true\nargs_pattern = '[a-z]+'",
    ));
    let push = "[[checks]]\nname = 'greet'\nkind = 'script'\nrun = 'hello'\ninterval = '1s'\n\
                [[checks]]\nname = 'say'\nkind = 'script'\nrun = 'say'\nargs = ['hi', 'there']\ninterval = '1s'";
    assert_eq!(control.configure(push).await.unwrap(), ["greet", "say"]);
    let r = result(&entry, "greet").await;
    assert_eq!(r.state, CheckState::Ok as i32, "{}", r.message);
    assert_eq!(r.message, "HELLO FROM LOCAL");
    assert_eq!(result(&entry, "say").await.message, "said hi there");
    assert_eq!(control.pushed_text(), push);
    let problems = control
        .configure("[[checks]]\nname = 'say'\nkind = 'script'\nrun = 'say'\nargs = ['hi;id']")
        .await
        .unwrap_err();
    assert!(
        problems[0].starts_with("checks[0].args[0]: 'hi;id' does not match"),
        "{problems:?}"
    );
    assert_eq!(
        control.pushed_text(),
        push,
        "a refused push keeps the last one"
    );
    let summary = control.policy_summary();
    let names: Vec<_> = summary.commands.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["hello", "say"]);
    shutdown.cancel();
    control.stop().await;
}

#[tokio::test]
async fn a_pushed_log_check_reads_only_under_allow_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(tmp.path()).unwrap();
    let logs = root.join("logs");
    std::fs::create_dir(&logs).unwrap();
    let secret = root.join("secret");
    std::fs::write(&secret, "ERROR root:s3cret\n").unwrap();
    std::fs::write(logs.join("app.log"), "ERROR disk full\n").unwrap();
    std::os::unix::fs::symlink(&secret, logs.join("link.log")).unwrap();
    let (control, entry, shutdown) = start(&config(&format!(
        "allow_paths = ['{}/logs/**']",
        root.display()
    )));
    let log = |name: &str, path: &str| {
        format!(
            "[[checks]]\nname = '{name}'\nkind = 'log'\npath = '{path}'\nfrom_start = true\n\
             interval = '1s'\nrules = [{{ pattern = 'ERROR', severity = 'critical' }}]\n"
        )
    };
    let outside = secret.display().to_string();
    let problems = control.configure(&log("s", &outside)).await.unwrap_err();
    assert_eq!(
        problems,
        [format!(
            "checks[0].path: '{outside}' is not under allow_paths"
        )]
    );
    let escape = format!("{}/logs/../secret", root.display());
    let problems = control.configure(&log("e", &escape)).await.unwrap_err();
    assert_eq!(
        problems,
        [format!(
            "checks[0].path: '{escape}' (that is '{outside}') is not under allow_paths"
        )]
    );
    let problems = control
        .configure(&log("r", "logs/app.log"))
        .await
        .unwrap_err();
    assert_eq!(
        problems,
        ["checks[0].path: 'logs/app.log' is not an absolute path"]
    );
    // inside: read; a link inside that leads outside: not opened
    let push = log("app", &format!("{}/logs/app.log", root.display()))
        + &log("link", &format!("{}/logs/link.log", root.display()));
    control.configure(&push).await.unwrap();
    let app = result(&entry, "app").await;
    assert_eq!(app.state, CheckState::Critical as i32, "{}", app.message);
    assert!(
        app.detail.iter().any(|l| l.contains("disk full")),
        "{:?}",
        app.detail
    );
    let link = result(&entry, "link").await;
    assert_eq!(link.state, CheckState::Unknown as i32, "{}", link.message);
    assert!(
        link.message.contains("not under allow_paths"),
        "{}",
        link.message
    );
    assert!(!format!("{link:?}").contains("s3cret"));
    shutdown.cancel();
    control.stop().await;
}

#[tokio::test]
async fn without_allow_paths_a_pushed_log_check_reads_nothing_but_a_local_one_may() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("any.log");
    std::fs::write(&file, "x\n").unwrap();
    let (control, entry, shutdown) = start(&config(&format!(
        "[[checks]]\nname = 'local'\nkind = 'log'\npath = '{}'\nrules = []\ninterval = '1s'",
        file.display()
    )));
    let problems = control
        .configure(
            "[[checks]]\nname = 'p'\nkind = 'access_log'\npath = '/var/log/nginx/access.log'",
        )
        .await
        .unwrap_err();
    assert_eq!(
        problems,
        ["checks[0].path: '/var/log/nginx/access.log' is not under allow_paths"]
    );
    let r = result(&entry, "local").await;
    assert_eq!(r.state, CheckState::Ok as i32, "{}", r.message);
    shutdown.cancel();
    control.stop().await;
}

#[tokio::test]
async fn bounds_set_locally_are_refused_by_key() {
    let (control, _entry, shutdown) = start(&config(
        "[push_limits]\nmax_checks = 1\nmin_interval = '10s'\nmax_text_bytes = 400",
    ));
    let two = "[[checks]]\nname = 'a'\nkind = 'port'\naddress = '127.0.0.1:1'\ninterval = '5s'\n\
               [[checks]]\nname = 'b'\nkind = 'port'\naddress = '127.0.0.1:1'";
    let problems = control.configure(two).await.unwrap_err();
    assert_eq!(
        problems,
        [
            "checks: 2 checks are above push_limits.max_checks (1)",
            "checks[0].interval: 5s is below push_limits.min_interval (10s)",
        ]
    );
    let problems = control.configure(&"#".repeat(401)).await.unwrap_err();
    assert_eq!(
        problems,
        ["config_toml: 401 bytes is above push_limits.max_text_bytes (400)"]
    );
    shutdown.cancel();
    control.stop().await;
}

#[tokio::test]
async fn huge_durations_are_refused_by_key_pushed_or_local_and_never_panic() {
    const HUGE: &str = "300000000000years";
    let (control, entry, shutdown) = start(&config(""));
    let problems = control
        .configure(&format!(
            "[items.cpu]\ninterval = '{HUGE}'\n\
             [[checks]]\nname = 'p'\nkind = 'port'\naddress = '127.0.0.1:1'\ninterval = '{HUGE}'\ntimeout = '{HUGE}'"
        ))
        .await
        .unwrap_err();
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(
        problems[0].starts_with("items.cpu.interval: ")
            && problems[0].contains("push_limits.max_interval"),
        "{problems:?}"
    );
    assert!(
        problems[1].starts_with("checks[0].interval: ")
            && problems[1].contains("push_limits.max_interval"),
        "{problems:?}"
    );
    assert!(
        problems[2].starts_with("checks[0].timeout: ")
            && problems[2].contains("push_limits.max_timeout"),
        "{problems:?}"
    );

    let local = AgentConfig::parse(&format!(
        "collect_interval = '{HUGE}'\n[[checks]]\nname = 'p'\nkind = 'port'\naddress = '127.0.0.1:1'\n\
         interval = '{HUGE}'\ntimeout = '{HUGE}'"
    ))
    .unwrap();
    let err = local.validate().unwrap_err().to_string();
    for key in [
        "collect_interval: ",
        "checks 'p': interval: ",
        "checks 'p': timeout: ",
    ] {
        assert!(err.contains(key), "{key} missing from {err}");
    }

    // a check built in code, past every validation, is clamped: it runs and reports
    let mut check = local.checks[0].clone();
    check.interval = humantime::parse_duration(HUGE).unwrap();
    check.timeout = check.interval;
    let mut checks = Checks::new(entry.clone(), Context::default(), shutdown.clone());
    checks.apply(&[check]);
    let r = result(&entry, "p").await;
    assert_eq!(r.state, CheckState::Critical as i32, "{}", r.message);
    shutdown.cancel();
    checks.stop().await;
    control.stop().await;
}

#[tokio::test]
async fn an_accepted_push_is_kept_in_state_dir_and_reapplied_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let local = format!(
        "state_dir = '{}'\n[commands.hello]\ncommand = ['/bin/echo', 'KEPT']",
        state.display()
    );
    let push = "[items.cpu]\ninterval = '30s'\n\
                [[checks]]\nname = 'greet'\nkind = 'script'\nrun = 'hello'\ninterval = '1s'\n";
    {
        let (control, _entry, shutdown) = start(&config(&local));
        assert_eq!(control.pushed_text(), "");
        control.configure(push).await.unwrap();
        // a refused push does not replace the kept one
        control
            .configure("[[checks]]\nname = 'x'")
            .await
            .unwrap_err();
        shutdown.cancel();
        control.stop().await;
    }
    assert_eq!(
        std::fs::read_to_string(state.join("pushed.toml")).unwrap(),
        push
    );

    // a new control over the same state_dir runs the kept push
    let entry = entry();
    let shutdown = CancellationToken::new();
    let (control, items) = Control::start(
        &config(&local),
        entry.clone(),
        Arc::default(),
        shutdown.clone(),
    );
    assert_eq!(control.pushed_text(), push);
    assert_eq!(
        items.borrow()["cpu"].interval,
        Some(Duration::from_secs(30))
    );
    assert_eq!(result(&entry, "greet").await.message, "KEPT");
    shutdown.cancel();
    control.stop().await;

    // once the local command is gone, the kept push no longer passes: ignored, not fatal
    let changed = format!("state_dir = '{}'", state.display());
    let (control, entry, shutdown) = start(&config(&changed));
    assert_eq!(control.pushed_text(), "");
    assert!(entry.checks.lock().unwrap().is_empty());
    // and a push still works
    control.configure("").await.unwrap();
    assert_eq!(
        std::fs::read_to_string(state.join("pushed.toml")).unwrap(),
        ""
    );
    shutdown.cancel();
    control.stop().await;
}
