//! Tests of the run-time configuration: pushes, their refusals, and their persistence.

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
