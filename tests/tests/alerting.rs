//! Alerting end to end, with real peers: an agent served by this test (its CPU is whatever
//! the test says) is polled by a real sub-manager every second; the rule `cpu-high`
//! (critical at 0.9 held for 2 s, warning at 0.8, clearing under 0.6) opens an event, which
//! the region notifies to Debian's Alertmanager (read back through its API) and to an SMTP
//! sink written for the test. Acknowledging the event stops its escalation to a pager
//! webhook; the value falling under the warning level but not the clear level keeps the
//! event open (hysteresis); under the clear level it resolves, and the receivers hear of it.
//! The same runs with the super-manager and the broker stopped: the region notifies alone.
//! A third test has a webhook fail its first requests (retried with backoff until
//! delivered) and another always fail (recorded as failed), reached by escalation.
//! Another puts the region's notification channels from the centre's API: refused when bad,
//! in force at once when good, the credential never shown and still sent.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use strata_agent::buffer::SampleBuffer;
use strata_agent::entry::AgentEntry;
use strata_agent::registry::Registry;
use strata_proto::v1::sub_manager_client::SubManagerClient;
use strata_proto::v1::{
    AcknowledgeEventRequest, Event, ListNotificationsRequest, Notification, WatchRegionRequest,
    region_update::Kind,
};
use strata_tests::alertmanager::Alertmanager;
use strata_tests::sinks::{SmtpSink, WebhookReceiver};
use strata_tests::{
    Proc, block_on, get_json, http_request, start_broker, start_super_manager, wait_for,
    write_config,
};

/// `strata-agent` with `[actions]` and a failing script check, registered with `broker`.
fn start_agent_with_actions(dir: &std::path::Path, broker: &str) -> Proc {
    let marker = dir.join("action-ran");
    let cfg = write_config(
        dir,
        "agent.toml",
        &format!(
            "id = \"web-1\"\nlisten = \"127.0.0.1:0\"\ncollect_interval = \"1s\"\n\
             [registration]\nbrokers = [\"{broker}\"]\nregion = \"eu\"\n\
             [actions.mark]\ncommand = [\"sh\", \"-c\", \"echo restarted; touch {}\"]\n\
             [[checks]]\nname = \"nightly-job\"\nkind = \"script\"\ncommand = [\"sh\", \"-c\", \"echo job failed; exit 2\"]\ninterval = \"1s\"\n",
            marker.display()
        ),
    );
    Proc::start("agent", "strata-agent", &["--config", &cfg], dir)
}
use tokio_util::sync::CancellationToken;

/// The sub-manager's poll interval.
const POLL: Duration = Duration::from_secs(1);
/// The rule's `for`.
const HOLD: Duration = Duration::from_secs(2);
/// When the pager is told of an unacknowledged event.
const ESCALATE_AFTER: Duration = Duration::from_secs(8);

const RULES: &str = r#"
[[rules]]
name = "cpu-high"
metric = "host_cpu_usage_ratio"
labels = { cpu = "total" }
warning = 0.8
critical = 0.9
clear = 0.6
for = "2s"
tags = { team = "web" }
summary = "CPU usage {percent} on {agent}"
"#;

/// An agent served in this process whose total CPU usage the test sets; it samples every
/// 250 ms. Stops when dropped.
struct CpuAgent {
    addr: String,
    cpu: Arc<AtomicU64>,
    stop: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl CpuAgent {
    fn start(id: &str) -> Self {
        let cpu = Arc::new(AtomicU64::new(0.3f64.to_bits()));
        let stop = CancellationToken::new();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let mut registry = Registry::new(10_000);
        let mut buffer = SampleBuffer::new(100_000, Duration::from_secs(600));
        let labels = [("cpu".to_string(), "total".to_string())].into();
        let series = buffer.intern("host_cpu_usage_ratio", &labels);
        let entry = registry.add(AgentEntry {
            id: id.into(),
            hostname: id.into(),
            cpu_count: 2,
            collect_interval_ms: 250,
            buffer: Mutex::new(buffer),
            checks: Mutex::default(),
        });
        let registry = Arc::new(registry);
        let (value, stopped) = (cpu.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let serving = tokio::spawn(strata_agent::door::serve(
                    listener,
                    registry,
                    None,
                    stopped.clone(),
                ));
                let mut tick = tokio::time::interval(Duration::from_millis(250));
                loop {
                    tokio::select! {
                        _ = stopped.cancelled() => break,
                        _ = tick.tick() => {}
                    }
                    let v = f64::from_bits(value.load(Ordering::Relaxed));
                    entry
                        .buffer
                        .lock()
                        .unwrap()
                        .push(series, strata_tests::now_ms(), v);
                }
                let _ = serving.await;
            })
        });
        Self {
            addr,
            cpu,
            stop,
            thread: Some(thread),
        }
    }

    fn set(&self, v: f64) {
        self.cpu.store(v.to_bits(), Ordering::Relaxed);
    }
}

