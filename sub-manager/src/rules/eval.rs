//! Judging one agent's values against the rules: levels held for the rule's `for`,
//! hysteresis on the way down, flapping, and absence.
//!
//! Each agent's poll task owns its [`AgentRules`], so judging takes no lock. A task that
//! starts for an agent whose events are open (a restart, or an agent handed back) resumes
//! them as firing, so that neither a new wait for `for` nor a dip under the clear level is
//! needed to carry them on.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use strata_proto::labels::LabelMap;
use strata_proto::v1::{CheckResult, CheckState, Severity};

use super::RuleSet;
use super::model::{FLAP_CHANGES, FLAP_WINDOW, Kind, Rule};
use crate::verdict::{Verdict, check_rule, rank, reserved};

/// The newest value of each matched series in one poll, per rule (by index in the set).
#[derive(Debug, Default)]
pub struct Observed {
    /// (rule index, series dictionary index) → (timestamp, value, labels of the series).
    values: HashMap<(u16, u32), (i64, f64, Arc<LabelMap>)>,
}

impl Observed {
    /// Notes a sample of a series that `rules` select.
    pub fn note(
        &mut self,
        rules: &[u16],
        series: u32,
        ts_ms: i64,
        value: f64,
        labels: &Arc<LabelMap>,
    ) {
        for &r in rules {
            let slot = self
                .values
                .entry((r, series))
                .or_insert_with(|| (i64::MIN, f64::NAN, labels.clone()));
            if ts_ms >= slot.0 {
                slot.0 = ts_ms;
                slot.1 = value;
            }
        }
    }

    /// Whether nothing was noted.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The combined value of rule `index` and the labels of the series closest to it.
    fn of(&self, index: u16, rule: &Rule) -> Option<(f64, Arc<LabelMap>)> {
        let mine = || self.values.iter().filter(move |((r, _), _)| *r == index);
        let value = rule.combine(mine().map(|(_, (_, v, _))| *v))?;
        let labels = mine()
            .min_by(|a, b| {
                (a.1.1 - value)
                    .abs()
                    .total_cmp(&(b.1.1 - value).abs())
                    .then(a.0.1.cmp(&b.0.1))
            })
            .map(|(_, (_, _, l))| l.clone())
            .unwrap_or_default();
        Some((value, labels))
    }
}

#[derive(Debug, Clone)]
struct State {
    /// The severity the rule has on the resource now (Ok: no event).
    firing: Severity,
    /// Since when the value has been at or past the warning / critical level.
    warning_since: Option<i64>,
    critical_since: Option<i64>,
    /// When a sample was last seen (absence rules).
    seen_ms: i64,
    /// When the event opened or resolved, within the flap window.
    changes: VecDeque<i64>,
    flapping: bool,
}

impl State {
    fn new(seen_ms: i64) -> Self {
        Self {
            firing: Severity::Ok,
            warning_since: None,
            critical_since: None,
            seen_ms,
            changes: VecDeque::new(),
            flapping: false,
        }
    }
}

/// The rules' state on one agent.
#[derive(Debug)]
pub struct AgentRules {
    states: HashMap<String, State>,
    /// The version of the set last judged with: when it changes, the open events of rules
    /// gone from the set are resolved.
    version: u64,
    /// When judging began (the start of an absence rule's wait).
    started_ms: i64,
    /// When each check's result was last seen in a poll answer.
    checks_seen: HashMap<String, i64>,
}

/// A check absent from the agent's answers this long has its open event resolved (it was
/// removed from the agent's config).
pub const CHECK_GONE_MS: i64 = 300_000;

impl AgentRules {
    /// State for an agent first polled at `now_ms` whose events of `open` rules are open.
    pub fn resume(open: &[(String, Severity)], now_ms: i64) -> Self {
        let mut states = HashMap::new();
        for (rule, severity) in open.iter().filter(|(r, _)| !reserved(r)) {
            states.insert(
                rule.clone(),
                State {
                    firing: *severity,
                    warning_since: Some(i64::MIN),
                    critical_since: (*severity == Severity::Critical).then_some(i64::MIN),
                    ..State::new(now_ms)
                },
            );
        }
        // checks with an open event are followed from now, in case they never report again
        let checks_seen = open
            .iter()
            .filter_map(|(rule, _)| rule.strip_prefix("check/"))
            .map(|name| (name.to_string(), now_ms))
            .collect();
        Self {
            states,
            version: 0,
            started_ms: now_ms,
            checks_seen,
        }
    }

