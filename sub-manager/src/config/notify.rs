//! `[notify]`: receivers (where a notification goes), routes (which events go where, grouped
//! how, repeated and escalated when), and silences.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use strata_proto::windows::rfc3339_ms;
use strata_tsdb::Matcher;

mod secrets;
pub use secrets::{HIDDEN, mask_url};

/// Notifications of the region's events.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub receivers: Vec<ReceiverConfig>,
    /// Tried in order; an event goes to the first route that matches it (and to later ones
    /// too when that route says `continue`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RouteConfig>,
    /// Silences: events they match are kept and shown, but nobody is notified.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub silences: Vec<SilenceConfig>,
    /// Attempts to deliver one notification before it is recorded as failed (default 8).
    pub max_attempts: u32,
    /// Longest wait between two attempts (default 5 min; waits double from 1 s).
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
    /// Timeout of one delivery attempt (default 10 s).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Delivered and failed notifications kept for the API (default 1,000).
    pub history: usize,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            receivers: Vec::new(),
            routes: Vec::new(),
            silences: Vec::new(),
            max_attempts: 8,
            max_backoff: Duration::from_secs(300),
            timeout: Duration::from_secs(10),
            history: 1000,
        }
    }
}

/// Where a notification goes.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum ReceiverKind {
    /// An HTTP POST of the events as JSON.
    Webhook {
        url: String,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        headers: BTreeMap<String, String>,
    },
    /// Alertmanager's v2 API (`POST <url>/api/v2/alerts`); its own routing and silences
    /// apply from there.
    Alertmanager { url: String },
    /// An e-mail through an SMTP relay.
    Email {
        /// `host:port` of the relay.
        smtp: String,
        from: String,
        to: Vec<String>,
        /// `none`, `opportunistic` (STARTTLS when offered; the default) or `required`.
        #[serde(default)]
        starttls: StartTls,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        username: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password: Option<String>,
    },
    /// An SMS or messenger gateway reached over HTTP: `url` and `body` are templates where
    /// `{to}` and `{text}` are filled in (URL-encoded in the URL).
    Sms {
        url: String,
        to: String,
        #[serde(default = "post")]
        method: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<String>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        headers: BTreeMap<String, String>,
    },
}

fn post() -> String {
    "POST".into()
}

/// STARTTLS use of an e-mail receiver.
pub use strata_web::mail::StartTls;

/// A named receiver.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct ReceiverConfig {
    pub name: String,
    #[serde(flatten)]
    pub kind: ReceiverKind,
}

impl ReceiverConfig {
    /// `webhook`, `alertmanager`, `email` or `sms`.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            ReceiverKind::Webhook { .. } => "webhook",
            ReceiverKind::Alertmanager { .. } => "alertmanager",
            ReceiverKind::Email { .. } => "email",
            ReceiverKind::Sms { .. } => "sms",
        }
    }
}

/// Which events go to whom.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RouteConfig {
    /// Selectors on the event's labels (`region`, `host`, `rule`, `severity` and the rule's
    /// tags): `value`, `!value`, `~regex`, `!~regex`. Empty: every event.
    #[serde(rename = "match", skip_serializing_if = "BTreeMap::is_empty")]
    pub matchers: BTreeMap<String, String>,
    /// Receivers notified first.
    pub receivers: Vec<String>,
    /// Later steps: notified when an event stays open and unacknowledged this long.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub escalate: Vec<StepConfig>,
    /// Events with the same values of these labels are told in one notification (default
    /// `rule` and `host`).
    pub group_by: Vec<String>,
    /// How long a new event waits for others of its group (default 10 s).
    #[serde(with = "humantime_serde")]
    pub group_wait: Duration,
    /// An unacknowledged open event is told again this often (default 4 h).
    #[serde(with = "humantime_serde")]
    pub repeat_interval: Duration,
    /// Whether receivers told of an event are told when it resolves (default true).
    pub send_resolved: bool,
    /// Whether an event this route matched goes on to the next routes (default false).
    #[serde(rename = "continue")]
    pub continue_matching: bool,
}

impl Default for RouteConfig {
    fn default() -> Self {
        Self {
            matchers: BTreeMap::new(),
            receivers: Vec::new(),
            escalate: Vec::new(),
            group_by: vec!["rule".into(), "host".into()],
            group_wait: Duration::from_secs(10),
            repeat_interval: Duration::from_secs(4 * 3600),
            send_resolved: true,
            continue_matching: false,
        }
    }
}

