//! What a rule says, and how a rules file is read and checked.
//!
//! A rules file holds `[[rules]]` tables. A threshold rule names a metric, label selectors
//! and warning/critical levels; an absence rule names a metric and how many poll intervals
//! without a sample make it fire. Every problem of a file is reported at once, each naming
//! its rule (`rules[2] 'disk-full'`) and field.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use strata_proto::labels::LabelMap;
use strata_proto::v1::Severity;
use strata_tsdb::Matcher;

use crate::config::Thresholds;

/// Which side of a level is bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Values at or above a level cross it (usage, latency).
    #[default]
    Above,
    /// Values at or below a level cross it (free space, throughput).
    Below,
}

/// How the values of a resource's matched series make one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Aggregate {
    /// The worst series (the highest for `above`, the lowest for `below`): the default.
    Worst,
    Max,
    Min,
    Avg,
}

/// One rule as written in a rules file or sent to the API.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Unique among the rules in force; names the events it opens.
    pub name: String,
    /// The metric judged.
    pub metric: String,
    /// Selectors on the series' labels: `value`, `!value`, `~regex`, `!~regex`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Which side of the levels is bad (default `above`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub critical: Option<f64>,
    /// Hysteresis: an open event resolves only once the value is past this level (default:
    /// the lowest level, i.e. no hysteresis).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clear: Option<f64>,
    /// How long a level must hold before the event opens or rises (default 0).
    #[serde(
        default,
        rename = "for",
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub hold: Option<Duration>,
    /// An absence rule: fires after this many poll intervals without a sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub absent_for: Option<u32>,
    /// Severity of an absence rule (default `critical`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// How several matched series of one resource make one value (default `worst`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregate: Option<Aggregate>,
    /// The event's message: `{value}`, `{percent}`, `{agent}`, `{rule}`, `{severity}` and
    /// the judged series' labels (`{mountpoint}`) are filled in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Labels given to the rule's events, for routes and silences.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// A recovery action of the agent's local `[actions]` to run when the event opens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Flapping: this many openings and resolutions within `flap_window` (default 6 in
    /// 10 minutes) hold the notifications of the events opened meanwhile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flap_changes: Option<u32>,
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub flap_window: Option<Duration>,
}

/// Default of [`RuleSpec::flap_changes`].
pub const FLAP_CHANGES: u32 = 6;
/// Default of [`RuleSpec::flap_window`].
pub const FLAP_WINDOW: Duration = Duration::from_secs(600);

/// What a rule judges.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Threshold {
        direction: Direction,
        warning: Option<f64>,
        critical: Option<f64>,
        /// Past this level an open event resolves.
        clear: f64,
        aggregate: Aggregate,
    },
    Absent {
        intervals: u32,
        severity: Severity,
    },
}

/// A rule ready to judge.
#[derive(Debug, Clone)]
pub struct Rule {
    pub spec: RuleSpec,
    pub kind: Kind,
    matchers: Vec<Matcher>,
    /// Where it was defined: `thresholds`, the rules file's path, or `api`.
    pub source: String,
}

impl Rule {
    /// Whether a series of metric `name` with `labels` is judged by this rule.
    pub fn selects(&self, name: &str, labels: &LabelMap) -> bool {
        name == self.spec.metric
            && self.matchers.iter().all(|m| {
                m.matches(
                    labels
                        .get(m.name.as_str())
                        .map(String::as_str)
                        .unwrap_or_default(),
                )
            })
    }

    /// How long a level must hold, in ms.
    pub fn hold_ms(&self) -> i64 {
        self.spec.hold.map_or(0, |d| d.as_millis() as i64)
    }

    /// The severity `value` crosses, before any hold or hysteresis.
    pub fn level(&self, value: f64) -> Severity {
        let Kind::Threshold {
            direction,
            warning,
            critical,
            ..
        } = &self.kind
        else {
            return Severity::Ok;
        };
        let past = |level: &Option<f64>| {
            level.is_some_and(|l| match direction {
                Direction::Above => value >= l,
                Direction::Below => value <= l,
            })
        };
        if past(critical) {
            Severity::Critical
        } else if past(warning) {
            Severity::Warning
        } else {
            Severity::Ok
        }
    }

    /// Whether `value` is past the clear level, so that an open event resolves.
    pub fn cleared(&self, value: f64) -> bool {
        match &self.kind {
            Kind::Threshold {
                direction: Direction::Above,
                clear,
                ..
            } => value < *clear,
            Kind::Threshold {
                direction: Direction::Below,
                clear,
                ..
            } => value > *clear,
            Kind::Absent { .. } => true,
        }
    }

