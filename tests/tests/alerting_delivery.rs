//! Alerting's deliveries and actions, end to end: a webhook that fails its first requests
//! is retried with backoff until delivered, and one that always fails is recorded as failed,
//! reached by escalation; an event runs only the recovery actions its agent's own config
//! whitelists; the region's notification channels put from the centre's API are refused
//! when bad, in force at once when good, the credential never shown and still sent.

use std::time::Duration;

use strata_testkit::{Mesh, MeshCa, Region, get_json, http_request, wait_for, write_config};
use strata_tests::CpuAgent;
use strata_tests::eu::{Sub, eu, notifications, operator_dir, up_at_the_centre};
use strata_tests::sinks::WebhookReceiver;

/// `strata-agent` web-1 with `[actions]` and a failing script check (for `Region::agent`).
const AGENT_WITH_ACTIONS: &str = "id = \"web-1\"\ncollect_interval = \"1s\"\n\
     [actions.mark]\ncommand = [\"sh\", \"-c\", \"echo restarted; touch {dir}/action-ran\"]\n\
     [[checks]]\nname = \"nightly-job\"\nkind = \"script\"\n\
     command = [\"sh\", \"-c\", \"echo job failed; exit 2\"]\ninterval = \"1s\"\n";

#[test]
fn failed_deliveries_are_retried_with_backoff_and_finally_recorded_as_failed() {
    let flaky = WebhookReceiver::start(2);
    let dead = WebhookReceiver::start(usize::MAX);
    let ca = MeshCa::temp();
    let agent = CpuAgent::start("app-1", "eu", &ca);
    agent.set(0.95);
    let mut mesh = eu(
        &agent.addr,
        &format!(
            r#"
[notify]
max_attempts = 3
[[notify.receivers]]
name = "flaky"
kind = "webhook"
url = "{flaky}"
[[notify.receivers]]
name = "dead"
kind = "webhook"
url = "{dead}"
[[notify.routes]]
receivers = ["flaky"]
group_wait = "0s"
escalate = [{{ after = "3s", receivers = ["dead"] }}]
"#,
            flaky = flaky.url(),
            dead = dead.url(),
        ),
    )
    // the region alone, without brokers or a centre
    .brokers(0)
    .super_managers(0)
    .ca(ca.clone())
    .start();
    let sub = Sub::eu_1(&mut mesh);
    let done = wait_for("both deliveries finished", Duration::from_secs(40), || {
        let n = notifications(&sub);
        let finished = |r: &str| {
            n.iter()
                .find(|x| x.receiver == r && x.status != "pending")
                .cloned()
        };
        match (finished("flaky"), finished("dead")) {
            (Some(f), Some(d)) => Ok((f, d)),
            _ => Err(format!("{n:?}")),
        }
    });
    let (flaky_n, dead_n) = done;
    assert_eq!(
        (flaky_n.status.as_str(), flaky_n.attempts),
        ("sent", 3),
        "{flaky_n:?}"
    );
    assert_eq!(flaky.requests(), 3, "two failures, then delivered");
    assert_eq!(
        dead_n.reason, "escalation",
        "reached by escalation: {dead_n:?}"
    );
    assert_eq!(
        (dead_n.status.as_str(), dead_n.attempts),
        ("failed", 3),
        "{dead_n:?}"
    );
    assert!(dead_n.last_error.contains("500"), "{}", dead_n.last_error);
    assert_eq!(dead.requests(), 3);
    let body: serde_json::Value = serde_json::from_str(&flaky.bodies()[0]).unwrap();
    assert_eq!(body["status"], "firing");
    assert_eq!(body["events"][0]["rule"], "cpu-high");
    assert_eq!(body["events"][0]["labels"]["team"], "web");
    // waits doubled between attempts: 1 s, then 2 s
    let took = flaky_n.done_ms - flaky_n.created_ms;
    assert!((2900..10_000).contains(&took), "delivered after {took} ms");
}

