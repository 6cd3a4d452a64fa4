//! SMS end to end: a real sub-manager polls an agent whose CPU the test sets; the event
//! `cpu-high` goes by its route to the team's phone through an SMS gateway of the test's
//! own (a GET with the number and the text in its URL), is escalated to the on-call phone
//! (a POST with a JSON body and an API key header) while nobody acknowledges it, never
//! reaches a phone whose route does not take it, and its resolution is told to both phones.

use std::time::Duration;

use strata_testkit::{MeshCa, wait_for};
use strata_tests::CpuAgent;
use strata_tests::eu::{Sub, eu, notifications};
use strata_tests::sinks::{REQUEST_LINE, WebhookReceiver};
use strata_web::auth::policy::percent_decode;

/// What the gateway was asked to send: the number, the text, and how it was asked.
#[derive(Debug, Clone)]
struct Sms {
    method: String,
    to: String,
    text: String,
    api_key: Option<String>,
}

/// The messages `gateway` was asked to send, in order.
fn sent(gateway: &WebhookReceiver) -> Vec<Sms> {
    let lines = gateway.header(REQUEST_LINE);
    let keys = gateway.header("x-api-key");
    let bodies = gateway.bodies();
    lines
        .into_iter()
        .zip(keys)
        .zip(bodies)
        .map(|((line, api_key), body)| {
            let line = line.unwrap_or_default();
            let mut parts = line.split(' ');
            let method = parts.next().unwrap_or_default().to_string();
            let target = parts.next().unwrap_or_default();
            if method == "GET" {
                // /send?to=<to>&text=<text>
                let query = target.split_once('?').map(|q| q.1).unwrap_or_default();
                let field = |name: &str| {
                    query
                        .split('&')
                        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                        .map(percent_decode)
                        .unwrap_or_default()
                };
                Sms {
                    method,
                    to: field("to"),
                    text: field("text"),
                    api_key,
                }
            } else {
                let json: serde_json::Value = serde_json::from_str(&body)
                    .unwrap_or_else(|e| panic!("the gateway's body is not JSON ({e}): {body}"));
                Sms {
                    method,
                    to: json["to"].as_str().unwrap_or_default().to_string(),
                    text: json["message"].as_str().unwrap_or_default().to_string(),
                    api_key,
                }
            }
        })
        .collect()
}

#[test]
fn an_event_reaches_the_phones_of_its_route_and_its_escalation_through_the_gateway() {
    let gateway = WebhookReceiver::start(0);
    let ca = MeshCa::temp();
    let agent = CpuAgent::start("app-1", "eu", &ca);
    let mut mesh = eu(
        &agent.addr,
        &format!(
            r#"
[[notify.receivers]]
name = "team-sms"
kind = "sms"
method = "GET"
url = "{gw}/send?to={{to}}&text={{text}}"
to = "+15550001"
[[notify.receivers]]
name = "oncall-sms"
kind = "sms"
url = "{gw}/api/messages"
to = "+15550002"
body = '{{"to":"{{to}}","message":"{{text}}"}}'
headers = {{ "content-type" = "application/json", "x-api-key" = "k-123" }}
[[notify.receivers]]
name = "storage-sms"
kind = "sms"
method = "GET"
url = "{gw}/send?to={{to}}&text={{text}}"
to = "+15550003"
[[notify.routes]]
match = {{ rule = "cpu-high" }}
receivers = ["team-sms"]
group_wait = "0s"
escalate = [{{ after = "3s", receivers = ["oncall-sms"] }}]
[[notify.routes]]
match = {{ rule = "disk-full" }}
receivers = ["storage-sms"]
group_wait = "0s"
"#,
            gw = gateway.url(),
        ),
    )
    .brokers(0)
    .super_managers(0)
    .ca(ca.clone())
    .start();
    let sub = Sub::eu_1(&mut mesh);

    agent.set(0.95);
    let to_both = wait_for(
        "the team's SMS, then the on-call's",
        Duration::from_secs(30),
        || {
            let got = sent(&gateway);
            if got.iter().any(|s| s.to == "+15550002") {
                Ok(got)
            } else {
                Err(format!("{got:?}"))
            }
        },
    );
    let team = &to_both[0];
    assert_eq!(
        (team.method.as_str(), team.to.as_str()),
        ("GET", "+15550001"),
        "{to_both:?}"
    );
    assert!(
        team.text.starts_with("CRITICAL cpu-high on eu/app-1"),
        "{team:?}"
    );
    let oncall = to_both.iter().find(|s| s.to == "+15550002").unwrap();
    assert_eq!(oncall.method, "POST", "{oncall:?}");
    assert_eq!(oncall.api_key.as_deref(), Some("k-123"), "{oncall:?}");
    assert!(oncall.text.contains("cpu-high on eu/app-1"), "{oncall:?}");
    eprintln!("sent: {to_both:?}");

    agent.set(0.1);
    let all = wait_for(
        "the resolution on both phones",
        Duration::from_secs(30),
        || {
            let got = sent(&gateway);
            let resolved = |to: &str| {
                got.iter()
                    .any(|s| s.to == to && s.text.starts_with("RESOLVED cpu-high on eu/app-1"))
            };
            if resolved("+15550001") && resolved("+15550002") {
                Ok(got)
            } else {
                Err(format!("{got:?}"))
            }
        },
    );
    assert!(
        all.iter().all(|s| s.to != "+15550003"),
        "a route that does not take the event sent it: {all:?}"
    );
    // each delivery is recorded as sent by the region
    let recorded = notifications(&sub);
    for receiver in ["team-sms", "oncall-sms"] {
        assert!(
            recorded
                .iter()
                .any(|n| n.receiver == receiver && n.status == "sent"),
            "{receiver}: {recorded:?}"
        );
    }
    assert!(recorded.iter().all(|n| n.receiver != "storage-sms"));
}