/// An escalation step.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StepConfig {
    /// How long the event must stay open and unacknowledged.
    #[serde(with = "humantime_serde")]
    pub after: Duration,
    pub receivers: Vec<String>,
}

/// A silence or maintenance window: events matching every selector notify nobody between
/// `from` and `to` (RFC 3339; either may be left out), or, for a recurring window, for
/// `duration` from every `every` (`"sun 02:00"` weekly or `"02:00"` daily, UTC).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SilenceConfig {
    pub name: String,
    #[serde(rename = "match")]
    pub matchers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<String>,
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub duration: Option<Duration>,
    #[serde(default)]
    pub comment: String,
}

impl SilenceConfig {
    /// The recurring window, when the silence is one.
    pub fn recurring(&self) -> Option<strata_proto::windows::Maintenance> {
        self.every
            .as_ref()
            .map(|every| strata_proto::windows::Maintenance {
                from: None,
                to: None,
                every: Some(every.clone()),
                duration: self.duration,
            })
    }
}

/// Compiles selectors; problems name `field.label`.
pub fn matchers(
    field: &str,
    selectors: &BTreeMap<String, String>,
    problems: &mut Vec<String>,
) -> Vec<Matcher> {
    selectors
        .iter()
        .filter_map(|(label, text)| {
            Matcher::parse(label, text)
                .map_err(|e| problems.push(format!("{field}.{label}: {e}")))
                .ok()
        })
        .collect()
}

impl NotifyConfig {
    /// The channels as TOML (the `[notify]` section's content), secrets hidden.
    pub fn to_toml(&self) -> String {
        toml::to_string(&self.hidden()).unwrap_or_else(|e| format!("# not shown: {e}\n"))
    }

