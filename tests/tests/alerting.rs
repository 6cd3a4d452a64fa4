//! Alerting end to end, with real peers: an agent served by this test (its CPU is whatever
//! the test says) is polled by a real sub-manager every second; the rule `cpu-high`
//! (critical at 0.9 held for 2 s, warning at 0.8, clearing under 0.6) opens an event, which
//! the region notifies to Debian's Alertmanager (read back through its API) and to an SMTP
//! sink written for the test. Acknowledging the event stops its escalation to a pager
//! webhook; the value falling under the warning level but not the clear level keeps the
//! event open (hysteresis); under the clear level it resolves, and the receivers hear of it.
//! The same runs with the super-manager and the broker stopped: the region notifies alone.
//! Deliveries that fail, recovery actions and channels put through the API are in
//! `alerting_delivery.rs`.

use std::time::{Duration, Instant};

use strata_proto::v1::AcknowledgeEventRequest;
use strata_testkit::{MeshBuilder, MeshCa, block_on, get_json, http_request, wait_for};
use strata_tests::CpuAgent;
use strata_tests::alertmanager::Alertmanager;
use strata_tests::eu::{
    POLL, Sub, client, cpu_event, eu, last_poll_ms, notifications, operator_dir, up_at_the_centre,
};
use strata_tests::sinks::{SmtpSink, WebhookReceiver};

/// The rule's `for`.
const HOLD: Duration = Duration::from_secs(2);
/// When the pager is told of an unacknowledged event.
const ESCALATE_AFTER: Duration = Duration::from_secs(8);

/// The receivers of one scenario.
struct Peers {
    am: Alertmanager,
    smtp: SmtpSink,
    pager: WebhookReceiver,
}

fn with_peers(agent: &str, peers: &Peers) -> MeshBuilder {
    eu(
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
fn raise_notify_acknowledge_resolve(agent: &CpuAgent, sub: &Sub, peers: &Peers, ack: Ack<'_>) {
    let crossed = strata_testkit::now_ms();
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
            // a name typed in the body is not who acknowledges: the caller is
            let body =
                r#"{"resource_id":"eu/app-1","rule":"cpu-high","by":"alice","comment":"on it"}"#;
            let (status, answer) =
                http_request(http, "POST", "/api/v1/events/ack", body).expect("POST ack");
            assert_eq!(status, 200, "{answer}");
            assert!(answer.contains("token:testkit"), "{answer}");
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
                    if ours["acknowledged_by"] == "token:testkit" {
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
            // signed by the user the operator certificate speaks for, not the `by` sent
            assert_eq!(
                acked.events[0].acknowledged_by,
                strata_testkit::access::OPERATOR
            );
        }
    }
    // past the escalation, and two planning ticks more: the pager was never called
    let escalation = event.opened_ms + ESCALATE_AFTER.as_millis() as i64 + 1500;
    while strata_testkit::now_ms() < escalation {
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
    let ca = MeshCa::temp();
    let agent = CpuAgent::start("app-1", "eu", &ca);
    let mut mesh = with_peers(&agent.addr, &peers).ca(ca.clone()).start();
    let (sup, sub) = (mesh.http(), Sub::eu_1(&mut mesh));
    up_at_the_centre(&sup);
    raise_notify_acknowledge_resolve(&agent, &sub, &peers, Ack::Centre(&sup));
    // the rules file replayed over what the region stored tells the same story (once the
    // step after the resolution is complete: a step is judged when it is whole)
    let rules = mesh.dir().join("rules.toml");
    let text = wait_for(
        "the replay to see the resolution",
        Duration::from_secs(15),
        || {
            let out = strata_testkit::cli()
                .args(["rules", "test"])
                .arg(&rules)
                .arg("--tls-dir")
                .arg(operator_dir(&ca))
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
    let rules = get_json(&sup, "/api/v1/regions/eu/rules").unwrap();
    assert!(
        rules["rules_toml"].as_str().unwrap().contains("cpu-high"),
        "{rules}"
    );
    let before = rules["count"].as_u64().unwrap();
    let (status, answer) = http_request(
        &sup,
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
        &sup,
        "PUT",
        "/api/v1/regions/eu/rules",
        "[[rules]]\nname = 'swap'\nmetric = 'host_swap_used_ratio'\nwarning = 0.5\n",
    )
    .unwrap();
    assert_eq!(status, 200, "{answer}");
    let after: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(after["count"].as_u64().unwrap(), before + 1, "{after}");
    let sent = get_json(&sup, "/api/v1/regions/eu/notifications").unwrap();
    assert_eq!(sent.as_array().map(Vec::len), Some(4), "{sent}");
    // the acknowledgement is in the centre's audit log
    let audit = get_json(&sup, "/api/v1/reports/audit?period=today").unwrap();
    let acked = audit["rows"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["subject"] == "eu/app-1/cpu-high"))
        .unwrap_or_else(|| panic!("no acknowledgement in the audit: {audit}"));
    assert_eq!(
        (&acked["action"], &acked["who"], &acked["outcome"]),
        (&"acknowledge".into(), &"token:testkit".into(), &"ok".into()),
        "{audit}"
    );
    assert!(
        acked["address"]
            .as_str()
            .is_some_and(|a| a.starts_with("127.0.0.1:")),
        "{audit}"
    );
    // the rules put are audited with what changed: the lines added
    let put = audit["rows"]
        .as_array()
        .and_then(|rows| {
            rows.iter()
                .find(|r| r["action"] == "put rules" && r["outcome"] == "ok")
        })
        .unwrap_or_else(|| panic!("no rules put in the audit: {audit}"));
    let detail = put["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("+ name = \"swap\"") || detail.contains("+ name = 'swap'"),
        "{detail}"
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
    let ca = MeshCa::temp();
    let agent = CpuAgent::start("app-1", "eu", &ca);
    let mut mesh = with_peers(&agent.addr, &peers).ca(ca.clone()).start();
    let sub = Sub::eu_1(&mut mesh);
    up_at_the_centre(&mesh.http());
    mesh.super_manager().kill();
    mesh.brokers[0].kill();
    // the region goes on polling without them
    let polled_after = strata_testkit::now_ms();
    wait_for(
        "polls after the centre went",
        Duration::from_secs(10),
        || {
            if last_poll_ms(&sub)? > polled_after {
                Ok(())
            } else {
                Err("not polled since".to_string())
            }
        },
    );
    raise_notify_acknowledge_resolve(&agent, &sub, &peers, Ack::Region);
}
