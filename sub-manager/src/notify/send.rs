//! Delivering one notification to one receiver: webhook, Alertmanager, e-mail or an SMS
//! gateway. Each attempt is bounded by the notifier's timeout; an error says what was
//! being done and with what answer, for the notification's record. The HTTP client and
//! the SMTP transports are built by [`crate::door`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use strata_web::alertmanager::AmAlert;

use super::model::{EventView, Reason};
use crate::config::notify::{ReceiverConfig, ReceiverKind, StartTls};

/// What a receiver is told: the reason, the events and where they come from.
pub struct Message<'a> {
    pub reason: Reason,
    pub events: &'a [EventView],
    pub member: &'a str,
}

impl Message<'_> {
    fn resolved(&self) -> bool {
        self.reason == Reason::Resolved
    }

    /// One line per event, e.g. `CRITICAL cpu on eu/web-1: CPU usage 97.0%`.
    fn lines(&self) -> Vec<String> {
        self.events
            .iter()
            .map(|e| {
                let state = if self.resolved() {
                    "RESOLVED".to_string()
                } else {
                    e.severity.to_uppercase()
                };
                let ack = if e.acknowledged_ms > 0 {
                    format!(" (acknowledged by {})", e.acknowledged_by)
                } else {
                    String::new()
                };
                format!(
                    "{state} {} on {}: {}{ack}",
                    e.rule, e.resource_id, e.message
                )
            })
            .collect()
    }

    fn subject(&self) -> String {
        let tag = match self.reason {
            Reason::Resolved => "RESOLVED",
            Reason::Repeat => "STILL FIRING",
            Reason::Escalation => "ESCALATED",
            _ => "FIRING",
        };
        match self.events {
            [one] => format!(
                "[{tag}] {} {} on {}: {}",
                one.severity, one.rule, one.resource_id, one.message
            ),
            many => format!(
                "[{tag}:{}] {} events in region {}",
                many.len(),
                many.len(),
                many.first().map_or("", |e| e.region.as_str())
            ),
        }
    }
}

/// The JSON a webhook receives.
pub fn webhook_body(receiver: &str, m: &Message<'_>) -> Value {
    json!({
        "version": "1",
        "receiver": receiver,
        "status": if m.resolved() { "resolved" } else { "firing" },
        "reason": m.reason.name(),
        "member": m.member,
        "events": m.events,
    })
}

/// The alerts Alertmanager's `POST /api/v2/alerts` receives: one per event, labelled by
/// rule (`alertname`), region, host, severity and the event's own labels.
pub fn alertmanager_body(m: &Message<'_>) -> Value {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let alert = |e: &EventView, severity: &str, ends_ms: Option<i64>| {
        let mut labels = e.labels.clone();
        labels.insert("alertname".into(), e.rule.clone());
        labels.insert("region".into(), e.region.clone());
        labels.insert("host".into(), e.host.clone());
        labels.insert("severity".into(), severity.to_string());
        let annotations = [
            ("summary", e.message.clone()),
            ("event_id", e.id.clone()),
            ("value", e.value.to_string()),
        ];
        AmAlert {
            labels,
            annotations: annotations
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            starts_ms: e.opened_ms,
            ends_ms,
            generator_url: None,
        }
    };
    let mut alerts = Vec::new();
    for e in m.events {
        let end = m.resolved().then_some(if e.resolved_ms > 0 {
            e.resolved_ms
        } else {
            now
        });
        alerts.push(alert(e, &e.severity, end));
        // the severity is a label: an alert of each earlier severity is over
        for past in &e.past_severities {
            alerts.push(alert(e, past, Some(end.unwrap_or(now))));
        }
    }
    strata_web::alertmanager::body(&alerts)
}

/// How `{to}` and `{text}` are written into a gateway's template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// Percent-encoded, for the URL.
    Url,
    /// Escaped as inside a JSON string, for a body sent as `application/json`.
    Json,
    /// As they are.
    Plain,
}

/// Fills `{to}` and `{text}` into an SMS gateway's template, encoded as `how` says.
pub fn fill(template: &str, to: &str, text: &str, how: Fill) -> String {
    let enc = |s: &str| match how {
        Fill::Url => strata_web::auth::policy::percent_encode(s),
        // a JSON string's contents: its quotes taken off
        Fill::Json => {
            let quoted = serde_json::to_string(s).unwrap_or_default();
            quoted[1..quoted.len() - 1].to_string()
        }
        Fill::Plain => s.to_string(),
    };
    template
        .replace("{to}", &enc(to))
        .replace("{text}", &enc(text))
}

/// The delivery side: an HTTP client and the attempt timeout.
pub struct Sender {
    http: reqwest::Client,
    timeout: Duration,
}

impl Sender {
    /// A sender whose attempts last at most `timeout`.
    pub fn new(timeout: Duration) -> Self {
        Self {
            http: crate::door::http_client(timeout),
            timeout,
        }
    }

