//! Automatic recovery that proves itself, with the real binaries: a real agent watches a
//! worker process and restarts it through its whitelisted action, whose first try fails.
//! The tries wait their backoff, the failure is resolved without anyone, a second failure
//! too; the third finds the hour's cap reached, nothing runs, and a person acknowledges and
//! starts the worker by hand. The centre's recovery report counts two incidents resolved by
//! recovery and one by hand, the tries and the failed one, and the share that needed nobody.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use strata_testkit::{Mesh, Region, get_json, http_request, wait_for};

/// Kills every process whose command line holds `marker` when dropped.
struct Workers(String);

impl Workers {
    fn kill(&self) {
        let _ = Command::new("pkill").args(["-f", &self.0]).status();
    }

    fn running(&self) -> bool {
        Command::new("pgrep")
            .args(["-f", &self.0])
            .output()
            .is_ok_and(|o| !o.stdout.is_empty())
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The incident of the worker's check, open or resolved, as the centre lists them.
fn incidents(sup: &str) -> Result<Vec<Value>, String> {
    let all = get_json(sup, "/api/v1/events?include=resolved")?;
    Ok(all
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e["rule"] == "check/worker")
        .collect())
}

#[test]
fn a_failed_process_is_recovered_with_backoff_within_its_cap_and_counted() {
    let marker = format!("strata-recovery-worker-{}", std::process::id());
    let workers = Workers(marker.clone());
    workers.kill();
    // the action's first try fails; every later one starts the worker, detached
    let start = format!(
        "n=$(cat {{dir}}/tries 2>/dev/null || echo 0); n=$((n+1)); echo $n > {{dir}}/tries; \
         if [ $n -eq 1 ]; then echo 'worker: port busy'; exit 1; fi; \
         setsid sh -c 'while :; do sleep 1; done' {marker} > /dev/null 2>&1 < /dev/null & echo started"
    );
    let agent = format!(
        "id = \"web-1\"\ncollect_interval = \"1s\"\n\
         [actions.start-worker]\ncommand = [\"sh\", \"-c\", \"{start}\"]\n\
         retries = 3\nbackoff = \"2s\"\nmax_backoff = \"4s\"\nmax_per_hour = 3\n\
         [[checks]]\nname = \"worker\"\nkind = \"process\"\nmatch = \"{marker}\"\n\
         interval = \"1s\"\nrestart = \"start-worker\"\n"
    );
    let mesh = Mesh::builder()
        .interval(Duration::from_secs(1))
        .region(Region::new("eu").member_ids(&["eu-1"]).agent(&agent))
        .start();
    let sup = mesh.http();

    // 1. no worker at start: try 1 fails, try 2 after its 2 s backoff starts it
    let first = wait_for(
        "the first failure resolved by recovery",
        Duration::from_secs(40),
        || {
            let list = incidents(&sup)?;
            list.iter()
                .find(|e| e["resolved_ms"].as_i64().unwrap_or(0) > 0)
                .cloned()
                .ok_or_else(|| format!("{list:?}"))
        },
    );
    let tries = first["actions"].as_array().unwrap();
    assert_eq!(tries.len(), 2, "{first}");
    assert_eq!(
        (tries[0]["ok"].as_bool(), tries[1]["ok"].as_bool()),
        (Some(false), Some(true)),
        "{first}"
    );
    assert!(
        tries[0]["output"].as_str().unwrap().contains("port busy"),
        "{first}"
    );
    let waited =
        tries[1]["started_ms"].as_i64().unwrap() - tries[0]["finished_ms"].as_i64().unwrap();
    eprintln!("try 2 ran {waited} ms after try 1 (backoff 2 s)");
    assert!(
        waited >= 2000,
        "the second try did not wait its backoff: {first}"
    );
    assert!(workers.running());

    // 2. the worker dies: one try, recovered
    workers.kill();
    let second = wait_for(
        "the second failure resolved by recovery",
        Duration::from_secs(30),
        || {
            let list = incidents(&sup)?;
            let resolved: Vec<&Value> = list
                .iter()
                .filter(|e| e["resolved_ms"].as_i64().unwrap_or(0) > 0)
                .collect();
            if resolved.len() >= 2 {
                Ok(resolved
                    .into_iter()
                    .max_by_key(|e| e["opened_ms"].as_i64())
                    .unwrap()
                    .clone())
            } else {
                Err(format!("{list:?}"))
            }
        },
    );
    assert_eq!(second["actions"].as_array().unwrap().len(), 1, "{second}");
    assert!(workers.running());

    // 3. again: the hour's cap (3 tries) is reached, nothing runs, the event stays open
    workers.kill();
    let capped = wait_for(
        "the third failure held by the hourly cap",
        Duration::from_secs(30),
        || {
            let list = incidents(&sup)?;
            list.into_iter()
                .find(|e| {
                    e["resolved_ms"].as_i64().unwrap_or(0) == 0
                        && e["message"]
                            .as_str()
                            .is_some_and(|m| m.contains("max_per_hour = 3"))
                })
                .ok_or_else(|| "no open incident held by the cap yet".to_string())
        },
    );
    assert!(
        capped["actions"].as_array().is_none_or(|a| a.is_empty()),
        "{capped}"
    );
    assert!(!workers.running(), "nothing ran past the cap");
    let tried = std::fs::read_to_string(mesh.dir().join("tries")).unwrap();
    assert_eq!(tried.trim(), "3", "three tries in all");
    // a person acknowledges and starts the worker
    let (status, answer) = http_request(
        &sup,
        "POST",
        "/api/v1/events/ack",
        r#"{"resource_id":"eu/web-1","rule":"check/worker","comment":"started by hand"}"#,
    )
    .unwrap();
    assert_eq!(status, 200, "{answer}");
    let mut by_hand = Command::new("setsid")
        .args(["sh", "-c", "while :; do sleep 1; done", &marker])
        .spawn()
        .unwrap();
    wait_for(
        "the third incident resolved",
        Duration::from_secs(30),
        || {
            let list = incidents(&sup)?;
            let resolved = list
                .iter()
                .filter(|e| e["resolved_ms"].as_i64().unwrap_or(0) > 0)
                .count();
            if resolved >= 3 {
                Ok(())
            } else {
                Err(format!("{list:?}"))
            }
        },
    );

    // the centre's account
    // incidents of other rules on the host (its first CPU sample may read 100%) have no
    // tries: the whole's figures are the worker's and theirs, by hand or still open
    let everything = get_json(&sup, "/api/v1/events?include=resolved").unwrap();
    let others: Vec<&Value> = everything
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["rule"] != "check/worker")
        .collect();
    let others_open = others
        .iter()
        .filter(|e| e["resolved_ms"].as_i64().unwrap_or(0) == 0)
        .count() as u64;
    let others = others.len() as u64;
    let report = get_json(&sup, "/api/v1/reports/recovery?period=1h").unwrap();
    eprintln!("{report}");
    let rows = report["rows"].as_array().unwrap();
    let row = |group: &str, name: &str| {
        rows.iter()
            .find(|r| r["group"] == group && r["name"] == name)
            .unwrap_or_else(|| panic!("no {group} {name} row: {report}"))
    };
    // the action's incidents are those it was tried in; all of them, the third too
    let action = row("action", "start-worker");
    let all = row("all", "all");
    let figures = |r: &Value| {
        [
            "incidents",
            "resolved_by_recovery",
            "resolved_by_hand",
            "open",
            "tries",
            "tries_failed",
        ]
        .map(|k| r[k].as_u64().unwrap_or(u64::MAX))
    };
    assert_eq!(figures(action), [2, 2, 0, 0, 3, 1], "{action}");
    assert_eq!(
        figures(all),
        [3 + others, 2, 1 + others - others_open, others_open, 3, 1],
        "{all}"
    );
    assert_eq!(
        action["without_person_ratio"].as_f64(),
        Some(1.0),
        "{action}"
    );
    let share = all["without_person_ratio"].as_f64().unwrap();
    assert!((share - 2.0 / (3 + others) as f64).abs() < 1e-9, "{all}");
    assert!(
        all["mttr_with_recovery_seconds"].as_f64().is_some(),
        "{all}"
    );
    assert!(
        all["mttr_without_recovery_seconds"].as_f64().is_some(),
        "{all}"
    );
    let _ = by_hand.kill();
    let _ = by_hand.wait();
}

