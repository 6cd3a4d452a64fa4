//! The centre's notifications: the services' SLO burn-rate alerts, sent to Alertmanager;
//! and the receivers of its scheduled reports ([`receivers`]).
//!
//! An SLO spans regions, so no region can tell of it; the centre judges it from the regions'
//! streams ([`crate::upkeep::watch_slos`]) and tells Alertmanager here. Two centres judge the
//! same services from the same streams and send the same labels (`alertname`, `service`,
//! `severity`, `source = "strata-centre"`; no centre's own name), and Alertmanager, which
//! knows an alert by its labels alone, makes one alert and one notification of them, as it
//! does for a pair of Prometheus servers.
//!
//! A firing alert is sent again every `resend` (Alertmanager ends an alert that is not
//! re-sent within its `resolve_timeout`); an alert that stopped firing is sent with its end
//! to every Alertmanager until each has taken it, and waits meanwhile in
//! `<data_dir>/notify-outbox.json`, so that neither a failed delivery nor a restart of the
//! centre leaves an alert firing for ever. The same wire format as the regions' is used
//! ([`strata_web::alertmanager`]).

pub mod receivers;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use strata_web::alertmanager::{AmAlert, body};
use tracing::{info, warn};

/// `[notify]`: where the centre's alerts go.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    /// Alertmanager base URLs (`http://am:9093`); each receives every alert (default none).
    pub alertmanager: Vec<String>,
    /// How often firing alerts are sent again (default 1 min).
    #[serde(with = "humantime_serde")]
    pub resend: Duration,
    /// Bound of one delivery (default 10 s).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Where scheduled reports go (`[[notify.receivers]]`: `email` or `webhook`).
    pub receivers: Vec<receivers::ReceiverConfig>,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            alertmanager: Vec::new(),
            resend: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
            receivers: Vec::new(),
        }
    }
}

impl NotifyConfig {
    /// What is wrong with it, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut errors = Vec::new();
        for (i, url) in self.alertmanager.iter().enumerate() {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                errors.push(format!(
                    "notify.alertmanager[{i}]: '{url}' is not an http:// or https:// URL"
                ));
            }
        }
        if self.resend < Duration::from_secs(1) {
            errors.push("notify.resend: must be at least 1s".into());
        }
        if self.timeout.is_zero() {
            errors.push("notify.timeout: must be above zero".into());
        }
        errors.extend(receivers::problems(&self.receivers));
        errors
    }
}

/// One service alert as the centre tells it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceAlert {
    pub service: String,
    /// The burn-rate rule (`slo-burn-fast`, `slo-burn-slow`).
    pub rule: String,
    pub severity: String,
    pub message: String,
    pub starts_ms: i64,
    /// When it stopped firing.
    pub ends_ms: Option<i64>,
}

impl ServiceAlert {
    fn am(&self) -> AmAlert {
        let labels = [
            ("alertname", self.rule.as_str()),
            ("service", self.service.as_str()),
            ("severity", self.severity.as_str()),
            ("source", "strata-centre"),
        ];
        AmAlert {
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            annotations: [("summary".to_string(), self.message.clone())].into(),
            starts_ms: self.starts_ms,
            ends_ms: self.ends_ms,
            generator_url: None,
        }
    }
}

/// Key of an alert: service and rule.
type Key = (String, String);

/// The centre's notifier: the alerts firing, those ended but not yet delivered, and when
/// the firing ones were last sent.
pub struct Notifier {
    config: NotifyConfig,
    http: reqwest::Client,
    outbox: PathBuf,
    firing: BTreeMap<Key, ServiceAlert>,
    /// Ended alerts not yet taken by every Alertmanager (kept in `outbox`).
    ended: BTreeMap<Key, ServiceAlert>,
    /// When everything firing was last delivered (ms), and whether something changed since.
    sent_ms: i64,
    changed: bool,
}

/// The ended alerts kept in `path` (none when there is no file, or it is not valid: said).
fn read_outbox(path: &Path) -> Vec<ServiceAlert> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|error| {
            warn!(%error, path = %path.display(), "the notification outbox is not valid; ignored");
            Vec::new()
        }),
        Err(_) => Vec::new(),
    }
}

impl Notifier {
    /// A notifier for `config` (None when it names no Alertmanager), resuming the ended
    /// alerts kept in `data_dir`.
    pub fn new(config: &NotifyConfig, data_dir: &Path, http: reqwest::Client) -> Option<Self> {
        if config.alertmanager.is_empty() {
            return None;
        }
        let outbox = data_dir.join("notify-outbox.json");
        let ended: BTreeMap<Key, ServiceAlert> = read_outbox(&outbox)
            .into_iter()
            .map(|a| ((a.service.clone(), a.rule.clone()), a))
            .collect();
        Some(Self {
            config: config.clone(),
            http,
            outbox,
            changed: !ended.is_empty(),
            firing: BTreeMap::new(),
            ended,
            sent_ms: 0,
        })
    }

    /// Records the state of `service`'s alert `rule` at `now_ms`.
    pub fn observe(
        &mut self,
        service: &str,
        rule: &str,
        severity: &str,
        firing: bool,
        message: &str,
        now_ms: i64,
    ) {
        let key = (service.to_string(), rule.to_string());
        match (firing, self.firing.contains_key(&key)) {
            (true, true) => {
                if let Some(a) = self.firing.get_mut(&key) {
                    a.message = message.to_string();
                }
            }
            (true, false) => {
                self.firing.insert(
                    key.clone(),
                    ServiceAlert {
                        service: service.to_string(),
                        rule: rule.to_string(),
                        severity: severity.to_string(),
                        message: message.to_string(),
                        starts_ms: now_ms,
                        ends_ms: None,
                    },
                );
                self.ended.remove(&key);
                self.changed = true;
            }
            (false, true) => {
                if let Some(mut a) = self.firing.remove(&key) {
                    a.ends_ms = Some(now_ms);
                    self.ended.insert(key, a);
                    self.keep();
                    self.changed = true;
                }
            }
            (false, false) => {}
        }
    }