    /// Judges one successful poll at `now_ms`: a verdict for every threshold rule with a
    /// value, every absence rule, and every rule gone from `set` that has an open event.
    pub fn judge(
        &mut self,
        set: &RuleSet,
        observed: &Observed,
        agent: &str,
        interval_ms: i64,
        now_ms: i64,
    ) -> Vec<Verdict> {
        let mut out = Vec::new();
        if self.version != set.version {
            self.version = set.version;
            let gone: Vec<String> = self
                .states
                .keys()
                .filter(|name| set.get(name).is_none())
                .cloned()
                .collect();
            for name in gone {
                if let Some(s) = self.states.remove(&name)
                    && s.firing != Severity::Ok
                {
                    out.push(Verdict {
                        rule: name,
                        severity: Severity::Ok,
                        value: 0.0,
                        message: "the rule was removed".into(),
                        labels: Vec::new(),
                        flapping: false,
                        action: None,
                    });
                }
            }
        }
        let started_ms = self.started_ms;
        // polls keep to a schedule of whole intervals but are judged when their answer is in,
        // a few milliseconds earlier or later each time: a hold of n intervals ends on the
        // n-th poll, not on one of the n-th or the next by chance
        let slack_ms = interval_ms / 10;
        for (index, rule) in set.rules.iter().enumerate() {
            let state = self
                .states
                .entry(rule.spec.name.clone())
                .or_insert_with(|| State::new(started_ms));
            let seen = observed.of(index as u16, rule);
            let (severity, value, labels) = match &rule.kind {
                Kind::Threshold { .. } => {
                    let Some((value, labels)) = seen else {
                        continue;
                    };
                    (
                        threshold(rule, state, value, now_ms, slack_ms),
                        value,
                        labels,
                    )
                }
                Kind::Absent {
                    intervals,
                    severity,
                } => {
                    if seen.is_some() {
                        state.seen_ms = now_ms;
                    }
                    let silent_ms = now_ms - state.seen_ms;
                    let level = if silent_ms + slack_ms >= i64::from(*intervals) * interval_ms {
                        *severity
                    } else {
                        Severity::Ok
                    };
                    (level, silent_ms as f64 / 1000.0, Arc::default())
                }
            };
            let opened_or_resolved = (state.firing == Severity::Ok) != (severity == Severity::Ok);
            state.firing = severity;
            flap(rule, state, opened_or_resolved, now_ms);
            out.push(Verdict {
                rule: rule.spec.name.clone(),
                severity,
                value,
                message: rule.message(agent, severity, value, &labels),
                labels: rule
                    .spec
                    .tags
                    .iter()
                    .chain(labels.iter().filter(|(k, _)| k.as_str() != "agent"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                flapping: state.flapping,
                action: rule.spec.action.clone(),
            });
        }
        out
    }
}

impl AgentRules {
    /// Verdicts of the agent's check results (ok, warning, critical; unknown counts as a
    /// warning): each check's result is its event's state. A check whose results stopped
    /// coming for [`CHECK_GONE_MS`] gets one `ok` verdict (resolving its event, if open) and
    /// is forgotten.
    pub fn checks(&mut self, results: &[CheckResult], now_ms: i64) -> Vec<Verdict> {
        let mut out = Vec::with_capacity(results.len());
        for r in results {
            self.checks_seen.insert(r.name.clone(), now_ms);
            let (severity, prefix) = match r.state() {
                CheckState::Ok => (Severity::Ok, ""),
                CheckState::Warning => (Severity::Warning, ""),
                CheckState::Critical => (Severity::Critical, ""),
                CheckState::Unknown => (Severity::Warning, "unknown: "),
            };
            let mut v = Verdict::own(
                &check_rule(&r.name),
                severity,
                r.state as f64,
                &format!("{prefix}{} {}: {}", r.kind, r.name, r.message),
            );
            v.labels = vec![
                ("check".to_string(), r.name.clone()),
                ("kind".to_string(), r.kind.clone()),
            ];
            out.push(v);
        }
        self.checks_seen.retain(|name, seen| {
            let gone = now_ms - *seen >= CHECK_GONE_MS;
            if gone {
                out.push(Verdict::own(
                    &check_rule(name),
                    Severity::Ok,
                    0.0,
                    "the check no longer reports (removed from the agent's config)",
                ));
            }
            !gone
        });
        out
    }
}

/// The severity of a threshold rule after its hold (met up to `slack_ms` early) and
/// hysteresis.
fn threshold(rule: &Rule, state: &mut State, value: f64, now_ms: i64, slack_ms: i64) -> Severity {
    let raw = rule.level(value);
    if rank(raw) >= rank(Severity::Warning) {
        state.warning_since.get_or_insert(now_ms);
    } else {
        state.warning_since = None;
    }
    if raw == Severity::Critical {
        state.critical_since.get_or_insert(now_ms);
    } else {
        state.critical_since = None;
    }
    let hold = rule.hold_ms();
    let held =
        |since: Option<i64>| since.is_some_and(|s| (now_ms + slack_ms).saturating_sub(s) >= hold);
    let mut level = if held(state.critical_since) {
        Severity::Critical
    } else if held(state.warning_since) && rule.lowest() == Severity::Warning {
        Severity::Warning
    } else {
        Severity::Ok
    };
    if level == Severity::Ok && state.firing != Severity::Ok && !rule.cleared(value) {
        // hysteresis: not yet past the clear level, the event stays at its lowest level
        level = rule.lowest();
    }
    level
}

/// Counts the event's openings and resolutions in the flap window: flapping from
/// `flap_changes` of them, steady again under half as many.
fn flap(rule: &Rule, state: &mut State, changed: bool, now_ms: i64) {
    let window = rule.spec.flap_window.unwrap_or(FLAP_WINDOW).as_millis() as i64;
    let limit = rule.spec.flap_changes.unwrap_or(FLAP_CHANGES) as usize;
    if changed {
        state.changes.push_back(now_ms);
    }
    while state
        .changes
        .front()
        .is_some_and(|t| now_ms.saturating_sub(*t) > window)
    {
        state.changes.pop_front();
    }
    if state.changes.len() >= limit {
        state.flapping = true;
    } else if state.changes.len() < limit.div_ceil(2) {
        state.flapping = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::model::parse;

    fn set(text: &str) -> RuleSet {
        RuleSet::new(parse(text, "t").unwrap(), 1)
    }

    fn observe(v: f64) -> Observed {
        let mut o = Observed::default();
        o.note(&[0], 0, 1, v, &Arc::new(LabelMap::new()));
        o
    }

    fn run(set: &RuleSet, rules: &mut AgentRules, values: &[(i64, f64)]) -> Vec<Severity> {
        values
            .iter()
            .map(|(t, v)| rules.judge(set, &observe(*v), "h", 1000, *t)[0].severity)
            .collect()
    }

    #[test]
    fn levels_hold_for_their_duration_and_clear_with_hysteresis() {
        let s = set(
            "[[rules]]\nname='cpu'\nmetric='m'\nwarning=0.8\ncritical=0.9\nclear=0.6\nfor='2s'",
        );
        let mut r = AgentRules::resume(&[], 0);
        use Severity::*;
        let got = run(
            &s,
            &mut r,
            &[
                (0, 0.95),    // critical starts
                (1000, 0.95), // held 1 s
                (2000, 0.95), // held 2 s: critical
                (3000, 0.85), // under critical: warning at once
                (4000, 0.7),  // under warning but above clear: held at warning
                (5000, 0.5),  // past clear: resolved
                (6000, 0.85), // warning starts again: waits for its 2 s
                (8000, 0.85),
            ],
        );
        assert_eq!(got, [Ok, Ok, Critical, Warning, Warning, Ok, Ok, Warning]);
    }

    #[test]
    fn a_hold_of_n_intervals_ends_on_the_nth_poll_whenever_its_answer_came() {
        use Severity::*;
        let s = set("[[rules]]\nname='x'\nmetric='m'\ncritical=10\nfor='2s'");
        let mut r = AgentRules::resume(&[], 0);
        // polled every second, the third answer 5 ms sooner after the first than 2 s
        let got = run(&s, &mut r, &[(10, 11.0), (1012, 11.0), (2005, 11.0)]);
        assert_eq!(got, [Ok, Ok, Critical]);
        // a hold between two polls still waits for the poll after it
        let s = set("[[rules]]\nname='x'\nmetric='m'\ncritical=10\nfor='2500ms'");
        let mut r = AgentRules::resume(&[], 0);
        let got = run(
            &s,
            &mut r,
            &[(0, 11.0), (1000, 11.0), (2000, 11.0), (3000, 11.0)],
        );
        assert_eq!(got, [Ok, Ok, Ok, Critical]);
    }

    #[test]
    fn a_dip_resets_the_hold() {
        let s = set("[[rules]]\nname='x'\nmetric='m'\ncritical=10\nfor='2s'");
        let mut r = AgentRules::resume(&[], 0);
        use Severity::*;
        let got = run(
            &s,
            &mut r,
            &[
                (0, 11.0),
                (1500, 5.0),
                (2500, 11.0),
                (4000, 11.0),
                (4500, 11.0),
            ],
        );
        assert_eq!(got, [Ok, Ok, Ok, Ok, Critical]);
    }

    #[test]
    fn a_resumed_event_stays_open_without_a_new_hold() {
        let s = set("[[rules]]\nname='cpu'\nmetric='m'\nwarning=0.8\ncritical=0.9\nfor='1m'");
        let mut r = AgentRules::resume(&[("cpu".into(), Severity::Critical)], 0);
        assert_eq!(run(&s, &mut r, &[(1, 0.95)]), [Severity::Critical]);
    }

    #[test]
    fn absence_fires_after_its_intervals_and_clears_with_a_sample() {
        let s = set("[[rules]]\nname='beat'\nmetric='m'\nabsent_for=3");
        let mut r = AgentRules::resume(&[], 0);
        let none = Observed::default();
        let sev = |r: &mut AgentRules, o: &Observed, t| r.judge(&s, o, "h", 1000, t)[0].severity;
        assert_eq!(sev(&mut r, &none, 2000), Severity::Ok);
        let v = r.judge(&s, &none, "h", 1000, 3000);
        assert_eq!(v[0].severity, Severity::Critical);
        assert_eq!(v[0].message, "no m for 3s");
        assert_eq!(sev(&mut r, &observe(1.0), 4000), Severity::Ok);
    }

    #[test]
    fn flapping_starts_with_many_changes_and_ends_when_they_age_out() {
        let s =
            set("[[rules]]\nname='x'\nmetric='m'\ncritical=1\nflap_changes=4\nflap_window='10s'");
        let mut r = AgentRules::resume(&[], 0);
        let mut flags = Vec::new();
        for t in 0..6 {
            let v = if t % 2 == 0 { 2.0 } else { 0.0 };
            flags.push(r.judge(&s, &observe(v), "h", 1000, t * 1000)[0].flapping);
        }
        assert_eq!(flags, [false, false, false, true, true, true]);
        let later = r.judge(&s, &observe(0.0), "h", 1000, 30_000);
        assert!(!later[0].flapping);
    }

    #[test]
    fn check_results_are_verdicts_and_a_vanished_check_resolves_late() {
        let mut r = AgentRules::resume(&[], 0);
        let result = |state: CheckState| CheckResult {
            name: "nginx".into(),
            kind: "process".into(),
            state: state as i32,
            message: "0 running".into(),
            ..Default::default()
        };
        let v = r.checks(&[result(CheckState::Critical)], 1000);
        assert_eq!(
            (v[0].rule.as_str(), v[0].severity),
            ("check/nginx", Severity::Critical)
        );
        assert_eq!(v[0].message, "process nginx: 0 running");
        assert!(v[0].labels.contains(&("kind".into(), "process".into())));
        let v = r.checks(&[result(CheckState::Unknown)], 2000);
        assert_eq!(v[0].severity, Severity::Warning);
        assert!(r.checks(&[], 2000 + CHECK_GONE_MS - 1).is_empty());
        let gone = r.checks(&[], 2000 + CHECK_GONE_MS);
        assert_eq!(
            (gone[0].rule.as_str(), gone[0].severity),
            ("check/nginx", Severity::Ok)
        );
        assert!(r.checks(&[], 3000 + CHECK_GONE_MS).is_empty(), "told once");
        // after a restart, a check whose event is open is followed even if it never reports
        let open = [("check/cron".to_string(), Severity::Critical)];
        let mut resumed = AgentRules::resume(&open, 0);
        let gone = resumed.checks(&[], CHECK_GONE_MS);
        assert_eq!(
            (gone[0].rule.as_str(), gone[0].severity),
            ("check/cron", Severity::Ok)
        );
    }

    #[test]
    fn a_removed_rule_resolves_its_open_event() {
        let mut r = AgentRules::resume(&[("gone".into(), Severity::Warning)], 0);
        let s = set("[[rules]]\nname='x'\nmetric='m'\ncritical=1");
        let v = r.judge(&s, &Observed::default(), "h", 1000, 1);
        assert_eq!(v.len(), 1);
        assert_eq!((v[0].rule.as_str(), v[0].severity), ("gone", Severity::Ok));
        assert!(r.judge(&s, &Observed::default(), "h", 1000, 2).is_empty());
    }
}