/// A stand-in for `systemctl` (this machine's PID 1 is not systemd): `show` prints the
/// unit's properties from a state file, `restart` makes it active and counts a restart.
const SYSTEMCTL: &str = r#"#!/bin/sh
dir=$(dirname "$0")
state=$dir/unit-state
case "$1" in
  show)
    active=$(cat "$state")
    if [ "$active" = active ]; then sub=running; result=success; else sub=failed; result=exit-code; fi
    printf 'LoadState=loaded\nActiveState=%s\nSubState=%s\nNRestarts=%s\nResult=%s\nMainPID=0\n' \
      "$active" "$sub" "$(cat "$dir/restarts" 2>/dev/null || echo 0)" "$result" ;;
  restart)
    echo active > "$state"; echo $(( $(cat "$dir/restarts" 2>/dev/null || echo 0) + 1 )) > "$dir/restarts" ;;
  *) echo "unknown command $1" >&2; exit 1 ;;
esac
"#;

#[test]
fn a_failed_systemd_unit_is_restarted_and_its_state_reported() {
    let agent = "id = \"web-1\"\ncollect_interval = \"1s\"\n\
         systemctl = \"{dir}/systemctl\"\n\
         [actions.restart-worker]\ncommand = [\"{dir}/systemctl\", \"restart\", \"worker.service\"]\n\
         [[checks]]\nname = \"worker-unit\"\nkind = \"systemd\"\nunit = \"worker.service\"\n\
         interval = \"1s\"\nrestart = \"restart-worker\"\n";
    let mesh = Mesh::builder()
        .interval(Duration::from_secs(1))
        .file("systemctl", SYSTEMCTL)
        .file("unit-state", "failed\n")
        .region(Region::new("eu").member_ids(&["eu-1"]).agent(agent))
        .start();
    let sup = mesh.http();
    let incident = wait_for(
        "the unit's failure resolved by its restart",
        Duration::from_secs(40),
        || {
            let all = get_json(&sup, "/api/v1/events?include=resolved")?;
            all.as_array()
                .and_then(|l| {
                    l.iter()
                        .find(|e| {
                            e["rule"] == "check/worker-unit"
                                && e["resolved_ms"].as_i64().unwrap_or(0) > 0
                        })
                        .cloned()
                })
                .ok_or_else(|| all.to_string())
        },
    );
    let message = incident["message"].as_str().unwrap();
    assert!(
        message.contains("unit worker.service is failed (failed), result exit-code"),
        "{incident}"
    );
    assert_eq!(incident["labels"]["kind"], "systemd", "{incident}");
    let tries = incident["actions"].as_array().unwrap();
    assert_eq!(tries.len(), 1, "{incident}");
    assert_eq!(tries[0]["action"], "restart-worker");
    assert_eq!(tries[0]["ok"], true, "{incident}");
    assert_eq!(
        std::fs::read_to_string(mesh.dir().join("unit-state"))
            .unwrap()
            .trim(),
        "active"
    );
}