    /// Delivers `m` to `receiver` once.
    pub async fn send(&self, receiver: &ReceiverConfig, m: &Message<'_>) -> Result<(), String> {
        match &receiver.kind {
            ReceiverKind::Webhook { url, headers } => {
                let mut req = self.http.post(url).json(&webhook_body(&receiver.name, m));
                for (k, v) in headers {
                    req = req.header(k, v);
                }
                self.http_call(req, url).await
            }
            ReceiverKind::Alertmanager { url } => {
                let url = format!("{}/api/v2/alerts", url.trim_end_matches('/'));
                let req = self.http.post(&url).json(&alertmanager_body(m));
                self.http_call(req, &url).await
            }
            ReceiverKind::Sms {
                url,
                to,
                method,
                body,
                headers,
            } => {
                let text = m.lines().join("; ");
                let target = fill(url, to, &text, Fill::Url);
                let mut req = if method == "GET" {
                    self.http.get(&target)
                } else {
                    self.http.post(&target)
                };
                if let Some(body) = body {
                    let json = headers
                        .iter()
                        .any(|(k, v)| k.eq_ignore_ascii_case("content-type") && v.contains("json"));
                    let how = if json { Fill::Json } else { Fill::Plain };
                    req = req.body(fill(body, to, &text, how));
                }
                for (k, v) in headers {
                    req = req.header(k, v);
                }
                self.http_call(req, url).await
            }
            ReceiverKind::Email {
                smtp,
                from,
                to,
                starttls,
                username,
                password,
            } => {
                self.email(
                    smtp,
                    from,
                    to,
                    *starttls,
                    username.as_ref().zip(password.as_ref()),
                    m,
                )
                .await
            }
        }
    }

    async fn http_call(&self, req: reqwest::RequestBuilder, url: &str) -> Result<(), String> {
        // a URL's secrets never reach an error (shown by the API and logged)
        let shown = crate::config::notify::mask_url(url);
        let answer = req
            .send()
            .await
            .map_err(|e| format!("POST {shown}: {}", e.without_url()))?;
        let status = answer.status();
        if status.is_success() {
            return Ok(());
        }
        let body = answer.text().await.unwrap_or_default();
        let body: String = body.chars().take(200).collect();
        Err(format!("{shown} answered {status}: {body}"))
    }

    async fn email(
        &self,
        smtp: &str,
        from: &str,
        to: &[String],
        starttls: StartTls,
        credentials: Option<(&String, &String)>,
        m: &Message<'_>,
    ) -> Result<(), String> {
        let mut text = m.lines().join("\n");
        text.push_str(&format!(
            "\n\n-- \nsent by Strata sub-manager {}\n",
            m.member
        ));
        let mail = strata_web::mail::Mail {
            from: from.to_string(),
            to: to.to_vec(),
            subject: m.subject(),
            text,
            ..Default::default()
        };
        let relay = strata_web::mail::Relay {
            smtp,
            starttls,
            credentials,
            timeout: self.timeout,
        };
        strata_web::mail::send(relay, &mail).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> EventView {
        EventView {
            id: "eu/web-1/cpu/1000".into(),
            resource_id: "eu/web-1".into(),
            region: "eu".into(),
            host: "web-1".into(),
            rule: "cpu".into(),
            severity: "critical".into(),
            message: "CPU usage 97.0%".into(),
            value: 0.97,
            opened_ms: 1000,
            resolved_ms: 0,
            acknowledged_ms: 0,
            acknowledged_by: String::new(),
            labels: [("team".to_string(), "web".to_string())].into(),
            past_severities: Vec::new(),
        }
    }

    #[test]
    fn alertmanager_alerts_carry_the_labels_and_end_when_resolved() {
        let events = [event()];
        let firing = alertmanager_body(&Message {
            reason: Reason::Firing,
            events: &events,
            member: "m1",
        });
        assert_eq!(firing[0]["labels"]["alertname"], "cpu");
        assert_eq!(firing[0]["labels"]["team"], "web");
        assert_eq!(firing[0]["startsAt"], "1970-01-01T00:00:01.000Z");
        assert!(firing[0].get("endsAt").is_none());
        let resolved = alertmanager_body(&Message {
            reason: Reason::Resolved,
            events: &[EventView {
                resolved_ms: 5000,
                ..event()
            }],
            member: "m1",
        });
        assert_eq!(resolved[0]["endsAt"], "1970-01-01T00:00:05.000Z");
        let fell = alertmanager_body(&Message {
            reason: Reason::Refresh,
            events: &[EventView {
                severity: "warning".into(),
                past_severities: vec!["critical".into()],
                ..event()
            }],
            member: "m1",
        });
        assert_eq!(fell[0]["labels"]["severity"], "warning");
        assert!(fell[0].get("endsAt").is_none());
        assert_eq!(fell[1]["labels"]["severity"], "critical");
        assert!(fell[1]["endsAt"].is_string(), "the critical alert is over");
    }

    #[test]
    fn messages_read_well_and_templates_are_encoded() {
        let events = [event()];
        let m = Message {
            reason: Reason::Firing,
            events: &events,
            member: "m1",
        };
        assert_eq!(
            m.subject(),
            "[FIRING] critical cpu on eu/web-1: CPU usage 97.0%"
        );
        assert_eq!(m.lines(), ["CRITICAL cpu on eu/web-1: CPU usage 97.0%"]);
        assert_eq!(
            fill(
                "http://gw/send?to={to}&text={text}",
                "+33 1",
                "a&b",
                Fill::Url
            ),
            "http://gw/send?to=%2B33%201&text=a%26b"
        );
        assert_eq!(
            fill(
                r#"{"to":"{to}","m":"{text}"}"#,
                "+1",
                "disk \"/\" full\n",
                Fill::Json
            ),
            r#"{"to":"+1","m":"disk \"/\" full\n"}"#
        );
        assert_eq!(fill("{to}: {text}", "+1", "a&b", Fill::Plain), "+1: a&b");
        assert_eq!(webhook_body("hook", &m)["events"][0]["host"], "web-1");
    }
}
