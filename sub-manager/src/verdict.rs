//! What a judgement says, apart from who judges and who keeps it: a rule's [`Verdict`] on a
//! resource, the order of severities, and the names of the sub-manager's own rules.
//!
//! The rules ([`crate::rules`]) make verdicts, the region's state ([`crate::state`]) turns
//! them into events, and the notifications ([`crate::notify`]) rank what they tell: all
//! three read this module, which reads none of them.

use strata_proto::v1::Severity;

/// Rule name of the reachability event (the agent does not answer polls).
pub const RULE_REACHABLE: &str = "reachable";

/// A rule's judgement of one resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The rule judging (it names the event).
    pub rule: String,
    /// The severity judged (Ok: no event, or the open one resolves).
    pub severity: Severity,
    /// The value judged.
    pub value: f64,
    /// The event's message.
    pub message: String,
    /// The rule's tags and the judged series' labels.
    pub labels: Vec<(String, String)>,
    /// The rule flaps on this resource: an event opened now holds its notifications.
    pub flapping: bool,
    /// The recovery action to run when the event opens.
    pub action: Option<String>,
}

impl Verdict {
    /// A verdict of the sub-manager's own (`reachable`, a check's result).
    pub fn own(rule: &str, severity: Severity, value: f64, message: &str) -> Self {
        Self {
            rule: rule.to_string(),
            severity,
            value,
            message: message.to_string(),
            labels: Vec::new(),
            flapping: false,
            action: None,
        }
    }
}

/// Severity order: ok < warning < critical.
pub fn rank(s: Severity) -> u8 {
    match s {
        Severity::Critical => 3,
        Severity::Warning => 2,
        Severity::Ok => 1,
        Severity::Unspecified => 0,
    }
}

/// The rule name of a check's events.
pub fn check_rule(check: &str) -> String {
    format!("check/{check}")
}

/// Whether an event's rule is not a configured rule but the sub-manager's own:
/// `reachable`, or `check/<name>` for a check's result.
pub fn reserved(rule: &str) -> bool {
    rule == RULE_REACHABLE || rule.starts_with("check/")
}