    /// Forgets the alerts of services that no longer exist (their end is still told).
    pub fn retain_services(&mut self, exists: impl Fn(&str) -> bool, now_ms: i64) {
        let gone: Vec<Key> = self
            .firing
            .keys()
            .filter(|(s, _)| !exists(s))
            .cloned()
            .collect();
        for (service, rule) in gone {
            self.observe(&service, &rule, "", false, "", now_ms);
        }
    }

    /// Sends what changed, or everything firing when `resend` has passed, to every
    /// Alertmanager; ended alerts leave the outbox once every one took them.
    pub async fn deliver(&mut self, now_ms: i64) {
        let due = now_ms - self.sent_ms >= self.config.resend.as_millis() as i64;
        if !(self.changed || due) || (self.firing.is_empty() && self.ended.is_empty()) {
            return;
        }
        let alerts: Vec<AmAlert> = self
            .firing
            .values()
            .chain(self.ended.values())
            .map(ServiceAlert::am)
            .collect();
        let payload = body(&alerts);
        let mut all = true;
        for base in &self.config.alertmanager {
            let url = format!("{}/api/v2/alerts", base.trim_end_matches('/'));
            let sent = self
                .http
                .post(&url)
                .timeout(self.config.timeout)
                .json(&payload)
                .send()
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.error_for_status().map(drop).map_err(|e| e.to_string()));
            match sent {
                Ok(()) => info!(%url, alerts = alerts.len(), "SLO alerts sent to Alertmanager"),
                Err(error) => {
                    all = false;
                    warn!(%url, %error, "SLO alerts not delivered; sent again next round");
                }
            }
        }
        if all {
            self.sent_ms = now_ms;
            self.changed = false;
            if !self.ended.is_empty() {
                self.ended.clear();
                self.keep();
            }
        }
    }

    /// Keeps the ended alerts in the outbox (by a temporary file and a rename).
    fn keep(&self) {
        let alerts: Vec<&ServiceAlert> = self.ended.values().collect();
        let tmp = self.outbox.with_extension("json.tmp");
        let written = serde_json::to_vec(&alerts)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, &self.outbox));
        if let Err(error) = written {
            warn!(%error, path = %self.outbox.display(), "the notification outbox cannot be kept");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notifier(dir: &Path) -> Notifier {
        let config = NotifyConfig {
            alertmanager: vec!["http://127.0.0.1:1".into()],
            timeout: Duration::from_millis(200),
            ..NotifyConfig::default()
        };
        Notifier::new(
            &config,
            dir,
            crate::door::http_client(Duration::from_secs(1)),
        )
        .unwrap()
    }

    #[test]
    fn an_ended_alert_waits_in_the_outbox_until_delivered_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let mut n = notifier(dir.path());
        n.observe("shop", "slo-burn-fast", "critical", true, "burning", 1_000);
        assert_eq!(n.firing.len(), 1);
        n.observe("shop", "slo-burn-fast", "critical", false, "", 9_000);
        let kept = read_outbox(&dir.path().join("notify-outbox.json"));
        assert_eq!(kept.len(), 1);
        assert_eq!((kept[0].starts_ms, kept[0].ends_ms), (1_000, Some(9_000)));
        // nothing listens at port 1: the delivery fails and the end stays kept
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(n.deliver(10_000));
        let again = notifier(dir.path());
        assert_eq!(again.ended.len(), 1, "a restart still owes the end");
        assert!(again.changed);
        let am = kept[0].am();
        assert_eq!(am.labels["alertname"], "slo-burn-fast");
        assert_eq!(am.labels["source"], "strata-centre");
        assert!(
            !am.labels.values().any(|v| v.contains("super")),
            "no centre's name"
        );
    }

    #[test]
    fn the_config_names_its_bad_keys() {
        let c = NotifyConfig {
            alertmanager: vec!["am:9093".into()],
            resend: Duration::from_millis(10),
            timeout: Duration::ZERO,
            receivers: toml::from_str::<toml::Table>(
                "[[r]]\nname = 'mail'\nkind = 'email'\nsmtp = 'mail'\nfrom = 'nobody'\nto = []\n\
                 [[r]]\nname = 'mail'\nkind = 'webhook'\nurl = 'ftp://x'\n",
            )
            .unwrap()["r"]
                .clone()
                .try_into()
                .unwrap(),
        };
        let p = c.problems().join("; ");
        for key in [
            "notify.alertmanager[0]",
            "notify.resend",
            "notify.timeout",
            "notify.receivers[0].smtp",
            "notify.receivers[0].from",
            "notify.receivers[0].to",
            "notify.receivers[1].name: 'mail' is used twice",
            "notify.receivers[1].url",
        ] {
            assert!(p.contains(key), "{key} in {p}");
        }
        assert!(NotifyConfig::default().problems().is_empty());
        assert!(
            Notifier::new(
                &NotifyConfig::default(),
                Path::new("/nowhere"),
                crate::door::http_client(Duration::from_secs(1))
            )
            .is_none()
        );
    }
}