    /// The lowest severity the rule opens events at.
    pub fn lowest(&self) -> Severity {
        match &self.kind {
            Kind::Threshold {
                warning: Some(_), ..
            } => Severity::Warning,
            Kind::Threshold { .. } => Severity::Critical,
            Kind::Absent { severity, .. } => *severity,
        }
    }

    /// Combines the values of a resource's matched series.
    pub fn combine(&self, values: impl Iterator<Item = f64>) -> Option<f64> {
        let (direction, aggregate) = match &self.kind {
            Kind::Threshold {
                direction,
                aggregate,
                ..
            } => (*direction, *aggregate),
            Kind::Absent { .. } => (Direction::Above, Aggregate::Max),
        };
        let aggregate = match (aggregate, direction) {
            (Aggregate::Worst, Direction::Above) => Aggregate::Max,
            (Aggregate::Worst, Direction::Below) => Aggregate::Min,
            (a, _) => a,
        };
        let mut n = 0usize;
        let mut acc: Option<f64> = None;
        for v in values.filter(|v| !v.is_nan()) {
            n += 1;
            acc = Some(match (acc, aggregate) {
                (None, _) => v,
                (Some(a), Aggregate::Min) => a.min(v),
                (Some(a), Aggregate::Avg) => a + v,
                (Some(a), _) => a.max(v),
            });
        }
        match aggregate {
            Aggregate::Avg => acc.map(|s| s / n as f64),
            _ => acc,
        }
    }

    /// The event message for `value` of the series with `labels`.
    pub fn message(
        &self,
        agent: &str,
        severity: Severity,
        value: f64,
        labels: &LabelMap,
    ) -> String {
        let Some(template) = &self.spec.summary else {
            return match &self.kind {
                Kind::Absent { .. } => {
                    format!("no {} for {value:.0}s", self.spec.metric)
                }
                Kind::Threshold { .. } => format!("{} = {}", self.spec.metric, short(value)),
            };
        };
        let mut out = String::with_capacity(template.len() + 16);
        let mut rest = template.as_str();
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let Some(close) = rest[open..].find('}') else {
                break;
            };
            let key = &rest[open + 1..open + close];
            match key {
                "value" => out.push_str(&short(value)),
                "percent" => out.push_str(&format!("{:.1}%", value * 100.0)),
                "agent" | "host" => out.push_str(agent),
                "rule" => out.push_str(&self.spec.name),
                "severity" => out.push_str(strata_proto::names::severity_name(severity)),
                _ => match labels.get(key) {
                    Some(v) => out.push_str(v),
                    None => out.push_str(&rest[open..=open + close]),
                },
            }
            rest = &rest[open + close + 1..];
        }
        out.push_str(rest);
        out
    }
}