impl Drop for CpuAgent {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The receivers of one scenario.
struct Peers {
    am: Alertmanager,
    smtp: SmtpSink,
    pager: WebhookReceiver,
}

/// Writes eu-1's config: polling `agent` every [`POLL`] with the rules of [`RULES`] (the
/// built-in CPU rules kept out of the way), registered with `brokers`, then `extra`.
fn eu_config(dir: &std::path::Path, brokers: &[&str], agent: &str, extra: &str) -> String {
    let rules = write_config(dir, "rules.toml", RULES);
    let brokers = brokers
        .iter()
        .map(|b| format!("\"{b}\""))
        .collect::<Vec<_>>()
        .join(", ");
    write_config(
        dir,
        "eu-1.toml",
        &format!(
            r#"
id = "eu-1"
region = "eu"
listen = "127.0.0.1:0"
data_dir = "{data}"
brokers = [{brokers}]
rules_file = "{rules}"
[poll]
interval = "{poll}ms"
backoff_max = "1s"
[thresholds]
cpu_warning = 0.99
cpu_critical = 1.0
[[agents]]
id = "app-1"
address = "{agent}"
{extra}"#,
            data = dir.join("eu-1").display(),
            poll = POLL.as_millis(),
        ),
    )
}

/// eu-1's config notifying `peers`: e-mail and Alertmanager at once, the pager on
/// escalation.
fn sub_manager_config(
    dir: &std::path::Path,
    brokers: &[&str],
    agent: &str,
    peers: &Peers,
) -> String {
    eu_config(
        dir,
        brokers,
        agent,
        &format!(
            r#"
[[notify.receivers]]
name = "mail"
kind = "email"
smtp = "{smtp}"
from = "strata@example.test"
to = ["ops@example.test"]
[[notify.receivers]]
name = "am"
kind = "alertmanager"
url = "http://{am}"
[[notify.receivers]]
name = "pager"
kind = "webhook"
url = "{pager}"
[[notify.routes]]
match = {{ rule = "cpu-high" }}
receivers = ["mail", "am"]
group_wait = "0s"
escalate = [{{ after = "{escalate}s", receivers = ["pager"] }}]
"#,
            smtp = peers.smtp.addr(),
            am = peers.am.addr,
            pager = peers.pager.url(),
            escalate = ESCALATE_AFTER.as_secs(),
        ),
    )
}

async fn client(addr: &str) -> SubManagerClient<tonic::transport::Channel> {
    SubManagerClient::connect(format!("http://{addr}"))
        .await
        .expect("connect to the sub-manager")
}

/// The sub-manager's open events, from the snapshot its WatchRegion starts with.
fn open_events(sub: &str) -> Result<Vec<Event>, String> {
    block_on(async {
        let mut c = client(sub).await;
        let mut stream = c
            .watch_region(WatchRegionRequest {
                region: "eu".into(),
                ..Default::default()
            })
            .await
            .map_err(|s| s.to_string())?
            .into_inner();
        match stream.message().await.map_err(|s| s.to_string())? {
            Some(u) => match u.kind {
                Some(Kind::Snapshot(s)) => Ok(s.events),
                other => Err(format!("first update is not a snapshot: {other:?}")),
            },
            None => Err("the stream ended".into()),
        }
    })
}

/// Waits until the super-manager at `http` shows app-1 up.
fn up_at_the_centre(http: &str) {
    wait_for("app-1 up at the centre", Duration::from_secs(20), || {
        let r = get_json(http, "/api/v1/resources")?;
        let up = r
            .as_array()
            .is_some_and(|l| l.iter().any(|x| x["host"] == "app-1" && x["state"] == "up"));
        if up { Ok(()) } else { Err(r.to_string()) }
    });
}

/// When the sub-manager last polled app-1.
fn last_poll_ms(sub: &str) -> Result<i64, String> {
    let resources = block_on(async {
        client(sub)
            .await
            .list_resources(strata_proto::v1::ListResourcesRequest {
                region: "eu".into(),
            })
            .await
            .map_err(|s| s.to_string())
    })?
    .into_inner()
    .resources;
    resources
        .iter()
        .find(|r| r.host == "app-1")
        .map(|r| r.last_poll_ms)
        .ok_or_else(|| "app-1 not reported".to_string())
}

fn cpu_event(sub: &str) -> Result<Option<Event>, String> {
    Ok(open_events(sub)?.into_iter().find(|e| e.rule == "cpu-high"))
}

fn notifications(sub: &str) -> Vec<Notification> {
    block_on(async {
        client(sub)
            .await
            .list_notifications(ListNotificationsRequest {
                region: "eu".into(),
                limit: 100,
            })
            .await
            .expect("ListNotifications")
            .into_inner()
            .notifications
    })
}

fn cpu_alerts(am: &Alertmanager) -> Result<Vec<serde_json::Value>, String> {
    Ok(am
        .alerts()?
        .into_iter()
        .filter(|a| a["labels"]["alertname"] == "cpu-high")
        .collect())
}

/// How the event is acknowledged: through the super-manager, or the region's own API.
enum Ack<'a> {
    Centre(&'a str),
    Region,
}

/// Raises the agent's CPU past critical and follows the event to its resolution.
fn raise_notify_acknowledge_resolve(agent: &CpuAgent, sub: &str, peers: &Peers, ack: Ack<'_>) {
    let crossed = strata_tests::now_ms();
    agent.set(0.95);
    let event = wait_for("the cpu-high event", Duration::from_secs(15), || {
        cpu_event(sub)?.ok_or_else(|| "not open yet".to_string())
    });
    let delay = event.opened_ms - crossed;
    eprintln!("event opened {delay} ms after the CPU crossed the critical level");
    // one poll interval plus the hold, with the agent's 250 ms sampling and scheduling slack
    let bound = (POLL + HOLD + Duration::from_millis(500)).as_millis() as i64;
    assert!(
        delay <= bound,
        "opened {delay} ms after the crossing; the bound is {bound} ms"
    );
    assert!(
        delay >= HOLD.as_millis() as i64,
        "opened {delay} ms after the crossing, before the 2 s hold"
    );
    assert_eq!(
        strata_proto::names::severity_name(event.severity()),
        "critical"
    );
    assert!(event.message.contains("on app-1"), "{}", event.message);

    wait_for("the e-mail and the alert", Duration::from_secs(10), || {
        let (mails, alerts) = (peers.smtp.mails().len(), cpu_alerts(&peers.am)?.len());
        if mails >= 1 && alerts >= 1 {
            Ok(())
        } else {
            Err(format!("{mails} mails, {alerts} alerts"))
        }
    });
    match ack {
        Ack::Centre(http) => {
            let body =
                r#"{"resource_id":"eu/app-1","rule":"cpu-high","by":"alice","comment":"on it"}"#;
            let (status, answer) =
                http_request(http, "POST", "/api/v1/events/ack", body).expect("POST ack");
            assert_eq!(status, 200, "{answer}");
            let (status, answer) = http_request(
                http,
                "POST",
                "/api/v1/events/ack",
                r#"{"resource_id":"eu/app-1","rule":"cpu-high"}"#,
            )
            .unwrap();
            assert_eq!(status, 400, "by is required: {answer}");
            assert!(answer.contains("by"), "{answer}");
            wait_for(
                "the centre shows the acknowledgement",
                Duration::from_secs(10),
                || {
                    let events = get_json(http, "/api/v1/events")?;
                    let ours = events
                        .as_array()
                        .and_then(|l| l.iter().find(|e| e["rule"] == "cpu-high"))
                        .cloned()
                        .ok_or("no cpu-high incident")?;
                    if ours["acknowledged_by"] == "alice" {
                        Ok(())
                    } else {
                        Err(ours.to_string())
                    }
                },
            );
        }
        Ack::Region => {
            let acked = block_on(async {
                client(sub)
                    .await
                    .acknowledge_event(AcknowledgeEventRequest {
                        region: "eu".into(),
                        resource_id: "eu/app-1".into(),
                        rule: "cpu-high".into(),
                        by: "bob".into(),
                        comment: "centre is down, on it".into(),
                    })
                    .await
                    .expect("AcknowledgeEvent")
                    .into_inner()
            });
            assert_eq!(acked.events.len(), 1);
            assert_eq!(acked.events[0].acknowledged_by, "bob");
        }
    }
    // past the escalation, and two planning ticks more: the pager was never called
    let escalation = event.opened_ms + ESCALATE_AFTER.as_millis() as i64 + 1500;
    while strata_tests::now_ms() < escalation {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(peers.pager.requests(), 0, "acknowledged: no escalation");
    let mails = peers.smtp.mails();
    assert_eq!(mails.len(), 1, "exactly one e-mail: {mails:?}");
    assert!(
        mails[0]
            .subject()
            .starts_with("[FIRING] critical cpu-high on eu/app-1"),
        "{}",
        mails[0].subject()
    );
    let alerts = cpu_alerts(&peers.am).unwrap();
    assert_eq!(alerts.len(), 1, "exactly one alert: {alerts:?}");
    assert_eq!(alerts[0]["labels"]["host"], "app-1");
    assert_eq!(alerts[0]["labels"]["team"], "web");
    assert_eq!(alerts[0]["labels"]["severity"], "critical");

    // under warning but above the clear level: still open, now a warning
    agent.set(0.7);
    // judged warning, then polled twice more at 0.7, and still open
    let held = wait_for("the event held at warning", Duration::from_secs(15), || {
        let e = cpu_event(sub)?.ok_or("resolved under the clear level")?;
        let changed_ms = e.changes.last().map_or(0, |c| c.ts_ms);
        let polled_ms = last_poll_ms(sub)?;
        if e.severity() == strata_proto::v1::Severity::Warning
            && polled_ms >= changed_ms + 2 * POLL.as_millis() as i64
        {
            Ok(e)
        } else {
            Err(format!("{e:?}, last poll {polled_ms}"))
        }
    });
    assert_eq!(
        strata_proto::names::severity_name(held.severity()),
        "warning"
    );
    let severities: Vec<i32> = held.changes.iter().map(|c| c.severity).collect();
    assert_eq!(
        severities.len(),
        2,
        "critical, then warning: {:?}",
        held.changes
    );
    assert_eq!(held.id, event.id, "the same event");
    assert_eq!(
        peers.smtp.mails().len(),
        1,
        "a fall in severity tells nobody"
    );

    // under the clear level: resolved, and the receivers told of it
    agent.set(0.4);
    let resolved_within = Instant::now();
    wait_for(
        "the event resolved",
        Duration::from_secs(10),
        || match cpu_event(sub)? {
            None => Ok(()),
            Some(e) => Err(format!("still open: {}", e.message)),
        },
    );
    eprintln!(
        "resolved {:?} after the value cleared",
        resolved_within.elapsed()
    );
    wait_for("the resolution told", Duration::from_secs(15), || {
        let mails = peers.smtp.mails();
        let alerts = cpu_alerts(&peers.am)?;
        let resolved_mail = mails.len() == 2 && mails[1].subject().starts_with("[RESOLVED]");
        let alert_over = alerts.iter().all(|a| a["status"]["state"] != "active");
        if resolved_mail && alert_over {
            Ok(())
        } else {
            Err(format!(
                "{} mails, alerts {alerts:?}, notifications {:?}",
                mails.len(),
                notifications(sub)
            ))
        }
    });
    let told: Vec<(String, String, String)> = notifications(sub)
        .into_iter()
        .map(|n| (n.receiver, n.reason, n.status))
        .collect();
    let expect = |r: &str, reason: &str| (r.to_string(), reason.to_string(), "sent".to_string());
    let mut sorted = told.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        vec![
            expect("am", "firing"),
            expect("am", "resolved"),
            expect("mail", "firing"),
            expect("mail", "resolved"),
        ],
        "one notification each when it fired, one when it resolved"
    );
}

#[test]
fn a_cpu_alert_notifies_alertmanager_and_mail_once_stops_escalating_when_acknowledged_and_resolves()
{
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let peers = Peers {
        am: Alertmanager::start(dir),
        smtp: SmtpSink::start(),
        pager: WebhookReceiver::start(0),
    };
    let agent = CpuAgent::start("app-1");
    let broker = start_broker(dir);
    let cfg = sub_manager_config(dir, &[&broker.addr], &agent.addr, &peers);
    let sub = Proc::start("eu-1", "strata-sub-manager", &["--config", &cfg], dir);
    let sup = start_super_manager(&[&broker.addr], "", dir);
    up_at_the_centre(&sup.addr);
    raise_notify_acknowledge_resolve(&agent, &sub.addr, &peers, Ack::Centre(&sup.addr));
    // the rules file replayed over what the region stored tells the same story (once the
    // step after the resolution is complete: a step is judged when it is whole)
    let rules = dir.join("rules.toml");
    let text = wait_for(
        "the replay to see the resolution",
        Duration::from_secs(15),
        || {
            let out = std::process::Command::new(strata_tests::bin("strata"))
                .args(["rules", "test"])
                .arg(&rules)
                .args([
                    "--region-api",
                    &sub.addr,
                    "--region",
                    "eu",
                    "--since",
                    "5m",
                    "--step",
                    "1s",
                ])
                .output()
                .map_err(|e| e.to_string())?;
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            if !out.status.success() {
                return Err(format!("{text}{}", String::from_utf8_lossy(&out.stderr)));
            }
            if text.contains("resolved") {
                Ok(text)
            } else {
                Err(text)
            }
        },
    );
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("eu/app-1")).collect();
    let changes: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.split_whitespace().nth(3))
        .collect();
    assert_eq!(changes, ["opened", "changed", "resolved"], "{text}");
    assert!(lines[0].contains("critical"), "{text}");
    assert!(text.contains("1 event(s) would have opened"), "{text}");
    // the region's rules and notifications, from the centre
    let rules = get_json(&sup.addr, "/api/v1/regions/eu/rules").unwrap();
    assert!(
        rules["rules_toml"].as_str().unwrap().contains("cpu-high"),
        "{rules}"
    );
    let before = rules["count"].as_u64().unwrap();
    let (status, answer) = http_request(
        &sup.addr,
        "PUT",
        "/api/v1/regions/eu/rules",
        "[[rules]]\nname = 'swap'\nmetric = 'host_swap_used_ratio'\nwarnin = 0.5\n",
    )
    .unwrap();
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer.contains("rules[0] 'swap'") && answer.contains("warnin"),
        "{answer}"
    );
    let (status, answer) = http_request(
        &sup.addr,
        "PUT",
        "/api/v1/regions/eu/rules",
        "[[rules]]\nname = 'swap'\nmetric = 'host_swap_used_ratio'\nwarning = 0.5\n",
    )
    .unwrap();
    assert_eq!(status, 200, "{answer}");
    let after: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(after["count"].as_u64().unwrap(), before + 1, "{after}");
    let sent = get_json(&sup.addr, "/api/v1/regions/eu/notifications").unwrap();
    assert_eq!(sent.as_array().map(Vec::len), Some(4), "{sent}");
    // the acknowledgement is in the centre's audit log
    let audit = get_json(&sup.addr, "/api/v1/reports/audit?period=today").unwrap();
    assert!(
        audit.to_string().contains("eu/app-1/cpu-high"),
        "audit: {audit}"
    );
}