#[test]
fn an_event_runs_only_whitelisted_actions_and_checks_open_events() {
    // load is never below zero: these rules fire on the first poll
    let mesh = Mesh::builder()
        .interval(Duration::from_secs(1))
        .file(
            "rules.toml",
            "[[rules]]\nname = \"always\"\nmetric = \"host_load1\"\ncritical = 0\ndirection = \"above\"\naction = \"mark\"\n\
             [[rules]]\nname = \"forbidden\"\nmetric = \"host_load1\"\ncritical = 0\naction = \"rm-everything\"\n",
        )
        .region(
            Region::new("eu")
                .member_ids(&["eu-1"])
                .member_toml("rules_file = \"{dir}/rules.toml\"\n")
                .agent(AGENT_WITH_ACTIONS),
        )
        .start();
    let sup = mesh.http();
    let incidents = wait_for("both actions recorded", Duration::from_secs(30), || {
        let events = get_json(&sup, "/api/v1/events")?;
        let list = events.as_array().cloned().unwrap_or_default();
        let ran = |rule: &str| {
            list.iter()
                .find(|e| {
                    e["rule"] == rule && e["actions"].as_array().is_some_and(|a| !a.is_empty())
                })
                .cloned()
        };
        match (
            ran("always"),
            ran("forbidden"),
            list.iter().find(|e| e["rule"] == "check/nightly-job"),
        ) {
            (Some(a), Some(f), Some(c)) => Ok((a, f, c.clone())),
            _ => Err(events.to_string()),
        }
    });
    let (always, forbidden, check) = incidents;
    let run = &always["actions"][0];
    assert_eq!(run["action"], "mark");
    assert_eq!(run["ok"], true, "{always}");
    assert!(
        run["output"].as_str().unwrap().contains("restarted"),
        "{run}"
    );
    assert!(
        mesh.dir().join("action-ran").exists(),
        "the whitelisted command ran"
    );
    let refused = &forbidden["actions"][0];
    assert_eq!(refused["ok"], false);
    assert!(
        refused["output"]
            .as_str()
            .unwrap()
            .contains("not in the agent's local [actions]"),
        "{refused}"
    );
    // a failing script check is an event of its own
    assert_eq!(check["severity"], "critical", "{check}");
    assert!(
        check["message"].as_str().unwrap().contains("job failed"),
        "{check}"
    );
    assert_eq!(check["labels"]["kind"], "script");
    // the agent's configuration pushed from the centre: validated whole by the agent
    let (status, answer) = http_request(
        &sup,
        "PUT",
        "/api/v1/resources/eu/web-1/config",
        "[[checks]]\nname = 'ssh'\nkind = 'port'\nport = 22\n",
    )
    .unwrap();
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer.contains("port") && answer.contains("ssh"),
        "{answer}"
    );
    let (status, answer) = http_request(
        &sup,
        "PUT",
        "/api/v1/resources/eu/web-1/config",
        "[items.processes]\ninterval = '30s'\n[[checks]]\nname = 'ssh'\nkind = 'port'\naddress = '127.0.0.1:22'\ninterval = '5s'\n",
    )
    .unwrap();
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer.contains("\"ssh\"") && answer.contains("nightly-job"),
        "{answer}"
    );
    // what was pushed is read back from the agent through the same path
    let read_back = get_json(&sup, "/api/v1/resources/eu/web-1/config").unwrap();
    assert!(
        read_back["pushed_toml"]
            .as_str()
            .is_some_and(|t| t.contains("name = 'ssh'")),
        "{read_back}"
    );
    assert!(read_back["commands"].is_array(), "{read_back}");
    // and both actions are in the audit log
    let audit = get_json(&sup, "/api/v1/reports/audit?period=today").unwrap();
    let done = |action: &str, outcome: &str| {
        audit["rows"].as_array().is_some_and(|rows| {
            rows.iter()
                .any(|r| r["action"] == action && r["outcome"] == outcome && r["who"] == "region")
        })
    };
    assert!(done("action mark", "ok"), "{audit}");
    assert!(done("action rm-everything", "failed"), "{audit}");
}

