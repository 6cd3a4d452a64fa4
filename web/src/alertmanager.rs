//! Alertmanager's alert as its `POST /api/v2/alerts` takes it: the one wire format that both
//! the regions' notifications (an event) and the centre's (a service's SLO burn rate) speak,
//! so that an alert means the same thing whichever role sends it.
//!
//! Alertmanager identifies an alert by its labels alone: two senders of the same labels (two
//! centres, two members polling the same agent) make one alert, and one notification.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::{Value, json};

/// One alert: labels identify it, annotations describe it; it ends at `ends_ms` when given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AmAlert {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// When it began, in milliseconds since the epoch.
    pub starts_ms: i64,
    /// When it ended (resolved), if it did.
    pub ends_ms: Option<i64>,
    /// A link back to its source.
    pub generator_url: Option<String>,
}

impl AmAlert {
    /// The alert as Alertmanager's API takes it.
    pub fn to_json(&self) -> Value {
        let mut alert = json!({
            "labels": self.labels,
            "annotations": self.annotations,
            "startsAt": rfc3339(self.starts_ms),
        });
        if let Some(end) = self.ends_ms {
            alert["endsAt"] = json!(rfc3339(end));
        }
        if let Some(url) = &self.generator_url {
            alert["generatorURL"] = json!(url);
        }
        alert
    }
}

/// `ms` since the epoch as RFC 3339 with milliseconds (what Alertmanager reads).
pub fn rfc3339(ms: i64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64))
        .to_string()
}

/// The body of `POST /api/v2/alerts` for `alerts`.
pub fn body(alerts: &[AmAlert]) -> Value {
    Value::Array(alerts.iter().map(AmAlert::to_json).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alert_carries_its_labels_times_and_link() {
        let mut a = AmAlert {
            starts_ms: 1_700_000_000_000,
            ..AmAlert::default()
        };
        a.labels.insert("alertname".into(), "slo-burn-fast".into());
        let firing = a.to_json();
        assert_eq!(firing["labels"]["alertname"], "slo-burn-fast");
        assert_eq!(firing["startsAt"], "2023-11-14T22:13:20.000Z");
        assert!(firing.get("endsAt").is_none() && firing.get("generatorURL").is_none());
        a.ends_ms = Some(1_700_000_060_000);
        a.generator_url = Some("https://centre/services/shop".into());
        let resolved = body(&[a]);
        assert_eq!(resolved[0]["endsAt"], "2023-11-14T22:14:20.000Z");
        assert_eq!(resolved[0]["generatorURL"], "https://centre/services/shop");
    }
}