#[test]
fn with_the_centre_and_brokers_stopped_the_region_still_notifies() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let peers = Peers {
        am: Alertmanager::start(dir),
        smtp: SmtpSink::start(),
        pager: WebhookReceiver::start(0),
    };
    let agent = CpuAgent::start("app-1");
    let mut broker = start_broker(dir);
    let cfg = sub_manager_config(dir, &[&broker.addr], &agent.addr, &peers);
    let sub = Proc::start("eu-1", "strata-sub-manager", &["--config", &cfg], dir);
    let mut sup = start_super_manager(&[&broker.addr], "", dir);
    up_at_the_centre(&sup.addr);
    sup.kill();
    broker.kill();
    // the region goes on polling without them
    let polled_after = strata_tests::now_ms();
    wait_for(
        "polls after the centre went",
        Duration::from_secs(10),
        || {
            if last_poll_ms(&sub.addr)? > polled_after {
                Ok(())
            } else {
                Err("not polled since".to_string())
            }
        },
    );
    raise_notify_acknowledge_resolve(&agent, &sub.addr, &peers, Ack::Region);
}

#[test]
fn failed_deliveries_are_retried_with_backoff_and_finally_recorded_as_failed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let flaky = WebhookReceiver::start(2);
    let dead = WebhookReceiver::start(usize::MAX);
    let agent = CpuAgent::start("app-1");
    agent.set(0.95);
    let cfg = eu_config(
        dir,
        &[],
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
    );
    let sub = Proc::start("eu-1", "strata-sub-manager", &["--config", &cfg], dir);
    let done = wait_for("both deliveries finished", Duration::from_secs(40), || {
        let n = notifications(&sub.addr);
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
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let broker = start_broker(dir);
    let _agent = start_agent_with_actions(dir, &broker.addr);
    // load is never below zero: these rules fire on the first poll
    let rules = write_config(
        dir,
        "rules.toml",
        "[[rules]]\nname = \"always\"\nmetric = \"host_load1\"\ncritical = 0\ndirection = \"above\"\naction = \"mark\"\n\
         [[rules]]\nname = \"forbidden\"\nmetric = \"host_load1\"\ncritical = 0\naction = \"rm-everything\"\n",
    );
    let cfg = write_config(
        dir,
        "eu-1.toml",
        &format!(
            "id = \"eu-1\"\nregion = \"eu\"\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n\
             brokers = [\"{}\"]\nrules_file = \"{rules}\"\n[poll]\ninterval = \"1s\"\n",
            dir.join("eu-1").display(),
            broker.addr
        ),
    );
    let _sub = Proc::start("eu-1", "strata-sub-manager", &["--config", &cfg], dir);
    let sup = start_super_manager(&[&broker.addr], "", dir);
    let incidents = wait_for("both actions recorded", Duration::from_secs(30), || {
        let events = get_json(&sup.addr, "/api/v1/events")?;
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
        dir.join("action-ran").exists(),
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
        &sup.addr,
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
        &sup.addr,
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
    // and both actions are in the audit log
    let audit = get_json(&sup.addr, "/api/v1/reports/audit?period=today").unwrap();
    let text = audit.to_string();
    assert!(text.contains("action mark ok"), "{text}");
    assert!(text.contains("action rm-everything failed"), "{text}");
}

#[test]
fn notification_channels_put_from_the_centre_take_effect_at_once_and_keep_their_secrets() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let hook = WebhookReceiver::start(0);
    let agent = CpuAgent::start("app-1");
    let broker = start_broker(dir);
    // no [notify]: the region starts telling nobody
    let cfg = eu_config(dir, &[&broker.addr], &agent.addr, "");
    let _sub = Proc::start("eu-1", "strata-sub-manager", &["--config", &cfg], dir);
    let sup = start_super_manager(&[&broker.addr], "", dir);
    up_at_the_centre(&sup.addr);
    let path = "/api/v1/regions/eu/notify";
    let shown = get_json(&sup.addr, path).unwrap();
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
    let (status, answer) = http_request(
        &sup.addr,
        "PUT",
        path,
        &channels.replace("http://", "ftp://"),
    )
    .unwrap();
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("notify.receivers[0].url"), "{answer}");
    assert_eq!(get_json(&sup.addr, path).unwrap()["source"], "file");
    let (status, answer) = http_request(&sup.addr, "PUT", path, &channels).unwrap();
    assert_eq!(status, 200, "{answer}");
    let shown = get_json(&sup.addr, path).unwrap();
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
    let file = write_config(dir, "channels.toml", &text);
    let strata = |args: &[&str]| {
        let out = std::process::Command::new(strata_tests::bin("strata"))
            .args(args)
            .args(["--region-api", &broker.addr, "--region", "eu"])
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
    let (status, answer) = http_request(&sup.addr, "DELETE", path, "").unwrap();
    assert_eq!(status, 200, "{answer}");
    let shown = get_json(&sup.addr, path).unwrap();
    assert_eq!(
        (shown["source"].as_str(), shown["receivers"].as_u64()),
        (Some("file"), Some(0)),
        "{shown}"
    );
    let audit = get_json(&sup.addr, "/api/v1/reports/audit?period=today").unwrap();
    assert!(
        audit.to_string().contains("regions/eu/notify"),
        "audit: {audit}"
    );
}