    /// Every problem of the section, each naming its field.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut names = HashSet::new();
        for (i, r) in self.receivers.iter().enumerate() {
            let at = format!("notify.receivers[{i}]");
            if r.name.trim().is_empty() {
                problems.push(format!("{at}.name: must not be empty"));
            } else if !names.insert(r.name.as_str()) {
                problems.push(format!("{at}.name: '{}' appears twice", r.name));
            }
            let http = |url: &str, problems: &mut Vec<String>| {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    problems.push(format!(
                        "{at}.url: '{url}' is not an http:// or https:// URL"
                    ));
                }
            };
            match &r.kind {
                ReceiverKind::Webhook { url, .. } | ReceiverKind::Alertmanager { url } => {
                    http(url, &mut problems)
                }
                ReceiverKind::Sms {
                    url, method, to, ..
                } => {
                    http(url, &mut problems);
                    if method != "GET" && method != "POST" {
                        problems.push(format!("{at}.method: '{method}' is not GET or POST"));
                    }
                    if to.trim().is_empty() {
                        problems.push(format!("{at}.to: must name a recipient"));
                    }
                }
                ReceiverKind::Email { smtp, from, to, .. } => {
                    if !strata_proto::config::is_host_port(smtp) {
                        problems.push(format!("{at}.smtp: '{smtp}' is not host:port"));
                    }
                    if !from.contains('@') {
                        problems.push(format!("{at}.from: '{from}' is not an address"));
                    }
                    if to.is_empty() {
                        problems.push(format!("{at}.to: must list at least one address"));
                    }
                    for (j, t) in to.iter().enumerate() {
                        if !t.contains('@') {
                            problems.push(format!("{at}.to[{j}]: '{t}' is not an address"));
                        }
                    }
                }
            }
        }
        for (i, route) in self.routes.iter().enumerate() {
            let at = format!("notify.routes[{i}]");
            matchers(&format!("{at}.match"), &route.matchers, &mut problems);
            if route.receivers.is_empty() && route.escalate.is_empty() {
                problems.push(format!(
                    "{at}.receivers: a route needs at least one receiver"
                ));
            }
            let steps = std::iter::once(("receivers".to_string(), &route.receivers)).chain(
                route
                    .escalate
                    .iter()
                    .enumerate()
                    .map(|(j, s)| (format!("escalate[{j}].receivers"), &s.receivers)),
            );
            for (field, receivers) in steps {
                for name in receivers {
                    if !names.contains(name.as_str()) {
                        problems.push(format!("{at}.{field}: '{name}' is not a receiver"));
                    }
                }
            }
            let mut last = Duration::ZERO;
            for (j, s) in route.escalate.iter().enumerate() {
                if s.after <= last && !(j == 0 && route.receivers.is_empty()) {
                    problems.push(format!(
                        "{at}.escalate[{j}].after: {:?} must come after the previous step",
                        s.after
                    ));
                }
                last = s.after;
            }
            if route.repeat_interval < Duration::from_secs(1) {
                problems.push(format!("{at}.repeat_interval: must be at least 1s"));
            }
        }
        for (i, s) in self.silences.iter().enumerate() {
            let at = format!("notify.silences[{i}]");
            if s.name.trim().is_empty() {
                problems.push(format!("{at}.name: must not be empty"));
            }
            if s.matchers.is_empty() {
                problems.push(format!("{at}.match: a silence needs at least one selector"));
            }
            matchers(&format!("{at}.match"), &s.matchers, &mut problems);
            if let Some(window) = s.recurring() {
                if s.from.is_some() || s.to.is_some() {
                    problems.push(format!("{at}.every: a recurring window has no from or to"));
                }
                problems.extend(window.problems(&at));
            } else if s.duration.is_some() {
                problems.push(format!(
                    "{at}.duration: only a recurring window (every) has one"
                ));
            }
            for (field, t) in [("from", &s.from), ("to", &s.to)] {
                if let Some(t) = t
                    && let Err(e) = rfc3339_ms(t)
                {
                    problems.push(format!("{at}.{field}: {e}"));
                }
            }
        }
        if self.max_attempts == 0 {
            problems.push("notify.max_attempts: must be at least 1".into());
        }
        if self.timeout.is_zero() {
            problems.push("notify.timeout: must be above zero".into());
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> NotifyConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn receivers_routes_and_silences_parse() {
        let c = parse(
            r#"
            [[receivers]]
            name = "mail"
            kind = "email"
            smtp = "127.0.0.1:25"
            from = "strata@example.com"
            to = ["ops@example.com"]
            [[receivers]]
            name = "am"
            kind = "alertmanager"
            url = "http://127.0.0.1:9093"
            [[receivers]]
            name = "sms"
            kind = "sms"
            url = "http://gw/send?to={to}&text={text}"
            to = "+100"
            method = "GET"
            [[routes]]
            match = { severity = "critical" }
            receivers = ["mail", "am"]
            group_wait = "1s"
            escalate = [{ after = "10m", receivers = ["sms"] }]
            [[silences]]
            name = "db-upgrade"
            match = { host = "~db-.*" }
            to = "2026-12-01T00:00:00Z"
            [[silences]]
            name = "backups"
            match = { rule = "disk-busy" }
            every = "sun 02:00"
            duration = "2h"
            "#,
        );
        assert!(c.problems().is_empty(), "{:?}", c.problems());
        assert_eq!(c.receivers[0].kind_name(), "email");
        assert_eq!(c.routes[0].group_by, ["rule", "host"]);
        assert_eq!(c.routes[0].escalate[0].after, Duration::from_secs(600));
        assert_eq!(rfc3339_ms("1970-01-01T00:00:01Z").unwrap(), 1000);
    }

    #[test]
    fn every_problem_names_its_field() {
        let c = parse(
            r#"
            [[receivers]]
            name = "hook"
            kind = "webhook"
            url = "ftp://x"
            [[receivers]]
            name = "hook"
            kind = "email"
            smtp = "nowhere"
            from = "x"
            to = []
            [[routes]]
            receivers = ["nobody"]
            match = { host = "~(" }
            escalate = [{ after = "0s", receivers = ["hook"] }]
            [[silences]]
            name = "s"
            match = {}
            from = "yesterday"
            [[silences]]
            name = "w"
            match = { host = "h" }
            every = "someday 02:00"
            duration = "1h"
            "#,
        );
        let p = c.problems().join("\n");
        for needle in [
            "notify.receivers[0].url",
            "notify.receivers[1].name: 'hook' appears twice",
            "notify.receivers[1].smtp",
            "notify.receivers[1].to: must list",
            "notify.routes[0].receivers: 'nobody' is not a receiver",
            "notify.routes[0].match.host",
            "notify.routes[0].escalate[0].after",
            "notify.silences[0].match",
            "notify.silences[0].from",
            "notify.silences[1].every",
        ] {
            assert!(p.contains(needle), "{needle} missing from:\n{p}");
        }
        let err = toml::from_str::<NotifyConfig>("[[receivers]]\nname='x'\nkind='pager'\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("pager"), "{err}");
    }
}