fn short(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// Reads the `[[rules]]` of a rules file; every problem is listed, each naming its rule and
/// field.
pub fn parse(text: &str, source: &str) -> Result<Vec<Rule>, Vec<String>> {
    let value: toml::Table = toml::from_str(text).map_err(|e| vec![format!("{source}: {e}")])?;
    let mut problems = Vec::new();
    for key in value.keys().filter(|k| *k != "rules") {
        problems.push(format!(
            "{source}: unknown key '{key}' (a rules file holds [[rules]] only)"
        ));
    }
    let entries = match value.get("rules") {
        None => Vec::new(),
        Some(toml::Value::Array(a)) => a.clone(),
        Some(_) => {
            problems.push(format!(
                "{source}: rules: must be an array of [[rules]] tables"
            ));
            Vec::new()
        }
    };
    let mut rules = Vec::new();
    for (i, entry) in entries.into_iter().enumerate() {
        let name = entry
            .get("name")
            .and_then(|n| n.as_str())
            .map(|n| format!(" '{n}'"))
            .unwrap_or_default();
        let at = format!("rules[{i}]{name}");
        match RuleSpec::deserialize(entry) {
            Ok(spec) => match compile(spec, source) {
                Ok(rule) => rules.push(rule),
                Err(p) => problems.extend(p.into_iter().map(|p| format!("{source}: {at}.{p}"))),
            },
            Err(e) => problems.push(format!("{source}: {at}: {}", e.message())),
        }
    }
    if problems.is_empty() {
        Ok(rules)
    } else {
        Err(problems)
    }
}

/// Checks a rule and compiles its selectors; problems name the field.
pub fn compile(spec: RuleSpec, source: &str) -> Result<Rule, Vec<String>> {
    let mut problems = Vec::new();
    if spec.name.is_empty()
        || !spec
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
    {
        problems.push(format!(
            "name: '{}' must be letters, digits, '-', '_', '.' or ':'",
            spec.name
        ));
    }
    if spec.metric.trim().is_empty() {
        problems.push("metric: must name a metric".into());
    }
    let mut matchers = Vec::new();
    for (label, text) in &spec.labels {
        match Matcher::parse(label, text) {
            Ok(m) => matchers.push(m),
            Err(e) => problems.push(format!("labels.{label}: {e}")),
        }
    }
    let absent = spec.absent_for.is_some();
    let levels = spec.warning.is_some() || spec.critical.is_some();
    let kind = if absent {
        if levels || spec.clear.is_some() || spec.direction.is_some() {
            problems.push(
                "absent_for: an absence rule has no warning, critical, clear or direction".into(),
            );
        }
        if spec.absent_for == Some(0) {
            problems.push("absent_for: must be at least 1 interval".into());
        }
        let severity = match spec.severity.as_deref() {
            None | Some("critical") => Severity::Critical,
            Some("warning") => Severity::Warning,
            Some(other) => {
                problems.push(format!(
                    "severity: '{other}' is not 'warning' or 'critical'"
                ));
                Severity::Critical
            }
        };
        Kind::Absent {
            intervals: spec.absent_for.unwrap_or(1),
            severity,
        }
    } else {
        if !levels {
            problems.push("warning: a threshold rule needs warning, critical or both (or absent_for for an absence rule)".into());
        }
        if spec.severity.is_some() {
            problems.push(
                "severity: only absence rules take a severity (thresholds have levels)".into(),
            );
        }
        for (field, v) in [
            ("warning", spec.warning),
            ("critical", spec.critical),
            ("clear", spec.clear),
        ] {
            if v.is_some_and(|v| !v.is_finite()) {
                problems.push(format!("{field}: must be a finite number"));
            }
        }
        let direction = spec.direction.unwrap_or_default();
        let worse = |a: f64, b: f64| match direction {
            Direction::Above => a > b,
            Direction::Below => a < b,
        };
        if let (Some(w), Some(c)) = (spec.warning, spec.critical)
            && worse(w, c)
        {
            problems.push(format!(
                "warning: {w} is past critical {c} for direction {direction:?}"
            ));
        }
        let lowest = spec.warning.or(spec.critical).unwrap_or(0.0);
        let clear = spec.clear.unwrap_or(lowest);
        if worse(clear, lowest) {
            problems.push(format!(
                "clear: {clear} must not be past the lowest level {lowest} (it is where an event resolves)"
            ));
        }
        Kind::Threshold {
            direction,
            warning: spec.warning,
            critical: spec.critical,
            clear,
            aggregate: spec.aggregate.unwrap_or(Aggregate::Worst),
        }
    };
    if let Some(a) = &spec.action
        && a.trim().is_empty()
    {
        problems.push("action: must name an action of the agent's [actions]".into());
    }
    if spec.flap_changes.is_some_and(|c| c < 2) {
        problems.push("flap_changes: must be at least 2".into());
    }
    if spec.flap_window.is_some_and(|w| w.is_zero()) {
        problems.push("flap_window: must be above zero".into());
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Rule {
        spec,
        kind,
        matchers,
        source: source.to_string(),
    })
}

/// The rules `[thresholds]` stands for: `cpu`, `memory` and `filesystem`.
pub fn builtin(t: &Thresholds) -> Vec<Rule> {
    let rule = |name: &str, metric: &str, labels: &[(&str, &str)], w, c, summary: &str| {
        let spec = RuleSpec {
            name: name.into(),
            metric: metric.into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            warning: Some(w),
            critical: Some(c),
            summary: Some(summary.into()),
            ..Default::default()
        };
        compile(spec, "thresholds").expect("the built-in rules are valid")
    };
    vec![
        rule(
            "cpu",
            "host_cpu_usage_ratio",
            &[("cpu", "total")],
            t.cpu_warning,
            t.cpu_critical,
            "CPU usage {percent}",
        ),
        rule(
            "memory",
            "host_memory_used_ratio",
            &[],
            t.memory_warning,
            t.memory_critical,
            "memory used {percent}",
        ),
        rule(
            "filesystem",
            "host_filesystem_used_ratio",
            &[],
            t.filesystem_warning,
            t.filesystem_critical,
            "filesystem {mountpoint} used {percent}",
        ),
    ]
}

/// The specs of `rules` as a rules file.
pub fn to_toml(rules: &[Rule]) -> String {
    #[derive(Serialize)]
    struct File<'a> {
        rules: Vec<&'a RuleSpec>,
    }
    toml::to_string(&File {
        rules: rules.iter().map(|r| &r.spec).collect(),
    })
    .unwrap_or_else(|e| format!("# the rules could not be written as TOML: {e}\n"))
}

#[cfg(test)]
mod tests;