#[test]
fn notification_channels_put_from_the_centre_take_effect_at_once_and_keep_their_secrets() {
    let hook = WebhookReceiver::start(0);
    let ca = MeshCa::temp();
    let agent = CpuAgent::start("app-1", "eu", &ca);
    // no [notify]: the region starts telling nobody
    let mesh = eu(&agent.addr, "").ca(ca.clone()).start();
    let (broker, sup) = (mesh.brokers[0].addr.clone(), mesh.http());
    up_at_the_centre(&sup);
    let path = "/api/v1/regions/eu/notify";
    let shown = get_json(&sup, path).unwrap();
    assert_eq!(
        (shown["source"].as_str(), shown["receivers"].as_u64()),
        (Some("file"), Some(0)),
        "{shown}"
    );
    let channels = format!(
        r#"
[[receivers]]
name = "hook"
kind = "webhook"
url = "{url}"
headers = {{ Authorization = "Bearer s3cret" }}
[[routes]]
match = {{ rule = "cpu-high" }}
receivers = ["hook"]
group_wait = "0s"
"#,
        url = hook.url()
    );
    // a bad set is refused with its field named, and changes nothing
    let (status, answer) =
        http_request(&sup, "PUT", path, &channels.replace("http://", "ftp://")).unwrap();
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("notify.receivers[0].url"), "{answer}");
    assert_eq!(get_json(&sup, path).unwrap()["source"], "file");
    let (status, answer) = http_request(&sup, "PUT", path, &channels).unwrap();
    assert_eq!(status, 200, "{answer}");
    let shown = get_json(&sup, path).unwrap();
    assert_eq!(
        (
            shown["source"].as_str(),
            shown["receivers"].as_u64(),
            shown["routes"].as_u64()
        ),
        (Some("api"), Some(1), Some(1)),
        "{shown}"
    );
    let text = shown["notify_toml"].as_str().unwrap().to_string();
    assert!(
        text.contains("<hidden>") && !text.contains("s3cret"),
        "the credential is not shown: {text}"
    );
    // what was shown, put back as it is (here by the CLI, through the broker), keeps the
    // credential
    let file = write_config(mesh.dir(), "channels.toml", &text);
    let strata = |args: &[&str]| {
        let out = strata_testkit::cli()
            .args(args)
            .args(["--region-api", &broker, "--region", "eu"])
            .arg("--tls-dir")
            .arg(operator_dir(&ca))
            .output()
            .expect("run strata");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    };
    let put = strata(&["notify", "put", &file]);
    assert!(
        put.contains("1 receiver, 1 route, 0 silences in force (from the API)"),
        "{put}"
    );
    let show = strata(&["notify", "show"]);
    assert!(
        show.contains("<hidden>") && show.contains(&hook.url()),
        "{show}"
    );
    // without a restart, the next event goes to the receiver put, with its credential
    agent.set(0.95);
    wait_for(
        "the webhook told of cpu-high",
        Duration::from_secs(20),
        || {
            if hook.requests() >= 1 {
                Ok(())
            } else {
                Err("no request yet".to_string())
            }
        },
    );
    let body: serde_json::Value = serde_json::from_str(&hook.bodies()[0]).unwrap();
    assert_eq!(body["status"], "firing", "{body}");
    assert_eq!(body["events"][0]["rule"], "cpu-high", "{body}");
    assert_eq!(
        hook.header("authorization")[0].as_deref(),
        Some("Bearer s3cret")
    );
    agent.set(0.3);
    wait_for("the resolution told", Duration::from_secs(20), || {
        let bodies = hook.bodies();
        match bodies.get(1) {
            Some(b) if b.contains("\"resolved\"") => Ok(()),
            _ => Err(format!("{bodies:?}")),
        }
    });
    // back to the config file's channels
    let (status, answer) = http_request(&sup, "DELETE", path, "").unwrap();
    assert_eq!(status, 200, "{answer}");
    let shown = get_json(&sup, path).unwrap();
    assert_eq!(
        (shown["source"].as_str(), shown["receivers"].as_u64()),
        (Some("file"), Some(0)),
        "{shown}"
    );
    let audit = get_json(&sup, "/api/v1/reports/audit?period=today").unwrap();
    assert!(
        audit.to_string().contains("regions/eu/notify"),
        "audit: {audit}"
    );
}
